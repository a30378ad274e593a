/*
 * main.c -- the command table and dispatch. Everything a user reads about
 * the commands (--help, `cairn help`, docs/cli.md via `cairn help
 * --markdown`) is generated from the table below, so help and docs cannot
 * drift apart; a test checks docs/cli.md is current.
 */
#include "cli/cli.h"
#include "learn/linear.h"

#include <errno.h>
#include <string.h>

#define HOME_HELP "home directory (default: $CAIRN_HOME, else ./.cairn)"

const cli_cmd cli_commands[] = {
    {"init", "[DIR]", "create a home (registry database, objects, logs)",
     "Creates DIR (default: --home, $CAIRN_HOME, else ./.cairn) with cairn.db (SQLite, WAL), "
     "objects/ and logs/. Running it on an existing home changes nothing.",
     {{0}}, 0, 1, cmd_init},
    {"data add", "FILE --name NAME [options]", "ingest a CSV or JSON Lines file as NAME@N",
     "Reads FILE (CSV or JSON Lines, optionally gzip-compressed), infers column types, computes "
     "column statistics, writes an immutable zstd snapshot named by its BLAKE2b hash and records "
     "the next version NAME@N. Adding the same content again returns the existing version. "
     "Fields of only spaces count as empty; empty fields and the NA markers are missing values.",
     {{"name", 'n', "NAME", "dataset name (letters, digits, _ . -)", false},
      {"format", 0, "csv|jsonl", "input format (default: by extension)", false},
      {"delimiter", 'd', "C", "CSV delimiter: one character or 'tab' (default: sniffed among , ; TAB |)", false},
      {"na", 0, "STR", "an extra missing-value marker (repeatable); defaults: empty, NA, N/A, null, NaN", true},
      {"no-default-na", 0, NULL, "use only the --na markers and the empty field", false},
      {"skip-space", 0, "auto|yes|no", "drop spaces after a delimiter (default: auto)", false},
      {"no-header", 0, NULL, "the CSV has no header line: columns are column_1..column_N", false},
      {"encoding", 0, "utf-8|latin1", "input encoding (default utf-8; latin1 is converted)", false},
      {"contract", 'c', "FILE", "force column types from a contract", false},
      {"max-field-bytes", 0, "N", "refuse fields longer than N bytes (default 1048576)", false},
      {"threads", 't', "N", "parser threads (default: all cores)", false}},
     1, 1, cmd_data_add},
    {"data ls", "", "list dataset versions", NULL, {{0}}, 0, 0, cmd_data_ls},
    {"data show", "NAME[@N]", "show a version: source, counts, hash and schema", NULL, {{0}}, 1, 1,
     cmd_data_show},
    {"data stats", "NAME[@N]", "show the column statistics stored with a version",
     "Numbers: count, nulls, min, max, mean, standard deviation, quantiles (a KLL sketch, rank "
     "error under 1%) and a 20-bin histogram. Strings: distinct estimate (HyperLogLog) and top "
     "categories. Timestamps: min, max and whether they are sorted.",
     {{"column", 0, "NAME", "only this column (repeatable)", true}}, 1, 1, cmd_data_stats},
    {"contract infer", "NAME[@N] [-o FILE]", "infer a data contract (YAML) from a dataset version",
     "Writes each column's type, nullability, observed null rate and its bound, range, domain "
     "of low-cardinality strings, uniqueness of key candidates, role and PII flag.",
     {{"output", 'o', "FILE", "write the YAML here (default: stdout)", false},
      {"label", 0, "COL", "mark COL as the label", false},
      {"entity", 0, "COL", "mark COL as the entity key", false},
      {"time", 0, "COL", "mark COL as the time column", false},
      {"max-domain", 0, "N", "strings with at most N distinct values get a domain (default 50)", false},
      {"save", 0, NULL, "also store it in the home as the dataset's contract", false}},
     1, 1, cmd_contract_infer},
    {"contract check", "NAME[@N] [--contract FILE]", "check a dataset version against a contract",
     "Reports missing or extra columns, wrong types, values out of range, unknown categories, "
     "null rates above their bound and duplicate keys, per column with counts and example rows "
     "(0-based data rows). Exits 1 when there is any error. Without --contract, uses the "
     "contract saved with `contract infer --save` for the dataset's name.",
     {{"contract", 'c', "FILE", "the contract YAML", false}}, 1, 1, cmd_contract_check},
    {"train", "SPEC.yaml [--seed N]", "split, fit, evaluate and record a training run",
     "Reads the pipeline spec (docs/spec.md), loads the dataset version it names, removes PII "
     "columns the saved contract flags (unless features.allow_pii lists them), splits the rows "
     "(time, group, stratified or order), runs the leakage checks, fits the transforms and the "
     "model on the training part (early stopping and the decision threshold on the validation "
     "part), trains the baseline, evaluates both on the test part with bootstrap intervals, "
     "slices and calibration, and stores the run with everything needed to reproduce it. A run "
     "that fails is stored as failed with its error. On a terminal, each stage and the boosting "
     "rounds show progress; elsewhere only the result is printed unless --verbose.",
     {{"seed", 0, "N", "seed for every random choice (overrides the spec's seed)", false},
      {"threads", 't', "N", "threads for training and evaluation (default: the spec's, else all cores)", false},
      {"sign", 0, "KEY", "sign the run's artifact with this secret key file (cairn keys gen)", false},
      {"verbose", 'v', NULL, "print each stage with its duration, also when not on a terminal", false}},
     1, 1, cmd_train},
    {"runs ls", "[--model NAME] [--sort METRIC]", "list training runs",
     "Newest first unless --sort orders them by a test metric of the model (best first: "
     "highest for auc, pr_auc, r2, accuracy, ...; lowest for logloss, brier, ece, rmse, mae, mape).",
     {{"model", 'm', "NAME", "only runs of this model name", false},
      {"sort", 's', "METRIC", "order by this test metric, best first", false},
      {"status", 0, "succeeded|failed", "only runs with this status", false},
      {"limit", 'n', "N", "show at most N runs", false}},
     0, 0, cmd_runs_ls},
    {"runs show", "RUN", "show a run: spec, data, split, metrics with intervals, slices, findings",
     "RUN is a run id or a unique prefix of one (at least 4 hex digits after r-).",
     {{0}}, 1, 1, cmd_runs_show},
    {"runs compare", "RUN RUN", "compare two runs: parameters and metrics side by side",
     "Shows the settings that differ between the two resolved specs and every test metric of "
     "both runs with the difference (second minus first) and whether the intervals overlap.",
     {{0}}, 2, 2, cmd_runs_compare},
    {"review", "RUN [--model NAME] [--alias ALIAS]", "the reviewer's checklist for a run: findings and decision",
     "Prints Executive Summary, Critical Issues, High Priority, Medium Priority and Strengths "
     "(each finding with what, why it matters and the fix), the gates declared in the run's spec "
     "with their values, the comparison with the model's production version on the run's test "
     "part when there is one (metric gains with paired bootstrap intervals, slices that regress), "
     "then `Decision: APPROVE | APPROVE WITH WARNINGS | BLOCK`. Exits 1 on BLOCK. docs/review.md "
     "lists every check.",
     {{"model", 'm', "NAME", "the registry model to compare with (default: the spec's name)", false},
      {"alias", 0, "ALIAS", "the alias a promotion would move (default: production)", false},
      {"threads", 't', "N", "threads for scoring and the bootstrap (default: all cores)", false}},
     1, 1, cmd_review},
    {"promote", "RUN --model NAME [--alias production] [--override REASON]",
     "make a run's model a version of NAME and point an alias at it, if its gates and review allow",
     "Reviews the run, evaluates the gates stored with it before training (editing the spec "
     "afterwards changes nothing) and refuses, exit 1 with every reason, when a gate fails, a "
     "gated metric is missing or the decision is BLOCK. Otherwise writes the artifact, registers "
     "NAME@N and moves the alias in one transaction, recording time, user, from -> to, reason, "
     "decision and gate results in the audit log. If another promotion moved the alias meanwhile, "
     "this one is refused. --override promotes anyway and records the override with the failed "
     "gates. When the home trusts keys, the run must be signed first (cairn sign).",
     {{"model", 'm', "NAME", "registry model name (default: the spec's name)", false},
      {"alias", 'a', "ALIAS", "production (default), shadow, fallback, canary or another name", false},
      {"percent", 0, "P", "canary only: the share of traffic, in (0, 100]", false},
      {"override", 0, "REASON", "promote despite failed gates or BLOCK; the reason is recorded", false},
      {"reason", 'r', "TEXT", "why, for the audit log", false},
      {"threads", 't', "N", "threads for scoring and the bootstrap (default: all cores)", false}},
     1, 1, cmd_promote},
    {"rollback", "NAME [--to N] [--alias production] [--reason TEXT]",
     "point an alias back at the version it held before, at once, without retraining",
     "The previous version comes from the audit log: promotions stack up, each rollback steps one "
     "down. --to N picks the version. The move is recorded in the audit log.",
     {{"to", 0, "N", "roll back to version N", false},
      {"alias", 'a', "ALIAS", "the alias to move (default: production)", false},
      {"reason", 'r', "TEXT", "why, for the audit log", false}},
     1, 1, cmd_rollback},
    {"models ls", "", "list registered models with their aliases", NULL, {{0}}, 0, 0, cmd_models_ls},
    {"models show", "NAME", "versions, aliases, metrics, lineage and overrides of a model",
     "For each version: the aliases on it, whether it came from a run or an import, the run, the "
     "dataset version and contract that trained it, its primary test metric with interval, when "
     "and by whom. Then every override, and the latest audit entries.",
     {{0}}, 1, 1, cmd_models_show},
    {"models history", "NAME [--limit N]", "the audit log of a model: every alias move and refusal",
     NULL, {{"limit", 'n', "N", "only the newest N entries", false}}, 1, 1, cmd_models_history},
    {"models unset", "NAME --alias ALIAS [--reason TEXT]", "remove an alias (end a canary, a shadow or a fallback)",
     "The alias stops pointing anywhere; servers stop using it within their poll interval. The "
     "removal is recorded in the audit log (action unset). production cannot be unset: roll it "
     "back or promote instead.",
     {{"alias", 'a', "ALIAS", "the alias to remove", false},
      {"reason", 'r', "TEXT", "why, for the audit log", false}},
     1, 1, cmd_models_unset},
    {"export", "MODEL_REF|RUN -o FILE", "write a model's artifact file (and FILE.sig if signed)",
     "MODEL_REF is NAME (its production version), NAME@N or NAME@ALIAS; RUN is a run id. The "
     "artifact carries its lineage (run, spec, seed, dataset version and hash, contract, build). "
     "Known signatures go to FILE.sig.",
     {{"output", 'o', "FILE", "the artifact file to write", false}}, 1, 1, cmd_export},
    {"import", "FILE [--model NAME]", "register an artifact file (and FILE.sig) as a new version",
     "Checks the file strictly (layout, hashes, every state) and, when this home trusts keys, "
     "requires a valid signature by one of them in FILE.sig. The version keeps the artifact's "
     "lineage. Importing the same artifact again returns the existing version.",
     {{"model", 'm', "NAME", "register under this name (default: the artifact's)", false}}, 1, 1,
     cmd_import},
    {"keys gen", "[-o PREFIX]", "generate an Ed25519 signing key pair (PREFIX.key, PREFIX.pub)",
     NULL, {{"output", 'o', "PREFIX", "file name prefix (default: cairn-signing)", false}}, 0, 0,
     cmd_keys_gen},
    {"keys trust", "PUBFILE [--name NAME]", "trust a public key: from then on the home loads only signed artifacts",
     NULL, {{"name", 0, "NAME", "a label for the key", false}}, 1, 1, cmd_keys_trust},
    {"keys ls", "", "list the home's trusted keys", NULL, {{0}}, 0, 0, cmd_keys_ls},
    {"sign", "MODEL_REF|RUN --key KEY", "sign a run's or a version's artifact and record the signature",
     "Signs the artifact's BLAKE2b hash with the secret key; the signature is stored beside the "
     "artifact (the artifact's bytes and identity do not change) and exported with it.",
     {{"key", 'k', "FILE", "secret key file from cairn keys gen", false}}, 1, 1, cmd_sign},
    {"predict", "MODEL_REF FILE [-o out.csv] [--log] [--on-error skip|fail]",
     "score a CSV or JSON Lines file with a model, as the server would",
     "MODEL_REF is NAME (production), NAME@N, NAME@ALIAS or an artifact file. Every row goes "
     "through the server's own path: the contract's single-row validator, the transform, the "
     "model. Rows that break the contract are reported by line on stderr and skipped (the "
     "default) or stop the run (--on-error fail, exit 1). The predictions are CSV: row, score, "
     "label. --log appends every scored row to the prediction log (refused rows too, flagged); "
     "--time, --id and --entity take the logged time, request id and entity from columns, so "
     "a backfill is monitored by its own dates and joins its labels.",
     {{"output", 'o', "FILE", "write the predictions here (default: stdout)", false},
      {"on-error", 0, "skip|fail", "skip invalid rows (default) or stop at the first", false},
      {"log", 0, NULL, "append the scored rows to the prediction log", false},
      {"log-dir", 0, "DIR", "prediction log directory (default: HOME/logs)", false},
      {"time", 0, "COL", "with --log: the column giving each row's time (default: now)", false},
      {"id", 0, "COL", "with --log: the column giving each row's request id (for labels)", false},
      {"entity", 0, "COL", "with --log: the column giving each row's entity", false},
      {"format", 0, "csv|jsonl", "input format (default: by extension)", false},
      {"threads", 't', "N", "scoring threads (default: all cores)", false}},
     2, 2, cmd_predict},
    {"serve", "[--model NAME ...] [--bind 127.0.0.1] [--port 8080] [--threads N]",
     "serve models over HTTP, following the registry's aliases",
     "Serves the production alias of each --model (default: every model that has one), plus "
     "its shadow, canary and fallback aliases, at POST /v1/models/NAME:predict; GET "
     "/v1/models/NAME, /healthz, /readyz, /metrics; POST /v1/models/NAME:reload with "
     "Authorization: Bearer $CAIRN_ADMIN_TOKEN. Alias moves (promote, rollback) are picked up "
     "within --poll seconds and swapped in without dropping a request. Every scored row goes to "
     "the prediction log. SIGTERM or SIGINT drains in-flight requests, flushes the log and exits "
     "0. docs/serve.md describes the API, limits and metrics.",
     {{"model", 'm', "NAME", "a model to serve (repeatable; default: every promoted model)", true},
      {"bind", 0, "ADDR", "IPv4 address to listen on (default 127.0.0.1)", false},
      {"port", 'p', "N", "port (default 8080; 0 picks a free one and prints it)", false},
      {"threads", 't', "N", "request threads (default: the CPUs cairn may run on)", false},
      {"max-body", 0, "BYTES", "largest request body (default 1048576)", false},
      {"max-header", 0, "BYTES",
       "largest request line and headers, always accepted (default 8192; well past it: 431)",
       false},
      {"max-rows", 0, "N", "most rows per request (default 1000)", false},
      {"deadline-ms", 0, "MS", "per-request deadline (default 1000)", false},
      {"max-connections", 0, "N", "connection limit (default 4096)", false},
      {"max-inflight", 0, "N", "requests handled at once before 503 (default threads x 256, at least 1024)", false},
      {"timeout", 0, "S", "idle / slow-client connection timeout (default 30)", false},
      {"poll", 0, "S", "registry watch interval (default 1)", false},
      {"no-log", 0, NULL, "do not write the prediction log", false},
      {"log-dir", 0, "DIR", "prediction log directory (default: HOME/logs)", false},
      {"log-flush", 0, "S", "fsync interval of the log (default 1)", false},
      {"log-buffer", 0, "MIB", "the log's in-memory buffer: how long the disk may stall before "
       "records are dropped (default 64)", false}},
     0, 0, cmd_serve},
    {"logs show", "[--model NAME] [--limit N]", "print the prediction log: what was scored, by which version",
     "Reads every segment of the log (compressed or not) in order, checking each record's "
     "checksum; a torn or damaged tail is skipped and reported. --json prints one JSON object "
     "per record with the raw feature values. The format is docs/prediction-log.md.",
     {{"model", 'm', "NAME", "only this model's records", false},
      {"limit", 'n', "N", "only the newest N records", false},
      {"log-dir", 0, "DIR", "the log directory (default: HOME/logs)", false}},
     0, 0, cmd_logs_show},
    {"labels add", "FILE --key request_id|ENTITY --label COL [--time COL]",
     "store delayed ground truth, to be joined with the prediction log",
     "Each row of FILE (CSV or JSON Lines) is one label: --key request_id joins it to the logged "
     "row with that request id; --key ENTITY (a column of entity ids) joins it to the latest "
     "logged row of that entity at or before the label's --time (required then). A label whose "
     "prediction is not logged yet is kept and joins later. A label already stored with the "
     "same value is counted as a duplicate and not stored twice; with another value it "
     "replaces the stored one (counted as changed). The file is stored in one transaction.",
     {{"key", 'k', "request_id|COL", "what the label is about: request_id, or the entity column", false},
      {"label", 'l', "COL", "the column with the true outcome", false},
      {"time", 0, "COL", "the column with the outcome's time (ISO 8601 or epoch seconds)", false},
      {"format", 0, "csv|jsonl", "input format (default: by extension)", false}},
     1, 1, cmd_labels_add},
    {"labels stats", "", "count the stored labels", NULL, {{0}}, 0, 0, cmd_labels_stats},
    {"monitor", "NAME [--since T] [--until T] [--window 1h|1d|1mo] [--on-alert CMD]",
     "drift, performance and serving health of a model from its prediction log",
     "Reads the prediction log once (memory does not grow with the window), cuts it into "
     "windows and compares each with the reference statistics of the version that scored it: "
     "per feature PSI, Kolmogorov-Smirnov, chi-squared, Jensen-Shannon, missing-rate change and "
     "unseen categories; the prediction's drift and positive rate; with labels (cairn labels "
     "add) the task's metrics with bootstrap intervals and their drop against training; latency "
     "percentiles, rejected rows, fallbacks, dropped records and damaged log segments. "
     "Thresholds come from the flags, else the training spec's monitor: section, else the "
     "defaults (PSI 0.1 warn, 0.2 alert). Exit 1 when anything alerts; --on-alert runs a shell "
     "command with CAIRN_ALERT_* variables set. docs/monitor.md and docs/runbook.md.",
     {{"since", 0, "T", "from this time: ISO 8601, epoch seconds, or a duration ago (7d)", false},
      {"until", 0, "T", "up to this time (exclusive), same forms", false},
      {"window", 'w', "DUR", "window length: 30m, 1h, 1d, 7d, 1mo (default: one window)", false},
      {"psi-warn", 0, "X", "PSI warn level (default 0.1)", false},
      {"psi-alert", 0, "X", "PSI alert level (default 0.2)", false},
      {"ks-warn", 0, "X", "KS warn level (default 0.1)", false},
      {"ks-alert", 0, "X", "KS alert level (default 0.2)", false},
      {"perf-warn", 0, "X", "metric drop vs training that warns (default 0.02)", false},
      {"perf-alert", 0, "X", "metric drop vs training that alerts (default 0.05)", false},
      {"p99-alert-ms", 0, "MS", "p99 latency that alerts (default 50)", false},
      {"min-rows", 0, "N", "smallest window judged on drift and performance (default 100)", false},
      {"noise-p", 0, "P", "drift that sampling noise alone reaches with probability P is not "
                          "judged (default 0.01; 0: judge on the levels alone)", false},
      {"bootstrap", 0, "N", "resamples for metric intervals (default 200; 0: none)", false},
      {"on-alert", 0, "CMD", "run this shell command when something alerts", false},
      {"all", 'a', NULL, "list every feature of every window, not only the drifting ones", false},
      {"threads", 't', "N", "log readers, one share of the segments each (default: all cores)", false},
      {"log-dir", 0, "DIR", "the log directory (default: HOME/logs)", false}},
     1, 1, cmd_monitor},
    {"report", "RUN -o FILE | monitor NAME -o FILE",
     "write a self-contained HTML report of a run or of a model's monitoring",
     "cairn report RUN: metrics with intervals, ROC and precision-recall curves, reliability "
     "diagram, slices, feature importance, confusion matrix, findings, verdict and lineage. "
     "cairn report monitor NAME: per-feature reference and current histograms, drift, "
     "performance and latency over time (takes the monitor's --since, --until and --window). "
     "One HTML file with inline SVG and CSS: no scripts, no fonts or images from elsewhere.",
     {{"output", 'o', "FILE", "the HTML file to write", false},
      {"since", 0, "T", "monitor report: from this time", false},
      {"until", 0, "T", "monitor report: up to this time", false},
      {"window", 'w', "DUR", "monitor report: window length (default 1d)", false},
      {"log-dir", 0, "DIR", "monitor report: the log directory (default: HOME/logs)", false},
      {"threads", 't', "N", "run report: scoring threads (default: all cores)", false}},
     1, 2, cmd_report},
};
const size_t cli_n_commands = CAIRN_ARRAY_LEN(cli_commands);

static void print_overview(FILE *out)
{
    fprintf(out, "cairn %s -- from a raw CSV to a monitored, versioned model\n\n", cairn_version());
    fprintf(out, "usage: cairn [--home DIR] [--json] COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < cli_n_commands; i++)
        fprintf(out, "  %-16s %s\n", cli_commands[i].name, cli_commands[i].summary);
    fprintf(out, "\nglobal options:\n  --home DIR       %s\n  --json           machine-readable "
                 "output\n  -q, --quiet      no progress or notes\n  -h, --help       help for a "
                 "command\n  --version        print the version\n",
            HOME_HELP);
    fprintf(out, "\nexit codes: 0 ok; 1 a check said no; 2 usage error; 3 bad input data or file; "
                 "4 internal or I/O error\n");
}

static void print_markdown(FILE *out)
{
    fprintf(out, "# cairn command reference\n\n<!-- generated by `cairn help --markdown`; do not "
                 "edit by hand -->\n\n");
    fprintf(out, "Global options, accepted by every command: `--home DIR` (%s), `--json` "
                 "(machine-readable output), `-q/--quiet`, `-h/--help`.\n\n",
            HOME_HELP);
    fprintf(out, "Errors go to stderr as `cairn: error: WHAT (WHERE)`. Exit codes: 0 ok; 1 a "
                 "check said no; 2 usage error; 3 bad input data or file; 4 internal or I/O "
                 "error.\n\n");
    for (size_t i = 0; i < cli_n_commands; i++) {
        const cli_cmd *c = &cli_commands[i];
        fprintf(out, "## cairn %s\n\n```\ncairn %s %s\n```\n\n%s.\n\n", c->name, c->name, c->usage,
                c->summary);
        if (c->details)
            fprintf(out, "%s\n\n", c->details);
        if (c->opts[0].name) {
            fprintf(out, "| option | meaning |\n|---|---|\n");
            for (int k = 0; k < CLI_MAX_OPTS && c->opts[k].name; k++) {
                const cli_opt *o = &c->opts[k];
                fprintf(out, "| ");
                if (o->short_name)
                    fprintf(out, "`-%c`, ", o->short_name);
                fprintf(out, "`--%s%s%s` | %s |\n", o->name, o->arg ? " " : "",
                        o->arg ? o->arg : "", o->help);
            }
            fprintf(out, "\n");
        }
    }
}

/* Finds the command named by argv[i] (and argv[i+1] for two-word commands). */
static const cli_cmd *find_command(int argc, char **argv, int i, int *words)
{
    if (i >= argc)
        return NULL;
    for (size_t k = 0; k < cli_n_commands; k++) {
        const char *name = cli_commands[k].name;
        const char *space = strchr(name, ' ');
        if (!space) {
            if (strcmp(name, argv[i]) == 0) {
                *words = 1;
                return &cli_commands[k];
            }
        } else if (i + 1 < argc && strncmp(name, argv[i], (size_t)(space - name)) == 0 &&
                   argv[i][space - name] == '\0' && strcmp(space + 1, argv[i + 1]) == 0) {
            *words = 2;
            return &cli_commands[k];
        }
    }
    return NULL;
}

/* True when argv[i] names a command group ("data", "contract"). */
static bool is_group(const char *word)
{
    size_t n = strlen(word);
    for (size_t k = 0; k < cli_n_commands; k++)
        if (strncmp(cli_commands[k].name, word, n) == 0 && cli_commands[k].name[n] == ' ')
            return true;
    return false;
}

static int print_group(const char *group, FILE *out)
{
    size_t n = strlen(group);
    fprintf(out, "usage: cairn %s SUBCOMMAND\n\n", group);
    for (size_t k = 0; k < cli_n_commands; k++)
        if (strncmp(cli_commands[k].name, group, n) == 0 && cli_commands[k].name[n] == ' ')
            fprintf(out, "  cairn %-16s %s\n", cli_commands[k].name, cli_commands[k].summary);
    return 0;
}

static int parse_args(const cli_cmd *cmd, int argc, char **argv, int start, cli_args *a)
{
    for (int i = start; i < argc; i++) {
        const char *s = argv[i];
        if (strcmp(s, "--") == 0) {
            for (i++; i < argc; i++) {
                if (a->n_pos >= CLI_MAX_POS)
                    return cli_usage_error(cmd, "too many arguments");
                a->pos[a->n_pos++] = argv[i];
            }
            break;
        }
        if (s[0] != '-' || s[1] == '\0') {
            if (a->n_pos >= CLI_MAX_POS)
                return cli_usage_error(cmd, "too many arguments");
            a->pos[a->n_pos++] = s;
            continue;
        }
        if (strcmp(s, "--json") == 0) {
            a->json = true;
            continue;
        }
        if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
            a->help = true;
            continue;
        }
        if (strcmp(s, "--quiet") == 0 || strcmp(s, "-q") == 0) {
            a->quiet = true;
            continue;
        }
        const char *name, *inline_val = NULL;
        char namebuf[64];
        int k = -1;
        if (s[1] == '-') {
            name = s + 2;
            const char *eq = strchr(name, '=');
            if (eq) {
                size_t n = (size_t)(eq - name);
                if (n >= sizeof namebuf)
                    return cli_usage_error(cmd, "unknown option '%s'", s);
                memcpy(namebuf, name, n);
                namebuf[n] = '\0';
                name = namebuf;
                inline_val = eq + 1;
            }
            if (strcmp(name, "home") == 0) {
                const char *v = inline_val ? inline_val : (i + 1 < argc ? argv[++i] : NULL);
                if (!v)
                    return cli_usage_error(cmd, "option --home needs a value (DIR)");
                a->home = v;
                continue;
            }
            for (int j = 0; cmd && j < CLI_MAX_OPTS && cmd->opts[j].name; j++)
                if (strcmp(cmd->opts[j].name, name) == 0)
                    k = j;
        } else {
            for (int j = 0; cmd && j < CLI_MAX_OPTS && cmd->opts[j].name; j++)
                if (cmd->opts[j].short_name == s[1] && s[2] == '\0')
                    k = j;
            name = s + 1;
        }
        if (k < 0)
            return cli_usage_error(cmd, "unknown option '%s'", s);
        const cli_opt *o = &cmd->opts[k];
        const char *v = "1";
        if (o->arg) {
            v = inline_val ? inline_val : (i + 1 < argc ? argv[++i] : NULL);
            if (!v)
                return cli_usage_error(cmd, "option --%s needs a value (%s)", o->name, o->arg);
        } else if (inline_val) {
            return cli_usage_error(cmd, "option --%s takes no value", o->name);
        }
        if (a->n_values[k] > 0 && !o->repeat)
            a->n_values[k] = 0; /* the last one wins */
        if (a->n_values[k] >= CLI_MAX_VALUES)
            return cli_usage_error(cmd, "option --%s given too many times", o->name);
        a->values[k][a->n_values[k]++] = v;
    }
    return 0;
}

static int run(int argc, char **argv)
{
    static cli_args args; /* large; zero-initialised */
    int i = 1;
    cairn_blas_idle();
    /* Global options before the command. */
    while (i < argc && argv[i][0] == '-') {
        if (strcmp(argv[i], "--version") == 0) {
            printf("cairn %s\n", cairn_version());
            return 0;
        }
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            print_overview(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--json") == 0) {
            args.json = true;
            i++;
        } else if (strcmp(argv[i], "--quiet") == 0 || strcmp(argv[i], "-q") == 0) {
            args.quiet = true;
            i++;
        } else if (strcmp(argv[i], "--home") == 0 && i + 1 < argc) {
            args.home = argv[i + 1];
            i += 2;
        } else if (strncmp(argv[i], "--home=", 7) == 0) {
            args.home = argv[i] + 7;
            i++;
        } else {
            fprintf(stderr, "cairn: error: unknown option '%s' (see cairn --help)\n", argv[i]);
            return 2;
        }
    }
    if (i >= argc) {
        print_overview(stderr);
        return 2;
    }
    if (strcmp(argv[i], "help") == 0) {
        if (i + 1 < argc && strcmp(argv[i + 1], "--markdown") == 0) {
            print_markdown(stdout);
            return 0;
        }
        int words = 0;
        const cli_cmd *c = find_command(argc, argv, i + 1, &words);
        if (c)
            cli_print_help(c, stdout);
        else if (i + 1 < argc && is_group(argv[i + 1]))
            print_group(argv[i + 1], stdout);
        else
            print_overview(stdout);
        return 0;
    }
    int words = 0;
    const cli_cmd *cmd = find_command(argc, argv, i, &words);
    if (!cmd) {
        if (is_group(argv[i])) {
            bool want_help = i + 1 < argc && (strcmp(argv[i + 1], "--help") == 0 ||
                                              strcmp(argv[i + 1], "-h") == 0);
            if (want_help)
                return print_group(argv[i], stdout);
            if (i + 1 < argc)
                fprintf(stderr, "cairn: error: unknown command '%s %s' (see cairn %s --help)\n",
                        argv[i], argv[i + 1], argv[i]);
            else
                print_group(argv[i], stderr);
            return 2;
        }
        fprintf(stderr, "cairn: error: unknown command '%s' (see cairn --help)\n", argv[i]);
        return 2;
    }
    int rc = parse_args(cmd, argc, argv, i + words, &args);
    if (rc)
        return rc;
    if (args.help) {
        cli_print_help(cmd, stdout);
        return 0;
    }
    if (args.n_pos < cmd->min_pos)
        return cli_usage_error(cmd, "missing argument: cairn %s %s", cmd->name, cmd->usage);
    if (args.n_pos > cmd->max_pos)
        return cli_usage_error(cmd, "unexpected argument '%s'", args.pos[cmd->max_pos]);
    return cmd->run(cmd, &args);
}

int main(int argc, char **argv)
{
    int rc = run(argc, argv);
    /* Output that never reached stdout (a full disk, a closed pipe) is an error, said
     * here once for every command. A command that saw its own flush fail returns 4
     * without a word, leaving the message to this check. */
    int e = errno;
    if (fflush(stdout) != 0)
        e = errno;
    else if (!ferror(stdout))
        return rc;
    fprintf(stderr, "cairn: error: cannot write standard output: %s\n",
            e ? strerror(e) : "write error");
    return rc ? rc : 4;
}
