/*
 * monitor.c -- `cairn monitor`: one streaming pass over the prediction log
 * (see monitor.h for the model of groups, closing and alerts).
 *
 * Per record of the model: find its group (window, version, shadow), map its
 * fields to the version's reference entries (by position, checked by name,
 * so the usual case of a fixed field order costs one strcmp per field), feed
 * the accumulators, the latency histogram and the label join. At the end:
 * entity labels are matched, metrics computed per group, alerts raised.
 */
#include "monitor/monitor.h"

#include "eval/eval.h"
#include "monitor/labels.h"
#include "pipeline/spec.h"
#include "registry/artifact.h"
#include "registry/models.h"
#include "registry/registry.h"
#include "serve/serve.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_OPEN_GROUPS 64       /* beyond this, groups well past their window are closed */
#define MAX_PARALLEL_GROUPS 256  /* a parallel pass keeps every group open, up to this many */
#define MAX_THREADS 8
#define LAT_PER_OCTAVE 40.0      /* latency buckets: 40 per doubling (1.7%), 1 us to 33 s */

/* ---- options --------------------------------------------------------------------------- */

void cairn_monitor_thresholds_default(cairn_monitor_thresholds *t)
{
    memset(t, 0, sizeof *t);
    cairn_drift_thresholds_default(&t->drift);
    t->perf_warn = 0.02;
    t->perf_alert = 0.05;
    t->labelled_warn = 0.1;
    t->rejected_warn = 0.01;
    t->rejected_alert = 0.05;
    t->fallback_warn = 0.01;
    t->fallback_alert = 0.05;
    t->latency_p99_warn_ms = 10;
    t->latency_p99_alert_ms = 50;
    t->min_rows = 100;
}

void cairn_monitor_opts_init(cairn_monitor_opts *o)
{
    memset(o, 0, sizeof *o);
    o->since_us = INT64_MIN;
    o->until_us = INT64_MAX;
    cairn_monitor_thresholds_default(&o->th);
    o->n_boot = 200;
    o->seed = 42;
}

cairn_status cairn_monitor_parse_window(const char *s, int64_t *us, bool *months,
                                        cairn_error *err)
{
    *us = 0;
    *months = false;
    if (!s || !*s)
        return cairn_error_set(err, CAIRN_EINVAL, "--window", "an empty window length");
    if (strcmp(s, "month") == 0 || strcmp(s, "1mo") == 0) {
        *months = true;
        return CAIRN_OK;
    }
    char *end;
    double n = strtod(s, &end);
    static const struct {
        const char *unit;
        double us;
    } units[] = {{"s", 1e6}, {"m", 60e6}, {"min", 60e6}, {"h", 3600e6}, {"d", 86400e6},
                 {"w", 604800e6}};
    if (end == s || !isfinite(n) || n <= 0)
        return cairn_error_set(err, CAIRN_EINVAL, "--window",
                               "'%.40s' is not a window length (e.g. 30m, 1h, 1d, 7d, 1mo)", s);
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(units); i++) {
        if (strcmp(end, units[i].unit) == 0) {
            double v = n * units[i].us;
            if (v < 1e6 || v > 3650 * 86400e6)
                return cairn_error_set(err, CAIRN_EINVAL, "--window",
                                       "'%.40s': a window is from 1 s to 10 years", s);
            *us = (int64_t)llround(v);
            return CAIRN_OK;
        }
    }
    return cairn_error_set(err, CAIRN_EINVAL, "--window",
                           "'%.40s': unknown unit (use s, m, h, d or w, or 1mo for calendar months)", s);
}

cairn_status cairn_monitor_parse_time(const char *s, const char *flag, int64_t now_us,
                                      int64_t *out, cairn_error *err)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0)
        return cairn_error_set(err, CAIRN_EINVAL, flag, "an empty time");
    if (cairn_parse_time(s, n, out))
        return CAIRN_OK;
    char *end;
    double x = strtod(s, &end);
    int64_t us;
    bool months;
    cairn_error e = {0};
    if (end != s && *end && cairn_monitor_parse_window(s, &us, &months, &e) == CAIRN_OK) {
        *out = now_us - (months ? (int64_t)(x * 30.0 * 86400e6) : us);
        return CAIRN_OK;
    }
    return cairn_error_set(err, CAIRN_EINVAL, flag,
                           "'%.60s' is not a time: use ISO 8601 (2024-03-01T12:00:00Z), epoch "
                           "seconds, or a duration ago (7d, 24h)",
                           s);
}

const char *cairn_monitor_alert_kind_name(cairn_monitor_alert_kind k)
{
    static const char *const names[CAIRN_ALERT_N_KINDS] = {
        "feature_drift", "prediction_drift", "performance",   "labels",  "dropped_records",
        "damaged_log",   "rejected_rows",    "fallback_rate", "latency"};
    return (unsigned)k < CAIRN_ALERT_N_KINDS ? names[k] : "unknown";
}

cairn_status cairn_monitor_thresholds_from_spec(cairn_home *h, const char *model,
                                                cairn_monitor_thresholds *t, cairn_error *err)
{
    cairn_model_version v = {0};
    cairn_artifact *a = NULL;
    cJSON *lin = NULL;
    char ref[CAIRN_NAME_MAX + 16];
    snprintf(ref, sizeof ref, "%s", model);
    cairn_status st = cairn_model_resolve(h, ref, &v, err);
    if (st == CAIRN_ENOTFOUND) {
        /* No production version: the newest one. */
        cairn_model_version *vs = NULL;
        size_t n = 0;
        cairn_error e2 = {0};
        if (cairn_model_versions(h, model, &vs, &n, &e2) == CAIRN_OK && n > 0) {
            snprintf(ref, sizeof ref, "%s@%d", model, vs[n - 1].version);
            st = cairn_model_resolve(h, ref, &v, err);
        }
        for (size_t i = 0; i < n; i++)
            cairn_model_version_reset(&vs[i]);
        cairn_free(vs);
    }
    if (st != CAIRN_OK)
        goto done;
    if ((st = cairn_home_artifact_load(h, v.artifact_hash, &a, err)) != CAIRN_OK)
        goto done;
    const cairn_artifact_view *sec = &a->sections[CAIRN_ART_LINEAGE];
    lin = sec->data ? cJSON_ParseWithLength((const char *)sec->data, sec->len) : NULL;
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(lin, "spec");
    const cJSON *mon = cJSON_GetObjectItemCaseSensitive(spec, "monitor");
    double *slots[CAIRN_SPEC_MONITOR_KEYS] = {
        &t->drift.psi_warn,     &t->drift.psi_alert,     &t->drift.ks_warn,
        &t->drift.ks_alert,     &t->drift.js_warn,       &t->drift.js_alert,
        &t->drift.missing_warn, &t->drift.missing_alert, &t->perf_warn,
        &t->perf_alert,         &t->rejected_warn,       &t->rejected_alert,
        &t->fallback_warn,      &t->fallback_alert,      &t->latency_p99_warn_ms,
        &t->latency_p99_alert_ms, NULL,                  &t->drift.noise_p};
    for (size_t k = 0; k < CAIRN_SPEC_MONITOR_KEYS && cJSON_IsObject(mon); k++) {
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(mon, cairn_spec_monitor_keys[k]);
        if (!cJSON_IsNumber(x))
            continue;
        if (slots[k])
            *slots[k] = x->valuedouble;
        else
            t->min_rows = (uint64_t)x->valuedouble;
    }
done:
    cJSON_Delete(lin);
    cairn_artifact_free(a);
    cairn_model_version_reset(&v);
    return st;
}

/* ---- what each version brings: references, task, training metrics -------------------- */

typedef struct vinfo {
    int version;
    bool usable;                  /* references parsed */
    char *note;                   /* why not usable */
    cairn_drift_refs refs;
    char task[16];
    char *positive;               /* binary */
    double threshold;             /* binary */
    double ref_positive_rate;
    size_t n_train;
    char train_name[CAIRN_MONITOR_MAX_METRICS][16];
    double train_value[CAIRN_MONITOR_MAX_METRICS];
    /* field position -> feature index (-1: not a feature), checked by name */
    long *field_map;
    char **field_name;
    size_t field_map_cap;
    uint32_t *stamp;              /* per feature: the record that fed it last */
    uint32_t record_no;
    cairn_monitor_version info;
} vinfo;

static void vinfo_free(vinfo *v)
{
    cairn_free(v->note);
    cairn_drift_refs_reset(&v->refs);
    cairn_free(v->positive);
    for (size_t i = 0; i < v->field_map_cap; i++)
        cairn_free(v->field_name[i]);
    cairn_free(v->field_name);
    cairn_free(v->field_map);
    cairn_free(v->stamp);
}

static double json_num(const cJSON *o, const char *key)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(x) ? x->valuedouble : NAN;
}

/* Loads NAME@version's artifact and takes what the monitor needs from it. Problems make
 * the version unusable (noted), never fail the run: the log may name versions a home
 * no longer has, or was written by another home. */
static cairn_status vinfo_load(cairn_home *h, const char *model, vinfo *v, cairn_error *err)
{
    cairn_model_version mv = {0};
    cairn_artifact *a = NULL;
    cJSON *man = NULL, *ev = NULL;
    cairn_error e = {0};
    cairn_status st = CAIRN_OK;
    v->threshold = 0.5;
    v->ref_positive_rate = NAN;
    v->info.version = v->version;
    if (v->version <= 0) {
        v->note = cairn_strdup("not a registry version (scored from an artifact file): no "
                               "reference to compare with");
        goto done;
    }
    if (cairn_model_get_version(h, model, v->version, &mv, &e) != CAIRN_OK ||
        cairn_home_artifact_load(h, mv.artifact_hash, &a, &e) != CAIRN_OK) {
        char buf[300];
        snprintf(buf, sizeof buf, "version %d cannot be loaded: %.200s", v->version, e.msg);
        v->note = cairn_strdup(buf);
        goto done;
    }
    snprintf(v->info.artifact_hash, sizeof v->info.artifact_hash, "%s", mv.artifact_hash);
    snprintf(v->info.run_id, sizeof v->info.run_id, "%s", mv.run_id);
    snprintf(v->task, sizeof v->task, "%s", a->task ? a->task : "");
    const cairn_artifact_view *ms = &a->sections[CAIRN_ART_MANIFEST];
    man = ms->data ? cJSON_ParseWithLength((const char *)ms->data, ms->len) : NULL;
    const cJSON *pos = cJSON_GetObjectItemCaseSensitive(man, "positive");
    if (cJSON_IsString(pos) && !(v->positive = cairn_strdup(pos->valuestring))) {
        st = cairn_error_set(err, CAIRN_ENOMEM, "monitor", "out of memory");
        goto done;
    }
    const cairn_artifact_view *es = &a->sections[CAIRN_ART_EVAL];
    ev = es->data ? cJSON_ParseWithLength((const char *)es->data, es->len) : NULL;
    const cJSON *me = cJSON_GetObjectItemCaseSensitive(ev, "model");
    const cJSON *mets = cJSON_GetObjectItemCaseSensitive(me, "metrics");
    const cJSON *it;
    cJSON_ArrayForEach(it, mets)
    {
        if (v->n_train >= CAIRN_MONITOR_MAX_METRICS || !it->string)
            break;
        snprintf(v->train_name[v->n_train], 16, "%s", it->string);
        v->train_value[v->n_train++] = json_num(it, "estimate");
    }
    double thr = json_num(me, "threshold");
    if (isfinite(thr))
        v->threshold = thr;
    const cJSON *cf = cJSON_GetObjectItemCaseSensitive(me, "confusion");
    double tp = json_num(cf, "tp"), fp = json_num(cf, "fp"), tn = json_num(cf, "tn"),
           fn = json_num(cf, "fn");
    if (tp + fp + tn + fn > 0)
        v->ref_positive_rate = (tp + fp) / (tp + fp + tn + fn);
    const cairn_artifact_view *rs = &a->sections[CAIRN_ART_REFSTATS];
    if (!rs->data || rs->len == 0 ||
        cairn_drift_refs_parse(&v->refs, (const char *)rs->data, rs->len, &e) != CAIRN_OK) {
        char buf[300];
        snprintf(buf, sizeof buf, "version %d has no usable reference statistics%s%.200s",
                 v->version, e.msg[0] ? ": " : "", e.msg);
        v->note = cairn_strdup(buf);
        goto done;
    }
    v->stamp = cairn_calloc(v->refs.n_features + 1, sizeof *v->stamp);
    if (!v->stamp) {
        st = cairn_error_set(err, CAIRN_ENOMEM, "monitor", "out of memory");
        goto done;
    }
    v->usable = true;
done:
    cJSON_Delete(man);
    cJSON_Delete(ev);
    cairn_artifact_free(a);
    cairn_model_version_reset(&mv);
    return st;
}

/* The feature index of field i of a record (-1: not a feature). Cached by position with
 * the name it was found for, so a log whose records keep one field order costs one
 * strcmp per field. */
static long field_feature(vinfo *v, size_t i, const char *name)
{
    if (i >= v->field_map_cap) {
        size_t cap = i + 16;
        long *m = cairn_reallocarray(v->field_map, cap, sizeof *m);
        if (m)
            v->field_map = m;
        char **nm = m ? cairn_reallocarray(v->field_name, cap, sizeof *nm) : NULL;
        if (!nm) {   /* no room to cache: look it up each time */
            const cairn_drift_ref *r = cairn_drift_refs_find(&v->refs, name);
            return r ? (long)(r - v->refs.features) : -1;
        }
        v->field_name = nm;
        for (size_t k = v->field_map_cap; k < cap; k++) {
            m[k] = -1;
            nm[k] = NULL;
        }
        v->field_map_cap = cap;
    }
    if (v->field_name[i] && strcmp(v->field_name[i], name) == 0)
        return v->field_map[i];
    const cairn_drift_ref *r = cairn_drift_refs_find(&v->refs, name);
    long k = r ? (long)(r - v->refs.features) : -1;
    char *copy = cairn_strdup(name);
    if (copy) {
        cairn_free(v->field_name[i]);
        v->field_name[i] = copy;
        v->field_map[i] = k;
    }
    return k;
}

/* ---- groups ----------------------------------------------------------------------------- */

typedef struct pairs {
    double *score;                /* binary: P(positive); regression: prediction */
    double *y;                    /* binary 0/1; regression: the true value */
    double *correct;              /* 0/1: the predicted class was right (binary, multiclass) */
    size_t n, cap;
} pairs;

typedef struct group {
    int64_t start, end;
    int version;
    bool shadow;
    vinfo *v;
    bool open;
    uint64_t rows, rejected, fallback, positive;
    cairn_drift_acc *accs;        /* n_features of v (open only) */
    cairn_drift_acc pred;
    uint32_t lat[CAIRN_MONITOR_LAT_BUCKETS];
    pairs pr;
    cairn_monitor_group out;      /* filled when closed */
} group;

/* Pending entity-label matches: the latest record at or before each label's time. */
typedef struct match {
    int64_t tp;                   /* time of the matched record; INT64_MIN: none */
    double score;
    double correct;
    uint32_t group;
} match;

typedef struct walk {
    cairn_home *h;
    const cairn_monitor_opts *o;
    cairn_monitor_result *res;
    cairn_status st;
    cairn_error *err;
    vinfo **versions;
    size_t n_versions;
    group **groups;
    size_t n_groups, cap_groups;
    size_t *open;                 /* indices of open groups */
    size_t n_open;
    size_t last_hit;
    int64_t max_time;
    cairn_labels *labels;
    size_t n_labels;
    match *matches;               /* per label (entity labels only used) */
    uint64_t since_progress;
    /* parallel passes: groups are never closed early, and a pass that would hold more
       than MAX_PARALLEL_GROUPS gives up (overflow) for a sequential, streaming one */
    bool parallel, overflow;
    bool report_progress;
    pthread_mutex_t *load_mu;     /* serialises artifact loads across threads */
} walk;

static cairn_status nomem(walk *w)
{
    return w->st = cairn_error_set(w->err, CAIRN_ENOMEM, "monitor", "out of memory");
}

static vinfo *get_vinfo(walk *w, int version)
{
    for (size_t i = 0; i < w->n_versions; i++)
        if (w->versions[i]->version == version)
            return w->versions[i];
    vinfo **nv = cairn_reallocarray(w->versions, w->n_versions + 1, sizeof *nv);
    if (!nv)
        return NULL;
    w->versions = nv;
    vinfo *v = cairn_calloc(1, sizeof *v);
    if (!v)
        return NULL;
    v->version = version;
    w->versions[w->n_versions++] = v;
    if (w->load_mu)
        pthread_mutex_lock(w->load_mu);
    cairn_status st = vinfo_load(w->h, w->o->model, v, w->err);
    if (w->load_mu)
        pthread_mutex_unlock(w->load_mu);
    if (st != CAIRN_OK) {
        w->st = CAIRN_ENOMEM;
        return NULL;
    }
    return v;
}

/* The UTC calendar month holding t: [start, end). */
static void month_bounds(int64_t t_us, int64_t *start, int64_t *end)
{
    time_t s = (time_t)(t_us >= 0 ? t_us / 1000000 : (t_us - 999999) / 1000000);
    struct tm tm;
    gmtime_r(&s, &tm);
    tm.tm_mday = 1;
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    *start = (int64_t)timegm(&tm) * 1000000;
    tm.tm_mon += 1;
    *end = (int64_t)timegm(&tm) * 1000000;
}

static void window_of(const cairn_monitor_opts *o, int64_t t, int64_t *start, int64_t *end)
{
    if (o->calendar_months) {
        month_bounds(t, start, end);
    } else if (o->window_us > 0) {
        /* Aligned to the epoch (midnight UTC), whole weeks to a Monday (1970-01-05). */
        int64_t origin = o->since_us != INT64_MIN                 ? o->since_us
                         : o->window_us % (7 * 86400000000LL) == 0 ? 4 * 86400000000LL
                                                                   : 0;
        int64_t d = t - origin;
        int64_t k = d >= 0 ? d / o->window_us : -((-d + o->window_us - 1) / o->window_us);
        *start = origin + k * o->window_us;
        *end = *start + o->window_us;
    } else {
        *start = INT64_MIN;   /* one window: its bounds are set at the end */
        *end = INT64_MAX;
    }
}

/* Percentile q (0..1) of a latency histogram, in milliseconds (the bucket's middle). */
static double lat_percentile(const uint32_t *hist, uint64_t n, double q)
{
    if (n == 0)
        return NAN;
    uint64_t want = (uint64_t)ceil(q * (double)n), acc = 0;
    if (want == 0)
        want = 1;
    for (int b = 0; b < CAIRN_MONITOR_LAT_BUCKETS; b++) {
        acc += hist[b];
        if (acc >= want)
            return pow(2.0, ((double)b + 0.5) / LAT_PER_OCTAVE) / 1000.0;
    }
    return pow(2.0, CAIRN_MONITOR_LAT_BUCKETS / LAT_PER_OCTAVE) / 1000.0;
}

static int lat_bucket(double us)
{
    if (!(us >= 1.0))
        return 0;
    double b = floor(log2(us) * LAT_PER_OCTAVE);
    return b >= CAIRN_MONITOR_LAT_BUCKETS - 1 ? CAIRN_MONITOR_LAT_BUCKETS - 1 : (int)b;
}

static char *bin_label_number(const cairn_drift_ref *r, size_t b)
{
    char buf[96];
    if (r->n_edges == 0)
        snprintf(buf, sizeof buf, "all");
    else if (b == 0)
        snprintf(buf, sizeof buf, "< %.4g", r->edges[0]);
    else if (b == r->n_edges)
        snprintf(buf, sizeof buf, ">= %.4g", r->edges[b - 1]);
    else
        snprintf(buf, sizeof buf, "[%.4g, %.4g)", r->edges[b - 1], r->edges[b]);
    return cairn_strdup(buf);
}

/* Statistics, severity and histograms of one accumulator into f. */
static cairn_status feature_out(const cairn_drift_acc *acc, const cairn_drift_thresholds *th,
                                bool judge, cairn_monitor_feature *f)
{
    const cairn_drift_ref *r = acc->ref;
    if (!(f->name = cairn_strdup(r->name)))
        return CAIRN_ENOMEM;
    f->kind = r->kind;
    cairn_drift_acc_stats(acc, &f->stats);
    cairn_drift_stats_noise(&f->stats, th->noise_p, &f->noise);
    f->severity = judge ? cairn_drift_stats_judge(&f->stats, &f->noise, th, NULL)
                        : (acc->rows ? CAIRN_DRIFT_OK : CAIRN_DRIFT_NODATA);
    f->n_bins = r->n_bins;
    uint64_t rsum = 0, wsum = 0;
    for (size_t b = 0; b < r->n_bins; b++) {
        rsum += r->counts[b];
        wsum += acc->bins[b];
    }
    if (!(f->bin_labels = cairn_calloc(r->n_bins ? r->n_bins : 1, sizeof *f->bin_labels)))
        return CAIRN_ENOMEM;
    for (size_t b = 0; b < r->n_bins; b++) {
        f->ref_share[b] = rsum ? (double)r->counts[b] / (double)rsum : NAN;
        f->cur_share[b] = wsum ? (double)acc->bins[b] / (double)wsum : NAN;
        if (r->kind == CAIRN_DRIFT_NUMBER)
            f->bin_labels[b] = bin_label_number(r, b);
        else
            f->bin_labels[b] =
                cairn_strdup(b < r->n_categories ? r->categories[b] : "(other)");
        if (!f->bin_labels[b])
            return CAIRN_ENOMEM;
    }
    return CAIRN_OK;
}

static void feature_reset(cairn_monitor_feature *f)
{
    if (f->bin_labels)
        for (size_t b = 0; b < f->n_bins; b++)
            cairn_free(f->bin_labels[b]);
    cairn_free(f->bin_labels);
    cairn_free(f->name);
    memset(f, 0, sizeof *f);
}

static cairn_drift_severity worse(cairn_drift_severity a, cairn_drift_severity b)
{
    return a > b ? a : b;
}

/* Closes a group: its drift statistics and serving figures are computed and the
 * accumulators freed. Metrics come later (entity labels join at the end). */
static cairn_status group_close(walk *w, group *g)
{
    const cairn_monitor_thresholds *th = &w->o->th;
    cairn_monitor_group *o = &g->out;
    g->open = false;
    o->start_us = g->start;
    o->end_us = g->end;
    o->version = g->version;
    o->shadow = g->shadow;
    o->rows = g->rows;
    o->rejected = g->rejected;
    o->fallback = g->fallback;
    uint64_t nlat = 0;
    for (int b = 0; b < CAIRN_MONITOR_LAT_BUCKETS; b++)
        nlat += g->lat[b];
    o->latency_p50_ms = lat_percentile(g->lat, nlat, 0.50);
    o->latency_p95_ms = lat_percentile(g->lat, nlat, 0.95);
    o->latency_p99_ms = lat_percentile(g->lat, nlat, 0.99);
    o->positive_rate = NAN;
    o->ref_positive_rate = NAN;
    o->severity = g->rows ? CAIRN_DRIFT_OK : CAIRN_DRIFT_NODATA;
    vinfo *v = g->v;
    bool judge = !g->shadow && g->rows >= th->min_rows;
    if (v && v->usable) {
        if (strcmp(v->task, "binary") == 0 && g->rows) {
            o->positive_rate = (double)g->positive / (double)g->rows;
            o->ref_positive_rate = v->ref_positive_rate;
        }
        o->features = cairn_calloc(v->refs.n_features ? v->refs.n_features : 1,
                                   sizeof *o->features);
        if (!o->features)
            return nomem(w);
        for (size_t k = 0; k < v->refs.n_features; k++) {
            o->n_features++;
            if (feature_out(&g->accs[k], &th->drift, judge, &o->features[k]) != CAIRN_OK)
                return nomem(w);
        }
        if (v->refs.prediction) {
            o->has_prediction = true;
            if (feature_out(&g->pred, &th->drift, judge, &o->prediction) != CAIRN_OK)
                return nomem(w);
        }
        if (!judge && g->rows && !g->shadow) {
            char buf[160];
            snprintf(buf, sizeof buf, "%" PRIu64 " rows, fewer than %" PRIu64
                     ": reported, not judged", g->rows, th->min_rows);
            if (!(o->note = cairn_strdup(buf)))
                return nomem(w);
        }
    } else if (v && v->note && !(o->note = cairn_strdup(v->note))) {
        return nomem(w);
    }
    if (g->shadow && !o->note && !(o->note = cairn_strdup("shadow: scored, never returned; "
                                                          "reported, never alerts")))
        return nomem(w);
    cairn_free(g->accs);
    g->accs = NULL;
    return CAIRN_OK;
}

/* Room for one more group (and its slot in the open list). */
static bool groups_reserve(walk *w)
{
    if (w->n_groups < w->cap_groups)
        return true;
    size_t cap = w->cap_groups ? 2 * w->cap_groups : 16;
    group **ng = cairn_reallocarray(w->groups, cap, sizeof *ng);
    if (ng)
        w->groups = ng;
    size_t *no = cairn_reallocarray(w->open, cap, sizeof *no);
    if (no)
        w->open = no;
    if (!ng || !no)
        return false;
    w->cap_groups = cap;
    return true;
}

static group *group_new(walk *w, int64_t start, int64_t end, vinfo *v, bool shadow)
{
    if (!groups_reserve(w))
        return NULL;
    group *g = cairn_calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->start = start;
    g->end = end;
    g->version = v->version;
    g->shadow = shadow;
    g->v = v;
    g->open = true;
    if (v->usable) {
        g->accs = cairn_calloc(v->refs.n_features ? v->refs.n_features : 1, sizeof *g->accs);
        if (!g->accs) {
            cairn_free(g);
            return NULL;
        }
        for (size_t k = 0; k < v->refs.n_features; k++)
            cairn_drift_acc_init(&g->accs[k], &v->refs.features[k]);
        if (v->refs.prediction)
            cairn_drift_acc_init(&g->pred, v->refs.prediction);
    }
    w->groups[w->n_groups] = g;
    w->open[w->n_open++] = w->n_groups;
    w->n_groups++;
    return g;
}

/* Closes open groups whose window ended well before the newest record, when many are
 * open: memory stays bounded by the open groups, whatever the log's length. */
static void close_old_groups(walk *w)
{
    if (w->n_open <= MAX_OPEN_GROUPS)
        return;
    int64_t slack = CAIRN_MONITOR_LATE_US;
    if (!w->o->calendar_months && w->o->window_us > slack)
        slack = w->o->window_us;
    size_t keep = 0;
    for (size_t i = 0; i < w->n_open; i++) {
        group *g = w->groups[w->open[i]];
        if (g->end != INT64_MAX && g->end <= w->max_time - slack) {
            if (group_close(w, g) != CAIRN_OK)
                return;
        } else {
            w->open[keep++] = w->open[i];
        }
    }
    w->n_open = keep;
    w->last_hit = SIZE_MAX;
}

static group *find_group(walk *w, int64_t t, vinfo *v, bool shadow, uint32_t *gi)
{
    int64_t start, end;
    window_of(w->o, t, &start, &end);
    if (w->last_hit < w->n_groups) {
        group *g = w->groups[w->last_hit];
        if (g->start == start && g->version == v->version && g->shadow == shadow) {
            *gi = (uint32_t)w->last_hit;
            return g;
        }
    }
    for (size_t i = w->n_groups; i-- > 0;) {
        group *g = w->groups[i];
        if (g->start == start && g->version == v->version && g->shadow == shadow) {
            w->last_hit = i;
            *gi = (uint32_t)i;
            return g;
        }
    }
    if (w->parallel && w->n_groups >= MAX_PARALLEL_GROUPS) {
        w->overflow = true;
        return NULL;
    }
    group *g = group_new(w, start, end, v, shadow);
    if (!g) {
        nomem(w);
        return NULL;
    }
    *gi = (uint32_t)(w->n_groups - 1);
    w->last_hit = w->n_groups - 1;
    if (!w->parallel)
        close_old_groups(w);
    return g;
}

static bool pairs_push(pairs *p, double score, double y, double correct)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 64;
        double *a = cairn_reallocarray(p->score, cap, sizeof *a);
        if (a)
            p->score = a;
        double *b = cairn_reallocarray(p->y, cap, sizeof *b);
        if (b)
            p->y = b;
        double *c = cairn_reallocarray(p->correct, cap, sizeof *c);
        if (c)
            p->correct = c;
        if (!a || !b || !c)
            return false;
        p->cap = cap;
    }
    p->score[p->n] = score;
    p->y[p->n] = y;
    p->correct[p->n] = correct;
    p->n++;
    return true;
}

/* The label's outcome for this version: binary 1/0, regression the number; NaN when it
 * cannot be read (a regression label that is not a number). */
static double outcome(const vinfo *v, const char *value)
{
    if (strcmp(v->task, "binary") == 0)
        return v->positive && strcmp(value, v->positive) == 0 ? 1.0 : 0.0;
    if (strcmp(v->task, "regression") == 0) {
        char *end;
        double y = strtod(value, &end);
        return end != value && *end == '\0' ? y : NAN;
    }
    return NAN;   /* multiclass: only correctness counts */
}

/* Whether the logged prediction matched the label (binary, multiclass); NaN otherwise. */
static double correctness(const vinfo *v, const cairn_plog_entry *e, const char *value)
{
    if (strcmp(v->task, "binary") == 0) {
        bool pred = v->positive && strcmp(e->label, v->positive) == 0;
        bool truth = v->positive && strcmp(value, v->positive) == 0;
        return pred == truth ? 1.0 : 0.0;
    }
    if (strcmp(v->task, "multiclass") == 0)
        return strcmp(e->label, value) == 0 ? 1.0 : 0.0;
    return NAN;
}

static void feed_field(cairn_drift_acc *acc, const cairn_field *f)
{
    const cairn_drift_ref *r = acc->ref;
    char buf[40];
    switch (f->kind) {
    case CAIRN_VALUE_NULL: cairn_drift_acc_add_missing(acc); return;
    case CAIRN_VALUE_BOOL:
        if (r->kind == CAIRN_DRIFT_CATEGORY)
            (void)cairn_drift_acc_add_bool(acc, f->b ? 1 : 0, NULL);
        else
            (void)cairn_drift_acc_add_number(acc, f->b ? 1.0 : 0.0, NULL);
        return;
    case CAIRN_VALUE_NUMBER:
        if (r->kind == CAIRN_DRIFT_NUMBER) {
            (void)cairn_drift_acc_add_number(acc, f->num, NULL);
        } else {
            cairn_fmt_double(buf, sizeof buf, f->num);
            (void)cairn_drift_acc_add_category(acc, buf, strlen(buf), NULL);
        }
        return;
    case CAIRN_VALUE_STRING:
        if (r->kind == CAIRN_DRIFT_CATEGORY) {
            (void)cairn_drift_acc_add_category(acc, f->str, f->str_len, NULL);
        } else {
            /* A number feature sent as text: a timestamp (ISO 8601) or a number. */
            int64_t us;
            double x;
            if (r->is_timestamp && cairn_parse_timestamp(f->str, f->str_len, &us))
                (void)cairn_drift_acc_add_number(acc, (double)us / 1e6, NULL);
            else if (cairn_parse_double(f->str, f->str_len, &x))
                (void)cairn_drift_acc_add_number(acc, x, NULL);
            else
                cairn_drift_acc_add_missing(acc);
        }
        return;
    }
}

/* The prediction of a record that group g counts (its version usable). */
static void feed_prediction(group *g, double score, const char *label)
{
    const cairn_drift_ref *r = g->v->refs.prediction;
    if (!r)
        return;
    if (r->kind == CAIRN_DRIFT_NUMBER)
        (void)cairn_drift_acc_add_number(&g->pred, score, NULL);
    else if (label[0])
        (void)cairn_drift_acc_add_category(&g->pred, label, strlen(label), NULL);
    else
        cairn_drift_acc_add_missing(&g->pred);
}

/*
 * What a record brings apart from its fields and prediction: counters, its group, the
 * latency and positive-label counts, and the label joins. Returns the group whose
 * accumulators the record's fields and prediction go to, or NULL when they go nowhere
 * (outside the window, another model, a drop marker, rejected, late, a version without
 * references); *stop on error.
 */
static group *record_head(walk *w, const cairn_plog_entry *e, bool *stop)
{
    cairn_monitor_result *res = w->res;
    const cairn_monitor_opts *o = w->o;
    *stop = false;
    res->records++;
    if (o->progress && w->report_progress && ++w->since_progress >= 250000) {
        w->since_progress = 0;
        o->progress(o->progress_ctx, res->records, res->segments);
    }
    if (e->time_us < o->since_us || e->time_us >= o->until_us)
        return NULL;
    if (e->flags & CAIRN_PLOG_DROPS) {
        if (isfinite(e->score) && e->score > 0)
            res->dropped_records += (uint64_t)e->score;
        return NULL;
    }
    if (strcmp(e->model, o->model) != 0)
        return NULL;
    res->model_records++;
    if (!res->first_us || e->time_us < res->first_us)
        res->first_us = e->time_us;
    if (e->time_us > res->last_us)
        res->last_us = e->time_us;
    vinfo *v = get_vinfo(w, e->version);
    if (!v) {
        *stop = true;
        return NULL;
    }
    if (!v->info.rows || e->time_us < v->info.first_us)
        v->info.first_us = e->time_us;
    if (e->time_us > v->info.last_us)
        v->info.last_us = e->time_us;
    v->info.rows++;
    bool shadow = (e->flags & CAIRN_PLOG_SHADOW) != 0;
    if (e->time_us > w->max_time)
        w->max_time = e->time_us;
    uint32_t gi;
    group *g = find_group(w, e->time_us, v, shadow, &gi);
    if (!g || w->st != CAIRN_OK) {
        *stop = true;
        return NULL;
    }
    if (!g->open) {
        res->late_records++;
        return NULL;
    }
    if (e->flags & CAIRN_PLOG_REJECTED) {
        g->rejected++;
        return NULL;
    }
    g->rows++;
    if (strcmp(e->alias, "fallback") == 0 || strcmp(e->alias, "baseline") == 0)
        g->fallback++;
    if (e->latency_us > 0)
        g->lat[lat_bucket(e->latency_us)]++;
    if (v->positive && strcmp(e->label, v->positive) == 0)
        g->positive++;
    /* Labels: request ids now; entities keep the latest record at or before each label. */
    if (w->labels && !shadow) {
        if (e->request_id[0]) {
            size_t j = cairn_labels_find_request(w->labels, e->request_id, strlen(e->request_id));
            if (j != SIZE_MAX) {
                const cairn_label *lb = cairn_labels_get(w->labels, j);
                if (!pairs_push(&g->pr, e->score, outcome(v, lb->value),
                                correctness(v, e, lb->value))) {
                    nomem(w);
                    *stop = true;
                    return NULL;
                }
                res->labels_joined++;
                if (e->time_us > res->last_label_us)
                    res->last_label_us = e->time_us;
            }
        }
        if (e->entity[0]) {
            size_t first, n = cairn_labels_find_entity(w->labels, e->entity, strlen(e->entity),
                                                       &first);
            for (size_t j = first; j < first + n; j++) {
                const cairn_label *lb = cairn_labels_get(w->labels, j);
                if (lb->time_us < e->time_us)
                    continue;
                match *m = &w->matches[j];
                if (m->tp == INT64_MIN || m->tp <= e->time_us) {
                    m->tp = e->time_us;
                    m->score = e->score;
                    m->correct = correctness(v, e, lb->value);
                    m->group = gi;
                }
            }
        }
    }
    return v->usable ? g : NULL;
}

static int visit(void *ctx, const cairn_plog_entry *e)
{
    walk *w = ctx;
    bool stop;
    group *g = record_head(w, e, &stop);
    if (stop)
        return 1;
    if (!g)
        return 0;
    vinfo *v = g->v;
    feed_prediction(g, e->score, e->label);
    uint32_t stamp = ++v->record_no;
    for (size_t i = 0; i < e->n_fields; i++) {
        long k = field_feature(v, i, e->fields[i].name);
        if (k < 0 || v->stamp[k] == stamp)
            continue;
        v->stamp[k] = stamp;
        feed_field(&g->accs[k], &e->fields[i]);
    }
    for (size_t k = 0; k < v->refs.n_features; k++)
        if (v->stamp[k] != stamp)
            cairn_drift_acc_add_missing(&g->accs[k]);
    return 0;
}

/* Feeds the fields of records [from, to) of b, which all went to group g, column by
 * column: the same counts as visit would make record by record. */
static void feed_run(group *g, const cairn_plog_block *b, size_t from, size_t to)
{
    vinfo *v = g->v;
    const cairn_drift_ref *pr = v->refs.prediction;
    if (pr && pr->kind == CAIRN_DRIFT_NUMBER) {
        (void)cairn_drift_acc_add_numbers(&g->pred, b->score + from, to - from, NULL);
    } else if (pr) {
        for (size_t i = from; i < to; i++) {
            cairn_plog_entry e;
            cairn_plog_block_entry(b, i, &e);
            feed_prediction(g, e.score, e.label);
        }
    }
    uint32_t stamp = ++v->record_no;
    for (size_t c = 0; c < b->n_fields; c++) {
        const cairn_plog_column *col = &b->fields[c];
        long k = field_feature(v, c, col->name);
        if (k < 0 || v->stamp[k] == stamp)
            continue;
        v->stamp[k] = stamp;
        cairn_drift_acc *acc = &g->accs[k];
        if (col->all_numbers && acc->ref->kind == CAIRN_DRIFT_NUMBER) {
            (void)cairn_drift_acc_add_numbers(acc, col->num + from, to - from, NULL);
            continue;
        }
        for (size_t i = from; i < to; i++) {
            cairn_field f;
            cairn_plog_block_field(b, c, i, &f);
            feed_field(acc, &f);
        }
    }
    for (size_t k = 0; k < v->refs.n_features; k++)
        if (v->stamp[k] != stamp)
            cairn_drift_acc_add_missing_n(&g->accs[k], to - from);
}

/* A block of a closed segment: each record's head in turn, the fields of each run of
 * consecutive records of one group fed together. A run is fed before the head of a
 * record outside its group's window, version or shadow flag runs, since that head may
 * close the run's group (streaming). */
static int visit_block(void *ctx, const cairn_plog_block *b)
{
    walk *w = ctx;
    group *run = NULL;
    size_t from = 0;
    for (size_t i = 0; i < b->n; i++) {
        cairn_plog_entry e;
        cairn_plog_block_entry(b, i, &e);
        if (run && !(e.time_us >= run->start && e.time_us < run->end &&
                     e.version == run->version &&
                     ((e.flags & CAIRN_PLOG_SHADOW) != 0) == run->shadow)) {
            feed_run(run, b, from, i);
            run = NULL;
        }
        bool stop;
        group *g = record_head(w, &e, &stop);
        if (stop)
            return 1;
        if (g != run) {
            if (run)
                feed_run(run, b, from, i);
            run = g;
            from = i;
        }
    }
    if (run)
        feed_run(run, b, from, b->n);
    return 0;
}

/* ---- the pass: sequential, or one shard of the segments per thread ------------------------ */

static void group_free(group *g)
{
    if (!g)
        return;
    cairn_free(g->accs);
    cairn_free(g->pr.score);
    cairn_free(g->pr.y);
    cairn_free(g->pr.correct);
    /* g->out is only filled when a group is closed, after the merge */
    cairn_free(g);
}

/* Frees what a walk owns (groups, versions, matches); not the shared labels. */
static void walk_release(walk *w)
{
    for (size_t i = 0; i < w->n_groups; i++)
        group_free(w->groups[i]);
    cairn_free(w->groups);
    cairn_free(w->open);
    for (size_t i = 0; i < w->n_versions; i++) {
        vinfo_free(w->versions[i]);
        cairn_free(w->versions[i]);
    }
    cairn_free(w->versions);
    cairn_free(w->matches);
    w->groups = NULL;
    w->open = NULL;
    w->versions = NULL;
    w->matches = NULL;
    w->n_groups = w->cap_groups = w->n_open = w->n_versions = 0;
}

typedef struct pass {
    walk w;
    cairn_monitor_result res;     /* this thread's counters */
    const char *dir;
    size_t shard, n_shards;
    cairn_plog_read_stats stats;
    cairn_error err;
    cairn_status st;
} pass;

/* Damage in the log counts when it may have cost records of the range: it came about
 * (at the earliest) before the range's end and not before its start; damage of unknown
 * time counts when the range has no start. */
static void visit_damaged(void *ctx, const char *segment, int64_t after_us)
{
    (void)segment;
    walk *w = ctx;
    const cairn_monitor_opts *o = w->o;
    bool in = after_us == INT64_MIN ? o->since_us == INT64_MIN
                                    : after_us >= o->since_us && after_us < o->until_us;
    if (in)
        w->res->bad_records++;
}

static void *pass_main(void *arg)
{
    pass *p = arg;
    cairn_plog_visitor vis = {.record = visit, .block = visit_block, .damaged = visit_damaged,
                              .ctx = &p->w};
    p->st = cairn_plog_read_visit(p->dir, p->shard, p->n_shards, &vis, &p->stats, &p->err);
    if (p->st == CAIRN_ENOTFOUND)
        p->st = CAIRN_OK;   /* no log yet: nothing was scored */
    if (p->st == CAIRN_OK)
        p->st = p->w.st;
    return NULL;
}

static void add_counters(cairn_monitor_result *to, const cairn_monitor_result *from)
{
    to->records += from->records;
    to->model_records += from->model_records;
    to->dropped_records += from->dropped_records;
    to->late_records += from->late_records;
    to->labels_joined += from->labels_joined;
    to->bad_records += from->bad_records;
    if (from->first_us && (!to->first_us || from->first_us < to->first_us))
        to->first_us = from->first_us;
    if (from->last_us > to->last_us)
        to->last_us = from->last_us;
    if (from->last_label_us > to->last_label_us)
        to->last_label_us = from->last_label_us;
}

static bool pairs_append(pairs *to, const pairs *from)
{
    for (size_t i = 0; i < from->n; i++)
        if (!pairs_push(to, from->score[i], from->y[i], from->correct[i]))
            return false;
    return true;
}

/* Moves everything of walk b into walk a: versions, groups (merged where a has the same
 * window, version and shadow flag), entity-label matches. b keeps the vinfos a already
 * had (their references are what b's moved accumulators point to), so b is released
 * only at the very end. */
static cairn_status walk_merge(walk *a, walk *b)
{
    cairn_status st = CAIRN_OK;
    uint32_t *remap = cairn_calloc(b->n_groups ? b->n_groups : 1, sizeof *remap);
    if (!remap)
        return nomem(a);
    for (size_t i = 0; i < b->n_versions; i++) {
        vinfo *vb = b->versions[i], *va = NULL;
        for (size_t k = 0; k < a->n_versions; k++)
            if (a->versions[k]->version == vb->version)
                va = a->versions[k];
        if (!va) {
            vinfo **nv = cairn_reallocarray(a->versions, a->n_versions + 1, sizeof *nv);
            if (!nv) {
                st = nomem(a);
                goto done;
            }
            a->versions = nv;
            a->versions[a->n_versions++] = vb;
            b->versions[i] = NULL;   /* now a's */
            continue;
        }
        if (vb->info.rows) {
            if (!va->info.rows || vb->info.first_us < va->info.first_us)
                va->info.first_us = vb->info.first_us;
            if (vb->info.last_us > va->info.last_us)
                va->info.last_us = vb->info.last_us;
            va->info.rows += vb->info.rows;
        }
    }
    /* Compact b's version list (moved entries are NULL). */
    size_t kept = 0;
    for (size_t i = 0; i < b->n_versions; i++)
        if (b->versions[i])
            b->versions[kept++] = b->versions[i];
    b->n_versions = kept;
    for (size_t i = 0; i < b->n_groups; i++) {
        group *gb = b->groups[i], *ga = NULL;
        size_t at = 0;
        for (size_t k = 0; k < a->n_groups && !ga; k++) {
            group *g = a->groups[k];
            if (g->start == gb->start && g->version == gb->version && g->shadow == gb->shadow) {
                ga = g;
                at = k;
            }
        }
        if (!ga) {
            if (!groups_reserve(a)) {
                st = nomem(a);
                goto done;
            }
            /* The group's vinfo: a's entry for its version (same artifact, same task). */
            for (size_t k = 0; k < a->n_versions; k++)
                if (a->versions[k]->version == gb->version)
                    gb->v = a->versions[k];
            a->open[a->n_open++] = a->n_groups;
            remap[i] = (uint32_t)a->n_groups;
            a->groups[a->n_groups++] = gb;
            b->groups[i] = NULL;
            continue;
        }
        remap[i] = (uint32_t)at;
        ga->rows += gb->rows;
        ga->rejected += gb->rejected;
        ga->fallback += gb->fallback;
        ga->positive += gb->positive;
        for (int k = 0; k < CAIRN_MONITOR_LAT_BUCKETS; k++)
            ga->lat[k] += gb->lat[k];
        if (ga->accs && gb->accs) {
            for (size_t k = 0; k < ga->v->refs.n_features && st == CAIRN_OK; k++)
                st = cairn_drift_acc_merge(&ga->accs[k], &gb->accs[k], a->err);
            if (st == CAIRN_OK && ga->v->refs.prediction)
                st = cairn_drift_acc_merge(&ga->pred, &gb->pred, a->err);
            if (st != CAIRN_OK)
                goto done;
        }
        if (!pairs_append(&ga->pr, &gb->pr)) {
            st = nomem(a);
            goto done;
        }
    }
    /* Entity labels: the latest record at or before each label, over both walks. */
    for (size_t j = 0; j < a->n_labels && a->matches && b->matches; j++) {
        const match *mb = &b->matches[j];
        match *ma = &a->matches[j];
        if (mb->tp != INT64_MIN && (ma->tp == INT64_MIN || mb->tp > ma->tp)) {
            *ma = *mb;
            ma->group = remap[mb->group];
        }
    }
done:
    cairn_free(remap);
    return st;
}

static int thread_count(const cairn_monitor_opts *o)
{
    long n = o->threads > 0 ? o->threads : cairn_cpu_count();
    if (n < 1)
        n = 1;
    return (int)(n > MAX_THREADS ? MAX_THREADS : n);
}

static cairn_status walk_prepare(walk *w)
{
    if (w->n_labels) {
        if (!(w->matches = cairn_calloc(w->n_labels, sizeof *w->matches)))
            return nomem(w);
        for (size_t j = 0; j < w->n_labels; j++)
            w->matches[j].tp = INT64_MIN;
    }
    return CAIRN_OK;
}

/*
 * Reads the log into *w (prepared: labels loaded). With several threads each reads
 * its share of the segments into a walk of its own, and the walks are merged into *w;
 * when a share holds too many groups for all to stay open, the parallel result is
 * dropped and the log is read again on one thread, closing old groups as it goes.
 * *extra receives the thread walks that must outlive the merge (freed by the caller).
 */
static cairn_status read_log(walk *w, const char *dir, cairn_monitor_result *out, pass **extra,
                             int *n_extra)
{
    int n = thread_count(w->o);
    cairn_status st = CAIRN_OK;
    *extra = NULL;
    *n_extra = 0;
    if (n > 1) {
        pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
        pass *ps = cairn_calloc((size_t)n, sizeof *ps);
        pthread_t th[MAX_THREADS];
        bool started[MAX_THREADS] = {false};
        if (!ps)
            return nomem(w);
        for (int t = 0; t < n; t++) {
            ps[t].w = *w;
            ps[t].w.res = &ps[t].res;
            ps[t].w.err = &ps[t].err;
            ps[t].w.parallel = true;
            ps[t].w.report_progress = t == 0;
            ps[t].w.load_mu = &mu;
            ps[t].w.matches = NULL;
            ps[t].dir = dir;
            ps[t].shard = (size_t)t;
            ps[t].n_shards = (size_t)n;
            if ((st = walk_prepare(&ps[t].w)) != CAIRN_OK)
                break;
        }
        for (int t = 0; t < n && st == CAIRN_OK; t++)
            started[t] = pthread_create(&th[t], NULL, pass_main, &ps[t]) == 0;
        for (int t = 0; t < n; t++) {
            if (started[t])
                pthread_join(th[t], NULL);
            else if (st == CAIRN_OK)
                pass_main(&ps[t]);   /* no thread: read that share here */
        }
        bool overflow = false;
        for (int t = 0; t < n && st == CAIRN_OK; t++) {
            overflow = overflow || ps[t].w.overflow;
            if (ps[t].st != CAIRN_OK && !ps[t].w.overflow) {
                *w->err = ps[t].err;
                st = ps[t].st;
            }
        }
        if (st == CAIRN_OK && !overflow) {
            /* Merge into thread 0's walk, then hand it over to *w. */
            for (int t = 1; t < n && st == CAIRN_OK; t++)
                st = walk_merge(&ps[0].w, &ps[t].w);
            if (st == CAIRN_OK) {
                for (int t = 0; t < n; t++) {
                    add_counters(out, &ps[t].res);
                    out->segments += ps[t].stats.segments;
                }
                walk base = *w;
                *w = ps[0].w;
                w->res = base.res;
                w->err = base.err;
                w->parallel = false;
                w->load_mu = NULL;
                memset(&ps[0].w, 0, sizeof ps[0].w);
                *extra = ps;
                *n_extra = n;
                pthread_mutex_destroy(&mu);
                return CAIRN_OK;
            }
        }
        for (int t = 0; t < n; t++)
            walk_release(&ps[t].w);
        cairn_free(ps);
        pthread_mutex_destroy(&mu);
        if (st != CAIRN_OK)
            return st;
        /* overflow: read again, streaming */
    }
    if ((st = walk_prepare(w)) != CAIRN_OK)
        return st;
    w->report_progress = true;
    cairn_plog_read_stats rs = {0};
    cairn_plog_visitor vis = {.record = visit, .block = visit_block, .damaged = visit_damaged,
                              .ctx = w};
    st = cairn_plog_read_visit(dir, 0, 1, &vis, &rs, w->err);
    out->segments = rs.segments;
    if (st == CAIRN_ENOTFOUND)
        st = CAIRN_OK;
    if (st == CAIRN_OK)
        st = w->st;
    return st;
}

/* ---- metrics ----------------------------------------------------------------------------- */

static double resample_mean(const void *ctx, const size_t *idx, size_t n)
{
    const double *x = ctx;
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += x[idx[i]];
    return n ? s / (double)n : NAN;
}

typedef struct metric_def {
    const char *name;
    cairn_resample_metric fn;
    int ctx;                      /* 0 binary sample, 1 regression sample, 2 correct[] */
} metric_def;

typedef struct triple {
    double score, y, correct;
} triple;

static int triple_cmp(const void *a, const void *b)
{
    const triple *x = a, *y = b;
#define CMP_FIELD(f)                                                                           \
    if (x->f != y->f) {                                                                        \
        if (isnan(x->f) || isnan(y->f))                                                        \
            return isnan(x->f) ? (isnan(y->f) ? 0 : 1) : -1;                                   \
        return x->f < y->f ? -1 : 1;                                                           \
    }
    CMP_FIELD(score)
    CMP_FIELD(y)
    CMP_FIELD(correct)
#undef CMP_FIELD
    return 0;
}

/* Puts the labelled rows in a canonical order, so the bootstrap's resamples (and so the
 * intervals) do not depend on the order the log was read in, or by how many threads. */
static bool pairs_canonical(pairs *p)
{
    triple *t = cairn_malloc((p->n ? p->n : 1) * sizeof *t);
    if (!t)
        return false;
    for (size_t i = 0; i < p->n; i++)
        t[i] = (triple){p->score[i], p->y[i], p->correct[i]};
    qsort(t, p->n, sizeof *t, triple_cmp);
    for (size_t i = 0; i < p->n; i++) {
        p->score[i] = t[i].score;
        p->y[i] = t[i].y;
        p->correct[i] = t[i].correct;
    }
    cairn_free(t);
    return true;
}

static cairn_status group_metrics(walk *w, group *g)
{
    cairn_monitor_group *o = &g->out;
    vinfo *v = g->v;
    pairs *p = &g->pr;
    o->labelled = p->n;
    if (!v || p->n == 0)
        return CAIRN_OK;
    if (!pairs_canonical(p))
        return nomem(w);
    static const metric_def binary[] = {{"auc", cairn_resample_auc, 0},
                                        {"logloss", cairn_resample_logloss, 0},
                                        {"brier", cairn_resample_brier, 0},
                                        {"accuracy", resample_mean, 2}};
    static const metric_def regression[] = {{"rmse", cairn_resample_rmse, 1},
                                            {"mae", cairn_resample_mae, 1},
                                            {"r2", cairn_resample_r2, 1}};
    static const metric_def multiclass[] = {{"accuracy", resample_mean, 2}};
    const metric_def *defs;
    size_t nd;
    const char *headline;
    if (strcmp(v->task, "binary") == 0) {
        defs = binary, nd = CAIRN_ARRAY_LEN(binary), headline = "auc";
    } else if (strcmp(v->task, "regression") == 0) {
        defs = regression, nd = CAIRN_ARRAY_LEN(regression), headline = "rmse";
    } else {
        defs = multiclass, nd = CAIRN_ARRAY_LEN(multiclass), headline = "accuracy";
    }
    uint8_t *yb = NULL;
    if (defs == binary) {
        if (!(yb = cairn_malloc(p->n)))
            return nomem(w);
        for (size_t i = 0; i < p->n; i++)
            yb[i] = p->y[i] > 0.5;
    }
    /* Regression rows whose label is not a number are left out of its metrics. */
    size_t n = p->n;
    if (defs == regression) {
        size_t k = 0;
        for (size_t i = 0; i < p->n; i++)
            if (isfinite(p->y[i])) {
                p->score[k] = p->score[i];
                p->y[k++] = p->y[i];
            }
        n = k;
    }
    cairn_binary_sample bs = {p->score, yb};
    cairn_regression_sample rs = {p->score, p->y};
    const void *ctxs[3] = {&bs, &rs, p->correct};
    bool judge = !g->shadow && n >= w->o->th.min_rows;
    for (size_t d = 0; d < nd && n > 0; d++) {
        cairn_monitor_metric *m = &o->metrics[o->n_metrics++];
        cairn_interval iv;
        snprintf(m->name, sizeof m->name, "%s", defs[d].name);
        if (cairn_bootstrap(defs[d].fn, ctxs[defs[d].ctx], n, (size_t)w->o->n_boot,
                            w->o->seed + d, &iv, w->err) != CAIRN_OK) {
            cairn_free(yb);
            return w->st = CAIRN_ENOMEM;
        }
        m->value = iv.estimate;
        m->lo = w->o->n_boot > 0 ? iv.lo : NAN;
        m->hi = w->o->n_boot > 0 ? iv.hi : NAN;
        m->higher_is_better = cairn_metric_higher_is_better(m->name);
        m->train = NAN;
        for (size_t t = 0; t < v->n_train; t++)
            if (strcmp(v->train_name[t], m->name) == 0)
                m->train = v->train_value[t];
        m->drop = NAN;
        if (isfinite(m->train) && isfinite(m->value)) {
            if (m->higher_is_better)
                m->drop = m->train - m->value;
            else if (defs == regression)
                m->drop = m->train > 0 ? m->value / m->train - 1.0 : NAN;   /* relative */
            else
                m->drop = m->value - m->train;
        }
        m->severity = CAIRN_DRIFT_OK;
        m->headline = strcmp(m->name, headline) == 0;
        if (judge && m->headline && isfinite(m->drop)) {
            if (m->drop >= w->o->th.perf_alert)
                m->severity = CAIRN_DRIFT_ALERT;
            else if (m->drop >= w->o->th.perf_warn)
                m->severity = CAIRN_DRIFT_WARN;
        }
    }
    cairn_free(yb);
    return CAIRN_OK;
}

/* ---- alerts ------------------------------------------------------------------------------- */

static cairn_status add_alert(walk *w, cairn_monitor_alert_kind kind, cairn_drift_severity sev,
                              long group_i, const char *subject, const char *statistic,
                              double value, double threshold, const char *fmt, ...)
    __attribute__((format(printf, 9, 10)));

static cairn_status add_alert(walk *w, cairn_monitor_alert_kind kind, cairn_drift_severity sev,
                              long group_i, const char *subject, const char *statistic,
                              double value, double threshold, const char *fmt, ...)
{
    cairn_monitor_result *r = w->res;
    cairn_monitor_alert *na = cairn_reallocarray(r->alerts, r->n_alerts + 1, sizeof *na);
    if (!na)
        return nomem(w);
    r->alerts = na;
    cairn_monitor_alert *a = &na[r->n_alerts];
    memset(a, 0, sizeof *a);
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    a->kind = kind;
    a->severity = sev;
    a->group = group_i;
    a->value = value;
    a->threshold = threshold;
    a->subject = cairn_strdup(subject);
    a->statistic = cairn_strdup(statistic);
    a->message = cairn_strdup(msg);
    r->n_alerts++;
    if (!a->subject || !a->statistic || !a->message)
        return nomem(w);
    if (sev > r->severity)
        r->severity = sev;
    return CAIRN_OK;
}

/* "2024-03" for a month window, "2024-03-01" for days, else the full start time. */
static void window_name(const cairn_monitor_opts *o, const cairn_monitor_group *g, char *out,
                        size_t cap)
{
    char t[40];
    if (g->start_us == INT64_MIN || g->start_us == g->end_us) {
        snprintf(out, cap, "the whole range");
        return;
    }
    cairn_fmt_timestamp(t, sizeof t, g->start_us);
    if (o->calendar_months)
        snprintf(out, cap, "%.7s", t);
    else if (o->window_us > 0 && o->window_us % 86400000000LL == 0)
        snprintf(out, cap, "%.10s", t);
    else
        snprintf(out, cap, "%s", t);
}

static cairn_status share_alert(walk *w, long gi, const char *wname, int version,
                                cairn_monitor_alert_kind kind, const char *what, double share,
                                double warn, double alert)
{
    if (!isfinite(share) || share < warn)
        return CAIRN_OK;
    cairn_drift_severity sev = share >= alert ? CAIRN_DRIFT_ALERT : CAIRN_DRIFT_WARN;
    return add_alert(w, kind, sev, gi, what, "share", share, sev == CAIRN_DRIFT_ALERT ? alert : warn,
                     "%.2f%% of rows %s in %s (v%d), at or above %.2f%%", 100 * share,
                     kind == CAIRN_ALERT_REJECTED_ROWS ? "refused by the contract"
                                                       : "answered by the fallback or baseline",
                     wname, version, 100 * (sev == CAIRN_DRIFT_ALERT ? alert : warn));
}

static cairn_status raise_alerts(walk *w)
{
    cairn_monitor_result *r = w->res;
    const cairn_monitor_thresholds *th = &w->o->th;
    cairn_status st = CAIRN_OK;
    bool any_labels = r->labels_joined > 0;
    for (size_t i = 0; i < r->n_groups && st == CAIRN_OK; i++) {
        cairn_monitor_group *g = &r->groups[i];
        char wname[48];
        window_name(w->o, g, wname, sizeof wname);
        long gi = (long)i;
        if (g->shadow)
            continue;
        for (size_t k = 0; k < g->n_features && st == CAIRN_OK; k++) {
            cairn_monitor_feature *f = &g->features[k];
            if (f->severity < CAIRN_DRIFT_WARN)
                continue;
            cairn_drift_reason y;
            cairn_drift_stats_judge(&f->stats, &f->noise, &th->drift, &y);
            if (f->kind == CAIRN_DRIFT_NUMBER)
                st = add_alert(w, CAIRN_ALERT_FEATURE_DRIFT, f->severity, gi, f->name, y.name,
                               y.value, y.level,
                               "feature '%s' drifted in %s (v%d): %s %.3g >= %.3g (PSI %.3g, KS "
                               "%.3g)",
                               f->name, wname, g->version, y.name, y.value, y.level, f->stats.psi,
                               f->stats.ks);
            else
                st = add_alert(w, CAIRN_ALERT_FEATURE_DRIFT, f->severity, gi, f->name, y.name,
                               y.value, y.level,
                               "feature '%s' drifted in %s (v%d): %s %.3g >= %.3g (PSI %.3g, "
                               "unseen categories %.1f%%)",
                               f->name, wname, g->version, y.name, y.value, y.level, f->stats.psi,
                               100 * f->stats.unseen_share);
            g->severity = worse(g->severity, f->severity);
        }
        if (g->has_prediction && g->prediction.severity >= CAIRN_DRIFT_WARN && st == CAIRN_OK) {
            cairn_monitor_feature *f = &g->prediction;
            cairn_drift_reason y;
            cairn_drift_stats_judge(&f->stats, &f->noise, &th->drift, &y);
            st = add_alert(w, CAIRN_ALERT_PREDICTION_DRIFT, f->severity, gi, f->name, y.name,
                           y.value, y.level, "the predictions drifted in %s (v%d): %s %.3g >= %.3g",
                           wname, g->version, y.name, y.value, y.level);
            g->severity = worse(g->severity, f->severity);
        }
        for (size_t k = 0; k < g->n_metrics && st == CAIRN_OK; k++) {
            cairn_monitor_metric *m = &g->metrics[k];
            if (m->severity < CAIRN_DRIFT_WARN)
                continue;
            double lvl = m->severity == CAIRN_DRIFT_ALERT ? th->perf_alert : th->perf_warn;
            st = add_alert(w, CAIRN_ALERT_PERFORMANCE, m->severity, gi, m->name, "drop", m->drop,
                           lvl,
                           "%s fell to %.4f [%.4f, %.4f] in %s (v%d), %.4f at training: a drop "
                           "of %.4f >= %.4f",
                           m->name, m->value, m->lo, m->hi, wname, g->version, m->train, m->drop,
                           lvl);
            g->severity = worse(g->severity, m->severity);
        }
        if (any_labels && g->rows >= th->min_rows && st == CAIRN_OK) {
            double share = (double)g->labelled / (double)g->rows;
            if (share < th->labelled_warn) {
                st = add_alert(w, CAIRN_ALERT_LABELS, CAIRN_DRIFT_WARN, gi, "labelled", "share",
                               share, th->labelled_warn,
                               "only %.1f%% of the rows of %s (v%d) have a label: performance "
                               "there is unknown (labels late or missing)",
                               100 * share, wname, g->version);
                g->severity = worse(g->severity, CAIRN_DRIFT_WARN);
            }
        }
        uint64_t seen = g->rows + g->rejected;
        if (seen >= th->min_rows && st == CAIRN_OK)
            st = share_alert(w, gi, wname, g->version, CAIRN_ALERT_REJECTED_ROWS, "rejected",
                             (double)g->rejected / (double)seen, th->rejected_warn,
                             th->rejected_alert);
        if (g->rows >= th->min_rows && st == CAIRN_OK)
            st = share_alert(w, gi, wname, g->version, CAIRN_ALERT_FALLBACK_RATE, "fallback",
                             (double)g->fallback / (double)g->rows, th->fallback_warn,
                             th->fallback_alert);
        if (g->rows >= th->min_rows && isfinite(g->latency_p99_ms) && st == CAIRN_OK &&
            g->latency_p99_ms >= th->latency_p99_warn_ms) {
            cairn_drift_severity sev = g->latency_p99_ms >= th->latency_p99_alert_ms
                                           ? CAIRN_DRIFT_ALERT
                                           : CAIRN_DRIFT_WARN;
            double lvl = sev == CAIRN_DRIFT_ALERT ? th->latency_p99_alert_ms
                                                  : th->latency_p99_warn_ms;
            st = add_alert(w, CAIRN_ALERT_LATENCY, sev, gi, "latency", "p99_ms",
                           g->latency_p99_ms, lvl,
                           "p99 scoring latency %.2f ms in %s (v%d), at or above %.2f ms",
                           g->latency_p99_ms, wname, g->version, lvl);
        }
        for (size_t a = 0; a < r->n_alerts; a++)
            if (r->alerts[a].group == gi)
                g->severity = worse(g->severity, r->alerts[a].severity);
    }
    if (st == CAIRN_OK && r->dropped_records > 0)
        st = add_alert(w, CAIRN_ALERT_DROPPED_RECORDS, CAIRN_DRIFT_ALERT, -1, "log", "count",
                       (double)r->dropped_records, 0,
                       "%" PRIu64 " prediction-log records were dropped (the log's buffer was "
                       "full): the figures above miss them",
                       r->dropped_records);
    if (st == CAIRN_OK && r->bad_records > 0)
        st = add_alert(w, CAIRN_ALERT_DAMAGED_LOG, CAIRN_DRIFT_WARN, -1, "log", "count",
                       (double)r->bad_records, 0,
                       "%" PRIu64 " damaged record(s) or torn segment tail(s) in the log were "
                       "skipped (a crash mid-write, or damage on disk)",
                       r->bad_records);
    if (st == CAIRN_OK && r->labels_total > 0 && r->labels_joined == 0 && r->model_records > 0)
        st = add_alert(w, CAIRN_ALERT_LABELS, CAIRN_DRIFT_WARN, -1, "labels", "count", 0, 0,
                       "%" PRIu64 " labels are stored but none joins a prediction of this model "
                       "in the range (keys or times do not match, or labels are late)",
                       r->labels_total);
    return st;
}

static int alert_cmp(const void *a, const void *b)
{
    const cairn_monitor_alert *x = a, *y = b;
    if (x->severity != y->severity)
        return x->severity > y->severity ? -1 : 1;
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    if (x->group != y->group)
        return x->group < y->group ? -1 : 1;
    return x->value > y->value ? -1 : x->value < y->value ? 1 : 0;
}

static int group_cmp(const void *a, const void *b)
{
    const cairn_monitor_group *x = a, *y = b;
    if (x->start_us != y->start_us)
        return x->start_us < y->start_us ? -1 : 1;
    if (x->shadow != y->shadow)
        return x->shadow ? 1 : -1;
    return x->version < y->version ? -1 : x->version > y->version;
}

/* ---- the run -------------------------------------------------------------------------- */

void cairn_monitor_result_init(cairn_monitor_result *r)
{
    memset(r, 0, sizeof *r);
    r->since_us = INT64_MIN;
    r->until_us = INT64_MAX;
}

static void group_out_reset(cairn_monitor_group *g)
{
    for (size_t k = 0; k < g->n_features; k++)
        feature_reset(&g->features[k]);
    cairn_free(g->features);
    if (g->has_prediction)
        feature_reset(&g->prediction);
    cairn_free(g->note);
    memset(g, 0, sizeof *g);
}

void cairn_monitor_result_reset(cairn_monitor_result *r)
{
    if (!r)
        return;
    cairn_free(r->model);
    cairn_free(r->task);
    cairn_free(r->versions);
    for (size_t i = 0; i < r->n_groups; i++)
        group_out_reset(&r->groups[i]);
    cairn_free(r->groups);
    for (size_t i = 0; i < r->n_alerts; i++) {
        cairn_free(r->alerts[i].subject);
        cairn_free(r->alerts[i].statistic);
        cairn_free(r->alerts[i].message);
    }
    cairn_free(r->alerts);
    cairn_monitor_result_init(r);
}

cairn_status cairn_monitor_run(cairn_home *h, const cairn_monitor_opts *o,
                               cairn_monitor_result *out, cairn_error *err)
{
    cairn_monitor_result_init(out);
    if (!h || !o || !o->model)
        return cairn_error_set(err, CAIRN_EINVAL, "monitor", "no home or model");
    if (o->since_us >= o->until_us)
        return cairn_error_set(err, CAIRN_EINVAL, "--since", "the range is empty (since >= until)");
    double t0 = cairn_mono_s();
    walk w = {.h = h, .o = o, .res = out, .err = err, .last_hit = SIZE_MAX,
              .max_time = INT64_MIN};
    pass *extra = NULL;
    int n_extra = 0;
    cairn_status st;
    {
        cairn_model_version *vs = NULL;
        size_t n = 0;
        st = cairn_model_versions(h, o->model, &vs, &n, err);
        for (size_t i = 0; i < n; i++)
            cairn_model_version_reset(&vs[i]);
        cairn_free(vs);
        if (st != CAIRN_OK)
            return st;
        if (n == 0)
            return cairn_error_set(err, CAIRN_ENOTFOUND, o->model,
                                   "no model of that name in the registry (cairn models ls)");
    }
    out->since_us = o->since_us;
    out->until_us = o->until_us;
    if (!(out->model = cairn_strdup(o->model)))
        return cairn_error_set(err, CAIRN_ENOMEM, "monitor", "out of memory");
    if (!o->no_labels) {
        if ((st = cairn_labels_load(h, &w.labels, err)) != CAIRN_OK)
            goto done;
        w.n_labels = cairn_labels_count(w.labels);
        out->labels_total = w.n_labels;
        if (w.n_labels == 0) {
            cairn_labels_free(w.labels);
            w.labels = NULL;
        }
    }
    char dir[4200];
    snprintf(dir, sizeof dir, "%s", o->log_dir ? o->log_dir : h->logs_dir);
    if ((st = read_log(&w, dir, out, &extra, &n_extra)) != CAIRN_OK)
        goto done;
    /* Close what is still open. */
    for (size_t i = 0; i < w.n_groups && st == CAIRN_OK; i++)
        if (w.groups[i]->open)
            st = group_close(&w, w.groups[i]);
    if (st != CAIRN_OK)
        goto done;
    /* Entity labels join their latest record at or before them. */
    for (size_t j = 0; j < w.n_labels; j++) {
        const match *m = &w.matches[j];
        const cairn_label *lb = cairn_labels_get(w.labels, j);
        if (!lb->by_entity || m->tp == INT64_MIN)
            continue;
        group *g = w.groups[m->group];
        if (!pairs_push(&g->pr, m->score, outcome(g->v, lb->value), m->correct)) {
            st = nomem(&w);
            goto done;
        }
        out->labels_joined++;
        if (m->tp > out->last_label_us)
            out->last_label_us = m->tp;
    }
    for (size_t i = 0; i < w.n_groups && st == CAIRN_OK; i++)
        st = group_metrics(&w, w.groups[i]);
    if (st != CAIRN_OK)
        goto done;
    /* Move the groups out, in order; a single window takes the records' bounds. */
    if (w.n_groups) {
        if (!(out->groups = cairn_calloc(w.n_groups, sizeof *out->groups))) {
            st = nomem(&w);
            goto done;
        }
        for (size_t i = 0; i < w.n_groups; i++) {
            cairn_monitor_group *g = &w.groups[i]->out;
            if (g->start_us == INT64_MIN) {
                g->start_us = o->since_us != INT64_MIN ? o->since_us : out->first_us;
                g->end_us = o->until_us != INT64_MAX ? o->until_us : out->last_us + 1;
            }
            out->groups[i] = *g;
            memset(g, 0, sizeof *g);
        }
        out->n_groups = w.n_groups;
        qsort(out->groups, out->n_groups, sizeof *out->groups, group_cmp);
    }
    /* Versions in order of their first record. */
    if (w.n_versions) {
        if (!(out->versions = cairn_calloc(w.n_versions, sizeof *out->versions))) {
            st = nomem(&w);
            goto done;
        }
        for (size_t i = 0; i < w.n_versions; i++)
            out->versions[i] = w.versions[i]->info;
        out->n_versions = w.n_versions;
        for (size_t i = 1; i < out->n_versions; i++)
            for (size_t k = i; k > 0 && out->versions[k].first_us < out->versions[k - 1].first_us;
                 k--) {
                cairn_monitor_version t = out->versions[k];
                out->versions[k] = out->versions[k - 1];
                out->versions[k - 1] = t;
            }
        const char *task = w.versions[0]->task;
        for (size_t i = 0; i < w.n_versions; i++)
            if (w.versions[i]->task[0])
                task = w.versions[i]->task;
        if (task[0] && !(out->task = cairn_strdup(task))) {
            st = nomem(&w);
            goto done;
        }
    }
    out->severity = out->model_records ? CAIRN_DRIFT_OK : CAIRN_DRIFT_NODATA;
    if ((st = raise_alerts(&w)) != CAIRN_OK)
        goto done;
    if (out->n_alerts > 1)
        qsort(out->alerts, out->n_alerts, sizeof *out->alerts, alert_cmp);
    out->seconds = cairn_mono_s() - t0;
done:
    for (size_t i = 0; i < w.n_groups; i++)
        if (w.groups[i])
            group_out_reset(&w.groups[i]->out);
    walk_release(&w);
    for (int t = 0; t < n_extra; t++)
        walk_release(&extra[t].w);
    cairn_free(extra);
    cairn_labels_free(w.labels);
    if (st != CAIRN_OK)
        cairn_monitor_result_reset(out);
    return st;
}

/* ---- JSON ------------------------------------------------------------------------------- */

static void put_str(cairn_buf *b, const char *s)
{
    if (s)
        cairn_buf_put_json_string(b, s, strlen(s));
    else
        cairn_buf_puts(b, "null");
}

static void put_time(cairn_buf *b, int64_t us)
{
    if (us == INT64_MIN || us == INT64_MAX || us == 0) {
        cairn_buf_puts(b, "null");
        return;
    }
    char t[40];
    cairn_fmt_timestamp(t, sizeof t, us);
    put_str(b, t);
}

static const char *sev_name(cairn_drift_severity s)
{
    switch (s) {
    case CAIRN_DRIFT_OK: return "ok";
    case CAIRN_DRIFT_WARN: return "warn";
    case CAIRN_DRIFT_ALERT: return "alert";
    default: return "nodata";
    }
}

static void put_feature(cairn_buf *b, const cairn_monitor_feature *f)
{
    const cairn_drift_stats *s = &f->stats;
    cairn_buf_puts(b, "{\"name\":");
    put_str(b, f->name);
    cairn_buf_printf(b, ",\"kind\":\"%s\",\"severity\":\"%s\",\"rows\":%" PRIu64
                        ",\"missing\":%" PRIu64,
                     f->kind == CAIRN_DRIFT_NUMBER ? "number" : "category", sev_name(f->severity),
                     s->rows, s->missing);
    struct {
        const char *k;
        double v;
    } xs[] = {{"psi", s->psi},
              {"ks", s->ks},
              {"ks_bound", s->ks_bound},
              {"js", s->js},
              {"chi2", s->chi2},
              {"chi2_p", s->chi2_p},
              {"missing_change", s->missing_change},
              {"unseen_share", s->unseen_share},
              {"mean", s->mean},
              {"std", s->std}};
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(xs); i++) {
        cairn_buf_printf(b, ",\"%s\":", xs[i].k);
        cairn_buf_put_json_number(b, xs[i].v);
    }
    const cairn_drift_noise *nz = &f->noise;
    cairn_buf_puts(b, ",\"noise\":{\"psi\":");
    cairn_buf_put_json_number(b, nz->psi);
    cairn_buf_puts(b, ",\"ks\":");
    cairn_buf_put_json_number(b, nz->ks);
    cairn_buf_puts(b, ",\"js\":");
    cairn_buf_put_json_number(b, nz->js);
    cairn_buf_puts(b, ",\"missing_change\":");
    cairn_buf_put_json_number(b, nz->missing);
    cairn_buf_puts(b, "},\"bins\":[");
    for (size_t i = 0; i < f->n_bins; i++) {
        cairn_buf_puts(b, i ? ",{\"bin\":" : "{\"bin\":");
        put_str(b, f->bin_labels ? f->bin_labels[i] : NULL);
        cairn_buf_puts(b, ",\"reference\":");
        cairn_buf_put_json_number(b, f->ref_share[i]);
        cairn_buf_puts(b, ",\"current\":");
        cairn_buf_put_json_number(b, f->cur_share[i]);
        cairn_buf_putc(b, '}');
    }
    cairn_buf_puts(b, "]}");
}

cairn_status cairn_monitor_to_json(const cairn_monitor_result *r, cairn_buf *b)
{
    cairn_buf_puts(b, "{\"model\":");
    put_str(b, r->model);
    cairn_buf_puts(b, ",\"task\":");
    put_str(b, r->task);
    cairn_buf_printf(b, ",\"severity\":\"%s\",\"since\":", sev_name(r->severity));
    put_time(b, r->since_us);
    cairn_buf_puts(b, ",\"until\":");
    put_time(b, r->until_us);
    cairn_buf_puts(b, ",\"first_record\":");
    put_time(b, r->first_us);
    cairn_buf_puts(b, ",\"last_record\":");
    put_time(b, r->last_us);
    cairn_buf_printf(b,
                     ",\"log\":{\"segments\":%" PRIu64 ",\"records\":%" PRIu64
                     ",\"model_records\":%" PRIu64 ",\"damaged_records\":%" PRIu64
                     ",\"dropped_records\":%" PRIu64 ",\"late_records\":%" PRIu64 "}",
                     r->segments, r->records, r->model_records, r->bad_records,
                     r->dropped_records, r->late_records);
    cairn_buf_printf(b, ",\"labels\":{\"stored\":%" PRIu64 ",\"joined\":%" PRIu64 ",\"newest\":",
                     r->labels_total, r->labels_joined);
    put_time(b, r->last_label_us);
    cairn_buf_puts(b, "},\"versions\":[");
    for (size_t i = 0; i < r->n_versions; i++) {
        const cairn_monitor_version *v = &r->versions[i];
        cairn_buf_printf(b, "%s{\"version\":%d,\"artifact\":", i ? "," : "", v->version);
        put_str(b, v->artifact_hash[0] ? v->artifact_hash : NULL);
        cairn_buf_puts(b, ",\"run\":");
        put_str(b, v->run_id[0] ? v->run_id : NULL);
        cairn_buf_printf(b, ",\"records\":%" PRIu64 ",\"first\":", v->rows);
        put_time(b, v->first_us);
        cairn_buf_puts(b, ",\"last\":");
        put_time(b, v->last_us);
        cairn_buf_putc(b, '}');
    }
    cairn_buf_puts(b, "],\"alerts\":[");
    for (size_t i = 0; i < r->n_alerts; i++) {
        const cairn_monitor_alert *a = &r->alerts[i];
        cairn_buf_printf(b, "%s{\"kind\":\"%s\",\"severity\":\"%s\",\"window\":", i ? "," : "",
                         cairn_monitor_alert_kind_name(a->kind), sev_name(a->severity));
        if (a->group >= 0)
            put_time(b, r->groups[a->group].start_us);
        else
            cairn_buf_puts(b, "null");
        cairn_buf_puts(b, ",\"version\":");
        if (a->group >= 0)
            cairn_buf_printf(b, "%d", r->groups[a->group].version);
        else
            cairn_buf_puts(b, "null");
        cairn_buf_puts(b, ",\"subject\":");
        put_str(b, a->subject);
        cairn_buf_puts(b, ",\"statistic\":");
        put_str(b, a->statistic);
        cairn_buf_puts(b, ",\"value\":");
        cairn_buf_put_json_number(b, a->value);
        cairn_buf_puts(b, ",\"threshold\":");
        cairn_buf_put_json_number(b, a->threshold);
        cairn_buf_puts(b, ",\"message\":");
        put_str(b, a->message);
        cairn_buf_putc(b, '}');
    }
    cairn_buf_puts(b, "],\"windows\":[");
    for (size_t i = 0; i < r->n_groups; i++) {
        const cairn_monitor_group *g = &r->groups[i];
        cairn_buf_puts(b, i ? ",{\"start\":" : "{\"start\":");
        put_time(b, g->start_us);
        cairn_buf_puts(b, ",\"end\":");
        put_time(b, g->end_us);
        cairn_buf_printf(b,
                         ",\"version\":%d,\"shadow\":%s,\"severity\":\"%s\",\"rows\":%" PRIu64
                         ",\"rejected\":%" PRIu64 ",\"fallback\":%" PRIu64
                         ",\"labelled\":%" PRIu64,
                         g->version, g->shadow ? "true" : "false", sev_name(g->severity), g->rows,
                         g->rejected, g->fallback, g->labelled);
        cairn_buf_puts(b, ",\"latency_ms\":{\"p50\":");
        cairn_buf_put_json_number(b, g->latency_p50_ms);
        cairn_buf_puts(b, ",\"p95\":");
        cairn_buf_put_json_number(b, g->latency_p95_ms);
        cairn_buf_puts(b, ",\"p99\":");
        cairn_buf_put_json_number(b, g->latency_p99_ms);
        cairn_buf_puts(b, "},\"positive_rate\":");
        cairn_buf_put_json_number(b, g->positive_rate);
        cairn_buf_puts(b, ",\"reference_positive_rate\":");
        cairn_buf_put_json_number(b, g->ref_positive_rate);
        cairn_buf_puts(b, ",\"note\":");
        put_str(b, g->note);
        cairn_buf_puts(b, ",\"metrics\":[");
        for (size_t k = 0; k < g->n_metrics; k++) {
            const cairn_monitor_metric *m = &g->metrics[k];
            cairn_buf_printf(b, "%s{\"name\":\"%s\",\"value\":", k ? "," : "", m->name);
            cairn_buf_put_json_number(b, m->value);
            cairn_buf_puts(b, ",\"lo\":");
            cairn_buf_put_json_number(b, m->lo);
            cairn_buf_puts(b, ",\"hi\":");
            cairn_buf_put_json_number(b, m->hi);
            cairn_buf_puts(b, ",\"train\":");
            cairn_buf_put_json_number(b, m->train);
            cairn_buf_puts(b, ",\"drop\":");
            cairn_buf_put_json_number(b, m->drop);
            cairn_buf_printf(b, ",\"severity\":\"%s\"}", sev_name(m->severity));
        }
        cairn_buf_puts(b, "],\"prediction\":");
        if (g->has_prediction)
            put_feature(b, &g->prediction);
        else
            cairn_buf_puts(b, "null");
        cairn_buf_puts(b, ",\"features\":[");
        for (size_t k = 0; k < g->n_features; k++) {
            if (k)
                cairn_buf_putc(b, ',');
            put_feature(b, &g->features[k]);
        }
        cairn_buf_puts(b, "]}");
    }
    cairn_buf_printf(b, "],\"seconds\":");
    cairn_buf_put_json_number(b, r->seconds);
    cairn_buf_putc(b, '}');
    return b->failed ? CAIRN_ENOMEM : CAIRN_OK;
}
