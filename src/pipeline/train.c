/*
 * train.c -- the training run: spec -> dataset -> split -> leakage checks ->
 * transforms -> model + baseline -> evaluation -> stored run (train.h).
 *
 * Everything random is seeded from the spec's seed (or --seed), and every
 * step is deterministic for a given input and thread count, so the same
 * spec, dataset version and seed give the same model bytes and metrics.
 * The test part is touched only by the transforms' apply step and the final
 * evaluation: the transforms, the model, the early-stopping round and the
 * decision threshold are all chosen on the training and validation parts.
 */
#include "pipeline/train.h"

#include "contract/contract.h"
#include "eval/eval.h"
#include "learn/linear.h"
#include "pipeline/refstats.h"
#include "pipeline/split.h"
#include "pipeline/transform.h"

#include <cblas.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <omp.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <xgboost/c_api.h>
#include <yaml.h>
#include <zlib.h>
#include <zstd.h>

#ifndef CAIRN_CODE_VERSION
#include "cairn_code_version.h"
#endif

enum { PART_NONE = 3 };   /* rows with a null label: in no part */

#define SLICE_NUM_BINS 5  /* numeric slices: training quintiles */

const char *cairn_code_version(void)
{
    return CAIRN_CODE_VERSION[0] ? CAIRN_CODE_VERSION : "unknown";
}

void cairn_build_info_json(cairn_buf *b)
{
    int xa = 0, xb = 0, xc = 0;
    XGBoostVersion(&xa, &xb, &xc);
    cairn_buf_puts(b, "{\"cairn\":");
    cairn_buf_put_json_string(b, cairn_version(), strlen(cairn_version()));
    cairn_buf_puts(b, ",\"compiler\":");
#if defined(__clang__)
    const char *cc = "clang " __clang_version__;
#elif defined(__GNUC__)
    const char *cc = "gcc " __VERSION__;
#else
    const char *cc = "unknown";
#endif
    cairn_buf_put_json_string(b, cc, strlen(cc));
    cairn_buf_printf(b, ",\"xgboost\":\"%d.%d.%d\"", xa, xb, xc);
    cairn_buf_printf(b, ",\"sqlite\":\"%s\",\"zstd\":\"%s\",\"zlib\":\"%s\"", sqlite3_libversion(),
                     ZSTD_versionString(), zlibVersion());
    cairn_buf_printf(b, ",\"cjson\":\"%s\",\"libyaml\":\"%s\",\"libsodium\":\"%s\"",
                     cJSON_Version(), yaml_get_version_string(), sodium_version_string());
    const char *ob = openblas_get_config();
    cairn_buf_puts(b, ",\"openblas\":");
    cairn_buf_put_json_string(b, ob ? ob : "", ob ? strlen(ob) : 0);
    cairn_buf_putc(b, '}');
}

void cairn_train_opts_init(cairn_train_opts *o)
{
    memset(o, 0, sizeof *o);
}

/* ---- the run's working state ----------------------------------------------------- */

typedef struct stage_time {
    const char *name;
    double seconds;
} stage_time;

typedef struct run_ctx {
    cairn_home *h;
    const cairn_train_opts *opts;
    cairn_run_record *rec;
    cairn_spec *spec;
    cairn_frame *frame;
    cairn_contract *contract;
    cairn_findings findings;
    cairn_split split;
    cairn_transform *tf;
    cairn_trees *trees;
    cairn_linear *linear;     /* the linear model (model type linear) */
    cairn_linear *baseline;
    cairn_gbdt_log glog;
    int threads;
    long label_col, entity_col, time_col;
    size_t *feat_idx;         /* the features after PII removal */
    size_t n_feat;
    bool *feat_pii, *feat_pii_allowed;
    char **dropped_pii;
    size_t n_dropped_pii;
    size_t n_unlabeled;
    /* labels */
    size_t n_classes;         /* multiclass: k; else 1 */
    char **class_names;       /* multiclass: k names, in class order */
    uint32_t *class_of_code;  /* multiclass string labels: dictionary code -> class */
    int64_t *class_values;    /* multiclass int/bool labels: sorted distinct values */
    /* matrices */
    double *X[3];
    size_t n[3];
    double *y[3];
    stage_time stages[16];
    size_t n_stages;
    double stage_t0;
    cairn_buf eval_json;
    double threshold;
    char threshold_by[16];
} run_ctx;

static void stage_begin(run_ctx *c, const char *name)
{
    c->stage_t0 = cairn_mono_s();
    if (c->opts->on_stage)
        c->opts->on_stage(c->opts->ctx, name, false, 0);
    if (c->n_stages < CAIRN_ARRAY_LEN(c->stages))
        c->stages[c->n_stages].name = name;
}

static void stage_end(run_ctx *c)
{
    double dt = cairn_mono_s() - c->stage_t0;
    if (c->n_stages < CAIRN_ARRAY_LEN(c->stages)) {
        c->stages[c->n_stages].seconds = dt;
        if (c->opts->on_stage)
            c->opts->on_stage(c->opts->ctx, c->stages[c->n_stages].name, true, dt);
        c->n_stages++;
    }
}

/* ---- load: dataset and contract ----------------------------------------------- */

static cairn_status load_contract(run_ctx *c, cairn_error *err)
{
    char *path = cairn_home_contract_path(c->h, c->spec->data_name);
    char *text = NULL;
    size_t len = 0;
    cairn_status st = CAIRN_OK;
    if (!path) {
        st = cairn_error_set(err, CAIRN_ENOMEM, "train", "out of memory");
        goto done;
    }
    if (access(path, F_OK) != 0)
        goto done;   /* no saved contract: PII is detected from the values */
    if ((st = cairn_read_file(path, &text, &len, err)) != CAIRN_OK)
        goto done;
    if ((st = cairn_contract_parse(text, len, path, &c->contract, err)) != CAIRN_OK)
        goto done;
    unsigned char hash[CAIRN_HASH_BYTES];
    char hex[CAIRN_HASH_HEX];
    cairn_hasher hs;
    cairn_hasher_init(&hs);
    cairn_hasher_update(&hs, text, len);
    cairn_hasher_final(&hs, hash);
    cairn_hash_hex(hash, hex);
    /* The contract's exact text, kept by its hash: the artifact made from this run
     * later embeds the contract the run was trained under, not whatever the saved
     * contract file says by then. */
    if ((st = cairn_home_object_put(c->h, hex, ".yaml", text, len, err)) != CAIRN_OK)
        goto done;
    c->rec->contract_hash = cairn_strdup(hex);
    if (!c->rec->contract_hash)
        st = cairn_error_set(err, CAIRN_ENOMEM, "train", "out of memory");
done:
    cairn_free(text);
    cairn_free(path);
    return st;
}

/* ---- resolve: features without PII ------------------------------------------------- */

static bool list_has(const cairn_spec_list *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->items[i], name) == 0)
            return true;
    return false;
}

static cairn_status choose_features(run_ctx *c, cairn_error *err)
{
    const cairn_spec_list *fl = &c->spec->features;
    c->feat_idx = cairn_calloc(fl->n ? fl->n : 1, sizeof *c->feat_idx);
    c->feat_pii = cairn_calloc(fl->n ? fl->n : 1, sizeof *c->feat_pii);
    c->feat_pii_allowed = cairn_calloc(fl->n ? fl->n : 1, sizeof *c->feat_pii_allowed);
    c->dropped_pii = cairn_calloc(fl->n ? fl->n : 1, sizeof *c->dropped_pii);
    if (!c->feat_idx || !c->feat_pii || !c->feat_pii_allowed || !c->dropped_pii)
        return cairn_error_set(err, CAIRN_ENOMEM, "train", "out of memory");
    for (size_t i = 0; i < fl->n; i++) {
        long col = cairn_frame_find(c->frame, fl->items[i]);
        if (col < 0)
            return cairn_error_set(err, CAIRN_EINTERNAL, fl->items[i], "resolved feature missing");
        cairn_pii pii = CAIRN_PII_NONE;
        if (c->contract) {
            long k = cairn_contract_find(c->contract, fl->items[i]);
            if (k >= 0)
                pii = c->contract->cols[k].pii;
        } else {
            pii = cairn_pii_detect(&c->frame->cols[col]);
        }
        bool allowed = list_has(&c->spec->allow_pii, fl->items[i]);
        if (pii != CAIRN_PII_NONE && !allowed) {
            c->dropped_pii[c->n_dropped_pii] = cairn_strdup(fl->items[i]);
            if (!c->dropped_pii[c->n_dropped_pii])
                return cairn_error_set(err, CAIRN_ENOMEM, "train", "out of memory");
            c->n_dropped_pii++;
            char what[256];
            snprintf(what, sizeof what,
                     "column '%.100s' holds personal data (%s) and was left out of the features",
                     fl->items[i], cairn_pii_name(pii));
            cairn_status st = cairn_findings_add(
                &c->findings, CAIRN_SEV_INFO, "pii_excluded", fl->items[i], NAN, what,
                "Personal data in a model is a privacy and compliance risk and rarely "
                "generalises.",
                "Nothing to do; list it in features.allow_pii only with a documented reason.");
            if (st != CAIRN_OK)
                return cairn_error_set(err, st, "train", "out of memory");
            continue;
        }
        c->feat_idx[c->n_feat] = (size_t)col;
        c->feat_pii[c->n_feat] = pii != CAIRN_PII_NONE;
        c->feat_pii_allowed[c->n_feat] = allowed;
        c->n_feat++;
    }
    if (c->n_feat == 0)
        return cairn_error_set(err, CAIRN_EINPUT, c->spec->source_name,
                               "no features left to learn from (%zu removed as PII)",
                               c->n_dropped_pii);
    return CAIRN_OK;
}

/* ---- labels ------------------------------------------------------------------------ */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static const cairn_dict *sort_dict;
static int cmp_code(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return strcmp(cairn_dict_str(sort_dict, x), cairn_dict_str(sort_dict, y));
}

/* Multiclass: the classes are the label's distinct values in sorted order. */
static cairn_status build_classes(run_ctx *c, cairn_error *err)
{
    const cairn_column *lab = &c->frame->cols[c->label_col];
    if (lab->type == CAIRN_TYPE_STRING) {
        uint32_t nd = lab->dict.n;
        uint8_t *seen = cairn_calloc(nd ? nd : 1, 1);
        uint32_t *codes = cairn_calloc(nd ? nd : 1, sizeof *codes);
        c->class_of_code = cairn_calloc(nd ? nd : 1, sizeof *c->class_of_code);
        if (!seen || !codes || !c->class_of_code) {
            cairn_free(seen);
            cairn_free(codes);
            return cairn_error_set(err, CAIRN_ENOMEM, "train", "out of memory");
        }
        for (size_t i = 0; i < lab->n_rows; i++)
            if (lab->valid[i])
                seen[lab->v.codes[i]] = 1;
        size_t k = 0;
        for (uint32_t d = 0; d < nd; d++)
            if (seen[d])
                codes[k++] = d;
        sort_dict = &lab->dict;
        qsort(codes, k, sizeof *codes, cmp_code);
        c->class_names = cairn_calloc(k ? k : 1, sizeof *c->class_names);
        bool oom = !c->class_names;
        for (size_t j = 0; j < k && !oom; j++) {
            c->class_of_code[codes[j]] = (uint32_t)j;
            c->class_names[j] = cairn_strdup(cairn_dict_str(&lab->dict, codes[j]));
            oom = !c->class_names[j];
        }
        c->n_classes = k;
        cairn_free(seen);
        cairn_free(codes);
        if (oom)
            return cairn_error_set(err, CAIRN_ENOMEM, "train", "out of memory");
        return CAIRN_OK;
    }
    /* INT64 or BOOL */
    size_t n = 0;
    int64_t *v = cairn_calloc(lab->n_rows ? lab->n_rows : 1, sizeof *v);
    if (!v)
        return cairn_error_set(err, CAIRN_ENOMEM, "train", "out of memory");
    for (size_t i = 0; i < lab->n_rows; i++)
        if (lab->valid[i])
            v[n++] = lab->type == CAIRN_TYPE_BOOL ? lab->v.b[i] : lab->v.i64[i];
    qsort(v, n, sizeof *v, cmp_i64);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (k == 0 || v[k - 1] != v[i])
            v[k++] = v[i];
    c->class_values = v;
    c->n_classes = k;
    c->class_names = cairn_calloc(k ? k : 1, sizeof *c->class_names);
    if (!c->class_names)
        return cairn_error_set(err, CAIRN_ENOMEM, "train", "out of memory");
    for (size_t j = 0; j < k; j++) {
        char t[32];
        if (lab->type == CAIRN_TYPE_BOOL)
            snprintf(t, sizeof t, "%s", v[j] ? "true" : "false");
        else
            snprintf(t, sizeof t, "%lld", (long long)v[j]);
        if (!(c->class_names[j] = cairn_strdup(t)))
            return cairn_error_set(err, CAIRN_ENOMEM, "train", "out of memory");
    }
    return CAIRN_OK;
}

/* Whether the label value of row i is the spec's positive value. */
static bool label_is_positive(const cairn_column *lab, size_t i, const char *pos)
{
    size_t n = strlen(pos);
    switch (lab->type) {
    case CAIRN_TYPE_STRING: return strcmp(cairn_dict_str(&lab->dict, lab->v.codes[i]), pos) == 0;
    case CAIRN_TYPE_BOOL: {
        bool b;
        if (cairn_parse_bool(pos, n, &b))
            return lab->v.b[i] == (uint8_t)b;
        return (pos[0] == '1') == (lab->v.b[i] != 0);
    }
    case CAIRN_TYPE_INT64: {
        double d;
        return cairn_parse_double(pos, n, &d) && (double)lab->v.i64[i] == d;
    }
    case CAIRN_TYPE_FLOAT64: {
        double d;
        return cairn_parse_double(pos, n, &d) && lab->v.f64[i] == d;
    }
    default: return false;
    }
}

static double label_value(const run_ctx *c, size_t i)
{
    const cairn_column *lab = &c->frame->cols[c->label_col];
    switch (c->spec->task) {
    case CAIRN_TASK_BINARY: return label_is_positive(lab, i, c->spec->positive) ? 1.0 : 0.0;
    case CAIRN_TASK_REGRESSION:
        return lab->type == CAIRN_TYPE_FLOAT64 ? lab->v.f64[i] : (double)lab->v.i64[i];
    case CAIRN_TASK_MULTICLASS:
        if (lab->type == CAIRN_TYPE_STRING)
            return (double)c->class_of_code[lab->v.codes[i]];
        {
            int64_t v = lab->type == CAIRN_TYPE_BOOL ? lab->v.b[i] : lab->v.i64[i];
            size_t lo = 0, hi = c->n_classes;
            while (lo + 1 < hi) {
                size_t mid = (lo + hi) / 2;
                if (c->class_values[mid] <= v)
                    lo = mid;
                else
                    hi = mid;
            }
            return (double)lo;
        }
    }
    return NAN;
}

/* ---- split and leakage -------------------------------------------------------------- */

static cairn_status do_split(run_ctx *c, cairn_error *err)
{
    cairn_split_cfg cfg;
    cairn_split_cfg_init(&cfg);
    cfg.by = c->spec->split_by;
    cfg.valid = c->spec->split_valid;
    cfg.test = c->spec->split_test;
    cfg.seed = c->spec->seed;
    cfg.time_col = c->time_col;
    cfg.entity_col = c->entity_col;
    cfg.label_col = c->label_col;
    cfg.task = c->spec->task;
    cfg.allow_time_leak = c->spec->allow_time_leak;
    cairn_status st = cairn_split_make(c->frame, &cfg, &c->split, &c->findings, err);
    if (st != CAIRN_OK)
        return st;
    const cairn_column *lab = &c->frame->cols[c->label_col];
    for (size_t i = 0; i < c->split.n_rows; i++) {
        if (!lab->valid[i]) {
            c->split.count[c->split.part[i]]--;
            c->split.part[i] = PART_NONE;
            c->n_unlabeled++;
        }
    }
    if (c->split.count[CAIRN_PART_TRAIN] == 0 || c->split.count[CAIRN_PART_TEST] == 0)
        return cairn_error_set(err, CAIRN_EINPUT, c->spec->label,
                               "no labelled rows in the %s part (%zu rows have a null label)",
                               c->split.count[CAIRN_PART_TRAIN] == 0 ? "training" : "test",
                               c->n_unlabeled);
    if (c->n_unlabeled) {
        char what[256];
        snprintf(what, sizeof what, "%zu rows have no label value and were left out", c->n_unlabeled);
        st = cairn_findings_add(&c->findings, CAIRN_SEV_LOW, "unlabeled_rows", c->spec->label,
                                (double)c->n_unlabeled, what,
                                "Rows without a label cannot be learned from or evaluated.",
                                "Check why the label is missing; it may hide a selection bias.");
        if (st != CAIRN_OK)
            return cairn_error_set(err, st, "train", "out of memory");
    }
    return CAIRN_OK;
}

static cairn_status do_leakage(run_ctx *c, cairn_error *err)
{
    cairn_leak_cfg cfg;
    cairn_leak_cfg_init(&cfg);
    cfg.label_col = c->label_col;
    cfg.task = c->spec->task;
    cfg.features = c->feat_idx;
    cfg.n_features = c->n_feat;
    cfg.pii = c->feat_pii;
    cfg.pii_allowed = c->feat_pii_allowed;
    cfg.entity_col = c->entity_col;
    cfg.time_col = c->time_col;
    if (c->spec->task == CAIRN_TASK_BINARY) {
        /* The leak check wants the positive value in the column's own terms. */
        const cairn_column *lab = &c->frame->cols[c->label_col];
        for (size_t i = 0; i < lab->n_rows; i++) {
            if (lab->valid[i] && label_is_positive(lab, i, c->spec->positive)) {
                switch (lab->type) {
                case CAIRN_TYPE_STRING: cfg.positive = lab->v.codes[i]; break;
                case CAIRN_TYPE_BOOL: cfg.positive = lab->v.b[i]; break;
                case CAIRN_TYPE_FLOAT64: cfg.positive = (int64_t)lab->v.f64[i]; break;
                default: cfg.positive = lab->v.i64[i]; break;
                }
                break;
            }
        }
    }
    return cairn_leak_check(c->frame, &c->split, &cfg, &c->findings, err);
}

/* ---- transforms and matrices ---------------------------------------------------------- */

static cairn_status build_matrices(run_ctx *c, cairn_error *err)
{
    cairn_transform_kind kind =
        c->spec->model_type == CAIRN_SPEC_MODEL_GBDT ? CAIRN_TRANSFORM_GBDT : CAIRN_TRANSFORM_LINEAR;
    long tcol = c->time_col >= 0 && c->frame->cols[c->time_col].type == CAIRN_TYPE_TIMESTAMP
                    ? c->time_col
                    : -1;
    cairn_status st = cairn_transform_fit(c->frame, c->split.part, CAIRN_PART_TRAIN, c->feat_idx,
                                          c->n_feat, tcol, kind, NULL, &c->tf, &c->findings, err);
    if (st != CAIRN_OK)
        return st;
    for (int p = 0; p < 3; p++) {
        st = cairn_transform_apply(c->tf, c->frame, c->split.part, (uint8_t)p, &c->X[p], &c->n[p],
                                   err);
        if (st != CAIRN_OK)
            return st;
        c->y[p] = cairn_malloc((c->n[p] ? c->n[p] : 1) * sizeof(double));
        if (!c->y[p])
            return cairn_error_set(err, CAIRN_ENOMEM, "train", "out of memory");
    }
    size_t k[3] = {0, 0, 0};
    for (size_t i = 0; i < c->split.n_rows; i++) {
        uint8_t p = c->split.part[i];
        if (p < 3)
            c->y[p][k[p]++] = label_value(c, i);
    }
    for (int p = 0; p < 3; p++)
        if (k[p] != c->n[p])
            return cairn_error_set(err, CAIRN_EINTERNAL, "train",
                                   "rows and labels disagree in part %d (%zu vs %zu)", p, k[p],
                                   c->n[p]);
    return CAIRN_OK;
}

/* ---- models ------------------------------------------------------------------------------ */

static cairn_linear_task linear_task(cairn_task t)
{
    return t == CAIRN_TASK_BINARY       ? CAIRN_LINEAR_BINARY
           : t == CAIRN_TASK_MULTICLASS ? CAIRN_LINEAR_MULTICLASS
                                        : CAIRN_LINEAR_REGRESSION;
}

static cairn_status train_model(run_ctx *c, cairn_error *err)
{
    size_t d = cairn_transform_n_out(c->tf);
    const cairn_spec *s = c->spec;
    if (s->model_type == CAIRN_SPEC_MODEL_GBDT) {
        uint32_t *levels = cairn_calloc(d ? d : 1, sizeof *levels);
        if (!levels)
            return cairn_error_set(err, CAIRN_ENOMEM, "train", "out of memory");
        for (size_t j = 0; j < d; j++) {
            uint32_t L = 0;
            if (cairn_transform_feature_is_categorical(c->tf, j, &L))
                levels[j] = L;
        }
        cairn_gbdt_params p;
        cairn_gbdt_params_init(&p);
        p.task = s->task;
        p.n_classes = (int)c->n_classes;
        p.rounds = (int)s->gbdt.rounds;
        p.max_depth = (int)s->gbdt.max_depth;
        p.learning_rate = s->gbdt.learning_rate;
        p.early_stopping = c->n[CAIRN_PART_VALID] ? (int)s->gbdt.early_stopping : 0;
        p.min_child_weight = s->gbdt.min_child_weight;
        p.subsample = s->gbdt.subsample;
        p.colsample_bytree = s->gbdt.colsample_bytree;
        p.lambda = s->gbdt.lambda;
        p.alpha = s->gbdt.alpha;
        p.max_bin = (int)s->gbdt.max_bin;
        p.threads = c->threads;
        p.seed = s->seed;
        p.progress = c->opts->on_round;
        p.progress_ctx = c->opts->ctx;
        /* The validation part drives early stopping; with early stopping off
         * every round is kept, so XGBoost need not score it each round. */
        bool use_valid = c->n[CAIRN_PART_VALID] > 0 && s->gbdt.early_stopping > 0;
        cairn_gbdt_data data = {
            .x = c->X[CAIRN_PART_TRAIN],
            .y = c->y[CAIRN_PART_TRAIN],
            .n_rows = c->n[CAIRN_PART_TRAIN],
            .valid_x = use_valid ? c->X[CAIRN_PART_VALID] : NULL,
            .valid_y = use_valid ? c->y[CAIRN_PART_VALID] : NULL,
            .valid_n_rows = use_valid ? c->n[CAIRN_PART_VALID] : 0,
            .n_features = d,
            .cat_levels = levels,
        };
        cairn_status st = cairn_gbdt_train(&data, &p, &c->trees, &c->glog, err);
        cairn_free(levels);
        return st;
    }
    if (s->model_type == CAIRN_SPEC_MODEL_LINEAR) {
        cairn_linear_opts o;
        cairn_linear_opts_init(&o);
        o.l2 = s->linear.l2;
        o.max_iter = (uint32_t)s->linear.max_iter;
        o.tol = s->linear.tol;
        if (s->task != CAIRN_TASK_REGRESSION && !(o.l2 > 0))
            o.l2 = 1e-8;   /* logistic losses need some regularisation to have a minimum */
        return cairn_linear_fit(linear_task(s->task), c->X[CAIRN_PART_TRAIN],
                                c->n[CAIRN_PART_TRAIN], d, c->y[CAIRN_PART_TRAIN], NULL,
                                (uint32_t)c->n_classes, &o, &c->linear, err);
    }
    return CAIRN_OK;   /* baseline: trained in its own stage */
}

static cairn_status train_baseline(run_ctx *c, cairn_error *err)
{
    return cairn_baseline_fit(linear_task(c->spec->task), c->n[CAIRN_PART_TRAIN],
                              cairn_transform_n_out(c->tf), c->y[CAIRN_PART_TRAIN], NULL,
                              (uint32_t)c->n_classes, &c->baseline, err);
}

/* Scores n rows of X: n x (k or 1). which: 0 the model, 1 the baseline. */
static cairn_status predict(run_ctx *c, int which, const double *X, size_t n, double **out,
                            cairn_error *err)
{
    size_t k = c->spec->task == CAIRN_TASK_MULTICLASS ? c->n_classes : 1;
    double *p = cairn_malloc((n ? n : 1) * k * sizeof *p);
    if (!p)
        return cairn_error_set(err, CAIRN_ENOMEM, "train", "out of memory");
    if (which == 0 && c->trees) {
        size_t d = c->trees->n_features;
        size_t ns = cairn_trees_n_scores(c->trees);
#pragma omp parallel for num_threads(c->threads) schedule(static)
        for (size_t i = 0; i < n; i++)
            cairn_trees_predict(c->trees, X + i * d, p + i * ns);
    } else {
        const cairn_linear *m = which == 0 && c->linear ? c->linear : c->baseline;
        cairn_linear_predict_batch(m, X, n, p);
    }
    *out = p;
    return CAIRN_OK;
}

/* ---- evaluation ----------------------------------------------------------------------- */

typedef struct slice_groups {
    char *column;
    uint32_t *group;        /* per test row */
    char **names;
    size_t n_groups;
} slice_groups;

static void slice_groups_reset(slice_groups *g)
{
    cairn_free(g->column);
    cairn_free(g->group);
    for (size_t i = 0; i < g->n_groups; i++)
        cairn_free(g->names[i]);
    cairn_free(g->names);
    memset(g, 0, sizeof *g);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double col_num(const cairn_column *col, size_t i)
{
    switch (col->type) {
    case CAIRN_TYPE_BOOL: return col->v.b[i];
    case CAIRN_TYPE_INT64:
    case CAIRN_TYPE_TIMESTAMP: return (double)col->v.i64[i];
    case CAIRN_TYPE_FLOAT64: return col->v.f64[i];
    default: return NAN;
    }
}

static void fmt_edge(const cairn_column *col, double v, char *out, size_t cap)
{
    if (col->type == CAIRN_TYPE_TIMESTAMP)
        cairn_fmt_timestamp(out, cap, (int64_t)v);
    else
        snprintf(out, cap, "%.6g", v);
}

/*
 * Groups of the test rows for one slice column: string and bool values as
 * themselves, numbers and timestamps by the training part's quintiles (so the
 * bins do not depend on the test data), nulls as "null".
 */
static cairn_status slice_build(run_ctx *c, const char *name, slice_groups *g, cairn_error *err)
{
    const cairn_column *col = &c->frame->cols[cairn_frame_find(c->frame, name)];
    size_t n_test = c->n[CAIRN_PART_TEST];
    g->column = cairn_strdup(name);
    g->group = cairn_calloc(n_test ? n_test : 1, sizeof *g->group);
    if (!g->column || !g->group)
        return cairn_error_set(err, CAIRN_ENOMEM, "train", "out of memory");
    const uint8_t *part = c->split.part;
    if (col->type == CAIRN_TYPE_STRING || col->type == CAIRN_TYPE_BOOL) {
        uint32_t nv = col->type == CAIRN_TYPE_BOOL ? 2 : col->dict.n;
        uint32_t *map = cairn_malloc(((size_t)nv + 1) * sizeof *map);
        if (!map)
            return cairn_error_set(err, CAIRN_ENOMEM, "train", "out of memory");
        for (uint32_t v = 0; v <= nv; v++)
            map[v] = UINT32_MAX;
        size_t n_groups = 0;
        for (size_t i = 0; i < c->split.n_rows; i++) {
            if (part[i] != CAIRN_PART_TEST)
                continue;
            uint32_t v = !col->valid[i] ? nv : col->type == CAIRN_TYPE_BOOL ? col->v.b[i]
                                                                             : col->v.codes[i];
            if (map[v] == UINT32_MAX)
                map[v] = (uint32_t)n_groups++;
        }
        g->names = cairn_calloc(n_groups ? n_groups : 1, sizeof *g->names);
        if (!g->names) {
            cairn_free(map);
            return cairn_error_set(err, CAIRN_ENOMEM, "train", "out of memory");
        }
        g->n_groups = n_groups;
        bool oom = false;
        for (uint32_t v = 0; v <= nv; v++) {
            if (map[v] == UINT32_MAX)
                continue;
            const char *t = v == nv ? "null"
                            : col->type == CAIRN_TYPE_BOOL ? (v ? "true" : "false")
                                                           : cairn_dict_str(&col->dict, v);
            g->names[map[v]] = cairn_strdup(t);
            oom = oom || !g->names[map[v]];
        }
        size_t k = 0;
        for (size_t i = 0; i < c->split.n_rows; i++) {
            if (part[i] != CAIRN_PART_TEST)
                continue;
            uint32_t v = !col->valid[i] ? nv : col->type == CAIRN_TYPE_BOOL ? col->v.b[i]
                                                                             : col->v.codes[i];
            g->group[k++] = map[v];
        }
        cairn_free(map);
        if (oom)
            return cairn_error_set(err, CAIRN_ENOMEM, "train", "out of memory");
        return CAIRN_OK;
    }
    /* Numbers and timestamps: edges at the training quintiles (distinct only). */
    size_t m = 0;
    double *v = cairn_malloc((c->split.count[CAIRN_PART_TRAIN] + 1) * sizeof *v);
    if (!v)
        return cairn_error_set(err, CAIRN_ENOMEM, "train", "out of memory");
    for (size_t i = 0; i < c->split.n_rows; i++)
        if (part[i] == CAIRN_PART_TRAIN && col->valid[i])
            v[m++] = col_num(col, i);
    qsort(v, m, sizeof *v, cmp_double);
    double edges[SLICE_NUM_BINS];
    size_t n_edges = 0;
    for (int q = 1; q < SLICE_NUM_BINS && m > 0; q++) {
        double e = v[(size_t)((double)m * q / SLICE_NUM_BINS)];
        if (n_edges == 0 || e > edges[n_edges - 1])
            if (e > v[0])
                edges[n_edges++] = e;
    }
    cairn_free(v);
    /* groups: bins 0..n_edges, then null */
    size_t n_bins = n_edges + 1;
    size_t count[SLICE_NUM_BINS + 2] = {0};
    uint32_t *raw = g->group;
    size_t k = 0;
    for (size_t i = 0; i < c->split.n_rows; i++) {
        if (part[i] != CAIRN_PART_TEST)
            continue;
        uint32_t b;
        if (!col->valid[i]) {
            b = (uint32_t)n_bins;
        } else {
            double x = col_num(col, i);
            b = 0;
            while (b < n_edges && x >= edges[b])
                b++;
        }
        raw[k++] = b;
        count[b]++;
    }
    uint32_t map[SLICE_NUM_BINS + 2];
    size_t n_groups = 0;
    for (size_t b = 0; b <= n_bins; b++)
        map[b] = count[b] ? (uint32_t)n_groups++ : UINT32_MAX;
    g->names = cairn_calloc(n_groups ? n_groups : 1, sizeof *g->names);
    if (!g->names)
        return cairn_error_set(err, CAIRN_ENOMEM, "train", "out of memory");
    g->n_groups = n_groups;
    for (size_t b = 0; b <= n_bins; b++) {
        if (map[b] == UINT32_MAX)
            continue;
        char lo[48], hi[48], t[112];
        if (b == n_bins) {
            snprintf(t, sizeof t, "null");
        } else if (n_edges == 0) {
            snprintf(t, sizeof t, "all");
        } else if (b == 0) {
            fmt_edge(col, edges[0], hi, sizeof hi);
            snprintf(t, sizeof t, "< %s", hi);
        } else if (b == n_edges) {
            fmt_edge(col, edges[b - 1], lo, sizeof lo);
            snprintf(t, sizeof t, ">= %s", lo);
        } else {
            fmt_edge(col, edges[b - 1], lo, sizeof lo);
            fmt_edge(col, edges[b], hi, sizeof hi);
            snprintf(t, sizeof t, "[%s, %s)", lo, hi);
        }
        if (!(g->names[map[b]] = cairn_strdup(t)))
            return cairn_error_set(err, CAIRN_ENOMEM, "train", "out of memory");
    }
    for (size_t i = 0; i < k; i++)
        raw[i] = map[raw[i]];
    return CAIRN_OK;
}

static cairn_status choose_threshold(run_ctx *c, cairn_error *err)
{
    const cairn_spec *s = c->spec;
    c->threshold = 0.5;
    if (s->task != CAIRN_TASK_BINARY)
        return CAIRN_OK;
    if (s->threshold_by == CAIRN_SPEC_THRESHOLD_FIXED) {
        c->threshold = s->threshold_value;
        snprintf(c->threshold_by, sizeof c->threshold_by, "fixed");
        return CAIRN_OK;
    }
    /* On the validation part; without one, on the training part. */
    int p = c->n[CAIRN_PART_VALID] ? CAIRN_PART_VALID : CAIRN_PART_TRAIN;
    double *score = NULL;
    uint8_t *y = cairn_malloc(c->n[p] ? c->n[p] : 1);
    cairn_status st = y ? predict(c, 0, c->X[p], c->n[p], &score, err)
                        : cairn_error_set(err, CAIRN_ENOMEM, "train", "out of memory");
    if (st != CAIRN_OK) {
        cairn_free(y);
        return st;
    }
    for (size_t i = 0; i < c->n[p]; i++)
        y[i] = c->y[p][i] > 0.5;
    if (s->threshold_by == CAIRN_SPEC_THRESHOLD_COST) {
        c->threshold = cairn_threshold_min_cost(score, y, c->n[p], s->cost_fp, s->cost_fn);
        snprintf(c->threshold_by, sizeof c->threshold_by, "cost");
    } else {
        c->threshold = cairn_threshold_max_f1(score, y, c->n[p]);
        snprintf(c->threshold_by, sizeof c->threshold_by, "max_f1");
    }
    cairn_free(score);
    cairn_free(y);
    return CAIRN_OK;
}

static cairn_status check_perfect(run_ctx *c, const cairn_eval_result *r, cairn_error *err)
{
    const char *metric;
    double limit;
    switch (c->spec->task) {
    case CAIRN_TASK_BINARY: metric = "auc"; limit = CAIRN_TRAIN_PERFECT_AUC; break;
    case CAIRN_TASK_REGRESSION: metric = "r2"; limit = CAIRN_TRAIN_PERFECT_R2; break;
    default: metric = "accuracy"; limit = CAIRN_TRAIN_PERFECT_ACCURACY; break;
    }
    double v = cairn_eval_get(r, metric);
    if (!(v >= limit))
        return CAIRN_OK;
    char what[256];
    snprintf(what, sizeof what, "the model's test %s is %.4f, at or above %.3f: implausibly perfect",
             metric, v, limit);
    cairn_status st = cairn_findings_add(
        &c->findings, CAIRN_SEV_HIGH, "implausible_test_score", "", v, what,
        "Real-world targets are rarely this predictable; such a score usually means a feature "
        "carries the answer (a leak) or test rows repeat training rows.",
        "Look at the features with the largest importance and at the critical findings; "
        "drop any feature that is only known after the label.");
    return st == CAIRN_OK ? CAIRN_OK : cairn_error_set(err, st, "train", "out of memory");
}

static cairn_status do_evaluate(run_ctx *c, cairn_error *err)
{
    const cairn_spec *s = c->spec;
    size_t n = c->n[CAIRN_PART_TEST];
    size_t k = s->task == CAIRN_TASK_MULTICLASS ? c->n_classes : 1;
    slice_groups *groups = cairn_calloc(s->slices.n ? s->slices.n : 1, sizeof *groups);
    cairn_eval_slice_input *sin = cairn_calloc(s->slices.n ? s->slices.n : 1, sizeof *sin);
    double *score[2] = {NULL, NULL};
    cairn_eval_result res[2];
    memset(res, 0, sizeof res);
    cairn_status st = CAIRN_OK;
    if (!groups || !sin) {
        st = cairn_error_set(err, CAIRN_ENOMEM, "train", "out of memory");
        goto done;
    }
    if ((st = choose_threshold(c, err)) != CAIRN_OK)
        goto done;
    for (size_t i = 0; i < s->slices.n; i++) {
        if ((st = slice_build(c, s->slices.items[i], &groups[i], err)) != CAIRN_OK)
            goto done;
        sin[i].column = groups[i].column;
        sin[i].group = groups[i].group;
        sin[i].n_groups = groups[i].n_groups;
        sin[i].group_names = (const char *const *)groups[i].names;
    }
    uint64_t mix = s->seed ^ 0x6576616c75617465ull;   /* "evaluate": apart from the split's stream */
    uint64_t boot_seed = cairn_splitmix64(&mix);
    for (int which = 0; which < 2; which++) {
        if ((st = predict(c, which, c->X[CAIRN_PART_TEST], n, &score[which], err)) != CAIRN_OK)
            goto done;
        cairn_eval_input in = {
            .task = s->task,
            .n = n,
            .n_classes = k,
            .score = score[which],
            .y = c->y[CAIRN_PART_TEST],
            .threshold = c->threshold,
            .n_boot = (size_t)s->bootstrap,
            .seed = boot_seed,
            .slices = sin,
            .n_slices = s->slices.n,
            .threads = c->threads,
        };
        if ((st = cairn_evaluate(&in, &res[which], err)) != CAIRN_OK)
            goto done;
    }
    if ((st = check_perfect(c, &res[0], err)) != CAIRN_OK)
        goto done;

    /* The eval JSON (see the run record in registry.h). */
    cairn_buf *b = &c->eval_json;
    cairn_buf_puts(b, "{\"model\":");
    cairn_eval_result_to_json(&res[0], b);
    cairn_buf_puts(b, ",\"baseline\":");
    cairn_eval_result_to_json(&res[1], b);
    if (s->task == CAIRN_TASK_BINARY) {
        cairn_buf_printf(b, ",\"threshold\":{\"by\":\"%s\",\"value\":", c->threshold_by);
        cairn_buf_put_double(b, c->threshold);
        cairn_buf_printf(b, ",\"chosen_on\":\"%s\"}",
                         !strcmp(c->threshold_by, "fixed") ? "spec"
                         : c->n[CAIRN_PART_VALID]          ? "valid"
                                                           : "train");
        cairn_buf_puts(b, ",\"positive\":");
        cairn_buf_put_json_string(b, s->positive, strlen(s->positive));
    }
    if (s->task == CAIRN_TASK_MULTICLASS) {
        cairn_buf_puts(b, ",\"classes\":[");
        for (size_t j = 0; j < c->n_classes; j++) {
            if (j)
                cairn_buf_putc(b, ',');
            cairn_buf_put_json_string(b, c->class_names[j], strlen(c->class_names[j]));
        }
        cairn_buf_putc(b, ']');
    }
    cairn_buf_printf(b, ",\"bootstrap\":%lld,\"training\":", (long long)s->bootstrap);
    if (c->trees) {
        cairn_buf_printf(b, "{\"rounds_run\":%d,\"best_round\":%d,\"trees\":%u,\"valid_metric\":",
                         c->glog.rounds_run, c->glog.best_round, c->trees->n_trees);
        if (c->glog.valid_metric) {
            cairn_buf_put_json_string(b, c->glog.metric_name, strlen(c->glog.metric_name));
            cairn_buf_puts(b, ",\"best_valid\":");
            cairn_buf_put_double(b, c->glog.valid_metric[c->glog.best_round]);
        } else {
            cairn_buf_puts(b, "null,\"best_valid\":null");
        }
        cairn_buf_putc(b, '}');
    } else if (c->linear) {
        cairn_buf_printf(b, "{\"iterations\":%u,\"converged\":%s}", c->linear->n_iter,
                         c->linear->converged ? "true" : "false");
    } else {
        cairn_buf_puts(b, "{}");
    }
    cairn_buf_putc(b, '}');
    if (b->failed) {
        st = cairn_error_set(err, CAIRN_ENOMEM, "train", "out of memory");
        goto done;
    }

    /* The flat metric list for sorting and comparing runs. */
    c->rec->metrics = cairn_calloc(res[0].n_metrics ? res[0].n_metrics : 1,
                                   sizeof *c->rec->metrics);
    if (!c->rec->metrics) {
        st = cairn_error_set(err, CAIRN_ENOMEM, "train", "out of memory");
        goto done;
    }
    for (size_t i = 0; i < res[0].n_metrics; i++) {
        cairn_run_metric *m = &c->rec->metrics[i];
        snprintf(m->name, sizeof m->name, "%s", res[0].metrics[i].name);
        m->estimate = res[0].metrics[i].iv.estimate;
        m->lo = res[0].metrics[i].iv.lo;
        m->hi = res[0].metrics[i].iv.hi;
    }
    c->rec->n_metrics = res[0].n_metrics;
done:
    for (size_t i = 0; groups && i < s->slices.n; i++)
        slice_groups_reset(&groups[i]);
    cairn_free(groups);
    cairn_free(sin);
    cairn_free(score[0]);
    cairn_free(score[1]);
    cairn_eval_result_reset(&res[0]);
    cairn_eval_result_reset(&res[1]);
    return st;
}

/* ---- reference statistics (the drift baseline) ------------------------------------------ */

/* Statistics of the raw features and of the model's scores on the training
 * part, for monitoring to compare live traffic with (refstats.h). */
static cairn_status reference_stats(run_ctx *c, cairn_error *err)
{
    double *score = NULL;
    cairn_buf b;
    cairn_buf_init(&b);
    cairn_status st = predict(c, 0, c->X[CAIRN_PART_TRAIN], c->n[CAIRN_PART_TRAIN], &score, err);
    if (st != CAIRN_OK)
        return st;
    cairn_refstats_input in = {
        .frame = c->frame,
        .part = c->split.part,
        .which = CAIRN_PART_TRAIN,
        .cols = c->feat_idx,
        .n_cols = c->n_feat,
        .task = c->spec->task,
        .scores = score,
        .n_scores = c->n[CAIRN_PART_TRAIN],
        .n_classes = c->n_classes,
        .class_names = (const char *const *)c->class_names,
    };
    st = cairn_refstats_json(&in, &b, err);
    cairn_free(score);
    if (st != CAIRN_OK) {
        cairn_buf_reset(&b);
        return st;
    }
    if (b.failed) {
        cairn_buf_reset(&b);
        return cairn_error_set(err, CAIRN_ENOMEM, "train", "out of memory");
    }
    cairn_free(c->rec->refstats_json);
    c->rec->refstats_json = cairn_buf_take(&b);
    return CAIRN_OK;
}

/* ---- the record -------------------------------------------------------------------------- */

static cairn_status record_states(run_ctx *c, cairn_error *err)
{
    cairn_run_record *r = c->rec;
    cairn_buf b;
    cairn_buf_init(&b);
    cairn_transform_to_bytes(c->tf, &b);
    if (b.failed) {
        cairn_buf_reset(&b);
        return cairn_error_set(err, CAIRN_ENOMEM, "train", "out of memory");
    }
    r->transform_state_len = b.len;
    r->transform_state = (uint8_t *)cairn_buf_take(&b);
    cairn_status st;
    if (c->trees) {
        st = cairn_trees_to_bytes(c->trees, &r->model_state, &r->model_state_len, err);
    } else {
        const cairn_linear *m = c->linear ? c->linear : c->baseline;
        st = cairn_linear_to_bytes(m, (char **)&r->model_state, &r->model_state_len, err);
    }
    if (st != CAIRN_OK)
        return st;
    st = cairn_linear_to_bytes(c->baseline, (char **)&r->baseline_state, &r->baseline_state_len,
                               err);
    if (st != CAIRN_OK)
        return st;
    char hex[CAIRN_HASH_HEX];
    cairn_run_state_hash(r, hex);
    r->state_hash = cairn_strdup(hex);
    r->model_type = cairn_strdup(cairn_spec_model_type_name(c->spec->model_type));
    if (!r->state_hash || !r->model_type)
        return cairn_error_set(err, CAIRN_ENOMEM, "train", "out of memory");
    return CAIRN_OK;
}

static void record_common(run_ctx *c)
{
    cairn_run_record *r = c->rec;
    cairn_buf b;
    cairn_buf_init(&b);
    /* stages */
    cairn_buf_putc(&b, '[');
    for (size_t i = 0; i < c->n_stages; i++) {
        cairn_buf_printf(&b, "%s{\"stage\":\"%s\",\"seconds\":", i ? "," : "", c->stages[i].name);
        cairn_buf_put_double(&b, round(c->stages[i].seconds * 1e6) / 1e6);
        cairn_buf_putc(&b, '}');
    }
    cairn_buf_putc(&b, ']');
    cairn_free(r->stages_json);
    r->stages_json = cairn_buf_take(&b);
    /* findings */
    cairn_findings_to_json(&c->findings, &b);
    cairn_free(r->findings_json);
    r->findings_json = cairn_buf_take(&b);
    /* split */
    if (c->split.part) {
        cairn_buf_printf(&b,
                         "{\"by\":\"%s\",\"valid\":", cairn_split_by_name(c->split.by));
        cairn_buf_put_double(&b, c->spec->split_valid);
        cairn_buf_puts(&b, ",\"test\":");
        cairn_buf_put_double(&b, c->spec->split_test);
        cairn_buf_printf(&b, ",\"rows\":{\"train\":%zu,\"valid\":%zu,\"test\":%zu},\"unlabeled\":%zu",
                         c->split.count[0], c->split.count[1], c->split.count[2], c->n_unlabeled);
        cairn_buf_printf(&b, ",\"features_in\":%zu,\"features_out\":%zu,\"dropped_pii\":[",
                         c->n_feat, c->tf ? cairn_transform_n_out(c->tf) : (size_t)0);
        for (size_t i = 0; i < c->n_dropped_pii; i++) {
            if (i)
                cairn_buf_putc(&b, ',');
            cairn_buf_put_json_string(&b, c->dropped_pii[i], strlen(c->dropped_pii[i]));
        }
        cairn_buf_puts(&b, "]}");
        cairn_free(r->split_json);
        r->split_json = cairn_buf_take(&b);
    }
    if (c->spec) {
        cairn_free(r->spec_json);
        cairn_spec_to_json(c->spec, &b);
        r->spec_json = cairn_buf_take(&b);
        /* gates as declared */
        cairn_buf_putc(&b, '[');
        for (size_t i = 0; i < c->spec->n_gates; i++) {
            const cairn_spec_gate *g = &c->spec->gates[i];
            cairn_buf_puts(&b, i ? ",{\"metric\":" : "{\"metric\":");
            cairn_buf_put_json_string(&b, g->metric, strlen(g->metric));
            cairn_buf_printf(&b, ",\"op\":\"%s\",\"value\":", cairn_spec_gate_op_name(g->op));
            cairn_buf_put_double(&b, g->value);
            cairn_buf_putc(&b, '}');
        }
        cairn_buf_putc(&b, ']');
        cairn_free(r->gates_json);
        r->gates_json = cairn_buf_take(&b);
    }
    cairn_buf_reset(&b);
}

static void run_ctx_reset(run_ctx *c)
{
    cairn_spec_free(c->spec);
    cairn_frame_free(c->frame);
    cairn_contract_free(c->contract);
    cairn_findings_reset(&c->findings);
    cairn_split_reset(&c->split);
    cairn_transform_free(c->tf);
    cairn_trees_free(c->trees);
    cairn_linear_free(c->linear);
    cairn_linear_free(c->baseline);
    cairn_gbdt_log_reset(&c->glog);
    cairn_free(c->feat_idx);
    cairn_free(c->feat_pii);
    cairn_free(c->feat_pii_allowed);
    for (size_t i = 0; i < c->n_dropped_pii; i++)
        cairn_free(c->dropped_pii[i]);
    cairn_free(c->dropped_pii);
    for (size_t i = 0; c->class_names && i < c->n_classes; i++)
        cairn_free(c->class_names[i]);
    cairn_free(c->class_names);
    cairn_free(c->class_of_code);
    cairn_free(c->class_values);
    for (int p = 0; p < 3; p++) {
        cairn_free(c->X[p]);
        cairn_free(c->y[p]);
    }
    cairn_buf_reset(&c->eval_json);
}

static int default_threads(void)
{
    int n = omp_get_num_procs();
    return n > 0 ? n : 1;
}

/* The stages after the spec was parsed. */
static cairn_status run_stages(run_ctx *c, cairn_error *err)
{
    cairn_run_record *r = c->rec;
    cairn_spec *s = c->spec;
    cairn_dataset_info info;
    cairn_status st;

    stage_begin(c, "load");
    st = cairn_dataset_load(c->h, s->data, &c->frame, &info, err);
    if (st != CAIRN_OK)
        return st;
    r->dataset_name = cairn_strdup(info.name);
    r->dataset_version = info.version;
    r->dataset_hash = cairn_strdup(info.hash);
    if (!r->dataset_name || !r->dataset_hash)
        return cairn_error_set(err, CAIRN_ENOMEM, "train", "out of memory");
    if ((st = load_contract(c, err)) != CAIRN_OK)
        return st;
    stage_end(c);

    stage_begin(c, "resolve");
    if ((st = cairn_spec_resolve(s, c->frame, err)) != CAIRN_OK)
        return st;
    c->label_col = cairn_frame_find(c->frame, s->label);
    c->entity_col = s->entity ? cairn_frame_find(c->frame, s->entity) : -1;
    c->time_col = s->time ? cairn_frame_find(c->frame, s->time) : -1;
    if ((st = choose_features(c, err)) != CAIRN_OK)
        return st;
    if (s->task == CAIRN_TASK_MULTICLASS && (st = build_classes(c, err)) != CAIRN_OK)
        return st;
    if (s->task != CAIRN_TASK_MULTICLASS)
        c->n_classes = 1;
    stage_end(c);

    stage_begin(c, "split");
    if ((st = do_split(c, err)) != CAIRN_OK)
        return st;
    stage_end(c);

    stage_begin(c, "leakage");
    if ((st = do_leakage(c, err)) != CAIRN_OK)
        return st;
    stage_end(c);

    stage_begin(c, "transform");
    if ((st = build_matrices(c, err)) != CAIRN_OK)
        return st;
    stage_end(c);

    stage_begin(c, "train");
    if ((st = train_model(c, err)) != CAIRN_OK)
        return st;
    stage_end(c);

    stage_begin(c, "baseline");
    if ((st = train_baseline(c, err)) != CAIRN_OK)
        return st;
    stage_end(c);

    stage_begin(c, "reference");
    if ((st = reference_stats(c, err)) != CAIRN_OK)
        return st;
    stage_end(c);
    /* The training matrix is no longer needed: give its memory back before evaluating. */
    cairn_free(c->X[CAIRN_PART_TRAIN]);
    c->X[CAIRN_PART_TRAIN] = NULL;
    /* The frame is still needed for slices. */

    stage_begin(c, "evaluate");
    if ((st = do_evaluate(c, err)) != CAIRN_OK)
        return st;
    stage_end(c);

    if ((st = record_states(c, err)) != CAIRN_OK)
        return st;
    return CAIRN_OK;
}

static char *error_text(const cairn_error *e)
{
    cairn_buf b;
    cairn_buf_init(&b);
    cairn_buf_puts(&b, e->msg[0] ? e->msg : cairn_status_message(e->code));
    if (e->where[0])
        cairn_buf_printf(&b, " (%s)", e->where);
    return cairn_buf_take(&b);
}

cairn_status cairn_train(cairn_home *h, const char *spec_text, size_t len, const char *name,
                         const cairn_train_opts *opts, cairn_run_record *rec, cairn_error *err)
{
    cairn_train_opts dflt;
    run_ctx c;
    char started[32], finished[32];
    cairn_error run_err = {0};
    memset(&c, 0, sizeof c);
    if (!opts) {
        cairn_train_opts_init(&dflt);
        opts = &dflt;
    }
    c.h = h;
    c.opts = opts;
    c.rec = rec;
    c.label_col = c.entity_col = c.time_col = -1;
    cairn_buf_init(&c.eval_json);
    memset(rec, 0, sizeof *rec);
    cairn_run_new_id(rec->id);
    cairn_now_iso(started, sizeof started);
    double t0 = cairn_mono_s();
    rec->seed = -1;
    rec->spec_text = cairn_strndup(spec_text, len);
    rec->code_version = cairn_strdup(cairn_code_version());
    cairn_buf bi;
    cairn_buf_init(&bi);
    cairn_build_info_json(&bi);
    rec->build_json = cairn_buf_take(&bi);

    cairn_status st = CAIRN_OK;
    if (!rec->spec_text || !rec->code_version || !rec->build_json) {
        st = cairn_error_set(&run_err, CAIRN_ENOMEM, "train", "out of memory");
        goto finish;
    }
    stage_begin(&c, "spec");
    st = cairn_spec_parse(spec_text, len, name, &c.spec, &run_err);
    if (st != CAIRN_OK)
        goto finish;
    if (opts->seed_set)
        cairn_spec_set_seed(c.spec, opts->seed);
    rec->seed = (int64_t)c.spec->seed;
    c.threads = opts->threads > 0 ? opts->threads
                : c.spec->model_type == CAIRN_SPEC_MODEL_GBDT && c.spec->gbdt.threads > 0
                    ? (int)c.spec->gbdt.threads
                    : default_threads();
    stage_end(&c);
    st = run_stages(&c, &run_err);

finish:
    rec->model = cairn_strdup(c.spec ? c.spec->name : "");
    rec->status = cairn_strdup(st == CAIRN_OK ? "succeeded" : "failed");
    if (st != CAIRN_OK) {
        rec->error = error_text(&run_err);
        /* A failed run keeps no partial results beyond what explains it. */
        cairn_free(rec->metrics);
        rec->metrics = NULL;
        rec->n_metrics = 0;
        cairn_free(rec->refstats_json);
        rec->refstats_json = NULL;
    } else {
        rec->eval_json = cairn_buf_take(&c.eval_json);
    }
    record_common(&c);
    cairn_now_iso(finished, sizeof finished);
    rec->started_at = cairn_strdup(started);
    rec->finished_at = cairn_strdup(finished);
    rec->duration_s = cairn_mono_s() - t0;
    if (!rec->model || !rec->status || !rec->started_at || !rec->finished_at ||
        (st != CAIRN_OK && !rec->error)) {
        if (st == CAIRN_OK)
            st = cairn_error_set(&run_err, CAIRN_ENOMEM, "train", "out of memory");
        rec->id[0] = '\0';
        goto out;
    }
    stage_begin(&c, "store");
    cairn_error store_err = {0};
    cairn_status sst = cairn_run_store(h, rec, &store_err);
    stage_end(&c);
    if (sst != CAIRN_OK) {
        rec->id[0] = '\0';
        if (st == CAIRN_OK) {
            st = sst;
            run_err = store_err;
        }
    }
out:
    if (st != CAIRN_OK && err)
        *err = run_err;
    run_ctx_reset(&c);
    return st;
}

/* ---- the test part of a stored run ------------------------------------------------------ */

typedef struct test_part_priv {
    slice_groups *groups;
    size_t n;
} test_part_priv;

void cairn_test_part_reset(cairn_test_part *tp)
{
    if (!tp)
        return;
    test_part_priv *pv = tp->priv;
    if (pv) {
        for (size_t i = 0; i < pv->n; i++)
            slice_groups_reset(&pv->groups[i]);
        cairn_free(pv->groups);
        cairn_free(pv);
    }
    for (size_t i = 0; tp->class_names && i < tp->n_classes; i++)
        cairn_free(tp->class_names[i]);
    cairn_free(tp->class_names);
    cairn_free(tp->slices);
    cairn_free(tp->y);
    cairn_free(tp->part);
    cairn_frame_free(tp->frame);
    memset(tp, 0, sizeof *tp);
}

cairn_status cairn_test_part_load(cairn_home *h, const cairn_run_record *r, cairn_test_part *out,
                                  cairn_error *err)
{
    run_ctx c;
    cairn_train_opts opts;
    cairn_dataset_info info;
    test_part_priv *pv = NULL;
    char ref[CAIRN_NAME_MAX + 16];
    cairn_status st;
    memset(&c, 0, sizeof c);
    memset(out, 0, sizeof *out);
    cairn_train_opts_init(&opts);
    c.h = h;
    c.opts = &opts;
    c.label_col = c.entity_col = c.time_col = -1;
    cairn_buf_init(&c.eval_json);
    if (!r->status || strcmp(r->status, "succeeded") != 0 || !r->spec_text || !r->dataset_name ||
        !r->dataset_hash || r->seed < 0)
        return cairn_error_set(err, CAIRN_EINVAL, r->id, "run %s did not succeed: it has no test part",
                               r->id);
    if ((st = cairn_spec_parse(r->spec_text, strlen(r->spec_text), r->id, &c.spec, err)) != CAIRN_OK)
        goto done;
    cairn_spec_set_seed(c.spec, (uint64_t)r->seed);
    snprintf(ref, sizeof ref, "%s@%d", r->dataset_name, r->dataset_version);
    if ((st = cairn_dataset_load(h, ref, &c.frame, &info, err)) != CAIRN_OK)
        goto done;
    if (strcmp(info.hash, r->dataset_hash) != 0) {
        st = cairn_error_set(err, CAIRN_ECORRUPT, ref,
                             "dataset %s is not the data run %s was trained on (hash changed)", ref,
                             r->id);
        goto done;
    }
    if ((st = cairn_spec_resolve(c.spec, c.frame, err)) != CAIRN_OK)
        goto done;
    c.label_col = cairn_frame_find(c.frame, c.spec->label);
    c.entity_col = c.spec->entity ? cairn_frame_find(c.frame, c.spec->entity) : -1;
    c.time_col = c.spec->time ? cairn_frame_find(c.frame, c.spec->time) : -1;
    c.n_classes = 1;
    if (c.spec->task == CAIRN_TASK_MULTICLASS && (st = build_classes(&c, err)) != CAIRN_OK)
        goto done;
    if ((st = do_split(&c, err)) != CAIRN_OK)
        goto done;
    size_t n = c.split.count[CAIRN_PART_TEST];
    c.n[CAIRN_PART_TEST] = n;
    out->y = cairn_malloc((n ? n : 1) * sizeof *out->y);
    pv = cairn_calloc(1, sizeof *pv);
    size_t ns = c.spec->slices.n;
    out->slices = cairn_calloc(ns ? ns : 1, sizeof *out->slices);
    if (pv)
        pv->groups = cairn_calloc(ns ? ns : 1, sizeof *pv->groups);
    if (!out->y || !pv || !out->slices || !pv->groups) {
        st = cairn_error_set(err, CAIRN_ENOMEM, "review", "out of memory");
        goto done;
    }
    out->priv = pv;
    size_t k = 0;
    for (size_t i = 0; i < c.split.n_rows; i++)
        if (c.split.part[i] == CAIRN_PART_TEST)
            out->y[k++] = label_value(&c, i);
    for (size_t i = 0; i < ns; i++) {
        pv->n = i + 1;
        if ((st = slice_build(&c, c.spec->slices.items[i], &pv->groups[i], err)) != CAIRN_OK)
            goto done;
        out->slices[i].column = pv->groups[i].column;
        out->slices[i].group = pv->groups[i].group;
        out->slices[i].n_groups = pv->groups[i].n_groups;
        out->slices[i].group_names = (const char *const *)pv->groups[i].names;
    }
    out->n_slices = ns;
    out->task = c.spec->task;
    out->n = n;
    out->n_classes = c.n_classes;
    if (c.spec->task == CAIRN_TASK_MULTICLASS) {
        out->class_names = c.class_names;
        c.class_names = NULL;
    }
    out->frame = c.frame;
    c.frame = NULL;
    out->part = c.split.part;
    c.split.part = NULL;
done:
    if (st != CAIRN_OK) {
        if (!out->priv && pv) {
            for (size_t i = 0; i < pv->n; i++)
                slice_groups_reset(&pv->groups[i]);
            cairn_free(pv->groups);
            cairn_free(pv);
        }
        cairn_test_part_reset(out);
    }
    run_ctx_reset(&c);
    return st;
}

cairn_status cairn_test_part_score(const cairn_test_part *tp, const cairn_transform *tf,
                                   const cairn_trees *trees, const cairn_linear *linear,
                                   int threads, double **scores, cairn_error *err)
{
    double *X = NULL, *p = NULL;
    size_t n = 0;
    *scores = NULL;
    size_t k = tp->task == CAIRN_TASK_MULTICLASS ? tp->n_classes : 1;
    size_t d = cairn_transform_n_out(tf);
    if ((trees && (trees->n_features != d || cairn_trees_n_scores(trees) != k)) ||
        (!trees && (!linear || linear->n_features != d || cairn_linear_n_outputs(linear) != k)))
        return cairn_error_set(err, CAIRN_EINVAL, "review",
                               "the model does not fit its transform or this task (%zu features, "
                               "%zu scores expected)", d, k);
    cairn_status st = cairn_transform_apply(tf, tp->frame, tp->part, CAIRN_PART_TEST, &X, &n, err);
    if (st != CAIRN_OK)
        return st;
    p = cairn_malloc((n ? n : 1) * k * sizeof *p);
    if (!p) {
        cairn_free(X);
        return cairn_error_set(err, CAIRN_ENOMEM, "review", "out of memory");
    }
    if (trees) {
#pragma omp parallel for num_threads(threads > 0 ? threads : default_threads()) schedule(static)
        for (size_t i = 0; i < n; i++)
            cairn_trees_predict(trees, X + i * d, p + i * k);
    } else {
        cairn_linear_predict_batch(linear, X, n, p);
    }
    cairn_free(X);
    *scores = p;
    return CAIRN_OK;
}
