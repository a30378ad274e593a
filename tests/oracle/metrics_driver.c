/*
 * metrics_driver.c -- a thin command-line front end to the metrics of
 * src/eval for the oracle test tests/oracle/test_metrics_sklearn.py, which
 * compares its output with scikit-learn, scipy and numpy.
 *
 * Reads cases from stdin, whitespace-separated tokens, numbers as Python's
 * repr() writes them (strtod reads them back exactly):
 *   bin N T NBINS   then N pairs "score y"     (binary metrics)
 *   reg N           then N pairs "pred y"      (regression metrics)
 *   mc N K          then N rows "p_0 .. p_K-1 y" (multiclass metrics)
 *   boot N B SEED   then N pairs "score y"     (bootstrap of AUC)
 * and writes one line per case of "name=value" tokens, values with %.17g
 * (nan/inf as printf writes them). Exits 2 on malformed input.
 */
#include "eval/eval.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int read_size(size_t *out)
{
    unsigned long long v;
    if (scanf("%llu", &v) != 1)
        return 0;
    *out = (size_t)v;
    return 1;
}

static int read_double(double *out)
{
    char tok[128];
    char *end;
    if (scanf("%127s", tok) != 1)
        return 0;
    *out = strtod(tok, &end);
    return *end == '\0';
}

static void put(const char *name, double v)
{
    printf(" %s=%.17g", name, v);
}

static int run_bin(void)
{
    size_t n, nbins;
    double t;
    if (!read_size(&n) || !read_double(&t) || !read_size(&nbins))
        return 0;
    double *s = calloc(n + 1, sizeof(double));
    uint8_t *y = calloc(n + 1, 1);
    uint64_t *cnt = calloc(nbins + 1, sizeof(uint64_t));
    double *mp = calloc(nbins + 1, sizeof(double)), *rate = calloc(nbins + 1, sizeof(double));
    int ok = s && y && cnt && mp && rate;
    for (size_t i = 0; ok && i < n; i++) {
        size_t yi = 0;
        ok = read_double(&s[i]) && read_size(&yi);
        y[i] = (uint8_t)yi;
    }
    if (ok) {
        printf("bin");
        put("auc", cairn_metric_auc(s, y, n));
        put("pr_auc", cairn_metric_pr_auc(s, y, n));
        put("logloss", cairn_metric_logloss(s, y, n));
        put("brier", cairn_metric_brier(s, y, n));
        cairn_binary_at b = cairn_metric_binary_at(s, y, n, t);
        put("accuracy", b.accuracy);
        put("precision", b.precision);
        put("recall", b.recall);
        put("f1", b.f1);
        printf(" tp=%" PRIu64 " fp=%" PRIu64 " tn=%" PRIu64 " fn=%" PRIu64, b.tp, b.fp, b.tn,
               b.fn);
        put("max_f1_threshold", cairn_threshold_max_f1(s, y, n));
        put("ece", cairn_metric_ece(s, y, n, nbins, cnt, mp, rate));
        for (size_t i = 0; i < nbins; i++)
            printf(" count%zu=%" PRIu64, i, cnt[i]);
        printf("\n");
    }
    free(s);
    free(y);
    free(cnt);
    free(mp);
    free(rate);
    return ok;
}

static int run_reg(void)
{
    size_t n;
    if (!read_size(&n))
        return 0;
    double *p = calloc(n + 1, sizeof(double)), *y = calloc(n + 1, sizeof(double));
    int ok = p && y;
    for (size_t i = 0; ok && i < n; i++)
        ok = read_double(&p[i]) && read_double(&y[i]);
    if (ok) {
        printf("reg");
        put("rmse", cairn_metric_rmse(p, y, n));
        put("mae", cairn_metric_mae(p, y, n));
        put("r2", cairn_metric_r2(p, y, n));
        put("mape", cairn_metric_mape(p, y, n));
        put("spearman", cairn_metric_spearman(p, y, n));
        printf("\n");
    }
    free(p);
    free(y);
    return ok;
}

static int run_mc(void)
{
    size_t n, k;
    if (!read_size(&n) || !read_size(&k) || k > 1000 || n > 100000000)
        return 0;
    double *p = calloc(n * k + 1, sizeof(double));
    uint32_t *y = calloc(n + 1, sizeof(uint32_t));
    int ok = p && y;
    for (size_t i = 0; ok && i < n; i++) {
        for (size_t j = 0; ok && j < k; j++)
            ok = read_double(&p[i * k + j]);
        size_t yi = 0;
        ok = ok && read_size(&yi);
        y[i] = (uint32_t)yi;
    }
    if (ok) {
        printf("mc");
        put("accuracy", cairn_metric_mc_accuracy(p, y, n, k));
        put("macro_f1", cairn_metric_mc_macro_f1(p, y, n, k));
        put("logloss", cairn_metric_mc_logloss(p, y, n, k));
        printf("\n");
    }
    free(p);
    free(y);
    return ok;
}

static int run_boot(void)
{
    size_t n, nboot;
    unsigned long long seed;
    if (!read_size(&n) || !read_size(&nboot) || scanf("%llu", &seed) != 1)
        return 0;
    double *s = calloc(n + 1, sizeof(double));
    uint8_t *y = calloc(n + 1, 1);
    int ok = s && y;
    for (size_t i = 0; ok && i < n; i++) {
        size_t yi = 0;
        ok = read_double(&s[i]) && read_size(&yi);
        y[i] = (uint8_t)yi;
    }
    if (ok) {
        cairn_binary_sample ctx = {.score = s, .y = y};
        cairn_interval iv;
        cairn_error err = {0};
        if (cairn_bootstrap(cairn_resample_auc, &ctx, n, nboot, (uint64_t)seed, &iv, &err) !=
            CAIRN_OK) {
            fprintf(stderr, "bootstrap: %s\n", err.msg);
            ok = 0;
        } else {
            printf("boot");
            put("estimate", iv.estimate);
            put("lo", iv.lo);
            put("hi", iv.hi);
            printf(" n_valid=%zu\n", iv.n_valid);
        }
    }
    free(s);
    free(y);
    return ok;
}

int main(void)
{
    char kind[16];
    while (scanf("%15s", kind) == 1) {
        int ok = 0;
        if (strcmp(kind, "bin") == 0)
            ok = run_bin();
        else if (strcmp(kind, "reg") == 0)
            ok = run_reg();
        else if (strcmp(kind, "mc") == 0)
            ok = run_mc();
        else if (strcmp(kind, "boot") == 0)
            ok = run_boot();
        if (!ok) {
            fprintf(stderr, "metrics_driver: malformed case '%s'\n", kind);
            return 2;
        }
    }
    return 0;
}
