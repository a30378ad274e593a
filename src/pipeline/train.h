/*
 * train.h -- one training run from a spec to a stored record: the
 * orchestration behind `cairn train` (DESIGN.md, "Data flow").
 *
 * Stages, each timed and recorded:
 *   load       the dataset version the spec names, its saved contract (if any)
 *   resolve    the spec against the columns; PII columns leave the features
 *              unless features.allow_pii lists them
 *   split      time / group / stratified / order; rows with a null label are
 *              left out of every part
 *   leakage    the data-side leakage checks (split.h)
 *   transform  fit on the training part, applied to every part by the same code
 *   train      the model (early stopping on the validation part)
 *   baseline   the class prior or the mean, always
 *   evaluate   threshold on the validation part; metrics with bootstrap
 *              intervals, slices and calibration on the test part, for the
 *              model and the baseline; the implausibly-perfect-score check
 *   store      the run record (registry.h) in the home's database
 * A run that fails after its spec text was read is stored as failed with the
 * error; only a failure to store it is lost (and returned).
 */
#ifndef CAIRN_PIPELINE_TRAIN_H
#define CAIRN_PIPELINE_TRAIN_H

#include "eval/eval.h"
#include "learn/gbdt.h"
#include "learn/linear.h"
#include "pipeline/transform.h"
#include "pipeline/spec.h"
#include "registry/registry.h"

typedef struct cairn_train_opts {
    bool seed_set;          /* --seed given: overrides the spec's seed */
    uint64_t seed;
    int threads;            /* > 0: threads for training and evaluation (overrides the spec) */
    /* Optional progress: a stage starts (end false, seconds 0) or ends (end true). */
    void (*on_stage)(void *ctx, const char *stage, bool end, double seconds);
    cairn_gbdt_progress_fn on_round;    /* boosting rounds (gbdt only) */
    void *ctx;
} cairn_train_opts;

void cairn_train_opts_init(cairn_train_opts *o);

/* Thresholds of the model-side leakage check (implausibly perfect test score). */
#define CAIRN_TRAIN_PERFECT_AUC 0.995
#define CAIRN_TRAIN_PERFECT_R2 0.995
#define CAIRN_TRAIN_PERFECT_ACCURACY 0.995

/*
 * Runs the spec spec_text[0..len) (name: used in error locations, e.g. the
 * file name) against home h and stores the run. *rec (zeroed or reset by the
 * caller) receives what was stored, states included; rec->id is empty only
 * when nothing could be stored. Returns the run's status: CAIRN_OK for a
 * succeeded run, else the error that failed it (err says what and where),
 * in which case the stored run has status "failed".
 */
cairn_status cairn_train(cairn_home *h, const char *spec_text, size_t len, const char *name,
                         const cairn_train_opts *opts, cairn_run_record *rec, cairn_error *err);

/*
 * The test part of a stored run, rebuilt from what the run recorded: its
 * spec text, seed and dataset version (whose snapshot hash must still be the
 * run's). Splitting is deterministic, so these are exactly the rows the run
 * was evaluated on, with the same label encoding and the same slice groups.
 * Review uses it to score the production model on the candidate's test rows.
 */
typedef struct cairn_test_part {
    cairn_task task;
    size_t n;                         /* test rows */
    size_t n_classes;                 /* multiclass k; else 1 */
    char **class_names;               /* multiclass: k names in class order; else NULL */
    double *y;                        /* n labels, encoded as evaluation encodes them */
    cairn_eval_slice_input *slices;   /* the spec's evaluation slices over the n rows */
    size_t n_slices;
    cairn_frame *frame;               /* the dataset version (owned) */
    uint8_t *part;                    /* per frame row: its part (owned) */
    void *priv;                       /* slice storage */
} cairn_test_part;

/*
 * Rebuilds the test part of succeeded run r. *out is zeroed first; free with
 * cairn_test_part_reset. Errors: CAIRN_EINVAL (not a succeeded run),
 * CAIRN_ENOTFOUND (dataset version gone), CAIRN_ECORRUPT (dataset changed
 * since the run), errors of the split, CAIRN_ENOMEM.
 */
cairn_status cairn_test_part_load(cairn_home *h, const cairn_run_record *r, cairn_test_part *out,
                                  cairn_error *err);
void cairn_test_part_reset(cairn_test_part *tp);

/*
 * Scores the test rows with a transform and a model (trees, else linear):
 * *scores gets n (binary, regression) or n x k (multiclass) values, freed
 * with cairn_free. The transform reads columns by name, so a model trained
 * on another dataset version with the same columns can be scored.
 * Errors: of cairn_transform_apply, CAIRN_EINVAL (model and transform disagree
 * on the feature count or output width), CAIRN_ENOMEM.
 */
cairn_status cairn_test_part_score(const cairn_test_part *tp, const cairn_transform *tf,
                                   const cairn_trees *trees, const cairn_linear *linear,
                                   int threads, double **scores, cairn_error *err);

/* The code version compiled in (git describe at build time, "unknown" outside a checkout). */
const char *cairn_code_version(void);
/* Build information as a JSON object (compiler, dependency versions), appended to b. */
void cairn_build_info_json(cairn_buf *b);

#endif /* CAIRN_PIPELINE_TRAIN_H */
