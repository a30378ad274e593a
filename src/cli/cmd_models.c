/*
 * cmd_models.c -- governance commands: `review`, `promote`, `rollback`,
 * `models ls|show|history`, `export`, `import`, `keys gen|trust|ls` and
 * `sign`. The decisions live in review/govern.c and registry/models.c; this
 * file parses arguments and prints.
 */
#include "cli/cli.h"
#include "review/govern.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int parse_version(const cli_cmd *cmd, const char *opt, const char *s, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 1 || v > CAIRN_VERSION_MAX)
        return cli_usage_error(cmd, "--%s must be a version number >= 1, not '%s'", opt, s);
    *out = (int)v;
    return 0;
}

/* ---- review ------------------------------------------------------------------------------- */

int cmd_review(const cli_cmd *cmd, cli_args *a)
{
    int threads, rc;
    if ((rc = cli_opt_threads(cmd, a, &threads)))
        return rc;
    cairn_home *h = NULL;
    if ((rc = cli_open_home(a, &h)))
        return rc;
    cairn_run_record run;
    cairn_review_session s;
    cairn_error err = {0};
    memset(&run, 0, sizeof run);
    memset(&s, 0, sizeof s);
    cairn_status st = cairn_run_get(h, a->pos[0], &run, &err);
    if (st == CAIRN_OK)
        st = cairn_review_session_load(h, &run, cli_get(cmd, a, "model"),
                                       cli_get(cmd, a, "alias"), threads, &s, &err);
    cairn_home_close(h);
    if (st != CAIRN_OK) {
        cairn_run_record_reset(&run);
        return cli_fail(&err);
    }
    cairn_buf b;
    cairn_buf_init(&b);
    if (a->json) {
        cairn_review_to_json(&s.review, &b);
        rc = cli_emit_json(&b);
    } else {
        cairn_review_to_text(&s.review, &b);
        if (b.data)
            fwrite(b.data, 1, b.len, stdout);
        rc = fflush(stdout) == 0 ? 0 : 4;
    }
    if (rc == 0 && s.review.verdict == CAIRN_VERDICT_BLOCK)
        rc = 1;
    cairn_buf_reset(&b);
    cairn_review_session_reset(&s);
    cairn_run_record_reset(&run);
    return rc;
}

/* ---- promote ---------------------------------------------------------------------------------- */

int cmd_promote(const cli_cmd *cmd, cli_args *a)
{
    int rc;
    cairn_promote_opts o;
    cairn_promote_opts_init(&o);
    if ((rc = cli_opt_threads(cmd, a, &o.threads)))
        return rc;
    o.model = cli_get(cmd, a, "model");
    o.alias = cli_get(cmd, a, "alias");
    o.reason = cli_get(cmd, a, "reason");
    o.override_reason = cli_get(cmd, a, "override");
    if (o.override_reason && !*o.override_reason)
        return cli_usage_error(cmd, "--override needs a reason, e.g. --override \"ticket 42\"");
    const char *pct = cli_get(cmd, a, "percent");
    if (pct) {
        char *end;
        errno = 0;
        o.percent = strtod(pct, &end);
        if (errno || end == pct || *end || !(o.percent > 0 && o.percent <= 100))
            return cli_usage_error(cmd, "--percent must be a number in (0, 100], not '%s'", pct);
    }
    cairn_home *h = NULL;
    if ((rc = cli_open_home(a, &h)))
        return rc;
    cairn_promote_result r;
    cairn_error err = {0};
    cairn_status st = cairn_promote(h, a->pos[0], &o, &r, &err);
    cairn_home_close(h);
    const char *alias = o.alias ? o.alias : "production";
    const char *model = r.session.model[0] ? r.session.model : (o.model ? o.model : "?");
    if (a->json && (st == CAIRN_OK || r.session.model[0])) {
        cairn_buf b;
        cairn_buf_init(&b);
        cairn_buf_printf(&b, "{\"promoted\":%s,\"overridden\":%s,\"model\":",
                         r.promoted ? "true" : "false", r.overridden ? "true" : "false");
        cli_json_str(&b, model);
        cairn_buf_puts(&b, ",\"alias\":");
        cli_json_str(&b, alias);
        cairn_buf_printf(&b, ",\"version\":%d,\"from_version\":%d,\"artifact\":", r.version,
                         r.from_version);
        cli_json_str(&b, r.artifact_hash[0] ? r.artifact_hash : NULL);
        cairn_buf_puts(&b, ",\"reasons\":[");
        for (size_t i = 0; i < r.n_reasons; i++) {
            if (i)
                cairn_buf_putc(&b, ',');
            cli_json_str(&b, r.reasons[i]);
        }
        cairn_buf_puts(&b, "],\"error\":");
        cli_json_str(&b, st == CAIRN_OK ? NULL : err.msg);
        cairn_buf_puts(&b, ",\"review\":");
        cairn_review_to_json(&r.session.review, &b);
        cairn_buf_putc(&b, '}');
        rc = cli_emit_json(&b);
        cairn_buf_reset(&b);
        if (rc == 0 && st != CAIRN_OK)
            rc = cairn_status_exit_code(st);
        if (st != CAIRN_OK)
            fprintf(stderr, "cairn: error: %s (%s)\n", err.msg, err.where);
        cairn_promote_result_reset(&r);
        return rc;
    }
    if (st != CAIRN_OK) {
        if (r.n_reasons) {
            fprintf(stderr, "cairn: promotion refused (%s -> %s@%s), decision %s:\n", a->pos[0],
                    model, alias, cairn_verdict_name(r.session.review.verdict));
            for (size_t i = 0; i < r.n_reasons; i++)
                fprintf(stderr, "  - %s\n", r.reasons[i]);
            fprintf(stderr, "  (see `cairn review %s`; --override \"REASON\" promotes anyway and "
                            "records it)\n",
                    a->pos[0]);
        }
        rc = cli_fail(&err);
        cairn_promote_result_reset(&r);
        return rc;
    }
    if (!a->quiet)
        printf("review: %s\n", cairn_verdict_name(r.session.review.verdict));
    if (r.overridden) {
        printf("OVERRIDE: promoted despite %zu failure%s (recorded in the audit log):\n",
               r.n_reasons, r.n_reasons == 1 ? "" : "s");
        for (size_t i = 0; i < r.n_reasons; i++)
            printf("  - %s\n", r.reasons[i]);
    }
    char from[32];
    if (r.from_version)
        snprintf(from, sizeof from, "%d", r.from_version);
    else
        snprintf(from, sizeof from, "(unset)");
    printf("promoted %s as %s@%d; %s@%s: %s -> %d\n", a->pos[0], model, r.version, model, alias,
           from, r.version);
    printf("artifact %s\n", r.artifact_hash);
    rc = fflush(stdout) == 0 ? 0 : 4;
    cairn_promote_result_reset(&r);
    return rc;
}

/* ---- rollback --------------------------------------------------------------------------------- */

int cmd_rollback(const cli_cmd *cmd, cli_args *a)
{
    int rc, to = 0;
    const char *ts = cli_get(cmd, a, "to");
    if (ts && (rc = parse_version(cmd, "to", ts, &to)))
        return rc;
    const char *alias = cli_get(cmd, a, "alias");
    if (!alias)
        alias = "production";
    cairn_home *h = NULL;
    if ((rc = cli_open_home(a, &h)))
        return rc;
    int from = 0, now = 0;
    cairn_error err = {0};
    cairn_status st =
        cairn_rollback(h, a->pos[0], alias, to, cli_get(cmd, a, "reason"), &from, &now, &err);
    cairn_home_close(h);
    if (st != CAIRN_OK)
        return cli_fail(&err);
    if (a->json) {
        cairn_buf b;
        cairn_buf_init(&b);
        cairn_buf_puts(&b, "{\"model\":");
        cli_json_str(&b, a->pos[0]);
        cairn_buf_puts(&b, ",\"alias\":");
        cli_json_str(&b, alias);
        cairn_buf_printf(&b, ",\"from_version\":%d,\"to_version\":%d}", from, now);
        rc = cli_emit_json(&b);
        cairn_buf_reset(&b);
        return rc;
    }
    printf("rolled back %s@%s: %d -> %d\n", a->pos[0], alias, from, now);
    return fflush(stdout) == 0 ? 0 : 4;
}

/* ---- models ls | show | history ------------------------------------------------------------- */

/* The primary metric of a version's metrics JSON as "auc 0.8412 [0.83, 0.85]". */
static void fmt_primary(const cairn_model_version *v, char *out, size_t cap)
{
    const char *name = v->task && strcmp(v->task, "regression") == 0   ? "rmse"
                       : v->task && strcmp(v->task, "multiclass") == 0 ? "accuracy"
                                                                       : "auc";
    cJSON *m = v->metrics_json ? cJSON_Parse(v->metrics_json) : NULL;
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(m, name);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(x, "estimate");
    const cJSON *lo = cJSON_GetObjectItemCaseSensitive(x, "lo");
    const cJSON *hi = cJSON_GetObjectItemCaseSensitive(x, "hi");
    if (cJSON_IsNumber(e) && cJSON_IsNumber(lo) && cJSON_IsNumber(hi))
        snprintf(out, cap, "%s %.4f [%.4f, %.4f]", name, e->valuedouble, lo->valuedouble,
                 hi->valuedouble);
    else if (cJSON_IsNumber(e))
        snprintf(out, cap, "%s %.4f", name, e->valuedouble);
    else
        snprintf(out, cap, "-");
    cJSON_Delete(m);
}

static void version_json(const cairn_model_version *v, const cairn_model_alias *al, size_t n_al,
                         cairn_buf *b)
{
    cairn_buf_printf(b, "{\"version\":%d,\"artifact\":", v->version);
    cli_json_str(b, v->artifact_hash);
    cairn_buf_puts(b, ",\"run\":");
    cli_json_str(b, v->run_id);
    cairn_buf_puts(b, ",\"source\":");
    cli_json_str(b, v->source);
    cairn_buf_puts(b, ",\"task\":");
    cli_json_str(b, v->task);
    cairn_buf_puts(b, ",\"model_type\":");
    cli_json_str(b, v->model_type);
    cairn_buf_puts(b, ",\"dataset\":{\"name\":");
    cli_json_str(b, v->dataset_name);
    cairn_buf_printf(b, ",\"version\":%d,\"hash\":", v->dataset_version);
    cli_json_str(b, v->dataset_hash);
    cairn_buf_puts(b, "},\"contract_hash\":");
    cli_json_str(b, v->contract_hash);
    cairn_buf_puts(b, ",\"metrics\":");
    cairn_buf_puts(b, v->metrics_json ? v->metrics_json : "null");
    cairn_buf_puts(b, ",\"created_at\":");
    cli_json_str(b, v->created_at);
    cairn_buf_puts(b, ",\"created_by\":");
    cli_json_str(b, v->created_by);
    cairn_buf_puts(b, ",\"aliases\":[");
    bool first = true;
    for (size_t i = 0; i < n_al; i++) {
        if (al[i].version != v->version)
            continue;
        if (!first)
            cairn_buf_putc(b, ',');
        first = false;
        cli_json_str(b, al[i].alias);
    }
    cairn_buf_puts(b, "]}");
}

static void audit_json(const cairn_audit_entry *e, cairn_buf *b)
{
    cairn_buf_printf(b, "{\"seq\":%lld,\"time\":", (long long)e->seq);
    cli_json_str(b, e->time);
    cairn_buf_puts(b, ",\"user\":");
    cli_json_str(b, e->user);
    cairn_buf_puts(b, ",\"action\":");
    cli_json_str(b, e->action);
    cairn_buf_puts(b, ",\"alias\":");
    cli_json_str(b, e->alias);
    cairn_buf_puts(b, ",\"from_version\":");
    if (e->from_version)
        cairn_buf_printf(b, "%d", e->from_version);
    else
        cairn_buf_puts(b, "null");
    cairn_buf_puts(b, ",\"to_version\":");
    if (e->to_version)
        cairn_buf_printf(b, "%d", e->to_version);
    else
        cairn_buf_puts(b, "null");
    cairn_buf_puts(b, ",\"percent\":");
    cairn_buf_put_json_number(b, e->percent);
    cairn_buf_puts(b, ",\"run\":");
    cli_json_str(b, e->run_id);
    cairn_buf_puts(b, ",\"reason\":");
    cli_json_str(b, e->reason);
    cairn_buf_puts(b, ",\"verdict\":");
    cli_json_str(b, e->verdict);
    cairn_buf_puts(b, ",\"gates\":");
    cairn_buf_puts(b, e->gates_json ? e->gates_json : "null");
    cairn_buf_putc(b, '}');
}

/* "2 -> 3", "unset -> 1", "stays 2" (refused), "new 4" (import). */
static void fmt_move(const cairn_audit_entry *e, char *out, size_t cap)
{
    char from[16];
    snprintf(from, sizeof from, e->from_version ? "%d" : "unset", e->from_version);
    if (e->action && strcmp(e->action, "unset") == 0)
        snprintf(out, cap, "%s -> unset", from);
    else if (e->to_version == 0)
        snprintf(out, cap, "stays %s", from);   /* refused: nothing moved */
    else if (!e->alias)
        snprintf(out, cap, "new %d", e->to_version);   /* import: a version, no alias */
    else
        snprintf(out, cap, "%s -> %d", from, e->to_version);
}

/* The gates that failed in an audit row's gates JSON, as "auc(fail), ece(missing)". */
static void fmt_failed_gates(const char *gates_json, char *out, size_t cap)
{
    cJSON *g = gates_json ? cJSON_Parse(gates_json) : NULL;
    size_t used = 0;
    out[0] = '\0';
    const cJSON *it;
    cJSON_ArrayForEach(it, g)
    {
        const char *st = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "status"));
        const char *m = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "metric"));
        if (!st || !m || (strcmp(st, "fail") != 0 && strcmp(st, "missing") != 0))
            continue;
        int w = snprintf(out + used, cap - used, "%s%s(%s)", used ? ", " : "", m, st);
        if (w < 0 || (size_t)w >= cap - used)
            break;
        used += (size_t)w;
    }
    cJSON_Delete(g);
}

static void print_audit_table(const cairn_audit_entry *log, size_t n, FILE *out)
{
    static const char *const hdr[] = {"#", "time", "user", "action", "alias", "move", "decision",
                                      "failed gates", "reason"};
    static const bool right[] = {true, false, false, false, false, false, false, false, false};
    cli_table t;
    cli_table_init(&t, 9, hdr, right);
    for (size_t i = 0; i < n; i++) {
        const cairn_audit_entry *e = &log[i];
        char seq[24], move[40], failed[256], reason[200];
        snprintf(seq, sizeof seq, "%lld", (long long)e->seq);
        fmt_move(e, move, sizeof move);
        if (e->alias && strcmp(e->alias, "canary") == 0 && !isnan(e->percent)) {
            size_t l = strlen(move);
            snprintf(move + l, sizeof move - l, " (%g%%)", e->percent);
        }
        fmt_failed_gates(e->gates_json, failed, sizeof failed);
        snprintf(reason, sizeof reason, "%s", e->reason ? e->reason : "");
        const char *cells[] = {seq, e->time ? e->time : "", e->user ? e->user : "",
                               e->action ? e->action : "", e->alias ? e->alias : "", move,
                               e->verdict ? e->verdict : "", failed[0] ? failed : "", reason};
        cli_table_add(&t, cells);
    }
    cli_table_print(&t, out);
    cli_table_reset(&t);
}

int cmd_models_ls(const cli_cmd *cmd, cli_args *a)
{
    (void)cmd;
    cairn_home *h = NULL;
    int rc = cli_open_home(a, &h);
    if (rc)
        return rc;
    char **names = NULL;
    size_t n = 0;
    cairn_error err = {0};
    cairn_buf b;
    cairn_buf_init(&b);
    static const char *const hdr[] = {"model", "versions", "production", "aliases", "latest",
                                      "primary metric (latest)"};
    static const bool right[] = {false, true, true, false, false, false};
    cli_table t;
    cli_table_init(&t, 6, hdr, right);
    cairn_status st = cairn_model_list(h, &names, &n, &err);
    if (a->json)
        cairn_buf_puts(&b, "{\"models\":[");
    for (size_t i = 0; i < n && st == CAIRN_OK; i++) {
        cairn_model_version *vs = NULL;
        cairn_model_alias *al = NULL;
        size_t nv = 0, na = 0;
        if ((st = cairn_model_versions(h, names[i], &vs, &nv, &err)) == CAIRN_OK &&
            (st = cairn_model_aliases(h, names[i], &al, &na, &err)) == CAIRN_OK) {
            int prod = 0;
            char aliases[256] = "", nvs[16], prods[16], latest[48] = "-", metric[96] = "-";
            size_t used = 0;
            for (size_t k = 0; k < na; k++) {
                if (strcmp(al[k].alias, "production") == 0)
                    prod = al[k].version;
                int w = snprintf(aliases + used, sizeof aliases - used, "%s%s=%d",
                                 used ? " " : "", al[k].alias, al[k].version);
                if (w > 0 && (size_t)w < sizeof aliases - used)
                    used += (size_t)w;
            }
            if (nv) {
                snprintf(latest, sizeof latest, "%s", vs[nv - 1].created_at ? vs[nv - 1].created_at : "");
                fmt_primary(&vs[nv - 1], metric, sizeof metric);
            }
            snprintf(nvs, sizeof nvs, "%zu", nv);
            snprintf(prods, sizeof prods, prod ? "%d" : "-", prod);
            if (a->json) {
                if (i)
                    cairn_buf_putc(&b, ',');
                cairn_buf_puts(&b, "{\"name\":");
                cli_json_str(&b, names[i]);
                cairn_buf_printf(&b, ",\"versions\":%zu,\"aliases\":{", nv);
                for (size_t k = 0; k < na; k++) {
                    if (k)
                        cairn_buf_putc(&b, ',');
                    cairn_buf_put_json_string(&b, al[k].alias, strlen(al[k].alias));
                    cairn_buf_printf(&b, ":%d", al[k].version);
                }
                cairn_buf_puts(&b, "},\"latest\":");
                if (nv)
                    version_json(&vs[nv - 1], al, na, &b);
                else
                    cairn_buf_puts(&b, "null");
                cairn_buf_putc(&b, '}');
            } else {
                const char *cells[] = {names[i], nvs, prods, aliases, latest, metric};
                cli_table_add(&t, cells);
            }
        }
        for (size_t k = 0; k < nv; k++)
            cairn_model_version_reset(&vs[k]);
        cairn_free(vs);
        cairn_free(al);
    }
    for (size_t i = 0; i < n; i++)
        cairn_free(names[i]);
    cairn_free(names);
    cairn_home_close(h);
    if (st != CAIRN_OK) {
        cli_table_reset(&t);
        cairn_buf_reset(&b);
        return cli_fail(&err);
    }
    if (a->json) {
        cairn_buf_puts(&b, "]}");
        rc = cli_emit_json(&b);
    } else {
        if (n)
            cli_table_print(&t, stdout);
        else if (!a->quiet)
            printf("no models yet (cairn promote RUN --model NAME)\n");
        rc = fflush(stdout) == 0 ? 0 : 4;
    }
    cli_table_reset(&t);
    cairn_buf_reset(&b);
    return rc;
}

int cmd_models_show(const cli_cmd *cmd, cli_args *a)
{
    (void)cmd;
    cairn_home *h = NULL;
    int rc = cli_open_home(a, &h);
    if (rc)
        return rc;
    const char *name = a->pos[0];
    cairn_model_version *vs = NULL;
    cairn_model_alias *al = NULL;
    cairn_audit_entry *log = NULL;
    size_t nv = 0, na = 0, nl = 0;
    cairn_error err = {0};
    cairn_status st = cairn_model_versions(h, name, &vs, &nv, &err);
    if (st == CAIRN_OK)
        st = cairn_model_aliases(h, name, &al, &na, &err);
    if (st == CAIRN_OK)
        st = cairn_model_audit(h, name, 0, &log, &nl, &err);
    cairn_home_close(h);
    if (st != CAIRN_OK) {
        rc = cli_fail(&err);
        goto done;
    }
    if (a->json) {
        cairn_buf b;
        cairn_buf_init(&b);
        cairn_buf_puts(&b, "{\"name\":");
        cli_json_str(&b, name);
        cairn_buf_puts(&b, ",\"aliases\":[");
        for (size_t k = 0; k < na; k++) {
            cairn_buf_puts(&b, k ? ",{\"alias\":" : "{\"alias\":");
            cli_json_str(&b, al[k].alias);
            cairn_buf_printf(&b, ",\"version\":%d,\"percent\":", al[k].version);
            cairn_buf_put_json_number(&b, al[k].percent);
            cairn_buf_puts(&b, ",\"updated_at\":");
            cli_json_str(&b, al[k].updated_at);
            cairn_buf_putc(&b, '}');
        }
        cairn_buf_puts(&b, "],\"versions\":[");
        for (size_t i = 0; i < nv; i++) {
            if (i)
                cairn_buf_putc(&b, ',');
            version_json(&vs[i], al, na, &b);
        }
        cairn_buf_puts(&b, "],\"overrides\":[");
        bool first = true;
        for (size_t i = 0; i < nl; i++) {
            if (!log[i].action || strcmp(log[i].action, "override") != 0)
                continue;
            if (!first)
                cairn_buf_putc(&b, ',');
            first = false;
            audit_json(&log[i], &b);
        }
        cairn_buf_puts(&b, "]}");
        rc = cli_emit_json(&b);
        cairn_buf_reset(&b);
        goto done;
    }
    printf("model %s: %zu version%s\n\naliases:\n", name, nv, nv == 1 ? "" : "s");
    if (!na)
        printf("  (none)\n");
    for (size_t k = 0; k < na; k++) {
        printf("  %-12s -> %s@%d", al[k].alias, name, al[k].version);
        if (!isnan(al[k].percent))
            printf(" (%g%% of traffic)", al[k].percent);
        printf("   since %s\n", al[k].updated_at);
    }
    printf("\nversions:\n");
    {
        static const char *const hdr[] = {"version", "aliases", "source", "run", "trained on",
                                          "contract", "primary metric (test)", "created", "by"};
        static const bool right[] = {true, false, false, false, false, false, false, false, false};
        cli_table t;
        cli_table_init(&t, 9, hdr, right);
        for (size_t i = 0; i < nv; i++) {
            const cairn_model_version *v = &vs[i];
            char ver[16], aliases[128] = "", data[160], contract[24], metric[96];
            size_t used = 0;
            snprintf(ver, sizeof ver, "%d", v->version);
            for (size_t k = 0; k < na; k++) {
                if (al[k].version != v->version)
                    continue;
                int w = snprintf(aliases + used, sizeof aliases - used, "%s%s", used ? "," : "",
                                 al[k].alias);
                if (w > 0 && (size_t)w < sizeof aliases - used)
                    used += (size_t)w;
            }
            snprintf(data, sizeof data, "%s@%d", v->dataset_name ? v->dataset_name : "?",
                     v->dataset_version);
            snprintf(contract, sizeof contract, "%.12s", v->contract_hash ? v->contract_hash : "-");
            fmt_primary(v, metric, sizeof metric);
            const char *cells[] = {ver, aliases, v->source, v->run_id, data, contract, metric,
                                   v->created_at ? v->created_at : "",
                                   v->created_by ? v->created_by : ""};
            cli_table_add(&t, cells);
        }
        cli_table_print(&t, stdout);
        cli_table_reset(&t);
    }
    size_t n_over = 0;
    for (size_t i = 0; i < nl; i++)
        if (log[i].action && strcmp(log[i].action, "override") == 0)
            n_over++;
    if (n_over) {
        printf("\noverrides (promoted despite failed gates or BLOCK):\n");
        for (size_t i = 0; i < nl; i++) {
            const cairn_audit_entry *e = &log[i];
            if (!e->action || strcmp(e->action, "override") != 0)
                continue;
            char failed[256];
            fmt_failed_gates(e->gates_json, failed, sizeof failed);
            printf("  %s by %s: %s@%s -> %d, decision %s; failed gates: %s\n    reason: %s\n",
                   e->time, e->user, name, e->alias ? e->alias : "?", e->to_version,
                   e->verdict ? e->verdict : "?", failed[0] ? failed : "none",
                   e->reason ? e->reason : "");
        }
    }
    size_t from = nl > 5 ? nl - 5 : 0;
    if (nl) {
        printf("\nrecent history (cairn models history %s):\n", name);
        print_audit_table(log + from, nl - from, stdout);
    }
    rc = fflush(stdout) == 0 ? 0 : 4;
done:
    for (size_t i = 0; i < nv; i++)
        cairn_model_version_reset(&vs[i]);
    cairn_free(vs);
    cairn_free(al);
    for (size_t i = 0; i < nl; i++)
        cairn_audit_entry_reset(&log[i]);
    cairn_free(log);
    return rc;
}

int cmd_models_history(const cli_cmd *cmd, cli_args *a)
{
    int rc;
    size_t limit = 0;
    const char *ls = cli_get(cmd, a, "limit");
    if (ls) {
        int v = 0;
        if ((rc = parse_version(cmd, "limit", ls, &v)))
            return rc;
        limit = (size_t)v;
    }
    cairn_home *h = NULL;
    if ((rc = cli_open_home(a, &h)))
        return rc;
    cairn_audit_entry *log = NULL;
    size_t n = 0;
    cairn_error err = {0};
    char **names = NULL;
    size_t nn = 0;
    bool known = false;
    cairn_status st = cairn_model_list(h, &names, &nn, &err);
    for (size_t i = 0; i < nn; i++) {
        known = known || strcmp(names[i], a->pos[0]) == 0;
        cairn_free(names[i]);
    }
    cairn_free(names);
    if (st == CAIRN_OK)
        st = cairn_model_audit(h, a->pos[0], limit, &log, &n, &err);
    cairn_home_close(h);
    if (st != CAIRN_OK)
        return cli_fail(&err);
    if (!known && n == 0) {
        cairn_error_set(&err, CAIRN_ENOTFOUND, a->pos[0], "no model %s", a->pos[0]);
        return cli_fail(&err);
    }
    if (a->json) {
        cairn_buf b;
        cairn_buf_init(&b);
        cairn_buf_puts(&b, "{\"model\":");
        cli_json_str(&b, a->pos[0]);
        cairn_buf_puts(&b, ",\"history\":[");
        for (size_t i = 0; i < n; i++) {
            if (i)
                cairn_buf_putc(&b, ',');
            audit_json(&log[i], &b);
        }
        cairn_buf_puts(&b, "]}");
        rc = cli_emit_json(&b);
        cairn_buf_reset(&b);
    } else {
        print_audit_table(log, n, stdout);
        rc = fflush(stdout) == 0 ? 0 : 4;
    }
    for (size_t i = 0; i < n; i++)
        cairn_audit_entry_reset(&log[i]);
    cairn_free(log);
    return rc;
}

/* ---- export / import ------------------------------------------------------------------------ */

/* FILE.sig: {"artifact":HEX,"signatures":[{"public_key":HEX,"signature":HEX},...]} */
static char *sig_path_of(const char *file)
{
    cairn_buf b;
    cairn_buf_init(&b);
    cairn_buf_printf(&b, "%s.sig", file);
    return cairn_buf_take(&b);
}

int cmd_export(const cli_cmd *cmd, cli_args *a)
{
    const char *file = cli_get(cmd, a, "output");
    if (!file)
        return cli_usage_error(cmd, "name the output file with -o FILE");
    cairn_home *h = NULL;
    int rc = cli_open_home(a, &h);
    if (rc)
        return rc;
    cairn_buf art, sb;
    cairn_buf_init(&art);
    cairn_buf_init(&sb);
    cairn_signature *sigs = NULL;
    size_t n_sigs = 0;
    char hex[CAIRN_HASH_HEX];
    cairn_error err = {0};
    char *sig_path = sig_path_of(file);
    cairn_status st = cairn_export(h, a->pos[0], &art, &sigs, &n_sigs, hex, &err);
    cairn_home_close(h);
    if (st == CAIRN_OK && !sig_path)
        st = cairn_error_set(&err, CAIRN_ENOMEM, file, "out of memory");
    if (st == CAIRN_OK)
        st = cairn_write_file_atomic(file, art.data, art.len, &err);
    if (st == CAIRN_OK && n_sigs) {
        cairn_sigfile_format(hex, sigs, n_sigs, &sb);
        st = sb.failed ? cairn_error_set(&err, CAIRN_ENOMEM, file, "out of memory")
                       : cairn_write_file_atomic(sig_path, sb.data, sb.len, &err);
    } else if (st == CAIRN_OK && access(sig_path, F_OK) == 0) {
        /* A stale signature file beside the new artifact would not match it. */
        unlink(sig_path);
    }
    if (st != CAIRN_OK) {
        rc = cli_fail(&err);
    } else if (a->json) {
        cairn_buf b;
        cairn_buf_init(&b);
        cairn_buf_puts(&b, "{\"ref\":");
        cli_json_str(&b, a->pos[0]);
        cairn_buf_puts(&b, ",\"file\":");
        cli_json_str(&b, file);
        cairn_buf_printf(&b, ",\"artifact\":\"%s\",\"bytes\":%zu,\"signatures\":%zu}", hex,
                         art.len, n_sigs);
        rc = cli_emit_json(&b);
        cairn_buf_reset(&b);
    } else {
        printf("exported %s to %s (%zu bytes, artifact %s", a->pos[0], file, art.len, hex);
        if (n_sigs)
            printf(", %zu signature%s in %s", n_sigs, n_sigs == 1 ? "" : "s", sig_path);
        printf(")\n");
        rc = fflush(stdout) == 0 ? 0 : 4;
    }
    cairn_free(sig_path);
    cairn_free(sigs);
    cairn_buf_reset(&art);
    cairn_buf_reset(&sb);
    return rc;
}

/* Reads FILE.sig when present. Errors: CAIRN_EINPUT for anything malformed. */
static cairn_status read_sig_file(const char *path, cairn_signature **out, size_t *n,
                                  cairn_error *err)
{
    char *text = NULL;
    size_t len = 0;
    *out = NULL;
    *n = 0;
    if (access(path, F_OK) != 0)
        return CAIRN_OK;
    cairn_status st = cairn_read_file(path, &text, &len, err);
    if (st == CAIRN_OK)
        st = cairn_sigfile_parse(text, len, path, NULL, out, n, err);
    cairn_free(text);
    return st;
}

int cmd_import(const cli_cmd *cmd, cli_args *a)
{
    const char *file = a->pos[0];
    char *bytes = NULL, *sig_path = sig_path_of(file);
    size_t len = 0, n_sigs = 0;
    cairn_signature *sigs = NULL;
    cairn_error err = {0};
    cairn_home *h = NULL;
    int rc = 0, version = 0;
    char hex[CAIRN_HASH_HEX] = "";
    cairn_status st = sig_path ? cairn_read_file(file, &bytes, &len, &err)
                               : cairn_error_set(&err, CAIRN_ENOMEM, file, "out of memory");
    if (st == CAIRN_OK)
        st = read_sig_file(sig_path, &sigs, &n_sigs, &err);
    if (st != CAIRN_OK) {
        rc = cli_fail(&err);
        goto done;
    }
    if ((rc = cli_open_home(a, &h)))
        goto done;
    st = cairn_import(h, bytes, len, sigs, n_sigs, cli_get(cmd, a, "model"), &version, hex, &err);
    cairn_model_version v;
    memset(&v, 0, sizeof v);
    if (st == CAIRN_OK) {
        char ref[CAIRN_NAME_MAX + 16];
        cairn_artifact *art = NULL;
        /* The name the version went under: --model or the manifest's. */
        if (cairn_artifact_load(bytes, len, &art, NULL) == CAIRN_OK) {
            snprintf(ref, sizeof ref, "%s@%d",
                     cli_get(cmd, a, "model") ? cli_get(cmd, a, "model") : art->model_name, version);
            cairn_artifact_free(art);
            st = cairn_model_resolve(h, ref, &v, &err);
        }
    }
    cairn_home_close(h);
    if (st != CAIRN_OK) {
        rc = cli_fail(&err);
        goto done;
    }
    if (a->json) {
        cairn_buf b;
        cairn_buf_init(&b);
        cairn_buf_puts(&b, "{\"model\":");
        cli_json_str(&b, v.model);
        cairn_buf_printf(&b, ",\"version\":%d,\"artifact\":\"%s\",\"signatures\":%zu,\"run\":",
                         version, hex, n_sigs);
        cli_json_str(&b, v.run_id);
        cairn_buf_puts(&b, ",\"dataset\":{\"name\":");
        cli_json_str(&b, v.dataset_name);
        cairn_buf_printf(&b, ",\"version\":%d,\"hash\":", v.dataset_version);
        cli_json_str(&b, v.dataset_hash);
        cairn_buf_puts(&b, "}}");
        rc = cli_emit_json(&b);
        cairn_buf_reset(&b);
    } else {
        printf("imported %s as %s@%d (artifact %s; trained by run %s on %s@%d%s)\n", file, v.model,
               version, hex, v.run_id, v.dataset_name ? v.dataset_name : "?", v.dataset_version,
               n_sigs ? ", signature verified" : "");
        rc = fflush(stdout) == 0 ? 0 : 4;
    }
    cairn_model_version_reset(&v);
done:
    cairn_free(bytes);
    cairn_free(sig_path);
    cairn_free(sigs);
    return rc;
}

/* ---- keys and signing ---------------------------------------------------------------------- */

int cmd_keys_gen(const cli_cmd *cmd, cli_args *a)
{
    const char *prefix = cli_get(cmd, a, "output");
    if (!prefix)
        prefix = "cairn-signing";
    char pk[2 * CAIRN_ARTIFACT_PK_BYTES + 1];
    cairn_error err = {0};
    if (cairn_key_generate(prefix, pk, &err) != CAIRN_OK)
        return cli_fail(&err);
    if (a->json) {
        printf("{\"secret_key_file\":\"%s.key\",\"public_key_file\":\"%s.pub\",\"public_key\":\"%s\"}\n",
               prefix, prefix, pk);
    } else {
        printf("wrote %s.key (secret, mode 0600) and %s.pub\npublic key %s\n", prefix, prefix, pk);
        if (!a->quiet)
            printf("trust it in a home with: cairn keys trust %s.pub\n", prefix);
    }
    return fflush(stdout) == 0 ? 0 : 4;
}

int cmd_keys_trust(const cli_cmd *cmd, cli_args *a)
{
    unsigned char pk[CAIRN_ARTIFACT_PK_BYTES];
    cairn_error err = {0};
    if (cairn_key_read_public(a->pos[0], pk, &err) != CAIRN_OK)
        return cli_fail(&err);
    cairn_home *h = NULL;
    int rc = cli_open_home(a, &h);
    if (rc)
        return rc;
    const char *name = cli_get(cmd, a, "name");
    cairn_status st = cairn_trust_add(h, pk, name ? name : a->pos[0], &err);
    cairn_home_close(h);
    if (st != CAIRN_OK)
        return cli_fail(&err);
    char hex[2 * CAIRN_ARTIFACT_PK_BYTES + 1];
    cairn_hex_encode(pk, sizeof pk, hex);
    if (a->json)
        printf("{\"public_key\":\"%s\",\"trusted\":true}\n", hex);
    else
        printf("trusted key %s; this home now loads only artifacts signed by a trusted key\n", hex);
    return fflush(stdout) == 0 ? 0 : 4;
}

int cmd_keys_ls(const cli_cmd *cmd, cli_args *a)
{
    (void)cmd;
    cairn_home *h = NULL;
    int rc = cli_open_home(a, &h);
    if (rc)
        return rc;
    cairn_trusted_key *keys = NULL;
    size_t n = 0;
    cairn_error err = {0};
    cairn_status st = cairn_trust_list(h, &keys, &n, &err);
    cairn_home_close(h);
    if (st != CAIRN_OK)
        return cli_fail(&err);
    if (a->json) {
        cairn_buf b;
        cairn_buf_init(&b);
        cairn_buf_puts(&b, "{\"trusted_keys\":[");
        for (size_t i = 0; i < n; i++) {
            cairn_buf_printf(&b, "%s{\"public_key\":\"%s\",\"name\":", i ? "," : "", keys[i].pk_hex);
            cli_json_str(&b, keys[i].name);
            cairn_buf_puts(&b, ",\"added_at\":");
            cli_json_str(&b, keys[i].added_at);
            cairn_buf_putc(&b, '}');
        }
        cairn_buf_puts(&b, "]}");
        rc = cli_emit_json(&b);
        cairn_buf_reset(&b);
    } else if (n == 0) {
        printf("no trusted keys: signatures are checked when present but not required\n");
        rc = fflush(stdout) == 0 ? 0 : 4;
    } else {
        static const char *const hdr[] = {"public key", "name", "added"};
        static const bool right[] = {false, false, false};
        cli_table t;
        cli_table_init(&t, 3, hdr, right);
        for (size_t i = 0; i < n; i++) {
            const char *cells[] = {keys[i].pk_hex, keys[i].name, keys[i].added_at};
            cli_table_add(&t, cells);
        }
        cli_table_print(&t, stdout);
        cli_table_reset(&t);
        rc = fflush(stdout) == 0 ? 0 : 4;
    }
    cairn_free(keys);
    return rc;
}

/* Signs the artifact of ref (a run or a model reference) with the secret key file. */
int cli_sign_ref(cairn_home *h, const char *ref, const char *key_file, bool json, bool quiet)
{
    unsigned char sk[CAIRN_ARTIFACT_SK_BYTES], hash[CAIRN_HASH_BYTES];
    cairn_signature sg;
    cairn_error err = {0};
    cairn_buf art;
    cairn_signature *known = NULL;
    size_t n_known = 0;
    char hex[CAIRN_HASH_HEX];
    cairn_buf_init(&art);
    cairn_status st = cairn_key_read_secret(key_file, sk, &err);
    if (st == CAIRN_OK) {
        /* The artifact's identity, without the trust check (this is how an unsigned
         * artifact becomes trusted): a run's is rebuilt, a version's read from objects/. */
        if (strncmp(ref, "r-", 2) == 0) {
            cairn_run_record run;
            memset(&run, 0, sizeof run);
            if ((st = cairn_run_get(h, ref, &run, &err)) == CAIRN_OK)
                st = cairn_run_artifact(h, &run, &art, &err);
            cairn_run_record_reset(&run);
        } else {
            cairn_model_version v;
            char *bytes = NULL;
            size_t len = 0;
            memset(&v, 0, sizeof v);
            if ((st = cairn_model_resolve(h, ref, &v, &err)) == CAIRN_OK &&
                (st = cairn_home_object_get(h, v.artifact_hash, ".art", &bytes, &len, &err)) ==
                    CAIRN_OK)
                cairn_buf_append(&art, bytes, len);
            cairn_free(bytes);
            cairn_model_version_reset(&v);
        }
    }
    if (st == CAIRN_OK && art.failed)
        st = cairn_error_set(&err, CAIRN_ENOMEM, ref, "out of memory");
    if (st == CAIRN_OK) {
        cairn_hasher hs;
        cairn_hasher_init(&hs);
        cairn_hasher_update(&hs, art.data, art.len);
        cairn_hasher_final(&hs, hash);
        cairn_hash_hex(hash, hex);
        crypto_sign_ed25519_sk_to_pk(sg.pk, sk);
        st = cairn_artifact_sign(hash, sk, sg.sig, &err);
    }
    sodium_memzero(sk, sizeof sk);
    if (st == CAIRN_OK)
        st = cairn_signature_add(h, hex, &sg, &err);
    if (st == CAIRN_OK)
        st = cairn_signature_list(h, hex, &known, &n_known, &err);
    cairn_buf_reset(&art);
    cairn_free(known);
    if (st != CAIRN_OK)
        return cli_fail(&err);
    char pk[2 * CAIRN_ARTIFACT_PK_BYTES + 1];
    cairn_hex_encode(sg.pk, sizeof sg.pk, pk);
    if (json)
        printf("{\"ref\":\"%s\",\"artifact\":\"%s\",\"public_key\":\"%s\",\"signatures\":%zu}\n",
               ref, hex, pk, n_known);
    else if (!quiet)
        printf("signed %s: artifact %s by key %.16s... (%zu signature%s recorded)\n", ref, hex, pk,
               n_known, n_known == 1 ? "" : "s");
    return fflush(stdout) == 0 ? 0 : 4;
}

int cmd_sign(const cli_cmd *cmd, cli_args *a)
{
    const char *key = cli_get(cmd, a, "key");
    if (!key)
        return cli_usage_error(cmd, "name the secret key file with --key FILE (cairn keys gen)");
    cairn_home *h = NULL;
    int rc = cli_open_home(a, &h);
    if (rc)
        return rc;
    rc = cli_sign_ref(h, a->pos[0], key, a->json, a->quiet);
    cairn_home_close(h);
    return rc;
}

/* ---- models unset ------------------------------------------------------------------------------ */

int cmd_models_unset(const cli_cmd *cmd, cli_args *a)
{
    const char *alias = cli_get(cmd, a, "alias");
    if (!alias)
        return cli_usage_error(cmd, "name the alias to remove with --alias ALIAS");
    if (strcmp(alias, "production") == 0)
        return cli_usage_error(cmd, "production cannot be unset: roll it back or promote "
                                    "another version instead");
    cairn_home *h = NULL;
    int rc = cli_open_home(a, &h);
    if (rc)
        return rc;
    cairn_audit_note note = {
        .action = "unset",
        .user = cairn_audit_user(),
        .reason = cli_get(cmd, a, "reason"),
    };
    int current = 0, target = 0;
    cairn_error err = {0};
    cairn_status st = cairn_model_rollback_target(h, a->pos[0], alias, &current, &target, &err);
    if (st == CAIRN_OK)
        st = cairn_model_unset_alias(h, a->pos[0], alias, current, &note, &err);
    cairn_home_close(h);
    if (st != CAIRN_OK)
        return cli_fail(&err);
    if (a->json)
        printf("{\"model\":\"%s\",\"alias\":\"%s\",\"from_version\":%d,\"unset\":true}\n",
               a->pos[0], alias, current);
    else
        printf("unset %s@%s (it held version %d)\n", a->pos[0], alias, current);
    return fflush(stdout) == 0 ? 0 : 4;
}
