/*
 * leak.c -- the data-side leakage checks that every training run makes on
 * its split, stored as findings for review: a single feature that alone
 * predicts the label almost perfectly on the training part, entities in two
 * parts, exact duplicate rows across train and test, test rows earlier than
 * the latest training row, and PII columns used as features.
 *
 * The metrics themselves (AUC, Spearman) come from src/eval; this file only
 * turns columns into scores. The check that needs a model ("implausibly
 * perfect test score") lives with the trainer.
 */
#include "pipeline/split.h"

#include "eval/eval.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

void cairn_leak_cfg_init(cairn_leak_cfg *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->label_col = -1;
    cfg->task = CAIRN_TASK_BINARY;
    cfg->positive = 1;
    cfg->entity_col = -1;
    cfg->time_col = -1;
    cfg->auc_threshold = 0.98;
    cfg->spearman_threshold = 0.98;
}

static bool is_numeric(cairn_type t)
{
    return t == CAIRN_TYPE_BOOL || t == CAIRN_TYPE_INT64 || t == CAIRN_TYPE_TIMESTAMP ||
           t == CAIRN_TYPE_FLOAT64;
}

/* A valid value of a numeric column as a double (timestamps in microseconds). */
static double num_at(const cairn_column *c, size_t row)
{
    switch (c->type) {
    case CAIRN_TYPE_BOOL: return c->v.b[row];
    case CAIRN_TYPE_INT64:
    case CAIRN_TYPE_TIMESTAMP: return (double)c->v.i64[row];
    case CAIRN_TYPE_FLOAT64: return c->v.f64[row];
    default: return 0;
    }
}

static bool is_positive(const cairn_column *c, size_t row, int64_t positive)
{
    switch (c->type) {
    case CAIRN_TYPE_STRING: return (int64_t)c->v.codes[row] == positive;
    case CAIRN_TYPE_BOOL: return (int64_t)c->v.b[row] == positive;
    case CAIRN_TYPE_INT64:
    case CAIRN_TYPE_TIMESTAMP: return c->v.i64[row] == positive;
    case CAIRN_TYPE_FLOAT64: return c->v.f64[row] == (double)positive;
    case CAIRN_TYPE_NONE: break;
    }
    return false;
}

/* ---- single-feature leak ----------------------------------------------------------- */

/* Scratch shared by the features of one check. */
typedef struct feat_ctx {
    const cairn_frame *f;
    const cairn_leak_cfg *cfg;
    size_t m;           /* training rows with a label */
    size_t *rows;       /* their row indices */
    uint8_t *y;         /* binary: 0/1; multiclass: scratch for one-vs-rest */
    uint32_t *cls;      /* multiclass: class id per training row */
    size_t k;           /* multiclass: number of classes */
    double *ylab;       /* regression: the label */
    double *score;      /* m scores */
    uint32_t *id;       /* n_rows category ids (STRING features) */
    double *sum;        /* per category: sum of targets */
    double *cnt;        /* per category: count */
    size_t sum_cap;     /* categories sum/cnt can hold */
} feat_ctx;

/* max(a, 1 - a): a feature that ranks the classes backwards is as telling. */
static double auc_either(const double *score, const uint8_t *y, size_t m)
{
    double a = cairn_metric_auc(score, y, m);
    if (isnan(a))
        return a;
    return a > 1 - a ? a : 1 - a;
}

static double nan_max(double a, double b)
{
    if (isnan(a))
        return b;
    if (isnan(b))
        return a;
    return a > b ? a : b;
}

/*
 * The numeric feature's values as scores for the training rows, nulls at
 * null_score (tried below and above all values by the caller, since a null
 * may be telling in either direction).
 */
static void numeric_scores(feat_ctx *x, const cairn_column *c, double null_score)
{
    for (size_t j = 0; j < x->m; j++) {
        size_t r = x->rows[j];
        x->score[j] = c->valid[r] ? num_at(c, r) : null_score;
    }
}

/* Target encoding on the training rows: score = mean target of the row's category. */
static void encode(feat_ctx *x, size_t n_cat, const double *target)
{
    memset(x->sum, 0, n_cat * sizeof *x->sum);
    memset(x->cnt, 0, n_cat * sizeof *x->cnt);
    for (size_t j = 0; j < x->m; j++) {
        uint32_t g = x->id[x->rows[j]];
        x->sum[g] += target[j];
        x->cnt[g] += 1;
    }
    for (size_t j = 0; j < x->m; j++) {
        uint32_t g = x->id[x->rows[j]];
        x->score[j] = x->sum[g] / x->cnt[g];
    }
}

/* How well column c alone predicts the label: AUC (classes) or |rho| (regression). */
static cairn_status feature_strength(feat_ctx *x, const cairn_column *c, double *out)
{
    const cairn_leak_cfg *cfg = x->cfg;
    double best = NAN;
    size_t m = x->m;
    if (c->type == CAIRN_TYPE_STRING) {
        size_t n_cat = 0;
        bool has_null = false;
        if (cairn_split_dense_ids(c, x->id, &n_cat, &has_null) != CAIRN_OK)
            return CAIRN_ENOMEM;
        if (n_cat > x->sum_cap) {
            double *s = cairn_reallocarray(x->sum, n_cat, sizeof *s);
            if (!s)
                return CAIRN_ENOMEM;
            x->sum = s;
            double *t = cairn_reallocarray(x->cnt, n_cat, sizeof *t);
            if (!t)
                return CAIRN_ENOMEM;
            x->cnt = t;
            x->sum_cap = n_cat;
        }
        /* The target as doubles, reusing ylab's room for the classification tasks. */
        double *target = x->ylab;
        if (cfg->task == CAIRN_TASK_REGRESSION) {
            encode(x, n_cat, target);
            best = fabs(cairn_metric_spearman(x->score, x->ylab, m));
        } else if (cfg->task == CAIRN_TASK_BINARY) {
            for (size_t j = 0; j < m; j++)
                target[j] = x->y[j];
            encode(x, n_cat, target);
            best = auc_either(x->score, x->y, m);
        } else {
            /* Multiclass: one-vs-rest for every class, the largest AUC. */
            for (size_t k = 0; k < x->k; k++) {
                for (size_t j = 0; j < m; j++) {
                    x->y[j] = x->cls[j] == k;
                    target[j] = x->y[j];
                }
                encode(x, n_cat, target);
                best = nan_max(best, auc_either(x->score, x->y, m));
            }
        }
        *out = best;
        return CAIRN_OK;
    }
    bool nulls = false;
    for (size_t j = 0; j < m && !nulls; j++)
        nulls = !c->valid[x->rows[j]];
    /* Nulls below every value, then (when there are any) above every value. */
    const double null_at[2] = {-DBL_MAX, DBL_MAX};
    for (int v = 0; v < (nulls ? 2 : 1); v++) {
        if (cfg->task == CAIRN_TASK_MULTICLASS) {
            for (size_t k = 0; k < x->k; k++) {
                numeric_scores(x, c, null_at[v]);
                for (size_t j = 0; j < m; j++)
                    x->y[j] = x->cls[j] == k;
                best = nan_max(best, auc_either(x->score, x->y, m));
            }
        } else {
            numeric_scores(x, c, null_at[v]);
            if (cfg->task == CAIRN_TASK_REGRESSION)
                best = nan_max(best, fabs(cairn_metric_spearman(x->score, x->ylab, m)));
            else
                best = nan_max(best, auc_either(x->score, x->y, m));
        }
    }
    *out = best;
    return CAIRN_OK;
}

static cairn_status check_single_feature(const cairn_frame *f, const cairn_split *s,
                                         const cairn_leak_cfg *cfg, cairn_findings *findings)
{
    cairn_status st = CAIRN_OK;
    const cairn_column *lab = &f->cols[cfg->label_col];
    size_t n = f->n_rows;
    feat_ctx x = {.f = f, .cfg = cfg};
    uint32_t *lab_id = NULL;
    size_t alloc = n ? n : 1;
    x.rows = cairn_calloc(alloc, sizeof *x.rows);
    x.y = cairn_calloc(alloc, sizeof *x.y);
    x.cls = cairn_calloc(alloc, sizeof *x.cls);
    x.ylab = cairn_calloc(alloc, sizeof *x.ylab);
    x.score = cairn_calloc(alloc, sizeof *x.score);
    x.id = cairn_calloc(alloc, sizeof *x.id);
    if (!x.rows || !x.y || !x.cls || !x.ylab || !x.score || !x.id)
        goto nomem;
    if (cfg->task == CAIRN_TASK_MULTICLASS) {
        lab_id = cairn_calloc(alloc, sizeof *lab_id);
        bool has_null = false;
        if (!lab_id || cairn_split_dense_ids(lab, lab_id, &x.k, &has_null) != CAIRN_OK)
            goto nomem;
        if (has_null)
            x.k--; /* the null id is last; null-label rows are left out below */
    }
    for (size_t i = 0; i < n; i++) {
        if (s->part[i] != CAIRN_PART_TRAIN || !lab->valid[i])
            continue;
        size_t j = x.m++;
        x.rows[j] = i;
        if (cfg->task == CAIRN_TASK_BINARY)
            x.y[j] = is_positive(lab, i, cfg->positive);
        else if (cfg->task == CAIRN_TASK_MULTICLASS)
            x.cls[j] = lab_id[i];
        else
            x.ylab[j] = num_at(lab, i);
    }
    for (size_t q = 0; q < cfg->n_features; q++) {
        size_t fc = cfg->features[q];
        if ((long)fc == cfg->label_col)
            continue;
        const cairn_column *c = &f->cols[fc];
        double v = NAN;
        if ((st = feature_strength(&x, c, &v)) != CAIRN_OK)
            goto done;
        bool reg = cfg->task == CAIRN_TASK_REGRESSION;
        double thr = reg ? cfg->spearman_threshold : cfg->auc_threshold;
        if (isnan(v) || v < thr)
            continue;
        char what[256], num[40], tnum[40];
        cairn_fmt_double(num, sizeof num, v);
        cairn_fmt_double(tnum, sizeof tnum, thr);
        snprintf(what, sizeof what,
                 "feature '%s' alone predicts the label on the training part: %s %s "
                 "(threshold %s)",
                 c->name, reg ? "|Spearman|" : "AUC", num, tnum);
        if (cairn_findings_add(findings, CAIRN_SEV_CRITICAL, "single_feature_leak", c->name, v,
                               what,
                               "A column this predictive on its own usually carries the answer "
                               "(it is recorded after the outcome or derived from it), so the "
                               "model will fail where the column is not yet known.",
                               "Drop the column from the features unless it is truly known at "
                               "prediction time; then say so in review.") != CAIRN_OK)
            goto nomem;
    }
    goto done;
nomem:
    st = CAIRN_ENOMEM;
done:
    cairn_free(x.rows);
    cairn_free(x.y);
    cairn_free(x.cls);
    cairn_free(x.ylab);
    cairn_free(x.score);
    cairn_free(x.id);
    cairn_free(x.sum);
    cairn_free(x.cnt);
    cairn_free(lab_id);
    return st;
}

/* ---- entity overlap ------------------------------------------------------------------ */

static cairn_status check_entities(const cairn_frame *f, const cairn_split *s,
                                   const cairn_leak_cfg *cfg, cairn_findings *findings)
{
    cairn_status st = CAIRN_OK;
    const cairn_column *c = &f->cols[cfg->entity_col];
    size_t n = f->n_rows, n_ids = 0;
    bool has_null = false;
    uint32_t *id = cairn_calloc(n ? n : 1, sizeof *id);
    uint8_t *mask = NULL;
    if (!id || cairn_split_dense_ids(c, id, &n_ids, &has_null) != CAIRN_OK)
        goto nomem;
    mask = cairn_calloc(n_ids ? n_ids : 1, 1);
    if (!mask)
        goto nomem;
    for (size_t i = 0; i < n; i++)
        if (c->valid[i]) /* a null is no entity */
            mask[id[i]] |= (uint8_t)(1u << s->part[i]);
    size_t overlap = 0;
    for (size_t e = 0; e < n_ids; e++)
        overlap += (mask[e] & (mask[e] - 1)) != 0; /* two or more bits */
    if (overlap == 0)
        goto done;
    bool group = s->by == CAIRN_SPLIT_GROUP;
    char what[256];
    snprintf(what, sizeof what, "%zu entit%s of '%s' %s rows in more than one part of the split",
             overlap, overlap == 1 ? "y" : "ies", c->name, overlap == 1 ? "has" : "have");
    if (cairn_findings_add(
            findings, group ? CAIRN_SEV_CRITICAL : CAIRN_SEV_MEDIUM, "entity_overlap", c->name,
            (double)overlap, what,
            "The model can learn an entity's own outcome in training and meet the same entity "
            "in test, so the test score overstates how it does on new entities.",
            group ? "This is a bug in the group split; report it."
                  : "Split by group on this column so each entity stays in one part.") !=
        CAIRN_OK)
        goto nomem;
    goto done;
nomem:
    st = CAIRN_ENOMEM;
done:
    cairn_free(id);
    cairn_free(mask);
    return st;
}

/* ---- duplicate rows ------------------------------------------------------------------- */

/*
 * A row's hash over every column's validity byte and typed value bytes
 * (string codes stand for their strings: equal codes in one column are equal
 * strings). buf holds 9 bytes per column.
 */
static uint64_t row_hash(const cairn_frame *f, size_t row, unsigned char *buf)
{
    size_t len = 0;
    for (size_t j = 0; j < f->n_cols; j++) {
        const cairn_column *c = &f->cols[j];
        size_t w = cairn_type_size(c->type);
        buf[len++] = c->valid[row];
        if (c->valid[row])
            memcpy(buf + len, (const unsigned char *)c->v.raw + row * w, w);
        else
            memset(buf + len, 0, w);
        len += w;
    }
    return cairn_hash64(buf, len, 0);
}

/* Byte-wise check of a hash match: same validity and, where valid, same value bytes. */
static bool rows_equal(const cairn_frame *f, size_t a, size_t b)
{
    for (size_t j = 0; j < f->n_cols; j++) {
        const cairn_column *c = &f->cols[j];
        if (c->valid[a] != c->valid[b])
            return false;
        if (!c->valid[a])
            continue;
        size_t w = cairn_type_size(c->type);
        const unsigned char *p = (const unsigned char *)c->v.raw;
        if (memcmp(p + a * w, p + b * w, w) != 0)
            return false;
    }
    return true;
}

static cairn_status check_duplicates(const cairn_frame *f, const cairn_split *s,
                                     cairn_findings *findings)
{
    cairn_status st = CAIRN_OK;
    size_t n = f->n_rows, n_train = s->count[CAIRN_PART_TRAIN], n_test = s->count[CAIRN_PART_TEST];
    if (n_train == 0 || n_test == 0)
        return CAIRN_OK;
    size_t cap = 16, buf_len;
    while (cap < 2 * n_train)
        cap *= 2;
    if (!cairn_mul_size(f->n_cols, 9, &buf_len))
        return CAIRN_ENOMEM;
    unsigned char *buf = cairn_malloc(buf_len ? buf_len : 1);
    uint64_t *hash = cairn_calloc(n, sizeof *hash);
    size_t *slot = cairn_calloc(cap, sizeof *slot); /* train row + 1; 0 empty */
    if (!buf || !hash || !slot)
        goto nomem;
    for (size_t i = 0; i < n; i++) {
        if (s->part[i] == CAIRN_PART_VALID)
            continue;
        hash[i] = row_hash(f, i, buf);
        if (s->part[i] != CAIRN_PART_TRAIN)
            continue;
        size_t h = (size_t)hash[i] & (cap - 1);
        while (slot[h])
            h = (h + 1) & (cap - 1);
        slot[h] = i + 1;
    }
    size_t dup = 0;
    for (size_t i = 0; i < n; i++) {
        if (s->part[i] != CAIRN_PART_TEST)
            continue;
        for (size_t h = (size_t)hash[i] & (cap - 1); slot[h]; h = (h + 1) & (cap - 1)) {
            size_t r = slot[h] - 1;
            if (hash[r] == hash[i] && rows_equal(f, r, i)) {
                dup++;
                break;
            }
        }
    }
    if (dup > 0) {
        double share = (double)dup / (double)n_test;
        char what[256];
        snprintf(what, sizeof what,
                 "%zu of %zu test rows (%.2f%%) are exact duplicates of a training row", dup,
                 n_test, 100.0 * share);
        if (cairn_findings_add(findings, share > 0.01 ? CAIRN_SEV_HIGH : CAIRN_SEV_MEDIUM,
                               "duplicate_rows", "", (double)dup, what,
                               "The model is tested on rows it was trained on, so the test "
                               "score rewards memorising instead of generalising.",
                               "Remove duplicates before splitting, or split by group on the "
                               "key that identifies a record.") != CAIRN_OK)
            goto nomem;
    }
    goto done;
nomem:
    st = CAIRN_ENOMEM;
done:
    cairn_free(buf);
    cairn_free(hash);
    cairn_free(slot);
    return st;
}

/* ---- time order ----------------------------------------------------------------------- */

/* a < b for two valid values of a time column. */
static bool time_less(const cairn_column *c, size_t a, size_t b)
{
    if (c->type == CAIRN_TYPE_FLOAT64)
        return c->v.f64[a] < c->v.f64[b];
    if (c->type == CAIRN_TYPE_BOOL)
        return c->v.b[a] < c->v.b[b];
    return c->v.i64[a] < c->v.i64[b];
}

static cairn_status check_time(const cairn_frame *f, const cairn_split *s,
                               const cairn_leak_cfg *cfg, cairn_findings *findings)
{
    const cairn_column *c = &f->cols[cfg->time_col];
    size_t n = f->n_rows, latest = SIZE_MAX, early = 0;
    for (size_t i = 0; i < n; i++)
        if (s->part[i] == CAIRN_PART_TRAIN && c->valid[i] &&
            (latest == SIZE_MAX || time_less(c, latest, i)))
            latest = i;
    if (latest == SIZE_MAX)
        return CAIRN_OK;
    for (size_t i = 0; i < n; i++)
        early += s->part[i] == CAIRN_PART_TEST && c->valid[i] && time_less(c, i, latest);
    if (early == 0)
        return CAIRN_OK;
    bool timed = s->by == CAIRN_SPLIT_TIME;
    char what[256];
    snprintf(what, sizeof what, "%zu test row%s %s earlier in '%s' than the latest training row",
             early, early == 1 ? "" : "s", early == 1 ? "is" : "are", c->name);
    return cairn_findings_add(
        findings, timed ? CAIRN_SEV_CRITICAL : CAIRN_SEV_HIGH, "test_before_train", c->name,
        (double)early, what,
        "Training on rows later than test rows lets the model see the future, so the test "
        "score overstates how it will do on new data.",
        timed ? "This is a bug in the time split; report it."
              : "Split by time on this column.");
}

/* ---- PII ------------------------------------------------------------------------------- */

static cairn_status check_pii(const cairn_frame *f, const cairn_leak_cfg *cfg,
                              cairn_findings *findings)
{
    if (!cfg->pii)
        return CAIRN_OK;
    for (size_t q = 0; q < cfg->n_features; q++) {
        if (!cfg->pii[q])
            continue;
        bool allowed = cfg->pii_allowed && cfg->pii_allowed[q];
        const char *name = f->cols[cfg->features[q]].name;
        char what[256];
        snprintf(what, sizeof what, "PII column '%s' is used as a feature%s", name,
                 allowed ? " (explicitly allowed)" : "");
        if (cairn_findings_add(findings, allowed ? CAIRN_SEV_HIGH : CAIRN_SEV_CRITICAL,
                               "pii_feature", name, NAN, what,
                               "Personal data in a model can be recovered from it, ties its "
                               "decisions to people's identities and may break data-protection "
                               "rules.",
                               allowed ? "Confirm in review that using this column is lawful "
                                         "and necessary."
                                       : "Drop the column, or allow it explicitly in the spec "
                                         "with a reason.") != CAIRN_OK)
            return CAIRN_ENOMEM;
    }
    return CAIRN_OK;
}

/* ---- entry ------------------------------------------------------------------------------ */

static bool col_in(const cairn_frame *f, long col)
{
    return col >= 0 && (size_t)col < f->n_cols;
}

cairn_status cairn_leak_check(const cairn_frame *f, const cairn_split *s, const cairn_leak_cfg *cfg,
                              cairn_findings *findings, cairn_error *err)
{
    cairn_status st;
    if (s->n_rows != f->n_rows || (f->n_rows && !s->part))
        return cairn_error_set(err, CAIRN_EINVAL, "leak check",
                               "the split has %zu rows but the frame %zu", s->n_rows, f->n_rows);
    for (size_t q = 0; q < cfg->n_features; q++)
        if (cfg->features[q] >= f->n_cols)
            return cairn_error_set(err, CAIRN_EINVAL, "leak check",
                                   "feature column index %zu out of range", cfg->features[q]);
    if ((cfg->label_col >= 0 && !col_in(f, cfg->label_col)) ||
        (cfg->entity_col >= 0 && !col_in(f, cfg->entity_col)) ||
        (cfg->time_col >= 0 && !col_in(f, cfg->time_col)))
        return cairn_error_set(err, CAIRN_EINVAL, "leak check", "column index out of range");
    if (cfg->label_col >= 0 && cfg->task == CAIRN_TASK_REGRESSION &&
        !is_numeric(f->cols[cfg->label_col].type))
        return cairn_error_set(err, CAIRN_EINVAL, f->cols[cfg->label_col].name,
                               "a regression label must be numeric; '%s' is %s",
                               f->cols[cfg->label_col].name,
                               cairn_type_name(f->cols[cfg->label_col].type));
    if (cfg->time_col >= 0 && f->cols[cfg->time_col].type == CAIRN_TYPE_STRING)
        return cairn_error_set(err, CAIRN_EINVAL, f->cols[cfg->time_col].name,
                               "time column '%s' is a string", f->cols[cfg->time_col].name);

    if (cfg->label_col >= 0 && cfg->n_features > 0 &&
        (st = check_single_feature(f, s, cfg, findings)) != CAIRN_OK)
        goto fail;
    if (cfg->entity_col >= 0 && (st = check_entities(f, s, cfg, findings)) != CAIRN_OK)
        goto fail;
    if ((st = check_duplicates(f, s, findings)) != CAIRN_OK)
        goto fail;
    if (cfg->time_col >= 0 && (st = check_time(f, s, cfg, findings)) != CAIRN_OK)
        goto fail;
    if ((st = check_pii(f, cfg, findings)) != CAIRN_OK)
        goto fail;
    return CAIRN_OK;
fail:
    return cairn_error_set(err, st, "leak check", "out of memory in the leakage checks");
}
