/*
 * fuzz_contract.c -- libFuzzer target for the contract YAML reader
 * (cairn_contract_parse), whose input is a user's file. Besides "no crash,
 * no leak, no hang", it checks a property: whatever parses must write back
 * to YAML that parses again and writes the same text.
 */
#include "contract/contract.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cairn_contract *c = NULL, *c2 = NULL;
    cairn_error err = {0};
    cairn_buf a, b;
    cairn_buf_init(&a);
    cairn_buf_init(&b);
    if (cairn_contract_parse((const char *)data, size, "fuzz", &c, &err) != CAIRN_OK)
        goto done;
    cairn_contract_to_yaml(c, &a);
    if (a.failed)
        goto done;
    if (cairn_contract_parse(a.data, a.len, "fuzz-rewritten", &c2, &err) != CAIRN_OK) {
        fprintf(stderr, "rewritten contract does not parse: %s (%s)\n%s", err.msg, err.where,
                a.data);
        abort();
    }
    cairn_contract_to_yaml(c2, &b);
    if (!b.failed && (a.len != b.len || memcmp(a.data, b.data, a.len) != 0)) {
        fprintf(stderr, "rewriting is not stable:\n%s\n---\n%s", a.data, b.data);
        abort();
    }
done:
    cairn_buf_reset(&a);
    cairn_buf_reset(&b);
    cairn_contract_free(c);
    cairn_contract_free(c2);
    return 0;
}
