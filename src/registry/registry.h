/*
 * registry.h -- the home: its SQLite database (WAL), its content-addressed
 * objects/ directory, the dataset versions and the training runs recorded in it.
 *
 * Schema (version 2, in cairn.db; the runs tables are described with the runs
 * API below, and docs/formats.md has everything):
 *   meta(key TEXT PRIMARY KEY, value TEXT)            -- schema_version, created_at
 *   datasets(name TEXT, version INTEGER, hash TEXT, source TEXT, source_bytes INTEGER,
 *            n_rows INTEGER, n_cols INTEGER, columns_json TEXT, stats_json TEXT,
 *            created_at TEXT, PRIMARY KEY(name, version))
 * columns_json: [{"name":..,"type":..},...]; stats_json: [colstats JSON,...]
 * (see data/stats.h). Objects: objects/<hex hash>.snap.
 *
 * Crash safety: an object is written to a temporary file, fsynced, renamed
 * and the directory fsynced before the row that names it is inserted in one
 * transaction; a crash leaves at worst an unreferenced object (or a stale
 * objects/.tmp-* file, removed by a later open), never a row without its
 * object. The database runs with journal_mode=WAL and synchronous=FULL (see
 * home.c for why FULL). docs/formats.md documents the schema.
 */
#ifndef CAIRN_REGISTRY_H
#define CAIRN_REGISTRY_H

#include "data/frame.h"
#include "data/stats.h"

#include <sqlite3.h>

#define CAIRN_HOME_SCHEMA_VERSION 4 /* 4: labels (monitor/labels.h) */
#define CAIRN_HOME_BUSY_TIMEOUT_MS 10000  /* wait this long for another writer's lock */
#define CAIRN_HOME_TMP_MAX_AGE_S 600      /* objects/.tmp-* older than this are crash leftovers */
#define CAIRN_HOME_CRASH_EXIT 70          /* exit status of the CAIRN_TEST_CRASH_AT hook */
#define CAIRN_NAME_MAX 100                /* longest dataset / model name */
#define CAIRN_VERSION_MAX 2147483647      /* largest N in NAME@N */

struct cairn_home {
    char *dir;
    char *objects_dir;    /* DIR/objects */
    char *logs_dir;       /* DIR/logs */
    char *db_path;        /* DIR/cairn.db (used as the location in database errors) */
    sqlite3 *db;
};

/*
 * Module internals shared by the registry's files (datasets, and later runs,
 * models, aliases):
 * cairn_home_sql_error() turns a SQLite result code into a status
 * (CORRUPT/NOTADB -> CAIRN_ECORRUPT, NOMEM -> CAIRN_ENOMEM, anything else,
 * BUSY included, -> CAIRN_EIO) with "what: sqlite3_errmsg(db)" at where.
 * cairn_home_exec() runs SQL without results (sqlite3_exec) the same way.
 * cairn_home_crash_point() is the crash test hook: when $CAIRN_TEST_CRASH_AT
 * equals step, the process calls _exit(CAIRN_HOME_CRASH_EXIT) right there.
 */
cairn_status cairn_home_sql_error(sqlite3 *db, int rc, const char *where, const char *what,
                                  cairn_error *err);
cairn_status cairn_home_exec(cairn_home *h, const char *sql, const char *what, cairn_error *err);
void cairn_home_crash_point(const char *step);

/* Resolves the home directory: explicit, else $CAIRN_HOME, else ./.cairn (static or borrowed). */
const char *cairn_home_resolve(const char *explicit_dir);

/* Path of the contract saved for dataset NAME (`contract infer --save`):
 * DIR/contracts/NAME.yaml. Caller frees with cairn_free; NULL when out of memory. */
char *cairn_home_contract_path(const cairn_home *h, const char *name);

/* Path of the object file for a hex hash: objects/<hex><ext> (ext ".snap" or "snap";
 * NULL for none). Caller frees with cairn_free; NULL when out of memory. */
char *cairn_home_object_path(const cairn_home *h, const char *hex, const char *ext);

/*
 * Content-addressed objects. put writes bytes as objects/<hex><ext> durably
 * (temporary file, fsync, rename, directory fsync) unless an identical file
 * is already there; hex must be the caller's hash of the bytes. get reads
 * objects/<hex><ext> and checks that its BLAKE2b hash is hex (for objects
 * named by the hash of their whole content: artifacts, contracts); *out is
 * NUL-terminated, freed with cairn_free. Errors: CAIRN_ECORRUPT (missing or
 * not matching), CAIRN_EIO, CAIRN_ENOMEM.
 */
cairn_status cairn_home_object_put(cairn_home *h, const char *hex, const char *ext,
                                   const void *bytes, size_t len, cairn_error *err);
cairn_status cairn_home_object_get(cairn_home *h, const char *hex, const char *ext, char **out,
                                   size_t *out_len, cairn_error *err);

/*
 * Splits "NAME" or "NAME@N" (N >= 1, decimal digits, no sign or leading
 * zero); *version = 0 when absent. name_cap must exceed the name's length.
 * Errors: CAIRN_EINVAL ("a@0", "a@", "@1", "a@x", an invalid name).
 */
cairn_status cairn_ref_parse(const char *ref, char *name, size_t name_cap, int *version,
                             cairn_error *err);
/* Dataset names: 1-100 chars of [A-Za-z0-9_.-], starting with a letter or digit. */
bool cairn_name_valid(const char *name);

/* All versions, ordered by name then version. *out is an array the caller frees with cairn_free. */
cairn_status cairn_dataset_list(cairn_home *h, cairn_dataset_info **out, size_t *n,
                                cairn_error *err);
/*
 * The stored columns and statistics JSON of a version (version <= 0: the
 * newest); the caller frees both with cairn_free. stats_json is "[]" when
 * the version was stored without statistics. Errors: CAIRN_ENOTFOUND.
 */
cairn_status cairn_dataset_meta(cairn_home *h, const char *name, int version, char **columns_json,
                                char **stats_json, cairn_error *err);
/*
 * Loads a version's snapshot into a frame (hash verified). info may be NULL.
 * Errors: CAIRN_EINVAL (bad ref), CAIRN_ENOTFOUND (no such version),
 * CAIRN_ECORRUPT (object missing, damaged or not matching its row).
 */
cairn_status cairn_dataset_load(cairn_home *h, const char *ref, cairn_frame **out,
                                cairn_dataset_info *info, cairn_error *err);

/*
 * Records an already-parsed frame as a dataset version (used by
 * cairn_dataset_add after reading). stats: one finished cairn_colstats per
 * column, or NULL to store "[]" (tests). If NAME already has a version with
 * the same snapshot hash, that version is returned with info->existed = 1 and
 * nothing is written. Otherwise the object is written durably (kept if an
 * identical file is already there) and NAME@max+1 is inserted in one
 * IMMEDIATE transaction. info may be NULL.
 * Test hook: when the environment variable CAIRN_TEST_CRASH_AT names a step
 * ("object-written": after the object's rename; "before-commit": inside the
 * transaction, before COMMIT), the process exits with status 70 there.
 * Errors: CAIRN_EINVAL (name), CAIRN_EINPUT (a string holding a NUL byte),
 * CAIRN_EIO, CAIRN_ENOMEM.
 */
cairn_status cairn_dataset_store(cairn_home *h, const cairn_frame *f, const cairn_colstats *stats,
                                 const char *name, const char *source, uint64_t source_bytes,
                                 cairn_dataset_info *info, cairn_error *err);

/* ---- runs (schema version 2) --------------------------------------------------- */
/*
 * A training run as the tracking store keeps it (cairn train writes one per
 * invocation, succeeded or failed). Tables (added by the version 1 -> 2
 * migration, which an older home gets on open):
 *   runs(id TEXT PRIMARY KEY, model TEXT, status TEXT, error TEXT,
 *        started_at TEXT, finished_at TEXT, duration_s REAL,
 *        spec_text TEXT, spec_json TEXT, seed INTEGER,
 *        dataset_name TEXT, dataset_version INTEGER, dataset_hash TEXT,
 *        contract_hash TEXT, code_version TEXT, build_json TEXT,
 *        stages_json TEXT, split_json TEXT, eval_json TEXT, findings_json TEXT,
 *        gates_json TEXT, model_type TEXT,
 *        transform_state BLOB, model_state BLOB, baseline_state BLOB, state_hash TEXT,
 *        refstats_json TEXT)   -- refstats_json: added by schema 3
 *   run_metrics(run_id TEXT, name TEXT, estimate REAL, lo REAL, hi REAL,
 *        PRIMARY KEY(run_id, name))   -- the model's test metrics, for sorting / compare
 * Text columns that do not apply are NULL (a failed run has no eval).
 */
#define CAIRN_RUN_ID_LEN 14     /* "r-" + 12 lowercase hex */

typedef struct cairn_run_metric {
    char name[16];
    double estimate, lo, hi;    /* NaN when NULL */
} cairn_run_metric;

typedef struct cairn_run_record {
    char id[CAIRN_RUN_ID_LEN + 1];
    char *model;                /* the spec's name ("" when the spec could not be read) */
    char *status;               /* "succeeded" | "failed" */
    char *error;                /* failed: "WHAT (WHERE)"; NULL otherwise */
    char *started_at;           /* ISO 8601 UTC */
    char *finished_at;
    double duration_s;
    char *spec_text;            /* verbatim */
    char *spec_json;            /* canonical resolved spec (cairn_spec_to_json); NULL if unparsed */
    int64_t seed;               /* -1 when unknown */
    char *dataset_name;         /* NULL when not reached */
    int dataset_version;        /* 0 when not reached */
    char *dataset_hash;
    char *contract_hash;        /* BLAKE2b hex of the contract YAML used; NULL when none */
    char *code_version;         /* git describe at build time */
    char *build_json;           /* {"compiler":..,"xgboost":..,"sqlite":..,...} */
    char *stages_json;          /* [{"stage":"load","seconds":0.12},...] */
    char *split_json;           /* {"by":"time","rows":{"train":..,"valid":..,"test":..},...} */
    char *eval_json;            /* {"model":EVAL,"baseline":EVAL,...} (eval.h JSON) */
    char *findings_json;        /* pipeline.h findings JSON array */
    char *gates_json;           /* the gates as declared: [{"metric":..,"op":..,"value":..}] */
    char *model_type;           /* "gbdt" | "linear" | "baseline"; NULL when failed */
    uint8_t *transform_state;   /* cairn_transform_to_bytes */
    size_t transform_state_len;
    uint8_t *model_state;       /* cairn_trees_to_bytes or cairn_linear_to_bytes */
    size_t model_state_len;
    uint8_t *baseline_state;    /* cairn_linear_to_bytes of the baseline */
    size_t baseline_state_len;
    char *state_hash;           /* BLAKE2b hex over the three states (lengths framed) */
    char *refstats_json;        /* reference statistics of the training part (refstats.h);
                                   NULL for failed runs and runs stored before schema 3 */
    cairn_run_metric *metrics;  /* the model's test metrics, n_metrics of them */
    size_t n_metrics;
} cairn_run_record;

/* Frees every owned field and zeroes the record. */
void cairn_run_record_reset(cairn_run_record *r);
/* A fresh random id ("r-" + 12 hex from the system's random source) into out. */
void cairn_run_new_id(char out[CAIRN_RUN_ID_LEN + 1]);
/* BLAKE2b hex over transform, model and baseline states, each preceded by its
 * length as u64 little-endian (absent = length 0). out: CAIRN_HASH_HEX bytes. */
void cairn_run_state_hash(const cairn_run_record *r, char out[CAIRN_HASH_HEX]);

/*
 * Stores a run and its metrics in one transaction. NULL fields are stored as
 * NULL. Errors: CAIRN_EINVAL (malformed id, status not "succeeded"/"failed",
 * an id that already exists), CAIRN_EIO, CAIRN_ENOMEM.
 */
cairn_status cairn_run_store(cairn_home *h, const cairn_run_record *r, cairn_error *err);

/*
 * Loads one run, states and metrics included, by id or by a unique prefix of
 * at least 4 characters after "r-" (e.g. "r-3fa9"). *out is reset first.
 * Errors: CAIRN_ENOTFOUND (where = the id), CAIRN_EINVAL (prefix ambiguous,
 * naming the candidates' count, or malformed), CAIRN_EIO.
 */
cairn_status cairn_run_get(cairn_home *h, const char *id, cairn_run_record *out, cairn_error *err);

typedef struct cairn_run_query {
    const char *model;          /* only this model; NULL all */
    const char *status;         /* only this status; NULL all */
    const char *sort_metric;    /* order by this metric's estimate (runs without it last); NULL:
                                   newest first */
    bool ascending;             /* with sort_metric: smallest first */
    size_t limit;               /* 0: no limit */
} cairn_run_query;

/*
 * Lists runs as records without states (the *_state fields NULL) but with
 * metrics. *out is an array of *n records; free each with
 * cairn_run_record_reset and the array with cairn_free. Ties and the default
 * order: newest started_at first, then id. Errors: CAIRN_EIO, CAIRN_ENOMEM.
 */
cairn_status cairn_run_list(cairn_home *h, const cairn_run_query *q, cairn_run_record **out,
                            size_t *n, cairn_error *err);

#endif /* CAIRN_REGISTRY_H */
