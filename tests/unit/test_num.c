/*
 * test_num.c -- number formatting in core (src/core/num.c): cairn_fmt_score,
 * whose integer-arithmetic path must give exactly the text of snprintf's
 * "%.16g" when that reads back, else "%.17g". Checked against libc on random
 * bit patterns over the whole double range and inside the fast range, on
 * probabilities, short decimals, powers of two and ten and their neighbours,
 * and on the special values. Also cairn_buf_put_json_number: the shortest
 * round-tripping text for finite numbers, null for NaN and infinities.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "core/core.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s;
}

static uint64_t rnd64(uint64_t *s)
{
    return (lcg(s) >> 32) << 32 | (lcg(s) >> 32);
}

/* The oracle: libc, as the server wrote scores before cairn_fmt_score. */
static void ref(char *out, double v)
{
    snprintf(out, 40, "%.16g", v);
    if (strtod(out, NULL) != v)
        snprintf(out, 40, "%.17g", v);
}

static long mismatches;

static void check(double v)
{
    char want[40], got[40];
    ref(want, v);
    memset(got, 'x', sizeof got);
    size_t n = cairn_fmt_score(got, v);
    if (n != strlen(want) || strcmp(got, want) != 0) {
        if (mismatches++ < 10)
            print_error("%a: want %s, got %.*s\n", v, want, (int)n, got);
    }
}

static double from_bits(uint64_t b)
{
    double d;
    memcpy(&d, &b, sizeof d);
    return d;
}

static void test_specials(void **state)
{
    (void)state;
    mismatches = 0;
    double v[] = {0.0, -0.0, 1.0, -1.0, 0.5, 0.1, 0.2, 0.3, 1e-4, -1e-4, 9.999999999999999e-5,
                  1e15, -1e15, 999999999999999.9, 1e15 - 1, 123456789012345.6, 5e-324,
                  2.2250738585072014e-308, 1.7976931348623157e308, INFINITY, -INFINITY, NAN,
                  0.30000000000000004, 1.0000000000000002, 0.9999999999999999,
                  4503599627370496.0, 9007199254740993.0, 0.6931471805599453,
                  0.8414709848078965, 2.718281828459045, 3.141592653589793};
    for (size_t i = 0; i < sizeof v / sizeof *v; i++)
        check(v[i]);
    assert_int_equal(mismatches, 0);
}

static void test_neighbours(void **state)
{
    (void)state;
    mismatches = 0;
    /* Powers of two and of ten, where the rounding interval is lopsided or the digit
     * count changes, and a few ulps each side. */
    for (int e = -20; e <= 55; e++) {
        double c[2] = {ldexp(1.0, e), pow(10.0, e / 4.0)};
        for (int k = 0; k < 2; k++) {
            double x = c[k];
            for (int u = 0; u < 4; u++)
                x = nextafter(x, 0);
            for (int u = 0; u < 9; u++) {
                check(x);
                check(-x);
                x = nextafter(x, INFINITY);
            }
        }
    }
    for (int e = -5; e <= 16; e++) {
        double x = pow(10.0, e);
        for (int u = 0; u < 3; u++)
            x = nextafter(x, 0);
        for (int u = 0; u < 7; u++) {
            check(x);
            x = nextafter(x, INFINITY);
        }
    }
    assert_int_equal(mismatches, 0);
}

static void test_random(void **state)
{
    (void)state;
    mismatches = 0;
    uint64_t s = 20261123;
    for (int i = 0; i < 200000; i++) {
        /* any bit pattern: every exponent, the slow path included */
        check(from_bits(rnd64(&s)));
        /* inside the fast range: exponents of 1e-4 .. 1e15 */
        uint64_t m = rnd64(&s) & ((1ull << 52) - 1);
        uint64_t e = 1023 - 14 + lcg(&s) % 64;
        check(from_bits(e << 52 | m | (lcg(&s) & 1ull << 63)));
        /* probabilities, as a model writes them */
        check((double)(rnd64(&s) >> 11) / 9007199254740992.0);
        /* short decimals */
        check((double)(int64_t)(lcg(&s) % 2000000 - 1000000) / 1000.0);
        check(1.0 / (1.0 + exp(-((double)(int64_t)(lcg(&s) % 20000) / 1000.0 - 10.0))));
    }
    assert_int_equal(mismatches, 0);
}

/* Finite numbers read back exactly; NaN and infinities (which JSON lacks) are null. */
static void test_json_number(void **state)
{
    (void)state;
    double v[] = {0.0, 0.1, -2.5, 1e300, 5e-324, 0.30000000000000004, NAN, INFINITY, -INFINITY};
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        cairn_buf b;
        cairn_buf_init(&b);
        cairn_buf_puts(&b, "[");
        cairn_buf_put_json_number(&b, v[i]);
        cairn_buf_puts(&b, "]");
        assert_false(b.failed);
        char *text = cairn_buf_take(&b);
        if (isfinite(v[i])) {
            char *end;
            double back = strtod(text + 1, &end);
            assert_string_equal(end, "]");
            assert_memory_equal(&back, &v[i], sizeof back);
        } else {
            assert_string_equal(text, "[null]");
        }
        free(text);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_specials),
        cmocka_unit_test(test_neighbours),
        cmocka_unit_test(test_random),
        cmocka_unit_test(test_json_number),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
