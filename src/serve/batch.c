/*
 * batch.c -- `cairn predict` (batch.h): a file read into a frame, each row
 * turned back into the named, JSON-like fields a request carries, and scored
 * by cairn_model_predict, the server's own call.
 */
#include "serve/batch.h"

#include "data/reader.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void cairn_batch_result_reset(cairn_batch_result *r)
{
    if (!r)
        return;
    cairn_free(r->preds);
    cairn_free(r->ok);
    cairn_violations_reset(&r->violations);
    for (size_t i = 0; i < r->n_columns; i++)
        cairn_free(r->columns[i]);
    cairn_free(r->columns);
    memset(r, 0, sizeof *r);
}

/* Row i of f as fields; timestamps are formatted into ts (n_cols x 40 bytes). */
static void row_fields(const cairn_frame *f, size_t i, cairn_field *out, char *ts)
{
    for (size_t j = 0; j < f->n_cols; j++) {
        const cairn_column *c = &f->cols[j];
        cairn_field *fd = &out[j];
        memset(fd, 0, sizeof *fd);
        fd->name = c->name;
        if (!c->valid[i]) {
            fd->kind = CAIRN_VALUE_NULL;
            continue;
        }
        switch (c->type) {
        case CAIRN_TYPE_BOOL:
            fd->kind = CAIRN_VALUE_BOOL;
            fd->b = c->v.b[i] != 0;
            break;
        case CAIRN_TYPE_INT64:
            fd->kind = CAIRN_VALUE_NUMBER;
            fd->num = (double)c->v.i64[i];
            break;
        case CAIRN_TYPE_FLOAT64:
            fd->kind = CAIRN_VALUE_NUMBER;
            fd->num = c->v.f64[i];
            break;
        case CAIRN_TYPE_TIMESTAMP:
            fd->kind = CAIRN_VALUE_STRING;
            cairn_fmt_timestamp(ts + 40 * j, 40, c->v.i64[i]);
            fd->str = ts + 40 * j;
            fd->str_len = strlen(fd->str);
            break;
        case CAIRN_TYPE_STRING:
            fd->kind = CAIRN_VALUE_STRING;
            fd->str = cairn_dict_str(&c->dict, c->v.codes[i]);
            fd->str_len = strlen(fd->str);
            break;
        default: fd->kind = CAIRN_VALUE_NULL; break;
        }
    }
}

/* The log's time of row i from column c: timestamps as they are, numbers as epoch
 * seconds, text as ISO 8601 (or epoch seconds); anything else (null, unreadable) falls
 * back to the time of scoring. */
static int64_t row_time(const cairn_column *c, size_t i)
{
    if (!c || !c->valid[i])
        return cairn_now_us();
    int64_t us;
    switch (c->type) {
    case CAIRN_TYPE_TIMESTAMP: return c->v.i64[i];
    case CAIRN_TYPE_INT64: return c->v.i64[i] * 1000000;
    case CAIRN_TYPE_FLOAT64:
        return isfinite(c->v.f64[i]) ? (int64_t)llround(c->v.f64[i] * 1e6) : cairn_now_us();
    case CAIRN_TYPE_STRING: {
        const char *s = cairn_dict_str(&c->dict, c->v.codes[i]);
        return cairn_parse_time(s, strlen(s), &us) ? us : cairn_now_us();
    }
    default: return cairn_now_us();
    }
}

/* Row i of column c (NULL: none) as text, in b (reused from row to row); "" for null. */
static const char *row_text(const cairn_column *c, size_t i, cairn_buf *b)
{
    b->len = 0;
    if (c)
        cairn_column_value_text(c, i, b);
    return b->len && !b->failed ? b->data : "";
}

/* Looks up an optional column by name: NULL name gives *out NULL. */
static cairn_status find_col(const cairn_frame *f, const char *name, const char *path,
                             const char *flag, const cairn_column **out, cairn_error *err)
{
    *out = NULL;
    if (!name)
        return CAIRN_OK;
    long k = cairn_frame_find(f, name);
    if (k < 0)
        return cairn_error_set(err, CAIRN_EINPUT, path, "%s: the file has no column '%s'", flag,
                               name);
    *out = &f->cols[k];
    return CAIRN_OK;
}

cairn_status cairn_batch_predict(const cairn_model *m, const char *path, const cairn_batch_opts *o,
                                 cairn_batch_result *out, cairn_error *err)
{
    cairn_frame *f = NULL;
    cairn_reader_cfg cfg;
    cairn_status st;
    memset(out, 0, sizeof *out);
    cairn_reader_cfg_from_opts(&cfg, NULL);
    cairn_format fmt = CAIRN_FORMAT_AUTO;
    if (o->format && strcmp(o->format, "csv") == 0)
        fmt = CAIRN_FORMAT_CSV;
    else if (o->format && strcmp(o->format, "jsonl") == 0)
        fmt = CAIRN_FORMAT_JSONL;
    if ((st = cairn_read_path(path, fmt, &cfg, &f, err)) != CAIRN_OK)
        return st;
    size_t n = f->n_rows, nc = f->n_cols;
    const cairn_column *time_c, *id_c, *entity_c;
    if ((st = find_col(f, o->time_col, path, "--time", &time_c, err)) != CAIRN_OK ||
        (st = find_col(f, o->id_col, path, "--id", &id_c, err)) != CAIRN_OK ||
        (st = find_col(f, o->entity_col, path, "--entity", &entity_c, err)) != CAIRN_OK) {
        cairn_frame_free(f);
        return st;
    }
    out->n_rows = n;
    out->preds = cairn_calloc(n ? n : 1, sizeof *out->preds);
    out->ok = cairn_calloc(n ? n : 1, 1);
    out->columns = cairn_calloc(nc ? nc : 1, sizeof *out->columns);
    if (!out->preds || !out->ok || !out->columns) {
        st = cairn_error_set(err, CAIRN_ENOMEM, path, "out of memory");
        goto done;
    }
    for (size_t j = 0; j < nc; j++) {
        if (!(out->columns[j] = cairn_strdup(f->cols[j].name))) {
            st = cairn_error_set(err, CAIRN_ENOMEM, path, "out of memory");
            goto done;
        }
        out->n_columns++;
    }
    cairn_model_meta meta;
    cairn_model_get_meta(m, &meta);
    /* Rows are scored in parallel chunks; violations are collected per row and merged in
     * row order, so the report does not depend on the thread count. */
    int threads = o->threads > 0 ? o->threads : omp_get_max_threads();
    /* Stopping at the first invalid row while logging: in row order, so nothing after
     * that row reaches the log. */
    if (o->stop_on_error && o->log)
        threads = 1;
    bool halted = false;
    cairn_violations *per = cairn_calloc(n ? n : 1, sizeof *per);
    cairn_status *rs = cairn_calloc(n ? n : 1, sizeof *rs);
    if (!per || !rs) {
        cairn_free(per);
        cairn_free(rs);
        st = cairn_error_set(err, CAIRN_ENOMEM, path, "out of memory");
        goto done;
    }
    bool oom = false;
#pragma omp parallel num_threads(threads)
    {
        cairn_field *fields = cairn_calloc(nc ? nc : 1, sizeof *fields);
        char *ts = cairn_malloc(40 * (nc ? nc : 1));
        cairn_buf idb, enb;   /* the logged request id and entity of a row */
        cairn_buf_init(&idb);
        cairn_buf_init(&enb);
        if (!fields || !ts) {
#pragma omp atomic write
            oom = true;
        }
#pragma omp for schedule(dynamic, 256)
        for (size_t i = 0; i < n; i++) {
            bool skip;
#pragma omp atomic read
            skip = halted;
            if (!fields || !ts || skip)
                continue;
            row_fields(f, i, fields, ts);
            double t0 = omp_get_wtime();
            rs[i] = cairn_model_predict(m, fields, nc, (long)i, &out->preds[i], &per[i], NULL);
            bool ok = rs[i] == CAIRN_OK;
            if (o->log && (ok || rs[i] == CAIRN_ECHECK || rs[i] == CAIRN_EINPUT)) {
                cairn_plog_record rec = {
                    .time_us = time_c ? row_time(time_c, i) : cairn_now_us(),
                    .request_id = row_text(id_c, i, &idb),
                    .entity = row_text(entity_c, i, &enb),
                    .model = meta.name,
                    .version = meta.version,
                    .alias = "",
                    .fields = fields,
                    .n_fields = nc,
                    .score = ok ? out->preds[i].score : NAN,
                    .label = ok ? out->preds[i].label : NULL,
                    .latency_us = ok ? (omp_get_wtime() - t0) * 1e6 : 0.0,
                    .flags = CAIRN_PLOG_BATCH | (ok ? 0u : CAIRN_PLOG_REJECTED),
                };
                (void)cairn_plog_append(o->log, &rec);
            }
            if (ok) {
                out->ok[i] = 1;
            } else {
                out->preds[i].score = NAN;
                out->preds[i].label = NULL;
                if (o->stop_on_error && threads == 1) {
#pragma omp atomic write
                    halted = true;
                }
            }
        }
        cairn_buf_reset(&idb);
        cairn_buf_reset(&enb);
        cairn_free(fields);
        cairn_free(ts);
    }
    if (oom) {
        st = cairn_error_set(err, CAIRN_ENOMEM, path, "out of memory");
    } else {
        for (size_t i = 0; i < n && st == CAIRN_OK; i++) {
            if (rs[i] == CAIRN_OK) {
                out->n_scored++;
                continue;
            }
            out->n_invalid++;
            if (rs[i] != CAIRN_ECHECK && rs[i] != CAIRN_EINPUT) {
                st = cairn_error_set(err, rs[i], path, "scoring row %zu failed", i);
                break;
            }
            for (size_t k = 0; k < per[i].n; k++) {
                cairn_violations *v = &out->violations;
                if (v->n == v->cap) {
                    size_t cap = v->cap ? v->cap * 2 : 16;
                    cairn_violation *p = cairn_realloc(v->items, cap * sizeof *p);
                    if (!p) {
                        st = cairn_error_set(err, CAIRN_ENOMEM, path, "out of memory");
                        break;
                    }
                    v->items = p;
                    v->cap = cap;
                }
                v->items[v->n++] = per[i].items[k];
            }
            if (rs[i] == CAIRN_EINPUT && per[i].n == 0 && out->violations.n < (size_t)-1) {
                /* The transform could not read a value: reported like a violation. */
                cairn_violations *v = &out->violations;
                if (v->n == v->cap) {
                    size_t cap = v->cap ? v->cap * 2 : 16;
                    cairn_violation *p = cairn_realloc(v->items, cap * sizeof *p);
                    if (p) {
                        v->items = p;
                        v->cap = cap;
                    }
                }
                if (v->n < v->cap) {
                    cairn_violation *x = &v->items[v->n++];
                    memset(x, 0, sizeof *x);
                    x->row = (long)i;
                    snprintf(x->problem, sizeof x->problem, "a value cannot be read");
                }
            }
            if (o->stop_on_error) {
                out->stopped = true;
                /* Rows after the first invalid one are not reported as scored. */
                for (size_t j = i + 1; j < n; j++) {
                    out->ok[j] = 0;
                    out->preds[j].score = NAN;
                    out->preds[j].label = NULL;
                }
                st = cairn_error_set(err, CAIRN_ECHECK, path,
                                     "data row %zu breaks the model's contract", i);
                break;
            }
        }
    }
    for (size_t i = 0; i < n; i++)
        cairn_violations_reset(&per[i]);
    cairn_free(per);
    cairn_free(rs);
done:
    cairn_frame_free(f);
    if (st != CAIRN_OK && st != CAIRN_ECHECK)
        cairn_batch_result_reset(out);
    return st;
}
