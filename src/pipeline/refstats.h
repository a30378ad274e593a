/*
 * refstats.h -- reference statistics of a training part: the baseline that
 * monitoring (drift) later compares live traffic with. They describe the raw
 * input columns as serving receives them (before any transform) and the
 * model's predictions on the same rows, and travel in the run record
 * (refstats_json) and in the artifact's refstats section.
 *
 * JSON (docs/artifact-format.md, "refstats"), keys in this order:
 *   {"version":1,"part":"train","rows":N,
 *    "features":[
 *      {"name":"tenure","type":"number","rows":N,"missing":M,
 *       "min":..,"max":..,"mean":..,"std":..,
 *       "edges":[e1,...,e(k-1)],          -- distinct inner quantile edges (k <= 10 bins)
 *       "counts":[c0,...,c(k-1)],         -- non-missing rows per bin: bin b holds
 *                                            edges[b-1] <= x < edges[b]
 *       "quantiles":[q0,q5,...,q100]},    -- 21 values, for Kolmogorov-Smirnov
 *      {"name":"Contract","type":"category","rows":N,"missing":M,
 *       "categories":["Month-to-month",...],   -- most frequent first, at most 50
 *       "counts":[...],"other":O},             -- O: rows in no listed category
 *      ...],
 *    "prediction":{...}}    -- a "number" entry named "score" (binary: P(positive);
 *                              regression: the prediction) or a "category" entry
 *                              named "class" (multiclass: the predicted class)
 * Numbers are written with round-trip precision (cairn_buf_put_double);
 * timestamps are numbers (seconds since the epoch) with "type":"timestamp";
 * bools are categories "true"/"false". Non-finite numbers are missing.
 *
 * Precisely:
 *  - "rows" is the part's row count in every entry; "missing" counts its null
 *    (and non-finite) rows. Int64 values are read as doubles.
 *  - Number entries: "std" is the population standard deviation (divides by
 *    n). Quantiles interpolate linearly between closest ranks (numpy's
 *    default "linear", Hyndman & Fan type 7): h = (n-1)p, q = x[floor h] +
 *    (h - floor h)(x[floor h + 1] - x[floor h]) over the sorted non-missing
 *    values; q0 is the min, q100 the max. The edges are the 10%, 20%, ...,
 *    90% quantiles of that list, keeping only those strictly above the
 *    minimum and above the previous kept edge: k-1 strictly increasing edges
 *    give k bins (a constant column: no edge, one bin), bin 0 holding
 *    x < edges[0] and the last x >= edges[k-2]; counts sum to rows - missing
 *    (an interpolated edge between two tied runs can leave a bin empty).
 *    With no non-missing value, min/max/mean/std are null and edges, counts
 *    and quantiles are [].
 *  - Category entries: most frequent first, equal counts by name in byte
 *    order (shorter prefix first); counts sum with "other" to rows - missing.
 *    String columns list only values present in the part (the dictionary may
 *    hold values of other parts). Bools always list both "false" and "true",
 *    zero counts included.
 *  - Prediction "class" (multiclass): each row's argmax class (the lowest
 *    index on ties; a row without a finite score is missing); every class is
 *    listed, zero counts included, under the same order and cap as above.
 *  - On error b is left unchanged.
 */
#ifndef CAIRN_PIPELINE_REFSTATS_H
#define CAIRN_PIPELINE_REFSTATS_H

#include "data/frame.h"
#include "pipeline/pipeline.h"

#define CAIRN_REFSTATS_VERSION 1
#define CAIRN_REFSTATS_BINS 10          /* quantile bins per number */
#define CAIRN_REFSTATS_QUANTILES 21     /* 0, 5, ..., 100 percent */
#define CAIRN_REFSTATS_MAX_CATEGORIES 50

typedef struct cairn_refstats_input {
    const cairn_frame *frame;
    const uint8_t *part;          /* per row part; NULL: every row */
    uint8_t which;                /* the part described (CAIRN_PART_TRAIN) */
    const size_t *cols;           /* the feature columns (indices into frame), in order */
    size_t n_cols;
    cairn_task task;
    const double *scores;         /* the model's scores on the rows of that part, in row
                                     order: binary/regression n, multiclass n x n_classes;
                                     NULL: no prediction entry ("prediction":null) */
    size_t n_scores;              /* rows in scores (must equal the part's row count) */
    size_t n_classes;             /* multiclass k */
    const char *const *class_names;   /* multiclass: k names */
} cairn_refstats_input;

/*
 * Appends the reference statistics JSON to b. The same input gives the same
 * bytes. Errors: CAIRN_EINVAL (bad indices, n_scores not the part's row
 * count, multiclass without names), CAIRN_ENOMEM.
 */
cairn_status cairn_refstats_json(const cairn_refstats_input *in, cairn_buf *b, cairn_error *err);

#endif /* CAIRN_PIPELINE_REFSTATS_H */
