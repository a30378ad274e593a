/*
 * home.c -- the home directory: creating and opening it, its SQLite
 * database (schema, pragmas, schema-version check and the upgrade of an
 * older home), where its objects live, and the names used to refer to what
 * it holds (NAME, NAME@N).
 *
 * Durability choices: the database runs in WAL mode with synchronous=FULL.
 * With NORMAL, WAL mode stays consistent after a power loss but may lose the
 * last committed transactions; for a registry that is the wrong trade: a
 * command that printed "added churn@3" (or, later, "promoted") must not
 * silently forget it, and writes here are rare and small (one fsync of the
 * WAL per commit, next to the snapshot's own fsyncs). Objects are written
 * with cairn_write_file_atomic before any row names them (datasets.c).
 *
 * Opening also removes temporary object files (objects/.tmp-*) left by a
 * crashed writer, once they are older than CAIRN_HOME_TMP_MAX_AGE_S: a
 * younger one may belong to a writer that is still running.
 */
#include "registry/registry.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/*
 * The schema, one step per version: a home at version v has had steps
 * 0..v-1 applied. A new home gets every step in one transaction; an older one
 * gets the missing steps when it is opened (upgrade_schema). A step is only
 * ever appended, never edited: a home made by an older build must end up with
 * exactly the tables a new one has. A later module adds a step and bumps
 * CAIRN_HOME_SCHEMA_VERSION.
 */
static const char schema_v1_sql[] =
    "CREATE TABLE IF NOT EXISTS meta("
    " key TEXT PRIMARY KEY,"
    " value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS datasets("
    " name TEXT NOT NULL,"
    " version INTEGER NOT NULL CHECK (version >= 1),"
    " hash TEXT NOT NULL,"
    " source TEXT NOT NULL,"
    " source_bytes INTEGER NOT NULL,"
    " n_rows INTEGER NOT NULL,"
    " n_cols INTEGER NOT NULL,"
    " columns_json TEXT NOT NULL,"
    " stats_json TEXT NOT NULL,"
    " created_at TEXT NOT NULL,"
    " PRIMARY KEY (name, version));"
    "CREATE INDEX IF NOT EXISTS datasets_by_hash ON datasets(hash);";

/* Version 2: the experiment-tracking store (runs.c). */
static const char schema_v2_sql[] =
    "CREATE TABLE IF NOT EXISTS runs("
    " id TEXT PRIMARY KEY NOT NULL,"
    " model TEXT NOT NULL,"
    " status TEXT NOT NULL CHECK (status IN ('succeeded', 'failed')),"
    " error TEXT,"
    " started_at TEXT NOT NULL,"
    " finished_at TEXT,"
    " duration_s REAL,"
    " spec_text TEXT,"
    " spec_json TEXT,"
    " seed INTEGER,"
    " dataset_name TEXT,"
    " dataset_version INTEGER,"
    " dataset_hash TEXT,"
    " contract_hash TEXT,"
    " code_version TEXT,"
    " build_json TEXT,"
    " stages_json TEXT,"
    " split_json TEXT,"
    " eval_json TEXT,"
    " findings_json TEXT,"
    " gates_json TEXT,"
    " model_type TEXT,"
    " transform_state BLOB,"
    " model_state BLOB,"
    " baseline_state BLOB,"
    " state_hash TEXT);"
    "CREATE INDEX IF NOT EXISTS runs_by_started ON runs(started_at, id);"
    "CREATE INDEX IF NOT EXISTS runs_by_model ON runs(model, started_at);"
    "CREATE TABLE IF NOT EXISTS run_metrics("
    " run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    " name TEXT NOT NULL,"
    " estimate REAL,"
    " lo REAL,"
    " hi REAL,"
    " PRIMARY KEY (run_id, name));"
    "CREATE INDEX IF NOT EXISTS run_metrics_by_name ON run_metrics(name, estimate);";

/* Version 3: reference statistics on runs; the model registry (models.c):
 * versions, aliases and the audit log; artifact signatures and trusted keys. */
static const char schema_v3_sql[] =
    "ALTER TABLE runs ADD COLUMN refstats_json TEXT;"
    "CREATE TABLE IF NOT EXISTS models("
    " name TEXT PRIMARY KEY NOT NULL,"
    " created_at TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS model_versions("
    " model TEXT NOT NULL REFERENCES models(name),"
    " version INTEGER NOT NULL CHECK (version >= 1),"
    " artifact_hash TEXT NOT NULL,"
    " run_id TEXT NOT NULL,"
    " source TEXT NOT NULL CHECK (source IN ('run', 'import')),"
    " task TEXT,"
    " model_type TEXT,"
    " dataset_name TEXT,"
    " dataset_version INTEGER,"
    " dataset_hash TEXT,"
    " contract_hash TEXT,"
    " metrics_json TEXT,"
    " created_at TEXT NOT NULL,"
    " created_by TEXT NOT NULL,"
    " PRIMARY KEY (model, version),"
    " UNIQUE (model, artifact_hash));"
    "CREATE TABLE IF NOT EXISTS aliases("
    " model TEXT NOT NULL REFERENCES models(name),"
    " alias TEXT NOT NULL,"
    " version INTEGER NOT NULL,"
    " percent REAL,"
    " updated_at TEXT NOT NULL,"
    " PRIMARY KEY (model, alias),"
    " FOREIGN KEY (model, version) REFERENCES model_versions(model, version));"
    "CREATE TABLE IF NOT EXISTS audit("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " time TEXT NOT NULL,"
    " user TEXT NOT NULL,"
    " model TEXT NOT NULL,"
    " action TEXT NOT NULL,"
    " alias TEXT,"
    " from_version INTEGER,"
    " to_version INTEGER,"
    " percent REAL,"
    " run_id TEXT,"
    " reason TEXT,"
    " verdict TEXT,"
    " gates_json TEXT);"
    "CREATE INDEX IF NOT EXISTS audit_by_model ON audit(model, seq);"
    "CREATE TABLE IF NOT EXISTS signatures("
    " artifact_hash TEXT NOT NULL,"
    " public_key TEXT NOT NULL,"
    " signature TEXT NOT NULL,"
    " created_at TEXT NOT NULL,"
    " PRIMARY KEY (artifact_hash, public_key));"
    "CREATE TABLE IF NOT EXISTS trusted_keys("
    " public_key TEXT PRIMARY KEY NOT NULL,"
    " name TEXT,"
    " added_at TEXT NOT NULL);";

/* Version 4: delayed ground truth (monitor/labels.c). A label is identified
 * by (kind, key, ktime), ktime being the label's time for entity labels and 0
 * for request labels; WITHOUT ROWID keeps the rows in that order, which is
 * the order the monitor loads them in. */
static const char schema_v4_sql[] =
    "CREATE TABLE IF NOT EXISTS labels("
    " kind TEXT NOT NULL CHECK (kind IN ('request', 'entity')),"
    " key TEXT NOT NULL,"
    " ktime INTEGER NOT NULL,"
    " time_us INTEGER NOT NULL,"
    " value TEXT NOT NULL,"
    " added_at TEXT NOT NULL,"
    " source TEXT NOT NULL,"
    " PRIMARY KEY (kind, key, ktime)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS labels_by_added ON labels(added_at);";

static const char *const schema_steps[] = {schema_v1_sql, schema_v2_sql, schema_v3_sql,
                                           schema_v4_sql};
_Static_assert(sizeof schema_steps / sizeof *schema_steps == CAIRN_HOME_SCHEMA_VERSION,
               "one schema step per schema version");

cairn_status cairn_home_sql_error(sqlite3 *db, int rc, const char *where, const char *what,
                                  cairn_error *err)
{
    const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    cairn_status code;
    switch (rc & 0xff) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_FORMAT:
    case SQLITE_SCHEMA:
        code = CAIRN_ECORRUPT;
        break;
    case SQLITE_NOMEM:
        code = CAIRN_ENOMEM;
        break;
    default:
        /* BUSY/LOCKED (after the busy timeout), IOERR, FULL, READONLY, CANTOPEN... */
        code = CAIRN_EIO;
        break;
    }
    /* SQLite's words for an I/O failure ("disk I/O error", "unable to open database
     * file") do not say why; the system's error does (a full disk, permissions). */
    int sys = db && (code == CAIRN_EIO) ? sqlite3_system_errno(db) : 0;
    if (sys)
        return cairn_error_set(err, code, where, "%s: %s (%s)", what, msg, strerror(sys));
    return cairn_error_set(err, code, where, "%s: %s", what, msg);
}

cairn_status cairn_home_exec(cairn_home *h, const char *sql, const char *what, cairn_error *err)
{
    int rc = sqlite3_exec(h->db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return cairn_home_sql_error(h->db, rc, h->db_path, what, err);
    return CAIRN_OK;
}

void cairn_home_crash_point(const char *step)
{
    const char *at = getenv("CAIRN_TEST_CRASH_AT");
    if (at && strcmp(at, step) == 0)
        _exit(CAIRN_HOME_CRASH_EXIT);
}

const char *cairn_home_resolve(const char *explicit_dir)
{
    if (explicit_dir && *explicit_dir)
        return explicit_dir;
    const char *env = getenv("CAIRN_HOME");
    if (env && *env)
        return env;
    return "./.cairn";
}

char *cairn_home_contract_path(const cairn_home *h, const char *name)
{
    cairn_buf b;
    cairn_buf_init(&b);
    cairn_buf_printf(&b, "%s/contracts/%s.yaml", h->dir, name);
    return cairn_buf_take(&b);
}

char *cairn_home_object_path(const cairn_home *h, const char *hex, const char *ext)
{
    cairn_buf b;
    cairn_buf_init(&b);
    cairn_buf_printf(&b, "%s/%s", h->objects_dir, hex);
    if (ext && *ext) {
        if (ext[0] != '.')
            cairn_buf_putc(&b, '.');
        cairn_buf_puts(&b, ext);
    }
    return cairn_buf_take(&b);
}

/* True when path is a regular file holding exactly bytes[0..len). */
static bool object_matches(const char *path, const char *bytes, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool same = false;
    struct stat sb;
    char *chunk = NULL;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || (uint64_t)sb.st_size != (uint64_t)len)
        goto done;
    const size_t chunk_cap = 1u << 20;
    chunk = cairn_malloc(chunk_cap);
    if (!chunk)
        goto done;
    for (size_t pos = 0; pos < len;) {
        size_t want = len - pos < chunk_cap ? len - pos : chunk_cap;
        ssize_t r = read(fd, chunk, want);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0 || memcmp(chunk, bytes + pos, (size_t)r) != 0)
            goto done;
        pos += (size_t)r;
    }
    same = true;
done:
    cairn_free(chunk);
    close(fd);
    return same;
}

cairn_status cairn_home_object_put(cairn_home *h, const char *hex, const char *ext,
                                   const void *bytes, size_t len, cairn_error *err)
{
    char *path = cairn_home_object_path(h, hex, ext);
    cairn_status st = CAIRN_OK;
    if (!path)
        return cairn_error_set(err, CAIRN_ENOMEM, hex, "out of memory");
    /* An identical file already there (another name, or a crashed earlier
     * write) is reused; a damaged one is replaced. */
    if (!object_matches(path, bytes, len)) {
        if ((st = cairn_mkdirs(h->objects_dir, err)) == CAIRN_OK)
            st = cairn_write_file_atomic(path, bytes, len, err);
    }
    cairn_free(path);
    return st;
}

cairn_status cairn_home_object_get(cairn_home *h, const char *hex, const char *ext, char **out,
                                   size_t *out_len, cairn_error *err)
{
    char *path = cairn_home_object_path(h, hex, ext);
    char *bytes = NULL;
    size_t len = 0;
    cairn_status st;
    *out = NULL;
    *out_len = 0;
    if (!path)
        return cairn_error_set(err, CAIRN_ENOMEM, hex, "out of memory");
    if (access(path, F_OK) != 0) {
        st = cairn_error_set(err, CAIRN_ECORRUPT, path, "object %s%s is missing from the home",
                             hex, ext ? ext : "");
        goto done;
    }
    if ((st = cairn_read_file(path, &bytes, &len, err)) != CAIRN_OK)
        goto done;
    unsigned char hash[CAIRN_HASH_BYTES];
    char got[CAIRN_HASH_HEX];
    cairn_hasher hs;
    cairn_hasher_init(&hs);
    cairn_hasher_update(&hs, bytes, len);
    cairn_hasher_final(&hs, hash);
    cairn_hash_hex(hash, got);
    if (strcmp(got, hex) != 0) {
        st = cairn_error_set(err, CAIRN_ECORRUPT, path,
                             "object content does not match its name (hash %.16s...): the file "
                             "was damaged or replaced", got);
        goto done;
    }
    *out = bytes;
    *out_len = len;
    bytes = NULL;
done:
    cairn_free(bytes);
    cairn_free(path);
    return st;
}

bool cairn_name_valid(const char *name)
{
    if (!name)
        return false;
    size_t n = strlen(name);
    if (n < 1 || n > CAIRN_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '_' && c != '.' && c != '-')))
            return false;
    }
    return true;
}

cairn_status cairn_ref_parse(const char *ref, char *name, size_t name_cap, int *version,
                             cairn_error *err)
{
    static const char usage[] = "expected NAME or NAME@N (N >= 1)";
    *version = 0;
    if (name_cap)
        name[0] = '\0';
    if (!ref)
        return cairn_error_set(err, CAIRN_EINVAL, NULL, "missing reference: %s", usage);
    const char *at = strchr(ref, '@');
    size_t n = at ? (size_t)(at - ref) : strlen(ref);
    if (n == 0 || n > CAIRN_NAME_MAX || n >= name_cap)
        return cairn_error_set(err, CAIRN_EINVAL, ref, "invalid reference '%s': %s", ref, usage);
    memcpy(name, ref, n);
    name[n] = '\0';
    if (!cairn_name_valid(name)) {
        name[0] = '\0';
        return cairn_error_set(err, CAIRN_EINVAL, ref,
                               "invalid name '%s': use 1-%d letters, digits, '_', '.' or '-', "
                               "starting with a letter or digit", ref, CAIRN_NAME_MAX);
    }
    if (!at)
        return CAIRN_OK;
    /* Digits only (no sign, no spaces), no leading zero, at least 1, fits an int. */
    const char *d = at + 1;
    long v = 0;
    bool ok = *d >= '1' && *d <= '9';
    for (; ok && *d; d++) {
        if (*d < '0' || *d > '9' || v > (CAIRN_VERSION_MAX - (*d - '0')) / 10)
            ok = false;
        else
            v = v * 10 + (*d - '0');
    }
    if (!ok) {
        name[0] = '\0';
        return cairn_error_set(err, CAIRN_EINVAL, ref, "invalid version in '%s': %s", ref, usage);
    }
    *version = (int)v;
    return CAIRN_OK;
}

/* Removes objects/.tmp-* files older than the age limit; errors are ignored. */
static void remove_stale_tmp(const char *objects_dir)
{
    DIR *d = opendir(objects_dir);
    if (!d)
        return;
    time_t now = time(NULL);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, ".tmp-", 5) != 0)
            continue;
        struct stat st;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (now - st.st_mtime > CAIRN_HOME_TMP_MAX_AGE_S)
            unlinkat(dirfd(d), e->d_name, 0);
    }
    closedir(d);
}

/* Reads the one-row result of a pragma (for journal_mode). */
static int pragma_text(sqlite3 *db, const char *sql, char *out, size_t cap)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
            const unsigned char *t = sqlite3_column_text(s, 0);
            snprintf(out, cap, "%s", t ? (const char *)t : "");
            rc = SQLITE_OK;
        } else if (rc == SQLITE_DONE) {
            out[0] = '\0';
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(s);
    return rc;
}

/* Per-connection settings: busy timeout, WAL, synchronous=FULL. */
static cairn_status db_configure(cairn_home *h, cairn_error *err)
{
    char mode[32];
    sqlite3_busy_timeout(h->db, CAIRN_HOME_BUSY_TIMEOUT_MS);
    int rc = pragma_text(h->db, "PRAGMA journal_mode=WAL", mode, sizeof mode);
    if (rc != SQLITE_OK)
        return cairn_home_sql_error(h->db, rc, h->db_path, "cannot open the registry", err);
    if (strcmp(mode, "wal") != 0)
        return cairn_error_set(err, CAIRN_EIO, h->db_path,
                               "the registry cannot use WAL journaling (journal mode is '%s'); "
                               "is the home on a network file system?", mode);
    return cairn_home_exec(h, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;",
                           "cannot configure the registry", err);
}

/*
 * Reads meta.schema_version: *present is false when the row is missing.
 * A database without a meta table is not a registry (CAIRN_ECORRUPT).
 */
static cairn_status read_version(cairn_home *h, bool *present, long *v, cairn_error *err)
{
    sqlite3_stmt *s = NULL;
    cairn_status st = CAIRN_OK;
    *present = false;
    *v = 0;
    int rc = sqlite3_prepare_v2(h->db, "SELECT value FROM meta WHERE key = 'schema_version'", -1,
                                &s, NULL);
    if (rc != SQLITE_OK) {
        if ((rc & 0xff) == SQLITE_ERROR) /* no meta table: some other SQLite file */
            st = cairn_error_set(err, CAIRN_ECORRUPT, h->db_path,
                                 "not a cairn registry (no meta table)");
        else
            st = cairn_home_sql_error(h->db, rc, h->db_path, "cannot read the registry", err);
        goto done;
    }
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *present = true;
        *v = (long)sqlite3_column_int64(s, 0);
    } else if (rc != SQLITE_DONE) {
        st = cairn_home_sql_error(h->db, rc, h->db_path, "cannot read the registry", err);
    }
done:
    sqlite3_finalize(s);
    return st;
}

/* Applies schema steps from..CAIRN_HOME_SCHEMA_VERSION-1 and records the new
 * version, inside the caller's write transaction. */
static cairn_status apply_steps(cairn_home *h, long from, const char *what, cairn_error *err)
{
    char sql[128];
    cairn_status st = CAIRN_OK;
    for (long i = from; i < CAIRN_HOME_SCHEMA_VERSION && st == CAIRN_OK; i++)
        st = cairn_home_exec(h, schema_steps[i], what, err);
    if (st != CAIRN_OK)
        return st;
    snprintf(sql, sizeof sql,
             "INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', '%d')",
             CAIRN_HOME_SCHEMA_VERSION);
    return cairn_home_exec(h, sql, what, err);
}

/*
 * Brings a home of an older schema version up to this build's, in one
 * IMMEDIATE transaction: a crash leaves the old version whole, and of two
 * processes opening the same old home at once, the second waits for the
 * first's write lock (busy timeout), then reads the version again, finds it
 * current and changes nothing. CAIRN_TEST_CRASH_AT=upgrade-before-commit
 * exits inside the transaction (crash tests).
 */
static cairn_status upgrade_schema(cairn_home *h, cairn_error *err)
{
    static const char what[] = "cannot upgrade the registry schema";
    bool present;
    long v;
    cairn_status st = cairn_home_exec(h, "BEGIN IMMEDIATE", what, err);
    if (st != CAIRN_OK)
        return st;
    if ((st = read_version(h, &present, &v, err)) != CAIRN_OK)
        goto done;
    if (present && v >= 1 && v < CAIRN_HOME_SCHEMA_VERSION &&
        (st = apply_steps(h, v, what, err)) != CAIRN_OK)
        goto done;
    cairn_home_crash_point("upgrade-before-commit");
    st = cairn_home_exec(h, "COMMIT", what, err);
done:
    if (st != CAIRN_OK && !sqlite3_get_autocommit(h->db))
        sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
    return st;
}

/*
 * Checks meta.schema_version against what this build understands; an older
 * supported version (1..CAIRN_HOME_SCHEMA_VERSION-1) is upgraded first.
 */
static cairn_status check_schema(cairn_home *h, cairn_error *err)
{
    bool present;
    long v;
    cairn_status st = read_version(h, &present, &v, err);
    if (st == CAIRN_OK && present && v >= 1 && v < CAIRN_HOME_SCHEMA_VERSION) {
        if ((st = upgrade_schema(h, err)) == CAIRN_OK)
            st = read_version(h, &present, &v, err);
    }
    if (st != CAIRN_OK)
        return st;
    if (!present)
        return cairn_error_set(err, CAIRN_ECORRUPT, h->db_path,
                               "not a cairn registry (no schema_version)");
    if (v != CAIRN_HOME_SCHEMA_VERSION)
        return cairn_error_set(err, CAIRN_ECORRUPT, h->db_path,
                               v > CAIRN_HOME_SCHEMA_VERSION
                                   ? "registry schema version %ld is newer than this cairn "
                                     "supports (%d); upgrade cairn"
                                   : "registry schema version %ld is not supported (this cairn "
                                     "uses %d)",
                               v, CAIRN_HOME_SCHEMA_VERSION);
    return CAIRN_OK;
}

/* Allocates a handle for dir with its derived paths (no database yet). */
static cairn_status home_alloc(const char *dir, cairn_home **out, cairn_error *err)
{
    cairn_home *h = cairn_calloc(1, sizeof *h);
    cairn_buf b;
    *out = NULL;
    if (!h)
        return cairn_error_set(err, CAIRN_ENOMEM, dir, "out of memory");
    h->dir = cairn_strdup(dir);
    cairn_buf_init(&b);
    cairn_buf_printf(&b, "%s/objects", dir);
    h->objects_dir = cairn_buf_take(&b);
    cairn_buf_printf(&b, "%s/logs", dir);
    h->logs_dir = cairn_buf_take(&b);
    cairn_buf_printf(&b, "%s/cairn.db", dir);
    h->db_path = cairn_buf_take(&b);
    if (!h->dir || !h->objects_dir || !h->logs_dir || !h->db_path) {
        cairn_home_close(h);
        return cairn_error_set(err, CAIRN_ENOMEM, dir, "out of memory");
    }
    *out = h;
    return CAIRN_OK;
}

/* Opens h->db_path; create=true makes the file when missing. */
static cairn_status db_open(cairn_home *h, bool create, cairn_error *err)
{
    int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);
    int rc = sqlite3_open_v2(h->db_path, &h->db, flags, NULL);
    if (rc != SQLITE_OK) {
        cairn_status st = cairn_home_sql_error(h->db, rc, h->db_path,
                                               "cannot open the registry database", err);
        sqlite3_close_v2(h->db);
        h->db = NULL;
        return st;
    }
    sqlite3_extended_result_codes(h->db, 1);
    return CAIRN_OK;
}

CAIRN_API cairn_status cairn_home_init(const char *dir, cairn_error *err)
{
    static const char what[] = "cannot create the registry schema";
    cairn_home *h = NULL;
    char *sql = NULL;
    char now[32];
    bool in_tx = false, present;
    long v;
    dir = cairn_home_resolve(dir);
    cairn_status st = cairn_mkdirs(dir, err);
    if (st != CAIRN_OK)
        goto done;
    st = home_alloc(dir, &h, err);
    if (st != CAIRN_OK)
        goto done;
    if ((st = cairn_mkdirs(h->objects_dir, err)) != CAIRN_OK ||
        (st = cairn_mkdirs(h->logs_dir, err)) != CAIRN_OK)
        goto done;
    if ((st = db_open(h, true, err)) != CAIRN_OK || (st = db_configure(h, err)) != CAIRN_OK)
        goto done;

    /* Schema and meta rows in one transaction: a new home gets every step at
     * once; a second init (or a racing one) finds the version row and leaves
     * the upgrade of an older home, or the refusal of a newer one, to
     * check_schema below. */
    cairn_now_iso(now, sizeof now);
    sql = sqlite3_mprintf("INSERT OR IGNORE INTO meta(key, value) VALUES ('created_at', %Q);",
                          now);
    if (!sql) {
        st = cairn_error_set(err, CAIRN_ENOMEM, dir, "out of memory");
        goto done;
    }
    if ((st = cairn_home_exec(h, "BEGIN IMMEDIATE", "cannot create the registry", err)) != CAIRN_OK)
        goto done;
    in_tx = true;
    if ((st = cairn_home_exec(h, schema_v1_sql, what, err)) != CAIRN_OK ||
        (st = read_version(h, &present, &v, err)) != CAIRN_OK)
        goto done;
    if (!present && ((st = apply_steps(h, 1, what, err)) != CAIRN_OK ||
                     (st = cairn_home_exec(h, sql, "cannot create the registry", err)) != CAIRN_OK))
        goto done;
    if ((st = cairn_home_exec(h, "COMMIT", "cannot create the registry", err)) != CAIRN_OK)
        goto done;
    in_tx = false;
    st = check_schema(h, err);
    if (st == CAIRN_OK)
        st = cairn_fsync_dir(dir, err);
done:
    if (in_tx)
        sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_free(sql);
    cairn_home_close(h);
    return st;
}

CAIRN_API cairn_status cairn_home_open(const char *dir, cairn_home **out, cairn_error *err)
{
    cairn_home *h = NULL;
    struct stat sb;
    *out = NULL;
    dir = cairn_home_resolve(dir);
    cairn_status st = home_alloc(dir, &h, err);
    if (st != CAIRN_OK)
        goto done;
    /* Say "no home here" rather than letting SQLite create an empty file. */
    if (stat(h->db_path, &sb) != 0) {
        int e = errno;
        if (e == ENOENT || e == ENOTDIR)
            st = cairn_error_set(err, CAIRN_ENOTFOUND, dir,
                                 "no cairn home here (no cairn.db); run `cairn init`");
        else
            st = cairn_error_errno(err, e, h->db_path, "cannot open the registry");
        goto done;
    }
    if (!S_ISREG(sb.st_mode)) {
        st = cairn_error_set(err, CAIRN_ECORRUPT, h->db_path, "the registry is not a regular file");
        goto done;
    }
    if ((st = db_open(h, false, err)) != CAIRN_OK || (st = db_configure(h, err)) != CAIRN_OK ||
        (st = check_schema(h, err)) != CAIRN_OK)
        goto done;
    remove_stale_tmp(h->objects_dir);
    *out = h;
    h = NULL;
done:
    cairn_home_close(h);
    return st;
}

CAIRN_API void cairn_home_close(cairn_home *h)
{
    if (!h)
        return;
    /* close_v2: should a statement still be open (a bug), the handle becomes a
     * zombie that SQLite frees when it is finalised, instead of failing. */
    if (h->db)
        sqlite3_close_v2(h->db);
    cairn_free(h->dir);
    cairn_free(h->objects_dir);
    cairn_free(h->logs_dir);
    cairn_free(h->db_path);
    cairn_free(h);
}
