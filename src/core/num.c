/*
 * num.c -- locale-independent number parsing and formatting.
 *
 * Parsing is on the ingest hot path (tens of millions of fields), so decimal
 * numbers take Clinger's fast path (W. D. Clinger, "How to read floating
 * point numbers accurately", PLDI 1990): when the significand has at most 15
 * digits and the decimal exponent is within +-22, both are exact doubles and
 * one IEEE multiplication or division gives the correctly rounded result.
 * Everything else falls back to strtod, which is correct in the "C" locale
 * that a library which never calls setlocale() runs in.
 */
#include "core/core.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double pow10_exact[23] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

bool cairn_parse_int64(const char *s, size_t n, int64_t *out)
{
    size_t i = 0;
    bool neg = false;
    if (n == 0)
        return false;
    if (s[0] == '-' || s[0] == '+') {
        neg = s[0] == '-';
        i = 1;
        if (n == 1)
            return false;
    }
    uint64_t v = 0;
    for (; i < n; i++) {
        unsigned d = (unsigned)(unsigned char)s[i] - '0';
        if (d > 9)
            return false;
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (neg) {
        if (v > (uint64_t)INT64_MAX + 1)
            return false;
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    } else {
        if (v > (uint64_t)INT64_MAX)
            return false;
        *out = (int64_t)v;
    }
    return true;
}

/* Checks the syntax [+-] digits [. digits] [(e|E) [+-] digits] with at least one digit. */
bool cairn_parse_double(const char *s, size_t n, double *out)
{
    size_t i = 0;
    bool neg = false;
    if (n == 0 || n > 400)
        return false;
    if (s[0] == '-' || s[0] == '+') {
        neg = s[0] == '-';
        i++;
    }
    uint64_t mant = 0;
    int n_sig = 0;      /* significant digits accumulated in mant */
    int drop = 0;       /* integer digits that did not fit in mant */
    int frac = 0;       /* fraction digits accumulated in mant */
    size_t n_digits = 0;
    bool inexact = false;
    for (; i < n && (unsigned)(unsigned char)s[i] - '0' <= 9; i++, n_digits++) {
        unsigned d = (unsigned)(unsigned char)s[i] - '0';
        if (n_sig < 19) {
            mant = mant * 10 + d;
            if (mant)
                n_sig++;
        } else {
            drop++;
            if (d)
                inexact = true;
        }
    }
    if (i < n && s[i] == '.') {
        i++;
        for (; i < n && (unsigned)(unsigned char)s[i] - '0' <= 9; i++, n_digits++) {
            unsigned d = (unsigned)(unsigned char)s[i] - '0';
            if (n_sig < 19) {
                mant = mant * 10 + d;
                if (mant)
                    n_sig++;
                frac++;
            } else if (d) {
                inexact = true;
            }
        }
    }
    if (n_digits == 0)
        return false;
    long exp10 = 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        bool eneg = false;
        if (i < n && (s[i] == '-' || s[i] == '+')) {
            eneg = s[i] == '-';
            i++;
        }
        if (i >= n)
            return false;
        for (; i < n; i++) {
            unsigned d = (unsigned)(unsigned char)s[i] - '0';
            if (d > 9)
                return false;
            if (exp10 < 100000)
                exp10 = exp10 * 10 + d;
        }
        if (eneg)
            exp10 = -exp10;
    }
    if (i != n)
        return false;
    long e = exp10 + drop - frac;
    if (!inexact && n_sig <= 15 && e >= -22 && e <= 22) {
        double v = (double)mant;
        v = e < 0 ? v / pow10_exact[-e] : v * pow10_exact[e];
        *out = neg ? -v : v;
        return true;
    }
    /* Slow path: strtod on a NUL-terminated copy. */
    char tmp[416];
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    char *end = NULL;
    double v = strtod(tmp, &end);
    if (end != tmp + n || !isfinite(v))
        return false; /* overflow to infinity is not a number we can store */
    *out = v;
    return true;
}

bool cairn_parse_bool(const char *s, size_t n, bool *out)
{
    /* Accepted spellings: true/false in any case, and T/F. 0/1 stay integers. */
    static const char *const yes[] = {"true", "t"};
    static const char *const no[] = {"false", "f"};
    if (n == 0 || n > 5)
        return false;
    char low[6];
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        low[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    low[n] = '\0';
    for (size_t k = 0; k < 2; k++) {
        if (strcmp(low, yes[k]) == 0) {
            *out = true;
            return true;
        }
        if (strcmp(low, no[k]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

__extension__ typedef unsigned __int128 score_u128;

/* 10^k for k <= 38. */
static score_u128 score_pow10(int k)
{
    static const uint64_t p[20] = {1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull,
                                   10000000ull, 100000000ull, 1000000000ull, 10000000000ull,
                                   100000000000ull, 1000000000000ull, 10000000000000ull,
                                   100000000000000ull, 1000000000000000ull,
                                   10000000000000000ull, 100000000000000000ull,
                                   1000000000000000000ull, 10000000000000000000ull};
    return k < 20 ? (score_u128)p[k] : (score_u128)p[19] * p[k - 19];
}

/* floor(v 10^k) for v = m 2^-s, with n = m 10^k in *n_out and how the dropped fraction
 * compares with one half in *half_cmp (-1, 0, 1); exact in 128 bits for the ranges
 * fmt_score admits (m < 2^53, k <= 21, 1 <= s <= 66). */
static uint64_t score_digits(uint64_t m, int s, int k, int *half_cmp, score_u128 *n_out)
{
    score_u128 n = (score_u128)m * score_pow10(k);
    *n_out = n;
    score_u128 rem = n & (((score_u128)1 << s) - 1), half = (score_u128)1 << (s - 1);
    *half_cmp = rem < half ? -1 : rem > half;
    return (uint64_t)(n >> s);
}

/*
 * cairn_fmt_score's text computed exactly in integers for
 * 1e-4 <= |v| < 1e15, where %g writes fixed notation; 0 outside that range
 * (the caller falls back to snprintf). out needs 32 bytes. v = m 2^-s exactly, so
 * v 10^k = m 10^k / 2^s: the digits and their rounding (half to even, as printf)
 * come from one 128-bit product, and whether 16 digits read back is whether they
 * lie inside v's rounding interval (half an ulp each side, a quarter below a power
 * of two; the bound itself reads back to v only when m is even).
 */
static size_t fmt_fixed_16_17(char *out, double v)
{
    double a = fabs(v);
    if (!(a >= 1e-4 && a < 1e15))
        return 0;
    uint64_t bits;
    memcpy(&bits, &a, sizeof bits);            /* normal here: the range excludes subnormals */
    uint64_t m = (bits & ((1ull << 52) - 1)) | (1ull << 52);
    int s = 1075 - (int)(bits >> 52);          /* a = m 2^-s, s in [3, 66] */
    /* floor(log10(a)) to within one (log10(2) ~ 0.30103 per binary exponent); the digit
     * count corrects it below. */
    int x = ((52 - s) * 30103) / 100000 - ((52 - s) < 0);
    char digits[20];
    int nd = 0, xp = 0;
    for (int p = 16; p <= 17 && !nd; p++) {
        uint64_t lo = p == 16 ? 1000000000000000ull : 10000000000000000ull;
        int k, cmp;
        uint64_t q;
        score_u128 n;
        for (;;) {
            k = p - 1 - x;
            if (k < 0 || k > 21)
                return 0;
            q = score_digits(m, s, k, &cmp, &n);
            if (q < lo)
                x--;
            else if (q >= lo * 10)
                x++;
            else
                break;
        }
        if (x < -4)
            return 0;
        if (cmp > 0 || (cmp == 0 && (q & 1)))
            q++;
        if (p == 16) {
            /* d = q / 10^k reads back as v when |q 2^(s+1) - 2n| < 10^k (the half-ulp,
             * scaled), or < 10^k / 2 below a power of two; equal: only when m is even. */
            score_u128 qs = (score_u128)q << (s + 1), n2 = n << 1, tenk = score_pow10(k);
            bool below = qs < n2;
            score_u128 diff = below ? n2 - qs : qs - n2;
            if (below && m == (1ull << 52))
                diff <<= 1;
            if (!(diff < tenk || (diff == tenk && !(m & 1))))
                continue;
        }
        xp = x;
        if (q == lo * 10) {   /* rounded up to the next power of ten */
            q = lo;
            xp = x + 1;
        }
        if (xp >= p)
            return 0;
        for (int i = p - 1; i >= 0; i--) {
            digits[i] = (char)('0' + q % 10);
            q /= 10;
        }
        nd = p;
    }
    while (nd > 1 && digits[nd - 1] == '0' && nd > xp + 1)
        nd--;
    char *o = out;
    if (v < 0)
        *o++ = '-';
    if (xp >= 0) {
        for (int i = 0; i <= xp; i++)
            *o++ = digits[i];
        if (nd > xp + 1) {
            *o++ = '.';
            for (int i = xp + 1; i < nd; i++)
                *o++ = digits[i];
        }
    } else {
        *o++ = '0';
        *o++ = '.';
        for (int i = 0; i < -xp - 1; i++)
            *o++ = '0';
        for (int i = 0; i < nd; i++)
            *o++ = digits[i];
    }
    *o = '\0';
    return (size_t)(o - out);
}

size_t cairn_fmt_score(char *out, double v)
{
    size_t n = fmt_fixed_16_17(out, v);
    if (n)
        return n;
    snprintf(out, 32, "%.16g", v);
    if (strtod(out, NULL) != v)
        snprintf(out, 32, "%.17g", v);
    return strlen(out);
}

void cairn_fmt_double(char *out, size_t cap, double v)
{
    if (isnan(v)) {
        snprintf(out, cap, "nan");
        return;
    }
    if (isinf(v)) {
        snprintf(out, cap, v < 0 ? "-inf" : "inf");
        return;
    }
    /* Shortest of %.15g / %.16g / %.17g that reads back exactly. */
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(out, cap, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            return;
    }
}
