/*
 * test_compare.c -- candidate against production (src/review/compare.c).
 *
 * The reference for every interval is cairn_bootstrap itself: a resample
 * metric that gathers the drawn rows of both models, applies the plain
 * cairn_metric_* functions to each and returns the gain. cairn_compare must
 * give the same lo, hi and n_valid (to 1e-12), which only holds when it
 * draws the very same indices as cairn_bootstrap for the same seed (this is
 * the proof that its draw equals cairn_bootstrap's) and its weighted
 * resample metrics equal the plain ones. Slice groups are replayed the same
 * way over the group's rows with the seed rule compare.h states. Also: the
 * sign convention, identical models, a clearly better candidate, a slice
 * that regresses while the whole improves, small slices, NaN metrics,
 * determinism across thread counts, errors, the JSON (through cJSON) and
 * scikit-learn's auc and log loss as an independent oracle.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "review/compare.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TOL 1e-12

#define assert_close(a, b, tol) check_close((a), (b), (tol), #a, __FILE__, __LINE__)

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
    return *s >> 11;
}

static double unif(uint64_t *s)
{
    return (double)lcg_next(s) / 9007199254740992.0; /* 2^53 */
}

static double gauss(uint64_t *s)
{
    double u = unif(s), v = unif(s);
    return sqrt(-2.0 * log(u + 1e-300)) * cos(6.283185307179586 * v);
}

static double sigmoid(double x)
{
    return 1.0 / (1.0 + exp(-x));
}

/* Rounds to a 1/20 grid so that scores tie. */
static double grid(double p)
{
    return round(p * 20.0) / 20.0;
}

/* ---- the oracle: cairn_bootstrap over gathered rows ---------------------------------- */

typedef struct oracle {
    cairn_task task;
    size_t k;
    const double *y, *cand, *prod;
    double threshold;
    const char *metric;
} oracle;

/* The named metric of cairn_evaluate's set on m gathered rows, through metrics.c. */
static double plain_metric(const oracle *o, const double *s, const double *y, size_t m)
{
    const char *n = o->metric;
    double v = NAN;
    if (o->task == CAIRN_TASK_BINARY) {
        uint8_t *y8 = malloc(m ? m : 1);
        for (size_t i = 0; i < m; i++)
            y8[i] = y[i] != 0;
        cairn_binary_at at = cairn_metric_binary_at(s, y8, m, o->threshold);
        if (!strcmp(n, "auc"))
            v = cairn_metric_auc(s, y8, m);
        else if (!strcmp(n, "pr_auc"))
            v = cairn_metric_pr_auc(s, y8, m);
        else if (!strcmp(n, "logloss"))
            v = cairn_metric_logloss(s, y8, m);
        else if (!strcmp(n, "brier"))
            v = cairn_metric_brier(s, y8, m);
        else if (!strcmp(n, "ece"))
            v = cairn_metric_ece(s, y8, m, CAIRN_EVAL_ECE_BINS, NULL, NULL, NULL);
        else if (!strcmp(n, "accuracy"))
            v = at.accuracy;
        else if (!strcmp(n, "precision"))
            v = at.precision;
        else if (!strcmp(n, "recall"))
            v = at.recall;
        else if (!strcmp(n, "f1"))
            v = at.f1;
        free(y8);
    } else if (o->task == CAIRN_TASK_REGRESSION) {
        if (!strcmp(n, "rmse"))
            v = cairn_metric_rmse(s, y, m);
        else if (!strcmp(n, "mae"))
            v = cairn_metric_mae(s, y, m);
        else if (!strcmp(n, "r2"))
            v = cairn_metric_r2(s, y, m);
        else if (!strcmp(n, "mape"))
            v = cairn_metric_mape(s, y, m);
        else if (!strcmp(n, "spearman"))
            v = cairn_metric_spearman(s, y, m);
    } else {
        uint32_t *y32 = malloc((m ? m : 1) * sizeof *y32);
        for (size_t i = 0; i < m; i++)
            y32[i] = (uint32_t)y[i];
        if (!strcmp(n, "accuracy"))
            v = cairn_metric_mc_accuracy(s, y32, m, o->k);
        else if (!strcmp(n, "macro_f1"))
            v = cairn_metric_mc_macro_f1(s, y32, m, o->k);
        else if (!strcmp(n, "logloss"))
            v = cairn_metric_mc_logloss(s, y32, m, o->k);
        free(y32);
    }
    return v;
}

static double gain_of(const char *name, double c, double p)
{
    return cairn_metric_higher_is_better(name) ? c - p : p - c;
}

/* A cairn_resample_metric: the gain of the candidate on the drawn rows. */
static double oracle_gain(const void *ctx, const size_t *idx, size_t m)
{
    const oracle *o = ctx;
    size_t k = o->task == CAIRN_TASK_MULTICLASS ? o->k : 1;
    double *c = malloc((m ? m : 1) * k * sizeof *c), *p = malloc((m ? m : 1) * k * sizeof *p);
    double *y = malloc((m ? m : 1) * sizeof *y);
    for (size_t i = 0; i < m; i++) {
        memcpy(c + i * k, o->cand + idx[i] * k, k * sizeof *c);
        memcpy(p + i * k, o->prod + idx[i] * k, k * sizeof *p);
        y[i] = o->y[idx[i]];
    }
    double g = gain_of(o->metric, plain_metric(o, c, y, m), plain_metric(o, p, y, m));
    free(c);
    free(p);
    free(y);
    return g;
}

/* The seed of slice column c, group g, as compare.h states it. */
static uint64_t mix(uint64_t x)
{
    return cairn_splitmix64(&x);
}

static uint64_t group_seed(uint64_t seed, size_t c, size_t g)
{
    return mix(mix(mix(seed) ^ (((uint64_t)(c + 1) << 32) | g)));
}

/*
 * Checks one compare metric against the oracle on rows[0..m) of in (NULL:
 * every row) with the given stream seed: candidate and production exactly
 * equal to metrics.c, the gain interval equal to cairn_bootstrap's.
 */
static void check_metric(const cairn_compare_input *in, const cairn_compare_metric *cm,
                         const uint32_t *rows, size_t m, uint64_t seed)
{
    size_t k = in->task == CAIRN_TASK_MULTICLASS ? in->n_classes : 1;
    double *c = malloc(m * k * sizeof *c), *p = malloc(m * k * sizeof *p), *y = malloc(m * sizeof *y);
    for (size_t l = 0; l < m; l++) {
        size_t i = rows ? rows[l] : l;
        memcpy(c + l * k, in->candidate + i * k, k * sizeof *c);
        memcpy(p + l * k, in->production + i * k, k * sizeof *p);
        y[l] = in->y[i];
    }
    oracle o = {in->task, in->n_classes, y, c, p, in->threshold, cm->name};
    double want_c = plain_metric(&o, c, y, m), want_p = plain_metric(&o, p, y, m);
    /* Estimates: the plain metric itself, bit for bit. */
    if (!(isnan(want_c) && isnan(cm->candidate)))
        assert_true(cm->candidate == want_c);
    if (!(isnan(want_p) && isnan(cm->production)))
        assert_true(cm->production == want_p);
    assert_close(cm->gain.estimate, gain_of(cm->name, want_c, want_p), 0);
    if (in->n_boot) {
        cairn_interval iv;
        assert_int_equal(cairn_bootstrap(oracle_gain, &o, m, in->n_boot, seed, &iv, NULL),
                         CAIRN_OK);
        if (cm->gain.n_valid != iv.n_valid)
            print_error("metric %s: n_valid %zu, oracle %zu\n", cm->name, cm->gain.n_valid,
                        iv.n_valid);
        assert_int_equal(cm->gain.n_valid, iv.n_valid);
        assert_close(cm->gain.lo, iv.lo, TOL);
        assert_close(cm->gain.hi, iv.hi, TOL);
    } else {
        assert_close(cm->gain.lo, cm->gain.estimate, 0);
        assert_close(cm->gain.hi, cm->gain.estimate, 0);
    }
    free(c);
    free(p);
    free(y);
}

/* ---- data ----------------------------------------------------------------------------- */

typedef struct data {
    size_t n, k;
    double *y, *cand, *prod;
} data;

static void data_free(data *d)
{
    free(d->y);
    free(d->cand);
    free(d->prod);
    memset(d, 0, sizeof *d);
}

/*
 * Binary rows: the candidate's score is a noisy logit of the label with
 * noise sd_c, production's the same signal with extra noise sd_p on top (so
 * the candidate is better when sd_p > 0). Scores on a 1/20 grid when tied.
 */
static data binary_data(size_t n, double sd_p, bool tied, uint64_t seed)
{
    data d = {n, 1, malloc(n * sizeof(double)), malloc(n * sizeof(double)),
              malloc(n * sizeof(double))};
    for (size_t i = 0; i < n; i++) {
        double y = unif(&seed) < 0.4 ? 1 : 0;
        double z = (y ? 1.0 : -1.0) + gauss(&seed);
        d.y[i] = y;
        d.cand[i] = sigmoid(z);
        d.prod[i] = sigmoid(z + sd_p * gauss(&seed));
        if (tied) {
            d.cand[i] = grid(d.cand[i]);
            d.prod[i] = grid(d.prod[i]);
        }
    }
    return d;
}

static data regression_data(size_t n, double sd_p, bool zero_label, uint64_t seed)
{
    data d = {n, 1, malloc(n * sizeof(double)), malloc(n * sizeof(double)),
              malloc(n * sizeof(double))};
    for (size_t i = 0; i < n; i++) {
        double x = gauss(&seed);
        /* Labels on a coarse grid so that they tie; 10 + ... keeps them nonzero. */
        d.y[i] = round((10.0 + 3.0 * x + gauss(&seed)) * 2.0) / 2.0;
        d.cand[i] = round((10.0 + 3.0 * x) * 4.0) / 4.0;
        d.prod[i] = d.cand[i] + sd_p * gauss(&seed);
    }
    if (zero_label)
        d.y[n / 2] = 0;
    return d;
}

static data multiclass_data(size_t n, size_t k, double sd_p, uint64_t seed)
{
    data d = {n, k, malloc(n * sizeof(double)), malloc(n * k * sizeof(double)),
              malloc(n * k * sizeof(double))};
    for (size_t i = 0; i < n; i++) {
        size_t y = (size_t)(unif(&seed) * (double)k);
        d.y[i] = (double)y;
        double sc = 0, sp = 0;
        for (size_t j = 0; j < k; j++) {
            double z = (j == y ? 1.0 : 0.0) + 0.8 * gauss(&seed);
            d.cand[i * k + j] = exp(z);
            d.prod[i * k + j] = exp(z + sd_p * gauss(&seed));
            sc += d.cand[i * k + j];
            sp += d.prod[i * k + j];
        }
        for (size_t j = 0; j < k; j++) {
            d.cand[i * k + j] /= sc;
            d.prod[i * k + j] /= sp;
        }
    }
    return d;
}

static cairn_compare_input input_of(cairn_task task, const data *d, size_t n_boot)
{
    cairn_compare_input in;
    memset(&in, 0, sizeof in);
    in.task = task;
    in.n = d->n;
    in.n_classes = d->k;
    in.y = d->y;
    in.candidate = d->cand;
    in.production = d->prod;
    in.threshold = 0.5;
    in.n_boot = n_boot;
    in.seed = 42;
    return in;
}

static const char *const binary_names[] = {"auc",      "pr_auc",    "logloss", "brier", "ece",
                                           "accuracy", "precision", "recall",  "f1"};
static const char *const regression_names[] = {"rmse", "mae", "r2", "mape", "spearman"};
static const char *const multiclass_names[] = {"accuracy", "macro_f1", "logloss"};

/* ---- tests ---------------------------------------------------------------------------- */

/* Every metric against the oracle, for each task, on the parallel path (threads 3). */
static void test_replay_binary(void **state)
{
    (void)state;
    data d = binary_data(700, 1.0, true, 1);
    cairn_compare_input in = input_of(CAIRN_TASK_BINARY, &d, 120);
    in.threads = 3;
    in.threshold = 0.45;
    cairn_compare_result r;
    memset(&r, 0, sizeof r);
    assert_int_equal(cairn_compare(&in, &r, NULL), CAIRN_OK);
    assert_int_equal(r.n_metrics, 9);
    assert_string_equal(r.primary, "auc");
    for (size_t i = 0; i < 9; i++) {
        assert_string_equal(r.metrics[i].name, binary_names[i]);
        check_metric(&in, &r.metrics[i], NULL, d.n, in.seed);
    }
    cairn_compare_result_reset(&r);
    data_free(&d);
}

static void test_replay_regression(void **state)
{
    (void)state;
    for (int zero = 0; zero < 2; zero++) {
        data d = regression_data(700, 1.5, zero, 2);
        cairn_compare_input in = input_of(CAIRN_TASK_REGRESSION, &d, 120);
        in.threads = 2;
        cairn_compare_result r;
        memset(&r, 0, sizeof r);
        assert_int_equal(cairn_compare(&in, &r, NULL), CAIRN_OK);
        /* As cairn_evaluate: mape only when no label is 0. */
        assert_int_equal(r.n_metrics, zero ? 4 : 5);
        assert_int_equal(cairn_compare_find(&r, "mape") == NULL, zero);
        for (size_t i = 0, j = 0; i < 5; i++) {
            if (zero && i == 3)
                continue;
            assert_string_equal(r.metrics[j].name, regression_names[i]);
            check_metric(&in, &r.metrics[j], NULL, d.n, in.seed);
            j++;
        }
        assert_string_equal(r.primary, "rmse");
        cairn_compare_result_reset(&r);
        data_free(&d);
    }
    /* Tiny samples: some resamples draw one label only, where r2 is undefined (NaN, left
     * out of n_valid) as metrics.c has it, not the quotient of two rounding residues. */
    static const double ys[] = {0.1, 0.7, 1.3, 0.3};   /* 3 x 0.1 / 3 is not 0.1 in double */
    for (size_t n = 2; n <= 4; n++) {
        data d = regression_data(n, 1.5, false, 7 + n);
        memcpy(d.y, ys, n * sizeof *d.y);
        cairn_compare_input in = input_of(CAIRN_TASK_REGRESSION, &d, 300);
        cairn_compare_result r;
        memset(&r, 0, sizeof r);
        assert_int_equal(cairn_compare(&in, &r, NULL), CAIRN_OK);
        const cairn_compare_metric *r2 = cairn_compare_find(&r, "r2");
        assert_non_null(r2);
        assert_true(r2->gain.n_valid < 300);
        for (size_t j = 0; j < r.n_metrics; j++)
            check_metric(&in, &r.metrics[j], NULL, d.n, in.seed);
        cairn_compare_result_reset(&r);
        data_free(&d);
    }
}

static void test_replay_multiclass(void **state)
{
    (void)state;
    data d = multiclass_data(600, 4, 1.0, 3);
    cairn_compare_input in = input_of(CAIRN_TASK_MULTICLASS, &d, 150);
    in.threads = 4;
    cairn_compare_result r;
    memset(&r, 0, sizeof r);
    assert_int_equal(cairn_compare(&in, &r, NULL), CAIRN_OK);
    assert_int_equal(r.n_metrics, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(r.metrics[i].name, multiclass_names[i]);
        check_metric(&in, &r.metrics[i], NULL, d.n, in.seed);
    }
    assert_string_equal(r.primary, "accuracy");
    cairn_compare_result_reset(&r);
    data_free(&d);
}

/* Same model on both sides: every gain is exactly 0, interval [0, 0]. */
static void test_identical(void **state)
{
    (void)state;
    cairn_task tasks[] = {CAIRN_TASK_BINARY, CAIRN_TASK_REGRESSION, CAIRN_TASK_MULTICLASS};
    for (size_t t = 0; t < 3; t++) {
        data d = tasks[t] == CAIRN_TASK_BINARY       ? binary_data(400, 0, false, 4)
                 : tasks[t] == CAIRN_TASK_REGRESSION ? regression_data(400, 0, false, 4)
                                                     : multiclass_data(400, 3, 0, 4);
        size_t nk = d.n * d.k;
        memcpy(d.prod, d.cand, nk * sizeof(double));
        cairn_compare_input in = input_of(tasks[t], &d, 100);
        cairn_compare_result r;
        memset(&r, 0, sizeof r);
        assert_int_equal(cairn_compare(&in, &r, NULL), CAIRN_OK);
        assert_true(r.n_metrics >= 3);
        for (size_t i = 0; i < r.n_metrics; i++) {
            const cairn_compare_metric *m = &r.metrics[i];
            assert_true(m->candidate == m->production);
            assert_true(m->gain.estimate == 0 && m->gain.lo == 0 && m->gain.hi == 0);
            assert_int_equal(m->gain.n_valid, 100);
        }
        cairn_compare_result_reset(&r);
        data_free(&d);
    }
}

/* Production = candidate + noise: the candidate wins and the interval excludes 0. */
static void test_better_and_sign(void **state)
{
    (void)state;
    data d = binary_data(3000, 2.0, false, 5);
    cairn_compare_input in = input_of(CAIRN_TASK_BINARY, &d, 200);
    cairn_compare_result r;
    memset(&r, 0, sizeof r);
    assert_int_equal(cairn_compare(&in, &r, NULL), CAIRN_OK);
    const cairn_compare_metric *auc = cairn_compare_find(&r, "auc");
    const cairn_compare_metric *ll = cairn_compare_find(&r, "logloss");
    assert_non_null(auc);
    assert_non_null(ll);
    assert_true(auc->candidate > auc->production);
    assert_true(auc->gain.estimate > 0 && auc->gain.lo > 0);
    assert_true(auc->gain.lo <= auc->gain.estimate && auc->gain.estimate <= auc->gain.hi);
    assert_true(auc->gain.estimate == auc->candidate - auc->production);
    /* Lower is better: the gain is production - candidate, positive here. */
    assert_true(ll->candidate < ll->production);
    assert_true(ll->gain.estimate == ll->production - ll->candidate);
    assert_true(ll->gain.lo > 0);
    assert_null(cairn_compare_find(&r, "rmse"));
    cairn_compare_result_reset(&r);
    data_free(&d);

    d = regression_data(2000, 3.0, false, 6);
    in = input_of(CAIRN_TASK_REGRESSION, &d, 200);
    assert_int_equal(cairn_compare(&in, &r, NULL), CAIRN_OK);
    const cairn_compare_metric *rmse = cairn_compare_find(&r, "rmse");
    const cairn_compare_metric *r2 = cairn_compare_find(&r, "r2");
    assert_true(rmse->candidate < rmse->production);
    assert_true(rmse->gain.estimate == rmse->production - rmse->candidate);
    assert_true(rmse->gain.lo > 0);
    assert_true(r2->gain.estimate == r2->candidate - r2->production);
    assert_true(r2->gain.lo > 0);
    cairn_compare_result_reset(&r);

    /* Swapping the models negates every gain and swaps the interval. */
    cairn_compare_result s;
    memset(&s, 0, sizeof s);
    in.candidate = d.prod;
    in.production = d.cand;
    assert_int_equal(cairn_compare(&in, &s, NULL), CAIRN_OK);
    in.candidate = d.cand;
    in.production = d.prod;
    assert_int_equal(cairn_compare(&in, &r, NULL), CAIRN_OK);
    for (size_t i = 0; i < r.n_metrics; i++) {
        assert_close(s.metrics[i].gain.estimate, -r.metrics[i].gain.estimate, 0);
        assert_close(s.metrics[i].gain.lo, -r.metrics[i].gain.hi, TOL);
        assert_close(s.metrics[i].gain.hi, -r.metrics[i].gain.lo, TOL);
    }
    cairn_compare_result_reset(&r);
    cairn_compare_result_reset(&s);
    data_free(&d);
}

/*
 * Slices: group "worse" (1000 rows) where production is the better model,
 * group "better" (2000 rows) where the candidate is far better, "tiny" (40
 * rows) where the candidate is worse but too small to call, and "empty"
 * with no rows. The whole improves; only "worse" is a regression.
 */
static void test_slices(void **state)
{
    (void)state;
    size_t n = 3040;
    uint64_t seed = 7;
    data d = {n, 1, malloc(n * sizeof(double)), malloc(n * sizeof(double)),
              malloc(n * sizeof(double))};
    uint32_t *grp = malloc(n * sizeof *grp), *other = malloc(n * sizeof *other);
    const char *names[] = {"better", "empty", "worse", "tiny"};
    const char *halves[] = {"even", "odd"};
    for (size_t i = 0; i < n; i++) {
        /* Interleave the groups so that group rows are not contiguous. */
        uint32_t g = i >= 3000 ? 3 : (i % 3 == 1 ? 2 : 0);
        grp[i] = g;
        other[i] = (uint32_t)(i % 2);
        double y = unif(&seed) < 0.5 ? 1 : 0;
        double z = (y ? 1.0 : -1.0) + gauss(&seed);
        double good = sigmoid(z), bad = sigmoid(z + 3.0 * gauss(&seed));
        d.y[i] = y;
        bool cand_good = g == 0;
        d.cand[i] = cand_good ? good : bad;
        d.prod[i] = cand_good ? bad : good;
    }
    size_t counts[4] = {0};
    for (size_t i = 0; i < n; i++)
        counts[grp[i]]++;
    assert_true(counts[0] > counts[2] && counts[2] == 1000 && counts[3] == 40 && counts[1] == 0);
    cairn_eval_slice_input sl[2] = {{"segment", grp, 4, names}, {"half", other, 2, halves}};
    cairn_compare_input in = input_of(CAIRN_TASK_BINARY, &d, 150);
    in.slices = sl;
    in.n_slices = 2;
    in.small_slice = 100;
    cairn_compare_result r;
    memset(&r, 0, sizeof r);
    assert_int_equal(cairn_compare(&in, &r, NULL), CAIRN_OK);
    assert_true(cairn_compare_find(&r, "auc")->gain.lo > 0);
    assert_int_equal(r.n_slices, 5);
    const char *want[] = {"better", "worse", "tiny", "even", "odd"};
    size_t gid[] = {0, 2, 3, 0, 1};
    for (size_t s = 0; s < 5; s++) {
        const cairn_compare_slice *cs = &r.slices[s];
        size_t c = s < 3 ? 0 : 1;
        assert_string_equal(cs->column, c ? "half" : "segment");
        assert_string_equal(cs->value, want[s]);
        assert_string_equal(cs->metric.name, "auc");
        /* Replay the group's own bootstrap. */
        const uint32_t *ids = c ? other : grp;
        uint32_t *rows = malloc(n * sizeof *rows);
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (ids[i] == gid[s])
                rows[m++] = (uint32_t)i;
        assert_int_equal(cs->n, m);
        check_metric(&in, &cs->metric, rows, m, group_seed(in.seed, c, gid[s]));
        free(rows);
    }
    /* better: a clear gain; worse: regressed; tiny: worse but small, never regressed. */
    assert_true(r.slices[0].metric.gain.lo > 0 && !r.slices[0].regressed && !r.slices[0].small);
    assert_true(r.slices[1].metric.gain.hi < 0 && r.slices[1].regressed && !r.slices[1].small);
    assert_true(r.slices[2].small && !r.slices[2].regressed);
    assert_true(r.slices[2].metric.gain.estimate < 0);
    cairn_compare_result_reset(&r);

    /* Another primary metric: logloss, lower is better. */
    in.primary = "logloss";
    assert_int_equal(cairn_compare(&in, &r, NULL), CAIRN_OK);
    assert_string_equal(r.primary, "logloss");
    assert_string_equal(r.slices[1].metric.name, "logloss");
    assert_true(r.slices[1].metric.candidate > r.slices[1].metric.production);
    assert_true(r.slices[1].regressed);
    cairn_compare_result_reset(&r);
    free(grp);
    free(other);
    data_free(&d);
}

/* Same input, same result; and the same for 1, 2 and 7 threads, bit for bit. */
static void test_determinism(void **state)
{
    (void)state;
    data d = binary_data(2000, 1.0, true, 8);
    uint32_t *grp = malloc(d.n * sizeof *grp);
    for (size_t i = 0; i < d.n; i++)
        grp[i] = (uint32_t)(i % 3);
    const char *names[] = {"a", "b", "c"};
    cairn_eval_slice_input sl = {"g", grp, 3, names};
    cairn_compare_input in = input_of(CAIRN_TASK_BINARY, &d, 64);
    in.slices = &sl;
    in.n_slices = 1;
    cairn_compare_result ref;
    memset(&ref, 0, sizeof ref);
    in.threads = 1;
    assert_int_equal(cairn_compare(&in, &ref, NULL), CAIRN_OK);
    int threads[] = {1, 2, 7, 0};
    for (size_t t = 0; t < CAIRN_ARRAY_LEN(threads); t++) {
        cairn_compare_result r;
        memset(&r, 0, sizeof r);
        in.threads = threads[t];
        assert_int_equal(cairn_compare(&in, &r, NULL), CAIRN_OK);
        assert_int_equal(r.n_metrics, ref.n_metrics);
        for (size_t i = 0; i < r.n_metrics; i++)
            assert_memory_equal(&r.metrics[i], &ref.metrics[i], sizeof r.metrics[i]);
        assert_int_equal(r.n_slices, ref.n_slices);
        for (size_t s = 0; s < r.n_slices; s++) {
            assert_memory_equal(&r.slices[s].metric, &ref.slices[s].metric,
                                sizeof r.slices[s].metric);
            assert_int_equal(r.slices[s].regressed, ref.slices[s].regressed);
        }
        cairn_compare_result_reset(&r);
    }
    /* A different seed moves the interval (the seed is used). */
    cairn_compare_result r;
    memset(&r, 0, sizeof r);
    in.seed = 43;
    assert_int_equal(cairn_compare(&in, &r, NULL), CAIRN_OK);
    assert_true(r.metrics[0].gain.lo != ref.metrics[0].gain.lo ||
                r.metrics[0].gain.hi != ref.metrics[0].gain.hi);
    cairn_compare_result_reset(&r);
    cairn_compare_result_reset(&ref);
    free(grp);
    data_free(&d);
}

/* n_boot 0: lo = hi = estimate; a metric undefined on all rows is NaN throughout. */
static void test_no_boot_and_nan(void **state)
{
    (void)state;
    data d = binary_data(300, 1.0, false, 9);
    cairn_compare_input in = input_of(CAIRN_TASK_BINARY, &d, 0);
    cairn_compare_result r;
    memset(&r, 0, sizeof r);
    assert_int_equal(cairn_compare(&in, &r, NULL), CAIRN_OK);
    for (size_t i = 0; i < r.n_metrics; i++) {
        check_metric(&in, &r.metrics[i], NULL, d.n, in.seed);
        assert_true(r.metrics[i].gain.lo == r.metrics[i].gain.estimate);
        assert_true(r.metrics[i].gain.hi == r.metrics[i].gain.estimate);
        assert_int_equal(r.metrics[i].gain.n_valid, 0);
    }
    cairn_compare_result_reset(&r);

    /* One class only: auc and pr_auc undefined (pr_auc: no positives). */
    for (size_t i = 0; i < d.n; i++)
        d.y[i] = 0;
    in.n_boot = 50;
    assert_int_equal(cairn_compare(&in, &r, NULL), CAIRN_OK);
    const cairn_compare_metric *auc = cairn_compare_find(&r, "auc");
    assert_true(isnan(auc->candidate) && isnan(auc->production) && isnan(auc->gain.estimate));
    assert_true(isnan(auc->gain.lo) && isnan(auc->gain.hi) && auc->gain.n_valid == 0);
    const cairn_compare_metric *ll = cairn_compare_find(&r, "logloss");
    assert_false(isnan(ll->gain.lo));
    assert_int_equal(ll->gain.n_valid, 50);
    for (size_t i = 0; i < r.n_metrics; i++)
        check_metric(&in, &r.metrics[i], NULL, d.n, in.seed);
    cairn_buf b;
    cairn_buf_init(&b);
    cairn_compare_result_to_json(&r, &b);
    char *js = cairn_buf_take(&b);
    cJSON *root = cJSON_Parse(js);
    assert_non_null(root);
    cJSON *a = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "metrics"), "auc");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(a, "gain")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(a, "lo")));
    cJSON_Delete(root);
    cairn_free(js);
    cairn_compare_result_reset(&r);
    data_free(&d);
}

static void test_errors(void **state)
{
    (void)state;
    data d = binary_data(50, 1.0, false, 10);
    uint32_t *grp = calloc(d.n, sizeof *grp);
    const char *names[] = {"x", "y"};
    cairn_eval_slice_input sl = {"g", grp, 2, names};
    cairn_compare_result r, zero;
    memset(&zero, 0, sizeof zero);
    cairn_error err;
    for (int c = 0; c < 8; c++) {
        cairn_compare_input in = input_of(CAIRN_TASK_BINARY, &d, 10);
        double keep_c = d.cand[3], keep_p = d.prod[7], keep_y = d.y[5];
        grp[9] = 0;
        switch (c) {
        case 0: in.n = 0; break;
        case 1: d.cand[3] = NAN; break;
        case 2: d.prod[7] = NAN; break;
        case 3: d.y[5] = 2; break;
        case 4: grp[9] = 2; in.slices = &sl; in.n_slices = 1; break;
        case 5: in.primary = "rmse"; break;
        case 6: in.threshold = NAN; break;
        case 7: in.production = NULL; break;
        }
        memset(&r, 0, sizeof r);
        memset(&err, 0, sizeof err);
        assert_int_equal(cairn_compare(&in, &r, &err), CAIRN_EINVAL);
        assert_int_equal(err.code, CAIRN_EINVAL);
        assert_true(err.msg[0] != '\0');
        assert_memory_equal(&r, &zero, sizeof r);
        d.cand[3] = keep_c;
        d.prod[7] = keep_p;
        d.y[5] = keep_y;
    }
    /* Multiclass: a label out of range, too few classes. */
    data m = multiclass_data(30, 3, 1.0, 11);
    cairn_compare_input in = input_of(CAIRN_TASK_MULTICLASS, &m, 5);
    m.y[4] = 3;
    assert_int_equal(cairn_compare(&in, &r, NULL), CAIRN_EINVAL);
    m.y[4] = 0;
    in.n_classes = 1;
    assert_int_equal(cairn_compare(&in, &r, NULL), CAIRN_EINVAL);
    in.n_classes = 3;
    assert_int_equal(cairn_compare(&in, &r, NULL), CAIRN_OK);
    cairn_compare_result_reset(&r);
    data_free(&m);
    free(grp);
    data_free(&d);
}

static void test_json(void **state)
{
    (void)state;
    data d = binary_data(600, 1.0, false, 12);
    uint32_t *grp = malloc(d.n * sizeof *grp);
    for (size_t i = 0; i < d.n; i++)
        grp[i] = i < 550 ? 0 : 1;
    const char *names[] = {"big \"one\"", "small"};
    cairn_eval_slice_input sl = {"col", grp, 2, names};
    cairn_compare_input in = input_of(CAIRN_TASK_BINARY, &d, 30);
    in.slices = &sl;
    in.n_slices = 1;
    cairn_compare_result r;
    memset(&r, 0, sizeof r);
    assert_int_equal(cairn_compare(&in, &r, NULL), CAIRN_OK);
    cairn_buf b;
    cairn_buf_init(&b);
    cairn_compare_result_to_json(&r, &b);
    char *js = cairn_buf_take(&b);
    cJSON *root = cJSON_Parse(js);
    assert_non_null(root);
    assert_string_equal(cJSON_GetObjectItem(root, "task")->valuestring, "binary");
    assert_int_equal(cJSON_GetObjectItem(root, "n")->valueint, 600);
    assert_string_equal(cJSON_GetObjectItem(root, "primary")->valuestring, "auc");
    cJSON *metrics = cJSON_GetObjectItem(root, "metrics");
    assert_int_equal(cJSON_GetArraySize(metrics), 9);
    size_t i = 0;
    for (cJSON *m = metrics->child; m; m = m->next, i++) {
        assert_string_equal(m->string, r.metrics[i].name);
        assert_true(cJSON_GetObjectItem(m, "candidate")->valuedouble == r.metrics[i].candidate);
        assert_true(cJSON_GetObjectItem(m, "production")->valuedouble == r.metrics[i].production);
        assert_true(cJSON_GetObjectItem(m, "gain")->valuedouble == r.metrics[i].gain.estimate);
        assert_true(cJSON_GetObjectItem(m, "lo")->valuedouble == r.metrics[i].gain.lo);
        assert_true(cJSON_GetObjectItem(m, "hi")->valuedouble == r.metrics[i].gain.hi);
    }
    cJSON *slices = cJSON_GetObjectItem(root, "slices");
    assert_int_equal(cJSON_GetArraySize(slices), 2);
    cJSON *s0 = cJSON_GetArrayItem(slices, 0), *s1 = cJSON_GetArrayItem(slices, 1);
    assert_string_equal(cJSON_GetObjectItem(s0, "column")->valuestring, "col");
    assert_string_equal(cJSON_GetObjectItem(s0, "value")->valuestring, "big \"one\"");
    assert_int_equal(cJSON_GetObjectItem(s0, "n")->valueint, 550);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(s0, "small")));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(s1, "small")));
    assert_string_equal(cJSON_GetObjectItem(s0, "metric")->valuestring, "auc");
    assert_true(cJSON_GetObjectItem(s0, "gain")->valuedouble == r.slices[0].metric.gain.estimate);
    assert_true(cJSON_GetObjectItem(s1, "hi")->valuedouble == r.slices[1].metric.gain.hi);
    assert_true(cJSON_IsBool(cJSON_GetObjectItem(s1, "regressed")));
    cJSON_Delete(root);
    cairn_free(js);
    cairn_compare_result_reset(&r);
    free(grp);
    data_free(&d);
}

/* An independent oracle: scikit-learn's roc_auc_score and log_loss of both sides. */
static void test_sklearn(void **state)
{
    (void)state;
    if (access("/usr/bin/python3", X_OK) != 0 ||
        system("/usr/bin/python3 -c 'import sklearn' >/dev/null 2>&1") != 0) {
        print_message("skipped: /usr/bin/python3 with scikit-learn is unavailable\n");
        skip();
    }
    data d = binary_data(60, 1.0, true, 13);
    cairn_buf cmd;
    cairn_buf_init(&cmd);
    cairn_buf_puts(&cmd, "/usr/bin/python3 -c '"
                         "from sklearn.metrics import roc_auc_score as A, log_loss as L\n"
                         "y=[");
    for (size_t i = 0; i < d.n; i++)
        cairn_buf_printf(&cmd, "%s%d", i ? "," : "", (int)d.y[i]);
    cairn_buf_puts(&cmd, "]\nc=[");
    for (size_t i = 0; i < d.n; i++)
        cairn_buf_printf(&cmd, "%s%.17g", i ? "," : "", d.cand[i]);
    cairn_buf_puts(&cmd, "]\np=[");
    for (size_t i = 0; i < d.n; i++)
        cairn_buf_printf(&cmd, "%s%.17g", i ? "," : "", d.prod[i]);
    cairn_buf_puts(&cmd, "]\nprint(\"%.17g %.17g %.17g %.17g\" % "
                         "(A(y,c), A(y,p), L(y,c,labels=[0,1]), L(y,p,labels=[0,1])))'");
    char *c = cairn_buf_take(&cmd);
    FILE *f = popen(c, "r");
    assert_non_null(f);
    double auc_c, auc_p, ll_c, ll_p;
    int got = fscanf(f, "%lf %lf %lf %lf", &auc_c, &auc_p, &ll_c, &ll_p);
    assert_int_equal(pclose(f), 0);
    assert_int_equal(got, 4);
    cairn_free(c);

    cairn_compare_input in = input_of(CAIRN_TASK_BINARY, &d, 0);
    cairn_compare_result r;
    memset(&r, 0, sizeof r);
    assert_int_equal(cairn_compare(&in, &r, NULL), CAIRN_OK);
    const cairn_compare_metric *auc = cairn_compare_find(&r, "auc");
    const cairn_compare_metric *ll = cairn_compare_find(&r, "logloss");
    assert_close(auc->candidate, auc_c, TOL);
    assert_close(auc->production, auc_p, TOL);
    assert_close(auc->gain.estimate, auc_c - auc_p, TOL);
    assert_close(ll->candidate, ll_c, TOL);
    assert_close(ll->production, ll_p, TOL);
    assert_close(ll->gain.estimate, ll_p - ll_c, TOL);
    cairn_compare_result_reset(&r);
    data_free(&d);
}

/*
 * The brief's size (binary, 100,000 rows, 1,000 resamples, 9 metrics), run
 * only when CAIRN_COMPARE_BENCH is set: it prints its wall time.
 */
static void test_bench(void **state)
{
    (void)state;
    if (!getenv("CAIRN_COMPARE_BENCH"))
        skip();
    data d = binary_data(100000, 1.0, false, 14);
    cairn_compare_input in = input_of(CAIRN_TASK_BINARY, &d, 1000);
    cairn_compare_result r;
    memset(&r, 0, sizeof r);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(cairn_compare(&in, &r, NULL), CAIRN_OK);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    print_message("binary n=100000 n_boot=1000: %.2f s\n",
                  (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9);
    assert_true(r.metrics[0].gain.lo > 0);
    cairn_compare_result_reset(&r);
    data_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replay_binary),   cmocka_unit_test(test_replay_regression),
        cmocka_unit_test(test_replay_multiclass), cmocka_unit_test(test_identical),
        cmocka_unit_test(test_better_and_sign), cmocka_unit_test(test_slices),
        cmocka_unit_test(test_determinism),     cmocka_unit_test(test_no_boot_and_nan),
        cmocka_unit_test(test_errors),          cmocka_unit_test(test_json),
        cmocka_unit_test(test_sklearn),         cmocka_unit_test(test_bench),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
