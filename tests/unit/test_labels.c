/*
 * test_labels.c -- delayed ground truth (src/monitor/labels.c) and the home's
 * schema step 4 that holds it (src/registry/home.c).
 *
 * Each test works in a fresh directory under $CAIRN_TEST_TMP (or /tmp).
 * Independent checks: expected times are written out by hand (2024-03-01T00:00Z
 * is 1709251200 s: 19783 days since 1970); what is stored is read back with
 * plain SQL besides the loaded index; the large case computes every label from
 * its row number and checks each lookup against that formula; lines of errors
 * are counted by hand in the fixture files (quoted newlines and blank lines
 * included); the upgraded home is compared with a new one table by table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "monitor/labels.h"
#include "registry/registry.h"

#define HOME_FIXTURE_PREFIX "labels"
#include "test_home_fixture.h"

#define T_2024_03_01 1709251200LL /* seconds */
#define US 1000000LL

/* ---- helpers ------------------------------------------------------------ */

static cairn_home *fresh_home(const fixture *fx)
{
    cairn_home *h = NULL;
    cairn_error err = {0};
    assert_int_equal(cairn_home_init(fx->home, &err), CAIRN_OK);
    assert_int_equal(cairn_home_open(fx->home, &h, &err), CAIRN_OK);
    return h;
}

/* Writes text to DIR/name; returns the path (static storage, one per slot). */
static const char *write_file(const fixture *fx, int slot, const char *name, const char *text)
{
    static char paths[4][700];
    snprintf(paths[slot], sizeof paths[slot], "%s/%s", fx->dir, name);
    FILE *f = fopen(paths[slot], "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
    return paths[slot];
}

static cairn_status add(cairn_home *h, const char *path, const char *key, const char *label,
                        const char *time, cairn_labels_add_result *r, cairn_error *err)
{
    cairn_labels_add_opts o = {.path = path, .key = key, .label = label, .time = time};
    return cairn_labels_add(h, &o, r, err);
}

static long long sql_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    long long v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

/* The stored value of one label, read with plain SQL ("" when absent; static storage). */
static const char *sql_value(sqlite3 *db, const char *kind, const char *key, long long ktime)
{
    static char out[256];
    sqlite3_stmt *s = NULL;
    out[0] = '\0';
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT value FROM labels WHERE kind=?1 AND key=?2 AND"
                                        " ktime=?3", -1, &s, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(s, 1, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, ktime);
    if (sqlite3_step(s) == SQLITE_ROW)
        snprintf(out, sizeof out, "%s", (const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    return out;
}

/* The value of the request label id in l, or NULL. */
static const char *request_value(const cairn_labels *l, const char *id)
{
    size_t i = cairn_labels_find_request(l, id, strlen(id));
    if (i == SIZE_MAX)
        return NULL;
    const cairn_label *lb = cairn_labels_get(l, i);
    assert_false(lb->by_entity);
    assert_string_equal(lb->key, id);
    return lb->value;
}

static void expect_counts(const cairn_labels_add_result *r, uint64_t rows, uint64_t added,
                          uint64_t dup, uint64_t changed, uint64_t skipped, uint64_t total)
{
    assert_int_equal(r->rows, rows);
    assert_int_equal(r->added, added);
    assert_int_equal(r->duplicates, dup);
    assert_int_equal(r->changed, changed);
    assert_int_equal(r->skipped, skipped);
    assert_int_equal(r->total, total);
}

/* ---- request and entity keys ---------------------------------------------- */

/* Request labels from CSV and JSON Lines keep their text as written. */
static void test_request_keys(void **state)
{
    fixture *fx = *state;
    cairn_home *h = fresh_home(fx);
    cairn_error err = {0};
    cairn_labels_add_result r;
    const char *csv = write_file(fx, 0, "req.csv",
                                 "request_id,outcome,other\n"
                                 "007,1.50,x\n"
                                 "req-b,no,y\n"
                                 "\"q,c\",\"  spaced \",z\n");
    assert_int_equal(add(h, csv, "request_id", "outcome", NULL, &r, &err), CAIRN_OK);
    expect_counts(&r, 3, 3, 0, 0, 0, 3);
    assert_int_equal(r.first_skipped_line, 0);

    /* JSON numbers and booleans are kept as their text. */
    const char *jl = write_file(fx, 1, "req.jsonl",
                                "{\"request_id\": 12, \"y\": 1.50, \"t\": 1709251200}\n"
                                "\n"
                                "{\"request_id\": \"z9\", \"y\": true, \"t\": \"2024-03-01T00:00:01Z\"}\n");
    assert_int_equal(add(h, jl, "request_id", "y", "t", &r, &err), CAIRN_OK);
    expect_counts(&r, 2, 2, 0, 0, 0, 5);

    cairn_labels *l = NULL;
    assert_int_equal(cairn_labels_load(h, &l, &err), CAIRN_OK);
    assert_int_equal(cairn_labels_count(l), 5);
    assert_string_equal(request_value(l, "007"), "1.50");
    assert_string_equal(request_value(l, "req-b"), "no");
    assert_string_equal(request_value(l, "q,c"), "  spaced ");
    assert_string_equal(request_value(l, "12"), "1.50");
    assert_string_equal(request_value(l, "z9"), "true");
    assert_null(request_value(l, "7"));
    assert_null(request_value(l, "00"));
    assert_null(request_value(l, "0070"));
    assert_null(request_value(l, ""));
    /* A prefix of the id given by length only. */
    assert_int_equal(cairn_labels_find_request(l, "req-bXX", 5),
                     cairn_labels_find_request(l, "req-b", 5));
    /* A request label is not an entity label. */
    size_t first = 0;
    assert_int_equal(cairn_labels_find_entity(l, "007", 3, &first), 0);
    /* The request time is kept when given, 0 otherwise. */
    const cairn_label *z9 = cairn_labels_get(l, cairn_labels_find_request(l, "z9", 2));
    assert_int_equal(z9->time_us, (T_2024_03_01 + 1) * US);
    const cairn_label *c12 = cairn_labels_get(l, cairn_labels_find_request(l, "12", 2));
    assert_int_equal(c12->time_us, T_2024_03_01 * US);
    const cairn_label *b = cairn_labels_get(l, cairn_labels_find_request(l, "req-b", 5));
    assert_int_equal(b->time_us, 0);
    assert_null(cairn_labels_get(l, 5));
    cairn_labels_free(l);

    /* The table, read directly. */
    assert_int_equal(sql_int(h->db, "SELECT COUNT(*) FROM labels WHERE kind='request' AND"
                                    " ktime=0"), 5);
    assert_string_equal(sql_value(h->db, "request", "007", 0), "1.50");
    assert_int_equal(sql_int(h->db, "SELECT COUNT(*) FROM labels WHERE source LIKE '%req.csv'"),
                     3);

    cairn_labels_summary s;
    assert_int_equal(cairn_labels_summarize(h, &s, &err), CAIRN_OK);
    assert_int_equal(s.request_labels, 5);
    assert_int_equal(s.entity_labels, 0);
    assert_int_equal(s.entities, 0);
    assert_int_equal(s.first_time_us, 0);
    assert_true(strlen(s.last_added_at) >= 20 && s.last_added_at[4] == '-');
    cairn_home_close(h);
}

/* Entity labels: one per (entity, time), found in increasing time whatever the file order. */
static void test_entity_order(void **state)
{
    fixture *fx = *state;
    cairn_home *h = fresh_home(fx);
    cairn_error err = {0};
    cairn_labels_add_result r;
    const char *csv = write_file(fx, 0, "ent.csv",
                                 "customer,churned,at\n"
                                 "c1,1,2024-03-03\n"
                                 "c2,0,1709251200\n"
                                 "c1,0,2024-03-01T00:00:00Z\n"
                                 "c1,1,1709337600.5\n"
                                 "c10,1,2024-03-01T02:00:00+02:00\n");
    assert_int_equal(add(h, csv, "customer", "churned", "at", &r, &err), CAIRN_OK);
    expect_counts(&r, 5, 5, 0, 0, 0, 5);
    cairn_labels *l = NULL;
    assert_int_equal(cairn_labels_load(h, &l, &err), CAIRN_OK);
    size_t first = SIZE_MAX;
    assert_int_equal(cairn_labels_find_entity(l, "c1", 2, &first), 3);
    const long long want_t[3] = {T_2024_03_01 * US, (T_2024_03_01 + 86400) * US + 500000,
                                 (T_2024_03_01 + 2 * 86400) * US};
    const char *want_v[3] = {"0", "1", "1"};
    for (size_t k = 0; k < 3; k++) {
        const cairn_label *lb = cairn_labels_get(l, first + k);
        assert_true(lb->by_entity);
        assert_string_equal(lb->key, "c1");
        assert_int_equal(lb->time_us, want_t[k]);
        assert_string_equal(lb->value, want_v[k]);
    }
    assert_int_equal(cairn_labels_find_entity(l, "c2", 2, &first), 1);
    assert_int_equal(cairn_labels_get(l, first)->time_us, T_2024_03_01 * US);
    /* +02:00 at 02:00 is midnight UTC. */
    assert_int_equal(cairn_labels_find_entity(l, "c10", 3, &first), 1);
    assert_int_equal(cairn_labels_get(l, first)->time_us, T_2024_03_01 * US);
    assert_int_equal(cairn_labels_find_entity(l, "c", 1, &first), 0);
    assert_int_equal(first, SIZE_MAX);
    assert_int_equal(cairn_labels_find_request(l, "c1", 2), SIZE_MAX);
    cairn_labels_free(l);

    cairn_labels_summary s;
    assert_int_equal(cairn_labels_summarize(h, &s, &err), CAIRN_OK);
    assert_int_equal(s.entity_labels, 5);
    assert_int_equal(s.entities, 3);
    assert_int_equal(s.request_labels, 0);
    assert_int_equal(s.first_time_us, T_2024_03_01 * US);
    assert_int_equal(s.last_time_us, (T_2024_03_01 + 2 * 86400) * US);
    cairn_home_close(h);
}

/* ---- duplicates and corrections ------------------------------------------- */

static void test_duplicates(void **state)
{
    fixture *fx = *state;
    cairn_home *h = fresh_home(fx);
    cairn_error err = {0};
    cairn_labels_add_result r;
    const char *a = write_file(fx, 0, "a.csv", "request_id,y\nr1,1\nr2,0\nr3,1\n");
    assert_int_equal(add(h, a, "request_id", "y", NULL, &r, &err), CAIRN_OK);
    expect_counts(&r, 3, 3, 0, 0, 0, 3);
    /* The same file again: every row a duplicate, nothing doubled. */
    assert_int_equal(add(h, a, "request_id", "y", NULL, &r, &err), CAIRN_OK);
    expect_counts(&r, 3, 0, 3, 0, 0, 3);
    assert_int_equal(sql_int(h->db, "SELECT COUNT(*) FROM labels"), 3);

    /* One same, one corrected, one new; inside the file, a repeat and a correction,
     * applied in order: r4 ends up "b". */
    const char *b = write_file(fx, 1, "b.csv",
                               "request_id,y\nr1,1\nr2,1\nr4,a\nr4,a\nr4,b\n");
    assert_int_equal(add(h, b, "request_id", "y", NULL, &r, &err), CAIRN_OK);
    expect_counts(&r, 5, 1, 2, 2, 0, 4);
    assert_string_equal(sql_value(h->db, "request", "r2", 0), "1");
    assert_string_equal(sql_value(h->db, "request", "r4", 0), "b");
    assert_string_equal(sql_value(h->db, "request", "r3", 0), "1");
    /* A corrected label records where the correction came from. */
    assert_int_equal(sql_int(h->db, "SELECT COUNT(*) FROM labels WHERE key='r2' AND source LIKE"
                                    " '%b.csv'"), 1);
    assert_int_equal(sql_int(h->db, "SELECT COUNT(*) FROM labels WHERE key='r3' AND source LIKE"
                                    " '%a.csv'"), 1);

    /* Entity labels: the same entity at another time is another label; at the same time
     * (written differently) the same one. */
    const char *c = write_file(fx, 2, "c.csv",
                               "e,y,t\n"
                               "u1,0,2024-03-01\n"
                               "u1,1,2024-03-02\n"
                               "u1,0,1709251200\n"
                               "u1,1,2024-03-01T00:00:00Z\n");
    assert_int_equal(add(h, c, "e", "y", "t", &r, &err), CAIRN_OK);
    expect_counts(&r, 4, 2, 1, 1, 0, 6);
    assert_string_equal(sql_value(h->db, "entity", "u1", T_2024_03_01 * US), "1");
    /* A request label and an entity label with the same key do not collide. */
    const char *d = write_file(fx, 3, "d.csv", "e,y,t\nr1,zz,2024-03-01\n");
    assert_int_equal(add(h, d, "e", "y", "t", &r, &err), CAIRN_OK);
    expect_counts(&r, 1, 1, 0, 0, 0, 7);
    assert_string_equal(sql_value(h->db, "request", "r1", 0), "1");

    cairn_labels *l = NULL;
    assert_int_equal(cairn_labels_load(h, &l, &err), CAIRN_OK);
    assert_int_equal(cairn_labels_count(l), 7);
    assert_string_equal(request_value(l, "r4"), "b");
    size_t first;
    assert_int_equal(cairn_labels_find_entity(l, "u1", 2, &first), 2);
    assert_string_equal(cairn_labels_get(l, first)->value, "1");
    assert_string_equal(cairn_labels_get(l, first + 1)->value, "1");
    assert_int_equal(cairn_labels_get(l, first + 1)->time_us, (T_2024_03_01 + 86400) * US);
    assert_int_equal(cairn_labels_find_entity(l, "r1", 2, &first), 1);
    assert_string_equal(cairn_labels_get(l, first)->value, "zz");
    cairn_labels_free(l);
    cairn_home_close(h);
}

/* ---- a large load ---------------------------------------------------------- */

/* 100k request labels and 100k entity labels (50k entities, 2 times each), written in a
 * shuffled order; every lookup is checked against the formula that made the file. */
static void test_load_200k(void **state)
{
    fixture *fx = *state;
    cairn_home *h = fresh_home(fx);
    cairn_error err = {0};
    cairn_labels_add_result r;
    enum { N_REQ = 100000, N_ENT = 50000 };
    char path_req[700], path_ent[700];
    snprintf(path_req, sizeof path_req, "%s/big_req.csv", fx->dir);
    snprintf(path_ent, sizeof path_ent, "%s/big_ent.jsonl", fx->dir);
    FILE *f = fopen(path_req, "w");
    assert_non_null(f);
    fprintf(f, "request_id,label\n");
    /* 7919 is prime and coprime with N_REQ: i -> i*7919 mod N visits every id once. */
    for (long i = 0; i < N_REQ; i++) {
        long k = (i * 7919) % N_REQ;
        fprintf(f, "q%ld,%ld\n", k, k % 3);
    }
    fclose(f);
    f = fopen(path_ent, "w");
    assert_non_null(f);
    for (long i = 0; i < N_ENT; i++) {
        long k = (i * 7919) % N_ENT;
        /* the later time first */
        fprintf(f, "{\"ent\":\"e%ld\",\"y\":%ld,\"t\":%lld}\n", k, (k + 1) % 2,
                T_2024_03_01 + k + 86400);
        fprintf(f, "{\"ent\":\"e%ld\",\"y\":%ld,\"t\":%lld}\n", k, k % 2, T_2024_03_01 + k);
    }
    fclose(f);
    assert_int_equal(add(h, path_req, "request_id", "label", NULL, &r, &err), CAIRN_OK);
    expect_counts(&r, N_REQ, N_REQ, 0, 0, 0, N_REQ);
    assert_int_equal(add(h, path_ent, "ent", "y", "t", &r, &err), CAIRN_OK);
    expect_counts(&r, 2 * N_ENT, 2 * N_ENT, 0, 0, 0, N_REQ + 2 * N_ENT);

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cairn_labels *l = NULL;
    assert_int_equal(cairn_labels_load(h, &l, &err), CAIRN_OK);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double load_s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    print_message("loaded %zu labels in %.3f s\n", cairn_labels_count(l), load_s);
    assert_int_equal(cairn_labels_count(l), N_REQ + 2 * N_ENT);

    char id[32], want[32];
    for (long k = 0; k < N_REQ; k++) {
        snprintf(id, sizeof id, "q%ld", k);
        snprintf(want, sizeof want, "%ld", k % 3);
        const char *v = request_value(l, id);
        assert_non_null(v);
        assert_string_equal(v, want);
    }
    for (long k = 0; k < N_ENT; k++) {
        size_t first;
        int n = snprintf(id, sizeof id, "e%ld", k);
        assert_int_equal(cairn_labels_find_entity(l, id, (size_t)n, &first), 2);
        const cairn_label *a = cairn_labels_get(l, first), *b = cairn_labels_get(l, first + 1);
        assert_string_equal(a->key, id);
        assert_string_equal(b->key, id);
        assert_int_equal(a->time_us, (T_2024_03_01 + k) * US);
        assert_int_equal(b->time_us, (T_2024_03_01 + k + 86400) * US);
        snprintf(want, sizeof want, "%ld", k % 2);
        assert_string_equal(a->value, want);
        snprintf(want, sizeof want, "%ld", (k + 1) % 2);
        assert_string_equal(b->value, want);
    }
    /* Absent keys between and beyond the stored ones. */
    assert_int_equal(cairn_labels_find_request(l, "q100000", 7), SIZE_MAX);
    assert_int_equal(cairn_labels_find_request(l, "a", 1), SIZE_MAX);
    assert_int_equal(cairn_labels_find_request(l, "z", 1), SIZE_MAX);
    size_t first;
    assert_int_equal(cairn_labels_find_entity(l, "e50000", 6, &first), 0);
    cairn_labels_free(l);
    cairn_home_close(h);
}

/* ---- errors ---------------------------------------------------------------- */

/* Missing columns, bad times, skipped rows, bad options; each with its place. */
static void test_errors(void **state)
{
    fixture *fx = *state;
    cairn_home *h = fresh_home(fx);
    cairn_error err = {0};
    cairn_labels_add_result r;
    char want[800];

    /* The header is line 2 (a blank line first). */
    const char *a = write_file(fx, 0, "a.csv", "\nrequest_id,y\nr1,1\n");
    assert_int_equal(add(h, a, "request_id", "label", NULL, &r, &err), CAIRN_EINPUT);
    snprintf(want, sizeof want, "%s:2", a);
    assert_string_equal(err.where, want);
    assert_non_null(strstr(err.msg, "'label'"));
    assert_int_equal(r.rows, 0);
    memset(&err, 0, sizeof err);
    assert_int_equal(add(h, a, "request_id", "y", "when", &r, &err), CAIRN_EINPUT);
    assert_non_null(strstr(err.msg, "'when'"));
    memset(&err, 0, sizeof err);
    assert_int_equal(add(h, a, "entity", "y", "t", &r, &err), CAIRN_EINPUT);
    assert_non_null(strstr(err.msg, "'entity'"));

    /* A bad time on line 6: a quoted newline and a blank line come before it. */
    const char *b = write_file(fx, 1, "b.csv",
                               "request_id,y,t\n"
                               "r1,1,2024-03-01\n"
                               "r2,\"multi\n"
                               "line\",2024-03-02\n"
                               "\n"
                               "r3,1,yesterday\n");
    memset(&err, 0, sizeof err);
    assert_int_equal(add(h, b, "request_id", "y", "t", &r, &err), CAIRN_EINPUT);
    snprintf(want, sizeof want, "%s:6", b);
    assert_string_equal(err.where, want);
    assert_non_null(strstr(err.msg, "yesterday"));
    /* JSON Lines: the line counts blank lines. */
    const char *c = write_file(fx, 2, "c.jsonl",
                               "{\"e\":\"u\",\"y\":1,\"t\":\"2024-03-01\"}\n"
                               "   \n"
                               "\n"
                               "{\"e\":\"u\",\"y\":1,\"t\":\"2024-13-01\"}\n");
    memset(&err, 0, sizeof err);
    assert_int_equal(add(h, c, "e", "y", "t", &r, &err), CAIRN_EINPUT);
    snprintf(want, sizeof want, "%s:4", c);
    assert_string_equal(err.where, want);
    /* Nothing was stored by either. */
    assert_int_equal(sql_int(h->db, "SELECT COUNT(*) FROM labels"), 0);

    /* Skipped rows: counted, the first one's line reported, the rest stored. */
    const char *d = write_file(fx, 3, "d.csv",
                               "request_id,y,t\n"
                               "r1,1,\n"
                               "\"r\n2\",1,2024-03-01\n"
                               ",1,2024-03-01\n"
                               "r4,NA,2024-03-01\n"
                               "r5,0,2024-03-01\n");
    assert_int_equal(add(h, d, "request_id", "y", "t", &r, &err), CAIRN_OK);
    expect_counts(&r, 5, 2, 0, 0, 3, 2);
    assert_int_equal(r.first_skipped_line, 2);
    assert_string_equal(sql_value(h->db, "request", "r\n2", 0), "1");
    const char *e = write_file(fx, 0, "e.csv", "request_id,y\nr1,1\nr2,1\n\n\"r3\",\n");
    assert_int_equal(add(h, e, "request_id", "y", NULL, &r, &err), CAIRN_OK);
    expect_counts(&r, 3, 2, 0, 0, 1, 4);
    assert_int_equal(r.first_skipped_line, 5);

    /* Options. */
    memset(&err, 0, sizeof err);
    assert_int_equal(add(h, d, "customer", "y", NULL, &r, &err), CAIRN_EINVAL);
    assert_int_equal(add(h, d, "request_id", NULL, NULL, &r, &err), CAIRN_EINVAL);
    assert_int_equal(add(h, NULL, "request_id", "y", NULL, &r, &err), CAIRN_EINVAL);
    cairn_labels_add_opts o = {.path = d, .key = "request_id", .label = "y", .format = "xml"};
    assert_int_equal(cairn_labels_add(h, &o, &r, &err), CAIRN_EINVAL);
    /* A forced format wins over the extension. */
    const char *j = write_file(fx, 1, "j.txt", "{\"request_id\":\"j1\",\"y\":\"ok\"}\n");
    o = (cairn_labels_add_opts){.path = j, .key = "request_id", .label = "y", .format = "jsonl"};
    assert_int_equal(cairn_labels_add(h, &o, &r, &err), CAIRN_OK);
    expect_counts(&r, 1, 1, 0, 0, 0, 5);
    /* A missing file. */
    snprintf(want, sizeof want, "%s/nope.csv", fx->dir);
    assert_int_equal(add(h, want, "request_id", "y", NULL, &r, &err), CAIRN_ENOTFOUND);
    cairn_home_close(h);
}

/* A bad row in the middle of a file stores nothing: earlier rows of the file neither add
 * nor change labels. */
static void test_all_or_nothing(void **state)
{
    fixture *fx = *state;
    cairn_home *h = fresh_home(fx);
    cairn_error err = {0};
    cairn_labels_add_result r;
    const char *a = write_file(fx, 0, "a.csv", "e,y,t\nu1,old,2024-03-01\n");
    assert_int_equal(add(h, a, "e", "y", "t", &r, &err), CAIRN_OK);
    const char *b = write_file(fx, 1, "b.csv",
                               "e,y,t\n"
                               "u1,new,2024-03-01\n"
                               "u2,1,2024-03-01\n"
                               "u3,1,2024-03-32\n"
                               "u4,1,2024-03-01\n");
    memset(&r, 0xab, sizeof r);
    assert_int_equal(add(h, b, "e", "y", "t", &r, &err), CAIRN_EINPUT);
    assert_int_equal(r.added, 0);
    assert_int_equal(r.total, 0);
    char want[800];
    snprintf(want, sizeof want, "%s:4", b);
    assert_string_equal(err.where, want);
    assert_int_equal(sql_int(h->db, "SELECT COUNT(*) FROM labels"), 1);
    assert_string_equal(sql_value(h->db, "entity", "u1", T_2024_03_01 * US), "old");
    /* The home is usable afterwards (no transaction left open). */
    assert_true(sqlite3_get_autocommit(h->db));
    assert_int_equal(add(h, a, "e", "y", "t", &r, &err), CAIRN_OK);
    expect_counts(&r, 1, 0, 1, 0, 0, 1);
    cairn_home_close(h);
}

/* ---- schema ----------------------------------------------------------------- */

/* The tables and indexes of a home, as "name:sql;" in name order. */
static char *schema_of(sqlite3 *db)
{
    sqlite3_stmt *s = NULL;
    cairn_buf b;
    cairn_buf_init(&b);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL"
                                        " ORDER BY name", -1, &s, NULL),
                     SQLITE_OK);
    while (sqlite3_step(s) == SQLITE_ROW)
        cairn_buf_printf(&b, "%s:%s;", sqlite3_column_text(s, 0), sqlite3_column_text(s, 1));
    sqlite3_finalize(s);
    char *out = cairn_buf_take(&b);
    assert_non_null(out);
    return out;
}

/* A version-3 home (no labels table) gains it on open, keeps what it had, and ends up
 * with a new home's schema. */
static void test_upgrade_v3(void **state)
{
    fixture *fx = *state;
    cairn_error err = {0};
    cairn_home *h = fresh_home(fx);
    assert_int_equal(CAIRN_HOME_SCHEMA_VERSION, 4);
    char *fresh = schema_of(h->db);
    assert_non_null(strstr(fresh, "labels:CREATE TABLE"));
    cairn_home_close(h);

    char db_path[700];
    snprintf(db_path, sizeof db_path, "%s/cairn.db", fx->home);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "DROP INDEX labels_by_added; DROP TABLE labels;"
                                  "UPDATE meta SET value = '3' WHERE key = 'schema_version';",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(sql_int(db, "SELECT COUNT(*) FROM sqlite_master WHERE name='labels'"), 0);
    sqlite3_close(db);

    h = NULL;
    assert_int_equal(cairn_home_open(fx->home, &h, &err), CAIRN_OK);
    assert_int_equal(sql_int(h->db, "SELECT value FROM meta WHERE key = 'schema_version'"), 4);
    char *upgraded = schema_of(h->db);
    assert_string_equal(upgraded, fresh);
    cairn_free(upgraded);
    cairn_free(fresh);
    /* And it stores labels. */
    cairn_labels_add_result r;
    const char *a = write_file(fx, 0, "a.csv", "request_id,y\nr1,1\n");
    assert_int_equal(add(h, a, "request_id", "y", NULL, &r, &err), CAIRN_OK);
    expect_counts(&r, 1, 1, 0, 0, 0, 1);
    cairn_home_close(h);
}

/* The table refuses a kind other than the two. */
static void test_table_check(void **state)
{
    fixture *fx = *state;
    cairn_home *h = fresh_home(fx);
    assert_int_not_equal(sqlite3_exec(h->db,
                                      "INSERT INTO labels VALUES ('other','k',0,0,'v','t','s')",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
    cairn_labels *l = NULL;
    cairn_error err = {0};
    assert_int_equal(cairn_labels_load(h, &l, &err), CAIRN_OK);
    assert_int_equal(cairn_labels_count(l), 0);
    size_t first;
    assert_int_equal(cairn_labels_find_request(l, "k", 1), SIZE_MAX);
    assert_int_equal(cairn_labels_find_entity(l, "k", 1, &first), 0);
    cairn_labels_free(l);
    cairn_labels_free(NULL);
    cairn_home_close(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_request_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_entity_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_200k, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_all_or_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upgrade_v3, setup, teardown),
        cmocka_unit_test_setup_teardown(test_table_check, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
