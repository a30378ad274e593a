/*
 * models.h -- the model registry: models, their versions (MODEL@N, each one
 * artifact made from a run or imported), aliases (production, shadow,
 * fallback, canary with a traffic percentage) and the audit log of every
 * alias move (schema version 3; the tables are in home.c and
 * docs/formats.md).
 *
 *   models(name, created_at)
 *   model_versions(model, version, artifact_hash, run_id, source 'run'|'import', task,
 *                  model_type, dataset_name, dataset_version, dataset_hash, contract_hash,
 *                  metrics_json, created_at, created_by)  UNIQUE(model, artifact_hash)
 *   aliases(model, alias, version, percent, updated_at)
 *   audit(seq, time, user, model, action, alias, from_version, to_version, percent,
 *         run_id, reason, verdict, gates_json)
 *
 * Every change is one IMMEDIATE transaction: a version, the alias it moves
 * and the audit row that records the move are committed together or not at
 * all. A move names the version it expects the alias to hold (what the
 * review compared against); when another writer moved the alias in between,
 * the move is refused with CAIRN_ECHECK and nothing is written, so two
 * concurrent promotions leave exactly one winner.
 *
 * Test hooks (environment): CAIRN_TEST_CRASH_AT=STEP exits the process with
 * status CAIRN_HOME_CRASH_EXIT at STEP; CAIRN_TEST_FAIL_AT=STEP makes STEP
 * fail with CAIRN_EIO ("injected failure at STEP") and rolls back;
 * CAIRN_TEST_PAUSE_MS=N sleeps N ms after the expected version was checked
 * and before the first write (inside the transaction for the check, so
 * tests can line two writers up). STEPs: "version-inserted" (register
 * only; reached whether the version was inserted or reused),
 * "alias-written" (skipped when no alias moves), "audit-written" (skipped
 * when no audit row is written), "before-commit". The check reads the alias
 * under the write lock: a second writer paused behind the first waits for
 * its lock (CAIRN_HOME_BUSY_TIMEOUT_MS), then sees the moved alias.
 *
 * Stored "none" values are NULL: the audit's from_version when the alias was
 * unset and to_version of a refused row (read back as 0), percent except for
 * a canary (NaN), dataset_version 0.
 */
#ifndef CAIRN_REGISTRY_MODELS_H
#define CAIRN_REGISTRY_MODELS_H

#include "registry/registry.h"

#define CAIRN_ALIAS_MAX 32   /* alias names: 1-32 chars of [a-z0-9_-], starting with a letter */

/* true for a valid alias name ("production", "shadow", "fallback", "canary", or any
 * other [a-z][a-z0-9_-]{0,31}) that is not all digits. */
bool cairn_alias_valid(const char *alias);

typedef struct cairn_model_version {
    char model[CAIRN_NAME_MAX + 1];
    int version;                 /* N of MODEL@N (assigned by the registry) */
    char artifact_hash[CAIRN_HASH_HEX];   /* objects/<hash>.art */
    char run_id[CAIRN_RUN_ID_LEN + 1];
    char source[8];              /* "run" | "import" */
    char *task;                  /* owned strings below; NULL when unknown */
    char *model_type;
    char *dataset_name;
    int dataset_version;
    char *dataset_hash;
    char *contract_hash;
    char *metrics_json;          /* {"auc":{"estimate":..,"lo":..,"hi":..},...} */
    char *created_at;
    char *created_by;
} cairn_model_version;

void cairn_model_version_reset(cairn_model_version *v);   /* frees, zeroes */

typedef struct cairn_model_alias {
    char alias[CAIRN_ALIAS_MAX + 1];
    int version;
    double percent;              /* canary: 0 < p <= 100; NaN otherwise */
    char updated_at[32];
} cairn_model_alias;

typedef struct cairn_audit_entry {
    int64_t seq;
    char *time;                  /* ISO 8601 UTC */
    char *user;
    char *model;
    char *action;                /* "promote" | "override" | "rollback" | "refused" | "import" |
                                    "unset" */
    char *alias;                 /* NULL for import */
    int from_version;            /* 0: the alias was unset */
    int to_version;              /* 0: none (refused) */
    double percent;              /* NaN when none */
    char *run_id;                /* NULL when none */
    char *reason;                /* NULL when none */
    char *verdict;               /* the review's decision at that moment; NULL when none */
    char *gates_json;            /* the gate results at that moment; NULL when none */
} cairn_audit_entry;

void cairn_audit_entry_reset(cairn_audit_entry *e);

/* What an alias move records besides the move itself (all borrowed, NULL allowed
 * except action). user NULL or "" means cairn_audit_user(). A NULL note, an
 * unknown action, gates_json that is not valid JSON, or "refused" given to a
 * call that moves an alias is CAIRN_EINVAL. */
typedef struct cairn_audit_note {
    const char *action;          /* "promote" | "override" | "rollback" | "refused" | "import" */
    const char *user;
    const char *run_id;
    const char *reason;
    const char *verdict;
    const char *gates_json;      /* must be valid JSON when given */
} cairn_audit_note;

/* The user recorded in the audit log: $CAIRN_USER, else the login name of the
 * real uid, else $USER, else "uid:N". Static storage. */
const char *cairn_audit_user(void);

/*
 * Registers the version v (v->version ignored) of model v->model and points
 * alias at it, in one transaction:
 *   - the model row is created when new;
 *   - a version with the same artifact hash for this model is reused (its
 *     number returned), else version max+1 is inserted;
 *   - when alias is non-NULL: the alias must currently hold expected_version
 *     (0: unset; -1: do not check), else CAIRN_ECHECK "MODEL@ALIAS moved to
 *     version N while this promotion was being reviewed" and nothing is
 *     written; then the alias is set (percent: NaN except for a canary) and an
 *     audit row (note) records from -> to;
 *   - when alias is NULL: only the version (audit action note->action, e.g.
 *     "import", with to_version = the version); an artifact the model
 *     already has writes nothing at all.
 * A new version's created_at is now, its created_by v->created_by, else the
 * note's user; the audit row's run_id is note->run_id, else v->run_id (when
 * not empty). v->artifact_hash must be 64 lowercase hex digits, v->source
 * "run" or "import", v->metrics_json valid JSON when given.
 * The artifact object must already be in objects/ (the caller writes it
 * first, durably). *version_out (may be NULL) gets N, on success only.
 * Errors: CAIRN_EINVAL (bad model or alias name, percent out of range for a
 * canary or given for another alias), CAIRN_ECHECK (conflict), CAIRN_EIO,
 * CAIRN_ENOMEM.
 */
cairn_status cairn_model_register(cairn_home *h, const cairn_model_version *v, const char *alias,
                                  double percent, int expected_version,
                                  const cairn_audit_note *note, int *version_out,
                                  cairn_error *err);

/*
 * Points alias of model at an existing version (rollback), expecting it to
 * hold expected_version (-1: do not check), and records the move (note). A
 * canary keeps its percent unless percent is given (not NaN); an unset
 * canary needs one (CAIRN_EINVAL). Any action but "refused" may be noted.
 * Errors: CAIRN_ENOTFOUND (model or version), CAIRN_EINVAL, CAIRN_ECHECK
 * (conflict), CAIRN_EIO.
 */
cairn_status cairn_model_move_alias(cairn_home *h, const char *model, const char *alias,
                                    int to_version, double percent, int expected_version,
                                    const cairn_audit_note *note, cairn_error *err);

/*
 * Removes an alias (ends a canary, a shadow or a fallback), expecting it to
 * hold expected_version (-1: do not check), and records it (action "unset",
 * from -> none) in one transaction. The alias's history stays in the audit
 * log. Errors: CAIRN_ENOTFOUND (no such model or alias), CAIRN_ECHECK
 * (conflict), CAIRN_EINVAL, CAIRN_EIO.
 */
cairn_status cairn_model_unset_alias(cairn_home *h, const char *model, const char *alias,
                                    int expected_version, const cairn_audit_note *note,
                                    cairn_error *err);

/* Records an audit row without moving anything (a refused promotion). The model
 * need not exist. Errors: CAIRN_EINVAL, CAIRN_EIO. */
cairn_status cairn_model_audit_add(cairn_home *h, const char *model, const char *alias,
                                   int from_version, const cairn_audit_note *note,
                                   cairn_error *err);

/*
 * The version rollback goes back to: replaying the alias's audit history as
 * a stack (promote/override push the new version; rollback to V pops down to
 * V, or pushes V when it is not on the stack; a move to the version already
 * on top pushes nothing; refused rows are skipped), the entry below the top.
 * *current gets the alias's version (0 when unset) and *target the previous
 * one (0 when there is none). Errors: CAIRN_ENOTFOUND (no such model), CAIRN_EIO.
 */
cairn_status cairn_model_rollback_target(cairn_home *h, const char *model, const char *alias,
                                         int *current, int *target, cairn_error *err);

/* Model names, sorted. *out: n strings and the array, freed with cairn_free each. */
cairn_status cairn_model_list(cairn_home *h, char ***out, size_t *n, cairn_error *err);

/* The versions of a model, oldest first. *out: array of n; reset each, free the array.
 * Errors: CAIRN_ENOTFOUND (no such model). */
cairn_status cairn_model_versions(cairn_home *h, const char *model, cairn_model_version **out,
                                  size_t *n, cairn_error *err);

/* The aliases of a model, by name. *out: array of n (cairn_free). Unknown model: n = 0. */
cairn_status cairn_model_aliases(cairn_home *h, const char *model, cairn_model_alias **out,
                                 size_t *n, cairn_error *err);

/* The audit log of a model, oldest first (limit 0: all; else the newest `limit`,
 * still oldest first). *out: array of n; reset each, free the array. */
cairn_status cairn_model_audit(cairn_home *h, const char *model, size_t limit,
                               cairn_audit_entry **out, size_t *n, cairn_error *err);

/*
 * Resolves "NAME" (the production alias), "NAME@N" or "NAME@ALIAS" to a
 * version; *out is reset first. Errors: CAIRN_EINVAL (malformed reference),
 * CAIRN_ENOTFOUND ("no model NAME", "NAME has no version N", "NAME has no
 * alias ALIAS"), CAIRN_EIO.
 */
cairn_status cairn_model_resolve(cairn_home *h, const char *ref, cairn_model_version *out,
                                 cairn_error *err);

/* Version N of a model (*out reset first). Errors: CAIRN_ENOTFOUND. */
cairn_status cairn_model_get_version(cairn_home *h, const char *model, int version,
                                     cairn_model_version *out, cairn_error *err);

#endif /* CAIRN_REGISTRY_MODELS_H */
