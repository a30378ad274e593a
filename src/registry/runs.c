/*
 * runs.c -- the experiment-tracking store: one row per training run in
 * `runs` (what was trained on which data version, how, with what outcome,
 * and the fitted states) and the model's test metrics in `run_metrics`, kept
 * apart so that listing can sort by a metric with a join instead of parsing
 * eval JSON.
 *
 * A run is written once, with its metrics, in one IMMEDIATE transaction, and
 * never changed afterwards. Ids are "r-" + 12 random hex digits (48 bits);
 * a colliding id is refused at insert rather than overwriting anything.
 * Lookups accept a unique prefix: the match is a range on the primary key
 * (prefix <= id < prefix with its last digit incremented), which holds exactly
 * the ids starting with the prefix because ids are lowercase hex only, uses
 * the index, and needs no LIKE pattern escaping. Reads run in one read
 * transaction (when the caller has none open) so that a run and its metrics
 * come from the same snapshot of the database.
 *
 * Metric values that are NaN are stored as NULL (SQLite has no NaN) and come
 * back as NaN; a run whose sort metric is missing or NULL lists after every
 * run that has it.
 */
#include "registry/registry.h"

#include <math.h>
#include <sodium.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/*
 * The record's string fields, in the column order of every query below (the
 * column names are the field names). The fixed columns follow them:
 * id, duration_s, seed, dataset_version, then the three states.
 */
#define RUN_TEXT_FIELDS(X)                                                                         \
    X(model) X(status) X(error) X(started_at) X(finished_at) X(spec_text) X(spec_json)             \
    X(dataset_name) X(dataset_hash) X(contract_hash) X(code_version) X(build_json)                 \
    X(stages_json) X(split_json) X(eval_json) X(findings_json) X(gates_json) X(model_type)         \
    X(state_hash) X(refstats_json)

#define AS_COL(f) "r." #f ", "
#define AS_PARAM(f) "?, "
#define AS_NAME(f) #f ", "
#define AS_OFFSET(f) offsetof(cairn_run_record, f),

static const size_t text_offsets[] = {RUN_TEXT_FIELDS(AS_OFFSET)};
#define N_TEXT (sizeof text_offsets / sizeof *text_offsets)

/* Result columns after the text ones. */
enum { COL_ID = N_TEXT, COL_DURATION, COL_SEED, COL_DATASET_VERSION, COL_STATES };

#define FIXED_COLS "r.id, r.duration_s, r.seed, r.dataset_version"
#define STATE_COLS "r.transform_state, r.model_state, r.baseline_state"

/* The three states, in column order. */
static const struct {
    size_t ptr, len;
    const char *what;
} state_fields[] = {
    {offsetof(cairn_run_record, transform_state), offsetof(cairn_run_record, transform_state_len),
     "transform_state"},
    {offsetof(cairn_run_record, model_state), offsetof(cairn_run_record, model_state_len),
     "model_state"},
    {offsetof(cairn_run_record, baseline_state), offsetof(cairn_run_record, baseline_state_len),
     "baseline_state"},
};

static char **text_field(cairn_run_record *r, size_t i)
{
    return (char **)(void *)((char *)r + text_offsets[i]);
}

static const char *text_value(const cairn_run_record *r, size_t i)
{
    return *(char *const *)(const void *)((const char *)r + text_offsets[i]);
}

static uint8_t **state_ptr(cairn_run_record *r, size_t i)
{
    return (uint8_t **)(void *)((char *)r + state_fields[i].ptr);
}

static size_t *state_len(cairn_run_record *r, size_t i)
{
    return (size_t *)(void *)((char *)r + state_fields[i].len);
}

static const uint8_t *state_value(const cairn_run_record *r, size_t i, size_t *len)
{
    *len = *(const size_t *)(const void *)((const char *)r + state_fields[i].len);
    return *(uint8_t *const *)(const void *)((const char *)r + state_fields[i].ptr);
}

void cairn_run_record_reset(cairn_run_record *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < N_TEXT; i++)
        cairn_free(*text_field(r, i));
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(state_fields); i++)
        cairn_free(*state_ptr(r, i));
    cairn_free(r->metrics);
    memset(r, 0, sizeof *r);
}

void cairn_run_new_id(char out[CAIRN_RUN_ID_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char b[(CAIRN_RUN_ID_LEN - 2) / 2];
    /* sodium_init is idempotent and thread-safe and picks the random source.
     * Should it fail (-1), randombytes_buf still works on its default source
     * once stirred, so that is not an error here. */
    if (sodium_init() < 0)
        randombytes_stir();
    randombytes_buf(b, sizeof b);
    out[0] = 'r';
    out[1] = '-';
    for (size_t i = 0; i < sizeof b; i++) {
        out[2 + 2 * i] = hex[b[i] >> 4];
        out[3 + 2 * i] = hex[b[i] & 15];
    }
    out[CAIRN_RUN_ID_LEN] = '\0';
}

void cairn_run_state_hash(const cairn_run_record *r, char out[CAIRN_HASH_HEX])
{
    cairn_hasher hs;
    unsigned char digest[CAIRN_HASH_BYTES];
    cairn_hasher_init(&hs);
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(state_fields); i++) {
        size_t len;
        const uint8_t *p = state_value(r, i, &len);
        uint64_t n = p ? (uint64_t)len : 0;
        unsigned char le[8];
        for (int k = 0; k < 8; k++)
            le[k] = (unsigned char)(n >> (8 * k));
        cairn_hasher_update(&hs, le, sizeof le);
        if (n)
            cairn_hasher_update(&hs, p, (size_t)n);
    }
    cairn_hasher_final(&hs, digest);
    cairn_hash_hex(digest, out);
}

static bool is_hex_lower(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* A full id: "r-" + exactly 12 lowercase hex digits. */
static bool id_valid(const char *id)
{
    if (id[0] != 'r' || id[1] != '-')
        return false;
    for (size_t i = 2; i < CAIRN_RUN_ID_LEN; i++)
        if (!is_hex_lower(id[i]))
            return false;
    return id[CAIRN_RUN_ID_LEN] == '\0';
}

/* ---- storing ---------------------------------------------------------------- */

/* Everything cairn_run_store refuses before touching the database. */
static cairn_status validate(const cairn_run_record *r, cairn_error *err)
{
    char id[CAIRN_RUN_ID_LEN + 1];
    /* The id array may hold anything: print it only up to its size. */
    snprintf(id, sizeof id, "%.*s", CAIRN_RUN_ID_LEN, r->id);
    if (!memchr(r->id, '\0', sizeof r->id) || !id_valid(r->id))
        return cairn_error_set(err, CAIRN_EINVAL, id,
                               "invalid run id '%s': expected r- and 12 lowercase hex digits", id);
    if (!r->status || (strcmp(r->status, "succeeded") != 0 && strcmp(r->status, "failed") != 0))
        return cairn_error_set(err, CAIRN_EINVAL, id,
                               "run %s: status must be \"succeeded\" or \"failed\", not %s%s%s",
                               id, r->status ? "\"" : "", r->status ? r->status : "none",
                               r->status ? "\"" : "");
    if (!r->model)
        return cairn_error_set(err, CAIRN_EINVAL, id, "run %s has no model name", id);
    if (!r->started_at)
        return cairn_error_set(err, CAIRN_EINVAL, id, "run %s has no start time", id);
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(state_fields); i++) {
        size_t len;
        if (!state_value(r, i, &len) && len)
            return cairn_error_set(err, CAIRN_EINVAL, id,
                                   "run %s: %s has a length (%zu) but no bytes", id,
                                   state_fields[i].what, len);
    }
    if (r->n_metrics && !r->metrics)
        return cairn_error_set(err, CAIRN_EINVAL, id, "run %s: %zu metrics but no array", id,
                               r->n_metrics);
    for (size_t i = 0; i < r->n_metrics; i++) {
        const char *nm = r->metrics[i].name;
        size_t n = strnlen(nm, sizeof r->metrics[i].name);
        if (n == 0 || n == sizeof r->metrics[i].name)
            return cairn_error_set(err, CAIRN_EINVAL, id,
                                   "run %s: metric %zu has an empty or unterminated name", id, i);
        for (size_t j = 0; j < i; j++)
            if (strcmp(r->metrics[j].name, nm) == 0)
                return cairn_error_set(err, CAIRN_EINVAL, id, "run %s: metric %s appears twice",
                                       id, nm);
    }
    return CAIRN_OK;
}

static int bind_text_or_null(sqlite3_stmt *s, int idx, const char *t)
{
    return t ? sqlite3_bind_text(s, idx, t, -1, SQLITE_STATIC) : sqlite3_bind_null(s, idx);
}

static int bind_real_or_null(sqlite3_stmt *s, int idx, double v)
{
    return isnan(v) ? sqlite3_bind_null(s, idx) : sqlite3_bind_double(s, idx, v);
}

/* True when the id is taken (read inside the caller's write transaction). */
static cairn_status id_taken(cairn_home *h, const char *id, bool *taken, cairn_error *err)
{
    sqlite3_stmt *s = NULL;
    cairn_status st = CAIRN_OK;
    *taken = false;
    int rc = sqlite3_prepare_v2(h->db, "SELECT 1 FROM runs WHERE id = ?1", -1, &s, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
        rc = sqlite3_step(s);
        *taken = rc == SQLITE_ROW;
        if (rc == SQLITE_ROW || rc == SQLITE_DONE)
            rc = SQLITE_OK;
    }
    if (rc != SQLITE_OK)
        st = cairn_home_sql_error(h->db, rc, h->db_path, "cannot read runs", err);
    sqlite3_finalize(s);
    return st;
}

static cairn_status insert_run(cairn_home *h, const cairn_run_record *r, cairn_error *err)
{
    static const char sql[] = "INSERT INTO runs(" RUN_TEXT_FIELDS(AS_NAME)
        "id, duration_s, seed, dataset_version, transform_state, model_state, baseline_state)"
        " VALUES (" RUN_TEXT_FIELDS(AS_PARAM) "?, ?, ?, ?, ?, ?, ?)";
    sqlite3_stmt *s = NULL;
    cairn_status st = CAIRN_OK;
    int rc = sqlite3_prepare_v2(h->db, sql, -1, &s, NULL);
    int idx = 1;
    for (size_t i = 0; i < N_TEXT && rc == SQLITE_OK; i++)
        rc = bind_text_or_null(s, idx++, text_value(r, i));
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(s, idx++, r->id, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = bind_real_or_null(s, idx++, r->duration_s);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(s, idx++, r->seed);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(s, idx++, r->dataset_version);
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(state_fields) && rc == SQLITE_OK; i++) {
        size_t len;
        const uint8_t *p = state_value(r, i, &len);
        /* A present, empty state stays an empty blob, distinct from NULL. */
        rc = p ? sqlite3_bind_blob64(s, idx++, len ? (const void *)p : "", len, SQLITE_STATIC)
               : sqlite3_bind_null(s, idx++);
    }
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(s);
        if (rc == SQLITE_DONE)
            rc = SQLITE_OK;
    }
    if (rc != SQLITE_OK)
        st = cairn_home_sql_error(h->db, rc, h->db_path, "cannot record the run", err);
    sqlite3_finalize(s);
    return st;
}

static cairn_status insert_metrics(cairn_home *h, const cairn_run_record *r, cairn_error *err)
{
    sqlite3_stmt *s = NULL;
    cairn_status st = CAIRN_OK;
    int rc = SQLITE_OK;
    if (!r->n_metrics)
        return CAIRN_OK;
    rc = sqlite3_prepare_v2(h->db,
                            "INSERT INTO run_metrics(run_id, name, estimate, lo, hi)"
                            " VALUES (?1, ?2, ?3, ?4, ?5)",
                            -1, &s, NULL);
    for (size_t i = 0; i < r->n_metrics && rc == SQLITE_OK; i++) {
        const cairn_run_metric *m = &r->metrics[i];
        sqlite3_reset(s);
        rc = sqlite3_bind_text(s, 1, r->id, -1, SQLITE_STATIC);
        if (rc == SQLITE_OK)
            rc = sqlite3_bind_text(s, 2, m->name, -1, SQLITE_STATIC);
        if (rc == SQLITE_OK)
            rc = bind_real_or_null(s, 3, m->estimate);
        if (rc == SQLITE_OK)
            rc = bind_real_or_null(s, 4, m->lo);
        if (rc == SQLITE_OK)
            rc = bind_real_or_null(s, 5, m->hi);
        if (rc == SQLITE_OK) {
            rc = sqlite3_step(s);
            if (rc == SQLITE_DONE)
                rc = SQLITE_OK;
        }
    }
    if (rc != SQLITE_OK)
        st = cairn_home_sql_error(h->db, rc, h->db_path, "cannot record the run's metrics", err);
    sqlite3_finalize(s);
    return st;
}

cairn_status cairn_run_store(cairn_home *h, const cairn_run_record *r, cairn_error *err)
{
    bool in_tx = false, taken;
    cairn_status st = validate(r, err);
    if (st != CAIRN_OK)
        return st;
    st = cairn_home_exec(h, "BEGIN IMMEDIATE", "cannot start recording the run", err);
    if (st != CAIRN_OK)
        goto done;
    in_tx = true;
    if ((st = id_taken(h, r->id, &taken, err)) != CAIRN_OK)
        goto done;
    if (taken) {
        st = cairn_error_set(err, CAIRN_EINVAL, r->id, "run %s already exists", r->id);
        goto done;
    }
    if ((st = insert_run(h, r, err)) != CAIRN_OK || (st = insert_metrics(h, r, err)) != CAIRN_OK)
        goto done;
    st = cairn_home_exec(h, "COMMIT", "cannot commit the run", err);
    if (st == CAIRN_OK)
        in_tx = false;
done:
    if (in_tx && !sqlite3_get_autocommit(h->db))
        sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
    return st;
}

/* ---- reading ---------------------------------------------------------------- */

/* A read transaction, unless the caller already has a transaction open. */
static cairn_status read_begin(cairn_home *h, bool *began, cairn_error *err)
{
    *began = false;
    if (!sqlite3_get_autocommit(h->db))
        return CAIRN_OK;
    cairn_status st = cairn_home_exec(h, "BEGIN", "cannot read runs", err);
    *began = st == CAIRN_OK;
    return st;
}

static void read_end(cairn_home *h, bool began)
{
    if (began && !sqlite3_get_autocommit(h->db))
        sqlite3_exec(h->db, "COMMIT", NULL, NULL, NULL); /* read only: nothing to lose */
}

/* A copy of a text column; NULL stays NULL. *ok is false when out of memory. */
static char *column_strdup(sqlite3_stmt *s, int col, bool *ok)
{
    if (sqlite3_column_type(s, col) == SQLITE_NULL)
        return NULL;
    const unsigned char *t = sqlite3_column_text(s, col);
    int n = sqlite3_column_bytes(s, col);
    char *d = t ? cairn_strndup((const char *)t, (size_t)n) : NULL;
    if (!d)
        *ok = false;
    return d;
}

static double column_real(sqlite3_stmt *s, int col)
{
    return sqlite3_column_type(s, col) == SQLITE_NULL ? NAN : sqlite3_column_double(s, col);
}

/* Fills r (zeroed) from a row of the run queries; CAIRN_ENOMEM leaves it for
 * the caller to reset. */
static cairn_status record_from_row(sqlite3_stmt *s, bool with_states, cairn_run_record *r)
{
    bool ok = true;
    for (size_t i = 0; i < N_TEXT; i++)
        *text_field(r, i) = column_strdup(s, (int)i, &ok);
    const unsigned char *id = sqlite3_column_text(s, COL_ID);
    snprintf(r->id, sizeof r->id, "%s", id ? (const char *)id : "");
    r->duration_s = column_real(s, COL_DURATION);
    r->seed = sqlite3_column_type(s, COL_SEED) == SQLITE_NULL ? -1
                                                              : sqlite3_column_int64(s, COL_SEED);
    r->dataset_version = sqlite3_column_int(s, COL_DATASET_VERSION);
    for (size_t i = 0; with_states && i < CAIRN_ARRAY_LEN(state_fields); i++) {
        int col = COL_STATES + (int)i;
        if (sqlite3_column_type(s, col) == SQLITE_NULL)
            continue;
        const void *p = sqlite3_column_blob(s, col);
        size_t n = (size_t)sqlite3_column_bytes(s, col);
        uint8_t *copy = cairn_malloc(n); /* n == 0: a 1-byte block, so "present" survives */
        if (!copy || (n && !p)) {
            cairn_free(copy);
            ok = false;
            continue;
        }
        if (n)
            memcpy(copy, p, n);
        *state_ptr(r, i) = copy;
        *state_len(r, i) = n;
    }
    return ok ? CAIRN_OK : CAIRN_ENOMEM;
}

/* Reads a run's metrics, in the order they were stored, with s (prepared
 * from METRICS_SQL, reset here). */
#define METRICS_SQL                                                                                \
    "SELECT name, estimate, lo, hi FROM run_metrics WHERE run_id = ?1 ORDER BY rowid"

static cairn_status load_metrics(cairn_home *h, sqlite3_stmt *s, cairn_run_record *r,
                                 cairn_error *err)
{
    cairn_status st = CAIRN_OK;
    size_t cap = 0;
    sqlite3_reset(s);
    int rc = sqlite3_bind_text(s, 1, r->id, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK) {
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
            if (r->n_metrics == cap) {
                size_t ncap = cap ? cap * 2 : 8;
                cairn_run_metric *p = cairn_reallocarray(r->metrics, ncap, sizeof *p);
                if (!p) {
                    st = cairn_error_set(err, CAIRN_ENOMEM, r->id,
                                         "out of memory reading the metrics of run %s", r->id);
                    goto done;
                }
                r->metrics = p;
                cap = ncap;
            }
            cairn_run_metric *m = &r->metrics[r->n_metrics++];
            const unsigned char *nm = sqlite3_column_text(s, 0);
            snprintf(m->name, sizeof m->name, "%s", nm ? (const char *)nm : "");
            m->estimate = column_real(s, 1);
            m->lo = column_real(s, 2);
            m->hi = column_real(s, 3);
        }
    }
    if (rc != SQLITE_DONE)
        st = cairn_home_sql_error(h->db, rc, h->db_path, "cannot read the run's metrics", err);
done:
    sqlite3_reset(s);
    return st;
}

/*
 * Parses an id or prefix ("r-" + 4..12 hex digits, either case) into the
 * range [lo, hi) of ids that start with it (lowercased).
 */
static bool prefix_range(const char *id, char lo[CAIRN_RUN_ID_LEN + 1],
                         char hi[CAIRN_RUN_ID_LEN + 1])
{
    size_t n = strlen(id);
    if (n < 6 || n > CAIRN_RUN_ID_LEN || id[0] != 'r' || id[1] != '-')
        return false;
    for (size_t i = 0; i <= n; i++) {
        char c = id[i];
        if (i >= 2 && c >= 'A' && c <= 'F')
            c = (char)(c - 'A' + 'a');
        if (i >= 2 && i < n && !is_hex_lower(c))
            return false;
        lo[i] = hi[i] = c;
    }
    /* The successor of the last digit; '9' + 1 is ':' and 'f' + 1 is 'g'. */
    hi[n - 1] = (char)(hi[n - 1] + 1);
    return true;
}

/* The one full id in [lo, hi); CAIRN_ENOTFOUND or CAIRN_EINVAL (ambiguous) otherwise. */
static cairn_status resolve_id(cairn_home *h, const char *given, const char *lo, const char *hi,
                               char out[CAIRN_RUN_ID_LEN + 1], cairn_error *err)
{
    sqlite3_stmt *s = NULL;
    cairn_status st = CAIRN_OK;
    int rc = sqlite3_prepare_v2(h->db,
                                "SELECT COUNT(*), MIN(id) FROM runs WHERE id >= ?1 AND id < ?2",
                                -1, &s, NULL);
    if (rc != SQLITE_OK)
        goto sql_fail;
    sqlite3_bind_text(s, 1, lo, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, hi, -1, SQLITE_STATIC);
    rc = sqlite3_step(s);
    if (rc != SQLITE_ROW)
        goto sql_fail;
    sqlite3_int64 count = sqlite3_column_int64(s, 0);
    if (count == 0) {
        st = cairn_error_set(err, CAIRN_ENOTFOUND, given, "no run %s", given);
    } else if (count > 1) {
        st = cairn_error_set(err, CAIRN_EINVAL, given,
                             "run id prefix %s is ambiguous: %lld runs match; give more digits",
                             given, (long long)count);
    } else {
        const unsigned char *t = sqlite3_column_text(s, 1);
        snprintf(out, CAIRN_RUN_ID_LEN + 1, "%s", t ? (const char *)t : "");
    }
    goto done;
sql_fail:
    st = cairn_home_sql_error(h->db, rc, h->db_path, "cannot read runs", err);
done:
    sqlite3_finalize(s);
    return st;
}

cairn_status cairn_run_get(cairn_home *h, const char *id, cairn_run_record *out, cairn_error *err)
{
    static const char sql[] = "SELECT " RUN_TEXT_FIELDS(AS_COL) FIXED_COLS ", " STATE_COLS
                              " FROM runs r WHERE r.id = ?1";
    char lo[CAIRN_RUN_ID_LEN + 1], hi[CAIRN_RUN_ID_LEN + 1], full[CAIRN_RUN_ID_LEN + 1];
    sqlite3_stmt *s = NULL, *ms = NULL;
    bool began = false;
    cairn_status st;
    int rc;
    cairn_run_record_reset(out);
    if (!id || !prefix_range(id, lo, hi))
        return cairn_error_set(err, CAIRN_EINVAL, id ? id : "",
                               "invalid run id '%s': expected r- and 4 to 12 hex digits",
                               id ? id : "");
    if ((st = read_begin(h, &began, err)) != CAIRN_OK ||
        (st = resolve_id(h, id, lo, hi, full, err)) != CAIRN_OK)
        goto done;
    rc = sqlite3_prepare_v2(h->db, sql, -1, &s, NULL);
    if (rc != SQLITE_OK)
        goto sql_fail;
    sqlite3_bind_text(s, 1, full, -1, SQLITE_STATIC);
    rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) { /* cannot happen inside the read transaction */
        st = cairn_error_set(err, CAIRN_ENOTFOUND, id, "no run %s", id);
        goto done;
    }
    if (rc != SQLITE_ROW)
        goto sql_fail;
    if (record_from_row(s, true, out) != CAIRN_OK) {
        st = cairn_error_set(err, CAIRN_ENOMEM, full, "out of memory reading run %s", full);
        goto done;
    }
    rc = sqlite3_prepare_v2(h->db, METRICS_SQL, -1, &ms, NULL);
    if (rc != SQLITE_OK)
        goto sql_fail;
    st = load_metrics(h, ms, out, err);
    goto done;
sql_fail:
    st = cairn_home_sql_error(h->db, rc, h->db_path, "cannot read the run", err);
done:
    sqlite3_finalize(s);
    sqlite3_finalize(ms);
    read_end(h, began);
    if (st != CAIRN_OK)
        cairn_run_record_reset(out);
    return st;
}

cairn_status cairn_run_list(cairn_home *h, const cairn_run_query *q, cairn_run_record **out,
                            size_t *n, cairn_error *err)
{
    static const char select_sql[] = "SELECT " RUN_TEXT_FIELDS(AS_COL) FIXED_COLS " FROM runs r";
    static const cairn_run_query all = {0};
    char sql[sizeof select_sql + 512];
    sqlite3_stmt *s = NULL, *ms = NULL;
    cairn_run_record *items = NULL;
    size_t count = 0, cap = 0;
    bool began = false;
    cairn_status st = CAIRN_OK;
    int rc;
    *out = NULL;
    *n = 0;
    if (!q)
        q = &all;
    /* ?1 model, ?2 status, ?3 sort metric, ?4 limit (-1: none). */
    snprintf(sql, sizeof sql,
             "%s%s WHERE (?1 IS NULL OR r.model = ?1) AND (?2 IS NULL OR r.status = ?2)"
             " ORDER BY %s r.started_at DESC, r.id ASC LIMIT ?4",
             select_sql,
             q->sort_metric ? " LEFT JOIN run_metrics m ON m.run_id = r.id AND m.name = ?3" : "",
             !q->sort_metric ? ""
             : q->ascending  ? "m.estimate IS NULL, m.estimate ASC,"
                             : "m.estimate IS NULL, m.estimate DESC,");
    if ((st = read_begin(h, &began, err)) != CAIRN_OK)
        goto done;
    rc = sqlite3_prepare_v2(h->db, sql, -1, &s, NULL);
    if (rc != SQLITE_OK)
        goto sql_fail;
    rc = sqlite3_prepare_v2(h->db, METRICS_SQL, -1, &ms, NULL);
    if (rc != SQLITE_OK)
        goto sql_fail;
    bind_text_or_null(s, 1, q->model);
    bind_text_or_null(s, 2, q->status);
    if (q->sort_metric)
        sqlite3_bind_text(s, 3, q->sort_metric, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, q->limit == 0 || q->limit > INT64_MAX ? -1 : (sqlite3_int64)q->limit);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (count == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            cairn_run_record *p = cairn_reallocarray(items, ncap, sizeof *items);
            if (!p) {
                st = cairn_error_set(err, CAIRN_ENOMEM, h->db_path, "out of memory listing runs");
                goto done;
            }
            items = p;
            cap = ncap;
        }
        cairn_run_record *r = &items[count++];
        memset(r, 0, sizeof *r);
        if (record_from_row(s, false, r) != CAIRN_OK) {
            st = cairn_error_set(err, CAIRN_ENOMEM, h->db_path, "out of memory listing runs");
            goto done;
        }
        if ((st = load_metrics(h, ms, r, err)) != CAIRN_OK)
            goto done;
    }
    if (rc != SQLITE_DONE)
        goto sql_fail;
    *out = items;
    *n = count;
    items = NULL;
    count = 0;
    goto done;
sql_fail:
    st = cairn_home_sql_error(h->db, rc, h->db_path, "cannot list runs", err);
done:
    sqlite3_finalize(s);
    sqlite3_finalize(ms);
    read_end(h, began);
    for (size_t i = 0; i < count; i++)
        cairn_run_record_reset(&items[i]);
    cairn_free(items);
    return st;
}
