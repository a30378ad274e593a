/*
 * test_runs.c -- the experiment-tracking store (src/registry/runs.c) and the
 * schema version 1 -> 2 upgrade of a home (src/registry/home.c).
 *
 * Each test works in a fresh directory under $CAIRN_TEST_TMP (or /tmp).
 * Independent checks: the state hash is recomputed here with libsodium's
 * crypto_generichash over a buffer framed by hand; what is stored is also
 * read back with plain SQL (NaN as NULL, empty blob vs NULL); list orders are
 * written out by hand from the fixture's values; the version-1 home is made
 * here with the version-1 CREATE statements as cairn 0.1 wrote them, and the
 * upgrade is tested against a crash inside its transaction and against
 * several processes opening the same old home at once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "registry/registry.h"

/* ---- helpers ------------------------------------------------------------ */

#define HOME_FIXTURE_PREFIX "runs"
#include "test_home_fixture.h"

static cairn_home *fresh_home(const fixture *fx)
{
    cairn_home *h = NULL;
    cairn_error err = {0};
    assert_int_equal(cairn_home_init(fx->home, &err), CAIRN_OK);
    if (cairn_home_open(fx->home, &h, &err) != CAIRN_OK)
        fail_msg("open: %s (%s)", err.msg, err.where);
    return h;
}

/* One integer from a query (fails the test on anything else). */
static long long sql_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    long long v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

static char *xstrdup(const char *s)
{
    return s ? cairn_strdup(s) : NULL;
}

static uint8_t *xblob(const void *p, size_t n)
{
    uint8_t *b = cairn_malloc(n);
    assert_non_null(b);
    if (n)
        memcpy(b, p, n);
    return b;
}

static void set_metric(cairn_run_metric *m, const char *name, double est, double lo, double hi)
{
    memset(m, 0, sizeof *m);
    snprintf(m->name, sizeof m->name, "%s", name);
    m->estimate = est;
    m->lo = lo;
    m->hi = hi;
}

/* A minimal valid record: id, model, status, started_at; every other field absent. */
static void minimal_run(cairn_run_record *r, const char *id, const char *model, const char *status,
                        const char *started_at)
{
    memset(r, 0, sizeof *r);
    snprintf(r->id, sizeof r->id, "%s", id);
    r->model = xstrdup(model);
    r->status = xstrdup(status);
    r->started_at = xstrdup(started_at);
    r->duration_s = NAN;
    r->seed = -1;
}

/* A succeeded run with every field set, states holding NUL bytes. */
static void full_run(cairn_run_record *r, const char *id)
{
    static const uint8_t tstate[] = {0, 1, 2, 0, 0, 255, 'x', 0};
    static const uint8_t mstate[] = {'T', 'R', 'E', 'E', 0, 0, 0, 7, 0};
    static const uint8_t bstate[] = {0};
    minimal_run(r, id, "churn", "succeeded", "2024-03-01T12:30:45Z");
    r->finished_at = xstrdup("2024-03-01T12:31:02Z");
    r->duration_s = 17.25;
    r->spec_text = xstrdup("name: churn\nmodel:\n  type: gbdt\n# ü ✓\n");
    r->spec_json = xstrdup("{\"name\":\"churn\",\"model\":{\"type\":\"gbdt\"}}");
    r->seed = 42;
    r->dataset_name = xstrdup("telco");
    r->dataset_version = 3;
    r->dataset_hash = xstrdup("ab12");
    r->contract_hash = xstrdup("cd34");
    r->code_version = xstrdup("v0.1.0-12-gdeadbee");
    r->build_json = xstrdup("{\"compiler\":\"gcc 12\",\"sqlite\":\"3.40\"}");
    r->stages_json = xstrdup("[{\"stage\":\"load\",\"seconds\":0.12}]");
    r->split_json = xstrdup("{\"by\":\"time\"}");
    r->eval_json = xstrdup("{\"model\":{},\"baseline\":{}}");
    r->findings_json = xstrdup("[]");
    r->gates_json = xstrdup("[{\"metric\":\"auc\",\"op\":\">=\",\"value\":0.7}]");
    r->model_type = xstrdup("gbdt");
    r->refstats_json = xstrdup("{\"version\":1,\"rows\":3,\"features\":[]}");
    r->transform_state = xblob(tstate, sizeof tstate);
    r->transform_state_len = sizeof tstate;
    r->model_state = xblob(mstate, sizeof mstate);
    r->model_state_len = sizeof mstate;
    r->baseline_state = xblob(bstate, sizeof bstate);
    r->baseline_state_len = sizeof bstate;
    char hex[CAIRN_HASH_HEX];
    cairn_run_state_hash(r, hex);
    r->state_hash = xstrdup(hex);
    r->n_metrics = 3;
    r->metrics = cairn_calloc(3, sizeof *r->metrics);
    set_metric(&r->metrics[0], "auc", 0.8125, 0.79, 0.83);
    set_metric(&r->metrics[1], "logloss", 0.41, NAN, NAN); /* no interval */
    set_metric(&r->metrics[2], "brier", 0.125, 0.1, 0.15);
}

static void assert_str_or_null(const char *a, const char *b)
{
    if (!a || !b)
        assert_ptr_equal(a, b);
    else
        assert_string_equal(a, b);
}

static void assert_same_double(double a, double b)
{
    if (isnan(a) || isnan(b)) {
        assert_true(isnan(a) && isnan(b));
    } else {
        assert_true(a == b);
    }
}

static void assert_same_blob(const uint8_t *a, size_t na, const uint8_t *b, size_t nb)
{
    if (!a || !b) {
        assert_ptr_equal(a, b);
        assert_int_equal(na, 0);
        assert_int_equal(nb, 0);
        return;
    }
    assert_int_equal(na, nb);
    if (na)
        assert_memory_equal(a, b, na);
}

/* Every field, field by field; with_states false: got has none. */
static void assert_runs_equal(const cairn_run_record *want, const cairn_run_record *got,
                              bool with_states)
{
    assert_string_equal(want->id, got->id);
    assert_str_or_null(want->model, got->model);
    assert_str_or_null(want->status, got->status);
    assert_str_or_null(want->error, got->error);
    assert_str_or_null(want->started_at, got->started_at);
    assert_str_or_null(want->finished_at, got->finished_at);
    assert_same_double(want->duration_s, got->duration_s);
    assert_str_or_null(want->spec_text, got->spec_text);
    assert_str_or_null(want->spec_json, got->spec_json);
    assert_int_equal(want->seed, got->seed);
    assert_str_or_null(want->dataset_name, got->dataset_name);
    assert_int_equal(want->dataset_version, got->dataset_version);
    assert_str_or_null(want->dataset_hash, got->dataset_hash);
    assert_str_or_null(want->contract_hash, got->contract_hash);
    assert_str_or_null(want->code_version, got->code_version);
    assert_str_or_null(want->build_json, got->build_json);
    assert_str_or_null(want->stages_json, got->stages_json);
    assert_str_or_null(want->split_json, got->split_json);
    assert_str_or_null(want->refstats_json, got->refstats_json);
    assert_str_or_null(want->eval_json, got->eval_json);
    assert_str_or_null(want->findings_json, got->findings_json);
    assert_str_or_null(want->gates_json, got->gates_json);
    assert_str_or_null(want->model_type, got->model_type);
    assert_str_or_null(want->state_hash, got->state_hash);
    if (with_states) {
        assert_same_blob(want->transform_state, want->transform_state_len, got->transform_state,
                         got->transform_state_len);
        assert_same_blob(want->model_state, want->model_state_len, got->model_state,
                         got->model_state_len);
        assert_same_blob(want->baseline_state, want->baseline_state_len, got->baseline_state,
                         got->baseline_state_len);
    } else {
        assert_null(got->transform_state);
        assert_null(got->model_state);
        assert_null(got->baseline_state);
        assert_int_equal(got->transform_state_len + got->model_state_len +
                             got->baseline_state_len, 0);
    }
    assert_int_equal(want->n_metrics, got->n_metrics);
    for (size_t i = 0; i < want->n_metrics; i++) {
        assert_string_equal(want->metrics[i].name, got->metrics[i].name);
        assert_same_double(want->metrics[i].estimate, got->metrics[i].estimate);
        assert_same_double(want->metrics[i].lo, got->metrics[i].lo);
        assert_same_double(want->metrics[i].hi, got->metrics[i].hi);
    }
}

/* ---- ids and the state hash ----------------------------------------------- */

static void test_new_id(void **state)
{
    (void)state;
    enum { N = 2000 };
    static char ids[N][CAIRN_RUN_ID_LEN + 1];
    for (int i = 0; i < N; i++) {
        memset(ids[i], 'z', sizeof ids[i]);
        cairn_run_new_id(ids[i]);
        assert_int_equal(strlen(ids[i]), 14);
        assert_memory_equal(ids[i], "r-", 2);
        for (int k = 2; k < 14; k++)
            assert_non_null(strchr("0123456789abcdef", ids[i][k]));
    }
    /* 48 random bits: 2000 ids collide with probability ~ 7e-9. */
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++)
            assert_string_not_equal(ids[i], ids[j]);
    /* Every hex digit shows up in every position over 2000 draws. */
    for (int k = 2; k < 14; k++) {
        int seen = 0;
        for (int i = 0; i < N; i++) {
            char c = ids[i][k];
            seen |= 1 << (c <= '9' ? c - '0' : c - 'a' + 10);
        }
        assert_int_equal(seen, 0xffff);
    }
}

/* BLAKE2b-256 hex over parts framed as u64-LE length + bytes, computed with libsodium. */
static void reference_hash(const uint8_t *const parts[3], const size_t lens[3], char out[65])
{
    uint8_t buf[256];
    size_t n = 0;
    for (int p = 0; p < 3; p++) {
        uint64_t len = parts[p] ? lens[p] : 0;
        for (int k = 0; k < 8; k++)
            buf[n++] = (uint8_t)(len >> (8 * k));
        assert_true(n + len <= sizeof buf);
        if (len)
            memcpy(buf + n, parts[p], len);
        n += len;
    }
    unsigned char h[32];
    assert_int_equal(crypto_generichash(h, sizeof h, buf, n, NULL, 0), 0);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", h[i]);
}

static void test_state_hash(void **state)
{
    (void)state;
    cairn_run_record r;
    char got[CAIRN_HASH_HEX], want[65], other[CAIRN_HASH_HEX];
    full_run(&r, "r-000000000001");
    const uint8_t *parts[3] = {r.transform_state, r.model_state, r.baseline_state};
    size_t lens[3] = {r.transform_state_len, r.model_state_len, r.baseline_state_len};
    cairn_run_state_hash(&r, got);
    reference_hash(parts, lens, want);
    assert_string_equal(got, want);

    /* All absent: three zero lengths (24 zero bytes), not the hash of nothing. */
    cairn_run_record empty;
    minimal_run(&empty, "r-000000000002", "m", "failed", "2024-01-01T00:00:00Z");
    const uint8_t *none[3] = {NULL, NULL, NULL};
    size_t zero[3] = {0, 0, 0};
    cairn_run_state_hash(&empty, got);
    reference_hash(none, zero, want);
    assert_string_equal(got, want);
    uint8_t zeros[24] = {0};
    unsigned char h[32];
    crypto_generichash(h, 32, zeros, sizeof zeros, NULL, 0);
    char zhex[65];
    for (int i = 0; i < 32; i++)
        snprintf(zhex + 2 * i, 3, "%02x", h[i]);
    assert_string_equal(got, zhex);

    /* The framing matters: the same bytes split differently hash differently. */
    static const uint8_t ab[] = {'a', 'b'};
    empty.transform_state = (uint8_t *)ab;
    empty.transform_state_len = 2;
    cairn_run_state_hash(&empty, got);
    empty.transform_state_len = 1;
    empty.model_state = (uint8_t *)ab + 1;
    empty.model_state_len = 1;
    cairn_run_state_hash(&empty, other);
    assert_string_not_equal(got, other);
    const uint8_t *split[3] = {ab, ab + 1, NULL};
    size_t split_lens[3] = {1, 1, 0};
    reference_hash(split, split_lens, want);
    assert_string_equal(other, want);
    empty.transform_state = empty.model_state = NULL;
    empty.transform_state_len = empty.model_state_len = 0;

    cairn_run_record_reset(&r);
    cairn_run_record_reset(&empty);
    cairn_run_record_reset(NULL);
}

/* ---- store and get -------------------------------------------------------- */

static void test_round_trip(void **state)
{
    fixture *fx = *state;
    cairn_home *h = fresh_home(fx);
    cairn_error err = {0};
    cairn_run_record full, failed, got;
    memset(&got, 0, sizeof got);

    full_run(&full, "r-0123456789ab");
    if (cairn_run_store(h, &full, &err) != CAIRN_OK)
        fail_msg("store: %s (%s)", err.msg, err.where);
    assert_int_equal(cairn_run_get(h, full.id, &got, &err), CAIRN_OK);
    assert_runs_equal(&full, &got, true);
    /* The stored state hash matches the states read back. */
    char hex[CAIRN_HASH_HEX];
    cairn_run_state_hash(&got, hex);
    assert_string_equal(hex, full.state_hash);

    /* A failed run: NULL text fields and states, an empty (present) baseline
     * state, an unknown seed and duration, no metrics. */
    minimal_run(&failed, "r-ffffffffffff", "", "failed", "2024-03-02T08:00:00Z");
    failed.error = xstrdup("cannot read the spec (spec.yaml:3:1)");
    failed.spec_text = xstrdup("name: [\n");
    failed.baseline_state = xblob("", 0);
    failed.baseline_state_len = 0;
    assert_int_equal(cairn_run_store(h, &failed, &err), CAIRN_OK);
    /* get resets what *out held before. */
    assert_int_equal(cairn_run_get(h, "r-ffffffffffff", &got, &err), CAIRN_OK);
    assert_runs_equal(&failed, &got, true);
    assert_non_null(got.baseline_state);
    assert_int_equal(got.baseline_state_len, 0);
    assert_null(got.metrics);
    assert_int_equal(got.seed, -1);
    assert_true(isnan(got.duration_s));

    /* What is in the database, read with plain SQL. */
    assert_int_equal(sql_int(h->db, "SELECT COUNT(*) FROM runs"), 2);
    assert_int_equal(sql_int(h->db, "SELECT COUNT(*) FROM run_metrics"), 3);
    assert_int_equal(sql_int(h->db, "SELECT COUNT(*) FROM run_metrics WHERE run_id = "
                                    "'r-0123456789ab' AND name = 'logloss' AND estimate = 0.41"
                                    " AND lo IS NULL AND hi IS NULL"), 1);
    assert_int_equal(sql_int(h->db, "SELECT COUNT(*) FROM run_metrics WHERE name = 'auc'"
                                    " AND estimate = 0.8125 AND lo = 0.79 AND hi = 0.83"), 1);
    assert_int_equal(sql_int(h->db, "SELECT length(model_state) FROM runs"
                                    " WHERE id = 'r-0123456789ab'"), 9);
    assert_int_equal(sql_int(h->db, "SELECT typeof(baseline_state) = 'blob'"
                                    " AND length(baseline_state) = 0 AND model_state IS NULL"
                                    " AND eval_json IS NULL AND duration_s IS NULL"
                                    " FROM runs WHERE id = 'r-ffffffffffff'"), 1);
    assert_int_equal(sql_int(h->db, "SELECT seed FROM runs WHERE id = 'r-0123456789ab'"), 42);

    /* A metric whose estimate is NaN too. */
    cairn_run_record nan_run;
    minimal_run(&nan_run, "r-000000000abc", "m", "succeeded", "2024-03-03T00:00:00Z");
    nan_run.n_metrics = 1;
    nan_run.metrics = cairn_calloc(1, sizeof *nan_run.metrics);
    set_metric(&nan_run.metrics[0], "r2", NAN, NAN, 1.5);
    assert_int_equal(cairn_run_store(h, &nan_run, &err), CAIRN_OK);
    assert_int_equal(cairn_run_get(h, "r-000000000abc", &got, &err), CAIRN_OK);
    assert_runs_equal(&nan_run, &got, true);
    assert_int_equal(sql_int(h->db, "SELECT estimate IS NULL AND hi = 1.5 FROM run_metrics"
                                    " WHERE run_id = 'r-000000000abc'"), 1);

    /* A read inside a transaction the caller holds works (no nested BEGIN). */
    assert_int_equal(sqlite3_exec(h->db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(cairn_run_get(h, "r-0123", &got, &err), CAIRN_OK);
    assert_string_equal(got.id, "r-0123456789ab");
    cairn_run_record *list = NULL;
    size_t n = 0;
    assert_int_equal(cairn_run_list(h, NULL, &list, &n, &err), CAIRN_OK);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++)
        cairn_run_record_reset(&list[i]);
    cairn_free(list);
    assert_int_equal(sqlite3_exec(h->db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);

    /* A run survives closing and reopening the home. */
    cairn_home_close(h);
    assert_int_equal(cairn_home_open(fx->home, &h, &err), CAIRN_OK);
    assert_int_equal(cairn_run_get(h, "r-0123456789ab", &got, &err), CAIRN_OK);
    assert_runs_equal(&full, &got, true);

    cairn_run_record_reset(&got);
    cairn_run_record_reset(&full);
    cairn_run_record_reset(&failed);
    cairn_run_record_reset(&nan_run);
    cairn_home_close(h);
}

static void test_store_refused(void **state)
{
    fixture *fx = *state;
    cairn_home *h = fresh_home(fx);
    cairn_error err = {0};
    cairn_run_record r;

    static const char *const bad_ids[] = {"", "r-", "r-0123456789a",
                                          "r-0123456789AB", "R-0123456789ab", "r_0123456789ab",
                                          "x-0123456789ab", "r-0123456789ag", "r-01234567 9ab",
                                          "r-%%%%%%%%%%%%"};
    for (size_t i = 0; i < sizeof bad_ids / sizeof *bad_ids; i++) {
        minimal_run(&r, bad_ids[i], "m", "succeeded", "2024-01-01T00:00:00Z");
        memset(&err, 0, sizeof err);
        if (cairn_run_store(h, &r, &err) != CAIRN_EINVAL)
            fail_msg("id '%s' accepted", bad_ids[i]);
        assert_non_null(strstr(err.msg, "run id"));
        cairn_run_record_reset(&r);
    }
    /* An id array without a terminating NUL. */
    minimal_run(&r, "r-0123456789ab", "m", "succeeded", "2024-01-01T00:00:00Z");
    memset(r.id, 'a', sizeof r.id);
    assert_int_equal(cairn_run_store(h, &r, &err), CAIRN_EINVAL);
    cairn_run_record_reset(&r);

    static const char *const bad_status[] = {"ok", "", "Succeeded", NULL};
    for (size_t i = 0; i < sizeof bad_status / sizeof *bad_status; i++) {
        minimal_run(&r, "r-0123456789ab", "m", "succeeded", "2024-01-01T00:00:00Z");
        cairn_free(r.status);
        r.status = xstrdup(bad_status[i]);
        assert_int_equal(cairn_run_store(h, &r, &err), CAIRN_EINVAL);
        assert_non_null(strstr(err.msg, "status"));
        assert_string_equal(err.where, "r-0123456789ab");
        cairn_run_record_reset(&r);
    }

    minimal_run(&r, "r-0123456789ab", NULL, "succeeded", "2024-01-01T00:00:00Z");
    assert_int_equal(cairn_run_store(h, &r, &err), CAIRN_EINVAL);
    assert_non_null(strstr(err.msg, "model"));
    cairn_run_record_reset(&r);
    minimal_run(&r, "r-0123456789ab", "m", "succeeded", NULL);
    assert_int_equal(cairn_run_store(h, &r, &err), CAIRN_EINVAL);
    cairn_run_record_reset(&r);

    /* A state length without bytes; duplicate and malformed metric names. */
    minimal_run(&r, "r-0123456789ab", "m", "succeeded", "2024-01-01T00:00:00Z");
    r.model_state_len = 5;
    assert_int_equal(cairn_run_store(h, &r, &err), CAIRN_EINVAL);
    assert_non_null(strstr(err.msg, "model_state"));
    r.model_state_len = 0;
    r.n_metrics = 2;
    assert_int_equal(cairn_run_store(h, &r, &err), CAIRN_EINVAL); /* no array */
    r.metrics = cairn_calloc(2, sizeof *r.metrics);
    set_metric(&r.metrics[0], "auc", 0.5, NAN, NAN);
    set_metric(&r.metrics[1], "auc", 0.6, NAN, NAN);
    assert_int_equal(cairn_run_store(h, &r, &err), CAIRN_EINVAL);
    assert_non_null(strstr(err.msg, "twice"));
    set_metric(&r.metrics[1], "", 0.6, NAN, NAN);
    assert_int_equal(cairn_run_store(h, &r, &err), CAIRN_EINVAL);
    memset(r.metrics[1].name, 'x', sizeof r.metrics[1].name);
    assert_int_equal(cairn_run_store(h, &r, &err), CAIRN_EINVAL);
    assert_int_equal(sql_int(h->db, "SELECT COUNT(*) FROM runs"), 0);
    assert_int_equal(sql_int(h->db, "SELECT COUNT(*) FROM run_metrics"), 0);

    /* The good version goes in; a second run with its id is refused and
     * changes nothing (its metrics are not added either). */
    set_metric(&r.metrics[1], "f1", 0.6, NAN, NAN);
    assert_int_equal(cairn_run_store(h, &r, &err), CAIRN_OK);
    cairn_run_record dup;
    full_run(&dup, "r-0123456789ab");
    assert_int_equal(cairn_run_store(h, &dup, &err), CAIRN_EINVAL);
    assert_non_null(strstr(err.msg, "already exists"));
    assert_string_equal(err.where, "r-0123456789ab");
    assert_int_equal(sql_int(h->db, "SELECT COUNT(*) FROM runs"), 1);
    assert_int_equal(sql_int(h->db, "SELECT COUNT(*) FROM run_metrics"), 2);
    cairn_run_record got = {0};
    assert_int_equal(cairn_run_get(h, "r-0123456789ab", &got, &err), CAIRN_OK);
    assert_runs_equal(&r, &got, true); /* the first one, untouched */
    /* The write lock is released after a refusal: another store works. */
    snprintf(dup.id, sizeof dup.id, "r-0123456789ac");
    assert_int_equal(cairn_run_store(h, &dup, &err), CAIRN_OK);
    assert_int_equal(sqlite3_get_autocommit(h->db), 1);

    cairn_run_record_reset(&got);
    cairn_run_record_reset(&dup);
    cairn_run_record_reset(&r);
    cairn_home_close(h);
}

static void store_minimal(cairn_home *h, const char *id, const char *model, const char *status,
                          const char *started_at)
{
    cairn_run_record r;
    cairn_error err = {0};
    minimal_run(&r, id, model, status, started_at);
    if (cairn_run_store(h, &r, &err) != CAIRN_OK)
        fail_msg("store %s: %s (%s)", id, err.msg, err.where);
    cairn_run_record_reset(&r);
}

static void test_get_prefix(void **state)
{
    fixture *fx = *state;
    cairn_home *h = fresh_home(fx);
    cairn_error err = {0};
    cairn_run_record got = {0};
    static const char *const ids[] = {"r-abcd00000001", "r-abcd00000002", "r-abce00000000",
                                      "r-abc900000000", "r-abc:00000000", "r-abcf12345678",
                                      "r-abcg00000000", "r-abd000000000", "r-0000ffffffff"};
    /* Two of these are not valid ids: insert those by hand, as rows that a
     * prefix range must not catch by accident. */
    for (size_t i = 0; i < sizeof ids / sizeof *ids; i++) {
        if (strchr(ids[i] + 2, ':') || strchr(ids[i] + 2, 'g')) {
            char sql[256];
            snprintf(sql, sizeof sql,
                     "INSERT INTO runs(id, model, status, started_at) VALUES"
                     " ('%s', 'm', 'failed', '2024-01-01T00:00:00Z')", ids[i]);
            assert_int_equal(sqlite3_exec(h->db, sql, NULL, NULL, NULL), SQLITE_OK);
        } else {
            store_minimal(h, ids[i], "m", "failed", "2024-01-01T00:00:00Z");
        }
    }

    /* Full ids and unique prefixes, lower or upper case. */
    static const struct {
        const char *given, *want;
    } found[] = {
        {"r-abcd00000001", "r-abcd00000001"}, {"r-abcd00000002", "r-abcd00000002"},
        {"r-abce", "r-abce00000000"},         {"r-ABCE", "r-abce00000000"},
        {"r-abc9", "r-abc900000000"},         {"r-abcf", "r-abcf12345678"},
        {"r-abcF1234", "r-abcf12345678"},     {"r-abd0", "r-abd000000000"},
        {"r-0000", "r-0000ffffffff"},         {"r-0000ffffffff", "r-0000ffffffff"},
    };
    for (size_t i = 0; i < sizeof found / sizeof *found; i++) {
        memset(&err, 0, sizeof err);
        if (cairn_run_get(h, found[i].given, &got, &err) != CAIRN_OK)
            fail_msg("%s: %s (%s)", found[i].given, err.msg, err.where);
        assert_string_equal(got.id, found[i].want);
        assert_string_equal(got.model, "m");
    }

    /* Ambiguous prefixes name how many runs match. */
    assert_int_equal(cairn_run_get(h, "r-abcd", &got, &err), CAIRN_EINVAL);
    assert_non_null(strstr(err.msg, "ambiguous"));
    assert_non_null(strstr(err.msg, " 2 runs"));
    assert_string_equal(err.where, "r-abcd");
    assert_null(got.model); /* *out was reset */
    assert_int_equal(cairn_run_get(h, "r-abcd000000", &got, &err), CAIRN_EINVAL);
    assert_non_null(strstr(err.msg, " 2 runs"));
    assert_int_equal(cairn_run_get(h, "r-abc", &got, &err), CAIRN_EINVAL); /* too short */
    assert_int_equal(cairn_run_get(h, "r-ab", &got, &err), CAIRN_EINVAL);

    /* Not found: where is the id as given. */
    static const char *const missing[] = {"r-abcc", "r-abcd00000003", "r-ffff", "r-1234"};
    for (size_t i = 0; i < sizeof missing / sizeof *missing; i++) {
        memset(&err, 0, sizeof err);
        assert_int_equal(cairn_run_get(h, missing[i], &got, &err), CAIRN_ENOTFOUND);
        assert_string_equal(err.where, missing[i]);
        assert_non_null(strstr(err.msg, missing[i]));
    }

    /* Malformed: no LIKE pattern characters, no prefix other than r-, no
     * non-hex digits, not too long. */
    static const char *const bad[] = {"", "r-", "abcd", "r-abc", "r-abc%", "r-ab_d", "r-abc:",
                                      "r-abcg", "x-abcd", "R-abcd", "r-abcd000000012",
                                      "r-abcd ", " r-abcd", "r-abcd%"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        memset(&err, 0, sizeof err);
        if (cairn_run_get(h, bad[i], &got, &err) != CAIRN_EINVAL)
            fail_msg("'%s' accepted", bad[i]);
        assert_string_equal(err.where, bad[i]);
    }
    assert_int_equal(cairn_run_get(h, NULL, &got, &err), CAIRN_EINVAL);

    /* Ambiguity counts more than two. */
    store_minimal(h, "r-abcd00000003", "m", "failed", "2024-01-01T00:00:00Z");
    assert_int_equal(cairn_run_get(h, "r-abcd", &got, &err), CAIRN_EINVAL);
    assert_non_null(strstr(err.msg, " 3 runs"));

    cairn_run_record_reset(&got);
    cairn_home_close(h);
}

/* ---- list ----------------------------------------------------------------- */

/* The list fixture: id, model, status, started_at, auc (NaN: stored NaN;
 * -1: no auc row at all), and whether it has an "f1" metric. */
static const struct {
    const char *id, *model, *status, *started;
    double auc;
} list_runs[] = {
    {"r-000000000001", "churn", "succeeded", "2024-03-01T10:00:00Z", 0.80},
    {"r-000000000002", "churn", "succeeded", "2024-03-02T10:00:00Z", 0.75},
    {"r-000000000003", "churn", "failed", "2024-03-03T10:00:00Z", -1},
    {"r-000000000004", "fraud", "succeeded", "2024-03-04T10:00:00Z", 0.91},
    {"r-000000000005", "churn", "succeeded", "2024-03-02T10:00:00Z", 0.85}, /* same start as 2 */
    {"r-000000000006", "fraud", "succeeded", "2024-02-01T10:00:00Z", NAN},
    {"r-000000000007", "churn", "succeeded", "2024-03-05T10:00:00Z", 0.75}, /* auc ties 2 */
};

static void store_list_fixture(cairn_home *h)
{
    for (size_t i = 0; i < sizeof list_runs / sizeof *list_runs; i++) {
        cairn_run_record r;
        cairn_error err = {0};
        minimal_run(&r, list_runs[i].id, list_runs[i].model, list_runs[i].status,
                    list_runs[i].started);
        r.eval_json = xstrdup("{}");
        static const uint8_t st[] = {1, 2, 3};
        r.model_state = xblob(st, sizeof st);
        r.model_state_len = sizeof st;
        if (!(list_runs[i].auc < 0)) {
            r.n_metrics = 2;
            r.metrics = cairn_calloc(2, sizeof *r.metrics);
            set_metric(&r.metrics[0], "logloss", 0.3 + 0.01 * (double)i, NAN, NAN);
            set_metric(&r.metrics[1], "auc", list_runs[i].auc, 0.5, 0.99);
        }
        if (cairn_run_store(h, &r, &err) != CAIRN_OK)
            fail_msg("store: %s (%s)", err.msg, err.where);
        cairn_run_record_reset(&r);
    }
}

/* Runs q and checks the ids, in order, given as their last digit ("7521"). */
static void expect_list(cairn_home *h, const cairn_run_query *q, const char *digits)
{
    cairn_run_record *list = NULL;
    size_t n = 99;
    cairn_error err = {0};
    if (cairn_run_list(h, q, &list, &n, &err) != CAIRN_OK)
        fail_msg("list: %s (%s)", err.msg, err.where);
    char got[32] = "";
    for (size_t i = 0; i < n && i + 1 < sizeof got; i++)
        got[i] = list[i].id[13];
    got[n < sizeof got ? n : sizeof got - 1] = '\0';
    if (strcmp(got, digits) != 0)
        fail_msg("list order %s, expected %s", got, digits);
    for (size_t i = 0; i < n; i++) {
        /* Each record is whole, without states but with its metrics. */
        size_t k = (size_t)(list[i].id[13] - '1');
        assert_string_equal(list[i].model, list_runs[k].model);
        assert_string_equal(list[i].status, list_runs[k].status);
        assert_string_equal(list[i].started_at, list_runs[k].started);
        assert_string_equal(list[i].eval_json, "{}");
        assert_null(list[i].model_state);
        assert_int_equal(list[i].model_state_len, 0);
        if (list_runs[k].auc < 0) {
            assert_int_equal(list[i].n_metrics, 0);
        } else {
            assert_int_equal(list[i].n_metrics, 2);
            assert_string_equal(list[i].metrics[0].name, "logloss");
            assert_true(list[i].metrics[0].estimate == 0.3 + 0.01 * (double)k);
            assert_string_equal(list[i].metrics[1].name, "auc");
            assert_same_double(list[i].metrics[1].estimate, list_runs[k].auc);
            assert_true(list[i].metrics[1].lo == 0.5);
        }
        cairn_run_record_reset(&list[i]);
    }
    cairn_free(list);
}

static void test_list(void **state)
{
    fixture *fx = *state;
    cairn_home *h = fresh_home(fx);
    cairn_run_record *list = NULL;
    size_t n = 99;

    /* Empty home. */
    assert_int_equal(cairn_run_list(h, NULL, &list, &n, NULL), CAIRN_OK);
    assert_int_equal(n, 0);
    cairn_free(list);

    store_list_fixture(h);
    /* By start time, newest first: 7 (03-05), 4 (03-04), 3 (03-03), then 2 and
     * 5 (both 03-02, by id), 1 (03-01), 6 (02-01). */
    expect_list(h, NULL, "7432516");
    cairn_run_query q = {0};
    expect_list(h, &q, "7432516");
    q.limit = 3;
    expect_list(h, &q, "743");
    q.limit = 100;
    expect_list(h, &q, "7432516");

    /* Filters. */
    q = (cairn_run_query){.model = "churn"};
    expect_list(h, &q, "73251");
    q = (cairn_run_query){.model = "fraud"};
    expect_list(h, &q, "46");
    q = (cairn_run_query){.status = "failed"};
    expect_list(h, &q, "3");
    q = (cairn_run_query){.model = "churn", .status = "succeeded"};
    expect_list(h, &q, "7251");
    q = (cairn_run_query){.model = "nope"};
    expect_list(h, &q, "");
    q = (cairn_run_query){.model = "churn%"}; /* a literal, not a pattern */
    expect_list(h, &q, "");

    /* auc: 4 .91, 5 .85, 1 .80, 2 .75 and 7 .75 (tie: 7 started later), then
     * the runs without it (3: no row, 6: NaN) by start time, both ways. */
    q = (cairn_run_query){.sort_metric = "auc"};
    expect_list(h, &q, "4517236");
    q.ascending = true;
    expect_list(h, &q, "7215436");
    q.limit = 2;
    expect_list(h, &q, "72");
    q = (cairn_run_query){.sort_metric = "auc", .model = "churn", .status = "succeeded"};
    expect_list(h, &q, "5172");
    q = (cairn_run_query){.sort_metric = "auc", .model = "fraud", .ascending = true};
    expect_list(h, &q, "46");
    /* logloss: 0.30 + 0.01 * index; run 3 and 6... 6 has it (NaN is only its auc). */
    q = (cairn_run_query){.sort_metric = "logloss", .ascending = true};
    expect_list(h, &q, "124567" "3");
    q.ascending = false;
    expect_list(h, &q, "765421" "3");
    /* A metric no run has: the default order. */
    q = (cairn_run_query){.sort_metric = "rmse"};
    expect_list(h, &q, "7432516");
    q = (cairn_run_query){.sort_metric = "x'); DROP TABLE runs; --"};
    expect_list(h, &q, "7432516");

    cairn_home_close(h);
}

/* ---- allocation failures ------------------------------------------------- */

/*
 * Fails the Nth allocation (alone, then the Nth and all after it) of store,
 * get and list: each ends in success or CAIRN_ENOMEM, a failure leaves no
 * output behind, and a success returns complete data. ASan reports leaks.
 */
static void test_allocation_failures(void **state)
{
    fixture *fx = *state;
    cairn_home *h = fresh_home(fx);
    cairn_error err = {0};
    store_list_fixture(h);
    cairn_run_record full;
    full_run(&full, "r-0123456789ab");

    for (int sticky = 0; sticky <= 1; sticky++) {
        /* store: one new id per attempt that succeeds. */
        bool done = false;
        for (long k = 1; k < 500 && !done; k++) {
            snprintf(full.id, sizeof full.id, "r-%012lx", 0xa00000000000l + k + 1000l * sticky);
            cairn_alloc_fail_after(k, sticky);
            cairn_status st = cairn_run_store(h, &full, &err);
            cairn_alloc_fail_after(0, false);
            assert_true(st == CAIRN_OK || st == CAIRN_ENOMEM);
            cairn_run_record got = {0};
            if (st == CAIRN_OK) {
                assert_int_equal(cairn_run_get(h, full.id, &got, &err), CAIRN_OK);
                assert_runs_equal(&full, &got, true);
                done = true;
            } else {
                assert_int_equal(cairn_run_get(h, full.id, &got, &err), CAIRN_ENOTFOUND);
            }
            cairn_run_record_reset(&got);
            assert_int_equal(sqlite3_get_autocommit(h->db), 1);
        }
        assert_true(done);

        /* get. */
        done = false;
        long failures = 0;
        for (long k = 1; k < 500 && !done; k++) {
            cairn_run_record got = {0};
            cairn_alloc_fail_after(k, sticky);
            cairn_status st = cairn_run_get(h, full.id, &got, &err);
            cairn_alloc_fail_after(0, false);
            assert_true(st == CAIRN_OK || st == CAIRN_ENOMEM);
            if (st == CAIRN_OK) {
                assert_runs_equal(&full, &got, true);
                done = sticky || k > 40; /* single failures: past the last allocation */
            } else {
                failures++;
                /* Nothing left behind. */
                assert_null(got.model);
                assert_null(got.metrics);
                assert_null(got.model_state);
                assert_int_equal(got.id[0], '\0');
            }
            cairn_run_record_reset(&got);
            assert_int_equal(sqlite3_get_autocommit(h->db), 1);
        }
        assert_true(done);
        assert_true(failures >= 20); /* a run with every field allocates that often */

        /* list. */
        done = false;
        failures = 0;
        for (long k = 1; k < 2000 && !done; k++) {
            cairn_run_record *list = (cairn_run_record *)&err; /* must be overwritten */
            size_t n = 77;
            cairn_alloc_fail_after(k, sticky);
            cairn_status st = cairn_run_list(h, NULL, &list, &n, &err);
            cairn_alloc_fail_after(0, false);
            assert_true(st == CAIRN_OK || st == CAIRN_ENOMEM);
            if (st == CAIRN_OK) {
                assert_int_equal(n, 7 + 1 + (size_t)sticky);
                for (size_t i = 0; i < n; i++)
                    cairn_run_record_reset(&list[i]);
                cairn_free(list);
                done = sticky || k > 400;
            } else {
                failures++;
                assert_null(list);
                assert_int_equal(n, 0);
            }
            assert_int_equal(sqlite3_get_autocommit(h->db), 1);
        }
        assert_true(done);
        assert_true(failures >= 20);
    }
    cairn_run_record_reset(&full);
    cairn_home_close(h);
}

/* ---- schema upgrade ------------------------------------------------------- */

/* The version-1 schema exactly as cairn 0.1 (schema version 1) created it. */
static const char v1_schema[] =
    "CREATE TABLE IF NOT EXISTS meta("
    " key TEXT PRIMARY KEY,"
    " value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS datasets("
    " name TEXT NOT NULL,"
    " version INTEGER NOT NULL CHECK (version >= 1),"
    " hash TEXT NOT NULL,"
    " source TEXT NOT NULL,"
    " source_bytes INTEGER NOT NULL,"
    " n_rows INTEGER NOT NULL,"
    " n_cols INTEGER NOT NULL,"
    " columns_json TEXT NOT NULL,"
    " stats_json TEXT NOT NULL,"
    " created_at TEXT NOT NULL,"
    " PRIMARY KEY (name, version));"
    "CREATE INDEX IF NOT EXISTS datasets_by_hash ON datasets(hash);";

/* Makes dir a home of the given schema version by hand, with one dataset row. */
static void make_old_home(const char *dir, int version)
{
    char path[800], sql[256];
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(path, sizeof path, "%s/objects", dir);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(path, sizeof path, "%s/logs", dir);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(path, sizeof path, "%s/cairn.db", dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, v1_schema, NULL, NULL, NULL), SQLITE_OK);
    snprintf(sql, sizeof sql,
             "INSERT INTO meta VALUES ('schema_version', '%d'), "
             "('created_at', '2024-01-01T00:00:00Z');", version);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "INSERT INTO datasets VALUES ('telco', 1, 'abc', 't.csv', 10, 3,"
                                  " 2, '[]', '[]', '2024-01-01T00:00:00Z')",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

/* schema_version and whether the runs tables exist, read with a plain connection. */
static void inspect_home(const char *dir, long long *version, long long *run_tables)
{
    char path[800];
    snprintf(path, sizeof path, "%s/cairn.db", dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    *version = sql_int(db, "SELECT value FROM meta WHERE key = 'schema_version'");
    *run_tables = sql_int(db, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'"
                              " AND name IN ('runs', 'run_metrics')");
    sqlite3_close(db);
}

/* The tables of a home, as "name:sql;" in name order (to compare two homes). */
static char *schema_of(sqlite3 *db)
{
    sqlite3_stmt *s = NULL;
    static char out[16384];
    size_t n = 0;
    out[0] = '\0';
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL"
                                        " ORDER BY name", -1, &s, NULL),
                     SQLITE_OK);
    while (sqlite3_step(s) == SQLITE_ROW)
        n += (size_t)snprintf(out + n, sizeof out - n, "%s:%s;", sqlite3_column_text(s, 0),
                              sqlite3_column_text(s, 1));
    assert_true(n < sizeof out);
    sqlite3_finalize(s);
    return out;
}

static void test_upgrade_v1(void **state)
{
    fixture *fx = *state;
    cairn_home *h = NULL;
    cairn_error err = {0};
    long long v, tables;

    make_old_home(fx->home, 1);
    inspect_home(fx->home, &v, &tables);
    assert_int_equal(v, 1);
    assert_int_equal(tables, 0);

    if (cairn_home_open(fx->home, &h, &err) != CAIRN_OK)
        fail_msg("open: %s (%s)", err.msg, err.where);
    assert_int_equal(sql_int(h->db, "SELECT value FROM meta WHERE key = 'schema_version'"),
                     CAIRN_HOME_SCHEMA_VERSION);
    /* The old data is still there, and runs work. */
    cairn_dataset_info info;
    assert_int_equal(cairn_dataset_get(h, "telco@1", &info, &err), CAIRN_OK);
    assert_int_equal(info.n_rows, 3);
    cairn_run_record r, got = {0};
    full_run(&r, "r-00000000beef");
    assert_int_equal(cairn_run_store(h, &r, &err), CAIRN_OK);
    assert_int_equal(cairn_run_get(h, "r-0000", &got, &err), CAIRN_OK);
    assert_runs_equal(&r, &got, true);
    assert_int_equal(sql_int(h->db, "SELECT value = '2024-01-01T00:00:00Z' FROM meta"
                                    " WHERE key = 'created_at'"), 1);

    /* The upgraded home has the same schema as a new one. */
    char fresh_dir[700];
    snprintf(fresh_dir, sizeof fresh_dir, "%s/fresh", fx->dir);
    assert_int_equal(cairn_home_init(fresh_dir, &err), CAIRN_OK);
    cairn_home *f = NULL;
    assert_int_equal(cairn_home_open(fresh_dir, &f, &err), CAIRN_OK);
    char *fresh_schema = strdup(schema_of(f->db));
    assert_string_equal(schema_of(h->db), fresh_schema);
    free(fresh_schema);
    assert_int_equal(sql_int(f->db, "SELECT value FROM meta WHERE key = 'schema_version'"),
                     CAIRN_HOME_SCHEMA_VERSION);
    cairn_home_close(f);
    cairn_home_close(h);

    /* Opening again changes nothing; init on a version-1 home upgrades it too. */
    assert_int_equal(cairn_home_open(fx->home, &h, &err), CAIRN_OK);
    assert_int_equal(sql_int(h->db, "SELECT COUNT(*) FROM runs"), 1);
    cairn_home_close(h);
    char other[700];
    snprintf(other, sizeof other, "%s/other", fx->dir);
    make_old_home(other, 1);
    assert_int_equal(cairn_home_init(other, &err), CAIRN_OK);
    inspect_home(other, &v, &tables);
    assert_int_equal(v, CAIRN_HOME_SCHEMA_VERSION);
    assert_int_equal(tables, 2);

    cairn_run_record_reset(&r);
    cairn_run_record_reset(&got);
}

/* A version-2 home (runs, no registry tables) gains refstats and the model registry on
 * open, keeps its runs, and ends up with a new home's schema. The version-2 home is made
 * from a new one by undoing step 3. */
static void test_upgrade_v2(void **state)
{
    fixture *fx = *state;
    cairn_home *h = NULL;
    cairn_error err = {0};
    cairn_run_record r, got = {0};
    assert_int_equal(cairn_home_init(fx->home, &err), CAIRN_OK);
    assert_int_equal(cairn_home_open(fx->home, &h, &err), CAIRN_OK);
    char *fresh_schema = strdup(schema_of(h->db));
    full_run(&r, "r-0000000000aa");
    assert_int_equal(cairn_run_store(h, &r, &err), CAIRN_OK);
    assert_int_equal(sqlite3_exec(h->db,
                                  "DROP TABLE aliases; DROP TABLE model_versions; DROP TABLE models;"
                                  "DROP TABLE audit; DROP TABLE signatures; DROP TABLE trusted_keys;"
                                  "ALTER TABLE runs DROP COLUMN refstats_json;"
                                  "UPDATE meta SET value = '2' WHERE key = 'schema_version';",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    cairn_home_close(h);
    h = NULL;

    assert_int_equal(cairn_home_open(fx->home, &h, &err), CAIRN_OK);
    assert_int_equal(sql_int(h->db, "SELECT value FROM meta WHERE key = 'schema_version'"),
                     CAIRN_HOME_SCHEMA_VERSION);
    assert_string_equal(schema_of(h->db), fresh_schema);
    assert_int_equal(cairn_run_get(h, "r-0000000000aa", &got, &err), CAIRN_OK);
    /* The run comes back whole; what version 2 could not hold is NULL. */
    cairn_free(r.refstats_json);
    r.refstats_json = NULL;
    assert_runs_equal(&r, &got, true);
    assert_null(got.refstats_json);
    cairn_home_close(h);
    free(fresh_schema);
    cairn_run_record_reset(&r);
    cairn_run_record_reset(&got);
}

static void test_newer_and_unknown_versions(void **state)
{
    fixture *fx = *state;
    cairn_home *h = NULL;
    cairn_error err = {0};
    long long v, tables;
    char dir[700];

    /* A version newer than this build's is refused, and left alone. */
    char newer[16];
    snprintf(newer, sizeof newer, "%d", CAIRN_HOME_SCHEMA_VERSION + 1);
    snprintf(dir, sizeof dir, "%s/newer", fx->dir);
    make_old_home(dir, CAIRN_HOME_SCHEMA_VERSION + 1);
    assert_int_equal(cairn_home_open(dir, &h, &err), CAIRN_ECORRUPT);
    assert_null(h);
    assert_non_null(strstr(err.msg, "newer"));
    assert_non_null(strstr(err.msg, newer));
    assert_int_equal(cairn_home_init(dir, &err), CAIRN_ECORRUPT);
    inspect_home(dir, &v, &tables);
    assert_int_equal(v, CAIRN_HOME_SCHEMA_VERSION + 1);
    assert_int_equal(tables, 0);

    /* Version 0 is not one cairn ever wrote. */
    snprintf(dir, sizeof dir, "%s/v0", fx->dir);
    make_old_home(dir, 0);
    assert_int_equal(cairn_home_open(dir, &h, &err), CAIRN_ECORRUPT);
    assert_non_null(strstr(err.msg, "not supported"));
    inspect_home(dir, &v, &tables);
    assert_int_equal(v, 0);
    assert_int_equal(tables, 0);

    /* A home made by init is opened as is. */
    assert_int_equal(cairn_home_init(fx->home, &err), CAIRN_OK);
    inspect_home(fx->home, &v, &tables);
    assert_int_equal(v, CAIRN_HOME_SCHEMA_VERSION);
    assert_int_equal(tables, 2);
}

/* A crash inside the upgrade's transaction leaves the version-1 home whole. */
static void test_upgrade_crash(void **state)
{
    fixture *fx = *state;
    cairn_home *h = NULL;
    long long v, tables;
    make_old_home(fx->home, 1);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setenv("CAIRN_TEST_CRASH_AT", "upgrade-before-commit", 1);
        cairn_home *ch = NULL;
        cairn_status st = cairn_home_open(fx->home, &ch, NULL);
        _exit(st == CAIRN_OK ? 0 : 1); /* not reached when the hook fires */
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), CAIRN_HOME_CRASH_EXIT);
    inspect_home(fx->home, &v, &tables);
    assert_int_equal(v, 1);
    assert_int_equal(tables, 0);
    assert_int_equal(cairn_home_open(fx->home, &h, NULL), CAIRN_OK);
    assert_int_equal(sql_int(h->db, "SELECT value FROM meta WHERE key = 'schema_version'"),
                     CAIRN_HOME_SCHEMA_VERSION);
    assert_int_equal(sql_int(h->db, "SELECT COUNT(*) FROM runs"), 0);
    cairn_home_close(h);
}

/*
 * Several processes open the same version-1 home at the same moment (released
 * together through a pipe); all succeed, the upgrade happens once, and each
 * then stores a run.
 */
static void test_upgrade_concurrent(void **state)
{
    fixture *fx = *state;
    enum { KIDS = 6 };
    pid_t pids[KIDS];
    int go[2];
    make_old_home(fx->home, 1);
    assert_int_equal(pipe(go), 0);
    for (int k = 0; k < KIDS; k++) {
        pids[k] = fork();
        assert_true(pids[k] >= 0);
        if (pids[k] == 0) {
            char c;
            close(go[1]);
            if (read(go[0], &c, 1) != 0) /* EOF when the parent closes its end */
                _exit(3);
            cairn_home *ch = NULL;
            cairn_run_record r;
            char id[CAIRN_RUN_ID_LEN + 1];
            if (cairn_home_open(fx->home, &ch, NULL) != CAIRN_OK)
                _exit(1);
            snprintf(id, sizeof id, "r-%012x", k + 1);
            minimal_run(&r, id, "m", "succeeded", "2024-01-01T00:00:00Z");
            cairn_status st = cairn_run_store(ch, &r, NULL);
            cairn_run_record_reset(&r);
            cairn_home_close(ch);
            _exit(st == CAIRN_OK ? 0 : 2);
        }
    }
    close(go[0]);
    close(go[1]); /* releases every child at once */
    for (int k = 0; k < KIDS; k++) {
        int status = 0;
        assert_int_equal(waitpid(pids[k], &status, 0), pids[k]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    cairn_home *h = NULL;
    assert_int_equal(cairn_home_open(fx->home, &h, NULL), CAIRN_OK);
    assert_int_equal(sql_int(h->db, "SELECT value FROM meta WHERE key = 'schema_version'"),
                     CAIRN_HOME_SCHEMA_VERSION);
    assert_int_equal(sql_int(h->db, "SELECT COUNT(*) FROM runs"), KIDS);
    assert_int_equal(sql_int(h->db, "SELECT COUNT(*) FROM meta"), 2);
    cairn_run_record *list = NULL;
    size_t n = 0;
    assert_int_equal(cairn_run_list(h, NULL, &list, &n, NULL), CAIRN_OK);
    assert_int_equal(n, KIDS);
    for (size_t i = 0; i < n; i++) {
        char want[CAIRN_RUN_ID_LEN + 1];
        snprintf(want, sizeof want, "r-%012x", (unsigned)(i + 1)); /* equal start times: by id */
        assert_string_equal(list[i].id, want);
        cairn_run_record_reset(&list[i]);
    }
    cairn_free(list);
    cairn_home_close(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_id),
        cmocka_unit_test(test_state_hash),
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_prefix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_allocation_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upgrade_v1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upgrade_v2, setup, teardown),
        cmocka_unit_test_setup_teardown(test_newer_and_unknown_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upgrade_crash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upgrade_concurrent, setup, teardown),
    };
    /* The crash hook must not fire in this process. */
    unsetenv("CAIRN_TEST_CRASH_AT");
    return cmocka_run_group_tests(tests, NULL, NULL);
}
