/*
 * cli.h -- what the command files share: the command table, option parsing,
 * output helpers (tables, JSON, errors, progress) and the exit-code rule.
 * Only src/cli prints.
 */
#ifndef CAIRN_CLI_H
#define CAIRN_CLI_H

#include "cairn.h"
#include "core/core.h"

#include <stdbool.h>
#include <stdio.h>

#define CLI_MAX_OPTS 24
#define CLI_MAX_VALUES 16
#define CLI_MAX_POS 8

/* One option of a command. arg == NULL: a flag. repeat: may be given several times. */
typedef struct cli_opt {
    const char *name;      /* long name without "--" */
    char short_name;       /* 0 when none */
    const char *arg;       /* metavariable, e.g. "FILE"; NULL for flags */
    const char *help;
    bool repeat;
} cli_opt;

/* Parsed arguments of one command. */
typedef struct cli_args {
    const char *pos[CLI_MAX_POS];
    int n_pos;
    const char *values[CLI_MAX_OPTS][CLI_MAX_VALUES];
    int n_values[CLI_MAX_OPTS];
    /* global options */
    const char *home;
    bool json;
    bool help;
    bool quiet;
} cli_args;

struct cli_cmd;
typedef int (*cli_handler)(const struct cli_cmd *cmd, cli_args *a);

typedef struct cli_cmd {
    const char *name;      /* "data add" */
    const char *usage;     /* "FILE --name NAME [options]" */
    const char *summary;   /* one line */
    const char *details;   /* paragraph(s), may be NULL */
    cli_opt opts[CLI_MAX_OPTS];
    int min_pos, max_pos;
    cli_handler run;
} cli_cmd;

/* The command table (main.c) and its size. */
extern const cli_cmd cli_commands[];
extern const size_t cli_n_commands;

/* Looks up an option's value (last one given) or NULL. */
const char *cli_get(const cli_cmd *cmd, const cli_args *a, const char *name);
/* All values of a repeatable option. */
int cli_get_all(const cli_cmd *cmd, const cli_args *a, const char *name, const char ***out);
bool cli_flag(const cli_cmd *cmd, const cli_args *a, const char *name);

/* Prints "cairn: error: WHAT (WHERE)" and returns the status's exit code. */
int cli_fail(const cairn_error *err);
/* A usage error: prints the message and a pointer to --help; returns 2. */
int cli_usage_error(const cli_cmd *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints the help of one command. */
void cli_print_help(const cli_cmd *cmd, FILE *out);

/* Option values: an integer in lo..hi or a number in [lo, hi]; *out is left as it is
 * when the option is absent. A bad value prints a usage error; returns its exit code
 * (2), else 0. cli_opt_threads: --threads in 1..1024, 0 when absent. */
int cli_opt_long(const cli_cmd *cmd, const cli_args *a, const char *name, long lo, long hi,
                 long *out);
int cli_opt_double(const cli_cmd *cmd, const cli_args *a, const char *name, double lo,
                   double hi, double *out);
int cli_opt_threads(const cli_cmd *cmd, const cli_args *a, int *out);

/* The options `cairn monitor` and `cairn report monitor` share (cmd_monitor.c): --since,
 * --until, --window (default_window_us when absent; 0 is one window), --log-dir, and the
 * thresholds of the model's spec over the defaults. Returns 0 or the exit code. */
struct cairn_monitor_opts;
int cli_monitor_opts(const cli_cmd *cmd, const cli_args *a, cairn_home *h, const char *model,
                     int64_t default_window_us, struct cairn_monitor_opts *o);

/* Opens the home named by --home / $CAIRN_HOME / ./.cairn. */
int cli_open_home(const cli_args *a, cairn_home **out);

/* A JSON string into b, or null for NULL (numbers: cairn_buf_put_json_number). */
void cli_json_str(cairn_buf *b, const char *s);

/* Writes a JSON document (the buffer's contents) followed by a newline to stdout. */
int cli_emit_json(cairn_buf *b);

/* A simple text table: set headers, add rows of strings, print aligned. */
typedef struct cli_table {
    int n_cols;
    const char *headers[16];
    bool right[16];        /* right-align (numbers) */
    char **cells;          /* n_rows * n_cols, owned */
    size_t n_rows, cap;
} cli_table;

void cli_table_init(cli_table *t, int n_cols, const char *const *headers, const bool *right);
void cli_table_add(cli_table *t, const char *const *cells);
void cli_table_print(const cli_table *t, FILE *out);
void cli_table_reset(cli_table *t);

/* Progress on stderr, only when stderr is a terminal. */
void cli_progress(void *ctx, const char *stage, double fraction);
void cli_progress_done(void);

/* Formats a count with thousands separators into out. */
void cli_fmt_count(char *out, size_t cap, uint64_t n);

/* Command handlers. */
int cmd_init(const cli_cmd *cmd, cli_args *a);
int cmd_data_add(const cli_cmd *cmd, cli_args *a);
int cmd_data_ls(const cli_cmd *cmd, cli_args *a);
int cmd_data_show(const cli_cmd *cmd, cli_args *a);
int cmd_data_stats(const cli_cmd *cmd, cli_args *a);
int cmd_contract_infer(const cli_cmd *cmd, cli_args *a);
int cmd_contract_check(const cli_cmd *cmd, cli_args *a);
int cmd_train(const cli_cmd *cmd, cli_args *a);
int cmd_runs_ls(const cli_cmd *cmd, cli_args *a);
int cmd_runs_show(const cli_cmd *cmd, cli_args *a);
int cmd_runs_compare(const cli_cmd *cmd, cli_args *a);
int cmd_review(const cli_cmd *cmd, cli_args *a);
int cmd_promote(const cli_cmd *cmd, cli_args *a);
int cmd_rollback(const cli_cmd *cmd, cli_args *a);
int cmd_models_ls(const cli_cmd *cmd, cli_args *a);
int cmd_models_show(const cli_cmd *cmd, cli_args *a);
int cmd_models_history(const cli_cmd *cmd, cli_args *a);
int cmd_models_unset(const cli_cmd *cmd, cli_args *a);
int cmd_export(const cli_cmd *cmd, cli_args *a);
int cmd_import(const cli_cmd *cmd, cli_args *a);
int cmd_keys_gen(const cli_cmd *cmd, cli_args *a);
int cmd_keys_trust(const cli_cmd *cmd, cli_args *a);
int cmd_keys_ls(const cli_cmd *cmd, cli_args *a);
int cmd_sign(const cli_cmd *cmd, cli_args *a);
int cmd_serve(const cli_cmd *cmd, cli_args *a);
int cmd_predict(const cli_cmd *cmd, cli_args *a);
int cmd_logs_show(const cli_cmd *cmd, cli_args *a);
int cmd_labels_add(const cli_cmd *cmd, cli_args *a);
int cmd_labels_stats(const cli_cmd *cmd, cli_args *a);
int cmd_monitor(const cli_cmd *cmd, cli_args *a);
int cmd_report(const cli_cmd *cmd, cli_args *a);

/* Signs the artifact of REF (a run id or MODEL[@N|@ALIAS]) with a secret key file and
 * records the signature in home h; prints what it did. Returns the exit code. */
struct cairn_home;
int cli_sign_ref(struct cairn_home *h, const char *ref, const char *key_file, bool json, bool quiet);

/* Shared by `train` and `runs show` (cmd_runs.c). */
struct cairn_run_record;
/* Prints a run for people: header, data and split, metrics with intervals vs the baseline,
 * threshold and confusion, slices (small ones flagged), findings by severity, stages. */
void cli_print_run(const struct cairn_run_record *r, FILE *out);
/* The run as one JSON object (every field; states as their lengths and hash, not bytes). */
void cli_run_to_json(const struct cairn_run_record *r, cairn_buf *b);

#endif /* CAIRN_CLI_H */
