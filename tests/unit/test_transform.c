/*
 * test_transform.c -- feature transforms: exact medians, missing indicators,
 * statistics from training rows only, one-hot with rare and unknown buckets,
 * gbdt codes, standardisation, timestamp parts against libc's gmtime_r,
 * constant columns, the bit-identical whole-frame vs single-row property,
 * the binary form (round trip, truncations, flips) and allocation failures.
 * Expected values are computed independently in the tests (sorting, libc
 * calendar, direct sums), never copied from the code under test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "pipeline/transform.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- frame building ----------------------------------------------------- */

typedef struct colspec {
    const char *name;
    cairn_type type;
} colspec;

static cairn_frame *frame_make(size_t n_rows, const colspec *specs, size_t n_cols)
{
    cairn_frame *f = NULL;
    assert_int_equal(cairn_frame_new(n_cols, &f, NULL), CAIRN_OK);
    for (size_t i = 0; i < n_cols; i++)
        assert_int_equal(cairn_column_alloc(&f->cols[i], specs[i].name, specs[i].type, n_rows, NULL),
                         CAIRN_OK);
    f->n_rows = n_rows;
    return f;
}

static void set_f64(cairn_frame *f, size_t c, size_t r, double v)
{
    f->cols[c].v.f64[r] = v;
    f->cols[c].valid[r] = 1;
}

static void set_i64(cairn_frame *f, size_t c, size_t r, int64_t v)
{
    f->cols[c].v.i64[r] = v;   /* INT64 and TIMESTAMP */
    f->cols[c].valid[r] = 1;
}

static void set_bool(cairn_frame *f, size_t c, size_t r, int v)
{
    f->cols[c].v.b[r] = (uint8_t)(v != 0);
    f->cols[c].valid[r] = 1;
}

static void set_str(cairn_frame *f, size_t c, size_t r, const char *s)
{
    uint32_t code;
    assert_int_equal(cairn_dict_intern(&f->cols[c].dict, s, strlen(s), &code), CAIRN_OK);
    f->cols[c].v.codes[r] = code;
    f->cols[c].valid[r] = 1;
}

/* A small deterministic generator (splitmix64), so tests need no libc rand(). */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double rng_unit(uint64_t *s) { return (double)(rng_next(s) >> 11) / 9007199254740992.0; }

static long find_out(const cairn_transform *t, const char *name)
{
    for (size_t i = 0; i < cairn_transform_n_out(t); i++)
        if (strcmp(cairn_transform_feature_name(t, i), name) == 0)
            return (long)i;
    return -1;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Transforms one row given as a single field (others missing). */
static void row1(const cairn_transform *t, const cairn_field *fl, size_t n, double *x)
{
    cairn_error err = {0};
    assert_int_equal(cairn_transform_apply_row(t, fl, n, x, &err), CAIRN_OK);
}

/* ---- medians and indicators --------------------------------------------- */

static void check_median(size_t n_rows)
{
    colspec cs[] = {{"x", CAIRN_TYPE_FLOAT64}, {"k", CAIRN_TYPE_INT64}};
    cairn_frame *f = frame_make(n_rows, cs, 2);
    uint64_t s = 42 + n_rows;
    double *ref = malloc(n_rows * sizeof *ref), *refk = malloc(n_rows * sizeof *refk);
    size_t m = 0, mk = 0;
    for (size_t r = 0; r < n_rows; r++) {
        if (r % 7 != 3) {
            double v = rng_unit(&s) * 1000 - 300;
            set_f64(f, 0, r, v);
            ref[m++] = v;
        }
        int64_t k = (int64_t)(rng_next(&s) % 50);
        set_i64(f, 1, r, k);
        refk[mk++] = (double)k;
    }
    qsort(ref, m, sizeof *ref, cmp_d);
    qsort(refk, mk, sizeof *refk, cmp_d);
    double med = m % 2 ? ref[m / 2] : (ref[m / 2 - 1] + ref[m / 2]) / 2;
    double medk = mk % 2 ? refk[mk / 2] : (refk[mk / 2 - 1] + refk[mk / 2]) / 2;
    size_t cols[] = {0, 1};
    cairn_transform *t = NULL;
    cairn_error err = {0};
    assert_int_equal(cairn_transform_fit(f, NULL, CAIRN_PART_TRAIN, cols, 2, -1,
                                         CAIRN_TRANSFORM_GBDT, NULL, &t, NULL, &err),
                     CAIRN_OK);
    /* A null is imputed with the median; the row path gives it directly. */
    cairn_field fl[2] = {{.name = "x", .kind = CAIRN_VALUE_NULL},
                         {.name = "k", .kind = CAIRN_VALUE_NULL}};
    double x[8];
    assert_int_equal(cairn_transform_n_out(t), 3);   /* x, x__missing, k */
    assert_int_equal(find_out(t, "x__missing"), 1);
    assert_int_equal(find_out(t, "k"), 2);
    row1(t, fl, 2, x);
    assert_true(x[0] == med);
    assert_true(x[1] == 1.0);
    assert_true(x[2] == medk);
    cairn_transform_free(t);
    cairn_frame_free(f);
    free(ref);
    free(refk);
}

static void test_median_exact(void **state)
{
    (void)state;
    check_median(1001);
    check_median(1000);
    check_median(5);
}

static void test_indicators_only_where_train_had_nulls(void **state)
{
    (void)state;
    colspec cs[] = {{"a", CAIRN_TYPE_FLOAT64}, {"b", CAIRN_TYPE_FLOAT64},
                    {"c", CAIRN_TYPE_STRING}, {"d", CAIRN_TYPE_BOOL}};
    size_t n = 40;
    cairn_frame *f = frame_make(n, cs, 4);
    uint8_t *part = calloc(n, 1);
    for (size_t r = 0; r < n; r++) {
        part[r] = r < 30 ? CAIRN_PART_TRAIN : CAIRN_PART_TEST;
        if (r % 5 != 0)
            set_f64(f, 0, r, (double)r);         /* nulls in train */
        if (r < 30)
            set_f64(f, 1, r, (double)(r % 4));   /* nulls only in test */
        if (r % 6 != 1)
            set_str(f, 2, r, r % 2 ? "u" : "v");
        if (r < 30)
            set_bool(f, 3, r, r % 3 == 0);
    }
    size_t cols[] = {0, 1, 2, 3};
    cairn_transform *t = NULL;
    cairn_transform_opts o;
    cairn_transform_opts_init(&o);
    o.rare_min_count = 1;
    assert_int_equal(cairn_transform_fit(f, part, CAIRN_PART_TRAIN, cols, 4, -1,
                                         CAIRN_TRANSFORM_GBDT, &o, &t, NULL, NULL),
                     CAIRN_OK);
    assert_true(find_out(t, "a__missing") >= 0);
    assert_true(find_out(t, "b__missing") < 0);
    assert_true(find_out(t, "c__missing") >= 0);
    assert_true(find_out(t, "d__missing") < 0);
    assert_int_equal(cairn_transform_n_out(t), 6);
    /* Test rows with b null: imputed with b's training median, no indicator. */
    double ref[30];
    for (int r = 0; r < 30; r++)
        ref[r] = r % 4;
    qsort(ref, 30, sizeof *ref, cmp_d);
    double med_b = (ref[14] + ref[15]) / 2;
    double *X = NULL;
    size_t nr = 0;
    assert_int_equal(cairn_transform_apply(t, f, part, CAIRN_PART_TEST, &X, &nr, NULL), CAIRN_OK);
    assert_int_equal(nr, 10);
    long jb = find_out(t, "b");
    long jc = find_out(t, "c"), jcm = find_out(t, "c__missing");
    for (size_t i = 0; i < nr; i++) {
        size_t r = 30 + i;
        assert_true(X[i * 6 + (size_t)jb] == med_b);
        /* A null category gets the "other" code and its indicator. */
        bool cnull = r % 6 == 1;
        assert_true(X[i * 6 + (size_t)jcm] == (cnull ? 1.0 : 0.0));
        if (cnull)
            assert_true(X[i * 6 + (size_t)jc] == 2.0);
    }
    uint32_t nl = 0;
    assert_true(cairn_transform_feature_is_categorical(t, (size_t)jc, &nl));
    assert_int_equal(nl, 3);
    assert_false(cairn_transform_feature_is_categorical(t, (size_t)jb, NULL));
    cairn_free(X);
    cairn_transform_free(t);
    cairn_frame_free(f);
    free(part);
}

/* ---- anti-leakage --------------------------------------------------------- */

static cairn_frame *leak_frame(bool extreme, uint8_t **part_out)
{
    colspec cs[] = {{"num", CAIRN_TYPE_FLOAT64}, {"cat", CAIRN_TYPE_STRING},
                    {"ts", CAIRN_TYPE_TIMESTAMP}, {"t", CAIRN_TYPE_TIMESTAMP},
                    {"flag", CAIRN_TYPE_BOOL}};
    size_t n = 200;
    cairn_frame *f = frame_make(n, cs, 5);
    uint8_t *part = calloc(n, 1);
    uint64_t s = 7;
    static const char *lv[] = {"a", "b", "c", "d"};
    for (size_t r = 0; r < n; r++) {
        part[r] = r < 120 ? CAIRN_PART_TRAIN : (r < 160 ? CAIRN_PART_VALID : CAIRN_PART_TEST);
        bool train = part[r] == CAIRN_PART_TRAIN;
        int64_t base = 1700000000LL * 1000000;
        if (train || !extreme) {
            set_f64(f, 0, r, rng_unit(&s) * 10);
            set_str(f, 1, r, lv[rng_next(&s) % 4]);
            set_i64(f, 2, r, base + (int64_t)(rng_next(&s) % 100000000000ull));
            set_i64(f, 3, r, base + 200000000000LL + (int64_t)(rng_next(&s) % 1000000000ull));
            set_bool(f, 4, r, (int)(rng_next(&s) % 2));
        } else {
            set_f64(f, 0, r, 1e12);
            char buf[32];
            snprintf(buf, sizeof buf, "new%zu", r % 3);
            set_str(f, 1, r, buf);
            set_i64(f, 2, r, 0);
            set_i64(f, 3, r, 4102444800LL * 1000000);
            set_bool(f, 4, r, 1);
        }
        if (!train && extreme && r % 2)
            f->cols[0].valid[r] = 0;   /* and nulls outside training */
    }
    *part_out = part;
    return f;
}

static void test_statistics_from_train_rows_only(void **state)
{
    (void)state;
    for (int kind = 0; kind < 2; kind++) {
        uint8_t *pa, *pb;
        cairn_frame *a = leak_frame(false, &pa), *b = leak_frame(true, &pb);
        size_t cols[] = {0, 1, 2, 3, 4};
        cairn_transform *ta = NULL, *tb = NULL;
        cairn_transform_opts o;
        cairn_transform_opts_init(&o);
        o.rare_min_count = 2;
        assert_int_equal(cairn_transform_fit(a, pa, CAIRN_PART_TRAIN, cols, 5, 3,
                                             (cairn_transform_kind)kind, &o, &ta, NULL, NULL),
                         CAIRN_OK);
        assert_int_equal(cairn_transform_fit(b, pb, CAIRN_PART_TRAIN, cols, 5, 3,
                                             (cairn_transform_kind)kind, &o, &tb, NULL, NULL),
                         CAIRN_OK);
        cairn_buf ba, bb;
        cairn_buf_init(&ba);
        cairn_buf_init(&bb);
        cairn_transform_to_bytes(ta, &ba);
        cairn_transform_to_bytes(tb, &bb);
        assert_false(ba.failed || bb.failed);
        assert_int_equal(ba.len, bb.len);
        assert_memory_equal(ba.data, bb.data, ba.len);
        /* Fitting on all rows does see the extreme values: the check has teeth. */
        cairn_transform *tc = NULL;
        assert_int_equal(cairn_transform_fit(b, NULL, 0, cols, 5, 3, (cairn_transform_kind)kind,
                                             &o, &tc, NULL, NULL),
                         CAIRN_OK);
        cairn_buf bc;
        cairn_buf_init(&bc);
        cairn_transform_to_bytes(tc, &bc);
        assert_true(bc.len != ba.len || memcmp(bc.data, ba.data, ba.len) != 0);
        cairn_buf_reset(&ba);
        cairn_buf_reset(&bb);
        cairn_buf_reset(&bc);
        cairn_transform_free(ta);
        cairn_transform_free(tb);
        cairn_transform_free(tc);
        cairn_frame_free(a);
        cairn_frame_free(b);
        free(pa);
        free(pb);
    }
}

/* ---- categories ----------------------------------------------------------- */

/* basic x20, pro x15, ent x12, rareA x3, rareB x2 in training; "zzz" (unseen)
 * and nulls in the test rows. */
static cairn_frame *cat_frame(uint8_t **part_out, size_t *n_out)
{
    colspec cs[] = {{"plan", CAIRN_TYPE_STRING}};
    size_t n = 60;
    cairn_frame *f = frame_make(n, cs, 1);
    uint8_t *part = calloc(n, 1);
    static const struct { const char *s; int k; } counts[] = {
        {"rareB", 2}, {"ent", 12}, {"basic", 20}, {"rareA", 3}, {"pro", 15}};
    size_t r = 0;
    for (size_t i = 0; i < 5; i++)
        for (int k = 0; k < counts[i].k; k++)
            set_str(f, 0, r++, counts[i].s);
    assert_int_equal(r, 52);
    const char *test_vals[] = {"basic", "pro", "ent", "rareA", "rareB", "zzz", NULL, "zzz"};
    for (size_t i = 0; i < 8; i++, r++) {
        part[r] = CAIRN_PART_TEST;
        if (test_vals[i])
            set_str(f, 0, r, test_vals[i]);
    }
    *part_out = part;
    *n_out = n;
    return f;
}

static void test_onehot_rare_unknown(void **state)
{
    (void)state;
    uint8_t *part;
    size_t n;
    cairn_frame *f = cat_frame(&part, &n);
    size_t cols[] = {0};
    cairn_transform *t = NULL;
    assert_int_equal(cairn_transform_fit(f, part, CAIRN_PART_TRAIN, cols, 1, -1,
                                         CAIRN_TRANSFORM_LINEAR, NULL, &t, NULL, NULL),
                     CAIRN_OK);
    /* Default rare threshold 10: basic, pro, ent kept in count order. */
    const char *want[] = {"plan=basic", "plan=pro", "plan=ent", "plan=__rare__", "plan=__unknown__"};
    assert_int_equal(cairn_transform_n_out(t), 5);
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(cairn_transform_feature_name(t, i), want[i]);
    double *X = NULL;
    size_t nr;
    assert_int_equal(cairn_transform_apply(t, f, part, CAIRN_PART_TEST, &X, &nr, NULL), CAIRN_OK);
    assert_int_equal(nr, 8);
    /* expected hot column per test row; -1: all zero (null) */
    int hot[] = {0, 1, 2, 3, 3, 4, -1, 4};
    for (size_t i = 0; i < 8; i++)
        for (int j = 0; j < 5; j++)
            assert_true(X[i * 5 + (size_t)j] == (j == hot[i] ? 1.0 : 0.0));
    cairn_free(X);
    cairn_transform_free(t);

    /* gbdt: codes by count, rare and unseen and null share the "other" code 3. */
    assert_int_equal(cairn_transform_fit(f, part, CAIRN_PART_TRAIN, cols, 1, -1,
                                         CAIRN_TRANSFORM_GBDT, NULL, &t, NULL, NULL),
                     CAIRN_OK);
    assert_int_equal(cairn_transform_n_out(t), 1);
    uint32_t nl;
    assert_true(cairn_transform_feature_is_categorical(t, 0, &nl));
    assert_int_equal(nl, 4);
    assert_int_equal(cairn_transform_apply(t, f, part, CAIRN_PART_TEST, &X, &nr, NULL), CAIRN_OK);
    double codes[] = {0, 1, 2, 3, 3, 3, 3, 3};
    for (size_t i = 0; i < 8; i++)
        assert_true(X[i] == codes[i]);
    cairn_free(X);
    cairn_transform_free(t);

    /* A fraction: 0.25 of 52 values -> at least 13: basic and pro only;
     * max_levels 1 keeps only basic. */
    cairn_transform_opts o;
    cairn_transform_opts_init(&o);
    o.rare_min_count = 0.25;
    assert_int_equal(cairn_transform_fit(f, part, CAIRN_PART_TRAIN, cols, 1, -1,
                                         CAIRN_TRANSFORM_LINEAR, &o, &t, NULL, NULL),
                     CAIRN_OK);
    assert_int_equal(cairn_transform_n_out(t), 4);
    assert_string_equal(cairn_transform_feature_name(t, 1), "plan=pro");
    cairn_transform_free(t);
    o.max_levels = 1;
    assert_int_equal(cairn_transform_fit(f, part, CAIRN_PART_TRAIN, cols, 1, -1,
                                         CAIRN_TRANSFORM_LINEAR, &o, &t, NULL, NULL),
                     CAIRN_OK);
    assert_int_equal(cairn_transform_n_out(t), 3);
    assert_string_equal(cairn_transform_feature_name(t, 0), "plan=basic");
    assert_string_equal(cairn_transform_feature_name(t, 1), "plan=__rare__");
    cairn_transform_free(t);

    /* Single rows: non-string kinds are looked up by their text. */
    o.max_levels = 100;
    o.rare_min_count = 1;
    assert_int_equal(cairn_transform_fit(f, part, CAIRN_PART_TRAIN, cols, 1, -1,
                                         CAIRN_TRANSFORM_GBDT, &o, &t, NULL, NULL),
                     CAIRN_OK);
    cairn_field fl = {.name = "plan", .kind = CAIRN_VALUE_STRING, .str = "rareAxyz", .str_len = 5};
    double x;
    row1(t, &fl, 1, &x);
    assert_true(x == 3.0);   /* counts 20,15,12,3,2: rareA is the fourth */
    fl.kind = CAIRN_VALUE_NUMBER;
    fl.num = 7;
    row1(t, &fl, 1, &x);
    assert_true(x == 5.0);   /* unseen */
    row1(t, NULL, 0, &x);
    assert_true(x == 5.0);   /* missing field */
    cairn_transform_free(t);
    cairn_frame_free(f);
    free(part);
}

/* ---- standardisation ------------------------------------------------------ */

static void test_standardise(void **state)
{
    (void)state;
    colspec cs[] = {{"x", CAIRN_TYPE_FLOAT64}, {"y", CAIRN_TYPE_INT64}, {"b", CAIRN_TYPE_BOOL}};
    size_t n = 500;
    cairn_frame *f = frame_make(n, cs, 3);
    uint8_t *part = calloc(n, 1);
    uint64_t s = 99;
    for (size_t r = 0; r < n; r++) {
        part[r] = r < 400 ? CAIRN_PART_TRAIN : CAIRN_PART_TEST;
        set_f64(f, 0, r, r < 400 ? rng_unit(&s) * 50 + 3 : 1e6);
        if (r % 9 != 0)
            set_i64(f, 1, r, (int64_t)(rng_next(&s) % 1000));
        set_bool(f, 2, r, (int)(r % 3 == 0));
    }
    size_t cols[] = {0, 1, 2};
    cairn_transform *t = NULL;
    assert_int_equal(cairn_transform_fit(f, part, CAIRN_PART_TRAIN, cols, 3, -1,
                                         CAIRN_TRANSFORM_LINEAR, NULL, &t, NULL, NULL),
                     CAIRN_OK);
    double *X = NULL;
    size_t nr, no = cairn_transform_n_out(t);
    assert_int_equal(no, 4);   /* x, y, y__missing, b */
    assert_int_equal(cairn_transform_apply(t, f, part, CAIRN_PART_TRAIN, &X, &nr, NULL), CAIRN_OK);
    assert_int_equal(nr, 400);
    /* Independent: population mean and sd of x over the training rows. */
    double mx = 0, sx = 0;
    for (size_t r = 0; r < 400; r++)
        mx += f->cols[0].v.f64[r];
    mx /= 400;
    for (size_t r = 0; r < 400; r++)
        sx += (f->cols[0].v.f64[r] - mx) * (f->cols[0].v.f64[r] - mx);
    sx = sqrt(sx / 400);
    for (int j = 0; j < 2; j++) {
        double m = 0, v = 0;
        for (size_t i = 0; i < nr; i++)
            m += X[i * no + (size_t)j];
        m /= (double)nr;
        for (size_t i = 0; i < nr; i++)
            v += (X[i * no + (size_t)j] - m) * (X[i * no + (size_t)j] - m);
        assert_true(fabs(m) < 1e-12);
        assert_true(fabs(sqrt(v / (double)nr) - 1) < 1e-12);   /* population sd */
    }
    for (size_t i = 0; i < nr; i++) {
        assert_true(fabs(X[i * no] - (f->cols[0].v.f64[i] - mx) / sx) < 1e-12);
        assert_true(X[i * no + 3] == (i % 3 == 0 ? 1.0 : 0.0));   /* bools stay 0/1 */
        assert_true(X[i * no + 2] == (i % 9 == 0 ? 1.0 : 0.0));
    }
    cairn_free(X);
    /* Test rows use the training mean and sd. */
    assert_int_equal(cairn_transform_apply(t, f, part, CAIRN_PART_TEST, &X, &nr, NULL), CAIRN_OK);
    assert_true(fabs(X[0] - (1e6 - mx) / sx) < 1e-6);
    cairn_free(X);
    cairn_transform_free(t);
    cairn_frame_free(f);
    free(part);
}

/* ---- timestamps ----------------------------------------------------------- */

static void test_timestamp_parts(void **state)
{
    (void)state;
    colspec cs[] = {{"ts", CAIRN_TYPE_TIMESTAMP}, {"t", CAIRN_TYPE_TIMESTAMP}};
    size_t n = 300;
    cairn_frame *f = frame_make(n, cs, 2);
    uint64_t s = 5;
    int64_t fixed[] = {0, 0, 0};
    assert_true(cairn_parse_timestamp("2024-03-01T13:00Z", 17, &fixed[0]));
    assert_true(cairn_parse_timestamp("1969-12-31T23:59:59Z", 20, &fixed[1]));
    assert_true(cairn_parse_timestamp("2000-02-29T00:00:00Z", 20, &fixed[2]));
    for (size_t r = 0; r < n; r++) {
        int64_t v = r < 3 ? fixed[r]
                          : (int64_t)(rng_next(&s) % (4000000000ull * 1000000)) - 1000000000LL * 1000000;
        set_i64(f, 0, r, v);
        /* the time column: 1.5, 2.5 or 3.5 days after ts (exact in a double) */
        if (r % 10 != 9)
            set_i64(f, 1, r, v + (36LL + 24 * (int64_t)(r % 3)) * 3600 * 1000000);
    }
    size_t cols[] = {0, 1};
    cairn_transform *t = NULL;
    assert_int_equal(cairn_transform_fit(f, NULL, 0, cols, 2, 1, CAIRN_TRANSFORM_GBDT, NULL, &t,
                                         NULL, NULL),
                     CAIRN_OK);
    const char *want[] = {"ts__hour", "ts__dow", "ts__month", "ts__age_days",
                          "t__hour", "t__dow", "t__month", "t__missing"};
    assert_int_equal(cairn_transform_n_out(t), 8);
    for (size_t i = 0; i < 8; i++)
        assert_string_equal(cairn_transform_feature_name(t, i), want[i]);
    double *X = NULL;
    size_t nr;
    assert_int_equal(cairn_transform_apply(t, f, NULL, 0xFF, &X, &nr, NULL), CAIRN_OK);
    /* The literal cases from the brief: Friday, hour 13, March. */
    assert_true(X[0] == 13 && X[1] == 4 && X[2] == 3);
    assert_true(X[8] == 23 && X[9] == 2 && X[10] == 12);   /* Wednesday */
    assert_true(X[16] == 0 && X[17] == 1 && X[18] == 2);   /* Tuesday */
    /* Ages: (r % 3) + 1.5 days; rows without a time value get the median age. */
    double ages[300];
    size_t na = 0;
    for (size_t r = 0; r < n; r++)
        if (r % 10 != 9)
            ages[na++] = 1.5 + (double)(r % 3);
    qsort(ages, na, sizeof *ages, cmp_d);
    double med_age = na % 2 ? ages[na / 2] : (ages[na / 2 - 1] + ages[na / 2]) / 2;
    for (size_t r = 0; r < n; r++) {
        time_t secs = (time_t)(f->cols[0].v.i64[r] / 1000000);
        if (f->cols[0].v.i64[r] % 1000000 < 0)
            secs -= 1;
        struct tm tm;
        assert_non_null(gmtime_r(&secs, &tm));
        const double *x = X + r * 8;
        assert_true(x[0] == tm.tm_hour);
        assert_true(x[1] == (tm.tm_wday + 6) % 7);
        assert_true(x[2] == tm.tm_mon + 1);
        assert_true(x[3] == (r % 10 == 9 ? med_age : 1.5 + (double)(r % 3)));
        assert_true(x[7] == (r % 10 == 9 ? 1.0 : 0.0));
    }
    /* Independent age from the single-row path with an arbitrary gap. */
    cairn_field fl[2] = {
        {.name = "ts", .kind = CAIRN_VALUE_STRING, .str = "2024-03-01T13:00:00Z", .str_len = 20},
        {.name = "t", .kind = CAIRN_VALUE_STRING, .str = "2024-03-11T01:00:00Z", .str_len = 20}};
    double x[8];
    row1(t, fl, 2, x);
    assert_true(x[3] == 9.5);
    assert_true(x[4] == 1 && x[5] == 0 && x[6] == 3);   /* 2024-03-11 is a Monday */
    cairn_free(X);
    cairn_transform_free(t);
    cairn_frame_free(f);
}

/* ---- constant columns ----------------------------------------------------- */

static void test_constant_columns_dropped(void **state)
{
    (void)state;
    colspec cs[] = {{"c5", CAIRN_TYPE_FLOAT64}, {"cs", CAIRN_TYPE_STRING},
                    {"cn", CAIRN_TYPE_INT64}, {"allnull", CAIRN_TYPE_FLOAT64},
                    {"ok", CAIRN_TYPE_FLOAT64}};
    size_t n = 30;
    cairn_frame *f = frame_make(n, cs, 5);
    uint8_t *part = calloc(n, 1);
    for (size_t r = 0; r < n; r++) {
        bool train = r < 20;
        part[r] = train ? CAIRN_PART_TRAIN : CAIRN_PART_TEST;
        set_f64(f, 0, r, train ? 5.0 : (double)r);     /* varies only outside training */
        set_str(f, 1, r, train ? "x" : "y");
        if (r % 4)
            set_i64(f, 2, r, 7);
        if (!train)
            set_f64(f, 3, r, 1.0);
        set_f64(f, 4, r, (double)r);
    }
    size_t cols[] = {0, 1, 2, 3, 4};
    for (int kind = 0; kind < 2; kind++) {
        cairn_transform *t = NULL;
        cairn_findings fs = {0};
        assert_int_equal(cairn_transform_fit(f, part, CAIRN_PART_TRAIN, cols, 5, -1,
                                             (cairn_transform_kind)kind, NULL, &t, &fs, NULL),
                         CAIRN_OK);
        assert_int_equal(cairn_transform_n_out(t), 2);
        assert_string_equal(cairn_transform_feature_name(t, 0), "cn__missing");
        assert_string_equal(cairn_transform_feature_name(t, 1), "ok");
        assert_int_equal(fs.n, 4);
        const char *colnames[] = {"c5", "cs", "cn", "allnull"};
        for (size_t i = 0; i < 4; i++) {
            assert_int_equal(fs.items[i].severity, CAIRN_SEV_INFO);
            assert_string_equal(fs.items[i].code, "constant_column");
            assert_string_equal(fs.items[i].column, colnames[i]);
        }
        assert_non_null(strstr(fs.items[2].what, "missing indicator is kept"));
        cairn_findings_reset(&fs);
        cairn_transform_free(t);
    }
    cairn_frame_free(f);
    free(part);
}

/* ---- the bit-identical property ----------------------------------------- */

static cairn_frame *every_type_frame(uint8_t **part_out)
{
    colspec cs[] = {{"num", CAIRN_TYPE_FLOAT64}, {"cnt", CAIRN_TYPE_INT64},
                    {"flag", CAIRN_TYPE_BOOL},   {"plan", CAIRN_TYPE_STRING},
                    {"seen", CAIRN_TYPE_TIMESTAMP}, {"at", CAIRN_TYPE_TIMESTAMP},
                    {"unused", CAIRN_TYPE_STRING}};
    size_t n = 400;
    cairn_frame *f = frame_make(n, cs, 7);
    uint8_t *part = calloc(n, 1);
    uint64_t s = 2024;
    static const char *plans[] = {"basic", "pro", "ent", "free", "trial", "edu", "ngo"};
    for (size_t r = 0; r < n; r++) {
        part[r] = r % 5 == 0 ? CAIRN_PART_TEST : (r % 5 == 1 ? CAIRN_PART_VALID : CAIRN_PART_TRAIN);
        bool train = part[r] == CAIRN_PART_TRAIN;
        if (rng_next(&s) % 8)
            set_f64(f, 0, r, (rng_unit(&s) - 0.3) * 1e4 / 3.0);
        if (rng_next(&s) % 6)
            set_i64(f, 1, r, (int64_t)(rng_next(&s) % 100000) - 500);
        if (rng_next(&s) % 7)
            set_bool(f, 2, r, (int)(rng_next(&s) % 2));
        if (rng_next(&s) % 9) {
            uint64_t k = rng_next(&s) % 100;
            const char *p = k < 40 ? plans[0] : k < 70 ? plans[1] : k < 85 ? plans[2]
                          : k < 95 ? plans[3] : plans[4 + k % 3];
            char unseen[32];
            if (!train && k % 4 == 0) {
                snprintf(unseen, sizeof unseen, "unseen-%u", (unsigned)(k % 5));
                p = unseen;
            }
            set_str(f, 3, r, p);
        }
        int64_t at = 1600000000LL * 1000000 + (int64_t)(rng_next(&s) % 100000000000000ull);
        if (rng_next(&s) % 10)
            set_i64(f, 5, r, at);
        if (rng_next(&s) % 5)   /* with microsecond fractions */
            set_i64(f, 4, r, at - (int64_t)(rng_next(&s) % 90000000000000ull) - 1);
        if (r % 3 == 0)
            set_str(f, 6, r, "q");
    }
    *part_out = part;
    return f;
}

static void test_frame_and_row_bit_identical(void **state)
{
    (void)state;
    uint8_t *part;
    cairn_frame *f = every_type_frame(&part);
    size_t cols[] = {0, 1, 2, 3, 4, 5};
    cairn_buf text;
    cairn_buf_init(&text);
    for (int kind = 0; kind < 2; kind++) {
        cairn_transform *t = NULL;
        cairn_transform_opts o;
        cairn_transform_opts_init(&o);
        o.rare_min_count = 5;
        cairn_error err = {0};
        assert_int_equal(cairn_transform_fit(f, part, CAIRN_PART_TRAIN, cols, 6, 5,
                                             (cairn_transform_kind)kind, &o, &t, NULL, &err),
                         CAIRN_OK);
        size_t no = cairn_transform_n_out(t), nr;
        assert_true(no > 10);
        double *X = NULL;
        assert_int_equal(cairn_transform_apply(t, f, NULL, 0xFF, &X, &nr, &err), CAIRN_OK);
        assert_int_equal(nr, f->n_rows);
        double *x = malloc(no * sizeof *x);
        /* Strings of every row live in one buffer; offsets first, pointers after,
         * since the buffer may move while it grows. */
        size_t offs[7], lens[7];
        for (size_t r = 0; r < f->n_rows; r++) {
            cairn_field fl[7];
            size_t nf = 0;
            text.len = 0;
            for (size_t c = 0; c < 7; c++) {
                const cairn_column *col = &f->cols[c];
                cairn_field *fd = &fl[nf];
                memset(fd, 0, sizeof *fd);
                fd->name = col->name;
                if (!col->valid[r]) {
                    if (c % 2)
                        continue;   /* a missing field and an explicit null mean the same */
                    fd->kind = CAIRN_VALUE_NULL;
                } else if (col->type == CAIRN_TYPE_FLOAT64) {
                    fd->kind = CAIRN_VALUE_NUMBER;
                    fd->num = col->v.f64[r];
                } else if (col->type == CAIRN_TYPE_INT64) {
                    fd->kind = CAIRN_VALUE_NUMBER;
                    fd->num = (double)col->v.i64[r];
                } else if (col->type == CAIRN_TYPE_BOOL) {
                    fd->kind = CAIRN_VALUE_BOOL;
                    fd->b = col->v.b[r];
                } else {
                    fd->kind = CAIRN_VALUE_STRING;
                    offs[nf] = text.len;
                    cairn_column_value_text(col, r, &text);
                    lens[nf] = text.len - offs[nf];
                }
                nf++;
            }
            for (size_t i = 0; i < nf; i++)
                if (fl[i].kind == CAIRN_VALUE_STRING) {
                    fl[i].str = text.data + offs[i];
                    fl[i].str_len = lens[i];
                }
            assert_int_equal(cairn_transform_apply_row(t, fl, nf, x, &err), CAIRN_OK);
            assert_memory_equal(x, X + r * no, no * sizeof *x);
        }
        /* Nothing in the output is NaN or infinite. */
        for (size_t i = 0; i < nr * no; i++)
            assert_true(isfinite(X[i]));
        free(x);
        cairn_free(X);
        cairn_transform_free(t);
    }
    cairn_buf_reset(&text);
    cairn_frame_free(f);
    free(part);
}

static void test_row_errors(void **state)
{
    (void)state;
    uint8_t *part;
    cairn_frame *f = every_type_frame(&part);
    size_t cols[] = {0, 2, 3, 4};
    cairn_transform *t = NULL;
    assert_int_equal(cairn_transform_fit(f, part, CAIRN_PART_TRAIN, cols, 4, 5,
                                         CAIRN_TRANSFORM_GBDT, NULL, &t, NULL, NULL),
                     CAIRN_OK);
    double *x = malloc(cairn_transform_n_out(t) * sizeof *x);
    cairn_error err = {0};
    cairn_field bad[] = {
        {.name = "num", .kind = CAIRN_VALUE_STRING, .str = "abc", .str_len = 3},
        {.name = "num", .kind = CAIRN_VALUE_NUMBER, .num = INFINITY},
        {.name = "flag", .kind = CAIRN_VALUE_NUMBER, .num = 2},
        {.name = "seen", .kind = CAIRN_VALUE_NUMBER, .num = 1e9},
        {.name = "at", .kind = CAIRN_VALUE_STRING, .str = "yesterday", .str_len = 9},
        {.name = "num", .kind = (cairn_value_kind)9},
    };
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(bad); i++) {
        memset(&err, 0, sizeof err);
        assert_int_equal(cairn_transform_apply_row(t, &bad[i], 1, x, &err), CAIRN_EINPUT);
        assert_string_equal(err.where, bad[i].name);
    }
    cairn_field good[] = {
        {.name = "num", .kind = CAIRN_VALUE_STRING, .str = "12.5", .str_len = 4},
        {.name = "flag", .kind = CAIRN_VALUE_STRING, .str = "true", .str_len = 4},
        {.name = "other", .kind = CAIRN_VALUE_STRING, .str = "ignored", .str_len = 7},
    };
    assert_int_equal(cairn_transform_apply_row(t, good, 3, x, &err), CAIRN_OK);
    assert_true(x[0] == 12.5);
    /* Fields match by name in any order, the first of a repeated name wins
     * (apply_row looks at the next field first, then searches). */
    size_t no = cairn_transform_n_out(t);
    double *y = malloc(no * sizeof *y);
    assert_non_null(y);
    cairn_field num1 = {.name = "num", .kind = CAIRN_VALUE_NUMBER, .num = 3.25};
    cairn_field num2 = {.name = "num", .kind = CAIRN_VALUE_NUMBER, .num = -8};
    cairn_field flag = {.name = "flag", .kind = CAIRN_VALUE_BOOL, .b = 1};
    cairn_field other = {.name = "other", .kind = CAIRN_VALUE_NUMBER, .num = 1};
    cairn_field ref[] = {num1, flag};
    assert_int_equal(cairn_transform_apply_row(t, ref, 2, x, &err), CAIRN_OK);
    assert_true(x[0] == 3.25);
    cairn_field orders[][4] = {
        {flag, num1}, {other, flag, num1}, {num1, flag, num2}, {num1, num2, flag},
        {flag, num1, num2}, {other, num1, num2, flag}, {flag, other, num1, num2},
    };
    size_t lens[] = {2, 3, 3, 3, 3, 4, 4};
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(orders); i++) {
        assert_int_equal(cairn_transform_apply_row(t, orders[i], lens[i], y, &err), CAIRN_OK);
        assert_memory_equal(y, x, no * sizeof *y);
    }
    cairn_field second[] = {num2, flag, num1};
    assert_int_equal(cairn_transform_apply_row(t, second, 3, y, &err), CAIRN_OK);
    assert_true(y[0] == -8);
    free(y);
    free(x);
    /* Invalid fits. */
    cairn_transform *u = (cairn_transform *)1;
    size_t dup[] = {0, 0}, oob[] = {99};
    assert_int_equal(cairn_transform_fit(f, part, 0, dup, 2, -1, CAIRN_TRANSFORM_GBDT, NULL, &u,
                                         NULL, NULL),
                     CAIRN_EINVAL);
    assert_null(u);
    assert_int_equal(cairn_transform_fit(f, part, 0, oob, 1, -1, CAIRN_TRANSFORM_GBDT, NULL, &u,
                                         NULL, NULL),
                     CAIRN_EINVAL);
    assert_int_equal(cairn_transform_fit(f, part, 0, cols, 0, -1, CAIRN_TRANSFORM_GBDT, NULL, &u,
                                         NULL, NULL),
                     CAIRN_EINVAL);
    assert_int_equal(cairn_transform_fit(f, part, 0, cols, 1, 0, CAIRN_TRANSFORM_GBDT, NULL, &u,
                                         NULL, NULL),
                     CAIRN_EINVAL);   /* time column not a timestamp */
    assert_int_equal(cairn_transform_fit(f, part, 7, cols, 1, -1, CAIRN_TRANSFORM_GBDT, NULL, &u,
                                         NULL, NULL),
                     CAIRN_EINVAL);   /* no rows in that part */
    /* A frame whose column has the wrong type: numbers in a string column fail. */
    colspec cs[] = {{"num", CAIRN_TYPE_STRING}};
    cairn_frame *g = frame_make(2, cs, 1);
    set_str(g, 0, 0, "3.5");
    set_str(g, 0, 1, "three");
    double *X = NULL;
    size_t nr = 5;
    memset(&err, 0, sizeof err);
    assert_int_equal(cairn_transform_apply(t, g, NULL, 0xFF, &X, &nr, &err), CAIRN_EINPUT);
    assert_null(X);
    assert_string_equal(err.where, "num, row 1");
    cairn_frame_free(g);
    cairn_transform_free(t);
    cairn_frame_free(f);
    free(part);
}

/* ---- binary form ---------------------------------------------------------- */

static void test_bytes_round_trip(void **state)
{
    (void)state;
    uint8_t *part;
    cairn_frame *f = every_type_frame(&part);
    size_t cols[] = {0, 1, 2, 3, 4, 5, 6};
    for (int kind = 0; kind < 2; kind++) {
        cairn_transform *t = NULL, *u = NULL, *t2 = NULL;
        cairn_transform_opts o;
        cairn_transform_opts_init(&o);
        o.rare_min_count = 5;
        assert_int_equal(cairn_transform_fit(f, part, CAIRN_PART_TRAIN, cols, 7, 5,
                                             (cairn_transform_kind)kind, &o, &t, NULL, NULL),
                         CAIRN_OK);
        assert_int_equal(cairn_transform_fit(f, part, CAIRN_PART_TRAIN, cols, 7, 5,
                                             (cairn_transform_kind)kind, &o, &t2, NULL, NULL),
                         CAIRN_OK);
        cairn_buf a, b, c;
        cairn_buf_init(&a);
        cairn_buf_init(&b);
        cairn_buf_init(&c);
        cairn_transform_to_bytes(t, &a);
        cairn_transform_to_bytes(t2, &c);
        assert_false(a.failed);
        assert_int_equal(a.len, c.len);   /* deterministic */
        assert_memory_equal(a.data, c.data, a.len);
        cairn_error err = {0};
        assert_int_equal(cairn_transform_from_bytes(a.data, a.len, &u, &err), CAIRN_OK);
        cairn_transform_to_bytes(u, &b);
        assert_int_equal(a.len, b.len);
        assert_memory_equal(a.data, b.data, a.len);
        assert_int_equal(cairn_transform_n_out(u), cairn_transform_n_out(t));
        for (size_t i = 0; i < cairn_transform_n_out(t); i++) {
            assert_string_equal(cairn_transform_feature_name(u, i),
                                cairn_transform_feature_name(t, i));
            uint32_t l1 = 0, l2 = 0;
            assert_int_equal(cairn_transform_feature_is_categorical(t, i, &l1),
                             cairn_transform_feature_is_categorical(u, i, &l2));
            assert_int_equal(l1, l2);
        }
        assert_string_equal(cairn_transform_time_name(u), "at");
        assert_int_equal(cairn_transform_get_kind(u), kind);
        double *X1 = NULL, *X2 = NULL;
        size_t n1, n2;
        assert_int_equal(cairn_transform_apply(t, f, NULL, 0xFF, &X1, &n1, NULL), CAIRN_OK);
        assert_int_equal(cairn_transform_apply(u, f, NULL, 0xFF, &X2, &n2, NULL), CAIRN_OK);
        assert_int_equal(n1, n2);
        assert_memory_equal(X1, X2, n1 * cairn_transform_n_out(t) * sizeof(double));
        cairn_free(X1);
        cairn_free(X2);
        /* Every truncation is refused. */
        for (size_t len = 0; len < a.len; len++) {
            cairn_transform *v = (cairn_transform *)1;
            memset(&err, 0, sizeof err);
            assert_int_equal(cairn_transform_from_bytes(a.data, len, &v, &err), CAIRN_ECORRUPT);
            assert_null(v);
        }
        /* Trailing bytes too; and flipped bytes load or are refused, and what
         * loads writes back the same bytes. */
        cairn_buf_putc(&a, 0);
        cairn_transform *v = NULL;
        assert_int_equal(cairn_transform_from_bytes(a.data, a.len, &v, NULL), CAIRN_ECORRUPT);
        a.len--;
        for (size_t i = 0; i < a.len; i++) {
            for (int bit = 0; bit < 8; bit += 3) {
                a.data[i] ^= (char)(1 << bit);
                cairn_status st = cairn_transform_from_bytes(a.data, a.len, &v, NULL);
                if (st == CAIRN_OK) {
                    cairn_buf d;
                    cairn_buf_init(&d);
                    cairn_transform_to_bytes(v, &d);
                    assert_int_equal(d.len, a.len);
                    assert_memory_equal(d.data, a.data, a.len);
                    cairn_buf_reset(&d);
                    cairn_transform_free(v);
                } else {
                    assert_int_equal(st, CAIRN_ECORRUPT);
                }
                a.data[i] ^= (char)(1 << bit);
            }
        }
        cairn_buf_reset(&a);
        cairn_buf_reset(&b);
        cairn_buf_reset(&c);
        cairn_transform_free(t);
        cairn_transform_free(t2);
        cairn_transform_free(u);
    }
    cairn_frame_free(f);
    free(part);
}

/* ---- allocation failures -------------------------------------------------- */

static void test_alloc_failures(void **state)
{
    (void)state;
    uint8_t *part;
    cairn_frame *f = every_type_frame(&part);
    size_t cols[] = {0, 1, 2, 3, 4, 5, 6};
    for (int kind = 0; kind < 2; kind++) {
        bool done = false;
        for (long fail = 1; !done && fail < 2000; fail++) {
            cairn_transform *t = NULL, *u = NULL;
            cairn_findings fs = {0};
            cairn_error err = {0};
            double *X = NULL, x[64];
            size_t nr;
            cairn_buf b;
            cairn_buf_init(&b);
            cairn_alloc_fail_after(fail, false);
            cairn_status st = cairn_transform_fit(f, part, CAIRN_PART_TRAIN, cols, 7, 5,
                                                  (cairn_transform_kind)kind, NULL, &t, &fs, &err);
            if (st == CAIRN_OK)
                st = cairn_transform_apply(t, f, part, CAIRN_PART_TEST, &X, &nr, &err);
            if (st == CAIRN_OK) {
                cairn_field fl = {.name = "plan", .kind = CAIRN_VALUE_STRING, .str = "pro",
                                  .str_len = 3};
                assert_true(cairn_transform_n_out(t) <= 64);
                st = cairn_transform_apply_row(t, &fl, 1, x, &err);
            }
            if (st == CAIRN_OK) {
                cairn_transform_to_bytes(t, &b);
                st = b.failed ? CAIRN_ENOMEM : CAIRN_OK;
            }
            if (st == CAIRN_OK)
                st = cairn_transform_from_bytes(b.data, b.len, &u, &err);
            cairn_alloc_fail_after(0, false);
            if (st == CAIRN_OK)
                done = true;
            else
                assert_int_equal(st, CAIRN_ENOMEM);
            cairn_free(X);
            cairn_buf_reset(&b);
            cairn_findings_reset(&fs);
            cairn_transform_free(t);
            cairn_transform_free(u);
        }
        assert_true(done);
    }
    cairn_frame_free(f);
    free(part);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_median_exact),
        cmocka_unit_test(test_indicators_only_where_train_had_nulls),
        cmocka_unit_test(test_statistics_from_train_rows_only),
        cmocka_unit_test(test_onehot_rare_unknown),
        cmocka_unit_test(test_standardise),
        cmocka_unit_test(test_timestamp_parts),
        cmocka_unit_test(test_constant_columns_dropped),
        cmocka_unit_test(test_frame_and_row_bit_identical),
        cmocka_unit_test(test_row_errors),
        cmocka_unit_test(test_bytes_round_trip),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
