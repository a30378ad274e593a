/*
 * compare.h -- a candidate model against the production model on the same
 * rows (the candidate run's test part): per metric, the difference with a
 * paired bootstrap interval, and the same per slice group.
 *
 * Paired: each resample draws one set of row indices and computes the metric
 * for both models on those rows, so the interval is that of the difference,
 * much narrower than comparing two separate intervals. Resamples are drawn
 * exactly as cairn_bootstrap draws them (same seed, same rows): one generator
 * cairn_rng_init(rng, seed), then for each resample in turn n indices
 * cairn_rng_below(rng, n). (cairn_evaluate seeds each resample separately,
 * so its resamples are not these.) Resamples where either side's metric is
 * NaN are skipped; gain.n_valid counts the rest. Slice group g of slice
 * column c (0-based, empty groups included in the numbering) is resampled
 * the same way over its own rows in row order, from the seed
 * M(M(M(seed) ^ ((c + 1) << 32 | g))), M(x) being splitmix64's output for a
 * state of x (cairn_splitmix64).
 *
 * Metrics: those cairn_evaluate reports for the task, in the same order and
 * under the same names (regression: mape only when no label is 0). A metric
 * undefined on all the rows has NaN candidate, production and gain, and
 * NaN lo/hi when resampled. With n_boot 0, lo = hi = the gain estimate.
 *
 * Sign convention: "gain" is the improvement of the candidate, positive when
 * the candidate is better: candidate - production for metrics where higher is
 * better (auc, r2, ...), production - candidate where lower is better
 * (logloss, rmse, ece, ...). The gain interval is [lo, hi].
 */
#ifndef CAIRN_REVIEW_COMPARE_H
#define CAIRN_REVIEW_COMPARE_H

#include "eval/eval.h"

typedef struct cairn_compare_metric {
    char name[16];
    double candidate;         /* the metric on all rows; NaN when undefined */
    double production;
    cairn_interval gain;      /* estimate = gain on all rows; lo, hi: 95% paired bootstrap */
} cairn_compare_metric;

typedef struct cairn_compare_slice {
    char *column;             /* owned */
    char *value;              /* owned: the group's display value */
    size_t n;                 /* rows in the group */
    bool small;               /* n < small_slice, or (binary) < 5 rows of a class, as in
                                 eval.h: reported, never called a regression */
    cairn_compare_metric metric;   /* the primary metric on the group */
    bool regressed;           /* not small and gain.hi < 0: worse beyond its interval */
} cairn_compare_slice;

typedef struct cairn_compare_input {
    cairn_task task;
    size_t n;                 /* rows */
    size_t n_classes;         /* multiclass k */
    const double *y;          /* as cairn_eval_input.y */
    const double *candidate;  /* scores, as cairn_eval_input.score */
    const double *production;
    double threshold;         /* binary: for accuracy / precision / recall / f1 */
    size_t n_boot;            /* 0: intervals are [estimate, estimate] */
    uint64_t seed;
    const cairn_eval_slice_input *slices;
    size_t n_slices;
    size_t small_slice;       /* 0: CAIRN_EVAL_SMALL_SLICE */
    const char *primary;      /* the slice metric; NULL: the task's primary (cairn_compare_primary) */
    int threads;              /* 0: all cores; the result never depends on it */
} cairn_compare_input;

typedef struct cairn_compare_result {
    cairn_task task;
    size_t n;
    cairn_compare_metric metrics[CAIRN_EVAL_MAX_METRICS];   /* the task's metrics, in eval.h order */
    size_t n_metrics;
    cairn_compare_slice *slices;    /* owned; by slice column, then group id */
    size_t n_slices;
    char primary[16];
} cairn_compare_result;

/* The task's primary metric: "auc" (binary), "rmse" (regression), "accuracy" (multiclass). */
const char *cairn_compare_primary(cairn_task task);

/*
 * Compares; *out (zeroed or reset by the caller) receives the result.
 * Errors: CAIRN_EINVAL (no rows, NaN scores, labels out of range, a group id
 * out of range, an unknown primary metric), CAIRN_ENOMEM.
 */
cairn_status cairn_compare(const cairn_compare_input *in, cairn_compare_result *out,
                           cairn_error *err);
void cairn_compare_result_reset(cairn_compare_result *r);
const cairn_compare_metric *cairn_compare_find(const cairn_compare_result *r, const char *name);

/*
 * Appends the result as JSON to b:
 *   {"task":"binary","n":N,"primary":"auc",
 *    "metrics":{"auc":{"candidate":C,"production":P,"gain":G,"lo":L,"hi":H},...},
 *    "slices":[{"column":..,"value":..,"n":..,"small":false,"metric":"auc",
 *               "candidate":..,"production":..,"gain":..,"lo":..,"hi":..,"regressed":false},...]}
 * NaN as null.
 */
void cairn_compare_result_to_json(const cairn_compare_result *r, cairn_buf *b);

#endif /* CAIRN_REVIEW_COMPARE_H */
