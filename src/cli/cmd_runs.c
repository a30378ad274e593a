/*
 * cmd_runs.c -- `cairn runs ls|show|compare` and the run report that
 * `cairn train` prints too (cli_print_run, cli_run_to_json).
 *
 * A stored run keeps its spec, split, evaluation, findings and stages as JSON
 * text (see the run record in registry/registry.h). This file parses that
 * text with cJSON and turns it into tables for people or one JSON document
 * for programs. Everything in a record may be missing -- a failed run has no
 * evaluation, a run that failed early has no spec -- so every lookup here
 * tolerates a NULL column, invalid JSON, a missing key or a value of the wrong
 * type and prints "-" (or leaves the section out) instead.
 */
#include "cli/cli.h"
#include "eval/eval.h"
#include "registry/registry.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NAMES 64       /* distinct metric names gathered for one report */
#define SHOW_VALUE_MAX 60  /* longest setting value shown in `runs compare` text */
#define EST_MAX 128        /* "E [LO, HI]" from three 40-byte numbers */

/* ---- JSON access that never fails ------------------------------------------------ */

/* Parses stored JSON text; NULL when absent or not valid JSON (trailing bytes included). */
static cJSON *parse_json(const char *text)
{
    return text ? cJSON_ParseWithOpts(text, NULL, 1) : NULL;
}

static const cJSON *jget(const cJSON *obj, const char *key)
{
    return cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
}

static const char *jstr(const cJSON *obj, const char *key)
{
    const cJSON *v = jget(obj, key);
    return cJSON_IsString(v) && v->valuestring ? v->valuestring : NULL;
}

/* A number, or NaN when absent, null or not a number. */
static double jnum(const cJSON *obj, const char *key)
{
    const cJSON *v = jget(obj, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* ---- number formatting ------------------------------------------------------------ */

/* A metric value with 4 decimals; "-" when undefined. */
static void fmt_metric(char *out, size_t cap, double v)
{
    if (!isfinite(v))
        snprintf(out, cap, "-");
    else if (fabs(v) < 1e9)
        snprintf(out, cap, "%.4f", v);
    else
        snprintf(out, cap, "%.4e", v);
}

/* "E [LO, HI]" or "E" when the interval is unknown. */
static void fmt_estimate(char *out, size_t cap, double e, double lo, double hi)
{
    char se[40], sl[40], sh[40];
    fmt_metric(se, sizeof se, e);
    if (isfinite(e) && isfinite(lo) && isfinite(hi)) {
        fmt_metric(sl, sizeof sl, lo);
        fmt_metric(sh, sizeof sh, hi);
        snprintf(out, cap, "%s [%s, %s]", se, sl, sh);
    } else {
        snprintf(out, cap, "%s", se);
    }
}

static void fmt_delta(char *out, size_t cap, double d)
{
    if (!isfinite(d))
        snprintf(out, cap, "-");
    else
        snprintf(out, cap, "%+.4f", d);
}

/* A count stored as a JSON number, with thousands separators; "-" when absent. */
static void fmt_jcount(char *out, size_t cap, const cJSON *obj, const char *key)
{
    double v = jnum(obj, key);
    if (isfinite(v) && v >= 0 && v < 1.8e19)
        cli_fmt_count(out, cap, (uint64_t)v);
    else
        snprintf(out, cap, "-");
}

static void fmt_seconds(char *out, size_t cap, double s)
{
    if (!isfinite(s) || s < 0)
        snprintf(out, cap, "-");
    else if (s < 10)
        snprintf(out, cap, "%.2f s", s);
    else if (s < 600)
        snprintf(out, cap, "%.1f s", s);
    else if (s < 1e9)
        snprintf(out, cap, "%ldm%02ds", (long)(s / 60), (int)fmod(s, 60));
    else
        snprintf(out, cap, "%.3g s", s);
}

/* Appends stored JSON text as JSON when it parses, else null (never invalid output). */
static void put_embedded(cairn_buf *b, const char *text)
{
    cJSON *j = parse_json(text);
    if (j)
        cairn_buf_puts(b, text);
    else
        cairn_buf_puts(b, "null");
    cJSON_Delete(j);
}

/* ---- metric names --------------------------------------------------------------- */

typedef struct name_list {
    char names[MAX_NAMES][16];
    size_t n;
} name_list;

static void names_add(name_list *l, const char *name)
{
    if (!name || !name[0] || strlen(name) >= sizeof l->names[0])
        return;
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->names[i], name) == 0)
            return;
    if (l->n < MAX_NAMES)
        snprintf(l->names[l->n++], sizeof l->names[0], "%s", name);
}

/* The spec's evaluation.metrics, then the keys of a metrics object. */
static void names_from_spec(name_list *l, const cJSON *spec)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, jget(jget(spec, "evaluation"), "metrics"))
        if (cJSON_IsString(it))
            names_add(l, it->valuestring);
}

static void names_from_metrics(name_list *l, const cJSON *metrics)
{
    const cJSON *it;
    if (!cJSON_IsObject(metrics))
        return;
    cJSON_ArrayForEach(it, metrics)
        names_add(l, it->string);
}

static void names_from_record(name_list *l, const cairn_run_record *r)
{
    for (size_t i = 0; r->metrics && i < r->n_metrics; i++)
        names_add(l, r->metrics[i].name);
}

static const cairn_run_metric *record_metric(const cairn_run_record *r, const char *name)
{
    for (size_t i = 0; r->metrics && i < r->n_metrics; i++)
        if (strcmp(r->metrics[i].name, name) == 0)
            return &r->metrics[i];
    return NULL;
}

/* The first of the spec's metrics; else the first metric the run has; else NULL. */
static const char *main_metric(const cJSON *spec, const cJSON *model_metrics,
                               const cairn_run_record *r)
{
    const cJSON *first = cJSON_GetArrayItem(jget(jget(spec, "evaluation"), "metrics"), 0);
    if (cJSON_IsString(first) && first->valuestring)
        return first->valuestring;
    if (cJSON_IsObject(model_metrics) && model_metrics->child && model_metrics->child->string)
        return model_metrics->child->string;
    if (r->metrics && r->n_metrics > 0)
        return r->metrics[0].name;
    return NULL;
}

/* ---- cli_print_run ---------------------------------------------------------------- */

/* The parsed JSON columns of one record. */
typedef struct run_json {
    cJSON *spec, *build, *stages, *split, *eval, *findings, *gates;
} run_json;

static void run_json_parse(const cairn_run_record *r, run_json *j)
{
    j->spec = parse_json(r->spec_json);
    j->build = parse_json(r->build_json);
    j->stages = parse_json(r->stages_json);
    j->split = parse_json(r->split_json);
    j->eval = parse_json(r->eval_json);
    j->findings = parse_json(r->findings_json);
    j->gates = parse_json(r->gates_json);
}

static void run_json_reset(run_json *j)
{
    cJSON_Delete(j->spec);
    cJSON_Delete(j->build);
    cJSON_Delete(j->stages);
    cJSON_Delete(j->split);
    cJSON_Delete(j->eval);
    cJSON_Delete(j->findings);
    cJSON_Delete(j->gates);
    memset(j, 0, sizeof *j);
}

static const char *or_dash(const char *s)
{
    return s && s[0] ? s : "-";
}

/*
 * A labelled line of comma-separated items that wraps before WRAP_COLS,
 * continuing under the first item: "model     gbdt: rounds 20, max_depth 6, ...".
 */
#define WRAP_COLS 96
#define LABEL_COLS 10

typedef struct item_line {
    FILE *out;
    int col;
    int n;
    bool space_next;    /* the next item follows a heading ("gbdt:"): a space, no comma */
} item_line;

static void line_start(item_line *l, FILE *out, const char *label)
{
    l->out = out;
    l->n = 0;
    l->space_next = false;
    l->col = fprintf(out, "%-*s", LABEL_COLS, label);
}

static void line_item(item_line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void line_item(item_line *l, const char *fmt, ...)
{
    char text[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    int len = (int)strlen(text);
    const char *sep = l->n == 0 ? "" : l->space_next ? " " : ", ";
    if (l->n > 0 && l->col + (int)strlen(sep) + len > WRAP_COLS) {
        fprintf(l->out, "%s\n%*s", l->space_next ? "" : ",", LABEL_COLS, "");
        l->col = LABEL_COLS;
    } else {
        fputs(sep, l->out);
        l->col += (int)strlen(sep);
    }
    l->space_next = false;
    fputs(text, l->out);
    l->col += len;
    l->n++;
}

static void print_header(const cairn_run_record *r, FILE *out)
{
    char dur[32], seed[32];
    fmt_seconds(dur, sizeof dur, r->duration_s);
    if (r->seed >= 0)
        snprintf(seed, sizeof seed, "%lld", (long long)r->seed);
    else
        snprintf(seed, sizeof seed, "-");
    fprintf(out, "run %s  model %s  %s  started %s  %s  seed %s\n", r->id, or_dash(r->model),
            or_dash(r->status), or_dash(r->started_at), dur, seed);
    if (r->status && strcmp(r->status, "failed") == 0)
        fprintf(out, "\n  FAILED: %s\n\n", r->error ? r->error : "(no error was recorded)");
}

static void print_data(const cairn_run_record *r, const run_json *j, FILE *out)
{
    if (r->dataset_name)
        fprintf(out, "data      %s@%d  hash %.12s  contract %.12s\n", r->dataset_name,
                r->dataset_version, or_dash(r->dataset_hash),
                r->contract_hash ? r->contract_hash : "none");
    else
        fprintf(out, "data      - (not reached)\n");
    fprintf(out, "code      %s", or_dash(r->code_version));
    const char *compiler = jstr(j->build, "compiler");
    const char *xgb = jstr(j->build, "xgboost");
    if (compiler || xgb) {
        fprintf(out, "  (");
        if (compiler)
            fprintf(out, "%s", compiler);
        if (xgb)
            fprintf(out, "%sxgboost %s", compiler ? ", " : "", xgb);
        fprintf(out, ")");
    }
    fputc('\n', out);
}

static void print_split(const run_json *j, FILE *out)
{
    const cJSON *s = j->split;
    if (!cJSON_IsObject(s))
        return;
    const cJSON *rows = jget(s, "rows");
    char tr[32], va[32], te[32], un[32];
    fmt_jcount(tr, sizeof tr, rows, "train");
    fmt_jcount(va, sizeof va, rows, "valid");
    fmt_jcount(te, sizeof te, rows, "test");
    fmt_jcount(un, sizeof un, s, "unlabeled");
    fprintf(out, "split     %s: train %s, valid %s, test %s rows", or_dash(jstr(s, "by")), tr, va,
            te);
    if (isfinite(jnum(s, "unlabeled")) && jnum(s, "unlabeled") > 0)
        fprintf(out, " (%s unlabeled left out)", un);
    fputc('\n', out);
    char fi[32], fo[32];
    fmt_jcount(fi, sizeof fi, s, "features_in");
    fmt_jcount(fo, sizeof fo, s, "features_out");
    fprintf(out, "features  %s in -> %s out", fi, fo);
    const cJSON *pii = jget(s, "dropped_pii");
    if (cJSON_GetArraySize(pii) > 0) {
        fprintf(out, "; dropped PII:");
        const cJSON *it;
        bool first = true;
        cJSON_ArrayForEach(it, pii)
        {
            if (!cJSON_IsString(it))
                continue;
            fprintf(out, "%s %s", first ? "" : ",", it->valuestring);
            first = false;
        }
    }
    fputc('\n', out);
}

static void print_model(const cairn_run_record *r, const run_json *j, FILE *out)
{
    const cJSON *m = jget(j->spec, "model");
    const char *type = r->model_type ? r->model_type : jstr(m, "type");
    if (!type && !cJSON_IsObject(m))
        return;
    item_line l;
    line_start(&l, out, "model");
    const cJSON *params = cJSON_IsObject(m) ? m : NULL;
    line_item(&l, "%.32s%s", or_dash(type), cJSON_GetArraySize(params) > 1 ? ":" : "");
    l.space_next = true;
    const cJSON *it;
    cJSON_ArrayForEach(it, params)
    {
        if (!it->string || strcmp(it->string, "type") == 0)
            continue;
        char *v = cJSON_PrintUnformatted(it);
        line_item(&l, "%.64s %.64s", it->string, v ? v : "?");
        cJSON_free(v);
    }
    fputc('\n', out);
    const cJSON *t = jget(j->eval, "training");
    if (cJSON_IsObject(t)) {
        double rr = jnum(t, "rounds_run"), br = jnum(t, "best_round");
        double it_n = jnum(t, "iterations");
        if (isfinite(rr)) {
            fprintf(out, "training  rounds run %.0f", rr);
            if (isfinite(br))
                fprintf(out, ", best round %.0f", br);
            double bv = jnum(t, "best_valid");
            if (isfinite(bv))
                fprintf(out, " (valid %s %.4f)", or_dash(jstr(t, "valid_metric")), bv);
            fputc('\n', out);
        } else if (isfinite(it_n)) {
            const cJSON *conv = jget(t, "converged");
            fprintf(out, "training  %.0f iterations%s\n", it_n,
                    cJSON_IsBool(conv) ? (cJSON_IsTrue(conv) ? ", converged" : ", NOT converged")
                                       : "");
        }
    }
}

static void print_gates(const run_json *j, FILE *out)
{
    if (cJSON_GetArraySize(j->gates) == 0)
        return;
    item_line l;
    line_start(&l, out, "gates");
    const cJSON *g;
    cJSON_ArrayForEach(g, j->gates)
    {
        char v[40];
        fmt_metric(v, sizeof v, jnum(g, "value"));
        line_item(&l, "%.60s %.16s %s", or_dash(jstr(g, "metric")), or_dash(jstr(g, "op")), v);
    }
    fputc('\n', out);
}

static void print_metrics(const cairn_run_record *r, const run_json *j, FILE *out)
{
    const cJSON *mm = jget(jget(j->eval, "model"), "metrics");
    const cJSON *bm = jget(jget(j->eval, "baseline"), "metrics");
    name_list names = {0};
    names_from_spec(&names, j->spec);
    names_from_metrics(&names, mm);
    names_from_record(&names, r);
    names_from_metrics(&names, bm);
    if (names.n == 0 || (!j->eval && r->n_metrics == 0))
        return;
    const cJSON *model = jget(j->eval, "model");
    char n[32], np[32];
    fmt_jcount(n, sizeof n, model, "n");
    fmt_jcount(np, sizeof np, model, "n_pos");
    fprintf(out, "\ntest metrics (%s rows", n);
    if (isfinite(jnum(model, "n_pos")))
        fprintf(out, ", %s positive", np);
    const cJSON *boot = jget(j->eval, "bootstrap");
    if (cJSON_IsNumber(boot) && boot->valuedouble > 0)
        fprintf(out, "; 95%% intervals from %.0f bootstrap resamples", boot->valuedouble);
    fprintf(out, ")\n");
    static const char *const hdr[] = {"METRIC", "MODEL [95% CI]", "BASELINE [95% CI]", "DELTA"};
    static const bool right[] = {false, false, false, true};
    cli_table t;
    cli_table_init(&t, 4, hdr, right);
    for (size_t i = 0; i < names.n; i++) {
        const char *name = names.names[i];
        const cJSON *m = jget(mm, name), *b = jget(bm, name);
        double me = jnum(m, "estimate"), ml = jnum(m, "lo"), mh = jnum(m, "hi");
        if (!m) {
            const cairn_run_metric *rm = record_metric(r, name);
            if (rm) {
                me = rm->estimate;
                ml = rm->lo;
                mh = rm->hi;
            }
        }
        double be = jnum(b, "estimate");
        char ms[EST_MAX], bs[EST_MAX], ds[40];
        fmt_estimate(ms, sizeof ms, me, ml, mh);
        fmt_estimate(bs, sizeof bs, be, jnum(b, "lo"), jnum(b, "hi"));
        fmt_delta(ds, sizeof ds, me - be);
        const char *cells[] = {name, ms, bs, ds};
        cli_table_add(&t, cells);
    }
    cli_table_print(&t, out);
    cli_table_reset(&t);
}

static void print_threshold(const run_json *j, FILE *out)
{
    const cJSON *model = jget(j->eval, "model");
    const cJSON *th = jget(j->eval, "threshold");
    double tv = jnum(th, "value");
    if (!isfinite(tv))
        tv = jnum(model, "threshold");
    const cJSON *c = jget(model, "confusion");
    if (!isfinite(tv) && !cJSON_IsObject(c))
        return;
    char ts[40];
    fmt_metric(ts, sizeof ts, tv);
    fprintf(out, "\nthreshold %s", ts);
    const char *by = jstr(th, "by");
    if (by)
        fprintf(out, " (%s%s)", by, strcmp(by, "fixed") == 0 ? "" : ", chosen on valid");
    if (cJSON_IsObject(c)) {
        char tp[32], fp[32], tn[32], fn[32];
        fmt_jcount(tp, sizeof tp, c, "tp");
        fmt_jcount(fp, sizeof fp, c, "fp");
        fmt_jcount(tn, sizeof tn, c, "tn");
        fmt_jcount(fn, sizeof fn, c, "fn");
        fprintf(out, ": TP %s  FP %s  TN %s  FN %s", tp, fp, tn, fn);
    }
    fputc('\n', out);
}

static void print_calibration(const run_json *j, FILE *out)
{
    const cJSON *cal = jget(jget(j->eval, "model"), "calibration");
    if (cJSON_GetArraySize(cal) == 0)
        return;
    static const char *const hdr[] = {"P RANGE", "N", "MEAN P", "RATE"};
    static const bool right[] = {false, true, true, true};
    cli_table t;
    cli_table_init(&t, 4, hdr, right);
    const cJSON *bin;
    cJSON_ArrayForEach(bin, cal)
    {
        double count = jnum(bin, "count");
        if (!(count > 0))
            continue;
        char range[64], n[32], mp[40], rate[40];
        snprintf(range, sizeof range, "%.2f-%.2f", jnum(bin, "lo"), jnum(bin, "hi"));
        fmt_jcount(n, sizeof n, bin, "count");
        fmt_metric(mp, sizeof mp, jnum(bin, "mean_p"));
        fmt_metric(rate, sizeof rate, jnum(bin, "rate"));
        const char *cells[] = {range, n, mp, rate};
        cli_table_add(&t, cells);
    }
    if (t.n_rows > 0) {
        fprintf(out, "\ncalibration (non-empty bins)\n");
        cli_table_print(&t, out);
    }
    cli_table_reset(&t);
}

static void print_slices(const cairn_run_record *r, const run_json *j, FILE *out)
{
    const cJSON *model = jget(j->eval, "model");
    const cJSON *slices = jget(model, "slices");
    if (cJSON_GetArraySize(slices) == 0)
        return;
    const char *metric = main_metric(j->spec, jget(model, "metrics"), r);
    if (!metric)
        metric = "?";
    /* One table per slice column, in order of first appearance. */
    const cJSON *s;
    cJSON_ArrayForEach(s, slices)
    {
        const char *col = jstr(s, "column");
        if (!col)
            continue;
        bool seen = false;
        for (const cJSON *e = slices->child; e && e != s && !seen; e = e->next) {
            const char *ec = jstr(e, "column");
            seen = ec && strcmp(ec, col) == 0;
        }
        if (seen)
            continue;
        fprintf(out, "\nslices by %s (%s)\n", col, metric);
        char mh[48];
        size_t k = 0;
        for (; metric[k] && k < 16; k++)
            mh[k] = (char)(metric[k] >= 'a' && metric[k] <= 'z' ? metric[k] - 32 : metric[k]);
        snprintf(mh + k, sizeof mh - k, " [95%% CI]");
        const char *hdr[] = {"VALUE", "N", mh};
        static const bool right[] = {false, true, false};
        cli_table t;
        cli_table_init(&t, 3, hdr, right);
        const cJSON *g;
        cJSON_ArrayForEach(g, slices)
        {
            const char *gc = jstr(g, "column");
            if (!gc || strcmp(gc, col) != 0)
                continue;
            const cJSON *m = jget(jget(g, "metrics"), metric);
            char n[32], ms[EST_MAX], cell[EST_MAX + 48];
            fmt_jcount(n, sizeof n, g, "n");
            fmt_estimate(ms, sizeof ms, jnum(m, "estimate"), jnum(m, "lo"), jnum(m, "hi"));
            snprintf(cell, sizeof cell, "%s%s", ms,
                     cJSON_IsTrue(jget(g, "small")) ? "  (small)" : "");
            const char *cells[] = {or_dash(jstr(g, "value")), n, cell};
            cli_table_add(&t, cells);
        }
        cli_table_print(&t, out);
        cli_table_reset(&t);
    }
}

/* Prints "PREFIX TEXT" indented, wrapped at WRAP_COLS; continuation lines start at column
 * cont (< 0: under the text's first word). */
static void print_wrapped(FILE *out, int indent, int cont, const char *prefix, const char *text)
{
    int col = fprintf(out, "%*s%s", indent, "", prefix);
    int start = cont >= 0 ? cont : col;
    bool first = true;
    while (*text) {
        while (*text == ' ')
            text++;
        size_t n = strcspn(text, " ");
        if (n == 0)
            break;
        if (!first && col + 1 + (int)n > WRAP_COLS) {
            fprintf(out, "\n%*s", start, "");
            col = start;
        } else if (!first) {
            fputc(' ', out);
            col++;
        }
        fwrite(text, 1, n, out);
        col += (int)n;
        text += n;
        first = false;
    }
    fputc('\n', out);
}

static void print_findings(const run_json *j, FILE *out)
{
    static const char *const sev[] = {"critical", "high", "medium", "low", "info"};
    const size_t n_sev = sizeof sev / sizeof sev[0];
    if (cJSON_GetArraySize(j->findings) == 0) {
        if (j->findings)
            fprintf(out, "\nfindings  none: no leakage, PII or split problem found\n");
        return;
    }
    fprintf(out, "\nfindings\n");
    /* One pass per known severity, then one for anything else. */
    for (size_t k = 0; k <= n_sev; k++) {
        bool header = false;
        const cJSON *f;
        cJSON_ArrayForEach(f, j->findings)
        {
            const char *s = jstr(f, "severity");
            size_t fk = n_sev;
            for (size_t q = 0; s && q < n_sev; q++)
                if (strcmp(s, sev[q]) == 0)
                    fk = q;
            if (fk != k)
                continue;
            if (!header) {
                char up[32];
                const char *label = k < n_sev ? sev[k] : "other";
                size_t i = 0;
                for (; label[i] && i + 1 < sizeof up; i++)
                    up[i] = (char)(label[i] >= 'a' && label[i] <= 'z' ? label[i] - 32 : label[i]);
                up[i] = '\0';
                fprintf(out, "  %s\n", up);
                header = true;
            }
            const char *col = jstr(f, "column");
            char head[200];
            snprintf(head, sizeof head, "- %.60s%s%.120s: ", or_dash(jstr(f, "code")),
                     col && col[0] ? " " : "", col && col[0] ? col : "");
            print_wrapped(out, 2, 4, head, or_dash(jstr(f, "what")));
            if (jstr(f, "why"))
                print_wrapped(out, 6, -1, "why: ", jstr(f, "why"));
            if (jstr(f, "fix"))
                print_wrapped(out, 6, -1, "fix: ", jstr(f, "fix"));
        }
    }
}

static void print_stages(const run_json *j, FILE *out)
{
    if (cJSON_GetArraySize(j->stages) == 0)
        return;
    fputc('\n', out);
    item_line l;
    line_start(&l, out, "stages");
    const cJSON *s;
    double total = 0;
    cJSON_ArrayForEach(s, j->stages)
    {
        char secs[32];
        double v = jnum(s, "seconds");
        fmt_seconds(secs, sizeof secs, v);
        if (isfinite(v))
            total += v;
        line_item(&l, "%s %s", or_dash(jstr(s, "stage")), secs);
    }
    char ts[32];
    fmt_seconds(ts, sizeof ts, total);
    fprintf(out, " (total %s)\n", ts);
}

void cli_print_run(const cairn_run_record *r, FILE *out)
{
    if (!r || !out)
        return;
    run_json j;
    run_json_parse(r, &j);
    print_header(r, out);
    print_data(r, &j, out);
    print_split(&j, out);
    print_model(r, &j, out);
    print_gates(&j, out);
    print_metrics(r, &j, out);
    print_threshold(&j, out);
    print_calibration(&j, out);
    print_slices(r, &j, out);
    print_findings(&j, out);
    print_stages(&j, out);
    run_json_reset(&j);
}

/* ---- cli_run_to_json -------------------------------------------------------------- */

/* "NAME@N" of the run's dataset, "-" when it has none. */
static void fmt_ref(char *out, size_t cap, const cairn_run_record *r)
{
    if (r->dataset_name)
        snprintf(out, cap, "%s@%d", r->dataset_name, r->dataset_version);
    else
        snprintf(out, cap, "-");
}

static void put_key(cairn_buf *b, const char *key)
{
    cairn_buf_printf(b, ",\"%s\":", key);
}

/* full: with the spec text and the states' sizes (a listing has neither loaded). */
static void run_to_json(const cairn_run_record *r, cairn_buf *b, bool full)
{
    cairn_buf_puts(b, "{\"id\":");
    cli_json_str(b, r->id);
    put_key(b, "model");
    cli_json_str(b, r->model);
    put_key(b, "status");
    cli_json_str(b, r->status);
    put_key(b, "error");
    cli_json_str(b, r->error);
    put_key(b, "started_at");
    cli_json_str(b, r->started_at);
    put_key(b, "finished_at");
    cli_json_str(b, r->finished_at);
    put_key(b, "duration_s");
    cairn_buf_put_json_number(b, r->duration_s);
    if (r->seed >= 0)
        cairn_buf_printf(b, ",\"seed\":%lld", (long long)r->seed);
    else
        cairn_buf_puts(b, ",\"seed\":null");
    put_key(b, "dataset"); /* null when the run failed before loading it */
    if (r->dataset_name) {
        char ref[160];
        fmt_ref(ref, sizeof ref, r);
        cairn_buf_puts(b, "{\"name\":");
        cli_json_str(b, r->dataset_name);
        cairn_buf_printf(b, ",\"version\":%d,\"ref\":", r->dataset_version);
        cli_json_str(b, ref);
        cairn_buf_puts(b, ",\"hash\":");
        cli_json_str(b, r->dataset_hash);
        cairn_buf_putc(b, '}');
    } else {
        cairn_buf_puts(b, "null");
    }
    put_key(b, "contract_hash");
    cli_json_str(b, r->contract_hash);
    put_key(b, "code_version");
    cli_json_str(b, r->code_version);
    put_key(b, "model_type");
    cli_json_str(b, r->model_type);
    put_key(b, "metrics");
    cairn_buf_putc(b, '[');
    for (size_t i = 0; r->metrics && i < r->n_metrics; i++) {
        const cairn_run_metric *m = &r->metrics[i];
        cairn_buf_puts(b, i ? ",{\"name\":" : "{\"name\":");
        cairn_buf_put_json_string(b, m->name, strnlen(m->name, sizeof m->name));
        cairn_buf_puts(b, ",\"estimate\":");
        cairn_buf_put_json_number(b, m->estimate);
        cairn_buf_puts(b, ",\"lo\":");
        cairn_buf_put_json_number(b, m->lo);
        cairn_buf_puts(b, ",\"hi\":");
        cairn_buf_put_json_number(b, m->hi);
        cairn_buf_putc(b, '}');
    }
    cairn_buf_putc(b, ']');
    if (full)
        cairn_buf_printf(b,
                         ",\"states\":{\"transform_bytes\":%zu,\"model_bytes\":%zu,"
                         "\"baseline_bytes\":%zu,\"state_hash\":",
                         r->transform_state ? r->transform_state_len : (size_t)0,
                         r->model_state ? r->model_state_len : (size_t)0,
                         r->baseline_state ? r->baseline_state_len : (size_t)0);
    else /* a listing carries no states: their sizes are unknown here */
        cairn_buf_puts(b, ",\"states\":{\"transform_bytes\":null,\"model_bytes\":null,"
                          "\"baseline_bytes\":null,\"state_hash\":");
    cli_json_str(b, r->state_hash);
    cairn_buf_putc(b, '}');
    put_key(b, "spec");
    put_embedded(b, r->spec_json);
    put_key(b, "split");
    put_embedded(b, r->split_json);
    put_key(b, "eval");
    put_embedded(b, r->eval_json);
    put_key(b, "findings");
    put_embedded(b, r->findings_json);
    put_key(b, "gates");
    put_embedded(b, r->gates_json);
    if (full) {   /* the drift baseline (refstats.h); listings leave it out */
        put_key(b, "refstats");
        put_embedded(b, r->refstats_json);
    }
    put_key(b, "stages");
    put_embedded(b, r->stages_json);
    put_key(b, "build");
    put_embedded(b, r->build_json);
    if (full) {
        put_key(b, "spec_text");
        cli_json_str(b, r->spec_text);
    }
    cairn_buf_putc(b, '}');
}

void cli_run_to_json(const cairn_run_record *r, cairn_buf *b)
{
    if (r && b)
        run_to_json(r, b, true);
}

/* ---- runs ls ------------------------------------------------------------------ */

static const char *const known_metrics[] = {
    "auc", "pr_auc", "logloss", "brier", "ece", "accuracy", "precision", "recall", "f1",
    "rmse", "mae", "r2", "mape", "spearman", "macro_f1"};

static bool metric_known(const char *name)
{
    for (size_t i = 0; i < sizeof known_metrics / sizeof known_metrics[0]; i++)
        if (strcmp(known_metrics[i], name) == 0)
            return true;
    return false;
}

/* "auc 0.8123" from the first of auc, r2, accuracy the run has; "-" when none. */
static void fmt_main(char *out, size_t cap, const cairn_run_record *r)
{
    static const char *const pref[] = {"auc", "r2", "accuracy"};
    for (size_t i = 0; i < sizeof pref / sizeof pref[0]; i++) {
        const cairn_run_metric *m = record_metric(r, pref[i]);
        if (m) {
            char v[40];
            fmt_metric(v, sizeof v, m->estimate);
            snprintf(out, cap, "%s %s", pref[i], v);
            return;
        }
    }
    snprintf(out, cap, "-");
}

int cmd_runs_ls(const cli_cmd *cmd, cli_args *a)
{
    cairn_run_query q = {0};
    q.model = cli_get(cmd, a, "model");
    q.status = cli_get(cmd, a, "status");
    if (q.status && strcmp(q.status, "succeeded") != 0 && strcmp(q.status, "failed") != 0)
        return cli_usage_error(cmd, "--status must be succeeded or failed, not '%s'", q.status);
    q.sort_metric = cli_get(cmd, a, "sort");
    if (q.sort_metric) {
        if (!metric_known(q.sort_metric))
            return cli_usage_error(cmd,
                                   "unknown metric '%s' for --sort (one of auc, pr_auc, logloss, "
                                   "brier, ece, accuracy, precision, recall, f1, rmse, mae, r2, "
                                   "mape, spearman, macro_f1)",
                                   q.sort_metric);
        q.ascending = !cairn_metric_higher_is_better(q.sort_metric);
    }
    const char *lim = cli_get(cmd, a, "limit");
    if (lim) {
        char *end;
        errno = 0;
        long long v = strtoll(lim, &end, 10);
        if (errno || end == lim || *end || v < 1 || v > 1000000000LL)
            return cli_usage_error(cmd, "--limit must be a positive integer, not '%s'", lim);
        q.limit = (size_t)v;
    }

    cairn_home *h = NULL;
    int rc = cli_open_home(a, &h);
    if (rc)
        return rc;
    cairn_run_record *list = NULL;
    size_t n = 0;
    cairn_error err = {0};
    cairn_status st = cairn_run_list(h, &q, &list, &n, &err);
    cairn_home_close(h);
    if (st != CAIRN_OK)
        return cli_fail(&err);

    if (a->json) {
        cairn_buf b;
        cairn_buf_init(&b);
        cairn_buf_puts(&b, "{\"runs\":[");
        for (size_t i = 0; i < n; i++) {
            if (i)
                cairn_buf_putc(&b, ',');
            run_to_json(&list[i], &b, false);
        }
        cairn_buf_puts(&b, "]}");
        rc = cli_emit_json(&b);
        cairn_buf_reset(&b);
    } else if (n == 0) {
        if (q.model || q.status)
            printf("no runs match%s%s%s%s\n", q.model ? " --model " : "", q.model ? q.model : "",
                   q.status ? " --status " : "", q.status ? q.status : "");
        else
            printf("no runs yet; train one with `cairn train SPEC.yaml`\n");
    } else {
        char sort_hdr[32] = "";
        if (q.sort_metric) {
            size_t i = 0;
            for (; q.sort_metric[i] && i + 1 < sizeof sort_hdr; i++) {
                char c = q.sort_metric[i];
                sort_hdr[i] = (char)(c >= 'a' && c <= 'z' ? c - 32 : c);
            }
            sort_hdr[i] = '\0';
        }
        const char *hdr[] = {"RUN",    "MODEL",  "STATUS", "STARTED", "DATA",
                             "TYPE",   "METRIC", sort_hdr, "DURATION"};
        bool right[] = {false, false, false, false, false, false, false, true, true};
        int n_cols = 9;
        if (!q.sort_metric) {
            hdr[7] = hdr[8];
            right[7] = true;
            n_cols = 8;
        }
        cli_table t;
        cli_table_init(&t, n_cols, hdr, right);
        for (size_t i = 0; i < n; i++) {
            const cairn_run_record *r = &list[i];
            char started[32], data[160], main_m[64], sortv[40], dur[32];
            snprintf(started, sizeof started, "%.19s", or_dash(r->started_at));
            char *tee = strchr(started, 'T');
            if (tee)
                *tee = ' ';
            if (r->dataset_name)
                snprintf(data, sizeof data, "%s@%d", r->dataset_name, r->dataset_version);
            else
                snprintf(data, sizeof data, "-");
            fmt_main(main_m, sizeof main_m, r);
            const cairn_run_metric *sm = q.sort_metric ? record_metric(r, q.sort_metric) : NULL;
            fmt_metric(sortv, sizeof sortv, sm ? sm->estimate : NAN);
            fmt_seconds(dur, sizeof dur, r->duration_s);
            const char *cells[9] = {r->id, or_dash(r->model), or_dash(r->status), started, data,
                                    or_dash(r->model_type), main_m, sortv, dur};
            if (!q.sort_metric)
                cells[7] = dur;
            cli_table_add(&t, cells);
        }
        cli_table_print(&t, stdout);
        cli_table_reset(&t);
    }
    for (size_t i = 0; i < n; i++)
        cairn_run_record_reset(&list[i]);
    cairn_free(list);
    return rc;
}

/* ---- runs show ---------------------------------------------------------------- */

/* Loads runs ids[0..n) (each reset first); on failure prints the error and returns its code. */
static int load_runs(cli_args *a, const char *const *ids, cairn_run_record *out, int n)
{
    cairn_home *h = NULL;
    int rc = cli_open_home(a, &h);
    if (rc)
        return rc;
    cairn_error err = {0};
    cairn_status st = CAIRN_OK;
    for (int i = 0; i < n && st == CAIRN_OK; i++)
        st = cairn_run_get(h, ids[i], &out[i], &err);
    cairn_home_close(h);
    return st == CAIRN_OK ? 0 : cli_fail(&err);
}

int cmd_runs_show(const cli_cmd *cmd, cli_args *a)
{
    (void)cmd;
    cairn_run_record r = {0};
    const char *ids[] = {a->pos[0]};
    int rc = load_runs(a, ids, &r, 1);
    if (rc == 0) {
        if (a->json) {
            cairn_buf b;
            cairn_buf_init(&b);
            cli_run_to_json(&r, &b);
            rc = cli_emit_json(&b);
            cairn_buf_reset(&b);
        } else {
            cli_print_run(&r, stdout);
            rc = fflush(stdout) == 0 ? 0 : 4;
        }
    }
    cairn_run_record_reset(&r);
    return rc;
}

/* ---- runs compare ------------------------------------------------------------- */

typedef struct diff_item {
    char *path;
    const cJSON *a, *b;    /* borrowed from the parsed specs; NULL = absent */
} diff_item;

typedef struct diff_list {
    diff_item *items;
    size_t n, cap;
    bool failed;
} diff_list;

static void diff_add(diff_list *l, const char *path, const cJSON *a, const cJSON *b)
{
    if (l->failed)
        return;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        diff_item *p = cairn_reallocarray(l->items, cap, sizeof *p);
        if (!p) {
            l->failed = true;
            return;
        }
        l->items = p;
        l->cap = cap;
    }
    char *copy = cairn_strdup(path);
    if (!copy) {
        l->failed = true;
        return;
    }
    l->items[l->n++] = (diff_item){copy, a, b};
}

static void diff_reset(diff_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        cairn_free(l->items[i].path);
    cairn_free(l->items);
    memset(l, 0, sizeof *l);
}

/* Walks two JSON values together; objects recursively, anything else compared whole. */
static void diff_json(const cJSON *a, const cJSON *b, const char *path, diff_list *out)
{
    if (cJSON_IsObject(a) && cJSON_IsObject(b)) {
        const cJSON *it;
        cJSON_ArrayForEach(it, a)
        {
            if (!it->string)
                continue;
            cairn_buf p;
            cairn_buf_init(&p);
            cairn_buf_printf(&p, "%s%s%s", path, path[0] ? "." : "", it->string);
            if (p.failed)
                out->failed = true;
            else
                diff_json(it, cJSON_GetObjectItemCaseSensitive(b, it->string), p.data, out);
            cairn_buf_reset(&p);
        }
        cJSON_ArrayForEach(it, b)
        {
            if (!it->string || cJSON_GetObjectItemCaseSensitive(a, it->string))
                continue;
            cairn_buf p;
            cairn_buf_init(&p);
            cairn_buf_printf(&p, "%s%s%s", path, path[0] ? "." : "", it->string);
            if (p.failed)
                out->failed = true;
            else
                diff_json(NULL, it, p.data, out);
            cairn_buf_reset(&p);
        }
        return;
    }
    if (!a && !b)
        return;
    if (a && b && cJSON_Compare(a, b, true))
        return;
    diff_add(out, path[0] ? path : "(spec)", a, b);
}

/* A setting's value for people: strings bare, others as compact JSON, shortened. */
static void fmt_value(char *out, size_t cap, const cJSON *v)
{
    if (!v) {
        snprintf(out, cap, "(absent)");
        return;
    }
    char *s = cJSON_IsString(v) ? NULL : cJSON_PrintUnformatted(v);
    const char *text = cJSON_IsString(v) ? v->valuestring : (s ? s : "?");
    if (strlen(text) > SHOW_VALUE_MAX && cap > SHOW_VALUE_MAX + 4)
        snprintf(out, cap, "%.*s...", SHOW_VALUE_MAX - 3, text);
    else
        snprintf(out, cap, "%s", text);
    cJSON_free(s);
}

static void put_value(cairn_buf *b, const cJSON *v)
{
    char *s = v ? cJSON_PrintUnformatted(v) : NULL;
    cairn_buf_puts(b, s ? s : "null");
    cJSON_free(s);
}

/* A metric's estimate and interval for one run, from run_metrics or else its eval JSON. */
static bool compare_metric(const cairn_run_record *r, const cJSON *eval, const char *name,
                           double *e, double *lo, double *hi)
{
    const cairn_run_metric *m = record_metric(r, name);
    if (m) {
        *e = m->estimate;
        *lo = m->lo;
        *hi = m->hi;
        return true;
    }
    const cJSON *jm = jget(jget(jget(eval, "model"), "metrics"), name);
    if (!jm) {
        *e = *lo = *hi = NAN;
        return false;
    }
    *e = jnum(jm, "estimate");
    *lo = jnum(jm, "lo");
    *hi = jnum(jm, "hi");
    return true;
}

static void put_run_brief(cairn_buf *b, const cairn_run_record *r)
{
    char ref[160];
    fmt_ref(ref, sizeof ref, r);
    cairn_buf_puts(b, "{\"id\":");
    cli_json_str(b, r->id);
    put_key(b, "model");
    cli_json_str(b, r->model);
    put_key(b, "status");
    cli_json_str(b, r->status);
    put_key(b, "model_type");
    cli_json_str(b, r->model_type);
    put_key(b, "started_at");
    cli_json_str(b, r->started_at);
    put_key(b, "data");
    cli_json_str(b, r->dataset_name ? ref : NULL);
    put_key(b, "dataset_hash");
    cli_json_str(b, r->dataset_hash);
    cairn_buf_putc(b, '}');
}

int cmd_runs_compare(const cli_cmd *cmd, cli_args *a)
{
    (void)cmd;
    cairn_run_record r[2];
    memset(r, 0, sizeof r);
    const char *ids[] = {a->pos[0], a->pos[1]};
    int rc = load_runs(a, ids, r, 2);
    if (rc) {
        cairn_run_record_reset(&r[0]);
        cairn_run_record_reset(&r[1]);
        return rc;
    }
    run_json ja, jb;
    run_json_parse(&r[0], &ja);
    run_json_parse(&r[1], &jb);

    diff_list diffs = {0};
    diff_json(ja.spec, jb.spec, "", &diffs);

    /* Every metric either run has, the specs' metrics first. */
    name_list order = {0}, names = {0};
    names_from_spec(&order, ja.spec);
    names_from_spec(&order, jb.spec);
    names_from_record(&order, &r[0]);
    names_from_metrics(&order, jget(jget(ja.eval, "model"), "metrics"));
    names_from_record(&order, &r[1]);
    names_from_metrics(&order, jget(jget(jb.eval, "model"), "metrics"));
    for (size_t i = 0; i < order.n; i++) {
        double e, lo, hi;
        if (compare_metric(&r[0], ja.eval, order.names[i], &e, &lo, &hi) ||
            compare_metric(&r[1], jb.eval, order.names[i], &e, &lo, &hi))
            names_add(&names, order.names[i]);
    }

    char ref_a[160], ref_b[160];
    fmt_ref(ref_a, sizeof ref_a, &r[0]);
    fmt_ref(ref_b, sizeof ref_b, &r[1]);
    bool same_data = r[0].dataset_hash && r[1].dataset_hash
                         ? strcmp(r[0].dataset_hash, r[1].dataset_hash) == 0
                         : strcmp(ref_a, ref_b) == 0;

    if (diffs.failed) {
        cairn_error err = {0};
        cairn_error_set(&err, CAIRN_ENOMEM, "runs compare", "out of memory comparing the specs");
        rc = cli_fail(&err);
    } else if (a->json) {
        cairn_buf b;
        cairn_buf_init(&b);
        cairn_buf_puts(&b, "{\"a\":");
        put_run_brief(&b, &r[0]);
        cairn_buf_puts(&b, ",\"b\":");
        put_run_brief(&b, &r[1]);
        cairn_buf_puts(&b, ",\"specs_known\":");
        cairn_buf_puts(&b, ja.spec && jb.spec ? "true" : "false");
        cairn_buf_puts(&b, ",\"settings\":[");
        for (size_t i = 0; i < diffs.n; i++) {
            cairn_buf_puts(&b, i ? ",{\"path\":" : "{\"path\":");
            cli_json_str(&b, diffs.items[i].path);
            cairn_buf_puts(&b, ",\"a\":");
            put_value(&b, diffs.items[i].a);
            cairn_buf_puts(&b, ",\"b\":");
            put_value(&b, diffs.items[i].b);
            cairn_buf_putc(&b, '}');
        }
        cairn_buf_puts(&b, "],\"data\":{\"a\":");
        cli_json_str(&b, r[0].dataset_name ? ref_a : NULL);
        cairn_buf_puts(&b, ",\"b\":");
        cli_json_str(&b, r[1].dataset_name ? ref_b : NULL);
        cairn_buf_printf(&b, ",\"same\":%s},\"metrics\":[", same_data ? "true" : "false");
        for (size_t i = 0; i < names.n; i++) {
            double e[2], lo[2], hi[2];
            bool has[2];
            has[0] = compare_metric(&r[0], ja.eval, names.names[i], &e[0], &lo[0], &hi[0]);
            has[1] = compare_metric(&r[1], jb.eval, names.names[i], &e[1], &lo[1], &hi[1]);
            cairn_buf_puts(&b, i ? ",{\"name\":" : "{\"name\":");
            cli_json_str(&b, names.names[i]);
            for (int k = 0; k < 2; k++) {
                cairn_buf_puts(&b, k ? ",\"b\":" : ",\"a\":");
                if (!has[k]) {
                    cairn_buf_puts(&b, "null");
                    continue;
                }
                cairn_buf_puts(&b, "{\"estimate\":");
                cairn_buf_put_json_number(&b, e[k]);
                cairn_buf_puts(&b, ",\"lo\":");
                cairn_buf_put_json_number(&b, lo[k]);
                cairn_buf_puts(&b, ",\"hi\":");
                cairn_buf_put_json_number(&b, hi[k]);
                cairn_buf_putc(&b, '}');
            }
            cairn_buf_puts(&b, ",\"delta\":");
            cairn_buf_put_json_number(&b, e[1] - e[0]);
            cairn_buf_puts(&b, ",\"overlap\":");
            if (isfinite(lo[0]) && isfinite(hi[0]) && isfinite(lo[1]) && isfinite(hi[1]))
                cairn_buf_puts(&b, lo[0] <= hi[1] && lo[1] <= hi[0] ? "true" : "false");
            else
                cairn_buf_puts(&b, "null");
            cairn_buf_putc(&b, '}');
        }
        cairn_buf_puts(&b, "]}");
        rc = cli_emit_json(&b);
        cairn_buf_reset(&b);
    } else {
        for (int k = 0; k < 2; k++) {
            const cairn_run_record *x = &r[k];
            char started[32];
            snprintf(started, sizeof started, "%.19s", or_dash(x->started_at));
            fprintf(stdout, "%c  %s  %s  %s  %s  %s  started %s\n", k ? 'B' : 'A', x->id,
                    or_dash(x->model), or_dash(x->status), or_dash(x->model_type),
                    k ? ref_b : ref_a, started);
        }
        if (!ja.spec || !jb.spec) {
            printf("\nsettings: cannot compare, %s has no stored spec\n",
                   !ja.spec && !jb.spec ? "neither run" : !ja.spec ? "A" : "B");
        } else if (diffs.n == 0) {
            printf("\nsettings: identical\n");
        } else {
            printf("\nsettings that differ\n");
            static const char *const hdr[] = {"SETTING", "A", "B"};
            cli_table t;
            cli_table_init(&t, 3, hdr, NULL);
            for (size_t i = 0; i < diffs.n; i++) {
                char va[SHOW_VALUE_MAX + 8], vb[SHOW_VALUE_MAX + 8];
                fmt_value(va, sizeof va, diffs.items[i].a);
                fmt_value(vb, sizeof vb, diffs.items[i].b);
                const char *cells[] = {diffs.items[i].path, va, vb};
                cli_table_add(&t, cells);
            }
            cli_table_print(&t, stdout);
            cli_table_reset(&t);
        }
        printf("\ndata      A %s (hash %.12s)  B %s (hash %.12s)  %s\n", ref_a,
               or_dash(r[0].dataset_hash), ref_b, or_dash(r[1].dataset_hash),
               same_data ? "same data" : "DIFFERENT data");
        if (names.n == 0) {
            printf("\nmetrics: neither run has test metrics\n");
        } else {
            printf("\ntest metrics (delta = B - A)\n");
            static const char *const hdr[] = {"METRIC", "A [95% CI]", "B [95% CI]", "DELTA",
                                              "INTERVALS"};
            static const bool right[] = {false, false, false, true, false};
            cli_table t;
            cli_table_init(&t, 5, hdr, right);
            for (size_t i = 0; i < names.n; i++) {
                double e[2], lo[2], hi[2];
                compare_metric(&r[0], ja.eval, names.names[i], &e[0], &lo[0], &hi[0]);
                compare_metric(&r[1], jb.eval, names.names[i], &e[1], &lo[1], &hi[1]);
                char sa[EST_MAX], sb[EST_MAX], sd[40];
                fmt_estimate(sa, sizeof sa, e[0], lo[0], hi[0]);
                fmt_estimate(sb, sizeof sb, e[1], lo[1], hi[1]);
                fmt_delta(sd, sizeof sd, e[1] - e[0]);
                const char *ov = "-";
                if (isfinite(lo[0]) && isfinite(hi[0]) && isfinite(lo[1]) && isfinite(hi[1]))
                    ov = lo[0] <= hi[1] && lo[1] <= hi[0] ? "overlap" : "separate";
                const char *cells[] = {names.names[i], sa, sb, sd, ov};
                cli_table_add(&t, cells);
            }
            cli_table_print(&t, stdout);
            cli_table_reset(&t);
        }
        rc = fflush(stdout) == 0 ? 0 : 4;
    }
    diff_reset(&diffs);
    run_json_reset(&ja);
    run_json_reset(&jb);
    cairn_run_record_reset(&r[0]);
    cairn_run_record_reset(&r[1]);
    return rc;
}
