/*
 * contract.h -- data contracts: what a dataset (and later every serving
 * request) must look like. Inferred from a frame and its statistics, written
 * and read as YAML, and checked against whole frames (a report per column)
 * and single rows (field-level violations, used by serving).
 *
 * YAML form (docs/contract.md documents every key):
 *
 *   contract: 1
 *   dataset: churn@1            # where it was inferred from (informational)
 *   columns:
 *     - name: tenure
 *       type: int64             # bool | int64 | float64 | timestamp | string
 *       role: feature           # feature | label | entity | time | ignore
 *       nullable: false
 *       null_rate: 0.0          # observed at inference
 *       max_null_rate: 0.0      # bound checked by `contract check`
 *       min: 0                  # numbers and timestamps (timestamps as ISO 8601)
 *       max: 72
 *       domain: [a, b, c]       # strings with few distinct values; absent = open
 *       unique: true            # key candidate: no duplicates allowed
 *       pii: email              # none | email | phone | card | national_id | ip | person_name
 */
#ifndef CAIRN_CONTRACT_H
#define CAIRN_CONTRACT_H

#include "data/frame.h"
#include "data/stats.h"

typedef enum cairn_role {
    CAIRN_ROLE_FEATURE = 0,
    CAIRN_ROLE_LABEL,
    CAIRN_ROLE_ENTITY,
    CAIRN_ROLE_TIME,
    CAIRN_ROLE_IGNORE
} cairn_role;

typedef enum cairn_pii {
    CAIRN_PII_NONE = 0,
    CAIRN_PII_EMAIL,
    CAIRN_PII_PHONE,
    CAIRN_PII_CARD,
    CAIRN_PII_NATIONAL_ID,
    CAIRN_PII_IP,
    CAIRN_PII_PERSON_NAME
} cairn_pii;

const char *cairn_role_name(cairn_role r);
const char *cairn_pii_name(cairn_pii p);
/* Parse the YAML spellings above ("feature", "email", ...); false when unknown. */
bool cairn_role_parse(const char *s, cairn_role *out);
bool cairn_pii_parse(const char *s, cairn_pii *out);

typedef struct cairn_contract_col {
    char *name;
    cairn_type type;
    cairn_role role;
    bool nullable;
    double null_rate;
    double max_null_rate;
    bool has_min, has_max;
    double min, max;          /* timestamps: microseconds since the epoch */
    char **domain;            /* NULL = open domain */
    size_t n_domain;
    bool domain_sorted;       /* domain is strcmp-sorted without duplicates (set by infer and
                                 parse), so lookups may binary-search; false: linear search */
    bool unique;
    cairn_pii pii;
} cairn_contract_col;

/* The public opaque cairn_contract is this struct. */
struct cairn_contract {
    int version;              /* 1 */
    char *dataset;            /* may be NULL */
    cairn_contract_col *cols;
    size_t n_cols;
};

/* Options for inference. Roles named here win over the heuristics. */
typedef struct cairn_infer_opts {
    const char *dataset_ref;  /* recorded as `dataset:` */
    const char *label;        /* column to mark role: label */
    const char *entity;       /* column to mark role: entity */
    const char *time;         /* column to mark role: time */
    size_t max_domain;        /* strings with at most this many distinct values get a domain; default 50 */
} cairn_infer_opts;

void cairn_infer_opts_init(cairn_infer_opts *o);

/*
 * Infers a contract from a frame and its finished statistics (stats[i] for
 * column i). Detects PII from values (e-mail, phone, Luhn-valid card numbers,
 * national-id-like numbers, IPv4/IPv6) and from column names (person names).
 * PII columns get role ignore. stats may be NULL: the minimum and maximum are
 * then computed from the column (a stats entry whose type differs from its
 * column's is ignored the same way). Null counts, domains and uniqueness are
 * always exact, from the frame. Errors: CAIRN_EINVAL when opts names a column
 * that is not in the frame, CAIRN_ECORRUPT for a string code outside its
 * dictionary, CAIRN_ENOMEM. docs/contract.md gives every rule.
 */
cairn_status cairn_contract_infer(const cairn_frame *f, const cairn_colstats *stats,
                                  const cairn_infer_opts *opts, cairn_contract **out,
                                  cairn_error *err);

/* PII detection on a column alone (exposed for tests). */
cairn_pii cairn_pii_detect(const cairn_column *c);
/* True when the digits in s[0..n) pass the Luhn check (spaces and dashes ignored). */
bool cairn_luhn_ok(const char *s, size_t n);

/* Writes the contract as YAML into b. */
void cairn_contract_to_yaml(const cairn_contract *c, cairn_buf *b);
/* Parses YAML (name is used in error locations: NAME:LINE:COLUMN). */
cairn_status cairn_contract_parse(const char *yaml, size_t len, const char *name,
                                  cairn_contract **out, cairn_error *err);
/* cairn_contract_load() and cairn_contract_free() are public (cairn.h). */
/* Writes the contract's YAML to path durably (temporary file + rename). */
cairn_status cairn_contract_write(const cairn_contract *c, const char *path, cairn_error *err);
/*
 * True when s[0..n) is in the column's domain (always true for an open
 * domain). Binary search when domain_sorted, else a linear scan.
 */
bool cairn_contract_domain_has(const cairn_contract_col *col, const char *s, size_t n);

/* Index of a column in the contract, or -1. */
long cairn_contract_find(const cairn_contract *c, const char *name);
/* As cairn_contract_find, searching from column `from` on and wrapping around (column
 * names are unique, so the answer is the same; a good start saves the search). */
long cairn_contract_find_from(const cairn_contract *c, const char *name, size_t from);

/* ---- checking a whole frame -------------------------------------------- */

#define CAIRN_CHECK_EXAMPLES 5

typedef enum cairn_check_kind {
    CAIRN_CHECK_MISSING_COLUMN = 0, /* in the contract, not in the data */
    CAIRN_CHECK_EXTRA_COLUMN,       /* in the data, not in the contract */
    CAIRN_CHECK_WRONG_TYPE,         /* values that do not convert to the contract type */
    CAIRN_CHECK_BELOW_MIN,
    CAIRN_CHECK_ABOVE_MAX,
    CAIRN_CHECK_UNKNOWN_CATEGORY,
    CAIRN_CHECK_NULL_RATE,          /* null rate above max_null_rate (or nulls when not nullable) */
    CAIRN_CHECK_DUPLICATE_KEY,
    CAIRN_CHECK_KIND_COUNT_
} cairn_check_kind;

const char *cairn_check_kind_name(cairn_check_kind k);  /* "missing_column", ... */

typedef struct cairn_check_issue {
    cairn_check_kind kind;
    bool is_error;                  /* false: a warning (extra columns are warnings) */
    char *column;
    uint64_t count;                 /* rows affected (1 for column-level issues) */
    char *detail;                   /* one line, e.g. "expected int64, found string" */
    size_t n_examples;
    int64_t example_rows[CAIRN_CHECK_EXAMPLES];   /* 0-based data rows */
    char *example_values[CAIRN_CHECK_EXAMPLES];
} cairn_check_issue;

typedef struct cairn_check_report {
    uint64_t n_rows;
    size_t n_columns_checked;
    cairn_check_issue *issues;
    size_t n_issues;
    size_t n_errors;
    size_t n_warnings;
} cairn_check_report;

/* Checks frame f against contract c. The report is filled on CAIRN_OK even when it has errors. */
cairn_status cairn_contract_check(const cairn_contract *c, const cairn_frame *f,
                                  cairn_check_report *out, cairn_error *err);
void cairn_check_report_reset(cairn_check_report *r);
/* JSON form of a report, appended to b. */
void cairn_check_report_to_json(const cairn_check_report *r, cairn_buf *b);

#endif /* CAIRN_CONTRACT_H */
