/*
 * test_evaluate.c -- the whole evaluation (src/eval/evaluate.c) and the
 * least-cost threshold.
 *
 * The reference for every number is computed here from the plain metric
 * functions, never from cairn_evaluate itself: estimates must equal the
 * metric of the rows exactly; intervals must equal (to 1e-12) a replay that
 * draws each resample's indices with cairn_rng_below under the documented
 * seed rule (docs/metrics.md), gathers the rows, calls the metric (through
 * the cairn_resample_* adapters where one exists) and takes numpy's
 * percentiles. Slices are replayed group by group the same way, with their
 * small flags counted here. Also: the reliability table against
 * cairn_metric_ece's, the JSON through cJSON (NaN as null), errors for bad
 * input with the output left untouched, ENOMEM at every allocation, thread
 * count independence, and the least-cost threshold against a brute force
 * over every candidate threshold on random data with ties.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "eval/eval.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TOL 1e-12

#define assert_double_equal(a, b, tol) check_close((a), (b), (tol), #a, __FILE__, __LINE__)

/* Equal when both are NaN, or within tol (relative above 1). */
static void check_close(double got, double want, double tol, const char *expr, const char *file,
                        int line)
{
    if ((isnan(got) && isnan(want)) || got == want)
        return;
    double scale = fabs(want) > 1 ? fabs(want) : 1;
    if (fabs(got - want) <= tol * scale)
        return;
    print_error("%s = %.17g, expected %.17g (tolerance %g)\n", expr, got, want, tol);
    _fail(file, line);
}

/* A test-local generator for the data (independent of the one under test). */
static uint64_t lcg_next(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 33;
}

/* ---- the documented resample rule, replayed ---------------------------------------- */

/* docs/metrics.md: M(x) is splitmix64's output for a state of x. */
static uint64_t mix(uint64_t x)
{
    return cairn_splitmix64(&x);
}

static uint64_t seed_of(uint64_t seed, uint64_t stream, uint64_t b)
{
    return mix(mix(mix(seed) ^ stream) ^ b);
}

/* All of a task's metrics on the rows idx[0..m) of data, in the header's order. */
typedef void (*all_metrics)(const void *data, const size_t *idx, size_t m, double *v);

static int dcmp(const void *a, const void *b)
{
    double x = *(const double *)a, z = *(const double *)b;
    return (x > z) - (x < z);
}

/*
 * The estimate and interval of each of nm metrics on the sample rows[0..m)
 * (rows NULL: 0..m-1), resample b drawing m indices into the sample with
 * cairn_rng_below from cairn_rng_init(seed_of(seed, stream, b)).
 */
static void replay(all_metrics fn, const void *data, const size_t *rows, size_t m, size_t nm,
                   uint64_t seed, uint64_t stream, size_t n_boot, cairn_interval *iv)
{
    size_t *idx = malloc(m * sizeof *idx);
    double *vals = malloc((n_boot ? n_boot : 1) * nm * sizeof *vals);
    double *sorted = malloc((n_boot ? n_boot : 1) * sizeof *sorted);
    double v[CAIRN_EVAL_MAX_METRICS];
    assert_non_null(idx);
    assert_non_null(vals);
    assert_non_null(sorted);
    for (size_t i = 0; i < m; i++)
        idx[i] = rows ? rows[i] : i;
    fn(data, idx, m, v);
    for (size_t k = 0; k < nm; k++)
        iv[k] = (cairn_interval){.estimate = v[k], .lo = NAN, .hi = NAN, .n_valid = 0};
    for (size_t b = 0; b < n_boot; b++) {
        cairn_rng rng;
        cairn_rng_init(&rng, seed_of(seed, stream, b));
        for (size_t i = 0; i < m; i++) {
            size_t l = (size_t)cairn_rng_below(&rng, m);
            idx[i] = rows ? rows[l] : l;
        }
        fn(data, idx, m, v);
        for (size_t k = 0; k < nm; k++)
            vals[b * nm + k] = v[k];
    }
    for (size_t k = 0; k < nm; k++) {
        size_t nv = 0;
        for (size_t b = 0; b < n_boot; b++)
            if (!isnan(vals[b * nm + k]))
                sorted[nv++] = vals[b * nm + k];
        iv[k].n_valid = nv;
        if (nv) {
            qsort(sorted, nv, sizeof(double), dcmp);
            iv[k].lo = cairn_percentile_sorted(sorted, nv, 2.5);
            iv[k].hi = cairn_percentile_sorted(sorted, nv, 97.5);
        }
    }
    free(idx);
    free(vals);
    free(sorted);
}

/* The evaluated metric list against names, estimates exactly and intervals to TOL. */
static void check_metrics(const cairn_eval_metric *got, size_t n_got, const char *const *names,
                          const cairn_interval *want, size_t nm)
{
    assert_int_equal(n_got, nm);
    for (size_t k = 0; k < nm; k++) {
        assert_string_equal(got[k].name, names[k]);
        const cairn_interval *g = &got[k].iv, *w = &want[k];
        if (isnan(w->estimate))
            assert_true(isnan(g->estimate));
        else
            assert_true(g->estimate == w->estimate); /* exactly the plain metric */
        assert_double_equal(g->lo, w->lo, TOL);
        assert_double_equal(g->hi, w->hi, TOL);
        assert_int_equal(g->n_valid, w->n_valid);
    }
}

/* ---- data -------------------------------------------------------------------------- */

static const char *const binary_names[] = {"auc",      "pr_auc",    "logloss",
                                           "brier",    "ece",       "accuracy",
                                           "precision", "recall",   "f1"};
static const char *const regression_names[] = {"rmse", "mae", "r2", "mape", "spearman"};
static const char *const regression_names_no_mape[] = {"rmse", "mae", "r2", "spearman"};
static const char *const multiclass_names[] = {"accuracy", "macro_f1", "logloss"};

typedef struct bdata {
    const double *s;
    const uint8_t *y8;
    double t;
} bdata;

/* Scores on a grid of 1/steps in [lo, 1] (ties, ECE bin edges), P(y=1) ~ prev_pct. */
static void random_binary(uint64_t seed, size_t n, unsigned steps, double lo, unsigned prev_pct,
                          double *s, double *y, uint8_t *y8)
{
    uint64_t st = seed;
    for (size_t i = 0; i < n; i++) {
        unsigned k = (unsigned)(lcg_next(&st) % (steps + 1));
        bool pos = lcg_next(&st) % 100 < prev_pct;
        if (pos && k < steps / 2 && lcg_next(&st) % 2)
            k += steps / 2;
        s[i] = lo + (1.0 - lo) * (double)k / steps;
        y[i] = pos;
        y8[i] = pos;
    }
}

static void binary_all(const void *data, const size_t *idx, size_t m, double *v)
{
    const bdata *d = data;
    cairn_binary_sample ctx = {.score = d->s, .y = d->y8};
    double *s = malloc(m * sizeof *s);
    uint8_t *y = malloc(m);
    assert_non_null(s);
    assert_non_null(y);
    for (size_t i = 0; i < m; i++) {
        s[i] = d->s[idx[i]];
        y[i] = d->y8[idx[i]];
    }
    v[0] = cairn_resample_auc(&ctx, idx, m);
    v[1] = cairn_resample_pr_auc(&ctx, idx, m);
    v[2] = cairn_resample_logloss(&ctx, idx, m);
    v[3] = cairn_resample_brier(&ctx, idx, m);
    v[4] = cairn_metric_ece(s, y, m, CAIRN_EVAL_ECE_BINS, NULL, NULL, NULL);
    cairn_binary_at at = cairn_metric_binary_at(s, y, m, d->t);
    v[5] = at.accuracy;
    v[6] = at.precision;
    v[7] = at.recall;
    v[8] = at.f1;
    free(s);
    free(y);
}

typedef struct rdata {
    const double *pred, *y;
} rdata;

static void regression_all(const void *data, const size_t *idx, size_t m, double *v, bool mape)
{
    const rdata *d = data;
    cairn_regression_sample ctx = {.pred = d->pred, .y = d->y};
    double *p = malloc(m * sizeof *p), *y = malloc(m * sizeof *y);
    assert_non_null(p);
    assert_non_null(y);
    for (size_t i = 0; i < m; i++) {
        p[i] = d->pred[idx[i]];
        y[i] = d->y[idx[i]];
    }
    size_t k = 0;
    v[k++] = cairn_resample_rmse(&ctx, idx, m);
    v[k++] = cairn_resample_mae(&ctx, idx, m);
    v[k++] = cairn_resample_r2(&ctx, idx, m);
    if (mape)
        v[k++] = cairn_metric_mape(p, y, m);
    v[k++] = cairn_metric_spearman(p, y, m);
    free(p);
    free(y);
}

static void regression_all_mape(const void *data, const size_t *idx, size_t m, double *v)
{
    regression_all(data, idx, m, v, true);
}

static void regression_all_no_mape(const void *data, const size_t *idx, size_t m, double *v)
{
    regression_all(data, idx, m, v, false);
}

typedef struct mdata {
    const double *prob;
    const uint32_t *y;
    size_t k;
} mdata;

static void multiclass_all(const void *data, const size_t *idx, size_t m, double *v)
{
    const mdata *d = data;
    double *p = malloc(m * d->k * sizeof *p);
    uint32_t *y = malloc(m * sizeof *y);
    assert_non_null(p);
    assert_non_null(y);
    for (size_t i = 0; i < m; i++) {
        memcpy(p + i * d->k, d->prob + idx[i] * d->k, d->k * sizeof *p);
        y[i] = d->y[idx[i]];
    }
    v[0] = cairn_metric_mc_accuracy(p, y, m, d->k);
    v[1] = cairn_metric_mc_macro_f1(p, y, m, d->k);
    v[2] = cairn_metric_mc_logloss(p, y, m, d->k);
    free(p);
    free(y);
}

/* ---- binary ------------------------------------------------------------------------ */

static void test_binary(void **state)
{
    (void)state;
    enum { N = 300, NB = 200 };
    double s[N], y[N];
    uint8_t y8[N];
    /* Scores in [0.25, 1]: the first two ECE bins stay empty (NaN rows). */
    random_binary(11, N, 12, 0.25, 35, s, y, y8);
    cairn_eval_input in = {.task = CAIRN_TASK_BINARY, .n = N, .score = s, .y = y,
                           .threshold = 0.5, .n_boot = NB, .seed = 12345, .threads = 2};
    cairn_eval_result r = {0};
    cairn_error err = {0};
    assert_int_equal(cairn_evaluate(&in, &r, &err), CAIRN_OK);

    bdata d = {s, y8, 0.5};
    cairn_interval want[9];
    replay(binary_all, &d, NULL, N, 9, 12345, 0, NB, want);
    check_metrics(r.metrics, r.n_metrics, binary_names, want, 9);
    assert_int_equal(r.task, CAIRN_TASK_BINARY);
    assert_int_equal(r.n, N);
    size_t n_pos = 0;
    for (size_t i = 0; i < N; i++)
        n_pos += y8[i];
    assert_int_equal(r.n_pos, n_pos);
    assert_int_equal(r.n_slices, 0);

    /* Confusion counts at the threshold and the reliability table. */
    cairn_binary_at at = cairn_metric_binary_at(s, y8, N, 0.5);
    assert_true(memcmp(&r.at, &at, sizeof at) == 0);
    uint64_t cnt[CAIRN_EVAL_ECE_BINS];
    double mean_p[CAIRN_EVAL_ECE_BINS], rate[CAIRN_EVAL_ECE_BINS];
    double ece = cairn_metric_ece(s, y8, N, CAIRN_EVAL_ECE_BINS, cnt, mean_p, rate);
    assert_true(ece == cairn_eval_get(&r, "ece"));
    for (int b = 0; b < CAIRN_EVAL_ECE_BINS; b++) {
        assert_int_equal(r.ece_count[b], cnt[b]);
        assert_double_equal(r.ece_mean_p[b], mean_p[b], 0);
        assert_double_equal(r.ece_rate[b], rate[b], 0);
    }
    assert_int_equal(r.ece_count[0], 0);
    assert_true(isnan(r.ece_mean_p[1]));

    /* Lookup. */
    const cairn_eval_metric *m = cairn_eval_find(&r, "auc");
    assert_ptr_equal(m, &r.metrics[0]);
    assert_null(cairn_eval_find(&r, "rmse"));
    assert_null(cairn_eval_find(&r, NULL));
    assert_true(isnan(cairn_eval_get(&r, "nope")));
    assert_true(cairn_eval_get(&r, "f1") == at.f1);
    cairn_eval_result_reset(&r);
    cairn_eval_result_reset(&r); /* twice is harmless */
}

/* Thresholds at scores and between them; a resample may miss one class. */
static void test_binary_small_and_thresholds(void **state)
{
    (void)state;
    enum { N = 12, NB = 300 };
    double s[N], y[N];
    uint8_t y8[N];
    random_binary(5, N, 4, 0.0, 20, s, y, y8);
    const double thresholds[] = {0.0, 0.25, 0.3, 1.0, 1.5};
    for (size_t t = 0; t < CAIRN_ARRAY_LEN(thresholds); t++) {
        cairn_eval_input in = {.task = CAIRN_TASK_BINARY, .n = N, .score = s, .y = y,
                               .threshold = thresholds[t], .n_boot = NB, .seed = t,
                               .threads = 1};
        cairn_eval_result r = {0};
        assert_int_equal(cairn_evaluate(&in, &r, NULL), CAIRN_OK);
        bdata d = {s, y8, thresholds[t]};
        cairn_interval want[9];
        replay(binary_all, &d, NULL, N, 9, t, 0, NB, want);
        check_metrics(r.metrics, r.n_metrics, binary_names, want, 9);
        /* Some resamples of 12 rows at 20% positives have no positive. */
        assert_true(r.metrics[0].iv.n_valid < NB);
        cairn_eval_result_reset(&r);
    }
}

/* Several thousand rows: the sums span many blocks, the resamples run in parallel. */
static void test_many_rows(void **state)
{
    (void)state;
    enum { N = 5000, NB = 24 };
    double *s = malloc(N * sizeof *s), *y = malloc(N * sizeof *y);
    uint8_t *y8 = malloc(N);
    assert_non_null(s);
    assert_non_null(y);
    assert_non_null(y8);
    random_binary(17, N, 100000, 0.0, 30, s, y, y8);
    cairn_eval_input in = {.task = CAIRN_TASK_BINARY, .n = N, .score = s, .y = y,
                           .threshold = 0.37, .n_boot = NB, .seed = 77, .threads = 2};
    cairn_eval_result r = {0};
    assert_int_equal(cairn_evaluate(&in, &r, NULL), CAIRN_OK);
    bdata d = {s, y8, 0.37};
    cairn_interval want[9];
    replay(binary_all, &d, NULL, N, 9, 77, 0, NB, want);
    check_metrics(r.metrics, r.n_metrics, binary_names, want, 9);
    cairn_eval_result_reset(&r);
    free(s);
    free(y);
    free(y8);
}

/* ---- regression -------------------------------------------------------------------- */

static void random_regression(uint64_t seed, size_t n, bool zero_label, double *p, double *y)
{
    uint64_t st = seed;
    for (size_t i = 0; i < n; i++) {
        /* Rounded values: ties in both the labels and the predictions. */
        double truth = 1.0 + (double)(lcg_next(&st) % 40) / 4.0;
        y[i] = truth;
        p[i] = truth + (double)((int)(lcg_next(&st) % 9) - 4) / 2.0;
    }
    if (zero_label)
        y[n / 2] = 0.0;
}

static void test_regression(void **state)
{
    (void)state;
    enum { N = 250, NB = 150 };
    double p[N], y[N];
    rdata d = {p, y};
    cairn_interval want[5];

    random_regression(3, N, false, p, y);
    cairn_eval_input in = {.task = CAIRN_TASK_REGRESSION, .n = N, .score = p, .y = y,
                           .n_boot = NB, .seed = 99, .threads = 2};
    cairn_eval_result r = {0};
    assert_int_equal(cairn_evaluate(&in, &r, NULL), CAIRN_OK);
    replay(regression_all_mape, &d, NULL, N, 5, 99, 0, NB, want);
    check_metrics(r.metrics, r.n_metrics, regression_names, want, 5);
    assert_int_equal(r.n_pos, 0);
    cairn_eval_result_reset(&r);

    /* A zero label: MAPE is absent, the rest unchanged in rule. */
    random_regression(4, N, true, p, y);
    assert_int_equal(cairn_evaluate(&in, &r, NULL), CAIRN_OK);
    replay(regression_all_no_mape, &d, NULL, N, 4, 99, 0, NB, want);
    check_metrics(r.metrics, r.n_metrics, regression_names_no_mape, want, 4);
    assert_null(cairn_eval_find(&r, "mape"));
    assert_true(isnan(cairn_eval_get(&r, "mape")));
    cairn_eval_result_reset(&r);

    /* Many rows: sums over many blocks, resamples in parallel. */
    {
        enum { BIG = 4000, BNB = 16 };
        double *bp = malloc(BIG * sizeof *bp), *by = malloc(BIG * sizeof *by);
        assert_non_null(bp);
        assert_non_null(by);
        random_regression(5, BIG, false, bp, by);
        rdata bd = {bp, by};
        cairn_eval_input big = {.task = CAIRN_TASK_REGRESSION, .n = BIG, .score = bp, .y = by,
                                .n_boot = BNB, .seed = 8, .threads = 2};
        assert_int_equal(cairn_evaluate(&big, &r, NULL), CAIRN_OK);
        replay(regression_all_mape, &bd, NULL, BIG, 5, 8, 0, BNB, want);
        check_metrics(r.metrics, r.n_metrics, regression_names, want, 5);
        cairn_eval_result_reset(&r);
        free(bp);
        free(by);
    }

    /* Constant labels: R2 and Spearman undefined everywhere. */
    for (size_t i = 0; i < N; i++)
        y[i] = 2.5;
    assert_int_equal(cairn_evaluate(&in, &r, NULL), CAIRN_OK);
    replay(regression_all_mape, &d, NULL, N, 5, 99, 0, NB, want);
    check_metrics(r.metrics, r.n_metrics, regression_names, want, 5);
    assert_true(isnan(cairn_eval_get(&r, "r2")));
    assert_int_equal(cairn_eval_find(&r, "spearman")->iv.n_valid, 0);
    cairn_eval_result_reset(&r);
}

/* ---- multiclass -------------------------------------------------------------------- */

static void test_multiclass(void **state)
{
    (void)state;
    enum { N = 200, K = 4, NB = 150 };
    double prob[N * K], y[N];
    uint32_t y32[N];
    uint64_t st = 8;
    for (size_t i = 0; i < N; i++) {
        y32[i] = (uint32_t)(lcg_next(&st) % K);
        y[i] = y32[i];
        for (size_t c = 0; c < K; c++)
            prob[i * K + c] = (double)(lcg_next(&st) % 4) / 8.0; /* argmax ties */
        if (lcg_next(&st) % 2)
            prob[i * K + y32[i]] += 0.25;
    }
    cairn_eval_input in = {.task = CAIRN_TASK_MULTICLASS, .n = N, .n_classes = K, .score = prob,
                           .y = y, .n_boot = NB, .seed = 5, .threads = 2};
    cairn_eval_result r = {0};
    assert_int_equal(cairn_evaluate(&in, &r, NULL), CAIRN_OK);
    mdata d = {prob, y32, K};
    cairn_interval want[3];
    replay(multiclass_all, &d, NULL, N, 3, 5, 0, NB, want);
    check_metrics(r.metrics, r.n_metrics, multiclass_names, want, 3);
    cairn_eval_result_reset(&r);
}

/* ---- slices ------------------------------------------------------------------------ */

/* The rows of group g, in row order, the way the documentation defines a slice sample. */
static size_t group_rows(const uint32_t *group, size_t n, uint32_t g, size_t *rows)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (group[i] == g)
            rows[m++] = i;
    return m;
}

static void test_slices(void **state)
{
    (void)state;
    enum { N = 400, NB = 120, SMALL = 60 };
    double s[N], y[N];
    uint8_t y8[N];
    uint32_t ga[N], gb[N];
    random_binary(21, N, 20, 0.0, 30, s, y, y8);
    uint64_t st = 77;
    for (size_t i = 0; i < N; i++) {
        /* Column "plan": groups 0, 1, 3 large, 2 empty, 4 tiny (3 rows). */
        uint32_t g = (uint32_t)(lcg_next(&st) % 3);
        ga[i] = g == 2 ? 3 : g;
        gb[i] = (uint32_t)(i % 7 == 0);
    }
    ga[10] = ga[20] = ga[30] = 4;
    y[10] = y[20] = y[30] = 0; /* one class only: AUC undefined in that group */
    y8[10] = y8[20] = y8[30] = 0;
    const char *const names_a[] = {"basic", "plus", "unused", "pro", "tiny"};
    const char *const names_b[] = {"no", "yes"};
    cairn_eval_slice_input sl[2] = {
        {.column = "plan", .group = ga, .n_groups = 5, .group_names = names_a},
        {.column = "seventh", .group = gb, .n_groups = 2, .group_names = names_b},
    };
    cairn_eval_input in = {.task = CAIRN_TASK_BINARY, .n = N, .score = s, .y = y,
                           .threshold = 0.4, .n_boot = NB, .seed = 2024, .slices = sl,
                           .n_slices = 2, .small_slice = SMALL, .threads = 2};
    cairn_eval_result r = {0};
    assert_int_equal(cairn_evaluate(&in, &r, NULL), CAIRN_OK);

    bdata d = {s, y8, 0.4};
    size_t rows[N], k = 0;
    for (size_t c = 0; c < 2; c++) {
        for (uint32_t g = 0; g < sl[c].n_groups; g++) {
            size_t m = group_rows(sl[c].group, N, g, rows);
            if (m == 0)
                continue;
            assert_true(k < r.n_slices);
            const cairn_eval_slice *o = &r.slices[k++];
            assert_string_equal(o->column, sl[c].column);
            assert_string_equal(o->value, sl[c].group_names[g]);
            assert_int_equal(o->n, m);
            size_t np = 0;
            for (size_t i = 0; i < m; i++)
                np += y8[rows[i]];
            assert_int_equal(o->n_pos, np);
            assert_int_equal(o->small, m < SMALL || np < 5 || m - np < 5);
            cairn_interval want[9];
            replay(binary_all, &d, rows, m, 9, 2024, ((uint64_t)(c + 1) << 32) | g, NB, want);
            check_metrics(o->metrics, o->n_metrics, binary_names, want, 9);
        }
    }
    assert_int_equal(r.n_slices, k);
    assert_int_equal(k, 6); /* 4 non-empty plan groups, 2 seventh groups */
    assert_string_equal(r.slices[3].value, "tiny");
    assert_true(r.slices[3].small);
    assert_true(isnan(r.slices[3].metrics[0].iv.estimate));
    assert_false(r.slices[0].small);
    assert_true(r.slices[5].small); /* "yes": 58 rows < 60 */
    cairn_eval_result_reset(&r);

    /* Default small_slice (100): every plan group of ~130 rows is not small. */
    in.small_slice = 0;
    in.n_boot = 0;
    assert_int_equal(cairn_evaluate(&in, &r, NULL), CAIRN_OK);
    assert_false(r.slices[0].small);
    assert_true(r.slices[3].small);
    assert_true(isnan(r.slices[0].metrics[0].iv.lo));
    cairn_eval_result_reset(&r);
}

static void test_regression_slices(void **state)
{
    (void)state;
    enum { N = 300, NB = 80 };
    double p[N], y[N];
    uint32_t g[N];
    random_regression(9, N, false, p, y);
    for (size_t i = 0; i < N; i++)
        g[i] = (uint32_t)(i % 3);
    const char *const names[] = {"a", "b", "c"};
    cairn_eval_slice_input sl = {.column = "mod3", .group = g, .n_groups = 3, .group_names = names};
    cairn_eval_input in = {.task = CAIRN_TASK_REGRESSION, .n = N, .score = p, .y = y,
                           .n_boot = NB, .seed = 1, .slices = &sl, .n_slices = 1, .threads = 2};
    cairn_eval_result r = {0};
    assert_int_equal(cairn_evaluate(&in, &r, NULL), CAIRN_OK);
    assert_int_equal(r.n_slices, 3);
    rdata d = {p, y};
    size_t rows[N];
    for (uint32_t k = 0; k < 3; k++) {
        size_t m = group_rows(g, N, k, rows);
        cairn_interval want[5];
        replay(regression_all_mape, &d, rows, m, 5, 1, ((uint64_t)1 << 32) | k, NB, want);
        check_metrics(r.slices[k].metrics, r.slices[k].n_metrics, regression_names, want, 5);
        assert_int_equal(r.slices[k].n, m);
        assert_false(r.slices[k].small); /* exactly 100 rows: not fewer than the default 100 */
    }
    cairn_eval_result_reset(&r);
}

/* ---- determinism ------------------------------------------------------------------- */

static bool same_metrics(const cairn_eval_metric *a, const cairn_eval_metric *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const cairn_interval *x = &a[i].iv, *z = &b[i].iv;
        if (strcmp(a[i].name, b[i].name) != 0 || x->n_valid != z->n_valid)
            return false;
        if (memcmp(&x->estimate, &z->estimate, sizeof(double)) ||
            memcmp(&x->lo, &z->lo, sizeof(double)) || memcmp(&x->hi, &z->hi, sizeof(double)))
            return false;
    }
    return true;
}

static void test_threads(void **state)
{
    (void)state;
    enum { N = 3000, K = 3 };
    double *s = malloc(N * K * sizeof *s), *y = malloc(N * sizeof *y);
    uint8_t *y8 = malloc(N);
    uint32_t *g = malloc(N * sizeof *g);
    assert_non_null(s);
    assert_non_null(y);
    assert_non_null(y8);
    assert_non_null(g);
    const char *const names[] = {"x", "y", "z", "w"};
    for (size_t i = 0; i < N; i++)
        g[i] = (uint32_t)(i * 7 % 4);
    cairn_eval_slice_input sl = {.column = "c", .group = g, .n_groups = 4, .group_names = names};
    for (int task = 0; task < 3; task++) {
        cairn_eval_input in = {.task = (cairn_task)task, .n = N, .n_classes = K, .score = s,
                               .y = y, .threshold = 0.5, .n_boot = 100, .seed = 31,
                               .slices = &sl, .n_slices = 1};
        if (task == CAIRN_TASK_BINARY) {
            random_binary(8, N, 1000, 0.0, 40, s, y, y8);
        } else if (task == CAIRN_TASK_REGRESSION) {
            random_regression(8, N, false, s, y);
        } else {
            uint64_t st = 3;
            for (size_t i = 0; i < N * K; i++)
                s[i] = (double)(lcg_next(&st) % 100) / 100.0;
            for (size_t i = 0; i < N; i++)
                y[i] = (double)(lcg_next(&st) % K);
        }
        cairn_eval_result r1 = {0}, r2 = {0}, r0 = {0}, other = {0};
        in.threads = 1;
        assert_int_equal(cairn_evaluate(&in, &r1, NULL), CAIRN_OK);
        in.threads = 2;
        assert_int_equal(cairn_evaluate(&in, &r2, NULL), CAIRN_OK);
        in.threads = 0;
        assert_int_equal(cairn_evaluate(&in, &r0, NULL), CAIRN_OK);
        assert_true(same_metrics(r1.metrics, r2.metrics, r1.n_metrics));
        assert_true(same_metrics(r1.metrics, r0.metrics, r1.n_metrics));
        assert_int_equal(r1.n_slices, 4);
        for (size_t k = 0; k < r1.n_slices; k++) {
            assert_true(same_metrics(r1.slices[k].metrics, r2.slices[k].metrics,
                                     r1.slices[k].n_metrics));
            assert_true(same_metrics(r1.slices[k].metrics, r0.slices[k].metrics,
                                     r1.slices[k].n_metrics));
        }
        /* Another seed moves the intervals (the estimates stay). */
        in.seed = 32;
        assert_int_equal(cairn_evaluate(&in, &other, NULL), CAIRN_OK);
        assert_true(other.metrics[0].iv.estimate == r1.metrics[0].iv.estimate);
        assert_true(other.metrics[0].iv.lo != r1.metrics[0].iv.lo ||
                    other.metrics[0].iv.hi != r1.metrics[0].iv.hi);
        cairn_eval_result_reset(&r0);
        cairn_eval_result_reset(&r1);
        cairn_eval_result_reset(&r2);
        cairn_eval_result_reset(&other);
    }
    free(s);
    free(y);
    free(y8);
    free(g);
}

/* ---- JSON -------------------------------------------------------------------------- */

/* The keys of a cJSON object, in order, against names. */
static void check_keys(const cJSON *o, const char *const *names, size_t n)
{
    assert_true(cJSON_IsObject(o));
    const cJSON *c = o->child;
    for (size_t i = 0; i < n; i++) {
        assert_non_null(c);
        assert_string_equal(c->string, names[i]);
        c = c->next;
    }
    assert_null(c);
}

/* A JSON number equal to v, or null when v is not finite. */
static void check_num(const cJSON *j, double v)
{
    assert_non_null(j);
    if (!isfinite(v)) {
        assert_true(cJSON_IsNull(j));
        return;
    }
    assert_true(cJSON_IsNumber(j));
    assert_true(j->valuedouble == v);
}

static void check_json_metrics(const cJSON *o, const cairn_eval_metric *m, size_t n)
{
    static const char *const iv_keys[] = {"estimate", "lo", "hi", "n_valid"};
    const cJSON *c = o->child;
    for (size_t i = 0; i < n; i++, c = c->next) {
        assert_non_null(c);
        assert_string_equal(c->string, m[i].name);
        check_keys(c, iv_keys, 4);
        check_num(cJSON_GetObjectItem(c, "estimate"), m[i].iv.estimate);
        check_num(cJSON_GetObjectItem(c, "lo"), m[i].iv.lo);
        check_num(cJSON_GetObjectItem(c, "hi"), m[i].iv.hi);
        assert_true(cJSON_GetObjectItem(c, "n_valid")->valuedouble == (double)m[i].iv.n_valid);
    }
    assert_null(c);
}

static void test_json(void **state)
{
    (void)state;
    enum { N = 200 };
    double s[N], y[N];
    uint8_t y8[N];
    uint32_t g[N];
    random_binary(4, N, 10, 0.3, 30, s, y, y8);
    for (size_t i = 0; i < N; i++)
        g[i] = i < 4 ? 1 : 0;
    y[0] = y[1] = y[2] = y[3] = 1; /* group "q\"x" holds positives only: AUC is null */
    const char *const names[] = {"basic", "q\"x"};
    cairn_eval_slice_input sl = {.column = "plan", .group = g, .n_groups = 2, .group_names = names};
    cairn_eval_input in = {.task = CAIRN_TASK_BINARY, .n = N, .score = s, .y = y,
                           .threshold = 0.55, .n_boot = 50, .seed = 3, .slices = &sl,
                           .n_slices = 1};
    cairn_eval_result r = {0};
    assert_int_equal(cairn_evaluate(&in, &r, NULL), CAIRN_OK);
    cairn_buf b;
    cairn_buf_init(&b);
    cairn_eval_result_to_json(&r, &b);
    assert_false(b.failed);
    cJSON *j = cJSON_Parse(b.data);
    assert_non_null(j);
    static const char *const top[] = {"task", "n", "n_pos", "metrics", "threshold",
                                      "confusion", "calibration", "slices"};
    check_keys(j, top, CAIRN_ARRAY_LEN(top));
    assert_string_equal(cJSON_GetObjectItem(j, "task")->valuestring, "binary");
    assert_true(cJSON_GetObjectItem(j, "n")->valuedouble == N);
    assert_true(cJSON_GetObjectItem(j, "n_pos")->valuedouble == (double)r.n_pos);
    check_json_metrics(cJSON_GetObjectItem(j, "metrics"), r.metrics, r.n_metrics);
    check_num(cJSON_GetObjectItem(j, "threshold"), 0.55);
    static const char *const conf[] = {"tp", "fp", "tn", "fn"};
    const cJSON *cf = cJSON_GetObjectItem(j, "confusion");
    check_keys(cf, conf, 4);
    assert_true(cJSON_GetObjectItem(cf, "tp")->valuedouble == (double)r.at.tp);
    assert_true(cJSON_GetObjectItem(cf, "fn")->valuedouble == (double)r.at.fn);
    const cJSON *cal = cJSON_GetObjectItem(j, "calibration");
    assert_int_equal(cJSON_GetArraySize(cal), CAIRN_EVAL_ECE_BINS);
    static const char *const bin_keys[] = {"lo", "hi", "count", "mean_p", "rate"};
    for (int i = 0; i < CAIRN_EVAL_ECE_BINS; i++) {
        const cJSON *e = cJSON_GetArrayItem(cal, i);
        check_keys(e, bin_keys, 5);
        check_num(cJSON_GetObjectItem(e, "lo"), i / 10.0);
        check_num(cJSON_GetObjectItem(e, "hi"), (i + 1) / 10.0);
        assert_true(cJSON_GetObjectItem(e, "count")->valuedouble == (double)r.ece_count[i]);
        check_num(cJSON_GetObjectItem(e, "mean_p"), r.ece_mean_p[i]);
        check_num(cJSON_GetObjectItem(e, "rate"), r.ece_rate[i]);
    }
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetArrayItem(cal, 0), "mean_p")));
    const cJSON *sls = cJSON_GetObjectItem(j, "slices");
    assert_int_equal(cJSON_GetArraySize(sls), 2);
    static const char *const slice_keys[] = {"column", "value", "n", "n_pos", "small", "metrics"};
    for (int i = 0; i < 2; i++) {
        const cJSON *o = cJSON_GetArrayItem(sls, i);
        check_keys(o, slice_keys, 6);
        assert_string_equal(cJSON_GetObjectItem(o, "column")->valuestring, "plan");
        assert_string_equal(cJSON_GetObjectItem(o, "value")->valuestring, r.slices[i].value);
        assert_true(cJSON_GetObjectItem(o, "n")->valuedouble == (double)r.slices[i].n);
        assert_true(cJSON_IsBool(cJSON_GetObjectItem(o, "small")));
        assert_int_equal(cJSON_IsTrue(cJSON_GetObjectItem(o, "small")), r.slices[i].small);
        check_json_metrics(cJSON_GetObjectItem(o, "metrics"), r.slices[i].metrics,
                           r.slices[i].n_metrics);
    }
    const cJSON *auc = cJSON_GetObjectItem(
        cJSON_GetObjectItem(cJSON_GetArrayItem(sls, 1), "metrics"), "auc");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(auc, "estimate")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(auc, "lo")));
    assert_true(cJSON_GetObjectItem(auc, "n_valid")->valuedouble == 0);
    cJSON_Delete(j);
    cairn_buf_reset(&b);
    cairn_eval_result_reset(&r);

    /* Regression: no binary keys; no bootstrap: null bounds. */
    double p[N];
    random_regression(2, N, false, p, y);
    cairn_eval_input rin = {.task = CAIRN_TASK_REGRESSION, .n = N, .score = p, .y = y};
    assert_int_equal(cairn_evaluate(&rin, &r, NULL), CAIRN_OK);
    cairn_buf_init(&b);
    cairn_eval_result_to_json(&r, &b);
    j = cJSON_Parse(b.data);
    assert_non_null(j);
    static const char *const rtop[] = {"task", "n", "metrics", "slices"};
    check_keys(j, rtop, 4);
    assert_string_equal(cJSON_GetObjectItem(j, "task")->valuestring, "regression");
    check_json_metrics(cJSON_GetObjectItem(j, "metrics"), r.metrics, r.n_metrics);
    assert_true(cJSON_IsNull(
        cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "metrics"), "rmse"), "lo")));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "slices")), 0);
    cJSON_Delete(j);
    cairn_buf_reset(&b);
    cairn_eval_result_reset(&r);
}

/* ---- n_boot = 0 -------------------------------------------------------------------- */

static void test_no_bootstrap(void **state)
{
    (void)state;
    enum { N = 50 };
    double s[N], y[N];
    uint8_t y8[N];
    random_binary(6, N, 10, 0.0, 50, s, y, y8);
    cairn_eval_input in = {.task = CAIRN_TASK_BINARY, .n = N, .score = s, .y = y,
                           .threshold = 0.5};
    cairn_eval_result r = {0};
    assert_int_equal(cairn_evaluate(&in, &r, NULL), CAIRN_OK);
    bdata d = {s, y8, 0.5};
    cairn_interval want[9];
    replay(binary_all, &d, NULL, N, 9, 0, 0, 0, want);
    check_metrics(r.metrics, r.n_metrics, binary_names, want, 9);
    for (size_t k = 0; k < r.n_metrics; k++) {
        assert_true(isnan(r.metrics[k].iv.lo) && isnan(r.metrics[k].iv.hi));
        assert_int_equal(r.metrics[k].iv.n_valid, 0);
    }
    cairn_eval_result_reset(&r);
}

/* ---- errors ------------------------------------------------------------------------ */

/* Expects CAIRN_EINVAL with msg containing what, and *out untouched. */
static void expect_einval(const cairn_eval_input *in, const char *what)
{
    cairn_eval_result r;
    memset(&r, 0xab, sizeof r);
    cairn_eval_result before = r;
    cairn_error err = {0};
    assert_int_equal(cairn_evaluate(in, &r, &err), CAIRN_EINVAL);
    assert_int_equal(err.code, CAIRN_EINVAL);
    if (!strstr(err.msg, what)) {
        print_error("message '%s' lacks '%s'\n", err.msg, what);
        fail();
    }
    assert_true(memcmp(&r, &before, sizeof r) == 0);
}

static void test_errors(void **state)
{
    (void)state;
    double s[6] = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6}, y[6] = {0, 1, 0, 1, 0, 1};
    uint32_t g[6] = {0, 1, 0, 1, 0, 1};
    const char *const names[] = {"a", "b"};
    cairn_eval_slice_input sl = {.column = "plan", .group = g, .n_groups = 2, .group_names = names};
    cairn_eval_input base = {.task = CAIRN_TASK_BINARY, .n = 6, .score = s, .y = y,
                             .threshold = 0.5, .n_boot = 10, .slices = &sl, .n_slices = 1};
    cairn_eval_input in = base;
    cairn_eval_result r = {0};
    assert_int_equal(cairn_evaluate(&base, &r, NULL), CAIRN_OK);
    cairn_eval_result_reset(&r);

    in.n = 0;
    expect_einval(&in, "no rows");
    in = base;
    s[3] = NAN;
    expect_einval(&in, "row 3");
    s[3] = INFINITY;
    expect_einval(&in, "row 3");
    s[3] = 0.4;
    y[2] = 0.5;
    expect_einval(&in, "row 2");
    y[2] = 0;
    in.threshold = NAN;
    expect_einval(&in, "threshold");
    in = base;
    g[4] = 2;
    expect_einval(&in, "group id 2");
    g[4] = 0;
    in.n_slices = 2; /* slices points at one */
    in.slices = NULL;
    expect_einval(&in, "slice");
    in = base;
    in.score = NULL;
    expect_einval(&in, "required");
    in = base;
    in.task = (cairn_task)7;
    expect_einval(&in, "task");

    /* Multiclass: k, labels, NaN probabilities. */
    double prob[12] = {0.5, 0.5, 0.2, 0.8, 0.9, 0.1, 0.3, 0.7, 0.6, 0.4, 0.1, 0.9};
    double my[6] = {0, 1, 0, 1, 0, 1};
    cairn_eval_input mc = {.task = CAIRN_TASK_MULTICLASS, .n = 6, .n_classes = 2, .score = prob,
                           .y = my};
    assert_int_equal(cairn_evaluate(&mc, &r, NULL), CAIRN_OK);
    cairn_eval_result_reset(&r);
    my[5] = 2;
    expect_einval(&mc, "row 5");
    my[5] = 1.5;
    expect_einval(&mc, "row 5");
    my[5] = 1;
    prob[7] = NAN;
    expect_einval(&mc, "row 3");
    prob[7] = 0.7;
    mc.n_classes = 1;
    expect_einval(&mc, "n_classes");

    /* Regression: NaN label. */
    double ry[6] = {1, 2, 3, NAN, 5, 6};
    cairn_eval_input rg = {.task = CAIRN_TASK_REGRESSION, .n = 6, .score = s, .y = ry};
    expect_einval(&rg, "row 3");

    assert_int_equal(cairn_evaluate(NULL, &r, NULL), CAIRN_EINVAL);
    assert_int_equal(cairn_evaluate(&base, NULL, NULL), CAIRN_EINVAL);
}

/* Every allocation failing in turn: ENOMEM (out untouched) or a complete result; no leaks. */
static void test_enomem(void **state)
{
    (void)state;
    enum { N = 60 };
    double s[N], y[N], p[N];
    uint8_t y8[N];
    uint32_t g[N];
    random_binary(2, N, 10, 0.0, 40, s, y, y8);
    for (size_t i = 0; i < N; i++)
        g[i] = (uint32_t)(i % 3);
    const char *const names[] = {"a", "b", "c"};
    cairn_eval_slice_input sl = {.column = "c", .group = g, .n_groups = 3, .group_names = names};
    for (int task = 0; task < 2; task++) {
        if (task == 1)
            random_regression(2, N, false, p, y);
        cairn_eval_input in = {.task = (cairn_task)task, .n = N, .score = task ? p : s, .y = y,
                               .threshold = 0.5, .n_boot = 20, .slices = &sl, .n_slices = 1,
                               .threads = 2};
        size_t n_ok = 0, n_fail = 0;
        for (long k = 1; k <= 120; k++) {
            cairn_eval_result r;
            memset(&r, 0x5a, sizeof r);
            cairn_eval_result before = r;
            cairn_error err = {0};
            cairn_alloc_fail_after(k, false);
            cairn_status st = cairn_evaluate(&in, &r, &err);
            cairn_alloc_fail_after(0, false);
            if (st == CAIRN_OK) {
                n_ok++;
                assert_int_equal(r.n_slices, 3);
                cairn_eval_result_reset(&r);
            } else {
                n_fail++;
                assert_int_equal(st, CAIRN_ENOMEM);
                assert_int_equal(err.code, CAIRN_ENOMEM);
                assert_true(memcmp(&r, &before, sizeof r) == 0);
            }
        }
        assert_true(n_fail >= 10);
        assert_true(n_ok >= 1);
    }
}

/* ---- the least-cost threshold ------------------------------------------------------ */

/* Every candidate threshold (the distinct scores, "above all" when below 1), costed by counting. */
static double brute_min_cost(const double *p, const uint8_t *y, size_t n, double cfp, double cfn)
{
    double cand[80];
    size_t nc = 0;
    double mx = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        bool seen = false;
        for (size_t c = 0; c < nc; c++)
            seen = seen || cand[c] == p[i];
        if (!seen)
            cand[nc++] = p[i];
        mx = p[i] > mx ? p[i] : mx;
    }
    if (mx < 1)
        cand[nc++] = nextafter(mx, 2.0);
    double best_t = NAN, best_c = INFINITY;
    for (size_t c = 0; c < nc; c++) {
        double t = cand[c];
        uint64_t fp = 0, fn = 0;
        for (size_t i = 0; i < n; i++) {
            if (p[i] >= t && !y[i])
                fp++;
            if (p[i] < t && y[i])
                fn++;
        }
        double cost = cfp * (double)fp + cfn * (double)fn;
        if (cost < best_c || (cost == best_c && t < best_t)) {
            best_c = cost;
            best_t = t;
        }
    }
    return best_t;
}

static void test_min_cost(void **state)
{
    (void)state;
    enum { N = 60 };
    double s[N], y[N];
    uint8_t y8[N];
    const double costs[][2] = {{1, 1}, {1, 5}, {5, 1}, {0, 1}, {1, 0}, {0, 0}, {2.5, 0.7},
                               {1000, 1}};
    for (uint64_t seed = 1; seed <= 40; seed++) {
        size_t n = 1 + (size_t)(seed * 13 % N);
        random_binary(seed, n, seed % 3 ? 8 : 50, seed % 4 ? 0.0 : 0.2, 10 + seed % 70, s, y,
                      y8);
        if (seed % 5 == 0) /* below 1: "above every score" exists */
            for (size_t i = 0; i < n; i++)
                s[i] *= 0.9;
        for (size_t c = 0; c < CAIRN_ARRAY_LEN(costs); c++) {
            double got = cairn_threshold_min_cost(s, y8, n, costs[c][0], costs[c][1]);
            double want = brute_min_cost(s, y8, n, costs[c][0], costs[c][1]);
            assert_true(got == want);
        }
    }
    /* Hand cases. n == 0: 0.5. Positives at 0.8 and 0.6, negative at 0.7:
     * t=0.8: FP 0 FN 1; t=0.7: FP 1 FN 1; t=0.6: FP 1 FN 0; above (0.8+): FN 2. */
    assert_true(cairn_threshold_min_cost(NULL, NULL, 0, 1, 1) == 0.5);
    const double h[] = {0.8, 0.7, 0.6};
    const uint8_t hy[] = {1, 0, 1};
    assert_true(cairn_threshold_min_cost(h, hy, 3, 1, 1) == 0.6);   /* 0.8 and 0.6 tie at 1 */
    assert_true(cairn_threshold_min_cost(h, hy, 3, 3, 1) == 0.8);
    /* A negative on top: t=0.9 costs 10 + 1, t=0.8 costs 10, predicting nothing 1. */
    const double top[] = {0.9, 0.8};
    const uint8_t ty[] = {0, 1};
    assert_true(cairn_threshold_min_cost(top, ty, 2, 10, 1) == nextafter(0.9, 1));
    assert_true(cairn_threshold_min_cost(top, ty, 2, 0.5, 1) == 0.8);
    const double one[] = {1.0, 0.2};
    const uint8_t oy[] = {0, 0};
    /* Largest score 1: no threshold <= 1 predicts nothing; 1.0 is the best left. */
    assert_true(cairn_threshold_min_cost(one, oy, 2, 1, 1) == 1.0);
    const double bad[] = {0.1, NAN};
    assert_true(isnan(cairn_threshold_min_cost(bad, oy, 2, 1, 1)));
    assert_true(isnan(cairn_threshold_min_cost(h, hy, 3, NAN, 1)));
}

static void test_higher_is_better(void **state)
{
    (void)state;
    const char *const higher[] = {"auc", "pr_auc", "accuracy", "precision", "recall", "f1",
                                  "r2", "spearman", "macro_f1"};
    const char *const lower[] = {"logloss", "brier", "ece", "rmse", "mae", "mape"};
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(higher); i++)
        assert_true(cairn_metric_higher_is_better(higher[i]));
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(lower); i++)
        assert_false(cairn_metric_higher_is_better(lower[i]));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_binary),
        cmocka_unit_test(test_binary_small_and_thresholds),
        cmocka_unit_test(test_many_rows),
        cmocka_unit_test(test_regression),
        cmocka_unit_test(test_multiclass),
        cmocka_unit_test(test_slices),
        cmocka_unit_test(test_regression_slices),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_no_bootstrap),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_enomem),
        cmocka_unit_test(test_min_cost),
        cmocka_unit_test(test_higher_is_better),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
