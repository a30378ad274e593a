/*
 * fuzz_sigfile.c -- libFuzzer target for the two small parsers of signing
 * material read from outside: detached signature files (cairn_sigfile_parse)
 * and key files (cairn_key_parse). A signature file that parses must survive
 * a format/parse round trip unchanged; key text must never be accepted in a
 * length other than its kind's.
 */
#include "registry/artifact.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    cairn_signature *sigs = NULL, *again = NULL;
    size_t n = 0, m = 0;
    if (cairn_sigfile_parse(text, size, "fuzz", NULL, &sigs, &n, NULL) == CAIRN_OK) {
        cairn_buf b;
        cairn_buf_init(&b);
        cairn_sigfile_format("00", sigs, n, &b);
        if (b.failed || cairn_sigfile_parse(b.data, b.len, "again", "00", &again, &m, NULL) !=
                            CAIRN_OK ||
            m != n || (n && memcmp(sigs, again, n * sizeof *sigs) != 0)) {
            fprintf(stderr, "signature file round trip changed it\n");
            abort();
        }
        cairn_buf_reset(&b);
        cairn_free(again);
        cairn_free(sigs);
    }
    unsigned char key[CAIRN_ARTIFACT_SK_BYTES];
    for (int secret = 0; secret < 2; secret++) {
        if (cairn_key_parse(text, size, secret, key, "fuzz", NULL) != CAIRN_OK)
            continue;
        size_t want = secret ? 21 + 128 : 21 + 64;
        if (size != want && size != want + 1) {
            fprintf(stderr, "key text of %zu bytes accepted\n", size);
            abort();
        }
    }
    return 0;
}
