/*
 * reader.h -- turning outside bytes (CSV, JSON Lines; plain or .gz) into a
 * frame. Type inference lives here too: each column gets the narrowest of
 * bool < int64 < float64, or timestamp, else string, unless a forced type is
 * given. Errors point at FILE:LINE:COLUMN (1-based; the column is the field
 * number for CSV and the byte for JSONL).
 */
#ifndef CAIRN_DATA_READER_H
#define CAIRN_DATA_READER_H

#include "data/frame.h"

/* Forced column types: names[i] gets types[i]. Borrowed. */
typedef struct cairn_type_overrides {
    const char *const *names;
    const cairn_type *types;
    size_t n;
} cairn_type_overrides;

/* Internal knobs resolved from cairn_read_opts. */
typedef struct cairn_reader_cfg {
    char delimiter;              /* 0 = sniff */
    int skip_initial_space;      /* -1 auto (on when every field after a delimiter starts with one space) */
    const char *na[CAIRN_MAX_NA_MARKERS + 8]; /* NA markers, NULL-terminated (defaults included) */
    size_t max_field_bytes;
    int n_threads;
    const cairn_type_overrides *overrides;
    const char *display_name;    /* used in error locations; defaults to the path */
    /* Derived by cairn_reader_cfg_from_opts (call cairn_reader_cfg_index after editing na[]). */
    size_t na_len[CAIRN_MAX_NA_MARKERS + 8];
    bool na_first[256];          /* first bytes of the non-empty markers */
    bool no_header;              /* CSV: the first line is data */
    bool latin1;                 /* transcode ISO-8859-1 input to UTF-8 before parsing */
    /* Set by cairn_read_path for memory-mapped input: pages already parsed may be dropped. */
    bool release_input;
} cairn_reader_cfg;

/* Recomputes the derived NA lookup fields after na[] was changed by hand. */
void cairn_reader_cfg_index(cairn_reader_cfg *cfg);

/* Fills cfg from opts (NULL: defaults). Default NA: "", NA, N/A, null, NaN. */
void cairn_reader_cfg_from_opts(cairn_reader_cfg *cfg, const cairn_read_opts *opts);

/*
 * Maps or reads a file: plain files are mmapped, .gz files are inflated into
 * memory. Errors: CAIRN_ENOTFOUND (missing), CAIRN_EIO (unreadable),
 * CAIRN_EINPUT (bad gzip stream).
 */
typedef struct cairn_input {
    const char *data;
    size_t len;
    int mapped;        /* 1: munmap on close; 0: cairn_free */
    void *owned;
    size_t owned_len;
} cairn_input;

cairn_status cairn_input_open(const char *path, cairn_input *in, cairn_error *err);
void cairn_input_close(cairn_input *in);

/* Parses CSV text into a new frame. Errors: see above; empty input and header-only are CAIRN_EINPUT. */
cairn_status cairn_csv_parse(const char *data, size_t len, const cairn_reader_cfg *cfg,
                             cairn_frame **out, cairn_error *err);
/* Parses JSON Lines (one object per line; blank lines skipped) into a new frame. */
cairn_status cairn_jsonl_parse(const char *data, size_t len, const cairn_reader_cfg *cfg,
                               cairn_frame **out, cairn_error *err);

/* Opens path and parses it as CSV or JSONL (by fmt, or by extension when AUTO). */
cairn_status cairn_read_path(const char *path, cairn_format fmt, const cairn_reader_cfg *cfg,
                             cairn_frame **out, cairn_error *err);

/*
 * Type inference shared by readers: a per-column state fed with each non-NA
 * field. CAND_* bits that are still set after all fields say which types fit.
 */
enum {
    CAIRN_CAND_BOOL = 1u << 0,
    CAIRN_CAND_INT = 1u << 1,
    CAIRN_CAND_FLOAT = 1u << 2,
    CAIRN_CAND_TIME = 1u << 3,
    CAIRN_CAND_ALL = 0xFu
};
/* Which candidate types the text s[0..n) fits (a subset of CAIRN_CAND_ALL). */
unsigned cairn_infer_field(const char *s, size_t n);
/* Picks the column type from the surviving candidate bits (STRING when none). */
cairn_type cairn_infer_pick(unsigned cand, size_t n_values);
/* True when s[0..n) is one of the NA markers in cfg (or only spaces/tabs). */
bool cairn_reader_is_na_slow(const cairn_reader_cfg *cfg, const char *s, size_t n);
/* Inline first check: most fields start with a byte no marker (nor a space) starts with. */
static inline bool cairn_reader_is_na(const cairn_reader_cfg *cfg, const char *s, size_t n)
{
    if (n == 0)
        return true;
    unsigned char c = (unsigned char)s[0];
    if (!cfg->na_first[c] && c != ' ' && c != '\t')
        return false;
    return cairn_reader_is_na_slow(cfg, s, n);
}
/*
 * Converts one field to a value of type t, storing into column c at row.
 * Returns false when the text does not fit t (caller reports the location).
 * STRING interns into c->dict.
 */
bool cairn_column_set_text(cairn_column *c, size_t row, const char *s, size_t n);

#endif /* CAIRN_DATA_READER_H */
