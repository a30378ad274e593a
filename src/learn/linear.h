/*
 * linear.h -- the linear learner (L2-regularised binary logistic regression,
 * multinomial logistic regression, ridge regression) and the baseline
 * learner (class prior / class frequencies / mean), which share one model
 * type so that serving, evaluation and serialization treat them alike.
 *
 * Input is a dense row-major matrix of doubles, n rows x d features, already
 * imputed and standardised by the pipeline transforms: a NaN or infinity in
 * the input is refused with CAIRN_EINVAL. The objectives (see docs/linear.md):
 *
 *   binary:     sum_i s_i * log(1 + exp(-t_i * (w.x_i + b))) + (l2/2) ||w||^2
 *               (t_i = 2 y_i - 1), i.e. scikit-learn's LogisticRegression
 *               with C = 1 / l2 (sklearn sums the loss, it does not average).
 *   multiclass: sum_i s_i * -log softmax(W x_i + b)_{y_i} + (l2/2) ||W||_F^2
 *               (sklearn's multi_class='multinomial', C = 1 / l2); the
 *               intercepts, which the softmax only determines up to a common
 *               constant, are reported centred (they sum to zero), as sklearn
 *               gets them from its zero start.
 *   regression: sum_i s_i (y_i - w.x_i - b)^2 + l2 ||w||^2 (sklearn's Ridge
 *               with alpha = l2; note: no 1/2 here, as in sklearn).
 * The intercept b is never penalised. s_i are the optional sample weights
 * (1 when none are given).
 *
 * Solvers: Newton with a backtracking line search for binary (Hessian solved
 * by Cholesky, LAPACKE_dposv), the closed form for ridge (Cholesky of the
 * centred normal equations), L-BFGS for multinomial. Everything is
 * deterministic for a given input and OpenBLAS thread count. Nothing prints.
 */
#ifndef CAIRN_LINEAR_H
#define CAIRN_LINEAR_H

#include "core/core.h"

/* Bounds checked by fit and by the deserializer. */
#define CAIRN_LINEAR_MAX_FEATURES (1u << 20)
#define CAIRN_LINEAR_MAX_CLASSES 1024u
#define CAIRN_LINEAR_MAX_PARAMS (1u << 26) /* n_outputs * n_features */

/* Serialization format version written by cairn_linear_to_bytes. */
#define CAIRN_LINEAR_FORMAT_VERSION 1u

typedef enum cairn_linear_task {
    CAIRN_LINEAR_BINARY = 1,     /* y in {0, 1}; predicts P(y = 1) */
    CAIRN_LINEAR_MULTICLASS = 2, /* y in {0 .. k-1}; predicts k probabilities */
    CAIRN_LINEAR_REGRESSION = 3  /* y real; predicts the value */
} cairn_linear_task;

/*
 * A fitted model. Internal to libcairn; fields are read-only for callers.
 * For a baseline model the weights are all zero and intercept[] holds the
 * prediction itself (the class-1 prior, the class frequencies, the mean).
 * For a linear model intercept[] holds the bias of each output's linear
 * score (the logit for binary, the softmax score for multiclass).
 */
typedef struct cairn_linear {
    cairn_linear_task task;
    bool baseline;
    bool converged;       /* the solver met its tolerance (always true for ridge / baseline) */
    uint32_t n_iter;      /* solver iterations (1 for ridge and baseline) */
    uint32_t n_features;  /* d */
    uint32_t n_outputs;   /* k: 1 for binary and regression, the class count for multiclass */
    double l2;            /* the regularisation strength it was fitted with (0 for baseline) */
    double *weights;      /* n_outputs x n_features, row-major */
    double *intercept;    /* n_outputs */
} cairn_linear;

typedef struct cairn_linear_opts {
    double l2;           /* > 0 for binary / multiclass, >= 0 for regression. Default 1.0 */
    double tol;          /* stop when max|grad| <= tol * sum(s_i). Default 1e-10 */
    uint32_t max_iter;   /* Newton / L-BFGS iterations. Default 1000 */
} cairn_linear_opts;

void cairn_linear_opts_init(cairn_linear_opts *o);

/* Puts OpenBLAS's thread pool to rest. The pthread build of OpenBLAS starts its worker
 * threads when the library is loaded, and they busy-wait (sched_yield) for about
 * 2^28 cycles before they sleep: a tenth of a second of CPU taken from every short
 * command, most of which never call BLAS. The next BLAS call that wants threads starts
 * them again. A no-op with an OpenBLAS build that has no such pool. */
void cairn_blas_idle(void);

/*
 * Fits a linear model. x: n x d row-major (borrowed); y: n labels (binary:
 * 0 or 1; multiclass: integers 0 .. n_classes-1 stored as doubles;
 * regression: any finite value); sample_weight: n finite values >= 0 with a
 * positive sum, or NULL for all ones. n_classes is used only for
 * multiclass (>= 2). opts may be NULL for the defaults. On success *out is
 * a new model (free with cairn_linear_free); on failure *out is NULL.
 * Not reaching the tolerance within max_iter is not an error: the model is
 * returned with converged = false.
 * Errors: CAIRN_EINVAL (NaN/inf in x, y or weights, a label out of range,
 * bad sizes or options), CAIRN_EINPUT (a class absent from the training
 * labels, a singular system for ridge with l2 = 0), CAIRN_ENOMEM.
 */
cairn_status cairn_linear_fit(cairn_linear_task task, const double *x, size_t n, size_t d,
                              const double *y, const double *sample_weight, uint32_t n_classes,
                              const cairn_linear_opts *opts, cairn_linear **out,
                              cairn_error *err);

/*
 * Fits the baseline: binary -> the (weighted) share of label 1, multiclass
 * -> the class frequencies, regression -> the (weighted) mean. d is the
 * feature count the model will accept at prediction time (the features are
 * ignored). Labels are validated as for cairn_linear_fit, except that a
 * class may be absent. Errors: CAIRN_EINVAL, CAIRN_ENOMEM.
 */
cairn_status cairn_baseline_fit(cairn_linear_task task, size_t n, size_t d, const double *y,
                                const double *sample_weight, uint32_t n_classes,
                                cairn_linear **out, cairn_error *err);

void cairn_linear_free(cairn_linear *m);

/* Doubles written per row by the predict functions: m->n_outputs. */
size_t cairn_linear_n_outputs(const cairn_linear *m);

/*
 * Predicts one row x (n_features values) into out (n_outputs values):
 * P(y = 1), the k class probabilities, or the regression value. Pure, no
 * allocation, thread-safe for a shared model. NaN inputs give NaN outputs.
 */
void cairn_linear_predict(const cairn_linear *m, const double *x, double *out);

/* Predicts n rows (x: n x n_features row-major) into out (n x n_outputs). */
void cairn_linear_predict_batch(const cairn_linear *m, const double *x, size_t n, double *out);

/*
 * Serializes the model (little-endian, versioned; format in docs/linear.md).
 * *out is freed with cairn_free. Errors: CAIRN_ENOMEM.
 */
cairn_status cairn_linear_to_bytes(const cairn_linear *m, char **out, size_t *out_len,
                                   cairn_error *err);

/*
 * Reads a model back. Every field is validated (magic, version, task,
 * flags, bounded dimensions, exact length, finite parameters, baseline
 * predictions in range). Errors: CAIRN_ECORRUPT (where = "byte N"),
 * CAIRN_ENOMEM. On failure *out is NULL.
 */
cairn_status cairn_linear_from_bytes(const void *bytes, size_t len, cairn_linear **out,
                                     cairn_error *err);

/*
 * The objective above and its gradient at the parameters of m (which must
 * have the task, n_features and n_outputs of the data), for tests: grad
 * (may be NULL) receives n_outputs * (n_features + 1) values, the weights
 * of each output row followed by its intercept. Errors: CAIRN_EINVAL, CAIRN_ENOMEM.
 */
cairn_status cairn_linear_objective(const cairn_linear *m, const double *x, size_t n,
                                    const double *y, const double *sample_weight, double *value,
                                    double *grad, cairn_error *err);

/* ---- internal to src/learn (shared by linear.c and baseline.c) ---------- */

/* A zeroed model of the given shape (no validation beyond allocation). */
cairn_status cairn_linear_alloc(cairn_linear_task task, uint32_t d, uint32_t k,
                                cairn_linear **out, cairn_error *err);
/* Checks task / sizes / labels / weights; *sum_w gets the weight total. */
cairn_status cairn_linear_check_labels(cairn_linear_task task, size_t n, const double *y,
                                       const double *sample_weight, uint32_t n_classes,
                                       double *sum_w, cairn_error *err);

#endif /* CAIRN_LINEAR_H */
