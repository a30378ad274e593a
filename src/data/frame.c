/*
 * frame.c -- the column frame containers and the string dictionary
 * (open addressing, linear probing, xxh3 hashes; strings stored back to back).
 */
#include "data/frame.h"

#include <stdio.h>
#include <string.h>

#define DICT_SEED 0x63616972u /* fixed: dictionaries are deterministic */

void cairn_dict_init(cairn_dict *d) { memset(d, 0, sizeof *d); }

void cairn_dict_reset(cairn_dict *d)
{
    cairn_free(d->bytes);
    cairn_free(d->offs);
    cairn_free(d->lens);
    cairn_free(d->index);
    memset(d, 0, sizeof *d);
}

static bool dict_rehash(cairn_dict *d, uint32_t cap)
{
    uint32_t *idx = cairn_calloc(cap, sizeof *idx);
    if (!idx)
        return false;
    for (uint32_t code = 0; code < d->n; code++) {
        uint64_t h = cairn_hash64(d->bytes + d->offs[code], d->lens[code], DICT_SEED);
        uint32_t slot = (uint32_t)h & (cap - 1);
        while (idx[slot])
            slot = (slot + 1) & (cap - 1);
        idx[slot] = code + 1;
    }
    cairn_free(d->index);
    d->index = idx;
    d->index_cap = cap;
    return true;
}

bool cairn_dict_find(const cairn_dict *d, const char *s, size_t n, uint32_t *code)
{
    if (!d->index_cap)
        return false;
    uint64_t h = cairn_hash64(s, n, DICT_SEED);
    uint32_t slot = (uint32_t)h & (d->index_cap - 1);
    for (;;) {
        uint32_t c = d->index[slot];
        if (!c)
            return false;
        c--;
        if (d->lens[c] == n && memcmp(d->bytes + d->offs[c], s, n) == 0) {
            *code = c;
            return true;
        }
        slot = (slot + 1) & (d->index_cap - 1);
    }
}

cairn_status cairn_dict_intern(cairn_dict *d, const char *s, size_t n, uint32_t *code)
{
    if (cairn_dict_find(d, s, n, code))
        return CAIRN_OK;
    if (d->n >= (1u << 31))
        return CAIRN_ETOOBIG;
    if ((uint64_t)(d->n + 1) * 2 > d->index_cap) {
        uint32_t cap = d->index_cap ? d->index_cap * 2 : 64;
        if (!dict_rehash(d, cap))
            return CAIRN_ENOMEM;
    }
    if (d->n == d->offs_cap) {
        uint32_t cap = d->offs_cap ? d->offs_cap * 2 : 32;
        uint64_t *offs = cairn_reallocarray(d->offs, cap, sizeof *offs);
        if (!offs)
            return CAIRN_ENOMEM;
        d->offs = offs;
        uint32_t *lens = cairn_reallocarray(d->lens, cap, sizeof *lens);
        if (!lens)
            return CAIRN_ENOMEM;
        d->lens = lens;
        d->offs_cap = cap;
    }
    if (d->bytes_len + n + 1 > d->bytes_cap) {
        size_t cap = d->bytes_cap ? d->bytes_cap : 256;
        while (cap < d->bytes_len + n + 1)
            cap *= 2;
        char *b = cairn_realloc(d->bytes, cap);
        if (!b)
            return CAIRN_ENOMEM;
        d->bytes = b;
        d->bytes_cap = cap;
    }
    memcpy(d->bytes + d->bytes_len, s, n);
    d->bytes[d->bytes_len + n] = '\0';
    uint32_t c = d->n++;
    d->offs[c] = d->bytes_len;
    d->lens[c] = (uint32_t)n;
    d->bytes_len += n + 1;
    uint64_t h = cairn_hash64(s, n, DICT_SEED);
    uint32_t slot = (uint32_t)h & (d->index_cap - 1);
    while (d->index[slot])
        slot = (slot + 1) & (d->index_cap - 1);
    d->index[slot] = c + 1;
    *code = c;
    return CAIRN_OK;
}

size_t cairn_type_size(cairn_type t)
{
    switch (t) {
    case CAIRN_TYPE_BOOL: return 1;
    case CAIRN_TYPE_STRING: return 4;
    case CAIRN_TYPE_INT64:
    case CAIRN_TYPE_FLOAT64:
    case CAIRN_TYPE_TIMESTAMP: return 8;
    default: return 0;
    }
}

cairn_type cairn_type_parse(const char *s)
{
    for (int t = CAIRN_TYPE_BOOL; t <= CAIRN_TYPE_STRING; t++)
        if (strcmp(s, cairn_type_name((cairn_type)t)) == 0)
            return (cairn_type)t;
    return CAIRN_TYPE_NONE;
}

cairn_status cairn_frame_new(size_t n_cols, cairn_frame **out, cairn_error *err)
{
    *out = NULL;
    cairn_frame *f = cairn_calloc(1, sizeof *f);
    if (!f)
        return cairn_error_set(err, CAIRN_ENOMEM, NULL, "out of memory");
    f->cols = cairn_calloc(n_cols ? n_cols : 1, sizeof *f->cols);
    if (!f->cols) {
        cairn_free(f);
        return cairn_error_set(err, CAIRN_ENOMEM, NULL, "out of memory");
    }
    f->n_cols = n_cols;
    *out = f;
    return CAIRN_OK;
}

void cairn_column_reset(cairn_column *c)
{
    cairn_free(c->name);
    cairn_free(c->valid);
    cairn_free(c->v.raw);
    cairn_dict_reset(&c->dict);
    memset(c, 0, sizeof *c);
}

void cairn_frame_free(cairn_frame *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n_cols; i++)
        cairn_column_reset(&f->cols[i]);
    cairn_free(f->cols);
    cairn_free(f);
}

cairn_status cairn_column_alloc(cairn_column *c, const char *name, cairn_type type, size_t n_rows,
                                cairn_error *err)
{
    cairn_column_reset(c);
    c->name = cairn_strdup(name ? name : "");
    c->type = type;
    c->n_rows = n_rows;
    c->valid = cairn_calloc(n_rows ? n_rows : 1, 1);
    c->v.raw = cairn_calloc(n_rows ? n_rows : 1, cairn_type_size(type));
    if (!c->name || !c->valid || !c->v.raw) {
        cairn_column_reset(c);
        return cairn_error_set(err, CAIRN_ENOMEM, name, "out of memory allocating a column");
    }
    return CAIRN_OK;
}

long cairn_frame_find(const cairn_frame *f, const char *name)
{
    for (size_t i = 0; i < f->n_cols; i++)
        if (f->cols[i].name && strcmp(f->cols[i].name, name) == 0)
            return (long)i;
    return -1;
}

void cairn_column_value_text(const cairn_column *c, size_t row, cairn_buf *b)
{
    if (row >= c->n_rows || !c->valid[row])
        return;
    char tmp[48];
    switch (c->type) {
    case CAIRN_TYPE_BOOL: cairn_buf_puts(b, c->v.b[row] ? "true" : "false"); break;
    case CAIRN_TYPE_INT64: cairn_buf_printf(b, "%lld", (long long)c->v.i64[row]); break;
    case CAIRN_TYPE_FLOAT64: cairn_buf_put_double(b, c->v.f64[row]); break;
    case CAIRN_TYPE_TIMESTAMP:
        cairn_fmt_timestamp(tmp, sizeof tmp, c->v.i64[row]);
        cairn_buf_puts(b, tmp);
        break;
    case CAIRN_TYPE_STRING:
        cairn_buf_append(b, cairn_dict_str(&c->dict, c->v.codes[row]),
                         cairn_dict_len(&c->dict, c->v.codes[row]));
        break;
    default: break;
    }
}
