/*
 * spec.c -- the YAML pipeline spec: reader, resolution against a frame,
 * canonical JSON, and freeing.
 *
 * The reader first turns libyaml's event stream into a small tree of
 * scalars, lists and mappings, each node carrying its position, and then
 * walks the tree against the fixed schema. A tree (rather than a pure event
 * walk, as the contract reader does) is used because several keys depend on
 * others written later in the same mapping: the allowed model parameters
 * depend on model.type, `positive` on `task`, the allowed metrics on `task`.
 * The tree is built without recursion from an explicit stack whose depth is
 * capped (CAIRN_SPEC_MAX_DEPTH), so every later recursive walk is bounded
 * too; node counts, list lengths and the text size are capped; aliases are
 * refused, so nothing can expand. Its input is untrusted and fuzzed: every
 * allocation is checked and every error is a status, never an abort.
 *
 * Every error names NAME:LINE:COLUMN (1-based): libyaml's own mark for bad
 * YAML, the key for unknown / duplicate keys and bad values, the enclosing
 * mapping for a missing key. Positions of the keys that name columns are kept
 * in the spec so that cairn_spec_resolve() can point at them too.
 */
#include "pipeline/spec.h"

#include "registry/registry.h"

#include <yaml.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

const char *cairn_spec_model_type_name(cairn_spec_model_type t)
{
    switch (t) {
    case CAIRN_SPEC_MODEL_GBDT: return "gbdt";
    case CAIRN_SPEC_MODEL_LINEAR: return "linear";
    case CAIRN_SPEC_MODEL_BASELINE: return "baseline";
    }
    return "?";
}

const char *cairn_spec_gate_op_name(cairn_spec_gate_op op)
{
    switch (op) {
    case CAIRN_SPEC_GATE_MIN: return "min";
    case CAIRN_SPEC_GATE_MAX: return "max";
    case CAIRN_SPEC_GATE_MIN_DELTA: return "min_delta";
    case CAIRN_SPEC_GATE_MAX_DELTA: return "max_delta";
    }
    return "?";
}

/* ---- the node tree -------------------------------------------------------- */

enum { NODE_SCALAR, NODE_LIST, NODE_MAP };

typedef struct node {
    int kind;
    long line, column;           /* 1-based */
    char *text;                  /* scalar: NUL-terminated, no embedded NUL */
    size_t len;
    bool plain;                  /* scalar written without quotes */
    struct node **kids;          /* list: items; map: key, value, key, value, ... */
    size_t n, cap;
} node;

/* Frees a tree. Recursion depth is bounded by CAIRN_SPEC_MAX_DEPTH. */
static void node_free(node *nd)
{
    if (!nd)
        return;
    for (size_t i = 0; i < nd->n; i++)
        node_free(nd->kids[i]);
    cairn_free(nd->kids);
    cairn_free(nd->text);
    cairn_free(nd);
}

typedef struct reader {
    const char *name;            /* for error locations */
    const char *text;
    size_t len;
    cairn_error *err;
    size_t n_nodes;
} reader;

static cairn_status verr(reader *r, cairn_status code, long line, long column, const char *fmt,
                         va_list ap)
{
    char msg[CAIRN_ERROR_MSG_MAX];
    vsnprintf(msg, sizeof msg, fmt, ap);
    return cairn_error_at(r->err, code, r->name, line, column, "%s", msg);
}

static cairn_status nerr(reader *r, const node *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static cairn_status nerr(reader *r, const node *at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cairn_status st = verr(r, CAIRN_EINPUT, at ? at->line : 0, at ? at->column : 0, fmt, ap);
    va_end(ap);
    return st;
}

static cairn_status merr(reader *r, cairn_status code, const yaml_mark_t *m, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static cairn_status merr(reader *r, cairn_status code, const yaml_mark_t *m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cairn_status st = verr(r, code, (long)m->line + 1, (long)m->column + 1, fmt, ap);
    va_end(ap);
    return st;
}

static cairn_status nomem(reader *r)
{
    return cairn_error_set(r->err, CAIRN_ENOMEM, r->name, "out of memory reading the spec");
}

/* libyaml's error with its position; reader errors (bad encoding) only have
 * a byte offset, turned into line and column here. */
static cairn_status parser_error(reader *r, yaml_parser_t *p)
{
    if (p->error == YAML_MEMORY_ERROR)
        return nomem(r);
    const char *problem = p->problem ? p->problem : "malformed YAML";
    if (p->error == YAML_READER_ERROR) {
        yaml_mark_t m = {0, 0, 0};
        size_t end = p->problem_offset < r->len ? p->problem_offset : r->len;
        for (size_t i = 0; i < end; i++) {
            if (r->text[i] == '\n') {
                m.line++;
                m.column = 0;
            } else {
                m.column++;
            }
        }
        return merr(r, CAIRN_EINPUT, &m, "bad YAML: %s", problem);
    }
    if (p->context)
        return merr(r, CAIRN_EINPUT, &p->problem_mark, "bad YAML: %s %s", problem, p->context);
    return merr(r, CAIRN_EINPUT, &p->problem_mark, "bad YAML: %s", problem);
}

/* Appends kid to parent's children. */
static cairn_status node_add(reader *r, node *parent, node *kid, const yaml_mark_t *m)
{
    if (parent->n == parent->cap) {
        /* A mapping holds two nodes per entry. */
        size_t limit = parent->kind == NODE_MAP ? 2 * CAIRN_SPEC_MAX_ITEMS : CAIRN_SPEC_MAX_ITEMS;
        if (parent->cap >= limit)
            return merr(r, CAIRN_ETOOBIG, m, "more than %d entries in one %s",
                        CAIRN_SPEC_MAX_ITEMS, parent->kind == NODE_MAP ? "mapping" : "list");
        size_t ncap = parent->cap ? parent->cap * 2 : 8;
        if (ncap > limit)
            ncap = limit;
        node **k = cairn_reallocarray(parent->kids, ncap, sizeof *k);
        if (!k)
            return nomem(r);
        parent->kids = k;
        parent->cap = ncap;
    }
    parent->kids[parent->n++] = kid;
    return CAIRN_OK;
}

/*
 * Reads the single document of the stream into a tree (*root). An empty
 * document gives *root == NULL.
 */
static cairn_status build_tree(reader *r, node **root)
{
    cairn_status st = CAIRN_OK;
    yaml_parser_t parser;
    yaml_event_t ev;
    bool have_ev = false, done_doc = false;
    node *stack[CAIRN_SPEC_MAX_DEPTH + 1];
    size_t depth = 0;
    node *top = NULL;

    *root = NULL;
    if (!yaml_parser_initialize(&parser))
        return nomem(r);
    yaml_parser_set_input_string(&parser, (const unsigned char *)r->text, r->len);
    for (;;) {
        if (have_ev) {
            yaml_event_delete(&ev);
            have_ev = false;
        }
        if (!yaml_parser_parse(&parser, &ev)) {
            st = parser_error(r, &parser);
            goto done;
        }
        have_ev = true;
        const yaml_mark_t *m = &ev.start_mark;
        if (ev.type == YAML_STREAM_END_EVENT)
            break;
        if (ev.type == YAML_STREAM_START_EVENT || ev.type == YAML_DOCUMENT_END_EVENT)
            continue;
        if (ev.type == YAML_DOCUMENT_START_EVENT) {
            if (done_doc) {
                st = merr(r, CAIRN_EINPUT, m, "a spec file holds one YAML document");
                goto done;
            }
            done_doc = true;
            continue;
        }
        if (ev.type == YAML_ALIAS_EVENT) {
            st = merr(r, CAIRN_EINPUT, m, "aliases (*%.60s) are not allowed in a spec",
                      (const char *)ev.data.alias.anchor);
            goto done;
        }
        if (ev.type == YAML_SEQUENCE_END_EVENT || ev.type == YAML_MAPPING_END_EVENT) {
            if (depth > 0)
                depth--;
            continue;
        }
        /* A scalar, or the start of a list or mapping: a new node. */
        if (++r->n_nodes > CAIRN_SPEC_MAX_NODES) {
            st = merr(r, CAIRN_ETOOBIG, m, "the spec has more than %d values",
                      CAIRN_SPEC_MAX_NODES);
            goto done;
        }
        node *nd = cairn_calloc(1, sizeof *nd);
        if (!nd) {
            st = nomem(r);
            goto done;
        }
        nd->line = (long)m->line + 1;
        nd->column = (long)m->column + 1;
        if (ev.type == YAML_SCALAR_EVENT) {
            nd->kind = NODE_SCALAR;
            nd->plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
            nd->len = ev.data.scalar.length;
            if (memchr(ev.data.scalar.value, '\0', nd->len)) {
                node_free(nd);
                st = merr(r, CAIRN_EINPUT, m, "a value contains a NUL character");
                goto done;
            }
            nd->text = cairn_strndup((const char *)ev.data.scalar.value, nd->len);
            if (!nd->text) {
                node_free(nd);
                st = nomem(r);
                goto done;
            }
        } else {
            nd->kind = ev.type == YAML_SEQUENCE_START_EVENT ? NODE_LIST : NODE_MAP;
        }
        if (depth == 0) {
            /* The document's root (libyaml allows only one). */
            top = nd;
        } else if ((st = node_add(r, stack[depth - 1], nd, m)) != CAIRN_OK) {
            node_free(nd);
            goto done;
        }
        if (nd->kind != NODE_SCALAR) {
            if (depth == CAIRN_SPEC_MAX_DEPTH) {
                st = merr(r, CAIRN_ETOOBIG, m, "values nested more than %d deep",
                          CAIRN_SPEC_MAX_DEPTH);
                goto done;
            }
            stack[depth++] = nd;
        }
    }
done:
    if (have_ev)
        yaml_event_delete(&ev);
    yaml_parser_delete(&parser);
    if (st != CAIRN_OK) {
        node_free(top);
        return st;
    }
    *root = top;
    return CAIRN_OK;
}

/* ---- schema helpers ------------------------------------------------------------- */

static const char *kind_name(const node *nd)
{
    if (nd->kind == NODE_LIST)
        return "a list";
    if (nd->kind == NODE_MAP)
        return "a mapping";
    return "a single value";
}

/* A plain null: empty, ~ or null. */
static bool is_null(const node *nd)
{
    if (nd->kind != NODE_SCALAR || !nd->plain)
        return false;
    return nd->len == 0 || strcmp(nd->text, "~") == 0 || strcmp(nd->text, "null") == 0 ||
           strcmp(nd->text, "Null") == 0 || strcmp(nd->text, "NULL") == 0;
}

/* Joins names into buf as "a, b, c". */
static void join_names(char *buf, size_t cap, const char *const *names, size_t n)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && used < cap; i++) {
        int w = snprintf(buf + used, cap - used, "%s%s", i ? ", " : "", names[i]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

/*
 * Checks that map is a mapping whose keys are scalars, each one of allowed[]
 * and none twice. `what` says where in messages ("at the top level", "in
 * 'split'").
 */
static cairn_status check_keys(reader *r, const node *map, const char *what,
                               const char *const *allowed, size_t n_allowed)
{
    bool seen[32] = {false};
    char list[512];
    for (size_t i = 0; i + 1 < map->n; i += 2) {
        const node *k = map->kids[i];
        if (k->kind != NODE_SCALAR)
            return nerr(r, k, "keys %s must be single words, found %s", what, kind_name(k));
        size_t which = n_allowed;
        for (size_t a = 0; a < n_allowed; a++)
            if (strcmp(k->text, allowed[a]) == 0)
                which = a;
        if (which == n_allowed) {
            join_names(list, sizeof list, allowed, n_allowed);
            return nerr(r, k, "unknown key '%.60s' %s (allowed: %s)", k->text, what, list);
        }
        if (which < CAIRN_ARRAY_LEN(seen)) {
            if (seen[which])
                return nerr(r, k, "duplicate key '%s' %s", allowed[which], what);
            seen[which] = true;
        }
    }
    return CAIRN_OK;
}

/* The value of key in map (already checked by check_keys), or NULL; *key_out the key node. */
static const node *map_get(const node *map, const char *key, const node **key_out)
{
    for (size_t i = 0; i + 1 < map->n; i += 2) {
        if (map->kids[i]->kind == NODE_SCALAR && strcmp(map->kids[i]->text, key) == 0) {
            if (key_out)
                *key_out = map->kids[i];
            return map->kids[i + 1];
        }
    }
    return NULL;
}

static cairn_spec_pos pos_of(const node *nd)
{
    cairn_spec_pos p = {nd ? nd->line : 0, nd ? nd->column : 0};
    return p;
}

static cairn_status want_map(reader *r, const node *v, const char *key)
{
    if (v->kind != NODE_MAP)
        return nerr(r, v, "'%s' must be a mapping, found %s", key, kind_name(v));
    return CAIRN_OK;
}

/* A non-empty string value; copied into *out. */
static cairn_status want_string(reader *r, const node *v, const char *key, char **out)
{
    if (v->kind != NODE_SCALAR)
        return nerr(r, v, "'%s' must be a string, found %s", key, kind_name(v));
    if (is_null(v) || v->len == 0)
        return nerr(r, v, "'%s' must be a non-empty string", key);
    cairn_free(*out);
    *out = cairn_strdup(v->text);
    return *out ? CAIRN_OK : nomem(r);
}

/* An integer in [lo, hi]; the message says what is expected. */
static cairn_status want_int(reader *r, const node *v, const char *key, int64_t lo, int64_t hi,
                             int64_t *out)
{
    int64_t x = 0;
    bool ok = v->kind == NODE_SCALAR && cairn_parse_int64(v->text, v->len, &x) && x >= lo &&
              x <= hi;
    if (ok) {
        *out = x;
        return CAIRN_OK;
    }
    char want[96];
    if (lo == 1 && hi == INT64_MAX)
        snprintf(want, sizeof want, "a positive integer");
    else if (lo == 0 && hi == INT64_MAX)
        snprintf(want, sizeof want, "a non-negative integer");
    else
        snprintf(want, sizeof want, "an integer from %lld to %lld", (long long)lo,
                 (long long)hi);
    if (v->kind != NODE_SCALAR)
        return nerr(r, v, "%s must be %s, found %s", key, want, kind_name(v));
    return nerr(r, v, "%s must be %s, found '%.60s'", key, want, v->text);
}

/* Range kinds for want_num. */
enum { NUM_ANY, NUM_NONNEG, NUM_POS, NUM_UNIT_OPEN_LEFT, NUM_FRACTION, NUM_PROB };

/* A finite number within the range kind. */
static cairn_status want_num(reader *r, const node *v, const char *key, int range, double *out)
{
    static const char *const want[] = {
        "a number", "a non-negative number", "a positive number",
        "a number greater than 0 and at most 1", "a number from 0 up to (not including) 1",
        "a number from 0 to 1"};
    double x = 0;
    bool ok = v->kind == NODE_SCALAR && cairn_parse_double(v->text, v->len, &x) && isfinite(x);
    if (ok) {
        switch (range) {
        case NUM_NONNEG: ok = x >= 0; break;
        case NUM_POS: ok = x > 0; break;
        case NUM_UNIT_OPEN_LEFT: ok = x > 0 && x <= 1; break;
        case NUM_FRACTION: ok = x >= 0 && x < 1; break;
        case NUM_PROB: ok = x >= 0 && x <= 1; break;
        default: break;
        }
    }
    if (ok) {
        *out = x == 0 ? 0.0 : x; /* no negative zero in the canonical form */
        return CAIRN_OK;
    }
    if (v->kind != NODE_SCALAR)
        return nerr(r, v, "%s must be %s, found %s", key, want[range], kind_name(v));
    return nerr(r, v, "%s must be %s, found '%.60s'", key, want[range], v->text);
}

static cairn_status want_bool(reader *r, const node *v, const char *key, bool *out)
{
    if (v->kind == NODE_SCALAR && v->plain) {
        if (strcmp(v->text, "true") == 0 || strcmp(v->text, "True") == 0 ||
            strcmp(v->text, "TRUE") == 0) {
            *out = true;
            return CAIRN_OK;
        }
        if (strcmp(v->text, "false") == 0 || strcmp(v->text, "False") == 0 ||
            strcmp(v->text, "FALSE") == 0) {
            *out = false;
            return CAIRN_OK;
        }
    }
    if (v->kind != NODE_SCALAR)
        return nerr(r, v, "%s must be true or false, found %s", key, kind_name(v));
    return nerr(r, v, "%s must be true or false, found '%.60s'", key, v->text);
}

/* One of names[]; *out its index. */
static cairn_status want_enum(reader *r, const node *v, const char *key,
                              const char *const *names, size_t n, int *out)
{
    char list[256];
    if (v->kind == NODE_SCALAR) {
        for (size_t i = 0; i < n; i++) {
            if (strcmp(v->text, names[i]) == 0) {
                *out = (int)i;
                return CAIRN_OK;
            }
        }
    }
    join_names(list, sizeof list, names, n);
    if (v->kind != NODE_SCALAR)
        return nerr(r, v, "%s must be one of %s, found %s", key, list, kind_name(v));
    return nerr(r, v, "%s must be one of %s, found '%.60s'", key, list, v->text);
}

static void list_reset(cairn_spec_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        cairn_free(l->items[i]);
    cairn_free(l->items);
    cairn_free(l->pos);
    memset(l, 0, sizeof *l);
}

/* Makes room for n entries in an empty list. */
static cairn_status list_alloc(cairn_spec_list *l, size_t n)
{
    size_t cap = n ? n : 1;
    l->items = cairn_calloc(cap, sizeof *l->items);
    l->pos = cairn_calloc(cap, sizeof *l->pos);
    l->n = 0;
    return l->items && l->pos ? CAIRN_OK : CAIRN_ENOMEM;
}

static cairn_status list_push(cairn_spec_list *l, const char *s, cairn_spec_pos p)
{
    char *c = cairn_strdup(s);
    if (!c)
        return CAIRN_ENOMEM;
    l->items[l->n] = c;
    l->pos[l->n] = p;
    l->n++;
    return CAIRN_OK;
}

/* A list of distinct non-empty strings (column or metric names). */
static cairn_status want_list(reader *r, const node *v, const char *key, cairn_spec_list *out)
{
    cairn_status st = CAIRN_OK;
    cairn_dict seen;
    cairn_dict_init(&seen);
    list_reset(out);
    if (v->kind != NODE_LIST) {
        st = nerr(r, v, "'%s' must be a list, found %s", key, kind_name(v));
        goto done;
    }
    if (list_alloc(out, v->n) != CAIRN_OK) {
        st = nomem(r);
        goto done;
    }
    for (size_t i = 0; i < v->n; i++) {
        const node *it = v->kids[i];
        if (it->kind != NODE_SCALAR || is_null(it) || it->len == 0) {
            st = nerr(r, it, "entries of '%s' must be non-empty strings, found %s", key,
                      it->kind != NODE_SCALAR ? kind_name(it) : "an empty value");
            goto done;
        }
        uint32_t before = seen.n, code;
        if (cairn_dict_intern(&seen, it->text, it->len, &code) != CAIRN_OK) {
            st = nomem(r);
            goto done;
        }
        if (seen.n == before) {
            st = nerr(r, it, "'%.60s' appears twice in '%s'", it->text, key);
            goto done;
        }
        if (list_push(out, it->text, pos_of(it)) != CAIRN_OK) {
            st = nomem(r);
            goto done;
        }
    }
done:
    cairn_dict_reset(&seen);
    if (st != CAIRN_OK)
        list_reset(out);
    return st;
}

/* ---- the sections ------------------------------------------------------------------ */

static const char *const split_names[] = {"auto", "time", "group", "stratified", "order"};

static cairn_status parse_split(reader *r, const node *v, cairn_spec *s)
{
    static const char *const keys[] = {"by", "valid", "test", "allow_time_leak"};
    static const char *const by_names[] = {"time", "group", "stratified", "order"};
    cairn_status st;
    const node *x;
    int by = 0;
    /* Shorthand: `split: time`. */
    if (v->kind == NODE_SCALAR && !is_null(v)) {
        if ((st = want_enum(r, v, "split", by_names, CAIRN_ARRAY_LEN(by_names), &by)))
            return st;
        s->split_by = (cairn_split_by)(by + 1);
        return CAIRN_OK;
    }
    if ((st = want_map(r, v, "split")) || (st = check_keys(r, v, "in 'split'", keys, 4)))
        return st;
    if ((x = map_get(v, "by", NULL))) {
        if ((st = want_enum(r, x, "split.by", by_names, CAIRN_ARRAY_LEN(by_names), &by)))
            return st;
        s->split_by = (cairn_split_by)(by + 1);
    }
    if ((x = map_get(v, "valid", NULL)) &&
        (st = want_num(r, x, "split.valid", NUM_FRACTION, &s->split_valid)))
        return st;
    const node *test = map_get(v, "test", NULL);
    if (test && (st = want_num(r, test, "split.test", NUM_FRACTION, &s->split_test)))
        return st;
    if ((x = map_get(v, "allow_time_leak", NULL)) &&
        (st = want_bool(r, x, "split.allow_time_leak", &s->allow_time_leak)))
        return st;
    if (!(s->split_valid + s->split_test < 1.0))
        return nerr(r, test ? test : v,
                    "split.valid + split.test must be below 1 (some rows must be left to "
                    "train on), found %g + %g",
                    s->split_valid, s->split_test);
    return CAIRN_OK;
}

static cairn_status parse_features(reader *r, const node *v, cairn_spec *s)
{
    static const char *const keys[] = {"include", "exclude", "allow_pii"};
    cairn_status st;
    const node *x, *kinc = NULL, *kexc = NULL;
    if ((st = want_map(r, v, "features")) || (st = check_keys(r, v, "in 'features'", keys, 3)))
        return st;
    const node *inc = map_get(v, "include", &kinc);
    const node *exc = map_get(v, "exclude", &kexc);
    if (inc && exc)
        return nerr(r, kinc->line > kexc->line ? kinc : kexc,
                    "features: give either 'include' or 'exclude', not both");
    if (inc) {
        if ((st = want_list(r, inc, "features.include", &s->include)))
            return st;
        if (s->include.n == 0)
            return nerr(r, inc, "features.include must name at least one column");
        s->has_include = true;
    }
    if (exc && (st = want_list(r, exc, "features.exclude", &s->exclude)))
        return st;
    if ((x = map_get(v, "allow_pii", NULL)) &&
        (st = want_list(r, x, "features.allow_pii", &s->allow_pii)))
        return st;
    return CAIRN_OK;
}

static cairn_status parse_model(reader *r, const node *v, cairn_spec *s)
{
    static const char *const types[] = {"gbdt", "linear", "baseline"};
    static const char *const gbdt_keys[] = {
        "type", "rounds", "max_depth", "learning_rate", "early_stopping", "min_child_weight",
        "subsample", "colsample_bytree", "lambda", "alpha", "max_bin", "threads"};
    static const char *const linear_keys[] = {"type", "l2", "max_iter", "tol"};
    static const char *const baseline_keys[] = {"type"};
    cairn_status st;
    const node *x;
    int t = 0;
    if ((st = want_map(r, v, "model")))
        return st;
    if ((x = map_get(v, "type", NULL)) && (st = want_enum(r, x, "model.type", types, 3, &t)))
        return st;
    s->model_type = (cairn_spec_model_type)t;
    if (s->model_type == CAIRN_SPEC_MODEL_GBDT) {
        cairn_spec_gbdt *g = &s->gbdt;
        if ((st = check_keys(r, v, "in 'model' of type gbdt", gbdt_keys,
                             CAIRN_ARRAY_LEN(gbdt_keys))))
            return st;
        if ((x = map_get(v, "rounds", NULL)) &&
            (st = want_int(r, x, "model.rounds", 1, 1000000, &g->rounds)))
            return st;
        if ((x = map_get(v, "max_depth", NULL)) &&
            (st = want_int(r, x, "model.max_depth", 1, 64, &g->max_depth)))
            return st;
        if ((x = map_get(v, "learning_rate", NULL)) &&
            (st = want_num(r, x, "model.learning_rate", NUM_UNIT_OPEN_LEFT, &g->learning_rate)))
            return st;
        if ((x = map_get(v, "early_stopping", NULL)) &&
            (st = want_int(r, x, "model.early_stopping", 0, INT64_MAX, &g->early_stopping)))
            return st;
        if ((x = map_get(v, "min_child_weight", NULL)) &&
            (st = want_num(r, x, "model.min_child_weight", NUM_NONNEG, &g->min_child_weight)))
            return st;
        if ((x = map_get(v, "subsample", NULL)) &&
            (st = want_num(r, x, "model.subsample", NUM_UNIT_OPEN_LEFT, &g->subsample)))
            return st;
        if ((x = map_get(v, "colsample_bytree", NULL)) &&
            (st = want_num(r, x, "model.colsample_bytree", NUM_UNIT_OPEN_LEFT,
                           &g->colsample_bytree)))
            return st;
        if ((x = map_get(v, "lambda", NULL)) &&
            (st = want_num(r, x, "model.lambda", NUM_NONNEG, &g->lambda)))
            return st;
        if ((x = map_get(v, "alpha", NULL)) &&
            (st = want_num(r, x, "model.alpha", NUM_NONNEG, &g->alpha)))
            return st;
        if ((x = map_get(v, "max_bin", NULL)) &&
            (st = want_int(r, x, "model.max_bin", 2, 65535, &g->max_bin)))
            return st;
        if ((x = map_get(v, "threads", NULL)) &&
            (st = want_int(r, x, "model.threads", 0, 4096, &g->threads)))
            return st;
    } else if (s->model_type == CAIRN_SPEC_MODEL_LINEAR) {
        cairn_spec_linear *l = &s->linear;
        if ((st = check_keys(r, v, "in 'model' of type linear", linear_keys,
                             CAIRN_ARRAY_LEN(linear_keys))))
            return st;
        if ((x = map_get(v, "l2", NULL)) && (st = want_num(r, x, "model.l2", NUM_NONNEG, &l->l2)))
            return st;
        if ((x = map_get(v, "max_iter", NULL)) &&
            (st = want_int(r, x, "model.max_iter", 1, 1000000, &l->max_iter)))
            return st;
        if ((x = map_get(v, "tol", NULL)) && (st = want_num(r, x, "model.tol", NUM_POS, &l->tol)))
            return st;
    } else {
        if ((st = check_keys(r, v, "in 'model' of type baseline", baseline_keys, 1)))
            return st;
    }
    return CAIRN_OK;
}

/* The metrics each task can compute (src/eval/eval.h). */
static const char *const binary_metrics[] = {"auc", "pr_auc", "logloss", "brier", "ece",
                                             "accuracy", "precision", "recall", "f1"};
static const char *const regression_metrics[] = {"rmse", "mae", "r2", "mape", "spearman"};
static const char *const multiclass_metrics[] = {"accuracy", "macro_f1", "logloss"};

static void task_metrics(cairn_task t, const char *const **names, size_t *n, size_t *n_default)
{
    switch (t) {
    case CAIRN_TASK_REGRESSION:
        *names = regression_metrics, *n = CAIRN_ARRAY_LEN(regression_metrics), *n_default = 3;
        return;
    case CAIRN_TASK_MULTICLASS:
        *names = multiclass_metrics, *n = CAIRN_ARRAY_LEN(multiclass_metrics), *n_default = 3;
        return;
    case CAIRN_TASK_BINARY: break;
    }
    /* Binary defaults: auc, then logloss and brier (skipping pr_auc). */
    *names = binary_metrics, *n = CAIRN_ARRAY_LEN(binary_metrics), *n_default = 3;
}

static cairn_status parse_threshold(reader *r, const node *v, cairn_spec *s)
{
    static const char *const keys[] = {"by", "value"};
    static const char *const bys[] = {"max_f1", "fixed"};
    cairn_status st;
    const node *x, *val;
    int by = 0;
    if ((st = want_map(r, v, "evaluation.threshold")) ||
        (st = check_keys(r, v, "in 'threshold'", keys, 2)))
        return st;
    if ((x = map_get(v, "by", NULL)) &&
        (st = want_enum(r, x, "evaluation.threshold.by", bys, 2, &by)))
        return st;
    val = map_get(v, "value", NULL);
    if (by == 1) {
        if (!val)
            return nerr(r, v, "missing required key 'value' in 'threshold' (by: fixed)");
        if ((st = want_num(r, val, "evaluation.threshold.value", NUM_PROB, &s->threshold_value)))
            return st;
        s->threshold_by = CAIRN_SPEC_THRESHOLD_FIXED;
    } else {
        if (val)
            return nerr(r, val, "'value' in 'threshold' is only allowed with by: fixed");
        s->threshold_by = CAIRN_SPEC_THRESHOLD_MAX_F1;
    }
    return CAIRN_OK;
}

static cairn_status parse_cost(reader *r, const node *v, cairn_spec *s)
{
    static const char *const keys[] = {"fp", "fn"};
    cairn_status st;
    const node *fp, *fn;
    if ((st = want_map(r, v, "evaluation.cost")) ||
        (st = check_keys(r, v, "in 'cost'", keys, 2)))
        return st;
    if (!(fp = map_get(v, "fp", NULL)))
        return nerr(r, v, "missing required key 'fp' in 'cost'");
    if (!(fn = map_get(v, "fn", NULL)))
        return nerr(r, v, "missing required key 'fn' in 'cost'");
    if ((st = want_num(r, fp, "evaluation.cost.fp", NUM_NONNEG, &s->cost_fp)) ||
        (st = want_num(r, fn, "evaluation.cost.fn", NUM_NONNEG, &s->cost_fn)))
        return st;
    if (s->cost_fp == 0 && s->cost_fn == 0)
        return nerr(r, v, "evaluation.cost: fp and fn cannot both be 0");
    s->threshold_by = CAIRN_SPEC_THRESHOLD_COST;
    return CAIRN_OK;
}

static cairn_status parse_evaluation(reader *r, const node *v, cairn_spec *s)
{
    static const char *const keys[] = {"metrics", "slices", "bootstrap", "threshold", "cost"};
    cairn_status st;
    const node *x, *kth = NULL, *kco = NULL;
    if ((st = want_map(r, v, "evaluation")) ||
        (st = check_keys(r, v, "in 'evaluation'", keys, CAIRN_ARRAY_LEN(keys))))
        return st;
    if ((x = map_get(v, "metrics", NULL))) {
        const char *const *names;
        size_t n, n_default;
        char list[256];
        if ((st = want_list(r, x, "evaluation.metrics", &s->metrics)))
            return st;
        task_metrics(s->task, &names, &n, &n_default);
        for (size_t i = 0; i < s->metrics.n; i++) {
            bool known = false;
            for (size_t k = 0; k < n; k++)
                known = known || strcmp(s->metrics.items[i], names[k]) == 0;
            if (!known) {
                join_names(list, sizeof list, names, n);
                return nerr(r, x->kids[i], "unknown metric '%.60s' for a %s task (allowed: %s)",
                            s->metrics.items[i], cairn_task_name(s->task), list);
            }
        }
    }
    if ((x = map_get(v, "slices", NULL)) &&
        (st = want_list(r, x, "evaluation.slices", &s->slices)))
        return st;
    if ((x = map_get(v, "bootstrap", NULL)) &&
        (st = want_int(r, x, "evaluation.bootstrap", 0, 100000, &s->bootstrap)))
        return st;
    const node *th = map_get(v, "threshold", &kth);
    const node *co = map_get(v, "cost", &kco);
    if ((th || co) && s->task != CAIRN_TASK_BINARY)
        return nerr(r, th ? kth : kco, "'%s' is only for binary tasks (task is %s)",
                    th ? "threshold" : "cost", cairn_task_name(s->task));
    if (th && co)
        return nerr(r, kth->line > kco->line ? kth : kco,
                    "evaluation: give either 'threshold' or 'cost', not both");
    if (th && (st = parse_threshold(r, th, s)))
        return st;
    if (co && (st = parse_cost(r, co, s)))
        return st;
    return CAIRN_OK;
}

const char *const cairn_spec_monitor_keys[CAIRN_SPEC_MONITOR_KEYS] = {
    "psi_warn",      "psi_alert",      "ks_warn",       "ks_alert",       "js_warn",
    "js_alert",      "missing_warn",   "missing_alert", "perf_warn",      "perf_alert",
    "rejected_warn", "rejected_alert", "fallback_warn", "fallback_alert", "p99_warn_ms",
    "p99_alert_ms",  "min_rows",       "noise_p"};

static cairn_status parse_monitor(reader *r, const node *v, cairn_spec *s)
{
    cairn_status st;
    if (is_null(v))
        return CAIRN_OK;
    if ((st = want_map(r, v, "monitor")) ||
        (st = check_keys(r, v, "in 'monitor'", cairn_spec_monitor_keys,
                         CAIRN_SPEC_MONITOR_KEYS)))
        return st;
    for (size_t k = 0; k < CAIRN_SPEC_MONITOR_KEYS; k++) {
        const node *x = map_get(v, cairn_spec_monitor_keys[k], NULL);
        char what[64];
        if (!x)
            continue;
        snprintf(what, sizeof what, "monitor.%s", cairn_spec_monitor_keys[k]);
        if (strcmp(cairn_spec_monitor_keys[k], "min_rows") == 0) {
            int64_t n;
            if ((st = want_int(r, x, what, 0, INT64_C(1) << 50, &n)))
                return st;
            s->monitor[k] = (double)n;
        } else if ((st = want_num(r, x, what,
                                  strcmp(cairn_spec_monitor_keys[k], "noise_p") == 0
                                      ? NUM_FRACTION
                                      : NUM_NONNEG,
                                  &s->monitor[k]))) {
            return st;
        }
        s->has_monitor = true;
    }
    return CAIRN_OK;
}

static cairn_status parse_gates(reader *r, const node *v, cairn_spec *s)
{
    static const char *const ops[] = {"min", "max", "min_delta", "max_delta"};
    cairn_status st = CAIRN_OK;
    cairn_dict seen;
    char list[128];
    cairn_dict_init(&seen);
    join_names(list, sizeof list, ops, 4);
    if (is_null(v))
        goto done;
    if ((st = want_map(r, v, "gates")))
        goto done;
    s->gates = cairn_calloc(v->n / 2 + 1, sizeof *s->gates);
    if (!s->gates) {
        st = nomem(r);
        goto done;
    }
    for (size_t i = 0; i + 1 < v->n; i += 2) {
        const node *k = v->kids[i], *g = v->kids[i + 1];
        if (k->kind != NODE_SCALAR || is_null(k) || k->len == 0) {
            st = nerr(r, k, "gate names must be metric names, found %s",
                      k->kind != NODE_SCALAR ? kind_name(k) : "an empty value");
            goto done;
        }
        uint32_t before = seen.n, code;
        if (cairn_dict_intern(&seen, k->text, k->len, &code) != CAIRN_OK) {
            st = nomem(r);
            goto done;
        }
        if (seen.n == before) {
            st = nerr(r, k, "duplicate key '%.60s' in 'gates'", k->text);
            goto done;
        }
        if (g->kind != NODE_MAP || g->n != 2) {
            st = nerr(r, g->kind == NODE_MAP && g->n > 2 ? g->kids[2] : g,
                      "gate '%.60s' must be a mapping with exactly one of %s", k->text, list);
            goto done;
        }
        char what[96];
        snprintf(what, sizeof what, "in gate '%.60s'", k->text);
        if ((st = check_keys(r, g, what, ops, 4)))
            goto done;
        int op = 0;
        for (int o = 0; o < 4; o++)
            if (strcmp(g->kids[0]->text, ops[o]) == 0)
                op = o;
        cairn_spec_gate *gate = &s->gates[s->n_gates];
        snprintf(what, sizeof what, "gates.%.60s.%s", k->text, ops[op]);
        if ((st = want_num(r, g->kids[1], what, NUM_ANY, &gate->value)))
            goto done;
        gate->metric = cairn_strdup(k->text);
        if (!gate->metric) {
            st = nomem(r);
            goto done;
        }
        gate->op = (cairn_spec_gate_op)op;
        gate->pos = pos_of(k);
        s->n_gates++;
    }
done:
    cairn_dict_reset(&seen);
    return st;
}

/* Optional string key: NULL value or ~ means absent. */
static cairn_status opt_string(reader *r, const node *map, const char *key, char **out,
                               cairn_spec_pos *pos)
{
    const node *k = NULL, *v = map_get(map, key, &k);
    if (!v || is_null(v))
        return CAIRN_OK;
    *pos = pos_of(k);
    return want_string(r, v, key, out);
}

static void spec_defaults(cairn_spec *s)
{
    s->task = CAIRN_TASK_BINARY;
    s->split_by = CAIRN_SPLIT_AUTO;
    s->split_valid = 0.1;
    s->split_test = 0.2;
    s->model_type = CAIRN_SPEC_MODEL_GBDT;
    s->gbdt.rounds = 500;
    s->gbdt.max_depth = 4;
    s->gbdt.learning_rate = 0.1;
    s->gbdt.early_stopping = 30;
    s->gbdt.min_child_weight = 1.0;
    s->gbdt.subsample = 1.0;
    s->gbdt.colsample_bytree = 1.0;
    s->gbdt.lambda = 1.0;
    s->gbdt.alpha = 0.0;
    s->gbdt.max_bin = 256;
    s->gbdt.threads = 0;
    s->linear.l2 = 1.0;
    s->linear.max_iter = 100;
    s->linear.tol = 1e-6;
    s->seed = 42;
    s->bootstrap = 1000;
    for (size_t k = 0; k < CAIRN_SPEC_MONITOR_KEYS; k++)
        s->monitor[k] = NAN;
    s->threshold_by = CAIRN_SPEC_THRESHOLD_MAX_F1;
}

static cairn_status parse_top(reader *r, const node *root, cairn_spec *s)
{
    static const char *const keys[] = {"name",  "data",     "label", "positive", "task",
                                       "entity", "time",    "split", "features", "model",
                                       "seed",  "evaluation", "gates", "monitor"};
    static const char *const tasks[] = {"binary", "regression", "multiclass"};
    cairn_status st;
    const node *k = NULL, *v;
    if (!root || is_null(root))
        return cairn_error_at(r->err, CAIRN_EINPUT, r->name, 1, 1,
                              "the spec is empty (required keys: name, data, label)");
    if (root->kind != NODE_MAP)
        return nerr(r, root, "a spec must be a mapping with at least name, data and label; "
                             "found %s",
                    kind_name(root));
    s->pos_doc = pos_of(root);
    if ((st = check_keys(r, root, "at the top level", keys, CAIRN_ARRAY_LEN(keys))))
        return st;

    /* Required keys, in the order the design lists them. */
    static const char *const required[] = {"name", "data", "label"};
    for (size_t i = 0; i < 3; i++)
        if (!map_get(root, required[i], NULL))
            return nerr(r, root, "missing required key '%s'", required[i]);
    if ((st = want_string(r, map_get(root, "name", NULL), "name", &s->name)))
        return st;
    if (!cairn_name_valid(s->name))
        return nerr(r, map_get(root, "name", NULL),
                    "name '%.60s' is not a valid model name (1-%d characters of A-Z a-z 0-9 _ . "
                    "-, starting with a letter or digit)",
                    s->name, CAIRN_NAME_MAX);
    v = map_get(root, "data", NULL);
    if ((st = want_string(r, v, "data", &s->data)))
        return st;
    {
        char nm[CAIRN_NAME_MAX + 1];
        if (cairn_ref_parse(s->data, nm, sizeof nm, &s->data_version, NULL) != CAIRN_OK)
            return nerr(r, v, "data '%.60s' must be a dataset NAME or NAME@N (N >= 1)", s->data);
        s->data_name = cairn_strdup(nm);
        if (!s->data_name)
            return nomem(r);
    }
    v = map_get(root, "label", &k);
    s->pos_label = pos_of(k);
    if ((st = want_string(r, v, "label", &s->label)))
        return st;

    int t = 0;
    if ((v = map_get(root, "task", &k))) {
        s->pos_task = pos_of(k);
        if ((st = want_enum(r, v, "task", tasks, 3, &t)))
            return st;
    }
    s->task = (cairn_task)t;
    if ((v = map_get(root, "positive", &k))) {
        s->pos_positive = pos_of(k);
        if (s->task != CAIRN_TASK_BINARY)
            return nerr(r, k, "'positive' is only for binary tasks (task is %s)",
                        cairn_task_name(s->task));
        /* Any scalar: the label value's text ("Yes", 1, true), as written. */
        if (v->kind != NODE_SCALAR || is_null(v) || v->len == 0)
            return nerr(r, v, "'positive' must be a label value (a string or a number), "
                              "found %s",
                        v->kind != NODE_SCALAR ? kind_name(v) : "an empty value");
        s->positive = cairn_strdup(v->text);
        if (!s->positive)
            return nomem(r);
    } else if (s->task == CAIRN_TASK_BINARY) {
        return nerr(r, root,
                    "missing required key 'positive' (a binary task names the label value that "
                    "is 1; task defaults to binary)");
    }
    if ((st = opt_string(r, root, "entity", &s->entity, &s->pos_entity)) ||
        (st = opt_string(r, root, "time", &s->time, &s->pos_time)))
        return st;
    if (s->entity && strcmp(s->entity, s->label) == 0)
        return nerr(r, map_get(root, "entity", NULL), "entity '%.60s' is also the label",
                    s->entity);
    if (s->time && strcmp(s->time, s->label) == 0)
        return nerr(r, map_get(root, "time", NULL), "time '%.60s' is also the label", s->time);
    if (s->time && s->entity && strcmp(s->time, s->entity) == 0)
        return nerr(r, map_get(root, "time", NULL), "time '%.60s' is also the entity",
                    s->time);

    if ((v = map_get(root, "split", &k))) {
        s->pos_split = pos_of(k);
        if (!is_null(v) && (st = parse_split(r, v, s)))
            return st;
        const node *at = v->kind == NODE_MAP && map_get(v, "by", NULL) ? map_get(v, "by", NULL)
                                                                       : v;
        if (s->split_by == CAIRN_SPLIT_TIME && !s->time)
            return nerr(r, at, "split by time needs a 'time' column in the spec");
        if (s->split_by == CAIRN_SPLIT_GROUP && !s->entity)
            return nerr(r, at, "split by group needs an 'entity' column in the spec");
    }
    if ((v = map_get(root, "features", &k))) {
        s->pos_features = pos_of(k);
        if (!is_null(v) && (st = parse_features(r, v, s)))
            return st;
        for (size_t i = 0; i < s->include.n; i++)
            if (strcmp(s->include.items[i], s->label) == 0)
                return cairn_error_at(r->err, CAIRN_EINPUT, r->name, s->include.pos[i].line,
                                      s->include.pos[i].column,
                                      "features.include names the label '%.60s'", s->label);
    }
    if ((v = map_get(root, "model", NULL)) && !is_null(v) && (st = parse_model(r, v, s)))
        return st;
    if ((v = map_get(root, "seed", &k))) {
        int64_t seed = 0;
        s->pos_seed = pos_of(k);
        if ((st = want_int(r, v, "seed", 0, INT64_MAX, &seed)))
            return st;
        s->seed = (uint64_t)seed;
    }
    if ((v = map_get(root, "evaluation", NULL)) && !is_null(v) &&
        (st = parse_evaluation(r, v, s)))
        return st;
    if (s->metrics.n == 0) {
        const char *const *names;
        size_t n, n_default;
        cairn_spec_pos none = {0, 0};
        task_metrics(s->task, &names, &n, &n_default);
        list_reset(&s->metrics);
        if (list_alloc(&s->metrics, n_default) != CAIRN_OK)
            return nomem(r);
        for (size_t i = 0, j = 0; j < n_default; i++) {
            if (s->task == CAIRN_TASK_BINARY && strcmp(names[i], "pr_auc") == 0)
                continue;
            if (list_push(&s->metrics, names[i], none) != CAIRN_OK)
                return nomem(r);
            j++;
        }
    }
    if ((v = map_get(root, "gates", NULL)) && (st = parse_gates(r, v, s)))
        return st;
    if ((v = map_get(root, "monitor", NULL)) && (st = parse_monitor(r, v, s)))
        return st;
    return CAIRN_OK;
}

cairn_status cairn_spec_parse(const char *yaml, size_t len, const char *name, cairn_spec **out,
                              cairn_error *err)
{
    cairn_status st;
    reader r;
    node *root = NULL;
    cairn_spec *s = NULL;

    *out = NULL;
    memset(&r, 0, sizeof r);
    r.name = name ? name : "spec";
    r.text = yaml;
    r.len = len;
    r.err = err;
    if (len > CAIRN_SPEC_MAX_BYTES)
        return cairn_error_at(err, CAIRN_ETOOBIG, r.name, 0, 0,
                              "the spec is larger than %u bytes", CAIRN_SPEC_MAX_BYTES);
    s = cairn_calloc(1, sizeof *s);
    if (!s) {
        st = nomem(&r);
        goto done;
    }
    spec_defaults(s);
    s->source = cairn_strndup(len ? yaml : "", len);
    s->source_name = cairn_strdup(r.name);
    if (!s->source || !s->source_name) {
        st = nomem(&r);
        goto done;
    }
    s->source_len = len;
    if ((st = build_tree(&r, &root)) != CAIRN_OK)
        goto done;
    st = parse_top(&r, root, s);
done:
    node_free(root);
    if (st != CAIRN_OK) {
        cairn_spec_free(s);
        return st;
    }
    *out = s;
    return CAIRN_OK;
}

void cairn_spec_set_seed(cairn_spec *s, uint64_t seed)
{
    if (s)
        s->seed = seed;
}

/* ---- resolution against a frame ------------------------------------------------------ */

static cairn_status rerr(const cairn_spec *s, cairn_error *err, cairn_spec_pos p,
                         const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static cairn_status rerr(const cairn_spec *s, cairn_error *err, cairn_spec_pos p,
                         const char *fmt, ...)
{
    char msg[CAIRN_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return cairn_error_at(err, CAIRN_EINPUT, s->source_name, p.line, p.column, "%s", msg);
}

/* The column named name, or an error at p naming it. */
static cairn_status need_column(const cairn_spec *s, const cairn_frame *f, const char *what,
                                const char *name, cairn_spec_pos p, long *idx, cairn_error *err)
{
    *idx = cairn_frame_find(f, name);
    if (*idx < 0)
        return rerr(s, err, p, "%s column '%.100s' is not in dataset '%.100s'", what, name,
                    s->data);
    return CAIRN_OK;
}

/*
 * Up to three distinct values of a column's valid rows, each as a 64-bit key
 * (a dictionary code, a bool, an int64, or the bits of a double with -0
 * folded into +0). Returns how many were found (0..3).
 */
static size_t distinct_up_to_3(const cairn_column *c, uint64_t key[3])
{
    size_t n = 0;
    for (size_t i = 0; i < c->n_rows && n < 3; i++) {
        if (!c->valid[i])
            continue;
        uint64_t k = 0;
        switch (c->type) {
        case CAIRN_TYPE_BOOL: k = c->v.b[i] != 0; break;
        case CAIRN_TYPE_INT64:
        case CAIRN_TYPE_TIMESTAMP: k = (uint64_t)c->v.i64[i]; break;
        case CAIRN_TYPE_FLOAT64: {
            double d = c->v.f64[i] == 0 ? 0.0 : c->v.f64[i];
            memcpy(&k, &d, sizeof k);
            break;
        }
        case CAIRN_TYPE_STRING: k = c->v.codes[i]; break;
        default: return 0;
        }
        bool seen = false;
        for (size_t j = 0; j < n; j++)
            seen = seen || key[j] == k;
        if (!seen)
            key[n++] = k;
    }
    return n;
}

/* Whether the text t names the value whose key is k in column c. */
static bool value_matches(const cairn_column *c, uint64_t k, const char *t)
{
    size_t n = strlen(t);
    switch (c->type) {
    case CAIRN_TYPE_STRING: return strcmp(cairn_dict_str(&c->dict, (uint32_t)k), t) == 0;
    case CAIRN_TYPE_BOOL: {
        bool b;
        if (cairn_parse_bool(t, n, &b))
            return (uint64_t)b == k;
        return (n == 1 && ((t[0] == '1' && k == 1) || (t[0] == '0' && k == 0)));
    }
    case CAIRN_TYPE_INT64: {
        int64_t v;
        double d;
        if (cairn_parse_int64(t, n, &v))
            return (uint64_t)v == k;
        /* "1.0" names the integer 1. */
        return cairn_parse_double(t, n, &d) && d == (double)(int64_t)k &&
               fabs(d) < 9007199254740992.0;
    }
    case CAIRN_TYPE_FLOAT64: {
        double d, kv;
        memcpy(&kv, &k, sizeof kv);
        return cairn_parse_double(t, n, &d) && d == kv;
    }
    default: return false;
    }
}

static void value_text(const cairn_column *c, uint64_t k, char *out, size_t cap)
{
    switch (c->type) {
    case CAIRN_TYPE_STRING:
        snprintf(out, cap, "%.60s", cairn_dict_str(&c->dict, (uint32_t)k));
        return;
    case CAIRN_TYPE_BOOL: snprintf(out, cap, "%s", k ? "true" : "false"); return;
    case CAIRN_TYPE_FLOAT64: {
        double d;
        memcpy(&d, &k, sizeof d);
        cairn_fmt_double(out, cap, d);
        return;
    }
    default: snprintf(out, cap, "%lld", (long long)(int64_t)k); return;
    }
}

static cairn_status check_label(const cairn_spec *s, const cairn_column *c, cairn_error *err)
{
    uint64_t key[3] = {0, 0, 0};
    const char *lab = s->label;
    switch (s->task) {
    case CAIRN_TASK_REGRESSION:
        if (c->type != CAIRN_TYPE_INT64 && c->type != CAIRN_TYPE_FLOAT64)
            return rerr(s, err, s->pos_label,
                        "label '%.100s' is %s; a regression task needs a numeric label (int64 "
                        "or float64)",
                        lab, cairn_type_name(c->type));
        if (distinct_up_to_3(c, key) == 0)
            return rerr(s, err, s->pos_label, "label '%.100s' has no values", lab);
        return CAIRN_OK;
    case CAIRN_TASK_MULTICLASS: {
        if (c->type == CAIRN_TYPE_FLOAT64 || c->type == CAIRN_TYPE_TIMESTAMP)
            return rerr(s, err, s->pos_label,
                        "label '%.100s' is %s; a multiclass task needs classes (string, int64 "
                        "or bool)",
                        lab, cairn_type_name(c->type));
        size_t n = distinct_up_to_3(c, key);
        if (n < 3)
            return rerr(s, err, s->pos_label,
                        "label '%.100s' has %zu distinct value%s; a multiclass task needs at "
                        "least 3 (use task: binary for two)",
                        lab, n, n == 1 ? "" : "s");
        return CAIRN_OK;
    }
    case CAIRN_TASK_BINARY: break;
    }
    if (c->type == CAIRN_TYPE_TIMESTAMP)
        return rerr(s, err, s->pos_label, "label '%.100s' is a timestamp; a binary task needs "
                                          "two classes",
                    lab);
    size_t n = distinct_up_to_3(c, key);
    if (n != 2)
        return rerr(s, err, s->pos_label,
                    "label '%.100s' has %s distinct value%s; a binary task needs exactly 2", lab,
                    n == 0 ? "no" : n == 1 ? "1" : "3 or more", n == 1 ? "" : "s");
    if (!value_matches(c, key[0], s->positive) && !value_matches(c, key[1], s->positive)) {
        char a[80], b[80];
        value_text(c, key[0], a, sizeof a);
        value_text(c, key[1], b, sizeof b);
        return rerr(s, err, s->pos_positive,
                    "positive value '%.60s' is not a value of label '%.100s' (its values: '%s', "
                    "'%s')",
                    s->positive, lab, a, b);
    }
    return CAIRN_OK;
}

static bool in_list(const cairn_spec_list *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->items[i], name) == 0)
            return true;
    return false;
}

static cairn_status check_list_columns(const cairn_spec *s, const cairn_frame *f,
                                       const cairn_spec_list *l, const char *what,
                                       cairn_error *err)
{
    long idx;
    for (size_t i = 0; i < l->n; i++) {
        cairn_status st = need_column(s, f, what, l->items[i], l->pos[i], &idx, err);
        if (st != CAIRN_OK)
            return st;
    }
    return CAIRN_OK;
}

cairn_status cairn_spec_resolve(cairn_spec *s, const cairn_frame *f, cairn_error *err)
{
    cairn_status st;
    cairn_spec_list feats = {NULL, NULL, 0};
    long li, idx;

    if ((st = need_column(s, f, "label", s->label, s->pos_label, &li, err)))
        goto done;
    if ((st = check_label(s, &f->cols[li], err)))
        goto done;
    if (s->entity && (st = need_column(s, f, "entity", s->entity, s->pos_entity, &idx, err)))
        goto done;
    if (s->time) {
        if ((st = need_column(s, f, "time", s->time, s->pos_time, &idx, err)))
            goto done;
        cairn_type t = f->cols[idx].type;
        if (t != CAIRN_TYPE_TIMESTAMP && t != CAIRN_TYPE_INT64 && t != CAIRN_TYPE_FLOAT64) {
            st = rerr(s, err, s->pos_time,
                      "time column '%.100s' is %s; it must be a timestamp or a number", s->time,
                      cairn_type_name(t));
            goto done;
        }
    }
    if ((st = check_list_columns(s, f, &s->slices, "slice", err)) ||
        (st = check_list_columns(s, f, &s->include, "features.include", err)) ||
        (st = check_list_columns(s, f, &s->exclude, "features.exclude", err)) ||
        (st = check_list_columns(s, f, &s->allow_pii, "features.allow_pii", err)))
        goto done;

    if (list_alloc(&feats, s->has_include ? s->include.n : f->n_cols) != CAIRN_OK) {
        st = cairn_error_set(err, CAIRN_ENOMEM, s->source_name, "out of memory resolving the spec");
        goto done;
    }
    if (s->has_include) {
        for (size_t i = 0; i < s->include.n; i++)
            if (list_push(&feats, s->include.items[i], s->include.pos[i]) != CAIRN_OK)
                goto nomem;
    } else {
        cairn_spec_pos none = {0, 0};
        for (size_t j = 0; j < f->n_cols; j++) {
            const char *c = f->cols[j].name;
            if (!c || strcmp(c, s->label) == 0 || (s->entity && strcmp(c, s->entity) == 0) ||
                (s->time && strcmp(c, s->time) == 0) || in_list(&s->exclude, c))
                continue;
            if (list_push(&feats, c, none) != CAIRN_OK)
                goto nomem;
        }
    }
    if (feats.n == 0) {
        st = rerr(s, err, s->pos_features.line ? s->pos_features : s->pos_doc,
                  "no feature columns are left in dataset '%.100s'", s->data);
        goto done;
    }
    list_reset(&s->features);
    s->features = feats;
    feats = (cairn_spec_list){NULL, NULL, 0};
    if (s->split_by == CAIRN_SPLIT_AUTO)
        s->split_by = s->time ? CAIRN_SPLIT_TIME
                              : s->entity ? CAIRN_SPLIT_GROUP : CAIRN_SPLIT_STRATIFIED;
    s->resolved = true;
    st = CAIRN_OK;
    goto done;
nomem:
    st = cairn_error_set(err, CAIRN_ENOMEM, s->source_name, "out of memory resolving the spec");
done:
    list_reset(&feats);
    return st;
}

/* ---- canonical JSON -------------------------------------------------------------------- */

static void put_str(cairn_buf *b, const char *s)
{
    if (s)
        cairn_buf_put_json_string(b, s, strlen(s));
    else
        cairn_buf_puts(b, "null");
}

static void put_list(cairn_buf *b, const cairn_spec_list *l)
{
    cairn_buf_putc(b, '[');
    for (size_t i = 0; i < l->n; i++) {
        if (i)
            cairn_buf_putc(b, ',');
        put_str(b, l->items[i]);
    }
    cairn_buf_putc(b, ']');
}

static void put_num(cairn_buf *b, const char *key, double v, bool comma)
{
    cairn_buf_printf(b, "%s\"%s\":", comma ? "," : "", key);
    cairn_buf_put_double(b, v);
}

static void put_int(cairn_buf *b, const char *key, int64_t v)
{
    cairn_buf_printf(b, ",\"%s\":%lld", key, (long long)v);
}

void cairn_spec_to_json(const cairn_spec *s, cairn_buf *b)
{
    cairn_buf_puts(b, "{\"name\":");
    put_str(b, s->name);
    cairn_buf_puts(b, ",\"data\":");
    put_str(b, s->data);
    cairn_buf_puts(b, ",\"data_name\":");
    put_str(b, s->data_name);
    cairn_buf_printf(b, ",\"data_version\":%d", s->data_version);
    cairn_buf_printf(b, ",\"task\":\"%s\",\"label\":", cairn_task_name(s->task));
    put_str(b, s->label);
    cairn_buf_puts(b, ",\"positive\":");
    put_str(b, s->positive);
    cairn_buf_puts(b, ",\"entity\":");
    put_str(b, s->entity);
    cairn_buf_puts(b, ",\"time\":");
    put_str(b, s->time);

    cairn_buf_printf(b, ",\"split\":{\"by\":\"%s\"", split_names[s->split_by]);
    put_num(b, "valid", s->split_valid, true);
    put_num(b, "test", s->split_test, true);
    cairn_buf_printf(b, ",\"allow_time_leak\":%s}", s->allow_time_leak ? "true" : "false");

    cairn_buf_puts(b, ",\"features\":{\"include\":");
    if (s->has_include)
        put_list(b, &s->include);
    else
        cairn_buf_puts(b, "null");
    cairn_buf_puts(b, ",\"exclude\":");
    put_list(b, &s->exclude);
    cairn_buf_puts(b, ",\"allow_pii\":");
    put_list(b, &s->allow_pii);
    if (s->resolved) {
        cairn_buf_puts(b, ",\"columns\":");
        put_list(b, &s->features);
    }
    cairn_buf_putc(b, '}');

    cairn_buf_printf(b, ",\"model\":{\"type\":\"%s\"", cairn_spec_model_type_name(s->model_type));
    if (s->model_type == CAIRN_SPEC_MODEL_GBDT) {
        const cairn_spec_gbdt *g = &s->gbdt;
        put_int(b, "rounds", g->rounds);
        put_int(b, "max_depth", g->max_depth);
        put_num(b, "learning_rate", g->learning_rate, true);
        put_int(b, "early_stopping", g->early_stopping);
        put_num(b, "min_child_weight", g->min_child_weight, true);
        put_num(b, "subsample", g->subsample, true);
        put_num(b, "colsample_bytree", g->colsample_bytree, true);
        put_num(b, "lambda", g->lambda, true);
        put_num(b, "alpha", g->alpha, true);
        put_int(b, "max_bin", g->max_bin);
        put_int(b, "threads", g->threads);
    } else if (s->model_type == CAIRN_SPEC_MODEL_LINEAR) {
        put_num(b, "l2", s->linear.l2, true);
        put_int(b, "max_iter", s->linear.max_iter);
        put_num(b, "tol", s->linear.tol, true);
    }
    cairn_buf_printf(b, "},\"seed\":%llu", (unsigned long long)s->seed);

    cairn_buf_puts(b, ",\"evaluation\":{\"metrics\":");
    put_list(b, &s->metrics);
    cairn_buf_puts(b, ",\"slices\":");
    put_list(b, &s->slices);
    put_int(b, "bootstrap", s->bootstrap);
    cairn_buf_puts(b, ",\"threshold\":");
    switch (s->threshold_by) {
    case CAIRN_SPEC_THRESHOLD_FIXED:
        cairn_buf_puts(b, "{\"by\":\"fixed\"");
        put_num(b, "value", s->threshold_value, true);
        cairn_buf_putc(b, '}');
        break;
    case CAIRN_SPEC_THRESHOLD_COST:
        cairn_buf_puts(b, "{\"by\":\"cost\"");
        put_num(b, "fp", s->cost_fp, true);
        put_num(b, "fn", s->cost_fn, true);
        cairn_buf_putc(b, '}');
        break;
    case CAIRN_SPEC_THRESHOLD_MAX_F1:
        if (s->task == CAIRN_TASK_BINARY)
            cairn_buf_puts(b, "{\"by\":\"max_f1\"}");
        else
            cairn_buf_puts(b, "null");
        break;
    }
    cairn_buf_puts(b, "},\"gates\":[");
    for (size_t i = 0; i < s->n_gates; i++) {
        const cairn_spec_gate *g = &s->gates[i];
        cairn_buf_puts(b, i ? ",{\"metric\":" : "{\"metric\":");
        put_str(b, g->metric);
        cairn_buf_printf(b, ",\"op\":\"%s\"", cairn_spec_gate_op_name(g->op));
        put_num(b, "value", g->value, true);
        cairn_buf_putc(b, '}');
    }
    cairn_buf_putc(b, ']');
    /* Only when given, so specs without it keep their canonical form. */
    if (s->has_monitor) {
        cairn_buf_puts(b, ",\"monitor\":{");
        bool first = true;
        for (size_t k = 0; k < CAIRN_SPEC_MONITOR_KEYS; k++) {
            if (isnan(s->monitor[k]))
                continue;
            cairn_buf_printf(b, "%s\"%s\":", first ? "" : ",", cairn_spec_monitor_keys[k]);
            cairn_buf_put_double(b, s->monitor[k]);
            first = false;
        }
        cairn_buf_putc(b, '}');
    }
    cairn_buf_printf(b, ",\"resolved\":%s}", s->resolved ? "true" : "false");
}

void cairn_spec_free(cairn_spec *s)
{
    if (!s)
        return;
    cairn_free(s->source);
    cairn_free(s->source_name);
    cairn_free(s->name);
    cairn_free(s->data);
    cairn_free(s->data_name);
    cairn_free(s->label);
    cairn_free(s->positive);
    cairn_free(s->entity);
    cairn_free(s->time);
    list_reset(&s->include);
    list_reset(&s->exclude);
    list_reset(&s->allow_pii);
    list_reset(&s->metrics);
    list_reset(&s->slices);
    list_reset(&s->features);
    for (size_t i = 0; i < s->n_gates; i++)
        cairn_free(s->gates[i].metric);
    cairn_free(s->gates);
    cairn_free(s);
}
