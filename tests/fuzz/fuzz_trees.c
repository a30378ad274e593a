/*
 * fuzz_trees.c -- libFuzzer target for the tree model loader
 * (cairn_trees_from_bytes), which reads untrusted artifact bytes. Besides
 * "no crash, no leak, no hang", it checks two properties: a model that
 * loads writes back to exactly the same bytes (the format is canonical),
 * and it can be evaluated on rows of missing, zero, huge and
 * fuzzer-chosen values without any out-of-bounds access (the sanitizers
 * watch), and a binary model never scores NaN.
 */
#include "learn/gbdt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cairn_trees *t = NULL;
    uint8_t *back = NULL;
    double *x = NULL, *out = NULL;
    if (cairn_trees_from_bytes(data, size, &t, NULL) != CAIRN_OK)
        goto done;
    size_t n_back = 0;
    if (cairn_trees_to_bytes(t, &back, &n_back, NULL) == CAIRN_OK &&
        (n_back != size || memcmp(back, data, size) != 0)) {
        fprintf(stderr, "a loaded model does not write back to the same bytes\n");
        abort();
    }
    x = malloc(t->n_features * sizeof *x);
    out = malloc(cairn_trees_n_scores(t) * sizeof *out);
    if (!x || !out)
        goto done;
    for (int pass = 0; pass < 4; pass++) {
        for (uint32_t j = 0; j < t->n_features; j++) {
            double v = pass == 0 ? NAN : pass == 1 ? 0.0 : pass == 2 ? 1e300 * (j % 2 ? 1 : -1)
                                                                   : (double)data[j % size] - 8;
            x[j] = v;
        }
        cairn_trees_predict(t, x, out);
        /* A float sum of finite leaves may overflow to +-inf but never
         * becomes NaN (no leaf is infinite), so a sigmoid is never NaN.
         * (Softmax of two infinite margins is, as in XGBoost.) */
        for (size_t k = 0; k < cairn_trees_n_scores(t); k++)
            if (isnan(out[k]) && t->task == CAIRN_TASK_BINARY) {
                fprintf(stderr, "NaN score\n");
                abort();
            }
    }
done:
    free(x);
    free(out);
    cairn_free(back);
    cairn_trees_free(t);
    return 0;
}
