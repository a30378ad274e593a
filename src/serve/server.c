/*
 * server.c -- `cairn serve` (server.h): libmicrohttpd with epoll and a thread
 * pool, the endpoints of DESIGN.md, models that follow the registry, the
 * shadow / canary / fallback behaviours, limits, metrics and the prediction
 * log. docs/serve.md is the user's description.
 *
 * Concurrency:
 *  - A served model is a slot; each alias in it (production, shadow, canary,
 *    fallback) points at a `loaded` version with an atomic reference count.
 *    Requests take references under the slot's mutex (a pointer copy and an
 *    increment), score without any lock, and drop them at the end; the
 *    watcher swaps pointers under the same mutex. The last reference frees.
 *  - Counters are C11 atomics; the per-reply ones (status codes, latency) are striped
 *    by request thread and summed by /metrics. The shadow queue has its own mutex and a
 *    worker thread, so a shadow never delays the reply.
 *  - The registry (SQLite) is read by the watcher thread through its own
 *    handle, and by request threads (explicit NAME@N references) through a
 *    second handle behind a mutex.
 */
#include "serve/server.h"
#include "serve/listen.h"

#include <arpa/inet.h>
#include <math.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <pthread.h>
#include <limits.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#define N_WATCHED 4
static const char *const WATCHED[N_WATCHED] = {"production", "shadow", "canary", "fallback"};
enum { A_PRODUCTION = 0, A_SHADOW, A_CANARY, A_FALLBACK };
#define MAX_EXPLICIT 8          /* NAME@N versions kept loaded per model */
#define MAX_RETIRED 64          /* prediction counters of swapped-out versions kept for /metrics */
#define SHADOW_QUEUE 1024

/* Latency histogram bounds in seconds (Prometheus le). */
static const double LAT_BOUNDS[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                    0.01,   0.025,   0.05,   0.1,   0.25,   1.0};
#define N_LAT (sizeof LAT_BOUNDS / sizeof *LAT_BOUNDS)

static const int CODES[] = {200, 400, 403, 404, 405, 413, 422, 500, 503};
#define N_CODES (sizeof CODES / sizeof *CODES)

typedef enum reject_reason {
    R_BODY_TOO_LARGE = 0,
    R_TOO_MANY_ROWS,
    R_BAD_REQUEST,
    R_CONTRACT,
    R_UNKNOWN_MODEL,
    R_OVERLOADED,
    R_DEADLINE,
    R_BAD_METHOD,
    R_FORBIDDEN,
    R_N
} reject_reason;
static const char *const REJECT_NAMES[R_N] = {"body_too_large", "too_many_rows", "bad_request",
                                              "contract",       "unknown_model", "overloaded",
                                              "deadline",       "bad_method",    "forbidden"};

/* The per-reply counters, striped: each request thread adds to its own stripe (its own
 * cache lines), /metrics adds the stripes up, so replies on different cores do not
 * contend on one counter. */
#define N_STRIPES 8
typedef struct stripe {
    _Alignas(64) atomic_uint_fast64_t requests[N_CODES];
    atomic_uint_fast64_t lat_buckets[N_LAT + 1];
    atomic_uint_fast64_t lat_count;
    atomic_uint_fast64_t lat_sum_us;
} stripe;

static stripe *my_stripe(stripe *stripes)
{
    static atomic_uint next;
    static _Thread_local unsigned mine = UINT_MAX;
    if (mine == UINT_MAX)
        mine = atomic_fetch_add(&next, 1) % N_STRIPES;
    return &stripes[mine];
}

/* ---- loaded versions and slots -------------------------------------------------------- */

typedef struct loaded {
    cairn_model *model;
    cairn_model_meta meta;
    int version;
    atomic_int refs;
    atomic_uint_fast64_t predictions;
    char alias[CAIRN_ALIAS_MAX + 1];   /* the alias (or "" for an explicit version) */
} loaded;

static loaded *loaded_ref(loaded *l)
{
    if (l)
        atomic_fetch_add(&l->refs, 1);
    return l;
}

static void loaded_unref(loaded *l)
{
    if (l && atomic_fetch_sub(&l->refs, 1) == 1) {
        cairn_model_close(l->model);
        free(l);
    }
}

typedef struct retired {
    int version;
    char alias[CAIRN_ALIAS_MAX + 1];
    uint64_t predictions;
} retired;

typedef struct slot {
    char name[CAIRN_NAME_MAX + 1];
    pthread_mutex_t mu;
    loaded *alias[N_WATCHED];
    double canary_percent;
    loaded *explicit_v[MAX_EXPLICIT];
    size_t n_explicit;
    retired retired[MAX_RETIRED];
    size_t n_retired;
    atomic_uint_fast64_t load_failures;
    atomic_uint_fast64_t swaps;
} slot;

struct cairn_server {
    cairn_server_opts o;
    char *home_dir;
    cairn_http_pool *http;            /* the listening socket and request threads */
    int port;
    slot *slots;
    size_t n_slots;
    cairn_plog *plog;
    cairn_home *req_home;             /* for explicit versions, behind req_home_mu */
    pthread_mutex_t req_home_mu;
    /* watcher */
    pthread_t watcher;
    pthread_mutex_t watch_mu;
    pthread_cond_t watch_cv;
    atomic_bool stopping;
    bool watcher_started;
    /* shadow */
    pthread_t shadow_thread;
    pthread_mutex_t shadow_mu;
    pthread_cond_t shadow_cv;
    struct shadow_job *shadow_q[SHADOW_QUEUE];
    size_t shadow_head, shadow_n;
    bool shadow_started;
    /* metrics */
    stripe stripes[N_STRIPES];
    atomic_uint_fast64_t rejects[R_N];
    atomic_uint_fast64_t shadow_dropped;
    atomic_uint_fast64_t shadow_scored;
    atomic_uint_fast64_t fallback_rows;
    atomic_uint_fast64_t baseline_rows;
    atomic_int inflight;
    int fail_version;                 /* test hook CAIRN_TEST_FAIL_VERSION: that version's
                                         scoring fails, to exercise the fallback chain */
};

void cairn_server_opts_init(cairn_server_opts *o)
{
    memset(o, 0, sizeof *o);
    cairn_plog_opts_init(&o->log);
}

static void say(const cairn_server *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const cairn_server *s, const char *fmt, ...)
{
    if (s->o.quiet)
        return;
    char line[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "cairn serve: %s\n", line);
}

/* ---- loading ---------------------------------------------------------------------------- */

static cairn_status load_version(cairn_home *h, const char *name, int version, const char *alias,
                                 loaded **out, cairn_error *err)
{
    char ref[CAIRN_NAME_MAX + 24];
    snprintf(ref, sizeof ref, "%s@%d", name, version);
    cairn_model *m = NULL;
    cairn_status st = cairn_model_open(h, ref, &m, err);
    if (st != CAIRN_OK)
        return st;
    loaded *l = calloc(1, sizeof *l);
    if (!l) {
        cairn_model_close(m);
        return cairn_error_set(err, CAIRN_ENOMEM, ref, "out of memory");
    }
    l->model = m;
    cairn_model_get_meta(m, &l->meta);
    l->version = version;
    atomic_init(&l->refs, 1);
    atomic_init(&l->predictions, 0);
    snprintf(l->alias, sizeof l->alias, "%s", alias ? alias : "");
    /* Warm: one scoring pass through the transform and the model, so the first real
     * request does not pay for page faults. An empty row may fail validation; that is
     * fine, the transform and trees are touched through the baseline path too. */
    cairn_prediction p;
    (void)cairn_model_predict_baseline(m, NULL, 0, 0, &p, NULL, NULL);
    (void)cairn_model_predict(m, NULL, 0, 0, &p, NULL, NULL);
    *out = l;
    return CAIRN_OK;
}

static void retire(slot *sl, loaded *l)
{
    if (!l)
        return;
    retired *r = NULL;
    for (size_t i = 0; i < sl->n_retired; i++)
        if (sl->retired[i].version == l->version && strcmp(sl->retired[i].alias, l->alias) == 0)
            r = &sl->retired[i];
    if (!r && sl->n_retired < MAX_RETIRED) {
        r = &sl->retired[sl->n_retired++];
        r->version = l->version;
        snprintf(r->alias, sizeof r->alias, "%s", l->alias);
        r->predictions = 0;
    }
    if (r)
        r->predictions += atomic_load(&l->predictions);
}

/* Brings one slot in line with the registry's aliases. Returns the number of changes. */
static int sync_slot(cairn_server *s, cairn_home *h, slot *sl)
{
    cairn_model_alias *al = NULL;
    size_t n = 0;
    cairn_error err = {0};
    int changes = 0;
    if (cairn_model_aliases(h, sl->name, &al, &n, &err) != CAIRN_OK) {
        atomic_fetch_add(&sl->load_failures, 1);
        say(s, "%s: cannot read aliases: %s", sl->name, err.msg);
        return 0;
    }
    for (int a = 0; a < N_WATCHED; a++) {
        int want = 0;
        double pct = NAN;
        for (size_t i = 0; i < n; i++)
            if (strcmp(al[i].alias, WATCHED[a]) == 0) {
                want = al[i].version;
                pct = al[i].percent;
            }
        pthread_mutex_lock(&sl->mu);
        int have = sl->alias[a] ? sl->alias[a]->version : 0;
        if (a == A_CANARY && want)
            sl->canary_percent = isnan(pct) ? 0 : pct;
        pthread_mutex_unlock(&sl->mu);
        if (want == have)
            continue;
        loaded *nl = NULL;
        if (want) {
            double t0 = cairn_mono_s();
            if (load_version(h, sl->name, want, WATCHED[a], &nl, &err) != CAIRN_OK) {
                atomic_fetch_add(&sl->load_failures, 1);
                say(s, "%s@%s: loading version %d failed, keeping version %d: %s (%s)", sl->name,
                    WATCHED[a], want, have, err.msg, err.where);
                continue;
            }
            say(s, "%s@%s: version %d loaded in %.1f ms", sl->name, WATCHED[a], want,
                (cairn_mono_s() - t0) * 1e3);
        }
        pthread_mutex_lock(&sl->mu);
        loaded *old = sl->alias[a];
        sl->alias[a] = nl;
        retire(sl, old);
        pthread_mutex_unlock(&sl->mu);
        loaded_unref(old);   /* freed when the last in-flight request lets go */
        atomic_fetch_add(&sl->swaps, 1);
        changes++;
        say(s, "%s@%s: %d -> %d", sl->name, WATCHED[a], have, want);
    }
    cairn_free(al);
    return changes;
}

/* What the watcher last said about the prediction log. */
typedef struct log_watch {
    uint64_t errors, written;
    bool failing;
} log_watch;

/* Says on stderr, once per poll at most, when the log's writes start failing (a full
 * disk: the records are dropped, requests are answered as ever) and when they work
 * again, so an operator need not wait for /metrics or the exit to hear of it. */
static void note_log_trouble(cairn_server *s, log_watch *w)
{
    if (!s->plog)
        return;
    cairn_plog_counters c;
    cairn_plog_get_counters(s->plog, &c);
    if (c.write_errors > w->errors) {
        cairn_error e = {0};
        if (cairn_plog_last_error(s->plog, &e))
            say(s, "prediction log: %llu write error(s), %llu record(s) dropped so far; latest: "
                   "%s (%s)",
                (unsigned long long)c.write_errors, (unsigned long long)c.dropped, e.msg,
                e.where);
        w->failing = true;
    } else if (w->failing && c.written > w->written) {
        say(s, "prediction log: writing again (%llu record(s) dropped in all)",
            (unsigned long long)c.dropped);
        w->failing = false;
    }
    w->errors = c.write_errors;
    w->written = c.written;
}

static void *watcher_main(void *arg)
{
    pthread_setname_np(pthread_self(), "cairn-watch");   /* shown by top -H, ps -L, perf */
    cairn_server *s = arg;
    cairn_home *h = NULL;
    cairn_error err = {0};
    log_watch log_seen = {0};
    pthread_mutex_lock(&s->watch_mu);
    while (!s->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        double wait = s->o.poll_seconds > 0 ? s->o.poll_seconds : 1.0;
        ts.tv_sec += (time_t)wait;
        ts.tv_nsec += (long)((wait - (double)(time_t)wait) * 1e9);
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->watch_cv, &s->watch_mu, &ts);
        if (s->stopping)
            break;
        pthread_mutex_unlock(&s->watch_mu);
        if (!h && cairn_home_open(s->home_dir, &h, &err) != CAIRN_OK) {
            say(s, "cannot open the home to watch it: %s", err.msg);
            h = NULL;
        }
        for (size_t i = 0; h && i < s->n_slots; i++)
            sync_slot(s, h, &s->slots[i]);
        note_log_trouble(s, &log_seen);
        pthread_mutex_lock(&s->watch_mu);
    }
    pthread_mutex_unlock(&s->watch_mu);
    cairn_home_close(h);
    return NULL;
}

/* ---- per-request state ------------------------------------------------------------------- */

/* Bodies up to this size (a few rows) need no allocation of their own; the whole context
 * stays within 1 KiB, the blocks glibc serves from its per-thread cache. */
#define REQ_INLINE_BODY 976

typedef struct req_ctx {
    char *body;          /* inline_body, or the heap once a body outgrows it */
    size_t len, cap;
    bool too_large;
    bool counted;        /* counted in inflight */
    double t0;
    char inline_body[REQ_INLINE_BODY];
} req_ctx;
_Static_assert(sizeof(req_ctx) <= 1024, "req_ctx grew past 1 KiB");

static void req_ctx_free_body(req_ctx *rc)
{
    if (rc->body != rc->inline_body)
        free(rc->body);
    rc->body = NULL;
    rc->len = rc->cap = 0;
}

static slot *find_slot(cairn_server *s, const char *name)
{
    for (size_t i = 0; i < s->n_slots; i++)
        if (strcmp(s->slots[i].name, name) == 0)
            return &s->slots[i];
    return NULL;
}

static void new_request_id(char out[40])
{
    static _Thread_local uint64_t state;
    if (!state) {
        if (getrandom(&state, sizeof state, 0) != sizeof state)
            state = (uint64_t)cairn_now_us() ^ (uint64_t)pthread_self();
        state |= 1;
    }
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    /* "req-" and 16 lower-case hex digits, written by hand: snprintf was a visible
     * share of a one-row request's CPU. */
    static const char hex[] = "0123456789abcdef";
    memcpy(out, "req-", 4);
    for (int i = 0; i < 16; i++)
        out[4 + i] = hex[(state >> (60 - 4 * i)) & 0xF];
    out[20] = '\0';
}

/* ---- replies -------------------------------------------------------------------------------- */

static int code_index(int code)
{
    for (size_t i = 0; i < N_CODES; i++)
        if (CODES[i] == code)
            return (int)i;
    return -1;
}

static enum MHD_Result send_response(cairn_server *s, struct MHD_Connection *c, req_ctx *rc,
                                     int code, struct MHD_Response *r, const char *type,
                                     int retry_after, const char *allow)
{
    MHD_add_response_header(r, "Content-Type", type);
    if (retry_after > 0) {
        char v[16];
        snprintf(v, sizeof v, "%d", retry_after);
        MHD_add_response_header(r, "Retry-After", v);
    }
    if (allow)
        MHD_add_response_header(r, "Allow", allow);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)code, r);
    MHD_destroy_response(r);
    int ci = code_index(code);
    stripe *st = my_stripe(s->stripes);
    if (ci >= 0)
        atomic_fetch_add_explicit(&st->requests[ci], 1, memory_order_relaxed);
    if (rc) {
        double dt = cairn_mono_s() - rc->t0;
        size_t b = 0;
        while (b < N_LAT && dt > LAT_BOUNDS[b])
            b++;
        atomic_fetch_add_explicit(&st->lat_buckets[b], 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&st->lat_count, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&st->lat_sum_us, (uint64_t)(dt * 1e6), memory_order_relaxed);
    }
    return ret;
}

static enum MHD_Result reply(cairn_server *s, struct MHD_Connection *c, req_ctx *rc, int code,
                             const char *type, const char *body, size_t len, int retry_after,
                             const char *allow)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    return send_response(s, c, rc, code, r, type, retry_after, allow);
}

static enum MHD_Result reply_json(cairn_server *s, struct MHD_Connection *c, req_ctx *rc,
                                  int code, cairn_buf *b)
{
    if (b->failed || !b->data)
        return reply(s, c, rc, 503, "application/json",
                     "{\"error\":\"out of memory\"}", 25, 1, NULL);
    /* The buffer is handed to libmicrohttpd, which frees it (cairn's allocator is
     * malloc underneath), saving a copy per reply. */
    size_t len = b->len;
    char *data = cairn_buf_take(b);
    struct MHD_Response *r = data ? MHD_create_response_from_buffer(len, data,
                                                                     MHD_RESPMEM_MUST_FREE)
                                  : NULL;
    if (!r) {
        cairn_free(data);
        return reply(s, c, rc, 503, "application/json",
                     "{\"error\":\"out of memory\"}", 25, 1, NULL);
    }
    return send_response(s, c, rc, code, r, "application/json", code == 503 ? 1 : 0, NULL);
}

static enum MHD_Result reply_error(cairn_server *s, struct MHD_Connection *c, req_ctx *rc,
                                   int code, reject_reason why, const char *msg,
                                   const char *where)
{
    cairn_buf b;
    cairn_buf_init(&b);
    cairn_buf_puts(&b, "{\"error\":");
    cairn_buf_put_json_string(&b, msg, strlen(msg));
    if (where && *where) {
        cairn_buf_puts(&b, ",\"where\":");
        cairn_buf_put_json_string(&b, where, strlen(where));
    }
    cairn_buf_putc(&b, '}');
    if ((int)why >= 0 && why < R_N)
        atomic_fetch_add(&s->rejects[why], 1);
    enum MHD_Result r = reply_json(s, c, rc, code, &b);
    cairn_buf_reset(&b);
    return r;
}

/* A violation's value: a number when it reads as one, else a string. */
static void put_violation_value(cairn_buf *b, const char *v)
{
    char *end = NULL;
    double d = v && *v ? strtod(v, &end) : NAN;
    if (v && *v && end && *end == '\0' && isfinite(d))
        cairn_buf_puts(b, v);
    else if (v && *v)
        cairn_buf_put_json_string(b, v, strlen(v));
    else
        cairn_buf_puts(b, "null");
}

/* ---- predict ------------------------------------------------------------------------------ */

/* The first allocation of an empty buffer, cap bytes at once (on failure the buffer is
 * left empty and its next append fails as usual). */
static void buf_presize(cairn_buf *b, size_t cap)
{
    if (b->data || b->failed)
        return;
    b->data = cairn_malloc(cap);
    if (b->data) {
        b->cap = cap;
        b->data[0] = '\0';
    }
}

static void put_int(cairn_buf *b, long v)
{
    char t[24], *e = t + sizeof t, *d = e;
    unsigned long u = v < 0 ? 0ul - (unsigned long)v : (unsigned long)v;
    do {
        *--d = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--d = '-';
    cairn_buf_append(b, d, (size_t)(e - d));
}

/* A score that reads back exactly, in 16 digits when they suffice, else 17: scores are
 * rarely short decimals, so this skips cairn_fmt_double's 15-digit attempt. */
static void put_score(cairn_buf *b, double v)
{
    char t[40];
    cairn_buf_append(b, t, cairn_fmt_score(t, v));
}



typedef struct shadow_job {
    loaded *model;
    char *body;
    size_t len;
    char request_id[40];
    char entity[CAIRN_REQUEST_ID_MAX + 1];
} shadow_job;

static void log_row(cairn_server *s, const loaded *l, const char *alias, const char *request_id,
                    const char *entity, const cairn_field *f, size_t n, const cairn_prediction *p,
                    double latency_us, uint32_t flags)
{
    if (!s->plog)
        return;
    cairn_plog_record r = {
        .time_us = cairn_now_us(),
        .request_id = request_id,
        .entity = entity,
        .model = l->meta.name,
        .version = l->version,
        .alias = alias,
        .fields = f,
        .n_fields = n,
        .score = p->score,
        .label = p->label,
        .latency_us = latency_us,
        .flags = flags,
    };
    (void)cairn_plog_append(s->plog, &r);
}

static void shadow_submit(cairn_server *s, loaded *l, const char *body, size_t len,
                          const char *request_id, const char *entity)
{
    shadow_job *j = calloc(1, sizeof *j);
    char *copy = j ? malloc(len ? len : 1) : NULL;
    if (!j || !copy) {
        free(j);
        free(copy);
        atomic_fetch_add(&s->shadow_dropped, 1);
        loaded_unref(l);
        return;
    }
    memcpy(copy, body, len);
    j->model = l;
    j->body = copy;
    j->len = len;
    snprintf(j->request_id, sizeof j->request_id, "%s", request_id);
    snprintf(j->entity, sizeof j->entity, "%s", entity ? entity : "");
    pthread_mutex_lock(&s->shadow_mu);
    if (s->shadow_n == SHADOW_QUEUE || s->stopping) {
        pthread_mutex_unlock(&s->shadow_mu);
        atomic_fetch_add(&s->shadow_dropped, 1);
        loaded_unref(l);
        free(copy);
        free(j);
        return;
    }
    s->shadow_q[(s->shadow_head + s->shadow_n) % SHADOW_QUEUE] = j;
    s->shadow_n++;
    pthread_cond_signal(&s->shadow_cv);
    pthread_mutex_unlock(&s->shadow_mu);
}

static void *shadow_main(void *arg)
{
    pthread_setname_np(pthread_self(), "cairn-shadow");   /* shown by top -H, ps -L, perf */
    cairn_server *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->shadow_mu);
        while (s->shadow_n == 0 && !s->stopping)
            pthread_cond_wait(&s->shadow_cv, &s->shadow_mu);
        if (s->shadow_n == 0 && s->stopping) {
            pthread_mutex_unlock(&s->shadow_mu);
            return NULL;
        }
        shadow_job *j = s->shadow_q[s->shadow_head];
        s->shadow_head = (s->shadow_head + 1) % SHADOW_QUEUE;
        s->shadow_n--;
        pthread_mutex_unlock(&s->shadow_mu);
        cairn_request rq;
        memset(&rq, 0, sizeof rq);
        cairn_request_limits lim = {.max_rows = s->o.max_rows};
        if (cairn_request_parse(j->body, j->len, &lim, &rq, NULL) == CAIRN_OK) {
            for (size_t r = 0; r < rq.n_rows; r++) {
                const cairn_field *f = rq.fields + rq.row_start[r];
                size_t nf = rq.row_start[r + 1] - rq.row_start[r];
                cairn_prediction p;
                double t0 = cairn_mono_s();
                if (cairn_model_predict(j->model->model, f, nf, (long)r, &p, NULL, NULL) ==
                    CAIRN_OK) {
                    atomic_fetch_add(&j->model->predictions, 1);
                    atomic_fetch_add(&s->shadow_scored, 1);
                    log_row(s, j->model, "shadow", j->request_id, j->entity[0] ? j->entity : NULL,
                            f, nf, &p, (cairn_mono_s() - t0) * 1e6, CAIRN_PLOG_SHADOW);
                }
            }
        }
        cairn_request_reset(&rq);
        loaded_unref(j->model);
        free(j->body);
        free(j);
    }
}

/* The version that answers: an explicit NAME@N / NAME@ALIAS, or production with the
 * canary taking its share of buckets. Returns a reference, or NULL. A plain NAME request
 * also gets a reference to the shadow version in *shadow (NULL when there is none or the
 * answer is NULL), taken under the same lock. */
static loaded *choose(cairn_server *s, slot *sl, const cairn_route *rt, const char *bucket_key,
                      const char **alias_out, loaded **shadow, cairn_error *err)
{
    *shadow = NULL;
    loaded *l = NULL;
    if (rt->version) {
        pthread_mutex_lock(&sl->mu);
        for (size_t i = 0; i < sl->n_explicit; i++)
            if (sl->explicit_v[i]->version == rt->version)
                l = loaded_ref(sl->explicit_v[i]);
        pthread_mutex_unlock(&sl->mu);
        if (!l) {
            pthread_mutex_lock(&s->req_home_mu);
            loaded *nl = NULL;
            cairn_status st = CAIRN_OK;
            if (!s->req_home)
                st = cairn_home_open(s->home_dir, &s->req_home, err);
            if (st == CAIRN_OK)
                st = load_version(s->req_home, sl->name, rt->version, "", &nl, err);
            pthread_mutex_unlock(&s->req_home_mu);
            if (st != CAIRN_OK)
                return NULL;
            loaded *spare = NULL;
            pthread_mutex_lock(&sl->mu);
            /* Another request may have loaded the same version meanwhile: use that one. */
            for (size_t i = 0; i < sl->n_explicit && !l; i++)
                if (sl->explicit_v[i]->version == rt->version)
                    l = loaded_ref(sl->explicit_v[i]);
            if (l) {
                spare = nl;
            } else if (sl->n_explicit < MAX_EXPLICIT) {
                sl->explicit_v[sl->n_explicit++] = nl;
                l = loaded_ref(nl);
            } else {
                l = nl;   /* not cached: this request's reference is the only one */
            }
            pthread_mutex_unlock(&sl->mu);
            loaded_unref(spare);
        }
        *alias_out = "";
        return l;
    }
    int a = A_PRODUCTION;
    if (rt->alias[0]) {
        a = -1;
        for (int i = 0; i < N_WATCHED; i++)
            if (strcmp(rt->alias, WATCHED[i]) == 0)
                a = i;
        if (a < 0) {
            cairn_error_set(err, CAIRN_ENOTFOUND, rt->alias,
                            "alias '%s' is not served (production, shadow, canary, fallback)",
                            rt->alias);
            return NULL;
        }
    }
    pthread_mutex_lock(&sl->mu);
    if (!rt->alias[0] && sl->alias[A_CANARY] && sl->canary_percent > 0) {
        uint64_t h = XXH3_64bits(bucket_key, strlen(bucket_key));
        if ((double)(h % 10000) < sl->canary_percent * 100.0)
            a = A_CANARY;
    }
    l = loaded_ref(sl->alias[a]);
    if (l && !rt->alias[0])
        *shadow = loaded_ref(sl->alias[A_SHADOW]);
    pthread_mutex_unlock(&sl->mu);
    *alias_out = WATCHED[a];
    if (!l)
        cairn_error_set(err, CAIRN_ENOTFOUND, sl->name, "%s@%s has no version loaded", sl->name,
                        WATCHED[a]);
    return l;
}

static enum MHD_Result handle_predict(cairn_server *s, struct MHD_Connection *c, req_ctx *rc,
                                      const cairn_route *rt)
{
    slot *sl = find_slot(s, rt->model);
    if (!sl)
        return reply_error(s, c, rc, 404, R_UNKNOWN_MODEL, "unknown model", rt->model);
    if (rc->too_large)
        return reply_error(s, c, rc, 413, R_BODY_TOO_LARGE, "request body too large", NULL);
    double deadline = rc->t0 + (s->o.deadline_ms > 0 ? s->o.deadline_ms : 1000.0) / 1e3;
    if (cairn_mono_s() > deadline)
        return reply_error(s, c, rc, 503, R_DEADLINE, "request waited past its deadline", NULL);

    cairn_request rq;
    cairn_error err = {0};
    memset(&rq, 0, sizeof rq);
    cairn_request_limits lim = {.max_rows = s->o.max_rows ? s->o.max_rows : 1000};
    cairn_status st = cairn_request_parse(rc->body ? rc->body : "", rc->len, &lim, &rq, &err);
    if (st != CAIRN_OK) {
        enum MHD_Result r =
            st == CAIRN_ETOOBIG ? reply_error(s, c, rc, 413, R_TOO_MANY_ROWS, err.msg, err.where)
            : st == CAIRN_ENOMEM
                ? reply_error(s, c, rc, 503, R_OVERLOADED, "out of memory", NULL)
                : reply_error(s, c, rc, 400, R_BAD_REQUEST, err.msg, err.where);
        cairn_request_reset(&rq);
        return r;
    }
    char rid[40];
    const char *request_id = rq.request_id;
    if (!request_id) {
        new_request_id(rid);
        request_id = rid;
    }
    const char *alias = "production";
    loaded *sh = NULL;
    loaded *l = choose(s, sl, rt, rq.entity ? rq.entity : request_id, &alias, &sh, &err);
    if (!l) {
        cairn_request_reset(&rq);
        return reply_error(s, c, rc, 404, R_UNKNOWN_MODEL, err.msg, err.where);
    }

    /* Small requests (the common single row) keep their per-row state on the stack. */
    enum { SMALL_ROWS = 16 };
    cairn_prediction preds_small[SMALL_ROWS];
    const char *by_small[SMALL_ROWS];
    double lat_small[SMALL_ROWS];
    bool small = rq.n_rows <= SMALL_ROWS;
    cairn_prediction *preds = small ? preds_small : calloc(rq.n_rows, sizeof *preds);
    const char **by = small ? by_small : calloc(rq.n_rows, sizeof *by);
    double *lat = small ? lat_small : calloc(rq.n_rows, sizeof *lat);
    cairn_violations v = {0};
    cairn_buf b;
    cairn_buf_init(&b);
    enum MHD_Result ret;
    loaded *fb = NULL;
    bool invalid = false;
    const char *first_error = NULL;
    char first_where[256] = "";
    if (!preds || !by || !lat) {
        ret = reply_error(s, c, rc, 503, R_OVERLOADED, "out of memory", NULL);
        goto done;
    }
    for (size_t r = 0; r < rq.n_rows; r++) {
        const cairn_field *f = rq.fields + rq.row_start[r];
        size_t nf = rq.row_start[r + 1] - rq.row_start[r];
        double t0 = cairn_mono_s();
        /* Only read after a failure fills it: no need to zero its 1 KiB per row. */
        cairn_error e;
        e.code = CAIRN_OK;
        e.msg[0] = e.where[0] = '\0';
        by[r] = alias;
        /* Past the deadline, the rest is answered by the baseline (microseconds). */
        if (t0 > deadline) {
            st = cairn_model_predict_baseline(l->model, f, nf, (long)r, &preds[r], &v, &e);
            by[r] = "baseline";
        } else {
            st = cairn_model_predict(l->model, f, nf, (long)r, &preds[r], &v, &e);
            if (st == CAIRN_OK && s->fail_version == l->version)
                st = cairn_error_set(&e, CAIRN_EINTERNAL, "test", "injected scoring failure");
        }
        if (st == CAIRN_ECHECK || st == CAIRN_EINPUT) {
            invalid = true;
            by[r] = NULL;   /* refused: logged as such below */
            if (st == CAIRN_EINPUT && !first_error) {
                first_error = "a value cannot be read";
                snprintf(first_where, sizeof first_where, "row %zu: %.80s (%.60s)", r, e.msg, e.where);
            }
            continue;
        }
        if (st != CAIRN_OK) {
            /* The fallback chain: the fallback alias, then the artifact's baseline. */
            if (!fb) {
                pthread_mutex_lock(&sl->mu);
                fb = loaded_ref(sl->alias[A_FALLBACK]);
                pthread_mutex_unlock(&sl->mu);
            }
            if (fb && fb->version != s->fail_version &&
                cairn_model_predict(fb->model, f, nf, (long)r, &preds[r], NULL, NULL) ==
                    CAIRN_OK) {
                by[r] = "fallback";
                atomic_fetch_add(&s->fallback_rows, 1);
            } else if (cairn_model_predict_baseline(l->model, f, nf, (long)r, &preds[r], NULL,
                                                    NULL) == CAIRN_OK) {
                by[r] = "baseline";
                atomic_fetch_add(&s->baseline_rows, 1);
            } else {
                ret = reply_error(s, c, rc, 500, R_N, "scoring failed", e.msg);
                goto done;
            }
        }
        lat[r] = (cairn_mono_s() - t0) * 1e6;
    }
    if (invalid) {
        atomic_fetch_add(&s->rejects[R_CONTRACT], 1);
        cairn_buf_puts(&b, "{\"error\":");
        const char *msg = v.n ? "the request breaks the model's contract" : first_error;
        cairn_buf_put_json_string(&b, msg, strlen(msg));
        if (!v.n) {
            cairn_buf_puts(&b, ",\"where\":");
            cairn_buf_put_json_string(&b, first_where, strlen(first_where));
        }
        cairn_buf_puts(&b, ",\"model\":");
        cairn_buf_put_json_string(&b, sl->name, strlen(sl->name));
        cairn_buf_printf(&b, ",\"model_version\":%d,\"request_id\":", l->version);
        cairn_buf_put_json_string(&b, request_id, strlen(request_id));
        cairn_buf_puts(&b, ",\"violations\":[");
        for (size_t i = 0; i < v.n; i++) {
            const cairn_violation *x = &v.items[i];
            cairn_buf_printf(&b, "%s{\"row\":%ld,\"field\":", i ? "," : "", x->row);
            cairn_buf_put_json_string(&b, x->field, strlen(x->field));
            cairn_buf_puts(&b, ",\"problem\":");
            cairn_buf_put_json_string(&b, x->problem, strlen(x->problem));
            cairn_buf_puts(&b, ",\"value\":");
            put_violation_value(&b, x->value);
            cairn_buf_putc(&b, '}');
        }
        cairn_buf_puts(&b, "]}");
        ret = reply_json(s, c, rc, 422, &b);
        /* The refused rows go to the log too (flagged, not scored), so the monitor can
         * report the share of traffic the contract turns away. */
        const cairn_prediction refused = {.score = NAN, .label = NULL, .class_index = -1};
        for (size_t r = 0; r < rq.n_rows; r++)
            if (!by[r])
                log_row(s, l, alias, request_id, rq.entity, rq.fields + rq.row_start[r],
                        rq.row_start[r + 1] - rq.row_start[r], &refused, 0.0,
                        CAIRN_PLOG_REJECTED);
        goto done;
    }
    /* The reply, then the log (asynchronous: a copy into the ring). The buffer is sized
     * once for the usual reply (a row's score, label and punctuation take about 60 bytes)
     * instead of doubling from 64 bytes. */
    buf_presize(&b, 192 + strlen(request_id) + rq.n_rows * 96);
    cairn_buf_puts(&b, "{\"model\":");
    cairn_buf_put_json_string(&b, sl->name, strlen(sl->name));
    cairn_buf_puts(&b, ",\"model_version\":");
    put_int(&b, l->version);
    cairn_buf_puts(&b, ",\"alias\":");
    cairn_buf_put_json_string(&b, alias, strlen(alias));
    cairn_buf_puts(&b, ",\"request_id\":");
    cairn_buf_put_json_string(&b, request_id, strlen(request_id));
    cairn_buf_puts(&b, ",\"predictions\":[");
    for (size_t r = 0; r < rq.n_rows; r++) {
        cairn_buf_puts(&b, r ? ",{\"score\":" : "{\"score\":");
        if (isfinite(preds[r].score))
            put_score(&b, preds[r].score);
        else
            cairn_buf_puts(&b, "null");
        if (preds[r].label) {
            cairn_buf_puts(&b, ",\"label\":");
            cairn_buf_put_json_string(&b, preds[r].label, strlen(preds[r].label));
        }
        if (by[r] != alias) {
            cairn_buf_puts(&b, ",\"answered_by\":");
            cairn_buf_put_json_string(&b, by[r], strlen(by[r]));
        }
        cairn_buf_putc(&b, '}');
    }
    cairn_buf_puts(&b, "]}");
    ret = reply_json(s, c, rc, 200, &b);
    atomic_fetch_add(&l->predictions, rq.n_rows);
    for (size_t r = 0; r < rq.n_rows; r++)
        log_row(s, l, by[r], request_id, rq.entity, rq.fields + rq.row_start[r],
                rq.row_start[r + 1] - rq.row_start[r], &preds[r], lat[r], 0);
    /* The shadow: scored and logged by its own thread, never returned. */
    if (sh) {
        shadow_submit(s, sh, rc->body ? rc->body : "", rc->len, request_id, rq.entity);
        sh = NULL;   /* the job's now */
    }
done:
    loaded_unref(sh);
    loaded_unref(fb);
    loaded_unref(l);
    cairn_violations_reset(&v);
    cairn_buf_reset(&b);
    if (!small) {
        free(preds);
        free(by);
        free(lat);
    }
    cairn_request_reset(&rq);
    return ret;
}

/* ---- the other endpoints ---------------------------------------------------------------- */

static void put_loaded(cairn_buf *b, const loaded *l)
{
    if (!l) {
        cairn_buf_puts(b, "null");
        return;
    }
    cairn_buf_printf(b, "{\"version\":%d,\"artifact\":", l->version);
    cairn_buf_put_json_string(b, l->meta.artifact_hash, strlen(l->meta.artifact_hash));
    cairn_buf_puts(b, ",\"run\":");
    cairn_buf_put_json_string(b, l->meta.run_id, strlen(l->meta.run_id));
    cairn_buf_puts(b, ",\"task\":");
    cairn_buf_put_json_string(b, l->meta.task, strlen(l->meta.task));
    cairn_buf_printf(b, ",\"predictions\":%llu}",
                     (unsigned long long)atomic_load(&l->predictions));
}

static enum MHD_Result handle_model(cairn_server *s, struct MHD_Connection *c, req_ctx *rc,
                                    const cairn_route *rt)
{
    slot *sl = find_slot(s, rt->model);
    if (!sl)
        return reply_error(s, c, rc, 404, R_UNKNOWN_MODEL, "unknown model", rt->model);
    cairn_buf b;
    cairn_buf_init(&b);
    loaded *held[N_WATCHED];
    double pct;
    pthread_mutex_lock(&sl->mu);
    for (int a = 0; a < N_WATCHED; a++)
        held[a] = loaded_ref(sl->alias[a]);
    pct = sl->canary_percent;
    pthread_mutex_unlock(&sl->mu);
    cairn_buf_puts(&b, "{\"model\":");
    cairn_buf_put_json_string(&b, sl->name, strlen(sl->name));
    cairn_buf_puts(&b, ",\"loaded\":{");
    for (int a = 0; a < N_WATCHED; a++) {
        cairn_buf_printf(&b, "%s\"%s\":", a ? "," : "", WATCHED[a]);
        put_loaded(&b, held[a]);
    }
    cairn_buf_puts(&b, "},\"canary_percent\":");
    cairn_buf_put_double(&b, held[A_CANARY] ? pct : 0);
    /* Versions and aliases as the registry has them now. */
    cairn_model_version *vs = NULL;
    cairn_model_alias *al = NULL;
    size_t nv = 0, na = 0;
    cairn_error err = {0};
    pthread_mutex_lock(&s->req_home_mu);
    cairn_status st = CAIRN_OK;
    if (!s->req_home)
        st = cairn_home_open(s->home_dir, &s->req_home, &err);
    if (st == CAIRN_OK)
        st = cairn_model_versions(s->req_home, sl->name, &vs, &nv, &err);
    if (st == CAIRN_OK)
        st = cairn_model_aliases(s->req_home, sl->name, &al, &na, &err);
    pthread_mutex_unlock(&s->req_home_mu);
    cairn_buf_puts(&b, ",\"versions\":[");
    for (size_t i = 0; i < nv; i++) {
        cairn_buf_printf(&b, "%s{\"version\":%d,\"run\":\"%s\",\"artifact\":\"%s\"}", i ? "," : "",
                         vs[i].version, vs[i].run_id, vs[i].artifact_hash);
        cairn_model_version_reset(&vs[i]);
    }
    cairn_buf_puts(&b, "],\"aliases\":{");
    for (size_t i = 0; i < na; i++)
        cairn_buf_printf(&b, "%s\"%s\":%d", i ? "," : "", al[i].alias, al[i].version);
    cairn_buf_puts(&b, "},\"contract\":");
    const loaded *p = held[A_PRODUCTION];
    if (p) {
        cairn_buf_printf(&b, "{\"validated\":%s,\"inputs\":[", p->meta.has_contract ? "true" : "false");
        for (size_t i = 0; i < p->meta.n_inputs; i++) {
            const char *nm = cairn_model_input_name(p->model, i);
            if (i)
                cairn_buf_putc(&b, ',');
            cairn_buf_put_json_string(&b, nm ? nm : "", nm ? strlen(nm) : 0);
        }
        cairn_buf_puts(&b, "],\"label\":");
        cairn_buf_put_json_string(&b, p->meta.label, strlen(p->meta.label));
        cairn_buf_puts(&b, "}");
    } else {
        cairn_buf_puts(&b, "null");
    }
    cairn_buf_putc(&b, '}');
    for (int a = 0; a < N_WATCHED; a++)
        loaded_unref(held[a]);
    cairn_free(vs);
    cairn_free(al);
    enum MHD_Result r = reply_json(s, c, rc, 200, &b);
    cairn_buf_reset(&b);
    return r;
}

static enum MHD_Result handle_models(cairn_server *s, struct MHD_Connection *c, req_ctx *rc)
{
    cairn_buf b;
    cairn_buf_init(&b);
    cairn_buf_puts(&b, "{\"models\":[");
    for (size_t i = 0; i < s->n_slots; i++) {
        slot *sl = &s->slots[i];
        pthread_mutex_lock(&sl->mu);
        int v = sl->alias[A_PRODUCTION] ? sl->alias[A_PRODUCTION]->version : 0;
        pthread_mutex_unlock(&sl->mu);
        cairn_buf_printf(&b, "%s{\"model\":", i ? "," : "");
        cairn_buf_put_json_string(&b, sl->name, strlen(sl->name));
        cairn_buf_printf(&b, ",\"production\":%d}", v);
    }
    cairn_buf_puts(&b, "]}");
    enum MHD_Result r = reply_json(s, c, rc, 200, &b);
    cairn_buf_reset(&b);
    return r;
}

static bool ready(cairn_server *s)
{
    for (size_t i = 0; i < s->n_slots; i++) {
        pthread_mutex_lock(&s->slots[i].mu);
        bool ok = s->slots[i].alias[A_PRODUCTION] != NULL;
        pthread_mutex_unlock(&s->slots[i].mu);
        if (!ok)
            return false;
    }
    return s->n_slots > 0;
}

static void metric_head(cairn_buf *b, const char *name, const char *type, const char *help)
{
    cairn_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A metric with one unlabelled sample: its head, then the value. */
static void metric_u64(cairn_buf *b, const char *name, const char *type, const char *help,
                       uint64_t v)
{
    metric_head(b, name, type, help);
    cairn_buf_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

/* One counter (at offset off in a stripe) summed over the stripes. */
static uint64_t stripe_sum(cairn_server *s, size_t off)
{
    uint64_t n = 0;
    for (size_t i = 0; i < N_STRIPES; i++)
        n += atomic_load((atomic_uint_fast64_t *)((char *)&s->stripes[i] + off));
    return n;
}

static enum MHD_Result handle_metrics(cairn_server *s, struct MHD_Connection *c, req_ctx *rc)
{
    cairn_buf b;
    cairn_buf_init(&b);
    metric_head(&b, "cairn_http_requests_total", "counter", "HTTP requests answered, by status code.");
    for (size_t i = 0; i < N_CODES; i++)
        cairn_buf_printf(&b, "cairn_http_requests_total{code=\"%d\"} %llu\n", CODES[i],
                         (unsigned long long)stripe_sum(s, offsetof(stripe, requests[i])));
    metric_head(&b, "cairn_http_request_duration_seconds", "histogram",
                "Time from the request's arrival to its reply being queued.");
    uint64_t cum = 0;
    for (size_t i = 0; i <= N_LAT; i++) {
        cum += stripe_sum(s, offsetof(stripe, lat_buckets[i]));
        if (i < N_LAT)
            cairn_buf_printf(&b, "cairn_http_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
                             LAT_BOUNDS[i], (unsigned long long)cum);
        else
            cairn_buf_printf(&b, "cairn_http_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
                             (unsigned long long)cum);
    }
    cairn_buf_printf(&b, "cairn_http_request_duration_seconds_sum %.6f\n",
                     (double)stripe_sum(s, offsetof(stripe, lat_sum_us)) / 1e6);
    cairn_buf_printf(&b, "cairn_http_request_duration_seconds_count %llu\n",
                     (unsigned long long)stripe_sum(s, offsetof(stripe, lat_count)));
    metric_head(&b, "cairn_rejects_total", "counter", "Requests refused, by reason.");
    for (int i = 0; i < R_N; i++)
        cairn_buf_printf(&b, "cairn_rejects_total{reason=\"%s\"} %llu\n", REJECT_NAMES[i],
                         (unsigned long long)atomic_load(&s->rejects[i]));
    metric_head(&b, "cairn_predictions_total", "counter",
                "Rows scored, by model, version and the alias that answered.");
    for (size_t i = 0; i < s->n_slots; i++) {
        slot *sl = &s->slots[i];
        pthread_mutex_lock(&sl->mu);
        for (int a = 0; a < N_WATCHED; a++) {
            loaded *l = sl->alias[a];
            if (!l)
                continue;
            uint64_t n = atomic_load(&l->predictions);
            for (size_t k = 0; k < sl->n_retired; k++)
                if (sl->retired[k].version == l->version && !strcmp(sl->retired[k].alias, l->alias))
                    n += sl->retired[k].predictions;
            cairn_buf_printf(&b, "cairn_predictions_total{model=\"%s\",version=\"%d\",alias=\"%s\"} %llu\n",
                             sl->name, l->version, WATCHED[a], (unsigned long long)n);
        }
        for (size_t k = 0; k < sl->n_retired; k++) {
            bool live = false;
            for (int a = 0; a < N_WATCHED; a++)
                live = live || (sl->alias[a] && sl->alias[a]->version == sl->retired[k].version &&
                                !strcmp(sl->alias[a]->alias, sl->retired[k].alias));
            if (!live)
                cairn_buf_printf(&b, "cairn_predictions_total{model=\"%s\",version=\"%d\",alias=\"%s\"} %llu\n",
                                 sl->name, sl->retired[k].version, sl->retired[k].alias,
                                 (unsigned long long)sl->retired[k].predictions);
        }
        for (size_t k = 0; k < sl->n_explicit; k++)
            cairn_buf_printf(&b, "cairn_predictions_total{model=\"%s\",version=\"%d\",alias=\"\"} %llu\n",
                             sl->name, sl->explicit_v[k]->version,
                             (unsigned long long)atomic_load(&sl->explicit_v[k]->predictions));
        pthread_mutex_unlock(&sl->mu);
    }
    metric_head(&b, "cairn_model_version", "gauge", "The version each served alias holds (0: none).");
    for (size_t i = 0; i < s->n_slots; i++) {
        slot *sl = &s->slots[i];
        pthread_mutex_lock(&sl->mu);
        for (int a = 0; a < N_WATCHED; a++)
            cairn_buf_printf(&b, "cairn_model_version{model=\"%s\",alias=\"%s\"} %d\n", sl->name,
                             WATCHED[a], sl->alias[a] ? sl->alias[a]->version : 0);
        pthread_mutex_unlock(&sl->mu);
    }
    metric_head(&b, "cairn_model_load_failures_total", "counter",
                "Model versions that failed to load (the previous version kept serving).");
    for (size_t i = 0; i < s->n_slots; i++)
        cairn_buf_printf(&b, "cairn_model_load_failures_total{model=\"%s\"} %llu\n", s->slots[i].name,
                         (unsigned long long)atomic_load(&s->slots[i].load_failures));
    metric_head(&b, "cairn_model_swaps_total", "counter", "Alias moves applied by the server.");
    for (size_t i = 0; i < s->n_slots; i++)
        cairn_buf_printf(&b, "cairn_model_swaps_total{model=\"%s\"} %llu\n", s->slots[i].name,
                         (unsigned long long)atomic_load(&s->slots[i].swaps));
    metric_head(&b, "cairn_fallback_rows_total", "counter",
                "Rows answered by the fallback chain, by link.");
    cairn_buf_printf(&b, "cairn_fallback_rows_total{by=\"fallback\"} %llu\n",
                     (unsigned long long)atomic_load(&s->fallback_rows));
    cairn_buf_printf(&b, "cairn_fallback_rows_total{by=\"baseline\"} %llu\n",
                     (unsigned long long)atomic_load(&s->baseline_rows));
    metric_u64(&b, "cairn_shadow_rows_total", "counter",
               "Rows scored by shadow versions.", atomic_load(&s->shadow_scored));
    metric_u64(&b, "cairn_shadow_dropped_total", "counter",
               "Shadow requests dropped because the shadow queue was full.",
               atomic_load(&s->shadow_dropped));
    metric_u64(&b, "cairn_http_connections", "gauge", "HTTP connections open now.",
               cairn_http_pool_connections(s->http));
    metric_u64(&b, "cairn_http_connections_refused_total", "counter",
               "Connections closed at once because --max-connections were open.",
               cairn_http_pool_refused(s->http));
    metric_head(&b, "cairn_inflight_requests", "gauge", "Requests being handled now.");
    cairn_buf_printf(&b, "cairn_inflight_requests %d\n", atomic_load(&s->inflight));
    cairn_plog_counters pc = {0};
    if (s->plog)
        cairn_plog_get_counters(s->plog, &pc);
    metric_u64(&b, "cairn_log_records_total", "counter",
               "Prediction log records accepted.", pc.appended);
    metric_u64(&b, "cairn_log_written_total", "counter",
               "Prediction log records written to a segment.", pc.written);
    metric_u64(&b, "cairn_log_dropped_total", "counter",
               "Prediction log records dropped (the buffer stayed full, or the disk refused them).",
               pc.dropped);
    metric_u64(&b, "cairn_log_ring_waits_total", "counter",
               "Prediction log appends that found the buffer full and waited for room.", pc.waits);
    metric_u64(&b, "cairn_log_ring_bytes", "gauge",
               "Size of the prediction log buffer.", pc.ring_bytes);
    metric_u64(&b, "cairn_log_ring_peak_bytes", "gauge",
               "Most prediction log buffer bytes in use at once since the server started.",
               pc.ring_peak);
    metric_u64(&b, "cairn_log_write_errors_total", "counter",
               "Prediction log write errors.", pc.write_errors);
    metric_u64(&b, "cairn_log_segments_uncompressed", "gauge",
               "Closed prediction log segments waiting to be compressed (or being compressed).",
               pc.uncompressed);
    metric_u64(&b, "cairn_log_backlog_compressions_total", "counter",
               "Log segments compressed beside the requests (normal priority) because the "
               "backlog bound was reached.",
               pc.backlog_compressions);
    enum MHD_Result r =
        b.failed ? reply(s, c, rc, 503, "text/plain", "out of memory\n", 14, 1, NULL)
                 : reply(s, c, rc, 200, "text/plain; version=0.0.4", b.data, b.len, 0, NULL);
    cairn_buf_reset(&b);
    return r;
}

/* Constant-time comparison of the bearer token. */
static bool token_ok(const cairn_server *s, struct MHD_Connection *c)
{
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    const char *want = s->o.admin_token;
    if (!want || !*want || !h || strncmp(h, "Bearer ", 7) != 0)
        return false;
    const char *got = h + 7;
    size_t lw = strlen(want), lg = strlen(got);
    unsigned char diff = (unsigned char)(lw != lg);
    for (size_t i = 0; i < lw; i++)
        diff |= (unsigned char)(want[i] ^ (i < lg ? got[i] : 0));
    return diff == 0;
}

static enum MHD_Result handle_reload(cairn_server *s, struct MHD_Connection *c, req_ctx *rc,
                                     const cairn_route *rt)
{
    if (!s->o.admin_token || !*s->o.admin_token)
        return reply_error(s, c, rc, 403, R_FORBIDDEN,
                           "admin endpoints are off (set CAIRN_ADMIN_TOKEN)", NULL);
    if (!token_ok(s, c))
        return reply_error(s, c, rc, 403, R_FORBIDDEN, "bad or missing bearer token", NULL);
    slot *sl = find_slot(s, rt->model);
    if (!sl)
        return reply_error(s, c, rc, 404, R_UNKNOWN_MODEL, "unknown model", rt->model);
    cairn_home *h = NULL;
    cairn_error err = {0};
    if (cairn_home_open(s->home_dir, &h, &err) != CAIRN_OK)
        return reply_error(s, c, rc, 500, R_N, err.msg, err.where);
    uint64_t failures = atomic_load(&sl->load_failures);
    int changes = sync_slot(s, h, sl);
    cairn_home_close(h);
    cairn_buf b;
    cairn_buf_init(&b);
    pthread_mutex_lock(&sl->mu);
    int v = sl->alias[A_PRODUCTION] ? sl->alias[A_PRODUCTION]->version : 0;
    pthread_mutex_unlock(&sl->mu);
    bool failed = atomic_load(&sl->load_failures) != failures;
    cairn_buf_printf(&b, "{\"model\":\"%s\",\"changes\":%d,\"production\":%d,\"load_failed\":%s}",
                     sl->name, changes, v, failed ? "true" : "false");
    enum MHD_Result r = reply_json(s, c, rc, failed ? 500 : 200, &b);
    cairn_buf_reset(&b);
    return r;
}

/* ---- the libmicrohttpd callbacks --------------------------------------------------------------- */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    (void)version;
    cairn_server *s = cls;
    req_ctx *rc = *con_cls;
    if (!rc) {
        /* Not calloc: the inline body need not be zeroed. */
        rc = malloc(sizeof *rc);
        if (!rc)
            return MHD_NO;
        rc->body = rc->inline_body;
        rc->len = 0;
        rc->cap = sizeof rc->inline_body;
        rc->too_large = false;
        rc->counted = false;
        rc->t0 = cairn_mono_s();
        *con_cls = rc;
        size_t cap = s->o.max_inflight;
        if ((size_t)atomic_fetch_add(&s->inflight, 1) >= cap) {
            atomic_fetch_sub(&s->inflight, 1);
            return reply_error(s, c, rc, 503, R_OVERLOADED, "server busy, retry later", NULL);
        }
        rc->counted = true;
        /* A declared length over the limit: the body is read and thrown away (nothing is
         * kept), so that ordinary clients, which send the whole body before reading the
         * reply, get the 413; a declared length past 64x the limit is refused at once and
         * the connection closed. */
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        size_t limit = s->o.max_body_bytes ? s->o.max_body_bytes : (1u << 20);
        unsigned long long declared = cl ? strtoull(cl, NULL, 10) : 0;
        if (declared > (unsigned long long)limit * 64)
            return reply_error(s, c, rc, 413, R_BODY_TOO_LARGE, "request body too large", NULL);
        if (declared > limit)
            rc->too_large = true;
        return MHD_YES;
    }
    if (*upload_size) {
        size_t limit = s->o.max_body_bytes ? s->o.max_body_bytes : (1u << 20);
        if (!rc->too_large) {
            if (rc->len + *upload_size > limit) {
                rc->too_large = true;
                req_ctx_free_body(rc);
            } else {
                if (rc->len + *upload_size > rc->cap) {
                    size_t cap = rc->cap * 2;
                    while (cap < rc->len + *upload_size)
                        cap *= 2;
                    char *nb = rc->body == rc->inline_body ? malloc(cap) : realloc(rc->body, cap);
                    if (!nb)
                        return MHD_NO;
                    if (rc->body == rc->inline_body)
                        memcpy(nb, rc->inline_body, rc->len);
                    rc->body = nb;
                    rc->cap = cap;
                }
                memcpy(rc->body + rc->len, upload, *upload_size);
                rc->len += *upload_size;
            }
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (rc->too_large)
        return reply_error(s, c, rc, 413, R_BODY_TOO_LARGE, "request body too large", NULL);
    const char *q = strchr(url, '?');
    cairn_route rt;
    cairn_route_match(method, url, q ? (size_t)(q - url) : strlen(url), &rt);
    switch (rt.kind) {
    case CAIRN_ROUTE_NONE: return reply_error(s, c, rc, 404, R_UNKNOWN_MODEL, "not found", url);
    case CAIRN_ROUTE_BAD_METHOD: {
        atomic_fetch_add(&s->rejects[R_BAD_METHOD], 1);
        static const char m[] = "{\"error\":\"method not allowed\"}";
        return reply(s, c, rc, 405, "application/json", m, sizeof m - 1, 0, rt.allow);
    }
    case CAIRN_ROUTE_HEALTHZ: {
        static const char m[] = "{\"status\":\"ok\"}";
        return reply(s, c, rc, 200, "application/json", m, sizeof m - 1, 0, NULL);
    }
    case CAIRN_ROUTE_READYZ: {
        bool ok = ready(s);
        const char *m = ok ? "{\"ready\":true}" : "{\"ready\":false}";
        return reply(s, c, rc, ok ? 200 : 503, "application/json", m, strlen(m), ok ? 0 : 1, NULL);
    }
    case CAIRN_ROUTE_METRICS: return handle_metrics(s, c, rc);
    case CAIRN_ROUTE_MODELS: return handle_models(s, c, rc);
    case CAIRN_ROUTE_MODEL: return handle_model(s, c, rc, &rt);
    case CAIRN_ROUTE_PREDICT: return handle_predict(s, c, rc, &rt);
    case CAIRN_ROUTE_RELOAD: return handle_reload(s, c, rc, &rt);
    }
    return MHD_NO;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)c;
    (void)toe;
    cairn_server *s = cls;
    req_ctx *rc = *con_cls;
    if (!rc)
        return;
    if (rc->counted)
        atomic_fetch_sub(&s->inflight, 1);
    req_ctx_free_body(rc);
    free(rc);
    *con_cls = NULL;
}

/* ---- start / stop -------------------------------------------------------------------------------- */

static cairn_status add_slot(cairn_server *s, cairn_home *h, const char *name, cairn_error *err)
{
    slot *sl = &s->slots[s->n_slots];
    memset(sl, 0, sizeof *sl);
    snprintf(sl->name, sizeof sl->name, "%s", name);
    pthread_mutex_init(&sl->mu, NULL);
    s->n_slots++;
    sync_slot(s, h, sl);
    if (!sl->alias[A_PRODUCTION])
        return cairn_error_set(err, CAIRN_ENOTFOUND, name,
                               "model %s has no loadable production version (cairn promote)", name);
    return CAIRN_OK;
}

cairn_status cairn_server_start(const cairn_server_opts *o, cairn_server **out, cairn_error *err)
{
    cairn_status st;
    cairn_home *h = NULL;
    char **names = NULL;
    size_t n_names = 0;
    *out = NULL;
    /* Aligned for the counter stripes (sizeof is a multiple of the alignment). */
    cairn_server *s = aligned_alloc(_Alignof(cairn_server), sizeof *s);
    if (!s)
        return cairn_error_set(err, CAIRN_ENOMEM, "serve", "out of memory");
    memset(s, 0, sizeof *s);
    s->o = *o;
    const char *fv = getenv("CAIRN_TEST_FAIL_VERSION");
    s->fail_version = fv ? atoi(fv) : -1;
    if (s->o.threads <= 0)
        s->o.threads = cairn_cpu_count();
    if (!s->o.max_inflight) {
        s->o.max_inflight = (size_t)s->o.threads * 256;
        if (s->o.max_inflight < 1024)
            s->o.max_inflight = 1024;
    }
    pthread_mutex_init(&s->req_home_mu, NULL);
    pthread_mutex_init(&s->watch_mu, NULL);
    pthread_cond_init(&s->watch_cv, NULL);
    pthread_mutex_init(&s->shadow_mu, NULL);
    pthread_cond_init(&s->shadow_cv, NULL);
    s->home_dir = cairn_strdup(o->home_dir);
    if (!s->home_dir) {
        st = cairn_error_set(err, CAIRN_ENOMEM, "serve", "out of memory");
        goto fail;
    }
    if ((st = cairn_home_open(o->home_dir, &h, err)) != CAIRN_OK)
        goto fail;
    if (o->n_models) {
        s->slots = calloc(o->n_models, sizeof *s->slots);
        if (!s->slots) {
            st = cairn_error_set(err, CAIRN_ENOMEM, "serve", "out of memory");
            goto fail;
        }
        for (size_t i = 0; i < o->n_models; i++)
            if ((st = add_slot(s, h, o->models[i], err)) != CAIRN_OK)
                goto fail;
    } else {
        if ((st = cairn_model_list(h, &names, &n_names, err)) != CAIRN_OK)
            goto fail;
        s->slots = calloc(n_names ? n_names : 1, sizeof *s->slots);
        if (!s->slots) {
            st = cairn_error_set(err, CAIRN_ENOMEM, "serve", "out of memory");
            goto fail;
        }
        for (size_t i = 0; i < n_names; i++) {
            cairn_error e2 = {0};
            if (add_slot(s, h, names[i], &e2) != CAIRN_OK) {
                /* Models without production are not served; drop the slot. */
                slot *sl = &s->slots[--s->n_slots];
                for (int a = 0; a < N_WATCHED; a++)
                    loaded_unref(sl->alias[a]);
                pthread_mutex_destroy(&sl->mu);
            }
        }
        if (!s->n_slots) {
            st = cairn_error_set(err, CAIRN_ENOTFOUND, o->home_dir,
                                 "no model has a production version to serve (cairn promote)");
            goto fail;
        }
    }
    cairn_home_close(h);
    h = NULL;
    if (!o->no_log) {
        cairn_plog_opts lo = o->log;
        char *dir = NULL;
        if (!lo.dir) {
            cairn_buf b;
            cairn_buf_init(&b);
            cairn_buf_printf(&b, "%s/logs", o->home_dir);
            dir = cairn_buf_take(&b);
            lo.dir = dir;
        }
        st = cairn_plog_open(&lo, &s->plog, err);
        cairn_free(dir);
        if (st != CAIRN_OK)
            goto fail;
    }
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)o->port);
    if (inet_pton(AF_INET, o->bind ? o->bind : "127.0.0.1", &addr.sin_addr) != 1) {
        st = cairn_error_set(err, CAIRN_EINVAL, o->bind, "not an IPv4 address: %s", o->bind);
        goto fail;
    }
    cairn_http_pool_opts ho = {
        .addr = addr,
        .threads = (unsigned)s->o.threads,
        .conn_limit = o->conn_limit,
        .conn_timeout_s = o->conn_timeout_s,
        .max_header = o->max_header_bytes,
        .handler = on_request,
        .handler_cls = s,
        .completed = on_completed,
        .completed_cls = s,
    };
    char why[200] = "";
    if (cairn_http_pool_start(&ho, &s->http, why, sizeof why) != 0) {
        st = cairn_error_set(err, CAIRN_EIO, o->bind ? o->bind : "127.0.0.1",
                             "cannot listen on %s:%d (%s)", o->bind ? o->bind : "127.0.0.1",
                             o->port, why);
        goto fail;
    }
    s->port = cairn_http_pool_port(s->http);
    if (pthread_create(&s->watcher, NULL, watcher_main, s) == 0)
        s->watcher_started = true;
    if (pthread_create(&s->shadow_thread, NULL, shadow_main, s) == 0)
        s->shadow_started = true;
    for (size_t i = 0; i < n_names; i++)
        cairn_free(names[i]);
    cairn_free(names);
    *out = s;
    return CAIRN_OK;
fail:
    for (size_t i = 0; i < n_names; i++)
        cairn_free(names[i]);
    cairn_free(names);
    cairn_home_close(h);
    cairn_server_stop(s, NULL);
    return st;
}

int cairn_server_port(const cairn_server *s)
{
    return s->port;
}

cairn_status cairn_server_stop(cairn_server *s, cairn_error *err)
{
    if (!s)
        return CAIRN_OK;
    cairn_status st = CAIRN_OK;
    cairn_http_pool_stop(s->http);   /* stops accepting; waits for the handlers in flight */
    pthread_mutex_lock(&s->watch_mu);
    s->stopping = true;
    pthread_cond_broadcast(&s->watch_cv);
    pthread_mutex_unlock(&s->watch_mu);
    pthread_mutex_lock(&s->shadow_mu);
    pthread_cond_broadcast(&s->shadow_cv);
    pthread_mutex_unlock(&s->shadow_mu);
    if (s->watcher_started)
        pthread_join(s->watcher, NULL);
    if (s->shadow_started)
        pthread_join(s->shadow_thread, NULL);   /* drains the queue first */
    if (s->plog)
        st = cairn_plog_close(s->plog, err);
    for (size_t i = 0; i < s->n_slots; i++) {
        slot *sl = &s->slots[i];
        for (int a = 0; a < N_WATCHED; a++)
            loaded_unref(sl->alias[a]);
        for (size_t k = 0; k < sl->n_explicit; k++)
            loaded_unref(sl->explicit_v[k]);
        pthread_mutex_destroy(&sl->mu);
    }
    free(s->slots);
    cairn_home_close(s->req_home);
    cairn_free(s->home_dir);
    pthread_mutex_destroy(&s->req_home_mu);
    pthread_mutex_destroy(&s->watch_mu);
    pthread_cond_destroy(&s->watch_cv);
    pthread_mutex_destroy(&s->shadow_mu);
    pthread_cond_destroy(&s->shadow_cv);
    free(s);
    return st;
}
