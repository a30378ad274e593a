/*
 * test_linear.c -- the linear and baseline learners (src/learn).
 *
 * The objective's gradient is checked against central finite differences
 * for all three tasks with sample weights; a 1-D logistic problem is
 * checked against its stationarity equation w = 2 sigmoid(-w) solved here
 * by bisection; ridge against its closed form written out by hand for d = 1
 * and against a zero gradient; separable data stays finite; fits are
 * deterministic to the byte; the byte format round-trips and rejects every
 * truncation, non-finite values and bad headers; every allocation failure
 * gives CAIRN_ENOMEM; NaN input gives CAIRN_EINVAL. The scikit-learn
 * comparison lives in tests/oracle/test_linear_sklearn.py. With
 * CAIRN_WRITE_LINEAR_CORPUS=DIR set, the fuzz seeds are written there.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "learn/linear.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state = 88172645463325252ull;
static double urand(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}
static double nrand(void)
{
    return sqrt(-2.0 * log(urand() + 1e-300)) * cos(6.283185307179586 * urand());
}

/* Random data: x n x d, labels for the task. */
static void make_data(cairn_linear_task task, size_t n, size_t d, uint32_t k, double *x, double *y)
{
    for (size_t i = 0; i < n; i++) {
        double z = 0.0;
        for (size_t j = 0; j < d; j++) {
            x[i * d + j] = nrand();
            z += x[i * d + j] * (double)(j + 1) * 0.5;
        }
        if (task == CAIRN_LINEAR_BINARY)
            y[i] = urand() < 1.0 / (1.0 + exp(-z)) ? 1.0 : 0.0;
        else if (task == CAIRN_LINEAR_MULTICLASS)
            y[i] = (double)(i % k);
        else
            y[i] = z + 2.0 + nrand();
    }
}

static void test_gradient_fd(void **state)
{
    (void)state;
    enum { N = 40, D = 4 };
    double x[N * D], y[N], w[N];
    for (int t = 1; t <= 3; t++) {
        uint32_t k = t == CAIRN_LINEAR_MULTICLASS ? 3 : 1;
        make_data((cairn_linear_task)t, N, D, 3, x, y);
        for (int i = 0; i < N; i++)
            w[i] = 0.5 + urand();
        cairn_linear *m = NULL;
        assert_int_equal(cairn_linear_alloc((cairn_linear_task)t, D, k, &m, NULL), CAIRN_OK);
        m->l2 = 0.7;
        for (size_t j = 0; j < k * D; j++)
            m->weights[j] = nrand() * 0.5;
        for (size_t c = 0; c < k; c++)
            m->intercept[c] = nrand() * 0.5;
        double f, g[3 * (D + 1)];
        assert_int_equal(cairn_linear_objective(m, x, N, y, w, &f, g, NULL), CAIRN_OK);
        for (size_t c = 0; c < k; c++)
            for (size_t j = 0; j <= D; j++) {
                double *p = j < D ? &m->weights[c * D + j] : &m->intercept[c];
                const double h = 1e-5, old = *p;
                double fp, fm;
                *p = old + h;
                assert_int_equal(cairn_linear_objective(m, x, N, y, w, &fp, NULL, NULL), CAIRN_OK);
                *p = old - h;
                assert_int_equal(cairn_linear_objective(m, x, N, y, w, &fm, NULL, NULL), CAIRN_OK);
                *p = old;
                double fd = (fp - fm) / (2 * h);
                assert_true(fabs(fd - g[c * (D + 1) + j]) <= 1e-5 * fmax(1.0, fabs(fd)));
            }
        cairn_linear_free(m);
    }
}

static double sig(double z)
{
    return 1.0 / (1.0 + exp(-z));
}

/* x = {-1, 1}, y = {0, 1}, l2 = 1: by symmetry b = 0 and w = 2 sigmoid(-w). */
static void test_logistic_known(void **state)
{
    (void)state;
    double x[2] = {-1, 1}, y[2] = {0, 1};
    cairn_linear_opts o;
    cairn_linear_opts_init(&o);
    o.l2 = 1.0;
    o.tol = 1e-12;
    cairn_linear *m = NULL;
    assert_int_equal(cairn_linear_fit(CAIRN_LINEAR_BINARY, x, 2, 1, y, NULL, 0, &o, &m, NULL),
                     CAIRN_OK);
    double lo = 0, hi = 2;
    for (int i = 0; i < 200; i++) {
        double mid = 0.5 * (lo + hi);
        if (mid - 2 * sig(-mid) < 0)
            lo = mid;
        else
            hi = mid;
    }
    assert_true(m->converged);
    assert_true(fabs(m->weights[0] - lo) < 1e-9);
    assert_true(fabs(m->intercept[0]) < 1e-9);
    double p;
    cairn_linear_predict(m, &x[1], &p);
    assert_true(fabs(p - sig(lo)) < 1e-9);
    cairn_linear_free(m);
}

/* d = 1 ridge by hand: w = Sxy / (Sxx + alpha), b = ym - w xm. */
static void test_ridge_known(void **state)
{
    (void)state;
    enum { N = 25 };
    double x[N], y[N], xm = 0, ym = 0, sxx = 0, sxy = 0;
    for (int i = 0; i < N; i++) {
        x[i] = nrand();
        y[i] = 3 * x[i] - 1 + nrand();
        xm += x[i] / N;
        ym += y[i] / N;
    }
    for (int i = 0; i < N; i++) {
        sxx += (x[i] - xm) * (x[i] - xm);
        sxy += (x[i] - xm) * (y[i] - ym);
    }
    cairn_linear_opts o;
    cairn_linear_opts_init(&o);
    o.l2 = 2.5;
    cairn_linear *m = NULL;
    assert_int_equal(cairn_linear_fit(CAIRN_LINEAR_REGRESSION, x, N, 1, y, NULL, 0, &o, &m, NULL),
                     CAIRN_OK);
    double w = sxy / (sxx + 2.5);
    assert_true(fabs(m->weights[0] - w) < 1e-12);
    assert_true(fabs(m->intercept[0] - (ym - w * xm)) < 1e-12);
    cairn_linear_free(m);
}

/* At every fitted optimum the gradient vanishes (relative to the data scale). */
static void test_gradient_zero_at_fit(void **state)
{
    (void)state;
    enum { N = 200, D = 6 };
    static double x[N * D], y[N], w[N];
    for (int t = 1; t <= 3; t++) {
        uint32_t k = t == CAIRN_LINEAR_MULTICLASS ? 3 : 1;
        make_data((cairn_linear_task)t, N, D, 3, x, y);
        for (int i = 0; i < N; i++)
            w[i] = 0.5 + urand();
        cairn_linear_opts o;
        cairn_linear_opts_init(&o);
        o.l2 = 0.3;
        o.tol = 1e-10;
        cairn_linear *m = NULL;
        assert_int_equal(cairn_linear_fit((cairn_linear_task)t, x, N, D, y, w, k, &o, &m, NULL),
                         CAIRN_OK);
        assert_true(m->converged);
        double f, g[3 * (D + 1)];
        assert_int_equal(cairn_linear_objective(m, x, N, y, w, &f, g, NULL), CAIRN_OK);
        for (size_t j = 0; j < k * (D + 1); j++)
            assert_true(fabs(g[j]) < 1e-6);
        /* Batch and single-row predictions agree bit for bit; probabilities sum to 1. */
        double pb[N * 3], ps[3];
        cairn_linear_predict_batch(m, x, N, pb);
        for (size_t i = 0; i < N; i++) {
            cairn_linear_predict(m, x + i * D, ps);
            assert_memory_equal(ps, pb + i * k, k * sizeof(double));
            if (k == 3)
                assert_true(fabs(ps[0] + ps[1] + ps[2] - 1.0) < 1e-12);
        }
        cairn_linear_free(m);
    }
}

static void test_separable(void **state)
{
    (void)state;
    enum { N = 100, D = 2 };
    double x[N * D], y[N], norm_prev = INFINITY;
    for (int i = 0; i < N; i++) {
        x[i * D] = nrand();
        x[i * D + 1] = nrand();
        y[i] = x[i * D] + x[i * D + 1] > 0 ? 1.0 : 0.0;
    }
    const double l2s[] = {0.01, 0.1, 1.0};
    for (int t = 0; t < 3; t++) {
        cairn_linear_opts o;
        cairn_linear_opts_init(&o);
        o.l2 = l2s[t];
        cairn_linear *m = NULL;
        assert_int_equal(cairn_linear_fit(CAIRN_LINEAR_BINARY, x, N, D, y, NULL, 0, &o, &m, NULL),
                         CAIRN_OK);
        assert_true(m->converged);
        double norm = hypot(m->weights[0], m->weights[1]);
        assert_true(isfinite(norm) && norm < norm_prev);
        norm_prev = norm;
        cairn_linear_free(m);
    }
}

static void test_determinism_and_roundtrip(void **state)
{
    (void)state;
    enum { N = 150, D = 5 };
    static double x[N * D], y[N];
    for (int t = 1; t <= 3; t++) {
        uint32_t k = t == CAIRN_LINEAR_MULTICLASS ? 4 : 1;
        make_data((cairn_linear_task)t, N, D, 4, x, y);
        cairn_linear *a = NULL, *b = NULL, *c = NULL;
        char *ba = NULL, *bb = NULL, *bc = NULL;
        size_t la, lb, lc;
        assert_int_equal(cairn_linear_fit((cairn_linear_task)t, x, N, D, y, NULL, k, NULL, &a, NULL), 0);
        assert_int_equal(cairn_linear_fit((cairn_linear_task)t, x, N, D, y, NULL, k, NULL, &b, NULL), 0);
        assert_int_equal(cairn_linear_to_bytes(a, &ba, &la, NULL), 0);
        assert_int_equal(cairn_linear_to_bytes(b, &bb, &lb, NULL), 0);
        assert_int_equal(la, lb);
        assert_memory_equal(ba, bb, la);
        cairn_linear_free(b);
        b = NULL;
        assert_int_equal(cairn_linear_from_bytes(ba, la, &c, NULL), 0);
        assert_int_equal(cairn_linear_to_bytes(c, &bc, &lc, NULL), 0);
        assert_memory_equal(ba, bc, la);
        /* Every truncation is refused. */
        for (size_t cut = 0; cut < la; cut++) {
            cairn_linear *bad = (cairn_linear *)1;
            assert_int_equal(cairn_linear_from_bytes(ba, cut, &bad, NULL), CAIRN_ECORRUPT);
            assert_null(bad);
        }
        /* Non-finite parameters and bad header fields are refused. */
        const double bads[] = {NAN, INFINITY, -INFINITY};
        for (int i = 0; i < 3; i++) {
            memcpy(bc, ba, la);
            memcpy(bc + 40, &bads[i], 8);
            assert_int_equal(cairn_linear_from_bytes(bc, la, &b, NULL),
                             CAIRN_ECORRUPT);
            memcpy(bc, ba, la);
            memcpy(bc + la - 8, &bads[i], 8);
            assert_int_equal(cairn_linear_from_bytes(bc, la, &b, NULL), CAIRN_ECORRUPT);
        }
        const size_t offs[] = {0, 4, 8, 12, 20, 28};
        for (int i = 0; i < 6; i++) {
            memcpy(bc, ba, la);
            bc[offs[i]] ^= 0x40;
            assert_int_equal(cairn_linear_from_bytes(bc, la, &b, NULL), CAIRN_ECORRUPT);
        }
        const char *dir = getenv("CAIRN_WRITE_LINEAR_CORPUS");
        if (dir) {
            char path[4096];
            snprintf(path, sizeof path, "%s/model_task%d.bin", dir, t);
            FILE *f = fopen(path, "wb");
            if (f) {
                fwrite(ba, 1, la, f);
                fclose(f);
            }
        }
        cairn_linear_free(a);
        cairn_linear_free(c);
        cairn_free(ba);
        cairn_free(bb);
        cairn_free(bc);
    }
}

static void test_baseline(void **state)
{
    (void)state;
    double y[5] = {1, 0, 1, 1, 0}, w[5] = {1, 2, 1, 1, 4};
    cairn_linear *m = NULL;
    double out[3];
    assert_int_equal(cairn_baseline_fit(CAIRN_LINEAR_BINARY, 5, 3, y, w, 0, &m, NULL), 0);
    cairn_linear_predict(m, (double[3]){9, 9, 9}, out);
    assert_true(fabs(out[0] - 3.0 / 9.0) < 1e-15);
    cairn_linear_free(m);
    double yc[5] = {0, 2, 2, 1, 2};
    assert_int_equal(cairn_baseline_fit(CAIRN_LINEAR_MULTICLASS, 5, 0, yc, NULL, 3, &m, NULL), 0);
    cairn_linear_predict(m, NULL, out);
    assert_true(fabs(out[0] - 0.2) < 1e-15 && fabs(out[1] - 0.2) < 1e-15 && fabs(out[2] - 0.6) < 1e-15);
    char *b = NULL;
    size_t len;
    assert_int_equal(cairn_linear_to_bytes(m, &b, &len, NULL), 0);
    cairn_linear_free(m);
    assert_int_equal(cairn_linear_from_bytes(b, len, &m, NULL), 0);
    cairn_linear_free(m);
    const char *dir = getenv("CAIRN_WRITE_LINEAR_CORPUS");
    if (dir) {
        char path[4096];
        snprintf(path, sizeof path, "%s/baseline_multiclass.bin", dir);
        FILE *f = fopen(path, "wb");
        if (f) {
            fwrite(b, 1, len, f);
            fclose(f);
        }
    }
    cairn_free(b);
    double yr[4] = {1, 2, 3, 10};
    assert_int_equal(cairn_baseline_fit(CAIRN_LINEAR_REGRESSION, 4, 2, yr, NULL, 0, &m, NULL), 0);
    cairn_linear_predict(m, (double[2]){0, 0}, out);
    assert_true(fabs(out[0] - 4.0) < 1e-15);
    cairn_linear_free(m);
}

static void test_invalid_input(void **state)
{
    (void)state;
    double x[6] = {1, 2, 3, NAN, 5, 6}, y[3] = {0, 1, 0};
    cairn_linear *m = (cairn_linear *)1;
    assert_int_equal(cairn_linear_fit(CAIRN_LINEAR_BINARY, x, 3, 2, y, NULL, 0, NULL, &m, NULL),
                     CAIRN_EINVAL);
    assert_null(m);
    x[3] = 4;
    y[1] = 2;
    assert_int_equal(cairn_linear_fit(CAIRN_LINEAR_BINARY, x, 3, 2, y, NULL, 0, NULL, &m, NULL),
                     CAIRN_EINVAL);
    y[1] = 0;
    assert_int_equal(cairn_linear_fit(CAIRN_LINEAR_BINARY, x, 3, 2, y, NULL, 0, NULL, &m, NULL),
                     CAIRN_EINPUT);
    y[1] = NAN;
    assert_int_equal(cairn_baseline_fit(CAIRN_LINEAR_REGRESSION, 3, 2, y, NULL, 0, &m, NULL),
                     CAIRN_EINVAL);
}

static void test_enomem(void **state)
{
    (void)state;
    enum { N = 30, D = 3 };
    double x[N * D], y[N];
    for (int t = 1; t <= 3; t++) {
        uint32_t k = t == CAIRN_LINEAR_MULTICLASS ? 3 : 1;
        make_data((cairn_linear_task)t, N, D, 3, x, y);
        for (long fail = 1;; fail++) {
            cairn_linear *m = (cairn_linear *)1, *m2 = NULL, *b = NULL;
            char *bytes = NULL;
            size_t len;
            cairn_alloc_fail_after(fail, false);
            cairn_status st = cairn_linear_fit((cairn_linear_task)t, x, N, D, y, NULL, k, NULL, &m, NULL);
            if (st == CAIRN_OK)
                st = cairn_linear_to_bytes(m, &bytes, &len, NULL);
            if (st == CAIRN_OK)
                st = cairn_linear_from_bytes(bytes, len, &m2, NULL);
            if (st == CAIRN_OK)
                st = cairn_baseline_fit((cairn_linear_task)t, N, D, y, NULL, k, &b, NULL);
            cairn_alloc_fail_after(0, false);
            if (m == (cairn_linear *)1)
                m = NULL;
            cairn_linear_free(m);
            cairn_linear_free(m2);
            cairn_linear_free(b);
            cairn_free(bytes);
            if (st == CAIRN_OK)
                break;
            assert_int_equal(st, CAIRN_ENOMEM);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradient_fd),          cmocka_unit_test(test_logistic_known),
        cmocka_unit_test(test_ridge_known),          cmocka_unit_test(test_gradient_zero_at_fit),
        cmocka_unit_test(test_separable),            cmocka_unit_test(test_determinism_and_roundtrip),
        cmocka_unit_test(test_baseline),             cmocka_unit_test(test_invalid_input),
        cmocka_unit_test(test_enomem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
