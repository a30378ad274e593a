/*
 * plog.c -- the prediction log: a bounded in-memory ring filled by many
 * producer threads, drained by one writer thread into append-only segment
 * files that are fsynced on an interval, rotated by size and age, and
 * compressed with zstd once closed; and the reader that visits the records
 * of every segment back, stopping a segment at its first damaged record.
 *
 * The byte format (segment header, record framing, payload) is documented
 * field by field in docs/prediction-log.md; the constants below are the
 * reference. What a record means (which rows are logged, with which alias)
 * is the server's business; this file only moves bytes durably.
 *
 * Concurrency: one mutex guards the ring indices, the sequence counters and
 * the flush handshake. A producer encodes its record on its own stack (or
 * heap, for a large record) outside the lock, then takes the lock only to
 * wait for room and memcpy the bytes in. The writer reads the bytes between
 * head and head+used without the lock: producers only ever write past that
 * region, and head only moves forward under the lock after the bytes were
 * written out. Counters are C11 atomics so they can be read at any time.
 */
#include "serve/serve.h"

#include "core/core.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

/* ---- the format (docs/prediction-log.md) ------------------------------------------------ */

#define WRITE_DELAY_S 0.010          /* a record waits at most this long before its batch is written */
#define WRITE_BATCH_BYTES (128u << 10) /* or until this much is waiting */
#define SEG_MAGIC "CAIRNPLG"                 /* 8 bytes at offset 0 of every segment */
#define SEG_VERSION 1u
#define SEG_HEADER_BYTES 16u                 /* magic, u32 version, u32 flags (0) */
#define REC_MAGIC 0x52504C43u                /* "CLPR" as little-endian bytes: C L P R */
#define REC_HEADER_BYTES 16u                 /* u32 magic, u32 payload length, u64 xxh64 */
#define REC_FIXED_BYTES 32u                  /* time_us, flags, version, score, latency_us */
#define REC_MAX_PAYLOAD (64u << 20)          /* larger records are refused and read as bad */
#define REC_HASH_SEED 0u
#define SEG_VERSION_BLOCKS 2u                /* a closed segment: blocks of columns */
#define BLK_MAGIC 0x42504C43u                /* "CLPB" as little-endian bytes */
#define BLK_HEADER_BYTES 16u                 /* u32 magic, u32 body length, u64 xxh64 */
/* A block's body: a writer closes a block at about 1 MiB, and one record can grow about
 * 6.4 times from the record format to a block of its own (a null field with an empty
 * name: 5 bytes as a record, 32 in a block), so 7 times the largest record plus room. */
#define BLK_MAX_BODY (7u * REC_MAX_PAYLOAD + (4u << 20))
#define BLK_MAX_RECORDS 4096u                /* a writer closes a block at this many records */
#define BLK_TARGET_BYTES (1u << 20)          /* or once its body passes this size */
#define ZIN_BYTES (4u << 20)                 /* a reader's buffer of compressed bytes */
#define READ_BYTES (4u << 20)                /* a reader's first buffer of segment bytes */

/* Blocks hand out their columns as arrays of the file's little-endian numbers. */
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the prediction log's block reader needs a little-endian machine"
#endif

/* Field kinds on disk are the cairn_value_kind numbers, pinned here so that a change of
 * the enum cannot silently change the format. */
enum { KIND_NULL = 0, KIND_BOOL = 1, KIND_NUMBER = 2, KIND_STRING = 3 };

#define SEG_PREFIX "seg-"
#define SEG_SUFFIX ".plog"
#define SEG_ZSUFFIX ".plog.zst"
#define ZSTD_LEVEL 1
#define COMPRESS_BACKLOG 8                   /* default cairn_plog_opts.compress_backlog */
#define STACK_RECORD_BYTES 4096              /* records up to this size encode on the stack */

/* ---- little-endian encoding helpers --------------------------------------------------- */

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)p[i] << (8 * i);
    return v;
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static uint64_t f64_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static double bits_f64(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

/* ---- encoding ---------------------------------------------------------------------------- */

/* Adds n to *acc; false when the sum overflows or passes the payload limit. */
static bool add_len(size_t *acc, size_t n)
{
    if (__builtin_add_overflow(*acc, n, acc))
        return false;
    return *acc <= REC_MAX_PAYLOAD;
}

/* String lengths payload_size measures once for encode_record: the record's five
 * strings, then the first LEN_CACHE - 5 field names. */
#define LEN_CACHE 69
typedef struct rec_lens {
    size_t n[LEN_CACHE];
} rec_lens;

/* The payload size of r, or 0 when it exceeds REC_MAX_PAYLOAD (a payload is never 0);
 * fills *lens. */
static size_t payload_size(const cairn_plog_record *r, rec_lens *lens)
{
    size_t n = REC_FIXED_BYTES;
    const char *strs[5] = {r->request_id, r->entity, r->model, r->alias, r->label};
    for (int i = 0; i < 5; i++) {
        lens->n[i] = strs[i] ? strlen(strs[i]) : 0;
        if (!add_len(&n, 4) || !add_len(&n, lens->n[i]))
            return 0;
    }
    if (!add_len(&n, 4))
        return 0;
    for (size_t i = 0; i < r->n_fields; i++) {
        const cairn_field *f = &r->fields[i];
        size_t len = f->name ? strlen(f->name) : 0;
        if (i < LEN_CACHE - 5)
            lens->n[5 + i] = len;
        if (!add_len(&n, 4 + 1) || !add_len(&n, len))
            return 0;
        switch (f->kind) {
        case CAIRN_VALUE_BOOL:
            if (!add_len(&n, 1))
                return 0;
            break;
        case CAIRN_VALUE_NUMBER:
            if (!add_len(&n, 8))
                return 0;
            break;
        case CAIRN_VALUE_STRING:
            if (!add_len(&n, 4) || !add_len(&n, f->str ? f->str_len : 0))
                return 0;
            break;
        default:
            break;
        }
    }
    return n;
}

static uint8_t *put_str(uint8_t *p, const char *s, size_t len)
{
    put_u32(p, (uint32_t)len);
    if (len)
        memcpy(p + 4, s, len);
    return p + 4 + len;
}

/* Writes header + payload (REC_HEADER_BYTES + plen bytes) of r into out, with the
 * lengths payload_size found. */
static void encode_record(const cairn_plog_record *r, size_t plen, const rec_lens *lens,
                          uint8_t *out)
{
    uint8_t *p = out + REC_HEADER_BYTES;
    put_u64(p, (uint64_t)r->time_us);
    put_u32(p + 8, r->flags);
    put_u32(p + 12, (uint32_t)r->version);
    put_u64(p + 16, f64_bits(r->score));
    put_u64(p + 24, f64_bits(r->latency_us));
    p += REC_FIXED_BYTES;
    const char *strs[5] = {r->request_id, r->entity, r->model, r->alias, r->label};
    for (int i = 0; i < 5; i++)
        p = put_str(p, strs[i], lens->n[i]);
    put_u32(p, (uint32_t)r->n_fields);
    p += 4;
    for (size_t i = 0; i < r->n_fields; i++) {
        const cairn_field *f = &r->fields[i];
        p = put_str(p, f->name,
                    i < LEN_CACHE - 5 ? lens->n[5 + i] : f->name ? strlen(f->name) : 0);
        switch (f->kind) {
        case CAIRN_VALUE_BOOL:
            *p++ = KIND_BOOL;
            *p++ = f->b ? 1 : 0;
            break;
        case CAIRN_VALUE_NUMBER:
            *p++ = KIND_NUMBER;
            put_u64(p, f64_bits(f->num));
            p += 8;
            break;
        case CAIRN_VALUE_STRING:
            *p++ = KIND_STRING;
            p = put_str(p, f->str, f->str ? f->str_len : 0);
            break;
        default:
            *p++ = KIND_NULL;
            break;
        }
    }
    const uint8_t *payload = out + REC_HEADER_BYTES;
    put_u32(out, REC_MAGIC);
    put_u32(out + 4, (uint32_t)plen);
    put_u64(out + 8, XXH64(payload, plen, REC_HASH_SEED));
}

/* ---- the handle ---------------------------------------------------------------------------- */

struct cairn_plog {
    /* settings */
    char *dir;
    size_t segment_bytes;
    double segment_seconds, flush_seconds, wait_ms;
    bool no_compress;
    size_t compress_backlog;
    int lock_fd;                  /* flock'ed dir/.lock: one writer per directory */

    pthread_mutex_t mu;
    pthread_cond_t not_empty;     /* writer waits for records, a flush request or stop */
    pthread_cond_t not_full;      /* producers wait for room */
    pthread_cond_t synced_cv;     /* flushers wait for synced to pass their target */
    pthread_t thread;
    bool thread_started;

    /* guarded by mu */
    uint8_t *ring;
    size_t cap, head, used;
    bool writer_waiting;
    bool writer_polling;   /* waiting at most WRITE_DELAY_S with nothing pending: traffic
                            * is flowing, so the first record of a batch need not wake it */
    double first_pending;         /* when the ring last went from empty to not empty */
    size_t batch_bytes;           /* wake the writer early once this much is waiting */
    int full_waiters;
    bool stopping;
    unsigned flush_req;
    uint64_t accepted;            /* records put into the ring, in ring order */
    uint64_t processed;           /* records taken out of the ring (written or lost) */
    uint64_t synced;              /* processed records known fsynced (or lost) */
    cairn_error first_err;        /* the first write error (code CAIRN_OK: none yet) */
    cairn_error last_err;         /* the latest (code CAIRN_OK: none yet) */

    /* writer thread only */
    int seg_fd;
    char seg_name[96];
    uint64_t next_seq, first_seq;
    uint64_t seg_size, seg_records;
    double seg_opened, last_sync;
    double retry_at;              /* after a failed write, no new segment before this */
    bool dirty;
    uint64_t drops_marked;        /* dropped records already reported by a marker record */

    /* the compressor threads (compressor_idle_main, compressor_backlog_main) and the closed
     * segments waiting for them, guarded by zmu */
    pthread_mutex_t zmu;
    pthread_cond_t z_cv;          /* broadcast: the queue grew, a segment was handed back, stop */
    pthread_t z_idle, z_backlog;
    bool z_idle_started, z_backlog_started;
    bool z_stop;
    bool z_idle_busy, z_backlog_busy;   /* each thread: compressing a segment now */
    atomic_bool z_abort;          /* set at close: the idle thread hands its segment back */
    char *z_handback;             /* a segment the idle thread gave up at close */
    char **zq;                    /* names of closed segments, oldest first */
    size_t zq_n, zq_cap;

    /* counters */
    _Atomic uint64_t c_appended, c_written, c_dropped, c_bytes, c_segments, c_fsyncs,
        c_write_errors, c_waits;
    _Atomic uint64_t c_ring_peak;  /* most ring bytes in use at once (stored under mu) */
    _Atomic uint64_t c_backlog_compressions; /* by the backlog thread before close */
};

static struct timespec mono_deadline(double t)
{
    struct timespec ts;
    ts.tv_sec = (time_t)t;
    ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    if (ts.tv_nsec < 0)
        ts.tv_nsec = 0;
    return ts;
}

static void inc(_Atomic uint64_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

void cairn_plog_opts_init(cairn_plog_opts *o)
{
    memset(o, 0, sizeof *o);
}

void cairn_plog_get_counters(cairn_plog *l, cairn_plog_counters *c)
{
    memset(c, 0, sizeof *c);
    if (!l)
        return;
    c->appended = atomic_load(&l->c_appended);
    c->written = atomic_load(&l->c_written);
    c->dropped = atomic_load(&l->c_dropped);
    c->bytes = atomic_load(&l->c_bytes);
    c->segments = atomic_load(&l->c_segments);
    c->fsyncs = atomic_load(&l->c_fsyncs);
    c->write_errors = atomic_load(&l->c_write_errors);
    c->waits = atomic_load(&l->c_waits);
    c->ring_peak = atomic_load(&l->c_ring_peak);
    c->ring_bytes = l->cap;
    pthread_mutex_lock(&l->zmu);
    c->uncompressed = l->zq_n + (l->z_handback != NULL) + l->z_idle_busy + l->z_backlog_busy;
    c->backlog_compressions = atomic_load(&l->c_backlog_compressions);
    pthread_mutex_unlock(&l->zmu);
}

/* Records a write-path failure: counted always, its message kept when it is the first. */
static void note_error(cairn_plog *l, const cairn_error *e)
{
    cairn_error kept = *e;
    if (kept.code == CAIRN_OK)
        kept.code = CAIRN_EIO;
    inc(&l->c_write_errors, 1);
    pthread_mutex_lock(&l->mu);
    if (l->first_err.code == CAIRN_OK)
        l->first_err = kept;
    l->last_err = kept;
    pthread_mutex_unlock(&l->mu);
}

bool cairn_plog_last_error(cairn_plog *l, cairn_error *e)
{
    pthread_mutex_lock(&l->mu);
    bool any = l->last_err.code != CAIRN_OK;
    if (any)
        *e = l->last_err;
    pthread_mutex_unlock(&l->mu);
    return any;
}

static void note_errno(cairn_plog *l, int errnum, const char *name, const char *what)
{
    cairn_error e = {0};
    cairn_error_errno(&e, errnum, name, what);
    if (e.code != CAIRN_ENOMEM)
        e.code = CAIRN_EIO;
    note_error(l, &e);
}

/* ---- segment names ------------------------------------------------------------------------ */

/* Parses "seg-<digits>-<anything>.plog" or ".plog.zst"; the sequence number is what
 * orders segments (names sort the same way while it has at most 6 digits). */
static bool parse_seg_name(const char *name, uint64_t *seq, bool *zst)
{
    size_t n = strlen(name);
    if (strncmp(name, SEG_PREFIX, 4) != 0)
        return false;
    bool z = n > strlen(SEG_ZSUFFIX) && strcmp(name + n - strlen(SEG_ZSUFFIX), SEG_ZSUFFIX) == 0;
    bool p = n > strlen(SEG_SUFFIX) && strcmp(name + n - strlen(SEG_SUFFIX), SEG_SUFFIX) == 0;
    if (!z && !p)
        return false;
    const char *d = name + 4;
    uint64_t v = 0;
    size_t k = 0;
    while (d[k] >= '0' && d[k] <= '9') {
        if (k >= 18)
            return false;
        v = v * 10 + (uint64_t)(d[k] - '0');
        k++;
    }
    if (k == 0 || d[k] != '-')
        return false;
    *seq = v;
    *zst = z;
    return true;
}

static bool join_path(char *out, size_t cap, const char *dir, const char *name)
{
    int w = snprintf(out, cap, "%s/%s", dir, name);
    return w > 0 && (size_t)w < cap;
}

/* ---- the writer: segments ---------------------------------------------------------------- */

/* Compresses dir/name (a closed .plog) into dir/name.zst durably, then unlinks it
 * (defined with the reader, whose scanner it uses). When *abort turns true (abort may be
 * NULL), it stops at the next block, leaves dir/name as it was and sets *aborted. */
static cairn_status compress_segment(const char *dir, const char *name, const atomic_bool *abort,
                                     bool *aborted, cairn_error *err);

/* fsyncs the current segment; on success everything processed so far is durable. */
static void sync_segment(cairn_plog *l)
{
    pthread_mutex_lock(&l->mu);
    uint64_t upto = l->processed;
    pthread_mutex_unlock(&l->mu);
    if (l->seg_fd >= 0 && l->dirty) {
        if (fsync(l->seg_fd) != 0) {
            note_errno(l, errno, l->seg_name, "fsync failed");
            /* After a failed fsync the page cache may have dropped the dirty pages; do not
             * append more behind them. The next record starts a new segment. */
            close(l->seg_fd);
            l->seg_fd = -1;
        } else {
            inc(&l->c_fsyncs, 1);
        }
        l->dirty = false;
    }
    l->last_sync = cairn_mono_s();
    pthread_mutex_lock(&l->mu);
    if (upto > l->synced)
        l->synced = upto;
    pthread_cond_broadcast(&l->synced_cv);
    pthread_mutex_unlock(&l->mu);
}

/* Compresses name, noting a failure; true unless abort (may be NULL) stopped it first. */
static bool compress_noted(cairn_plog *l, const char *name, const atomic_bool *abort)
{
    cairn_error e = {0};
    bool aborted = false;
    if (compress_segment(l->dir, name, abort, &aborted, &e) != CAIRN_OK)
        note_error(l, &e);
    return !aborted;
}

/* Hands a closed segment to the compressor threads (compressed here when there are none,
 * or no memory to queue it). Compression takes a while (a 64 MiB segment: a second or
 * so); on the writer thread it would stall the ring, and producers would drop records. */
static void queue_compression(cairn_plog *l, const char *name)
{
    char *copy = NULL;
    pthread_mutex_lock(&l->zmu);
    bool queued = false;
    if (l->z_idle_started || l->z_backlog_started) {
        if (l->zq_n == l->zq_cap) {
            size_t nc = l->zq_cap ? 2 * l->zq_cap : 8;
            char **nq = cairn_reallocarray(l->zq, nc, sizeof *nq);
            if (nq) {
                l->zq = nq;
                l->zq_cap = nc;
            }
        }
        if (l->zq_n < l->zq_cap && (copy = cairn_strdup(name))) {
            l->zq[l->zq_n++] = copy;
            queued = true;
            pthread_cond_broadcast(&l->z_cv);
        }
    }
    pthread_mutex_unlock(&l->zmu);
    if (!queued)
        compress_noted(l, name, NULL);
}

/* Closes the current segment (fsync first) and has it compressed unless no_compress. */
static void close_segment(cairn_plog *l)
{
    if (l->seg_fd < 0)
        return;
    sync_segment(l);
    if (l->seg_fd < 0)
        return;
    if (close(l->seg_fd) != 0)
        note_errno(l, errno, l->seg_name, "close failed");
    l->seg_fd = -1;
    if (!l->no_compress)
        queue_compression(l, l->seg_name);
}

/* Creates the next segment: never an existing name (O_EXCL), header written, directory
 * fsynced so the new file itself survives a crash. */
static bool open_segment(cairn_plog *l)
{
    char path[4096];
    for (int attempt = 0; attempt < 1000; attempt++) {
        char stamp[32];
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
        snprintf(l->seg_name, sizeof l->seg_name, SEG_PREFIX "%06llu-%s" SEG_SUFFIX,
                 (unsigned long long)l->next_seq, stamp);
        l->next_seq++;
        if (!join_path(path, sizeof path, l->dir, l->seg_name)) {
            cairn_error e = {0};
            cairn_error_set(&e, CAIRN_EINVAL, l->dir, "path too long");
            note_error(l, &e);
            return false;
        }
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0666);
        if (fd < 0 && errno == EEXIST)
            continue;
        if (fd < 0) {
            note_errno(l, errno, path, "cannot create segment");
            return false;
        }
        uint8_t hdr[SEG_HEADER_BYTES];
        memcpy(hdr, SEG_MAGIC, 8);
        put_u32(hdr + 8, SEG_VERSION);
        put_u32(hdr + 12, 0);
        ssize_t w = write(fd, hdr, sizeof hdr);
        if (w != (ssize_t)sizeof hdr) {
            note_errno(l, w < 0 ? errno : EIO, path, "cannot write segment header");
            close(fd);
            unlink(path);
            l->next_seq--;   /* the name is free again: a full disk burns no numbers */
            return false;
        }
        cairn_error e = {0};
        if (cairn_fsync_dir(l->dir, &e) != CAIRN_OK)
            note_error(l, &e);
        l->seg_fd = fd;
        l->seg_size = SEG_HEADER_BYTES;
        l->seg_records = 0;
        l->seg_opened = cairn_mono_s();
        l->dirty = true;
        inc(&l->c_segments, 1);
        return true;
    }
    cairn_error e = {0};
    cairn_error_set(&e, CAIRN_EIO, l->dir, "no free segment name");
    note_error(l, &e);
    return false;
}

/* After a failed write the writer waits this long before it tries a new segment: records
 * arriving meanwhile are dropped (counted) at once instead of each batch creating and
 * removing a file on a full disk. */
#define RETRY_DELAY_S 0.1

/* The current segment, or a new one unless a failure is too recent: false when there is
 * none to write to. */
static bool have_segment(cairn_plog *l)
{
    if (l->seg_fd >= 0)
        return true;
    double now = cairn_mono_s();
    if (now < l->retry_at)
        return false;
    if (open_segment(l))
        return true;
    l->retry_at = now + RETRY_DELAY_S;
    return false;
}

/* A write into the current segment failed with errnum: counted, and the segment closed
 * (it may end in a torn record, and nothing may follow one); the next segment is tried
 * RETRY_DELAY_S later. */
static void abandon_segment(cairn_plog *l, int errnum)
{
    note_errno(l, errnum, l->seg_name, "write failed");
    close_segment(l);
    l->retry_at = cairn_mono_s() + RETRY_DELAY_S;
}

/* Copies n ring bytes starting at pos (wrapping) into dst. */
static void ring_peek(const cairn_plog *l, size_t pos, uint8_t *dst, size_t n)
{
    if (l->cap - pos >= n) {
        /* The usual case, a copy of a constant size (inlined): no library calls. */
        memcpy(dst, l->ring + pos, n);
        return;
    }
    size_t first = l->cap - pos;
    memcpy(dst, l->ring + pos, first);
    memcpy(dst + first, l->ring, n - first);
}

/* Writes n ring bytes from pos (wrapping) to fd; false with errno on failure, *done
 * holding how many bytes reached the file before it. */
static bool ring_write(cairn_plog *l, size_t pos, size_t n, size_t *done)
{
    *done = 0;
    while (n > 0) {
        struct iovec iov[2];
        int cnt = 0;
        size_t first = l->cap - pos < n ? l->cap - pos : n;
        iov[cnt++] = (struct iovec){l->ring + pos, first};
        if (n > first)
            iov[cnt++] = (struct iovec){l->ring, n - first};
        ssize_t w = writev(l->seg_fd, iov, cnt);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        if (w == 0) {
            errno = EIO;
            return false;
        }
        pos = (pos + (size_t)w) % l->cap;
        n -= (size_t)w;
        *done += (size_t)w;
    }
    return true;
}

/* How many of the records in n ring bytes from pos are whole in their first done bytes. */
static uint64_t whole_records(const cairn_plog *l, size_t pos, size_t n, size_t done,
                              size_t *whole_bytes)
{
    uint64_t k = 0;
    size_t at = 0;
    while (at < n) {
        uint8_t h[8];
        ring_peek(l, (pos + at) % l->cap, h, sizeof h);
        size_t rl = REC_HEADER_BYTES + get_u32(h + 4);
        if (at + rl > done)
            break;
        at += rl;
        k++;
    }
    *whole_bytes = at;
    return k;
}

/* Gives n bytes holding k records back to the producers. */
static void ring_release(cairn_plog *l, size_t n, uint64_t k)
{
    pthread_mutex_lock(&l->mu);
    l->head = (l->head + n) % l->cap;
    l->used -= n;
    l->processed += k;
    if (l->full_waiters > 0)
        pthread_cond_broadcast(&l->not_full);
    pthread_mutex_unlock(&l->mu);
}

/* Writes the avail bytes at head (whole records) into segments, rotating on size. */
static void drain(cairn_plog *l, size_t head, size_t avail)
{
    size_t pos = 0;
    while (pos < avail) {
        size_t chunk = 0;
        uint64_t k = 0;
        bool rotate = false;
        bool have = have_segment(l);
        /* Take the records that fit the segment; a segment always gets at least one. */
        while (pos + chunk < avail) {
            uint8_t h[8];
            /* head < cap and pos + chunk < avail <= cap: one subtraction wraps it (no
             * division per record). */
            size_t at = head + pos + chunk;
            ring_peek(l, at >= l->cap ? at - l->cap : at, h, sizeof h);
            size_t rl = REC_HEADER_BYTES + get_u32(h + 4);
            if (have && (l->seg_records + k > 0) &&
                l->seg_size + chunk + rl > l->segment_bytes) {
                rotate = true;
                break;
            }
            chunk += rl;
            k++;
        }
        size_t done;
        if (!have) {
            /* No segment (one could not be made: counted in open_segment, or that was
             * too recent to try again): these records are lost, and counted as dropped
             * so that a marker reports them once the disk takes writes again. */
            inc(&l->c_dropped, k);
        } else if (!ring_write(l, (head + pos) % l->cap, chunk, &done)) {
            int errnum = errno;
            /* The records wholly written before the failure (a full disk) are in the
             * file and read back; the rest are dropped. A torn last record is skipped
             * by the reader. */
            size_t whole;
            uint64_t kept = whole_records(l, (head + pos) % l->cap, chunk, done, &whole);
            l->seg_size += whole;
            l->seg_records += kept;
            inc(&l->c_written, kept);
            inc(&l->c_bytes, whole);
            inc(&l->c_dropped, k - kept);
            abandon_segment(l, errnum);
        } else {
            l->seg_size += chunk;
            l->seg_records += k;
            l->dirty = true;
            inc(&l->c_written, k);
            inc(&l->c_bytes, chunk);
        }
        ring_release(l, chunk, k);
        pos += chunk;
        if (have && l->seg_fd >= 0 && (rotate || l->seg_size >= l->segment_bytes))
            close_segment(l);
    }
}

/* Dropped records (refused at the ring, or by the disk) never reach a segment, so the
 * log itself says how many were lost: once drops happened since the last marker, the
 * writer appends a marker record (flag CAIRN_PLOG_DROPS, score = how many, no model) to
 * the current segment.
 * The monitor sums them; a crash before a marker loses only the count, never a record. */
static void write_drop_marker(cairn_plog *l)
{
    uint64_t d = atomic_load(&l->c_dropped);
    if (d <= l->drops_marked)
        return;
    cairn_plog_record r = {
        .time_us = cairn_now_us(),
        .model = "",
        .alias = "",
        .score = (double)(d - l->drops_marked),
        .flags = CAIRN_PLOG_DROPS,
    };
    uint8_t buf[REC_HEADER_BYTES + 128];
    rec_lens lens;
    size_t plen = payload_size(&r, &lens);
    if (!plen || REC_HEADER_BYTES + plen > sizeof buf)
        return;
    encode_record(&r, plen, &lens, buf);
    size_t n = REC_HEADER_BYTES + plen, off = 0;
    if (!have_segment(l))
        return;
    while (off < n) {
        ssize_t w = write(l->seg_fd, buf + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            abandon_segment(l, w < 0 ? errno : EIO);
            return;
        }
        off += (size_t)w;
    }
    l->seg_size += n;
    l->seg_records++;
    l->dirty = true;
    inc(&l->c_bytes, n);
    l->drops_marked = d;
}

/* Queues the uncompressed segments a previous run left behind (a crash, or a failed
 * compression; scan_dir found them); drops a .plog whose .zst already exists. Frees names. */
static void queue_leftovers(cairn_plog *l, char **names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        struct stat st;
        if (join_path(path, sizeof path, l->dir, names[i]) && strlen(path) + 5 < sizeof path) {
            strcat(path, ".zst");
            if (stat(path, &st) == 0) {
                path[strlen(path) - 4] = '\0';
                unlink(path);
            } else {
                queue_compression(l, names[i]);
            }
        }
        cairn_free(names[i]);
    }
    cairn_free(names);
}

/* Takes the next segment to compress (the one handed back first); zmu held. */
static char *take_segment(cairn_plog *l)
{
    char *name = l->z_handback;
    if (name) {
        l->z_handback = NULL;
        return name;
    }
    name = l->zq[0];
    memmove(l->zq, l->zq + 1, (l->zq_n - 1) * sizeof *l->zq);
    l->zq_n--;
    return name;
}

/*
 * Compression is background work, done by two threads that share the queue. The idle
 * thread runs under SCHED_IDLE: it gets only CPU time that no other thread wants, so on a
 * busy machine compressing never takes a core from the threads that answer requests (with
 * one core for cairn serve, compressing at normal priority made its p99 5 ms against 1.5 ms;
 * bench/README.md). Where that policy is refused, it keeps the caller's. When the machine stays busy the idle thread makes little progress, and the
 * backlog thread, at the caller's priority, compresses whenever compress_backlog segments
 * or more wait: that bounds the uncompressed backlog on disk. At close the backlog thread
 * compresses everything left, and the idle thread hands back the segment it is on (at
 * the next block), since on a busy machine it could take minutes to finish it.
 *
 * Without the backlog thread, the idle thread works alone (to the end, at close); without
 * the idle thread, the backlog thread takes every segment.
 */
static void *compressor_idle_main(void *arg)
{
    pthread_setname_np(pthread_self(), "cairn-plog-zstd");   /* shown by top -H, ps -L, perf */
    cairn_plog *l = arg;
    struct sched_param sp = {0};
    pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp);
    pthread_mutex_lock(&l->zmu);
    bool alone = !l->z_backlog_started;
    for (;;) {
        while (l->zq_n == 0 && !l->z_stop)
            pthread_cond_wait(&l->z_cv, &l->zmu);
        if (l->zq_n == 0 || (l->z_stop && !alone))
            break;
        char *name = take_segment(l);
        l->z_idle_busy = true;
        pthread_mutex_unlock(&l->zmu);
        bool done = compress_noted(l, name, alone ? NULL : &l->z_abort);
        pthread_mutex_lock(&l->zmu);
        l->z_idle_busy = false;
        if (done)
            cairn_free(name);
        else
            l->z_handback = name;
        pthread_cond_broadcast(&l->z_cv);
    }
    pthread_mutex_unlock(&l->zmu);
    return NULL;
}

static void *compressor_backlog_main(void *arg)
{
    pthread_setname_np(pthread_self(), "cairn-plog-zbak");
    cairn_plog *l = arg;
    pthread_mutex_lock(&l->zmu);
    size_t bound = l->z_idle_started ? l->compress_backlog : 1;
    for (;;) {
        size_t waiting = l->zq_n + (l->z_handback != NULL);
        if (waiting > 0 && (waiting >= bound || l->z_stop)) {
            char *name = take_segment(l);
            l->z_backlog_busy = true;
            if (!l->z_stop)
                inc(&l->c_backlog_compressions, 1);
            pthread_mutex_unlock(&l->zmu);
            compress_noted(l, name, NULL);
            cairn_free(name);
            pthread_mutex_lock(&l->zmu);
            l->z_backlog_busy = false;
            continue;
        }
        if (l->z_stop && !l->z_idle_busy)
            break;
        pthread_cond_wait(&l->z_cv, &l->zmu);
    }
    pthread_mutex_unlock(&l->zmu);
    return NULL;
}

static void *writer_main(void *arg)
{
    pthread_setname_np(pthread_self(), "cairn-plog");   /* shown by top -H, ps -L, perf */
    cairn_plog *l = arg;
    l->last_sync = cairn_mono_s();
    bool flowing = false;   /* the last batch had records */
    pthread_mutex_lock(&l->mu);
    for (;;) {
        /* Records are written in batches: the writer sleeps until WRITE_DELAY_S after
         * the first pending record (or until batch_bytes are waiting), so a busy server
         * costs one write and one wake-up per batch, not per record. While records keep
         * coming it looks again every WRITE_DELAY_S on its own (polling), so that no
         * producer need wake it; a look that finds nothing ends that until the next
         * record wakes it. Flush requests and stop are served at once. */
        while (!l->stopping && l->flush_req == 0 && l->used < l->batch_bytes) {
            /* Sleep until a batch, the next fsync or age rotation is due (or 1 s). */
            double now = cairn_mono_s(), due = now + 1.0;
            if (l->used > 0 && l->first_pending + WRITE_DELAY_S < due)
                due = l->first_pending + WRITE_DELAY_S;
            bool poll = l->used == 0 && flowing;
            if (poll)
                due = now + WRITE_DELAY_S;
            if (l->seg_fd >= 0 && l->dirty && l->last_sync + l->flush_seconds < due)
                due = l->last_sync + l->flush_seconds;
            if (l->seg_fd >= 0 && l->seg_records > 0 && l->seg_opened + l->segment_seconds < due)
                due = l->seg_opened + l->segment_seconds;
            if (due <= now)
                break;
            struct timespec ts = mono_deadline(due);
            l->writer_waiting = true;
            l->writer_polling = poll;
            pthread_cond_timedwait(&l->not_empty, &l->mu, &ts);
            l->writer_waiting = false;
            l->writer_polling = false;
            /* A look: records that came meanwhile have waited at most WRITE_DELAY_S
             * (they came after the last write); none, and the stream has stopped. */
            if (poll) {
                if (l->used > 0)
                    break;
                flowing = false;
            }
        }
        size_t head = l->head, avail = l->used;
        double taken = cairn_mono_s();
        bool flush = l->flush_req > 0, stop = l->stopping;
        l->flush_req = 0;
        pthread_mutex_unlock(&l->mu);

        if (avail > 0)
            drain(l, head, avail);
        flowing = avail > 0;
        write_drop_marker(l);
        double now = cairn_mono_s();
        if (flush || stop || !l->dirty || l->seg_fd < 0 ||
            now - l->last_sync >= l->flush_seconds)
            sync_segment(l);
        if (l->seg_fd >= 0 && l->seg_records > 0 && now - l->seg_opened >= l->segment_seconds)
            close_segment(l);

        pthread_mutex_lock(&l->mu);
        /* Records that came during the write came after it took its batch: their batch
         * is timed from then, not from the first record of the batch just written. */
        if (l->used > 0 && avail > 0)
            l->first_pending = taken;
        if (stop && l->used == 0)
            break;
    }
    pthread_mutex_unlock(&l->mu);
    close_segment(l);
    sync_segment(l);
    return NULL;
}

/* ---- open / append / flush / close ------------------------------------------------------ */

/* Has the compressor threads finish what is queued, then joins them. */
static void stop_compressor(cairn_plog *l)
{
    pthread_mutex_lock(&l->zmu);
    l->z_stop = true;
    atomic_store(&l->z_abort, true);
    pthread_cond_broadcast(&l->z_cv);
    pthread_mutex_unlock(&l->zmu);
    if (l->z_idle_started)
        pthread_join(l->z_idle, NULL);
    if (l->z_backlog_started)
        pthread_join(l->z_backlog, NULL);
    l->z_idle_started = l->z_backlog_started = false;
}

static void plog_free(cairn_plog *l)
{
    if (!l)
        return;
    stop_compressor(l);
    if (l->lock_fd >= 0)
        close(l->lock_fd);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->not_empty);
    pthread_cond_destroy(&l->not_full);
    pthread_cond_destroy(&l->synced_cv);
    pthread_mutex_destroy(&l->zmu);
    pthread_cond_destroy(&l->z_cv);
    for (size_t i = 0; i < l->zq_n; i++)
        cairn_free(l->zq[i]);
    cairn_free(l->zq);
    cairn_free(l->z_handback);
    cairn_free(l->ring);
    cairn_free(l->dir);
    cairn_free(l);
}

/* Finds the sequence number after every existing segment, removes temporary files left
 * by a compression that a crash interrupted, and lists the uncompressed segments into
 * *leftovers (as many as memory allows; the caller frees them) unless no_compress. */
static cairn_status scan_dir(cairn_plog *l, char ***leftovers, size_t *n_leftovers,
                             cairn_error *err)
{
    *leftovers = NULL;
    *n_leftovers = 0;
    DIR *d = opendir(l->dir);
    if (!d)
        return cairn_error_errno(err, errno, l->dir, "cannot list log directory");
    uint64_t max = 0;
    size_t cap = 0;
    bool listing = !l->no_compress;
    struct dirent *e;
    while ((e = readdir(d))) {
        uint64_t seq;
        bool zst;
        if (parse_seg_name(e->d_name, &seq, &zst)) {
            if (seq > max)
                max = seq;
            if (zst || !listing)
                continue;
            if (*n_leftovers == cap) {
                size_t nc = cap ? 2 * cap : 8;
                char **nn = cairn_reallocarray(*leftovers, nc, sizeof *nn);
                if (!nn) {
                    listing = false;
                    continue;
                }
                *leftovers = nn;
                cap = nc;
            }
            if (!((*leftovers)[*n_leftovers] = cairn_strdup(e->d_name)))
                listing = false;
            else
                (*n_leftovers)++;
        } else if (strncmp(e->d_name, ".tmp-", 5) == 0) {
            char path[4096];
            if (join_path(path, sizeof path, l->dir, e->d_name))
                unlink(path);
        }
    }
    closedir(d);
    l->next_seq = l->first_seq = max + 1;
    return CAIRN_OK;
}

cairn_status cairn_plog_open(const cairn_plog_opts *o, cairn_plog **out, cairn_error *err)
{
    cairn_status st = CAIRN_OK;
    cairn_plog *l = NULL;
    *out = NULL;
    if (!o || !o->dir || !*o->dir)
        return cairn_error_set(err, CAIRN_EINVAL, "plog", "a log directory is required");
    if (o->segment_seconds < 0 || o->flush_seconds < 0 || o->segment_seconds != o->segment_seconds ||
        o->flush_seconds != o->flush_seconds || o->wait_ms != o->wait_ms)
        return cairn_error_set(err, CAIRN_EINVAL, o->dir, "negative or NaN log interval");
    st = cairn_mkdirs(o->dir, err);
    if (st != CAIRN_OK)
        return st;
    l = cairn_calloc(1, sizeof *l);
    if (!l)
        return cairn_error_set(err, CAIRN_ENOMEM, o->dir, "out of memory");
    l->lock_fd = -1;
    l->seg_fd = -1;
    pthread_mutex_init(&l->mu, NULL);
    pthread_mutex_init(&l->zmu, NULL);
    pthread_cond_init(&l->z_cv, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&l->not_empty, &ca);
    pthread_cond_init(&l->not_full, &ca);
    pthread_cond_init(&l->synced_cv, &ca);
    pthread_condattr_destroy(&ca);

    l->cap = o->ring_bytes ? o->ring_bytes : (size_t)64 << 20;
    l->batch_bytes = l->cap / 4 < WRITE_BATCH_BYTES ? l->cap / 4 : WRITE_BATCH_BYTES;
    if (l->batch_bytes == 0)
        l->batch_bytes = 1;
    l->segment_bytes = o->segment_bytes ? o->segment_bytes : (size_t)64 << 20;
    l->segment_seconds = o->segment_seconds > 0 ? o->segment_seconds : 3600.0;
    l->flush_seconds = o->flush_seconds > 0 ? o->flush_seconds : 1.0;
    l->wait_ms = o->wait_ms == 0 ? 5.0 : o->wait_ms;
    l->no_compress = o->no_compress;
    l->compress_backlog = o->compress_backlog ? o->compress_backlog : COMPRESS_BACKLOG;
    l->dir = cairn_strdup(o->dir);
    l->ring = cairn_malloc(l->cap);
    if (!l->dir || !l->ring) {
        st = cairn_error_set(err, CAIRN_ENOMEM, o->dir, "out of memory for the log ring");
        goto done;
    }
    char path[4096];
    if (!join_path(path, sizeof path, l->dir, ".lock")) {
        st = cairn_error_set(err, CAIRN_EINVAL, o->dir, "path too long");
        goto done;
    }
    l->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (l->lock_fd < 0) {
        st = cairn_error_errno(err, errno, path, "cannot create lock file");
        goto done;
    }
    if (flock(l->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        st = errno == EWOULDBLOCK
                 ? cairn_error_set(err, CAIRN_EINVAL, o->dir, "log directory is in use by another log")
                 : cairn_error_errno(err, errno, path, "cannot lock log directory");
        goto done;
    }
    char **leftovers = NULL;
    size_t n_leftovers = 0;
    st = scan_dir(l, &leftovers, &n_leftovers, err);
    if (st != CAIRN_OK)
        goto done;
    if (!l->no_compress) {
        /* Each thread reads under zmu whether the other one started. Without either,
         * segments are compressed on the writer thread. */
        pthread_mutex_lock(&l->zmu);
        l->z_backlog_started = pthread_create(&l->z_backlog, NULL, compressor_backlog_main, l) == 0;
        l->z_idle_started = pthread_create(&l->z_idle, NULL, compressor_idle_main, l) == 0;
        pthread_mutex_unlock(&l->zmu);
        queue_leftovers(l, leftovers, n_leftovers);
    }
    int rc = pthread_create(&l->thread, NULL, writer_main, l);
    if (rc != 0) {
        st = cairn_error_set(err, rc == ENOMEM ? CAIRN_ENOMEM : CAIRN_EIO, o->dir,
                             "cannot start the log writer: %s", strerror(rc));
        goto done;
    }
    l->thread_started = true;
done:
    if (st != CAIRN_OK) {
        plog_free(l);
        return st;
    }
    *out = l;
    return CAIRN_OK;
}

cairn_status cairn_plog_append(cairn_plog *l, const cairn_plog_record *r)
{
    if (!l || !r || (r->n_fields && !r->fields))
        return CAIRN_EINVAL;
    rec_lens lens;
    size_t plen = payload_size(r, &lens);
    size_t total = REC_HEADER_BYTES + plen;
    if (plen == 0 || total > l->cap) {
        inc(&l->c_dropped, 1);
        return CAIRN_ETOOBIG;
    }
    uint8_t stack_buf[STACK_RECORD_BYTES];
    uint8_t *buf = total <= sizeof stack_buf ? stack_buf : cairn_malloc(total);
    if (!buf) {
        inc(&l->c_dropped, 1);
        return CAIRN_ENOMEM;
    }
    encode_record(r, plen, &lens, buf);

    cairn_status st = CAIRN_OK;
    pthread_mutex_lock(&l->mu);
    if (l->cap - l->used < total && l->wait_ms > 0 && !l->stopping) {
        struct timespec ts = mono_deadline(cairn_mono_s() + l->wait_ms / 1000.0);
        l->full_waiters++;
        inc(&l->c_waits, 1);
        while (l->cap - l->used < total && !l->stopping)
            if (pthread_cond_timedwait(&l->not_full, &l->mu, &ts) == ETIMEDOUT)
                break;
        l->full_waiters--;
    }
    if (l->stopping) {
        st = CAIRN_EINVAL;
    } else if (l->cap - l->used < total) {
        st = CAIRN_ETOOBIG;
    } else {
        size_t tail = (l->head + l->used) % l->cap;
        size_t first = l->cap - tail < total ? l->cap - tail : total;
        memcpy(l->ring + tail, buf, first);
        memcpy(l->ring, buf + first, total - first);
        bool was_empty = l->used == 0;
        if (was_empty)
            l->first_pending = cairn_mono_s();
        l->used += total;
        if (l->used > atomic_load_explicit(&l->c_ring_peak, memory_order_relaxed))
            atomic_store_explicit(&l->c_ring_peak, l->used, memory_order_relaxed);
        l->accepted++;
        inc(&l->c_appended, 1);
        /* Woken for the first record of a batch (to time it) unless it polls, and for
         * a full batch. */
        if (l->writer_waiting &&
            ((was_empty && !l->writer_polling) ||
             (l->used >= l->batch_bytes && l->used - total < l->batch_bytes)))
            pthread_cond_signal(&l->not_empty);
    }
    pthread_mutex_unlock(&l->mu);
    if (st != CAIRN_OK)
        inc(&l->c_dropped, 1);
    if (buf != stack_buf)
        cairn_free(buf);
    return st;
}

cairn_status cairn_plog_flush(cairn_plog *l, cairn_error *err)
{
    if (!l)
        return cairn_error_set(err, CAIRN_EINVAL, "plog", "no log");
    uint64_t errors_before = atomic_load(&l->c_write_errors);
    pthread_mutex_lock(&l->mu);
    uint64_t target = l->accepted;
    if (l->synced < target) {
        l->flush_req++;
        if (l->writer_waiting)
            pthread_cond_signal(&l->not_empty);
        while (l->synced < target)
            pthread_cond_wait(&l->synced_cv, &l->mu);
    }
    cairn_status st = CAIRN_OK;
    if (atomic_load(&l->c_write_errors) != errors_before) {
        st = l->first_err.code;
        if (err)
            *err = l->first_err;
    }
    pthread_mutex_unlock(&l->mu);
    return st;
}

cairn_status cairn_plog_close(cairn_plog *l, cairn_error *err)
{
    if (!l)
        return CAIRN_OK;
    pthread_mutex_lock(&l->mu);
    l->stopping = true;
    pthread_cond_broadcast(&l->not_full);
    pthread_cond_signal(&l->not_empty);
    pthread_mutex_unlock(&l->mu);
    if (l->thread_started)
        pthread_join(l->thread, NULL);
    stop_compressor(l);
    cairn_status st = l->first_err.code;
    if (st != CAIRN_OK && err)
        *err = l->first_err;
    plog_free(l);
    return st;
}

/* ---- reading ------------------------------------------------------------------------------- */

typedef struct scanner {
    int (*visit)(void *ctx, const cairn_plog_entry *e);
    int (*visit_block)(void *ctx, const cairn_plog_block *b);   /* NULL: blocks as records */
    void (*visit_damaged)(void *ctx, const char *segment, int64_t after_us);
    void *ctx;
    cairn_plog_read_stats *stats;
    const char *segment;
    int64_t last_time_us;         /* the segment's last good record so far; INT64_MIN: none */
    int64_t file_time_us;         /* the segment file's modification time; INT64_MIN: none */
    bool header_done;
    bool blocks;                  /* the segment holds blocks (format version 2) */
    char *scratch;                /* NUL-terminated copies of a record's strings */
    size_t scratch_cap;
    cairn_field *fields;
    size_t fields_cap;
    cairn_plog_column *cols;      /* a block's columns */
    size_t cols_cap;
    uint64_t *aligned;            /* a block body copied to 8-byte alignment */
    size_t aligned_cap;           /* in uint64_t */
} scanner;

enum { SCAN_MORE, SCAN_BAD, SCAN_STOP, SCAN_NOMEM };

typedef struct cursor {
    const uint8_t *p;
    size_t n, pos;
} cursor;

static bool cur_u32(cursor *c, uint32_t *v)
{
    if (c->n - c->pos < 4)
        return false;
    *v = get_u32(c->p + c->pos);
    c->pos += 4;
    return true;
}

/* A length-prefixed string copied into scratch (NUL added) at *sp. */
static bool cur_str(cursor *c, char **sp, const char **out, size_t *out_len)
{
    uint32_t len;
    if (!cur_u32(c, &len) || c->n - c->pos < len)
        return false;
    memcpy(*sp, c->p + c->pos, len);
    (*sp)[len] = '\0';
    *out = *sp;
    if (out_len)
        *out_len = len;
    *sp += (size_t)len + 1;
    c->pos += len;
    return true;
}

/* Room for n elements of size bytes in the array *pp (any element pointer, passed by
 * address) whose capacity is *cap; false when out of memory (the array unchanged). */
static bool reserve(void *pp, size_t *cap, size_t n, size_t size)
{
    if (n <= *cap)
        return true;
    void *p;
    memcpy(&p, pp, sizeof p);
    void *np = cairn_reallocarray(p, n, size);
    if (!np)
        return false;
    memcpy(pp, &np, sizeof np);
    *cap = n;
    return true;
}

/* Room for nf fields of a record in sc->fields. */
static bool fields_reserve(scanner *sc, size_t nf)
{
    return reserve(&sc->fields, &sc->fields_cap, nf, sizeof *sc->fields);
}

/* Visits e with the first nf of sc->fields (counted): SCAN_STOP when the visitor says
 * so, else SCAN_MORE. */
static int visit_entry(scanner *sc, cairn_plog_entry *e, size_t nf)
{
    e->fields = nf ? sc->fields : NULL;
    e->n_fields = nf;
    sc->last_time_us = e->time_us;
    if (sc->stats)
        sc->stats->records++;
    if (sc->visit && sc->visit(sc->ctx, e) != 0)
        return SCAN_STOP;
    return SCAN_MORE;
}

/* Decodes one verified payload and visits it: SCAN_MORE (go on), SCAN_BAD, SCAN_STOP,
 * SCAN_NOMEM. */
static int decode_visit(scanner *sc, const uint8_t *p, size_t n)
{
    cursor c = {p, n, 0};
    if (n < REC_FIXED_BYTES)
        return SCAN_BAD;
    cairn_plog_entry e;
    memset(&e, 0, sizeof e);
    e.time_us = (int64_t)get_u64(p);
    e.flags = get_u32(p + 8);
    e.version = (int)(int32_t)get_u32(p + 12);
    e.score = bits_f64(get_u64(p + 16));
    e.latency_us = bits_f64(get_u64(p + 24));
    e.segment = sc->segment;
    c.pos = REC_FIXED_BYTES;

    /* Every string takes at least its 4-byte length, so a payload of n bytes holds at
     * most n/4 strings and n bytes of text: 2n + 1 bytes of scratch always suffice. */
    size_t need = 2 * n + 1;
    if (need > sc->scratch_cap) {
        char *s = cairn_realloc(sc->scratch, need);
        if (!s)
            return SCAN_NOMEM;
        sc->scratch = s;
        sc->scratch_cap = need;
    }
    char *sp = sc->scratch;
    const char **strs[5] = {&e.request_id, &e.entity, &e.model, &e.alias, &e.label};
    for (int i = 0; i < 5; i++)
        if (!cur_str(&c, &sp, strs[i], NULL))
            return SCAN_BAD;
    uint32_t nf;
    if (!cur_u32(&c, &nf))
        return SCAN_BAD;
    /* A field is at least a 4-byte name length and a kind byte. */
    if (nf > (c.n - c.pos) / 5)
        return SCAN_BAD;
    if (!fields_reserve(sc, nf))
        return SCAN_NOMEM;
    for (uint32_t i = 0; i < nf; i++) {
        cairn_field *f = &sc->fields[i];
        memset(f, 0, sizeof *f);
        if (!cur_str(&c, &sp, &f->name, NULL) || c.pos >= c.n)
            return SCAN_BAD;
        uint8_t kind = p[c.pos++];
        switch (kind) {
        case KIND_NULL:
            f->kind = CAIRN_VALUE_NULL;
            break;
        case KIND_BOOL:
            if (c.pos >= c.n || p[c.pos] > 1)
                return SCAN_BAD;
            f->kind = CAIRN_VALUE_BOOL;
            f->b = p[c.pos++];
            break;
        case KIND_NUMBER:
            if (c.n - c.pos < 8)
                return SCAN_BAD;
            f->kind = CAIRN_VALUE_NUMBER;
            f->num = bits_f64(get_u64(p + c.pos));
            c.pos += 8;
            break;
        case KIND_STRING:
            f->kind = CAIRN_VALUE_STRING;
            if (!cur_str(&c, &sp, &f->str, &f->str_len))
                return SCAN_BAD;
            break;
        default:
            return SCAN_BAD;
        }
    }
    if (c.pos != c.n)
        return SCAN_BAD;
    return visit_entry(sc, &e, nf);
}

/* ---- blocks: the records of a closed segment, column by column -------------------------- */

/* count elements of size bytes at the cursor; the cursor then moves on to the next
 * multiple of 8 (every array of a block starts 8-aligned). NULL when they do not fit.
 * count is at most 2^32 and size at most 8, so the products cannot overflow. */
static const void *cur_take(cursor *c, size_t count, size_t size)
{
    size_t bytes = count * size, padded = (bytes + 7) & ~(size_t)7;
    if (c->n - c->pos < padded)
        return NULL;
    const void *r = c->p + c->pos;
    c->pos += padded;
    return r;
}

/* A string column: u32 ends[n], then the strings back to back, each with its NUL. */
static bool cur_strcol(cursor *c, size_t n, const uint32_t **end, const char **str)
{
    const uint32_t *e = cur_take(c, n, 4);
    if (!e)
        return false;
    uint32_t total = n ? e[n - 1] : 0, prev = 0;
    const char *s = cur_take(c, total, 1);
    if (!s)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (e[i] <= prev || e[i] > total || s[e[i] - 1] != '\0')
            return false;
        prev = e[i];
    }
    *end = e;
    *str = s;
    return true;
}

static const char *strcol_get(const uint32_t *end, const char *str, size_t i, size_t *len)
{
    uint32_t start = i ? end[i - 1] : 0;
    if (len)
        *len = end[i] - start - 1;
    return str + start;
}

void cairn_plog_block_entry(const cairn_plog_block *b, size_t i, cairn_plog_entry *e)
{
    memset(e, 0, sizeof *e);
    e->time_us = b->time_us[i];
    e->flags = b->flags[i];
    e->version = b->version[i];
    e->score = b->score[i];
    e->latency_us = b->latency_us[i];
    e->request_id = strcol_get(b->str_end[CAIRN_PLOG_STR_REQUEST_ID],
                               b->str[CAIRN_PLOG_STR_REQUEST_ID], i, NULL);
    e->entity = strcol_get(b->str_end[CAIRN_PLOG_STR_ENTITY], b->str[CAIRN_PLOG_STR_ENTITY], i,
                           NULL);
    e->model = strcol_get(b->str_end[CAIRN_PLOG_STR_MODEL], b->str[CAIRN_PLOG_STR_MODEL], i, NULL);
    e->alias = strcol_get(b->str_end[CAIRN_PLOG_STR_ALIAS], b->str[CAIRN_PLOG_STR_ALIAS], i, NULL);
    e->label = strcol_get(b->str_end[CAIRN_PLOG_STR_LABEL], b->str[CAIRN_PLOG_STR_LABEL], i, NULL);
    e->segment = b->segment;
}

void cairn_plog_block_field(const cairn_plog_block *b, size_t c, size_t i, cairn_field *f)
{
    const cairn_plog_column *col = &b->fields[c];
    memset(f, 0, sizeof *f);
    f->name = col->name;
    f->kind = (cairn_value_kind)col->kind[i];
    switch (col->kind[i]) {
    case KIND_BOOL: f->b = col->num[i] != 0; break;
    case KIND_NUMBER: f->num = col->num[i]; break;
    case KIND_STRING: f->str = strcol_get(col->str_end, col->str, i, &f->str_len); break;
    default: break;
    }
}

/* Decodes one verified block body and visits it (as a block, or record by record).
 * Returns what decode_visit does; a block that carries the compressor's "the segment
 * was damaged here" mark is visited and then reported SCAN_BAD. */
static int decode_block(scanner *sc, const uint8_t *body, size_t blen)
{
    if ((uintptr_t)body % 8 != 0) {
        /* Only a caller's own buffer (cairn_plog_parse_buffer) can be misaligned. */
        if (!reserve(&sc->aligned, &sc->aligned_cap, blen / 8, sizeof *sc->aligned))
            return SCAN_NOMEM;
        memcpy(sc->aligned, body, blen);
        body = (const uint8_t *)sc->aligned;
    }
    cursor c = {body, blen, 0};
    const uint32_t *hdr = cur_take(&c, 4, 4);   /* records, fields, damaged, reserved */
    if (!hdr || hdr[2] > 1 || hdr[3] != 0)
        return SCAN_BAD;
    size_t n = hdr[0], nf = hdr[1];
    cairn_plog_block b = {.n = n, .segment = sc->segment};
    if (!(b.time_us = cur_take(&c, n, 8)) || !(b.score = cur_take(&c, n, 8)) ||
        !(b.latency_us = cur_take(&c, n, 8)) || !(b.flags = cur_take(&c, n, 4)) ||
        !(b.version = cur_take(&c, n, 4)))
        return SCAN_BAD;
    for (int k = 0; k < CAIRN_PLOG_N_STR; k++)
        if (!cur_strcol(&c, n, &b.str_end[k], &b.str[k]))
            return SCAN_BAD;
    /* A field takes at least 16 bytes: its 8-byte header and its padded name. */
    if (nf > (c.n - c.pos) / 16)
        return SCAN_BAD;
    if (!reserve(&sc->cols, &sc->cols_cap, nf, sizeof *sc->cols))
        return SCAN_NOMEM;
    for (size_t k = 0; k < nf; k++) {
        cairn_plog_column *col = &sc->cols[k];
        const uint32_t *fh = cur_take(&c, 2, 4);   /* name length, has strings */
        if (!fh || fh[1] > 1 || fh[0] > c.n - c.pos)
            return SCAN_BAD;
        memset(col, 0, sizeof *col);
        col->name_len = fh[0];
        col->name = cur_take(&c, col->name_len + 1, 1);
        if (!col->name || col->name[col->name_len] != '\0')
            return SCAN_BAD;
        col->str = fh[1] ? "" : NULL;   /* marks "has strings" until the column is read */
    }
    for (size_t k = 0; k < nf; k++) {
        cairn_plog_column *col = &sc->cols[k];
        bool has_str = col->str != NULL;
        if (!(col->kind = cur_take(&c, n, 1)) || !(col->num = cur_take(&c, n, 8)))
            return SCAN_BAD;
        if (has_str && !cur_strcol(&c, n, &col->str_end, &col->str))
            return SCAN_BAD;
        if (!has_str)
            col->str = NULL;
        bool all = true;
        for (size_t i = 0; i < n; i++) {
            uint8_t kd = col->kind[i];
            all = all && kd == KIND_NUMBER;
            if (kd > KIND_STRING || (kd == KIND_STRING && !has_str) ||
                (kd == KIND_BOOL && col->num[i] != 0 && col->num[i] != 1))
                return SCAN_BAD;
        }
        col->all_numbers = all;
    }
    if (c.pos != c.n)
        return SCAN_BAD;
    b.fields = nf ? sc->cols : NULL;
    b.n_fields = nf;
    if (sc->visit_block) {
        if (sc->stats)
            sc->stats->records += n;
        if (n)
            sc->last_time_us = b.time_us[n - 1];
        if (n && sc->visit_block(sc->ctx, &b) != 0)
            return SCAN_STOP;
    } else {
        if (!fields_reserve(sc, nf))
            return SCAN_NOMEM;
        for (size_t i = 0; i < n; i++) {
            cairn_plog_entry e;
            cairn_plog_block_entry(&b, i, &e);
            for (size_t k = 0; k < nf; k++)
                cairn_plog_block_field(&b, k, i, &sc->fields[k]);
            if (visit_entry(sc, &e, nf) == SCAN_STOP)
                return SCAN_STOP;
        }
    }
    return hdr[2] ? SCAN_BAD : SCAN_MORE;
}

/*
 * Visits the complete records at the start of p[0..n). *consumed: bytes done. Returns
 * SCAN_MORE when the rest is an incomplete record (or nothing) and more bytes may follow
 * (*need: the bytes that record needs in all); with eof, an incomplete rest is SCAN_BAD.
 */
static int scan(scanner *sc, const uint8_t *p, size_t n, bool eof, size_t *consumed,
                size_t *need)
{
    size_t pos = 0;
    int rc = SCAN_MORE;
    *need = 0;
    if (!sc->header_done) {
        if (n < SEG_HEADER_BYTES) {
            *need = SEG_HEADER_BYTES;
            /* An empty file is a segment the writer created but never wrote. */
            rc = eof && n > 0 ? SCAN_BAD : SCAN_MORE;
            goto done;
        }
        uint32_t version = get_u32(p + 8);
        if (memcmp(p, SEG_MAGIC, 8) != 0 ||
            (version != SEG_VERSION && version != SEG_VERSION_BLOCKS)) {
            rc = SCAN_BAD;
            goto done;
        }
        sc->header_done = true;
        sc->blocks = version == SEG_VERSION_BLOCKS;
        pos = SEG_HEADER_BYTES;
    }
    while (pos < n) {
        size_t left = n - pos;
        if (left >= 4 && get_u32(p + pos) != (sc->blocks ? BLK_MAGIC : REC_MAGIC)) {
            rc = SCAN_BAD;
            goto done;
        }
        if (left < REC_HEADER_BYTES) {
            *need = REC_HEADER_BYTES;
            rc = eof ? SCAN_BAD : SCAN_MORE;
            goto done;
        }
        uint32_t plen = get_u32(p + pos + 4);
        if (sc->blocks ? plen > BLK_MAX_BODY || plen < 16 || plen % 8 != 0
                       : plen > REC_MAX_PAYLOAD || plen < REC_FIXED_BYTES) {
            rc = SCAN_BAD;
            goto done;
        }
        if (left - REC_HEADER_BYTES < plen) {
            *need = REC_HEADER_BYTES + (size_t)plen;
            rc = eof ? SCAN_BAD : SCAN_MORE;
            goto done;
        }
        const uint8_t *payload = p + pos + REC_HEADER_BYTES;
        if (XXH64(payload, plen, REC_HASH_SEED) != get_u64(p + pos + 8)) {
            rc = SCAN_BAD;
            goto done;
        }
        rc = sc->blocks ? decode_block(sc, payload, plen) : decode_visit(sc, payload, plen);
        if (rc != SCAN_MORE)
            goto done;
        pos += REC_HEADER_BYTES + (size_t)plen;
    }
done:
    *consumed = pos;
    return rc;
}

/* Counts one damage (a bad record, a torn tail) and tells the visitor. */
static void scanner_damaged(scanner *sc)
{
    if (sc->stats)
        sc->stats->bad_records++;
    if (sc->visit_damaged)
        sc->visit_damaged(sc->ctx, sc->segment,
                          sc->last_time_us != INT64_MIN ? sc->last_time_us : sc->file_time_us);
}

static void scanner_reset(scanner *sc)
{
    cairn_free(sc->scratch);
    cairn_free(sc->fields);
    cairn_free(sc->cols);
    cairn_free(sc->aligned);
}

cairn_status cairn_plog_parse_buffer(const uint8_t *p, size_t n,
                                     int (*visit)(void *ctx, const cairn_plog_entry *e),
                                     void *ctx, cairn_plog_read_stats *stats)
{
    scanner sc = {.visit = visit, .ctx = ctx, .stats = stats, .segment = "",
                  .last_time_us = INT64_MIN, .file_time_us = INT64_MIN};
    size_t consumed, need;
    if (stats)
        stats->segments++;
    int rc = scan(&sc, p ? p : (const uint8_t *)"", p ? n : 0, true, &consumed, &need);
    if (rc == SCAN_BAD)
        scanner_damaged(&sc);
    scanner_reset(&sc);
    return rc == SCAN_NOMEM ? CAIRN_ENOMEM : CAIRN_OK;
}

/* A segment file as a byte stream: raw, or zstd-decompressed. */
typedef struct seg_src {
    int fd;
    ZSTD_DCtx *dctx;
    uint8_t *zin;
    size_t zin_cap, zin_len, zin_pos;
    bool in_eof;
    size_t last_ret;              /* ZSTD_decompressStream's last hint: 0 at a frame's end */
} seg_src;

enum { SRC_OK, SRC_EOF, SRC_IOERR, SRC_CORRUPT };

static int src_read(seg_src *s, uint8_t *dst, size_t cap, size_t *got)
{
    *got = 0;
    if (!s->dctx) {
        for (;;) {
            ssize_t r = read(s->fd, dst, cap);
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0)
                return SRC_IOERR;
            *got = (size_t)r;
            return r == 0 ? SRC_EOF : SRC_OK;
        }
    }
    for (;;) {
        /* Keep the input buffer at least half full: a frame found whole in it, with room
         * for its content in dst, is decoded by zstd in one pass straight into dst
         * rather than through its window buffer (the blocks of a closed segment are
         * frames of about 300 KiB). */
        if (!s->in_eof && s->zin_len - s->zin_pos < s->zin_cap / 2) {
            memmove(s->zin, s->zin + s->zin_pos, s->zin_len - s->zin_pos);
            s->zin_len -= s->zin_pos;
            s->zin_pos = 0;
            ssize_t r = read(s->fd, s->zin + s->zin_len, s->zin_cap - s->zin_len);
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0)
                return SRC_IOERR;
            s->zin_len += (size_t)r;
            if (r == 0)
                s->in_eof = true;
            else
                continue;
        }
        if (s->zin_pos == s->zin_len && s->in_eof)
            /* A truncated frame (last_ret != 0) ends the stream like a torn tail. */
            return s->last_ret == 0 ? SRC_EOF : SRC_CORRUPT;
        ZSTD_inBuffer ib = {s->zin, s->zin_len, s->zin_pos};
        ZSTD_outBuffer ob = {dst, cap, 0};
        size_t ret = ZSTD_decompressStream(s->dctx, &ob, &ib);
        if (ZSTD_isError(ret))
            return SRC_CORRUPT;
        s->last_ret = ret;
        s->zin_pos = ib.pos;
        if (ob.pos > 0) {
            *got = ob.pos;
            return SRC_OK;
        }
    }
}

/* Reads one segment file through the scanner. Returns CAIRN_OK, CAIRN_EIO or
 * CAIRN_ENOMEM; *stopped when the visitor asked to stop. */
static cairn_status read_segment(const char *dir, const char *name, scanner *sc, bool *stopped,
                                 cairn_error *err)
{
    char path[4096];
    cairn_status st = CAIRN_OK;
    seg_src s = {.fd = -1};
    uint8_t *buf = NULL;
    size_t cap = READ_BYTES, start = 0, len = 0;
    bool eof = false, zst = strlen(name) > 4 && strcmp(name + strlen(name) - 4, ".zst") == 0;
    if (!join_path(path, sizeof path, dir, name))
        return cairn_error_set(err, CAIRN_EINVAL, dir, "path too long");
    s.fd = open(path, O_RDONLY | O_CLOEXEC);
    if (s.fd < 0 && errno == ENOENT && !zst && strlen(path) + 5 < sizeof path) {
        /* Compressed and removed between the listing and now: read the .zst instead. */
        strcat(path, ".zst");
        zst = true;
        s.fd = open(path, O_RDONLY | O_CLOEXEC);
    }
    if (s.fd < 0) {
        if (errno == ENOENT)
            return CAIRN_OK;
        return cairn_error_errno(err, errno, path, "cannot open segment");
    }
    if (sc->stats)
        sc->stats->segments++;
    if (zst) {
        s.dctx = ZSTD_createDCtx();
        s.zin_cap = ZIN_BYTES;
        s.zin = cairn_malloc(s.zin_cap);
        if (!s.dctx || !s.zin) {
            st = cairn_error_set(err, CAIRN_ENOMEM, path, "out of memory");
            goto done;
        }
    }
    buf = cairn_malloc(cap);
    if (!buf) {
        st = cairn_error_set(err, CAIRN_ENOMEM, path, "out of memory");
        goto done;
    }
    sc->header_done = false;
    sc->blocks = false;
    sc->segment = name;
    sc->last_time_us = INT64_MIN;
    struct stat fst;
    sc->file_time_us = fstat(s.fd, &fst) == 0 ? (int64_t)fst.st_mtim.tv_sec * 1000000 +
                                                    fst.st_mtim.tv_nsec / 1000
                                              : INT64_MIN;
    for (;;) {
        bool corrupt = false;
        if (!eof) {
            size_t got;
            int r = src_read(&s, buf + len, cap - len, &got);
            if (r == SRC_IOERR) {
                st = cairn_error_errno(err, errno, path, "read failed");
                goto done;
            }
            if (r == SRC_CORRUPT)
                corrupt = true;
            eof = r != SRC_OK;
            len += got;
        }
        size_t consumed, need;
        int rc = scan(sc, buf + start, len - start, eof, &consumed, &need);
        start += consumed;
        if (rc == SCAN_STOP) {
            *stopped = true;
            break;
        }
        if (rc == SCAN_NOMEM) {
            st = cairn_error_set(err, CAIRN_ENOMEM, path, "out of memory");
            goto done;
        }
        if (rc == SCAN_BAD || (corrupt && start == len)) {
            /* A damaged compressed stream whose decoded bytes all parsed still lost data. */
            scanner_damaged(sc);
            break;
        }
        if (eof)
            break;
        /* Keep the incomplete record at the front and make room for the rest of it. */
        if (start > 0) {
            memmove(buf, buf + start, len - start);
            len -= start;
            start = 0;
        }
        size_t want = need > len ? need : len;
        if (want < len + 4096)
            want = len + 4096;
        if (want > cap) {
            size_t nc = cap;
            while (nc < want)
                nc *= 2;
            uint8_t *nb = cairn_realloc(buf, nc);
            if (!nb) {
                st = cairn_error_set(err, CAIRN_ENOMEM, path, "out of memory");
                goto done;
            }
            buf = nb;
            cap = nc;
        }
    }
done:
    cairn_free(buf);
    cairn_free(s.zin);
    ZSTD_freeDCtx(s.dctx);
    close(s.fd);
    return st;
}

typedef struct seg_item {
    uint64_t seq;
    bool zst;
    size_t base_len;              /* the name without ".zst" */
    char *name;
} seg_item;

/* Sequence order, then name; a NAME.plog.zst right before its twin NAME.plog. */
static int seg_cmp(const void *a, const void *b)
{
    const seg_item *x = a, *y = b;
    if (x->seq != y->seq)
        return x->seq < y->seq ? -1 : 1;
    size_t n = x->base_len < y->base_len ? x->base_len : y->base_len;
    int c = memcmp(x->name, y->name, n);
    if (c != 0)
        return c;
    if (x->base_len != y->base_len)
        return x->base_len < y->base_len ? -1 : 1;
    if (x->zst != y->zst)
        return x->zst ? -1 : 1;
    return 0;
}

static bool same_base(const seg_item *z, const seg_item *p)
{
    return z->base_len == p->base_len && memcmp(z->name, p->name, p->base_len) == 0;
}

cairn_status cairn_plog_read(const char *dir, int (*visit)(void *ctx, const cairn_plog_entry *e),
                             void *ctx, cairn_plog_read_stats *stats, cairn_error *err)
{
    return cairn_plog_read_shard(dir, 0, 1, visit, ctx, stats, err);
}

cairn_status cairn_plog_read_shard(const char *dir, size_t shard, size_t n_shards,
                                   int (*visit)(void *ctx, const cairn_plog_entry *e), void *ctx,
                                   cairn_plog_read_stats *stats, cairn_error *err)
{
    cairn_plog_visitor v = {.record = visit, .ctx = ctx};
    return cairn_plog_read_visit(dir, shard, n_shards, &v, stats, err);
}

cairn_status cairn_plog_read_visit(const char *dir, size_t shard, size_t n_shards,
                                   const cairn_plog_visitor *v, cairn_plog_read_stats *stats,
                                   cairn_error *err)
{
    cairn_status st = CAIRN_OK;
    seg_item *items = NULL;
    size_t n = 0, cap = 0;
    scanner sc = {.visit = v ? v->record : NULL,
                  .visit_block = v ? v->block : NULL,
                  .visit_damaged = v ? v->damaged : NULL,
                  .ctx = v ? v->ctx : NULL,
                  .stats = stats};   /* read_segment sets the per-segment fields */
    /* Test hook: blocks as records, so a test can compare a block visitor's results
     * with its record visitor's on the same log. */
    if (getenv("CAIRN_TEST_PLOG_NO_BLOCKS"))
        sc.visit_block = NULL;
    if (stats)
        memset(stats, 0, sizeof *stats);
    if (!dir)
        return cairn_error_set(err, CAIRN_EINVAL, "plog", "no log directory");
    DIR *d = opendir(dir);
    if (!d)
        return cairn_error_errno(err, errno, dir, "cannot list log directory");
    struct dirent *e;
    while ((e = readdir(d))) {
        seg_item it;
        if (!parse_seg_name(e->d_name, &it.seq, &it.zst))
            continue;
        if (n == cap) {
            size_t nc = cap ? 2 * cap : 16;
            seg_item *ni = cairn_reallocarray(items, nc, sizeof *ni);
            if (!ni) {
                st = cairn_error_set(err, CAIRN_ENOMEM, dir, "out of memory");
                goto done;
            }
            items = ni;
            cap = nc;
        }
        it.base_len = strlen(e->d_name) - (it.zst ? 4 : 0);
        if (!(it.name = cairn_strdup(e->d_name))) {
            st = cairn_error_set(err, CAIRN_ENOMEM, dir, "out of memory");
            goto done;
        }
        items[n++] = it;
    }
    if (n)
        qsort(items, n, sizeof *items, seg_cmp);
    bool stopped = false;
    size_t k = 0;   /* index among the segments actually read, for sharding */
    if (n_shards == 0)
        n_shards = 1;
    for (size_t i = 0; i < n && !stopped; i++) {
        /* NAME.plog next to NAME.plog.zst: a crash hit between the rename and the unlink of
         * a compression; both hold the same records. */
        if (!items[i].zst && i > 0 && items[i - 1].zst && same_base(&items[i - 1], &items[i]))
            continue;
        if (k++ % n_shards != shard)
            continue;
        st = read_segment(dir, items[i].name, &sc, &stopped, err);
        if (st != CAIRN_OK)
            goto done;
    }
done:
    closedir(d);
    for (size_t i = 0; i < n; i++)
        cairn_free(items[i].name);
    cairn_free(items);
    scanner_reset(&sc);
    return st;
}

/* ---- the compressor: a closed segment as blocks of columns ------------------------------- */

typedef struct blk_field {
    char *name;
    size_t name_len;
    cairn_buf kind, num, str_end, str;   /* every record gets a string, "" unless KIND_STRING */
    bool has_str;
} blk_field;

typedef struct blk_writer {
    cairn_atomic_file *af;
    ZSTD_CCtx *cctx;
    const char *where;
    cairn_error *err;
    cairn_status st;
    const atomic_bool *abort;     /* NULL, or: stop before the next block once true */
    bool aborted;
    size_t n, bytes;              /* records in the open block, and about its body size */
    cairn_buf time, score, lat, flags, version;
    cairn_buf str_end[CAIRN_PLOG_N_STR], str[CAIRN_PLOG_N_STR];
    blk_field *fields;
    size_t n_fields, cap_fields;
    cairn_buf frame;              /* block header and body, assembled for compression */
    uint8_t *out;
    size_t out_cap;
} blk_writer;

static void put_le32(cairn_buf *b, uint32_t v)
{
    uint8_t x[4];
    put_u32(x, v);
    cairn_buf_append(b, x, 4);
}

static void put_pad8(cairn_buf *b, size_t from)
{
    static const uint8_t zero[8];
    size_t len = b->len - from;
    if (len % 8)
        cairn_buf_append(b, zero, 8 - len % 8);
}

/* Appends one string of a string column: its bytes and a NUL; the end offset after it. */
static void put_col_str(cairn_buf *end, cairn_buf *str, const char *s, size_t len)
{
    if (len)
        cairn_buf_append(str, s, len);
    cairn_buf_append(str, "", 1);
    put_le32(end, (uint32_t)str->len);
}

static void blk_field_reset(blk_field *f)
{
    cairn_free(f->name);
    cairn_buf_reset(&f->kind);
    cairn_buf_reset(&f->num);
    cairn_buf_reset(&f->str_end);
    cairn_buf_reset(&f->str);
}

/* Empties the open block (keeps the buffers' memory). */
static void blk_clear(blk_writer *w)
{
    cairn_buf *bufs[] = {&w->time, &w->score, &w->lat, &w->flags, &w->version};
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(bufs); i++)
        bufs[i]->len = 0;
    for (int k = 0; k < CAIRN_PLOG_N_STR; k++)
        w->str_end[k].len = w->str[k].len = 0;
    for (size_t k = 0; k < w->n_fields; k++)
        blk_field_reset(&w->fields[k]);
    w->n_fields = 0;
    w->n = w->bytes = 0;
}

static bool blk_failed(const blk_writer *w)
{
    const cairn_buf *bufs[] = {&w->time, &w->score, &w->lat, &w->flags, &w->version, &w->frame};
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(bufs); i++)
        if (bufs[i]->failed)
            return true;
    for (int k = 0; k < CAIRN_PLOG_N_STR; k++)
        if (w->str_end[k].failed || w->str[k].failed)
            return true;
    for (size_t k = 0; k < w->n_fields; k++) {
        const blk_field *f = &w->fields[k];
        if (f->kind.failed || f->num.failed || f->str_end.failed || f->str.failed)
            return true;
    }
    return false;
}

/* Compresses bytes as one zstd frame and writes it. */
static cairn_status blk_write_frame(blk_writer *w, const void *p, size_t n)
{
    size_t bound = ZSTD_compressBound(n);
    if (bound > w->out_cap) {
        uint8_t *o = cairn_realloc(w->out, bound);
        if (!o)
            return w->st = cairn_error_set(w->err, CAIRN_ENOMEM, w->where, "out of memory");
        w->out = o;
        w->out_cap = bound;
    }
    size_t z = ZSTD_compress2(w->cctx, w->out, w->out_cap, p, n);
    if (ZSTD_isError(z))
        return w->st = cairn_error_set(w->err, CAIRN_EIO, w->where, "zstd: %s",
                                       ZSTD_getErrorName(z));
    return w->st = cairn_atomic_write(w->af, w->out, z, w->err);
}

/* Writes the open block (with the damage mark when damaged), then empties it. */
static cairn_status blk_flush(blk_writer *w, bool damaged)
{
    if (w->st != CAIRN_OK)
        return w->st;
    if (w->n == 0 && !damaged)
        return CAIRN_OK;
    cairn_buf *b = &w->frame;
    b->len = 0;
    uint8_t hdr[BLK_HEADER_BYTES] = {0};
    cairn_buf_append(b, hdr, sizeof hdr);   /* filled in below */
    size_t body = b->len;
    put_le32(b, (uint32_t)w->n);
    put_le32(b, (uint32_t)w->n_fields);
    put_le32(b, damaged ? 1u : 0u);
    put_le32(b, 0);
    const cairn_buf *fixed[] = {&w->time, &w->score, &w->lat, &w->flags, &w->version};
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(fixed); i++) {
        cairn_buf_append(b, fixed[i]->data, fixed[i]->len);
        put_pad8(b, body);
    }
    for (int k = 0; k < CAIRN_PLOG_N_STR; k++) {
        cairn_buf_append(b, w->str_end[k].data, w->str_end[k].len);
        put_pad8(b, body);
        cairn_buf_append(b, w->str[k].data, w->str[k].len);
        put_pad8(b, body);
    }
    for (size_t k = 0; k < w->n_fields; k++) {
        const blk_field *f = &w->fields[k];
        put_le32(b, (uint32_t)f->name_len);
        put_le32(b, f->has_str ? 1u : 0u);
        cairn_buf_append(b, f->name, f->name_len + 1);
        put_pad8(b, body);
    }
    for (size_t k = 0; k < w->n_fields; k++) {
        const blk_field *f = &w->fields[k];
        cairn_buf_append(b, f->kind.data, f->kind.len);
        put_pad8(b, body);
        cairn_buf_append(b, f->num.data, f->num.len);
        if (f->has_str) {
            cairn_buf_append(b, f->str_end.data, f->str_end.len);
            put_pad8(b, body);
            cairn_buf_append(b, f->str.data, f->str.len);
            put_pad8(b, body);
        }
    }
    if (blk_failed(w))
        return w->st = cairn_error_set(w->err, CAIRN_ENOMEM, w->where, "out of memory");
    size_t blen = b->len - body;
    if (blen > BLK_MAX_BODY)   /* cannot happen by the bound above; never write what no reader takes */
        return w->st = cairn_error_set(w->err, CAIRN_EIO, w->where,
                                       "a block of %zu bytes is over the format's limit", blen);
    uint8_t *h = (uint8_t *)b->data;
    put_u32(h, BLK_MAGIC);
    put_u32(h + 4, (uint32_t)blen);
    put_u64(h + 8, XXH64(h + BLK_HEADER_BYTES, blen, REC_HASH_SEED));
    blk_clear(w);
    return blk_write_frame(w, b->data, b->len);
}

static bool blk_same_names(const blk_writer *w, const cairn_plog_entry *e)
{
    if (w->n_fields != e->n_fields)
        return false;
    for (size_t k = 0; k < e->n_fields; k++)
        if (strcmp(w->fields[k].name, e->fields[k].name) != 0)
            return false;
    return true;
}

/* Scanner visitor: adds a record of the raw segment to the open block. */
static int blk_add(void *ctx, const cairn_plog_entry *e)
{
    blk_writer *w = ctx;
    if (w->n > 0 && (w->n >= BLK_MAX_RECORDS || w->bytes >= BLK_TARGET_BYTES ||
                     !blk_same_names(w, e)))
        if (blk_flush(w, false) != CAIRN_OK)
            return 1;
    if (w->n == 0 && w->abort && atomic_load_explicit(w->abort, memory_order_relaxed)) {
        w->aborted = true;
        return 1;
    }
    if (w->n == 0) {
        if (e->n_fields > w->cap_fields) {
            blk_field *f = cairn_reallocarray(w->fields, e->n_fields, sizeof *f);
            if (!f) {
                w->st = cairn_error_set(w->err, CAIRN_ENOMEM, w->where, "out of memory");
                return 1;
            }
            w->fields = f;
            w->cap_fields = e->n_fields;
        }
        for (size_t k = 0; k < e->n_fields; k++) {
            blk_field *f = &w->fields[k];
            memset(f, 0, sizeof *f);
            w->n_fields = k + 1;
            f->name_len = strlen(e->fields[k].name);
            if (!(f->name = cairn_strdup(e->fields[k].name))) {
                w->st = cairn_error_set(w->err, CAIRN_ENOMEM, w->where, "out of memory");
                return 1;
            }
        }
    }
    uint8_t x[8];
    put_u64(x, (uint64_t)e->time_us);
    cairn_buf_append(&w->time, x, 8);
    put_u64(x, f64_bits(e->score));
    cairn_buf_append(&w->score, x, 8);
    put_u64(x, f64_bits(e->latency_us));
    cairn_buf_append(&w->lat, x, 8);
    put_le32(&w->flags, e->flags);
    put_le32(&w->version, (uint32_t)e->version);
    const char *strs[CAIRN_PLOG_N_STR] = {e->request_id, e->entity, e->model, e->alias, e->label};
    size_t bytes = 48;
    for (int k = 0; k < CAIRN_PLOG_N_STR; k++) {
        size_t len = strlen(strs[k]);
        put_col_str(&w->str_end[k], &w->str[k], strs[k], len);
        bytes += len + 5;
    }
    for (size_t k = 0; k < e->n_fields; k++) {
        const cairn_field *f = &e->fields[k];
        blk_field *bf = &w->fields[k];
        uint8_t kind = f->kind == CAIRN_VALUE_BOOL     ? KIND_BOOL
                       : f->kind == CAIRN_VALUE_NUMBER ? KIND_NUMBER
                       : f->kind == CAIRN_VALUE_STRING ? KIND_STRING
                                                       : KIND_NULL;
        double num = kind == KIND_NUMBER ? f->num : kind == KIND_BOOL ? (f->b ? 1.0 : 0.0) : 0.0;
        cairn_buf_append(&bf->kind, &kind, 1);
        put_u64(x, f64_bits(num));
        cairn_buf_append(&bf->num, x, 8);
        size_t slen = kind == KIND_STRING ? f->str_len : 0;
        put_col_str(&bf->str_end, &bf->str, f->str, slen);
        bf->has_str = bf->has_str || kind == KIND_STRING;
        bytes += 14 + slen;
    }
    w->n++;
    w->bytes += bytes;
    return 0;   /* a failed append sticks to its buffer; blk_flush reports it */
}

static void blk_writer_reset(blk_writer *w)
{
    blk_clear(w);
    cairn_buf *bufs[] = {&w->time, &w->score, &w->lat, &w->flags, &w->version, &w->frame};
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(bufs); i++)
        cairn_buf_reset(bufs[i]);
    for (int k = 0; k < CAIRN_PLOG_N_STR; k++) {
        cairn_buf_reset(&w->str_end[k]);
        cairn_buf_reset(&w->str[k]);
    }
    cairn_free(w->fields);
    cairn_free(w->out);
}

/*
 * Reads the closed segment dir/name record by record (checksums verified) and writes
 * dir/name.zst: a segment header of format version 2, then blocks of at most
 * BLK_MAX_RECORDS records with the same field names, each block one zstd frame. A
 * damaged or torn record, which ends the reading of the raw segment, becomes an empty
 * block with the damage mark, so the compressed segment reads back the same records
 * and the same damage. Durable (temporary file, fsync, rename), then name is unlinked.
 */
static cairn_status compress_segment(const char *dir, const char *name, const atomic_bool *abort,
                                     bool *aborted, cairn_error *err)
{
    char src[4096], dst[4096 + 8];
    cairn_atomic_file af = {.fd = -1};
    blk_writer w = {.af = &af, .err = err, .where = src, .abort = abort};
    bool af_open = false;
    cairn_plog_read_stats stats = {0};
    scanner sc = {.visit = blk_add, .ctx = &w, .stats = &stats};
    bool stopped = false;
    cairn_status st;

    if (!join_path(src, sizeof src, dir, name)) {
        st = cairn_error_set(err, CAIRN_EINVAL, dir, "path too long");
        goto done;
    }
    snprintf(dst, sizeof dst, "%s.zst", src);
    struct stat sb;
    if (stat(src, &sb) != 0) {
        st = cairn_error_errno(err, errno, src, "cannot open segment");
        goto done;
    }
    w.cctx = ZSTD_createCCtx();
    if (!w.cctx) {
        st = cairn_error_set(err, CAIRN_ENOMEM, src, "out of memory compressing");
        goto done;
    }
    ZSTD_CCtx_setParameter(w.cctx, ZSTD_c_compressionLevel, ZSTD_LEVEL);
    /* No zstd content checksum: every block carries its own XXH64, checked on reading. */
    ZSTD_CCtx_setParameter(w.cctx, ZSTD_c_checksumFlag, 0);
    st = cairn_atomic_open(&af, dst, err);
    if (st != CAIRN_OK)
        goto done;
    af_open = true;
    uint8_t hdr[SEG_HEADER_BYTES] = {0};
    memcpy(hdr, SEG_MAGIC, 8);
    put_u32(hdr + 8, SEG_VERSION_BLOCKS);
    if ((st = blk_write_frame(&w, hdr, sizeof hdr)) != CAIRN_OK)
        goto done;
    st = read_segment(dir, name, &sc, &stopped, err);
    if (st == CAIRN_OK)
        st = w.st;
    if (st == CAIRN_OK && w.aborted) {
        *aborted = true;
        goto done;   /* the temporary file is removed; the segment stays as it is */
    }
    if (st == CAIRN_OK)
        st = blk_flush(&w, false);
    if (st == CAIRN_OK && stats.bad_records)
        st = blk_flush(&w, true);
    if (st != CAIRN_OK)
        goto done;
    af_open = false;
    st = cairn_atomic_commit(&af, err);
    if (st != CAIRN_OK)
        goto done;
    /* The .zst is complete and durable; a crash before this unlink leaves both files, and
     * the reader then reads only the .zst. */
    if (unlink(src) != 0)
        st = cairn_error_errno(err, errno, src, "cannot remove compressed segment");
done:
    if (af_open)
        cairn_atomic_abort(&af);
    scanner_reset(&sc);
    blk_writer_reset(&w);
    ZSTD_freeCCtx(w.cctx);
    return st;
}
