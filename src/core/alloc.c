/*
 * alloc.c -- the allocation wrappers every module uses, with a per-thread
 * fault-injection countdown so tests can fail the Nth allocation.
 */
#include "core/core.h"

#include <stdlib.h>
#include <string.h>

static _Thread_local long fail_countdown; /* 0 = off */
static _Thread_local bool fail_sticky;
static _Thread_local bool failing;

void cairn_alloc_fail_after(long n, bool sticky)
{
    fail_countdown = n;
    fail_sticky = sticky;
    failing = false;
}

/* True when this allocation must fail (test hook). */
static bool should_fail(void)
{
    if (failing)
        return fail_sticky;
    if (fail_countdown <= 0)
        return false;
    if (--fail_countdown == 0) {
        failing = true;
        return true;
    }
    return false;
}

void *cairn_malloc(size_t n)
{
    if (should_fail())
        return NULL;
    return malloc(n ? n : 1);
}

void *cairn_calloc(size_t count, size_t size)
{
    if (should_fail())
        return NULL;
    if (!count || !size)
        return calloc(1, 1);
    return calloc(count, size);
}

void *cairn_realloc(void *p, size_t n)
{
    if (should_fail())
        return NULL;
    return realloc(p, n ? n : 1);
}

void *cairn_reallocarray(void *p, size_t count, size_t size)
{
    size_t total;
    if (!cairn_mul_size(count, size, &total))
        return NULL;
    return cairn_realloc(p, total);
}

char *cairn_strndup(const char *s, size_t n)
{
    char *d = cairn_malloc(n + 1);
    if (!d)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *cairn_strdup(const char *s)
{
    return s ? cairn_strndup(s, strlen(s)) : NULL;
}

void cairn_free(void *p) { free(p); }
