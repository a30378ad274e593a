/*
 * test_shared_split.c -- splits and leakage checks on real data from
 * $CAIRN_SHARED_DATA (skipped with exit code 77 when it is not set or the
 * files are missing), read with the CSV reader.
 *
 * hotel_bookings.csv.gz (NA marker "NULL"), label is_canceled, every other
 * column a feature: reservation_status determines the label, so the check
 * must name it critical. The README says 31,994 rows are exact duplicates of
 * another row, so a stratified split puts duplicates in train and test; the
 * check's count is compared with an independent count made here by sorting
 * every training row's text form and looking each test row up. A random split
 * with reservation_status_date as time column must report test rows before
 * training rows. electricity.csv split by order: test is the last rows.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "data/reader.h"
#include "pipeline/split.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *g_dir;

static cairn_frame *load(const char *file, const char *extra_na)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", g_dir, file);
    cairn_read_opts opts;
    cairn_read_opts_init(&opts);
    opts.na[0] = extra_na;
    opts.na[1] = NULL;
    opts.n_threads = 2;
    cairn_reader_cfg rc;
    cairn_reader_cfg_from_opts(&rc, &opts);
    cairn_frame *f = NULL;
    cairn_error err = {0};
    cairn_status st = cairn_read_path(path, CAIRN_FORMAT_AUTO, &rc, &f, &err);
    if (st != CAIRN_OK)
        fprintf(stderr, "%s (%s)\n", err.msg, err.where);
    assert_int_equal(st, CAIRN_OK);
    return f;
}

static const cairn_finding *find(const cairn_findings *l, const char *code, const char *column)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->items[i].code, code) == 0 &&
            (!column || strcmp(l->items[i].column, column) == 0))
            return &l->items[i];
    return NULL;
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Row i as text: every value's text, a marker for nulls, a separator between. */
static char *row_text(const cairn_frame *f, size_t i)
{
    cairn_buf b;
    cairn_buf_init(&b);
    for (size_t c = 0; c < f->n_cols; c++) {
        if (f->cols[c].valid[i])
            cairn_column_value_text(&f->cols[c], i, &b);
        else
            cairn_buf_putc(&b, '\x1e');
        cairn_buf_putc(&b, '\x1f');
    }
    char *s = cairn_buf_take(&b);
    assert_non_null(s);
    return s;
}

static void test_hotel(void **state)
{
    (void)state;
    cairn_frame *f = load("hotel_bookings.csv.gz", "NULL");
    assert_int_equal(f->n_rows, 119390);
    long label = cairn_frame_find(f, "is_canceled");
    long status = cairn_frame_find(f, "reservation_status");
    long sdate = cairn_frame_find(f, "reservation_status_date");
    assert_true(label >= 0 && status >= 0 && sdate >= 0);

    cairn_split_cfg sc;
    cairn_split_cfg_init(&sc);
    sc.by = CAIRN_SPLIT_STRATIFIED;
    sc.label_col = label;
    sc.seed = 2024;
    cairn_split s = {0};
    cairn_findings fl = {0};
    cairn_error err = {0};
    assert_int_equal(cairn_split_make(f, &sc, &s, &fl, &err), CAIRN_OK);

    size_t *feats = calloc(f->n_cols, sizeof *feats), nf = 0;
    for (size_t c = 0; c < f->n_cols; c++)
        if ((long)c != label)
            feats[nf++] = c;
    cairn_leak_cfg lc;
    cairn_leak_cfg_init(&lc);
    lc.label_col = label;
    lc.task = CAIRN_TASK_BINARY;
    /* is_canceled reads as bool or int64 0/1: positive is the value 1 either way. */
    lc.positive = 1;
    lc.features = feats;
    lc.n_features = nf;
    assert_int_equal(cairn_leak_check(f, &s, &lc, &fl, &err), CAIRN_OK);
    for (size_t i = 0; i < fl.n; i++)
        printf("finding: %s %s: %s\n", cairn_severity_name(fl.items[i].severity),
               fl.items[i].code, fl.items[i].what);
    const cairn_finding *leak = find(&fl, "single_feature_leak", "reservation_status");
    assert_non_null(leak);
    assert_int_equal(leak->severity, CAIRN_SEV_CRITICAL);
    assert_true(leak->value >= 0.98);
    /* Columns known at booking time must not be flagged. */
    assert_null(find(&fl, "single_feature_leak", "hotel"));
    assert_null(find(&fl, "single_feature_leak", "lead_time"));
    assert_null(find(&fl, "single_feature_leak", "adr"));

    /* Independent duplicate count: sorted text of the training rows. */
    char **train = calloc(s.count[CAIRN_PART_TRAIN], sizeof *train);
    char **all = calloc(f->n_rows, sizeof *all);
    size_t nt = 0;
    for (size_t i = 0; i < f->n_rows; i++) {
        all[i] = row_text(f, i);
        if (s.part[i] == CAIRN_PART_TRAIN)
            train[nt++] = all[i];
    }
    qsort(train, nt, sizeof *train, str_cmp);
    size_t want = 0;
    for (size_t i = 0; i < f->n_rows; i++)
        if (s.part[i] == CAIRN_PART_TEST && bsearch(&all[i], train, nt, sizeof *train, str_cmp))
            want++;
    /* And the README's figure: rows that repeat an earlier row. */
    char **sorted = malloc(f->n_rows * sizeof *sorted);
    memcpy(sorted, all, f->n_rows * sizeof *sorted);
    qsort(sorted, f->n_rows, sizeof *sorted, str_cmp);
    size_t repeats = 0;
    for (size_t i = 1; i < f->n_rows; i++)
        repeats += strcmp(sorted[i - 1], sorted[i]) == 0;
    assert_int_equal(repeats, 31994);
    free(sorted);
    for (size_t i = 0; i < f->n_rows; i++)
        cairn_free(all[i]);
    free(all);
    free(train);
    const cairn_finding *d = find(&fl, "duplicate_rows", NULL);
    assert_non_null(d);
    assert_true(want > 0);
    assert_int_equal((size_t)d->value, want);
    assert_int_equal(d->severity, CAIRN_SEV_HIGH); /* far above 1% of test */
    cairn_findings_reset(&fl);
    cairn_split_reset(&s);

    /* A random split with a time column: refused, then allowed with a finding,
     * and the leak check counts test rows before the latest training row. */
    sc.time_col = sdate;
    assert_int_equal(cairn_split_make(f, &sc, &s, &fl, &err), CAIRN_EINVAL);
    sc.allow_time_leak = true;
    assert_int_equal(cairn_split_make(f, &sc, &s, &fl, &err), CAIRN_OK);
    assert_non_null(find(&fl, "random_split_with_time", "reservation_status_date"));
    lc.time_col = sdate;
    lc.n_features = 0;
    assert_int_equal(cairn_leak_check(f, &s, &lc, &fl, &err), CAIRN_OK);
    assert_non_null(find(&fl, "test_before_train", "reservation_status_date"));
    cairn_findings_reset(&fl);
    cairn_split_reset(&s);

    /* By time on the same column: nothing before training by construction. */
    sc.by = CAIRN_SPLIT_TIME;
    assert_int_equal(cairn_split_make(f, &sc, &s, &fl, &err), CAIRN_OK);
    assert_int_equal(cairn_leak_check(f, &s, &lc, &fl, &err), CAIRN_OK);
    assert_null(find(&fl, "test_before_train", NULL));
    cairn_findings_reset(&fl);
    cairn_split_reset(&s);
    free(feats);
    cairn_frame_free(f);
}

static void test_electricity_order(void **state)
{
    (void)state;
    cairn_frame *f = load("electricity.csv", NULL);
    size_t n = f->n_rows;
    assert_int_equal(n, 45312);
    cairn_split_cfg sc;
    cairn_split_cfg_init(&sc);
    sc.by = CAIRN_SPLIT_ORDER;
    sc.test = 0.2;
    sc.valid = 0.1;
    cairn_split s = {0};
    assert_int_equal(cairn_split_make(f, &sc, &s, NULL, NULL), CAIRN_OK);
    size_t n_test = (size_t)llround((double)n * 0.2), n_valid = (size_t)llround((double)n * 0.1);
    for (size_t i = 0; i < n; i++) {
        int want = i >= n - n_test ? CAIRN_PART_TEST
                   : i >= n - n_test - n_valid ? CAIRN_PART_VALID
                                               : CAIRN_PART_TRAIN;
        assert_int_equal(s.part[i], want);
    }
    assert_int_equal(s.count[CAIRN_PART_TEST], n_test);
    cairn_split_reset(&s);
    cairn_frame_free(f);
}

int main(void)
{
    g_dir = getenv("CAIRN_SHARED_DATA");
    char probe[4096];
    if (g_dir)
        snprintf(probe, sizeof probe, "%s/hotel_bookings.csv.gz", g_dir);
    if (!g_dir || access(probe, R_OK) != 0) {
        printf("skipped: CAIRN_SHARED_DATA is not set or has no hotel_bookings.csv.gz\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hotel),
        cmocka_unit_test(test_electricity_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
