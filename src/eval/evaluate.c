/*
 * evaluate.c -- the training pipeline's evaluate stage: every metric of the
 * task with its percentile bootstrap interval, the binary confusion counts and
 * reliability table, the same per slice, the JSON form of the result, and the
 * least-cost decision threshold.
 *
 * Estimates are the metric functions of metrics.c applied to the rows, so they
 * equal them exactly. The bootstrap does not gather and re-sort each resample
 * (far too slow for 200,000 rows x 1,000 resamples): it turns a resample's
 * drawn indices into per-row counts and evaluates every metric in O(n) passes
 * of weighted sums over rows sorted once (by score for the binary metrics, by
 * prediction and by label for Spearman's ranks). A row drawn w times
 * contributes w times, which is what the metric of the gathered rows computes;
 * counts are integers and only the order of floating-point additions differs,
 * so the values agree with metrics.c's on the gathered rows to about 1e-15
 * (the unit test replays resamples and compares to 1e-12).
 *
 * Resample b of a stream has its own generator, cairn_rng_init(rng,
 * resample_seed(seed, stream, b)), and draws its m indices as cairn_bootstrap
 * does (cairn_rng_below(rng, m) each). The streams: 0 for all the evaluated
 * rows, (c + 1) * 2^32 + g for group g of slice column c (indices into the
 * group's rows in row order). No two resamples share a stream, so threads can
 * take them in any order and the result depends on the seed alone.
 * docs/metrics.md states the rule; tests/unit/test_evaluate.c replays it
 * through the plain metrics.
 */
#include "eval/eval.h"

#include <inttypes.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WHERE "cairn_evaluate"

/* sklearn's log_loss eps as metrics.c uses it. */
#define LOGLOSS_EPS 1e-15

/* Resample loops smaller than this (rows x resamples) run on one thread. */
#define PARALLEL_MIN_WORK 65536u

/* ---- metric tables ----------------------------------------------------------------- */

/* Slots: where each task's resample pass leaves a metric's value. */
enum { B_AUC, B_PR_AUC, B_LOGLOSS, B_BRIER, B_ECE, B_ACCURACY, B_PRECISION, B_RECALL, B_F1,
       B_SLOTS };
enum { R_RMSE, R_MAE, R_R2, R_MAPE, R_SPEARMAN, R_SLOTS };
enum { M_ACCURACY, M_MACRO_F1, M_LOGLOSS, M_SLOTS };
#define MAX_SLOTS B_SLOTS

static const char *const binary_names[B_SLOTS] = {
    "auc", "pr_auc", "logloss", "brier", "ece", "accuracy", "precision", "recall", "f1"};
static const char *const regression_names[R_SLOTS] = {"rmse", "mae", "r2", "mape", "spearman"};
static const char *const multiclass_names[M_SLOTS] = {"accuracy", "macro_f1", "logloss"};

bool cairn_metric_higher_is_better(const char *name)
{
    static const char *const lower[] = {"logloss", "brier", "ece", "rmse", "mae", "mape"};
    if (!name)
        return true;
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(lower); i++)
        if (strcmp(name, lower[i]) == 0)
            return false;
    return true;
}

/* ---- prepared samples -------------------------------------------------------------- */

/* A value with its local row, for the one-off sorts. */
typedef struct keyed {
    double v;
    uint32_t i;
} keyed;

/* Descending by value, then ascending by row (a total order: qsort is not stable). */
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

/*
 * The evaluation's working memory, sized for all n rows once and reused by
 * the overall sample and every slice group (a sample of m <= n rows).
 * "By row" arrays are indexed by the sample's row (0..m-1, the order the
 * resample indices refer to), "by position" arrays by rank in a sort order.
 */
typedef struct work {
    const cairn_eval_input *in;
    size_t n, k;                /* rows, classes (multiclass) */
    size_t n_boot;
    int nt;                     /* threads */
    size_t nm;                  /* metrics */
    uint8_t slot[CAIRN_EVAL_MAX_METRICS];
    bool has_mape;

    /* The sample, gathered in row order: m rows. */
    double *s;                  /* scores (multiclass: m x k) */
    uint8_t *y8;                /* binary labels */
    double *yd;                 /* regression labels */
    uint32_t *y32;              /* multiclass labels */

    /* The prepared sample. */
    keyed *kb;                  /* sort scratch */
    uint32_t *order;            /* row by position: descending score / ascending prediction */
    uint8_t *flags;             /* binary by position: F_* */
    double *bl, *bp;            /* binary by position: log-loss term, score */
    uint8_t bin_seq[CAIRN_EVAL_ECE_BINS]; /* binary: the non-empty ECE bins in position order */
    uint32_t *yorder;           /* regression: row at each position by ascending label */
    uint32_t *pend, *yend;      /* regression: ends of the runs of equal prediction / label */
    size_t npg, nyg;
    double *yv;                 /* regression by label position: label */
    double *d2, *ad, *ape;      /* regression by row: (y - pred)^2, |y - pred|, |y - pred| / |y| */
    uint8_t *correct;           /* multiclass by row: argmax == label */
    uint32_t *cls;              /* multiclass by row: argmax */
    double *loss;               /* multiclass by row: log-loss term */

    /* Per thread, n each: counts by row, regression ranks by row;
     * multiclass: 3k counters. */
    uint32_t *cnt;
    double *ra, *rb;
    uint64_t *cc;

    double *vals;               /* n_boot x nm resample values */
    double *sorted;             /* n_boot */
} work;

static void work_free(work *W)
{
    void *ptrs[] = {W->s,  W->y8,   W->yd,   W->y32,    W->kb,  W->order, W->flags,
                    W->bl, W->bp,   W->yorder, W->pend, W->yend, W->yv,   W->d2,
                    W->ad, W->ape,  W->correct, W->cls, W->loss, W->cnt,  W->ra,
                    W->rb, W->cc,   W->vals, W->sorted};
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(ptrs); i++)
        cairn_free(ptrs[i]);
    memset(W, 0, sizeof *W);
}

/* Allocates count x size bytes into *p (a pointer to a pointer); false on overflow or failure. */
static bool alloc_array(void *p, size_t count, size_t size)
{
    size_t bytes;
    if (!cairn_mul_size(count ? count : 1, size, &bytes))
        return false;
    void *q = cairn_malloc(bytes);
    memcpy(p, &q, sizeof q);
    return q != NULL;
}

static cairn_status work_alloc(work *W, cairn_error *err)
{
    size_t n = W->n, nt = (size_t)W->nt, ntn, vals;
    bool ok = cairn_mul_size(nt, n, &ntn) && cairn_mul_size(W->n_boot, W->nm, &vals) &&
              alloc_array(&W->kb, n, sizeof(keyed)) && alloc_array(&W->cnt, ntn, sizeof(uint32_t));
    switch (W->in->task) {
    case CAIRN_TASK_BINARY:
        ok = ok && alloc_array(&W->s, n, sizeof(double)) && alloc_array(&W->y8, n, 1) &&
             alloc_array(&W->order, n, sizeof(uint32_t)) && alloc_array(&W->flags, n, 1) &&
             alloc_array(&W->bl, n, sizeof(double)) && alloc_array(&W->bp, n, sizeof(double));
        break;
    case CAIRN_TASK_REGRESSION:
        ok = ok && alloc_array(&W->s, n, sizeof(double)) &&
             alloc_array(&W->yd, n, sizeof(double)) &&
             alloc_array(&W->order, n, sizeof(uint32_t)) &&
             alloc_array(&W->yorder, n, sizeof(uint32_t)) &&
             alloc_array(&W->pend, n, sizeof(uint32_t)) &&
             alloc_array(&W->yend, n, sizeof(uint32_t)) &&
             alloc_array(&W->yv, n, sizeof(double)) &&
             alloc_array(&W->d2, n, sizeof(double)) && alloc_array(&W->ad, n, sizeof(double)) &&
             alloc_array(&W->ape, n, sizeof(double)) && alloc_array(&W->ra, ntn, sizeof(double)) &&
             alloc_array(&W->rb, ntn, sizeof(double));
        break;
    case CAIRN_TASK_MULTICLASS: {
        size_t nk, k3;
        ok = ok && cairn_mul_size(n, W->k, &nk) && cairn_mul_size(nt * 3, W->k, &k3) &&
             alloc_array(&W->s, nk, sizeof(double)) &&
             alloc_array(&W->y32, n, sizeof(uint32_t)) && alloc_array(&W->correct, n, 1) &&
             alloc_array(&W->cls, n, sizeof(uint32_t)) &&
             alloc_array(&W->loss, n, sizeof(double)) && alloc_array(&W->cc, k3, sizeof(uint64_t));
        break;
    }
    }
    ok = ok && alloc_array(&W->vals, vals, sizeof(double)) &&
         alloc_array(&W->sorted, W->n_boot, sizeof(double));
    if (!ok)
        return cairn_error_set(err, CAIRN_ENOMEM, WHERE,
                               "cannot allocate the evaluation of %zu rows x %zu resamples", n,
                               W->n_boot);
    return CAIRN_OK;
}

/*
 * The ECE bin of p as cairn_metric_ece assigns it: the number of inner edges
 * i / n_bins (i = 1..n_bins-1, as doubles) at or below p. Scores below 0 go
 * to the first bin, 1 and above to the last.
 */
static uint8_t ece_bin_of(double p)
{
    uint8_t b = 0;
    for (int i = 1; i < CAIRN_EVAL_ECE_BINS; i++)
        b += p >= (double)i / (double)CAIRN_EVAL_ECE_BINS;
    return b;
}

/* Binary position flags. */
enum {
    F_POSITIVE = 1,     /* the label is 1 */
    F_RUN_END = 2,      /* the last position of a run of equal scores */
    F_PRED_END = 4,     /* the last position predicted 1 (score >= threshold) */
    F_BIN_END = 8       /* the last position of an ECE bin */
};

/*
 * Sorts the sample by descending score once. Every term a row adds to a
 * metric depends on its score and label only, so they are computed here
 * (log loss exactly by metrics.c's steps) and each resample only weights them.
 * The rows predicted 1 and the rows of each ECE bin are runs of positions
 * ending with a run of equal scores, because both depend on the score alone,
 * monotonically.
 */
static void prepare_binary(work *W, size_t m)
{
    double t = W->in->threshold;
    size_t n_bins = 0;
    for (size_t l = 0; l < m; l++)
        W->kb[l] = (keyed){W->s[l], (uint32_t)l};
    qsort(W->kb, m, sizeof(keyed), keyed_desc);
    for (size_t j = 0; j < m; j++) {
        uint32_t l = W->kb[j].i;
        double p = W->kb[j].v;
        bool y = W->y8[l] != 0;
        uint8_t bin = ece_bin_of(p);
        uint8_t f = y ? F_POSITIVE : 0;
        if (j + 1 == m || W->kb[j + 1].v != p) {
            double next = j + 1 < m ? W->kb[j + 1].v : -INFINITY;
            f |= F_RUN_END;
            if (p >= t && !(next >= t))
                f |= F_PRED_END;
            if (j + 1 == m || ece_bin_of(next) != bin) {
                f |= F_BIN_END;
                W->bin_seq[n_bins++] = bin;
            }
        }
        W->order[j] = l;
        W->flags[j] = f;
        /* metrics.c's log-loss steps: clip, renormalise [1 - p, p]. */
        double pc = p < LOGLOSS_EPS ? LOGLOSS_EPS : (p > 1.0 - LOGLOSS_EPS ? 1.0 - LOGLOSS_EPS : p);
        double q = 1.0 - pc, sum = q + pc;
        W->bl[j] = (double)-logl((long double)((y ? pc : q) / sum));
        W->bp[j] = p;
    }
}

/* Fills ends[] with the ends of the runs of equal v in kb[0..m); returns their count. */
static size_t tie_groups(const keyed *kb, size_t m, uint32_t *ends)
{
    size_t ng = 0;
    for (size_t j = 0; j < m; j++) {
        if (j > 0 && kb[j].v != kb[j - 1].v)
            ng++;
        ends[ng] = (uint32_t)(j + 1);
    }
    return m ? ng + 1 : 0;
}

static void prepare_regression(work *W, size_t m)
{
    for (size_t l = 0; l < m; l++) {
        double y = W->yd[l];
        long double d = (long double)y - W->s[l];
        W->d2[l] = (double)(d * d);
        W->ad[l] = (double)fabsl(d);
        W->ape[l] = W->has_mape ? (double)(fabsl(d) / fabsl((long double)y)) : 0.0;
        W->kb[l] = (keyed){W->s[l], (uint32_t)l};
    }
    qsort(W->kb, m, sizeof(keyed), keyed_asc);
    W->npg = tie_groups(W->kb, m, W->pend);
    for (size_t j = 0; j < m; j++)
        W->order[j] = W->kb[j].i;
    for (size_t l = 0; l < m; l++)
        W->kb[l] = (keyed){W->yd[l], (uint32_t)l};
    qsort(W->kb, m, sizeof(keyed), keyed_asc);
    W->nyg = tie_groups(W->kb, m, W->yend);
    for (size_t q = 0; q < m; q++) {
        W->yorder[q] = W->kb[q].i;
        W->yv[q] = W->kb[q].v;
    }
}

/* numpy's argmax of one row (first maximum); rows hold no NaN (validated). */
static size_t argmax_row(const double *row, size_t k)
{
    size_t best = 0;
    for (size_t j = 1; j < k; j++)
        if (row[j] > row[best])
            best = j;
    return best;
}

static void prepare_multiclass(work *W, size_t m)
{
    size_t k = W->k;
    for (size_t l = 0; l < m; l++) {
        const double *row = W->s + l * k;
        size_t c = argmax_row(row, k);
        W->cls[l] = (uint32_t)c;
        W->correct[l] = c == W->y32[l];
        /* metrics.c's multiclass log-loss steps: clip, renormalise the row. */
        double row_sum = 0, mine = 0;
        for (size_t j = 0; j < k; j++) {
            double v = row[j];
            v = v < LOGLOSS_EPS ? LOGLOSS_EPS : (v > 1.0 - LOGLOSS_EPS ? 1.0 - LOGLOSS_EPS : v);
            row_sum += v;
            if (j == W->y32[l])
                mine = v;
        }
        W->loss[l] = (double)-logl((long double)(mine / row_sum));
    }
}

/* ---- one resample ------------------------------------------------------------------ */

/* A 64-bit mixer: the output of splitmix64 from state x (a bijection of x). */
static uint64_t mix64(uint64_t x)
{
    return cairn_splitmix64(&x);
}

/* The seed of resample b of a stream (the rule docs/metrics.md states). */
static uint64_t resample_seed(uint64_t seed, uint64_t stream, uint64_t b)
{
    return mix64(mix64(mix64(seed) ^ stream) ^ b);
}

/*
 * Draws m indices in [0, m) as cairn_bootstrap does and counts them by row.
 * This is cairn_rng_below(rng, m) with its rejection cut (2^64 mod m)
 * computed once instead of per draw: the same stream, the same indices.
 */
static void draw_counts(uint32_t *cnt, size_t m, uint64_t seed)
{
    cairn_rng rng;
    uint64_t bound = m, cut = (0 - bound) % bound;
    cairn_rng_init(&rng, seed);
    memset(cnt, 0, m * sizeof *cnt);
    for (size_t i = 0; i < m; i++) {
        uint64_t r;
        do
            r = cairn_rng_next(&rng);
        while (r < cut);
        cnt[r % bound]++;
    }
}

/* F1 = 2tp / (2tp + fp + fn), 0 when undefined: metrics.c's rule. */
static double f1_of(uint64_t tp, uint64_t fp, uint64_t fn)
{
    uint64_t den = 2 * tp + fp + fn;
    return den ? (double)(2 * tp) / (double)den : 0.0;
}

/* Rows per block of double sums, added up in long double (see resample_binary). */
#define SUM_BLOCK 1024

/*
 * Every binary metric of one resample in one sweep over the positions in
 * descending score order: metrics.c's running counts of AUC and average
 * precision over the runs of equal score, with each run's drawn positives gp
 * and negatives gn in place of its row counts; the confusion counts where the
 * predicted-1 prefix ends; the log-loss, squared-error and score sums (per
 * ECE bin for the last). These sums and average precision's run in double
 * over at most SUM_BLOCK rows, each block then added in long double, which
 * keeps the rounding near long double's at a fraction of its cost.
 */
static void resample_binary(const work *W, size_t m, const uint32_t *cnt, double *v)
{
    const uint32_t *order = W->order;
    const uint8_t *fl = W->flags;
    const double *bl = W->bl, *bp = W->bp;
    uint64_t bcnt[CAIRN_EVAL_ECE_BINS] = {0}, bpos[CAIRN_EVAL_ECE_BINS] = {0};
    long double bsum[CAIRN_EVAL_ECE_BINS] = {0}, ll = 0, br = 0, bs = 0, ap = 0;
    uint64_t pos = 0, neg = 0, twice_pairs = 0, gt = 0, gp = 0, tp = 0, fp = 0, bt = 0, bq = 0;
    double sl = 0, sq = 0, sp = 0, sa = 0;
    size_t cur = 0;
    for (size_t j = 0; j < m; j++) {
        uint32_t w = cnt[order[j]];
        unsigned f = fl[j];
        double wd = (double)w, p = bp[j], d = p - (double)(f & F_POSITIVE);
        gt += w;
        gp += (f & F_POSITIVE) ? w : 0;
        sl += wd * bl[j];
        sq += wd * d * d;
        sp += wd * p;
        if (f & F_RUN_END) {
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
                uint8_t b = W->bin_seq[cur++];
                bcnt[b] = bt;
                bpos[b] = bq;
                bsum[b] = bs + sp;
                bt = bq = 0;
                bs = 0;
                sp = 0;
            }
        }
        if (j % SUM_BLOCK == SUM_BLOCK - 1) {
            ll += sl;
            br += sq;
            bs += sp;
            ap += sa;
            sl = sq = sp = sa = 0;
        }
    }
    ll += sl;
    br += sq;
    ap += sa;
    uint64_t fn = pos - tp, tn = neg - fp;
    long double lm = (long double)m;
    v[B_AUC] = pos && neg ? (double)((long double)twice_pairs /
                                     (2.0L * (long double)pos * (long double)neg))
                          : NAN;
    v[B_PR_AUC] = pos ? (double)(ap / (long double)pos) : NAN;
    v[B_LOGLOSS] = (double)(ll / lm);
    v[B_BRIER] = (double)(br / lm);
    long double ece = 0;
    for (int b = 0; b < CAIRN_EVAL_ECE_BINS; b++) {
        if (!bcnt[b])
            continue;
        double mean_p = (double)(bsum[b] / (long double)bcnt[b]);
        double rate = (double)bpos[b] / (double)bcnt[b];
        ece += ((long double)bcnt[b] / lm) * fabsl((long double)mean_p - rate);
    }
    v[B_ECE] = (double)ece;
    v[B_ACCURACY] = (double)(tp + tn) / (double)m;
    v[B_PRECISION] = tp + fp ? (double)tp / (double)(tp + fp) : 0.0;
    v[B_RECALL] = tp + fn ? (double)tp / (double)(tp + fn) : 0.0;
    v[B_F1] = f1_of(tp, fp, fn);
}

/*
 * Average ranks of the drawn rows in one sort order: a run of equal values
 * of drawn weight gw after c drawn rows holds ranks c+1 .. c+gw, average
 * (2c + 1 + gw) / 2, which is what ranking the gathered rows gives (a row
 * drawn w times is w tied copies). Writes rank[row] for every row. With
 * values (the labels in the label order), also returns the weighted sum of
 * squares about mean and the smallest and largest drawn value.
 */
static long double drawn_ranks(const uint32_t *order, const uint32_t *ends, size_t n_runs,
                               const uint32_t *cnt, double *rank, const double *values,
                               long double mean, double *vmin, double *vmax)
{
    uint64_t c = 0;
    size_t j = 0;
    long double ss = 0;
    double block = 0;
    *vmin = *vmax = NAN;
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
            if (isnan(*vmin))
                *vmin = values[start];
            *vmax = values[start];
        }
        if (g % SUM_BLOCK == SUM_BLOCK - 1) {
            ss += block;
            block = 0;
        }
        c += gw;
    }
    return ss + block;
}

/*
 * The regression metrics of one resample (ra, rb: n-sized scratch). Sums
 * run in double over blocks of SUM_BLOCK rows, added up in long double.
 */
static void resample_regression(const work *W, size_t m, const uint32_t *cnt, double *ra,
                                double *rb, double *v)
{
    long double lm = (long double)m, sd2 = 0, sad = 0, sape = 0, sy = 0;
    for (size_t lo = 0; lo < m; lo += SUM_BLOCK) {
        size_t end = m - lo > SUM_BLOCK ? lo + SUM_BLOCK : m;
        double b2 = 0, ba = 0, bp = 0, by = 0;
        for (size_t l = lo; l < end; l++) {
            double w = cnt[l];
            b2 += w * W->d2[l];
            ba += w * W->ad[l];
            bp += w * W->ape[l];
            by += w * W->yd[l];
        }
        sd2 += b2;
        sad += ba;
        sape += bp;
        sy += by;
    }
    double ymin, ymax, unused;
    drawn_ranks(W->order, W->pend, W->npg, cnt, ra, NULL, 0, &unused, &unused);
    long double ss_tot =
        drawn_ranks(W->yorder, W->yend, W->nyg, cnt, rb, W->yv, sy / lm, &ymin, &ymax);
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
    v[R_RMSE] = (double)sqrtl(sd2 / lm);
    v[R_MAE] = (double)(sad / lm);
    /* Constant drawn labels: R2 is undefined (metrics.c's rule). */
    v[R_R2] = ymin == ymax || ss_tot == 0 ? NAN : (double)(1.0L - sd2 / ss_tot);
    v[R_MAPE] = (double)(sape / lm);
    double rho = NAN;
    if (m >= 2 && saa != 0 && sbb != 0) {
        rho = (double)(sab / sqrtl(saa * sbb));
        rho = rho > 1.0 ? 1.0 : (rho < -1.0 ? -1.0 : rho);
    }
    v[R_SPEARMAN] = rho;
}

static void resample_multiclass(const work *W, size_t m, const uint32_t *cnt, uint64_t *cc,
                                double *v)
{
    size_t k = W->k;
    uint64_t *tp = cc, *fp = cc + k, *fn = cc + 2 * k, correct = 0;
    memset(cc, 0, 3 * k * sizeof *cc);
    long double ll = 0;
    for (size_t l = 0; l < m; l++) {
        uint32_t w = cnt[l];
        if (!w)
            continue;
        uint32_t c = W->cls[l];
        if (W->correct[l]) {
            tp[c] += w;
            correct += w;
        } else {
            fp[c] += w;
            fn[W->y32[l]] += w;
        }
        ll += (long double)w * W->loss[l];
    }
    long double f1 = 0;
    for (size_t c = 0; c < k; c++)
        f1 += f1_of(tp[c], fp[c], fn[c]);
    v[M_ACCURACY] = (double)correct / (double)m;
    v[M_MACRO_F1] = (double)(f1 / (long double)k);
    v[M_LOGLOSS] = (double)(ll / (long double)m);
}

/* ---- one sample (all rows, or one slice group) ------------------------------------- */

/* The estimates: metrics.c's functions on the gathered rows. */
static void estimates(const work *W, size_t m, double *est, cairn_eval_result *top)
{
    const double *s = W->s;
    switch (W->in->task) {
    case CAIRN_TASK_BINARY: {
        const uint8_t *y = W->y8;
        est[B_AUC] = cairn_metric_auc(s, y, m);
        est[B_PR_AUC] = cairn_metric_pr_auc(s, y, m);
        est[B_LOGLOSS] = cairn_metric_logloss(s, y, m);
        est[B_BRIER] = cairn_metric_brier(s, y, m);
        est[B_ECE] = cairn_metric_ece(s, y, m, CAIRN_EVAL_ECE_BINS, top ? top->ece_count : NULL,
                                      top ? top->ece_mean_p : NULL, top ? top->ece_rate : NULL);
        cairn_binary_at at = cairn_metric_binary_at(s, y, m, W->in->threshold);
        est[B_ACCURACY] = at.accuracy;
        est[B_PRECISION] = at.precision;
        est[B_RECALL] = at.recall;
        est[B_F1] = at.f1;
        if (top)
            top->at = at;
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

/* Runs the n_boot resamples of the prepared sample; values go to W->vals[b * nm + k]. */
static void run_resamples(work *W, size_t m, uint64_t stream)
{
    size_t nb = W->n_boot, nm = W->nm, n = W->n;
    uint64_t seed = W->in->seed;
    uint64_t total = (uint64_t)m * (uint64_t)nb;
    bool par = W->nt > 1 && total >= PARALLEL_MIN_WORK;
    const work *C = W;
#pragma omp parallel for num_threads(W->nt) schedule(dynamic, 1) if (par)
    for (size_t b = 0; b < nb; b++) {
        size_t t = (size_t)omp_get_thread_num();
        uint32_t *cnt = C->cnt + t * n;
        double v[MAX_SLOTS];
        draw_counts(cnt, m, resample_seed(seed, stream, b));
        switch (C->in->task) {
        case CAIRN_TASK_BINARY:
            resample_binary(C, m, cnt, v);
            break;
        case CAIRN_TASK_REGRESSION:
            resample_regression(C, m, cnt, C->ra + t * n, C->rb + t * n, v);
            break;
        case CAIRN_TASK_MULTICLASS:
            resample_multiclass(C, m, cnt, C->cc + t * 3 * C->k, v);
            break;
        }
        for (size_t i = 0; i < nm; i++)
            C->vals[b * nm + i] = v[C->slot[i]];
    }
}

/* Evaluates the m gathered rows of W (estimates and intervals) into out[0..nm). */
static void eval_sample(work *W, size_t m, uint64_t stream, cairn_eval_metric *out,
                        cairn_eval_result *top)
{
    double est[MAX_SLOTS];
    const char *const *names = W->in->task == CAIRN_TASK_BINARY       ? binary_names
                               : W->in->task == CAIRN_TASK_REGRESSION ? regression_names
                                                                      : multiclass_names;
    estimates(W, m, est, top);
    for (size_t i = 0; i < W->nm; i++) {
        memset(&out[i], 0, sizeof out[i]);
        snprintf(out[i].name, sizeof out[i].name, "%s", names[W->slot[i]]);
        out[i].iv = (cairn_interval){.estimate = est[W->slot[i]], .lo = NAN, .hi = NAN,
                                     .n_valid = 0};
    }
    if (W->n_boot == 0)
        return;
    switch (W->in->task) {
    case CAIRN_TASK_BINARY: prepare_binary(W, m); break;
    case CAIRN_TASK_REGRESSION: prepare_regression(W, m); break;
    case CAIRN_TASK_MULTICLASS: prepare_multiclass(W, m); break;
    }
    run_resamples(W, m, stream);
    for (size_t i = 0; i < W->nm; i++) {
        size_t nv = 0;
        for (size_t b = 0; b < W->n_boot; b++) {
            double x = W->vals[b * W->nm + i];
            if (!isnan(x))
                W->sorted[nv++] = x;
        }
        out[i].iv.n_valid = nv;
        if (nv == 0)
            continue;
        qsort(W->sorted, nv, sizeof(double), double_cmp);
        out[i].iv.lo = cairn_percentile_sorted(W->sorted, nv, 2.5);
        out[i].iv.hi = cairn_percentile_sorted(W->sorted, nv, 97.5);
    }
}

/* Copies rows[0..m) of the input (NULL: all rows in order) into the sample arrays. */
static void gather(work *W, const uint32_t *rows, size_t m)
{
    const cairn_eval_input *in = W->in;
    size_t k = W->k;
    for (size_t l = 0; l < m; l++) {
        size_t i = rows ? rows[l] : l;
        switch (in->task) {
        case CAIRN_TASK_BINARY:
            W->s[l] = in->score[i];
            W->y8[l] = in->y[i] != 0;
            break;
        case CAIRN_TASK_REGRESSION:
            W->s[l] = in->score[i];
            W->yd[l] = in->y[i];
            break;
        case CAIRN_TASK_MULTICLASS:
            memcpy(W->s + l * k, in->score + i * k, k * sizeof(double));
            W->y32[l] = (uint32_t)in->y[i];
            break;
        }
    }
}

/* ---- validation -------------------------------------------------------------------- */

static cairn_status validate(const cairn_eval_input *in, cairn_error *err)
{
    size_t n = in->n, k = in->n_classes, nk;
    if (in->task != CAIRN_TASK_BINARY && in->task != CAIRN_TASK_REGRESSION &&
        in->task != CAIRN_TASK_MULTICLASS)
        return cairn_error_set(err, CAIRN_EINVAL, WHERE, "unknown task %d", (int)in->task);
    if (n == 0)
        return cairn_error_set(err, CAIRN_EINVAL, WHERE, "no rows to evaluate");
    if (n > UINT32_MAX)
        return cairn_error_set(err, CAIRN_EINVAL, WHERE,
                               "%zu rows to evaluate; at most %" PRIu32 " are supported", n,
                               UINT32_MAX);
    if (!in->score || !in->y)
        return cairn_error_set(err, CAIRN_EINVAL, WHERE, "score and y are required");
    if (in->task == CAIRN_TASK_MULTICLASS) {
        if (k < 2)
            return cairn_error_set(err, CAIRN_EINVAL, WHERE,
                                   "multiclass evaluation needs n_classes >= 2 (got %zu)", k);
        if (k > UINT32_MAX || !cairn_mul_size(n, k, &nk))
            return cairn_error_set(err, CAIRN_EINVAL, WHERE, "%zu rows x %zu classes is too large",
                                   n, k);
    } else {
        nk = n;
    }
    if (in->task == CAIRN_TASK_BINARY && isnan(in->threshold))
        return cairn_error_set(err, CAIRN_EINVAL, WHERE, "the decision threshold is NaN");
    for (size_t i = 0; i < nk; i++)
        if (!isfinite(in->score[i])) {
            if (in->task == CAIRN_TASK_MULTICLASS)
                return cairn_error_set(err, CAIRN_EINVAL, WHERE,
                                       "score of row %zu, class %zu is %g (not a finite number)",
                                       i / k, i % k, in->score[i]);
            return cairn_error_set(err, CAIRN_EINVAL, WHERE,
                                   "score of row %zu is %g (not a finite number)", i,
                                   in->score[i]);
        }
    for (size_t i = 0; i < n; i++) {
        double y = in->y[i];
        switch (in->task) {
        case CAIRN_TASK_BINARY:
            if (y != 0 && y != 1)
                return cairn_error_set(err, CAIRN_EINVAL, WHERE,
                                       "label of row %zu is %g; a binary label is 0 or 1", i, y);
            break;
        case CAIRN_TASK_REGRESSION:
            if (!isfinite(y))
                return cairn_error_set(err, CAIRN_EINVAL, WHERE,
                                       "label of row %zu is %g (not a finite number)", i, y);
            break;
        case CAIRN_TASK_MULTICLASS:
            if (!(y >= 0 && y < (double)k && y == floor(y)))
                return cairn_error_set(err, CAIRN_EINVAL, WHERE,
                                       "label of row %zu is %g; a class index in [0, %zu) is "
                                       "required",
                                       i, y, k);
            break;
        }
    }
    if (in->n_slices && !in->slices)
        return cairn_error_set(err, CAIRN_EINVAL, WHERE, "%zu slice columns but no slices",
                               in->n_slices);
    for (size_t c = 0; c < in->n_slices; c++) {
        const cairn_eval_slice_input *sl = &in->slices[c];
        if (!sl->column)
            return cairn_error_set(err, CAIRN_EINVAL, WHERE, "slice %zu has no column name", c);
        if (!sl->group || (sl->n_groups && !sl->group_names))
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

/* ---- the evaluation ---------------------------------------------------------------- */

cairn_status cairn_eval_group_rows(const cairn_eval_slice_input *sl, size_t n, uint32_t **rows_out,
                                   size_t **start_out, size_t *n_used, cairn_error *err)
{
    size_t *start = NULL;
    uint32_t *rows = NULL;
    *rows_out = NULL;
    *start_out = NULL;
    *n_used = 0;
    if (sl->n_groups == SIZE_MAX || !alloc_array(&rows, n, sizeof(uint32_t)) ||
        !(start = cairn_calloc(sl->n_groups + 1, sizeof(size_t)))) {
        cairn_free(rows);
        return cairn_error_set(err, CAIRN_ENOMEM, WHERE,
                               "cannot allocate the groups of slice column '%s' (%zu groups)",
                               sl->column, sl->n_groups);
    }
    /* Counting sort by group id; rows stay in row order within a group. */
    for (size_t i = 0; i < n; i++)
        start[sl->group[i] + 1]++;
    size_t used = 0;
    for (size_t g = 0; g < sl->n_groups; g++) {
        used += start[g + 1] > 0;
        start[g + 1] += start[g];
    }
    for (size_t i = 0; i < n; i++)
        rows[start[sl->group[i]]++] = (uint32_t)i;
    /* start[g] now holds the end of group g; shift back to starts. */
    memmove(start + 1, start, sl->n_groups * sizeof(size_t));
    start[0] = 0;
    *rows_out = rows;
    *start_out = start;
    *n_used = used;
    return CAIRN_OK;
}

bool cairn_eval_slice_small(cairn_task task, size_t n, size_t n_pos, size_t small_slice)
{
    size_t small = small_slice ? small_slice : CAIRN_EVAL_SMALL_SLICE;
    return n < small || (task == CAIRN_TASK_BINARY && (n_pos < 5 || n - n_pos < 5));
}

static size_t count_pos(const uint8_t *y, size_t m)
{
    size_t p = 0;
    for (size_t i = 0; i < m; i++)
        p += y[i];
    return p;
}

/* Every non-empty group of slice column c, appended to r->slices. */
static cairn_status eval_slice_column(work *W, size_t c, cairn_eval_result *r, cairn_error *err)
{
    const cairn_eval_input *in = W->in;
    const cairn_eval_slice_input *sl = &in->slices[c];
    size_t n = in->n;
    cairn_status st = CAIRN_OK;
    size_t *start = NULL; /* n_groups + 1 offsets into rows */
    uint32_t *rows = NULL;
    size_t used = 0;
    if ((st = cairn_eval_group_rows(sl, n, &rows, &start, &used, err)) != CAIRN_OK)
        goto done;
    cairn_eval_slice *grown = cairn_reallocarray(r->slices, r->n_slices + used + 1,
                                                 sizeof(cairn_eval_slice));
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
        cairn_eval_slice *out = &r->slices[r->n_slices];
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
        out->n = m;
        out->n_pos = in->task == CAIRN_TASK_BINARY ? count_pos(W->y8, m) : 0;
        out->small = cairn_eval_slice_small(in->task, m, out->n_pos, in->small_slice);
        out->n_metrics = W->nm;
        eval_sample(W, m, ((uint64_t)(c + 1) << 32) | g, out->metrics, NULL);
    }
done:
    cairn_free(start);
    cairn_free(rows);
    return st;
}

cairn_status cairn_evaluate(const cairn_eval_input *in, cairn_eval_result *out, cairn_error *err)
{
    cairn_status st;
    cairn_eval_result r;
    work W;
    memset(&r, 0, sizeof r);
    memset(&W, 0, sizeof W);
    if (!in || !out)
        return cairn_error_set(err, CAIRN_EINVAL, WHERE, "input and output are required");
    if ((st = validate(in, err)))
        return st;

    W.in = in;
    W.n = in->n;
    W.k = in->task == CAIRN_TASK_MULTICLASS ? in->n_classes : 1;
    W.n_boot = in->n_boot;
    int nt = in->threads > 0 ? in->threads : omp_get_max_threads();
    int procs = omp_get_num_procs();
    /* At most one thread per core (at least two when asked, so the parallel
     * path runs anywhere) and per resample: every thread has n-sized scratch. */
    if (nt > (procs > 2 ? procs : 2))
        nt = procs > 2 ? procs : 2;
    if ((size_t)nt > in->n_boot)
        nt = (int)(in->n_boot ? in->n_boot : 1);
    W.nt = nt < 1 ? 1 : nt;
    switch (in->task) {
    case CAIRN_TASK_BINARY:
        for (size_t i = 0; i < B_SLOTS; i++)
            W.slot[W.nm++] = (uint8_t)i;
        break;
    case CAIRN_TASK_REGRESSION:
        W.has_mape = true;
        for (size_t i = 0; i < in->n; i++)
            if (in->y[i] == 0)
                W.has_mape = false;
        for (size_t i = 0; i < R_SLOTS; i++)
            if (i != R_MAPE || W.has_mape)
                W.slot[W.nm++] = (uint8_t)i;
        break;
    case CAIRN_TASK_MULTICLASS:
        for (size_t i = 0; i < M_SLOTS; i++)
            W.slot[W.nm++] = (uint8_t)i;
        break;
    }
    if ((st = work_alloc(&W, err)))
        goto done;

    r.task = in->task;
    r.n = in->n;
    gather(&W, NULL, in->n);
    if (in->task == CAIRN_TASK_BINARY)
        r.n_pos = count_pos(W.y8, in->n);
    r.n_metrics = W.nm;
    eval_sample(&W, in->n, 0, r.metrics, &r);
    for (size_t c = 0; c < in->n_slices; c++)
        if ((st = eval_slice_column(&W, c, &r, err)))
            goto done;
    *out = r;
done:
    work_free(&W);
    if (st)
        cairn_eval_result_reset(&r);
    return st;
}

void cairn_eval_result_reset(cairn_eval_result *r)
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

const cairn_eval_metric *cairn_eval_find(const cairn_eval_result *r, const char *name)
{
    if (!r || !name)
        return NULL;
    for (size_t i = 0; i < r->n_metrics && i < CAIRN_EVAL_MAX_METRICS; i++)
        if (strcmp(r->metrics[i].name, name) == 0)
            return &r->metrics[i];
    return NULL;
}

double cairn_eval_get(const cairn_eval_result *r, const char *name)
{
    const cairn_eval_metric *m = cairn_eval_find(r, name);
    return m ? m->iv.estimate : NAN;
}

/* ---- JSON -------------------------------------------------------------------------- */

/* A number, or null when it is NaN or infinite (JSON has neither). */
static void put_num(cairn_buf *b, double v)
{
    if (isfinite(v))
        cairn_buf_put_double(b, v);
    else
        cairn_buf_puts(b, "null");
}

static void put_metrics(cairn_buf *b, const cairn_eval_metric *m, size_t n)
{
    cairn_buf_putc(b, '{');
    for (size_t i = 0; i < n && i < CAIRN_EVAL_MAX_METRICS; i++) {
        if (i)
            cairn_buf_putc(b, ',');
        cairn_buf_put_json_string(b, m[i].name, strnlen(m[i].name, sizeof m[i].name));
        cairn_buf_puts(b, ":{\"estimate\":");
        put_num(b, m[i].iv.estimate);
        cairn_buf_puts(b, ",\"lo\":");
        put_num(b, m[i].iv.lo);
        cairn_buf_puts(b, ",\"hi\":");
        put_num(b, m[i].iv.hi);
        cairn_buf_printf(b, ",\"n_valid\":%zu}", m[i].iv.n_valid);
    }
    cairn_buf_putc(b, '}');
}

void cairn_eval_result_to_json(const cairn_eval_result *r, cairn_buf *b)
{
    bool binary = r->task == CAIRN_TASK_BINARY;
    cairn_buf_puts(b, "{\"task\":");
    cairn_buf_put_json_string(b, cairn_task_name(r->task), strlen(cairn_task_name(r->task)));
    cairn_buf_printf(b, ",\"n\":%zu", r->n);
    if (binary)
        cairn_buf_printf(b, ",\"n_pos\":%zu", r->n_pos);
    cairn_buf_puts(b, ",\"metrics\":");
    put_metrics(b, r->metrics, r->n_metrics);
    if (binary) {
        cairn_buf_puts(b, ",\"threshold\":");
        put_num(b, r->at.threshold);
        cairn_buf_printf(b,
                         ",\"confusion\":{\"tp\":%" PRIu64 ",\"fp\":%" PRIu64 ",\"tn\":%" PRIu64
                         ",\"fn\":%" PRIu64 "}",
                         r->at.tp, r->at.fp, r->at.tn, r->at.fn);
        cairn_buf_puts(b, ",\"calibration\":[");
        for (int i = 0; i < CAIRN_EVAL_ECE_BINS; i++) {
            cairn_buf_puts(b, i ? ",{\"lo\":" : "{\"lo\":");
            put_num(b, (double)i / CAIRN_EVAL_ECE_BINS);
            cairn_buf_puts(b, ",\"hi\":");
            put_num(b, (double)(i + 1) / CAIRN_EVAL_ECE_BINS);
            cairn_buf_printf(b, ",\"count\":%" PRIu64 ",\"mean_p\":", r->ece_count[i]);
            put_num(b, r->ece_mean_p[i]);
            cairn_buf_puts(b, ",\"rate\":");
            put_num(b, r->ece_rate[i]);
            cairn_buf_putc(b, '}');
        }
        cairn_buf_putc(b, ']');
    }
    cairn_buf_puts(b, ",\"slices\":[");
    for (size_t i = 0; i < r->n_slices; i++) {
        const cairn_eval_slice *s = &r->slices[i];
        const char *col = s->column ? s->column : "", *val = s->value ? s->value : "";
        cairn_buf_puts(b, i ? ",{\"column\":" : "{\"column\":");
        cairn_buf_put_json_string(b, col, strlen(col));
        cairn_buf_puts(b, ",\"value\":");
        cairn_buf_put_json_string(b, val, strlen(val));
        cairn_buf_printf(b, ",\"n\":%zu", s->n);
        if (binary)
            cairn_buf_printf(b, ",\"n_pos\":%zu", s->n_pos);
        cairn_buf_printf(b, ",\"small\":%s,\"metrics\":", s->small ? "true" : "false");
        put_metrics(b, s->metrics, s->n_metrics);
        cairn_buf_putc(b, '}');
    }
    cairn_buf_puts(b, "]}");
}

/* ---- the least-cost threshold ------------------------------------------------------ */

/*
 * Sweeps the distinct scores from the top, as cairn_threshold_max_f1 does: at
 * threshold s the predicted positives are the rows scored >= s, so FP is the
 * running count of negatives and FN the positives not yet reached. Scanning
 * downwards and accepting "<=" keeps the smallest threshold on equal cost.
 * The first candidate, "predict nothing", exists only below 1: with a largest
 * score of 1 (or more) no threshold <= 1 predicts nothing. NaN when a score or
 * a cost is NaN or the sort's scratch memory cannot be had.
 */
double cairn_threshold_min_cost(const double *p, const uint8_t *y, size_t n, double cost_fp,
                                double cost_fn)
{
    if (n == 0)
        return 0.5;
    if (isnan(cost_fp) || isnan(cost_fn) || n > UINT32_MAX)
        return NAN;
    keyed *v = NULL;
    if (!alloc_array(&v, n, sizeof(keyed)))
        return NAN;
    uint64_t total_pos = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(p[i])) {
            cairn_free(v);
            return NAN;
        }
        /* The label rides in the row slot: only positive/negative matters here. */
        v[i] = (keyed){p[i], y[i] ? 1u : 0u};
        total_pos += y[i] ? 1 : 0;
    }
    qsort(v, n, sizeof(keyed), keyed_desc);
    double best_t = NAN, best_cost = 0;
    bool have = false;
    if (v[0].v < 1.0) {
        best_t = nextafter(v[0].v, INFINITY);
        best_cost = cost_fn * (double)total_pos;
        have = true;
    }
    uint64_t tp = 0, fp = 0;
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        for (; j < n && v[j].v == v[i].v; j++) {
            if (v[j].i)
                tp++;
            else
                fp++;
        }
        double cost = cost_fp * (double)fp + cost_fn * (double)(total_pos - tp);
        if (!have || cost <= best_cost) {
            best_cost = cost;
            best_t = v[i].v;
            have = true;
        }
        i = j;
    }
    cairn_free(v);
    return best_t;
}
