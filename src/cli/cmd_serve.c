/*
 * cmd_serve.c -- `cairn serve` (the HTTP server, serve/server.h) and
 * `cairn predict` (batch scoring, serve/batch.h).
 */
#include "cli/cli.h"
#include "serve/batch.h"
#include "registry/registry.h"
#include "serve/server.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

int cmd_serve(const cli_cmd *cmd, cli_args *a)
{
    cairn_server_opts o;
    cairn_server_opts_init(&o);
    long port = 8080, threads = 0, max_rows = 0, max_body = 0, max_header = 0, conn_limit = 0,
         timeout = 0, inflight = 0, log_buffer = 0;
    double deadline = 0, poll = 0, flush = 0;
    int rc;
    if ((rc = cli_opt_long(cmd, a, "port", 0, 65535, &port)) ||
        (rc = cli_opt_long(cmd, a, "threads", 1, 1024, &threads)) ||
        (rc = cli_opt_long(cmd, a, "max-rows", 1, 1000000, &max_rows)) ||
        (rc = cli_opt_long(cmd, a, "max-body", 1024, 1L << 30, &max_body)) ||
        (rc = cli_opt_long(cmd, a, "max-header", 1024, 1L << 20, &max_header)) ||
        (rc = cli_opt_long(cmd, a, "max-connections", 1, 1000000, &conn_limit)) ||
        (rc = cli_opt_long(cmd, a, "timeout", 1, 3600, &timeout)) ||
        (rc = cli_opt_long(cmd, a, "max-inflight", 1, 10000000, &inflight)) ||
        (rc = cli_opt_double(cmd, a, "deadline-ms", 0.1, 600000, &deadline)) ||
        (rc = cli_opt_double(cmd, a, "poll", 0.01, 3600, &poll)) ||
        (rc = cli_opt_double(cmd, a, "log-flush", 0.001, 3600, &flush)) ||
        (rc = cli_opt_long(cmd, a, "log-buffer", 1, 16384, &log_buffer)))
        return rc;
    const char **models = NULL;
    int n_models = cli_get_all(cmd, a, "model", &models);
    for (int i = 0; i < n_models; i++)
        if (!cairn_name_valid(models[i]))
            return cli_usage_error(cmd, "invalid model name '%s'", models[i]);
    o.home_dir = cairn_home_resolve(a->home);
    o.models = models;
    o.n_models = (size_t)(n_models > 0 ? n_models : 0);
    o.bind = cli_get(cmd, a, "bind");
    o.port = (int)port;
    o.threads = (int)threads;
    o.max_rows = (size_t)max_rows;
    o.max_body_bytes = (size_t)max_body;
    o.max_header_bytes = (size_t)max_header;
    o.conn_limit = (unsigned)conn_limit;
    o.conn_timeout_s = (unsigned)timeout;
    o.max_inflight = (size_t)inflight;
    o.deadline_ms = deadline;
    o.poll_seconds = poll;
    o.no_log = cli_flag(cmd, a, "no-log");
    o.log.dir = cli_get(cmd, a, "log-dir");
    if (flush > 0)
        o.log.flush_seconds = flush;
    o.log.ring_bytes = (size_t)log_buffer << 20;
    o.admin_token = getenv("CAIRN_ADMIN_TOKEN");
    o.quiet = a->quiet;

    /* SIGTERM / SIGINT are taken synchronously below; every thread the server starts
     * inherits the blocked mask, so the signal reaches only sigwait. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    cairn_server *s = NULL;
    cairn_error err = {0};
    if (cairn_server_start(&o, &s, &err) != CAIRN_OK)
        return cli_fail(&err);
    if (a->json)
        printf("{\"listening\":\"http://%s:%d\",\"port\":%d}\n", o.bind ? o.bind : "127.0.0.1",
               cairn_server_port(s), cairn_server_port(s));
    else
        printf("cairn serve: listening on http://%s:%d (%s)\n", o.bind ? o.bind : "127.0.0.1",
               cairn_server_port(s), o.no_log ? "prediction log off" : "prediction log on");
    fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    if (!a->quiet)
        fprintf(stderr, "cairn serve: %s: draining in-flight requests and the log\n",
                sig == SIGTERM ? "SIGTERM" : "SIGINT");
    if (cairn_server_stop(s, &err) != CAIRN_OK)
        return cli_fail(&err);
    if (!a->quiet)
        fprintf(stderr, "cairn serve: stopped\n");
    return 0;
}

/* ---- predict ---------------------------------------------------------------------------- */

static void csv_field(FILE *out, const char *s)
{
    if (!s)
        return;
    if (!strpbrk(s, ",\"\n\r")) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (const char *p = s; *p; p++) {
        if (*p == '"')
            fputc('"', out);
        fputc(*p, out);
    }
    fputc('"', out);
}

int cmd_predict(const cli_cmd *cmd, cli_args *a)
{
    const char *on_error = cli_get(cmd, a, "on-error");
    if (on_error && strcmp(on_error, "skip") != 0 && strcmp(on_error, "fail") != 0)
        return cli_usage_error(cmd, "--on-error must be skip or fail, not '%s'", on_error);
    const char *fmt = cli_get(cmd, a, "format");
    if (fmt && strcmp(fmt, "csv") != 0 && strcmp(fmt, "jsonl") != 0)
        return cli_usage_error(cmd, "--format must be csv or jsonl, not '%s'", fmt);
    long threads = 0;
    int rc;
    if ((rc = cli_opt_long(cmd, a, "threads", 1, 1024, &threads)))
        return rc;
    const char *ref = a->pos[0], *path = a->pos[1];
    const char *outp = cli_get(cmd, a, "output");
    bool want_log = cli_flag(cmd, a, "log");
    const char *time_col = cli_get(cmd, a, "time"), *id_col = cli_get(cmd, a, "id"),
               *entity_col = cli_get(cmd, a, "entity");
    if (!want_log && (time_col || id_col || entity_col))
        return cli_usage_error(cmd, "--time, --id and --entity describe logged rows: add --log");
    cairn_error err = {0};
    cairn_model *m = NULL;
    cairn_home *h = NULL;
    cairn_plog *log = NULL;
    cairn_batch_result res;
    memset(&res, 0, sizeof res);
    FILE *out = NULL;
    /* -o FILE is written to a temporary file beside it and renamed over it only when
     * complete: a full disk or a crash leaves FILE as it was. */
    cairn_atomic_file af = {.fd = -1};
    bool af_open = false;
    cairn_status st;
    /* An existing artifact file is opened directly; anything else is a registry reference. */
    if (strchr(ref, '/') || (strlen(ref) > 4 && strcmp(ref + strlen(ref) - 4, ".art") == 0)) {
        st = cairn_model_open_file(ref, &m, &err);
    } else {
        if ((rc = cli_open_home(a, &h)))
            return rc;
        st = cairn_model_open(h, ref, &m, &err);
    }
    if (st != CAIRN_OK)
        goto fail;
    if (want_log) {
        cairn_plog_opts lo;
        cairn_plog_opts_init(&lo);
        char dir[4200];
        snprintf(dir, sizeof dir, "%s/logs", cairn_home_resolve(a->home));
        lo.dir = cli_get(cmd, a, "log-dir") ? cli_get(cmd, a, "log-dir") : dir;
        lo.wait_ms = 1000;   /* a batch waits for the writer rather than dropping records */
        /* Test hook: a tiny ring that never waits, so tests can make the log drop records
         * and check that the drops are reported. */
        const char *ring = getenv("CAIRN_TEST_LOG_RING");
        if (ring && atol(ring) > 0) {
            lo.ring_bytes = (size_t)atol(ring);
            lo.wait_ms = -1;
        }
        if ((st = cairn_plog_open(&lo, &log, &err)) != CAIRN_OK)
            goto fail;
    }
    cairn_batch_opts bo = {
        .stop_on_error = on_error && strcmp(on_error, "fail") == 0,
        .threads = (int)threads,
        .log = log,
        .format = fmt,
        .time_col = time_col,
        .id_col = id_col,
        .entity_col = entity_col,
    };
    st = cairn_batch_predict(m, path, &bo, &res, &err);
    if (st != CAIRN_OK && st != CAIRN_ECHECK)
        goto fail;
    cairn_status bst = st;
    if (log && (st = cairn_plog_close(log, &err)) != CAIRN_OK) {
        log = NULL;
        goto fail;
    }
    log = NULL;
    /* Violations, by data line (the header is line 1 of a CSV; JSON Lines have none). */
    bool jsonl = fmt ? strcmp(fmt, "jsonl") == 0
                     : (strstr(path, ".jsonl") != NULL || strstr(path, ".ndjson") != NULL);
    for (size_t i = 0; i < res.violations.n && !a->json; i++) {
        const cairn_violation *v = &res.violations.items[i];
        fprintf(stderr, "%s:%ld: %s%s%s%s%s\n", path, v->row + (jsonl ? 1 : 2), v->field,
                v->field[0] ? ": " : "", v->problem, v->value[0] ? ": " : "", v->value);
    }
    if (outp) {
        if ((st = cairn_atomic_open(&af, outp, &err)) != CAIRN_OK)
            goto fail;
        af_open = true;
        int fd = dup(af.fd);
        out = fd >= 0 ? fdopen(fd, "w") : NULL;
        if (!out) {
            st = cairn_error_errno(&err, errno, outp, "cannot write the predictions");
            if (fd >= 0)
                close(fd);
            goto fail;
        }
    }
    if (!a->json || outp) {
        FILE *o = out ? out : stdout;
        fprintf(o, "row,score,label\n");
        for (size_t i = 0; i < res.n_rows; i++) {
            if (!res.ok[i])
                continue;
            fprintf(o, "%zu,%.17g,", i, res.preds[i].score);
            csv_field(o, res.preds[i].label);
            fputc('\n', o);
        }
    }
    if (a->json) {
        cairn_buf b;
        cairn_buf_init(&b);
        cairn_buf_printf(&b, "{\"rows\":%zu,\"scored\":%zu,\"invalid\":%zu,\"stopped\":%s,\"violations\":[",
                         res.n_rows, res.n_scored, res.n_invalid, res.stopped ? "true" : "false");
        for (size_t i = 0; i < res.violations.n; i++) {
            const cairn_violation *v = &res.violations.items[i];
            cairn_buf_printf(&b, "%s{\"row\":%ld,\"line\":%ld,\"field\":", i ? "," : "", v->row,
                             v->row + (jsonl ? 1 : 2));
            cairn_buf_put_json_string(&b, v->field, strlen(v->field));
            cairn_buf_puts(&b, ",\"problem\":");
            cairn_buf_put_json_string(&b, v->problem, strlen(v->problem));
            cairn_buf_puts(&b, ",\"value\":");
            cairn_buf_put_json_string(&b, v->value, strlen(v->value));
            cairn_buf_putc(&b, '}');
        }
        cairn_buf_puts(&b, "]");
        if (!outp) {
            cairn_buf_puts(&b, ",\"predictions\":[");
            bool first = true;
            for (size_t i = 0; i < res.n_rows; i++) {
                if (!res.ok[i])
                    continue;
                cairn_buf_printf(&b, "%s{\"row\":%zu,\"score\":", first ? "" : ",", i);
                cairn_buf_put_double(&b, res.preds[i].score);
                if (res.preds[i].label) {
                    cairn_buf_puts(&b, ",\"label\":");
                    cairn_buf_put_json_string(&b, res.preds[i].label, strlen(res.preds[i].label));
                }
                cairn_buf_putc(&b, '}');
                first = false;
            }
            cairn_buf_putc(&b, ']');
        }
        cairn_buf_putc(&b, '}');
        rc = cli_emit_json(&b);
        cairn_buf_reset(&b);
    } else if (!a->quiet) {
        fprintf(stderr, "cairn predict: %zu rows, %zu scored, %zu broke the contract%s\n",
                res.n_rows, res.n_scored, res.n_invalid,
                res.stopped ? " (stopped at the first, --on-error fail)" : "");
    }
    if (out && fclose(out) != 0) {
        out = NULL;
        st = cairn_error_errno(&err, errno, outp, "cannot write the predictions");
        goto fail;
    }
    out = NULL;
    if (af_open) {
        af_open = false;
        if ((st = cairn_atomic_commit(&af, &err)) != CAIRN_OK)
            goto fail;
    }
    if (bst == CAIRN_ECHECK) {
        fprintf(stderr, "cairn: error: %s (%s)\n", err.msg, err.where);
        rc = 1;
    }
    cairn_batch_result_reset(&res);
    cairn_model_close(m);
    cairn_home_close(h);
    return rc ? rc : (fflush(stdout) == 0 ? 0 : 4);
fail:
    if (out)
        fclose(out);
    if (af_open)
        cairn_atomic_abort(&af);
    if (log)
        cairn_plog_close(log, NULL);
    cairn_batch_result_reset(&res);
    cairn_model_close(m);
    cairn_home_close(h);
    return cli_fail(&err);
}

/* ---- logs show ---------------------------------------------------------------------------- */

typedef struct log_walk {
    uint64_t seen, skip;
    const char *model;
    bool json;
    bool failed;
} log_walk;

static void put_field_value(cairn_buf *b, const cairn_field *f)
{
    switch (f->kind) {
    case CAIRN_VALUE_NULL: cairn_buf_puts(b, "null"); break;
    case CAIRN_VALUE_BOOL: cairn_buf_puts(b, f->b ? "true" : "false"); break;
    case CAIRN_VALUE_NUMBER: cairn_buf_put_json_number(b, f->num); break;
    case CAIRN_VALUE_STRING: cairn_buf_put_json_string(b, f->str, f->str_len); break;
    }
}

static int log_visit(void *ctx, const cairn_plog_entry *e)
{
    log_walk *w = ctx;
    if (w->model && strcmp(w->model, e->model) != 0 && !(e->flags & CAIRN_PLOG_DROPS))
        return 0;
    if (w->seen++ < w->skip)
        return 0;
    cairn_buf b;
    cairn_buf_init(&b);
    char t[40];
    cairn_fmt_timestamp(t, sizeof t, e->time_us);
    if (e->flags & CAIRN_PLOG_DROPS) {
        /* The log's own marker: records refused at a full ring since the last marker. */
        if (w->json) {
            cairn_buf_puts(&b, "{\"time\":");
            cairn_buf_put_json_string(&b, t, strlen(t));
            cairn_buf_printf(&b, ",\"dropped\":%.0f}\n", e->score);
        } else {
            cairn_buf_printf(&b, "%s  -- %.0f records dropped here (buffer full or disk refused)\n",
                             t, e->score);
        }
    } else if (w->json) {
        cairn_buf_puts(&b, "{\"time\":");
        cairn_buf_put_json_string(&b, t, strlen(t));
        cairn_buf_puts(&b, ",\"request_id\":");
        cairn_buf_put_json_string(&b, e->request_id, strlen(e->request_id));
        cairn_buf_puts(&b, ",\"entity\":");
        cairn_buf_put_json_string(&b, e->entity, strlen(e->entity));
        cairn_buf_puts(&b, ",\"model\":");
        cairn_buf_put_json_string(&b, e->model, strlen(e->model));
        cairn_buf_printf(&b, ",\"version\":%d,\"alias\":", e->version);
        cairn_buf_put_json_string(&b, e->alias, strlen(e->alias));
        cairn_buf_puts(&b, ",\"score\":");
        cairn_buf_put_json_number(&b, e->score);
        cairn_buf_puts(&b, ",\"label\":");
        cairn_buf_put_json_string(&b, e->label, strlen(e->label));
        cairn_buf_puts(&b, ",\"latency_us\":");
        cairn_buf_put_double(&b, e->latency_us);
        cairn_buf_printf(&b, ",\"shadow\":%s,\"batch\":%s,\"rejected\":%s,\"fields\":{",
                         e->flags & CAIRN_PLOG_SHADOW ? "true" : "false",
                         e->flags & CAIRN_PLOG_BATCH ? "true" : "false",
                         e->flags & CAIRN_PLOG_REJECTED ? "true" : "false");
        for (size_t i = 0; i < e->n_fields; i++) {
            if (i)
                cairn_buf_putc(&b, ',');
            cairn_buf_put_json_string(&b, e->fields[i].name, strlen(e->fields[i].name));
            cairn_buf_putc(&b, ':');
            put_field_value(&b, &e->fields[i]);
        }
        cairn_buf_puts(&b, "}}\n");
    } else {
        cairn_buf_printf(&b, "%s  %-20s %s@%d %-10s score %.6g %s%s\n", t, e->request_id, e->model,
                         e->version, e->alias[0] ? e->alias : "-", e->score, e->label,
                         e->flags & CAIRN_PLOG_SHADOW     ? " (shadow)"
                         : e->flags & CAIRN_PLOG_REJECTED ? " (rejected by the contract)"
                                                          : "");
    }
    if (b.failed || fwrite(b.data, 1, b.len, stdout) != b.len)
        w->failed = true;
    cairn_buf_reset(&b);
    return w->failed;
}

static int count_visit(void *ctx, const cairn_plog_entry *e)
{
    log_walk *w = ctx;
    if (!w->model || strcmp(w->model, e->model) == 0 || (e->flags & CAIRN_PLOG_DROPS))
        w->seen++;
    return 0;
}

int cmd_logs_show(const cli_cmd *cmd, cli_args *a)
{
    long limit = 0;
    int rc;
    if ((rc = cli_opt_long(cmd, a, "limit", 1, 1000000000L, &limit)))
        return rc;
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/logs", cairn_home_resolve(a->home));
    const char *d = cli_get(cmd, a, "log-dir") ? cli_get(cmd, a, "log-dir") : dir;
    log_walk w = {.model = cli_get(cmd, a, "model"), .json = a->json};
    cairn_plog_read_stats rs = {0};
    cairn_error err = {0};
    if (limit) {
        if (cairn_plog_read(d, count_visit, &w, &rs, &err) != CAIRN_OK)
            return cli_fail(&err);
        w.skip = w.seen > (uint64_t)limit ? w.seen - (uint64_t)limit : 0;
        w.seen = 0;
    }
    memset(&rs, 0, sizeof rs);
    if (cairn_plog_read(d, log_visit, &w, &rs, &err) != CAIRN_OK)
        return cli_fail(&err);
    if (w.failed)
        return 4;
    if (!a->quiet)
        fprintf(stderr, "cairn logs: %llu records in %llu segments%s\n",
                (unsigned long long)rs.records, (unsigned long long)rs.segments,
                rs.bad_records ? " (damaged or torn records skipped)" : "");
    return fflush(stdout) == 0 ? 0 : 4;
}
