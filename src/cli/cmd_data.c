/*
 * cmd_data.c -- `cairn init` and `cairn data add|ls|show|stats`.
 * Reading, statistics and storage happen in the library; this file turns
 * options into calls and results into tables or JSON.
 */
#include "cli/cli.h"
#include "registry/registry.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int cmd_init(const cli_cmd *cmd, cli_args *a)
{
    (void)cmd;
    const char *dir = a->n_pos > 0 ? a->pos[0] : cairn_home_resolve(a->home);
    cairn_error err = {0};
    cairn_home *h = NULL;
    bool existed = cairn_home_open(dir, &h, NULL) == CAIRN_OK;
    cairn_home_close(h);
    if (cairn_home_init(dir, &err) != CAIRN_OK)
        return cli_fail(&err);
    if (a->json) {
        cairn_buf b;
        cairn_buf_init(&b);
        cairn_buf_puts(&b, "{\"home\":");
        cairn_buf_put_json_string(&b, dir, strlen(dir));
        cairn_buf_printf(&b, ",\"created\":%s}", existed ? "false" : "true");
        int rc = cli_emit_json(&b);
        cairn_buf_reset(&b);
        return rc;
    }
    printf("%s home at %s\n", existed ? "existing" : "initialised", dir);
    return 0;
}

static void info_json(cairn_buf *b, const cairn_dataset_info *i)
{
    cairn_buf_puts(b, "{\"name\":");
    cairn_buf_put_json_string(b, i->name, strlen(i->name));
    cairn_buf_printf(b, ",\"version\":%d,\"ref\":\"%s@%d\",\"hash\":\"%s\",\"source\":", i->version,
                     i->name, i->version, i->hash);
    cairn_buf_put_json_string(b, i->source, strlen(i->source));
    cairn_buf_printf(b, ",\"source_bytes\":%llu,\"rows\":%llu,\"columns\":%u,\"created_at\":\"%s\"",
                     (unsigned long long)i->source_bytes, (unsigned long long)i->n_rows, i->n_cols,
                     i->created_at);
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

int cmd_data_add(const cli_cmd *cmd, cli_args *a)
{
    const char *path = a->pos[0];
    const char *name = cli_get(cmd, a, "name");
    if (!name)
        return cli_usage_error(cmd, "--name NAME is required");
    if (!cairn_name_valid(name))
        return cli_usage_error(cmd, "invalid dataset name '%s': use 1-100 letters, digits, _ . -",
                               name);
    cairn_read_opts opts;
    cairn_read_opts_init(&opts);
    const char *fmt = cli_get(cmd, a, "format");
    if (fmt) {
        if (strcmp(fmt, "csv") == 0)
            opts.format = CAIRN_FORMAT_CSV;
        else if (strcmp(fmt, "jsonl") == 0)
            opts.format = CAIRN_FORMAT_JSONL;
        else
            return cli_usage_error(cmd, "--format must be csv or jsonl, not '%s'", fmt);
    }
    const char *delim = cli_get(cmd, a, "delimiter");
    if (delim) {
        if (strcmp(delim, "tab") == 0 || strcmp(delim, "\\t") == 0)
            opts.delimiter = '\t';
        else if (strlen(delim) == 1 && delim[0] != '"' && delim[0] != '\n' && delim[0] != '\r')
            opts.delimiter = delim[0];
        else
            return cli_usage_error(cmd, "--delimiter must be one character or 'tab', not '%s'",
                                   delim);
    }
    const char **na;
    int n_na = cli_get_all(cmd, a, "na", &na);
    if (n_na > CAIRN_MAX_NA_MARKERS)
        return cli_usage_error(cmd, "at most %d --na markers", CAIRN_MAX_NA_MARKERS);
    for (int k = 0; k < n_na; k++)
        opts.na[k] = na[k];
    opts.no_default_na = cli_flag(cmd, a, "no-default-na");
    const char *skip = cli_get(cmd, a, "skip-space");
    if (skip) {
        if (strcmp(skip, "auto") == 0)
            opts.skip_initial_space = -1;
        else if (strcmp(skip, "yes") == 0)
            opts.skip_initial_space = 1;
        else if (strcmp(skip, "no") == 0)
            opts.skip_initial_space = 0;
        else
            return cli_usage_error(cmd, "--skip-space must be auto, yes or no");
    }
    opts.no_header = cli_flag(cmd, a, "no-header");
    const char *enc = cli_get(cmd, a, "encoding");
    if (enc) {
        if (strcmp(enc, "latin1") == 0 || strcmp(enc, "iso-8859-1") == 0)
            opts.latin1 = 1;
        else if (strcmp(enc, "utf-8") != 0 && strcmp(enc, "utf8") != 0)
            return cli_usage_error(cmd, "--encoding must be utf-8 or latin1, not '%s'", enc);
    }
    const char *mfb = cli_get(cmd, a, "max-field-bytes");
    if (mfb) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(mfb, &end, 10);
        if (errno || *end || v == 0 || v > (1ull << 30))
            return cli_usage_error(cmd, "--max-field-bytes must be 1..1073741824");
        opts.max_field_bytes = (size_t)v;
    }
    const char *threads = cli_get(cmd, a, "threads");
    if (threads) {
        char *end;
        long v = strtol(threads, &end, 10);
        if (*end || v < 1 || v > 256)
            return cli_usage_error(cmd, "--threads must be 1..256");
        opts.n_threads = (int)v;
    }
    opts.contract_path = cli_get(cmd, a, "contract");
    if (!a->quiet) {
        opts.progress = cli_progress;
        opts.progress_ctx = NULL;
    }

    cairn_home *h = NULL;
    int rc = cli_open_home(a, &h);
    if (rc)
        return rc;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cairn_dataset_info info;
    cairn_error err = {0};
    cairn_status st = cairn_dataset_add(h, path, name, &opts, &info, &err);
    cairn_home_close(h);
    cli_progress_done();
    if (st != CAIRN_OK)
        return cli_fail(&err);
    double secs = seconds_since(&t0);
    if (a->json) {
        cairn_buf b;
        cairn_buf_init(&b);
        info_json(&b, &info);
        cairn_buf_printf(&b, ",\"existed\":%s,\"seconds\":%.3f}", info.existed ? "true" : "false",
                         secs);
        rc = cli_emit_json(&b);
        cairn_buf_reset(&b);
        return rc;
    }
    char rows[32];
    cli_fmt_count(rows, sizeof rows, info.n_rows);
    if (info.existed)
        printf("unchanged: %s@%d already holds this content (%s rows x %u columns, hash %.12s)\n",
               info.name, info.version, rows, info.n_cols, info.hash);
    else
        printf("added %s@%d: %s rows x %u columns, hash %.12s, %.2f s\n", info.name, info.version,
               rows, info.n_cols, info.hash, secs);
    return 0;
}

int cmd_data_ls(const cli_cmd *cmd, cli_args *a)
{
    (void)cmd;
    cairn_home *h = NULL;
    int rc = cli_open_home(a, &h);
    if (rc)
        return rc;
    cairn_dataset_info *list = NULL;
    size_t n = 0;
    cairn_error err = {0};
    cairn_status st = cairn_dataset_list(h, &list, &n, &err);
    cairn_home_close(h);
    if (st != CAIRN_OK)
        return cli_fail(&err);
    if (a->json) {
        cairn_buf b;
        cairn_buf_init(&b);
        cairn_buf_putc(&b, '[');
        for (size_t i = 0; i < n; i++) {
            if (i)
                cairn_buf_putc(&b, ',');
            info_json(&b, &list[i]);
            cairn_buf_putc(&b, '}');
        }
        cairn_buf_putc(&b, ']');
        rc = cli_emit_json(&b);
        cairn_buf_reset(&b);
    } else if (n == 0) {
        printf("no datasets yet; add one with `cairn data add FILE --name NAME`\n");
    } else {
        static const char *const hdr[] = {"DATASET", "ROWS", "COLS", "CREATED", "HASH", "SOURCE"};
        static const bool right[] = {false, true, true, false, false, false};
        cli_table t;
        cli_table_init(&t, 6, hdr, right);
        for (size_t i = 0; i < n; i++) {
            char ref[160], rows[32], cols[16], hash[16];
            snprintf(ref, sizeof ref, "%s@%d", list[i].name, list[i].version);
            cli_fmt_count(rows, sizeof rows, list[i].n_rows);
            snprintf(cols, sizeof cols, "%u", list[i].n_cols);
            snprintf(hash, sizeof hash, "%.12s", list[i].hash);
            const char *cells[] = {ref, rows, cols, list[i].created_at, hash, list[i].source};
            cli_table_add(&t, cells);
        }
        cli_table_print(&t, stdout);
        cli_table_reset(&t);
    }
    cairn_free(list);
    return rc;
}

/* Loads a version's info and parsed columns/stats JSON. */
static int load_meta(cli_args *a, const char *ref, cairn_dataset_info *info, cJSON **cols,
                     cJSON **stats)
{
    cairn_home *h = NULL;
    int rc = cli_open_home(a, &h);
    if (rc)
        return rc;
    cairn_error err = {0};
    char *cj = NULL, *sj = NULL;
    cairn_status st = cairn_dataset_get(h, ref, info, &err);
    if (st == CAIRN_OK)
        st = cairn_dataset_meta(h, info->name, info->version, &cj, &sj, &err);
    cairn_home_close(h);
    if (st != CAIRN_OK)
        return cli_fail(&err);
    *cols = cJSON_Parse(cj);
    *stats = cJSON_Parse(sj);
    cairn_free(cj);
    cairn_free(sj);
    if (!*cols || !cJSON_IsArray(*cols) || !*stats || !cJSON_IsArray(*stats)) {
        cJSON_Delete(*cols);
        cJSON_Delete(*stats);
        cairn_error_set(&err, CAIRN_ECORRUPT, ref, "stored metadata is not valid JSON");
        return cli_fail(&err);
    }
    return 0;
}

static void num_text(char *out, size_t cap, const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d == (double)(long long)d && d > -1e15 && d < 1e15)
            snprintf(out, cap, "%lld", (long long)d);
        else
            snprintf(out, cap, "%.6g", d);
    } else if (cJSON_IsString(v)) {
        snprintf(out, cap, "%s", v->valuestring);
    } else if (cJSON_IsBool(v)) {
        snprintf(out, cap, "%s", cJSON_IsTrue(v) ? "yes" : "no");
    } else {
        snprintf(out, cap, "-");
    }
}

static uint64_t json_u64(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsNumber(v) && v->valuedouble > 0 ? (uint64_t)v->valuedouble : 0;
}

int cmd_data_show(const cli_cmd *cmd, cli_args *a)
{
    (void)cmd;
    cairn_dataset_info info;
    cJSON *cols = NULL, *stats = NULL;
    int rc = load_meta(a, a->pos[0], &info, &cols, &stats);
    if (rc)
        return rc;
    int n = cJSON_GetArraySize(cols);
    if (a->json) {
        cairn_buf b;
        cairn_buf_init(&b);
        info_json(&b, &info);
        cairn_buf_puts(&b, ",\"schema\":[");
        for (int i = 0; i < n; i++) {
            const cJSON *c = cJSON_GetArrayItem(cols, i);
            const cJSON *s = cJSON_GetArrayItem(stats, i);
            const cJSON *nm = cJSON_GetObjectItemCaseSensitive(c, "name");
            const cJSON *ty = cJSON_GetObjectItemCaseSensitive(c, "type");
            if (i)
                cairn_buf_putc(&b, ',');
            cairn_buf_puts(&b, "{\"name\":");
            const char *nms = cJSON_IsString(nm) ? nm->valuestring : "";
            cairn_buf_put_json_string(&b, nms, strlen(nms));
            cairn_buf_printf(&b, ",\"type\":\"%s\",\"nulls\":%llu}",
                             cJSON_IsString(ty) ? ty->valuestring : "",
                             (unsigned long long)json_u64(s, "nulls"));
        }
        cairn_buf_puts(&b, "]}");
        rc = cli_emit_json(&b);
        cairn_buf_reset(&b);
    } else {
        char rows[32], bytes[32];
        cli_fmt_count(rows, sizeof rows, info.n_rows);
        cli_fmt_count(bytes, sizeof bytes, info.source_bytes);
        printf("dataset   %s@%d\nsource    %s (%s bytes)\nrows      %s\ncolumns   %u\n"
               "hash      %s\ncreated   %s\n\n",
               info.name, info.version, info.source, bytes, rows, info.n_cols, info.hash,
               info.created_at);
        static const char *const hdr[] = {"COLUMN", "TYPE", "NULLS", "NULL %"};
        static const bool right[] = {false, false, true, true};
        cli_table t;
        cli_table_init(&t, 4, hdr, right);
        for (int i = 0; i < n; i++) {
            const cJSON *c = cJSON_GetArrayItem(cols, i);
            const cJSON *s = cJSON_GetArrayItem(stats, i);
            char nulls[32], pct[16];
            uint64_t nn = json_u64(s, "nulls");
            cli_fmt_count(nulls, sizeof nulls, nn);
            snprintf(pct, sizeof pct, "%.1f", info.n_rows ? 100.0 * (double)nn / (double)info.n_rows : 0.0);
            const cJSON *nm = cJSON_GetObjectItemCaseSensitive(c, "name");
            const cJSON *ty = cJSON_GetObjectItemCaseSensitive(c, "type");
            const char *cells[] = {cJSON_IsString(nm) ? nm->valuestring : "?",
                                   cJSON_IsString(ty) ? ty->valuestring : "?", nulls, pct};
            cli_table_add(&t, cells);
        }
        cli_table_print(&t, stdout);
        cli_table_reset(&t);
    }
    cJSON_Delete(cols);
    cJSON_Delete(stats);
    return rc;
}

static bool wanted(const char *name, const char **only, int n_only)
{
    if (n_only == 0)
        return true;
    for (int k = 0; k < n_only; k++)
        if (strcmp(only[k], name) == 0)
            return true;
    return false;
}

int cmd_data_stats(const cli_cmd *cmd, cli_args *a)
{
    cairn_dataset_info info;
    cJSON *cols = NULL, *stats = NULL;
    int rc = load_meta(a, a->pos[0], &info, &cols, &stats);
    if (rc)
        return rc;
    const char **only;
    int n_only = cli_get_all(cmd, a, "column", &only);
    int n = cJSON_GetArraySize(cols);
    for (int k = 0; k < n_only; k++) {
        bool found = false;
        for (int i = 0; i < n; i++) {
            const cJSON *nm = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(cols, i), "name");
            if (cJSON_IsString(nm) && strcmp(nm->valuestring, only[k]) == 0)
                found = true;
        }
        if (!found) {
            cJSON_Delete(cols);
            cJSON_Delete(stats);
            cairn_error err = {0};
            char where[256];
            snprintf(where, sizeof where, "%s@%d", info.name, info.version);
            cairn_error_set(&err, CAIRN_ENOTFOUND, where, "no column named '%s'", only[k]);
            return cli_fail(&err);
        }
    }
    if (a->json) {
        cairn_buf b;
        cairn_buf_init(&b);
        cairn_buf_printf(&b, "{\"ref\":\"%s@%d\",\"rows\":%llu,\"columns\":[", info.name,
                         info.version, (unsigned long long)info.n_rows);
        bool first = true;
        for (int i = 0; i < n; i++) {
            const cJSON *nm = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(cols, i), "name");
            const char *name = cJSON_IsString(nm) ? nm->valuestring : "";
            if (!wanted(name, only, n_only))
                continue;
            char *s = cJSON_PrintUnformatted(cJSON_GetArrayItem(stats, i));
            cairn_buf_puts(&b, first ? "{\"name\":" : ",{\"name\":");
            first = false;
            cairn_buf_put_json_string(&b, name, strlen(name));
            cairn_buf_puts(&b, ",\"stats\":");
            cairn_buf_puts(&b, s ? s : "null");
            cairn_buf_putc(&b, '}');
            cJSON_free(s);
        }
        cairn_buf_puts(&b, "]}");
        rc = cli_emit_json(&b);
        cairn_buf_reset(&b);
        cJSON_Delete(cols);
        cJSON_Delete(stats);
        return rc;
    }
    printf("%s@%d: %llu rows\n\n", info.name, info.version, (unsigned long long)info.n_rows);
    static const char *const nh[] = {"COLUMN", "TYPE", "COUNT", "NULLS", "MIN", "P25", "MEDIAN",
                                     "P75", "MAX", "MEAN", "STDDEV"};
    static const bool nr[] = {false, false, true, true, true, true, true, true, true, true, true};
    static const char *const sh[] = {"COLUMN", "TYPE", "COUNT", "NULLS", "DISTINCT~", "TOP VALUES"};
    static const bool sr[] = {false, false, true, true, true, false};
    cli_table tn, ts;
    cli_table_init(&tn, 11, nh, nr);
    cli_table_init(&ts, 6, sh, sr);
    for (int i = 0; i < n; i++) {
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(cols, i), "name");
        const char *name = cJSON_IsString(nm) ? nm->valuestring : "";
        if (!wanted(name, only, n_only))
            continue;
        const cJSON *s = cJSON_GetArrayItem(stats, i);
        const cJSON *ty = cJSON_GetObjectItemCaseSensitive(s, "type");
        const char *type = cJSON_IsString(ty) ? ty->valuestring : "?";
        char count[32], nulls[32];
        cli_fmt_count(count, sizeof count, json_u64(s, "count"));
        cli_fmt_count(nulls, sizeof nulls, json_u64(s, "nulls"));
        if (strcmp(type, "string") == 0) {
            char distinct[32];
            cairn_buf top;
            cairn_buf_init(&top);
            cli_fmt_count(distinct, sizeof distinct, json_u64(s, "distinct"));
            const cJSON *items = cJSON_GetObjectItemCaseSensitive(s, "top");
            int shown = 0;
            const cJSON *it;
            cJSON_ArrayForEach(it, items)
            {
                if (shown == 4)
                    break;
                const cJSON *v = cJSON_GetObjectItemCaseSensitive(it, "value");
                if (!cJSON_IsString(v))
                    continue;
                cairn_buf_printf(&top, "%s%.24s (%llu)", shown ? ", " : "", v->valuestring,
                                 (unsigned long long)json_u64(it, "count"));
                shown++;
            }
            const char *cells[] = {name, type, count, nulls, distinct, top.data ? top.data : ""};
            cli_table_add(&ts, cells);
            cairn_buf_reset(&top);
        } else {
            char mn[40], mx[40], mean[40], sd[40], q25[40] = "-", q50[40] = "-", q75[40] = "-";
            num_text(mn, sizeof mn, s, "min");
            num_text(mx, sizeof mx, s, "max");
            num_text(mean, sizeof mean, s, "mean");
            num_text(sd, sizeof sd, s, "stddev");
            const cJSON *q = cJSON_GetObjectItemCaseSensitive(s, "quantiles");
            if (cJSON_GetArraySize(q) == 101) {
                snprintf(q25, sizeof q25, "%.6g", cJSON_GetArrayItem(q, 25)->valuedouble);
                snprintf(q50, sizeof q50, "%.6g", cJSON_GetArrayItem(q, 50)->valuedouble);
                snprintf(q75, sizeof q75, "%.6g", cJSON_GetArrayItem(q, 75)->valuedouble);
            }
            if (strcmp(type, "timestamp") == 0) {
                const cJSON *so = cJSON_GetObjectItemCaseSensitive(s, "sorted");
                snprintf(mean, sizeof mean, "%s", cJSON_IsTrue(so) ? "sorted" : "unsorted");
                snprintf(sd, sizeof sd, "-");
            }
            const char *cells[] = {name, type, count, nulls, mn, q25, q50, q75, mx, mean, sd};
            cli_table_add(&tn, cells);
        }
    }
    if (tn.n_rows) {
        cli_table_print(&tn, stdout);
        if (ts.n_rows)
            printf("\n");
    }
    if (ts.n_rows)
        cli_table_print(&ts, stdout);
    cli_table_reset(&tn);
    cli_table_reset(&ts);
    cJSON_Delete(cols);
    cJSON_Delete(stats);
    return 0;
}
