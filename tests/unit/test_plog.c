/*
 * test_plog.c -- the prediction log (src/serve/plog.c): the on-disk bytes of a
 * record against a hand encoding of docs/prediction-log.md, round trips of every
 * field kind across rotated and compressed segments, many producers, drops on
 * a full ring, flush durability, torn tails and flipped bytes, a SIGKILLed
 * writer, and (printed, not asserted) append throughput.
 */
#define HOME_FIXTURE_PREFIX "plog-"
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_home_fixture.h"

#include "core/core.h"
#include "serve/serve.h"

#include <dirent.h>
#include <math.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

/* ---- test records ------------------------------------------------------------------- */

typedef struct trec {
    char rid[32], ent[48], model[16], alias[16], label[16];
    char names[24][16];
    char strs[24][32];
    cairn_field f[24];
    cairn_plog_record r;
} trec;

/* Record i, varied: NULL strings, unicode, empty field lists, every value kind, strings
 * with an embedded NUL, empty strings, signed zero, huge and tiny numbers. */
static void make_rec(trec *t, uint64_t i, size_t n_fields)
{
    memset(t, 0, sizeof *t);
    snprintf(t->rid, sizeof t->rid, "%09llu", (unsigned long long)i);
    snprintf(t->ent, sizeof t->ent, "caf\xc3\xa9-\xe6\xbc\xa2\xf0\x9f\x99\x82-%llu",
             (unsigned long long)(i % 97));
    snprintf(t->model, sizeof t->model, "churn");
    snprintf(t->alias, sizeof t->alias, "%s", i % 4 == 0 ? "" : i % 4 == 1 ? "production" : "shadow");
    snprintf(t->label, sizeof t->label, "%s", i % 2 ? "yes" : "no");
    cairn_plog_record *r = &t->r;
    r->time_us = 1700000000000000LL + (int64_t)i * 37;
    r->request_id = i % 7 == 3 ? NULL : t->rid;
    r->entity = i % 5 == 2 ? NULL : t->ent;
    r->model = t->model;
    r->version = (int)(i % 11) - 2;
    r->alias = t->alias;
    r->score = (double)i / 3.0 - 1e-300 * (double)(i % 2);
    r->label = i % 3 == 0 ? NULL : t->label;
    r->latency_us = 12.5 + (double)i;
    r->flags = (uint32_t)(i % 4);
    size_t nf = n_fields != (size_t)-1 ? n_fields : (size_t)(i % 6);
    for (size_t k = 0; k < nf; k++) {
        cairn_field *f = &t->f[k];
        snprintf(t->names[k], sizeof t->names[k], k % 5 == 4 ? "\xce\xb1%zu" : "f%zu", k);
        f->name = t->names[k];
        switch ((i + k) % 6) {
        case 0:
            f->kind = CAIRN_VALUE_NULL;
            break;
        case 1:
            f->kind = CAIRN_VALUE_BOOL;
            f->b = (int)((i + k) % 2);
            break;
        case 2:
            f->kind = CAIRN_VALUE_NUMBER;
            f->num = (i + k) % 4 == 0 ? -0.0 : (double)i * 1.5e200 - 0.25;
            break;
        case 3:
            f->kind = CAIRN_VALUE_STRING;
            memcpy(t->strs[k], "a\0b\xe2\x82\xac", 6);   /* an embedded NUL and a euro sign */
            f->str = t->strs[k];
            f->str_len = 6;
            break;
        case 4:
            f->kind = CAIRN_VALUE_STRING;
            f->str = NULL;                               /* empty */
            f->str_len = 0;
            break;
        default:
            f->kind = CAIRN_VALUE_NUMBER;
            f->num = 5e-324 * (double)(k + 1);
            break;
        }
    }
    r->fields = nf ? t->f : NULL;
    r->n_fields = nf;
}

static const char *nz(const char *s)
{
    return s ? s : "";
}

static void assert_same_bits(double a, double b)
{
    assert_memory_equal(&a, &b, sizeof a);
}

static void assert_entry_is(const cairn_plog_entry *e, const cairn_plog_record *r)
{
    assert_int_equal(e->time_us, r->time_us);
    assert_int_equal(e->flags, r->flags);
    assert_int_equal(e->version, r->version);
    assert_same_bits(e->score, r->score);
    assert_same_bits(e->latency_us, r->latency_us);
    assert_string_equal(e->request_id, nz(r->request_id));
    assert_string_equal(e->entity, nz(r->entity));
    assert_string_equal(e->model, nz(r->model));
    assert_string_equal(e->alias, nz(r->alias));
    assert_string_equal(e->label, nz(r->label));
    assert_int_equal(e->n_fields, r->n_fields);
    for (size_t k = 0; k < r->n_fields; k++) {
        const cairn_field *a = &e->fields[k], *b = &r->fields[k];
        assert_string_equal(a->name, b->name);
        assert_int_equal(a->kind, b->kind);
        if (b->kind == CAIRN_VALUE_BOOL)
            assert_int_equal(a->b, b->b);
        if (b->kind == CAIRN_VALUE_NUMBER)
            assert_same_bits(a->num, b->num);
        if (b->kind == CAIRN_VALUE_STRING) {
            assert_int_equal(a->str_len, b->str_len);
            if (b->str_len)
                assert_memory_equal(a->str, b->str, b->str_len);
        }
    }
}

/* A visitor expecting records first..first+n-1 of make_rec(i, nf) in order. */
typedef struct seq_check {
    uint64_t next;
    size_t nf;
    bool by_request_id;           /* read the number from request_id instead of assuming */
} seq_check;

static int visit_seq(void *ctx, const cairn_plog_entry *e)
{
    seq_check *c = ctx;
    trec t;
    make_rec(&t, c->next, c->nf);
    assert_entry_is(e, &t.r);
    c->next++;
    return 0;
}

static void opts_for(cairn_plog_opts *o, const char *dir)
{
    cairn_plog_opts_init(o);
    o->dir = dir;
}

/* Segment files of dir: counts, and the largest sequence number. */
typedef struct seg_list {
    int plog, zst, other;
    unsigned long long max_seq;
    char last_plog[256];
} seg_list;

static seg_list list_segments(const char *dir)
{
    seg_list s = {0};
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "seg-", 4) != 0)
            continue;
        unsigned long long q = strtoull(e->d_name + 4, NULL, 10);
        if (q > s.max_seq)
            s.max_seq = q;
        size_t n = strlen(e->d_name);
        if (n > 9 && strcmp(e->d_name + n - 9, ".plog.zst") == 0) {
            s.zst++;
        } else if (n > 5 && strcmp(e->d_name + n - 5, ".plog") == 0) {
            s.plog++;
            if (strcmp(e->d_name, s.last_plog) > 0)
                snprintf(s.last_plog, sizeof s.last_plog, "%s", e->d_name);
        } else {
            s.other++;
        }
    }
    closedir(d);
    return s;
}

static void append_range(cairn_plog *l, uint64_t from, uint64_t to, size_t nf)
{
    for (uint64_t i = from; i < to; i++) {
        trec t;
        make_rec(&t, i, nf);
        assert_int_equal(cairn_plog_append(l, &t.r), CAIRN_OK);
    }
}

static char *read_all(const char *path, size_t *n)
{
    char *p = NULL;
    assert_int_equal(cairn_read_file(path, &p, n, NULL), CAIRN_OK);
    return p;
}

static void write_bytes(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    fclose(f);
}

/* ---- the bytes on disk ----------------------------------------------------------------- */

static uint8_t *le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
    return p + n;
}

static uint8_t *lstr(uint8_t *p, const char *s, size_t n)
{
    p = le(p, n, 4);
    memcpy(p, s, n);
    return p + n;
}

/* One record written and compared byte for byte with the documented layout. */
static void test_format_bytes(void **state)
{
    fixture *fx = *state;
    cairn_plog_opts o;
    opts_for(&o, fx->home);
    o.no_compress = true;
    cairn_plog *l = NULL;
    assert_int_equal(cairn_plog_open(&o, &l, NULL), CAIRN_OK);
    cairn_field f[4] = {
        {.name = "age", .kind = CAIRN_VALUE_NUMBER, .num = 42.5},
        {.name = "vip", .kind = CAIRN_VALUE_BOOL, .b = 1},
        {.name = "city", .kind = CAIRN_VALUE_STRING, .str = "Oslo", .str_len = 4},
        {.name = "x", .kind = CAIRN_VALUE_NULL},
    };
    cairn_plog_record r = {.time_us = 1234567, .request_id = "req-1", .entity = NULL,
                           .model = "m", .version = 3, .alias = "canary", .fields = f,
                           .n_fields = 4, .score = 0.75, .label = "yes", .latency_us = 99.0,
                           .flags = CAIRN_PLOG_SHADOW};
    assert_int_equal(cairn_plog_append(l, &r), CAIRN_OK);
    assert_int_equal(cairn_plog_close(l, NULL), CAIRN_OK);

    uint8_t want[512], *p = want;
    memcpy(p, "CAIRNPLG", 8);
    p = le(p + 8, 1, 4);
    p = le(p, 0, 4);
    uint8_t *hdr = p, *payload = p + 16;
    p = payload;
    p = le(p, 1234567, 8);
    p = le(p, 1, 4);
    p = le(p, 3, 4);
    double d = 0.75;
    uint64_t u;
    memcpy(&u, &d, 8);
    p = le(p, u, 8);
    d = 99.0;
    memcpy(&u, &d, 8);
    p = le(p, u, 8);
    p = lstr(p, "req-1", 5);
    p = lstr(p, "", 0);
    p = lstr(p, "m", 1);
    p = lstr(p, "canary", 6);
    p = lstr(p, "yes", 3);
    p = le(p, 4, 4);
    p = lstr(p, "age", 3);
    *p++ = 2;
    d = 42.5;
    memcpy(&u, &d, 8);
    p = le(p, u, 8);
    p = lstr(p, "vip", 3);
    *p++ = 1;
    *p++ = 1;
    p = lstr(p, "city", 4);
    *p++ = 3;
    p = lstr(p, "Oslo", 4);
    p = lstr(p, "x", 1);
    *p++ = 0;
    size_t plen = (size_t)(p - payload);
    le(hdr, 0x52504C43u, 4);
    assert_memory_equal(hdr, "CLPR", 4);
    le(hdr + 4, plen, 4);
    le(hdr + 8, XXH64(payload, plen, 0), 8);

    seg_list s = list_segments(fx->home);
    assert_int_equal(s.plog, 1);
    assert_int_equal(s.zst, 0);
    assert_int_equal(s.max_seq, 1);
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", fx->home, s.last_plog);
    size_t n;
    char *got = read_all(path, &n);
    assert_int_equal(n, (size_t)(p - want));
    assert_memory_equal(got, want, n);
    cairn_free(got);
}

/* ---- round trips ----------------------------------------------------------------------- */

typedef struct shard_check {
    uint8_t *seen;
    long last;
} shard_check;

static int visit_shard(void *ctx, const cairn_plog_entry *e)
{
    shard_check *c = ctx;
    long i = (long)((e->time_us - 1700000000000000LL) / 37);
    trec t;
    assert_true(i >= 0 && i < 400 && i > c->last);
    make_rec(&t, (uint64_t)i, (size_t)-1);
    assert_entry_is(e, &t.r);
    c->seen[i]++;
    c->last = i;
    return 0;
}

static void roundtrip(fixture *fx, bool compress)
{
    cairn_plog_opts o;
    opts_for(&o, fx->home);
    o.segment_bytes = 2048;
    o.no_compress = !compress;
    cairn_plog *l = NULL;
    assert_int_equal(cairn_plog_open(&o, &l, NULL), CAIRN_OK);
    append_range(l, 0, 400, (size_t)-1);
    assert_int_equal(cairn_plog_close(l, NULL), CAIRN_OK);

    seg_list s = list_segments(fx->home);
    assert_true(s.plog + s.zst > 5);
    assert_int_equal(compress ? s.plog : s.zst, 0);
    assert_int_equal(s.other, 0);

    seq_check c = {.nf = (size_t)-1};
    cairn_plog_read_stats st;
    assert_int_equal(cairn_plog_read(fx->home, visit_seq, &c, &st, NULL), CAIRN_OK);
    assert_int_equal(c.next, 400);
    assert_int_equal(st.records, 400);
    assert_int_equal(st.bad_records, 0);
    assert_int_equal(st.segments, (uint64_t)(s.plog + s.zst));

    /* Read as 3 shards (every 3rd segment each): together every record once, each
     * shard's records in order, and the segments split among them. */
    uint8_t seen[400] = {0};
    uint64_t segs = 0, recs = 0;
    for (size_t k = 0; k < 3; k++) {
        shard_check sc = {.seen = seen, .last = -1};
        cairn_plog_read_stats ss;
        assert_int_equal(cairn_plog_read_shard(fx->home, k, 3, visit_shard, &sc, &ss, NULL),
                         CAIRN_OK);
        assert_true(ss.segments >= 1);
        segs += ss.segments;
        recs += ss.records;
    }
    assert_int_equal(segs, st.segments);
    assert_int_equal(recs, 400);
    for (int i = 0; i < 400; i++)
        assert_int_equal(seen[i], 1);

    /* Every segment stays within segment_bytes (each record here is far below it). */
    DIR *d = opendir(fx->home);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "seg-", 4) != 0 || compress)
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", fx->home, e->d_name);
        size_t n;
        char *b = read_all(path, &n);
        assert_true(n <= 2048);
        cairn_free(b);
    }
    closedir(d);
}

static void test_roundtrip_plain(void **state)
{
    roundtrip(*state, false);
}

static void test_roundtrip_compressed(void **state)
{
    roundtrip(*state, true);
}

static int stop_after_3(void *ctx, const cairn_plog_entry *e)
{
    (void)e;
    return ++*(int *)ctx == 3;
}

/* Reopening continues the sequence, keeps old segments, and a visitor can stop early. */
static void test_reopen_continues(void **state)
{
    fixture *fx = *state;
    cairn_plog_opts o;
    opts_for(&o, fx->home);
    cairn_plog *l = NULL, *l2 = NULL;
    assert_int_equal(cairn_plog_open(&o, &l, NULL), CAIRN_OK);
    /* One writer per directory. */
    cairn_error err = {0};
    assert_int_not_equal(cairn_plog_open(&o, &l2, &err), CAIRN_OK);
    assert_null(l2);
    append_range(l, 0, 10, 3);
    assert_int_equal(cairn_plog_close(l, NULL), CAIRN_OK);
    /* A log opened and closed without records makes no segment. */
    assert_int_equal(cairn_plog_open(&o, &l, NULL), CAIRN_OK);
    assert_int_equal(cairn_plog_close(l, NULL), CAIRN_OK);
    assert_int_equal(list_segments(fx->home).max_seq, 1);
    assert_int_equal(cairn_plog_open(&o, &l, NULL), CAIRN_OK);
    append_range(l, 10, 25, 3);
    assert_int_equal(cairn_plog_close(l, NULL), CAIRN_OK);
    seg_list s = list_segments(fx->home);
    assert_int_equal(s.zst, 2);
    assert_int_equal(s.max_seq, 2);
    seq_check c = {.nf = 3};
    cairn_plog_read_stats st;
    assert_int_equal(cairn_plog_read(fx->home, visit_seq, &c, &st, NULL), CAIRN_OK);
    assert_int_equal(c.next, 25);
    int seen = 0;
    assert_int_equal(cairn_plog_read(fx->home, stop_after_3, &seen, &st, NULL), CAIRN_OK);
    assert_int_equal(seen, 3);
    assert_int_equal(st.records, 3);
    /* A missing directory is an error, not an empty log. */
    char missing[700];
    snprintf(missing, sizeof missing, "%s/none", fx->home);
    assert_int_not_equal(cairn_plog_read(missing, visit_seq, &c, &st, NULL), CAIRN_OK);
}

/* ---- producers -------------------------------------------------------------------------- */

typedef struct producer {
    cairn_plog *log;
    int id;
    uint64_t n;
    size_t nf;
    uint64_t ok, dropped;
    uint8_t *accepted;            /* per attempt: 1 when queued */
    double seconds;
} producer;

static void *produce(void *arg)
{
    producer *p = arg;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (uint64_t i = 0; i < p->n; i++) {
        trec t;
        make_rec(&t, i, p->nf);
        snprintf(t.rid, sizeof t.rid, "%d:%llu", p->id, (unsigned long long)i);
        t.r.request_id = t.rid;
        cairn_status s = cairn_plog_append(p->log, &t.r);
        if (s == CAIRN_OK) {
            p->ok++;
            if (p->accepted)
                p->accepted[i] = 1;
        } else {
            assert_int_equal(s, CAIRN_ETOOBIG);
            p->dropped++;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    p->seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    return NULL;
}

typedef struct multi_check {
    int n_threads;
    uint64_t n;
    uint8_t **accepted;           /* expected set per thread (NULL: all) */
    uint64_t *next;               /* the next attempt index each thread may show */
    uint64_t total;
    uint64_t marked_drops;        /* the sum of the log's drop markers */
} multi_check;

static int visit_multi(void *ctx, const cairn_plog_entry *e)
{
    multi_check *c = ctx;
    if (e->flags & CAIRN_PLOG_DROPS) {
        /* The writer's own record: how many were dropped since the previous marker. */
        assert_true(e->score >= 1 && e->score == floor(e->score));
        assert_string_equal(e->model, "");
        assert_int_equal(e->n_fields, 0);
        c->marked_drops += (uint64_t)e->score;
        return 0;
    }
    int id;
    unsigned long long i;
    assert_int_equal(sscanf(e->request_id, "%d:%llu", &id, &i), 2);
    assert_true(id >= 0 && id < c->n_threads);
    /* Each thread's records in its order, each once. */
    assert_true(i >= c->next[id] && i < c->n);
    if (c->accepted) {
        for (uint64_t k = c->next[id]; k < i; k++)
            assert_int_equal(c->accepted[id][k], 0);
        assert_int_equal(c->accepted[id][i], 1);
    } else {
        assert_int_equal(i, c->next[id]);
    }
    trec t;
    make_rec(&t, i, 4);
    t.r.request_id = e->request_id;
    assert_entry_is(e, &t.r);
    c->next[id] = i + 1;
    c->total++;
    return 0;
}

static void test_four_producers(void **state)
{
    fixture *fx = *state;
    cairn_plog_opts o;
    opts_for(&o, fx->home);
    o.ring_bytes = 64u << 20;
    o.segment_bytes = 1u << 20;
    o.wait_ms = 60000;
    cairn_plog *l = NULL;
    assert_int_equal(cairn_plog_open(&o, &l, NULL), CAIRN_OK);
    producer p[4];
    pthread_t th[4];
    for (int k = 0; k < 4; k++) {
        p[k] = (producer){.log = l, .id = k, .n = 20000, .nf = 4};
        assert_int_equal(pthread_create(&th[k], NULL, produce, &p[k]), 0);
    }
    for (int k = 0; k < 4; k++)
        pthread_join(th[k], NULL);
    assert_int_equal(cairn_plog_close(l, NULL), CAIRN_OK);
    for (int k = 0; k < 4; k++)
        assert_int_equal(p[k].ok, 20000);

    uint64_t next[4] = {0};
    multi_check c = {.n_threads = 4, .n = 20000, .next = next};
    cairn_plog_read_stats st;
    assert_int_equal(cairn_plog_read(fx->home, visit_multi, &c, &st, NULL), CAIRN_OK);
    assert_int_equal(c.total, 80000);
    for (int k = 0; k < 4; k++)
        assert_int_equal(next[k], 20000);
    assert_int_equal(st.bad_records, 0);
    assert_true(st.segments > 1);
}

static void test_tiny_ring_drops(void **state)
{
    fixture *fx = *state;
    cairn_plog_opts o;
    opts_for(&o, fx->home);
    o.ring_bytes = 700;           /* a few records */
    o.wait_ms = -1;
    o.no_compress = true;
    cairn_plog *l = NULL;
    assert_int_equal(cairn_plog_open(&o, &l, NULL), CAIRN_OK);

    /* A record larger than the ring is refused at once. */
    trec big;
    make_rec(&big, 1, 24);
    char huge[800];
    memset(huge, 'x', sizeof huge - 1);
    huge[sizeof huge - 1] = '\0';
    big.r.entity = huge;
    assert_int_equal(cairn_plog_append(l, &big.r), CAIRN_ETOOBIG);

    enum { N = 4000 };
    producer p[3];
    pthread_t th[3];
    uint8_t *acc[3];
    for (int k = 0; k < 3; k++) {
        acc[k] = calloc(N, 1);
        p[k] = (producer){.log = l, .id = k, .n = N, .nf = 4, .accepted = acc[k]};
        assert_int_equal(pthread_create(&th[k], NULL, produce, &p[k]), 0);
    }
    uint64_t ok = 0, dropped = 1;
    for (int k = 0; k < 3; k++) {
        pthread_join(th[k], NULL);
        ok += p[k].ok;
        dropped += p[k].dropped;
    }
    cairn_plog_counters cn;
    cairn_plog_get_counters(l, &cn);
    assert_int_equal(cn.appended, ok);
    assert_int_equal(cn.dropped, dropped);
    assert_int_equal(cn.appended + cn.dropped, 3 * N + 1);
    assert_int_equal(cairn_plog_flush(l, NULL), CAIRN_OK);
    cairn_plog_get_counters(l, &cn);
    assert_int_equal(cn.written, cn.appended);
    assert_int_equal(cairn_plog_close(l, NULL), CAIRN_OK);
    printf("# tiny ring: %llu of %d records queued, %llu dropped\n", (unsigned long long)ok,
           3 * N + 1, (unsigned long long)dropped);
    /* Exactly the accepted records are in the log, each thread's in its order. */
    uint64_t next[3] = {0};
    multi_check c = {.n_threads = 3, .n = N, .next = next, .accepted = acc};
    cairn_plog_read_stats st;
    assert_int_equal(cairn_plog_read(fx->home, visit_multi, &c, &st, NULL), CAIRN_OK);
    assert_int_equal(c.total, ok);
    assert_int_equal(st.bad_records, 0);
    /* Every drop is reported by a marker in the log itself (for the monitor). */
    assert_int_equal(c.marked_drops, dropped);
    for (int k = 0; k < 3; k++) {
        for (uint64_t i = next[k]; i < N; i++)
            assert_int_equal(acc[k][i], 0);
        free(acc[k]);
    }
}

/* A flush makes what was appended before it durable and readable by another reader. */
static void test_flush_durable(void **state)
{
    fixture *fx = *state;
    cairn_plog_opts o;
    opts_for(&o, fx->home);
    o.flush_seconds = 3600;       /* only the explicit flush syncs */
    cairn_plog *l = NULL;
    assert_int_equal(cairn_plog_open(&o, &l, NULL), CAIRN_OK);
    append_range(l, 0, 100, 5);
    assert_int_equal(cairn_plog_flush(l, NULL), CAIRN_OK);
    cairn_plog_counters cn;
    cairn_plog_get_counters(l, &cn);
    assert_int_equal(cn.appended, 100);
    assert_int_equal(cn.written, 100);
    assert_true(cn.fsyncs >= 1);
    assert_int_equal(cn.segments, 1);
    assert_int_equal(cn.dropped, 0);
    assert_int_equal(cn.write_errors, 0);
    seq_check c = {.nf = 5};
    cairn_plog_read_stats st;
    assert_int_equal(cairn_plog_read(fx->home, visit_seq, &c, &st, NULL), CAIRN_OK);
    assert_int_equal(c.next, 100);
    assert_int_equal(st.bad_records, 0);

    append_range(l, 100, 150, 5);
    assert_int_equal(cairn_plog_flush(l, NULL), CAIRN_OK);
    cairn_plog_get_counters(l, &cn);
    assert_int_equal(cn.written, 150);
    /* The segment on disk holds exactly the record bytes after its 16-byte header. */
    seg_list s = list_segments(fx->home);
    assert_int_equal(s.plog, 1);
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", fx->home, s.last_plog);
    size_t n;
    char *b = read_all(path, &n);
    assert_int_equal(n, 16 + cn.bytes);
    cairn_free(b);
    c = (seq_check){.nf = 5};
    assert_int_equal(cairn_plog_read(fx->home, visit_seq, &c, &st, NULL), CAIRN_OK);
    assert_int_equal(c.next, 150);
    assert_int_equal(cairn_plog_close(l, NULL), CAIRN_OK);
    assert_int_equal(list_segments(fx->home).zst, 1);
}

/* ---- damage ------------------------------------------------------------------------------ */

/* Writes n records of 3 fields into an uncompressed single segment; returns its bytes. */
static char *make_segment(fixture *fx, uint64_t n, size_t *len, size_t *last_len)
{
    cairn_plog_opts o;
    opts_for(&o, fx->home);
    o.no_compress = true;
    cairn_plog *l = NULL;
    assert_int_equal(cairn_plog_open(&o, &l, NULL), CAIRN_OK);
    append_range(l, 0, n - 1, 3);
    assert_int_equal(cairn_plog_flush(l, NULL), CAIRN_OK);
    cairn_plog_counters c1, c2;
    cairn_plog_get_counters(l, &c1);
    append_range(l, n - 1, n, 3);
    assert_int_equal(cairn_plog_flush(l, NULL), CAIRN_OK);
    cairn_plog_get_counters(l, &c2);
    assert_int_equal(cairn_plog_close(l, NULL), CAIRN_OK);
    *last_len = c2.bytes - c1.bytes;
    seg_list s = list_segments(fx->home);
    assert_int_equal(s.plog, 1);
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", fx->home, s.last_plog);
    char *b = read_all(path, len);
    unlink(path);
    return b;
}

/* The size of make_rec(i, 3) by the documented format, computed independently. */
static size_t record_size(uint64_t i)
{
    trec t;
    make_rec(&t, i, 3);
    const cairn_plog_record *r = &t.r;
    size_t n = 16 + 32 + 5 * 4 + strlen(nz(r->request_id)) + strlen(nz(r->entity)) +
               strlen(nz(r->model)) + strlen(nz(r->alias)) + strlen(nz(r->label)) + 4;
    for (size_t k = 0; k < r->n_fields; k++) {
        const cairn_field *f = &r->fields[k];
        n += 4 + strlen(f->name) + 1;
        n += f->kind == CAIRN_VALUE_BOOL ? 1 : f->kind == CAIRN_VALUE_NUMBER ? 8
             : f->kind == CAIRN_VALUE_STRING ? 4 + f->str_len : 0;
    }
    return n;
}

static void test_torn_tail(void **state)
{
    fixture *fx = *state;
    size_t len, last;
    char *seg = make_segment(fx, 20, &len, &last);
    assert_int_equal(last, record_size(19));
    char path[1024];
    snprintf(path, sizeof path, "%s/seg-000001-20240101T000000Z.plog", fx->home);
    for (size_t t = len - last; t < len; t++) {
        write_bytes(path, seg, t);
        seq_check c = {.nf = 3};
        cairn_plog_read_stats st;
        assert_int_equal(cairn_plog_read(fx->home, visit_seq, &c, &st, NULL), CAIRN_OK);
        assert_int_equal(c.next, 19);
        assert_int_equal(st.records, 19);
        /* Cut exactly between records is a clean end; anywhere inside, one bad record. */
        assert_int_equal(st.bad_records, t == len - last ? 0 : 1);
        /* The same through the buffer entry point. */
        cairn_plog_read_stats bs = {0};
        c = (seq_check){.nf = 3};
        assert_int_equal(cairn_plog_parse_buffer((const uint8_t *)seg, t, visit_seq, &c, &bs),
                         CAIRN_OK);
        assert_int_equal(bs.records, 19);
        assert_int_equal(bs.bad_records, t == len - last ? 0 : 1);
    }
    /* A torn compressed stream: the records decoded before the cut survive. */
    size_t zcap = ZSTD_compressBound(len);
    char *z = malloc(zcap);
    size_t zn = ZSTD_compress(z, zcap, seg, len, 3);
    assert_false(ZSTD_isError(zn));
    unlink(path);
    snprintf(path, sizeof path, "%s/seg-000001-20240101T000000Z.plog.zst", fx->home);
    write_bytes(path, z, zn - 3);
    seq_check c = {.nf = 3};
    cairn_plog_read_stats st;
    assert_int_equal(cairn_plog_read(fx->home, visit_seq, &c, &st, NULL), CAIRN_OK);
    assert_true(c.next <= 20);
    assert_int_equal(st.bad_records, 1);
    free(z);
    free(seg);
}

static void test_flipped_byte(void **state)
{
    fixture *fx = *state;
    size_t len, last;
    /* Records 0..29 in the damaged segment; equal-size records (3 fields, request_id
     * present) are not guaranteed, so record offsets come from record_size. */
    char *seg = make_segment(fx, 30, &len, &last);
    size_t off[31];
    off[0] = 16;
    for (int i = 0; i < 30; i++)
        off[i + 1] = off[i] + record_size((uint64_t)i);
    assert_int_equal(off[30], len);

    /* A later, intact segment from a second log session: records 30..39. */
    cairn_plog_opts o;
    opts_for(&o, fx->home);
    o.no_compress = true;
    cairn_plog *l = NULL;
    assert_int_equal(cairn_plog_open(&o, &l, NULL), CAIRN_OK);
    append_range(l, 30, 40, 3);
    assert_int_equal(cairn_plog_close(l, NULL), CAIRN_OK);

    char path[1024];
    snprintf(path, sizeof path, "%s/seg-000000-20240101T000000Z.plog", fx->home);
    const int k = 12;
    size_t rl = off[k + 1] - off[k];
    size_t where[] = {0, 2, 5, 9, 15, 16, 40, rl / 2, rl - 1};
    char *copy = malloc(len);
    for (size_t w = 0; w < CAIRN_ARRAY_LEN(where); w++) {
        memcpy(copy, seg, len);
        copy[off[k] + where[w]] ^= 0x20;
        write_bytes(path, copy, len);
        /* Records 0..11 from the damaged segment, then 30..39 from the next one. */
        seq_check c = {.nf = 3};
        cairn_plog_read_stats bs = {0};
        assert_int_equal(cairn_plog_parse_buffer((uint8_t *)copy, len, visit_seq, &c, &bs),
                         CAIRN_OK);
        assert_int_equal(c.next, k);
        assert_int_equal(bs.records, k);
        assert_int_equal(bs.bad_records, 1);
        /* Through the directory: the damaged segment stops at record k, the next segment
         * is read whole. */
        cairn_plog_read_stats st;
        assert_int_equal(cairn_plog_read(fx->home, NULL, NULL, &st, NULL), CAIRN_OK);
        assert_int_equal(st.records, k + 10);
        assert_int_equal(st.bad_records, 1);
        assert_int_equal(st.segments, 2);
    }
    /* A damaged segment header: the whole segment is unreadable, counted once. */
    memcpy(copy, seg, len);
    copy[3] ^= 1;
    write_bytes(path, copy, len);
    cairn_plog_read_stats st;
    assert_int_equal(cairn_plog_read(fx->home, NULL, NULL, &st, NULL), CAIRN_OK);
    assert_int_equal(st.records, 10);
    assert_int_equal(st.bad_records, 1);
    free(copy);
    free(seg);
}

/* A crash between the rename of NAME.plog.zst and the unlink of NAME.plog: read once,
 * and the next open removes the twin. */
static void test_compressed_twin(void **state)
{
    fixture *fx = *state;
    size_t len, last;
    char *seg = make_segment(fx, 8, &len, &last);
    char path[1024];
    snprintf(path, sizeof path, "%s/seg-000004-20240101T000000Z.plog", fx->home);
    write_bytes(path, seg, len);
    size_t zcap = ZSTD_compressBound(len);
    char *z = malloc(zcap);
    size_t zn = ZSTD_compress(z, zcap, seg, len, 3);
    strcat(path, ".zst");
    write_bytes(path, z, zn);
    seq_check c = {.nf = 3};
    cairn_plog_read_stats st;
    assert_int_equal(cairn_plog_read(fx->home, visit_seq, &c, &st, NULL), CAIRN_OK);
    assert_int_equal(c.next, 8);
    assert_int_equal(st.segments, 1);
    cairn_plog_opts o;
    opts_for(&o, fx->home);
    cairn_plog *l = NULL;
    assert_int_equal(cairn_plog_open(&o, &l, NULL), CAIRN_OK);
    append_range(l, 8, 9, 3);
    assert_int_equal(cairn_plog_close(l, NULL), CAIRN_OK);
    seg_list s = list_segments(fx->home);
    assert_int_equal(s.plog, 0);
    assert_int_equal(s.zst, 2);
    assert_int_equal(s.max_seq, 5);
    c = (seq_check){.nf = 3};
    assert_int_equal(cairn_plog_read(fx->home, visit_seq, &c, &st, NULL), CAIRN_OK);
    assert_int_equal(c.next, 9);
    free(z);
    free(seg);
}

/* Random bytes and mutations of a good segment never crash the parser. */
static void test_parse_garbage(void **state)
{
    fixture *fx = *state;
    size_t len, last;
    char *seg = make_segment(fx, 12, &len, &last);
    uint8_t *b = malloc(len);
    cairn_rng rng;
    cairn_rng_init(&rng, 7);
    for (int round = 0; round < 3000; round++) {
        memcpy(b, seg, len);
        int flips = 1 + (int)cairn_rng_below(&rng, 4);
        for (int f = 0; f < flips; f++)
            b[cairn_rng_below(&rng, len)] = (uint8_t)cairn_rng_next(&rng);
        size_t n = round % 3 ? len : cairn_rng_below(&rng, len + 1);
        cairn_plog_read_stats st = {0};
        assert_int_equal(cairn_plog_parse_buffer(b, n, NULL, NULL, &st), CAIRN_OK);
        assert_true(st.records <= 12);
        assert_true(st.bad_records <= 1);
        assert_int_equal(st.segments, 1);
    }
    free(b);
    free(seg);
}

/* ---- a writer killed with SIGKILL ------------------------------------------------------ */

typedef struct shared_counts {
    _Atomic uint64_t flushed;     /* records 0..flushed-1 were flushed (fsync returned) */
    _Atomic uint64_t appended;
} shared_counts;

static void child_writer(const char *dir, shared_counts *sh)
{
    cairn_plog_opts o;
    opts_for(&o, dir);
    o.flush_seconds = 0.05;
    o.segment_bytes = 128u << 10;
    o.wait_ms = 1000;
    cairn_plog *l = NULL;
    if (cairn_plog_open(&o, &l, NULL) != CAIRN_OK)
        _exit(3);
    for (uint64_t i = 0; i < 100000000ull; i++) {
        trec t;
        make_rec(&t, i, 6);
        t.r.request_id = t.rid;
        while (cairn_plog_append(l, &t.r) != CAIRN_OK) {
        }
        atomic_store(&sh->appended, i + 1);
        if (i % 1000 == 999) {
            if (cairn_plog_flush(l, NULL) != CAIRN_OK)
                _exit(4);
            atomic_store(&sh->flushed, i + 1);
        }
    }
    _exit(0);
}

typedef struct kill_check {
    uint64_t next;
} kill_check;

static int visit_kill(void *ctx, const cairn_plog_entry *e)
{
    kill_check *c = ctx;
    /* Contiguous sequence numbers, every record intact. */
    assert_int_equal(strtoull(e->request_id, NULL, 10), c->next);
    trec t;
    make_rec(&t, c->next, 6);
    t.r.request_id = t.rid;
    assert_entry_is(e, &t.r);
    c->next++;
    return 0;
}

static void test_kill9(void **state)
{
    fixture *fx = *state;
    shared_counts *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                             -1, 0);
    assert_true(sh != MAP_FAILED);
    atomic_store(&sh->flushed, 0);
    atomic_store(&sh->appended, 0);
    fflush(stdout);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        child_writer(fx->home, sh);
    /* Wait until the child is well into its run, then kill it ~300 ms later. */
    for (int i = 0; i < 1000 && atomic_load(&sh->flushed) == 0; i++)
        usleep(10000);
    usleep(300000);
    kill(pid, SIGKILL);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    uint64_t flushed = atomic_load(&sh->flushed), appended = atomic_load(&sh->appended);
    assert_true(flushed > 0);

    kill_check c = {0};
    cairn_plog_read_stats st;
    assert_int_equal(cairn_plog_read(fx->home, visit_kill, &c, &st, NULL), CAIRN_OK);
    printf("# kill -9: %llu appended, %llu flushed, %llu read back in %llu segments, %llu bad\n",
           (unsigned long long)appended, (unsigned long long)flushed, (unsigned long long)c.next,
           (unsigned long long)st.segments, (unsigned long long)st.bad_records);
    assert_true(c.next >= flushed);
    assert_true(c.next <= appended + 1);
    assert_true(st.bad_records <= 1);

    /* Opening again continues after the last segment, never over it. */
    seg_list before = list_segments(fx->home);
    cairn_plog_opts o;
    opts_for(&o, fx->home);
    cairn_plog *l = NULL;
    assert_int_equal(cairn_plog_open(&o, &l, NULL), CAIRN_OK);
    trec t;
    make_rec(&t, c.next, 6);
    t.r.request_id = t.rid;
    assert_int_equal(cairn_plog_append(l, &t.r), CAIRN_OK);
    assert_int_equal(cairn_plog_close(l, NULL), CAIRN_OK);
    seg_list after = list_segments(fx->home);
    assert_int_equal(after.max_seq, before.max_seq + 1);
    assert_int_equal(after.plog, 0);   /* the crash's uncompressed segments got compressed */
    assert_int_equal(after.other, 0);
    uint64_t before_n = c.next;
    c.next = 0;
    assert_int_equal(cairn_plog_read(fx->home, visit_kill, &c, &st, NULL), CAIRN_OK);
    assert_int_equal(c.next, before_n + 1);
    assert_true(st.bad_records <= 1);
    munmap(sh, sizeof *sh);
}

/* ---- throughput (printed) -------------------------------------------------------------- */

static void test_throughput(void **state)
{
    fixture *fx = *state;
    for (int threads = 1; threads <= 4; threads += 3) {
        char dir[700];
        snprintf(dir, sizeof dir, "%s/t%d", fx->dir, threads);
        cairn_plog_opts o;
        opts_for(&o, dir);
        o.ring_bytes = 64u << 20;
        cairn_plog *l = NULL;
        assert_int_equal(cairn_plog_open(&o, &l, NULL), CAIRN_OK);
        producer p[4];
        pthread_t th[4];
        uint64_t per = 200000 / (uint64_t)threads;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (int k = 0; k < threads; k++) {
            p[k] = (producer){.log = l, .id = k, .n = per, .nf = 20};
            assert_int_equal(pthread_create(&th[k], NULL, produce, &p[k]), 0);
        }
        uint64_t ok = 0, dropped = 0;
        for (int k = 0; k < threads; k++) {
            pthread_join(th[k], NULL);
            ok += p[k].ok;
            dropped += p[k].dropped;
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
        assert_int_equal(cairn_plog_close(l, NULL), CAIRN_OK);
        double s2;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        s2 = (double)(t0.tv_sec - t1.tv_sec) + (double)(t0.tv_nsec - t1.tv_nsec) * 1e-9;
        printf("# append throughput, 20-field records, %d thread(s): %.0f records/s "
               "(%llu queued, %llu dropped; close drained+compressed in %.3f s)\n",
               threads, (double)(ok + dropped) / s, (unsigned long long)ok,
               (unsigned long long)dropped, s2);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_format_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_roundtrip_plain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_roundtrip_compressed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_continues, setup, teardown),
        cmocka_unit_test_setup_teardown(test_four_producers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tiny_ring_drops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flush_durable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flipped_byte, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compressed_twin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parse_garbage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill9, setup, teardown),
        cmocka_unit_test_setup_teardown(test_throughput, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
