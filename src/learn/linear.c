/*
 * linear.c -- fitting, prediction and serialization of the linear models
 * declared in linear.h: Newton's method for L2-regularised binary logistic
 * regression, L-BFGS for multinomial logistic regression, and the closed
 * form of ridge regression, on OpenBLAS (cblas) and LAPACKE. The baseline
 * learner lives in baseline.c and shares the model type, the allocation,
 * the label checks, prediction and the byte format defined here.
 *
 * Parameters are handled internally as one vector theta of k * (d + 1)
 * doubles: for each output c, its d weights followed by its intercept. The
 * objective is the *summed* (weighted) loss plus the L2 term, which is the
 * convention of scikit-learn's C parameter (C * sum loss + ||w||^2 / 2 is
 * our objective times C when l2 = 1 / C), so the minimisers coincide.
 */
#include "learn/linear.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define LBFGS_MEMORY 10
#define ARMIJO_C1 1e-4
#define HEADER_BYTES 40u

/* Exported by the pthread build of OpenBLAS only, hence weak: NULL elsewhere. */
extern int blas_thread_shutdown_(void) __attribute__((weak));

void cairn_blas_idle(void)
{
    if (blas_thread_shutdown_)
        blas_thread_shutdown_();
}

void cairn_linear_opts_init(cairn_linear_opts *o)
{
    o->l2 = 1.0;
    o->tol = 1e-8;
    o->max_iter = 1000;
}

cairn_status cairn_linear_alloc(cairn_linear_task task, uint32_t d, uint32_t k,
                                cairn_linear **out, cairn_error *err)
{
    cairn_status st = CAIRN_OK;
    cairn_linear *m = NULL;
    size_t kd;
    *out = NULL;
    if (!cairn_mul_size(k, d, &kd) || kd > CAIRN_LINEAR_MAX_PARAMS)
        return cairn_error_set(err, CAIRN_EINVAL, NULL, "linear model too large (%u x %u)",
                               (unsigned)k, (unsigned)d);
    m = cairn_calloc(1, sizeof *m);
    if (!m)
        goto nomem;
    m->task = task;
    m->n_features = d;
    m->n_outputs = k;
    /* calloc(0) may return NULL; ask for at least one element. */
    m->weights = cairn_calloc(kd ? kd : 1, sizeof(double));
    m->intercept = cairn_calloc(k ? k : 1, sizeof(double));
    if (!m->weights || !m->intercept)
        goto nomem;
    *out = m;
    return CAIRN_OK;
nomem:
    cairn_linear_free(m);
    st = cairn_error_set(err, CAIRN_ENOMEM, NULL, "out of memory allocating a linear model");
    return st;
}

void cairn_linear_free(cairn_linear *m)
{
    if (!m)
        return;
    cairn_free(m->weights);
    cairn_free(m->intercept);
    cairn_free(m);
}

size_t cairn_linear_n_outputs(const cairn_linear *m)
{
    return m->n_outputs;
}

cairn_status cairn_linear_check_labels(cairn_linear_task task, size_t n, const double *y,
                                       const double *sw, uint32_t n_classes, double *sum_w,
                                       cairn_error *err)
{
    double total = 0.0;
    if (task != CAIRN_LINEAR_BINARY && task != CAIRN_LINEAR_MULTICLASS &&
        task != CAIRN_LINEAR_REGRESSION)
        return cairn_error_set(err, CAIRN_EINVAL, NULL, "unknown linear task %d", (int)task);
    if (n == 0)
        return cairn_error_set(err, CAIRN_EINVAL, NULL, "no training rows");
    if (!y)
        return cairn_error_set(err, CAIRN_EINVAL, NULL, "no labels");
    if (task == CAIRN_LINEAR_MULTICLASS && (n_classes < 2 || n_classes > CAIRN_LINEAR_MAX_CLASSES))
        return cairn_error_set(err, CAIRN_EINVAL, NULL, "multiclass needs 2..%u classes, got %u",
                               CAIRN_LINEAR_MAX_CLASSES, (unsigned)n_classes);
    for (size_t i = 0; i < n; i++) {
        double v = y[i];
        double s = sw ? sw[i] : 1.0;
        if (!isfinite(v))
            return cairn_error_set(err, CAIRN_EINVAL, NULL, "label of row %zu is not finite", i);
        if (task == CAIRN_LINEAR_BINARY && v != 0.0 && v != 1.0)
            return cairn_error_set(err, CAIRN_EINVAL, NULL, "binary label of row %zu is %g, not 0 or 1",
                                   i, v);
        if (task == CAIRN_LINEAR_MULTICLASS && (v < 0.0 || v >= (double)n_classes || v != floor(v)))
            return cairn_error_set(err, CAIRN_EINVAL, NULL, "class label of row %zu is %g, not in 0..%u",
                                   i, v, (unsigned)n_classes - 1);
        if (!isfinite(s) || s < 0.0)
            return cairn_error_set(err, CAIRN_EINVAL, NULL,
                                   "sample weight of row %zu is negative or not finite", i);
        total += s;
    }
    if (!(total > 0.0) || !isfinite(total))
        return cairn_error_set(err, CAIRN_EINVAL, NULL, "sample weights do not have a positive finite sum");
    *sum_w = total;
    return CAIRN_OK;
}

/* ---- objective ---------------------------------------------------------------- */

/* log(1 + exp(z)) without overflow or loss of precision for large |z|. */
static double log1pexp(double z)
{
    if (z > 35.0)
        return z;
    if (z < -35.0)
        return exp(z);
    return log1p(exp(z));
}

static double sigmoid(double z)
{
    if (z >= 0.0)
        return 1.0 / (1.0 + exp(-z));
    double e = exp(z);
    return e / (1.0 + e);
}

/* The data of one fit, borrowed, plus the n x k score scratch. */
typedef struct problem {
    cairn_linear_task task;
    const double *x, *y, *sw;
    size_t n, d, k;
    double l2;
    double *z; /* n x k: scores, then probabilities (or ridge residuals) */
    double *r; /* n x k: the weighted residuals behind the gradient */
} problem;

/*
 * Objective at theta (layout in the file comment); when grad is non-NULL
 * it receives the gradient. For binary, z keeps the probabilities after the
 * call (used by the Newton step); r gets the weighted residuals. Scores come from one dgemm: Z = X W^T
 * with W read from theta with leading dimension d + 1.
 */
static double objective(const problem *p, const double *theta, double *grad)
{
    const size_t n = p->n, d = p->d, k = p->k, ld = d + 1;
    double *z = p->z;
    double f = 0.0;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)k, (int)d, 1.0, p->x,
                (int)d, theta, (int)ld, 0.0, z, (int)k);
    for (size_t i = 0; i < n; i++) {
        const double s = p->sw ? p->sw[i] : 1.0;
        double *zi = z + i * k;
        for (size_t c = 0; c < k; c++)
            zi[c] += theta[c * ld + d];
        if (p->task == CAIRN_LINEAR_BINARY) {
            /* loss = log(1 + exp(-t z)), t = 2y - 1; residual s (sigmoid(z) - y). */
            const double t = p->y[i] != 0.0 ? 1.0 : -1.0;
            f += s * log1pexp(-t * zi[0]);
            zi[0] = sigmoid(zi[0]);
        } else if (p->task == CAIRN_LINEAR_MULTICLASS) {
            /* loss = logsumexp(z) - z_y; residual s (softmax(z) - onehot(y)). */
            const size_t yc = (size_t)p->y[i];
            double mx = zi[0], sum = 0.0;
            for (size_t c = 1; c < k; c++)
                mx = zi[c] > mx ? zi[c] : mx;
            for (size_t c = 0; c < k; c++)
                sum += exp(zi[c] - mx);
            const double lse = mx + log(sum);
            f += s * (lse - zi[yc]);
            for (size_t c = 0; c < k; c++)
                zi[c] = exp(zi[c] - lse);
        } else {
            const double r = p->y[i] - zi[0];
            f += s * r * r;
            zi[0] = -r; /* residual of the squared loss, halved; doubled below */
        }
    }
    /* Penalty: (l2/2)||W||^2 for the logistic losses, l2 ||w||^2 for ridge. */
    const double pen = p->task == CAIRN_LINEAR_REGRESSION ? p->l2 : 0.5 * p->l2;
    double wsq = 0.0;
    for (size_t c = 0; c < k; c++)
        for (size_t j = 0; j < d; j++)
            wsq += theta[c * ld + j] * theta[c * ld + j];
    f += pen * wsq;
    if (!grad)
        return f;
    /* The weighted residual matrix R (n x k), then grad_W = R^T X. */
    const double scale = p->task == CAIRN_LINEAR_REGRESSION ? 2.0 : 1.0;
    double *r = p->r;
    for (size_t i = 0; i < n; i++) {
        const double s = (p->sw ? p->sw[i] : 1.0) * scale;
        const double *zi = z + i * k;
        double *ri = r + i * k;
        if (p->task == CAIRN_LINEAR_MULTICLASS) {
            for (size_t c = 0; c < k; c++)
                ri[c] = s * (zi[c] - (c == (size_t)p->y[i] ? 1.0 : 0.0));
        } else if (p->task == CAIRN_LINEAR_BINARY) {
            ri[0] = s * (zi[0] - p->y[i]);
        } else {
            ri[0] = s * zi[0];
        }
    }
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)k, (int)d, (int)n, 1.0, r, (int)k,
                p->x, (int)d, 0.0, grad, (int)ld);
    for (size_t c = 0; c < k; c++) {
        double gb = 0.0;
        for (size_t i = 0; i < n; i++)
            gb += r[i * k + c];
        grad[c * ld + d] = gb;
        for (size_t j = 0; j < d; j++)
            grad[c * ld + j] += 2.0 * pen * theta[c * ld + j];
    }
    return f;
}

static double max_abs(const double *v, size_t n)
{
    double m = 0.0;
    for (size_t i = 0; i < n; i++)
        m = fabs(v[i]) > m ? fabs(v[i]) : m;
    return m;
}

/*
 * Backtracking (Armijo) line search along -dir from theta (value f, slope
 * gd = grad . dir > 0). Writes the accepted point into next and its value
 * into *f_next; returns false when no step decreases the objective. Near
 * the optimum the decrease falls below the rounding of f, so a step that
 * does not increase f beyond a few ulps is accepted: the gradient test,
 * not the value, decides convergence.
 */
static bool line_search(const problem *p, const double *theta, const double *dir, size_t np,
                        double f, double gd, double step, double *next, double *f_next)
{
    const double slack = 1e-13 * fabs(f);
    for (int t = 0; t < 60; t++) {
        for (size_t j = 0; j < np; j++)
            next[j] = theta[j] - step * dir[j];
        double fn = objective(p, next, NULL);
        if (isfinite(fn) && fn <= f - ARMIJO_C1 * step * gd + slack) {
            *f_next = fn;
            return true;
        }
        step *= 0.5;
    }
    return false;
}

/*
 * Newton's method for binary logistic regression. The Hessian of the
 * objective in (w, b) is A^T A + l2 diag(1, .., 1, 0) with A's row i equal
 * to sqrt(s_i p_i (1 - p_i)) [x_i, 1]; it is positive definite whenever
 * l2 > 0 and some p_i (1 - p_i) > 0, so Cholesky (dposv) solves the step.
 * Should rounding make it fail, the step falls back to the gradient.
 */
static cairn_status newton(const problem *p, double *theta, double tol_abs, uint32_t max_iter,
                           uint32_t *n_iter, bool *converged, cairn_error *err)
{
    cairn_status st = CAIRN_OK;
    const size_t n = p->n, d = p->d, np = d + 1;
    double *g = NULL, *h = NULL, *a = NULL, *dir = NULL, *next = NULL;
    size_t na;
    uint32_t it = 0;
    bool conv = false;
    if (!cairn_mul_size(n, np, &na) || !cairn_mul_size(np, np, &(size_t){0}))
        return cairn_error_set(err, CAIRN_EINVAL, NULL, "problem too large");
    g = cairn_malloc(np * sizeof(double));
    dir = cairn_malloc(np * sizeof(double));
    next = cairn_malloc(np * sizeof(double));
    h = cairn_reallocarray(NULL, np * np, sizeof(double));
    a = cairn_reallocarray(NULL, na, sizeof(double));
    if (!g || !dir || !next || !h || !a) {
        st = cairn_error_set(err, CAIRN_ENOMEM, NULL, "out of memory in the Newton solver");
        goto done;
    }
    double f = objective(p, theta, g);
    for (;;) {
        if (max_abs(g, np) <= tol_abs) {
            conv = true;
            break;
        }
        if (it >= max_iter)
            break;
        it++;
        for (size_t i = 0; i < n; i++) {
            const double pi = p->z[i];
            const double r = sqrt((p->sw ? p->sw[i] : 1.0) * pi * (1.0 - pi));
            for (size_t j = 0; j < d; j++)
                a[i * np + j] = r * p->x[i * d + j];
            a[i * np + d] = r;
        }
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)np, (int)n, 1.0, a, (int)np, 0.0,
                    h, (int)np);
        for (size_t j = 0; j < d; j++)
            h[j * np + j] += p->l2;
        memcpy(dir, g, np * sizeof(double));
        if (LAPACKE_dposv(LAPACK_ROW_MAJOR, 'U', (lapack_int)np, 1, h, (lapack_int)np, dir, 1) != 0)
            memcpy(dir, g, np * sizeof(double));
        double gd = 0.0;
        for (size_t j = 0; j < np; j++)
            gd += g[j] * dir[j];
        double f_next;
        if (!(gd > 0.0) || !line_search(p, theta, dir, np, f, gd, 1.0, next, &f_next))
            break;
        memcpy(theta, next, np * sizeof(double));
        f = objective(p, theta, g);
    }
    *n_iter = it;
    *converged = conv;
done:
    cairn_free(g);
    cairn_free(h);
    cairn_free(a);
    cairn_free(dir);
    cairn_free(next);
    return st;
}

/*
 * L-BFGS (Nocedal & Wright, Numerical Optimization, 2nd ed., Algorithm 7.4
 * two-loop recursion, with the initial scaling gamma = s'y / y'y of eq. 7.20)
 * with a backtracking Armijo line search. Pairs with s'y <= 0 (possible
 * without a Wolfe line search) are skipped, which keeps the implicit
 * inverse Hessian positive definite.
 */
static cairn_status lbfgs(const problem *p, double *theta, size_t np, double tol_abs,
                          uint32_t max_iter, uint32_t *n_iter, bool *converged, cairn_error *err)
{
    cairn_status st = CAIRN_OK;
    const size_t mem = LBFGS_MEMORY;
    double *g = NULL, *gn = NULL, *dir = NULL, *next = NULL, *sv = NULL, *yv = NULL;
    double rho[LBFGS_MEMORY], alpha[LBFGS_MEMORY];
    size_t nm, head = 0, count = 0;
    uint32_t it = 0;
    bool conv = false;
    if (!cairn_mul_size(np, mem, &nm))
        return cairn_error_set(err, CAIRN_EINVAL, NULL, "problem too large");
    g = cairn_malloc(np * sizeof(double));
    gn = cairn_malloc(np * sizeof(double));
    dir = cairn_malloc(np * sizeof(double));
    next = cairn_malloc(np * sizeof(double));
    sv = cairn_reallocarray(NULL, nm, sizeof(double));
    yv = cairn_reallocarray(NULL, nm, sizeof(double));
    if (!g || !gn || !dir || !next || !sv || !yv) {
        st = cairn_error_set(err, CAIRN_ENOMEM, NULL, "out of memory in the L-BFGS solver");
        goto done;
    }
    double f = objective(p, theta, g);
    for (;;) {
        if (max_abs(g, np) <= tol_abs) {
            conv = true;
            break;
        }
        if (it >= max_iter)
            break;
        it++;
        /* Two-loop recursion: dir = H g, newest pair first. */
        memcpy(dir, g, np * sizeof(double));
        for (size_t t = 0; t < count; t++) {
            size_t s = (head + mem - 1 - t) % mem;
            alpha[s] = rho[s] * cblas_ddot((int)np, sv + s * np, 1, dir, 1);
            cblas_daxpy((int)np, -alpha[s], yv + s * np, 1, dir, 1);
        }
        double step = 1.0;
        if (count > 0) {
            size_t s = (head + mem - 1) % mem;
            double yy = cblas_ddot((int)np, yv + s * np, 1, yv + s * np, 1);
            cblas_dscal((int)np, 1.0 / (rho[s] * yy), dir, 1);
        } else {
            /* First step: a gradient step of length about one. */
            double gn2 = cblas_dnrm2((int)np, g, 1);
            step = gn2 > 1.0 ? 1.0 / gn2 : 1.0;
        }
        for (size_t t = count; t-- > 0;) {
            size_t s = (head + mem - 1 - t) % mem;
            double beta = rho[s] * cblas_ddot((int)np, yv + s * np, 1, dir, 1);
            cblas_daxpy((int)np, alpha[s] - beta, sv + s * np, 1, dir, 1);
        }
        double gd = cblas_ddot((int)np, g, 1, dir, 1);
        if (!(gd > 0.0)) {
            /* Not a descent direction (rounding): restart from the gradient. */
            count = 0;
            memcpy(dir, g, np * sizeof(double));
            gd = cblas_ddot((int)np, g, 1, g, 1);
            double gn2 = sqrt(gd);
            step = gn2 > 1.0 ? 1.0 / gn2 : 1.0;
        }
        double f_next;
        if (!line_search(p, theta, dir, np, f, gd, step, next, &f_next))
            break;
        f = objective(p, next, gn);
        /* s = next - theta, y = gn - g. */
        double *s_new = sv + head * np, *y_new = yv + head * np;
        double sy = 0.0;
        for (size_t j = 0; j < np; j++) {
            s_new[j] = next[j] - theta[j];
            y_new[j] = gn[j] - g[j];
            sy += s_new[j] * y_new[j];
        }
        if (sy > 1e-300) {
            rho[head] = 1.0 / sy;
            head = (head + 1) % mem;
            count = count < mem ? count + 1 : mem;
        }
        memcpy(theta, next, np * sizeof(double));
        memcpy(g, gn, np * sizeof(double));
    }
    *n_iter = it;
    *converged = conv;
done:
    cairn_free(g);
    cairn_free(gn);
    cairn_free(dir);
    cairn_free(next);
    cairn_free(sv);
    cairn_free(yv);
    return st;
}

/*
 * Ridge in closed form: with weighted means xm, ym and the centred, sqrt(s)
 * scaled rows a_i = sqrt(s_i)(x_i - xm), the weights solve
 * (A^T A + l2 I) w = A^T sqrt(s)(y - ym) and b = ym - xm.w; this is the
 * minimiser of sum s_i (y_i - w.x_i - b)^2 + l2 ||w||^2 (the intercept's
 * optimality condition centres the problem).
 */
static cairn_status ridge(const problem *p, double sum_w, double *theta, cairn_error *err)
{
    cairn_status st = CAIRN_OK;
    const size_t n = p->n, d = p->d;
    double *xm = NULL, *a = NULL, *r = NULL, *h = NULL;
    xm = cairn_calloc(d, sizeof(double));
    a = cairn_reallocarray(NULL, n * d, sizeof(double)); /* n * d checked by the caller */
    r = cairn_malloc(n * sizeof(double));
    h = cairn_reallocarray(NULL, d, d * sizeof(double));
    if (!xm || !a || !r || !h) {
        st = cairn_error_set(err, CAIRN_ENOMEM, NULL, "out of memory in the ridge solver");
        goto done;
    }
    double ym = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double s = p->sw ? p->sw[i] : 1.0;
        ym += s * p->y[i];
        for (size_t j = 0; j < d; j++)
            xm[j] += s * p->x[i * d + j];
    }
    ym /= sum_w;
    for (size_t j = 0; j < d; j++)
        xm[j] /= sum_w;
    for (size_t i = 0; i < n; i++) {
        const double rs = sqrt(p->sw ? p->sw[i] : 1.0);
        r[i] = rs * (p->y[i] - ym);
        for (size_t j = 0; j < d; j++)
            a[i * d + j] = rs * (p->x[i * d + j] - xm[j]);
    }
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)d, (int)n, 1.0, a, (int)d, 0.0, h,
                (int)d);
    for (size_t j = 0; j < d; j++)
        h[j * d + j] += p->l2;
    cblas_dgemv(CblasRowMajor, CblasTrans, (int)n, (int)d, 1.0, a, (int)d, r, 1, 0.0, theta, 1);
    if (LAPACKE_dposv(LAPACK_ROW_MAJOR, 'U', (lapack_int)d, 1, h, (lapack_int)d, theta, 1) != 0) {
        st = cairn_error_set(err, CAIRN_EINPUT, NULL,
                             "ridge normal equations are singular (collinear columns); use l2 > 0");
        goto done;
    }
    double b = ym;
    for (size_t j = 0; j < d; j++)
        b -= xm[j] * theta[j];
    theta[d] = b;
done:
    cairn_free(xm);
    cairn_free(a);
    cairn_free(r);
    cairn_free(h);
    return st;
}

static cairn_status check_matrix(const double *x, size_t n, size_t d, cairn_error *err)
{
    size_t nd;
    if (!x)
        return cairn_error_set(err, CAIRN_EINVAL, NULL, "no feature matrix");
    if (d == 0 || d > CAIRN_LINEAR_MAX_FEATURES)
        return cairn_error_set(err, CAIRN_EINVAL, NULL, "feature count %zu out of 1..%u", d,
                               CAIRN_LINEAR_MAX_FEATURES);
    if (!cairn_mul_size(n, d + 1, &nd) || !cairn_mul_size(nd, sizeof(double), &nd) ||
        n > (size_t)INT32_MAX)
        return cairn_error_set(err, CAIRN_EINVAL, NULL, "feature matrix too large");
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++)
            if (!isfinite(x[i * d + j]))
                return cairn_error_set(err, CAIRN_EINVAL, NULL,
                                       "feature %zu of row %zu is NaN or infinite (impute first)", j,
                                       i);
    return CAIRN_OK;
}

cairn_status cairn_linear_fit(cairn_linear_task task, const double *x, size_t n, size_t d,
                              const double *y, const double *sample_weight, uint32_t n_classes,
                              const cairn_linear_opts *opts, cairn_linear **out, cairn_error *err)
{
    cairn_status st;
    cairn_linear_opts o;
    cairn_linear *m = NULL;
    double *theta = NULL, *z = NULL, *r = NULL, *class_w = NULL;
    double sum_w = 0.0;
    size_t k, np, nz;
    *out = NULL;
    if (opts)
        o = *opts;
    else
        cairn_linear_opts_init(&o);
    st = cairn_linear_check_labels(task, n, y, sample_weight, n_classes, &sum_w, err);
    if (st != CAIRN_OK)
        return st;
    st = check_matrix(x, n, d, err);
    if (st != CAIRN_OK)
        return st;
    if (!isfinite(o.l2) || o.l2 < 0.0 || (task != CAIRN_LINEAR_REGRESSION && o.l2 == 0.0))
        return cairn_error_set(err, CAIRN_EINVAL, NULL,
                               "l2 must be > 0 (logistic) or >= 0 (ridge), got %g", o.l2);
    if (!isfinite(o.tol) || o.tol < 0.0)
        return cairn_error_set(err, CAIRN_EINVAL, NULL, "tol must be >= 0");
    k = task == CAIRN_LINEAR_MULTICLASS ? n_classes : 1;
    /* Every class needs positive weight, or its intercept runs off to -inf. */
    if (task != CAIRN_LINEAR_REGRESSION) {
        size_t nc = task == CAIRN_LINEAR_BINARY ? 2 : k;
        class_w = cairn_calloc(nc, sizeof(double));
        if (!class_w) {
            st = cairn_error_set(err, CAIRN_ENOMEM, NULL, "out of memory");
            goto done;
        }
        for (size_t i = 0; i < n; i++)
            class_w[(size_t)y[i]] += sample_weight ? sample_weight[i] : 1.0;
        for (size_t c = 0; c < nc; c++)
            if (!(class_w[c] > 0.0)) {
                st = cairn_error_set(err, CAIRN_EINPUT, NULL,
                                     "class %zu does not occur in the training labels", c);
                goto done;
            }
    }
    st = cairn_linear_alloc(task, (uint32_t)d, (uint32_t)k, &m, err);
    if (st != CAIRN_OK)
        goto done;
    if (!cairn_mul_size(k, d + 1, &np) || !cairn_mul_size(n, k, &nz)) {
        st = cairn_error_set(err, CAIRN_EINVAL, NULL, "problem too large");
        goto done;
    }
    theta = cairn_calloc(np, sizeof(double));
    z = cairn_reallocarray(NULL, nz, sizeof(double));
    r = cairn_reallocarray(NULL, nz, sizeof(double));
    if (!theta || !z || !r) {
        st = cairn_error_set(err, CAIRN_ENOMEM, NULL, "out of memory fitting a linear model");
        goto done;
    }
    problem p = {task, x, y, sample_weight, n, d, k, o.l2, z, r};
    m->l2 = o.l2;
    if (task == CAIRN_LINEAR_REGRESSION) {
        st = ridge(&p, sum_w, theta, err);
        m->n_iter = 1;
        m->converged = true;
    } else if (task == CAIRN_LINEAR_BINARY) {
        st = newton(&p, theta, o.tol * sum_w, o.max_iter, &m->n_iter, &m->converged, err);
    } else {
        st = lbfgs(&p, theta, np, o.tol * sum_w, o.max_iter, &m->n_iter, &m->converged, err);
    }
    if (st != CAIRN_OK)
        goto done;
    for (size_t c = 0; c < k; c++) {
        memcpy(m->weights + c * d, theta + c * (d + 1), d * sizeof(double));
        m->intercept[c] = theta[c * (d + 1) + d];
    }
    if (task == CAIRN_LINEAR_MULTICLASS) {
        /* The softmax ignores a common shift of the intercepts: report them centred. */
        double mean = 0.0;
        for (size_t c = 0; c < k; c++)
            mean += m->intercept[c];
        mean /= (double)k;
        for (size_t c = 0; c < k; c++)
            m->intercept[c] -= mean;
    }
    for (size_t j = 0; j < k * d; j++)
        if (!isfinite(m->weights[j])) {
            st = cairn_error_set(err, CAIRN_EINTERNAL, NULL, "solver produced non-finite weights");
            goto done;
        }
    *out = m;
    m = NULL;
done:
    cairn_linear_free(m);
    cairn_free(theta);
    cairn_free(z);
    cairn_free(r);
    cairn_free(class_w);
    return st;
}

cairn_status cairn_linear_objective(const cairn_linear *m, const double *x, size_t n,
                                    const double *y, const double *sample_weight, double *value,
                                    double *grad, cairn_error *err)
{
    cairn_status st;
    double sum_w, *theta = NULL, *z = NULL, *r = NULL, *g = NULL;
    const size_t d = m->n_features, k = m->n_outputs;
    st = cairn_linear_check_labels(m->task, n, y, sample_weight, (uint32_t)k, &sum_w, err);
    if (st != CAIRN_OK)
        return st;
    st = check_matrix(x, n, d, err);
    if (st != CAIRN_OK)
        return st;
    theta = cairn_calloc(k * (d + 1), sizeof(double));
    z = cairn_calloc(n * k, sizeof(double));
    r = cairn_calloc(n * k, sizeof(double));
    g = cairn_calloc(k * (d + 1), sizeof(double));
    if (!theta || !z || !r || !g) {
        st = cairn_error_set(err, CAIRN_ENOMEM, NULL, "out of memory");
        goto done;
    }
    for (size_t c = 0; c < k; c++) {
        memcpy(theta + c * (d + 1), m->weights + c * d, d * sizeof(double));
        theta[c * (d + 1) + d] = m->intercept[c];
    }
    problem p = {m->task, x, y, sample_weight, n, d, k, m->l2, z, r};
    *value = objective(&p, theta, g);
    if (grad)
        memcpy(grad, g, k * (d + 1) * sizeof(double));
done:
    cairn_free(theta);
    cairn_free(z);
    cairn_free(r);
    cairn_free(g);
    return st;
}

/* ---- prediction ----------------------------------------------------------------- */

void cairn_linear_predict(const cairn_linear *m, const double *x, double *out)
{
    const size_t d = m->n_features, k = m->n_outputs;
    if (m->baseline) {
        memcpy(out, m->intercept, k * sizeof(double));
        return;
    }
    for (size_t c = 0; c < k; c++) {
        const double *w = m->weights + c * d;
        double z = m->intercept[c];
        for (size_t j = 0; j < d; j++)
            z += w[j] * x[j];
        out[c] = z;
    }
    if (m->task == CAIRN_LINEAR_BINARY) {
        out[0] = sigmoid(out[0]);
    } else if (m->task == CAIRN_LINEAR_MULTICLASS) {
        double mx = out[0], sum = 0.0;
        for (size_t c = 1; c < k; c++)
            mx = out[c] > mx ? out[c] : mx;
        for (size_t c = 0; c < k; c++) {
            out[c] = exp(out[c] - mx);
            sum += out[c];
        }
        for (size_t c = 0; c < k; c++)
            out[c] /= sum;
    }
}

/*
 * The batch form runs the single-row code on each row, so a row gets the
 * same bits whether it is served alone or in a batch.
 */
void cairn_linear_predict_batch(const cairn_linear *m, const double *x, size_t n, double *out)
{
    for (size_t i = 0; i < n; i++)
        cairn_linear_predict(m, x + i * m->n_features, out + i * m->n_outputs);
}

/* ---- serialization ------------------------------------------------------------------ */

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_f64(unsigned char *p, double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(u >> (8 * i));
}

static double get_f64(const unsigned char *p)
{
    uint64_t u = 0;
    double v;
    for (int i = 0; i < 8; i++)
        u |= (uint64_t)p[i] << (8 * i);
    memcpy(&v, &u, sizeof v);
    return v;
}

cairn_status cairn_linear_to_bytes(const cairn_linear *m, char **out, size_t *out_len,
                                   cairn_error *err)
{
    const size_t kd = (size_t)m->n_outputs * m->n_features, k = m->n_outputs;
    const size_t len = HEADER_BYTES + 8 * (kd + k);
    unsigned char *b = cairn_malloc(len);
    *out = NULL;
    if (!b)
        return cairn_error_set(err, CAIRN_ENOMEM, NULL, "out of memory serializing a linear model");
    memcpy(b, "CLIN", 4);
    put_u32(b + 4, CAIRN_LINEAR_FORMAT_VERSION);
    put_u32(b + 8, (uint32_t)m->task);
    put_u32(b + 12, (m->baseline ? 1u : 0u) | (m->converged ? 2u : 0u));
    put_u32(b + 16, m->n_features);
    put_u32(b + 20, m->n_outputs);
    put_u32(b + 24, m->n_iter);
    put_u32(b + 28, 0);
    put_f64(b + 32, m->l2);
    for (size_t j = 0; j < kd; j++)
        put_f64(b + HEADER_BYTES + 8 * j, m->weights[j]);
    for (size_t c = 0; c < k; c++)
        put_f64(b + HEADER_BYTES + 8 * (kd + c), m->intercept[c]);
    *out = (char *)b;
    *out_len = len;
    return CAIRN_OK;
}

static cairn_status corrupt(cairn_error *err, size_t at, const char *what)
{
    char where[32];
    snprintf(where, sizeof where, "byte %zu", at);
    return cairn_error_set(err, CAIRN_ECORRUPT, where, "linear model: %s", what);
}

cairn_status cairn_linear_from_bytes(const void *bytes, size_t len, cairn_linear **out,
                                     cairn_error *err)
{
    const unsigned char *b = bytes;
    cairn_linear *m = NULL;
    cairn_status st;
    *out = NULL;
    if (len < HEADER_BYTES)
        return corrupt(err, len, "truncated header");
    if (memcmp(b, "CLIN", 4) != 0)
        return corrupt(err, 0, "bad magic");
    if (get_u32(b + 4) != CAIRN_LINEAR_FORMAT_VERSION)
        return corrupt(err, 4, "unsupported format version");
    uint32_t task = get_u32(b + 8), flags = get_u32(b + 12);
    uint32_t d = get_u32(b + 16), k = get_u32(b + 20), n_iter = get_u32(b + 24);
    double l2 = get_f64(b + 32);
    if (task < CAIRN_LINEAR_BINARY || task > CAIRN_LINEAR_REGRESSION)
        return corrupt(err, 8, "unknown task");
    if (flags & ~3u)
        return corrupt(err, 12, "unknown flags");
    const bool baseline = flags & 1u;
    if (d > CAIRN_LINEAR_MAX_FEATURES || (d == 0 && !baseline))
        return corrupt(err, 16, "feature count out of range");
    if (task == CAIRN_LINEAR_MULTICLASS ? (k < 2 || k > CAIRN_LINEAR_MAX_CLASSES) : k != 1)
        return corrupt(err, 20, "output count inconsistent with the task");
    if ((uint64_t)k * d > CAIRN_LINEAR_MAX_PARAMS)
        return corrupt(err, 16, "too many parameters");
    if (get_u32(b + 28) != 0)
        return corrupt(err, 28, "reserved field not zero");
    if (!isfinite(l2) || l2 < 0.0)
        return corrupt(err, 32, "l2 not finite and non-negative");
    const size_t kd = (size_t)k * d;
    if (len != HEADER_BYTES + 8 * (kd + k))
        return corrupt(err, len, "length does not match the dimensions");
    st = cairn_linear_alloc((cairn_linear_task)task, d, k, &m, err);
    if (st != CAIRN_OK)
        return st;
    m->baseline = baseline;
    m->converged = flags & 2u;
    m->n_iter = n_iter;
    m->l2 = l2;
    double sum = 0.0;
    for (size_t j = 0; j < kd + k; j++) {
        const size_t at = HEADER_BYTES + 8 * j;
        double v = get_f64(b + at);
        if (!isfinite(v)) {
            st = corrupt(err, at, "non-finite parameter");
            goto done;
        }
        if (j < kd) {
            if (baseline && v != 0.0) {
                st = corrupt(err, at, "baseline with non-zero weights");
                goto done;
            }
            m->weights[j] = v;
        } else {
            if (baseline && task != CAIRN_LINEAR_REGRESSION && (v < 0.0 || v > 1.0)) {
                st = corrupt(err, at, "baseline probability outside [0, 1]");
                goto done;
            }
            m->intercept[j - kd] = v;
            sum += v;
        }
    }
    if (baseline && task == CAIRN_LINEAR_MULTICLASS && fabs(sum - 1.0) > 1e-9) {
        st = corrupt(err, HEADER_BYTES + 8 * kd, "baseline class frequencies do not sum to 1");
        goto done;
    }
    *out = m;
    m = NULL;
done:
    cairn_linear_free(m);
    return st;
}
