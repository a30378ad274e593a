/*
 * test_plog.c -- the prediction log (src/serve/plog.c): the on-disk bytes of a
 * record against a hand encoding of docs/prediction-log.md, round trips of every
 * field kind across rotated and compressed segments, many producers, drops on
 * a full ring, flush durability, torn tails and flipped bytes, a SIGKILLed
 * writer, and (printed, not asserted) append throughput. Closed segments (format
 * version 2, blocks of columns): their decompressed bytes against a hand encoding,
 * round trips through record and block visitors, damage carried through
 * compression, tampered blocks, sharded block reading.
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
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

/* ---- test records ------------------------------------------------------------------- */

typedef struct trec {
    char rid[32], ent[48], model[16], alias[16], label[16];
    char names[80][16];
    char strs[80][32];
    cairn_field f[80];
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

/* Records of 80 fields (more than the lengths the encoder measures once and keeps, 64
 * names) read back equal, in a plain and in a compressed segment. */
static void test_wide_records(void **state)
{
    fixture *fx = *state;
    for (int compress = 0; compress < 2; compress++) {
        char dir[1200];
        snprintf(dir, sizeof dir, "%s/wide%d", fx->home, compress);
        cairn_plog_opts o;
        opts_for(&o, dir);
        o.no_compress = !compress;
        cairn_plog *l = NULL;
        assert_int_equal(cairn_plog_open(&o, &l, NULL), CAIRN_OK);
        append_range(l, 0, 60, 80);
        assert_int_equal(cairn_plog_close(l, NULL), CAIRN_OK);
        seq_check c = {.nf = 80};
        cairn_plog_read_stats st;
        assert_int_equal(cairn_plog_read(dir, visit_seq, &c, &st, NULL), CAIRN_OK);
        assert_int_equal(c.next, 60);
        assert_int_equal(st.bad_records, 0);
    }
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

/* ---- compression under a busy CPU ------------------------------------------------------------ */

typedef struct spinner {
    atomic_bool stop;
    volatile uint64_t n;
} spinner;

static void *spin(void *arg)
{
    spinner *sp = arg;
    while (!atomic_load_explicit(&sp->stop, memory_order_relaxed))
        sp->n++;
    return NULL;
}

/* The id of this process's thread called comm (the log's threads name themselves), or -1. */
static pid_t thread_tid(const char *comm)
{
    DIR *d = opendir("/proc/self/task");
    assert_non_null(d);
    pid_t tid = -1;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[300], name[64] = "";
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        if (fgets(name, sizeof name, f))
            name[strcspn(name, "\n")] = '\0';
        fclose(f);
        if (strcmp(name, comm) == 0)
            tid = (pid_t)atoi(e->d_name);
    }
    closedir(d);
    return tid;
}

/* The thread called comm: its scheduling policy; -1 when there is no such thread. */
static int thread_policy(const char *comm)
{
    pid_t tid = thread_tid(comm);
    return tid < 0 ? -1 : sched_getscheduler(tid);
}

/* The thread called comm: its voluntary context switches (its sleeps), or -1. */
static long thread_sleeps(const char *comm)
{
    pid_t tid = thread_tid(comm);
    if (tid < 0)
        return -1;
    char path[300], line[128];
    snprintf(path, sizeof path, "/proc/self/task/%d/status", (int)tid);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    long sleeps = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "voluntary_ctxt_switches: %ld", &sleeps) == 1)
            break;
    fclose(f);
    return sleeps;
}

/*
 * The writer's wake-ups: a record after a quiet spell is written promptly without a
 * flush (the record wakes it); under a steady stream it wakes about once per 10 ms
 * batch on its own, not once per record or twice per batch; once the stream stops it
 * goes quiet.
 */
static void test_writer_wakes(void **state)
{
    fixture *fx = *state;
    cairn_plog_opts o;
    opts_for(&o, fx->home);
    o.flush_seconds = 3600;   /* no fsync timer in the counts */
    cairn_plog *l = NULL;
    assert_int_equal(cairn_plog_open(&o, &l, NULL), CAIRN_OK);
    struct timespec pause = {0, 200 * 1000 * 1000};
    nanosleep(&pause, NULL);
    /* One record, then wait (no flush) until it is written. */
    double t0 = cairn_mono_s();
    append_range(l, 0, 1, 3);
    cairn_plog_counters cn;
    do {
        struct timespec ms = {0, 1000 * 1000};
        nanosleep(&ms, NULL);
        cairn_plog_get_counters(l, &cn);
    } while (cn.written < 1 && cairn_mono_s() - t0 < 5.0);
    double took = cairn_mono_s() - t0;
    assert_int_equal(cn.written, 1);
    assert_true(took < 0.5);
    /* A stream: a record every 100 us for 0.4 s. */
    long before = thread_sleeps("cairn-plog");
    assert_true(before >= 0);
    uint64_t i = 1;
    t0 = cairn_mono_s();
    while (cairn_mono_s() - t0 < 0.4) {
        append_range(l, i, i + 1, 3);
        i++;
        struct timespec us = {0, 100 * 1000};
        nanosleep(&us, NULL);
    }
    long during = thread_sleeps("cairn-plog") - before;
    /* Quiet: the stream has stopped. */
    nanosleep(&pause, NULL);
    long quiet0 = thread_sleeps("cairn-plog");
    struct timespec longer = {0, 300 * 1000 * 1000};
    nanosleep(&longer, NULL);
    long quiet = thread_sleeps("cairn-plog") - quiet0;
    cairn_plog_get_counters(l, &cn);
    printf("# first record written after %.1f ms; %llu records in 0.4 s, writer woke "
                  "%ld times; then %ld times in 0.3 s of quiet\n",
                  took * 1e3, (unsigned long long)i, during, quiet);
    assert_int_equal(cn.written, i);   /* all of them, still without a flush */
    /* One wake per 10 ms batch is 40; waking twice per batch (a record waking it, then
     * its timer) measured 51-67; once per record would be thousands. */
    assert_true(during <= 48);
    assert_true(quiet <= 2);
    assert_int_equal(cairn_plog_close(l, NULL), CAIRN_OK);
}

/*
 * Compression is idle-priority work with a bound: the process is confined to one CPU
 * that a busy thread keeps full, so the idle compressor gets almost nothing; still, the
 * uncompressed backlog comes back to compress_backlog segments (the backlog thread), and
 * close compresses every segment, leaving no temporary file, every record readable.
 */
static void test_compress_backlog(void **state)
{
    fixture *fx = *state;
    cpu_set_t one, old;
    assert_int_equal(sched_getaffinity(0, sizeof old, &old), 0);
    int cpu = sched_getcpu();
    CPU_ZERO(&one);
    CPU_SET(cpu >= 0 ? cpu : 0, &one);
    assert_int_equal(sched_setaffinity(0, sizeof one, &one), 0);   /* inherited by threads */

    spinner sp = {0};
    pthread_t spt;
    assert_int_equal(pthread_create(&spt, NULL, spin, &sp), 0);

    enum { BACKLOG = 3, RECORDS = 6000 };
    cairn_plog_opts o;
    opts_for(&o, fx->home);
    o.segment_bytes = 16 << 10;
    o.compress_backlog = BACKLOG;
    cairn_plog *l = NULL;
    assert_int_equal(cairn_plog_open(&o, &l, NULL), CAIRN_OK);
    /* The threads name themselves (and the idle one sets its policy) once started. */
    int idle = -1, backlog = -1;
    for (int i = 0; i < 500 && (idle != SCHED_IDLE || backlog < 0); i++) {
        idle = thread_policy("cairn-plog-zstd");
        backlog = thread_policy("cairn-plog-zbak");
        usleep(10000);
    }
    assert_int_equal(idle, SCHED_IDLE);
    assert_int_equal(backlog, SCHED_OTHER);

    append_range(l, 0, RECORDS, 4);
    assert_int_equal(cairn_plog_flush(l, NULL), CAIRN_OK);
    seg_list s = list_segments(fx->home);
    printf("# after the flush: %d segments uncompressed, %d compressed\n", s.plog, s.zst);
    assert_true(s.plog + s.zst > 4 * BACKLOG);

    /* Waiting: at most BACKLOG - 1; beside them, the open segment and the two the
     * threads may be on. Measured: back to the bound in 0.01 s; without the backlog
     * thread (the idle one alone, under the busy thread) 57 segments took 14 s. The
     * counter holds those waiting and those being compressed, not the open segment; it
     * may lag the files a moment (a thread counts its segment until it has noted the
     * result, just after the file went), so the wait is for both. */
    cairn_plog_counters cn;
    double t0 = cairn_mono_s();
    for (;;) {
        s = list_segments(fx->home);
        cairn_plog_get_counters(l, &cn);
        if ((s.plog <= BACKLOG + 2 && cn.uncompressed <= BACKLOG + 1) ||
            cairn_mono_s() - t0 >= 5)
            break;
        usleep(10000);
    }
    printf("# %d uncompressed after %.2f s (counter %llu)\n", s.plog, cairn_mono_s() - t0,
           (unsigned long long)cn.uncompressed);
    assert_true(s.plog <= BACKLOG + 2);
    assert_true(cn.uncompressed <= BACKLOG + 1);
    /* Under the busy thread, the backlog thread did the compressing, and counted it. */
    assert_true(cn.backlog_compressions > 0);

    assert_int_equal(cairn_plog_close(l, NULL), CAIRN_OK);
    atomic_store(&sp.stop, true);
    pthread_join(spt, NULL);
    assert_int_equal(sched_setaffinity(0, sizeof old, &old), 0);

    s = list_segments(fx->home);
    assert_int_equal(s.plog, 0);
    assert_int_equal(s.other, 0);
    assert_true(s.zst > 4 * BACKLOG);
    seq_check c = {.nf = 4};
    cairn_plog_read_stats st;
    assert_int_equal(cairn_plog_read(fx->home, visit_seq, &c, &st, NULL), CAIRN_OK);
    assert_int_equal(c.next, RECORDS);
    assert_int_equal(st.bad_records, 0);
    DIR *d = opendir(fx->home);
    struct dirent *e;
    while ((e = readdir(d)))
        assert_true(strncmp(e->d_name, ".tmp-", 5) != 0);
    closedir(d);
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
    /* The buffer gauges: its size, and a peak within it; no append waited (wait_ms < 0). */
    assert_int_equal(cn.ring_bytes, 700);
    assert_true(cn.ring_peak > 0 && cn.ring_peak <= 700);
    assert_int_equal(cn.waits, 0);
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

/* A producer that finds the ring full waits for room (counted in waits) and loses nothing
 * while the wait is long enough; the peak never passes the ring. */
static void test_ring_waits(void **state)
{
    fixture *fx = *state;
    cairn_plog_opts o;
    opts_for(&o, fx->home);
    o.ring_bytes = 700;
    o.wait_ms = 60000;
    o.no_compress = true;
    cairn_plog *l = NULL;
    assert_int_equal(cairn_plog_open(&o, &l, NULL), CAIRN_OK);
    append_range(l, 0, 3000, 4);
    cairn_plog_counters cn;
    cairn_plog_get_counters(l, &cn);
    assert_int_equal(cn.appended, 3000);
    assert_int_equal(cn.dropped, 0);
    assert_true(cn.waits > 0);   /* 3000 records through a ring of about five */
    assert_true(cn.waits <= 3000);
    assert_int_equal(cn.ring_bytes, 700);
    assert_true(cn.ring_peak > 350 && cn.ring_peak <= 700);
    assert_int_equal(cairn_plog_close(l, NULL), CAIRN_OK);
    seq_check c = {.nf = 4};
    cairn_plog_read_stats st;
    assert_int_equal(cairn_plog_read(fx->home, visit_seq, &c, &st, NULL), CAIRN_OK);
    assert_int_equal(c.next, 3000);
    assert_int_equal(st.bad_records, 0);
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
    assert_int_equal(cn.ring_bytes, 64u << 20);   /* the default */
    assert_true(cn.ring_peak > 0 && cn.ring_peak < (64u << 20));
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

typedef struct damage_seen {
    seq_check seq;
    int calls;
    int64_t after_us;
    char segment[64];
} damage_seen;

static int visit_seq_d(void *ctx, const cairn_plog_entry *e)
{
    return visit_seq(&((damage_seen *)ctx)->seq, e);
}

static void on_damaged(void *ctx, const char *segment, int64_t after_us)
{
    damage_seen *d = ctx;
    d->calls++;
    d->after_us = after_us;
    snprintf(d->segment, sizeof d->segment, "%s", segment);
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
        /* The visitor hears of it, with the time of record 18, the last good one. */
        damage_seen d = {.seq = {.nf = 3}};
        cairn_plog_visitor v = {.record = visit_seq_d, .damaged = on_damaged, .ctx = &d};
        assert_int_equal(cairn_plog_read_visit(fx->home, 0, 1, &v, &st, NULL), CAIRN_OK);
        assert_int_equal(d.seq.next, 19);
        assert_int_equal(d.calls, t == len - last ? 0 : 1);
        if (d.calls) {
            assert_int_equal(d.after_us, 1700000000000000LL + 18 * 37);
            assert_string_equal(d.segment, "seg-000001-20240101T000000Z.plog");
        }
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
    /* A segment whose very first record is torn: the file's modification time stands in. */
    unlink(path);
    snprintf(path, sizeof path, "%s/seg-000001-20240101T000000Z.plog", fx->home);
    write_bytes(path, seg, 16 + 5);
    struct timespec when[2] = {{.tv_sec = 978307200}, {.tv_sec = 978307200}};
    assert_int_equal(utimensat(AT_FDCWD, path, when, 0), 0);
    damage_seen d = {.seq = {.nf = 3}};
    cairn_plog_visitor v = {.record = visit_seq_d, .damaged = on_damaged, .ctx = &d};
    assert_int_equal(cairn_plog_read_visit(fx->home, 0, 1, &v, &st, NULL), CAIRN_OK);
    assert_int_equal(d.seq.next, 0);
    assert_int_equal(d.calls, 1);
    assert_int_equal(d.after_us, 978307200LL * 1000000);
    free(z);
    free(seg);
}

/* make_segment of records 0..29, with off[i] the offset of record i (off[30]: the end).
 * Equal-size records are not guaranteed, so the offsets come from record_size. */
static char *make_segment_30(fixture *fx, size_t *len, size_t *last, size_t off[31])
{
    char *seg = make_segment(fx, 30, len, last);
    off[0] = 16;
    for (int i = 0; i < 30; i++)
        off[i + 1] = off[i] + record_size((uint64_t)i);
    assert_int_equal(off[30], *len);
    return seg;
}

static void test_flipped_byte(void **state)
{
    fixture *fx = *state;
    size_t len, last;
    /* Records 0..29 in the damaged segment, and where each starts. */
    size_t off[31];
    char *seg = make_segment_30(fx, &len, &last, off);

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

/* ---- format version 2: blocks of columns ------------------------------------------------ */

/* A growing byte buffer for the test's own encoder. */
typedef struct tbuf {
    uint8_t *p;
    size_t n, cap;
} tbuf;

static void tb_put(tbuf *b, const void *src, size_t n)
{
    if (b->n + n > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        while (nc < b->n + n)
            nc *= 2;
        b->p = realloc(b->p, nc);
        assert_non_null(b->p);
        b->cap = nc;
    }
    if (n)
        memcpy(b->p + b->n, src, n);
    b->n += n;
}

static void tb_le(tbuf *b, uint64_t v, int n)
{
    uint8_t x[8];
    le(x, v, n);
    tb_put(b, x, (size_t)n);
}

static void tb_f64(tbuf *b, double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    tb_le(b, u, 8);
}

/* Zero bytes up to the next multiple of 8 (the body is the whole buffer). */
static void tb_pad8(tbuf *b)
{
    static const uint8_t zero[8];
    if (b->n % 8)
        tb_put(b, zero, 8 - b->n % 8);
}

typedef struct tstr {
    const char *s;
    size_t len;
} tstr;

/* A string column by the documentation: u32 end offsets, then each string and a NUL. */
static void tb_strcol(tbuf *b, const tstr *v, size_t n)
{
    uint64_t end = 0;
    for (size_t i = 0; i < n; i++) {
        end += v[i].len + 1;
        tb_le(b, end, 4);
    }
    tb_pad8(b);
    for (size_t i = 0; i < n; i++) {
        tb_put(b, v[i].s, v[i].len);
        tb_put(b, "", 1);
    }
    tb_pad8(b);
}

static uint8_t kind_byte(cairn_value_kind k)
{
    switch (k) {
    case CAIRN_VALUE_NULL: return 0;
    case CAIRN_VALUE_BOOL: return 1;
    case CAIRN_VALUE_NUMBER: return 2;
    case CAIRN_VALUE_STRING: return 3;
    default: fail(); return 0;
    }
}

static void enc_seg_header(tbuf *out, uint32_t version)
{
    tb_put(out, "CAIRNPLG", 8);
    tb_le(out, version, 4);
    tb_le(out, 0, 4);
}

/* One block of recs[0..n) (same field names) encoded independently from
 * docs/prediction-log.md: block header, then the body's arrays, each 8-aligned. */
static void enc_block(tbuf *out, const cairn_plog_record *recs, size_t n, uint32_t damaged)
{
    tbuf b = {0};
    size_t nf = n ? recs[0].n_fields : 0;
    tb_le(&b, n, 4);
    tb_le(&b, nf, 4);
    tb_le(&b, damaged, 4);
    tb_le(&b, 0, 4);
    for (size_t i = 0; i < n; i++)
        tb_le(&b, (uint64_t)recs[i].time_us, 8);
    for (size_t i = 0; i < n; i++)
        tb_f64(&b, recs[i].score);
    for (size_t i = 0; i < n; i++)
        tb_f64(&b, recs[i].latency_us);
    for (size_t i = 0; i < n; i++)
        tb_le(&b, recs[i].flags, 4);
    tb_pad8(&b);
    for (size_t i = 0; i < n; i++)
        tb_le(&b, (uint32_t)recs[i].version, 4);
    tb_pad8(&b);
    tstr *v = calloc(n ? n : 1, sizeof *v);
    for (int k = 0; k < 5; k++) {
        for (size_t i = 0; i < n; i++) {
            const cairn_plog_record *r = &recs[i];
            const char *s = nz(k == 0   ? r->request_id
                               : k == 1 ? r->entity
                               : k == 2 ? r->model
                               : k == 3 ? r->alias
                                        : r->label);
            v[i] = (tstr){s, strlen(s)};
        }
        tb_strcol(&b, v, n);
    }
    bool has[16] = {0};
    assert_true(nf <= 16);
    for (size_t c = 0; c < nf; c++) {
        const char *name = recs[0].fields[c].name;
        for (size_t i = 0; i < n; i++) {
            assert_string_equal(recs[i].fields[c].name, name);
            has[c] = has[c] || recs[i].fields[c].kind == CAIRN_VALUE_STRING;
        }
        tb_le(&b, strlen(name), 4);
        tb_le(&b, has[c], 4);
        tb_put(&b, name, strlen(name) + 1);
        tb_pad8(&b);
    }
    for (size_t c = 0; c < nf; c++) {
        for (size_t i = 0; i < n; i++) {
            uint8_t kb = kind_byte(recs[i].fields[c].kind);
            tb_put(&b, &kb, 1);
        }
        tb_pad8(&b);
        for (size_t i = 0; i < n; i++) {
            const cairn_field *f = &recs[i].fields[c];
            tb_f64(&b, f->kind == CAIRN_VALUE_NUMBER ? f->num
                       : f->kind == CAIRN_VALUE_BOOL ? (f->b ? 1.0 : 0.0)
                                                     : 0.0);
        }
        if (has[c]) {
            for (size_t i = 0; i < n; i++) {
                const cairn_field *f = &recs[i].fields[c];
                bool s = f->kind == CAIRN_VALUE_STRING && f->str_len;
                v[i] = (tstr){s ? f->str : "", s ? f->str_len : 0};
            }
            tb_strcol(&b, v, n);
        }
    }
    free(v);
    tb_le(out, 0x42504C43u, 4);
    tb_le(out, b.n, 4);
    tb_le(out, XXH64(b.p, b.n, 0), 8);
    tb_put(out, b.p, b.n);
    free(b.p);
}

/* The decompressed bytes of a .zst file, decoded frame by frame: ends[k] is where frame
 * k's output ends. Every frame must be without a zstd content checksum (the frame
 * header descriptor's bit 2, RFC 8878 3.1.1.1.1). */
static uint8_t *unzst(const char *path, size_t *n, size_t *ends, size_t max_ends,
                      size_t *n_frames)
{
    size_t zn;
    char *z = read_all(path, &zn);
    tbuf out = {0};
    size_t pos = 0, k = 0;
    ZSTD_DCtx *d = ZSTD_createDCtx();
    uint8_t *tmp = malloc(1u << 16);
    while (pos < zn) {
        size_t fs = ZSTD_findFrameCompressedSize(z + pos, zn - pos);
        assert_false(ZSTD_isError(fs));
        assert_true(fs >= 5);
        assert_memory_equal(z + pos, "\x28\xb5\x2f\xfd", 4);
        assert_int_equal((uint8_t)z[pos + 4] & 4, 0);
        ZSTD_DCtx_reset(d, ZSTD_reset_session_only);
        ZSTD_inBuffer in = {z + pos, fs, 0};
        size_t ret;
        do {
            ZSTD_outBuffer ob = {tmp, 1u << 16, 0};
            size_t in_before = in.pos;
            ret = ZSTD_decompressStream(d, &ob, &in);
            assert_false(ZSTD_isError(ret));
            assert_true(ob.pos > 0 || in.pos > in_before || ret == 0);
            tb_put(&out, tmp, ob.pos);
        } while (ret != 0);
        assert_int_equal(in.pos, fs);
        if (k < max_ends)
            ends[k] = out.n;
        k++;
        pos += fs;
    }
    ZSTD_freeDCtx(d);
    free(tmp);
    cairn_free(z);
    *n = out.n;
    if (n_frames)
        *n_frames = k;
    return out.p;
}

/* The path of the only .plog.zst in dir. */
static void only_zst(const char *dir, char *path, size_t cap)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    int found = 0;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (strncmp(e->d_name, "seg-", 4) == 0 && n > 9 &&
            strcmp(e->d_name + n - 9, ".plog.zst") == 0) {
            snprintf(path, cap, "%s/%s", dir, e->d_name);
            found++;
        }
    }
    closedir(d);
    assert_int_equal(found, 1);
}

/* Offsets of the blocks in the decompressed bytes of a closed segment; they must tile
 * the bytes after the 16-byte header exactly. */
static size_t find_blocks(const uint8_t *p, size_t n, size_t *off, size_t max)
{
    assert_true(n >= 16);
    assert_memory_equal(p, "CAIRNPLG\x02\0\0\0\0\0\0\0", 16);
    size_t pos = 16, k = 0;
    while (pos < n) {
        assert_true(n - pos >= 16);
        assert_memory_equal(p + pos, "CLPB", 4);
        uint32_t m = (uint32_t)p[pos + 4] | (uint32_t)p[pos + 5] << 8 |
                     (uint32_t)p[pos + 6] << 16 | (uint32_t)p[pos + 7] << 24;
        if (k < max)
            off[k] = pos;
        k++;
        pos += 16 + (size_t)m;
    }
    assert_int_equal(pos, n);
    return k;
}

static uint64_t rd_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* Recomputes the checksum of the block at off (its length as written). */
static void rehash_block(uint8_t *p, size_t off)
{
    size_t m = (size_t)rd_le(p + off + 4, 4);
    le(p + off + 8, XXH64(p + off + 16, m, 0), 8);
}

/* A visitor expecting the records of an array in order. */
typedef struct arr_check {
    const cairn_plog_record *r;
    size_t i;
} arr_check;

static int visit_arr(void *ctx, const cairn_plog_entry *e)
{
    arr_check *c = ctx;
    assert_entry_is(e, &c->r[c->i]);
    c->i++;
    return 0;
}

/* Records written with compression on: the decompressed .plog.zst is byte for byte the
 * segment header (version 2) and the blocks encoded above from the documentation, each
 * in a zstd frame of its own. */
static void test_format_v2_bytes(void **state)
{
    fixture *fx = *state;
    cairn_field f[4][4] = {
        {{.name = "age", .kind = CAIRN_VALUE_NUMBER, .num = 42.5},
         {.name = "note", .kind = CAIRN_VALUE_STRING, .str = "a\0b", .str_len = 3},
         {.name = "vip", .kind = CAIRN_VALUE_BOOL, .b = 1},
         {.name = "gone", .kind = CAIRN_VALUE_NULL}},
        {{.name = "age", .kind = CAIRN_VALUE_NUMBER, .num = 7},
         {.name = "note", .kind = CAIRN_VALUE_NULL},
         {.name = "vip", .kind = CAIRN_VALUE_BOOL, .b = 0},
         {.name = "gone", .kind = CAIRN_VALUE_NULL}},
        {{.name = "age", .kind = CAIRN_VALUE_NUMBER, .num = -0.0},
         {.name = "note", .kind = CAIRN_VALUE_STRING, .str = NULL, .str_len = 0},
         {.name = "vip", .kind = CAIRN_VALUE_NULL},
         {.name = "gone", .kind = CAIRN_VALUE_NULL}},
        {{.name = "age", .kind = CAIRN_VALUE_NUMBER, .num = 1e308},
         {.name = "note", .kind = CAIRN_VALUE_NUMBER, .num = 5},
         {.name = "vip", .kind = CAIRN_VALUE_BOOL, .b = 1},
         {.name = "gone", .kind = CAIRN_VALUE_NULL}},
    };
    cairn_field g[2][1] = {{{.name = "x", .kind = CAIRN_VALUE_STRING, .str = "hi", .str_len = 2}},
                           {{.name = "x", .kind = CAIRN_VALUE_BOOL, .b = 0}}};
    cairn_plog_record r[8] = {
        {.time_us = 1000, .request_id = "req-1", .entity = NULL, .model = "m", .version = 3,
         .alias = "canary", .fields = f[0], .n_fields = 4, .score = 0.75, .label = "yes",
         .latency_us = 99.0, .flags = CAIRN_PLOG_SHADOW},
        {.time_us = -5, .request_id = NULL, .entity = "e1", .model = "m", .version = -1,
         .alias = "", .fields = f[1], .n_fields = 4, .score = NAN, .label = NULL,
         .latency_us = 0, .flags = CAIRN_PLOG_BATCH | CAIRN_PLOG_REJECTED},
        {.time_us = 1002, .request_id = "req-3", .entity = "ent\xc3\xa9", .model = "m",
         .alias = "production", .fields = f[2], .n_fields = 4, .score = INFINITY,
         .label = "no", .latency_us = 1.25},
        {.time_us = 1003, .request_id = "req-4", .model = "m2", .alias = "shadow",
         .fields = f[3], .n_fields = 4, .score = -1e-310, .latency_us = 3},
        {.time_us = 1004, .request_id = "req-5", .entity = "e5", .model = "m", .alias = "",
         .fields = g[0], .n_fields = 1, .score = 1, .label = "yes"},
        {.time_us = 1005, .model = "m", .alias = "", .fields = g[1], .n_fields = 1,
         .score = 2},
        {.time_us = 1006, .request_id = "req-7", .model = "m", .alias = "fallback",
         .score = 0.5, .label = "no"},
        {.time_us = 1007, .model = "", .alias = "", .score = 2, .flags = CAIRN_PLOG_DROPS},
    };
    cairn_plog_opts o;
    opts_for(&o, fx->home);
    cairn_plog *l = NULL;
    assert_int_equal(cairn_plog_open(&o, &l, NULL), CAIRN_OK);
    for (int i = 0; i < 8; i++)
        assert_int_equal(cairn_plog_append(l, &r[i]), CAIRN_OK);
    assert_int_equal(cairn_plog_close(l, NULL), CAIRN_OK);
    seg_list s = list_segments(fx->home);
    assert_int_equal(s.plog, 0);
    assert_int_equal(s.zst, 1);

    tbuf want = {0};
    enc_seg_header(&want, 2);
    size_t want_ends[4];
    want_ends[0] = want.n;
    enc_block(&want, r, 4, 0);
    want_ends[1] = want.n;
    enc_block(&want, r + 4, 2, 0);
    want_ends[2] = want.n;
    enc_block(&want, r + 6, 2, 0);
    want_ends[3] = want.n;
    /* A few bytes pinned by hand, so that the encoder above is itself checked: block 1
     * starts right after the header with its magic and n = 4, f = 4, damaged 0, 0. */
    assert_memory_equal(want.p + 16, "CLPB", 4);
    assert_memory_equal(want.p + 32, "\4\0\0\0\4\0\0\0\0\0\0\0\0\0\0\0", 16);
    assert_int_equal(rd_le(want.p + 20, 4) % 8, 0);

    char path[1024];
    only_zst(fx->home, path, sizeof path);
    size_t n, ends[8], frames;
    uint8_t *got = unzst(path, &n, ends, 8, &frames);
    assert_int_equal(frames, 4);   /* the header, then one frame per block */
    assert_int_equal(n, want.n);
    assert_memory_equal(got, want.p, n);
    for (int k = 0; k < 4; k++)
        assert_int_equal(ends[k], want_ends[k]);

    /* And the records read back as appended, through the file and the buffer. */
    for (int pass = 0; pass < 2; pass++) {
        cairn_plog_read_stats st = {0};
        arr_check c = {.r = r};
        if (pass == 0)
            assert_int_equal(cairn_plog_read(fx->home, visit_arr, &c, &st, NULL), CAIRN_OK);
        else
            assert_int_equal(cairn_plog_parse_buffer(got, n, visit_arr, &c, &st), CAIRN_OK);
        assert_int_equal(c.i, 8);
        assert_int_equal(st.records, 8);
        assert_int_equal(st.bad_records, 0);
    }
    free(got);
    free(want.p);
}

/* ---- a long mixed log through blocks ----------------------------------------------------- */

enum { MIX_N = 9500, MIX_BIG = 6000, MIX_BIG_BYTES = 3u << 20 };

typedef struct mrec {
    char rid[24], ent[24], model[8], txt[32];
    cairn_field f[4];
    cairn_plog_record r;
} mrec;

/* Which field names record i has: 0 none (also the drop markers), 1 num/txt/flag/nil,
 * 2 num/txt, 3 txt/num. Runs of one set longer than 4,096 records, runs of a few, and
 * a reordering. */
static int mix_set(uint64_t i)
{
    if (i == 5100 || i == 7500)
        return 0;
    if (i < 5000)
        return 1;
    if (i < 5200)
        return 0;
    if (i < 7000)
        return 2;
    return (i / 3) % 2 ? 3 : 1;
}

static void mix_rec(mrec *t, uint64_t i, const char *big)
{
    static const char *aliases[] = {"production", "canary", "shadow", "", "fallback"};
    memset(t, 0, sizeof *t);
    cairn_plog_record *r = &t->r;
    r->time_us = 1700000000000000LL + (int64_t)i * 1000;
    if (i == 5100 || i == 7500) {
        /* Like the writer's own drop marker: no model, no fields, score = a count. */
        r->model = "";
        r->alias = "";
        r->score = (double)(i % 13 + 1);
        r->flags = CAIRN_PLOG_DROPS;
        return;
    }
    snprintf(t->rid, sizeof t->rid, "r%llu", (unsigned long long)i);
    snprintf(t->ent, sizeof t->ent, "e-%llu", (unsigned long long)(i % 101));
    snprintf(t->model, sizeof t->model, "m%d", (int)(i % 3));
    r->request_id = i % 9 == 0 ? NULL : t->rid;
    r->entity = i % 4 == 0 ? NULL : t->ent;
    r->model = t->model;
    r->alias = aliases[i % 5];
    r->label = i % 3 == 0 ? NULL : i % 2 ? "yes" : "no";
    r->version = (int)(i % 5) - 1;
    r->flags = (uint32_t)(i % 3);
    r->score = i % 17 == 0 ? NAN : i % 19 == 0 ? INFINITY : i % 23 == 0 ? -INFINITY
                                                                         : (double)i / 7.0;
    r->latency_us = (double)i * 1.5;
    double num = i % 29 == 0 ? -0.0 : i % 31 == 0 ? 4.9e-324 : (double)i * 0.25 - 100;
    int set = mix_set(i);
    cairn_field *num_f = NULL, *txt_f = NULL;
    if (set == 1) {
        num_f = &t->f[0];
        txt_f = &t->f[1];
        t->f[2].name = "flag";
        t->f[2].kind = i % 13 == 0 ? CAIRN_VALUE_NULL : CAIRN_VALUE_BOOL;
        t->f[2].b = (int)(i % 2);
        t->f[3].name = "nil";
        t->f[3].kind = CAIRN_VALUE_NULL;
        r->n_fields = 4;
    } else if (set == 2) {
        num_f = &t->f[0];
        txt_f = &t->f[1];
        r->n_fields = 2;
    } else if (set == 3) {
        txt_f = &t->f[0];
        num_f = &t->f[1];
        r->n_fields = 2;
    }
    if (num_f) {
        num_f->name = "num";
        num_f->kind = CAIRN_VALUE_NUMBER;
        num_f->num = num;
        if (set == 1 && i >= 2000 && i < 2100)
            num_f->kind = CAIRN_VALUE_NULL;
        if (set == 3 && i % 5 == 0) {
            num_f->kind = CAIRN_VALUE_BOOL;
            num_f->b = 1;
        }
    }
    if (txt_f) {
        txt_f->name = "txt";
        if (set == 1) {
            int len = snprintf(t->txt, sizeof t->txt, "t?%llu", (unsigned long long)i);
            t->txt[1] = '\0';   /* a NUL inside the value */
            txt_f->kind = i % 11 == 0 ? CAIRN_VALUE_NULL : CAIRN_VALUE_STRING;
            txt_f->str = i % 7 == 0 ? NULL : t->txt;
            txt_f->str_len = i % 7 == 0 ? 0 : (size_t)len;
        } else if (set == 2 && i < MIX_BIG) {
            txt_f->kind = i % 10 == 0 ? CAIRN_VALUE_NULL : CAIRN_VALUE_BOOL;
            txt_f->b = (int)(i % 2);
        } else if (set == 2 && i == MIX_BIG) {
            txt_f->kind = CAIRN_VALUE_STRING;
            txt_f->str = big;
            txt_f->str_len = MIX_BIG_BYTES;
        } else if (set == 2) {
            txt_f->kind = CAIRN_VALUE_NUMBER;
            txt_f->num = (double)i;
        } else {
            int len = snprintf(t->txt, sizeof t->txt, "c%llu", (unsigned long long)i);
            txt_f->kind = CAIRN_VALUE_STRING;
            txt_f->str = t->txt;
            txt_f->str_len = (size_t)len;
        }
    }
    r->fields = r->n_fields ? t->f : NULL;
}

static char *mix_big(void)
{
    char *big = malloc(MIX_BIG_BYTES);
    assert_non_null(big);
    for (size_t k = 0; k < MIX_BIG_BYTES; k++)
        big[k] = (char)(k % 251);   /* every byte value but a few, NULs included */
    return big;
}

typedef struct mix_check {
    const char *big;
    uint64_t next;
    size_t blocks, block_n[4096];
    int seen_all_num[2], seen_str_end[2];   /* [false], [true] */
    uint64_t record_calls, block_calls;
} mix_check;

static int visit_mix(void *ctx, const cairn_plog_entry *e)
{
    mix_check *c = ctx;
    mrec t;
    assert_true(c->next < MIX_N);
    mix_rec(&t, c->next, c->big);
    assert_entry_is(e, &t.r);
    c->next++;
    c->record_calls++;
    return 0;
}

static int visit_mix_block(void *ctx, const cairn_plog_block *b)
{
    mix_check *c = ctx;
    c->block_calls++;
    assert_true(b->n >= 1 && b->n <= 4096);
    assert_true(c->blocks < CAIRN_ARRAY_LEN(c->block_n));
    c->block_n[c->blocks++] = b->n;
    assert_non_null(b->segment);
    for (size_t k = 0; k < b->n_fields; k++) {
        const cairn_plog_column *col = &b->fields[k];
        assert_int_equal(col->name_len, strlen(col->name));
        bool all = true, any_str = false;
        for (size_t i = 0; i < b->n; i++) {
            all = all && col->kind[i] == CAIRN_VALUE_NUMBER;
            any_str = any_str || col->kind[i] == CAIRN_VALUE_STRING;
        }
        assert_int_equal(col->all_numbers, all);
        assert_int_equal(col->str_end == NULL, !any_str);
        c->seen_all_num[all]++;
        c->seen_str_end[col->str_end != NULL]++;
        if (col->str_end) {
            for (size_t i = 0; i < b->n; i++)
                assert_int_equal(col->str[col->str_end[i] - 1], '\0');
        }
    }
    /* Each record reassembled from the columns, against the appended one. */
    cairn_field f[4];
    assert_true(b->n_fields <= 4);
    for (size_t i = 0; i < b->n; i++) {
        cairn_plog_entry e;
        cairn_plog_block_entry(b, i, &e);
        assert_null(e.fields);
        assert_int_equal(e.n_fields, 0);
        assert_ptr_equal(e.segment, b->segment);
        for (size_t k = 0; k < b->n_fields; k++)
            cairn_plog_block_field(b, k, i, &f[k]);
        e.fields = b->n_fields ? f : NULL;
        e.n_fields = b->n_fields;
        mrec t;
        assert_true(c->next < MIX_N);
        mix_rec(&t, c->next, c->big);
        assert_entry_is(&e, &t.r);
        c->next++;
    }
    return 0;
}

static int visit_never(void *ctx, const cairn_plog_entry *e)
{
    (void)ctx;
    (void)e;
    fail_msg("a record callback where blocks were expected");
    return 1;
}

static int visit_block_never(void *ctx, const cairn_plog_block *b)
{
    (void)ctx;
    (void)b;
    fail_msg("a block callback on a segment of records");
    return 1;
}

/* The block sizes the documented rules give: a new block when the field names change,
 * at 4,096 records, and after the block passed about 1 MiB (only the 3 MiB record's). */
static size_t mix_expected_blocks(size_t *sizes, size_t cap)
{
    size_t k = 0, n = 0;
    for (uint64_t i = 0; i < MIX_N; i++) {
        if (n > 0 && (n == 4096 || mix_set(i) != mix_set(i - 1) || i - 1 == MIX_BIG)) {
            assert_true(k < cap);
            sizes[k++] = n;
            n = 0;
        }
        n++;
    }
    assert_true(k < cap);
    sizes[k++] = n;
    return k;
}

static void mix_write(const char *dir, bool compress, const char *big)
{
    cairn_plog_opts o;
    opts_for(&o, dir);
    o.no_compress = !compress;
    o.ring_bytes = 64u << 20;
    o.wait_ms = 60000;
    cairn_plog *l = NULL;
    assert_int_equal(cairn_plog_open(&o, &l, NULL), CAIRN_OK);
    for (uint64_t i = 0; i < MIX_N; i++) {
        mrec t;
        mix_rec(&t, i, big);
        assert_int_equal(cairn_plog_append(l, &t.r), CAIRN_OK);
    }
    cairn_plog_counters cn;
    cairn_plog_get_counters(l, &cn);
    assert_int_equal(cn.dropped, 0);
    assert_int_equal(cairn_plog_close(l, NULL), CAIRN_OK);
    seg_list s = list_segments(dir);
    assert_int_equal(s.plog, compress ? 0 : 1);
    assert_int_equal(s.zst, compress ? 1 : 0);
}

/* A long mixed log read back with compression on equals what was appended (and so what
 * the same appends read back as without compression), through a record visitor and
 * through a block visitor; blocks split as documented. */
static void test_roundtrip_blocks(void **state)
{
    fixture *fx = *state;
    char *big = mix_big();
    char dir_z[700], dir_p[700];
    snprintf(dir_z, sizeof dir_z, "%s/z", fx->dir);
    snprintf(dir_p, sizeof dir_p, "%s/p", fx->dir);
    mix_write(dir_z, true, big);
    mix_write(dir_p, false, big);

    static mix_check c;   /* large: keep it off the stack */
    const char *dirs[2] = {dir_p, dir_z};
    for (int d = 0; d < 2; d++) {
        /* Record visitor. */
        memset(&c, 0, sizeof c);
        c.big = big;
        cairn_plog_read_stats st;
        assert_int_equal(cairn_plog_read(dirs[d], visit_mix, &c, &st, NULL), CAIRN_OK);
        assert_int_equal(c.next, MIX_N);
        assert_int_equal(st.records, MIX_N);
        assert_int_equal(st.bad_records, 0);
        assert_int_equal(st.segments, 1);
        /* Block visitor (and a record visitor that a closed segment must not call; a
         * segment of records must not call the block visitor). */
        memset(&c, 0, sizeof c);
        c.big = big;
        cairn_plog_visitor v = {.record = d ? visit_never : visit_mix,
                                .block = d ? visit_mix_block : visit_block_never, .ctx = &c};
        assert_int_equal(cairn_plog_read_visit(dirs[d], 0, 1, &v, &st, NULL), CAIRN_OK);
        assert_int_equal(c.next, MIX_N);
        assert_int_equal(st.records, MIX_N);
        assert_int_equal(st.bad_records, 0);
        assert_int_equal(st.segments, 1);
    }
    /* The blocks of the closed segment, as the documented rules split them. */
    static size_t want[4096];
    size_t nb = mix_expected_blocks(want, CAIRN_ARRAY_LEN(want));
    assert_int_equal(c.blocks, nb);
    for (size_t k = 0; k < nb; k++)
        assert_int_equal(c.block_n[k], want[k]);
    assert_int_equal(c.block_n[0], 4096);
    /* Every case of the column flags happened. */
    assert_true(c.seen_all_num[0] > 0 && c.seen_all_num[1] > 0);
    assert_true(c.seen_str_end[0] > 0 && c.seen_str_end[1] > 0);
    /* The file: one zstd frame for the header and one per block. */
    char path[1024];
    only_zst(dir_z, path, sizeof path);
    size_t n, frames;
    uint8_t *got = unzst(path, &n, NULL, 0, &frames);
    assert_int_equal(frames, nb + 1);
    assert_int_equal(find_blocks(got, n, NULL, 0), nb);
    free(got);
    free(big);
}

/* ---- damage carried through compression ------------------------------------------------- */

/* Record i of b with its fields (at most 8) in f. */
static void block_record(const cairn_plog_block *b, size_t i, cairn_plog_entry *e, cairn_field *f)
{
    cairn_plog_block_entry(b, i, e);
    assert_true(b->n_fields <= 8);
    for (size_t k = 0; k < b->n_fields; k++)
        cairn_plog_block_field(b, k, i, &f[k]);
    e->fields = b->n_fields ? f : NULL;
    e->n_fields = b->n_fields;
}

static int count_blocks(void *ctx, const cairn_plog_block *b)
{
    seq_check *c = ctx;
    for (size_t i = 0; i < b->n; i++) {
        cairn_plog_entry e;
        cairn_field f[8];
        block_record(b, i, &e, f);
        visit_seq(c, &e);
    }
    return 0;
}

/* raw[0..n) left in dir as a crashed writer's segment: read it, let a log open and close
 * on dir (which compresses it), read again. The same records (0..want-1 of make_rec(i, 3))
 * and the same bad count both times; the compressed bytes are the header, one block of
 * those records (none when want is 0) and, where the raw reading failed, an empty block
 * marked damaged. */
static void crash_then_compress(fixture *fx, const void *raw, size_t n, uint64_t want,
                                uint64_t bad)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/seg-000001-20240101T000000Z.plog", fx->home);
    write_bytes(path, raw, n);
    seq_check c = {.nf = 3};
    cairn_plog_read_stats st;
    assert_int_equal(cairn_plog_read(fx->home, visit_seq, &c, &st, NULL), CAIRN_OK);
    assert_int_equal(c.next, want);
    assert_int_equal(st.records, want);
    assert_int_equal(st.bad_records, bad);

    cairn_plog_opts o;
    opts_for(&o, fx->home);
    cairn_plog *l = NULL;
    assert_int_equal(cairn_plog_open(&o, &l, NULL), CAIRN_OK);
    assert_int_equal(cairn_plog_close(l, NULL), CAIRN_OK);
    seg_list s = list_segments(fx->home);
    assert_int_equal(s.plog, 0);
    assert_int_equal(s.zst, 1);
    assert_int_equal(s.other, 0);

    c = (seq_check){.nf = 3};
    assert_int_equal(cairn_plog_read(fx->home, visit_seq, &c, &st, NULL), CAIRN_OK);
    assert_int_equal(c.next, want);
    assert_int_equal(st.records, want);
    assert_int_equal(st.bad_records, bad);
    assert_int_equal(st.segments, 1);
    c = (seq_check){.nf = 3};
    cairn_plog_visitor v = {.record = visit_never, .block = count_blocks, .ctx = &c};
    assert_int_equal(cairn_plog_read_visit(fx->home, 0, 1, &v, &st, NULL), CAIRN_OK);
    assert_int_equal(c.next, want);
    assert_int_equal(st.records, want);
    assert_int_equal(st.bad_records, bad);

    tbuf expect = {0};
    enc_seg_header(&expect, 2);
    if (want) {
        trec *t = calloc(want, sizeof *t);
        cairn_plog_record *r = calloc(want, sizeof *r);
        for (uint64_t i = 0; i < want; i++) {
            make_rec(&t[i], i, 3);
            r[i] = t[i].r;
        }
        enc_block(&expect, r, want, 0);
        free(r);
        free(t);
    }
    if (bad)
        enc_block(&expect, NULL, 0, 1);
    char zpath[1024];
    only_zst(fx->home, zpath, sizeof zpath);
    size_t zn;
    uint8_t *got = unzst(zpath, &zn, NULL, 0, NULL);
    assert_int_equal(zn, expect.n);
    assert_memory_equal(got, expect.p, zn);
    free(got);
    free(expect.p);
    unlink(zpath);
}

static void test_damage_compressed(void **state)
{
    fixture *fx = *state;
    size_t len, last;
    size_t off[31];
    char *seg = make_segment_30(fx, &len, &last, off);

    /* Torn tails: anywhere inside the last record, one bad record; between records, none. */
    size_t cuts[] = {0, 1, 7, 16, 17, last / 2, last - 1};
    for (size_t k = 0; k < CAIRN_ARRAY_LEN(cuts); k++)
        crash_then_compress(fx, seg, len - last + cuts[k], 29, cuts[k] ? 1 : 0);
    /* A flipped byte in record 12 (header, payload). */
    char *copy = malloc(len);
    size_t where[] = {1, 6, 12, 20, 40, (off[13] - off[12]) - 1};
    for (size_t w = 0; w < CAIRN_ARRAY_LEN(where); w++) {
        memcpy(copy, seg, len);
        copy[off[12] + where[w]] ^= 0x10;
        crash_then_compress(fx, copy, len, 12, 1);
    }
    /* A damaged record 0, a torn segment header, and an empty file (a clean empty segment). */
    memcpy(copy, seg, len);
    copy[off[0] + 30] ^= 1;
    crash_then_compress(fx, copy, len, 0, 1);
    crash_then_compress(fx, seg, 9, 0, 1);
    crash_then_compress(fx, seg, 0, 0, 0);
    crash_then_compress(fx, seg, len, 30, 0);
    free(copy);
    free(seg);
}

/* ---- tampering with blocks --------------------------------------------------------------- */

/* Records 0..23 in three blocks: 0..9 with 3 fields, 10..13 with 2, 14..23 with 3. */
static size_t t4_nf(uint64_t i)
{
    return i >= 10 && i < 14 ? 2 : 3;
}

typedef struct t4_check {
    uint64_t next;
    double num_10_f1;             /* record 10's field f1 as read */
} t4_check;

static int visit_t4(void *ctx, const cairn_plog_entry *e)
{
    t4_check *c = ctx;
    trec t;
    make_rec(&t, c->next, t4_nf(c->next));
    if (c->next == 10) {
        /* The one value a test may change on purpose. */
        assert_int_equal(e->n_fields, 2);
        assert_int_equal(e->fields[1].kind, CAIRN_VALUE_NUMBER);
        c->num_10_f1 = e->fields[1].num;
        t.f[1].num = e->fields[1].num;
    }
    assert_entry_is(e, &t.r);
    c->next++;
    return 0;
}

static int visit_t4_block(void *ctx, const cairn_plog_block *b)
{
    for (size_t i = 0; i < b->n; i++) {
        cairn_plog_entry e;
        cairn_field f[8];
        cairn_plog_block_entry(b, i, &e);
        for (size_t k = 0; k < b->n_fields; k++)
            cairn_plog_block_field(b, k, i, &f[k]);
        e.fields = b->n_fields ? f : NULL;
        e.n_fields = b->n_fields;
        visit_t4(ctx, &e);
    }
    return 0;
}

/* Where the arrays of a block body lie, found by the documented layout. */
typedef struct blk_map {
    uint32_t n, nf;
    size_t str_end[5], str[5];    /* the five string columns */
    size_t fhdr[8], name[8];      /* per field: its u32 x 2 header, its name */
    size_t kind[8], num[8], fend[8], fstr[8];
    uint32_t has[8];
    size_t used;
} blk_map;

static size_t pad8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

static blk_map map_block(const uint8_t *body, size_t m)
{
    blk_map b = {0};
    b.n = (uint32_t)rd_le(body, 4);
    b.nf = (uint32_t)rd_le(body + 4, 4);
    assert_true(b.nf <= 8);
    size_t pos = 16 + 3 * 8 * (size_t)b.n + 2 * pad8(4 * (size_t)b.n);
    for (int k = 0; k < 5; k++) {
        b.str_end[k] = pos;
        size_t total = b.n ? (size_t)rd_le(body + pos + 4 * (b.n - 1), 4) : 0;
        pos += pad8(4 * (size_t)b.n);
        b.str[k] = pos;
        pos += pad8(total);
    }
    for (uint32_t k = 0; k < b.nf; k++) {
        b.fhdr[k] = pos;
        size_t len = (size_t)rd_le(body + pos, 4);
        b.has[k] = (uint32_t)rd_le(body + pos + 4, 4);
        b.name[k] = pos + 8;
        pos += 8 + pad8(len + 1);
    }
    for (uint32_t k = 0; k < b.nf; k++) {
        b.kind[k] = pos;
        pos += pad8(b.n);
        b.num[k] = pos;
        pos += 8 * (size_t)b.n;
        if (b.has[k]) {
            b.fend[k] = pos;
            size_t total = b.n ? (size_t)rd_le(body + pos + 4 * (b.n - 1), 4) : 0;
            pos += pad8(4 * (size_t)b.n);
            b.fstr[k] = pos;
            pos += pad8(total);
        }
    }
    b.used = pos;
    assert_int_equal(pos, m);
    return b;
}

/* p[0..n) must read as exactly records 0..want-1 with `bad` bad records, through the
 * buffer entry point (aligned and not) and, written to dir as a raw segment, through a
 * record visitor and a block visitor. */
static void t4_expect(const char *dir, const uint8_t *p, size_t n, uint64_t want, uint64_t bad)
{
    uint8_t *mis = malloc(n + 1);
    memcpy(mis + 1, p, n);
    for (int pass = 0; pass < 2; pass++) {
        t4_check c = {0};
        cairn_plog_read_stats st = {0};
        assert_int_equal(cairn_plog_parse_buffer(pass ? mis + 1 : p, n, visit_t4, &c, &st),
                         CAIRN_OK);
        assert_int_equal(c.next, want);
        assert_int_equal(st.records, want);
        assert_int_equal(st.bad_records, bad);
    }
    free(mis);
    char path[1024];
    snprintf(path, sizeof path, "%s/seg-000001-20240101T000000Z.plog", dir);
    write_bytes(path, p, n);
    for (int pass = 0; pass < 2; pass++) {
        t4_check c = {0};
        cairn_plog_read_stats st;
        cairn_plog_visitor v = {.record = pass ? visit_never : visit_t4,
                                .block = pass ? visit_t4_block : NULL, .ctx = &c};
        assert_int_equal(cairn_plog_read_visit(dir, 0, 1, &v, &st, NULL), CAIRN_OK);
        assert_int_equal(c.next, want);
        assert_int_equal(st.records, want);
        assert_int_equal(st.bad_records, bad);
    }
    unlink(path);
}

static void put_f64_at(uint8_t *p, double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    le(p, u, 8);
}

/* The 24 records of the tamper tests, written and compressed (3 blocks); path: the
 * one .zst. */
static void write_t4_log(fixture *fx, char *path, size_t cap)
{
    cairn_plog_opts o;
    opts_for(&o, fx->home);
    cairn_plog *l = NULL;
    assert_int_equal(cairn_plog_open(&o, &l, NULL), CAIRN_OK);
    for (uint64_t i = 0; i < 24; i++)
        append_range(l, i, i + 1, t4_nf(i));
    assert_int_equal(cairn_plog_close(l, NULL), CAIRN_OK);
    only_zst(fx->home, path, cap);
}

static void test_tamper_blocks(void **state)
{
    fixture *fx = *state;
    char path[1024];
    write_t4_log(fx, path, sizeof path);
    size_t n;
    uint8_t *good = unzst(path, &n, NULL, 0, NULL);
    unlink(path);
    char dir[700];
    snprintf(dir, sizeof dir, "%s/raw", fx->dir);
    assert_int_equal(mkdir(dir, 0700), 0);

    size_t off[4];
    assert_int_equal(find_blocks(good, n, off, 4), 3);
    t4_expect(dir, good, n, 24, 0);
    /* Block 2 by the documentation: 4 records, 2 fields; f0 holds strings (record 10's
     * is an empty string), f1 does not: number, null, bool true, number. */
    const size_t b2 = off[1] + 16, m2 = off[2] - b2;
    blk_map bm = map_block(good + b2, m2);
    assert_int_equal(bm.n, 4);
    assert_int_equal(bm.nf, 2);
    assert_int_equal(bm.has[0], 1);
    assert_int_equal(bm.has[1], 0);
    assert_memory_equal(good + b2 + bm.kind[1], "\2\0\1\2", 4);
    assert_memory_equal(good + b2 + bm.kind[0], "\3\2\0\1", 4);

    uint8_t *b = malloc(n + 16);
    /* Bytes flipped in block 2's header and body: block 1 is read, then one bad record. */
    size_t flips[] = {0, 3, 4, 5, 6, 7, 8, 15, 16, 17, 20, 24, 16 + m2 / 2, 16 + m2 - 1};
    for (size_t k = 0; k < CAIRN_ARRAY_LEN(flips); k++) {
        memcpy(b, good, n);
        b[off[1] + flips[k]] ^= 0x20;
        t4_expect(dir, b, n, 10, 1);
    }
    /* The checksum alone recomputed: all records; a number changed with the checksum
     * recomputed is read as changed (so the cases below fail for what they change). */
    memcpy(b, good, n);
    rehash_block(b, off[1]);
    t4_expect(dir, b, n, 24, 0);
    put_f64_at(b + b2 + bm.num[1], 123.5);
    rehash_block(b, off[1]);
    t4_check c = {0};
    assert_int_equal(cairn_plog_parse_buffer(b, n, visit_t4, &c, NULL), CAIRN_OK);
    assert_int_equal(c.next, 24);
    assert_true(c.num_10_f1 == 123.5);
    /* The damage mark on block 2: its records are read, then the segment ends. */
    memcpy(b, good, n);
    b[b2 + 8] = 1;
    rehash_block(b, off[1]);
    t4_expect(dir, b, n, 14, 1);

    /* Structural damage under a valid checksum: the whole block is refused. */
    enum { T_END_EQ, T_END_ZERO, T_END_PAST, T_NO_NUL, T_FEND_LAST, T_FEND_NUL, T_KIND7,
           T_KIND4, T_STR_NO_HAS, T_HAS0, T_HAS2, T_BOOL2, T_BOOL_HALF, T_BOOL_NAN,
           T_RESERVED, T_DAMAGED2, T_N_MORE, T_N_LESS, T_NF_MORE, T_NAME_NUL, T_NAME_LONG,
           T_COUNT };
    for (int t = 0; t < T_COUNT; t++) {
        memcpy(b, good, n);
        uint8_t *body = b + b2;
        const size_t e0 = bm.str_end[0];   /* request_id's end offsets */
        switch (t) {
        case T_END_EQ: memcpy(body + e0 + 4, body + e0, 4); break;
        case T_END_ZERO: le(body + e0, 0, 4); break;
        case T_END_PAST: le(body + e0 + 4, rd_le(body + e0 + 12, 4) + 1, 4); break;
        case T_NO_NUL: body[bm.str[0] + rd_le(body + e0, 4) - 1] = 'x'; break;
        case T_FEND_LAST: le(body + bm.fend[0] + 12, rd_le(body + bm.fend[0] + 12, 4) - 1, 4);
            break;
        case T_FEND_NUL: body[bm.fstr[0]] = 'x'; break;   /* record 10's empty string */
        case T_KIND7: body[bm.kind[0] + 1] = 7; break;
        case T_KIND4: body[bm.kind[1] + 3] = 4; break;
        case T_STR_NO_HAS: body[bm.kind[1] + 1] = 3; break;   /* null -> string in f1 */
        case T_HAS0: le(body + bm.fhdr[0] + 4, 0, 4); break;
        case T_HAS2: le(body + bm.fhdr[1] + 4, 2, 4); break;
        case T_BOOL2: put_f64_at(body + bm.num[1] + 16, 2.0); break;
        case T_BOOL_HALF: put_f64_at(body + bm.num[1] + 16, 0.5); break;
        case T_BOOL_NAN: put_f64_at(body + bm.num[1] + 16, NAN); break;
        case T_RESERVED: body[12] = 1; break;
        case T_DAMAGED2: body[8] = 2; break;
        case T_N_MORE: body[0]++; break;
        case T_N_LESS: body[0]--; break;
        case T_NF_MORE: body[4]++; break;
        case T_NAME_NUL: body[bm.name[0] + 2] = 'x'; break;   /* "f0" then its NUL */
        case T_NAME_LONG: le(body + bm.fhdr[1], 1000, 4); break;
        default: fail();
        }
        rehash_block(b, off[1]);
        t4_expect(dir, b, n, 10, 1);
    }
    /* Body lengths: not a multiple of 8 (4 bytes more), and 8 bytes more than the
     * arrays use, each with its checksum recomputed. */
    for (int extra = 4; extra <= 8; extra += 4) {
        memcpy(b, good, off[2]);
        memset(b + off[2], 0, (size_t)extra);
        memcpy(b + off[2] + extra, good + off[2], n - off[2]);
        le(b + off[1] + 4, m2 + (size_t)extra, 4);
        rehash_block(b, off[1]);
        t4_expect(dir, b, n + (size_t)extra, 10, 1);
    }
    /* A block whose body is shorter than its 16-byte counts, a wrong block magic with a
     * valid checksum, and a record where a block belongs. */
    memcpy(b, good, n);
    le(b + off[1] + 4, 8, 4);
    rehash_block(b, off[1]);
    t4_expect(dir, b, off[1] + 24, 10, 1);
    memcpy(b, good, n);
    memcpy(b + off[1], "CLPR", 4);
    t4_expect(dir, b, n, 10, 1);
    free(b);
    free(good);
}

/* A closed segment whose .zst lost its tail: cut inside block 3's frame, blocks 1 and 2
 * are read and one bad record counted; cut between frames, a clean end after block 2. */
static void test_torn_zst_blocks(void **state)
{
    fixture *fx = *state;
    char path[1024];
    write_t4_log(fx, path, sizeof path);
    size_t zn;
    char *z = read_all(path, &zn);
    size_t fend[4], pos = 0;
    for (int k = 0; k < 4; k++) {
        size_t fs = ZSTD_findFrameCompressedSize(z + pos, zn - pos);
        assert_false(ZSTD_isError(fs));
        pos += fs;
        fend[k] = pos;
    }
    assert_int_equal(pos, zn);
    size_t cuts[] = {fend[2], fend[2] + 1, fend[2] + 6, zn - 1};
    for (size_t k = 0; k < CAIRN_ARRAY_LEN(cuts); k++) {
        write_bytes(path, z, cuts[k]);
        t4_check c = {0};
        cairn_plog_read_stats st;
        assert_int_equal(cairn_plog_read(fx->home, visit_t4, &c, &st, NULL), CAIRN_OK);
        assert_int_equal(c.next, 14);
        assert_int_equal(st.records, 14);
        assert_int_equal(st.bad_records, k == 0 ? 0 : 1);
        c = (t4_check){0};
        cairn_plog_visitor v = {.record = visit_never, .block = visit_t4_block, .ctx = &c};
        assert_int_equal(cairn_plog_read_visit(fx->home, 0, 1, &v, &st, NULL), CAIRN_OK);
        assert_int_equal(c.next, 14);
        assert_int_equal(st.bad_records, k == 0 ? 0 : 1);
    }
    /* Cut inside the header's frame: nothing, one bad record. */
    write_bytes(path, z, fend[0] - 1);
    cairn_plog_read_stats st;
    assert_int_equal(cairn_plog_read(fx->home, NULL, NULL, &st, NULL), CAIRN_OK);
    assert_int_equal(st.records, 0);
    assert_int_equal(st.bad_records, 1);
    cairn_free(z);
}

/* ---- sharded reading and hand-made blocks ------------------------------------------------ */

typedef struct shard_blk {
    uint8_t *seen;
    long last;
    uint64_t from_blocks, from_records;
} shard_blk;

static void shard_blk_one(shard_blk *c, const cairn_plog_entry *e)
{
    long i = (long)((e->time_us - 1700000000000000LL) / 37);
    assert_true(i >= 0 && i < 400 && i > c->last);
    trec t;
    make_rec(&t, (uint64_t)i, (size_t)-1);
    assert_entry_is(e, &t.r);
    c->seen[i]++;
    c->last = i;
}

static int shard_rec(void *ctx, const cairn_plog_entry *e)
{
    shard_blk *c = ctx;
    shard_blk_one(c, e);
    c->from_records++;
    return 0;
}

static int shard_block(void *ctx, const cairn_plog_block *b)
{
    shard_blk *c = ctx;
    for (size_t i = 0; i < b->n; i++) {
        cairn_plog_entry e;
        cairn_field f[8];
        block_record(b, i, &e, f);
        shard_blk_one(c, &e);
        c->from_blocks++;
    }
    return 0;
}

/* Shards 0..2 of 3 with a block visitor: compressed segments come as blocks, the raw
 * segments of a no_compress session as records, every record once. */
static void test_shards_blocks(void **state)
{
    fixture *fx = *state;
    cairn_plog_opts o;
    opts_for(&o, fx->home);
    o.segment_bytes = 3000;
    cairn_plog *l = NULL;
    assert_int_equal(cairn_plog_open(&o, &l, NULL), CAIRN_OK);
    append_range(l, 0, 300, (size_t)-1);
    assert_int_equal(cairn_plog_close(l, NULL), CAIRN_OK);
    o.no_compress = true;
    assert_int_equal(cairn_plog_open(&o, &l, NULL), CAIRN_OK);
    append_range(l, 300, 400, (size_t)-1);
    assert_int_equal(cairn_plog_close(l, NULL), CAIRN_OK);
    seg_list s = list_segments(fx->home);
    assert_true(s.zst >= 6);
    assert_true(s.plog >= 2);

    uint8_t seen[400] = {0};
    uint64_t segs = 0, recs = 0, from_blocks = 0, from_records = 0;
    for (size_t k = 0; k < 3; k++) {
        shard_blk c = {.seen = seen, .last = -1};
        cairn_plog_visitor v = {.record = shard_rec, .block = shard_block, .ctx = &c};
        cairn_plog_read_stats st;
        assert_int_equal(cairn_plog_read_visit(fx->home, k, 3, &v, &st, NULL), CAIRN_OK);
        assert_true(st.segments >= 2);
        assert_int_equal(st.bad_records, 0);
        assert_int_equal(st.records, c.from_blocks + c.from_records);
        segs += st.segments;
        recs += st.records;
        from_blocks += c.from_blocks;
        from_records += c.from_records;
    }
    assert_int_equal(segs, (uint64_t)(s.zst + s.plog));
    assert_int_equal(recs, 400);
    assert_int_equal(from_blocks, 300);
    assert_int_equal(from_records, 100);
    for (int i = 0; i < 400; i++)
        assert_int_equal(seen[i], 1);
}

/* Hand-made version-2 segments: empty and damaged blocks, and records and blocks in the
 * wrong kind of segment. */
static void test_blocks_edges(void **state)
{
    (void)state;
    trec t[6];
    cairn_plog_record r[6];
    for (int i = 0; i < 6; i++) {
        make_rec(&t[i], (uint64_t)i, 3);
        r[i] = t[i].r;
    }
    /* A header alone; then blocks of records 0..2, an empty block, records 3..5. */
    tbuf a = {0};
    enc_seg_header(&a, 2);
    seq_check c = {.nf = 3};
    cairn_plog_read_stats st = {0};
    assert_int_equal(cairn_plog_parse_buffer(a.p, a.n, visit_seq, &c, &st), CAIRN_OK);
    assert_int_equal(st.records, 0);
    assert_int_equal(st.bad_records, 0);
    enc_block(&a, r, 3, 0);
    enc_block(&a, NULL, 0, 0);
    enc_block(&a, r + 3, 3, 0);
    assert_int_equal(rd_le(a.p + 16 + 4, 4) % 8, 0);
    memset(&st, 0, sizeof st);
    assert_int_equal(cairn_plog_parse_buffer(a.p, a.n, visit_seq, &c, &st), CAIRN_OK);
    assert_int_equal(c.next, 6);
    assert_int_equal(st.records, 6);
    assert_int_equal(st.bad_records, 0);

    /* A damaged block that holds records: they are read, then the segment ends. */
    tbuf d = {0};
    enc_seg_header(&d, 2);
    enc_block(&d, r, 2, 1);
    enc_block(&d, r + 2, 4, 0);
    c = (seq_check){.nf = 3};
    memset(&st, 0, sizeof st);
    assert_int_equal(cairn_plog_parse_buffer(d.p, d.n, visit_seq, &c, &st), CAIRN_OK);
    assert_int_equal(c.next, 2);
    assert_int_equal(st.records, 2);
    assert_int_equal(st.bad_records, 1);

    /* A block in a version-1 segment, and a version-1 record in a version-2 segment. */
    tbuf w = {0};
    enc_seg_header(&w, 1);
    enc_block(&w, r, 3, 0);
    memset(&st, 0, sizeof st);
    assert_int_equal(cairn_plog_parse_buffer(w.p, w.n, NULL, NULL, &st), CAIRN_OK);
    assert_int_equal(st.records, 0);
    assert_int_equal(st.bad_records, 1);
    uint8_t rec[96];
    uint8_t *p = rec + 16;
    p = le(p, 1, 8);
    p = le(p, 0, 4);
    p = le(p, 0, 4);
    p = le(p, 0, 8);
    p = le(p, 0, 8);
    for (int k = 0; k < 5; k++)
        p = le(p, 0, 4);
    p = le(p, 0, 4);
    size_t plen = (size_t)(p - rec - 16);
    le(rec, 0x52504C43u, 4);
    le(rec + 4, plen, 4);
    le(rec + 8, XXH64(rec + 16, plen, 0), 8);
    tbuf v1 = {0};
    enc_seg_header(&v1, 1);
    tb_put(&v1, rec, 16 + plen);
    memset(&st, 0, sizeof st);
    assert_int_equal(cairn_plog_parse_buffer(v1.p, v1.n, NULL, NULL, &st), CAIRN_OK);
    assert_int_equal(st.records, 1);   /* the record is valid where records belong */
    v1.p[8] = 2;
    memset(&st, 0, sizeof st);
    assert_int_equal(cairn_plog_parse_buffer(v1.p, v1.n, NULL, NULL, &st), CAIRN_OK);
    assert_int_equal(st.records, 0);
    assert_int_equal(st.bad_records, 1);
    /* Version 3 is refused. */
    a.p[8] = 3;
    memset(&st, 0, sizeof st);
    assert_int_equal(cairn_plog_parse_buffer(a.p, a.n, NULL, NULL, &st), CAIRN_OK);
    assert_int_equal(st.records, 0);
    assert_int_equal(st.bad_records, 1);
    free(a.p);
    free(d.p);
    free(w.p);
    free(v1.p);
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
        cmocka_unit_test_setup_teardown(test_ring_waits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flush_durable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_wakes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wide_records, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flipped_byte, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compressed_twin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parse_garbage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_format_v2_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_roundtrip_blocks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damage_compressed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tamper_blocks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_zst_blocks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shards_blocks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_blocks_edges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compress_backlog, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill9, setup, teardown),
        cmocka_unit_test_setup_teardown(test_throughput, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
