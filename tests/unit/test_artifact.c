/*
 * test_artifact.c -- the model artifact file: a real GBDT (and a real linear)
 * model with a fitted transform is written, loaded and compared (section
 * bytes, decoded predictions, canonical rewrite); every single-byte change
 * and every truncation is tried on the small file, with the rule that all
 * header, table, padding and binary-state damage and every truncation is
 * refused with CAIRN_ECORRUPT, while a change inside a JSON or YAML text
 * section is either refused or loads as a different artifact (other hash);
 * and the detached Ed25519 signature round-trips and rejects tampering.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sodium.h>
#include <string.h>

#include <cmocka.h>

#include "data/frame.h"
#include "registry/artifact.h"

#define N_ROWS 48

static const char *const PLANS[3] = {"basic", "plus", "pro"};

/* x in [0, 1) on a fixed grid, plan cycling, label = (x > 0.5) xor (plan == pro). */
static cairn_frame *make_frame(double *y)
{
    cairn_frame *f = NULL;
    assert_int_equal(cairn_frame_new(2, &f, NULL), CAIRN_OK);
    assert_int_equal(cairn_column_alloc(&f->cols[0], "x", CAIRN_TYPE_FLOAT64, N_ROWS, NULL),
                     CAIRN_OK);
    assert_int_equal(cairn_column_alloc(&f->cols[1], "plan", CAIRN_TYPE_STRING, N_ROWS, NULL),
                     CAIRN_OK);
    f->n_rows = N_ROWS;
    for (size_t r = 0; r < N_ROWS; r++) {
        double x = (double)((r * 7) % N_ROWS) / N_ROWS;
        f->cols[0].v.f64[r] = x;
        f->cols[0].valid[r] = 1;
        uint32_t code;
        const char *p = PLANS[r % 3];
        assert_int_equal(cairn_dict_intern(&f->cols[1].dict, p, strlen(p), &code), CAIRN_OK);
        f->cols[1].v.codes[r] = code;
        f->cols[1].valid[r] = 1;
        y[r] = (double)((x > 0.5) ^ (r % 3 == 2));
    }
    return f;
}

typedef struct fixture {
    cairn_frame *frame;
    double y[N_ROWS];
    double *X;
    size_t n_out;
    cairn_transform *tf;
    cairn_trees *trees;
    cairn_linear *linear;
    cairn_linear *baseline;
    cairn_buf tf_bytes;
    uint8_t *model_bytes;
    size_t model_len;
    char *base_bytes;
    size_t base_len;
    cairn_artifact_input in;
} fixture;

static void fixture_build(fixture *fx, bool gbdt)
{
    memset(fx, 0, sizeof *fx);
    cairn_error err = {0};
    fx->frame = make_frame(fx->y);
    size_t cols[2] = {0, 1};
    assert_int_equal(cairn_transform_fit(fx->frame, NULL, 0, cols, 2, -1,
                                         gbdt ? CAIRN_TRANSFORM_GBDT : CAIRN_TRANSFORM_LINEAR,
                                         NULL, &fx->tf, NULL, &err),
                     CAIRN_OK);
    size_t n_rows = 0;
    assert_int_equal(cairn_transform_apply(fx->tf, fx->frame, NULL, 0xFF, &fx->X, &n_rows, &err),
                     CAIRN_OK);
    assert_int_equal(n_rows, N_ROWS);
    fx->n_out = cairn_transform_n_out(fx->tf);
    if (gbdt) {
        uint32_t levels[8] = {0};
        assert_true(fx->n_out <= 8);
        for (size_t j = 0; j < fx->n_out; j++)
            if (!cairn_transform_feature_is_categorical(fx->tf, j, &levels[j]))
                levels[j] = 0;
        cairn_gbdt_data d = {.x = fx->X, .y = fx->y, .n_rows = N_ROWS, .n_features = fx->n_out,
                             .cat_levels = levels};
        cairn_gbdt_params p;
        cairn_gbdt_params_init(&p);
        p.rounds = 4;
        p.max_depth = 3;
        p.learning_rate = 0.5;
        assert_int_equal(cairn_gbdt_train(&d, &p, &fx->trees, NULL, &err), CAIRN_OK);
        assert_int_equal(cairn_trees_to_bytes(fx->trees, &fx->model_bytes, &fx->model_len, &err),
                         CAIRN_OK);
    } else {
        assert_int_equal(cairn_linear_fit(CAIRN_LINEAR_BINARY, fx->X, N_ROWS, fx->n_out, fx->y,
                                          NULL, 2, NULL, &fx->linear, &err),
                         CAIRN_OK);
        char *mb = NULL;
        assert_int_equal(cairn_linear_to_bytes(fx->linear, &mb, &fx->model_len, &err), CAIRN_OK);
        fx->model_bytes = (uint8_t *)mb;
    }
    assert_int_equal(cairn_baseline_fit(CAIRN_LINEAR_BINARY, N_ROWS, fx->n_out, fx->y, NULL, 2,
                                        &fx->baseline, &err),
                     CAIRN_OK);
    assert_int_equal(cairn_linear_to_bytes(fx->baseline, &fx->base_bytes, &fx->base_len, &err),
                     CAIRN_OK);
    cairn_buf_init(&fx->tf_bytes);
    cairn_transform_to_bytes(fx->tf, &fx->tf_bytes);
    assert_false(fx->tf_bytes.failed);
    fx->in = (cairn_artifact_input){
        .model_name = "churn", .task = "binary", .model_type = gbdt ? "gbdt" : "linear",
        .label = "churned", .positive = "Yes", .run_id = "r-0123456789ab",
        .dataset_name = "telco", .dataset_version = 3, .dataset_hash = "ab12",
        .contract_hash = NULL, .code_version = "v0.1-test", .created_at = "2026-01-02T03:04:05Z",
        .spec_text = "name: churn\n", .spec_json = "{\"name\":\"churn\",\"task\":\"binary\"}",
        .seed = 42, .build_json = "{\"compiler\":\"cc\"}", .contract_yaml = "columns: {}\n",
        .refstats_json = NULL, .eval_json = "{\"model\":{\"auc\":0.9}}",
        .transform = (const uint8_t *)fx->tf_bytes.data, .transform_len = fx->tf_bytes.len,
        .model = fx->model_bytes, .model_len = fx->model_len,
        .baseline = (const uint8_t *)fx->base_bytes, .baseline_len = fx->base_len};
}

static void fixture_free(fixture *fx)
{
    cairn_frame_free(fx->frame);
    cairn_free(fx->X);
    cairn_transform_free(fx->tf);
    cairn_trees_free(fx->trees);
    cairn_linear_free(fx->linear);
    cairn_linear_free(fx->baseline);
    cairn_buf_reset(&fx->tf_bytes);
    cairn_free(fx->model_bytes);
    cairn_free(fx->base_bytes);
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
    return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static void save_seed(const cairn_buf *b, const char *name, size_t n)
{
    const char *dir = getenv("CAIRN_TEST_TMP");
    if (!dir)
        return;
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(b->data, 1, n, f);
        fclose(f);
    }
}

static void check_round_trip(fixture *fx)
{
    cairn_error err = {0};
    cairn_buf a, b;
    cairn_buf_init(&a);
    cairn_buf_init(&b);
    assert_int_equal(cairn_artifact_write(&fx->in, &a, &err), CAIRN_OK);
    assert_int_equal(cairn_artifact_write(&fx->in, &b, &err), CAIRN_OK);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.data, b.data, a.len);

    /* Header and table, read independently of the loader. */
    const uint8_t *p = (const uint8_t *)a.data;
    assert_memory_equal(p, "CAIRNART", 8);
    assert_int_equal(rd32(p + 8), 2);
    assert_int_equal(rd32(p + 12), 8);
    assert_int_equal(rd64(p + 16), a.len);
    /* Bytes 24..55: BLAKE2b-256 of the file with those bytes zeroed, by libsodium directly. */
    {
        uint8_t *z = malloc(a.len);
        unsigned char want[32];
        memcpy(z, p, a.len);
        memset(z + 24, 0, 32);
        crypto_generichash(want, sizeof want, z, a.len, NULL, 0);
        assert_memory_equal(want, p + 24, 32);
        free(z);
    }
    for (uint32_t k = 1; k <= 8; k++) {
        const uint8_t *e = p + 56 + (k - 1) * 24;
        assert_int_equal(rd32(e), k);
        assert_int_equal(rd32(e + 4), 0);
        assert_int_equal(rd64(e + 8) % 8, 0);
    }

    cairn_artifact *art = NULL;
    assert_int_equal(cairn_artifact_load(a.data, a.len, &art, &err), CAIRN_OK);
    /* The identity is BLAKE2b-256 of the whole file. */
    unsigned char h[CAIRN_HASH_BYTES];
    cairn_hasher hs;
    cairn_hasher_init(&hs);
    cairn_hasher_update(&hs, a.data, a.len);
    cairn_hasher_final(&hs, h);
    assert_memory_equal(h, art->hash, CAIRN_HASH_BYTES);
    assert_int_equal(strlen(art->hash_hex), 64);
    /* Section views hold exactly the input bytes. */
    assert_int_equal(art->sections[CAIRN_ART_TRANSFORM].len, fx->tf_bytes.len);
    assert_memory_equal(art->sections[CAIRN_ART_TRANSFORM].data, fx->tf_bytes.data,
                        fx->tf_bytes.len);
    assert_int_equal(art->sections[CAIRN_ART_MODEL].len, fx->model_len);
    assert_memory_equal(art->sections[CAIRN_ART_MODEL].data, fx->model_bytes, fx->model_len);
    assert_int_equal(art->sections[CAIRN_ART_BASELINE].len, fx->base_len);
    assert_int_equal(art->sections[CAIRN_ART_CONTRACT].len, strlen(fx->in.contract_yaml));
    assert_memory_equal(art->sections[CAIRN_ART_REFSTATS].data, "{}", 2);
    assert_string_equal(art->model_name, "churn");
    assert_string_equal(art->task, "binary");
    assert_string_equal(art->model_type, fx->in.model_type);
    assert_string_equal(art->label, "churned");
    assert_string_equal(art->run_id, "r-0123456789ab");
    /* The manifest names the input columns and the dataset reference. */
    const cairn_artifact_view *m = &art->sections[CAIRN_ART_MANIFEST];
    char *mtext = cairn_strndup((const char *)m->data, m->len);
    assert_non_null(strstr(mtext, "\"features\":[\"x\",\"plan\"]"));
    assert_non_null(strstr(mtext, "\"dataset\":\"telco@3\""));
    assert_non_null(strstr(mtext, "\"contract_hash\":null"));
    cairn_free(mtext);

    /* Decoded states predict exactly as the originals. */
    size_t n_rows = 0;
    double *X2 = NULL;
    assert_int_equal(cairn_transform_apply(art->transform, fx->frame, NULL, 0xFF, &X2, &n_rows,
                                           &err),
                     CAIRN_OK);
    assert_int_equal(n_rows, N_ROWS);
    assert_memory_equal(X2, fx->X, N_ROWS * fx->n_out * sizeof(double));
    for (size_t r = 0; r < N_ROWS; r++) {
        double o1 = 0, o2 = 0, b1 = 0, b2 = 0;
        const double *x = fx->X + r * fx->n_out;
        if (fx->trees) {
            assert_non_null(art->trees);
            cairn_trees_predict(fx->trees, x, &o1);
            cairn_trees_predict(art->trees, x, &o2);
        } else {
            assert_non_null(art->linear);
            cairn_linear_predict(fx->linear, x, &o1);
            cairn_linear_predict(art->linear, x, &o2);
        }
        assert_memory_equal(&o1, &o2, sizeof o1);
        cairn_linear_predict(fx->baseline, x, &b1);
        cairn_linear_predict(art->baseline, x, &b2);
        assert_memory_equal(&b1, &b2, sizeof b1);
    }
    cairn_free(X2);
    cairn_artifact_free(art);
    cairn_buf_reset(&a);
    cairn_buf_reset(&b);
}

static void test_gbdt_round_trip(void **state)
{
    (void)state;
    fixture fx;
    fixture_build(&fx, true);
    check_round_trip(&fx);
    fixture_free(&fx);
}

static void test_linear_round_trip(void **state)
{
    (void)state;
    fixture fx;
    fixture_build(&fx, false);
    check_round_trip(&fx);
    fixture_free(&fx);
}

static void test_writer_refuses_inconsistent_input(void **state)
{
    (void)state;
    fixture fx;
    fixture_build(&fx, true);
    cairn_error err = {0};
    cairn_buf b;
    cairn_buf_init(&b);
    cairn_artifact_input in = fx.in;
    in.model_type = "linear";   /* tree bytes and a gbdt transform */
    assert_int_equal(cairn_artifact_write(&in, &b, &err), CAIRN_ECORRUPT);
    in = fx.in;
    in.task = "regression";     /* the trees are binary */
    assert_int_equal(cairn_artifact_write(&in, &b, &err), CAIRN_ECORRUPT);
    assert_string_equal(err.where, "artifact model");
    in = fx.in;
    in.model_type = "forest";
    assert_int_equal(cairn_artifact_write(&in, &b, &err), CAIRN_EINVAL);
    in = fx.in;
    in.eval_json = "{\"auc\":";
    assert_int_equal(cairn_artifact_write(&in, &b, &err), CAIRN_EINVAL);
    in = fx.in;
    in.model_len -= 1;
    assert_int_equal(cairn_artifact_write(&in, &b, &err), CAIRN_ECORRUPT);
    assert_int_equal(b.len, 0);
    cairn_buf_reset(&b);
    fixture_free(&fx);
}

/* Every single-byte change and every truncation. */
static void test_damage(void **state)
{
    (void)state;
    fixture fx;
    fixture_build(&fx, true);
    cairn_error err = {0};
    cairn_buf a;
    cairn_buf_init(&a);
    assert_int_equal(cairn_artifact_write(&fx.in, &a, &err), CAIRN_OK);
    save_seed(&a, "artifact-small.bin", a.len);
    save_seed(&a, "artifact-truncated.bin", a.len / 2);
    const uint8_t *p = (const uint8_t *)a.data;
    size_t n = a.len;
    /* Which bytes are free text (JSON / YAML sections). */
    uint8_t *text = calloc(n, 1);
    size_t bounds[16];
    size_t n_bounds = 0;
    for (uint32_t k = 1; k <= 8; k++) {
        const uint8_t *e = p + 56 + (k - 1) * 24;
        size_t off = (size_t)rd64(e + 8), len = (size_t)rd64(e + 16);
        bounds[n_bounds++] = off;
        bounds[n_bounds++] = off + len;
        bool is_text = k == 1 || k == 2 || k >= 6;
        for (size_t q = off; q < off + len; q++)
            text[q] = is_text;
    }
    uint8_t *c = malloc(n);
    size_t refused = 0, loaded_text = 0;
    for (size_t i = 0; i < n; i++) {
        for (int flip = 0; flip < 2; flip++) {
            memcpy(c, p, n);
            c[i] ^= flip ? 0x80 : 0x01;
            cairn_artifact *art = NULL;
            cairn_status st = cairn_artifact_load(c, n, &art, &err);
            if (st == CAIRN_OK) {
                fail_msg("byte %zu (flip %d, %s section) changed but the file loaded", i, flip,
                         text[i] ? "a text" : "a binary");
                cairn_artifact_free(art);
            } else {
                if (text[i])
                    loaded_text++;   /* counted: text damage is refused too */
                if (st != CAIRN_ECORRUPT)
                    fail_msg("byte %zu: status %d, not ECORRUPT", i, (int)st);
                assert_null(art);
                assert_true(strncmp(err.where, "artifact", 8) == 0);
                assert_true(err.msg[0] != 0);
                refused++;
            }
        }
    }
    /* Every truncation: each length below the file size. */
    for (size_t len = 0; len < n; len++) {
        cairn_artifact *art = NULL;
        assert_int_equal(cairn_artifact_load(p, len, &art, &err), CAIRN_ECORRUPT);
        assert_null(art);
    }
    for (size_t k = 0; k < n_bounds; k++) {
        cairn_artifact *art = NULL;
        if (bounds[k] < n)
            assert_int_equal(cairn_artifact_load(p, bounds[k], &art, &err), CAIRN_ECORRUPT);
    }
    /* A byte appended. */
    memcpy(c, p, n);
    cairn_artifact *art = NULL;
    uint8_t *longer = malloc(n + 8);
    memcpy(longer, p, n);
    memset(longer + n, 0, 8);
    assert_int_equal(cairn_artifact_load(longer, n + 8, &art, &err), CAIRN_ECORRUPT);
    assert_string_equal(err.where, "artifact byte 16");
    free(longer);
    assert_true(refused > 0);
    assert_true(loaded_text > 0);   /* flips inside text sections were tried, and refused */
    free(c);
    free(text);
    cairn_buf_reset(&a);
    fixture_free(&fx);
}

static void test_specific_errors(void **state)
{
    (void)state;
    fixture fx;
    fixture_build(&fx, true);
    cairn_error err = {0};
    cairn_buf a;
    cairn_buf_init(&a);
    assert_int_equal(cairn_artifact_write(&fx.in, &a, &err), CAIRN_OK);
    uint8_t *c = malloc(a.len);
    cairn_artifact *art = NULL;
    memcpy(c, a.data, a.len);
    c[0] = 'X';
    assert_int_equal(cairn_artifact_load(c, a.len, &art, &err), CAIRN_ECORRUPT);
    assert_string_equal(err.where, "artifact byte 0");
    memcpy(c, a.data, a.len);
    c[8] = 3;   /* version 3 */
    assert_int_equal(cairn_artifact_load(c, a.len, &art, &err), CAIRN_ECORRUPT);
    assert_string_equal(err.where, "artifact byte 8");
    memcpy(c, a.data, a.len);
    c[12] = 65;   /* 65 sections */
    assert_int_equal(cairn_artifact_load(c, a.len, &art, &err), CAIRN_ECORRUPT);
    assert_string_equal(err.where, "artifact byte 12");
    memcpy(c, a.data, a.len);
    c[56] = 9;   /* first entry: unknown kind */
    assert_int_equal(cairn_artifact_load(c, a.len, &art, &err), CAIRN_ECORRUPT);
    assert_string_equal(err.where, "artifact byte 56");
    /* A flipped byte inside the model section: caught by the content hash... */
    memcpy(c, a.data, a.len);
    size_t moff = (size_t)rd64(c + 56 + 3 * 24 + 8);
    c[moff + 20] ^= 1;
    assert_int_equal(cairn_artifact_load(c, a.len, &art, &err), CAIRN_ECORRUPT);
    assert_string_equal(err.where, "artifact byte 24");
    assert_non_null(strstr(err.msg, "content hash"));
    /* ...and, resealed by someone who can compute it, still by the state hash. */
    cairn_artifact_seal(c, a.len);
    assert_int_equal(cairn_artifact_load(c, a.len, &art, &err), CAIRN_ECORRUPT);
    assert_string_equal(err.where, "artifact manifest");
    assert_non_null(strstr(err.msg, "state hash"));
    /* A changed digit in the manifest text: the content hash. */
    memcpy(c, a.data, a.len);
    size_t eoff = (size_t)rd64(c + 56 + 8), elen = (size_t)rd64(c + 56 + 16);   /* manifest */
    uint8_t *digit = NULL;
    for (size_t q = 0; q < elen && !digit; q++)
        if (c[eoff + q] >= '1' && c[eoff + q] <= '8')
            digit = &c[eoff + q];
    assert_non_null(digit);
    (*digit)++;
    assert_int_equal(cairn_artifact_load(c, a.len, &art, &err), CAIRN_ECORRUPT);
    assert_non_null(strstr(err.msg, "content hash"));
    assert_int_equal(cairn_artifact_load(c, 10, &art, &err), CAIRN_ECORRUPT);
    assert_string_equal(err.where, "artifact byte 10");
    free(c);
    cairn_buf_reset(&a);
    fixture_free(&fx);
}

/* ---- an independent layout builder, for crafted files -------------------- */

static void wr32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void wr64(uint8_t *p, uint64_t v)
{
    wr32(p, (uint32_t)v);
    wr32(p + 4, (uint32_t)(v >> 32));
}

/* Lays out 8 sections (kind order) as the format document says; the caller frees. */
static uint8_t *layout(const uint8_t *const data[9], const size_t len[9], size_t *n_out)
{
    size_t pos = 56 + 8 * 24, off[9];
    for (int k = 1; k <= 8; k++) {
        off[k] = (pos + 7) / 8 * 8;
        pos = off[k] + len[k];
    }
    uint8_t *p = calloc(pos ? pos : 1, 1);
    memcpy(p, "CAIRNART", 8);
    wr32(p + 8, 2);
    wr32(p + 12, 8);
    wr64(p + 16, pos);
    for (int k = 1; k <= 8; k++) {
        uint8_t *e = p + 56 + (k - 1) * 24;
        wr32(e, (uint32_t)k);
        wr64(e + 8, off[k]);
        wr64(e + 16, len[k]);
        memcpy(p + off[k], data[k], len[k]);
    }
    /* The content hash over the file with its own field zero (still zero here). */
    crypto_generichash(p + 24, 32, p, pos, NULL, 0);
    *n_out = pos;
    return p;
}

/* Replaces section kind's text with text (the other sections as in a) and loads it. */
static cairn_status load_with(const cairn_artifact *a, int kind, const char *text,
                              cairn_error *err)
{
    const uint8_t *data[9] = {0};
    size_t len[9] = {0};
    for (int k = 1; k <= 8; k++) {
        data[k] = a->sections[k].data;
        len[k] = a->sections[k].len;
    }
    if (kind) {
        data[kind] = (const uint8_t *)text;
        len[kind] = strlen(text);
    }
    size_t n = 0;
    uint8_t *p = layout(data, len, &n);
    cairn_artifact *b = NULL;
    cairn_status st = cairn_artifact_load(p, n, &b, err);
    if (st == CAIRN_OK && kind == 0)
        assert_memory_equal(p, a->bytes, n);   /* the writer's layout is the documented one */
    cairn_artifact_free(b);
    free(p);
    return st;
}

/* Replaces the first occurrence of from in s by to (result freed by the caller). */
static char *replace(const char *s, size_t n, const char *from, const char *to)
{
    char *t = calloc(n + strlen(to) + 1, 1);
    memcpy(t, s, n);
    char *at = strstr(t, from);
    assert_non_null(at);
    size_t fl = strlen(from), tl = strlen(to);
    memmove(at + tl, at + fl, strlen(at + fl) + 1);
    memcpy(at, to, tl);
    return t;
}

static void test_crafted_manifests(void **state)
{
    (void)state;
    fixture fx;
    fixture_build(&fx, true);
    cairn_error err = {0};
    cairn_buf a;
    cairn_buf_init(&a);
    assert_int_equal(cairn_artifact_write(&fx.in, &a, &err), CAIRN_OK);
    cairn_artifact *art = NULL;
    assert_int_equal(cairn_artifact_load(a.data, a.len, &art, &err), CAIRN_OK);
    assert_int_equal(load_with(art, 0, NULL, &err), CAIRN_OK);
    const char *m = (const char *)art->sections[CAIRN_ART_MANIFEST].data;
    size_t mn = art->sections[CAIRN_ART_MANIFEST].len;
    static const struct {
        const char *from, *to, *where;
    } cases[] = {
        {"\"model_type\":\"gbdt\"", "\"model_type\":\"linear\"", "artifact transform"},
        {"\"model_type\":\"gbdt\"", "\"model_type\":\"tree\"", "artifact manifest"},
        {"\"task\":\"binary\"", "\"task\":\"regression\"", "artifact model"},
        {"\"plan\"]", "\"plan2\"]", "artifact manifest"},
        {"\"x\",", "", "artifact manifest"},
        {"\"label\":\"churned\"", "\"labels\":\"churned\"", "artifact manifest"},
        {"\"format\":2", "\"format\":1", "artifact manifest"},
        {"\"state_hash\":\"", "\"state_hash\":\"0", "artifact manifest"},
        {"{", "[{", "artifact manifest"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *t = replace(m, mn, cases[i].from, cases[i].to);
        assert_int_equal(load_with(art, CAIRN_ART_MANIFEST, t, &err), CAIRN_ECORRUPT);
        assert_string_equal(err.where, cases[i].where);
        free(t);
    }
    /* Text sections: exactly one JSON value, no NUL, nothing after it. */
    assert_int_equal(load_with(art, CAIRN_ART_EVAL, "{} ", &err), CAIRN_ECORRUPT);
    assert_string_equal(err.where, "artifact eval");
    assert_int_equal(load_with(art, CAIRN_ART_REFSTATS, "{\"a\":", &err), CAIRN_ECORRUPT);
    assert_string_equal(err.where, "artifact refstats");
    assert_int_equal(load_with(art, CAIRN_ART_LINEAGE, "", &err), CAIRN_ECORRUPT);
    assert_string_equal(err.where, "artifact lineage");
    /* Other valid text loads (it is another artifact, with another hash). */
    assert_int_equal(load_with(art, CAIRN_ART_EVAL, "{\"model\":{}}", &err), CAIRN_OK);
    assert_int_equal(load_with(art, CAIRN_ART_CONTRACT, "", &err), CAIRN_OK);
    cairn_artifact_free(art);
    cairn_buf_reset(&a);
    fixture_free(&fx);
}

static void test_from_run(void **state)
{
    (void)state;
    fixture fx;
    fixture_build(&fx, true);
    cairn_run_record r;
    memset(&r, 0, sizeof r);
    strcpy(r.id, "r-00112233aabb");
    r.model = "churn";
    r.status = "succeeded";
    r.finished_at = "2026-01-02T03:04:05Z";
    r.spec_text = "name: churn\n";
    r.spec_json = "{\"name\":\"churn\",\"task\":\"binary\",\"label\":\"churned\","
                  "\"positive\":\"Yes\"}";
    r.seed = 7;
    r.dataset_name = "telco";
    r.dataset_version = 1;
    r.eval_json = "{\"model\":{},\"positive\":\"Yes\"}";
    r.model_type = "gbdt";
    r.transform_state = (uint8_t *)fx.tf_bytes.data;
    r.transform_state_len = fx.tf_bytes.len;
    r.model_state = fx.model_bytes;
    r.model_state_len = fx.model_len;
    r.baseline_state = (uint8_t *)fx.base_bytes;
    r.baseline_state_len = fx.base_len;
    cairn_error err = {0};
    cairn_buf b;
    cairn_buf_init(&b);
    assert_int_equal(cairn_artifact_from_run(&r, NULL, "{\"x\":{}}", &b, &err), CAIRN_OK);
    cairn_artifact *art = NULL;
    assert_int_equal(cairn_artifact_load(b.data, b.len, &art, &err), CAIRN_OK);
    assert_string_equal(art->label, "churned");
    assert_string_equal(art->run_id, "r-00112233aabb");
    assert_int_equal(art->sections[CAIRN_ART_CONTRACT].len, 0);
    assert_int_equal(art->sections[CAIRN_ART_REFSTATS].len, 8);
    cairn_artifact_free(art);
    cairn_buf_reset(&b);
    r.model_state = NULL;   /* a failed run has no state */
    assert_int_equal(cairn_artifact_from_run(&r, NULL, NULL, &b, &err), CAIRN_EINVAL);
    cairn_buf_reset(&b);
    fixture_free(&fx);
}

static void test_sign_verify(void **state)
{
    (void)state;
    unsigned char pk[CAIRN_ARTIFACT_PK_BYTES], sk[CAIRN_ARTIFACT_SK_BYTES];
    unsigned char pk2[CAIRN_ARTIFACT_PK_BYTES], sk2[CAIRN_ARTIFACT_SK_BYTES];
    unsigned char sig[CAIRN_ARTIFACT_SIG_BYTES];
    unsigned char hash[CAIRN_HASH_BYTES];
    cairn_hasher h;
    cairn_hasher_init(&h);
    cairn_hasher_update(&h, "artifact", 8);
    cairn_hasher_final(&h, hash);
    assert_int_equal(cairn_artifact_keygen(pk, sk, NULL), CAIRN_OK);
    assert_int_equal(cairn_artifact_keygen(pk2, sk2, NULL), CAIRN_OK);
    assert_int_equal(cairn_artifact_sign(hash, sk, sig, NULL), CAIRN_OK);
    assert_true(cairn_artifact_verify(hash, sig, pk));
    assert_false(cairn_artifact_verify(hash, sig, pk2));
    hash[5] ^= 1;
    assert_false(cairn_artifact_verify(hash, sig, pk));
    hash[5] ^= 1;
    sig[0] ^= 1;
    assert_false(cairn_artifact_verify(hash, sig, pk));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gbdt_round_trip),
        cmocka_unit_test(test_linear_round_trip),
        cmocka_unit_test(test_writer_refuses_inconsistent_input),
        cmocka_unit_test(test_damage),
        cmocka_unit_test(test_specific_errors),
        cmocka_unit_test(test_crafted_manifests),
        cmocka_unit_test(test_from_run),
        cmocka_unit_test(test_sign_verify),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
