/*
 * contract.c -- the contract object itself: names of roles and PII kinds,
 * lookups, freeing, loading from and writing to a file, and the small helpers
 * (bound formatting, domain sorting, used-code marking) that the other files
 * of the module share. Inference, PII detection, YAML, frame checks and row
 * validation live in infer.c, pii.c, yaml.c, check.c and row.c.
 */
#include "contract/contract_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* A contract file larger than this is refused before reading: even a wide
 * dataset's contract is a few hundred kilobytes. */
#define CONTRACT_MAX_FILE_BYTES ((size_t)64 << 20)

static const char *const role_names[] = {"feature", "label", "entity", "time", "ignore"};
static const char *const pii_names[] = {"none", "email",       "phone",      "card",
                                        "national_id", "ip", "person_name"};

const char *cairn_role_name(cairn_role r)
{
    if ((unsigned)r >= CAIRN_ARRAY_LEN(role_names))
        return "feature";
    return role_names[r];
}

const char *cairn_pii_name(cairn_pii p)
{
    if ((unsigned)p >= CAIRN_ARRAY_LEN(pii_names))
        return "none";
    return pii_names[p];
}

bool cairn_role_parse(const char *s, cairn_role *out)
{
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(role_names); i++)
        if (strcmp(s, role_names[i]) == 0) {
            *out = (cairn_role)i;
            return true;
        }
    return false;
}

bool cairn_pii_parse(const char *s, cairn_pii *out)
{
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(pii_names); i++)
        if (strcmp(s, pii_names[i]) == 0) {
            *out = (cairn_pii)i;
            return true;
        }
    return false;
}

void cairn_infer_opts_init(cairn_infer_opts *o)
{
    memset(o, 0, sizeof *o);
    o->max_domain = 50;
}

void cairn_contract_col_reset(cairn_contract_col *col)
{
    cairn_free(col->name);
    if (col->domain) {
        for (size_t i = 0; i < col->n_domain; i++)
            cairn_free(col->domain[i]);
        cairn_free(col->domain);
    }
    memset(col, 0, sizeof *col);
}

CAIRN_API void cairn_contract_free(cairn_contract *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_cols; i++)
        cairn_contract_col_reset(&c->cols[i]);
    cairn_free(c->cols);
    cairn_free(c->dataset);
    cairn_free(c);
}

long cairn_contract_find_from(const cairn_contract *c, const char *name, size_t from)
{
    if (!c || !name)
        return -1;
    size_t n = c->n_cols;
    if (from >= n)
        from = 0;
    for (size_t k = 0; k < n; k++) {
        size_t i = from + k < n ? from + k : from + k - n;
        if (c->cols[i].name && strcmp(c->cols[i].name, name) == 0)
            return (long)i;
    }
    return -1;
}

long cairn_contract_find(const cairn_contract *c, const char *name)
{
    return cairn_contract_find_from(c, name, 0);
}

/* Byte-wise comparison of a NUL-terminated string with s[0..n), in strcmp order. */
static int cmp_str_len(const char *a, const char *s, size_t n)
{
    size_t la = strlen(a);
    int r = memcmp(a, s, la < n ? la : n);
    if (r)
        return r;
    return la < n ? -1 : la > n ? 1 : 0;
}

bool cairn_contract_domain_has(const cairn_contract_col *col, const char *s, size_t n)
{
    if (!col->domain)
        return true;
    if (col->domain_sorted) {
        size_t lo = 0, hi = col->n_domain;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            int r = cmp_str_len(col->domain[mid], s, n);
            if (r == 0)
                return true;
            if (r < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        return false;
    }
    for (size_t i = 0; i < col->n_domain; i++)
        if (cmp_str_len(col->domain[i], s, n) == 0)
            return true;
    return false;
}

static int cmp_strp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void cairn_contract_domain_sort(char **domain, size_t *n)
{
    if (!domain || *n < 2)
        return;
    qsort(domain, *n, sizeof *domain, cmp_strp);
    size_t w = 1;
    for (size_t i = 1; i < *n; i++) {
        if (strcmp(domain[i], domain[w - 1]) == 0)
            cairn_free(domain[i]);
        else
            domain[w++] = domain[i];
    }
    *n = w;
}

void cairn_contract_fmt_bound(cairn_type t, double v, char *out, size_t cap)
{
    /* 2^63 as a double; integral doubles strictly inside (-2^63, 2^63) convert exactly. */
    const double lim = 9223372036854775808.0;
    if (t == CAIRN_TYPE_TIMESTAMP && isfinite(v) && v > -lim && v < lim) {
        cairn_fmt_timestamp(out, cap, (int64_t)v);
        return;
    }
    if ((t == CAIRN_TYPE_INT64 || t == CAIRN_TYPE_BOOL) && isfinite(v) && v == floor(v) &&
        v > -lim && v < lim) {
        snprintf(out, cap, "%lld", (long long)v);
        return;
    }
    cairn_fmt_double(out, cap, v);
}

cairn_status cairn_contract_codes_used(const cairn_column *c, uint8_t **used_out, size_t *n_used,
                                       cairn_error *err)
{
    *used_out = NULL;
    *n_used = 0;
    uint8_t *used = cairn_calloc(c->dict.n ? c->dict.n : 1, 1);
    if (!used)
        return cairn_error_set(err, CAIRN_ENOMEM, c->name, "out of memory");
    size_t k = 0;
    for (size_t r = 0; r < c->n_rows; r++) {
        if (!c->valid[r])
            continue;
        uint32_t code = c->v.codes[r];
        if (code >= c->dict.n) {
            cairn_free(used);
            return cairn_error_set(err, CAIRN_ECORRUPT, c->name,
                                   "string code %u outside the dictionary of %u values at row %zu",
                                   code, c->dict.n, r);
        }
        if (!used[code]) {
            used[code] = 1;
            k++;
        }
    }
    *used_out = used;
    *n_used = k;
    return CAIRN_OK;
}

void cairn_contract_name_norm(const char *s, char *out, size_t cap)
{
    size_t w = 0;
    if (cap == 0)
        return;
    for (; *s && w + 1 < cap; s++) {
        char ch = *s;
        if (ch == '_' || ch == '-' || ch == ' ' || ch == '.')
            continue;
        out[w++] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
    }
    out[w] = '\0';
}

CAIRN_API cairn_status cairn_contract_load(const char *path, cairn_contract **out,
                                           cairn_error *err)
{
    char *text = NULL;
    size_t len = 0;
    cairn_status st;
    struct stat sb;
    *out = NULL;
    if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode) &&
        (uint64_t)sb.st_size > CONTRACT_MAX_FILE_BYTES)
        return cairn_error_set(err, CAIRN_ETOOBIG, path,
                               "contract file is larger than %zu bytes", CONTRACT_MAX_FILE_BYTES);
    st = cairn_read_file(path, &text, &len, err);
    if (st != CAIRN_OK)
        goto done;
    st = cairn_contract_parse(text, len, path, out, err);
done:
    cairn_free(text);
    return st;
}

cairn_status cairn_contract_write(const cairn_contract *c, const char *path, cairn_error *err)
{
    cairn_buf b;
    cairn_buf_init(&b);
    cairn_contract_to_yaml(c, &b);
    cairn_status st;
    if (b.failed)
        st = cairn_error_set(err, CAIRN_ENOMEM, path, "out of memory writing the contract");
    else
        st = cairn_write_file_atomic(path, b.data ? b.data : "", b.len, err);
    cairn_buf_reset(&b);
    return st;
}
