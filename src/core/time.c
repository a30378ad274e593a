/*
 * time.c -- ISO 8601 timestamps: parsing (date, date-time, optional fraction
 * and zone) into microseconds since the Unix epoch, and formatting back.
 * Calendar arithmetic uses the proleptic Gregorian days-from-civil algorithm
 * (H. Hinnant, "chrono-Compatible Low-Level Date Algorithms"), so no libc
 * time zone state is touched.
 */
#include "core/core.h"

#include <stdio.h>
#include <math.h>
#include <time.h>

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static bool digits(const char *s, size_t n, size_t at, size_t count, unsigned *out)
{
    if (at + count > n)
        return false;
    unsigned v = 0;
    for (size_t i = at; i < at + count; i++) {
        unsigned d = (unsigned)(unsigned char)s[i] - '0';
        if (d > 9)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

static bool leap(unsigned y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

bool cairn_parse_timestamp(const char *s, size_t n, int64_t *out_us)
{
    static const unsigned mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    unsigned y, mo, d, h = 0, mi = 0, sec = 0;
    if (n < 10 || n > 40)
        return false;
    if (!digits(s, n, 0, 4, &y) || s[4] != '-' || !digits(s, n, 5, 2, &mo) || s[7] != '-' ||
        !digits(s, n, 8, 2, &d))
        return false;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && leap(y)))
        return false;
    size_t i = 10;
    int64_t frac_us = 0;
    int64_t offset_s = 0;
    if (i < n) {
        if (s[i] != 'T' && s[i] != ' ' && s[i] != 't')
            return false;
        i++;
        if (!digits(s, n, i, 2, &h) || i + 2 >= n || s[i + 2] != ':' ||
            !digits(s, n, i + 3, 2, &mi))
            return false;
        i += 5;
        if (i < n && s[i] == ':') {
            if (!digits(s, n, i + 1, 2, &sec))
                return false;
            i += 3;
            if (i < n && (s[i] == '.' || s[i] == ',')) {
                i++;
                size_t start = i;
                int64_t scale = 100000;
                while (i < n && (unsigned)(unsigned char)s[i] - '0' <= 9) {
                    frac_us += (s[i] - '0') * scale;
                    scale /= 10;
                    i++;
                }
                if (i == start)
                    return false;
            }
        }
        if (h > 23 || mi > 59 || sec > 60)
            return false;
        if (i < n) {
            if (s[i] == 'Z' || s[i] == 'z') {
                i++;
            } else if (s[i] == '+' || s[i] == '-') {
                int sign = s[i] == '-' ? -1 : 1;
                unsigned oh, om = 0;
                if (!digits(s, n, i + 1, 2, &oh))
                    return false;
                i += 3;
                if (i < n && s[i] == ':')
                    i++;
                if (i < n) {
                    if (!digits(s, n, i, 2, &om))
                        return false;
                    i += 2;
                }
                if (oh > 23 || om > 59)
                    return false;
                offset_s = sign * (int64_t)(oh * 3600 + om * 60);
            } else {
                return false;
            }
        }
        if (i != n)
            return false;
    }
    int64_t days = days_from_civil(y, mo, d);
    int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - offset_s;
    *out_us = secs * 1000000 + frac_us;
    return true;
}

void cairn_fmt_timestamp(char *out, size_t cap, int64_t us)
{
    int64_t secs = us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000);
    int64_t frac = us - secs * 1000000;
    int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
    int64_t rem = secs - days * 86400;
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    unsigned h = (unsigned)(rem / 3600), mi = (unsigned)(rem / 60 % 60), s = (unsigned)(rem % 60);
    if (frac)
        snprintf(out, cap, "%04lld-%02u-%02uT%02u:%02u:%02u.%06lldZ", (long long)y, m, d, h, mi, s,
                 (long long)frac);
    else
        snprintf(out, cap, "%04lld-%02u-%02uT%02u:%02u:%02uZ", (long long)y, m, d, h, mi, s);
}

int64_t cairn_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

double cairn_mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void cairn_now_iso(char *out, size_t cap)
{
    int64_t us = cairn_now_us();
    cairn_fmt_timestamp(out, cap, us - us % 1000000);
}

bool cairn_parse_time(const char *s, size_t n, int64_t *out_us)
{
    const double max_s = 1e12;   /* about year 33658: microseconds stay far from the int64 limit */
    int64_t secs;
    double d;
    if (cairn_parse_int64(s, n, &secs)) {
        if (secs > (int64_t)max_s || secs < -(int64_t)max_s)
            return false;
        *out_us = secs * 1000000;
        return true;
    }
    if (cairn_parse_double(s, n, &d)) {
        if (!isfinite(d) || fabs(d) > max_s)
            return false;
        *out_us = (int64_t)llround(d * 1e6);
        return true;
    }
    return cairn_parse_timestamp(s, n, out_us);
}
