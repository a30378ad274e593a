/*
 * fuzz_transform.c -- libFuzzer target for the transform state reader
 * (cairn_transform_from_bytes), whose input comes from model artifacts.
 * Besides "no crash, no leak, no hang", it checks two properties: whatever
 * loads writes back exactly the bytes it was read from (the format has one
 * spelling per state), and applying it to a row of nulls and to a row of
 * odd values either succeeds with finite outputs or reports bad input.
 */
#include "pipeline/transform.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cairn_transform *t = NULL;
    cairn_error err = {0};
    cairn_buf b;
    cairn_field *fields = NULL;
    double *x = NULL;
    cairn_buf_init(&b);
    cairn_status st = cairn_transform_from_bytes((const char *)data, size, &t, &err);
    if (st != CAIRN_OK) {
        if (st != CAIRN_ECORRUPT && st != CAIRN_ENOMEM) {
            fprintf(stderr, "unexpected status %s\n", cairn_status_name(st));
            abort();
        }
        goto done;
    }
    cairn_transform_to_bytes(t, &b);
    if (!b.failed && (b.len != size || memcmp(b.data, data, size) != 0)) {
        fprintf(stderr, "state does not write back the bytes it was read from\n");
        abort();
    }
    size_t n_in = cairn_transform_n_inputs(t), n_out = cairn_transform_n_out(t);
    fields = calloc(n_in + 1, sizeof *fields);
    x = malloc((n_out ? n_out : 1) * sizeof *x);
    if (!fields || !x)
        goto done;
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < n_in; i++) {
            fields[i].name = cairn_transform_input_name(t, i);
            fields[i].kind = round ? CAIRN_VALUE_STRING : CAIRN_VALUE_NULL;
            fields[i].str = "2024-03-01T13:00:00Z";
            fields[i].str_len = 20;
        }
        st = cairn_transform_apply_row(t, fields, n_in, x, &err);
        if (st == CAIRN_OK) {
            for (size_t j = 0; j < n_out; j++)
                if (!isfinite(x[j])) {
                    fprintf(stderr, "output %zu is not finite\n", j);
                    abort();
                }
        } else if (st != CAIRN_EINPUT) {
            abort();
        }
    }
done:
    free(fields);
    free(x);
    cairn_buf_reset(&b);
    cairn_transform_free(t);
    return 0;
}
