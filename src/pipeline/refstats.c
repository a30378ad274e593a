/*
 * refstats.c -- the reference statistics of one training part (see
 * refstats.h for the JSON and its contract). Each feature column is gathered
 * over the rows of the part, numbers are sorted once (a radix sort, so a
 * million rows cost a few linear passes rather than a comparison sort) and
 * every number statistic is read off the sorted array; categories are counted
 * by dictionary code. Comparing these statistics with live traffic is
 * monitoring's job, not this file's.
 */
#include "pipeline/refstats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const part_names[3] = {"train", "valid", "test"};

/* ---- numbers ------------------------------------------------------------ */

/*
 * Maps a double to an unsigned key whose unsigned order is the numeric order:
 * positive numbers get the sign bit set, negative ones are bit-inverted so
 * that larger magnitudes sort first. (-0 sorts just before +0, which no
 * statistic here can tell apart.)
 */
static uint64_t double_key(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return (u >> 63) ? ~u : (u | 0x8000000000000000ull);
}

static double key_double(uint64_t k)
{
    uint64_t u = (k >> 63) ? (k & 0x7fffffffffffffffull) : ~k;
    double v;
    memcpy(&v, &u, sizeof v);
    return v;
}

/*
 * Sorts keys[0..n) ascending with an LSD radix sort on bytes, using tmp (n
 * entries) as scratch. All eight histograms are built in one pass; a byte
 * position on which every key agrees (common for integers and timestamps,
 * whose high bytes repeat) is skipped. The result is left in keys.
 */
static void radix_sort(uint64_t *keys, uint64_t *tmp, size_t n)
{
    size_t hist[8][256];
    memset(hist, 0, sizeof hist);
    for (size_t i = 0; i < n; i++)
        for (int d = 0; d < 8; d++)
            hist[d][(keys[i] >> (8 * d)) & 0xff]++;
    uint64_t *src = keys, *dst = tmp;
    for (int d = 0; d < 8; d++) {
        size_t *h = hist[d];
        if (n == 0 || h[(keys[0] >> (8 * d)) & 0xff] == n)
            continue;
        size_t pos = 0;
        for (int v = 0; v < 256; v++) {
            size_t c = h[v];
            h[v] = pos;
            pos += c;
        }
        for (size_t i = 0; i < n; i++)
            dst[h[(src[i] >> (8 * d)) & 0xff]++] = src[i];
        uint64_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != keys)
        memcpy(keys, src, n * sizeof *keys);
}

/*
 * Quantile k/m of sorted x[0..n), n > 0, by linear interpolation between the
 * closest ranks (Hyndman & Fan type 7, numpy's default "linear"): with
 * h = (n - 1) k / m, q = x[floor h] + (h - floor h) (x[floor h + 1] - x[floor h]).
 * floor h and its fraction come from integer arithmetic, so a quantile that
 * falls exactly on a rank is that value (the 30% quantile of 0..10 is 3, not
 * 3 plus a rounding error, which matters for the bin edges). The result is
 * clamped to its two neighbours so that rounding never makes it decrease.
 */
static double quantile_sorted(const double *x, size_t n, size_t k, size_t m)
{
    /* (n-1) = a m + r, so (n-1) k / m = a k + r k / m without forming (n-1) k. */
    size_t whole = (n - 1) / m, r = (n - 1) % m;
    size_t lo = whole * k + r * k / m, rem = r * k % m;
    if (lo >= n - 1 || rem == 0)
        return x[lo < n - 1 ? lo : n - 1];
    double t = (double)rem / (double)m;
    double a = x[lo], b = x[lo + 1];
    double q = a + t * (b - a);
    if (!isfinite(q)) /* b - a overflowed (values near +-DBL_MAX) */
        q = a * (1 - t) + b * t;
    if (q < a)
        q = a;
    if (q > b)
        q = b;
    return q;
}

/* Number of entries of sorted x[0..n) below v (the lower bound of v). */
static size_t count_below(const double *x, size_t n, double v)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (x[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void put_double_array(cairn_buf *b, const double *v, size_t n)
{
    cairn_buf_putc(b, '[');
    for (size_t i = 0; i < n; i++) {
        if (i)
            cairn_buf_putc(b, ',');
        cairn_buf_put_double(b, v[i]);
    }
    cairn_buf_putc(b, ']');
}

static void put_size_array(cairn_buf *b, const size_t *v, size_t n)
{
    cairn_buf_putc(b, '[');
    for (size_t i = 0; i < n; i++)
        cairn_buf_printf(b, i ? ",%zu" : "%zu", v[i]);
    cairn_buf_putc(b, ']');
}

/*
 * Writes the fields of a number entry after "missing": x[0..n) are the
 * non-missing values, already sorted. The mean and the population standard
 * deviation take two passes (mean first, then squared deviations from it),
 * each summed with Neumaier compensation, so a column of large, close values
 * (timestamps) loses no digits to cancellation.
 */
static void put_number_stats(cairn_buf *b, const double *x, size_t n)
{
    if (n == 0) {
        cairn_buf_puts(b, ",\"min\":null,\"max\":null,\"mean\":null,\"std\":null,"
                          "\"edges\":[],\"counts\":[],\"quantiles\":[]}");
        return;
    }
    double sum = 0, comp = 0;
    for (size_t i = 0; i < n; i++) {
        double t = sum + x[i];
        comp += fabs(sum) >= fabs(x[i]) ? (sum - t) + x[i] : (x[i] - t) + sum;
        sum = t;
    }
    double mean = (sum + comp) / (double)n;
    /* The mean of sorted values lies within them; rounding must not say otherwise. */
    if (mean < x[0])
        mean = x[0];
    if (mean > x[n - 1])
        mean = x[n - 1];
    double ss = 0;
    comp = 0;
    for (size_t i = 0; i < n; i++) {
        double d = x[i] - mean, d2 = d * d;
        double t = ss + d2;
        comp += ss >= d2 ? (ss - t) + d2 : (d2 - t) + ss;
        ss = t;
    }
    double sd = sqrt((ss + comp) / (double)n);

    double q[CAIRN_REFSTATS_QUANTILES];
    for (int k = 0; k < CAIRN_REFSTATS_QUANTILES; k++)
        q[k] = quantile_sorted(x, n, (size_t)k, CAIRN_REFSTATS_QUANTILES - 1);

    /*
     * Bin edges are the inner deciles, taken from the quantiles above so the
     * two agree. An edge equal to the minimum or to the previous edge would
     * make an empty or duplicate bin, so only strictly increasing edges above
     * the minimum are kept: a constant column has no edge and one bin.
     */
    double edges[CAIRN_REFSTATS_BINS];
    size_t counts[CAIRN_REFSTATS_BINS];
    size_t n_edges = 0;
    const int step = (CAIRN_REFSTATS_QUANTILES - 1) / CAIRN_REFSTATS_BINS;
    for (int k = 1; k < CAIRN_REFSTATS_BINS; k++) {
        double e = q[k * step];
        double floor_v = n_edges ? edges[n_edges - 1] : x[0];
        if (e > floor_v)
            edges[n_edges++] = e;
    }
    /* Bin j holds edges[j-1] <= x < edges[j]; in sorted x each bin is a run. */
    size_t prev = 0;
    for (size_t j = 0; j < n_edges; j++) {
        size_t below = count_below(x, n, edges[j]);
        counts[j] = below - prev;
        prev = below;
    }
    counts[n_edges] = n - prev;

    cairn_buf_puts(b, ",\"min\":");
    cairn_buf_put_double(b, x[0]);
    cairn_buf_puts(b, ",\"max\":");
    cairn_buf_put_double(b, x[n - 1]);
    cairn_buf_puts(b, ",\"mean\":");
    cairn_buf_put_double(b, mean);
    cairn_buf_puts(b, ",\"std\":");
    cairn_buf_put_double(b, sd);
    cairn_buf_puts(b, ",\"edges\":");
    put_double_array(b, edges, n_edges);
    cairn_buf_puts(b, ",\"counts\":");
    put_size_array(b, counts, n_edges + 1);
    cairn_buf_puts(b, ",\"quantiles\":");
    put_double_array(b, q, CAIRN_REFSTATS_QUANTILES);
    cairn_buf_putc(b, '}');
}

static void put_entry_head(cairn_buf *b, const char *name, const char *type, size_t rows,
                           size_t missing)
{
    cairn_buf_puts(b, "{\"name\":");
    cairn_buf_put_json_string(b, name, strlen(name));
    cairn_buf_printf(b, ",\"type\":\"%s\",\"rows\":%zu,\"missing\":%zu", type, rows, missing);
}

/*
 * Sorts the n gathered keys and writes the number statistics. keys and tmp
 * have room for n; x aliases keys (a double and its key have the same size),
 * so the sorted doubles are decoded in place.
 */
static void finish_numbers(cairn_buf *b, uint64_t *keys, uint64_t *tmp, size_t n)
{
    radix_sort(keys, tmp, n);
    double *x = (double *)(void *)tmp;
    for (size_t i = 0; i < n; i++)
        x[i] = key_double(keys[i]);
    put_number_stats(b, x, n);
}

/* ---- categories --------------------------------------------------------- */

typedef struct cat_count {
    const char *name;
    uint32_t len;
    size_t count;
} cat_count;

/* Most frequent first; equal counts by name in byte order (a shorter prefix first). */
static int cat_cmp(const void *pa, const void *pb)
{
    const cat_count *a = pa, *b = pb;
    if (a->count != b->count)
        return a->count > b->count ? -1 : 1;
    uint32_t m = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->name, b->name, m);
    if (c)
        return c;
    return a->len < b->len ? -1 : a->len > b->len ? 1 : 0;
}

/*
 * Sorts cats[0..n) and writes the fields of a category entry after
 * "missing": the first CAIRN_REFSTATS_MAX_CATEGORIES categories with their
 * counts and the rows of the rest as "other".
 */
static void put_categories(cairn_buf *b, cat_count *cats, size_t n)
{
    if (n > 1)
        qsort(cats, n, sizeof *cats, cat_cmp);
    size_t shown = n < CAIRN_REFSTATS_MAX_CATEGORIES ? n : CAIRN_REFSTATS_MAX_CATEGORIES;
    cairn_buf_puts(b, ",\"categories\":[");
    for (size_t i = 0; i < shown; i++) {
        if (i)
            cairn_buf_putc(b, ',');
        cairn_buf_put_json_string(b, cats[i].name, cats[i].len);
    }
    cairn_buf_puts(b, "],\"counts\":[");
    for (size_t i = 0; i < shown; i++)
        cairn_buf_printf(b, i ? ",%zu" : "%zu", cats[i].count);
    size_t other = 0;
    for (size_t i = shown; i < n; i++)
        other += cats[i].count;
    cairn_buf_printf(b, "],\"other\":%zu}", other);
}

/* ---- the whole document ------------------------------------------------- */

static bool in_part(const cairn_refstats_input *in, size_t row)
{
    return in->part == NULL || in->part[row] == in->which;
}

/*
 * Writes one feature entry. keys/tmp have room for the part's rows; counts
 * has room for the largest dictionary among the features. Returns false only
 * when scratch memory for the categories runs out.
 */
static bool put_feature(const cairn_refstats_input *in, size_t n_part, const cairn_column *c,
                        uint64_t *keys, uint64_t *tmp, size_t *counts, cairn_buf *b)
{
    const cairn_frame *f = in->frame;
    const char *name = c->name ? c->name : "";
    size_t n = 0;
    switch (c->type) {
    case CAIRN_TYPE_INT64:
    case CAIRN_TYPE_FLOAT64:
    case CAIRN_TYPE_TIMESTAMP:
        for (size_t i = 0; i < f->n_rows; i++) {
            if (!in_part(in, i) || !c->valid[i])
                continue;
            double v;
            if (c->type == CAIRN_TYPE_FLOAT64)
                v = c->v.f64[i];
            else if (c->type == CAIRN_TYPE_INT64)
                v = (double)c->v.i64[i];
            else
                v = (double)c->v.i64[i] / 1e6; /* microseconds to seconds */
            if (isfinite(v))
                keys[n++] = double_key(v);
        }
        put_entry_head(b, name, c->type == CAIRN_TYPE_TIMESTAMP ? "timestamp" : "number", n_part,
                       n_part - n);
        finish_numbers(b, keys, tmp, n);
        return true;
    case CAIRN_TYPE_BOOL: {
        /* A closed domain: both values are listed, seen or not. */
        cat_count cats[2] = {{"false", 5, 0}, {"true", 4, 0}};
        for (size_t i = 0; i < f->n_rows; i++) {
            if (!in_part(in, i) || !c->valid[i])
                continue;
            cats[c->v.b[i] ? 1 : 0].count++;
            n++;
        }
        put_entry_head(b, name, "category", n_part, n_part - n);
        put_categories(b, cats, 2);
        return true;
    }
    case CAIRN_TYPE_STRING: {
        uint32_t n_codes = c->dict.n;
        memset(counts, 0, (size_t)n_codes * sizeof *counts);
        for (size_t i = 0; i < f->n_rows; i++) {
            if (!in_part(in, i) || !c->valid[i])
                continue;
            counts[c->v.codes[i]]++;
            n++;
        }
        /* Only values that occur in the part: the dictionary also holds other parts' values. */
        size_t n_seen = 0;
        for (uint32_t k = 0; k < n_codes; k++)
            n_seen += counts[k] != 0;
        cat_count *cats = cairn_calloc(n_seen ? n_seen : 1, sizeof *cats);
        if (!cats)
            return false;
        size_t j = 0;
        for (uint32_t k = 0; k < n_codes; k++)
            if (counts[k])
                cats[j++] = (cat_count){cairn_dict_str(&c->dict, k), cairn_dict_len(&c->dict, k),
                                        counts[k]};
        put_entry_head(b, name, "category", n_part, n_part - n);
        put_categories(b, cats, n_seen);
        cairn_free(cats);
        return true;
    }
    default:
        return true; /* rejected by validate() */
    }
}

/*
 * The prediction entry. Binary and regression scores are a number entry;
 * multiclass rows become their argmax class (the first on ties; a row with no
 * finite score is missing) and every class is listed, seen or not.
 */
static bool put_prediction(const cairn_refstats_input *in, size_t n_part, uint64_t *keys,
                           uint64_t *tmp, cairn_buf *b)
{
    if (in->task != CAIRN_TASK_MULTICLASS) {
        size_t n = 0;
        for (size_t i = 0; i < n_part; i++)
            if (isfinite(in->scores[i]))
                keys[n++] = double_key(in->scores[i]);
        put_entry_head(b, "score", "number", n_part, n_part - n);
        finish_numbers(b, keys, tmp, n);
        return true;
    }
    size_t k = in->n_classes;
    cat_count *cats = cairn_calloc(k, sizeof *cats);
    if (!cats)
        return false;
    for (size_t j = 0; j < k; j++)
        cats[j] = (cat_count){in->class_names[j], (uint32_t)strlen(in->class_names[j]), 0};
    size_t n = 0;
    for (size_t i = 0; i < n_part; i++) {
        const double *s = in->scores + i * k;
        size_t best = k;
        for (size_t j = 0; j < k; j++)
            if (isfinite(s[j]) && (best == k || s[j] > s[best]))
                best = j;
        if (best < k) {
            cats[best].count++;
            n++;
        }
    }
    put_entry_head(b, "class", "category", n_part, n_part - n);
    put_categories(b, cats, k);
    cairn_free(cats);
    return true;
}

/* Checks the input and counts the part's rows; *max_codes: the largest feature dictionary. */
static cairn_status validate(const cairn_refstats_input *in, size_t *n_part, size_t *max_codes,
                             cairn_error *err)
{
    if (!in || !in->frame)
        return cairn_error_set(err, CAIRN_EINVAL, "refstats", "no frame");
    const cairn_frame *f = in->frame;
    if (in->which > CAIRN_PART_TEST)
        return cairn_error_set(err, CAIRN_EINVAL, "refstats", "unknown part %u",
                               (unsigned)in->which);
    if (in->n_cols && !in->cols)
        return cairn_error_set(err, CAIRN_EINVAL, "refstats", "no column indices");
    if ((unsigned)in->task > CAIRN_TASK_MULTICLASS)
        return cairn_error_set(err, CAIRN_EINVAL, "refstats", "unknown task %d", (int)in->task);
    *max_codes = 0;
    for (size_t j = 0; j < in->n_cols; j++) {
        if (in->cols[j] >= f->n_cols)
            return cairn_error_set(err, CAIRN_EINVAL, "refstats",
                                   "feature %zu: column index %zu outside the frame's %zu columns",
                                   j, in->cols[j], f->n_cols);
        const cairn_column *c = &f->cols[in->cols[j]];
        if (c->n_rows != f->n_rows)
            return cairn_error_set(err, CAIRN_EINVAL, c->name,
                                   "column has %zu rows, the frame %zu", c->n_rows, f->n_rows);
        switch (c->type) {
        case CAIRN_TYPE_BOOL:
        case CAIRN_TYPE_INT64:
        case CAIRN_TYPE_FLOAT64:
        case CAIRN_TYPE_TIMESTAMP:
            break;
        case CAIRN_TYPE_STRING:
            if (c->dict.n > *max_codes)
                *max_codes = c->dict.n;
            break;
        default:
            return cairn_error_set(err, CAIRN_EINVAL, c->name, "column has no type");
        }
    }
    size_t n = f->n_rows;
    if (in->part) {
        n = 0;
        for (size_t i = 0; i < f->n_rows; i++)
            n += in->part[i] == in->which;
    }
    *n_part = n;
    if (!in->scores)
        return CAIRN_OK;
    if (in->n_scores != n)
        return cairn_error_set(err, CAIRN_EINVAL, "refstats",
                               "%zu scores for the %zu rows of the %s part", in->n_scores, n,
                               part_names[in->which]);
    if (in->task == CAIRN_TASK_MULTICLASS) {
        size_t total;
        if (in->n_classes == 0 || !in->class_names)
            return cairn_error_set(err, CAIRN_EINVAL, "refstats",
                                   "multiclass scores without class names");
        if (!cairn_mul_size(n, in->n_classes, &total))
            return cairn_error_set(err, CAIRN_EINVAL, "refstats", "too many scores");
        for (size_t j = 0; j < in->n_classes; j++)
            if (!in->class_names[j])
                return cairn_error_set(err, CAIRN_EINVAL, "refstats", "class %zu has no name", j);
    }
    return CAIRN_OK;
}

cairn_status cairn_refstats_json(const cairn_refstats_input *in, cairn_buf *b, cairn_error *err)
{
    cairn_status st;
    size_t n_part = 0, max_codes = 0;
    uint64_t *keys = NULL, *tmp = NULL;
    size_t *counts = NULL;
    cairn_buf out;
    cairn_buf_init(&out);
    if (!b)
        return cairn_error_set(err, CAIRN_EINVAL, "refstats", "no output buffer");
    st = validate(in, &n_part, &max_codes, err);
    if (st != CAIRN_OK)
        goto done;

    /* One scratch pair sized for the part serves every number column in turn. */
    size_t n_alloc = n_part ? n_part : 1;
    keys = cairn_malloc(n_alloc * sizeof *keys);
    tmp = cairn_malloc(n_alloc * sizeof *tmp);
    counts = cairn_malloc((max_codes ? max_codes : 1) * sizeof *counts);
    if (!keys || !tmp || !counts)
        goto nomem;

    /*
     * The document is built aside and appended whole, so a failure leaves b
     * as it was rather than holding half a document.
     */
    cairn_buf_printf(&out, "{\"version\":%d,\"part\":\"%s\",\"rows\":%zu,\"features\":[",
                     CAIRN_REFSTATS_VERSION, part_names[in->which], n_part);
    for (size_t j = 0; j < in->n_cols; j++) {
        if (j)
            cairn_buf_putc(&out, ',');
        if (!put_feature(in, n_part, &in->frame->cols[in->cols[j]], keys, tmp, counts, &out))
            goto nomem;
    }
    cairn_buf_puts(&out, "],\"prediction\":");
    if (!in->scores)
        cairn_buf_puts(&out, "null");
    else if (!put_prediction(in, n_part, keys, tmp, &out))
        goto nomem;
    cairn_buf_putc(&out, '}');
    if (out.failed)
        goto nomem;
    cairn_buf_append(b, out.data, out.len);
    if (b->failed)
        goto nomem;
    st = CAIRN_OK;
    goto done;

nomem:
    st = cairn_error_set(err, CAIRN_ENOMEM, "refstats", "out of memory describing %zu rows",
                         n_part);
done:
    cairn_buf_reset(&out);
    cairn_free(keys);
    cairn_free(tmp);
    cairn_free(counts);
    return st;
}
