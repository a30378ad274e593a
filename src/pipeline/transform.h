/*
 * transform.h -- feature transforms: fitted on the training part of a frame,
 * kept as state, and applied by one per-value code path at training,
 * evaluation and serving time.
 *
 * What the state does with each input column (docs/transforms.md has the
 * long form):
 *   numbers (int64, float64)  the value, nulls imputed with the exact median
 *                             of the training part's non-null values; linear
 *                             models also standardise it (population sd)
 *   bools                     0/1, nulls imputed with the median; never
 *                             standardised
 *   timestamps                hour (0-23), day of week (0-6, Monday = 0),
 *                             month (1-12), all in UTC, and, when a time
 *                             column is given (and this is not it), the age
 *                             in days: (time column value - this value) /
 *                             86400 s. Each part is imputed with its own
 *                             median and (linear) standardised like a number.
 *   strings (categories)      gbdt: one categorical feature with integer
 *                             codes 0..K-1 for the K kept levels and code K
 *                             for "other" (rare in training, unseen, null);
 *                             linear: one 0/1 column per kept level, a
 *                             "=__rare__" column when training had rare
 *                             levels, and an "=__unknown__" column for
 *                             levels never seen in training.
 * A level is kept when its training count is at least the rare threshold,
 * at most max_levels of them; levels are ordered by training count
 * (descending), ties by their bytes (memcmp, shorter first), so the codes do
 * not depend on row order.
 * A column with nulls in the training part also gets a "NAME__missing" 0/1
 * indicator. A column with no nulls in training that meets a null later is
 * imputed with its median and has no indicator.
 * An output that is constant on the training part (after imputation) is
 * dropped and reported as an info finding; a column that is entirely null in
 * training is dropped too.
 *
 * The output is double: every int64 below 2^53, every bool and every code
 * is exact in a double, and linear models and XGBoost's DMatrix take it. The
 * output never holds NaN or infinity.
 *
 * Binary format of cairn_transform_to_bytes (all integers little-endian,
 * doubles as the little-endian bits of the IEEE 754 binary64 value, strings
 * as u32 byte length + bytes, no NUL, no NUL inside):
 *   magic      8 bytes "CAIRNTF\0"
 *   version    u32 = 1
 *   kind       u32 (0 gbdt, 1 linear)
 *   time_name  string (length 0: no time column)
 *   n_cols     u32 (>= 1)
 *   n_cols times:
 *     name           string (length >= 1)
 *     in_type        u8  (cairn_type of the training column)
 *     handling       u8  (0 number, 1 bool, 2 timestamp, 3 category)
 *     flags          u8  bit 0 missing indicator, bit 1 is the time column,
 *                        bit 2 category value kept (not constant),
 *                        bit 3 linear rare column present; others 0
 *     n_slots        u8  number: 1, bool: 1, timestamp: 3 or 4 (4 when
 *                        aged), category: 0
 *     n_slots times: keep u8 (0/1), standardise u8 (0/1), median f64,
 *                    mean f64, sd f64 (kept slots: finite; sd > 0 when
 *                    standardised)
 *     category only: n_levels u32, n_kept u32 (<= n_levels), then n_levels
 *                    strings, distinct, kept levels first
 * and nothing after the last column. Every length and count is checked
 * against the bytes left before anything is allocated.
 */
#ifndef CAIRN_PIPELINE_TRANSFORM_H
#define CAIRN_PIPELINE_TRANSFORM_H

#include "pipeline/pipeline.h"

typedef enum cairn_transform_kind {
    CAIRN_TRANSFORM_GBDT = 0,     /* native categorical codes, no scaling */
    CAIRN_TRANSFORM_LINEAR = 1    /* one-hot with rare/unknown, standardised numbers */
} cairn_transform_kind;

typedef struct cairn_transform_opts {
    /* A level is kept when its training count >= this; a value in (0, 1) is a
     * fraction of the column's non-null training values (rounded up). Default 10. */
    double rare_min_count;
    /* At most this many kept levels per column (the most frequent). Default 100. */
    size_t max_levels;
} cairn_transform_opts;

void cairn_transform_opts_init(cairn_transform_opts *o);

typedef struct cairn_transform cairn_transform;

/*
 * Fits a transform on the rows of f whose part[] equals fit_part (all rows
 * when part is NULL), for the n_features columns feature_cols (distinct
 * indices into f). time_col is the index of a TIMESTAMP column whose value
 * ages the other timestamps, or -1. opts may be NULL (defaults). Appends an
 * info finding to findings (may be NULL) for each dropped constant output.
 * On success *out is a new transform (cairn_transform_free), else NULL.
 * Errors: CAIRN_EINVAL (bad indices, no features, no rows in the fit part,
 * time column not a timestamp, column of type NONE), CAIRN_ENOMEM.
 */
cairn_status cairn_transform_fit(const cairn_frame *f, const uint8_t *part, uint8_t fit_part,
                                 const size_t *feature_cols, size_t n_features, long time_col,
                                 cairn_transform_kind kind, const cairn_transform_opts *opts,
                                 cairn_transform **out, cairn_findings *findings,
                                 cairn_error *err);

void cairn_transform_free(cairn_transform *t);

/*
 * Applies t to the rows of f whose part[] equals which (all rows when part
 * is NULL or which is 0xFF), in row order. Columns are found by name; a
 * column missing from f reads as null in every row. On success *X_out is a
 * row-major n_rows x cairn_transform_n_out(t) matrix (free with cairn_free;
 * never NULL, even for 0 rows) and *n_rows_out its row count.
 * Errors: CAIRN_EINPUT when a value cannot be read as the column's type
 * (where = column and row), CAIRN_ETOOBIG, CAIRN_ENOMEM. t may be shared by
 * threads.
 */
cairn_status cairn_transform_apply(const cairn_transform *t, const cairn_frame *f,
                                   const uint8_t *part, uint8_t which, double **X_out,
                                   size_t *n_rows_out, cairn_error *err);

/*
 * Applies t to one row given as fields (matched to columns by name, first
 * match wins; a missing field is null) and writes cairn_transform_n_out(t)
 * doubles to x. Gives bit for bit what cairn_transform_apply gives for the
 * same values. Accepted kinds: numbers take NUMBER, BOOL (0/1) and STRING
 * (parsed as a number); bools take BOOL, NUMBER 0/1 and STRING (parsed as a
 * bool); timestamps take STRING (ISO 8601); categories take STRING, BOOL
 * ("true"/"false") and NUMBER (as round-trip text). A NaN NUMBER is null.
 * Errors: CAIRN_EINPUT (where = field name); x is then unspecified. t may be
 * shared by threads.
 */
cairn_status cairn_transform_apply_row(const cairn_transform *t, const cairn_field *fields,
                                       size_t n_fields, double *x, cairn_error *err);

/* Number of output features. */
size_t cairn_transform_n_out(const cairn_transform *t);
/* Name of output feature i ("tenure", "tenure__missing", "plan=basic", "plan=__rare__",
 * "signup_time__hour"), NULL when i is out of range. Owned by t. */
const char *cairn_transform_feature_name(const cairn_transform *t, size_t i);
/* True when output i is a categorical code (gbdt); *n_levels (may be NULL) gets the
 * number of codes, including the "other" code. */
bool cairn_transform_feature_is_categorical(const cairn_transform *t, size_t i,
                                            uint32_t *n_levels);
/* The input columns the transform reads, in fit order, and the time column ("" if none). */
size_t cairn_transform_n_inputs(const cairn_transform *t);
const char *cairn_transform_input_name(const cairn_transform *t, size_t i);
const char *cairn_transform_time_name(const cairn_transform *t);
cairn_transform_kind cairn_transform_get_kind(const cairn_transform *t);

/* Appends the binary form (format above) to b; failures stick in b->failed.
 * The same state always gives the same bytes. */
void cairn_transform_to_bytes(const cairn_transform *t, cairn_buf *b);
/*
 * Reads the binary form from p[0..n) (untrusted). On success *out is a new
 * transform, else NULL. Errors: CAIRN_ECORRUPT (where = byte offset),
 * CAIRN_ENOMEM.
 */
cairn_status cairn_transform_from_bytes(const char *p, size_t n, cairn_transform **out,
                                        cairn_error *err);

#endif /* CAIRN_PIPELINE_TRANSFORM_H */
