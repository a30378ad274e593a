/*
 * test_model.c -- the inference model (src/serve/model.c) on real artifacts.
 *
 * One scratch home is built for the whole group: synthetic CSV datasets
 * with a known relationship (numbers with nulls, an integer, a category, a
 * bool, a timestamp, an entity id), contracts inferred and saved for three
 * of them, and runs trained through cairn_train for every task and model
 * type. The independent oracle for the scores is the pipeline's own batch
 * path on the run's test part (cairn_test_part_load + cairn_test_part_score:
 * batch transform of the frame, batch predict), with transform and model
 * decoded from a second, separate load of the artifact; the model under test
 * scores the same rows one by one from fields built from the raw frame
 * cells, and the two must agree bit for bit. Labels, thresholds and classes
 * are checked against the run's own evaluation JSON; the baseline against
 * class shares and means counted here from the training part.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "contract/contract.h"
#include "pipeline/train.h"
#include "registry/models.h"
#include "review/govern.h"
#include "serve/serve.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOME_FIXTURE_PREFIX "model-"
#include "test_home_fixture.h"

#define N_ROWS 600

/* ---- the datasets -------------------------------------------------------------------- */

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static double rng_unif(uint64_t *s)
{
    return (double)(rng_next(s) >> 11) / 9007199254740992.0;
}

/*
 * Writes N_ROWS rows of id,x1,x2,plan,active,seen_at,y. The features are the
 * same for every task (same seed); y is drawn from a noisy function of them:
 * binary "Yes"/"No" from a logistic, regression a linear value plus noise,
 * multiclass a/b/c from a softmax. x1 is null in every 17th row.
 */
static void write_csv(const char *path, const char *task)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fprintf(fp, "id,x1,x2,plan,active,seen_at,y\n");
    uint64_t s = 0x9e3779b97f4a7c15ull;
    static const char *const plans[] = {"basic", "plus", "pro"};
    for (int i = 0; i < N_ROWS; i++) {
        double x1 = floor((rng_unif(&s) * 4.0 - 2.0) * 1000.0) / 1000.0;
        int x1_null = i % 17 == 3;
        int x2 = (int)(rng_unif(&s) * 101.0);
        int plan = (int)(rng_unif(&s) * 3.0);
        int active = rng_unif(&s) < 0.6;
        int day = 1 + (int)(rng_unif(&s) * 28.0), hour = (int)(rng_unif(&s) * 24.0);
        int month = 1 + i % 12;
        double u = rng_unif(&s), u2 = rng_unif(&s);
        double ex1 = x1_null ? 0.0 : x1;
        char y[32];
        if (!strcmp(task, "binary")) {
            double z = 1.2 * ex1 - 0.02 * (x2 - 50) + (plan == 2 ? 0.8 : 0.0) +
                       (active ? 0.5 : -0.5);
            snprintf(y, sizeof y, "%s", u < 1.0 / (1.0 + exp(-z)) ? "Yes" : "No");
        } else if (!strcmp(task, "regression")) {
            double noise = sqrt(-2.0 * log(u + 1e-12)) * cos(6.283185307179586 * u2);
            snprintf(y, sizeof y, "%.4f",
                     3.0 * ex1 + 0.1 * x2 + plan + (active ? 1.0 : 0.0) + 2.0 * noise);
        } else {
            double e[3] = {exp(ex1), exp(0.02 * (x2 - 50)), exp(plan == 1 ? 1.0 : 0.0)};
            double t = u * (e[0] + e[1] + e[2]);
            snprintf(y, sizeof y, "%s", t < e[0] ? "a" : t < e[0] + e[1] ? "b" : "c");
        }
        fprintf(fp, "cust-%04d,", i);
        if (!x1_null)
            fprintf(fp, "%.3f", x1);
        fprintf(fp, ",%d,%s,%s,2024-%02d-%02dT%02d:15:00Z,%s\n", x2, plans[plan],
                active ? "true" : "false", month, day, hour, y);
    }
    fclose(fp);
}

/* Adds dataset NAME from a CSV for task; with_contract also infers its contract
 * (label y, entity id) and saves it where training finds it. */
static void add_dataset(cairn_home *h, const char *dir, const char *name, const char *task,
                        bool with_contract)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s.csv", dir, name);
    write_csv(path, task);
    cairn_error err = {0};
    cairn_dataset_info info;
    cairn_read_opts ro;
    cairn_read_opts_init(&ro);
    ro.n_threads = 1;
    assert_int_equal(cairn_dataset_add(h, path, name, &ro, &info, &err), CAIRN_OK);
    if (!with_contract)
        return;
    cairn_frame *f = NULL;
    cairn_contract *c = NULL;
    assert_int_equal(cairn_dataset_load(h, name, &f, &info, &err), CAIRN_OK);
    cairn_infer_opts io;
    cairn_infer_opts_init(&io);
    io.label = "y";
    io.entity = "id";
    assert_int_equal(cairn_contract_infer(f, NULL, &io, &c, &err), CAIRN_OK);
    cairn_buf yaml;
    cairn_buf_init(&yaml);
    cairn_contract_to_yaml(c, &yaml);
    assert_false(yaml.failed);
    char cdir[700];
    snprintf(cdir, sizeof cdir, "%s/contracts", h->dir);
    char *cpath = cairn_home_contract_path(h, name);
    assert_int_equal(cairn_mkdirs(cdir, &err), CAIRN_OK);
    assert_int_equal(cairn_write_file_atomic(cpath, yaml.data, yaml.len, &err), CAIRN_OK);
    cairn_free(cpath);
    cairn_buf_reset(&yaml);
    cairn_contract_free(c);
    cairn_frame_free(f);
}

/* ---- the trained models ---------------------------------------------------------------- */

typedef struct trained {
    const char *name;             /* run spec name (= registry model when promoted) */
    cairn_run_record rec;
    cairn_buf bytes;              /* the run's artifact */
    cairn_test_part tp;
    double *oracle;               /* tp.n x k scores from the batch path */
    size_t k;                     /* scores per row */
    cJSON *eval;                  /* the run's eval_json */
    cairn_model *m;               /* from the artifact bytes */
} trained;

enum { BIN_GBDT, BIN_LINEAR, BIN_NOCONTRACT, REG_GBDT, REG_LINEAR, MC_GBDT, MC_LINEAR, N_TRAINED };

typedef struct world {
    fixture *fx;
    cairn_home *h;
    trained t[N_TRAINED];
} world;

static void train_one(world *w, trained *t, const char *name, const char *data, const char *task,
                      const char *model)
{
    char spec[1024];
    snprintf(spec, sizeof spec,
             "name: %s\ndata: %s\nlabel: y\n%stask: %s\nentity: id\n"
             "split: {by: stratified}\nmodel: %s\nevaluation: {bootstrap: 0}\n",
             name, data, !strcmp(task, "binary") ? "positive: \"Yes\"\n" : "", task, model);
    if (strcmp(task, "binary"))
        snprintf(spec, sizeof spec,
                 "name: %s\ndata: %s\nlabel: y\ntask: %s\nentity: id\nsplit: {by: group}\n"
                 "model: %s\nevaluation: {bootstrap: 0}\n",
                 name, data, task, model);
    cairn_error err = {0};
    cairn_train_opts o;
    cairn_train_opts_init(&o);
    o.threads = 2;
    t->name = name;
    cairn_status st = cairn_train(w->h, spec, strlen(spec), name, &o, &t->rec, &err);
    if (st != CAIRN_OK)
        fail_msg("training %s: %s (%s)", name, err.msg, err.where);
    cairn_buf_init(&t->bytes);
    assert_int_equal(cairn_run_artifact(w->h, &t->rec, &t->bytes, &err), CAIRN_OK);
    assert_false(t->bytes.failed);

    /* The oracle: the pipeline's batch scoring of the test part, with states
     * decoded from a load of its own. */
    cairn_artifact *a = NULL;
    assert_int_equal(cairn_artifact_load(t->bytes.data, t->bytes.len, &a, &err), CAIRN_OK);
    assert_int_equal(cairn_test_part_load(w->h, &t->rec, &t->tp, &err), CAIRN_OK);
    assert_true(t->tp.n > 50);
    assert_int_equal(cairn_test_part_score(&t->tp, a->transform, a->trees, a->linear, 2,
                                           &t->oracle, &err),
                     CAIRN_OK);
    t->k = t->tp.task == CAIRN_TASK_MULTICLASS ? t->tp.n_classes : 1;
    cairn_artifact_free(a);
    t->eval = cJSON_Parse(t->rec.eval_json);
    assert_non_null(t->eval);

    /* The model under test, from its own load of the same bytes. */
    assert_int_equal(cairn_artifact_load(t->bytes.data, t->bytes.len, &a, &err), CAIRN_OK);
    assert_int_equal(cairn_model_from_artifact(a, NULL, 0, &t->m, &err), CAIRN_OK);
}

static int group_setup(void **state)
{
    world *w = calloc(1, sizeof *w);
    void *fxs = NULL;
    if (!w || setup(&fxs) != 0)
        return -1;
    w->fx = fxs;
    cairn_error err = {0};
    if (cairn_home_init(w->fx->home, &err) != CAIRN_OK ||
        cairn_home_open(w->fx->home, &w->h, &err) != CAIRN_OK)
        return -1;
    add_dataset(w->h, w->fx->dir, "bin", "binary", true);
    add_dataset(w->h, w->fx->dir, "binnc", "binary", false);
    add_dataset(w->h, w->fx->dir, "reg", "regression", true);
    add_dataset(w->h, w->fx->dir, "mc", "multiclass", true);
    const char *gbdt = "{type: gbdt, rounds: 25, max_depth: 3, early_stopping: 0}";
    train_one(w, &w->t[BIN_GBDT], "bin", "bin", "binary", gbdt);
    train_one(w, &w->t[BIN_LINEAR], "binlin", "bin", "binary", "{type: linear}");
    train_one(w, &w->t[BIN_NOCONTRACT], "binnc", "binnc", "binary", "{type: linear}");
    train_one(w, &w->t[REG_GBDT], "reg", "reg", "regression", gbdt);
    train_one(w, &w->t[REG_LINEAR], "reglin", "reg", "regression", "{type: linear}");
    train_one(w, &w->t[MC_GBDT], "mc", "mc", "multiclass", gbdt);
    train_one(w, &w->t[MC_LINEAR], "mclin", "mc", "multiclass", "{type: linear}");
    *state = w;
    return 0;
}

static int group_teardown(void **state)
{
    world *w = *state;
    for (int i = 0; i < N_TRAINED; i++) {
        trained *t = &w->t[i];
        cairn_model_close(t->m);
        cJSON_Delete(t->eval);
        cairn_free(t->oracle);
        cairn_test_part_reset(&t->tp);
        cairn_buf_reset(&t->bytes);
        cairn_run_record_reset(&t->rec);
    }
    cairn_home_close(w->h);
    void *fxs = w->fx;
    teardown(&fxs);
    free(w);
    return 0;
}

/* ---- rows from the frame ----------------------------------------------------------------- */

/* One test row as request fields: every column but the label, from the raw
 * frame cells (numbers, strings, bools; timestamps as ISO 8601 text). A null
 * cell is sent as an explicit null or left out, alternating by row. */
typedef struct row_fields {
    cairn_field f[16];
    char text[16][48];
    size_t n;
} row_fields;

static void frame_row(const cairn_frame *fr, size_t r, row_fields *out)
{
    memset(out, 0, sizeof *out);
    for (size_t j = 0; j < fr->n_cols && out->n < 16; j++) {
        const cairn_column *c = &fr->cols[j];
        if (!strcmp(c->name, "y"))
            continue;
        cairn_field *fd = &out->f[out->n];
        fd->name = c->name;
        if (!c->valid[r]) {
            if (r % 2)
                continue;           /* a missing field reads as null */
            fd->kind = CAIRN_VALUE_NULL;
            out->n++;
            continue;
        }
        switch (c->type) {
        case CAIRN_TYPE_BOOL: fd->kind = CAIRN_VALUE_BOOL; fd->b = c->v.b[r]; break;
        case CAIRN_TYPE_INT64: fd->kind = CAIRN_VALUE_NUMBER; fd->num = (double)c->v.i64[r]; break;
        case CAIRN_TYPE_FLOAT64: fd->kind = CAIRN_VALUE_NUMBER; fd->num = c->v.f64[r]; break;
        case CAIRN_TYPE_TIMESTAMP:
            cairn_fmt_timestamp(out->text[out->n], sizeof out->text[0], c->v.i64[r]);
            fd->kind = CAIRN_VALUE_STRING;
            fd->str = out->text[out->n];
            fd->str_len = strlen(fd->str);
            break;
        case CAIRN_TYPE_STRING:
            fd->kind = CAIRN_VALUE_STRING;
            fd->str = cairn_dict_str(&c->dict, c->v.codes[r]);
            fd->str_len = cairn_dict_len(&c->dict, c->v.codes[r]);
            break;
        default: fail_msg("unexpected column type");
        }
        out->n++;
    }
}

/* The frame rows of the test part, in order (as the batch transform visits them). */
static size_t *test_rows(const trained *t)
{
    size_t *rows = malloc(t->tp.n * sizeof *rows), n = 0;
    assert_non_null(rows);
    for (size_t r = 0; r < t->tp.frame->n_rows; r++)
        if (t->tp.part[r] == CAIRN_PART_TEST)
            rows[n++] = r;
    assert_int_equal(n, t->tp.n);
    return rows;
}

static bool same_bits(double a, double b)
{
    return memcmp(&a, &b, sizeof a) == 0;
}

/* The oracle's prediction for test row i: the score, and the class index
 * (binary: by the run's threshold; multiclass: the first maximum). */
static double oracle_pred(const trained *t, size_t i, double threshold, int *cls)
{
    const double *s = t->oracle + i * t->k;
    if (t->tp.task == CAIRN_TASK_REGRESSION) {
        *cls = -1;
        return s[0];
    }
    if (t->tp.task == CAIRN_TASK_BINARY) {
        *cls = s[0] >= threshold ? 1 : 0;
        return s[0];
    }
    size_t best = 0;
    for (size_t c = 1; c < t->k; c++)
        if (s[c] > s[best])
            best = c;
    *cls = (int)best;
    return s[best];
}

static double eval_threshold(const trained *t)
{
    const cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(t->eval, "threshold"), "value");
    assert_true(cJSON_IsNumber(v));
    return v->valuedouble;
}

/* ---- tests ------------------------------------------------------------------------------- */

/* Every model scores every test row exactly as the pipeline's batch path did. */
static void test_matches_pipeline(void **state)
{
    world *w = *state;
    for (int which = 0; which < N_TRAINED; which++) {
        trained *t = &w->t[which];
        size_t *rows = test_rows(t);
        double th = t->tp.task == CAIRN_TASK_BINARY ? eval_threshold(t) : 0.5;
        const cJSON *classes = cJSON_GetObjectItem(t->eval, "classes");
        size_t seen[2] = {0, 0};
        for (size_t i = 0; i < t->tp.n; i++) {
            row_fields rf;
            frame_row(t->tp.frame, rows[i], &rf);
            cairn_prediction p;
            cairn_error err = {0};
            cairn_status st = cairn_model_predict(t->m, rf.f, rf.n, (long)i, &p, NULL, &err);
            if (st != CAIRN_OK)
                fail_msg("%s row %zu: %s (%s)", t->name, i, err.msg, err.where);
            int cls;
            double want = oracle_pred(t, i, th, &cls);
            if (!same_bits(p.score, want))
                fail_msg("%s row %zu: score %.17g, pipeline %.17g", t->name, i, p.score, want);
            assert_int_equal(p.class_index, cls);
            switch (t->tp.task) {
            case CAIRN_TASK_BINARY:
                /* The negative class: the label's other domain value when the
                 * contract lists two, else "not Yes". */
                assert_string_equal(p.label, cls                        ? "Yes"
                                             : which == BIN_NOCONTRACT ? "not Yes"
                                                                       : "No");
                seen[cls]++;
                break;
            case CAIRN_TASK_MULTICLASS:
                assert_string_equal(p.label, cJSON_GetArrayItem(classes, cls)->valuestring);
                break;
            default: assert_null(p.label); break;
            }
        }
        if (t->tp.task == CAIRN_TASK_BINARY)
            assert_true(seen[0] > 0 && seen[1] > 0);   /* both labels exercised */
        free(rows);
    }
}

static void test_meta(void **state)
{
    world *w = *state;
    static const char *const inputs[] = {"x1", "x2", "plan", "active", "seen_at"};
    for (int which = 0; which < N_TRAINED; which++) {
        trained *t = &w->t[which];
        cairn_model_meta mm;
        cairn_model_get_meta(t->m, &mm);
        assert_string_equal(mm.name, t->name);      /* the manifest's name */
        assert_int_equal(mm.version, 0);
        assert_string_equal(mm.task, cairn_task_name(t->tp.task));
        assert_string_equal(mm.model_type, t->rec.model_type);
        assert_string_equal(mm.run_id, t->rec.id);
        assert_string_equal(mm.label, "y");
        assert_string_equal(mm.entity, "id");
        /* The identity is the BLAKE2b-256 of the artifact bytes. */
        unsigned char hash[CAIRN_HASH_BYTES];
        char hex[CAIRN_HASH_HEX];
        cairn_hasher hs;
        cairn_hasher_init(&hs);
        cairn_hasher_update(&hs, t->bytes.data, t->bytes.len);
        cairn_hasher_final(&hs, hash);
        cairn_hash_hex(hash, hex);
        assert_string_equal(mm.artifact_hash, hex);
        assert_int_equal(mm.n_inputs, 5);
        for (size_t i = 0; i < 5; i++)
            assert_string_equal(cairn_model_input_name(t->m, i), inputs[i]);
        assert_null(cairn_model_input_name(t->m, 5));
        assert_int_equal(mm.has_contract, which != BIN_NOCONTRACT);
        assert_true((cairn_model_contract(t->m) != NULL) == (which != BIN_NOCONTRACT));
        switch (t->tp.task) {
        case CAIRN_TASK_BINARY:
            assert_int_equal(mm.n_classes, 2);
            assert_true(same_bits(mm.threshold, eval_threshold(t)));
            break;
        case CAIRN_TASK_MULTICLASS: assert_int_equal(mm.n_classes, 3); break;
        default: assert_int_equal(mm.n_classes, 1); break;
        }
        /* Transformed features: gbdt keeps one per category, linear one-hot. */
        assert_true(cairn_model_n_features(t->m) >= 5);
    }
}

/* The baseline: the training part's positive share, mean, or class shares. */
static void test_baseline(void **state)
{
    world *w = *state;
    static const int which_list[] = {BIN_GBDT, REG_LINEAR, MC_GBDT};
    for (size_t q = 0; q < CAIRN_ARRAY_LEN(which_list); q++) {
        trained *t = &w->t[which_list[q]];
        const cairn_frame *fr = t->tp.frame;
        const cairn_column *y = &fr->cols[cairn_frame_find(fr, "y")];
        double sum = 0, cnt[3] = {0, 0, 0};
        size_t n = 0;
        for (size_t r = 0; r < fr->n_rows; r++) {
            if (t->tp.part[r] != CAIRN_PART_TRAIN || !y->valid[r])
                continue;
            n++;
            if (y->type == CAIRN_TYPE_FLOAT64) {
                sum += y->v.f64[r];
            } else {
                const char *s = cairn_dict_str(&y->dict, y->v.codes[r]);
                if (t->tp.task == CAIRN_TASK_BINARY)
                    sum += !strcmp(s, "Yes");
                else
                    cnt[s[0] - 'a']++;
            }
        }
        size_t *rows = test_rows(t);
        row_fields rf;
        frame_row(fr, rows[0], &rf);
        cairn_prediction p;
        cairn_error err = {0};
        assert_int_equal(cairn_model_predict_baseline(t->m, rf.f, rf.n, 0, &p, NULL, &err),
                         CAIRN_OK);
        if (t->tp.task == CAIRN_TASK_MULTICLASS) {
            size_t best = 0;
            for (size_t c = 1; c < 3; c++)
                if (cnt[c] > cnt[best])
                    best = c;
            /* Class names are in code order; here they are a, b, c. */
            const char *names[] = {"a", "b", "c"};
            assert_string_equal(p.label, names[best]);
            assert_float_equal(p.score, cnt[best] / (double)n, 1e-12);
        } else {
            assert_float_equal(p.score, sum / (double)n, 1e-9);
            if (t->tp.task == CAIRN_TASK_REGRESSION)
                assert_null(p.label);
            else
                assert_string_equal(p.label, p.score >= eval_threshold(t) ? "Yes" : "No");
        }
        /* The same for any row: the baseline reads no feature. */
        frame_row(fr, rows[1], &rf);
        cairn_prediction p2;
        assert_int_equal(cairn_model_predict_baseline(t->m, rf.f, rf.n, 1, &p2, NULL, &err),
                         CAIRN_OK);
        assert_true(same_bits(p.score, p2.score));
        free(rows);
    }
}

static bool has_violation(const cairn_violations *v, long row, const char *field,
                          const char *problem)
{
    for (size_t i = 0; i < v->n; i++)
        if (v->items[i].row == row && !strcmp(v->items[i].field, field) &&
            strstr(v->items[i].problem, problem))
            return true;
    return false;
}

static void test_contract_violations(void **state)
{
    world *w = *state;
    cairn_model *m = w->t[BIN_GBDT].m;
    cairn_field bad[] = {{.name = "x2", .kind = CAIRN_VALUE_STRING, .str = "abc", .str_len = 3},
                         {.name = "plan", .kind = CAIRN_VALUE_STRING, .str = "platinum",
                          .str_len = 8},
                         {.name = "zzz", .kind = CAIRN_VALUE_NUMBER, .num = 1},
                         {.name = "seen_at", .kind = CAIRN_VALUE_STRING,
                          .str = "2024-05-01T10:15:00Z", .str_len = 20}};
    cairn_violations v = {0};
    cairn_prediction p = {.score = -7};
    cairn_error err = {0};
    assert_int_equal(cairn_model_predict(m, bad, 4, 42, &p, &v, &err), CAIRN_ECHECK);
    assert_int_equal(err.code, CAIRN_ECHECK);
    assert_true(p.score == -7);                 /* nothing scored */
    assert_true(has_violation(&v, 42, "x2", "expected an integer"));
    assert_true(has_violation(&v, 42, "plan", "unknown category"));
    assert_true(has_violation(&v, 42, "zzz", "unknown field"));
    assert_true(has_violation(&v, 42, "active", "missing required field"));
    assert_false(has_violation(&v, 42, "x1", ""));   /* nullable, missing: fine */
    assert_int_equal(v.n, 4);
    /* Without a list the status alone reports it; the baseline validates too. */
    assert_int_equal(cairn_model_predict(m, bad, 4, 0, &p, NULL, NULL), CAIRN_ECHECK);
    assert_int_equal(cairn_model_predict_baseline(m, bad, 4, 7, &p, &v, NULL), CAIRN_ECHECK);
    assert_true(has_violation(&v, 7, "plan", "unknown category"));
    cairn_violations_reset(&v);

    /* A valid row with x1 missing (nullable) scores. */
    cairn_field ok[] = {{.name = "x2", .kind = CAIRN_VALUE_NUMBER, .num = 10},
                        {.name = "plan", .kind = CAIRN_VALUE_STRING, .str = "pro", .str_len = 3},
                        {.name = "active", .kind = CAIRN_VALUE_BOOL, .b = 1},
                        {.name = "seen_at", .kind = CAIRN_VALUE_STRING,
                         .str = "2024-05-01T10:15:00Z", .str_len = 20}};
    assert_int_equal(cairn_model_predict(m, ok, 4, 0, &p, &v, &err), CAIRN_OK);
    assert_int_equal(v.n, 0);
    assert_true(p.score > 0 && p.score < 1);

    /* Without a contract nothing is validated, but the transform still refuses
     * a value it cannot read, naming the field. */
    cairn_model *nc = w->t[BIN_NOCONTRACT].m;
    cairn_field extra[] = {{.name = "zzz", .kind = CAIRN_VALUE_NUMBER, .num = 1},
                           {.name = "x2", .kind = CAIRN_VALUE_NUMBER, .num = 10}};
    assert_int_equal(cairn_model_predict(nc, extra, 2, 0, &p, &v, &err), CAIRN_OK);
    assert_int_equal(v.n, 0);
    memset(&err, 0, sizeof err);
    assert_int_equal(cairn_model_predict(nc, bad, 1, 0, &p, &v, &err), CAIRN_EINPUT);
    assert_string_equal(err.where, "x2");
    assert_int_equal(v.n, 0);
}

static void test_batch(void **state)
{
    world *w = *state;
    for (int which = 0; which < N_TRAINED; which++) {
        trained *t = &w->t[which];
        size_t *rows = test_rows(t), n = t->tp.n;
        row_fields *rf = calloc(n, sizeof *rf);
        const cairn_field **ptr = calloc(n, sizeof *ptr);
        size_t *nf = calloc(n, sizeof *nf);
        cairn_prediction *out = calloc(n, sizeof *out);
        assert_true(rf && ptr && nf && out);
        for (size_t i = 0; i < n; i++) {
            frame_row(t->tp.frame, rows[i], &rf[i]);
            ptr[i] = rf[i].f;
            nf[i] = rf[i].n;
        }
        cairn_error err = {0};
        assert_int_equal(cairn_model_predict_batch(t->m, ptr, nf, n, 3, out, NULL, &err),
                         CAIRN_OK);
        for (size_t i = 0; i < n; i++) {
            cairn_prediction p;
            assert_int_equal(cairn_model_predict(t->m, ptr[i], nf[i], 0, &p, NULL, &err),
                             CAIRN_OK);
            assert_true(same_bits(out[i].score, p.score));
            assert_int_equal(out[i].class_index, p.class_index);
            assert_ptr_equal(out[i].label, p.label);
        }
        if (which == BIN_GBDT) {
            /* Two bad rows: every violation is reported, tagged with its row
             * index, and nothing is scored. */
            cairn_field bad3[] = {{.name = "plan", .kind = CAIRN_VALUE_STRING, .str = "gold",
                                   .str_len = 4}};
            cairn_field bad9[] = {{.name = "x2", .kind = CAIRN_VALUE_NUMBER, .num = 1.5}};
            ptr[3] = bad3;
            nf[3] = 1;
            ptr[9] = bad9;
            nf[9] = 1;
            memset(out, 0, n * sizeof *out);
            cairn_violations v = {0};
            assert_int_equal(cairn_model_predict_batch(t->m, ptr, nf, n, 0, out, &v, &err),
                             CAIRN_ECHECK);
            assert_true(has_violation(&v, 3, "plan", "unknown category"));
            assert_true(has_violation(&v, 3, "active", "missing required field"));
            assert_true(has_violation(&v, 9, "x2", "expected an integer"));
            for (size_t i = 0; i < v.n; i++)
                assert_true(v.items[i].row == 3 || v.items[i].row == 9);
            for (size_t i = 0; i < n; i++)
                assert_null(out[i].label);
            cairn_violations_reset(&v);
            assert_int_equal(cairn_model_predict_batch(t->m, ptr, nf, n, 2, out, NULL, &err),
                             CAIRN_ECHECK);
            assert_non_null(strstr(err.where, "row 3"));
        }
        if (which == BIN_NOCONTRACT) {
            /* An unreadable value fails the batch; the first bad row is named. */
            cairn_field bad[] = {{.name = "x2", .kind = CAIRN_VALUE_STRING, .str = "abc",
                                  .str_len = 3}};
            ptr[n - 1] = bad;
            nf[n - 1] = 1;
            ptr[5] = bad;
            nf[5] = 1;
            memset(&err, 0, sizeof err);
            assert_int_equal(cairn_model_predict_batch(t->m, ptr, nf, n, 4, out, NULL, &err),
                             CAIRN_EINPUT);
            assert_string_equal(err.where, "row 5, field x2");
        }
        /* An empty batch is fine. */
        assert_int_equal(cairn_model_predict_batch(t->m, NULL, NULL, 0, 0, NULL, NULL, &err),
                         CAIRN_OK);
        free(rf);
        free(ptr);
        free(nf);
        free(out);
        free(rows);
    }
}

/* Four threads score the same model at once and agree with the oracle. */
typedef struct job {
    const trained *t;
    const size_t *rows;
    int failures;
} job;

static void *score_all(void *arg)
{
    job *j = arg;
    const trained *t = j->t;
    cairn_model_meta mm;
    cairn_model_get_meta(t->m, &mm);
    for (int pass = 0; pass < 3; pass++)
        for (size_t i = 0; i < t->tp.n; i++) {
            row_fields rf;
            frame_row(t->tp.frame, j->rows[i], &rf);
            cairn_prediction p;
            int cls;
            if (cairn_model_predict(t->m, rf.f, rf.n, (long)i, &p, NULL, NULL) != CAIRN_OK ||
                !same_bits(p.score, oracle_pred(t, i, mm.threshold, &cls)) ||
                p.class_index != cls)
                j->failures++;
        }
    return NULL;
}

static void test_threads(void **state)
{
    world *w = *state;
    static const int which_list[] = {BIN_GBDT, MC_LINEAR};
    for (size_t q = 0; q < CAIRN_ARRAY_LEN(which_list); q++) {
        const trained *t = &w->t[which_list[q]];
        size_t *rows = test_rows(t);
        pthread_t th[4];
        job jobs[4];
        for (int i = 0; i < 4; i++) {
            jobs[i] = (job){.t = t, .rows = rows};
            assert_int_equal(pthread_create(&th[i], NULL, score_all, &jobs[i]), 0);
        }
        for (int i = 0; i < 4; i++) {
            pthread_join(th[i], NULL);
            assert_int_equal(jobs[i].failures, 0);
        }
        free(rows);
    }
}

/* Promoted versions open from the home by name, number and alias. */
static void test_open_from_home(void **state)
{
    world *w = *state;
    cairn_error err = {0};
    cairn_model *m = NULL;
    assert_int_equal(cairn_model_open(w->h, "bin", &m, &err), CAIRN_ENOTFOUND);
    assert_null(m);
    assert_int_equal(cairn_model_open(w->h, "bin@@", &m, &err), CAIRN_EINVAL);

    cairn_promote_opts po;
    cairn_promote_opts_init(&po);
    po.override_reason = "test: promote whatever the review says";
    po.threads = 2;
    cairn_promote_result pr = {0};
    assert_int_equal(cairn_promote(w->h, w->t[BIN_GBDT].rec.id, &po, &pr, &err), CAIRN_OK);
    assert_int_equal(pr.version, 1);

    static const char *const refs[] = {"bin", "bin@1", "bin@production"};
    for (size_t q = 0; q < CAIRN_ARRAY_LEN(refs); q++) {
        memset(&err, 0, sizeof err);
        if (cairn_model_open(w->h, refs[q], &m, &err) != CAIRN_OK)
            fail_msg("open %s: %s (%s)", refs[q], err.msg, err.where);
        cairn_model_meta mm, ref;
        cairn_model_get_meta(m, &mm);
        cairn_model_get_meta(w->t[BIN_GBDT].m, &ref);
        assert_string_equal(mm.name, "bin");
        assert_int_equal(mm.version, 1);
        assert_string_equal(mm.artifact_hash, pr.artifact_hash);
        assert_string_equal(mm.artifact_hash, ref.artifact_hash);
        assert_true(same_bits(mm.threshold, ref.threshold));
        /* It scores as the artifact it came from. */
        size_t *rows = test_rows(&w->t[BIN_GBDT]);
        for (size_t i = 0; i < 20; i++) {
            row_fields rf;
            frame_row(w->t[BIN_GBDT].tp.frame, rows[i], &rf);
            cairn_prediction a, b;
            assert_int_equal(cairn_model_predict(m, rf.f, rf.n, 0, &a, NULL, NULL), CAIRN_OK);
            assert_int_equal(cairn_model_predict(w->t[BIN_GBDT].m, rf.f, rf.n, 0, &b, NULL, NULL),
                             CAIRN_OK);
            assert_true(same_bits(a.score, b.score));
            assert_string_equal(a.label, b.label);
        }
        free(rows);
        cairn_model_close(m);
        m = NULL;
    }
    assert_int_equal(cairn_model_open(w->h, "bin@2", &m, &err), CAIRN_ENOTFOUND);
    assert_int_equal(cairn_model_open(w->h, "bin@canary", &m, &err), CAIRN_ENOTFOUND);
    assert_null(m);
    cairn_promote_result_reset(&pr);
}

static void write_bytes(const char *path, const void *p, size_t n)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(p, 1, n, fp), n);
    fclose(fp);
}

static void test_open_file(void **state)
{
    world *w = *state;
    const trained *t = &w->t[MC_GBDT];
    char path[700];
    snprintf(path, sizeof path, "%s/mc.art", w->fx->dir);
    write_bytes(path, t->bytes.data, t->bytes.len);
    cairn_error err = {0};
    cairn_model *m = NULL;
    assert_int_equal(cairn_model_open_file(path, &m, &err), CAIRN_OK);
    cairn_model_meta mm;
    cairn_model_get_meta(m, &mm);
    assert_string_equal(mm.name, "mc");
    assert_int_equal(mm.version, 0);
    assert_string_equal(mm.task, "multiclass");
    assert_int_equal(mm.n_classes, 3);
    cairn_model_close(m);
    m = NULL;

    /* A flipped byte anywhere (here in the middle) and a truncation are refused. */
    char *copy = malloc(t->bytes.len);
    assert_non_null(copy);
    memcpy(copy, t->bytes.data, t->bytes.len);
    copy[t->bytes.len / 2] ^= 0x20;
    write_bytes(path, copy, t->bytes.len);
    memset(&err, 0, sizeof err);
    assert_int_equal(cairn_model_open_file(path, &m, &err), CAIRN_ECORRUPT);
    assert_null(m);
    assert_non_null(strstr(err.where, "mc.art"));
    write_bytes(path, t->bytes.data, t->bytes.len - 9);
    assert_int_equal(cairn_model_open_file(path, &m, &err), CAIRN_ECORRUPT);
    assert_null(m);
    free(copy);

    snprintf(path, sizeof path, "%s/absent.art", w->fx->dir);
    assert_int_not_equal(cairn_model_open_file(path, &m, &err), CAIRN_OK);
    assert_null(m);
    cairn_model_close(NULL);
}

/* Scoring a valid row allocates nothing: with every allocation failing, every
 * model still scores (and batch scoring in the calling thread too). */
static void test_no_allocation(void **state)
{
    world *w = *state;
    for (int which = 0; which < N_TRAINED; which++) {
        const trained *t = &w->t[which];
        size_t *rows = test_rows(t);
        row_fields rf;
        frame_row(t->tp.frame, rows[0], &rf);
        cairn_prediction p, b, q;
        const cairn_field *ptr[1] = {rf.f};
        size_t nf[1] = {rf.n};
        cairn_alloc_fail_after(1, true);
        cairn_status s1 = cairn_model_predict(t->m, rf.f, rf.n, 0, &p, NULL, NULL);
        cairn_status s2 = cairn_model_predict_baseline(t->m, rf.f, rf.n, 0, &b, NULL, NULL);
        cairn_status s3 = cairn_model_predict_batch(t->m, ptr, nf, 1, 1, &q, NULL, NULL);
        cairn_alloc_fail_after(0, false);
        assert_int_equal(s1, CAIRN_OK);
        assert_int_equal(s2, CAIRN_OK);
        assert_int_equal(s3, CAIRN_OK);
        assert_true(same_bits(p.score, q.score));
        free(rows);
    }
}

/* Out of memory at every step of making a model: an error, never a leak. */
static void test_alloc_failures(void **state)
{
    world *w = *state;
    const trained *t = &w->t[BIN_GBDT];
    bool done = false;
    for (long nth = 1; !done && nth < 5000; nth++) {
        cairn_artifact *a = NULL;
        cairn_error err = {0};
        assert_int_equal(cairn_artifact_load(t->bytes.data, t->bytes.len, &a, &err), CAIRN_OK);
        cairn_model *m = NULL;
        cairn_alloc_fail_after(nth, false);
        cairn_status st = cairn_model_from_artifact(a, "x", 3, &m, &err);
        cairn_alloc_fail_after(0, false);
        if (st == CAIRN_OK) {
            done = true;
            cairn_model_meta mm;
            cairn_model_get_meta(m, &mm);
            assert_string_equal(mm.name, "x");
            assert_int_equal(mm.version, 3);
        } else {
            assert_int_equal(st, CAIRN_ENOMEM);
            assert_null(m);
        }
        cairn_model_close(m);
    }
    assert_true(done);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_pipeline),
        cmocka_unit_test(test_meta),
        cmocka_unit_test(test_baseline),
        cmocka_unit_test(test_contract_violations),
        cmocka_unit_test(test_batch),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_open_file),
        cmocka_unit_test(test_no_allocation),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_open_from_home),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
