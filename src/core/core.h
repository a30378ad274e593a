/*
 * core.h -- shared internals of libcairn: errors, allocation, growable
 * buffers, hashing, durable file writes, time and number parsing/formatting.
 *
 * Nothing here prints. These names are internal (hidden visibility) and are
 * used by every other module; they are not part of the public API.
 */
#ifndef CAIRN_CORE_H
#define CAIRN_CORE_H

#include "cairn.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define CAIRN_UNUSED(x) ((void)(x))
#define CAIRN_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- errors ------------------------------------------------------------ */

/* Fills err (when non-NULL) and returns code. msg is a printf format. */
cairn_status cairn_error_set(cairn_error *err, cairn_status code, const char *where,
                             const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Same, where is "FILE:LINE:COLUMN" (line/column 1-based; 0 omits them). */
cairn_status cairn_error_at(cairn_error *err, cairn_status code, const char *file, long line,
                            long column, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/* An errno-based I/O error: "what: strerror(errno)" at path. */
cairn_status cairn_error_errno(cairn_error *err, int errnum, const char *path, const char *what);

/* ---- allocation (all library allocations go through these) ------------- */

void *cairn_malloc(size_t n);
void *cairn_calloc(size_t count, size_t size);
void *cairn_realloc(void *p, size_t n);
/* realloc to count*size bytes, NULL (p untouched) on overflow or failure. */
void *cairn_reallocarray(void *p, size_t count, size_t size);
char *cairn_strdup(const char *s);
char *cairn_strndup(const char *s, size_t n);
void cairn_free(void *p);
/*
 * Test hook: make the Nth allocation from now on (1-based) fail, and every one
 * after it while `sticky`. 0 disables. Per thread.
 */
void cairn_alloc_fail_after(long n, bool sticky);
/* Multiplies with overflow check; returns false on overflow. */
static inline bool cairn_mul_size(size_t a, size_t b, size_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}

/* ---- growable byte buffer with a sticky allocation failure -------------- */

typedef struct cairn_buf {
    char *data;     /* always NUL-terminated when len > 0 or after any append */
    size_t len;
    size_t cap;
    bool failed;    /* an allocation failed; later appends are ignored */
} cairn_buf;

void cairn_buf_init(cairn_buf *b);
void cairn_buf_reset(cairn_buf *b);            /* frees the memory */
/* The growing half of cairn_buf_append (out of line: rare). */
void cairn_buf_append_grow(cairn_buf *b, const void *p, size_t n);
/* Appends n bytes (p may be NULL when n is 0). Inline when they fit, which
 * is nearly always: builders append a few bytes at a time. */
static inline void cairn_buf_append(cairn_buf *b, const void *p, size_t n)
{
    if (!b->failed && n < b->cap - b->len) {
        if (n)
            memcpy(b->data + b->len, p, n);
        b->len += n;
        b->data[b->len] = '\0';
        return;
    }
    cairn_buf_append_grow(b, p, n);
}
void cairn_buf_puts(cairn_buf *b, const char *s);
void cairn_buf_putc(cairn_buf *b, char c);
void cairn_buf_printf(cairn_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cairn_buf_vprintf(cairn_buf *b, const char *fmt, va_list ap);
/* Appends a double so it reads back exactly (%.17g, shortest of %.15g/%.17g that round-trips). */
void cairn_buf_put_double(cairn_buf *b, double v);
/* A JSON number: v as cairn_buf_put_double writes it, or null when v is NaN or infinite
 * (JSON has neither). */
void cairn_buf_put_json_number(cairn_buf *b, double v);
/* Appends s as a JSON string literal, quotes included. */
void cairn_buf_put_json_string(cairn_buf *b, const char *s, size_t n);
/* Takes the data out (caller frees with cairn_free); the buffer is left empty. NULL if failed. */
char *cairn_buf_take(cairn_buf *b);

/* ---- numbers ------------------------------------------------------------ */

/* Formats v into out (at least 32 bytes) so that strtod reads back the same double. */
void cairn_fmt_double(char *out, size_t cap, double v);
/* Writes into out (at least 32 bytes) the text of "%.16g" when it reads back as v, else
 * of "%.17g", and returns its length: exactly what snprintf and strtod would give, but
 * for 1e-4 <= |v| < 1e15 computed in integer arithmetic, ten times faster (the server
 * writes every score this way). */
size_t cairn_fmt_score(char *out, double v);
/*
 * Parses the whole of s[0..n) as an integer / a decimal or scientific number
 * ("5e+05", "-.5", "1E3"); no surrounding spaces. Locale-independent.
 * "inf"/"nan" are not numbers here. Returns false when s is not exactly one.
 */
bool cairn_parse_int64(const char *s, size_t n, int64_t *out);
bool cairn_parse_double(const char *s, size_t n, double *out);
/* "true"/"false"/"True"/"FALSE"/"yes"/"no"... see core/num.c for the accepted spellings. */
bool cairn_parse_bool(const char *s, size_t n, bool *out);

/* ---- time --------------------------------------------------------------- */

/*
 * Parses an ISO 8601 date or date-time: "2024-03-01", "2024-03-01T12:30",
 * "2024-03-01 12:30:45.123", with optional "Z" or "+02:00"/"-0500" zone
 * (without zone: UTC). Output: microseconds since the Unix epoch (UTC).
 */
bool cairn_parse_timestamp(const char *s, size_t n, int64_t *out_us);
/* A time as users write it in files and flags: a number is seconds since the epoch
 * (integers exactly, fractions to the microsecond; at most 1e12 in magnitude), anything
 * else must be ISO 8601 as above. A number is tried first, so a bare "20240301" means one
 * thing only. */
bool cairn_parse_time(const char *s, size_t n, int64_t *out_us);
/* Formats microseconds since the epoch as "2024-03-01T12:30:45Z" (fraction when non-zero). */
void cairn_fmt_timestamp(char *out, size_t cap, int64_t us);
/* Now, in microseconds since the epoch, and as ISO 8601 UTC into out (>= 32 bytes). */
int64_t cairn_now_us(void);
void cairn_now_iso(char *out, size_t cap);
/* Monotonic clock in seconds (for durations and deadlines; not a wall time). */
double cairn_mono_s(void);

/* ---- hashing ------------------------------------------------------------ */

#define CAIRN_HASH_BYTES 32             /* BLAKE2b-256 */
#define CAIRN_HASH_HEX (CAIRN_HASH_BYTES * 2 + 1)

typedef struct cairn_hasher {
    unsigned char state[384] __attribute__((aligned(64))); /* crypto_generichash_state */
} cairn_hasher;

void cairn_hasher_init(cairn_hasher *h);
void cairn_hasher_update(cairn_hasher *h, const void *p, size_t n);
void cairn_hasher_final(cairn_hasher *h, unsigned char out[CAIRN_HASH_BYTES]);
void cairn_hash_hex(const unsigned char hash[CAIRN_HASH_BYTES], char out[CAIRN_HASH_HEX]);
/* 64-bit non-cryptographic hash (xxh3) for tables and sketches. */
uint64_t cairn_hash64(const void *p, size_t n, uint64_t seed);

/* ---- random numbers ------------------------------------------------------ */

/* splitmix64: advances *state and returns the next output (also a good 64-bit mixer). */
uint64_t cairn_splitmix64(uint64_t *state);
/* xoshiro256** seeded through splitmix64; the same seed gives the same stream everywhere. */
typedef struct cairn_rng {
    uint64_t s[4];
} cairn_rng;
void cairn_rng_init(cairn_rng *rng, uint64_t seed);
uint64_t cairn_rng_next(cairn_rng *rng);
/* Uniform in [0, bound) without modulo bias (rejection); bound > 0. */
uint64_t cairn_rng_below(cairn_rng *rng, uint64_t bound);

/* ---- files -------------------------------------------------------------- */

/*
 * Durable write: creates a unique temporary file in the directory of
 * final_path, hands its fd to the caller through cairn_atomic_file, and on
 * commit fsyncs it, renames it over final_path and fsyncs the directory. An
 * abort (or a crash) leaves final_path untouched; abort unlinks the temp file.
 * A final_path that is a symbolic link to a file is replaced at the link's
 * target (the link stays). One that exists and is not a regular file (a
 * device such as /dev/null or a terminal, a FIFO, a socket) is written
 * directly (`direct`): renaming a file over it would replace the device node.
 */
typedef struct cairn_atomic_file {
    int fd;
    bool direct;
    char tmp_path[4096];
    char final_path[4096];
} cairn_atomic_file;

cairn_status cairn_atomic_open(cairn_atomic_file *f, const char *final_path, cairn_error *err);
cairn_status cairn_atomic_write(cairn_atomic_file *f, const void *p, size_t n, cairn_error *err);
cairn_status cairn_atomic_commit(cairn_atomic_file *f, cairn_error *err);
void cairn_atomic_abort(cairn_atomic_file *f);
/* Writes all of p to final_path durably (open + write + commit). */
cairn_status cairn_write_file_atomic(const char *final_path, const void *p, size_t n,
                                     cairn_error *err);
/* Reads a whole file into memory (caller frees with cairn_free); adds a NUL after the end. */
cairn_status cairn_read_file(const char *path, char **out, size_t *out_len, cairn_error *err);
/* fsyncs a directory. */
cairn_status cairn_fsync_dir(const char *dir, cairn_error *err);
/* mkdir -p. */
cairn_status cairn_mkdirs(const char *dir, cairn_error *err);

/* ---- the machine -------------------------------------------------------- */

/* The CPUs this process may run on (its affinity mask; at least 1). */
int cairn_cpu_count(void);

/* ---- UTF-8 -------------------------------------------------------------- */

/* Returns the offset of the first invalid UTF-8 byte in s[0..n), or n when valid. */
size_t cairn_utf8_invalid_at(const char *s, size_t n);

#endif /* CAIRN_CORE_H */
