/*
 * govern.c -- review, promotion, rollback, export and import against a home
 * (govern.h). The rule throughout: decide from what was stored before the
 * decision (the run's gates as declared before training, the artifact's own
 * bytes), write objects before the rows that name them, and let models.c
 * make every alias move one conflict-checked transaction.
 */
#include "review/govern.h"

#include "pipeline/train.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* ---- small helpers ---------------------------------------------------------------------- */

static const cJSON *obj_get(const cJSON *o, const char *key)
{
    return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
}

static const char *obj_str(const cJSON *o, const char *key)
{
    const cJSON *v = obj_get(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Prints a parsed JSON value compactly with numbers in round-trip precision
 * (cJSON's printer keeps 15 digits, which would blur stored metrics). */
static void put_json(const cJSON *v, cairn_buf *b)
{
    const cJSON *it;
    bool first = true;
    if (cJSON_IsObject(v)) {
        cairn_buf_putc(b, '{');
        cJSON_ArrayForEach(it, v)
        {
            if (!first)
                cairn_buf_putc(b, ',');
            first = false;
            cairn_buf_put_json_string(b, it->string, strlen(it->string));
            cairn_buf_putc(b, ':');
            put_json(it, b);
        }
        cairn_buf_putc(b, '}');
    } else if (cJSON_IsArray(v)) {
        cairn_buf_putc(b, '[');
        cJSON_ArrayForEach(it, v)
        {
            if (!first)
                cairn_buf_putc(b, ',');
            first = false;
            put_json(it, b);
        }
        cairn_buf_putc(b, ']');
    } else if (cJSON_IsNumber(v) && isfinite(v->valuedouble)) {
        cairn_buf_put_double(b, v->valuedouble);
    } else if (cJSON_IsString(v)) {
        cairn_buf_put_json_string(b, v->valuestring, strlen(v->valuestring));
    } else if (cJSON_IsBool(v)) {
        cairn_buf_puts(b, cJSON_IsTrue(v) ? "true" : "false");
    } else {
        cairn_buf_puts(b, "null");
    }
}

/* The model's test metrics object of an eval JSON ({"model":{"metrics":{..}}}), or NULL. */
static char *metrics_of(const cJSON *ev)
{
    const cJSON *m = obj_get(obj_get(ev, "model"), "metrics");
    if (!cJSON_IsObject(m))
        return NULL;
    cairn_buf b;
    cairn_buf_init(&b);
    put_json(m, &b);
    char *out = b.failed ? NULL : cairn_buf_take(&b);
    cairn_buf_reset(&b);
    return out;
}

static char *metrics_of_eval(const char *eval_json)
{
    cJSON *ev = eval_json ? cJSON_Parse(eval_json) : NULL;
    char *out = metrics_of(ev);
    cJSON_Delete(ev);
    return out;
}

/* ---- the artifact of a run ------------------------------------------------------------- */

/* The contract YAML a run was trained under: kept by its hash in objects/ since
 * schema 3; for an older run, the saved contract file when its hash still matches. */
static cairn_status run_contract(cairn_home *h, const cairn_run_record *run, char **yaml,
                                 cairn_error *err)
{
    size_t len = 0;
    *yaml = NULL;
    if (!run->contract_hash)
        return CAIRN_OK;
    cairn_error e2 = {0};
    if (cairn_home_object_get(h, run->contract_hash, ".yaml", yaml, &len, &e2) == CAIRN_OK)
        return CAIRN_OK;
    char *path = cairn_home_contract_path(h, run->dataset_name ? run->dataset_name : "");
    char *text = NULL;
    cairn_status st = CAIRN_ECORRUPT;
    if (path && access(path, F_OK) == 0 && cairn_read_file(path, &text, &len, NULL) == CAIRN_OK) {
        unsigned char hash[CAIRN_HASH_BYTES];
        char hex[CAIRN_HASH_HEX];
        cairn_hasher hs;
        cairn_hasher_init(&hs);
        cairn_hasher_update(&hs, text, len);
        cairn_hasher_final(&hs, hash);
        cairn_hash_hex(hash, hex);
        if (strcmp(hex, run->contract_hash) == 0) {
            *yaml = text;
            text = NULL;
            st = CAIRN_OK;
        }
    }
    cairn_free(text);
    cairn_free(path);
    if (st != CAIRN_OK)
        return cairn_error_set(err, CAIRN_ECORRUPT, run->id,
                               "the contract run %s was trained under (hash %.16s) is no longer in "
                               "the home",
                               run->id, run->contract_hash);
    return CAIRN_OK;
}

cairn_status cairn_run_artifact(cairn_home *h, const cairn_run_record *run, cairn_buf *out,
                                cairn_error *err)
{
    char *yaml = NULL;
    if (!run->status || strcmp(run->status, "succeeded") != 0)
        return cairn_error_set(err, CAIRN_EINVAL, run->id,
                               "run %s did not succeed: it has no model", run->id);
    cairn_status st = run_contract(h, run, &yaml, err);
    if (st == CAIRN_OK)
        st = cairn_artifact_from_run(run, yaml, NULL, out, err);
    cairn_free(yaml);
    return st;
}

/* ---- review against the registry ------------------------------------------------------- */

void cairn_review_session_reset(cairn_review_session *s)
{
    if (!s)
        return;
    cairn_review_reset(&s->review);
    cairn_compare_result_reset(&s->compare);
    memset(s, 0, sizeof *s);
}

/* The run's own transform and model, decoded from its stored states. */
typedef struct states {
    cairn_transform *tf;
    cairn_trees *trees;
    cairn_linear *linear;
} states;

static void states_reset(states *s)
{
    cairn_transform_free(s->tf);
    cairn_trees_free(s->trees);
    cairn_linear_free(s->linear);
    memset(s, 0, sizeof *s);
}

static cairn_status states_load(const cairn_run_record *r, states *s, cairn_error *err)
{
    cairn_status st = cairn_transform_from_bytes((const char *)r->transform_state,
                                                 r->transform_state_len, &s->tf, err);
    if (st != CAIRN_OK)
        return st;
    if (r->model_type && strcmp(r->model_type, "gbdt") == 0)
        return cairn_trees_from_bytes(r->model_state, r->model_state_len, &s->trees, err);
    return cairn_linear_from_bytes(r->model_state, r->model_state_len, &s->linear, err);
}

/* Whether the production artifact can be scored on this run's test part; why not in note. */
static bool compatible(const cairn_artifact *a, const cairn_test_part *tp, const char *run_label,
                       const char *run_positive, char *note, size_t cap)
{
    cJSON *man = cJSON_ParseWithLength((const char *)a->sections[CAIRN_ART_MANIFEST].data,
                                       a->sections[CAIRN_ART_MANIFEST].len);
    bool ok = false;
    if (!man) {
        snprintf(note, cap, "its manifest does not parse");
        goto done;
    }
    if (strcmp(a->task, cairn_task_name(tp->task)) != 0) {
        snprintf(note, cap, "it is a %s model and this run is %s", a->task,
                 cairn_task_name(tp->task));
        goto done;
    }
    if (!same_str(a->label, run_label)) {
        snprintf(note, cap, "it predicts '%.60s', this run predicts '%.60s'", a->label,
                 run_label ? run_label : "?");
        goto done;
    }
    if (tp->task == CAIRN_TASK_BINARY && !same_str(obj_str(man, "positive"), run_positive)) {
        snprintf(note, cap, "its positive class differs from this run's");
        goto done;
    }
    if (tp->task == CAIRN_TASK_MULTICLASS) {
        const cJSON *cl = obj_get(man, "classes");
        if (!cJSON_IsArray(cl) || (size_t)cJSON_GetArraySize(cl) != tp->n_classes) {
            snprintf(note, cap, "its classes differ from this run's");
            goto done;
        }
        for (size_t i = 0; i < tp->n_classes; i++) {
            const cJSON *c = cJSON_GetArrayItem(cl, (int)i);
            if (!cJSON_IsString(c) || strcmp(c->valuestring, tp->class_names[i]) != 0) {
                snprintf(note, cap, "its classes differ from this run's");
                goto done;
            }
        }
    }
    for (size_t i = 0; i < cairn_transform_n_inputs(a->transform); i++) {
        const char *name = cairn_transform_input_name(a->transform, i);
        if (cairn_frame_find(tp->frame, name) < 0) {
            snprintf(note, cap, "its input column '%.60s' is not in this run's data (contract "
                                "changed)",
                     name);
            goto done;
        }
    }
    ok = true;
done:
    cJSON_Delete(man);
    return ok;
}

/* Scores the run and the production artifact on the run's test part and compares them.
 * Anything that prevents it is not an error of the review: it lands in the note. */
static void compare_with_production(cairn_home *h, const cairn_run_record *run,
                                    const cairn_model_version *prod, int threads,
                                    cairn_review_session *s)
{
    cairn_artifact *a = NULL;
    cairn_test_part tp;
    states mine = {0};
    double *cand = NULL, *base = NULL;
    cairn_error e = {0};
    cJSON *spec = NULL, *ev = NULL;
    memset(&tp, 0, sizeof tp);
    char *note = s->compare_note;
    size_t cap = sizeof s->compare_note;

    if (cairn_home_artifact_load(h, prod->artifact_hash, &a, &e) != CAIRN_OK) {
        snprintf(note, cap, "its artifact cannot be loaded: %.180s", e.msg);
        goto done;
    }
    if (cairn_test_part_load(h, run, &tp, &e) != CAIRN_OK) {
        snprintf(note, cap, "this run's test part cannot be rebuilt: %.180s", e.msg);
        goto done;
    }
    spec = run->spec_json ? cJSON_Parse(run->spec_json) : NULL;
    ev = run->eval_json ? cJSON_Parse(run->eval_json) : NULL;
    if (!compatible(a, &tp, obj_str(spec, "label"), obj_str(spec, "positive"), note, cap))
        goto done;
    if (states_load(run, &mine, &e) != CAIRN_OK ||
        cairn_test_part_score(&tp, mine.tf, mine.trees, mine.linear, threads, &cand, &e) !=
            CAIRN_OK ||
        cairn_test_part_score(&tp, a->transform, a->trees, a->linear, threads, &base, &e) !=
            CAIRN_OK) {
        snprintf(note, cap, "scoring failed: %.180s", e.msg);
        goto done;
    }
    const cJSON *th = obj_get(obj_get(ev, "threshold"), "value");
    const cJSON *boot = obj_get(obj_get(spec, "evaluation"), "bootstrap");
    cairn_compare_input in = {
        .task = tp.task,
        .n = tp.n,
        .n_classes = tp.n_classes,
        .y = tp.y,
        .candidate = cand,
        .production = base,
        .threshold = cJSON_IsNumber(th) ? th->valuedouble : 0.5,
        .n_boot = cJSON_IsNumber(boot) && boot->valuedouble >= 0 ? (size_t)boot->valuedouble : 1000,
        .seed = (uint64_t)run->seed ^ 0x636f6d70617265ull,   /* "compare" */
        .slices = tp.slices,
        .n_slices = tp.n_slices,
        .threads = threads,
    };
    if (cairn_compare(&in, &s->compare, &e) != CAIRN_OK) {
        cairn_compare_result_reset(&s->compare);
        snprintf(note, cap, "comparison failed: %.180s", e.msg);
        goto done;
    }
    s->has_compare = true;
    note[0] = '\0';
done:
    cJSON_Delete(spec);
    cJSON_Delete(ev);
    cairn_free(cand);
    cairn_free(base);
    states_reset(&mine);
    cairn_test_part_reset(&tp);
    cairn_artifact_free(a);
}

cairn_status cairn_review_session_load(cairn_home *h, const cairn_run_record *run,
                                       const char *model, const char *alias, int threads,
                                       cairn_review_session *out, cairn_error *err)
{
    cairn_model_alias *aliases = NULL;
    size_t n_aliases = 0;
    cairn_model_version prod;
    cairn_status st;
    memset(out, 0, sizeof *out);
    memset(&prod, 0, sizeof prod);
    if (!model)
        model = run->model;
    if (!alias)
        alias = "production";
    if (!model || !cairn_name_valid(model))
        return cairn_error_set(err, CAIRN_EINVAL, model ? model : "",
                               "invalid model name '%s'", model ? model : "");
    if (!cairn_alias_valid(alias))
        return cairn_error_set(err, CAIRN_EINVAL, alias, "invalid alias name '%s'", alias);
    if (!run->status || strcmp(run->status, "succeeded") != 0)
        return cairn_error_set(err, CAIRN_EINVAL, run->id,
                               "run %s failed: there is nothing to review (%s)", run->id,
                               run->error ? run->error : "no model");
    snprintf(out->model, sizeof out->model, "%s", model);
    snprintf(out->alias, sizeof out->alias, "%s", alias);
    if ((st = cairn_model_aliases(h, model, &aliases, &n_aliases, err)) != CAIRN_OK)
        goto done;
    bool has_fallback = false;
    for (size_t i = 0; i < n_aliases; i++) {
        if (strcmp(aliases[i].alias, "production") == 0)
            out->production_version = aliases[i].version;
        if (strcmp(aliases[i].alias, "fallback") == 0)
            has_fallback = true;
        if (strcmp(aliases[i].alias, alias) == 0)
            out->alias_version = aliases[i].version;
    }
    if (out->production_version > 0) {
        st = cairn_model_get_version(h, model, out->production_version, &prod, err);
        if (st != CAIRN_OK)
            goto done;
        compare_with_production(h, run, &prod, threads, out);
    }
    cairn_review_context ctx = {
        .alias = alias,
        .production_version = out->production_version,
        .has_fallback = has_fallback,
        .compare = out->has_compare ? &out->compare : NULL,
        .compare_note = out->compare_note[0] ? out->compare_note : NULL,
    };
    st = cairn_review_run(run, &ctx, &out->review, err);
done:
    cairn_model_version_reset(&prod);
    cairn_free(aliases);
    if (st != CAIRN_OK)
        cairn_review_session_reset(out);
    return st;
}

/* ---- promotion ------------------------------------------------------------------------------ */

void cairn_promote_opts_init(cairn_promote_opts *o)
{
    memset(o, 0, sizeof *o);
    o->percent = NAN;
}

void cairn_promote_result_reset(cairn_promote_result *r)
{
    if (!r)
        return;
    cairn_review_session_reset(&r->session);
    for (size_t i = 0; i < r->n_reasons; i++)
        cairn_free(r->reasons[i]);
    cairn_free(r->reasons);
    memset(r, 0, sizeof *r);
}

static bool add_reason(cairn_promote_result *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static bool add_reason(cairn_promote_result *r, const char *fmt, ...)
{
    char **p = cairn_realloc(r->reasons, (r->n_reasons + 1) * sizeof *p);
    if (!p)
        return false;
    r->reasons = p;
    cairn_buf b;
    cairn_buf_init(&b);
    va_list ap;
    va_start(ap, fmt);
    cairn_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    char *s = b.failed ? NULL : cairn_buf_take(&b);
    cairn_buf_reset(&b);
    if (!s)
        return false;
    r->reasons[r->n_reasons++] = s;
    return true;
}

static void fmt_num(double v, char *out, size_t cap)
{
    if (isnan(v))
        snprintf(out, cap, "missing");
    else
        snprintf(out, cap, "%.4g", v);
}

/* The reasons a review refuses promotion: every failed or missing gate, then BLOCK. */
static bool collect_reasons(const cairn_review *rv, cairn_promote_result *out)
{
    for (size_t i = 0; i < rv->n_gates; i++) {
        const cairn_gate_result *g = &rv->gates[i];
        if (g->status != CAIRN_GATE_FAIL && g->status != CAIRN_GATE_MISSING)
            continue;
        char v[32], t[32];
        fmt_num(g->value, v, sizeof v);
        fmt_num(g->threshold, t, sizeof t);
        if (!add_reason(out, "gate %s %s %s: %s (%s)", g->metric, g->op, t, v,
                        cairn_gate_status_name(g->status)))
            return false;
    }
    if (rv->verdict == CAIRN_VERDICT_BLOCK) {
        for (size_t i = 0; i < rv->critical.n; i++) {
            const cairn_finding *f = &rv->critical.items[i];
            if (strcmp(f->code, "gate_failed") == 0 || strcmp(f->code, "gate_missing") == 0)
                continue;   /* already listed as a gate */
            if (!add_reason(out, "critical: %s", f->what))
                return false;
        }
        if (!add_reason(out, "review decision: BLOCK"))
            return false;
    }
    return true;
}

static void join_reasons(const cairn_promote_result *r, cairn_buf *b)
{
    for (size_t i = 0; i < r->n_reasons; i++) {
        if (i)
            cairn_buf_puts(b, "; ");
        cairn_buf_puts(b, r->reasons[i]);
    }
}

/* Version fields of a run (strings owned by v). */
static cairn_status version_of_run(const cairn_run_record *run, const char *model,
                                   const char *hash_hex, cairn_model_version *v, cairn_error *err)
{
    cJSON *spec = run->spec_json ? cJSON_Parse(run->spec_json) : NULL;
    memset(v, 0, sizeof *v);
    snprintf(v->model, sizeof v->model, "%s", model);
    snprintf(v->artifact_hash, sizeof v->artifact_hash, "%s", hash_hex);
    snprintf(v->run_id, sizeof v->run_id, "%s", run->id);
    snprintf(v->source, sizeof v->source, "run");
    const char *task = obj_str(spec, "task");
    v->task = task ? cairn_strdup(task) : NULL;
    v->model_type = run->model_type ? cairn_strdup(run->model_type) : NULL;
    v->dataset_name = run->dataset_name ? cairn_strdup(run->dataset_name) : NULL;
    v->dataset_version = run->dataset_version;
    v->dataset_hash = run->dataset_hash ? cairn_strdup(run->dataset_hash) : NULL;
    v->contract_hash = run->contract_hash ? cairn_strdup(run->contract_hash) : NULL;
    v->metrics_json = metrics_of_eval(run->eval_json);
    cJSON_Delete(spec);
    if ((task && !v->task) || (run->model_type && !v->model_type) ||
        (run->dataset_name && !v->dataset_name) || (run->dataset_hash && !v->dataset_hash) ||
        (run->contract_hash && !v->contract_hash)) {
        cairn_model_version_reset(v);
        return cairn_error_set(err, CAIRN_ENOMEM, run->id, "out of memory");
    }
    return CAIRN_OK;
}

cairn_status cairn_promote(cairn_home *h, const char *run_id, const cairn_promote_opts *o,
                           cairn_promote_result *out, cairn_error *err)
{
    cairn_run_record run;
    cairn_model_version v;
    cairn_buf art, gates, why;
    cairn_status st;
    memset(&run, 0, sizeof run);
    memset(&v, 0, sizeof v);
    memset(out, 0, sizeof *out);
    cairn_buf_init(&art);
    cairn_buf_init(&gates);
    cairn_buf_init(&why);
    const char *alias = o->alias ? o->alias : "production";

    if ((st = cairn_run_get(h, run_id, &run, err)) != CAIRN_OK)
        goto done;
    const char *model = o->model ? o->model : run.model;
    if (strcmp(alias, "canary") == 0 ? !(o->percent > 0 && o->percent <= 100)
                                     : !isnan(o->percent)) {
        st = cairn_error_set(err, CAIRN_EINVAL, alias,
                             strcmp(alias, "canary") == 0
                                 ? "a canary needs a traffic percentage in (0, 100] (--percent)"
                                 : "--percent applies to the canary alias only");
        goto done;
    }
    st = cairn_review_session_load(h, &run, model, alias, o->threads, &out->session, err);
    if (st != CAIRN_OK)
        goto done;
    const cairn_review *rv = &out->session.review;
    out->from_version = out->session.alias_version;
    cairn_review_gates_json(rv, &gates);
    if (!collect_reasons(rv, out) || gates.failed) {
        st = cairn_error_set(err, CAIRN_ENOMEM, run.id, "out of memory");
        goto done;
    }
    join_reasons(out, &why);
    cairn_audit_note note = {
        .user = cairn_audit_user(),
        .run_id = run.id,
        .verdict = cairn_verdict_name(rv->verdict),
        .gates_json = gates.data,
    };
    if (out->n_reasons && !o->override_reason) {
        note.action = "refused";
        note.reason = why.data;
        cairn_error e2 = {0};
        /* The refusal is audited; failing to record it must not hide the refusal. */
        (void)cairn_model_audit_add(h, model, alias, out->from_version, &note, &e2);
        st = cairn_error_set(err, CAIRN_ECHECK, run.id,
                             "promotion of %s to %s@%s refused: %zu reason%s", run.id, model,
                             alias, out->n_reasons, out->n_reasons == 1 ? "" : "s");
        goto done;
    }

    /* The artifact, durably in objects/ before any row names it. */
    if ((st = cairn_run_artifact(h, &run, &art, err)) != CAIRN_OK)
        goto done;
    if (art.failed) {
        st = cairn_error_set(err, CAIRN_ENOMEM, run.id, "out of memory");
        goto done;
    }
    unsigned char hash[CAIRN_HASH_BYTES];
    cairn_hasher hs;
    cairn_hasher_init(&hs);
    cairn_hasher_update(&hs, art.data, art.len);
    cairn_hasher_final(&hs, hash);
    cairn_hash_hex(hash, out->artifact_hash);
    if ((st = cairn_trust_check(h, hash, out->artifact_hash, NULL, 0, NULL, err)) != CAIRN_OK)
        goto done;
    if ((st = cairn_home_object_put(h, out->artifact_hash, ".art", art.data, art.len, err)) !=
        CAIRN_OK)
        goto done;
    if ((st = version_of_run(&run, model, out->artifact_hash, &v, err)) != CAIRN_OK)
        goto done;
    out->overridden = out->n_reasons > 0;
    note.action = out->overridden ? "override" : "promote";
    if (out->overridden) {
        cairn_buf_reset(&why);
        cairn_buf_printf(&why, "override: %s; failed: ", o->override_reason);
        join_reasons(out, &why);
        note.reason = why.data;
    } else {
        note.reason = o->override_reason ? o->override_reason : o->reason;
    }
    if (why.failed) {
        st = cairn_error_set(err, CAIRN_ENOMEM, run.id, "out of memory");
        goto done;
    }
    st = cairn_model_register(h, &v, alias, o->percent, out->from_version, &note, &out->version,
                              err);
    if (st != CAIRN_OK)
        goto done;
    out->promoted = true;
done:
    cairn_model_version_reset(&v);
    cairn_run_record_reset(&run);
    cairn_buf_reset(&art);
    cairn_buf_reset(&gates);
    cairn_buf_reset(&why);
    return st;
}

/* ---- rollback ---------------------------------------------------------------------------------- */

cairn_status cairn_rollback(cairn_home *h, const char *model, const char *alias, int to_version,
                            const char *reason, int *from, int *to, cairn_error *err)
{
    int current = 0, target = 0;
    cairn_model_version v;
    memset(&v, 0, sizeof v);
    if (!alias)
        alias = "production";
    *from = *to = 0;
    cairn_status st = cairn_model_rollback_target(h, model, alias, &current, &target, err);
    if (st != CAIRN_OK)
        return st;
    if (current == 0)
        return cairn_error_set(err, CAIRN_ECHECK, model, "%s@%s is not set: nothing to roll back",
                               model, alias);
    if (to_version > 0) {
        if ((st = cairn_model_get_version(h, model, to_version, &v, err)) != CAIRN_OK)
            return st;
        cairn_model_version_reset(&v);
        target = to_version;
    }
    if (target == 0)
        return cairn_error_set(err, CAIRN_ECHECK, model,
                               "%s@%s has no earlier version to roll back to (it holds version "
                               "%d); name one with --to N",
                               model, alias, current);
    if (target == current)
        return cairn_error_set(err, CAIRN_ECHECK, model, "%s@%s already holds version %d", model,
                               alias, current);
    cairn_audit_note note = {
        .action = "rollback",
        .user = cairn_audit_user(),
        .reason = reason,
    };
    st = cairn_model_move_alias(h, model, alias, target, NAN, current, &note, err);
    if (st != CAIRN_OK)
        return st;
    *from = current;
    *to = target;
    return CAIRN_OK;
}

/* ---- export and import --------------------------------------------------------------------------- */

cairn_status cairn_export(cairn_home *h, const char *ref, cairn_buf *out, cairn_signature **sigs,
                          size_t *n_sigs, char hash_hex[CAIRN_HASH_HEX], cairn_error *err)
{
    cairn_status st;
    *sigs = NULL;
    *n_sigs = 0;
    if (strncmp(ref, "r-", 2) == 0) {
        cairn_run_record run;
        memset(&run, 0, sizeof run);
        if ((st = cairn_run_get(h, ref, &run, err)) == CAIRN_OK)
            st = cairn_run_artifact(h, &run, out, err);
        cairn_run_record_reset(&run);
        if (st != CAIRN_OK)
            return st;
        if (out->failed)
            return cairn_error_set(err, CAIRN_ENOMEM, ref, "out of memory");
        unsigned char hash[CAIRN_HASH_BYTES];
        cairn_hasher hs;
        cairn_hasher_init(&hs);
        cairn_hasher_update(&hs, out->data, out->len);
        cairn_hasher_final(&hs, hash);
        cairn_hash_hex(hash, hash_hex);
        if ((st = cairn_trust_check(h, hash, hash_hex, NULL, 0, NULL, err)) != CAIRN_OK)
            return st;
    } else {
        cairn_model_version v;
        cairn_artifact *a = NULL;
        memset(&v, 0, sizeof v);
        if ((st = cairn_model_resolve(h, ref, &v, err)) != CAIRN_OK)
            return st;
        st = cairn_home_artifact_load(h, v.artifact_hash, &a, err);
        cairn_model_version_reset(&v);
        if (st != CAIRN_OK)
            return st;
        cairn_buf_append(out, a->bytes, a->n_bytes);
        memcpy(hash_hex, a->hash_hex, CAIRN_HASH_HEX);
        cairn_artifact_free(a);
        if (out->failed)
            return cairn_error_set(err, CAIRN_ENOMEM, ref, "out of memory");
    }
    return cairn_signature_list(h, hash_hex, sigs, n_sigs, err);
}

cairn_status cairn_import(cairn_home *h, const void *bytes, size_t len,
                          const cairn_signature *sigs, size_t n_sigs, const char *model,
                          int *out_version, char hash_hex[CAIRN_HASH_HEX], cairn_error *err)
{
    cairn_artifact *a = NULL;
    cJSON *man = NULL, *ev = NULL;
    cairn_model_version v;
    memset(&v, 0, sizeof v);
    *out_version = 0;
    cairn_status st = cairn_artifact_load(bytes, len, &a, err);
    if (st != CAIRN_OK)
        return st;
    memcpy(hash_hex, a->hash_hex, CAIRN_HASH_HEX);
    if ((st = cairn_trust_check(h, a->hash, a->hash_hex, sigs, n_sigs, NULL, err)) != CAIRN_OK)
        goto done;
    if (!model)
        model = a->model_name;
    if (!cairn_name_valid(model)) {
        st = cairn_error_set(err, CAIRN_EINVAL, model, "invalid model name '%s'", model);
        goto done;
    }
    if ((st = cairn_home_object_put(h, a->hash_hex, ".art", a->bytes, a->n_bytes, err)) !=
        CAIRN_OK)
        goto done;
    for (size_t i = 0; i < n_sigs; i++)
        if ((st = cairn_signature_add(h, a->hash_hex, &sigs[i], err)) != CAIRN_OK)
            goto done;
    man = cJSON_ParseWithLength((const char *)a->sections[CAIRN_ART_MANIFEST].data,
                                a->sections[CAIRN_ART_MANIFEST].len);
    ev = cJSON_ParseWithLength((const char *)a->sections[CAIRN_ART_EVAL].data,
                               a->sections[CAIRN_ART_EVAL].len);
    snprintf(v.model, sizeof v.model, "%s", model);
    snprintf(v.artifact_hash, sizeof v.artifact_hash, "%s", a->hash_hex);
    snprintf(v.run_id, sizeof v.run_id, "%s", a->run_id);
    snprintf(v.source, sizeof v.source, "import");
    v.task = cairn_strdup(a->task);
    v.model_type = cairn_strdup(a->model_type);
    const char *ds = obj_str(man, "dataset");
    const char *at = ds ? strrchr(ds, '@') : NULL;
    if (ds) {
        v.dataset_name = at ? cairn_strndup(ds, (size_t)(at - ds)) : cairn_strdup(ds);
        v.dataset_version = at ? atoi(at + 1) : 0;
    }
    const char *dh = obj_str(man, "dataset_hash"), *ch = obj_str(man, "contract_hash");
    v.dataset_hash = dh ? cairn_strdup(dh) : NULL;
    v.contract_hash = ch ? cairn_strdup(ch) : NULL;
    v.metrics_json = metrics_of(ev);
    cairn_audit_note note = {
        .action = "import",
        .user = cairn_audit_user(),
        .run_id = a->run_id,
        .reason = "imported artifact",
    };
    st = cairn_model_register(h, &v, NULL, NAN, -1, &note, out_version, err);
done:
    cJSON_Delete(man);
    cJSON_Delete(ev);
    cairn_model_version_reset(&v);
    cairn_artifact_free(a);
    return st;
}
