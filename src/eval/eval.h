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
#include "pipeline/pipeline.h"

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

/* ---- thresholds ------------------------------------------------------------------ */
/*
 * The threshold of least total cost cost_fp * FP + cost_fn * FN over the
 * distinct scores (predict 1 when p >= t), plus "above every score" (predict
 * nothing positive, returned as the next double above the largest score,
 * capped at 1). Ties in cost: the smallest threshold. n == 0: 0.5.
 */
double cairn_threshold_min_cost(const double *p, const uint8_t *y, size_t n, double cost_fp,
                                double cost_fn);

/* ---- a whole evaluation (the training pipeline's evaluate stage) --------------- */
/*
 * cairn_evaluate() computes every metric of the task on the evaluated rows,
 * each with its bootstrap interval, the binary confusion metrics at the
 * given threshold with the calibration table, and the same metrics per slice.
 *
 * Metric names and what they are, per task:
 *   binary      auc, pr_auc, logloss, brier, ece (10 bins), accuracy,
 *               precision, recall, f1 (the last four at the threshold)
 *   regression  rmse, mae, r2, mape (only when no label is 0; else absent),
 *               spearman
 *   multiclass  accuracy, macro_f1, logloss
 * Lower is better for logloss, brier, ece, rmse, mae and mape
 * (cairn_metric_higher_is_better). Every metric has an interval: the
 * percentile bootstrap over n_boot resamples of the rows (estimate only, lo =
 * hi = NaN, when n_boot is 0). All metrics of one evaluation share the same
 * resamples, so their intervals are consistent with each other; the same seed
 * gives the same intervals on any machine and any thread count.
 *
 * Slices: for each slice column, the rows are grouped by the caller's group
 * ids and every metric (with its interval, resampled within the slice) is
 * computed per group. A group with fewer than small_slice rows, or (binary)
 * fewer than 5 rows of either class, is flagged small; its metrics are still
 * computed where defined. Groups with no rows are left out.
 */
#define CAIRN_EVAL_ECE_BINS 10
#define CAIRN_EVAL_SMALL_SLICE 100   /* default small_slice */
#define CAIRN_EVAL_MAX_METRICS 12

bool cairn_metric_higher_is_better(const char *name);

typedef struct cairn_eval_metric {
    char name[16];          /* "auc", ... */
    cairn_interval iv;      /* estimate NaN when undefined on these rows */
} cairn_eval_metric;

typedef struct cairn_eval_slice_input {
    const char *column;             /* the slice column's name (borrowed) */
    const uint32_t *group;          /* per evaluated row: its group id in [0, n_groups) */
    size_t n_groups;
    const char *const *group_names; /* n_groups display values ("basic", "[0, 12)", "null") */
} cairn_eval_slice_input;

typedef struct cairn_eval_slice {
    char *column;           /* owned copies */
    char *value;
    size_t n;               /* rows in the group */
    size_t n_pos;           /* binary: rows with label 1 */
    bool small;
    cairn_eval_metric metrics[CAIRN_EVAL_MAX_METRICS];
    size_t n_metrics;
} cairn_eval_slice;

typedef struct cairn_eval_input {
    cairn_task task;
    size_t n;                       /* evaluated rows */
    size_t n_classes;               /* multiclass: k >= 2 (score is n x k); else ignored */
    const double *score;            /* binary: P(y = 1); regression: prediction; multiclass: n x k */
    const double *y;                /* binary: 0/1; multiclass: class index; regression: value */
    double threshold;               /* binary: predict 1 when score >= threshold */
    size_t n_boot;                  /* bootstrap resamples; 0 = none */
    uint64_t seed;
    const cairn_eval_slice_input *slices;
    size_t n_slices;
    size_t small_slice;             /* 0: CAIRN_EVAL_SMALL_SLICE */
    int threads;                    /* 0: all cores; the result never depends on it */
} cairn_eval_input;

typedef struct cairn_eval_result {
    cairn_task task;
    size_t n;
    size_t n_pos;                   /* binary */
    cairn_eval_metric metrics[CAIRN_EVAL_MAX_METRICS];
    size_t n_metrics;
    cairn_binary_at at;             /* binary: at the input threshold */
    uint64_t ece_count[CAIRN_EVAL_ECE_BINS];     /* binary: the reliability table */
    double ece_mean_p[CAIRN_EVAL_ECE_BINS];
    double ece_rate[CAIRN_EVAL_ECE_BINS];
    cairn_eval_slice *slices;       /* owned, n_slices of them, by slice column then group id */
    size_t n_slices;
} cairn_eval_result;

/*
 * The rows of each group of a slice, for work per group (evaluation, the
 * comparison with production): a counting sort by group id, rows in row order
 * within a group. *rows gets n row indices, *start n_groups + 1 offsets (group
 * g is rows[start[g] .. start[g+1])), *n_used the number of non-empty groups;
 * free both with cairn_free. Errors: CAIRN_ENOMEM.
 */
cairn_status cairn_eval_group_rows(const cairn_eval_slice_input *sl, size_t n, uint32_t **rows,
                                   size_t **start, size_t *n_used, cairn_error *err);
/* The small-slice rule above: fewer than small_slice rows (0: CAIRN_EVAL_SMALL_SLICE)
 * or, for a binary task, fewer than 5 rows of either class. */
bool cairn_eval_slice_small(cairn_task task, size_t n, size_t n_pos, size_t small_slice);

/*
 * Evaluates; *out (zeroed or reset by the caller) receives the result, owned
 * by the caller (cairn_eval_result_reset). Errors: CAIRN_EINVAL (no rows, bad
 * shapes, labels out of range, a group id out of range, NaN scores),
 * CAIRN_ENOMEM.
 */
cairn_status cairn_evaluate(const cairn_eval_input *in, cairn_eval_result *out, cairn_error *err);
void cairn_eval_result_reset(cairn_eval_result *r);
/* The metric's estimate, NaN when the result has no such metric or it is undefined. */
double cairn_eval_get(const cairn_eval_result *r, const char *name);
const cairn_eval_metric *cairn_eval_find(const cairn_eval_result *r, const char *name);
/*
 * Appends the result as JSON to b:
 *   {"task":"binary","n":N,"n_pos":P,
 *    "metrics":{"auc":{"estimate":E,"lo":L,"hi":H,"n_valid":V},...},   (NaN as null)
 *    "threshold":T,"confusion":{"tp":..,"fp":..,"tn":..,"fn":..},       (binary)
 *    "calibration":[{"lo":0,"hi":0.1,"count":C,"mean_p":M,"rate":R},...], (binary)
 *    "slices":[{"column":..,"value":..,"n":..,"n_pos":..,"small":false,"metrics":{...}},...]}
 * Keys in this order; metrics in the order of the table above.
 */
void cairn_eval_result_to_json(const cairn_eval_result *r, cairn_buf *b);

#endif /* CAIRN_EVAL_H */
