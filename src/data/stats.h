/*
 * stats.h -- column statistics, computed at ingest and stored with each
 * dataset version; they are the reference that drift monitoring compares
 * serving traffic with.
 *
 * Every statistic is mergeable: stats of two halves merged equal the stats of
 * the whole (exactly for count, nulls, min, max, mean, variance up to
 * rounding, sortedness; within the sketch error for quantiles; within the
 * estimator's error for the distinct count; exactly for top-k counts as long
 * as the merged key sets fit the summary).
 *
 *  numbers (bool, int64, float64): count, nulls, min, max, mean, standard
 *     deviation (Chan et al. parallel variance), a KLL quantile sketch
 *     (Karnin, Lang, Liberty 2016) with k = 400 (rank error about 0.5%, well
 *     under 1%), and at finalisation a 20-bin histogram on quantile edges.
 *  strings: count, nulls, HyperLogLog distinct estimate (p = 14, ~0.8%
 *     standard error), and top-k categories with frequencies (exact counts
 *     kept for up to CAIRN_STATS_TOPK_TRACK keys; beyond that a Misra-Gries
 *     summary).
 *  timestamps: count, nulls, min, max, and whether the non-null values are
 *     sorted non-decreasingly.
 */
#ifndef CAIRN_DATA_STATS_H
#define CAIRN_DATA_STATS_H

#include "data/frame.h"

#define CAIRN_STATS_HIST_BINS 20
#define CAIRN_STATS_QUANTILES 101     /* q0, q1, ..., q100 */
#define CAIRN_STATS_TOPK 20           /* categories kept in the finished summary */
#define CAIRN_STATS_TOPK_TRACK 1024   /* keys tracked while merging */
#define CAIRN_HLL_P 14

typedef struct cairn_kll cairn_kll;   /* opaque quantile sketch (stats.c) */

typedef struct cairn_topk_item {
    char *value;          /* owned, NUL-terminated */
    uint64_t count;
} cairn_topk_item;

typedef struct cairn_colstats {
    cairn_type type;
    uint64_t count;       /* non-null values */
    uint64_t nulls;
    /* numbers and timestamps (timestamps in microseconds) */
    double min, max;
    double mean, m2;      /* running mean and sum of squared deviations */
    cairn_kll *sketch;    /* numbers only; NULL otherwise */
    /* timestamps */
    bool sorted;
    /* strings */
    uint8_t *hll;         /* 2^CAIRN_HLL_P registers; strings only */
    cairn_topk_item *top; /* sorted by count desc, then value asc */
    size_t n_top;
    /* filled by cairn_colstats_finish() */
    bool finished;
    double stddev;        /* sample standard deviation (n-1); 0 when count < 2 */
    double quantiles[CAIRN_STATS_QUANTILES];
    double hist_edges[CAIRN_STATS_HIST_BINS + 1];
    uint64_t hist_counts[CAIRN_STATS_HIST_BINS];
    uint64_t distinct;    /* HLL estimate (strings); exact for bool */
} cairn_colstats;

/* Initialises empty statistics for a column of type t. */
cairn_status cairn_colstats_init(cairn_colstats *s, cairn_type t, cairn_error *err);
void cairn_colstats_reset(cairn_colstats *s);

/*
 * Accumulates rows [begin, end) of column c (must match s->type). For
 * strings, counts per dictionary code and feeds HLL with the string bytes.
 * `seed` makes the sketch's random compactions reproducible.
 */
cairn_status cairn_colstats_add_column(cairn_colstats *s, const cairn_column *c, size_t begin,
                                       size_t end, uint64_t seed, cairn_error *err);
/* Adds one value (numbers, timestamps) or one string; for tests and streaming use. */
cairn_status cairn_colstats_add_number(cairn_colstats *s, double v);
cairn_status cairn_colstats_add_string(cairn_colstats *s, const char *str, size_t n);
void cairn_colstats_add_null(cairn_colstats *s);

/* Merges b into a (both unfinished, same type). */
cairn_status cairn_colstats_merge(cairn_colstats *a, const cairn_colstats *b, cairn_error *err);

/*
 * Computes the derived fields (stddev, quantiles, histogram, distinct). When
 * c is non-NULL the histogram counts are exact (one pass over c); otherwise
 * they are read off the sketch.
 */
cairn_status cairn_colstats_finish(cairn_colstats *s, const cairn_column *c, cairn_error *err);

/* The sketch's estimate of quantile q in [0,1] (numbers only). */
double cairn_colstats_quantile(const cairn_colstats *s, double q);

/* Computes and finishes the statistics of every column of f, in parallel over columns. */
cairn_status cairn_frame_stats(const cairn_frame *f, uint64_t seed, cairn_colstats **out,
                               cairn_error *err);
void cairn_frame_stats_free(cairn_colstats *s, size_t n_cols);

/*
 * JSON form of finished statistics, as stored in the registry:
 * {"type":"float64","count":..,"nulls":..,"min":..,"max":..,"mean":..,"stddev":..,
 *  "quantiles":[101 numbers],"histogram":{"edges":[21],"counts":[20]}}
 * {"type":"string","count":..,"nulls":..,"distinct":..,"top":[{"value":"a","count":3},...]}
 * {"type":"timestamp","count":..,"nulls":..,"min":"ISO","max":"ISO","sorted":true}
 * Appended to b.
 */
void cairn_colstats_to_json(const cairn_colstats *s, cairn_buf *b);
/* Reads that JSON back into finished statistics (no sketch / HLL). */
cairn_status cairn_colstats_from_json(const char *json, size_t len, cairn_colstats *out,
                                      cairn_error *err);

#endif /* CAIRN_DATA_STATS_H */
