/*
 * test_report.c -- the HTML reports (src/report): escaping, the ROC and
 * precision-recall points, the run report on hand-built run records (binary,
 * regression, multiclass) and the monitor report on hand-built monitor
 * results, including a 100-feature x 30-window result for the 2 MB bound.
 *
 * Checks on the pages: every expected chart id is there, text from data
 * comes out escaped, there is no <script> and no external reference, each
 * <svg> parses as XML (Python's xml.etree, run on a temporary file: an
 * independent parser), and allocation failures end in CAIRN_ENOMEM without
 * leaks. Curve points are checked against hand-computed values and against
 * the area metrics of src/eval (cairn_metric_auc, cairn_metric_pr_auc).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "eval/eval.h"
#include "report/report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EVIL "<script>alert(\"x&y\")</script> 'q'"
#define EVIL_ESCAPED "&lt;script&gt;alert(&quot;x&amp;y&quot;)&lt;/script&gt; &#39;q&#39;"

/* ---- helpers ----------------------------------------------------------------------------- */

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void assert_has(const char *html, const char *needle)
{
    if (!strstr(html, needle))
        fail_msg("missing from the page: %s", needle);
}

/* No script, no reference to anything outside the page. */
static void assert_self_contained(const char *html)
{
    assert_null(strstr(html, "<script"));
    assert_null(strstr(html, "<SCRIPT"));
    assert_null(strstr(html, "http://"));
    assert_null(strstr(html, "https://"));
    assert_null(strstr(html, "src="));
    assert_null(strstr(html, "url("));
    assert_null(strstr(html, "@import"));
    /* Every href is an in-page anchor. */
    for (const char *p = strstr(html, "href=\""); p; p = strstr(p + 1, "href=\""))
        assert_int_equal(p[6], '#');
    assert_int_equal(count(html, "<svg"), count(html, "</svg>"));
}

/*
 * Parses the page with Python: html.parser must see balanced figures, and
 * each <svg>...</svg> must be well-formed XML. Returns the number of SVGs.
 */
static int python_check(const char *html, size_t len)
{
    const char *tmp = getenv("CAIRN_TEST_TMP");
    char path[512];
    snprintf(path, sizeof path, "%s/test_report_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, html, len), (ssize_t)len);
    close(fd);
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c '\n"
             "import re, sys, xml.etree.ElementTree as ET\n"
             "from html.parser import HTMLParser\n"
             "t = open(sys.argv[1], encoding=\"utf-8\").read()\n"
             "class P(HTMLParser):\n"
             "    depth = 0\n"
             "    def handle_starttag(self, tag, a):\n"
             "        if tag == \"script\": raise SystemExit(\"script tag\")\n"
             "        if tag == \"figure\": self.depth += 1\n"
             "    def handle_endtag(self, tag):\n"
             "        if tag == \"figure\": self.depth -= 1\n"
             "p = P(); p.feed(t); p.close()\n"
             "assert p.depth == 0, p.depth\n"
             "svgs = re.findall(r\"<svg.*?</svg>\", t, re.S)\n"
             "for s in svgs: ET.fromstring(s)\n"
             "print(len(svgs))' %s",
             path);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    int n = -1;
    if (fscanf(f, "%d", &n) != 1)
        n = -1;
    int rc = pclose(f);
    unlink(path);
    assert_int_equal(rc, 0);
    return n;
}

#define assert_near(a, b, tol) assert_true(fabs((double)(a) - (double)(b)) <= (tol))

static char *xstrdup(const char *s)
{
    char *p = cairn_strdup(s);
    assert_non_null(p);
    return p;
}

/* ---- escaping ----------------------------------------------------------------------------- */

static void test_escape(void **state)
{
    (void)state;
    cairn_buf b;
    cairn_buf_init(&b);
    cairn_html_escape(&b, EVIL);
    assert_string_equal(b.data, EVIL_ESCAPED);
    cairn_buf_reset(&b);

    /* Controls other than tab/newline/CR and invalid UTF-8 become '?'; valid UTF-8 stays. */
    cairn_html_escape(&b, "a\x01" "b\tc\n\xc3\xa9\xff\xe2\x82" "d");
    assert_string_equal(b.data, "a?b\tc\n\xc3\xa9???d");
    cairn_buf_reset(&b);

    cairn_html_escape(&b, NULL);
    cairn_html_escape_n(&b, "x<y", 2);
    assert_string_equal(b.data, "x&lt;");
    cairn_buf_reset(&b);
}

/* ---- curves -------------------------------------------------------------------------------- */

static void test_roc_pr_hand(void **state)
{
    (void)state;
    /* Scores 0.9 (pos), 0.8 (neg), 0.8 (pos), 0.3 (neg): the tie at 0.8 moves both. */
    const double s[] = {0.9, 0.8, 0.8, 0.3}, y[] = {1, 0, 1, 0};
    double *fx, *fy, *r, *p;
    size_t m;
    assert_int_equal(cairn_report_roc(s, y, 4, &fx, &fy, &m, NULL), CAIRN_OK);
    assert_int_equal(m, 4);
    const double efx[] = {0, 0, 0.5, 1}, efy[] = {0, 0.5, 1, 1};
    for (size_t i = 0; i < 4; i++) {
        assert_near(fx[i], efx[i], 1e-15);
        assert_near(fy[i], efy[i], 1e-15);
    }
    cairn_free(fx);
    cairn_free(fy);
    assert_int_equal(cairn_report_pr(s, y, 4, &r, &p, &m, NULL), CAIRN_OK);
    assert_int_equal(m, 4);
    const double er[] = {0, 0.5, 1, 1}, ep[] = {1, 1, 2.0 / 3, 0.5};
    for (size_t i = 0; i < 4; i++) {
        assert_near(r[i], er[i], 1e-15);
        assert_near(p[i], ep[i], 1e-15);
    }
    cairn_free(r);
    cairn_free(p);

    const double one[] = {1, 1};
    cairn_error err = {0};
    assert_int_equal(cairn_report_roc(s, one, 2, &fx, &fy, &m, &err), CAIRN_EINVAL);
    assert_null(fx);
    assert_int_equal(cairn_report_pr(s, y, 0, &r, &p, &m, &err), CAIRN_EINVAL);
}

/* On random data with ties: the trapezoid area under the ROC points is the AUC and the step
 * area under the PR points the average precision, as src/eval computes them. */
static void test_roc_pr_areas(void **state)
{
    (void)state;
    enum { N = 3000 };
    static double s[N], y[N];
    static uint8_t y8[N];
    cairn_rng rng;
    cairn_rng_init(&rng, 11);
    for (size_t i = 0; i < N; i++) {
        y8[i] = cairn_rng_below(&rng, 3) == 0;
        y[i] = y8[i];
        /* 200 distinct values: many ties; positives score a little higher. */
        s[i] = (double)(cairn_rng_below(&rng, 200) + (y8[i] ? 30 : 0)) / 230.0;
    }
    double *fx, *fy, *r, *p;
    size_t m, k;
    assert_int_equal(cairn_report_roc(s, y, N, &fx, &fy, &m, NULL), CAIRN_OK);
    double auc = 0;
    for (size_t i = 1; i < m; i++)
        auc += (fx[i] - fx[i - 1]) * (fy[i] + fy[i - 1]) / 2;
    assert_near(auc, cairn_metric_auc(s, y8, N), 1e-12);
    assert_near(fx[m - 1], 1, 0);
    assert_near(fy[m - 1], 1, 0);
    assert_int_equal(cairn_report_pr(s, y, N, &r, &p, &k, NULL), CAIRN_OK);
    double ap = 0;
    for (size_t i = 1; i < k; i++)
        ap += (r[i] - r[i - 1]) * p[i];
    assert_near(ap, cairn_metric_pr_auc(s, y8, N), 1e-12);
    assert_int_equal(m, k);   /* one point per distinct score, plus the start */
    cairn_free(fx);
    cairn_free(fy);
    cairn_free(r);
    cairn_free(p);
}

/* ---- the run report -------------------------------------------------------------------------- */

static const char BINARY_EVAL[] =
    "{\"model\":{\"task\":\"binary\",\"n\":8,\"n_pos\":4,\"metrics\":{"
    "\"auc\":{\"estimate\":0.8125,\"lo\":0.5,\"hi\":1,\"n_valid\":50},"
    "\"logloss\":{\"estimate\":0.5,\"lo\":0.4,\"hi\":0.6,\"n_valid\":50}},"
    "\"threshold\":0.5,\"confusion\":{\"tp\":3,\"fp\":1,\"tn\":3,\"fn\":1},"
    "\"calibration\":[{\"lo\":0,\"hi\":0.5,\"count\":4,\"mean_p\":0.25,\"rate\":0.25},"
    "{\"lo\":0.5,\"hi\":1,\"count\":4,\"mean_p\":0.75,\"rate\":0.75}],"
    "\"slices\":[{\"column\":\"plan\",\"value\":\"" "<script>alert(\\\"x&y\\\")</script> 'q'"
    "\",\"n\":8,\"n_pos\":4,\"small\":true,\"metrics\":{\"auc\":{\"estimate\":0.8125,"
    "\"lo\":0.5,\"hi\":1}}}]},"
    "\"baseline\":{\"task\":\"binary\",\"n\":8,\"metrics\":{\"auc\":{\"estimate\":0.5,"
    "\"lo\":0.5,\"hi\":0.5}}},"
    "\"threshold\":{\"by\":\"max_f1\",\"value\":0.5,\"chosen_on\":\"valid\"},"
    "\"positive\":\"Yes\",\"bootstrap\":50}";

static void mk_run(cairn_run_record *r, const char *eval)
{
    memset(r, 0, sizeof *r);
    snprintf(r->id, sizeof r->id, "r-0123456789ab");
    r->model = xstrdup("churn");
    r->status = xstrdup("succeeded");
    r->started_at = xstrdup("2025-01-02T03:04:05Z");
    r->spec_text = xstrdup("name: churn\nlabel: " EVIL "\n");
    r->dataset_name = xstrdup("churn");
    r->dataset_version = 1;
    r->model_type = xstrdup("gbdt");
    r->seed = 42;
    r->eval_json = xstrdup(eval);
    r->split_json = xstrdup("{\"by\":\"time\",\"rows\":{\"train\":10,\"valid\":2,\"test\":8}}");
    r->findings_json = xstrdup("[{\"severity\":\"high\",\"what\":\"" "a & b <i>" "\"}]");
    r->build_json = xstrdup("{\"compiler\":\"gcc\"}");
}

static void test_run_binary(void **state)
{
    (void)state;
    cairn_run_record run;
    mk_run(&run, BINARY_EVAL);
    const double y[] = {1, 1, 1, 1, 0, 0, 0, 0};
    const double s[] = {0.9, 0.8, 0.6, 0.3, 0.7, 0.4, 0.2, 0.1};
    cairn_report_scores sc = {.task = CAIRN_TASK_BINARY, .n = 8, .n_classes = 1, .y = y,
                              .score = s};
    cairn_report_importance imp[2] = {{.name = (char *)EVIL, .value = 0.1},
                                      {.name = (char *)"tenure", .value = -0.01}};
    cairn_run_report_input in = {.run = &run, .review_note = "no review: " EVIL,
                                 .scores = &sc, .importance = imp, .n_importance = 2,
                                 .importance_metric = "auc"};
    cairn_buf b;
    cairn_buf_init(&b);
    assert_int_equal(cairn_report_run_html(&in, &b, NULL), CAIRN_OK);
    const char *h = b.data;
    assert_self_contained(h);
    static const char *const ids[] = {"roc", "pr", "reliability", "confusion-matrix",
                                      "importance-chart"};
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(ids); i++) {
        char want[64];
        snprintf(want, sizeof want, "<figure class=\"chart\" id=\"%s\">", ids[i]);
        assert_has(h, want);
    }
    static const char *const sections[] = {"summary", "metrics", "curves", "confusion",
                                           "slices", "importance", "findings", "lineage"};
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(sections); i++) {
        char want[64];
        snprintf(want, sizeof want, "<section id=\"%s\">", sections[i]);
        assert_has(h, want);
    }
    /* Data text escaped wherever it lands: slice value, importance label, spec, note. */
    assert_true(count(h, EVIL_ESCAPED) >= 4);
    assert_null(strstr(h, EVIL));
    assert_has(h, "a &amp; b &lt;i&gt;");
    /* The recorded numbers: metric with interval, confusion counts, AUC in the title. */
    assert_has(h, "0.8125 [0.5000, 1.0000]");
    assert_has(h, "ROC (AUC 0.8125)");
    assert_has(h, "Yes | Yes: 3</title>");        /* tp */
    assert_has(h, "not Yes | Yes: 1</title>");    /* fp: actual negative, predicted Yes */
    assert_int_equal(python_check(h, b.len), 5);
    cairn_buf_reset(&b);

    /* Without scores: the curves that need them are left out with the note. */
    in.scores = NULL;
    in.scores_note = "dataset gone";
    in.importance = NULL;
    in.n_importance = 0;
    assert_int_equal(cairn_report_run_html(&in, &b, NULL), CAIRN_OK);
    assert_null(strstr(b.data, "id=\"roc\""));
    assert_has(b.data, "id=\"reliability\"");   /* from the recorded calibration table */
    assert_has(b.data, "dataset gone");
    cairn_buf_reset(&b);

    /* A failed run has no report. */
    cairn_free(run.status);
    run.status = xstrdup("failed");
    cairn_error err = {0};
    assert_int_equal(cairn_report_run_html(&in, &b, &err), CAIRN_EINVAL);
    cairn_buf_reset(&b);
    cairn_run_record_reset(&run);
}

static void test_run_regression_multiclass(void **state)
{
    (void)state;
    cairn_run_record run;
    mk_run(&run, "{\"model\":{\"task\":\"regression\",\"n\":5,\"metrics\":{\"rmse\":"
                 "{\"estimate\":1,\"lo\":0.5,\"hi\":1.5}}},\"baseline\":{\"metrics\":{}}}");
    const double y[] = {1, 2, 3, 4, 5}, s[] = {1.5, 1.5, 3.5, 4, 6};
    cairn_report_scores sc = {.task = CAIRN_TASK_REGRESSION, .n = 5, .y = y, .score = s};
    cairn_run_report_input in = {.run = &run, .scores = &sc};
    cairn_buf b;
    cairn_buf_init(&b);
    assert_int_equal(cairn_report_run_html(&in, &b, NULL), CAIRN_OK);
    assert_self_contained(b.data);
    assert_has(b.data, "id=\"predicted\"");
    assert_has(b.data, "id=\"residuals\"");
    assert_null(strstr(b.data, "id=\"roc\""));
    assert_null(strstr(b.data, "id=\"confusion-matrix\""));
    assert_int_equal(python_check(b.data, b.len), 2);
    cairn_buf_reset(&b);
    cairn_run_record_reset(&run);

    mk_run(&run, "{\"model\":{\"task\":\"multiclass\",\"n\":4,\"metrics\":{\"accuracy\":"
                 "{\"estimate\":0.75}}},\"baseline\":{}}");
    /* 3 classes; argmax predictions 0, 1, 2, 2 against labels 0, 1, 2, 1. */
    const double ym[] = {0, 1, 2, 1};
    const double pm[] = {0.8, 0.1, 0.1, 0.2, 0.7, 0.1, 0.1, 0.2, 0.7, 0.3, 0.3, 0.4};
    const char *const names[] = {"a", "b<", "c"};
    cairn_report_scores sm = {.task = CAIRN_TASK_MULTICLASS, .n = 4, .n_classes = 3, .y = ym,
                              .score = pm, .class_names = names};
    in.scores = &sm;
    assert_int_equal(cairn_report_run_html(&in, &b, NULL), CAIRN_OK);
    assert_self_contained(b.data);
    assert_has(b.data, "id=\"confusion-matrix\"");
    assert_has(b.data, "b&lt; | c: 1</title>");   /* actual b predicted c: the one mistake */
    assert_has(b.data, "b&lt; | b&lt;: 1</title>");
    assert_has(b.data, "a | a: 1</title>");
    assert_has(b.data, "a | b&lt;: 0</title>");
    assert_int_equal(python_check(b.data, b.len), 1);
    cairn_buf_reset(&b);
    cairn_run_record_reset(&run);
}

/* ---- the monitor report ---------------------------------------------------------------------- */

static void mk_feature(cairn_monitor_feature *f, const char *name, size_t n_bins, double shift,
                       cairn_drift_severity sev)
{
    memset(f, 0, sizeof *f);
    f->name = xstrdup(name);
    f->kind = n_bins > 10 ? CAIRN_DRIFT_CATEGORY : CAIRN_DRIFT_NUMBER;
    f->n_bins = n_bins;
    f->bin_labels = cairn_calloc(n_bins, sizeof *f->bin_labels);
    assert_non_null(f->bin_labels);
    double sr = 0, sc = 0;
    for (size_t b = 0; b < n_bins; b++) {
        char lab[64];
        if (n_bins > 10)
            snprintf(lab, sizeof lab, b + 1 == n_bins ? "(other)" : "category_%zu", b);
        else
            snprintf(lab, sizeof lab, "[%zu.5, %zu.5)", b, b + 1);
        f->bin_labels[b] = xstrdup(lab);
        f->ref_share[b] = 1.0 + (double)b;
        f->cur_share[b] = 1.0 + (double)b + shift * (double)(n_bins - b);
        sr += f->ref_share[b];
        sc += f->cur_share[b];
    }
    for (size_t b = 0; b < n_bins; b++) {
        f->ref_share[b] /= sr;
        f->cur_share[b] /= sc;
    }
    f->stats.rows = 1000;
    f->stats.psi = shift;
    f->stats.ks = shift / 2;
    f->stats.js = shift / 3;
    f->stats.chi2_p = NAN;
    f->stats.missing_change = 0;
    f->stats.unseen_share = NAN;
    f->severity = sev;
}

/* n_feat features (the first named EVIL), n_win daily windows of version 1 (version 2
 * takes over half way), with metrics, latency and two alerts. */
static void mk_result(cairn_monitor_result *r, size_t n_feat, size_t n_win)
{
    cairn_monitor_result_init(r);
    r->model = xstrdup("churn");
    r->task = xstrdup("binary");
    int64_t day = 86400LL * 1000000LL, t0 = 1735689600LL * 1000000LL;   /* 2025-01-01 */
    r->first_us = t0;
    r->last_us = t0 + (int64_t)n_win * day - 1;
    r->records = r->model_records = 1000 * n_win;
    r->n_versions = 2;
    r->versions = cairn_calloc(2, sizeof *r->versions);
    assert_non_null(r->versions);
    for (int v = 0; v < 2; v++) {
        r->versions[v].version = v + 1;
        snprintf(r->versions[v].run_id, sizeof r->versions[v].run_id, "r-00000000000%d", v);
        memset(r->versions[v].artifact_hash, 'a' + v, 64);
        r->versions[v].rows = 500 * n_win;
    }
    r->n_groups = n_win;
    r->groups = cairn_calloc(n_win, sizeof *r->groups);
    assert_non_null(r->groups);
    for (size_t w = 0; w < n_win; w++) {
        cairn_monitor_group *g = &r->groups[w];
        g->start_us = t0 + (int64_t)w * day;
        g->end_us = g->start_us + day;
        g->version = w < n_win / 2 ? 1 : 2;
        g->rows = 1000;
        g->labelled = 400;
        g->latency_p50_ms = 0.4 + 0.01 * (double)w;
        g->latency_p95_ms = 1.2;
        g->latency_p99_ms = 3 + (double)(w % 3);
        g->positive_rate = 0.25 + 0.005 * (double)w;
        g->ref_positive_rate = 0.25;
        g->n_features = n_feat;
        g->features = cairn_calloc(n_feat, sizeof *g->features);
        assert_non_null(g->features);
        for (size_t i = 0; i < n_feat; i++) {
            char name[64];
            snprintf(name, sizeof name, "feature_%03zu", i);
            double shift = i == 0 ? 0.02 * (double)w : 0.001 * (double)((i + w) % 7);
            cairn_drift_severity sev = shift >= 0.2 ? CAIRN_DRIFT_ALERT
                                       : shift >= 0.1 ? CAIRN_DRIFT_WARN
                                                      : CAIRN_DRIFT_OK;
            mk_feature(&g->features[i], i == 0 ? EVIL : name, i % 10 == 9 ? 51 : 10, shift, sev);
        }
        g->has_prediction = true;
        mk_feature(&g->prediction, "prediction", 10, 0.01, CAIRN_DRIFT_OK);
        g->n_metrics = 1;
        snprintf(g->metrics[0].name, sizeof g->metrics[0].name, "auc");
        g->metrics[0].value = 0.84 - 0.002 * (double)w;
        g->metrics[0].lo = g->metrics[0].value - 0.02;
        g->metrics[0].hi = g->metrics[0].value + 0.02;
        g->metrics[0].train = 0.85;
        g->metrics[0].higher_is_better = true;
        g->severity = CAIRN_DRIFT_OK;
    }
    r->n_alerts = 2;
    r->alerts = cairn_calloc(2, sizeof *r->alerts);
    assert_non_null(r->alerts);
    r->alerts[0] = (cairn_monitor_alert){.kind = CAIRN_ALERT_FEATURE_DRIFT,
                                         .severity = CAIRN_DRIFT_ALERT,
                                         .group = (long)n_win - 1, .value = 0.5,
                                         .threshold = 0.2};
    r->alerts[0].subject = xstrdup(EVIL);
    r->alerts[0].statistic = xstrdup("psi");
    r->alerts[0].message = xstrdup("drift in " EVIL);
    r->alerts[1] = (cairn_monitor_alert){.kind = CAIRN_ALERT_DROPPED_RECORDS,
                                         .severity = CAIRN_DRIFT_WARN, .group = -1, .value = 3,
                                         .threshold = 0};
    r->alerts[1].subject = xstrdup("dropped_records");
    r->alerts[1].statistic = xstrdup("count");
    r->alerts[1].message = xstrdup("3 records dropped");
    r->severity = CAIRN_DRIFT_ALERT;
}

static void test_monitor_small(void **state)
{
    (void)state;
    cairn_monitor_result r;
    mk_result(&r, 3, 4);
    cairn_buf b;
    cairn_buf_init(&b);
    assert_int_equal(cairn_report_monitor_html(&r, NULL, &b, NULL), CAIRN_OK);
    const char *h = b.data;
    assert_self_contained(h);
    static const char *const ids[] = {"drift-heatmap", "prediction-hist", "positive-rate",
                                      "perf-auc", "latency-chart", "rows", "hist-0", "hist-1",
                                      "hist-2"};
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(ids); i++) {
        char want[64];
        snprintf(want, sizeof want, "<figure class=\"chart\" id=\"%s\">", ids[i]);
        assert_has(h, want);
    }
    assert_null(strstr(h, "id=\"hist-3\""));
    assert_null(strstr(h, EVIL));
    assert_true(count(h, EVIL_ESCAPED) >= 4);   /* heatmap, table, histogram, alert */
    /* The most drifting feature (the EVIL one, PSI 0.06 in the last window) sorts first:
       hist-0 is its histogram, drawn from the latest window (2025-01-04). */
    const char *h0 = strstr(h, "id=\"hist-0\"");
    assert_non_null(h0);
    assert_non_null(strstr(h0, "&lt;script&gt;"));
    assert_true(strstr(h0, "&lt;script&gt;") < strstr(h0, "</figure>"));
    assert_has(h, "current 2025-01-04 v2");
    assert_has(h, "3 records dropped");
    assert_int_equal(python_check(h, b.len), 9);
    cairn_buf_reset(&b);

    /* An empty result (no records) still renders, with notes. */
    cairn_monitor_result e;
    cairn_monitor_result_init(&e);
    e.model = xstrdup("m");
    e.severity = CAIRN_DRIFT_NODATA;
    assert_int_equal(cairn_report_monitor_html(&e, "2025-01-01T00:00:00Z", &b, NULL), CAIRN_OK);
    assert_self_contained(b.data);
    assert_has(b.data, "No record of this model in the range.");
    assert_int_equal(python_check(b.data, b.len), 0);
    cairn_buf_reset(&b);
    cairn_monitor_result_reset(&e);

    /* Allocation failures, each in turn: ENOMEM, never a crash or a leak. */
    for (long n = 1;; n++) {
        cairn_error err = {0};
        cairn_alloc_fail_after(n, true);
        cairn_status st = cairn_report_monitor_html(&r, NULL, &b, &err);
        cairn_alloc_fail_after(0, false);
        cairn_buf_reset(&b);
        if (st == CAIRN_OK)
            break;
        assert_int_equal(st, CAIRN_ENOMEM);
        assert_true(n < 100000);
    }
    cairn_monitor_result_reset(&r);
}

/* 100 features (every tenth a 51-bin category) x 30 daily windows: under 2 MB. */
static void test_monitor_size(void **state)
{
    (void)state;
    cairn_monitor_result r;
    mk_result(&r, 100, 30);
    cairn_buf b;
    cairn_buf_init(&b);
    assert_int_equal(cairn_report_monitor_html(&r, "2025-02-01T00:00:00Z", &b, NULL), CAIRN_OK);
    print_message("monitor report, 100 features x 30 windows: %zu bytes\n", b.len);
    assert_true(b.len < 2u * 1024 * 1024);
    assert_self_contained(b.data);
    assert_has(b.data, "id=\"hist-99\"");
    assert_int_equal(count(b.data, "<figure class=\"chart\" id=\"hist-"), 100);
    /* One heatmap cell per feature and window, plus the prediction row. */
    const char *hm = strstr(b.data, "id=\"drift-heatmap\"");
    const char *end = strstr(hm, "</figure>");
    size_t cells = 0;
    const char *cell = "stroke=\"#fff\" stroke-width=\".5\"><title>";
    for (const char *p = strstr(hm, cell); p && p < end; p = strstr(p + 1, cell))
        cells++;
    assert_int_equal(cells, 101 * 30);
    assert_int_equal(python_check(b.data, b.len), 100 + 6);
    cairn_buf_reset(&b);
    cairn_monitor_result_reset(&r);

    /* A year of daily windows: the heatmap keeps the latest 60, the page stays small. */
    mk_result(&r, 100, 365);
    assert_int_equal(cairn_report_monitor_html(&r, NULL, &b, NULL), CAIRN_OK);
    print_message("monitor report, 100 features x 365 windows: %zu bytes\n", b.len);
    assert_true(b.len < 2u * 1024 * 1024);
    hm = strstr(b.data, "id=\"drift-heatmap\"");
    end = strstr(hm, "</figure>");
    cells = 0;
    for (const char *p = strstr(hm, cell); p && p < end; p = strstr(p + 1, cell))
        cells++;
    assert_int_equal(cells, 101 * 60);
    assert_has(b.data, "The heatmap shows the latest 60 of 365 windows");
    cairn_buf_reset(&b);
    cairn_monitor_result_reset(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_roc_pr_hand),
        cmocka_unit_test(test_roc_pr_areas),
        cmocka_unit_test(test_run_binary),
        cmocka_unit_test(test_run_regression_multiclass),
        cmocka_unit_test(test_monitor_small),
        cmocka_unit_test(test_monitor_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
