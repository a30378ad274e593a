/*
 * test_refstats.c -- reference statistics (src/pipeline/refstats.c) on frames
 * built by hand. The JSON is parsed back with cJSON and checked against
 * values computed here: hand-computed means, deviations and quantiles of
 * small columns; bin membership of values on and between edges; counts that
 * add up to the non-missing rows, recounted by brute force from the edges;
 * category order, ties and "other"; that only the described part is counted;
 * the prediction entry for each task; identical bytes for identical input;
 * the errors, leaving the buffer untouched; every allocation failure; and
 * mean, standard deviation and quantiles of a random column against numpy.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "test_frame_util.h"

#include "test_python.h"

#include "pipeline/refstats.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Runs cairn_refstats_json and parses the result (which must be one JSON document). */
static cJSON *run(const cairn_refstats_input *in)
{
    cairn_buf b;
    cairn_buf_init(&b);
    cairn_error err = {0};
    cairn_status st = cairn_refstats_json(in, &b, &err);
    if (st != CAIRN_OK)
        fail_msg("refstats failed: %s (%s)", err.msg, err.where);
    assert_false(b.failed);
    cJSON *j = cJSON_ParseWithLength(b.data, b.len);
    assert_non_null(j);
    cairn_buf_reset(&b);
    return j;
}

static cJSON *feature(const cJSON *doc, int i)
{
    cJSON *fs = cJSON_GetObjectItemCaseSensitive(doc, "features");
    assert_true(cJSON_IsArray(fs));
    cJSON *f = cJSON_GetArrayItem(fs, i);
    assert_non_null(f);
    return f;
}

static double num(const cJSON *o, const char *key)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    assert_true(cJSON_IsNumber(v));
    return v->valuedouble;
}

static const char *str(const cJSON *o, const char *key)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    assert_true(cJSON_IsString(v));
    return v->valuestring;
}

/* Reads a numeric array into out (cap entries); returns its length. */
static int nums(const cJSON *o, const char *key, double *out, int cap)
{
    cJSON *a = cJSON_GetObjectItemCaseSensitive(o, key);
    assert_true(cJSON_IsArray(a));
    int n = cJSON_GetArraySize(a);
    assert_true(n <= cap);
    for (int i = 0; i < n; i++) {
        cJSON *v = cJSON_GetArrayItem(a, i);
        assert_true(cJSON_IsNumber(v));
        out[i] = v->valuedouble;
    }
    return n;
}

static void assert_key_order(const cJSON *o, const char *const *keys, int n)
{
    const cJSON *c = o->child;
    for (int i = 0; i < n; i++, c = c->next) {
        assert_non_null(c);
        assert_string_equal(c->string, keys[i]);
    }
    assert_null(c);
}

static const char *const number_keys[] = {"name", "type", "rows", "missing", "min", "max",
                                          "mean", "std", "edges", "counts", "quantiles"};
static const char *const category_keys[] = {"name", "type", "rows", "missing",
                                            "categories", "counts", "other"};

/*
 * The invariants of a number entry, checked against the raw values vals[0..n)
 * (non-missing, any order): edges strictly increasing and above the minimum,
 * one more count than edges, each count equal to a brute-force count of the
 * values in its bin, quantiles non-decreasing from min to max.
 */
static void check_number_entry(const cJSON *e, const double *vals, size_t n)
{
    assert_key_order(e, number_keys, 11);
    double edges[16], counts[16], q[32];
    int ne = nums(e, "edges", edges, 16);
    int nc = nums(e, "counts", counts, 16);
    int nq = nums(e, "quantiles", q, 32);
    assert_int_equal(num(e, "rows") - num(e, "missing"), (double)n);
    if (n == 0) {
        assert_int_equal(ne, 0);
        assert_int_equal(nc, 0);
        assert_int_equal(nq, 0);
        assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(e, "min")));
        assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(e, "std")));
        return;
    }
    double lo = vals[0], hi = vals[0];
    for (size_t i = 1; i < n; i++) {
        lo = vals[i] < lo ? vals[i] : lo;
        hi = vals[i] > hi ? vals[i] : hi;
    }
    assert_true(num(e, "min") == lo);
    assert_true(num(e, "max") == hi);
    assert_true(ne <= CAIRN_REFSTATS_BINS - 1);
    assert_int_equal(nc, ne + 1);
    for (int k = 0; k < ne; k++)
        assert_true(edges[k] > (k ? edges[k - 1] : lo));
    size_t brute[16] = {0};
    for (size_t i = 0; i < n; i++) {
        int bin = 0;
        while (bin < ne && vals[i] >= edges[bin])
            bin++;
        brute[bin]++;
    }
    double total = 0;
    for (int k = 0; k < nc; k++) {
        assert_true(counts[k] == (double)brute[k]);
        total += counts[k];
    }
    assert_true(total == (double)n);
    assert_int_equal(nq, CAIRN_REFSTATS_QUANTILES);
    assert_true(q[0] == lo);
    assert_true(q[nq - 1] == hi);
    for (int k = 1; k < nq; k++)
        assert_true(q[k] >= q[k - 1]);
}

static void check_close(double got, double want, double rel)
{
    double tol = rel * (fabs(want) > 1 ? fabs(want) : 1);
    if (!(fabs(got - want) <= tol))
        fail_msg("got %.17g, want %.17g", got, want);
}

/* ---- numbers ------------------------------------------------------------ */

/*
 * 0..10: the deciles fall exactly on the values 1..9, so every edge is a data
 * value and checks the inclusive lower bound: bin b holds only b, and the last
 * bin holds 9 and 10.
 */
static void test_edges_on_values(void **state)
{
    (void)state;
    cairn_type t[] = {CAIRN_TYPE_FLOAT64};
    const char *names[] = {"x"};
    cairn_frame *f = frame_make(1, 11, t, names);
    double vals[11];
    for (size_t i = 0; i < 11; i++) {
        vals[i] = (double)(10 - i); /* reversed: the order of rows must not matter */
        set_f64(&f->cols[0], i, vals[i]);
    }
    size_t cols[] = {0};
    cairn_refstats_input in = {.frame = f, .cols = cols, .n_cols = 1};
    cJSON *doc = run(&in);
    cJSON *e = feature(doc, 0);
    check_number_entry(e, vals, 11);
    assert_string_equal(str(e, "name"), "x");
    assert_string_equal(str(e, "type"), "number");
    double edges[16], counts[16], q[32];
    assert_int_equal(nums(e, "edges", edges, 16), 9);
    assert_int_equal(nums(e, "counts", counts, 16), 10);
    for (int k = 0; k < 9; k++) {
        assert_true(edges[k] == (double)(k + 1));
        assert_true(counts[k] == 1);
    }
    assert_true(counts[9] == 2);
    /* Quantile 5k% of 0..10 is k/2 (h = 10 * k / 20). */
    assert_int_equal(nums(e, "quantiles", q, 32), 21);
    for (int k = 0; k < 21; k++)
        assert_true(q[k] == (double)k / 2);
    assert_true(num(e, "mean") == 5);
    check_close(num(e, "std"), sqrt(10.0), 1e-15); /* population: (11^2 - 1) / 12 = 10 */
    cJSON_Delete(doc);
    cairn_frame_free(f);
}

/*
 * 1..20 with two nulls and an infinity: missing 3, mean 10.5, population std
 * sqrt(399/12), the 10k% quantile 1 + 1.9k (h = 19 k / 10), so two values in
 * every bin. An int64 column that is constant where present: one bin.
 */
static void test_numbers_hand(void **state)
{
    (void)state;
    cairn_type t[] = {CAIRN_TYPE_FLOAT64, CAIRN_TYPE_INT64};
    const char *names[] = {"x", "n"};
    cairn_frame *f = frame_make(2, 23, t, names);
    double vals[20];
    size_t k = 0;
    for (size_t i = 0; i < 23; i++) {
        if (i == 4 || i == 17) {
            f->cols[1].valid[i] = 1;
            f->cols[1].v.i64[i] = -7;
            continue; /* x null */
        }
        if (i == 9) {
            set_f64(&f->cols[0], i, INFINITY);
            continue;
        }
        vals[k] = (double)(k + 1);
        set_f64(&f->cols[0], i, vals[k]);
        k++;
    }
    assert_int_equal(k, 20);
    size_t cols[] = {0, 1};
    cairn_refstats_input in = {.frame = f, .cols = cols, .n_cols = 2};
    cJSON *doc = run(&in);
    assert_int_equal(num(doc, "rows"), 23);
    cJSON *e = feature(doc, 0);
    check_number_entry(e, vals, 20);
    assert_int_equal(num(e, "rows"), 23);
    assert_int_equal(num(e, "missing"), 3);
    check_close(num(e, "mean"), 10.5, 1e-15);
    check_close(num(e, "std"), sqrt(399.0 / 12), 1e-14);
    double edges[16], counts[16];
    assert_int_equal(nums(e, "edges", edges, 16), 9);
    nums(e, "counts", counts, 16);
    for (int j = 0; j < 9; j++) {
        check_close(edges[j], 1 + 1.9 * (j + 1), 1e-14);
        assert_true(counts[j] == 2);
    }
    assert_true(counts[9] == 2);

    /* The int column: -7 twice, 21 nulls: a constant has no edge and one bin. */
    double sevens[2] = {-7, -7};
    e = feature(doc, 1);
    check_number_entry(e, sevens, 2);
    assert_int_equal(num(e, "missing"), 21);
    assert_true(num(e, "std") == 0);
    assert_true(num(e, "mean") == -7);
    assert_int_equal(nums(e, "edges", edges, 16), 0);
    assert_int_equal(nums(e, "counts", counts, 16), 1);
    assert_true(counts[0] == 2);
    cJSON_Delete(doc);
    cairn_frame_free(f);
}

/* Heavy ties: equal deciles collapse, and no edge equals the minimum. */
static void test_ties_collapse_edges(void **state)
{
    (void)state;
    cairn_type t[] = {CAIRN_TYPE_FLOAT64};
    const char *names[] = {"x"};
    cairn_frame *f = frame_make(1, 100, t, names);
    double vals[100];
    for (size_t i = 0; i < 100; i++) {
        vals[i] = i < 50 ? 0 : i < 80 ? 1 : (double)i; /* half zeros, 30% ones */
        set_f64(&f->cols[0], i, vals[i]);
    }
    size_t cols[] = {0};
    cairn_refstats_input in = {.frame = f, .cols = cols, .n_cols = 1};
    cJSON *doc = run(&in);
    cJSON *e = feature(doc, 0);
    check_number_entry(e, vals, 100);
    double edges[16], counts[16];
    int ne = nums(e, "edges", edges, 16);
    nums(e, "counts", counts, 16);
    /*
     * Sorted, h = 99 k / 10 for the k-th decile: 9.9 .. 39.6 fall among the
     * zeros (dropped: not above the minimum), 49.5 halfway between the last
     * zero and the first one (0.5), 59.4 and 69.3 among the ones (1, kept
     * once), 79.2 between the last one and 80 (16.8), 89.1 between 89 and 90.
     * The bin [0.5, 1) is empty, which is allowed.
     */
    assert_int_equal(ne, 4);
    const double want_edges[4] = {0.5, 1, 16.8, 89.1};
    const double want_counts[5] = {50, 0, 30, 10, 10};
    for (int k = 0; k < 4; k++)
        check_close(edges[k], want_edges[k], 1e-14);
    for (int k = 0; k < 5; k++)
        assert_true(counts[k] == want_counts[k]);
    cJSON_Delete(doc);
    cairn_frame_free(f);
}

/* Timestamps: seconds since the epoch, type "timestamp". */
static void test_timestamps(void **state)
{
    (void)state;
    cairn_type t[] = {CAIRN_TYPE_TIMESTAMP};
    const char *names[] = {"when"};
    cairn_frame *f = frame_make(1, 4, t, names);
    const int64_t us[4] = {1700000000000000LL, 1700000001500000LL, 1700000003000000LL, 0};
    double secs[3] = {1700000000.0, 1700000001.5, 1700000003.0};
    for (size_t i = 0; i < 3; i++) {
        f->cols[0].valid[i] = 1;
        f->cols[0].v.i64[i] = us[i];
    }
    size_t cols[] = {0};
    cairn_refstats_input in = {.frame = f, .cols = cols, .n_cols = 1};
    cJSON *doc = run(&in);
    cJSON *e = feature(doc, 0);
    assert_string_equal(str(e, "type"), "timestamp");
    check_number_entry(e, secs, 3);
    assert_int_equal(num(e, "missing"), 1);
    check_close(num(e, "mean"), 1700000001.5, 1e-15);
    check_close(num(e, "std"), sqrt(1.5), 1e-9); /* deviations -1.5, 0, 1.5 */
    cJSON_Delete(doc);
    cairn_frame_free(f);
}

/* ---- categories --------------------------------------------------------- */

static void check_categories(const cJSON *e, const char *const *want_names,
                             const double *want_counts, int n, double other)
{
    assert_key_order(e, category_keys, 7);
    assert_string_equal(str(e, "type"), "category");
    cJSON *cats = cJSON_GetObjectItemCaseSensitive(e, "categories");
    assert_int_equal(cJSON_GetArraySize(cats), n);
    double counts[64];
    assert_int_equal(nums(e, "counts", counts, 64), n);
    double total = 0;
    for (int i = 0; i < n; i++) {
        cJSON *c = cJSON_GetArrayItem(cats, i);
        assert_true(cJSON_IsString(c));
        assert_string_equal(c->valuestring, want_names[i]);
        assert_true(counts[i] == want_counts[i]);
        total += counts[i];
    }
    assert_true(num(e, "other") == other);
    assert_true(total + other == num(e, "rows") - num(e, "missing"));
}

/* Most frequent first, ties by byte order ("B" < "a" < "ab"), nulls missing. */
static void test_categories_order(void **state)
{
    (void)state;
    cairn_type t[] = {CAIRN_TYPE_STRING, CAIRN_TYPE_BOOL};
    const char *names[] = {"s", "flag"};
    const char *rows[] = {"ab", "c", "a", "B", NULL, "c", "ab", "a", "c", "B",
                          "a", "d", "ab", "c", NULL, "B", "quote\"d"};
    size_t n = sizeof rows / sizeof rows[0];
    cairn_frame *f = frame_make(2, n, t, names);
    for (size_t i = 0; i < n; i++) {
        if (rows[i])
            set_str(&f->cols[0], i, rows[i]);
        if (i % 3 != 2) { /* every third flag null; the rest true */
            f->cols[1].valid[i] = 1;
            f->cols[1].v.b[i] = 1;
        }
    }
    size_t cols[] = {0, 1};
    cairn_refstats_input in = {.frame = f, .cols = cols, .n_cols = 2};
    cJSON *doc = run(&in);
    cJSON *e = feature(doc, 0);
    assert_int_equal(num(e, "missing"), 2);
    const char *want[] = {"c", "B", "a", "ab", "d", "quote\"d"};
    double wc[] = {4, 3, 3, 3, 1, 1};
    check_categories(e, want, wc, 6, 0);
    /* Bools: both listed even though false never occurs; true first (more frequent). */
    e = feature(doc, 1);
    assert_string_equal(str(e, "name"), "flag");
    assert_int_equal(num(e, "missing"), 5);
    const char *wb[] = {"true", "false"};
    double wbc[] = {12, 0};
    check_categories(e, wb, wbc, 2, 0);
    cJSON_Delete(doc);
    cairn_frame_free(f);
}

/* 60 categories: the 50 most frequent are listed, the rest is "other". */
static void test_categories_cap(void **state)
{
    (void)state;
    cairn_type t[] = {CAIRN_TYPE_STRING};
    const char *names[] = {"s"};
    /* Category v<k> (k = 0..59) occurs 1 + k / 2 times: pairs tie. */
    size_t n = 0;
    for (int k = 0; k < 60; k++)
        n += (size_t)(1 + k / 2);
    cairn_frame *f = frame_make(1, n, t, names);
    size_t row = 0;
    for (int k = 0; k < 60; k++) {
        char s[8];
        snprintf(s, sizeof s, "v%02d", k);
        for (int r = 0; r < 1 + k / 2; r++)
            set_str(&f->cols[0], row++, s);
    }
    size_t cols[] = {0};
    cairn_refstats_input in = {.frame = f, .cols = cols, .n_cols = 1};
    cJSON *doc = run(&in);
    cJSON *e = feature(doc, 0);
    char want_buf[50][8];
    const char *want[50];
    double wc[50];
    /* Counts 30,30,29,29,...: within a pair the smaller name first (v58 before v59). */
    for (int i = 0; i < 50; i++) {
        int k = 58 - 2 * (i / 2) + (i % 2);
        snprintf(want_buf[i], sizeof want_buf[i], "v%02d", k);
        want[i] = want_buf[i];
        wc[i] = 1 + k / 2;
    }
    /* Left out: v00..v09 with counts 1,1,2,2,3,3,4,4,5,5. */
    check_categories(e, want, wc, 50, 30);
    cJSON_Delete(doc);
    cairn_frame_free(f);
}

/* ---- parts -------------------------------------------------------------- */

/*
 * Rows of other parts carry extreme values and their own categories; they
 * must not show anywhere. Scores are indexed by the part's rows.
 */
static void test_only_part(void **state)
{
    (void)state;
    cairn_type t[] = {CAIRN_TYPE_FLOAT64, CAIRN_TYPE_STRING};
    const char *names[] = {"x", "s"};
    cairn_frame *f = frame_make(2, 12, t, names);
    uint8_t part[12];
    double vals[12];
    size_t n_valid = 0;
    for (size_t i = 0; i < 12; i++) {
        part[i] = (uint8_t)(i % 3); /* train, valid, test, ... */
        if (part[i] == CAIRN_PART_VALID) {
            set_f64(&f->cols[0], i, 1e9 + (double)i);
            set_str(&f->cols[1], i, "valid-only");
        } else if (part[i] == CAIRN_PART_TEST) {
            f->cols[0].valid[i] = 0; /* nulls only in test */
            set_str(&f->cols[1], i, "test-only");
        } else {
            vals[n_valid++] = (double)i;
            set_f64(&f->cols[0], i, (double)i);
            set_str(&f->cols[1], i, i < 6 ? "lo" : "hi");
        }
    }
    double scores[4] = {0.1, 0.2, 0.3, 0.4};
    size_t cols[] = {0, 1};
    cairn_refstats_input in = {.frame = f, .part = part, .which = CAIRN_PART_TRAIN,
                               .cols = cols, .n_cols = 2, .task = CAIRN_TASK_BINARY,
                               .scores = scores, .n_scores = 4};
    cJSON *doc = run(&in);
    assert_string_equal(str(doc, "part"), "train");
    assert_int_equal(num(doc, "rows"), 4);
    cJSON *e = feature(doc, 0);
    check_number_entry(e, vals, n_valid); /* train rows 0, 3, 6, 9 */
    assert_int_equal(num(e, "missing"), 0);
    assert_true(num(e, "max") == 9);
    const char *want[] = {"hi", "lo"};
    double wc[] = {2, 2};
    check_categories(feature(doc, 1), want, wc, 2, 0);
    cJSON_Delete(doc);

    /* The test part: all x missing, one category, no prediction. */
    in.which = CAIRN_PART_TEST;
    in.scores = NULL;
    doc = run(&in);
    assert_string_equal(str(doc, "part"), "test");
    e = feature(doc, 0);
    check_number_entry(e, vals, 0);
    assert_int_equal(num(e, "missing"), 4);
    const char *wt[] = {"test-only"};
    double wtc[] = {4};
    check_categories(feature(doc, 1), wt, wtc, 1, 0);
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(doc, "prediction")));
    cJSON_Delete(doc);
    cairn_frame_free(f);
}

/* A part with no rows: every statistic is empty or null, bools list zeros. */
static void test_empty_part(void **state)
{
    (void)state;
    cairn_type t[] = {CAIRN_TYPE_FLOAT64, CAIRN_TYPE_STRING, CAIRN_TYPE_BOOL};
    const char *names[] = {"x", "s", "b"};
    cairn_frame *f = frame_make(3, 3, t, names);
    uint8_t part[3] = {CAIRN_PART_TRAIN, CAIRN_PART_TRAIN, CAIRN_PART_TEST};
    for (size_t i = 0; i < 3; i++) {
        set_f64(&f->cols[0], i, (double)i);
        set_str(&f->cols[1], i, "a");
    }
    size_t cols[] = {0, 1, 2};
    cairn_refstats_input in = {.frame = f, .part = part, .which = CAIRN_PART_VALID,
                               .cols = cols, .n_cols = 3, .task = CAIRN_TASK_REGRESSION,
                               .scores = (const double[]){0}, .n_scores = 0};
    cJSON *doc = run(&in);
    assert_int_equal(num(doc, "rows"), 0);
    cJSON *e = feature(doc, 0);
    check_number_entry(e, NULL, 0);
    assert_int_equal(num(e, "rows"), 0);
    check_categories(feature(doc, 1), NULL, NULL, 0, 0);
    const char *wb[] = {"false", "true"};
    double wbc[] = {0, 0};
    check_categories(feature(doc, 2), wb, wbc, 2, 0);
    cJSON *p = cJSON_GetObjectItemCaseSensitive(doc, "prediction");
    assert_string_equal(str(p, "name"), "score");
    check_number_entry(p, NULL, 0);
    cJSON_Delete(doc);
    cairn_frame_free(f);
}

/* ---- predictions -------------------------------------------------------- */

static void test_prediction_number(void **state)
{
    (void)state;
    cairn_type t[] = {CAIRN_TYPE_FLOAT64};
    const char *names[] = {"x"};
    cairn_frame *f = frame_make(1, 6, t, names);
    for (size_t i = 0; i < 6; i++)
        set_f64(&f->cols[0], i, (double)i);
    double scores[6] = {0.9, 0.1, NAN, 0.5, 0.3, 0.7};
    double finite[5] = {0.9, 0.1, 0.5, 0.3, 0.7};
    size_t cols[] = {0};
    for (int task = CAIRN_TASK_BINARY; task <= CAIRN_TASK_REGRESSION; task++) {
        cairn_refstats_input in = {.frame = f, .cols = cols, .n_cols = 1,
                                   .task = (cairn_task)task, .scores = scores, .n_scores = 6};
        cJSON *doc = run(&in);
        cJSON *p = cJSON_GetObjectItemCaseSensitive(doc, "prediction");
        assert_string_equal(str(p, "name"), "score");
        assert_string_equal(str(p, "type"), "number");
        check_number_entry(p, finite, 5);
        assert_int_equal(num(p, "missing"), 1);
        check_close(num(p, "mean"), 0.5, 1e-15);
        /* Median of 0.1, 0.3, 0.5, 0.7, 0.9 is the 50% quantile. */
        double q[32];
        nums(p, "quantiles", q, 32);
        assert_true(q[10] == 0.5);
        cJSON_Delete(doc);
    }
    cairn_frame_free(f);
}

/* Multiclass: argmax per row, ties to the lowest index, all classes listed. */
static void test_prediction_multiclass(void **state)
{
    (void)state;
    cairn_type t[] = {CAIRN_TYPE_FLOAT64};
    const char *names[] = {"x"};
    cairn_frame *f = frame_make(1, 6, t, names);
    for (size_t i = 0; i < 6; i++)
        set_f64(&f->cols[0], i, (double)i);
    const char *classes[] = {"setosa", "versicolor", "virginica", "unseen"};
    double scores[6 * 4] = {
        0.1, 0.7, 0.2, 0.0,      /* versicolor */
        0.5, 0.5, 0.0, 0.0,      /* tie: setosa */
        0.2, 0.3, 0.5, 0.0,      /* virginica */
        0.0, 0.9, 0.1, 0.0,      /* versicolor */
        NAN, NAN, NAN, NAN,      /* missing */
        0.1, NAN, 0.3, 0.2,      /* virginica (NaN ignored) */
    };
    size_t cols[] = {0};
    cairn_refstats_input in = {.frame = f, .cols = cols, .n_cols = 1,
                               .task = CAIRN_TASK_MULTICLASS, .scores = scores, .n_scores = 6,
                               .n_classes = 4, .class_names = classes};
    cJSON *doc = run(&in);
    cJSON *p = cJSON_GetObjectItemCaseSensitive(doc, "prediction");
    assert_string_equal(str(p, "name"), "class");
    assert_int_equal(num(p, "rows"), 6);
    assert_int_equal(num(p, "missing"), 1);
    const char *want[] = {"versicolor", "virginica", "setosa", "unseen"};
    double wc[] = {2, 2, 1, 0};
    check_categories(p, want, wc, 4, 0);
    cJSON_Delete(doc);
    cairn_frame_free(f);
}

/* ---- determinism, errors, allocation failures --------------------------- */

static cairn_frame *random_frame(size_t n, uint64_t seed, uint8_t *part)
{
    cairn_type t[] = {CAIRN_TYPE_FLOAT64, CAIRN_TYPE_STRING, CAIRN_TYPE_INT64, CAIRN_TYPE_BOOL};
    const char *names[] = {"x", "s", "i", "b"};
    cairn_frame *f = frame_make(4, n, t, names);
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++) {
        part[i] = (uint8_t)(lcg(&s) % 3);
        if (lcg(&s) % 10)
            set_f64(&f->cols[0], i, ((double)lcg(&s) - 1e9) / 1e5);
        char buf[16];
        snprintf(buf, sizeof buf, "c%u", (unsigned)(lcg(&s) % 70));
        set_str(&f->cols[1], i, buf);
        f->cols[2].valid[i] = 1;
        f->cols[2].v.i64[i] = (int64_t)(lcg(&s) % 5);
        f->cols[3].valid[i] = (uint8_t)(lcg(&s) % 2);
        f->cols[3].v.b[i] = f->cols[3].valid[i] ? (uint8_t)(lcg(&s) % 2) : 0;
    }
    return f;
}

static void test_determinism_and_append(void **state)
{
    (void)state;
    enum { N = 2000 };
    uint8_t part[N];
    cairn_frame *f = random_frame(N, 7, part);
    size_t n_train = 0;
    for (size_t i = 0; i < N; i++)
        n_train += part[i] == CAIRN_PART_TRAIN;
    double *scores = malloc(n_train * sizeof *scores);
    uint64_t s = 99;
    for (size_t i = 0; i < n_train; i++)
        scores[i] = (double)(lcg(&s) % 1000) / 1000;
    size_t cols[] = {3, 0, 2, 1};
    cairn_refstats_input in = {.frame = f, .part = part, .cols = cols, .n_cols = 4,
                               .task = CAIRN_TASK_BINARY, .scores = scores,
                               .n_scores = n_train};
    cairn_buf a, b;
    cairn_buf_init(&a);
    cairn_buf_init(&b);
    cairn_buf_puts(&b, "prefix:");
    assert_int_equal(cairn_refstats_json(&in, &a, NULL), CAIRN_OK);
    assert_int_equal(cairn_refstats_json(&in, &b, NULL), CAIRN_OK);
    assert_int_equal(b.len, a.len + 7);
    assert_memory_equal(b.data, "prefix:", 7);
    assert_memory_equal(b.data + 7, a.data, a.len);

    /* Columns appear in the order given, and the categories add up. */
    cJSON *doc = cJSON_ParseWithLength(a.data, a.len);
    assert_non_null(doc);
    assert_string_equal(str(feature(doc, 0), "name"), "b");
    assert_string_equal(str(feature(doc, 3), "name"), "s");
    cJSON *e = feature(doc, 3);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(e, "categories")), 50);
    double counts[64], total = num(e, "other");
    int nc = nums(e, "counts", counts, 64);
    for (int k = 0; k < nc; k++) {
        total += counts[k];
        if (k)
            assert_true(counts[k] <= counts[k - 1]);
    }
    assert_true(total == (double)n_train);
    assert_true(num(e, "other") > 0);
    cJSON_Delete(doc);
    cairn_buf_reset(&a);
    cairn_buf_reset(&b);
    free(scores);
    cairn_frame_free(f);
}

static void expect_error(const cairn_refstats_input *in, cairn_status want)
{
    cairn_buf b;
    cairn_buf_init(&b);
    cairn_buf_puts(&b, "keep");
    cairn_error err = {0};
    assert_int_equal(cairn_refstats_json(in, &b, &err), want);
    assert_int_equal(err.code, want);
    assert_true(err.msg[0] != 0);
    assert_int_equal(b.len, 4); /* nothing appended */
    assert_memory_equal(b.data, "keep", 4);
    cairn_buf_reset(&b);
}

static void test_errors(void **state)
{
    (void)state;
    cairn_type t[] = {CAIRN_TYPE_FLOAT64};
    const char *names[] = {"x"};
    cairn_frame *f = frame_make(1, 4, t, names);
    for (size_t i = 0; i < 4; i++)
        set_f64(&f->cols[0], i, (double)i);
    uint8_t part[4] = {0, 0, 1, 0};
    double scores[8] = {0};
    size_t bad_cols[] = {0, 1};
    cairn_refstats_input in = {.frame = f, .part = part, .cols = bad_cols, .n_cols = 2};
    expect_error(&in, CAIRN_EINVAL); /* column 1 does not exist */

    in.n_cols = 1; /* now only column 0 */
    in.scores = scores;
    in.n_scores = 4; /* the train part has 3 rows */
    expect_error(&in, CAIRN_EINVAL);
    in.n_scores = 3;
    cairn_buf ok;
    cairn_buf_init(&ok);
    assert_int_equal(cairn_refstats_json(&in, &ok, NULL), CAIRN_OK);
    cairn_buf_reset(&ok);

    in.task = CAIRN_TASK_MULTICLASS; /* no class names */
    in.n_classes = 2;
    expect_error(&in, CAIRN_EINVAL);
    in.task = CAIRN_TASK_BINARY;
    in.which = 3; /* no such part */
    expect_error(&in, CAIRN_EINVAL);
    expect_error(NULL, CAIRN_EINVAL);
    cairn_frame_free(f);
}

/* Fails every allocation in turn: ENOMEM and an untouched buffer, then success. */
static void test_alloc_failures(void **state)
{
    (void)state;
    enum { N = 300 };
    uint8_t part[N];
    cairn_frame *f = random_frame(N, 3, part);
    size_t n_train = 0;
    for (size_t i = 0; i < N; i++)
        n_train += part[i] == CAIRN_PART_TRAIN;
    double *scores = calloc(n_train * 3, sizeof *scores);
    for (size_t i = 0; i < n_train * 3; i++)
        scores[i] = (double)(i % 7);
    const char *classes[] = {"a", "b", "c"};
    size_t cols[] = {0, 1, 2, 3};
    cairn_refstats_input in = {.frame = f, .part = part, .cols = cols, .n_cols = 4,
                               .task = CAIRN_TASK_MULTICLASS, .scores = scores,
                               .n_scores = n_train, .n_classes = 3, .class_names = classes};
    cairn_buf ref;
    cairn_buf_init(&ref);
    assert_int_equal(cairn_refstats_json(&in, &ref, NULL), CAIRN_OK);
    for (long k = 1;; k++) {
        cairn_buf b;
        cairn_buf_init(&b);
        cairn_alloc_fail_after(k, false);
        cairn_status st = cairn_refstats_json(&in, &b, NULL);
        cairn_alloc_fail_after(0, false);
        if (st == CAIRN_OK) {
            assert_int_equal(b.len, ref.len);
            assert_memory_equal(b.data, ref.data, ref.len);
            cairn_buf_reset(&b);
            assert_true(k > 3);
            break;
        }
        assert_int_equal(st, CAIRN_ENOMEM);
        assert_int_equal(b.len, 0);
        cairn_buf_reset(&b);
        assert_true(k < 10000);
    }
    cairn_buf_reset(&ref);
    free(scores);
    cairn_frame_free(f);
}

/* ---- numpy oracle ------------------------------------------------------- */

/*
 * 10000 values (a skewed mix with ties) through refstats and through numpy
 * (mean, std with ddof 0, quantile with its default linear method). Skipped
 * when /usr/bin/python3 or numpy is absent.
 */
static void test_numpy_oracle(void **state)
{
    (void)state;
    SKIP_WITHOUT_PYTHON("numpy");
    enum { N = 10000 };
    cairn_type t[] = {CAIRN_TYPE_FLOAT64};
    const char *names[] = {"x"};
    cairn_frame *f = frame_make(1, N + 50, t, names);
    double *vals = malloc(N * sizeof *vals);
    uint64_t s = 2024;
    for (size_t i = 0; i < N; i++) {
        double u = ((double)lcg(&s) + 0.5) / 2147483648.0;
        /* Exponential-ish with a spike of exact ties at 3.25 and a negative tail. */
        vals[i] = lcg(&s) % 8 == 0 ? 3.25 : -log(u) * 40 - 10;
        set_f64(&f->cols[0], i, vals[i]);
    }
    /* 50 null rows at the end. */
    const char *dir = getenv("CAIRN_TEST_TMP") ? getenv("CAIRN_TEST_TMP")
                      : getenv("TMPDIR")       ? getenv("TMPDIR")
                                               : "/tmp";
    char path[512];
    snprintf(path, sizeof path, "%s/refstats-oracle-XXXXXX", dir);
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *fp = fdopen(fd, "w");
    assert_non_null(fp);
    for (size_t i = 0; i < N; i++)
        fprintf(fp, "%.17g\n", vals[i]);
    fclose(fp);

    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c 'import numpy as np,sys; x=np.loadtxt(sys.argv[1]); "
             "print(repr(float(x.mean()))); print(repr(float(x.std()))); "
             "[print(repr(float(v))) for v in np.quantile(x, np.arange(21)/20)]' %s",
             path);
    FILE *py = popen(cmd, "r");
    assert_non_null(py);
    double want[23];
    int got = 0;
    while (got < 23 && fscanf(py, "%lf", &want[got]) == 1)
        got++;
    int rc = pclose(py);
    unlink(path);
    assert_int_equal(rc, 0);
    assert_int_equal(got, 23);

    size_t cols[] = {0};
    cairn_refstats_input in = {.frame = f, .cols = cols, .n_cols = 1};
    cJSON *doc = run(&in);
    cJSON *e = feature(doc, 0);
    check_number_entry(e, vals, N);
    assert_int_equal(num(e, "missing"), 50);
    check_close(num(e, "mean"), want[0], 1e-12);
    check_close(num(e, "std"), want[1], 1e-12);
    double q[32];
    assert_int_equal(nums(e, "quantiles", q, 32), 21);
    for (int k = 0; k < 21; k++)
        check_close(q[k], want[2 + k], 1e-12);
    /* The edges are the even-numbered quantiles that are increasing and above the minimum. */
    double edges[16];
    int ne = nums(e, "edges", edges, 16);
    int j = 0;
    for (int k = 1; k < 10; k++)
        if (q[2 * k] > (j ? edges[j - 1] : q[0])) {
            assert_true(j < ne);
            assert_true(edges[j] == q[2 * k]);
            j++;
        }
    assert_int_equal(j, ne);
    cJSON_Delete(doc);
    free(vals);
    cairn_frame_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_edges_on_values),
        cmocka_unit_test(test_numbers_hand),
        cmocka_unit_test(test_ties_collapse_edges),
        cmocka_unit_test(test_timestamps),
        cmocka_unit_test(test_categories_order),
        cmocka_unit_test(test_categories_cap),
        cmocka_unit_test(test_only_part),
        cmocka_unit_test(test_empty_part),
        cmocka_unit_test(test_prediction_number),
        cmocka_unit_test(test_prediction_multiclass),
        cmocka_unit_test(test_determinism_and_append),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_numpy_oracle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
