/*
 * test_gbdt.c -- the gbdt learner (src/learn/gbdt.c) and our tree evaluator
 * and format (src/learn/tree.c).
 *
 * The independent computation is XGBoost itself: each trained model's
 * XGBoost JSON is loaded into a fresh XGBoost booster, and XGBoost's own
 * predictions on every row must equal our evaluator's to 1e-6 (relative
 * above 1). The data are synthetic with missing values, a many-level
 * categorical (partition splits), a three-level one (one-hot splits) and,
 * at prediction time only, unseen and out-of-range codes. Also: training
 * equals XGBoost's plain way (a DMatrix of float copies; we feed it a
 * QuantileDMatrix that reads our doubles in place), early
 * stopping against our own validation loss, determinism with two threads,
 * serialization round trips, every truncation rejected (of our format and
 * of XGBoost's JSON as we import it), and allocation
 * failures (ours) giving CAIRN_ENOMEM cleanly. The packed evaluator
 * (cairn_trees_compile) is checked on random hand-built trees against an
 * independent walk written here and against the plain walk: single row,
 * margins and batches of every awkward length, bit for bit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xgboost/c_api.h>

#include "learn/gbdt.h"

#define N_TRAIN 400
#define N_VALID 200
#define D 4

/* A small deterministic generator (no libc rand): splitmix64. */
static uint64_t mix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double unif(uint64_t *s)
{
    return (double)(mix(s) >> 11) * 0x1.0p-53;
}

static const uint32_t LEVELS[D] = {0, 0, 7, 3};

/* Rows: x0 numeric with 15% missing, x1 numeric, x2 category of 7 levels
 * with 5% missing, x3 category of 3 levels. */
static void make_x(double *x, size_t n, uint64_t *s)
{
    for (size_t r = 0; r < n; r++) {
        double *row = x + r * D;
        row[0] = unif(s) < 0.15 ? NAN : unif(s) * 10 - 5;
        row[1] = floor(unif(s) * 1000) / 100.0;
        row[2] = unif(s) < 0.05 ? NAN : floor(unif(s) * 7);
        row[3] = floor(unif(s) * 3);
    }
}

static double signal(const double *row)
{
    static const double cat_effect[7] = {1.5, -1.0, 0.2, 2.0, -2.0, 0.0, 0.7};
    double v = (isnan(row[0]) ? 1.0 : 0.6 * row[0]) + 0.3 * row[1] - 1.5;
    if (!isnan(row[2]))
        v += cat_effect[(int)row[2]];
    v += row[3] == 1 ? 1.0 : 0.0;
    return v;
}

static void make_y(const double *x, double *y, size_t n, cairn_task task, uint64_t *s)
{
    for (size_t r = 0; r < n; r++) {
        double v = signal(x + r * D) + (unif(s) - 0.5) * 2.0;
        if (task == CAIRN_TASK_BINARY)
            y[r] = v > 0 ? 1.0 : 0.0;
        else if (task == CAIRN_TASK_MULTICLASS)
            y[r] = v < -1 ? 0.0 : (v < 1.5 ? 1.0 : 2.0);
        else
            y[r] = 10.0 * v + 3.0;
    }
}

/* XGBoost's predictions from the JSON model of log, on n rows of x. */
static float *xgb_predict(const cairn_gbdt_log *log, const double *x, size_t n, size_t *width)
{
    BoosterHandle b = NULL;
    DMatrixHandle m = NULL;
    float *fx = malloc(n * D * sizeof *fx);
    assert_non_null(fx);
    for (size_t i = 0; i < n * D; i++)
        fx[i] = (float)x[i];
    assert_int_equal(XGBoosterCreate(NULL, 0, &b), 0);
    assert_int_equal(XGBoosterLoadModelFromBuffer(b, log->xgboost_json,
                                                  (bst_ulong)log->xgboost_json_len), 0);
    assert_int_equal(XGDMatrixCreateFromMat(fx, (bst_ulong)n, D, NAN, &m), 0);
    const char *types[D] = {"q", "q", "c", "c"};
    assert_int_equal(XGDMatrixSetStrFeatureInfo(m, "feature_type", types, D), 0);
    const bst_ulong *shape = NULL;
    bst_ulong dim = 0;
    const float *res = NULL;
    assert_int_equal(XGBoosterPredictFromDMatrix(
                         b, m,
                         "{\"type\": 0, \"training\": false, \"iteration_begin\": 0, "
                         "\"iteration_end\": 0, \"strict_shape\": false}",
                         &shape, &dim, &res),
                     0);
    *width = dim == 2 ? (size_t)shape[1] : 1;
    float *out = malloc(n * *width * sizeof *out);
    assert_non_null(out);
    memcpy(out, res, n * *width * sizeof *out);
    XGDMatrixFree(m);
    XGBoosterFree(b);
    free(fx);
    return out;
}

static void train_task(cairn_task task, int n_classes, int rounds, int early, double rate,
                       bool noise_labels, cairn_trees **out, cairn_gbdt_log *log, double **vx,
                       double **vy)
{
    uint64_t s = 12345 + (uint64_t)task;
    double *x = malloc(N_TRAIN * D * sizeof *x), *y = malloc(N_TRAIN * sizeof *y);
    *vx = malloc(N_VALID * D * sizeof **vx);
    *vy = malloc(N_VALID * sizeof **vy);
    assert_true(x && y && *vx && *vy);
    make_x(x, N_TRAIN, &s);
    make_x(*vx, N_VALID, &s);
    make_y(x, y, N_TRAIN, task, &s);
    make_y(*vx, *vy, N_VALID, task, &s);
    if (noise_labels) {
        for (size_t r = 0; r < N_TRAIN; r++)
            y[r] = unif(&s) < 0.5 ? 1.0 : 0.0;
        for (size_t r = 0; r < N_VALID; r++)
            (*vy)[r] = unif(&s) < 0.5 ? 1.0 : 0.0;
    }
    cairn_gbdt_data d = {.x = x, .y = y, .n_rows = N_TRAIN, .valid_x = *vx, .valid_y = *vy,
                         .valid_n_rows = N_VALID, .n_features = D, .cat_levels = LEVELS};
    cairn_gbdt_params p;
    cairn_gbdt_params_init(&p);
    p.task = task;
    p.n_classes = n_classes;
    p.rounds = rounds;
    p.max_depth = 4;
    p.learning_rate = rate;
    p.early_stopping = early;
    p.threads = 2;
    p.keep_xgboost_json = true;
    cairn_error err = {0};
    cairn_status st = cairn_gbdt_train(&d, &p, out, log, &err);
    if (st != CAIRN_OK)
        fail_msg("train: %s (%s)", err.msg, err.where);
    free(x);
    free(y);
}

/* Our predictions on every validation row (plus unseen/out-of-range codes)
 * against XGBoost's. */
static void check_against_xgboost(cairn_task task, int n_classes)
{
    cairn_trees *t = NULL;
    cairn_gbdt_log log = {0};
    double *vx, *vy;
    train_task(task, n_classes, 30, 0, 0.3, false, &t, &log, &vx, &vy);
    /* Prediction-only oddities: a code never seen (not in any set), one far
     * beyond any bit field, negative and huge codes, all features missing. */
    for (size_t r = 0; r < 10; r++) {
        double *row = vx + r * D;
        row[2] = (double[]){7, 40, 1000, -1, 2.0e7, NAN, 3, 6, 0, 5}[r];
        row[3] = (double[]){3, 5, NAN, -3, 1, 2, 64, 0, NAN, 1}[r];
        if (r == 5)
            row[0] = row[1] = NAN;
    }
    size_t w;
    float *want = xgb_predict(&log, vx, N_VALID, &w);
    size_t ours_w = cairn_trees_n_scores(t);
    assert_int_equal(w, ours_w);
    double got[8];
    bool any_cat_split = false;
    for (uint32_t i = 0; i < t->n_nodes; i++)
        any_cat_split |= (t->flags[i] & CAIRN_TREE_CATEGORICAL) != 0;
    assert_true(any_cat_split);
    for (size_t r = 0; r < N_VALID; r++) {
        cairn_trees_predict(t, vx + r * D, got);
        for (size_t k = 0; k < w; k++) {
            double wv = (double)want[r * w + k];
            if (fabs(got[k] - wv) > 1e-6 * fmax(1.0, fabs(wv)))
                fail_msg("row %zu output %zu: ours %.9g xgboost %.9g", r, k, got[k], wv);
        }
    }
    /* The batch form gives the same numbers. */
    double *batch = malloc(N_VALID * w * sizeof *batch);
    assert_non_null(batch);
    cairn_trees_predict_batch(t, vx, N_VALID, batch);
    for (size_t r = 0; r < N_VALID; r++) {
        cairn_trees_predict(t, vx + r * D, got);
        for (size_t k = 0; k < w; k++)
            assert_true(batch[r * w + k] == got[k]);
    }
    free(batch);
    free(want);
    free(vx);
    free(vy);
    cairn_gbdt_log_reset(&log);
    cairn_trees_free(t);
}

static void test_binary_matches_xgboost(void **state)
{
    (void)state;
    check_against_xgboost(CAIRN_TASK_BINARY, 0);
}

static void test_regression_matches_xgboost(void **state)
{
    (void)state;
    check_against_xgboost(CAIRN_TASK_REGRESSION, 0);
}

static void test_multiclass_matches_xgboost(void **state)
{
    (void)state;
    check_against_xgboost(CAIRN_TASK_MULTICLASS, 3);
}

/*
 * The reference training: XGBoost's plain DMatrix (float copies, labels and
 * feature types set on it) and one XGBoosterUpdateOneIter per round with the
 * parameters train_task gives cairn_gbdt_train. Returns the booster.
 */
static BoosterHandle plain_xgboost(cairn_task task, int n_classes, int rounds, double rate,
                                   const double *x, const double *y, size_t n)
{
    float *fx = malloc(n * D * sizeof *fx), *fy = malloc(n * sizeof *fy);
    assert_true(fx && fy);
    for (size_t i = 0; i < n * D; i++)
        fx[i] = (float)x[i];
    for (size_t i = 0; i < n; i++)
        fy[i] = (float)y[i];
    DMatrixHandle m = NULL;
    BoosterHandle b = NULL;
    assert_int_equal(XGDMatrixCreateFromMat(fx, (bst_ulong)n, D, NAN, &m), 0);
    assert_int_equal(XGDMatrixSetFloatInfo(m, "label", fy, (bst_ulong)n), 0);
    const char *types[D] = {"q", "q", "c", "c"};
    assert_int_equal(XGDMatrixSetStrFeatureInfo(m, "feature_type", types, D), 0);
    assert_int_equal(XGBoosterCreate(&m, 1, &b), 0);
    char rate_s[32], classes_s[16];
    snprintf(rate_s, sizeof rate_s, "%.17g", rate);
    snprintf(classes_s, sizeof classes_s, "%d", n_classes);
    const char *objective = task == CAIRN_TASK_BINARY       ? "binary:logistic"
                            : task == CAIRN_TASK_MULTICLASS ? "multi:softprob"
                                                            : "reg:squarederror";
    const char *kv[][2] = {{"verbosity", "0"},  {"tree_method", "hist"}, {"objective", objective},
                           {"nthread", "2"},    {"seed", "42"},          {"max_depth", "4"},
                           {"eta", rate_s},     {"max_bin", "256"},      {"base_score", "0.5"},
                           {"lambda", "1"},     {"alpha", "0"},          {"min_child_weight", "1"}};
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        assert_int_equal(XGBoosterSetParam(b, kv[i][0], kv[i][1]), 0);
    if (task == CAIRN_TASK_MULTICLASS)
        assert_int_equal(XGBoosterSetParam(b, "num_class", classes_s), 0);
    for (int r = 0; r < rounds; r++)
        assert_int_equal(XGBoosterUpdateOneIter(b, r, m), 0);
    XGDMatrixFree(m);
    free(fx);
    free(fy);
    return b;
}

/* Our training equals the plain one: XGBoost's scores of both models are
 * the same floats on every validation row. */
static void check_against_plain_training(cairn_task task, int n_classes)
{
    cairn_trees *t = NULL;
    cairn_gbdt_log log = {0};
    double *vx, *vy;
    train_task(task, n_classes, 30, 0, 0.3, false, &t, &log, &vx, &vy);
    /* train_task's training rows, made again from the same seed. */
    uint64_t s = 12345 + (uint64_t)task;
    double *x = malloc(N_TRAIN * D * sizeof *x), *y = malloc(N_TRAIN * sizeof *y);
    double *scratch = malloc(N_VALID * D * sizeof *scratch);
    assert_true(x && y && scratch);
    make_x(x, N_TRAIN, &s);
    make_x(scratch, N_VALID, &s);
    make_y(x, y, N_TRAIN, task, &s);
    /* All 30 rounds are exported only when the last is the best; compare
     * with the reference cut at our best round instead. */
    BoosterHandle ref = plain_xgboost(task, n_classes, log.best_round + 1, 0.3, x, y, N_TRAIN);
    bst_ulong jlen = 0;
    const char *jbuf = NULL;
    assert_int_equal(XGBoosterSaveModelToBuffer(ref, "{\"format\": \"json\"}", &jlen, &jbuf), 0);
    cairn_gbdt_log ref_log = {.xgboost_json = malloc(jlen + 1), .xgboost_json_len = jlen};
    assert_non_null(ref_log.xgboost_json);
    memcpy(ref_log.xgboost_json, jbuf, jlen);
    size_t w1, w2;
    float *ours = xgb_predict(&log, vx, N_VALID, &w1);
    float *want = xgb_predict(&ref_log, vx, N_VALID, &w2);
    assert_int_equal(w1, w2);
    assert_memory_equal(ours, want, N_VALID * w1 * sizeof *ours);
    free(ref_log.xgboost_json);
    XGBoosterFree(ref);
    free(ours);
    free(want);
    free(x);
    free(y);
    free(scratch);
    free(vx);
    free(vy);
    cairn_gbdt_log_reset(&log);
    cairn_trees_free(t);
}

static void test_training_matches_plain_dmatrix(void **state)
{
    (void)state;
    check_against_plain_training(CAIRN_TASK_BINARY, 0);
    check_against_plain_training(CAIRN_TASK_REGRESSION, 0);
    check_against_plain_training(CAIRN_TASK_MULTICLASS, 3);
}

/* Noise labels and a high rate: validation loss rises early. The best round
 * is the one whose exported model has the least validation logloss, which
 * we recompute from our own predictions. */
static void test_early_stopping(void **state)
{
    (void)state;
    cairn_trees *t = NULL;
    cairn_gbdt_log log = {0};
    double *vx, *vy;
    train_task(CAIRN_TASK_BINARY, 0, 60, 4, 0.8, true, &t, &log, &vx, &vy);
    assert_true(log.rounds_run < 60);
    assert_int_equal(log.rounds_run, log.best_round + 4 + 1);
    assert_int_equal(t->n_trees, (uint32_t)log.best_round + 1);
    for (int r = 0; r < log.rounds_run; r++)
        if (r != log.best_round)
            assert_true(log.valid_metric[r] > log.valid_metric[log.best_round] ||
                        (r > log.best_round &&
                         log.valid_metric[r] >= log.valid_metric[log.best_round]));
    double ll = 0;
    for (size_t r = 0; r < N_VALID; r++) {
        double p;
        cairn_trees_predict(t, vx + r * D, &p);
        ll -= vy[r] == 1.0 ? log1p(p - 1) : log1p(-p);
    }
    ll /= N_VALID;
    assert_true(fabs(ll - log.valid_metric[log.best_round]) < 1e-4);
    free(vx);
    free(vy);
    cairn_gbdt_log_reset(&log);
    cairn_trees_free(t);
}

static void test_determinism_and_round_trip(void **state)
{
    (void)state;
    cairn_trees *a = NULL, *b = NULL, *c = NULL;
    cairn_gbdt_log la = {0}, lb = {0};
    double *vx, *vy, *vx2, *vy2;
    train_task(CAIRN_TASK_MULTICLASS, 3, 15, 0, 0.3, false, &a, &la, &vx, &vy);
    train_task(CAIRN_TASK_MULTICLASS, 3, 15, 0, 0.3, false, &b, &lb, &vx2, &vy2);
    uint8_t *ba = NULL, *bb = NULL, *bc = NULL;
    size_t na, nb, nc;
    assert_int_equal(cairn_trees_to_bytes(a, &ba, &na, NULL), CAIRN_OK);
    assert_int_equal(cairn_trees_to_bytes(b, &bb, &nb, NULL), CAIRN_OK);
    assert_int_equal(na, nb);
    assert_memory_equal(ba, bb, na);
    cairn_error err = {0};
    assert_int_equal(cairn_trees_from_bytes(ba, na, &c, &err), CAIRN_OK);
    assert_int_equal(cairn_trees_to_bytes(c, &bc, &nc, NULL), CAIRN_OK);
    assert_int_equal(nc, na);
    assert_memory_equal(bc, ba, na);
    for (size_t r = 0; r < N_VALID; r++) {
        double p1[3], p2[3];
        cairn_trees_predict(a, vx + r * D, p1);
        cairn_trees_predict(c, vx + r * D, p2);
        assert_memory_equal(p1, p2, sizeof p1);
    }
    /* Every truncation, and one extra byte, is refused. */
    for (size_t k = 0; k < na; k++) {
        cairn_trees *bad = NULL;
        assert_int_equal(cairn_trees_from_bytes(ba, k, &bad, NULL), CAIRN_ECORRUPT);
        assert_null(bad);
    }
    uint8_t *longer = malloc(na + 1);
    assert_non_null(longer);
    memcpy(longer, ba, na);
    longer[na] = 0;
    cairn_trees *bad = NULL;
    assert_int_equal(cairn_trees_from_bytes(longer, na + 1, &bad, NULL), CAIRN_ECORRUPT);
    /* Single byte flips: refused or a valid model, never a crash (the
     * evaluation below runs under the sanitizers). */
    for (size_t k = 0; k < na; k += 7) {
        memcpy(longer, ba, na);
        longer[k] ^= 0x5a;
        if (cairn_trees_from_bytes(longer, na, &bad, NULL) == CAIRN_OK) {
            double p[CAIRN_TREES_MAX_CLASSES];
            cairn_trees_predict(bad, vx, p);
            cairn_trees_free(bad);
        }
    }
    /* A child pointing back at its parent is a cycle: refused. */
    memcpy(longer, ba, na);
    cairn_trees *cyc = NULL;
    assert_int_equal(cairn_trees_from_bytes(longer, na, &cyc, NULL), CAIRN_OK);
    uint8_t *cb = NULL;
    size_t cn;
    cyc->left[0] = 0;
    assert_int_equal(cairn_trees_to_bytes(cyc, &cb, &cn, NULL), CAIRN_OK);
    assert_int_equal(cairn_trees_from_bytes(cb, cn, &bad, NULL), CAIRN_ECORRUPT);
    cairn_free(cb);
    cyc->left[0] = 1;
    cyc->feature[0] = D;
    assert_int_equal(cairn_trees_to_bytes(cyc, &cb, &cn, NULL), CAIRN_OK);
    assert_int_equal(cairn_trees_from_bytes(cb, cn, &bad, NULL), CAIRN_ECORRUPT);
    cairn_free(cb);
    cairn_trees_free(cyc);
    free(longer);
    cairn_free(ba);
    cairn_free(bb);
    cairn_free(bc);
    free(vx);
    free(vy);
    free(vx2);
    free(vy2);
    cairn_gbdt_log_reset(&la);
    cairn_gbdt_log_reset(&lb);
    cairn_trees_free(a);
    cairn_trees_free(b);
    cairn_trees_free(c);
}

static void test_bad_input(void **state)
{
    (void)state;
    double x[4 * D] = {1, 2, 0, 0, 2, 3, 1, 1, 3, 4, 2, 2, 4, 5, 3, 0};
    double y[4] = {0, 1, 0, 2};
    cairn_gbdt_data d = {.x = x, .y = y, .n_rows = 4, .n_features = D, .cat_levels = LEVELS};
    cairn_gbdt_params p;
    cairn_gbdt_params_init(&p);
    p.rounds = 2;
    cairn_trees *t = NULL;
    cairn_error err = {0};
    assert_int_equal(cairn_gbdt_train(&d, &p, &t, NULL, &err), CAIRN_EINPUT); /* label 2 */
    assert_null(t);
    y[3] = 1;
    x[2] = 1.5; /* not an integer code */
    assert_int_equal(cairn_gbdt_train(&d, &p, &t, NULL, &err), CAIRN_EINPUT);
    x[2] = 0;
    x[0] = INFINITY;
    assert_int_equal(cairn_gbdt_train(&d, &p, &t, NULL, &err), CAIRN_EINPUT);
    x[0] = 1;
    p.max_depth = 0;
    assert_int_equal(cairn_gbdt_train(&d, &p, &t, NULL, &err), CAIRN_EINVAL);
    p.max_depth = 3;
    assert_int_equal(cairn_gbdt_train(&d, &p, &t, NULL, &err), CAIRN_OK);
    cairn_trees_free(t);
}

/*
 * The import of XGBoost's JSON (cut into trees by a light scan, each tree
 * parsed on its own): the trained model's JSON reads back to the same
 * model; every strict prefix is refused; a decoy "trees" member before the
 * real one is refused rather than read as the model; byte damage gives a
 * valid model or an error, never a crash (this runs under the sanitizers).
 */
static void test_xgboost_json_import(void **state)
{
    (void)state;
    cairn_trees *t = NULL, *u = NULL;
    cairn_gbdt_log log = {0};
    double *vx, *vy;
    train_task(CAIRN_TASK_BINARY, 0, 4, 0, 0.3, false, &t, &log, &vx, &vy);
    const char *json = log.xgboost_json;
    size_t len = log.xgboost_json_len;
    cairn_error err = {0};
    assert_int_equal(cairn_trees_from_xgboost_json(json, len, CAIRN_TASK_BINARY, D, &u, &err),
                     CAIRN_OK);
    uint8_t *bt = NULL, *bu = NULL;
    size_t nt, nu;
    assert_int_equal(cairn_trees_to_bytes(t, &bt, &nt, NULL), CAIRN_OK);
    assert_int_equal(cairn_trees_to_bytes(u, &bu, &nu, NULL), CAIRN_OK);
    assert_int_equal(nt, nu);
    assert_memory_equal(bt, bu, nt);
    cairn_trees_free(u);
    u = NULL;
    for (size_t k = 0; k < len; k++) {
        cairn_status st = cairn_trees_from_xgboost_json(json, k, CAIRN_TASK_BINARY, D, &u, &err);
        if (st != CAIRN_EINPUT)
            fail_msg("prefix of %zu bytes: status %d", k, (int)st);
        assert_null(u);
    }
    /* Decoys: an empty "trees" array first, and one holding a non-tree. */
    const char *decoys[] = {"{\"decoy\": {\"trees\": []}, ", "{\"decoy\": {\"trees\": [{}]}, "};
    for (size_t i = 0; i < 2; i++) {
        size_t dl = strlen(decoys[i]);
        char *d = malloc(len + dl);
        assert_non_null(d);
        assert_true(json[0] == '{');
        memcpy(d, decoys[i], dl);
        memcpy(d + dl, json + 1, len - 1);
        assert_int_equal(
            cairn_trees_from_xgboost_json(d, len + dl - 1, CAIRN_TASK_BINARY, D, &u, &err),
            CAIRN_EINPUT);
        assert_null(u);
        free(d);
    }
    /* Damage: JSON's structural characters written over single bytes. */
    char *m = malloc(len);
    assert_non_null(m);
    static const char marks[] = "[]{}\",:0 N";
    for (size_t k = 0; k < len; k += 3) {
        memcpy(m, json, len);
        m[k] = marks[k % (sizeof marks - 1)];
        cairn_status st = cairn_trees_from_xgboost_json(m, len, CAIRN_TASK_BINARY, D, &u, &err);
        if (st == CAIRN_OK) {
            double p;
            cairn_trees_predict(u, vx, &p);
            cairn_trees_free(u);
            u = NULL;
        } else {
            assert_true(st == CAIRN_EINPUT || st == CAIRN_ETOOBIG);
            assert_null(u);
        }
    }
    free(m);
    cairn_free(bt);
    cairn_free(bu);
    free(vx);
    free(vy);
    cairn_gbdt_log_reset(&log);
    cairn_trees_free(t);
}

/* Fail our Nth allocation for every N until the call succeeds. */
static void test_alloc_failures(void **state)
{
    (void)state;
    uint64_t s = 99;
    double x[60 * D], y[60];
    make_x(x, 60, &s);
    make_y(x, y, 60, CAIRN_TASK_BINARY, &s);
    cairn_gbdt_data d = {.x = x, .y = y, .n_rows = 60, .valid_x = x, .valid_y = y,
                         .valid_n_rows = 60, .n_features = D, .cat_levels = LEVELS};
    cairn_gbdt_params p;
    cairn_gbdt_params_init(&p);
    p.rounds = 3;
    p.max_depth = 3;
    p.keep_xgboost_json = true;
    int ok_at = -1;
    for (long n = 1; n < 2000 && ok_at < 0; n++) {
        cairn_trees *t = NULL;
        cairn_gbdt_log log = {0};
        cairn_error err = {0};
        cairn_alloc_fail_after(n, false);
        cairn_status st = cairn_gbdt_train(&d, &p, &t, &log, &err);
        cairn_alloc_fail_after(0, false);
        if (st == CAIRN_OK) {
            ok_at = (int)n;
            uint8_t *bytes = NULL;
            size_t nb;
            assert_int_equal(cairn_trees_to_bytes(t, &bytes, &nb, NULL), CAIRN_OK);
            for (long m = 1;; m++) {
                cairn_trees *u = NULL;
                cairn_alloc_fail_after(m, false);
                st = cairn_trees_from_bytes(bytes, nb, &u, NULL);
                cairn_alloc_fail_after(0, false);
                if (st == CAIRN_OK) {
                    cairn_trees_free(u);
                    break;
                }
                assert_int_equal(st, CAIRN_ENOMEM);
                assert_null(u);
            }
            cairn_free(bytes);
        } else {
            /* Only our allocations fail here (not cJSON's or XGBoost's). */
            assert_int_equal(st, CAIRN_ENOMEM);
            assert_null(t);
        }
        cairn_gbdt_log_reset(&log);
        cairn_trees_free(t);
    }
    assert_true(ok_at > 1);
}


/* ---- the packed evaluator on random trees ---------------------------------- */

/* 80 features, every fourth categorical: a 64-row block of them is too big
 * for the batch's float copy (and a 40-row one, 100 classes, is not), so
 * both of its input paths run. */
#define RT_D 80
#define RT_IS_CAT(f) ((f) % 4 == 3)
#define RT_ROWS 165     /* not a multiple of the batch block (64, or 40 for 100 classes) */
#define RT_MAX_DEPTH 7

/* What a random model may hold: features 0 .. d-1 (d a multiple of 4, at most RT_D),
 * categorical splits (0 none, 1 sets of codes below 32 only, 2 larger codes too), trees
 * at most max_depth deep. */
typedef struct rt_shape {
    uint32_t d;
    int cats;
    int max_depth;
} rt_shape;
static const rt_shape RT_FULL = {RT_D, 2, RT_MAX_DEPTH};

typedef struct rt_gen {
    cairn_trees *t;
    uint32_t next, next_cat;
    uint64_t *s;
    rt_shape sh;
} rt_gen;

/* A numeric threshold or input on a quarter grid, so ties are common. */
static double rt_grid(uint64_t *s)
{
    return (double)((int)(unif(s) * 17) - 8) / 4.0;
}

/* Emits a random subtree in preorder with the children in either order;
 * returns its depth in edges. */
static uint32_t rt_node(rt_gen *g, int depth)
{
    cairn_trees *t = g->t;
    uint32_t i = g->next++;
    t->cat_first[i] = g->next_cat;
    if (depth == g->sh.max_depth || (depth > 0 && unif(g->s) < 0.2)) {
        t->flags[i] = CAIRN_TREE_LEAF;
        /* Magnitudes apart, so the float sum's rounding depends on order. */
        t->value[i] = (float)((unif(g->s) * 2 - 1) * pow(10.0, floor(unif(g->s) * 7) - 3));
        return 0;
    }
    uint8_t fl = unif(g->s) < 0.5 ? CAIRN_TREE_DEFAULT_LEFT : 0;
    if (g->sh.cats && unif(g->s) < 0.3) {
        fl |= CAIRN_TREE_CATEGORICAL;
        t->feature[i] = 4 * (uint32_t)(unif(g->s) * (g->sh.d / 4)) + 3;
        t->value[i] = (float)rt_grid(g->s); /* unused by a set split */
        for (uint32_t c = 0; c < 12; c++)   /* possibly empty */
            if (unif(g->s) < 0.35)
                t->cats[g->next_cat++] = c;
        /* Codes at the edge of the complete layout's 32-bit sets and past it
         * (such a split takes the set search instead). */
        static const uint32_t edge[] = {31, 32, 40, 1000};
        for (int e = 0; e < (g->sh.cats > 1 ? 4 : 1); e++)
            if (unif(g->s) < 0.15)
                t->cats[g->next_cat++] = edge[e];
    } else {
        do
            t->feature[i] = (uint32_t)(unif(g->s) * g->sh.d);
        while (RT_IS_CAT(t->feature[i]));
        t->value[i] = unif(g->s) < 0.7 ? (float)rt_grid(g->s) : (float)(unif(g->s) * 6 - 3);
    }
    t->flags[i] = fl;
    bool right_first = unif(g->s) < 0.5;
    uint32_t a = g->next, da = rt_node(g, depth + 1);
    uint32_t b = g->next, db = rt_node(g, depth + 1);
    t->left[i] = right_first ? b : a;
    t->right[i] = right_first ? a : b;
    return 1 + (da > db ? da : db);
}

/* n_outputs 1 (task binary or regression) or k classes; depths gets each
 * tree's depth. */
static cairn_trees *rt_model_shaped(cairn_task task, uint32_t n_outputs, uint32_t n_trees,
                                    uint64_t *s, uint32_t *depths, rt_shape sh)
{
    uint32_t max_nodes = n_trees * ((1u << (sh.max_depth + 1)) - 1);
    cairn_trees *t = NULL;
    assert_int_equal(cairn_trees_alloc(n_trees, max_nodes, max_nodes * 16, &t, NULL), CAIRN_OK);
    t->task = task;
    t->n_features = sh.d;
    t->n_outputs = n_outputs;
    t->base_score = 0.5;
    t->base_margin = 0.125f;
    rt_gen g = {.t = t, .s = s, .sh = sh};
    for (uint32_t k = 0; k < n_trees; k++) {
        t->tree_first[k] = g.next;
        t->tree_class[k] = (uint32_t)(unif(s) * n_outputs);
        depths[k] = rt_node(&g, 0);
    }
    t->tree_first[n_trees] = g.next;
    t->n_nodes = g.next;
    t->cat_first[g.next] = g.next_cat;
    t->n_cats = g.next_cat;
    assert_int_equal(cairn_trees_validate(t, NULL), CAIRN_OK);
    return t;
}

static cairn_trees *rt_model(cairn_task task, uint32_t n_outputs, uint32_t n_trees, uint64_t *s,
                             uint32_t *depths)
{
    return rt_model_shaped(task, n_outputs, n_trees, s, depths, RT_FULL);
}

/* Rows hitting every rule: NaN, +-inf, ties with a threshold (also a double
 * just above one, equal after rounding to float), negative, fractional,
 * unseen and out-of-range codes, codes around 32. Every third row has no
 * NaN at all (the complete walk has its own path for those). */
static void rt_rows(double *x, size_t n, uint64_t *s)
{
    static const double edge[] = {31.0, 31.5, 32.0, 32.5, 33.0, 40.0, 1000.0, -0.5};
    for (size_t r = 0; r < n; r++) {
        for (int f = 0; f < RT_D; f++) {
            double u = unif(s), v;
            if (u < 0.12 && r % 3 != 0)
                v = NAN;
            else if (RT_IS_CAT(f) && u < 0.12)
                v = edge[(int)(unif(s) * 8)];
            else if (!RT_IS_CAT(f))
                v = u < 0.15   ? (unif(s) < 0.5 ? INFINITY : -INFINITY)
                    : u < 0.45 ? rt_grid(s)
                    : u < 0.55 ? rt_grid(s) + 1e-12
                               : unif(s) * 6 - 3;
            else
                v = u < 0.17   ? -1.0
                    : u < 0.22 ? (unif(s) < 0.5 ? 16777216.0 : INFINITY)
                    : u < 0.32 ? floor(unif(s) * 12) + 0.5
                               : floor(unif(s) * 14);
            x[r * RT_D + f] = v;
        }
    }
}

/* The rules of docs/trees.md written again: float input, NaN by default
 * direction, (float)x < value goes left, a set split goes right only for a
 * truncated code in [0, 2^24) found in the set (linear search). */
static float rt_ref_leaf(const cairn_trees *t, uint32_t i, const double *x)
{
    while (!(t->flags[i] & CAIRN_TREE_LEAF)) {
        float f = (float)x[t->feature[i]];
        bool left;
        if (f != f) {
            left = (t->flags[i] & CAIRN_TREE_DEFAULT_LEFT) != 0;
        } else if (t->flags[i] & CAIRN_TREE_CATEGORICAL) {
            left = true;
            if (f >= 0.0f && f < 16777216.0f)
                for (uint32_t c = t->cat_first[i]; c < t->cat_first[i + 1]; c++)
                    if (t->cats[c] == (uint32_t)f)
                        left = false;
        } else {
            left = f < t->value[i];
        }
        i = left ? t->left[i] : t->right[i];
    }
    return t->value[i];
}

static void test_packed_matches_plain_walk(void **state)
{
    (void)state;
    static const struct {
        cairn_task task;
        uint32_t k, trees;
    } cases[] = {
        {CAIRN_TASK_BINARY, 1, 37},    {CAIRN_TASK_REGRESSION, 1, 8},
        {CAIRN_TASK_REGRESSION, 1, 3}, {CAIRN_TASK_MULTICLASS, 3, 45},
        {CAIRN_TASK_MULTICLASS, 100, 150}, {CAIRN_TASK_BINARY, 1, 0},
    };
    uint64_t s = 2024;
    double *x = malloc(sizeof(double) * RT_ROWS * RT_D);
    assert_non_null(x);
    rt_rows(x, RT_ROWS, &s);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        uint32_t depths[150];
        cairn_trees *t = rt_model(cases[c].task, cases[c].k, cases[c].trees, &s, depths);
        size_t w = cairn_trees_n_scores(t), no = cases[c].k;
        size_t nw = RT_ROWS * w, nm = RT_ROWS * no;
        double *plain = calloc(nw, sizeof(double)), *plain_m = calloc(nm, sizeof(double));
        double *ref_m = calloc(nm, sizeof(double)), *plain_b = calloc(nw, sizeof(double));
        double *got = calloc(nw, sizeof(double)), *got_m = calloc(nm, sizeof(double));
        double *got_b = calloc(nw + 1, sizeof(double));
        assert_true(plain && plain_m && ref_m && plain_b && got && got_m && got_b);
        /* The independent margins: float sums in tree order. */
        for (size_t r = 0; r < RT_ROWS; r++) {
            float m[100];
            for (size_t j = 0; j < no; j++)
                m[j] = t->base_margin;
            for (uint32_t k = 0; k < t->n_trees; k++)
                m[t->tree_class[k]] += rt_ref_leaf(t, t->tree_first[k], x + r * RT_D);
            for (size_t j = 0; j < no; j++)
                ref_m[r * no + j] = (double)m[j];
        }
        /* Not compiled: the plain walk. */
        assert_null(t->packed);
        for (size_t r = 0; r < RT_ROWS; r++) {
            cairn_trees_predict(t, x + r * RT_D, plain + r * w);
            cairn_trees_predict_margin(t, x + r * RT_D, plain_m + r * no);
        }
        cairn_trees_predict_batch(t, x, RT_ROWS, plain_b);
        assert_memory_equal(plain_m, ref_m, nm * sizeof(double));
        assert_memory_equal(plain_b, plain, nw * sizeof(double));

        /* Each layout: packed alone, the complete one, and compile's own pick;
         * each with the vector walk where the CPU has it, and scalar. */
        for (int lay = 0; lay < 6; lay++) {
            static const cairn_trees_layout layouts[] = {
                CAIRN_TREES_LAYOUT_PACKED, CAIRN_TREES_LAYOUT_COMPLETE, CAIRN_TREES_LAYOUT_AUTO,
                CAIRN_TREES_LAYOUT_PACKED, CAIRN_TREES_LAYOUT_COMPLETE, CAIRN_TREES_LAYOUT_AUTO};
            cairn_trees_allow_simd(lay < 3);
            if (lay >= 3)
                assert_false(cairn_trees_simd_active());
            assert_int_equal(cairn_trees_compile_as(t, layouts[lay], NULL), CAIRN_OK);
            assert_non_null(t->packed);
            if (layouts[lay] == CAIRN_TREES_LAYOUT_PACKED)
                assert_null(t->cleaves);
            if (layouts[lay] == CAIRN_TREES_LAYOUT_COMPLETE) {
                assert_non_null(t->cleaves);
                uint32_t dmax = 0;
                for (uint32_t k = 0; k < t->n_trees; k++)
                    dmax = depths[k] > dmax ? depths[k] : dmax;
                assert_int_equal(t->complete_depth, dmax);
                /* Both kinds of set split are there: bit masks (codes below
                 * 32) and node indices (a code of 32 or more). */
                size_t n_small = 0, n_big = 0, ns = ((size_t)1 << dmax) - 1;
                for (size_t i = 0; i < (size_t)t->n_trees * ns; i++) {
                    uint32_t fw = t->cnodes[i].feature_flags;
                    n_small += (fw & CAIRN_TREE_CNODE_SMALL_SET) != 0;
                    n_big += (fw >> CAIRN_TREE_NODE_FLAG_SHIFT & CAIRN_TREE_CATEGORICAL) != 0;
                }
                if (t->n_trees >= 30) {
                    assert_true(n_small > 0);
                    assert_true(n_big > 0);
                }
            }
            memset(got, 0, nw * sizeof(double));
            memset(got_m, 0, nm * sizeof(double));
            for (uint32_t k = 0; k < t->n_trees; k++)
                assert_int_equal(t->tree_steps[k], depths[k]);
            for (size_t r = 0; r < RT_ROWS; r++) {
                cairn_trees_predict(t, x + r * RT_D, got + r * w);
                cairn_trees_predict_margin(t, x + r * RT_D, got_m + r * no);
            }
            assert_memory_equal(got, plain, nw * sizeof(double));
            assert_memory_equal(got_m, ref_m, nm * sizeof(double));
            /* Batches of every length around the block sizes, from an offset,
             * must not write past their rows. */
            static const size_t lens[] = {0, 1, 39, 40, 41, 63, 64, 65, 128, 129, 164};
            for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
                size_t off = RT_ROWS - lens[li];
                got_b[lens[li] * w] = -7.0;
                cairn_trees_predict_batch(t, x + off * RT_D, lens[li], got_b);
                assert_memory_equal(got_b, plain + off * w, lens[li] * w * sizeof(double));
                assert_true(got_b[lens[li] * w] == -7.0);
            }
            cairn_trees_predict_batch(t, x, RT_ROWS, got_b);
            assert_memory_equal(got_b, plain, nw * sizeof(double));
        }
        cairn_trees_allow_simd(true);

        /* Loaded models are compiled and score the same. */
        uint8_t *bytes = NULL;
        size_t nb = 0;
        cairn_trees *u = NULL;
        assert_int_equal(cairn_trees_to_bytes(t, &bytes, &nb, NULL), CAIRN_OK);
        assert_int_equal(cairn_trees_from_bytes(bytes, nb, &u, NULL), CAIRN_OK);
        assert_non_null(u->packed);
        cairn_trees_predict_batch(u, x, RT_ROWS, got_b);
        assert_memory_equal(got_b, plain, nw * sizeof(double));
        /* Compiling again replaces the derived arrays without leaking. */
        assert_int_equal(cairn_trees_compile(u, NULL), CAIRN_OK);
        cairn_trees_predict(u, x, got);
        assert_memory_equal(got, plain, w * sizeof(double));
        cairn_trees_free(u);
        cairn_free(bytes);
        free(plain), free(plain_m), free(ref_m), free(plain_b), free(got), free(got_m);
        free(got_b);
        cairn_trees_free(t);
    }
    free(x);
}

/* The vector walk has an instance per kind of model and row (numeric splits only, small
 * sets, other sets; at most 32 inputs or more; a NaN in the row or not) and reads the top
 * levels of its layout differently from the rest: each instance, on trees shallower and
 * deeper than those top levels and on tree counts with a scalar tail, scores exactly as
 * the plain walk and the rules written again. */
static void test_vector_walk_instances(void **state)
{
    (void)state;
    static const uint32_t ds[] = {8, 20, 32, 36, RT_D};
    static const int depths_max[] = {1, 2, 3, 6};
    static const uint32_t counts[] = {8, 45, 77};
    uint64_t s = 77;
    double *x = malloc(sizeof(double) * RT_ROWS * RT_D);
    assert_non_null(x);
    rt_rows(x, RT_ROWS, &s);
    size_t compared = 0;
    for (size_t di = 0; di < sizeof ds / sizeof ds[0]; di++)
        for (int cats = 0; cats < 3; cats++)
            for (size_t mi = 0; mi < sizeof depths_max / sizeof depths_max[0]; mi++)
                for (size_t ci = 0; ci < sizeof counts / sizeof counts[0]; ci++) {
                    rt_shape sh = {ds[di], cats, depths_max[mi]};
                    uint32_t depths[77];
                    cairn_trees *t = rt_model_shaped(CAIRN_TASK_BINARY, 1, counts[ci], &s,
                                                     depths, sh);
                    cairn_trees_allow_simd(true);
                    assert_int_equal(cairn_trees_compile_as(t, CAIRN_TREES_LAYOUT_COMPLETE, NULL),
                                     CAIRN_OK);
                    assert_non_null(t->vnodes);
                    if (cats == 0)
                        assert_int_equal(t->complete_cat_splits, 0);
                    if (cats == 1)
                        assert_int_equal(t->complete_cat_splits, t->complete_small_sets);
                    for (size_t r = 0; r < RT_ROWS; r++) {
                        const double *xr = x + r * RT_D;
                        float ref = t->base_margin;
                        for (uint32_t k = 0; k < t->n_trees; k++)
                            ref += rt_ref_leaf(t, t->tree_first[k], xr);
                        double vec, scalar;
                        cairn_trees_predict_margin(t, xr, &vec);
                        cairn_trees_allow_simd(false);
                        cairn_trees_predict_margin(t, xr, &scalar);
                        cairn_trees_allow_simd(true);
                        assert_memory_equal(&vec, &scalar, sizeof vec);
                        double want = (double)ref;
                        assert_memory_equal(&vec, &want, sizeof vec);
                        compared++;
                    }
                    cairn_trees_free(t);
                }
    assert_int_equal(compared, 5u * 3u * 4u * 3u * RT_ROWS);
    free(x);
}

/* One tree: a full tree of `full` levels when full > 0, else a chain of
 * `chain` splits, each with a leaf on its left. Numeric splits on the grid. */
static cairn_trees *shape_model(uint32_t full, uint32_t chain, uint64_t *s)
{
    uint32_t n = full ? (2u << full) - 1 : 2 * chain + 1;
    cairn_trees *t = NULL;
    assert_int_equal(cairn_trees_alloc(1, n, 0, &t, NULL), CAIRN_OK);
    t->task = CAIRN_TASK_REGRESSION;
    t->n_features = RT_D;
    t->n_outputs = 1;
    t->base_margin = 0.5f;
    for (uint32_t i = 0; i < n; i++) {
        bool leaf = full ? i >= (1u << full) - 1 : (i % 2 == 1 || i == n - 1);
        if (leaf) {
            t->flags[i] = CAIRN_TREE_LEAF;
            t->value[i] = (float)(i + 1) / 8.0f;
            continue;
        }
        t->flags[i] = unif(s) < 0.5 ? CAIRN_TREE_DEFAULT_LEFT : 0;
        do
            t->feature[i] = (uint32_t)(unif(s) * RT_D);
        while (RT_IS_CAT(t->feature[i]));
        t->value[i] = (float)rt_grid(s);
        t->left[i] = full ? 2 * i + 1 : i + 1;
        t->right[i] = full ? 2 * i + 2 : i + 2;
    }
    t->tree_first[1] = n;
    t->n_nodes = n;
    assert_int_equal(cairn_trees_validate(t, NULL), CAIRN_OK);
    return t;
}

/* compile picks the complete layout only when it is no larger than packed,
 * refuses it (when asked for) beyond CAIRN_TREES_COMPLETE_MAX_DEPTH, and
 * every layout scores as the plain walk. */
static void test_complete_layout_choice(void **state)
{
    (void)state;
    static const struct {
        uint32_t full, chain;
        bool auto_complete, complete_ok;
    } cases[] = {
        {3, 0, true, true},   /* 15 nodes: 96 bytes complete against 240 packed */
        {6, 0, true, true},
        {0, 5, false, true},  /* 11 nodes: 384 against 176 */
        {0, 12, false, true},
        {0, 13, false, false},
    };
    uint64_t s = 77;
    double *x = malloc(sizeof(double) * RT_ROWS * RT_D);
    assert_non_null(x);
    rt_rows(x, RT_ROWS, &s);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        cairn_trees *t = shape_model(cases[c].full, cases[c].chain, &s);
        double plain[RT_ROWS], got[RT_ROWS];
        for (size_t r = 0; r < RT_ROWS; r++)
            cairn_trees_predict(t, x + r * RT_D, plain + r);
        assert_int_equal(cairn_trees_compile(t, NULL), CAIRN_OK);
        assert_true((t->cleaves != NULL) == cases[c].auto_complete);
        cairn_error e = {0};
        cairn_status st = cairn_trees_compile_as(t, CAIRN_TREES_LAYOUT_COMPLETE, &e);
        if (!cases[c].complete_ok) {
            assert_int_equal(st, CAIRN_EINVAL);
            assert_non_null(strstr(e.msg, "too deep"));
            /* The model is left as it was, and still scores. */
            assert_null(t->cleaves);
        } else {
            assert_int_equal(st, CAIRN_OK);
            assert_non_null(t->cleaves);
            assert_int_equal(t->complete_depth, cases[c].full ? cases[c].full : cases[c].chain);
        }
        for (size_t r = 0; r < RT_ROWS; r++)
            cairn_trees_predict(t, x + r * RT_D, got + r);
        assert_memory_equal(got, plain, sizeof plain);
        cairn_trees_predict_batch(t, x, RT_ROWS, got);
        assert_memory_equal(got, plain, sizeof plain);
        cairn_trees_free(t);
    }
    free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_binary_matches_xgboost),
        cmocka_unit_test(test_regression_matches_xgboost),
        cmocka_unit_test(test_multiclass_matches_xgboost),
        cmocka_unit_test(test_training_matches_plain_dmatrix),
        cmocka_unit_test(test_early_stopping),
        cmocka_unit_test(test_determinism_and_round_trip),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_xgboost_json_import),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_packed_matches_plain_walk),
        cmocka_unit_test(test_vector_walk_instances),
        cmocka_unit_test(test_complete_layout_choice),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
