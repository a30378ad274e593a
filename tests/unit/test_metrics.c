/*
 * test_metrics.c -- the evaluation metrics and the bootstrap (src/eval).
 *
 * Small cases are computed by hand in the comments next to them (ties,
 * all-equal scores, one class, perfect and inverted scores, a zero label for
 * MAPE, empty input, clipping in log loss, the ECE bin table, argmax ties).
 * On random data with many ties the sort-based metrics are compared with
 * O(n^2) brute-force definitions written here (pair counting for AUC,
 * precision at each positive for average precision, every distinct threshold
 * for max-F1, rank by counting for Spearman). The bootstrap is checked for
 * determinism per seed, for an interval that contains the estimate on
 * reasonable data, for skipping NaN resamples (counted independently), for
 * the numpy percentile rule, and for ENOMEM on every allocation failure. The
 * sklearn comparison lives in tests/oracle/test_metrics_sklearn.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "eval/eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define EPS 1e-12

/* cmocka's assert_float_equal works in float; this one in double. Exact
 * (tol 0) also accepts equal infinities. */
#define assert_double_equal(a, b, tol) check_close((a), (b), (tol), #a, __FILE__, __LINE__)

static void check_close(double got, double want, double tol, const char *expr, const char *file,
                        int line)
{
    if (got == want || fabs(got - want) <= tol)
        return;
    print_error("%s = %.17g, expected %.17g (tolerance %g)\n", expr, got, want, tol);
    _fail(file, line);
}

/* A test-local generator (independent of the one under test). */
static uint64_t lcg_next(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 33;
}

/* Random scores rounded to 1/steps (many ties) and labels with P(1) = prev. */
static void random_binary(uint64_t seed, size_t n, unsigned steps, unsigned prev_pct, double *s,
                          uint8_t *y)
{
    uint64_t st = seed;
    for (size_t i = 0; i < n; i++) {
        y[i] = (uint8_t)(lcg_next(&st) % 100 < prev_pct);
        unsigned k = (unsigned)(lcg_next(&st) % (steps + 1));
        /* Positives lean high so AUC is away from 0.5. */
        if (y[i] && k < steps / 2 && lcg_next(&st) % 2)
            k += steps / 2;
        s[i] = (double)k / steps;
    }
}

/* ---- AUC ---------------------------------------------------------------------- */

static void test_auc_hand(void **state)
{
    (void)state;
    /* Pairs (pos, neg): 0.35>0.1 yes, 0.35>0.4 no, 0.8>0.1, 0.8>0.4 yes: 3/4. */
    const double s[] = {0.1, 0.4, 0.35, 0.8};
    const uint8_t y[] = {0, 0, 1, 1};
    assert_double_equal(cairn_metric_auc(s, y, 4), 0.75, EPS);
    /* Ties: positives at 0.5, 0.5; negatives at 0.5, 0.9. Each positive ties
     * one negative (1/2) and loses to the other: (0.5 + 0.5) / 4 = 0.25. */
    const double t[] = {0.5, 0.5, 0.5, 0.9};
    const uint8_t ty[] = {0, 1, 1, 0};
    assert_double_equal(cairn_metric_auc(t, ty, 4), 0.25, EPS);
    /* All-equal scores: every pair tied. */
    const double e[] = {0.3, 0.3, 0.3, 0.3, 0.3};
    const uint8_t ey[] = {1, 0, 0, 1, 0};
    assert_double_equal(cairn_metric_auc(e, ey, 5), 0.5, EPS);
    /* Perfect and inverted. */
    const double p[] = {0.9, 0.2, 0.8, 0.1};
    const uint8_t py[] = {1, 0, 1, 0};
    const uint8_t iy[] = {0, 1, 0, 1};
    assert_double_equal(cairn_metric_auc(p, py, 4), 1.0, 0);
    assert_double_equal(cairn_metric_auc(p, iy, 4), 0.0, 0);
    /* Undefined: one class, empty, a NaN score. */
    const uint8_t ones[] = {1, 1, 1, 1};
    assert_true(isnan(cairn_metric_auc(p, ones, 4)));
    assert_true(isnan(cairn_metric_auc(p, py, 0)));
    const double withnan[] = {0.1, NAN, 0.3, 0.4};
    assert_true(isnan(cairn_metric_auc(withnan, py, 4)));
}

static void test_auc_brute_force(void **state)
{
    (void)state;
    enum { N = 400 };
    double s[N];
    uint8_t y[N];
    for (uint64_t seed = 1; seed <= 6; seed++) {
        size_t n = (size_t)(seed * 61 % N) + 3;
        random_binary(seed, n, seed % 2 ? 10 : 100, (unsigned)(10 + seed * 13), s, y);
        double good = 0, pairs = 0;
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < n; j++)
                if (y[i] && !y[j]) {
                    pairs++;
                    good += s[i] > s[j] ? 1.0 : (s[i] == s[j] ? 0.5 : 0.0);
                }
        double want = pairs > 0 ? good / pairs : NAN;
        double got = cairn_metric_auc(s, y, n);
        if (isnan(want))
            assert_true(isnan(got));
        else
            assert_double_equal(got, want, EPS);
    }
}

/* ---- average precision ------------------------------------------------------------ */

static void test_pr_auc(void **state)
{
    (void)state;
    /* Thresholds 0.8 (P=1, R=1/2), 0.4 (no recall gain), 0.35 (P=2/3, R=1):
     * AP = 1/2 * 1 + 1/2 * 2/3 = 5/6. */
    const double s[] = {0.8, 0.4, 0.35, 0.1};
    const uint8_t y[] = {1, 0, 1, 0};
    assert_double_equal(cairn_metric_pr_auc(s, y, 4), 5.0 / 6.0, EPS);
    const uint8_t none[] = {0, 0, 0, 0};
    const uint8_t all[] = {1, 1, 1, 1};
    assert_true(isnan(cairn_metric_pr_auc(s, none, 4)));
    assert_double_equal(cairn_metric_pr_auc(s, all, 4), 1.0, EPS);
    assert_true(isnan(cairn_metric_pr_auc(s, y, 0)));

    /* Brute force: AP is the mean over positives of the precision at the
     * threshold equal to that positive's score (rows >= it predicted 1). */
    enum { N = 300 };
    double r[N];
    uint8_t ry[N];
    for (uint64_t seed = 11; seed <= 15; seed++) {
        size_t n = (size_t)(seed * 37 % N) + 2;
        random_binary(seed, n, 20, 30, r, ry);
        double sum = 0;
        size_t npos = 0;
        for (size_t i = 0; i < n; i++) {
            if (!ry[i])
                continue;
            size_t above = 0, tp = 0;
            for (size_t j = 0; j < n; j++)
                if (r[j] >= r[i]) {
                    above++;
                    tp += ry[j];
                }
            sum += (double)tp / (double)above;
            npos++;
        }
        double got = cairn_metric_pr_auc(r, ry, n);
        if (npos == 0)
            assert_true(isnan(got));
        else
            assert_double_equal(got, sum / (double)npos, 1e-12);
    }
}

/* ---- log loss, Brier ------------------------------------------------------------------ */

static void test_logloss_brier(void **state)
{
    (void)state;
    const double p[] = {0.9, 0.2};
    const uint8_t y[] = {1, 0};
    assert_double_equal(cairn_metric_logloss(p, y, 2), -(log(0.9) + log(0.8)) / 2, EPS);
    /* (0.1^2 + 0.2^2) / 2 = 0.025 */
    assert_double_equal(cairn_metric_brier(p, y, 2), 0.025, EPS);
    /* Clipping: a confident miss costs -log(1e-15), a confident hit ~0. */
    const double z[] = {0.0};
    const uint8_t one[] = {1};
    assert_double_equal(cairn_metric_logloss(z, one, 1), -log(1e-15), 1e-9);
    const double o[] = {1.0};
    assert_double_equal(cairn_metric_logloss(o, one, 1), 0.0, 1e-14);
    /* One class is fine for both; empty is not. */
    assert_double_equal(cairn_metric_brier(o, one, 1), 0.0, 0);
    assert_true(isnan(cairn_metric_logloss(p, y, 0)));
    assert_true(isnan(cairn_metric_brier(p, y, 0)));
}

/* ---- confusion metrics, max-F1 threshold ------------------------------------------------- */

static void test_binary_at(void **state)
{
    (void)state;
    const double p[] = {0.1, 0.5, 0.5, 0.7, 0.9, 0.3};
    const uint8_t y[] = {0, 1, 0, 1, 0, 1};
    /* t = 0.5 predicts 1 for {0.5, 0.5, 0.7, 0.9} (>= is inclusive):
     * tp = 2 (0.5, 0.7), fp = 2 (0.5, 0.9), fn = 1 (0.3), tn = 1 (0.1). */
    cairn_binary_at r = cairn_metric_binary_at(p, y, 6, 0.5);
    assert_int_equal(r.tp, 2);
    assert_int_equal(r.fp, 2);
    assert_int_equal(r.fn, 1);
    assert_int_equal(r.tn, 1);
    assert_double_equal(r.threshold, 0.5, 0);
    assert_double_equal(r.accuracy, 3.0 / 6, EPS);
    assert_double_equal(r.precision, 2.0 / 4, EPS);
    assert_double_equal(r.recall, 2.0 / 3, EPS);
    assert_double_equal(r.f1, 2 * 0.5 * (2.0 / 3) / (0.5 + 2.0 / 3), EPS);
    /* Nothing predicted positive: precision and F1 are 0, not NaN. */
    r = cairn_metric_binary_at(p, y, 6, 0.95);
    assert_int_equal(r.tp + r.fp, 0);
    assert_double_equal(r.precision, 0, 0);
    assert_double_equal(r.f1, 0, 0);
    assert_double_equal(r.accuracy, 0.5, EPS);
    /* No positives at all: recall is 0. */
    const uint8_t none[] = {0, 0, 0, 0, 0, 0};
    r = cairn_metric_binary_at(p, none, 6, 0.5);
    assert_double_equal(r.recall, 0, 0);
    /* Empty: accuracy undefined. */
    r = cairn_metric_binary_at(p, y, 0, 0.5);
    assert_true(isnan(r.accuracy));
    assert_int_equal(r.tp + r.fp + r.tn + r.fn, 0);
}

static void test_max_f1(void **state)
{
    (void)state;
    /* P = 3. F1 at each score from the top: 2/4, 2/5, 4/6, 4/7, 4/8, 6/9.
     * 4/6 and 6/9 tie as the maximum: the smaller threshold (0.4) wins. */
    const double p[] = {0.9, 0.8, 0.7, 0.6, 0.5, 0.4};
    const uint8_t y[] = {1, 0, 1, 0, 0, 1};
    assert_double_equal(cairn_threshold_max_f1(p, y, 6), 0.4, 0);
    const uint8_t none[] = {0, 0, 0, 0, 0, 0};
    assert_true(isnan(cairn_threshold_max_f1(p, none, 6)));
    assert_true(isnan(cairn_threshold_max_f1(p, y, 0)));

    /* Brute force with cairn_metric_binary_at at every distinct score, exact
     * comparison of F1 as the fraction 2tp / (2tp + fp + fn). */
    enum { N = 200 };
    double s[N];
    uint8_t ys[N];
    for (uint64_t seed = 21; seed <= 26; seed++) {
        size_t n = (size_t)(seed * 17 % N) + 1;
        random_binary(seed, n, 10, 35, s, ys);
        double best_t = NAN;
        uint64_t bn = 0, bd = 1; /* best F1 = bn / bd, start below any F1 */
        bool any = false;
        for (size_t i = 0; i < n; i++) {
            cairn_binary_at r = cairn_metric_binary_at(s, ys, n, s[i]);
            uint64_t num = 2 * r.tp, den = 2 * r.tp + r.fp + r.fn;
            if (r.tp + r.fn == 0)
                continue;
            /* num/den > bn/bd, or equal and a smaller threshold. */
            bool better = !any || num * bd > bn * den || (num * bd == bn * den && s[i] < best_t);
            if (better) {
                bn = num;
                bd = den;
                best_t = s[i];
                any = true;
            }
        }
        double got = cairn_threshold_max_f1(s, ys, n);
        if (!any)
            assert_true(isnan(got));
        else
            assert_double_equal(got, best_t, 0);
    }
}

/* ---- ECE --------------------------------------------------------------------------------- */

static void test_ece(void **state)
{
    (void)state;
    /* Bins: 0 {0.05: y 0}, 1 {0.15: y 1}, 9 {0.95, 1.0: y 1, 1}.
     * ECE = 1/4 * 0.05 + 1/4 * 0.85 + 2/4 * |0.975 - 1| = 0.2375. */
    const double p[] = {0.05, 0.15, 0.95, 1.0};
    const uint8_t y[] = {0, 1, 1, 1};
    uint64_t cnt[10];
    double mp[10], rate[10];
    assert_double_equal(cairn_metric_ece(p, y, 4, 10, cnt, mp, rate), 0.2375, EPS);
    assert_int_equal(cnt[0], 1);
    assert_int_equal(cnt[1], 1);
    assert_int_equal(cnt[9], 2);
    assert_double_equal(mp[9], 0.975, EPS);
    assert_double_equal(rate[9], 1.0, 0);
    for (int b = 2; b < 9; b++) {
        assert_int_equal(cnt[b], 0);
        assert_true(isnan(mp[b]) && isnan(rate[b]));
    }
    /* Edges: 0.1 belongs to bin 1 (left-closed), 0 to bin 0. One row per bin,
     * gaps |0.1 - 0|, |0 - 1|, |0.2 - 1|, |0.3 - 1|. */
    const double e[] = {0.1, 0.0, 0.2, 0.30000000000000004};
    assert_double_equal(cairn_metric_ece(e, y, 4, 10, cnt, NULL, NULL),
                        (0.1 + 1.0 + 0.8 + 0.7) / 4, EPS);
    assert_int_equal(cnt[0], 1);
    assert_int_equal(cnt[1], 1);
    assert_int_equal(cnt[2], 1);
    assert_int_equal(cnt[3], 1);
    /* Perfect calibration in one bin gives 0; empty input and no bins NaN. */
    const double half[] = {0.5, 0.5};
    const uint8_t hy[] = {0, 1};
    assert_double_equal(cairn_metric_ece(half, hy, 2, 10, NULL, NULL, NULL), 0.0, 0);
    assert_true(isnan(cairn_metric_ece(p, y, 0, 10, NULL, NULL, NULL)));
    assert_true(isnan(cairn_metric_ece(p, y, 4, 0, NULL, NULL, NULL)));
}

/* ---- regression ----------------------------------------------------------------------------- */

static void test_regression(void **state)
{
    (void)state;
    const double pred[] = {1, 2, 3};
    const double y[] = {2, 3, 5};
    /* errors 1, 1, 2: MSE 2, MAE 4/3; mean y 10/3, SS_tot = 14/3, SS_res 6. */
    assert_double_equal(cairn_metric_rmse(pred, y, 3), sqrt(2.0), EPS);
    assert_double_equal(cairn_metric_mae(pred, y, 3), 4.0 / 3, EPS);
    assert_double_equal(cairn_metric_r2(pred, y, 3), 1 - 6 / (14.0 / 3), EPS);
    /* MAPE = (1/2 + 1/3 + 2/5) / 3 as a fraction. */
    assert_double_equal(cairn_metric_mape(pred, y, 3), (0.5 + 1.0 / 3 + 0.4) / 3, EPS);
    const double yz[] = {2, 0, 5};
    assert_true(isnan(cairn_metric_mape(pred, yz, 3)));
    const double yc[] = {4, 4, 4};
    assert_true(isnan(cairn_metric_r2(pred, yc, 3)));
    assert_true(isnan(cairn_metric_r2(yc, yc, 3)));
    assert_true(isnan(cairn_metric_r2(pred, y, 1)));
    assert_double_equal(cairn_metric_r2(y, y, 3), 1.0, 0);
    assert_true(isnan(cairn_metric_rmse(pred, y, 0)));
    assert_true(isnan(cairn_metric_mae(pred, y, 0)));
    assert_true(isnan(cairn_metric_mape(pred, y, 0)));
}

/* Average rank by counting: 1 + #(smaller) + (#(equal) - 1) / 2. */
static double rank_by_count(const double *x, size_t n, size_t i)
{
    double less = 0, eq = 0;
    for (size_t j = 0; j < n; j++) {
        less += x[j] < x[i];
        eq += x[j] == x[i];
    }
    return 1 + less + (eq - 1) / 2;
}

static void test_spearman(void **state)
{
    (void)state;
    const double a[] = {1, 2, 3, 4, 5};
    const double up[] = {10, 20, 25, 100, 1000};
    const double down[] = {5, 4, 3, 2, 1};
    const double flat[] = {7, 7, 7, 7, 7};
    assert_double_equal(cairn_metric_spearman(a, up, 5), 1.0, 0);
    assert_double_equal(cairn_metric_spearman(a, down, 5), -1.0, 0);
    assert_true(isnan(cairn_metric_spearman(a, flat, 5)));
    assert_true(isnan(cairn_metric_spearman(a, up, 1)));

    /* Ties against Pearson on ranks computed by counting. */
    enum { N = 150 };
    double x[N], z[N], rx[N], rz[N];
    uint64_t st = 99;
    for (size_t n = 2; n <= N; n += 37) {
        for (size_t i = 0; i < n; i++) {
            x[i] = (double)(lcg_next(&st) % 7);
            z[i] = x[i] + (double)(lcg_next(&st) % 5);
        }
        double mx = 0, mz = 0;
        for (size_t i = 0; i < n; i++) {
            rx[i] = rank_by_count(x, n, i);
            rz[i] = rank_by_count(z, n, i);
            mx += rx[i];
            mz += rz[i];
        }
        mx /= (double)n;
        mz /= (double)n;
        double sxz = 0, sxx = 0, szz = 0;
        for (size_t i = 0; i < n; i++) {
            sxz += (rx[i] - mx) * (rz[i] - mz);
            sxx += (rx[i] - mx) * (rx[i] - mx);
            szz += (rz[i] - mz) * (rz[i] - mz);
        }
        double got = cairn_metric_spearman(x, z, n);
        if (sxx == 0 || szz == 0)
            assert_true(isnan(got));
        else
            assert_double_equal(got, sxz / sqrt(sxx * szz), 1e-12);
    }
}

/* ---- multiclass ------------------------------------------------------------------------------ */

static void test_multiclass(void **state)
{
    (void)state;
    /* Row argmax: 1, 0 (tie 0/2 -> lowest), 2, 2. y: 1, 2, 2, 0. */
    const double p[] = {0.2, 0.5, 0.3, /**/ 0.4, 0.2, 0.4, /**/ 0.1, 0.1, 0.8, /**/ 0.3, 0.3, 0.4};
    const uint32_t y[] = {1, 2, 2, 0};
    assert_double_equal(cairn_metric_mc_accuracy(p, y, 4, 3), 0.5, EPS);
    /* class 0: tp 0 fp 1 fn 1 -> 0; class 1: tp 1 -> 1; class 2: tp 1 fp 1
     * fn 1 -> 2/4. Macro = (0 + 1 + 0.5) / 3. */
    assert_double_equal(cairn_metric_mc_macro_f1(p, y, 4, 3), 0.5, EPS);
    /* Rows sum to 1 here: -mean(log 0.5, log 0.4, log 0.8, log 0.3). */
    assert_double_equal(cairn_metric_mc_logloss(p, y, 4, 3),
                        -(log(0.5) + log(0.4) + log(0.8) + log(0.3)) / 4, EPS);
    /* A class never true nor predicted counts as F1 0 in the macro mean. */
    const double q[] = {0.9, 0.1, 0, 0, /**/ 0.1, 0.9, 0, 0};
    const uint32_t qy[] = {0, 1};
    assert_double_equal(cairn_metric_mc_macro_f1(q, qy, 2, 4), 0.5, EPS);
    /* Renormalisation after clipping: row {0.2, 0.2, 0.6} * 2 sums to 2. */
    const double r[] = {0.4, 0.4, 1.2};
    const uint32_t ry[] = {2};
    double clipped = 1.0 - 1e-15;
    assert_double_equal(cairn_metric_mc_logloss(r, ry, 1, 3), -log(clipped / (0.8 + clipped)),
                        1e-12);
    /* Out-of-range label, k < 2 log loss, empty input: NaN. */
    const uint32_t bad[] = {1, 3, 2, 0};
    assert_true(isnan(cairn_metric_mc_accuracy(p, bad, 4, 3)));
    assert_true(isnan(cairn_metric_mc_logloss(p, y, 4, 1)));
    assert_true(isnan(cairn_metric_mc_macro_f1(p, y, 0, 3)));
}

/* ---- bootstrap ------------------------------------------------------------------------------ */

static void test_percentile_rng(void **state)
{
    (void)state;
    /* numpy.percentile([1, 2, 3, 4], [2.5, 97.5]) == [1.075, 3.925]. */
    const double v[] = {1, 2, 3, 4};
    assert_double_equal(cairn_percentile_sorted(v, 4, 2.5), 1.075, EPS);
    assert_double_equal(cairn_percentile_sorted(v, 4, 97.5), 3.925, EPS);
    assert_double_equal(cairn_percentile_sorted(v, 4, 0), 1, 0);
    assert_double_equal(cairn_percentile_sorted(v, 4, 100), 4, 0);
    assert_double_equal(cairn_percentile_sorted(v, 1, 97.5), 1, 0);

    /* xoshiro256** seeded from splitmix64(0): the first splitmix64 output of
     * seed 0 is the published 0xe220a8397b1dcdaf, which is s[0]. */
    cairn_rng g;
    cairn_rng_init(&g, 0);
    assert_true(g.s[0] == 0xe220a8397b1dcdafULL);
    /* Rough uniformity of below(): 6 buckets, 60000 draws, each within 5%. */
    uint64_t count[6] = {0};
    for (int i = 0; i < 60000; i++)
        count[cairn_rng_below(&g, 6)]++;
    for (int i = 0; i < 6; i++)
        assert_true(count[i] > 9500 && count[i] < 10500);
    assert_int_equal(cairn_rng_below(&g, 1), 0);
}

/* Mean of x over the resample; NaN when the resample's first row is odd,
 * counting the defined results so n_valid can be checked. */
typedef struct mean_ctx {
    const double *x;
    size_t *defined;
    bool nan_on_odd;
} mean_ctx;

static double mean_metric(const void *ctx, const size_t *idx, size_t n)
{
    const mean_ctx *c = ctx;
    if (n == 0 || (c->nan_on_odd && idx[0] % 2))
        return NAN;
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += c->x[idx[i]];
    (*c->defined)++;
    return s / (double)n;
}

static void test_bootstrap(void **state)
{
    (void)state;
    enum { N = 200 };
    double s[N];
    uint8_t y[N];
    random_binary(5, N, 50, 40, s, y);
    cairn_binary_sample bs = {.score = s, .y = y};
    cairn_interval a, b, c;
    cairn_error err = {0};
    assert_int_equal(cairn_bootstrap(cairn_resample_auc, &bs, N, 300, 42, &a, &err), CAIRN_OK);
    assert_int_equal(cairn_bootstrap(cairn_resample_auc, &bs, N, 300, 42, &b, &err), CAIRN_OK);
    assert_int_equal(cairn_bootstrap(cairn_resample_auc, &bs, N, 300, 43, &c, &err), CAIRN_OK);
    /* Same seed, same bits; another seed, another interval. */
    assert_memory_equal(&a, &b, sizeof a);
    assert_true(a.lo != c.lo || a.hi != c.hi);
    assert_double_equal(a.estimate, cairn_metric_auc(s, y, N), 0);
    assert_true(a.lo < a.estimate && a.estimate < a.hi);
    assert_true(a.hi - a.lo < 0.3);
    assert_int_equal(a.n_valid, 300);

    /* Regression adapters: the estimate is the plain metric. */
    double pred[N], lab[N];
    for (size_t i = 0; i < N; i++) {
        lab[i] = (double)i;
        pred[i] = (double)i + (i % 3 ? 1.5 : -2.0);
    }
    cairn_regression_sample rs = {.pred = pred, .y = lab};
    cairn_resample_metric fns[] = {cairn_resample_rmse, cairn_resample_mae, cairn_resample_r2};
    double (*plain[])(const double *, const double *, size_t) = {
        cairn_metric_rmse, cairn_metric_mae, cairn_metric_r2};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(cairn_bootstrap(fns[i], &rs, N, 50, 1, &c, &err), CAIRN_OK);
        assert_double_equal(c.estimate, plain[i](pred, lab, N), 0);
        assert_true(c.lo <= c.estimate && c.estimate <= c.hi);
    }
    cairn_resample_metric bfns[] = {cairn_resample_pr_auc, cairn_resample_logloss,
                                    cairn_resample_brier};
    double (*bplain[])(const double *, const uint8_t *, size_t) = {
        cairn_metric_pr_auc, cairn_metric_logloss, cairn_metric_brier};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(cairn_bootstrap(bfns[i], &bs, N, 50, 1, &c, &err), CAIRN_OK);
        assert_double_equal(c.estimate, bplain[i](s, y, N), 0);
        assert_true(c.lo <= c.estimate && c.estimate <= c.hi);
    }
}

static void test_bootstrap_nan_skip(void **state)
{
    (void)state;
    double x[50];
    for (int i = 0; i < 50; i++)
        x[i] = (double)(i % 10);
    size_t defined = 0;
    mean_ctx ctx = {.x = x, .defined = &defined, .nan_on_odd = true};
    cairn_interval iv;
    assert_int_equal(cairn_bootstrap(mean_metric, &ctx, 50, 400, 9, &iv, NULL), CAIRN_OK);
    /* The estimate's own call starts at row 0 (even) and counts too. */
    assert_int_equal(iv.n_valid + 1, defined);
    assert_true(iv.n_valid > 100 && iv.n_valid < 300);
    assert_false(isnan(iv.lo) || isnan(iv.hi));
    assert_true(iv.lo <= 4.5 && 4.5 <= iv.hi);

    /* Every resample NaN: interval NaN, n_valid 0. n = 0: same. */
    const uint8_t ones[] = {1, 1, 1};
    const double sc[] = {0.1, 0.2, 0.3};
    cairn_binary_sample bs = {.score = sc, .y = ones};
    assert_int_equal(cairn_bootstrap(cairn_resample_auc, &bs, 3, 20, 1, &iv, NULL), CAIRN_OK);
    assert_int_equal(iv.n_valid, 0);
    assert_true(isnan(iv.lo) && isnan(iv.hi) && isnan(iv.estimate));
    assert_int_equal(cairn_bootstrap(cairn_resample_auc, &bs, 0, 20, 1, &iv, NULL), CAIRN_OK);
    assert_int_equal(iv.n_valid, 0);
    assert_true(isnan(iv.lo));

    cairn_error err = {0};
    assert_int_equal(cairn_bootstrap(NULL, &bs, 3, 20, 1, &iv, &err), CAIRN_EINVAL);
    assert_int_equal(err.code, CAIRN_EINVAL);
}

static void test_bootstrap_enomem(void **state)
{
    (void)state;
    double x[20];
    for (int i = 0; i < 20; i++)
        x[i] = i;
    size_t defined = 0;
    mean_ctx ctx = {.x = x, .defined = &defined, .nan_on_odd = false};
    /* The bootstrap makes two allocations; failing either gives ENOMEM and
     * leaves out untouched. */
    for (long k = 1; k <= 2; k++) {
        cairn_interval iv = {.estimate = 123, .lo = 1, .hi = 2, .n_valid = 7};
        cairn_error err = {0};
        cairn_alloc_fail_after(k, false);
        cairn_status st = cairn_bootstrap(mean_metric, &ctx, 20, 10, 1, &iv, &err);
        cairn_alloc_fail_after(0, false);
        assert_int_equal(st, CAIRN_ENOMEM);
        assert_int_equal(err.code, CAIRN_ENOMEM);
        assert_double_equal(iv.estimate, 123, 0);
        assert_int_equal(iv.n_valid, 7);
    }
    cairn_interval iv;
    cairn_alloc_fail_after(3, false);
    assert_int_equal(cairn_bootstrap(mean_metric, &ctx, 20, 10, 1, &iv, NULL), CAIRN_OK);
    cairn_alloc_fail_after(0, false);
    /* Sort-based metrics report a failed scratch allocation as NaN. */
    const double s[] = {0.1, 0.9};
    const uint8_t y[] = {0, 1};
    cairn_alloc_fail_after(1, false);
    double auc = cairn_metric_auc(s, y, 2);
    cairn_alloc_fail_after(0, false);
    assert_true(isnan(auc));
    assert_double_equal(cairn_metric_auc(s, y, 2), 1.0, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auc_hand),
        cmocka_unit_test(test_auc_brute_force),
        cmocka_unit_test(test_pr_auc),
        cmocka_unit_test(test_logloss_brier),
        cmocka_unit_test(test_binary_at),
        cmocka_unit_test(test_max_f1),
        cmocka_unit_test(test_ece),
        cmocka_unit_test(test_regression),
        cmocka_unit_test(test_spearman),
        cmocka_unit_test(test_multiclass),
        cmocka_unit_test(test_percentile_rng),
        cmocka_unit_test(test_bootstrap),
        cmocka_unit_test(test_bootstrap_nan_skip),
        cmocka_unit_test(test_bootstrap_enomem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
