/*
 * test_shared_stats.c -- column statistics on real data: electricity.csv and
 * telco_churn.csv from $CAIRN_SHARED_DATA (skipped with exit code 77 when
 * that is not set or the files are missing).
 *
 * The frames are built here with a tiny test-only splitter (these two files
 * have no quoting: split lines on commas, drop a trailing CR), not with the
 * CSV reader, so this test checks statistics only. Numeric columns become
 * FLOAT64 (INT64 for whole-number columns, BOOL for telco's SeniorCitizen),
 * the rest STRING; telco's TotalCharges " " is a null. cairn_frame_stats is
 * compared with exact values computed here by the simple method: sorting
 * for quantile ranks and category counts, two-pass mean and variance, a
 * linear scan of the edges for histogram counts. The merge of two halves
 * and the JSON round trip are checked on the same columns.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "data/stats.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *g_dir;

/* ---- a test-only CSV splitter ------------------------------------------------- */

typedef cairn_type (*type_of_fn)(const char *name);

static cairn_type electricity_type(const char *name)
{
    if (strcmp(name, "class") == 0)
        return CAIRN_TYPE_STRING;
    if (strcmp(name, "day") == 0)
        return CAIRN_TYPE_INT64;
    return CAIRN_TYPE_FLOAT64;
}

static cairn_type telco_type(const char *name)
{
    if (strcmp(name, "SeniorCitizen") == 0)
        return CAIRN_TYPE_BOOL;
    if (strcmp(name, "tenure") == 0)
        return CAIRN_TYPE_INT64;
    if (strcmp(name, "MonthlyCharges") == 0 || strcmp(name, "TotalCharges") == 0)
        return CAIRN_TYPE_FLOAT64;
    return CAIRN_TYPE_STRING;
}

/* Splits line [p, end) on commas into at most max fields; returns the count. */
static size_t split(char *p, char *end, char **fields, size_t *lens, size_t max)
{
    size_t n = 0;
    if (end > p && end[-1] == '\r')
        end--;
    char *start = p;
    for (char *q = p;; q++) {
        if (q == end || *q == ',') {
            if (n < max) {
                fields[n] = start;
                lens[n] = (size_t)(q - start);
            }
            n++;
            if (q == end)
                break;
            start = q + 1;
        }
    }
    return n;
}

static cairn_frame *load(const char *file, type_of_fn type_of)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", g_dir, file);
    char *data;
    size_t len;
    cairn_error err = {0};
    if (cairn_read_file(path, &data, &len, &err) != CAIRN_OK)
        fail_msg("%s: %s", path, err.msg);
    /* Lines: the header, then rows (no trailing newline in electricity.csv). */
    size_t n_lines = 0;
    for (size_t i = 0; i < len; i++)
        n_lines += data[i] == '\n';
    if (len && data[len - 1] != '\n')
        n_lines++;
    size_t n_rows = n_lines - 1;
    char *fields[64];
    size_t lens[64];
    char *line = data, *eol = memchr(line, '\n', len);
    size_t n_cols = split(line, eol, fields, lens, 64);
    assert_true(n_cols > 1 && n_cols <= 64);
    cairn_frame *f;
    assert_int_equal(cairn_frame_new(n_cols, &f, NULL), CAIRN_OK);
    f->n_rows = n_rows;
    for (size_t j = 0; j < n_cols; j++) {
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)lens[j], fields[j]);
        assert_int_equal(cairn_column_alloc(&f->cols[j], name, type_of(name), n_rows, NULL),
                         CAIRN_OK);
    }
    char *p = eol + 1, *end = data + len;
    for (size_t r = 0; r < n_rows; r++) {
        char *e = memchr(p, '\n', (size_t)(end - p));
        if (!e)
            e = end;
        assert_int_equal(split(p, e, fields, lens, 64), n_cols);
        for (size_t j = 0; j < n_cols; j++) {
            cairn_column *c = &f->cols[j];
            const char *s = fields[j];
            size_t n = lens[j];
            if (n == 1 && s[0] == ' ')
                continue; /* telco's blank TotalCharges: null */
            c->valid[r] = 1;
            bool ok = true;
            switch (c->type) {
            case CAIRN_TYPE_FLOAT64: ok = cairn_parse_double(s, n, &c->v.f64[r]); break;
            case CAIRN_TYPE_INT64: ok = cairn_parse_int64(s, n, &c->v.i64[r]); break;
            case CAIRN_TYPE_BOOL: {
                int64_t v = 0;
                ok = cairn_parse_int64(s, n, &v) && (v == 0 || v == 1);
                c->v.b[r] = (uint8_t)v;
                break;
            }
            default: ok = cairn_dict_intern(&c->dict, s, n, &c->v.codes[r]) == CAIRN_OK; break;
            }
            if (!ok)
                fail_msg("%s row %zu column %s: '%.*s'", file, r + 1, c->name, (int)n, s);
        }
        p = e + 1;
    }
    cairn_free(data);
    return f;
}

/* ---- the simple method --------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

typedef struct key {
    const char *value;
    uint64_t count;
} key;

static int cmp_key_rank(const void *pa, const void *pb)
{
    const key *a = pa, *b = pb;
    if (a->count != b->count)
        return a->count > b->count ? -1 : 1;
    return strcmp(a->value, b->value);
}

static void assert_rel(double got, double want, double tol, const char *what)
{
    double scale = fabs(want) > 1.0 ? fabs(want) : 1.0;
    if (!(fabs(got - want) <= tol * scale))
        fail_msg("%s: got %.17g, want %.17g", what, got, want);
}

static double value_at(const cairn_column *c, size_t r)
{
    switch (c->type) {
    case CAIRN_TYPE_BOOL: return c->v.b[r] ? 1.0 : 0.0;
    case CAIRN_TYPE_INT64: return (double)c->v.i64[r];
    default: return c->v.f64[r];
    }
}

static void check_number_column(const cairn_column *c, const cairn_colstats *s)
{
    double *v = malloc((c->n_rows + 1) * sizeof *v);
    assert_non_null(v);
    size_t n = 0;
    for (size_t r = 0; r < c->n_rows; r++)
        if (c->valid[r])
            v[n++] = value_at(c, r);
    qsort(v, n, sizeof *v, cmp_double);
    assert_int_equal(s->count, n);
    assert_int_equal(s->nulls, c->n_rows - n);
    assert_true(s->min == v[0] && s->max == v[n - 1]);
    double sum = 0.0, ss = 0.0;
    for (size_t i = 0; i < n; i++)
        sum += v[i];
    double mean = sum / (double)n;
    for (size_t i = 0; i < n; i++)
        ss += (v[i] - mean) * (v[i] - mean);
    assert_rel(s->mean, mean, 1e-9, c->name);
    assert_rel(s->stddev, sqrt(ss / (double)(n - 1)), 1e-9, c->name);
    /* Percentiles within 1% in rank: q lies in [#<x, #<=x] / n give or take 1%. */
    for (int i = 1; i < 100; i++) {
        double x = s->quantiles[i], q = i / 100.0;
        size_t lt = 0, le = 0;
        for (size_t k = 0; k < n; k++) {
            lt += v[k] < x;
            le += v[k] <= x;
        }
        double err = q * (double)n < (double)lt   ? ((double)lt - q * (double)n) / (double)n
                     : q * (double)n > (double)le ? (q * (double)n - (double)le) / (double)n
                                                  : 0.0;
        if (!(err < 0.01))
            fail_msg("%s: q%d = %g has rank error %g", c->name, i, x, err);
    }
    /* Histogram counts by scanning the edges: the last edge <= x. */
    uint64_t want[CAIRN_STATS_HIST_BINS] = {0};
    for (size_t k = 0; k < n; k++) {
        size_t b = 0;
        for (size_t i = 0; i < CAIRN_STATS_HIST_BINS; i++)
            if (s->hist_edges[i] <= v[k])
                b = i;
        want[b]++;
    }
    for (size_t i = 0; i < CAIRN_STATS_HIST_BINS; i++)
        if (s->hist_counts[i] != want[i])
            fail_msg("%s: bin %zu has %llu, want %llu", c->name, i,
                     (unsigned long long)s->hist_counts[i], (unsigned long long)want[i]);
    free(v);
}

static void check_string_column(const cairn_column *c, const cairn_colstats *s)
{
    const char **v = malloc((c->n_rows + 1) * sizeof *v);
    assert_non_null(v);
    size_t n = 0;
    for (size_t r = 0; r < c->n_rows; r++)
        if (c->valid[r])
            v[n++] = cairn_dict_str(&c->dict, c->v.codes[r]);
    qsort(v, n, sizeof *v, cmp_str);
    assert_int_equal(s->count, n);
    assert_int_equal(s->nulls, c->n_rows - n);
    /* Distinct values with counts, then ranked: count desc, value asc. */
    key *keys = malloc((n + 1) * sizeof *keys);
    assert_non_null(keys);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (m && strcmp(keys[m - 1].value, v[i]) == 0)
            keys[m - 1].count++;
        else
            keys[m++] = (key){v[i], 1};
    }
    qsort(keys, m, sizeof *keys, cmp_key_rank);
    size_t want = m < CAIRN_STATS_TOPK_TRACK ? m : CAIRN_STATS_TOPK_TRACK;
    assert_int_equal(s->n_top, want);
    for (size_t i = 0; i < want; i++) {
        if (strcmp(s->top[i].value, keys[i].value) != 0 || s->top[i].count != keys[i].count)
            fail_msg("%s: top %zu is %s x%llu, want %s x%llu", c->name, i, s->top[i].value,
                     (unsigned long long)s->top[i].count, keys[i].value,
                     (unsigned long long)keys[i].count);
    }
    if (m <= CAIRN_STATS_TOPK_TRACK)
        assert_int_equal(s->distinct, m);
    else if (!(fabs((double)s->distinct - (double)m) < 0.03 * (double)m))
        fail_msg("%s: distinct %llu, exact %zu", c->name, (unsigned long long)s->distinct, m);
    free(keys);
    free(v);
}

static void check_frame(const char *file, type_of_fn type_of)
{
    cairn_frame *f = load(file, type_of);
    cairn_colstats *st;
    cairn_error err = {0};
    if (cairn_frame_stats(f, 2024, &st, &err) != CAIRN_OK)
        fail_msg("frame_stats: %s (%s)", err.msg, err.where);
    for (size_t j = 0; j < f->n_cols; j++) {
        const cairn_column *c = &f->cols[j];
        if (c->type == CAIRN_TYPE_STRING)
            check_string_column(c, &st[j]);
        else
            check_number_column(c, &st[j]);

        /* Two halves merged, finished over the column: the same checks hold. */
        cairn_colstats a, b;
        size_t half = c->n_rows / 2;
        assert_int_equal(cairn_colstats_init(&a, c->type, NULL), CAIRN_OK);
        assert_int_equal(cairn_colstats_init(&b, c->type, NULL), CAIRN_OK);
        assert_int_equal(cairn_colstats_add_column(&a, c, 0, half, 1, NULL), CAIRN_OK);
        assert_int_equal(cairn_colstats_add_column(&b, c, half, c->n_rows, 2, NULL), CAIRN_OK);
        assert_int_equal(cairn_colstats_merge(&a, &b, NULL), CAIRN_OK);
        assert_int_equal(cairn_colstats_finish(&a, c, NULL), CAIRN_OK);
        if (c->type != CAIRN_TYPE_STRING) {
            check_number_column(c, &a);
        } else if (a.top_complete) {
            check_string_column(c, &a);
        }
        cairn_colstats_reset(&a);
        cairn_colstats_reset(&b);

        /* JSON round trip. */
        cairn_buf buf;
        cairn_buf_init(&buf);
        cairn_colstats_to_json(&st[j], &buf);
        cairn_colstats back;
        if (cairn_colstats_from_json(buf.data, buf.len, &back, &err) != CAIRN_OK)
            fail_msg("%s: %s", c->name, err.msg);
        assert_int_equal(back.count, st[j].count);
        assert_int_equal(back.distinct, st[j].distinct);
        if (c->type != CAIRN_TYPE_STRING)
            assert_memory_equal(back.quantiles, st[j].quantiles, sizeof back.quantiles);
        cairn_colstats_reset(&back);
        cairn_buf_reset(&buf);
    }
    if (strcmp(file, "telco_churn.csv") == 0) {
        long tc = cairn_frame_find(f, "TotalCharges");
        assert_true(tc >= 0);
        assert_int_equal(st[tc].nulls, 11);
        assert_int_equal(st[tc].count, 7043 - 11);
        long churn = cairn_frame_find(f, "Churn");
        assert_string_equal(st[churn].top[0].value, "No");
        assert_int_equal(st[churn].top[0].count, 5174);
        assert_int_equal(st[churn].top[1].count, 1869);
        long senior = cairn_frame_find(f, "SeniorCitizen");
        assert_int_equal(st[senior].distinct, 2);
    } else {
        long cls = cairn_frame_find(f, "class");
        assert_string_equal(st[cls].top[0].value, "DOWN");
        assert_int_equal(st[cls].top[0].count, 26075);
        assert_int_equal(st[cls].top[1].count, 19237);
        assert_int_equal(f->n_rows, 45312);
    }
    cairn_frame_stats_free(st, f->n_cols);
    cairn_frame_free(f);
}

static void test_electricity(void **state)
{
    (void)state;
    check_frame("electricity.csv", electricity_type);
}

static void test_telco(void **state)
{
    (void)state;
    check_frame("telco_churn.csv", telco_type);
}

int main(void)
{
    g_dir = getenv("CAIRN_SHARED_DATA");
    char probe[4096];
    snprintf(probe, sizeof probe, "%s/telco_churn.csv", g_dir ? g_dir : "");
    FILE *fp = g_dir ? fopen(probe, "rb") : NULL;
    if (!fp) {
        printf("skipped: CAIRN_SHARED_DATA is not set or has no telco_churn.csv\n");
        return 77;
    }
    fclose(fp);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_electricity),
        cmocka_unit_test(test_telco),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
