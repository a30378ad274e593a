/*
 * test_frame_util.h -- small helpers for unit tests that build column frames
 * by hand (test_refstats.c, test_drift.c): a test-local generator, so the data
 * does not depend on the code under test, a frame of typed empty columns, and
 * cell setters. Include after <cmocka.h>.
 */
#ifndef CAIRN_TEST_FRAME_UTIL_H
#define CAIRN_TEST_FRAME_UTIL_H

#include "data/frame.h"

#include <stdint.h>
#include <string.h>

static inline uint64_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

/* n_cols columns of n_rows rows, every cell missing. */
static inline cairn_frame *frame_make(size_t n_cols, size_t n_rows, const cairn_type *types,
                                      const char *const *names)
{
    cairn_frame *f = NULL;
    assert_int_equal(cairn_frame_new(n_cols, &f, NULL), CAIRN_OK);
    for (size_t j = 0; j < n_cols; j++)
        assert_int_equal(cairn_column_alloc(&f->cols[j], names[j], types[j], n_rows, NULL),
                         CAIRN_OK);
    f->n_rows = n_rows;
    return f;
}

static inline void set_f64(cairn_column *c, size_t i, double v)
{
    c->valid[i] = 1;
    c->v.f64[i] = v;
}

static inline void set_str(cairn_column *c, size_t i, const char *s)
{
    uint32_t code;
    assert_int_equal(cairn_dict_intern(&c->dict, s, strlen(s), &code), CAIRN_OK);
    c->valid[i] = 1;
    c->v.codes[i] = code;
}

#endif /* CAIRN_TEST_FRAME_UTIL_H */
