/*
 * stats_int.h -- private types of the statistics module: the KLL quantile
 * sketch behind cairn_colstats.sketch and its sorted, weighted view.
 *
 * Only stats.c and the module's unit tests include this file; other modules
 * see the sketch as the opaque cairn_kll of stats.h and use the cairn_colstats
 * functions.
 *
 * Layout of the sketch (Karnin, Lang, Liberty, "Optimal quantile
 * approximation in streams", FOCS 2016, with the lazy compaction schedule of
 * Apache DataSketches): level h holds items of weight 2^h.
 *  - Level 0 is a raw, unsorted buffer of up to CAIRN_KLL_BUF0 values of
 *    weight 1. Updates append to it (amortised O(1)); a full buffer is
 *    radix-sorted once and compacted into level 1 before the next value
 *    goes in. A level-0 buffer larger
 *    than the KLL level capacities only lowers the error: each compaction
 *    adds at most one unit of its level's weight to any rank, so fewer,
 *    larger level-0 compactions mean less error, not more.
 *  - Levels 1..n_levels are kept sorted, so compacting them and merging
 *    into the next level is linear.
 *  - The capacity of level h (1 <= h <= L = n_levels) is
 *    max(CAIRN_KLL_MIN_WIDTH, ceil(k (2/3)^(L-h))), computed in integers.
 *    When the levels hold more than the sum of their capacities, the lowest
 *    level at or over its capacity is compacted: sorted items at even or odd
 *    positions (a fair coin from the sketch's splitmix64 generator) move up
 *    with double weight; an odd item out stays behind.
 * The total weight always equals n, the number of values added.
 */
#ifndef CAIRN_DATA_STATS_INT_H
#define CAIRN_DATA_STATS_INT_H

#include "data/stats.h"

#define CAIRN_KLL_K 400          /* capacity of the top level (the KLL accuracy parameter) */
#define CAIRN_KLL_MIN_WIDTH 8    /* smallest capacity of a compacted level */
#define CAIRN_KLL_BUF0 4096      /* level-0 buffer: values sorted per compaction */
#define CAIRN_KLL_MAX_LEVELS 62  /* weights up to 2^62 */

typedef struct cairn_kll_level {
    double *items; /* sorted ascending */
    size_t n, cap;
} cairn_kll_level;

struct cairn_kll {
    uint32_t k;
    uint64_t n;          /* total weight = values added */
    uint64_t rng;        /* splitmix64 state for the compaction coins */
    double *buf0;        /* level 0, unsorted, weight 1 */
    size_t n0, cap0;
    uint64_t *keys;      /* radix-sort scratch: 2 * CAIRN_KLL_BUF0 keys, allocated on first use */
    unsigned n_levels;   /* levels 1..n_levels exist */
    cairn_kll_level lv[CAIRN_KLL_MAX_LEVELS + 2]; /* lv[0] unused */
};

/* A sorted view of a sketch: values ascending with cumulative weights. */
typedef struct cairn_kll_view {
    double *v;
    uint64_t *cum;  /* cum[i] = total weight of v[0..i] */
    size_t n;
    uint64_t total; /* == cum[n-1] == sketch n */
} cairn_kll_view;

/* New empty sketch with top-level capacity k (>= 8). Errors: CAIRN_ENOMEM, CAIRN_EINVAL. */
cairn_status cairn_kll_new(uint32_t k, cairn_kll **out);
void cairn_kll_free(cairn_kll *s);
/* Mixes seed into the coin generator (same seeds and inputs give the same sketch). */
void cairn_kll_seed(cairn_kll *s, uint64_t seed);
/* Adds one value (must not be NaN). Errors: CAIRN_ENOMEM. */
cairn_status cairn_kll_update(cairn_kll *s, double v);
/*
 * Merges b into a (a != b). Errors: CAIRN_EINVAL, CAIRN_ENOMEM (a is then a
 * valid sketch holding a part of b, its n counting exactly that part).
 */
cairn_status cairn_kll_merge(cairn_kll *a, const cairn_kll *b);
/* Number of values the sketch stores (its memory use in doubles). */
size_t cairn_kll_retained(const cairn_kll *s);
/* Builds the sorted view (caller resets it). Errors: CAIRN_ENOMEM. */
cairn_status cairn_kll_view_build(const cairn_kll *s, cairn_kll_view *out);
void cairn_kll_view_reset(cairn_kll_view *v);
/* Smallest stored value whose cumulative weight reaches q * total; NaN when empty. */
double cairn_kll_view_quantile(const cairn_kll_view *v, double q);
/* Estimated number of values <= x. */
uint64_t cairn_kll_view_rank(const cairn_kll_view *v, double x);

#endif /* CAIRN_DATA_STATS_INT_H */
