/*
 * run_report.c -- `cairn report RUN`: one HTML page about a training run.
 *
 * What it reads: the stored run (its evaluation JSON: metrics with
 * intervals, the calibration table, confusion counts and slices; its spec,
 * split, build and lineage fields), the review of the run (review/govern.h:
 * verdict, findings sorted by severity, gates, the production comparison),
 * and the run's own test part rebuilt and scored (pipeline/train.h), from
 * which come the ROC and precision-recall curves, the multiclass confusion
 * matrix, the regression scatter and residuals, and permutation importance.
 * Nothing is re-evaluated that the run already recorded: metric values,
 * intervals, the binary confusion and calibration are the run's own.
 *
 * A part that cannot be had (the dataset version was deleted, the review
 * cannot be made) becomes a note in its section: a report of an old run is
 * still worth having without its curves.
 */
#include "report/report.h"

#include "eval/eval.h"
#include "review/govern.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IMPORTANCE_ROWS 5000    /* test rows used for permutation importance, at most */
#define IMPORTANCE_REPEATS 3
#define IMPORTANCE_CHART_MAX 30 /* features drawn; the table has all of them */
#define SCATTER_MAX 1500        /* points of the predicted-vs-actual scatter */
#define RESIDUAL_BINS 30
#define CONFUSION_MAX 30        /* classes drawn in the multiclass matrix */

/* ---- curves ----------------------------------------------------------------------------- */

typedef struct scored {
    double s, y;
} scored;

static int by_score_desc(const void *a, const void *b)
{
    double x = ((const scored *)a)->s, y = ((const scored *)b)->s;
    return x > y ? -1 : x < y ? 1 : 0;
}

/*
 * The shared walk of ROC and PR: rows sorted by score, descending; after each
 * run of tied scores, the cumulative true and false positives. *tp and *fp get
 * *m counts (one per distinct score).
 */
static cairn_status cum_counts(const double *score, const double *y, size_t n, double **tp_out,
                               double **fp_out, size_t *m, double *n_pos, cairn_error *err)
{
    scored *v = NULL;
    double *tp = NULL, *fp = NULL;
    cairn_status st = CAIRN_OK;
    *tp_out = *fp_out = NULL;
    *m = 0;
    if (n == 0)
        return cairn_error_set(err, CAIRN_EINVAL, "report", "no rows to draw a curve from");
    v = cairn_malloc(n * sizeof *v);
    tp = cairn_malloc(n * sizeof *tp);
    fp = cairn_malloc(n * sizeof *fp);
    if (!v || !tp || !fp) {
        st = cairn_error_set(err, CAIRN_ENOMEM, "report", "out of memory");
        goto done;
    }
    double pos = 0;
    for (size_t i = 0; i < n; i++) {
        v[i].s = score[i];
        v[i].y = y[i] > 0.5 ? 1 : 0;
        pos += v[i].y;
    }
    if (pos == 0 || pos == (double)n) {
        st = cairn_error_set(err, CAIRN_EINVAL, "report", "the rows have one class only");
        goto done;
    }
    qsort(v, n, sizeof *v, by_score_desc);
    double t = 0, f = 0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        t += v[i].y;
        f += 1 - v[i].y;
        if (i + 1 == n || v[i + 1].s != v[i].s) {
            tp[k] = t;
            fp[k] = f;
            k++;
        }
    }
    *tp_out = tp;
    *fp_out = fp;
    tp = fp = NULL;
    *m = k;
    *n_pos = pos;
done:
    cairn_free(v);
    cairn_free(tp);
    cairn_free(fp);
    return st;
}

/* The points of the ROC curve (x = fpr, y = tpr, from (0, 0)) or, with pr, of the
 * precision-recall curve (x = recall, y = precision, from scikit-learn's (0, 1)). */
static cairn_status curve(const double *score, const double *y, size_t n, bool pr, double **xo,
                          double **yo, size_t *m, cairn_error *err)
{
    double *tp = NULL, *fp = NULL, pos = 0;
    size_t k = 0;
    *xo = *yo = NULL;
    *m = 0;
    cairn_status st = cum_counts(score, y, n, &tp, &fp, &k, &pos, err);
    if (st != CAIRN_OK)
        return st;
    double *x = cairn_malloc((k + 1) * sizeof *x), *yy = cairn_malloc((k + 1) * sizeof *yy);
    if (!x || !yy) {
        cairn_free(x);
        cairn_free(yy);
        cairn_free(tp);
        cairn_free(fp);
        return cairn_error_set(err, CAIRN_ENOMEM, "report", "out of memory");
    }
    x[0] = 0;
    yy[0] = pr ? 1 : 0;
    double neg = (double)n - pos;
    for (size_t i = 0; i < k; i++) {
        x[i + 1] = pr ? tp[i] / pos : fp[i] / neg;
        yy[i + 1] = pr ? tp[i] / (tp[i] + fp[i]) : tp[i] / pos;
    }
    cairn_free(tp);
    cairn_free(fp);
    *xo = x;
    *yo = yy;
    *m = k + 1;
    return CAIRN_OK;
}

cairn_status cairn_report_roc(const double *score, const double *y, size_t n, double **fpr,
                              double **tpr, size_t *m, cairn_error *err)
{
    return curve(score, y, n, false, fpr, tpr, m, err);
}

cairn_status cairn_report_pr(const double *score, const double *y, size_t n, double **recall,
                             double **precision, size_t *m, cairn_error *err)
{
    return curve(score, y, n, true, recall, precision, m, err);
}

/* ---- permutation importance --------------------------------------------------------------- */

void cairn_report_importance_free(cairn_report_importance *v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        cairn_free(v[i].name);
    cairn_free(v);
}

/* The input column an output feature comes from: the longest input name that equals
 * the output's name or prefixes it followed by "__" or "=" (transform.h's naming). */
static long input_of(const cairn_transform *tf, const char *out_name)
{
    long best = -1;
    size_t best_len = 0;
    for (size_t j = 0; j < cairn_transform_n_inputs(tf); j++) {
        const char *in = cairn_transform_input_name(tf, j);
        size_t len = strlen(in);
        if (strncmp(out_name, in, len) != 0)
            continue;
        const char *rest = out_name + len;
        if ((*rest == '\0' || strncmp(rest, "__", 2) == 0 || *rest == '=') &&
            (best < 0 || len > best_len)) {
            best = (long)j;
            best_len = len;
        }
    }
    return best;
}

/* The task's primary metric on rows x (n x d) scored by the model, oriented so that
 * larger is better (rmse negated). */
static double primary_metric(cairn_task task, const cairn_trees *trees, const cairn_linear *linear,
                             const double *x, size_t n, size_t d, size_t k, const double *y,
                             double *p, uint8_t *y01, uint32_t *yc)
{
    if (trees) {
        for (size_t i = 0; i < n; i++)
            cairn_trees_predict(trees, x + i * d, p + i * k);
    } else {
        cairn_linear_predict_batch(linear, x, n, p);
    }
    switch (task) {
    case CAIRN_TASK_BINARY:
        for (size_t i = 0; i < n; i++)
            y01[i] = y[i] > 0.5;
        return cairn_metric_auc(p, y01, n);
    case CAIRN_TASK_MULTICLASS:
        for (size_t i = 0; i < n; i++)
            yc[i] = (uint32_t)y[i];
        return cairn_metric_mc_accuracy(p, yc, n, k);
    default:
        return -cairn_metric_rmse(p, y, n);
    }
}

static int by_value_desc(const void *a, const void *b)
{
    const cairn_report_importance *x = a, *y = b;
    if (x->value != y->value)
        return x->value > y->value ? -1 : 1;
    return strcmp(x->name, y->name);
}

cairn_status cairn_report_permutation_importance(const cairn_test_part *tp,
                                                 const cairn_transform *tf,
                                                 const cairn_trees *trees,
                                                 const cairn_linear *linear, uint64_t seed,
                                                 cairn_report_importance **out, size_t *n_out,
                                                 cairn_error *err)
{
    double *X = NULL, *x = NULL, *y = NULL, *p = NULL;
    size_t *rowmap = NULL;
    uint8_t *y01 = NULL;
    uint32_t *yc = NULL;
    long *group = NULL;
    size_t *perm = NULL;
    cairn_report_importance *imp = NULL;
    size_t n_all = 0, n_imp = 0;
    cairn_status st;
    *out = NULL;
    *n_out = 0;
    size_t d = cairn_transform_n_out(tf);
    size_t k = tp->task == CAIRN_TASK_MULTICLASS ? tp->n_classes : 1;
    size_t n_in = cairn_transform_n_inputs(tf);
    if ((trees && (trees->n_features != d || cairn_trees_n_scores(trees) != k)) ||
        (!trees && (!linear || linear->n_features != d || cairn_linear_n_outputs(linear) != k)))
        return cairn_error_set(err, CAIRN_EINVAL, "report",
                               "the model does not fit its transform (%zu features)", d);
    st = cairn_transform_apply(tf, tp->frame, tp->part, CAIRN_PART_TEST, &X, &n_all, err);
    if (st != CAIRN_OK)
        return st;
    if (n_all != tp->n || n_all == 0 || d == 0) {
        st = cairn_error_set(err, CAIRN_EINVAL, "report", "no test rows to permute");
        goto done;
    }
    /* Rows taken evenly across the test part, so a time-ordered part is covered whole. */
    size_t n = n_all < IMPORTANCE_ROWS ? n_all : IMPORTANCE_ROWS;
    x = cairn_malloc(n * d * sizeof *x);
    y = cairn_malloc(n * sizeof *y);
    p = cairn_malloc(n * k * sizeof *p);
    rowmap = cairn_malloc(n * sizeof *rowmap);
    y01 = cairn_malloc(n);
    yc = cairn_malloc(n * sizeof *yc);
    group = cairn_malloc(d * sizeof *group);
    perm = cairn_malloc(n * sizeof *perm);
    imp = cairn_calloc(n_in ? n_in : 1, sizeof *imp);
    if (!x || !y || !p || !rowmap || !y01 || !yc || !group || !perm || !imp) {
        st = cairn_error_set(err, CAIRN_ENOMEM, "report", "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        size_t r = (size_t)((double)i * (double)n_all / (double)n);
        rowmap[i] = r;
        memcpy(x + i * d, X + r * d, d * sizeof *x);
        y[i] = tp->y[r];
    }
    for (size_t j = 0; j < d; j++)
        group[j] = input_of(tf, cairn_transform_feature_name(tf, j));
    double base = primary_metric(tp->task, trees, linear, x, n, d, k, y, p, y01, yc);
    cairn_rng rng;
    cairn_rng_init(&rng, seed ^ 0x696d706f7274616eull);   /* "importan" */
    for (size_t g = 0; g < n_in; g++) {
        imp[n_imp].name = cairn_strdup(cairn_transform_input_name(tf, g));
        if (!imp[n_imp].name) {
            st = cairn_error_set(err, CAIRN_ENOMEM, "report", "out of memory");
            goto done;
        }
        bool any = false;
        for (size_t j = 0; j < d; j++)
            any = any || group[j] == (long)g;
        double sum = 0;
        int used = 0;
        for (int rep = 0; any && rep < IMPORTANCE_REPEATS; rep++) {
            /* Fisher-Yates; the same permutation moves every output of the column, so
               a one-hot group stays one-hot. */
            for (size_t i = 0; i < n; i++)
                perm[i] = i;
            for (size_t i = n - 1; i > 0; i--) {
                size_t r = (size_t)cairn_rng_below(&rng, i + 1);
                size_t t = perm[i];
                perm[i] = perm[r];
                perm[r] = t;
            }
            /* Shuffled values come from the untouched rows in X (row rowmap[i] of the
               test part is row i of x); afterwards x gets its own values back. */
            for (size_t j = 0; j < d; j++)
                if (group[j] == (long)g)
                    for (size_t i = 0; i < n; i++)
                        x[i * d + j] = X[rowmap[perm[i]] * d + j];
            double m = primary_metric(tp->task, trees, linear, x, n, d, k, y, p, y01, yc);
            for (size_t j = 0; j < d; j++)
                if (group[j] == (long)g)
                    for (size_t i = 0; i < n; i++)
                        x[i * d + j] = X[rowmap[i] * d + j];
            if (isfinite(m) && isfinite(base)) {
                sum += base - m;
                used++;
            }
        }
        imp[n_imp].value = used ? sum / used : NAN;
        n_imp++;
    }
    qsort(imp, n_imp, sizeof *imp, by_value_desc);
    *out = imp;
    *n_out = n_imp;
    imp = NULL;
    st = CAIRN_OK;
done:
    cairn_report_importance_free(imp, n_imp);
    cairn_free(X);
    cairn_free(x);
    cairn_free(y);
    cairn_free(p);
    cairn_free(rowmap);
    cairn_free(y01);
    cairn_free(yc);
    cairn_free(group);
    cairn_free(perm);
    return st;
}

/* ---- JSON access that tolerates anything ------------------------------------------------ */

static const cJSON *jget(const cJSON *o, const char *key)
{
    return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
}

static const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *v = jget(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double jnum(const cJSON *o, const char *key)
{
    const cJSON *v = jget(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static cJSON *parse(const char *text)
{
    return text ? cJSON_ParseWithOpts(text, NULL, 1) : NULL;
}

/* ---- sections ------------------------------------------------------------------------------- */

static void kv_row(cairn_buf *b, const char *key, const char *value)
{
    cairn_html_row_begin(b);
    cairn_html_cell(b, key, false);
    cairn_html_cell(b, value && *value ? value : "-", false);
    cairn_html_row_end(b);
}

static void kv_num(cairn_buf *b, const char *key, double v, int digits)
{
    char s[48];
    cairn_report_fmt(s, sizeof s, v, digits);
    kv_row(b, key, s);
}

static const char *verdict_class(cairn_verdict v)
{
    return v == CAIRN_VERDICT_BLOCK ? "sev-alert" : v == CAIRN_VERDICT_WARN ? "sev-warn" : "sev-ok";
}

static void header(cairn_buf *b, const cairn_run_report_input *in, const cJSON *ev)
{
    const cairn_run_record *r = in->run;
    cairn_buf_puts(b, "<header><h1>Run ");
    cairn_html_escape(b, r->id);
    cairn_buf_puts(b, ": ");
    cairn_html_escape(b, r->model);
    cairn_buf_puts(b, "</h1><p>");
    cairn_html_escape(b, jstr(jget(ev, "model"), "task"));
    cairn_buf_puts(b, " &middot; ");
    cairn_html_escape(b, r->model_type);
    cairn_buf_puts(b, " &middot; data ");
    cairn_html_escape(b, r->dataset_name);
    cairn_buf_printf(b, "@%d &middot; started ", r->dataset_version);
    cairn_html_escape(b, r->started_at);
    if (in->review) {
        cairn_buf_printf(b, " &middot; <span class=\"verdict %s\">",
                         verdict_class(in->review->verdict));
        cairn_html_escape(b, cairn_verdict_name(in->review->verdict));
        cairn_buf_puts(b, "</span>");
    }
    if (in->generated_at) {
        cairn_buf_puts(b, " &middot; report written ");
        cairn_html_escape(b, in->generated_at);
    }
    cairn_buf_puts(b, "</p><nav><a href=\"#summary\">Summary</a><a href=\"#metrics\">Metrics</a>"
                      "<a href=\"#curves\">Curves</a><a href=\"#confusion\">Confusion</a>"
                      "<a href=\"#slices\">Slices</a><a href=\"#importance\">Importance</a>"
                      "<a href=\"#findings\">Findings</a><a href=\"#lineage\">Lineage</a></nav>"
                      "</header>\n");
}

static void summary(cairn_buf *b, const cairn_run_report_input *in)
{
    cairn_html_section_begin(b, "summary", "Verdict");
    const cairn_review *rv = in->review;
    if (!rv) {
        cairn_html_note(b, in->review_note ? in->review_note : "No review could be made.");
        cairn_html_section_end(b);
        return;
    }
    cairn_buf_printf(b, "<p><span class=\"verdict %s\">", verdict_class(rv->verdict));
    cairn_html_escape(b, cairn_verdict_name(rv->verdict));
    cairn_buf_puts(b, "</span></p>\n<p>");
    cairn_html_escape(b, rv->summary);
    cairn_buf_puts(b, "</p>\n");
    if (rv->n_gates) {
        cairn_buf_puts(b, "<h3>Gates</h3>\n");
        static const char *const hd[] = {"gate", "op", "threshold", "value", "status"};
        cairn_html_table_begin(b, "gates", hd, 5);
        for (size_t i = 0; i < rv->n_gates; i++) {
            const cairn_gate_result *g = &rv->gates[i];
            char t[48], v[48];
            cairn_report_fmt(t, sizeof t, g->threshold, 4);
            cairn_report_fmt(v, sizeof v, g->value, 4);
            cairn_html_row_begin(b);
            cairn_html_cell(b, g->metric, false);
            cairn_html_cell(b, g->op, false);
            cairn_html_cell(b, t, true);
            cairn_html_cell(b, v, true);
            cairn_html_cell_class(b, cairn_gate_status_name(g->status),
                                  g->status == CAIRN_GATE_FAIL || g->status == CAIRN_GATE_MISSING
                                      ? "sev-alert"
                                      : "sev-ok");
            cairn_html_row_end(b);
        }
        cairn_html_table_end(b);
    } else {
        cairn_html_note(b, "No gates were declared.");
    }
    if (rv->compare) {
        const cairn_compare_result *c = rv->compare;
        cairn_buf_printf(b, "<h3>Against production (version %d)</h3>\n", rv->production_version);
        static const char *const hd[] = {"metric", "this run", "production", "gain [95% interval]"};
        cairn_html_table_begin(b, "production", hd, 4);
        for (size_t i = 0; i < c->n_metrics; i++) {
            const cairn_compare_metric *m = &c->metrics[i];
            char a[48], p[48], g[96];
            cairn_report_fmt(a, sizeof a, m->candidate, 4);
            cairn_report_fmt(p, sizeof p, m->production, 4);
            cairn_report_fmt_interval(g, sizeof g, m->gain.estimate, m->gain.lo, m->gain.hi, 4);
            cairn_html_row_begin(b);
            cairn_html_cell(b, m->name, false);
            cairn_html_cell(b, a, true);
            cairn_html_cell(b, p, true);
            cairn_html_cell(b, g, true);
            cairn_html_row_end(b);
        }
        cairn_html_table_end(b);
    } else if (in->compare_note && *in->compare_note) {
        cairn_buf_puts(b, "<p class=\"note\">No comparison with production: ");
        cairn_html_escape(b, in->compare_note);
        cairn_buf_puts(b, "</p>\n");
    }
    cairn_html_section_end(b);
}

static void metric_cell(cairn_buf *b, const cJSON *m)
{
    char s[96];
    cairn_report_fmt_interval(s, sizeof s, jnum(m, "estimate"), jnum(m, "lo"), jnum(m, "hi"), 4);
    cairn_html_cell(b, s, true);
}

static void metrics(cairn_buf *b, const cJSON *ev)
{
    const cJSON *model = jget(ev, "model"), *base = jget(ev, "baseline");
    cairn_html_section_begin(b, "metrics", "Test metrics");
    char line[160];
    snprintf(line, sizeof line, "%.0f test rows; 95%% percentile bootstrap intervals over %.0f "
                                "resamples.",
             jnum(model, "n"), jnum(ev, "bootstrap"));
    cairn_buf_puts(b, "<p>");
    cairn_html_escape(b, line);
    double th = jnum(jget(ev, "threshold"), "value");
    if (isfinite(th)) {
        char t[48];
        cairn_report_fmt(t, sizeof t, th, 4);
        cairn_buf_puts(b, " Threshold ");
        cairn_html_escape(b, t);
        cairn_buf_puts(b, " (");
        cairn_html_escape(b, jstr(jget(ev, "threshold"), "by"));
        cairn_buf_puts(b, ", chosen on the ");
        cairn_html_escape(b, jstr(jget(ev, "threshold"), "chosen_on"));
        cairn_buf_puts(b, " part).");
    }
    cairn_buf_puts(b, "</p>\n");
    static const char *const hd[] = {"metric", "model [95% interval]", "baseline [95% interval]",
                                     "better"};
    cairn_html_table_begin(b, "metrics-table", hd, 4);
    const cJSON *m;
    cJSON_ArrayForEach(m, jget(model, "metrics"))
    {
        if (!m->string)
            continue;
        cairn_html_row_begin(b);
        cairn_html_cell(b, m->string, false);
        metric_cell(b, m);
        metric_cell(b, jget(jget(base, "metrics"), m->string));
        cairn_html_cell(b, cairn_metric_higher_is_better(m->string) ? "higher" : "lower", false);
        cairn_html_row_end(b);
    }
    cairn_html_table_end(b);
    cairn_html_section_end(b);
}

static void reliability(cairn_buf *b, const cJSON *model)
{
    const cJSON *cal = jget(model, "calibration");
    size_t n = (size_t)cJSON_GetArraySize(cal);
    if (!cJSON_IsArray(cal) || n == 0)
        return;
    double x[64], y[64], cnt[64], mid[64];
    size_t k = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cal)
    {
        if (k == 64)
            break;
        x[k] = jnum(c, "mean_p");
        y[k] = jnum(c, "rate");
        cnt[k] = jnum(c, "count");
        mid[k] = (jnum(c, "lo") + jnum(c, "hi")) / 2;
        k++;
    }
    double total = 0;
    for (size_t i = 0; i < k; i++)
        total += isfinite(cnt[i]) ? cnt[i] : 0;
    for (size_t i = 0; i < k; i++)
        cnt[i] = total > 0 && isfinite(cnt[i]) ? cnt[i] / total : NAN;
    cairn_chart ch;
    cairn_chart_init(&ch, "Reliability", "mean predicted probability", "observed rate");
    ch.x_min = ch.y_min = 0;
    ch.x_max = ch.y_max = 1;
    ch.diagonal = true;
    cairn_series s[3] = {
        {.name = "observed", .x = x, .y = y, .n = k, .kind = CAIRN_SERIES_LINE, .color = 0},
        {.name = NULL, .x = x, .y = y, .n = k, .kind = CAIRN_SERIES_POINTS, .color = 0},
        {.name = "share of rows", .x = mid, .y = cnt, .n = k, .kind = CAIRN_SERIES_POINTS,
         .color = 2},
    };
    cairn_html_figure_begin(b, "reliability");
    cairn_svg_xy(b, &ch, s, 3);
    cairn_html_figure_end(b, "Observed positive rate against the mean predicted probability "
                             "in ten equal-width bins of the test part (the dashed diagonal "
                             "is perfect calibration); green dots: the share of rows per bin.");
}

static void binary_curves(cairn_buf *b, const cairn_report_scores *sc, const cJSON *model)
{
    double *fx = NULL, *fy = NULL, *rx = NULL, *ry = NULL;
    size_t m1 = 0, m2 = 0;
    cairn_error e = {0};
    if (cairn_report_roc(sc->score, sc->y, sc->n, &fx, &fy, &m1, &e) == CAIRN_OK &&
        cairn_report_pr(sc->score, sc->y, sc->n, &rx, &ry, &m2, &e) == CAIRN_OK) {
        char title[96];
        char auc[40], ap[40];
        cairn_report_fmt(auc, sizeof auc, jnum(jget(jget(model, "metrics"), "auc"), "estimate"), 4);
        cairn_report_fmt(ap, sizeof ap, jnum(jget(jget(model, "metrics"), "pr_auc"), "estimate"), 4);
        cairn_chart ch;
        snprintf(title, sizeof title, "ROC (AUC %s)", auc);
        cairn_chart_init(&ch, title, "false positive rate", "true positive rate");
        ch.x_min = ch.y_min = 0;
        ch.x_max = ch.y_max = 1;
        ch.diagonal = true;
        cairn_series s = {.name = "model", .x = fx, .y = fy, .n = m1, .kind = CAIRN_SERIES_LINE};
        cairn_html_figure_begin(b, "roc");
        cairn_svg_xy(b, &ch, &s, 1);
        cairn_html_figure_end(b, "ROC curve on the test part, one point per distinct score; "
                                 "the diagonal is a random ranking.");

        double pos = 0;
        for (size_t i = 0; i < sc->n; i++)
            pos += sc->y[i] > 0.5;
        double prev = pos / (double)sc->n;
        double px[2] = {0, 1}, py[2] = {prev, prev};
        snprintf(title, sizeof title, "Precision-recall (AP %s)", ap);
        cairn_chart_init(&ch, title, "recall", "precision");
        ch.x_min = ch.y_min = 0;
        ch.x_max = ch.y_max = 1;
        cairn_series ps[2] = {
            {.name = "model", .x = rx, .y = ry, .n = m2, .kind = CAIRN_SERIES_STEP, .color = 0},
            {.name = "positive rate", .x = px, .y = py, .n = 2, .kind = CAIRN_SERIES_LINE,
             .color = 1, .dashed = true},
        };
        cairn_html_figure_begin(b, "pr");
        cairn_svg_xy(b, &ch, ps, 2);
        cairn_html_figure_end(b, "Precision against recall on the test part; the dashed line is "
                                 "the positive rate (a model that ranks at random).");
    } else {
        cairn_html_note(b, e.msg);
    }
    cairn_free(fx);
    cairn_free(fy);
    cairn_free(rx);
    cairn_free(ry);
}

static void regression_curves(cairn_buf *b, const cairn_report_scores *sc)
{
    size_t n = sc->n, m = n < SCATTER_MAX ? n : SCATTER_MAX;
    double *ax = cairn_malloc((m ? m : 1) * sizeof *ax), *ay = cairn_malloc((m ? m : 1) * sizeof *ay);
    double *res = cairn_malloc((n ? n : 1) * sizeof *res);
    if (!ax || !ay || !res) {
        cairn_html_note(b, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < m; i++) {
        size_t r = (size_t)((double)i * (double)n / (double)m);
        ax[i] = sc->y[r];
        ay[i] = sc->score[r];
    }
    cairn_chart ch;
    cairn_chart_init(&ch, "Predicted against actual", "actual", "predicted");
    ch.diagonal = true;
    cairn_series s = {.name = NULL, .x = ax, .y = ay, .n = m, .kind = CAIRN_SERIES_POINTS};
    cairn_html_figure_begin(b, "predicted");
    cairn_svg_xy(b, &ch, &s, 1);
    cairn_html_figure_end(b, "Each dot a test row (at most 1,500, taken evenly); the dashed "
                             "diagonal is a perfect prediction.");

    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        res[i] = sc->score[i] - sc->y[i];
        if (isfinite(res[i])) {
            lo = fmin(lo, res[i]);
            hi = fmax(hi, res[i]);
        }
    }
    if (!(hi > lo)) {
        hi = lo + 1;
    }
    double counts[RESIDUAL_BINS] = {0};
    char labels_buf[RESIDUAL_BINS][48];
    const char *labels[RESIDUAL_BINS];
    double w = (hi - lo) / RESIDUAL_BINS;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(res[i]))
            continue;
        size_t k = (size_t)((res[i] - lo) / w);
        counts[k < RESIDUAL_BINS ? k : RESIDUAL_BINS - 1] += 1;
    }
    for (size_t k = 0; k < RESIDUAL_BINS; k++) {
        snprintf(labels_buf[k], sizeof labels_buf[k], "%.3g", lo + w * ((double)k + 0.5));
        labels[k] = labels_buf[k];
    }
    const double *vals[1] = {counts};
    cairn_chart_init(&ch, "Residuals (predicted - actual)", "residual (bin centre)", "rows");
    cairn_html_figure_begin(b, "residuals");
    cairn_svg_bars(b, &ch, labels, RESIDUAL_BINS, vals, NULL, 1);
    cairn_html_figure_end(b, "Distribution of the residuals on the test part.");
done:
    cairn_free(ax);
    cairn_free(ay);
    cairn_free(res);
}

static void curves(cairn_buf *b, const cairn_run_report_input *in, const cJSON *model,
                   const char *task)
{
    cairn_html_section_begin(b, "curves", "Curves");
    cairn_buf_puts(b, "<div class=\"charts\">\n");
    bool binary = task && strcmp(task, "binary") == 0;
    const cairn_report_scores *sc = in->scores;
    if (sc && sc->n > 0 && binary)
        binary_curves(b, sc, model);
    else if (sc && sc->n > 0 && sc->task == CAIRN_TASK_REGRESSION)
        regression_curves(b, sc);
    if (binary)
        reliability(b, model);
    cairn_buf_puts(b, "</div>\n");
    if (!sc)
        cairn_html_note(b, in->scores_note ? in->scores_note
                                           : "The test part could not be scored: no curves.");
    else if (sc->task == CAIRN_TASK_MULTICLASS)
        cairn_html_note(b, "Multiclass: see the confusion matrix.");
    cairn_html_section_end(b);
}

static void confusion(cairn_buf *b, const cairn_run_report_input *in, const cJSON *ev,
                      const char *task)
{
    cairn_html_section_begin(b, "confusion", "Confusion matrix");
    const cJSON *model = jget(ev, "model");
    if (task && strcmp(task, "binary") == 0) {
        const cJSON *c = jget(model, "confusion");
        double v[4] = {jnum(c, "tn"), jnum(c, "fp"), jnum(c, "fn"), jnum(c, "tp")};
        const char *pos = jstr(ev, "positive");
        char neg_label[160], pos_label[160];
        snprintf(neg_label, sizeof neg_label, "not %s", pos ? pos : "positive");
        snprintf(pos_label, sizeof pos_label, "%s", pos ? pos : "positive");
        const char *rows[2] = {neg_label, pos_label};
        cairn_heat h = {.row_labels = rows, .col_labels = rows, .n_rows = 2, .n_cols = 2,
                        .v = v, .warn = NAN, .alert = NAN, .show_values = true,
                        .value_digits = 0};
        cairn_chart ch;
        cairn_chart_init(&ch, "Confusion at the threshold", "predicted", "actual");
        ch.width = 420;
        ch.height = 260;
        cairn_html_figure_begin(b, "confusion-matrix");
        cairn_svg_heatmap(b, &ch, &h);
        cairn_html_figure_end(b, "Test rows by actual class (rows) and predicted class "
                                 "(columns) at the run's threshold.");
    } else if (task && strcmp(task, "multiclass") == 0 && in->scores && in->scores->n > 0 &&
               in->scores->n_classes >= 2) {
        const cairn_report_scores *sc = in->scores;
        size_t k = sc->n_classes, kk = k < CONFUSION_MAX ? k : CONFUSION_MAX;
        double *v = cairn_calloc(kk * kk, sizeof *v);
        if (!v) {
            cairn_html_note(b, "out of memory");
        } else {
            for (size_t i = 0; i < sc->n; i++) {
                size_t best = 0;
                for (size_t c = 1; c < k; c++)
                    if (sc->score[i * k + c] > sc->score[i * k + best])
                        best = c;
                size_t a = (size_t)sc->y[i];
                if (a < kk && best < kk)
                    v[a * kk + best] += 1;
            }
            cairn_heat h = {.row_labels = sc->class_names, .col_labels = sc->class_names,
                            .n_rows = kk, .n_cols = kk, .v = v, .warn = NAN, .alert = NAN,
                            .show_values = kk <= 12, .value_digits = 0};
            cairn_chart ch;
            cairn_chart_init(&ch, "Confusion (most probable class)", "predicted", "actual");
            ch.width = 200 + (int)kk * (kk <= 12 ? 48 : 22);
            ch.height = 110 + (int)kk * (kk <= 12 ? 36 : 18);
            cairn_html_figure_begin(b, "confusion-matrix");
            cairn_svg_heatmap(b, &ch, &h);
            cairn_html_figure_end(b, k > kk ? "Test rows by actual and predicted class (the "
                                              "first 30 classes)."
                                            : "Test rows by actual class (rows) and predicted "
                                              "class (columns).");
            cairn_free(v);
        }
    } else if (task && strcmp(task, "multiclass") == 0) {
        cairn_html_note(b, in->scores_note ? in->scores_note : "The test part could not be scored.");
    } else {
        cairn_html_note(b, "Not applicable to a regression model: see the residuals.");
    }
    cairn_html_section_end(b);
}

static void slices(cairn_buf *b, const cJSON *model, const char *task)
{
    cairn_html_section_begin(b, "slices", "Slices");
    const cJSON *sl = jget(model, "slices");
    if (!cJSON_IsArray(sl) || cJSON_GetArraySize(sl) == 0) {
        cairn_html_note(b, "The spec declared no evaluation slices.");
        cairn_html_section_end(b);
        return;
    }
    const char *names[4];
    size_t nm = 0;
    if (task && strcmp(task, "regression") == 0) {
        names[nm++] = "rmse";
        names[nm++] = "mae";
        names[nm++] = "r2";
    } else if (task && strcmp(task, "multiclass") == 0) {
        names[nm++] = "accuracy";
        names[nm++] = "macro_f1";
        names[nm++] = "logloss";
    } else {
        names[nm++] = "auc";
        names[nm++] = "logloss";
        names[nm++] = "accuracy";
        names[nm++] = "f1";
    }
    const char *hd[10] = {"column", "value", "rows", "positives", "small"};
    size_t nh = 5;
    char heads[4][64];
    for (size_t i = 0; i < nm; i++) {
        snprintf(heads[i], sizeof heads[i], "%s [95%% interval]", names[i]);
        hd[nh++] = heads[i];
    }
    cairn_html_table_begin(b, "slices-table", hd, nh);
    const cJSON *s;
    cJSON_ArrayForEach(s, sl)
    {
        char n[40], np[40];
        cairn_report_fmt(n, sizeof n, jnum(s, "n"), 0);
        cairn_report_fmt(np, sizeof np, jnum(s, "n_pos"), 0);
        bool small = cJSON_IsTrue(jget(s, "small"));
        cairn_html_row_begin(b);
        cairn_html_cell(b, jstr(s, "column"), false);
        cairn_html_cell(b, jstr(s, "value"), false);
        cairn_html_cell(b, n, true);
        cairn_html_cell(b, np, true);
        cairn_html_cell_class(b, small ? "small" : "", small ? "sev-warn" : "");
        for (size_t i = 0; i < nm; i++)
            metric_cell(b, jget(jget(s, "metrics"), names[i]));
        cairn_html_row_end(b);
    }
    cairn_html_table_end(b);
    cairn_html_note(b, "Small slices (too few rows, or fewer than 5 of a class) are reported "
                       "but their metrics are not reliable.");
    cairn_html_section_end(b);
}

static void importance(cairn_buf *b, const cairn_run_report_input *in)
{
    cairn_html_section_begin(b, "importance", "Feature importance");
    if (!in->importance || in->n_importance == 0) {
        cairn_html_note(b, in->scores_note ? in->scores_note
                                           : "Importance needs the scored test part.");
        cairn_html_section_end(b);
        return;
    }
    size_t n = in->n_importance < IMPORTANCE_CHART_MAX ? in->n_importance : IMPORTANCE_CHART_MAX;
    const char *labels[IMPORTANCE_CHART_MAX];
    double vals[IMPORTANCE_CHART_MAX];
    for (size_t i = 0; i < n; i++) {
        labels[i] = in->importance[i].name;
        vals[i] = in->importance[i].value;
    }
    char title[96], xl[96];
    const char *metric = in->importance_metric ? in->importance_metric : "metric";
    snprintf(title, sizeof title, "Permutation importance (%s)", metric);
    snprintf(xl, sizeof xl, "%s lost when the column is shuffled", metric);
    cairn_chart ch;
    cairn_chart_init(&ch, title, xl, NULL);
    ch.width = 640;
    ch.height = 80 + 20 * (int)n;
    cairn_html_figure_begin(b, "importance-chart");
    cairn_svg_hbars(b, &ch, labels, vals, n);
    cairn_html_figure_end(b, "How much worse the model gets on the test part when one input "
                             "column is shuffled (3 repeats averaged); near zero or negative: "
                             "the model does not rely on it.");
    if (in->n_importance > n) {
        static const char *const hd[] = {"feature", "importance"};
        cairn_html_table_begin(b, "importance-table", hd, 2);
        for (size_t i = 0; i < in->n_importance; i++) {
            char v[40];
            cairn_report_fmt(v, sizeof v, in->importance[i].value, 5);
            cairn_html_row_begin(b);
            cairn_html_cell(b, in->importance[i].name, false);
            cairn_html_cell(b, v, true);
            cairn_html_row_end(b);
        }
        cairn_html_table_end(b);
    }
    cairn_html_section_end(b);
}

static void finding_list(cairn_buf *b, const cairn_findings *l, const char *cls, const char *head)
{
    if (l->n == 0)
        return;
    cairn_buf_puts(b, "<h3>");
    cairn_html_escape(b, head);
    cairn_buf_puts(b, "</h3>\n");
    for (size_t i = 0; i < l->n; i++) {
        const cairn_finding *f = &l->items[i];
        cairn_buf_printf(b, "<div class=\"finding %s\"><p><b>", cls);
        cairn_html_escape(b, f->what);
        cairn_buf_puts(b, "</b> <code>");
        cairn_html_escape(b, f->code);
        if (f->column[0]) {
            cairn_buf_puts(b, " (");
            cairn_html_escape(b, f->column);
            cairn_buf_puts(b, ")");
        }
        cairn_buf_puts(b, "</code></p>");
        if (f->why[0]) {
            cairn_buf_puts(b, "<p>Why: ");
            cairn_html_escape(b, f->why);
            cairn_buf_puts(b, "</p>");
        }
        if (f->fix[0]) {
            cairn_buf_puts(b, "<p>Fix: ");
            cairn_html_escape(b, f->fix);
            cairn_buf_puts(b, "</p>");
        }
        cairn_buf_puts(b, "</div>\n");
    }
}

static void findings(cairn_buf *b, const cairn_run_report_input *in)
{
    cairn_html_section_begin(b, "findings", "Findings");
    const cairn_review *rv = in->review;
    if (rv) {
        finding_list(b, &rv->critical, "critical", "Critical");
        finding_list(b, &rv->high, "high", "High");
        finding_list(b, &rv->medium, "medium", "Medium");
        finding_list(b, &rv->strengths, "strength", "Strengths");
        if (rv->critical.n + rv->high.n + rv->medium.n + rv->strengths.n == 0)
            cairn_html_note(b, "Nothing to report.");
    } else {
        /* Without a review, the run's own findings as recorded. */
        cJSON *fs = parse(in->run->findings_json);
        const cJSON *f;
        size_t n = 0;
        cJSON_ArrayForEach(f, fs)
        {
            cairn_buf_puts(b, "<div class=\"finding\"><p><b>");
            cairn_html_escape(b, jstr(f, "severity"));
            cairn_buf_puts(b, "</b>: ");
            cairn_html_escape(b, jstr(f, "what"));
            cairn_buf_puts(b, "</p></div>\n");
            n++;
        }
        cJSON_Delete(fs);
        if (n == 0)
            cairn_html_note(b, "The run recorded no findings.");
    }
    cairn_html_section_end(b);
}

static void lineage(cairn_buf *b, const cairn_run_record *r, const cJSON *split)
{
    cairn_html_section_begin(b, "lineage", "Lineage");
    static const char *const hd[] = {"field", "value"};
    char s[128];
    cairn_buf_puts(b, "<div class=\"kv\">");
    cairn_html_table_begin(b, "lineage-table", hd, 2);
    kv_row(b, "run", r->id);
    kv_row(b, "model", r->model);
    kv_row(b, "status", r->status);
    kv_row(b, "started", r->started_at);
    kv_row(b, "finished", r->finished_at);
    kv_num(b, "duration (s)", r->duration_s, 2);
    snprintf(s, sizeof s, "%s@%d", r->dataset_name ? r->dataset_name : "-", r->dataset_version);
    kv_row(b, "dataset", s);
    kv_row(b, "dataset hash", r->dataset_hash);
    kv_row(b, "contract hash", r->contract_hash);
    kv_row(b, "model type", r->model_type);
    if (r->seed >= 0)
        snprintf(s, sizeof s, "%lld", (long long)r->seed);
    else
        snprintf(s, sizeof s, "-");
    kv_row(b, "seed", s);
    kv_row(b, "code version", r->code_version);
    kv_row(b, "state hash", r->state_hash);
    kv_row(b, "split by", jstr(split, "by"));
    const cJSON *rows = jget(split, "rows");
    snprintf(s, sizeof s, "train %.0f, valid %.0f, test %.0f", jnum(rows, "train"),
             jnum(rows, "valid"), jnum(rows, "test"));
    kv_row(b, "rows", s);
    snprintf(s, sizeof s, "%.0f in, %.0f after transforms", jnum(split, "features_in"),
             jnum(split, "features_out"));
    kv_row(b, "features", s);
    cJSON *build = parse(r->build_json);
    const cJSON *it;
    cJSON_ArrayForEach(it, build)
    {
        if (it->string && cJSON_IsString(it)) {
            snprintf(s, sizeof s, "build: %s", it->string);
            kv_row(b, s, it->valuestring);
        }
    }
    cJSON_Delete(build);
    cairn_html_table_end(b);
    cairn_buf_puts(b, "</div>");
    if (r->spec_text) {
        cairn_buf_puts(b, "<h3>Spec</h3>\n<pre>");
        cairn_html_escape(b, r->spec_text);
        cairn_buf_puts(b, "</pre>\n");
    }
    cairn_html_section_end(b);
}

cairn_status cairn_report_run_html(const cairn_run_report_input *in, cairn_buf *out,
                                   cairn_error *err)
{
    const cairn_run_record *r = in ? in->run : NULL;
    if (!r || !r->status || strcmp(r->status, "succeeded") != 0)
        return cairn_error_set(err, CAIRN_EINVAL, r ? r->id : "report",
                               "only a succeeded run has a report");
    cJSON *ev = parse(r->eval_json);
    if (!cJSON_IsObject(jget(ev, "model"))) {
        cJSON_Delete(ev);
        return cairn_error_set(err, CAIRN_EINVAL, r->id, "the run has no evaluation");
    }
    cJSON *split = parse(r->split_json);
    const cJSON *model = jget(ev, "model");
    const char *task = jstr(model, "task");
    char title[160];
    snprintf(title, sizeof title, "cairn run %s: %.100s", r->id, r->model ? r->model : "");
    cairn_html_begin(out, title);
    header(out, in, ev);
    summary(out, in);
    metrics(out, ev);
    curves(out, in, model, task);
    confusion(out, in, ev, task);
    slices(out, model, task);
    importance(out, in);
    findings(out, in);
    lineage(out, r, split);
    cairn_html_end(out);
    cJSON_Delete(ev);
    cJSON_Delete(split);
    if (out->failed)
        return cairn_error_set(err, CAIRN_ENOMEM, "report", "out of memory");
    return CAIRN_OK;
}

/* ---- from the home ----------------------------------------------------------------------- */

cairn_status cairn_report_run(cairn_home *h, const char *run_id, int threads, cairn_buf *out,
                              cairn_error *err)
{
    cairn_run_record run;
    cairn_review_session s;
    cairn_test_part tp;
    cairn_transform *tf = NULL;
    cairn_trees *trees = NULL;
    cairn_linear *linear = NULL;
    double *scores = NULL;
    cairn_report_importance *imp = NULL;
    size_t n_imp = 0;
    char review_note[320] = "", scores_note[320] = "";
    bool have_review = false, have_tp = false;
    memset(&run, 0, sizeof run);
    memset(&s, 0, sizeof s);
    memset(&tp, 0, sizeof tp);
    cairn_status st = cairn_run_get(h, run_id, &run, err);
    if (st != CAIRN_OK)
        goto done;
    if (!run.status || strcmp(run.status, "succeeded") != 0) {
        st = cairn_error_set(err, CAIRN_EINVAL, run.id,
                             "run %s failed: only a succeeded run has a report", run.id);
        goto done;
    }
    cairn_error e = {0};
    if (cairn_review_session_load(h, &run, NULL, NULL, threads, &s, &e) == CAIRN_OK) {
        have_review = true;
    } else {
        if (e.code == CAIRN_ENOMEM) {
            st = cairn_error_set(err, CAIRN_ENOMEM, "report", "out of memory");
            goto done;
        }
        snprintf(review_note, sizeof review_note, "The run could not be reviewed: %.250s", e.msg);
    }
    e = (cairn_error){0};
    if (cairn_test_part_load(h, &run, &tp, &e) != CAIRN_OK) {
        snprintf(scores_note, sizeof scores_note,
                 "The test part could not be rebuilt (%.250s): no curves or importance.", e.msg);
    } else {
        have_tp = true;
        st = cairn_transform_from_bytes((const char *)run.transform_state, run.transform_state_len,
                                        &tf, &e);
        if (st == CAIRN_OK) {
            if (run.model_type && strcmp(run.model_type, "gbdt") == 0)
                st = cairn_trees_from_bytes(run.model_state, run.model_state_len, &trees, &e);
            else
                st = cairn_linear_from_bytes(run.model_state, run.model_state_len, &linear, &e);
        }
        if (st == CAIRN_OK)
            st = cairn_test_part_score(&tp, tf, trees, linear, threads, &scores, &e);
        if (st == CAIRN_OK)
            st = cairn_report_permutation_importance(&tp, tf, trees, linear, (uint64_t)run.seed,
                                                     &imp, &n_imp, &e);
        if (st == CAIRN_ENOMEM) {
            st = cairn_error_set(err, CAIRN_ENOMEM, "report", "out of memory");
            goto done;
        }
        if (st != CAIRN_OK)
            snprintf(scores_note, sizeof scores_note, "The test part could not be scored: %.250s",
                     e.msg);
        st = CAIRN_OK;
    }
    cairn_report_scores sc = {0};
    if (have_tp && scores) {
        sc.task = tp.task;
        sc.n = tp.n;
        sc.n_classes = tp.n_classes;
        sc.y = tp.y;
        sc.score = scores;
        sc.class_names = (const char *const *)tp.class_names;
    }
    char now[40];
    cairn_now_iso(now, sizeof now);
    cairn_run_report_input in = {
        .run = &run,
        .review = have_review ? &s.review : NULL,
        .review_note = review_note,
        .compare_note = have_review ? s.compare_note : NULL,
        .scores = have_tp && scores ? &sc : NULL,
        .scores_note = scores_note[0] ? scores_note : NULL,
        .importance = imp,
        .n_importance = n_imp,
        .importance_metric = have_tp ? cairn_compare_primary(tp.task) : NULL,
        .generated_at = now,
    };
    st = cairn_report_run_html(&in, out, err);
done:
    cairn_report_importance_free(imp, n_imp);
    cairn_free(scores);
    cairn_transform_free(tf);
    cairn_trees_free(trees);
    cairn_linear_free(linear);
    if (have_tp)
        cairn_test_part_reset(&tp);
    cairn_review_session_reset(&s);
    cairn_run_record_reset(&run);
    return st;
}
