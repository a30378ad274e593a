/*
 * test_stats.c -- column statistics (src/data/stats.c) against simple second
 * methods on generated data.
 *
 * The reference for every check is computed here independently: exact
 * quantile ranks from a sorted copy, two-pass mean and variance, exact
 * category counts and distinct values from sorting the strings, histogram
 * counts by scanning the edges linearly. Checked: numbers (normal,
 * lognormal, uniform integers, heavy duplicates, a mostly constant and a
 * constant column, bools), empty and all-null columns of every type,
 * strings (top-k order and counts, exact and HLL distinct), timestamps
 * (range, sortedness), the merge property (halves and many parts merged ==
 * the whole), determinism per seed and thread count, JSON round trip and
 * rejection of corrupt JSON, the sketch's invariants, argument errors and
 * allocation failures.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "data/stats_int.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ------------------------------------------------------------------ */

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t rng_next(rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double rng_u01(rng *r) { return (double)(rng_next(r) >> 11) * 0x1p-53; }

static double rng_normal(rng *r)
{
    double u = rng_u01(r), v = rng_u01(r);
    return sqrt(-2.0 * log(u + 0x1p-60)) * cos(6.283185307179586 * v);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Number of sorted values < v (lt) and <= v (le). */
static void exact_ranks(const double *sorted, size_t n, double v, size_t *lt, size_t *le)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t m = lo + (hi - lo) / 2;
        if (sorted[m] < v)
            lo = m + 1;
        else
            hi = m;
    }
    *lt = lo;
    hi = n;
    while (lo < hi) {
        size_t m = lo + (hi - lo) / 2;
        if (sorted[m] <= v)
            lo = m + 1;
        else
            hi = m;
    }
    *le = lo;
}

/* Distance of q from the fraction of values ranked at v ([lt/n, le/n]). */
static double rank_error(const double *sorted, size_t n, double q, double v)
{
    size_t lt, le;
    exact_ranks(sorted, n, v, &lt, &le);
    double r = q * (double)n;
    if (r < (double)lt)
        return ((double)lt - r) / (double)n;
    if (r > (double)le)
        return (r - (double)le) / (double)n;
    return 0.0;
}

static void assert_rel(double got, double want, double tol)
{
    double scale = fabs(want) > 1.0 ? fabs(want) : 1.0;
    if (!(fabs(got - want) <= tol * scale))
        fail_msg("got %.17g, want %.17g (rel tol %g)", got, want, tol);
}

/* The reference for one number column: its valid values, sorted. */
typedef struct ref_nums {
    double *sorted;
    size_t n, nulls;
    double mean, var; /* two-pass */
} ref_nums;

static double column_value(const cairn_column *c, size_t r)
{
    switch (c->type) {
    case CAIRN_TYPE_BOOL: return c->v.b[r] ? 1.0 : 0.0;
    case CAIRN_TYPE_INT64:
    case CAIRN_TYPE_TIMESTAMP: return (double)c->v.i64[r];
    default: return c->v.f64[r];
    }
}

static void ref_nums_init(ref_nums *ref, const cairn_column *c, size_t begin, size_t end)
{
    memset(ref, 0, sizeof *ref);
    ref->sorted = malloc((end - begin + 1) * sizeof(double));
    assert_non_null(ref->sorted);
    for (size_t r = begin; r < end; r++) {
        if (c->valid[r])
            ref->sorted[ref->n++] = column_value(c, r);
        else
            ref->nulls++;
    }
    qsort(ref->sorted, ref->n, sizeof(double), cmp_double);
    double sum = 0.0;
    for (size_t i = 0; i < ref->n; i++)
        sum += ref->sorted[i];
    ref->mean = ref->n ? sum / (double)ref->n : 0.0;
    double ss = 0.0;
    for (size_t i = 0; i < ref->n; i++)
        ss += (ref->sorted[i] - ref->mean) * (ref->sorted[i] - ref->mean);
    ref->var = ref->n > 1 ? ss / (double)(ref->n - 1) : 0.0;
}

static void ref_nums_free(ref_nums *ref) { free(ref->sorted); }

/* Bin of x by a linear scan: the last edge <= x among edges[0..19], else 0. */
static size_t ref_bin(const double *edges, double x)
{
    size_t b = 0;
    for (size_t i = 0; i < CAIRN_STATS_HIST_BINS; i++)
        if (edges[i] <= x)
            b = i;
    return b;
}

/* Checks finished number statistics against the reference. */
static void check_numbers(const cairn_colstats *s, const ref_nums *ref, bool exact_hist)
{
    assert_true(s->finished);
    assert_int_equal(s->count, ref->n);
    assert_int_equal(s->nulls, ref->nulls);
    if (ref->n == 0)
        return;
    size_t n = ref->n;
    assert_true(s->min == ref->sorted[0]);
    assert_true(s->max == ref->sorted[n - 1]);
    assert_rel(s->mean, ref->mean, 1e-9);
    assert_rel(s->stddev, sqrt(ref->var), 1e-9);
    if (ref->sorted[0] == ref->sorted[n - 1])
        assert_true(s->stddev == 0.0 && s->mean == ref->sorted[0]);
    /* Percentiles: q0 and q100 exact, the rest within 1% in rank. */
    assert_true(s->quantiles[0] == s->min);
    assert_true(s->quantiles[CAIRN_STATS_QUANTILES - 1] == s->max);
    double worst = 0.0;
    for (int i = 1; i < CAIRN_STATS_QUANTILES - 1; i++) {
        double q = i / 100.0;
        assert_true(s->quantiles[i] >= s->quantiles[i - 1]);
        double e = rank_error(ref->sorted, n, q, s->quantiles[i]);
        double e2 = rank_error(ref->sorted, n, q, cairn_colstats_quantile(s, q));
        if (e > worst)
            worst = e;
        if (e2 > worst)
            worst = e2;
    }
    if (!(worst < 0.01))
        fail_msg("max rank error %g", worst);
    /* Histogram: edges are the 5% quantiles; counts sum to count. */
    uint64_t sum = 0, want[CAIRN_STATS_HIST_BINS] = {0};
    for (int i = 0; i <= CAIRN_STATS_HIST_BINS; i++)
        assert_true(s->hist_edges[i] == s->quantiles[5 * i]);
    for (int i = 0; i < CAIRN_STATS_HIST_BINS; i++)
        sum += s->hist_counts[i];
    assert_int_equal(sum, n);
    for (size_t i = 0; i < n; i++)
        want[ref_bin(s->hist_edges, ref->sorted[i])]++;
    for (int i = 0; i < CAIRN_STATS_HIST_BINS; i++) {
        if (exact_hist) {
            assert_int_equal(s->hist_counts[i], want[i]);
        } else {
            /* From the sketch: each bin within the rank error of both its edges. */
            double d = fabs((double)s->hist_counts[i] - (double)want[i]) / (double)n;
            if (!(d < 0.02))
                fail_msg("bin %d: %llu vs exact %llu", i, (unsigned long long)s->hist_counts[i],
                         (unsigned long long)want[i]);
        }
        /* A bin of zero width is empty (the documented dedup rule). */
        if (i < CAIRN_STATS_HIST_BINS - 1 && s->hist_edges[i] == s->hist_edges[i + 1])
            assert_int_equal(s->hist_counts[i], 0);
    }
    /* The CDF matches the exact one within the rank error. */
    for (int i = 1; i < 20; i++) {
        double x = ref->sorted[(size_t)((double)n * i / 20.0)];
        size_t lt, le;
        exact_ranks(ref->sorted, n, x, &lt, &le);
        double f = cairn_colstats_cdf(s, x);
        assert_true(fabs(f - (double)le / (double)n) < 0.01);
    }
}

enum dist { D_NORMAL, D_LOGNORMAL, D_UNIFORM_INT, D_DUPLICATES, D_MOSTLY_CONST, D_CONST, D_BOOL };

/* A column of n rows of distribution d with about null_pct % nulls. */
static cairn_column make_column(enum dist d, size_t n, unsigned null_pct, uint64_t seed)
{
    cairn_column c;
    memset(&c, 0, sizeof c);
    cairn_type t = d == D_UNIFORM_INT ? CAIRN_TYPE_INT64
                   : d == D_BOOL      ? CAIRN_TYPE_BOOL
                                      : CAIRN_TYPE_FLOAT64;
    assert_int_equal(cairn_column_alloc(&c, "x", t, n, NULL), CAIRN_OK);
    rng r = {seed};
    for (size_t i = 0; i < n; i++) {
        c.valid[i] = rng_next(&r) % 100 >= null_pct;
        if (!c.valid[i])
            continue;
        switch (d) {
        case D_NORMAL: c.v.f64[i] = 50.0 + 10.0 * rng_normal(&r); break;
        case D_LOGNORMAL: c.v.f64[i] = exp(2.0 * rng_normal(&r)); break;
        case D_UNIFORM_INT: c.v.i64[i] = (int64_t)(rng_next(&r) % 2001) - 1000; break;
        case D_DUPLICATES: c.v.f64[i] = floor(fabs(3.0 * rng_normal(&r))) * 0.25; break;
        case D_MOSTLY_CONST:
            c.v.f64[i] = rng_next(&r) % 10 < 9 ? 7.5 : 7.5 + rng_u01(&r);
            break;
        case D_CONST: c.v.f64[i] = 0.1; break;
        case D_BOOL: c.v.b[i] = rng_next(&r) % 3 == 0; break;
        }
    }
    return c;
}

static void stats_of(const cairn_column *c, size_t begin, size_t end, uint64_t seed,
                     cairn_colstats *s)
{
    cairn_error err = {0};
    assert_int_equal(cairn_colstats_init(s, c->type, &err), CAIRN_OK);
    if (cairn_colstats_add_column(s, c, begin, end, seed, &err) != CAIRN_OK)
        fail_msg("add_column: %s", err.msg);
}

/* ---- numbers ------------------------------------------------------------------- */

static void test_numbers_vs_exact(void **state)
{
    (void)state;
    struct {
        enum dist d;
        size_t n;
    } cases[] = {
        {D_NORMAL, 1000000},   {D_LOGNORMAL, 1000000}, {D_UNIFORM_INT, 1000000},
        {D_DUPLICATES, 300000}, {D_MOSTLY_CONST, 200000}, {D_CONST, 50000},
        {D_BOOL, 100000},      {D_NORMAL, 3000}, /* below one level-0 buffer: exact */
    };
    for (size_t k = 0; k < CAIRN_ARRAY_LEN(cases); k++) {
        cairn_column c = make_column(cases[k].d, cases[k].n, 2, 100 + k);
        ref_nums ref;
        ref_nums_init(&ref, &c, 0, c.n_rows);
        for (int exact = 0; exact <= 1; exact++) {
            cairn_colstats s;
            cairn_error err = {0};
            stats_of(&c, 0, c.n_rows, 7, &s);
            assert_int_equal(cairn_colstats_finish(&s, exact ? &c : NULL, &err), CAIRN_OK);
            check_numbers(&s, &ref, exact);
            if (cases[k].d == D_BOOL)
                assert_int_equal(s.distinct, 2);
            if (cases[k].n < CAIRN_KLL_BUF0) {
                /* Nothing compacted yet: every percentile is an exact order statistic. */
                for (int i = 1; i < 100; i++) {
                    size_t rank = (size_t)ceil(i / 100.0 * (double)ref.n);
                    assert_true(s.quantiles[i] == ref.sorted[rank ? rank - 1 : 0]);
                }
            }
            cairn_colstats_reset(&s);
        }
        ref_nums_free(&ref);
        cairn_column_reset(&c);
    }
}

static void test_mostly_constant_histogram(void **state)
{
    (void)state;
    /* 90% equal values: most edges coincide, their bins are empty, and the
     * constant's mass sits in the bin that starts at the last copy. */
    cairn_column c = make_column(D_MOSTLY_CONST, 20000, 0, 5);
    cairn_colstats s;
    stats_of(&c, 0, c.n_rows, 1, &s);
    assert_int_equal(cairn_colstats_finish(&s, &c, NULL), CAIRN_OK);
    size_t last = 0, n_const = 0;
    for (size_t i = 0; i <= CAIRN_STATS_HIST_BINS; i++)
        if (s.hist_edges[i] == 7.5)
            last = i;
    for (size_t r = 0; r < c.n_rows; r++)
        n_const += c.v.f64[r] == 7.5;
    assert_true(last >= 15 && last < CAIRN_STATS_HIST_BINS);
    assert_true(s.hist_counts[last] >= n_const);
    for (size_t i = 0; i < last; i++)
        assert_int_equal(s.hist_counts[i], 0);
    assert_int_equal(cairn_colstats_hist_bin(&s, 7.5), last);
    assert_int_equal(cairn_colstats_hist_bin(&s, -1e9), 0);
    assert_int_equal(cairn_colstats_hist_bin(&s, 1e9), CAIRN_STATS_HIST_BINS - 1);
    cairn_colstats_reset(&s);
    cairn_column_reset(&c);

    /* A constant column: every edge equal, everything in the last bin. */
    c = make_column(D_CONST, 1000, 0, 6);
    stats_of(&c, 0, c.n_rows, 1, &s);
    assert_int_equal(cairn_colstats_finish(&s, NULL, NULL), CAIRN_OK);
    assert_int_equal(s.hist_counts[CAIRN_STATS_HIST_BINS - 1], 1000);
    assert_true(s.stddev == 0.0 && s.mean == 0.1 && s.min == 0.1 && s.max == 0.1);
    cairn_colstats_reset(&s);
    cairn_column_reset(&c);
}

static void test_empty_and_all_null(void **state)
{
    (void)state;
    cairn_type types[] = {CAIRN_TYPE_BOOL, CAIRN_TYPE_INT64, CAIRN_TYPE_FLOAT64,
                          CAIRN_TYPE_TIMESTAMP, CAIRN_TYPE_STRING};
    for (size_t t = 0; t < CAIRN_ARRAY_LEN(types); t++) {
        for (size_t rows = 0; rows <= 1000; rows += 1000) {
            cairn_column c;
            memset(&c, 0, sizeof c);
            assert_int_equal(cairn_column_alloc(&c, "e", types[t], rows, NULL), CAIRN_OK);
            cairn_colstats s;
            stats_of(&c, 0, rows, 3, &s);
            assert_int_equal(cairn_colstats_finish(&s, &c, NULL), CAIRN_OK);
            assert_int_equal(s.count, 0);
            assert_int_equal(s.nulls, rows);
            assert_int_equal(s.distinct, 0);
            assert_true(isnan(cairn_colstats_quantile(&s, 0.5)));
            cairn_buf b;
            cairn_buf_init(&b);
            cairn_colstats_to_json(&s, &b);
            assert_false(b.failed);
            assert_null(strstr(b.data, "\"min\""));
            assert_null(strstr(b.data, "\"mean\""));
            assert_null(strstr(b.data, "quantiles"));
            assert_null(strstr(b.data, "nan"));
            assert_non_null(strstr(b.data, "\"count\":0"));
            cairn_colstats back;
            assert_int_equal(cairn_colstats_from_json(b.data, b.len, &back, NULL), CAIRN_OK);
            assert_int_equal(back.count, 0);
            assert_int_equal(back.nulls, rows);
            assert_int_equal(back.type, types[t]);
            cairn_colstats_reset(&back);
            cairn_buf_reset(&b);
            cairn_colstats_reset(&s);
            cairn_column_reset(&c);
        }
    }
}

/* ---- merge property ----------------------------------------------------------------- */

static void test_merge_numbers(void **state)
{
    (void)state;
    enum dist ds[] = {D_NORMAL, D_LOGNORMAL, D_UNIFORM_INT, D_DUPLICATES};
    for (size_t k = 0; k < CAIRN_ARRAY_LEN(ds); k++) {
        size_t n = 400000;
        cairn_column c = make_column(ds[k], n, 3, 200 + k);
        ref_nums ref;
        ref_nums_init(&ref, &c, 0, n);
        cairn_colstats whole, a, b;
        cairn_error err = {0};
        stats_of(&c, 0, n, 11, &whole);
        stats_of(&c, 0, n / 3, 12, &a);
        stats_of(&c, n / 3, n, 13, &b);
        assert_int_equal(cairn_colstats_merge(&a, &b, &err), CAIRN_OK);
        assert_int_equal(cairn_colstats_finish(&whole, &c, &err), CAIRN_OK);
        assert_int_equal(cairn_colstats_finish(&a, &c, &err), CAIRN_OK);
        assert_int_equal(a.count, whole.count);
        assert_int_equal(a.nulls, whole.nulls);
        assert_true(a.min == whole.min && a.max == whole.max);
        assert_rel(a.mean, whole.mean, 1e-9);
        assert_rel(a.m2, whole.m2, 1e-9);
        assert_int_equal(a.sketch->n, whole.count);
        check_numbers(&a, &ref, true);
        cairn_colstats_reset(&a);
        cairn_colstats_reset(&b);

        /* Many small parts (some empty), merged left to right. */
        cairn_colstats acc;
        assert_int_equal(cairn_colstats_init(&acc, c.type, NULL), CAIRN_OK);
        for (size_t p = 0; p < 64; p++) {
            size_t lo = n * p / 64, hi = n * (p + 1) / 64;
            if (p % 16 == 5)
                hi = lo; /* an empty part */
            cairn_colstats part;
            stats_of(&c, lo, hi, 1000 + p, &part);
            assert_int_equal(cairn_colstats_merge(&acc, &part, NULL), CAIRN_OK);
            cairn_colstats_reset(&part);
        }
        /* Add back the rows of the empty parts, so acc covers the column. */
        for (size_t p = 5; p < 64; p += 16) {
            size_t lo = n * p / 64, hi = n * (p + 1) / 64;
            assert_int_equal(cairn_colstats_add_column(&acc, &c, lo, hi, 77, NULL), CAIRN_OK);
        }
        assert_int_equal(cairn_colstats_finish(&acc, NULL, NULL), CAIRN_OK);
        assert_rel(acc.mean, whole.mean, 1e-9);
        assert_rel(acc.stddev, whole.stddev, 1e-9);
        check_numbers(&acc, &ref, false);
        cairn_colstats_reset(&acc);
        cairn_colstats_reset(&whole);
        ref_nums_free(&ref);
        cairn_column_reset(&c);
    }
}

/* Strings: codes drawn from a skewed distribution over n_keys keys. */
static cairn_column make_strings(size_t n, size_t n_keys, unsigned null_pct, uint64_t seed)
{
    cairn_column c;
    memset(&c, 0, sizeof c);
    assert_int_equal(cairn_column_alloc(&c, "s", CAIRN_TYPE_STRING, n, NULL), CAIRN_OK);
    rng r = {seed};
    for (size_t i = 0; i < n; i++) {
        c.valid[i] = rng_next(&r) % 100 >= null_pct;
        if (!c.valid[i])
            continue;
        /* Skewed: the square of a uniform picks low keys more often. */
        double u = rng_u01(&r);
        size_t key = (size_t)(u * u * (double)n_keys);
        char buf[64];
        /* Some keys with quotes, backslashes, UTF-8 and control bytes for JSON. */
        int len = key % 7 == 3 ? snprintf(buf, sizeof buf, "k\"%zu\\\xc3\xa9\n", key)
                               : snprintf(buf, sizeof buf, "key%zu", key);
        uint32_t code;
        assert_int_equal(cairn_dict_intern(&c.dict, buf, (size_t)len, &code), CAIRN_OK);
        c.v.codes[i] = code;
    }
    return c;
}

typedef struct ref_key {
    const char *value;
    uint64_t count;
} ref_key;

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_ref_rank(const void *pa, const void *pb)
{
    const ref_key *a = pa, *b = pb;
    if (a->count != b->count)
        return a->count > b->count ? -1 : 1;
    return strcmp(a->value, b->value);
}

/* Exact counts by sorting the values of the valid rows; returns the key count. */
static size_t ref_strings(const cairn_column *c, size_t begin, size_t end, ref_key **out)
{
    const char **v = malloc((end - begin + 1) * sizeof *v);
    ref_key *keys = malloc((end - begin + 1) * sizeof *keys);
    assert_non_null(v);
    assert_non_null(keys);
    size_t n = 0, m = 0;
    for (size_t r = begin; r < end; r++)
        if (c->valid[r])
            v[n++] = cairn_dict_str(&c->dict, c->v.codes[r]);
    qsort(v, n, sizeof *v, cmp_str_ptr);
    for (size_t i = 0; i < n; i++) {
        if (m && strcmp(keys[m - 1].value, v[i]) == 0)
            keys[m - 1].count++;
        else
            keys[m++] = (ref_key){v[i], 1};
    }
    free(v);
    qsort(keys, m, sizeof *keys, cmp_ref_rank);
    *out = keys;
    return m;
}

static int cmp_ref_value(const void *pa, const void *pb)
{
    return strcmp(((const ref_key *)pa)->value, ((const ref_key *)pb)->value);
}

/* Count of value in keys sorted by value (0 when absent). */
static uint64_t ref_count(const ref_key *keys, size_t m, const char *value)
{
    ref_key k = {value, 0};
    const ref_key *hit = bsearch(&k, keys, m, sizeof *keys, cmp_ref_value);
    return hit ? hit->count : 0;
}

static void check_top(const cairn_colstats *s, const ref_key *keys, size_t m)
{
    size_t want = m < CAIRN_STATS_TOPK_TRACK ? m : CAIRN_STATS_TOPK_TRACK;
    assert_int_equal(s->n_top, want);
    for (size_t i = 0; i < want; i++) {
        assert_string_equal(s->top[i].value, keys[i].value);
        assert_int_equal(s->top[i].count, keys[i].count);
    }
}

static void test_strings(void **state)
{
    (void)state;
    /* Few keys: top-k complete and exact, distinct exact. */
    cairn_column c = make_strings(200000, 300, 4, 9);
    ref_key *keys;
    size_t m = ref_strings(&c, 0, c.n_rows, &keys);
    cairn_colstats s;
    stats_of(&c, 0, c.n_rows, 0, &s);
    assert_int_equal(cairn_colstats_finish(&s, &c, NULL), CAIRN_OK);
    assert_true(s.top_complete);
    assert_int_equal(s.distinct, m);
    check_top(&s, keys, m);
    uint64_t valid = 0;
    for (size_t r = 0; r < c.n_rows; r++)
        valid += c.valid[r];
    assert_int_equal(s.count, valid);
    assert_int_equal(s.nulls, c.n_rows - valid);

    /* Streaming the same strings one by one gives the same summary. */
    cairn_colstats t;
    assert_int_equal(cairn_colstats_init(&t, CAIRN_TYPE_STRING, NULL), CAIRN_OK);
    for (size_t r = 0; r < c.n_rows; r++) {
        if (!c.valid[r]) {
            cairn_colstats_add_null(&t);
            continue;
        }
        uint32_t code = c.v.codes[r];
        assert_int_equal(cairn_colstats_add_string(&t, cairn_dict_str(&c.dict, code),
                                                   cairn_dict_len(&c.dict, code)),
                         CAIRN_OK);
    }
    assert_int_equal(cairn_colstats_finish(&t, NULL, NULL), CAIRN_OK);
    check_top(&t, keys, m);
    assert_int_equal(t.distinct, m);
    assert_int_equal(t.nulls, s.nulls);
    assert_memory_equal(t.hll, s.hll, 1u << CAIRN_HLL_P);
    cairn_colstats_reset(&t);
    cairn_colstats_reset(&s);
    free(keys);
    cairn_column_reset(&c);

    /* Many keys: HLL within 3%, top TRACK exact from a single pass. */
    c = make_strings(300000, 60000, 1, 10);
    m = ref_strings(&c, 0, c.n_rows, &keys);
    stats_of(&c, 0, c.n_rows, 0, &s);
    assert_int_equal(cairn_colstats_finish(&s, &c, NULL), CAIRN_OK);
    assert_false(s.top_complete);
    check_top(&s, keys, m);
    if (!(fabs((double)s.distinct - (double)m) < 0.03 * (double)m))
        fail_msg("distinct %llu vs exact %zu", (unsigned long long)s.distinct, m);
    cairn_colstats_reset(&s);
    free(keys);
    cairn_column_reset(&c);

    /* All distinct (an ID column): every count 1, ties by value ascending. */
    c = make_strings(0, 1, 0, 1);
    cairn_column_reset(&c);
    assert_int_equal(cairn_column_alloc(&c, "id", CAIRN_TYPE_STRING, 5000, NULL), CAIRN_OK);
    for (size_t r = 0; r < 5000; r++) {
        char buf[32];
        int len = snprintf(buf, sizeof buf, "%05zu-ID", (r * 7919) % 5000);
        c.valid[r] = 1;
        assert_int_equal(cairn_dict_intern(&c.dict, buf, (size_t)len, &c.v.codes[r]), CAIRN_OK);
    }
    m = ref_strings(&c, 0, c.n_rows, &keys);
    stats_of(&c, 0, c.n_rows, 0, &s);
    assert_int_equal(cairn_colstats_finish(&s, &c, NULL), CAIRN_OK);
    check_top(&s, keys, m);
    assert_string_equal(s.top[0].value, "00000-ID");
    assert_true(fabs((double)s.distinct - 5000.0) < 150.0);
    cairn_colstats_reset(&s);
    free(keys);
    cairn_column_reset(&c);
}

static void test_merge_strings(void **state)
{
    (void)state;
    /* Few keys: halves merged == whole exactly (top-k, counts, HLL registers). */
    cairn_column c = make_strings(100000, 500, 3, 21);
    ref_key *keys;
    size_t m = ref_strings(&c, 0, c.n_rows, &keys);
    cairn_colstats whole, a, b;
    stats_of(&c, 0, c.n_rows, 0, &whole);
    stats_of(&c, 0, 40000, 0, &a);
    stats_of(&c, 40000, c.n_rows, 0, &b);
    assert_int_equal(cairn_colstats_merge(&a, &b, NULL), CAIRN_OK);
    assert_int_equal(cairn_colstats_finish(&a, NULL, NULL), CAIRN_OK);
    assert_int_equal(cairn_colstats_finish(&whole, NULL, NULL), CAIRN_OK);
    assert_int_equal(a.count, whole.count);
    assert_int_equal(a.nulls, whole.nulls);
    assert_memory_equal(a.hll, whole.hll, 1u << CAIRN_HLL_P);
    assert_true(a.top_complete);
    assert_int_equal(a.distinct, m);
    check_top(&a, keys, m);
    cairn_colstats_reset(&a);
    cairn_colstats_reset(&b);
    cairn_colstats_reset(&whole);
    free(keys);
    cairn_column_reset(&c);

    /* Many keys: HLL within 3%. A key strictly above the cut (the last kept
     * count) of both halves has its exact count; every kept count is a lower
     * bound, short by at most the two cuts. */
    c = make_strings(200000, 40000, 0, 22);
    m = ref_strings(&c, 0, c.n_rows, &keys);
    ref_key *ka, *kb;
    size_t ma = ref_strings(&c, 0, 100000, &ka), mb = ref_strings(&c, 100000, c.n_rows, &kb);
    stats_of(&c, 0, 100000, 0, &a);
    stats_of(&c, 100000, c.n_rows, 0, &b);
    uint64_t cut_a = a.top[a.n_top - 1].count, cut_b = b.top[b.n_top - 1].count;
    assert_int_equal(cairn_colstats_merge(&a, &b, NULL), CAIRN_OK);
    assert_int_equal(cairn_colstats_finish(&a, NULL, NULL), CAIRN_OK);
    assert_false(a.top_complete);
    assert_int_equal(a.n_top, CAIRN_STATS_TOPK_TRACK);
    assert_true(fabs((double)a.distinct - (double)m) < 0.03 * (double)m);
    qsort(keys, m, sizeof *keys, cmp_ref_value);
    qsort(ka, ma, sizeof *ka, cmp_ref_value);
    qsort(kb, mb, sizeof *kb, cmp_ref_value);
    size_t exact = 0;
    for (size_t i = 0; i < a.n_top; i++) {
        uint64_t all = ref_count(keys, m, a.top[i].value);
        uint64_t in_a = ref_count(ka, ma, a.top[i].value), in_b = ref_count(kb, mb, a.top[i].value);
        assert_true(a.top[i].count <= all && a.top[i].count + cut_a + cut_b >= all);
        if ((in_a == 0 || in_a > cut_a) && (in_b == 0 || in_b > cut_b)) {
            assert_int_equal(a.top[i].count, all);
            exact++;
        }
        if (i)
            assert_true(a.top[i - 1].count >= a.top[i].count);
    }
    assert_true(exact > 100);
    cairn_colstats_reset(&a);
    cairn_colstats_reset(&b);
    free(keys);
    free(ka);
    free(kb);
    cairn_column_reset(&c);
}

/* ---- timestamps, bools, determinism ------------------------------------------------------ */

static void test_timestamps(void **state)
{
    (void)state;
    size_t n = 10000;
    cairn_column c;
    memset(&c, 0, sizeof c);
    assert_int_equal(cairn_column_alloc(&c, "t", CAIRN_TYPE_TIMESTAMP, n, NULL), CAIRN_OK);
    int64_t base = 1700000000000000; /* 2023-11-14 */
    for (size_t i = 0; i < n; i++) {
        c.valid[i] = i % 10 != 3;
        c.v.i64[i] = c.valid[i] ? base + (int64_t)(i / 2) * 1000001 : 0; /* repeats allowed */
    }
    cairn_colstats s, a, b;
    stats_of(&c, 0, n, 0, &s);
    assert_int_equal(cairn_colstats_finish(&s, &c, NULL), CAIRN_OK);
    assert_true(s.sorted);
    assert_int_equal(s.count, n - n / 10);
    assert_int_equal(s.nulls, n / 10);
    assert_true(s.min == (double)base);
    assert_true(s.max == (double)(base + (int64_t)((n - 1) / 2) * 1000001));

    /* Halves in order merge sorted; in the wrong order not. */
    stats_of(&c, 0, n / 2, 0, &a);
    stats_of(&c, n / 2, n, 0, &b);
    assert_int_equal(cairn_colstats_merge(&a, &b, NULL), CAIRN_OK);
    assert_true(a.sorted);
    assert_true(a.min == s.min && a.max == s.max && a.count == s.count && a.nulls == s.nulls);
    cairn_colstats_reset(&a);
    cairn_colstats_reset(&b);
    stats_of(&c, 0, n / 2, 0, &a);
    stats_of(&c, n / 2, n, 0, &b);
    assert_int_equal(cairn_colstats_merge(&b, &a, NULL), CAIRN_OK);
    assert_false(b.sorted);
    assert_true(b.min == s.min && b.max == s.max);
    cairn_colstats_reset(&a);
    cairn_colstats_reset(&b);

    /* Merging with an empty side keeps sortedness. */
    assert_int_equal(cairn_colstats_init(&a, CAIRN_TYPE_TIMESTAMP, NULL), CAIRN_OK);
    stats_of(&c, 0, n, 0, &b);
    assert_int_equal(cairn_colstats_merge(&a, &b, NULL), CAIRN_OK);
    assert_true(a.sorted && a.min == s.min);
    cairn_colstats_reset(&a);
    cairn_colstats_reset(&b);

    /* JSON: ISO strings that read back exactly (with a fraction). */
    cairn_buf buf;
    cairn_buf_init(&buf);
    cairn_colstats_to_json(&s, &buf);
    assert_non_null(strstr(buf.data, "\"min\":\"2023-11-14T22:13:20Z\""));
    assert_non_null(strstr(buf.data, "\"sorted\":true"));
    cairn_colstats back;
    assert_int_equal(cairn_colstats_from_json(buf.data, buf.len, &back, NULL), CAIRN_OK);
    assert_true(back.min == s.min && back.max == s.max && back.sorted && back.count == s.count);
    cairn_colstats_reset(&back);
    cairn_buf_reset(&buf);
    cairn_colstats_reset(&s);

    /* One value out of order clears the flag. */
    c.v.i64[5000] = base;
    c.valid[5000] = 1;
    stats_of(&c, 0, n, 0, &s);
    assert_false(s.sorted);
    cairn_colstats_reset(&s);
    cairn_column_reset(&c);
}

static void test_determinism(void **state)
{
    (void)state;
    cairn_column c = make_column(D_LOGNORMAL, 200000, 1, 31);
    cairn_colstats a, b, d;
    stats_of(&c, 0, c.n_rows, 99, &a);
    stats_of(&c, 0, c.n_rows, 99, &b);
    stats_of(&c, 0, c.n_rows, 100, &d);
    assert_int_equal(cairn_colstats_finish(&a, NULL, NULL), CAIRN_OK);
    assert_int_equal(cairn_colstats_finish(&b, NULL, NULL), CAIRN_OK);
    assert_int_equal(cairn_colstats_finish(&d, NULL, NULL), CAIRN_OK);
    assert_memory_equal(a.quantiles, b.quantiles, sizeof a.quantiles);
    assert_memory_equal(a.hist_counts, b.hist_counts, sizeof a.hist_counts);
    /* Another seed compacts differently: the retained samples differ. */
    cairn_kll_view va, vd;
    assert_int_equal(cairn_kll_view_build(a.sketch, &va), CAIRN_OK);
    assert_int_equal(cairn_kll_view_build(d.sketch, &vd), CAIRN_OK);
    assert_true(va.n != vd.n || memcmp(va.v, vd.v, va.n * sizeof(double)) != 0);
    cairn_kll_view_reset(&va);
    cairn_kll_view_reset(&vd);
    cairn_colstats_reset(&a);
    cairn_colstats_reset(&b);
    cairn_colstats_reset(&d);
    cairn_column_reset(&c);
}

/* A small mixed frame. */
static cairn_frame *make_frame(size_t n)
{
    cairn_frame *f;
    assert_int_equal(cairn_frame_new(6, &f, NULL), CAIRN_OK);
    f->n_rows = n;
    f->cols[0] = make_column(D_NORMAL, n, 2, 41);
    f->cols[1] = make_column(D_UNIFORM_INT, n, 0, 42);
    f->cols[2] = make_column(D_BOOL, n, 5, 43);
    f->cols[3] = make_strings(n, 50, 2, 44);
    f->cols[4] = make_column(D_DUPLICATES, n, 0, 45);
    cairn_column *t = &f->cols[5];
    assert_int_equal(cairn_column_alloc(t, "t", CAIRN_TYPE_TIMESTAMP, n, NULL), CAIRN_OK);
    for (size_t i = 0; i < n; i++) {
        t->valid[i] = 1;
        t->v.i64[i] = (int64_t)i * 1000000;
    }
    return f;
}

static void test_frame_stats(void **state)
{
    (void)state;
    size_t n = 50000;
    cairn_frame *f = make_frame(n);
    cairn_colstats *one = NULL, *two = NULL;
    cairn_error err = {0};
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    assert_int_equal(cairn_frame_stats(f, 5, &one, &err), CAIRN_OK);
    omp_set_num_threads(2);
    assert_int_equal(cairn_frame_stats(f, 5, &two, &err), CAIRN_OK);
    omp_set_num_threads(saved);
    for (size_t j = 0; j < f->n_cols; j++) {
        cairn_buf x, y;
        cairn_buf_init(&x);
        cairn_buf_init(&y);
        cairn_colstats_to_json(&one[j], &x);
        cairn_colstats_to_json(&two[j], &y);
        assert_string_equal(x.data, y.data); /* independent of the thread count */
        assert_true(one[j].finished);
        cairn_buf_reset(&x);
        cairn_buf_reset(&y);
        if (f->cols[j].type != CAIRN_TYPE_STRING && f->cols[j].type != CAIRN_TYPE_TIMESTAMP) {
            ref_nums ref;
            ref_nums_init(&ref, &f->cols[j], 0, n);
            check_numbers(&one[j], &ref, true);
            ref_nums_free(&ref);
        }
    }
    assert_true(one[5].sorted);
    cairn_frame_stats_free(one, f->n_cols);
    cairn_frame_stats_free(two, f->n_cols);

    /* A broken column: the error names the lowest failing column. */
    f->cols[3].v.codes[10] = 999999;
    f->cols[3].valid[10] = 1;
    f->cols[4].type = CAIRN_TYPE_NONE;
    one = (cairn_colstats *)f; /* must be reset to NULL */
    assert_int_equal(cairn_frame_stats(f, 5, &one, &err), CAIRN_EINVAL);
    assert_null(one);
    assert_string_equal(err.where, f->cols[3].name);
    f->cols[4].type = CAIRN_TYPE_FLOAT64;
    cairn_frame_free(f);
}

/* ---- JSON ------------------------------------------------------------------------------ */

static void roundtrip(const cairn_colstats *s)
{
    cairn_buf b, b2;
    cairn_buf_init(&b);
    cairn_buf_init(&b2);
    cairn_colstats_to_json(s, &b);
    assert_false(b.failed);
    assert_null(strstr(b.data, "nan"));
    assert_null(strstr(b.data, "inf"));
    cairn_colstats r;
    cairn_error err = {0};
    if (cairn_colstats_from_json(b.data, b.len, &r, &err) != CAIRN_OK)
        fail_msg("from_json: %s in %s", err.msg, b.data);
    assert_true(r.finished);
    assert_int_equal(r.type, s->type);
    assert_int_equal(r.count, s->count);
    assert_int_equal(r.nulls, s->nulls);
    if (s->count && s->type != CAIRN_TYPE_STRING) {
        assert_true(r.min == s->min && r.max == s->max);
    }
    if (s->type != CAIRN_TYPE_STRING && s->type != CAIRN_TYPE_TIMESTAMP && s->count) {
        assert_true(r.mean == s->mean && r.stddev == s->stddev);
        assert_memory_equal(r.quantiles, s->quantiles, sizeof r.quantiles);
        assert_memory_equal(r.hist_edges, s->hist_edges, sizeof r.hist_edges);
        assert_memory_equal(r.hist_counts, s->hist_counts, sizeof r.hist_counts);
        assert_int_equal(r.distinct, s->distinct);
        /* Without a sketch, the stored percentiles answer. */
        assert_true(cairn_colstats_quantile(&r, 0.37) == s->quantiles[37]);
        assert_true(cairn_colstats_cdf(&r, s->quantiles[50]) >= 0.5);
    }
    if (s->type == CAIRN_TYPE_STRING) {
        assert_int_equal(r.distinct, s->distinct);
        size_t n = s->n_top < CAIRN_STATS_TOPK ? s->n_top : CAIRN_STATS_TOPK;
        assert_int_equal(r.n_top, n);
        for (size_t i = 0; i < n; i++) {
            assert_string_equal(r.top[i].value, s->top[i].value);
            assert_int_equal(r.top[i].count, s->top[i].count);
        }
    }
    /* Written again, the same bytes. */
    cairn_colstats_to_json(&r, &b2);
    assert_string_equal(b.data, b2.data);
    cairn_colstats_reset(&r);
    cairn_buf_reset(&b);
    cairn_buf_reset(&b2);
}

static void test_json_roundtrip(void **state)
{
    (void)state;
    cairn_frame *f = make_frame(20000);
    cairn_colstats *st;
    assert_int_equal(cairn_frame_stats(f, 1, &st, NULL), CAIRN_OK);
    for (size_t j = 0; j < f->n_cols; j++)
        roundtrip(&st[j]);
    /* The shape of stats.h. */
    cairn_buf b;
    cairn_buf_init(&b);
    cairn_colstats_to_json(&st[0], &b);
    assert_true(strncmp(b.data, "{\"type\":\"float64\",\"count\":", 26) == 0);
    assert_non_null(strstr(b.data, ",\"histogram\":{\"edges\":["));
    b.len = 0;
    cairn_colstats_to_json(&st[3], &b);
    assert_true(strncmp(b.data, "{\"type\":\"string\",\"count\":", 25) == 0);
    assert_non_null(strstr(b.data, ",\"top\":[{\"value\":"));
    cairn_buf_reset(&b);
    cairn_frame_stats_free(st, f->n_cols);
    cairn_frame_free(f);
}

static void test_json_corrupt(void **state)
{
    (void)state;
    const char *bad[] = {
        "",
        "[]",
        "{\"type\":\"float64\"}",
        "{\"type\":\"weird\",\"count\":0,\"nulls\":0}",
        "{\"type\":\"float64\",\"count\":-1,\"nulls\":0}",
        "{\"type\":\"float64\",\"count\":1.5,\"nulls\":0}",
        "{\"type\":\"float64\",\"count\":1,\"nulls\":0}",
        "{\"type\":\"float64\",\"count\":1,\"nulls\":0,\"min\":2,\"max\":1,\"mean\":1,"
        "\"stddev\":0}",
        "{\"type\":\"float64\",\"count\":1,\"nulls\":0,\"min\":1,\"max\":1,\"mean\":1,"
        "\"stddev\":0,\"quantiles\":[1,1]}",
        "{\"type\":\"string\",\"count\":1,\"nulls\":0,\"distinct\":1,\"top\":[{\"value\":1,"
        "\"count\":1}]}",
        "{\"type\":\"string\",\"count\":1,\"nulls\":0,\"top\":[]}",
        "{\"type\":\"timestamp\",\"count\":1,\"nulls\":0,\"min\":\"yesterday\","
        "\"max\":\"2024-01-01\",\"sorted\":true}",
        "{\"type\":\"timestamp\",\"count\":0,\"nulls\":0}",
    };
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(bad); i++) {
        cairn_colstats s;
        cairn_error err = {0};
        if (cairn_colstats_from_json(bad[i], strlen(bad[i]), &s, &err) != CAIRN_ECORRUPT)
            fail_msg("accepted: %s", bad[i]);
        assert_null(s.top);
        assert_int_equal(s.count, 0);
    }
    /* Counts that do not sum to count, and non-monotone quantiles. */
    cairn_column c = make_column(D_NORMAL, 1000, 0, 3);
    cairn_colstats s;
    stats_of(&c, 0, c.n_rows, 1, &s);
    assert_int_equal(cairn_colstats_finish(&s, &c, NULL), CAIRN_OK);
    for (int k = 0; k < 2; k++) {
        cairn_colstats t = s;
        if (k == 0)
            t.hist_counts[3]++;
        else
            t.quantiles[50] = t.quantiles[51] + 1.0;
        cairn_buf b;
        cairn_buf_init(&b);
        cairn_colstats_to_json(&t, &b);
        cairn_colstats r;
        assert_int_equal(cairn_colstats_from_json(b.data, b.len, &r, NULL), CAIRN_ECORRUPT);
        cairn_buf_reset(&b);
    }
    cairn_colstats_reset(&s);
    cairn_column_reset(&c);
}

/* ---- sketch, errors, allocation failures ------------------------------------------------ */

static void test_kll_invariants(void **state)
{
    (void)state;
    cairn_kll *k;
    assert_int_equal(cairn_kll_new(CAIRN_KLL_K, &k), CAIRN_OK);
    cairn_kll_seed(k, 3);
    rng r = {4};
    size_t n = 2000000;
    size_t max_retained = 0;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(cairn_kll_update(k, rng_u01(&r)), CAIRN_OK);
        if (i % 4096 == 0) {
            size_t ret = cairn_kll_retained(k);
            if (ret > max_retained)
                max_retained = ret;
        }
    }
    /* Total weight is n exactly; the levels stay sorted and small. */
    uint64_t w = k->n0;
    for (unsigned h = 1; h <= k->n_levels; h++) {
        w += (uint64_t)k->lv[h].n << h;
        for (size_t i = 1; i < k->lv[h].n; i++)
            assert_true(k->lv[h].items[i - 1] <= k->lv[h].items[i]);
    }
    assert_int_equal(w, n);
    assert_int_equal(k->n, n);
    assert_true(max_retained < CAIRN_KLL_BUF0 + 4 * CAIRN_KLL_K);
    cairn_kll_view v;
    assert_int_equal(cairn_kll_view_build(k, &v), CAIRN_OK);
    assert_int_equal(v.total, n);
    /* Uniform data: the quantile is close to q itself. */
    for (int i = 1; i < 100; i++)
        assert_true(fabs(cairn_kll_view_quantile(&v, i / 100.0) - i / 100.0) < 0.01);
    assert_true(fabs((double)cairn_kll_view_rank(&v, 0.25) / (double)n - 0.25) < 0.01);
    cairn_kll_view_reset(&v);
    /* Self-merge is refused. */
    assert_int_equal(cairn_kll_merge(k, k), CAIRN_EINVAL);
    cairn_kll_free(k);
    cairn_kll_free(NULL);
}

static void test_errors(void **state)
{
    (void)state;
    cairn_colstats s, t;
    cairn_error err = {0};
    assert_int_equal(cairn_colstats_init(&s, CAIRN_TYPE_NONE, &err), CAIRN_EINVAL);
    assert_int_equal(cairn_colstats_init(&s, CAIRN_TYPE_FLOAT64, &err), CAIRN_OK);
    assert_int_equal(cairn_colstats_add_number(&s, INFINITY), CAIRN_EINPUT);
    assert_int_equal(cairn_colstats_add_number(&s, NAN), CAIRN_OK);
    assert_int_equal(cairn_colstats_add_number(&s, 2.0), CAIRN_OK);
    assert_int_equal(cairn_colstats_add_number(&s, 4.0), CAIRN_OK);
    assert_int_equal(cairn_colstats_add_string(&s, "x", 1), CAIRN_EINVAL);
    assert_int_equal(s.count, 2);
    assert_int_equal(s.nulls, 1);
    assert_int_equal(cairn_colstats_merge(&s, &s, &err), CAIRN_EINVAL);
    assert_int_equal(cairn_colstats_init(&t, CAIRN_TYPE_STRING, &err), CAIRN_OK);
    assert_int_equal(cairn_colstats_merge(&s, &t, &err), CAIRN_EINVAL);
    assert_int_equal(cairn_colstats_add_number(&t, 1.0), CAIRN_EINVAL);

    cairn_column c = make_column(D_NORMAL, 100, 0, 1);
    assert_int_equal(cairn_colstats_add_column(&t, &c, 0, 100, 0, &err), CAIRN_EINVAL);
    assert_int_equal(cairn_colstats_add_column(&s, &c, 50, 101, 0, &err), CAIRN_EINVAL);
    assert_int_equal(cairn_colstats_add_column(&s, &c, 60, 50, 0, &err), CAIRN_EINVAL);
    c.v.f64[42] = -INFINITY;
    assert_int_equal(cairn_colstats_add_column(&s, &c, 0, 100, 0, &err), CAIRN_EINPUT);
    assert_non_null(strstr(err.msg, "row 43"));
    cairn_colstats_reset(&s);
    assert_int_equal(cairn_colstats_init(&s, CAIRN_TYPE_FLOAT64, &err), CAIRN_OK);
    c.v.f64[42] = 1.0;
    assert_int_equal(cairn_colstats_add_column(&s, &c, 0, 100, 0, &err), CAIRN_OK);
    /* finish with a column that is not the source. */
    assert_int_equal(cairn_colstats_finish(&s, &c, &err), CAIRN_OK);
    c.valid[3] = 0;
    assert_int_equal(cairn_colstats_finish(&s, &c, &err), CAIRN_EINVAL);

    /* Huge finite values: the mean stays finite. */
    cairn_colstats h;
    assert_int_equal(cairn_colstats_init(&h, CAIRN_TYPE_FLOAT64, &err), CAIRN_OK);
    for (size_t i = 0; i < 100; i++) {
        c.valid[i] = 1;
        c.v.f64[i] = 1.5e308;
    }
    assert_int_equal(cairn_colstats_add_column(&h, &c, 0, 100, 0, &err), CAIRN_OK);
    assert_int_equal(cairn_colstats_finish(&h, &c, &err), CAIRN_OK);
    assert_true(h.mean == 1.5e308 && h.stddev == 0.0);
    cairn_colstats_reset(&h);

    cairn_colstats_reset(&s);
    cairn_colstats_reset(&t);
    cairn_colstats_reset(NULL);
    cairn_column_reset(&c);
}

static void test_alloc_failures(void **state)
{
    (void)state;
    cairn_column c = make_column(D_NORMAL, 20000, 3, 8);
    cairn_column sc = make_strings(5000, 200, 3, 9);
    cairn_colstats ref_s, ref_t;
    stats_of(&c, 0, c.n_rows, 1, &ref_s);
    assert_int_equal(cairn_colstats_finish(&ref_s, &c, NULL), CAIRN_OK);
    stats_of(&sc, 0, sc.n_rows, 1, &ref_t);
    assert_int_equal(cairn_colstats_finish(&ref_t, &sc, NULL), CAIRN_OK);
    bool done = false;
    for (long fail = 1; !done && fail < 500; fail++) {
        cairn_colstats s, t, u;
        memset(&s, 0, sizeof s);
        memset(&t, 0, sizeof t);
        memset(&u, 0, sizeof u);
        cairn_error err = {0};
        cairn_status st;
        cairn_alloc_fail_after(fail, false);
        st = cairn_colstats_init(&s, CAIRN_TYPE_FLOAT64, &err);
        if (st == CAIRN_OK)
            st = cairn_colstats_add_column(&s, &c, 0, 9000, 1, &err);
        if (st == CAIRN_OK)
            st = cairn_colstats_init(&u, CAIRN_TYPE_FLOAT64, &err);
        if (st == CAIRN_OK)
            st = cairn_colstats_add_column(&u, &c, 9000, c.n_rows, 2, &err);
        if (st == CAIRN_OK)
            st = cairn_colstats_merge(&s, &u, &err);
        if (st == CAIRN_OK)
            st = cairn_colstats_finish(&s, &c, &err);
        if (st == CAIRN_OK)
            st = cairn_colstats_init(&t, CAIRN_TYPE_STRING, &err);
        if (st == CAIRN_OK)
            st = cairn_colstats_add_column(&t, &sc, 0, sc.n_rows, 1, &err);
        if (st == CAIRN_OK)
            st = cairn_colstats_finish(&t, &sc, &err);
        cairn_buf b;
        cairn_buf_init(&b);
        if (st == CAIRN_OK) {
            cairn_colstats_to_json(&t, &b);
            if (b.failed)
                st = CAIRN_ENOMEM;
        }
        cairn_alloc_fail_after(0, false);
        if (st == CAIRN_OK) {
            done = true;
            assert_int_equal(s.count, ref_s.count);
            assert_rel(s.mean, ref_s.mean, 1e-9);
            assert_int_equal(t.distinct, ref_t.distinct);
            assert_int_equal(t.n_top, ref_t.n_top);
            for (size_t i = 0; i < t.n_top; i++) {
                assert_string_equal(t.top[i].value, ref_t.top[i].value);
                assert_int_equal(t.top[i].count, ref_t.top[i].count);
            }
        } else {
            assert_int_equal(st, CAIRN_ENOMEM);
        }
        cairn_buf_reset(&b);
        cairn_colstats_reset(&s);
        cairn_colstats_reset(&t);
        cairn_colstats_reset(&u);
    }
    assert_true(done);
    cairn_colstats_reset(&ref_s);
    cairn_colstats_reset(&ref_t);
    cairn_column_reset(&c);
    cairn_column_reset(&sc);
}

/* A sketch whose allocations fail now and then stays whole, and retrying works. */
static void test_kll_alloc_failures(void **state)
{
    (void)state;
    size_t total_failures = 0;
    for (long fail = 1; fail < 40; fail += 3) {
        cairn_kll *k;
        assert_int_equal(cairn_kll_new(CAIRN_KLL_K, &k), CAIRN_OK);
        rng r = {(uint64_t)fail};
        size_t n = 30000, failures = 0;
        cairn_alloc_fail_after(fail, false);
        for (size_t i = 0; i < n; i++) {
            double v = rng_u01(&r);
            cairn_status st = cairn_kll_update(k, v);
            if (st != CAIRN_OK) {
                assert_int_equal(st, CAIRN_ENOMEM);
                failures++;
                cairn_alloc_fail_after(fail + (long)failures, false); /* fail again, later */
                i--;                                 /* and retry this value */
                r.s -= 0x9e3779b97f4a7c15ull;
                if (failures > 1000)
                    fail_msg("no progress");
            }
        }
        cairn_alloc_fail_after(0, false);
        uint64_t w = k->n0;
        for (unsigned h = 1; h <= k->n_levels; h++) {
            w += (uint64_t)k->lv[h].n << h;
            for (size_t i = 1; i < k->lv[h].n; i++)
                assert_true(k->lv[h].items[i - 1] <= k->lv[h].items[i]);
        }
        assert_int_equal(w, n);
        assert_int_equal(k->n, n);
        cairn_kll_free(k);
        total_failures += failures;
    }
    assert_true(total_failures >= 13); /* every round failed at least once */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_numbers_vs_exact),
        cmocka_unit_test(test_mostly_constant_histogram),
        cmocka_unit_test(test_empty_and_all_null),
        cmocka_unit_test(test_merge_numbers),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_merge_strings),
        cmocka_unit_test(test_timestamps),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_frame_stats),
        cmocka_unit_test(test_json_roundtrip),
        cmocka_unit_test(test_json_corrupt),
        cmocka_unit_test(test_kll_invariants),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_kll_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
