/*
 * spec.h -- the YAML pipeline spec that `cairn train SPEC.yaml` reads (see
 * DESIGN.md, "Pipeline spec", and docs/spec.md for every key).
 *
 * Two steps. cairn_spec_parse() reads the text against the fixed schema
 * alone: unknown, duplicate or missing keys, values of the wrong type or out
 * of range, and aliases are errors naming NAME:LINE:COLUMN (1-based). Then
 * cairn_spec_resolve() checks the spec against the dataset's frame (columns
 * exist, the label fits the task, the time column is a time), turns the
 * AUTO split into a concrete kind and computes the feature list. PII columns
 * are not removed here: the caller applies the contract's PII flags, with
 * spec->allow_pii as the explicit exceptions.
 *
 * A spec owns all its strings and arrays; free it with cairn_spec_free().
 * Not thread-safe per spec; distinct specs are independent.
 */
#ifndef CAIRN_PIPELINE_SPEC_H
#define CAIRN_PIPELINE_SPEC_H

#include "pipeline/pipeline.h"

/* Limits on untrusted input (exceeding one is CAIRN_ETOOBIG). */
#define CAIRN_SPEC_MAX_BYTES (1u << 20)   /* the spec text */
#define CAIRN_SPEC_MAX_DEPTH 16           /* nesting of mappings and lists */
#define CAIRN_SPEC_MAX_ITEMS 4096         /* entries of any one list or mapping */
#define CAIRN_SPEC_MAX_NODES 65536        /* scalars, lists and mappings in all */

/* Where a key or list item stood in the spec text (1-based; 0 when absent). */
typedef struct cairn_spec_pos {
    long line, column;
} cairn_spec_pos;

/* An owned list of strings, each with its position in the spec. */
typedef struct cairn_spec_list {
    char **items;           /* n NUL-terminated strings, owned */
    cairn_spec_pos *pos;    /* n positions */
    size_t n;
} cairn_spec_list;

typedef enum cairn_spec_model_type {
    CAIRN_SPEC_MODEL_GBDT = 0,
    CAIRN_SPEC_MODEL_LINEAR,
    CAIRN_SPEC_MODEL_BASELINE
} cairn_spec_model_type;

typedef enum cairn_spec_threshold_by {
    CAIRN_SPEC_THRESHOLD_MAX_F1 = 0,   /* the default */
    CAIRN_SPEC_THRESHOLD_FIXED,        /* threshold.value */
    CAIRN_SPEC_THRESHOLD_COST          /* cost: {fp, fn}: the threshold of least expected cost */
} cairn_spec_threshold_by;

typedef enum cairn_spec_gate_op {
    CAIRN_SPEC_GATE_MIN = 0,      /* metric >= value */
    CAIRN_SPEC_GATE_MAX,          /* metric <= value */
    CAIRN_SPEC_GATE_MIN_DELTA,    /* metric - reference >= value */
    CAIRN_SPEC_GATE_MAX_DELTA     /* metric - reference <= value */
} cairn_spec_gate_op;

const char *cairn_spec_model_type_name(cairn_spec_model_type t);  /* "gbdt", ... */
const char *cairn_spec_gate_op_name(cairn_spec_gate_op op);       /* "min", ... */

typedef struct cairn_spec_gate {
    char *metric;                 /* as written, e.g. "auc_vs_baseline"; owned */
    cairn_spec_gate_op op;
    double value;                 /* finite */
    cairn_spec_pos pos;           /* of the metric's key */
} cairn_spec_gate;

typedef struct cairn_spec_gbdt {
    int64_t rounds;               /* >= 1; default 500 */
    int64_t max_depth;            /* 1..64; default 4 */
    double learning_rate;         /* (0, 1]; default 0.1 */
    int64_t early_stopping;       /* rounds without improvement; 0 = off; default 30 */
    double min_child_weight;      /* >= 0; default 1 */
    double subsample;             /* (0, 1]; default 1 */
    double colsample_bytree;      /* (0, 1]; default 1 */
    double lambda;                /* L2 on leaf weights, >= 0; default 1 */
    double alpha;                 /* L1 on leaf weights, >= 0; default 0 */
    int64_t max_bin;              /* 2..65535; default 256 */
    int64_t threads;              /* 0 = all cores (default) */
} cairn_spec_gbdt;

typedef struct cairn_spec_linear {
    double l2;                    /* >= 0; default 1 */
    int64_t max_iter;             /* >= 1; default 100 */
    double tol;                   /* > 0; default 1e-6 */
} cairn_spec_linear;

/* The keys of the spec's monitor: section, in this order. Levels are non-negative
 * numbers; min_rows a whole number. */
#define CAIRN_SPEC_MONITOR_KEYS 18
extern const char *const cairn_spec_monitor_keys[CAIRN_SPEC_MONITOR_KEYS];

typedef struct cairn_spec {
    char *source;                 /* the verbatim spec text (recorded with each run), NUL-terminated */
    size_t source_len;
    char *source_name;            /* the NAME used in error locations */

    char *name;                   /* model name in the registry */
    char *data;                   /* "NAME" or "NAME@N" as written */
    char *data_name;              /* NAME */
    int data_version;             /* N, 0 = newest */
    char *label;
    char *positive;               /* binary: the label value that is 1 (its text); else NULL */
    cairn_task task;              /* default binary */
    char *entity;                 /* NULL when absent */
    char *time;                   /* NULL when absent */

    cairn_split_by split_by;      /* AUTO until resolved */
    double split_valid;           /* default 0.1 */
    double split_test;            /* default 0.2 */
    bool allow_time_leak;         /* default false */

    cairn_spec_list include;      /* features.include (n == 0: absent) */
    cairn_spec_list exclude;      /* features.exclude */
    cairn_spec_list allow_pii;    /* features.allow_pii */
    bool has_include;

    cairn_spec_model_type model_type;  /* default gbdt */
    cairn_spec_gbdt gbdt;
    cairn_spec_linear linear;

    uint64_t seed;                /* default 42 */

    cairn_spec_list metrics;      /* evaluation.metrics (empty: the task's defaults) */
    cairn_spec_list slices;       /* evaluation.slices */
    int64_t bootstrap;            /* resamples, 0 = none; default 1000 */
    cairn_spec_threshold_by threshold_by;
    double threshold_value;       /* FIXED: in [0, 1] */
    double cost_fp, cost_fn;      /* COST */

    cairn_spec_gate *gates;       /* in the order written */
    size_t n_gates;

    /* monitor: thresholds for `cairn monitor` (cairn_spec_monitor_keys[i] names
       monitor[i]); NaN: not given, the monitor's default applies. */
    double monitor[CAIRN_SPEC_MONITOR_KEYS];
    bool has_monitor;

    /* Positions of keys, for errors found later against the data. */
    cairn_spec_pos pos_doc, pos_label, pos_positive, pos_task, pos_entity, pos_time,
        pos_split, pos_features, pos_seed;

    /* Filled by cairn_spec_resolve(). */
    bool resolved;
    cairn_spec_list features;     /* the feature columns, in frame order (include: as listed) */
} cairn_spec;

/*
 * Parses a spec from yaml[0..len) (need not be NUL-terminated); name is used
 * in error locations ("NAME:LINE:COLUMN"; NULL: "spec"). On success *out is
 * a new spec (split_by may be AUTO, features empty, resolved false); on
 * failure *out is NULL. Errors: CAIRN_EINPUT (bad YAML, unknown / duplicate /
 * missing key, wrong type, bad enum value, bad range, alias), CAIRN_ETOOBIG
 * (beyond the CAIRN_SPEC_MAX_* limits), CAIRN_ENOMEM.
 */
cairn_status cairn_spec_parse(const char *yaml, size_t len, const char *name, cairn_spec **out,
                              cairn_error *err);

/*
 * Checks the spec against the dataset's frame f (borrowed) and completes it:
 * the label, entity, time, slices, features.include/exclude/allow_pii
 * columns exist; the label fits the task (binary: exactly two distinct values
 * present, `positive` one of them; regression: int64 or float64;
 * multiclass: at least three distinct values, not float64); the time column
 * is a timestamp or a number; the split AUTO becomes TIME (time given), GROUP
 * (entity given) or STRATIFIED; the feature list is computed. Errors name
 * the column and the line of its key: CAIRN_EINPUT; CAIRN_ENOMEM. On failure
 * the spec is left unresolved (features empty).
 */
cairn_status cairn_spec_resolve(cairn_spec *s, const cairn_frame *f, cairn_error *err);

/* --seed: replaces the spec's seed. */
void cairn_spec_set_seed(cairn_spec *s, uint64_t seed);

/*
 * Appends the spec as canonical JSON (fixed key order, doubles that read back
 * exactly, no whitespace) to b: every setting with its default filled in,
 * "features" only once resolved. The source text is not included. Allocation
 * failure is sticky in b.
 */
void cairn_spec_to_json(const cairn_spec *s, cairn_buf *b);

/* Frees a spec; accepts NULL. */
void cairn_spec_free(cairn_spec *s);

#endif /* CAIRN_PIPELINE_SPEC_H */
