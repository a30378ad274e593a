/*
 * drift.c -- reference parsing, streaming window counts and drift statistics
 * (contracts and the KS bound derivation in drift.h).
 */
#include "monitor/drift.h"

#include <cjson/cJSON.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- references --------------------------------------------------------- */

void cairn_drift_refs_init(cairn_drift_refs *refs)
{
    memset(refs, 0, sizeof *refs);
}

static void ref_reset(cairn_drift_ref *r)
{
    cairn_free(r->name);
    if (r->categories)
        for (size_t i = 0; i < r->n_categories; i++)
            cairn_free(r->categories[i]);
    cairn_free(r->categories);
    cairn_free(r->category_lens);
    memset(r, 0, sizeof *r);
}

void cairn_drift_refs_reset(cairn_drift_refs *refs)
{
    if (!refs)
        return;
    for (size_t i = 0; i < refs->n_features; i++)
        ref_reset(&refs->features[i]);
    cairn_free(refs->features);
    if (refs->prediction) {
        ref_reset(refs->prediction);
        cairn_free(refs->prediction);
    }
    cairn_drift_refs_init(refs);
}

/* A non-negative integer count that a double represents exactly. */
static int get_count(const cJSON *o, const char *key, uint64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v))
        return 0;
    double d = v->valuedouble;
    if (!(d >= 0 && d <= 9007199254740992.0) || d != floor(d))
        return 0;
    *out = (uint64_t)d;
    return 1;
}

/* A finite number or null (NaN). */
static int get_num_or_null(const cJSON *o, const char *key, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsNull(v)) {
        *out = NAN;
        return 1;
    }
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return 0;
    *out = v->valuedouble;
    return 1;
}

/* Reads a numeric array of at most cap finite numbers; -1 when not one. */
static int get_nums(const cJSON *o, const char *key, double *out, int cap)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsArray(a))
        return -1;
    int n = cJSON_GetArraySize(a);
    if (n > cap)
        return -1;
    int i = 0;
    for (const cJSON *v = a->child; v; v = v->next, i++) {
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
            return -1;
        out[i] = v->valuedouble;
    }
    return n;
}

/* The same for counts: whole numbers from 0 to 2^53 (cap at most CAIRN_DRIFT_MAX_BINS). */
static int get_counts(const cJSON *o, const char *key, uint64_t *out, int cap)
{
    double d[CAIRN_DRIFT_MAX_BINS];
    int n = cap <= CAIRN_DRIFT_MAX_BINS ? get_nums(o, key, d, cap) : -1;
    for (int i = 0; i < n; i++) {
        if (!(d[i] >= 0 && d[i] <= 9007199254740992.0) || d[i] != floor(d[i]))
            return -1;
        out[i] = (uint64_t)d[i];
    }
    return n;
}

static cairn_status parse_number(const cJSON *e, cairn_drift_ref *r, const char *where,
                                 cairn_error *err)
{
    double edges[CAIRN_DRIFT_MAX_EDGES + 1];
    double q[CAIRN_DRIFT_QUANTILES + 1];
    uint64_t counts[CAIRN_DRIFT_MAX_EDGES + 2];
    if (!get_num_or_null(e, "min", &r->min) || !get_num_or_null(e, "max", &r->max) ||
        !get_num_or_null(e, "mean", &r->mean) || !get_num_or_null(e, "std", &r->std))
        return cairn_error_set(err, CAIRN_EINPUT, where, "bad min/max/mean/std");
    int ne = get_nums(e, "edges", edges, CAIRN_DRIFT_MAX_EDGES);
    int nc = get_counts(e, "counts", counts, CAIRN_DRIFT_MAX_EDGES + 1);
    int nq = get_nums(e, "quantiles", q, CAIRN_DRIFT_QUANTILES);
    if (ne < 0 || nc < 0 || nq < 0)
        return cairn_error_set(err, CAIRN_EINPUT, where, "bad edges, counts or quantiles");
    uint64_t present = r->rows - r->missing;
    if (nc == 0) {
        /* Nothing present in the part: no bins at all. */
        if (ne != 0 || nq != 0 || present != 0)
            return cairn_error_set(err, CAIRN_EINPUT, where,
                                   "no counts but values present or edges/quantiles given");
        return CAIRN_OK;
    }
    if (nc != ne + 1 || nq != CAIRN_DRIFT_QUANTILES)
        return cairn_error_set(err, CAIRN_EINPUT, where,
                               "%d edges need %d counts and 21 quantiles (got %d, %d)", ne,
                               ne + 1, nc, nq);
    for (int i = 1; i < ne; i++)
        if (!(edges[i] > edges[i - 1]))
            return cairn_error_set(err, CAIRN_EINPUT, where, "edges not increasing");
    for (int i = 1; i < nq; i++)
        if (!(q[i] >= q[i - 1]))
            return cairn_error_set(err, CAIRN_EINPUT, where, "quantiles decreasing");
    uint64_t sum = 0;
    for (int i = 0; i < nc; i++)
        sum += counts[i];
    if (sum != present)
        return cairn_error_set(err, CAIRN_EINPUT, where,
                               "counts add up to %llu, not rows - missing = %llu",
                               (unsigned long long)sum, (unsigned long long)present);
    r->n_edges = (size_t)ne;
    memcpy(r->edges, edges, (size_t)ne * sizeof *edges);
    r->n_quantiles = (size_t)nq;
    memcpy(r->quantiles, q, (size_t)nq * sizeof *q);
    r->n_bins = (size_t)nc;
    memcpy(r->counts, counts, (size_t)nc * sizeof *counts);
    return CAIRN_OK;
}

static cairn_status parse_category(const cJSON *e, cairn_drift_ref *r, const char *where,
                                   cairn_error *err)
{
    const cJSON *cats = cJSON_GetObjectItemCaseSensitive(e, "categories");
    if (!cJSON_IsArray(cats) || cJSON_GetArraySize(cats) > CAIRN_DRIFT_MAX_CATEGORIES)
        return cairn_error_set(err, CAIRN_EINPUT, where, "bad categories (at most %d)",
                               CAIRN_DRIFT_MAX_CATEGORIES);
    int nc = cJSON_GetArraySize(cats);
    uint64_t counts[CAIRN_DRIFT_MAX_CATEGORIES + 1];
    if (get_counts(e, "counts", counts, CAIRN_DRIFT_MAX_CATEGORIES) != nc)
        return cairn_error_set(err, CAIRN_EINPUT, where, "counts do not match categories");
    if (!get_count(e, "other", &r->other))
        return cairn_error_set(err, CAIRN_EINPUT, where, "bad other");
    uint64_t sum = r->other;
    for (int i = 0; i < nc; i++)
        sum += counts[i];
    if (sum != r->rows - r->missing)
        return cairn_error_set(err, CAIRN_EINPUT, where,
                               "counts and other add up to %llu, not rows - missing = %llu",
                               (unsigned long long)sum,
                               (unsigned long long)(r->rows - r->missing));
    if (nc > 0) {
        r->categories = cairn_calloc((size_t)nc, sizeof *r->categories);
        r->category_lens = cairn_calloc((size_t)nc, sizeof *r->category_lens);
        if (!r->categories || !r->category_lens)
            return cairn_error_set(err, CAIRN_ENOMEM, where, "out of memory");
    }
    int i = 0;
    for (const cJSON *c = cats->child; c; c = c->next, i++) {
        if (!cJSON_IsString(c) || !c->valuestring)
            return cairn_error_set(err, CAIRN_EINPUT, where, "category %d is not a string", i);
        r->categories[i] = cairn_strdup(c->valuestring);
        if (!r->categories[i])
            return cairn_error_set(err, CAIRN_ENOMEM, where, "out of memory");
        r->n_categories = (size_t)i + 1;     /* so reset frees what was made */
        r->category_lens[i] = strlen(c->valuestring);
        for (int k = 0; k < i; k++)
            if (r->category_lens[k] == r->category_lens[i] &&
                memcmp(r->categories[k], r->categories[i], r->category_lens[i]) == 0)
                return cairn_error_set(err, CAIRN_EINPUT, where, "category \"%s\" listed twice",
                                       r->categories[i]);
    }
    r->n_categories = (size_t)nc;
    r->n_bins = (size_t)nc + 1;
    memcpy(r->counts, counts, (size_t)nc * sizeof *counts);
    r->counts[nc] = r->other;
    return CAIRN_OK;
}

/* Fills r from one entry; on error r may hold partial allocations (ref_reset frees them). */
static cairn_status parse_entry(const cJSON *e, cairn_drift_ref *r, const char *where,
                                cairn_error *err)
{
    if (!cJSON_IsObject(e))
        return cairn_error_set(err, CAIRN_EINPUT, where, "not an object");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(e, "name");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(e, "type");
    if (!cJSON_IsString(name) || !name->valuestring || !cJSON_IsString(type) ||
        !type->valuestring)
        return cairn_error_set(err, CAIRN_EINPUT, where, "missing name or type");
    if (!get_count(e, "rows", &r->rows) || !get_count(e, "missing", &r->missing) ||
        r->missing > r->rows)
        return cairn_error_set(err, CAIRN_EINPUT, where, "bad rows or missing");
    r->name = cairn_strdup(name->valuestring);
    if (!r->name)
        return cairn_error_set(err, CAIRN_ENOMEM, where, "out of memory");
    if (strcmp(type->valuestring, "number") == 0 || strcmp(type->valuestring, "timestamp") == 0) {
        r->kind = CAIRN_DRIFT_NUMBER;
        r->is_timestamp = type->valuestring[0] == 't';
        return parse_number(e, r, where, err);
    }
    if (strcmp(type->valuestring, "category") == 0) {
        r->kind = CAIRN_DRIFT_CATEGORY;
        r->min = r->max = r->mean = r->std = NAN;
        return parse_category(e, r, where, err);
    }
    return cairn_error_set(err, CAIRN_EINPUT, where, "unknown type \"%s\"", type->valuestring);
}

cairn_status cairn_drift_refs_parse(cairn_drift_refs *refs, const char *json, size_t len,
                                    cairn_error *err)
{
    cairn_status st = CAIRN_OK;
    char where[64];
    cairn_drift_refs_init(refs);
    cJSON *doc = cJSON_ParseWithLength(json, len);
    if (!doc) {
        st = cairn_error_set(err, CAIRN_EINPUT, "refstats", "not valid JSON");
        goto done;
    }
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(doc, "version");
    if (!cJSON_IsNumber(ver) || ver->valuedouble != CAIRN_DRIFT_REFSTATS_VERSION) {
        st = cairn_error_set(err, CAIRN_EINPUT, "refstats", "unsupported version");
        goto done;
    }
    const cJSON *feats = cJSON_GetObjectItemCaseSensitive(doc, "features");
    if (!get_count(doc, "rows", &refs->rows) || !cJSON_IsArray(feats)) {
        st = cairn_error_set(err, CAIRN_EINPUT, "refstats", "missing rows or features");
        goto done;
    }
    int n = cJSON_GetArraySize(feats);
    if (n > 0) {
        refs->features = cairn_calloc((size_t)n, sizeof *refs->features);
        if (!refs->features) {
            st = cairn_error_set(err, CAIRN_ENOMEM, "refstats", "out of memory");
            goto done;
        }
    }
    int i = 0;
    for (const cJSON *e = feats->child; e; e = e->next, i++) {
        snprintf(where, sizeof where, "refstats: features[%d]", i);
        refs->n_features = (size_t)i + 1;    /* so reset frees the partial entry */
        st = parse_entry(e, &refs->features[i], where, err);
        if (st != CAIRN_OK)
            goto done;
        for (int k = 0; k < i; k++)
            if (strcmp(refs->features[k].name, refs->features[i].name) == 0) {
                st = cairn_error_set(err, CAIRN_EINPUT, where, "feature \"%s\" listed twice",
                                     refs->features[i].name);
                goto done;
            }
    }
    const cJSON *pred = cJSON_GetObjectItemCaseSensitive(doc, "prediction");
    if (pred && !cJSON_IsNull(pred)) {
        refs->prediction = cairn_calloc(1, sizeof *refs->prediction);
        if (!refs->prediction) {
            st = cairn_error_set(err, CAIRN_ENOMEM, "refstats", "out of memory");
            goto done;
        }
        st = parse_entry(pred, refs->prediction, "refstats: prediction", err);
    }
done:
    cJSON_Delete(doc);
    if (st != CAIRN_OK)
        cairn_drift_refs_reset(refs);
    return st;
}

const cairn_drift_ref *cairn_drift_refs_find(const cairn_drift_refs *refs, const char *name)
{
    for (size_t i = 0; i < refs->n_features; i++)
        if (strcmp(refs->features[i].name, name) == 0)
            return &refs->features[i];
    return NULL;
}

/* ---- accumulator -------------------------------------------------------- */

void cairn_drift_acc_init(cairn_drift_acc *acc, const cairn_drift_ref *ref)
{
    memset(acc, 0, sizeof *acc);
    acc->ref = ref;
    if (ref->kind == CAIRN_DRIFT_NUMBER)
        for (size_t j = 0; j < ref->n_quantiles; j++)
            if (acc->n_ks_values == 0 ||
                ref->quantiles[j] != acc->ks_values[acc->n_ks_values - 1])
                acc->ks_values[acc->n_ks_values++] = ref->quantiles[j];
}

void cairn_drift_acc_reset(cairn_drift_acc *acc)
{
    cairn_drift_acc_init(acc, acc->ref);
}

void cairn_drift_acc_add_missing(cairn_drift_acc *acc)
{
    acc->rows++;
    acc->missing++;
}

/* The number of entries of v[0..n) that are <= x (v increasing). */
/* How many of the sorted v[0..n) are <= x. n is at most 21 here, so a branch-free count
 * over the whole array (which the compiler vectorizes) beats a binary search, whose
 * branches the processor cannot predict on real data. */
static size_t count_le(const double *v, size_t n, double x)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += v[i] <= x;
    return c;
}

cairn_status cairn_drift_acc_add_number(cairn_drift_acc *acc, double x, cairn_error *err)
{
    const cairn_drift_ref *r = acc->ref;
    if (r->kind != CAIRN_DRIFT_NUMBER)
        return cairn_error_set(err, CAIRN_EINVAL, r->name, "a number for a category feature");
    if (!isfinite(x)) {
        cairn_drift_acc_add_missing(acc);
        return CAIRN_OK;
    }
    acc->rows++;
    uint64_t m = acc->rows - acc->missing;
    double d = x - acc->mean;
    acc->mean += d / (double)m;
    acc->m2 += d * (x - acc->mean);
    if (r->n_bins > 0)
        acc->bins[count_le(r->edges, r->n_edges, x)]++;
    if (acc->n_ks_values > 0) {
        size_t k = count_le(acc->ks_values, acc->n_ks_values, x);
        /* k values are <= x: x equals the last of them (cell 2k-1) or lies above it. */
        size_t cell = (k > 0 && acc->ks_values[k - 1] == x) ? 2 * k - 1 : 2 * k;
        acc->ks_cells[cell]++;
    }
    return CAIRN_OK;
}

void cairn_drift_acc_add_missing_n(cairn_drift_acc *acc, uint64_t n)
{
    acc->rows += n;
    acc->missing += n;
}

/* Pools a run of nb values with mean mb and squares m2b into acc (Chan et al.); acc's
 * non-missing count does not include them yet. */
static void pool(cairn_drift_acc *acc, uint64_t na, uint64_t nb, double mb, double m2b)
{
    if (nb == 0)
        return;
    double n = (double)(na + nb), d = mb - acc->mean;
    acc->mean += d * (double)nb / n;
    acc->m2 += m2b + d * d * (double)na * (double)nb / n;
}

/* The breakpoints of a number accumulator's two counts (PSI bins, KS cells), merged: a
 * value's place among them decides both its bin and its KS cell, so one search per
 * value serves both. 32 slots, the unused ones +inf, for a fixed-depth search. */
enum { MERGED = 32 };
typedef struct merged {
    double u[MERGED];             /* strictly increasing, then +inf */
    double below[MERGED + 1];     /* per j: u[j-1] (j = 0: -inf) */
    size_t nu;
    uint8_t edges_le[MERGED + 1]; /* per j: edges <= u[j-1] (j = 0: none) */
    uint8_t ks_le[MERGED + 1];    /* per j: KS values <= u[j-1] */
    bool is_ks[MERGED + 1];       /* per j >= 1: u[j-1] is a KS value */
} merged;

static void merged_init(merged *m, const cairn_drift_acc *acc)
{
    const cairn_drift_ref *r = acc->ref;
    size_t a = 0, b = 0, ne = r->n_bins > 0 ? r->n_edges : 0;
    m->nu = 0;
    while (a < ne || b < acc->n_ks_values) {
        double v = b >= acc->n_ks_values || (a < ne && r->edges[a] <= acc->ks_values[b])
                       ? r->edges[a]
                       : acc->ks_values[b];
        while (a < ne && r->edges[a] == v)
            a++;
        bool ks = false;
        while (b < acc->n_ks_values && acc->ks_values[b] == v) {
            b++;
            ks = true;
        }
        m->u[m->nu++] = v;
        m->edges_le[m->nu] = (uint8_t)a;
        m->ks_le[m->nu] = (uint8_t)b;
        m->is_ks[m->nu] = ks;
    }
    m->edges_le[0] = m->ks_le[0] = 0;
    m->is_ks[0] = false;
    for (size_t j = m->nu; j < MERGED; j++)
        m->u[j] = INFINITY;
    m->below[0] = -INFINITY;
    for (size_t j = 1; j <= MERGED; j++)
        m->below[j] = m->u[j - 1];
}

cairn_status cairn_drift_acc_add_numbers(cairn_drift_acc *acc, const double *x, size_t n,
                                         cairn_error *err)
{
    const cairn_drift_ref *r = acc->ref;
    if (r->kind != CAIRN_DRIFT_NUMBER)
        return cairn_error_set(err, CAIRN_EINVAL, r->name, "a number for a category feature");
    merged m;
    merged_init(&m, acc);
    /* cells[2j]: u[j-1] < x < u[j]; cells[2j-1]: x == u[j-1]. */
    uint64_t cells[2 * MERGED + 1] = {0};
    /* Runs of at most 512 values: a two-pass mean and sum of squares per run (no division
     * per value, unlike Welford's update), pooled into the running ones. */
    enum { RUN = 512 };
    for (size_t at = 0; at < n; at += RUN) {
        size_t len = n - at < RUN ? n - at : RUN;
        const double *v = x + at;
        uint64_t good = 0;
        double sum = 0;
        for (size_t i = 0; i < len; i++) {
            double xi = v[i];
            if (!isfinite(xi))
                continue;
            good++;
            sum += xi;
            /* j = how many breakpoints are <= xi: a branch-free binary search (the
             * padding makes 32 entries, of which at most 30 are finite). */
            const double *u = m.u;
            size_t j = (size_t)(u[15] <= xi) << 4;
            j += (size_t)(u[j + 7] <= xi) << 3;
            j += (size_t)(u[j + 3] <= xi) << 2;
            j += (size_t)(u[j + 1] <= xi) << 1;
            j += (size_t)(u[j] <= xi);
            cells[2 * j - (size_t)(m.below[j] == xi)]++;
        }
        uint64_t na = acc->rows - acc->missing;
        acc->rows += len;
        acc->missing += len - good;
        if (!good)
            continue;
        double mean = sum / (double)good, m2 = 0;
        for (size_t i = 0; i < len; i++)
            if (isfinite(v[i]))
                m2 += (v[i] - mean) * (v[i] - mean);
        pool(acc, na, good, mean, m2);
    }
    for (size_t j = 0; j <= m.nu; j++) {
        size_t k = m.ks_le[j];
        if (cells[2 * j]) {   /* strictly between breakpoints: above every KS value <= it */
            if (r->n_bins > 0)
                acc->bins[m.edges_le[j]] += cells[2 * j];
            if (acc->n_ks_values > 0)
                acc->ks_cells[2 * k] += cells[2 * j];
        }
        if (j > 0 && cells[2 * j - 1]) {   /* equal to u[j-1] */
            if (r->n_bins > 0)
                acc->bins[m.edges_le[j]] += cells[2 * j - 1];
            if (acc->n_ks_values > 0)
                acc->ks_cells[m.is_ks[j] ? 2 * k - 1 : 2 * k] += cells[2 * j - 1];
        }
    }
    return CAIRN_OK;
}

cairn_status cairn_drift_acc_merge(cairn_drift_acc *dst, const cairn_drift_acc *src,
                                   cairn_error *err)
{
    if (dst->ref->kind != src->ref->kind || dst->ref->n_bins != src->ref->n_bins ||
        dst->n_ks_values != src->n_ks_values ||
        memcmp(dst->ks_values, src->ks_values, dst->n_ks_values * sizeof *dst->ks_values) != 0)
        return cairn_error_set(err, CAIRN_EINVAL, dst->ref->name,
                               "accumulators of different references cannot be merged");
    /* Non-missing counts before the merge, for the pooled mean and squares (Chan et al.). */
    pool(dst, dst->rows - dst->missing, src->rows - src->missing, src->mean, src->m2);
    dst->rows += src->rows;
    dst->missing += src->missing;
    for (size_t b = 0; b < CAIRN_DRIFT_MAX_BINS; b++)
        dst->bins[b] += src->bins[b];
    for (size_t c = 0; c < CAIRN_DRIFT_KS_CELLS; c++)
        dst->ks_cells[c] += src->ks_cells[c];
    return CAIRN_OK;
}

cairn_status cairn_drift_acc_add_category(cairn_drift_acc *acc, const char *s, size_t len,
                                          cairn_error *err)
{
    const cairn_drift_ref *r = acc->ref;
    if (r->kind != CAIRN_DRIFT_CATEGORY)
        return cairn_error_set(err, CAIRN_EINVAL, r->name, "a category for a number feature");
    if (!s) {
        cairn_drift_acc_add_missing(acc);
        return CAIRN_OK;
    }
    acc->rows++;
    size_t b = r->n_categories;      /* "other" unless listed */
    for (size_t i = 0; i < r->n_categories; i++)
        if (r->category_lens[i] == len &&
            (len == 0 || (r->categories[i][0] == s[0] && memcmp(r->categories[i], s, len) == 0))) {
            b = i;
            break;
        }
    acc->bins[b]++;
    return CAIRN_OK;
}

cairn_status cairn_drift_acc_add_bool(cairn_drift_acc *acc, int v, cairn_error *err)
{
    if (v < 0)
        return cairn_drift_acc_add_category(acc, NULL, 0, err);
    return v ? cairn_drift_acc_add_category(acc, "true", 4, err)
             : cairn_drift_acc_add_category(acc, "false", 5, err);
}

/* ---- statistics --------------------------------------------------------- */

/*
 * ln Gamma(a) for a > 0 (Lanczos, g = 7, 9 terms; relative error near 1e-15).
 * The reflection is not needed: a = dof/2 > 0.
 */
static double log_gamma(double a)
{
    static const double c[9] = {0.99999999999980993,  676.5203681218851,
                                -1259.1392167224028,  771.32342877765313,
                                -176.61502916214059,  12.507343278686905,
                                -0.13857109526572012, 9.9843695780195716e-6,
                                1.5056327351493116e-7};
    if (a < 0.5)    /* Gamma(a) = Gamma(a+1)/a keeps the approximation in its range */
        return log_gamma(a + 1) - log(a);
    a -= 1;
    double s = c[0];
    for (int i = 1; i < 9; i++)
        s += c[i] / (a + i);
    double t = a + 7.5;
    return 0.91893853320467274178 /* ln sqrt(2 pi) */ + (a + 0.5) * log(t) - t + log(s);
}

/*
 * Q(a, x) = Gamma(a, x) / Gamma(a). For x < a + 1 the power series of the
 * lower function P converges fast (Q = 1 - P); beyond it the continued
 * fraction of the upper function does (evaluated by the modified Lentz
 * method), and computing Q directly keeps tiny tail probabilities accurate.
 */
static double gamma_q(double a, double x)
{
    if (isnan(x) || isnan(a))
        return NAN;
    if (x <= 0)
        return 1.0;
    double lpre = a * log(x) - x - log_gamma(a);
    if (x < a + 1) {
        double term = 1.0 / a, sum = term;
        for (int n = 1; n < 10000; n++) {
            term *= x / (a + n);
            sum += term;
            if (fabs(term) < fabs(sum) * 1e-17)
                break;
        }
        return 1.0 - sum * exp(lpre);
    }
    const double tiny = 1e-300;
    double b = x + 1 - a, cc = 1 / tiny, d = 1 / b, h = d;
    for (int i = 1; i < 10000; i++) {
        double an = -i * (i - a);
        b += 2;
        d = an * d + b;
        if (fabs(d) < tiny)
            d = tiny;
        cc = b + an / cc;
        if (fabs(cc) < tiny)
            cc = tiny;
        d = 1 / d;
        double del = d * cc;
        h *= del;
        if (fabs(del - 1) < 1e-16)
            break;
    }
    return exp(lpre) * h;
}

double cairn_drift_chi2_sf(double x, double dof)
{
    if (isnan(x) || !(dof > 0))
        return NAN;
    if (isinf(x))
        return 0.0;
    return gamma_q(dof / 2, x / 2);
}

/* A decreasing tail probability sf(x) and its density (-d sf / dx). */
typedef struct tail {
    double (*sf)(double x, double arg);
    double (*pdf)(double x, double arg);
    double arg;
    double start;       /* a first upper end to try (doubled until sf passes below p) */
} tail;

/* The x in [0, inf) where sf(x) = p: Newton steps from inside a bracket, falling back to
 * bisection whenever a step would leave it, so it converges in a handful of steps and
 * never diverges. The bracket comes from doubling an upper end. */
static double tail_isf(const tail *t, double p)
{
    double lo = 0, hi = t->start;
    while (t->sf(hi, t->arg) > p && hi < 1e12) {
        lo = hi;
        hi *= 2;
    }
    double x = lo + (hi - lo) / 2;
    for (int i = 0; i < 200; i++) {
        double f = t->sf(x, t->arg) - p;
        if (f == 0)
            return x;
        if (f > 0)
            lo = x;
        else
            hi = x;
        double d = t->pdf(x, t->arg);
        double next = d > 0 ? x + f / d : NAN;
        if (!(next > lo && next < hi))
            next = lo + (hi - lo) / 2;
        if (fabs(next - x) <= 1e-13 * x || hi - lo <= 1e-13 * hi)
            return next;
        x = next;
    }
    return x;
}

static double chi2_pdf(double x, double dof)
{
    double a = dof / 2;
    return x > 0 ? exp((a - 1) * log(x) - x / 2 - a * log(2.0) - log_gamma(a)) : 0.0;
}

double cairn_drift_chi2_isf(double p, double dof)
{
    if (!(p > 0 && p < 1) || !(dof > 0))
        return NAN;
    /* Past the mean (dof) plus four standard deviations (sqrt(2 dof)) the tail is small. */
    tail t = {cairn_drift_chi2_sf, chi2_pdf, dof, dof + 4 * sqrt(2 * dof)};
    return tail_isf(&t, p);
}

/* P(K > x) = 2 sum_k>=1 (-1)^(k-1) exp(-2 k^2 x^2) and its density; the terms fall off so
 * fast that a few dozen do for every x where the sum is below 1 (x > 0.2 or so; below
 * it P is 1 to double precision). */
static double kolmogorov_sum(double x, bool density)
{
    if (x < 0.2)
        return density ? 0.0 : 1.0;
    double sum = 0;
    for (int k = 1; k <= 100; k++) {
        double t = exp(-2.0 * k * k * x * x);
        if (density)
            t *= 4.0 * k * k * x;
        sum += (k % 2 ? t : -t);
        if (t < 1e-300)
            break;
    }
    return 2 * sum;
}

static double kolmogorov_sf(double x, double unused)
{
    (void)unused;
    return kolmogorov_sum(x, false);
}

static double kolmogorov_pdf(double x, double unused)
{
    (void)unused;
    return kolmogorov_sum(x, true);
}

double cairn_drift_kolmogorov_isf(double p)
{
    if (!(p > 0 && p < 1))
        return NAN;
    tail t = {kolmogorov_sf, kolmogorov_pdf, 0, 1.5};
    return tail_isf(&t, p);
}

/* The quantiles the noise levels need, for one p: remembered per thread (a pure function
 * of p and the degrees of freedom, which a monitor run asks for again and again: a few
 * microseconds each, for every feature of every window). */
typedef struct noise_quantiles {
    double p;
    double kolmogorov, z;
    double chi2[CAIRN_DRIFT_MAX_BINS];   /* by degrees of freedom; 0: not computed yet */
} noise_quantiles;

static noise_quantiles *quantiles_for(double p)
{
    static _Thread_local noise_quantiles q;
    if (q.p != p) {
        memset(&q, 0, sizeof q);
        q.p = p;
        q.kolmogorov = cairn_drift_kolmogorov_isf(p);
        q.z = sqrt(cairn_drift_chi2_isf(p, 1));   /* the two-sided normal quantile */
    }
    return &q;
}

static double chi2_quantile(double p, size_t dof)
{
    if (dof >= CAIRN_DRIFT_MAX_BINS)
        return cairn_drift_chi2_isf(p, (double)dof);
    noise_quantiles *q = quantiles_for(p);
    if (q->chi2[dof] == 0)
        q->chi2[dof] = cairn_drift_chi2_isf(p, (double)dof);
    return q->chi2[dof];
}

void cairn_drift_stats_noise(const cairn_drift_stats *s, double p, cairn_drift_noise *out)
{
    out->psi = isnan(s->psi) ? NAN : 0;
    out->js = isnan(s->js) ? NAN : 0;
    out->ks = isnan(s->ks) ? NAN : 0;
    out->missing = isnan(s->missing_change) ? NAN : 0;
    if (!(p > 0 && p < 1))
        return;
    uint64_t m = s->rows - s->missing, n = s->ref_rows - s->ref_missing;
    if (m > 0 && n > 0) {
        double inv = 1.0 / (double)m + 1.0 / (double)n;
        if (s->ref_bins_used > 1) {
            double x = chi2_quantile(p, s->ref_bins_used - 1);
            if (!isnan(s->psi))
                out->psi = x * inv;
            if (!isnan(s->js))
                out->js = sqrt(x * inv / (8 * log(2.0)));
        }
        if (!isnan(s->ks))
            out->ks = quantiles_for(p)->kolmogorov * sqrt(inv) + 1.0 / (double)n;
    }
    if (!isnan(s->missing_change) && s->rows > 0 && s->ref_rows > 0) {
        double q = (double)s->ref_missing / (double)s->ref_rows;
        double inv = 1.0 / (double)s->rows + 1.0 / (double)s->ref_rows;
        out->missing = quantiles_for(p)->z * sqrt(q * (1 - q) * inv);
    }
}

/* KL term r ln(r/a) with 0 ln 0 = 0 (a > 0 whenever r > 0). */
static double kl_term(double r, double a)
{
    return r > 0 ? r * log(r / a) : 0.0;
}

void cairn_drift_acc_stats(const cairn_drift_acc *acc, cairn_drift_stats *out)
{
    const cairn_drift_ref *r = acc->ref;
    out->rows = acc->rows;
    out->missing = acc->missing;
    out->missing_change = out->psi = out->js = out->ks = out->ks_bound = NAN;
    out->chi2 = out->chi2_p = out->chi2_dof = NAN;
    out->unseen_share = out->ref_other_share = out->mean = out->std = NAN;
    out->ref_rows = r->rows;
    out->ref_missing = r->missing;
    out->ref_bins_used = 0;
    for (size_t b = 0; b < r->n_bins; b++)
        out->ref_bins_used += r->counts[b] > 0;
    uint64_t m = acc->rows - acc->missing;
    uint64_t n = r->rows - r->missing;
    if (r->kind == CAIRN_DRIFT_CATEGORY && n > 0)
        out->ref_other_share = (double)r->other / (double)n;
    if (acc->rows == 0)
        return;
    if (r->rows > 0)
        out->missing_change =
            (double)acc->missing / (double)acc->rows - (double)r->missing / (double)r->rows;
    if (m == 0)
        return;
    if (r->kind == CAIRN_DRIFT_NUMBER) {
        out->mean = acc->mean;
        out->std = sqrt(acc->m2 / (double)m);
    } else {
        out->unseen_share = (double)acc->bins[r->n_categories] / (double)m;
    }
    if (n == 0 || r->n_bins == 0)
        return;

    double psi = 0, js = 0, chi2 = 0;
    size_t used = 0;
    int impossible = 0;
    for (size_t b = 0; b < r->n_bins; b++) {
        double rs = (double)r->counts[b] / (double)n;
        double ws = (double)acc->bins[b] / (double)m;
        double rf = rs > CAIRN_DRIFT_PSI_EPS ? rs : CAIRN_DRIFT_PSI_EPS;
        double wf = ws > CAIRN_DRIFT_PSI_EPS ? ws : CAIRN_DRIFT_PSI_EPS;
        psi += (wf - rf) * log(wf / rf);
        double a = (rs + ws) / 2;
        js += kl_term(rs, a) + kl_term(ws, a);
        double e = rs * (double)m;
        if (e > 0) {
            double d = (double)acc->bins[b] - e;
            chi2 += d * d / e;
            used++;
        } else if (acc->bins[b] > 0) {
            impossible = 1;
        }
    }
    out->psi = psi;
    /* Rounding can leave a hair below zero for identical shares. */
    js = js / (2 * log(2.0));
    out->js = sqrt(js > 0 ? js : 0);
    if (r->kind == CAIRN_DRIFT_CATEGORY) {
        out->chi2_dof = used > 0 ? (double)(used - 1) : 0;
        if (impossible) {
            out->chi2 = INFINITY;
            out->chi2_p = 0;
        } else if (out->chi2_dof == 0) {
            out->chi2 = 0;
            out->chi2_p = 1;
        } else {
            out->chi2 = chi2;
            out->chi2_p = cairn_drift_chi2_sf(chi2, out->chi2_dof);
        }
        return;
    }

    /* KS at the reference quantiles (drift.h). below[j] = F_W(q_j-), at[j] = F_W(q_j). */
    double ks = 0, worst_mass = 0;
    uint64_t cum = 0;
    size_t v = 0;       /* index of the distinct value q_j */
    double below = 0, at = 0;
    for (size_t j = 0; j < r->n_quantiles; j++) {
        if (j == 0 || r->quantiles[j] != r->quantiles[j - 1]) {
            if (j > 0)
                v++;
            cum += acc->ks_cells[2 * v];       /* the gap below this value */
            below = (double)cum / (double)m;
            cum += acc->ks_cells[2 * v + 1];   /* the value itself */
            at = (double)cum / (double)m;
            if (v + 1 < acc->n_ks_values) {
                /* [q_j, next distinct q): the value and the gap above it */
                double mass =
                    (double)(acc->ks_cells[2 * v + 1] + acc->ks_cells[2 * v + 2]) / (double)m;
                if (mass > worst_mass)
                    worst_mass = mass;
            }
        }
        double p = (double)j / (double)(CAIRN_DRIFT_QUANTILES - 1);
        double d = p < below ? below - p : p > at ? p - at : 0;
        if (d > ks)
            ks = d;
    }
    out->ks = ks;
    double step = 1.0 / (double)(CAIRN_DRIFT_QUANTILES - 1);
    out->ks_bound = 1.0 / (double)n + (worst_mass < step ? worst_mass : step);
}

/* ---- severity ----------------------------------------------------------- */

void cairn_drift_thresholds_default(cairn_drift_thresholds *th)
{
    th->psi_warn = 0.1;
    th->psi_alert = 0.2;
    th->ks_warn = 0.1;
    th->ks_alert = 0.2;
    th->js_warn = 0.1;
    th->js_alert = 0.2;
    th->missing_warn = 0.05;
    th->missing_alert = 0.10;
    th->noise_p = 0.01;
}

cairn_drift_severity cairn_drift_judge(double x, double noise, double warn, double alert)
{
    if (isnan(x) || x < noise)
        return CAIRN_DRIFT_OK;
    return x >= alert ? CAIRN_DRIFT_ALERT : x >= warn ? CAIRN_DRIFT_WARN : CAIRN_DRIFT_OK;
}

cairn_drift_severity cairn_drift_stats_severity(const cairn_drift_stats *s,
                                                const cairn_drift_thresholds *th)
{
    cairn_drift_thresholds def;
    if (!th) {
        cairn_drift_thresholds_default(&def);
        th = &def;
    }
    cairn_drift_noise nz;
    cairn_drift_stats_noise(s, th->noise_p, &nz);
    return cairn_drift_stats_judge(s, &nz, th, NULL);
}

cairn_drift_severity cairn_drift_stats_judge(const cairn_drift_stats *s,
                                             const cairn_drift_noise *nz,
                                             const cairn_drift_thresholds *th,
                                             cairn_drift_reason *why)
{
    if (why)
        *why = (cairn_drift_reason){NULL, NAN, NAN};
    if (s->rows == 0)
        return CAIRN_DRIFT_NODATA;
    struct {
        const char *name;
        double v, noise, warn, alert;
    } c[] = {{"psi", s->psi, nz->psi, th->psi_warn, th->psi_alert},
             {"ks", s->ks, nz->ks, th->ks_warn, th->ks_alert},
             {"js", s->js, nz->js, th->js_warn, th->js_alert},
             {"missing_change", fabs(s->missing_change), nz->missing, th->missing_warn,
              th->missing_alert}};
    cairn_drift_severity worst = CAIRN_DRIFT_OK;
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(c); i++) {
        cairn_drift_severity v = cairn_drift_judge(c[i].v, c[i].noise, c[i].warn, c[i].alert);
        if (v <= worst)
            continue;
        worst = v;
        if (why)
            *why = (cairn_drift_reason){c[i].name, c[i].v,
                                        v == CAIRN_DRIFT_ALERT ? c[i].alert : c[i].warn};
    }
    return worst;
}
