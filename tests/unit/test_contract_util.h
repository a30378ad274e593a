/*
 * test_contract_util.h -- helpers shared by the contract module's unit tests:
 * frames built by hand (cairn_column_alloc + cairn_dict_intern) and column
 * statistics computed here, independently of src/data/stats.c.
 */
#ifndef CAIRN_TEST_CONTRACT_UTIL_H
#define CAIRN_TEST_CONTRACT_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "contract/contract.h"

/* A string column from vals (NULL = null row). */
static inline void tc_col_str(cairn_frame *f, size_t i, const char *name, const char *const *vals)
{
    cairn_column *c = &f->cols[i];
    assert_int_equal(cairn_column_alloc(c, name, CAIRN_TYPE_STRING, f->n_rows, NULL), CAIRN_OK);
    for (size_t r = 0; r < f->n_rows; r++) {
        if (!vals[r])
            continue;
        c->valid[r] = 1;
        assert_int_equal(cairn_dict_intern(&c->dict, vals[r], strlen(vals[r]), &c->v.codes[r]),
                         CAIRN_OK);
    }
}

/* Sets row r of a string column to s (interning it). */
static inline void tc_set_str(cairn_column *c, size_t r, const char *s)
{
    c->valid[r] = 1;
    assert_int_equal(cairn_dict_intern(&c->dict, s, strlen(s), &c->v.codes[r]), CAIRN_OK);
}

/* An int64 or timestamp column; valid may be NULL (all present). */
static inline void tc_col_i64(cairn_frame *f, size_t i, const char *name, cairn_type t,
                              const int64_t *vals, const uint8_t *valid)
{
    cairn_column *c = &f->cols[i];
    assert_int_equal(cairn_column_alloc(c, name, t, f->n_rows, NULL), CAIRN_OK);
    for (size_t r = 0; r < f->n_rows; r++) {
        c->valid[r] = valid ? valid[r] : 1;
        c->v.i64[r] = c->valid[r] ? vals[r] : 0;
    }
}

static inline void tc_col_f64(cairn_frame *f, size_t i, const char *name, const double *vals,
                              const uint8_t *valid)
{
    cairn_column *c = &f->cols[i];
    assert_int_equal(cairn_column_alloc(c, name, CAIRN_TYPE_FLOAT64, f->n_rows, NULL), CAIRN_OK);
    for (size_t r = 0; r < f->n_rows; r++) {
        c->valid[r] = valid ? valid[r] : 1;
        c->v.f64[r] = c->valid[r] ? vals[r] : 0;
    }
}

static inline void tc_col_bool(cairn_frame *f, size_t i, const char *name, const uint8_t *vals,
                               const uint8_t *valid)
{
    cairn_column *c = &f->cols[i];
    assert_int_equal(cairn_column_alloc(c, name, CAIRN_TYPE_BOOL, f->n_rows, NULL), CAIRN_OK);
    for (size_t r = 0; r < f->n_rows; r++) {
        c->valid[r] = valid ? valid[r] : 1;
        c->v.b[r] = c->valid[r] ? vals[r] : 0;
    }
}

static inline cairn_frame *tc_frame(size_t n_cols, size_t n_rows)
{
    cairn_frame *f = NULL;
    assert_int_equal(cairn_frame_new(n_cols, &f, NULL), CAIRN_OK);
    f->n_rows = n_rows;
    return f;
}

/*
 * Statistics by hand: the fields contract inference reads (type, count,
 * nulls, min, max; distinct for strings), computed by a plain loop. Free
 * with free() (nothing inside is owned).
 */
static inline cairn_colstats *tc_stats(const cairn_frame *f)
{
    cairn_colstats *s = calloc(f->n_cols ? f->n_cols : 1, sizeof *s);
    assert_non_null(s);
    for (size_t i = 0; i < f->n_cols; i++) {
        const cairn_column *c = &f->cols[i];
        s[i].type = c->type;
        s[i].finished = true;
        bool first = true;
        for (size_t r = 0; r < c->n_rows; r++) {
            if (!c->valid[r]) {
                s[i].nulls++;
                continue;
            }
            s[i].count++;
            double v = 0;
            switch (c->type) {
            case CAIRN_TYPE_BOOL: v = c->v.b[r]; break;
            case CAIRN_TYPE_INT64:
            case CAIRN_TYPE_TIMESTAMP: v = (double)c->v.i64[r]; break;
            case CAIRN_TYPE_FLOAT64: v = c->v.f64[r]; break;
            default: continue;
            }
            if (first || v < s[i].min)
                s[i].min = v;
            if (first || v > s[i].max)
                s[i].max = v;
            first = false;
        }
        if (c->type == CAIRN_TYPE_STRING)
            s[i].distinct = c->dict.n;
    }
    return s;
}

/* Parses YAML text, asserting success. */
static inline cairn_contract *tc_parse(const char *yaml)
{
    cairn_contract *c = NULL;
    cairn_error err = {0};
    cairn_status st = cairn_contract_parse(yaml, strlen(yaml), "t.yaml", &c, &err);
    if (st != CAIRN_OK)
        print_error("parse failed: %s (%s)\n", err.msg, err.where);
    assert_int_equal(st, CAIRN_OK);
    return c;
}

#endif /* CAIRN_TEST_CONTRACT_UTIL_H */
