/*
 * split.c -- train / validation / test splits that do not leak: by time
 * (a stable sort on the time column, the latest rows are test), by row order,
 * by group (whole entities to one part) and stratified by label.
 *
 * Every random choice comes from a xoshiro256** generator seeded through
 * splitmix64 from the spec's seed, and group ranks come from cairn_hash64 of
 * the entity's bytes, so a seed gives the same split on any machine. The
 * leakage checks that look at a finished split live in leak.c; the findings
 * list and the split container live in pipeline.c.
 */
#include "pipeline/split.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cairn_split_cfg_init(cairn_split_cfg *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->by = CAIRN_SPLIT_AUTO;
    cfg->valid = 0.1;
    cfg->test = 0.2;
    cfg->time_col = -1;
    cfg->entity_col = -1;
    cfg->label_col = -1;
    cfg->task = CAIRN_TASK_BINARY;
}

cairn_split_by cairn_split_resolve(const cairn_split_cfg *cfg)
{
    if (cfg->by != CAIRN_SPLIT_AUTO)
        return cfg->by;
    if (cfg->time_col >= 0)
        return CAIRN_SPLIT_TIME;
    if (cfg->entity_col >= 0)
        return CAIRN_SPLIT_GROUP;
    return CAIRN_SPLIT_STRATIFIED;
}

/* ---- the generator ---------------------------------------------------------------- */


/* ---- typed keys ------------------------------------------------------------------- */

/*
 * An unsigned key per value that sorts as the values do: string codes, bools,
 * signed integers with the sign bit flipped, doubles with the usual
 * sign-magnitude to two's-order flip (-0.0 folded onto 0.0 first).
 */
static uint64_t value_key(const cairn_column *c, size_t row)
{
    switch (c->type) {
    case CAIRN_TYPE_STRING: return c->v.codes[row];
    case CAIRN_TYPE_BOOL: return c->v.b[row];
    case CAIRN_TYPE_INT64:
    case CAIRN_TYPE_TIMESTAMP: return (uint64_t)c->v.i64[row] ^ 0x8000000000000000ull;
    case CAIRN_TYPE_FLOAT64: {
        double d = c->v.f64[row];
        if (d == 0)
            d = 0; /* -0.0 -> 0.0 */
        uint64_t u;
        memcpy(&u, &d, sizeof u);
        return (u & 0x8000000000000000ull) ? ~u : (u | 0x8000000000000000ull);
    }
    case CAIRN_TYPE_NONE: break;
    }
    return 0;
}

typedef struct keyrow {
    uint64_t key;
    size_t row;
} keyrow;

static int keyrow_cmp(const void *a, const void *b)
{
    const keyrow *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return (x->row > y->row) - (x->row < y->row);
}

cairn_status cairn_split_dense_ids(const cairn_column *c, uint32_t *id, size_t *n_ids,
                                   bool *has_null)
{
    size_t n = c->n_rows, m = 0;
    keyrow *kr = cairn_calloc(n ? n : 1, sizeof *kr);
    if (!kr)
        return CAIRN_ENOMEM;
    bool nulls = false;
    for (size_t i = 0; i < n; i++) {
        if (!c->valid[i]) {
            nulls = true;
            continue;
        }
        kr[m].key = value_key(c, i);
        kr[m].row = i;
        m++;
    }
    qsort(kr, m, sizeof *kr, keyrow_cmp);
    size_t next = 0;
    for (size_t j = 0; j < m; j++) {
        if (j > 0 && kr[j].key != kr[j - 1].key)
            next++;
        id[kr[j].row] = (uint32_t)next;
    }
    size_t distinct = m ? next + 1 : 0;
    if (nulls)
        for (size_t i = 0; i < n; i++)
            if (!c->valid[i])
                id[i] = (uint32_t)distinct;
    *n_ids = distinct + (nulls ? 1 : 0);
    *has_null = nulls;
    cairn_free(kr);
    return CAIRN_OK;
}

/* ---- cutting an ordered sequence ----------------------------------------------------- */

/* round(n * frac) for a fraction in [0,1], never above n. */
static size_t frac_rows(size_t n, double frac)
{
    double r = floor((double)n * frac + 0.5);
    if (r <= 0)
        return 0;
    if (r >= (double)n)
        return n;
    return (size_t)r;
}

/*
 * Moves boundary b (rows [0,b) before, [b,n) after) in the ordered keys so
 * that it does not split a run of equal keys: to the nearer edge of the run,
 * the start on a tie, the other edge when the nearer one would empty the
 * range [lo, n) on one side (an empty part is reported by the caller).
 */
static size_t boundary_fix(const uint64_t *key, size_t lo, size_t n, size_t b)
{
    if (b <= lo || b >= n || key[b - 1] != key[b])
        return b;
    size_t start = b, end = b;
    while (start > lo && key[start - 1] == key[b])
        start--;
    while (end < n && key[end] == key[b])
        end++;
    bool start_ok = start > lo, end_ok = end < n;
    if (start_ok && (b - start <= end - b || !end_ok))
        return start;
    if (end_ok)
        return end;
    return start;
}

static const char *part_name(int p)
{
    return p == CAIRN_PART_TRAIN ? "training" : p == CAIRN_PART_VALID ? "validation" : "test";
}

/* Time and order: rows sorted by (time, row); the latest rows are test. */
static cairn_status split_ordered(const cairn_frame *f, const cairn_split_cfg *cfg, bool by_time,
                                  uint8_t *part, cairn_error *err)
{
    cairn_status st = CAIRN_OK;
    size_t n = f->n_rows;
    keyrow *kr = cairn_calloc(n ? n : 1, sizeof *kr);
    uint64_t *key = cairn_calloc(n ? n : 1, sizeof *key);
    if (!kr || !key) {
        st = cairn_error_set(err, CAIRN_ENOMEM, NULL, "out of memory sorting %zu rows", n);
        goto done;
    }
    if (by_time) {
        const cairn_column *c = &f->cols[cfg->time_col];
        size_t nulls = 0;
        for (size_t i = 0; i < n; i++)
            nulls += !c->valid[i];
        if (nulls) {
            /* A row without a time cannot be placed before or after the others;
             * guessing would put unknown-time rows beside future ones. */
            st = cairn_error_set(err, CAIRN_EINPUT, c->name,
                                 "%zu row%s with a null time in column '%s': a time split cannot "
                                 "place them; drop or fill them first",
                                 nulls, nulls == 1 ? "" : "s", c->name);
            goto done;
        }
        for (size_t i = 0; i < n; i++) {
            kr[i].key = value_key(c, i);
            kr[i].row = i;
        }
        /* (key, row) order is the stable sort by time. */
        qsort(kr, n, sizeof *kr, keyrow_cmp);
    } else {
        for (size_t i = 0; i < n; i++) {
            kr[i].key = i;
            kr[i].row = i;
        }
    }
    for (size_t i = 0; i < n; i++)
        key[i] = kr[i].key;
    size_t n_test = frac_rows(n, cfg->test), n_valid = frac_rows(n, cfg->valid);
    size_t b_test = n - n_test;
    b_test = boundary_fix(key, 0, n, b_test);
    size_t b_valid = b_test >= n_valid ? b_test - n_valid : 0;
    b_valid = boundary_fix(key, 0, b_test, b_valid);
    for (size_t j = 0; j < n; j++)
        part[kr[j].row] = j < b_valid ? CAIRN_PART_TRAIN
                          : j < b_test ? CAIRN_PART_VALID
                                       : CAIRN_PART_TEST;
done:
    cairn_free(kr);
    cairn_free(key);
    return st;
}

/* ---- group ------------------------------------------------------------------------- */

typedef struct entity {
    uint64_t hash;
    uint64_t key;   /* tie-break so equal hashes still order the same everywhere */
    size_t rows;
    uint32_t id;    /* the entity's dense id */
} entity;

static int entity_cmp(const void *a, const void *b)
{
    const entity *x = a, *y = b;
    if (x->hash != y->hash)
        return x->hash < y->hash ? -1 : 1;
    return (x->key > y->key) - (x->key < y->key);
}

/*
 * The bytes that identify an entity, independent of dictionary codes and of
 * the machine's byte order: a string's bytes, else the typed key little-endian.
 */
static uint64_t entity_hash(const cairn_column *c, size_t row, uint64_t seed)
{
    if (!c->valid[row])
        return cairn_hash64("", 0, seed ^ 0x6e756c6c); /* "null" */
    if (c->type == CAIRN_TYPE_STRING) {
        uint32_t code = c->v.codes[row];
        return cairn_hash64(cairn_dict_str(&c->dict, code), cairn_dict_len(&c->dict, code), seed);
    }
    uint64_t k = value_key(c, row);
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(k >> (8 * i));
    return cairn_hash64(b, sizeof b, seed);
}

static cairn_status split_group(const cairn_frame *f, const cairn_split_cfg *cfg, uint8_t *part,
                                cairn_error *err)
{
    cairn_status st = CAIRN_OK;
    const cairn_column *c = &f->cols[cfg->entity_col];
    size_t n = f->n_rows, n_ent = 0;
    bool has_null = false;
    uint32_t *id = cairn_calloc(n ? n : 1, sizeof *id);
    entity *ent = NULL;
    uint8_t *ent_part = NULL;
    if (!id || cairn_split_dense_ids(c, id, &n_ent, &has_null) != CAIRN_OK)
        goto nomem;
    ent = cairn_calloc(n_ent ? n_ent : 1, sizeof *ent);
    ent_part = cairn_calloc(n_ent ? n_ent : 1, 1);
    if (!ent || !ent_part)
        goto nomem;
    for (size_t i = 0; i < n; i++) {
        entity *e = &ent[id[i]];
        if (e->rows++ == 0) {
            e->hash = entity_hash(c, i, cfg->seed);
            e->key = c->valid[i] ? value_key(c, i) : UINT64_MAX;
            e->id = id[i];
        }
    }
    qsort(ent, n_ent, sizeof *ent, entity_cmp);
    /* Walk in hash rank: test first, then validation, then train; an entity
     * goes where its middle row falls, so each fraction is met within half an
     * entity's rows. */
    double t_test = (double)frac_rows(n, cfg->test);
    double t_valid = t_test + (double)frac_rows(n, cfg->valid);
    double cum = 0;
    for (size_t e = 0; e < n_ent; e++) {
        double mid = cum + (double)ent[e].rows / 2.0;
        ent_part[ent[e].id] = mid < t_test ? CAIRN_PART_TEST
                              : mid < t_valid ? CAIRN_PART_VALID
                                              : CAIRN_PART_TRAIN;
        cum += (double)ent[e].rows;
    }
    for (size_t i = 0; i < n; i++)
        part[i] = ent_part[id[i]];
    goto done;
nomem:
    st = cairn_error_set(err, CAIRN_ENOMEM, NULL, "out of memory grouping %zu rows by '%s'", n,
                         c->name);
done:
    cairn_free(id);
    cairn_free(ent);
    cairn_free(ent_part);
    return st;
}

/* ---- stratified ------------------------------------------------------------------------ */

/*
 * Strata: label value ids, or for regression ten quantile bins of the label
 * (a value's bin is floor(10 * rank of its first occurrence / n), so equal
 * labels share a bin); null labels form one more stratum.
 */
static cairn_status strata_of(const cairn_frame *f, const cairn_split_cfg *cfg, uint32_t *stratum,
                              size_t *n_strata)
{
    size_t n = f->n_rows;
    if (cfg->label_col < 0) {
        memset(stratum, 0, n * sizeof *stratum);
        *n_strata = 1;
        return CAIRN_OK;
    }
    const cairn_column *c = &f->cols[cfg->label_col];
    bool has_null = false;
    size_t n_ids = 0;
    if (cairn_split_dense_ids(c, stratum, &n_ids, &has_null) != CAIRN_OK)
        return CAIRN_ENOMEM;
    if (cfg->task != CAIRN_TASK_REGRESSION || c->type == CAIRN_TYPE_STRING) {
        *n_strata = n_ids;
        return CAIRN_OK;
    }
    /* first[id]: rank of the first row of that value in sorted order. */
    size_t n_vals = n_ids - (has_null ? 1 : 0), n_valid = 0;
    size_t *count = cairn_calloc(n_vals ? n_vals : 1, sizeof *count);
    if (!count)
        return CAIRN_ENOMEM;
    for (size_t i = 0; i < n; i++)
        if (c->valid[i]) {
            count[stratum[i]]++;
            n_valid++;
        }
    size_t before = 0;
    for (size_t v = 0; v < n_vals; v++) {
        size_t k = count[v];
        count[v] = before * 10 / (n_valid ? n_valid : 1); /* now: the bin */
        before += k;
    }
    for (size_t i = 0; i < n; i++)
        stratum[i] = c->valid[i] ? (uint32_t)count[stratum[i]] : 10;
    *n_strata = 11;
    cairn_free(count);
    return CAIRN_OK;
}

static cairn_status split_stratified(const cairn_frame *f, const cairn_split_cfg *cfg,
                                     uint8_t *part, cairn_error *err)
{
    cairn_status st = CAIRN_OK;
    size_t n = f->n_rows, n_strata = 0;
    uint32_t *stratum = cairn_calloc(n ? n : 1, sizeof *stratum);
    size_t *start = NULL, *fill = NULL, *rows = NULL;
    if (!stratum || strata_of(f, cfg, stratum, &n_strata) != CAIRN_OK)
        goto nomem;
    start = cairn_calloc(n_strata + 1, sizeof *start);
    fill = cairn_calloc(n_strata + 1, sizeof *fill);
    rows = cairn_calloc(n ? n : 1, sizeof *rows);
    if (!start || !fill || !rows)
        goto nomem;
    /* Counting sort of the rows by stratum, rows in index order within one. */
    for (size_t i = 0; i < n; i++)
        start[stratum[i] + 1]++;
    for (size_t s = 0; s < n_strata; s++)
        start[s + 1] += start[s];
    for (size_t i = 0; i < n; i++)
        rows[start[stratum[i]] + fill[stratum[i]]++] = i;
    cairn_rng r;
    cairn_rng_init(&r, cfg->seed);
    for (size_t s = 0; s < n_strata; s++) {
        size_t *p = rows + start[s], m = start[s + 1] - start[s];
        /* Fisher-Yates, then the first rows of the stratum are test, the next
         * validation: rounding per stratum keeps rates within one row. */
        for (size_t i = m; i > 1; i--) {
            size_t j = (size_t)cairn_rng_below(&r, i);
            size_t t = p[i - 1];
            p[i - 1] = p[j];
            p[j] = t;
        }
        size_t k_test = frac_rows(m, cfg->test), k_valid = frac_rows(m, cfg->valid);
        if (k_test + k_valid > m)
            k_valid = m - k_test;
        for (size_t i = 0; i < m; i++)
            part[p[i]] = i < k_test ? CAIRN_PART_TEST
                         : i < k_test + k_valid ? CAIRN_PART_VALID
                                                : CAIRN_PART_TRAIN;
    }
    goto done;
nomem:
    st = cairn_error_set(err, CAIRN_ENOMEM, NULL, "out of memory stratifying %zu rows", n);
done:
    cairn_free(stratum);
    cairn_free(start);
    cairn_free(fill);
    cairn_free(rows);
    return st;
}

/* ---- entry ------------------------------------------------------------------------------- */

static bool col_ok(const cairn_frame *f, long col)
{
    return col >= -1 && (col < 0 || (size_t)col < f->n_cols);
}

cairn_status cairn_split_make(const cairn_frame *f, const cairn_split_cfg *cfg, cairn_split *out,
                              cairn_findings *findings, cairn_error *err)
{
    cairn_status st = CAIRN_OK;
    uint8_t *part = NULL;
    memset(out, 0, sizeof *out);
    cairn_split_by by = cairn_split_resolve(cfg);
    size_t n = f->n_rows;

    if (!(cfg->test > 0 && cfg->test < 1) || !(cfg->valid >= 0 && cfg->valid < 1) ||
        !(cfg->test + cfg->valid < 1)) {
        return cairn_error_set(err, CAIRN_EINVAL, "split",
                               "split fractions must satisfy 0 < test < 1, 0 <= valid and "
                               "valid + test < 1 (test %g, valid %g)",
                               cfg->test, cfg->valid);
    }
    if (!col_ok(f, cfg->time_col) || !col_ok(f, cfg->entity_col) || !col_ok(f, cfg->label_col))
        return cairn_error_set(err, CAIRN_EINVAL, "split", "split column index out of range");

    switch (by) {
    case CAIRN_SPLIT_TIME: {
        if (cfg->time_col < 0)
            return cairn_error_set(err, CAIRN_EINVAL, "split", "split by time needs a time column");
        cairn_type t = f->cols[cfg->time_col].type;
        if (t != CAIRN_TYPE_TIMESTAMP && t != CAIRN_TYPE_INT64 && t != CAIRN_TYPE_FLOAT64)
            return cairn_error_set(err, CAIRN_EINVAL, f->cols[cfg->time_col].name,
                                   "time column '%s' is %s; a time split needs a timestamp or "
                                   "a number",
                                   f->cols[cfg->time_col].name, cairn_type_name(t));
        break;
    }
    case CAIRN_SPLIT_GROUP:
        if (cfg->entity_col < 0)
            return cairn_error_set(err, CAIRN_EINVAL, "split",
                                   "split by group needs an entity column");
        break;
    case CAIRN_SPLIT_STRATIFIED:
        if (cfg->time_col >= 0 && !cfg->allow_time_leak)
            return cairn_error_set(
                err, CAIRN_EINVAL, "split",
                "a random split of data with a time column ('%s') trains on the future; split "
                "by time, or set allow_time_leak: true in the split",
                f->cols[cfg->time_col].name);
        break;
    case CAIRN_SPLIT_ORDER:
    case CAIRN_SPLIT_AUTO: break;
    }

    part = cairn_calloc(n ? n : 1, 1);
    if (!part)
        return cairn_error_set(err, CAIRN_ENOMEM, NULL, "out of memory for a split of %zu rows", n);
    switch (by) {
    case CAIRN_SPLIT_TIME: st = split_ordered(f, cfg, true, part, err); break;
    case CAIRN_SPLIT_ORDER: st = split_ordered(f, cfg, false, part, err); break;
    case CAIRN_SPLIT_GROUP: st = split_group(f, cfg, part, err); break;
    case CAIRN_SPLIT_STRATIFIED:
    case CAIRN_SPLIT_AUTO: st = split_stratified(f, cfg, part, err); break;
    }
    if (st != CAIRN_OK)
        goto done;

    size_t count[3] = {0, 0, 0};
    for (size_t i = 0; i < n; i++)
        count[part[i]]++;
    /* Train and test must hold rows; validation too when a fraction was asked. */
    for (int p = 0; p < 3; p++) {
        if (count[p] > 0 || (p == CAIRN_PART_VALID && cfg->valid == 0))
            continue;
        const char *why;
        if (n == 0)
            why = "the frame has no rows";
        else if (by == CAIRN_SPLIT_GROUP)
            why = "too few entities (one entity cannot be in two parts)";
        else if (by == CAIRN_SPLIT_TIME)
            why = "too few distinct times (equal times stay in one part)";
        else
            why = "too few rows for the fractions asked";
        st = cairn_error_set(err, CAIRN_EINPUT, "split",
                             "the %s part of a %s split would be empty: %s (%zu rows)",
                             part_name(p), cairn_split_by_name(by), why, n);
        goto done;
    }
    if (by == CAIRN_SPLIT_STRATIFIED && cfg->time_col >= 0) {
        const char *tc = f->cols[cfg->time_col].name;
        char what[256];
        snprintf(what, sizeof what,
                 "the split is random although the data has a time column '%s' "
                 "(allow_time_leak: true)",
                 tc);
        if (!findings ||
            cairn_findings_add(findings, CAIRN_SEV_HIGH, "random_split_with_time", tc, NAN, what,
                               "Training rows can come after test rows, so the test score "
                               "uses the future and overstates how the model will do.",
                               "Split by time, or justify the random split in review.") !=
                CAIRN_OK) {
            st = cairn_error_set(err, findings ? CAIRN_ENOMEM : CAIRN_EINVAL, "split",
                                 "cannot record the random_split_with_time finding");
            goto done;
        }
    }
    out->by = by;
    out->n_rows = n;
    out->part = part;
    memcpy(out->count, count, sizeof count);
    part = NULL;
done:
    cairn_free(part);
    return st;
}
