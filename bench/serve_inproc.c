/*
 * serve_inproc.c -- in-process scoring: cairn's tree evaluator against
 * XGBoost's own CPU predictor on one and the same 200-tree model, and the
 * whole public scoring path on a real artifact for reference.
 *
 *   serve_inproc [ARTIFACT CSV]
 *
 * The equal model: the program generates a numeric binary table (50,000
 * training rows, 20 float features, about 3% missing), trains one XGBoost
 * booster through the C API (200 rounds, depth 6, learning rate 0.1, hist,
 * no early stopping, one thread), saves it as XGBoost JSON and converts that JSON with
 * cairn_trees_from_xgboost_json, the importer `cairn train` itself uses.
 * Both sides then score the same 10,000 fresh rows; before any timing the
 * program checks that their probabilities agree to 1e-6 (exit 1 otherwise).
 * XGBoost predicts with nthread=1 through XGBoosterPredictFromDense (its
 * in-place path, no DMatrix per call; the array-interface strings are built
 * before timing), cairn with cairn_trees_predict / cairn_trees_predict_batch
 * (single-threaded by design). Every call is timed on its own with
 * CLOCK_MONOTONIC (the clock read, ~20 ns, is part of every sample on both
 * sides); passes alternate between the two sides so drifts of the machine
 * hit both alike.
 *
 * With ARTIFACT (written by `cairn export`) and CSV (rows with the model's
 * input columns, e.g. the table it was trained on), it also times
 * cairn_model_predict -- contract validation, transform and trees, what a
 * server request costs before HTTP -- and cairn_model_predict_batch on one
 * thread. CSV cells are read as embed.c reads its arguments (empty = null,
 * true/false = boolean, a full number = number, else a string); quoted
 * cells are not supported (cairn-synth writes none).
 *
 * Output: plain text, latencies in ns, throughput in rows/s, and the ratios.
 * Exit: 0 done, 1 the predictions differ or a row is refused, 2 setup error.
 *
 * Built by bench/serve.sh against a build tree's libcairn.a; it includes
 * src/ headers (the tree format is internal, not API).
 */
#include "cairn.h"
#include "learn/gbdt.h"

#include <xgboost/c_api.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define N_FEATURES 20
#define N_TRAIN 50000
#define N_TEST 10000
#define ROUNDS 200
#define PASSES 5          /* timed passes over the test rows, per side */

/* ---- small helpers --------------------------------------------------------- */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* splitmix64: deterministic data, no libc rand(). */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double rng_unit(uint64_t *s)
{
    return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

typedef struct stats {
    double median_ns, p99_ns, mean_ns;
} stats;

/* Sorts v in place. */
static stats stats_of(uint64_t *v, size_t n)
{
    stats s = {0};
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += (double)v[i];
    qsort(v, n, sizeof *v, cmp_u64);
    s.median_ns = (double)v[n / 2];
    s.p99_ns = (double)v[(size_t)(0.99 * (double)(n - 1))];
    s.mean_ns = sum / (double)n;
    return s;
}

static double median_of(double *v, size_t n)
{
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && v[j - 1] > v[j]; j--) {
            double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void xgb_fail(const char *what)
{
    fprintf(stderr, "serve_inproc: error: %s: %s\n", what, XGBGetLastError());
    exit(2);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "serve_inproc: error: out of memory\n");
        exit(2);
    }
    return p;
}

/*
 * n rows of N_FEATURES floats (NaN = missing) and a 0/1 label drawn from a
 * nonlinear logit, so the trees use all their depth. Values are floats, so
 * the double copy cairn reads holds exactly the values XGBoost reads.
 */
static void make_rows(uint64_t *seed, size_t n, float *x, float *y)
{
    for (size_t r = 0; r < n; r++) {
        float *row = x + r * N_FEATURES;
        for (int j = 0; j < N_FEATURES; j++) {
            double u = rng_unit(seed);
            /* features 15..19 are small integer codes, the rest continuous */
            row[j] = j >= 15 ? (float)floor(u * 12) : (float)(u * 4 - 2);
            if (rng_unit(seed) < 0.03)
                row[j] = NAN;
        }
        double a[N_FEATURES];
        for (int j = 0; j < N_FEATURES; j++)
            a[j] = isnan(row[j]) ? 0 : row[j];
        double logit = 1.2 * a[0] - 0.8 * a[1] * a[2] + sin(2 * a[3]) + 0.5 * a[4] * a[4] -
                       1.0 + (a[15] > 6 ? 0.9 : -0.3) + 0.3 * a[16] * (a[5] > 0) +
                       0.6 * tanh(a[6] + a[7]) - 0.4 * fabs(a[8]);
        double p = 1 / (1 + exp(-logit));
        y[r] = rng_unit(seed) < p ? 1.0f : 0.0f;
    }
}

/* ---- the equal model ------------------------------------------------------------ */

static BoosterHandle train_xgboost(const float *x, const float *y)
{
    DMatrixHandle d = NULL;
    BoosterHandle b = NULL;
    if (XGDMatrixCreateFromMat(x, N_TRAIN, N_FEATURES, NAN, &d) != 0)
        xgb_fail("XGDMatrixCreateFromMat");
    if (XGDMatrixSetFloatInfo(d, "label", y, N_TRAIN) != 0)
        xgb_fail("XGDMatrixSetFloatInfo");
    if (XGBoosterCreate(&d, 1, &b) != 0)
        xgb_fail("XGBoosterCreate");
    const char *params[][2] = {
        {"objective", "binary:logistic"}, {"max_depth", "6"}, {"eta", "0.1"},
        {"tree_method", "hist"}, {"max_bin", "256"}, {"nthread", "1"}, {"seed", "1"},
    };
    for (size_t i = 0; i < sizeof params / sizeof params[0]; i++)
        if (XGBoosterSetParam(b, params[i][0], params[i][1]) != 0)
            xgb_fail("XGBoosterSetParam");
    for (int r = 0; r < ROUNDS; r++)
        if (XGBoosterUpdateOneIter(b, r, d) != 0)
            xgb_fail("XGBoosterUpdateOneIter");
    XGDMatrixFree(d);
    /* Scoring is timed on one thread, as cairn scores a row. */
    if (XGBoosterSetParam(b, "nthread", "1") != 0)
        xgb_fail("XGBoosterSetParam nthread");
    return b;
}

static cairn_trees *convert(BoosterHandle b)
{
    bst_ulong len = 0;
    const char *json = NULL;
    if (XGBoosterSaveModelToBuffer(b, "{\"format\": \"json\"}", &len, &json) != 0)
        xgb_fail("XGBoosterSaveModelToBuffer");
    cairn_trees *t = NULL;
    cairn_error err = {0};
    if (cairn_trees_from_xgboost_json(json, (size_t)len, CAIRN_TASK_BINARY, N_FEATURES, &t,
                                      &err) != CAIRN_OK) {
        fprintf(stderr, "serve_inproc: error: cairn_trees_from_xgboost_json: %s (%s)\n", err.msg,
                err.where);
        exit(2);
    }
    return t;
}

static const char XGB_CONFIG[] = "{\"type\": 0, \"training\": false, \"iteration_begin\": 0, "
                                 "\"iteration_end\": 0, \"strict_shape\": false, "
                                 "\"cache_id\": 0, \"missing\": NaN}";

/* The __array_interface__ JSON XGBoost reads n rows of x from. */
static void array_interface(char *out, size_t cap, const float *x, size_t n)
{
    snprintf(out, cap,
             "{\"data\": [%llu, true], \"shape\": [%zu, %d], \"typestr\": \"<f4\", "
             "\"version\": 3}",
             (unsigned long long)(uintptr_t)x, n, N_FEATURES);
}

static const float *xgb_predict(BoosterHandle b, const char *ai, size_t n)
{
    const bst_ulong *shape = NULL;
    bst_ulong dim = 0;
    const float *res = NULL;
    if (XGBoosterPredictFromDense(b, ai, XGB_CONFIG, NULL, &shape, &dim, &res) != 0)
        xgb_fail("XGBoosterPredictFromDense");
    bst_ulong total = 1;
    for (bst_ulong i = 0; i < dim; i++)
        total *= shape[i];
    if (total != n) {
        fprintf(stderr, "serve_inproc: error: XGBoost returned %llu values for %zu rows\n",
                (unsigned long long)total, n);
        exit(2);
    }
    return res;
}

/* ---- the public path on a real artifact --------------------------------------- */

typedef struct csv_rows {
    size_t n_rows, n_inputs;
    char **lines;          /* each row's line, split in place */
    cairn_field *fields;   /* n_rows x n_inputs */
} csv_rows;

static void read_value(char *text, cairn_field *f)
{
    char *end = NULL;
    if (!*text) {
        f->kind = CAIRN_VALUE_NULL;
    } else if (!strcmp(text, "true") || !strcmp(text, "false")) {
        f->kind = CAIRN_VALUE_BOOL;
        f->b = text[0] == 't';
    } else if ((f->num = strtod(text, &end), *end == '\0')) {
        f->kind = CAIRN_VALUE_NUMBER;
    } else {
        f->kind = CAIRN_VALUE_STRING;
        f->str = text;
        f->str_len = strlen(text);
    }
}

/* Reads up to max_rows rows of the model's inputs from a header-first CSV. */
static void csv_rows_load(const char *path, const cairn_model *m, size_t max_rows, csv_rows *out)
{
    cairn_model_meta meta;
    cairn_model_get_meta(m, &meta);
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "serve_inproc: error: cannot open %s\n", path);
        exit(2);
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    if ((len = getline(&line, &cap, f)) <= 0) {
        fprintf(stderr, "serve_inproc: error: %s is empty\n", path);
        exit(2);
    }
    line[strcspn(line, "\r\n")] = '\0';
    /* col_of[c]: the input index of CSV column c, or -1. */
    int col_of[256];
    int n_cols = 0;
    size_t found = 0;
    for (char *tok = strtok(line, ","); tok && n_cols < 256; tok = strtok(NULL, ",")) {
        col_of[n_cols] = -1;
        for (size_t i = 0; i < meta.n_inputs; i++)
            if (!strcmp(tok, cairn_model_input_name(m, i))) {
                col_of[n_cols] = (int)i;
                found++;
            }
        n_cols++;
    }
    if (found != meta.n_inputs) {
        fprintf(stderr, "serve_inproc: error: %s lacks %zu of the model's inputs\n", path,
                meta.n_inputs - found);
        exit(2);
    }
    out->n_inputs = meta.n_inputs;
    out->lines = xmalloc(max_rows * sizeof *out->lines);
    out->fields = xmalloc(max_rows * meta.n_inputs * sizeof *out->fields);
    out->n_rows = 0;
    while (out->n_rows < max_rows && (len = getline(&line, &cap, f)) > 0) {
        line[strcspn(line, "\r\n")] = '\0';
        char *copy = xmalloc((size_t)len + 1);
        memcpy(copy, line, (size_t)len + 1);
        cairn_field *row = out->fields + out->n_rows * meta.n_inputs;
        char *p = copy;
        for (int c = 0; c < n_cols; c++) {
            char *comma = p ? strchr(p, ',') : NULL;
            if (comma)
                *comma = '\0';
            if (col_of[c] >= 0) {
                cairn_field *fl = row + col_of[c];
                memset(fl, 0, sizeof *fl);
                fl->name = cairn_model_input_name(m, (size_t)col_of[c]);
                read_value(p ? p : (char *)"", fl);
            }
            p = comma ? comma + 1 : NULL;
        }
        out->lines[out->n_rows++] = copy;
    }
    free(line);
    fclose(f);
}

static void csv_rows_reset(csv_rows *r)
{
    for (size_t i = 0; i < r->n_rows; i++)
        free(r->lines[i]);
    free(r->lines);
    free(r->fields);
    memset(r, 0, sizeof *r);
}

static int bench_public_path(const char *artifact, const char *csv)
{
    cairn_error err = {0};
    cairn_model *m = NULL;
    if (cairn_model_open_file(artifact, &m, &err) != CAIRN_OK) {
        fprintf(stderr, "serve_inproc: error: %s (%s)\n", err.msg, err.where);
        return 2;
    }
    cairn_model_meta meta;
    cairn_model_get_meta(m, &meta);
    csv_rows rows = {0};
    csv_rows_load(csv, m, N_TEST, &rows);
    size_t n = rows.n_rows;
    int rc = 0;
    cairn_prediction *pred = xmalloc(n * sizeof *pred);
    uint64_t *ns = xmalloc(n * PASSES * sizeof *ns);
    const cairn_field **ptrs = xmalloc(n * sizeof *ptrs);
    size_t *counts = xmalloc(n * sizeof *counts);

    /* Every row must score (a refused row would time the validator's error path). */
    for (size_t r = 0; r < n; r++) {
        cairn_violations v = {0};
        cairn_status st = cairn_model_predict(m, rows.fields + r * rows.n_inputs, rows.n_inputs,
                                              (long)r, &pred[r], &v, &err);
        if (st != CAIRN_OK) {
            fprintf(stderr, "serve_inproc: error: row %zu refused: %s (%s)%s%s\n", r + 1,
                    err.msg, err.where, v.n ? ": " : "", v.n ? v.items[0].problem : "");
            cairn_violations_reset(&v);
            rc = 1;
            goto done;
        }
        ptrs[r] = rows.fields + r * rows.n_inputs;
        counts[r] = rows.n_inputs;
    }
    size_t k = 0;
    double sink = 0, batch_rate[PASSES];
    for (int pass = 0; pass < PASSES; pass++) {
        for (size_t r = 0; r < n; r++) {
            cairn_prediction p;
            uint64_t t0 = now_ns();
            cairn_model_predict(m, ptrs[r], counts[r], (long)r, &p, NULL, NULL);
            ns[k++] = now_ns() - t0;
            sink += p.score;
        }
        uint64_t t0 = now_ns();
        if (cairn_model_predict_batch(m, ptrs, counts, n, 1, pred, NULL, &err) != CAIRN_OK) {
            fprintf(stderr, "serve_inproc: error: batch: %s (%s)\n", err.msg, err.where);
            rc = 1;
            goto done;
        }
        batch_rate[pass] = (double)n / ((double)(now_ns() - t0) / 1e9);
    }
    stats s = stats_of(ns, k);
    printf("\npublic path on %s (%s %s, %zu inputs, contract %s), %zu rows x %d passes:\n",
           artifact, meta.model_type, meta.task, meta.n_inputs, meta.has_contract ? "on" : "off",
           n, PASSES);
    printf("  cairn_model_predict (validate + transform + trees), ns: median %.0f, p99 %.0f, "
           "mean %.0f\n",
           s.median_ns, s.p99_ns, s.mean_ns);
    printf("  cairn_model_predict_batch, 1 thread: %.0f rows/s\n", median_of(batch_rate, PASSES));
    if (sink == 12345.6789)
        printf("(unlikely)\n");
done:
    free(counts);
    free(ptrs);
    free(ns);
    free(pred);
    csv_rows_reset(&rows);
    cairn_model_close(m);
    return rc;
}

/* ---- main ------------------------------------------------------------------------ */

int main(int argc, char **argv)
{
    if (argc != 1 && argc != 3) {
        fprintf(stderr, "usage: serve_inproc [ARTIFACT CSV]\n");
        return 2;
    }
    uint64_t seed = 20240601;
    float *xtr = xmalloc((size_t)N_TRAIN * N_FEATURES * sizeof *xtr);
    float *ytr = xmalloc((size_t)N_TRAIN * sizeof *ytr);
    float *xte = xmalloc((size_t)N_TEST * N_FEATURES * sizeof *xte);
    float *yte = xmalloc((size_t)N_TEST * sizeof *yte);
    double *xd = xmalloc((size_t)N_TEST * N_FEATURES * sizeof *xd);
    double *pc = xmalloc((size_t)N_TEST * sizeof *pc);
    make_rows(&seed, N_TRAIN, xtr, ytr);
    make_rows(&seed, N_TEST, xte, yte);
    for (size_t i = 0; i < (size_t)N_TEST * N_FEATURES; i++)
        xd[i] = (double)xte[i];

    int major = 0, minor = 0, patch = 0;
    XGBoostVersion(&major, &minor, &patch);
    uint64_t t0 = now_ns();
    BoosterHandle b = train_xgboost(xtr, ytr);
    double train_s = (double)(now_ns() - t0) / 1e9;
    cairn_trees *t = convert(b);
    unsigned max_depth = 0;
    for (uint32_t tr = 0; tr < t->n_trees; tr++) {
        /* depth of each node: children come after their parent */
        uint32_t lo = t->tree_first[tr], hi = t->tree_first[tr + 1];
        unsigned *d = calloc(hi - lo, sizeof *d);
        for (uint32_t i = lo; d && i < hi; i++) {
            if (d[i - lo] > max_depth)
                max_depth = d[i - lo];
            if (!(t->flags[i] & CAIRN_TREE_LEAF)) {
                d[t->left[i] - lo] = d[i - lo] + 1;
                d[t->right[i] - lo] = d[i - lo] + 1;
            }
        }
        free(d);
    }
    printf("model: %u trees, max depth %u, %u nodes, %d features; trained by XGBoost %d.%d.%d "
           "on %d rows in %.1f s\n",
           t->n_trees, max_depth, t->n_nodes, N_FEATURES, major, minor, patch, N_TRAIN, train_s);

    /* Same predictions first. */
    char ai_all[256];
    array_interface(ai_all, sizeof ai_all, xte, N_TEST);
    const float *px = xgb_predict(b, ai_all, N_TEST);
    cairn_trees_predict_batch(t, xd, N_TEST, pc);
    double max_diff = 0;
    for (size_t r = 0; r < N_TEST; r++) {
        double d = fabs(pc[r] - (double)px[r]);
        if (!(d <= max_diff))
            max_diff = d;
    }
    printf("check: max |cairn - xgboost| probability over %d rows: %.3g (limit 1e-06)\n", N_TEST,
           max_diff);
    if (!(max_diff < 1e-6)) {
        fprintf(stderr, "serve_inproc: FAILED: the two evaluators disagree\n");
        return 1;
    }

    /* Single rows. */
    char (*ai)[160] = xmalloc((size_t)N_TEST * sizeof *ai);
    for (size_t r = 0; r < N_TEST; r++)
        array_interface(ai[r], sizeof ai[r], xte + r * N_FEATURES, 1);
    uint64_t *ns_c = xmalloc((size_t)N_TEST * PASSES * sizeof *ns_c);
    uint64_t *ns_x = xmalloc((size_t)N_TEST * PASSES * sizeof *ns_x);
    double sink = 0, out1;
    for (size_t r = 0; r < 1000; r++) { /* warm-up, untimed */
        cairn_trees_predict(t, xd + r * N_FEATURES, &out1);
        sink += out1 + xgb_predict(b, ai[r], 1)[0];
    }
    size_t kc = 0, kx = 0;
    for (int pass = 0; pass < PASSES; pass++) {
        for (size_t r = 0; r < N_TEST; r++) {
            uint64_t a = now_ns();
            cairn_trees_predict(t, xd + r * N_FEATURES, &out1);
            ns_c[kc++] = now_ns() - a;
            sink += out1;
        }
        for (size_t r = 0; r < N_TEST; r++) {
            uint64_t a = now_ns();
            const float *p = xgb_predict(b, ai[r], 1);
            ns_x[kx++] = now_ns() - a;
            sink += p[0];
        }
    }
    stats sc = stats_of(ns_c, kc), sx = stats_of(ns_x, kx);
    printf("\nsingle row, 1 thread, %d rows x %d passes (ns per call):\n", N_TEST, PASSES);
    printf("  %-28s median %8.0f   p99 %8.0f   mean %8.0f\n", "cairn_trees_predict", sc.median_ns,
           sc.p99_ns, sc.mean_ns);
    printf("  %-28s median %8.0f   p99 %8.0f   mean %8.0f\n", "XGBoosterPredictFromDense",
           sx.median_ns, sx.p99_ns, sx.mean_ns);
    printf("  ratio xgboost/cairn: median %.1fx, p99 %.1fx (target >= 5x)\n",
           sx.median_ns / sc.median_ns, sx.p99_ns / sc.p99_ns);

    /* Batches of all the test rows. */
    double rate_c[PASSES], rate_x[PASSES];
    for (int pass = 0; pass < PASSES; pass++) {
        uint64_t a = now_ns();
        cairn_trees_predict_batch(t, xd, N_TEST, pc);
        rate_c[pass] = N_TEST / ((double)(now_ns() - a) / 1e9);
        a = now_ns();
        px = xgb_predict(b, ai_all, N_TEST);
        rate_x[pass] = N_TEST / ((double)(now_ns() - a) / 1e9);
        sink += pc[0] + px[0];
    }
    double mc = median_of(rate_c, PASSES), mx = median_of(rate_x, PASSES);
    printf("\nbatch of %d rows, 1 thread (median of %d):\n", N_TEST, PASSES);
    printf("  %-28s %12.0f rows/s\n", "cairn_trees_predict_batch", mc);
    printf("  %-28s %12.0f rows/s\n", "XGBoosterPredictFromDense", mx);
    printf("  ratio cairn/xgboost: %.2fx (target > 1x)\n", mc / mx);
    if (sink == 12345.6789)
        printf("(unlikely)\n");

    int rc = 0;
    if (argc == 3)
        rc = bench_public_path(argv[1], argv[2]);

    free(ns_x);
    free(ns_c);
    free(ai);
    cairn_trees_free(t);
    XGBoosterFree(b);
    free(pc);
    free(xd);
    free(yte);
    free(xte);
    free(ytr);
    free(xtr);
    return rc;
}
