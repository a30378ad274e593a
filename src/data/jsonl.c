/*
 * jsonl.c -- the JSON Lines reader: one JSON object per line becomes one row
 * of a frame. Columns are the union of the objects' keys in first-seen order;
 * a key that a row lacks is null there, as is JSON null and a string that is
 * an NA marker. Values must be numbers, strings, booleans or null: a nested
 * array or object is an error naming its line and key.
 *
 * Each line is parsed with cJSON (validation, string unescaping). cJSON keeps
 * neither the text of a number nor the position of a value, so a small
 * scanner walks the already-validated line beside cJSON's member list to find
 * both: the number text decides int64 versus float64 exactly (a double loses
 * integers above 2^53) and is what a string column stores, and positions give
 * errors a FILE:LINE:COLUMN where COLUMN is the 1-based byte in the line.
 *
 * The reader runs in one pass over the input. Per column it keeps one kind
 * byte and one 64-bit payload per row (an offset into the caller's buffer for
 * numbers and escape-free strings, a code into a small per-column dictionary
 * for strings that needed unescaping) plus what the column has seen so far.
 * Types are decided once every line is read, then the frame is filled row
 * by row; the type rules (bool, int64, float64, the shared string inference,
 * mixed columns) are spelled out at column_pick_type(). Type inference of strings
 * and the text conversion are shared with the CSV reader (reader.h), so
 * "2024-01-01" or "12" in JSON strings type the same as in a CSV.
 *
 * cJSON allocates with the C library's malloc: its allocator hooks are
 * process-wide, and the library keeps no process-wide state, so they are left
 * alone. Every tree cJSON builds is freed before the next line.
 */
#include "data/reader.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

/*
 * A hard cap on the number of distinct keys: the frame costs rows x columns,
 * so a small file whose every line brings a new key would otherwise grow
 * quadratically.
 */
#define JSONL_MAX_COLUMNS 4096
/* Used when the configuration leaves the field limit at 0. */
#define JSONL_DEFAULT_MAX_FIELD (1u << 20)
/* How much of a key or value an error message quotes. */
#define QUOTE_MAX 64

/* What one cell holds while the input is read. */
enum {
    K_ABSENT = 0, /* the row has no such key (null); must stay 0: new rows are zeroed */
    K_NULL,       /* JSON null or an NA string */
    K_FALSE,
    K_TRUE,
    K_NUM,        /* payload: offset of the number's text in the input */
    K_STR,        /* payload: offset of the first byte after the opening quote (no escapes) */
    K_ESC         /* payload: code into the column's dictionary of unescaped strings */
};

typedef struct jcol {
    uint8_t *kind;      /* row_cap entries */
    uint64_t *val;      /* row_cap entries */
    cairn_dict esc;     /* strings that had escapes, unescaped */
    bool saw_bool, saw_num, saw_str;
    bool num_all_int;   /* every number so far is an integer that fits int64 */
    unsigned cand;      /* CAIRN_CAND_* bits all non-NA strings so far fit */
    size_t n_str;       /* non-NA strings */
} jcol;

typedef struct jreader {
    const char *data;
    size_t len;
    const cairn_reader_cfg *cfg;
    const char *file;
    size_t max_field;
    cairn_dict names;   /* column names; a name's code is its column index */
    jcol *cols;
    size_t n_cols, cols_cap;
    size_t n_rows, row_cap;
    long *row_line;     /* row -> 1-based line number */
    size_t *row_start;  /* row -> offset of its line in the input */
    cairn_error *err;
} jreader;

static const char *type_word(int t)
{
    switch (t) {
    case cJSON_Array: return "array";
    case cJSON_Object: return "object";
    case cJSON_String: return "string";
    case cJSON_Number: return "number";
    case cJSON_True:
    case cJSON_False: return "boolean";
    case cJSON_NULL: return "null";
    default: return "value";
    }
}

/* cJSON's idea of whitespace: every byte up to and including the space. */
static const char *skip_ws(const char *p, const char *e)
{
    while (p < e && (unsigned char)*p <= ' ')
        p++;
    return p;
}

/*
 * Steps over a string literal starting at its opening quote; returns the
 * byte after the closing quote. Notes whether it had escapes and whether one
 * of them was \u0000 (which cJSON would silently cut the string at).
 */
static const char *skip_string(const char *p, const char *e, bool *has_esc, bool *has_nul)
{
    *has_esc = false;
    *has_nul = false;
    p++;
    while (p < e && *p != '"') {
        if (*p == '\\') {
            *has_esc = true;
            if (e - p >= 6 && p[1] == 'u' && memcmp(p + 2, "0000", 4) == 0)
                *has_nul = true;
            p += 2;
        } else {
            p++;
        }
    }
    return p < e ? p + 1 : e;
}

/* The characters cJSON hands to strtod for a number. */
static bool is_num_char(char c)
{
    return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

static size_t num_len(const char *p, const char *e)
{
    const char *q = p;
    while (q < e && is_num_char(*q))
        q++;
    return (size_t)(q - p);
}

static int quote_len(size_t n) { return (int)(n < QUOTE_MAX ? n : QUOTE_MAX); }

/* Grows every column and the per-row arrays to hold at least need rows. */
static cairn_status rows_reserve(jreader *r, size_t need)
{
    if (need <= r->row_cap)
        return CAIRN_OK;
    size_t cap = r->row_cap ? r->row_cap : 64;
    while (cap < need) {
        if (!cairn_mul_size(cap, 2, &cap))
            return cairn_error_set(r->err, CAIRN_ETOOBIG, r->file, "too many rows");
    }
    long *lines = cairn_reallocarray(r->row_line, cap, sizeof *lines);
    if (!lines)
        goto oom;
    r->row_line = lines;
    size_t *starts = cairn_reallocarray(r->row_start, cap, sizeof *starts);
    if (!starts)
        goto oom;
    r->row_start = starts;
    for (size_t c = 0; c < r->n_cols; c++) {
        jcol *col = &r->cols[c];
        uint8_t *k = cairn_reallocarray(col->kind, cap, 1);
        if (!k)
            goto oom;
        col->kind = k;
        memset(k + r->row_cap, K_ABSENT, cap - r->row_cap);
        uint64_t *v = cairn_reallocarray(col->val, cap, sizeof *v);
        if (!v)
            goto oom;
        col->val = v;
        memset(v + r->row_cap, 0, (cap - r->row_cap) * sizeof *v);
    }
    r->row_cap = cap;
    return CAIRN_OK;
oom:
    /*
     * Columns that were already grown keep their larger arrays; row_cap stays
     * the old value, which is still a valid (smaller) bound for all of them.
     */
    return cairn_error_set(r->err, CAIRN_ENOMEM, r->file, "out of memory reading JSON Lines");
}

/* The column for key (NUL-terminated, klen bytes), adding it when new. */
static cairn_status column_for_key(jreader *r, const char *key, size_t klen, long line,
                                   long column, size_t *out)
{
    uint32_t code;
    if (cairn_dict_find(&r->names, key, klen, &code)) {
        *out = code;
        return CAIRN_OK;
    }
    if (r->n_cols >= JSONL_MAX_COLUMNS)
        return cairn_error_at(r->err, CAIRN_ETOOBIG, r->file, line, column,
                              "more than %d distinct keys", JSONL_MAX_COLUMNS);
    if (r->n_cols == r->cols_cap) {
        size_t cap = r->cols_cap ? r->cols_cap * 2 : 16;
        jcol *cols = cairn_reallocarray(r->cols, cap, sizeof *cols);
        if (!cols)
            goto oom;
        r->cols = cols;
        r->cols_cap = cap;
    }
    jcol *col = &r->cols[r->n_cols];
    memset(col, 0, sizeof *col);
    cairn_dict_init(&col->esc);
    col->num_all_int = true;
    col->cand = CAIRN_CAND_ALL;
    /* Rows before this one lack the key: zeroed kinds are K_ABSENT. */
    col->kind = cairn_calloc(r->row_cap ? r->row_cap : 1, 1);
    col->val = cairn_calloc(r->row_cap ? r->row_cap : 1, sizeof *col->val);
    if (!col->kind || !col->val) {
        cairn_free(col->kind);
        cairn_free(col->val);
        goto oom;
    }
    cairn_status st = cairn_dict_intern(&r->names, key, klen, &code);
    if (st != CAIRN_OK) {
        cairn_free(col->kind);
        cairn_free(col->val);
        cairn_dict_reset(&col->esc);
        return cairn_error_set(r->err, st, r->file, "cannot add column \"%.*s\"",
                               quote_len(klen), key);
    }
    /* Codes count up from 0 in insertion order, so the new code is the index. */
    r->n_cols++;
    *out = code;
    return CAIRN_OK;
oom:
    return cairn_error_set(r->err, CAIRN_ENOMEM, r->file, "out of memory reading JSON Lines");
}

/*
 * Records the members of one parsed object as row r->n_rows. line points at
 * the start of the line (for columns), p just after the object's '{', e at
 * the end of the line.
 */
static cairn_status row_add(jreader *r, const cJSON *obj, const char *line, const char *p,
                            const char *e, long line_no)
{
    size_t row = r->n_rows;
    cairn_status st = rows_reserve(r, row + 1);
    if (st != CAIRN_OK)
        return st;
    r->row_line[row] = line_no;
    r->row_start[row] = (size_t)(line - r->data);
    size_t guess = 0;

    for (const cJSON *m = obj->child; m; m = m->next) {
        bool esc, nul;
        /* Walk the text in step with cJSON: key, colon, value, comma. */
        p = skip_ws(p, e);
        if (p >= e || *p != '"' || !m->string)
            goto lost;
        long key_col = (long)(p - line) + 1;
        p = skip_string(p, e, &esc, &nul);
        const char *key = m->string;
        size_t klen = strlen(key);
        if (nul)
            return cairn_error_at(r->err, CAIRN_EINPUT, r->file, line_no, key_col,
                                  "NUL character (\\u0000) in a key");
        if (klen == 0)
            return cairn_error_at(r->err, CAIRN_EINPUT, r->file, line_no, key_col,
                                  "empty key");
        if (klen > r->max_field)
            return cairn_error_at(r->err, CAIRN_ETOOBIG, r->file, line_no, key_col,
                                  "key of %zu bytes exceeds the field limit of %zu bytes",
                                  klen, r->max_field);
        p = skip_ws(p, e);
        if (p >= e || *p != ':')
            goto lost;
        p = skip_ws(p + 1, e);
        if (p >= e)
            goto lost;
        const char *vp = p;
        long val_col = (long)(vp - line) + 1;

        /* Most files write their keys in one order: try the column after the last one. */
        size_t ci = guess;
        if (ci >= r->n_cols || cairn_dict_len(&r->names, (uint32_t)ci) != klen ||
            memcmp(cairn_dict_str(&r->names, (uint32_t)ci), key, klen) != 0) {
            st = column_for_key(r, key, klen, line_no, key_col, &ci);
            if (st != CAIRN_OK)
                return st;
        }
        guess = ci + 1;
        jcol *col = &r->cols[ci];
        if (col->kind[row] != K_ABSENT)
            return cairn_error_at(r->err, CAIRN_EINPUT, r->file, line_no, key_col,
                                  "duplicate key \"%.*s\"", quote_len(klen), key);

        uint8_t kind;
        uint64_t val = 0;
        switch (m->type & 0xFF) {
        case cJSON_NULL:
            kind = K_NULL;
            p += 4;
            break;
        case cJSON_False:
            kind = K_FALSE;
            col->saw_bool = true;
            p += 5;
            break;
        case cJSON_True:
            kind = K_TRUE;
            col->saw_bool = true;
            p += 4;
            break;
        case cJSON_Number: {
            size_t n = num_len(vp, e);
            if (n == 0)
                goto lost;
            int64_t i64;
            double d;
            if (!cairn_parse_int64(vp, n, &i64)) {
                col->num_all_int = false;
                if (!cairn_parse_double(vp, n, &d) || !isfinite(d))
                    return cairn_error_at(r->err, CAIRN_EINPUT, r->file, line_no, val_col,
                                          "number %.*s of key \"%.*s\" is out of range",
                                          quote_len(n), vp, quote_len(klen), key);
            }
            kind = K_NUM;
            val = (uint64_t)(vp - r->data);
            col->saw_num = true;
            p += n;
            break;
        }
        case cJSON_String: {
            if (*vp != '"')
                goto lost;
            p = skip_string(vp, e, &esc, &nul);
            if (nul)
                return cairn_error_at(r->err, CAIRN_EINPUT, r->file, line_no, val_col,
                                      "NUL character (\\u0000) in the value of key \"%.*s\"",
                                      quote_len(klen), key);
            const char *s = m->valuestring;
            size_t n = s ? strlen(s) : 0;
            if (n > r->max_field)
                return cairn_error_at(r->err, CAIRN_ETOOBIG, r->file, line_no, val_col,
                                      "value of key \"%.*s\" has %zu bytes, more than the "
                                      "field limit of %zu", quote_len(klen), key, n,
                                      r->max_field);
            if (cairn_reader_is_na(r->cfg, s ? s : "", n)) {
                kind = K_NULL;
                break;
            }
            col->cand &= cairn_infer_field(s, n);
            col->n_str++;
            col->saw_str = true;
            if (!esc) {
                /* The raw text is the string: point at it instead of copying. */
                kind = K_STR;
                val = (uint64_t)(vp + 1 - r->data);
            } else {
                uint32_t code;
                st = cairn_dict_intern(&col->esc, s, n, &code);
                if (st != CAIRN_OK)
                    return cairn_error_set(r->err, st, r->file, "out of memory reading JSON Lines");
                kind = K_ESC;
                val = code;
            }
            break;
        }
        case cJSON_Array:
        case cJSON_Object:
            return cairn_error_at(r->err, CAIRN_EINPUT, r->file, line_no, val_col,
                                  "nested %s in key \"%.*s\": values must be numbers, strings, "
                                  "booleans or null", type_word(m->type & 0xFF),
                                  quote_len(klen), key);
        default:
            goto lost;
        }
        col->kind[row] = kind;
        col->val[row] = val;
        p = skip_ws(p, e);
        if (p < e && *p == ',')
            p++;
    }
    r->n_rows++;
    return CAIRN_OK;
lost:
    /* cJSON accepted text that the scanner cannot follow: a bug, not bad input. */
    return cairn_error_at(r->err, CAIRN_EINTERNAL, r->file, line_no, (long)(p - line) + 1,
                          "JSON scanner out of step with the parser");
}

/* Parses one non-blank line [line, e) (line_no 1-based); skip is a BOM length. */
static cairn_status line_parse(jreader *r, const char *line, const char *e, size_t skip,
                               long line_no)
{
    cairn_status st = CAIRN_OK;
    cJSON *root = NULL;
    size_t n = (size_t)(e - line);

    const char *nulp = memchr(line, '\0', n);
    if (nulp) {
        st = cairn_error_at(r->err, CAIRN_EINPUT, r->file, line_no, (long)(nulp - line) + 1,
                            "NUL byte in the input");
        goto done;
    }
    size_t bad = cairn_utf8_invalid_at(line, n);
    if (bad < n) {
        st = cairn_error_at(r->err, CAIRN_EINPUT, r->file, line_no, (long)bad + 1,
                            "invalid UTF-8");
        goto done;
    }
    const char *b = line + skip;
    /* cJSON skips a BOM at the start of whatever it parses; only the file's first is allowed. */
    if (e - b >= 3 && memcmp(b, "\xEF\xBB\xBF", 3) == 0) {
        st = cairn_error_at(r->err, CAIRN_EINPUT, r->file, line_no, (long)(b - line) + 1,
                            "byte order mark inside the input");
        goto done;
    }
    const char *end = NULL;
    root = cJSON_ParseWithLengthOpts(b, (size_t)(e - b), &end, 0);
    if (!root) {
        long col = end && end >= b && end <= e ? (long)(end - line) + 1 : 0;
        st = cairn_error_at(r->err, CAIRN_EINPUT, r->file, line_no, col, "invalid JSON");
        goto done;
    }
    const char *first = skip_ws(b, e);
    if (!cJSON_IsObject(root)) {
        st = cairn_error_at(r->err, CAIRN_EINPUT, r->file, line_no, (long)(first - line) + 1,
                            "expected a JSON object, found a %s", type_word(root->type & 0xFF));
        goto done;
    }
    const char *rest = skip_ws(end, e);
    if (rest < e) {
        st = cairn_error_at(r->err, CAIRN_EINPUT, r->file, line_no, (long)(rest - line) + 1,
                            "unexpected text after the JSON object");
        goto done;
    }
    st = row_add(r, root, line, first + 1, e, line_no);
done:
    cJSON_Delete(root);
    return st;
}

static cairn_type override_for(const cairn_reader_cfg *cfg, const char *name)
{
    const cairn_type_overrides *o = cfg->overrides;
    if (!o)
        return CAIRN_TYPE_NONE;
    for (size_t i = 0; i < o->n; i++)
        if (o->names[i] && strcmp(o->names[i], name) == 0)
            return o->types[i];
    return CAIRN_TYPE_NONE;
}

/*
 * The type of a column from what it held:
 *   only booleans                      -> bool
 *   only numbers                       -> int64 when every one is an integer, else float64
 *   only strings                       -> the shared inference (as for CSV fields)
 *   numbers and strings that all read
 *   as numbers ("12", "3.5")           -> int64 / float64 as above
 *   anything else mixed                -> string (numbers and booleans kept as their text)
 *   nothing but nulls                  -> what the shared inference gives an empty column
 * A forced type from the configuration wins over all of these.
 */
static cairn_type column_pick_type(const jreader *r, const jcol *col, const char *name)
{
    cairn_type forced = override_for(r->cfg, name);
    if (forced != CAIRN_TYPE_NONE)
        return forced;
    if (col->saw_bool)
        return col->saw_num || col->saw_str ? CAIRN_TYPE_STRING : CAIRN_TYPE_BOOL;
    if (col->saw_num && !col->saw_str)
        return col->num_all_int ? CAIRN_TYPE_INT64 : CAIRN_TYPE_FLOAT64;
    if (col->saw_num) {
        if (col->num_all_int && (col->cand & CAIRN_CAND_INT))
            return CAIRN_TYPE_INT64;
        if (col->cand & (CAIRN_CAND_INT | CAIRN_CAND_FLOAT))
            return CAIRN_TYPE_FLOAT64;
        return CAIRN_TYPE_STRING;
    }
    if (col->saw_str)
        return cairn_infer_pick(col->cand, col->n_str);
    return cairn_infer_pick(CAIRN_CAND_ALL, 0);
}

/*
 * Converts one cell (column ci, row) into the frame column out. The caller
 * goes row by row, so the line a number or string points into is still in
 * the cache for the row's other columns: column by column, every cell would
 * be a cache miss into the input.
 */
static cairn_status cell_fill(jreader *r, size_t ci, size_t row, cairn_column *out)
{
    const jcol *col = &r->cols[ci];
    const char *e = r->data + r->len;
    const char *s;
    size_t n;
    long at = 0; /* 1-based column of the value in its line, 0 when unknown */
    switch (col->kind[row]) {
    case K_ABSENT:
    case K_NULL:
        return CAIRN_OK;
    case K_FALSE:
    case K_TRUE:
        if (out->type == CAIRN_TYPE_BOOL) {
            out->v.b[row] = col->kind[row] == K_TRUE;
            out->valid[row] = 1;
            return CAIRN_OK;
        }
        s = col->kind[row] == K_TRUE ? "true" : "false";
        n = strlen(s);
        break;
    case K_NUM:
        s = r->data + col->val[row];
        n = num_len(s, e);
        at = (long)(col->val[row] - r->row_start[row]) + 1;
        if (out->type == CAIRN_TYPE_INT64) {
            if (!cairn_parse_int64(s, n, &out->v.i64[row]))
                goto mismatch;
            out->valid[row] = 1;
            return CAIRN_OK;
        }
        if (out->type == CAIRN_TYPE_FLOAT64) {
            double d;
            if (!cairn_parse_double(s, n, &d) || !isfinite(d))
                goto mismatch;
            out->v.f64[row] = d;
            out->valid[row] = 1;
            return CAIRN_OK;
        }
        break;
    case K_STR: {
        s = r->data + col->val[row];
        const char *q = memchr(s, '"', (size_t)(e - s));
        n = q ? (size_t)(q - s) : 0;
        at = (long)(col->val[row] - r->row_start[row]); /* the opening quote */
        break;
    }
    case K_ESC:
        s = cairn_dict_str(&col->esc, (uint32_t)col->val[row]);
        n = cairn_dict_len(&col->esc, (uint32_t)col->val[row]);
        break;
    default:
        return cairn_error_set(r->err, CAIRN_EINTERNAL, r->file, "bad JSONL cell kind");
    }
    if (cairn_column_set_text(out, row, s, n))
        return CAIRN_OK;
    if (out->type == CAIRN_TYPE_STRING) /* any text is a string: only memory can fail */
        return cairn_error_set(r->err, CAIRN_ENOMEM, r->file, "out of memory reading JSON Lines");
mismatch:
    /* Inferred types always fit; only a forced type can refuse a value. */
    return cairn_error_at(r->err, CAIRN_EINPUT, r->file, r->row_line[row], at,
                          "value \"%.*s\" of key \"%s\" is not a valid %s", quote_len(n), s,
                          out->name, cairn_type_name(out->type));
}

static void reader_reset(jreader *r)
{
    for (size_t c = 0; c < r->n_cols; c++) {
        cairn_free(r->cols[c].kind);
        cairn_free(r->cols[c].val);
        cairn_dict_reset(&r->cols[c].esc);
    }
    cairn_free(r->cols);
    cairn_free(r->row_line);
    cairn_free(r->row_start);
    cairn_dict_reset(&r->names);
}

cairn_status cairn_jsonl_parse(const char *data, size_t len, const cairn_reader_cfg *cfg,
                               cairn_frame **out, cairn_error *err)
{
    cairn_status st = CAIRN_OK;
    cairn_frame *f = NULL;
    cairn_reader_cfg defaults;
    jreader r;
    memset(&r, 0, sizeof r);
    if (!cfg) {
        cairn_reader_cfg_from_opts(&defaults, NULL);
        cfg = &defaults;
    }
    cairn_dict_init(&r.names);
    r.data = data;
    r.len = len;
    r.cfg = cfg;
    r.err = err;
    r.file = cfg->display_name ? cfg->display_name : "<input>";
    r.max_field = cfg->max_field_bytes ? cfg->max_field_bytes : JSONL_DEFAULT_MAX_FIELD;
    *out = NULL;
    if (!data && len) {
        st = cairn_error_set(err, CAIRN_EINVAL, r.file, "no input buffer");
        goto done;
    }

    const char *p = data, *e = data + len;
    long line_no = 0;
    while (p < e) {
        const char *nl = memchr(p, '\n', (size_t)(e - p));
        const char *le = nl ? nl : e;
        const char *next = nl ? nl + 1 : e;
        line_no++;
        if (le > p && le[-1] == '\r')
            le--;
        size_t skip = 0;
        if (line_no == 1 && le - p >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
            skip = 3;
        const char *q = p + skip;
        while (q < le && (*q == ' ' || *q == '\t' || *q == '\r'))
            q++;
        if (q < le) {
            st = line_parse(&r, p, le, skip, line_no);
            if (st != CAIRN_OK)
                goto done;
        }
        p = next;
    }
    if (r.n_rows == 0) {
        st = cairn_error_set(err, CAIRN_EINPUT, r.file, "no rows");
        goto done;
    }
    if (r.n_cols == 0) {
        st = cairn_error_set(err, CAIRN_EINPUT, r.file, "no columns: every object is empty");
        goto done;
    }

    st = cairn_frame_new(r.n_cols, &f, err);
    if (st != CAIRN_OK)
        goto done;
    f->n_rows = r.n_rows;
    for (size_t c = 0; c < r.n_cols; c++) {
        const char *name = cairn_dict_str(&r.names, (uint32_t)c);
        cairn_type t = column_pick_type(&r, &r.cols[c], name);
        st = cairn_column_alloc(&f->cols[c], name, t, r.n_rows, err);
        if (st != CAIRN_OK)
            goto done;
    }
    for (size_t row = 0; row < r.n_rows; row++) {
        for (size_t c = 0; c < r.n_cols; c++) {
            st = cell_fill(&r, c, row, &f->cols[c]);
            if (st != CAIRN_OK)
                goto done;
        }
    }
    *out = f;
    f = NULL;
done:
    cairn_frame_free(f);
    reader_reset(&r);
    return st;
}
