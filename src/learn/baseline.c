/*
 * baseline.c -- the baseline learner: a model that ignores the features
 * and predicts what the training labels say on average (the share of
 * class 1, the class frequencies, the mean). It is trained on every run so
 * that each report can show how much the real model adds over it. It is a
 * cairn_linear with zero weights and the prediction stored in intercept[]
 * (flag baseline), so prediction, serialization and serving are shared
 * with linear.c.
 */
#include "learn/linear.h"

cairn_status cairn_baseline_fit(cairn_linear_task task, size_t n, size_t d, const double *y,
                                const double *sample_weight, uint32_t n_classes,
                                cairn_linear **out, cairn_error *err)
{
    cairn_status st;
    cairn_linear *m = NULL;
    double sum_w = 0.0;
    uint32_t k;
    *out = NULL;
    st = cairn_linear_check_labels(task, n, y, sample_weight, n_classes, &sum_w, err);
    if (st != CAIRN_OK)
        return st;
    if (d > CAIRN_LINEAR_MAX_FEATURES)
        return cairn_error_set(err, CAIRN_EINVAL, NULL, "feature count %zu above %u", d,
                               CAIRN_LINEAR_MAX_FEATURES);
    k = task == CAIRN_LINEAR_MULTICLASS ? n_classes : 1;
    st = cairn_linear_alloc(task, (uint32_t)d, k, &m, err);
    if (st != CAIRN_OK)
        return st;
    m->baseline = true;
    m->converged = true;
    m->n_iter = 1;
    /*
     * Weighted sums in row order (deterministic). For binary and regression
     * the prediction is sum s_i y_i / sum s_i; for multiclass the weight of
     * each class over the total.
     */
    for (size_t i = 0; i < n; i++) {
        const double s = sample_weight ? sample_weight[i] : 1.0;
        if (task == CAIRN_LINEAR_MULTICLASS)
            m->intercept[(size_t)y[i]] += s;
        else
            m->intercept[0] += s * y[i];
    }
    for (uint32_t c = 0; c < k; c++) {
        m->intercept[c] /= sum_w;
        /* Rounding may push a share a hair past 1; keep it a probability. */
        if (task != CAIRN_LINEAR_REGRESSION && m->intercept[c] > 1.0)
            m->intercept[c] = 1.0;
    }
    *out = m;
    return CAIRN_OK;
}
