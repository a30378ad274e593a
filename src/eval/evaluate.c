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
 * prediction and by label for Spearman's ranks). That engine is resample.c's,
 * shared with cairn_compare. A row drawn w times contributes w times, which is
 * what the metric of the gathered rows computes; counts are integers and only
 * the order of floating-point additions differs, so the values agree with
 * metrics.c's on the gathered rows to about 1e-15 (the unit test replays
 * resamples and compares to 1e-12).
 *
 * What is this file's own is how resamples are drawn. Resample b of a stream
 * has its own generator, cairn_rng_init(rng, resample_seed(seed, stream, b)),
 * and draws its m indices as cairn_bootstrap does (cairn_rng_below(rng, m)
 * each). The streams: 0 for all the evaluated rows, (c + 1) * 2^32 + g for
 * group g of slice column c (indices into the group's rows in row order). No
 * two resamples share a stream, so threads can take them in any order and the
 * result depends on the seed alone. docs/metrics.md states the rule;
 * tests/unit/test_evaluate.c replays it through the plain metrics.
 */
#include "eval/eval.h"
#include "eval/resample.h"

#include <inttypes.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WHERE "cairn_evaluate"

/* Resample loops smaller than this (rows x resamples) run on one thread. */
#define PARALLEL_MIN_WORK 65536u

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

/* ---- working memory ---------------------------------------------------------------- */

/*
 * The evaluation's working memory, sized for all n rows once and reused by
 * the overall sample and every slice group (a sample of m <= n rows).
 */
typedef struct work {
    const cairn_eval_input *in;
    size_t n;                   /* rows */
    size_t n_boot;
    int nt;                     /* threads */
    size_t nm;                  /* metrics */
    uint8_t slot[CAIRN_EVAL_MAX_METRICS];

    cairn_rs_sample X;          /* the sample's labels, gathered in row order, prepared */
    cairn_rs_side S;            /* its scores */

    uint32_t *cnt;              /* per thread, n each: counts by row */
    double *vals;               /* n_boot x nm resample values */
    double *sorted;             /* n_boot */
} work;

static void work_free(work *W)
{
    cairn_rs_side_reset(&W->S);
    cairn_rs_sample_reset(&W->X);
    cairn_free(W->cnt);
    cairn_free(W->vals);
    cairn_free(W->sorted);
    memset(W, 0, sizeof *W);
}

static cairn_status work_alloc(work *W, size_t k, cairn_error *err)
{
    size_t ntn, vals;
    bool ok = cairn_mul_size((size_t)W->nt, W->n, &ntn) &&
              cairn_mul_size(W->n_boot, W->nm, &vals) &&
              cairn_rs_sample_init(&W->X, W->in->task, W->n, k, W->n_boot ? W->nt : 0) ==
                  CAIRN_OK &&
              cairn_rs_side_init(&W->S, &W->X) == CAIRN_OK &&
              cairn_rs_alloc(&W->cnt, ntn, sizeof(uint32_t)) &&
              cairn_rs_alloc(&W->vals, vals, sizeof(double)) &&
              cairn_rs_alloc(&W->sorted, W->n_boot, sizeof(double));
    if (!ok)
        return cairn_error_set(err, CAIRN_ENOMEM, WHERE,
                               "cannot allocate the evaluation of %zu rows x %zu resamples",
                               W->n, W->n_boot);
    return CAIRN_OK;
}

/* ---- one sample (all rows, or one slice group) ------------------------------------- */

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
        double v[1][CAIRN_RS_MAX_SLOTS];
        cairn_rng rng;
        cairn_rng_init(&rng, resample_seed(seed, stream, b));
        cairn_rs_draw_counts(&rng, cnt, m);
        cairn_rs_resample(&C->X, &C->S, 1, m, cnt, t, v);
        for (size_t i = 0; i < nm; i++)
            C->vals[b * nm + i] = v[0][C->slot[i]];
    }
}

/* Evaluates the m gathered rows of W (estimates and intervals) into out[0..nm). */
static void eval_sample(work *W, size_t m, uint64_t stream, cairn_eval_metric *out,
                        cairn_eval_result *top)
{
    double est[CAIRN_RS_MAX_SLOTS];
    const char *const *names = cairn_rs_names(W->in->task, NULL);
    cairn_rs_estimates(&W->X, &W->S, m, est, top);
    for (size_t i = 0; i < W->nm; i++) {
        memset(&out[i], 0, sizeof out[i]);
        snprintf(out[i].name, sizeof out[i].name, "%s", names[W->slot[i]]);
        out[i].iv = (cairn_interval){.estimate = est[W->slot[i]], .lo = NAN, .hi = NAN,
                                     .n_valid = 0};
    }
    if (W->n_boot == 0)
        return;
    cairn_rs_prepare(&W->X, &W->S, 1, m);
    run_resamples(W, m, stream);
    for (size_t i = 0; i < W->nm; i++)
        cairn_rs_interval(W->vals + i, W->nm, W->n_boot, W->sorted, &out[i].iv);
}

/* Copies rows[0..m) of the input (NULL: all rows in order) into the sample arrays. */
static void gather(work *W, const uint32_t *rows, size_t m)
{
    const cairn_eval_input *in = W->in;
    size_t k = W->X.k;
    for (size_t l = 0; l < m; l++) {
        size_t i = rows ? rows[l] : l;
        switch (in->task) {
        case CAIRN_TASK_BINARY:
            W->S.s[l] = in->score[i];
            W->X.y8[l] = in->y[i] != 0;
            break;
        case CAIRN_TASK_REGRESSION:
            W->S.s[l] = in->score[i];
            W->X.yd[l] = in->y[i];
            break;
        case CAIRN_TASK_MULTICLASS:
            memcpy(W->S.s + l * k, in->score + i * k, k * sizeof(double));
            W->X.y32[l] = (uint32_t)in->y[i];
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
    if (sl->n_groups == SIZE_MAX || !cairn_rs_alloc(&rows, n, sizeof(uint32_t)) ||
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
        out->n_pos = in->task == CAIRN_TASK_BINARY ? count_pos(W->X.y8, m) : 0;
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
    size_t k = in->task == CAIRN_TASK_MULTICLASS ? in->n_classes : 1;
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
    /* MAPE only when no evaluated label is 0, for every slice alike. */
    bool has_mape = in->task == CAIRN_TASK_REGRESSION && cairn_rs_mape_defined(in->y, in->n);
    W.nm = cairn_rs_slots(in->task, has_mape, W.slot);
    if ((st = work_alloc(&W, k, err)))
        goto done;
    W.X.threshold = in->threshold;
    W.X.has_mape = has_mape;

    r.task = in->task;
    r.n = in->n;
    gather(&W, NULL, in->n);
    if (in->task == CAIRN_TASK_BINARY)
        r.n_pos = count_pos(W.X.y8, in->n);
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

static void put_metrics(cairn_buf *b, const cairn_eval_metric *m, size_t n)
{
    cairn_buf_putc(b, '{');
    for (size_t i = 0; i < n && i < CAIRN_EVAL_MAX_METRICS; i++) {
        if (i)
            cairn_buf_putc(b, ',');
        cairn_buf_put_json_string(b, m[i].name, strnlen(m[i].name, sizeof m[i].name));
        cairn_buf_puts(b, ":{\"estimate\":");
        cairn_buf_put_json_number(b, m[i].iv.estimate);
        cairn_buf_puts(b, ",\"lo\":");
        cairn_buf_put_json_number(b, m[i].iv.lo);
        cairn_buf_puts(b, ",\"hi\":");
        cairn_buf_put_json_number(b, m[i].iv.hi);
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
        cairn_buf_put_json_number(b, r->at.threshold);
        cairn_buf_printf(b,
                         ",\"confusion\":{\"tp\":%" PRIu64 ",\"fp\":%" PRIu64 ",\"tn\":%" PRIu64
                         ",\"fn\":%" PRIu64 "}",
                         r->at.tp, r->at.fp, r->at.tn, r->at.fn);
        cairn_buf_puts(b, ",\"calibration\":[");
        for (int i = 0; i < CAIRN_EVAL_ECE_BINS; i++) {
            cairn_buf_puts(b, i ? ",{\"lo\":" : "{\"lo\":");
            cairn_buf_put_json_number(b, (double)i / CAIRN_EVAL_ECE_BINS);
            cairn_buf_puts(b, ",\"hi\":");
            cairn_buf_put_json_number(b, (double)(i + 1) / CAIRN_EVAL_ECE_BINS);
            cairn_buf_printf(b, ",\"count\":%" PRIu64 ",\"mean_p\":", r->ece_count[i]);
            cairn_buf_put_json_number(b, r->ece_mean_p[i]);
            cairn_buf_puts(b, ",\"rate\":");
            cairn_buf_put_json_number(b, r->ece_rate[i]);
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
    cairn_rs_keyed *v = NULL;
    if (!cairn_rs_alloc(&v, n, sizeof(cairn_rs_keyed)))
        return NAN;
    uint64_t total_pos = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(p[i])) {
            cairn_free(v);
            return NAN;
        }
        /* The label rides in the row slot: only positive/negative matters here. */
        v[i] = (cairn_rs_keyed){p[i], y[i] ? 1u : 0u};
        total_pos += y[i] ? 1 : 0;
    }
    qsort(v, n, sizeof(cairn_rs_keyed), cairn_rs_keyed_desc);
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
