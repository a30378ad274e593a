/*
 * monitor_gen.c -- the data of bench/monitor.sh: a reference table to train
 * on and a window of "served" rows written straight into the prediction log.
 *
 *   monitor_gen ref ROWS SEED OUT.csv REF.npy META.json
 *   monitor_gen cur ROWS SEED START_S LOGDIR MODEL CUR.npy|-
 *
 * 28 features: num_00..num_23 (numbers) and cat_0..cat_3 (strings), plus a
 * binary `label` (0/1) in the reference CSV. The numbers come in four shapes
 * by j mod 4: normal (3 decimals), lognormal (2 decimals), uniform on
 * [0, 100) (2 decimals) and a geometric count (integers, many ties); num_05
 * and num_10 are missing in 3% of the rows.
 *
 * `ref` writes ROWS rows as CSV (what `cairn data add` reads), the same
 * values as REF.npy -- a float64 array of shape (28, ROWS), one contiguous
 * row per feature, categories as their index in the generator's list, NaN
 * for missing -- and META.json naming the features, their kinds and the
 * planted drift (for the peer and the sanity check).
 *
 * `cur` draws ROWS rows from the same distributions with drift planted in
 * five features (DRIFTED below: a mean shift, a scale change, a shifted
 * range, a larger count mean, new category shares), a slight shift in
 * num_08 that should stay below PSI 0.2, and num_10's missing share raised
 * from 3% to 10%. Each row becomes one prediction-log record through the
 * log's own writer (cairn_plog_append, so the format is the real one):
 * model MODEL, version 1, alias "production", a request id, the 28 fields
 * (numbers, strings, null), time_us spread evenly over the day that
 * starts at START_S (seconds since the epoch), a latency of 150-900 us, and
 * the predicted class ("1" when the score is >= 0.5). The score is the
 * generating probability (sigmoid of the formula the label is drawn from), standing in
 * for the model's: scoring a million rows through the model would add
 * seconds without changing what the monitor reads. With CUR.npy the values
 * are also written as in `ref`, for the peer ("-": none). Exit 1 when the
 * log drops or fails to write a record.
 *
 * Deterministic for a given SEED (splitmix64, Box-Muller). Built by
 * bench/monitor.sh against a build tree's libcairn.a; it includes src/
 * headers (the log writer is internal, not API).
 */
#include "cairn.h"
#include "serve/serve.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_NUM 24
#define N_CAT 4
#define N_FEAT (N_NUM + N_CAT)
#define DAY_US 86400000000LL

static const char *const DRIFTED[] = {"num_02", "num_04", "num_09", "num_15", "cat_1"};
#define N_DRIFTED (sizeof DRIFTED / sizeof DRIFTED[0])

/* ---- random numbers ---------------------------------------------------------- */

typedef struct rng {
    uint64_t s;
    int have_spare;
    double spare;
} rng;

static uint64_t rng_next(rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double rng_unif(rng *r)       /* [0, 1) */
{
    return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

static double rng_normal(rng *r)
{
    if (r->have_spare) {
        r->have_spare = 0;
        return r->spare;
    }
    double u = rng_unif(r), v = rng_unif(r);
    double m = sqrt(-2.0 * log(1.0 - u));
    r->spare = m * sin(2.0 * M_PI * v);
    r->have_spare = 1;
    return m * cos(2.0 * M_PI * v);
}

static double round_to(double x, double scale)
{
    return round(x * scale) / scale;
}

/* ---- the features -------------------------------------------------------------- */

static const char *const CAT0[] = {"basic", "plus", "premium"};
static const double CAT0_P[] = {0.6, 0.3, 0.1};
static const char *const CAT1[] = {"north", "south", "east", "west", "centre", "coast", "hills",
                                   "islands"};
static const double CAT1_P[] = {0.30, 0.22, 0.16, 0.11, 0.08, 0.06, 0.04, 0.03};
static const double CAT1_DRIFT_P[] = {0.12, 0.12, 0.12, 0.12, 0.13, 0.13, 0.13, 0.13};
static const char *const CAT2[] = {"a00", "a01", "a02", "a03", "a04", "a05", "a06", "a07", "a08",
                                   "a09", "a10", "a11", "a12", "a13", "a14", "a15", "a16", "a17",
                                   "a18", "a19"};
static const char *const CAT3[] = {"web", "app", "store", "phone"};
static const double CAT3_P[] = {0.45, 0.35, 0.15, 0.05};

static const char *const *const CAT_VALUES[N_CAT] = {CAT0, CAT1, CAT2, CAT3};
static const size_t CAT_N[N_CAT] = {3, 8, 20, 4};

static char names[N_FEAT][16];

static void names_init(void)
{
    for (int j = 0; j < N_NUM; j++)
        snprintf(names[j], sizeof names[j], "num_%02d", j);
    for (int k = 0; k < N_CAT; k++)
        snprintf(names[N_NUM + k], sizeof names[N_NUM + k], "cat_%d", k);
}

static size_t draw_cat(rng *r, const double *p, size_t n)
{
    double u = rng_unif(r), acc = 0;
    for (size_t i = 0; i + 1 < n; i++) {
        acc += p[i];
        if (u < acc)
            return i;
    }
    return n - 1;
}

/* Zipf-like shares over 20 values: weight 1/(i+1). */
static size_t draw_zipf20(rng *r)
{
    static double cum[20];
    static int ready;
    if (!ready) {
        double total = 0;
        for (int i = 0; i < 20; i++)
            total += 1.0 / (i + 1);
        double acc = 0;
        for (int i = 0; i < 20; i++) {
            acc += 1.0 / (i + 1) / total;
            cum[i] = acc;
        }
        ready = 1;
    }
    double u = rng_unif(r);
    for (size_t i = 0; i < 19; i++)
        if (u < cum[i])
            return i;
    return 19;
}

/* One row: x[j] for the numbers (NaN = missing), c[k] category indices, and the
 * probability the label is drawn with. */
static double draw_row(rng *r, int drift, double *x, size_t *c)
{
    for (int j = 0; j < N_NUM; j++) {
        double v;
        switch (j % 4) {
        case 0: {      /* normal: mean 10 + j, sd 1 + j/8 */
            double mu = 10 + j, sd = 1 + j / 8.0;
            if (drift && j == 4)
                mu += 0.7 * sd;
            if (drift && j == 8)
                mu += 0.03 * sd;
            v = round_to(mu + sd * rng_normal(r), 1000);
            break;
        }
        case 1: {      /* lognormal, median 10 */
            double s = 0.75 * (drift && j == 9 ? 1.8 : 1.0);
            v = round_to(10 * exp(s * rng_normal(r)), 100);
            break;
        }
        case 2: {      /* uniform [0, 100) */
            double lo = drift && j == 2 ? 15 : 0;
            v = round_to(lo + 100 * rng_unif(r), 100);
            break;
        }
        default: {     /* geometric count, mean 5 (12 drifted) */
            double mean = drift && j == 15 ? 12 : 5;
            v = floor(log(1.0 - rng_unif(r)) / log(mean / (mean + 1)));
            break;
        }
        }
        double miss = j == 5 ? 0.03 : j == 10 ? (drift ? 0.10 : 0.03) : 0;
        if (miss > 0 && rng_unif(r) < miss)
            v = NAN;
        x[j] = v;
    }
    c[0] = draw_cat(r, CAT0_P, 3);
    c[1] = draw_cat(r, drift ? CAT1_DRIFT_P : CAT1_P, 8);
    c[2] = draw_zipf20(r);
    c[3] = draw_cat(r, CAT3_P, 4);

    double z = 0.8 * (x[0] - 10) - 0.5 * (x[4] - 14) / 1.5 + 0.6 * log(x[1] / 10) +
               0.02 * (x[2] - 50) + 0.15 * (x[3] - 5) - 0.3 * (double)c[0] +
               (c[3] == 1 ? 0.4 : 0) - 1.0;
    if (!isnan(x[5]))
        z += 0.05 * (x[5] - 15);
    return 1.0 / (1.0 + exp(-z));
}

/* ---- .npy output ------------------------------------------------------------------ */

/* A float64 array of shape (N_FEAT, rows), C order: a version 1.0 header padded to 64
 * bytes, then the data, written column by column from cols (N_FEAT x rows doubles). */
static int write_npy(const char *path, const double *cols, size_t rows)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    char dict[128];
    int n = snprintf(dict, sizeof dict,
                     "{'descr': '<f8', 'fortran_order': False, 'shape': (%d, %zu), }", N_FEAT,
                     rows);
    size_t header = 10 + (size_t)n + 1;
    size_t pad = (64 - header % 64) % 64;
    unsigned hlen = (unsigned)((size_t)n + pad + 1);
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff),
                             (unsigned char)(hlen >> 8)};
    int ok = fwrite(pre, 1, 10, f) == 10 && fwrite(dict, 1, (size_t)n, f) == (size_t)n;
    for (size_t i = 0; ok && i < pad; i++)
        ok = fputc(' ', f) != EOF;
    ok = ok && fputc('\n', f) != EOF;
    ok = ok && fwrite(cols, sizeof(double), (size_t)N_FEAT * rows, f) == (size_t)N_FEAT * rows;
    if (fclose(f) != 0)
        ok = 0;
    return ok ? 0 : -1;
}

/* ---- ref ------------------------------------------------------------------------------ */

static int write_meta(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs("{\"features\": [", f);
    for (int j = 0; j < N_FEAT; j++)
        fprintf(f, "%s{\"name\": \"%s\", \"kind\": \"%s\"}", j ? ", " : "", names[j],
                j < N_NUM ? "number" : "category");
    fputs("],\n \"categories\": {", f);
    for (int k = 0; k < N_CAT; k++) {
        fprintf(f, "%s\"%s\": [", k ? ", " : "", names[N_NUM + k]);
        for (size_t i = 0; i < CAT_N[k]; i++)
            fprintf(f, "%s\"%s\"", i ? ", " : "", CAT_VALUES[k][i]);
        fputs("]", f);
    }
    fputs("},\n \"drifted\": [", f);
    for (size_t i = 0; i < N_DRIFTED; i++)
        fprintf(f, "%s\"%s\"", i ? ", " : "", DRIFTED[i]);
    fputs("]}\n", f);
    return fclose(f) == 0 ? 0 : -1;
}

static int run_ref(size_t rows, uint64_t seed, const char *csv_path, const char *npy_path,
                   const char *meta_path)
{
    rng r = {seed * 2 + 1, 0, 0};
    double *cols = malloc(sizeof(double) * N_FEAT * rows);
    FILE *f = fopen(csv_path, "w");
    if (!cols || !f) {
        fprintf(stderr, "monitor_gen: cannot write %s\n", csv_path);
        return 2;
    }
    for (int j = 0; j < N_FEAT; j++)
        fprintf(f, "%s,", names[j]);
    fputs("label\n", f);
    double x[N_NUM];
    size_t c[N_CAT];
    for (size_t i = 0; i < rows; i++) {
        double p = draw_row(&r, 0, x, c);
        int y = rng_unif(&r) < p;
        for (int j = 0; j < N_NUM; j++) {
            cols[(size_t)j * rows + i] = x[j];
            if (isnan(x[j]))
                fputc(',', f);
            else
                fprintf(f, "%.15g,", x[j]);
        }
        for (int k = 0; k < N_CAT; k++) {
            cols[(size_t)(N_NUM + k) * rows + i] = (double)c[k];
            fprintf(f, "%s,", CAT_VALUES[k][c[k]]);
        }
        fprintf(f, "%d\n", y);
    }
    int bad = fclose(f) != 0;
    if (bad || write_npy(npy_path, cols, rows) != 0 || write_meta(meta_path) != 0) {
        fprintf(stderr, "monitor_gen: write failed\n");
        free(cols);
        return 2;
    }
    free(cols);
    return 0;
}

/* ---- cur -------------------------------------------------------------------------------- */

static int run_cur(size_t rows, uint64_t seed, int64_t start_s, const char *log_dir,
                   const char *model, const char *npy_path)
{
    int rc = 1;
    rng r = {seed * 2 + 2, 0, 0};
    double *cols = NULL;
    cairn_plog *log = NULL;
    cairn_error err = {0};
    if (strcmp(npy_path, "-") != 0) {
        cols = malloc(sizeof(double) * N_FEAT * rows);
        if (!cols) {
            fprintf(stderr, "monitor_gen: out of memory\n");
            return 2;
        }
    }
    cairn_plog_opts o;
    cairn_plog_opts_init(&o);
    o.dir = log_dir;
    o.ring_bytes = 64u << 20;
    o.wait_ms = 60000;         /* a benchmark must not drop records: wait for the writer */
    if (cairn_plog_open(&o, &log, &err) != CAIRN_OK) {
        fprintf(stderr, "monitor_gen: cannot open the log: %s (%s)\n", err.msg, err.where);
        free(cols);
        return 2;
    }
    double x[N_NUM];
    size_t c[N_CAT];
    cairn_field fields[N_FEAT];
    char request_id[32];
    double step_us = (double)DAY_US / (double)rows;
    for (int j = 0; j < N_FEAT; j++)
        fields[j].name = names[j];
    for (size_t i = 0; i < rows; i++) {
        double p = draw_row(&r, 1, x, c);
        for (int j = 0; j < N_NUM; j++) {
            fields[j].kind = isnan(x[j]) ? CAIRN_VALUE_NULL : CAIRN_VALUE_NUMBER;
            fields[j].num = x[j];
            fields[j].str = NULL;
            fields[j].str_len = 0;
            if (cols)
                cols[(size_t)j * rows + i] = x[j];
        }
        for (int k = 0; k < N_CAT; k++) {
            cairn_field *fd = &fields[N_NUM + k];
            fd->kind = CAIRN_VALUE_STRING;
            fd->str = CAT_VALUES[k][c[k]];
            fd->str_len = strlen(fd->str);
            if (cols)
                cols[(size_t)(N_NUM + k) * rows + i] = (double)c[k];
        }
        snprintf(request_id, sizeof request_id, "req-%010zu", i);
        cairn_plog_record rec = {
            .time_us = start_s * 1000000 + (int64_t)((double)i * step_us),
            .request_id = request_id,
            .entity = NULL,
            .model = model,
            .version = 1,
            .alias = "production",
            .fields = fields,
            .n_fields = N_FEAT,
            .score = p,
            .label = p >= 0.5 ? "1" : "0",
            .latency_us = 150 + 750 * rng_unif(&r),
            .flags = 0,
        };
        if (cairn_plog_append(log, &rec) != CAIRN_OK) {
            fprintf(stderr, "monitor_gen: record %zu was dropped\n", i);
            goto done;
        }
    }
    cairn_plog_counters cnt;
    cairn_plog_get_counters(log, &cnt);
    cairn_status st = cairn_plog_close(log, &err);
    log = NULL;
    if (st != CAIRN_OK) {
        fprintf(stderr, "monitor_gen: closing the log: %s (%s)\n", err.msg, err.where);
        goto done;
    }
    if (cnt.dropped != 0 || cnt.write_errors != 0) {
        fprintf(stderr, "monitor_gen: %llu records dropped, %llu write errors\n",
                (unsigned long long)cnt.dropped, (unsigned long long)cnt.write_errors);
        goto done;
    }
    if (cols && write_npy(npy_path, cols, rows) != 0) {
        fprintf(stderr, "monitor_gen: cannot write %s\n", npy_path);
        goto done;
    }
    rc = 0;
done:
    if (log)
        cairn_plog_close(log, NULL);
    free(cols);
    return rc;
}

int main(int argc, char **argv)
{
    names_init();
    if (argc == 7 && strcmp(argv[1], "ref") == 0)
        return run_ref(strtoull(argv[2], NULL, 10), strtoull(argv[3], NULL, 10), argv[4],
                       argv[5], argv[6]);
    if (argc == 8 && strcmp(argv[1], "cur") == 0)
        return run_cur(strtoull(argv[2], NULL, 10), strtoull(argv[3], NULL, 10),
                       strtoll(argv[4], NULL, 10), argv[5], argv[6], argv[7]);
    fprintf(stderr, "usage: monitor_gen ref ROWS SEED OUT.csv REF.npy META.json\n"
                    "       monitor_gen cur ROWS SEED START_S LOGDIR MODEL CUR.npy|-\n");
    return 2;
}
