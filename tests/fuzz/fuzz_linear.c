/*
 * fuzz_linear.c -- libFuzzer target for the linear model deserializer
 * (cairn_linear_from_bytes): any bytes must give a model or CAIRN_ECORRUPT
 * (CAIRN_ENOMEM tolerated), never a crash, leak or over-allocation. A model
 * that loads must re-serialize to the same bytes and predict finite values
 * on a zero row.
 *
 * Seeds (tests/fuzz/corpus/linear/) are written by tests/unit/test_linear.c
 * when CAIRN_WRITE_LINEAR_CORPUS=DIR is set.
 */
#include "learn/linear.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cairn_linear *m = NULL;
    char *bytes = NULL;
    size_t len = 0;
    cairn_status st = cairn_linear_from_bytes(data, size, &m, NULL);
    if (st != CAIRN_OK) {
        if (m != NULL || (st != CAIRN_ECORRUPT && st != CAIRN_ENOMEM))
            abort();
        return 0;
    }
    if (cairn_linear_to_bytes(m, &bytes, &len, NULL) != CAIRN_OK || len != size ||
        memcmp(bytes, data, size) != 0)
        abort();
    double *x = calloc(m->n_features ? m->n_features : 1, sizeof(double));
    double *out = calloc(m->n_outputs, sizeof(double));
    if (x && out) {
        cairn_linear_predict(m, x, out);
        for (uint32_t c = 0; c < m->n_outputs; c++)
            if (isnan(out[c]))
                abort();
    }
    free(x);
    free(out);
    cairn_free(bytes);
    cairn_linear_free(m);
    return 0;
}
