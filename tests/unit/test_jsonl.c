/*
 * test_jsonl.c -- the JSON Lines reader: column union and order, types and
 * the shared inference, nulls, line endings, every error with its exact
 * FILE:LINE:COLUMN, the field size limit, forced types, and allocation
 * failure at every step. Expected values come from the test's own text (the
 * position of the offending byte is found with strstr, timestamps from a
 * civil-date formula), never from the reader's output.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "data/reader.h"

/* ---- helpers -------------------------------------------------------------- */

static cairn_reader_cfg cfg_default(void)
{
    cairn_reader_cfg cfg;
    cairn_reader_cfg_from_opts(&cfg, NULL);
    cfg.display_name = "t.jsonl";
    return cfg;
}

static cairn_status parse_cfg(const char *text, size_t len, const cairn_reader_cfg *cfg,
                              cairn_frame **f, cairn_error *err)
{
    /* An exactly sized heap copy, so ASan sees any read past the end. */
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, text, len);
    cairn_status st = cairn_jsonl_parse(copy, len, cfg, f, err);
    free(copy);
    return st;
}

static cairn_frame *parse_ok(const char *text)
{
    cairn_reader_cfg cfg = cfg_default();
    cairn_frame *f = NULL;
    cairn_error err = {0};
    cairn_status st = parse_cfg(text, strlen(text), &cfg, &f, &err);
    if (st != CAIRN_OK)
        fail_msg("parse failed: %s (%s)", err.msg, err.where);
    assert_non_null(f);
    return f;
}

/* Parses text expecting failure with code; returns the error for inspection. */
static cairn_error parse_fail_len(const char *text, size_t len, const cairn_reader_cfg *cfg,
                                  cairn_status code)
{
    cairn_reader_cfg def = cfg_default();
    cairn_frame *f = (cairn_frame *)&def; /* must be reset to NULL on failure */
    cairn_error err = {0};
    cairn_status st = parse_cfg(text, len, cfg ? cfg : &def, &f, &err);
    assert_int_equal(st, code);
    assert_int_equal(err.code, code);
    assert_null(f);
    return err;
}

static cairn_error parse_fail(const char *text, cairn_status code)
{
    return parse_fail_len(text, strlen(text), NULL, code);
}

/* Where string for the byte at needle's first occurrence in line (1-based column). */
static void expect_where(const cairn_error *err, long line_no, const char *line,
                         const char *needle)
{
    const char *hit = strstr(line, needle);
    assert_non_null(hit);
    char want[128];
    snprintf(want, sizeof want, "t.jsonl:%ld:%ld", line_no, (long)(hit - line) + 1);
    assert_string_equal(err->where, want);
}

static const cairn_column *col_named(const cairn_frame *f, const char *name)
{
    long i = cairn_frame_find(f, name);
    if (i < 0)
        fail_msg("no column %s", name);
    return &f->cols[i];
}

static const char *str_at(const cairn_column *c, size_t row)
{
    assert_int_equal(c->type, CAIRN_TYPE_STRING);
    assert_true(c->valid[row]);
    return cairn_dict_str(&c->dict, c->v.codes[row]);
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* ---- tests ------------------------------------------------------------------ */

static void test_types(void **state)
{
    (void)state;
    cairn_frame *f = parse_ok(
        "{\"i\": 1, \"f\": 1.5, \"s\": \"abc\", \"b\": true, \"t\": \"2024-01-01\", \"n\": \"12\", "
        "\"big\": 9007199254740993, \"e\": 2.5e3}\n"
        "{\"i\": -7, \"f\": 2, \"s\": \"d\", \"b\": false, \"t\": \"2025-07-01T12:30:00Z\", "
        "\"n\": \"-3\", \"big\": -9223372036854775808, \"e\": 1E-2}\n");
    assert_int_equal(f->n_rows, 2);
    assert_int_equal(f->n_cols, 8);

    const cairn_column *c = col_named(f, "i");
    assert_int_equal(c->type, CAIRN_TYPE_INT64);
    assert_int_equal(c->v.i64[0], 1);
    assert_int_equal(c->v.i64[1], -7);

    c = col_named(f, "f");
    assert_int_equal(c->type, CAIRN_TYPE_FLOAT64); /* 1.5 makes the column float */
    assert_true(c->v.f64[0] == 1.5);
    assert_true(c->v.f64[1] == 2.0);

    c = col_named(f, "s");
    assert_string_equal(str_at(c, 0), "abc");
    assert_string_equal(str_at(c, 1), "d");

    c = col_named(f, "b");
    assert_int_equal(c->type, CAIRN_TYPE_BOOL);
    assert_int_equal(c->v.b[0], 1);
    assert_int_equal(c->v.b[1], 0);
    assert_true(c->valid[1]);

    c = col_named(f, "t");
    assert_int_equal(c->type, CAIRN_TYPE_TIMESTAMP);
    assert_true(c->v.i64[0] == days_from_civil(2024, 1, 1) * 86400 * INT64_C(1000000));
    assert_true(c->v.i64[1] ==
                (days_from_civil(2025, 7, 1) * 86400 + 12 * 3600 + 30 * 60) * INT64_C(1000000));

    c = col_named(f, "n");
    assert_int_equal(c->type, CAIRN_TYPE_INT64); /* numeric strings infer as in CSV */
    assert_int_equal(c->v.i64[0], 12);
    assert_int_equal(c->v.i64[1], -3);

    /* Integers are taken from the text, so values beyond 2^53 stay exact. */
    c = col_named(f, "big");
    assert_int_equal(c->type, CAIRN_TYPE_INT64);
    assert_true(c->v.i64[0] == INT64_C(9007199254740993));
    assert_true(c->v.i64[1] == INT64_MIN);

    c = col_named(f, "e");
    assert_int_equal(c->type, CAIRN_TYPE_FLOAT64);
    assert_true(c->v.f64[0] == strtod("2.5e3", NULL));
    assert_true(c->v.f64[1] == strtod("1E-2", NULL));
    cairn_frame_free(f);
}

static void test_float_values_exact(void **state)
{
    (void)state;
    static const char *nums[] = {"0.1", "-0.0", "3.141592653589793", "1e300", "-2.2250738585072014e-308",
                                 "123456789012345678901234567890", "5e-324", "0.30000000000000004"};
    cairn_buf b;
    cairn_buf_init(&b);
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(nums); i++)
        cairn_buf_printf(&b, "{\"x\": %s}\n", nums[i]);
    assert_false(b.failed);
    cairn_frame *f = parse_ok(b.data);
    const cairn_column *c = col_named(f, "x");
    assert_int_equal(c->type, CAIRN_TYPE_FLOAT64);
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(nums); i++) {
        assert_true(c->valid[i]);
        assert_true(c->v.f64[i] == strtod(nums[i], NULL));
    }
    cairn_frame_free(f);
    cairn_buf_reset(&b);
}

static void test_nulls_and_missing(void **state)
{
    (void)state;
    cairn_frame *f = parse_ok("{\"a\": 1, \"b\": \"x\", \"c\": null}\n"
                              "{\"a\": null, \"b\": \"NA\"}\n"
                              "{\"b\": \"\", \"c\": 2.5}\n"
                              "{\"a\": 3, \"b\": \"  \"}\n"
                              "{}\n");
    assert_int_equal(f->n_rows, 5);
    const cairn_column *a = col_named(f, "a");
    assert_int_equal(a->type, CAIRN_TYPE_INT64);
    const uint8_t a_valid[] = {1, 0, 0, 1, 0};
    for (size_t r = 0; r < 5; r++)
        assert_int_equal(a->valid[r], a_valid[r]);
    assert_int_equal(a->v.i64[0], 1);
    assert_int_equal(a->v.i64[3], 3);
    assert_int_equal(a->v.i64[1], 0); /* null values are 0 */

    const cairn_column *bcol = col_named(f, "b");
    assert_int_equal(bcol->type, CAIRN_TYPE_STRING);
    assert_string_equal(str_at(bcol, 0), "x");
    for (size_t r = 1; r < 5; r++)
        assert_false(bcol->valid[r]); /* NA markers, empty and blank strings, missing */

    const cairn_column *c = col_named(f, "c");
    assert_int_equal(c->type, CAIRN_TYPE_FLOAT64);
    const uint8_t c_valid[] = {0, 0, 1, 0, 0};
    for (size_t r = 0; r < 5; r++)
        assert_int_equal(c->valid[r], c_valid[r]);
    assert_true(c->v.f64[2] == 2.5);
    cairn_frame_free(f);
}

static void test_all_null_column(void **state)
{
    (void)state;
    cairn_frame *f = parse_ok("{\"a\": 1, \"z\": null}\n{\"a\": 2, \"z\": \"N/A\"}\n");
    const cairn_column *z = col_named(f, "z");
    /* Same answer the shared inference gives an empty CSV column. */
    assert_int_equal(z->type, cairn_infer_pick(CAIRN_CAND_ALL, 0));
    assert_false(z->valid[0]);
    assert_false(z->valid[1]);
    cairn_frame_free(f);
}

static void test_key_union_order(void **state)
{
    (void)state;
    cairn_frame *f = parse_ok("{\"a\": 1, \"b\": 2}\n"
                              "{\"c\": 3, \"a\": 4}\n"
                              "{\"b\": 5, \"d\": \"w\"}\n");
    assert_int_equal(f->n_cols, 4);
    const char *want[] = {"a", "b", "c", "d"};
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(f->cols[i].name, want[i]);
    /* Each value lands in its key's column whatever the order within the line. */
    assert_int_equal(f->cols[0].v.i64[1], 4);
    assert_int_equal(f->cols[2].v.i64[1], 3);
    assert_false(f->cols[2].valid[0]);
    assert_false(f->cols[2].valid[2]);
    assert_false(f->cols[3].valid[0]);
    assert_string_equal(str_at(&f->cols[3], 2), "w");
    assert_false(f->cols[1].valid[1]);
    assert_int_equal(f->cols[1].v.i64[2], 5);
    cairn_frame_free(f);
}

static void test_many_rows_late_key(void **state)
{
    (void)state;
    /* Enough rows to grow the buffers several times, and a key that appears late. */
    const size_t n = 3000, late = 2500;
    cairn_buf b;
    cairn_buf_init(&b);
    for (size_t r = 0; r < n; r++) {
        if (r >= late)
            cairn_buf_printf(&b, "{\"id\": %zu, \"late\": \"v%zu\"}\n", r, r % 7);
        else
            cairn_buf_printf(&b, "{\"id\": %zu}\n", r);
    }
    assert_false(b.failed);
    cairn_frame *f = parse_ok(b.data);
    assert_int_equal(f->n_rows, n);
    const cairn_column *id = col_named(f, "id");
    const cairn_column *lc = col_named(f, "late");
    for (size_t r = 0; r < n; r++) {
        assert_int_equal(id->v.i64[r], (int64_t)r);
        assert_int_equal(lc->valid[r], r >= late);
        if (r >= late) {
            char want[16];
            snprintf(want, sizeof want, "v%zu", r % 7);
            assert_string_equal(str_at(lc, r), want);
        }
    }
    assert_int_equal(lc->dict.n, 7);
    cairn_frame_free(f);
    cairn_buf_reset(&b);
}

static void test_line_endings_bom_blank(void **state)
{
    (void)state;
    const char *texts[] = {
        "{\"a\": 1, \"s\": \"x\"}\n{\"a\": 2, \"s\": \"y\"}\n",
        "{\"a\": 1, \"s\": \"x\"}\r\n{\"a\": 2, \"s\": \"y\"}\r\n",
        "{\"a\": 1, \"s\": \"x\"}\n{\"a\": 2, \"s\": \"y\"}",           /* no final newline */
        "\xEF\xBB\xBF{\"a\": 1, \"s\": \"x\"}\n{\"a\": 2, \"s\": \"y\"}\n", /* BOM */
        "\n  \n{\"a\": 1, \"s\": \"x\"}\n\t\r\n\n{\"a\": 2, \"s\": \"y\"}\n\n", /* blank lines */
        "  {\"a\":1,\"s\":\"x\"}  \r\n{ \"a\" : 2 , \"s\" : \"y\" }\t",
    };
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(texts); i++) {
        cairn_frame *f = parse_ok(texts[i]);
        assert_int_equal(f->n_rows, 2);
        assert_int_equal(f->n_cols, 2);
        assert_string_equal(f->cols[0].name, "a");
        assert_int_equal(f->cols[0].v.i64[0], 1);
        assert_int_equal(f->cols[0].v.i64[1], 2);
        assert_string_equal(str_at(&f->cols[1], 0), "x");
        assert_string_equal(str_at(&f->cols[1], 1), "y"); /* no stray \r */
        cairn_frame_free(f);
    }
}

static void test_escapes(void **state)
{
    (void)state;
    cairn_frame *f = parse_ok("{\"k\\\"ey\": \"a\\\"b\\u00e9\\n\", \"u\": \"caf\xC3\xA9\"}\n"
                              "{\"k\\\"ey\": \"plain\", \"u\": \"caf\\u00e9\"}\n"
                              "{\"k\\\"ey\": \"\\ud83d\\ude00\", \"u\": \"x\"}\n");
    const cairn_column *k = col_named(f, "k\"ey");
    assert_string_equal(str_at(k, 0), "a\"b\xC3\xA9\n");
    assert_string_equal(str_at(k, 1), "plain");
    assert_string_equal(str_at(k, 2), "\xF0\x9F\x98\x80"); /* surrogate pair -> U+1F600 */
    /* The raw and the escaped spelling of one string are one category. */
    const cairn_column *u = col_named(f, "u");
    assert_int_equal(u->v.codes[0], u->v.codes[1]);
    assert_int_equal(u->dict.n, 2);
    cairn_frame_free(f);
}

static void test_mixed_types(void **state)
{
    (void)state;
    cairn_frame *f = parse_ok("{\"ni\": 1,   \"nf\": 1.5, \"ns\": 1.50, \"bn\": true,  \"bs\": true,   \"ss\": \"5\"}\n"
                              "{\"ni\": \"2\", \"nf\": \"2\", \"ns\": \"abc\", \"bn\": 1, \"bs\": \"true\", \"ss\": \"x\"}\n");
    const cairn_column *c = col_named(f, "ni");
    assert_int_equal(c->type, CAIRN_TYPE_INT64);
    assert_int_equal(c->v.i64[0], 1);
    assert_int_equal(c->v.i64[1], 2);

    c = col_named(f, "nf");
    assert_int_equal(c->type, CAIRN_TYPE_FLOAT64);
    assert_true(c->v.f64[0] == 1.5);
    assert_true(c->v.f64[1] == 2.0);

    /* Numbers in a string column keep the text they were written with. */
    c = col_named(f, "ns");
    assert_string_equal(str_at(c, 0), "1.50");
    assert_string_equal(str_at(c, 1), "abc");

    c = col_named(f, "bn");
    assert_string_equal(str_at(c, 0), "true");
    assert_string_equal(str_at(c, 1), "1");

    c = col_named(f, "bs");
    assert_int_equal(c->type, CAIRN_TYPE_STRING);

    c = col_named(f, "ss");
    assert_string_equal(str_at(c, 0), "5");
    assert_string_equal(str_at(c, 1), "x");
    cairn_frame_free(f);

    /* A value that is not numeric makes an int column a string column even late. */
    f = parse_ok("{\"v\": 10}\n{\"v\": 20}\n{\"v\": \"2024-01-01\"}\n");
    c = col_named(f, "v");
    assert_string_equal(str_at(c, 0), "10");
    assert_string_equal(str_at(c, 2), "2024-01-01");
    cairn_frame_free(f);

    /* Integer beyond int64 makes the column float. */
    f = parse_ok("{\"v\": 1}\n{\"v\": 12345678901234567890}\n");
    c = col_named(f, "v");
    assert_int_equal(c->type, CAIRN_TYPE_FLOAT64);
    assert_true(c->v.f64[1] == 12345678901234567890.0);
    cairn_frame_free(f);
}

static void test_forced_types(void **state)
{
    (void)state;
    const char *names[] = {"id", "n", "when"};
    const cairn_type types[] = {CAIRN_TYPE_STRING, CAIRN_TYPE_FLOAT64, CAIRN_TYPE_STRING};
    cairn_type_overrides ov = {names, types, 3};
    cairn_reader_cfg cfg = cfg_default();
    cfg.overrides = &ov;
    const char *text = "{\"id\": 123, \"n\": 4, \"when\": \"2024-01-01\"}\n"
                       "{\"id\": 7, \"n\": \"5\", \"when\": \"2024-01-02\"}\n";
    cairn_frame *f = NULL;
    cairn_error err = {0};
    assert_int_equal(parse_cfg(text, strlen(text), &cfg, &f, &err), CAIRN_OK);
    assert_string_equal(str_at(col_named(f, "id"), 0), "123");
    assert_string_equal(str_at(col_named(f, "id"), 1), "7");
    const cairn_column *n = col_named(f, "n");
    assert_int_equal(n->type, CAIRN_TYPE_FLOAT64);
    assert_true(n->v.f64[0] == 4.0 && n->v.f64[1] == 5.0);
    assert_string_equal(str_at(col_named(f, "when"), 1), "2024-01-02");
    cairn_frame_free(f);

    /* A value that does not fit a forced type is an error at its position. */
    const char *names2[] = {"n"};
    const cairn_type types2[] = {CAIRN_TYPE_INT64};
    cairn_type_overrides ov2 = {names2, types2, 1};
    cfg.overrides = &ov2;
    const char *line2 = "{\"x\": 0, \"n\": 2.5}";
    char text2[128];
    snprintf(text2, sizeof text2, "{\"n\": 1}\n%s\n", line2);
    cairn_error e2 = parse_fail_len(text2, strlen(text2), &cfg, CAIRN_EINPUT);
    expect_where(&e2, 2, line2, "2.5");
    assert_non_null(strstr(e2.msg, "int64"));

    const char *line3 = "{\"n\": \"abc\"}";
    snprintf(text2, sizeof text2, "%s\n", line3);
    e2 = parse_fail_len(text2, strlen(text2), &cfg, CAIRN_EINPUT);
    expect_where(&e2, 1, line3, "\"abc");
}

/* One bad line after a good one; the error must point at needle in it. */
static void check_error_at(const char *bad_line, const char *needle, cairn_status code)
{
    char text[256];
    snprintf(text, sizeof text, "{\"a\": 1}\n%s\n{\"a\": 2}\n", bad_line);
    cairn_error err = parse_fail(text, code);
    expect_where(&err, 2, bad_line, needle);
}

static void test_errors_with_position(void **state)
{
    (void)state;
    check_error_at("{\"a\": 1,}", "}", CAIRN_EINPUT);            /* trailing comma */
    check_error_at("{\"a\":}", "}", CAIRN_EINPUT);                /* missing value */
    check_error_at("[1, 2]", "[", CAIRN_EINPUT);                  /* not an object */
    check_error_at("   42", "42", CAIRN_EINPUT);
    check_error_at("\"s\"", "\"", CAIRN_EINPUT);
    check_error_at("{\"a\": 1} x", "x", CAIRN_EINPUT);            /* text after the object */
    check_error_at("{\"a\": 1}{\"a\": 2}", "{\"a\": 2", CAIRN_EINPUT);
    check_error_at("{\"a\": 1, \"b\": [1]}", "[", CAIRN_EINPUT);  /* nested values */
    check_error_at("{\"a\": 1, \"b\": {\"c\": 1}}", "{\"c", CAIRN_EINPUT);
    check_error_at("{\"a\": 1, \"a\": 2}", "\"a\": 2", CAIRN_EINPUT); /* duplicate key */
    check_error_at("{\"\": 1}", "\"\"", CAIRN_EINPUT);           /* empty key */
    check_error_at("{\"a\": \"x\\u0000y\"}", "\"x", CAIRN_EINPUT); /* escaped NUL */
    check_error_at("{\"a\": 1e400}", "1e400", CAIRN_EINPUT);      /* out of range */
    check_error_at("{\"a\": \"x\xFFy\"}", "\xFF", CAIRN_EINPUT);  /* invalid UTF-8 */
    check_error_at("{\"a\": \"\xC0\xAF\"}", "\xC0", CAIRN_EINPUT); /* overlong */
    check_error_at("\xEF\xBB\xBF{\"a\": 3}", "\xEF", CAIRN_EINPUT); /* BOM not at the start */

    /* The previous line is fine: the nested error names the key. */
    cairn_error err = parse_fail("{\"a\": 1, \"deep\": [1]}\n", CAIRN_EINPUT);
    assert_non_null(strstr(err.msg, "deep"));
    assert_non_null(strstr(err.msg, "array"));

    /* Line numbers count blank lines and CRLF lines. */
    err = parse_fail("{\"a\": 1}\r\n\r\n\n{\"a\": }\r\n", CAIRN_EINPUT);
    expect_where(&err, 4, "{\"a\": }", "}");
}

static void test_nul_byte(void **state)
{
    (void)state;
    static const char text[] = "{\"a\": 1}\n{\"a\": \"x\0y\"}\n";
    cairn_error err = parse_fail_len(text, sizeof text - 1, NULL, CAIRN_EINPUT);
    /* The NUL is at byte 9 of line 2: {"a": "x is eight bytes before it. */
    assert_string_equal(err.where, "t.jsonl:2:9");
    assert_non_null(strstr(err.msg, "NUL"));
}

static void test_size_limit(void **state)
{
    (void)state;
    cairn_reader_cfg cfg = cfg_default();
    cfg.max_field_bytes = 8;
    const char *fits = "{\"a\": \"12345678\"}\n";
    cairn_frame *f = NULL;
    cairn_error err = {0};
    assert_int_equal(parse_cfg(fits, strlen(fits), &cfg, &f, &err), CAIRN_OK);
    cairn_frame_free(f);

    /* The limit is on the unescaped value: \u00e9 is two bytes, not six. */
    const char *fits_esc = "{\"a\": \"123456\\u00e9\"}\n";
    assert_int_equal(parse_cfg(fits_esc, strlen(fits_esc), &cfg, &f, &err), CAIRN_OK);
    assert_string_equal(str_at(&f->cols[0], 0), "123456\xC3\xA9");
    cairn_frame_free(f);

    const char *line = "{\"a\": \"123456789\"}";
    char text[64];
    snprintf(text, sizeof text, "%s\n", line);
    err = parse_fail_len(text, strlen(text), &cfg, CAIRN_ETOOBIG);
    expect_where(&err, 1, line, "\"123");

    const char *keyline = "{\"abcdefghi\": 1}";
    snprintf(text, sizeof text, "%s\n", keyline);
    err = parse_fail_len(text, strlen(text), &cfg, CAIRN_ETOOBIG);
    expect_where(&err, 1, keyline, "\"abc");
}

static void test_no_rows(void **state)
{
    (void)state;
    const char *empties[] = {"", "\n", "\n  \n\t\n", "\r\n\r\n", "\xEF\xBB\xBF", "\xEF\xBB\xBF\n"};
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(empties); i++) {
        cairn_error err = parse_fail(empties[i], CAIRN_EINPUT);
        assert_non_null(strstr(err.msg, "no rows"));
        assert_string_equal(err.where, "t.jsonl");
    }
    cairn_error err = parse_fail("{}\n{}\n", CAIRN_EINPUT); /* rows, but no columns */
    assert_non_null(strstr(err.msg, "no columns"));
}

static void test_too_many_keys(void **state)
{
    (void)state;
    cairn_buf b;
    cairn_buf_init(&b);
    for (int i = 0; i < 5000; i++)
        cairn_buf_printf(&b, "{\"k%d\": 1}\n", i);
    assert_false(b.failed);
    cairn_error err = parse_fail(b.data, CAIRN_ETOOBIG);
    assert_int_equal(strncmp(err.where, "t.jsonl:", 8), 0);
    cairn_buf_reset(&b);
}

static void test_alloc_failures(void **state)
{
    (void)state;
    /* Fail the Nth allocation for every N: each run ends in ENOMEM or success, leak-free. */
    const char *text = "{\"a\": 1, \"s\": \"x\\u00e9\", \"t\": \"2024-01-01\"}\n"
                       "{\"b\": true, \"s\": \"plain\", \"a\": 2.5}\n";
    cairn_reader_cfg cfg = cfg_default();
    bool succeeded = false;
    for (long n = 1; n < 200 && !succeeded; n++) {
        cairn_frame *f = NULL;
        cairn_error err = {0};
        cairn_alloc_fail_after(n, true);
        cairn_status st = cairn_jsonl_parse(text, strlen(text), &cfg, &f, &err);
        cairn_alloc_fail_after(0, false);
        if (st == CAIRN_OK) {
            succeeded = true;
            assert_int_equal(f->n_rows, 2);
            cairn_frame_free(f);
        } else {
            assert_int_equal(st, CAIRN_ENOMEM);
            assert_null(f);
        }
    }
    assert_true(succeeded);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_types),
        cmocka_unit_test(test_float_values_exact),
        cmocka_unit_test(test_nulls_and_missing),
        cmocka_unit_test(test_all_null_column),
        cmocka_unit_test(test_key_union_order),
        cmocka_unit_test(test_many_rows_late_key),
        cmocka_unit_test(test_line_endings_bom_blank),
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_mixed_types),
        cmocka_unit_test(test_forced_types),
        cmocka_unit_test(test_errors_with_position),
        cmocka_unit_test(test_nul_byte),
        cmocka_unit_test(test_size_limit),
        cmocka_unit_test(test_no_rows),
        cmocka_unit_test(test_too_many_keys),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
