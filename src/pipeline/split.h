/*
 * split.h -- leakage-safe train / validation / test splits of a frame, and
 * the data-side leakage checks that run on every training run and store
 * their results as findings (pipeline.h).
 *
 * Splits (split.c) are deterministic for a seed on any machine: they use
 * their own splitmix64-seeded xoshiro256** generator and cairn_hash64, never
 * libc rand(). The leakage checks (leak.c) look only at data: a single
 * feature that predicts the label almost perfectly on the training part,
 * entities in two parts, exact duplicate rows across train and test, test
 * rows earlier than training rows, and PII columns used as features. The
 * "implausibly perfect test score" check needs a model and lives elsewhere.
 */
#ifndef CAIRN_PIPELINE_SPLIT_H
#define CAIRN_PIPELINE_SPLIT_H

#include "pipeline/pipeline.h"

/* ---- splits ---------------------------------------------------------------- */

typedef struct cairn_split_cfg {
    cairn_split_by by;       /* AUTO: time if time_col >= 0, else group if entity_col >= 0,
                                else stratified */
    double valid, test;      /* fractions of rows; test in (0,1), valid in [0,1), sum < 1 */
    uint64_t seed;
    long time_col;           /* frame column indices, -1 none */
    long entity_col;
    long label_col;          /* stratified: strata; -1 gives a plain seeded random split */
    cairn_task task;         /* stratified: REGRESSION stratifies by 10 label quantile bins,
                                the others by label value */
    bool allow_time_leak;    /* permit a stratified split although time_col >= 0 */
} cairn_split_cfg;

/* Defaults: AUTO, valid 0.1, test 0.2, seed 0, no columns, binary, no time leak. */
void cairn_split_cfg_init(cairn_split_cfg *cfg);

/* The kind AUTO resolves to for cfg (any other kind is returned as is). */
cairn_split_by cairn_split_resolve(const cairn_split_cfg *cfg);

/*
 * Assigns every row of f to train, validation or test; *out (reset first by
 * the caller or zeroed) receives the assignment, owned by the caller
 * (cairn_split_reset). On failure *out is left zeroed.
 *
 *  time:       a stable sort by the time column (TIMESTAMP, INT64 or FLOAT64);
 *              the last `test` fraction is test, the `valid` fraction before
 *              it validation. Rows with equal times at a boundary stay in one
 *              part (the boundary moves to the nearer edge of the tied run), so
 *              no timestamp is in two parts. Rows with a null time are refused
 *              (CAIRN_EINPUT naming the count): they cannot be placed in time.
 *  order:      as time with the row index as the time axis.
 *  group:      whole entities go to one part: entities are ranked by
 *              cairn_hash64(entity bytes, seed) and taken into test, then
 *              validation, then train until the row fractions are met
 *              (approximately; an entity goes where its middle row falls).
 *              Null entities count as one entity.
 *  stratified: per stratum (label value; regression: label decile; null labels
 *              a stratum of their own) shuffled and cut proportionally, so each
 *              part's class rates match the whole's within one row per class.
 *              Refused (CAIRN_EINVAL) when time_col >= 0 unless allow_time_leak;
 *              when allowed a high finding "random_split_with_time" is added to
 *              findings (which may be NULL only when no finding can arise).
 *
 * Errors: CAIRN_EINVAL (bad fractions or column indices, unusable column type,
 * time leak refused), CAIRN_EINPUT (null times; a part would be empty, the
 * message says which and why), CAIRN_ENOMEM.
 */
cairn_status cairn_split_make(const cairn_frame *f, const cairn_split_cfg *cfg, cairn_split *out,
                              cairn_findings *findings, cairn_error *err);

/* ---- leakage checks ----------------------------------------------------------- */

typedef struct cairn_leak_cfg {
    long label_col;
    cairn_task task;
    /* Binary: the label value that counts as positive. STRING: its dictionary
     * code; BOOL / INT64 / TIMESTAMP: the value; FLOAT64: the value as double. */
    int64_t positive;
    const size_t *features;  /* feature column indices, n_features of them (borrowed) */
    size_t n_features;
    const bool *pii;         /* parallel to features, NULL: none is PII */
    const bool *pii_allowed; /* parallel to features, NULL: none allowed */
    long entity_col;         /* -1 none */
    long time_col;           /* -1 none */
    double auc_threshold;      /* single-feature leak, classes: default 0.98 */
    double spearman_threshold; /* single-feature leak, regression |rho|: default 0.98 */
} cairn_leak_cfg;

/* Defaults: no columns, binary, positive 1, thresholds 0.98. */
void cairn_leak_cfg_init(cairn_leak_cfg *cfg);

/*
 * Runs the data-side leakage checks of f under split s and appends findings:
 *
 *  single_feature_leak (critical, per feature): alone the feature predicts the
 *    label on the training part with AUC >= auc_threshold (binary; multiclass:
 *    the largest one-vs-rest AUC over the classes) or |Spearman| >=
 *    spearman_threshold (regression). Numeric features score by their value
 *    (AUC taken as max(a, 1 - a); nulls tried both below and above all
 *    values); STRING features by the category's positive rate (regression:
 *    mean label) on the same training rows, nulls a category of their own.
 *    Rows with a null label are left out.
 *  entity_overlap: entities (non-null) present in two or more parts; critical
 *    for a group split, medium otherwise.
 *  duplicate_rows: test rows that are exact duplicates (all columns, values
 *    and validity) of some training row; high when over 1% of test, else medium.
 *  test_before_train: test rows earlier than the latest training row; critical
 *    for a time split (cannot happen by construction), high otherwise.
 *  pii_feature (per PII feature): critical, or high when explicitly allowed.
 *
 * Errors: CAIRN_EINVAL (bad column indices or types, split of another size),
 * CAIRN_ENOMEM (findings may then hold some of the results).
 */
cairn_status cairn_leak_check(const cairn_frame *f, const cairn_split *s, const cairn_leak_cfg *cfg,
                              cairn_findings *findings, cairn_error *err);

/* ---- shared by split.c and leak.c ------------------------------------------------- */

/*
 * Dense ids for the distinct values of column c: id[row] in [0, *n_ids); ids
 * follow the order of the values (strings: dictionary code order). Null rows
 * get the id *n_ids - 1 of their own when *has_null is set. Values compare as
 * typed (FLOAT64 -0.0 equals 0.0). Errors: CAIRN_ENOMEM.
 */
cairn_status cairn_split_dense_ids(const cairn_column *c, uint32_t *id, size_t *n_ids,
                                   bool *has_null);

#endif /* CAIRN_PIPELINE_SPLIT_H */
