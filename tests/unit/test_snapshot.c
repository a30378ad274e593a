/*
 * test_snapshot.c -- the snapshot format (src/data/snapshot.c).
 *
 * The reference for the layout is an independent writer in this file, built
 * directly on libzstd, libxxhash and libsodium from the field list in
 * snapshot.h: the library's encoder must produce exactly its bytes, and the
 * decoder must refuse every malformed file the writer can be told to produce
 * (with a valid checksum, so the deeper checks are reached). Round trips
 * cover every type, nulls, empty and non-ASCII strings, zero rows and zero
 * columns; every truncation and single-bit flip of a small snapshot must be
 * refused with CAIRN_ECORRUPT.
 *
 * With CAIRN_WRITE_SNAPSHOT_CORPUS=DIR set, the test also writes the fuzz
 * seeds (tests/fuzz/corpus/snapshot/) into DIR.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

#include "data/snapshot.h"

/* ---- a small deterministic generator (test-local, not libc rand) --------- */

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t rng_next(rng *r)
{
    /* splitmix64 */
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static const char *const sample_strings[] = {
    "", "a", "hello", "héllo wörld", "日本語", "emoji \xf0\x9f\x98\x80", "tab\there", "quote\"s",
    "comma,inside", "a much longer string value that goes on for a while to make the dictionary bigger"};

/*
 * A frame with one column of each type; row i is null in column k when
 * (i + k) % 5 == 0 (every column has nulls when n_rows >= 5).
 */
static cairn_frame *make_frame(size_t n_rows, uint64_t seed)
{
    static const cairn_type types[] = {CAIRN_TYPE_BOOL, CAIRN_TYPE_INT64, CAIRN_TYPE_FLOAT64,
                                       CAIRN_TYPE_TIMESTAMP, CAIRN_TYPE_STRING, CAIRN_TYPE_STRING};
    static const char *const names[] = {"flag", "count", "amount", "when", "category", "ünïcode name"};
    cairn_frame *f = NULL;
    rng r = {seed};
    assert_int_equal(cairn_frame_new(6, &f, NULL), CAIRN_OK);
    f->n_rows = n_rows;
    for (size_t k = 0; k < 6; k++) {
        cairn_column *c = &f->cols[k];
        assert_int_equal(cairn_column_alloc(c, names[k], types[k], n_rows, NULL), CAIRN_OK);
        for (size_t i = 0; i < n_rows; i++) {
            if ((i + k) % 5 == 0)
                continue;       /* null: validity 0, value 0 */
            c->valid[i] = 1;
            uint64_t x = rng_next(&r);
            switch (c->type) {
            case CAIRN_TYPE_BOOL: c->v.b[i] = (uint8_t)(x & 1); break;
            case CAIRN_TYPE_INT64: c->v.i64[i] = (int64_t)(x % 2001) - 1000; break;
            case CAIRN_TYPE_FLOAT64: c->v.f64[i] = (double)(int64_t)x / 1e15; break;
            case CAIRN_TYPE_TIMESTAMP:
                c->v.i64[i] = 1700000000000000ll + (int64_t)(x % 1000000000000ull);
                break;
            case CAIRN_TYPE_STRING: {
                const char *s = sample_strings[x % CAIRN_ARRAY_LEN(sample_strings)];
                uint32_t code;
                assert_int_equal(cairn_dict_intern(&c->dict, s, strlen(s), &code), CAIRN_OK);
                c->v.codes[i] = code;
                break;
            }
            default: break;
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
        assert_int_equal(x->n_rows, y->n_rows);
        assert_memory_equal(x->valid, y->valid, a->n_rows);
        if (a->n_rows)
            assert_memory_equal(x->v.raw, y->v.raw, a->n_rows * cairn_type_size(x->type));
        if (x->type == CAIRN_TYPE_STRING) {
            assert_int_equal(x->dict.n, y->dict.n);
            for (uint32_t i = 0; i < x->dict.n; i++) {
                assert_int_equal(cairn_dict_len(&x->dict, i), cairn_dict_len(&y->dict, i));
                assert_memory_equal(cairn_dict_str(&x->dict, i), cairn_dict_str(&y->dict, i),
                                    cairn_dict_len(&x->dict, i));
                /* The rebuilt dictionary must also answer lookups. */
                uint32_t code;
                assert_true(cairn_dict_find(&y->dict, cairn_dict_str(&x->dict, i),
                                            cairn_dict_len(&x->dict, i), &code));
                assert_int_equal(code, i);
            }
        }
    }
}

/* ---- an independent writer of the documented layout -------------------- */

typedef struct tcol {
    const char *name;
    size_t name_len;
    uint8_t type;
    const void *valid;
    size_t valid_n;
    const void *values;
    size_t values_n;
    bool has_dict;
    const void *dict;
    size_t dict_len;
    uint32_t dict_n;
} tcol;

static void le(unsigned char *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t rd(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

typedef struct obuf {
    unsigned char *p;
    size_t len, cap;
} obuf;

static void ob_put(obuf *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
}

/* Compresses src at level 1 and appends it; returns its length. */
static size_t ob_zstd(obuf *b, const void *src, size_t n)
{
    size_t bound = ZSTD_compressBound(n);
    void *z = malloc(bound);
    size_t zl = ZSTD_compress(z, bound, n ? src : "", n, 1);
    assert_false(ZSTD_isError(zl));
    ob_put(b, z, zl);
    free(z);
    return zl;
}

static void fix_trailer(unsigned char *p, size_t len)
{
    le(p + len - 8, XXH3_64bits(p, len - 8), 8);
}

/* Writes the snapshot of the given columns following snapshot.h field by field. */
static unsigned char *tw_write(const tcol *cols, uint32_t n_cols, uint64_t n_rows, size_t *out_len)
{
    obuf b = {0};
    unsigned char hdr[24] = {0};
    uint64_t (*where)[6] = calloc(n_cols ? n_cols : 1, sizeof *where);
    ob_put(&b, hdr, sizeof hdr);
    for (uint32_t i = 0; i < n_cols; i++) {
        where[i][0] = b.len;
        where[i][1] = ob_zstd(&b, cols[i].valid, cols[i].valid_n);
        where[i][2] = b.len;
        if ((cols[i].type == CAIRN_TYPE_INT64 || cols[i].type == CAIRN_TYPE_FLOAT64 ||
             cols[i].type == CAIRN_TYPE_TIMESTAMP) && cols[i].values_n > 0) {
            /* the documented byte transposition of 8-byte values */
            size_t rows = cols[i].values_n / 8;
            const unsigned char *v = (const unsigned char *)cols[i].values;
            unsigned char *t = malloc(cols[i].values_n);
            for (size_t byte = 0; byte < 8; byte++)
                for (size_t r = 0; r < rows; r++)
                    t[byte * rows + r] = v[r * 8 + byte];
            where[i][3] = ob_zstd(&b, t, cols[i].values_n);
            free(t);
        } else {
            where[i][3] = ob_zstd(&b, cols[i].values, cols[i].values_n);
        }
        if (cols[i].has_dict) {
            where[i][4] = b.len;
            where[i][5] = ob_zstd(&b, cols[i].dict, cols[i].dict_len);
        }
    }
    uint64_t dir_off = b.len;
    for (uint32_t i = 0; i < n_cols; i++) {
        unsigned char t[8];
        le(t, cols[i].name_len, 2);
        ob_put(&b, t, 2);
        ob_put(&b, cols[i].name, cols[i].name_len);
        ob_put(&b, &cols[i].type, 1);
        for (int k = 0; k < 6; k++) {
            le(t, where[i][k], 8);
            ob_put(&b, t, 8);
        }
        le(t, cols[i].dict_n, 4);
        ob_put(&b, t, 4);
    }
    unsigned char footer[16] = {0};
    le(footer, dir_off, 8);
    ob_put(&b, footer, 16);
    memcpy(b.p, "CAIRNSNP", 8);
    le(b.p + 8, 1, 4);
    le(b.p + 12, n_cols, 4);
    le(b.p + 16, n_rows, 8);
    fix_trailer(b.p, b.len);
    free(where);
    *out_len = b.len;
    return b.p;
}

static void cols_from_frame(const cairn_frame *f, tcol *out)
{
    for (size_t k = 0; k < f->n_cols; k++) {
        const cairn_column *c = &f->cols[k];
        out[k] = (tcol){.name = c->name,
                        .name_len = strlen(c->name),
                        .type = (uint8_t)c->type,
                        .valid = c->valid,
                        .valid_n = f->n_rows,
                        .values = c->v.raw,
                        .values_n = f->n_rows * cairn_type_size(c->type)};
        if (c->type == CAIRN_TYPE_STRING) {
            out[k].has_dict = true;
            out[k].dict = c->dict.bytes;
            out[k].dict_len = c->dict.bytes_len;
            out[k].dict_n = c->dict.n;
        }
    }
}

static void expect_corrupt(const void *p, size_t len)
{
    cairn_frame *f = (cairn_frame *)0x1;
    cairn_error err = {0};
    assert_int_equal(cairn_snapshot_decode(p, len, "t.snap", &f, &err), CAIRN_ECORRUPT);
    assert_null(f);
    assert_int_equal(err.code, CAIRN_ECORRUPT);
    assert_true(err.msg[0] != '\0');
}

/* ---- tests ------------------------------------------------------------- */

static void round_trip(const cairn_frame *f)
{
    char *bytes = NULL;
    size_t len = 0;
    unsigned char hash[CAIRN_HASH_BYTES], ref_hash[CAIRN_HASH_BYTES];
    cairn_error err = {0};
    assert_int_equal(cairn_snapshot_encode(f, &bytes, &len, hash, &err), CAIRN_OK);

    /* The hash is BLAKE2b-256 of exactly these bytes (checked with libsodium directly). */
    crypto_generichash(ref_hash, sizeof ref_hash, (const unsigned char *)bytes, len, NULL, 0);
    assert_memory_equal(hash, ref_hash, CAIRN_HASH_BYTES);

    /* And the bytes are exactly what the independent writer produces. */
    tcol *cols = calloc(f->n_cols ? f->n_cols : 1, sizeof *cols);
    cols_from_frame(f, cols);
    size_t ref_len = 0;
    unsigned char *ref = tw_write(cols, (uint32_t)f->n_cols, f->n_rows, &ref_len);
    assert_int_equal(len, ref_len);
    assert_memory_equal(bytes, ref, len);
    free(ref);
    free(cols);

    cairn_frame *g = NULL;
    assert_int_equal(cairn_snapshot_decode(bytes, len, "mem", &g, &err), CAIRN_OK);
    assert_frames_equal(f, g);
    cairn_frame_free(g);
    cairn_free(bytes);
}

static void test_round_trip_all_types(void **state)
{
    (void)state;
    static const size_t sizes[] = {0, 1, 2, 5, 17, 1000, 70000};
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(sizes); i++) {
        cairn_frame *f = make_frame(sizes[i], 42 + i);
        round_trip(f);
        cairn_frame_free(f);
    }
}

static void test_round_trip_edge_frames(void **state)
{
    (void)state;
    /* Zero columns. */
    cairn_frame *f = NULL;
    assert_int_equal(cairn_frame_new(0, &f, NULL), CAIRN_OK);
    f->n_rows = 0;
    round_trip(f);
    cairn_frame_free(f);

    /* A string column that is entirely null (empty dictionary), an empty
     * column name, a dictionary holding only the empty string, float edge
     * values and extreme integers. */
    assert_int_equal(cairn_frame_new(4, &f, NULL), CAIRN_OK);
    f->n_rows = 4;
    assert_int_equal(cairn_column_alloc(&f->cols[0], "", CAIRN_TYPE_STRING, 4, NULL), CAIRN_OK);
    assert_int_equal(cairn_column_alloc(&f->cols[1], "e", CAIRN_TYPE_STRING, 4, NULL), CAIRN_OK);
    assert_int_equal(cairn_column_alloc(&f->cols[2], "x", CAIRN_TYPE_FLOAT64, 4, NULL), CAIRN_OK);
    assert_int_equal(cairn_column_alloc(&f->cols[3], "i", CAIRN_TYPE_INT64, 4, NULL), CAIRN_OK);
    uint32_t code;
    assert_int_equal(cairn_dict_intern(&f->cols[1].dict, "", 0, &code), CAIRN_OK);
    const double xs[] = {-0.0, 1e308, -4.9e-324, 0.1};
    const int64_t is[] = {INT64_MIN, INT64_MAX, 0, -1};
    for (int i = 0; i < 4; i++) {
        f->cols[1].valid[i] = 1;
        f->cols[1].v.codes[i] = code;
        f->cols[2].valid[i] = 1;
        f->cols[2].v.f64[i] = xs[i];
        f->cols[3].valid[i] = 1;
        f->cols[3].v.i64[i] = is[i];
    }
    round_trip(f);
    cairn_frame_free(f);
}

static void test_deterministic(void **state)
{
    (void)state;
    cairn_frame *f = make_frame(5000, 7), *g = make_frame(5000, 7);
    char *a = NULL, *b = NULL;
    size_t la = 0, lb = 0;
    unsigned char ha[CAIRN_HASH_BYTES], hb[CAIRN_HASH_BYTES];
    assert_int_equal(cairn_snapshot_encode(f, &a, &la, ha, NULL), CAIRN_OK);
    assert_int_equal(cairn_snapshot_encode(g, &b, &lb, hb, NULL), CAIRN_OK);
    assert_int_equal(la, lb);
    assert_memory_equal(a, b, la);
    assert_memory_equal(ha, hb, CAIRN_HASH_BYTES);
    cairn_free(b);
    /* A one-value change gives a different hash. */
    g->cols[1].v.i64[1] ^= 1;
    assert_int_equal(cairn_snapshot_encode(g, &b, &lb, hb, NULL), CAIRN_OK);
    assert_memory_not_equal(ha, hb, CAIRN_HASH_BYTES);
    cairn_free(a);
    cairn_free(b);
    cairn_frame_free(f);
    cairn_frame_free(g);
}

static void test_truncations_and_flips(void **state)
{
    (void)state;
    cairn_frame *f = make_frame(12, 3);
    char *bytes = NULL;
    size_t len = 0;
    unsigned char hash[CAIRN_HASH_BYTES];
    assert_int_equal(cairn_snapshot_encode(f, &bytes, &len, hash, NULL), CAIRN_OK);
    unsigned char *copy = malloc(len);

    /* Every proper prefix. */
    for (size_t n = 0; n < len; n++) {
        memcpy(copy, bytes, n);
        expect_corrupt(copy, n);
    }
    /* Every bit of every byte flipped, one at a time. */
    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(copy, bytes, len);
            copy[i] ^= (unsigned char)(1u << bit);
            expect_corrupt(copy, len);
        }
    }
    /* Flips with the checksum repaired reach the structural checks: each must
     * be refused or decode to a frame that keeps the invariants; never crash. */
    for (size_t i = 0; i + 8 < len; i++) {
        memcpy(copy, bytes, len);
        copy[i] ^= 0x10;
        fix_trailer(copy, len);
        cairn_frame *g = NULL;
        cairn_status st = cairn_snapshot_decode((char *)copy, len, "t", &g, NULL);
        assert_true(st == CAIRN_OK || st == CAIRN_ECORRUPT);
        if (st == CAIRN_OK) {
            /* Re-encoding must work: the decoded frame is consistent. */
            char *again = NULL;
            size_t alen = 0;
            unsigned char h2[CAIRN_HASH_BYTES];
            assert_int_equal(cairn_snapshot_encode(g, &again, &alen, h2, NULL), CAIRN_OK);
            cairn_free(again);
            cairn_frame_free(g);
        } else {
            assert_null(g);
        }
    }
    /* Trailing garbage after a valid file. */
    unsigned char *longer = malloc(len + 1);
    memcpy(longer, bytes, len);
    longer[len] = 0;
    expect_corrupt(longer, len + 1);
    free(longer);
    free(copy);
    cairn_free(bytes);
    cairn_frame_free(f);
}

/* Tampered files with valid checksums, each breaking one documented rule. */
static void test_structural_checks(void **state)
{
    (void)state;
    const uint8_t valid3[3] = {1, 1, 0};
    const uint8_t bad_valid[3] = {1, 2, 0};
    const int64_t vals3[3] = {5, 6, 0};
    const int64_t vals3_null_nonzero[3] = {5, 6, 9};
    const uint8_t bools_bad[3] = {1, 2, 0};
    const uint32_t codes_ok[3] = {0, 1, 0};
    const uint32_t codes_bad[3] = {0, 2, 0};
    const char dict_ab[] = "a\0b";           /* "a\0b\0" with the literal's NUL */
    const char dict_aa[] = "a\0a";
    const char dict_unterminated[] = {'a', 0, 'b'};
    size_t len;
    unsigned char *p;

    tcol good = {.name = "n", .name_len = 1, .type = CAIRN_TYPE_INT64, .valid = valid3,
                 .valid_n = 3, .values = vals3, .values_n = 24};
    tcol str = {.name = "s", .name_len = 1, .type = CAIRN_TYPE_STRING, .valid = valid3,
                .valid_n = 3, .values = codes_ok, .values_n = 12, .has_dict = true,
                .dict = dict_ab, .dict_len = 4, .dict_n = 2};

    /* Sanity: the untampered versions decode. */
    cairn_frame *f = NULL;
    tcol two[2] = {good, str};
    p = tw_write(two, 2, 3, &len);
    assert_int_equal(cairn_snapshot_decode((char *)p, len, "t", &f, NULL), CAIRN_OK);
    assert_int_equal(f->cols[0].v.i64[1], 6);
    assert_string_equal(cairn_dict_str(&f->cols[1].dict, 1), "b");
    cairn_frame_free(f);

    /* Bad version (checksum repaired). */
    le(p + 8, 2, 4);
    fix_trailer(p, len);
    expect_corrupt(p, len);
    le(p + 8, 1, 4);
    /* Huge column count, huge row count, directory offset outside the file or inside the header. */
    le(p + 12, 0xffffffffu, 4);
    fix_trailer(p, len);
    expect_corrupt(p, len);
    le(p + 12, 2, 4);
    le(p + 16, UINT64_MAX / 2, 8);
    fix_trailer(p, len);
    expect_corrupt(p, len);
    le(p + 16, 4, 8);           /* one row more than the frames hold */
    fix_trailer(p, len);
    expect_corrupt(p, len);
    le(p + 16, 3, 8);
    uint64_t dir = rd(p + len - 16, 8);
    le(p + len - 16, len, 8);
    fix_trailer(p, len);
    expect_corrupt(p, len);
    le(p + len - 16, 8, 8);
    fix_trailer(p, len);
    expect_corrupt(p, len);
    le(p + len - 16, dir + 1, 8);
    fix_trailer(p, len);
    expect_corrupt(p, len);
    le(p + len - 16, dir, 8);
    /* Column 0's values offset pointing into the directory / its length past the blocks. */
    size_t e0 = (size_t)dir + 2 + 1 + 1;   /* after name_len, "n", type */
    uint64_t voff = rd(p + e0 + 16, 8);
    le(p + e0 + 16, dir - 2, 8);
    fix_trailer(p, len);
    expect_corrupt(p, len);
    le(p + e0 + 16, voff, 8);
    le(p + e0 + 24, UINT64_MAX, 8);
    fix_trailer(p, len);
    expect_corrupt(p, len);
    free(p);

    /* One column each, breaking one rule. */
    struct {
        const char *what;
        tcol c;
        uint64_t n_rows;
    } cases[] = {
        {"validity byte 2", good, 3},
        {"null row with a value", good, 3},
        {"bool 2", good, 3},
        {"code outside dictionary", str, 3},
        {"duplicate dictionary string", str, 3},
        {"dictionary count too high", str, 3},
        {"dictionary count too low", str, 3},
        {"dictionary not NUL-terminated", str, 3},
        {"int column with a dictionary", good, 3},
        {"string column without a dictionary", str, 3},
        {"unknown type", good, 3},
        {"values frame one row short", good, 3},
        {"name with a NUL", good, 3},
    };
    cases[0].c.valid = bad_valid;
    cases[1].c.values = vals3_null_nonzero;
    cases[2].c.type = CAIRN_TYPE_BOOL;
    cases[2].c.values = bools_bad;
    cases[2].c.values_n = 3;
    cases[3].c.values = codes_bad;
    cases[4].c.dict = dict_aa;
    cases[5].c.dict_n = 3;
    cases[6].c.dict_n = 1;
    cases[7].c.dict = dict_unterminated;
    cases[7].c.dict_len = 3;
    cases[8].c.has_dict = true;
    cases[8].c.dict = dict_ab;
    cases[8].c.dict_len = 4;
    cases[8].c.dict_n = 2;
    cases[9].c.has_dict = false;
    cases[9].c.dict_n = 0;
    cases[10].c.type = 9;
    cases[11].c.values_n = 16;
    cases[12].c.name = "a\0b";
    cases[12].c.name_len = 3;
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(cases); i++) {
        p = tw_write(&cases[i].c, 1, cases[i].n_rows, &len);
        print_message("case: %s\n", cases[i].what);
        expect_corrupt(p, len);
        free(p);
    }
}

static void test_encode_refuses_inconsistent_frames(void **state)
{
    (void)state;
    cairn_frame *f = make_frame(10, 1);
    char *bytes = NULL;
    size_t len = 0;
    unsigned char hash[CAIRN_HASH_BYTES];
    cairn_error err = {0};

    f->cols[0].valid[3] = 2;
    assert_int_equal(cairn_snapshot_encode(f, &bytes, &len, hash, &err), CAIRN_EINTERNAL);
    assert_null(bytes);
    assert_non_null(strstr(err.msg, "row 3"));
    f->cols[0].valid[3] = 1;

    /* A null row (row 0 of column 0 is null) holding a value. */
    f->cols[0].v.b[0] = 1;
    assert_int_equal(cairn_snapshot_encode(f, &bytes, &len, hash, &err), CAIRN_EINTERNAL);
    f->cols[0].v.b[0] = 0;

    /* A string holding a NUL byte cannot be stored NUL-separated: bad input. */
    uint32_t code;
    assert_int_equal(cairn_dict_intern(&f->cols[4].dict, "x\0y", 3, &code), CAIRN_OK);
    f->cols[4].v.codes[2] = code;   /* row 2 is valid in column 4 */
    assert_int_equal(cairn_snapshot_encode(f, &bytes, &len, hash, &err), CAIRN_EINPUT);
    assert_non_null(strstr(err.msg, "NUL"));
    assert_null(bytes);
    cairn_frame_free(f);
}

static void test_load_checks_hash(void **state)
{
    (void)state;
    const char *tmp = getenv("CAIRN_TEST_TMP");
    char dir[512];
    snprintf(dir, sizeof dir, "%s/snapXXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(dir));
    char path[600];
    snprintf(path, sizeof path, "%s/x.snap", dir);

    cairn_frame *f = make_frame(100, 9), *g = NULL;
    char *bytes = NULL;
    size_t len = 0;
    unsigned char hash[CAIRN_HASH_BYTES];
    char hex[CAIRN_HASH_HEX];
    assert_int_equal(cairn_snapshot_encode(f, &bytes, &len, hash, NULL), CAIRN_OK);
    cairn_hash_hex(hash, hex);
    assert_int_equal(cairn_write_file_atomic(path, bytes, len, NULL), CAIRN_OK);
    assert_int_equal(cairn_snapshot_load(path, hex, &g, NULL), CAIRN_OK);
    assert_frames_equal(f, g);
    cairn_frame_free(g);
    assert_int_equal(cairn_snapshot_load(path, NULL, &g, NULL), CAIRN_OK);
    cairn_frame_free(g);

    cairn_error err = {0};
    hex[0] = hex[0] == '0' ? '1' : '0';
    assert_int_equal(cairn_snapshot_load(path, hex, &g, &err), CAIRN_ECORRUPT);
    assert_null(g);
    assert_string_equal(err.where, path);

    char missing[700];
    snprintf(missing, sizeof missing, "%s/missing.snap", dir);
    assert_int_equal(cairn_snapshot_load(missing, NULL, &g, &err), CAIRN_ENOTFOUND);

    unlink(path);
    rmdir(dir);
    cairn_free(bytes);
    cairn_frame_free(f);
}

/* Failing the Nth allocation, for every N, ends in success or ENOMEM, never a leak or crash. */
static void test_allocation_failures(void **state)
{
    (void)state;
    cairn_frame *f = make_frame(40, 11);
    char *bytes = NULL;
    size_t len = 0;
    unsigned char hash[CAIRN_HASH_BYTES];
    assert_int_equal(cairn_snapshot_encode(f, &bytes, &len, hash, NULL), CAIRN_OK);

    bool enc_ok = false, dec_ok = false;
    for (long n = 1; n < 1000 && !(enc_ok && dec_ok); n++) {
        char *b2 = NULL;
        size_t l2 = 0;
        unsigned char h2[CAIRN_HASH_BYTES];
        cairn_frame *g = NULL;
        if (!enc_ok) {
            cairn_alloc_fail_after(n, true);
            cairn_status st = cairn_snapshot_encode(f, &b2, &l2, h2, NULL);
            cairn_alloc_fail_after(0, false);
            assert_true(st == CAIRN_OK || st == CAIRN_ENOMEM);
            if (st == CAIRN_OK) {
                assert_int_equal(l2, len);
                assert_memory_equal(b2, bytes, len);
                enc_ok = true;
            } else {
                assert_null(b2);
            }
            cairn_free(b2);
        }
        if (!dec_ok) {
            cairn_alloc_fail_after(n, true);
            cairn_status st = cairn_snapshot_decode(bytes, len, "t", &g, NULL);
            cairn_alloc_fail_after(0, false);
            assert_true(st == CAIRN_OK || st == CAIRN_ENOMEM);
            if (st == CAIRN_OK) {
                assert_frames_equal(f, g);
                dec_ok = true;
            } else {
                assert_null(g);
            }
            cairn_frame_free(g);
        }
    }
    assert_true(enc_ok && dec_ok);
    cairn_free(bytes);
    cairn_frame_free(f);
}

/* Writes the fuzz seeds when asked (see the file comment). */
static void write_seed(const char *dir, const char *name, const void *p, size_t n)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(p, 1, n, fp), n);
    fclose(fp);
}

static void test_write_corpus(void **state)
{
    (void)state;
    const char *dir = getenv("CAIRN_WRITE_SNAPSHOT_CORPUS");
    if (!dir || !*dir)
        skip();
    static const size_t rows[] = {0, 1, 6, 20};
    char name[64];
    char *b = NULL;
    size_t len = 0;
    unsigned char hash[CAIRN_HASH_BYTES];
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(rows); i++) {
        cairn_frame *f = make_frame(rows[i], 100 + i);
        assert_int_equal(cairn_snapshot_encode(f, &b, &len, hash, NULL), CAIRN_OK);
        snprintf(name, sizeof name, "valid-%zu-rows.snap", rows[i]);
        write_seed(dir, name, b, len);
        if (rows[i] == 6) {
            write_seed(dir, "truncated-half.snap", b, len / 2);
            write_seed(dir, "truncated-no-trailer.snap", b, len - 8);
            b[len / 3] ^= 0x04;
            write_seed(dir, "bitflip.snap", b, len);
            b[len / 3] ^= 0x04;
            b[len / 3] ^= 0x04;
            fix_trailer((unsigned char *)b, len);
            write_seed(dir, "bitflip-fixed-checksum.snap", b, len);
        }
        cairn_free(b);
        cairn_frame_free(f);
    }
    cairn_frame *f = NULL;
    assert_int_equal(cairn_frame_new(0, &f, NULL), CAIRN_OK);
    assert_int_equal(cairn_snapshot_encode(f, &b, &len, hash, NULL), CAIRN_OK);
    write_seed(dir, "valid-no-columns.snap", b, len);
    cairn_free(b);
    cairn_frame_free(f);

    const uint8_t valid3[3] = {1, 1, 0};
    const uint32_t codes[3] = {0, 1, 0};
    tcol dup = {.name = "s", .name_len = 1, .type = CAIRN_TYPE_STRING, .valid = valid3,
                .valid_n = 3, .values = codes, .values_n = 12, .has_dict = true,
                .dict = "a\0a", .dict_len = 4, .dict_n = 2};
    unsigned char *p = tw_write(&dup, 1, 3, &len);
    write_seed(dir, "dup-dictionary.snap", p, len);
    free(p);
    const uint32_t codes_bad[3] = {0, 7, 0};
    dup.dict = "a\0b";
    dup.values = codes_bad;
    p = tw_write(&dup, 1, 3, &len);
    write_seed(dir, "code-out-of-range.snap", p, len);
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_all_types),
        cmocka_unit_test(test_round_trip_edge_frames),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_truncations_and_flips),
        cmocka_unit_test(test_structural_checks),
        cmocka_unit_test(test_encode_refuses_inconsistent_frames),
        cmocka_unit_test(test_load_checks_hash),
        cmocka_unit_test(test_allocation_failures),
        cmocka_unit_test(test_write_corpus),
    };
    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
