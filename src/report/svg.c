/*
 * svg.c -- a small chart kit for the HTML reports: x/y charts (lines, steps,
 * points, bands), grouped bars, horizontal bars and heatmaps, written as
 * inline SVG into a cairn_buf.
 *
 * Every chart is self-standing: colours are attributes rather than page CSS,
 * there are no ids (two charts on a page never clash) and no xmlns (inline
 * SVG in HTML does not need it, and it would be the one "http://" string in a
 * report). Coordinates are written with one decimal: a tenth of a pixel is
 * below what a screen shows and keeps the reports small. All text is escaped
 * (report.h), so data cannot break out of the SVG.
 *
 * What is left to callers: choosing the chart (which series, ranges, sizes)
 * and keeping the number of marks reasonable (points, bars, cells); only
 * lines and steps are thinned here.
 */
#include "report/report.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *const PALETTE[] = {"#1f6fb4", "#e0662a", "#2a9d4b", "#c8324b",
                                      "#7b52ae", "#8c5a3c", "#d45fb0", "#159aa8"};
#define N_PALETTE (sizeof PALETTE / sizeof PALETTE[0])

static const char *color(int i)
{
    if (i < 0)
        i = -i;
    return PALETTE[(size_t)i % N_PALETTE];
}

void cairn_chart_init(cairn_chart *c, const char *title, const char *x_label, const char *y_label)
{
    memset(c, 0, sizeof *c);
    c->title = title;
    c->x_label = x_label;
    c->y_label = y_label;
    c->width = 520;
    c->height = 320;
    c->x_min = c->x_max = c->y_min = c->y_max = NAN;
    c->x_kind = CAIRN_AXIS_NUMBER;
}

/* ---- geometry ------------------------------------------------------------------------- */

/* The plot area in pixels and the data ranges it maps. */
typedef struct plot {
    double left, right, top, bottom;    /* pixels */
    double x0, x1, y0, y1;              /* data */
} plot;

static double px(const plot *p, double x)
{
    double t = (x - p->x0) / (p->x1 - p->x0);
    if (t < -0.02)
        t = -0.02;
    if (t > 1.02)
        t = 1.02;
    return p->left + t * (p->right - p->left);
}

static double py(const plot *p, double y)
{
    double t = (y - p->y0) / (p->y1 - p->y0);
    if (t < -0.02)
        t = -0.02;
    if (t > 1.02)
        t = 1.02;
    return p->bottom - t * (p->bottom - p->top);
}

/* Makes [*lo, *hi] a usable range: finite, not empty. */
static void fix_range(double *lo, double *hi)
{
    if (!isfinite(*lo) || !isfinite(*hi)) {
        *lo = 0;
        *hi = 1;
    }
    if (*hi <= *lo) {
        double d = fabs(*lo) > 0 ? fabs(*lo) * 0.1 : 0.5;
        *lo -= d;
        *hi += d;
    }
}

/* Up to about `target` round tick values (1, 2, 5 x 10^k steps) inside [lo, hi]. */
static size_t nice_ticks(double lo, double hi, int target, double *out, size_t cap)
{
    double raw = (hi - lo) / (target > 1 ? target : 1);
    double mag = pow(10, floor(log10(raw)));
    double step = mag;
    if (raw / mag > 5)
        step = 10 * mag;
    else if (raw / mag > 2)
        step = 5 * mag;
    else if (raw / mag > 1)
        step = 2 * mag;
    size_t n = 0;
    for (double t = ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9 && n < cap; t += step)
        out[n++] = fabs(t) < step * 1e-9 ? 0 : t;
    return n;
}

static void fmt_tick(char *out, size_t cap, double v)
{
    if (v != 0 && (fabs(v) >= 1e6 || fabs(v) < 1e-3))
        snprintf(out, cap, "%.2g", v);
    else
        snprintf(out, cap, "%g", v);
}

/* Time ticks: a round step (minutes to a year) giving about `target` ticks, aligned to
 * the epoch (so day steps fall on UTC midnight). */
static size_t time_ticks(double lo, double hi, int target, double *out, size_t cap,
                         double *step_out)
{
    static const double steps[] = {60,     300,     900,     1800,     3600,    3 * 3600,
                                   6 * 3600, 12 * 3600, 86400, 2 * 86400, 7 * 86400,
                                   14 * 86400, 30 * 86400, 91 * 86400, 365 * 86400};
    double step = steps[CAIRN_ARRAY_LEN(steps) - 1];
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(steps); i++)
        if ((hi - lo) / steps[i] <= target) {
            step = steps[i];
            break;
        }
    size_t n = 0;
    for (double t = ceil(lo / step) * step; t <= hi && n < cap; t += step)
        out[n++] = t;
    *step_out = step;
    return n;
}

static void fmt_time_tick(char *out, size_t cap, double t, double step)
{
    time_t s = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&s, &tm)) {
        snprintf(out, cap, "?");
        return;
    }
    if (step >= 86400)
        snprintf(out, cap, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
    else
        snprintf(out, cap, "%02d-%02d %02d:%02d", tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min);
}

/* Text of at most max_chars characters (UTF-8 aware), "..." when cut. */
static void put_short(cairn_buf *b, const char *s, size_t max_chars)
{
    if (!s)
        return;
    size_t bytes = 0, chars = 0, len = strlen(s);
    while (bytes < len && chars < max_chars) {
        bytes++;
        while (bytes < len && ((unsigned char)s[bytes] & 0xc0) == 0x80)
            bytes++;
        chars++;
    }
    cairn_html_escape_n(b, s, bytes);
    if (bytes < len)
        cairn_buf_puts(b, "...");
}

/* <svg ...> with a white background and the title. */
static void svg_open(cairn_buf *b, const cairn_chart *c)
{
    cairn_buf_printf(b,
                     "<svg width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\" "
                     "aria-label=\"",
                     c->width, c->height, c->width, c->height);
    cairn_html_escape(b, c->title);
    cairn_buf_printf(b,
                     "\" font-family=\"sans-serif\" font-size=\"11\">"
                     "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>",
                     c->width, c->height);
    if (c->title) {
        cairn_buf_printf(b, "<text x=\"%d\" y=\"16\" text-anchor=\"middle\" font-size=\"13\" "
                            "font-weight=\"bold\" fill=\"#1d232b\">",
                         c->width / 2);
        put_short(b, c->title, 90);
        cairn_buf_puts(b, "</text>");
    }
}

static void svg_close(cairn_buf *b)
{
    cairn_buf_puts(b, "</svg>");
}

/* Axis labels: x centred under the plot, y rotated left of it. */
static void axis_labels(cairn_buf *b, const cairn_chart *c, const plot *p, double x_label_y)
{
    if (c->x_label) {
        cairn_buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"#333\">",
                         (p->left + p->right) / 2, x_label_y);
        put_short(b, c->x_label, 80);
        cairn_buf_puts(b, "</text>");
    }
    if (c->y_label) {
        double yc = (p->top + p->bottom) / 2;
        cairn_buf_printf(b,
                         "<text x=\"14\" y=\"%.1f\" text-anchor=\"middle\" fill=\"#333\" "
                         "transform=\"rotate(-90 14 %.1f)\">",
                         yc, yc);
        put_short(b, c->y_label, 50);
        cairn_buf_puts(b, "</text>");
    }
}

/* Horizontal grid lines at the value ticks of the y axis, labelled on the left. */
static void y_grid(cairn_buf *b, const plot *p)
{
    double t[64];
    char s[48];
    size_t n = nice_ticks(p->y0, p->y1, 5, t, 64);
    for (size_t i = 0; i < n; i++) {
        double y = py(p, t[i]);
        fmt_tick(s, sizeof s, t[i]);
        cairn_buf_printf(b,
                         "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#e6e9ee\"/>"
                         "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" fill=\"#444\">%s</text>",
                         p->left, p->right, y, y, p->left - 5, y + 4, s);
    }
}

/* Vertical grid lines at about target ticks of the x axis (times or numbers, as
 * c->x_kind says), labelled below. */
static void x_grid(cairn_buf *b, const cairn_chart *c, const plot *p, int target)
{
    double t[64], step = 0;
    char s[48];
    size_t n = c->x_kind == CAIRN_AXIS_TIME ? time_ticks(p->x0, p->x1, 5, t, 64, &step)
                                            : nice_ticks(p->x0, p->x1, target, t, 64);
    for (size_t i = 0; i < n; i++) {
        double x = px(p, t[i]);
        if (c->x_kind == CAIRN_AXIS_TIME)
            fmt_time_tick(s, sizeof s, t[i], step);
        else
            fmt_tick(s, sizeof s, t[i]);
        cairn_buf_printf(b,
                         "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#e6e9ee\"/>"
                         "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"#444\">%s</text>",
                         x, x, p->top, p->bottom, x, p->bottom + 15, s);
    }
}

/* Grid, ticks and tick labels for both axes, then the axis lines. */
static void axes(cairn_buf *b, const cairn_chart *c, const plot *p)
{
    y_grid(b, p);
    x_grid(b, c, p, 6);
    cairn_buf_printf(b,
                     "<path d=\"M%.1f,%.1fV%.1fH%.1f\" fill=\"none\" stroke=\"#555\"/>",
                     p->left, p->top, p->bottom, p->right);
    axis_labels(b, c, p, p->bottom + 32);
}

/* The legend, top right inside the plot: one swatch and name per entry. */
static void legend(cairn_buf *b, const plot *p, const char *const *names, const int *colors,
                   size_t n)
{
    size_t shown = 0;
    for (size_t i = 0; i < n; i++)
        if (names[i])
            shown++;
    if (!shown)
        return;
    double y = p->top + 6;
    double x = p->right - 150;
    cairn_buf_printf(b,
                     "<rect x=\"%.1f\" y=\"%.1f\" width=\"146\" height=\"%.1f\" fill=\"#fff\" "
                     "fill-opacity=\".85\" stroke=\"#dde2e8\"/>",
                     x - 4, y - 2, 14.0 * (double)shown + 4);
    for (size_t i = 0; i < n; i++) {
        if (!names[i])
            continue;
        cairn_buf_printf(b,
                         "<rect x=\"%.1f\" y=\"%.1f\" width=\"10\" height=\"10\" fill=\"%s\"/>"
                         "<text x=\"%.1f\" y=\"%.1f\" fill=\"#222\">",
                         x, y, color(colors[i]), x + 14, y + 9);
        put_short(b, names[i], 22);
        cairn_buf_puts(b, "</text>");
        y += 14;
    }
}

/* ---- x/y charts ------------------------------------------------------------------------ */

static void data_range(const cairn_series *s, size_t n_series, bool use_x, double *lo,
                       double *hi)
{
    *lo = INFINITY;
    *hi = -INFINITY;
    for (size_t k = 0; k < n_series; k++)
        for (size_t i = 0; i < s[k].n; i++) {
            double v = use_x ? s[k].x[i] : s[k].y[i];
            if (isfinite(v)) {
                *lo = fmin(*lo, v);
                *hi = fmax(*hi, v);
            }
            if (!use_x && s[k].lo && s[k].hi) {
                if (isfinite(s[k].lo[i]))
                    *lo = fmin(*lo, s[k].lo[i]);
                if (isfinite(s[k].hi[i]))
                    *hi = fmax(*hi, s[k].hi[i]);
            }
        }
}

/* The band of a series: one polygon per run of points with finite x, lo and hi. */
static void band(cairn_buf *b, const plot *p, const cairn_series *s)
{
    size_t i = 0;
    while (i < s->n) {
        while (i < s->n && !(isfinite(s->x[i]) && isfinite(s->lo[i]) && isfinite(s->hi[i])))
            i++;
        size_t j = i;
        while (j < s->n && isfinite(s->x[j]) && isfinite(s->lo[j]) && isfinite(s->hi[j]))
            j++;
        if (j > i) {
            cairn_buf_puts(b, "<path d=\"");
            for (size_t k = i; k < j; k++)
                cairn_buf_printf(b, "%c%.1f,%.1f", k == i ? 'M' : 'L', px(p, s->x[k]),
                                 py(p, s->hi[k]));
            if (j - i == 1)   /* a single window: a small bar rather than nothing */
                cairn_buf_printf(b, "h3v%.1fh-3", py(p, s->lo[i]) - py(p, s->hi[i]));
            for (size_t k = j; k-- > i;)
                cairn_buf_printf(b, "L%.1f,%.1f", px(p, s->x[k]), py(p, s->lo[k]));
            cairn_buf_printf(b, "Z\" fill=\"%s\" fill-opacity=\".18\" stroke=\"none\"/>",
                             color(s->color));
        }
        i = j;
    }
}

/* A line or step path; points closer than half a pixel to the last one drawn are
 * skipped (the last point of each run is always drawn). */
static void line(cairn_buf *b, const plot *p, const cairn_series *s)
{
    cairn_buf_puts(b, "<path d=\"");
    bool open = false;
    double lx = 0, ly = 0;
    size_t run_len = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (!isfinite(s->x[i]) || !isfinite(s->y[i])) {
            open = false;
            continue;
        }
        double x = px(p, s->x[i]), y = py(p, s->y[i]);
        bool last = i + 1 == s->n || !isfinite(s->x[i + 1]) || !isfinite(s->y[i + 1]);
        if (!open) {
            cairn_buf_printf(b, "M%.1f,%.1f", x, y);
            open = true;
            run_len = 1;
        } else if (last || fabs(x - lx) >= 0.5 || fabs(y - ly) >= 0.5) {
            if (s->kind == CAIRN_SERIES_STEP)
                cairn_buf_printf(b, "V%.1fH%.1f", y, x);
            else
                cairn_buf_printf(b, "L%.1f,%.1f", x, y);
            run_len++;
        } else {
            continue;
        }
        /* A lone point would be invisible as a path: mark it. */
        if (last && run_len == 1)
            cairn_buf_printf(b, "m-2,0h4m-2,-2v4");
        lx = x;
        ly = y;
    }
    cairn_buf_printf(b, "\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s/>", color(s->color),
                     s->dashed ? " stroke-dasharray=\"5,4\"" : "");
}

static void points(cairn_buf *b, const plot *p, const cairn_series *s)
{
    cairn_buf_printf(b, "<g fill=\"%s\" fill-opacity=\".55\">", color(s->color));
    for (size_t i = 0; i < s->n; i++)
        if (isfinite(s->x[i]) && isfinite(s->y[i]))
            cairn_buf_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\"/>", px(p, s->x[i]),
                             py(p, s->y[i]));
    cairn_buf_puts(b, "</g>");
}

void cairn_svg_xy(cairn_buf *b, const cairn_chart *c, const cairn_series *s, size_t n_series)
{
    plot p = {.left = 62, .right = c->width - 16.0, .top = 28, .bottom = c->height - 44.0};
    double lo, hi;
    data_range(s, n_series, true, &lo, &hi);
    p.x0 = isfinite(c->x_min) ? c->x_min : lo;
    p.x1 = isfinite(c->x_max) ? c->x_max : hi;
    fix_range(&p.x0, &p.x1);
    data_range(s, n_series, false, &lo, &hi);
    if (isfinite(lo) && isfinite(hi)) {
        double pad = (hi - lo) * 0.06;
        lo -= pad;
        hi += pad;
    }
    p.y0 = isfinite(c->y_min) ? c->y_min : lo;
    p.y1 = isfinite(c->y_max) ? c->y_max : hi;
    fix_range(&p.y0, &p.y1);

    svg_open(b, c);
    axes(b, c, &p);
    if (c->diagonal) {
        double a = fmax(p.x0, p.y0), z = fmin(p.x1, p.y1);
        if (z > a)
            cairn_buf_printf(b,
                             "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                             "stroke=\"#999\" stroke-dasharray=\"4,4\"/>",
                             px(&p, a), py(&p, a), px(&p, z), py(&p, z));
    }
    for (size_t k = 0; k < n_series; k++)
        if (s[k].lo && s[k].hi)
            band(b, &p, &s[k]);
    for (size_t k = 0; k < n_series; k++) {
        if (s[k].kind == CAIRN_SERIES_POINTS)
            points(b, &p, &s[k]);
        else
            line(b, &p, &s[k]);
    }
    const char *names[16];
    int colors[16];
    size_t nl = 0;
    for (size_t k = 0; k < n_series && nl < 16; k++) {
        names[nl] = s[k].name;
        colors[nl++] = s[k].color;
    }
    legend(b, &p, names, colors, nl);
    svg_close(b);
}

/* ---- bars -------------------------------------------------------------------------------- */

/* Labels under a band axis: rotated, every k-th when they would crowd. */
static void band_labels(cairn_buf *b, const plot *p, const char *const *labels, size_t n,
                        double slot)
{
    size_t every = 1;
    while (slot * (double)every < 14)
        every++;
    for (size_t i = 0; i < n; i += every) {
        if (!labels || !labels[i])
            continue;
        double x = p->left + slot * ((double)i + 0.5);
        cairn_buf_printf(b,
                         "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" font-size=\"10\" "
                         "fill=\"#444\" transform=\"rotate(-35 %.1f %.1f)\">",
                         x + 3, p->bottom + 12, x + 3, p->bottom + 12);
        put_short(b, labels[i], 16);
        cairn_buf_puts(b, "</text>");
    }
}

void cairn_svg_bars(cairn_buf *b, const cairn_chart *c, const char *const *labels, size_t n_bins,
                    const double *const *values, const char *const *set_names, size_t n_sets)
{
    plot p = {.left = 62, .right = c->width - 16.0, .top = 28, .bottom = c->height - 78.0};
    double hi = 0, lo = 0;
    for (size_t k = 0; k < n_sets; k++)
        for (size_t i = 0; i < n_bins; i++)
            if (isfinite(values[k][i])) {
                hi = fmax(hi, values[k][i]);
                lo = fmin(lo, values[k][i]);
            }
    p.x0 = 0;
    p.x1 = n_bins ? (double)n_bins : 1;
    p.y0 = isfinite(c->y_min) ? c->y_min : lo;
    p.y1 = isfinite(c->y_max) ? c->y_max : hi * 1.08;
    fix_range(&p.y0, &p.y1);

    svg_open(b, c);
    y_grid(b, &p);
    double slot = (p.right - p.left) / (n_bins ? (double)n_bins : 1);
    double bw = slot * 0.8 / (n_sets ? (double)n_sets : 1);
    double y0 = py(&p, 0);
    for (size_t i = 0; i < n_bins; i++) {
        /* One group per bin with its tooltip: the label and every set's value. */
        cairn_buf_puts(b, "<g><title>");
        if (labels)
            cairn_html_escape(b, labels[i]);
        for (size_t k = 0; k < n_sets; k++) {
            char v[40];
            cairn_report_fmt(v, sizeof v, values[k][i], 4);
            cairn_buf_puts(b, k == 0 ? ": " : ", ");
            if (set_names && set_names[k]) {
                cairn_html_escape(b, set_names[k]);
                cairn_buf_putc(b, ' ');
            }
            cairn_buf_puts(b, v);
        }
        cairn_buf_puts(b, "</title>");
        for (size_t k = 0; k < n_sets; k++) {
            double v = values[k][i];
            if (!isfinite(v))
                continue;
            double y = py(&p, v);
            double x = p.left + slot * (double)i + slot * 0.1 + bw * (double)k;
            cairn_buf_printf(b,
                             "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                             "fill=\"%s\"/>",
                             x, fmin(y, y0), fmax(bw - 0.5, 0.5), fmax(fabs(y0 - y), 0.5),
                             color((int)k));
        }
        cairn_buf_puts(b, "</g>");
    }
    cairn_buf_printf(b, "<path d=\"M%.1f,%.1fV%.1fH%.1f\" fill=\"none\" stroke=\"#555\"/>",
                     p.left, p.top, y0, p.right);
    band_labels(b, &p, labels, n_bins, slot);
    axis_labels(b, c, &p, c->height - 6.0);
    if (set_names) {
        int colors[16];
        size_t nl = n_sets < 16 ? n_sets : 16;
        for (size_t k = 0; k < nl; k++)
            colors[k] = (int)k;
        legend(b, &p, set_names, colors, nl);
    }
    svg_close(b);
}

void cairn_svg_hbars(cairn_buf *b, const cairn_chart *c, const char *const *labels,
                     const double *values, size_t n)
{
    plot p = {.left = 180, .right = c->width - 60.0, .top = 28, .bottom = c->height - 40.0};
    double lo = 0, hi = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(values[i])) {
            lo = fmin(lo, values[i]);
            hi = fmax(hi, values[i]);
        }
    p.x0 = lo;
    p.x1 = hi;
    fix_range(&p.x0, &p.x1);
    p.y0 = 0;
    p.y1 = 1;

    svg_open(b, c);
    x_grid(b, c, &p, 5);
    double row = (p.bottom - p.top) / (n ? (double)n : 1);
    double x0 = px(&p, 0);
    for (size_t i = 0; i < n; i++) {
        double y = p.top + row * (double)i;
        char v[40];
        cairn_report_fmt(v, sizeof v, values[i], 4);
        cairn_buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" fill=\"#222\">",
                         p.left - 6, y + row / 2 + 4);
        put_short(b, labels[i], 28);
        cairn_buf_puts(b, "<title>");
        cairn_html_escape(b, labels[i]);
        cairn_buf_puts(b, "</title></text>");
        if (!isfinite(values[i]))
            continue;
        double x = px(&p, values[i]);
        cairn_buf_printf(b,
                         "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"/>"
                         "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" fill=\"#444\">%s</text>",
                         fmin(x, x0), y + row * 0.15, fmax(fabs(x - x0), 0.5), row * 0.7,
                         color(values[i] < 0 ? 3 : 0), fmax(x, x0) + 4, y + row / 2 + 4, v);
    }
    cairn_buf_printf(b, "<path d=\"M%.1f,%.1fV%.1f\" stroke=\"#555\"/>", x0, p.top, p.bottom);
    axis_labels(b, c, &p, c->height - 6.0);
    svg_close(b);
}

/* ---- heatmaps ------------------------------------------------------------------------------ */

static const char *level_color(double v, double warn, double alert)
{
    if (v >= alert)
        return "#d9534f";
    if (v >= warn)
        return "#f2b63c";
    return "#b9dfb1";
}

void cairn_svg_heatmap(cairn_buf *b, const cairn_chart *c, const cairn_heat *h)
{
    plot p = {.left = 180, .right = c->width - 12.0, .top = 28, .bottom = c->height - 70.0};
    bool levels = h->levels || (isfinite(h->warn) && isfinite(h->alert));
    double max = 0;
    for (size_t i = 0; i < h->n_rows * h->n_cols; i++)
        if (isfinite(h->v[i]))
            max = fmax(max, h->v[i]);
    svg_open(b, c);
    double cw = (p.right - p.left) / (h->n_cols ? (double)h->n_cols : 1);
    double ch = (p.bottom - p.top) / (h->n_rows ? (double)h->n_rows : 1);
    for (size_t r = 0; r < h->n_rows; r++) {
        double y = p.top + ch * (double)r;
        if (h->row_labels && ch >= 7) {
            cairn_buf_printf(b,
                             "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" font-size=\"%d\" "
                             "fill=\"#222\">",
                             p.left - 6, y + ch / 2 + 4, ch >= 12 ? 11 : 9);
            put_short(b, h->row_labels[r], 28);
            cairn_buf_puts(b, "</text>");
        }
        for (size_t k = 0; k < h->n_cols; k++) {
            double v = h->v[r * h->n_cols + k];
            double x = p.left + cw * (double)k;
            char fill[16];
            double dark = 0;
            uint8_t lv = h->levels ? h->levels[r * h->n_cols + k] : 0;
            if (h->levels) {
                snprintf(fill, sizeof fill, "%s",
                         lv >= 3 ? "#d9534f" : lv == 2 ? "#f2b63c" : lv == 1 ? "#b9dfb1"
                                                                             : "#f0f0f0");
            } else if (!isfinite(v)) {
                snprintf(fill, sizeof fill, "#f0f0f0");
            } else if (levels) {
                snprintf(fill, sizeof fill, "%s", level_color(v, h->warn, h->alert));
            } else {
                /* white (244,248,252) to blue (31,78,150) by v / max */
                double t = max > 0 ? fmin(fmax(v / max, 0), 1) : 0;
                dark = t;
                snprintf(fill, sizeof fill, "#%02x%02x%02x", (int)(244 - t * 213),
                         (int)(248 - t * 170), (int)(252 - t * 102));
            }
            char sv[40];
            cairn_report_fmt(sv, sizeof sv, v, h->value_digits);
            cairn_buf_printf(b,
                             "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                             "fill=\"%s\" stroke=\"#fff\" stroke-width=\".5\"><title>",
                             x, y, cw, ch, fill);
            if (h->row_labels)
                cairn_html_escape(b, h->row_labels[r]);
            cairn_buf_puts(b, " | ");
            if (h->col_labels)
                cairn_html_escape(b, h->col_labels[k]);
            cairn_buf_printf(b, ": %s</title></rect>", sv);
            if (h->show_values)
                cairn_buf_printf(b,
                                 "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" "
                                 "font-size=\"12\" fill=\"%s\">%s</text>",
                                 x + cw / 2, y + ch / 2 + 4, dark > 0.55 ? "#fff" : "#111", sv);
        }
    }
    band_labels(b, &p, h->col_labels, h->n_cols, cw);
    axis_labels(b, c, &p, c->height - 6.0);
    if (h->levels) {
        cairn_buf_puts(b, "<g font-size=\"10\" fill=\"#333\"><rect x=\"8\" y=\"6\" width=\"10\" "
                          "height=\"10\" fill=\"#b9dfb1\"/><text x=\"22\" y=\"15\">ok</text>"
                          "<rect x=\"48\" y=\"6\" width=\"10\" height=\"10\" fill=\"#f2b63c\"/>"
                          "<text x=\"62\" y=\"15\">warn</text><rect x=\"98\" y=\"6\" "
                          "width=\"10\" height=\"10\" fill=\"#d9534f\"/><text x=\"112\" "
                          "y=\"15\">alert</text><rect x=\"148\" y=\"6\" width=\"10\" "
                          "height=\"10\" fill=\"#f0f0f0\"/><text x=\"162\" y=\"15\">no "
                          "data</text></g>");
    } else if (levels) {
        char w[40], a[40];
        cairn_report_fmt(w, sizeof w, h->warn, 2);
        cairn_report_fmt(a, sizeof a, h->alert, 2);
        cairn_buf_printf(b,
                         "<g font-size=\"10\" fill=\"#333\"><rect x=\"%.1f\" y=\"6\" width=\"10\" "
                         "height=\"10\" fill=\"#b9dfb1\"/><text x=\"%.1f\" y=\"15\">&lt; %s</text>"
                         "<rect x=\"%.1f\" y=\"6\" width=\"10\" height=\"10\" fill=\"#f2b63c\"/>"
                         "<text x=\"%.1f\" y=\"15\">warn</text><rect x=\"%.1f\" y=\"6\" "
                         "width=\"10\" height=\"10\" fill=\"#d9534f\"/><text x=\"%.1f\" "
                         "y=\"15\">alert &gt;= %s</text></g>",
                         8.0, 22.0, w, 80.0, 94.0, 130.0, 144.0, a);
    }
    svg_close(b);
}
