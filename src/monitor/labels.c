/*
 * labels.c -- delayed ground truth (labels.h): reading a label file into the
 * home's labels table, and loading every stored label into an index the
 * monitor joins against. The join itself is the monitor's.
 *
 * Reading. The file goes through the ordinary readers (CSV or JSON Lines,
 * plain or gzip), with the key, label and time columns forced to strings:
 * a key "007" or a label "1.50" stays exactly as written (a JSON number keeps
 * its text too), and the time is parsed here, so that both ISO 8601 and epoch
 * seconds are accepted and a bad one is reported at its line. Frames do not
 * keep line numbers; the rare message that needs one (the first skipped row,
 * a bad time) finds it by scanning the file again the way the reader splits
 * records.
 *
 * Storing. One IMMEDIATE transaction for the whole file: every row looks its
 * identity up first and is then inserted, left alone (a duplicate) or updated
 * (a corrected label), so rows of one file apply in order and the counts say
 * what happened. Any error rolls everything back.
 *
 * Loading. The table is WITHOUT ROWID with the primary key (kind, key, ktime),
 * so reading it in key order costs no sort: entity labels ('entity' sorts
 * before 'request') by entity, then time, then request labels by id. SQLite's
 * BINARY collation is memcmp then length, the order the binary searches below
 * use. Keys and values go into one arena sized exactly by a first query, so a
 * million labels are two scans and three allocations.
 */
#include "monitor/labels.h"

#include "data/reader.h"
#include "registry/registry.h"

#include <stdio.h>
#include <string.h>

#define KEY_REQUEST "request_id"

struct cairn_labels {
    cairn_label *items;
    size_t n;
    size_t n_entity;   /* items[0..n_entity) are entity labels, the rest request labels */
    char *arena;       /* every key and value, NUL-terminated */
};

/* ---- where a row came from --------------------------------------------------------------- */

/*
 * The 1-based line where record `record` starts, scanning the file the way
 * the readers split it. CSV: records end at LF, CRLF or a lone CR outside
 * quotes, empty lines are skipped, and record 0 is the header. JSON Lines:
 * lines end at LF, lines of only blanks are skipped, and record 0 is the
 * first row. Returns 0 when the file cannot be read again or is shorter (the
 * message then names the file alone).
 */
static long record_line(const char *path, cairn_format fmt, size_t record)
{
    cairn_input in;
    if (cairn_input_open(path, &in, NULL) != CAIRN_OK)
        return 0;
    const char *p = in.data, *e = in.data + in.len;
    long line = 1, found = 0;
    if (fmt == CAIRN_FORMAT_JSONL) {
        size_t seen = 0;
        while (p < e && !found) {
            const char *nl = memchr(p, '\n', (size_t)(e - p));
            const char *le = nl ? nl : e, *q = p;
            if (line == 1 && le - p >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
                q += 3;
            while (q < le && (*q == ' ' || *q == '\t' || *q == '\r'))
                q++;
            if (q < le && seen++ == record)
                found = line;
            line++;
            p = nl ? nl + 1 : e;
        }
    } else {
        size_t seen = 0;
        bool in_q = false, at_start = true;
        for (; p < e; p++) {
            char ch = *p;
            if (at_start && ch != '\n' && ch != '\r') {
                if (seen++ == record) {
                    found = line;
                    break;
                }
                at_start = false;
            }
            if (ch == '"') {
                in_q = !in_q;
            } else if (ch == '\n' || ch == '\r') {
                if (ch == '\r' && p + 1 < e && p[1] == '\n')
                    p++;
                line++;
                if (!in_q)
                    at_start = true;
            }
        }
    }
    cairn_input_close(&in);
    return found;
}

/* The line of data row `row` (CSV rows come after the header record). */
static long row_line(const char *path, cairn_format fmt, size_t row)
{
    return record_line(path, fmt, fmt == CAIRN_FORMAT_CSV ? row + 1 : row);
}

/* ---- adding ------------------------------------------------------------------------------ */

static const char sql_find[] =
    "SELECT value FROM labels WHERE kind = ?1 AND key = ?2 AND ktime = ?3";
static const char sql_insert[] =
    "INSERT INTO labels(kind, key, ktime, time_us, value, added_at, source)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
static const char sql_update[] =
    "UPDATE labels SET time_us = ?4, value = ?5, added_at = ?6, source = ?7"
    " WHERE kind = ?1 AND key = ?2 AND ktime = ?3";

/* The column of f named name, or an error naming the columns there are, at the header
 * (CSV) or the first row (JSON Lines). */
static cairn_status find_column(const cairn_frame *f, const char *name, const char *what,
                                const char *path, cairn_format fmt, const cairn_column **out,
                                cairn_error *err)
{
    long j = cairn_frame_find(f, name);
    if (j >= 0) {
        *out = &f->cols[j];
        return CAIRN_OK;
    }
    cairn_buf b;
    cairn_buf_init(&b);
    for (size_t i = 0; i < f->n_cols && i < 20; i++)
        cairn_buf_printf(&b, "%s%s", i ? ", " : "", f->cols[i].name);
    if (f->n_cols > 20)
        cairn_buf_puts(&b, ", ...");
    char *cols = cairn_buf_take(&b);
    cairn_status st = cairn_error_at(err, CAIRN_EINPUT, path, record_line(path, fmt, 0), 0,
                                     "no %s column '%s' in the file (columns: %s)", what, name,
                                     cols ? cols : "?");
    cairn_free(cols);
    return st;
}

/* The string of column c at row (valid rows only), with its length. */
static const char *cell(const cairn_column *c, size_t row, size_t *len)
{
    uint32_t code = c->v.codes[row];
    *len = cairn_dict_len(&c->dict, code);
    return cairn_dict_str(&c->dict, code);
}

/* Binds the identity (?1 kind, ?2 key, ?3 ktime) of a label to s. */
static int bind_identity(sqlite3_stmt *s, const char *kind, const char *key, size_t key_len,
                         int64_t ktime)
{
    int rc = sqlite3_bind_text(s, 1, kind, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(s, 2, key, (int)key_len, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(s, 3, ktime);
    return rc;
}

/* Binds what a stored label holds besides its identity (?4..?7). */
static int bind_payload(sqlite3_stmt *s, int64_t time_us, const char *value, size_t value_len,
                        const char *added_at, const char *source)
{
    int rc = sqlite3_bind_int64(s, 4, time_us);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(s, 5, value, (int)value_len, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(s, 6, added_at, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(s, 7, source, -1, SQLITE_STATIC);
    return rc;
}

/* Runs a statement that returns no rows, then makes it ready for the next use. */
static int step_done(sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static cairn_status count_labels(cairn_home *h, uint64_t *out, cairn_error *err)
{
    sqlite3_stmt *s = NULL;
    cairn_status st = CAIRN_OK;
    int rc = sqlite3_prepare_v2(h->db, "SELECT COUNT(*) FROM labels", -1, &s, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        *out = (uint64_t)sqlite3_column_int64(s, 0);
        rc = SQLITE_OK;
    }
    if (rc != SQLITE_OK)
        st = cairn_home_sql_error(h->db, rc, h->db_path, "cannot count the labels", err);
    sqlite3_finalize(s);
    return st;
}

cairn_status cairn_labels_add(cairn_home *h, const cairn_labels_add_opts *o,
                              cairn_labels_add_result *out, cairn_error *err)
{
    static const char what[] = "cannot store the labels";
    cairn_labels_add_result r = {0};
    cairn_frame *f = NULL;
    sqlite3_stmt *find = NULL, *ins = NULL, *upd = NULL;
    bool in_tx = false;
    cairn_status st = CAIRN_OK;
    char now[32];
    memset(out, 0, sizeof *out);

    if (!h || !o || !o->path || !*o->path)
        return cairn_error_set(err, CAIRN_EINVAL, NULL, "labels: no file given");
    if (!o->key || !*o->key || !o->label || !*o->label)
        return cairn_error_set(err, CAIRN_EINVAL, o->path,
                               "labels: the key and the label column are required");
    const bool by_entity = strcmp(o->key, KEY_REQUEST) != 0;
    const char *time_col = o->time && *o->time ? o->time : NULL;
    if (by_entity && !time_col)
        return cairn_error_set(err, CAIRN_EINVAL, o->path,
                               "labels keyed by entity ('%s') need the time column", o->key);
    cairn_format fmt = CAIRN_FORMAT_AUTO;
    if (o->format && strcmp(o->format, "csv") == 0)
        fmt = CAIRN_FORMAT_CSV;
    else if (o->format && strcmp(o->format, "jsonl") == 0)
        fmt = CAIRN_FORMAT_JSONL;
    else if (o->format)
        return cairn_error_set(err, CAIRN_EINVAL, o->path,
                               "unknown format '%s' (use csv or jsonl)", o->format);
    if (fmt == CAIRN_FORMAT_AUTO) {
        /* The same rule as cairn_read_path, resolved here for row_line. */
        size_t n = strlen(o->path);
        static const char *const jl[] = {".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz"};
        fmt = CAIRN_FORMAT_CSV;
        for (size_t i = 0; i < CAIRN_ARRAY_LEN(jl); i++) {
            size_t m = strlen(jl[i]);
            if (n >= m && strcmp(o->path + n - m, jl[i]) == 0)
                fmt = CAIRN_FORMAT_JSONL;
        }
    }

    /* Key, label and time are read as text, whatever they look like. */
    const char *names[3] = {o->key, o->label, time_col};
    const cairn_type types[3] = {CAIRN_TYPE_STRING, CAIRN_TYPE_STRING, CAIRN_TYPE_STRING};
    cairn_type_overrides ov = {names, types, time_col ? 3u : 2u};
    cairn_reader_cfg cfg;
    cairn_reader_cfg_from_opts(&cfg, NULL);
    cfg.overrides = &ov;
    if ((st = cairn_read_path(o->path, fmt, &cfg, &f, err)) != CAIRN_OK)
        goto done;

    const cairn_column *ck = NULL, *cl = NULL, *ct = NULL;
    if ((st = find_column(f, o->key, by_entity ? "entity" : "request id", o->path, fmt,
                          &ck, err)) != CAIRN_OK ||
        (st = find_column(f, o->label, "label", o->path, fmt, &cl, err)) != CAIRN_OK ||
        (time_col &&
         (st = find_column(f, time_col, "time", o->path, fmt, &ct, err)) != CAIRN_OK))
        goto done;

    int rc = sqlite3_prepare_v2(h->db, sql_find, -1, &find, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(h->db, sql_insert, -1, &ins, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(h->db, sql_update, -1, &upd, NULL);
    if (rc != SQLITE_OK) {
        st = cairn_home_sql_error(h->db, rc, h->db_path, what, err);
        goto done;
    }
    cairn_now_iso(now, sizeof now);
    const char *kind = by_entity ? "entity" : "request";
    if ((st = cairn_home_exec(h, "BEGIN IMMEDIATE", what, err)) != CAIRN_OK)
        goto done;
    in_tx = true;

    r.rows = f->n_rows;
    for (size_t i = 0; i < f->n_rows; i++) {
        if (!ck->valid[i] || !cl->valid[i] || (ct && !ct->valid[i])) {
            if (r.skipped++ == 0)
                r.first_skipped_line = (uint64_t)row_line(o->path, fmt, i);
            continue;
        }
        size_t key_len, value_len, time_len = 0;
        const char *key = cell(ck, i, &key_len), *value = cell(cl, i, &value_len);
        const char *ts = ct ? cell(ct, i, &time_len) : NULL;
        if (memchr(key, '\0', key_len) || memchr(value, '\0', value_len) || key_len > INT32_MAX ||
            value_len > INT32_MAX) {
            st = cairn_error_at(err, CAIRN_EINPUT, o->path, row_line(o->path, fmt, i), 0,
                                "a key or label holding a NUL character cannot be stored");
            goto done;
        }
        int64_t time_us = 0;
        if (ts && !cairn_parse_time(ts, time_len, &time_us)) {
            st = cairn_error_at(err, CAIRN_EINPUT, o->path, row_line(o->path, fmt, i), 0,
                                "time \"%.*s\" in column '%s' is neither ISO 8601 nor seconds "
                                "since the epoch", time_len > 64 ? 64 : (int)time_len, ts,
                                time_col);
            goto done;
        }
        int64_t ktime = by_entity ? time_us : 0;

        /* What is stored under this identity decides: insert, nothing, or update. */
        rc = bind_identity(find, kind, key, key_len, ktime);
        if (rc == SQLITE_OK)
            rc = sqlite3_step(find);
        sqlite3_stmt *write = NULL;
        if (rc == SQLITE_DONE) {
            write = ins;
            r.added++;
            rc = SQLITE_OK;
        } else if (rc == SQLITE_ROW) {
            const void *old = sqlite3_column_blob(find, 0);
            size_t old_len = (size_t)sqlite3_column_bytes(find, 0);
            bool same = old_len == value_len && (value_len == 0 || memcmp(old, value, value_len) == 0);
            if (same) {
                r.duplicates++;
            } else {
                write = upd;
                r.changed++;
            }
            rc = SQLITE_OK;
        }
        sqlite3_reset(find);
        sqlite3_clear_bindings(find);
        if (rc == SQLITE_OK && write) {
            rc = bind_identity(write, kind, key, key_len, ktime);
            if (rc == SQLITE_OK)
                rc = bind_payload(write, time_us, value, value_len, now, o->path);
            if (rc == SQLITE_OK)
                rc = step_done(write);
        }
        if (rc != SQLITE_OK) {
            st = cairn_home_sql_error(h->db, rc, h->db_path, what, err);
            goto done;
        }
    }
    if ((st = count_labels(h, &r.total, err)) != CAIRN_OK)
        goto done;
    cairn_home_crash_point("labels-before-commit");
    if ((st = cairn_home_exec(h, "COMMIT", what, err)) != CAIRN_OK)
        goto done;
    in_tx = false;
    *out = r;
done:
    if (in_tx && !sqlite3_get_autocommit(h->db))
        sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_finalize(find);
    sqlite3_finalize(ins);
    sqlite3_finalize(upd);
    cairn_frame_free(f);
    return st;
}

/* ---- loading ----------------------------------------------------------------------------- */

void cairn_labels_free(cairn_labels *l)
{
    if (!l)
        return;
    cairn_free(l->items);
    cairn_free(l->arena);
    cairn_free(l);
}

/* Read-only statements run in one read transaction unless the caller has one open. */
static cairn_status read_begin(cairn_home *h, bool *began, cairn_error *err)
{
    *began = false;
    if (!sqlite3_get_autocommit(h->db))
        return CAIRN_OK;
    cairn_status st = cairn_home_exec(h, "BEGIN", "cannot read the labels", err);
    *began = st == CAIRN_OK;
    return st;
}

static void read_end(cairn_home *h, bool began)
{
    if (began && !sqlite3_get_autocommit(h->db))
        sqlite3_exec(h->db, "COMMIT", NULL, NULL, NULL); /* read only: nothing to lose */
}

cairn_status cairn_labels_load(cairn_home *h, cairn_labels **out, cairn_error *err)
{
    static const char what[] = "cannot read the labels";
    sqlite3_stmt *s = NULL;
    cairn_labels *l = NULL;
    bool began = false;
    cairn_status st;
    *out = NULL;
    if ((st = read_begin(h, &began, err)) != CAIRN_OK)
        return st;
    l = cairn_calloc(1, sizeof *l);
    if (!l) {
        st = cairn_error_set(err, CAIRN_ENOMEM, h->db_path, "out of memory loading labels");
        goto done;
    }

    /* Sizes first (bytes, not characters: length() of a BLOB), so everything is allocated once. */
    int rc = sqlite3_prepare_v2(h->db,
                                "SELECT COUNT(*), COALESCE(SUM(length(CAST(key AS BLOB)) +"
                                " length(CAST(value AS BLOB))), 0) FROM labels",
                                -1, &s, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW)
        rc = SQLITE_OK;
    if (rc != SQLITE_OK) {
        st = cairn_home_sql_error(h->db, rc, h->db_path, what, err);
        goto done;
    }
    sqlite3_int64 n64 = sqlite3_column_int64(s, 0), bytes64 = sqlite3_column_int64(s, 1);
    sqlite3_finalize(s);
    s = NULL;
    size_t n = (size_t)n64, arena_len;
    if (n64 < 0 || bytes64 < 0 || (uint64_t)n64 > SIZE_MAX / 2 ||
        __builtin_add_overflow((size_t)bytes64, 2 * n, &arena_len)) {
        st = cairn_error_set(err, CAIRN_ETOOBIG, h->db_path, "too many labels to load");
        goto done;
    }
    l->items = cairn_calloc(n ? n : 1, sizeof *l->items);
    l->arena = cairn_malloc(arena_len ? arena_len : 1);
    if (!l->items || !l->arena) {
        st = cairn_error_set(err, CAIRN_ENOMEM, h->db_path, "out of memory loading %zu labels", n);
        goto done;
    }

    rc = sqlite3_prepare_v2(h->db,
                            "SELECT kind, key, time_us, value FROM labels"
                            " ORDER BY kind, key, ktime",
                            -1, &s, NULL);
    if (rc != SQLITE_OK) {
        st = cairn_home_sql_error(h->db, rc, h->db_path, what, err);
        goto done;
    }
    size_t used = 0;
    bool seen_request = false;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *kind = (const char *)sqlite3_column_text(s, 0);
        bool entity = kind && strcmp(kind, "entity") == 0;
        const void *key = sqlite3_column_blob(s, 1);
        size_t key_len = (size_t)sqlite3_column_bytes(s, 1);
        const void *value = sqlite3_column_blob(s, 3);
        size_t value_len = (size_t)sqlite3_column_bytes(s, 3);
        /* The sizes were read in this same transaction; a mismatch is damage, as is an
         * entity label after the request labels (the order the index promises). */
        if (l->n >= n || key_len + value_len + 2 > arena_len - used || (entity && seen_request) ||
            (!entity && (!kind || strcmp(kind, "request") != 0))) {
            st = cairn_error_set(err, CAIRN_ECORRUPT, h->db_path,
                                 "the labels table changed or is damaged while being read");
            goto done;
        }
        cairn_label *lb = &l->items[l->n++];
        char *k = l->arena + used;
        if (key_len)
            memcpy(k, key, key_len);
        k[key_len] = '\0';
        char *v = k + key_len + 1;
        if (value_len)
            memcpy(v, value, value_len);
        v[value_len] = '\0';
        used += key_len + value_len + 2;
        lb->key = k;
        lb->value = v;
        lb->time_us = sqlite3_column_int64(s, 2);
        lb->by_entity = entity;
        if (entity)
            l->n_entity++;
        else
            seen_request = true;
    }
    if (rc != SQLITE_DONE) {
        st = cairn_home_sql_error(h->db, rc, h->db_path, what, err);
        goto done;
    }
    *out = l;
    l = NULL;
done:
    sqlite3_finalize(s);
    read_end(h, began);
    cairn_labels_free(l);
    return st;
}

size_t cairn_labels_count(const cairn_labels *l)
{
    return l ? l->n : 0;
}

const cairn_label *cairn_labels_get(const cairn_labels *l, size_t i)
{
    return l && i < l->n ? &l->items[i] : NULL;
}

/*
 * key (NUL-terminated, no NUL inside) against id[0..len) (no NUL inside) in
 * SQLite's BINARY order: bytes as unsigned, then the shorter first.
 */
static int key_cmp(const char *key, const char *id, size_t len)
{
    int c = strncmp(key, id, len); /* unsigned bytes; stops early only at key's end */
    if (c != 0)
        return c;
    return key[len] != '\0'; /* equal over len bytes: key is longer or the same */
}

/* The first index in [lo, hi) whose key is not below id. */
static size_t lower_bound(const cairn_labels *l, size_t lo, size_t hi, const char *id, size_t len)
{
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (key_cmp(l->items[mid].key, id, len) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

size_t cairn_labels_find_request(const cairn_labels *l, const char *id, size_t len)
{
    if (!l || (!id && len) || (len && memchr(id, '\0', len)))
        return SIZE_MAX;
    size_t i = lower_bound(l, l->n_entity, l->n, id ? id : "", len);
    if (i < l->n && key_cmp(l->items[i].key, id ? id : "", len) == 0)
        return i;
    return SIZE_MAX;
}

size_t cairn_labels_find_entity(const cairn_labels *l, const char *entity, size_t len,
                                size_t *first)
{
    *first = SIZE_MAX;
    if (!l || (!entity && len) || (len && memchr(entity, '\0', len)))
        return 0;
    const char *e = entity ? entity : "";
    size_t i = lower_bound(l, 0, l->n_entity, e, len), j = i;
    while (j < l->n_entity && key_cmp(l->items[j].key, e, len) == 0)
        j++;
    if (j > i)
        *first = i;
    return j - i;
}

/* ---- summary ----------------------------------------------------------------------------- */

cairn_status cairn_labels_summarize(cairn_home *h, cairn_labels_summary *out, cairn_error *err)
{
    static const char what[] = "cannot summarize the labels";
    sqlite3_stmt *s = NULL;
    bool began = false;
    cairn_labels_summary r = {0};
    memset(out, 0, sizeof *out);
    cairn_status st = read_begin(h, &began, err);
    if (st != CAIRN_OK)
        return st;
    int rc = sqlite3_prepare_v2(h->db,
                                "SELECT kind, COUNT(*), COUNT(DISTINCT key), MIN(time_us),"
                                " MAX(time_us) FROM labels GROUP BY kind",
                                -1, &s, NULL);
    while (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *kind = (const char *)sqlite3_column_text(s, 0);
        if (kind && strcmp(kind, "entity") == 0) {
            r.entity_labels = (uint64_t)sqlite3_column_int64(s, 1);
            r.entities = (uint64_t)sqlite3_column_int64(s, 2);
            r.first_time_us = sqlite3_column_int64(s, 3);
            r.last_time_us = sqlite3_column_int64(s, 4);
        } else {
            r.request_labels += (uint64_t)sqlite3_column_int64(s, 1);
        }
        rc = SQLITE_OK;
    }
    if (rc == SQLITE_DONE) {
        sqlite3_finalize(s);
        s = NULL;
        /* The index on added_at makes this a lookup rather than a scan. */
        rc = sqlite3_prepare_v2(h->db, "SELECT MAX(added_at) FROM labels", -1, &s, NULL);
        if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
            const unsigned char *t = sqlite3_column_text(s, 0);
            snprintf(r.last_added_at, sizeof r.last_added_at, "%s", t ? (const char *)t : "");
            rc = SQLITE_OK;
        }
    }
    if (rc != SQLITE_OK && rc != SQLITE_DONE) {
        st = cairn_home_sql_error(h->db, rc, h->db_path, what, err);
        goto done;
    }
    *out = r;
done:
    sqlite3_finalize(s);
    read_end(h, began);
    return st;
}
