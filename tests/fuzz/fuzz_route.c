/*
 * fuzz_route.c -- libFuzzer target for the server's router
 * (cairn_route_match). The first byte picks the method; the rest is the
 * path, not NUL-terminated. Besides "no crash, no read past the path": a
 * routed model name is valid, a version is in range, an alias is valid, and
 * routing the same bytes twice gives the same answer.
 */
#include "serve/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const methods[] = {"GET", "POST", "HEAD", "PUT", "DELETE", "get", ""};
    if (size == 0)
        return 0;
    const char *method = methods[data[0] % (sizeof methods / sizeof *methods)];
    /* A private copy of exactly size - 1 bytes: ASan catches any read beyond it. */
    char *path = malloc(size - 1 ? size - 1 : 1);
    if (!path)
        return 0;
    memcpy(path, data + 1, size - 1);
    cairn_route a, b;
    cairn_route_match(method, path, size - 1, &a);
    cairn_route_match(method, path, size - 1, &b);
    if (memcmp(&a, &b, sizeof a) != 0) {
        fprintf(stderr, "routing is not deterministic\n");
        abort();
    }
    if (a.kind == CAIRN_ROUTE_MODEL || a.kind == CAIRN_ROUTE_PREDICT ||
        a.kind == CAIRN_ROUTE_RELOAD) {
        if (!cairn_name_valid(a.model) || a.version < 0 || (a.alias[0] && !cairn_alias_valid(a.alias)) ||
            (a.alias[0] && a.version)) {
            fprintf(stderr, "routed to an invalid model reference\n");
            abort();
        }
    }
    free(path);
    return 0;
}
