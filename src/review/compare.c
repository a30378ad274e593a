/*
 * compare.c -- a candidate model against the production model on the same
 * rows: every metric of the task for both, the gain of the candidate with a
 * paired percentile bootstrap interval, and the primary metric's gain per
 * slice group. The metrics themselves are eval's (metrics.c); reading the
 * result (promote or not) is left to the caller.
 *
 * Estimates are cairn_metric_* applied to each side's rows, so they equal a
 * direct call exactly. The resamples follow cairn_bootstrap: one generator,
 * cairn_rng_init(rng, seed), and for resample after resample n indices each
 * drawn with cairn_rng_below(rng, n). One resample's indices serve both
 * models, which is what makes the interval paired. Because the stream is a
 * single sequence, the indices are drawn on one thread, a batch of resamples
 * at a time, turned into per-row counts, and the batch's metrics are then
 * computed in parallel; each resample's values depend on its counts alone,
 * so the result is the same for every thread count.
 *
 * A resample is evaluated without gathering and sorting its rows, by the
 * engine cairn_evaluate uses too (eval/resample.c): each side is sorted once
 * (by score, or by prediction for Spearman's ranks, the labels once for
 * both), the per-row terms of every metric are computed once, and a resample
 * weights each row by how often it was drawn. A row drawn w times adds what
 * w copies of it add to the metric of the gathered rows; counts are exact
 * integers, so only the order of floating-point additions differs from
 * metrics.c (sums run in double over blocks of 1,024 rows, added up in long
 * double). The unit test replays resamples through cairn_bootstrap and the
 * plain metrics and agrees to 1e-12.
 *
 * Slice group g of slice column c is its own sample (its rows in row order)
 * with its own stream: cairn_rng_init(rng, group_seed(seed, c, g)), the rule
 * that compare.h states.
 */
#include "review/compare.h"

#include "eval/resample.h"

#include <inttypes.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WHERE "cairn_compare"

/* Resamples drawn per thread before a batch is evaluated in parallel. */
#define BATCH_PER_THREAD 4

/* Below this many rows x resamples a loop runs on one thread. */
#define PARALLEL_MIN_WORK 65536u

const char *cairn_compare_primary(cairn_task task)
{
    switch (task) {
    case CAIRN_TASK_BINARY: return "auc";
    case CAIRN_TASK_REGRESSION: return "rmse";
    case CAIRN_TASK_MULTICLASS: return "accuracy";
    }
    return "auc";
}

/* ---- working memory -------------------------------------------------------------------- */

typedef struct work {
    const cairn_compare_input *in;
    cairn_task task;
    size_t n, n_boot;
    int nt;
    size_t nm;
    uint8_t slot[CAIRN_EVAL_MAX_METRICS];
    bool higher[CAIRN_EVAL_MAX_METRICS];

    cairn_rs_sample X;   /* the sample's labels, gathered in row order, prepared */
    cairn_rs_side sd[2]; /* 0: candidate, 1: production */

    size_t batch;        /* resamples drawn per batch */
    uint32_t *cnt;       /* batch x n counts */
    double *gains;       /* n_boot x nm */
    double *sorted;      /* n_boot */
} work;

static void work_free(work *W)
{
    cairn_rs_side_reset(&W->sd[0]);
    cairn_rs_side_reset(&W->sd[1]);
    cairn_rs_sample_reset(&W->X);
    cairn_free(W->cnt);
    cairn_free(W->gains);
    cairn_free(W->sorted);
    memset(W, 0, sizeof *W);
}

static cairn_status work_alloc(work *W, size_t k, cairn_error *err)
{
    size_t bn, gains;
    bool ok = cairn_mul_size(W->batch, W->n, &bn) && cairn_mul_size(W->n_boot, W->nm, &gains) &&
              cairn_rs_sample_init(&W->X, W->task, W->n, k, W->n_boot ? W->nt : 0) ==
                  CAIRN_OK &&
              cairn_rs_side_init(&W->sd[0], &W->X) == CAIRN_OK &&
              cairn_rs_side_init(&W->sd[1], &W->X) == CAIRN_OK;
    if (W->n_boot)
        ok = ok && cairn_rs_alloc(&W->cnt, bn, sizeof(uint32_t)) &&
             cairn_rs_alloc(&W->gains, gains, sizeof(double)) &&
             cairn_rs_alloc(&W->sorted, W->n_boot, sizeof(double));
    if (!ok)
        return cairn_error_set(err, CAIRN_ENOMEM, WHERE,
                               "cannot allocate the comparison of %zu rows x %zu resamples",
                               W->n, W->n_boot);
    return CAIRN_OK;
}

/* Copies rows[0..m) of the input (NULL: all rows in order) into the sample arrays. */
static void gather(work *W, const uint32_t *rows, size_t m)
{
    const cairn_compare_input *in = W->in;
    size_t k = W->X.k;
    for (size_t l = 0; l < m; l++) {
        size_t i = rows ? rows[l] : l;
        switch (W->task) {
        case CAIRN_TASK_BINARY:
            W->X.y8[l] = in->y[i] != 0;
            break;
        case CAIRN_TASK_REGRESSION:
            W->X.yd[l] = in->y[i];
            break;
        case CAIRN_TASK_MULTICLASS:
            W->X.y32[l] = (uint32_t)in->y[i];
            break;
        }
        memcpy(W->sd[0].s + l * k, in->candidate + i * k, k * sizeof(double));
        memcpy(W->sd[1].s + l * k, in->production + i * k, k * sizeof(double));
    }
}

/* ---- one sample (all rows, or one slice group) ------------------------------------------ */

/* The candidate's improvement: NaN when either side is NaN. */
static double gain_of(bool higher_is_better, double cand, double prod)
{
    return higher_is_better ? cand - prod : prod - cand;
}

/* All n_boot resamples of the prepared m-row sample from one stream; gains to W->gains. */
static void run_resamples(work *W, size_t m, uint64_t seed)
{
    cairn_rng rng;
    size_t nb = W->n_boot, nm = W->nm;
    cairn_rng_init(&rng, seed);
    for (size_t b0 = 0; b0 < nb; b0 += W->batch) {
        size_t nbatch = nb - b0 < W->batch ? nb - b0 : W->batch;
        /* The stream is sequential: draw the batch on this thread, in order. */
        for (size_t j = 0; j < nbatch; j++)
            cairn_rs_draw_counts(&rng, W->cnt + j * W->n, m);
        bool par = W->nt > 1 && nbatch > 1 && (uint64_t)m * nbatch >= PARALLEL_MIN_WORK;
        const work *C = W;
#pragma omp parallel for num_threads(W->nt) schedule(dynamic, 1) if (par)
        for (size_t j = 0; j < nbatch; j++) {
            size_t t = (size_t)omp_get_thread_num();
            double v[2][CAIRN_RS_MAX_SLOTS], *g = C->gains + (b0 + j) * nm;
            /* Both sides at once: a regression resample ranks its labels once. */
            cairn_rs_resample(&C->X, C->sd, 2, m, C->cnt + j * C->n, t, v);
            for (size_t i = 0; i < nm; i++)
                g[i] = gain_of(C->higher[i], v[0][C->slot[i]], v[1][C->slot[i]]);
        }
    }
}

/* Compares the m gathered rows: estimates and intervals of every metric into out[0..nm). */
static void compare_sample(work *W, size_t m, uint64_t seed, cairn_compare_metric *out)
{
    double est[2][CAIRN_RS_MAX_SLOTS];
    const char *const *names = cairn_rs_names(W->task, NULL);
    cairn_rs_estimates(&W->X, &W->sd[0], m, est[0], NULL);
    cairn_rs_estimates(&W->X, &W->sd[1], m, est[1], NULL);
    for (size_t i = 0; i < W->nm; i++) {
        double c = est[0][W->slot[i]], p = est[1][W->slot[i]], g = gain_of(W->higher[i], c, p);
        memset(&out[i], 0, sizeof out[i]);
        snprintf(out[i].name, sizeof out[i].name, "%s", names[W->slot[i]]);
        out[i].candidate = c;
        out[i].production = p;
        /* No resamples: the interval collapses onto the estimate. */
        out[i].gain = (cairn_interval){.estimate = g, .lo = g, .hi = g, .n_valid = 0};
    }
    if (W->n_boot == 0)
        return;
    cairn_rs_prepare(&W->X, W->sd, 2, m);
    run_resamples(W, m, seed);
    for (size_t i = 0; i < W->nm; i++)
        cairn_rs_interval(W->gains + i, W->nm, W->n_boot, W->sorted, &out[i].gain);
}

/* ---- validation ------------------------------------------------------------------------ */

static cairn_status check_scores(const double *s, const char *which, size_t nk, size_t k,
                                 bool multiclass, cairn_error *err)
{
    for (size_t i = 0; i < nk; i++)
        if (!isfinite(s[i])) {
            if (multiclass)
                return cairn_error_set(err, CAIRN_EINVAL, WHERE,
                                       "%s score of row %zu, class %zu is %g (not a finite "
                                       "number)",
                                       which, i / k, i % k, s[i]);
            return cairn_error_set(err, CAIRN_EINVAL, WHERE,
                                   "%s score of row %zu is %g (not a finite number)", which, i,
                                   s[i]);
        }
    return CAIRN_OK;
}

static cairn_status validate(const cairn_compare_input *in, cairn_error *err)
{
    size_t n = in->n, k = in->n_classes, nk;
    cairn_status st;
    bool mc = in->task == CAIRN_TASK_MULTICLASS;
    if (in->task != CAIRN_TASK_BINARY && in->task != CAIRN_TASK_REGRESSION && !mc)
        return cairn_error_set(err, CAIRN_EINVAL, WHERE, "unknown task %d", (int)in->task);
    if (n == 0)
        return cairn_error_set(err, CAIRN_EINVAL, WHERE, "no rows to compare on");
    if (n > UINT32_MAX)
        return cairn_error_set(err, CAIRN_EINVAL, WHERE,
                               "%zu rows to compare on; at most %" PRIu32 " are supported", n,
                               UINT32_MAX);
    if (!in->y || !in->candidate || !in->production)
        return cairn_error_set(err, CAIRN_EINVAL, WHERE,
                               "labels, candidate and production scores are required");
    if (mc) {
        if (k < 2)
            return cairn_error_set(err, CAIRN_EINVAL, WHERE,
                                   "a multiclass comparison needs n_classes >= 2 (got %zu)", k);
        if (k > UINT32_MAX || !cairn_mul_size(n, k, &nk))
            return cairn_error_set(err, CAIRN_EINVAL, WHERE, "%zu rows x %zu classes is too large",
                                   n, k);
    } else {
        nk = n;
    }
    if (in->task == CAIRN_TASK_BINARY && isnan(in->threshold))
        return cairn_error_set(err, CAIRN_EINVAL, WHERE, "the decision threshold is NaN");
    if ((st = check_scores(in->candidate, "candidate", nk, k, mc, err)) ||
        (st = check_scores(in->production, "production", nk, k, mc, err)))
        return st;
    for (size_t i = 0; i < n; i++) {
        double y = in->y[i];
        bool ok = in->task == CAIRN_TASK_BINARY       ? (y == 0 || y == 1)
                  : in->task == CAIRN_TASK_REGRESSION ? isfinite(y)
                                                      : (y >= 0 && y < (double)k && y == floor(y));
        if (!ok)
            return cairn_error_set(err, CAIRN_EINVAL, WHERE,
                                   "label of row %zu is %g; the %s task needs %s", i, y,
                                   cairn_task_name(in->task),
                                   in->task == CAIRN_TASK_BINARY       ? "0 or 1"
                                   : in->task == CAIRN_TASK_REGRESSION ? "a finite number"
                                                                       : "a class index in [0, k)");
    }
    if (in->n_slices && !in->slices)
        return cairn_error_set(err, CAIRN_EINVAL, WHERE, "%zu slice columns but no slices",
                               in->n_slices);
    for (size_t c = 0; c < in->n_slices; c++) {
        const cairn_eval_slice_input *sl = &in->slices[c];
        if (!sl->column)
            return cairn_error_set(err, CAIRN_EINVAL, WHERE, "slice %zu has no column name", c);
        if (!sl->group || (sl->n_groups && !sl->group_names) || sl->n_groups == SIZE_MAX)
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

/* ---- the comparison ---------------------------------------------------------------------- */

/* splitmix64's output for a state of x: a bijective 64-bit mixer. */
static uint64_t mix64(uint64_t x)
{
    return cairn_splitmix64(&x);
}

/* The stream seed of group g of slice column c (the rule compare.h states). */
static uint64_t group_seed(uint64_t seed, size_t c, size_t g)
{
    uint64_t stream = ((uint64_t)(c + 1) << 32) | (uint64_t)g;
    return mix64(mix64(mix64(seed) ^ stream));
}

/* Every non-empty group of slice column c, appended to r->slices. */
static cairn_status compare_slice_column(work *W, size_t c, size_t primary,
                                         cairn_compare_result *r, cairn_error *err)
{
    const cairn_compare_input *in = W->in;
    const cairn_eval_slice_input *sl = &in->slices[c];
    size_t n = in->n;
    cairn_status st = CAIRN_OK;
    size_t *start = NULL; /* n_groups + 1 offsets into rows */
    uint32_t *rows = NULL;
    cairn_compare_metric all[CAIRN_EVAL_MAX_METRICS];
    size_t used = 0;
    if ((st = cairn_eval_group_rows(sl, n, &rows, &start, &used, err)) != CAIRN_OK)
        goto done;
    cairn_compare_slice *grown = cairn_reallocarray(r->slices, r->n_slices + used + 1,
                                                    sizeof(cairn_compare_slice));
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
        cairn_compare_slice *out = &r->slices[r->n_slices];
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
        compare_sample(W, m, group_seed(in->seed, c, g), all);
        out->n = m;
        size_t pos = 0;
        for (size_t l = 0; in->task == CAIRN_TASK_BINARY && l < m; l++)
            pos += W->X.y8[l] != 0;
        out->small = cairn_eval_slice_small(in->task, m, pos, in->small_slice);
        out->metric = all[primary];
        /* NaN hi (undefined on the group) never counts as a regression. */
        out->regressed = !out->small && out->metric.gain.hi < 0;
    }
done:
    cairn_free(start);
    cairn_free(rows);
    return st;
}

cairn_status cairn_compare(const cairn_compare_input *in, cairn_compare_result *out,
                           cairn_error *err)
{
    cairn_status st;
    cairn_compare_result r;
    work W;
    memset(&r, 0, sizeof r);
    memset(&W, 0, sizeof W);
    if (!in || !out)
        return cairn_error_set(err, CAIRN_EINVAL, WHERE, "input and output are required");
    if ((st = validate(in, err)))
        return st;

    W.in = in;
    W.task = in->task;
    W.n = in->n;
    size_t k = in->task == CAIRN_TASK_MULTICLASS ? in->n_classes : 1;
    W.n_boot = in->n_boot;
    const char *const *names = cairn_rs_names(in->task, NULL);
    /* As cairn_evaluate: MAPE only when no label is 0. */
    bool has_mape = in->task == CAIRN_TASK_REGRESSION && cairn_rs_mape_defined(in->y, in->n);
    W.nm = cairn_rs_slots(in->task, has_mape, W.slot);
    for (size_t i = 0; i < W.nm; i++)
        W.higher[i] = cairn_metric_higher_is_better(names[W.slot[i]]);
    const char *primary = in->primary ? in->primary : cairn_compare_primary(in->task);
    size_t pidx = W.nm;
    for (size_t i = 0; i < W.nm; i++)
        if (strcmp(names[W.slot[i]], primary) == 0)
            pidx = i;
    if (pidx == W.nm)
        return cairn_error_set(err, CAIRN_EINVAL, WHERE,
                               "the primary metric '%s' is not a metric of this %s comparison",
                               primary, cairn_task_name(in->task));

    /* At most one thread per core (two at least, so the parallel path runs
     * anywhere); the result is the same for every count. */
    int nt = in->threads > 0 ? in->threads : omp_get_max_threads();
    int procs = omp_get_num_procs();
    if (nt > (procs > 2 ? procs : 2))
        nt = procs > 2 ? procs : 2;
    if ((size_t)nt > in->n_boot)
        nt = (int)(in->n_boot ? in->n_boot : 1);
    W.nt = nt < 1 ? 1 : nt;
    W.batch = (size_t)W.nt * BATCH_PER_THREAD;
    if (W.batch > in->n_boot)
        W.batch = in->n_boot ? in->n_boot : 1;
    if ((st = work_alloc(&W, k, err)))
        goto done;
    W.X.threshold = in->threshold;
    W.X.has_mape = has_mape;

    r.task = in->task;
    r.n = in->n;
    snprintf(r.primary, sizeof r.primary, "%s", primary);
    r.n_metrics = W.nm;
    gather(&W, NULL, in->n);
    compare_sample(&W, in->n, in->seed, r.metrics);
    for (size_t c = 0; c < in->n_slices; c++)
        if ((st = compare_slice_column(&W, c, pidx, &r, err)))
            goto done;
    *out = r;
done:
    work_free(&W);
    if (st)
        cairn_compare_result_reset(&r);
    return st;
}

void cairn_compare_result_reset(cairn_compare_result *r)
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

const cairn_compare_metric *cairn_compare_find(const cairn_compare_result *r, const char *name)
{
    if (!r || !name)
        return NULL;
    for (size_t i = 0; i < r->n_metrics && i < CAIRN_EVAL_MAX_METRICS; i++)
        if (strcmp(r->metrics[i].name, name) == 0)
            return &r->metrics[i];
    return NULL;
}

/* ---- JSON ---------------------------------------------------------------------------------- */

/* "candidate":C,"production":P,"gain":G,"lo":L,"hi":H (no braces). */
static void put_values(cairn_buf *b, const cairn_compare_metric *m)
{
    cairn_buf_puts(b, "\"candidate\":");
    cairn_buf_put_json_number(b, m->candidate);
    cairn_buf_puts(b, ",\"production\":");
    cairn_buf_put_json_number(b, m->production);
    cairn_buf_puts(b, ",\"gain\":");
    cairn_buf_put_json_number(b, m->gain.estimate);
    cairn_buf_puts(b, ",\"lo\":");
    cairn_buf_put_json_number(b, m->gain.lo);
    cairn_buf_puts(b, ",\"hi\":");
    cairn_buf_put_json_number(b, m->gain.hi);
}

void cairn_compare_result_to_json(const cairn_compare_result *r, cairn_buf *b)
{
    const char *task = cairn_task_name(r->task);
    cairn_buf_puts(b, "{\"task\":");
    cairn_buf_put_json_string(b, task, strlen(task));
    cairn_buf_printf(b, ",\"n\":%zu,\"primary\":", r->n);
    cairn_buf_put_json_string(b, r->primary, strnlen(r->primary, sizeof r->primary));
    cairn_buf_puts(b, ",\"metrics\":{");
    for (size_t i = 0; i < r->n_metrics && i < CAIRN_EVAL_MAX_METRICS; i++) {
        const cairn_compare_metric *m = &r->metrics[i];
        if (i)
            cairn_buf_putc(b, ',');
        cairn_buf_put_json_string(b, m->name, strnlen(m->name, sizeof m->name));
        cairn_buf_puts(b, ":{");
        put_values(b, m);
        cairn_buf_putc(b, '}');
    }
    cairn_buf_puts(b, "},\"slices\":[");
    for (size_t i = 0; i < r->n_slices; i++) {
        const cairn_compare_slice *s = &r->slices[i];
        const char *col = s->column ? s->column : "", *val = s->value ? s->value : "";
        cairn_buf_puts(b, i ? ",{\"column\":" : "{\"column\":");
        cairn_buf_put_json_string(b, col, strlen(col));
        cairn_buf_puts(b, ",\"value\":");
        cairn_buf_put_json_string(b, val, strlen(val));
        cairn_buf_printf(b, ",\"n\":%zu,\"small\":%s,\"metric\":", s->n,
                         s->small ? "true" : "false");
        cairn_buf_put_json_string(b, s->metric.name,
                                  strnlen(s->metric.name, sizeof s->metric.name));
        cairn_buf_putc(b, ',');
        put_values(b, &s->metric);
        cairn_buf_printf(b, ",\"regressed\":%s}", s->regressed ? "true" : "false");
    }
    cairn_buf_puts(b, "]}");
}
