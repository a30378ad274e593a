/*
 * test_registry.c -- the home and its dataset versions (src/registry/).
 *
 * Each test works in a fresh directory under $CAIRN_TEST_TMP (or /tmp).
 * Independent checks: object files are hashed here with libsodium, the
 * database is inspected with plain SQL, columns_json is parsed with cJSON.
 * Crash safety is tested for real: child processes die at the two crash
 * hooks (CAIRN_TEST_CRASH_AT, exit status 70) and by SIGKILL at spread-out
 * moments during a large store; the parent then checks that the home opens,
 * passes PRAGMA integrity_check, holds only complete versions numbered
 * without gaps, and accepts the next store.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "registry/registry.h"

/* ---- helpers ------------------------------------------------------------ */

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Five columns, one per type, nulls on (row + col) % 7 == 0; seed varies the values. */
static cairn_frame *make_frame(size_t n_rows, uint64_t seed)
{
    static const cairn_type types[] = {CAIRN_TYPE_BOOL, CAIRN_TYPE_INT64, CAIRN_TYPE_FLOAT64,
                                       CAIRN_TYPE_TIMESTAMP, CAIRN_TYPE_STRING};
    static const char *const names[] = {"flag", "n", "x", "t", "city"};
    static const char *const cities[] = {"Zürich", "Lyon", "", "東京", "Oslo"};
    cairn_frame *f = NULL;
    assert_int_equal(cairn_frame_new(5, &f, NULL), CAIRN_OK);
    f->n_rows = n_rows;
    for (size_t k = 0; k < 5; k++) {
        cairn_column *c = &f->cols[k];
        assert_int_equal(cairn_column_alloc(c, names[k], types[k], n_rows, NULL), CAIRN_OK);
        for (size_t i = 0; i < n_rows; i++) {
            if ((i + k) % 7 == 0)
                continue;
            uint64_t x = splitmix(&seed);
            c->valid[i] = 1;
            switch (types[k]) {
            case CAIRN_TYPE_BOOL: c->v.b[i] = x & 1; break;
            case CAIRN_TYPE_INT64: c->v.i64[i] = (int64_t)(x % 100000); break;
            case CAIRN_TYPE_FLOAT64: c->v.f64[i] = (double)(x >> 11) / 9007199254740992.0; break;
            case CAIRN_TYPE_TIMESTAMP: c->v.i64[i] = 1600000000000000ll + (int64_t)(x % 1000000); break;
            default: {
                const char *s = cities[x % 5];
                uint32_t code;
                assert_int_equal(cairn_dict_intern(&c->dict, s, strlen(s), &code), CAIRN_OK);
                c->v.codes[i] = code;
            }
            }
        }
    }
    return f;
}

static void assert_frames_equal(const cairn_frame *a, const cairn_frame *b)
{
    assert_int_equal(a->n_rows, b->n_rows);
    assert_int_equal(a->n_cols, b->n_cols);
    for (size_t k = 0; k < a->n_cols; k++) {
        const cairn_column *x = &a->cols[k], *y = &b->cols[k];
        assert_string_equal(x->name, y->name);
        assert_int_equal(x->type, y->type);
        assert_memory_equal(x->valid, y->valid, a->n_rows);
        for (size_t i = 0; i < a->n_rows; i++) {
            if (x->type == CAIRN_TYPE_STRING) {
                /* Compare the strings, not the codes. */
                assert_int_equal(cairn_dict_len(&x->dict, x->v.codes[i]),
                                 cairn_dict_len(&y->dict, y->v.codes[i]));
                assert_memory_equal(cairn_dict_str(&x->dict, x->v.codes[i]),
                                    cairn_dict_str(&y->dict, y->v.codes[i]),
                                    cairn_dict_len(&x->dict, x->v.codes[i]));
            }
        }
        if (x->type != CAIRN_TYPE_STRING && a->n_rows)
            assert_memory_equal(x->v.raw, y->v.raw, a->n_rows * cairn_type_size(x->type));
    }
}

#define HOME_FIXTURE_PREFIX "registry"
#include "test_home_fixture.h"

static bool file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* Number of objects/<hex>.snap files, and of objects/.tmp-* files. */
static void count_objects(const cairn_home *h, int *snaps, int *tmps)
{
    DIR *d = opendir(h->objects_dir);
    assert_non_null(d);
    struct dirent *e;
    *snaps = *tmps = 0;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n == 64 + 5 && strcmp(e->d_name + 64, ".snap") == 0)
            (*snaps)++;
        else if (strncmp(e->d_name, ".tmp-", 5) == 0)
            (*tmps)++;
    }
    closedir(d);
}

/* BLAKE2b-256 hex of a file, computed here with libsodium. */
static void file_blake2b_hex(const char *path, char out[65])
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, 32);
    unsigned char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, fp)) > 0)
        crypto_generichash_update(&st, buf, n);
    fclose(fp);
    unsigned char h[32];
    crypto_generichash_final(&st, h, 32);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", h[i]);
}

static void integrity_ok(cairn_home *h)
{
    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_prepare_v2(h->db, "PRAGMA integrity_check", -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(s, 0), "ok");
    sqlite3_finalize(s);
}

/*
 * Checks the versions of name: numbered 1..n without gaps, each loadable
 * (so its object is complete: the load verifies the hash). Returns n.
 */
static int check_versions(cairn_home *h, const char *name)
{
    cairn_dataset_info *list = NULL;
    size_t n = 0;
    int count = 0;
    assert_int_equal(cairn_dataset_list(h, &list, &n, NULL), CAIRN_OK);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(list[i].name, name) != 0)
            continue;
        assert_int_equal(list[i].version, ++count);
        char ref[160];
        snprintf(ref, sizeof ref, "%s@%d", name, list[i].version);
        cairn_frame *f = NULL;
        cairn_error err = {0};
        if (cairn_dataset_load(h, ref, &f, NULL, &err) != CAIRN_OK)
            fail_msg("%s does not load: %s (%s)", ref, err.msg, err.where);
        assert_int_equal(f->n_rows, list[i].n_rows);
        cairn_frame_free(f);
    }
    cairn_free(list);
    return count;
}

/* ---- home --------------------------------------------------------------- */

static void test_init_and_open(void **state)
{
    fixture *fx = *state;
    cairn_home *h = NULL;
    cairn_error err = {0};
    char path[800];

    /* No home yet. */
    assert_int_equal(cairn_home_open(fx->home, &h, &err), CAIRN_ENOTFOUND);
    assert_null(h);
    assert_string_equal(err.where, fx->home);
    assert_false(file_exists(fx->home)); /* open does not create anything */

    assert_int_equal(cairn_home_init(fx->home, &err), CAIRN_OK);
    assert_int_equal(cairn_home_init(fx->home, &err), CAIRN_OK); /* idempotent */
    snprintf(path, sizeof path, "%s/objects", fx->home);
    assert_true(file_exists(path));
    snprintf(path, sizeof path, "%s/logs", fx->home);
    assert_true(file_exists(path));

    assert_int_equal(cairn_home_open(fx->home, &h, &err), CAIRN_OK);
    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_prepare_v2(h->db, "PRAGMA journal_mode", -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(s, 0), "wal");
    sqlite3_finalize(s);
    assert_int_equal(sqlite3_prepare_v2(h->db, "PRAGMA synchronous", -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(s, 0), 2); /* FULL */
    sqlite3_finalize(s);
    assert_int_equal(sqlite3_prepare_v2(h->db,
                                        "SELECT COUNT(*) FROM meta WHERE key IN "
                                        "('schema_version', 'created_at')",
                                        -1, &s, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(s, 0), 2);
    sqlite3_finalize(s);
    integrity_ok(h);

    /* A newer schema is refused with a clear message. */
    char sql[128];
    snprintf(sql, sizeof sql, "UPDATE meta SET value = '%d' WHERE key = 'schema_version'",
             CAIRN_HOME_SCHEMA_VERSION + 1);
    assert_int_equal(sqlite3_exec(h->db, sql, NULL, NULL, NULL), SQLITE_OK);
    cairn_home_close(h);
    h = NULL;
    assert_int_equal(cairn_home_open(fx->home, &h, &err), CAIRN_ECORRUPT);
    assert_null(h);
    assert_non_null(strstr(err.msg, "newer"));

    /* A directory whose cairn.db is not a database. */
    char other[700];
    snprintf(other, sizeof other, "%s/other", fx->dir);
    assert_int_equal(mkdir(other, 0755), 0);
    snprintf(path, sizeof path, "%s/cairn.db", other);
    FILE *fp = fopen(path, "wb");
    for (int i = 0; i < 200; i++)
        fputs("not a database ", fp);
    fclose(fp);
    assert_int_equal(cairn_home_open(other, &h, &err), CAIRN_ECORRUPT);
    assert_null(h);
    assert_int_equal(cairn_home_init(other, &err), CAIRN_ECORRUPT);

    /* A directory without cairn.db. */
    snprintf(other, sizeof other, "%s/empty", fx->dir);
    assert_int_equal(mkdir(other, 0755), 0);
    assert_int_equal(cairn_home_open(other, &h, &err), CAIRN_ENOTFOUND);
    cairn_home_close(NULL);
}

static void test_resolve(void **state)
{
    (void)state;
    char *saved = getenv("CAIRN_HOME") ? strdup(getenv("CAIRN_HOME")) : NULL;
    setenv("CAIRN_HOME", "/env/home", 1);
    assert_string_equal(cairn_home_resolve("/explicit"), "/explicit");
    assert_string_equal(cairn_home_resolve(NULL), "/env/home");
    assert_string_equal(cairn_home_resolve(""), "/env/home");
    unsetenv("CAIRN_HOME");
    assert_string_equal(cairn_home_resolve(NULL), "./.cairn");
    setenv("CAIRN_HOME", "", 1);
    assert_string_equal(cairn_home_resolve(NULL), "./.cairn");
    if (saved)
        setenv("CAIRN_HOME", saved, 1);
    else
        unsetenv("CAIRN_HOME");
    free(saved);
}

static void test_names_and_refs(void **state)
{
    (void)state;
    char name[128];
    int v = -1;
    cairn_error err = {0};

    assert_true(cairn_name_valid("telco"));
    assert_true(cairn_name_valid("a"));
    assert_true(cairn_name_valid("9lives"));
    assert_true(cairn_name_valid("churn_v2.clean-1"));
    char longest[101];
    memset(longest, 'x', 100);
    longest[100] = '\0';
    assert_true(cairn_name_valid(longest));
    char too_long[102];
    memset(too_long, 'x', 101);
    too_long[101] = '\0';
    assert_false(cairn_name_valid(too_long));
    assert_false(cairn_name_valid(""));
    assert_false(cairn_name_valid(NULL));
    assert_false(cairn_name_valid("_x"));
    assert_false(cairn_name_valid(".x"));
    assert_false(cairn_name_valid("-x"));
    assert_false(cairn_name_valid("a b"));
    assert_false(cairn_name_valid("a/b"));
    assert_false(cairn_name_valid("a@1"));
    assert_false(cairn_name_valid("é"));

    assert_int_equal(cairn_ref_parse("telco", name, sizeof name, &v, &err), CAIRN_OK);
    assert_string_equal(name, "telco");
    assert_int_equal(v, 0);
    assert_int_equal(cairn_ref_parse("telco@12", name, sizeof name, &v, &err), CAIRN_OK);
    assert_string_equal(name, "telco");
    assert_int_equal(v, 12);
    assert_int_equal(cairn_ref_parse("a@2147483647", name, sizeof name, &v, &err), CAIRN_OK);
    assert_int_equal(v, 2147483647);

    static const char *const bad[] = {"a@0", "a@", "@1", "a@x", "a@1x", "a@-1", "a@+1", "a@ 1",
                                      "a@01", "a@1@2", "", "a b@1", "a@2147483648",
                                      "a@99999999999999999999", "_a@1"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        v = -1;
        memset(&err, 0, sizeof err);
        if (cairn_ref_parse(bad[i], name, sizeof name, &v, &err) != CAIRN_EINVAL)
            fail_msg("'%s' accepted", bad[i]);
        assert_int_equal(err.code, CAIRN_EINVAL);
        assert_int_equal(v, 0);
    }
    /* Name buffer too small is an error, not a truncation. */
    assert_int_equal(cairn_ref_parse("abcdef@1", name, 4, &v, &err), CAIRN_EINVAL);
}

/* ---- storing and reading versions -------------------------------------- */

static void test_store_versions(void **state)
{
    fixture *fx = *state;
    cairn_home *h = NULL;
    cairn_error err = {0};
    cairn_dataset_info a1, again, a2, b1, got;
    cairn_frame *f1 = make_frame(300, 1), *f2 = make_frame(300, 2), *g = NULL;
    int snaps, tmps;

    assert_int_equal(cairn_home_init(fx->home, &err), CAIRN_OK);
    assert_int_equal(cairn_home_open(fx->home, &h, &err), CAIRN_OK);

    assert_int_equal(cairn_dataset_store(h, f1, NULL, "a", "src/a.csv", 1234, &a1, &err), CAIRN_OK);
    assert_string_equal(a1.name, "a");
    assert_int_equal(a1.version, 1);
    assert_int_equal(a1.existed, 0);
    assert_int_equal(a1.n_rows, 300);
    assert_int_equal(a1.n_cols, 5);
    assert_int_equal(a1.source_bytes, 1234);
    assert_string_equal(a1.source, "src/a.csv");
    assert_int_equal(strlen(a1.created_at), 20); /* 2024-03-01T12:30:45Z */
    assert_int_equal(a1.created_at[10], 'T');

    /* The object is named by the BLAKE2b of its bytes (computed here). */
    char *path = cairn_home_object_path(h, a1.hash, ".snap");
    char hex[65];
    file_blake2b_hex(path, hex);
    assert_string_equal(hex, a1.hash);
    char *path2 = cairn_home_object_path(h, a1.hash, "snap");
    assert_string_equal(path, path2);
    cairn_free(path2);

    /* Same content again: the same version, no new row. */
    cairn_frame *f1b = make_frame(300, 1);
    assert_int_equal(cairn_dataset_store(h, f1b, NULL, "a", "elsewhere.csv", 99, &again, &err),
                     CAIRN_OK);
    assert_int_equal(again.version, 1);
    assert_int_equal(again.existed, 1);
    assert_string_equal(again.hash, a1.hash);
    assert_string_equal(again.source, "src/a.csv"); /* the recorded version, unchanged */
    cairn_frame_free(f1b);

    assert_int_equal(cairn_dataset_store(h, f2, NULL, "a", "a2.csv", 5, &a2, &err), CAIRN_OK);
    assert_int_equal(a2.version, 2);
    assert_int_equal(a2.existed, 0);
    assert_string_not_equal(a2.hash, a1.hash);

    /* Another name, same content: its own @1, sharing the object. */
    assert_int_equal(cairn_dataset_store(h, f1, NULL, "b", "b.csv", 7, &b1, &err), CAIRN_OK);
    assert_int_equal(b1.version, 1);
    assert_int_equal(b1.existed, 0);
    assert_string_equal(b1.hash, a1.hash);
    count_objects(h, &snaps, &tmps);
    assert_int_equal(snaps, 2);
    assert_int_equal(tmps, 0);

    /* Going back to the first content under "a" finds a@1 again. */
    assert_int_equal(cairn_dataset_store(h, f1, NULL, "a", "x.csv", 1, &again, &err), CAIRN_OK);
    assert_int_equal(again.version, 1);
    assert_int_equal(again.existed, 1);

    /* Listing: by name, then version. */
    cairn_dataset_info *list = NULL;
    size_t n = 0;
    assert_int_equal(cairn_dataset_list(h, &list, &n, &err), CAIRN_OK);
    assert_int_equal(n, 3);
    assert_string_equal(list[0].name, "a");
    assert_int_equal(list[0].version, 1);
    assert_string_equal(list[1].name, "a");
    assert_int_equal(list[1].version, 2);
    assert_string_equal(list[2].name, "b");
    assert_string_equal(list[2].hash, a1.hash);
    cairn_free(list);

    /* Lookups. */
    assert_int_equal(cairn_dataset_get(h, "a", &got, &err), CAIRN_OK);
    assert_int_equal(got.version, 2);
    assert_int_equal(cairn_dataset_get(h, "a@1", &got, &err), CAIRN_OK);
    assert_string_equal(got.hash, a1.hash);
    assert_string_equal(got.created_at, a1.created_at);
    assert_int_equal(got.existed, 0);
    assert_int_equal(cairn_dataset_get(h, "a@3", &got, &err), CAIRN_ENOTFOUND);
    assert_string_equal(err.where, "a@3");
    assert_int_equal(cairn_dataset_get(h, "zz", &got, &err), CAIRN_ENOTFOUND);
    assert_int_equal(cairn_dataset_get(h, "a@x", &got, &err), CAIRN_EINVAL);
    assert_int_equal(cairn_dataset_get(h, "a@0", NULL, &err), CAIRN_EINVAL);

    /* Loading gives back equal frames. */
    assert_int_equal(cairn_dataset_load(h, "a@1", &g, &got, &err), CAIRN_OK);
    assert_frames_equal(f1, g);
    assert_int_equal(got.version, 1);
    cairn_frame_free(g);
    assert_int_equal(cairn_dataset_load(h, "a", &g, NULL, &err), CAIRN_OK);
    assert_frames_equal(f2, g);
    cairn_frame_free(g);
    assert_int_equal(cairn_dataset_load(h, "nope@1", &g, NULL, &err), CAIRN_ENOTFOUND);
    assert_null(g);

    /* Metadata: columns_json matches the frame; no stats given -> "[]". */
    char *cols = NULL, *stats = NULL;
    assert_int_equal(cairn_dataset_meta(h, "a", 1, &cols, &stats, &err), CAIRN_OK);
    cJSON *cj = cJSON_Parse(cols);
    assert_non_null(cj);
    assert_int_equal(cJSON_GetArraySize(cj), 5);
    for (int i = 0; i < 5; i++) {
        cJSON *c = cJSON_GetArrayItem(cj, i);
        assert_string_equal(cJSON_GetObjectItem(c, "name")->valuestring, f1->cols[i].name);
        assert_string_equal(cJSON_GetObjectItem(c, "type")->valuestring,
                            cairn_type_name(f1->cols[i].type));
    }
    cJSON_Delete(cj);
    assert_string_equal(stats, "[]");
    cairn_free(cols);
    cairn_free(stats);
    assert_int_equal(cairn_dataset_meta(h, "a", 0, &cols, &stats, &err), CAIRN_OK); /* newest */
    cairn_free(cols);
    cairn_free(stats);
    assert_int_equal(cairn_dataset_meta(h, "a", 9, &cols, &stats, &err), CAIRN_ENOTFOUND);
    assert_null(cols);

    /* Invalid names are refused before anything is written. */
    assert_int_equal(cairn_dataset_store(h, f1, NULL, "bad name", "x", 0, NULL, &err), CAIRN_EINVAL);
    assert_int_equal(cairn_dataset_store(h, f1, NULL, "a@2", "x", 0, NULL, &err), CAIRN_EINVAL);

    /* A string with a NUL byte cannot be stored: bad input, nothing recorded. */
    cairn_frame *f3 = make_frame(20, 3);
    uint32_t code;
    assert_int_equal(cairn_dict_intern(&f3->cols[4].dict, "nul\0inside", 10, &code), CAIRN_OK);
    f3->cols[4].v.codes[1] = code; /* row 1 of column 4 is valid */
    assert_int_equal(cairn_dataset_store(h, f3, NULL, "c", "c.csv", 0, NULL, &err), CAIRN_EINPUT);
    assert_int_equal(cairn_dataset_get(h, "c", NULL, &err), CAIRN_ENOTFOUND);
    cairn_frame_free(f3);

    cairn_free(path);
    cairn_frame_free(f1);
    cairn_frame_free(f2);
    cairn_home_close(h);
}

static void test_tampered_object(void **state)
{
    fixture *fx = *state;
    cairn_home *h = NULL;
    cairn_error err = {0};
    cairn_dataset_info info;
    cairn_frame *f = make_frame(200, 5), *g = NULL;

    assert_int_equal(cairn_home_init(fx->home, &err), CAIRN_OK);
    assert_int_equal(cairn_home_open(fx->home, &h, &err), CAIRN_OK);
    assert_int_equal(cairn_dataset_store(h, f, NULL, "t", "t.csv", 1, &info, &err), CAIRN_OK);
    char *path = cairn_home_object_path(h, info.hash, ".snap");

    /* Flip one byte in the middle of the object. */
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    struct stat sb;
    assert_int_equal(fstat(fd, &sb), 0);
    unsigned char byte;
    assert_int_equal(pread(fd, &byte, 1, sb.st_size / 2), 1);
    byte ^= 0x01;
    assert_int_equal(pwrite(fd, &byte, 1, sb.st_size / 2), 1);
    close(fd);
    assert_int_equal(cairn_dataset_load(h, "t@1", &g, NULL, &err), CAIRN_ECORRUPT);
    assert_null(g);
    assert_non_null(strstr(err.msg, "t@1"));
    assert_string_equal(err.where, path);

    /* Storing the same content again repairs the object (it no longer matches). */
    assert_int_equal(cairn_dataset_store(h, f, NULL, "t2", "t.csv", 1, &info, &err), CAIRN_OK);
    assert_int_equal(cairn_dataset_load(h, "t@1", &g, NULL, &err), CAIRN_OK);
    assert_frames_equal(f, g);
    cairn_frame_free(g);
    g = NULL;

    /* A missing object is a damaged home. */
    assert_int_equal(unlink(path), 0);
    assert_int_equal(cairn_dataset_load(h, "t@1", &g, NULL, &err), CAIRN_ECORRUPT);
    assert_non_null(strstr(err.msg, "missing"));

    cairn_free(path);
    cairn_frame_free(f);
    cairn_home_close(h);
}

static void test_stale_tmp_cleanup(void **state)
{
    fixture *fx = *state;
    cairn_home *h = NULL;
    char old_tmp[700], new_tmp[700];
    assert_int_equal(cairn_home_init(fx->home, NULL), CAIRN_OK);
    snprintf(old_tmp, sizeof old_tmp, "%s/objects/.tmp-old123", fx->home);
    snprintf(new_tmp, sizeof new_tmp, "%s/objects/.tmp-new456", fx->home);
    fclose(fopen(old_tmp, "wb"));
    fclose(fopen(new_tmp, "wb"));
    struct timespec ts[2];
    ts[0].tv_sec = ts[1].tv_sec = time(NULL) - CAIRN_HOME_TMP_MAX_AGE_S - 60;
    ts[0].tv_nsec = ts[1].tv_nsec = 0;
    assert_int_equal(utimensat(AT_FDCWD, old_tmp, ts, 0), 0);
    assert_int_equal(cairn_home_open(fx->home, &h, NULL), CAIRN_OK);
    assert_false(file_exists(old_tmp));
    assert_true(file_exists(new_tmp)); /* may belong to a running writer */
    cairn_home_close(h);
}

/* Failing the Nth allocation of a store ends in success or ENOMEM and records nothing half-way. */
static void test_store_allocation_failures(void **state)
{
    fixture *fx = *state;
    cairn_home *h = NULL;
    cairn_dataset_info info;
    cairn_frame *f = make_frame(50, 8);
    int snaps, tmps;
    assert_int_equal(cairn_home_init(fx->home, NULL), CAIRN_OK);
    assert_int_equal(cairn_home_open(fx->home, &h, NULL), CAIRN_OK);
    bool ok = false;
    for (long n = 1; n < 2000 && !ok; n++) {
        cairn_alloc_fail_after(n, true);
        cairn_status st = cairn_dataset_store(h, f, NULL, "m", "m.csv", 1, &info, NULL);
        cairn_alloc_fail_after(0, false);
        assert_true(st == CAIRN_OK || st == CAIRN_ENOMEM);
        if (st == CAIRN_OK) {
            assert_int_equal(info.version, 1);
            assert_int_equal(info.existed, 0);
            ok = true;
        } else {
            assert_int_equal(cairn_dataset_get(h, "m", NULL, NULL), CAIRN_ENOTFOUND);
        }
    }
    assert_true(ok);
    count_objects(h, &snaps, &tmps);
    assert_int_equal(snaps, 1);
    assert_int_equal(tmps, 0);
    integrity_ok(h);
    cairn_home_close(h);
    cairn_frame_free(f);
}

/* ---- crash safety ----------------------------------------------------- */

/* In a child: open the home and store f as name; exits 0 on success, 1 on error. */
static void child_store(const char *home, const cairn_frame *f, const char *name,
                        const char *crash_at)
{
    cairn_home *h = NULL;
    if (crash_at)
        setenv("CAIRN_TEST_CRASH_AT", crash_at, 1);
    if (cairn_home_open(home, &h, NULL) != CAIRN_OK)
        _exit(1);
    cairn_status st = cairn_dataset_store(h, f, NULL, name, "child.csv", 1, NULL, NULL);
    cairn_home_close(h);
    _exit(st == CAIRN_OK ? 0 : 1);
}

static int wait_child(pid_t pid)
{
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    assert_true(WIFSIGNALED(status));
    return 128 + WTERMSIG(status);
}

static void test_crash_hooks(void **state)
{
    fixture *fx = *state;
    cairn_home *h = NULL;
    cairn_error err = {0};
    cairn_dataset_info info;
    static const char *const steps[] = {"object-written", "before-commit"};

    assert_int_equal(cairn_home_init(fx->home, &err), CAIRN_OK);
    assert_int_equal(cairn_home_open(fx->home, &h, &err), CAIRN_OK);
    cairn_frame *base = make_frame(100, 10);
    assert_int_equal(cairn_dataset_store(h, base, NULL, "d", "d.csv", 1, &info, &err), CAIRN_OK);
    cairn_home_close(h);
    h = NULL;

    for (size_t i = 0; i < 2; i++) {
        cairn_frame *f = make_frame(100, 20 + i);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
            child_store(fx->home, f, "d", steps[i]);
        assert_int_equal(wait_child(pid), CAIRN_HOME_CRASH_EXIT);

        assert_int_equal(cairn_home_open(fx->home, &h, &err), CAIRN_OK);
        integrity_ok(h);
        assert_int_equal(check_versions(h, "d"), (int)i + 1); /* nothing new */

        /* The crashed content stores as the next version, without a gap. */
        assert_int_equal(cairn_dataset_store(h, f, NULL, "d", "d.csv", 1, &info, &err), CAIRN_OK);
        assert_int_equal(info.version, (int)i + 2);
        assert_int_equal(info.existed, 0);
        assert_int_equal(check_versions(h, "d"), (int)i + 2);
        cairn_home_close(h);
        h = NULL;
        cairn_frame_free(f);
    }
    cairn_frame_free(base);
}

/*
 * Like check_versions, but verifies each object by hashing its file here
 * instead of decoding it. The SIGKILL test needs this: decoding a large
 * snapshot runs an OpenMP parallel region, and libgomp's thread pool does
 * not survive fork(): a child forked after the parent ran a parallel region
 * hangs in its own first one. So that parent must not decode large frames
 * until it has forked its last child.
 */
static int check_versions_by_hash(cairn_home *h, const char *name)
{
    cairn_dataset_info *list = NULL;
    size_t n = 0;
    int count = 0;
    assert_int_equal(cairn_dataset_list(h, &list, &n, NULL), CAIRN_OK);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(list[i].name, name) != 0)
            continue;
        assert_int_equal(list[i].version, ++count);
        char *path = cairn_home_object_path(h, list[i].hash, ".snap");
        char hex[65];
        file_blake2b_hex(path, hex);
        assert_string_equal(hex, list[i].hash);
        cairn_free(path);
    }
    cairn_free(list);
    return count;
}

/*
 * Several processes adding at once: the same content twice must give one
 * version, different contents distinct versions, numbered without gaps.
 */
static void test_concurrent_adds(void **state)
{
    fixture *fx = *state;
    cairn_home *h = NULL;
    enum { CHILDREN = 6 };
    /* Children 0-2 add frame A, 3 adds A too, 4 and 5 add B and C. */
    static const uint64_t seeds[CHILDREN] = {1, 1, 1, 1, 2, 3};
    cairn_frame *frames[CHILDREN];
    pid_t pids[CHILDREN];
    int gate[2];

    assert_int_equal(cairn_home_init(fx->home, NULL), CAIRN_OK);
    for (int i = 0; i < CHILDREN; i++)
        frames[i] = make_frame(2000, seeds[i]);
    assert_int_equal(pipe(gate), 0);
    for (int i = 0; i < CHILDREN; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            char c;
            close(gate[1]);
            /* Wait until the parent opens the gate, so the stores overlap. */
            if (read(gate[0], &c, 1) < 0)
                _exit(2);
            child_store(fx->home, frames[i], "c", NULL);
        }
    }
    close(gate[0]);
    close(gate[1]);     /* EOF releases every child at once */
    for (int i = 0; i < CHILDREN; i++)
        assert_int_equal(wait_child(pids[i]), 0);

    assert_int_equal(cairn_home_open(fx->home, &h, NULL), CAIRN_OK);
    integrity_ok(h);
    assert_int_equal(check_versions(h, "c"), 3);
    cairn_dataset_info *list = NULL;
    size_t n = 0;
    assert_int_equal(cairn_dataset_list(h, &list, &n, NULL), CAIRN_OK);
    assert_int_equal(n, 3);
    assert_string_not_equal(list[0].hash, list[1].hash);
    assert_string_not_equal(list[0].hash, list[2].hash);
    assert_string_not_equal(list[1].hash, list[2].hash);
    cairn_free(list);
    cairn_home_close(h);
    for (int i = 0; i < CHILDREN; i++)
        cairn_frame_free(frames[i]);
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void test_sigkill_during_store(void **state)
{
    fixture *fx = *state;
    cairn_home *h = NULL;
    cairn_error err = {0};
    cairn_dataset_info info;
    enum { ROWS = 120000, MAX_TRIES = 16, WANT_KILLS = 5 };

    assert_int_equal(cairn_home_init(fx->home, &err), CAIRN_OK);

    /* One undisturbed store, to learn how long a store takes here. */
    cairn_frame *f = make_frame(ROWS, 100);
    double t0 = now_s();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        child_store(fx->home, f, "big", NULL);
    assert_int_equal(wait_child(pid), 0);
    double dur = now_s() - t0;
    cairn_frame_free(f);

    /*
     * Kill stores after growing delays, starting early in the encode and
     * growing by 30% a try, until a store outlives its delay (so the kills
     * have swept every phase: encode, object write and fsyncs, transaction);
     * then sweep again until enough kills happened. Each store has new
     * content.
     */
    int have = 1, kills = 0, completed = 0;
    uint64_t seed = 77;
    double delay = 0.3 * dur;
    for (int k = 1; k <= MAX_TRIES && (kills < WANT_KILLS || completed == 0); k++, delay *= 1.3) {
        f = make_frame(ROWS, 100 + (uint64_t)k);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
            child_store(fx->home, f, "big", NULL);
        double d = delay * (0.9 + 0.2 * (double)(splitmix(&seed) % 1000) / 1000.0);
        struct timespec ts = {(time_t)d, (long)((d - (double)(time_t)d) * 1e9)};
        nanosleep(&ts, NULL);
        /* The last try, if none finished yet, is left to finish. */
        if (k < MAX_TRIES || completed > 0)
            kill(pid, SIGKILL);
        int code = wait_child(pid);
        assert_true(code == 0 || code == 128 + SIGKILL);
        cairn_frame_free(f);

        assert_int_equal(cairn_home_open(fx->home, &h, &err), CAIRN_OK);
        integrity_ok(h);
        int n = check_versions_by_hash(h, "big");
        int snaps, tmps;
        count_objects(h, &snaps, &tmps);
        if (getenv("CAIRN_TEST_VERBOSE"))
            print_message("try %d: killed after %.0f%% of %.3fs: exit %d; versions %d, objects "
                          "%d, temporary files %d\n", k, 100 * d / dur, dur, code, n, snaps, tmps);
        /* Either the whole version or none of it; a finished store has it. */
        if (code == 0) {
            assert_int_equal(n, have + 1);
            completed++;
            /* d was enough for a whole store: sweep again below it. */
            dur = d;
            delay = 0.3 * dur / 1.3;
        } else {
            assert_true(n == have || n == have + 1);
            kills++;
        }
        have = n;
        cairn_home_close(h);
        h = NULL;
    }
    assert_true(kills >= 1);
    assert_true(completed >= 1);

    /* The home still takes new versions, numbered right after the last. */
    f = make_frame(ROWS, 99);
    assert_int_equal(cairn_home_open(fx->home, &h, &err), CAIRN_OK);
    assert_int_equal(cairn_dataset_store(h, f, NULL, "big", "b.csv", 1, &info, &err), CAIRN_OK);
    assert_int_equal(info.version, have + 1);
    assert_int_equal(check_versions(h, "big"), have + 1);
    cairn_home_close(h);
    cairn_frame_free(f);
}

/* ---- cairn_dataset_add (reader + statistics + store) ------------------- */

typedef struct stages {
    char seen[8][16];
    int n;
} stages;

static void on_progress(void *ctx, const char *stage, double fraction)
{
    stages *s = ctx;
    assert_true(fraction >= 0.0 && fraction <= 1.0);
    if (s->n == 0 || strcmp(s->seen[s->n - 1], stage) != 0) {
        if (s->n < 8)
            snprintf(s->seen[s->n++], sizeof s->seen[0], "%s", stage);
    }
}

static void write_text(const char *path, const char *text)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static void test_dataset_add(void **state)
{
    fixture *fx = *state;
    cairn_home *h = NULL;
    cairn_error err = {0};
    cairn_dataset_info info;
    cairn_read_opts opts;
    char csv[700], missing[700];
    static const char text[] = "id,city,score\n1,Lyon,0.5\n2,Oslo,1.25\n3,,2\n";
    int snaps, tmps;

    snprintf(csv, sizeof csv, "%s/in.csv", fx->dir);
    snprintf(missing, sizeof missing, "%s/missing.csv", fx->dir);
    write_text(csv, text);
    assert_int_equal(cairn_home_init(fx->home, &err), CAIRN_OK);
    assert_int_equal(cairn_home_open(fx->home, &h, &err), CAIRN_OK);

    stages st = {0};
    cairn_read_opts_init(&opts);
    opts.progress = on_progress;
    opts.progress_ctx = &st;
    if (cairn_dataset_add(h, csv, "cities", &opts, &info, &err) != CAIRN_OK)
        fail_msg("add failed: %s (%s)", err.msg, err.where);
    assert_int_equal(info.version, 1);
    assert_int_equal(info.existed, 0);
    assert_int_equal(info.n_rows, 3);
    assert_int_equal(info.n_cols, 3);
    assert_int_equal(info.source_bytes, strlen(text));
    assert_string_equal(info.source, csv);
    assert_int_equal(st.n, 4);
    assert_string_equal(st.seen[0], "read");
    assert_string_equal(st.seen[1], "snapshot");
    assert_string_equal(st.seen[2], "stats");
    assert_string_equal(st.seen[3], "record");

    /* Statistics were stored: one object per column. */
    char *cols = NULL, *stats = NULL;
    assert_int_equal(cairn_dataset_meta(h, "cities", 1, &cols, &stats, &err), CAIRN_OK);
    cJSON *sj = cJSON_Parse(stats);
    assert_non_null(sj);
    assert_int_equal(cJSON_GetArraySize(sj), 3);
    assert_true(cJSON_IsObject(cJSON_GetArrayItem(sj, 0)));
    cJSON_Delete(sj);
    cairn_free(cols);
    cairn_free(stats);

    /* Same file again: same version. */
    assert_int_equal(cairn_dataset_add(h, csv, "cities", NULL, &info, &err), CAIRN_OK);
    assert_int_equal(info.version, 1);
    assert_int_equal(info.existed, 1);

    /* Changed file: next version. */
    write_text(csv, "id,city,score\n1,Lyon,0.5\n2,Oslo,1.25\n3,Rome,2\n");
    assert_int_equal(cairn_dataset_add(h, csv, "cities", NULL, &info, &err), CAIRN_OK);
    assert_int_equal(info.version, 2);
    assert_int_equal(info.existed, 0);
    cairn_frame *f = NULL;
    assert_int_equal(cairn_dataset_load(h, "cities@2", &f, NULL, &err), CAIRN_OK);
    assert_int_equal(f->n_rows, 3);
    long city = cairn_frame_find(f, "city");
    assert_true(city >= 0);
    assert_string_equal(cairn_dict_str(&f->cols[city].dict, f->cols[city].v.codes[2]), "Rome");
    cairn_frame_free(f);

    /* Failures record nothing and leave no temporary file. */
    assert_int_equal(cairn_dataset_add(h, missing, "gone", NULL, &info, &err), CAIRN_ENOTFOUND);
    assert_int_equal(cairn_dataset_add(h, csv, "bad name", NULL, &info, &err), CAIRN_EINVAL);
    assert_int_equal(cairn_dataset_get(h, "gone", NULL, &err), CAIRN_ENOTFOUND);
    count_objects(h, &snaps, &tmps);
    assert_int_equal(snaps, 2);
    assert_int_equal(tmps, 0);
    cairn_home_close(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_init_and_open, setup, teardown),
        cmocka_unit_test(test_resolve),
        cmocka_unit_test(test_names_and_refs),
        cmocka_unit_test_setup_teardown(test_store_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tampered_object, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_tmp_cleanup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_allocation_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_hooks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_adds, setup, teardown),
        /* Forks children that run OpenMP: keep it before any test that makes
         * this process run a parallel region (see check_versions_by_hash). */
        cmocka_unit_test_setup_teardown(test_sigkill_during_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dataset_add, setup, teardown),
    };
    /* The crash hook must not fire in this process. */
    unsetenv("CAIRN_TEST_CRASH_AT");
    return cmocka_run_group_tests(tests, NULL, NULL);
}
