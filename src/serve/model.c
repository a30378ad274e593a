/*
 * model.c -- a model opened for scoring: a loaded artifact plus what scoring
 * needs decoded once up front (the parsed contract, the decision threshold,
 * the class names, the entity column), and the per-row and batch scoring
 * calls that serving, `cairn predict` and embedding programs share.
 *
 * A row goes through the same three steps everywhere: validation against the
 * artifact's contract (when it has one), the transform's per-row path (which
 * gives bit for bit what training's batch transform gives), and the model's
 * one-row evaluator (which the batch evaluators also call per row). So a row
 * scored here gets exactly the score the pipeline computed for it.
 *
 * The model is immutable once made: scoring only reads it, and scratch
 * memory lives on the caller's stack (heap only beyond SMALL_FEATURES
 * features or SMALL_SCORES scores), so any number of threads may score with
 * one model at once and a typical call allocates nothing. Reading the
 * artifact and the registry is left to artifact.c and models.c; HTTP, the
 * prediction log and fallback chains are left to the rest of src/serve.
 */
#include "serve/serve.h"

#include "contract/contract.h"
#include "registry/models.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

/* Rows with at most this many transformed features are scored from stack
 * scratch (32 KiB); wider models take one heap block per call. */
#define SMALL_FEATURES 4096
/* Likewise for the score vector (multiclass k). */
#define SMALL_SCORES 256

/* The binary threshold when the artifact's evaluation summary has none. */
#define DEFAULT_THRESHOLD 0.5

struct cairn_model {
    cairn_artifact *a;            /* owned: bytes, manifest strings, decoded states */
    cairn_contract *contract;     /* owned; NULL when the artifact has none */
    cairn_task task;
    char *name;                   /* registry name, else the manifest's */
    int version;                  /* 0: not from a registry */
    char *entity;                 /* NULL when the spec named none */
    double threshold;             /* binary only */
    char *positive, *negative;    /* binary class labels */
    char **classes;               /* multiclass: n_classes names in code order */
    size_t n_classes;             /* as cairn_model_meta: k, 2 or 1 */
    size_t n_features;            /* transformed features per row */
    size_t n_scores;              /* doubles the model writes per row: k or 1 */
};

/* ---- opening ------------------------------------------------------------------------ */

static cairn_status nomem(cairn_error *err)
{
    return cairn_error_set(err, CAIRN_ENOMEM, "model", "out of memory");
}

/* Parses an artifact JSON section. The loader already checked that each one
 * is a single valid JSON value, so a failure here means memory ran out. */
static cJSON *parse_json(const cairn_artifact *a, cairn_artifact_kind kind)
{
    const cairn_artifact_view *v = &a->sections[kind];
    return cJSON_ParseWithLength((const char *)v->data, v->len);
}

static bool task_parse(const char *s, cairn_task *out)
{
    static const cairn_task tasks[] = {CAIRN_TASK_BINARY, CAIRN_TASK_REGRESSION,
                                       CAIRN_TASK_MULTICLASS};
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(tasks); i++)
        if (!strcmp(s, cairn_task_name(tasks[i]))) {
            *out = tasks[i];
            return true;
        }
    return false;
}

/*
 * The name of the negative class of a binary model: the label column's other
 * value when the contract lists exactly two (one of them the positive
 * class), else "not POSITIVE". Returns NULL when out of memory.
 */
static char *negative_name(const cairn_model *m)
{
    if (m->contract) {
        long j = cairn_contract_find(m->contract, m->a->label);
        const cairn_contract_col *col = j >= 0 ? &m->contract->cols[j] : NULL;
        if (col && col->domain && col->n_domain == 2) {
            if (!strcmp(col->domain[0], m->positive) && strcmp(col->domain[1], m->positive))
                return cairn_strdup(col->domain[1]);
            if (!strcmp(col->domain[1], m->positive) && strcmp(col->domain[0], m->positive))
                return cairn_strdup(col->domain[0]);
        }
    }
    size_t n = strlen(m->positive) + sizeof "not ";
    char *s = cairn_malloc(n);
    if (s)
        snprintf(s, n, "not %s", m->positive);
    return s;
}

/* Reads the manifest's class names (positive or classes), checked against the
 * model's score width. */
static cairn_status read_classes(cairn_model *m, const cJSON *man, cairn_error *err)
{
    if (m->task == CAIRN_TASK_REGRESSION) {
        m->n_classes = 1;
        return m->n_scores == 1 ? CAIRN_OK
                                : cairn_error_set(err, CAIRN_ECORRUPT, "artifact model",
                                                  "a regression model must give one score");
    }
    if (m->task == CAIRN_TASK_BINARY) {
        const cJSON *pos = cJSON_GetObjectItemCaseSensitive(man, "positive");
        if (!cJSON_IsString(pos) || !pos->valuestring || m->n_scores != 1)
            return cairn_error_set(err, CAIRN_ECORRUPT, "artifact manifest",
                                   "a binary model needs its positive class and one score");
        m->n_classes = 2;
        if (!(m->positive = cairn_strdup(pos->valuestring)) || !(m->negative = negative_name(m)))
            return nomem(err);
        return CAIRN_OK;
    }
    const cJSON *cls = cJSON_GetObjectItemCaseSensitive(man, "classes");
    int k = cJSON_IsArray(cls) ? cJSON_GetArraySize(cls) : 0;
    if (k < 2 || (size_t)k != m->n_scores)
        return cairn_error_set(err, CAIRN_ECORRUPT, "artifact manifest",
                               "a multiclass model needs its class names, one per score "
                               "(%d names, %zu scores)", k, m->n_scores);
    if (!(m->classes = cairn_calloc((size_t)k, sizeof *m->classes)))
        return nomem(err);
    m->n_classes = (size_t)k;
    for (int i = 0; i < k; i++) {
        const cJSON *c = cJSON_GetArrayItem(cls, i);
        if (!cJSON_IsString(c) || !c->valuestring)
            return cairn_error_set(err, CAIRN_ECORRUPT, "artifact manifest",
                                   "class %d is not a string", i);
        if (!(m->classes[i] = cairn_strdup(c->valuestring)))
            return nomem(err);
    }
    return CAIRN_OK;
}

/* The decision threshold from the evaluation summary: {"threshold":{"value":T}}. */
static cairn_status read_threshold(cairn_model *m, const cJSON *ev, cairn_error *err)
{
    m->threshold = DEFAULT_THRESHOLD;
    const cJSON *th = cJSON_GetObjectItemCaseSensitive(ev, "threshold");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(th, "value");
    if (!v)
        return CAIRN_OK;
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0.0 && v->valuedouble <= 1.0))
        return cairn_error_set(err, CAIRN_ECORRUPT, "artifact eval",
                               "the threshold is not a number in [0, 1]");
    m->threshold = v->valuedouble;
    return CAIRN_OK;
}

/* The entity column from the lineage's resolved spec ("entity": string or null). */
static cairn_status read_entity(cairn_model *m, const cJSON *lin, cairn_error *err)
{
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(lin, "spec");
    const cJSON *ent = cJSON_GetObjectItemCaseSensitive(spec, "entity");
    if (cJSON_IsString(ent) && ent->valuestring && !(m->entity = cairn_strdup(ent->valuestring)))
        return nomem(err);
    return CAIRN_OK;
}

cairn_status cairn_model_from_artifact(cairn_artifact *a, const char *name, int version,
                                       cairn_model **out, cairn_error *err)
{
    cairn_status st = CAIRN_OK;
    cJSON *man = NULL, *ev = NULL, *lin = NULL;
    cairn_model *m = NULL;
    if (out)
        *out = NULL;
    if (!a || !out) {
        cairn_artifact_free(a);
        return cairn_error_set(err, CAIRN_EINVAL, "model", "no artifact or no output");
    }
    if (!(m = cairn_calloc(1, sizeof *m))) {
        cairn_artifact_free(a);
        return nomem(err);
    }
    m->a = a;
    m->version = version;
    if (!(m->name = cairn_strdup(name ? name : a->model_name))) {
        st = nomem(err);
        goto done;
    }
    if (!task_parse(a->task, &m->task)) {
        st = cairn_error_set(err, CAIRN_ECORRUPT, "artifact manifest", "unknown task '%s'",
                             a->task);
        goto done;
    }
    /* The loader checked that the model reads exactly the transform's outputs. */
    m->n_features = cairn_transform_n_out(a->transform);
    m->n_scores = a->trees ? cairn_trees_n_scores(a->trees) : cairn_linear_n_outputs(a->linear);
    if (cairn_linear_n_outputs(a->baseline) != m->n_scores) {
        st = cairn_error_set(err, CAIRN_ECORRUPT, "artifact baseline",
                             "the baseline gives %zu scores, the model %zu",
                             cairn_linear_n_outputs(a->baseline), m->n_scores);
        goto done;
    }

    const cairn_artifact_view *cv = &a->sections[CAIRN_ART_CONTRACT];
    if (cv->len > 0) {
        cairn_error e = {0};
        st = cairn_contract_parse((const char *)cv->data, cv->len, "artifact contract",
                                  &m->contract, &e);
        if (st == CAIRN_ENOMEM) {
            st = nomem(err);
            goto done;
        }
        if (st != CAIRN_OK) {
            st = cairn_error_set(err, CAIRN_ECORRUPT, "artifact contract", "%s (at %s)", e.msg,
                                 e.where);
            goto done;
        }
    }

    man = parse_json(a, CAIRN_ART_MANIFEST);
    ev = parse_json(a, CAIRN_ART_EVAL);
    lin = parse_json(a, CAIRN_ART_LINEAGE);
    if (!man || !ev || !lin) {
        st = nomem(err);
        goto done;
    }
    if ((st = read_classes(m, man, err)) != CAIRN_OK ||
        (m->task == CAIRN_TASK_BINARY && (st = read_threshold(m, ev, err)) != CAIRN_OK) ||
        (st = read_entity(m, lin, err)) != CAIRN_OK)
        goto done;
done:
    cJSON_Delete(man);
    cJSON_Delete(ev);
    cJSON_Delete(lin);
    if (st != CAIRN_OK) {
        cairn_model_close(m);
        return st;
    }
    *out = m;
    return CAIRN_OK;
}

cairn_status cairn_model_open(cairn_home *home, const char *ref, cairn_model **out,
                              cairn_error *err)
{
    cairn_model_version v = {0};
    cairn_artifact *a = NULL;
    if (out)
        *out = NULL;
    if (!home || !ref || !out)
        return cairn_error_set(err, CAIRN_EINVAL, "model", "no home, reference or output");
    cairn_status st = cairn_model_resolve(home, ref, &v, err);
    if (st == CAIRN_OK)
        st = cairn_home_artifact_load(home, v.artifact_hash, &a, err);
    if (st == CAIRN_OK)
        st = cairn_model_from_artifact(a, v.model, v.version, out, err);
    cairn_model_version_reset(&v);
    return st;
}

cairn_status cairn_model_open_file(const char *path, cairn_model **out, cairn_error *err)
{
    char *bytes = NULL;
    size_t n = 0;
    cairn_artifact *a = NULL;
    if (out)
        *out = NULL;
    if (!path || !out)
        return cairn_error_set(err, CAIRN_EINVAL, "model", "no path or output");
    cairn_status st = cairn_read_file(path, &bytes, &n, err);
    if (st != CAIRN_OK)
        return st;
    cairn_error e = {0};
    st = cairn_artifact_load(bytes, n, &a, &e);
    cairn_free(bytes);
    if (st != CAIRN_OK) {
        /* Say which file, keeping the loader's location inside it. */
        char where[CAIRN_ERROR_WHERE_MAX];
        snprintf(where, sizeof where, "%.255s: %.200s", path, e.where);
        return cairn_error_set(err, st, where, "%s", e.msg);
    }
    return cairn_model_from_artifact(a, NULL, 0, out, err);
}

void cairn_model_close(cairn_model *m)
{
    if (!m)
        return;
    cairn_artifact_free(m->a);
    cairn_contract_free(m->contract);
    cairn_free(m->name);
    cairn_free(m->entity);
    cairn_free(m->positive);
    cairn_free(m->negative);
    if (m->classes)
        for (size_t i = 0; i < m->n_classes; i++)
            cairn_free(m->classes[i]);
    cairn_free(m->classes);
    cairn_free(m);
}

/* ---- what it is --------------------------------------------------------------------- */

void cairn_model_get_meta(const cairn_model *m, cairn_model_meta *out)
{
    memset(out, 0, sizeof *out);
    if (!m)
        return;
    out->name = m->name;
    out->version = m->version;
    out->task = m->a->task;
    out->model_type = m->a->model_type;
    out->artifact_hash = m->a->hash_hex;
    out->run_id = m->a->run_id;
    out->label = m->a->label;
    out->entity = m->entity;
    out->n_inputs = cairn_transform_n_inputs(m->a->transform);
    out->n_classes = m->n_classes;
    out->threshold = m->task == CAIRN_TASK_BINARY ? m->threshold : NAN;
    out->has_contract = m->contract != NULL;
}

const char *cairn_model_input_name(const cairn_model *m, size_t i)
{
    if (!m || i >= cairn_transform_n_inputs(m->a->transform))
        return NULL;
    return cairn_transform_input_name(m->a->transform, i);
}

const cairn_contract *cairn_model_contract(const cairn_model *m)
{
    return m ? m->contract : NULL;
}

size_t cairn_model_n_features(const cairn_model *m)
{
    return m->n_features;
}

/* ---- scoring ------------------------------------------------------------------------ */

/*
 * Validates one row against the contract (a no-op without one). With v NULL
 * the violations go to a local list that is dropped, so only the status
 * reports them. On CAIRN_ECHECK err names the first violation of this row.
 */
static cairn_status validate(const cairn_model *m, const cairn_field *fields, size_t n_fields,
                             long row, cairn_violations *v, cairn_error *err)
{
    if (!m->contract)
        return CAIRN_OK;
    cairn_violations local = {0};
    cairn_violations *list = v ? v : &local;
    size_t before = list->n;
    cairn_status st = cairn_contract_validate_row(m->contract, fields, n_fields, row, list, err);
    if (st == CAIRN_ECHECK) {
        const cairn_violation *first = &list->items[before];
        char where[160];
        snprintf(where, sizeof where, "row %ld, field %s", row, first->field);
        cairn_error_set(err, CAIRN_ECHECK, where,
                        "the row breaks the model's contract (%zu violation%s, first: %s)",
                        list->n - before, list->n - before == 1 ? "" : "s", first->problem);
    }
    cairn_violations_reset(&local);
    return st;
}

/* Turns the raw scores s of one row into a prediction. */
static void interpret(const cairn_model *m, const double *s, cairn_prediction *out)
{
    switch (m->task) {
    case CAIRN_TASK_BINARY: {
        bool pos = s[0] >= m->threshold;
        out->score = s[0];
        out->class_index = pos ? 1 : 0;
        out->label = pos ? m->positive : m->negative;
        break;
    }
    case CAIRN_TASK_MULTICLASS: {
        /* argmax; a tie keeps the lowest index (strict >). */
        size_t best = 0;
        for (size_t c = 1; c < m->n_scores; c++)
            if (s[c] > s[best])
                best = c;
        out->score = s[best];
        out->class_index = (int)best;
        out->label = m->classes[best];
        break;
    }
    default:
        out->score = s[0];
        out->class_index = -1;
        out->label = NULL;
        break;
    }
}

/*
 * Transforms and scores one row that has already been validated. With
 * baseline the artifact's baseline answers instead of the model; the row is
 * still transformed, so the model and its baseline accept the same rows.
 * Scratch lives on the stack up to SMALL_FEATURES / SMALL_SCORES.
 */
static cairn_status score(const cairn_model *m, const cairn_field *fields, size_t n_fields,
                          bool baseline, cairn_prediction *out, cairn_error *err)
{
    double x_small[SMALL_FEATURES], s_small[SMALL_SCORES];
    double *x = x_small, *s = s_small, *heap = NULL;
    if (m->n_features > SMALL_FEATURES || m->n_scores > SMALL_SCORES) {
        heap = cairn_calloc(m->n_features + m->n_scores, sizeof *heap);
        if (!heap)
            return nomem(err);
        x = heap;
        s = heap + m->n_features;
    }
    cairn_status st = cairn_transform_apply_row(m->a->transform, fields, n_fields, x, err);
    if (st == CAIRN_OK) {
        if (baseline)
            cairn_linear_predict(m->a->baseline, x, s);
        else if (m->a->trees)
            cairn_trees_predict(m->a->trees, x, s);
        else
            cairn_linear_predict(m->a->linear, x, s);
        interpret(m, s, out);
    }
    cairn_free(heap);
    return st;
}

static cairn_status predict_one(const cairn_model *m, const cairn_field *fields, size_t n_fields,
                                long row, bool baseline, cairn_prediction *out,
                                cairn_violations *v, cairn_error *err)
{
    if (!m || !out || (n_fields && !fields))
        return cairn_error_set(err, CAIRN_EINVAL, "model", "no model, fields or output");
    cairn_status st = validate(m, fields, n_fields, row, v, err);
    if (st == CAIRN_OK)
        st = score(m, fields, n_fields, baseline, out, err);
    return st;
}

cairn_status cairn_model_predict(const cairn_model *m, const cairn_field *fields,
                                 size_t n_fields, long row, cairn_prediction *out,
                                 cairn_violations *v, cairn_error *err)
{
    return predict_one(m, fields, n_fields, row, false, out, v, err);
}

cairn_status cairn_model_predict_baseline(const cairn_model *m, const cairn_field *fields,
                                          size_t n_fields, long row, cairn_prediction *out,
                                          cairn_violations *v, cairn_error *err)
{
    return predict_one(m, fields, n_fields, row, true, out, v, err);
}

cairn_status cairn_model_predict_batch(const cairn_model *m, const cairn_field *const *rows,
                                       const size_t *n_fields, size_t n_rows, int threads,
                                       cairn_prediction *out, cairn_violations *v,
                                       cairn_error *err)
{
    if (!m || (n_rows && (!rows || !n_fields || !out)))
        return cairn_error_set(err, CAIRN_EINVAL, "model", "no model, rows or output");
    if (n_rows > (size_t)LONG_MAX)
        return cairn_error_set(err, CAIRN_ETOOBIG, "model", "too many rows");

    /* Every row is validated before any is scored, so a bad batch reports all
     * of its violations and scores nothing. */
    cairn_status st = CAIRN_OK;
    if (m->contract) {
        cairn_violations local = {0};
        cairn_violations *list = v ? v : &local;
        size_t before = list->n;
        long first_bad = -1;
        for (size_t i = 0; i < n_rows && st != CAIRN_ENOMEM; i++) {
            size_t had = list->n;
            cairn_status r = cairn_contract_validate_row(m->contract, rows[i], n_fields[i],
                                                         (long)i, list, err);
            if (r == CAIRN_ENOMEM)
                st = r;
            else if (r == CAIRN_ECHECK && first_bad < 0 && list->n > had)
                first_bad = (long)i;
        }
        if (st == CAIRN_OK && first_bad >= 0) {
            const cairn_violation *first = &list->items[before];
            char where[160];
            snprintf(where, sizeof where, "row %ld, field %s", first_bad, first->field);
            st = cairn_error_set(err, CAIRN_ECHECK, where,
                                 "%zu contract violation%s in the batch (first: %s)",
                                 list->n - before, list->n - before == 1 ? "" : "s",
                                 first->problem);
        }
        cairn_violations_reset(&local);
        if (st != CAIRN_OK)
            return st;
    }

    /* Rows are independent and the model is read-only, so they are scored in
     * parallel by the same code as one row; the first failing row (lowest
     * index, whatever the thread timing) is the one reported. */
    size_t bad = n_rows;
    cairn_error bad_err = {0};
    int nt = threads > 0 ? threads : omp_get_max_threads();
#pragma omp parallel for num_threads(nt) schedule(static) if (n_rows > 1)
    for (size_t i = 0; i < n_rows; i++) {
        cairn_error e = {0};
        if (score(m, rows[i], n_fields[i], false, &out[i], &e) != CAIRN_OK) {
#pragma omp critical(cairn_model_batch_error)
            if (i < bad) {
                bad = i;
                bad_err = e;
            }
        }
    }
    if (bad < n_rows) {
        /* The transform names the field it could not read; say which row too. */
        char where[CAIRN_ERROR_WHERE_MAX];
        snprintf(where, sizeof where, bad_err.code == CAIRN_EINPUT ? "row %zu, field %.400s"
                                                                   : "row %zu: %.400s",
                 bad, bad_err.where);
        return cairn_error_set(err, bad_err.code, where, "%s", bad_err.msg);
    }
    return CAIRN_OK;
}
