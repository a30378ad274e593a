/*
 * review.c -- the reviewer's checklist (review.h) applied to a stored run.
 *
 * Everything review needs is already in the run record as JSON text written
 * by the training pipeline (the evaluation of model and baseline, the
 * findings, the declared gates) plus the plain reproducibility fields; the
 * comparison with production is computed by the caller (compare.h) and only
 * read here. This file parses those texts with cJSON, walks the checklist in
 * the order review.h lists it, and renders the result as JSON or text. It
 * does no I/O and prints nothing.
 *
 * Numbers in sentences use a short fixed format (fmt_num) because they are
 * for people; the JSON output keeps every double exact (cairn_buf_put_double).
 */
#include "review/review.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *cairn_verdict_name(cairn_verdict v)
{
    switch (v) {
    case CAIRN_VERDICT_APPROVE: return "APPROVE";
    case CAIRN_VERDICT_WARN: return "APPROVE WITH WARNINGS";
    case CAIRN_VERDICT_BLOCK: return "BLOCK";
    }
    return "?";
}

const char *cairn_gate_status_name(cairn_gate_status s)
{
    switch (s) {
    case CAIRN_GATE_PASS: return "pass";
    case CAIRN_GATE_FAIL: return "fail";
    case CAIRN_GATE_MISSING: return "missing";
    case CAIRN_GATE_NA: return "n/a";
    }
    return "?";
}

/* ---- small helpers ------------------------------------------------------------------- */

/*
 * snprintf for sentences: a finding's fields have fixed sizes (pipeline.h) and
 * a sentence that does not fit is cut, which is acceptable for text meant for
 * people. Going through vsnprintf keeps gcc's truncation warnings for the
 * places where a cut would be a bug.
 */
static void say(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *out, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, cap, fmt, ap);
    va_end(ap);
}

/*
 * A number for a sentence: four significant digits for the usual metric range,
 * two decimals for large values (an RMSE of 12345.67 reads better than
 * 1.235e+04) up to 1e9, where exponents are clearer again, "n/a" for NaN.
 */
static void fmt_num(char *out, size_t cap, double v)
{
    if (!isfinite(v))
        snprintf(out, cap, "n/a");
    else if (fabs(v) >= 1000 && fabs(v) < 1e9)
        snprintf(out, cap, "%.2f", v);
    else
        snprintf(out, cap, "%.4g", v);
}

/* Same with an explicit sign, for gains. */
static void fmt_signed(char *out, size_t cap, double v)
{
    if (!isfinite(v))
        snprintf(out, cap, "n/a");
    else if (fabs(v) >= 1000 && fabs(v) < 1e9)
        snprintf(out, cap, "%+.2f", v);
    else
        snprintf(out, cap, "%+.4g", v);
}

/* "[lo, hi]" or "(no interval)" when the bootstrap was off. */
static void fmt_interval(char *out, size_t cap, double lo, double hi)
{
    if (!isfinite(lo) || !isfinite(hi)) {
        snprintf(out, cap, "(no interval)");
        return;
    }
    char a[24], b[24];   /* two of these and "[, ]" fit the callers' 64 bytes */
    fmt_num(a, sizeof a, lo);
    fmt_num(b, sizeof b, hi);
    snprintf(out, cap, "[%s, %s]", a, b);
}

static double json_num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static const char *json_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) && v->valuestring ? v->valuestring : NULL;
}

/*
 * One metric of an evaluation ({"metrics":{"auc":{"estimate":..,"lo":..,"hi":..}}}).
 * Returns false when the evaluation has no such metric; a metric that is
 * present but undefined (null) returns true with NaN values.
 */
static bool eval_metric(const cJSON *ev, const char *name, cairn_interval *out)
{
    out->estimate = out->lo = out->hi = NAN;
    out->n_valid = 0;
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(ev, "metrics");
    const cJSON *x = cJSON_IsObject(m) ? cJSON_GetObjectItemCaseSensitive(m, name) : NULL;
    if (!cJSON_IsObject(x))
        return false;
    out->estimate = json_num(x, "estimate");
    out->lo = json_num(x, "lo");
    out->hi = json_num(x, "hi");
    double nv = json_num(x, "n_valid");
    out->n_valid = isfinite(nv) && nv > 0 ? (size_t)nv : 0;
    return true;
}

static bool has_suffix(const char *s, const char *suffix, size_t *stem_len)
{
    size_t n = strlen(s), k = strlen(suffix);
    if (n <= k || strcmp(s + n - k, suffix) != 0)
        return false;
    *stem_len = n - k;
    return true;
}

/* The gain of a over b, positive when a is better for this metric (compare.h's convention). */
static double gain_of(const char *metric, double a, double b)
{
    return cairn_metric_higher_is_better(metric) ? a - b : b - a;
}

/* ---- the review under construction ---------------------------------------------------- */

typedef struct review_ctx {
    const cairn_run_record *run;
    const cairn_review_context *ctx;
    cairn_review *out;
    cJSON *eval, *findings, *gates;
    const cJSON *model_ev, *base_ev;   /* borrowed from eval */
    cairn_task task;
    const char *primary;
    cairn_status st;                   /* the first allocation failure */
} review_ctx;

/* Appends a finding to the list of its severity; a failure sticks in rc->st. */
static void add(review_ctx *rc, cairn_findings *list, cairn_severity sev, const char *code,
                const char *column, double value, const char *what, const char *why,
                const char *fix)
{
    if (rc->st != CAIRN_OK)
        return;
    rc->st = cairn_findings_add(list, sev, code, column, value, what, why, fix);
}

static cairn_findings *list_for(review_ctx *rc, cairn_severity sev)
{
    switch (sev) {
    case CAIRN_SEV_CRITICAL: return &rc->out->critical;
    case CAIRN_SEV_HIGH: return &rc->out->high;
    default: return &rc->out->medium;
    }
}

static bool parse_task(const char *s, cairn_task *out)
{
    if (!s)
        return false;
    for (int t = CAIRN_TASK_BINARY; t <= CAIRN_TASK_MULTICLASS; t++)
        if (strcmp(s, cairn_task_name((cairn_task)t)) == 0) {
            *out = (cairn_task)t;
            return true;
        }
    return false;
}

/* Parses the run's JSON texts. The evaluation is required; findings and gates may be absent. */
static cairn_status parse_run(review_ctx *rc, cairn_error *err)
{
    const cairn_run_record *run = rc->run;
    if (!run->eval_json)
        return cairn_error_set(err, CAIRN_EINVAL, run->id, "run %s has no evaluation", run->id);
    rc->eval = cJSON_Parse(run->eval_json);
    if (!rc->eval)
        return cairn_error_set(err, CAIRN_EINVAL, run->id, "run %s: its evaluation JSON does not parse",
                               run->id);
    rc->model_ev = cJSON_GetObjectItemCaseSensitive(rc->eval, "model");
    rc->base_ev = cJSON_GetObjectItemCaseSensitive(rc->eval, "baseline");
    if (!cJSON_IsObject(rc->model_ev))
        return cairn_error_set(err, CAIRN_EINVAL, run->id,
                               "run %s: its evaluation has no \"model\" object", run->id);
    if (!cJSON_IsObject(rc->base_ev))
        rc->base_ev = NULL;
    if (!parse_task(json_str(rc->model_ev, "task"), &rc->task)) {
        /* Older or hand-made records: fall back to the resolved spec. */
        cJSON *spec = run->spec_json ? cJSON_Parse(run->spec_json) : NULL;
        bool ok = spec && parse_task(json_str(spec, "task"), &rc->task);
        cJSON_Delete(spec);
        if (!ok)
            return cairn_error_set(err, CAIRN_EINVAL, run->id, "run %s: the task is not recorded",
                                   run->id);
    }
    rc->primary = cairn_compare_primary(rc->task);

    if (run->findings_json) {
        rc->findings = cJSON_Parse(run->findings_json);
        if (!cJSON_IsArray(rc->findings))
            return cairn_error_set(err, CAIRN_EINVAL, run->id,
                                   "run %s: its findings JSON is not an array", run->id);
    }
    if (run->gates_json) {
        rc->gates = cJSON_Parse(run->gates_json);
        if (!cJSON_IsArray(rc->gates))
            return cairn_error_set(err, CAIRN_EINVAL, run->id,
                                   "run %s: its gates JSON is not an array", run->id);
    }
    return CAIRN_OK;
}

/* ---- gates ---------------------------------------------------------------------------- */

/* The kinds of gate names (review.h). */
typedef enum gate_kind { G_PLAIN, G_VS_BASELINE, G_VS_PRODUCTION, G_SLICE_DROP } gate_kind;

/*
 * Measures one gate's value. Returns PASS when a value was found (the caller
 * then applies the op), NA or MISSING otherwise, with a reason for the finding.
 */
static cairn_gate_status gate_measure(review_ctx *rc, const char *name, double *value,
                                      char *why, size_t why_cap)
{
    const cairn_review_context *ctx = rc->ctx;
    char metric[64];
    gate_kind kind = G_PLAIN;
    size_t stem = strlen(name);
    if (strncmp(name, "slice_", 6) == 0 && has_suffix(name, "_drop", &stem) && stem > 6) {
        kind = G_SLICE_DROP;
        snprintf(metric, sizeof metric, "%.*s", (int)(stem - 6), name + 6);
    } else if (has_suffix(name, "_vs_baseline", &stem)) {
        kind = G_VS_BASELINE;
        snprintf(metric, sizeof metric, "%.*s", (int)stem, name);
    } else if (has_suffix(name, "_vs_production", &stem)) {
        kind = G_VS_PRODUCTION;
        snprintf(metric, sizeof metric, "%.*s", (int)stem, name);
    } else {
        snprintf(metric, sizeof metric, "%s", name);
    }
    *value = NAN;

    /* A name whose metric the evaluation does not know is a typo or a metric
     * of another task; it is missing whether or not production exists. */
    cairn_interval m;
    if (!eval_metric(rc->model_ev, metric, &m)) {
        say(why, why_cap, "the evaluation has no metric '%s' for a %s task", metric,
                 cairn_task_name(rc->task));
        return CAIRN_GATE_MISSING;
    }
    switch (kind) {
    case G_PLAIN:
        *value = m.estimate;
        break;
    case G_VS_BASELINE: {
        cairn_interval b;
        if (!rc->base_ev || !eval_metric(rc->base_ev, metric, &b)) {
            say(why, why_cap, "the run recorded no baseline %s", metric);
            return CAIRN_GATE_MISSING;
        }
        *value = gain_of(metric, m.estimate, b.estimate);
        break;
    }
    case G_VS_PRODUCTION:
    case G_SLICE_DROP:
        if (ctx->production_version == 0)
            return CAIRN_GATE_NA;
        if (!ctx->compare) {
            say(why, why_cap, "production could not be compared: %s",
                     ctx->compare_note ? ctx->compare_note : "no comparison was made");
            return CAIRN_GATE_MISSING;
        }
        if (kind == G_VS_PRODUCTION) {
            const cairn_compare_metric *cm = cairn_compare_find(ctx->compare, metric);
            if (!cm) {
                say(why, why_cap, "the comparison with production has no metric '%s'", metric);
                return CAIRN_GATE_MISSING;
            }
            *value = cm->gain.estimate;
        } else {
            /* Slices of a comparison carry its primary metric only. */
            if (strcmp(metric, ctx->compare->primary) != 0) {
                say(why, why_cap, "slices are compared on %s only, not on %s",
                         ctx->compare->primary, metric);
                return CAIRN_GATE_MISSING;
            }
            if (ctx->compare->n_slices == 0) {
                say(why, why_cap, "the run declares no slices to compare");
                return CAIRN_GATE_MISSING;
            }
            double drop = 0;
            for (size_t i = 0; i < ctx->compare->n_slices; i++) {
                const cairn_compare_slice *s = &ctx->compare->slices[i];
                if (!s->small && isfinite(s->metric.gain.estimate) && -s->metric.gain.estimate > drop)
                    drop = -s->metric.gain.estimate;
            }
            *value = drop;
        }
        break;
    }
    if (!isfinite(*value)) {
        say(why, why_cap, "%s is undefined on this run's test rows", name);
        *value = NAN;
        return CAIRN_GATE_MISSING;
    }
    return CAIRN_GATE_PASS;
}

static void check_gates(review_ctx *rc)
{
    cairn_review *out = rc->out;
    int n = rc->gates ? cJSON_GetArraySize(rc->gates) : 0;
    if (n == 0) {
        add(rc, &out->medium, CAIRN_SEV_MEDIUM, "no_gates", "", NAN,
            "The run declares no gates.",
            "Without thresholds fixed before training, the decision to ship rests on "
            "judgement after seeing the numbers.",
            "Declare gates in the spec, e.g. auc: {min: 0.8} and auc_vs_baseline: {min_delta: 0.02}.");
        return;
    }
    out->gates = cairn_calloc((size_t)n, sizeof *out->gates);
    if (!out->gates) {
        rc->st = CAIRN_ENOMEM;
        return;
    }
    const cJSON *g;
    cJSON_ArrayForEach(g, rc->gates)
    {
        cairn_gate_result *r = &out->gates[out->n_gates++];
        const char *name = json_str(g, "metric");
        const char *op = json_str(g, "op");
        snprintf(r->metric, sizeof r->metric, "%s", name ? name : "");
        snprintf(r->op, sizeof r->op, "%s", op ? op : "");
        r->threshold = json_num(g, "value");
        r->value = NAN;

        char why[192] = "";
        bool is_min = op && (!strcmp(op, "min") || !strcmp(op, "min_delta"));
        bool is_max = op && (!strcmp(op, "max") || !strcmp(op, "max_delta"));
        if (!name || !*name) {
            say(why, sizeof why, "the gate names no metric");
            r->status = CAIRN_GATE_MISSING;
        } else if (!is_min && !is_max) {
            say(why, sizeof why, "'%s' is not a gate condition (min, max, min_delta, max_delta)",
                     op ? op : "");
            r->status = CAIRN_GATE_MISSING;
        } else if (!isfinite(r->threshold)) {
            say(why, sizeof why, "the gate has no numeric threshold");
            r->status = CAIRN_GATE_MISSING;
        } else {
            r->status = gate_measure(rc, name, &r->value, why, sizeof why);
            if (r->status == CAIRN_GATE_PASS) {
                bool ok = is_min ? r->value >= r->threshold : r->value <= r->threshold;
                r->status = ok ? CAIRN_GATE_PASS : CAIRN_GATE_FAIL;
            }
        }

        char what[256], t[32], v[32];
        fmt_num(t, sizeof t, r->threshold);
        fmt_num(v, sizeof v, r->value);
        if (r->status == CAIRN_GATE_FAIL) {
            out->gates_failed = true;
            say(what, sizeof what, "Gate %s %s %s failed: the measured value is %s.",
                     r->metric, r->op, t, v);
            add(rc, &out->critical, CAIRN_SEV_CRITICAL, "gate_failed", r->metric, r->value, what,
                "The gate was declared before training as the bar this model must clear; "
                "shipping past it overrides that decision.",
                "Improve the model or data until the gate passes; change the gate only with a "
                "documented reason in a new spec.");
        } else if (r->status == CAIRN_GATE_MISSING) {
            out->gates_failed = true;
            say(what, sizeof what, "Gate %s %s %s could not be evaluated: %s.", r->metric,
                     r->op, t, why);
            add(rc, &out->critical, CAIRN_SEV_CRITICAL, "gate_missing", r->metric, NAN, what,
                "A gate that cannot be measured gives no assurance, so it counts as failed.",
                "Fix the gate's name or condition in the spec (see docs/review.md for the gate "
                "names), or provide what it needs, and train again.");
        }
    }
}

/* ---- baseline ------------------------------------------------------------------------- */

static void check_baseline(review_ctx *rc)
{
    cairn_review *out = rc->out;
    const char *p = rc->primary;
    cairn_interval m, b;
    bool have_m = eval_metric(rc->model_ev, p, &m) && isfinite(m.estimate);
    bool have_b = rc->base_ev && eval_metric(rc->base_ev, p, &b) && isfinite(b.estimate);
    char what[256], sm[32], sb[32], sg[32], siv[64];

    if (!have_m || !have_b) {
        say(what, sizeof what, "The %s of the %s could not be computed, so the model cannot "
                 "be compared with the baseline.", p, have_m ? "baseline" : "model");
        add(rc, &out->critical, CAIRN_SEV_CRITICAL, "baseline_not_beaten", "", NAN, what,
            "A model not shown to beat the trivial baseline may add nothing but risk.",
            "Check the test part (enough rows of each class) and train again.");
        return;
    }
    double gain = gain_of(p, m.estimate, b.estimate);
    fmt_num(sm, sizeof sm, m.estimate);
    fmt_num(sb, sizeof sb, b.estimate);
    fmt_signed(sg, sizeof sg, gain);
    fmt_interval(siv, sizeof siv, m.lo, m.hi);
    if (!(gain > 0)) {
        say(what, sizeof what, "Test %s is %s %s against the baseline's %s (gain %s): the model "
                 "does not beat the baseline.", p, sm, siv, sb, sg);
        add(rc, &out->critical, CAIRN_SEV_CRITICAL, "baseline_not_beaten", "", gain, what,
            "The baseline predicts the class prior or the mean; a model that does no better "
            "learned nothing useful from the features.",
            "Check the features and the label for errors, or keep the simpler baseline.");
        return;
    }
    bool have_iv = isfinite(m.lo) && isfinite(m.hi);
    if (!have_iv || (m.lo <= b.estimate && b.estimate <= m.hi)) {
        if (have_iv)
            say(what, sizeof what, "Test %s is %s %s, better than the baseline's %s by %s, but "
                     "the interval includes the baseline's value.", p, sm, siv, sb, sg);
        else
            say(what, sizeof what, "Test %s is %s, better than the baseline's %s by %s, but "
                     "the run has no bootstrap interval to show the margin is real.", p, sm, sb, sg);
        add(rc, &out->high, CAIRN_SEV_HIGH, "baseline_within_interval", "", gain, what,
            "The advantage over the trivial baseline may be sampling noise on the test rows.",
            "Evaluate on more test rows (evaluation.bootstrap > 0) or improve the model until "
            "the interval clears the baseline.");
        return;
    }
    say(what, sizeof what, "Beats the baseline: test %s %s %s against %s (gain %s), the "
             "interval clear of the baseline.", p, sm, siv, sb, sg);
    add(rc, &out->strengths, CAIRN_SEV_INFO, "baseline_beaten", "", gain, what,
        "The model learned signal beyond the class prior or the mean.", "");
}

/* ---- the run's own findings ----------------------------------------------------------- */

static void check_run_findings(review_ctx *rc)
{
    if (!rc->findings)
        return;
    const cJSON *f;
    cJSON_ArrayForEach(f, rc->findings)
    {
        const char *sev = json_str(f, "severity");
        const char *code = json_str(f, "code");
        cairn_severity s = CAIRN_SEV_MEDIUM;   /* an unknown severity is not ignored */
        if (sev && !strcmp(sev, "critical"))
            s = CAIRN_SEV_CRITICAL;
        else if (sev && !strcmp(sev, "high"))
            s = CAIRN_SEV_HIGH;
        else if (sev && !strcmp(sev, "info"))
            s = CAIRN_SEV_INFO;
        double value = json_num(f, "value");
        const char *column = json_str(f, "column");
        const char *what = json_str(f, "what");
        const char *why = json_str(f, "why");
        const char *fix = json_str(f, "fix");
        if (s == CAIRN_SEV_INFO) {
            /* Notes ("constant column", ...) need no action; a PII column that was
             * kept out of the model is a safeguard that worked. */
            if (code && !strcmp(code, "pii_excluded"))
                add(rc, &rc->out->strengths, CAIRN_SEV_INFO, code, column, value, what, why, fix);
            continue;
        }
        add(rc, list_for(rc, s), s, code, column, value, what, why, fix);
    }
}

/* ---- calibration ----------------------------------------------------------------------- */

static void check_calibration(review_ctx *rc)
{
    cairn_interval e;
    if (rc->task != CAIRN_TASK_BINARY || !eval_metric(rc->model_ev, "ece", &e)
        || !isfinite(e.estimate))
        return;
    char what[256], se[32], siv[64];
    fmt_num(se, sizeof se, e.estimate);
    fmt_interval(siv, sizeof siv, e.lo, e.hi);
    const char *why = "Scores used as probabilities (thresholds, expected costs, risk "
                      "tiers) will be off by about this much.";
    const char *fix = "Recalibrate the scores (Platt or isotonic on the validation part) or "
                      "use them for ranking only.";
    if (e.estimate > 0.10) {
        say(what, sizeof what, "Expected calibration error is %s %s, above 0.10.", se, siv);
        add(rc, &rc->out->high, CAIRN_SEV_HIGH, "calibration", "", e.estimate, what, why, fix);
    } else if (e.estimate > 0.05) {
        say(what, sizeof what, "Expected calibration error is %s %s, above 0.05.", se, siv);
        add(rc, &rc->out->medium, CAIRN_SEV_MEDIUM, "calibration", "", e.estimate, what, why, fix);
    } else {
        say(what, sizeof what, "Well calibrated: expected calibration error %s %s.", se, siv);
        add(rc, &rc->out->strengths, CAIRN_SEV_INFO, "calibration", "", e.estimate, what,
            "The scores can be read as probabilities.", "");
    }
}

/* ---- reproducibility ------------------------------------------------------------------- */

static bool blank(const char *s)
{
    return !s || !*s;
}

static void check_reproducibility(review_ctx *rc)
{
    const cairn_run_record *run = rc->run;
    char gaps[200] = "";
    size_t len = 0;
#define GAP(cond, text)                                                                   \
    do {                                                                                  \
        if ((cond) && len < sizeof gaps) {                                                \
            int k = snprintf(gaps + len, sizeof gaps - len, "%s%s", len ? ", " : "", text); \
            len += k > 0 ? (size_t)k : 0;                                                 \
        }                                                                                 \
    } while (0)
    size_t cv = run->code_version ? strlen(run->code_version) : 0;
    GAP(run->seed < 0, "no seed");
    GAP(blank(run->dataset_hash), "no dataset hash");
    GAP(blank(run->spec_text), "no spec text");
    GAP(cv == 0 || !strcmp(run->code_version, "unknown"), "unknown code version");
    GAP(cv >= 6 && !strcmp(run->code_version + cv - 6, "-dirty"),
        "code built from uncommitted changes (-dirty)");
    GAP(blank(run->state_hash), "no state hash");
#undef GAP
    char what[256];
    if (len) {
        say(what, sizeof what, "The run cannot be reproduced exactly: %s.", gaps);
        add(rc, &rc->out->medium, CAIRN_SEV_MEDIUM, "reproducibility_incomplete", "", NAN, what,
            "Without the exact data, code, spec and seed nobody can rebuild or audit this model "
            "later.",
            "Train from a clean, committed build of cairn with a stored dataset and a spec file.");
    } else {
        say(what, sizeof what, "Reproducible: seed %lld, dataset %.12s, code %.40s, state %.12s.",
                 (long long)run->seed, run->dataset_hash, run->code_version, run->state_hash);
        add(rc, &rc->out->strengths, CAIRN_SEV_INFO, "reproducible", "", NAN, what,
            "Data, code, spec and seed are recorded, so the model can be rebuilt and checked.", "");
    }
}

/* ---- production ------------------------------------------------------------------------ */

/* compare.h sets regressed itself; the interval test is repeated so that a
 * hand-filled result (or an older producer) is read the same way. */
static bool slice_regressed(const cairn_compare_slice *s)
{
    return !s->small && (s->regressed || s->metric.gain.hi < 0);
}

static void check_production(review_ctx *rc)
{
    const cairn_review_context *ctx = rc->ctx;
    const char *model = rc->out->model;
    char what[256], sg[32], siv[64], sc[32], sp[32];
    if (ctx->production_version > 0 && ctx->compare) {
        const cairn_compare_result *cmp = ctx->compare;
        const char *p = cmp->primary[0] ? cmp->primary : rc->primary;
        const cairn_compare_metric *cm = cairn_compare_find(cmp, p);
        bool whole_regressed = false;
        if (cm && isfinite(cm->gain.estimate)) {
            fmt_signed(sg, sizeof sg, cm->gain.estimate);
            fmt_interval(siv, sizeof siv, cm->gain.lo, cm->gain.hi);
            fmt_num(sc, sizeof sc, cm->candidate);
            fmt_num(sp, sizeof sp, cm->production);
            if (cm->gain.hi < 0) {
                whole_regressed = true;
                say(what, sizeof what, "Worse than production %.100s@%d: %s %s against %s on "
                         "the same rows, gain %s %s.", model, ctx->production_version, p, sc, sp,
                         sg, siv);
                add(rc, &rc->out->high, CAIRN_SEV_HIGH, "production_regressed", "", cm->gain.estimate,
                    what,
                    "Promoting it would make predictions worse for the traffic production serves "
                    "today; the paired interval rules out noise.",
                    "Keep the current production version; find what changed (data, features, "
                    "parameters) before retrying.");
            } else if (cm->gain.lo > 0) {
                say(what, sizeof what, "Better than production %.100s@%d: %s %s against %s on "
                         "the same rows, gain %s %s.", model, ctx->production_version, p, sc, sp,
                         sg, siv);
                add(rc, &rc->out->strengths, CAIRN_SEV_INFO, "production_improved", "",
                    cm->gain.estimate, what,
                    "The paired interval of the gain is above zero, so the improvement is not "
                    "sampling noise.", "");
            }
        }
        /* A regression hidden inside an overall gain (or a flat overall result).
         * When the whole already regressed, production_regressed says it. */
        if (!whole_regressed) {
            for (size_t i = 0; i < cmp->n_slices; i++) {
                const cairn_compare_slice *s = &cmp->slices[i];
                if (!slice_regressed(s))
                    continue;
                fmt_signed(sg, sizeof sg, s->metric.gain.estimate);
                fmt_interval(siv, sizeof siv, s->metric.gain.lo, s->metric.gain.hi);
                fmt_num(sc, sizeof sc, s->metric.candidate);
                fmt_num(sp, sizeof sp, s->metric.production);
                say(what, sizeof what, "Slice %.60s = %.60s (%zu rows) regressed against "
                         "production: %s %s vs %s, gain %s %s.", s->column, s->value, s->n,
                         s->metric.name, sc, sp, sg, siv);
                add(rc, &rc->out->high, CAIRN_SEV_HIGH, "slice_regressed", s->column,
                    s->metric.gain.estimate, what,
                    "An overall gain can hide a group that gets worse; that group's users would "
                    "see worse decisions after promotion.",
                    "Inspect this group's rows and features; decide explicitly whether the "
                    "trade-off is acceptable, or fix the model for it.");
            }
        }
    } else if (ctx->production_version > 0) {
        say(what, sizeof what, "Production %.100s@%d exists but could not be compared: %.100s.",
                 model, ctx->production_version,
                 ctx->compare_note ? ctx->compare_note : "no reason given");
        add(rc, &rc->out->medium, CAIRN_SEV_MEDIUM, "production_incompatible", "", NAN, what,
            "Without a comparison on the same rows, a regression against what serves today "
            "would go unnoticed.",
            "Make the contracts compatible or compare the two models by hand before promoting.");
    }

    if (ctx->production_version == 0 && !ctx->has_fallback) {
        const char *alias = ctx->alias && *ctx->alias ? ctx->alias : "production";
        say(what, sizeof what, "The alias '%.32s' holds no version yet and there is no "
                 "fallback alias.", alias);
        add(rc, &rc->out->medium, CAIRN_SEV_MEDIUM, "no_rollback_target", "", NAN, what,
            "If this model misbehaves after promotion there is no earlier version to roll "
            "back to.",
            "Set a fallback alias (e.g. to the baseline model) before promoting.");
    }
}

/* ---- summary --------------------------------------------------------------------------- */

static void write_summary(review_ctx *rc)
{
    cairn_review *out = rc->out;
    const cairn_review_context *ctx = rc->ctx;
    const char *p = rc->primary;
    cairn_buf b;
    cairn_buf_init(&b);
    cairn_buf_printf(&b, "Model %s, run %s (%s task): ", out->model, out->run_id,
                     cairn_task_name(rc->task));
    cairn_interval m, bl;
    char s1[32], s2[32], s3[32], siv[64];
    bool have_m = eval_metric(rc->model_ev, p, &m) && isfinite(m.estimate);
    bool have_b = rc->base_ev && eval_metric(rc->base_ev, p, &bl) && isfinite(bl.estimate);
    if (have_m) {
        fmt_num(s1, sizeof s1, m.estimate);
        fmt_interval(siv, sizeof siv, m.lo, m.hi);
        cairn_buf_printf(&b, "test %s %s %s", p, s1, siv);
        if (have_b) {
            fmt_num(s2, sizeof s2, bl.estimate);
            fmt_signed(s3, sizeof s3, gain_of(p, m.estimate, bl.estimate));
            cairn_buf_printf(&b, " against the baseline's %s (gain %s). ", s2, s3);
        } else {
            cairn_buf_puts(&b, "; the baseline's value is unknown. ");
        }
    } else {
        cairn_buf_printf(&b, "test %s could not be computed. ", p);
    }
    const cairn_compare_metric *cm =
        ctx->compare ? cairn_compare_find(ctx->compare,
                                          ctx->compare->primary[0] ? ctx->compare->primary : p)
                     : NULL;
    if (ctx->production_version > 0 && cm) {
        fmt_signed(s1, sizeof s1, cm->gain.estimate);
        fmt_interval(siv, sizeof siv, cm->gain.lo, cm->gain.hi);
        cairn_buf_printf(&b, "Against production %s@%d on the same rows the %s gain is %s %s. ",
                         out->model, ctx->production_version, cm->name, s1, siv);
    } else if (ctx->production_version > 0) {
        cairn_buf_printf(&b, "Production %s@%d could not be compared. ", out->model,
                         ctx->production_version);
    } else {
        cairn_buf_puts(&b, "There is no production version to compare with. ");
    }
    cairn_buf_printf(&b, "Findings: %zu critical, %zu high, %zu medium. Decision: %s.",
                     out->critical.n, out->high.n, out->medium.n, cairn_verdict_name(out->verdict));
    if (b.failed) {
        rc->st = CAIRN_ENOMEM;
    } else {
        /* Bounded by review.h's summary size; names are at most 100 characters, so the
         * sentences fit in practice and a cut only shortens the last one. */
        snprintf(out->summary, sizeof out->summary, "%s", b.data);
    }
    cairn_buf_reset(&b);
}

/* ---- entry points ---------------------------------------------------------------------- */

cairn_status cairn_review_run(const cairn_run_record *run, const cairn_review_context *ctx,
                              cairn_review *out, cairn_error *err)
{
    static const cairn_review_context none = {0};
    review_ctx rc = {0};
    cairn_status st = CAIRN_OK;
    memset(out, 0, sizeof *out);
    rc.run = run;
    rc.ctx = ctx ? ctx : &none;
    rc.out = out;
    if (!run->status || strcmp(run->status, "succeeded") != 0) {
        st = cairn_error_set(err, CAIRN_EINVAL, run->id, "run %s did not succeed (%s); only a "
                             "succeeded run can be reviewed", run->id,
                             run->status ? run->status : "no status");
        goto done;
    }
    st = parse_run(&rc, err);
    if (st != CAIRN_OK)
        goto done;
    snprintf(out->run_id, sizeof out->run_id, "%s", run->id);
    snprintf(out->model, sizeof out->model, "%s", run->model ? run->model : "");
    out->production_version = rc.ctx->production_version;
    out->compare = rc.ctx->compare;

    /* The checklist, in review.h's order (each list keeps it). */
    check_gates(&rc);
    if (!out->gates_failed && out->n_gates > 0 && rc.st == CAIRN_OK) {
        char what[256];
        say(what, sizeof what, "All %zu declared gates pass.", out->n_gates);
        add(&rc, &out->strengths, CAIRN_SEV_INFO, "gates_passed", "", (double)out->n_gates, what,
            "The model clears every bar that was set before training.", "");
    }
    check_baseline(&rc);
    check_run_findings(&rc);
    check_calibration(&rc);
    check_reproducibility(&rc);
    check_production(&rc);
    if (rc.st != CAIRN_OK) {
        st = cairn_error_set(err, rc.st, run->id, "out of memory");
        goto done;
    }
    out->verdict = out->critical.n ? CAIRN_VERDICT_BLOCK
                   : out->high.n || out->medium.n ? CAIRN_VERDICT_WARN
                                                  : CAIRN_VERDICT_APPROVE;
    write_summary(&rc);
    if (rc.st != CAIRN_OK)
        st = cairn_error_set(err, rc.st, run->id, "out of memory");

done:
    cJSON_Delete(rc.eval);
    cJSON_Delete(rc.findings);
    cJSON_Delete(rc.gates);
    if (st != CAIRN_OK)
        cairn_review_reset(out);
    return st;
}

void cairn_review_reset(cairn_review *r)
{
    if (!r)
        return;
    cairn_findings_reset(&r->critical);
    cairn_findings_reset(&r->high);
    cairn_findings_reset(&r->medium);
    cairn_findings_reset(&r->strengths);
    cairn_free(r->gates);
    memset(r, 0, sizeof *r);
}

/* ---- JSON ------------------------------------------------------------------------------ */

void cairn_review_gates_json(const cairn_review *r, cairn_buf *b)
{
    cairn_buf_putc(b, '[');
    for (size_t i = 0; i < r->n_gates; i++) {
        const cairn_gate_result *g = &r->gates[i];
        cairn_buf_puts(b, i ? ",{\"metric\":" : "{\"metric\":");
        cairn_buf_put_json_string(b, g->metric, strlen(g->metric));
        cairn_buf_puts(b, ",\"op\":");
        cairn_buf_put_json_string(b, g->op, strlen(g->op));
        cairn_buf_puts(b, ",\"threshold\":");
        cairn_buf_put_json_number(b, g->threshold);
        cairn_buf_puts(b, ",\"value\":");
        cairn_buf_put_json_number(b, g->value);
        cairn_buf_printf(b, ",\"status\":\"%s\"}", cairn_gate_status_name(g->status));
    }
    cairn_buf_putc(b, ']');
}

void cairn_review_to_json(const cairn_review *r, cairn_buf *b)
{
    cairn_buf_puts(b, "{\"run\":");
    cairn_buf_put_json_string(b, r->run_id, strlen(r->run_id));
    cairn_buf_puts(b, ",\"model\":");
    cairn_buf_put_json_string(b, r->model, strlen(r->model));
    cairn_buf_printf(b, ",\"decision\":\"%s\",\"summary\":", cairn_verdict_name(r->verdict));
    cairn_buf_put_json_string(b, r->summary, strlen(r->summary));
    cairn_buf_puts(b, ",\"critical\":");
    cairn_findings_to_json(&r->critical, b);
    cairn_buf_puts(b, ",\"high\":");
    cairn_findings_to_json(&r->high, b);
    cairn_buf_puts(b, ",\"medium\":");
    cairn_findings_to_json(&r->medium, b);
    cairn_buf_puts(b, ",\"strengths\":");
    cairn_findings_to_json(&r->strengths, b);
    cairn_buf_puts(b, ",\"gates\":");
    cairn_review_gates_json(r, b);
    cairn_buf_printf(b, ",\"production\":{\"version\":%d,\"comparison\":", r->production_version);
    if (r->compare)
        cairn_compare_result_to_json(r->compare, b);
    else
        cairn_buf_puts(b, "null");
    cairn_buf_puts(b, "}}");
}

/* ---- text ------------------------------------------------------------------------------ */

static void text_section(cairn_buf *b, const char *title, const cairn_findings *l, bool with_fix)
{
    cairn_buf_printf(b, "\n%s\n", title);
    if (l->n == 0) {
        cairn_buf_puts(b, "  none\n");
        return;
    }
    for (size_t i = 0; i < l->n; i++) {
        const cairn_finding *f = &l->items[i];
        cairn_buf_printf(b, "  - %s\n", f->what);
        if (f->why[0])
            cairn_buf_printf(b, "    why: %s\n", f->why);
        if (with_fix && f->fix[0])
            cairn_buf_printf(b, "    fix: %s\n", f->fix);
    }
}

void cairn_review_to_text(const cairn_review *r, cairn_buf *b)
{
    char s1[32], s2[32], s3[32], siv[64];
    cairn_buf_printf(b, "Executive Summary\n  %s\n", r->summary);
    text_section(b, "Critical Issues", &r->critical, true);
    text_section(b, "High Priority", &r->high, true);
    text_section(b, "Medium Priority", &r->medium, true);
    text_section(b, "Strengths", &r->strengths, false);

    cairn_buf_puts(b, "\nGates\n");
    if (r->n_gates == 0) {
        cairn_buf_puts(b, "  none declared\n");
    } else {
        int w = (int)strlen("metric");
        for (size_t i = 0; i < r->n_gates; i++)
            if ((int)strlen(r->gates[i].metric) > w)
                w = (int)strlen(r->gates[i].metric);
        cairn_buf_printf(b, "  %-*s  %-9s  %10s  %10s  %s\n", w, "metric", "op", "threshold",
                         "value", "status");
        for (size_t i = 0; i < r->n_gates; i++) {
            const cairn_gate_result *g = &r->gates[i];
            fmt_num(s1, sizeof s1, g->threshold);
            fmt_num(s2, sizeof s2, g->value);
            cairn_buf_printf(b, "  %-*s  %-9s  %10s  %10s  %s\n", w, g->metric, g->op, s1, s2,
                             cairn_gate_status_name(g->status));
        }
    }

    if (r->compare) {
        const cairn_compare_result *c = r->compare;
        cairn_buf_printf(b, "\nComparison with production (%s@%d)\n", r->model,
                         r->production_version);
        cairn_buf_printf(b, "  on the run's %zu test rows; gain > 0: the candidate is better\n",
                         c->n);
        cairn_buf_printf(b, "  %-10s  %10s  %10s  %10s  %s\n", "metric", "candidate",
                         "production", "gain", "95% interval");
        for (size_t i = 0; i < c->n_metrics; i++) {
            const cairn_compare_metric *m = &c->metrics[i];
            fmt_num(s1, sizeof s1, m->candidate);
            fmt_num(s2, sizeof s2, m->production);
            fmt_signed(s3, sizeof s3, m->gain.estimate);
            fmt_interval(siv, sizeof siv, m->gain.lo, m->gain.hi);
            cairn_buf_printf(b, "  %-10s  %10s  %10s  %10s  %s\n", m->name, s1, s2, s3, siv);
        }
        size_t n_reg = 0;
        for (size_t i = 0; i < c->n_slices; i++) {
            const cairn_compare_slice *s = &c->slices[i];
            if (!slice_regressed(s))
                continue;
            if (n_reg++ == 0)
                cairn_buf_puts(b, "  Regressed slices:\n");
            fmt_signed(s3, sizeof s3, s->metric.gain.estimate);
            fmt_interval(siv, sizeof siv, s->metric.gain.lo, s->metric.gain.hi);
            cairn_buf_printf(b, "    %s = %s (%zu rows): %s gain %s %s\n", s->column, s->value,
                             s->n, s->metric.name, s3, siv);
        }
        if (n_reg == 0)
            cairn_buf_puts(b, "  Regressed slices: none\n");
    }
    cairn_buf_printf(b, "\nDecision: %s\n", cairn_verdict_name(r->verdict));
}
