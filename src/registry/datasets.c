/*
 * datasets.c -- dataset versions: adding a file (read, statistics, snapshot,
 * object, row), storing an already-read frame, and looking versions up,
 * listing and loading them.
 *
 * The order of a store is what makes it crash-safe: the snapshot object is
 * made durable (temporary file, fsync, rename, directory fsync) before the
 * row that names it is inserted, and the row goes in with one IMMEDIATE
 * transaction that also picks the version number. A crash before COMMIT
 * leaves at most an unreferenced object, which a later identical add reuses;
 * a crash after it leaves a complete version. Version numbers are max+1
 * inside the write lock, so concurrent adds never collide or leave gaps.
 * Reading the input file is the reader's job (data/reader.h), statistics are
 * stats.c's, the byte format is snapshot.c's.
 */
#include "registry/registry.h"

#include "contract/contract.h"
#include "data/reader.h"
#include "data/snapshot.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Seed of the statistics' sketches: fixed, so equal inputs give equal stats. */
#define STATS_SEED 0x5eedu

/* The columns every info query selects, in info_from_row's order. */
#define INFO_COLS "name, version, hash, source, source_bytes, n_rows, n_cols, created_at"

static void copy_text(char *dst, size_t cap, sqlite3_stmt *s, int col)
{
    const unsigned char *t = sqlite3_column_text(s, col);
    snprintf(dst, cap, "%s", t ? (const char *)t : "");
}

static void info_from_row(sqlite3_stmt *s, cairn_dataset_info *info)
{
    memset(info, 0, sizeof *info);
    copy_text(info->name, sizeof info->name, s, 0);
    info->version = sqlite3_column_int(s, 1);
    copy_text(info->hash, sizeof info->hash, s, 2);
    copy_text(info->source, sizeof info->source, s, 3);
    sqlite3_int64 sb = sqlite3_column_int64(s, 4);
    info->source_bytes = sb > 0 ? (uint64_t)sb : 0;
    sqlite3_int64 nr = sqlite3_column_int64(s, 5);
    info->n_rows = nr > 0 ? (uint64_t)nr : 0;
    info->n_cols = (uint32_t)sqlite3_column_int64(s, 6);
    copy_text(info->created_at, sizeof info->created_at, s, 7);
}

/*
 * Runs a query that selects INFO_COLS for at most one row. *found tells
 * whether there was one (then info is filled). Text parameters are bound in
 * order; an int parameter follows when version > 0.
 */
static cairn_status query_one(cairn_home *h, const char *sql, const char *p1, const char *p2,
                              int version, bool *found, cairn_dataset_info *info,
                              cairn_error *err)
{
    sqlite3_stmt *s = NULL;
    cairn_status st = CAIRN_OK;
    int idx = 1;
    *found = false;
    int rc = sqlite3_prepare_v2(h->db, sql, -1, &s, NULL);
    if (rc != SQLITE_OK)
        goto sql_fail;
    if (p1)
        sqlite3_bind_text(s, idx++, p1, -1, SQLITE_STATIC);
    if (p2)
        sqlite3_bind_text(s, idx++, p2, -1, SQLITE_STATIC);
    if (version > 0)
        sqlite3_bind_int(s, idx++, version);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        info_from_row(s, info);
        *found = true;
    } else if (rc != SQLITE_DONE) {
        goto sql_fail;
    }
    goto done;
sql_fail:
    st = cairn_home_sql_error(h->db, rc, h->db_path, "cannot read dataset versions", err);
done:
    sqlite3_finalize(s);
    return st;
}

/* Finds NAME@version (version <= 0: the newest). CAIRN_ENOTFOUND when absent. */
static cairn_status find_version(cairn_home *h, const char *name, int version,
                                 cairn_dataset_info *info, cairn_error *err)
{
    bool found;
    cairn_status st;
    if (version > 0)
        st = query_one(h, "SELECT " INFO_COLS " FROM datasets WHERE name = ?1 AND version = ?2",
                       name, NULL, version, &found, info, err);
    else
        st = query_one(h,
                       "SELECT " INFO_COLS
                       " FROM datasets WHERE name = ?1 ORDER BY version DESC LIMIT 1",
                       name, NULL, 0, &found, info, err);
    if (st != CAIRN_OK || found)
        return st;
    if (version > 0) {
        char ref[CAIRN_NAME_MAX + 16];
        snprintf(ref, sizeof ref, "%s@%d", name, version);
        return cairn_error_set(err, CAIRN_ENOTFOUND, ref, "no dataset version %s", ref);
    }
    return cairn_error_set(err, CAIRN_ENOTFOUND, name, "no dataset named %s", name);
}

/* The newest version of name whose snapshot has this hash, if any. */
static cairn_status find_by_hash(cairn_home *h, const char *name, const char *hex, bool *found,
                                 cairn_dataset_info *info, cairn_error *err)
{
    return query_one(h,
                     "SELECT " INFO_COLS " FROM datasets WHERE name = ?1 AND hash = ?2"
                     " ORDER BY version DESC LIMIT 1",
                     name, hex, 0, found, info, err);
}

CAIRN_API cairn_status cairn_dataset_get(cairn_home *home, const char *ref,
                                         cairn_dataset_info *info, cairn_error *err)
{
    char name[CAIRN_NAME_MAX + 1];
    int version;
    cairn_dataset_info tmp;
    cairn_status st = cairn_ref_parse(ref, name, sizeof name, &version, err);
    if (st != CAIRN_OK)
        return st;
    st = find_version(home, name, version, &tmp, err);
    if (st == CAIRN_OK && info)
        *info = tmp;
    return st;
}

cairn_status cairn_dataset_list(cairn_home *h, cairn_dataset_info **out, size_t *n,
                                cairn_error *err)
{
    sqlite3_stmt *s = NULL;
    cairn_dataset_info *items = NULL;
    size_t count = 0, cap = 0;
    cairn_status st = CAIRN_OK;
    *out = NULL;
    *n = 0;
    int rc = sqlite3_prepare_v2(h->db,
                                "SELECT " INFO_COLS " FROM datasets ORDER BY name, version", -1,
                                &s, NULL);
    if (rc != SQLITE_OK)
        goto sql_fail;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (count == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            cairn_dataset_info *p = cairn_reallocarray(items, ncap, sizeof *items);
            if (!p) {
                st = cairn_error_set(err, CAIRN_ENOMEM, h->db_path, "out of memory listing datasets");
                goto done;
            }
            items = p;
            cap = ncap;
        }
        info_from_row(s, &items[count++]);
    }
    if (rc != SQLITE_DONE)
        goto sql_fail;
    *out = items;
    *n = count;
    items = NULL;
    goto done;
sql_fail:
    st = cairn_home_sql_error(h->db, rc, h->db_path, "cannot list datasets", err);
done:
    sqlite3_finalize(s);
    cairn_free(items);
    return st;
}

cairn_status cairn_dataset_meta(cairn_home *h, const char *name, int version, char **columns_json,
                                char **stats_json, cairn_error *err)
{
    cairn_dataset_info info;
    sqlite3_stmt *s = NULL;
    char *cols = NULL, *stats = NULL;
    *columns_json = NULL;
    *stats_json = NULL;
    /* Resolve "newest" first so the query below always names one row. */
    cairn_status st = find_version(h, name, version, &info, err);
    if (st != CAIRN_OK)
        return st;
    int rc = sqlite3_prepare_v2(h->db,
                                "SELECT columns_json, stats_json FROM datasets"
                                " WHERE name = ?1 AND version = ?2",
                                -1, &s, NULL);
    if (rc != SQLITE_OK)
        goto sql_fail;
    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 2, info.version);
    rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
        st = cairn_error_set(err, CAIRN_ENOTFOUND, name, "dataset %s@%d disappeared", name,
                             info.version);
        goto done;
    }
    if (rc != SQLITE_ROW)
        goto sql_fail;
    const unsigned char *c = sqlite3_column_text(s, 0), *t = sqlite3_column_text(s, 1);
    cols = cairn_strdup(c ? (const char *)c : "[]");
    stats = cairn_strdup(t ? (const char *)t : "[]");
    if (!cols || !stats) {
        st = cairn_error_set(err, CAIRN_ENOMEM, name, "out of memory");
        goto done;
    }
    *columns_json = cols;
    *stats_json = stats;
    cols = stats = NULL;
    goto done;
sql_fail:
    st = cairn_home_sql_error(h->db, rc, h->db_path, "cannot read dataset metadata", err);
done:
    sqlite3_finalize(s);
    cairn_free(cols);
    cairn_free(stats);
    return st;
}

cairn_status cairn_dataset_load(cairn_home *h, const char *ref, cairn_frame **out,
                                cairn_dataset_info *info, cairn_error *err)
{
    char name[CAIRN_NAME_MAX + 1];
    char full_ref[sizeof ((cairn_dataset_info *)0)->name + 16];
    int version;
    cairn_dataset_info di;
    cairn_frame *f = NULL;
    char *path = NULL;
    *out = NULL;
    cairn_status st = cairn_ref_parse(ref, name, sizeof name, &version, err);
    if (st != CAIRN_OK)
        goto done;
    st = find_version(h, name, version, &di, err);
    if (st != CAIRN_OK)
        goto done;
    snprintf(full_ref, sizeof full_ref, "%s@%d", di.name, di.version);
    path = cairn_home_object_path(h, di.hash, ".snap");
    if (!path) {
        st = cairn_error_set(err, CAIRN_ENOMEM, full_ref, "out of memory");
        goto done;
    }
    st = cairn_snapshot_load(path, di.hash, &f, err);
    if (st != CAIRN_OK) {
        /* A row without its object is a damaged home, not a missing dataset. */
        if (st == CAIRN_ENOTFOUND)
            st = cairn_error_set(err, CAIRN_ECORRUPT, path,
                                 "dataset %s: its snapshot object is missing", full_ref);
        else if (err && st == CAIRN_ECORRUPT) {
            char msg[CAIRN_ERROR_MSG_MAX];
            snprintf(msg, sizeof msg, "%s", err->msg);
            cairn_error_set(err, st, path, "dataset %s: %s", full_ref, msg);
        }
        goto done;
    }
    if (f->n_rows != di.n_rows || f->n_cols != di.n_cols) {
        st = cairn_error_set(err, CAIRN_ECORRUPT, path,
                             "dataset %s: snapshot holds %zu rows x %zu columns, the registry "
                             "says %llu x %u", full_ref, f->n_rows, f->n_cols,
                             (unsigned long long)di.n_rows, di.n_cols);
        goto done;
    }
    *out = f;
    f = NULL;
    if (info)
        *info = di;
done:
    cairn_frame_free(f);
    cairn_free(path);
    return st;
}

/* [{"name":..,"type":..},...] */
static char *columns_json_of(const cairn_frame *f)
{
    cairn_buf b;
    cairn_buf_init(&b);
    cairn_buf_putc(&b, '[');
    for (size_t i = 0; i < f->n_cols; i++) {
        const char *nm = f->cols[i].name ? f->cols[i].name : "";
        cairn_buf_puts(&b, i ? ",{\"name\":" : "{\"name\":");
        cairn_buf_put_json_string(&b, nm, strlen(nm));
        cairn_buf_printf(&b, ",\"type\":\"%s\"}", cairn_type_name(f->cols[i].type));
    }
    cairn_buf_putc(&b, ']');
    return cairn_buf_take(&b);
}

static char *stats_json_of(const cairn_colstats *stats, size_t n_cols)
{
    cairn_buf b;
    cairn_buf_init(&b);
    cairn_buf_putc(&b, '[');
    for (size_t i = 0; stats && i < n_cols; i++) {
        if (i)
            cairn_buf_putc(&b, ',');
        cairn_colstats_to_json(&stats[i], &b);
    }
    cairn_buf_putc(&b, ']');
    return cairn_buf_take(&b);
}

/* Inserts the row for a new version inside the caller's transaction. */
static cairn_status insert_version(cairn_home *h, const cairn_dataset_info *info,
                                   const char *columns_json, const char *stats_json,
                                   const char *source, cairn_error *err)
{
    sqlite3_stmt *s = NULL;
    cairn_status st = CAIRN_OK;
    int rc = sqlite3_prepare_v2(h->db,
                                "INSERT INTO datasets(name, version, hash, source, source_bytes,"
                                " n_rows, n_cols, columns_json, stats_json, created_at)"
                                " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                                -1, &s, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(s, 1, info->name, -1, SQLITE_STATIC);
        sqlite3_bind_int(s, 2, info->version);
        sqlite3_bind_text(s, 3, info->hash, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 4, source, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 5, info->source_bytes > INT64_MAX ? INT64_MAX
                                                                : (sqlite3_int64)info->source_bytes);
        sqlite3_bind_int64(s, 6, (sqlite3_int64)info->n_rows);
        sqlite3_bind_int64(s, 7, (sqlite3_int64)info->n_cols);
        sqlite3_bind_text(s, 8, columns_json, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 9, stats_json, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 10, info->created_at, -1, SQLITE_STATIC);
        rc = sqlite3_step(s);
        if (rc == SQLITE_DONE)
            rc = SQLITE_OK;
    }
    if (rc != SQLITE_OK)
        st = cairn_home_sql_error(h->db, rc, h->db_path, "cannot record the dataset version", err);
    sqlite3_finalize(s);
    return st;
}

/* The next version number of name (max + 1), read inside the write transaction. */
static cairn_status next_version(cairn_home *h, const char *name, int *out, cairn_error *err)
{
    sqlite3_stmt *s = NULL;
    cairn_status st = CAIRN_OK;
    int rc = sqlite3_prepare_v2(h->db, "SELECT COALESCE(MAX(version), 0) FROM datasets WHERE name = ?1",
                                -1, &s, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
        rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
            sqlite3_int64 max = sqlite3_column_int64(s, 0);
            if (max >= CAIRN_VERSION_MAX)
                st = cairn_error_set(err, CAIRN_ETOOBIG, name, "dataset %s has too many versions",
                                     name);
            else
                *out = (int)max + 1;
            rc = SQLITE_OK;
        }
    }
    if (rc != SQLITE_OK)
        st = cairn_home_sql_error(h->db, rc, h->db_path, "cannot read dataset versions", err);
    sqlite3_finalize(s);
    return st;
}

/* Optional progress reporting of cairn_read_opts; NULL callback: silent. */
typedef struct progress {
    void (*fn)(void *ctx, const char *stage, double fraction);
    void *ctx;
} progress;

static void report(const progress *p, const char *stage, double fraction)
{
    if (p && p->fn)
        p->fn(p->ctx, stage, fraction);
}

/*
 * Column statistics, possibly still being computed on another thread: they
 * do not depend on the snapshot, so `data add` computes them while the
 * snapshot is encoded and written (the write and fsync leave the cores idle)
 * and waits for them only when the row is recorded.
 */
typedef struct stats_job {
    const cairn_frame *f;
    cairn_colstats *stats;    /* the result (owned by the job's creator) */
    cairn_status st;
    cairn_error err;
    pthread_t thread;
    bool running;
} stats_job;

static void *stats_thread(void *arg)
{
    stats_job *job = arg;
    job->st = cairn_frame_stats(job->f, STATS_SEED, &job->stats, &job->err);
    return NULL;
}

/* Waits for the job (when it runs on a thread) and passes on its error. */
static cairn_status stats_wait(stats_job *job, cairn_error *err)
{
    if (job->running) {
        pthread_join(job->thread, NULL);
        job->running = false;
    }
    if (job->st != CAIRN_OK && err)
        *err = job->err;
    return job->st;
}

static cairn_status store(cairn_home *h, const cairn_frame *f, stats_job *job,
                          const char *name, const char *source, uint64_t source_bytes,
                          const progress *prog, cairn_dataset_info *info, cairn_error *err)
{
    cairn_status st;
    char *bytes = NULL, *path = NULL, *columns_json = NULL, *stats_json = NULL;
    size_t len = 0;
    unsigned char hash[CAIRN_HASH_BYTES];
    cairn_dataset_info di;
    bool found = false, in_tx = false;

    if (!cairn_name_valid(name)) {
        st = cairn_error_set(err, CAIRN_EINVAL, name ? name : "",
                             "invalid dataset name '%s': use 1-%d letters, digits, '_', '.' or "
                             "'-', starting with a letter or digit",
                             name ? name : "", CAIRN_NAME_MAX);
        goto done;
    }
    if (!source)
        source = "";
    report(prog, "snapshot", 0.0);
    st = cairn_snapshot_encode(f, &bytes, &len, hash, err);
    if (st != CAIRN_OK)
        goto done;
    memset(&di, 0, sizeof di);
    cairn_hash_hex(hash, di.hash);

    /* Fast path: the same content under the same name is that version. */
    st = find_by_hash(h, name, di.hash, &found, &di, err);
    if (st != CAIRN_OK)
        goto done;
    if (found)
        goto existed;

    columns_json = columns_json_of(f);
    path = cairn_home_object_path(h, di.hash, ".snap");
    if (!columns_json || !path) {
        st = cairn_error_set(err, CAIRN_ENOMEM, name, "out of memory storing dataset %s", name);
        goto done;
    }

    /* 1. The object, durably; an identical file already there (another name,
     * or a crashed earlier add) is reused, a damaged one replaced. */
    if ((st = cairn_home_object_put(h, di.hash, ".snap", bytes, len, err)) != CAIRN_OK)
        goto done;
    cairn_free(bytes);
    bytes = NULL;
    report(prog, "snapshot", 1.0);
    cairn_home_crash_point("object-written");
    report(prog, "stats", 0.0);
    if ((st = stats_wait(job, err)) != CAIRN_OK)
        goto done;
    report(prog, "stats", 1.0);
    stats_json = stats_json_of(job->stats, f->n_cols);
    if (!stats_json) {
        st = cairn_error_set(err, CAIRN_ENOMEM, name, "out of memory storing dataset %s", name);
        goto done;
    }
    report(prog, "record", 0.0);

    /* 2. The row, in one write transaction that also picks the number. */
    st = cairn_home_exec(h, "BEGIN IMMEDIATE", "cannot start recording the dataset", err);
    if (st != CAIRN_OK)
        goto done;
    in_tx = true;
    /* Another process may have added the same content meanwhile. */
    st = find_by_hash(h, name, di.hash, &found, &di, err);
    if (st != CAIRN_OK)
        goto done;
    if (found) {
        st = cairn_home_exec(h, "COMMIT", "cannot finish recording the dataset", err);
        in_tx = false;
        if (st != CAIRN_OK)
            goto done;
        goto existed;
    }
    snprintf(di.name, sizeof di.name, "%s", name);
    snprintf(di.source, sizeof di.source, "%s", source);
    di.source_bytes = source_bytes;
    di.n_rows = f->n_rows;
    di.n_cols = (uint32_t)f->n_cols;
    cairn_now_iso(di.created_at, sizeof di.created_at);
    if ((st = next_version(h, name, &di.version, err)) != CAIRN_OK ||
        (st = insert_version(h, &di, columns_json, stats_json, source, err)) != CAIRN_OK)
        goto done;
    cairn_home_crash_point("before-commit");
    st = cairn_home_exec(h, "COMMIT", "cannot commit the dataset version", err);
    if (st != CAIRN_OK)
        goto done;
    in_tx = false;
    report(prog, "record", 1.0);
    di.existed = 0;
    if (info)
        *info = di;
    goto done;

existed:
    di.existed = 1;
    if (info)
        *info = di;
done:
    if (in_tx)
        sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
    cairn_free(bytes);
    cairn_free(path);
    cairn_free(columns_json);
    cairn_free(stats_json);
    return st;
}

cairn_status cairn_dataset_store(cairn_home *h, const cairn_frame *f, const cairn_colstats *stats,
                                 const char *name, const char *source, uint64_t source_bytes,
                                 cairn_dataset_info *info, cairn_error *err)
{
    stats_job job = {.f = f, .stats = (cairn_colstats *)stats, .st = CAIRN_OK};
    return store(h, f, &job, name, source, source_bytes, NULL, info, err);
}

CAIRN_API cairn_status cairn_dataset_add(cairn_home *home, const char *path, const char *name,
                                         const cairn_read_opts *opts, cairn_dataset_info *info,
                                         cairn_error *err)
{
    cairn_reader_cfg cfg;
    cairn_contract *contract = NULL;
    const char **names = NULL;
    cairn_type *types = NULL;
    cairn_type_overrides overrides = {0};
    cairn_frame *f = NULL;
    stats_job job = {.st = CAIRN_OK};
    struct stat sb;
    cairn_status st = CAIRN_OK;
    progress prog = {opts ? opts->progress : NULL, opts ? opts->progress_ctx : NULL};

    /* Refuse a bad name before reading a possibly large file. */
    if (!cairn_name_valid(name)) {
        st = cairn_error_set(err, CAIRN_EINVAL, name ? name : "",
                             "invalid dataset name '%s': use 1-%d letters, digits, '_', '.' or "
                             "'-', starting with a letter or digit",
                             name ? name : "", CAIRN_NAME_MAX);
        goto done;
    }
    cairn_reader_cfg_from_opts(&cfg, opts);
    if (opts && opts->contract_path) {
        /* The contract's column types are forced on the reader. */
        st = cairn_contract_load(opts->contract_path, &contract, err);
        if (st != CAIRN_OK)
            goto done;
        names = cairn_calloc(contract->n_cols ? contract->n_cols : 1, sizeof *names);
        types = cairn_calloc(contract->n_cols ? contract->n_cols : 1, sizeof *types);
        if (!names || !types) {
            st = cairn_error_set(err, CAIRN_ENOMEM, opts->contract_path, "out of memory");
            goto done;
        }
        for (size_t i = 0; i < contract->n_cols; i++) {
            names[i] = contract->cols[i].name;
            types[i] = contract->cols[i].type;
        }
        overrides.names = names;
        overrides.types = types;
        overrides.n = contract->n_cols;
        cfg.overrides = &overrides;
    }
    report(&prog, "read", 0.0);
    st = cairn_read_path(path, opts ? opts->format : CAIRN_FORMAT_AUTO, &cfg, &f, err);
    if (st != CAIRN_OK)
        goto done;
    if (stat(path, &sb) != 0) {
        st = cairn_error_errno(err, errno, path, "cannot stat the input file");
        goto done;
    }
    report(&prog, "read", 1.0);
    job.f = f;
    if (pthread_create(&job.thread, NULL, stats_thread, &job) == 0) {
        job.running = true;
    } else { /* no thread to be had: compute them here */
        stats_thread(&job);
    }
    st = store(home, f, &job, name, path, (uint64_t)sb.st_size, &prog, info, err);
done:
    if (job.running) /* store failed before waiting: the thread still reads f */
        stats_wait(&job, NULL);
    if (job.stats)
        cairn_frame_stats_free(job.stats, f->n_cols);
    cairn_frame_free(f);
    cairn_free(names);
    cairn_free(types);
    cairn_contract_free(contract);
    return st;
}
