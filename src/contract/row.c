/*
 * row.c -- validating one row (a serving request's instance, a line of a
 * batch file) against a contract, with one violation per bad field. The
 * serving layer turns the list into the 422 reply; cairn predict uses it for
 * --on-error.
 *
 * What a row must satisfy (docs/contract.md has the user's version):
 *  - every field names a contract column ("unknown field") and appears once
 *    ("duplicate field");
 *  - a feature column that is not nullable must be present ("missing
 *    required field"); label, entity and time columns are optional, since a
 *    request to score does not carry its label and the model does not use
 *    the others as features; columns with role ignore are accepted and not
 *    checked at all;
 *  - a null in a column that is not nullable is a violation; a missing
 *    nullable column counts as null and is fine;
 *  - types, leniently where a client cannot do better: int64 takes integral
 *    JSON numbers (3.0 but not 3.5) and strings that parse as integers;
 *    float64 takes numbers and numeric strings; bool takes true/false, the
 *    numbers 0 and 1 and the strings cairn_parse_bool accepts; timestamps
 *    take ISO 8601 strings only (a bare number is ambiguous: seconds or
 *    milliseconds?); string columns take strings, and numbers or booleans by
 *    their text, as the frame check compares them;
 *  - then range (min/max) and domain ("unknown category").
 * Nothing is allocated except the violation list itself, and the contract is
 * only read, so threads may share it.
 */
#include "contract/contract_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Copies s[0..n) into out (cap bytes), cutting at a UTF-8 boundary and
 * marking the cut with "...". */
static void copy_trunc(char *out, size_t cap, const char *s, size_t n)
{
    if (n < cap) {
        memcpy(out, s, n);
        out[n] = '\0';
        return;
    }
    size_t cut = cap - 4;
    while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80)
        cut--;
    memcpy(out, s, cut);
    memcpy(out + cut, "...", 4);
}

static void value_text(const cairn_field *fd, char *out, size_t cap)
{
    switch (fd->kind) {
    case CAIRN_VALUE_BOOL: snprintf(out, cap, "%s", fd->b ? "true" : "false"); break;
    case CAIRN_VALUE_NUMBER: {
        char tmp[40];
        cairn_fmt_double(tmp, sizeof tmp, fd->num);
        snprintf(out, cap, "%s", tmp);
        break;
    }
    case CAIRN_VALUE_STRING:
        copy_trunc(out, cap, fd->str ? fd->str : "", fd->str ? fd->str_len : 0);
        break;
    default: out[0] = '\0'; break;
    }
}

static cairn_status add_violation(cairn_violations *v, long row, const char *field,
                                  const char *problem, const cairn_field *fd, cairn_error *err)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 8;
        cairn_violation *items = cairn_reallocarray(v->items, cap, sizeof *items);
        if (!items)
            return cairn_error_set(err, CAIRN_ENOMEM, field, "out of memory");
        v->items = items;
        v->cap = cap;
    }
    cairn_violation *it = &v->items[v->n++];
    memset(it, 0, sizeof *it);
    it->row = row;
    copy_trunc(it->field, sizeof it->field, field ? field : "", field ? strlen(field) : 0);
    snprintf(it->problem, sizeof it->problem, "%s", problem);
    if (fd)
        value_text(fd, it->value, sizeof it->value);
    return CAIRN_OK;
}

/* 2^63: integral doubles strictly inside (-2^63, 2^63) are int64 values. */
#define TWO63 9223372036854775808.0

/*
 * Checks one value against its column; returns the problem, or NULL when
 * the value is fine. `buf` holds a formatted problem when one is returned.
 */
static const char *check_value(const cairn_contract_col *col, const cairn_field *fd, char *buf,
                               size_t cap)
{
    double num = 0;
    int64_t iv = 0;
    bool bv;
    if (fd->kind == CAIRN_VALUE_NULL)
        return col->nullable ? NULL : "must not be null";
    const char *s = fd->str ? fd->str : "";
    size_t n = fd->str ? fd->str_len : 0;

    switch (col->type) {
    case CAIRN_TYPE_BOOL:
        if (fd->kind == CAIRN_VALUE_BOOL ||
            (fd->kind == CAIRN_VALUE_NUMBER && (fd->num == 0.0 || fd->num == 1.0)) ||
            (fd->kind == CAIRN_VALUE_STRING && cairn_parse_bool(s, n, &bv)))
            return NULL;
        return "expected a boolean";
    case CAIRN_TYPE_INT64:
        if (fd->kind == CAIRN_VALUE_NUMBER && isfinite(fd->num) && fd->num == floor(fd->num) &&
            fd->num > -TWO63 && fd->num < TWO63)
            num = fd->num;
        else if (fd->kind == CAIRN_VALUE_STRING && cairn_parse_int64(s, n, &iv))
            num = (double)iv;
        else
            return "expected an integer";
        break;
    case CAIRN_TYPE_FLOAT64:
        if (fd->kind == CAIRN_VALUE_NUMBER && isfinite(fd->num))
            num = fd->num;
        else if (!(fd->kind == CAIRN_VALUE_STRING && cairn_parse_double(s, n, &num) &&
                   isfinite(num)))
            return "expected a number";
        break;
    case CAIRN_TYPE_TIMESTAMP:
        if (fd->kind == CAIRN_VALUE_STRING && cairn_parse_timestamp(s, n, &iv)) {
            num = (double)iv;
            break;
        }
        return "expected an ISO 8601 timestamp";
    case CAIRN_TYPE_STRING: {
        char tmp[48];
        if (fd->kind == CAIRN_VALUE_BOOL) {
            s = fd->b ? "true" : "false";
            n = strlen(s);
        } else if (fd->kind == CAIRN_VALUE_NUMBER) {
            if (!isfinite(fd->num))
                return "expected a string";
            /* Integral numbers as integers, the way a CSV column would spell them. */
            if (fd->num == floor(fd->num) && fd->num > -TWO63 && fd->num < TWO63)
                snprintf(tmp, sizeof tmp, "%lld", (long long)fd->num);
            else
                cairn_fmt_double(tmp, sizeof tmp, fd->num);
            s = tmp;
            n = strlen(tmp);
        }
        return cairn_contract_domain_has(col, s, n) ? NULL : "unknown category";
    }
    default: return "column has no valid type in the contract";
    }

    char bound[64];
    if (col->has_min && num < col->min) {
        cairn_contract_fmt_bound(col->type, col->min, bound, sizeof bound);
        snprintf(buf, cap, "below minimum %s", bound);
        return buf;
    }
    if (col->has_max && num > col->max) {
        cairn_contract_fmt_bound(col->type, col->max, bound, sizeof bound);
        snprintf(buf, cap, "above maximum %s", bound);
        return buf;
    }
    return NULL;
}

CAIRN_API cairn_status cairn_contract_validate_row(const cairn_contract *c,
                                                   const cairn_field *fields, size_t n, long row,
                                                   cairn_violations *out, cairn_error *err)
{
    cairn_status st = CAIRN_OK;
    uint8_t seen_small[256];
    uint8_t *seen = seen_small;
    size_t before = out->n;
    char problem[160];

    if (c->n_cols > sizeof seen_small) {
        seen = cairn_calloc(c->n_cols, 1);
        if (!seen)
            return cairn_error_set(err, CAIRN_ENOMEM, NULL, "out of memory");
    } else {
        memset(seen_small, 0, sizeof seen_small);
    }

    size_t next = 0;
    for (size_t i = 0; i < n; i++) {
        const cairn_field *fd = &fields[i];
        const char *name = fd->name ? fd->name : "";
        /* Clients usually send fields in the contract's order: start after the last match. */
        long j = cairn_contract_find_from(c, name, next);
        const char *why = NULL;
        if (j >= 0)
            next = (size_t)j + 1 < c->n_cols ? (size_t)j + 1 : 0;
        if (j < 0)
            why = "unknown field";
        else if (seen[j])
            why = "duplicate field";
        else {
            seen[j] = 1;
            if (c->cols[j].role != CAIRN_ROLE_IGNORE)
                why = check_value(&c->cols[j], fd, problem, sizeof problem);
        }
        if (why && (st = add_violation(out, row, name, why, fd, err)) != CAIRN_OK)
            goto done;
    }
    for (size_t j = 0; j < c->n_cols; j++) {
        const cairn_contract_col *col = &c->cols[j];
        if (seen[j] || col->role != CAIRN_ROLE_FEATURE || col->nullable)
            continue;
        if ((st = add_violation(out, row, col->name, "missing required field", NULL, err)) !=
            CAIRN_OK)
            goto done;
    }
    if (out->n > before)
        st = CAIRN_ECHECK;
done:
    if (seen != seen_small)
        cairn_free(seen);
    return st;
}

CAIRN_API void cairn_violations_reset(cairn_violations *v)
{
    if (!v)
        return;
    cairn_free(v->items);
    memset(v, 0, sizeof *v);
}
