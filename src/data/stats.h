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
 *     standard error, xxh3 of the string bytes, linear counting for small
 *     cardinalities), and top-k categories with frequencies: the
 *     CAIRN_STATS_TOPK_TRACK most frequent keys (ties by value bytes
 *     ascending) with exact counts. Adding a column counts per dictionary
 *     code exactly; a merge adds the counts of equal keys and keeps the top
 *     TRACK. Once a merge has dropped a key (top_complete false), a kept
 *     key's count is a lower bound, short by at most what earlier parts
 *     dropped of it.
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
    bool top_complete;    /* top holds every distinct value (none was dropped) */
    /* filled by cairn_colstats_finish() */
    bool finished;
    double stddev;        /* sample standard deviation (n-1); 0 when count < 2 */
    double quantiles[CAIRN_STATS_QUANTILES]; /* q0 = min, q100 = max, exact */
    /*
     * Histogram: edges are quantiles[0], [5], ..., [100], so non-decreasing
     * but not always strictly increasing (a mostly constant column repeats
     * an edge). Bin i holds the values x with edges[i] <= x < edges[i+1]
     * (the last bin also holds x == max): a value falls in the bin of the
     * LAST edge <= x (see cairn_colstats_hist_bin). So a bin of zero width
     * is empty, and the values equal to a repeated edge all go to the bin
     * that starts at the last copy of it; a constant column puts everything
     * in the last bin. The 21 edges are always written, never shortened.
     */
    double hist_edges[CAIRN_STATS_HIST_BINS + 1];
    uint64_t hist_counts[CAIRN_STATS_HIST_BINS];
    /*
     * Strings: the HLL estimate, clamped to [n_top, count]; exact (n_top)
     * while top_complete. Bool: the number of distinct values present (0-2).
     * Other types: 0.
     */
    uint64_t distinct;
} cairn_colstats;

/*
 * Initialises empty statistics for a column of type t. Errors: CAIRN_EINVAL
 * (unknown type), CAIRN_ENOMEM. On error s owns nothing.
 */
cairn_status cairn_colstats_init(cairn_colstats *s, cairn_type t, cairn_error *err);
/* Frees what s owns and zeroes it; accepts a zeroed struct. */
void cairn_colstats_reset(cairn_colstats *s);

/*
 * Accumulates rows [begin, end) of column c (must match s->type). For
 * strings, counts per dictionary code and feeds HLL with the string bytes.
 * `seed` is mixed into the sketch's coin generator, so the same calls with
 * the same seeds give identical quantiles. Errors: CAIRN_EINVAL (type or
 * range mismatch, a string code outside the dictionary), CAIRN_EINPUT (an
 * infinite or NaN float64 in a valid row), CAIRN_ENOMEM. After an error s
 * may hold part of the rows; reset it.
 */
cairn_status cairn_colstats_add_column(cairn_colstats *s, const cairn_column *c, size_t begin,
                                       size_t end, uint64_t seed, cairn_error *err);
/*
 * Adds one value (numbers, timestamps in microseconds) or one string; for
 * tests and streaming use. A NaN number counts as a null (as readers do);
 * +-inf is refused with CAIRN_EINPUT; a bool is stored as v != 0. Errors:
 * CAIRN_EINVAL (wrong type for s), CAIRN_EINPUT, CAIRN_ENOMEM.
 * add_string costs O(n_top) per call.
 */
cairn_status cairn_colstats_add_number(cairn_colstats *s, double v);
cairn_status cairn_colstats_add_string(cairn_colstats *s, const char *str, size_t n);
void cairn_colstats_add_null(cairn_colstats *s);

/*
 * Merges b into a (same type, a != b, both with their sketches: not read
 * from JSON). a becomes unfinished. Errors: CAIRN_EINVAL (a unchanged),
 * CAIRN_ENOMEM (a may hold part of b; reset it).
 */
cairn_status cairn_colstats_merge(cairn_colstats *a, const cairn_colstats *b, cairn_error *err);

/*
 * Computes the derived fields (stddev, quantiles, histogram, distinct). When
 * c is non-NULL the histogram counts are exact (one pass over c, which must
 * be the column the statistics were computed from: same type and number of
 * valid values, else CAIRN_EINVAL); otherwise they are read off the sketch.
 * The counts always sum to count. Errors: CAIRN_EINVAL, CAIRN_ENOMEM.
 */
cairn_status cairn_colstats_finish(cairn_colstats *s, const cairn_column *c, cairn_error *err);

/*
 * The sketch's estimate of quantile q in [0,1] (numbers only): q <= 0 gives
 * the exact min, q >= 1 the exact max. Statistics read from JSON (no sketch)
 * interpolate linearly between the stored percentiles. NaN for an empty
 * column, a non-number type, or when memory runs out.
 */
double cairn_colstats_quantile(const cairn_colstats *s, double q);
/*
 * The estimated fraction of values <= x (the empirical CDF, for the
 * Kolmogorov-Smirnov drift test), from the sketch or, without one, by
 * interpolating the stored percentiles. NaN as for cairn_colstats_quantile.
 */
double cairn_colstats_cdf(const cairn_colstats *s, double x);
/*
 * The histogram bin (0..CAIRN_STATS_HIST_BINS-1) of x under the rule above:
 * the index of the last edge <= x among edges[0..BINS-1]; values below the
 * first edge go to bin 0, values above the last to the last bin. For
 * finished number statistics; x must not be NaN.
 */
size_t cairn_colstats_hist_bin(const cairn_colstats *s, double x);

/*
 * Computes and finishes the statistics of every column of f, in parallel
 * over columns (OpenMP; one pass per column plus one for the exact
 * histogram). Column i's sketch is seeded from seed and i, so the result
 * does not depend on the number of threads. On success *out is an array of
 * f->n_cols statistics freed with cairn_frame_stats_free(); on error NULL,
 * and err describes the failure of the lowest-numbered failing column.
 */
cairn_status cairn_frame_stats(const cairn_frame *f, uint64_t seed, cairn_colstats **out,
                               cairn_error *err);
/* Frees an array from cairn_frame_stats; accepts NULL. */
void cairn_frame_stats_free(cairn_colstats *s, size_t n_cols);

/*
 * JSON form of finished statistics, as stored in the registry:
 * {"type":"float64","count":..,"nulls":..,"min":..,"max":..,"mean":..,"stddev":..,
 *  "quantiles":[101 numbers],"histogram":{"edges":[21],"counts":[20]}}
 * {"type":"string","count":..,"nulls":..,"distinct":..,"top":[{"value":"a","count":3},...]}
 * {"type":"timestamp","count":..,"nulls":..,"min":"ISO","max":"ISO","sorted":true}
 * Appended to b. "type" is also "bool" or "int64" with the float64 shape.
 * With count 0, min/max/mean/stddev/quantiles/histogram are left out.
 * Doubles are written to read back exactly; NaN and inf never appear (a
 * mean or stddev that overflowed is written as null). "top" lists the first
 * CAIRN_STATS_TOPK items. Unfinished statistics are written without the
 * derived fields (stddev, quantiles, histogram, distinct).
 */
void cairn_colstats_to_json(const cairn_colstats *s, cairn_buf *b);
/*
 * Reads that JSON back into finished statistics (no sketch / HLL; bool's
 * distinct is derived from min and max). Unknown fields are ignored.
 * Errors: CAIRN_ECORRUPT (malformed or inconsistent), CAIRN_ENOMEM. On
 * error *out is zeroed and owns nothing; on success reset it when done.
 */
cairn_status cairn_colstats_from_json(const char *json, size_t len, cairn_colstats *out,
                                      cairn_error *err);

#endif /* CAIRN_DATA_STATS_H */
