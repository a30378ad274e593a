/*
 * test_split.c -- splits (src/pipeline/split.c): every kind on small
 * synthetic frames, checked by properties computed here independently of the
 * split code: time order between parts and no timestamp in two parts; the
 * last rows as test for an order split; no entity in two parts for a group
 * split (compared by the entity strings, not by ids); per-class counts of a
 * stratified split within one row of the exact proportion; determinism for a
 * seed and different parts for another seed; the AUTO rule; the refusal of a
 * random split on timed data and its finding when allowed; errors for empty
 * parts, bad fractions and null times; and every allocation failure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "pipeline/split.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A test-local generator so the data does not depend on the code under test. */
static uint64_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

enum { C_TIME = 0, C_ENT, C_LABEL, C_X, C_YREG, N_COLS };

/*
 * n rows: time = a timestamp with many ties (n_times distinct values, rows
 * shuffled), entity = "e<k>" with entity sizes 1..7, label = "a"/"b"/"c" in
 * proportions 5:3:2, x = noise, yreg = a number.
 */
static cairn_frame *make_frame(size_t n, size_t n_times, uint64_t seed)
{
    cairn_frame *f = NULL;
    assert_int_equal(cairn_frame_new(N_COLS, &f, NULL), CAIRN_OK);
    assert_int_equal(cairn_column_alloc(&f->cols[C_TIME], "t", CAIRN_TYPE_TIMESTAMP, n, NULL), 0);
    assert_int_equal(cairn_column_alloc(&f->cols[C_ENT], "ent", CAIRN_TYPE_STRING, n, NULL), 0);
    assert_int_equal(cairn_column_alloc(&f->cols[C_LABEL], "y", CAIRN_TYPE_STRING, n, NULL), 0);
    assert_int_equal(cairn_column_alloc(&f->cols[C_X], "x", CAIRN_TYPE_FLOAT64, n, NULL), 0);
    assert_int_equal(cairn_column_alloc(&f->cols[C_YREG], "yr", CAIRN_TYPE_FLOAT64, n, NULL), 0);
    f->n_rows = n;
    uint64_t s = seed;
    size_t ent = 0, left = 0;
    for (size_t i = 0; i < n; i++) {
        for (int c = 0; c < N_COLS; c++)
            f->cols[c].valid[i] = 1;
        f->cols[C_TIME].v.i64[i] = 1700000000000000LL + (int64_t)(lcg(&s) % n_times) * 3600000000LL;
        if (left == 0) {
            ent++;
            left = 1 + lcg(&s) % 7;
        }
        left--;
        char name[32];
        int len = snprintf(name, sizeof name, "e%zu", ent);
        uint32_t code;
        assert_int_equal(cairn_dict_intern(&f->cols[C_ENT].dict, name, (size_t)len, &code), 0);
        f->cols[C_ENT].v.codes[i] = code;
        uint64_t r = lcg(&s) % 10;
        const char *lab = r < 5 ? "a" : r < 8 ? "b" : "c";
        assert_int_equal(cairn_dict_intern(&f->cols[C_LABEL].dict, lab, 1, &code), 0);
        f->cols[C_LABEL].v.codes[i] = code;
        f->cols[C_X].v.f64[i] = (double)(lcg(&s) % 1000) / 7.0;
        f->cols[C_YREG].v.f64[i] = (double)(lcg(&s) % 500);
    }
    return f;
}

static void check_counts(const cairn_split *s)
{
    size_t c[3] = {0, 0, 0};
    for (size_t i = 0; i < s->n_rows; i++) {
        assert_true(s->part[i] <= 2);
        c[s->part[i]]++;
    }
    for (int p = 0; p < 3; p++)
        assert_int_equal(c[p], s->count[p]);
}

/* ---- time ---------------------------------------------------------------------- */

static void test_time_split(void **state)
{
    (void)state;
    cairn_frame *f = make_frame(1000, 137, 1);
    cairn_split_cfg cfg;
    cairn_split_cfg_init(&cfg);
    cfg.by = CAIRN_SPLIT_TIME;
    cfg.time_col = C_TIME;
    cairn_split s = {0};
    cairn_error err = {0};
    assert_int_equal(cairn_split_make(f, &cfg, &s, NULL, &err), CAIRN_OK);
    assert_int_equal(s.by, CAIRN_SPLIT_TIME);
    check_counts(&s);
    /* Every time of an earlier part is strictly before every time of a later
     * one: that is "no timestamp in two parts" and the time order at once. */
    int64_t max_p[3] = {INT64_MIN, INT64_MIN, INT64_MIN}, min_p[3] = {INT64_MAX, INT64_MAX, INT64_MAX};
    for (size_t i = 0; i < f->n_rows; i++) {
        int64_t t = f->cols[C_TIME].v.i64[i];
        int p = s.part[i];
        if (t > max_p[p])
            max_p[p] = t;
        if (t < min_p[p])
            min_p[p] = t;
    }
    assert_true(max_p[CAIRN_PART_TRAIN] < min_p[CAIRN_PART_VALID]);
    assert_true(max_p[CAIRN_PART_VALID] < min_p[CAIRN_PART_TEST]);
    /* Fractions are met within the largest run of tied times. */
    size_t run[137] = {0}, max_run = 0;
    for (size_t i = 0; i < f->n_rows; i++) {
        size_t k = (size_t)((f->cols[C_TIME].v.i64[i] - 1700000000000000LL) / 3600000000LL);
        if (++run[k] > max_run)
            max_run = run[k];
    }
    assert_true(labs((long)s.count[CAIRN_PART_TEST] - 200) <= (long)max_run);
    assert_true(labs((long)s.count[CAIRN_PART_VALID] - 100) <= 2 * (long)max_run);
    cairn_split_reset(&s);
    cairn_frame_free(f);
}

/* Ties at the boundary: 10 rows at each of 5 times; test 0.25 asks for 12.5
 * rows, which would cut the run of time 3; the run goes to one side whole. */
static void test_time_ties(void **state)
{
    (void)state;
    cairn_frame *f = make_frame(50, 5, 2);
    for (size_t i = 0; i < 50; i++)
        f->cols[C_TIME].v.i64[i] = (int64_t)(i % 5);
    cairn_split_cfg cfg;
    cairn_split_cfg_init(&cfg);
    cfg.by = CAIRN_SPLIT_TIME;
    cfg.time_col = C_TIME;
    cfg.test = 0.25;
    cfg.valid = 0.19;
    cairn_split s = {0};
    assert_int_equal(cairn_split_make(f, &cfg, &s, NULL, NULL), CAIRN_OK);
    assert_int_equal(s.count[CAIRN_PART_TEST] % 10, 0);
    assert_int_equal(s.count[CAIRN_PART_VALID] % 10, 0);
    for (int t = 0; t < 5; t++) {
        int part = -1;
        for (size_t i = 0; i < 50; i++)
            if (f->cols[C_TIME].v.i64[i] == t) {
                if (part < 0)
                    part = s.part[i];
                assert_int_equal(part, s.part[i]);
            }
    }
    cairn_split_reset(&s);

    /* One time only: the boundary has nowhere to go, so test would be empty. */
    for (size_t i = 0; i < 50; i++)
        f->cols[C_TIME].v.i64[i] = 7;
    cairn_error err = {0};
    assert_int_equal(cairn_split_make(f, &cfg, &s, NULL, &err), CAIRN_EINPUT);
    assert_non_null(strstr(err.msg, "would be empty"));
    assert_null(s.part);

    /* A null time is refused with the count. */
    f->cols[C_TIME].v.i64[3] = 0;
    f->cols[C_TIME].valid[3] = 0;
    f->cols[C_TIME].valid[9] = 0;
    assert_int_equal(cairn_split_make(f, &cfg, &s, NULL, &err), CAIRN_EINPUT);
    assert_non_null(strstr(err.msg, "2 rows with a null time"));

    /* A string column is no time axis. */
    cfg.time_col = C_LABEL;
    assert_int_equal(cairn_split_make(f, &cfg, &s, NULL, &err), CAIRN_EINVAL);
    cairn_frame_free(f);
}

/* ---- order --------------------------------------------------------------------------- */

static void test_order_split(void **state)
{
    (void)state;
    cairn_frame *f = make_frame(997, 10, 3);
    cairn_split_cfg cfg;
    cairn_split_cfg_init(&cfg);
    cfg.by = CAIRN_SPLIT_ORDER;
    cfg.test = 0.3;
    cfg.valid = 0.15;
    cairn_split s = {0};
    assert_int_equal(cairn_split_make(f, &cfg, &s, NULL, NULL), CAIRN_OK);
    size_t n_test = (size_t)llround(997 * 0.3), n_valid = (size_t)llround(997 * 0.15);
    for (size_t i = 0; i < 997; i++) {
        int want = i >= 997 - n_test ? CAIRN_PART_TEST
                   : i >= 997 - n_test - n_valid ? CAIRN_PART_VALID
                                                 : CAIRN_PART_TRAIN;
        assert_int_equal(s.part[i], want);
    }
    check_counts(&s);
    cairn_split_reset(&s);
    cairn_frame_free(f);
}

/* ---- group ----------------------------------------------------------------------------- */

static void group_split(const cairn_frame *f, uint64_t seed, cairn_split *s)
{
    cairn_split_cfg cfg;
    cairn_split_cfg_init(&cfg);
    cfg.by = CAIRN_SPLIT_GROUP;
    cfg.entity_col = C_ENT;
    cfg.seed = seed;
    assert_int_equal(cairn_split_make(f, &cfg, s, NULL, NULL), CAIRN_OK);
    assert_int_equal(s->by, CAIRN_SPLIT_GROUP);
    check_counts(s);
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void test_group_split(void **state)
{
    (void)state;
    size_t n = 2000;
    cairn_frame *f = make_frame(n, 50, 4);
    cairn_split a = {0}, b = {0}, c = {0};
    group_split(f, 11, &a);
    group_split(f, 11, &b);
    group_split(f, 12, &c);
    assert_memory_equal(a.part, b.part, n);
    assert_true(memcmp(a.part, c.part, n) != 0);
    /* No entity in two parts: sort rows by the entity's string and compare
     * parts within each run. */
    const cairn_column *e = &f->cols[C_ENT];
    const char **name = calloc(n, sizeof *name);
    char *pbuf = calloc(n, 64);
    for (size_t i = 0; i < n; i++) {
        snprintf(pbuf + 64 * i, 64, "%s\x01%d", cairn_dict_str(&e->dict, e->v.codes[i]), a.part[i]);
        name[i] = pbuf + 64 * i;
    }
    qsort(name, n, sizeof *name, str_cmp);
    for (size_t i = 1; i < n; i++) {
        size_t la = strchr(name[i - 1], '\x01') - name[i - 1];
        size_t lb = strchr(name[i], '\x01') - name[i];
        if (la == lb && memcmp(name[i - 1], name[i], la) == 0)
            assert_string_equal(name[i - 1], name[i]); /* same entity, same part */
    }
    free(name);
    free(pbuf);
    /* Fractions within one entity (at most 7 rows) of the target. */
    assert_true(labs((long)a.count[CAIRN_PART_TEST] - 400) <= 7);
    assert_true(labs((long)a.count[CAIRN_PART_VALID] - 200) <= 7);
    cairn_split_reset(&a);
    cairn_split_reset(&b);
    cairn_split_reset(&c);

    /* One entity cannot fill three parts. */
    for (size_t i = 0; i < n; i++)
        e->v.codes[i] = 0;
    cairn_split_cfg cfg;
    cairn_split_cfg_init(&cfg);
    cfg.by = CAIRN_SPLIT_GROUP;
    cfg.entity_col = C_ENT;
    cairn_error err = {0};
    assert_int_equal(cairn_split_make(f, &cfg, &a, NULL, &err), CAIRN_EINPUT);
    assert_non_null(strstr(err.msg, "too few entities"));
    cairn_frame_free(f);
}

/* ---- stratified ---------------------------------------------------------------------------- */

static void test_stratified_split(void **state)
{
    (void)state;
    size_t n = 1203;
    cairn_frame *f = make_frame(n, 50, 5);
    cairn_split_cfg cfg;
    cairn_split_cfg_init(&cfg);
    cfg.by = CAIRN_SPLIT_STRATIFIED;
    cfg.label_col = C_LABEL;
    cfg.seed = 99;
    cairn_split s = {0}, s2 = {0}, s3 = {0};
    assert_int_equal(cairn_split_make(f, &cfg, &s, NULL, NULL), CAIRN_OK);
    assert_int_equal(cairn_split_make(f, &cfg, &s2, NULL, NULL), CAIRN_OK);
    cfg.seed = 100;
    assert_int_equal(cairn_split_make(f, &cfg, &s3, NULL, NULL), CAIRN_OK);
    check_counts(&s);
    assert_memory_equal(s.part, s2.part, n);
    assert_true(memcmp(s.part, s3.part, n) != 0);
    /* Per class: part counts within one row of class size x fraction. */
    const cairn_column *y = &f->cols[C_LABEL];
    const double frac[3] = {0.7, 0.1, 0.2};
    for (uint32_t k = 0; k < y->dict.n; k++) {
        size_t tot = 0, in[3] = {0, 0, 0};
        for (size_t i = 0; i < n; i++)
            if (y->v.codes[i] == k) {
                tot++;
                in[s.part[i]]++;
            }
        for (int p = 0; p < 3; p++)
            assert_true(fabs((double)in[p] - frac[p] * (double)tot) <= 1.0);
    }
    cairn_split_reset(&s);
    cairn_split_reset(&s2);
    cairn_split_reset(&s3);

    /* Regression: strata are label deciles, so each decile's test share is
     * within one row of 20%. The deciles are computed here by sorting. */
    cfg.label_col = C_YREG;
    cfg.task = CAIRN_TASK_REGRESSION;
    assert_int_equal(cairn_split_make(f, &cfg, &s, NULL, NULL), CAIRN_OK);
    double *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = f->cols[C_YREG].v.f64[i];
    size_t test_hi = 0, tot_hi = 0;
    for (size_t i = 0; i < n; i++)
        if (v[i] >= 250) {
            tot_hi++;
            test_hi += s.part[i] == CAIRN_PART_TEST;
        }
    /* The upper half of the label range is several whole strata: its test
     * share is 20% within one row per stratum. */
    assert_true(fabs((double)test_hi - 0.2 * (double)tot_hi) <= 11.0);
    free(v);
    cairn_split_reset(&s);

    /* Too few rows: 3 rows, test 0.1 rounds to no test row. */
    cairn_frame *g = make_frame(3, 2, 6);
    cfg.task = CAIRN_TASK_BINARY;
    cfg.label_col = -1;
    cfg.test = 0.1;
    cfg.valid = 0;
    cairn_error err = {0};
    assert_int_equal(cairn_split_make(g, &cfg, &s, NULL, &err), CAIRN_EINPUT);
    assert_non_null(strstr(err.msg, "test part"));
    cairn_frame_free(g);
    cairn_frame_free(f);
}

/* ---- AUTO, the time-leak rule, bad arguments ---------------------------------------------- */

static void test_auto_rule(void **state)
{
    (void)state;
    cairn_split_cfg cfg;
    cairn_split_cfg_init(&cfg);
    assert_int_equal(cairn_split_resolve(&cfg), CAIRN_SPLIT_STRATIFIED);
    cfg.entity_col = 1;
    assert_int_equal(cairn_split_resolve(&cfg), CAIRN_SPLIT_GROUP);
    cfg.time_col = 0;
    assert_int_equal(cairn_split_resolve(&cfg), CAIRN_SPLIT_TIME);
    cfg.by = CAIRN_SPLIT_ORDER;
    assert_int_equal(cairn_split_resolve(&cfg), CAIRN_SPLIT_ORDER);

    cairn_frame *f = make_frame(300, 30, 7);
    cairn_split s = {0};
    cairn_split_cfg_init(&cfg);
    cfg.time_col = C_TIME;
    cfg.entity_col = C_ENT;
    assert_int_equal(cairn_split_make(f, &cfg, &s, NULL, NULL), CAIRN_OK);
    assert_int_equal(s.by, CAIRN_SPLIT_TIME);
    cairn_split_reset(&s);
    cfg.time_col = -1;
    assert_int_equal(cairn_split_make(f, &cfg, &s, NULL, NULL), CAIRN_OK);
    assert_int_equal(s.by, CAIRN_SPLIT_GROUP);
    cairn_split_reset(&s);
    cfg.entity_col = -1;
    assert_int_equal(cairn_split_make(f, &cfg, &s, NULL, NULL), CAIRN_OK);
    assert_int_equal(s.by, CAIRN_SPLIT_STRATIFIED);
    cairn_split_reset(&s);
    cairn_frame_free(f);
}

static void test_time_leak_rule(void **state)
{
    (void)state;
    cairn_frame *f = make_frame(300, 30, 8);
    cairn_split_cfg cfg;
    cairn_split_cfg_init(&cfg);
    cfg.by = CAIRN_SPLIT_STRATIFIED;
    cfg.time_col = C_TIME;
    cfg.label_col = C_LABEL;
    cairn_split s = {0};
    cairn_findings fl = {0};
    cairn_error err = {0};
    assert_int_equal(cairn_split_make(f, &cfg, &s, &fl, &err), CAIRN_EINVAL);
    assert_non_null(strstr(err.msg, "allow_time_leak"));
    assert_int_equal(fl.n, 0);
    cfg.allow_time_leak = true;
    assert_int_equal(cairn_split_make(f, &cfg, &s, &fl, &err), CAIRN_OK);
    assert_int_equal(fl.n, 1);
    assert_string_equal(fl.items[0].code, "random_split_with_time");
    assert_int_equal(fl.items[0].severity, CAIRN_SEV_HIGH);
    assert_string_equal(fl.items[0].column, "t");
    cairn_split_reset(&s);
    cairn_findings_reset(&fl);

    /* Bad fractions and columns. */
    cairn_split_cfg_init(&cfg);
    cfg.test = 0;
    assert_int_equal(cairn_split_make(f, &cfg, &s, NULL, NULL), CAIRN_EINVAL);
    cfg.test = 0.6;
    cfg.valid = 0.4;
    assert_int_equal(cairn_split_make(f, &cfg, &s, NULL, NULL), CAIRN_EINVAL);
    cfg.valid = NAN;
    assert_int_equal(cairn_split_make(f, &cfg, &s, NULL, NULL), CAIRN_EINVAL);
    cairn_split_cfg_init(&cfg);
    cfg.label_col = 99;
    assert_int_equal(cairn_split_make(f, &cfg, &s, NULL, NULL), CAIRN_EINVAL);
    cfg.label_col = -1;
    cfg.by = CAIRN_SPLIT_GROUP;
    assert_int_equal(cairn_split_make(f, &cfg, &s, NULL, NULL), CAIRN_EINVAL);
    assert_null(s.part);
    cairn_frame_free(f);
}

/* ---- allocation failures --------------------------------------------------------------------- */

static void test_alloc_failures(void **state)
{
    (void)state;
    cairn_frame *f = make_frame(200, 20, 9);
    const cairn_split_by kinds[4] = {CAIRN_SPLIT_TIME, CAIRN_SPLIT_ORDER, CAIRN_SPLIT_GROUP,
                                     CAIRN_SPLIT_STRATIFIED};
    for (int k = 0; k < 4; k++) {
        cairn_split_cfg cfg;
        cairn_split_cfg_init(&cfg);
        cfg.by = kinds[k];
        cfg.time_col = kinds[k] == CAIRN_SPLIT_TIME ? C_TIME : -1;
        if (kinds[k] == CAIRN_SPLIT_STRATIFIED) {
            cfg.time_col = C_TIME;
            cfg.allow_time_leak = true;
        }
        cfg.entity_col = C_ENT;
        cfg.label_col = C_LABEL;
        bool ok = false;
        for (long n = 1; n < 100 && !ok; n++) {
            cairn_split s = {0};
            cairn_findings fl = {0};
            cairn_alloc_fail_after(n, false);
            cairn_status st = cairn_split_make(f, &cfg, &s, &fl, NULL);
            cairn_alloc_fail_after(0, false);
            if (st == CAIRN_OK) {
                ok = true;
                assert_non_null(s.part);
            } else {
                assert_int_equal(st, CAIRN_ENOMEM);
                assert_null(s.part);
            }
            cairn_split_reset(&s);
            cairn_findings_reset(&fl);
        }
        assert_true(ok);
    }
    cairn_frame_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time_split),       cmocka_unit_test(test_time_ties),
        cmocka_unit_test(test_order_split),      cmocka_unit_test(test_group_split),
        cmocka_unit_test(test_stratified_split), cmocka_unit_test(test_auto_rule),
        cmocka_unit_test(test_time_leak_rule),   cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
