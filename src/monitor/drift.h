/*
 * drift.h -- the statistics core of monitoring: compares a window of values
 * (from the prediction log) with the reference statistics stored with a
 * training run (src/pipeline/refstats.h).
 *
 * Three pieces:
 *  1. cairn_drift_refs: a parsed refstats document, one reference entry per
 *     feature plus the optional prediction entry.
 *  2. cairn_drift_acc: a streaming accumulator for one feature, fed one value
 *     at a time. It holds a fixed-size struct (no allocation at all), so its
 *     memory does not depend on the number of rows.
 *  3. cairn_drift_acc_stats + cairn_drift_stats_severity: PSI, Jensen-Shannon
 *     distance, binned Kolmogorov-Smirnov (numbers), chi-squared (categories),
 *     missing-rate change, unseen share, and an ok/warn/alert verdict.
 *
 * Bins. A number reference with k-1 edges has k bins: bin b holds
 * edges[b-1] <= x < edges[b] (bin 0 everything below edges[0], the last bin
 * everything >= edges[k-2]), exactly as refstats counts them. A category
 * reference with c listed categories has c+1 bins: the listed ones in their
 * order, then "other" -- in the reference the rows of unlisted categories, in
 * the window every value that is not listed (so a window value the training
 * part never had and one that it had but did not list both land there).
 *
 * Shares are over non-missing rows: the distribution statistics compare
 * where the present values fall; missing values are judged separately by
 * the missing-rate change.
 *
 * Statistics (window W of m non-missing rows vs reference R of n):
 *  - PSI = sum_b (w_b - r_b) ln(w_b / r_b) with r_b, w_b the bin shares,
 *    each first raised to at least CAIRN_DRIFT_PSI_EPS (1e-4) so that an
 *    empty bin gives a large but finite term. The floored shares are not
 *    renormalised.
 *  - JS: the Jensen-Shannon distance in base 2 over the same bins (unfloored
 *    shares): sqrt((KL(r||a) + KL(w||a)) / 2) with a = (r+w)/2, logarithms
 *    base 2, 0 ln 0 = 0; in [0, 1]. Same value as
 *    scipy.spatial.distance.jensenshannon(r, w, base=2).
 *  - chi2 (categories): Pearson's statistic sum (o_b - e_b)^2 / e_b with o_b
 *    the window counts and e_b = m * r_b. A bin with e_b = 0 (a listed
 *    category with count 0, e.g. a bool side never seen, or "other" when
 *    everything was listed) is left out when o_b = 0 too; when o_b > 0 the
 *    window is impossible under the reference: chi2 = +inf, p = 0. Degrees
 *    of freedom: the bins used minus one; with none left (dof 0) chi2 = 0
 *    and p = 1. p = Q(dof/2, chi2/2), the regularized upper incomplete
 *    gamma function (scipy.stats.chi2.sf).
 *  - KS (numbers): the reference's 21 quantiles q_0..q_20 (linear
 *    interpolation, numpy's default) sit at CDF level p_j = j/20. The window
 *    is counted exactly at each distinct quantile value and in the open
 *    intervals between them, which gives its CDF both just below q_j
 *    (F_W(q_j-)) and at q_j (F_W(q_j)). d_j is the distance from p_j to the
 *    interval [F_W(q_j-), F_W(q_j)] (0 when inside it); ks = max_j d_j.
 *    Comparing against the interval rather than one side keeps ties in the
 *    reference (several equal quantiles) from reading as drift.
 *    Guarantee, with D the exact two-sample KS statistic on the raw
 *    non-missing samples (scipy.stats.ks_2samp):
 *        ks - 1/n  <=  D  <=  ks + ks_bound,
 *        ks_bound = 1/n + min(0.05, mass)
 *    where mass is the largest window share in one half-open interval
 *    [q_j, q_j+1) between consecutive distinct quantiles. Derivation: the
 *    type-7 quantile q_j lies between the order statistics x_(k) and
 *    x_(k+1), k = floor((n-1) j/20), so c_j = (k+1)/n satisfies
 *    F_R(q_j-) <= c_j <= F_R(q_j) and |c_j - p_j| <= 1/n. Lower side: at
 *    q_j, D >= distance from c_j to the window's interval >= d_j - 1/n.
 *    Upper side: below q_0 and at or above q_20 the difference is at most
 *    d_0 resp. d_20. For q_j <= x < q_j+1, F_R(x) is within
 *    [p_j - 1/n, p_j+1 + 1/n] and F_W(x) within [F_W(q_j), F_W(q_j+1 -)];
 *    F_R - F_W <= min(0.05 + d_j, d_j+1 + w) + 1/n and F_W - F_R <=
 *    min(0.05 + d_j+1, d_j + w) + 1/n, w the window share in [q_j, q_j+1).
 *    (Up to the rounding of the stored quantiles, which is far below 1/n.)
 *    So the reference's 0.05 steps cap what can be missed, and a window
 *    that spreads thinly over the intervals is bounded more tightly still.
 *  - missing_change = window missing share - reference missing share (over
 *    all rows, in [-1, 1]).
 *  - unseen_share (categories): window non-missing rows whose value is not
 *    listed by the reference, over m. Note the reference's own "other" mass
 *    (ref_other_share): an unseen share near it is no drift by itself.
 *  - mean, std (numbers): of the window's non-missing values; std is the
 *    population deviation, as refstats.
 * A statistic that cannot be computed is NaN: every one with an empty
 * window (no rows), the distribution ones when the window or the reference
 * has no non-missing value, the ones of the other kind (KS/mean/std for
 * categories, chi2/unseen for numbers).
 */
#ifndef CAIRN_MONITOR_DRIFT_H
#define CAIRN_MONITOR_DRIFT_H

#include "core/core.h"

#include <stddef.h>
#include <stdint.h>

#define CAIRN_DRIFT_REFSTATS_VERSION 1    /* the refstats format understood */
#define CAIRN_DRIFT_PSI_EPS 1e-4
#define CAIRN_DRIFT_MAX_EDGES 9            /* number bins: <= 10 */
#define CAIRN_DRIFT_QUANTILES 21           /* 0, 5, ..., 100 percent */
#define CAIRN_DRIFT_MAX_CATEGORIES 50
/* Bins of one accumulator: the larger of 10 number bins and 50 categories + other. */
#define CAIRN_DRIFT_MAX_BINS (CAIRN_DRIFT_MAX_CATEGORIES + 1)
/* KS cells: below q_0, each distinct quantile value, each gap between them, above q_20. */
#define CAIRN_DRIFT_KS_CELLS (2 * CAIRN_DRIFT_QUANTILES + 1)

typedef enum cairn_drift_kind {
    CAIRN_DRIFT_NUMBER = 0,     /* "number" and "timestamp" (seconds since the epoch) */
    CAIRN_DRIFT_CATEGORY = 1    /* "category" (strings, bools as "true"/"false") */
} cairn_drift_kind;

/* One reference entry, as refstats wrote it. */
typedef struct cairn_drift_ref {
    char *name;                 /* NUL-terminated */
    cairn_drift_kind kind;
    int is_timestamp;           /* "type":"timestamp" */
    uint64_t rows, missing;
    /* numbers (min/max/mean/std NaN when the part had no non-missing value) */
    double min, max, mean, std;
    size_t n_edges;             /* 0..9; bins = n_edges + 1 (0 bins when no value) */
    double edges[CAIRN_DRIFT_MAX_EDGES];
    size_t n_quantiles;         /* 21, or 0 when no value */
    double quantiles[CAIRN_DRIFT_QUANTILES];
    /* categories */
    size_t n_categories;        /* 0..50 */
    char **categories;          /* NUL-terminated; category_lens[i] bytes */
    size_t *category_lens;
    uint64_t other;
    /* per bin counts: numbers n_bins = n_edges + 1 (or 0), categories n_categories + 1
       (the last is "other") */
    size_t n_bins;
    uint64_t counts[CAIRN_DRIFT_MAX_BINS];
} cairn_drift_ref;

typedef struct cairn_drift_refs {
    uint64_t rows;              /* the part's row count */
    cairn_drift_ref *features;
    size_t n_features;
    cairn_drift_ref *prediction;    /* NULL when "prediction" is null or absent */
} cairn_drift_refs;

void cairn_drift_refs_init(cairn_drift_refs *refs);
/* Frees everything refs holds and leaves it as after _init. */
void cairn_drift_refs_reset(cairn_drift_refs *refs);

/*
 * Parses a refstats JSON document (json, len bytes, need not be
 * NUL-terminated) into refs (which must be freshly initialised; on error it
 * is left as after _init). Checks what the statistics rely on: version 1,
 * known types, at most 9 strictly increasing finite edges with one more
 * count, 21 non-decreasing quantiles (or none with no edges and no counts
 * when nothing was present), at most 50 categories, counts that add up to
 * rows - missing, unique feature names. Errors: CAIRN_EINPUT (where =
 * "refstats" or "refstats: features[i]"), CAIRN_ENOMEM.
 */
cairn_status cairn_drift_refs_parse(cairn_drift_refs *refs, const char *json, size_t len,
                                    cairn_error *err);

/* The feature entry named name (NUL-terminated), or NULL. */
const cairn_drift_ref *cairn_drift_refs_find(const cairn_drift_refs *refs, const char *name);

/* Streaming counts of one window for one reference entry. Caller-owned, no heap. */
typedef struct cairn_drift_acc {
    const cairn_drift_ref *ref;     /* borrowed: must outlive the accumulator */
    uint64_t rows, missing;
    uint64_t bins[CAIRN_DRIFT_MAX_BINS];
    /* KS: distinct quantile values and the window counts in ks_cells:
       cell 2i+1 counts x == ks_values[i], cell 2i counts the open gap below it
       (cell 0: x < q_0), cell 2*n_ks_values: x > q_20. */
    size_t n_ks_values;
    double ks_values[CAIRN_DRIFT_QUANTILES];
    uint64_t ks_cells[CAIRN_DRIFT_KS_CELLS];
    double mean, m2;                /* Welford running mean and sum of squares */
} cairn_drift_acc;

/* Starts an empty window for ref. */
void cairn_drift_acc_init(cairn_drift_acc *acc, const cairn_drift_ref *ref);
/* Empties the window (the reference stays); nothing to free. */
void cairn_drift_acc_reset(cairn_drift_acc *acc);

/*
 * Feeds one value. Numbers: a non-finite x (NaN, +-inf) is missing, as in
 * refstats. Categories: s with len bytes (need not be NUL-terminated); s NULL
 * is missing. Bools: v 0 / 1 are the categories "false" / "true", v < 0 is
 * missing. Feeding a number to a category reference or the reverse is
 * CAIRN_EINVAL and counts nothing.
 */
cairn_status cairn_drift_acc_add_number(cairn_drift_acc *acc, double x, cairn_error *err);
cairn_status cairn_drift_acc_add_category(cairn_drift_acc *acc, const char *s, size_t len,
                                          cairn_error *err);
cairn_status cairn_drift_acc_add_bool(cairn_drift_acc *acc, int v, cairn_error *err);
/* A missing value of either kind. */
void cairn_drift_acc_add_missing(cairn_drift_acc *acc);
/* n missing values. */
void cairn_drift_acc_add_missing_n(cairn_drift_acc *acc, uint64_t n);
/* x[0..n) fed as numbers, counted exactly as n calls of cairn_drift_acc_add_number
 * would count them; mean and squares agree up to rounding (each run of values is
 * summed on its own, then pooled). Same errors. */
cairn_status cairn_drift_acc_add_numbers(cairn_drift_acc *acc, const double *x, size_t n,
                                         cairn_error *err);

/* Adds src's window to dst's (both for the same reference, e.g. two threads' shares of
 * one window): counts add, mean and squares pool exactly up to rounding. Errors:
 * CAIRN_EINVAL (different references). */
cairn_status cairn_drift_acc_merge(cairn_drift_acc *dst, const cairn_drift_acc *src,
                                   cairn_error *err);

/* The statistics of one window (see the top of this file for definitions). */
typedef struct cairn_drift_stats {
    uint64_t rows, missing;
    double missing_change;
    double psi;
    double js;
    double ks, ks_bound;        /* exact KS D: ks - 1/n <= D <= ks + ks_bound */
    double chi2, chi2_p, chi2_dof;
    double unseen_share, ref_other_share;
    double mean, std;
    /* What the noise levels need: the reference's rows and missing rows, and the bins
       the reference has values in (the degrees of freedom of PSI and JS are one less). */
    uint64_t ref_rows, ref_missing;
    size_t ref_bins_used;
} cairn_drift_stats;

void cairn_drift_acc_stats(const cairn_drift_acc *acc, cairn_drift_stats *out);

/*
 * Sampling noise. A window drawn from the very distribution the reference was drawn
 * from still differs from it, the more so the fewer rows it has: over k bins and m rows
 * PSI is about (k - 1) / m on average. The noise level of a statistic is the value that
 * such a window passes with probability p (upper tail), with both samples' sizes
 * counted (m window, n reference non-missing rows; M, N all rows):
 *  - psi = X * (1/m + 1/n) and js = sqrt(X * (1/m + 1/n) / (8 ln 2)), X the chi-squared
 *    quantile with (bins the reference has values in - 1) degrees of freedom: to second
 *    order PSI is Pearson's statistic over m, and the JS divergence in bits is it over
 *    8 m ln 2, for windows and references alike (each a multinomial sample);
 *  - ks = K * sqrt(1/m + 1/n) + 1/n, K Kolmogorov's quantile (the asymptotic two-sample
 *    rule, conservative for small samples; 1/n for the binning, see ks_bound);
 *  - missing = z * sqrt(q (1 - q) (1/M + 1/N)), q the reference's missing share and z
 *    the two-sided normal quantile (the change of a share, both sides sampled).
 * NaN where the statistic is NaN; 0 when there is nothing to vary (one bin; q = 0 or 1).
 */
typedef struct cairn_drift_noise {
    double psi, js, ks, missing;
} cairn_drift_noise;

/* p in (0, 1); p <= 0 gives all-zero levels (no noise allowed for). */
void cairn_drift_stats_noise(const cairn_drift_stats *s, double p, cairn_drift_noise *out);

/* The chi-squared quantile: x with cairn_drift_chi2_sf(x, dof) = p (p in (0, 1), dof > 0). */
double cairn_drift_chi2_isf(double p, double dof);

/* Kolmogorov's distribution: x with P(K > x) = p, p in (0, 1). */
double cairn_drift_kolmogorov_isf(double p);

/* Regularized upper incomplete gamma Q(dof/2, x/2): the chi-squared survival
   function. x <= 0 gives 1; NaN in, NaN out; dof must be > 0. */
double cairn_drift_chi2_sf(double x, double dof);

typedef enum cairn_drift_severity {
    CAIRN_DRIFT_NODATA = 0,     /* the window had no rows */
    CAIRN_DRIFT_OK = 1,
    CAIRN_DRIFT_WARN = 2,
    CAIRN_DRIFT_ALERT = 3
} cairn_drift_severity;

/*
 * A statistic at or above its warn level warns, at or above its alert level
 * alerts, unless it is below its noise level at noise_p (then it is ok: a
 * window that small shows that much difference by chance more often than
 * noise_p); the feature's severity is the worst over PSI, KS, JS and
 * |missing_change|, skipping NaN ones (an all-missing window is judged on
 * the missing change alone). Chi-squared is reported, not judged: with
 * thousands of rows its p-value rejects for shifts too small to matter.
 */
typedef struct cairn_drift_thresholds {
    double psi_warn, psi_alert;         /* 0.1, 0.2: the usual PSI rule of thumb */
    double ks_warn, ks_alert;           /* 0.1, 0.2 */
    double js_warn, js_alert;           /* 0.1, 0.2 (base 2; PSI 0.1 is about JS 0.13 for
                                           small shifts) */
    double missing_warn, missing_alert; /* 0.05, 0.10 absolute change in missing share */
    double noise_p;                     /* 0.01; 0: judge on the levels alone */
} cairn_drift_thresholds;

void cairn_drift_thresholds_default(cairn_drift_thresholds *th);

/* One statistic's verdict: x against its levels and its noise level (NaN x: ok). */
cairn_drift_severity cairn_drift_judge(double x, double noise, double warn, double alert);

/* th NULL: the defaults. rows == 0 gives CAIRN_DRIFT_NODATA. */
cairn_drift_severity cairn_drift_stats_severity(const cairn_drift_stats *s,
                                                const cairn_drift_thresholds *th);
/* What set a severity: the first statistic (psi, ks, js, missing_change) at the worst
 * verdict, its value and the level it reached; name NULL when nothing warns. */
typedef struct cairn_drift_reason {
    const char *name;
    double value, level;
} cairn_drift_reason;

/* The same with the noise levels already computed (cairn_drift_stats_noise at
 * th->noise_p), and why (NULL: not wanted). */
cairn_drift_severity cairn_drift_stats_judge(const cairn_drift_stats *s,
                                             const cairn_drift_noise *nz,
                                             const cairn_drift_thresholds *th,
                                             cairn_drift_reason *why);

#endif /* CAIRN_MONITOR_DRIFT_H */
