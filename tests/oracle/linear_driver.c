/*
 * linear_driver.c -- a thin command-line front end to src/learn/linear.c for
 * the oracle test tests/oracle/test_linear_sklearn.py, which compares the
 * fitted weights and predictions with scikit-learn.
 *
 * Reads one case from stdin, whitespace-separated tokens (numbers as
 * Python's repr() writes them, which strtod reads back exactly):
 *   MODE TASK N D K L2 TOL MAX_ITER HAS_WEIGHTS
 *   then N rows of "x_1 .. x_D y [w]"
 * MODE is "fit" (cairn_linear_fit) or "base" (cairn_baseline_fit); TASK is
 * 1 binary, 2 multiclass, 3 regression; K is the class count (multiclass).
 * The model goes through cairn_linear_to_bytes / _from_bytes before it
 * predicts, so the serialized form is what is checked. Writes
 *   n_iter converged
 *   the K' x D weights (one line per output), the K' intercepts (one line),
 *   then N lines of K' predictions
 * with %.17g. Exits 2 on malformed input, 1 when the fit fails (the
 * status name and message on stderr).
 */
#include "learn/linear.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int read_double(double *out)
{
    char tok[128];
    char *end;
    if (scanf("%127s", tok) != 1)
        return 0;
    *out = strtod(tok, &end);
    return *end == '\0';
}

int main(void)
{
    char mode[16];
    int task;
    unsigned long long n, d, k, max_iter;
    int has_w;
    double l2, tol;
    int rc = 2;
    double *x = NULL, *y = NULL, *w = NULL, *pred = NULL;
    cairn_linear *m = NULL, *m2 = NULL;
    char *bytes = NULL;
    size_t len = 0;
    cairn_error err = {0};
    if (scanf("%15s %d %llu %llu %llu", mode, &task, &n, &d, &k) != 5 || !read_double(&l2) ||
        !read_double(&tol) || scanf("%llu %d", &max_iter, &has_w) != 2 || n == 0 ||
        n > 10000000 || d > 100000)
        goto done;
    x = calloc(n * (d ? d : 1), sizeof(double));
    y = calloc(n, sizeof(double));
    w = calloc(n, sizeof(double));
    if (!x || !y || !w)
        goto done;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < d; j++)
            if (!read_double(&x[i * d + j]))
                goto done;
        if (!read_double(&y[i]) || (has_w && !read_double(&w[i])))
            goto done;
    }
    cairn_status st;
    if (strcmp(mode, "base") == 0) {
        st = cairn_baseline_fit((cairn_linear_task)task, n, d, y, has_w ? w : NULL, (uint32_t)k,
                                &m, &err);
    } else {
        cairn_linear_opts o;
        cairn_linear_opts_init(&o);
        o.l2 = l2;
        o.tol = tol;
        o.max_iter = (uint32_t)max_iter;
        st = cairn_linear_fit((cairn_linear_task)task, x, n, d, y, has_w ? w : NULL, (uint32_t)k,
                              &o, &m, &err);
    }
    if (st == CAIRN_OK)
        st = cairn_linear_to_bytes(m, &bytes, &len, &err);
    if (st == CAIRN_OK)
        st = cairn_linear_from_bytes(bytes, len, &m2, &err);
    if (st != CAIRN_OK) {
        fprintf(stderr, "%s: %s\n", cairn_status_name(st), err.msg);
        rc = 1;
        goto done;
    }
    size_t kk = cairn_linear_n_outputs(m2);
    pred = calloc(n * kk, sizeof(double));
    if (!pred)
        goto done;
    cairn_linear_predict_batch(m2, x, n, pred);
    printf("%u %d\n", (unsigned)m2->n_iter, m2->converged ? 1 : 0);
    for (size_t c = 0; c < kk; c++) {
        for (size_t j = 0; j < d; j++)
            printf("%s%.17g", j ? " " : "", m2->weights[c * d + j]);
        printf("\n");
    }
    for (size_t c = 0; c < kk; c++)
        printf("%s%.17g", c ? " " : "", m2->intercept[c]);
    printf("\n");
    for (size_t i = 0; i < n; i++) {
        for (size_t c = 0; c < kk; c++)
            printf("%s%.17g", c ? " " : "", pred[i * kk + c]);
        printf("\n");
    }
    rc = 0;
done:
    if (rc == 2)
        fprintf(stderr, "linear_driver: malformed input\n");
    free(x);
    free(y);
    free(w);
    free(pred);
    cairn_free(bytes);
    cairn_linear_free(m);
    cairn_linear_free(m2);
    return rc;
}
