/*
 * test_models.c -- the model registry (src/registry/models.c): versions,
 * aliases, the audit log, optimistic concurrency, the rollback stack,
 * reference resolution, and what a failure, a crash, a concurrent writer or
 * a SIGKILL leaves behind.
 *
 * Independent checks: stored rows are read back with plain SQL (NULL for
 * "none"); the rollback targets after each step are written out by hand from
 * the stack rule in models.h; "nothing written" is checked by comparing a
 * dump of every registry table (sqlite_sequence included) before and after;
 * consistency after a crash or kill is checked with PRAGMA integrity_check,
 * PRAGMA foreign_key_check and the audit chain (each move's from_version is
 * the previous move's to_version, the last one's to_version is the alias).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "registry/models.h"

#define HOME_FIXTURE_PREFIX "models-"
#include "test_home_fixture.h"

/* ---- helpers ------------------------------------------------------------ */

static cairn_home *open_home(const fixture *fx)
{
    cairn_home *h = NULL;
    cairn_error err = {0};
    if (cairn_home_open(fx->home, &h, &err) != CAIRN_OK)
        fail_msg("open: %s (%s)", err.msg, err.where);
    return h;
}

static cairn_home *fresh_home(const fixture *fx)
{
    cairn_error err = {0};
    assert_int_equal(cairn_home_init(fx->home, &err), CAIRN_OK);
    return open_home(fx);
}

static long long sql_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    long long v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

/* The database is sound: integrity_check says ok and no foreign key dangles. */
static void assert_db_ok(sqlite3 *db)
{
    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(s, 0), "ok");
    sqlite3_finalize(s);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA foreign_key_check", -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_DONE);
    sqlite3_finalize(s);
}

/* Every row of every registry table, as text (cairn_free). */
static char *dump(sqlite3 *db)
{
    static const char *const tables[] = {"models", "model_versions", "aliases", "audit",
                                         "sqlite_sequence"};
    cairn_buf b;
    cairn_buf_init(&b);
    for (size_t t = 0; t < sizeof tables / sizeof *tables; t++) {
        char sql[128];
        sqlite3_stmt *s = NULL;
        snprintf(sql, sizeof sql, "SELECT * FROM %s ORDER BY rowid", tables[t]);
        assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
        cairn_buf_printf(&b, "[%s]\n", tables[t]);
        while (sqlite3_step(s) == SQLITE_ROW) {
            for (int c = 0; c < sqlite3_column_count(s); c++) {
                const unsigned char *v = sqlite3_column_text(s, c);
                cairn_buf_printf(&b, "%d:%s|", sqlite3_column_type(s, c), v ? (const char *)v : "");
            }
            cairn_buf_putc(&b, '\n');
        }
        sqlite3_finalize(s);
    }
    char *out = cairn_buf_take(&b);
    assert_non_null(out);
    return out;
}

/* A version of model with a distinct artifact hash per seed. */
static void make_version(cairn_model_version *v, const char *model, int seed)
{
    memset(v, 0, sizeof *v);
    snprintf(v->model, sizeof v->model, "%s", model);
    snprintf(v->artifact_hash, sizeof v->artifact_hash, "%064d", seed);
    snprintf(v->run_id, sizeof v->run_id, "r-%012x", (unsigned)seed);
    snprintf(v->source, sizeof v->source, "run");
}

static const cairn_audit_note promote_note = {"promote", "alice", NULL, NULL, NULL, NULL};
static const cairn_audit_note rollback_note = {"rollback", "bob", NULL, "bad canary", NULL, NULL};
static const cairn_audit_note import_note = {"import", "carol", NULL, NULL, NULL, NULL};

/* Registers artifact `seed` of model and points alias at it; returns the status. */
static cairn_status promote(cairn_home *h, const char *model, int seed, const char *alias,
                            int expected, int *version, cairn_error *err)
{
    cairn_model_version v;
    make_version(&v, model, seed);
    return cairn_model_register(h, &v, alias, NAN, expected, &promote_note, version, err);
}

static int promote_ok(cairn_home *h, const char *model, int seed, int expected)
{
    cairn_error err = {0};
    int version = -1;
    if (promote(h, model, seed, "production", expected, &version, &err) != CAIRN_OK)
        fail_msg("promote %s seed %d: %s (%s)", model, seed, err.msg, err.where);
    return version;
}

static int alias_version(cairn_home *h, const char *model, const char *alias)
{
    cairn_model_alias *as = NULL;
    size_t n = 0;
    int v = 0;
    assert_int_equal(cairn_model_aliases(h, model, &as, &n, NULL), CAIRN_OK);
    for (size_t i = 0; i < n; i++)
        if (strcmp(as[i].alias, alias) == 0)
            v = as[i].version;
    cairn_free(as);
    return v;
}

static void free_audit(cairn_audit_entry *es, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cairn_audit_entry_reset(&es[i]);
    cairn_free(es);
}

static void free_versions(cairn_model_version *vs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cairn_model_version_reset(&vs[i]);
    cairn_free(vs);
}

/* The production alias's audit chain is unbroken and ends at the alias. */
static void assert_chain(cairn_home *h, const char *model)
{
    cairn_audit_entry *es = NULL;
    size_t n = 0;
    assert_int_equal(cairn_model_audit(h, model, 0, &es, &n, NULL), CAIRN_OK);
    int last = 0;
    for (size_t i = 0; i < n; i++) {
        if (!es[i].alias || strcmp(es[i].alias, "production") != 0 ||
            strcmp(es[i].action, "refused") == 0)
            continue;
        assert_int_equal(es[i].from_version, last);
        last = es[i].to_version;
    }
    assert_int_equal(last, alias_version(h, model, "production"));
    free_audit(es, n);
}

/* ---- names and users ------------------------------------------------------ */

static void test_alias_valid_and_user(void **state)
{
    (void)state;
    assert_true(cairn_alias_valid("production"));
    assert_true(cairn_alias_valid("canary"));
    assert_true(cairn_alias_valid("a"));
    assert_true(cairn_alias_valid("blue-2_x"));
    assert_true(cairn_alias_valid("abcdefghijklmnopqrstuvwxyz012345")); /* 32 */
    assert_false(cairn_alias_valid("abcdefghijklmnopqrstuvwxyz0123456"));
    assert_false(cairn_alias_valid(""));
    assert_false(cairn_alias_valid(NULL));
    assert_false(cairn_alias_valid("12"));
    assert_false(cairn_alias_valid("1abc"));
    assert_false(cairn_alias_valid("Prod"));
    assert_false(cairn_alias_valid("-x"));
    assert_false(cairn_alias_valid("a.b"));
    assert_false(cairn_alias_valid("a b"));

    char *saved = getenv("CAIRN_USER") ? strdup(getenv("CAIRN_USER")) : NULL;
    setenv("CAIRN_USER", "zoe", 1);
    assert_string_equal(cairn_audit_user(), "zoe");
    unsetenv("CAIRN_USER");
    struct passwd *pw = getpwuid(getuid());
    if (pw)
        assert_string_equal(cairn_audit_user(), pw->pw_name);
    else
        assert_non_null(cairn_audit_user());
    if (saved) {
        setenv("CAIRN_USER", saved, 1);
        free(saved);
    }
}

/* ---- versions --------------------------------------------------------------- */

static void test_register_versions(void **state)
{
    fixture *fx = *state;
    cairn_home *h = fresh_home(fx);
    cairn_error err = {0};
    cairn_model_version v;
    int got = 0;

    /* Three imports: 1, 2, 3; the same artifact again reuses its number and
     * writes nothing. */
    for (int i = 1; i <= 3; i++) {
        make_version(&v, "churn", i);
        char task[] = "binary", mtype[] = "gbdt", metrics[] = "{\"auc\":{\"estimate\":0.8}}";
        v.task = task;
        v.model_type = mtype;
        v.metrics_json = metrics;
        v.dataset_version = i == 2 ? 0 : i;
        assert_int_equal(cairn_model_register(h, &v, NULL, NAN, -1, &import_note, &got, &err),
                         CAIRN_OK);
        assert_int_equal(got, i);
    }
    char *before = dump(h->db);
    make_version(&v, "churn", 2);
    got = 0;
    assert_int_equal(cairn_model_register(h, &v, NULL, NAN, -1, &import_note, &got, &err),
                     CAIRN_OK);
    assert_int_equal(got, 2);
    char *after = dump(h->db);
    assert_string_equal(before, after);
    cairn_free(before);
    cairn_free(after);
    assert_int_equal(sql_int(h->db, "SELECT count(*) FROM model_versions"), 3);
    assert_int_equal(sql_int(h->db, "SELECT count(*) FROM audit WHERE action = 'import'"
                                    " AND alias IS NULL AND from_version IS NULL"),
                     3);
    assert_int_equal(sql_int(h->db, "SELECT group_concat(to_version) = '1,2,3' FROM audit"), 1);
    assert_int_equal(sql_int(h->db, "SELECT dataset_version IS NULL FROM model_versions"
                                    " WHERE version = 2"),
                     1);

    /* Another model counts from 1. */
    make_version(&v, "abc", 7);
    assert_int_equal(cairn_model_register(h, &v, NULL, NAN, -1, &import_note, &got, &err),
                     CAIRN_OK);
    assert_int_equal(got, 1);

    cairn_model_version *vs = NULL;
    size_t n = 0;
    assert_int_equal(cairn_model_versions(h, "churn", &vs, &n, &err), CAIRN_OK);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++) {
        char hash[CAIRN_HASH_HEX];
        snprintf(hash, sizeof hash, "%064d", (int)i + 1);
        assert_int_equal(vs[i].version, (int)i + 1);
        assert_string_equal(vs[i].model, "churn");
        assert_string_equal(vs[i].artifact_hash, hash);
        assert_string_equal(vs[i].source, "run");
        assert_string_equal(vs[i].task, "binary");
        assert_string_equal(vs[i].model_type, "gbdt");
        assert_string_equal(vs[i].metrics_json, "{\"auc\":{\"estimate\":0.8}}");
        assert_int_equal(vs[i].dataset_version, i == 1 ? 0 : (int)i + 1);
        assert_null(vs[i].dataset_name);
        assert_string_equal(vs[i].created_by, "carol"); /* the note's user */
        assert_non_null(vs[i].created_at);
    }
    free_versions(vs, n);
    assert_int_equal(cairn_model_versions(h, "nope", &vs, &n, &err), CAIRN_ENOTFOUND);

    char **names = NULL;
    assert_int_equal(cairn_model_list(h, &names, &n, &err), CAIRN_OK);
    assert_int_equal(n, 2);
    assert_string_equal(names[0], "abc");
    assert_string_equal(names[1], "churn");
    for (size_t i = 0; i < n; i++)
        cairn_free(names[i]);
    cairn_free(names);

    /* Refused before anything is written. */
    before = dump(h->db);
    make_version(&v, "bad name", 9);
    assert_int_equal(cairn_model_register(h, &v, NULL, NAN, -1, &import_note, &got, &err),
                     CAIRN_EINVAL);
    make_version(&v, "churn", 9);
    v.artifact_hash[10] = 'G';
    assert_int_equal(cairn_model_register(h, &v, NULL, NAN, -1, &import_note, &got, &err),
                     CAIRN_EINVAL);
    make_version(&v, "churn", 9);
    snprintf(v.source, sizeof v.source, "magic");
    assert_int_equal(cairn_model_register(h, &v, NULL, NAN, -1, &import_note, &got, &err),
                     CAIRN_EINVAL);
    make_version(&v, "churn", 9);
    char broken[] = "{\"auc\":";
    v.metrics_json = broken;
    assert_int_equal(cairn_model_register(h, &v, NULL, NAN, -1, &import_note, &got, &err),
                     CAIRN_EINVAL);
    make_version(&v, "churn", 9);
    cairn_audit_note odd = {"delete", "x", NULL, NULL, NULL, NULL};
    assert_int_equal(cairn_model_register(h, &v, NULL, NAN, -1, &odd, &got, &err), CAIRN_EINVAL);
    assert_int_equal(cairn_model_register(h, &v, "Prod", NAN, -1, &promote_note, &got, &err),
                     CAIRN_EINVAL);
    after = dump(h->db);
    assert_string_equal(before, after);
    cairn_free(before);
    cairn_free(after);
    cairn_home_close(h);
}

/* ---- aliases and the audit log ------------------------------------------------ */

static void test_alias_audit(void **state)
{
    fixture *fx = *state;
    cairn_home *h = fresh_home(fx);
    cairn_error err = {0};
    cairn_model_version v;
    int got = 0;
    const char *gates = "[{\"metric\":\"auc\",\"op\":\">=\",\"value\":0.7,\"pass\":true}]";
    cairn_audit_note note = {"promote", "alice", NULL, "better auc", "approve", gates};

    make_version(&v, "churn", 1);
    assert_int_equal(cairn_model_register(h, &v, "production", NAN, 0, &note, &got, &err),
                     CAIRN_OK);
    assert_int_equal(got, 1);
    cairn_audit_note over = {"override", "dave", "r-00000000abcd", "hotfix", "reject", NULL};
    make_version(&v, "churn", 2);
    assert_int_equal(cairn_model_register(h, &v, "production", NAN, 1, &over, &got, &err),
                     CAIRN_OK);
    assert_int_equal(got, 2);
    make_version(&v, "churn", 3);
    assert_int_equal(cairn_model_register(h, &v, "shadow", NAN, 0, &note, &got, &err), CAIRN_OK);
    assert_int_equal(got, 3);

    cairn_model_alias *as = NULL;
    size_t n = 0;
    assert_int_equal(cairn_model_aliases(h, "churn", &as, &n, &err), CAIRN_OK);
    assert_int_equal(n, 2);
    assert_string_equal(as[0].alias, "production");
    assert_int_equal(as[0].version, 2);
    assert_true(isnan(as[0].percent));
    assert_true(as[0].updated_at[0] != '\0');
    assert_string_equal(as[1].alias, "shadow");
    assert_int_equal(as[1].version, 3);
    cairn_free(as);
    assert_int_equal(cairn_model_aliases(h, "nope", &as, &n, &err), CAIRN_OK);
    assert_int_equal(n, 0);
    cairn_free(as);

    cairn_audit_entry *es = NULL;
    assert_int_equal(cairn_model_audit(h, "churn", 0, &es, &n, &err), CAIRN_OK);
    assert_int_equal(n, 3);
    assert_int_equal(es[0].seq, 1);
    assert_string_equal(es[0].action, "promote");
    assert_string_equal(es[0].user, "alice");
    assert_string_equal(es[0].model, "churn");
    assert_string_equal(es[0].alias, "production");
    assert_int_equal(es[0].from_version, 0);
    assert_int_equal(es[0].to_version, 1);
    assert_true(isnan(es[0].percent));
    assert_string_equal(es[0].run_id, "r-000000000001"); /* the version's run */
    assert_string_equal(es[0].reason, "better auc");
    assert_string_equal(es[0].verdict, "approve");
    assert_string_equal(es[0].gates_json, gates);
    assert_non_null(es[0].time);
    assert_string_equal(es[1].action, "override");
    assert_string_equal(es[1].user, "dave");
    assert_int_equal(es[1].from_version, 1);
    assert_int_equal(es[1].to_version, 2);
    assert_string_equal(es[1].run_id, "r-00000000abcd"); /* the note's run wins */
    assert_string_equal(es[1].verdict, "reject");
    assert_null(es[1].gates_json);
    assert_string_equal(es[2].alias, "shadow");
    assert_int_equal(es[2].from_version, 0);
    assert_int_equal(es[2].to_version, 3);
    free_audit(es, n);
    /* "Unset" is stored as NULL, not 0. */
    assert_int_equal(sql_int(h->db, "SELECT count(*) FROM audit WHERE from_version IS NULL"), 2);

    /* A user defaults to cairn_audit_user(). */
    setenv("CAIRN_USER", "erin", 1);
    cairn_audit_note anon = {"rollback", NULL, NULL, NULL, NULL, NULL};
    assert_int_equal(
        cairn_model_move_alias(h, "churn", "production", 1, NAN, 2, &anon, &err), CAIRN_OK);
    unsetenv("CAIRN_USER");
    assert_int_equal(sql_int(h->db, "SELECT user = 'erin' AND action = 'rollback' AND"
                                    " from_version = 2 AND to_version = 1 FROM audit"
                                    " WHERE seq = 4"),
                     1);
    assert_int_equal(alias_version(h, "churn", "production"), 1);

    /* Bad gates JSON, a refused move, a missing note: nothing written. */
    char *before = dump(h->db);
    cairn_audit_note badj = {"promote", "alice", NULL, NULL, NULL, "[{"};
    make_version(&v, "churn", 4);
    assert_int_equal(cairn_model_register(h, &v, "production", NAN, 1, &badj, &got, &err),
                     CAIRN_EINVAL);
    cairn_audit_note refused = {"refused", "alice", NULL, NULL, NULL, NULL};
    assert_int_equal(cairn_model_register(h, &v, "production", NAN, 1, &refused, &got, &err),
                     CAIRN_EINVAL);
    assert_int_equal(cairn_model_register(h, &v, "production", NAN, 1, NULL, &got, &err),
                     CAIRN_EINVAL);
    assert_int_equal(cairn_model_move_alias(h, "churn", "production", 9, NAN, -1, &rollback_note,
                                            &err),
                     CAIRN_ENOTFOUND);
    assert_string_equal(err.msg, "churn has no version 9");
    assert_int_equal(cairn_model_move_alias(h, "nope", "production", 1, NAN, -1, &rollback_note,
                                            &err),
                     CAIRN_ENOTFOUND);
    assert_string_equal(err.msg, "no model nope");
    char *after = dump(h->db);
    assert_string_equal(before, after);
    cairn_free(before);
    cairn_free(after);
    assert_db_ok(h->db);
    cairn_home_close(h);
}

static void test_canary_percent(void **state)
{
    fixture *fx = *state;
    cairn_home *h = fresh_home(fx);
    cairn_error err = {0};
    cairn_model_version v;
    int got = 0;
    const double bad[] = {NAN, 0.0, -1.0, 100.5, INFINITY};
    make_version(&v, "m", 1);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(
            cairn_model_register(h, &v, "canary", bad[i], 0, &promote_note, &got, &err),
            CAIRN_EINVAL);
    assert_int_equal(cairn_model_register(h, &v, "production", 10.0, 0, &promote_note, &got, &err),
                     CAIRN_EINVAL);
    assert_int_equal(sql_int(h->db, "SELECT count(*) FROM models"), 0);

    assert_int_equal(cairn_model_register(h, &v, "canary", 100.0, 0, &promote_note, &got, &err),
                     CAIRN_OK);
    make_version(&v, "m", 2);
    assert_int_equal(cairn_model_register(h, &v, "canary", 0.5, 1, &promote_note, &got, &err),
                     CAIRN_OK);
    assert_int_equal(got, 2);
    /* A move keeps the canary's percent unless one is given. */
    assert_int_equal(cairn_model_move_alias(h, "m", "canary", 1, NAN, 2, &rollback_note, &err),
                     CAIRN_OK);
    cairn_model_alias *as = NULL;
    size_t n = 0;
    assert_int_equal(cairn_model_aliases(h, "m", &as, &n, &err), CAIRN_OK);
    assert_int_equal(n, 1);
    assert_int_equal(as[0].version, 1);
    assert_true(as[0].percent == 0.5);
    cairn_free(as);
    assert_int_equal(cairn_model_move_alias(h, "m", "canary", 2, 25.0, 1, &promote_note, &err),
                     CAIRN_OK);
    assert_int_equal(cairn_model_move_alias(h, "m", "canary", 1, 101.0, 2, &rollback_note, &err),
                     CAIRN_EINVAL);
    assert_int_equal(cairn_model_move_alias(h, "m", "production", 1, 5.0, -1, &rollback_note,
                                            &err),
                     CAIRN_EINVAL);

    cairn_audit_entry *es = NULL;
    assert_int_equal(cairn_model_audit(h, "m", 0, &es, &n, &err), CAIRN_OK);
    assert_int_equal(n, 4);
    const double want[] = {100.0, 0.5, 0.5, 25.0};
    for (size_t i = 0; i < n; i++)
        assert_true(es[i].percent == want[i]);
    free_audit(es, n);

    /* An unset canary has no percent to keep. */
    make_version(&v, "k", 1);
    assert_int_equal(cairn_model_register(h, &v, NULL, NAN, -1, &import_note, &got, &err),
                     CAIRN_OK);
    assert_int_equal(cairn_model_move_alias(h, "k", "canary", 1, NAN, 0, &promote_note, &err),
                     CAIRN_EINVAL);
    assert_int_equal(cairn_model_move_alias(h, "k", "canary", 1, 30.0, 0, &promote_note, &err),
                     CAIRN_OK);
    cairn_home_close(h);
}

static void test_expected_conflict(void **state)
{
    fixture *fx = *state;
    cairn_home *h = fresh_home(fx);
    cairn_error err = {0};
    int got = 0;
    assert_int_equal(promote_ok(h, "m", 1, 0), 1);
    assert_int_equal(promote_ok(h, "m", 2, 1), 2);

    char *before = dump(h->db);
    /* Reviewed against 1, but the alias is on 2 now. */
    assert_int_equal(promote(h, "m", 3, "production", 1, &got, &err), CAIRN_ECHECK);
    assert_string_equal(err.msg,
                        "m@production moved to version 2 while this promotion was being reviewed");
    /* An alias expected unset that is set, and one expected set that is not. */
    assert_int_equal(promote(h, "m", 3, "production", 0, &got, &err), CAIRN_ECHECK);
    assert_int_equal(promote(h, "m", 3, "shadow", 1, &got, &err), CAIRN_ECHECK);
    assert_non_null(strstr(err.msg, "unset"));
    /* A new model with an expectation: the model row is not written either. */
    assert_int_equal(promote(h, "fresh", 1, "production", 4, &got, &err), CAIRN_ECHECK);
    assert_int_equal(cairn_model_move_alias(h, "m", "production", 1, NAN, 1, &rollback_note,
                                            &err),
                     CAIRN_ECHECK);
    assert_non_null(strstr(err.msg, "rollback"));
    char *after = dump(h->db);
    assert_string_equal(before, after);
    cairn_free(before);
    cairn_free(after);

    /* -1 checks nothing; an artifact already registered keeps its number. */
    assert_int_equal(promote(h, "m", 1, "production", -1, &got, &err), CAIRN_OK);
    assert_int_equal(got, 1);
    assert_int_equal(promote(h, "m", 3, "production", 1, &got, &err), CAIRN_OK);
    assert_int_equal(got, 3);
    assert_int_equal(sql_int(h->db, "SELECT count(*) FROM model_versions"), 3);
    assert_chain(h, "m");
    cairn_home_close(h);
}

/* ---- the rollback stack --------------------------------------------------------- */

static void expect_target(cairn_home *h, int cur, int target)
{
    int c = -1, t = -1;
    cairn_error err = {0};
    assert_int_equal(cairn_model_rollback_target(h, "m", "production", &c, &t, &err), CAIRN_OK);
    assert_int_equal(c, cur);
    assert_int_equal(t, target);
}

static void rollback_to(cairn_home *h, int to, int expected)
{
    cairn_error err = {0};
    if (cairn_model_move_alias(h, "m", "production", to, NAN, expected, &rollback_note, &err) !=
        CAIRN_OK)
        fail_msg("rollback to %d: %s", to, err.msg);
}

static void test_rollback_stack(void **state)
{
    fixture *fx = *state;
    cairn_home *h = fresh_home(fx);
    cairn_error err = {0};
    int c, t;
    assert_int_equal(cairn_model_rollback_target(h, "m", "production", &c, &t, &err),
                     CAIRN_ENOTFOUND);

    /* Each step is followed by the (current, target) the stack rule gives,
     * worked out by hand; the stack is in the comment. */
    assert_int_equal(promote_ok(h, "m", 1, 0), 1);
    expect_target(h, 1, 0);                                 /* [1] */
    assert_int_equal(promote_ok(h, "m", 2, 1), 2);
    expect_target(h, 2, 1);                                 /* [1 2] */
    assert_int_equal(promote_ok(h, "m", 3, 2), 3);
    expect_target(h, 3, 2);                                 /* [1 2 3] */
    rollback_to(h, 2, 3);
    expect_target(h, 2, 1);                                 /* [1 2] */
    rollback_to(h, 1, 2);
    expect_target(h, 1, 0);                                 /* [1] */
    assert_int_equal(promote_ok(h, "m", 4, 1), 4);
    expect_target(h, 4, 1);                                 /* [1 4] */

    /* Other aliases and refused promotions leave production's stack alone. */
    int got;
    assert_int_equal(promote(h, "m", 2, "shadow", 0, &got, &err), CAIRN_OK);
    assert_int_equal(got, 2);
    cairn_audit_note refused = {"refused", "alice", NULL, "gate failed", "reject", "[]"};
    assert_int_equal(cairn_model_audit_add(h, "m", "production", 4, &refused, &err), CAIRN_OK);
    expect_target(h, 4, 1);
    assert_int_equal(cairn_model_rollback_target(h, "m", "shadow", &c, &t, &err), CAIRN_OK);
    assert_int_equal(c, 2);
    assert_int_equal(t, 0);
    assert_int_equal(cairn_model_rollback_target(h, "m", "fallback", &c, &t, &err), CAIRN_OK);
    assert_int_equal(c, 0);
    assert_int_equal(t, 0);

    rollback_to(h, 1, 4);
    expect_target(h, 1, 0);                                 /* [1] */
    assert_int_equal(promote_ok(h, "m", 3, 1), 3);         /* version 3 again */
    expect_target(h, 3, 1);                                 /* [1 3] */
    assert_int_equal(promote_ok(h, "m", 3, 3), 3);         /* same version: no new step */
    expect_target(h, 3, 1);                                 /* [1 3] */
    rollback_to(h, 2, 3);                                   /* not on the stack: pushed */
    expect_target(h, 2, 3);                                 /* [1 3 2] */
    rollback_to(h, 3, 2);
    expect_target(h, 3, 1);                                 /* [1 3] */
    assert_int_equal(promote_ok(h, "m", 1, 3), 1);
    assert_int_equal(promote_ok(h, "m", 4, 1), 4);
    expect_target(h, 4, 1);                                 /* [1 3 1 4] */
    rollback_to(h, 1, 4);                                   /* pops to the topmost 1 */
    expect_target(h, 1, 3);                                 /* [1 3 1] */
    assert_chain(h, "m");
    cairn_home_close(h);
}

/* ---- resolving references ---------------------------------------------------------- */

static void test_resolve(void **state)
{
    fixture *fx = *state;
    cairn_home *h = fresh_home(fx);
    cairn_error err = {0};
    cairn_model_version out;
    int got;
    assert_int_equal(promote_ok(h, "churn", 1, 0), 1);
    assert_int_equal(promote_ok(h, "churn", 2, 1), 2);
    assert_int_equal(promote(h, "churn", 3, "shadow", 0, &got, &err), CAIRN_OK);
    cairn_model_version v;
    make_version(&v, "bare", 5);
    assert_int_equal(cairn_model_register(h, &v, NULL, NAN, -1, &import_note, &got, &err),
                     CAIRN_OK);

    struct {
        const char *ref;
        int version;
    } ok[] = {{"churn", 2}, {"churn@production", 2}, {"churn@1", 1}, {"churn@3", 3},
              {"churn@shadow", 3}, {"bare@1", 1}};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        char hash[CAIRN_HASH_HEX];
        memset(&out, 0x5a, sizeof out); /* reset first, whatever it held */
        if (cairn_model_resolve(h, ok[i].ref, &out, &err) != CAIRN_OK)
            fail_msg("%s: %s", ok[i].ref, err.msg);
        assert_int_equal(out.version, ok[i].version);
        int seed = strncmp(ok[i].ref, "bare", 4) == 0 ? 5 : ok[i].version;
        snprintf(hash, sizeof hash, "%064d", seed);
        assert_string_equal(out.artifact_hash, hash);
        cairn_model_version_reset(&out);
    }
    assert_int_equal(cairn_model_get_version(h, "churn", 2, &out, &err), CAIRN_OK);
    assert_int_equal(out.version, 2);
    assert_string_equal(out.run_id, "r-000000000002");
    cairn_model_version_reset(&out);
    assert_int_equal(cairn_model_get_version(h, "churn", 7, &out, &err), CAIRN_ENOTFOUND);
    assert_string_equal(err.msg, "churn has no version 7");
    assert_int_equal(cairn_model_get_version(h, "nope", 1, &out, &err), CAIRN_ENOTFOUND);
    assert_string_equal(err.msg, "no model nope");

    struct {
        const char *ref, *msg;
    } missing[] = {{"nope", "no model nope"},
                   {"nope@1", "no model nope"},
                   {"churn@9", "churn has no version 9"},
                   {"churn@canary", "churn has no alias canary"},
                   {"bare", "bare has no alias production"}};
    for (size_t i = 0; i < sizeof missing / sizeof *missing; i++) {
        assert_int_equal(cairn_model_resolve(h, missing[i].ref, &out, &err), CAIRN_ENOTFOUND);
        assert_string_equal(err.msg, missing[i].msg);
        assert_null(out.task);
    }
    const char *bad[] = {"",      "@1",    "churn@",  "churn@0", "churn@01", "churn@-1",
                         "churn@1x", "churn@Prod", "churn@-x", "bad name", "churn@a@b",
                         "churn@99999999999", NULL};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(cairn_model_resolve(h, bad[i], &out, &err), CAIRN_EINVAL);
    cairn_home_close(h);
}

/* ---- the audit log --------------------------------------------------------------------- */

static void test_audit_limit_and_refused(void **state)
{
    fixture *fx = *state;
    cairn_home *h = fresh_home(fx);
    cairn_error err = {0};
    for (int i = 1; i <= 5; i++)
        assert_int_equal(promote_ok(h, "m", i, i - 1), i);
    assert_int_equal(promote_ok(h, "other", 1, 0), 1); /* interleaved rows of another model */

    cairn_audit_note refused = {"refused", "alice", "r-0000000000ff", "auc fell", "reject",
                                "[{\"metric\":\"auc\",\"pass\":false}]"};
    assert_int_equal(cairn_model_audit_add(h, "m", "production", 5, &refused, &err), CAIRN_OK);
    /* The model need not exist. */
    assert_int_equal(cairn_model_audit_add(h, "ghost", "production", 0, &refused, &err), CAIRN_OK);
    assert_int_equal(cairn_model_audit_add(h, "ghost", "Prod", 0, &refused, &err), CAIRN_EINVAL);
    assert_int_equal(cairn_model_audit_add(h, "bad name", NULL, 0, &refused, &err), CAIRN_EINVAL);
    cairn_audit_note odd = {"approve", "alice", NULL, NULL, NULL, NULL};
    assert_int_equal(cairn_model_audit_add(h, "m", "production", 5, &odd, &err), CAIRN_EINVAL);
    cairn_audit_note badj = {"refused", "alice", NULL, NULL, NULL, "nope"};
    assert_int_equal(cairn_model_audit_add(h, "m", "production", 5, &badj, &err), CAIRN_EINVAL);
    assert_int_equal(sql_int(h->db, "SELECT count(*) FROM audit"), 8);
    assert_int_equal(alias_version(h, "m", "production"), 5); /* nothing moved */

    cairn_audit_entry *es = NULL;
    size_t n = 0;
    assert_int_equal(cairn_model_audit(h, "m", 0, &es, &n, &err), CAIRN_OK);
    assert_int_equal(n, 6);
    for (size_t i = 1; i < n; i++)
        assert_true(es[i].seq > es[i - 1].seq);
    assert_string_equal(es[5].action, "refused");
    assert_int_equal(es[5].from_version, 5);
    assert_int_equal(es[5].to_version, 0);
    assert_string_equal(es[5].run_id, "r-0000000000ff");
    assert_string_equal(es[5].reason, "auc fell");
    assert_string_equal(es[5].verdict, "reject");
    assert_string_equal(es[5].gates_json, "[{\"metric\":\"auc\",\"pass\":false}]");
    free_audit(es, n);
    assert_int_equal(sql_int(h->db, "SELECT to_version IS NULL FROM audit WHERE action ="
                                    " 'refused' AND model = 'm'"),
                     1);

    /* The newest 2, oldest first: promote to 5, then the refusal. */
    assert_int_equal(cairn_model_audit(h, "m", 2, &es, &n, &err), CAIRN_OK);
    assert_int_equal(n, 2);
    assert_string_equal(es[0].action, "promote");
    assert_int_equal(es[0].to_version, 5);
    assert_string_equal(es[1].action, "refused");
    free_audit(es, n);
    assert_int_equal(cairn_model_audit(h, "m", 100, &es, &n, &err), CAIRN_OK);
    assert_int_equal(n, 6);
    free_audit(es, n);
    assert_int_equal(cairn_model_audit(h, "ghost", 0, &es, &n, &err), CAIRN_OK);
    assert_int_equal(n, 1);
    free_audit(es, n);
    assert_int_equal(cairn_model_audit(h, "none", 0, &es, &n, &err), CAIRN_OK);
    assert_int_equal(n, 0);
    free_audit(es, n);
    cairn_home_close(h);
}

/* Every allocation the readers make fails in turn: ENOMEM and nothing leaked. */
static void test_allocation_failures(void **state)
{
    fixture *fx = *state;
    cairn_home *h = fresh_home(fx);
    cairn_error err = {0};
    for (int i = 1; i <= 3; i++)
        assert_int_equal(promote_ok(h, "m", i, i - 1), i);
    for (int which = 0; which < 4; which++) {
        bool done = false;
        int failures = 0;
        for (long k = 1; !done && k < 200; k++) {
            cairn_alloc_fail_after(k, false);
            cairn_status st;
            size_t n = 0;
            if (which == 0) {
                cairn_model_version *vs = NULL;
                st = cairn_model_versions(h, "m", &vs, &n, &err);
                if (st == CAIRN_OK)
                    free_versions(vs, n);
                else
                    assert_null(vs);
            } else if (which == 1) {
                cairn_audit_entry *es = NULL;
                st = cairn_model_audit(h, "m", 0, &es, &n, &err);
                if (st == CAIRN_OK)
                    free_audit(es, n);
                else
                    assert_null(es);
            } else if (which == 2) {
                char **names = NULL;
                st = cairn_model_list(h, &names, &n, &err);
                for (size_t i = 0; st == CAIRN_OK && i < n; i++)
                    cairn_free(names[i]);
                cairn_free(names);
            } else {
                cairn_model_version out;
                st = cairn_model_resolve(h, "m@2", &out, &err);
                cairn_model_version_reset(&out);
            }
            cairn_alloc_fail_after(0, false);
            assert_true(st == CAIRN_OK || st == CAIRN_ENOMEM);
            if (st == CAIRN_OK)
                done = true;
            else
                failures++;
            assert_int_equal(sqlite3_get_autocommit(h->db), 1);
        }
        assert_true(done);
        assert_true(failures > 0);
    }
    cairn_home_close(h);
}

/* ---- failures, crashes, races, kills ------------------------------------------------------ */

static const char *const steps[] = {"version-inserted", "alias-written", "audit-written",
                                    "before-commit"};

static void test_fault_injection(void **state)
{
    fixture *fx = *state;
    cairn_home *h = fresh_home(fx);
    cairn_error err = {0};
    int got;
    assert_int_equal(promote_ok(h, "m", 1, 0), 1);
    char *before = dump(h->db);
    for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) {
        char want[64];
        setenv("CAIRN_TEST_FAIL_AT", steps[i], 1);
        got = -7;
        cairn_status st = promote(h, "m", 2, "production", 1, &got, &err);
        unsetenv("CAIRN_TEST_FAIL_AT");
        assert_int_equal(st, CAIRN_EIO);
        assert_int_equal(got, -7); /* not written on failure */
        snprintf(want, sizeof want, "injected failure at %s", steps[i]);
        assert_string_equal(err.msg, want);
        assert_int_equal(sqlite3_get_autocommit(h->db), 1);
        char *after = dump(h->db);
        assert_string_equal(before, after);
        cairn_free(after);
        assert_int_equal(alias_version(h, "m", "production"), 1);
        assert_db_ok(h->db);
    }
    /* A rollback fails the same way at its steps. */
    assert_int_equal(promote_ok(h, "m", 2, 1), 2);
    cairn_free(before);
    before = dump(h->db);
    for (size_t i = 1; i < sizeof steps / sizeof *steps; i++) {
        setenv("CAIRN_TEST_FAIL_AT", steps[i], 1);
        cairn_status st =
            cairn_model_move_alias(h, "m", "production", 1, NAN, 2, &rollback_note, &err);
        unsetenv("CAIRN_TEST_FAIL_AT");
        assert_int_equal(st, CAIRN_EIO);
        char *after = dump(h->db);
        assert_string_equal(before, after);
        cairn_free(after);
    }
    cairn_free(before);
    /* The failures consumed nothing: the next audit row is seq 3, the next version 3. */
    rollback_to(h, 1, 2);
    assert_int_equal(sql_int(h->db, "SELECT max(seq) FROM audit"), 3);
    assert_int_equal(promote_ok(h, "m", 3, 1), 3);
    assert_chain(h, "m");
    cairn_home_close(h);
}

/* Unsetting an alias: gone from the aliases, audited as "unset" from -> none,
 * conflict-checked, refused when absent, and atomic under injected failures. */
static void test_unset_alias(void **state)
{
    fixture *fx = *state;
    cairn_home *h = fresh_home(fx);
    cairn_error err = {0};
    static const cairn_audit_note unset_note = {"unset", "dora", NULL, "canary over", NULL, NULL};
    int v = 0;
    assert_int_equal(promote_ok(h, "m", 1, 0), 1);
    cairn_model_version ver;
    make_version(&ver, "m", 2);
    assert_int_equal(cairn_model_register(h, &ver, "canary", 10.0, 0, &promote_note, &v, &err),
                     CAIRN_OK);
    assert_int_equal(alias_version(h, "m", "canary"), 2);
    /* A wrong expectation writes nothing. */
    char *before = dump(h->db);
    assert_int_equal(cairn_model_unset_alias(h, "m", "canary", 1, &unset_note, &err), CAIRN_ECHECK);
    for (size_t i = 1; i < sizeof steps / sizeof *steps; i++) {
        setenv("CAIRN_TEST_FAIL_AT", steps[i], 1);
        cairn_status st = cairn_model_unset_alias(h, "m", "canary", 2, &unset_note, &err);
        unsetenv("CAIRN_TEST_FAIL_AT");
        assert_int_equal(st, CAIRN_EIO);
    }
    char *after = dump(h->db);
    assert_string_equal(before, after);
    cairn_free(before);
    cairn_free(after);
    assert_int_equal(cairn_model_unset_alias(h, "m", "canary", 2, &unset_note, &err), CAIRN_OK);
    assert_int_equal(alias_version(h, "m", "canary"), 0);
    assert_int_equal(alias_version(h, "m", "production"), 1);
    assert_int_equal(sql_int(h->db, "SELECT count(*) FROM audit WHERE action = 'unset' AND alias ="
                                    " 'canary' AND from_version = 2 AND to_version IS NULL AND user"
                                    " = 'dora' AND reason = 'canary over'"),
                     1);
    /* Gone: a second unset, and an unknown model, are not found. */
    assert_int_equal(cairn_model_unset_alias(h, "m", "canary", -1, &unset_note, &err),
                     CAIRN_ENOTFOUND);
    assert_int_equal(cairn_model_unset_alias(h, "nosuch", "canary", -1, &unset_note, &err),
                     CAIRN_ENOTFOUND);
    assert_db_ok(h->db);
    cairn_home_close(h);
}

/* Forks a child that opens the home with CAIRN_TEST_CRASH_AT=step and runs
 * one promotion (seed) or, for seed 0, a rollback to version 1 expecting 2. */
static int crash_child(const fixture *fx, const char *step, int seed, int expected)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        cairn_home *h = NULL;
        int got;
        setenv("CAIRN_TEST_CRASH_AT", step, 1);
        if (cairn_home_open(fx->home, &h, NULL) != CAIRN_OK)
            _exit(3);
        cairn_status st =
            seed ? promote(h, "m", seed, "production", expected, &got, NULL)
                 : cairn_model_move_alias(h, "m", "production", 1, NAN, 2, &rollback_note, NULL);
        _exit(st == CAIRN_OK ? 0 : 2);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static void test_crash(void **state)
{
    fixture *fx = *state;
    cairn_home *h = fresh_home(fx);
    assert_int_equal(promote_ok(h, "m", 1, 0), 1);
    char *before = dump(h->db);
    cairn_home_close(h); /* no SQLite handle crosses a fork */
    for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) {
        assert_int_equal(crash_child(fx, steps[i], 2, 1), CAIRN_HOME_CRASH_EXIT);
        h = open_home(fx);
        assert_db_ok(h->db);
        char *after = dump(h->db);
        assert_string_equal(before, after);
        cairn_free(after);
        assert_int_equal(alias_version(h, "m", "production"), 1);
        assert_int_equal(sql_int(h->db, "SELECT count(*) FROM model_versions"), 1);
        assert_int_equal(sql_int(h->db, "SELECT count(*) FROM audit"), 1);
        cairn_home_close(h);
    }
    /* The same promotion without the hook goes through in a child. */
    assert_int_equal(crash_child(fx, "nowhere", 2, 1), 0);
    h = open_home(fx);
    assert_int_equal(alias_version(h, "m", "production"), 2);
    cairn_free(before);
    before = dump(h->db);
    cairn_home_close(h);
    /* A crash partway through a rollback leaves the alias on 2. */
    for (size_t i = 1; i < sizeof steps / sizeof *steps; i++) {
        assert_int_equal(crash_child(fx, steps[i], 0, 2), CAIRN_HOME_CRASH_EXIT);
        h = open_home(fx);
        assert_db_ok(h->db);
        char *after = dump(h->db);
        assert_string_equal(before, after);
        cairn_free(after);
        cairn_home_close(h);
    }
    cairn_free(before);
    h = open_home(fx);
    assert_chain(h, "m");
    cairn_home_close(h);
}

/*
 * Two processes promote different artifacts to production, both reviewed
 * against the same current version: each reads the alias, then waits at a
 * barrier until both have read, so both hold the same expectation before
 * either writes. With CAIRN_TEST_PAUSE_MS the first to take the write lock
 * sits on it after its check; the second blocks on the lock (busy timeout)
 * and, once it gets it, finds the alias moved. Exit: 0 promoted, 1 conflict,
 * 2+ anything else. Each child also reports when its call started and
 * ended (CLOCK_MONOTONIC, shared by processes): the loser cannot learn of
 * the conflict before the winner commits, which is at least the pause after
 * the winner's call started.
 */
typedef struct call_times {
    int child;
    int64_t start_us, end_us;
} call_times;

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void test_concurrent_promotions(void **state)
{
    fixture *fx = *state;
    cairn_home *h = fresh_home(fx);
    assert_int_equal(promote_ok(h, "m", 1, 0), 1);
    cairn_home_close(h);
    for (int round = 0; round < 3; round++) {
        int ready[2], go[2], times[2];
        pid_t pids[2];
        int seeds[2] = {100 + 2 * round, 101 + 2 * round};
        assert_int_equal(pipe(ready), 0);
        assert_int_equal(pipe(go), 0);
        assert_int_equal(pipe(times), 0);
        h = open_home(fx);
        int start = alias_version(h, "m", "production");
        long long audit_before = sql_int(h->db, "SELECT count(*) FROM audit");
        cairn_home_close(h);
        for (int c = 0; c < 2; c++) {
            pids[c] = fork();
            assert_true(pids[c] >= 0);
            if (pids[c] == 0) {
                cairn_home *ch = NULL;
                cairn_error err = {0};
                char byte = 'r';
                int got;
                close(ready[0]);
                close(go[1]);
                close(times[0]);
                if (cairn_home_open(fx->home, &ch, NULL) != CAIRN_OK)
                    _exit(3);
                int expected = alias_version(ch, "m", "production");
                if (write(ready[1], &byte, 1) != 1 || read(go[0], &byte, 1) != 0)
                    _exit(4);
                setenv("CAIRN_TEST_PAUSE_MS", "300", 1);
                call_times t = {c, mono_us(), 0};
                cairn_status st = promote(ch, "m", seeds[c], "production", expected, &got, &err);
                t.end_us = mono_us();
                cairn_home_close(ch);
                if (write(times[1], &t, sizeof t) != (ssize_t)sizeof t)
                    _exit(6);
                if (st == CAIRN_ECHECK)
                    _exit(strstr(err.msg, "moved to version") ? 1 : 5);
                _exit(st == CAIRN_OK ? 0 : 2);
            }
        }
        close(ready[1]);
        close(go[0]);
        close(times[1]);
        char buf[2];
        assert_int_equal(read(ready[0], buf, 1), 1);
        assert_int_equal(read(ready[0], buf + 1, 1), 1);
        close(go[1]); /* both have read the alias: let them go */
        close(ready[0]);
        int codes[2];
        for (int c = 0; c < 2; c++) {
            int status = 0;
            assert_int_equal(waitpid(pids[c], &status, 0), pids[c]);
            assert_true(WIFEXITED(status));
            codes[c] = WEXITSTATUS(status);
        }
        assert_true((codes[0] == 0 && codes[1] == 1) || (codes[0] == 1 && codes[1] == 0));
        int winner = codes[0] == 0 ? 0 : 1;
        call_times t[2], got_t;
        for (int c = 0; c < 2; c++) {
            assert_int_equal(read(times[0], &got_t, sizeof got_t), (ssize_t)sizeof got_t);
            t[got_t.child] = got_t;
        }
        close(times[0]);
        assert_true(t[1 - winner].end_us - t[winner].start_us >= 300000);
        print_message("race round %d: the loser returned %.0f ms after the winner began\n",
                      round, (double)(t[1 - winner].end_us - t[winner].start_us) / 1000.0);

        h = open_home(fx);
        assert_db_ok(h->db);
        char sql[256];
        snprintf(sql, sizeof sql,
                 "SELECT version FROM model_versions WHERE artifact_hash = '%064d'", seeds[winner]);
        long long wv = sql_int(h->db, sql);
        assert_int_equal(alias_version(h, "m", "production"), wv);
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM model_versions WHERE artifact_hash = '%064d'",
                 seeds[1 - winner]);
        assert_int_equal(sql_int(h->db, sql), 0);
        assert_int_equal(sql_int(h->db, "SELECT count(*) FROM audit"), audit_before + 1);
        snprintf(sql, sizeof sql,
                 "SELECT from_version = %d AND to_version = %lld FROM audit ORDER BY seq DESC"
                 " LIMIT 1",
                 start, wv);
        assert_int_equal(sql_int(h->db, sql), 1);
        assert_chain(h, "m");
        cairn_home_close(h);
    }
}

/*
 * A child promotes two artifacts in turn, without expectations, as fast as it
 * can; the parent kills it with SIGKILL after a random (seeded) delay and
 * checks what is left: a sound database, an alias on an existing version,
 * and an audit chain that ends at the alias.
 */
static void test_kill9(void **state)
{
    fixture *fx = *state;
    cairn_home *h = fresh_home(fx);
    cairn_home_close(h);
    cairn_rng rng;
    cairn_rng_init(&rng, 20261123);
    long long moves = 0;
    for (int round = 0; round < 20; round++) {
        unsigned delay_ms = 5 + (unsigned)cairn_rng_below(&rng, 60);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            cairn_home *ch = NULL;
            int got;
            if (cairn_home_open(fx->home, &ch, NULL) != CAIRN_OK)
                _exit(3);
            for (int i = 0;; i++)
                if (promote(ch, "m", 1 + (i & 1), "production", -1, &got, NULL) != CAIRN_OK)
                    _exit(2);
        }
        struct timespec ts = {0, (long)delay_ms * 1000000L};
        nanosleep(&ts, NULL);
        assert_int_equal(kill(pid, SIGKILL), 0);
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

        h = open_home(fx);
        assert_db_ok(h->db);
        int cur = alias_version(h, "m", "production");
        if (cur) {
            char sql[160];
            snprintf(sql, sizeof sql,
                     "SELECT count(*) FROM model_versions WHERE model = 'm' AND version = %d", cur);
            assert_int_equal(sql_int(h->db, sql), 1);
            assert_int_equal(sql_int(h->db, "SELECT to_version FROM audit WHERE model = 'm' AND"
                                            " alias = 'production' ORDER BY seq DESC LIMIT 1"),
                             cur);
            assert_chain(h, "m");
        } else {
            assert_int_equal(sql_int(h->db, "SELECT count(*) FROM audit"), 0);
        }
        assert_true(sql_int(h->db, "SELECT count(*) FROM model_versions") <= 2);
        long long now_moves = sql_int(h->db, "SELECT count(*) FROM audit");
        assert_true(now_moves >= moves);
        moves = now_moves;
        cairn_home_close(h);
    }
    /* The kills landed while the child was committing, not before it started. */
    print_message("kill9: %lld committed moves over 20 rounds\n", moves);
    assert_true(moves >= 20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alias_valid_and_user),
        cmocka_unit_test_setup_teardown(test_register_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alias_audit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_canary_percent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expected_conflict, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rollback_stack, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolve, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_limit_and_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_allocation_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fault_injection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unset_alias, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_promotions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill9, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
