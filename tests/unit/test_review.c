/*
 * test_review.c -- the review checklist (src/review/review.c) on run records
 * built by hand from small JSON texts, with comparisons against production
 * filled by hand (compare.h's fields only).
 *
 * Each test plants one situation (a leak finding, a failing gate, a slice
 * that regresses, a stale code version, ...) into an otherwise clean run and
 * checks the exact finding codes, severities, gate statuses and values
 * (computed here from the planted numbers) and the decision. The JSON output
 * is parsed back with cJSON; the text output is searched for its sections in
 * order and its last line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "review/review.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- building runs ----------------------------------------------------------------------- */

/* The numbers a test varies; mk_defaults() gives a clean binary run. */
typedef struct run_spec {
    const char *task;           /* "binary" | "regression" */
    double m, m_lo, m_hi;       /* the primary metric of the model */
    double base;                /* ... of the baseline */
    double ece;                 /* binary; NaN: absent */
    const char *findings;       /* JSON array */
    const char *gates;          /* JSON array or NULL */
    const char *code_version;
    int64_t seed;
    const char *status;
} run_spec;

typedef struct tcase {
    char eval[4096];
    cairn_run_record rec;
} tcase;

static run_spec mk_defaults(void)
{
    run_spec s = {
        .task = "binary",
        .m = 0.85, .m_lo = 0.83, .m_hi = 0.87,
        .base = 0.5,
        .ece = 0.03,
        .findings = "[]",
        .gates = "[{\"metric\":\"auc\",\"op\":\"min\",\"value\":0.8}]",
        .code_version = "v0.1.0-4-g1a2b3c4",
        .seed = 42,
        .status = "succeeded",
    };
    return s;
}

static void put_metric(char *out, size_t cap, const char *name, double e, double lo, double hi,
                       bool comma)
{
    size_t len = strlen(out);
    snprintf(out + len, cap - len, "%s\"%s\":{\"estimate\":%.17g,\"lo\":%.17g,\"hi\":%.17g,\"n_valid\":200}",
             comma ? "," : "", name, e, lo, hi);
}

/* Builds the run record (strings borrowed from s and from t->eval; never reset). */
static void mk_run(tcase *t, const run_spec *s)
{
    memset(t, 0, sizeof *t);
    char mm[1024] = "", bm[1024] = "";
    bool bin = !strcmp(s->task, "binary");
    const char *primary = bin ? "auc" : "rmse";
    put_metric(mm, sizeof mm, primary, s->m, s->m_lo, s->m_hi, false);
    put_metric(bm, sizeof bm, primary, s->base, s->base, s->base, false);
    if (bin) {
        put_metric(mm, sizeof mm, "logloss", 0.40, 0.38, 0.42, true);
        put_metric(bm, sizeof bm, "logloss", 0.60, 0.59, 0.61, true);
        if (isfinite(s->ece)) {
            put_metric(mm, sizeof mm, "ece", s->ece, s->ece / 2, s->ece * 1.5, true);
            put_metric(bm, sizeof bm, "ece", 0.01, 0.005, 0.02, true);
        }
    } else {
        put_metric(mm, sizeof mm, "r2", 0.7, 0.65, 0.75, true);
        put_metric(bm, sizeof bm, "r2", 0.0, 0.0, 0.0, true);
    }
    snprintf(t->eval, sizeof t->eval,
             "{\"model\":{\"task\":\"%s\",\"n\":1000,\"metrics\":{%s},\"slices\":[]},"
             "\"baseline\":{\"task\":\"%s\",\"n\":1000,\"metrics\":{%s},\"slices\":[]},"
             "\"threshold\":{\"by\":\"max_f1\",\"value\":0.4,\"chosen_on\":\"valid\"},\"bootstrap\":200}",
             s->task, mm, s->task, bm);
    cairn_run_record *r = &t->rec;
    snprintf(r->id, sizeof r->id, "r-0123456789ab");
    r->model = (char *)"churn";
    r->status = (char *)s->status;
    r->spec_text = (char *)"name: churn\ndata: telco\nlabel: Churn\n";
    r->spec_json = (char *)"{\"name\":\"churn\",\"task\":\"binary\"}";
    r->seed = s->seed;
    r->dataset_name = (char *)"telco";
    r->dataset_version = 1;
    r->dataset_hash = (char *)"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    r->code_version = (char *)s->code_version;
    r->eval_json = t->eval;
    r->findings_json = (char *)s->findings;
    r->gates_json = (char *)s->gates;
    r->state_hash = (char *)"b0f00a089f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15";
}

/* A comparison by hand: auc gain g [glo, ghi] on the whole; slices appended by the test. */
typedef struct tcompare {
    cairn_compare_result c;
    cairn_compare_slice slices[4];
    char col[16], val[4][16];
} tcompare;

static void mk_compare(tcompare *t, double g, double glo, double ghi)
{
    memset(t, 0, sizeof *t);
    cairn_compare_result *c = &t->c;
    c->task = CAIRN_TASK_BINARY;
    c->n = 1000;
    snprintf(c->primary, sizeof c->primary, "auc");
    cairn_compare_metric *m = &c->metrics[c->n_metrics++];
    snprintf(m->name, sizeof m->name, "auc");
    m->candidate = 0.85;
    m->production = 0.85 - g;
    m->gain = (cairn_interval){g, glo, ghi, 200};
    m = &c->metrics[c->n_metrics++];
    snprintf(m->name, sizeof m->name, "logloss");
    m->candidate = 0.40;
    m->production = 0.41;
    m->gain = (cairn_interval){0.01, -0.002, 0.02, 200};
    snprintf(t->col, sizeof t->col, "Contract");
    c->slices = t->slices;
}

static void add_slice(tcompare *t, const char *value, size_t n, bool small, double g, double glo,
                      double ghi)
{
    size_t i = t->c.n_slices++;
    cairn_compare_slice *s = &t->slices[i];
    snprintf(t->val[i], sizeof t->val[i], "%s", value);
    s->column = t->col;
    s->value = t->val[i];
    s->n = n;
    s->small = small;
    snprintf(s->metric.name, sizeof s->metric.name, "auc");
    s->metric.candidate = 0.8;
    s->metric.production = 0.8 - g;
    s->metric.gain = (cairn_interval){g, glo, ghi, 200};
    s->regressed = !small && ghi < 0;
}

/* A context with nothing in production but a fallback alias (no rollback finding). */
static cairn_review_context ctx_fallback(void)
{
    cairn_review_context c = {0};
    c.alias = "production";
    c.has_fallback = true;
    return c;
}

static void review_ok(const tcase *t, const cairn_review_context *ctx, cairn_review *rv)
{
    cairn_error err = {0};
    memset(rv, 0, sizeof *rv);
    cairn_status st = cairn_review_run(&t->rec, ctx, rv, &err);
    if (st != CAIRN_OK)
        fail_msg("review failed: %s (%s)", err.msg, err.where);
}

static const cairn_finding *find_code(const cairn_findings *l, const char *code)
{
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->items[i].code, code))
            return &l->items[i];
    return NULL;
}

static const cairn_gate_result *find_gate(const cairn_review *r, const char *metric)
{
    for (size_t i = 0; i < r->n_gates; i++)
        if (!strcmp(r->gates[i].metric, metric))
            return &r->gates[i];
    return NULL;
}

/* Every finding has its three sentences. */
static void assert_sentences(const cairn_findings *l, bool need_fix)
{
    for (size_t i = 0; i < l->n; i++) {
        assert_true(strlen(l->items[i].what) > 10);
        assert_true(strlen(l->items[i].why) > 10);
        if (need_fix)
            assert_true(strlen(l->items[i].fix) > 10);
    }
}

/* ---- tests ------------------------------------------------------------------------------- */

static void test_clean_run_approves(void **state)
{
    (void)state;
    run_spec s = mk_defaults();
    tcase t;
    mk_run(&t, &s);
    cairn_review_context ctx = ctx_fallback();
    cairn_review rv;
    review_ok(&t, &ctx, &rv);
    assert_int_equal(rv.verdict, CAIRN_VERDICT_APPROVE);
    assert_string_equal(cairn_verdict_name(rv.verdict), "APPROVE");
    assert_int_equal(rv.critical.n, 0);
    assert_int_equal(rv.high.n, 0);
    assert_int_equal(rv.medium.n, 0);
    assert_string_equal(rv.run_id, "r-0123456789ab");
    assert_string_equal(rv.model, "churn");
    assert_int_equal(rv.n_gates, 1);
    assert_false(rv.gates_failed);
    assert_int_equal(rv.gates[0].status, CAIRN_GATE_PASS);
    assert_true(rv.gates[0].value == 0.85);
    assert_true(rv.gates[0].threshold == 0.8);
    /* Strengths: gates, baseline beaten by 0.35 with the interval, calibration, reproducible. */
    const cairn_finding *f = find_code(&rv.strengths, "baseline_beaten");
    assert_non_null(f);
    assert_true(fabs(f->value - 0.35) < 1e-12);
    assert_non_null(strstr(f->what, "+0.35"));
    assert_non_null(strstr(f->what, "[0.83, 0.87]"));
    assert_non_null(find_code(&rv.strengths, "gates_passed"));
    assert_non_null(find_code(&rv.strengths, "calibration"));
    assert_non_null(find_code(&rv.strengths, "reproducible"));
    assert_non_null(strstr(rv.summary, "r-0123456789ab"));
    assert_non_null(strstr(rv.summary, "churn"));
    assert_non_null(strstr(rv.summary, "auc 0.85 [0.83, 0.87]"));
    assert_non_null(strstr(rv.summary, "0 critical, 0 high, 0 medium"));
    assert_non_null(strstr(rv.summary, "Decision: APPROVE."));
    cairn_review_reset(&rv);
    assert_null(rv.gates);
    assert_int_equal(rv.strengths.n, 0);
}

static void test_run_findings_sorted(void **state)
{
    (void)state;
    run_spec s = mk_defaults();
    s.findings =
        "[{\"severity\":\"critical\",\"code\":\"single_feature_leak\",\"column\":\"refund\","
        "\"value\":0.995,\"what\":\"Column refund alone predicts the label with AUC 0.995.\","
        "\"why\":\"It is probably recorded after the outcome.\",\"fix\":\"Exclude it.\"},"
        "{\"severity\":\"low\",\"code\":\"unlabeled_rows\",\"column\":\"Churn\",\"value\":12,"
        "\"what\":\"12 rows have no label.\",\"why\":\"They were left out.\",\"fix\":\"Check.\"},"
        "{\"severity\":\"info\",\"code\":\"pii_excluded\",\"column\":\"email\",\"value\":null,"
        "\"what\":\"email was left out.\",\"why\":\"Personal data.\",\"fix\":\"Nothing.\"},"
        "{\"severity\":\"info\",\"code\":\"constant_column\",\"column\":\"x\",\"value\":null,"
        "\"what\":\"x is constant.\",\"why\":\"No signal.\",\"fix\":\"Nothing.\"}]";
    tcase t;
    mk_run(&t, &s);
    cairn_review_context ctx = ctx_fallback();
    cairn_review rv;
    review_ok(&t, &ctx, &rv);
    assert_int_equal(rv.verdict, CAIRN_VERDICT_BLOCK);
    assert_int_equal(rv.critical.n, 1);
    const cairn_finding *f = &rv.critical.items[0];
    assert_string_equal(f->code, "single_feature_leak");
    assert_string_equal(f->column, "refund");
    assert_true(f->value == 0.995);
    assert_int_equal(f->severity, CAIRN_SEV_CRITICAL);
    assert_string_equal(f->fix, "Exclude it.");
    /* low -> medium; info pii_excluded -> strength; other info notes are dropped */
    assert_int_equal(rv.medium.n, 1);
    assert_string_equal(rv.medium.items[0].code, "unlabeled_rows");
    assert_true(rv.medium.items[0].value == 12);
    f = find_code(&rv.strengths, "pii_excluded");
    assert_non_null(f);
    assert_string_equal(f->column, "email");
    assert_true(isnan(f->value));
    assert_null(find_code(&rv.strengths, "constant_column"));
    assert_null(find_code(&rv.medium, "constant_column"));
    assert_non_null(strstr(rv.summary, "1 critical, 0 high, 1 medium"));
    assert_non_null(strstr(rv.summary, "Decision: BLOCK."));
    cairn_review_reset(&rv);
}

static void test_failed_gate_blocks(void **state)
{
    (void)state;
    run_spec s = mk_defaults();
    s.gates = "[{\"metric\":\"auc\",\"op\":\"min\",\"value\":0.9},"
              "{\"metric\":\"logloss\",\"op\":\"max\",\"value\":0.5},"
              "{\"metric\":\"ece\",\"op\":\"max\",\"value\":0.02}]";
    tcase t;
    mk_run(&t, &s);
    cairn_review_context ctx = ctx_fallback();
    cairn_review rv;
    review_ok(&t, &ctx, &rv);
    assert_int_equal(rv.verdict, CAIRN_VERDICT_BLOCK);
    assert_true(rv.gates_failed);
    assert_int_equal(rv.n_gates, 3);
    assert_string_equal(rv.gates[0].metric, "auc");
    assert_string_equal(rv.gates[0].op, "min");
    assert_int_equal(rv.gates[0].status, CAIRN_GATE_FAIL);
    assert_true(rv.gates[0].value == 0.85);
    assert_int_equal(rv.gates[1].status, CAIRN_GATE_PASS);   /* 0.40 <= 0.5 */
    assert_true(rv.gates[1].value == 0.40);
    assert_int_equal(rv.gates[2].status, CAIRN_GATE_FAIL);   /* 0.03 > 0.02 */
    assert_int_equal(rv.critical.n, 2);
    assert_string_equal(rv.critical.items[0].code, "gate_failed");
    assert_string_equal(rv.critical.items[0].column, "auc");
    assert_non_null(strstr(rv.critical.items[0].what, "0.85"));
    assert_non_null(strstr(rv.critical.items[0].what, "0.9"));
    assert_string_equal(rv.critical.items[1].column, "ece");
    assert_null(find_code(&rv.strengths, "gates_passed"));
    assert_sentences(&rv.critical, true);
    cairn_review_reset(&rv);

    /* The boundary passes: min is >=, max is <=. */
    s.gates = "[{\"metric\":\"auc\",\"op\":\"min\",\"value\":0.85},"
              "{\"metric\":\"logloss\",\"op\":\"max\",\"value\":0.4}]";
    mk_run(&t, &s);
    review_ok(&t, &ctx, &rv);
    assert_false(rv.gates_failed);
    assert_int_equal(rv.verdict, CAIRN_VERDICT_APPROVE);
    cairn_review_reset(&rv);
}

static void test_unknown_gate_missing(void **state)
{
    (void)state;
    run_spec s = mk_defaults();
    s.gates = "[{\"metric\":\"acu\",\"op\":\"min\",\"value\":0.8},"
              "{\"metric\":\"rmse_vs_baseline\",\"op\":\"min_delta\",\"value\":0},"
              "{\"metric\":\"auc\",\"op\":\"between\",\"value\":0.8},"
              "{\"metric\":\"foo_vs_production\",\"op\":\"min_delta\",\"value\":0}]";
    tcase t;
    mk_run(&t, &s);
    cairn_review_context ctx = ctx_fallback();
    cairn_review rv;
    review_ok(&t, &ctx, &rv);
    assert_int_equal(rv.verdict, CAIRN_VERDICT_BLOCK);
    assert_true(rv.gates_failed);
    assert_int_equal(rv.n_gates, 4);
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(rv.gates[i].status, CAIRN_GATE_MISSING);
        assert_true(isnan(rv.gates[i].value));
    }
    assert_string_equal(cairn_gate_status_name(CAIRN_GATE_MISSING), "missing");
    assert_int_equal(rv.critical.n, 4);
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(rv.critical.items[i].code, "gate_missing");
    assert_non_null(strstr(rv.critical.items[0].what, "acu"));
    cairn_review_reset(&rv);
}

static void test_no_gates_medium(void **state)
{
    (void)state;
    run_spec s = mk_defaults();
    s.gates = "[]";
    tcase t;
    mk_run(&t, &s);
    cairn_review_context ctx = ctx_fallback();
    cairn_review rv;
    review_ok(&t, &ctx, &rv);
    assert_int_equal(rv.verdict, CAIRN_VERDICT_WARN);
    assert_string_equal(cairn_verdict_name(rv.verdict), "APPROVE WITH WARNINGS");
    assert_int_equal(rv.n_gates, 0);
    assert_false(rv.gates_failed);
    assert_int_equal(rv.medium.n, 1);
    assert_string_equal(rv.medium.items[0].code, "no_gates");
    cairn_review_reset(&rv);

    s.gates = NULL;
    mk_run(&t, &s);
    review_ok(&t, &ctx, &rv);
    assert_non_null(find_code(&rv.medium, "no_gates"));
    cairn_review_reset(&rv);
}

static const char *prod_gates =
    "[{\"metric\":\"auc_vs_production\",\"op\":\"min_delta\",\"value\":-0.005},"
    "{\"metric\":\"slice_auc_drop\",\"op\":\"max\",\"value\":0.03},"
    "{\"metric\":\"auc_vs_baseline\",\"op\":\"min_delta\",\"value\":0.3},"
    "{\"metric\":\"logloss_vs_production\",\"op\":\"min_delta\",\"value\":0}]";

static void test_production_gates_na_without_production(void **state)
{
    (void)state;
    run_spec s = mk_defaults();
    s.gates = prod_gates;
    tcase t;
    mk_run(&t, &s);
    cairn_review_context ctx = ctx_fallback();
    cairn_review rv;
    review_ok(&t, &ctx, &rv);
    assert_int_equal(rv.verdict, CAIRN_VERDICT_APPROVE);
    assert_false(rv.gates_failed);
    const cairn_gate_result *g = find_gate(&rv, "auc_vs_production");
    assert_int_equal(g->status, CAIRN_GATE_NA);
    assert_true(isnan(g->value));
    assert_string_equal(cairn_gate_status_name(g->status), "n/a");
    assert_int_equal(find_gate(&rv, "slice_auc_drop")->status, CAIRN_GATE_NA);
    assert_int_equal(find_gate(&rv, "logloss_vs_production")->status, CAIRN_GATE_NA);
    g = find_gate(&rv, "auc_vs_baseline");
    assert_int_equal(g->status, CAIRN_GATE_PASS);
    assert_true(fabs(g->value - (0.85 - 0.5)) < 1e-12);
    assert_null(rv.compare);
    assert_int_equal(rv.production_version, 0);
    cairn_review_reset(&rv);

    /* NULL context: also no production, and no fallback -> no_rollback_target. */
    review_ok(&t, NULL, &rv);
    assert_int_equal(find_gate(&rv, "auc_vs_production")->status, CAIRN_GATE_NA);
    assert_int_equal(rv.verdict, CAIRN_VERDICT_WARN);
    assert_int_equal(rv.medium.n, 1);
    assert_string_equal(rv.medium.items[0].code, "no_rollback_target");
    assert_non_null(strstr(rv.medium.items[0].what, "'production'"));
    cairn_review_reset(&rv);
}

static void test_production_gates_missing_without_compare(void **state)
{
    (void)state;
    run_spec s = mk_defaults();
    s.gates = prod_gates;
    tcase t;
    mk_run(&t, &s);
    cairn_review_context ctx = {0};
    ctx.production_version = 3;
    ctx.compare_note = "the contracts differ in column tenure";
    cairn_review rv;
    review_ok(&t, &ctx, &rv);
    assert_int_equal(rv.verdict, CAIRN_VERDICT_BLOCK);
    assert_true(rv.gates_failed);
    assert_int_equal(find_gate(&rv, "auc_vs_production")->status, CAIRN_GATE_MISSING);
    assert_int_equal(find_gate(&rv, "slice_auc_drop")->status, CAIRN_GATE_MISSING);
    assert_int_equal(find_gate(&rv, "logloss_vs_production")->status, CAIRN_GATE_MISSING);
    assert_int_equal(find_gate(&rv, "auc_vs_baseline")->status, CAIRN_GATE_PASS);
    assert_int_equal(rv.critical.n, 3);
    const cairn_finding *f = find_code(&rv.medium, "production_incompatible");
    assert_non_null(f);
    assert_non_null(strstr(f->what, "the contracts differ in column tenure"));
    assert_non_null(strstr(f->what, "churn@3"));
    /* production exists: no rollback finding */
    assert_null(find_code(&rv.medium, "no_rollback_target"));
    assert_non_null(strstr(rv.summary, "could not be compared"));
    cairn_review_reset(&rv);
}

static void test_production_gates_with_compare(void **state)
{
    (void)state;
    run_spec s = mk_defaults();
    s.gates = prod_gates;
    tcase t;
    mk_run(&t, &s);
    tcompare tc;
    mk_compare(&tc, 0.01, 0.002, 0.018);
    add_slice(&tc, "month", 600, false, 0.02, 0.01, 0.03);
    add_slice(&tc, "one-year", 300, false, -0.012, -0.03, 0.01);   /* not beyond its interval */
    add_slice(&tc, "two-year", 40, true, -0.2, -0.4, -0.05);       /* small: ignored */
    cairn_review_context ctx = {0};
    ctx.production_version = 3;
    ctx.compare = &tc.c;
    cairn_review rv;
    review_ok(&t, &ctx, &rv);
    assert_int_equal(rv.verdict, CAIRN_VERDICT_APPROVE);
    const cairn_gate_result *g = find_gate(&rv, "auc_vs_production");
    assert_int_equal(g->status, CAIRN_GATE_PASS);
    assert_true(g->value == 0.01);
    g = find_gate(&rv, "slice_auc_drop");
    assert_int_equal(g->status, CAIRN_GATE_PASS);
    assert_true(g->value == 0.012);   /* the largest non-small drop */
    g = find_gate(&rv, "logloss_vs_production");
    assert_int_equal(g->status, CAIRN_GATE_PASS);
    assert_true(g->value == 0.01);
    assert_null(find_code(&rv.high, "slice_regressed"));
    const cairn_finding *f = find_code(&rv.strengths, "production_improved");
    assert_non_null(f);
    assert_non_null(strstr(f->what, "churn@3"));
    assert_non_null(strstr(f->what, "+0.01 [0.002, 0.018]"));
    assert_ptr_equal(rv.compare, &tc.c);
    assert_int_equal(rv.production_version, 3);
    assert_non_null(strstr(rv.summary, "churn@3"));
    assert_non_null(strstr(rv.summary, "+0.01 [0.002, 0.018]"));
    cairn_review_reset(&rv);

    /* No slice drops at all: the gate reads 0. A slice gate on a metric the
     * comparison's slices do not carry is missing. */
    mk_compare(&tc, 0.01, 0.002, 0.018);
    add_slice(&tc, "month", 600, false, 0.02, 0.01, 0.03);
    s.gates = "[{\"metric\":\"slice_auc_drop\",\"op\":\"max\",\"value\":0},"
              "{\"metric\":\"slice_logloss_drop\",\"op\":\"max\",\"value\":0.1}]";
    mk_run(&t, &s);
    review_ok(&t, &ctx, &rv);
    assert_int_equal(rv.gates[0].status, CAIRN_GATE_PASS);
    assert_true(rv.gates[0].value == 0);
    assert_int_equal(rv.gates[1].status, CAIRN_GATE_MISSING);
    cairn_review_reset(&rv);
}

static void test_slice_regression(void **state)
{
    (void)state;
    run_spec s = mk_defaults();
    s.gates = "[{\"metric\":\"slice_auc_drop\",\"op\":\"max\",\"value\":0.03}]";
    tcase t;
    mk_run(&t, &s);
    tcompare tc;
    mk_compare(&tc, 0.01, 0.002, 0.018);
    add_slice(&tc, "month", 600, false, 0.03, 0.01, 0.05);
    add_slice(&tc, "one-year", 300, false, -0.05, -0.08, -0.02);
    cairn_review_context ctx = {0};
    ctx.production_version = 3;
    ctx.compare = &tc.c;
    cairn_review rv;
    review_ok(&t, &ctx, &rv);
    const cairn_gate_result *g = find_gate(&rv, "slice_auc_drop");
    assert_int_equal(g->status, CAIRN_GATE_FAIL);
    assert_true(g->value == 0.05);
    assert_int_equal(rv.high.n, 1);
    const cairn_finding *f = &rv.high.items[0];
    assert_string_equal(f->code, "slice_regressed");
    assert_string_equal(f->column, "Contract");
    assert_true(f->value == -0.05);
    assert_non_null(strstr(f->what, "one-year"));
    assert_non_null(strstr(f->what, "-0.05 [-0.08, -0.02]"));
    assert_sentences(&rv.high, true);
    assert_int_equal(rv.verdict, CAIRN_VERDICT_BLOCK);   /* the gate failed */
    cairn_review_reset(&rv);

    /* Without the gate the slice alone warns. */
    s.gates = "[{\"metric\":\"auc\",\"op\":\"min\",\"value\":0.8}]";
    mk_run(&t, &s);
    review_ok(&t, &ctx, &rv);
    assert_int_equal(rv.verdict, CAIRN_VERDICT_WARN);
    assert_int_equal(rv.high.n, 1);
    cairn_review_reset(&rv);

    /* The whole regresses beyond its interval: production_regressed, and the
     * slice is not repeated as slice_regressed. */
    mk_compare(&tc, -0.02, -0.03, -0.01);
    add_slice(&tc, "one-year", 300, false, -0.05, -0.08, -0.02);
    review_ok(&t, &ctx, &rv);
    assert_int_equal(rv.high.n, 1);
    assert_string_equal(rv.high.items[0].code, "production_regressed");
    assert_true(rv.high.items[0].value == -0.02);
    assert_non_null(strstr(rv.high.items[0].what, "churn@3"));
    assert_null(find_code(&rv.strengths, "production_improved"));
    cairn_review_reset(&rv);
}

static void test_baseline(void **state)
{
    (void)state;
    run_spec s = mk_defaults();
    cairn_review_context ctx = ctx_fallback();
    tcase t;
    cairn_review rv;

    /* Not better: BLOCK. A tie is not better either. */
    s.m = 0.5; s.m_lo = 0.47; s.m_hi = 0.53; s.base = 0.52;
    s.gates = "[]";
    mk_run(&t, &s);
    review_ok(&t, &ctx, &rv);
    assert_int_equal(rv.verdict, CAIRN_VERDICT_BLOCK);
    const cairn_finding *f = find_code(&rv.critical, "baseline_not_beaten");
    assert_non_null(f);
    assert_true(fabs(f->value - (-0.02)) < 1e-12);
    assert_non_null(strstr(f->what, "0.52"));
    cairn_review_reset(&rv);
    s.m = 0.52;
    mk_run(&t, &s);
    review_ok(&t, &ctx, &rv);
    assert_non_null(find_code(&rv.critical, "baseline_not_beaten"));
    cairn_review_reset(&rv);

    /* Better but the interval covers the baseline: high. */
    s.m = 0.53; s.m_lo = 0.49; s.m_hi = 0.57; s.base = 0.5;
    s.gates = "[{\"metric\":\"auc\",\"op\":\"min\",\"value\":0.5}]";
    mk_run(&t, &s);
    review_ok(&t, &ctx, &rv);
    assert_int_equal(rv.verdict, CAIRN_VERDICT_WARN);
    assert_int_equal(rv.critical.n, 0);
    f = find_code(&rv.high, "baseline_within_interval");
    assert_non_null(f);
    assert_non_null(strstr(f->what, "[0.49, 0.57]"));
    assert_null(find_code(&rv.strengths, "baseline_beaten"));
    cairn_review_reset(&rv);

    /* Regression: lower rmse is better. 10 [9.5, 10.5] vs 12 beats it by 2. */
    s = mk_defaults();
    s.task = "regression";
    s.m = 10; s.m_lo = 9.5; s.m_hi = 10.5; s.base = 12;
    s.gates = "[{\"metric\":\"rmse\",\"op\":\"max\",\"value\":11},"
              "{\"metric\":\"rmse_vs_baseline\",\"op\":\"min_delta\",\"value\":1.5},"
              "{\"metric\":\"auc\",\"op\":\"min\",\"value\":0.5}]";
    mk_run(&t, &s);
    review_ok(&t, &ctx, &rv);
    assert_non_null(find_code(&rv.strengths, "baseline_beaten"));
    assert_true(rv.gates[0].status == CAIRN_GATE_PASS && rv.gates[0].value == 10);
    assert_true(rv.gates[1].status == CAIRN_GATE_PASS && rv.gates[1].value == 2);
    assert_int_equal(rv.gates[2].status, CAIRN_GATE_MISSING);   /* no auc for regression */
    assert_null(find_code(&rv.strengths, "calibration"));       /* binary only */
    assert_non_null(strstr(rv.summary, "rmse 10"));
    cairn_review_reset(&rv);
    s.m = 13; s.m_lo = 12.5; s.m_hi = 13.5;
    s.gates = "[]";
    mk_run(&t, &s);
    review_ok(&t, &ctx, &rv);
    f = find_code(&rv.critical, "baseline_not_beaten");
    assert_non_null(f);
    assert_true(f->value == -1);
    cairn_review_reset(&rv);
}

static void test_calibration(void **state)
{
    (void)state;
    run_spec s = mk_defaults();
    cairn_review_context ctx = ctx_fallback();
    tcase t;
    cairn_review rv;
    s.ece = 0.07;
    mk_run(&t, &s);
    review_ok(&t, &ctx, &rv);
    assert_int_equal(rv.verdict, CAIRN_VERDICT_WARN);
    assert_int_equal(rv.medium.n, 1);
    assert_string_equal(rv.medium.items[0].code, "calibration");
    assert_true(rv.medium.items[0].value == 0.07);
    assert_non_null(strstr(rv.medium.items[0].what, "0.07"));
    assert_int_equal(rv.high.n, 0);
    cairn_review_reset(&rv);

    s.ece = 0.12;
    mk_run(&t, &s);
    review_ok(&t, &ctx, &rv);
    assert_int_equal(rv.high.n, 1);
    assert_string_equal(rv.high.items[0].code, "calibration");
    assert_int_equal(rv.medium.n, 0);
    cairn_review_reset(&rv);

    s.ece = 0.05;   /* not above 0.05 */
    mk_run(&t, &s);
    review_ok(&t, &ctx, &rv);
    assert_int_equal(rv.high.n + rv.medium.n, 0);
    assert_non_null(find_code(&rv.strengths, "calibration"));
    cairn_review_reset(&rv);

    s.ece = NAN;    /* not evaluated: no calibration item either way */
    mk_run(&t, &s);
    review_ok(&t, &ctx, &rv);
    assert_int_equal(rv.high.n + rv.medium.n, 0);
    assert_null(find_code(&rv.strengths, "calibration"));
    cairn_review_reset(&rv);
}

static void test_reproducibility(void **state)
{
    (void)state;
    run_spec s = mk_defaults();
    cairn_review_context ctx = ctx_fallback();
    tcase t;
    cairn_review rv;
    s.code_version = "v0.1.0-4-g1a2b3c4-dirty";
    mk_run(&t, &s);
    review_ok(&t, &ctx, &rv);
    assert_int_equal(rv.verdict, CAIRN_VERDICT_WARN);
    assert_int_equal(rv.medium.n, 1);
    assert_string_equal(rv.medium.items[0].code, "reproducibility_incomplete");
    assert_non_null(strstr(rv.medium.items[0].what, "-dirty"));
    assert_null(find_code(&rv.strengths, "reproducible"));
    cairn_review_reset(&rv);

    s.code_version = "unknown";
    s.seed = -1;
    mk_run(&t, &s);
    t.rec.state_hash = NULL;
    review_ok(&t, &ctx, &rv);
    assert_int_equal(rv.medium.n, 1);
    const char *w = rv.medium.items[0].what;
    assert_non_null(strstr(w, "no seed"));
    assert_non_null(strstr(w, "unknown code version"));
    assert_non_null(strstr(w, "no state hash"));
    assert_null(strstr(w, "dataset hash"));
    cairn_review_reset(&rv);
}

static void test_errors(void **state)
{
    (void)state;
    run_spec s = mk_defaults();
    s.status = "failed";
    tcase t;
    mk_run(&t, &s);
    cairn_review rv;
    cairn_error err = {0};
    assert_int_equal(cairn_review_run(&t.rec, NULL, &rv, &err), CAIRN_EINVAL);
    assert_int_equal(err.code, CAIRN_EINVAL);
    assert_non_null(strstr(err.msg, "r-0123456789ab"));
    assert_int_equal(rv.n_gates, 0);
    assert_null(rv.gates);
    assert_int_equal(rv.critical.n, 0);

    s = mk_defaults();
    mk_run(&t, &s);
    t.rec.eval_json = (char *)"{\"model\":";
    assert_int_equal(cairn_review_run(&t.rec, NULL, &rv, NULL), CAIRN_EINVAL);
    t.rec.eval_json = NULL;
    assert_int_equal(cairn_review_run(&t.rec, NULL, &rv, NULL), CAIRN_EINVAL);
    mk_run(&t, &s);
    t.rec.findings_json = (char *)"{]";
    assert_int_equal(cairn_review_run(&t.rec, NULL, &rv, NULL), CAIRN_EINVAL);
    mk_run(&t, &s);
    t.rec.gates_json = (char *)"{\"auc\":1}";
    assert_int_equal(cairn_review_run(&t.rec, NULL, &rv, NULL), CAIRN_EINVAL);
    assert_null(rv.gates);
}

/* Fails the Nth allocation for every N: each run ends OK or ENOMEM, leak-free. */
static void test_out_of_memory(void **state)
{
    (void)state;
    run_spec s = mk_defaults();
    s.ece = 0.07;
    s.gates = prod_gates;
    tcase t;
    mk_run(&t, &s);
    tcompare tc;
    mk_compare(&tc, 0.01, 0.002, 0.018);
    add_slice(&tc, "one-year", 300, false, -0.05, -0.08, -0.02);
    cairn_review_context ctx = {0};
    ctx.production_version = 3;
    ctx.compare = &tc.c;
    bool succeeded = false;
    for (long n = 1; n < 200 && !succeeded; n++) {
        cairn_review rv;
        cairn_alloc_fail_after(n, false);
        cairn_status st = cairn_review_run(&t.rec, &ctx, &rv, NULL);
        cairn_alloc_fail_after(0, false);
        assert_true(st == CAIRN_OK || st == CAIRN_ENOMEM);
        succeeded = st == CAIRN_OK;
        cairn_review_reset(&rv);
    }
    assert_true(succeeded);
}

static cJSON *json_array_item(const cJSON *o, const char *key, int expect_n)
{
    cJSON *a = cJSON_GetObjectItemCaseSensitive(o, key);
    assert_true(cJSON_IsArray(a));
    assert_int_equal(cJSON_GetArraySize(a), expect_n);
    return a;
}

static void test_json(void **state)
{
    (void)state;
    run_spec s = mk_defaults();
    s.ece = 0.07;
    s.gates = "[{\"metric\":\"auc\",\"op\":\"min\",\"value\":0.9},"
              "{\"metric\":\"nope\",\"op\":\"min\",\"value\":1},"
              "{\"metric\":\"auc_vs_production\",\"op\":\"min_delta\",\"value\":0}]";
    tcase t;
    mk_run(&t, &s);
    cairn_review_context ctx = ctx_fallback();
    cairn_review rv;
    review_ok(&t, &ctx, &rv);
    cairn_buf b;
    cairn_buf_init(&b);
    cairn_review_to_json(&rv, &b);
    assert_false(b.failed);
    cJSON *j = cJSON_Parse(b.data);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "run")->valuestring, "r-0123456789ab");
    assert_string_equal(cJSON_GetObjectItem(j, "model")->valuestring, "churn");
    assert_string_equal(cJSON_GetObjectItem(j, "decision")->valuestring, "BLOCK");
    assert_string_equal(cJSON_GetObjectItem(j, "summary")->valuestring, rv.summary);
    cJSON *crit = json_array_item(j, "critical", 2);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(crit, 0), "code")->valuestring,
                        "gate_failed");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(crit, 0), "severity")->valuestring,
                        "critical");
    json_array_item(j, "high", 0);
    json_array_item(j, "medium", 1);
    assert_true(cJSON_GetArraySize(cJSON_GetObjectItem(j, "strengths")) == (int)rv.strengths.n);
    cJSON *gates = json_array_item(j, "gates", 3);
    cJSON *g0 = cJSON_GetArrayItem(gates, 0);
    assert_string_equal(cJSON_GetObjectItem(g0, "metric")->valuestring, "auc");
    assert_string_equal(cJSON_GetObjectItem(g0, "op")->valuestring, "min");
    assert_true(cJSON_GetObjectItem(g0, "threshold")->valuedouble == 0.9);
    assert_true(cJSON_GetObjectItem(g0, "value")->valuedouble == 0.85);
    assert_string_equal(cJSON_GetObjectItem(g0, "status")->valuestring, "fail");
    cJSON *g1 = cJSON_GetArrayItem(gates, 1);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(g1, "value")));
    assert_string_equal(cJSON_GetObjectItem(g1, "status")->valuestring, "missing");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(gates, 2), "status")->valuestring,
                        "n/a");
    cJSON *prod = cJSON_GetObjectItem(j, "production");
    assert_true(cJSON_IsObject(prod));
    assert_int_equal(cJSON_GetObjectItem(prod, "version")->valueint, 0);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(prod, "comparison")));
    cJSON_Delete(j);

    /* The gates alone (the audit log's gates_json) are the same array. */
    cairn_buf_reset(&b);
    cairn_review_gates_json(&rv, &b);
    j = cJSON_Parse(b.data);
    assert_true(cJSON_IsArray(j));
    assert_int_equal(cJSON_GetArraySize(j), 3);
    cJSON_Delete(j);
    cairn_buf_reset(&b);
    cairn_review_reset(&rv);

    /* With a comparison, it is embedded as an object. */
    tcompare tc;
    mk_compare(&tc, 0.01, 0.002, 0.018);
    add_slice(&tc, "one-year", 300, false, -0.05, -0.08, -0.02);
    cairn_review_context pctx = {0};
    pctx.production_version = 3;
    pctx.compare = &tc.c;
    review_ok(&t, &pctx, &rv);
    cairn_review_to_json(&rv, &b);
    j = cJSON_Parse(b.data);
    assert_non_null(j);
    prod = cJSON_GetObjectItem(j, "production");
    assert_int_equal(cJSON_GetObjectItem(prod, "version")->valueint, 3);
    assert_true(cJSON_IsObject(cJSON_GetObjectItem(prod, "comparison")));
    cJSON_Delete(j);
    cairn_buf_reset(&b);
    cairn_review_reset(&rv);
}

/* The offset of needle in text at or after from; fails when absent. */
static size_t find_after(const char *text, size_t from, const char *needle)
{
    const char *p = strstr(text + from, needle);
    if (!p)
        fail_msg("'%s' not found after offset %zu in:\n%s", needle, from, text);
    return (size_t)(p - text);
}

static void test_text(void **state)
{
    (void)state;
    run_spec s = mk_defaults();
    s.gates = "[{\"metric\":\"auc\",\"op\":\"min\",\"value\":0.9},"
              "{\"metric\":\"slice_auc_drop\",\"op\":\"max\",\"value\":0.1}]";
    tcase t;
    mk_run(&t, &s);
    tcompare tc;
    mk_compare(&tc, 0.01, 0.002, 0.018);
    add_slice(&tc, "one-year", 300, false, -0.05, -0.08, -0.02);
    cairn_review_context ctx = {0};
    ctx.production_version = 3;
    ctx.compare = &tc.c;
    cairn_review rv;
    review_ok(&t, &ctx, &rv);
    cairn_buf b;
    cairn_buf_init(&b);
    cairn_review_to_text(&rv, &b);
    assert_false(b.failed);
    const char *x = b.data;
    assert_null(strchr(x, '\033'));   /* no colour codes */
    assert_int_equal(strncmp(x, "Executive Summary\n", 18), 0);
    size_t at = find_after(x, 0, rv.summary);
    at = find_after(x, at, "\nCritical Issues\n");
    at = find_after(x, at, "  - Gate auc min 0.9 failed");
    at = find_after(x, at, "    why: ");
    at = find_after(x, at, "    fix: ");
    at = find_after(x, at, "\nHigh Priority\n");
    at = find_after(x, at, "one-year");
    at = find_after(x, at, "\nMedium Priority\n  none\n");
    at = find_after(x, at, "\nStrengths\n");
    at = find_after(x, at, "Beats the baseline");
    at = find_after(x, at, "\nGates\n");
    at = find_after(x, at, "threshold");
    at = find_after(x, at, "auc ");
    at = find_after(x, at, "fail");
    at = find_after(x, at, "slice_auc_drop");
    at = find_after(x, at, "0.05");
    at = find_after(x, at, "pass");
    at = find_after(x, at, "\nComparison with production (churn@3)\n");
    at = find_after(x, at, "logloss");
    at = find_after(x, at, "Regressed slices:");
    at = find_after(x, at, "Contract = one-year (300 rows)");
    at = find_after(x, at, "\nDecision: BLOCK\n");
    assert_int_equal(at + strlen("\nDecision: BLOCK\n"), b.len);   /* the last line */
    cairn_buf_reset(&b);
    cairn_review_reset(&rv);

    /* No comparison: no comparison block; empty sections say none. */
    s = mk_defaults();
    mk_run(&t, &s);
    cairn_review_context fctx = ctx_fallback();
    review_ok(&t, &fctx, &rv);
    cairn_review_to_text(&rv, &b);
    x = b.data;
    assert_null(strstr(x, "Comparison with production"));
    at = find_after(x, 0, "\nCritical Issues\n  none\n");
    at = find_after(x, at, "\nHigh Priority\n  none\n");
    at = find_after(x, at, "\nMedium Priority\n  none\n");
    at = find_after(x, at, "\nDecision: APPROVE\n");
    assert_int_equal(at + strlen("\nDecision: APPROVE\n"), b.len);
    cairn_buf_reset(&b);
    cairn_review_reset(&rv);
}

/*
 * The example in docs/review.md is this review's text, byte for byte, so the
 * documentation cannot drift from the code. The doc is found through
 * $CAIRN_SRC (set by ctest) or, run by hand, next to this source file.
 */
static void test_doc_example(void **state)
{
    (void)state;
    cairn_run_record r;
    memset(&r, 0, sizeof r);
    snprintf(r.id, sizeof r.id, "r-0123456789ab");
    r.model = (char *)"churn";
    r.status = (char *)"succeeded";
    r.spec_text = (char *)"name: churn\n";
    r.seed = 42;
    r.dataset_hash = (char *)"9f86d081884c7d659a2feaa0c55ad015";
    r.code_version = (char *)"v0.1.0-dirty";
    r.state_hash = (char *)"abcdef0123456789";
    r.eval_json = (char *)"{\"model\":{\"task\":\"binary\",\"metrics\":{"
                          "\"auc\":{\"estimate\":0.842,\"lo\":0.831,\"hi\":0.853,\"n_valid\":1000},"
                          "\"logloss\":{\"estimate\":0.41,\"lo\":0.4,\"hi\":0.42},"
                          "\"ece\":{\"estimate\":0.071,\"lo\":0.06,\"hi\":0.08}}},"
                          "\"baseline\":{\"task\":\"binary\",\"metrics\":{"
                          "\"auc\":{\"estimate\":0.5,\"lo\":0.5,\"hi\":0.5}}}}";
    r.findings_json =
        (char *)"[{\"severity\":\"critical\",\"code\":\"single_feature_leak\",\"column\":\"refund\","
                "\"value\":0.995,\"what\":\"Column refund alone predicts the label with AUC 0.995.\","
                "\"why\":\"It is probably recorded after the outcome.\",\"fix\":\"Exclude it.\"}]";
    r.gates_json = (char *)"[{\"metric\":\"auc\",\"op\":\"min\",\"value\":0.8},"
                           "{\"metric\":\"auc_vs_production\",\"op\":\"min_delta\",\"value\":-0.005},"
                           "{\"metric\":\"slice_auc_drop\",\"op\":\"max\",\"value\":0.03}]";
    tcompare tc;
    mk_compare(&tc, 0.004, -0.001, 0.009);
    tc.c.n = 2000;
    tc.c.metrics[0].candidate = 0.842;
    tc.c.metrics[0].production = 0.838;
    tc.c.metrics[1].candidate = 0.41;
    tc.c.metrics[1].production = 0.42;
    tc.c.metrics[1].gain = (cairn_interval){0.01, 0.002, 0.018, 1000};
    add_slice(&tc, "Month-to-month", 1100, false, -0.04, -0.07, -0.012);
    tc.slices[0].metric.candidate = 0.74;
    tc.slices[0].metric.production = 0.78;
    add_slice(&tc, "Two year", 40, true, -0.1, -0.3, 0.05);
    cairn_review_context ctx = {0};
    ctx.production_version = 3;
    ctx.compare = &tc.c;
    cairn_review rv;
    tcase t;
    t.rec = r;
    review_ok(&t, &ctx, &rv);
    cairn_buf b;
    cairn_buf_init(&b);
    cairn_review_to_text(&rv, &b);
    assert_false(b.failed);

    char path[4096];
    const char *src = getenv("CAIRN_SRC");
    if (src && *src) {
        snprintf(path, sizeof path, "%s/docs/review.md", src);
    } else {
        /* __FILE__ is .../tests/unit/test_review.c */
        snprintf(path, sizeof path, "%s", __FILE__);
        char *cut = strstr(path, "tests/unit/test_review.c");
        assert_non_null(cut);
        snprintf(cut, sizeof path - (size_t)(cut - path), "docs/review.md");
    }
    char *doc = NULL;
    size_t len = 0;
    cairn_error err = {0};
    if (cairn_read_file(path, &doc, &len, &err) != CAIRN_OK)
        fail_msg("cannot read %s: %s", path, err.msg);
    const char *open = "<!-- review-example -->\n```text\n";
    char *start = strstr(doc, open);
    assert_non_null(start);
    start += strlen(open);
    char *end = strstr(start, "```\n");
    assert_non_null(end);
    *end = '\0';
    if (strcmp(start, b.data) != 0)
        fail_msg("docs/review.md's example differs from the output:\n%s", b.data);
    cairn_free(doc);
    cairn_buf_reset(&b);
    cairn_review_reset(&rv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clean_run_approves),
        cmocka_unit_test(test_run_findings_sorted),
        cmocka_unit_test(test_failed_gate_blocks),
        cmocka_unit_test(test_unknown_gate_missing),
        cmocka_unit_test(test_no_gates_medium),
        cmocka_unit_test(test_production_gates_na_without_production),
        cmocka_unit_test(test_production_gates_missing_without_compare),
        cmocka_unit_test(test_production_gates_with_compare),
        cmocka_unit_test(test_slice_regression),
        cmocka_unit_test(test_baseline),
        cmocka_unit_test(test_calibration),
        cmocka_unit_test(test_reproducibility),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_out_of_memory),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_doc_example),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
