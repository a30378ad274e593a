/*
 * cmd_monitor.c -- `cairn monitor`: the monitor's result (monitor/monitor.h)
 * as a terminal report sorted by severity or as JSON, exit 1 on alert, and the
 * --on-alert hook.
 */
#include "cli/cli.h"
#include "monitor/monitor.h"
#include "registry/registry.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int cli_monitor_opts(const cli_cmd *cmd, const cli_args *a, cairn_home *h, const char *model,
                     int64_t default_window_us, cairn_monitor_opts *o)
{
    cairn_error err = {0};
    cairn_monitor_opts_init(o);
    o->model = model;
    o->log_dir = cli_get(cmd, a, "log-dir");
    o->window_us = default_window_us;
    int64_t now = cairn_now_us();
    const char *s;
    if ((s = cli_get(cmd, a, "since")) &&
        cairn_monitor_parse_time(s, "--since", now, &o->since_us, &err) != CAIRN_OK)
        return cli_usage_error(cmd, "%s", err.msg);
    if ((s = cli_get(cmd, a, "until")) &&
        cairn_monitor_parse_time(s, "--until", now, &o->until_us, &err) != CAIRN_OK)
        return cli_usage_error(cmd, "%s", err.msg);
    if (o->since_us >= o->until_us)
        return cli_usage_error(cmd, "--since must be before --until");
    if ((s = cli_get(cmd, a, "window")) &&
        cairn_monitor_parse_window(s, &o->window_us, &o->calendar_months, &err) != CAIRN_OK)
        return cli_usage_error(cmd, "%s", err.msg);
    cairn_status st = cairn_monitor_thresholds_from_spec(h, o->model, &o->th, &err);
    if (st != CAIRN_OK && st != CAIRN_ENOTFOUND)
        return cli_fail(&err);
    return 0;
}

/* `cairn monitor`'s options: the shared ones, then the threshold and reader flags. */
static int monitor_opts(const cli_cmd *cmd, const cli_args *a, cairn_home *h,
                        cairn_monitor_opts *o)
{
    int rc = cli_monitor_opts(cmd, a, h, a->pos[0], 0, o);
    if (rc)
        return rc;
    cairn_monitor_thresholds *t = &o->th;
    double min_rows = (double)t->min_rows, boot = o->n_boot, threads = 0;
    if ((rc = cli_opt_double(cmd, a, "psi-warn", 0, 1e9, &t->drift.psi_warn)) ||
        (rc = cli_opt_double(cmd, a, "psi-alert", 0, 1e9, &t->drift.psi_alert)) ||
        (rc = cli_opt_double(cmd, a, "ks-warn", 0, 1, &t->drift.ks_warn)) ||
        (rc = cli_opt_double(cmd, a, "ks-alert", 0, 1, &t->drift.ks_alert)) ||
        (rc = cli_opt_double(cmd, a, "perf-warn", 0, 1e9, &t->perf_warn)) ||
        (rc = cli_opt_double(cmd, a, "perf-alert", 0, 1e9, &t->perf_alert)) ||
        (rc = cli_opt_double(cmd, a, "p99-alert-ms", 0, 1e9, &t->latency_p99_alert_ms)) ||
        (rc = cli_opt_double(cmd, a, "min-rows", 0, 1e15, &min_rows)) ||
        (rc = cli_opt_double(cmd, a, "noise-p", 0, 0.999, &t->drift.noise_p)) ||
        (rc = cli_opt_double(cmd, a, "bootstrap", 0, 100000, &boot)) ||
        (rc = cli_opt_double(cmd, a, "threads", 1, 1024, &threads)))
        return rc;
    o->threads = (int)threads;
    /* A warn level above its alert level: refused when both came from flags; when one
     * came from the spec, the flag wins and the other follows it. */
    struct {
        const char *warn, *alert;
        double *w, *a;
    } pairs[] = {{"psi-warn", "psi-alert", &t->drift.psi_warn, &t->drift.psi_alert},
                 {"ks-warn", "ks-alert", &t->drift.ks_warn, &t->drift.ks_alert},
                 {"perf-warn", "perf-alert", &t->perf_warn, &t->perf_alert}};
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(pairs); i++) {
        if (*pairs[i].w <= *pairs[i].a)
            continue;
        bool fw = cli_get(cmd, a, pairs[i].warn) != NULL,
             fa = cli_get(cmd, a, pairs[i].alert) != NULL;
        if (fw && fa)
            return cli_usage_error(cmd, "--%s must not be above --%s", pairs[i].warn,
                                   pairs[i].alert);
        if (fa)
            *pairs[i].w = *pairs[i].a;
        else
            *pairs[i].a = *pairs[i].w;
    }
    if (t->latency_p99_warn_ms > t->latency_p99_alert_ms)
        t->latency_p99_warn_ms = t->latency_p99_alert_ms;
    t->min_rows = (uint64_t)min_rows;
    o->n_boot = (int)boot;
    return 0;
}

static bool progress_shown;

static void progress_cb(void *ctx, uint64_t records, uint64_t segments)
{
    (void)ctx;
    (void)segments;
    if (!isatty(STDERR_FILENO))
        return;
    char n[32];
    cli_fmt_count(n, sizeof n, records);
    fprintf(stderr, "\rreading the prediction log: %s records", n);
    fflush(stderr);
    progress_shown = true;
}

static const char *sev_word(cairn_drift_severity s)
{
    switch (s) {
    case CAIRN_DRIFT_ALERT: return "ALERT";
    case CAIRN_DRIFT_WARN: return "warn";
    case CAIRN_DRIFT_OK: return "ok";
    default: return "no data";
    }
}

static void fmt_time(char *out, size_t cap, int64_t us)
{
    if (us == INT64_MIN || us == INT64_MAX || us == 0) {
        snprintf(out, cap, "-");
        return;
    }
    char t[40];
    cairn_fmt_timestamp(t, sizeof t, us);
    snprintf(out, cap, "%s", t);
}

static void fmt_window(const cairn_monitor_opts *o, const cairn_monitor_group *g, char *out,
                       size_t cap)
{
    char t[40];
    cairn_fmt_timestamp(t, sizeof t, g->start_us);
    if (o->calendar_months)
        snprintf(out, cap, "%.7s", t);
    else if (o->window_us > 0 && o->window_us % 86400000000LL == 0)
        snprintf(out, cap, "%.10s", t);
    else if (o->window_us > 0)
        snprintf(out, cap, "%.16s", t);
    else
        snprintf(out, cap, "all");
}

static void fmt_num(char *out, size_t cap, double v, const char *fmt)
{
    if (isfinite(v))
        snprintf(out, cap, fmt, v);
    else
        snprintf(out, cap, "-");
}

/* The headline metric of a group (the judged one), or NULL. */
static const cairn_monitor_metric *headline(const cairn_monitor_group *g)
{
    for (size_t k = 0; k < g->n_metrics; k++)
        if (g->metrics[k].headline)
            return &g->metrics[k];
    return NULL;
}

static void print_human(const cairn_monitor_result *r, const cairn_monitor_opts *o, bool all)
{
    char a[48], b[48], n1[32], n2[32];
    fmt_time(a, sizeof a, r->first_us);
    fmt_time(b, sizeof b, r->last_us);
    cli_fmt_count(n1, sizeof n1, r->model_records);
    printf("monitor %s: %s records from %s to %s, %zu window(s)\n", r->model, n1, a, b,
           r->n_groups);
    printf("  log: %" PRIu64 " segment(s), %" PRIu64 " damaged record(s), %" PRIu64
           " dropped record(s)%s\n",
           r->segments, r->bad_records, r->dropped_records,
           r->late_records ? " (some records arrived after their window closed)" : "");
    cli_fmt_count(n1, sizeof n1, r->labels_joined);
    cli_fmt_count(n2, sizeof n2, r->labels_total);
    printf("  labels: %s joined (of %s stored)\n", n1, n2);
    if (r->n_versions) {
        printf("  versions:");
        for (size_t i = 0; i < r->n_versions; i++) {
            fmt_time(a, sizeof a, r->versions[i].first_us);
            fmt_time(b, sizeof b, r->versions[i].last_us);
            cli_fmt_count(n1, sizeof n1, r->versions[i].rows);
            printf("%s v%d (%s records, %s .. %s)", i ? "," : "", r->versions[i].version, n1,
                   a, b);
        }
        printf("%s\n", r->n_versions > 1 ? "  -- the version changed: figures are split by "
                                           "version" : "");
    }
    if (r->n_alerts) {
        printf("\n");
        cli_table t;
        const char *hd[] = {"severity", "kind", "window", "version", "subject", "statistic",
                            "value", "threshold"};
        const bool right[] = {false, false, false, true, false, false, true, true};
        cli_table_init(&t, 8, hd, right);
        /* Many alerts: at most 8 of each kind, so one kind cannot hide the others. */
        bool cap = !all && r->n_alerts > 40;
        size_t per_kind[CAIRN_ALERT_N_KINDS] = {0}, shown = 0;
        for (size_t i = 0; i < r->n_alerts; i++) {
            const cairn_monitor_alert *x = &r->alerts[i];
            if (cap && per_kind[x->kind]++ >= 8)
                continue;
            shown++;
            char win[40] = "-", ver[16] = "-", val[32], thr[32];
            if (x->group >= 0) {
                fmt_window(o, &r->groups[x->group], win, sizeof win);
                snprintf(ver, sizeof ver, "%d", r->groups[x->group].version);
            }
            fmt_num(val, sizeof val, x->value, "%.4g");
            fmt_num(thr, sizeof thr, x->threshold, "%.4g");
            const char *cells[] = {sev_word(x->severity), cairn_monitor_alert_kind_name(x->kind),
                                   win, ver, x->subject, x->statistic, val, thr};
            cli_table_add(&t, cells);
        }
        cli_table_print(&t, stdout);
        cli_table_reset(&t);
        if (shown < r->n_alerts)
            printf("... and %zu more (at most 8 of each kind are shown; --all or --json lists "
                   "every one)\n",
                   r->n_alerts - shown);
    }
    if (r->n_groups) {
        printf("\n");
        cli_table t;
        const char *hd[] = {"window",   "version", "rows",   "rejected", "fallback", "labelled",
                            "metric",   "train",   "pos.rate", "p50 ms", "p99 ms",  "worst PSI",
                            "severity"};
        const bool right[] = {false, true, true, true, true, true, false,
                              true,  true, true, true, false, false};
        cli_table_init(&t, 13, hd, right);
        for (size_t i = 0; i < r->n_groups; i++) {
            const cairn_monitor_group *g = &r->groups[i];
            char win[48], ver[24], rows[32], rej[24], fb[24], lab[32], met[64], tr[24], pr[24],
                p50[24], p99[24], worst[80];
            fmt_window(o, g, win, sizeof win);
            snprintf(ver, sizeof ver, "%d%s", g->version, g->shadow ? " (shadow)" : "");
            cli_fmt_count(rows, sizeof rows, g->rows);
            uint64_t seen = g->rows + g->rejected;
            fmt_num(rej, sizeof rej, seen ? 100.0 * (double)g->rejected / (double)seen : NAN,
                    "%.2f%%");
            fmt_num(fb, sizeof fb, g->rows ? 100.0 * (double)g->fallback / (double)g->rows : NAN,
                    "%.2f%%");
            cli_fmt_count(lab, sizeof lab, g->labelled);
            const cairn_monitor_metric *m = headline(g);
            if (m && isfinite(m->lo))
                snprintf(met, sizeof met, "%s %.3f [%.3f, %.3f]", m->name, m->value, m->lo,
                         m->hi);
            else if (m)
                snprintf(met, sizeof met, "%s %.3f", m->name, m->value);
            else
                snprintf(met, sizeof met, "-");
            fmt_num(tr, sizeof tr, m ? m->train : NAN, "%.3f");
            fmt_num(pr, sizeof pr, g->positive_rate, "%.3f");
            fmt_num(p50, sizeof p50, g->latency_p50_ms, "%.3f");
            fmt_num(p99, sizeof p99, g->latency_p99_ms, "%.3f");
            const cairn_monitor_feature *wf = NULL;
            for (size_t k = 0; k < g->n_features; k++)
                if (isfinite(g->features[k].stats.psi) &&
                    (!wf || g->features[k].stats.psi > wf->stats.psi))
                    wf = &g->features[k];
            if (wf)
                snprintf(worst, sizeof worst, "%.3f %.40s", wf->stats.psi, wf->name);
            else
                snprintf(worst, sizeof worst, "-");
            const char *cells[] = {win, ver, rows, rej, fb, lab, met, tr, pr, p50, p99, worst,
                                   sev_word(g->severity)};
            cli_table_add(&t, cells);
        }
        cli_table_print(&t, stdout);
        cli_table_reset(&t);
        for (size_t i = 0; i < r->n_groups; i++)
            if (r->groups[i].note && !r->groups[i].shadow) {
                char win[48];
                fmt_window(o, &r->groups[i], win, sizeof win);
                printf("  note: %s v%d: %s\n", win, r->groups[i].version, r->groups[i].note);
            }
    }
    if (all) {
        for (size_t i = 0; i < r->n_groups; i++) {
            const cairn_monitor_group *g = &r->groups[i];
            char win[48];
            fmt_window(o, g, win, sizeof win);
            printf("\n%s, v%d%s:\n", win, g->version, g->shadow ? " (shadow)" : "");
            cli_table t;
            const char *hd[] = {"feature", "kind", "PSI", "KS", "JS", "chi2 p", "missing +/-",
                                "unseen", "severity"};
            const bool right[] = {false, false, true, true, true, true, true, true, false};
            cli_table_init(&t, 9, hd, right);
            for (size_t k = 0; k <= g->n_features; k++) {
                const cairn_monitor_feature *f =
                    k < g->n_features ? &g->features[k] : (g->has_prediction ? &g->prediction : NULL);
                if (!f)
                    continue;
                char psi[24], ks[24], js[24], p[24], mc[24], un[24], name[160];
                snprintf(name, sizeof name, "%s%s", k < g->n_features ? "" : "(prediction) ",
                         f->name);
                fmt_num(psi, sizeof psi, f->stats.psi, "%.4f");
                fmt_num(ks, sizeof ks, f->stats.ks, "%.4f");
                fmt_num(js, sizeof js, f->stats.js, "%.4f");
                fmt_num(p, sizeof p, f->stats.chi2_p, "%.3g");
                fmt_num(mc, sizeof mc, f->stats.missing_change, "%+.4f");
                fmt_num(un, sizeof un, f->stats.unseen_share, "%.4f");
                const char *cells[] = {name, f->kind == CAIRN_DRIFT_NUMBER ? "number" : "category",
                                       psi, ks, js, p, mc, un, sev_word(f->severity)};
                cli_table_add(&t, cells);
            }
            cli_table_print(&t, stdout);
            cli_table_reset(&t);
        }
    }
    printf("\n");
    /* The log-wide findings do not fit the tables: their sentences. */
    for (size_t i = 0; i < r->n_alerts; i++)
        if (r->alerts[i].group < 0)
            printf("%s: %s\n", sev_word(r->alerts[i].severity), r->alerts[i].message);
    size_t n_alert = 0, n_warn = 0;
    for (size_t i = 0; i < r->n_alerts; i++)
        *(r->alerts[i].severity == CAIRN_DRIFT_ALERT ? &n_alert : &n_warn) += 1;
    printf("%s: %zu alert(s), %zu warning(s)%s\n", sev_word(r->severity), n_alert, n_warn,
           r->severity == CAIRN_DRIFT_NODATA ? " -- no record of this model in the range" : "");
}

/* Runs the --on-alert command with the summary in its environment. */
static int run_hook(const char *command, const cairn_monitor_result *r, const char *json_path,
                    bool to_stderr)
{
    cairn_buf kinds, summary;
    cairn_buf_init(&kinds);
    cairn_buf_init(&summary);
    size_t n_alert = 0;
    for (size_t i = 0; i < r->n_alerts; i++) {
        const cairn_monitor_alert *x = &r->alerts[i];
        if (x->severity != CAIRN_DRIFT_ALERT)
            continue;
        n_alert++;
        const char *k = cairn_monitor_alert_kind_name(x->kind);
        if (!kinds.len || !strstr(kinds.data, k))
            cairn_buf_printf(&kinds, "%s%s", kinds.len ? "," : "", k);
        if (n_alert <= 20)
            cairn_buf_printf(&summary, "%s%s", summary.len ? "\n" : "", x->message);
    }
    char count[32];
    snprintf(count, sizeof count, "%zu", n_alert);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        setenv("CAIRN_ALERT_MODEL", r->model, 1);
        setenv("CAIRN_ALERT_SEVERITY", "alert", 1);
        setenv("CAIRN_ALERT_COUNT", count, 1);
        setenv("CAIRN_ALERT_KINDS", kinds.data ? kinds.data : "", 1);
        setenv("CAIRN_ALERT_SUMMARY", summary.data ? summary.data : "", 1);
        if (json_path)
            setenv("CAIRN_ALERT_JSON", json_path, 1);
        if (to_stderr)   /* keep --json's standard output one document */
            dup2(STDERR_FILENO, STDOUT_FILENO);
        execl("/bin/sh", "sh", "-c", command, (char *)NULL);
        _exit(127);
    }
    cairn_buf_reset(&kinds);
    cairn_buf_reset(&summary);
    if (pid < 0) {
        fprintf(stderr, "cairn: warning: --on-alert could not start: %s\n", strerror(errno));
        return -1;
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (code != 0)
        fprintf(stderr, "cairn: warning: the --on-alert command exited with %d\n", code);
    return code;
}

int cmd_monitor(const cli_cmd *cmd, cli_args *a)
{
    cairn_home *h = NULL;
    int rc = cli_open_home(a, &h);
    if (rc)
        return rc;
    cairn_monitor_opts o;
    cairn_monitor_result r;
    cairn_monitor_result_init(&r);
    cairn_buf json;
    cairn_buf_init(&json);
    cairn_error err = {0};
    char json_path[4200];
    const char *tmpdir = getenv("TMPDIR");
    snprintf(json_path, sizeof json_path, "%s/cairn-alert-XXXXXX",
             tmpdir && *tmpdir ? tmpdir : "/tmp");
    bool have_tmp = false;
    if ((rc = monitor_opts(cmd, a, h, &o)))
        goto done;
    if (!a->quiet && !a->json)
        o.progress = progress_cb;
    cairn_status st = cairn_monitor_run(h, &o, &r, &err);
    if (progress_shown)
        fprintf(stderr, "\r%*s\r", 60, "");
    if (st != CAIRN_OK) {
        rc = cli_fail(&err);
        goto done;
    }
    const char *hook = cli_get(cmd, a, "on-alert");
    if (a->json || hook) {
        if (cairn_monitor_to_json(&r, &json) != CAIRN_OK) {
            cairn_error_set(&err, CAIRN_ENOMEM, "monitor", "out of memory");
            rc = cli_fail(&err);
            goto done;
        }
    }
    if (a->json) {
        rc = cli_emit_json(&json);
        if (rc)
            goto done;
    } else {
        print_human(&r, &o, cli_flag(cmd, a, "all"));
    }
    rc = r.severity == CAIRN_DRIFT_ALERT ? 1 : 0;
    if (hook && r.severity == CAIRN_DRIFT_ALERT) {
        int fd = mkstemp(json_path);
        if (fd >= 0) {
            have_tmp = true;
            FILE *f = fdopen(fd, "w");
            if (f) {
                fwrite(json.data, 1, json.len, f);
                fclose(f);
            } else {
                close(fd);
            }
        }
        run_hook(hook, &r, have_tmp ? json_path : NULL, a->json);
    }
done:
    if (have_tmp)
        unlink(json_path);
    cairn_buf_reset(&json);
    cairn_monitor_result_reset(&r);
    cairn_home_close(h);
    return rc;
}
