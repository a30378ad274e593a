/*
 * infer.c -- a first contract from a frame and its statistics: for each
 * column the type, nullability and null rate, a bound on the null rate, the
 * range of numbers and timestamps, the domain of low-cardinality strings,
 * whether it is a key candidate, its PII kind (pii.c) and a role.
 *
 * The rules (docs/contract.md repeats them for users):
 *  - max_null_rate is 0 for a column without nulls; otherwise the observed
 *    rate rounded up to the next percent plus a margin of 5 percentage
 *    points, capped at 1 -- loose enough that a fresh batch of the same
 *    source passes, tight enough that a feed that starts dropping a field
 *    fails.
 *  - min/max for int64 and float64 columns and min for timestamps (a maximum
 *    would refuse all later traffic), from the statistics when they match the
 *    column, else computed from it; not for PII columns (the contract file
 *    must not leak personal values).
 *  - domain for string columns with 1..max_domain distinct values present,
 *    sorted bytewise; not for key candidates (a new key is not an unknown
 *    category), not for PII columns, and not when a value is invalid UTF-8
 *    or holds a NUL byte (it could not be written back exactly).
 *  - unique for string and int64 columns with at least two rows, no nulls
 *    and all values distinct, checked exactly (codes used == rows; a sorted
 *    copy of the integers).
 *  - role: the columns named in the options win; else a unique string/int64
 *    column whose name looks like an id is the entity (or ignore when the
 *    options name another entity: a per-row key carries no signal); else the
 *    first timestamp column is the time (unless the options name one); else
 *    PII columns are ignore; else feature.
 */
#include "contract/contract_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static bool ends_with_ci(const char *s, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);
    if (n < k)
        return false;
    for (size_t i = 0; i < k; i++) {
        char a = s[n - k + i], b = suffix[i];
        if (a >= 'A' && a <= 'Z')
            a = (char)(a + 32);
        if (a != b)
            return false;
    }
    return true;
}

/*
 * Whether a column name looks like an identifier: id, key, uuid, guid, pk on
 * their own; a suffix after a separator (user_id, "item id", order-key); a
 * camelCase suffix (customerID, userId, itemKey); or an id_ prefix (id_user).
 * "paid" or "valid" do not qualify: the suffix must start a new word.
 */
static bool name_looks_like_id(const char *name)
{
    static const char *const whole[] = {"id", "key", "uuid", "guid", "pk", "identifier"};
    static const char *const words[] = {"id", "key", "uuid", "guid"};
    char norm[128];
    size_t n = strlen(name);
    cairn_contract_name_norm(name, norm, sizeof norm);
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(whole); i++)
        if (strcmp(norm, whole[i]) == 0)
            return true;
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(words); i++) {
        size_t k = strlen(words[i]);
        if (n <= k || !ends_with_ci(name, n, words[i]))
            continue;
        char before = name[n - k - 1];
        char first = name[n - k];
        if (before == '_' || before == '-' || before == ' ' || before == '.')
            return true;
        /* camelCase: an upper-case first letter after a lower-case letter or digit */
        if (first >= 'A' && first <= 'Z' &&
            ((before >= 'a' && before <= 'z') || (before >= '0' && before <= '9')))
            return true;
    }
    if (n > 3 && (name[0] == 'i' || name[0] == 'I') && (name[1] == 'd' || name[1] == 'D') &&
        (name[2] == '_' || name[2] == '-' || name[2] == ' '))
        return true;
    return false;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Exact: sorts a copy of the values. Only called on columns without nulls. */
static cairn_status ints_distinct(const cairn_column *c, bool *out, cairn_error *err)
{
    *out = false;
    int64_t *tmp = cairn_reallocarray(NULL, c->n_rows ? c->n_rows : 1, sizeof *tmp);
    if (!tmp)
        return cairn_error_set(err, CAIRN_ENOMEM, c->name, "out of memory");
    memcpy(tmp, c->v.i64, c->n_rows * sizeof *tmp);
    qsort(tmp, c->n_rows, sizeof *tmp, cmp_i64);
    bool distinct = true;
    for (size_t i = 1; i < c->n_rows; i++)
        if (tmp[i] == tmp[i - 1]) {
            distinct = false;
            break;
        }
    cairn_free(tmp);
    *out = distinct;
    return CAIRN_OK;
}

/* Minimum and maximum of the valid values of a numeric or timestamp column. */
static void column_range(const cairn_column *c, double *mn, double *mx)
{
    bool first = true;
    for (size_t r = 0; r < c->n_rows; r++) {
        if (!c->valid[r])
            continue;
        double v = c->type == CAIRN_TYPE_FLOAT64 ? c->v.f64[r] : (double)c->v.i64[r];
        if (first || v < *mn)
            *mn = v;
        if (first || v > *mx)
            *mx = v;
        first = false;
    }
}

typedef struct dom_item {
    const char *s;
    uint32_t len;
} dom_item;

static int cmp_dom(const void *a, const void *b)
{
    const dom_item *x = a, *y = b;
    int r = memcmp(x->s, y->s, x->len < y->len ? x->len : y->len);
    if (r)
        return r;
    return x->len < y->len ? -1 : x->len > y->len;
}

/* Builds the sorted domain of the codes marked in used. */
static cairn_status build_domain(const cairn_column *c, const uint8_t *used, size_t n_used,
                                 cairn_contract_col *col, cairn_error *err)
{
    cairn_status st = CAIRN_OK;
    dom_item *items = cairn_calloc(n_used ? n_used : 1, sizeof *items);
    if (!items)
        return cairn_error_set(err, CAIRN_ENOMEM, c->name, "out of memory");
    size_t k = 0;
    for (uint32_t code = 0; code < c->dict.n && k < n_used; code++) {
        if (!used[code])
            continue;
        const char *s = cairn_dict_str(&c->dict, code);
        uint32_t len = cairn_dict_len(&c->dict, code);
        /* A value that could not be written to YAML and read back exactly
         * leaves the domain open rather than wrong. */
        if (memchr(s, '\0', len) || cairn_utf8_invalid_at(s, len) != len)
            goto done;
        items[k].s = s;
        items[k].len = len;
        k++;
    }
    qsort(items, k, sizeof *items, cmp_dom);
    col->domain = cairn_calloc(k ? k : 1, sizeof *col->domain);
    if (!col->domain) {
        st = cairn_error_set(err, CAIRN_ENOMEM, c->name, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < k; i++) {
        col->domain[i] = cairn_strndup(items[i].s, items[i].len);
        if (!col->domain[i]) {
            st = cairn_error_set(err, CAIRN_ENOMEM, c->name, "out of memory");
            goto done;
        }
        col->n_domain++;
    }
    col->domain_sorted = true;
done:
    cairn_free(items);
    return st;
}

static bool opt_is(const char *opt, const char *name) { return opt && strcmp(opt, name) == 0; }

/* Everything but the role. */
static cairn_status infer_column(const cairn_column *fc, const cairn_colstats *cs,
                                 const cairn_infer_opts *opts, cairn_contract_col *col,
                                 cairn_error *err)
{
    cairn_status st = CAIRN_OK;
    uint8_t *used = NULL;
    size_t n_used = 0, n_rows = fc->n_rows;
    uint64_t nulls = 0;

    col->name = cairn_strdup(fc->name ? fc->name : "");
    if (!col->name)
        return cairn_error_set(err, CAIRN_ENOMEM, fc->name, "out of memory");
    col->type = fc->type;
    for (size_t r = 0; r < n_rows; r++)
        nulls += !fc->valid[r];
    col->nullable = nulls > 0;
    col->null_rate = n_rows ? (double)nulls / (double)n_rows : 0.0;
    if (nulls == 0) {
        col->max_null_rate = 0.0;
    } else {
        /* Whole percents, so the bound reads cleanly: (ceil(100 r) + 5) / 100. */
        double pct = ceil(col->null_rate * 100.0) + 5.0;
        col->max_null_rate = pct >= 100.0 ? 1.0 : pct / 100.0;
    }
    st = cairn_contract_pii_detect(fc, &col->pii, err);
    if (st != CAIRN_OK)
        return st;

    uint64_t count = (uint64_t)n_rows - nulls;
    if ((fc->type == CAIRN_TYPE_INT64 || fc->type == CAIRN_TYPE_FLOAT64 ||
         fc->type == CAIRN_TYPE_TIMESTAMP) &&
        count > 0 && col->pii == CAIRN_PII_NONE) {
        double mn = 0, mx = 0;
        if (cs && cs->type == fc->type && cs->count == count && cs->min <= cs->max) {
            mn = cs->min;
            mx = cs->max;
        } else {
            column_range(fc, &mn, &mx);
        }
        col->has_min = true;
        col->min = mn;
        /* Time moves on: a timestamp capped at the newest value of the sample would
         * refuse every later request, so timestamps get a lower bound only. */
        col->has_max = fc->type != CAIRN_TYPE_TIMESTAMP;
        col->max = col->has_max ? mx : 0;
    }

    if (fc->type == CAIRN_TYPE_STRING) {
        st = cairn_contract_codes_used(fc, &used, &n_used, err);
        if (st != CAIRN_OK)
            goto done;
        col->unique = nulls == 0 && n_rows >= 2 && n_used == n_rows;
        if (n_used >= 1 && n_used <= opts->max_domain && !col->unique &&
            col->pii == CAIRN_PII_NONE) {
            st = build_domain(fc, used, n_used, col, err);
            if (st != CAIRN_OK)
                goto done;
        }
    } else if (fc->type == CAIRN_TYPE_INT64 && nulls == 0 && n_rows >= 2) {
        st = ints_distinct(fc, &col->unique, err);
    }
done:
    cairn_free(used);
    return st;
}

cairn_status cairn_contract_infer(const cairn_frame *f, const cairn_colstats *stats,
                                  const cairn_infer_opts *opts, cairn_contract **out,
                                  cairn_error *err)
{
    cairn_status st = CAIRN_OK;
    cairn_infer_opts defaults;
    cairn_contract *c = NULL;
    *out = NULL;
    if (!opts) {
        cairn_infer_opts_init(&defaults);
        opts = &defaults;
    }
    const char *named[3] = {opts->label, opts->entity, opts->time};
    const char *what[3] = {"label", "entity", "time"};
    for (int k = 0; k < 3; k++)
        if (named[k] && cairn_frame_find(f, named[k]) < 0)
            return cairn_error_set(err, CAIRN_EINVAL, named[k],
                                   "the %s column '%s' is not in the data", what[k], named[k]);

    c = cairn_calloc(1, sizeof *c);
    if (!c || !(c->cols = cairn_calloc(f->n_cols ? f->n_cols : 1, sizeof *c->cols))) {
        st = cairn_error_set(err, CAIRN_ENOMEM, NULL, "out of memory");
        goto done;
    }
    c->version = 1;
    if (opts->dataset_ref && !(c->dataset = cairn_strdup(opts->dataset_ref))) {
        st = cairn_error_set(err, CAIRN_ENOMEM, NULL, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < f->n_cols; i++) {
        c->n_cols = i + 1; /* so that a failure frees what was made */
        st = infer_column(&f->cols[i], stats ? &stats[i] : NULL, opts, &c->cols[i], err);
        if (st != CAIRN_OK)
            goto done;
    }

    bool have_time = opts->time != NULL;
    for (size_t i = 0; i < c->n_cols; i++) {
        cairn_contract_col *col = &c->cols[i];
        if (opt_is(opts->label, col->name))
            col->role = CAIRN_ROLE_LABEL;
        else if (opt_is(opts->entity, col->name))
            col->role = CAIRN_ROLE_ENTITY;
        else if (opt_is(opts->time, col->name))
            col->role = CAIRN_ROLE_TIME;
        else if (col->unique && name_looks_like_id(col->name))
            col->role = opts->entity ? CAIRN_ROLE_IGNORE : CAIRN_ROLE_ENTITY;
        else if (col->type == CAIRN_TYPE_TIMESTAMP && !have_time) {
            col->role = CAIRN_ROLE_TIME;
            have_time = true;
        } else if (col->pii != CAIRN_PII_NONE)
            col->role = CAIRN_ROLE_IGNORE;
        else
            col->role = CAIRN_ROLE_FEATURE;
    }
done:
    if (st != CAIRN_OK) {
        cairn_contract_free(c);
        return st;
    }
    *out = c;
    return CAIRN_OK;
}
