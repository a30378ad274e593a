/*
 * check.c -- checking a whole frame against a contract: missing and extra
 * columns, values that do not convert to the contract type, nulls above the
 * bound, values out of range, unknown categories and duplicate keys, each
 * reported per column with a count and the first CAIRN_CHECK_EXAMPLES rows
 * (0-based) with their values. Extra columns are warnings; everything else
 * is an error. The command line turns errors into exit code 1.
 *
 * The data's type need not equal the contract's. Each column is first
 * converted to the contract type, row by row, into one array:
 *  - same type: taken as is; int64 data under a float64 contract widens;
 *  - string data under a non-string contract: each distinct dictionary
 *    value is parsed once (cairn_parse_int64 / _double / _bool /
 *    _timestamp) and rows whose value does not parse are WRONG_TYPE -- this
 *    is how a text value injected into a numeric column is found, since the
 *    reader then types the whole column as string;
 *  - any other pair goes through the value's text (bool and numbers under a
 *    string contract compare by their text; 3.0 under int64 converts, 2.5
 *    does not).
 * Range, domain and uniqueness are then checked on the converted values, so
 * a column with a few bad strings still has its range checked on the rest.
 */
#include "contract/contract_int.h"

#include <stdlib.h>
#include <string.h>

#define EXAMPLE_VALUE_MAX 200 /* bytes of an example value kept in a report */

enum { ROW_NULL = 0, ROW_OK = 1, ROW_BAD = 2 };

/* A column converted to its contract type. */
typedef struct conv {
    uint8_t *state;        /* per row: ROW_NULL, ROW_OK or ROW_BAD */
    int64_t *i;            /* int64, timestamp and bool (0/1) contracts */
    double *d;             /* float64 contracts */
    uint32_t *codes;       /* string contracts: codes into dict */
    const uint32_t *codes_ref; /* the data's own codes when the data is a string column */
    const cairn_dict *dict;
    cairn_dict own;        /* texts of non-string data under a string contract */
} conv;

static void conv_reset(conv *cv)
{
    cairn_free(cv->state);
    cairn_free(cv->i);
    cairn_free(cv->d);
    cairn_free(cv->codes);
    cairn_dict_reset(&cv->own);
    memset(cv, 0, sizeof *cv);
}

/* Parses text as contract type t into *iv or *dv. */
static bool parse_as(cairn_type t, const char *s, size_t n, int64_t *iv, double *dv)
{
    bool b;
    switch (t) {
    case CAIRN_TYPE_INT64: return cairn_parse_int64(s, n, iv);
    case CAIRN_TYPE_FLOAT64: return cairn_parse_double(s, n, dv);
    case CAIRN_TYPE_TIMESTAMP: return cairn_parse_timestamp(s, n, iv);
    case CAIRN_TYPE_BOOL:
        if (!cairn_parse_bool(s, n, &b))
            return false;
        *iv = b;
        return true;
    default: return false;
    }
}

static cairn_status conv_build(const cairn_contract_col *cc, const cairn_column *fc, conv *cv,
                               cairn_error *err)
{
    cairn_status st = CAIRN_OK;
    size_t n = fc->n_rows;
    size_t alloc_n = n ? n : 1;
    uint8_t *ok_cache = NULL;
    int64_t *i_cache = NULL;
    double *d_cache = NULL;
    cairn_buf text;
    cairn_buf_init(&text);
    memset(cv, 0, sizeof *cv);
    cairn_dict_init(&cv->own);

    cv->state = cairn_calloc(alloc_n, 1);
    if (!cv->state)
        goto nomem;
    for (size_t r = 0; r < n; r++)
        cv->state[r] = fc->valid[r] ? ROW_OK : ROW_NULL;

    if (fc->type == CAIRN_TYPE_STRING) {
        for (size_t r = 0; r < n; r++)
            if (fc->valid[r] && fc->v.codes[r] >= fc->dict.n) {
                st = cairn_error_set(err, CAIRN_ECORRUPT, fc->name,
                                     "string code outside the dictionary at row %zu", r);
                goto done;
            }
    }

    if (cc->type == CAIRN_TYPE_STRING) {
        if (fc->type == CAIRN_TYPE_STRING) {
            cv->codes_ref = fc->v.codes;
            cv->dict = &fc->dict;
            goto done;
        }
        cv->codes = cairn_calloc(alloc_n, sizeof *cv->codes);
        if (!cv->codes)
            goto nomem;
        for (size_t r = 0; r < n; r++) {
            if (!fc->valid[r])
                continue;
            text.len = 0;
            cairn_column_value_text(fc, r, &text);
            if (text.failed)
                goto nomem;
            cairn_status ds = cairn_dict_intern(&cv->own, text.data ? text.data : "", text.len,
                                                &cv->codes[r]);
            if (ds != CAIRN_OK) {
                st = cairn_error_set(err, ds, fc->name, "too many distinct values");
                goto done;
            }
        }
        cv->codes_ref = cv->codes;
        cv->dict = &cv->own;
        goto done;
    }

    bool want_d = cc->type == CAIRN_TYPE_FLOAT64;
    if (want_d)
        cv->d = cairn_calloc(alloc_n, sizeof *cv->d);
    else
        cv->i = cairn_calloc(alloc_n, sizeof *cv->i);
    if (want_d ? !cv->d : !cv->i)
        goto nomem;

    if (fc->type == cc->type) {
        for (size_t r = 0; r < n; r++) {
            if (!fc->valid[r])
                continue;
            if (want_d)
                cv->d[r] = fc->v.f64[r];
            else
                cv->i[r] = fc->type == CAIRN_TYPE_BOOL ? fc->v.b[r] : fc->v.i64[r];
        }
    } else if (fc->type == CAIRN_TYPE_INT64 && want_d) {
        for (size_t r = 0; r < n; r++)
            if (fc->valid[r])
                cv->d[r] = (double)fc->v.i64[r];
    } else if (fc->type == CAIRN_TYPE_STRING) {
        /* One parse per distinct value, not per row. */
        uint32_t nd = fc->dict.n ? fc->dict.n : 1;
        ok_cache = cairn_calloc(nd, 1);
        if (!ok_cache)
            goto nomem;
        if (want_d)
            d_cache = cairn_calloc(nd, sizeof *d_cache);
        else
            i_cache = cairn_calloc(nd, sizeof *i_cache);
        if (want_d ? !d_cache : !i_cache)
            goto nomem;
        for (uint32_t code = 0; code < fc->dict.n; code++) {
            int64_t iv = 0;
            double dv = 0;
            ok_cache[code] = parse_as(cc->type, cairn_dict_str(&fc->dict, code),
                                      cairn_dict_len(&fc->dict, code), &iv, &dv);
            if (want_d)
                d_cache[code] = dv;
            else
                i_cache[code] = iv;
        }
        for (size_t r = 0; r < n; r++) {
            if (!fc->valid[r])
                continue;
            uint32_t code = fc->v.codes[r];
            if (!ok_cache[code])
                cv->state[r] = ROW_BAD;
            else if (want_d)
                cv->d[r] = d_cache[code];
            else
                cv->i[r] = i_cache[code];
        }
    } else {
        for (size_t r = 0; r < n; r++) {
            if (!fc->valid[r])
                continue;
            int64_t iv = 0;
            double dv = 0;
            text.len = 0;
            cairn_column_value_text(fc, r, &text);
            if (text.failed)
                goto nomem;
            if (!parse_as(cc->type, text.data ? text.data : "", text.len, &iv, &dv))
                cv->state[r] = ROW_BAD;
            else if (want_d)
                cv->d[r] = dv;
            else
                cv->i[r] = iv;
        }
    }
    goto done;
nomem:
    st = cairn_error_set(err, CAIRN_ENOMEM, fc->name, "out of memory checking a column");
done:
    cairn_free(ok_cache);
    cairn_free(i_cache);
    cairn_free(d_cache);
    cairn_buf_reset(&text);
    return st;
}

/* ---- issues -------------------------------------------------------------------- */

/* Rows collected for one issue, in increasing order. */
typedef struct acc {
    uint64_t count;
    size_t n_ex;
    int64_t rows[CAIRN_CHECK_EXAMPLES];
} acc;

static void acc_add(acc *a, size_t row)
{
    if (a->n_ex < CAIRN_CHECK_EXAMPLES)
        a->rows[a->n_ex++] = (int64_t)row;
    a->count++;
}

/* A copy of an example value, cut at a UTF-8 boundary after EXAMPLE_VALUE_MAX bytes. */
static char *example_text(const cairn_column *fc, size_t row, bool *oom)
{
    cairn_buf b;
    if (!fc || row >= fc->n_rows || !fc->valid[row])
        return NULL;
    cairn_buf_init(&b);
    cairn_column_value_text(fc, row, &b);
    if (b.len > EXAMPLE_VALUE_MAX) {
        size_t cut = EXAMPLE_VALUE_MAX;
        while (cut > 0 && ((unsigned char)b.data[cut] & 0xC0) == 0x80)
            cut--;
        b.len = cut;
        b.data[cut] = '\0';
        cairn_buf_puts(&b, "...");
    }
    if (!b.data)
        cairn_buf_append(&b, "", 0);
    char *s = cairn_buf_take(&b);
    if (!s)
        *oom = true;
    return s;
}

static cairn_status add_issue(cairn_check_report *rep, cairn_check_kind kind, bool is_error,
                              const char *column, const acc *a, const cairn_column *fc,
                              const char *detail, cairn_error *err)
{
    bool oom = false;
    cairn_check_issue *is = cairn_reallocarray(rep->issues, rep->n_issues + 1, sizeof *is);
    if (!is)
        return cairn_error_set(err, CAIRN_ENOMEM, column, "out of memory");
    rep->issues = is;
    cairn_check_issue *it = &rep->issues[rep->n_issues];
    memset(it, 0, sizeof *it);
    rep->n_issues++;
    it->kind = kind;
    it->is_error = is_error;
    it->column = cairn_strdup(column ? column : "");
    it->detail = cairn_strdup(detail ? detail : "");
    it->count = a ? a->count : 1;
    if (!it->column || !it->detail)
        oom = true;
    for (size_t k = 0; a && k < a->n_ex; k++) {
        it->example_rows[k] = a->rows[k];
        it->example_values[k] = example_text(fc, (size_t)a->rows[k], &oom);
        it->n_examples = k + 1;
    }
    if (is_error)
        rep->n_errors++;
    else
        rep->n_warnings++;
    if (oom)
        return cairn_error_set(err, CAIRN_ENOMEM, column, "out of memory");
    return CAIRN_OK;
}

/* Adds the issue built in b unless a is empty; resets b. */
static cairn_status add_if(cairn_check_report *rep, cairn_check_kind kind, const char *column,
                           const acc *a, const cairn_column *fc, cairn_buf *b, cairn_error *err)
{
    cairn_status st = CAIRN_OK;
    if (a->count > 0) {
        if (b->failed)
            st = cairn_error_set(err, CAIRN_ENOMEM, column, "out of memory");
        else
            st = add_issue(rep, kind, true, column, a, fc, b->data, err);
    }
    cairn_buf_reset(b);
    return st;
}

/* Sort keys for duplicate detection: values mapped to uint64 in their order. */
typedef struct keyrow {
    uint64_t key;
    size_t row;
} keyrow;

static int cmp_keyrow(const void *a, const void *b)
{
    const keyrow *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->row < y->row ? -1 : x->row > y->row;
}

static uint64_t key_of_double(double v)
{
    uint64_t u;
    if (v == 0.0)
        v = 0.0; /* -0 equals 0 */
    memcpy(&u, &v, sizeof u);
    return (u >> 63) ? ~u : u | ((uint64_t)1 << 63);
}

/* Marks in dup[] the rows that repeat a value of an earlier row. */
static cairn_status find_duplicates(const conv *cv, size_t n, uint8_t *dup, cairn_error *err,
                                    const char *column)
{
    if (cv->codes_ref) {
        uint8_t *seen = cairn_calloc(cv->dict->n ? cv->dict->n : 1, 1);
        if (!seen)
            return cairn_error_set(err, CAIRN_ENOMEM, column, "out of memory");
        for (size_t r = 0; r < n; r++) {
            if (cv->state[r] != ROW_OK)
                continue;
            uint32_t code = cv->codes_ref[r];
            if (seen[code])
                dup[r] = 1;
            seen[code] = 1;
        }
        cairn_free(seen);
        return CAIRN_OK;
    }
    keyrow *kr = cairn_reallocarray(NULL, n ? n : 1, sizeof *kr);
    if (!kr)
        return cairn_error_set(err, CAIRN_ENOMEM, column, "out of memory");
    size_t k = 0;
    for (size_t r = 0; r < n; r++) {
        if (cv->state[r] != ROW_OK)
            continue;
        kr[k].key = cv->d ? key_of_double(cv->d[r]) : (uint64_t)cv->i[r] ^ ((uint64_t)1 << 63);
        kr[k].row = r;
        k++;
    }
    qsort(kr, k, sizeof *kr, cmp_keyrow);
    for (size_t j = 1; j < k; j++)
        if (kr[j].key == kr[j - 1].key)
            dup[kr[j].row] = 1;
    cairn_free(kr);
    return CAIRN_OK;
}

static void put_domain_summary(cairn_buf *b, const cairn_contract_col *cc)
{
    cairn_buf_printf(b, "not in the domain of %zu categories (", cc->n_domain);
    size_t shown = 0;
    for (size_t k = 0; k < cc->n_domain; k++) {
        if (b->len > 160) {
            cairn_buf_puts(b, ", ...");
            break;
        }
        cairn_buf_puts(b, shown++ ? ", " : "");
        cairn_buf_puts(b, cc->domain[k]);
    }
    cairn_buf_putc(b, ')');
}

static cairn_status check_column(const cairn_contract_col *cc, const cairn_column *fc,
                                 cairn_check_report *rep, cairn_error *err)
{
    cairn_status st;
    conv cv;
    acc a;
    cairn_buf b;
    uint8_t *flags = NULL;
    size_t n = fc->n_rows;
    const char *name = cc->name;
    char bound[64];

    cairn_buf_init(&b);
    st = conv_build(cc, fc, &cv, err);
    if (st != CAIRN_OK)
        goto done;

    /* Values that do not convert to the contract type. */
    memset(&a, 0, sizeof a);
    for (size_t r = 0; r < n; r++)
        if (cv.state[r] == ROW_BAD)
            acc_add(&a, r);
    cairn_buf_printf(&b, "expected %s, found %s values that do not convert",
                     cairn_type_name(cc->type), cairn_type_name(fc->type));
    if ((st = add_if(rep, CAIRN_CHECK_WRONG_TYPE, name, &a, fc, &b, err)) != CAIRN_OK)
        goto done;

    /* Nulls: any in a non-nullable column, or a rate above the bound. */
    memset(&a, 0, sizeof a);
    for (size_t r = 0; r < n; r++)
        if (cv.state[r] == ROW_NULL)
            acc_add(&a, r);
    if (a.count > 0) {
        double rate = (double)a.count / (double)n;
        if (!cc->nullable) {
            cairn_buf_printf(&b, "%llu nulls in a column that is not nullable",
                             (unsigned long long)a.count);
        } else if (rate > cc->max_null_rate + 1e-12) {
            char r1[40], r2[40];
            cairn_fmt_double(r1, sizeof r1, rate);
            cairn_fmt_double(r2, sizeof r2, cc->max_null_rate);
            cairn_buf_printf(&b, "null rate %s above the bound %s", r1, r2);
        } else {
            a.count = 0;
        }
        if ((st = add_if(rep, CAIRN_CHECK_NULL_RATE, name, &a, fc, &b, err)) != CAIRN_OK)
            goto done;
    }

    /* Range, on the values that converted. */
    bool ranged = cc->type == CAIRN_TYPE_INT64 || cc->type == CAIRN_TYPE_FLOAT64 ||
                  cc->type == CAIRN_TYPE_TIMESTAMP;
    for (int side = 0; ranged && side < 2; side++) {
        bool has = side == 0 ? cc->has_min : cc->has_max;
        double lim = side == 0 ? cc->min : cc->max;
        if (!has)
            continue;
        memset(&a, 0, sizeof a);
        for (size_t r = 0; r < n; r++) {
            if (cv.state[r] != ROW_OK)
                continue;
            double v = cv.d ? cv.d[r] : (double)cv.i[r];
            if (side == 0 ? v < lim : v > lim)
                acc_add(&a, r);
        }
        cairn_contract_fmt_bound(cc->type, lim, bound, sizeof bound);
        cairn_buf_printf(&b, "%s %s", side == 0 ? "below minimum" : "above maximum", bound);
        if ((st = add_if(rep, side == 0 ? CAIRN_CHECK_BELOW_MIN : CAIRN_CHECK_ABOVE_MAX, name,
                         &a, fc, &b, err)) != CAIRN_OK)
            goto done;
    }

    /* Categories: one domain lookup per distinct value. */
    if (cc->type == CAIRN_TYPE_STRING && cc->domain) {
        uint32_t nd = cv.dict->n ? cv.dict->n : 1;
        flags = cairn_calloc(nd, 1);
        if (!flags) {
            st = cairn_error_set(err, CAIRN_ENOMEM, name, "out of memory");
            goto done;
        }
        for (uint32_t code = 0; code < cv.dict->n; code++)
            flags[code] = cairn_contract_domain_has(cc, cairn_dict_str(cv.dict, code),
                                                    cairn_dict_len(cv.dict, code));
        memset(&a, 0, sizeof a);
        for (size_t r = 0; r < n; r++)
            if (cv.state[r] == ROW_OK && !flags[cv.codes_ref[r]])
                acc_add(&a, r);
        put_domain_summary(&b, cc);
        if ((st = add_if(rep, CAIRN_CHECK_UNKNOWN_CATEGORY, name, &a, fc, &b, err)) != CAIRN_OK)
            goto done;
        cairn_free(flags);
        flags = NULL;
    }

    /* Keys: rows that repeat an earlier row's value. */
    if (cc->unique) {
        flags = cairn_calloc(n ? n : 1, 1);
        if (!flags) {
            st = cairn_error_set(err, CAIRN_ENOMEM, name, "out of memory");
            goto done;
        }
        if ((st = find_duplicates(&cv, n, flags, err, name)) != CAIRN_OK)
            goto done;
        memset(&a, 0, sizeof a);
        for (size_t r = 0; r < n; r++)
            if (flags[r])
                acc_add(&a, r);
        cairn_buf_printf(&b, "%llu rows repeat a value of an earlier row in a unique column",
                         (unsigned long long)a.count);
        if ((st = add_if(rep, CAIRN_CHECK_DUPLICATE_KEY, name, &a, fc, &b, err)) != CAIRN_OK)
            goto done;
    }
done:
    cairn_free(flags);
    cairn_buf_reset(&b);
    conv_reset(&cv);
    return st;
}

cairn_status cairn_contract_check(const cairn_contract *c, const cairn_frame *f,
                                  cairn_check_report *out, cairn_error *err)
{
    cairn_status st = CAIRN_OK;
    memset(out, 0, sizeof *out);
    out->n_rows = f->n_rows;
    for (size_t i = 0; i < c->n_cols; i++) {
        const cairn_contract_col *cc = &c->cols[i];
        long j = cc->name ? cairn_frame_find(f, cc->name) : -1;
        if (j < 0) {
            st = add_issue(out, CAIRN_CHECK_MISSING_COLUMN, true, cc->name, NULL, NULL,
                           "column is in the contract but not in the data", err);
            if (st != CAIRN_OK)
                goto done;
            continue;
        }
        out->n_columns_checked++;
        st = check_column(cc, &f->cols[j], out, err);
        if (st != CAIRN_OK)
            goto done;
    }
    for (size_t j = 0; j < f->n_cols; j++) {
        const char *name = f->cols[j].name ? f->cols[j].name : "";
        if (cairn_contract_find(c, name) >= 0)
            continue;
        st = add_issue(out, CAIRN_CHECK_EXTRA_COLUMN, false, name, NULL, NULL,
                       "column is in the data but not in the contract", err);
        if (st != CAIRN_OK)
            goto done;
    }
done:
    if (st != CAIRN_OK)
        cairn_check_report_reset(out);
    return st;
}

void cairn_check_report_reset(cairn_check_report *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_issues; i++) {
        cairn_check_issue *it = &r->issues[i];
        cairn_free(it->column);
        cairn_free(it->detail);
        for (size_t k = 0; k < it->n_examples; k++)
            cairn_free(it->example_values[k]);
    }
    cairn_free(r->issues);
    memset(r, 0, sizeof *r);
}

const char *cairn_check_kind_name(cairn_check_kind k)
{
    static const char *const names[CAIRN_CHECK_KIND_COUNT_] = {
        "missing_column", "extra_column",     "wrong_type", "below_min",
        "above_max",      "unknown_category", "null_rate",  "duplicate_key",
    };
    if ((unsigned)k >= CAIRN_CHECK_KIND_COUNT_)
        return "unknown";
    return names[k];
}

void cairn_check_report_to_json(const cairn_check_report *r, cairn_buf *b)
{
    cairn_buf_printf(b, "{\"rows\":%llu,\"columns_checked\":%zu,\"errors\":%zu,\"warnings\":%zu,"
                        "\"ok\":%s,\"issues\":[",
                     (unsigned long long)r->n_rows, r->n_columns_checked, r->n_errors,
                     r->n_warnings, r->n_errors == 0 ? "true" : "false");
    for (size_t i = 0; i < r->n_issues; i++) {
        const cairn_check_issue *it = &r->issues[i];
        const char *col = it->column ? it->column : "";
        const char *det = it->detail ? it->detail : "";
        cairn_buf_printf(b, "%s{\"kind\":\"%s\",\"severity\":\"%s\",\"column\":", i ? "," : "",
                         cairn_check_kind_name(it->kind), it->is_error ? "error" : "warning");
        cairn_buf_put_json_string(b, col, strlen(col));
        cairn_buf_printf(b, ",\"count\":%llu,\"detail\":", (unsigned long long)it->count);
        cairn_buf_put_json_string(b, det, strlen(det));
        cairn_buf_puts(b, ",\"examples\":[");
        for (size_t k = 0; k < it->n_examples; k++) {
            cairn_buf_printf(b, "%s{\"row\":%lld,\"value\":", k ? "," : "",
                             (long long)it->example_rows[k]);
            if (it->example_values[k])
                cairn_buf_put_json_string(b, it->example_values[k],
                                          strlen(it->example_values[k]));
            else
                cairn_buf_puts(b, "null");
            cairn_buf_putc(b, '}');
        }
        cairn_buf_puts(b, "]}");
    }
    cairn_buf_puts(b, "]}");
}
