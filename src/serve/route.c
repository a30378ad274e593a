/*
 * route.c -- the server's router: method and path to an endpoint and a model
 * reference. Pure and allocation-free, so the fuzz target can hammer it.
 */
#include "serve/server.h"

#include <string.h>

static bool starts(const char *p, size_t n, const char *lit)
{
    size_t l = strlen(lit);
    return n >= l && memcmp(p, lit, l) == 0;
}

static bool equals(const char *p, size_t n, const char *lit)
{
    return n == strlen(lit) && memcmp(p, lit, n) == 0;
}

/* "NAME", "NAME@N" or "NAME@ALIAS" in p[0..n). */
static bool parse_ref(const char *p, size_t n, cairn_route *out)
{
    const char *at = memchr(p, '@', n);
    size_t name_len = at ? (size_t)(at - p) : n;
    if (name_len == 0 || name_len > CAIRN_NAME_MAX)
        return false;
    memcpy(out->model, p, name_len);
    out->model[name_len] = '\0';
    if (!cairn_name_valid(out->model))
        return false;
    if (!at)
        return true;
    const char *r = at + 1;
    size_t rl = n - name_len - 1;
    if (rl == 0 || rl > CAIRN_ALIAS_MAX)
        return false;
    if (r[0] >= '1' && r[0] <= '9') {
        long v = 0;
        for (size_t i = 0; i < rl; i++) {
            if (r[i] < '0' || r[i] > '9' || v > (CAIRN_VERSION_MAX - 9) / 10)
                return false;
            v = v * 10 + (r[i] - '0');
        }
        out->version = (int)v;
        return true;
    }
    memcpy(out->alias, r, rl);
    out->alias[rl] = '\0';
    return cairn_alias_valid(out->alias);
}

void cairn_route_match(const char *method, const char *path, size_t path_len, cairn_route *out)
{
    memset(out, 0, sizeof *out);
    bool get = method && strcmp(method, "GET") == 0;
    bool head = method && strcmp(method, "HEAD") == 0;
    bool post = method && strcmp(method, "POST") == 0;
    cairn_route_kind k = CAIRN_ROUTE_NONE;
    bool want_post = false;
    if (equals(path, path_len, "/healthz"))
        k = CAIRN_ROUTE_HEALTHZ;
    else if (equals(path, path_len, "/readyz"))
        k = CAIRN_ROUTE_READYZ;
    else if (equals(path, path_len, "/metrics"))
        k = CAIRN_ROUTE_METRICS;
    else if (equals(path, path_len, "/v1/models"))
        k = CAIRN_ROUTE_MODELS;
    else if (starts(path, path_len, "/v1/models/")) {
        const char *p = path + 11;
        size_t n = path_len - 11;
        const char *colon = memchr(p, ':', n);
        size_t ref_len = colon ? (size_t)(colon - p) : n;
        if (!parse_ref(p, ref_len, out)) {
            memset(out, 0, sizeof *out);
            return;
        }
        if (!colon) {
            k = CAIRN_ROUTE_MODEL;
        } else if (equals(colon, n - ref_len, ":predict")) {
            k = CAIRN_ROUTE_PREDICT;
            want_post = true;
        } else if (equals(colon, n - ref_len, ":reload")) {
            k = CAIRN_ROUTE_RELOAD;
            want_post = true;
        } else {
            memset(out, 0, sizeof *out);
            return;
        }
    }
    if (k == CAIRN_ROUTE_NONE) {
        out->kind = k;
        return;
    }
    if (want_post ? !post : !(get || head)) {
        out->kind = CAIRN_ROUTE_BAD_METHOD;
        out->allow = want_post ? "POST" : "GET, HEAD";
        return;
    }
    out->kind = k;
}
