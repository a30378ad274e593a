/*
 * contract_int.h -- helpers shared by the files of the contract module
 * (contract.c, infer.c, pii.c, yaml.c, check.c, row.c) and by nothing else.
 */
#ifndef CAIRN_CONTRACT_INT_H
#define CAIRN_CONTRACT_INT_H

#include "contract/contract.h"

/* Frees what a column owns and zeroes it. */
void cairn_contract_col_reset(cairn_contract_col *col);

/*
 * Formats a bound (min/max) of a column of type t the way the YAML file and
 * messages show it: integers for int64 (when the double is integral and in
 * range), ISO 8601 for timestamps, round-trippable doubles otherwise. out
 * must hold at least 48 bytes.
 */
void cairn_contract_fmt_bound(cairn_type t, double v, char *out, size_t cap);

/*
 * Sorts a domain by bytes (strcmp order) and drops duplicates in place,
 * freeing the dropped strings. *n is updated.
 */
void cairn_contract_domain_sort(char **domain, size_t *n);

/*
 * Marks which dictionary codes of a string column occur in a valid row.
 * *used_out is a new array of c->dict.n bytes (1 = present; caller frees with
 * cairn_free), *n_used the number of codes present. Errors: CAIRN_ECORRUPT
 * for a code outside the dictionary, CAIRN_ENOMEM.
 */
cairn_status cairn_contract_codes_used(const cairn_column *c, uint8_t **used_out, size_t *n_used,
                                       cairn_error *err);

/* cairn_pii_detect() with a status: CAIRN_ECORRUPT / CAIRN_ENOMEM instead of "none". */
cairn_status cairn_contract_pii_detect(const cairn_column *c, cairn_pii *out, cairn_error *err);

/* ASCII lower-casing copy of s into out (cap bytes), dropping '_', '-', ' ' and '.'. */
void cairn_contract_name_norm(const char *s, char *out, size_t cap);

#endif /* CAIRN_CONTRACT_INT_H */
