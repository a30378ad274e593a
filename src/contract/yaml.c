/*
 * yaml.c -- contracts as YAML: the writer (a fixed, human-friendly layout
 * whose numbers read back exactly) and the reader.
 *
 * The reader walks libyaml's event stream against the fixed schema instead
 * of loading a document tree: it never recurses, so deeply nested input
 * cannot exhaust the stack; it refuses aliases, so a "billion laughs" file
 * cannot expand; and each event carries its position, so every error names
 * FILE:LINE:COLUMN -- bad YAML (libyaml's problem mark), unknown or
 * duplicate keys, values of the wrong kind, missing required keys, duplicate
 * column names. Its input is untrusted (it is fuzzed): every allocation is
 * checked and every count grows with an overflow check.
 *
 * Keys whose value depends on another key (min/max depend on type) are kept
 * as text with their position and resolved when the column's mapping ends,
 * since YAML does not order mapping keys.
 */
#include "contract/contract_int.h"

#include <yaml.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- writer ------------------------------------------------------------------ */

/* Decodes one UTF-8 sequence at s[i..n); returns its length (0 when invalid). */
static size_t utf8_decode(const unsigned char *s, size_t n, size_t i, uint32_t *cp)
{
    unsigned char c = s[i];
    size_t len;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if ((c & 0xE0) == 0xC0) {
        len = 2, v = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3, v = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (i + len > n)
        return 0;
    for (size_t k = 1; k < len; k++) {
        if ((s[i + k] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[i + k] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return len;
}

/* Characters that may stand for themselves inside a scalar: YAML's printable
 * set (YAML 1.1 section 5.1, as libyaml checks it) without the byte-order
 * mark, which libyaml treats specially, and without the line breaks (LF,
 * NEL U+0085, LS U+2028, PS U+2029), which quoted and plain scalars fold. */
static bool yaml_printable(uint32_t cp)
{
    return (cp >= 0x20 && cp <= 0x7E) || (cp >= 0xA0 && cp <= 0xD7FF && cp != 0x2028 &&
                                          cp != 0x2029) ||
           (cp >= 0xE000 && cp <= 0xFFFD && cp != 0xFEFF) || (cp >= 0x10000 && cp <= 0x10FFFF);
}

static bool eq_ci(const char *s, size_t n, const char *word)
{
    if (strlen(word) != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch >= 'A' && ch <= 'Z')
            ch = (char)(ch + 32);
        if (ch != word[i])
            return false;
    }
    return true;
}

/*
 * Whether s[0..n) must be quoted to read back as the same string, by libyaml
 * and by other YAML 1.1 / 1.2 readers: empty; words those read as null or
 * booleans; anything starting like a number or a YAML indicator; leading or
 * trailing spaces; characters with a meaning in flow or block context; and
 * anything not printable (invalid UTF-8, control characters).
 */
static bool needs_quotes(const char *s, size_t n)
{
    static const char *const special[] = {"null", "~", "true", "false", "yes", "no",
                                          "on",   "off", "y",  "n"};
    const unsigned char *u = (const unsigned char *)s;
    if (n == 0)
        return true;
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(special); i++)
        if (eq_ci(s, n, special[i]))
            return true;
    if (strchr("-?:,[]{}#&*!|>'\"%@`+.0123456789 \t", s[0]) || s[n - 1] == ' ')
        return true;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t len = utf8_decode(u, n, i, &cp);
        if (len == 0 || !yaml_printable(cp))
            return true;
        if (cp < 0x80 && strchr(":#,[]{}\"'\\", (int)cp))
            return true;
        i += len;
    }
    return false;
}

/* A double-quoted scalar; non-printable code points and invalid bytes are
 * escaped (an invalid byte 0xNN reads back as U+00NN: such strings are not
 * written where they must round-trip, see infer.c). */
static void put_quoted(cairn_buf *b, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    cairn_buf_putc(b, '"');
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t len = utf8_decode(u, n, i, &cp);
        if (len == 0) {
            cairn_buf_printf(b, "\\x%02X", u[i]);
            i++;
            continue;
        }
        if (cp == '"')
            cairn_buf_puts(b, "\\\"");
        else if (cp == '\\')
            cairn_buf_puts(b, "\\\\");
        else if (cp == '\n')
            cairn_buf_puts(b, "\\n");
        else if (cp == '\t')
            cairn_buf_puts(b, "\\t");
        else if (yaml_printable(cp))
            cairn_buf_append(b, s + i, len);
        else if (cp <= 0xFF)
            cairn_buf_printf(b, "\\x%02X", (unsigned)cp);
        else if (cp <= 0xFFFF)
            cairn_buf_printf(b, "\\u%04X", (unsigned)cp);
        else
            cairn_buf_printf(b, "\\U%08X", (unsigned)cp);
        i += len;
    }
    cairn_buf_putc(b, '"');
}

static void put_scalar(cairn_buf *b, const char *s)
{
    size_t n = strlen(s);
    if (needs_quotes(s, n))
        put_quoted(b, s, n);
    else
        cairn_buf_append(b, s, n);
}

static void put_bound(cairn_buf *b, const char *key, cairn_type t, double v)
{
    char tmp[64];
    cairn_contract_fmt_bound(t, v, tmp, sizeof tmp);
    cairn_buf_printf(b, "    %s: ", key);
    if (t == CAIRN_TYPE_TIMESTAMP)
        put_quoted(b, tmp, strlen(tmp));
    else
        cairn_buf_puts(b, tmp);
    cairn_buf_putc(b, '\n');
}

void cairn_contract_to_yaml(const cairn_contract *c, cairn_buf *b)
{
    cairn_buf_printf(b, "contract: %d\n", c->version > 0 ? c->version : 1);
    if (c->dataset) {
        cairn_buf_puts(b, "dataset: ");
        put_scalar(b, c->dataset);
        cairn_buf_putc(b, '\n');
    }
    if (c->n_cols == 0) {
        cairn_buf_puts(b, "columns: []\n");
        return;
    }
    cairn_buf_puts(b, "columns:\n");
    for (size_t i = 0; i < c->n_cols; i++) {
        const cairn_contract_col *col = &c->cols[i];
        cairn_buf_puts(b, "  - name: ");
        put_scalar(b, col->name ? col->name : "");
        cairn_buf_printf(b, "\n    type: %s\n", cairn_type_name(col->type));
        cairn_buf_printf(b, "    role: %s\n", cairn_role_name(col->role));
        cairn_buf_printf(b, "    nullable: %s\n", col->nullable ? "true" : "false");
        cairn_buf_puts(b, "    null_rate: ");
        cairn_buf_put_double(b, col->null_rate);
        cairn_buf_puts(b, "\n    max_null_rate: ");
        cairn_buf_put_double(b, col->max_null_rate);
        cairn_buf_putc(b, '\n');
        if (col->has_min)
            put_bound(b, "min", col->type, col->min);
        if (col->has_max)
            put_bound(b, "max", col->type, col->max);
        if (col->domain) {
            cairn_buf_puts(b, "    domain: [");
            for (size_t k = 0; k < col->n_domain; k++) {
                if (k)
                    cairn_buf_puts(b, ", ");
                put_scalar(b, col->domain[k]);
            }
            cairn_buf_puts(b, "]\n");
        }
        cairn_buf_printf(b, "    unique: %s\n", col->unique ? "true" : "false");
        cairn_buf_printf(b, "    pii: %s\n", cairn_pii_name(col->pii));
    }
}

/* ---- reader ------------------------------------------------------------------ */

typedef struct yreader {
    yaml_parser_t parser;
    yaml_event_t ev;
    bool have_ev;
    const char *name;       /* for error locations */
    const char *text;
    size_t len;
    cairn_error *err;
} yreader;

static cairn_status yerr(yreader *y, const yaml_mark_t *m, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static cairn_status yerr(yreader *y, const yaml_mark_t *m, const char *fmt, ...)
{
    char msg[CAIRN_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return cairn_error_at(y->err, CAIRN_EINPUT, y->name, m ? (long)m->line + 1 : 0,
                          m ? (long)m->column + 1 : 0, "%s", msg);
}

static cairn_status nomem(yreader *y)
{
    return cairn_error_set(y->err, CAIRN_ENOMEM, y->name, "out of memory reading the contract");
}

/* libyaml's own error, with its position. Reader errors (bad encoding) only
 * carry a byte offset, which is turned into a line and column here. */
static cairn_status parser_error(yreader *y)
{
    yaml_parser_t *p = &y->parser;
    if (p->error == YAML_MEMORY_ERROR)
        return nomem(y);
    const char *problem = p->problem ? p->problem : "malformed YAML";
    if (p->error == YAML_READER_ERROR) {
        yaml_mark_t m = {0, 0, 0};
        size_t end = p->problem_offset < y->len ? p->problem_offset : y->len;
        for (size_t i = 0; i < end; i++) {
            if (y->text[i] == '\n') {
                m.line++;
                m.column = 0;
            } else {
                m.column++;
            }
        }
        return yerr(y, &m, "bad YAML: %s", problem);
    }
    if (p->context)
        return yerr(y, &p->problem_mark, "bad YAML: %s %s", problem, p->context);
    return yerr(y, &p->problem_mark, "bad YAML: %s", problem);
}

static cairn_status next(yreader *y)
{
    if (y->have_ev) {
        yaml_event_delete(&y->ev);
        y->have_ev = false;
    }
    if (!yaml_parser_parse(&y->parser, &y->ev))
        return parser_error(y);
    y->have_ev = true;
    if (y->ev.type == YAML_ALIAS_EVENT)
        return yerr(y, &y->ev.start_mark, "aliases (*%s) are not allowed in a contract",
                    (const char *)y->ev.data.alias.anchor);
    return CAIRN_OK;
}

static const char *ev_what(const yaml_event_t *ev)
{
    switch (ev->type) {
    case YAML_SCALAR_EVENT: return "a scalar";
    case YAML_SEQUENCE_START_EVENT: return "a list";
    case YAML_MAPPING_START_EVENT: return "a mapping";
    case YAML_MAPPING_END_EVENT: return "the end of a mapping";
    case YAML_SEQUENCE_END_EVENT: return "the end of a list";
    default: return "something else";
    }
}

static const char *sval(const yreader *y) { return (const char *)y->ev.data.scalar.value; }
static size_t slen(const yreader *y) { return y->ev.data.scalar.length; }

/* A plain (unquoted) null: empty, ~ or null in any of YAML's spellings. */
static bool is_null_scalar(const yreader *y)
{
    if (y->ev.type != YAML_SCALAR_EVENT || y->ev.data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *s = sval(y);
    size_t n = slen(y);
    return n == 0 || (n == 1 && s[0] == '~') || (n == 4 && (memcmp(s, "null", 4) == 0 ||
                                                            memcmp(s, "Null", 4) == 0 ||
                                                            memcmp(s, "NULL", 4) == 0));
}

/* Requires the current event to be a scalar; `what` names the key for the message. */
static cairn_status want_scalar(yreader *y, const char *what)
{
    if (y->ev.type != YAML_SCALAR_EVENT)
        return yerr(y, &y->ev.start_mark, "'%s' must be a single value, found %s", what,
                    ev_what(&y->ev));
    return CAIRN_OK;
}

/* A NUL-terminated copy of the scalar; refuses embedded NULs ("\0" escapes). */
static cairn_status scalar_dup(yreader *y, const char *what, char **out)
{
    *out = NULL;
    if (memchr(sval(y), '\0', slen(y)))
        return yerr(y, &y->ev.start_mark, "'%s' contains a NUL character", what);
    *out = cairn_strndup(sval(y), slen(y));
    return *out ? CAIRN_OK : nomem(y);
}

static cairn_status scalar_bool(yreader *y, const char *what, bool *out)
{
    cairn_status st = want_scalar(y, what);
    if (st != CAIRN_OK)
        return st;
    const char *s = sval(y);
    size_t n = slen(y);
    if (eq_ci(s, n, "true") || eq_ci(s, n, "yes")) {
        *out = true;
        return CAIRN_OK;
    }
    if (eq_ci(s, n, "false") || eq_ci(s, n, "no")) {
        *out = false;
        return CAIRN_OK;
    }
    return yerr(y, &y->ev.start_mark, "'%s' must be true or false, found '%.*s'", what,
                (int)(n > 60 ? 60 : n), s);
}

static cairn_status scalar_rate(yreader *y, const char *what, double *out)
{
    cairn_status st = want_scalar(y, what);
    if (st != CAIRN_OK)
        return st;
    double v;
    if (!cairn_parse_double(sval(y), slen(y), &v) || !(v >= 0.0 && v <= 1.0))
        return yerr(y, &y->ev.start_mark, "'%s' must be a number from 0 to 1, found '%.*s'",
                    what, (int)(slen(y) > 60 ? 60 : slen(y)), sval(y));
    *out = v;
    return CAIRN_OK;
}

/* The keys of a column mapping, in the order the writer emits them. */
enum {
    KEY_NAME, KEY_TYPE, KEY_ROLE, KEY_NULLABLE, KEY_NULL_RATE, KEY_MAX_NULL_RATE, KEY_MIN,
    KEY_MAX, KEY_DOMAIN, KEY_UNIQUE, KEY_PII, KEY_COUNT_
};
static const char *const col_keys[KEY_COUNT_] = {
    "name", "type", "role", "nullable", "null_rate", "max_null_rate",
    "min",  "max",  "domain", "unique", "pii",
};

typedef struct pending_bound {
    bool present;
    char *text;
    yaml_mark_t mark;
} pending_bound;

/* Parses a domain list (the SEQUENCE_START is the current event). */
static cairn_status parse_domain(yreader *y, cairn_contract_col *col)
{
    cairn_status st;
    size_t cap = 0;
    col->domain = cairn_calloc(1, sizeof *col->domain);
    if (!col->domain)
        return nomem(y);
    cap = 1;
    for (;;) {
        if ((st = next(y)) != CAIRN_OK)
            return st;
        if (y->ev.type == YAML_SEQUENCE_END_EVENT)
            break;
        if (y->ev.type != YAML_SCALAR_EVENT)
            return yerr(y, &y->ev.start_mark, "domain values must be single values, found %s",
                        ev_what(&y->ev));
        if (is_null_scalar(y))
            return yerr(y, &y->ev.start_mark,
                        "domain values must be strings, found a null (quote it if it is a "
                        "category)");
        if (col->n_domain == cap) {
            char **d = cairn_reallocarray(col->domain, cap * 2, sizeof *d);
            if (!d)
                return nomem(y);
            col->domain = d;
            cap *= 2;
        }
        char *v = NULL;
        if ((st = scalar_dup(y, "domain", &v)) != CAIRN_OK)
            return st;
        col->domain[col->n_domain++] = v;
    }
    cairn_contract_domain_sort(col->domain, &col->n_domain);
    col->domain_sorted = true;
    return CAIRN_OK;
}

/* Converts a pending min/max now that the type is known. */
static cairn_status resolve_bound(yreader *y, const cairn_contract_col *col, const char *key,
                                  const pending_bound *pb, double *out)
{
    size_t n = strlen(pb->text);
    if (col->type == CAIRN_TYPE_TIMESTAMP) {
        int64_t us;
        if (!cairn_parse_timestamp(pb->text, n, &us))
            return yerr(y, &pb->mark,
                        "'%s' of timestamp column '%s' must be an ISO 8601 date or time, found "
                        "'%.60s'",
                        key, col->name, pb->text);
        *out = (double)us;
        return CAIRN_OK;
    }
    if (col->type != CAIRN_TYPE_INT64 && col->type != CAIRN_TYPE_FLOAT64)
        return yerr(y, &pb->mark, "'%s' is only allowed for int64, float64 and timestamp "
                                  "columns; '%s' is %s",
                    key, col->name, cairn_type_name(col->type));
    if (!cairn_parse_double(pb->text, n, out) || !isfinite(*out))
        return yerr(y, &pb->mark, "'%s' of column '%s' must be a finite number, found '%.60s'",
                    key, col->name, pb->text);
    return CAIRN_OK;
}

/* Parses one column mapping (MAPPING_START is the current event); index is 1-based. */
static cairn_status parse_column(yreader *y, size_t index, cairn_contract_col *col)
{
    cairn_status st = CAIRN_OK;
    yaml_mark_t start = y->ev.start_mark, domain_mark = start;
    pending_bound bounds[2] = {{false, NULL, {0, 0, 0}}, {false, NULL, {0, 0, 0}}};
    bool seen[KEY_COUNT_] = {false};
    bool null_domain = false;
    char idbuf[48];

    col->role = CAIRN_ROLE_FEATURE;
    for (;;) {
        if ((st = next(y)) != CAIRN_OK)
            goto done;
        if (y->ev.type == YAML_MAPPING_END_EVENT)
            break;
        /* How the column is called in messages: its name once known. */
        const char *who = col->name;
        if (!who) {
            snprintf(idbuf, sizeof idbuf, "#%zu", index);
            who = idbuf;
        }
        if (y->ev.type != YAML_SCALAR_EVENT) {
            st = yerr(y, &y->ev.start_mark, "keys of column %s must be plain words, found %s",
                      who, ev_what(&y->ev));
            goto done;
        }
        int key = -1;
        for (int k = 0; k < KEY_COUNT_; k++)
            if (slen(y) == strlen(col_keys[k]) && memcmp(sval(y), col_keys[k], slen(y)) == 0)
                key = k;
        if (key < 0) {
            st = yerr(y, &y->ev.start_mark,
                      "unknown key '%.60s' in column %s (known: name, type, role, nullable, "
                      "null_rate, max_null_rate, min, max, domain, unique, pii)",
                      sval(y), who);
            goto done;
        }
        if (seen[key]) {
            st = yerr(y, &y->ev.start_mark, "duplicate key '%s' in column %s", col_keys[key],
                      who);
            goto done;
        }
        seen[key] = true;
        if ((st = next(y)) != CAIRN_OK)
            goto done;
        yaml_mark_t vmark = y->ev.start_mark;
        switch (key) {
        case KEY_NAME:
            if ((st = want_scalar(y, "name")) != CAIRN_OK)
                goto done;
            if (is_null_scalar(y) || slen(y) == 0) {
                st = yerr(y, &vmark, "the name of column %s is empty", who);
                goto done;
            }
            st = scalar_dup(y, "name", &col->name);
            break;
        case KEY_TYPE: {
            char *t = NULL;
            if ((st = want_scalar(y, "type")) != CAIRN_OK || (st = scalar_dup(y, "type", &t)))
                goto done;
            col->type = cairn_type_parse(t);
            if (col->type == CAIRN_TYPE_NONE)
                st = yerr(y, &vmark,
                          "unknown type '%.60s' in column %s (expected bool, int64, float64, "
                          "timestamp or string)",
                          t, who);
            cairn_free(t);
            break;
        }
        case KEY_ROLE: {
            char *t = NULL;
            if ((st = want_scalar(y, "role")) != CAIRN_OK || (st = scalar_dup(y, "role", &t)))
                goto done;
            if (!cairn_role_parse(t, &col->role))
                st = yerr(y, &vmark,
                          "unknown role '%.60s' in column %s (expected feature, label, entity, "
                          "time or ignore)",
                          t, who);
            cairn_free(t);
            break;
        }
        case KEY_PII: {
            char *t = NULL;
            if ((st = want_scalar(y, "pii")) != CAIRN_OK || (st = scalar_dup(y, "pii", &t)))
                goto done;
            if (!cairn_pii_parse(t, &col->pii))
                st = yerr(y, &vmark,
                          "unknown pii kind '%.60s' in column %s (expected none, email, phone, "
                          "card, national_id, ip or person_name)",
                          t, who);
            cairn_free(t);
            break;
        }
        case KEY_NULLABLE: st = scalar_bool(y, "nullable", &col->nullable); break;
        case KEY_UNIQUE: st = scalar_bool(y, "unique", &col->unique); break;
        case KEY_NULL_RATE: st = scalar_rate(y, "null_rate", &col->null_rate); break;
        case KEY_MAX_NULL_RATE: st = scalar_rate(y, "max_null_rate", &col->max_null_rate); break;
        case KEY_MIN:
        case KEY_MAX: {
            pending_bound *pb = &bounds[key == KEY_MAX];
            if ((st = want_scalar(y, col_keys[key])) != CAIRN_OK)
                goto done;
            if (is_null_scalar(y))
                break;
            pb->present = true;
            pb->mark = vmark;
            st = scalar_dup(y, col_keys[key], &pb->text);
            break;
        }
        case KEY_DOMAIN:
            domain_mark = vmark;
            if (is_null_scalar(y)) {
                null_domain = true;
                break;
            }
            if (y->ev.type != YAML_SEQUENCE_START_EVENT) {
                st = yerr(y, &vmark, "'domain' of column %s must be a list, found %s", who,
                          ev_what(&y->ev));
                goto done;
            }
            st = parse_domain(y, col);
            break;
        default: break;
        }
        if (st != CAIRN_OK)
            goto done;
    }

    if (!seen[KEY_NAME]) {
        st = yerr(y, &start, "column #%zu has no 'name'", index);
        goto done;
    }
    if (!seen[KEY_TYPE]) {
        st = yerr(y, &start, "column '%s' has no 'type'", col->name);
        goto done;
    }
    /* Defaults for a hand-written column: nullable, with no bound on nulls
     * (or none allowed when nullable is false). */
    if (!seen[KEY_NULLABLE])
        col->nullable = true;
    if (!seen[KEY_MAX_NULL_RATE])
        col->max_null_rate = col->nullable ? 1.0 : 0.0;
    if ((col->domain || null_domain) && col->type != CAIRN_TYPE_STRING) {
        st = yerr(y, &domain_mark, "'domain' is only allowed for string columns; '%s' is %s",
                  col->name, cairn_type_name(col->type));
        goto done;
    }
    if (bounds[0].present) {
        if ((st = resolve_bound(y, col, "min", &bounds[0], &col->min)) != CAIRN_OK)
            goto done;
        col->has_min = true;
    }
    if (bounds[1].present) {
        if ((st = resolve_bound(y, col, "max", &bounds[1], &col->max)) != CAIRN_OK)
            goto done;
        col->has_max = true;
    }
    if (col->has_min && col->has_max && col->min > col->max) {
        st = yerr(y, &bounds[1].mark, "'max' of column '%s' is below its 'min'", col->name);
        goto done;
    }
done:
    cairn_free(bounds[0].text);
    cairn_free(bounds[1].text);
    return st;
}

/* Parses the columns list (SEQUENCE_START is the current event). */
static cairn_status parse_columns(yreader *y, cairn_contract *c)
{
    cairn_status st = CAIRN_OK;
    size_t cap = 0;
    cairn_dict names;
    cairn_dict_init(&names);
    for (;;) {
        if ((st = next(y)) != CAIRN_OK)
            goto done;
        if (y->ev.type == YAML_SEQUENCE_END_EVENT)
            break;
        if (y->ev.type != YAML_MAPPING_START_EVENT) {
            st = yerr(y, &y->ev.start_mark, "each entry of 'columns' must be a mapping, found %s",
                      ev_what(&y->ev));
            goto done;
        }
        if (c->n_cols == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            cairn_contract_col *cols = cairn_reallocarray(c->cols, ncap, sizeof *cols);
            if (!cols) {
                st = nomem(y);
                goto done;
            }
            memset(cols + cap, 0, (ncap - cap) * sizeof *cols);
            c->cols = cols;
            cap = ncap;
        }
        yaml_mark_t start = y->ev.start_mark;
        cairn_contract_col *col = &c->cols[c->n_cols++];
        if ((st = parse_column(y, c->n_cols, col)) != CAIRN_OK)
            goto done;
        /* Duplicate names through a hash set, so a huge file stays linear. */
        uint32_t before = names.n, code;
        cairn_status ds = cairn_dict_intern(&names, col->name, strlen(col->name), &code);
        if (ds != CAIRN_OK) {
            st = ds == CAIRN_ENOMEM ? nomem(y) : yerr(y, &start, "too many columns");
            goto done;
        }
        if (names.n == before) {
            st = yerr(y, &start, "duplicate column name '%.100s'", col->name);
            goto done;
        }
    }
done:
    cairn_dict_reset(&names);
    return st;
}

static cairn_status parse_stream(yreader *y, cairn_contract *c)
{
    cairn_status st;
    bool seen_version = false, seen_dataset = false, seen_columns = false;
    yaml_mark_t doc_mark;

    if ((st = next(y)) != CAIRN_OK) /* STREAM_START */
        return st;
    if ((st = next(y)) != CAIRN_OK)
        return st;
    if (y->ev.type == YAML_STREAM_END_EVENT)
        return yerr(y, &y->ev.start_mark, "the contract is empty");
    if ((st = next(y)) != CAIRN_OK) /* after DOCUMENT_START */
        return st;
    doc_mark = y->ev.start_mark;
    if (y->ev.type != YAML_MAPPING_START_EVENT)
        return yerr(y, &doc_mark,
                    "a contract must be a mapping with the keys contract, dataset and columns; "
                    "found %s",
                    ev_what(&y->ev));
    for (;;) {
        if ((st = next(y)) != CAIRN_OK)
            return st;
        if (y->ev.type == YAML_MAPPING_END_EVENT)
            break;
        if (y->ev.type != YAML_SCALAR_EVENT)
            return yerr(y, &y->ev.start_mark, "keys must be plain words, found %s",
                        ev_what(&y->ev));
        yaml_mark_t kmark = y->ev.start_mark;
        bool *seen = NULL;
        int which;
        if (slen(y) == 8 && memcmp(sval(y), "contract", 8) == 0)
            which = 0, seen = &seen_version;
        else if (slen(y) == 7 && memcmp(sval(y), "dataset", 7) == 0)
            which = 1, seen = &seen_dataset;
        else if (slen(y) == 7 && memcmp(sval(y), "columns", 7) == 0)
            which = 2, seen = &seen_columns;
        else
            return yerr(y, &kmark,
                        "unknown key '%.60s' (known at the top level: contract, dataset, "
                        "columns)",
                        sval(y));
        if (*seen)
            return yerr(y, &kmark, "duplicate key '%s'",
                        which == 0 ? "contract" : which == 1 ? "dataset" : "columns");
        *seen = true;
        if ((st = next(y)) != CAIRN_OK)
            return st;
        if (which == 0) {
            int64_t v;
            if ((st = want_scalar(y, "contract")) != CAIRN_OK)
                return st;
            if (!cairn_parse_int64(sval(y), slen(y), &v))
                return yerr(y, &y->ev.start_mark, "'contract' must be a version number, found "
                                                  "'%.60s'",
                            sval(y));
            if (v != 1)
                return yerr(y, &y->ev.start_mark,
                            "unsupported contract version %lld (this cairn reads version 1)",
                            (long long)v);
            c->version = 1;
        } else if (which == 1) {
            if ((st = want_scalar(y, "dataset")) != CAIRN_OK)
                return st;
            if (!is_null_scalar(y) && (st = scalar_dup(y, "dataset", &c->dataset)) != CAIRN_OK)
                return st;
        } else {
            if (is_null_scalar(y))
                continue;
            if (y->ev.type != YAML_SEQUENCE_START_EVENT)
                return yerr(y, &y->ev.start_mark, "'columns' must be a list, found %s",
                            ev_what(&y->ev));
            if ((st = parse_columns(y, c)) != CAIRN_OK)
                return st;
        }
    }
    if (!seen_columns)
        return yerr(y, &doc_mark, "the contract has no 'columns'");
    if ((st = next(y)) != CAIRN_OK) /* DOCUMENT_END */
        return st;
    if ((st = next(y)) != CAIRN_OK)
        return st;
    if (y->ev.type != YAML_STREAM_END_EVENT)
        return yerr(y, &y->ev.start_mark, "a contract file holds one YAML document");
    return CAIRN_OK;
}

cairn_status cairn_contract_parse(const char *yaml, size_t len, const char *name,
                                  cairn_contract **out, cairn_error *err)
{
    cairn_status st;
    yreader y;
    cairn_contract *c = NULL;
    *out = NULL;
    memset(&y, 0, sizeof y);
    y.name = name ? name : "contract";
    y.text = yaml;
    y.len = len;
    y.err = err;
    if (!yaml_parser_initialize(&y.parser))
        return nomem(&y);
    yaml_parser_set_input_string(&y.parser, (const unsigned char *)yaml, len);
    c = cairn_calloc(1, sizeof *c);
    if (!c) {
        st = nomem(&y);
        goto done;
    }
    c->version = 1;
    st = parse_stream(&y, c);
done:
    if (y.have_ev)
        yaml_event_delete(&y.ev);
    yaml_parser_delete(&y.parser);
    if (st != CAIRN_OK) {
        cairn_contract_free(c);
        return st;
    }
    *out = c;
    return CAIRN_OK;
}
