/*
 * monitor.h -- `cairn monitor`: one pass over the prediction log for one
 * model, cut into time windows, each compared with the reference statistics
 * of the version that scored it (drift.h), joined with delayed labels
 * (labels.h) for performance, plus the serving health the log records
 * (latency, rejected rows, fallbacks, dropped records, torn tails).
 *
 * Groups. Records are grouped by (window, version, shadow): a rollback in the
 * middle of a window gives two groups for that window, one per version, each
 * judged against its own artifact; shadow records (scored, never returned)
 * form their own groups and are reported but never alert.
 *
 * Streaming. Memory depends on the number of features, groups that are open
 * at once and labelled rows, never on the number of records: every group
 * holds fixed-size accumulators (drift.h) and a fixed latency histogram. When
 * more than 64 groups are open, those whose window ended more than
 * max(CAIRN_MONITOR_LATE_US, the window length) before the newest record are
 * closed (statistics computed, accumulators freed); a record for a closed
 * window is counted in late_records and otherwise ignored. Labelled rows keep
 * (score, outcome, correct) until the end: 24 bytes per labelled row, plus 24
 * per stored entity label for the join.
 *
 * Alerts, each with a kind (the runbook, docs/runbook.md, has one section per
 * kind): feature_drift, prediction_drift, performance, labels (labelled share
 * low or labels stale), dropped_records, damaged_log, rejected_rows,
 * fallback_rate, latency. Severity as drift.h: warn or alert; only alerts make
 * `cairn monitor` exit 1.
 */
#ifndef CAIRN_MONITOR_MONITOR_H
#define CAIRN_MONITOR_MONITOR_H

#include "cairn.h"
#include "core/core.h"
#include "monitor/drift.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CAIRN_MONITOR_LATE_US (300LL * 1000000LL)   /* 5 minutes of slack for closing */
#define CAIRN_MONITOR_LAT_BUCKETS 1024               /* latency histogram buckets */
#define CAIRN_MONITOR_MAX_METRICS 9

typedef struct cairn_monitor_thresholds {
    cairn_drift_thresholds drift;       /* per feature and for the prediction */
    double perf_warn, perf_alert;       /* drop of the headline metric vs the training
                                           evaluation, in the metric's units, worse direction:
                                           0.02, 0.05 */
    double labelled_warn;               /* labelled share of a group below this warns once
                                           any group has labels: 0.1 */
    double rejected_warn, rejected_alert;   /* share of rows refused by the contract: 0.01, 0.05 */
    double fallback_warn, fallback_alert;   /* share answered by fallback or baseline: 0.01, 0.05 */
    double latency_p99_warn_ms, latency_p99_alert_ms;  /* 10, 50 */
    uint64_t min_rows;                  /* groups with fewer rows are reported, not judged on
                                           drift or performance: 100 */
} cairn_monitor_thresholds;

void cairn_monitor_thresholds_default(cairn_monitor_thresholds *t);

typedef struct cairn_monitor_opts {
    const char *model;          /* the registry model name; required */
    const char *log_dir;        /* NULL: HOME/logs */
    int64_t since_us;           /* records with time >= since; INT64_MIN: from the start */
    int64_t until_us;           /* records with time < until; INT64_MAX: to the end */
    int64_t window_us;          /* window length; 0: one window over everything */
    bool calendar_months;       /* windows are UTC calendar months (window_us ignored) */
    cairn_monitor_thresholds th;
    int n_boot;                 /* bootstrap resamples for metric intervals: 200; 0: none */
    uint64_t seed;              /* bootstrap seed */
    bool no_labels;             /* skip the label join */
    int threads;                /* readers, one share of the segments each; 0: all cores (at
                                   most 8). A pass with more than 256 groups falls back to
                                   one streaming reader. The result does not depend on it
                                   (up to the rounding of pooled means). */
    /* Progress, called every few hundred thousand records (may be NULL). */
    void (*progress)(void *ctx, uint64_t records, uint64_t segments);
    void *progress_ctx;
} cairn_monitor_opts;

void cairn_monitor_opts_init(cairn_monitor_opts *o);

/* Applies the monitor: section of the training spec of the model's production version
 * (else its newest version) to t: only the keys the spec gives. Errors: those of the
 * registry (CAIRN_ENOTFOUND without any version). */
cairn_status cairn_monitor_thresholds_from_spec(cairn_home *h, const char *model,
                                                cairn_monitor_thresholds *t, cairn_error *err);

/* Parses "30s", "15m", "1h", "1d", "7d", "2w" into microseconds and "1mo" / "month" into
 * calendar months (*months = true). Errors: CAIRN_EINVAL. */
cairn_status cairn_monitor_parse_window(const char *s, int64_t *us, bool *months,
                                        cairn_error *err);

/* Parses a --since / --until value: ISO 8601 ("2024-03-01", "2024-03-01T12:00:00Z"),
 * epoch seconds ("1709251200"), or a duration before now_us ("7d", "24h", "30m").
 * Errors: CAIRN_EINVAL (where = flag). */
cairn_status cairn_monitor_parse_time(const char *s, const char *flag, int64_t now_us,
                                      int64_t *out, cairn_error *err);

/* One feature (or the prediction) in one group. */
typedef struct cairn_monitor_feature {
    char *name;
    cairn_drift_kind kind;
    cairn_drift_stats stats;
    cairn_drift_noise noise;       /* the statistics' noise levels at the run's noise_p */
    cairn_drift_severity severity;
    /* The histograms behind the statistics, for reports: n_bins bins as drift.h
       defines them, reference and window shares (each over non-missing rows). */
    size_t n_bins;
    double ref_share[CAIRN_DRIFT_MAX_BINS];
    double cur_share[CAIRN_DRIFT_MAX_BINS];
    /* Bin labels: numbers "< e0", "[e0, e1)", ..., ">= ek"; categories the value, then
       "(other)". Owned. */
    char **bin_labels;
} cairn_monitor_feature;

typedef struct cairn_monitor_metric {
    char name[16];              /* eval.h names: auc, logloss, accuracy, rmse, ... */
    double value, lo, hi;       /* this group's labelled rows; lo/hi the bootstrap interval
                                   (NaN without resamples) */
    double train;               /* the same metric at training time (test part); NaN if none */
    double drop;                /* how much worse than train (positive = worse), NaN if none */
    bool higher_is_better;
    bool headline;              /* the task's judged metric: auc for binary, rmse for
                                   regression, accuracy for multiclass */
    cairn_drift_severity severity;  /* judged for the headline metric only */
} cairn_monitor_metric;

typedef struct cairn_monitor_group {
    int64_t start_us, end_us;   /* the window [start, end) */
    int version;                /* the model version that scored these rows */
    bool shadow;
    uint64_t rows;              /* scored rows */
    uint64_t rejected;          /* rows refused by the contract (logged with the rejected
                                   flag) */
    uint64_t fallback;          /* rows answered by the fallback alias or the baseline */
    uint64_t labelled;          /* scored rows joined with a label */
    double latency_p50_ms, latency_p95_ms, latency_p99_ms;   /* NaN without rows */
    cairn_monitor_feature *features;
    size_t n_features;
    bool has_prediction;        /* the score's drift (the reference had prediction stats) */
    cairn_monitor_feature prediction;
    double positive_rate;       /* binary: share predicted positive; NaN otherwise */
    double ref_positive_rate;   /* the same on the training part (from its label stats), NaN
                                   when unknown */
    cairn_monitor_metric metrics[CAIRN_MONITOR_MAX_METRICS];
    size_t n_metrics;           /* 0 without labelled rows */
    cairn_drift_severity severity;  /* the worst of this group's judgements */
    char *note;                 /* why the group is not judged (too few rows, no reference,
                                   unknown version), or NULL */
} cairn_monitor_group;

typedef enum cairn_monitor_alert_kind {
    CAIRN_ALERT_FEATURE_DRIFT = 0,
    CAIRN_ALERT_PREDICTION_DRIFT,
    CAIRN_ALERT_PERFORMANCE,
    CAIRN_ALERT_LABELS,
    CAIRN_ALERT_DROPPED_RECORDS,
    CAIRN_ALERT_DAMAGED_LOG,
    CAIRN_ALERT_REJECTED_ROWS,
    CAIRN_ALERT_FALLBACK_RATE,
    CAIRN_ALERT_LATENCY,
    CAIRN_ALERT_N_KINDS
} cairn_monitor_alert_kind;

/* "feature_drift", "prediction_drift", ... (the runbook's section names). */
const char *cairn_monitor_alert_kind_name(cairn_monitor_alert_kind k);

typedef struct cairn_monitor_alert {
    cairn_monitor_alert_kind kind;
    cairn_drift_severity severity;      /* WARN or ALERT */
    long group;                         /* index into groups, -1 for log-wide ones */
    char *subject;                      /* the feature, metric or counter */
    char *statistic;                    /* "psi", "ks", "auc_drop", "p99_ms", "share", "count" */
    double value, threshold;
    char *message;                      /* one line for people */
} cairn_monitor_alert;

typedef struct cairn_monitor_version {
    int version;
    char artifact_hash[65];
    char run_id[16];
    uint64_t rows;
    int64_t first_us, last_us;          /* time of its first and last record */
} cairn_monitor_version;

typedef struct cairn_monitor_result {
    char *model;
    char *task;                         /* of the newest version seen; NULL when none */
    int64_t since_us, until_us;         /* as asked (INT64_MIN / INT64_MAX: open) */
    int64_t first_us, last_us;          /* time of the first and last record used */
    /* the log */
    uint64_t segments, records;         /* every good record read (all models) */
    uint64_t model_records;             /* this model's records in the range */
    uint64_t bad_records;               /* damaged records or torn tails (all models) that
                                           came about in the range (cairn_plog_visitor) */
    uint64_t dropped_records;           /* records the writer reported as dropped */
    uint64_t late_records;              /* arrived after their window was closed */
    /* labels */
    uint64_t labels_total;              /* labels in the home */
    uint64_t labels_joined;             /* joined with one of this model's rows in range */
    int64_t last_label_us;              /* newest joined record's time, 0 when none */
    /* versions seen, in order of their first record */
    cairn_monitor_version *versions;
    size_t n_versions;
    /* groups, ordered by window start, then version, shadow last */
    cairn_monitor_group *groups;
    size_t n_groups;
    /* alerts, the most severe first (then by kind, then by group) */
    cairn_monitor_alert *alerts;
    size_t n_alerts;
    cairn_drift_severity severity;      /* the worst alert, OK without any, NODATA without rows */
    double seconds;                     /* wall time of the pass */
} cairn_monitor_result;

void cairn_monitor_result_init(cairn_monitor_result *r);
void cairn_monitor_result_reset(cairn_monitor_result *r);

/*
 * Runs the monitor. Errors: CAIRN_ENOTFOUND (no such model), CAIRN_EINVAL (bad
 * options), CAIRN_EIO (the log or the home cannot be read), CAIRN_ENOMEM. A log
 * without any record of the model is not an error: the result has no groups and
 * severity NODATA.
 */
cairn_status cairn_monitor_run(cairn_home *h, const cairn_monitor_opts *o,
                               cairn_monitor_result *out, cairn_error *err);

/* The result as one JSON object (the `cairn monitor --json` document; docs/monitor.md). */
cairn_status cairn_monitor_to_json(const cairn_monitor_result *r, cairn_buf *out);

#endif /* CAIRN_MONITOR_MONITOR_H */
