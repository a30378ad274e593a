/*
 * eval.h -- evaluation metrics, bootstrap confidence intervals and
 * calibration. Pure functions over arrays; no frames, no printing.
 *
 * Conventions: y_true for binary tasks is 0/1 (uint8_t); scores are the
 * predicted probability of class 1 (double). Ties in scores are handled as
 * scikit-learn does (AUC counts a tied pair as one half). A metric that is
 * undefined on its input (AUC with one class only, MAPE with a zero label,
 * an empty input) returns NaN; callers treat NaN as "cannot be computed".
 */
#ifndef CAIRN_EVAL_H
#define CAIRN_EVAL_H

#include "core/core.h"

/* ---- binary ---------------------------------------------------------------- */
double cairn_metric_auc(const double *score, const uint8_t *y, size_t n);
/* Average precision (scikit-learn's average_precision_score, step-wise). */
double cairn_metric_pr_auc(const double *score, const uint8_t *y, size_t n);
/* Mean negative log-likelihood; probabilities clipped to [1e-15, 1 - 1e-15]. */
double cairn_metric_logloss(const double *p, const uint8_t *y, size_t n);
double cairn_metric_brier(const double *p, const uint8_t *y, size_t n);

/* Confusion-matrix metrics at threshold t (predict 1 when p >= t). */
typedef struct cairn_binary_at {
    double threshold;
    double accuracy, precision, recall, f1;   /* precision/recall/f1: 0 when undefined (sklearn's zero_division=0) */
    uint64_t tp, fp, tn, fn;
} cairn_binary_at;
cairn_binary_at cairn_metric_binary_at(const double *p, const uint8_t *y, size_t n, double t);
/* The threshold with the largest F1 over the distinct scores (ties: the smallest threshold). */
double cairn_threshold_max_f1(const double *p, const uint8_t *y, size_t n);

/* Expected calibration error over n_bins equal-width bins of [0,1] (bin i holds
 * p in [i/n_bins, (i+1)/n_bins), the last bin includes 1). Fills the table
 * when non-NULL (arrays of n_bins): count, mean predicted, observed rate. */
double cairn_metric_ece(const double *p, const uint8_t *y, size_t n, size_t n_bins,
                        uint64_t *bin_count, double *bin_mean_p, double *bin_rate);

/* ---- regression -------------------------------------------------------------- */
double cairn_metric_rmse(const double *pred, const double *y, size_t n);
double cairn_metric_mae(const double *pred, const double *y, size_t n);
double cairn_metric_r2(const double *pred, const double *y, size_t n);
/* Mean absolute percentage error as a fraction; NaN when any label is 0. */
double cairn_metric_mape(const double *pred, const double *y, size_t n);
/* Spearman rank correlation (average ranks for ties). */
double cairn_metric_spearman(const double *a, const double *b, size_t n);

/* ---- multiclass ---------------------------------------------------------------- */
/* prob is n x k row-major; y in [0, k). */
double cairn_metric_mc_accuracy(const double *prob, const uint32_t *y, size_t n, size_t k);
double cairn_metric_mc_macro_f1(const double *prob, const uint32_t *y, size_t n, size_t k);
double cairn_metric_mc_logloss(const double *prob, const uint32_t *y, size_t n, size_t k);

/* ---- bootstrap ------------------------------------------------------------------ */
/*
 * A metric over a resample: idx holds n row indices (with repetition) into
 * the caller's arrays, which ctx describes.
 */
typedef double (*cairn_resample_metric)(const void *ctx, const size_t *idx, size_t n);

typedef struct cairn_interval {
    double estimate;   /* the metric on the full sample */
    double lo, hi;     /* percentile bootstrap 95% interval (2.5% and 97.5%) */
    size_t n_valid;    /* resamples where the metric was defined (not NaN) */
} cairn_interval;

/*
 * Percentile bootstrap with n_boot resamples of n rows, seeded (splitmix64 /
 * xoshiro; the same seed gives the same interval on any machine). Resamples
 * where the metric is NaN are skipped. Errors: CAIRN_ENOMEM.
 */
cairn_status cairn_bootstrap(cairn_resample_metric metric, const void *ctx, size_t n,
                             size_t n_boot, uint64_t seed, cairn_interval *out, cairn_error *err);

/*
 * Ready-made resample metrics for cairn_bootstrap. ctx points to one of the
 * two structs below (borrowed; it and its arrays must outlive the call).
 * Each gathers the resampled rows into scratch memory and calls the metric
 * above; a failed scratch allocation yields NaN, which the bootstrap counts
 * as an undefined resample (n_valid reports it).
 */
typedef struct cairn_binary_sample {
    const double *score;   /* predicted probability of class 1 */
    const uint8_t *y;      /* 0/1 labels */
} cairn_binary_sample;

typedef struct cairn_regression_sample {
    const double *pred;
    const double *y;
} cairn_regression_sample;

double cairn_resample_auc(const void *ctx, const size_t *idx, size_t n);      /* cairn_binary_sample */
double cairn_resample_pr_auc(const void *ctx, const size_t *idx, size_t n);   /* cairn_binary_sample */
double cairn_resample_logloss(const void *ctx, const size_t *idx, size_t n);  /* cairn_binary_sample */
double cairn_resample_brier(const void *ctx, const size_t *idx, size_t n);    /* cairn_binary_sample */
double cairn_resample_rmse(const void *ctx, const size_t *idx, size_t n);     /* cairn_regression_sample */
double cairn_resample_mae(const void *ctx, const size_t *idx, size_t n);      /* cairn_regression_sample */
double cairn_resample_r2(const void *ctx, const size_t *idx, size_t n);       /* cairn_regression_sample */

/* The bootstrap draws its resample indices with cairn_rng (core.h):
 * cairn_rng_below(rng, n) per index, seeded by cairn_rng_init(rng, seed). */
/* numpy.percentile(v, q, method='linear') of sorted v[0..m), m > 0, q in [0, 100]. */
double cairn_percentile_sorted(const double *v, size_t m, double q);

#endif /* CAIRN_EVAL_H */
