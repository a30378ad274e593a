/*
 * util.c -- option lookup, error and usage printing, help text, aligned
 * tables, JSON emission and the terminal-only progress bar for the commands.
 */
#include "cli/cli.h"

#include <math.h>
#include "registry/registry.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int opt_index(const cli_cmd *cmd, const char *name)
{
    for (int k = 0; k < CLI_MAX_OPTS && cmd->opts[k].name; k++)
        if (strcmp(cmd->opts[k].name, name) == 0)
            return k;
    return -1;
}

const char *cli_get(const cli_cmd *cmd, const cli_args *a, const char *name)
{
    int k = opt_index(cmd, name);
    if (k < 0 || a->n_values[k] == 0)
        return NULL;
    return a->values[k][a->n_values[k] - 1];
}

int cli_get_all(const cli_cmd *cmd, const cli_args *a, const char *name, const char ***out)
{
    int k = opt_index(cmd, name);
    if (k < 0) {
        *out = NULL;
        return 0;
    }
    *out = (const char **)a->values[k];
    return a->n_values[k];
}

bool cli_flag(const cli_cmd *cmd, const cli_args *a, const char *name)
{
    return cli_get(cmd, a, name) != NULL;
}

int cli_fail(const cairn_error *err)
{
    cli_progress_done();
    if (err->where[0])
        fprintf(stderr, "cairn: error: %s (%s)\n", err->msg, err->where);
    else
        fprintf(stderr, "cairn: error: %s\n", err->msg);
    return cairn_status_exit_code(err->code);
}

int cli_usage_error(const cli_cmd *cmd, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (cmd)
        fprintf(stderr, "cairn: error: %s (see cairn %s --help)\n", msg, cmd->name);
    else
        fprintf(stderr, "cairn: error: %s (see cairn --help)\n", msg);
    return 2;
}

/* Prints text wrapped at about 78 columns with the given indent. */
static void print_wrapped(FILE *out, const char *text, int indent)
{
    int col = indent;
    fprintf(out, "%*s", indent, "");
    while (*text) {
        const char *sp = strchr(text, ' ');
        size_t n = sp ? (size_t)(sp - text) : strlen(text);
        if (col > indent && col + (int)n + 1 > 78) {
            fprintf(out, "\n%*s", indent, "");
            col = indent;
        } else if (col > indent) {
            fputc(' ', out);
            col++;
        }
        fwrite(text, 1, n, out);
        col += (int)n;
        text += n;
        while (*text == ' ')
            text++;
    }
    fputc('\n', out);
}

void cli_print_help(const cli_cmd *cmd, FILE *out)
{
    fprintf(out, "usage: cairn %s %s\n\n%s.\n", cmd->name, cmd->usage, cmd->summary);
    if (cmd->details) {
        fputc('\n', out);
        print_wrapped(out, cmd->details, 0);
    }
    fprintf(out, "\noptions:\n");
    for (int k = 0; k < CLI_MAX_OPTS && cmd->opts[k].name; k++) {
        const cli_opt *o = &cmd->opts[k];
        char left[64];
        snprintf(left, sizeof left, "%s%c%s--%s%s%s", o->short_name ? "-" : "",
                 o->short_name ? o->short_name : ' ', o->short_name ? ", " : "  ", o->name,
                 o->arg ? " " : "", o->arg ? o->arg : "");
        fprintf(out, "  %-28s %s\n", o->short_name ? left : left + 2, o->help);
    }
    fprintf(out, "  %-28s %s\n", "--home DIR", "home directory (default: $CAIRN_HOME, else ./.cairn)");
    fprintf(out, "  %-28s %s\n", "--json", "machine-readable output on stdout");
    fprintf(out, "  %-28s %s\n", "-q, --quiet", "no progress or notes on stderr");
    fprintf(out, "  %-28s %s\n", "-h, --help", "this help");
}

int cli_open_home(const cli_args *a, cairn_home **out)
{
    cairn_error err = {0};
    const char *dir = cairn_home_resolve(a->home);
    if (cairn_home_open(dir, out, &err) != CAIRN_OK) {
        if (err.code == CAIRN_ENOTFOUND)
            cairn_error_set(&err, CAIRN_ENOTFOUND, dir,
                            "no cairn home here; run `cairn init` or pass --home DIR");
        return cli_fail(&err);
    }
    return 0;
}

void cli_json_str(cairn_buf *b, const char *s)
{
    if (s)
        cairn_buf_put_json_string(b, s, strlen(s));
    else
        cairn_buf_puts(b, "null");
}

int cli_emit_json(cairn_buf *b)
{
    if (b->failed) {
        fprintf(stderr, "cairn: error: out of memory building JSON output\n");
        return 4;
    }
    if (b->data)
        fwrite(b->data, 1, b->len, stdout);
    fputc('\n', stdout);
    return fflush(stdout) == 0 ? 0 : 4;
}

void cli_table_init(cli_table *t, int n_cols, const char *const *headers, const bool *right)
{
    memset(t, 0, sizeof *t);
    t->n_cols = n_cols;
    for (int i = 0; i < n_cols; i++) {
        t->headers[i] = headers[i];
        t->right[i] = right ? right[i] : false;
    }
}

void cli_table_add(cli_table *t, const char *const *cells)
{
    if (t->n_rows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **p = cairn_reallocarray(t->cells, cap * (size_t)t->n_cols, sizeof *p);
        if (!p)
            return;
        t->cells = p;
        t->cap = cap;
    }
    for (int i = 0; i < t->n_cols; i++)
        t->cells[t->n_rows * (size_t)t->n_cols + (size_t)i] = cairn_strdup(cells[i] ? cells[i] : "");
    t->n_rows++;
}

void cli_table_print(const cli_table *t, FILE *out)
{
    size_t w[16];
    for (int i = 0; i < t->n_cols; i++) {
        w[i] = strlen(t->headers[i]);
        for (size_t r = 0; r < t->n_rows; r++) {
            const char *c = t->cells[r * (size_t)t->n_cols + (size_t)i];
            size_t n = c ? strlen(c) : 0;
            if (n > w[i])
                w[i] = n;
        }
    }
    for (size_t r = 0; r <= t->n_rows; r++) {
        for (int i = 0; i < t->n_cols; i++) {
            const char *c = r == 0 ? t->headers[i] : t->cells[(r - 1) * (size_t)t->n_cols + (size_t)i];
            if (!c)
                c = "";
            bool last = i == t->n_cols - 1;
            if (t->right[i])
                fprintf(out, "%*s%s", (int)w[i], c, last ? "" : "  ");
            else if (last)
                fprintf(out, "%s", c);
            else
                fprintf(out, "%-*s  ", (int)w[i], c);
        }
        fputc('\n', out);
    }
}

void cli_table_reset(cli_table *t)
{
    for (size_t i = 0; i < t->n_rows * (size_t)t->n_cols; i++)
        cairn_free(t->cells[i]);
    cairn_free(t->cells);
    memset(t, 0, sizeof *t);
}

static bool progress_shown;

void cli_progress(void *ctx, const char *stage, double fraction)
{
    (void)ctx;
    if (!isatty(STDERR_FILENO))
        return;
    int filled = (int)(fraction * 30.0 + 0.5);
    if (filled < 0)
        filled = 0;
    if (filled > 30)
        filled = 30;
    fprintf(stderr, "\r%-9s [%.*s%*s] %3d%%", stage, filled, "##############################",
            30 - filled, "", (int)(fraction * 100.0 + 0.5));
    fflush(stderr);
    progress_shown = true;
}

void cli_progress_done(void)
{
    if (progress_shown) {
        fprintf(stderr, "\r%*s\r", 50, "");
        fflush(stderr);
        progress_shown = false;
    }
}

void cli_fmt_count(char *out, size_t cap, uint64_t n)
{
    char digits[32];
    int len = snprintf(digits, sizeof digits, "%llu", (unsigned long long)n);
    size_t o = 0;
    for (int i = 0; i < len && o + 2 < cap; i++) {
        if (i > 0 && (len - i) % 3 == 0)
            out[o++] = ',';
        out[o++] = digits[i];
    }
    out[o] = '\0';
}

int cli_opt_long(const cli_cmd *cmd, const cli_args *a, const char *name, long lo, long hi,
                 long *out)
{
    const char *s = cli_get(cmd, a, name);
    if (!s)
        return 0;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return cli_usage_error(cmd, "--%s must be an integer in %ld..%ld, not '%s'", name, lo,
                               hi, s);
    *out = v;
    return 0;
}

int cli_opt_double(const cli_cmd *cmd, const cli_args *a, const char *name, double lo,
                   double hi, double *out)
{
    const char *s = cli_get(cmd, a, name);
    if (!s)
        return 0;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi))
        return cli_usage_error(cmd, "--%s must be a number in [%g, %g], not '%s'", name, lo, hi,
                               s);
    *out = v;
    return 0;
}

int cli_opt_threads(const cli_cmd *cmd, const cli_args *a, int *out)
{
    long t = 0;
    int rc = cli_opt_long(cmd, a, "threads", 1, 1024, &t);
    *out = (int)t;
    return rc;
}
