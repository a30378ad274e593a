/*
 * pipeline.c -- names of tasks, split kinds and severities, the split
 * container, and the findings list that every check appends to and review
 * later orders and prints.
 */
#include "pipeline/pipeline.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

const char *cairn_task_name(cairn_task t)
{
    switch (t) {
    case CAIRN_TASK_BINARY: return "binary";
    case CAIRN_TASK_REGRESSION: return "regression";
    case CAIRN_TASK_MULTICLASS: return "multiclass";
    }
    return "?";
}

const char *cairn_split_by_name(cairn_split_by b)
{
    switch (b) {
    case CAIRN_SPLIT_AUTO: return "auto";
    case CAIRN_SPLIT_TIME: return "time";
    case CAIRN_SPLIT_GROUP: return "group";
    case CAIRN_SPLIT_STRATIFIED: return "stratified";
    case CAIRN_SPLIT_ORDER: return "order";
    }
    return "?";
}

const char *cairn_severity_name(cairn_severity s)
{
    switch (s) {
    case CAIRN_SEV_CRITICAL: return "critical";
    case CAIRN_SEV_HIGH: return "high";
    case CAIRN_SEV_MEDIUM: return "medium";
    case CAIRN_SEV_LOW: return "low";
    case CAIRN_SEV_INFO: return "info";
    }
    return "?";
}

void cairn_split_reset(cairn_split *s)
{
    cairn_free(s->part);
    memset(s, 0, sizeof *s);
}

cairn_status cairn_findings_add(cairn_findings *l, cairn_severity sev, const char *code,
                                const char *column, double value, const char *what,
                                const char *why, const char *fix)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        cairn_finding *p = cairn_reallocarray(l->items, cap, sizeof *p);
        if (!p)
            return CAIRN_ENOMEM;
        l->items = p;
        l->cap = cap;
    }
    cairn_finding *f = &l->items[l->n++];
    memset(f, 0, sizeof *f);
    f->severity = sev;
    f->value = value;
    snprintf(f->code, sizeof f->code, "%s", code ? code : "");
    snprintf(f->column, sizeof f->column, "%s", column ? column : "");
    snprintf(f->what, sizeof f->what, "%s", what ? what : "");
    snprintf(f->why, sizeof f->why, "%s", why ? why : "");
    snprintf(f->fix, sizeof f->fix, "%s", fix ? fix : "");
    return CAIRN_OK;
}

void cairn_findings_reset(cairn_findings *l)
{
    cairn_free(l->items);
    memset(l, 0, sizeof *l);
}

void cairn_findings_to_json(const cairn_findings *l, cairn_buf *b)
{
    cairn_buf_putc(b, '[');
    for (size_t i = 0; i < l->n; i++) {
        const cairn_finding *f = &l->items[i];
        if (i)
            cairn_buf_putc(b, ',');
        cairn_buf_printf(b, "{\"severity\":\"%s\",\"code\":", cairn_severity_name(f->severity));
        cairn_buf_put_json_string(b, f->code, strlen(f->code));
        cairn_buf_puts(b, ",\"column\":");
        cairn_buf_put_json_string(b, f->column, strlen(f->column));
        cairn_buf_puts(b, ",\"value\":");
        cairn_buf_put_json_number(b, f->value);
        cairn_buf_puts(b, ",\"what\":");
        cairn_buf_put_json_string(b, f->what, strlen(f->what));
        cairn_buf_puts(b, ",\"why\":");
        cairn_buf_put_json_string(b, f->why, strlen(f->why));
        cairn_buf_puts(b, ",\"fix\":");
        cairn_buf_put_json_string(b, f->fix, strlen(f->fix));
        cairn_buf_putc(b, '}');
    }
    cairn_buf_putc(b, ']');
}
