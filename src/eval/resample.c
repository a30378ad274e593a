/*
 * resample.c -- the weighted-resample engine of resample.h: preparing a
 * sample and its sides once, then every metric of one resample from its
 * per-row counts, for cairn_evaluate and cairn_compare alike. Drawing the
 * resamples (seeds, streams), threads and the results are the callers'.
 *
 * The preparation sorts each side once and computes every per-row term of a
 * metric with metrics.c's own steps, so that a resample only weights them:
 * binary sides by descending score (AUC, average precision and the
 * confusion counts need the score order, ECE bins are runs of it), regression
 * sides by ascending prediction and the sample's labels by ascending label
 * (Spearman's ranks), multiclass sides not at all (every term is per row).
 */
#include "eval/resample.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* sklearn's log_loss eps, as metrics.c clips with it. */
#define LOGLOSS_EPS 1e-15

/*
 * Rows per block of double sums, each block added up in long double: the
 * rounding stays near long double's at a fraction of its cost.
 */
#define SUM_BLOCK 1024

/* ---- metric tables ------------------------------------------------------------------ */

/* Slots: where each task's resample pass leaves a metric's value (eval.h's order). */
enum { B_AUC, B_PR_AUC, B_LOGLOSS, B_BRIER, B_ECE, B_ACCURACY, B_PRECISION, B_RECALL, B_F1,
       B_SLOTS };
enum { R_RMSE, R_MAE, R_R2, R_MAPE, R_SPEARMAN, R_SLOTS };
enum { M_ACCURACY, M_MACRO_F1, M_LOGLOSS, M_SLOTS };

_Static_assert(B_SLOTS == CAIRN_RS_MAX_SLOTS && (int)R_SLOTS <= (int)B_SLOTS &&
                   (int)M_SLOTS <= (int)B_SLOTS && B_SLOTS <= CAIRN_EVAL_MAX_METRICS,
               "CAIRN_RS_MAX_SLOTS is the widest task's metric count");

static const char *const binary_names[B_SLOTS] = {
    "auc", "pr_auc", "logloss", "brier", "ece", "accuracy", "precision", "recall", "f1"};
static const char *const regression_names[R_SLOTS] = {"rmse", "mae", "r2", "mape", "spearman"};
static const char *const multiclass_names[M_SLOTS] = {"accuracy", "macro_f1", "logloss"};

const char *const *cairn_rs_names(cairn_task task, size_t *n_slots)
{
    size_t n = task == CAIRN_TASK_BINARY ? B_SLOTS
               : task == CAIRN_TASK_REGRESSION ? R_SLOTS
                                               : M_SLOTS;
    if (n_slots)
        *n_slots = n;
    return task == CAIRN_TASK_BINARY       ? binary_names
           : task == CAIRN_TASK_REGRESSION ? regression_names
                                           : multiclass_names;
}

size_t cairn_rs_slots(cairn_task task, bool has_mape, uint8_t *slot)
{
    size_t n_names, nm = 0;
    cairn_rs_names(task, &n_names);
    for (size_t i = 0; i < n_names; i++)
        if (task != CAIRN_TASK_REGRESSION || i != R_MAPE || has_mape)
            slot[nm++] = (uint8_t)i;
    return nm;
}

bool cairn_rs_mape_defined(const double *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (y[i] == 0)
            return false;
    return true;
}

/* ---- memory ------------------------------------------------------------------------- */

int cairn_rs_keyed_desc(const void *a, const void *b)
{
    const cairn_rs_keyed *x = a, *z = b;
    if (x->v != z->v)
        return (x->v < z->v) - (x->v > z->v);
    return (x->i > z->i) - (x->i < z->i);
}

int cairn_rs_keyed_asc(const void *a, const void *b)
{
    const cairn_rs_keyed *x = a, *z = b;
    if (x->v != z->v)
        return (x->v > z->v) - (x->v < z->v);
    return (x->i > z->i) - (x->i < z->i);
}

bool cairn_rs_alloc(void *p, size_t count, size_t size)
{
    size_t bytes;
    void *q = NULL;
    if (cairn_mul_size(count ? count : 1, size, &bytes))
        q = cairn_malloc(bytes);
    memcpy(p, &q, sizeof q);
    return q != NULL;
}

cairn_status cairn_rs_sample_init(cairn_rs_sample *X, cairn_task task, size_t n, size_t k,
                                  int n_threads)
{
    size_t nt = n_threads > 0 ? (size_t)n_threads : 0, ntn, k3;
    bool ok = true;
    memset(X, 0, sizeof *X);
    X->task = task;
    X->n = n;
    X->k = k;
    X->n_threads = n_threads > 0 ? n_threads : 0;
    switch (task) {
    case CAIRN_TASK_BINARY:
        ok = cairn_rs_alloc(&X->y8, n, 1) && cairn_rs_alloc(&X->kb, n, sizeof(cairn_rs_keyed));
        break;
    case CAIRN_TASK_REGRESSION:
        ok = cairn_rs_alloc(&X->yd, n, sizeof(double)) &&
             cairn_rs_alloc(&X->yorder, n, sizeof(uint32_t)) &&
             cairn_rs_alloc(&X->yend, n, sizeof(uint32_t)) &&
             cairn_rs_alloc(&X->yv, n, sizeof(double)) &&
             cairn_rs_alloc(&X->kb, n, sizeof(cairn_rs_keyed));
        if (nt)
            ok = ok && cairn_mul_size(nt, n, &ntn) && cairn_rs_alloc(&X->ra, ntn, sizeof(double)) &&
                 cairn_rs_alloc(&X->rb, ntn, sizeof(double));
        break;
    case CAIRN_TASK_MULTICLASS:
        ok = cairn_rs_alloc(&X->y32, n, sizeof(uint32_t));
        if (nt)
            ok = ok && cairn_mul_size(nt * 3, k, &k3) &&
                 cairn_rs_alloc(&X->cc, k3, sizeof(uint64_t));
        break;
    default:
        ok = false;
        break;
    }
    if (!ok) {
        cairn_rs_sample_reset(X);
        return CAIRN_ENOMEM;
    }
    return CAIRN_OK;
}

void cairn_rs_sample_reset(cairn_rs_sample *X)
{
    if (!X)
        return;
    void *ptrs[] = {X->y8, X->yd, X->y32, X->yorder, X->yend, X->yv, X->kb, X->ra, X->rb, X->cc};
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(ptrs); i++)
        cairn_free(ptrs[i]);
    memset(X, 0, sizeof *X);
}

cairn_status cairn_rs_side_init(cairn_rs_side *S, const cairn_rs_sample *X)
{
    size_t n = X->n, nk;
    bool ok = false;
    memset(S, 0, sizeof *S);
    switch (X->task) {
    case CAIRN_TASK_BINARY:
        ok = cairn_rs_alloc(&S->s, n, sizeof(double)) &&
             cairn_rs_alloc(&S->order, n, sizeof(uint32_t)) && cairn_rs_alloc(&S->flags, n, 1) &&
             cairn_rs_alloc(&S->bl, n, sizeof(double)) && cairn_rs_alloc(&S->bp, n, sizeof(double));
        break;
    case CAIRN_TASK_REGRESSION:
        ok = cairn_rs_alloc(&S->s, n, sizeof(double)) &&
             cairn_rs_alloc(&S->order, n, sizeof(uint32_t)) &&
             cairn_rs_alloc(&S->pend, n, sizeof(uint32_t)) &&
             cairn_rs_alloc(&S->d2, n, sizeof(double)) &&
             cairn_rs_alloc(&S->ad, n, sizeof(double)) &&
             cairn_rs_alloc(&S->ape, n, sizeof(double));
        break;
    case CAIRN_TASK_MULTICLASS:
        ok = cairn_mul_size(n, X->k, &nk) && cairn_rs_alloc(&S->s, nk, sizeof(double)) &&
             cairn_rs_alloc(&S->cls, n, sizeof(uint32_t)) && cairn_rs_alloc(&S->correct, n, 1) &&
             cairn_rs_alloc(&S->loss, n, sizeof(double));
        break;
    }
    if (!ok) {
        cairn_rs_side_reset(S);
        return CAIRN_ENOMEM;
    }
    return CAIRN_OK;
}

void cairn_rs_side_reset(cairn_rs_side *S)
{
    if (!S)
        return;
    void *ptrs[] = {S->s,  S->order, S->flags, S->bl,  S->bp,      S->pend,
                    S->d2, S->ad,    S->ape,   S->cls, S->correct, S->loss};
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(ptrs); i++)
        cairn_free(ptrs[i]);
    memset(S, 0, sizeof *S);
}

/* ---- estimates and intervals ---------------------------------------------------------- */

void cairn_rs_estimates(const cairn_rs_sample *X, const cairn_rs_side *S, size_t m, double *est,
                        cairn_eval_result *top)
{
    const double *s = S->s;
    switch (X->task) {
    case CAIRN_TASK_BINARY: {
        const uint8_t *y = X->y8;
        cairn_binary_at at = cairn_metric_binary_at(s, y, m, X->threshold);
        est[B_AUC] = cairn_metric_auc(s, y, m);
        est[B_PR_AUC] = cairn_metric_pr_auc(s, y, m);
        est[B_LOGLOSS] = cairn_metric_logloss(s, y, m);
        est[B_BRIER] = cairn_metric_brier(s, y, m);
        est[B_ECE] = cairn_metric_ece(s, y, m, CAIRN_EVAL_ECE_BINS, top ? top->ece_count : NULL,
                                      top ? top->ece_mean_p : NULL, top ? top->ece_rate : NULL);
        est[B_ACCURACY] = at.accuracy;
        est[B_PRECISION] = at.precision;
        est[B_RECALL] = at.recall;
        est[B_F1] = at.f1;
        if (top)
            top->at = at;
        break;
    }
    case CAIRN_TASK_REGRESSION:
        est[R_RMSE] = cairn_metric_rmse(s, X->yd, m);
        est[R_MAE] = cairn_metric_mae(s, X->yd, m);
        est[R_R2] = cairn_metric_r2(s, X->yd, m);
        est[R_MAPE] = X->has_mape ? cairn_metric_mape(s, X->yd, m) : NAN;
        est[R_SPEARMAN] = cairn_metric_spearman(s, X->yd, m);
        break;
    case CAIRN_TASK_MULTICLASS:
        est[M_ACCURACY] = cairn_metric_mc_accuracy(s, X->y32, m, X->k);
        est[M_MACRO_F1] = cairn_metric_mc_macro_f1(s, X->y32, m, X->k);
        est[M_LOGLOSS] = cairn_metric_mc_logloss(s, X->y32, m, X->k);
        break;
    }
}

static int double_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, z = *(const double *)b;
    return (x > z) - (x < z);
}

void cairn_rs_interval(const double *vals, size_t stride, size_t n_boot, double *sorted,
                       cairn_interval *iv)
{
    size_t nv = 0;
    for (size_t b = 0; b < n_boot; b++) {
        double x = vals[b * stride];
        if (!isnan(x))
            sorted[nv++] = x;
    }
    iv->n_valid = nv;
    iv->lo = iv->hi = NAN;
    if (nv == 0)
        return;
    qsort(sorted, nv, sizeof(double), double_cmp);
    iv->lo = cairn_percentile_sorted(sorted, nv, 2.5);
    iv->hi = cairn_percentile_sorted(sorted, nv, 97.5);
}

/* ---- preparing a sample ---------------------------------------------------------------- */

/* Binary position flags. */
enum {
    F_POSITIVE = 1,     /* the label is 1 */
    F_RUN_END = 2,      /* the last position of a run of equal scores */
    F_PRED_END = 4,     /* the last position predicted 1 (score >= threshold) */
    F_BIN_END = 8       /* the last position of an ECE bin */
};

/*
 * cairn_metric_ece's bin of p: how many inner edges i / n_bins (i = 1 ..
 * n_bins - 1, as doubles) lie at or below it. Scores below 0 go to the first
 * bin, 1 and above to the last.
 */
static uint8_t ece_bin_of(double p)
{
    uint8_t b = 0;
    for (int i = 1; i < CAIRN_EVAL_ECE_BINS; i++)
        b = (uint8_t)(b + (p >= (double)i / (double)CAIRN_EVAL_ECE_BINS));
    return b;
}

/*
 * Sorts a binary side by descending score. The rows predicted 1 and the
 * rows of each ECE bin are runs of positions ending with a run of equal
 * scores, because both depend on the score alone, monotonically: a resample
 * reads the confusion counts and a bin's sums where such a run ends, with
 * no per-row bin or prediction.
 */
static void prepare_binary(cairn_rs_sample *X, cairn_rs_side *S, size_t m)
{
    double t = X->threshold;
    size_t n_bins = 0;
    cairn_rs_keyed *kb = X->kb;
    for (size_t l = 0; l < m; l++)
        kb[l] = (cairn_rs_keyed){S->s[l], (uint32_t)l};
    qsort(kb, m, sizeof(cairn_rs_keyed), cairn_rs_keyed_desc);
    for (size_t j = 0; j < m; j++) {
        uint32_t l = kb[j].i;
        double p = kb[j].v;
        bool y = X->y8[l] != 0;
        uint8_t bin = ece_bin_of(p);
        uint8_t f = y ? F_POSITIVE : 0;
        if (j + 1 == m || kb[j + 1].v != p) {
            double next = j + 1 < m ? kb[j + 1].v : -INFINITY;
            f |= F_RUN_END;
            if (p >= t && !(next >= t))
                f |= F_PRED_END;
            if (j + 1 == m || ece_bin_of(next) != bin) {
                f |= F_BIN_END;
                S->bin_seq[n_bins++] = bin;
            }
        }
        S->order[j] = l;
        S->flags[j] = f;
        /* metrics.c's log-loss steps: clip, renormalise [1 - p, p]. */
        double pc = p < LOGLOSS_EPS ? LOGLOSS_EPS : (p > 1.0 - LOGLOSS_EPS ? 1.0 - LOGLOSS_EPS : p);
        double q = 1.0 - pc, sum = q + pc;
        S->bl[j] = (double)-logl((long double)((y ? pc : q) / sum));
        S->bp[j] = p;
    }
}

/* Fills ends[] with the ends of the runs of equal v in kb[0..m); returns their count. */
static size_t tie_runs(const cairn_rs_keyed *kb, size_t m, uint32_t *ends)
{
    size_t nr = 0;
    for (size_t j = 0; j < m; j++) {
        if (j > 0 && kb[j].v != kb[j - 1].v)
            nr++;
        ends[nr] = (uint32_t)(j + 1);
    }
    return m ? nr + 1 : 0;
}

/* A regression side: its error terms by row and its prediction order. */
static void prepare_regression(cairn_rs_sample *X, cairn_rs_side *S, size_t m)
{
    cairn_rs_keyed *kb = X->kb;
    for (size_t l = 0; l < m; l++) {
        double y = X->yd[l];
        long double d = (long double)y - S->s[l];
        S->d2[l] = (double)(d * d);
        S->ad[l] = (double)fabsl(d);
        S->ape[l] = X->has_mape ? (double)(fabsl(d) / fabsl((long double)y)) : 0.0;
        kb[l] = (cairn_rs_keyed){S->s[l], (uint32_t)l};
    }
    qsort(kb, m, sizeof(cairn_rs_keyed), cairn_rs_keyed_asc);
    S->npg = tie_runs(kb, m, S->pend);
    for (size_t j = 0; j < m; j++)
        S->order[j] = kb[j].i;
}

/* The label order of a regression sample, shared by its sides. */
static void prepare_labels(cairn_rs_sample *X, size_t m)
{
    cairn_rs_keyed *kb = X->kb;
    for (size_t l = 0; l < m; l++)
        kb[l] = (cairn_rs_keyed){X->yd[l], (uint32_t)l};
    qsort(kb, m, sizeof(cairn_rs_keyed), cairn_rs_keyed_asc);
    X->nyg = tie_runs(kb, m, X->yend);
    for (size_t q = 0; q < m; q++) {
        X->yorder[q] = kb[q].i;
        X->yv[q] = kb[q].v;
    }
}

/* numpy's argmax of a row (the first maximum); rows hold no NaN (validated). */
static size_t argmax_row(const double *row, size_t k)
{
    size_t best = 0;
    for (size_t j = 1; j < k; j++)
        if (row[j] > row[best])
            best = j;
    return best;
}

static void prepare_multiclass(const cairn_rs_sample *X, cairn_rs_side *S, size_t m)
{
    size_t k = X->k;
    for (size_t l = 0; l < m; l++) {
        const double *row = S->s + l * k;
        size_t c = argmax_row(row, k);
        S->cls[l] = (uint32_t)c;
        S->correct[l] = c == X->y32[l];
        /* metrics.c's steps: clip every entry, renormalise the row. */
        double row_sum = 0, mine = 0;
        for (size_t j = 0; j < k; j++) {
            double v = row[j];
            v = v < LOGLOSS_EPS ? LOGLOSS_EPS : (v > 1.0 - LOGLOSS_EPS ? 1.0 - LOGLOSS_EPS : v);
            row_sum += v;
            if (j == X->y32[l])
                mine = v;
        }
        S->loss[l] = (double)-logl((long double)(mine / row_sum));
    }
}

void cairn_rs_prepare(cairn_rs_sample *X, cairn_rs_side *S, size_t n_sides, size_t m)
{
    for (size_t s = 0; s < n_sides; s++) {
        switch (X->task) {
        case CAIRN_TASK_BINARY: prepare_binary(X, &S[s], m); break;
        case CAIRN_TASK_REGRESSION: prepare_regression(X, &S[s], m); break;
        case CAIRN_TASK_MULTICLASS: prepare_multiclass(X, &S[s], m); break;
        }
    }
    if (X->task == CAIRN_TASK_REGRESSION)
        prepare_labels(X, m);
}

/* ---- one resample ----------------------------------------------------------------------- */

void cairn_rs_draw_counts(cairn_rng *rng, uint32_t *cnt, size_t m)
{
    uint64_t bound = m, cut = (0 - bound) % bound;
    memset(cnt, 0, m * sizeof *cnt);
    for (size_t i = 0; i < m; i++) {
        uint64_t r;
        do
            r = cairn_rng_next(rng);
        while (r < cut);
        cnt[r % bound]++;
    }
}

/* F1 = 2tp / (2tp + fp + fn), 0 when undefined (metrics.c's zero_division=0). */
static double f1_of(uint64_t tp, uint64_t fp, uint64_t fn)
{
    uint64_t den = 2 * tp + fp + fn;
    return den ? (double)(2 * tp) / (double)den : 0.0;
}

/*
 * Every binary metric of one side in one sweep over the positions by
 * descending score. At the end of each run of equal scores, with gp drawn
 * positives and gn drawn negatives in the run: the pairs it orders
 * correctly are its negatives below every positive seen so far, and its
 * tied pairs count one half (twice_pairs adds gn * (2 pos + gp)); average
 * precision adds the recall step gp / P times the precision at the run's
 * end. The confusion counts are the running counts where the predicted-1
 * prefix ends; an ECE bin's count, positives and score sum are taken where
 * it ends. Undrawn rows add zero terms, cheaper than a branch per row.
 */
static void resample_binary(const cairn_rs_side *S, size_t m, const uint32_t *cnt, double *v)
{
    const uint32_t *order = S->order;
    const uint8_t *fl = S->flags;
    const double *bl = S->bl, *bp = S->bp;
    uint64_t bcnt[CAIRN_EVAL_ECE_BINS] = {0}, bpos[CAIRN_EVAL_ECE_BINS] = {0};
    long double bsum[CAIRN_EVAL_ECE_BINS] = {0}, ll = 0, br = 0, bs = 0, ap = 0;
    uint64_t pos = 0, neg = 0, twice_pairs = 0, gt = 0, gp = 0, tp = 0, fp = 0, bt = 0, bq = 0;
    size_t cur = 0;
    for (size_t lo = 0; lo < m; lo += SUM_BLOCK) {
        size_t end = m - lo > SUM_BLOCK ? lo + SUM_BLOCK : m;
        double sl = 0, sq = 0, sp = 0, sa = 0;
        for (size_t j = lo; j < end; j++) {
            uint32_t w = cnt[order[j]];
            unsigned f = fl[j];
            double wd = (double)w, p = bp[j], d = p - (double)(f & F_POSITIVE);
            gt += w;
            gp += (f & F_POSITIVE) ? w : 0;
            sl += wd * bl[j];
            sq += wd * d * d;
            sp += wd * p;
            if (!(f & F_RUN_END))
                continue;
            uint64_t gn = gt - gp;
            twice_pairs += gn * (2 * pos + gp);
            pos += gp;
            neg += gn;
            if (gp)
                sa += (double)gp * ((double)pos / (double)(pos + neg));
            bt += gt;
            bq += gp;
            gt = gp = 0;
            if (f & F_PRED_END) {
                tp = pos;
                fp = neg;
            }
            if (f & F_BIN_END) {
                uint8_t b = S->bin_seq[cur++];
                bcnt[b] = bt;
                bpos[b] = bq;
                bsum[b] = bs + sp;
                bt = bq = 0;
                bs = 0;
                sp = 0;
            }
        }
        ll += sl;
        br += sq;
        bs += sp;
        ap += sa;
    }
    uint64_t fn = pos - tp, tn = neg - fp;
    long double lm = (long double)m, ece = 0;
    for (int b = 0; b < CAIRN_EVAL_ECE_BINS; b++) {
        if (!bcnt[b])
            continue;
        double mean_p = (double)(bsum[b] / (long double)bcnt[b]);
        double rate = (double)bpos[b] / (double)bcnt[b];
        ece += ((long double)bcnt[b] / lm) * fabsl((long double)mean_p - rate);
    }
    v[B_AUC] = pos && neg ? (double)((long double)twice_pairs /
                                     (2.0L * (long double)pos * (long double)neg))
                          : NAN;
    v[B_PR_AUC] = pos ? (double)(ap / (long double)pos) : NAN;
    v[B_LOGLOSS] = (double)(ll / lm);
    v[B_BRIER] = (double)(br / lm);
    v[B_ECE] = (double)ece;
    v[B_ACCURACY] = (double)(tp + tn) / (double)m;
    v[B_PRECISION] = tp + fp ? (double)tp / (double)(tp + fp) : 0.0;
    v[B_RECALL] = tp + fn ? (double)tp / (double)(tp + fn) : 0.0;
    v[B_F1] = f1_of(tp, fp, fn);
}

/*
 * Average ranks of the drawn rows in one sort order: a run of equal values
 * with drawn weight gw after c drawn rows holds ranks c+1 .. c+gw, whose
 * average (2c + 1 + gw) / 2 is what ranking w tied copies per row gives.
 * Writes rank[row] for every row. With values (the labels in label order),
 * also returns the weighted sum of squares about mean and counts the runs
 * drawn at all into *n_drawn.
 */
static long double drawn_ranks(const uint32_t *order, const uint32_t *ends, size_t n_runs,
                               const uint32_t *cnt, double *rank, const double *values,
                               long double mean, size_t *n_drawn)
{
    uint64_t c = 0;
    size_t j = 0, drawn = 0;
    long double ss = 0;
    double block = 0;
    for (size_t g = 0; g < n_runs; g++) {
        size_t start = j, end = ends[g];
        uint64_t gw = 0;
        for (; j < end; j++)
            gw += cnt[order[j]];
        double r = ((double)c + 1.0 + (double)(c + gw)) / 2.0;
        for (j = start; j < end; j++)
            rank[order[j]] = r;
        if (values && gw) {
            double d = (double)((long double)values[start] - mean);
            block += (double)gw * d * d;
            drawn++;
        }
        if (g % SUM_BLOCK == SUM_BLOCK - 1) {
            ss += block;
            block = 0;
        }
        c += gw;
    }
    if (n_drawn)
        *n_drawn = drawn;
    return ss + block;
}

/*
 * A regression side's weighted error sums, and the labels' weighted sum:
 * the labels' adds a fourth independent accumulator to the pass, which
 * costs next to nothing, whereas a pass of its own is one dependent chain
 * of additions per row.
 */
typedef struct error_sums {
    long double d2, ad, ape, y;
} error_sums;

static error_sums sum_errors(const cairn_rs_sample *X, const cairn_rs_side *S, size_t m,
                             const uint32_t *cnt)
{
    error_sums e = {0, 0, 0, 0};
    for (size_t lo = 0; lo < m; lo += SUM_BLOCK) {
        size_t end = m - lo > SUM_BLOCK ? lo + SUM_BLOCK : m;
        double b2 = 0, ba = 0, bp = 0, by = 0;
        for (size_t l = lo; l < end; l++) {
            double w = cnt[l];
            b2 += w * S->d2[l];
            ba += w * S->ad[l];
            bp += w * S->ape[l];
            by += w * X->yd[l];
        }
        e.d2 += b2;
        e.ad += ba;
        e.ape += bp;
        e.y += by;
    }
    return e;
}

/* What a regression resample's drawn labels give every side. */
typedef struct drawn_labels {
    const double *rank;  /* by row: the labels' average ranks */
    long double ss_tot;  /* sum of squares about the drawn mean */
    bool constant;       /* every drawn label equal */
} drawn_labels;

/* The label side of a regression resample (sum_y: the labels' weighted sum;
 * rank: n-sized scratch it fills). */
static drawn_labels resample_labels(const cairn_rs_sample *X, size_t m, const uint32_t *cnt,
                                    long double sum_y, double *rank)
{
    size_t n_drawn;
    drawn_labels D = {.rank = rank};
    D.ss_tot = drawn_ranks(X->yorder, X->yend, X->nyg, cnt, rank, X->yv,
                           sum_y / (long double)m, &n_drawn);
    D.constant = n_drawn <= 1;
    return D;
}

/*
 * The regression metrics of one side from its error sums e (ra: n-sized
 * rank scratch). R2 is undefined when the drawn labels are all equal
 * (metrics.c's rule); that is tested on the labels themselves, since the
 * blocked mean of equal labels need not round to them and leaves ss_tot a
 * tiny non-zero.
 */
static void resample_regression(const cairn_rs_sample *X, const cairn_rs_side *S, size_t m,
                                const uint32_t *cnt, const error_sums *e, const drawn_labels *D,
                                double *ra, double *v)
{
    long double lm = (long double)m;
    drawn_ranks(S->order, S->pend, S->npg, cnt, ra, NULL, 0, NULL);
    const double *rb = D->rank;
    double mr = ((double)m + 1.0) / 2.0;
    long double sab = 0, saa = 0, sbb = 0;
    for (size_t lo = 0; lo < m; lo += SUM_BLOCK) {
        size_t end = m - lo > SUM_BLOCK ? lo + SUM_BLOCK : m;
        double bab = 0, baa = 0, bbb = 0;
        for (size_t l = lo; l < end; l++) {
            double w = cnt[l], da = ra[l] - mr, db = rb[l] - mr;
            bab += w * da * db;
            baa += w * da * da;
            bbb += w * db * db;
        }
        sab += bab;
        saa += baa;
        sbb += bbb;
    }
    v[R_RMSE] = (double)sqrtl(e->d2 / lm);
    v[R_MAE] = (double)(e->ad / lm);
    v[R_R2] = D->constant || D->ss_tot == 0 ? NAN : (double)(1.0L - e->d2 / D->ss_tot);
    v[R_MAPE] = X->has_mape ? (double)(e->ape / lm) : NAN;
    double rho = NAN;
    if (m >= 2 && saa != 0 && sbb != 0) {
        rho = (double)(sab / sqrtl(saa * sbb));
        rho = rho > 1.0 ? 1.0 : (rho < -1.0 ? -1.0 : rho);
    }
    v[R_SPEARMAN] = rho;
}

/*
 * The multiclass metrics of one side (cc: 3k counters of scratch). The pass
 * has no branch per row: an undrawn row adds zeros, and a correct row adds
 * zero to fp and fn; about a third of the rows are undrawn, at random, which
 * a branch predicts badly.
 */
static void resample_multiclass(const cairn_rs_sample *X, const cairn_rs_side *S, size_t m,
                                const uint32_t *cnt, uint64_t *cc, double *v)
{
    size_t k = X->k;
    const uint32_t *y = X->y32;
    uint64_t *tp = cc, *fp = cc + k, *fn = cc + 2 * k, correct = 0;
    memset(cc, 0, 3 * k * sizeof *cc);
    long double ll = 0;
    for (size_t lo = 0; lo < m; lo += SUM_BLOCK) {
        size_t end = m - lo > SUM_BLOCK ? lo + SUM_BLOCK : m;
        double block = 0;
        for (size_t l = lo; l < end; l++) {
            uint32_t w = cnt[l], c = S->cls[l];
            uint64_t wc = S->correct[l] ? w : 0, wm = w - wc;
            tp[c] += wc;
            fp[c] += wm;
            fn[y[l]] += wm;
            correct += wc;
            block += (double)w * S->loss[l];
        }
        ll += block;
    }
    long double f1 = 0;
    for (size_t c = 0; c < k; c++)
        f1 += f1_of(tp[c], fp[c], fn[c]);
    v[M_ACCURACY] = (double)correct / (double)m;
    v[M_MACRO_F1] = (double)(f1 / (long double)k);
    v[M_LOGLOSS] = (double)(ll / (long double)m);
}

void cairn_rs_resample(const cairn_rs_sample *X, const cairn_rs_side *S, size_t n_sides, size_t m,
                       const uint32_t *cnt, size_t t, double (*v)[CAIRN_RS_MAX_SLOTS])
{
    switch (X->task) {
    case CAIRN_TASK_BINARY:
        for (size_t s = 0; s < n_sides; s++)
            resample_binary(&S[s], m, cnt, v[s]);
        break;
    case CAIRN_TASK_REGRESSION: {
        if (n_sides == 0)
            break;
        /* The labels' sum comes with the first side's error sums; every
         * side then shares the labels' ranks. */
        error_sums e = sum_errors(X, &S[0], m, cnt);
        drawn_labels D = resample_labels(X, m, cnt, e.y, X->rb + t * X->n);
        for (size_t s = 0; s < n_sides; s++) {
            if (s > 0)
                e = sum_errors(X, &S[s], m, cnt);
            resample_regression(X, &S[s], m, cnt, &e, &D, X->ra + t * X->n, v[s]);
        }
        break;
    }
    case CAIRN_TASK_MULTICLASS:
        for (size_t s = 0; s < n_sides; s++)
            resample_multiclass(X, &S[s], m, cnt, X->cc + t * 3 * X->k, v[s]);
        break;
    }
}
