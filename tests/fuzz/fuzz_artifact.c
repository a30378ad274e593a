/*
 * fuzz_artifact.c -- libFuzzer target for the artifact loader
 * (cairn_artifact_load), which reads untrusted files. Besides "no crash, no
 * leak, no hang", a file that loads must have a model whose feature count
 * matches its transform, and its section views must lie inside the file.
 */
#include "registry/artifact.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cairn_artifact *a = NULL;
    /* Inputs are resealed (their content hash recomputed) so that the fuzzer
     * reaches the checks behind the hash instead of stopping at it; half the
     * time they are not, so the hash check itself is exercised too. */
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    if (size && (data[size - 1] & 1))
        cairn_artifact_seal(copy, size);
    cairn_status st = cairn_artifact_load(copy, size, &a, NULL);
    free(copy);
    if (st != CAIRN_OK)
        return 0;
    size_t n_out = cairn_transform_n_out(a->transform);
    size_t model_features = a->trees ? a->trees->n_features : a->linear->n_features;
    if (model_features != n_out || a->baseline->n_features != n_out) {
        fprintf(stderr, "a loaded artifact's model does not fit its transform\n");
        abort();
    }
    for (int k = 1; k <= CAIRN_ART_N_KINDS; k++) {
        const cairn_artifact_view *v = &a->sections[k];
        if (v->data < a->bytes || v->len > a->n_bytes ||
            (size_t)(v->data - a->bytes) > a->n_bytes - v->len) {
            fprintf(stderr, "section view outside the file\n");
            abort();
        }
    }
    cairn_artifact_free(a);
    return 0;
}
