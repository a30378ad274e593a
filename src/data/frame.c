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
    cairn_free(d->hashes);
    cairn_free(d->index);
    memset(d, 0, sizeof *d);
}

uint64_t cairn_dict_hash(const char *s, size_t n) { return cairn_hash64(s, n, DICT_SEED); }

static inline uint64_t slot_of(uint64_t hash, uint32_t code)
{
    return (hash & 0xFFFFFFFF00000000ull) | ((uint64_t)code + 1);
}

static bool dict_rehash(cairn_dict *d, uint32_t cap)
{
    uint64_t *idx = cairn_calloc(cap, sizeof *idx);
    if (!idx)
        return false;
    for (uint32_t code = 0; code < d->n; code++) {
        uint64_t h = d->hashes[code];
        uint32_t slot = (uint32_t)h & (cap - 1);
        while (idx[slot])
            slot = (slot + 1) & (cap - 1);
        idx[slot] = slot_of(h, code);
    }
    cairn_free(d->index);
    d->index = idx;
    d->index_cap = cap;
    return true;
}

/* Probes for s; returns the slot holding it (true) or the empty slot where it goes (false). */
static inline bool probe(const cairn_dict *d, const char *s, size_t n, uint64_t h, uint32_t *slot_out)
{
    uint32_t mask = d->index_cap - 1;
    uint32_t slot = (uint32_t)h & mask;
    uint64_t tag = h & 0xFFFFFFFF00000000ull;
    for (;;) {
        uint64_t e = d->index[slot];
        if (!e) {
            *slot_out = slot;
            return false;
        }
        if ((e & 0xFFFFFFFF00000000ull) == tag) {
            uint32_t c = (uint32_t)e - 1;
            if (d->lens[c] == n && memcmp(d->bytes + d->offs[c], s, n) == 0) {
                *slot_out = slot;
                return true;
            }
        }
        slot = (slot + 1) & mask;
    }
}

bool cairn_dict_find(const cairn_dict *d, const char *s, size_t n, uint32_t *code)
{
    if (!d->index_cap)
        return false;
    uint32_t slot;
    if (!probe(d, s, n, cairn_dict_hash(s, n), &slot))
        return false;
    *code = (uint32_t)d->index[slot] - 1;
    return true;
}

static bool grow_entries(cairn_dict *d, uint32_t cap)
{
    uint64_t *offs = cairn_reallocarray(d->offs, cap, sizeof *offs);
    if (!offs)
        return false;
    d->offs = offs;
    uint32_t *lens = cairn_reallocarray(d->lens, cap, sizeof *lens);
    if (!lens)
        return false;
    d->lens = lens;
    uint64_t *hashes = cairn_reallocarray(d->hashes, cap, sizeof *hashes);
    if (!hashes)
        return false;
    d->hashes = hashes;
    d->offs_cap = cap;
    return true;
}

static bool grow_bytes(cairn_dict *d, size_t need)
{
    if (need <= d->bytes_cap)
        return true;
    size_t cap = d->bytes_cap ? d->bytes_cap : 256;
    while (cap < need)
        cap *= 2;
    char *b = cairn_realloc(d->bytes, cap);
    if (!b)
        return false;
    d->bytes = b;
    d->bytes_cap = cap;
    return true;
}

cairn_status cairn_dict_reserve(cairn_dict *d, uint32_t n_strings, size_t bytes_total)
{
    if (n_strings >= (1u << 30))
        return CAIRN_ETOOBIG;
    if (n_strings > d->offs_cap && !grow_entries(d, n_strings))
        return CAIRN_ENOMEM;
    uint32_t cap = d->index_cap ? d->index_cap : 64;
    while ((uint64_t)n_strings * 2 > cap)
        cap *= 2;
    if (cap > d->index_cap && !dict_rehash(d, cap))
        return CAIRN_ENOMEM;
    if (!grow_bytes(d, bytes_total))
        return CAIRN_ENOMEM;
    return CAIRN_OK;
}

cairn_status cairn_dict_intern_hashed(cairn_dict *d, const char *s, size_t n, uint64_t h,
                                      uint32_t *code)
{
    uint32_t slot = 0;
    if (d->index_cap && probe(d, s, n, h, &slot)) {
        *code = (uint32_t)d->index[slot] - 1;
        return CAIRN_OK;
    }
    if (d->n >= (1u << 31))
        return CAIRN_ETOOBIG;
    if ((uint64_t)(d->n + 1) * 2 > d->index_cap) {
        if (!dict_rehash(d, d->index_cap ? d->index_cap * 2 : 64))
            return CAIRN_ENOMEM;
        probe(d, s, n, h, &slot);
    }
    if (d->n == d->offs_cap && !grow_entries(d, d->offs_cap ? d->offs_cap * 2 : 32))
        return CAIRN_ENOMEM;
    if (!grow_bytes(d, d->bytes_len + n + 1))
        return CAIRN_ENOMEM;
    memcpy(d->bytes + d->bytes_len, s, n);
    d->bytes[d->bytes_len + n] = '\0';
    uint32_t c = d->n++;
    d->offs[c] = d->bytes_len;
    d->lens[c] = (uint32_t)n;
    d->hashes[c] = h;
    d->bytes_len += n + 1;
    d->index[slot] = slot_of(h, c);
    *code = c;
    return CAIRN_OK;
}

cairn_status cairn_dict_intern(cairn_dict *d, const char *s, size_t n, uint32_t *code)
{
    return cairn_dict_intern_hashed(d, s, n, cairn_dict_hash(s, n), code);
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
