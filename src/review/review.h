/*
 * review.h -- the reviewer's checklist, automated (DESIGN.md, "Review").
 *
 * cairn_review() reads a stored run (its evaluation, findings, declared gates,
 * spec and reproducibility record) and, when the model already has a
 * production version with a compatible contract, the comparison of the two
 * on the run's test part (compare.h). It returns the findings sorted into
 * Critical / High / Medium, the strengths, the gate results and a decision:
 *   BLOCK                  any critical finding (a failed gate is critical)
 *   APPROVE WITH WARNINGS  no critical, at least one high or medium
 *   APPROVE                otherwise
 *
 * The checklist (codes are stable; docs/review.md explains each):
 *   gate_failed / gate_missing      each declared gate (critical)
 *   no_gates                        nothing declared (medium)
 *   baseline_not_beaten             primary metric not better than the baseline (critical)
 *   baseline_within_interval        better, but the model's interval overlaps the
 *                                   baseline's estimate, or the run has no interval (high)
 *   run findings                    leakage, split, PII, ... as the run recorded them
 *                                   (critical/high/medium as recorded; low -> medium;
 *                                   info "pii_excluded" -> a strength; other info notes
 *                                   are left out)
 *   calibration                     binary: ECE > 0.10 high, > 0.05 medium
 *   reproducibility_incomplete      seed, dataset hash, spec, code version (not
 *                                   "unknown", not "-dirty"), state hash (medium)
 *   production_regressed            primary metric worse than production beyond the
 *                                   interval (high)
 *   slice_regressed                 a slice (not small) worse than production beyond its
 *                                   interval while the whole does not regress (high; when
 *                                   the whole regresses, production_regressed says it)
 *   production_incompatible         a production version exists but cannot be
 *                                   compared (medium)
 *   no_rollback_target              promoting to an alias that holds no version yet,
 *                                   and no fallback alias (medium)
 *
 * Gates (the run's gates_json, as declared before training). Names:
 *   METRIC {min|max}                  the model's test metric (e.g. auc, ece, rmse)
 *   METRIC_vs_baseline {min_delta|max_delta}    gain over the baseline
 *   METRIC_vs_production {min_delta|max_delta}  gain over production (compare.h)
 *   slice_METRIC_drop {max}           the largest drop of METRIC in any non-small
 *                                     slice against production (0 when none drops)
 * Gains are signed so that positive is better (compare.h). A gate whose
 * metric cannot be computed fails ("missing"), except the *_vs_production
 * and slice_*_drop gates when the model has no production version yet:
 * those pass as "not applicable" (nothing to regress against). Missing
 * includes: a METRIC the run's evaluation does not have (checked first, so a
 * misspelt name is caught even without production), an op other than the
 * four, a production version without a comparison, slice_METRIC_drop for a
 * METRIC other than the comparison's primary, or a comparison without slices.
 *
 * Strengths carry their own codes: gates_passed, baseline_beaten,
 * pii_excluded, calibration (ECE <= 0.05), reproducible, production_improved
 * (the primary gain's interval is above 0).
 */
#ifndef CAIRN_REVIEW_REVIEW_H
#define CAIRN_REVIEW_REVIEW_H

#include "pipeline/pipeline.h"
#include "registry/registry.h"
#include "review/compare.h"

typedef enum cairn_verdict {
    CAIRN_VERDICT_APPROVE = 0,
    CAIRN_VERDICT_WARN,          /* "APPROVE WITH WARNINGS" */
    CAIRN_VERDICT_BLOCK
} cairn_verdict;

const char *cairn_verdict_name(cairn_verdict v);   /* "APPROVE", "APPROVE WITH WARNINGS", "BLOCK" */

typedef enum cairn_gate_status {
    CAIRN_GATE_PASS = 0,
    CAIRN_GATE_FAIL,
    CAIRN_GATE_MISSING,          /* the metric could not be computed: fails */
    CAIRN_GATE_NA                /* vs production without a production version: passes */
} cairn_gate_status;

const char *cairn_gate_status_name(cairn_gate_status s);   /* "pass", "fail", "missing", "n/a" */

typedef struct cairn_gate_result {
    char metric[64];             /* as declared, e.g. "auc_vs_baseline" */
    char op[16];                 /* "min" | "max" | "min_delta" | "max_delta" */
    double threshold;
    double value;                /* the measured value; NaN when missing / n/a */
    cairn_gate_status status;
} cairn_gate_result;

/* What review knows about production (all optional). */
typedef struct cairn_review_context {
    const char *alias;                 /* the alias being promoted to (default "production") */
    int production_version;            /* the alias's current version; 0: none */
    bool has_fallback;                 /* a "fallback" alias exists */
    const cairn_compare_result *compare;   /* NULL: no comparison */
    const char *compare_note;          /* when production exists but compare is NULL: why */
} cairn_review_context;

typedef struct cairn_review {
    char run_id[CAIRN_RUN_ID_LEN + 1];
    char model[CAIRN_NAME_MAX + 1];
    cairn_verdict verdict;
    cairn_findings critical, high, medium;   /* in checklist order */
    cairn_findings strengths;                /* severity ignored; what/why used */
    cairn_gate_result *gates;
    size_t n_gates;
    bool gates_failed;                       /* any gate fail or missing */
    char summary[512];                       /* the executive summary, one paragraph */
    int production_version;                  /* as given */
    const cairn_compare_result *compare;     /* borrowed from the context */
} cairn_review;

/*
 * Reviews a succeeded run. *out is overwritten (zeroed first) and filled;
 * free with cairn_review_reset. On error *out is left zeroed. ctx may be NULL,
 * which reads as a zeroed context: no production version, no fallback alias
 * (so no_rollback_target is raised). The run and ctx->compare are borrowed;
 * compare must outlive *out. Errors: CAIRN_EINVAL (a failed run, no
 * evaluation, run JSON that does not parse, no recorded task), CAIRN_ENOMEM.
 */
cairn_status cairn_review_run(const cairn_run_record *run, const cairn_review_context *ctx,
                              cairn_review *out, cairn_error *err);
void cairn_review_reset(cairn_review *r);

/* The gate results as a JSON array (the audit log's gates_json):
 * [{"metric":..,"op":..,"threshold":..,"value":..,"status":"pass"},...] */
void cairn_review_gates_json(const cairn_review *r, cairn_buf *b);

/* The whole review as JSON: {"run":..,"model":..,"decision":"BLOCK","summary":..,
 * "critical":[FINDING..],"high":[..],"medium":[..],"strengths":[..],"gates":[..],
 * "production":{"version":N,"comparison":COMPARE|null}}  (findings as pipeline.h JSON). */
void cairn_review_to_json(const cairn_review *r, cairn_buf *b);

/* The review as the text `cairn review` prints: "Executive Summary", "Critical Issues",
 * "High Priority", "Medium Priority", "Strengths" (each finding: what, why, fix), the
 * gate table, the comparison with production when there is one, then
 * "Decision: VERDICT". */
void cairn_review_to_text(const cairn_review *r, cairn_buf *b);

#endif /* CAIRN_REVIEW_REVIEW_H */
