/*
 * resample.h -- the weighted-resample engine behind the bootstrap intervals
 * of cairn_evaluate (evaluate.c) and cairn_compare (review/compare.c): every
 * metric of the task on one resample of a sample, without gathering or
 * re-sorting the resampled rows.
 *
 * A sample of m rows is prepared once: each model's scores (a "side") are
 * sorted (descending score for binary, ascending prediction for regression),
 * the labels of a regression sample are sorted once for all its sides, and
 * every per-row term of a metric (log loss by metrics.c's steps, squared and
 * absolute errors) is computed once. A resample is then given as per-row
 * counts (cnt[l]: how often row l was drawn), and each metric is a weighted
 * pass over the prepared rows. A row drawn w times adds what w copies of it
 * add to the metric of the gathered rows; counts are exact integers, so the
 * values differ from metrics.c's on the gathered rows only in the order of
 * floating-point additions: sums run in double over blocks of SUM_BLOCK rows
 * (1,024), the blocks added up in long double.
 *
 * How resamples are drawn is the caller's: cairn_evaluate seeds each
 * resample separately, cairn_compare draws one sequential stream for both
 * models (docs/metrics.md and compare.h state the rules). So are threads,
 * slices and the results. Both share cairn_rs_draw_counts, which draws
 * exactly what cairn_rng_below draws.
 *
 * Internal to libcairn (the prefix rs is for resample); not part of the
 * public API.
 */
#ifndef CAIRN_EVAL_RESAMPLE_H
#define CAIRN_EVAL_RESAMPLE_H

#include "eval/eval.h"

/* The most metrics of a task (binary's nine): the width of a resample's values. */
#define CAIRN_RS_MAX_SLOTS 9

/* A value with its row, for the one-off sorts. */
typedef struct cairn_rs_keyed {
    double v;
    uint32_t i;
} cairn_rs_keyed;

/* qsort orders on cairn_rs_keyed: by value, then ascending row (total orders,
 * since qsort is not stable). */
int cairn_rs_keyed_desc(const void *a, const void *b);
int cairn_rs_keyed_asc(const void *a, const void *b);

/*
 * A sample's labels and everything that depends on them alone, with the
 * sort scratch and each thread's scratch. Sized once for n rows; every
 * sample of m <= n rows (all rows, a slice group) reuses it.
 */
typedef struct cairn_rs_sample {
    cairn_task task;
    size_t n, k;               /* rows at most; classes (multiclass, else 1) */
    int n_threads;             /* scratch sets for cairn_rs_resample (0: no resamples) */
    /* Set by the caller after cairn_rs_sample_init. */
    double threshold;          /* binary: predict 1 when score >= threshold */
    bool has_mape;             /* regression: mape is defined (no evaluated label is 0) */
    /* The labels by row, gathered by the caller (the one of the task). */
    uint8_t *y8;               /* binary: 0/1 */
    double *yd;                /* regression */
    uint32_t *y32;             /* multiclass: class index */
    /* Regression: the label order, which every side shares. */
    uint32_t *yorder;          /* row by position, ascending label */
    uint32_t *yend;            /* ends of the runs of equal label */
    size_t nyg;                /* runs */
    double *yv;                /* label by position */
    cairn_rs_keyed *kb;        /* sort scratch (binary, regression) */
    /* Per thread, n each: ranks by row in prediction and label order
     * (regression); 3k counters (multiclass). */
    double *ra, *rb;
    uint64_t *cc;
} cairn_rs_sample;

/*
 * One model's scores on the sample, prepared. "By position" arrays follow
 * the side's sort order, "by row" arrays the sample's rows 0..m-1 (the rows
 * the counts refer to).
 */
typedef struct cairn_rs_side {
    double *s;                 /* scores by row (multiclass: m x k), gathered by the caller */
    uint32_t *order;           /* row by position: descending score / ascending prediction */
    /* binary, by position */
    uint8_t *flags;            /* label and run ends (resample.c's F_*) */
    double *bl, *bp;           /* log-loss term, score */
    uint8_t bin_seq[CAIRN_EVAL_ECE_BINS]; /* the non-empty ECE bins in position order */
    /* regression */
    uint32_t *pend;            /* ends of the runs of equal prediction */
    size_t npg;                /* runs */
    double *d2, *ad, *ape;     /* by row: (y - pred)^2, |y - pred|, |y - pred| / |y| */
    /* multiclass, by row */
    uint32_t *cls;             /* argmax */
    uint8_t *correct;          /* argmax == label */
    double *loss;              /* log-loss term */
} cairn_rs_side;

/* Allocates count x size bytes (at least one element) into *p, p a pointer to a pointer;
 * false on overflow or failure (then *p is NULL). */
bool cairn_rs_alloc(void *p, size_t count, size_t size);

/*
 * Allocates X for samples of up to n rows of task (k classes when
 * multiclass) and n_threads sets of resample scratch; X is zeroed first.
 * threshold and has_mape start at 0 / false. Errors: CAIRN_ENOMEM (X is left
 * zeroed; the caller words the error). cairn_rs_sample_reset frees it
 * (accepts a zeroed X).
 */
cairn_status cairn_rs_sample_init(cairn_rs_sample *X, cairn_task task, size_t n, size_t k,
                                  int n_threads);
void cairn_rs_sample_reset(cairn_rs_sample *X);

/* Allocates one side of X's samples (S zeroed first); as cairn_rs_sample_init. */
cairn_status cairn_rs_side_init(cairn_rs_side *S, const cairn_rs_sample *X);
void cairn_rs_side_reset(cairn_rs_side *S);

/*
 * The task's metric names by slot (eval.h's table and order) into *n_slots
 * when non-NULL. cairn_rs_slots writes the slots a sample reports, in that
 * order: all of the task's, less mape when has_mape is false; returns their
 * count (at most CAIRN_RS_MAX_SLOTS).
 */
const char *const *cairn_rs_names(cairn_task task, size_t *n_slots);
size_t cairn_rs_slots(cairn_task task, bool has_mape, uint8_t *slot);
/* Whether mape is defined on the labels y[0..n): none of them is 0. */
bool cairn_rs_mape_defined(const double *y, size_t n);

/*
 * metrics.c's functions on side S's m gathered rows: est[slot] for every
 * slot of the task (mape NaN without has_mape). With top (binary), also its
 * confusion counts at the threshold and its reliability table.
 */
void cairn_rs_estimates(const cairn_rs_sample *X, const cairn_rs_side *S, size_t m, double *est,
                        cairn_eval_result *top);

/* Prepares the m gathered rows of X and of the n_sides sides S for cairn_rs_resample. */
void cairn_rs_prepare(cairn_rs_sample *X, cairn_rs_side *S, size_t n_sides, size_t m);

/*
 * Draws the next m indices of rng, each as cairn_rng_below(rng, m) draws it
 * (its rejection cut computed once), and counts them by row into cnt[0..m).
 */
void cairn_rs_draw_counts(cairn_rng *rng, uint32_t *cnt, size_t m);

/*
 * Every metric of one resample for each of the n_sides prepared sides:
 * v[s][slot]. cnt[0..m) are the resample's counts by row (summing to m); t
 * (< n_threads) is the calling thread's scratch. A regression resample
 * ranks its drawn labels once for all sides. Different threads may run
 * resamples of the same prepared sample at the same time.
 */
void cairn_rs_resample(const cairn_rs_sample *X, const cairn_rs_side *S, size_t n_sides, size_t m,
                       const uint32_t *cnt, size_t t, double (*v)[CAIRN_RS_MAX_SLOTS]);

/*
 * The percentile interval of n_boot resample values vals[b * stride]:
 * NaN values skipped and counted out of n_valid, numpy's linear percentiles
 * at 2.5 and 97.5 (NaN without a valid value). Sets iv's lo, hi and n_valid;
 * sorted is scratch for n_boot values.
 */
void cairn_rs_interval(const double *vals, size_t stride, size_t n_boot, double *sorted,
                       cairn_interval *iv);

#endif /* CAIRN_EVAL_RESAMPLE_H */
