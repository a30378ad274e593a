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
#include <stdio.h>
#include <string.h>

#define CHUNK_MIN_BYTES (1u << 20)

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
    size_t quotes, newlines;
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
    bool in_q = false;
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
            bool blank = cur[0] + cur[1] + cur[2] + cur[3] == 0 && (c == '\r' || p[-1] == '\n' ||
                                                                   p[-1] == '\r');
            if (!blank || n_lines == 0) {
                memcpy(counts[n_lines++], cur, sizeof cur);
            }
            memset(cur, 0, sizeof cur);
            if (c == '\r' && p + 1 < limit && p[1] == '\n')
                p++;
            continue;
        }
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
    size_t q = 0, nl = 0;
    c->nul_at = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        q += ch == '"';
        nl += ch == '\n';
    }
    const char *z = memchr(s, '\0', n);
    if (z)
        c->nul_at = (size_t)(z - s);
    size_t bad = cairn_utf8_invalid_at(s, n);
    c->bad_utf8_at = bad == n ? SIZE_MAX : bad;
    c->quotes = q;
    c->newlines = nl;
}

typedef struct col_infer {
    unsigned cand;
    size_t n_values;
} col_infer;

static void set_err(chunk *c, tok_err kind, long line, long fieldno)
{
    if (c->err.kind)
        return;
    c->err.kind = kind;
    c->err.line = line;
    c->err.field = fieldno;
}

static void pass1(const tokenizer *t, const cairn_reader_cfg *cfg, chunk *c, size_t n_cols,
                  col_infer *inf, field *fields)
{
    const char *p = c->start;
    long line = c->line;
    size_t rows = 0;
    for (size_t j = 0; j < n_cols; j++)
        inf[j] = (col_infer){CAIRN_CAND_ALL, 0};
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
        for (size_t j = 0; j < n_cols; j++) {
            const field *f = &fields[j];
            if (cairn_reader_is_na(cfg, f->p, f->n))
                continue;
            inf[j].n_values++;
            if (inf[j].cand)
                inf[j].cand &= f->escaped ? 0u : cairn_infer_field(f->p, f->n);
        }
        rows++;
        line += (long)lines;
    }
    c->n_rows = rows;
}

static void pass2(const tokenizer *t, const cairn_reader_cfg *cfg, chunk *c, cairn_frame *fr,
                  cairn_dict *dicts, field *fields, cairn_buf *scratch)
{
    const char *p = c->start;
    long line = c->line;
    size_t row = c->row0;
    size_t n_cols = fr->n_cols;
    while (p < c->stop) {
        size_t nf, lines, ef = 0;
        tok_err e = read_record(t, &p, fields, n_cols, &nf, &lines, &ef);
        if (e == TOK_BLANK) {
            line += (long)lines;
            continue;
        }
        if (e != TOK_OK || nf != n_cols) { /* pass 1 saw this already; be safe */
            set_err(c, e != TOK_OK ? e : TOK_RAGGED, line, (long)ef);
            return;
        }
        for (size_t j = 0; j < n_cols; j++) {
            const field *f = &fields[j];
            cairn_column *col = &fr->cols[j];
            if (cairn_reader_is_na(cfg, f->p, f->n))
                continue;
            size_t n;
            const char *s = unescape(f, scratch, &n);
            if (!s) {
                set_err(c, TOK_NOMEM, line, (long)j + 1);
                return;
            }
            if (col->type == CAIRN_TYPE_STRING) {
                if (cairn_dict_intern(&dicts[j], s, n, &col->v.codes[row]) != CAIRN_OK) {
                    set_err(c, TOK_NOMEM, line, (long)j + 1);
                    return;
                }
                col->valid[row] = 1;
            } else if (!cairn_column_set_text(col, row, s, n)) {
                set_err(c, TOK_CONVERT, line, (long)j + 1);
                c->err.a = (size_t)col->type;
                snprintf(c->err.value, sizeof c->err.value, "%.*s", (int)(n > 48 ? 48 : n), s);
                return;
            }
        }
        row++;
        line += (long)lines;
    }
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
    /* Skip leading blank lines. */
    for (;;) {
        if (*pos >= t->end)
            return cairn_error_at(err, CAIRN_EINPUT, file, *line, 0, "empty file: no header");
        cairn_free(fields);
        fields = cairn_calloc(cap, sizeof *fields);
        if (!fields)
            return cairn_error_set(err, CAIRN_ENOMEM, file, "out of memory");
        const char *save = *pos;
        e = read_record(t, pos, fields, cap, &nf, &lines, &ef);
        if (e == TOK_OK && nf > cap) { /* more columns than guessed: read again */
            cap = nf;
            *pos = save;
            continue;
        }
        if (e == TOK_BLANK) {
            *line += (long)lines;
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
    for (size_t j = 0; j < nf; j++) {
        size_t n;
        const char *s = unescape(&fields[j], &scratch, &n);
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
    for (size_t k = 0; k < n_chunks; k++) {
        cairn_dict *d = &chunk_dicts[k * stride];
        if (d->n == 0)
            continue;
        uint32_t *remap = cairn_calloc(d->n, sizeof *remap);
        if (!remap)
            return CAIRN_ENOMEM;
        bool identity = true;
        for (uint32_t i = 0; i < d->n; i++) {
            cairn_status st = cairn_dict_intern(&col->dict, cairn_dict_str(d, i),
                                                cairn_dict_len(d, i), &remap[i]);
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

cairn_status cairn_csv_parse(const char *data, size_t len, const cairn_reader_cfg *cfg,
                             cairn_frame **out, cairn_error *err)
{
    const char *file = cfg->display_name ? cfg->display_name : "-";
    const char *end = data + len;
    cairn_frame *fr = NULL;
    chunk *chunks = NULL;
    col_infer *infer = NULL;
    cairn_dict *dicts = NULL;
    size_t n_chunks = 0, n_cols = 0;
    cairn_status st = CAIRN_OK;
    *out = NULL;

    if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0)
        data += 3;
    if (data >= end)
        return cairn_error_at(err, CAIRN_EINPUT, file, 1, 0, "empty file: no header");

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
            char delim = cfg->delimiter ? cfg->delimiter : ',';
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
    int skip_space = cfg->skip_initial_space;
    char delim = cfg->delimiter ? cfg->delimiter : sniff_delimiter(data, end, &skip_space);
    if (skip_space < 0)
        skip_space = 0;
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

    /* 2. Pass 1: shapes and candidate types. */
    infer = cairn_calloc(n_chunks * (n_cols ? n_cols : 1), sizeof *infer);
    if (!infer) {
        st = cairn_error_set(err, CAIRN_ENOMEM, file, "out of memory");
        goto done;
    }
    {
        bool oom = false;
#pragma omp parallel num_threads(n_threads)
        {
            field *fields = cairn_calloc(n_cols + 1, sizeof *fields);
            if (!fields) {
#pragma omp atomic write
                oom = true;
            }
#pragma omp for schedule(dynamic, 1)
            for (size_t k = 0; k < n_chunks; k++)
                if (fields)
                    pass1(&tok, cfg, &chunks[k], n_cols, &infer[k * n_cols], fields);
            cairn_free(fields);
        }
        if (oom) {
            st = cairn_error_set(err, CAIRN_ENOMEM, file, "out of memory");
            goto done;
        }
    }
    size_t n_rows = 0;
    for (size_t k = 0; k < n_chunks; k++) {
        if (chunks[k].err.kind) {
            st = report(&chunks[k].err, cfg, fr, err);
            goto done;
        }
        chunks[k].row0 = n_rows;
        n_rows += chunks[k].n_rows;
    }
    if (n_rows == 0) {
        st = cairn_error_at(err, CAIRN_EINPUT, file, body_line, 0,
                            "no data rows: the file has a header only");
        goto done;
    }

    /* 3. Types and columns. */
    for (size_t j = 0; j < n_cols; j++) {
        unsigned cand = CAIRN_CAND_ALL;
        size_t n_values = 0;
        for (size_t k = 0; k < n_chunks; k++) {
            cand &= infer[k * n_cols + j].cand;
            n_values += infer[k * n_cols + j].n_values;
        }
        cairn_type type = cairn_infer_pick(cand, n_values);
        const cairn_type_overrides *ov = cfg->overrides;
        for (size_t i = 0; ov && i < ov->n; i++)
            if (strcmp(ov->names[i], fr->cols[j].name) == 0 && ov->types[i] != CAIRN_TYPE_NONE)
                type = ov->types[i];
        char *name = fr->cols[j].name;
        fr->cols[j].name = NULL;
        st = cairn_column_alloc(&fr->cols[j], name, type, n_rows, err);
        cairn_free(name);
        if (st != CAIRN_OK)
            goto done;
    }
    fr->n_rows = n_rows;

    /* 4. Pass 2: values. */
    dicts = cairn_calloc(n_chunks * (n_cols ? n_cols : 1), sizeof *dicts);
    if (!dicts) {
        st = cairn_error_set(err, CAIRN_ENOMEM, file, "out of memory");
        goto done;
    }
    {
        bool oom = false;
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
            for (size_t k = 0; k < n_chunks; k++)
                if (fields)
                    pass2(&tok, cfg, &chunks[k], fr, &dicts[k * n_cols], fields, &scratch);
            cairn_free(fields);
            cairn_buf_reset(&scratch);
        }
        if (oom) {
            st = cairn_error_set(err, CAIRN_ENOMEM, file, "out of memory");
            goto done;
        }
    }
    for (size_t k = 0; k < n_chunks; k++) {
        if (chunks[k].err.kind) {
            st = report(&chunks[k].err, cfg, fr, err);
            goto done;
        }
    }
    {
        bool oom = false;
#pragma omp parallel for num_threads(n_threads) schedule(dynamic, 1)
        for (size_t j = 0; j < n_cols; j++) {
            if (fr->cols[j].type != CAIRN_TYPE_STRING)
                continue;
            if (merge_dicts(&fr->cols[j], &dicts[j], n_cols, chunks, n_chunks) != CAIRN_OK) {
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
    cairn_free(chunks);
    cairn_frame_free(fr);
    return st;
}
