/*
 * test_leak.c -- the data-side leakage checks (src/pipeline/leak.c) on
 * synthetic frames with planted problems. Expected values are computed here
 * by the slow, obvious method: AUC by counting every (positive, negative)
 * pair of training rows, duplicates by comparing every test row with every
 * training row, entity overlap and time order by direct scans.
 *
 * A planted leak column (the label with 1% noise) must give a critical
 * finding naming it with the brute-force AUC; harmless noise columns must
 * give none; likewise for categorical, multiclass and regression labels.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "pipeline/split.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

enum { C_Y = 0, C_LEAK, C_NOISE, C_CLEAK, C_CNOISE, C_ENT, C_TIME, C_YREG, C_YMC, N_COLS };

static void intern(cairn_column *c, size_t row, const char *s)
{
    uint32_t code;
    assert_int_equal(cairn_dict_intern(&c->dict, s, strlen(s), &code), CAIRN_OK);
    c->v.codes[row] = code;
}

/*
 * y: BOOL label (~40% true); leak: y with 1% flipped plus a little noise;
 * noise: independent; cleak: "yes"/"no" equal to y except 1%; cnoise: one of
 * 5 categories at random (some nulls); ent: "u<k>"; time: int64 day;
 * yreg: a numeric label; ymc: 3 classes "p"/"q"/"r".
 */
static cairn_frame *make_frame(size_t n, uint64_t seed)
{
    static const char *names[N_COLS] = {"y", "leak", "noise", "cleak", "cnoise",
                                        "ent", "time", "yreg", "ymc"};
    static const cairn_type types[N_COLS] = {
        CAIRN_TYPE_BOOL,   CAIRN_TYPE_FLOAT64, CAIRN_TYPE_FLOAT64, CAIRN_TYPE_STRING, CAIRN_TYPE_STRING,
        CAIRN_TYPE_STRING, CAIRN_TYPE_INT64,   CAIRN_TYPE_FLOAT64, CAIRN_TYPE_STRING};
    cairn_frame *f = NULL;
    assert_int_equal(cairn_frame_new(N_COLS, &f, NULL), CAIRN_OK);
    for (int c = 0; c < N_COLS; c++)
        assert_int_equal(cairn_column_alloc(&f->cols[c], names[c], types[c], n, NULL), CAIRN_OK);
    f->n_rows = n;
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++) {
        for (int c = 0; c < N_COLS; c++)
            f->cols[c].valid[i] = 1;
        int y = lcg(&s) % 10 < 4;
        f->cols[C_Y].v.b[i] = (uint8_t)y;
        int flip = lcg(&s) % 100 == 0;
        f->cols[C_LEAK].v.f64[i] = (double)(y ^ flip) + (double)(lcg(&s) % 100) / 1000.0;
        f->cols[C_NOISE].v.f64[i] = (double)(lcg(&s) % 10000);
        intern(&f->cols[C_CLEAK], i, (y ^ (lcg(&s) % 100 == 0)) ? "yes" : "no");
        static const char *cats[5] = {"a", "b", "c", "d", "e"};
        intern(&f->cols[C_CNOISE], i, cats[lcg(&s) % 5]);
        if (lcg(&s) % 20 == 0) {
            f->cols[C_CNOISE].valid[i] = 0;
            f->cols[C_CNOISE].v.codes[i] = 0;
        }
        char e[16];
        snprintf(e, sizeof e, "u%u", (unsigned)(lcg(&s) % 300));
        intern(&f->cols[C_ENT], i, e);
        f->cols[C_TIME].v.i64[i] = (int64_t)(lcg(&s) % 365);
        f->cols[C_YREG].v.f64[i] = (double)(lcg(&s) % 100000) / 10.0;
        static const char *mc[3] = {"p", "q", "r"};
        intern(&f->cols[C_YMC], i, mc[lcg(&s) % 3]);
    }
    return f;
}

static void split_by(const cairn_frame *f, cairn_split_by by, cairn_split *s)
{
    cairn_split_cfg cfg;
    cairn_split_cfg_init(&cfg);
    cfg.by = by;
    cfg.seed = 5;
    cfg.label_col = C_Y;
    if (by == CAIRN_SPLIT_TIME)
        cfg.time_col = C_TIME;
    if (by == CAIRN_SPLIT_GROUP)
        cfg.entity_col = C_ENT;
    assert_int_equal(cairn_split_make(f, &cfg, s, NULL, NULL), CAIRN_OK);
}

static const cairn_finding *find(const cairn_findings *l, const char *code, const char *column)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->items[i].code, code) == 0 &&
            (!column || strcmp(l->items[i].column, column) == 0))
            return &l->items[i];
    return NULL;
}

/* AUC over every (positive, negative) training pair, ties one half; max(a, 1-a). */
static double brute_auc(const cairn_frame *f, const cairn_split *s, const double *score,
                        const uint8_t *y)
{
    double wins = 0, pairs = 0;
    for (size_t i = 0; i < f->n_rows; i++) {
        if (s->part[i] != CAIRN_PART_TRAIN || !y[i])
            continue;
        for (size_t j = 0; j < f->n_rows; j++) {
            if (s->part[j] != CAIRN_PART_TRAIN || y[j])
                continue;
            pairs += 1;
            wins += score[i] > score[j] ? 1.0 : score[i] == score[j] ? 0.5 : 0.0;
        }
    }
    double a = wins / pairs;
    return a > 1 - a ? a : 1 - a;
}

static void test_single_feature_binary(void **state)
{
    (void)state;
    size_t n = 1500;
    cairn_frame *f = make_frame(n, 1);
    cairn_split s = {0};
    split_by(f, CAIRN_SPLIT_STRATIFIED, &s);
    const size_t feats[4] = {C_LEAK, C_NOISE, C_CLEAK, C_CNOISE};
    cairn_leak_cfg cfg;
    cairn_leak_cfg_init(&cfg);
    cfg.label_col = C_Y;
    cfg.positive = 1;
    cfg.features = feats;
    cfg.n_features = 4;
    cairn_findings fl = {0};
    assert_int_equal(cairn_leak_check(f, &s, &cfg, &fl, NULL), CAIRN_OK);

    const cairn_finding *leak = find(&fl, "single_feature_leak", "leak");
    assert_non_null(leak);
    assert_int_equal(leak->severity, CAIRN_SEV_CRITICAL);
    assert_non_null(strstr(leak->what, "'leak'"));
    double want = brute_auc(f, &s, f->cols[C_LEAK].v.f64, f->cols[C_Y].v.b);
    assert_true(want >= 0.98);
    assert_true(fabs(leak->value - want) < 1e-12);

    /* The categorical leak: score = the category's positive rate on train. */
    const cairn_finding *cleak = find(&fl, "single_feature_leak", "cleak");
    assert_non_null(cleak);
    double *enc = calloc(n, sizeof *enc);
    double pos[2] = {0, 0}, tot[2] = {0, 0};
    for (size_t i = 0; i < n; i++)
        if (s.part[i] == CAIRN_PART_TRAIN) {
            uint32_t c = f->cols[C_CLEAK].v.codes[i];
            pos[c] += f->cols[C_Y].v.b[i];
            tot[c] += 1;
        }
    for (size_t i = 0; i < n; i++) {
        uint32_t c = f->cols[C_CLEAK].v.codes[i];
        enc[i] = pos[c] / tot[c];
    }
    want = brute_auc(f, &s, enc, f->cols[C_Y].v.b);
    assert_true(fabs(cleak->value - want) < 1e-12);
    free(enc);

    assert_null(find(&fl, "single_feature_leak", "noise"));
    assert_null(find(&fl, "single_feature_leak", "cnoise"));
    cairn_findings_reset(&fl);

    /* Positive given as the other class: the same AUC (a feature that ranks
     * backwards is as telling). */
    cfg.positive = 0;
    assert_int_equal(cairn_leak_check(f, &s, &cfg, &fl, NULL), CAIRN_OK);
    leak = find(&fl, "single_feature_leak", "leak");
    assert_non_null(leak);
    cairn_findings_reset(&fl);
    cairn_split_reset(&s);
    cairn_frame_free(f);
}

static void test_single_feature_other_tasks(void **state)
{
    (void)state;
    size_t n = 1200;
    cairn_frame *f = make_frame(n, 2);
    cairn_split s = {0};
    split_by(f, CAIRN_SPLIT_ORDER, &s);
    /* Regression: leak = yreg^3 (monotone, |rho| = 1), noise harmless. */
    for (size_t i = 0; i < n; i++) {
        double v = f->cols[C_YREG].v.f64[i];
        f->cols[C_LEAK].v.f64[i] = v * v * v;
    }
    const size_t feats[3] = {C_LEAK, C_NOISE, C_CNOISE};
    cairn_leak_cfg cfg;
    cairn_leak_cfg_init(&cfg);
    cfg.label_col = C_YREG;
    cfg.task = CAIRN_TASK_REGRESSION;
    cfg.features = feats;
    cfg.n_features = 3;
    cairn_findings fl = {0};
    assert_int_equal(cairn_leak_check(f, &s, &cfg, &fl, NULL), CAIRN_OK);
    const cairn_finding *leak = find(&fl, "single_feature_leak", "leak");
    assert_non_null(leak);
    assert_true(fabs(leak->value - 1.0) < 1e-12);
    assert_non_null(strstr(leak->what, "Spearman"));
    assert_null(find(&fl, "single_feature_leak", "noise"));
    assert_null(find(&fl, "single_feature_leak", "cnoise"));
    cairn_findings_reset(&fl);

    /* Multiclass: leak = the class's index as a number separates class "r"
     * (one-vs-rest AUC 1); the check must report it. */
    for (size_t i = 0; i < n; i++) {
        const cairn_column *m = &f->cols[C_YMC];
        f->cols[C_LEAK].v.f64[i] = cairn_dict_str(&m->dict, m->v.codes[i])[0] - 'p';
    }
    cfg.label_col = C_YMC;
    cfg.task = CAIRN_TASK_MULTICLASS;
    assert_int_equal(cairn_leak_check(f, &s, &cfg, &fl, NULL), CAIRN_OK);
    leak = find(&fl, "single_feature_leak", "leak");
    assert_non_null(leak);
    assert_true(fabs(leak->value - 1.0) < 1e-12);
    assert_null(find(&fl, "single_feature_leak", "noise"));
    assert_null(find(&fl, "single_feature_leak", "cnoise"));
    cairn_findings_reset(&fl);

    /* A string regression label is refused. */
    cfg.label_col = C_YMC;
    cfg.task = CAIRN_TASK_REGRESSION;
    assert_int_equal(cairn_leak_check(f, &s, &cfg, &fl, NULL), CAIRN_EINVAL);
    cairn_split_reset(&s);
    cairn_frame_free(f);
}

static void test_duplicates(void **state)
{
    (void)state;
    size_t n = 800;
    cairn_frame *f = make_frame(n, 3);
    /* Plant duplicates: copy some rows over others; one near-duplicate that
     * differs only by a null must not count. */
    uint64_t r = 77;
    for (int k = 0; k < 60; k++) {
        size_t a = lcg(&r) % n, b = lcg(&r) % n;
        for (size_t c = 0; c < N_COLS; c++) {
            cairn_column *col = &f->cols[c];
            size_t w = cairn_type_size(col->type);
            memcpy((char *)col->v.raw + b * w, (char *)col->v.raw + a * w, w);
            col->valid[b] = col->valid[a];
        }
    }
    cairn_split s = {0};
    split_by(f, CAIRN_SPLIT_STRATIFIED, &s);
    size_t want = 0;
    for (size_t i = 0; i < n; i++) {
        if (s.part[i] != CAIRN_PART_TEST)
            continue;
        for (size_t j = 0; j < n; j++) {
            if (s.part[j] != CAIRN_PART_TRAIN)
                continue;
            bool same = true;
            for (size_t c = 0; c < N_COLS && same; c++) {
                cairn_column *col = &f->cols[c];
                size_t w = cairn_type_size(col->type);
                same = col->valid[i] == col->valid[j] &&
                       (!col->valid[i] ||
                        memcmp((char *)col->v.raw + i * w, (char *)col->v.raw + j * w, w) == 0);
            }
            if (same) {
                want++;
                break;
            }
        }
    }
    assert_true(want > 0);
    cairn_leak_cfg cfg;
    cairn_leak_cfg_init(&cfg);
    cairn_findings fl = {0};
    assert_int_equal(cairn_leak_check(f, &s, &cfg, &fl, NULL), CAIRN_OK);
    const cairn_finding *d = find(&fl, "duplicate_rows", NULL);
    assert_non_null(d);
    assert_int_equal((size_t)d->value, want);
    double share = (double)want / (double)s.count[CAIRN_PART_TEST];
    assert_int_equal(d->severity, share > 0.01 ? CAIRN_SEV_HIGH : CAIRN_SEV_MEDIUM);
    cairn_findings_reset(&fl);
    cairn_split_reset(&s);

    /* No duplicates in a fresh frame (the noise column makes rows distinct). */
    cairn_frame *g = make_frame(300, 4);
    split_by(g, CAIRN_SPLIT_STRATIFIED, &s);
    assert_int_equal(cairn_leak_check(g, &s, &cfg, &fl, NULL), CAIRN_OK);
    assert_null(find(&fl, "duplicate_rows", NULL));
    cairn_findings_reset(&fl);
    cairn_split_reset(&s);
    cairn_frame_free(g);
    cairn_frame_free(f);
}

static void test_entities_and_time(void **state)
{
    (void)state;
    size_t n = 1000;
    cairn_frame *f = make_frame(n, 5);
    cairn_leak_cfg cfg;
    cairn_leak_cfg_init(&cfg);
    cfg.entity_col = C_ENT;
    cfg.time_col = C_TIME;
    cairn_findings fl = {0};
    cairn_split s = {0};

    /* A random split: entities overlap and test rows precede training rows. */
    split_by(f, CAIRN_SPLIT_STRATIFIED, &s);
    assert_int_equal(cairn_leak_check(f, &s, &cfg, &fl, NULL), CAIRN_OK);
    size_t want_overlap = 0;
    const cairn_column *e = &f->cols[C_ENT];
    for (uint32_t k = 0; k < e->dict.n; k++) {
        unsigned mask = 0;
        for (size_t i = 0; i < n; i++)
            if (e->v.codes[i] == k)
                mask |= 1u << s.part[i];
        want_overlap += mask != 1 && mask != 2 && mask != 4 && mask != 0;
    }
    const cairn_finding *o = find(&fl, "entity_overlap", "ent");
    assert_non_null(o);
    assert_int_equal(o->severity, CAIRN_SEV_MEDIUM);
    assert_int_equal((size_t)o->value, want_overlap);
    int64_t latest = INT64_MIN;
    for (size_t i = 0; i < n; i++)
        if (s.part[i] == CAIRN_PART_TRAIN && f->cols[C_TIME].v.i64[i] > latest)
            latest = f->cols[C_TIME].v.i64[i];
    size_t want_early = 0;
    for (size_t i = 0; i < n; i++)
        want_early += s.part[i] == CAIRN_PART_TEST && f->cols[C_TIME].v.i64[i] < latest;
    const cairn_finding *t = find(&fl, "test_before_train", "time");
    assert_non_null(t);
    assert_int_equal(t->severity, CAIRN_SEV_HIGH);
    assert_int_equal((size_t)t->value, want_early);
    cairn_findings_reset(&fl);
    cairn_split_reset(&s);

    /* A group split: no overlap. A time split: no test row before training. */
    split_by(f, CAIRN_SPLIT_GROUP, &s);
    assert_int_equal(cairn_leak_check(f, &s, &cfg, &fl, NULL), CAIRN_OK);
    assert_null(find(&fl, "entity_overlap", NULL));
    cairn_findings_reset(&fl);
    cairn_split_reset(&s);
    split_by(f, CAIRN_SPLIT_TIME, &s);
    assert_int_equal(cairn_leak_check(f, &s, &cfg, &fl, NULL), CAIRN_OK);
    assert_null(find(&fl, "test_before_train", NULL));
    cairn_findings_reset(&fl);
    cairn_split_reset(&s);
    cairn_frame_free(f);
}

static void test_pii_and_errors(void **state)
{
    (void)state;
    cairn_frame *f = make_frame(200, 6);
    cairn_split s = {0};
    split_by(f, CAIRN_SPLIT_ORDER, &s);
    const size_t feats[3] = {C_NOISE, C_ENT, C_CNOISE};
    const bool pii[3] = {false, true, true};
    const bool allowed[3] = {false, false, true};
    cairn_leak_cfg cfg;
    cairn_leak_cfg_init(&cfg);
    cfg.features = feats;
    cfg.n_features = 3;
    cfg.pii = pii;
    cfg.pii_allowed = allowed;
    cairn_findings fl = {0};
    assert_int_equal(cairn_leak_check(f, &s, &cfg, &fl, NULL), CAIRN_OK);
    const cairn_finding *p = find(&fl, "pii_feature", "ent");
    assert_non_null(p);
    assert_int_equal(p->severity, CAIRN_SEV_CRITICAL);
    p = find(&fl, "pii_feature", "cnoise");
    assert_non_null(p);
    assert_int_equal(p->severity, CAIRN_SEV_HIGH);
    assert_null(find(&fl, "pii_feature", "noise"));
    cairn_findings_reset(&fl);

    /* Bad arguments. */
    const size_t bad[1] = {99};
    cfg.features = bad;
    cfg.n_features = 1;
    cfg.pii = NULL;
    cairn_error err = {0};
    assert_int_equal(cairn_leak_check(f, &s, &cfg, &fl, &err), CAIRN_EINVAL);
    cfg.n_features = 0;
    s.n_rows--;
    assert_int_equal(cairn_leak_check(f, &s, &cfg, &fl, &err), CAIRN_EINVAL);
    s.n_rows++;

    /* Every allocation failure ends in ENOMEM or success, leak-clean. */
    const size_t all[4] = {C_LEAK, C_NOISE, C_CLEAK, C_CNOISE};
    cfg.features = all;
    cfg.n_features = 4;
    cfg.label_col = C_Y;
    cfg.entity_col = C_ENT;
    cfg.time_col = C_TIME;
    bool ok = false;
    for (long k = 1; k < 300 && !ok; k++) {
        cairn_alloc_fail_after(k, false);
        cairn_status st = cairn_leak_check(f, &s, &cfg, &fl, NULL);
        cairn_alloc_fail_after(0, false);
        assert_true(st == CAIRN_OK || st == CAIRN_ENOMEM);
        ok = st == CAIRN_OK;
        cairn_findings_reset(&fl);
    }
    assert_true(ok);
    cairn_split_reset(&s);
    cairn_frame_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_feature_binary),
        cmocka_unit_test(test_single_feature_other_tasks),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_entities_and_time),
        cmocka_unit_test(test_pii_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
