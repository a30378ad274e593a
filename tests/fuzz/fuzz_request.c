/*
 * fuzz_request.c -- libFuzzer target for the predict body parser: any bytes
 * must give a request or a clean EINPUT/ETOOBIG, never a crash, hang, leak or
 * read past the body. The first byte picks small row and field limits (or the
 * defaults), so the limit paths are reached too. For every body that parses,
 * the result is checked for its invariants -- row offsets start at 0, never
 * decrease, end at the field count, respect the limits; every name and string
 * lies inside the request's arena (documented in request.c as len + 2 bytes
 * at priv), is NUL-terminated and valid UTF-8; names are unique in a row;
 * numbers are finite -- and then written back as {"instances": ...} JSON and
 * parsed again, which must give the same rows bit for bit.
 */
#include "core/core.h"
#include "serve/serve.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                            \
    do {                                                                                       \
        if (!(cond))                                                                           \
            abort();                                                                           \
    } while (0)

static void check_text(const char *arena, size_t cap, const char *s, size_t n)
{
    CHECK(s >= arena && n < cap && (size_t)(s - arena) <= cap - n - 1);
    CHECK(s[n] == '\0');
    CHECK(cairn_utf8_invalid_at(s, n) == n);
}

static void check_invariants(const cairn_request *r, size_t len, const cairn_request_limits *lim)
{
    const char *arena = r->priv;
    size_t cap = len + 2;
    CHECK(arena != NULL && r->row_start != NULL);
    CHECK(r->n_rows <= (lim->max_rows ? lim->max_rows : CAIRN_REQUEST_DEFAULT_MAX_ROWS));
    size_t max_fields = lim->max_fields ? lim->max_fields : CAIRN_REQUEST_DEFAULT_MAX_FIELDS;
    CHECK(r->row_start[0] == 0);
    for (size_t i = 0; i < r->n_rows; i++) {
        size_t a = r->row_start[i], b = r->row_start[i + 1];
        CHECK(a <= b && b - a <= max_fields);
        for (size_t k = a; k < b; k++) {
            const cairn_field *f = &r->fields[k];
            check_text(arena, cap, f->name, strlen(f->name));
            for (size_t j = a; j < k; j++)
                CHECK(strcmp(r->fields[j].name, f->name) != 0);
            switch (f->kind) {
            case CAIRN_VALUE_NULL: break;
            case CAIRN_VALUE_BOOL: CHECK(f->b == 0 || f->b == 1); break;
            case CAIRN_VALUE_NUMBER: CHECK(isfinite(f->num)); break;
            case CAIRN_VALUE_STRING: check_text(arena, cap, f->str, f->str_len); break;
            default: CHECK(0);
            }
        }
    }
    if (r->request_id) {
        size_t n = strlen(r->request_id);
        CHECK(n >= 1 && n <= CAIRN_REQUEST_ID_MAX);
        check_text(arena, cap, r->request_id, n);
    }
    if (r->entity)
        check_text(arena, cap, r->entity, strlen(r->entity));
}

/* Writes r back as an instances body (the entity as a string: its text is kept either way). */
static void write_back(const cairn_request *r, cairn_buf *b)
{
    cairn_buf_puts(b, "{\"instances\":[");
    for (size_t i = 0; i < r->n_rows; i++) {
        cairn_buf_puts(b, i ? ",{" : "{");
        for (size_t k = r->row_start[i]; k < r->row_start[i + 1]; k++) {
            const cairn_field *f = &r->fields[k];
            if (k > r->row_start[i])
                cairn_buf_putc(b, ',');
            cairn_buf_put_json_string(b, f->name, strlen(f->name));
            cairn_buf_putc(b, ':');
            switch (f->kind) {
            case CAIRN_VALUE_NULL: cairn_buf_puts(b, "null"); break;
            case CAIRN_VALUE_BOOL: cairn_buf_puts(b, f->b ? "true" : "false"); break;
            case CAIRN_VALUE_NUMBER: cairn_buf_put_double(b, f->num); break;
            default: cairn_buf_put_json_string(b, f->str, f->str_len);
            }
        }
        cairn_buf_putc(b, '}');
    }
    cairn_buf_putc(b, ']');
    if (r->request_id) {
        cairn_buf_puts(b, ",\"request_id\":");
        cairn_buf_put_json_string(b, r->request_id, strlen(r->request_id));
    }
    if (r->entity) {
        cairn_buf_puts(b, ",\"entity\":");
        cairn_buf_put_json_string(b, r->entity, strlen(r->entity));
    }
    cairn_buf_putc(b, '}');
}

static void check_same(const cairn_request *a, const cairn_request *b)
{
    CHECK(a->n_rows == b->n_rows);
    for (size_t i = 0; i <= a->n_rows; i++)
        CHECK(a->row_start[i] == b->row_start[i]);
    for (size_t k = 0; k < a->row_start[a->n_rows]; k++) {
        const cairn_field *x = &a->fields[k], *y = &b->fields[k];
        CHECK(strcmp(x->name, y->name) == 0 && x->kind == y->kind);
        if (x->kind == CAIRN_VALUE_BOOL)
            CHECK(x->b == y->b);
        else if (x->kind == CAIRN_VALUE_NUMBER)
            CHECK(memcmp(&x->num, &y->num, sizeof x->num) == 0);
        else if (x->kind == CAIRN_VALUE_STRING)
            CHECK(x->str_len == y->str_len && memcmp(x->str, y->str, x->str_len) == 0);
    }
    CHECK((a->request_id == NULL) == (b->request_id == NULL));
    CHECK(!a->request_id || strcmp(a->request_id, b->request_id) == 0);
    CHECK((a->entity == NULL) == (b->entity == NULL));
    CHECK(!a->entity || strcmp(a->entity, b->entity) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    cairn_request_limits lim = {0, 0};
    if (data[0] & 0x80) {
        lim.max_rows = 1 + (data[0] & 0x07);
        lim.max_fields = 1 + (data[0] >> 3 & 0x07);
    }
    /* An exactly sized copy: a read past the end is caught by the sanitizer. */
    size_t n = size - 1;
    char *copy = malloc(n ? n : 1);
    if (!copy)
        return 0;
    memcpy(copy, data + 1, n);
    cairn_request r;
    memset(&r, 0, sizeof r);
    cairn_error err = {0};
    cairn_status st = cairn_request_parse(copy, n, &lim, &r, &err);
    if (st == CAIRN_OK) {
        check_invariants(&r, n, &lim);
        cairn_buf b;
        cairn_buf_init(&b);
        write_back(&r, &b);
        CHECK(!b.failed);
        cairn_request again;
        memset(&again, 0, sizeof again);
        CHECK(cairn_request_parse(b.data, b.len, &lim, &again, NULL) == CAIRN_OK);
        check_same(&r, &again);
        cairn_request_reset(&again);
        cairn_buf_reset(&b);
    } else {
        CHECK(st == CAIRN_EINPUT || st == CAIRN_ETOOBIG || st == CAIRN_ENOMEM);
        CHECK(err.code == st && err.msg[0] != '\0');
        CHECK(st == CAIRN_ENOMEM || err.where[0] != '\0');
        CHECK(r.fields == NULL && r.row_start == NULL && r.priv == NULL);
    }
    cairn_request_reset(&r);
    free(copy);
    return 0;
}
