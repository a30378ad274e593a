/*
 * buf.c -- a growable byte buffer whose first allocation failure is sticky:
 * builders append freely and check `failed` once at the end.
 */
#include "core/core.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void cairn_buf_init(cairn_buf *b) { memset(b, 0, sizeof *b); }

void cairn_buf_reset(cairn_buf *b)
{
    cairn_free(b->data);
    memset(b, 0, sizeof *b);
}

static bool reserve(cairn_buf *b, size_t extra)
{
    if (b->failed)
        return false;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) {
            b->failed = true;
            return false;
        }
        cap *= 2;
    }
    char *p = cairn_realloc(b->data, cap);
    if (!p) {
        b->failed = true;
        return false;
    }
    b->data = p;
    b->cap = cap;
    return true;
}

void cairn_buf_append_grow(cairn_buf *b, const void *p, size_t n)
{
    if (!reserve(b, n))
        return;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void cairn_buf_puts(cairn_buf *b, const char *s) { cairn_buf_append(b, s, strlen(s)); }
void cairn_buf_putc(cairn_buf *b, char c) { cairn_buf_append(b, &c, 1); }

void cairn_buf_vprintf(cairn_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0 || !reserve(b, (size_t)n)) {
        b->failed = true;
        return;
    }
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void cairn_buf_printf(cairn_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cairn_buf_vprintf(b, fmt, ap);
    va_end(ap);
}

void cairn_buf_put_double(cairn_buf *b, double v)
{
    char tmp[40];
    cairn_fmt_double(tmp, sizeof tmp, v);
    cairn_buf_puts(b, tmp);
}

void cairn_buf_put_json_number(cairn_buf *b, double v)
{
    if (isfinite(v))
        cairn_buf_put_double(b, v);
    else
        cairn_buf_puts(b, "null");
}

void cairn_buf_put_json_string(cairn_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    cairn_buf_putc(b, '"');
    size_t run = 0; /* start of the pending run of plain bytes */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        cairn_buf_append(b, s + run, i - run);
        run = i + 1;
        switch (c) {
        case '"': cairn_buf_puts(b, "\\\""); break;
        case '\\': cairn_buf_puts(b, "\\\\"); break;
        case '\n': cairn_buf_puts(b, "\\n"); break;
        case '\r': cairn_buf_puts(b, "\\r"); break;
        case '\t': cairn_buf_puts(b, "\\t"); break;
        default: {
            char esc[7] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], 0};
            cairn_buf_puts(b, esc);
        }
        }
    }
    cairn_buf_append(b, s + run, n - run);
    cairn_buf_putc(b, '"');
}

char *cairn_buf_take(cairn_buf *b)
{
    if (b->failed) {
        cairn_buf_reset(b);
        return NULL;
    }
    if (!b->data)
        reserve(b, 0);
    if (b->failed)
        return NULL;
    b->data[b->len] = '\0';
    char *p = b->data;
    memset(b, 0, sizeof *b);
    return p;
}
