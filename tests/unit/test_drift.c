/*
 * test_drift.c -- drift statistics (src/monitor/drift.c). References are made
 * by refstats itself (cairn_refstats_json on frames built here) and parsed
 * back. Checked: PSI, Jensen-Shannon, chi-squared and its p-value against
 * numpy/scipy on 20k-row samples, the binned KS against the exact
 * scipy.stats.ks_2samp within the bound drift.h documents, chi2.sf on a
 * grid; identical windows (PSI ~ 0, ok), a shifted window (alert), unseen
 * categories, bools, an impossible category (chi2 = inf), all-missing and
 * empty windows, an accumulator that never allocates, parse errors and
 * allocation failures while parsing; the noise levels (quantiles against scipy, and
 * the share of same-distribution small windows they keep from warning).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "test_frame_util.h"

#include "test_python.h"

#include "monitor/drift.h"
#include "pipeline/refstats.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static double unif(uint64_t *s)
{
    return ((double)lcg(s) + 0.5) / 2147483648.0;
}

static double gauss(uint64_t *s)
{
    double u = unif(s), v = unif(s);
    return sqrt(-2 * log(u)) * cos(2 * 3.14159265358979323846 * v);
}

/* refstats of the frame's columns (every row), parsed into refs. */
static void make_refs(const cairn_frame *f, const double *scores, cairn_drift_refs *refs)
{
    size_t cols[8];
    for (size_t j = 0; j < f->n_cols; j++)
        cols[j] = j;
    cairn_refstats_input in = {.frame = f, .cols = cols, .n_cols = f->n_cols,
                               .task = CAIRN_TASK_BINARY, .scores = scores,
                               .n_scores = scores ? f->n_rows : 0};
    cairn_buf b;
    cairn_buf_init(&b);
    cairn_error err = {0};
    if (cairn_refstats_json(&in, &b, &err) != CAIRN_OK)
        fail_msg("refstats: %s (%s)", err.msg, err.where);
    cairn_drift_refs_init(refs);
    if (cairn_drift_refs_parse(refs, b.data, b.len, &err) != CAIRN_OK)
        fail_msg("parse: %s (%s)", err.msg, err.where);
    cairn_buf_reset(&b);
}

static void check_rel(double got, double want, double rel)
{
    double tol = rel * fabs(want);
    if (tol < 1e-300)
        tol = 1e-300;
    if (!(fabs(got - want) <= tol))
        fail_msg("got %.17g, want %.17g", got, want);
}

static void check_abs(double got, double want, double tol)
{
    if (!(fabs(got - want) <= tol))
        fail_msg("got %.17g, want %.17g (tolerance %g)", got, want, tol);
}

static void feed_num(cairn_drift_acc *a, double x)
{
    assert_int_equal(cairn_drift_acc_add_number(a, x, NULL), CAIRN_OK);
}

static void feed_cat(cairn_drift_acc *a, const char *s)
{
    assert_int_equal(cairn_drift_acc_add_category(a, s, s ? strlen(s) : 0, NULL), CAIRN_OK);
}

/* ---- the scipy oracle --------------------------------------------------- */

enum { NR = 20000, NW = 18000, NCAT = 70 };

static double ref_num(uint64_t *s)
{
    if (lcg(s) % 33 == 0)
        return NAN;
    /* A normal with a tenth of exact ties at 0.5, so some quantiles coincide. */
    return lcg(s) % 10 == 0 ? 0.5 : gauss(s);
}

static double win_num(uint64_t *s)
{
    if (lcg(s) % 20 == 0)
        return NAN;
    return lcg(s) % 25 == 0 ? 0.5 : 0.3 + 1.2 * gauss(s);
}

/* Geometric-ish category: more than 50 names, so refstats lists 50 and has "other". */
static int pick_cat(uint64_t *s, double ratio)
{
    double u = unif(s);
    int k = (int)floor(log(u) / log(ratio));
    return k % NCAT;
}

static const char *py_script =
    "import sys, numpy as np\n"
    "from scipy import stats\n"
    "from scipy.spatial.distance import jensenshannon\n"
    "d = sys.argv[1]\n"
    "def num(f):\n"
    "    x = np.loadtxt(d + '/' + f)\n"
    "    return x[np.isfinite(x)]\n"
    "def psi(rc, wc):\n"
    "    r = np.maximum(rc / rc.sum(), 1e-4); w = np.maximum(wc / wc.sum(), 1e-4)\n"
    "    return float(np.sum((w - r) * np.log(w / r)))\n"
    "def out(v): print(repr(float(v)))\n"
    "r = num('rnum'); w = num('wnum')\n"
    "edges = np.loadtxt(d + '/edges', ndmin=1)\n"
    "def binc(x): return np.bincount(np.searchsorted(edges, x, side='right'),\n"
    "                                minlength=len(edges) + 1).astype(float)\n"
    "rc = binc(r); wc = binc(w)\n"
    "out(psi(rc, wc)); out(jensenshannon(rc / rc.sum(), wc / wc.sum(), base=2))\n"
    "out(stats.ks_2samp(r, w).statistic)\n"
    "cats = open(d + '/cats').read().split('\\n')[:-1]\n"
    "idx = {c: i for i, c in enumerate(cats)}\n"
    "def catc(f):\n"
    "    c = np.zeros(len(cats) + 1)\n"
    "    for line in open(d + '/' + f).read().split('\\n')[:-1]:\n"
    "        if line != '<NA>': c[idx.get(line, len(cats))] += 1\n"
    "    return c\n"
    "rc = catc('rcat'); wc = catc('wcat')\n"
    "out(psi(rc, wc)); out(jensenshannon(rc / rc.sum(), wc / wc.sum(), base=2))\n"
    "e = rc / rc.sum() * wc.sum(); k = e > 0\n"
    "res = stats.chisquare(wc[k], e[k]); out(res.statistic); out(res.pvalue)\n"
    "for x in (0.0, 0.5, 3.0, 10.0, 49.0, 200.0, 900.0):\n"
    "    for df in (1, 2, 5, 30, 49, 120):\n"
    "        out(stats.chi2.sf(x, df))\n";

static const double grid_x[] = {0.0, 0.5, 3.0, 10.0, 49.0, 200.0, 900.0};
static const double grid_df[] = {1, 2, 5, 30, 49, 120};

static FILE *open_in(const char *dir, const char *name)
{
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *fp = fopen(p, "w");
    assert_non_null(fp);
    return fp;
}

static void remove_in(const char *dir, const char *name)
{
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    unlink(p);
}

static void test_scipy_oracle(void **state)
{
    (void)state;
    SKIP_WITHOUT_PYTHON("numpy, scipy");
    const char *tmp = getenv("CAIRN_TEST_TMP") ? getenv("CAIRN_TEST_TMP")
                      : getenv("TMPDIR")       ? getenv("TMPDIR")
                                               : "/tmp";
    char dir[512];
    snprintf(dir, sizeof dir, "%s/drift-oracle-XXXXXX", tmp);
    assert_non_null(mkdtemp(dir));

    /* The reference sample, through refstats. */
    cairn_type t[] = {CAIRN_TYPE_FLOAT64, CAIRN_TYPE_STRING};
    const char *names[] = {"x", "c"};
    cairn_frame *f = frame_make(2, NR, t, names);
    uint64_t s = 77;
    FILE *rn = open_in(dir, "rnum"), *rcf = open_in(dir, "rcat");
    for (size_t i = 0; i < NR; i++) {
        double x = ref_num(&s);
        if (!isnan(x)) {
            f->cols[0].valid[i] = 1;
            f->cols[0].v.f64[i] = x;
        }
        fprintf(rn, "%.17g\n", x);
        if (lcg(&s) % 50 == 0) {
            fprintf(rcf, "<NA>\n");
        } else {
            char name[16];
            snprintf(name, sizeof name, "c%02d", pick_cat(&s, 0.93));
            set_str(&f->cols[1], i, name);
            fprintf(rcf, "%s\n", name);
        }
    }
    fclose(rn);
    fclose(rcf);
    cairn_drift_refs refs;
    make_refs(f, NULL, &refs);
    cairn_frame_free(f);
    const cairn_drift_ref *rx = cairn_drift_refs_find(&refs, "x");
    const cairn_drift_ref *rc = cairn_drift_refs_find(&refs, "c");
    assert_non_null(rx);
    assert_non_null(rc);
    assert_null(cairn_drift_refs_find(&refs, "nope"));
    assert_int_equal(rc->n_categories, 50);
    assert_true(rc->other > 0);
    assert_int_equal(rx->n_quantiles, 21);

    FILE *ef = open_in(dir, "edges");
    for (size_t i = 0; i < rx->n_edges; i++)
        fprintf(ef, "%.17g\n", rx->edges[i]);
    fclose(ef);
    FILE *cf = open_in(dir, "cats");
    for (size_t i = 0; i < rc->n_categories; i++)
        fprintf(cf, "%s\n", rc->categories[i]);
    fclose(cf);

    /* The window, streamed into the accumulators and written out raw. */
    cairn_drift_acc ax, ac;
    cairn_drift_acc_init(&ax, rx);
    cairn_drift_acc_init(&ac, rc);
    FILE *wn = open_in(dir, "wnum"), *wcf = open_in(dir, "wcat");
    for (size_t i = 0; i < NW; i++) {
        double x = win_num(&s);
        feed_num(&ax, x);
        fprintf(wn, "%.17g\n", x);
        uint64_t r = lcg(&s) % 1000;
        char name[16];
        if (r < 15) {
            feed_cat(&ac, NULL);
            fprintf(wcf, "<NA>\n");
            continue;
        }
        if (r < 25)
            snprintf(name, sizeof name, "new%d", (int)(r % 4));   /* never in the reference */
        else {
            /* c49 (about 0.2% of the reference) never appears in the window: an empty bin,
               floored by the PSI epsilon. */
            int k = pick_cat(&s, 0.925);
            snprintf(name, sizeof name, "c%02d", k == 49 ? 48 : k);
        }
        feed_cat(&ac, name);
        fprintf(wcf, "%s\n", name);
    }
    fclose(wn);
    fclose(wcf);

    char script[600];
    snprintf(script, sizeof script, "%s/oracle.py", dir);
    FILE *pf = fopen(script, "w");
    assert_non_null(pf);
    fputs(py_script, pf);
    fclose(pf);
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %s", script, dir);
    FILE *py = popen(cmd, "r");
    assert_non_null(py);
    enum { NG = 7 * 6, NWANT = 7 + NG };
    double want[NWANT];
    int got = 0;
    while (got < NWANT && fscanf(py, "%lf", &want[got]) == 1)
        got++;
    int rcode = pclose(py);
    const char *files[] = {"rnum", "rcat", "wnum", "wcat", "edges", "cats", "oracle.py"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++)
        remove_in(dir, files[i]);
    rmdir(dir);
    assert_int_equal(rcode, 0);
    assert_int_equal(got, NWANT);

    /* The epsilon rule is exercised: some listed category is empty in the window. */
    int empty = 0;
    for (size_t i = 0; i < rc->n_categories; i++)
        empty += ac.bins[i] == 0;
    assert_true(empty >= 1);

    cairn_drift_stats sx, sc;
    cairn_drift_acc_stats(&ax, &sx);
    cairn_drift_acc_stats(&ac, &sc);
    check_rel(sx.psi, want[0], 1e-9);
    check_rel(sx.js, want[1], 1e-9);
    double exact = want[2];
    double n = (double)(rx->rows - rx->missing);
    print_message("KS binned %.6f exact %.6f bound +%.6f/-%.6f; PSI %.4f JS %.4f; "
                  "chi2 %.2f p %.3g\n",
                  sx.ks, exact, sx.ks_bound, 1 / n, sx.psi, sx.js, sc.chi2, sc.chi2_p);
    assert_true(sx.ks - exact <= 1 / n + 1e-12);          /* never above by more than 1/n */
    assert_true(exact - sx.ks <= sx.ks_bound + 1e-12);    /* never below by more than the bound */
    assert_true(sx.ks_bound <= 0.05 + 1 / n + 1e-15);
    check_rel(sc.psi, want[3], 1e-9);
    check_rel(sc.js, want[4], 1e-9);
    check_rel(sc.chi2, want[5], 1e-9);
    check_rel(sc.chi2_p, want[6], 1e-9);
    check_abs(sc.chi2_dof, 50, 0);
    for (int i = 0; i < 7; i++)
        for (int j = 0; j < 6; j++)
            check_rel(cairn_drift_chi2_sf(grid_x[i], grid_df[j]), want[7 + i * 6 + j], 1e-9);

    /* The window's mean and deviation (exact values are checked in test_identical). */
    assert_true(sx.mean > 0.2 && sx.mean < 0.4);
    assert_true(sx.std > 1.0 && sx.std < 1.3);
    /* Unseen share: the "new" names plus the window's unlisted "cNN". */
    assert_true(sc.unseen_share >= 0.01 * 0.98 && sc.unseen_share < 0.2);
    assert_true(sc.ref_other_share > 0);
    /* A moderate shift (+0.3 sd, 1.2x spread): PSI, KS and JS all between warn and alert. */
    assert_true(sx.psi > 0.1 && sx.psi < 0.2 && sx.ks > 0.1 && sx.js > 0.1);
    assert_int_equal(cairn_drift_stats_severity(&sx, NULL), CAIRN_DRIFT_WARN);
    cairn_drift_refs_reset(&refs);
}

/* ---- the KS bound against a brute-force exact KS ------------------------ */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The exact two-sample KS statistic: sup |F_a - F_b| over every sample point. */
static double exact_ks(double *a, size_t na, double *b, size_t nb)
{
    qsort(a, na, sizeof *a, cmp_double);
    qsort(b, nb, sizeof *b, cmp_double);
    size_t i = 0, j = 0;
    double d = 0;
    while (i < na || j < nb) {
        double v = i < na && (j >= nb || a[i] <= b[j]) ? a[i] : b[j];
        while (i < na && a[i] == v)
            i++;
        while (j < nb && b[j] == v)
            j++;
        double g = fabs((double)i / (double)na - (double)j / (double)nb);
        if (g > d)
            d = g;
    }
    return d;
}

/* A value of one of several shapes: continuous, discrete with heavy ties, mixtures. */
static double draw(uint64_t *s, int shape, double shift)
{
    switch (shape) {
    case 0: return gauss(s) + shift;
    case 1: return (double)(lcg(s) % 7) + (shift > 0 ? (lcg(s) % 3 == 0) : 0);
    case 2: return lcg(s) % 4 == 0 ? 2.0 : -log(unif(s)) * (1 + shift);
    default: return unif(s) < 0.5 + shift / 4 ? unif(s) : 10 + unif(s);
    }
}

/*
 * Many reference/window pairs, including ties in the reference (equal
 * quantiles), point masses in the window at quantile values and windows
 * outside the reference range: ks - 1/n <= D <= ks + ks_bound every time.
 */
static void test_ks_bound_brute_force(void **state)
{
    (void)state;
    enum { N = 3000 };
    double *r = malloc(N * sizeof *r), *w = malloc(N * sizeof *w);
    assert_non_null(r);
    assert_non_null(w);
    uint64_t s = 99;
    double worst_over = -1, worst_under = -1;
    for (int trial = 0; trial < 48; trial++) {
        int rshape = trial % 4, wshape = (trial / 4) % 4;
        double shift = (double)(trial % 3) * 0.4;
        size_t n = 200 + lcg(&s) % (N - 200), m = 50 + lcg(&s) % (N - 50);
        cairn_type t[] = {CAIRN_TYPE_FLOAT64};
        const char *names[] = {"x"};
        cairn_frame *f = frame_make(1, n, t, names);
        for (size_t i = 0; i < n; i++) {
            r[i] = draw(&s, rshape, 0);
            f->cols[0].valid[i] = 1;
            f->cols[0].v.f64[i] = r[i];
        }
        cairn_drift_refs refs;
        make_refs(f, NULL, &refs);
        cairn_frame_free(f);
        cairn_drift_acc a;
        cairn_drift_acc_init(&a, &refs.features[0]);
        for (size_t i = 0; i < m; i++) {
            /* Every fifth window value sits exactly on a reference quantile. */
            w[i] = i % 5 == 0 ? refs.features[0].quantiles[lcg(&s) % 21]
                              : draw(&s, wshape, shift);
            feed_num(&a, w[i]);
        }
        cairn_drift_stats st;
        cairn_drift_acc_stats(&a, &st);
        double d = exact_ks(r, n, w, m);
        double over = st.ks - d - 1.0 / (double)n, under = d - st.ks - st.ks_bound;
        if (!(over <= 1e-12) || !(under <= 1e-12))
            fail_msg("trial %d: binned %.6f exact %.6f n %zu bound %.6f", trial, st.ks, d, n,
                     st.ks_bound);
        if (over > worst_over)
            worst_over = over;
        if (under > worst_under)
            worst_under = under;
        cairn_drift_refs_reset(&refs);
    }
    print_message("KS margins: binned - exact - 1/n <= %.4f, exact - binned - bound <= %.4f\n",
                  worst_over, worst_under);
    free(r);
    free(w);
}

/* ---- hand-made cases ---------------------------------------------------- */

/* A reference of one number column (1..1000 with 100 missing) and one string column. */
static void small_refs(cairn_drift_refs *refs)
{
    cairn_type t[] = {CAIRN_TYPE_FLOAT64, CAIRN_TYPE_STRING, CAIRN_TYPE_BOOL};
    const char *names[] = {"x", "c", "b"};
    cairn_frame *f = frame_make(3, 1100, t, names);
    double *scores = malloc(1100 * sizeof *scores);
    assert_non_null(scores);
    for (size_t i = 0; i < 1100; i++) {
        if (i < 1000) {
            f->cols[0].valid[i] = 1;
            f->cols[0].v.f64[i] = (double)(i + 1);
        }
        set_str(&f->cols[1], i, i % 4 == 0 ? "a" : i % 4 == 1 ? "b" : "c");
        f->cols[2].valid[i] = 1;
        f->cols[2].v.b[i] = 1;      /* "false" listed with count 0 */
        scores[i] = (double)(i % 100) / 100.0;
    }
    make_refs(f, scores, refs);
    free(scores);
    cairn_frame_free(f);
}

static void test_identical(void **state)
{
    (void)state;
    cairn_drift_refs refs;
    small_refs(&refs);
    const cairn_drift_ref *rx = cairn_drift_refs_find(&refs, "x");
    assert_non_null(refs.prediction);
    assert_string_equal(refs.prediction->name, "score");
    assert_int_equal(rx->n_bins, 10);
    assert_int_equal(rx->missing, 100);
    cairn_drift_acc a;
    cairn_drift_acc_init(&a, rx);
    for (int i = 0; i < 1100; i++)
        feed_num(&a, i < 1000 ? (double)(i + 1) : NAN);
    cairn_drift_stats st;
    cairn_drift_acc_stats(&a, &st);
    assert_true(fabs(st.psi) < 1e-12);
    assert_true(st.js < 1e-7);
    assert_true(st.ks <= 1.0 / 1000 + 1e-12);
    assert_true(fabs(st.missing_change) < 1e-15);
    check_abs(st.mean, 500.5, 1e-9);
    check_abs(st.std, sqrt((1000.0 * 1000.0 - 1) / 12), 1e-9);
    assert_true(isnan(st.chi2) && isnan(st.unseen_share));
    assert_int_equal(cairn_drift_stats_severity(&st, NULL), CAIRN_DRIFT_OK);

    /* The same categories in the same proportions: chi2 0, p 1. */
    cairn_drift_acc c;
    cairn_drift_acc_init(&c, cairn_drift_refs_find(&refs, "c"));
    for (int i = 0; i < 400; i++)
        feed_cat(&c, i % 4 == 0 ? "a" : i % 4 == 1 ? "b" : "c");
    cairn_drift_acc_stats(&c, &st);
    assert_true(st.psi < 1e-12 && st.chi2 < 1e-12);
    check_abs(st.chi2_p, 1.0, 1e-12);
    check_abs(st.chi2_dof, 2, 0);   /* a, b, c; "other" expected 0 and empty */
    check_abs(st.unseen_share, 0, 0);
    assert_int_equal(cairn_drift_stats_severity(&st, NULL), CAIRN_DRIFT_OK);

    /* Reset empties the window and keeps the reference. */
    cairn_drift_acc_reset(&a);
    assert_int_equal(a.rows, 0);
    assert_ptr_equal(a.ref, rx);
    cairn_drift_refs_reset(&refs);
}

static void test_shifted_alerts(void **state)
{
    (void)state;
    cairn_drift_refs refs;
    small_refs(&refs);
    cairn_drift_acc a;
    cairn_drift_acc_init(&a, cairn_drift_refs_find(&refs, "x"));
    /* Everything in the top tenth and beyond: half of it above the reference maximum. */
    for (int i = 0; i < 1000; i++)
        feed_num(&a, 900.5 + i / 5.0);
    cairn_drift_stats st;
    cairn_drift_acc_stats(&a, &st);
    assert_true(st.psi > 2);
    /* F_W is 0 up to q_18 (= 900.1); at q_18 the reference is at 0.9. */
    check_abs(st.ks, 0.9, 1e-12);
    assert_true(st.js > 0.8);
    assert_int_equal(cairn_drift_stats_severity(&st, NULL), CAIRN_DRIFT_ALERT);
    /* Thresholds above every statistic: ok. */
    cairn_drift_thresholds th;
    cairn_drift_thresholds_default(&th);
    check_abs(th.psi_warn, 0.1, 0);
    check_abs(th.psi_alert, 0.2, 0);
    th.psi_warn = th.psi_alert = th.ks_warn = th.ks_alert = th.js_warn = th.js_alert = 100;
    th.missing_warn = th.missing_alert = 100;   /* the reference had 100/1100 missing */
    assert_int_equal(cairn_drift_stats_severity(&st, &th), CAIRN_DRIFT_OK);
    th.ks_warn = 0.5;
    assert_int_equal(cairn_drift_stats_severity(&st, &th), CAIRN_DRIFT_WARN);
    cairn_drift_refs_reset(&refs);
}

/* KS by hand: a window all at one quantile value reads as the interval [F(q-), F(q)]. */
static void test_ks_by_hand(void **state)
{
    (void)state;
    cairn_drift_refs refs;
    small_refs(&refs);
    const cairn_drift_ref *rx = cairn_drift_refs_find(&refs, "x");
    /* q_10 = 500.5: half below the window's point mass, half at or above. */
    check_abs(rx->quantiles[10], 500.5, 1e-12);
    cairn_drift_acc a;
    cairn_drift_acc_init(&a, rx);
    for (int i = 0; i < 10; i++)
        feed_num(&a, 500.5);
    cairn_drift_stats st;
    cairn_drift_acc_stats(&a, &st);
    /* F_W is 0 below 500.5 and 1 from it, so d_j = p_j for j < 10,
       1 - p_j for j > 10, 0 at j = 10 -> max 0.45 (j = 9 and j = 11). */
    check_abs(st.ks, 0.45, 1e-12);
    /* All window mass in [q_10, q_11): the bound is 1/n + min(0.05, 1). */
    check_abs(st.ks_bound, 1.0 / 1000 + 0.05, 1e-12);
    cairn_drift_refs_reset(&refs);
}

static void test_categories_unseen_and_bool(void **state)
{
    (void)state;
    cairn_drift_refs refs;
    small_refs(&refs);
    const cairn_drift_ref *rc = cairn_drift_refs_find(&refs, "c");
    assert_int_equal(rc->n_categories, 3);
    assert_int_equal(rc->other, 0);
    cairn_drift_acc c;
    cairn_drift_acc_init(&c, rc);
    /* Same proportions, plus 10% never-seen values; a prefix of a listed name is not it. */
    for (int i = 0; i < 360; i++)
        feed_cat(&c, i % 4 == 0 ? "a" : i % 4 == 1 ? "b" : "c");
    for (int i = 0; i < 20; i++)
        feed_cat(&c, "zz");
    assert_int_equal(cairn_drift_acc_add_category(&c, "ab", 1, NULL), CAIRN_OK); /* "a" */
    for (int i = 0; i < 19; i++)
        assert_int_equal(cairn_drift_acc_add_category(&c, "cc", 2, NULL), CAIRN_OK);
    cairn_drift_stats st;
    cairn_drift_acc_stats(&c, &st);
    check_abs(st.unseen_share, 39.0 / 400, 1e-15);
    check_abs(st.ref_other_share, 0, 0);
    /* The reference's "other" had no mass: the window is impossible under it. */
    assert_true(isinf(st.chi2) && st.chi2 > 0);
    check_abs(st.chi2_p, 0, 0);
    /* PSI by hand: shares a .25*361/400... computed from the counts with the floor. */
    double r[4] = {275.0 / 1100, 275.0 / 1100, 550.0 / 1100, 1e-4};
    double w[4] = {91.0 / 400, 90.0 / 400, 180.0 / 400, 39.0 / 400};
    double psi = 0;
    for (int i = 0; i < 4; i++)
        psi += (w[i] - r[i]) * log(w[i] / r[i]);
    check_rel(st.psi, psi, 1e-12);
    assert_int_equal(cairn_drift_stats_severity(&st, NULL), CAIRN_DRIFT_ALERT);

    /* A number for a category feature and the reverse: EINVAL, nothing counted. */
    cairn_error err = {0};
    assert_int_equal(cairn_drift_acc_add_number(&c, 1.0, &err), CAIRN_EINVAL);
    assert_int_equal(c.rows, 400);
    cairn_drift_acc x;
    cairn_drift_acc_init(&x, cairn_drift_refs_find(&refs, "x"));
    assert_int_equal(cairn_drift_acc_add_category(&x, "a", 1, NULL), CAIRN_EINVAL);
    assert_int_equal(cairn_drift_acc_add_bool(&x, 1, NULL), CAIRN_EINVAL);
    assert_int_equal(x.rows, 0);

    /* Bools: the reference lists "false" with count 0 (and "true"). */
    const cairn_drift_ref *rb = cairn_drift_refs_find(&refs, "b");
    assert_int_equal(rb->n_categories, 2);
    cairn_drift_acc b;
    cairn_drift_acc_init(&b, rb);
    for (int i = 0; i < 50; i++)
        assert_int_equal(cairn_drift_acc_add_bool(&b, 1, NULL), CAIRN_OK);
    assert_int_equal(cairn_drift_acc_add_bool(&b, -1, NULL), CAIRN_OK);
    cairn_drift_acc_stats(&b, &st);
    assert_int_equal(st.missing, 1);
    check_abs(st.chi2, 0, 0);         /* only "true" expected: dof 0 */
    check_abs(st.chi2_dof, 0, 0);
    check_abs(st.chi2_p, 1, 0);
    assert_true(st.psi < 1e-12);
    check_abs(st.missing_change, 1.0 / 51, 1e-15);
    assert_int_equal(cairn_drift_acc_add_bool(&b, 0, NULL), CAIRN_OK);
    cairn_drift_acc_stats(&b, &st);
    assert_true(isinf(st.chi2));
    cairn_drift_refs_reset(&refs);
}

static void test_missing_and_empty(void **state)
{
    (void)state;
    cairn_drift_refs refs;
    small_refs(&refs);
    const cairn_drift_ref *rx = cairn_drift_refs_find(&refs, "x");
    cairn_drift_acc a;
    cairn_drift_acc_init(&a, rx);
    cairn_drift_stats st;
    /* Empty: everything NaN, no data. */
    cairn_drift_acc_stats(&a, &st);
    assert_int_equal(st.rows, 0);
    assert_true(isnan(st.psi) && isnan(st.js) && isnan(st.ks) && isnan(st.ks_bound) &&
                isnan(st.missing_change) && isnan(st.mean) && isnan(st.std) &&
                isnan(st.chi2) && isnan(st.chi2_p) && isnan(st.unseen_share));
    assert_int_equal(cairn_drift_stats_severity(&st, NULL), CAIRN_DRIFT_NODATA);
    /* All missing (NaN, infinities, explicit): only the missing change is known. */
    feed_num(&a, NAN);
    feed_num(&a, INFINITY);
    feed_num(&a, -INFINITY);
    cairn_drift_acc_add_missing(&a);
    cairn_drift_acc_stats(&a, &st);
    assert_int_equal(st.rows, 4);
    assert_int_equal(st.missing, 4);
    check_abs(st.missing_change, 1.0 - 100.0 / 1100, 1e-15);
    assert_true(isnan(st.psi) && isnan(st.js) && isnan(st.ks) && isnan(st.mean));
    assert_int_equal(cairn_drift_stats_severity(&st, NULL), CAIRN_DRIFT_ALERT);
    /* A category window of missing only. */
    cairn_drift_acc c;
    cairn_drift_acc_init(&c, cairn_drift_refs_find(&refs, "c"));
    feed_cat(&c, NULL);
    cairn_drift_acc_stats(&c, &st);
    check_abs(st.missing_change, 1.0, 0);
    assert_true(isnan(st.unseen_share) && isnan(st.chi2) && isnan(st.psi));
    cairn_drift_refs_reset(&refs);
}

/* The accumulator is a fixed-size struct that never allocates. */
static void test_memory_independent(void **state)
{
    (void)state;
    cairn_drift_refs refs;
    small_refs(&refs);
    cairn_drift_acc a, c;
    cairn_drift_acc_init(&a, cairn_drift_refs_find(&refs, "x"));
    cairn_drift_acc_init(&c, cairn_drift_refs_find(&refs, "c"));
    assert_true(sizeof a < 2048);
    cairn_drift_acc_add_missing(&a);
    cairn_drift_acc before = a;
    cairn_alloc_fail_after(1, true);    /* any allocation from here on fails */
    uint64_t s = 5;
    for (int i = 0; i < 300000; i++) {
        feed_num(&a, unif(&s) * 2000 - 500);
        feed_cat(&c, i % 3 ? "b" : "new");
    }
    cairn_drift_stats st;
    cairn_drift_acc_stats(&a, &st);
    cairn_alloc_fail_after(0, false);
    assert_int_equal(st.rows, 300001);
    assert_ptr_equal(a.ref, before.ref);
    /* 300k values land in the same fixed arrays: the counts add up. */
    uint64_t sum = 0, cells = 0;
    for (size_t b = 0; b < 10; b++)
        sum += a.bins[b];
    for (size_t k = 0; k <= 2 * a.n_ks_values; k++)
        cells += a.ks_cells[k];
    assert_int_equal(sum, 300000);
    assert_int_equal(cells, 300000);
    cairn_drift_refs_reset(&refs);
}

/* Two accumulators that split one stream, merged, equal one that saw it all: counts
 * exactly, mean and deviation to rounding; different references refuse to merge. */
static void test_merge(void **state)
{
    (void)state;
    cairn_drift_refs refs;
    small_refs(&refs);
    const cairn_drift_ref *x = cairn_drift_refs_find(&refs, "x"), *c = cairn_drift_refs_find(&refs, "c");
    cairn_drift_acc all, a, b, ca, cb;
    cairn_drift_acc_init(&all, x);
    cairn_drift_acc_init(&a, x);
    cairn_drift_acc_init(&b, x);
    cairn_drift_acc_init(&ca, c);
    cairn_drift_acc_init(&cb, c);
    uint64_t s = 11;
    for (int i = 0; i < 50000; i++) {
        double v = unif(&s) * 3000 - 800;
        bool missing = i % 17 == 0;
        cairn_drift_acc *half = (i * 7919) % 3 ? &a : &b;
        if (missing) {
            cairn_drift_acc_add_missing(&all);
            cairn_drift_acc_add_missing(half);
        } else {
            feed_num(&all, v);
            feed_num(half, v);
        }
        feed_cat(i % 2 ? &ca : &cb, i % 5 ? "b" : "zz");
    }
    assert_int_equal(cairn_drift_acc_merge(&a, &b, NULL), CAIRN_OK);
    assert_int_equal(a.rows, all.rows);
    assert_int_equal(a.missing, all.missing);
    assert_memory_equal(a.bins, all.bins, sizeof a.bins);
    assert_memory_equal(a.ks_cells, all.ks_cells, sizeof a.ks_cells);
    cairn_drift_stats sa, sall;
    cairn_drift_acc_stats(&a, &sa);
    cairn_drift_acc_stats(&all, &sall);
    assert_true(sa.psi == sall.psi && sa.ks == sall.ks && sa.js == sall.js);
    assert_true(fabs(sa.mean - sall.mean) <= 1e-9 * fabs(sall.mean));
    assert_true(fabs(sa.std - sall.std) <= 1e-9 * sall.std);
    /* a number and a category accumulator are not the same reference */
    cairn_error err = {0};
    assert_int_equal(cairn_drift_acc_merge(&a, &ca, &err), CAIRN_EINVAL);
    assert_int_equal(cairn_drift_acc_merge(&ca, &cb, NULL), CAIRN_OK);
    assert_int_equal(ca.rows, 50000);
    cairn_drift_refs_reset(&refs);
}

/* One number reference made from values: tied ones give fewer distinct quantiles and
 * edges, spread ones 21 quantiles and 9 edges. */
static void number_ref(cairn_drift_refs *refs, bool tied)
{
    cairn_type t[] = {CAIRN_TYPE_FLOAT64};
    const char *names[] = {"x"};
    cairn_frame *f = frame_make(1, 2000, t, names);
    uint64_t s = 5;
    for (size_t i = 0; i < 2000; i++) {
        f->cols[0].valid[i] = 1;
        f->cols[0].v.f64[i] = tied ? (double)(1 + lcg(&s) % 3) : (double)(lcg(&s) % 400) / 4;
    }
    make_refs(f, NULL, refs);
    cairn_frame_free(f);
}

/* add_numbers over runs of many lengths counts exactly what add_number counts one by
 * one (bins and KS cells, values on the breakpoints included), and its mean and
 * squares agree to rounding. */
static void test_add_numbers(void **state)
{
    (void)state;
    for (int tied = 0; tied < 2; tied++) {
        cairn_drift_refs refs;
        number_ref(&refs, tied);
        const cairn_drift_ref *r = cairn_drift_refs_find(&refs, "x");
        assert_non_null(r);
        if (!tied) {
            assert_int_equal(r->n_edges, 9);
        }
        enum { N = 20000 };
        double *v = malloc(N * sizeof *v);
        assert_non_null(v);
        uint64_t s = 99;
        for (size_t i = 0; i < N; i++) {
            uint64_t k = lcg(&s) % 10;
            /* quantile and edge values themselves, values between and outside, missing */
            v[i] = k < 4   ? r->quantiles[lcg(&s) % 21]
                   : k < 6 ? r->edges[lcg(&s) % (r->n_edges ? r->n_edges : 1)]
                   : k < 8 ? (double)(lcg(&s) % 1000) / 8 - 10
                   : k == 8 ? (lcg(&s) % 2 ? NAN : INFINITY)
                            : -1e6;
        }
        cairn_drift_acc one, many;
        cairn_drift_acc_init(&one, r);
        cairn_drift_acc_init(&many, r);
        for (size_t i = 0; i < N; i++)
            feed_num(&one, v[i]);
        size_t lens[] = {0, 1, 511, 512, 513, 1024, 7, 5000};
        size_t at = 0;
        for (size_t k = 0; at < N; k++) {
            size_t len = lens[k % 8];
            if (len > N - at)
                len = N - at;
            assert_int_equal(cairn_drift_acc_add_numbers(&many, v + at, len, NULL), CAIRN_OK);
            at += len;
        }
        assert_int_equal(many.rows, one.rows);
        assert_int_equal(many.missing, one.missing);
        assert_memory_equal(many.bins, one.bins, sizeof one.bins);
        assert_memory_equal(many.ks_cells, one.ks_cells, sizeof one.ks_cells);
        assert_true(fabs(many.mean - one.mean) <= 1e-9 * fabs(one.mean) + 1e-12);
        assert_true(fabs(many.m2 - one.m2) <= 1e-9 * one.m2);
        /* All missing; then n missing at once. */
        double nan3[3] = {NAN, -INFINITY, NAN};
        assert_int_equal(cairn_drift_acc_add_numbers(&many, nan3, 3, NULL), CAIRN_OK);
        cairn_drift_acc_add_missing_n(&one, 3);
        assert_int_equal(many.rows, one.rows);
        assert_int_equal(many.missing, one.missing);
        free(v);
        cairn_drift_refs_reset(&refs);
    }
    /* Numbers for a category reference count nothing. */
    cairn_drift_refs refs;
    small_refs(&refs);
    cairn_drift_acc c;
    cairn_drift_acc_init(&c, cairn_drift_refs_find(&refs, "c"));
    double one = 1;
    cairn_error err = {0};
    assert_int_equal(cairn_drift_acc_add_numbers(&c, &one, 1, &err), CAIRN_EINVAL);
    assert_int_equal(c.rows, 0);
    cairn_drift_refs_reset(&refs);
}

static void test_parse_errors(void **state)
{
    (void)state;
    static const char *bad[] = {
        "",
        "{\"version\":2,\"rows\":1,\"features\":[]}",
        "{\"version\":1,\"features\":[]}",
        "{\"version\":1,\"rows\":3,\"features\":[{\"name\":\"x\",\"type\":\"nope\",\"rows\":3,"
        "\"missing\":0}]}",
        /* counts do not add up */
        "{\"version\":1,\"rows\":3,\"features\":[{\"name\":\"c\",\"type\":\"category\","
        "\"rows\":3,\"missing\":0,\"categories\":[\"a\"],\"counts\":[1],\"other\":1}]}",
        /* duplicate names */
        "{\"version\":1,\"rows\":1,\"features\":[{\"name\":\"c\",\"type\":\"category\","
        "\"rows\":1,\"missing\":0,\"categories\":[\"a\"],\"counts\":[1],\"other\":0},"
        "{\"name\":\"c\",\"type\":\"category\",\"rows\":1,\"missing\":0,\"categories\":[\"a\"],"
        "\"counts\":[1],\"other\":0}]}",
        /* edges not increasing */
        "{\"version\":1,\"rows\":2,\"features\":[{\"name\":\"x\",\"type\":\"number\",\"rows\":2,"
        "\"missing\":0,\"min\":0,\"max\":1,\"mean\":0.5,\"std\":0.5,\"edges\":[1,1],"
        "\"counts\":[1,0,1],\"quantiles\":[0,0,0,0,0,0,0,0,0,0,0,1,1,1,1,1,1,1,1,1,1]}]}",
        /* 20 quantiles */
        "{\"version\":1,\"rows\":2,\"features\":[{\"name\":\"x\",\"type\":\"number\",\"rows\":2,"
        "\"missing\":0,\"min\":0,\"max\":1,\"mean\":0.5,\"std\":0.5,\"edges\":[1],"
        "\"counts\":[1,1],\"quantiles\":[0,0,0,0,0,0,0,0,0,0,1,1,1,1,1,1,1,1,1,1]}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cairn_drift_refs refs;
        cairn_error err = {0};
        assert_int_equal(cairn_drift_refs_parse(&refs, bad[i], strlen(bad[i]), &err),
                         CAIRN_EINPUT);
        assert_int_equal(refs.n_features, 0);
        assert_null(refs.features);
        assert_true(strncmp(err.where, "refstats", 8) == 0);
    }
    /* A number entry with no value present, and a null prediction, is fine. */
    const char *ok = "{\"version\":1,\"rows\":2,\"features\":[{\"name\":\"x\",\"type\":"
                     "\"timestamp\",\"rows\":2,\"missing\":2,\"min\":null,\"max\":null,"
                     "\"mean\":null,\"std\":null,\"edges\":[],\"counts\":[],\"quantiles\":[]}],"
                     "\"prediction\":null}";
    cairn_drift_refs refs;
    assert_int_equal(cairn_drift_refs_parse(&refs, ok, strlen(ok), NULL), CAIRN_OK);
    assert_null(refs.prediction);
    const cairn_drift_ref *rx = cairn_drift_refs_find(&refs, "x");
    assert_true(rx->is_timestamp && rx->n_bins == 0 && isnan(rx->mean));
    cairn_drift_acc a;
    cairn_drift_acc_init(&a, rx);
    feed_num(&a, 3.0);
    cairn_drift_stats st;
    cairn_drift_acc_stats(&a, &st);
    assert_true(isnan(st.psi) && isnan(st.ks));
    check_abs(st.mean, 3.0, 0);
    check_abs(st.missing_change, -1.0, 0);
    cairn_drift_refs_reset(&refs);
    cairn_drift_refs_reset(NULL);
}

/* Every allocation failure while parsing: ENOMEM, nothing leaked (ASan). */
static void test_parse_alloc_failures(void **state)
{
    (void)state;
    cairn_type t[] = {CAIRN_TYPE_FLOAT64, CAIRN_TYPE_STRING};
    const char *names[] = {"x", "c"};
    cairn_frame *f = frame_make(2, 40, t, names);
    for (size_t i = 0; i < 40; i++) {
        f->cols[0].valid[i] = 1;
        f->cols[0].v.f64[i] = (double)(i % 7);
        set_str(&f->cols[1], i, i % 3 ? "u" : "v");
    }
    size_t cols[] = {0, 1};
    cairn_refstats_input in = {.frame = f, .cols = cols, .n_cols = 2};
    cairn_buf b;
    cairn_buf_init(&b);
    assert_int_equal(cairn_refstats_json(&in, &b, NULL), CAIRN_OK);
    cairn_frame_free(f);
    int failures = 0;
    for (long k = 1; k < 200; k++) {
        cairn_drift_refs refs;
        cairn_alloc_fail_after(k, false);
        cairn_status st = cairn_drift_refs_parse(&refs, b.data, b.len, NULL);
        cairn_alloc_fail_after(0, false);
        if (st == CAIRN_OK) {
            assert_int_equal(refs.n_features, 2);
            cairn_drift_refs_reset(&refs);
            break;
        }
        /* cJSON allocates with the C library; only our allocations fail here. */
        assert_int_equal(st, CAIRN_ENOMEM);
        assert_null(refs.features);
        failures++;
    }
    assert_true(failures >= 4);     /* features, name, categories, lens, strings */
    cairn_buf_reset(&b);
}

/* ---- sampling noise ------------------------------------------------------ */

/* The chi-squared and Kolmogorov quantiles against scipy (chi2.isf, kstwobign.isf). */
static void test_noise_quantiles(void **state)
{
    (void)state;
    static const double ps[] = {0.5, 0.05, 0.01, 1e-4};
    static const double dfs[] = {1, 2, 9, 50};
    /* Without Python, the inversion itself: sf at the quantile gives p back. */
    for (size_t i = 0; i < 4; i++)
        for (size_t j = 0; j < 4; j++)
            check_rel(cairn_drift_chi2_sf(cairn_drift_chi2_isf(ps[i], dfs[j]), dfs[j]), ps[i],
                      1e-9);
    assert_true(isnan(cairn_drift_chi2_isf(0, 3)) && isnan(cairn_drift_chi2_isf(1, 3)));
    assert_true(isnan(cairn_drift_kolmogorov_isf(0)) && isnan(cairn_drift_kolmogorov_isf(1)));
    SKIP_WITHOUT_PYTHON("scipy");
    FILE *py = popen("/usr/bin/python3 -c 'from scipy import stats\n"
                     "for p in (0.5, 0.05, 0.01, 1e-4):\n"
                     "    print(repr(float(stats.kstwobign.isf(p))))\n"
                     "    for df in (1, 2, 9, 50): print(repr(float(stats.chi2.isf(p, df))))'",
                     "r");
    assert_non_null(py);
    double want[20];
    int got = 0;
    while (got < 20 && fscanf(py, "%lf", &want[got]) == 1)
        got++;
    assert_int_equal(pclose(py), 0);
    assert_int_equal(got, 20);
    for (size_t i = 0; i < 4; i++) {
        check_rel(cairn_drift_kolmogorov_isf(ps[i]), want[5 * i], 1e-9);
        for (size_t j = 0; j < 4; j++)
            check_rel(cairn_drift_chi2_isf(ps[i], dfs[j]), want[5 * i + 1 + j], 1e-9);
    }
}

/* Reference and windows from one generator: a number (normal, 3% missing; shift moves
 * its mean by shift standard deviations) and a category of five values. */
static double noise_num(uint64_t *s, double shift)
{
    return lcg(s) % 100 < 3 ? NAN : gauss(s) + shift;
}

static const char *noise_cat(uint64_t *s, bool shifted)
{
    static const char *const v[] = {"a", "b", "c", "d", "e"};
    unsigned u = lcg(s) % 100;      /* shares 40, 25, 15, 12, 8 (shifted: 25, 40, ...) */
    int k = u < 40 ? 0 : u < 65 ? 1 : u < 80 ? 2 : u < 92 ? 3 : 4;
    if (shifted && k < 2)
        k = 1 - k;
    return v[k];
}

/*
 * Windows of 150 rows drawn from the reference's own distribution: without the noise
 * gate the default levels warn on a large share of them (JS 0.1 is below its typical
 * value at this size); with it, at most a few percent warn, as noise_p = 0.01 per
 * statistic promises. Windows of the same size with a real shift (half a standard
 * deviation; two categories swapping shares) still warn almost always.
 */
static void test_noise_gate(void **state)
{
    (void)state;
    enum { NREF = 20000, M = 150, WINDOWS = 1000 };
    cairn_type t[] = {CAIRN_TYPE_FLOAT64, CAIRN_TYPE_STRING};
    const char *names[] = {"x", "c"};
    cairn_frame *f = frame_make(2, NREF, t, names);
    uint64_t s = 2024;
    for (size_t i = 0; i < NREF; i++) {
        double x = noise_num(&s, 0);
        if (!isnan(x)) {
            f->cols[0].valid[i] = 1;
            f->cols[0].v.f64[i] = x;
        }
        set_str(&f->cols[1], i, noise_cat(&s, false));
    }
    cairn_drift_refs refs;
    make_refs(f, NULL, &refs);
    cairn_frame_free(f);
    const cairn_drift_ref *rx = cairn_drift_refs_find(&refs, "x");
    const cairn_drift_ref *rc = cairn_drift_refs_find(&refs, "c");
    cairn_drift_thresholds gated, plain;
    cairn_drift_thresholds_default(&gated);
    check_abs(gated.noise_p, 0.01, 0);
    plain = gated;
    plain.noise_p = 0;

    int warn_plain[2] = {0}, warn_gated[2] = {0}, warn_shift[2] = {0};
    for (int shifted = 0; shifted < 2; shifted++) {
        for (int w = 0; w < WINDOWS; w++) {
            cairn_drift_acc ax, ac;
            cairn_drift_acc_init(&ax, rx);
            cairn_drift_acc_init(&ac, rc);
            for (int i = 0; i < M; i++) {
                feed_num(&ax, noise_num(&s, shifted ? 0.5 : 0));
                feed_cat(&ac, noise_cat(&s, shifted));
            }
            cairn_drift_acc *accs[2] = {&ax, &ac};
            for (int k = 0; k < 2; k++) {
                cairn_drift_stats st;
                cairn_drift_acc_stats(accs[k], &st);
                cairn_drift_noise nz;
                cairn_drift_stats_noise(&st, gated.noise_p, &nz);
                /* The levels shrink with the window: at 150 rows PSI's is about
                 * chi2(0.99, k - 1) / 150. */
                assert_true(nz.psi > 0 && nz.js > 0);
                /* The category has no missing value in the reference: one is news. */
                assert_true(k == 0 ? nz.ks > 0 && nz.missing > 0 : isnan(nz.ks) && nz.missing == 0);
                if (shifted) {
                    warn_shift[k] += cairn_drift_stats_severity(&st, &gated) >= CAIRN_DRIFT_WARN;
                } else {
                    warn_plain[k] += cairn_drift_stats_severity(&st, &plain) >= CAIRN_DRIFT_WARN;
                    warn_gated[k] += cairn_drift_stats_severity(&st, &gated) >= CAIRN_DRIFT_WARN;
                }
            }
        }
    }
    print_message("windows of %d rows warning, of %d: no drift, plain levels %d / %d, with the "
                  "noise gate %d / %d; shifted, with the gate %d / %d (number / category)\n",
                  M, WINDOWS, warn_plain[0], warn_plain[1], warn_gated[0], warn_gated[1],
                  warn_shift[0], warn_shift[1]);
    /* Ten bins (number) are noisier than five (category). The category's shift is the
     * milder one: PSI about 0.14 against its noise level of about 0.09. */
    assert_true(warn_plain[0] > WINDOWS * 40 / 100 && warn_plain[1] > WINDOWS * 5 / 100);
    assert_true(warn_gated[0] <= WINDOWS * 4 / 100 && warn_gated[1] <= WINDOWS * 4 / 100);
    assert_true(warn_shift[0] >= WINDOWS * 97 / 100 && warn_shift[1] >= WINDOWS * 85 / 100);

    /* A big window: the levels fall far below the thresholds, which judge alone. */
    cairn_drift_acc big;
    cairn_drift_acc_init(&big, rx);
    for (int i = 0; i < 200000; i++)
        feed_num(&big, noise_num(&s, 0));
    cairn_drift_stats st;
    cairn_drift_acc_stats(&big, &st);
    cairn_drift_noise nz;
    cairn_drift_stats_noise(&st, 0.01, &nz);
    assert_true(nz.psi < 0.002 && nz.js < 0.03 && nz.ks < 0.02 && nz.missing < 0.01);
    /* noise_p 0: no level at all. */
    cairn_drift_stats_noise(&st, 0, &nz);
    assert_true(nz.psi == 0 && nz.js == 0 && nz.ks == 0 && nz.missing == 0);
    /* The verdict of one statistic: below its noise level it is ok whatever the levels. */
    assert_int_equal(cairn_drift_judge(0.3, 0.35, 0.1, 0.2), CAIRN_DRIFT_OK);
    assert_int_equal(cairn_drift_judge(0.3, 0.25, 0.1, 0.2), CAIRN_DRIFT_ALERT);
    assert_int_equal(cairn_drift_judge(0.15, 0.05, 0.1, 0.2), CAIRN_DRIFT_WARN);
    assert_int_equal(cairn_drift_judge(NAN, 0, 0.1, 0.2), CAIRN_DRIFT_OK);
    cairn_drift_refs_reset(&refs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identical),
        cmocka_unit_test(test_shifted_alerts),
        cmocka_unit_test(test_ks_by_hand),
        cmocka_unit_test(test_categories_unseen_and_bool),
        cmocka_unit_test(test_missing_and_empty),
        cmocka_unit_test(test_memory_independent),
        cmocka_unit_test(test_merge),
        cmocka_unit_test(test_add_numbers),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_parse_alloc_failures),
        cmocka_unit_test(test_ks_bound_brute_force),
        cmocka_unit_test(test_scipy_oracle),
        cmocka_unit_test(test_noise_quantiles),
        cmocka_unit_test(test_noise_gate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
