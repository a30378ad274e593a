/*
 * govern.h -- review, promotion, rollback, export and import against a home:
 * the orchestration behind `cairn review`, `cairn promote`, `cairn rollback`,
 * `cairn export` and `cairn import`. It gathers what review.h needs from the
 * registry (the production version, its artifact, the comparison on the
 * run's test part), writes artifacts into objects/, and moves aliases
 * through models.h, which makes each move atomic and conflict-checked.
 */
#ifndef CAIRN_REVIEW_GOVERN_H
#define CAIRN_REVIEW_GOVERN_H

#include "registry/artifact.h"
#include "registry/models.h"
#include "review/review.h"

/* A review with everything it borrows. */
typedef struct cairn_review_session {
    cairn_review review;
    cairn_compare_result compare;
    bool has_compare;
    char compare_note[256];       /* why there is no comparison, "" when there is one */
    char model[CAIRN_NAME_MAX + 1];   /* the registry model reviewed against */
    char alias[CAIRN_ALIAS_MAX + 1];  /* the alias a promotion would move */
    int production_version;       /* 0: none */
    int alias_version;            /* the alias's version when reviewed (0: unset) */
} cairn_review_session;

void cairn_review_session_reset(cairn_review_session *s);

/*
 * Reviews run (succeeded) for model (NULL: the run's spec name) and alias
 * (NULL: "production"). When the model has a production version whose
 * artifact fits the run's data (same task and label, the same positive class
 * or classes, its input columns present), both are scored on the run's test
 * part and compared (compare.h); otherwise compare_note says why not.
 * Errors: CAIRN_EINVAL (failed run, bad names), registry and artifact errors.
 */
cairn_status cairn_review_session_load(cairn_home *h, const cairn_run_record *run,
                                       const char *model, const char *alias, int threads,
                                       cairn_review_session *out, cairn_error *err);

typedef struct cairn_promote_opts {
    const char *model;            /* registry model; NULL: the run's spec name */
    const char *alias;            /* NULL: "production" */
    double percent;               /* canary traffic percentage; NaN otherwise */
    const char *override_reason;  /* non-NULL: promote despite BLOCK or failed gates */
    const char *reason;           /* recorded in the audit log (override_reason wins) */
    int threads;
} cairn_promote_opts;

void cairn_promote_opts_init(cairn_promote_opts *o);

typedef struct cairn_promote_result {
    cairn_review_session session;
    bool promoted;
    bool overridden;              /* promoted despite failures */
    int version;                  /* MODEL@N created or reused */
    int from_version;             /* what the alias held (0: unset) */
    char artifact_hash[CAIRN_HASH_HEX];
    char **reasons;               /* why it was refused (or overridden): failed gates, BLOCK */
    size_t n_reasons;
} cairn_promote_result;

void cairn_promote_result_reset(cairn_promote_result *r);

/*
 * Promotes run_id: reviews it (with its stored gates), and unless the review
 * blocks or a gate fails (or override_reason is given), writes its artifact to
 * objects/, registers MODEL@N and moves the alias, recording the audit row
 * (action "promote" or "override", the verdict and the gate results). A
 * refusal is recorded too (action "refused") and returns CAIRN_ECHECK with
 * the reasons in out->reasons; so does a conflicting concurrent move. When
 * the home trusts keys, the artifact must be signed by one (cairn sign).
 */
cairn_status cairn_promote(cairn_home *h, const char *run_id, const cairn_promote_opts *o,
                           cairn_promote_result *out, cairn_error *err);

/*
 * Moves alias (NULL: "production") of model back to the version before the
 * current one in its history (models.h, cairn_model_rollback_target), or to
 * to_version when > 0, recording the move with reason. *from and *to get the
 * versions. Errors: CAIRN_ENOTFOUND (model, version), CAIRN_ECHECK (nothing
 * to roll back to, the alias already there, a concurrent move), CAIRN_EIO.
 */
cairn_status cairn_rollback(cairn_home *h, const char *model, const char *alias, int to_version,
                            const char *reason, int *from, int *to, cairn_error *err);

/*
 * The artifact bytes of "MODEL", "MODEL@N", "MODEL@ALIAS" or a run id ("r-...")
 * into out (appended), with the signatures the home knows for it (*sigs:
 * array of *n_sigs, cairn_free). A model version's artifact is read from
 * objects/ and checked (hash, loader, trust); a run's is built from it.
 */
cairn_status cairn_export(cairn_home *h, const char *ref, cairn_buf *out, cairn_signature **sigs,
                          size_t *n_sigs, char hash_hex[CAIRN_HASH_HEX], cairn_error *err);

/*
 * Imports artifact bytes with optional detached signatures: loads them
 * strictly, applies the home's trust policy (sigs count), stores the object
 * and the signatures and registers a version of model (NULL: the manifest's
 * model name) with source "import" and the artifact's lineage. Importing the
 * same artifact again returns the existing version. *out_version gets N.
 */
cairn_status cairn_import(cairn_home *h, const void *bytes, size_t len,
                          const cairn_signature *sigs, size_t n_sigs, const char *model,
                          int *out_version, char hash_hex[CAIRN_HASH_HEX], cairn_error *err);

/* The artifact of a succeeded run (refstats and contract included) into out. */
cairn_status cairn_run_artifact(cairn_home *h, const cairn_run_record *run, cairn_buf *out,
                                cairn_error *err);

#endif /* CAIRN_REVIEW_GOVERN_H */
