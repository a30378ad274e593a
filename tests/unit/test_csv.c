/*
 * test_csv.c -- the CSV reader.
 *
 * Data-driven part: every tests/cases/csv/NAME.csv is parsed and dumped as
 * "ok ROWS COLS", a line of name:type pairs and one line per row (values
 * joined by '|', <null> for missing, newlines shown as \n), or as
 * "error STATUS LINE:COLUMN"; the dump must equal NAME.expect. An optional
 * first line "#options k=v ..." sets reader options (na, delimiter,
 * max_field, skip, force=col:type). Adding a case needs no C.
 *
 * Unit part: thread-count independence on inputs large enough to be split
 * into many chunks (with quoted newlines straddling chunk edges), gzip input,
 * missing files, and allocation failures.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "data/reader.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

static char *cases_dir(void)
{
    static char buf[4096];
    const char *src = getenv("CAIRN_SRC");
    snprintf(buf, sizeof buf, "%s/tests/cases/csv", src ? src : ".");
    return buf;
}

static void dump_frame(const cairn_frame *f, cairn_buf *out)
{
    cairn_buf_printf(out, "ok %zu %zu\n", f->n_rows, f->n_cols);
    for (size_t j = 0; j < f->n_cols; j++)
        cairn_buf_printf(out, "%s%s:%s", j ? " " : "", f->cols[j].name,
                         cairn_type_name(f->cols[j].type));
    cairn_buf_putc(out, '\n');
    cairn_buf v;
    cairn_buf_init(&v);
    for (size_t r = 0; r < f->n_rows; r++) {
        for (size_t j = 0; j < f->n_cols; j++) {
            if (j)
                cairn_buf_putc(out, '|');
            if (!f->cols[j].valid[r]) {
                cairn_buf_puts(out, "<null>");
                continue;
            }
            v.len = 0;
            cairn_column_value_text(&f->cols[j], r, &v);
            for (size_t k = 0; k < v.len; k++) {
                if (v.data[k] == '\n')
                    cairn_buf_puts(out, "\\n");
                else
                    cairn_buf_putc(out, v.data[k]);
            }
        }
        cairn_buf_putc(out, '\n');
    }
    cairn_buf_reset(&v);
}

/* Applies "#options ..." and returns the expected text after that line. */
static const char *apply_options(const char *expect, cairn_read_opts *o, char *force_name,
                                 cairn_type *force_type, char *na_store)
{
    if (strncmp(expect, "#options ", 9) != 0)
        return expect;
    const char *nl = strchr(expect, '\n');
    char line[512];
    snprintf(line, sizeof line, "%.*s", (int)(nl - expect - 9), expect + 9);
    int n_na = 0;
    for (char *tok = strtok(line, " "); tok; tok = strtok(NULL, " ")) {
        char *eq = strchr(tok, '=');
        assert_non_null(eq);
        *eq = '\0';
        const char *v = eq + 1;
        if (strcmp(tok, "na") == 0) {
            strcpy(na_store, v);
            o->na[n_na++] = na_store;
        } else if (strcmp(tok, "delimiter") == 0) {
            o->delimiter = v[0];
        } else if (strcmp(tok, "max_field") == 0) {
            o->max_field_bytes = (size_t)atol(v);
        } else if (strcmp(tok, "skip") == 0) {
            o->skip_initial_space = strcmp(v, "yes") == 0 ? 1 : strcmp(v, "no") == 0 ? 0 : -1;
        } else if (strcmp(tok, "header") == 0) {
            o->no_header = strcmp(v, "no") == 0;
        } else if (strcmp(tok, "latin1") == 0) {
            o->latin1 = strcmp(v, "yes") == 0;
        } else if (strcmp(tok, "force") == 0) {
            const char *colon = strchr(v, ':');
            snprintf(force_name, 128, "%.*s", (int)(colon - v), v);
            *force_type = cairn_type_parse(colon + 1);
        } else {
            fail_msg("unknown option %s", tok);
        }
    }
    return nl + 1;
}

static void run_case(const char *name)
{
    char path[4400], epath[4400];
    snprintf(path, sizeof path, "%s/%s.csv", cases_dir(), name);
    snprintf(epath, sizeof epath, "%s/%s.expect", cases_dir(), name);
    char *expect_raw = NULL;
    size_t elen;
    cairn_error err = {0};
    assert_int_equal(cairn_read_file(epath, &expect_raw, &elen, &err), CAIRN_OK);

    for (int threads = 1; threads <= 3; threads += 2) {
        cairn_read_opts o;
        cairn_read_opts_init(&o);
        o.n_threads = threads;
        char force_name[128] = "", na_store[64];
        cairn_type force_type = CAIRN_TYPE_NONE;
        const char *expect = apply_options(expect_raw, &o, force_name, &force_type, na_store);
        const char *names[1] = {force_name};
        cairn_type types[1] = {force_type};
        cairn_type_overrides ov = {names, types, 1};
        cairn_reader_cfg cfg;
        cairn_reader_cfg_from_opts(&cfg, &o);
        cfg.display_name = name;
        if (force_name[0])
            cfg.overrides = &ov;
        cairn_frame *f = NULL;
        cairn_error e = {0};
        cairn_buf got;
        cairn_buf_init(&got);
        cairn_status st = cairn_read_path(path, CAIRN_FORMAT_CSV, &cfg, &f, &e);
        if (st == CAIRN_OK) {
            dump_frame(f, &got);
        } else {
            /* where is NAME:LINE[:COLUMN] */
            const char *w = e.where + strlen(name);
            long line = 0, col = 0;
            if (*w == ':')
                sscanf(w + 1, "%ld:%ld", &line, &col);
            cairn_buf_printf(&got, "error %s %ld:%ld\n", cairn_status_name(st), line, col);
        }
        if (strcmp(got.data, expect) != 0)
            fail_msg("case %s (threads %d)\n--- expected\n%s--- got\n%s(%s at %s)", name, threads,
                     expect, got.data, e.msg, e.where);
        cairn_buf_reset(&got);
        cairn_frame_free(f);
    }
    cairn_free(expect_raw);
}

static void test_cases(void **state)
{
    (void)state;
    DIR *d = opendir(cases_dir());
    assert_non_null(d);
    struct dirent *ent;
    int n = 0;
    while ((ent = readdir(d))) {
        size_t len = strlen(ent->d_name);
        if (len > 4 && strcmp(ent->d_name + len - 4, ".csv") == 0) {
            char name[256];
            snprintf(name, sizeof name, "%.*s", (int)(len - 4), ent->d_name);
            run_case(name);
            n++;
        }
    }
    closedir(d);
    assert_true(n >= 30);
}

/* A CSV of n rows whose quoted fields contain delimiters, quotes and newlines. */
static char *make_big(size_t n_rows, size_t *len)
{
    cairn_buf b;
    cairn_buf_init(&b);
    cairn_buf_puts(&b, "id,text,x,cat\n");
    uint64_t s = 42;
    for (size_t i = 0; i < n_rows; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        unsigned r = (unsigned)(s >> 33);
        if (r % 7 == 0)
            cairn_buf_printf(&b, "%zu,\"line one, \"\"q\"\"\nline two\",%u.5,c%u\n", i, r % 1000,
                             r % 13);
        else if (r % 11 == 0)
            cairn_buf_printf(&b, "%zu,,NA,c%u\r\n", i, r % 13);
        else
            cairn_buf_printf(&b, "%zu,plain %u,%u,c%u\n", i, r % 97, r % 1000, r % 13);
    }
    *len = b.len;
    return cairn_buf_take(&b);
}

static bool frames_equal(const cairn_frame *a, const cairn_frame *b)
{
    if (a->n_rows != b->n_rows || a->n_cols != b->n_cols)
        return false;
    for (size_t j = 0; j < a->n_cols; j++) {
        const cairn_column *x = &a->cols[j], *y = &b->cols[j];
        if (x->type != y->type || strcmp(x->name, y->name) != 0)
            return false;
        if (memcmp(x->valid, y->valid, a->n_rows) != 0 ||
            memcmp(x->v.raw, y->v.raw, a->n_rows * cairn_type_size(x->type)) != 0)
            return false;
        if (x->type == CAIRN_TYPE_STRING) {
            if (x->dict.n != y->dict.n || x->dict.bytes_len != y->dict.bytes_len ||
                memcmp(x->dict.bytes, y->dict.bytes, x->dict.bytes_len) != 0)
                return false;
        }
    }
    return true;
}

static void test_threads_agree(void **state)
{
    (void)state;
    size_t len;
    char *data = make_big(120000, &len); /* ~4 MB: several chunks */
    assert_non_null(data);
    cairn_frame *ref = NULL;
    for (int t = 1; t <= 8; t++) {
        cairn_read_opts o;
        cairn_read_opts_init(&o);
        o.n_threads = t;
        cairn_reader_cfg cfg;
        cairn_reader_cfg_from_opts(&cfg, &o);
        cairn_frame *f = NULL;
        cairn_error e = {0};
        assert_int_equal(cairn_csv_parse(data, len, &cfg, &f, &e), CAIRN_OK);
        assert_int_equal(f->n_rows, 120000);
        assert_int_equal(f->cols[0].type, CAIRN_TYPE_INT64);
        assert_int_equal(f->cols[2].type, CAIRN_TYPE_FLOAT64);
        /* ids come back in order: no row lost or duplicated at chunk edges */
        for (size_t r = 0; r < f->n_rows; r++)
            assert_int_equal(f->cols[0].v.i64[r], (int64_t)r);
        if (!ref)
            ref = f;
        else {
            assert_true(frames_equal(ref, f));
            cairn_frame_free(f);
        }
    }
    /* A quoted value straddling chunks is intact. */
    cairn_buf v;
    cairn_buf_init(&v);
    for (size_t r = 0; r < ref->n_rows; r++) {
        if (!ref->cols[1].valid[r])
            continue;
        v.len = 0;
        cairn_column_value_text(&ref->cols[1], r, &v);
        if (strchr(v.data, '\n'))
            assert_string_equal(v.data, "line one, \"q\"\nline two");
    }
    cairn_buf_reset(&v);
    cairn_frame_free(ref);
    cairn_free(data);
}

static void test_error_in_late_chunk(void **state)
{
    (void)state;
    size_t len;
    char *data = make_big(100000, &len);
    /* Break a row near the end: add an extra field; its line must be reported. */
    char *last = data + len - 2;
    while (*last != '\n')
        last--;
    /* count lines up to the last row start */
    long line = 1;
    for (char *p = data; p <= last; p++)
        line += *p == '\n';
    size_t off = (size_t)(last - data) + 1;
    char *bad = malloc(len + 8);
    memcpy(bad, data, off);
    memcpy(bad + off, "1,2,3,4,5\n", 10);
    size_t blen = off + 10;
    cairn_read_opts o;
    cairn_read_opts_init(&o);
    o.n_threads = 4;
    cairn_reader_cfg cfg;
    cairn_reader_cfg_from_opts(&cfg, &o);
    cfg.display_name = "big.csv";
    cairn_frame *f = NULL;
    cairn_error e = {0};
    assert_int_equal(cairn_csv_parse(bad, blen, &cfg, &f, &e), CAIRN_EINPUT);
    assert_null(f);
    char want[64];
    snprintf(want, sizeof want, "big.csv:%ld:5", line);
    assert_string_equal(e.where, want);
    free(bad);
    cairn_free(data);
}

static void test_gzip_and_missing(void **state)
{
    (void)state;
    const char *tmp = getenv("CAIRN_TEST_TMP");
    char path[4096];
    snprintf(path, sizeof path, "%s/csv-test-%d.csv.gz", tmp ? tmp : "/tmp", (int)getpid());
    gzFile gz = gzopen(path, "wb");
    assert_non_null(gz);
    gzputs(gz, "a,b\n1,x\n2,y\n");
    gzclose(gz);
    cairn_reader_cfg cfg;
    cairn_reader_cfg_from_opts(&cfg, NULL);
    cairn_frame *f = NULL;
    cairn_error e = {0};
    assert_int_equal(cairn_read_path(path, CAIRN_FORMAT_AUTO, &cfg, &f, &e), CAIRN_OK);
    assert_int_equal(f->n_rows, 2);
    assert_int_equal(f->cols[0].type, CAIRN_TYPE_INT64);
    cairn_frame_free(f);
    /* truncated gzip: a clean error */
    FILE *fp = fopen(path, "r+b");
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fclose(fp);
    assert_int_equal(truncate(path, n - 6), 0);
    f = NULL;
    cairn_status st = cairn_read_path(path, CAIRN_FORMAT_AUTO, &cfg, &f, &e);
    assert_int_equal(st, CAIRN_EINPUT);
    assert_null(f);
    unlink(path);
    st = cairn_read_path(path, CAIRN_FORMAT_AUTO, &cfg, &f, &e);
    assert_int_equal(st, CAIRN_ENOTFOUND);
    assert_string_equal(e.where, path);
}

static void test_alloc_failures(void **state)
{
    (void)state;
    const char *csv = "a,b,c\n1,x,2.5\n2,\"y\"\"z\",3\n3,x,\n";
    cairn_reader_cfg cfg;
    cairn_reader_cfg_from_opts(&cfg, NULL);
    /* Fail each allocation in turn: every run ends in success or ENOMEM, never a crash or leak. */
    int successes = 0;
    for (long n = 1; n < 200; n++) {
        cairn_frame *f = NULL;
        cairn_error e = {0};
        cairn_alloc_fail_after(n, true);
        cairn_status st = cairn_csv_parse(csv, strlen(csv), &cfg, &f, &e);
        cairn_alloc_fail_after(0, false);
        if (st == CAIRN_OK) {
            successes++;
            assert_int_equal(f->n_rows, 3);
            cairn_frame_free(f);
        } else {
            assert_int_equal(st, CAIRN_ENOMEM);
            assert_null(f);
        }
    }
    assert_true(successes > 0);
}

/*
 * Types are guessed from the first rows; a later value that does not fit
 * must widen the column (redo) and a column empty in the sample must still
 * get its narrowest type. Compared with what a full scan says by hand.
 */
static void test_late_type_change(void **state)
{
    (void)state;
    const size_t n = 30000, late = 25000;
    cairn_buf b;
    cairn_buf_init(&b);
    cairn_buf_puts(&b, "a,b,c,d,e\n");
    for (size_t i = 0; i < n; i++) {
        /* a: ints, one float late; b: empty until late, then ints; c: ints then one word;
         * d: booleans then "maybe"; e: all empty */
        if (i == late)
            cairn_buf_printf(&b, "2.5,%zu,%zu,true,\n", i, i);
        else if (i == n - 1)
            cairn_buf_printf(&b, "%zu,%zu,word,maybe,\n", i, i);
        else
            cairn_buf_printf(&b, "%zu,%s,%zu,%s,\n", i, i < late ? "" : "7", i,
                             i % 2 ? "false" : "true");
    }
    for (int threads = 1; threads <= 4; threads += 3) {
        cairn_read_opts o;
        cairn_read_opts_init(&o);
        o.n_threads = threads;
        cairn_reader_cfg cfg;
        cairn_reader_cfg_from_opts(&cfg, &o);
        cairn_frame *f = NULL;
        cairn_error e = {0};
        assert_int_equal(cairn_csv_parse(b.data, b.len, &cfg, &f, &e), CAIRN_OK);
        assert_int_equal(f->n_rows, n);
        assert_int_equal(f->cols[0].type, CAIRN_TYPE_FLOAT64);
        assert_int_equal(f->cols[1].type, CAIRN_TYPE_INT64);
        assert_int_equal(f->cols[2].type, CAIRN_TYPE_STRING);
        assert_int_equal(f->cols[3].type, CAIRN_TYPE_STRING);
        assert_int_equal(f->cols[4].type, CAIRN_TYPE_STRING);
        for (size_t i = 0; i < n; i++) {
            double want_a = i == late ? 2.5 : (double)i;
            assert_true(f->cols[0].valid[i]);
            assert_true(f->cols[0].v.f64[i] == want_a);
            if (i < late) {
                assert_false(f->cols[1].valid[i]);
            } else {
                assert_true(f->cols[1].valid[i]);
                assert_int_equal(f->cols[1].v.i64[i], i == late || i == n - 1 ? (int64_t)i : 7);
            }
            assert_false(f->cols[4].valid[i]);
        }
        cairn_buf v;
        cairn_buf_init(&v);
        cairn_column_value_text(&f->cols[2], 123, &v);
        assert_string_equal(v.data, "123");
        v.len = 0;
        cairn_column_value_text(&f->cols[2], n - 1, &v);
        assert_string_equal(v.data, "word");
        v.len = 0;
        cairn_column_value_text(&f->cols[3], 1, &v);
        assert_string_equal(v.data, "false");
        cairn_buf_reset(&v);
        cairn_frame_free(f);
    }
    cairn_buf_reset(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_threads_agree),
        cmocka_unit_test(test_error_in_late_chunk),
        cmocka_unit_test(test_gzip_and_missing),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_late_type_change),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
