/*
 * compare.c -- a candidate model against the production model on the same
 * rows: every metric of the task for both, the gain of the candidate with a
 * paired percentile bootstrap interval, and the primary metric's gain per
 * slice group. The metrics themselves are eval's (metrics.c); reading the
 * result (promote or not) is left to the caller.
 *
 * Estimates are cairn_metric_* applied to each side's rows, so they equal a
 * direct call exactly. The resamples follow cairn_bootstrap: one generator,
 * cairn_rng_init(rng, seed), and for resample after resample n indices each
 * drawn with cairn_rng_below(rng, n). One resample's indices serve both
 * models, which is what makes the interval paired. Because the stream is a
 * single sequence, the indices are drawn on one thread, a batch of resamples
 * at a time, turned into per-row counts, and the batch's metrics are then
 * computed in parallel; each resample's values depend on its counts alone,
 * so the result is the same for every thread count.
 *
 * A resample is evaluated without gathering and sorting its rows: each side
 * is sorted once (by score, or by prediction and label for Spearman's ranks),
 * the per-row terms of every metric are computed once, and a resample
 * weights each row by how often it was drawn. A row drawn w times adds what
 * w copies of it add to the metric of the gathered rows; counts are exact
 * integers, so only the order of floating-point additions differs from
 * metrics.c (sums run in double over blocks of SUM_BLOCK rows, added up in
 * long double). The unit test replays resamples through cairn_bootstrap and
 * the plain metrics and agrees to 1e-12.
 *
 * Slice group g of slice column c is its own sample (its rows in row order)
 * with its own stream: cairn_rng_init(rng, group_seed(seed, c, g)), the rule
 * that compare.h states.
 */
#include "review/compare.h"

#include <inttypes.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WHERE "cairn_compare"

/* sklearn's log_loss eps, as metrics.c clips with it. */
#define LOGLOSS_EPS 1e-15

/* Rows per block of double sums, each block added up in long double. */
#define SUM_BLOCK 1024

/* Resamples drawn per thread before a batch is evaluated in parallel. */
#define BATCH_PER_THREAD 4

/* Below this many rows x resamples a loop runs on one thread. */
#define PARALLEL_MIN_WORK 65536u

/* ---- metric tables ------------------------------------------------------------------ */

/* Slots of each task's metrics, in eval.h's order (cairn_evaluate's names). */
enum { B_AUC, B_PR_AUC, B_LOGLOSS, B_BRIER, B_ECE, B_ACCURACY, B_PRECISION, B_RECALL, B_F1,
       B_SLOTS };
enum { R_RMSE, R_MAE, R_R2, R_MAPE, R_SPEARMAN, R_SLOTS };
enum { M_ACCURACY, M_MACRO_F1, M_LOGLOSS, M_SLOTS };
#define MAX_SLOTS B_SLOTS

static const char *const binary_names[B_SLOTS] = {
    "auc", "pr_auc", "logloss", "brier", "ece", "accuracy", "precision", "recall", "f1"};
static const char *const regression_names[R_SLOTS] = {"rmse", "mae", "r2", "mape", "spearman"};
static const char *const multiclass_names[M_SLOTS] = {"accuracy", "macro_f1", "logloss"};

const char *cairn_compare_primary(cairn_task task)
{
    switch (task) {
    case CAIRN_TASK_BINARY: return "auc";
    case CAIRN_TASK_REGRESSION: return "rmse";
    case CAIRN_TASK_MULTICLASS: return "accuracy";
    }
    return "auc";
}

static const char *const *names_of(cairn_task task)
{
    return task == CAIRN_TASK_BINARY       ? binary_names
           : task == CAIRN_TASK_REGRESSION ? regression_names
                                           : multiclass_names;
}

/* ---- working memory -------------------------------------------------------------------- */

typedef struct keyed {
    double v;
    uint32_t i;
} keyed;

/* Descending value, then ascending row: a total order, since qsort is not stable. */
static int keyed_desc(const void *a, const void *b)
{
    const keyed *x = a, *z = b;
    if (x->v != z->v)
        return (x->v < z->v) - (x->v > z->v);
    return (x->i > z->i) - (x->i < z->i);
}

static int keyed_asc(const void *a, const void *b)
{
    const keyed *x = a, *z = b;
    if (x->v != z->v)
        return (x->v > z->v) - (x->v < z->v);
    return (x->i > z->i) - (x->i < z->i);
}

static int double_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, z = *(const double *)b;
    return (x > z) - (x < z);
}

/* Binary position flags. */
enum {
    F_POSITIVE = 1, /* the label is 1 */
    F_RUN_END = 2,  /* the last position of a run of equal scores */
    F_PREDICT = 4   /* the score is at or above the threshold */
};

/*
 * One model's prepared sample. "By position" arrays follow the side's sort
 * order (descending score for binary, ascending prediction for regression);
 * "by row" arrays the sample's rows 0..m-1, which the counts index.
 */
typedef struct side {
    double *s;           /* scores by row (multiclass: m x k) */
    uint32_t *order;     /* row by position */
    /* binary, by position */
    uint8_t *flags;      /* F_* */
    uint8_t *bin;        /* the ECE bin */
    double *bl, *bp;     /* log-loss term, score */
    /* regression */
    uint32_t *pend;      /* ends of the runs of equal prediction */
    size_t npg;
    double *d2, *ad, *ape; /* by row: (y - pred)^2, |y - pred|, |y - pred| / |y| */
    /* multiclass, by row */
    uint32_t *cls;       /* argmax */
    uint8_t *correct;    /* argmax == label */
    double *loss;        /* log-loss term */
} side;

typedef struct work {
    const cairn_compare_input *in;
    cairn_task task;
    size_t n, k, n_boot;
    int nt;
    size_t nm;
    uint8_t slot[CAIRN_EVAL_MAX_METRICS];
    bool higher[CAIRN_EVAL_MAX_METRICS];
    bool has_mape;

    /* The sample's labels, gathered in row order. */
    uint8_t *y8;
    double *yd;
    uint32_t *y32;
    /* regression: the label order, shared by both sides */
    uint32_t *yorder, *yend;
    size_t nyg;
    double *yv;

    keyed *kb;           /* sort scratch */
    side sd[2];          /* 0: candidate, 1: production */

    size_t batch;        /* resamples drawn per batch */
    uint32_t *cnt;       /* batch x n counts */
    double *ra, *rb;     /* nt x n rank scratch (regression) */
    uint64_t *cc;        /* nt x 3k counters (multiclass) */
    double *gains;       /* n_boot x nm */
    double *sorted;      /* n_boot */
} work;

static void side_free(side *S)
{
    void *ptrs[] = {S->s,  S->order, S->flags, S->bin, S->bl,  S->bp,      S->pend,
                    S->d2, S->ad,    S->ape,   S->cls, S->correct, S->loss};
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(ptrs); i++)
        cairn_free(ptrs[i]);
}

static void work_free(work *W)
{
    void *ptrs[] = {W->y8, W->yd,  W->y32, W->yorder, W->yend, W->yv,    W->kb,
                    W->cnt, W->ra, W->rb,  W->cc,     W->gains, W->sorted};
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(ptrs); i++)
        cairn_free(ptrs[i]);
    side_free(&W->sd[0]);
    side_free(&W->sd[1]);
    memset(W, 0, sizeof *W);
}

/* Allocates count x size bytes into *p (a pointer to a pointer); false on overflow or failure. */
static bool alloc_array(void *p, size_t count, size_t size)
{
    size_t bytes;
    void *q = NULL;
    if (cairn_mul_size(count ? count : 1, size, &bytes))
        q = cairn_malloc(bytes);
    memcpy(p, &q, sizeof q);
    return q != NULL;
}

static bool side_alloc(side *S, cairn_task task, size_t n, size_t k)
{
    size_t nk;
    switch (task) {
    case CAIRN_TASK_BINARY:
        return alloc_array(&S->s, n, sizeof(double)) &&
               alloc_array(&S->order, n, sizeof(uint32_t)) && alloc_array(&S->flags, n, 1) &&
               alloc_array(&S->bin, n, 1) && alloc_array(&S->bl, n, sizeof(double)) &&
               alloc_array(&S->bp, n, sizeof(double));
    case CAIRN_TASK_REGRESSION:
        return alloc_array(&S->s, n, sizeof(double)) &&
               alloc_array(&S->order, n, sizeof(uint32_t)) &&
               alloc_array(&S->pend, n, sizeof(uint32_t)) &&
               alloc_array(&S->d2, n, sizeof(double)) && alloc_array(&S->ad, n, sizeof(double)) &&
               alloc_array(&S->ape, n, sizeof(double));
    case CAIRN_TASK_MULTICLASS:
        return cairn_mul_size(n, k, &nk) && alloc_array(&S->s, nk, sizeof(double)) &&
               alloc_array(&S->cls, n, sizeof(uint32_t)) && alloc_array(&S->correct, n, 1) &&
               alloc_array(&S->loss, n, sizeof(double));
    }
    return false;
}

static cairn_status work_alloc(work *W, cairn_error *err)
{
    size_t n = W->n, nt = (size_t)W->nt, bn, ntn, gains, k3;
    bool ok = cairn_mul_size(W->batch, n, &bn) && cairn_mul_size(nt, n, &ntn) &&
              cairn_mul_size(W->n_boot, W->nm, &gains) && alloc_array(&W->kb, n, sizeof(keyed)) &&
              side_alloc(&W->sd[0], W->task, n, W->k) && side_alloc(&W->sd[1], W->task, n, W->k);
    switch (W->task) {
    case CAIRN_TASK_BINARY:
        ok = ok && alloc_array(&W->y8, n, 1);
        break;
    case CAIRN_TASK_REGRESSION:
        ok = ok && alloc_array(&W->yd, n, sizeof(double)) &&
             alloc_array(&W->yorder, n, sizeof(uint32_t)) &&
             alloc_array(&W->yend, n, sizeof(uint32_t)) && alloc_array(&W->yv, n, sizeof(double));
        if (W->n_boot)
            ok = ok && alloc_array(&W->ra, ntn, sizeof(double)) &&
                 alloc_array(&W->rb, ntn, sizeof(double));
        break;
    case CAIRN_TASK_MULTICLASS:
        ok = ok && alloc_array(&W->y32, n, sizeof(uint32_t)) &&
             cairn_mul_size(nt * 3, W->k, &k3) && alloc_array(&W->cc, k3, sizeof(uint64_t));
        break;
    }
    if (W->n_boot)
        ok = ok && alloc_array(&W->cnt, bn, sizeof(uint32_t)) &&
             alloc_array(&W->gains, gains, sizeof(double)) &&
             alloc_array(&W->sorted, W->n_boot, sizeof(double));
    if (!ok)
        return cairn_error_set(err, CAIRN_ENOMEM, WHERE,
                               "cannot allocate the comparison of %zu rows x %zu resamples", n,
                               W->n_boot);
    return CAIRN_OK;
}

/* Copies rows[0..m) of the input (NULL: all rows in order) into the sample arrays. */
static void gather(work *W, const uint32_t *rows, size_t m)
{
    const cairn_compare_input *in = W->in;
    size_t k = W->k;
    for (size_t l = 0; l < m; l++) {
        size_t i = rows ? rows[l] : l;
        switch (W->task) {
        case CAIRN_TASK_BINARY:
            W->y8[l] = in->y[i] != 0;
            break;
        case CAIRN_TASK_REGRESSION:
            W->yd[l] = in->y[i];
            break;
        case CAIRN_TASK_MULTICLASS:
            W->y32[l] = (uint32_t)in->y[i];
            break;
        }
        memcpy(W->sd[0].s + l * k, in->candidate + i * k, k * sizeof(double));
        memcpy(W->sd[1].s + l * k, in->production + i * k, k * sizeof(double));
    }
}

/* ---- preparing a side ------------------------------------------------------------------ */

/* cairn_metric_ece's bin of p: how many inner edges i / 10 lie at or below it. */
static uint8_t ece_bin_of(double p)
{
    uint8_t b = 0;
    for (int i = 1; i < CAIRN_EVAL_ECE_BINS; i++)
        b = (uint8_t)(b + (p >= (double)i / (double)CAIRN_EVAL_ECE_BINS));
    return b;
}

/* Sorts by descending score and computes each row's terms (log loss by metrics.c's steps). */
static void prepare_binary(work *W, side *S, size_t m)
{
    double t = W->in->threshold;
    for (size_t l = 0; l < m; l++)
        W->kb[l] = (keyed){S->s[l], (uint32_t)l};
    qsort(W->kb, m, sizeof(keyed), keyed_desc);
    for (size_t j = 0; j < m; j++) {
        uint32_t l = W->kb[j].i;
        double p = W->kb[j].v;
        bool y = W->y8[l] != 0;
        uint8_t f = y ? F_POSITIVE : 0;
        if (j + 1 == m || W->kb[j + 1].v != p)
            f |= F_RUN_END;
        if (p >= t)
            f |= F_PREDICT;
        S->order[j] = l;
        S->flags[j] = f;
        S->bin[j] = ece_bin_of(p);
        double pc = p < LOGLOSS_EPS ? LOGLOSS_EPS : (p > 1.0 - LOGLOSS_EPS ? 1.0 - LOGLOSS_EPS : p);
        double q = 1.0 - pc, sum = q + pc;
        S->bl[j] = (double)-logl((long double)((y ? pc : q) / sum));
        S->bp[j] = p;
    }
}

/* Fills ends[] with the ends of the runs of equal v in kb[0..m); returns their count. */
static size_t tie_runs(const keyed *kb, size_t m, uint32_t *ends)
{
    size_t nr = 0;
    for (size_t j = 0; j < m; j++) {
        if (j > 0 && kb[j].v != kb[j - 1].v)
            nr++;
        ends[nr] = (uint32_t)(j + 1);
    }
    return m ? nr + 1 : 0;
}

static void prepare_regression(work *W, side *S, size_t m)
{
    for (size_t l = 0; l < m; l++) {
        double y = W->yd[l];
        long double d = (long double)y - S->s[l];
        S->d2[l] = (double)(d * d);
        S->ad[l] = (double)fabsl(d);
        S->ape[l] = W->has_mape ? (double)(fabsl(d) / fabsl((long double)y)) : 0.0;
        W->kb[l] = (keyed){S->s[l], (uint32_t)l};
    }
    qsort(W->kb, m, sizeof(keyed), keyed_asc);
    S->npg = tie_runs(W->kb, m, S->pend);
    for (size_t j = 0; j < m; j++)
        S->order[j] = W->kb[j].i;
}

/* The label order both regression sides share. */
static void prepare_labels(work *W, size_t m)
{
    for (size_t l = 0; l < m; l++)
        W->kb[l] = (keyed){W->yd[l], (uint32_t)l};
    qsort(W->kb, m, sizeof(keyed), keyed_asc);
    W->nyg = tie_runs(W->kb, m, W->yend);
    for (size_t q = 0; q < m; q++) {
        W->yorder[q] = W->kb[q].i;
        W->yv[q] = W->kb[q].v;
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

static void prepare_multiclass(work *W, side *S, size_t m)
{
    size_t k = W->k;
    for (size_t l = 0; l < m; l++) {
        const double *row = S->s + l * k;
        size_t c = argmax_row(row, k);
        S->cls[l] = (uint32_t)c;
        S->correct[l] = c == W->y32[l];
        /* metrics.c's steps: clip every entry, renormalise the row. */
        double row_sum = 0, mine = 0;
        for (size_t j = 0; j < k; j++) {
            double v = row[j];
            v = v < LOGLOSS_EPS ? LOGLOSS_EPS : (v > 1.0 - LOGLOSS_EPS ? 1.0 - LOGLOSS_EPS : v);
            row_sum += v;
            if (j == W->y32[l])
                mine = v;
        }
        S->loss[l] = (double)-logl((long double)(mine / row_sum));
    }
}

/* ---- one resample of one side ---------------------------------------------------------- */

/* F1 = 2tp / (2tp + fp + fn), 0 when undefined (metrics.c's zero_division=0). */
static double f1_of(uint64_t tp, uint64_t fp, uint64_t fn)
{
    uint64_t den = 2 * tp + fp + fn;
    return den ? (double)(2 * tp) / (double)den : 0.0;
}

/*
 * Every binary metric in one sweep over the positions by descending score.
 * At the end of each run of equal scores, with gp drawn positives and gn
 * drawn negatives in the run: the pairs it orders correctly are its
 * negatives below every positive seen so far, and its tied pairs count one
 * half (twice_pairs adds gn * (2 pos + gp)); average precision adds the
 * recall step gp / P times the precision at the run's end. The per-bin sums
 * of ECE and the confusion counts only need each row's weight.
 */
static void resample_binary(const side *S, size_t m, const uint32_t *cnt, double *v)
{
    const uint32_t *order = S->order;
    const uint8_t *fl = S->flags, *bin = S->bin;
    uint64_t bcnt[CAIRN_EVAL_ECE_BINS] = {0}, bpos[CAIRN_EVAL_ECE_BINS] = {0};
    double bpart[CAIRN_EVAL_ECE_BINS] = {0};
    long double bsum[CAIRN_EVAL_ECE_BINS] = {0}, ll = 0, br = 0, ap = 0;
    uint64_t pos = 0, neg = 0, twice_pairs = 0, gt = 0, gp = 0, tp = 0, fp = 0;
    double sl = 0, sq = 0, sa = 0;
    for (size_t j = 0; j < m; j++) {
        uint32_t w = cnt[order[j]];
        unsigned f = fl[j];
        if (w) {
            double wd = (double)w, p = S->bp[j], d = p - (double)(f & F_POSITIVE);
            uint64_t wp = (f & F_POSITIVE) ? w : 0;
            gt += w;
            gp += wp;
            sl += wd * S->bl[j];
            sq += wd * d * d;
            bcnt[bin[j]] += w;
            bpos[bin[j]] += wp;
            bpart[bin[j]] += wd * p;
            if (f & F_PREDICT) {
                tp += wp;
                fp += w - wp;
            }
        }
        if (f & F_RUN_END) {
            uint64_t gn = gt - gp;
            twice_pairs += gn * (2 * pos + gp);
            pos += gp;
            neg += gn;
            if (gp)
                sa += (double)gp * ((double)pos / (double)(pos + neg));
            gt = gp = 0;
        }
        if (j % SUM_BLOCK == SUM_BLOCK - 1) {
            ll += sl;
            br += sq;
            ap += sa;
            sl = sq = sa = 0;
            for (int b = 0; b < CAIRN_EVAL_ECE_BINS; b++) {
                bsum[b] += bpart[b];
                bpart[b] = 0;
            }
        }
    }
    ll += sl;
    br += sq;
    ap += sa;
    long double lm = (long double)m, ece = 0;
    for (int b = 0; b < CAIRN_EVAL_ECE_BINS; b++) {
        bsum[b] += bpart[b];
        if (!bcnt[b])
            continue;
        double mean_p = (double)(bsum[b] / (long double)bcnt[b]);
        double rate = (double)bpos[b] / (double)bcnt[b];
        ece += ((long double)bcnt[b] / lm) * fabsl((long double)mean_p - rate);
    }
    uint64_t fn = pos - tp, tn = neg - fp;
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
 * also returns the weighted sum of squares about mean.
 */
static long double drawn_ranks(const uint32_t *order, const uint32_t *ends, size_t n_runs,
                               const uint32_t *cnt, double *rank, const double *values,
                               long double mean)
{
    uint64_t c = 0;
    size_t j = 0;
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
        }
        if (g % SUM_BLOCK == SUM_BLOCK - 1) {
            ss += block;
            block = 0;
        }
        c += gw;
    }
    return ss + block;
}

/* The label side of a regression resample: its ranks (into rb) and sum of squares. */
static long double resample_labels(const work *W, size_t m, const uint32_t *cnt, double *rb,
                                   long double *sum_y)
{
    long double sy = 0;
    for (size_t lo = 0; lo < m; lo += SUM_BLOCK) {
        size_t end = m - lo > SUM_BLOCK ? lo + SUM_BLOCK : m;
        double by = 0;
        for (size_t l = lo; l < end; l++)
            by += (double)cnt[l] * W->yd[l];
        sy += by;
    }
    *sum_y = sy;
    return drawn_ranks(W->yorder, W->yend, W->nyg, cnt, rb, W->yv, sy / (long double)m);
}

/*
 * The regression metrics of one side; rb and ss_tot come from
 * resample_labels, ra is scratch. R2 is undefined when the drawn labels are
 * all equal (ss_tot 0, metrics.c's rule).
 */
static void resample_regression(const side *S, size_t m, const uint32_t *cnt, double *ra,
                                const double *rb, long double ss_tot, bool has_mape, double *v)
{
    long double lm = (long double)m, sd2 = 0, sad = 0, sape = 0;
    for (size_t lo = 0; lo < m; lo += SUM_BLOCK) {
        size_t end = m - lo > SUM_BLOCK ? lo + SUM_BLOCK : m;
        double b2 = 0, ba = 0, bp = 0;
        for (size_t l = lo; l < end; l++) {
            double w = cnt[l];
            b2 += w * S->d2[l];
            ba += w * S->ad[l];
            bp += w * S->ape[l];
        }
        sd2 += b2;
        sad += ba;
        sape += bp;
    }
    drawn_ranks(S->order, S->pend, S->npg, cnt, ra, NULL, 0);
    double mr = ((double)m + 1.0) / 2.0;
    long double sab = 0, saa = 0, sbb = 0;
    for (size_t lo = 0; lo < m; lo += SUM_BLOCK) {
        size_t end = m - lo > SUM_BLOCK ? lo + SUM_BLOCK : m;
        double bab = 0, baa = 0, bbb = 0;
        for (size_t l = lo; l < end; l++) {
            if (!cnt[l])
                continue;
            double w = cnt[l], da = ra[l] - mr, db = rb[l] - mr;
            bab += w * da * db;
            baa += w * da * da;
            bbb += w * db * db;
        }
        sab += bab;
        saa += baa;
        sbb += bbb;
    }
    v[R_RMSE] = (double)sqrtl(sd2 / lm);
    v[R_MAE] = (double)(sad / lm);
    v[R_R2] = ss_tot == 0 ? NAN : (double)(1.0L - sd2 / ss_tot);
    v[R_MAPE] = has_mape ? (double)(sape / lm) : NAN;
    double rho = NAN;
    if (m >= 2 && saa != 0 && sbb != 0) {
        rho = (double)(sab / sqrtl(saa * sbb));
        rho = rho > 1.0 ? 1.0 : (rho < -1.0 ? -1.0 : rho);
    }
    v[R_SPEARMAN] = rho;
}

static void resample_multiclass(const side *S, const uint32_t *y, size_t m, size_t k,
                                const uint32_t *cnt, uint64_t *cc, double *v)
{
    uint64_t *tp = cc, *fp = cc + k, *fn = cc + 2 * k, correct = 0;
    memset(cc, 0, 3 * k * sizeof *cc);
    long double ll = 0;
    double block = 0;
    for (size_t l = 0; l < m; l++) {
        uint32_t w = cnt[l];
        if (w) {
            uint32_t c = S->cls[l];
            if (S->correct[l]) {
                tp[c] += w;
                correct += w;
            } else {
                fp[c] += w;
                fn[y[l]] += w;
            }
            block += (double)w * S->loss[l];
        }
        if (l % SUM_BLOCK == SUM_BLOCK - 1) {
            ll += block;
            block = 0;
        }
    }
    ll += block;
    long double f1 = 0;
    for (size_t c = 0; c < k; c++)
        f1 += f1_of(tp[c], fp[c], fn[c]);
    v[M_ACCURACY] = (double)correct / (double)m;
    v[M_MACRO_F1] = (double)(f1 / (long double)k);
    v[M_LOGLOSS] = (double)(ll / (long double)m);
}

/* ---- one sample (all rows, or one slice group) ------------------------------------------ */

/* metrics.c's functions on one side's gathered rows. */
static void estimates(const work *W, const side *S, size_t m, double *est)
{
    const double *s = S->s;
    switch (W->task) {
    case CAIRN_TASK_BINARY: {
        cairn_binary_at at = cairn_metric_binary_at(s, W->y8, m, W->in->threshold);
        est[B_AUC] = cairn_metric_auc(s, W->y8, m);
        est[B_PR_AUC] = cairn_metric_pr_auc(s, W->y8, m);
        est[B_LOGLOSS] = cairn_metric_logloss(s, W->y8, m);
        est[B_BRIER] = cairn_metric_brier(s, W->y8, m);
        est[B_ECE] = cairn_metric_ece(s, W->y8, m, CAIRN_EVAL_ECE_BINS, NULL, NULL, NULL);
        est[B_ACCURACY] = at.accuracy;
        est[B_PRECISION] = at.precision;
        est[B_RECALL] = at.recall;
        est[B_F1] = at.f1;
        break;
    }
    case CAIRN_TASK_REGRESSION:
        est[R_RMSE] = cairn_metric_rmse(s, W->yd, m);
        est[R_MAE] = cairn_metric_mae(s, W->yd, m);
        est[R_R2] = cairn_metric_r2(s, W->yd, m);
        est[R_MAPE] = W->has_mape ? cairn_metric_mape(s, W->yd, m) : NAN;
        est[R_SPEARMAN] = cairn_metric_spearman(s, W->yd, m);
        break;
    case CAIRN_TASK_MULTICLASS:
        est[M_ACCURACY] = cairn_metric_mc_accuracy(s, W->y32, m, W->k);
        est[M_MACRO_F1] = cairn_metric_mc_macro_f1(s, W->y32, m, W->k);
        est[M_LOGLOSS] = cairn_metric_mc_logloss(s, W->y32, m, W->k);
        break;
    }
}

/* The candidate's improvement: NaN when either side is NaN. */
static double gain_of(bool higher_is_better, double cand, double prod)
{
    return higher_is_better ? cand - prod : prod - cand;
}

/*
 * Draws the next m indices of the stream, as cairn_rng_below(rng, m) draws
 * each (the same rejection cut, computed once), and counts them by row.
 */
static void draw_counts(cairn_rng *rng, uint32_t *cnt, size_t m)
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

/* The gains of every metric on one resample (thread t's scratch). */
static void resample_gains(const work *W, size_t m, const uint32_t *cnt, size_t t, double *g)
{
    double v[2][MAX_SLOTS];
    switch (W->task) {
    case CAIRN_TASK_BINARY:
        resample_binary(&W->sd[0], m, cnt, v[0]);
        resample_binary(&W->sd[1], m, cnt, v[1]);
        break;
    case CAIRN_TASK_REGRESSION: {
        double *ra = W->ra + t * W->n, *rb = W->rb + t * W->n;
        long double sy;
        long double ss_tot = resample_labels(W, m, cnt, rb, &sy);
        resample_regression(&W->sd[0], m, cnt, ra, rb, ss_tot, W->has_mape, v[0]);
        resample_regression(&W->sd[1], m, cnt, ra, rb, ss_tot, W->has_mape, v[1]);
        break;
    }
    case CAIRN_TASK_MULTICLASS: {
        uint64_t *cc = W->cc + t * 3 * W->k;
        resample_multiclass(&W->sd[0], W->y32, m, W->k, cnt, cc, v[0]);
        resample_multiclass(&W->sd[1], W->y32, m, W->k, cnt, cc, v[1]);
        break;
    }
    }
    for (size_t i = 0; i < W->nm; i++)
        g[i] = gain_of(W->higher[i], v[0][W->slot[i]], v[1][W->slot[i]]);
}

/* All n_boot resamples of the prepared m-row sample from one stream; gains to W->gains. */
static void run_resamples(work *W, size_t m, uint64_t seed)
{
    cairn_rng rng;
    size_t nb = W->n_boot, nm = W->nm;
    cairn_rng_init(&rng, seed);
    for (size_t b0 = 0; b0 < nb; b0 += W->batch) {
        size_t nbatch = nb - b0 < W->batch ? nb - b0 : W->batch;
        /* The stream is sequential: draw the batch on this thread, in order. */
        for (size_t j = 0; j < nbatch; j++)
            draw_counts(&rng, W->cnt + j * W->n, m);
        bool par = W->nt > 1 && nbatch > 1 && (uint64_t)m * nbatch >= PARALLEL_MIN_WORK;
        const work *C = W;
#pragma omp parallel for num_threads(W->nt) schedule(dynamic, 1) if (par)
        for (size_t j = 0; j < nbatch; j++) {
            size_t t = (size_t)omp_get_thread_num();
            resample_gains(C, m, C->cnt + j * C->n, t, C->gains + (b0 + j) * nm);
        }
    }
}

/* Compares the m gathered rows: estimates and intervals of every metric into out[0..nm). */
static void compare_sample(work *W, size_t m, uint64_t seed, cairn_compare_metric *out)
{
    double est[2][MAX_SLOTS];
    const char *const *names = names_of(W->task);
    estimates(W, &W->sd[0], m, est[0]);
    estimates(W, &W->sd[1], m, est[1]);
    for (size_t i = 0; i < W->nm; i++) {
        double c = est[0][W->slot[i]], p = est[1][W->slot[i]], g = gain_of(W->higher[i], c, p);
        memset(&out[i], 0, sizeof out[i]);
        snprintf(out[i].name, sizeof out[i].name, "%s", names[W->slot[i]]);
        out[i].candidate = c;
        out[i].production = p;
        /* No resamples: the interval collapses onto the estimate. */
        out[i].gain = (cairn_interval){.estimate = g, .lo = g, .hi = g, .n_valid = 0};
    }
    if (W->n_boot == 0)
        return;
    for (int s = 0; s < 2; s++) {
        switch (W->task) {
        case CAIRN_TASK_BINARY: prepare_binary(W, &W->sd[s], m); break;
        case CAIRN_TASK_REGRESSION: prepare_regression(W, &W->sd[s], m); break;
        case CAIRN_TASK_MULTICLASS: prepare_multiclass(W, &W->sd[s], m); break;
        }
    }
    if (W->task == CAIRN_TASK_REGRESSION)
        prepare_labels(W, m);
    run_resamples(W, m, seed);
    for (size_t i = 0; i < W->nm; i++) {
        size_t nv = 0;
        for (size_t b = 0; b < W->n_boot; b++) {
            double x = W->gains[b * W->nm + i];
            if (!isnan(x))
                W->sorted[nv++] = x;
        }
        out[i].gain.n_valid = nv;
        out[i].gain.lo = out[i].gain.hi = NAN;
        if (nv == 0)
            continue;
        qsort(W->sorted, nv, sizeof(double), double_cmp);
        out[i].gain.lo = cairn_percentile_sorted(W->sorted, nv, 2.5);
        out[i].gain.hi = cairn_percentile_sorted(W->sorted, nv, 97.5);
    }
}

/* ---- validation ------------------------------------------------------------------------ */

static cairn_status check_scores(const double *s, const char *which, size_t nk, size_t k,
                                 bool multiclass, cairn_error *err)
{
    for (size_t i = 0; i < nk; i++)
        if (!isfinite(s[i])) {
            if (multiclass)
                return cairn_error_set(err, CAIRN_EINVAL, WHERE,
                                       "%s score of row %zu, class %zu is %g (not a finite "
                                       "number)",
                                       which, i / k, i % k, s[i]);
            return cairn_error_set(err, CAIRN_EINVAL, WHERE,
                                   "%s score of row %zu is %g (not a finite number)", which, i,
                                   s[i]);
        }
    return CAIRN_OK;
}

static cairn_status validate(const cairn_compare_input *in, cairn_error *err)
{
    size_t n = in->n, k = in->n_classes, nk;
    cairn_status st;
    bool mc = in->task == CAIRN_TASK_MULTICLASS;
    if (in->task != CAIRN_TASK_BINARY && in->task != CAIRN_TASK_REGRESSION && !mc)
        return cairn_error_set(err, CAIRN_EINVAL, WHERE, "unknown task %d", (int)in->task);
    if (n == 0)
        return cairn_error_set(err, CAIRN_EINVAL, WHERE, "no rows to compare on");
    if (n > UINT32_MAX)
        return cairn_error_set(err, CAIRN_EINVAL, WHERE,
                               "%zu rows to compare on; at most %" PRIu32 " are supported", n,
                               UINT32_MAX);
    if (!in->y || !in->candidate || !in->production)
        return cairn_error_set(err, CAIRN_EINVAL, WHERE,
                               "labels, candidate and production scores are required");
    if (mc) {
        if (k < 2)
            return cairn_error_set(err, CAIRN_EINVAL, WHERE,
                                   "a multiclass comparison needs n_classes >= 2 (got %zu)", k);
        if (k > UINT32_MAX || !cairn_mul_size(n, k, &nk))
            return cairn_error_set(err, CAIRN_EINVAL, WHERE, "%zu rows x %zu classes is too large",
                                   n, k);
    } else {
        nk = n;
    }
    if (in->task == CAIRN_TASK_BINARY && isnan(in->threshold))
        return cairn_error_set(err, CAIRN_EINVAL, WHERE, "the decision threshold is NaN");
    if ((st = check_scores(in->candidate, "candidate", nk, k, mc, err)) ||
        (st = check_scores(in->production, "production", nk, k, mc, err)))
        return st;
    for (size_t i = 0; i < n; i++) {
        double y = in->y[i];
        bool ok = in->task == CAIRN_TASK_BINARY       ? (y == 0 || y == 1)
                  : in->task == CAIRN_TASK_REGRESSION ? isfinite(y)
                                                      : (y >= 0 && y < (double)k && y == floor(y));
        if (!ok)
            return cairn_error_set(err, CAIRN_EINVAL, WHERE,
                                   "label of row %zu is %g; the %s task needs %s", i, y,
                                   cairn_task_name(in->task),
                                   in->task == CAIRN_TASK_BINARY       ? "0 or 1"
                                   : in->task == CAIRN_TASK_REGRESSION ? "a finite number"
                                                                       : "a class index in [0, k)");
    }
    if (in->n_slices && !in->slices)
        return cairn_error_set(err, CAIRN_EINVAL, WHERE, "%zu slice columns but no slices",
                               in->n_slices);
    for (size_t c = 0; c < in->n_slices; c++) {
        const cairn_eval_slice_input *sl = &in->slices[c];
        if (!sl->column)
            return cairn_error_set(err, CAIRN_EINVAL, WHERE, "slice %zu has no column name", c);
        if (!sl->group || (sl->n_groups && !sl->group_names) || sl->n_groups == SIZE_MAX)
            return cairn_error_set(err, CAIRN_EINVAL, WHERE,
                                   "slice column '%s' has no group ids or no group names",
                                   sl->column);
        for (size_t g = 0; g < sl->n_groups; g++)
            if (!sl->group_names[g])
                return cairn_error_set(err, CAIRN_EINVAL, WHERE,
                                       "slice column '%s': the name of group %zu is NULL",
                                       sl->column, g);
        for (size_t i = 0; i < n; i++)
            if (sl->group[i] >= sl->n_groups)
                return cairn_error_set(err, CAIRN_EINVAL, WHERE,
                                       "slice column '%s': row %zu has group id %" PRIu32
                                       ", out of range (%zu groups)",
                                       sl->column, i, sl->group[i], sl->n_groups);
    }
    return CAIRN_OK;
}

/* ---- the comparison ---------------------------------------------------------------------- */

/* splitmix64's output for a state of x: a bijective 64-bit mixer. */
static uint64_t mix64(uint64_t x)
{
    return cairn_splitmix64(&x);
}

/* The stream seed of group g of slice column c (the rule compare.h states). */
static uint64_t group_seed(uint64_t seed, size_t c, size_t g)
{
    uint64_t stream = ((uint64_t)(c + 1) << 32) | (uint64_t)g;
    return mix64(mix64(mix64(seed) ^ stream));
}

/* Every non-empty group of slice column c, appended to r->slices. */
static cairn_status compare_slice_column(work *W, size_t c, size_t primary,
                                         cairn_compare_result *r, cairn_error *err)
{
    const cairn_compare_input *in = W->in;
    const cairn_eval_slice_input *sl = &in->slices[c];
    size_t n = in->n;
    cairn_status st = CAIRN_OK;
    size_t *start = NULL; /* n_groups + 1 offsets into rows */
    uint32_t *rows = NULL;
    cairn_compare_metric all[CAIRN_EVAL_MAX_METRICS];
    size_t used = 0;
    if ((st = cairn_eval_group_rows(sl, n, &rows, &start, &used, err)) != CAIRN_OK)
        goto done;
    cairn_compare_slice *grown = cairn_reallocarray(r->slices, r->n_slices + used + 1,
                                                    sizeof(cairn_compare_slice));
    if (!grown) {
        st = cairn_error_set(err, CAIRN_ENOMEM, WHERE, "cannot allocate %zu slices",
                             r->n_slices + used);
        goto done;
    }
    r->slices = grown;
    for (size_t g = 0; g < sl->n_groups; g++) {
        size_t m = start[g + 1] - start[g];
        if (m == 0)
            continue;
        cairn_compare_slice *out = &r->slices[r->n_slices];
        memset(out, 0, sizeof *out);
        out->column = cairn_strdup(sl->column);
        out->value = cairn_strdup(sl->group_names[g]);
        r->n_slices++; /* counted now so that reset frees the copies */
        if (!out->column || !out->value) {
            st = cairn_error_set(err, CAIRN_ENOMEM, WHERE, "cannot copy the names of slice %s",
                                 sl->column);
            goto done;
        }
        gather(W, rows + start[g], m);
        compare_sample(W, m, group_seed(in->seed, c, g), all);
        out->n = m;
        size_t pos = 0;
        for (size_t l = 0; in->task == CAIRN_TASK_BINARY && l < m; l++)
            pos += W->y8[l] != 0;
        out->small = cairn_eval_slice_small(in->task, m, pos, in->small_slice);
        out->metric = all[primary];
        /* NaN hi (undefined on the group) never counts as a regression. */
        out->regressed = !out->small && out->metric.gain.hi < 0;
    }
done:
    cairn_free(start);
    cairn_free(rows);
    return st;
}

cairn_status cairn_compare(const cairn_compare_input *in, cairn_compare_result *out,
                           cairn_error *err)
{
    cairn_status st;
    cairn_compare_result r;
    work W;
    memset(&r, 0, sizeof r);
    memset(&W, 0, sizeof W);
    if (!in || !out)
        return cairn_error_set(err, CAIRN_EINVAL, WHERE, "input and output are required");
    if ((st = validate(in, err)))
        return st;

    W.in = in;
    W.task = in->task;
    W.n = in->n;
    W.k = in->task == CAIRN_TASK_MULTICLASS ? in->n_classes : 1;
    W.n_boot = in->n_boot;
    const char *const *names = names_of(in->task);
    size_t n_names = in->task == CAIRN_TASK_BINARY       ? B_SLOTS
                     : in->task == CAIRN_TASK_REGRESSION ? R_SLOTS
                                                         : M_SLOTS;
    if (in->task == CAIRN_TASK_REGRESSION) {
        /* As cairn_evaluate: MAPE only when no label is 0. */
        W.has_mape = true;
        for (size_t i = 0; i < in->n; i++)
            if (in->y[i] == 0)
                W.has_mape = false;
    }
    for (size_t i = 0; i < n_names; i++)
        if (in->task != CAIRN_TASK_REGRESSION || i != R_MAPE || W.has_mape) {
            W.higher[W.nm] = cairn_metric_higher_is_better(names[i]);
            W.slot[W.nm++] = (uint8_t)i;
        }
    const char *primary = in->primary ? in->primary : cairn_compare_primary(in->task);
    size_t pidx = W.nm;
    for (size_t i = 0; i < W.nm; i++)
        if (strcmp(names[W.slot[i]], primary) == 0)
            pidx = i;
    if (pidx == W.nm)
        return cairn_error_set(err, CAIRN_EINVAL, WHERE,
                               "the primary metric '%s' is not a metric of this %s comparison",
                               primary, cairn_task_name(in->task));

    /* At most one thread per core (two at least, so the parallel path runs
     * anywhere); the result is the same for every count. */
    int nt = in->threads > 0 ? in->threads : omp_get_max_threads();
    int procs = omp_get_num_procs();
    if (nt > (procs > 2 ? procs : 2))
        nt = procs > 2 ? procs : 2;
    if ((size_t)nt > in->n_boot)
        nt = (int)(in->n_boot ? in->n_boot : 1);
    W.nt = nt < 1 ? 1 : nt;
    W.batch = (size_t)W.nt * BATCH_PER_THREAD;
    if (W.batch > in->n_boot)
        W.batch = in->n_boot ? in->n_boot : 1;
    if ((st = work_alloc(&W, err)))
        goto done;

    r.task = in->task;
    r.n = in->n;
    snprintf(r.primary, sizeof r.primary, "%s", primary);
    r.n_metrics = W.nm;
    gather(&W, NULL, in->n);
    compare_sample(&W, in->n, in->seed, r.metrics);
    for (size_t c = 0; c < in->n_slices; c++)
        if ((st = compare_slice_column(&W, c, pidx, &r, err)))
            goto done;
    *out = r;
done:
    work_free(&W);
    if (st)
        cairn_compare_result_reset(&r);
    return st;
}

void cairn_compare_result_reset(cairn_compare_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_slices; i++) {
        cairn_free(r->slices[i].column);
        cairn_free(r->slices[i].value);
    }
    cairn_free(r->slices);
    memset(r, 0, sizeof *r);
}

const cairn_compare_metric *cairn_compare_find(const cairn_compare_result *r, const char *name)
{
    if (!r || !name)
        return NULL;
    for (size_t i = 0; i < r->n_metrics && i < CAIRN_EVAL_MAX_METRICS; i++)
        if (strcmp(r->metrics[i].name, name) == 0)
            return &r->metrics[i];
    return NULL;
}

/* ---- JSON ---------------------------------------------------------------------------------- */

/* A number, or null for NaN and infinities (JSON has neither). */
static void put_num(cairn_buf *b, double v)
{
    if (isfinite(v))
        cairn_buf_put_double(b, v);
    else
        cairn_buf_puts(b, "null");
}

/* "candidate":C,"production":P,"gain":G,"lo":L,"hi":H (no braces). */
static void put_values(cairn_buf *b, const cairn_compare_metric *m)
{
    cairn_buf_puts(b, "\"candidate\":");
    put_num(b, m->candidate);
    cairn_buf_puts(b, ",\"production\":");
    put_num(b, m->production);
    cairn_buf_puts(b, ",\"gain\":");
    put_num(b, m->gain.estimate);
    cairn_buf_puts(b, ",\"lo\":");
    put_num(b, m->gain.lo);
    cairn_buf_puts(b, ",\"hi\":");
    put_num(b, m->gain.hi);
}

void cairn_compare_result_to_json(const cairn_compare_result *r, cairn_buf *b)
{
    const char *task = cairn_task_name(r->task);
    cairn_buf_puts(b, "{\"task\":");
    cairn_buf_put_json_string(b, task, strlen(task));
    cairn_buf_printf(b, ",\"n\":%zu,\"primary\":", r->n);
    cairn_buf_put_json_string(b, r->primary, strnlen(r->primary, sizeof r->primary));
    cairn_buf_puts(b, ",\"metrics\":{");
    for (size_t i = 0; i < r->n_metrics && i < CAIRN_EVAL_MAX_METRICS; i++) {
        const cairn_compare_metric *m = &r->metrics[i];
        if (i)
            cairn_buf_putc(b, ',');
        cairn_buf_put_json_string(b, m->name, strnlen(m->name, sizeof m->name));
        cairn_buf_puts(b, ":{");
        put_values(b, m);
        cairn_buf_putc(b, '}');
    }
    cairn_buf_puts(b, "},\"slices\":[");
    for (size_t i = 0; i < r->n_slices; i++) {
        const cairn_compare_slice *s = &r->slices[i];
        const char *col = s->column ? s->column : "", *val = s->value ? s->value : "";
        cairn_buf_puts(b, i ? ",{\"column\":" : "{\"column\":");
        cairn_buf_put_json_string(b, col, strlen(col));
        cairn_buf_puts(b, ",\"value\":");
        cairn_buf_put_json_string(b, val, strlen(val));
        cairn_buf_printf(b, ",\"n\":%zu,\"small\":%s,\"metric\":", s->n,
                         s->small ? "true" : "false");
        cairn_buf_put_json_string(b, s->metric.name, strnlen(s->metric.name, sizeof s->metric.name));
        cairn_buf_putc(b, ',');
        put_values(b, &s->metric);
        cairn_buf_printf(b, ",\"regressed\":%s}", s->regressed ? "true" : "false");
    }
    cairn_buf_puts(b, "]}");
}
