/*
 * cairn.h -- the public C API of libcairn.
 *
 * This is the only public header. A name that is not declared here is not part
 * of the API and may change without notice. It includes standard headers only.
 *
 * ABI promise: within one major version (CAIRN_VERSION_MAJOR) functions are
 * only added, never removed or changed; structs that callers allocate are
 * either opaque or initialised by a cairn_xxx_opts_init() function so fields
 * can be appended. Anything to be removed is first marked CAIRN_DEPRECATED for
 * at least one minor release.
 *
 * Errors: every call that can fail returns a cairn_status (CAIRN_OK == 0) and,
 * when the caller passes one, fills a caller-owned cairn_error with the code, a
 * message and where the problem is (file:line:column, row and field, byte
 * offset). Nothing in the library prints, aborts on bad input, or keeps
 * process-wide mutable state.
 *
 * Thread-safety: handles are not shared between threads unless the function's
 * comment says so; distinct handles may be used from distinct threads.
 */
#ifndef CAIRN_H
#define CAIRN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#  define CAIRN_API __declspec(dllexport)
#else
#  define CAIRN_API __attribute__((visibility("default")))
#endif
#define CAIRN_DEPRECATED __attribute__((deprecated))

#define CAIRN_VERSION_MAJOR 0
#define CAIRN_VERSION_MINOR 1
#define CAIRN_VERSION_PATCH 0

/* Returns the library's version as "MAJOR.MINOR.PATCH" (static storage). */
CAIRN_API const char *cairn_version(void);

/*
 * The status table: X(NAME, default message, CLI exit code, HTTP status).
 * Exit codes: 0 ok; 1 a check said no; 2 usage error; 3 bad input data or
 * file; 4 internal or I/O error.
 */
#define CAIRN_STATUS_MAP(X)                                                   \
    X(OK,        "ok",                                  0, 200)               \
    X(ECHECK,    "a check failed",                      1, 422)               \
    X(EUSAGE,    "invalid usage",                       2, 400)               \
    X(EINVAL,    "invalid argument",                    2, 400)               \
    X(ENOTFOUND, "not found",                           3, 404)               \
    X(EINPUT,    "bad input data",                      3, 400)               \
    X(ETOOBIG,   "input exceeds a size limit",          3, 413)               \
    X(ECORRUPT,  "stored object is corrupt",            3, 500)               \
    X(EIO,       "input/output error",                  4, 500)               \
    X(ENOMEM,    "out of memory",                       4, 503)               \
    X(EINTERNAL, "internal error",                      4, 500)

typedef enum cairn_status {
#define CAIRN_X_ENUM(name, msg, exitc, http) CAIRN_##name,
    CAIRN_STATUS_MAP(CAIRN_X_ENUM)
#undef CAIRN_X_ENUM
    CAIRN_STATUS_COUNT_
} cairn_status;

/* Sizes of the message buffers in cairn_error, including the NUL. */
#define CAIRN_ERROR_MSG_MAX 512
#define CAIRN_ERROR_WHERE_MAX 512

/*
 * A caller-owned error. Zero-initialise it ({0}); a failing call fills code,
 * msg (what went wrong, NUL-terminated) and where (the location, possibly
 * empty). A successful call leaves it untouched.
 */
typedef struct cairn_error {
    cairn_status code;
    char msg[CAIRN_ERROR_MSG_MAX];
    char where[CAIRN_ERROR_WHERE_MAX];
} cairn_error;

/* The symbolic name of a status, e.g. "EINPUT" (static storage). */
CAIRN_API const char *cairn_status_name(cairn_status s);
/* The default one-line message of a status (static storage). */
CAIRN_API const char *cairn_status_message(cairn_status s);
/* The command-line exit code (0-4) for a status. */
CAIRN_API int cairn_status_exit_code(cairn_status s);
/* The HTTP status code for a status. */
CAIRN_API int cairn_status_http(cairn_status s);

/* Column value types. */
typedef enum cairn_type {
    CAIRN_TYPE_NONE = 0,
    CAIRN_TYPE_BOOL = 1,
    CAIRN_TYPE_INT64 = 2,
    CAIRN_TYPE_FLOAT64 = 3,
    CAIRN_TYPE_TIMESTAMP = 4, /* int64 microseconds since 1970-01-01T00:00:00Z */
    CAIRN_TYPE_STRING = 5     /* categorical, dictionary-encoded */
} cairn_type;

/* "bool", "int64", "float64", "timestamp", "string" (static storage). */
CAIRN_API const char *cairn_type_name(cairn_type t);

/* ------------------------------------------------------------------------ */
/* Homes                                                                    */
/* ------------------------------------------------------------------------ */

/*
 * A home holds the registry database (cairn.db, SQLite in WAL mode), the
 * content-addressed objects/ and the prediction logs/. A handle is used by one
 * thread at a time.
 */
typedef struct cairn_home cairn_home;

/*
 * Creates a home in dir (made if missing) or checks an existing one. Idempotent.
 * Errors: CAIRN_EIO when the directory or database cannot be created.
 */
CAIRN_API cairn_status cairn_home_init(const char *dir, cairn_error *err);

/*
 * Opens an existing home. On success *out is a new handle the caller closes
 * with cairn_home_close(); on failure *out is NULL. Errors: CAIRN_ENOTFOUND
 * when dir holds no home, CAIRN_ECORRUPT when its database is unreadable.
 */
CAIRN_API cairn_status cairn_home_open(const char *dir, cairn_home **out, cairn_error *err);

/* Closes a home; accepts NULL. */
CAIRN_API void cairn_home_close(cairn_home *home);

/* ------------------------------------------------------------------------ */
/* Datasets                                                                 */
/* ------------------------------------------------------------------------ */

typedef enum cairn_format {
    CAIRN_FORMAT_AUTO = 0, /* by file extension: .jsonl/.ndjson (optionally .gz) is JSONL, else CSV */
    CAIRN_FORMAT_CSV = 1,
    CAIRN_FORMAT_JSONL = 2
} cairn_format;

#define CAIRN_MAX_NA_MARKERS 16

/* Options for reading a file into a dataset. Initialise with cairn_read_opts_init(). */
typedef struct cairn_read_opts {
    cairn_format format;
    char delimiter;          /* 0: sniff among , ; TAB | */
    int skip_initial_space;  /* 1: drop spaces after a delimiter (Adult's ", ") ; -1: auto */
    const char *na[CAIRN_MAX_NA_MARKERS]; /* extra NA markers, borrowed, NULL-terminated */
    int no_default_na;       /* 1: only the markers in na[] (and the empty field) are NA */
    size_t max_field_bytes;  /* default 1 MiB */
    int n_threads;           /* 0: all cores */
    const char *contract_path; /* optional contract whose column types are forced */
    int no_header;           /* 1: CSV without a header line; columns are column_1..column_N */
    int latin1;              /* 1: the input is ISO-8859-1; it is converted to UTF-8 */
    /* Optional progress callback: stage is "read", "snapshot", "stats" or "record", in
     * that order (statistics are computed while the snapshot is written); fraction in
     * [0,1] within the stage. Called from the calling thread only. */
    void (*progress)(void *ctx, const char *stage, double fraction);
    void *progress_ctx;
} cairn_read_opts;

CAIRN_API void cairn_read_opts_init(cairn_read_opts *opts);

/* A summary of one dataset version; strings are owned by the struct. */
typedef struct cairn_dataset_info {
    char name[128];
    int version;
    char hash[129];          /* hex BLAKE2b-256 of the snapshot */
    char source[1024];
    uint64_t source_bytes;
    uint64_t n_rows;
    uint32_t n_cols;
    char created_at[32];     /* ISO 8601 UTC */
    int existed;             /* 1 when an add found the same content already stored */
} cairn_dataset_info;

/*
 * Reads path (CSV or JSONL, optionally .gz), computes column statistics, writes
 * an immutable zstd snapshot named by its BLAKE2b hash into the home's objects
 * and records NAME@N. Adding the same content again under the same name
 * returns the existing version with info->existed = 1. On any error nothing is
 * recorded and no temporary file remains.
 * Errors: CAIRN_EINPUT (malformed data; where = FILE:LINE:COLUMN),
 * CAIRN_ETOOBIG, CAIRN_ENOTFOUND / CAIRN_EIO (file), CAIRN_ENOMEM.
 */
CAIRN_API cairn_status cairn_dataset_add(cairn_home *home, const char *path, const char *name,
                                         const cairn_read_opts *opts, cairn_dataset_info *info,
                                         cairn_error *err);

/*
 * Looks up "NAME" (the newest version) or "NAME@N". Errors: CAIRN_ENOTFOUND,
 * CAIRN_EINVAL for a malformed reference.
 */
CAIRN_API cairn_status cairn_dataset_get(cairn_home *home, const char *ref,
                                         cairn_dataset_info *info, cairn_error *err);

/* ------------------------------------------------------------------------ */
/* Contracts and single-row validation                                      */
/* ------------------------------------------------------------------------ */

typedef struct cairn_contract cairn_contract;

/* Reads a contract YAML file. Errors: CAIRN_EINPUT with where = FILE:LINE. */
CAIRN_API cairn_status cairn_contract_load(const char *path, cairn_contract **out,
                                           cairn_error *err);
CAIRN_API void cairn_contract_free(cairn_contract *c);

/* A value of one field of one row, as it arrives in a request. */
typedef enum cairn_value_kind {
    CAIRN_VALUE_NULL = 0,
    CAIRN_VALUE_BOOL,
    CAIRN_VALUE_NUMBER,
    CAIRN_VALUE_STRING
} cairn_value_kind;

typedef struct cairn_field {
    const char *name;         /* NUL-terminated, borrowed */
    cairn_value_kind kind;
    int b;
    double num;
    const char *str;          /* borrowed; str_len bytes, need not be NUL-terminated */
    size_t str_len;
} cairn_field;

/* One field-level violation. Strings are NUL-terminated and owned by the list. */
typedef struct cairn_violation {
    long row;                 /* the caller's row index, or a dataset row (0-based) */
    char field[128];
    char problem[160];
    char value[96];           /* the offending value as text, "" when absent */
} cairn_violation;

typedef struct cairn_violations {
    cairn_violation *items;
    size_t n;
    size_t cap;
} cairn_violations;

/*
 * Validates one row (n fields) against a contract: missing required fields,
 * unknown fields, wrong types, values out of range, unknown categories, nulls
 * in non-nullable fields. Appends violations, tagged with row, to out (which
 * the caller zero-initialises and frees with cairn_violations_reset()).
 * Returns CAIRN_OK when the row is valid, CAIRN_ECHECK when violations were
 * appended, CAIRN_ENOMEM. The contract may be shared by threads.
 */
CAIRN_API cairn_status cairn_contract_validate_row(const cairn_contract *c, const cairn_field *fields,
                                                   size_t n, long row, cairn_violations *out,
                                                   cairn_error *err);
CAIRN_API void cairn_violations_reset(cairn_violations *v);

/* ------------------------------------------------------------------------ */
/* Inference: models opened for scoring                                     */
/* ------------------------------------------------------------------------ */

/*
 * A model opened for scoring: the artifact of a registered version (or an
 * artifact file), checked on load (layout, hashes, every state, the home's
 * signature policy), with its contract, transform, model and baseline ready.
 * Scoring calls never modify it: any number of threads may score with one
 * model at once. Serving, `cairn predict` and embedding programs all score
 * through these calls, so they validate and transform identically.
 */
typedef struct cairn_model cairn_model;

/*
 * Opens "NAME" (its production alias), "NAME@N" or "NAME@ALIAS" from a home.
 * Errors: CAIRN_ENOTFOUND, CAIRN_EINVAL (malformed reference), CAIRN_ECORRUPT
 * (the artifact is damaged), CAIRN_ECHECK (not signed as the home requires).
 */
CAIRN_API cairn_status cairn_model_open(cairn_home *home, const char *ref, cairn_model **out,
                                        cairn_error *err);
/* Opens an artifact file (as written by `cairn export`). No signature policy applies. */
CAIRN_API cairn_status cairn_model_open_file(const char *path, cairn_model **out,
                                             cairn_error *err);
CAIRN_API void cairn_model_close(cairn_model *m);   /* accepts NULL */

/* What a model is; strings are owned by the model and live until it is closed. */
typedef struct cairn_model_meta {
    const char *name;           /* registry model name (the artifact's when opened from a file) */
    int version;                /* N of NAME@N; 0 when opened from a file */
    const char *task;           /* "binary" | "regression" | "multiclass" */
    const char *model_type;     /* "gbdt" | "linear" | "baseline" */
    const char *artifact_hash;  /* BLAKE2b hex: the artifact's identity */
    const char *run_id;
    const char *label;          /* the label column */
    const char *entity;         /* the entity column, NULL when none */
    size_t n_inputs;            /* input columns the model reads */
    size_t n_classes;           /* multiclass: k; binary: 2; regression: 1 */
    double threshold;           /* binary: predict the positive class when score >= threshold
                                   (the run's chosen threshold, 0.5 when it recorded none);
                                   NaN for the other tasks */
    int has_contract;           /* 1 when requests are validated against a contract */
} cairn_model_meta;

CAIRN_API void cairn_model_get_meta(const cairn_model *m, cairn_model_meta *out);
/* Name of input column i (0 <= i < n_inputs), NULL when out of range. */
CAIRN_API const char *cairn_model_input_name(const cairn_model *m, size_t i);
/* The model's contract, NULL when it was trained without one. Owned by the model. */
CAIRN_API const cairn_contract *cairn_model_contract(const cairn_model *m);

typedef struct cairn_prediction {
    double score;           /* binary: P(positive class); regression: the prediction;
                               multiclass: the probability of the predicted class */
    const char *label;      /* binary and multiclass: the predicted class (owned by the
                               model); regression: NULL. Binary: the positive class, else
                               the label column's other value when the contract lists
                               exactly two, else "not POSITIVE" */
    int class_index;        /* multiclass: index of the predicted class (the first of
                               equal maxima); binary: 1 for the positive class, 0
                               otherwise; regression: -1 */
} cairn_prediction;

/*
 * Scores one row given as named fields (matched by name; a missing field is
 * null). When the model has a contract, the row is validated first: each
 * problem is appended to v (tagged with row) and CAIRN_ECHECK is returned
 * without scoring. A value the transform cannot read is CAIRN_EINPUT (where =
 * the field). v may be NULL (violations are then only counted in the status);
 * on CAIRN_ECHECK err (when given) names the first bad field. out is written
 * only on success. Thread-safe; allocation-free for models with at most 4096
 * transformed features (except for appending violations to v).
 */
CAIRN_API cairn_status cairn_model_predict(const cairn_model *m, const cairn_field *fields,
                                           size_t n_fields, long row, cairn_prediction *out,
                                           cairn_violations *v, cairn_error *err);
/* The same row scored by the artifact's baseline (class prior or mean): the last link
 * of the serving fallback chain. Validates and transforms the same way (so it accepts
 * exactly the rows the model accepts), though the baseline reads no feature. Labels
 * follow the model's threshold and class names. */
CAIRN_API cairn_status cairn_model_predict_baseline(const cairn_model *m,
                                                    const cairn_field *fields, size_t n_fields,
                                                    long row, cairn_prediction *out,
                                                    cairn_violations *v, cairn_error *err);
/*
 * Scores n_rows rows (rows[i] has n_fields[i] fields) into out[0..n_rows).
 * Every row is validated first; if any is invalid, every violation is
 * appended (row = its index) and CAIRN_ECHECK is returned with nothing
 * scored. Each row then gets exactly what cairn_model_predict gives it. A
 * value the transform cannot read fails the batch with CAIRN_EINPUT, where =
 * "row I, field NAME" for the lowest such row; out is then unspecified.
 * threads: 0 = the OpenMP default (all cores). Thread-safe.
 */
CAIRN_API cairn_status cairn_model_predict_batch(const cairn_model *m,
                                                 const cairn_field *const *rows,
                                                 const size_t *n_fields, size_t n_rows,
                                                 int threads, cairn_prediction *out,
                                                 cairn_violations *v, cairn_error *err);

#ifdef __cplusplus
}
#endif
#endif /* CAIRN_H */
