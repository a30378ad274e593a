/*
 * report.h -- self-contained HTML reports: `cairn report RUN` (a training
 * run: metrics with intervals, ROC / precision-recall / reliability charts,
 * slices, feature importance, confusion matrix, findings and verdict,
 * lineage) and `cairn report monitor NAME` (a monitoring pass: per-feature
 * reference vs current histograms, drift, performance and latency over
 * time, alerts).
 *
 * Self-contained means: one HTML document with its CSS in a <style> element
 * and every chart as inline SVG; no <script>, no external stylesheet, font,
 * image or link target (the only href is "#id" inside the page). It opens
 * offline and renders the same anywhere. Every chart sits in
 *   <figure class="chart" id="ID"><svg ...>...</svg><figcaption>...</figcaption></figure>
 * with a stable ID (docs/report.md lists them), so tests and people can find it.
 *
 * Every piece of text that comes from data (feature names, category values,
 * slice values, messages, the spec) goes through cairn_html_escape, which
 * also replaces bytes XML cannot carry (C0 controls, invalid UTF-8) with '?',
 * so each <svg> is well-formed XML as well as valid HTML.
 *
 * Nothing here prints or writes files: builders append to a cairn_buf (its
 * sticky `failed` flag turns into CAIRN_ENOMEM at the end) and the CLI writes
 * the file.
 */
#ifndef CAIRN_REPORT_H
#define CAIRN_REPORT_H

#include "core/core.h"
#include "monitor/monitor.h"
#include "pipeline/train.h"
#include "registry/registry.h"
#include "review/review.h"

#include <stdbool.h>
#include <stddef.h>

/* ---- HTML pieces (html.c) ------------------------------------------------------------ */

/* Appends s (NUL-terminated; NULL appends nothing) with & < > " ' escaped, C0 controls
 * other than tab / newline / CR and invalid UTF-8 bytes as '?'. */
void cairn_html_escape(cairn_buf *b, const char *s);
/* The same for s[0..n). */
void cairn_html_escape_n(cairn_buf *b, const char *s, size_t n);

/* The page: doctype, <head> with the title and the inline CSS, <body><main>; and its end. */
void cairn_html_begin(cairn_buf *b, const char *title);
void cairn_html_end(cairn_buf *b);
/* <section id="ID"><h2>HEADING</h2> ... </section>; id is a fixed token (not escaped). */
void cairn_html_section_begin(cairn_buf *b, const char *id, const char *heading);
void cairn_html_section_end(cairn_buf *b);
/* <figure class="chart" id="ID"> ... <figcaption>CAPTION</figcaption></figure>. */
void cairn_html_figure_begin(cairn_buf *b, const char *id);
void cairn_html_figure_end(cairn_buf *b, const char *caption);
/* <p class="note">TEXT</p> */
void cairn_html_note(cairn_buf *b, const char *text);

/* Tables: begin with headers (escaped), then rows of cells. num right-aligns a cell. */
void cairn_html_table_begin(cairn_buf *b, const char *id, const char *const *headers, size_t n);
void cairn_html_row_begin(cairn_buf *b);
void cairn_html_cell(cairn_buf *b, const char *text, bool num);
/* A cell with a class (e.g. "sev-alert") for colour. */
void cairn_html_cell_class(cairn_buf *b, const char *text, const char *cls);
void cairn_html_row_end(cairn_buf *b);
void cairn_html_table_end(cairn_buf *b);

/* A value with `digits` decimals ("-" when not finite); an estimate with its interval
 * "E [LO, HI]" (just E when the interval is not finite). out: at least 32 / 96 bytes. */
void cairn_report_fmt(char *out, size_t cap, double v, int digits);
void cairn_report_fmt_interval(char *out, size_t cap, double e, double lo, double hi, int digits);

/* ---- SVG charts (svg.c) --------------------------------------------------------------- */

typedef enum cairn_axis_kind {
    CAIRN_AXIS_NUMBER = 0,
    CAIRN_AXIS_TIME                 /* values are seconds since the epoch; UTC date labels */
} cairn_axis_kind;

/* What every chart has: a title, axis labels, a size and (optionally) fixed ranges. */
typedef struct cairn_chart {
    const char *title;              /* drawn above the plot and used as the aria-label */
    const char *x_label, *y_label;
    int width, height;              /* pixels: 520 x 320 by default */
    double x_min, x_max;            /* NaN: from the data (with a little padding) */
    double y_min, y_max;
    cairn_axis_kind x_kind;
    bool diagonal;                  /* draw y = x (ROC, reliability, predicted vs actual) */
} cairn_chart;

void cairn_chart_init(cairn_chart *c, const char *title, const char *x_label,
                      const char *y_label);

typedef enum cairn_series_kind {
    CAIRN_SERIES_LINE = 0,          /* a polyline; NaN y breaks it */
    CAIRN_SERIES_STEP,              /* horizontal then vertical steps (PR curves) */
    CAIRN_SERIES_POINTS             /* dots */
} cairn_series_kind;

typedef struct cairn_series {
    const char *name;               /* legend entry; NULL: none */
    const double *x, *y;            /* n points (borrowed) */
    size_t n;
    const double *lo, *hi;          /* optional band around y (both or neither) */
    cairn_series_kind kind;
    int color;                      /* palette index */
    bool dashed;
} cairn_series;

/*
 * An x/y chart of n_series series with axes, ticks, grid and legend. Lines and
 * steps with more points than the plot has pixels are thinned to the points that
 * move at least half a pixel, so a 100,000-point ROC curve costs a few KB.
 */
void cairn_svg_xy(cairn_buf *b, const cairn_chart *c, const cairn_series *s, size_t n_series);

/*
 * Grouped bars: n_bins groups (labels[i] under each; long lists show every k-th
 * label, every bar keeps its label as a tooltip), n_sets bars per group, values[set][bin]
 * (NaN: no bar). set_names: the legend (may be NULL).
 */
void cairn_svg_bars(cairn_buf *b, const cairn_chart *c, const char *const *labels, size_t n_bins,
                    const double *const *values, const char *const *set_names, size_t n_sets);

/* Horizontal bars of a ranked list (feature importance): labels on the left, n rows. */
void cairn_svg_hbars(cairn_buf *b, const cairn_chart *c, const char *const *labels,
                     const double *values, size_t n);

/*
 * A heatmap of n_rows x n_cols cells (v row-major; NaN: an empty cell). With
 * levels, or else finite warn and alert, cells are coloured by level (ok, warn,
 * alert); otherwise on a white-to-blue scale from 0 to the largest value. show_values
 * writes each value in its cell (small matrices: confusion).
 */
typedef struct cairn_heat {
    const char *const *row_labels;
    const char *const *col_labels;
    size_t n_rows, n_cols;
    const double *v;
    double warn, alert;
    /* Optional, n_rows x n_cols: colour cells by a judged level instead of their value
       (0 no data, 1 ok, 2 warn, 3 alert; the drift.h severities), e.g. a feature's
       severity with its PSI as the value. */
    const uint8_t *levels;
    bool show_values;
    int value_digits;
} cairn_heat;

void cairn_svg_heatmap(cairn_buf *b, const cairn_chart *c, const cairn_heat *h);

/* ---- curves (run_report.c) ------------------------------------------------------------- */

/*
 * The ROC curve of binary scores: one point per distinct score (descending
 * threshold, ties together), from (0, 0) to (1, 1). *fpr and *tpr get *m points
 * (cairn_free). The trapezoid area under them equals cairn_metric_auc. The
 * precision-recall curve: *recall and *precision at each distinct threshold,
 * starting at recall 0 with precision 1 (as scikit-learn); the step area
 * sum (r_i - r_{i-1}) p_i equals cairn_metric_pr_auc. y is 0/1.
 * Errors: CAIRN_EINVAL (no rows, or one class only), CAIRN_ENOMEM.
 */
cairn_status cairn_report_roc(const double *score, const double *y, size_t n, double **fpr,
                              double **tpr, size_t *m, cairn_error *err);
cairn_status cairn_report_pr(const double *score, const double *y, size_t n, double **recall,
                             double **precision, size_t *m, cairn_error *err);

/* ---- the run report (run_report.c) ----------------------------------------------------- */

/* A feature's permutation importance: how much the primary metric gets worse when the
 * feature's input column is shuffled across the test rows (positive = the model uses it). */
typedef struct cairn_report_importance {
    char *name;
    double value;
} cairn_report_importance;

/* The scored test part of a run (all borrowed). */
typedef struct cairn_report_scores {
    cairn_task task;
    size_t n, n_classes;
    const double *y;                /* as cairn_test_part.y */
    const double *score;            /* n, or n x k for multiclass */
    const char *const *class_names; /* multiclass: k names; else NULL */
} cairn_report_scores;

typedef struct cairn_run_report_input {
    const cairn_run_record *run;        /* required, a succeeded run */
    const cairn_review *review;         /* NULL: the verdict section says why (review_note) */
    const char *review_note;
    const char *compare_note;           /* why production was not compared, or NULL */
    const cairn_report_scores *scores;  /* NULL: no curves; scores_note says why */
    const char *scores_note;
    const cairn_report_importance *importance;
    size_t n_importance;
    const char *importance_metric;      /* "auc", "rmse", "accuracy" */
    const char *generated_at;           /* shown in the header; NULL: left out */
} cairn_run_report_input;

/*
 * Appends the run report (a whole HTML document) to out. Sections (ids):
 * summary, metrics, curves (charts roc, pr, reliability; regression:
 * predicted, residuals), confusion (chart confusion), slices, importance
 * (chart importance), findings, lineage. A section without its data says so.
 * Errors: CAIRN_EINVAL (run missing or not succeeded, no evaluation),
 * CAIRN_ENOMEM.
 */
cairn_status cairn_report_run_html(const cairn_run_report_input *in, cairn_buf *out,
                                   cairn_error *err);

/*
 * Permutation importance on the test part: for each input column of tf, the
 * output columns it feeds are shuffled together (one seeded permutation per
 * repeat, 3 repeats, at most 5,000 rows taken evenly) and the drop in the
 * task's primary metric (auc, rmse, accuracy) averaged, sorted largest first.
 * *out: *n entries, free with cairn_report_importance_free.
 */
cairn_status cairn_report_permutation_importance(const cairn_test_part *tp,
                                                 const cairn_transform *tf,
                                                 const cairn_trees *trees,
                                                 const cairn_linear *linear, uint64_t seed,
                                                 cairn_report_importance **out, size_t *n,
                                                 cairn_error *err);
void cairn_report_importance_free(cairn_report_importance *v, size_t n);

/*
 * Everything from the home: loads run_id, reviews it (review/govern.h, with
 * the production comparison when there is one), rebuilds and scores its test
 * part and computes the importances, then renders. A part that cannot be had
 * (dataset version gone, no production) is noted in the report, not an error.
 * Errors: those of cairn_run_get, CAIRN_EINVAL (failed run), CAIRN_ENOMEM.
 */
cairn_status cairn_report_run(cairn_home *h, const char *run_id, int threads, cairn_buf *out,
                              cairn_error *err);

/* ---- the monitor report (monitor_report.c) --------------------------------------------- */

/*
 * Appends the monitor report of r to out. Sections (ids): summary (versions,
 * log counters), alerts, drift (chart drift-heatmap: PSI per feature and
 * group, features sorted by their worst PSI), prediction (chart
 * prediction-hist, positive rate), performance (charts perf-METRIC),
 * latency (chart latency), traffic (chart rows), features (one chart
 * hist-N per feature: reference vs current shares in the latest judged
 * window, N the feature's position in the heatmap order). Size: with 100
 * features and 30 windows it stays well under 2 MB (the heatmap is one
 * cell per feature and group; histograms only for the latest window).
 * generated_at: shown in the header; NULL leaves it out.
 * Errors: CAIRN_ENOMEM.
 */
cairn_status cairn_report_monitor_html(const cairn_monitor_result *r, const char *generated_at,
                                       cairn_buf *out, cairn_error *err);

#endif /* CAIRN_REPORT_H */
