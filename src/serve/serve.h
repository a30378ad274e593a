/*
 * serve.h -- the serving module's internals shared between its files:
 * the inference model (model.c; public part in cairn.h), the request body
 * parser (request.c), the prediction log (plog.c) and the HTTP server
 * (server.c). Only server.c speaks HTTP.
 */
#ifndef CAIRN_SERVE_H
#define CAIRN_SERVE_H

#include "registry/artifact.h"

/* ---- model.c ------------------------------------------------------------------------- */

/*
 * Makes a scoring model from a loaded artifact, which it takes over (freed
 * with the model, also on failure). name/version are the registry's (name
 * NULL: the artifact's; version 0: unregistered). Parses the artifact's
 * contract, reads the threshold (eval section), class names and entity
 * column (manifest / lineage spec). Errors: CAIRN_ECORRUPT, CAIRN_ENOMEM.
 */
cairn_status cairn_model_from_artifact(cairn_artifact *a, const char *name, int version,
                                       cairn_model **out, cairn_error *err);
/* The transformed-feature count: the doubles the transform writes per row (the
 * model reads exactly these). Rows of at most 4096 are scored without allocating. */
size_t cairn_model_n_features(const cairn_model *m);

/* ---- request.c: the JSON body of a predict request ------------------------------------- */

#define CAIRN_REQUEST_MAX_DEPTH 16        /* nesting deeper than this is refused (400) */
#define CAIRN_REQUEST_DEFAULT_MAX_ROWS 1000
#define CAIRN_REQUEST_DEFAULT_MAX_FIELDS 1000
#define CAIRN_REQUEST_ID_MAX 128          /* longer request ids are refused (400) */

typedef struct cairn_request_limits {
    size_t max_rows;              /* 0: CAIRN_REQUEST_DEFAULT_MAX_ROWS; more rows -> CAIRN_ETOOBIG */
    size_t max_fields;            /* per row; 0: CAIRN_REQUEST_DEFAULT_MAX_FIELDS; more -> CAIRN_EINPUT */
} cairn_request_limits;

/*
 * A parsed predict body. Two shapes (DESIGN.md):
 *   {"instances": [{"col": value, ...}, ...]}        rows
 *   {"inputs": {"col": [v, ...], ...}}               columns, all of one length
 * with optional "request_id" (string) and "entity" (string or number, kept
 * as text). Values: null, true/false, finite numbers, strings (escapes
 * decoded, UTF-8 checked). A value that is an object or array inside a row is
 * refused. Every name and string points into the request's own arena.
 */
typedef struct cairn_request {
    cairn_field *fields;          /* all fields, row after row */
    size_t *row_start;            /* n_rows + 1 offsets into fields */
    size_t n_rows;
    const char *request_id;       /* NUL-terminated; NULL when absent */
    const char *entity;           /* NUL-terminated text; NULL when absent */
    void *priv;                   /* arena */
} cairn_request;

/*
 * Parses body[0..len) (untrusted). *out (zeroed by the caller) receives the
 * rows; free with cairn_request_reset. Errors, with where = "body byte N"
 * or the offending key:
 *   CAIRN_EINPUT   malformed JSON, nesting over the limit, NaN/Infinity or a
 *                  number out of double range, invalid UTF-8 or escape, a body
 *                  that is not an object, neither or both of instances/inputs,
 *                  an unknown top-level key, a row that is not an object, a
 *                  nested value in a row, columns of unequal length, a
 *                  duplicate key, too many fields in a row, a bad request_id
 *   CAIRN_ETOOBIG  more rows than max_rows
 *   CAIRN_ENOMEM
 * Never reads outside body[0..len); the body need not be NUL-terminated.
 */
cairn_status cairn_request_parse(const char *body, size_t len, const cairn_request_limits *lim,
                                 cairn_request *out, cairn_error *err);
void cairn_request_reset(cairn_request *r);

/* ---- plog.c: the prediction log ------------------------------------------------------------- */

/*
 * Every scored row (served, shadow, batch with --log) is appended as one
 * record. Producers copy a record into a bounded ring buffer and return; one
 * writer thread moves records into the current segment file, fsyncs every
 * flush interval, rotates by size and age, and compresses closed segments
 * with zstd. Each record carries its own checksum, so a crash loses at most
 * what was not yet written and fsynced, never earlier records, and the
 * reader skips a torn tail. Format: docs/prediction-log.md.
 */
typedef struct cairn_plog cairn_plog;

typedef struct cairn_plog_opts {
    const char *dir;              /* the log directory (created); required */
    size_t ring_bytes;            /* 0: 64 MiB (about 3 s of records at 60k rows/s) */
    size_t segment_bytes;         /* rotate after this many bytes; 0: 64 MiB */
    double segment_seconds;       /* rotate a segment this old; 0: 3600 */
    double flush_seconds;         /* fsync interval; 0: 1.0 */
    double wait_ms;               /* a full ring makes a producer wait this long, then the record
                                     is dropped (counted); 0: 5 ms; < 0: do not wait */
    bool no_compress;             /* keep closed segments uncompressed (tests) */
    size_t compress_backlog;      /* closed segments waiting that make compression run at the
                                     caller's priority, not idle (docs/prediction-log.md); 0: 8 */
} cairn_plog_opts;

void cairn_plog_opts_init(cairn_plog_opts *o);

typedef struct cairn_plog_record {
    int64_t time_us;              /* wall clock, microseconds since the epoch */
    const char *request_id;       /* NUL-terminated; may be NULL */
    const char *entity;           /* may be NULL */
    const char *model;            /* registry model name */
    int version;
    const char *alias;            /* which answered: production, canary, shadow, fallback,
                                     baseline, or "" for batch / direct versions */
    const cairn_field *fields;    /* the raw feature values as received */
    size_t n_fields;
    double score;
    const char *label;            /* may be NULL (regression) */
    double latency_us;
    uint32_t flags;               /* CAIRN_PLOG_* bits */
} cairn_plog_record;

#define CAIRN_PLOG_SHADOW 1u      /* scored in the shadow, not returned */
#define CAIRN_PLOG_BATCH 2u       /* from cairn predict --log */
#define CAIRN_PLOG_REJECTED 4u    /* refused by the contract: not scored (score NaN) */
#define CAIRN_PLOG_DROPS 8u       /* written by the log itself: score = records dropped since
                                     the previous such marker; no model, no fields */

/* Opens (creates) the log and starts its writer thread. */
cairn_status cairn_plog_open(const cairn_plog_opts *o, cairn_plog **out, cairn_error *err);
/* Appends one record; thread-safe. CAIRN_OK when queued; CAIRN_ETOOBIG when it was
 * dropped (ring full past wait_ms, or a record larger than the ring). */
cairn_status cairn_plog_append(cairn_plog *l, const cairn_plog_record *r);
/* Waits until everything appended before the call is written and fsynced. */
cairn_status cairn_plog_flush(cairn_plog *l, cairn_error *err);
/* Drains, fsyncs, closes the current segment (compressing it unless no_compress) and
 * stops the writer. Accepts NULL. Returns the first write error seen, if any. */
cairn_status cairn_plog_close(cairn_plog *l, cairn_error *err);

typedef struct cairn_plog_counters {
    uint64_t appended;            /* records accepted */
    uint64_t written;             /* records written to a segment */
    uint64_t dropped;             /* records lost: refused (ring full), or not written because
                                     the disk refused them (full disk, I/O error);
                                     appended = written + dropped once drained */
    uint64_t bytes;               /* record bytes written */
    uint64_t segments;            /* segments opened */
    uint64_t fsyncs;
    uint64_t write_errors;
    uint64_t waits;               /* appends that found the ring full and waited for room */
    uint64_t ring_peak;           /* most ring bytes in use at once since open */
    uint64_t ring_bytes;          /* the ring's size */
    uint64_t uncompressed;        /* closed segments waiting for compression or being compressed */
    uint64_t backlog_compressions; /* segments compressed at the caller's priority because
                                      compress_backlog were waiting (not counting close) */
} cairn_plog_counters;

void cairn_plog_get_counters(cairn_plog *l, cairn_plog_counters *c);
/* The latest write error into *e: false (and *e untouched) when there was none. */
bool cairn_plog_last_error(cairn_plog *l, cairn_error *e);

/* One record as read back; strings and fields point into the reader's buffer and are
 * valid during the callback only. */
typedef struct cairn_plog_entry {
    int64_t time_us;
    const char *request_id, *entity, *model, *alias, *label;   /* "" when absent */
    int version;
    const cairn_field *fields;
    size_t n_fields;
    double score;
    double latency_us;
    uint32_t flags;
    const char *segment;          /* the file it came from */
} cairn_plog_entry;

typedef struct cairn_plog_read_stats {
    uint64_t records;             /* good records visited */
    uint64_t bad_records;         /* checksum or framing failures (a torn tail counts once) */
    uint64_t segments;
} cairn_plog_read_stats;

/*
 * A block: a run of records as a closed (compressed) segment stores them, column by
 * column (docs/prediction-log.md, "Closed segments"). Every record of a block has the
 * same field names in the same order. Pointers are into the reader's buffer and valid
 * during the callback only; arrays have n entries.
 */
typedef struct cairn_plog_column {
    const char *name;             /* NUL-terminated */
    size_t name_len;
    const uint8_t *kind;          /* per record: a cairn_value_kind */
    const double *num;            /* per record: the number (NUMBER), 0 or 1 (BOOL), else 0 */
    const uint32_t *str_end;      /* NULL when no record holds a string; else record i's
                                     string is str[start .. str_end[i] - 1) with start =
                                     i ? str_end[i - 1] : 0, and str[str_end[i] - 1] is NUL */
    const char *str;
    bool all_numbers;             /* every record's kind is NUMBER */
} cairn_plog_column;

enum { CAIRN_PLOG_STR_REQUEST_ID, CAIRN_PLOG_STR_ENTITY, CAIRN_PLOG_STR_MODEL,
       CAIRN_PLOG_STR_ALIAS, CAIRN_PLOG_STR_LABEL, CAIRN_PLOG_N_STR };

typedef struct cairn_plog_block {
    size_t n;                     /* records */
    const int64_t *time_us;
    const double *score;
    const double *latency_us;
    const uint32_t *flags;
    const int32_t *version;
    const uint32_t *str_end[CAIRN_PLOG_N_STR];   /* the five strings, as str_end above */
    const char *str[CAIRN_PLOG_N_STR];
    const cairn_plog_column *fields;
    size_t n_fields;
    const char *segment;
} cairn_plog_block;

/* Record i of b without its fields (e->fields NULL, e->n_fields 0). */
void cairn_plog_block_entry(const cairn_plog_block *b, size_t i, cairn_plog_entry *e);
/* Field c of record i of b. */
void cairn_plog_block_field(const cairn_plog_block *b, size_t c, size_t i, cairn_field *f);

/* What a read calls: record for each record, or, where set, block for each block of a
 * closed segment (whose records are then not passed to record). Each returns 0 to go
 * on, non-zero to stop. */
typedef struct cairn_plog_visitor {
    int (*record)(void *ctx, const cairn_plog_entry *e);
    int (*block)(void *ctx, const cairn_plog_block *b);
    /* Optional: called for each damage the read's bad_records counts, with when it came
     * about at the earliest: the time of the last good record before it in the same
     * segment, else the segment file's modification time (INT64_MIN when neither is
     * known), so that a reader of a time range can tell damage in it from damage before. */
    void (*damaged)(void *ctx, const char *segment, int64_t after_us);
    void *ctx;
} cairn_plog_visitor;

/* Visits every good record of every segment in dir, oldest segment first, records in
 * order; a damaged or torn record ends that segment's reading (counted; in a closed
 * segment the damaged block is lost whole). visit returns 0 to go on, non-zero to
 * stop. Errors: CAIRN_EIO, CAIRN_ENOMEM. */
cairn_status cairn_plog_read(const char *dir, int (*visit)(void *ctx, const cairn_plog_entry *e),
                             void *ctx, cairn_plog_read_stats *stats, cairn_error *err);

/* The same over a share of the segments: those whose position in the ordered list is
 * shard modulo n_shards (the stats count that share only). Threads reading shards 0..n-1
 * together visit every record once. */
cairn_status cairn_plog_read_shard(const char *dir, size_t shard, size_t n_shards,
                                   int (*visit)(void *ctx, const cairn_plog_entry *e), void *ctx,
                                   cairn_plog_read_stats *stats, cairn_error *err);

/* cairn_plog_read_shard with a visitor that may take blocks. */
cairn_status cairn_plog_read_visit(const char *dir, size_t shard, size_t n_shards,
                                   const cairn_plog_visitor *v, cairn_plog_read_stats *stats,
                                   cairn_error *err);

/* Parses p[0..n) as the bytes of one uncompressed segment (file header, then records or,
 * in the decompressed bytes of a closed segment, blocks; an empty buffer is an empty
 * segment) and visits its good records like cairn_plog_read
 * (e->segment is ""). Adds to *stats (may be NULL). p is untrusted: any bytes are safe.
 * Used by cairn_plog_read's tests and the fuzz target. Errors: CAIRN_ENOMEM. */
cairn_status cairn_plog_parse_buffer(const uint8_t *p, size_t n,
                                     int (*visit)(void *ctx, const cairn_plog_entry *e),
                                     void *ctx, cairn_plog_read_stats *stats);

#endif /* CAIRN_SERVE_H */
