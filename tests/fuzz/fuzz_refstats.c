/*
 * fuzz_refstats.c -- libFuzzer target for the reference-statistics parser
 * (cairn_drift_refs_parse), which reads the refstats section of an artifact
 * the monitor loads. Whatever parses must then feed accumulators without
 * harm, and its statistics must stay in their ranges: PSI >= 0, KS and JS in
 * [0, 1], chi-squared p in [0, 1] (or NaN where undefined).
 */
#include "monitor/drift.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void in_range(double v, double lo, double hi, const char *what)
{
    if (!isnan(v) && !(v >= lo && v <= hi)) {
        fprintf(stderr, "%s out of range: %g\n", what, v);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cairn_drift_refs refs;
    cairn_drift_refs_init(&refs);
    if (cairn_drift_refs_parse(&refs, (const char *)data, size, NULL) != CAIRN_OK)
        return 0;
    for (size_t i = 0; i < refs.n_features + 1; i++) {
        const cairn_drift_ref *r = i < refs.n_features ? &refs.features[i] : refs.prediction;
        if (!r)
            continue;
        cairn_drift_acc acc;
        cairn_drift_acc_init(&acc, r);
        /* Values from the input itself: bytes as numbers, and each listed category. */
        for (size_t k = 0; k < size && k < 64; k++) {
            if (r->kind == CAIRN_DRIFT_NUMBER)
                (void)cairn_drift_acc_add_number(&acc, (double)data[k] - 64.0, NULL);
            else if (r->n_categories)
                (void)cairn_drift_acc_add_category(&acc, r->categories[k % r->n_categories],
                                                   r->category_lens[k % r->n_categories], NULL);
            else
                (void)cairn_drift_acc_add_category(&acc, (const char *)data + k, 1, NULL);
        }
        cairn_drift_acc_add_missing(&acc);
        cairn_drift_stats s;
        cairn_drift_acc_stats(&acc, &s);
        in_range(s.psi, 0, INFINITY, "psi");
        in_range(s.ks, 0, 1, "ks");
        in_range(s.js, 0, 1 + 1e-12, "js");
        in_range(s.chi2_p, 0, 1, "chi2_p");
        (void)cairn_drift_stats_severity(&s, NULL);
    }
    if (cairn_drift_refs_find(&refs, "x") == (const cairn_drift_ref *)1)
        abort();
    cairn_drift_refs_reset(&refs);
    return 0;
}
