/*
 * csv.c -- a parallel CSV reader (RFC 4180 plus what real files do).
 *
 * Accepted: quoted fields, doubled quotes inside them, newlines inside
 * quotes, LF / CRLF / lone-CR / mixed line endings, a missing final newline,
 * a UTF-8 byte order mark, blank lines (skipped), a sniffed or given
 * delimiter (, ; TAB |), optional skipping of spaces after a delimiter
 * (Adult's ", "), configurable NA markers. Refused with FILE:LINE:FIELD: an
 * unterminated quote, a quote inside an unquoted field, text after a closing
 * quote, a ragged row, invalid UTF-8, a NUL byte, a field over the size limit,
 * an empty file and a header without rows.
 *
 * How it goes parallel without holding a second copy of the data:
 *  0. The input is split into nominal chunks (UTF-8 aligned). In parallel,
 *     each chunk counts its quote characters and newlines and checks for NUL
 *     bytes and invalid UTF-8.
 *  1. A prefix sum of quote counts gives the quote parity at every chunk
 *     start (a doubled quote counts twice, so parity is exact for RFC 4180
 *     text). From each nominal start the reader moves to the first record
 *     terminator outside quotes: every chunk now starts on a record.
 *  2. Pass 1 (parallel): tokenize each chunk, count rows, check the shape,
 *     and narrow each column's candidate types.
 *  3. The types are fixed (contract overrides first); columns are allocated
 *     once, at their final size.
 *  4. Pass 2 (parallel): tokenize again and convert each field straight into
 *     its column at the chunk's row offset. Strings go into a per-chunk
 *     dictionary; the chunk dictionaries are then merged in chunk order, which
 *     gives the same first-seen order (and so the same codes and the same
 *     snapshot bytes) whatever the number of threads.
 * Tokenizing twice costs less than keeping every field's offsets (which
 * would be a second copy of the data); only the typed columns are kept.
 */
#include "data/reader.h"

#include <omp.h>
#include <sys/mman.h>
#include <unistd.h>
#include <stdio.h>
#include <string.h>

#define CHUNK_MIN_BYTES (1u << 20)
#define SAMPLE_ROWS 8000

enum { CLS_DELIM = 1, CLS_LF = 2, CLS_CR = 4, CLS_QUOTE = 8 };

typedef enum tok_err {
    TOK_OK = 0,
    TOK_BLANK,          /* an empty line: skipped */
    TOK_QUOTE_EOF,      /* quoted field without closing quote */
    TOK_BARE_QUOTE,     /* quote inside an unquoted field */
    TOK_AFTER_QUOTE,    /* something other than a delimiter after a closing quote */
    TOK_TOOBIG,         /* a field over max_field_bytes */
    TOK_RAGGED,         /* wrong number of fields (checked by the caller) */
    TOK_CONVERT,        /* a value that does not fit a forced type */
    TOK_NOMEM
} tok_err;

typedef struct field {
    const char *p;
    size_t n;
    bool quoted;
    bool escaped;       /* contains doubled quotes to be undone */
} field;

typedef struct tokenizer {
    uint8_t cls[256];
    char delim;
    bool skip_space;
    size_t max_field;
    const char *end;
} tokenizer;

/* Where the first problem of a chunk is. */
typedef struct chunk_err {
    tok_err kind;
    long line;
    long field;         /* 1-based */
    size_t a, b;        /* kind-specific numbers (sizes, field counts) */
    char value[64];
} chunk_err;

typedef struct chunk {
    const char *start, *stop; /* record-aligned range */
    long line;                /* line number of start (1-based) */
    size_t row0;              /* first row index of this chunk */
    size_t n_rows;
    /* pre-pass over the nominal range */
    size_t quotes, newlines, crs;
    size_t nul_at, bad_utf8_at; /* offsets from nominal start, SIZE_MAX = none */
    chunk_err err;
} chunk;

static void tokenizer_init(tokenizer *t, char delim, bool skip_space, size_t max_field,
                           const char *end)
{
    memset(t->cls, 0, sizeof t->cls);
    t->cls[(unsigned char)delim] |= CLS_DELIM;
    t->cls['\n'] |= CLS_LF;
    t->cls['\r'] |= CLS_CR;
    t->cls['"'] |= CLS_QUOTE;
    t->delim = delim;
    t->skip_space = skip_space;
    t->max_field = max_field;
    t->end = end;
}

static size_t count_byte(const char *p, size_t n, char c)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += p[i] == c;
    return k;
}

/*
 * Reads one record at *pos. Fills up to max fields and stores the total
 * count in *nf (which may exceed max: the caller reports a ragged row).
 * *lines receives the newlines the record consumed. On error, *err_field
 * is the 1-based field and *err_line_off the newlines before the problem.
 */
static tok_err read_record(const tokenizer *t, const char **pos, field *fields, size_t max,
                           size_t *nf, size_t *lines, size_t *err_field)
{
    const char *p = *pos, *end = t->end;
    size_t n = 0, nl = 0;
    *nf = 0;
    *lines = 0;
    if (*p == '\n' || *p == '\r') { /* blank line */
        p += (*p == '\r' && p + 1 < end && p[1] == '\n') ? 2 : 1;
        *pos = p;
        *lines = 1;
        return TOK_BLANK;
    }
    for (;;) {
        field f = {0};
        if (t->skip_space)
            while (p < end && *p == ' ')
                p++;
        if (p < end && *p == '"') {
            const char *q = p + 1, *r;
            for (;;) {
                r = memchr(q, '"', (size_t)(end - q));
                if (!r) {
                    *err_field = n + 1;
                    *lines = nl;
                    return TOK_QUOTE_EOF;
                }
                if (r + 1 < end && r[1] == '"') {
                    f.escaped = true;
                    q = r + 2;
                    continue;
                }
                break;
            }
            f.p = p + 1;
            f.n = (size_t)(r - f.p);
            f.quoted = true;
            nl += count_byte(f.p, f.n, '\n');
            p = r + 1;
            if (p < end && !(t->cls[(unsigned char)*p] & (CLS_DELIM | CLS_LF | CLS_CR))) {
                *err_field = n + 1;
                *lines = nl;
                return TOK_AFTER_QUOTE;
            }
        } else {
            const char *s = p;
            while (p < end && !t->cls[(unsigned char)*p])
                p++;
            if (p < end && *p == '"') {
                *err_field = n + 1;
                *lines = nl;
                return TOK_BARE_QUOTE;
            }
            f.p = s;
            f.n = (size_t)(p - s);
        }
        if (f.n > t->max_field) {
            *err_field = n + 1;
            *lines = nl;
            return TOK_TOOBIG;
        }
        if (n < max)
            fields[n] = f;
        n++;
        if (p >= end) {
            *pos = end;
            break;
        }
        if (*p == t->delim) {
            p++;
            if (p == end) { /* a trailing delimiter at EOF ends with an empty field */
                if (n < max)
                    fields[n] = (field){.p = p, .n = 0};
                n++;
                *pos = end;
                break;
            }
            continue;
        }
        p += (*p == '\r' && p + 1 < end && p[1] == '\n') ? 2 : 1;
        nl++;
        *pos = p;
        break;
    }
    *nf = n;
    *lines = nl;
    return TOK_OK;
}

/* Undoes doubled quotes of an escaped quoted field into scratch. */
static const char *unescape(const field *f, cairn_buf *scratch, size_t *out_n)
{
    if (!f->escaped) {
        *out_n = f->n;
        return f->p;
    }
    scratch->len = 0;
    for (size_t i = 0; i < f->n; i++) {
        cairn_buf_putc(scratch, f->p[i]);
        if (f->p[i] == '"')
            i++;
    }
    *out_n = scratch->len;
    return scratch->failed ? NULL : scratch->data;
}

/* ---- sniffing ------------------------------------------------------------ */

/* Counts delimiter candidates per line in up to 50 complete lines of the head. */
static char sniff_delimiter(const char *p, const char *end, int *skip_space)
{
    static const char cands[4] = {',', ';', '\t', '|'};
    enum { MAX_LINES = 50 };
    size_t counts[MAX_LINES][4];
    size_t spaced[4] = {0}, total[4] = {0};
    int n_lines = 0;
    bool in_q = false, at_line_start = true;
    size_t cur[4] = {0};
    const char *limit = end - p > (1 << 16) ? p + (1 << 16) : end;
    for (; p < limit && n_lines < MAX_LINES; p++) {
        char c = *p;
        if (c == '"') {
            in_q = !in_q;
            continue;
        }
        if (in_q)
            continue;
        if (c == '\n' || c == '\r') {
            if (!at_line_start) /* blank lines say nothing about the delimiter */
                memcpy(counts[n_lines++], cur, sizeof cur);
            memset(cur, 0, sizeof cur);
            at_line_start = true;
            if (c == '\r' && p + 1 < limit && p[1] == '\n')
                p++;
            continue;
        }
        at_line_start = false;
        for (int k = 0; k < 4; k++) {
            if (c == cands[k]) {
                cur[k]++;
                total[k]++;
                if (p + 1 < limit && p[1] == ' ')
                    spaced[k]++;
            }
        }
    }
    if (p >= end && n_lines < MAX_LINES && (cur[0] | cur[1] | cur[2] | cur[3]))
        memcpy(counts[n_lines++], cur, sizeof cur);
    int best = -1;
    size_t best_count = 0;
    for (int k = 0; k < 4; k++) {
        if (n_lines == 0 || counts[0][k] == 0)
            continue;
        bool consistent = true;
        for (int l = 1; l < n_lines; l++)
            if (counts[l][k] != counts[0][k])
                consistent = false;
        if (consistent && counts[0][k] > best_count) {
            best = k;
            best_count = counts[0][k];
        }
    }
    if (best < 0) { /* no consistent candidate: the most frequent one in the header */
        for (int k = 0; k < 4; k++)
            if (n_lines > 0 && counts[0][k] > best_count) {
                best = k;
                best_count = counts[0][k];
            }
    }
    if (best < 0)
        best = 0;
    if (*skip_space < 0)
        *skip_space = total[best] > 0 && spaced[best] == total[best];
    return cands[best];
}

/* ---- errors -------------------------------------------------------------- */

static cairn_status report(const chunk_err *e, const cairn_reader_cfg *cfg,
                           const cairn_frame *f, cairn_error *err)
{
    const char *file = cfg->display_name ? cfg->display_name : "-";
    const char *col = f && e->field >= 1 && (size_t)e->field <= f->n_cols
                          ? f->cols[e->field - 1].name
                          : NULL;
    switch (e->kind) {
    case TOK_QUOTE_EOF:
        return cairn_error_at(err, CAIRN_EINPUT, file, e->line, e->field,
                              "unterminated quoted field: the file ends before its closing quote");
    case TOK_BARE_QUOTE:
        return cairn_error_at(err, CAIRN_EINPUT, file, e->line, e->field,
                              "quote character inside an unquoted field (quote the whole field "
                              "and double the quote)");
    case TOK_AFTER_QUOTE:
        return cairn_error_at(err, CAIRN_EINPUT, file, e->line, e->field,
                              "unexpected character after a closing quote");
    case TOK_TOOBIG:
        return cairn_error_at(err, CAIRN_ETOOBIG, file, e->line, e->field,
                              "field longer than the limit of %zu bytes", e->a);
    case TOK_RAGGED:
        return cairn_error_at(err, CAIRN_EINPUT, file, e->line, e->field,
                              "ragged row: %zu fields where the header has %zu", e->a, e->b);
    case TOK_CONVERT:
        return cairn_error_at(err, CAIRN_EINPUT, file, e->line, e->field,
                              "value \"%s\" in column '%s' is not a valid %s (type forced)",
                              e->value, col ? col : "?", cairn_type_name((cairn_type)e->a));
    case TOK_NOMEM:
        return cairn_error_set(err, CAIRN_ENOMEM, file, "out of memory while parsing");
    default:
        return cairn_error_set(err, CAIRN_EINTERNAL, file, "unexpected parser state %d",
                               (int)e->kind);
    }
}

/* Line number and field number of byte offset off (for encoding errors). */
static void locate(const char *data, size_t off, char delim, long *line, long *field_no)
{
    long l = 1, f = 1;
    for (size_t i = 0; i < off; i++) {
        if (data[i] == '\n') {
            l++;
            f = 1;
        } else if (data[i] == delim) {
            f++;
        }
    }
    *line = l;
    *field_no = f;
}

/* ---- the passes ---------------------------------------------------------- */

static void prepass(const char *s, size_t n, chunk *c)
{
    size_t q = 0, nl = 0, cr = 0, nul = 0, high = 0;
    c->nul_at = SIZE_MAX;
    c->bad_utf8_at = SIZE_MAX;
    /*
     * One branch-free pass that the compiler vectorizes: this touches every
     * byte of the input. The NUL search and the UTF-8 validation run only
     * when this pass saw a NUL or a byte >= 0x80 (pure ASCII needs neither).
     */
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        q += ch == '"';
        nl += ch == '\n';
        cr += ch == '\r';
        nul += ch == 0;
        high += ch >> 7;
    }
    if (nul) {
        const char *z = memchr(s, '\0', n);
        c->nul_at = (size_t)(z - s);
    }
    if (high) {
        size_t bad = cairn_utf8_invalid_at(s, n);
        c->bad_utf8_at = bad == n ? SIZE_MAX : bad;
    }
    c->quotes = q;
    c->newlines = nl;
    c->crs = cr;
}

typedef struct col_infer {
    unsigned cand;
    size_t n_values;
    size_t n_distinct;  /* sample only: distinct values of a column that stayed string */
} col_infer;

static void set_err(chunk *c, tok_err kind, long line, long fieldno)
{
    if (c->err.kind)
        return;
    c->err.kind = kind;
    c->err.line = line;
    c->err.field = fieldno;
}

/*
 * Type inference on a sample: the first rows of the first chunk. Problems
 * are ignored here; the fill pass finds and reports them.
 */
static void sample_types(const tokenizer *t, const cairn_reader_cfg *cfg, const chunk *c,
                         size_t n_cols, size_t max_rows, col_infer *inf, field *fields)
{
    const char *p = c->start;
    size_t rows = 0;
    for (size_t j = 0; j < n_cols; j++)
        inf[j] = (col_infer){CAIRN_CAND_ALL, 0, 0};
    cairn_dict *seen = cairn_calloc(n_cols ? n_cols : 1, sizeof *seen);
    while (p < c->stop && rows < max_rows) {
        size_t nf, lines, ef = 0;
        tok_err e = read_record(t, &p, fields, n_cols, &nf, &lines, &ef);
        if (e == TOK_BLANK)
            continue;
        if (e != TOK_OK || nf != n_cols)
            break;
        for (size_t j = 0; j < n_cols; j++) {
            const field *f = &fields[j];
            if (cairn_reader_is_na(cfg, f->p, f->n))
                continue;
            inf[j].n_values++;
            if (inf[j].cand)
                inf[j].cand &= f->escaped ? 0u : cairn_infer_field(f->p, f->n);
            uint32_t code;
            if (!inf[j].cand && seen && cairn_dict_intern(&seen[j], f->p, f->n, &code) == CAIRN_OK)
                inf[j].n_distinct = seen[j].n;
        }
        rows++;
    }
    for (size_t j = 0; seen && j < n_cols; j++)
        cairn_dict_reset(&seen[j]);
    cairn_free(seen);
}

/*
 * Counts the records of an aligned chunk without tokenizing: terminators
 * outside quotes, not counting blank lines. This agrees with read_record on
 * every input read_record accepts (quotes only open and close fields or come
 * doubled inside them); on other inputs the fill pass reports the error.
 */
static size_t count_records(const char *p, const char *stop, bool plain)
{
    size_t rows = 0;
    if (plain) {
        /* No quote and no CR anywhere in the input: records are the non-empty
         * LF-terminated lines, found with memchr (vectorized in libc). */
        const char *line = p;
        while (line < stop) {
            const char *nl = memchr(line, '\n', (size_t)(stop - line));
            if (!nl)
                return rows + 1;
            rows += nl != line;
            line = nl + 1;
        }
        return rows;
    }
    bool in_q = false, at_start = true;
    for (; p < stop; p++) {
        char ch = *p;
        if (in_q) {
            in_q = ch != '"';
            continue;
        }
        if (ch == '"') {
            in_q = true;
            at_start = false;
        } else if (ch == '\n' || ch == '\r') {
            rows += !at_start;
            at_start = true;
            if (ch == '\r' && p + 1 < stop && p[1] == '\n')
                p++;
        } else {
            at_start = false;
        }
    }
    return rows + !at_start;
}

/*
 * How each column is filled. TYPED columns convert every field to their
 * (guessed or forced) type; a guessed type that meets a value it cannot hold
 * marks the column failed for the chunk. DEFERRED columns (no value in the
 * sample, or a failed guess being redone) collect strings into per-chunk
 * dictionaries while narrowing candidate types, and are converted from the
 * dictionary at the end -- once per distinct value, not once per row.
 */
typedef enum col_mode { MODE_TYPED = 0, MODE_DEFERRED, MODE_SKIP } col_mode;

typedef struct col_plan {
    col_mode mode;
    bool forced;
    bool deferred;      /* filled deferred in some round: finish_deferred applies */
} col_plan;

typedef struct chunk_col {
    col_infer inf;      /* DEFERRED: candidates and value count */
    bool failed;        /* TYPED, guessed: a value did not fit */
} chunk_col;

static void fill(const tokenizer *t, const cairn_reader_cfg *cfg, chunk *c, cairn_frame *fr,
                 const col_plan *plan, cairn_dict *dicts, chunk_col *cc, field *fields,
                 cairn_buf *scratch)
{
    const char *p = c->start;
    long line = c->line;
    size_t row = c->row0, row_end = c->row0 + c->n_rows;
    size_t n_cols = fr->n_cols;
    for (size_t j = 0; j < n_cols; j++)
        if (plan[j].mode == MODE_DEFERRED)
            cc[j].inf = (col_infer){CAIRN_CAND_ALL, 0, 0};
    while (p < c->stop) {
        size_t nf, lines, ef = 0;
        tok_err e = read_record(t, &p, fields, n_cols, &nf, &lines, &ef);
        if (e == TOK_BLANK) {
            line += (long)lines;
            continue;
        }
        if (e != TOK_OK) {
            set_err(c, e, line + (long)lines, (long)ef);
            if (e == TOK_TOOBIG)
                c->err.a = t->max_field;
            return;
        }
        if (nf != n_cols) {
            set_err(c, TOK_RAGGED, line, (long)(nf > n_cols ? n_cols + 1 : nf));
            c->err.a = nf;
            c->err.b = n_cols;
            return;
        }
        if (row >= row_end) { /* only reachable on input the tokenizer should have refused */
            set_err(c, TOK_AFTER_QUOTE, line, 1);
            return;
        }
        for (size_t j = 0; j < n_cols; j++) {
            const field *f = &fields[j];
            cairn_column *col = &fr->cols[j];
            if (plan[j].mode == MODE_SKIP || cairn_reader_is_na(cfg, f->p, f->n))
                continue;
            size_t n = f->n;
            const char *s = f->p;
            if (f->escaped && !(s = unescape(f, scratch, &n))) {
                set_err(c, TOK_NOMEM, line, (long)j + 1);
                return;
            }
            /* The common typed cases inline; bool, timestamp and failures go the general way. */
            if (plan[j].mode == MODE_TYPED && !cc[j].failed) {
                if (col->type == CAIRN_TYPE_FLOAT64) {
                    if (cairn_parse_double(s, n, &col->v.f64[row])) {
                        col->valid[row] = 1;
                        continue;
                    }
                    col->v.f64[row] = 0; /* a failed parse may have written nothing; keep 0 */
                } else if (col->type == CAIRN_TYPE_INT64) {
                    if (cairn_parse_int64(s, n, &col->v.i64[row])) {
                        col->valid[row] = 1;
                        continue;
                    }
                    col->v.i64[row] = 0;
                }
            }
            if (plan[j].mode == MODE_DEFERRED) {
                cc[j].inf.n_values++;
                if (cc[j].inf.cand)
                    cc[j].inf.cand &= cairn_infer_field(s, n);
            }
            if (plan[j].mode == MODE_DEFERRED || col->type == CAIRN_TYPE_STRING) {
                if (cairn_dict_intern(&dicts[j], s, n, &col->v.codes[row]) != CAIRN_OK) {
                    set_err(c, TOK_NOMEM, line, (long)j + 1);
                    return;
                }
                col->valid[row] = 1;
            } else if (!cc[j].failed && !cairn_column_set_text(col, row, s, n)) {
                if (!plan[j].forced) {
                    cc[j].failed = true; /* the guess was wrong: this column is redone */
                    continue;
                }
                set_err(c, TOK_CONVERT, line, (long)j + 1);
                c->err.a = (size_t)col->type;
                snprintf(c->err.value, sizeof c->err.value, "%.*s", (int)(n > 48 ? 48 : n), s);
                return;
            }
        }
        row++;
        line += (long)lines;
    }
    if (row != row_end)
        set_err(c, TOK_AFTER_QUOTE, line, 1);
}

/* Moves from a nominal offset with known quote parity to the next record start. */
static const char *align_to_record(const char *p, const char *end, bool in_q, size_t *newlines)
{
    size_t nl = 0;
    for (; p < end; p++) {
        char c = *p;
        if (c == '"') {
            in_q = !in_q;
        } else if (c == '\n') {
            nl++;
            if (!in_q) {
                *newlines = nl;
                return p + 1;
            }
        } else if (c == '\r' && !in_q) {
            if (p + 1 < end && p[1] == '\n') {
                *newlines = nl + 1;
                return p + 2;
            }
            *newlines = nl;
            return p + 1;
        }
    }
    *newlines = nl;
    return end;
}

static cairn_status parse_header(const tokenizer *t, const char **pos, const cairn_reader_cfg *cfg,
                                 cairn_frame **out, long *line, cairn_error *err)
{
    const char *file = cfg->display_name ? cfg->display_name : "-";
    size_t cap = 64, nf = 0, lines = 0, ef = 0;
    field *fields = NULL;
    cairn_buf scratch, name;
    cairn_buf_init(&scratch);
    cairn_buf_init(&name);
    cairn_status st = CAIRN_OK;
    tok_err e;
    const char *save_start = *pos;
    /* Skip leading blank lines. */
    for (;;) {
        if (*pos >= t->end) {
            st = cairn_error_at(err, CAIRN_EINPUT, file, *line, 0, "empty file: no header");
            goto done;
        }
        cairn_free(fields);
        fields = cairn_calloc(cap, sizeof *fields);
        if (!fields) {
            st = cairn_error_set(err, CAIRN_ENOMEM, file, "out of memory");
            goto done;
        }
        const char *save = *pos;
        e = read_record(t, pos, fields, cap, &nf, &lines, &ef);
        if (e == TOK_OK && nf > cap) { /* more columns than guessed: read again */
            cap = nf;
            *pos = save;
            continue;
        }
        if (e == TOK_BLANK) {
            *line += (long)lines;
            save_start = *pos;
            continue;
        }
        break;
    }
    if (e != TOK_OK) {
        chunk_err ce = {.kind = e, .line = *line + (long)lines, .field = (long)ef,
                        .a = t->max_field};
        st = report(&ce, cfg, NULL, err);
        goto done;
    }
    if (nf > 100000) {
        st = cairn_error_at(err, CAIRN_ETOOBIG, file, *line, 0, "too many columns (%zu)", nf);
        goto done;
    }
    st = cairn_frame_new(nf, out, err);
    if (st != CAIRN_OK)
        goto done;
    if (cfg->no_header) {
        *pos = save_start; /* the first record is data: only its width was needed */
        lines = 0;
    }
    for (size_t j = 0; j < nf; j++) {
        size_t n = 0;
        const char *s = cfg->no_header ? NULL : unescape(&fields[j], &scratch, &n);
        name.len = 0;
        if (s && n > 0)
            cairn_buf_append(&name, s, n);
        else
            cairn_buf_printf(&name, "column_%zu", j + 1);
        /* Duplicate names get ".1", ".2", ... as pandas does, so every column stays addressable. */
        for (int k = 1; !name.failed; k++) {
            bool dup = false;
            for (size_t i = 0; i < j; i++)
                if (strcmp((*out)->cols[i].name, name.data) == 0)
                    dup = true;
            if (!dup)
                break;
            name.len = 0;
            if (s && n > 0)
                cairn_buf_append(&name, s, n);
            else
                cairn_buf_printf(&name, "column_%zu", j + 1);
            cairn_buf_printf(&name, ".%d", k);
        }
        if (name.failed || scratch.failed) {
            st = cairn_error_set(err, CAIRN_ENOMEM, file, "out of memory");
            goto done;
        }
        (*out)->cols[j].name = cairn_strndup(name.data, name.len);
        if (!(*out)->cols[j].name) {
            st = cairn_error_set(err, CAIRN_ENOMEM, file, "out of memory");
            goto done;
        }
    }
    *line += (long)lines;
done:
    if (st != CAIRN_OK && *out) {
        cairn_frame_free(*out);
        *out = NULL;
    }
    cairn_free(fields);
    cairn_buf_reset(&scratch);
    cairn_buf_reset(&name);
    return st;
}

/* Merges per-chunk dictionaries of string column j and remaps codes to global ones. */
static cairn_status merge_dicts(cairn_column *col, cairn_dict *chunk_dicts, size_t stride,
                                const chunk *chunks, size_t n_chunks)
{
    uint64_t total_n = 0;
    size_t total_bytes = 0;
    for (size_t k = 0; k < n_chunks; k++) {
        total_n += chunk_dicts[k * stride].n;
        total_bytes += chunk_dicts[k * stride].bytes_len;
    }
    if (total_n >= (1u << 30))
        return CAIRN_ETOOBIG;
    for (size_t k = 0; k < n_chunks; k++) {
        cairn_dict *d = &chunk_dicts[k * stride];
        if (d->n == 0)
            continue;
        if (col->dict.n == 0) {
            /* The first strings seen: the chunk's dictionary becomes the column's as it is
             * (same codes), with room for what the other chunks add. */
            cairn_dict tmp = col->dict;
            col->dict = *d;
            *d = tmp;
            cairn_status st = cairn_dict_reserve(&col->dict, (uint32_t)total_n, total_bytes);
            if (st != CAIRN_OK)
                return st;
            continue;
        }
        uint32_t *remap = cairn_calloc(d->n, sizeof *remap);
        if (!remap)
            return CAIRN_ENOMEM;
        bool identity = true;
        for (uint32_t i = 0; i < d->n; i++) {
            /* The global index is already sized for every string (no rehash here), so
             * the slot a later string probes first is known: fetch it ahead of time. */
            if (i + 16 < d->n)
                __builtin_prefetch(&col->dict.index[(uint32_t)d->hashes[i + 16] &
                                                    (col->dict.index_cap - 1)]);
            cairn_status st = cairn_dict_intern_hashed(&col->dict, cairn_dict_str(d, i),
                                                       cairn_dict_len(d, i), d->hashes[i],
                                                       &remap[i]);
            if (st != CAIRN_OK) {
                cairn_free(remap);
                return st;
            }
            identity &= remap[i] == i;
        }
        if (!identity) {
            const chunk *c = &chunks[k];
            for (size_t r = c->row0; r < c->row0 + c->n_rows; r++)
                if (col->valid[r])
                    col->v.codes[r] = remap[col->v.codes[r]];
        }
        cairn_free(remap);
    }
    return CAIRN_OK;
}

/*
 * A deferred column holds dictionary codes. Its type is the narrowest one
 * every value fits (the candidates of all chunks together); when that is not
 * string, each distinct value is converted once and rows are mapped through.
 */
static cairn_status finish_deferred(cairn_column *col, const chunk_col *cc, size_t j,
                                    size_t n_cols, size_t n_chunks)
{
    unsigned cand = CAIRN_CAND_ALL;
    size_t n_values = 0;
    for (size_t k = 0; k < n_chunks; k++) {
        cand &= cc[k * n_cols + j].inf.cand;
        n_values += cc[k * n_cols + j].inf.n_values;
    }
    cairn_type type = cairn_infer_pick(cand, n_values);
    if (type == CAIRN_TYPE_STRING)
        return CAIRN_OK;
    size_t width = cairn_type_size(type);
    cairn_column tmp;
    memset(&tmp, 0, sizeof tmp);
    tmp.type = type;
    tmp.n_rows = col->dict.n;
    tmp.valid = cairn_calloc(col->dict.n ? col->dict.n : 1, 1);
    tmp.v.raw = cairn_calloc(col->dict.n ? col->dict.n : 1, width);
    void *values = cairn_calloc(col->n_rows ? col->n_rows : 1, width);
    if (!tmp.valid || !tmp.v.raw || !values) {
        cairn_free(tmp.valid);
        cairn_free(tmp.v.raw);
        cairn_free(values);
        return CAIRN_ENOMEM;
    }
    for (uint32_t code = 0; code < col->dict.n; code++)
        cairn_column_set_text(&tmp, code, cairn_dict_str(&col->dict, code),
                              cairn_dict_len(&col->dict, code));
    const char *src = tmp.v.raw;
    char *dst = values;
    for (size_t r = 0; r < col->n_rows; r++)
        if (col->valid[r])
            memcpy(dst + r * width, src + (size_t)col->v.codes[r] * width, width);
    cairn_free(tmp.valid);
    cairn_free(tmp.v.raw);
    cairn_free(col->v.raw);
    cairn_dict_reset(&col->dict);
    col->v.raw = values;
    col->type = type;
    return CAIRN_OK;
}

/* Runs the fill pass over every chunk in parallel and reports the first error. */
static cairn_status run_fill(const tokenizer *tok, const cairn_reader_cfg *cfg, chunk *chunks,
                             size_t n_chunks, cairn_frame *fr, const col_plan *plan,
                             cairn_dict *dicts, chunk_col *ccols, int n_threads, bool release,
                             const char *data, const char *end, cairn_error *err)
{
    const char *file = cfg->display_name ? cfg->display_name : "-";
    size_t n_cols = fr->n_cols;
    bool oom = false;
    long page = sysconf(_SC_PAGESIZE);
#pragma omp parallel num_threads(n_threads)
    {
        field *fields = cairn_calloc(n_cols + 1, sizeof *fields);
        cairn_buf scratch;
        cairn_buf_init(&scratch);
        if (!fields) {
#pragma omp atomic write
            oom = true;
        }
#pragma omp for schedule(dynamic, 1)
        for (size_t k = 0; k < n_chunks; k++) {
            if (!fields)
                continue;
            fill(tok, cfg, &chunks[k], fr, plan, &dicts[k * n_cols], &ccols[k * n_cols], fields,
                 &scratch);
            /*
             * Memory-mapped input: the pages of a finished chunk are not needed
             * again unless a column must be redone (then they are read back from
             * the page cache or the file), so resident memory stays near one copy.
             */
            if (release && page > 0) {
                uintptr_t a = ((uintptr_t)chunks[k].start + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
                uintptr_t b = (uintptr_t)chunks[k].stop & ~((uintptr_t)page - 1);
                if (b > a && (const char *)a >= data && (const char *)b <= end)
                    madvise((void *)a, b - a, MADV_DONTNEED);
            }
        }
        cairn_free(fields);
        cairn_buf_reset(&scratch);
    }
    if (oom)
        return cairn_error_set(err, CAIRN_ENOMEM, file, "out of memory");
    for (size_t k = 0; k < n_chunks; k++)
        if (chunks[k].err.kind)
            return report(&chunks[k].err, cfg, fr, err);
    return CAIRN_OK;
}

cairn_status cairn_csv_parse(const char *data, size_t len, const cairn_reader_cfg *cfg,
                             cairn_frame **out, cairn_error *err)
{
    const char *file = cfg->display_name ? cfg->display_name : "-";
    const char *end = data + len;
    cairn_frame *fr = NULL;
    chunk *chunks = NULL;
    col_infer *infer = NULL;
    col_plan *plan = NULL;
    chunk_col *ccols = NULL;
    cairn_dict *dicts = NULL;
    size_t n_chunks = 0, n_cols = 0;
    cairn_status st = CAIRN_OK;
    *out = NULL;

    if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0)
        data += 3;
    if (data >= end)
        return cairn_error_at(err, CAIRN_EINPUT, file, 1, 0, "empty file: no header");

    /* The delimiter first: error locations name fields. */
    int skip_space = cfg->skip_initial_space;
    char delim = cfg->delimiter ? cfg->delimiter : sniff_delimiter(data, end, &skip_space);
    if (skip_space < 0)
        skip_space = 0;

    /* 0. Nominal chunks and the pre-pass. */
    int n_threads = cfg->n_threads > 0 ? cfg->n_threads : omp_get_max_threads();
    size_t total = (size_t)(end - data);
    n_chunks = total / CHUNK_MIN_BYTES;
    if (n_chunks > (size_t)n_threads * 4)
        n_chunks = (size_t)n_threads * 4;
    if (n_chunks < 1)
        n_chunks = 1;
    chunks = cairn_calloc(n_chunks + 1, sizeof *chunks);
    if (!chunks) {
        st = cairn_error_set(err, CAIRN_ENOMEM, file, "out of memory");
        goto done;
    }
    const char **nominal = (const char **)cairn_calloc(n_chunks + 1, sizeof *nominal);
    if (!nominal) {
        st = cairn_error_set(err, CAIRN_ENOMEM, file, "out of memory");
        goto done;
    }
    for (size_t k = 0; k < n_chunks; k++) {
        const char *p = data + total / n_chunks * k;
        /* Never split a UTF-8 sequence: step back over continuation bytes. */
        for (int back = 0; back < 3 && p > data && ((unsigned char)*p & 0xC0) == 0x80; back++)
            p--;
        nominal[k] = p;
    }
    nominal[n_chunks] = end;
#pragma omp parallel for num_threads(n_threads) schedule(static)
    for (size_t k = 0; k < n_chunks; k++)
        prepass(nominal[k], (size_t)(nominal[k + 1] - nominal[k]), &chunks[k]);
    for (size_t k = 0; k < n_chunks; k++) {
        size_t off = SIZE_MAX;
        const char *what = NULL;
        if (chunks[k].nul_at != SIZE_MAX) {
            off = chunks[k].nul_at;
            what = "NUL byte in the input (is this a binary file?)";
        }
        if (chunks[k].bad_utf8_at != SIZE_MAX && chunks[k].bad_utf8_at < off) {
            off = chunks[k].bad_utf8_at;
            what = NULL;
        }
        if (off != SIZE_MAX) {
            size_t abs = (size_t)(nominal[k] - data) + off;
            long line, fieldno;
            locate(data, abs, delim, &line, &fieldno);
            if (what)
                st = cairn_error_at(err, CAIRN_EINPUT, file, line, fieldno, "%s", what);
            else
                st = cairn_error_at(err, CAIRN_EINPUT, file, line, fieldno,
                                    "invalid UTF-8 (byte 0x%02x); convert the file to UTF-8",
                                    (unsigned char)data[abs]);
            cairn_free(nominal);
            goto done;
        }
    }

    /* The header, read sequentially. */
    tokenizer tok;
    tokenizer_init(&tok, delim, skip_space != 0, cfg->max_field_bytes, end);
    const char *body = data;
    long body_line = 1;
    st = parse_header(&tok, &body, cfg, &fr, &body_line, err);
    if (st != CAIRN_OK) {
        cairn_free(nominal);
        goto done;
    }
    n_cols = fr->n_cols;

    /* 1. Record-aligned chunk starts from quote parity. */
    {
        size_t quotes = 0, lines = 1;
        for (size_t k = 0; k < n_chunks; k++) {
            const char *s;
            long l;
            if (k == 0) {
                s = body;
                l = body_line;
            } else {
                size_t nl = 0;
                s = align_to_record(nominal[k], end, quotes % 2 == 1, &nl);
                l = (long)(lines + nl);
            }
            if (s < body) {
                s = body;
                l = body_line;
            }
            if (k > 0 && s < chunks[k - 1].start) {
                s = chunks[k - 1].start;
                l = chunks[k - 1].line;
            }
            chunks[k].start = s;
            chunks[k].line = l;
            quotes += chunks[k].quotes;
            lines += chunks[k].newlines;
        }
        for (size_t k = 0; k < n_chunks; k++)
            chunks[k].stop = k + 1 < n_chunks ? chunks[k + 1].start : end;
    }
    cairn_free(nominal);

    /* 2. Types from a sample of the first chunk; forced types win. */
    infer = cairn_calloc(n_cols ? n_cols : 1, sizeof *infer);
    plan = cairn_calloc(n_cols ? n_cols : 1, sizeof *plan);
    ccols = cairn_calloc(n_chunks * (n_cols ? n_cols : 1), sizeof *ccols);
    dicts = cairn_calloc(n_chunks * (n_cols ? n_cols : 1), sizeof *dicts);
    if (!infer || !plan || !ccols || !dicts) {
        st = cairn_error_set(err, CAIRN_ENOMEM, file, "out of memory");
        goto done;
    }
    {
        field *fields = cairn_calloc(n_cols + 1, sizeof *fields);
        if (!fields) {
            st = cairn_error_set(err, CAIRN_ENOMEM, file, "out of memory");
            goto done;
        }
        sample_types(&tok, cfg, &chunks[0], n_cols, SAMPLE_ROWS, infer, fields);
        cairn_free(fields);
    }

    /* 3. Row offsets from a quick count, then columns at their final size. */
    bool plain = true;
    for (size_t k = 0; k < n_chunks; k++)
        plain &= chunks[k].quotes == 0 && chunks[k].crs == 0;
#pragma omp parallel for num_threads(n_threads) schedule(dynamic, 1)
    for (size_t k = 0; k < n_chunks; k++)
        chunks[k].n_rows = count_records(chunks[k].start, chunks[k].stop, plain);
    size_t n_rows = 0;
    for (size_t k = 0; k < n_chunks; k++) {
        chunks[k].row0 = n_rows;
        n_rows += chunks[k].n_rows;
    }
    for (size_t j = 0; j < n_cols; j++) {
        cairn_type type = infer[j].n_values ? cairn_infer_pick(infer[j].cand, infer[j].n_values)
                                            : CAIRN_TYPE_NONE;
        const cairn_type_overrides *ov = cfg->overrides;
        for (size_t i = 0; ov && i < ov->n; i++) {
            if (strcmp(ov->names[i], fr->cols[j].name) == 0 && ov->types[i] != CAIRN_TYPE_NONE) {
                type = ov->types[i];
                plan[j].forced = true;
            }
        }
        plan[j].mode = type == CAIRN_TYPE_NONE ? MODE_DEFERRED : MODE_TYPED;
        plan[j].deferred = type == CAIRN_TYPE_NONE;
        char *name = fr->cols[j].name;
        fr->cols[j].name = NULL;
        st = cairn_column_alloc(&fr->cols[j], name,
                                type == CAIRN_TYPE_NONE ? CAIRN_TYPE_STRING : type, n_rows, err);
        cairn_free(name);
        if (st != CAIRN_OK)
            goto done;
    }
    fr->n_rows = n_rows;
    /* Near-unique string columns (ids) would regrow their dictionaries many times:
     * size them for the chunk's rows up front. */
    for (size_t j = 0; j < n_cols; j++) {
        if (fr->cols[j].type != CAIRN_TYPE_STRING || infer[j].n_values < 100 ||
            infer[j].n_distinct * 2 < infer[j].n_values)
            continue;
        for (size_t k = 0; k < n_chunks; k++) {
            size_t want = chunks[k].n_rows;
            if (want >= (1u << 29))
                continue;
            if (cairn_dict_reserve(&dicts[k * n_cols + j], (uint32_t)want, want * 16) != CAIRN_OK) {
                st = cairn_error_set(err, CAIRN_ENOMEM, file, "out of memory");
                goto done;
            }
        }
    }

    /* 4. The fill pass; then a second one only for columns whose guess failed. */
    for (int round = 0; round < 2; round++) {
        st = run_fill(&tok, cfg, chunks, n_chunks, fr, plan, dicts, ccols, n_threads,
                      round == 0 && cfg->release_input, data, end, err);
        if (st != CAIRN_OK)
            goto done;
        bool redo = false;
        for (size_t j = 0; j < n_cols; j++) {
            bool failed = false;
            for (size_t k = 0; k < n_chunks; k++)
                failed |= ccols[k * n_cols + j].failed;
            if (round == 0 && failed) {
                char *name = fr->cols[j].name;
                fr->cols[j].name = NULL;
                st = cairn_column_alloc(&fr->cols[j], name, CAIRN_TYPE_STRING, n_rows, err);
                cairn_free(name);
                if (st != CAIRN_OK)
                    goto done;
                plan[j].mode = MODE_DEFERRED;
                plan[j].deferred = true;
                redo = true;
            } else {
                plan[j].mode = MODE_SKIP;
            }
        }
        if (!redo)
            break;
    }
    if (n_rows == 0) {
        st = cairn_error_at(err, CAIRN_EINPUT, file, body_line, 0,
                            "no data rows: the file has a header only");
        goto done;
    }

    /* 5. Merge string dictionaries in chunk order; convert deferred columns. */
    {
        bool oom = false;
#pragma omp parallel for num_threads(n_threads) schedule(dynamic, 1)
        for (size_t j = 0; j < n_cols; j++) {
            if (fr->cols[j].type != CAIRN_TYPE_STRING)
                continue;
            cairn_status s2 = merge_dicts(&fr->cols[j], &dicts[j], n_cols, chunks, n_chunks);
            if (s2 == CAIRN_OK && plan[j].deferred)
                s2 = finish_deferred(&fr->cols[j], ccols, j, n_cols, n_chunks);
            if (s2 != CAIRN_OK) {
#pragma omp atomic write
                oom = true;
            }
        }
        if (oom) {
            st = cairn_error_set(err, CAIRN_ENOMEM, file, "out of memory merging dictionaries");
            goto done;
        }
    }
    *out = fr;
    fr = NULL;
done:
    if (dicts) {
        for (size_t i = 0; i < n_chunks * n_cols; i++)
            cairn_dict_reset(&dicts[i]);
        cairn_free(dicts);
    }
    cairn_free(infer);
    cairn_free(plan);
    cairn_free(ccols);
    cairn_free(chunks);
    cairn_frame_free(fr);
    return st;
}
