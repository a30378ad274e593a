/*
 * frame.h -- the in-memory column frame that readers produce and every later
 * stage (statistics, contracts, snapshots, training) consumes.
 *
 * A frame is a set of equally long columns. Each column has a type, a
 * per-row validity byte (1 = value present, 0 = null) and a value array:
 *   BOOL       uint8_t  (0/1)
 *   INT64      int64_t
 *   FLOAT64    double   (never NaN for a valid row; NaN input is read as null)
 *   TIMESTAMP  int64_t  microseconds since the Unix epoch, UTC
 *   STRING     uint32_t codes into the column's dictionary
 * Values of null rows are 0. Readers and statistics live elsewhere (csv.c,
 * jsonl.c, stats.c); this file only owns the containers.
 */
#ifndef CAIRN_DATA_FRAME_H
#define CAIRN_DATA_FRAME_H

#include "core/core.h"

/*
 * A string dictionary: n distinct strings in first-seen order, stored back to
 * back in `bytes` (each NUL-terminated) with offsets, plus an open-addressing
 * hash index for lookups while building. Each index slot holds the upper 32
 * bits of the string's hash beside its code, so a probe compares strings only
 * when the tags agree; the full hash of every string is kept, so growing the
 * index and merging dictionaries never hash a string twice.
 */
typedef struct cairn_dict {
    uint32_t n;
    char *bytes;          /* all strings, each followed by a NUL */
    size_t bytes_len, bytes_cap;
    uint64_t *offs;       /* offs[i]: start of string i in bytes; length n */
    uint32_t *lens;       /* lens[i]: byte length of string i */
    uint64_t *hashes;     /* hashes[i]: cairn_dict_hash of string i */
    uint32_t offs_cap;
    uint64_t *index;      /* slots: (hash >> 32) << 32 | (code + 1); 0 = empty */
    uint32_t index_cap;   /* power of two */
} cairn_dict;

void cairn_dict_init(cairn_dict *d);
void cairn_dict_reset(cairn_dict *d);
/* Makes room for n_strings distinct strings and bytes_total bytes without regrowing. */
cairn_status cairn_dict_reserve(cairn_dict *d, uint32_t n_strings, size_t bytes_total);
/* The hash the dictionary uses for s[0..n). */
uint64_t cairn_dict_hash(const char *s, size_t n);
/* Finds or adds s; *code receives its code. Errors: CAIRN_ENOMEM, CAIRN_ETOOBIG (> 2^31 strings). */
cairn_status cairn_dict_intern(cairn_dict *d, const char *s, size_t n, uint32_t *code);
/* Same with the hash already known (hash == cairn_dict_hash(s, n)). */
cairn_status cairn_dict_intern_hashed(cairn_dict *d, const char *s, size_t n, uint64_t hash,
                                      uint32_t *code);
/* Looks s up; returns false when absent. */
bool cairn_dict_find(const cairn_dict *d, const char *s, size_t n, uint32_t *code);
static inline const char *cairn_dict_str(const cairn_dict *d, uint32_t code)
{
    return d->bytes + d->offs[code];
}
static inline uint32_t cairn_dict_len(const cairn_dict *d, uint32_t code)
{
    return d->lens[code];
}

typedef struct cairn_column {
    char *name;
    cairn_type type;
    size_t n_rows;
    uint8_t *valid;        /* n_rows bytes */
    union {
        uint8_t *b;
        int64_t *i64;      /* INT64 and TIMESTAMP */
        double *f64;
        uint32_t *codes;   /* STRING */
        void *raw;
    } v;
    cairn_dict dict;       /* STRING only */
} cairn_column;

typedef struct cairn_frame {
    size_t n_rows;
    size_t n_cols;
    cairn_column *cols;
} cairn_frame;

/* Size of one value of type t in bytes (1, 4 or 8). */
size_t cairn_type_size(cairn_type t);
/* Parses "bool" / "int64" / "float64" / "timestamp" / "string"; CAIRN_TYPE_NONE if unknown. */
cairn_type cairn_type_parse(const char *s);

/* Allocates an empty frame of n_cols unnamed columns. */
cairn_status cairn_frame_new(size_t n_cols, cairn_frame **out, cairn_error *err);
/* Frees a frame and everything it owns; accepts NULL. */
void cairn_frame_free(cairn_frame *f);
/* Sets a column's name (copied), type, and allocates n_rows zeroed values + validity. */
cairn_status cairn_column_alloc(cairn_column *c, const char *name, cairn_type type, size_t n_rows,
                                cairn_error *err);
void cairn_column_reset(cairn_column *c);
/* Index of the column named name, or -1. */
long cairn_frame_find(const cairn_frame *f, const char *name);
/*
 * Writes the value at row as text into b (nothing for null): bools as
 * true/false, doubles round-trippable, timestamps ISO 8601.
 */
void cairn_column_value_text(const cairn_column *c, size_t row, cairn_buf *b);

#endif /* CAIRN_DATA_FRAME_H */
