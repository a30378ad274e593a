/*
 * metrics.c -- evaluation metrics over plain arrays: binary (ROC AUC,
 * average precision, log loss, Brier, confusion metrics at a threshold, the
 * max-F1 threshold, expected calibration error), regression (RMSE, MAE, R2,
 * MAPE, Spearman) and multiclass (accuracy, macro-F1, log loss).
 *
 * Every definition follows scikit-learn 1.2 (and scipy for Spearman) so the
 * oracle test tests/oracle/test_metrics_sklearn.py can compare to 1e-9; the
 * few places where we deliberately differ (a metric that is undefined on its
 * input returns NaN instead of a warning plus a conventional value) are listed
 * in docs/metrics.md. Sums are accumulated in long double (64-bit mantissa on
 * x86-64), which keeps the rounding error far below the 1e-9 tolerance for
 * any realistic n. The functions return double, so the only way to report a
 * failure (an empty input, an allocation failure in the sort-based metrics) is
 * NaN; callers treat NaN as "cannot be computed". The bootstrap lives in
 * bootstrap.c.
 */
#include "eval/eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* sklearn's log_loss eps when passed eps=1e-15 (the value our header promises). */
#define LOGLOSS_EPS 1e-15

/* ---- sorting helpers ------------------------------------------------------ */

/* A (score, label) pair; the sort-based binary metrics sort these once. */
typedef struct scored {
    double s;
    uint8_t y;
} scored;

/* Descending by score: thresholds are swept from the highest score down. */
static int scored_cmp_desc(const void *a, const void *b)
{
    double x = ((const scored *)a)->s, z = ((const scored *)b)->s;
    return (x < z) - (x > z);
}

/*
 * Copies (score, y) into a freshly allocated array sorted by descending
 * score. Returns NULL when n is 0, when any score is NaN (no order exists, and
 * sklearn rejects NaN input) or when the allocation fails.
 */
static scored *sorted_desc(const double *score, const uint8_t *y, size_t n)
{
    size_t bytes;
    if (n == 0 || !cairn_mul_size(n, sizeof(scored), &bytes))
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (isnan(score[i]))
            return NULL;
    scored *v = cairn_malloc(bytes);
    if (!v)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        v[i].s = score[i];
        v[i].y = y[i] ? 1 : 0;
    }
    qsort(v, n, sizeof(scored), scored_cmp_desc);
    return v;
}

/* ---- binary ------------------------------------------------------------------ */

/*
 * ROC AUC as the Mann-Whitney statistic: the fraction of (positive, negative)
 * pairs ordered correctly, a tied pair counting one half. This equals the
 * trapezoidal area under sklearn's ROC curve (roc_auc_score), because each
 * group of tied scores is one diagonal step of that curve. Twice the count of
 * correctly ordered pairs is an integer; long double holds it exactly up to
 * 2^64. Undefined (NaN) with one class only.
 */
double cairn_metric_auc(const double *score, const uint8_t *y, size_t n)
{
    scored *v = sorted_desc(score, y, n);
    if (!v)
        return NAN;
    long double twice_pairs = 0; /* 2 * (correct pairs + tied pairs / 2) */
    uint64_t pos = 0, neg = 0;
    size_t i = 0;
    /* Sweep groups of equal score from the top: every positive in the group
     * beats the negatives below it, i.e. all negatives not yet seen. Count
     * pairs from the negatives' side instead: each negative in the group loses
     * to the positives seen before and ties with those in the group. */
    while (i < n) {
        size_t j = i;
        uint64_t gp = 0, gn = 0;
        while (j < n && v[j].s == v[i].s) {
            if (v[j].y)
                gp++;
            else
                gn++;
            j++;
        }
        twice_pairs += (long double)gn * (long double)(2 * pos + gp);
        pos += gp;
        neg += gn;
        i = j;
    }
    cairn_free(v);
    if (pos == 0 || neg == 0)
        return NAN;
    return (double)(twice_pairs / (2.0L * (long double)pos * (long double)neg));
}

/*
 * Average precision as sklearn computes it: AP = sum_k (R_k - R_{k-1}) P_k
 * over the distinct thresholds k in descending order, where P_k and R_k are
 * the precision and recall of predicting 1 for score >= threshold k (no
 * interpolation). Undefined (NaN) when there is no positive label; sklearn
 * warns and returns 0 there.
 */
double cairn_metric_pr_auc(const double *score, const uint8_t *y, size_t n)
{
    scored *v = sorted_desc(score, y, n);
    if (!v)
        return NAN;
    uint64_t total_pos = 0;
    for (size_t i = 0; i < n; i++)
        total_pos += v[i].y;
    if (total_pos == 0) {
        cairn_free(v);
        return NAN;
    }
    long double ap = 0;
    uint64_t tp = 0, fp = 0;
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        uint64_t gp = 0;
        while (j < n && v[j].s == v[i].s) {
            gp += v[j].y;
            j++;
        }
        uint64_t gn = (uint64_t)(j - i) - gp;
        tp += gp;
        fp += gn;
        /* Recall rises by gp / total_pos at this threshold. */
        if (gp)
            ap += ((long double)gp / (long double)total_pos) *
                  ((long double)tp / (long double)(tp + fp));
        i = j;
    }
    cairn_free(v);
    return (double)ap;
}

double cairn_metric_logloss(const double *p, const uint8_t *y, size_t n)
{
    if (n == 0)
        return NAN;
    long double sum = 0;
    for (size_t i = 0; i < n; i++) {
        /* Exactly sklearn 1.2's steps: clip, form the two-column row
         * [1 - p, p], renormalise it by its sum, take -log of the true
         * class's entry. The renormalisation changes the value by at most a
         * rounding unit but keeps us bit-close to the oracle. */
        double pc = p[i];
        if (isnan(pc))
            return NAN;
        if (pc < LOGLOSS_EPS)
            pc = LOGLOSS_EPS;
        if (pc > 1.0 - LOGLOSS_EPS)
            pc = 1.0 - LOGLOSS_EPS;
        double q = 1.0 - pc;
        double s = q + pc;
        sum -= logl((long double)((y[i] ? pc : q) / s));
    }
    return (double)(sum / (long double)n);
}

double cairn_metric_brier(const double *p, const uint8_t *y, size_t n)
{
    if (n == 0)
        return NAN;
    long double sum = 0;
    for (size_t i = 0; i < n; i++) {
        long double d = (long double)p[i] - (y[i] ? 1.0L : 0.0L);
        sum += d * d;
    }
    return (double)(sum / (long double)n);
}

/* F1 = 2 tp / (2 tp + fp + fn), 0 when undefined (sklearn's zero_division=0). */
static double f1_of(uint64_t tp, uint64_t fp, uint64_t fn)
{
    uint64_t den = 2 * tp + fp + fn;
    return den ? (double)(2 * tp) / (double)den : 0.0;
}

cairn_binary_at cairn_metric_binary_at(const double *p, const uint8_t *y, size_t n, double t)
{
    cairn_binary_at r;
    memset(&r, 0, sizeof r);
    r.threshold = t;
    for (size_t i = 0; i < n; i++) {
        /* A NaN probability compares false and is predicted 0. */
        bool pred = p[i] >= t;
        if (y[i] && pred)
            r.tp++;
        else if (y[i])
            r.fn++;
        else if (pred)
            r.fp++;
        else
            r.tn++;
    }
    r.accuracy = n ? (double)(r.tp + r.tn) / (double)n : NAN;
    r.precision = (r.tp + r.fp) ? (double)r.tp / (double)(r.tp + r.fp) : 0.0;
    r.recall = (r.tp + r.fn) ? (double)r.tp / (double)(r.tp + r.fn) : 0.0;
    r.f1 = f1_of(r.tp, r.fp, r.fn);
    return r;
}

/*
 * Sweeps the distinct scores from the top: at threshold s the predicted
 * positives are exactly the rows with score >= s, so tp and fp are running
 * counts. F1 = 2tp / (tp + fp + P). Equal rationals divide to the same double
 * (IEEE division is correctly rounded), so ties in F1 are detected exactly;
 * scanning downwards and accepting ">=" keeps the smallest threshold on ties.
 * NaN when n is 0, a score is NaN, or there is no positive label (F1 is then
 * 0 at every threshold and no threshold is meaningful).
 */
double cairn_threshold_max_f1(const double *p, const uint8_t *y, size_t n)
{
    scored *v = sorted_desc(p, y, n);
    if (!v)
        return NAN;
    uint64_t total_pos = 0;
    for (size_t i = 0; i < n; i++)
        total_pos += v[i].y;
    double best_t = NAN, best_f1 = -1.0;
    if (total_pos > 0) {
        uint64_t tp = 0, fp = 0;
        size_t i = 0;
        while (i < n) {
            size_t j = i;
            while (j < n && v[j].s == v[i].s) {
                if (v[j].y)
                    tp++;
                else
                    fp++;
                j++;
            }
            double f1 = (double)(2 * tp) / (double)(tp + fp + total_pos);
            if (f1 >= best_f1) {
                best_f1 = f1;
                best_t = v[i].s;
            }
            i = j;
        }
    }
    cairn_free(v);
    return best_t;
}

/*
 * The bin of p among n_bins equal-width bins whose edges are the doubles
 * i / n_bins (what numpy's arange(n_bins + 1) / n_bins gives). floor(p *
 * n_bins) can be off by one next to an edge because of rounding, so it is
 * only a starting guess, corrected against the edges themselves. Values
 * below 0 go to the first bin, values of 1 or above to the last.
 */
static size_t ece_bin(double p, size_t n_bins)
{
    double nb = (double)n_bins;
    if (!(p > 0))
        return 0;
    if (p >= 1.0)
        return n_bins - 1;
    double g = floor(p * nb);
    size_t b = g <= 0 ? 0 : (g >= nb ? n_bins - 1 : (size_t)g);
    while (b > 0 && p < (double)b / nb)
        b--;
    while (b + 1 < n_bins && p >= (double)(b + 1) / nb)
        b++;
    return b;
}

double cairn_metric_ece(const double *p, const uint8_t *y, size_t n, size_t n_bins,
                        uint64_t *bin_count, double *bin_mean_p, double *bin_rate)
{
    if (n_bins == 0)
        return NAN;
    /* One pass over the rows per bin: O(n * n_bins), with n_bins around 10,
     * and no scratch memory, so the function cannot fail for lack of it. */
    long double ece = 0;
    for (size_t b = 0; b < n_bins; b++) {
        uint64_t cnt = 0, pos = 0;
        long double sum_p = 0;
        for (size_t i = 0; i < n; i++) {
            if (ece_bin(p[i], n_bins) != b)
                continue;
            cnt++;
            pos += y[i] ? 1 : 0;
            sum_p += p[i];
        }
        double mean_p = cnt ? (double)(sum_p / (long double)cnt) : NAN;
        double rate = cnt ? (double)pos / (double)cnt : NAN;
        if (bin_count)
            bin_count[b] = cnt;
        if (bin_mean_p)
            bin_mean_p[b] = mean_p;
        if (bin_rate)
            bin_rate[b] = rate;
        if (cnt)
            ece += ((long double)cnt / (long double)n) * fabsl((long double)mean_p - rate);
    }
    return n ? (double)ece : NAN;
}

/* ---- regression --------------------------------------------------------------- */

double cairn_metric_rmse(const double *pred, const double *y, size_t n)
{
    if (n == 0)
        return NAN;
    long double sum = 0;
    for (size_t i = 0; i < n; i++) {
        long double d = (long double)y[i] - pred[i];
        sum += d * d;
    }
    return (double)sqrtl(sum / (long double)n);
}

double cairn_metric_mae(const double *pred, const double *y, size_t n)
{
    if (n == 0)
        return NAN;
    long double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += fabsl((long double)y[i] - pred[i]);
    return (double)(sum / (long double)n);
}

/*
 * R2 = 1 - SS_res / SS_tot. Undefined (NaN) when the labels are constant
 * (SS_tot = 0, including n = 1); sklearn returns 1.0 or 0.0 there by
 * convention (force_finite=True), which hides the problem. Two passes: the
 * mean first, then the centred sum of squares, which avoids the
 * cancellation of the one-pass formula.
 */
double cairn_metric_r2(const double *pred, const double *y, size_t n)
{
    if (n == 0)
        return NAN;
    long double mean = 0;
    for (size_t i = 0; i < n; i++)
        mean += y[i];
    mean /= (long double)n;
    long double ss_res = 0, ss_tot = 0;
    for (size_t i = 0; i < n; i++) {
        long double d = (long double)y[i] - pred[i];
        long double c = (long double)y[i] - mean;
        ss_res += d * d;
        ss_tot += c * c;
    }
    /* Constant labels: every centred term is exactly 0 when all y are equal,
     * since the mean of equal doubles is that double. */
    if (ss_tot == 0)
        return NAN;
    return (double)(1.0L - ss_res / ss_tot);
}

double cairn_metric_mape(const double *pred, const double *y, size_t n)
{
    if (n == 0)
        return NAN;
    long double sum = 0;
    for (size_t i = 0; i < n; i++) {
        if (y[i] == 0)
            return NAN;
        sum += fabsl((long double)y[i] - pred[i]) / fabsl((long double)y[i]);
    }
    return (double)(sum / (long double)n);
}

/* A value with its row, to compute average ranks. */
typedef struct ranked {
    double v;
    size_t i;
} ranked;

static int ranked_cmp(const void *a, const void *b)
{
    double x = ((const ranked *)a)->v, z = ((const ranked *)b)->v;
    return (x > z) - (x < z);
}

/*
 * Fills rank[] with 1-based average ranks of x (ties get the mean of the
 * ranks they span, scipy's rankdata(method='average')). Ranks are integers or
 * half-integers, exact in double. Uses tmp (n slots) as scratch.
 */
static void average_ranks(const double *x, size_t n, ranked *tmp, double *rank)
{
    for (size_t i = 0; i < n; i++) {
        tmp[i].v = x[i];
        tmp[i].i = i;
    }
    qsort(tmp, n, sizeof(ranked), ranked_cmp);
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && tmp[j].v == tmp[i].v)
            j++;
        /* Rows i..j-1 (0-based) share ranks i+1..j; their mean is (i+1+j)/2. */
        double r = ((double)i + 1.0 + (double)j) / 2.0;
        for (size_t k = i; k < j; k++)
            rank[tmp[k].i] = r;
        i = j;
    }
}

/*
 * Spearman's rho: the Pearson correlation of the average ranks. NaN when
 * n < 2, when either input is constant (a zero variance), when any value is
 * NaN, or when the scratch allocation fails.
 */
double cairn_metric_spearman(const double *a, const double *b, size_t n)
{
    double result = NAN;
    ranked *tmp = NULL;
    double *ra = NULL, *rb = NULL;
    size_t tmp_bytes, rank_bytes;
    if (n < 2 || !cairn_mul_size(n, sizeof(ranked), &tmp_bytes) ||
        !cairn_mul_size(n, sizeof(double), &rank_bytes))
        goto done;
    for (size_t i = 0; i < n; i++)
        if (isnan(a[i]) || isnan(b[i]))
            goto done;
    tmp = cairn_malloc(tmp_bytes);
    ra = cairn_malloc(rank_bytes);
    rb = cairn_malloc(rank_bytes);
    if (!tmp || !ra || !rb)
        goto done;
    average_ranks(a, n, tmp, ra);
    average_ranks(b, n, tmp, rb);
    /* Both rank vectors have mean (n + 1) / 2 exactly. */
    long double mean = ((long double)n + 1.0L) / 2.0L;
    long double sab = 0, saa = 0, sbb = 0;
    for (size_t i = 0; i < n; i++) {
        long double da = ra[i] - mean, db = rb[i] - mean;
        sab += da * db;
        saa += da * da;
        sbb += db * db;
    }
    if (saa == 0 || sbb == 0)
        goto done;
    result = (double)(sab / sqrtl(saa * sbb));
    /* Rounding can push a perfect correlation a hair past +-1. */
    if (result > 1.0)
        result = 1.0;
    if (result < -1.0)
        result = -1.0;
done:
    cairn_free(tmp);
    cairn_free(ra);
    cairn_free(rb);
    return result;
}

/* ---- multiclass ------------------------------------------------------------------ */

/*
 * The predicted class of one row: the first index of the maximum (numpy's
 * argmax). Returns k when the row holds a NaN, so callers can reject it.
 */
static size_t row_argmax(const double *row, size_t k)
{
    size_t best = 0;
    for (size_t j = 0; j < k; j++) {
        if (isnan(row[j]))
            return k;
        if (row[j] > row[best])
            best = j;
    }
    return best;
}

/* Shared validation: n, k nonzero, n * k representable, labels in range. */
static bool mc_valid(const uint32_t *y, size_t n, size_t k)
{
    size_t total;
    if (n == 0 || k == 0 || !cairn_mul_size(n, k, &total))
        return false;
    for (size_t i = 0; i < n; i++)
        if ((size_t)y[i] >= k)
            return false;
    return true;
}

double cairn_metric_mc_accuracy(const double *prob, const uint32_t *y, size_t n, size_t k)
{
    if (!mc_valid(y, n, k))
        return NAN;
    uint64_t correct = 0;
    for (size_t i = 0; i < n; i++) {
        size_t c = row_argmax(prob + i * k, k);
        if (c == k)
            return NAN;
        correct += c == (size_t)y[i];
    }
    return (double)correct / (double)n;
}

/*
 * Macro-F1 over all k classes (sklearn f1_score(average='macro',
 * labels=range(k), zero_division=0)): a class that is never true and never
 * predicted contributes an F1 of 0. Needs three counters per class.
 */
double cairn_metric_mc_macro_f1(const double *prob, const uint32_t *y, size_t n, size_t k)
{
    double result = NAN;
    uint64_t *cnt = NULL; /* tp[k], fp[k], fn[k] */
    size_t slots;
    if (!mc_valid(y, n, k) || !cairn_mul_size(k, 3, &slots))
        goto done;
    cnt = cairn_calloc(slots, sizeof(uint64_t));
    if (!cnt)
        goto done;
    uint64_t *tp = cnt, *fp = cnt + k, *fn = cnt + 2 * k;
    for (size_t i = 0; i < n; i++) {
        size_t c = row_argmax(prob + i * k, k);
        if (c == k)
            goto done;
        if (c == (size_t)y[i]) {
            tp[c]++;
        } else {
            fp[c]++;
            fn[y[i]]++;
        }
    }
    long double sum = 0;
    for (size_t c = 0; c < k; c++)
        sum += f1_of(tp[c], fp[c], fn[c]);
    result = (double)(sum / (long double)k);
done:
    cairn_free(cnt);
    return result;
}

/*
 * Multiclass log loss as sklearn 1.2 computes it with labels=range(k) and
 * eps=1e-15: clip every entry to [eps, 1 - eps], divide each row by its sum
 * (so rows that do not sum to 1 are renormalised), and average -log of the
 * true class's entry. NaN when k < 2 (sklearn refuses a single label).
 */
double cairn_metric_mc_logloss(const double *prob, const uint32_t *y, size_t n, size_t k)
{
    if (k < 2 || !mc_valid(y, n, k))
        return NAN;
    long double sum = 0;
    for (size_t i = 0; i < n; i++) {
        const double *row = prob + i * k;
        double row_sum = 0, mine = 0;
        for (size_t j = 0; j < k; j++) {
            double c = row[j];
            if (isnan(c))
                return NAN;
            if (c < LOGLOSS_EPS)
                c = LOGLOSS_EPS;
            if (c > 1.0 - LOGLOSS_EPS)
                c = 1.0 - LOGLOSS_EPS;
            row_sum += c;
            if (j == (size_t)y[i])
                mine = c;
        }
        sum -= logl((long double)(mine / row_sum));
    }
    return (double)(sum / (long double)n);
}
