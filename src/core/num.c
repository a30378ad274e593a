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
