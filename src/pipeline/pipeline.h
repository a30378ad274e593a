/*
 * pipeline.h -- the types the training pipeline's parts share: tasks, split
 * kinds, the row-to-part assignment, and findings (what review shows).
 *
 * The parts have their own headers: spec.h (the YAML pipeline spec),
 * split.h (splits and data leakage checks), transform.h (feature
 * transforms fitted on the training part). Metrics live in src/eval/eval.h.
 */
#ifndef CAIRN_PIPELINE_H
#define CAIRN_PIPELINE_H

#include "data/frame.h"

typedef enum cairn_task {
    CAIRN_TASK_BINARY = 0,
    CAIRN_TASK_REGRESSION,
    CAIRN_TASK_MULTICLASS
} cairn_task;

typedef enum cairn_split_by {
    CAIRN_SPLIT_AUTO = 0,   /* time if the spec names a time column, else group, else stratified */
    CAIRN_SPLIT_TIME,
    CAIRN_SPLIT_GROUP,
    CAIRN_SPLIT_STRATIFIED,
    CAIRN_SPLIT_ORDER       /* row order is the time axis */
} cairn_split_by;

const char *cairn_task_name(cairn_task t);          /* "binary", ... */
const char *cairn_split_by_name(cairn_split_by b);  /* "auto", "time", ... */

/* Which part a row belongs to. */
enum { CAIRN_PART_TRAIN = 0, CAIRN_PART_VALID = 1, CAIRN_PART_TEST = 2 };

typedef struct cairn_split {
    cairn_split_by by;        /* resolved: never AUTO */
    size_t n_rows;
    uint8_t *part;            /* n_rows entries: CAIRN_PART_*; owned */
    size_t count[3];          /* rows per part */
} cairn_split;

void cairn_split_reset(cairn_split *s);

/* Findings, in review's severity order. */
typedef enum cairn_severity {
    CAIRN_SEV_CRITICAL = 0,
    CAIRN_SEV_HIGH,
    CAIRN_SEV_MEDIUM,
    CAIRN_SEV_LOW,
    CAIRN_SEV_INFO
} cairn_severity;

const char *cairn_severity_name(cairn_severity s);  /* "critical", ... */

typedef struct cairn_finding {
    cairn_severity severity;
    char code[48];            /* stable identifier, e.g. "single_feature_leak" */
    char column[128];         /* the column concerned, "" when none */
    char what[256];           /* what was found, with the numbers */
    char why[256];            /* why it matters */
    char fix[256];            /* what to do */
    double value;             /* the measured value (AUC, count, ...), NaN when none */
} cairn_finding;

typedef struct cairn_findings {
    cairn_finding *items;
    size_t n, cap;
} cairn_findings;

/* Appends a finding (strings are copied and truncated). Errors: CAIRN_ENOMEM. */
cairn_status cairn_findings_add(cairn_findings *l, cairn_severity sev, const char *code,
                                const char *column, double value, const char *what,
                                const char *why, const char *fix);
void cairn_findings_reset(cairn_findings *l);
/* JSON array of findings, appended to b. */
void cairn_findings_to_json(const cairn_findings *l, cairn_buf *b);

#endif /* CAIRN_PIPELINE_H */
