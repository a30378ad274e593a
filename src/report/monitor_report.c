/*
 * monitor_report.c -- `cairn report monitor NAME`: one HTML page about a
 * monitoring pass (a cairn_monitor_result, monitor.h), for people deciding
 * whether a model still does what it did at training time.
 *
 * Layout, top to bottom: what was read (versions, log counters), the alerts,
 * drift over time as one heatmap (a row per feature, a column per group,
 * coloured by the judged severity with the PSI as the value), the latest
 * window's drift table, the prediction's histogram and positive rate,
 * performance per metric with its bootstrap band against the training value,
 * latency percentiles, traffic, and per feature the reference vs current
 * histogram of the latest judged window.
 *
 * Size. Everything that grows with features x windows is one heatmap cell
 * each; histograms are drawn for one window only. With 100 features and 30
 * windows the page is a little over 1 MB (test_report.c pins the bound at
 * 2 MB).
 */
#include "report/report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_KEYS 8          /* (version, shadow) series drawn in time charts */
#define MAX_HEAT_COLS 60    /* groups in the drift heatmap: the latest ones */
#define MAX_ALERT_ROWS 150  /* alerts listed (most severe first); `cairn monitor` has all */

static const char *sev_name(cairn_drift_severity s)
{
    switch (s) {
    case CAIRN_DRIFT_OK: return "ok";
    case CAIRN_DRIFT_WARN: return "warn";
    case CAIRN_DRIFT_ALERT: return "alert";
    default: return "no data";
    }
}

static const char *sev_class(cairn_drift_severity s)
{
    return s == CAIRN_DRIFT_ALERT ? "sev-alert" : s == CAIRN_DRIFT_WARN ? "sev-warn"
                                 : s == CAIRN_DRIFT_OK                  ? "sev-ok"
                                                                        : "";
}

static void fmt_time(char *out, size_t cap, int64_t us)
{
    if (us == INT64_MIN || us == INT64_MAX || us == 0)
        snprintf(out, cap, "-");
    else
        cairn_fmt_timestamp(out, cap, us);
}

/* The middle of a group's window in seconds (the x of time charts). */
/* One chart of series over the windows' start times, as a figure. y_min: NAN to let
 * the data decide. */
static void time_figure(cairn_buf *b, const char *id, const char *title, const char *y_label,
                        double y_min, const cairn_series *s, size_t ns, const char *caption)
{
    cairn_chart ch;
    cairn_chart_init(&ch, title, NULL, y_label);
    ch.x_kind = CAIRN_AXIS_TIME;
    ch.y_min = y_min;
    cairn_html_figure_begin(b, id);
    cairn_svg_xy(b, &ch, s, ns);
    cairn_html_figure_end(b, caption);
}

static double group_x(const cairn_monitor_group *g)
{
    return ((double)g->start_us + (double)g->end_us) / 2e6;
}

/* "2024-03-01" (or "03-01 12:00" for windows under a day), " v2" when several versions
 * were seen, " shadow". */
static void group_label(const cairn_monitor_result *r, const cairn_monitor_group *g, char *out,
                        size_t cap)
{
    char t[48];
    cairn_fmt_timestamp(t, sizeof t, g->start_us);
    bool sub_day = g->end_us - g->start_us < 86400LL * 1000000LL;
    int n;
    if (sub_day && strlen(t) >= 16)
        n = snprintf(out, cap, "%.5s %.5s", t + 5, t + 11);
    else
        n = snprintf(out, cap, "%.10s", t);
    if (n < 0 || (size_t)n >= cap)
        return;
    if (r->n_versions > 1 || g->shadow)
        snprintf(out + n, cap - (size_t)n, " v%d%s", g->version, g->shadow ? " shadow" : "");
}

/* ---- features across groups -------------------------------------------------------------- */

typedef struct feat_index {
    const char **names;         /* distinct feature names, first-seen order, then sorted */
    size_t n;
    double *worst;              /* the largest PSI over non-shadow groups (sort key) */
} feat_index;

static const cairn_monitor_feature *find_feature(const cairn_monitor_group *g, const char *name)
{
    for (size_t i = 0; i < g->n_features; i++)
        if (g->features[i].name && strcmp(g->features[i].name, name) == 0)
            return &g->features[i];
    return NULL;
}


/* Features sorted by a key with their first-seen position as the tie-break (qsort has
 * no context argument, so the pairs carry both). */
typedef struct keyed {
    double key;
    size_t pos;
} keyed;

static int keyed_desc(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    /* NaN last, then larger first, then first-seen order. */
    bool nx = !isfinite(x->key), ny = !isfinite(y->key);
    if (nx != ny)
        return nx ? 1 : -1;
    if (!nx && x->key != y->key)
        return x->key > y->key ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos ? 1 : 0;
}

static cairn_status feat_index_build(const cairn_monitor_result *r, feat_index *fi)
{
    size_t cap = 0;
    for (size_t g = 0; g < r->n_groups; g++)
        cap += r->groups[g].n_features;
    memset(fi, 0, sizeof *fi);
    const char **names = cairn_malloc((cap ? cap : 1) * sizeof *names);
    double *worst = cairn_malloc((cap ? cap : 1) * sizeof *worst);
    keyed *k = cairn_malloc((cap ? cap : 1) * sizeof *k);
    if (!names || !worst || !k) {
        cairn_free(names);
        cairn_free(worst);
        cairn_free(k);
        return CAIRN_ENOMEM;
    }
    size_t n = 0;
    for (size_t g = 0; g < r->n_groups; g++) {
        const cairn_monitor_group *gr = &r->groups[g];
        for (size_t i = 0; i < gr->n_features; i++) {
            const cairn_monitor_feature *f = &gr->features[i];
            if (!f->name)
                continue;
            size_t j = 0;
            while (j < n && strcmp(names[j], f->name) != 0)
                j++;
            if (j == n) {
                names[n] = f->name;
                worst[n] = NAN;
                n++;
            }
            if (!gr->shadow && isfinite(f->stats.psi) &&
                (!isfinite(worst[j]) || f->stats.psi > worst[j]))
                worst[j] = f->stats.psi;
        }
    }
    for (size_t i = 0; i < n; i++)
        k[i] = (keyed){worst[i], i};
    qsort(k, n, sizeof *k, keyed_desc);
    fi->names = cairn_malloc((n ? n : 1) * sizeof *fi->names);
    fi->worst = cairn_malloc((n ? n : 1) * sizeof *fi->worst);
    if (!fi->names || !fi->worst) {
        cairn_free(fi->names);
        cairn_free(fi->worst);
        cairn_free(names);
        cairn_free(worst);
        cairn_free(k);
        memset(fi, 0, sizeof *fi);
        return CAIRN_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        fi->names[i] = names[k[i].pos];
        fi->worst[i] = worst[k[i].pos];
    }
    fi->n = n;
    cairn_free(names);
    cairn_free(worst);
    cairn_free(k);
    return CAIRN_OK;
}

static void feat_index_reset(feat_index *fi)
{
    cairn_free(fi->names);
    cairn_free(fi->worst);
    memset(fi, 0, sizeof *fi);
}

/* The latest non-shadow group with rows that has the feature (NULL name: the prediction). */
static const cairn_monitor_group *latest_with(const cairn_monitor_result *r, const char *name,
                                              const cairn_monitor_feature **f_out)
{
    for (size_t g = r->n_groups; g-- > 0;) {
        const cairn_monitor_group *gr = &r->groups[g];
        if (gr->shadow || gr->rows == 0)
            continue;
        const cairn_monitor_feature *f =
            name ? find_feature(gr, name) : gr->has_prediction ? &gr->prediction : NULL;
        if (f && f->n_bins > 0) {
            *f_out = f;
            return gr;
        }
    }
    *f_out = NULL;
    return NULL;
}

/* ---- sections --------------------------------------------------------------------------------- */

static void header(cairn_buf *b, const cairn_monitor_result *r, const char *generated_at)
{
    char a[48], z[48];
    fmt_time(a, sizeof a, r->first_us);
    fmt_time(z, sizeof z, r->last_us);
    cairn_buf_puts(b, "<header><h1>Monitoring: ");
    cairn_html_escape(b, r->model);
    cairn_buf_puts(b, "</h1><p>");
    cairn_html_escape(b, r->task ? r->task : "no task known");
    cairn_buf_puts(b, " &middot; records ");
    cairn_html_escape(b, a);
    cairn_buf_puts(b, " to ");
    cairn_html_escape(b, z);
    cairn_buf_printf(b, " &middot; <span class=\"verdict %s\">", sev_class(r->severity));
    cairn_html_escape(b, r->severity == CAIRN_DRIFT_NODATA ? "no data"
                         : r->severity == CAIRN_DRIFT_OK   ? "ok"
                                                           : sev_name(r->severity));
    cairn_buf_puts(b, "</span>");
    if (generated_at) {
        cairn_buf_puts(b, " &middot; report written ");
        cairn_html_escape(b, generated_at);
    }
    cairn_buf_puts(b, "</p><nav><a href=\"#summary\">Summary</a><a href=\"#alerts\">Alerts</a>"
                      "<a href=\"#drift\">Drift</a><a href=\"#prediction\">Prediction</a>"
                      "<a href=\"#performance\">Performance</a><a href=\"#latency\">Latency</a>"
                      "<a href=\"#traffic\">Traffic</a><a href=\"#features\">Features</a></nav>"
                      "</header>\n");
}

static void count_row(cairn_buf *b, const char *what, uint64_t v)
{
    char s[32];
    snprintf(s, sizeof s, "%llu", (unsigned long long)v);
    cairn_html_row_begin(b);
    cairn_html_cell(b, what, false);
    cairn_html_cell(b, s, true);
    cairn_html_row_end(b);
}

static void summary(cairn_buf *b, const cairn_monitor_result *r)
{
    cairn_html_section_begin(b, "summary", "What was read");
    static const char *const hv[] = {"version", "artifact", "run", "rows", "first record",
                                     "last record"};
    if (r->n_versions) {
        cairn_html_table_begin(b, "versions", hv, 6);
        for (size_t i = 0; i < r->n_versions; i++) {
            const cairn_monitor_version *v = &r->versions[i];
            char ver[24], rows[32], a[48], z[48], hash[20];
            snprintf(ver, sizeof ver, "%d", v->version);
            snprintf(rows, sizeof rows, "%llu", (unsigned long long)v->rows);
            snprintf(hash, sizeof hash, "%.12s", v->artifact_hash);
            fmt_time(a, sizeof a, v->first_us);
            fmt_time(z, sizeof z, v->last_us);
            cairn_html_row_begin(b);
            cairn_html_cell(b, ver, true);
            cairn_html_cell(b, hash, false);
            cairn_html_cell(b, v->run_id, false);
            cairn_html_cell(b, rows, true);
            cairn_html_cell(b, a, false);
            cairn_html_cell(b, z, false);
            cairn_html_row_end(b);
        }
        cairn_html_table_end(b);
    } else {
        cairn_html_note(b, "No record of this model in the range.");
    }
    static const char *const hc[] = {"log", "count"};
    cairn_html_table_begin(b, "log-counters", hc, 2);
    count_row(b, "segments read", r->segments);
    count_row(b, "records (all models)", r->records);
    count_row(b, "records of this model in range", r->model_records);
    count_row(b, "damaged records or torn tails", r->bad_records);
    count_row(b, "records the writer dropped", r->dropped_records);
    count_row(b, "records after their window closed", r->late_records);
    count_row(b, "labels in the home", r->labels_total);
    count_row(b, "labels joined", r->labels_joined);
    cairn_html_table_end(b);
    cairn_html_section_end(b);
}

static void alerts(cairn_buf *b, const cairn_monitor_result *r)
{
    cairn_html_section_begin(b, "alerts", "Alerts");
    if (r->n_alerts == 0) {
        cairn_html_note(b, "Nothing alerts or warns.");
        cairn_html_section_end(b);
        return;
    }
    static const char *const hd[] = {"severity", "kind", "window", "subject", "statistic",
                                     "value", "threshold", "message"};
    cairn_html_table_begin(b, "alerts-table", hd, 8);
    size_t shown = r->n_alerts < MAX_ALERT_ROWS ? r->n_alerts : MAX_ALERT_ROWS;
    for (size_t i = 0; i < shown; i++) {
        const cairn_monitor_alert *a = &r->alerts[i];
        char win[64] = "whole log", v[40], t[40];
        if (a->group >= 0 && (size_t)a->group < r->n_groups)
            group_label(r, &r->groups[a->group], win, sizeof win);
        cairn_report_fmt(v, sizeof v, a->value, 4);
        cairn_report_fmt(t, sizeof t, a->threshold, 4);
        cairn_html_row_begin(b);
        cairn_html_cell_class(b, sev_name(a->severity), sev_class(a->severity));
        cairn_html_cell(b, cairn_monitor_alert_kind_name(a->kind), false);
        cairn_html_cell(b, win, false);
        cairn_html_cell(b, a->subject, false);
        cairn_html_cell(b, a->statistic, false);
        cairn_html_cell(b, v, true);
        cairn_html_cell(b, t, true);
        cairn_html_cell(b, a->message, false);
        cairn_html_row_end(b);
    }
    cairn_html_table_end(b);
    if (shown < r->n_alerts) {
        char note[160];
        snprintf(note, sizeof note, "%zu more, less severe, not listed: `cairn monitor` "
                                    "lists them all.", r->n_alerts - shown);
        cairn_html_note(b, note);
    }
    cairn_html_section_end(b);
}

static cairn_status drift(cairn_buf *b, const cairn_monitor_result *r, const feat_index *fi)
{
    cairn_html_section_begin(b, "drift", "Drift over time");
    if (fi->n == 0 || r->n_groups == 0) {
        cairn_html_note(b, "No feature statistics: no window had rows with a reference.");
        cairn_html_section_end(b);
        return CAIRN_OK;
    }
    bool pred = false;
    for (size_t g = 0; g < r->n_groups; g++)
        pred = pred || r->groups[g].has_prediction;
    /* The latest MAX_HEAT_COLS groups: a year of daily windows would otherwise cost
       365 cells per feature; the time charts below still show every window. */
    size_t first = r->n_groups > MAX_HEAT_COLS ? r->n_groups - MAX_HEAT_COLS : 0;
    size_t rows = fi->n + (pred ? 1 : 0), cols = r->n_groups - first;
    double *v = cairn_malloc(rows * cols * sizeof *v);
    uint8_t *lv = cairn_malloc(rows * cols);
    const char **rl = cairn_malloc(rows * sizeof *rl);
    const char **cl = cairn_malloc(cols * sizeof *cl);
    char (*cbuf)[64] = cairn_malloc(cols * sizeof *cbuf);
    if (!v || !lv || !rl || !cl || !cbuf) {
        cairn_free(v);
        cairn_free(lv);
        cairn_free(rl);
        cairn_free(cl);
        cairn_free(cbuf);
        return CAIRN_ENOMEM;
    }
    for (size_t g = 0; g < cols; g++) {
        group_label(r, &r->groups[first + g], cbuf[g], sizeof cbuf[g]);
        cl[g] = cbuf[g];
    }
    for (size_t i = 0; i < rows; i++) {
        bool is_pred = pred && i == 0;
        const char *name = is_pred ? NULL : fi->names[i - (pred ? 1 : 0)];
        rl[i] = is_pred ? "(prediction)" : name;
        for (size_t g = 0; g < cols; g++) {
            const cairn_monitor_group *gr = &r->groups[first + g];
            const cairn_monitor_feature *f =
                is_pred ? (gr->has_prediction ? &gr->prediction : NULL) : find_feature(gr, name);
            v[i * cols + g] = f ? f->stats.psi : NAN;
            lv[i * cols + g] = f ? (uint8_t)f->severity : 0;
        }
    }
    cairn_chart ch;
    cairn_chart_init(&ch, "Feature drift (PSI) by window", "window", NULL);
    int cw = cols <= 10 ? 48 : cols <= 40 ? 24 : 12;
    ch.width = 200 + (int)cols * cw;
    if (ch.width < 480)
        ch.width = 480;
    ch.height = 110 + (int)rows * (rows <= 40 ? 16 : 12);
    cairn_heat h = {.row_labels = rl, .col_labels = cl, .n_rows = rows, .n_cols = cols, .v = v,
                    .warn = NAN, .alert = NAN, .levels = lv, .value_digits = 3};
    cairn_html_figure_begin(b, "drift-heatmap");
    cairn_svg_heatmap(b, &ch, &h);
    cairn_html_figure_end(b, "One cell per feature and window (per version when a window had "
                             "two), coloured by the monitor's judgement over PSI, KS, JS and the "
                             "missing-rate change; hover for the PSI. Features sorted by their "
                             "largest PSI.");
    if (first > 0) {
        char note[160];
        snprintf(note, sizeof note, "The heatmap shows the latest %d of %zu windows; the "
                                    "charts below show all of them.",
                 MAX_HEAT_COLS, r->n_groups);
        cairn_html_note(b, note);
    }
    cairn_free(v);
    cairn_free(lv);
    cairn_free(rl);
    cairn_free(cl);
    cairn_free(cbuf);

    /* The latest judged window, as a table. */
    const cairn_monitor_group *last = NULL;
    for (size_t g = r->n_groups; g-- > 0;)
        if (!r->groups[g].shadow && r->groups[g].n_features > 0) {
            last = &r->groups[g];
            break;
        }
    if (last) {
        char lab[64];
        group_label(r, last, lab, sizeof lab);
        cairn_buf_puts(b, "<h3>Latest window: ");
        cairn_html_escape(b, lab);
        cairn_buf_puts(b, "</h3>\n");
        if (last->note)
            cairn_html_note(b, last->note);
        static const char *const hd[] = {"feature", "kind", "rows", "psi", "ks", "js",
                                         "chi2 p", "missing change", "unseen", "severity"};
        cairn_html_table_begin(b, "drift-table", hd, 10);
        for (size_t i = 0; i < fi->n; i++) {
            const cairn_monitor_feature *f = find_feature(last, fi->names[i]);
            if (!f)
                continue;
            char s[8][40];
            snprintf(s[0], sizeof s[0], "%llu", (unsigned long long)f->stats.rows);
            cairn_report_fmt(s[1], sizeof s[1], f->stats.psi, 4);
            cairn_report_fmt(s[2], sizeof s[2], f->stats.ks, 4);
            cairn_report_fmt(s[3], sizeof s[3], f->stats.js, 4);
            cairn_report_fmt(s[4], sizeof s[4], f->stats.chi2_p, 4);
            cairn_report_fmt(s[5], sizeof s[5], f->stats.missing_change, 4);
            cairn_report_fmt(s[6], sizeof s[6], f->stats.unseen_share, 4);
            cairn_html_row_begin(b);
            cairn_html_cell(b, f->name, false);
            cairn_html_cell(b, f->kind == CAIRN_DRIFT_CATEGORY ? "category" : "number", false);
            for (int k = 0; k < 7; k++)
                cairn_html_cell(b, s[k], true);
            cairn_html_cell_class(b, sev_name(f->severity), sev_class(f->severity));
            cairn_html_row_end(b);
        }
        cairn_html_table_end(b);
    }
    cairn_html_section_end(b);
    return CAIRN_OK;
}

/* Reference vs current shares of one feature in one group. */
static void histogram(cairn_buf *b, const cairn_monitor_result *r, const cairn_monitor_group *g,
                      const cairn_monitor_feature *f, const char *id, const char *name)
{
    char title[160], lab[64], psi[40];
    group_label(r, g, lab, sizeof lab);
    cairn_report_fmt(psi, sizeof psi, f->stats.psi, 3);
    snprintf(title, sizeof title, "%.60s: PSI %s (%s)", name, psi, sev_name(f->severity));
    const double *vals[2] = {f->ref_share, f->cur_share};
    char cur[80];
    snprintf(cur, sizeof cur, "current %s", lab);
    const char *sets[2] = {"reference", cur};
    cairn_chart ch;
    cairn_chart_init(&ch, title, NULL, "share of rows");
    ch.width = 370;
    ch.height = 250;
    size_t n = f->n_bins <= CAIRN_DRIFT_MAX_BINS ? f->n_bins : CAIRN_DRIFT_MAX_BINS;
    cairn_html_figure_begin(b, id);
    cairn_svg_bars(b, &ch, (const char *const *)f->bin_labels, n, vals, sets, 2);
    cairn_buf_puts(b, "</figure>\n");
}

static void prediction(cairn_buf *b, const cairn_monitor_result *r)
{
    cairn_html_section_begin(b, "prediction", "Prediction");
    cairn_buf_puts(b, "<div class=\"charts\">\n");
    const cairn_monitor_feature *f = NULL;
    const cairn_monitor_group *g = latest_with(r, NULL, &f);
    if (g)
        histogram(b, r, g, f, "prediction-hist", "prediction");
    /* Positive rate per window against the training part's. */
    double *x = cairn_malloc((r->n_groups ? r->n_groups : 1) * sizeof *x);
    double *y = cairn_malloc((r->n_groups ? r->n_groups : 1) * sizeof *y);
    double *ref = cairn_malloc((r->n_groups ? r->n_groups : 1) * sizeof *ref);
    size_t n = 0;
    bool any = false;
    if (x && y && ref) {
        for (size_t i = 0; i < r->n_groups; i++) {
            const cairn_monitor_group *gr = &r->groups[i];
            if (gr->shadow)
                continue;
            x[n] = group_x(gr);
            y[n] = gr->positive_rate;
            ref[n] = gr->ref_positive_rate;
            any = any || isfinite(gr->positive_rate);
            n++;
        }
    }
    if (any) {
        cairn_series s[2] = {
            {.name = "served", .x = x, .y = y, .n = n, .color = 0},
            {.name = "training", .x = x, .y = ref, .n = n, .color = 1, .dashed = true},
        };
        time_figure(b, "positive-rate", "Share predicted positive", "share", NAN, s, 2,
                    "Share of rows predicted positive per window; dashed: the training "
                    "part's.");
    }
    cairn_free(x);
    cairn_free(y);
    cairn_free(ref);
    cairn_buf_puts(b, "</div>\n");
    if (!g && !any)
        cairn_html_note(b, "No prediction statistics (the reference had none, or no rows).");
    cairn_html_section_end(b);
}

/* Series keys: distinct (version, shadow) pairs in group order. */
typedef struct series_key {
    int version;
    bool shadow;
} series_key;

static size_t series_keys(const cairn_monitor_result *r, series_key *k, bool with_shadow)
{
    size_t n = 0;
    for (size_t g = 0; g < r->n_groups; g++) {
        const cairn_monitor_group *gr = &r->groups[g];
        if (gr->shadow && !with_shadow)
            continue;
        size_t i = 0;
        while (i < n && !(k[i].version == gr->version && k[i].shadow == gr->shadow))
            i++;
        if (i == n && n < MAX_KEYS)
            k[n++] = (series_key){gr->version, gr->shadow};
    }
    return n;
}

static cairn_status performance(cairn_buf *b, const cairn_monitor_result *r)
{
    cairn_html_section_begin(b, "performance", "Performance over time");
    /* Metric names in first-seen order. */
    char names[CAIRN_MONITOR_MAX_METRICS * 2][16];
    size_t nn = 0;
    for (size_t g = 0; g < r->n_groups; g++)
        for (size_t m = 0; m < r->groups[g].n_metrics; m++) {
            const char *name = r->groups[g].metrics[m].name;
            size_t i = 0;
            while (i < nn && strcmp(names[i], name) != 0)
                i++;
            if (i == nn && nn < CAIRN_ARRAY_LEN(names))
                snprintf(names[nn++], sizeof names[0], "%s", name);
        }
    if (nn == 0) {
        cairn_html_note(b, "No labelled rows joined in range: performance cannot be measured "
                           "(cairn labels add).");
        cairn_html_section_end(b);
        return CAIRN_OK;
    }
    series_key keys[MAX_KEYS];
    size_t nk = series_keys(r, keys, true);
    size_t ng = r->n_groups;
    /* Per key: x, value, lo, hi; plus the training value line. */
    double *buf = cairn_malloc((nk * 4 + 2) * (ng ? ng : 1) * sizeof *buf);
    if (!buf)
        return CAIRN_ENOMEM;
    cairn_buf_puts(b, "<div class=\"charts\">\n");
    for (size_t m = 0; m < nn; m++) {
        cairn_series s[MAX_KEYS + 1];
        char sname[MAX_KEYS][32];
        size_t ns = 0;
        double *tx = buf + nk * 4 * ng, *ty = tx + ng;
        size_t nt = 0;
        for (size_t k = 0; k < nk; k++) {
            double *x = buf + k * 4 * ng, *y = x + ng, *lo = y + ng, *hi = lo + ng;
            size_t n = 0;
            for (size_t g = 0; g < ng; g++) {
                const cairn_monitor_group *gr = &r->groups[g];
                if (gr->version != keys[k].version || gr->shadow != keys[k].shadow)
                    continue;
                const cairn_monitor_metric *mm = NULL;
                for (size_t i = 0; i < gr->n_metrics; i++)
                    if (strcmp(gr->metrics[i].name, names[m]) == 0)
                        mm = &gr->metrics[i];
                x[n] = group_x(gr);
                y[n] = mm ? mm->value : NAN;
                lo[n] = mm ? mm->lo : NAN;
                hi[n] = mm ? mm->hi : NAN;
                n++;
                if (mm && isfinite(mm->train) && !gr->shadow) {
                    tx[nt] = x[n - 1];
                    ty[nt++] = mm->train;
                }
            }
            snprintf(sname[k], sizeof sname[k], "v%d%s", keys[k].version,
                     keys[k].shadow ? " shadow" : "");
            s[ns++] = (cairn_series){.name = sname[k], .x = x, .y = y, .lo = lo, .hi = hi, .n = n,
                                     .color = (int)k};
        }
        if (nt > 0)
            s[ns++] = (cairn_series){.name = "training", .x = tx, .y = ty, .n = nt,
                                     .color = 7, .dashed = true};
        char id[48], title[64];
        snprintf(id, sizeof id, "perf-%s", names[m]);
        snprintf(title, sizeof title, "%s per window", names[m]);
        time_figure(b, id, title, names[m], NAN, s, ns,
                    "Labelled rows of each window, with the 95% bootstrap band; dashed: the "
                    "value at training time.");
    }
    cairn_buf_puts(b, "</div>\n");
    cairn_free(buf);
    cairn_html_section_end(b);
    return CAIRN_OK;
}

/* Latency percentiles or traffic counts over the non-shadow groups. */
static cairn_status over_time(cairn_buf *b, const cairn_monitor_result *r, bool latency)
{
    size_t ng = r->n_groups;
    double *buf = cairn_malloc(5 * (ng ? ng : 1) * sizeof *buf);
    if (!buf)
        return CAIRN_ENOMEM;
    double *x = buf, *a = x + ng, *c = a + ng, *d = c + ng, *e = d + ng;
    size_t n = 0;
    bool any = false;
    for (size_t g = 0; g < ng; g++) {
        const cairn_monitor_group *gr = &r->groups[g];
        if (gr->shadow)
            continue;
        x[n] = group_x(gr);
        if (latency) {
            a[n] = gr->latency_p50_ms;
            c[n] = gr->latency_p95_ms;
            d[n] = gr->latency_p99_ms;
            any = any || isfinite(a[n]);
        } else {
            a[n] = (double)gr->rows;
            c[n] = (double)gr->labelled;
            d[n] = (double)gr->rejected;
            e[n] = (double)gr->fallback;
            any = true;
        }
        n++;
    }
    if (latency) {
        cairn_html_section_begin(b, "latency", "Latency");
        if (any) {
            cairn_series s[3] = {{.name = "p50", .x = x, .y = a, .n = n, .color = 0},
                                 {.name = "p95", .x = x, .y = c, .n = n, .color = 1},
                                 {.name = "p99", .x = x, .y = d, .n = n, .color = 3}};
            time_figure(b, "latency-chart", "Scoring latency per window", "milliseconds", 0, s,
                        3, "Percentiles of the time to score a row, as the server logged it.");
        } else {
            cairn_html_note(b, "No latency recorded.");
        }
    } else {
        cairn_html_section_begin(b, "traffic", "Traffic");
        if (n > 0) {
            cairn_series s[4] = {{.name = "scored", .x = x, .y = a, .n = n, .color = 0},
                                 {.name = "labelled", .x = x, .y = c, .n = n, .color = 2},
                                 {.name = "rejected", .x = x, .y = d, .n = n, .color = 3},
                                 {.name = "fallback", .x = x, .y = e, .n = n, .color = 4}};
            time_figure(b, "rows", "Rows per window", "rows", 0, s, 4,
                        "Rows scored, joined with a label, refused by the contract, and "
                        "answered by the fallback, per window.");
        } else {
            cairn_html_note(b, "No rows.");
        }
    }
    cairn_html_section_end(b);
    cairn_free(buf);
    return CAIRN_OK;
}

static void features(cairn_buf *b, const cairn_monitor_result *r, const feat_index *fi)
{
    cairn_html_section_begin(b, "features", "Feature distributions");
    cairn_html_note(b, "Reference (training part) against current shares of rows per bin in "
                       "the latest window that has the feature, most drifting first. Shares "
                       "are over non-missing rows; hover a bar pair for its values.");
    cairn_buf_puts(b, "<div class=\"charts\">\n");
    size_t shown = 0;
    for (size_t i = 0; i < fi->n; i++) {
        const cairn_monitor_feature *f = NULL;
        const cairn_monitor_group *g = latest_with(r, fi->names[i], &f);
        if (!g)
            continue;
        char id[32];
        snprintf(id, sizeof id, "hist-%zu", i);
        histogram(b, r, g, f, id, fi->names[i]);
        shown++;
    }
    cairn_buf_puts(b, "</div>\n");
    if (shown == 0)
        cairn_html_note(b, "No window has feature histograms.");
    cairn_html_section_end(b);
}

cairn_status cairn_report_monitor_html(const cairn_monitor_result *r, const char *generated_at,
                                       cairn_buf *out, cairn_error *err)
{
    feat_index fi;
    if (feat_index_build(r, &fi) != CAIRN_OK)
        return cairn_error_set(err, CAIRN_ENOMEM, "report", "out of memory");
    char title[160];
    snprintf(title, sizeof title, "cairn monitoring: %.120s", r->model ? r->model : "");
    cairn_html_begin(out, title);
    header(out, r, generated_at);
    summary(out, r);
    alerts(out, r);
    cairn_status st = drift(out, r, &fi);
    if (st == CAIRN_OK) {
        prediction(out, r);
        st = performance(out, r);
    }
    if (st == CAIRN_OK)
        st = over_time(out, r, true);
    if (st == CAIRN_OK)
        st = over_time(out, r, false);
    if (st == CAIRN_OK) {
        features(out, r, &fi);
        cairn_html_end(out);
    }
    feat_index_reset(&fi);
    if (st != CAIRN_OK || out->failed)
        return cairn_error_set(err, CAIRN_ENOMEM, "report", "out of memory");
    return CAIRN_OK;
}
