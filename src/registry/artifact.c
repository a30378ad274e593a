/*
 * artifact.c -- writes and loads the model artifact file (artifact.h,
 * docs/artifact-format.md).
 *
 * The writer lays the eight sections out in kind order, each at the next
 * 8-byte boundary after the previous one, with zero padding; the loader
 * accepts exactly that canonical layout, so any damage to the header, the
 * table or the padding is refused, and a damaged binary state is refused
 * through the state hash the manifest carries. JSON sections are parsed with
 * cJSON (no execution, no includes); the binary states go through their own
 * validating decoders and are then cross-checked (task, feature counts).
 */
#include "registry/artifact.h"

#include <cjson/cJSON.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

static const char *const SECTION_NAMES[CAIRN_ART_N_KINDS + 1] = {
    "unknown", "manifest", "contract", "transform", "model", "baseline",
    "refstats", "eval", "lineage"};

const char *cairn_artifact_section_name(uint32_t kind)
{
    return kind >= 1 && kind <= CAIRN_ART_N_KINDS ? SECTION_NAMES[kind] : "unknown";
}

static size_t align8(size_t x)
{
    return (x + 7u) & ~(size_t)7u;
}

static void put_u32(cairn_buf *b, uint32_t v)
{
    uint8_t p[4];
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
    cairn_buf_append(b, p, 4);
}

static void put_u64(cairn_buf *b, uint64_t v)
{
    uint8_t p[8];
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
    cairn_buf_append(b, p, 8);
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static const char *linear_task_name(cairn_linear_task t)
{
    switch (t) {
    case CAIRN_LINEAR_BINARY: return "binary";
    case CAIRN_LINEAR_MULTICLASS: return "multiclass";
    case CAIRN_LINEAR_REGRESSION: return "regression";
    }
    return "unknown";
}

static bool valid_model_type(const char *s)
{
    return s && (!strcmp(s, "gbdt") || !strcmp(s, "linear") || !strcmp(s, "baseline"));
}

/* ---- decoding and cross-checking the states (shared by writer and loader) -- */

typedef struct decoded {
    cairn_transform *tf;
    cairn_trees *trees;
    cairn_linear *linear;
    cairn_linear *baseline;
} decoded;

static void decoded_free(decoded *d)
{
    cairn_transform_free(d->tf);
    cairn_trees_free(d->trees);
    cairn_linear_free(d->linear);
    cairn_linear_free(d->baseline);
    memset(d, 0, sizeof *d);
}

/* Re-reports a decoder's error under the artifact's section name. */
static cairn_status rewrap(cairn_status st, const cairn_error *inner, const char *where,
                           cairn_error *err)
{
    if (st == CAIRN_ENOMEM)
        return cairn_error_set(err, CAIRN_ENOMEM, where, "out of memory");
    return cairn_error_set(err, CAIRN_ECORRUPT, where, "%s (at %s)", inner->msg, inner->where);
}

static cairn_status decode_states(const char *model_type, const char *task, const uint8_t *tf,
                                  size_t tf_len, const uint8_t *model, size_t model_len,
                                  const uint8_t *base, size_t base_len, decoded *d,
                                  cairn_error *err)
{
    cairn_error e = {0};
    cairn_status st = cairn_transform_from_bytes((const char *)tf, tf_len, &d->tf, &e);
    if (st != CAIRN_OK)
        return rewrap(st, &e, "artifact transform", err);
    size_t n_out = cairn_transform_n_out(d->tf);
    bool gbdt = !strcmp(model_type, "gbdt");
    cairn_transform_kind want = gbdt ? CAIRN_TRANSFORM_GBDT : CAIRN_TRANSFORM_LINEAR;
    if (cairn_transform_get_kind(d->tf) != want)
        return cairn_error_set(err, CAIRN_ECORRUPT, "artifact transform",
                               "transform kind does not suit model type %s", model_type);
    const char *model_task;
    size_t model_features;
    if (gbdt) {
        st = cairn_trees_from_bytes(model, model_len, &d->trees, &e);
        if (st != CAIRN_OK)
            return rewrap(st, &e, "artifact model", err);
        model_task = cairn_task_name(d->trees->task);
        model_features = d->trees->n_features;
    } else {
        st = cairn_linear_from_bytes(model, model_len, &d->linear, &e);
        if (st != CAIRN_OK)
            return rewrap(st, &e, "artifact model", err);
        if (d->linear->baseline != !strcmp(model_type, "baseline"))
            return cairn_error_set(err, CAIRN_ECORRUPT, "artifact model",
                                   "model section does not hold a %s model", model_type);
        model_task = linear_task_name(d->linear->task);
        model_features = d->linear->n_features;
    }
    if (strcmp(model_task, task) != 0)
        return cairn_error_set(err, CAIRN_ECORRUPT, "artifact model",
                               "model task %s does not match the manifest's %s", model_task, task);
    if (model_features != n_out)
        return cairn_error_set(err, CAIRN_ECORRUPT, "artifact model",
                               "model reads %zu features but the transform gives %zu",
                               model_features, n_out);
    st = cairn_linear_from_bytes(base, base_len, &d->baseline, &e);
    if (st != CAIRN_OK)
        return rewrap(st, &e, "artifact baseline", err);
    if (!d->baseline->baseline || d->baseline->n_features != n_out ||
        strcmp(linear_task_name(d->baseline->task), task) != 0)
        return cairn_error_set(err, CAIRN_ECORRUPT, "artifact baseline",
                               "baseline is not a %s baseline over %zu features", task, n_out);
    return CAIRN_OK;
}

static void state_hash(const uint8_t *tf, size_t tf_len, const uint8_t *model, size_t model_len,
                       const uint8_t *base, size_t base_len, char out[CAIRN_HASH_HEX])
{
    cairn_run_record r;
    memset(&r, 0, sizeof r);
    r.transform_state = (uint8_t *)tf;
    r.transform_state_len = tf_len;
    r.model_state = (uint8_t *)model;
    r.model_state_len = model_len;
    r.baseline_state = (uint8_t *)base;
    r.baseline_state_len = base_len;
    cairn_run_state_hash(&r, out);
}

/* ---- writer ----------------------------------------------------------------- */

static bool add_str(cJSON *o, const char *key, const char *v)
{
    return (v ? cJSON_AddStringToObject(o, key, v) : cJSON_AddNullToObject(o, key)) != NULL;
}

/* Adds parsed JSON text under key (NULL text: null); false when invalid. */
static bool add_raw(cJSON *o, const char *key, const char *text)
{
    if (!text)
        return cJSON_AddNullToObject(o, key) != NULL;
    cJSON *v = cJSON_ParseWithOpts(text, NULL, 1);
    if (!v)
        return false;
    cJSON_AddItemToObject(o, key, v);
    return true;
}

/* Canonical text of JSON input (re-printed unformatted); NULL when invalid. */
static char *canonical_json(const char *text, const char *dflt)
{
    cJSON *v = cJSON_ParseWithOpts(text ? text : dflt, NULL, 1);
    if (!v)
        return NULL;
    char *s = cJSON_PrintUnformatted(v);
    cJSON_Delete(v);
    return s;
}

/* BLAKE2b-256 of the n-byte file p with its content-hash field read as zeros. */
static void content_hash(const uint8_t *p, size_t n, unsigned char out[CAIRN_HASH_BYTES])
{
    static const uint8_t zeros[CAIRN_HASH_BYTES] = {0};
    cairn_hasher h;
    cairn_hasher_init(&h);
    cairn_hasher_update(&h, p, CAIRN_ARTIFACT_CHASH_OFFSET);
    cairn_hasher_update(&h, zeros, sizeof zeros);
    cairn_hasher_update(&h, p + CAIRN_ARTIFACT_HEADER_BYTES, n - CAIRN_ARTIFACT_HEADER_BYTES);
    cairn_hasher_final(&h, out);
}

void cairn_artifact_seal(uint8_t *p, size_t n)
{
    if (n >= CAIRN_ARTIFACT_HEADER_BYTES)
        content_hash(p, n, p + CAIRN_ARTIFACT_CHASH_OFFSET);
}

cairn_status cairn_artifact_write(const cairn_artifact_input *in, cairn_buf *out,
                                  cairn_error *err)
{
    cairn_status st = CAIRN_OK;
    decoded d = {0};
    cJSON *man = NULL, *lin = NULL;
    char *man_s = NULL, *lin_s = NULL, *ref_s = NULL, *eval_s = NULL;
    const char *where = "artifact";
    if (!in || !in->model_name || !in->task || !in->label || !in->run_id || !in->dataset_name ||
        !in->created_at || !valid_model_type(in->model_type) || !in->transform || !in->model ||
        !in->baseline)
        return cairn_error_set(err, CAIRN_EINVAL, where,
                               "artifact input lacks a required field or has a bad model type");
    if (strcmp(in->task, "binary") && strcmp(in->task, "regression") &&
        strcmp(in->task, "multiclass"))
        return cairn_error_set(err, CAIRN_EINVAL, where, "unknown task '%s'", in->task);
    const char *contract = in->contract_yaml ? in->contract_yaml : "";
    st = decode_states(in->model_type, in->task, in->transform, in->transform_len, in->model,
                       in->model_len, in->baseline, in->baseline_len, &d, err);
    if (st != CAIRN_OK)
        goto done;
    char sh[CAIRN_HASH_HEX];
    state_hash(in->transform, in->transform_len, in->model, in->model_len, in->baseline,
               in->baseline_len, sh);

    st = CAIRN_ENOMEM;
    man = cJSON_CreateObject();
    lin = cJSON_CreateObject();
    if (!man || !lin)
        goto nomem;
    cJSON *feats = NULL, *classes = NULL;
    if (!cJSON_AddNumberToObject(man, "format", CAIRN_ARTIFACT_VERSION) ||
        !add_str(man, "model", in->model_name) || !add_str(man, "task", in->task) ||
        !add_str(man, "model_type", in->model_type) ||
        !(feats = cJSON_AddArrayToObject(man, "features")))
        goto nomem;
    for (size_t i = 0; i < cairn_transform_n_inputs(d.tf); i++) {
        cJSON *s = cJSON_CreateString(cairn_transform_input_name(d.tf, i));
        if (!s)
            goto nomem;
        cJSON_AddItemToArray(feats, s);
    }
    if (!add_str(man, "time_column", cairn_transform_time_name(d.tf)) ||
        !add_str(man, "label", in->label) || !add_str(man, "positive", in->positive) ||
        !(classes = cJSON_AddArrayToObject(man, "classes")))
        goto nomem;
    for (size_t i = 0; i < in->n_classes; i++) {
        cJSON *s = cJSON_CreateString(in->classes[i] ? in->classes[i] : "");
        if (!s)
            goto nomem;
        cJSON_AddItemToArray(classes, s);
    }
    char dref[CAIRN_NAME_MAX + 32];
    snprintf(dref, sizeof dref, "%.*s@%d", CAIRN_NAME_MAX, in->dataset_name, in->dataset_version);
    if (!add_str(man, "run_id", in->run_id) || !add_str(man, "dataset", dref) ||
        !add_str(man, "dataset_hash", in->dataset_hash) ||
        !add_str(man, "contract_hash", in->contract_hash) ||
        !add_str(man, "code_version", in->code_version) ||
        !add_str(man, "created_at", in->created_at) || !add_str(man, "state_hash", sh))
        goto nomem;
    if (!add_str(lin, "run_id", in->run_id) || !add_str(lin, "spec_text", in->spec_text))
        goto nomem;
    if (!add_raw(lin, "spec", in->spec_json)) {
        st = cairn_error_set(err, CAIRN_EINVAL, where, "the resolved spec is not valid JSON");
        goto done;
    }
    if (!cJSON_AddNumberToObject(lin, "seed", (double)in->seed) ||
        !add_str(lin, "dataset", dref) || !add_str(lin, "dataset_hash", in->dataset_hash))
        goto nomem;
    if (!add_raw(lin, "build", in->build_json)) {
        st = cairn_error_set(err, CAIRN_EINVAL, where, "the build info is not valid JSON");
        goto done;
    }
    man_s = cJSON_PrintUnformatted(man);
    lin_s = cJSON_PrintUnformatted(lin);
    if (!man_s || !lin_s)
        goto nomem;
    ref_s = canonical_json(in->refstats_json, "{}");
    eval_s = canonical_json(in->eval_json, "{}");
    if (!ref_s || !eval_s) {
        st = cairn_error_set(err, CAIRN_EINVAL, where,
                             "reference statistics or evaluation summary is not valid JSON");
        goto done;
    }

    const void *data[CAIRN_ART_N_KINDS + 1] = {NULL, man_s, contract, in->transform, in->model,
                                                in->baseline, ref_s, eval_s, lin_s};
    size_t len[CAIRN_ART_N_KINDS + 1] = {0, strlen(man_s), strlen(contract), in->transform_len,
                                         in->model_len, in->baseline_len, strlen(ref_s),
                                         strlen(eval_s), strlen(lin_s)};
    size_t off[CAIRN_ART_N_KINDS + 1];
    size_t pos = CAIRN_ARTIFACT_HEADER_BYTES + CAIRN_ART_N_KINDS * CAIRN_ARTIFACT_ENTRY_BYTES;
    for (int k = 1; k <= CAIRN_ART_N_KINDS; k++) {
        off[k] = align8(pos);
        pos = off[k] + len[k];
    }
    size_t start = out->len;
    cairn_buf_append(out, CAIRN_ARTIFACT_MAGIC, 8);
    put_u32(out, CAIRN_ARTIFACT_VERSION);
    put_u32(out, CAIRN_ART_N_KINDS);
    put_u64(out, pos);
    static const uint8_t no_hash[CAIRN_HASH_BYTES] = {0};
    cairn_buf_append(out, no_hash, sizeof no_hash);   /* filled in below */
    for (int k = 1; k <= CAIRN_ART_N_KINDS; k++) {
        put_u32(out, (uint32_t)k);
        put_u32(out, 0);
        put_u64(out, off[k]);
        put_u64(out, len[k]);
    }
    static const uint8_t zeros[8] = {0};
    size_t written = CAIRN_ARTIFACT_HEADER_BYTES + CAIRN_ART_N_KINDS * CAIRN_ARTIFACT_ENTRY_BYTES;
    for (int k = 1; k <= CAIRN_ART_N_KINDS; k++) {
        cairn_buf_append(out, zeros, off[k] - written);   /* < 8 by construction */
        cairn_buf_append(out, data[k], len[k]);
        written = off[k] + len[k];
    }
    if (!out->failed && out->len - start != pos) {
        st = cairn_error_set(err, CAIRN_EINTERNAL, where, "artifact layout mismatch");
        goto done;
    }
    if (out->failed)
        goto nomem;
    content_hash((const uint8_t *)out->data + start, pos,
                 (unsigned char *)out->data + start + CAIRN_ARTIFACT_CHASH_OFFSET);
    st = CAIRN_OK;
    goto done;
nomem:
    st = cairn_error_set(err, CAIRN_ENOMEM, where, "out of memory");
done:
    cJSON_Delete(man);
    cJSON_Delete(lin);
    cJSON_free(man_s);
    cJSON_free(lin_s);
    cJSON_free(ref_s);
    cJSON_free(eval_s);
    decoded_free(&d);
    return st;
}

/* ---- loader ------------------------------------------------------------------ */

static cairn_status corrupt_at(cairn_error *err, size_t byte, const char *msg)
{
    char where[48];
    snprintf(where, sizeof where, "artifact byte %zu", byte);
    return cairn_error_set(err, CAIRN_ECORRUPT, where, "%s", msg);
}

/* Parses a JSON text section: no NUL inside, one complete value. */
static cJSON *parse_section(const cairn_artifact_view *v, uint32_t kind, cairn_status *st,
                            cairn_error *err)
{
    char where[32];
    snprintf(where, sizeof where, "artifact %s", SECTION_NAMES[kind]);
    if (memchr(v->data, 0, v->len)) {
        *st = cairn_error_set(err, CAIRN_ECORRUPT, where, "section holds a NUL byte");
        return NULL;
    }
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts((const char *)v->data, v->len, &end, 0);
    if (j && end != (const char *)v->data + v->len) {
        cJSON_Delete(j);    /* bytes after the value */
        j = NULL;
    }
    if (!j) {
        *st = cairn_error_set(err, CAIRN_ECORRUPT, where, "section is not valid JSON");
        return NULL;
    }
    return j;
}

static char *manifest_str(const cJSON *m, const char *key, bool required, cairn_status *st,
                          cairn_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, key);
    if (cJSON_IsString(v) && v->valuestring) {
        char *s = cairn_strdup(v->valuestring);
        if (!s)
            *st = cairn_error_set(err, CAIRN_ENOMEM, "artifact manifest", "out of memory");
        return s;
    }
    if (!required && cJSON_IsNull(v))
        return NULL;
    *st = cairn_error_set(err, CAIRN_ECORRUPT, "artifact manifest",
                          "manifest key \"%s\" is missing or not a string", key);
    return NULL;
}

static cairn_status check_layout(const uint8_t *p, size_t n, cairn_artifact *a, cairn_error *err)
{
    if (n < CAIRN_ARTIFACT_HEADER_BYTES)
        return corrupt_at(err, n, "file is shorter than the artifact header");
    if (memcmp(p, CAIRN_ARTIFACT_MAGIC, 8) != 0)
        return corrupt_at(err, 0, "not a cairn artifact (bad magic)");
    if (get_u32(p + 8) != CAIRN_ARTIFACT_VERSION)
        return corrupt_at(err, 8, "unsupported artifact format version");
    uint32_t count = get_u32(p + 12);
    if (count > CAIRN_ARTIFACT_MAX_SECTIONS)
        return corrupt_at(err, 12, "too many sections");
    if (get_u64(p + 16) != n)
        return corrupt_at(err, 16, "recorded total length does not match the file size");
    size_t table_end = CAIRN_ARTIFACT_HEADER_BYTES + (size_t)count * CAIRN_ARTIFACT_ENTRY_BYTES;
    if (table_end > n)
        return corrupt_at(err, n, "section table runs past the end of the file");
    size_t prev_end = table_end;
    for (uint32_t i = 0; i < count; i++) {
        size_t e = CAIRN_ARTIFACT_HEADER_BYTES + (size_t)i * CAIRN_ARTIFACT_ENTRY_BYTES;
        uint32_t kind = get_u32(p + e);
        uint64_t off = get_u64(p + e + 8), len = get_u64(p + e + 16);
        if (kind < 1 || kind > CAIRN_ART_N_KINDS)
            return corrupt_at(err, e, "unknown section kind");
        if (a->sections[kind].data)
            return corrupt_at(err, e, "section kind appears twice");
        if (get_u32(p + e + 4) != 0)
            return corrupt_at(err, e + 4, "section flags must be 0");
        if (off != align8(prev_end))
            return corrupt_at(err, e + 8,
                              "section offset is not the next 8-byte boundary after the last");
        if (off > n || len > n - off)
            return corrupt_at(err, e + 16, "section runs past the end of the file");
        for (size_t q = prev_end; q < off; q++)
            if (p[q] != 0)
                return corrupt_at(err, q, "padding byte is not zero");
        a->sections[kind].data = p + off;
        a->sections[kind].len = (size_t)len;
        prev_end = (size_t)(off + len);
    }
    if (prev_end != n)
        return corrupt_at(err, prev_end, "bytes after the last section");
    for (uint32_t k = 1; k <= CAIRN_ART_N_KINDS; k++)
        if (!a->sections[k].data)
            return cairn_error_set(err, CAIRN_ECORRUPT, "artifact",
                                   "required section '%s' is missing", SECTION_NAMES[k]);
    /* The layout is sound; now no byte may have changed, text sections included. */
    unsigned char want[CAIRN_HASH_BYTES];
    content_hash(p, n, want);
    if (memcmp(want, p + CAIRN_ARTIFACT_CHASH_OFFSET, CAIRN_HASH_BYTES) != 0)
        return corrupt_at(err, CAIRN_ARTIFACT_CHASH_OFFSET,
                          "content hash does not match the bytes: the file was damaged or "
                          "altered");
    return CAIRN_OK;
}

cairn_status cairn_artifact_load(const void *bytes, size_t n, cairn_artifact **out,
                                 cairn_error *err)
{
    *out = NULL;
    cairn_status st = CAIRN_OK;
    cJSON *man = NULL, *other = NULL;
    cairn_artifact *a = cairn_calloc(1, sizeof *a);
    if (!a || !(a->bytes = cairn_malloc(n ? n : 1))) {
        st = cairn_error_set(err, CAIRN_ENOMEM, "artifact", "out of memory");
        goto done;
    }
    if (n)
        memcpy(a->bytes, bytes, n);
    a->n_bytes = n;
    st = check_layout(a->bytes, n, a, err);
    if (st != CAIRN_OK)
        goto done;
    cairn_hasher h;
    cairn_hasher_init(&h);
    cairn_hasher_update(&h, a->bytes, n);
    cairn_hasher_final(&h, a->hash);
    cairn_hash_hex(a->hash, a->hash_hex);

    /* The other text sections: valid JSON (contract: no NUL). */
    if (memchr(a->sections[CAIRN_ART_CONTRACT].data, 0, a->sections[CAIRN_ART_CONTRACT].len)) {
        st = cairn_error_set(err, CAIRN_ECORRUPT, "artifact contract", "section holds a NUL byte");
        goto done;
    }
    static const uint32_t json_kinds[] = {CAIRN_ART_REFSTATS, CAIRN_ART_EVAL, CAIRN_ART_LINEAGE};
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(json_kinds); i++) {
        other = parse_section(&a->sections[json_kinds[i]], json_kinds[i], &st, err);
        if (!other)
            goto done;
        cJSON_Delete(other);
        other = NULL;
    }

    man = parse_section(&a->sections[CAIRN_ART_MANIFEST], CAIRN_ART_MANIFEST, &st, err);
    if (!man)
        goto done;
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(man, "format");
    if (!cJSON_IsObject(man) || !cJSON_IsNumber(fmt) ||
        fmt->valuedouble != CAIRN_ARTIFACT_VERSION) {
        st = cairn_error_set(err, CAIRN_ECORRUPT, "artifact manifest",
                             "manifest is not an object with \"format\": 1");
        goto done;
    }
    if (!(a->model_name = manifest_str(man, "model", true, &st, err)) ||
        !(a->task = manifest_str(man, "task", true, &st, err)) ||
        !(a->model_type = manifest_str(man, "model_type", true, &st, err)) ||
        !(a->label = manifest_str(man, "label", true, &st, err)) ||
        !(a->run_id = manifest_str(man, "run_id", true, &st, err)) ||
        !(a->state_hash = manifest_str(man, "state_hash", true, &st, err)))
        goto done;
    if (!valid_model_type(a->model_type)) {
        st = cairn_error_set(err, CAIRN_ECORRUPT, "artifact manifest", "unknown model_type '%s'",
                             a->model_type);
        goto done;
    }
    const cairn_artifact_view *tf = &a->sections[CAIRN_ART_TRANSFORM],
                              *md = &a->sections[CAIRN_ART_MODEL],
                              *bl = &a->sections[CAIRN_ART_BASELINE];
    char sh[CAIRN_HASH_HEX];
    state_hash(tf->data, tf->len, md->data, md->len, bl->data, bl->len, sh);
    if (strcmp(sh, a->state_hash) != 0) {
        st = cairn_error_set(err, CAIRN_ECORRUPT, "artifact manifest",
                             "transform, model or baseline section does not match the "
                             "manifest's state hash");
        goto done;
    }
    decoded d = {0};
    st = decode_states(a->model_type, a->task, tf->data, tf->len, md->data, md->len, bl->data,
                       bl->len, &d, err);
    a->transform = d.tf;
    a->trees = d.trees;
    a->linear = d.linear;
    a->baseline = d.baseline;
    if (st != CAIRN_OK)
        goto done;
    /* The manifest's feature list is the transform's input columns, in order. */
    const cJSON *feats = cJSON_GetObjectItemCaseSensitive(man, "features");
    size_t n_in = cairn_transform_n_inputs(a->transform);
    bool ok = cJSON_IsArray(feats) && (size_t)cJSON_GetArraySize(feats) == n_in;
    for (size_t i = 0; ok && i < n_in; i++) {
        const cJSON *f = cJSON_GetArrayItem(feats, (int)i);
        ok = cJSON_IsString(f) &&
             !strcmp(f->valuestring, cairn_transform_input_name(a->transform, i));
    }
    if (!ok) {
        st = cairn_error_set(err, CAIRN_ECORRUPT, "artifact manifest",
                             "manifest features do not match the transform's input columns");
        goto done;
    }
done:
    cJSON_Delete(man);
    cJSON_Delete(other);
    if (st != CAIRN_OK) {
        cairn_artifact_free(a);
        return st;
    }
    *out = a;
    return CAIRN_OK;
}

void cairn_artifact_free(cairn_artifact *a)
{
    if (!a)
        return;
    cairn_free(a->bytes);
    cairn_free(a->model_name);
    cairn_free(a->task);
    cairn_free(a->model_type);
    cairn_free(a->label);
    cairn_free(a->run_id);
    cairn_free(a->state_hash);
    cairn_transform_free(a->transform);
    cairn_trees_free(a->trees);
    cairn_linear_free(a->linear);
    cairn_linear_free(a->baseline);
    cairn_free(a);
}

/* ---- from a run record ----------------------------------------------------------- */

cairn_status cairn_artifact_from_run(const cairn_run_record *r, const char *contract_yaml,
                                     const char *refstats_json, cairn_buf *out, cairn_error *err)
{
    if (!r || !r->spec_json || !r->model_type || !r->transform_state || !r->model_state ||
        !r->baseline_state)
        return cairn_error_set(err, CAIRN_EINVAL, "artifact",
                               "run %s has no trained state (not a succeeded run)",
                               r ? r->id : "?");
    cairn_status st = CAIRN_OK;
    const char **classes = NULL;
    cJSON *spec = cJSON_Parse(r->spec_json);
    cJSON *ev = r->eval_json ? cJSON_Parse(r->eval_json) : NULL;
    const cJSON *task = cJSON_GetObjectItemCaseSensitive(spec, "task");
    const cJSON *label = cJSON_GetObjectItemCaseSensitive(spec, "label");
    const cJSON *pos = cJSON_GetObjectItemCaseSensitive(spec, "positive");
    if (!cJSON_IsString(task) || !cJSON_IsString(label)) {
        st = cairn_error_set(err, CAIRN_EINVAL, "artifact",
                             "run %s: the resolved spec lacks task or label", r->id);
        goto done;
    }
    const cJSON *cls = cJSON_GetObjectItemCaseSensitive(ev, "classes");
    size_t n_classes = cJSON_IsArray(cls) ? (size_t)cJSON_GetArraySize(cls) : 0;
    if (n_classes) {
        classes = cairn_calloc(n_classes, sizeof *classes);
        if (!classes) {
            st = cairn_error_set(err, CAIRN_ENOMEM, "artifact", "out of memory");
            goto done;
        }
        for (size_t i = 0; i < n_classes; i++) {
            const cJSON *c = cJSON_GetArrayItem(cls, (int)i);
            classes[i] = cJSON_IsString(c) ? c->valuestring : "";
        }
    }
    cairn_artifact_input in = {
        .model_name = r->model, .task = task->valuestring, .model_type = r->model_type,
        .label = label->valuestring,
        .positive = cJSON_IsString(pos) && !strcmp(task->valuestring, "binary") ? pos->valuestring
                                                                               : NULL,
        .classes = classes, .n_classes = n_classes, .run_id = r->id,
        .dataset_name = r->dataset_name, .dataset_version = r->dataset_version,
        .dataset_hash = r->dataset_hash, .contract_hash = r->contract_hash,
        .code_version = r->code_version, .created_at = r->finished_at ? r->finished_at
                                                                      : r->started_at,
        .spec_text = r->spec_text, .spec_json = r->spec_json, .seed = r->seed,
        .build_json = r->build_json, .contract_yaml = contract_yaml,
        .refstats_json = refstats_json ? refstats_json : r->refstats_json,
        .eval_json = r->eval_json,
        .transform = r->transform_state, .transform_len = r->transform_state_len,
        .model = r->model_state, .model_len = r->model_state_len,
        .baseline = r->baseline_state, .baseline_len = r->baseline_state_len};
    st = cairn_artifact_write(&in, out, err);
done:
    cairn_free(classes);
    cJSON_Delete(spec);
    cJSON_Delete(ev);
    return st;
}

/* ---- signatures ------------------------------------------------------------------ */

cairn_status cairn_artifact_keygen(unsigned char pk[CAIRN_ARTIFACT_PK_BYTES],
                                   unsigned char sk[CAIRN_ARTIFACT_SK_BYTES], cairn_error *err)
{
    if (sodium_init() < 0 || crypto_sign_keypair(pk, sk) != 0)
        return cairn_error_set(err, CAIRN_EINTERNAL, "artifact", "key generation failed");
    return CAIRN_OK;
}

cairn_status cairn_artifact_sign(const unsigned char hash[CAIRN_HASH_BYTES],
                                 const unsigned char sk[CAIRN_ARTIFACT_SK_BYTES],
                                 unsigned char sig[CAIRN_ARTIFACT_SIG_BYTES], cairn_error *err)
{
    if (sodium_init() < 0 || crypto_sign_detached(sig, NULL, hash, CAIRN_HASH_BYTES, sk) != 0)
        return cairn_error_set(err, CAIRN_EINTERNAL, "artifact", "signing failed");
    return CAIRN_OK;
}

bool cairn_artifact_verify(const unsigned char hash[CAIRN_HASH_BYTES],
                           const unsigned char sig[CAIRN_ARTIFACT_SIG_BYTES],
                           const unsigned char pk[CAIRN_ARTIFACT_PK_BYTES])
{
    return sodium_init() >= 0 &&
           crypto_sign_verify_detached(sig, hash, CAIRN_HASH_BYTES, pk) == 0;
}
