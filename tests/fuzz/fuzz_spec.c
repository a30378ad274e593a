/*
 * fuzz_spec.c -- libFuzzer target for the pipeline spec reader
 * (cairn_spec_parse), whose input is a user's YAML file. Besides "no crash,
 * no leak, no hang", it checks properties of what parses: the canonical JSON
 * is produced without allocation failure, the source is kept verbatim, and
 * writing the JSON twice gives the same bytes (it depends on the spec alone).
 */
#include "pipeline/spec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cairn_spec *s = NULL;
    cairn_error err = {0};
    cairn_buf a, b;
    cairn_buf_init(&a);
    cairn_buf_init(&b);
    if (cairn_spec_parse((const char *)data, size, "fuzz", &s, &err) != CAIRN_OK) {
        if (err.msg[0] == '\0') {
            fprintf(stderr, "a failed parse left no message\n");
            abort();
        }
        goto done;
    }
    if (s->source_len != size || (size && memcmp(s->source, data, size) != 0)) {
        fprintf(stderr, "the source is not kept verbatim\n");
        abort();
    }
    cairn_spec_to_json(s, &a);
    cairn_spec_set_seed(s, s->seed);
    cairn_spec_to_json(s, &b);
    if (a.failed || b.failed || a.len != b.len || memcmp(a.data, b.data, a.len) != 0) {
        fprintf(stderr, "the JSON of a spec is not stable\n");
        abort();
    }
done:
    cairn_buf_reset(&a);
    cairn_buf_reset(&b);
    cairn_spec_free(s);
    return 0;
}
