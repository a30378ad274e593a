/*
 * snapshot.c -- encodes a frame into the immutable columnar snapshot format
 * described in snapshot.h and decodes (and fully validates) it again.
 *
 * Encoding checks the frame's invariants first (validity bytes 0/1, bools 0/1,
 * string codes inside the dictionary, values of null rows zero, no NUL byte
 * inside a string), because a snapshot that was written must always load
 * again; then it compresses every column part (validity, values, dictionary)
 * as one zstd frame at a fixed level, in parallel over the parts with OpenMP.
 * zstd's output depends only on the input bytes and the parameters, never on
 * the thread that produced it, so the file is deterministic. Decoding trusts
 * nothing: every count, offset and length is checked against the file size
 * before it is used, sizes are checked against what a zstd frame of that
 * length can possibly expand to before anything is allocated, and the decoded
 * values are checked against the same invariants. Naming the file by its
 * hash, storing it and reading it from disk are left to the registry (and
 * cairn_snapshot_load, which only reads and verifies).
 */
#include "data/snapshot.h"

#include <string.h>
#include <strings.h>
#include <zstd.h>

/* Coverage instrumentation (fuzzing builds) can block the simd loops; that is fine there. */
#if defined(__clang__)
#pragma clang diagnostic ignored "-Wpass-failed"
#endif

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "snapshot.c writes value arrays as they lie in memory and needs a little-endian host"
#endif

#define HEADER_BYTES 24
/* Footer: u64 directory offset, u64 xxh3 checksum. */
#define FOOTER_BYTES 16
/* A directory entry without its name: u16 + u8 + six u64 + u32. */
#define DIR_ENTRY_FIXED (2 + 1 + 6 * 8 + 4)
/* Fixed level: the bytes (and so the content hash) must not depend on a setting. */
#define ZSTD_LEVEL 1
/*
 * The most output one byte of a zstd frame can stand for. The densest block
 * is an RLE block: a 3-byte header and 1 byte that expand to at most 128 KiB,
 * so a frame of z bytes never decodes to more than z * 32768 bytes. Sizes
 * claimed beyond that are refused before allocating (a decompression bomb or
 * a forged header), without refusing anything zstd can really produce.
 */
#define ZSTD_MAX_RATIO 32768u
/*
 * Below this many raw bytes a snapshot is coded on the calling thread: waking
 * a thread team costs more than compressing a few hundred KiB.
 */
#define PARALLEL_MIN_BYTES (1u << 20)
/* Dictionaries hold at most 2^31 strings (cairn_dict_intern's limit). */
#define DICT_MAX_STRINGS (1u << 31)

enum { PART_VALID = 0, PART_VALUES = 1, PART_DICT = 2, N_PARTS = 3 };

static const char *const part_names[N_PARTS] = {"validity", "values", "dictionary"};

/*
 * What went wrong in one parallel task. Workers cannot share the caller's
 * cairn_error, so each records a reason and a row, and the first failing task
 * in column order is turned into a message after the parallel loop; the
 * reported error is therefore the same whatever the thread timing.
 */
typedef enum task_fail {
    FAIL_NONE = 0,
    FAIL_NOMEM,
    FAIL_ZSTD,          /* compression or decompression failed */
    FAIL_SIZE,          /* a frame decoded to a size other than the expected one */
    FAIL_VALID,         /* validity byte not 0 or 1 */
    FAIL_BOOL,          /* bool value not 0 or 1 */
    FAIL_CODE,          /* string code outside the dictionary */
    FAIL_NULL_VALUE,    /* a null row with a non-zero value */
    FAIL_DICT_NUL,      /* a dictionary string holds a NUL byte (encode) */
    FAIL_DICT_FORMAT,   /* dictionary bytes do not split into dict_n strings (decode) */
    FAIL_DICT_DUP       /* the same string twice in a dictionary (decode) */
} task_fail;

typedef struct task_result {
    task_fail fail;
    size_t row;         /* row (or dictionary entry) where it failed */
    const char *zstd_msg;
} task_result;

/* ---- little-endian helpers -------------------------------------------- */

static void put_u16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint16_t get_u16(const unsigned char *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

static uint32_t get_u32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* ---- invariant checks shared by encode and decode ------------------------ */

/*
 * The checks run over every byte of every column on each encode and decode,
 * so they are written as branch-free reductions over blocks (which the
 * compiler vectorises) with a scalar rescan of a block only to name the row
 * when the block holds a bad value.
 */
#define CHECK_BLOCK 4096

/* Validity bytes must be exactly 0 or 1. */
static bool check_validity(const uint8_t *valid, size_t n, task_result *r)
{
    for (size_t b = 0; b < n; b += CHECK_BLOCK) {
        size_t e = n - b < CHECK_BLOCK ? n : b + CHECK_BLOCK;
        uint8_t acc = 0;
#pragma omp simd reduction(| : acc)
        for (size_t i = b; i < e; i++)
            acc |= valid[i];
        if (acc <= 1)
            continue;
        for (size_t i = b; i < e; i++) {
            if (valid[i] > 1) {
                r->fail = FAIL_VALID;
                r->row = i;
                return false;
            }
        }
    }
    return true;
}

/* The scalar rule of check_values() for one row (validity already 0/1). */
static task_fail row_fault(const cairn_column *c, uint32_t dict_n, size_t i)
{
    bool v = c->valid[i];
    switch (c->type) {
    case CAIRN_TYPE_BOOL:
        if (c->v.b[i] > (uint8_t)v)     /* valid: 0 or 1; null: only 0 */
            return v ? FAIL_BOOL : FAIL_NULL_VALUE;
        return FAIL_NONE;
    case CAIRN_TYPE_STRING:
        if (v ? c->v.codes[i] >= dict_n : c->v.codes[i] != 0)
            return v ? FAIL_CODE : FAIL_NULL_VALUE;
        return FAIL_NONE;
    default: {
        uint64_t bits;
        memcpy(&bits, (const unsigned char *)c->v.raw + i * 8, 8);
        return !v && bits ? FAIL_NULL_VALUE : FAIL_NONE;
    }
    }
}

/*
 * Values must respect the frame's rules: null rows hold 0 (as a bit pattern:
 * -0.0 is not zero here), bools are 0/1, string codes point into a dictionary
 * of dict_n strings. Keeping null rows at zero matters beyond tidiness: equal
 * frames then give equal bytes, and later code may index a dictionary with
 * any row's code. Assumes validity bytes are 0/1 (checked separately; a bad
 * one fails the whole encode or decode anyway).
 */
static bool check_values(const cairn_column *c, uint32_t dict_n, task_result *r)
{
    const uint8_t *valid = c->valid;
    size_t n = c->n_rows;
    for (size_t b = 0; b < n; b += CHECK_BLOCK) {
        size_t e = n - b < CHECK_BLOCK ? n : b + CHECK_BLOCK;
        uint64_t acc = 0;
        switch (c->type) {
        case CAIRN_TYPE_BOOL: {
            const uint8_t *v = c->v.b;
            uint8_t a8 = 0;
#pragma omp simd reduction(| : a8)
            for (size_t i = b; i < e; i++)
                a8 |= (uint8_t)(v[i] & (uint8_t)~valid[i]);
            acc = a8;
            break;
        }
        case CAIRN_TYPE_STRING: {
            const uint32_t *codes = c->v.codes;
            uint32_t a32 = 0;
#pragma omp simd reduction(| : a32)
            for (size_t i = b; i < e; i++) {
                uint32_t mask = 0u - (uint32_t)valid[i];   /* all ones on valid rows */
                a32 |= ((uint32_t)(codes[i] >= dict_n) & mask) | (codes[i] & ~mask);
            }
            acc = a32;
            break;
        }
        case CAIRN_TYPE_INT64:
        case CAIRN_TYPE_FLOAT64:
        case CAIRN_TYPE_TIMESTAMP: {
            const unsigned char *raw = c->v.raw;
#pragma omp simd reduction(| : acc)
            for (size_t i = b; i < e; i++) {
                uint64_t bits;
                memcpy(&bits, raw + i * 8, 8);
                acc |= bits & ((uint64_t)valid[i] - 1);    /* all ones on null rows */
            }
            break;
        }
        default:
            r->fail = FAIL_SIZE;
            return false;
        }
        if (!acc)
            continue;
        for (size_t i = b; i < e; i++) {
            task_fail why = row_fault(c, dict_n, i);
            if (why != FAIL_NONE) {
                r->fail = why;
                r->row = i;
                return false;
            }
        }
    }
    return true;
}

/* ---- encoding ---------------------------------------------------------------- */

/*
 * Where one part goes. Every part is compressed straight into its own slot of
 * the output buffer, each slot as large as ZSTD_compressBound of the part;
 * the slots are then packed down with memmove. Only the pages zstd actually
 * writes are touched, so the worst-case slots cost address space, not memory
 * (separate per-part buffers cost a page fault per 4 KiB of bound, which was
 * a fifth of the encode time at 1e6 rows x 30 columns).
 */
typedef struct part_plan {
    const void *src;    /* raw bytes */
    size_t n;           /* raw length */
    bool present;       /* false: no frame (dictionary of a non-string column) */
    size_t slot;        /* offset of the slot in the output buffer */
    size_t bound;       /* slot capacity */
    size_t zlen;        /* compressed length, after compression */
    int done;           /* set (release) once the slot holds its final bytes */
} part_plan;

/*
 * The BLAKE2b content hash is computed while the columns are still being
 * compressed: it runs over the header and then the frames in file order, and
 * whichever thread finishes a part and finds the hasher idle feeds it every
 * consecutive finished part. Nothing ever waits for the hasher (a busy one is
 * simply skipped; the caller finishes the chain after the parallel loop), so
 * hashing fills the gaps instead of running alone at the end. This is why the
 * directory offset sits in the footer: the header must be final before any
 * frame size is known.
 */
typedef struct hash_chain {
    cairn_hasher h;
    size_t next;        /* first part not yet hashed */
    int busy;           /* 1 while a thread feeds the hasher */
} hash_chain;

static void hash_chain_advance(hash_chain *hc, part_plan *plan, size_t n_tasks,
                               const unsigned char *buf)
{
    if (__atomic_exchange_n(&hc->busy, 1, __ATOMIC_ACQUIRE))
        return;
    while (hc->next < n_tasks && __atomic_load_n(&plan[hc->next].done, __ATOMIC_ACQUIRE)) {
        const part_plan *pp = &plan[hc->next];
        if (pp->present && pp->zlen)
            cairn_hasher_update(&hc->h, buf + pp->slot, pp->zlen);
        hc->next++;
    }
    __atomic_store_n(&hc->busy, 0, __ATOMIC_RELEASE);
}

/* The dictionary's bytes must be exactly dict.n NUL-terminated strings. */
static bool check_dict(const cairn_column *c, task_result *r)
{
    const char *b = c->dict.bytes;
    size_t len = c->dict.bytes_len;
    uint64_t nuls = 0;
    if (!b || len == 0) /* an empty dictionary has no bytes at all (and no pointer to offset) */
        len = 0;
    for (const char *p = b, *end = len ? b + len : b; p && p < end;) {
        const char *z = memchr(p, '\0', (size_t)(end - p));
        if (!z)
            break;
        nuls++;
        p = z + 1;
    }
    if (nuls == c->dict.n && (len == 0 || b[len - 1] == '\0'))
        return true;
    /* A NUL inside a string would split it in two on disk: name the string. */
    r->fail = FAIL_DICT_NUL;
    for (uint32_t i = 0; i < c->dict.n; i++) {
        if (strlen(cairn_dict_str(&c->dict, i)) != cairn_dict_len(&c->dict, i)) {
            r->row = i;
            break;
        }
    }
    return false;
}

/*
 * Values of 8-byte types are stored byte-transposed: the first byte of every
 * value, then every second byte, and so on. Signs, exponents and high-order
 * zeros then sit together, which zstd compresses smaller and faster (measured
 * on the ingest benchmark: 8% fewer bytes and 40% less compression time).
 */
static void shuffle8(const unsigned char *src, unsigned char *dst, size_t n)
{
    for (size_t r = 0; r < n; r++)
        for (size_t k = 0; k < 8; k++)
            dst[k * n + r] = src[r * 8 + k];
}

static void unshuffle8(const unsigned char *src, unsigned char *dst, size_t n)
{
    for (size_t r = 0; r < n; r++)
        for (size_t k = 0; k < 8; k++)
            dst[r * 8 + k] = src[k * n + r];
}

/* A per-thread buffer for shuffled values, grown as needed. */
typedef struct scratch {
    unsigned char *p;
    size_t cap;
} scratch;

/* Validates one part of one column and compresses it into its slot of buf. */
static void encode_part(ZSTD_CCtx *cctx, const cairn_column *c, int part, part_plan *pp,
                        unsigned char *buf, scratch *sc, task_result *r)
{
    if (!pp->present)
        return;
    if (!cctx) {
        r->fail = FAIL_NOMEM;
        return;
    }
    bool ok = part == PART_VALID    ? check_validity(c->valid, c->n_rows, r)
              : part == PART_VALUES ? check_values(c, c->type == CAIRN_TYPE_STRING ? c->dict.n : 0, r)
                                    : check_dict(c, r);
    if (!ok)
        return;
    const void *src = pp->src;
    if (part == PART_VALUES && cairn_type_size(c->type) == 8 && pp->n > 0) {
        if (sc->cap < pp->n) {
            unsigned char *p = cairn_realloc(sc->p, pp->n);
            if (!p) {
                r->fail = FAIL_NOMEM;
                return;
            }
            sc->p = p;
            sc->cap = pp->n;
        }
        shuffle8(pp->src, sc->p, c->n_rows);
        src = sc->p;
    }
    size_t zr = ZSTD_compressCCtx(cctx, buf + pp->slot, pp->bound, src, pp->n, ZSTD_LEVEL);
    if (ZSTD_isError(zr)) {
        r->fail = FAIL_ZSTD;
        r->zstd_msg = ZSTD_getErrorName(zr);
        return;
    }
    pp->zlen = zr;
}

/* Turns a failed task into the caller's error. */
static cairn_status task_error(cairn_error *err, const task_result *r, const cairn_column *c,
                               size_t col, int part, bool decoding, const char *where)
{
    const char *cname = c && c->name ? c->name : "";
    const char *pname = part >= 0 ? part_names[part] : "column";
    cairn_status code = decoding ? CAIRN_ECORRUPT : CAIRN_EINTERNAL;
    const char *what = "";
    switch (r->fail) {
    case FAIL_NOMEM:
        return cairn_error_set(err, CAIRN_ENOMEM, where, "out of memory %s snapshot column %zu '%s'",
                               decoding ? "decoding" : "encoding", col, cname);
    case FAIL_ZSTD:
        return cairn_error_set(err, code, where, "snapshot column %zu '%s': %s frame: zstd: %s",
                               col, cname, pname, r->zstd_msg ? r->zstd_msg : "error");
    case FAIL_SIZE:
        return cairn_error_set(err, code, where,
                               "snapshot column %zu '%s': %s frame has the wrong size", col, cname,
                               pname);
    case FAIL_DICT_NUL:
        /* User data, not a bug: say which value cannot be stored. */
        return cairn_error_set(err, CAIRN_EINPUT, where,
                               "column '%s': value %zu of its dictionary contains a NUL byte, "
                               "which a snapshot cannot store", cname, r->row);
    case FAIL_DICT_FORMAT:
        return cairn_error_set(err, code, where,
                               "snapshot column %zu '%s': dictionary does not hold the recorded "
                               "number of NUL-terminated strings", col, cname);
    case FAIL_DICT_DUP:
        return cairn_error_set(err, code, where,
                               "snapshot column %zu '%s': dictionary string %zu is a duplicate",
                               col, cname, r->row);
    case FAIL_VALID: what = "validity byte is not 0 or 1"; break;
    case FAIL_BOOL: what = "bool value is not 0 or 1"; break;
    case FAIL_CODE: what = "string code is outside the dictionary"; break;
    case FAIL_NULL_VALUE: what = "null row holds a non-zero value"; break;
    default: what = "unknown failure"; break;
    }
    return cairn_error_set(err, code, where, "%ssnapshot column %zu '%s', row %zu: %s",
                           decoding ? "" : "frame to encode is inconsistent: ", col, cname,
                           r->row, what);
}

cairn_status cairn_snapshot_encode(const cairn_frame *f, char **out, size_t *out_len,
                                   unsigned char hash[CAIRN_HASH_BYTES], cairn_error *err)
{
    static const char empty[1] = {0};
    cairn_status st = CAIRN_OK;
    part_plan *plan = NULL;
    task_result *res = NULL;
    unsigned char *buf = NULL;
    size_t n_tasks = 0, cap = 0, dir_bytes = 0;
    uint64_t raw_bytes = 0;

    *out = NULL;
    *out_len = 0;
    if (f->n_cols > UINT32_MAX) {
        st = cairn_error_set(err, CAIRN_ETOOBIG, NULL, "too many columns for a snapshot (%zu)",
                             f->n_cols);
        goto done;
    }
    n_tasks = f->n_cols * N_PARTS;
    plan = cairn_calloc(n_tasks ? n_tasks : 1, sizeof *plan);
    res = cairn_calloc(n_tasks ? n_tasks : 1, sizeof *res);
    if (!plan || !res) {
        st = cairn_error_set(err, CAIRN_ENOMEM, NULL, "out of memory encoding a snapshot");
        goto done;
    }

    /* Plan: shape checks, raw sizes, slots; every sum checked for overflow. */
    cap = HEADER_BYTES;
    for (size_t i = 0; i < f->n_cols; i++) {
        const cairn_column *c = &f->cols[i];
        const char *nm = c->name ? c->name : "";
        size_t name_len = strlen(nm), values_n;
        if (name_len > UINT16_MAX) {
            st = cairn_error_set(err, CAIRN_EINPUT, nm, "column %zu: name longer than %u bytes", i,
                                 UINT16_MAX);
            goto done;
        }
        if (cairn_type_size(c->type) == 0 || c->n_rows != f->n_rows ||
            (f->n_rows && (!c->valid || !c->v.raw))) {
            st = cairn_error_set(err, CAIRN_EINTERNAL, nm,
                                 "frame to encode is inconsistent: column %zu has no type, no "
                                 "data or %zu rows instead of %zu", i, c->n_rows, f->n_rows);
            goto done;
        }
        if (!cairn_mul_size(f->n_rows, cairn_type_size(c->type), &values_n))
            goto too_big;
        part_plan *pp = &plan[i * N_PARTS];
        pp[PART_VALID] = (part_plan){.src = f->n_rows ? (const void *)c->valid : empty,
                                     .n = f->n_rows, .present = true};
        pp[PART_VALUES] = (part_plan){.src = values_n ? c->v.raw : empty, .n = values_n,
                                      .present = true};
        if (c->type == CAIRN_TYPE_STRING)
            pp[PART_DICT] = (part_plan){.src = c->dict.bytes_len ? c->dict.bytes : empty,
                                        .n = c->dict.bytes_len, .present = true};
        for (int p = 0; p < N_PARTS; p++) {
            if (!pp[p].present)
                continue;
            pp[p].bound = ZSTD_compressBound(pp[p].n);
            pp[p].slot = cap;
            if (ZSTD_isError(pp[p].bound) || __builtin_add_overflow(cap, pp[p].bound, &cap))
                goto too_big;
            raw_bytes += pp[p].n;
        }
        if (__builtin_add_overflow(dir_bytes, DIR_ENTRY_FIXED + name_len, &dir_bytes))
            goto too_big;
    }
    if (__builtin_add_overflow(cap, dir_bytes + FOOTER_BYTES, &cap))
        goto too_big;
    buf = cairn_malloc(cap);
    if (!buf) {
        st = cairn_error_set(err, CAIRN_ENOMEM, NULL,
                             "out of memory encoding a snapshot (%zu bytes)", cap);
        goto done;
    }
    memcpy(buf, CAIRN_SNAPSHOT_MAGIC, 8);
    put_u32(buf + 8, CAIRN_SNAPSHOT_VERSION);
    put_u32(buf + 12, (uint32_t)f->n_cols);
    put_u64(buf + 16, (uint64_t)f->n_rows);
    hash_chain hc = {.next = 0, .busy = 0};
    cairn_hasher_init(&hc.h);
    cairn_hasher_update(&hc.h, buf, HEADER_BYTES);

    /* Compress, in parallel over parts, with one zstd context per thread. */
    bool parallel = n_tasks > 1 && raw_bytes >= PARALLEL_MIN_BYTES;
#pragma omp parallel if (parallel)
    {
        ZSTD_CCtx *cctx = ZSTD_createCCtx();
        scratch sc = {NULL, 0};
#pragma omp for schedule(dynamic, 1) nowait
        for (size_t t = 0; t < n_tasks; t++) {
            encode_part(cctx, &f->cols[t / N_PARTS], (int)(t % N_PARTS), &plan[t], buf, &sc,
                        &res[t]);
            __atomic_store_n(&plan[t].done, 1, __ATOMIC_RELEASE);
            hash_chain_advance(&hc, plan, n_tasks, buf);
        }
        ZSTD_freeCCtx(cctx);
        cairn_free(sc.p);
    }
    /* The first failure in column order is reported, whatever the timing. */
    for (size_t t = 0; t < n_tasks; t++) {
        if (res[t].fail != FAIL_NONE) {
            const cairn_column *c = &f->cols[t / N_PARTS];
            st = task_error(err, &res[t], c, t / N_PARTS, (int)(t % N_PARTS), false, c->name);
            goto done;
        }
    }
    hash_chain_advance(&hc, plan, n_tasks, buf);   /* all done now: hashes the rest */
    if (hc.next != n_tasks) {
        st = cairn_error_set(err, CAIRN_EINTERNAL, NULL, "snapshot hash chain incomplete");
        goto done;
    }

    /* Pack the frames down (each moves towards the start: memmove is safe). */
    size_t pos = HEADER_BYTES;
    for (size_t t = 0; t < n_tasks; t++) {
        if (!plan[t].present)
            continue;
        if (plan[t].slot != pos)
            memmove(buf + pos, buf + plan[t].slot, plan[t].zlen);
        plan[t].slot = pos;
        pos += plan[t].zlen;
    }
    size_t dir_off = pos;
    for (size_t i = 0; i < f->n_cols; i++) {
        const cairn_column *c = &f->cols[i];
        const char *nm = c->name ? c->name : "";
        size_t nl = strlen(nm);
        put_u16(buf + pos, (uint16_t)nl);
        pos += 2;
        memcpy(buf + pos, nm, nl);
        pos += nl;
        buf[pos++] = (unsigned char)c->type;
        for (int p = 0; p < N_PARTS; p++) {
            const part_plan *pp = &plan[i * N_PARTS + (size_t)p];
            /* An absent part (no dictionary) is recorded as offset 0, length 0. */
            put_u64(buf + pos, pp->present ? (uint64_t)pp->slot : 0);
            put_u64(buf + pos + 8, pp->present ? (uint64_t)pp->zlen : 0);
            pos += 16;
        }
        put_u32(buf + pos, c->type == CAIRN_TYPE_STRING ? c->dict.n : 0);
        pos += 4;
    }
    put_u64(buf + pos, (uint64_t)dir_off);
    pos += 8;
    put_u64(buf + pos, cairn_hash64(buf, pos, 0));
    pos += 8;
    cairn_hasher_update(&hc.h, buf + dir_off, pos - dir_off);
    cairn_hasher_final(&hc.h, hash);

    /* Give back the unused slot space (a shrinking realloc; keep buf if it fails). */
    unsigned char *shrunk = cairn_realloc(buf, pos);
    if (shrunk)
        buf = shrunk;
    *out = (char *)buf;
    *out_len = pos;
    buf = NULL;
    goto done;

too_big:
    st = cairn_error_set(err, CAIRN_ETOOBIG, NULL, "frame too large for a snapshot");
done:
    cairn_free(plan);
    cairn_free(res);
    cairn_free(buf);
    return st;
}

/* ---- decoding ---------------------------------------------------------------- */

/* One parsed directory entry; all ranges already checked against the file. */
typedef struct dir_entry {
    const char *name;   /* not NUL-terminated: name_len bytes inside the input */
    uint16_t name_len;
    cairn_type type;
    uint64_t off[N_PARTS];
    uint64_t zlen[N_PARTS];
    uint64_t content[N_PARTS]; /* decompressed sizes from the zstd frame headers */
    uint32_t dict_n;
} dir_entry;

/*
 * Checks that data[off, off+zlen) lies inside the column-block area and is one
 * whole zstd frame whose header states a plausible decompressed size.
 * *content receives that size.
 */
static const char *check_frame(const unsigned char *data, uint64_t dir_off, uint64_t off,
                               uint64_t zlen, uint64_t *content)
{
    if (zlen == 0)
        return "is missing";
    if (off < HEADER_BYTES || zlen > dir_off || off > dir_off - zlen)
        return "lies outside the column blocks";
    const void *src = data + off;
    if (ZSTD_findFrameCompressedSize(src, (size_t)zlen) != zlen)
        return "is not exactly one zstd frame";
    unsigned long long cs = ZSTD_getFrameContentSize(src, (size_t)zlen);
    if (cs == ZSTD_CONTENTSIZE_UNKNOWN || cs == ZSTD_CONTENTSIZE_ERROR)
        return "has no valid content size";
    if (cs / ZSTD_MAX_RATIO > zlen)
        return "claims more content than its size allows";
    *content = cs;
    return NULL;
}

static cairn_status parse_directory(const unsigned char *data, size_t len, const char *name,
                                    uint32_t n_cols, uint64_t n_rows, uint64_t dir_off,
                                    dir_entry *ents, cairn_error *err)
{
    const size_t body_end = len - FOOTER_BYTES;
    size_t pos = (size_t)dir_off;
    for (uint32_t i = 0; i < n_cols; i++) {
        dir_entry *e = &ents[i];
        if (body_end - pos < DIR_ENTRY_FIXED)
            return cairn_error_set(err, CAIRN_ECORRUPT, name,
                                   "snapshot directory entry %u is truncated", i);
        e->name_len = get_u16(data + pos);
        pos += 2;
        if (body_end - pos < (size_t)e->name_len + DIR_ENTRY_FIXED - 2)
            return cairn_error_set(err, CAIRN_ECORRUPT, name,
                                   "snapshot directory entry %u is truncated", i);
        e->name = (const char *)data + pos;
        if (memchr(e->name, '\0', e->name_len))
            return cairn_error_set(err, CAIRN_ECORRUPT, name,
                                   "snapshot column %u: name contains a NUL byte", i);
        pos += e->name_len;
        unsigned t = data[pos++];
        if (t < CAIRN_TYPE_BOOL || t > CAIRN_TYPE_STRING)
            return cairn_error_set(err, CAIRN_ECORRUPT, name,
                                   "snapshot column %u: unknown type %u", i, t);
        e->type = (cairn_type)t;
        for (int p = 0; p < N_PARTS; p++) {
            e->off[p] = get_u64(data + pos);
            e->zlen[p] = get_u64(data + pos + 8);
            pos += 16;
        }
        e->dict_n = get_u32(data + pos);
        pos += 4;

        /* Expected sizes: n_rows validity bytes and n_rows values. */
        uint64_t expect[2] = {n_rows, 0};
        if (__builtin_mul_overflow(n_rows, (uint64_t)cairn_type_size(e->type), &expect[1]) ||
            expect[1] > SIZE_MAX)
            return cairn_error_set(err, CAIRN_ECORRUPT, name,
                                   "snapshot column %u: %llu rows are too many", i,
                                   (unsigned long long)n_rows);
        for (int p = PART_VALID; p <= PART_VALUES; p++) {
            const char *why = check_frame(data, dir_off, e->off[p], e->zlen[p], &e->content[p]);
            if (!why && e->content[p] != expect[p])
                why = "does not hold one entry per row";
            if (why)
                return cairn_error_set(err, CAIRN_ECORRUPT, name, "snapshot column %u: %s frame %s",
                                       i, part_names[p], why);
        }
        if (e->type == CAIRN_TYPE_STRING) {
            const char *why = check_frame(data, dir_off, e->off[PART_DICT], e->zlen[PART_DICT],
                                          &e->content[PART_DICT]);
            /* Every string takes at least its NUL, so dict_n can never exceed the bytes. */
            if (!why && (e->dict_n > DICT_MAX_STRINGS || e->dict_n > e->content[PART_DICT] ||
                         e->content[PART_DICT] > SIZE_MAX - 1 ||
                         (e->dict_n == 0) != (e->content[PART_DICT] == 0)))
                why = "does not match its string count";
            if (why)
                return cairn_error_set(err, CAIRN_ECORRUPT, name,
                                       "snapshot column %u: dictionary frame %s", i, why);
        } else if (e->off[PART_DICT] || e->zlen[PART_DICT] || e->dict_n) {
            return cairn_error_set(err, CAIRN_ECORRUPT, name,
                                   "snapshot column %u: a %s column has a dictionary", i,
                                   cairn_type_name(e->type));
        }
    }
    if (pos != body_end)
        return cairn_error_set(err, CAIRN_ECORRUPT, name,
                               "snapshot directory does not end at the footer (%zu extra bytes)",
                               body_end - pos);
    return CAIRN_OK;
}

/* Decompresses exactly `size` bytes of one part into dst. */
static bool decompress_part(ZSTD_DCtx *dctx, const unsigned char *data, const dir_entry *e,
                            int part, void *dst, size_t size, task_result *r)
{
    size_t got = ZSTD_decompressDCtx(dctx, dst, size, data + e->off[part], (size_t)e->zlen[part]);
    if (ZSTD_isError(got)) {
        r->fail = FAIL_ZSTD;
        r->zstd_msg = ZSTD_getErrorName(got);
        return false;
    }
    if (got != size) {
        r->fail = FAIL_SIZE;
        return false;
    }
    return true;
}

/* Rebuilds the dictionary from its NUL-separated strings, keeping the codes. */
static bool decode_dict(ZSTD_DCtx *dctx, const unsigned char *data, const dir_entry *e,
                        cairn_column *c, task_result *r)
{
    size_t size = (size_t)e->content[PART_DICT];
    bool ok = false;
    char *s = cairn_malloc(size + 1);
    if (!s) {
        r->fail = FAIL_NOMEM;
        return false;
    }
    if (!decompress_part(dctx, data, e, PART_DICT, s, size, r))
        goto done;
    if (size > 0 && s[size - 1] != '\0') {
        r->fail = FAIL_DICT_FORMAT;
        goto done;
    }
    /* Count first so a wrong count is refused before any interning work. */
    uint64_t count = 0;
    for (const char *p = s, *end = s + size; p < end;) {
        const char *z = memchr(p, '\0', (size_t)(end - p));
        count++;
        p = z + 1;
    }
    if (count != e->dict_n) {
        r->fail = FAIL_DICT_FORMAT;
        goto done;
    }
    uint32_t i = 0;
    for (const char *p = s, *end = s + size; p < end; i++) {
        size_t n = strlen(p);
        uint32_t code;
        cairn_status st = cairn_dict_intern(&c->dict, p, n, &code);
        if (st != CAIRN_OK) {
            r->fail = st == CAIRN_ENOMEM ? FAIL_NOMEM : FAIL_DICT_FORMAT;
            goto done;
        }
        if (code != i) {        /* an earlier identical string took this code */
            r->fail = FAIL_DICT_DUP;
            r->row = i;
            goto done;
        }
        p += n + 1;
    }
    ok = true;
done:
    cairn_free(s);
    return ok;
}

static void decode_column(ZSTD_DCtx *dctx, const unsigned char *data, const dir_entry *e,
                          size_t n_rows, cairn_column *c, task_result *r)
{
    if (!dctx) {
        r->fail = FAIL_NOMEM;
        return;
    }
    if (cairn_column_alloc(c, "", e->type, n_rows, NULL) != CAIRN_OK) {
        r->fail = FAIL_NOMEM;
        return;
    }
    cairn_free(c->name);
    c->name = cairn_strndup(e->name, e->name_len);
    if (!c->name) {
        r->fail = FAIL_NOMEM;
        return;
    }
    if (!decompress_part(dctx, data, e, PART_VALID, c->valid, n_rows, r) ||
        !check_validity(c->valid, n_rows, r))
        return;
    size_t values_n = (size_t)e->content[PART_VALUES];
    if (cairn_type_size(e->type) == 8 && values_n > 0) {
        unsigned char *tmp = cairn_malloc(values_n);
        if (!tmp) {
            r->fail = FAIL_NOMEM;
            return;
        }
        bool ok = decompress_part(dctx, data, e, PART_VALUES, tmp, values_n, r);
        if (ok)
            unshuffle8(tmp, c->v.raw, n_rows);
        cairn_free(tmp);
        if (!ok)
            return;
    } else if (!decompress_part(dctx, data, e, PART_VALUES, c->v.raw, values_n, r)) {
        return;
    }
    if (e->type == CAIRN_TYPE_STRING && !decode_dict(dctx, data, e, c, r))
        return;
    check_values(c, e->dict_n, r);
}

cairn_status cairn_snapshot_decode(const char *data_in, size_t len, const char *name,
                                   cairn_frame **out, cairn_error *err)
{
    const unsigned char *data = (const unsigned char *)data_in;
    cairn_status st = CAIRN_OK;
    dir_entry *ents = NULL;
    task_result *res = NULL;
    cairn_frame *f = NULL;

    *out = NULL;
    if (!name)
        name = "snapshot";
    if (len < HEADER_BYTES + FOOTER_BYTES) {
        st = cairn_error_set(err, CAIRN_ECORRUPT, name, "snapshot is truncated (%zu bytes)", len);
        goto done;
    }
    if (memcmp(data, CAIRN_SNAPSHOT_MAGIC, 8) != 0) {
        st = cairn_error_set(err, CAIRN_ECORRUPT, name, "not a cairn snapshot (bad magic)");
        goto done;
    }
    uint32_t version = get_u32(data + 8);
    if (version != CAIRN_SNAPSHOT_VERSION) {
        st = cairn_error_set(err, CAIRN_ECORRUPT, name,
                             "unsupported snapshot format version %u (this cairn reads %d)",
                             version, CAIRN_SNAPSHOT_VERSION);
        goto done;
    }
    /* The checksum comes before any other field is trusted. */
    if (cairn_hash64(data, len - 8, 0) != get_u64(data + len - 8)) {
        st = cairn_error_set(err, CAIRN_ECORRUPT, name,
                             "snapshot checksum mismatch (truncated or damaged file)");
        goto done;
    }
    uint32_t n_cols = get_u32(data + 12);
    uint64_t n_rows = get_u64(data + 16);
    uint64_t dir_off = get_u64(data + len - FOOTER_BYTES);
    if (dir_off < HEADER_BYTES || dir_off > len - FOOTER_BYTES) {
        st = cairn_error_set(err, CAIRN_ECORRUPT, name, "snapshot directory offset %llu is out of range",
                             (unsigned long long)dir_off);
        goto done;
    }
    if (n_rows > SIZE_MAX) {
        st = cairn_error_set(err, CAIRN_ECORRUPT, name, "snapshot row count is out of range");
        goto done;
    }
    /* Bound the column count by the directory's size before allocating for it. */
    if (n_cols > (len - FOOTER_BYTES - dir_off) / DIR_ENTRY_FIXED) {
        st = cairn_error_set(err, CAIRN_ECORRUPT, name,
                             "snapshot column count %u does not fit its directory", n_cols);
        goto done;
    }
    ents = cairn_calloc(n_cols ? n_cols : 1, sizeof *ents);
    res = cairn_calloc(n_cols ? n_cols : 1, sizeof *res);
    if (!ents || !res) {
        st = cairn_error_set(err, CAIRN_ENOMEM, name, "out of memory decoding a snapshot");
        goto done;
    }
    st = parse_directory(data, len, name, n_cols, n_rows, dir_off, ents, err);
    if (st != CAIRN_OK)
        goto done;
    st = cairn_frame_new(n_cols, &f, err);
    if (st != CAIRN_OK)
        goto done;
    f->n_rows = (size_t)n_rows;

    /* The decoded size (bounded by the checks above) decides whether threads pay off. */
    uint64_t raw_bytes = 0;
    for (uint32_t i = 0; i < n_cols; i++)
        raw_bytes += ents[i].content[PART_VALID] + ents[i].content[PART_VALUES] +
                     ents[i].content[PART_DICT];
    bool parallel = n_cols > 1 && raw_bytes >= PARALLEL_MIN_BYTES;

#pragma omp parallel if (parallel)
    {
        ZSTD_DCtx *dctx = ZSTD_createDCtx();
#pragma omp for schedule(dynamic, 1)
        for (uint32_t i = 0; i < n_cols; i++)
            decode_column(dctx, data, &ents[i], (size_t)n_rows, &f->cols[i], &res[i]);
        ZSTD_freeDCtx(dctx);
    }
    for (uint32_t i = 0; i < n_cols; i++) {
        if (res[i].fail != FAIL_NONE) {
            /* Which part failed is implied by the reason; name the column. */
            int part = res[i].fail == FAIL_VALID ? PART_VALID
                       : (res[i].fail == FAIL_DICT_FORMAT || res[i].fail == FAIL_DICT_DUP)
                           ? PART_DICT
                           : PART_VALUES;
            cairn_column tmp = {0};
            char nm[256];
            size_t nl = ents[i].name_len < sizeof nm - 1 ? ents[i].name_len : sizeof nm - 1;
            memcpy(nm, ents[i].name, nl);
            nm[nl] = '\0';
            tmp.name = nm;
            st = task_error(err, &res[i], &tmp, i, part, true, name);
            goto done;
        }
    }
    *out = f;
    f = NULL;
done:
    cairn_frame_free(f);
    cairn_free(ents);
    cairn_free(res);
    return st;
}

cairn_status cairn_snapshot_load(const char *path, const char *expected_hex, cairn_frame **out,
                                 cairn_error *err)
{
    char *data = NULL;
    size_t len = 0;
    *out = NULL;
    cairn_status st = cairn_read_file(path, &data, &len, err);
    if (st != CAIRN_OK)
        goto done;
    if (expected_hex) {
        unsigned char hash[CAIRN_HASH_BYTES];
        char hex[CAIRN_HASH_HEX];
        cairn_hasher h;
        cairn_hasher_init(&h);
        cairn_hasher_update(&h, data, len);
        cairn_hasher_final(&h, hash);
        cairn_hash_hex(hash, hex);
        if (strlen(expected_hex) != CAIRN_HASH_HEX - 1 ||
            strncasecmp(hex, expected_hex, CAIRN_HASH_HEX - 1) != 0) {
            st = cairn_error_set(err, CAIRN_ECORRUPT, path,
                                 "snapshot content does not match its hash %.64s (the file was "
                                 "changed or damaged)", expected_hex);
            goto done;
        }
    }
    st = cairn_snapshot_decode(data, len, path, out, err);
done:
    cairn_free(data);
    return st;
}
