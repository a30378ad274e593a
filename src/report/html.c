/*
 * html.c -- the page shell of the HTML reports: escaping, the inline CSS,
 * sections, figures and tables. Charts are svg.c's; what goes in the pages
 * is run_report.c's and monitor_report.c's.
 *
 * The CSS is written once per page and uses only system font families, so
 * nothing is fetched. Colours of severities (sev-ok, sev-warn, sev-alert)
 * match the heatmap's levels in svg.c.
 */
#include "report/report.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void cairn_html_escape_n(cairn_buf *b, const char *s, size_t n)
{
    size_t i = 0, run = 0;   /* s[run..i) is plain text not yet appended */
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        const char *rep = NULL;
        size_t skip = 1;
        switch (c) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&#39;"; break;
        default:
            if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) {
                rep = "?";
            } else if (c >= 0x80) {
                /* A whole valid UTF-8 sequence passes; a bad byte becomes '?' so the
                   output stays valid UTF-8 (and XML). */
                size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
                if (len == 1 || i + len > n || cairn_utf8_invalid_at(s + i, len) != len)
                    rep = "?";
                else
                    skip = len;
            }
        }
        if (rep) {
            cairn_buf_append(b, s + run, i - run);
            cairn_buf_puts(b, rep);
            i += 1;
            run = i;
        } else {
            i += skip;
        }
    }
    cairn_buf_append(b, s + run, n - run);
}

void cairn_html_escape(cairn_buf *b, const char *s)
{
    if (s)
        cairn_html_escape_n(b, s, strlen(s));
}

/* Kept short: it is in every report once. */
static const char PAGE_CSS[] =
    ":root{color-scheme:light}"
    "body{margin:0;background:#f6f7f9;color:#1d232b;"
    "font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif}"
    "main{max-width:1180px;margin:0 auto;padding:16px 24px 48px}"
    "header{border-bottom:2px solid #d4d9e0;margin-bottom:8px}"
    "h1{font-size:22px;margin:12px 0 4px}h2{font-size:18px;margin:28px 0 8px;"
    "border-bottom:1px solid #d4d9e0;padding-bottom:4px}h3{font-size:15px;margin:16px 0 6px}"
    "nav a{margin-right:12px;color:#2a5db0;text-decoration:none}"
    "section{margin-bottom:8px}"
    ".charts{display:flex;flex-wrap:wrap;gap:12px}"
    "figure.chart{margin:0;background:#fff;border:1px solid #dde2e8;border-radius:6px;"
    "padding:6px}figure.chart svg{display:block}"
    "figcaption{font-size:12px;color:#59636e;max-width:520px;padding:2px 4px}"
    "table{border-collapse:collapse;background:#fff;margin:6px 0 12px;font-size:13px}"
    "th,td{border:1px solid #dde2e8;padding:3px 8px;text-align:left;vertical-align:top}"
    "th{background:#eef1f5}td.num{text-align:right;font-variant-numeric:tabular-nums}"
    ".note{color:#59636e;font-style:italic}"
    ".sev-ok{background:#e3f2e1}.sev-warn{background:#fbecc5}.sev-alert{background:#f7d2cd}"
    ".verdict{display:inline-block;padding:4px 12px;border-radius:4px;font-weight:600}"
    ".kv td:first-child{color:#59636e;white-space:nowrap}"
    "pre{background:#fff;border:1px solid #dde2e8;padding:8px;overflow:auto;font-size:12px}"
    ".finding{background:#fff;border-left:4px solid #ccc;padding:4px 10px;margin:6px 0}"
    ".finding.critical{border-color:#c0392b}.finding.high{border-color:#e67e22}"
    ".finding.medium{border-color:#d4ac0d}.finding.strength{border-color:#27ae60}"
    ".finding p{margin:2px 0}";

void cairn_html_begin(cairn_buf *b, const char *title)
{
    cairn_buf_puts(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                      "<title>");
    cairn_html_escape(b, title);
    cairn_buf_puts(b, "</title>\n<style>");
    cairn_buf_puts(b, PAGE_CSS);
    cairn_buf_puts(b, "</style>\n</head>\n<body>\n<main>\n");
}

void cairn_html_end(cairn_buf *b)
{
    cairn_buf_puts(b, "</main>\n</body>\n</html>\n");
}

void cairn_html_section_begin(cairn_buf *b, const char *id, const char *heading)
{
    cairn_buf_printf(b, "<section id=\"%s\">\n<h2>", id);
    cairn_html_escape(b, heading);
    cairn_buf_puts(b, "</h2>\n");
}

void cairn_html_section_end(cairn_buf *b)
{
    cairn_buf_puts(b, "</section>\n");
}

void cairn_html_figure_begin(cairn_buf *b, const char *id)
{
    cairn_buf_puts(b, "<figure class=\"chart\" id=\"");
    cairn_html_escape(b, id);
    cairn_buf_puts(b, "\">");
}

void cairn_html_figure_end(cairn_buf *b, const char *caption)
{
    if (caption) {
        cairn_buf_puts(b, "<figcaption>");
        cairn_html_escape(b, caption);
        cairn_buf_puts(b, "</figcaption>");
    }
    cairn_buf_puts(b, "</figure>\n");
}

void cairn_html_note(cairn_buf *b, const char *text)
{
    cairn_buf_puts(b, "<p class=\"note\">");
    cairn_html_escape(b, text);
    cairn_buf_puts(b, "</p>\n");
}

void cairn_html_table_begin(cairn_buf *b, const char *id, const char *const *headers, size_t n)
{
    if (id)
        cairn_buf_printf(b, "<table id=\"%s\">\n<thead><tr>", id);
    else
        cairn_buf_puts(b, "<table>\n<thead><tr>");
    for (size_t i = 0; i < n; i++) {
        cairn_buf_puts(b, "<th>");
        cairn_html_escape(b, headers[i]);
        cairn_buf_puts(b, "</th>");
    }
    cairn_buf_puts(b, "</tr></thead>\n<tbody>\n");
}

void cairn_html_row_begin(cairn_buf *b)
{
    cairn_buf_puts(b, "<tr>");
}

void cairn_html_cell(cairn_buf *b, const char *text, bool num)
{
    cairn_buf_puts(b, num ? "<td class=\"num\">" : "<td>");
    cairn_html_escape(b, text);
    cairn_buf_puts(b, "</td>");
}

void cairn_html_cell_class(cairn_buf *b, const char *text, const char *cls)
{
    cairn_buf_puts(b, "<td class=\"");
    cairn_html_escape(b, cls);
    cairn_buf_puts(b, "\">");
    cairn_html_escape(b, text);
    cairn_buf_puts(b, "</td>");
}

void cairn_html_row_end(cairn_buf *b)
{
    cairn_buf_puts(b, "</tr>\n");
}

void cairn_html_table_end(cairn_buf *b)
{
    cairn_buf_puts(b, "</tbody>\n</table>\n");
}

void cairn_report_fmt(char *out, size_t cap, double v, int digits)
{
    if (!isfinite(v))
        snprintf(out, cap, "-");
    else if (v != 0 && (fabs(v) >= 1e9 || fabs(v) < 1e-4))
        snprintf(out, cap, "%.*e", digits > 0 ? digits - 1 : 0, v);
    else
        snprintf(out, cap, "%.*f", digits, v);
}

void cairn_report_fmt_interval(char *out, size_t cap, double e, double lo, double hi, int digits)
{
    char se[40], sl[40], sh[40];
    cairn_report_fmt(se, sizeof se, e, digits);
    if (isfinite(e) && isfinite(lo) && isfinite(hi)) {
        cairn_report_fmt(sl, sizeof sl, lo, digits);
        cairn_report_fmt(sh, sizeof sh, hi, digits);
        snprintf(out, cap, "%s [%s, %s]", se, sl, sh);
    } else {
        snprintf(out, cap, "%s", se);
    }
}
