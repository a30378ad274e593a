/*
 * artifact.h -- the model artifact: one self-describing file holding what
 * serving needs from a training run (manifest, contract, transform state,
 * model, baseline, reference statistics, evaluation summary, lineage).
 *
 * The layout is in docs/artifact-format.md. The loader treats the bytes as
 * untrusted: every offset and length is checked against the file before it
 * is used, the layout must be exactly the canonical one the writer produces,
 * the three binary states must match the manifest's state hash, and each
 * state is decoded and cross-checked. Nothing in a file is ever executed.
 * The artifact's identity is the BLAKE2b-256 of the whole file; an optional
 * Ed25519 signature over that hash is kept beside the file, not in it.
 */
#ifndef CAIRN_REGISTRY_ARTIFACT_H
#define CAIRN_REGISTRY_ARTIFACT_H

#include "learn/gbdt.h"
#include "learn/linear.h"
#include "pipeline/transform.h"
#include "registry/registry.h"

#define CAIRN_ARTIFACT_MAGIC "CAIRNART"
#define CAIRN_ARTIFACT_VERSION 1u
#define CAIRN_ARTIFACT_MAX_SECTIONS 64u
#define CAIRN_ARTIFACT_HEADER_BYTES 24u   /* magic, version, count, total length */
#define CAIRN_ARTIFACT_ENTRY_BYTES 24u    /* kind, flags, offset, length */
#define CAIRN_ARTIFACT_SIG_BYTES 64u      /* Ed25519 detached signature */
#define CAIRN_ARTIFACT_PK_BYTES 32u
#define CAIRN_ARTIFACT_SK_BYTES 64u

typedef enum cairn_artifact_kind {
    CAIRN_ART_MANIFEST = 1,
    CAIRN_ART_CONTRACT = 2,
    CAIRN_ART_TRANSFORM = 3,
    CAIRN_ART_MODEL = 4,
    CAIRN_ART_BASELINE = 5,
    CAIRN_ART_REFSTATS = 6,
    CAIRN_ART_EVAL = 7,
    CAIRN_ART_LINEAGE = 8
} cairn_artifact_kind;
#define CAIRN_ART_N_KINDS 8

/* Section name ("manifest", "contract", ...) or "unknown". */
const char *cairn_artifact_section_name(uint32_t kind);

/* What the writer takes; every pointer is borrowed. NULL optional strings are
 * written as documented (contract "", refstats "{}", eval "{}", hashes null). */
typedef struct cairn_artifact_input {
    const char *model_name;       /* required */
    const char *task;             /* "binary" | "regression" | "multiclass" */
    const char *model_type;       /* "gbdt" | "linear" | "baseline" */
    const char *label;            /* the label column; required */
    const char *positive;         /* binary: the positive class; NULL otherwise */
    const char *const *classes;   /* multiclass: class names in code order */
    size_t n_classes;
    const char *run_id;           /* required */
    const char *dataset_name;     /* required */
    int dataset_version;
    const char *dataset_hash;
    const char *contract_hash;    /* NULL: the run had no contract */
    const char *code_version;
    const char *created_at;       /* ISO 8601 UTC; required (kept for canonical rewrites) */
    const char *spec_text;
    const char *spec_json;        /* resolved spec JSON (NULL: null) */
    int64_t seed;
    const char *build_json;       /* NULL: null */
    const char *contract_yaml;
    const char *refstats_json;
    const char *eval_json;
    const uint8_t *transform;     /* cairn_transform_to_bytes */
    size_t transform_len;
    const uint8_t *model;         /* cairn_trees_to_bytes / cairn_linear_to_bytes */
    size_t model_len;
    const uint8_t *baseline;      /* cairn_linear_to_bytes */
    size_t baseline_len;
} cairn_artifact_input;

typedef struct cairn_artifact_view {
    const uint8_t *data;          /* into the artifact's own copy of the file */
    size_t len;
} cairn_artifact_view;

typedef struct cairn_artifact {
    uint8_t *bytes;               /* owned copy of the whole file */
    size_t n_bytes;
    unsigned char hash[CAIRN_HASH_BYTES];
    char hash_hex[CAIRN_HASH_HEX];
    cairn_artifact_view sections[CAIRN_ART_N_KINDS + 1];  /* by kind; [0] unused */
    /* From the manifest (owned, NUL-terminated). */
    char *model_name, *task, *model_type, *label, *run_id, *state_hash;
    /* Decoded states. model_type "gbdt": trees; otherwise linear. */
    cairn_transform *transform;
    cairn_trees *trees;
    cairn_linear *linear;
    cairn_linear *baseline;
} cairn_artifact;

/*
 * Builds the artifact file into out (appended to; the caller inits/resets
 * it). The states are decoded and cross-checked first, so the writer never
 * produces a file the loader refuses. The same input gives the same bytes.
 * Errors: CAIRN_EINVAL (missing or inconsistent input, invalid JSON text),
 * CAIRN_ECORRUPT (a state that does not decode), CAIRN_ENOMEM.
 */
cairn_status cairn_artifact_write(const cairn_artifact_input *in, cairn_buf *out,
                                  cairn_error *err);

/*
 * Loads an artifact from untrusted bytes (copied). On success *out is new
 * (cairn_artifact_free), else NULL. Errors: CAIRN_ECORRUPT (where =
 * "artifact byte N" for header / table damage, "artifact SECTION" for a
 * section's content), CAIRN_ENOMEM.
 */
cairn_status cairn_artifact_load(const void *bytes, size_t n, cairn_artifact **out,
                                 cairn_error *err);
void cairn_artifact_free(cairn_artifact *a);   /* accepts NULL */

/* Fills an input from a succeeded run record and writes it. contract_yaml and
 * refstats_json may be NULL. Task, label and positive come from the run's
 * spec_json, classes from its eval_json. Errors: as cairn_artifact_write. */
cairn_status cairn_artifact_from_run(const cairn_run_record *r, const char *contract_yaml,
                                     const char *refstats_json, cairn_buf *out,
                                     cairn_error *err);

/* Ed25519 (libsodium) over the 32-byte artifact hash; the signature is stored
 * beside the artifact. keygen/sign return CAIRN_EINTERNAL if libsodium fails;
 * verify returns true only for a valid signature. */
cairn_status cairn_artifact_keygen(unsigned char pk[CAIRN_ARTIFACT_PK_BYTES],
                                   unsigned char sk[CAIRN_ARTIFACT_SK_BYTES], cairn_error *err);
cairn_status cairn_artifact_sign(const unsigned char hash[CAIRN_HASH_BYTES],
                                 const unsigned char sk[CAIRN_ARTIFACT_SK_BYTES],
                                 unsigned char sig[CAIRN_ARTIFACT_SIG_BYTES], cairn_error *err);
bool cairn_artifact_verify(const unsigned char hash[CAIRN_HASH_BYTES],
                           const unsigned char sig[CAIRN_ARTIFACT_SIG_BYTES],
                           const unsigned char pk[CAIRN_ARTIFACT_PK_BYTES]);

#endif /* CAIRN_REGISTRY_ARTIFACT_H */
