/*
 * cmd_contract.c -- `cairn contract infer` and `cairn contract check`.
 * A contract saved with `infer --save` lives in the home at
 * contracts/NAME.yaml and is what `check` uses when no --contract is given.
 */
#include "cli/cli.h"
#include "contract/contract.h"
#include "registry/registry.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Loads a dataset version as a frame; prints the error and returns the exit code on failure. */
static int load_frame(cairn_home *h, const char *ref, cairn_frame **f, cairn_dataset_info *info)
{
    cairn_error err = {0};
    if (cairn_dataset_load(h, ref, f, info, &err) != CAIRN_OK)
        return cli_fail(&err);
    return 0;
}

static int check_role_column(const cli_cmd *cmd, const cairn_frame *f, const char *opt,
                             const char *col, const cairn_dataset_info *info)
{
    if (col && cairn_frame_find(f, col) < 0) {
        cairn_error err = {0};
        char where[200];
        snprintf(where, sizeof where, "%s@%d", info->name, info->version);
        cairn_error_set(&err, CAIRN_ENOTFOUND, where, "--%s names column '%s', which the dataset "
                        "does not have", opt, col);
        (void)cmd;
        return cli_fail(&err);
    }
    return 0;
}

int cmd_contract_infer(const cli_cmd *cmd, cli_args *a)
{
    cairn_infer_opts io;
    cairn_infer_opts_init(&io);
    io.label = cli_get(cmd, a, "label");
    io.entity = cli_get(cmd, a, "entity");
    io.time = cli_get(cmd, a, "time");
    const char *md = cli_get(cmd, a, "max-domain");
    if (md) {
        char *end;
        long v = strtol(md, &end, 10);
        if (*end || v < 0 || v > 100000)
            return cli_usage_error(cmd, "--max-domain must be 0..100000");
        io.max_domain = (size_t)v;
    }
    const char *output = cli_get(cmd, a, "output");
    bool save = cli_flag(cmd, a, "save");

    cairn_home *h = NULL;
    int rc = cli_open_home(a, &h);
    if (rc)
        return rc;
    cairn_frame *f = NULL;
    cairn_colstats *stats = NULL;
    cairn_contract *c = NULL;
    cairn_dataset_info info;
    cairn_error err = {0};
    cairn_buf yaml, js;
    char *save_path = NULL;
    cairn_buf_init(&yaml);
    cairn_buf_init(&js);
    char ref[200];
    rc = load_frame(h, a->pos[0], &f, &info);
    if (rc)
        goto done;
    snprintf(ref, sizeof ref, "%s@%d", info.name, info.version);
    io.dataset_ref = ref;
    if ((rc = check_role_column(cmd, f, "label", io.label, &info)) ||
        (rc = check_role_column(cmd, f, "entity", io.entity, &info)) ||
        (rc = check_role_column(cmd, f, "time", io.time, &info)))
        goto done;
    if (cairn_frame_stats(f, 0x5eed, &stats, &err) != CAIRN_OK ||
        cairn_contract_infer(f, stats, &io, &c, &err) != CAIRN_OK) {
        rc = cli_fail(&err);
        goto done;
    }
    cairn_contract_to_yaml(c, &yaml);
    if (yaml.failed) {
        cairn_error_set(&err, CAIRN_ENOMEM, ref, "out of memory writing YAML");
        rc = cli_fail(&err);
        goto done;
    }
    if (output && cairn_write_file_atomic(output, yaml.data, yaml.len, &err) != CAIRN_OK) {
        rc = cli_fail(&err);
        goto done;
    }
    if (save) {
        char dir[4200];
        snprintf(dir, sizeof dir, "%s/contracts", h->dir);
        save_path = cairn_home_contract_path(h, info.name);
        if (!save_path || cairn_mkdirs(dir, &err) != CAIRN_OK ||
            cairn_write_file_atomic(save_path, yaml.data, yaml.len, &err) != CAIRN_OK) {
            rc = cli_fail(&err);
            goto done;
        }
    }
    if (a->json) {
        cairn_buf_printf(&js, "{\"ref\":\"%s\",\"output\":", ref);
        if (output)
            cairn_buf_put_json_string(&js, output, strlen(output));
        else
            cairn_buf_puts(&js, "null");
        cairn_buf_puts(&js, ",\"saved\":");
        if (save_path)
            cairn_buf_put_json_string(&js, save_path, strlen(save_path));
        else
            cairn_buf_puts(&js, "null");
        cairn_buf_puts(&js, ",\"columns\":[");
        for (size_t i = 0; i < c->n_cols; i++) {
            const cairn_contract_col *cc = &c->cols[i];
            cairn_buf_puts(&js, i ? ",{\"name\":" : "{\"name\":");
            cairn_buf_put_json_string(&js, cc->name, strlen(cc->name));
            cairn_buf_printf(&js, ",\"type\":\"%s\",\"role\":\"%s\",\"pii\":\"%s\",\"unique\":%s}",
                             cairn_type_name(cc->type), cairn_role_name(cc->role),
                             cairn_pii_name(cc->pii), cc->unique ? "true" : "false");
        }
        cairn_buf_puts(&js, "],\"yaml\":");
        cairn_buf_put_json_string(&js, yaml.data, yaml.len);
        cairn_buf_putc(&js, '}');
        rc = cli_emit_json(&js);
    } else {
        if (!output)
            fwrite(yaml.data, 1, yaml.len, stdout);
        if (!a->quiet) {
            size_t n_pii = 0;
            for (size_t i = 0; i < c->n_cols; i++)
                n_pii += c->cols[i].pii != CAIRN_PII_NONE;
            fprintf(stderr, "inferred a contract for %s: %zu columns, %zu flagged as PII%s%s%s%s\n",
                    ref, c->n_cols, n_pii, output ? "; wrote " : "", output ? output : "",
                    save_path ? "; saved as " : "", save_path ? save_path : "");
        }
    }
done:
    cairn_buf_reset(&yaml);
    cairn_buf_reset(&js);
    cairn_free(save_path);
    cairn_contract_free(c);
    if (f && stats)
        cairn_frame_stats_free(stats, f->n_cols);
    cairn_frame_free(f);
    cairn_home_close(h);
    return rc;
}

static void print_report(const cairn_check_report *r, const char *ref, const char *contract_path)
{
    char rows[32];
    cli_fmt_count(rows, sizeof rows, r->n_rows);
    printf("checked %s against %s: %s rows, %zu columns\n", ref, contract_path, rows,
           r->n_columns_checked);
    if (r->n_issues == 0) {
        printf("PASS: no errors, no warnings\n");
        return;
    }
    printf("%s: %zu error%s, %zu warning%s\n\n", r->n_errors ? "FAIL" : "PASS", r->n_errors,
           r->n_errors == 1 ? "" : "s", r->n_warnings, r->n_warnings == 1 ? "" : "s");
    static const char *const hdr[] = {"COLUMN", "CHECK", "SEVERITY", "ROWS", "DETAIL", "EXAMPLES"};
    static const bool right[] = {false, false, false, true, false, false};
    cli_table t;
    cli_table_init(&t, 6, hdr, right);
    for (size_t i = 0; i < r->n_issues; i++) {
        const cairn_check_issue *is = &r->issues[i];
        char count[32];
        cli_fmt_count(count, sizeof count, is->count);
        cairn_buf ex;
        cairn_buf_init(&ex);
        for (size_t k = 0; k < is->n_examples; k++)
            cairn_buf_printf(&ex, "%srow %lld=%.20s", k ? ", " : "", (long long)is->example_rows[k],
                             is->example_values[k] ? is->example_values[k] : "");
        const char *cells[] = {is->column ? is->column : "", cairn_check_kind_name(is->kind),
                               is->is_error ? "error" : "warning", count,
                               is->detail ? is->detail : "", ex.data ? ex.data : ""};
        cli_table_add(&t, cells);
        cairn_buf_reset(&ex);
    }
    cli_table_print(&t, stdout);
    cli_table_reset(&t);
    printf("\nrows are 0-based data rows (the header is not counted)\n");
}

int cmd_contract_check(const cli_cmd *cmd, cli_args *a)
{
    cairn_home *h = NULL;
    int rc = cli_open_home(a, &h);
    if (rc)
        return rc;
    cairn_frame *f = NULL;
    cairn_contract *c = NULL;
    cairn_dataset_info info;
    cairn_check_report report;
    memset(&report, 0, sizeof report);
    cairn_error err = {0};
    char *path = NULL;
    const char *given = cli_get(cmd, a, "contract");
    rc = load_frame(h, a->pos[0], &f, &info);
    if (rc)
        goto done;
    if (given) {
        path = cairn_strdup(given);
    } else {
        path = cairn_home_contract_path(h, info.name);
        if (path && access(path, R_OK) != 0) {
            rc = cli_usage_error(cmd, "no --contract given and no saved contract for '%s' "
                                 "(run `cairn contract infer %s --save`)", info.name, info.name);
            goto done;
        }
    }
    if (!path || cairn_contract_load(path, &c, &err) != CAIRN_OK) {
        if (!path)
            cairn_error_set(&err, CAIRN_ENOMEM, NULL, "out of memory");
        rc = cli_fail(&err);
        goto done;
    }
    if (cairn_contract_check(c, f, &report, &err) != CAIRN_OK) {
        rc = cli_fail(&err);
        goto done;
    }
    char ref[200];
    snprintf(ref, sizeof ref, "%s@%d", info.name, info.version);
    if (a->json) {
        cairn_buf b;
        cairn_buf_init(&b);
        cairn_buf_printf(&b, "{\"ref\":\"%s\",\"contract\":", ref);
        cairn_buf_put_json_string(&b, path, strlen(path));
        cairn_buf_puts(&b, ",\"report\":");
        cairn_check_report_to_json(&report, &b);
        cairn_buf_putc(&b, '}');
        int jrc = cli_emit_json(&b);
        cairn_buf_reset(&b);
        rc = jrc ? jrc : (report.n_errors ? 1 : 0);
    } else {
        print_report(&report, ref, path);
        rc = report.n_errors ? 1 : 0;
    }
done:
    cairn_check_report_reset(&report);
    cairn_contract_free(c);
    cairn_frame_free(f);
    cairn_free(path);
    cairn_home_close(h);
    return rc;
}
