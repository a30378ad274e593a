/*
 * bootstrap.c -- percentile bootstrap confidence intervals for any metric,
 * its seeded generator, and ready-made resample adapters for the binary and
 * regression metrics of metrics.c.
 *
 * The method (Efron & Tibshirani 1993, ch. 13): draw n_boot resamples of n
 * row indices uniformly with replacement, evaluate the metric on each, drop
 * the resamples where it is undefined (NaN, e.g. a resample holding one class
 * only for AUC), and report the 2.5th and 97.5th percentiles of the rest,
 * interpolated exactly as numpy.percentile's default 'linear' method does.
 * The index stream comes from xoshiro256** (Blackman & Vigna 2018) seeded by
 * splitmix64, with unbiased rejection sampling, all in fixed-width integer
 * arithmetic, so a seed gives the same interval on every machine. The
 * interval is only as deterministic as the metric: the metrics here are.
 */
#include "eval/eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- percentiles ------------------------------------------------------------ */

/*
 * numpy 1.24's 'linear' method: virtual index (m - 1) * q/100, the two
 * neighbouring order statistics, and numpy's _lerp, which for a weight of at
 * least one half interpolates from the upper value so the result is exact at
 * the ends. Reproducing these steps (not only the formula) keeps us equal to
 * numpy to the last bit.
 */
double cairn_percentile_sorted(const double *v, size_t m, double q)
{
    double virt = (double)(m - 1) * (q / 100.0);
    double prev_d = floor(virt);
    size_t prev = prev_d <= 0 ? 0 : (size_t)prev_d;
    if (prev > m - 1)
        prev = m - 1;
    size_t next = prev + 1 < m ? prev + 1 : m - 1;
    double gamma = virt - prev_d;
    double a = v[prev], b = v[next];
    double diff = b - a;
    if (gamma >= 0.5)
        return b - diff * (1.0 - gamma);
    return a + diff * gamma;
}

static int double_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, z = *(const double *)b;
    return (x > z) - (x < z);
}

/* ---- the bootstrap ------------------------------------------------------------ */

cairn_status cairn_bootstrap(cairn_resample_metric metric, const void *ctx, size_t n,
                             size_t n_boot, uint64_t seed, cairn_interval *out, cairn_error *err)
{
    cairn_status st = CAIRN_OK;
    size_t *idx = NULL;
    double *vals = NULL;
    size_t idx_bytes, vals_bytes;
    if (!metric || !out)
        return cairn_error_set(err, CAIRN_EINVAL, "cairn_bootstrap", "metric and out are required");
    if (!cairn_mul_size(n ? n : 1, sizeof(size_t), &idx_bytes) ||
        !cairn_mul_size(n_boot ? n_boot : 1, sizeof(double), &vals_bytes)) {
        st = cairn_error_set(err, CAIRN_ENOMEM, "cairn_bootstrap",
                             "bootstrap of %zu rows x %zu resamples is too large", n, n_boot);
        goto done;
    }
    idx = cairn_malloc(idx_bytes);
    vals = cairn_malloc(vals_bytes);
    if (!idx || !vals) {
        st = cairn_error_set(err, CAIRN_ENOMEM, "cairn_bootstrap",
                             "cannot allocate a bootstrap of %zu rows x %zu resamples", n, n_boot);
        goto done;
    }
    /* The estimate: the metric on the sample itself, rows in order. */
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    cairn_interval r = {.estimate = metric(ctx, idx, n), .lo = NAN, .hi = NAN, .n_valid = 0};
    if (n > 0) {
        cairn_rng rng;
        cairn_rng_init(&rng, seed);
        for (size_t b = 0; b < n_boot; b++) {
            for (size_t i = 0; i < n; i++)
                idx[i] = (size_t)cairn_rng_below(&rng, (uint64_t)n);
            double v = metric(ctx, idx, n);
            if (!isnan(v))
                vals[r.n_valid++] = v;
        }
    }
    if (r.n_valid > 0) {
        qsort(vals, r.n_valid, sizeof(double), double_cmp);
        r.lo = cairn_percentile_sorted(vals, r.n_valid, 2.5);
        r.hi = cairn_percentile_sorted(vals, r.n_valid, 97.5);
    }
    *out = r;
done:
    cairn_free(idx);
    cairn_free(vals);
    return st;
}

/* ---- resample adapters ------------------------------------------------------------ */

typedef double (*binary_fn)(const double *, const uint8_t *, size_t);
typedef double (*regression_fn)(const double *, const double *, size_t);

/* Gathers the resampled binary rows into scratch arrays and applies fn. */
static double resample_binary(const void *ctx, const size_t *idx, size_t n, binary_fn fn)
{
    const cairn_binary_sample *s = ctx;
    double result = NAN;
    size_t bytes;
    double *score = NULL;
    uint8_t *y = NULL;
    if (!s || n == 0 || !cairn_mul_size(n, sizeof(double), &bytes))
        goto done;
    score = cairn_malloc(bytes);
    y = cairn_malloc(n);
    if (!score || !y)
        goto done;
    for (size_t i = 0; i < n; i++) {
        score[i] = s->score[idx[i]];
        y[i] = s->y[idx[i]];
    }
    result = fn(score, y, n);
done:
    cairn_free(score);
    cairn_free(y);
    return result;
}

static double resample_regression(const void *ctx, const size_t *idx, size_t n, regression_fn fn)
{
    const cairn_regression_sample *s = ctx;
    double result = NAN;
    size_t bytes;
    double *pred = NULL, *y = NULL;
    if (!s || n == 0 || !cairn_mul_size(n, sizeof(double), &bytes))
        goto done;
    pred = cairn_malloc(bytes);
    y = cairn_malloc(bytes);
    if (!pred || !y)
        goto done;
    for (size_t i = 0; i < n; i++) {
        pred[i] = s->pred[idx[i]];
        y[i] = s->y[idx[i]];
    }
    result = fn(pred, y, n);
done:
    cairn_free(pred);
    cairn_free(y);
    return result;
}

double cairn_resample_auc(const void *ctx, const size_t *idx, size_t n)
{
    return resample_binary(ctx, idx, n, cairn_metric_auc);
}

double cairn_resample_pr_auc(const void *ctx, const size_t *idx, size_t n)
{
    return resample_binary(ctx, idx, n, cairn_metric_pr_auc);
}

double cairn_resample_logloss(const void *ctx, const size_t *idx, size_t n)
{
    return resample_binary(ctx, idx, n, cairn_metric_logloss);
}

double cairn_resample_brier(const void *ctx, const size_t *idx, size_t n)
{
    return resample_binary(ctx, idx, n, cairn_metric_brier);
}

double cairn_resample_rmse(const void *ctx, const size_t *idx, size_t n)
{
    return resample_regression(ctx, idx, n, cairn_metric_rmse);
}

double cairn_resample_mae(const void *ctx, const size_t *idx, size_t n)
{
    return resample_regression(ctx, idx, n, cairn_metric_mae);
}

double cairn_resample_r2(const void *ctx, const size_t *idx, size_t n)
{
    return resample_regression(ctx, idx, n, cairn_metric_r2);
}
