/*
 * test_request.c -- the predict body parser (serve/request.c): both shapes,
 * request_id and entity, every error class with its exact location (byte
 * offsets are found in the test's own text with strstr, never taken from the
 * parser), escapes and surrogates, invalid UTF-8, number conversion against
 * the compiler's own rounding of the same literals, deep nesting, a 10 MB
 * string, the row and field limits, allocation failure at every step, and a
 * comparison with Python's json module over hand-picked and generated
 * documents. A micro-benchmark for a single-row body is printed, not
 * asserted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <time.h>
#include <unistd.h>

#include "core/core.h"
#include "serve/serve.h"

/* ---- helpers -------------------------------------------------------------------------- */

/* Parses an exactly sized heap copy (no NUL after it), so ASan sees any read past the end. */
static cairn_status parse_lim(const char *text, size_t len, size_t max_rows, size_t max_fields,
                              cairn_request *r, cairn_error *err)
{
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, text, len);
    cairn_request_limits lim = {max_rows, max_fields};
    memset(r, 0, sizeof *r);
    cairn_status st = cairn_request_parse(copy, len, &lim, r, err);
    free(copy);
    return st;
}

static void parse_ok(const char *text, cairn_request *r)
{
    cairn_error err = {0};
    cairn_status st = parse_lim(text, strlen(text), 0, 0, r, &err);
    if (st != CAIRN_OK)
        fail_msg("parse failed for %s: %s (%s)", text, err.msg, err.where);
}

static size_t row_len(const cairn_request *r, size_t i)
{
    return r->row_start[i + 1] - r->row_start[i];
}

static const cairn_field *field(const cairn_request *r, size_t row, size_t k)
{
    assert_true(k < row_len(r, row));
    return &r->fields[r->row_start[row] + k];
}

static void assert_num(const cairn_field *f, const char *name, double v)
{
    assert_string_equal(f->name, name);
    assert_int_equal(f->kind, CAIRN_VALUE_NUMBER);
    assert_memory_equal(&f->num, &v, sizeof v); /* bit-exact, -0 included */
}

static void assert_str(const cairn_field *f, const char *name, const char *s, size_t n)
{
    assert_string_equal(f->name, name);
    assert_int_equal(f->kind, CAIRN_VALUE_STRING);
    assert_int_equal(f->str_len, n);
    assert_memory_equal(f->str, s, n);
    assert_int_equal(f->str[n], '\0');
}

/* ---- shapes -------------------------------------------------------------------------- */

static void test_instances(void **state)
{
    (void)state;
    cairn_request r;
    parse_ok(" {\"request_id\":\"req-1\",\"instances\":[{\"b\":1.5,\"a\":\"x\",\"c\":true,"
             "\"d\":null,\"e\":false},\n{\"a\":\"y\"},{}],\"entity\":\"cust-9\"}\r\n",
             &r);
    assert_int_equal(r.n_rows, 3);
    assert_int_equal(r.row_start[0], 0);
    assert_int_equal(r.row_start[1], 5);
    assert_int_equal(r.row_start[2], 6);
    assert_int_equal(r.row_start[3], 6);
    assert_num(field(&r, 0, 0), "b", 1.5);
    assert_str(field(&r, 0, 1), "a", "x", 1);
    assert_string_equal(field(&r, 0, 2)->name, "c");
    assert_int_equal(field(&r, 0, 2)->kind, CAIRN_VALUE_BOOL);
    assert_int_equal(field(&r, 0, 2)->b, 1);
    assert_string_equal(field(&r, 0, 3)->name, "d");
    assert_int_equal(field(&r, 0, 3)->kind, CAIRN_VALUE_NULL);
    assert_int_equal(field(&r, 0, 4)->kind, CAIRN_VALUE_BOOL);
    assert_int_equal(field(&r, 0, 4)->b, 0);
    assert_str(field(&r, 1, 0), "a", "y", 1);
    assert_string_equal(r.request_id, "req-1");
    assert_string_equal(r.entity, "cust-9");
    cairn_request_reset(&r);
    assert_null(r.fields);
    assert_null(r.priv);
    cairn_request_reset(&r); /* twice is harmless */
}

static void test_inputs(void **state)
{
    (void)state;
    cairn_request r;
    parse_ok("{\"inputs\":{\"z\":[1,2,3],\"a\":[\"p\",\"q\",null],\"m\":[true,false,-0]}}", &r);
    assert_int_equal(r.n_rows, 3);
    assert_null(r.request_id);
    assert_null(r.entity);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(r.row_start[i], i * 3);
        assert_num(field(&r, i, 0), "z", (double)(i + 1));
        assert_string_equal(field(&r, i, 1)->name, "a");
        assert_string_equal(field(&r, i, 2)->name, "m");
    }
    assert_int_equal(r.row_start[3], 9);
    assert_str(field(&r, 0, 1), "a", "p", 1);
    assert_str(field(&r, 1, 1), "a", "q", 1);
    assert_int_equal(field(&r, 2, 1)->kind, CAIRN_VALUE_NULL);
    assert_int_equal(field(&r, 0, 2)->b, 1);
    assert_int_equal(field(&r, 1, 2)->b, 0);
    assert_num(field(&r, 2, 2), "m", -0.0);
    cairn_request_reset(&r);
}

static void test_empty_shapes(void **state)
{
    (void)state;
    static const char *const docs[] = {
        "{\"instances\":[]}", "{\"instances\":[ ]}", "{\"inputs\":{}}",
        "{\"inputs\":{\"a\":[],\"b\":[]}}", "{\"entity\":7,\"inputs\":{\"a\":[]}}"};
    for (size_t k = 0; k < CAIRN_ARRAY_LEN(docs); k++) {
        cairn_request r;
        parse_ok(docs[k], &r);
        assert_int_equal(r.n_rows, 0);
        assert_non_null(r.row_start);
        assert_int_equal(r.row_start[0], 0);
        cairn_request_reset(&r);
    }
}

static void test_request_id_and_entity(void **state)
{
    (void)state;
    cairn_request r;
    char doc[512], id[CAIRN_REQUEST_ID_MAX + 1];
    memset(id, 'k', CAIRN_REQUEST_ID_MAX);
    id[CAIRN_REQUEST_ID_MAX] = '\0';
    snprintf(doc, sizeof doc, "{\"instances\":[],\"request_id\":\"%s\",\"entity\":12345678901234567890}",
             id);
    parse_ok(doc, &r);
    assert_string_equal(r.request_id, id); /* exactly the limit is fine */
    assert_string_equal(r.entity, "12345678901234567890");
    cairn_request_reset(&r);

    parse_ok("{\"entity\":-1.50E+3,\"instances\":[]}", &r);
    assert_string_equal(r.entity, "-1.50E+3"); /* the literal as written */
    cairn_request_reset(&r);

    parse_ok("{\"entity\":\"caf\\u00e9 \\\"7\\\"\",\"request_id\":\"\\u00e9\",\"instances\":[]}",
             &r);
    assert_string_equal(r.entity, "caf\xc3\xa9 \"7\"");
    assert_string_equal(r.request_id, "\xc3\xa9");
    cairn_request_reset(&r);

    parse_ok("{\"entity\":\"\",\"instances\":[]}", &r);
    assert_string_equal(r.entity, "");
    cairn_request_reset(&r);
}

/* ---- errors ---------------------------------------------------------------------------- */

typedef struct err_case {
    const char *doc;
    cairn_status code;
    const char *at;   /* "body byte N" with N = offset of this needle's first occurrence (NULL:
                         the end of the document) ... */
    const char *key;  /* ... unless the where is this key */
} err_case;

#define NEST "{\"instances\":[{\"a\":"

static const err_case err_cases[] = {
    /* not an object, emptiness, trailing data */
    {"", CAIRN_EINPUT, NULL, NULL},
    {" \n\t", CAIRN_EINPUT, NULL, NULL},
    {"[{\"a\":1}]", CAIRN_EINPUT, "[", NULL},
    {"\"instances\"", CAIRN_EINPUT, "\"", NULL},
    {"\xEF\xBB\xBF{\"instances\":[]}", CAIRN_EINPUT, "\xEF", NULL},
    {"{}", CAIRN_EINPUT, "}", NULL},
    {"{\"request_id\":\"r\"}", CAIRN_EINPUT, "}", NULL},
    {"{\"instances\":[]} x", CAIRN_EINPUT, "x", NULL},
    {"{\"instances\":[]}{}", CAIRN_EINPUT, "{}", NULL},
    {"{\"instances\":[]", CAIRN_EINPUT, NULL, NULL},
    {"{\"instances\":[] /* c */}", CAIRN_EINPUT, "/", NULL},
    {"{'instances':[]}", CAIRN_EINPUT, "'", NULL},
    {"{instances:[]}", CAIRN_EINPUT, "i", NULL},
    {"{\"instances\" []}", CAIRN_EINPUT, "[", NULL},
    {"{\"instances\":[]\x0c}", CAIRN_EINPUT, "\x0c", NULL},
    /* top-level keys */
    {"{\"instances\":[],\"inputs\":{}}", CAIRN_EINPUT, NULL, "inputs"},
    {"{\"inputs\":{},\"instances\":[]}", CAIRN_EINPUT, NULL, "instances"},
    {"{\"instances\":[],\"instances\":[]}", CAIRN_EINPUT, NULL, "instances"},
    {"{\"instances\":[],\"entity\":1,\"entity\":2}", CAIRN_EINPUT, NULL, "entity"},
    {"{\"instances\":[],\"model\":\"m\"}", CAIRN_EINPUT, NULL, "model"},
    {"{\"instances\":[],\"\":1}", CAIRN_EINPUT, "\"\":", NULL}, /* empty key: a byte */
    {"{\"instances\":[{\"\":1,\"\":2}]}", CAIRN_EINPUT, "\"\":2", NULL},
    {"{\"instances\":[{\"\":[]}]}", CAIRN_EINPUT, "[]", NULL},
    {"{\"inputs\":{\"\":[1],\"\":[2]}}", CAIRN_EINPUT, "\"\":[2", NULL},
    {"{\"inputs\":{\"a\":[1],\"\":[]}}", CAIRN_EINPUT, "]}}", NULL},
    {"{\"Instances\":[]}", CAIRN_EINPUT, NULL, "Instances"},
    {"{\"instances\":{}}", CAIRN_EINPUT, NULL, "instances"},
    {"{\"inputs\":[]}", CAIRN_EINPUT, NULL, "inputs"},
    {"{\"instances\":[],}", CAIRN_EINPUT, "}", NULL},
    /* rows */
    {"{\"instances\":[1]}", CAIRN_EINPUT, "1", NULL},
    {"{\"instances\":[[{\"a\":1}]]}", CAIRN_EINPUT, "[{", NULL},
    {"{\"instances\":[{\"a\":1},]}", CAIRN_EINPUT, "]}", NULL},
    {"{\"instances\":[{\"a\":1,}]}", CAIRN_EINPUT, "}]", NULL},
    {"{\"instances\":[{\"a\":1 \"b\":2}]}", CAIRN_EINPUT, "\"b", NULL},
    {"{\"instances\":[{\"a\" 1}]}", CAIRN_EINPUT, "1", NULL},
    {"{\"instances\":[{\"a\":1}{\"b\":1}]}", CAIRN_EINPUT, "{\"b", NULL},
    {NEST "[1]}]}", CAIRN_EINPUT, NULL, "a"},
    {NEST "{\"b\":1}}]}", CAIRN_EINPUT, NULL, "a"},
    {NEST "1,\"a\":2}]}", CAIRN_EINPUT, NULL, "a"},
    {NEST "1,\"\\u0061\":2}]}", CAIRN_EINPUT, NULL, "a"},
    {"{\"instances\":[{\"a\\u0000b\":1}]}", CAIRN_EINPUT, "\"a\\", NULL},
    /* literals and numbers */
    {NEST "tru}]}", CAIRN_EINPUT, "tru", NULL},
    {NEST "True}]}", CAIRN_EINPUT, "True", NULL},
    {NEST "nul", CAIRN_EINPUT, "nul", NULL},
    {NEST "01}]}", CAIRN_EINPUT, "1}", NULL},
    {NEST "-01}]}", CAIRN_EINPUT, "1}", NULL},
    {NEST "1.}]}", CAIRN_EINPUT, "}]", NULL},
    {NEST ".5}]}", CAIRN_EINPUT, ".", NULL},
    {NEST "+1}]}", CAIRN_EINPUT, "+", NULL},
    {NEST "-}]}", CAIRN_EINPUT, "}]", NULL},
    {NEST "1e}]}", CAIRN_EINPUT, "}]", NULL},
    {NEST "1e+}]}", CAIRN_EINPUT, "}]", NULL},
    {NEST "0x10}]}", CAIRN_EINPUT, "x", NULL},
    {NEST "1.5.2}]}", CAIRN_EINPUT, ".2", NULL},
    {NEST "NaN}]}", CAIRN_EINPUT, "N", NULL},
    {NEST "Infinity}]}", CAIRN_EINPUT, "I", NULL},
    {NEST "-Infinity}]}", CAIRN_EINPUT, "I", NULL},
    {NEST "1e309}]}", CAIRN_EINPUT, "1e", NULL},
    {NEST "-1e400}]}", CAIRN_EINPUT, "-", NULL},
    {NEST "1e400}]}", CAIRN_EINPUT, "1e", NULL},
    {NEST "1", CAIRN_EINPUT, NULL, NULL},
    {NEST "-", CAIRN_EINPUT, NULL, NULL},
    /* strings */
    {NEST "\"x\ty\"}]}", CAIRN_EINPUT, "\t", NULL},
    {NEST "\"x\ny\"}]}", CAIRN_EINPUT, "\ny", NULL},
    {NEST "\"x\\qy\"}]}", CAIRN_EINPUT, "\\q", NULL},
    {NEST "\"x\\'y\"}]}", CAIRN_EINPUT, "\\'", NULL},
    {NEST "\"\\u12\"}]}", CAIRN_EINPUT, "\\u", NULL},
    {NEST "\"\\u12g4\"}]}", CAIRN_EINPUT, "\\u", NULL},
    {NEST "\"\\u12", CAIRN_EINPUT, "\\u", NULL},
    {NEST "\"\\ud800\"}]}", CAIRN_EINPUT, "\\u", NULL},
    {NEST "\"\\ud800\\u0041\"}]}", CAIRN_EINPUT, "\\u", NULL},
    {NEST "\"\\ud800\\ud800\"}]}", CAIRN_EINPUT, "\\u", NULL},
    {NEST "\"\\udc00\"}]}", CAIRN_EINPUT, "\\u", NULL},
    {NEST "\"a\\udfff\\ud800\"}]}", CAIRN_EINPUT, "\\u", NULL},
    {NEST "\"abc", CAIRN_EINPUT, NULL, NULL},
    {NEST "\"abc\\", CAIRN_EINPUT, NULL, NULL},
    /* invalid UTF-8: overlong, surrogate, beyond U+10FFFF, truncated, stray continuation */
    {NEST "\"ab\xC0\x80\"}]}", CAIRN_EINPUT, "\xC0", NULL},
    {NEST "\"ab\xC1\xBF\"}]}", CAIRN_EINPUT, "\xC1", NULL},
    {NEST "\"ab\xE0\x80\xAF\"}]}", CAIRN_EINPUT, "\xE0", NULL},
    {NEST "\"ab\xF0\x80\x80\xAF\"}]}", CAIRN_EINPUT, "\xF0", NULL},
    {NEST "\"ab\xED\xA0\x80\"}]}", CAIRN_EINPUT, "\xED", NULL},
    {NEST "\"ab\xED\xBF\xBF\"}]}", CAIRN_EINPUT, "\xED", NULL},
    {NEST "\"ab\xF4\x90\x80\x80\"}]}", CAIRN_EINPUT, "\xF4", NULL},
    {NEST "\"ab\xF5\x80\x80\x80\"}]}", CAIRN_EINPUT, "\xF5", NULL},
    {NEST "\"ab\xE2\x82\"}]}", CAIRN_EINPUT, "\xE2", NULL},
    {NEST "\"ab\xE2\x82\\n\"}]}", CAIRN_EINPUT, "\xE2", NULL},
    {NEST "\"ab\x80\"}]}", CAIRN_EINPUT, "\x80", NULL},
    {NEST "\"abcdefghijklmnop\xFF\"}]}", CAIRN_EINPUT, "\xFF", NULL},
    {"{\"instances\":[{\"\xC3\x28\":1}]}", CAIRN_EINPUT, "\xC3", NULL},
    {NEST "\"ab\xE2\x82", CAIRN_EINPUT, "\xE2", NULL},
    /* inputs */
    {"{\"inputs\":{\"a\":[1,2],\"b\":[1]}}", CAIRN_EINPUT, NULL, "b"},
    {"{\"inputs\":{\"a\":[1,2],\"b\":[1,2,3]}}", CAIRN_EINPUT, NULL, "b"},
    {"{\"inputs\":{\"a\":[],\"b\":[1]}}", CAIRN_EINPUT, NULL, "b"},
    {"{\"inputs\":{\"a\":1}}", CAIRN_EINPUT, NULL, "a"},
    {"{\"inputs\":{\"a\":[[1]]}}", CAIRN_EINPUT, NULL, "a"},
    {"{\"inputs\":{\"a\":[1],\"a\":[2]}}", CAIRN_EINPUT, NULL, "a"},
    {"{\"inputs\":{\"a\":[1,]}}", CAIRN_EINPUT, "]}", NULL},
    {"{\"inputs\":{\"a\":[1],}}", CAIRN_EINPUT, "}}", NULL},
    /* request_id and entity */
    {"{\"instances\":[],\"request_id\":7}", CAIRN_EINPUT, NULL, "request_id"},
    {"{\"instances\":[],\"request_id\":null}", CAIRN_EINPUT, NULL, "request_id"},
    {"{\"instances\":[],\"request_id\":\"\"}", CAIRN_EINPUT, NULL, "request_id"},
    {"{\"instances\":[],\"request_id\":\"a\\u0001\"}", CAIRN_EINPUT, NULL, "request_id"},
    {"{\"instances\":[],\"request_id\":\"a\\u007f\"}", CAIRN_EINPUT, NULL, "request_id"},
    {"{\"instances\":[],\"entity\":true}", CAIRN_EINPUT, NULL, "entity"},
    {"{\"instances\":[],\"entity\":[1]}", CAIRN_EINPUT, NULL, "entity"},
    {"{\"instances\":[],\"entity\":\"a\\u0000\"}", CAIRN_EINPUT, NULL, "entity"},
    {"{\"instances\":[],\"entity\":1e999}", CAIRN_EINPUT, "1e9", NULL},
    {"{\"instances\":[],\"entity\":01}", CAIRN_EINPUT, "1}", NULL},
};

static void check_error(const err_case *c, size_t len, cairn_status st, const cairn_error *err,
                        const cairn_request *r)
{
    char want[64];
    const char *where = c->key;
    if (!where) {
        size_t at = len;
        if (c->at) {
            const char *hit = strstr(c->doc, c->at);
            assert_non_null(hit);
            at = (size_t)(hit - c->doc);
        }
        snprintf(want, sizeof want, "body byte %zu", at);
        where = want;
    }
    if (st != c->code || strcmp(err->where, where) != 0)
        fail_msg("%s: got %s (%s: %s), want %s (%s)", c->doc, cairn_status_name(st), err->where,
                 err->msg, cairn_status_name(c->code), where);
    assert_int_equal(err->code, st);
    assert_true(strlen(err->msg) > 0);
    /* Nothing is handed out on failure. */
    assert_null(r->fields);
    assert_null(r->row_start);
    assert_null(r->priv);
    assert_int_equal(r->n_rows, 0);
}

static void test_errors(void **state)
{
    (void)state;
    for (size_t k = 0; k < CAIRN_ARRAY_LEN(err_cases); k++) {
        const err_case *c = &err_cases[k];
        cairn_request r;
        cairn_error err = {0};
        size_t len = strlen(c->doc);
        cairn_status st = parse_lim(c->doc, len, 0, 0, &r, &err);
        check_error(c, len, st, &err, &r);
        /* Without an error object the status is the same. */
        assert_int_equal(parse_lim(c->doc, len, 0, 0, &r, NULL), c->code);
    }
}

static void test_request_id_too_long(void **state)
{
    (void)state;
    char doc[512], id[CAIRN_REQUEST_ID_MAX + 2];
    memset(id, 'k', CAIRN_REQUEST_ID_MAX + 1);
    id[CAIRN_REQUEST_ID_MAX + 1] = '\0';
    snprintf(doc, sizeof doc, "{\"instances\":[],\"request_id\":\"%s\"}", id);
    err_case c = {doc, CAIRN_EINPUT, NULL, "request_id"};
    cairn_request r;
    cairn_error err = {0};
    cairn_status st = parse_lim(doc, strlen(doc), 0, 0, &r, &err);
    check_error(&c, strlen(doc), st, &err, &r);
    /* 64 two-byte characters are 128 bytes: fine; one more is not. */
    cairn_buf b;
    cairn_buf_init(&b);
    cairn_buf_puts(&b, "{\"instances\":[],\"request_id\":\"");
    for (int k = 0; k < CAIRN_REQUEST_ID_MAX / 2; k++)
        cairn_buf_puts(&b, "\\u00e9");
    cairn_buf_puts(&b, "\"}");
    parse_ok(b.data, &r);
    assert_int_equal(strlen(r.request_id), CAIRN_REQUEST_ID_MAX);
    cairn_request_reset(&r);
    b.len -= 2;
    cairn_buf_puts(&b, "\xc3\xa9\"}");
    assert_int_equal(parse_lim(b.data, b.len, 0, 0, &r, &err), CAIRN_EINPUT);
    assert_string_equal(err.where, "request_id");
    cairn_buf_reset(&b);
}

/* ---- strings ----------------------------------------------------------------------------- */

static void test_escapes(void **state)
{
    (void)state;
    cairn_request r;
    parse_ok("{\"instances\":[{\"s\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0041\\u00e9\\u20AC"
             "\\ud83d\\ude00\\uD834\\uDD1E\\u0000z\",\"k\\u00e9\\n\":\"\",\"raw\":\"\xc3\xa9\xe2"
             "\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf\xef\xbf\xbf\"}]}",
             &r);
    static const char want[] = "\"\\/\b\f\n\r\tA\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"
                               "\xf0\x9d\x84\x9e\0z";
    assert_str(field(&r, 0, 0), "s", want, sizeof want - 1);
    assert_str(field(&r, 0, 1), "k\xc3\xa9\n", "", 0);
    assert_str(field(&r, 0, 2), "raw",
               "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf\xef\xbf\xbf", 16);
    cairn_request_reset(&r);
}

/* Strings of every length around the eight-byte scanning step, with the special byte at
 * every position, so the word-at-a-time scan is checked against a byte-wise expectation. */
static void test_string_scan_positions(void **state)
{
    (void)state;
    for (size_t n = 0; n < 40; n++) {
        for (size_t k = 0; k <= n; k++) {
            for (int kind = 0; kind < 4; kind++) {
                char s[64];
                memset(s, 'a' + (int)(n % 26), n);
                cairn_buf b;
                cairn_buf_init(&b);
                cairn_buf_puts(&b, "{\"instances\":[{\"v\":\"");
                size_t special_at = b.len + k;
                cairn_buf_append(&b, s, k);
                /* 0: an escaped quote; 1: a raw control byte; 2: a 2-byte character;
                 * 3: a lone continuation byte. */
                static const char *const ins[] = {"\\\"", "\x01", "\xc3\xa9", "\x80"};
                cairn_buf_puts(&b, ins[kind]);
                cairn_buf_append(&b, s, n - k);
                cairn_buf_puts(&b, "\"}]}");
                cairn_request r;
                cairn_error err = {0};
                cairn_status st = parse_lim(b.data, b.len, 0, 0, &r, &err);
                if (kind == 0 || kind == 2) {
                    assert_int_equal(st, CAIRN_OK);
                    const cairn_field *f = field(&r, 0, 0);
                    size_t extra = kind == 0 ? 1 : 2;
                    assert_int_equal(f->str_len, n + extra);
                    assert_memory_equal(f->str, s, k);
                    assert_memory_equal(f->str + k, kind == 0 ? "\"" : "\xc3\xa9", extra);
                    assert_memory_equal(f->str + k + extra, s, n - k);
                    cairn_request_reset(&r);
                } else {
                    char want[48];
                    snprintf(want, sizeof want, "body byte %zu", special_at);
                    assert_int_equal(st, CAIRN_EINPUT);
                    assert_string_equal(err.where, want);
                }
                cairn_buf_reset(&b);
            }
        }
    }
}

static void test_huge_string(void **state)
{
    (void)state;
    size_t n = 10u << 20;
    cairn_buf b;
    cairn_buf_init(&b);
    cairn_buf_puts(&b, "{\"instances\":[{\"blob\":\"");
    size_t start = b.len;
    for (size_t i = 0; i < n; i++)
        cairn_buf_putc(&b, (char)('a' + i % 26));
    cairn_buf_puts(&b, "\\n\"}]}");
    assert_false(b.failed);
    cairn_request r;
    cairn_error err = {0};
    cairn_status st = parse_lim(b.data, b.len, 0, 0, &r, &err);
    assert_int_equal(st, CAIRN_OK);
    const cairn_field *f = field(&r, 0, 0);
    assert_int_equal(f->str_len, n + 1);
    assert_memory_equal(f->str, b.data + start, n);
    assert_int_equal(f->str[n], '\n');
    cairn_request_reset(&r);
    cairn_buf_reset(&b);
}

/* ---- numbers -------------------------------------------------------------------------------- */

static void test_numbers(void **state)
{
    (void)state;
    /* Each literal against the C compiler's correctly rounded reading of the same text. */
    static const struct {
        const char *text;
        double want;
    } cases[] = {
        {"0", 0.0},
        {"-0", -0.0},
        {"-0.0", -0.0},
        {"0.1", 0.1},
        {"-2.5e-3", -2.5e-3},
        {"1E2", 1e2},
        {"1e+2", 1e2},
        {"1e308", 1e308},
        {"1.7976931348623157e308", 1.7976931348623157e308},
        {"-1.7976931348623157e308", -1.7976931348623157e308},
        {"1e-320", 1e-320},
        {"4.9406564584124654e-324", 4.9406564584124654e-324},
        {"2.2250738585072011e-308", 2.2250738585072011e-308},
        {"1e-400", 0.0},
        {"-1e-400", -0.0},
        {"12345678901234567890", 12345678901234567890.0},
        {"9007199254740993", 9007199254740993.0},
        {"123456789012345678901234567890e-10", 123456789012345678901234567890e-10},
        {"0.30000000000000004", 0.30000000000000004},
        {"1e0000000000000000000000001", 10.0},
    };
    for (size_t k = 0; k < CAIRN_ARRAY_LEN(cases); k++) {
        char doc[128];
        snprintf(doc, sizeof doc, "{\"instances\":[{\"x\":%s}]}", cases[k].text);
        cairn_request r;
        parse_ok(doc, &r);
        assert_num(field(&r, 0, 0), "x", cases[k].want);
        cairn_request_reset(&r);
    }
    cairn_request r;
    parse_ok("{\"instances\":[{\"x\":1e-320}]}", &r);
    double v = field(&r, 0, 0)->num;
    assert_true(v > 0 && v < DBL_MIN); /* a subnormal, not flushed */
    cairn_request_reset(&r);

    /* Literals longer than any fixed buffer: 1 then 300 zeros, ".", 200 zeros -> 1e300,
     * and 0.(450 zeros)1 -> 1e-451 rounds to 0, and 1 then 400 zeros is out of range. */
    cairn_buf b;
    cairn_buf_init(&b);
    cairn_buf_puts(&b, "{\"instances\":[{\"x\":1");
    for (int i = 0; i < 300; i++)
        cairn_buf_putc(&b, '0');
    cairn_buf_putc(&b, '.');
    for (int i = 0; i < 200; i++)
        cairn_buf_putc(&b, '0');
    cairn_buf_puts(&b, ",\"y\":0.");
    for (int i = 0; i < 450; i++)
        cairn_buf_putc(&b, '0');
    cairn_buf_puts(&b, "1}]}");
    parse_ok(b.data, &r);
    assert_num(field(&r, 0, 0), "x", 1e300);
    assert_num(field(&r, 0, 1), "y", 0.0);
    cairn_request_reset(&r);
    cairn_buf_reset(&b);
    cairn_buf_puts(&b, "{\"instances\":[{\"x\":1");
    for (int i = 0; i < 400; i++)
        cairn_buf_putc(&b, '0');
    cairn_buf_puts(&b, "}]}");
    cairn_error err = {0};
    assert_int_equal(parse_lim(b.data, b.len, 0, 0, &r, &err), CAIRN_EINPUT);
    assert_string_equal(err.where, "body byte 19");
    cairn_buf_reset(&b);
}

/* ---- nesting --------------------------------------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void test_deep_nesting(void **state)
{
    (void)state;
    /* Where each is refused, for a run of '[' and of '{': a key, or else the byte at
     * prefix length + delta (the first opener that cannot be there). */
    static const struct {
        const char *prefix;
        const char *key[2];
        size_t delta[2];
    } cases[] = {
        {"", {NULL, NULL}, {0, 1}},                       /* not an object; '{' is no name */
        {"{\"instances\":", {NULL, "instances"}, {1, 0}}, /* row 0 is not an object */
        {"{\"instances\":[", {NULL, NULL}, {0, 1}},
        {"{\"instances\":[{\"a\":", {"a", "a"}, {0, 0}}, /* nested value in a row */
        {"{\"inputs\":{\"a\":[", {"a", "a"}, {0, 0}},
        {"{\"inputs\":", {"inputs", NULL}, {0, 1}},
        {"{\"x\":", {"x", "x"}, {0, 0}},                  /* unknown key */
    };
    size_t depth = 100000;
    for (size_t k = 0; k < CAIRN_ARRAY_LEN(cases); k++) {
        for (int brace = 0; brace < 2; brace++) {
            size_t pre = strlen(cases[k].prefix);
            char *doc = malloc(pre + depth);
            assert_non_null(doc);
            memcpy(doc, cases[k].prefix, pre);
            memset(doc + pre, brace ? '{' : '[', depth);
            cairn_request r;
            cairn_error err = {0};
            double t0 = now_s();
            cairn_status st = parse_lim(doc, pre + depth, 0, 0, &r, &err);
            double dt = now_s() - t0;
            assert_int_equal(st, CAIRN_EINPUT);
            char want[48];
            snprintf(want, sizeof want, "body byte %zu", pre + cases[k].delta[brace]);
            const char *w = cases[k].key[brace] ? cases[k].key[brace] : want;
            if (strcmp(err.where, w) != 0)
                fail_msg("case %zu %c: where %s, want %s", k, brace ? '{' : '[', err.where, w);
            assert_true(dt < 0.5); /* a quick refusal, not a walk through every level */
            free(doc);
        }
    }
    /* Nesting that is legal JSON but deeper than a row allows is refused the same way. */
    cairn_request r;
    cairn_error err = {0};
    const char *doc = "{\"instances\":[{\"a\":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]}]}";
    assert_int_equal(parse_lim(doc, strlen(doc), 0, 0, &r, &err), CAIRN_EINPUT);
    assert_string_equal(err.where, "a");
}

/* ---- limits ------------------------------------------------------------------------------------ */

static void test_limits(void **state)
{
    (void)state;
    cairn_request r;
    cairn_error err = {0};
    const char *rows3 = "{\"instances\":[{\"a\":1},{\"a\":2},{\"a\":3}]}";
    assert_int_equal(parse_lim(rows3, strlen(rows3), 3, 0, &r, &err), CAIRN_OK);
    assert_int_equal(r.n_rows, 3);
    cairn_request_reset(&r);
    assert_int_equal(parse_lim(rows3, strlen(rows3), 2, 0, &r, &err), CAIRN_ETOOBIG);
    char want[48];
    snprintf(want, sizeof want, "body byte %zu", (size_t)(strstr(rows3, "{\"a\":3") - rows3));
    assert_string_equal(err.where, want);
    assert_null(r.fields);

    const char *cols3 = "{\"inputs\":{\"a\":[1,2,3],\"b\":[4,5,6]}}";
    assert_int_equal(parse_lim(cols3, strlen(cols3), 3, 2, &r, &err), CAIRN_OK);
    cairn_request_reset(&r);
    assert_int_equal(parse_lim(cols3, strlen(cols3), 2, 0, &r, &err), CAIRN_ETOOBIG);
    snprintf(want, sizeof want, "body byte %zu", (size_t)(strstr(cols3, "3]") - cols3));
    assert_string_equal(err.where, want);
    assert_int_equal(parse_lim(cols3, strlen(cols3), 0, 1, &r, &err), CAIRN_EINPUT);
    snprintf(want, sizeof want, "body byte %zu", (size_t)(strstr(cols3, "\"b\"") - cols3));
    assert_string_equal(err.where, want);

    const char *wide = "{\"instances\":[{\"a\":1,\"b\":2},{\"a\":1,\"b\":2,\"c\":3}]}";
    assert_int_equal(parse_lim(wide, strlen(wide), 0, 3, &r, &err), CAIRN_OK);
    cairn_request_reset(&r);
    assert_int_equal(parse_lim(wide, strlen(wide), 0, 2, &r, &err), CAIRN_EINPUT);
    snprintf(want, sizeof want, "body byte %zu", (size_t)(strstr(wide, "\"c\"") - wide));
    assert_string_equal(err.where, want);

    /* The defaults: 1000 rows pass, 1001 do not; 1000 fields pass, 1001 do not. */
    for (int extra = 0; extra < 2; extra++) {
        cairn_buf b;
        cairn_buf_init(&b);
        cairn_buf_puts(&b, "{\"instances\":[");
        for (int i = 0; i < CAIRN_REQUEST_DEFAULT_MAX_ROWS + extra; i++)
            cairn_buf_puts(&b, i ? ",{}" : "{}");
        cairn_buf_puts(&b, "]}");
        assert_int_equal(parse_lim(b.data, b.len, 0, 0, &r, &err),
                         extra ? CAIRN_ETOOBIG : CAIRN_OK);
        cairn_request_reset(&r);
        cairn_buf_reset(&b);
        cairn_buf_puts(&b, "{\"instances\":[{");
        for (int i = 0; i < CAIRN_REQUEST_DEFAULT_MAX_FIELDS + extra; i++)
            cairn_buf_printf(&b, "%s\"f%d\":%d", i ? "," : "", i, i);
        cairn_buf_puts(&b, "}]}");
        assert_int_equal(parse_lim(b.data, b.len, 0, 0, &r, &err),
                         extra ? CAIRN_EINPUT : CAIRN_OK);
        if (!extra) {
            /* Many distinct keys (the duplicate set grows) keep their order. */
            assert_int_equal(row_len(&r, 0), CAIRN_REQUEST_DEFAULT_MAX_FIELDS);
            for (int i = 0; i < CAIRN_REQUEST_DEFAULT_MAX_FIELDS; i++) {
                char name[16];
                snprintf(name, sizeof name, "f%d", i);
                assert_num(field(&r, 0, (size_t)i), name, (double)i);
            }
        }
        cairn_request_reset(&r);
        cairn_buf_reset(&b);
    }
}

/* A key repeated far apart in a wide row, and the same keys in every row (not duplicates). */
static void test_duplicates_wide(void **state)
{
    (void)state;
    cairn_buf b;
    cairn_buf_init(&b);
    cairn_buf_puts(&b, "{\"instances\":[");
    for (int row = 0; row < 50; row++) {
        cairn_buf_puts(&b, row ? ",{" : "{");
        for (int i = 0; i < 200; i++)
            cairn_buf_printf(&b, "%s\"k%d\":%d", i ? "," : "", i, row);
        cairn_buf_puts(&b, "}");
    }
    size_t ok_len = b.len;
    cairn_buf_puts(&b, "]}");
    cairn_request r;
    parse_ok(b.data, &r);
    assert_int_equal(r.n_rows, 50);
    assert_int_equal(r.row_start[50], 50 * 200);
    cairn_request_reset(&r);
    b.len = ok_len;
    cairn_buf_puts(&b, ",{");
    for (int i = 0; i < 200; i++)
        cairn_buf_printf(&b, "\"k%d\":0,", i);
    cairn_buf_puts(&b, "\"k137\":1}]}");
    cairn_error err = {0};
    assert_int_equal(parse_lim(b.data, b.len, 0, 0, &r, &err), CAIRN_EINPUT);
    assert_string_equal(err.where, "k137");
    cairn_buf_reset(&b);
}

/* ---- allocation failure -------------------------------------------------------------------- */

static void test_alloc_failure(void **state)
{
    (void)state;
    const char *docs[] = {
        "{\"request_id\":\"r\",\"instances\":[{\"a\":1,\"b\":\"x\"},{\"a\":2},{},{},{},{},{},{},{},{"
        "\"c\":null}],\"entity\":5}",
        "{\"inputs\":{\"a\":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20],\"b\":[1,2,3,4,5,"
        "6,7,8,9,10,11,12,13,14,15,16,17,18,19,20]}}",
    };
    for (size_t d = 0; d < CAIRN_ARRAY_LEN(docs); d++) {
        bool done = false;
        for (long n = 1; !done && n < 200; n++) {
            cairn_request r;
            cairn_error err = {0};
            cairn_alloc_fail_after(n, false);
            cairn_status st = parse_lim(docs[d], strlen(docs[d]), 0, 0, &r, &err);
            cairn_alloc_fail_after(0, false);
            if (st == CAIRN_OK) {
                done = true;
                assert_true(r.n_rows == 10 || r.n_rows == 20);
                cairn_request_reset(&r);
            } else {
                assert_int_equal(st, CAIRN_ENOMEM);
                assert_null(r.priv);
            }
        }
        assert_true(done);
    }
}

/* ---- comparison with Python's json module ---------------------------------------------------- */

/* The same reading of a predict body written in Python on top of json.loads: decodes UTF-8
 * strictly, refuses NaN/Infinity, infinite numbers, lone surrogates, duplicate keys, and
 * applies the shape rules. Each input line: hex(doc) TAB C's reading; prints mismatches. */
static const char oracle_py[] =
    "import json, math, sys\n"
    "class Obj(list): pass\n"
    "class Num(float):\n"
    "    pass\n"
    "def num(s):\n"
    "    v = Num(float(s)); v.text = s\n"
    "    if math.isinf(v): raise ValueError('range')\n"
    "    return v\n"
    "def pairs(ps):\n"
    "    if len(set(k for k, _ in ps)) != len(ps): raise ValueError('dup')\n"
    "    return Obj(ps)\n"
    "def const(c): raise ValueError(c)\n"
    "def okstr(s): return not any(0xD800 <= ord(ch) <= 0xDFFF for ch in s)\n"
    "def scalar(x): return x is None or type(x) in (bool, Num, str)\n"
    "def enc(x):\n"
    "    if x is None: return None\n"
    "    if type(x) is bool: return [1, int(x)]\n"
    "    if type(x) is Num: return [2, x]\n"
    "    if not okstr(x): raise ValueError('surrogate')\n"
    "    return [3, x.encode().hex()]\n"
    "def name(k):\n"
    "    if '\\0' in k or not okstr(k): raise ValueError('name')\n"
    "    return k.encode().hex()\n"
    "def read(doc):\n"
    "    try:\n"
    "        v = json.loads(doc.decode('utf-8'), object_pairs_hook=pairs, parse_constant=const,\n"
    "                       parse_float=num, parse_int=num)\n"
    "        if type(v) is not Obj: return None\n"
    "        d = dict(v)\n"
    "        if set(d) - {'instances', 'inputs', 'request_id', 'entity'}: return None\n"
    "        if ('instances' in d) == ('inputs' in d): return None\n"
    "        rows = []\n"
    "        if 'instances' in d:\n"
    "            if type(d['instances']) is not list: return None\n"
    "            for r in d['instances']:\n"
    "                if type(r) is not Obj or not all(scalar(x) for _, x in r): return None\n"
    "                rows.append([[name(k), enc(x)] for k, x in r])\n"
    "        else:\n"
    "            cols = d['inputs']\n"
    "            if type(cols) is not Obj: return None\n"
    "            if not all(type(c) is list and all(scalar(x) for x in c) for _, c in cols): return None\n"
    "            if len(set(len(c) for _, c in cols)) > 1: return None\n"
    "            n = len(cols[0][1]) if cols else 0\n"
    "            rows = [[[name(k), enc(c[i])] for k, c in cols] for i in range(n)]\n"
    "        rid = d.get('request_id')\n"
    "        if 'request_id' in d:\n"
    "            if type(rid) is not str or not okstr(rid): return None\n"
    "            b = rid.encode()\n"
    "            if not 1 <= len(b) <= 128 or any(c < 0x20 or c == 0x7f for c in b): return None\n"
    "            rid = b.hex()\n"
    "        ent = d.get('entity')\n"
    "        if 'entity' in d:\n"
    "            if type(ent) is Num: ent = ent.text.encode().hex()\n"
    "            elif type(ent) is str and okstr(ent) and '\\0' not in ent: ent = ent.encode().hex()\n"
    "            else: return None\n"
    "        return {'rows': rows, 'rid': rid, 'ent': ent}\n"
    "    except (ValueError, RecursionError, UnicodeError):\n"
    "        return None\n"
    "def same(a, b):\n"
    "    if a is None or b is None: return a is b\n"
    "    if a['rid'] != b['rid'] or a['ent'] != b['ent'] or len(a['rows']) != len(b['rows']):\n"
    "        return False\n"
    "    for ra, rb in zip(a['rows'], b['rows']):\n"
    "        if len(ra) != len(rb): return False\n"
    "        for (ka, va), (kb, vb) in zip(ra, rb):\n"
    "            if ka != kb: return False\n"
    "            if va is None or vb is None or va[0] != 2:\n"
    "                if va != vb: return False\n"
    "                continue\n"
    "            x = float.fromhex(vb[1])\n"
    "            if vb[0] != 2 or x != va[1] or math.copysign(1, x) != math.copysign(1, va[1]):\n"
    "                return False\n"
    "    return True\n"
    "bad = 0; n = 0; acc = 0\n"
    "for line in open(sys.argv[1]):\n"
    "    h, c = line.rstrip('\\n').split('\\t')\n"
    "    doc = bytes.fromhex(h); mine = json.loads(c); py = read(doc)\n"
    "    n += 1; acc += py is not None\n"
    "    if not same(py, mine):\n"
    "        bad += 1\n"
    "        if bad <= 10: print('MISMATCH', repr(doc[:200]), 'python:', py, 'C:', c[:300])\n"
    "print('compared', n, 'documents,', acc, 'accepted by Python,', bad, 'mismatches')\n"
    "sys.exit(1 if bad else 0)\n";

static void hex_into(cairn_buf *b, const char *s, size_t n)
{
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        cairn_buf_putc(b, hx[(unsigned char)s[i] >> 4]);
        cairn_buf_putc(b, hx[(unsigned char)s[i] & 15]);
    }
}

/* C's reading of doc as one line: hex(doc) TAB JSON ({"rows":..,"rid":..,"ent":..} or null). */
static void oracle_line(cairn_buf *out, const char *doc, size_t len)
{
    hex_into(out, doc, len);
    cairn_buf_putc(out, '\t');
    cairn_request r;
    cairn_status st = parse_lim(doc, len, 0, 0, &r, NULL);
    if (st != CAIRN_OK) {
        assert_true(st == CAIRN_EINPUT || st == CAIRN_ETOOBIG);
        cairn_buf_puts(out, "null\n");
        return;
    }
    cairn_buf_puts(out, "{\"rows\":[");
    for (size_t i = 0; i < r.n_rows; i++) {
        cairn_buf_puts(out, i ? ",[" : "[");
        for (size_t k = r.row_start[i]; k < r.row_start[i + 1]; k++) {
            const cairn_field *f = &r.fields[k];
            cairn_buf_puts(out, k > r.row_start[i] ? ",[\"" : "[\"");
            hex_into(out, f->name, strlen(f->name));
            cairn_buf_puts(out, "\",");
            switch (f->kind) {
            case CAIRN_VALUE_NULL: cairn_buf_puts(out, "null"); break;
            case CAIRN_VALUE_BOOL: cairn_buf_printf(out, "[1,%d]", f->b); break;
            case CAIRN_VALUE_NUMBER: cairn_buf_printf(out, "[2,\"%a\"]", f->num); break;
            default:
                cairn_buf_puts(out, "[3,\"");
                hex_into(out, f->str, f->str_len);
                cairn_buf_puts(out, "\"]");
            }
            cairn_buf_putc(out, ']');
        }
        cairn_buf_putc(out, ']');
    }
    cairn_buf_puts(out, "],\"rid\":");
    const char *const texts[2] = {r.request_id, r.entity};
    for (int k = 0; k < 2; k++) {
        if (k)
            cairn_buf_puts(out, ",\"ent\":");
        if (!texts[k]) {
            cairn_buf_puts(out, "null");
            continue;
        }
        cairn_buf_putc(out, '"');
        hex_into(out, texts[k], strlen(texts[k]));
        cairn_buf_putc(out, '"');
    }
    cairn_buf_puts(out, "}\n");
    cairn_request_reset(&r);
}

static const char *const tricky_docs[] = {
    "{\"instances\":[{\"a\":1,\"b\":\"x\"}]}",
    " {\"instances\" : [ { \"a\" : -0 , \"b\" : 1e-320 } ] } ",
    "{\"instances\":[{\"a\":0.1,\"b\":12345678901234567890,\"c\":9007199254740993}]}",
    "{\"instances\":[{\"a\":1e308,\"b\":1e309}]}",
    "{\"instances\":[{\"a\":-1e400}]}",
    "{\"instances\":[{\"a\":1e-400}]}",
    "{\"instances\":[{\"a\":1.7976931348623158e308}]}",
    "{\"instances\":[{\"a\":1.7976931348623159e308}]}",
    "{\"instances\":[{\"a\":NaN}]}",
    "{\"instances\":[{\"a\":-Infinity}]}",
    "{\"instances\":[{\"a\":01}]}",
    "{\"instances\":[{\"a\":1.}]}",
    "{\"instances\":[{\"a\":.1}]}",
    "{\"instances\":[{\"a\":1,}]}",
    "{\"instances\":[{\"a\":1}],}",
    "{\"instances\":[{\"a\":\"\\ud83d\\ude00\\u00e9\\u0000\"}]}",
    "{\"instances\":[{\"a\":\"\\ud83d\"}]}",
    "{\"instances\":[{\"a\":\"\\ude00\"}]}",
    "{\"instances\":[{\"a\":\"\\ud83dx\"}]}",
    "{\"instances\":[{\"a\":\"\xed\xa0\xbd\"}]}",
    "{\"instances\":[{\"a\":\"\xc0\xaf\"}]}",
    "{\"instances\":[{\"a\":\"\xf4\x90\x80\x80\"}]}",
    "{\"instances\":[{\"a\":\"\xf0\x9f\x98\"}]}",
    "{\"instances\":[{\"a\":\"tab\there\"}]}",
    "{\"instances\":[{\"a\":\"\\/\\b\\f\\n\\r\\t\\\"\\\\\"}]}",
    "{\"instances\":[{\"a\":1,\"a\":2}]}",
    "{\"instances\":[{\"a\":1,\"\\u0061\":2}]}",
    "{\"instances\":[{\"a\":1},{\"a\":2}]}",
    "{\"instances\":[{\"a\":[1]}]}",
    "{\"instances\":[[]]}",
    "{\"instances\":[]}",
    "{\"inputs\":{}}",
    "{\"inputs\":{\"a\":[1,2],\"b\":[\"x\",null]}}",
    "{\"inputs\":{\"a\":[1,2],\"b\":[\"x\"]}}",
    "{\"inputs\":{\"a\":[],\"b\":[]}}",
    "{\"inputs\":{\"a\":[1],\"a\":[2]}}",
    "{\"instances\":[],\"inputs\":{}}",
    "{\"instances\":[],\"request_id\":\"\"}",
    "{\"instances\":[],\"request_id\":\"\\u001f\"}",
    "{\"instances\":[],\"request_id\":\"\\u00e9x\"}",
    "{\"instances\":[],\"entity\":-1.50E+3}",
    "{\"instances\":[],\"entity\":1e400}",
    "{\"instances\":[],\"entity\":\"\\u0000\"}",
    "{\"instances\":[],\"entity\":null}",
    "{\"instances\":[],\"x\":1}",
    "{\"instances\":[]} ",
    "{\"instances\":[]}x",
    "\xef\xbb\xbf{\"instances\":[]}",
    "{\"instances\":[]",
    "[]",
    "",
    "{\"instances\":[{\"\":true,\" \":false}]}",
    "{\"instances\":[{\"a\":\"\\u0041\\u00E9\\u20ac\"}]}",
    "{\"instances\":[{\"a\":\"\\u00g1\"}]}",
    "{\"instances\":[{\"a\":1E+2,\"b\":1e-0,\"c\":0e5,\"d\":-0.0e-0}]}",
    "{\"instances\":[{\"a\":2.2250738585072011e-308,\"b\":4.9e-324,\"c\":2e-324}]}",
};

/* Random documents from a small grammar of predict bodies, half of them with one or two
 * bytes mutated, so that both readers see plenty of near-misses. */
static void gen_scalar(cairn_rng *g, cairn_buf *b)
{
    static const char *const nums[] = {
        "0", "-0", "1", "-1", "0.5", "1e3", "1E-3", "-2.5e+10", "1e308", "1e309", "5e-324",
        "2e-324", "123456789012345678901234567890", "0.1", "1.0", "01", "1.", ".5", "-",
        "1e", "+1", "0x1F", "1e-400"};
    static const char *const strs[] = {
        "\"\"", "\"abc\"", "\"\\u00e9\"", "\"\\ud83d\\ude00\"", "\"\\ud83d\"", "\"\\udc00\"",
        "\"\\n\\t\\\"\\\\\\/\"", "\"\xc3\xa9\"", "\"\xe2\x82\xac\"", "\"\xf0\x9f\x98\x80\"",
        "\"\xc0\x80\"", "\"\xed\xa0\x80\"", "\"\x7f\"", "\"\\u0000\"", "\"\\x\"", "\"a\tb\""};
    static const char *const lits[] = {"true", "false", "null", "tru", "NaN", "Infinity", "[1]",
                                       "{}"};
    uint64_t k = cairn_rng_below(g, 3);
    if (k == 0)
        cairn_buf_puts(b, nums[cairn_rng_below(g, CAIRN_ARRAY_LEN(nums))]);
    else if (k == 1)
        cairn_buf_puts(b, strs[cairn_rng_below(g, CAIRN_ARRAY_LEN(strs))]);
    else
        cairn_buf_puts(b, lits[cairn_rng_below(g, CAIRN_ARRAY_LEN(lits))]);
}

static void gen_ws(cairn_rng *g, cairn_buf *b)
{
    static const char *const ws[] = {"", "", "", " ", "\n", "\t", "\r\n "};
    cairn_buf_puts(b, ws[cairn_rng_below(g, CAIRN_ARRAY_LEN(ws))]);
}

static void gen_name(cairn_rng *g, cairn_buf *b)
{
    static const char *const names[] = {"\"a\"", "\"b\"", "\"c\"", "\"\\u0061\"", "\"\"",
                                        "\"\xc3\xa9\"", "\"\\u00e9\""};
    cairn_buf_puts(b, names[cairn_rng_below(g, CAIRN_ARRAY_LEN(names))]);
}

static void gen_doc(cairn_rng *g, cairn_buf *b)
{
    cairn_buf_putc(b, '{');
    gen_ws(g, b);
    if (cairn_rng_below(g, 4) == 0) {
        cairn_buf_puts(b, "\"request_id\":");
        gen_scalar(g, b);
        cairn_buf_putc(b, ',');
    }
    if (cairn_rng_below(g, 2)) {
        cairn_buf_puts(b, "\"instances\":[");
        uint64_t rows = cairn_rng_below(g, 4);
        for (uint64_t i = 0; i < rows; i++) {
            cairn_buf_puts(b, i ? ",{" : "{");
            uint64_t nf = cairn_rng_below(g, 4);
            for (uint64_t k = 0; k < nf; k++) {
                if (k)
                    cairn_buf_putc(b, ',');
                gen_ws(g, b);
                gen_name(g, b);
                cairn_buf_putc(b, ':');
                gen_ws(g, b);
                gen_scalar(g, b);
            }
            cairn_buf_putc(b, '}');
        }
        cairn_buf_putc(b, ']');
    } else {
        cairn_buf_puts(b, "\"inputs\":{");
        uint64_t nc = cairn_rng_below(g, 4), n = cairn_rng_below(g, 4);
        for (uint64_t c = 0; c < nc; c++) {
            if (c)
                cairn_buf_putc(b, ',');
            gen_name(g, b);
            cairn_buf_puts(b, ":[");
            uint64_t m = cairn_rng_below(g, 8) == 0 ? n + 1 : n;
            for (uint64_t i = 0; i < m; i++) {
                if (i)
                    cairn_buf_putc(b, ',');
                gen_scalar(g, b);
            }
            cairn_buf_putc(b, ']');
        }
        cairn_buf_putc(b, '}');
    }
    if (cairn_rng_below(g, 4) == 0) {
        cairn_buf_puts(b, ",\"entity\":");
        gen_scalar(g, b);
    }
    gen_ws(g, b);
    cairn_buf_putc(b, '}');
    gen_ws(g, b);
    /* Mutations: replace, insert or delete a byte. */
    static const char pool[] = "{}[],:\"\\ 0-e.ntfu\x80\xc3\x01";
    uint64_t muts = cairn_rng_below(g, 2) ? 0 : 1 + cairn_rng_below(g, 2);
    for (uint64_t m = 0; m < muts && b->len > 0; m++) {
        size_t at = (size_t)cairn_rng_below(g, b->len);
        char c = pool[cairn_rng_below(g, sizeof pool - 1)];
        uint64_t op = cairn_rng_below(g, 3);
        if (op == 0) {
            b->data[at] = c;
        } else if (op == 1) {
            cairn_buf_putc(b, 0);
            memmove(b->data + at + 1, b->data + at, b->len - 1 - at);
            b->data[at] = c;
        } else {
            memmove(b->data + at, b->data + at + 1, b->len - at - 1);
            b->len--;
        }
    }
}

static void test_python_agrees(void **state)
{
    (void)state;
    if (access("/usr/bin/python3", X_OK) != 0) {
        print_message("skipped: /usr/bin/python3 is unavailable\n");
        skip();
    }
    const char *tmp = getenv("CAIRN_TEST_TMP");
    char dir[512];
    snprintf(dir, sizeof dir, "%s/request-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(dir));
    char script[600], data[600], cmd[1400];
    snprintf(script, sizeof script, "%s/oracle.py", dir);
    snprintf(data, sizeof data, "%s/docs.txt", dir);
    FILE *f = fopen(script, "w");
    assert_non_null(f);
    fputs(oracle_py, f);
    fclose(f);

    cairn_buf lines;
    cairn_buf_init(&lines);
    for (size_t k = 0; k < CAIRN_ARRAY_LEN(tricky_docs); k++)
        oracle_line(&lines, tricky_docs[k], strlen(tricky_docs[k]));
    cairn_rng g;
    cairn_rng_init(&g, 20240611);
    for (int k = 0; k < 4000; k++) {
        cairn_buf doc;
        cairn_buf_init(&doc);
        gen_doc(&g, &doc);
        oracle_line(&lines, doc.data, doc.len);
        cairn_buf_reset(&doc);
    }
    assert_false(lines.failed);
    f = fopen(data, "w");
    assert_non_null(f);
    fwrite(lines.data, 1, lines.len, f);
    fclose(f);
    cairn_buf_reset(&lines);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' '%s'", script, data);
    int rc = system(cmd);
    remove(script);
    remove(data);
    rmdir(dir);
    assert_int_equal(rc, 0);
}

/* ---- a micro-benchmark (printed only) --------------------------------------------------------- */

static void test_bench_single_row(void **state)
{
    (void)state;
    const char *doc =
        "{\"request_id\":\"3f2a9c1e-7d4b-4e8a-9b1c-2d3e4f5a6b7c\",\"entity\":\"7590-VHVEG\","
        "\"instances\":[{\"gender\":\"Female\",\"SeniorCitizen\":0,\"Partner\":\"Yes\","
        "\"Dependents\":\"No\",\"tenure\":1,\"PhoneService\":\"No\",\"MultipleLines\":\"No phone "
        "service\",\"InternetService\":\"DSL\",\"OnlineSecurity\":\"No\",\"OnlineBackup\":\"Yes\","
        "\"DeviceProtection\":\"No\",\"TechSupport\":\"No\",\"StreamingTV\":\"No\","
        "\"StreamingMovies\":\"No\",\"Contract\":\"Month-to-month\",\"PaperlessBilling\":true,"
        "\"PaymentMethod\":\"Electronic check\",\"MonthlyCharges\":29.85,\"TotalCharges\":29.85,"
        "\"churn_score_prev\":null}]}";
    size_t len = strlen(doc);
    int iters = 20000;
    double best = 1e9;
    for (int round = 0; round < 5; round++) {
        double t0 = now_s();
        for (int i = 0; i < iters; i++) {
            cairn_request r = {0};
            cairn_status st = cairn_request_parse(doc, len, NULL, &r, NULL);
            assert_int_equal(st, CAIRN_OK);
            cairn_request_reset(&r);
        }
        double per = (now_s() - t0) / iters * 1e6;
        if (per < best)
            best = per;
    }
    print_message("single-row body (%zu bytes, 20 fields): %.2f us per parse (best of 5)\n", len,
                  best);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_instances),
        cmocka_unit_test(test_inputs),
        cmocka_unit_test(test_empty_shapes),
        cmocka_unit_test(test_request_id_and_entity),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_request_id_too_long),
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_string_scan_positions),
        cmocka_unit_test(test_huge_string),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_duplicates_wide),
        cmocka_unit_test(test_alloc_failure),
        cmocka_unit_test(test_python_agrees),
        cmocka_unit_test(test_bench_single_row),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
