/*
 * models.c -- the model registry (schema version 3): models, their numbered
 * versions, the aliases that point at versions, and the audit log that
 * records every alias move. The interface and its contract are in models.h;
 * the tables are created by home.c. Artifact objects are written (durably)
 * by the caller before a version names them; this file never reads them.
 *
 * Every change is one IMMEDIATE transaction. The expected version of the
 * alias is read inside that transaction, so the check and the writes that
 * depend on it happen under the same write lock: of two writers that both
 * reviewed against version N, the second one waits for the first's lock
 * (busy timeout), then finds the alias moved and is refused with
 * CAIRN_ECHECK before writing anything. Any error after BEGIN rolls the
 * whole transaction back, so a version, its alias move and the audit row
 * recording it are always committed together.
 *
 * Storage conventions: a version or percent that does not apply is stored
 * as NULL (the audit's from_version when the alias was unset, to_version for
 * a refused promotion, percent for any alias but a canary, dataset_version
 * when unknown) and reads back as 0 / NaN. Reads run in one read transaction
 * so that a list comes from one snapshot.
 */
#include "registry/models.h"

#include <errno.h>
#include <math.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- names, notes, users ------------------------------------------------------------------- */

bool cairn_alias_valid(const char *alias)
{
    if (!alias || !(alias[0] >= 'a' && alias[0] <= 'z'))
        return false; /* a leading letter also rules out an all-digit name */
    size_t n = strlen(alias);
    if (n > CAIRN_ALIAS_MAX)
        return false;
    for (size_t i = 1; i < n; i++) {
        char c = alias[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    }
    return true;
}

const char *cairn_audit_user(void)
{
    /* Per thread: the passwd entry is copied out of getpwuid_r's scratch
     * buffer, and two threads asking at once must not share one copy. */
    static _Thread_local char name[256];
    const char *env = getenv("CAIRN_USER");
    if (env && *env)
        return env;
    struct passwd pw, *found = NULL;
    char scratch[4096];
    if (getpwuid_r(getuid(), &pw, scratch, sizeof scratch, &found) == 0 && found &&
        found->pw_name && *found->pw_name) {
        snprintf(name, sizeof name, "%s", found->pw_name);
        return name;
    }
    env = getenv("USER");
    if (env && *env)
        return env;
    snprintf(name, sizeof name, "uid:%lu", (unsigned long)getuid());
    return name;
}

static bool action_valid(const char *a)
{
    static const char *const actions[] = {"promote", "override", "rollback", "refused", "import",
                                          "unset"};
    for (size_t i = 0; a && i < CAIRN_ARRAY_LEN(actions); i++)
        if (strcmp(a, actions[i]) == 0)
            return true;
    return false;
}

void cairn_model_version_reset(cairn_model_version *v)
{
    if (!v)
        return;
    cairn_free(v->task);
    cairn_free(v->model_type);
    cairn_free(v->dataset_name);
    cairn_free(v->dataset_hash);
    cairn_free(v->contract_hash);
    cairn_free(v->metrics_json);
    cairn_free(v->created_at);
    cairn_free(v->created_by);
    memset(v, 0, sizeof *v);
}

void cairn_audit_entry_reset(cairn_audit_entry *e)
{
    if (!e)
        return;
    cairn_free(e->time);
    cairn_free(e->user);
    cairn_free(e->model);
    cairn_free(e->action);
    cairn_free(e->alias);
    cairn_free(e->run_id);
    cairn_free(e->reason);
    cairn_free(e->verdict);
    cairn_free(e->gates_json);
    memset(e, 0, sizeof *e);
}

/* ---- test hooks ---------------------------------------------------------------------------- */

/*
 * A named step of a write transaction: CAIRN_TEST_CRASH_AT exits here,
 * CAIRN_TEST_FAIL_AT turns the step into an I/O error (the caller then rolls
 * back, as it would after a real failed write).
 */
static cairn_status step_hook(cairn_home *h, const char *step, cairn_error *err)
{
    cairn_home_crash_point(step);
    const char *fail = getenv("CAIRN_TEST_FAIL_AT");
    if (fail && strcmp(fail, step) == 0)
        return cairn_error_set(err, CAIRN_EIO, h->db_path, "injected failure at %s", step);
    return CAIRN_OK;
}

/* CAIRN_TEST_PAUSE_MS: sleep inside the write transaction, after the check. */
static void pause_hook(void)
{
    const char *s = getenv("CAIRN_TEST_PAUSE_MS");
    int64_t ms;
    if (!s || !cairn_parse_int64(s, strlen(s), &ms) || ms <= 0 || ms > 60000)
        return;
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* ---- small SQL helpers --------------------------------------------------------------------- */

static int bind_text_or_null(sqlite3_stmt *s, int idx, const char *t)
{
    return t ? sqlite3_bind_text(s, idx, t, -1, SQLITE_STATIC) : sqlite3_bind_null(s, idx);
}

static int bind_real_or_null(sqlite3_stmt *s, int idx, double v)
{
    return isnan(v) ? sqlite3_bind_null(s, idx) : sqlite3_bind_double(s, idx, v);
}

/* A version number; 0 ("none") is stored as NULL. */
static int bind_version(sqlite3_stmt *s, int idx, int v)
{
    return v > 0 ? sqlite3_bind_int(s, idx, v) : sqlite3_bind_null(s, idx);
}

static char *column_strdup(sqlite3_stmt *s, int col, bool *ok)
{
    if (sqlite3_column_type(s, col) == SQLITE_NULL)
        return NULL;
    const unsigned char *t = sqlite3_column_text(s, col);
    int n = sqlite3_column_bytes(s, col);
    char *d = t ? cairn_strndup((const char *)t, (size_t)n) : NULL;
    if (!d)
        *ok = false;
    return d;
}

static double column_real(sqlite3_stmt *s, int col)
{
    return sqlite3_column_type(s, col) == SQLITE_NULL ? NAN : sqlite3_column_double(s, col);
}

static void column_copy(sqlite3_stmt *s, int col, char *out, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(s, col);
    snprintf(out, cap, "%s", t ? (const char *)t : "");
}

/* A read transaction unless the caller already has one open (as in runs.c). */
static cairn_status read_begin(cairn_home *h, bool *began, cairn_error *err)
{
    *began = false;
    if (!sqlite3_get_autocommit(h->db))
        return CAIRN_OK;
    cairn_status st = cairn_home_exec(h, "BEGIN", "cannot read the model registry", err);
    *began = st == CAIRN_OK;
    return st;
}

static void read_end(cairn_home *h, bool began)
{
    if (began && !sqlite3_get_autocommit(h->db))
        sqlite3_exec(h->db, "COMMIT", NULL, NULL, NULL); /* read only: nothing to lose */
}

/* Rolls back the caller's write transaction after an error. */
static void write_abort(cairn_home *h)
{
    if (!sqlite3_get_autocommit(h->db))
        sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
}

/* True when text is well-formed JSON (SQLite's json_valid, no transaction needed). */
static cairn_status json_check(cairn_home *h, const char *text, const char *what, const char *where,
                               cairn_error *err)
{
    sqlite3_stmt *s = NULL;
    cairn_status st = CAIRN_OK;
    int rc = sqlite3_prepare_v2(h->db, "SELECT json_valid(?1)", -1, &s, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(s, 1, text, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        if (sqlite3_column_int(s, 0) != 1)
            st = cairn_error_set(err, CAIRN_EINVAL, where, "%s is not valid JSON", what);
    } else {
        st = cairn_home_sql_error(h->db, rc, h->db_path, "cannot check JSON", err);
    }
    sqlite3_finalize(s);
    return st;
}

/* ---- validation ---------------------------------------------------------------------------- */

static cairn_status name_check(const char *model, cairn_error *err)
{
    if (!cairn_name_valid(model))
        return cairn_error_set(err, CAIRN_EINVAL, model ? model : "",
                               "invalid model name '%s': use 1-%d letters, digits, '_', '.' or "
                               "'-', starting with a letter or digit",
                               model ? model : "", CAIRN_NAME_MAX);
    return CAIRN_OK;
}

static cairn_status alias_check(const char *alias, cairn_error *err)
{
    if (!cairn_alias_valid(alias))
        return cairn_error_set(err, CAIRN_EINVAL, alias ? alias : "",
                               "invalid alias '%s': use 1-%d of [a-z0-9_-], starting with a letter",
                               alias ? alias : "", CAIRN_ALIAS_MAX);
    return CAIRN_OK;
}

/*
 * The percent rule: a canary carries 0 < p <= 100, every other alias none.
 * keep_ok: NaN is allowed for a canary that already has a percent (a move
 * that keeps it).
 */
static cairn_status percent_check(const char *model, const char *alias, double percent,
                                  bool keep_ok, cairn_error *err)
{
    bool canary = strcmp(alias, "canary") == 0;
    if (!canary) {
        if (!isnan(percent))
            return cairn_error_set(err, CAIRN_EINVAL, alias,
                                   "%s@%s takes no traffic percentage (only canary does)", model,
                                   alias);
        return CAIRN_OK;
    }
    if (isnan(percent)) {
        if (keep_ok)
            return CAIRN_OK;
        return cairn_error_set(err, CAIRN_EINVAL, alias,
                               "%s@canary needs a traffic percentage (0 < p <= 100)", model);
    }
    if (!(percent > 0 && percent <= 100))
        return cairn_error_set(err, CAIRN_EINVAL, alias,
                               "canary percentage %g is out of range (0 < p <= 100)", percent);
    return CAIRN_OK;
}

/* The note's action and optional gates JSON. */
static cairn_status note_check(cairn_home *h, const cairn_audit_note *note, bool move,
                               cairn_error *err)
{
    if (!note || !action_valid(note->action))
        return cairn_error_set(err, CAIRN_EINVAL, note && note->action ? note->action : "",
                               "audit action must be promote, override, rollback, refused or "
                               "import, not '%s'",
                               note && note->action ? note->action : "");
    if (move && strcmp(note->action, "refused") == 0)
        return cairn_error_set(err, CAIRN_EINVAL, note->action,
                               "a refused promotion moves nothing; record it with "
                               "cairn_model_audit_add");
    if (note->gates_json)
        return json_check(h, note->gates_json, "the audit note's gates", "gates_json", err);
    return CAIRN_OK;
}

static const char *note_user(const cairn_audit_note *note)
{
    return note->user && *note->user ? note->user : cairn_audit_user();
}

static bool hex64(const char *s)
{
    for (size_t i = 0; i < CAIRN_HASH_HEX - 1; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return s[CAIRN_HASH_HEX - 1] == '\0';
}

static cairn_status version_check(cairn_home *h, const cairn_model_version *v, cairn_error *err)
{
    if (!v)
        return cairn_error_set(err, CAIRN_EINVAL, "", "no model version given");
    if (!memchr(v->model, '\0', sizeof v->model))
        return cairn_error_set(err, CAIRN_EINVAL, "", "model name is not terminated");
    cairn_status st = name_check(v->model, err);
    if (st != CAIRN_OK)
        return st;
    if (!hex64(v->artifact_hash))
        return cairn_error_set(err, CAIRN_EINVAL, v->model,
                               "%s: artifact hash must be 64 lowercase hex digits", v->model);
    if (!memchr(v->run_id, '\0', sizeof v->run_id) || !memchr(v->source, '\0', sizeof v->source))
        return cairn_error_set(err, CAIRN_EINVAL, v->model, "%s: run id or source not terminated",
                               v->model);
    if (strcmp(v->source, "run") != 0 && strcmp(v->source, "import") != 0)
        return cairn_error_set(err, CAIRN_EINVAL, v->model,
                               "%s: version source must be \"run\" or \"import\", not \"%s\"",
                               v->model, v->source);
    if (v->metrics_json)
        return json_check(h, v->metrics_json, "the version's metrics", v->model, err);
    return CAIRN_OK;
}

/* ---- reads inside a transaction ------------------------------------------------------------ */

static cairn_status model_exists(cairn_home *h, const char *model, bool *exists, cairn_error *err)
{
    sqlite3_stmt *s = NULL;
    cairn_status st = CAIRN_OK;
    *exists = false;
    int rc = sqlite3_prepare_v2(h->db, "SELECT 1 FROM models WHERE name = ?1", -1, &s, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(s, 1, model, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(s);
        *exists = rc == SQLITE_ROW;
        if (rc == SQLITE_ROW || rc == SQLITE_DONE)
            rc = SQLITE_OK;
    }
    if (rc != SQLITE_OK)
        st = cairn_home_sql_error(h->db, rc, h->db_path, "cannot read models", err);
    sqlite3_finalize(s);
    return st;
}

/* The alias's version (0 when unset) and percent (NaN when none or unset). */
static cairn_status alias_get(cairn_home *h, const char *model, const char *alias, int *version,
                              double *percent, cairn_error *err)
{
    sqlite3_stmt *s = NULL;
    cairn_status st = CAIRN_OK;
    *version = 0;
    *percent = NAN;
    int rc = sqlite3_prepare_v2(h->db,
                                "SELECT version, percent FROM aliases"
                                " WHERE model = ?1 AND alias = ?2",
                                -1, &s, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(s, 1, model, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(s, 2, alias, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
            *version = sqlite3_column_int(s, 0);
            *percent = column_real(s, 1);
        }
        if (rc == SQLITE_ROW || rc == SQLITE_DONE)
            rc = SQLITE_OK;
    }
    if (rc != SQLITE_OK)
        st = cairn_home_sql_error(h->db, rc, h->db_path, "cannot read aliases", err);
    sqlite3_finalize(s);
    return st;
}

/* One integer from a query with the model as ?1 and, when the query has a ?2,
 * text2 (or int2 when text2 is NULL) there; *found is false when there is no
 * row or the value is NULL. */
static cairn_status version_lookup(cairn_home *h, const char *sql, const char *model,
                                   const char *text2, int int2, int *out, bool *found,
                                   cairn_error *err)
{
    sqlite3_stmt *s = NULL;
    cairn_status st = CAIRN_OK;
    *out = 0;
    *found = false;
    int rc = sqlite3_prepare_v2(h->db, sql, -1, &s, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(s, 1, model, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK && sqlite3_bind_parameter_count(s) >= 2)
        rc = text2 ? sqlite3_bind_text(s, 2, text2, -1, SQLITE_STATIC)
                   : sqlite3_bind_int(s, 2, int2);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
            *found = sqlite3_column_type(s, 0) != SQLITE_NULL;
            *out = sqlite3_column_int(s, 0);
        }
        if (rc == SQLITE_ROW || rc == SQLITE_DONE)
            rc = SQLITE_OK;
    }
    if (rc != SQLITE_OK)
        st = cairn_home_sql_error(h->db, rc, h->db_path, "cannot read model versions", err);
    sqlite3_finalize(s);
    return st;
}

/* ECHECK when the alias no longer holds what the caller reviewed against. */
static cairn_status expect_check(const char *model, const char *alias, const char *action,
                                 int current, int expected, cairn_error *err)
{
    if (expected < 0 || current == expected)
        return CAIRN_OK;
    const char *what = strcmp(action, "rollback") == 0   ? "rollback"
                       : strcmp(action, "override") == 0 ? "override"
                                                         : "promotion";
    if (current == 0)
        return cairn_error_set(err, CAIRN_ECHECK, alias,
                               "%s@%s was unset (expected version %d) while this %s was being "
                               "reviewed",
                               model, alias, expected, what);
    return cairn_error_set(err, CAIRN_ECHECK, alias,
                           "%s@%s moved to version %d while this %s was being reviewed", model,
                           alias, current, what);
}

/* ---- writes inside a transaction ----------------------------------------------------------- */

static cairn_status run_stmt(cairn_home *h, sqlite3_stmt *s, int rc, const char *what,
                             cairn_error *err)
{
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(s);
        if (rc == SQLITE_DONE)
            rc = SQLITE_OK;
    }
    cairn_status st = CAIRN_OK;
    if (rc != SQLITE_OK)
        st = cairn_home_sql_error(h->db, rc, h->db_path, what, err);
    sqlite3_finalize(s);
    return st;
}

static cairn_status model_insert(cairn_home *h, const char *model, const char *now,
                                 cairn_error *err)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(h->db,
                                "INSERT OR IGNORE INTO models(name, created_at) VALUES (?1, ?2)",
                                -1, &s, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(s, 1, model, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(s, 2, now, -1, SQLITE_STATIC);
    return run_stmt(h, s, rc, "cannot record the model", err);
}

static cairn_status version_insert(cairn_home *h, const cairn_model_version *v, int version,
                                   const char *now, const char *user, cairn_error *err)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(
        h->db,
        "INSERT INTO model_versions(model, version, artifact_hash, run_id, source, task,"
        " model_type, dataset_name, dataset_version, dataset_hash, contract_hash, metrics_json,"
        " created_at, created_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,"
        " ?14)",
        -1, &s, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(s, 1, v->model, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int(s, 2, version);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(s, 3, v->artifact_hash, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(s, 4, v->run_id, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(s, 5, v->source, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = bind_text_or_null(s, 6, v->task);
    if (rc == SQLITE_OK)
        rc = bind_text_or_null(s, 7, v->model_type);
    if (rc == SQLITE_OK)
        rc = bind_text_or_null(s, 8, v->dataset_name);
    if (rc == SQLITE_OK)
        rc = bind_version(s, 9, v->dataset_version);
    if (rc == SQLITE_OK)
        rc = bind_text_or_null(s, 10, v->dataset_hash);
    if (rc == SQLITE_OK)
        rc = bind_text_or_null(s, 11, v->contract_hash);
    if (rc == SQLITE_OK)
        rc = bind_text_or_null(s, 12, v->metrics_json);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(s, 13, now, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(s, 14, user, -1, SQLITE_STATIC);
    return run_stmt(h, s, rc, "cannot record the model version", err);
}

static cairn_status alias_write(cairn_home *h, const char *model, const char *alias, int version,
                                double percent, const char *now, cairn_error *err)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(h->db,
                                "INSERT OR REPLACE INTO aliases(model, alias, version, percent,"
                                " updated_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                                -1, &s, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(s, 1, model, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(s, 2, alias, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int(s, 3, version);
    if (rc == SQLITE_OK)
        rc = bind_real_or_null(s, 4, percent);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(s, 5, now, -1, SQLITE_STATIC);
    return run_stmt(h, s, rc, "cannot move the alias", err);
}

/* One audit row as written. */
typedef struct audit_row {
    const char *time, *user, *model, *action, *alias;
    int from_version, to_version;
    double percent;
    const char *run_id, *reason, *verdict, *gates_json;
} audit_row;

static cairn_status audit_insert(cairn_home *h, const audit_row *r, cairn_error *err)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(
        h->db,
        "INSERT INTO audit(time, user, model, action, alias, from_version, to_version, percent,"
        " run_id, reason, verdict, gates_json) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10,"
        " ?11, ?12)",
        -1, &s, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(s, 1, r->time, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(s, 2, r->user, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(s, 3, r->model, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(s, 4, r->action, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = bind_text_or_null(s, 5, r->alias);
    if (rc == SQLITE_OK)
        rc = bind_version(s, 6, r->from_version);
    if (rc == SQLITE_OK)
        rc = bind_version(s, 7, r->to_version);
    if (rc == SQLITE_OK)
        rc = bind_real_or_null(s, 8, r->percent);
    if (rc == SQLITE_OK)
        rc = bind_text_or_null(s, 9, r->run_id);
    if (rc == SQLITE_OK)
        rc = bind_text_or_null(s, 10, r->reason);
    if (rc == SQLITE_OK)
        rc = bind_text_or_null(s, 11, r->verdict);
    if (rc == SQLITE_OK)
        rc = bind_text_or_null(s, 12, r->gates_json);
    return run_stmt(h, s, rc, "cannot write the audit log", err);
}

static void audit_row_from_note(audit_row *r, const cairn_audit_note *note, const char *now,
                                const char *model, const char *alias)
{
    memset(r, 0, sizeof *r);
    r->time = now;
    r->user = note_user(note);
    r->model = model;
    r->action = note->action;
    r->alias = alias;
    r->percent = NAN;
    r->run_id = note->run_id;
    r->reason = note->reason;
    r->verdict = note->verdict;
    r->gates_json = note->gates_json;
}

/* ---- changes ------------------------------------------------------------------------------- */

cairn_status cairn_model_register(cairn_home *h, const cairn_model_version *v, const char *alias,
                                  double percent, int expected_version,
                                  const cairn_audit_note *note, int *version_out,
                                  cairn_error *err)
{
    bool in_tx = false, found, reused;
    int version = 0, current = 0;
    double old_percent;
    char now[32];
    audit_row row;
    cairn_status st = version_check(h, v, err);
    if (st == CAIRN_OK && alias && (st = alias_check(alias, err)) == CAIRN_OK)
        st = percent_check(v->model, alias, percent, false, err);
    if (st == CAIRN_OK)
        st = note_check(h, note, alias != NULL, err);
    if (st != CAIRN_OK)
        goto done;
    cairn_now_iso(now, sizeof now);

    if ((st = cairn_home_exec(h, "BEGIN IMMEDIATE", "cannot start the registration", err)) !=
        CAIRN_OK)
        goto done;
    in_tx = true;
    if (alias) {
        if ((st = alias_get(h, v->model, alias, &current, &old_percent, err)) != CAIRN_OK ||
            (st = expect_check(v->model, alias, note->action, current, expected_version, err)) !=
                CAIRN_OK)
            goto done;
    }
    pause_hook();

    if ((st = model_insert(h, v->model, now, err)) != CAIRN_OK)
        goto done;
    st = version_lookup(h,
                        "SELECT version FROM model_versions"
                        " WHERE model = ?1 AND artifact_hash = ?2",
                        v->model, v->artifact_hash, 0, &version, &found, err);
    if (st != CAIRN_OK)
        goto done;
    reused = found;
    if (!found) {
        /* max+1 under the write lock: no other writer can take the same number. */
        st = version_lookup(h, "SELECT max(version) FROM model_versions WHERE model = ?1",
                            v->model, NULL, 0, &version, &found, err);
        if (st != CAIRN_OK)
            goto done;
        if (version >= CAIRN_VERSION_MAX) {
            st = cairn_error_set(err, CAIRN_EINVAL, v->model, "%s has no version numbers left",
                                 v->model);
            goto done;
        }
        version = found ? version + 1 : 1;
        st = version_insert(h, v, version, now,
                            v->created_by && *v->created_by ? v->created_by : note_user(note), err);
        if (st != CAIRN_OK)
            goto done;
    }
    if ((st = step_hook(h, "version-inserted", err)) != CAIRN_OK)
        goto done;

    audit_row_from_note(&row, note, now, v->model, alias);
    if (!note->run_id && v->run_id[0])
        row.run_id = v->run_id;
    row.to_version = version;
    if (alias) {
        if ((st = alias_write(h, v->model, alias, version, percent, now, err)) != CAIRN_OK ||
            (st = step_hook(h, "alias-written", err)) != CAIRN_OK)
            goto done;
        row.from_version = current;
        row.percent = percent;
    }
    /* Registering an artifact the model already has, without moving an alias,
     * changes nothing and so records nothing. */
    if (alias || !reused) {
        if ((st = audit_insert(h, &row, err)) != CAIRN_OK ||
            (st = step_hook(h, "audit-written", err)) != CAIRN_OK)
            goto done;
    }
    if ((st = step_hook(h, "before-commit", err)) != CAIRN_OK)
        goto done;
    if ((st = cairn_home_exec(h, "COMMIT", "cannot commit the registration", err)) != CAIRN_OK)
        goto done;
    in_tx = false;
    if (version_out)
        *version_out = version;
done:
    if (in_tx)
        write_abort(h);
    return st;
}

/* Starts the write transaction of an alias change on model, which must exist. On
 * failure no transaction stays open. what: the error message should BEGIN fail. */
static cairn_status alias_tx_begin(cairn_home *h, const char *model, const char *what,
                                   cairn_error *err)
{
    bool found;
    cairn_status st = cairn_home_exec(h, "BEGIN IMMEDIATE", what, err);
    if (st != CAIRN_OK)
        return st;
    if ((st = model_exists(h, model, &found, err)) == CAIRN_OK && !found)
        st = cairn_error_set(err, CAIRN_ENOTFOUND, model, "no model %s", model);
    if (st != CAIRN_OK)
        write_abort(h);
    return st;
}

/* Ends an alias change whose alias row is written: its audit row (from -> to, with the
 * canary percent), the crash-test steps, COMMIT. On failure the caller aborts. */
static cairn_status alias_tx_commit(cairn_home *h, const cairn_audit_note *note, const char *now,
                                    const char *model, const char *alias, int from, int to,
                                    double percent, const char *what, cairn_error *err)
{
    audit_row row;
    audit_row_from_note(&row, note, now, model, alias);
    row.from_version = from;
    row.to_version = to;
    row.percent = percent;
    cairn_status st;
    if ((st = step_hook(h, "alias-written", err)) != CAIRN_OK ||
        (st = audit_insert(h, &row, err)) != CAIRN_OK ||
        (st = step_hook(h, "audit-written", err)) != CAIRN_OK ||
        (st = step_hook(h, "before-commit", err)) != CAIRN_OK)
        return st;
    return cairn_home_exec(h, "COMMIT", what, err);
}

cairn_status cairn_model_move_alias(cairn_home *h, const char *model, const char *alias,
                                    int to_version, double percent, int expected_version,
                                    const cairn_audit_note *note, cairn_error *err)
{
    bool in_tx = false, found;
    int current = 0, dummy;
    double old_percent;
    char now[32];
    cairn_status st = name_check(model, err);
    if (st == CAIRN_OK)
        st = alias_check(alias, err);
    if (st == CAIRN_OK)
        st = percent_check(model, alias, percent, true, err);
    if (st == CAIRN_OK)
        st = note_check(h, note, true, err);
    if (st == CAIRN_OK && to_version < 1)
        st = cairn_error_set(err, CAIRN_EINVAL, model, "version %d is not a version number",
                             to_version);
    if (st != CAIRN_OK)
        goto done;
    cairn_now_iso(now, sizeof now);

    if ((st = alias_tx_begin(h, model, "cannot start moving the alias", err)) != CAIRN_OK)
        goto done;
    in_tx = true;
    st = version_lookup(h, "SELECT version FROM model_versions WHERE model = ?1 AND version = ?2",
                        model, NULL, to_version, &dummy, &found, err);
    if (st != CAIRN_OK)
        goto done;
    if (!found) {
        st = cairn_error_set(err, CAIRN_ENOTFOUND, model, "%s has no version %d", model,
                             to_version);
        goto done;
    }
    if ((st = alias_get(h, model, alias, &current, &old_percent, err)) != CAIRN_OK ||
        (st = expect_check(model, alias, note->action, current, expected_version, err)) != CAIRN_OK)
        goto done;
    if (isnan(percent) && strcmp(alias, "canary") == 0) {
        /* A canary keeps its traffic share; an unset one has none to keep. */
        if (current == 0 || isnan(old_percent)) {
            st = percent_check(model, alias, percent, false, err);
            goto done;
        }
        percent = old_percent;
    }
    pause_hook();

    if ((st = alias_write(h, model, alias, to_version, percent, now, err)) != CAIRN_OK ||
        (st = alias_tx_commit(h, note, now, model, alias, current, to_version, percent,
                              "cannot commit the alias move", err)) != CAIRN_OK)
        goto done;
    in_tx = false;
done:
    if (in_tx)
        write_abort(h);
    return st;
}

cairn_status cairn_model_unset_alias(cairn_home *h, const char *model, const char *alias,
                                    int expected_version, const cairn_audit_note *note,
                                    cairn_error *err)
{
    bool in_tx = false;
    int current = 0;
    double old_percent;
    char now[32];
    sqlite3_stmt *s = NULL;
    cairn_status st = name_check(model, err);
    if (st == CAIRN_OK)
        st = alias_check(alias, err);
    if (st == CAIRN_OK)
        st = note_check(h, note, false, err);
    if (st != CAIRN_OK)
        return st;
    cairn_now_iso(now, sizeof now);
    if ((st = alias_tx_begin(h, model, "cannot start unsetting the alias", err)) != CAIRN_OK)
        return st;
    in_tx = true;
    if ((st = alias_get(h, model, alias, &current, &old_percent, err)) != CAIRN_OK)
        goto done;
    if (current == 0) {
        st = cairn_error_set(err, CAIRN_ENOTFOUND, model, "%s has no alias %s", model, alias);
        goto done;
    }
    if ((st = expect_check(model, alias, note->action, current, expected_version, err)) !=
        CAIRN_OK)
        goto done;
    pause_hook();
    int rc = sqlite3_prepare_v2(h->db, "DELETE FROM aliases WHERE model = ?1 AND alias = ?2", -1,
                                &s, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(s, 1, model, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(s, 2, alias, -1, SQLITE_STATIC);
    if ((st = run_stmt(h, s, rc, "cannot unset the alias", err)) != CAIRN_OK ||
        (st = alias_tx_commit(h, note, now, model, alias, current, 0, NAN,
                              "cannot commit unsetting the alias", err)) != CAIRN_OK)
        goto done;
    in_tx = false;
done:
    if (in_tx)
        write_abort(h);
    return st;
}

cairn_status cairn_model_audit_add(cairn_home *h, const char *model, const char *alias,
                                   int from_version, const cairn_audit_note *note,
                                   cairn_error *err)
{
    char now[32];
    audit_row row;
    cairn_status st = name_check(model, err);
    if (st == CAIRN_OK && alias)
        st = alias_check(alias, err);
    if (st == CAIRN_OK)
        st = note_check(h, note, false, err);
    if (st == CAIRN_OK && from_version < 0)
        st = cairn_error_set(err, CAIRN_EINVAL, model, "version %d is not a version number",
                             from_version);
    if (st != CAIRN_OK)
        return st;
    cairn_now_iso(now, sizeof now);
    audit_row_from_note(&row, note, now, model, alias);
    row.from_version = from_version;
    /* One statement: SQLite makes it atomic without an explicit transaction. */
    return audit_insert(h, &row, err);
}

/* ---- rollback target ----------------------------------------------------------------------- */

/*
 * Replays the alias's moves (oldest first) as a stack of versions:
 * promote/override/import push the new version (unless it is already on
 * top: re-promoting the current version is not a step back to undo);
 * rollback to V pops down to the topmost V, or pushes V when V is not on
 * the stack (a rollback to a version the history no longer holds is itself
 * a new step). Refused rows move nothing and are skipped.
 */
cairn_status cairn_model_rollback_target(cairn_home *h, const char *model, const char *alias,
                                         int *current, int *target, cairn_error *err)
{
    sqlite3_stmt *s = NULL;
    int *stack = NULL;
    size_t n = 0, cap = 0;
    bool began = false, found;
    double percent;
    int cur, rc;
    *current = 0;
    *target = 0;
    cairn_status st = name_check(model, err);
    if (st == CAIRN_OK)
        st = alias_check(alias, err);
    if (st != CAIRN_OK || (st = read_begin(h, &began, err)) != CAIRN_OK)
        goto done;
    if ((st = model_exists(h, model, &found, err)) != CAIRN_OK)
        goto done;
    if (!found) {
        st = cairn_error_set(err, CAIRN_ENOTFOUND, model, "no model %s", model);
        goto done;
    }
    if ((st = alias_get(h, model, alias, &cur, &percent, err)) != CAIRN_OK)
        goto done;
    rc = sqlite3_prepare_v2(h->db,
                                "SELECT action, to_version FROM audit WHERE model = ?1 AND"
                                " alias = ?2 AND to_version IS NOT NULL AND action <> 'refused'"
                                " ORDER BY seq",
                                -1, &s, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(s, 1, model, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(s, 2, alias, -1, SQLITE_STATIC);
    while (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        rc = SQLITE_OK;
        const unsigned char *action = sqlite3_column_text(s, 0);
        int to = sqlite3_column_int(s, 1);
        if (action && strcmp((const char *)action, "rollback") == 0) {
            size_t i = n;
            while (i > 0 && stack[i - 1] != to)
                i--;
            if (i > 0) {
                n = i; /* stack[i-1] == to is the new top */
                continue;
            }
        } else if (n > 0 && stack[n - 1] == to) {
            continue;
        }
        if (n == cap) {
            size_t ncap = cap ? 2 * cap : 16;
            int *grown = cairn_reallocarray(stack, ncap, sizeof *stack);
            if (!grown) {
                st = cairn_error_set(err, CAIRN_ENOMEM, model, "out of memory");
                goto done;
            }
            stack = grown;
            cap = ncap;
        }
        stack[n++] = to;
    }
    if (rc != SQLITE_DONE) {
        st = cairn_home_sql_error(h->db, rc, h->db_path, "cannot read the audit log", err);
        goto done;
    }
    *current = cur;
    *target = n >= 2 ? stack[n - 2] : 0;
done:
    sqlite3_finalize(s);
    read_end(h, began);
    cairn_free(stack);
    return st;
}

/* ---- listing ------------------------------------------------------------------------------- */

cairn_status cairn_model_list(cairn_home *h, char ***out, size_t *n, cairn_error *err)
{
    sqlite3_stmt *s = NULL;
    char **names = NULL;
    size_t count = 0, cap = 0;
    cairn_status st = CAIRN_OK;
    *out = NULL;
    *n = 0;
    int rc = sqlite3_prepare_v2(h->db, "SELECT name FROM models ORDER BY name", -1, &s, NULL);
    while (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        rc = SQLITE_OK;
        if (count == cap) {
            size_t ncap = cap ? 2 * cap : 8;
            char **grown = cairn_reallocarray(names, ncap, sizeof *names);
            if (!grown)
                goto oom;
            names = grown;
            cap = ncap;
        }
        bool ok = true;
        names[count] = column_strdup(s, 0, &ok);
        if (!ok || !names[count])
            goto oom;
        count++;
    }
    if (rc != SQLITE_DONE) {
        st = cairn_home_sql_error(h->db, rc, h->db_path, "cannot list models", err);
        goto done;
    }
    *out = names;
    *n = count;
    names = NULL;
    count = 0;
    goto done;
oom:
    st = cairn_error_set(err, CAIRN_ENOMEM, h->db_path, "out of memory");
done:
    for (size_t i = 0; i < count; i++)
        cairn_free(names[i]);
    cairn_free(names);
    sqlite3_finalize(s);
    return st;
}

#define VERSION_COLS                                                                               \
    "model, version, artifact_hash, run_id, source, task, model_type, dataset_name,"               \
    " dataset_version, dataset_hash, contract_hash, metrics_json, created_at, created_by"

/* Fills v (zeroed) from a row of VERSION_COLS; false when out of memory
 * (the caller resets v). */
static bool version_from_row(sqlite3_stmt *s, cairn_model_version *v)
{
    bool ok = true;
    column_copy(s, 0, v->model, sizeof v->model);
    v->version = sqlite3_column_int(s, 1);
    column_copy(s, 2, v->artifact_hash, sizeof v->artifact_hash);
    column_copy(s, 3, v->run_id, sizeof v->run_id);
    column_copy(s, 4, v->source, sizeof v->source);
    v->task = column_strdup(s, 5, &ok);
    v->model_type = column_strdup(s, 6, &ok);
    v->dataset_name = column_strdup(s, 7, &ok);
    v->dataset_version = sqlite3_column_int(s, 8); /* NULL reads as 0 */
    v->dataset_hash = column_strdup(s, 9, &ok);
    v->contract_hash = column_strdup(s, 10, &ok);
    v->metrics_json = column_strdup(s, 11, &ok);
    v->created_at = column_strdup(s, 12, &ok);
    v->created_by = column_strdup(s, 13, &ok);
    return ok;
}

/* Version `version` of model into out (reset first); *found false when absent. */
static cairn_status version_read(cairn_home *h, const char *model, int version,
                                 cairn_model_version *out, bool *found, cairn_error *err)
{
    sqlite3_stmt *s = NULL;
    cairn_status st = CAIRN_OK;
    *found = false;
    int rc = sqlite3_prepare_v2(h->db,
                                "SELECT " VERSION_COLS
                                " FROM model_versions WHERE model = ?1 AND version = ?2",
                                -1, &s, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(s, 1, model, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int(s, 2, version);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
            *found = true;
            if (!version_from_row(s, out)) {
                cairn_model_version_reset(out);
                st = cairn_error_set(err, CAIRN_ENOMEM, model, "out of memory");
            }
            rc = SQLITE_OK;
        } else if (rc == SQLITE_DONE) {
            rc = SQLITE_OK;
        }
    }
    if (rc != SQLITE_OK)
        st = cairn_home_sql_error(h->db, rc, h->db_path, "cannot read the model version", err);
    sqlite3_finalize(s);
    return st;
}

cairn_status cairn_model_versions(cairn_home *h, const char *model, cairn_model_version **out,
                                  size_t *n, cairn_error *err)
{
    sqlite3_stmt *s = NULL;
    cairn_model_version *vs = NULL;
    size_t count = 0, cap = 0;
    bool began = false, found;
    *out = NULL;
    *n = 0;
    cairn_status st = name_check(model, err);
    if (st != CAIRN_OK || (st = read_begin(h, &began, err)) != CAIRN_OK)
        goto done;
    if ((st = model_exists(h, model, &found, err)) != CAIRN_OK)
        goto done;
    if (!found) {
        st = cairn_error_set(err, CAIRN_ENOTFOUND, model, "no model %s", model);
        goto done;
    }
    int rc = sqlite3_prepare_v2(h->db,
                                "SELECT " VERSION_COLS
                                " FROM model_versions WHERE model = ?1 ORDER BY version",
                                -1, &s, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(s, 1, model, -1, SQLITE_STATIC);
    while (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        rc = SQLITE_OK;
        if (count == cap) {
            size_t ncap = cap ? 2 * cap : 8;
            cairn_model_version *grown = cairn_reallocarray(vs, ncap, sizeof *vs);
            if (!grown)
                goto oom;
            vs = grown;
            cap = ncap;
        }
        memset(&vs[count], 0, sizeof vs[count]);
        count++; /* counted first so that cleanup resets a half-filled entry */
        if (!version_from_row(s, &vs[count - 1]))
            goto oom;
    }
    if (rc != SQLITE_DONE) {
        st = cairn_home_sql_error(h->db, rc, h->db_path, "cannot list model versions", err);
        goto done;
    }
    *out = vs;
    *n = count;
    vs = NULL;
    count = 0;
    goto done;
oom:
    st = cairn_error_set(err, CAIRN_ENOMEM, model, "out of memory");
done:
    for (size_t i = 0; i < count; i++)
        cairn_model_version_reset(&vs[i]);
    cairn_free(vs);
    sqlite3_finalize(s);
    read_end(h, began);
    return st;
}

cairn_status cairn_model_aliases(cairn_home *h, const char *model, cairn_model_alias **out,
                                 size_t *n, cairn_error *err)
{
    sqlite3_stmt *s = NULL;
    cairn_model_alias *as = NULL;
    size_t count = 0, cap = 0;
    *out = NULL;
    *n = 0;
    cairn_status st = name_check(model, err);
    if (st != CAIRN_OK)
        return st;
    int rc = sqlite3_prepare_v2(h->db,
                                "SELECT alias, version, percent, updated_at FROM aliases"
                                " WHERE model = ?1 ORDER BY alias",
                                -1, &s, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(s, 1, model, -1, SQLITE_STATIC);
    while (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        rc = SQLITE_OK;
        if (count == cap) {
            size_t ncap = cap ? 2 * cap : 4;
            cairn_model_alias *grown = cairn_reallocarray(as, ncap, sizeof *as);
            if (!grown) {
                st = cairn_error_set(err, CAIRN_ENOMEM, model, "out of memory");
                goto done;
            }
            as = grown;
            cap = ncap;
        }
        cairn_model_alias *a = &as[count++];
        memset(a, 0, sizeof *a);
        column_copy(s, 0, a->alias, sizeof a->alias);
        a->version = sqlite3_column_int(s, 1);
        a->percent = column_real(s, 2);
        column_copy(s, 3, a->updated_at, sizeof a->updated_at);
    }
    if (rc != SQLITE_DONE) {
        st = cairn_home_sql_error(h->db, rc, h->db_path, "cannot list aliases", err);
        goto done;
    }
    *out = as;
    *n = count;
    as = NULL;
done:
    cairn_free(as);
    sqlite3_finalize(s);
    return st;
}

cairn_status cairn_model_audit(cairn_home *h, const char *model, size_t limit,
                               cairn_audit_entry **out, size_t *n, cairn_error *err)
{
    sqlite3_stmt *s = NULL;
    cairn_audit_entry *es = NULL;
    size_t count = 0, cap = 0;
    *out = NULL;
    *n = 0;
    cairn_status st = name_check(model, err);
    if (st != CAIRN_OK)
        return st;
    /* The newest `limit` rows (all for -1), then back to oldest first. */
    int rc = sqlite3_prepare_v2(
        h->db,
        "SELECT seq, time, user, model, action, alias, from_version, to_version, percent, run_id,"
        " reason, verdict, gates_json FROM (SELECT * FROM audit WHERE model = ?1"
        " ORDER BY seq DESC LIMIT ?2) ORDER BY seq",
        -1, &s, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(s, 1, model, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(s, 2, limit == 0 || limit > INT64_MAX ? -1 : (sqlite3_int64)limit);
    while (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        rc = SQLITE_OK;
        if (count == cap) {
            size_t ncap = cap ? 2 * cap : 16;
            cairn_audit_entry *grown = cairn_reallocarray(es, ncap, sizeof *es);
            if (!grown)
                goto oom;
            es = grown;
            cap = ncap;
        }
        cairn_audit_entry *e = &es[count++];
        bool ok = true;
        memset(e, 0, sizeof *e);
        e->seq = sqlite3_column_int64(s, 0);
        e->time = column_strdup(s, 1, &ok);
        e->user = column_strdup(s, 2, &ok);
        e->model = column_strdup(s, 3, &ok);
        e->action = column_strdup(s, 4, &ok);
        e->alias = column_strdup(s, 5, &ok);
        e->from_version = sqlite3_column_int(s, 6);
        e->to_version = sqlite3_column_int(s, 7);
        e->percent = column_real(s, 8);
        e->run_id = column_strdup(s, 9, &ok);
        e->reason = column_strdup(s, 10, &ok);
        e->verdict = column_strdup(s, 11, &ok);
        e->gates_json = column_strdup(s, 12, &ok);
        if (!ok)
            goto oom;
    }
    if (rc != SQLITE_DONE) {
        st = cairn_home_sql_error(h->db, rc, h->db_path, "cannot read the audit log", err);
        goto done;
    }
    *out = es;
    *n = count;
    es = NULL;
    count = 0;
    goto done;
oom:
    st = cairn_error_set(err, CAIRN_ENOMEM, model, "out of memory");
done:
    for (size_t i = 0; i < count; i++)
        cairn_audit_entry_reset(&es[i]);
    cairn_free(es);
    sqlite3_finalize(s);
    return st;
}

/* ---- lookups ------------------------------------------------------------------------------- */

cairn_status cairn_model_get_version(cairn_home *h, const char *model, int version,
                                     cairn_model_version *out, cairn_error *err)
{
    bool began = false, found;
    memset(out, 0, sizeof *out);
    cairn_status st = name_check(model, err);
    if (st != CAIRN_OK || (st = read_begin(h, &began, err)) != CAIRN_OK)
        goto done;
    if ((st = version_read(h, model, version, out, &found, err)) != CAIRN_OK || found)
        goto done;
    if ((st = model_exists(h, model, &found, err)) != CAIRN_OK)
        goto done;
    st = found ? cairn_error_set(err, CAIRN_ENOTFOUND, model, "%s has no version %d", model,
                                 version)
               : cairn_error_set(err, CAIRN_ENOTFOUND, model, "no model %s", model);
done:
    read_end(h, began);
    return st;
}

cairn_status cairn_model_resolve(cairn_home *h, const char *ref, cairn_model_version *out,
                                 cairn_error *err)
{
    static const char usage[] = "expected NAME, NAME@N (N >= 1) or NAME@ALIAS";
    char name[CAIRN_NAME_MAX + 1];
    char alias[CAIRN_ALIAS_MAX + 1] = "production";
    int version = 0;
    bool began = false, found;
    double percent;
    memset(out, 0, sizeof *out);
    if (!ref)
        return cairn_error_set(err, CAIRN_EINVAL, "", "missing model reference: %s", usage);
    const char *at = strchr(ref, '@');
    size_t len = at ? (size_t)(at - ref) : strlen(ref);
    if (len == 0 || len > CAIRN_NAME_MAX)
        return cairn_error_set(err, CAIRN_EINVAL, ref, "invalid model reference '%s': %s", ref,
                               usage);
    memcpy(name, ref, len);
    name[len] = '\0';
    cairn_status st = name_check(name, err);
    if (st != CAIRN_OK)
        return st;
    if (at && at[1] >= '0' && at[1] <= '9') {
        /* A suffix starting with a digit is a version: aliases start with a letter. */
        if ((st = cairn_ref_parse(ref, name, sizeof name, &version, err)) != CAIRN_OK)
            return st;
    } else if (at) {
        if (!cairn_alias_valid(at + 1))
            return cairn_error_set(err, CAIRN_EINVAL, ref,
                                   "invalid model reference '%s': %s", ref, usage);
        snprintf(alias, sizeof alias, "%s", at + 1);
    }

    if ((st = read_begin(h, &began, err)) != CAIRN_OK)
        goto done;
    if ((st = model_exists(h, name, &found, err)) != CAIRN_OK)
        goto done;
    if (!found) {
        st = cairn_error_set(err, CAIRN_ENOTFOUND, ref, "no model %s", name);
        goto done;
    }
    if (version == 0) {
        if ((st = alias_get(h, name, alias, &version, &percent, err)) != CAIRN_OK)
            goto done;
        if (version == 0) {
            st = cairn_error_set(err, CAIRN_ENOTFOUND, ref, "%s has no alias %s", name, alias);
            goto done;
        }
    }
    if ((st = version_read(h, name, version, out, &found, err)) != CAIRN_OK)
        goto done;
    if (!found)
        st = cairn_error_set(err, CAIRN_ENOTFOUND, ref, "%s has no version %d", name, version);
done:
    read_end(h, began);
    return st;
}
