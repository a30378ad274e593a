/*
 * artifact.h -- the model artifact: one self-describing file holding what
 * serving needs from a training run (manifest, contract, transform state,
 * model, baseline, reference statistics, evaluation summary, lineage).
 *
 * The layout is in docs/artifact-format.md. The loader treats the bytes as
 * untrusted: every offset and length is checked against the file before it
 * is used, the layout must be exactly the canonical one the writer produces,
 * the three binary states must match the manifest's state hash, and each
 * state is decoded and cross-checked, and the content hash in the header
 * must match the bytes (so no change anywhere, text sections included, goes
 * unnoticed). Nothing in a file is ever executed.
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
#define CAIRN_ARTIFACT_VERSION 2u
#define CAIRN_ARTIFACT_MAX_SECTIONS 64u
#define CAIRN_ARTIFACT_HEADER_BYTES 56u   /* magic, version, count, total length, content hash */
#define CAIRN_ARTIFACT_CHASH_OFFSET 24u   /* the content hash: BLAKE2b-256 of the file with
                                             these 32 bytes read as zeros */
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

/* Recomputes and stores the content hash of the n-byte artifact p (for tools and
 * tests that build or edit files by hand; the writer seals what it writes). */
void cairn_artifact_seal(uint8_t *p, size_t n);

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

/* ---- keys, signatures and trust (trust.c) ------------------------------------------- */
/*
 * Key files are one line of text each: "cairn-ed25519-secret HEX128" (the
 * 64-byte libsodium secret key, file mode 0600) and "cairn-ed25519-public
 * HEX64". A home's trusted keys and the signatures it knows are tables of
 * schema 3 (trusted_keys, signatures; docs/formats.md). When a home trusts at
 * least one key, every artifact it loads must carry a valid signature by a
 * trusted key; with no trusted keys, signatures are checked when present and
 * nothing is required.
 */
typedef struct cairn_signature {
    unsigned char pk[CAIRN_ARTIFACT_PK_BYTES];
    unsigned char sig[CAIRN_ARTIFACT_SIG_BYTES];
} cairn_signature;

/* Writes PREFIX.key (0600, refusing to overwrite) and PREFIX.pub; pk_hex (may be NULL)
 * gets the public key in hex (65 bytes). Errors: CAIRN_EINVAL (a file exists), CAIRN_EIO. */
cairn_status cairn_key_generate(const char *prefix, char *pk_hex, cairn_error *err);
/* Reads a key file. Errors: CAIRN_EINPUT (not a key file of that kind), CAIRN_EIO. */
cairn_status cairn_key_read_secret(const char *path, unsigned char sk[CAIRN_ARTIFACT_SK_BYTES],
                                   cairn_error *err);
cairn_status cairn_key_read_public(const char *path, unsigned char pk[CAIRN_ARTIFACT_PK_BYTES],
                                   cairn_error *err);
/* Parses key file text (untrusted): secret -> 64 bytes, else 32, into out.
 * Errors: CAIRN_EINPUT (where = name). */
cairn_status cairn_key_parse(const char *text, size_t len, bool secret, unsigned char *out,
                             const char *name, cairn_error *err);
/* Hex of n bytes into out (2n + 1 bytes); hex to bytes (exactly n): false when malformed. */
void cairn_hex_encode(const unsigned char *p, size_t n, char *out);
bool cairn_hex_decode(const char *hex, unsigned char *out, size_t n);

/*
 * Detached signature files (FILE.sig beside an exported artifact), JSON:
 *   {"artifact":"HEX64","signatures":[{"public_key":"HEX64","signature":"HEX128"},...]}
 * parse reads untrusted text: at most CAIRN_SIGFILE_MAX signatures; "artifact",
 * when present, must be hash_hex (NULL: not checked). *out: array of *n
 * (cairn_free). Errors: CAIRN_EINPUT (where = name). format appends the file.
 */
#define CAIRN_SIGFILE_MAX 1024
cairn_status cairn_sigfile_parse(const char *text, size_t len, const char *name,
                                 const char *hash_hex, cairn_signature **out, size_t *n,
                                 cairn_error *err);
void cairn_sigfile_format(const char *hash_hex, const cairn_signature *sigs, size_t n,
                          cairn_buf *b);

/* Adds a trusted public key (again: updates its name). */
cairn_status cairn_trust_add(cairn_home *h, const unsigned char pk[CAIRN_ARTIFACT_PK_BYTES],
                             const char *name, cairn_error *err);
typedef struct cairn_trusted_key {
    char pk_hex[2 * CAIRN_ARTIFACT_PK_BYTES + 1];
    char name[128];
    char added_at[32];
} cairn_trusted_key;
/* The trusted keys, by public key. *out: array of n (cairn_free). */
cairn_status cairn_trust_list(cairn_home *h, cairn_trusted_key **out, size_t *n,
                              cairn_error *err);

/* Records a signature of artifact hash hash_hex after verifying it.
 * Errors: CAIRN_ECHECK (does not verify), CAIRN_EIO. */
cairn_status cairn_signature_add(cairn_home *h, const char *hash_hex, const cairn_signature *s,
                                 cairn_error *err);
/* The signatures recorded for an artifact hash. *out: array of n (cairn_free). */
cairn_status cairn_signature_list(cairn_home *h, const char *hash_hex, cairn_signature **out,
                                  size_t *n, cairn_error *err);

/*
 * The trust policy for an artifact of hash hash (binary) and hash_hex: the
 * recorded signatures plus extra (e.g. from an imported .sig file) are
 * verified; one that does not verify is an error whatever the policy
 * (CAIRN_ECHECK, "wrongly signed"). When the home trusts keys and no valid
 * signature is by a trusted key: CAIRN_ECHECK ("not signed by a trusted
 * key"). *n_valid (may be NULL) gets the count of valid signatures.
 */
cairn_status cairn_trust_check(cairn_home *h, const unsigned char hash[CAIRN_HASH_BYTES],
                               const char *hash_hex, const cairn_signature *extra,
                               size_t n_extra, size_t *n_valid, cairn_error *err);

/* Loads objects/<hash_hex>.art: the object's hash, the strict loader, then the
 * trust policy. Errors: those of cairn_home_object_get, cairn_artifact_load and
 * cairn_trust_check. */
cairn_status cairn_home_artifact_load(cairn_home *h, const char *hash_hex, cairn_artifact **out,
                                      cairn_error *err);

#endif /* CAIRN_REGISTRY_ARTIFACT_H */
