/*
 * stats.c -- column statistics: moments, a KLL quantile sketch and a
 * quantile-edged histogram for numbers, HyperLogLog and exact top-k for
 * strings, range and sortedness for timestamps; their merge, the parallel
 * per-frame driver, and the JSON form stored in the registry.
 *
 * What is left to others: readers build the frames, the registry stores the
 * JSON, and drift monitoring (src/monitor) compares serving traffic with
 * these statistics through cairn_colstats_quantile / _cdf / _hist_bin.
 *
 * Numeric references:
 *  - Mean and M2 (sum of squared deviations) are merged with the pairwise
 *    formula of Chan, Golub and LeVeque ("Updating formulae and a pairwise
 *    algorithm for computing sample variances", 1979):
 *      delta = mean_b - mean_a, n = n_a + n_b,
 *      mean  = mean_a + delta * n_b / n,
 *      M2    = M2_a + M2_b + delta^2 * n_a * n_b / n.
 *    A column is cut into blocks of up to CAIRN_KLL_BUF0 values; each block's
 *    mean and M2 come from the corrected two-pass algorithm (same paper,
 *    eq. 1.7), which is both faster and more accurate than Welford's update.
 *  - Quantiles: KLL sketch (see stats_int.h for its layout).
 *  - Distinct strings: HyperLogLog (Flajolet, Fusy, Gandouet, Meunier 2007)
 *    with p = 14 and a 64-bit hash, so no large-range correction is needed;
 *    the small-range correction is linear counting m ln(m / V).
 */
#include "data/stats_int.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HLL_M (1u << CAIRN_HLL_P)
/* Fixed, so that HLL registers of any two statistics can be merged. */
#define HLL_SEED 0x686c6c2d63616972ull
/* Initial coin-generator state before any seed is mixed in. */
#define KLL_RNG_INIT 0x6b6c6c2d73656564ull

/* ---- small helpers ------------------------------------------------------ */

static uint64_t mix64(uint64_t x)
{
    uint64_t s = x;
    return cairn_splitmix64(&s);
}

static bool is_number_type(cairn_type t)
{
    return t == CAIRN_TYPE_BOOL || t == CAIRN_TYPE_INT64 || t == CAIRN_TYPE_FLOAT64;
}

/*
 * Order-preserving map of a double to an unsigned key: flip all bits of
 * negatives, set the sign bit of positives. -0.0 sorts just before +0.0,
 * which compare equal as doubles, so sortedness as doubles is kept.
 */
static inline uint64_t key_of(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return (u >> 63) ? ~u : (u | (1ull << 63));
}

static inline double double_of(uint64_t k)
{
    uint64_t u = (k >> 63) ? (k & ~(1ull << 63)) : ~k;
    double v;
    memcpy(&v, &u, sizeof v);
    return v;
}

/*
 * LSD radix sort of n keys, 11 bits per pass (six passes for 64 bits; the
 * 6 x 2048 counters fit in L1). One counting pass builds all six
 * histograms; passes whose digit is the same for every key (common: the
 * exponent bits of data in a narrow range, the low bits of small integers)
 * are skipped. Returns the array holding the sorted keys (a or tmp). No
 * comparisons, so a level-0 compaction costs a few nanoseconds per value.
 */
#define RADIX_BITS 11
#define RADIX_PASSES 6
#define RADIX_BUCKETS (1u << RADIX_BITS)
static uint64_t *radix_sort_u64(uint64_t *a, uint64_t *tmp, size_t n)
{
    uint32_t hist[RADIX_PASSES][RADIX_BUCKETS];
    memset(hist, 0, sizeof hist);
    for (size_t i = 0; i < n; i++) {
        uint64_t k = a[i];
        for (unsigned d = 0; d < RADIX_PASSES; d++)
            hist[d][(k >> (RADIX_BITS * d)) & (RADIX_BUCKETS - 1)]++;
    }
    uint64_t *src = a, *dst = tmp;
    for (unsigned d = 0; d < RADIX_PASSES; d++) {
        uint32_t *h = hist[d];
        unsigned shift = RADIX_BITS * d;
        if (n == 0 || h[(src[0] >> shift) & (RADIX_BUCKETS - 1)] == n)
            continue; /* every key has this digit */
        uint32_t sum = 0;
        for (unsigned b = 0; b < RADIX_BUCKETS; b++) {
            uint32_t c = h[b];
            h[b] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++) {
            uint64_t k = src[i];
            dst[h[(k >> shift) & (RADIX_BUCKETS - 1)]++] = k;
        }
        uint64_t *t = src;
        src = dst;
        dst = t;
    }
    return src;
}

/* ---- KLL sketch ----------------------------------------------------------- */

cairn_status cairn_kll_new(uint32_t k, cairn_kll **out)
{
    *out = NULL;
    if (k < CAIRN_KLL_MIN_WIDTH)
        return CAIRN_EINVAL;
    cairn_kll *s = cairn_calloc(1, sizeof *s);
    if (!s)
        return CAIRN_ENOMEM;
    s->k = k;
    s->rng = KLL_RNG_INIT;
    *out = s;
    return CAIRN_OK;
}

void cairn_kll_free(cairn_kll *s)
{
    if (!s)
        return;
    cairn_free(s->buf0);
    cairn_free(s->keys);
    for (unsigned h = 0; h < CAIRN_ARRAY_LEN(s->lv); h++)
        cairn_free(s->lv[h].items);
    cairn_free(s);
}

void cairn_kll_seed(cairn_kll *s, uint64_t seed) { s->rng = mix64(s->rng ^ seed); }

size_t cairn_kll_retained(const cairn_kll *s)
{
    size_t n = s->n0;
    for (unsigned h = 1; h <= s->n_levels; h++)
        n += s->lv[h].n;
    return n;
}

/* Capacity of level h (1 <= h <= n_levels): ceil(k (2/3)^depth), at least MIN_WIDTH. */
static size_t kll_level_cap(const cairn_kll *s, unsigned h)
{
    size_t cap = s->k;
    for (unsigned depth = s->n_levels - h; depth > 0 && cap > CAIRN_KLL_MIN_WIDTH; depth--)
        cap = (2 * cap + 2) / 3;
    return cap < CAIRN_KLL_MIN_WIDTH ? CAIRN_KLL_MIN_WIDTH : cap;
}

/* Grows level h to hold at least need items. */
static bool kll_level_reserve(cairn_kll_level *l, size_t need)
{
    if (need <= l->cap)
        return true;
    size_t cap = l->cap ? l->cap : 64;
    while (cap < need)
        cap *= 2;
    double *p = cairn_reallocarray(l->items, cap, sizeof *p);
    if (!p)
        return false;
    l->items = p;
    l->cap = cap;
    return true;
}

/*
 * Merges the sorted run b[0..nb) into the sorted level l, from the back so
 * that no temporary is needed. b must not alias l->items.
 */
static bool kll_level_merge_in(cairn_kll_level *l, const double *b, size_t nb)
{
    if (!kll_level_reserve(l, l->n + nb))
        return false;
    double *d = l->items;
    size_t i = l->n, j = nb, o = l->n + nb;
    while (j > 0) {
        if (i > 0 && d[i - 1] > b[j - 1])
            d[--o] = d[--i];
        else
            d[--o] = b[--j];
    }
    l->n += nb;
    return true;
}

/* Makes sure level h exists (n_levels >= h). */
static void kll_ensure_levels(cairn_kll *s, unsigned h)
{
    if (s->n_levels < h)
        s->n_levels = h;
}

/*
 * Compacts sorted level h into h+1: the items at even or odd positions (one
 * coin flip) move up with twice the weight. With an odd count the largest
 * item stays behind, so the total weight is preserved exactly. For any
 * query, the rank changes by 0 or +-2^h with equal probability: the KLL
 * error term.
 */
static bool kll_compact_level(cairn_kll *s, unsigned h)
{
    cairn_kll_level *l = &s->lv[h];
    size_t m = l->n & ~(size_t)1;
    size_t half = m / 2;
    /* Reserve first, so that nothing below can fail half-way. */
    if (!kll_level_reserve(&s->lv[h + 1], s->lv[h + 1].n + half))
        return false;
    size_t off = (size_t)(cairn_splitmix64(&s->rng) >> 63);
    /* In place: position j receives item off + 2j >= j. */
    for (size_t j = 0; j < half; j++)
        l->items[j] = l->items[off + 2 * j];
    double held = l->n & 1 ? l->items[l->n - 1] : 0.0;
    kll_ensure_levels(s, h + 1);
    kll_level_merge_in(&s->lv[h + 1], l->items, half); /* cannot fail: reserved */
    l->n = l->n & 1;
    if (l->n)
        l->items[0] = held;
    return true;
}

/*
 * Lazy compaction (as in Apache DataSketches): while the levels above 0
 * hold more than the sum of their capacities, compact the lowest level that
 * is at or over its own capacity.
 */
static bool kll_compress(cairn_kll *s)
{
    for (;;) {
        size_t total = 0, budget = 0;
        for (unsigned h = 1; h <= s->n_levels; h++) {
            total += s->lv[h].n;
            budget += kll_level_cap(s, h);
        }
        if (total <= budget)
            return true;
        unsigned h = 1;
        while (h <= s->n_levels && s->lv[h].n < kll_level_cap(s, h))
            h++;
        if (h > s->n_levels || h >= CAIRN_KLL_MAX_LEVELS)
            return true; /* cannot happen: total > budget means some level is over */
        if (!kll_compact_level(s, h))
            return false;
    }
}

/* Grows the level-0 buffer to hold at least want values (at most BUF0). */
static bool kll_reserve0(cairn_kll *s, size_t want)
{
    if (want > CAIRN_KLL_BUF0)
        want = CAIRN_KLL_BUF0;
    if (want <= s->cap0)
        return true;
    size_t cap = s->cap0 ? s->cap0 : 16;
    while (cap < want)
        cap *= 2;
    if (cap > CAIRN_KLL_BUF0)
        cap = CAIRN_KLL_BUF0;
    double *p = cairn_reallocarray(s->buf0, cap, sizeof *p);
    if (!p)
        return false;
    s->buf0 = p;
    s->cap0 = cap;
    return true;
}

/*
 * Sorts level 0 and compacts it into level 1 (the largest value stays when
 * the count is odd). Called when the buffer is full.
 */
static bool kll_flush0(cairn_kll *s)
{
    if (s->n0 < 2)
        return true;
    if (!s->keys) {
        s->keys = cairn_calloc(2 * CAIRN_KLL_BUF0, sizeof *s->keys);
        if (!s->keys)
            return false;
    }
    size_t n = s->n0;
    size_t half = n / 2;
    if (!kll_level_reserve(&s->lv[1], s->lv[1].n + half))
        return false;
    for (size_t i = 0; i < n; i++)
        s->keys[i] = key_of(s->buf0[i]);
    uint64_t *sorted = radix_sort_u64(s->keys, s->keys + CAIRN_KLL_BUF0, n);
    size_t off = (size_t)(cairn_splitmix64(&s->rng) >> 63);
    double *run = s->buf0; /* the keys hold the data now, so buf0 is free */
    for (size_t j = 0; j < half; j++)
        run[j] = double_of(sorted[off + 2 * j]);
    kll_ensure_levels(s, 1);
    kll_level_merge_in(&s->lv[1], run, half); /* cannot fail: reserved */
    s->n0 = n & 1;
    if (s->n0)
        s->buf0[0] = double_of(sorted[n - 1]);
    return kll_compress(s);
}

/*
 * Makes room for at least one more level-0 value: compacts a full buffer
 * (lazily, before the next value rather than after the last, so that a
 * failed compaction leaves every value counted and can be retried), else
 * grows it.
 */
static bool kll_room0(cairn_kll *s, size_t want)
{
    if (s->n0 == CAIRN_KLL_BUF0 && !kll_flush0(s))
        return false;
    return s->n0 < s->cap0 || kll_reserve0(s, s->n0 + (want ? want : 1));
}

cairn_status cairn_kll_update(cairn_kll *s, double v)
{
    if (!kll_room0(s, 1))
        return CAIRN_ENOMEM;
    s->buf0[s->n0++] = v;
    s->n++;
    return CAIRN_OK;
}

cairn_status cairn_kll_merge(cairn_kll *a, const cairn_kll *b)
{
    if (a == b)
        return CAIRN_EINVAL;
    /* Levels first: weights add exactly, sorted runs merge linearly. */
    for (unsigned h = 1; h <= b->n_levels && h <= CAIRN_KLL_MAX_LEVELS + 1; h++) {
        if (!b->lv[h].n)
            continue;
        kll_ensure_levels(a, h);
        if (!kll_level_merge_in(&a->lv[h], b->lv[h].items, b->lv[h].n))
            return CAIRN_ENOMEM;
        a->n += (uint64_t)b->lv[h].n << h;
    }
    /* Then b's raw values, as if they were streamed into a. */
    for (size_t i = 0; i < b->n0;) {
        if (!kll_room0(a, b->n0 - i))
            return CAIRN_ENOMEM;
        size_t room = a->cap0 - a->n0, take = b->n0 - i < room ? b->n0 - i : room;
        memcpy(a->buf0 + a->n0, b->buf0 + i, take * sizeof *a->buf0);
        a->n0 += take;
        a->n += take;
        i += take;
    }
    return kll_compress(a) ? CAIRN_OK : CAIRN_ENOMEM;
}

void cairn_kll_view_reset(cairn_kll_view *v)
{
    cairn_free(v->v);
    cairn_free(v->cum);
    memset(v, 0, sizeof *v);
}

cairn_status cairn_kll_view_build(const cairn_kll *s, cairn_kll_view *out)
{
    cairn_status st = CAIRN_ENOMEM;
    memset(out, 0, sizeof *out);
    size_t n = cairn_kll_retained(s);
    uint64_t *keys = cairn_calloc(2 * (s->n0 ? s->n0 : 1), sizeof *keys);
    double *v = cairn_calloc(n ? n : 1, sizeof *v);
    uint64_t *w = cairn_calloc(n ? n : 1, sizeof *w);
    double *v2 = cairn_calloc(n ? n : 1, sizeof *v2);
    uint64_t *w2 = cairn_calloc(n ? n : 1, sizeof *w2);
    if (!keys || !v || !w || !v2 || !w2)
        goto done;
    /* Level 0 sorted, weight 1. */
    for (size_t i = 0; i < s->n0; i++)
        keys[i] = key_of(s->buf0[i]);
    uint64_t *sorted = radix_sort_u64(keys, keys + s->n0, s->n0);
    size_t len = s->n0;
    for (size_t i = 0; i < len; i++) {
        v[i] = double_of(sorted[i]);
        w[i] = 1;
    }
    /* Merge each level in turn, weight 2^h. */
    for (unsigned h = 1; h <= s->n_levels; h++) {
        const cairn_kll_level *l = &s->lv[h];
        size_t i = 0, j = 0, o = 0;
        uint64_t wh = 1ull << h;
        while (i < len || j < l->n) {
            if (j >= l->n || (i < len && v[i] <= l->items[j])) {
                v2[o] = v[i];
                w2[o++] = w[i++];
            } else {
                v2[o] = l->items[j++];
                w2[o++] = wh;
            }
        }
        len = o;
        double *tv = v;
        v = v2;
        v2 = tv;
        uint64_t *tw = w;
        w = w2;
        w2 = tw;
    }
    for (size_t i = 1; i < len; i++)
        w[i] += w[i - 1];
    out->v = v;
    out->cum = w;
    out->n = len;
    out->total = len ? w[len - 1] : 0;
    v = NULL;
    w = NULL;
    st = CAIRN_OK;
done:
    cairn_free(keys);
    cairn_free(v);
    cairn_free(w);
    cairn_free(v2);
    cairn_free(w2);
    return st;
}

double cairn_kll_view_quantile(const cairn_kll_view *v, double q)
{
    if (!v->n)
        return NAN;
    double r = q * (double)v->total;
    /* First i with cum[i] >= r. */
    size_t lo = 0, hi = v->n - 1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if ((double)v->cum[mid] >= r)
            hi = mid;
        else
            lo = mid + 1;
    }
    return v->v[lo];
}

uint64_t cairn_kll_view_rank(const cairn_kll_view *v, double x)
{
    /* Number of items <= x, i.e. the first index with v > x. */
    size_t lo = 0, hi = v->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v->v[mid] <= x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo ? v->cum[lo - 1] : 0;
}

/* ---- HyperLogLog ---------------------------------------------------------- */

static void hll_add(uint8_t *reg, const char *str, size_t n)
{
    uint64_t h = cairn_hash64(str, n, HLL_SEED);
    uint32_t idx = (uint32_t)(h >> (64 - CAIRN_HLL_P));
    uint64_t rest = h << CAIRN_HLL_P; /* the other 64 - p bits, at the top */
    /* rho: position of the first 1 bit in the remaining bits, 1-based. */
    uint8_t rho = rest ? (uint8_t)(__builtin_clzll(rest) + 1) : (uint8_t)(64 - CAIRN_HLL_P + 1);
    if (rho > reg[idx])
        reg[idx] = rho;
}

/* The raw HLL estimate with linear counting below 2.5 m (FFGM 2007, fig. 3). */
static double hll_estimate(const uint8_t *reg)
{
    double m = (double)HLL_M, z = 0.0;
    size_t zeros = 0;
    for (size_t i = 0; i < HLL_M; i++) {
        z += ldexp(1.0, -(int)reg[i]);
        zeros += reg[i] == 0;
    }
    double alpha = 0.7213 / (1.0 + 1.079 / m);
    double e = alpha * m * m / z;
    if (e <= 2.5 * m && zeros > 0)
        e = m * log(m / (double)zeros);
    return e;
}

/* ---- top-k ----------------------------------------------------------------- */

/* A candidate key: value borrowed, or owned (moved from a's list). */
typedef struct tk_entry {
    const char *value;
    char *owned;
    uint64_t count;
} tk_entry;

/* True when (ca, va) ranks before (cb, vb): count descending, then bytes ascending. */
static inline bool tk_better(uint64_t ca, const char *va, uint64_t cb, const char *vb)
{
    return ca > cb || (ca == cb && strcmp(va, vb) < 0);
}

static int tk_cmp_value(const void *pa, const void *pb)
{
    const tk_entry *a = pa, *b = pb;
    return strcmp(a->value, b->value);
}

static int tk_cmp_rank(const void *pa, const void *pb)
{
    const tk_entry *a = pa, *b = pb;
    if (a->count != b->count)
        return a->count > b->count ? -1 : 1;
    return strcmp(a->value, b->value);
}

static void topk_free(cairn_topk_item *top, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cairn_free(top[i].value);
    cairn_free(top);
}

/*
 * Merges the candidates b (borrowed values) into s->top: counts of equal
 * keys add up, then the first TRACK by rank are kept. On failure s is
 * unchanged. Note: values are compared with strcmp, so a value with an
 * embedded NUL byte is compared up to it.
 */
static cairn_status topk_merge(cairn_colstats *s, const tk_entry *b, size_t nb, bool b_complete)
{
    cairn_status st = CAIRN_ENOMEM;
    size_t na = s->n_top, n = na + nb, m = 0, keep = 0;
    tk_entry *e = cairn_calloc(n ? n : 1, sizeof *e);
    cairn_topk_item *top = NULL;
    if (!e)
        goto done;
    for (size_t i = 0; i < na; i++)
        e[i] = (tk_entry){s->top[i].value, s->top[i].value, s->top[i].count};
    for (size_t i = 0; i < nb; i++)
        e[na + i] = (tk_entry){b[i].value, NULL, b[i].count};
    qsort(e, n, sizeof *e, tk_cmp_value);
    for (size_t i = 0; i < n; i++) {
        if (m > 0 && strcmp(e[m - 1].value, e[i].value) == 0) {
            e[m - 1].count += e[i].count;
            if (!e[m - 1].owned && e[i].owned) {
                e[m - 1].owned = e[i].owned;
                e[m - 1].value = e[i].owned;
            }
        } else {
            e[m++] = e[i];
        }
    }
    qsort(e, m, sizeof *e, tk_cmp_rank);
    keep = m < CAIRN_STATS_TOPK_TRACK ? m : CAIRN_STATS_TOPK_TRACK;
    top = cairn_calloc(keep ? keep : 1, sizeof *top);
    if (!top)
        goto done;
    for (size_t i = 0; i < keep; i++) {
        top[i].count = e[i].count;
        top[i].value = e[i].owned ? e[i].owned : cairn_strdup(e[i].value);
        if (!top[i].value) {
            /* Undo: free only the copies made here. */
            for (size_t j = 0; j < i; j++)
                if (!e[j].owned)
                    cairn_free(top[j].value);
            cairn_free(top);
            top = NULL;
            goto done;
        }
    }
    for (size_t i = keep; i < m; i++)
        cairn_free(e[i].owned); /* dropped keys that s owned */
    cairn_free(s->top);
    s->top = top;
    s->n_top = keep;
    s->top_complete = s->top_complete && b_complete && m <= CAIRN_STATS_TOPK_TRACK;
    top = NULL;
    st = CAIRN_OK;
done:
    cairn_free(e);
    return st;
}

/*
 * Rank order of two dictionary codes: < 0 when a ranks before b (higher
 * count, then smaller bytes). Codes name distinct strings, so 0 means a == b.
 */
static inline int code_cmp(const uint64_t *counts, const cairn_dict *d, uint32_t a, uint32_t b)
{
    if (counts[a] != counts[b])
        return counts[a] > counts[b] ? -1 : 1;
    return strcmp(cairn_dict_str(d, a), cairn_dict_str(d, b));
}

/*
 * Moves the k best-ranked codes of a[0..n) to a[0..k) (in no particular
 * order): quickselect with three-way partitions around pivots drawn from a
 * fixed-seed generator, so O(n) comparisons expected whatever the order of
 * the dictionary (a bounded heap costs O(n log k) string comparisons when
 * the codes arrive in descending order, e.g. an ID column sorted
 * backwards). String comparisons happen only between equal counts.
 */
static void codes_select(uint32_t *a, size_t n, size_t k, const uint64_t *counts,
                         const cairn_dict *d)
{
    uint64_t rs = 0x746f706b2d73656cull;
    size_t lo = 0, hi = n;
    while (k > lo && k < hi && hi - lo > 1) {
        uint32_t pivot = a[lo + (size_t)(cairn_splitmix64(&rs) % (uint64_t)(hi - lo))];
        /* a[lo..lt) better, a[lt..i) == pivot, a[gt..hi) worse. */
        size_t lt = lo, i = lo, gt = hi;
        while (i < gt) {
            int c = code_cmp(counts, d, a[i], pivot);
            uint32_t t = a[i];
            if (c < 0) {
                a[i++] = a[lt];
                a[lt++] = t;
            } else if (c > 0) {
                a[i] = a[--gt];
                a[gt] = t;
            } else {
                i++;
            }
        }
        if (k <= lt)
            hi = lt;
        else if (k >= gt)
            lo = gt;
        else
            return; /* the boundary falls inside the pivot's block */
    }
}

/* ---- accumulation ----------------------------------------------------------- */

/* Chan et al.'s pairwise merge of (count, mean, M2, min, max) into s. */
static void moments_merge(cairn_colstats *s, uint64_t nb, double mean_b, double m2_b,
                          double min_b, double max_b)
{
    if (nb == 0)
        return;
    if (s->count == 0) {
        s->count = nb;
        s->mean = mean_b;
        s->m2 = m2_b;
        s->min = min_b;
        s->max = max_b;
        return;
    }
    uint64_t na = s->count, n = na + nb;
    double delta = mean_b - s->mean;
    s->mean += delta * ((double)nb / (double)n);
    s->m2 += m2_b + delta * delta * ((double)na / (double)n * (double)nb);
    s->count = n;
    if (min_b < s->min)
        s->min = min_b;
    if (max_b > s->max)
        s->max = max_b;
}

/*
 * Block moments of x[0..n) by the corrected two-pass algorithm: mean from
 * the sum, M2 = sum (x - mean)^2 - (sum (x - mean))^2 / n. Returns false
 * when a value is not finite (sets *bad to its index).
 */
static bool block_moments(const double *x, size_t n, double *mean, double *m2, double *mn,
                          double *mx, size_t *bad)
{
    double sum = 0.0, lo = x[0], hi = x[0];
    for (size_t i = 0; i < n; i++) {
        double v = x[i];
        sum += v;
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    if (!isfinite(sum)) {
        for (size_t i = 0; i < n; i++)
            if (!isfinite(x[i])) {
                *bad = i;
                return false;
            }
        /* All finite but the sum overflowed: average scaled values instead. */
        sum = 0.0;
        for (size_t i = 0; i < n; i++)
            sum += x[i] / (double)n;
        *mean = sum;
    } else {
        *mean = sum / (double)n;
    }
    if (lo == hi) {
        *mean = lo; /* exact for a constant block, whatever the rounding of sum */
        *m2 = 0.0;
    } else {
        double mu = *mean, ss = 0.0, sd = 0.0;
        for (size_t i = 0; i < n; i++) {
            double d = x[i] - mu;
            ss += d * d;
            sd += d;
        }
        *m2 = ss - sd * sd / (double)n;
        if (*m2 < 0.0)
            *m2 = 0.0;
    }
    *mn = lo;
    *mx = hi;
    return true;
}

/*
 * Numbers: rows are gathered into the sketch's level-0 buffer without
 * branches (write always, advance by the validity byte), block moments are
 * taken on what was appended, and a full buffer is compacted.
 */
static cairn_status add_numbers(cairn_colstats *s, const cairn_column *c, size_t begin,
                                size_t end, cairn_error *err)
{
    cairn_kll *k = s->sketch;
    size_t r = begin;
    while (r < end) {
        if (!kll_room0(k, end - r))
            return cairn_error_set(err, CAIRN_ENOMEM, c->name, "out of memory");
        size_t room = k->cap0 - k->n0, take = end - r < room ? end - r : room, got = 0;
        double *dst = k->buf0 + k->n0;
        const uint8_t *valid = c->valid + r;
        switch (c->type) {
        case CAIRN_TYPE_FLOAT64: {
            const double *src = c->v.f64 + r;
            for (size_t i = 0; i < take; i++) {
                dst[got] = src[i];
                got += valid[i] != 0;
            }
            break;
        }
        case CAIRN_TYPE_INT64: {
            const int64_t *src = c->v.i64 + r;
            for (size_t i = 0; i < take; i++) {
                dst[got] = (double)src[i];
                got += valid[i] != 0;
            }
            break;
        }
        default: { /* BOOL */
            const uint8_t *src = c->v.b + r;
            for (size_t i = 0; i < take; i++) {
                dst[got] = src[i] != 0 ? 1.0 : 0.0;
                got += valid[i] != 0;
            }
            break;
        }
        }
        s->nulls += take - got;
        if (got) {
            double mean, m2, mn, mx;
            size_t bad = 0;
            if (!block_moments(dst, got, &mean, &m2, &mn, &mx, &bad)) {
                /* Find the row of the bad-th valid value for the message. */
                size_t row = r;
                for (size_t seen = 0;; row++)
                    if (valid[row - r] && seen++ == bad)
                        break;
                return cairn_error_set(err, CAIRN_EINPUT, c->name,
                                       "row %zu: value is not a finite number", row + 1);
            }
            moments_merge(s, got, mean, m2, mn, mx);
            k->n0 += got;
            k->n += got;
        }
        r += take;
    }
    return CAIRN_OK;
}

static void add_timestamp_value(cairn_colstats *s, double x)
{
    if (s->count == 0) {
        s->min = s->max = x;
    } else {
        /* While sorted, max is the last value seen. */
        if (x < s->max)
            s->sorted = false;
        if (x < s->min)
            s->min = x;
        if (x > s->max)
            s->max = x;
    }
    s->count++;
}

static cairn_status add_strings(cairn_colstats *s, const cairn_column *c, size_t begin,
                                size_t end, cairn_error *err)
{
    cairn_status st = CAIRN_OK;
    const cairn_dict *d = &c->dict;
    uint32_t n_dict = d->n;
    uint64_t *counts = cairn_calloc((size_t)n_dict + 1, sizeof *counts);
    uint32_t *codes = NULL;
    tk_entry *cand = NULL;
    if (!counts) {
        st = cairn_error_set(err, CAIRN_ENOMEM, c->name, "out of memory");
        goto done;
    }
    /* The only per-row work: one counter per code. */
    uint64_t valid_rows = 0;
    for (size_t r = begin; r < end; r++) {
        uint32_t code = c->v.codes[r];
        uint8_t v = c->valid[r] != 0;
        if (v && code >= n_dict) {
            st = cairn_error_set(err, CAIRN_EINVAL, c->name,
                                 "row %zu: string code %u outside the dictionary", r + 1, code);
            goto done;
        }
        counts[v ? code : n_dict] += v; /* null rows touch the spare slot */
        valid_rows += v;
    }
    s->count += valid_rows;
    s->nulls += (uint64_t)(end - begin) - valid_rows;
    /* Per code: HLL, and the list of codes present. */
    size_t used = 0;
    for (uint32_t code = 0; code < n_dict; code++)
        used += counts[code] != 0;
    codes = cairn_calloc(used ? used : 1, sizeof *codes);
    if (!codes) {
        st = cairn_error_set(err, CAIRN_ENOMEM, c->name, "out of memory");
        goto done;
    }
    used = 0;
    for (uint32_t code = 0; code < n_dict; code++) {
        if (!counts[code])
            continue;
        hll_add(s->hll, cairn_dict_str(d, code), cairn_dict_len(d, code));
        codes[used++] = code;
    }
    /* The best TRACK codes are the candidates; complete when that is all of them. */
    size_t n_cand = used < CAIRN_STATS_TOPK_TRACK ? used : CAIRN_STATS_TOPK_TRACK;
    codes_select(codes, used, n_cand, counts, d);
    bool complete = n_cand == used;
    cand = cairn_calloc(n_cand ? n_cand : 1, sizeof *cand);
    if (!cand) {
        st = cairn_error_set(err, CAIRN_ENOMEM, c->name, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n_cand; i++)
        cand[i] = (tk_entry){cairn_dict_str(d, codes[i]), NULL, counts[codes[i]]};
    if (topk_merge(s, cand, n_cand, complete) != CAIRN_OK)
        st = cairn_error_set(err, CAIRN_ENOMEM, c->name, "out of memory");
done:
    cairn_free(counts);
    cairn_free(codes);
    cairn_free(cand);
    return st;
}

/* ---- public: lifecycle and accumulation ----------------------------------- */

cairn_status cairn_colstats_init(cairn_colstats *s, cairn_type t, cairn_error *err)
{
    memset(s, 0, sizeof *s);
    s->type = t;
    s->sorted = true;
    s->top_complete = true;
    if (is_number_type(t)) {
        if (cairn_kll_new(CAIRN_KLL_K, &s->sketch) != CAIRN_OK)
            goto nomem;
    } else if (t == CAIRN_TYPE_STRING) {
        s->hll = cairn_calloc(HLL_M, 1);
        if (!s->hll)
            goto nomem;
    } else if (t != CAIRN_TYPE_TIMESTAMP) {
        memset(s, 0, sizeof *s);
        return cairn_error_set(err, CAIRN_EINVAL, NULL, "statistics: unknown column type %d",
                               (int)t);
    }
    return CAIRN_OK;
nomem:
    memset(s, 0, sizeof *s);
    return cairn_error_set(err, CAIRN_ENOMEM, NULL, "out of memory");
}

void cairn_colstats_reset(cairn_colstats *s)
{
    if (!s)
        return;
    cairn_kll_free(s->sketch);
    cairn_free(s->hll);
    topk_free(s->top, s->n_top);
    memset(s, 0, sizeof *s);
}

cairn_status cairn_colstats_add_column(cairn_colstats *s, const cairn_column *c, size_t begin,
                                       size_t end, uint64_t seed, cairn_error *err)
{
    if (c->type != s->type)
        return cairn_error_set(err, CAIRN_EINVAL, c->name,
                               "statistics of type %s given a %s column", cairn_type_name(s->type),
                               cairn_type_name(c->type));
    if (begin > end || end > c->n_rows)
        return cairn_error_set(err, CAIRN_EINVAL, c->name, "rows [%zu, %zu) outside the column",
                               begin, end);
    s->finished = false;
    if (is_number_type(s->type)) {
        if (!s->sketch)
            return cairn_error_set(err, CAIRN_EINVAL, c->name, "statistics have no sketch");
        cairn_kll_seed(s->sketch, seed);
        return add_numbers(s, c, begin, end, err);
    }
    if (s->type == CAIRN_TYPE_STRING) {
        if (!s->hll)
            return cairn_error_set(err, CAIRN_EINVAL, c->name, "statistics have no HLL");
        return add_strings(s, c, begin, end, err);
    }
    for (size_t r = begin; r < end; r++) {
        if (c->valid[r])
            add_timestamp_value(s, (double)c->v.i64[r]);
        else
            s->nulls++;
    }
    return CAIRN_OK;
}

cairn_status cairn_colstats_add_number(cairn_colstats *s, double v)
{
    if (!is_number_type(s->type) && s->type != CAIRN_TYPE_TIMESTAMP)
        return CAIRN_EINVAL;
    if (isnan(v)) {
        s->nulls++;
        return CAIRN_OK;
    }
    if (isinf(v))
        return CAIRN_EINPUT;
    s->finished = false;
    if (s->type == CAIRN_TYPE_TIMESTAMP) {
        add_timestamp_value(s, v);
        return CAIRN_OK;
    }
    if (!s->sketch)
        return CAIRN_EINVAL;
    if (s->type == CAIRN_TYPE_BOOL)
        v = v != 0.0 ? 1.0 : 0.0;
    if (cairn_kll_update(s->sketch, v) != CAIRN_OK)
        return CAIRN_ENOMEM;
    moments_merge(s, 1, v, 0.0, v, v);
    return CAIRN_OK;
}

cairn_status cairn_colstats_add_string(cairn_colstats *s, const char *str, size_t n)
{
    if (s->type != CAIRN_TYPE_STRING || !s->hll || (!str && n))
        return CAIRN_EINVAL;
    if (!str)
        str = "";
    char *copy = NULL;
    size_t i = 0;
    for (; i < s->n_top; i++)
        if (strlen(s->top[i].value) == n && memcmp(s->top[i].value, str, n) == 0)
            break;
    if (i == s->n_top) {
        /* A new key with count 1: it enters only if it ranks before the last kept key. */
        copy = cairn_strndup(str, n);
        if (!copy)
            return CAIRN_ENOMEM;
        if (s->n_top < CAIRN_STATS_TOPK_TRACK) {
            cairn_topk_item *top = cairn_reallocarray(s->top, s->n_top + 1, sizeof *top);
            if (!top) {
                cairn_free(copy);
                return CAIRN_ENOMEM;
            }
            s->top = top;
            s->top[s->n_top++] = (cairn_topk_item){copy, 0};
        } else {
            cairn_topk_item *last = &s->top[s->n_top - 1];
            s->top_complete = false;
            if (!tk_better(1, copy, last->count, last->value)) {
                cairn_free(copy);
                i = SIZE_MAX; /* dropped */
            } else {
                cairn_free(last->value);
                *last = (cairn_topk_item){copy, 0};
            }
        }
        if (i != SIZE_MAX)
            i = s->n_top - 1;
    }
    if (i != SIZE_MAX) {
        s->top[i].count++;
        /* Restore the order: the item can only move towards the front. */
        while (i > 0 && tk_better(s->top[i].count, s->top[i].value, s->top[i - 1].count,
                                  s->top[i - 1].value)) {
            cairn_topk_item t = s->top[i];
            s->top[i] = s->top[i - 1];
            s->top[i - 1] = t;
            i--;
        }
    }
    hll_add(s->hll, str, n);
    s->count++;
    s->finished = false;
    return CAIRN_OK;
}

void cairn_colstats_add_null(cairn_colstats *s)
{
    s->nulls++;
    s->finished = false;
}

cairn_status cairn_colstats_merge(cairn_colstats *a, const cairn_colstats *b, cairn_error *err)
{
    if (a == b)
        return cairn_error_set(err, CAIRN_EINVAL, NULL, "statistics merged with themselves");
    if (a->type != b->type)
        return cairn_error_set(err, CAIRN_EINVAL, NULL, "cannot merge %s statistics into %s",
                               cairn_type_name(b->type), cairn_type_name(a->type));
    if (is_number_type(a->type)) {
        if (!a->sketch || !b->sketch)
            return cairn_error_set(err, CAIRN_EINVAL, NULL,
                                   "statistics without a sketch cannot be merged");
        if (cairn_kll_merge(a->sketch, b->sketch) != CAIRN_OK)
            return cairn_error_set(err, CAIRN_ENOMEM, NULL, "out of memory");
        moments_merge(a, b->count, b->mean, b->m2, b->min, b->max);
    } else if (a->type == CAIRN_TYPE_STRING) {
        if (!a->hll || !b->hll)
            return cairn_error_set(err, CAIRN_EINVAL, NULL,
                                   "statistics without HLL registers cannot be merged");
        tk_entry *cand = cairn_calloc(b->n_top ? b->n_top : 1, sizeof *cand);
        if (!cand)
            return cairn_error_set(err, CAIRN_ENOMEM, NULL, "out of memory");
        for (size_t i = 0; i < b->n_top; i++)
            cand[i] = (tk_entry){b->top[i].value, NULL, b->top[i].count};
        cairn_status st = topk_merge(a, cand, b->n_top, b->top_complete);
        cairn_free(cand);
        if (st != CAIRN_OK)
            return cairn_error_set(err, st, NULL, "out of memory");
        for (size_t i = 0; i < HLL_M; i++)
            if (b->hll[i] > a->hll[i])
                a->hll[i] = b->hll[i];
        a->count += b->count;
    } else {
        bool ordered = a->count == 0 || b->count == 0 || a->max <= b->min;
        a->sorted = a->sorted && b->sorted && ordered;
        if (b->count) {
            if (a->count == 0 || b->min < a->min)
                a->min = b->min;
            if (a->count == 0 || b->max > a->max)
                a->max = b->max;
        }
        a->count += b->count;
    }
    a->nulls += b->nulls;
    a->finished = false;
    return CAIRN_OK;
}

/* ---- finishing ---------------------------------------------------------------- */

/*
 * The bin rule of stats.h: the number of inner edges e[1..BINS-1] that are
 * <= x. The inner edges are copied into 31 sorted slots padded with +inf, so
 * a branchless binary search of five steps counts them (about 3x faster on
 * the exact-histogram pass than comparing with all 19).
 */
typedef struct bin_finder {
    double e[31];
} bin_finder;

_Static_assert(CAIRN_STATS_HIST_BINS - 1 <= 31, "bin_finder holds the inner edges");

static void bin_finder_init(bin_finder *f, const double *edges)
{
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(f->e); i++)
        f->e[i] = i + 1 < CAIRN_STATS_HIST_BINS ? edges[i + 1] : INFINITY;
}

static inline size_t bin_find(const bin_finder *f, double x)
{
    size_t b = 0;
    b += f->e[b + 15] <= x ? 16 : 0;
    b += f->e[b + 7] <= x ? 8 : 0;
    b += f->e[b + 3] <= x ? 4 : 0;
    b += f->e[b + 1] <= x ? 2 : 0;
    b += f->e[b] <= x ? 1 : 0;
    return b;
}

size_t cairn_colstats_hist_bin(const cairn_colstats *s, double x)
{
    bin_finder f;
    bin_finder_init(&f, s->hist_edges);
    return bin_find(&f, x);
}

/* Exact bin counts from one branchless pass over the column. */
static cairn_status hist_exact(cairn_colstats *s, const cairn_column *c, cairn_error *err)
{
    if (c->type != s->type)
        return cairn_error_set(err, CAIRN_EINVAL, c->name,
                               "histogram of %s statistics over a %s column",
                               cairn_type_name(s->type), cairn_type_name(c->type));
    uint64_t counts[CAIRN_STATS_HIST_BINS] = {0}, seen = 0;
    bin_finder f;
    bin_finder_init(&f, s->hist_edges);
    size_t n = c->n_rows;
    const uint8_t *valid = c->valid;
    switch (c->type) {
    case CAIRN_TYPE_FLOAT64:
        for (size_t r = 0; r < n; r++)
            counts[bin_find(&f, c->v.f64[r])] += valid[r] != 0;
        break;
    case CAIRN_TYPE_INT64:
        for (size_t r = 0; r < n; r++)
            counts[bin_find(&f, (double)c->v.i64[r])] += valid[r] != 0;
        break;
    default:
        for (size_t r = 0; r < n; r++)
            counts[bin_find(&f, c->v.b[r] ? 1.0 : 0.0)] += valid[r] != 0;
        break;
    }
    for (size_t i = 0; i < CAIRN_STATS_HIST_BINS; i++)
        seen += counts[i];
    if (seen != s->count)
        return cairn_error_set(err, CAIRN_EINVAL, c->name,
                               "column has %llu values but its statistics %llu",
                               (unsigned long long)seen, (unsigned long long)s->count);
    memcpy(s->hist_counts, counts, sizeof counts);
    return CAIRN_OK;
}

static cairn_status finish_numbers(cairn_colstats *s, const cairn_column *c, cairn_error *err)
{
    memset(s->quantiles, 0, sizeof s->quantiles);
    memset(s->hist_edges, 0, sizeof s->hist_edges);
    memset(s->hist_counts, 0, sizeof s->hist_counts);
    s->stddev = 0.0;
    s->distinct = 0;
    if (s->count == 0)
        return c ? hist_exact(s, c, err) : CAIRN_OK;
    if (s->min == s->max) {
        s->mean = s->min;
        s->m2 = 0.0;
    } else if (s->mean < s->min) {
        s->mean = s->min; /* rounding can only ever move it by an ulp or so */
    } else if (s->mean > s->max) {
        s->mean = s->max;
    }
    if (s->count >= 2)
        s->stddev = sqrt(s->m2 / (double)(s->count - 1));
    if (s->type == CAIRN_TYPE_BOOL)
        s->distinct = s->min == s->max ? 1 : 2;

    cairn_kll_view view;
    if (cairn_kll_view_build(s->sketch, &view) != CAIRN_OK)
        return cairn_error_set(err, CAIRN_ENOMEM, c ? c->name : NULL, "out of memory");
    for (size_t i = 0; i < CAIRN_STATS_QUANTILES; i++) {
        double q;
        if (i == 0)
            q = s->min;
        else if (i == CAIRN_STATS_QUANTILES - 1)
            q = s->max;
        else
            q = cairn_kll_view_quantile(&view, (double)i / (double)(CAIRN_STATS_QUANTILES - 1));
        s->quantiles[i] = q < s->min ? s->min : q > s->max ? s->max : q;
    }
    size_t step = (CAIRN_STATS_QUANTILES - 1) / CAIRN_STATS_HIST_BINS;
    for (size_t i = 0; i <= CAIRN_STATS_HIST_BINS; i++)
        s->hist_edges[i] = s->quantiles[i * step];
    cairn_status st = CAIRN_OK;
    if (c) {
        st = hist_exact(s, c, err);
    } else {
        /* Read the counts off the sketch: its weights sum to count exactly. */
        bin_finder f;
        bin_finder_init(&f, s->hist_edges);
        for (size_t i = 0; i < view.n; i++)
            s->hist_counts[bin_find(&f, view.v[i])] +=
                view.cum[i] - (i ? view.cum[i - 1] : 0);
    }
    cairn_kll_view_reset(&view);
    return st;
}

cairn_status cairn_colstats_finish(cairn_colstats *s, const cairn_column *c, cairn_error *err)
{
    cairn_status st = CAIRN_OK;
    if (is_number_type(s->type)) {
        if (!s->sketch)
            return s->finished ? CAIRN_OK
                               : cairn_error_set(err, CAIRN_EINVAL, NULL,
                                                 "statistics have no sketch");
        st = finish_numbers(s, c, err);
    } else if (s->type == CAIRN_TYPE_STRING) {
        if (!s->hll)
            return s->finished ? CAIRN_OK
                               : cairn_error_set(err, CAIRN_EINVAL, NULL,
                                                 "statistics have no HLL registers");
        if (s->top_complete) {
            s->distinct = s->n_top;
        } else {
            double e = floor(hll_estimate(s->hll) + 0.5);
            uint64_t d = e >= (double)s->count ? s->count : (uint64_t)e;
            s->distinct = d < s->n_top ? s->n_top : d;
        }
    } else if (s->type != CAIRN_TYPE_TIMESTAMP) {
        return cairn_error_set(err, CAIRN_EINVAL, NULL, "statistics of unknown type");
    }
    if (st == CAIRN_OK)
        s->finished = true;
    return st;
}

double cairn_colstats_quantile(const cairn_colstats *s, double q)
{
    if (!is_number_type(s->type) || s->count == 0 || isnan(q))
        return NAN;
    if (q <= 0.0)
        return s->min;
    if (q >= 1.0)
        return s->max;
    double r;
    if (s->sketch) {
        cairn_kll_view view;
        if (cairn_kll_view_build(s->sketch, &view) != CAIRN_OK)
            return NAN;
        r = cairn_kll_view_quantile(&view, q);
        cairn_kll_view_reset(&view);
    } else if (s->finished) {
        double pos = q * (double)(CAIRN_STATS_QUANTILES - 1);
        size_t i = (size_t)pos;
        if (i >= CAIRN_STATS_QUANTILES - 1)
            return s->max;
        double f = pos - (double)i;
        r = s->quantiles[i] + f * (s->quantiles[i + 1] - s->quantiles[i]);
    } else {
        return NAN;
    }
    return r < s->min ? s->min : r > s->max ? s->max : r;
}

double cairn_colstats_cdf(const cairn_colstats *s, double x)
{
    if (!is_number_type(s->type) || s->count == 0 || isnan(x))
        return NAN;
    if (x < s->min)
        return 0.0;
    if (x >= s->max)
        return 1.0;
    if (s->sketch) {
        cairn_kll_view view;
        if (cairn_kll_view_build(s->sketch, &view) != CAIRN_OK)
            return NAN;
        double f = (double)cairn_kll_view_rank(&view, x) / (double)view.total;
        cairn_kll_view_reset(&view);
        return f;
    }
    if (!s->finished)
        return NAN;
    /* The last percentile <= x, then linear between it and the next. */
    const double *qv = s->quantiles;
    size_t i = 0;
    while (i + 1 < CAIRN_STATS_QUANTILES && qv[i + 1] <= x)
        i++;
    double f = (double)i;
    if (i + 1 < CAIRN_STATS_QUANTILES && qv[i + 1] > qv[i])
        f += (x - qv[i]) / (qv[i + 1] - qv[i]);
    return f / (double)(CAIRN_STATS_QUANTILES - 1);
}

/* ---- the frame driver ------------------------------------------------------------ */

void cairn_frame_stats_free(cairn_colstats *s, size_t n_cols)
{
    if (!s)
        return;
    for (size_t i = 0; i < n_cols; i++)
        cairn_colstats_reset(&s[i]);
    cairn_free(s);
}

static cairn_status column_stats(const cairn_column *c, uint64_t seed, cairn_colstats *s,
                                 cairn_error *err)
{
    cairn_status st = cairn_colstats_init(s, c->type, err);
    if (st != CAIRN_OK)
        return st;
    st = cairn_colstats_add_column(s, c, 0, c->n_rows, seed, err);
    if (st == CAIRN_OK)
        st = cairn_colstats_finish(s, c, err);
    return st;
}

cairn_status cairn_frame_stats(const cairn_frame *f, uint64_t seed, cairn_colstats **out,
                               cairn_error *err)
{
    cairn_status st = CAIRN_OK;
    *out = NULL;
    size_t n_cols = f->n_cols;
    int n_threads = omp_get_max_threads();
    if (n_threads < 1)
        n_threads = 1;
    cairn_colstats *stats = cairn_calloc(n_cols ? n_cols : 1, sizeof *stats);
    cairn_error *errs = cairn_calloc((size_t)n_threads, sizeof *errs);
    size_t *err_col = cairn_calloc((size_t)n_threads, sizeof *err_col);
    if (!stats || !errs || !err_col) {
        st = cairn_error_set(err, CAIRN_ENOMEM, NULL, "out of memory");
        goto done;
    }
    for (int t = 0; t < n_threads; t++)
        err_col[t] = SIZE_MAX;
    int failed = 0;
    /*
     * One column per task; dynamic scheduling because string and number
     * columns cost very differently. Each thread keeps its own error object
     * and remembers its lowest failing column.
     */
#pragma omp parallel for schedule(dynamic) num_threads(n_threads)
    for (size_t i = 0; i < n_cols; i++) {
        int seen;
#pragma omp atomic read
        seen = failed;
        if (seen)
            continue;
        int t = omp_get_thread_num();
        cairn_error e = {0};
        uint64_t col_seed = mix64(seed ^ (0x9e3779b97f4a7c15ull * (uint64_t)(i + 1)));
        if (column_stats(&f->cols[i], col_seed, &stats[i], &e) != CAIRN_OK) {
            if (i < err_col[t]) {
                err_col[t] = i;
                errs[t] = e;
            }
#pragma omp atomic write
            failed = 1;
        }
    }
    if (failed) {
        int best = 0;
        for (int t = 1; t < n_threads; t++)
            if (err_col[t] < err_col[best])
                best = t;
        st = errs[best].code != CAIRN_OK ? errs[best].code : CAIRN_EINTERNAL;
        if (err)
            *err = errs[best];
        goto done;
    }
    *out = stats;
    stats = NULL;
done:
    cairn_frame_stats_free(stats, n_cols);
    cairn_free(errs);
    cairn_free(err_col);
    return st;
}

/* ---- JSON ------------------------------------------------------------------------- */

/* A double that is never NaN or inf in the output. */
static void put_finite(cairn_buf *b, double v)
{
    if (isfinite(v))
        cairn_buf_put_double(b, v);
    else
        cairn_buf_puts(b, "null");
}

void cairn_colstats_to_json(const cairn_colstats *s, cairn_buf *b)
{
    char ts[64];
    cairn_buf_puts(b, "{\"type\":");
    cairn_buf_put_json_string(b, cairn_type_name(s->type), strlen(cairn_type_name(s->type)));
    cairn_buf_printf(b, ",\"count\":%llu,\"nulls\":%llu", (unsigned long long)s->count,
                     (unsigned long long)s->nulls);
    if (is_number_type(s->type)) {
        if (s->count) {
            cairn_buf_puts(b, ",\"min\":");
            put_finite(b, s->min);
            cairn_buf_puts(b, ",\"max\":");
            put_finite(b, s->max);
            cairn_buf_puts(b, ",\"mean\":");
            put_finite(b, s->mean);
        }
        if (s->count && s->finished) {
            cairn_buf_puts(b, ",\"stddev\":");
            put_finite(b, s->stddev);
            cairn_buf_puts(b, ",\"quantiles\":[");
            for (size_t i = 0; i < CAIRN_STATS_QUANTILES; i++) {
                if (i)
                    cairn_buf_putc(b, ',');
                put_finite(b, s->quantiles[i]);
            }
            cairn_buf_puts(b, "],\"histogram\":{\"edges\":[");
            for (size_t i = 0; i <= CAIRN_STATS_HIST_BINS; i++) {
                if (i)
                    cairn_buf_putc(b, ',');
                put_finite(b, s->hist_edges[i]);
            }
            cairn_buf_puts(b, "],\"counts\":[");
            for (size_t i = 0; i < CAIRN_STATS_HIST_BINS; i++)
                cairn_buf_printf(b, "%s%llu", i ? "," : "", (unsigned long long)s->hist_counts[i]);
            cairn_buf_puts(b, "]}");
        }
    } else if (s->type == CAIRN_TYPE_STRING) {
        if (s->finished)
            cairn_buf_printf(b, ",\"distinct\":%llu", (unsigned long long)s->distinct);
        cairn_buf_puts(b, ",\"top\":[");
        size_t n = s->n_top < CAIRN_STATS_TOPK ? s->n_top : CAIRN_STATS_TOPK;
        for (size_t i = 0; i < n; i++) {
            cairn_buf_puts(b, i ? ",{\"value\":" : "{\"value\":");
            cairn_buf_put_json_string(b, s->top[i].value, strlen(s->top[i].value));
            cairn_buf_printf(b, ",\"count\":%llu}", (unsigned long long)s->top[i].count);
        }
        cairn_buf_putc(b, ']');
    } else if (s->type == CAIRN_TYPE_TIMESTAMP) {
        if (s->count) {
            cairn_fmt_timestamp(ts, sizeof ts, (int64_t)s->min);
            cairn_buf_puts(b, ",\"min\":");
            cairn_buf_put_json_string(b, ts, strlen(ts));
            cairn_fmt_timestamp(ts, sizeof ts, (int64_t)s->max);
            cairn_buf_puts(b, ",\"max\":");
            cairn_buf_put_json_string(b, ts, strlen(ts));
        }
        cairn_buf_puts(b, s->sorted ? ",\"sorted\":true" : ",\"sorted\":false");
    }
    cairn_buf_putc(b, '}');
}

/* A non-negative integer that a double holds exactly (<= 2^53). */
static bool json_count(const cJSON *o, const char *name, uint64_t *out)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsNumber(it))
        return false;
    double v = it->valuedouble;
    if (!(v >= 0.0 && v <= 9007199254740992.0) || v != floor(v))
        return false;
    *out = (uint64_t)v;
    return true;
}

static bool json_double(const cJSON *o, const char *name, bool allow_null, double *out)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, name);
    if (allow_null && cJSON_IsNull(it)) {
        *out = NAN;
        return true;
    }
    if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble))
        return false;
    *out = it->valuedouble;
    return true;
}

/* Reads an array of exactly n finite, non-decreasing numbers. */
static bool json_sorted_array(const cJSON *arr, double *out, size_t n)
{
    if (!cJSON_IsArray(arr) || (size_t)cJSON_GetArraySize(arr) != n)
        return false;
    size_t i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble))
            return false;
        out[i] = it->valuedouble;
        if (i > 0 && out[i] < out[i - 1])
            return false;
        i++;
    }
    return true;
}

static bool json_timestamp(const cJSON *o, const char *name, double *out)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, name);
    int64_t us;
    if (!cJSON_IsString(it) ||
        !cairn_parse_timestamp(it->valuestring, strlen(it->valuestring), &us))
        return false;
    *out = (double)us;
    return true;
}

#define CORRUPT(...)                                                                         \
    do {                                                                                     \
        st = cairn_error_set(err, CAIRN_ECORRUPT, "column statistics", __VA_ARGS__);        \
        goto done;                                                                           \
    } while (0)

static cairn_status from_json_numbers(const cJSON *root, cairn_colstats *s, cairn_error *err)
{
    cairn_status st = CAIRN_OK;
    if (s->count == 0)
        goto done;
    if (!json_double(root, "min", false, &s->min) || !json_double(root, "max", false, &s->max) ||
        s->min > s->max)
        CORRUPT("\"min\"/\"max\" missing or not numbers with min <= max");
    if (!json_double(root, "mean", true, &s->mean) ||
        !json_double(root, "stddev", true, &s->stddev))
        CORRUPT("\"mean\"/\"stddev\" missing or not numbers");
    if (s->count >= 2 && isfinite(s->stddev))
        s->m2 = s->stddev * s->stddev * (double)(s->count - 1);
    if (!json_sorted_array(cJSON_GetObjectItemCaseSensitive(root, "quantiles"), s->quantiles,
                           CAIRN_STATS_QUANTILES))
        CORRUPT("\"quantiles\" is not %d non-decreasing numbers", CAIRN_STATS_QUANTILES);
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(root, "histogram");
    if (!cJSON_IsObject(h) ||
        !json_sorted_array(cJSON_GetObjectItemCaseSensitive(h, "edges"), s->hist_edges,
                           CAIRN_STATS_HIST_BINS + 1))
        CORRUPT("\"histogram.edges\" is not %d non-decreasing numbers",
                CAIRN_STATS_HIST_BINS + 1);
    const cJSON *counts = cJSON_GetObjectItemCaseSensitive(h, "counts");
    if (!cJSON_IsArray(counts) || cJSON_GetArraySize(counts) != CAIRN_STATS_HIST_BINS)
        CORRUPT("\"histogram.counts\" is not %d counts", CAIRN_STATS_HIST_BINS);
    uint64_t sum = 0;
    for (int i = 0; i < CAIRN_STATS_HIST_BINS; i++) {
        const cJSON *it = cJSON_GetArrayItem(counts, i);
        double v = cJSON_IsNumber(it) ? it->valuedouble : -1.0;
        if (!(v >= 0.0 && v <= 9007199254740992.0) || v != floor(v))
            CORRUPT("\"histogram.counts\" holds a value that is not a count");
        s->hist_counts[i] = (uint64_t)v;
        sum += s->hist_counts[i];
    }
    if (sum != s->count)
        CORRUPT("histogram counts sum to %llu, not count %llu", (unsigned long long)sum,
                (unsigned long long)s->count);
    if (s->type == CAIRN_TYPE_BOOL)
        s->distinct = s->min == s->max ? 1 : 2;
done:
    return st;
}

static cairn_status from_json_strings(const cJSON *root, cairn_colstats *s, cairn_error *err)
{
    cairn_status st = CAIRN_OK;
    if (!json_count(root, "distinct", &s->distinct))
        CORRUPT("\"distinct\" missing or not a count");
    const cJSON *top = cJSON_GetObjectItemCaseSensitive(root, "top");
    if (!cJSON_IsArray(top))
        CORRUPT("\"top\" missing or not an array");
    size_t n = (size_t)cJSON_GetArraySize(top);
    if (n > CAIRN_STATS_TOPK_TRACK)
        CORRUPT("\"top\" has more than %d items", CAIRN_STATS_TOPK_TRACK);
    s->top = cairn_calloc(n ? n : 1, sizeof *s->top);
    if (!s->top) {
        st = cairn_error_set(err, CAIRN_ENOMEM, NULL, "out of memory");
        goto done;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, top)
    {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(it, "value");
        uint64_t count;
        if (!cJSON_IsObject(it) || !cJSON_IsString(v) || !json_count(it, "count", &count))
            CORRUPT("\"top\" item %zu is not {\"value\": string, \"count\": count}",
                    s->n_top + 1);
        s->top[s->n_top].value = cairn_strdup(v->valuestring);
        if (!s->top[s->n_top].value) {
            st = cairn_error_set(err, CAIRN_ENOMEM, NULL, "out of memory");
            goto done;
        }
        s->top[s->n_top++].count = count;
    }
    s->top_complete = false;
done:
    return st;
}

cairn_status cairn_colstats_from_json(const char *json, size_t len, cairn_colstats *out,
                                      cairn_error *err)
{
    cairn_status st = CAIRN_OK;
    cairn_colstats s;
    memset(&s, 0, sizeof s);
    memset(out, 0, sizeof *out);
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root || !cJSON_IsObject(root))
        CORRUPT("not a JSON object");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(root, "type");
    if (!cJSON_IsString(type))
        CORRUPT("\"type\" missing");
    s.type = cairn_type_parse(type->valuestring);
    if (s.type == CAIRN_TYPE_NONE)
        CORRUPT("unknown type \"%.64s\"", type->valuestring);
    if (!json_count(root, "count", &s.count) || !json_count(root, "nulls", &s.nulls))
        CORRUPT("\"count\"/\"nulls\" missing or not counts");
    s.sorted = true;
    if (is_number_type(s.type)) {
        st = from_json_numbers(root, &s, err);
    } else if (s.type == CAIRN_TYPE_STRING) {
        st = from_json_strings(root, &s, err);
    } else {
        const cJSON *sorted = cJSON_GetObjectItemCaseSensitive(root, "sorted");
        if (!cJSON_IsBool(sorted))
            CORRUPT("\"sorted\" missing or not a boolean");
        s.sorted = cJSON_IsTrue(sorted);
        if (s.count && (!json_timestamp(root, "min", &s.min) ||
                        !json_timestamp(root, "max", &s.max) || s.min > s.max))
            CORRUPT("\"min\"/\"max\" missing or not ISO 8601 times with min <= max");
    }
    if (st != CAIRN_OK)
        goto done;
    s.finished = true;
    *out = s;
    memset(&s, 0, sizeof s);
done:
    cairn_colstats_reset(&s);
    cJSON_Delete(root);
    return st;
}
