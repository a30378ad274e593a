/*
 * registry.h -- the home: its SQLite database (WAL), its content-addressed
 * objects/ directory, and the dataset versions recorded in it.
 *
 * Schema (version 1, in cairn.db):
 *   meta(key TEXT PRIMARY KEY, value TEXT)            -- schema_version, created_at
 *   datasets(name TEXT, version INTEGER, hash TEXT, source TEXT, source_bytes INTEGER,
 *            n_rows INTEGER, n_cols INTEGER, columns_json TEXT, stats_json TEXT,
 *            created_at TEXT, PRIMARY KEY(name, version))
 * columns_json: [{"name":..,"type":..},...]; stats_json: [colstats JSON,...]
 * (see data/stats.h). Objects: objects/<hex hash>.snap.
 *
 * Crash safety: an object is written to a temporary file, fsynced, renamed
 * and the directory fsynced before the row that names it is inserted in one
 * transaction; a crash leaves at worst an unreferenced object, never a row
 * without its object.
 */
#ifndef CAIRN_REGISTRY_H
#define CAIRN_REGISTRY_H

#include "data/frame.h"
#include "data/stats.h"

#include <sqlite3.h>

struct cairn_home {
    char *dir;
    char *objects_dir;
    sqlite3 *db;
};

/* Resolves the home directory: explicit, else $CAIRN_HOME, else ./.cairn (static or borrowed). */
const char *cairn_home_resolve(const char *explicit_dir);

/* Path of the object file for a hex hash (caller frees). */
char *cairn_home_object_path(const cairn_home *h, const char *hex, const char *ext);

/* Splits "NAME" or "NAME@N" (N >= 1); *version = 0 when absent. Errors: CAIRN_EINVAL. */
cairn_status cairn_ref_parse(const char *ref, char *name, size_t name_cap, int *version,
                             cairn_error *err);
/* Dataset names: 1-100 chars of [A-Za-z0-9_.-], starting with a letter or digit. */
bool cairn_name_valid(const char *name);

/* All versions, ordered by name then version. *out is an array the caller frees with cairn_free. */
cairn_status cairn_dataset_list(cairn_home *h, cairn_dataset_info **out, size_t *n,
                                cairn_error *err);
/* The stored columns and statistics JSON of a version (caller frees both). */
cairn_status cairn_dataset_meta(cairn_home *h, const char *name, int version, char **columns_json,
                                char **stats_json, cairn_error *err);
/* Loads a version's snapshot into a frame (hash verified). */
cairn_status cairn_dataset_load(cairn_home *h, const char *ref, cairn_frame **out,
                                cairn_dataset_info *info, cairn_error *err);

/*
 * Records an already-parsed frame as a dataset version (used by
 * cairn_dataset_add after reading). Test hook: when the environment variable
 * CAIRN_TEST_CRASH_AT names a step ("object-written", "before-commit"), the
 * process exits abruptly there, to test crash safety.
 */
cairn_status cairn_dataset_store(cairn_home *h, const cairn_frame *f, const cairn_colstats *stats,
                                 const char *name, const char *source, uint64_t source_bytes,
                                 cairn_dataset_info *info, cairn_error *err);

#endif /* CAIRN_REGISTRY_H */
