/*
 * request.c -- the JSON body of a predict request, parsed in one pass
 * without recursion and without a general JSON tree.
 *
 * The parser reads RFC 8259 JSON exactly (no comments, no trailing commas,
 * no leading zeros, no NaN/Infinity, no bare control characters in strings,
 * no byte order mark, only space/tab/CR/LF as white space) but is steered by
 * the only shapes a predict body may have:
 *
 *   {"instances": [{"col": scalar, ...}, ...], "request_id": "...", "entity": ...}
 *   {"inputs": {"col": [scalar, ...], ...}, "request_id": "...", "entity": ...}
 *
 * Because those shapes are at most three levels deep and any other container
 * is refused where it opens (a nested value in a row, a row that is not an
 * object, an unknown top-level key), no document ever gets deeper than three
 * levels, well inside CAIRN_REQUEST_MAX_DEPTH, and a body of a million '['
 * is refused at its first or second byte. The first problem in byte order is
 * the one reported, so an over-long instances array is CAIRN_ETOOBIG even
 * when the JSON is also malformed further on.
 *
 * Error locations: "body byte N" with N the 0-based offset of the offending
 * byte (N = len for an unexpected end), or, for problems tied to a name (an
 * unknown or duplicate key, a nested value, a column of the wrong length, a
 * bad request_id or entity), the key itself (an empty key: "body byte N"
 * again), with the byte offset in the message.
 *
 * Memory: every decoded string (names, string values, request_id, entity)
 * goes into one arena of len + 2 bytes allocated up front -- the arena is
 * what cairn_request.priv points to, and tests rely on that extent. A
 * string's decoded bytes plus its NUL never exceed its raw size including
 * both quotes, an entity number's text plus NUL is one byte longer than the
 * literal, and tokens do not overlap, so len + 2 is always enough. The field
 * array and row offsets grow geometrically; duplicate keys are found with a
 * small open-addressing set whose slots carry a generation number, so it is
 * never cleared between rows; its first 32 slots live in the parser's own
 * (stack) state, which covers rows of up to 16 keys without allocating. No
 * state is shared between calls: threads may parse concurrently.
 *
 * What is left to others: HTTP size limits (a 10 MB string is parsed like
 * any other), contract validation of names and values, and what the entity
 * and request id mean.
 */
#include "serve/serve.h"

#include "core/core.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(CAIRN_REQUEST_MAX_DEPTH >= 3, "the accepted shapes are three levels deep");

/* ---- duplicate-key set --------------------------------------------------------------- */

typedef struct dup_slot {
    const char *name;   /* NUL-terminated, in the arena */
    uint64_t hash;
    size_t gen;         /* the object it belongs to; stale when != set.gen */
} dup_slot;

#define DUP_INLINE 32     /* slots held in the parser itself: rows of up to 16 keys */

typedef struct dup_set {
    dup_slot *slots;    /* inline_slots until a row needs more */
    size_t mask;        /* slot count - 1; slot count is a power of two */
    size_t count;       /* live slots of the current generation */
    size_t gen;
    dup_slot inline_slots[DUP_INLINE];
} dup_set;

/* ---- parser state -------------------------------------------------------------------- */

typedef struct parser {
    const unsigned char *s;
    size_t len;
    size_t pos;
    char *arena;
    size_t arena_used, arena_cap;
    cairn_field *fields;        /* instances: row-major; inputs: column-major until the end */
    size_t n_fields, cap_fields;
    size_t *row_start;
    size_t n_rows, cap_rows;
    size_t max_rows, max_fields;
    dup_set dup;
    const char *request_id, *entity;
    bool saw_nul;               /* the last string decoded a \u0000 */
    cairn_error *err;
} parser;

/* ---- errors -------------------------------------------------------------------------- */

static cairn_status fail_v(parser *p, cairn_status code, const char *where, const char *fmt,
                           va_list ap) __attribute__((format(printf, 4, 0)));

static cairn_status fail_v(parser *p, cairn_status code, const char *where, const char *fmt,
                           va_list ap)
{
    if (!p->err)
        return code;
    char msg[CAIRN_ERROR_MSG_MAX];
    vsnprintf(msg, sizeof msg, fmt, ap);
    return cairn_error_set(p->err, code, where, "%s", msg);
}

/* An error located at a byte of the body. */
static cairn_status fail_at(parser *p, cairn_status code, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static cairn_status fail_at(parser *p, cairn_status code, size_t at, const char *fmt, ...)
{
    char where[48];
    snprintf(where, sizeof where, "body byte %zu", at);
    va_list ap;
    va_start(ap, fmt);
    cairn_status st = fail_v(p, code, where, fmt, ap);
    va_end(ap);
    return st;
}

/* An error located at a key: the key's decoded text is the where, or "body byte N" (N =
 * at) for the empty key, which would otherwise leave the where blank. */
static cairn_status fail_key(parser *p, cairn_status code, const char *key, size_t at,
                             const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static cairn_status fail_key(parser *p, cairn_status code, const char *key, size_t at,
                             const char *fmt, ...)
{
    char where[48];
    if (!key[0]) {
        snprintf(where, sizeof where, "body byte %zu", at);
        key = where;
    }
    va_list ap;
    va_start(ap, fmt);
    cairn_status st = fail_v(p, code, key, fmt, ap);
    va_end(ap);
    return st;
}

static cairn_status nomem(parser *p)
{
    return cairn_error_set(p->err, CAIRN_ENOMEM, NULL, "out of memory parsing a request body");
}

/* "expected X" at the current position, naming what was found instead. */
static cairn_status unexpected(parser *p, const char *expected)
{
    if (p->pos >= p->len)
        return fail_at(p, CAIRN_EINPUT, p->len, "unexpected end of body: expected %s", expected);
    unsigned char c = p->s[p->pos];
    if (c > 0x20 && c < 0x7F)
        return fail_at(p, CAIRN_EINPUT, p->pos, "expected %s, found '%c'", expected, c);
    return fail_at(p, CAIRN_EINPUT, p->pos, "expected %s, found byte 0x%02x", expected, c);
}

/* ---- lexing -------------------------------------------------------------------------- */

static inline void skip_ws(parser *p)
{
    const unsigned char *s = p->s;
    size_t i = p->pos, n = p->len;
    while (i < n && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t'))
        i++;
    p->pos = i;
}

/* The current byte after white space, or -1 at the end. */
static inline int peek(parser *p)
{
    skip_ws(p);
    return p->pos < p->len ? p->s[p->pos] : -1;
}

static int hex_digit(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Reads the four hex digits at s[i..i+4) (the caller checked the bounds). */
static bool hex4(const unsigned char *s, size_t i, unsigned *out)
{
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        int d = hex_digit(s[i + (size_t)k]);
        if (d < 0)
            return false;
        v = v << 4 | (unsigned)d;
    }
    *out = v;
    return true;
}

static char *put_utf8(char *d, unsigned cp)
{
    if (cp < 0x80) {
        *d++ = (char)cp;
    } else if (cp < 0x800) {
        *d++ = (char)(0xC0 | cp >> 6);
        *d++ = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *d++ = (char)(0xE0 | cp >> 12);
        *d++ = (char)(0x80 | (cp >> 6 & 0x3F));
        *d++ = (char)(0x80 | (cp & 0x3F));
    } else {
        *d++ = (char)(0xF0 | cp >> 18);
        *d++ = (char)(0x80 | (cp >> 12 & 0x3F));
        *d++ = (char)(0x80 | (cp >> 6 & 0x3F));
        *d++ = (char)(0x80 | (cp & 0x3F));
    }
    return d;
}

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

/* Non-zero when some byte of w is zero (exact as a yes/no answer). */
static inline uint64_t has_zero(uint64_t w) { return (w - ONES) & ~w & HIGHS; }

/*
 * Decodes the string starting at the '"' under p->pos into the arena,
 * NUL-terminated; out and out_len receive it and p->pos moves past the closing
 * quote. Runs of plain bytes are found eight at a time and checked for
 * UTF-8 as a whole: a multi-byte sequence can never be cut by a quote, a
 * backslash or a control byte, since those are ASCII and no continuation
 * byte is, so checking run by run is the same as checking the whole string.
 */
static cairn_status parse_string(parser *p, const char **out, size_t *out_len)
{
    const unsigned char *s = p->s;
    size_t len = p->len, open = p->pos, i = open + 1;
    char *d0 = p->arena + p->arena_used, *d = d0;
    p->saw_nul = false;
    for (;;) {
        size_t run = i;
        uint64_t seen = 0; /* OR of the run's bytes: its high bit says "not ASCII" */
        while (i + 8 <= len) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            /* Bytes < 0x20 have their three top bits clear; quote and backslash by xor. */
            uint64_t stop = has_zero(w & (0xE0 * ONES)) | has_zero(w ^ ('"' * ONES)) |
                            has_zero(w ^ ('\\' * ONES));
            if (stop)
                break;
            seen |= w;
            i += 8;
        }
        while (i < len) {
            unsigned char c = s[i];
            if (c == '"' || c == '\\' || c < 0x20)
                break;
            seen |= c;
            i++;
        }
        size_t n = i - run;
        if (n) {
            if (seen & HIGHS) {
                size_t bad = cairn_utf8_invalid_at((const char *)s + run, n);
                if (bad < n)
                    return fail_at(p, CAIRN_EINPUT, run + bad, "invalid UTF-8 in a string");
            }
            memcpy(d, s + run, n);
            d += n;
        }
        if (i >= len)
            return fail_at(p, CAIRN_EINPUT, len,
                           "unexpected end of body in the string that starts at byte %zu", open);
        unsigned char c = s[i];
        if (c == '"') {
            i++;
            break;
        }
        if (c < 0x20)
            return fail_at(p, CAIRN_EINPUT, i,
                           "control character 0x%02x in a string (must be escaped)", c);
        /* A backslash escape. */
        if (i + 1 >= len)
            return fail_at(p, CAIRN_EINPUT, len, "unexpected end of body in an escape");
        unsigned char e = s[i + 1];
        switch (e) {
        case '"': case '\\': case '/': *d++ = (char)e; i += 2; continue;
        case 'b': *d++ = '\b'; i += 2; continue;
        case 'f': *d++ = '\f'; i += 2; continue;
        case 'n': *d++ = '\n'; i += 2; continue;
        case 'r': *d++ = '\r'; i += 2; continue;
        case 't': *d++ = '\t'; i += 2; continue;
        case 'u': break;
        default:
            if (e > 0x20 && e < 0x7F)
                return fail_at(p, CAIRN_EINPUT, i, "invalid escape '\\%c' in a string", e);
            return fail_at(p, CAIRN_EINPUT, i, "invalid escape in a string");
        }
        unsigned cp;
        if (i + 6 > len)
            return fail_at(p, CAIRN_EINPUT, i, "truncated \\u escape");
        if (!hex4(s, i + 2, &cp))
            return fail_at(p, CAIRN_EINPUT, i, "\\u must be followed by four hex digits");
        if (cp >= 0xDC00 && cp <= 0xDFFF)
            return fail_at(p, CAIRN_EINPUT, i, "unpaired low surrogate \\u%04x", cp);
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            /* Only a following \uDC00..\uDFFF completes it. */
            unsigned lo;
            if (i + 12 > len || s[i + 6] != '\\' || s[i + 7] != 'u' || !hex4(s, i + 8, &lo) ||
                lo < 0xDC00 || lo > 0xDFFF)
                return fail_at(p, CAIRN_EINPUT, i, "unpaired high surrogate \\u%04x", cp);
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            i += 6;
        }
        if (cp == 0)
            p->saw_nul = true; /* the only way a NUL gets into a decoded string */
        d = put_utf8(d, cp);
        i += 6;
    }
    *d = '\0';
    *out = d0;
    *out_len = (size_t)(d - d0);
    p->arena_used += (size_t)(d - d0) + 1;
    p->pos = i;
    return CAIRN_OK;
}

/* A name (object key): a string without NUL, since names are NUL-terminated. */
static cairn_status parse_name(parser *p, const char **out, size_t *out_len)
{
    size_t at = p->pos;
    if (p->pos >= p->len || p->s[p->pos] != '"')
        return unexpected(p, "a quoted name");
    cairn_status st = parse_string(p, out, out_len);
    if (st != CAIRN_OK)
        return st;
    if (p->saw_nul)
        return fail_at(p, CAIRN_EINPUT, at, "a name may not contain \\u0000");
    return CAIRN_OK;
}

static inline bool is_digit(unsigned char c) { return (unsigned)(c - '0') <= 9; }

/* Checks the number grammar at p->pos: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
 * and moves past it. */
static cairn_status scan_number(parser *p)
{
    const unsigned char *s = p->s;
    size_t i = p->pos, n = p->len;
    if (i < n && s[i] == '-')
        i++;
    if (i >= n)
        return fail_at(p, CAIRN_EINPUT, n, "unexpected end of body in a number");
    if (s[i] == '0') {
        i++;
        if (i < n && is_digit(s[i]))
            return fail_at(p, CAIRN_EINPUT, i, "leading zero in a number");
    } else if (is_digit(s[i])) {
        while (i < n && is_digit(s[i]))
            i++;
    } else if (s[i] == 'I') {
        return fail_at(p, CAIRN_EINPUT, i, "Infinity is not a JSON number");
    } else {
        return fail_at(p, CAIRN_EINPUT, i, "expected a digit");
    }
    if (i < n && s[i] == '.') {
        i++;
        if (i >= n || !is_digit(s[i]))
            return fail_at(p, CAIRN_EINPUT, i, "expected a digit after the decimal point");
        while (i < n && is_digit(s[i]))
            i++;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= n || !is_digit(s[i]))
            return fail_at(p, CAIRN_EINPUT, i, "expected a digit in the exponent");
        while (i < n && is_digit(s[i]))
            i++;
    }
    p->pos = i;
    return CAIRN_OK;
}

/*
 * Converts the number literal s[at..at+n) (grammar already checked) to the
 * nearest double. Out of double range (it would round to infinity) is an
 * error; values below the smallest subnormal round to zero like any other.
 */
static cairn_status number_value(parser *p, size_t at, size_t n, double *out)
{
    const char *t = (const char *)p->s + at;
    bool ok;
    if (n <= 400) {
        ok = cairn_parse_double(t, n, out); /* fast path, else strtod: correctly rounded */
    } else {
        char *tmp = cairn_malloc(n + 1);
        if (!tmp)
            return nomem(p);
        memcpy(tmp, t, n);
        tmp[n] = '\0';
        char *end = NULL;
        double v = strtod(tmp, &end);
        ok = end == tmp + n && isfinite(v);
        cairn_free(tmp);
        if (ok)
            *out = v;
    }
    if (!ok)
        return fail_at(p, CAIRN_EINPUT, at, "number out of the range of a double");
    return CAIRN_OK;
}

/* A scalar value into *f (kind and payload; the name is the caller's). key names the
 * field for the nested-value error. */
static cairn_status parse_scalar(parser *p, cairn_field *f, const char *key)
{
    const unsigned char *s = p->s;
    size_t at = p->pos, rest = p->len - at;
    int c = at < p->len ? s[at] : -1;
    cairn_status st;
    switch (c) {
    case '"':
        f->kind = CAIRN_VALUE_STRING;
        return parse_string(p, &f->str, &f->str_len);
    case 't':
        if (rest >= 4 && memcmp(s + at, "true", 4) == 0) {
            f->kind = CAIRN_VALUE_BOOL;
            f->b = 1;
            p->pos += 4;
            return CAIRN_OK;
        }
        break;
    case 'f':
        if (rest >= 5 && memcmp(s + at, "false", 5) == 0) {
            f->kind = CAIRN_VALUE_BOOL;
            f->b = 0;
            p->pos += 5;
            return CAIRN_OK;
        }
        break;
    case 'n':
        if (rest >= 4 && memcmp(s + at, "null", 4) == 0) {
            f->kind = CAIRN_VALUE_NULL;
            p->pos += 4;
            return CAIRN_OK;
        }
        break;
    case '[':
    case '{':
        return fail_key(p, CAIRN_EINPUT, key, at,
                        "nested %s as the value of \"%s\" (body byte %zu): only null, booleans, "
                        "numbers and strings are allowed in a row",
                        c == '[' ? "array" : "object", key, at);
    case 'N':
    case 'I':
        return fail_at(p, CAIRN_EINPUT, at, "expected a value (NaN and Infinity are not JSON)");
    default:
        if (c == '-' || (c >= '0' && c <= '9')) {
            st = scan_number(p);
            if (st != CAIRN_OK)
                return st;
            f->kind = CAIRN_VALUE_NUMBER;
            return number_value(p, at, p->pos - at, &f->num);
        }
        return unexpected(p, "a value");
    }
    return fail_at(p, CAIRN_EINPUT, at, "invalid literal (expected true, false or null)");
}

/* ---- duplicate keys ------------------------------------------------------------------ */

static void dup_begin(parser *p)
{
    p->dup.gen++;
    p->dup.count = 0;
}

/* Adds name to the current object's set: 1 when it was already there, 0 when added,
 * -1 when out of memory. The table is kept at most half full. */
static int dup_add(parser *p, const char *name, size_t n)
{
    dup_set *d = &p->dup;
    if (!d->slots) {
        /* Zeroed with the parser: generation 0, stale for every object. */
        d->slots = d->inline_slots;
        d->mask = DUP_INLINE - 1;
    }
    if ((d->count + 1) * 2 > d->mask + 1) {
        size_t cap = (d->mask + 1) * 2;
        dup_slot *ns = cairn_calloc(cap, sizeof *ns);
        if (!ns)
            return -1;
        /* Only the current object's keys move; stale generations are dropped. */
        for (size_t k = 0; d->slots && k <= d->mask; k++) {
            if (d->slots[k].gen != d->gen)
                continue;
            size_t j = d->slots[k].hash & (cap - 1);
            while (ns[j].gen == d->gen)
                j = (j + 1) & (cap - 1);
            ns[j] = d->slots[k];
        }
        if (d->slots != d->inline_slots)
            cairn_free(d->slots);
        d->slots = ns;
        d->mask = cap - 1;
    }
    uint64_t h = cairn_hash64(name, n, 0);
    size_t j = h & d->mask;
    while (d->slots[j].gen == d->gen) {
        if (d->slots[j].hash == h && strcmp(d->slots[j].name, name) == 0)
            return 1;
        j = (j + 1) & d->mask;
    }
    d->slots[j].name = name;
    d->slots[j].hash = h;
    d->slots[j].gen = d->gen;
    d->count++;
    return 0;
}

/* ---- growing arrays ------------------------------------------------------------------ */

static cairn_status push_field(parser *p, const cairn_field *f)
{
    if (p->n_fields == p->cap_fields) {
        /* A field takes at least two bytes of body ("1," in a column), so the first
         * guess rarely needs to grow for small bodies and stays modest for big ones. */
        size_t cap = p->cap_fields ? p->cap_fields * 2 : (p->len / 8 < 60 ? p->len / 8 + 4 : 64);
        cairn_field *nf = cairn_reallocarray(p->fields, cap, sizeof *nf);
        if (!nf)
            return nomem(p);
        p->fields = nf;
        p->cap_fields = cap;
    }
    p->fields[p->n_fields++] = *f;
    return CAIRN_OK;
}

static cairn_status push_row_start(parser *p, size_t v)
{
    if (p->n_rows + 1 > p->cap_rows) {
        size_t cap = p->cap_rows ? p->cap_rows * 2 : 8;
        size_t *nr = cairn_reallocarray(p->row_start, cap, sizeof *nr);
        if (!nr)
            return nomem(p);
        p->row_start = nr;
        p->cap_rows = cap;
    }
    p->row_start[p->n_rows] = v;
    return CAIRN_OK;
}

/* ---- the two shapes ------------------------------------------------------------------ */

/* One row object of "instances", at its '{'. */
static cairn_status parse_row(parser *p, size_t row)
{
    cairn_status st;
    size_t n = 0;
    p->pos++;
    dup_begin(p);
    if (peek(p) == '}') {
        p->pos++;
        return CAIRN_OK;
    }
    for (;;) {
        skip_ws(p);
        size_t key_at = p->pos;
        if (n == p->max_fields && p->pos < p->len && p->s[p->pos] == '"')
            return fail_at(p, CAIRN_EINPUT, key_at, "row %zu has more than %zu fields", row,
                           p->max_fields);
        cairn_field f = {0};
        size_t name_len;
        st = parse_name(p, &f.name, &name_len);
        if (st != CAIRN_OK)
            return st;
        int dup = dup_add(p, f.name, name_len);
        if (dup < 0)
            return nomem(p);
        if (dup)
            return fail_key(p, CAIRN_EINPUT, f.name, key_at,
                            "duplicate field \"%s\" in row %zu (body byte %zu)", f.name, row,
                            key_at);
        if (peek(p) != ':')
            return unexpected(p, "':'");
        p->pos++;
        skip_ws(p);
        st = parse_scalar(p, &f, f.name);
        if (st != CAIRN_OK)
            return st;
        st = push_field(p, &f);
        if (st != CAIRN_OK)
            return st;
        n++;
        int c = peek(p);
        p->pos++;
        if (c == ',')
            continue;
        if (c == '}')
            return CAIRN_OK;
        p->pos--;
        return unexpected(p, "',' or '}' in a row");
    }
}

/* The "instances" array, at its '['. */
static cairn_status parse_instances(parser *p)
{
    cairn_status st = push_row_start(p, 0);
    if (st != CAIRN_OK)
        return st;
    p->pos++;
    if (peek(p) == ']') {
        p->pos++;
        return CAIRN_OK;
    }
    for (;;) {
        int c = peek(p);
        if (c != '{') {
            if (c == -1 || c == ']')
                return unexpected(p, "a row object");
            return fail_at(p, CAIRN_EINPUT, p->pos, "row %zu is not an object", p->n_rows);
        }
        if (p->n_rows == p->max_rows)
            return fail_at(p, CAIRN_ETOOBIG, p->pos, "more than %zu rows", p->max_rows);
        st = parse_row(p, p->n_rows);
        if (st != CAIRN_OK)
            return st;
        p->n_rows++;
        st = push_row_start(p, p->n_fields);
        if (st != CAIRN_OK)
            return st;
        c = peek(p);
        p->pos++;
        if (c == ',')
            continue;
        if (c == ']')
            return CAIRN_OK;
        p->pos--;
        return unexpected(p, "',' or ']' after a row");
    }
}

/*
 * The "inputs" object, at its '{'. Values are gathered column after column
 * (each column must have as many values as the first, checked as soon as it
 * is exceeded or closed) and turned row-major at the end.
 */
static cairn_status parse_inputs(parser *p)
{
    cairn_status st;
    size_t n_cols = 0, n_rows = 0;
    p->pos++;
    dup_begin(p);
    if (peek(p) == '}') {
        p->pos++;
        goto transpose;
    }
    for (;;) {
        skip_ws(p);
        size_t key_at = p->pos;
        if (n_cols == p->max_fields && p->pos < p->len && p->s[p->pos] == '"')
            return fail_at(p, CAIRN_EINPUT, key_at, "inputs has more than %zu columns",
                           p->max_fields);
        const char *name;
        size_t name_len;
        st = parse_name(p, &name, &name_len);
        if (st != CAIRN_OK)
            return st;
        int dup = dup_add(p, name, name_len);
        if (dup < 0)
            return nomem(p);
        if (dup)
            return fail_key(p, CAIRN_EINPUT, name, key_at, "duplicate column \"%s\" (body byte %zu)",
                            name, key_at);
        if (peek(p) != ':')
            return unexpected(p, "':'");
        p->pos++;
        if (peek(p) != '[') {
            if (p->pos >= p->len)
                return unexpected(p, "an array of values");
            return fail_key(p, CAIRN_EINPUT, name, p->pos,
                            "column \"%s\" is not an array (body byte %zu)", name, p->pos);
        }
        p->pos++;
        size_t count = 0;
        if (peek(p) == ']') {
            p->pos++;
        } else {
            for (;;) {
                int v = peek(p);
                if (v == ']' || v == -1)
                    return unexpected(p, "a value");
                if (n_cols == 0 && count == p->max_rows)
                    return fail_at(p, CAIRN_ETOOBIG, p->pos, "more than %zu rows", p->max_rows);
                if (n_cols > 0 && count == n_rows)
                    return fail_key(p, CAIRN_EINPUT, name, p->pos,
                                    "column \"%s\" has more values than the first column (%zu) "
                                    "(body byte %zu)",
                                    name, n_rows, p->pos);
                cairn_field f = {0};
                f.name = name;
                st = parse_scalar(p, &f, name);
                if (st != CAIRN_OK)
                    return st;
                st = push_field(p, &f);
                if (st != CAIRN_OK)
                    return st;
                count++;
                int c = peek(p);
                p->pos++;
                if (c == ',')
                    continue;
                if (c == ']')
                    break;
                p->pos--;
                return unexpected(p, "',' or ']' in a column");
            }
        }
        if (n_cols == 0)
            n_rows = count;
        else if (count != n_rows)
            return fail_key(p, CAIRN_EINPUT, name, p->pos - 1,
                            "column \"%s\" has %zu values, the first column %zu (body byte %zu)",
                            name, count, n_rows, p->pos - 1);
        n_cols++;
        int c = peek(p);
        p->pos++;
        if (c == ',')
            continue;
        if (c == '}')
            break;
        p->pos--;
        return unexpected(p, "',' or '}' in inputs");
    }
transpose:;
    /* Column c's value for row r sits at c * n_rows + r; rows want r * n_cols + c. */
    size_t total = n_rows * n_cols; /* == p->n_fields, no overflow */
    cairn_field *rows = NULL;
    if (total) {
        rows = cairn_reallocarray(NULL, total, sizeof *rows);
        if (!rows)
            return nomem(p);
        for (size_t c = 0; c < n_cols; c++)
            for (size_t r = 0; r < n_rows; r++)
                rows[r * n_cols + c] = p->fields[c * n_rows + r];
    }
    size_t *starts = cairn_reallocarray(NULL, n_rows + 1, sizeof *starts);
    if (!starts) {
        cairn_free(rows);
        return nomem(p);
    }
    for (size_t r = 0; r <= n_rows; r++)
        starts[r] = r * n_cols;
    cairn_free(p->fields);
    p->fields = rows;
    p->n_fields = p->cap_fields = total;
    cairn_free(p->row_start);
    p->row_start = starts;
    p->n_rows = n_rows;
    p->cap_rows = n_rows + 1;
    return CAIRN_OK;
}

/* ---- the top level ------------------------------------------------------------------- */

static cairn_status parse_request_id(parser *p)
{
    size_t at, n;
    if (peek(p) != '"') {
        if (p->pos >= p->len)
            return unexpected(p, "a string");
        return fail_key(p, CAIRN_EINPUT, "request_id", p->pos, "request_id must be a string (body byte %zu)",
                        p->pos);
    }
    at = p->pos;
    const char *id;
    cairn_status st = parse_string(p, &id, &n);
    if (st != CAIRN_OK)
        return st;
    if (n == 0)
        return fail_key(p, CAIRN_EINPUT, "request_id", at, "request_id is empty (body byte %zu)", at);
    if (n > CAIRN_REQUEST_ID_MAX)
        return fail_key(p, CAIRN_EINPUT, "request_id", at,
                        "request_id is %zu bytes long, more than %d (body byte %zu)", n,
                        CAIRN_REQUEST_ID_MAX, at);
    /* It is echoed in replies and logs and used as a label key: no control characters. */
    for (size_t k = 0; k < n; k++) {
        unsigned char c = (unsigned char)id[k];
        if (c < 0x20 || c == 0x7F)
            return fail_key(p, CAIRN_EINPUT, "request_id", at,
                            "request_id contains a control character (body byte %zu)", at);
    }
    p->request_id = id;
    return CAIRN_OK;
}

static cairn_status parse_entity(parser *p)
{
    int c = peek(p);
    size_t at = p->pos, n;
    if (c == '"') {
        const char *e;
        cairn_status st = parse_string(p, &e, &n);
        if (st != CAIRN_OK)
            return st;
        if (p->saw_nul)
            return fail_key(p, CAIRN_EINPUT, "entity", at, "entity contains \\u0000 (body byte %zu)",
                            at);
        p->entity = e;
        return CAIRN_OK;
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        /* Kept as the literal text (an id like 12345678901234567890 must not round),
         * but it must still be a number a double can hold, like every number here. */
        cairn_status st = scan_number(p);
        if (st != CAIRN_OK)
            return st;
        n = p->pos - at;
        double ignored;
        st = number_value(p, at, n, &ignored);
        if (st != CAIRN_OK)
            return st;
        char *t = p->arena + p->arena_used;
        memcpy(t, p->s + at, n);
        t[n] = '\0';
        p->arena_used += n + 1;
        p->entity = t;
        return CAIRN_OK;
    }
    if (c == -1)
        return unexpected(p, "a string or a number");
    return fail_key(p, CAIRN_EINPUT, "entity", at, "entity must be a string or a number (body byte %zu)",
                    at);
}

enum { KEY_INSTANCES = 1, KEY_INPUTS = 2, KEY_REQUEST_ID = 4, KEY_ENTITY = 8 };

static cairn_status parse_body(parser *p)
{
    cairn_status st;
    unsigned seen = 0;
    size_t close_at = 0;
    int c = peek(p);
    if (c == -1)
        return fail_at(p, CAIRN_EINPUT, p->len, "empty body: expected a JSON object");
    if (c != '{')
        return fail_at(p, CAIRN_EINPUT, p->pos, "the body is not a JSON object");
    p->pos++;
    if (peek(p) == '}')
        return fail_at(p, CAIRN_EINPUT, p->pos, "the body has neither \"instances\" nor \"inputs\"");
    for (;;) {
        skip_ws(p);
        size_t key_at = p->pos;
        const char *key;
        size_t key_len;
        st = parse_name(p, &key, &key_len);
        if (st != CAIRN_OK)
            return st;
        unsigned which = strcmp(key, "instances") == 0    ? KEY_INSTANCES
                         : strcmp(key, "inputs") == 0     ? KEY_INPUTS
                         : strcmp(key, "request_id") == 0 ? KEY_REQUEST_ID
                         : strcmp(key, "entity") == 0     ? KEY_ENTITY
                                                          : 0;
        if (!which)
            return fail_key(p, CAIRN_EINPUT, key, key_at,
                            "unknown key \"%s\" (body byte %zu): expected instances, inputs, "
                            "request_id or entity",
                            key, key_at);
        if (seen & which)
            return fail_key(p, CAIRN_EINPUT, key, key_at, "duplicate key \"%s\" (body byte %zu)", key,
                            key_at);
        if ((which & (KEY_INSTANCES | KEY_INPUTS)) && (seen & (KEY_INSTANCES | KEY_INPUTS)))
            return fail_key(p, CAIRN_EINPUT, key, key_at,
                            "both \"instances\" and \"inputs\" (body byte %zu): give one", key_at);
        seen |= which;
        if (peek(p) != ':')
            return unexpected(p, "':'");
        p->pos++;
        c = peek(p);
        switch (which) {
        case KEY_INSTANCES:
            if (c != '[') {
                if (c == -1)
                    return unexpected(p, "an array");
                return fail_key(p, CAIRN_EINPUT, key, p->pos,
                                "instances must be an array of row objects (body byte %zu)",
                                p->pos);
            }
            st = parse_instances(p);
            break;
        case KEY_INPUTS:
            if (c != '{') {
                if (c == -1)
                    return unexpected(p, "an object");
                return fail_key(p, CAIRN_EINPUT, key, p->pos,
                                "inputs must be an object of columns (body byte %zu)", p->pos);
            }
            st = parse_inputs(p);
            break;
        case KEY_REQUEST_ID:
            st = parse_request_id(p);
            break;
        default:
            st = parse_entity(p);
            break;
        }
        if (st != CAIRN_OK)
            return st;
        c = peek(p);
        p->pos++;
        if (c == ',')
            continue;
        if (c == '}') {
            close_at = p->pos - 1;
            break;
        }
        p->pos--;
        return unexpected(p, "',' or '}'");
    }
    if (peek(p) != -1)
        return fail_at(p, CAIRN_EINPUT, p->pos, "data after the JSON object");
    if (!(seen & (KEY_INSTANCES | KEY_INPUTS)))
        return fail_at(p, CAIRN_EINPUT, close_at,
                       "the body has neither \"instances\" nor \"inputs\"");
    /* Every string fits by construction (see the file comment); this catches a slip. */
    if (p->arena_used > p->arena_cap)
        return cairn_error_set(p->err, CAIRN_EINTERNAL, NULL, "request arena overrun");
    return CAIRN_OK;
}

cairn_status cairn_request_parse(const char *body, size_t len, const cairn_request_limits *lim,
                                 cairn_request *out, cairn_error *err)
{
    parser p;
    memset(&p, 0, sizeof p);
    p.s = (const unsigned char *)body;
    p.len = body ? len : 0;
    p.err = err;
    p.max_rows = lim && lim->max_rows ? lim->max_rows : CAIRN_REQUEST_DEFAULT_MAX_ROWS;
    p.max_fields = lim && lim->max_fields ? lim->max_fields : CAIRN_REQUEST_DEFAULT_MAX_FIELDS;
    cairn_status st;
    if (p.len > SIZE_MAX - 2) {
        st = cairn_error_set(err, CAIRN_ETOOBIG, NULL, "request body too large");
        goto done;
    }
    p.arena_cap = p.len + 2;
    p.arena = cairn_malloc(p.arena_cap);
    if (!p.arena) {
        st = nomem(&p);
        goto done;
    }
    st = parse_body(&p);
done:
    if (p.dup.slots != p.dup.inline_slots)
        cairn_free(p.dup.slots);
    if (st != CAIRN_OK) {
        cairn_free(p.arena);
        cairn_free(p.fields);
        cairn_free(p.row_start);
        return st;
    }
    out->fields = p.fields;
    out->row_start = p.row_start;
    out->n_rows = p.n_rows;
    out->request_id = p.request_id;
    out->entity = p.entity;
    out->priv = p.arena;
    return CAIRN_OK;
}

void cairn_request_reset(cairn_request *r)
{
    if (!r)
        return;
    cairn_free(r->fields);
    cairn_free(r->row_start);
    cairn_free(r->priv);
    memset(r, 0, sizeof *r);
}
