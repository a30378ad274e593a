/*
 * transform.c -- fits feature transforms on the training part of a frame and
 * applies them, to whole frames and to single rows, through one per-value
 * function (emit_column), so training, evaluation and serving see the same
 * numbers bit for bit. It also writes and reads the state's binary form,
 * which arrives from artifacts and is treated as untrusted.
 *
 * The choices (median, population sd, level order, bucket codes) are
 * described in transform.h and docs/transforms.md; this file says why where
 * the code is not obvious. Choosing columns, splitting rows and training
 * models are left to others.
 */
#include "pipeline/transform.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How an input column is handled (stored as a byte). */
enum { H_NUMBER = 0, H_BOOL = 1, H_TIME = 2, H_CAT = 3 };
/* Column flags (stored as a byte). */
enum { F_IND = 1, F_ISTIME = 2, F_CATKEEP = 4, F_RARE = 8, F_ALL = 15 };
/* Timestamp slots. */
enum { S_HOUR = 0, S_DOW = 1, S_MONTH = 2, S_AGE = 3, MAX_SLOTS = 4 };

#define US_PER_DAY 86400000000LL
#define US_PER_HOUR 3600000000LL

static const char MAGIC[8] = {'C', 'A', 'I', 'R', 'N', 'T', 'F', '\0'};
#define FORMAT_VERSION 1u

/* One numeric output of a column: kept or dropped, its median for
 * imputation and, for linear models, its mean and sd for scaling. */
typedef struct tslot {
    uint8_t keep;
    uint8_t standardize;
    double median, mean, sd;
} tslot;

typedef struct tcol {
    char *name;
    uint8_t in_type, handling, flags, n_slots;
    tslot slot[MAX_SLOTS];
    cairn_dict levels;     /* categories: kept levels first (codes 0..n_kept-1), then rare */
    uint32_t n_kept;
    size_t out_off, n_out; /* where this column's outputs sit in a row */
} tcol;

struct cairn_transform {
    cairn_transform_kind kind;
    char *time_name;       /* NULL when there is no time column */
    size_t n_cols;
    tcol *cols;
    size_t n_out;
    char **names;          /* n_out feature names */
    uint32_t *cat_levels;  /* n_out: 0, or the number of codes of a categorical output */
    bool distinct_names;   /* the time column and every column have different names */
};

/* A value as either path sees it before it is converted to the column's kind. */
enum { V_NULL = 0, V_BOOL, V_NUMBER, V_STRING, V_TIME };
typedef struct tval {
    int kind;
    int b;
    double num;
    int64_t us;
    const char *s;
    size_t n;
} tval;

/* ---- reading values as the column's kind -------------------------------
 * Each returns 0 for null, 1 for a value, -1 when the value cannot be read
 * as that kind. Both apply paths go through these, so a string "12.5" sent to
 * a server and the double 12.5 in a frame give the same number. */

static int read_number(const tval *v, double *out)
{
    switch (v->kind) {
    case V_BOOL: *out = v->b ? 1.0 : 0.0; return 1;
    case V_NUMBER:
        if (isnan(v->num))
            return 0;     /* frames read NaN as null; a request's NaN is the same */
        if (!isfinite(v->num))
            return -1;
        *out = v->num;
        return 1;
    case V_STRING: return cairn_parse_double(v->s, v->n, out) ? 1 : -1;
    case V_NULL: return 0;
    default: return -1;
    }
}

static int read_bool(const tval *v, double *out)
{
    bool b;
    switch (v->kind) {
    case V_BOOL: *out = v->b ? 1.0 : 0.0; return 1;
    case V_NUMBER:
        if (isnan(v->num))
            return 0;
        if (v->num != 0.0 && v->num != 1.0)
            return -1;
        *out = v->num == 1.0 ? 1.0 : 0.0;   /* -0.0 becomes +0.0 */
        return 1;
    case V_STRING:
        if (!cairn_parse_bool(v->s, v->n, &b))
            return -1;
        *out = b ? 1.0 : 0.0;
        return 1;
    case V_NULL: return 0;
    default: return -1;
    }
}

static int read_time(const tval *v, int64_t *us)
{
    switch (v->kind) {
    case V_TIME: *us = v->us; return 1;
    case V_STRING: return cairn_parse_timestamp(v->s, v->n, us) ? 1 : -1;
    case V_NUMBER: return isnan(v->num) ? 0 : -1;   /* a bare number has no unit */
    case V_NULL: return 0;
    default: return -1;
    }
}

/* A category's level index in c->levels, or UINT32_MAX for a level never
 * seen in training. Non-strings are looked up by the text a frame would show
 * for them (cairn_column_value_text), so either path finds the same level. */
static int read_level(const tcol *c, const tval *v, uint32_t *code)
{
    char tmp[48];
    const char *s = NULL;
    size_t n = 0;
    switch (v->kind) {
    case V_NULL: return 0;
    case V_STRING: s = v->s; n = v->n; break;
    case V_BOOL: s = v->b ? "true" : "false"; n = strlen(s); break;
    case V_NUMBER:
        if (isnan(v->num))
            return 0;
        cairn_fmt_double(tmp, sizeof tmp, v->num);
        s = tmp;
        n = strlen(tmp);
        break;
    case V_TIME:
        cairn_fmt_timestamp(tmp, sizeof tmp, v->us);
        s = tmp;
        n = strlen(tmp);
        break;
    default: return -1;
    }
    if (!cairn_dict_find(&c->levels, s, n, code))
        *code = UINT32_MAX;
    return 1;
}

/* Floor division and modulo for the calendar (timestamps before 1970 too). */
static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Month 1-12 of a day count since 1970-01-01 (Hinnant's civil_from_days). */
static unsigned month_of_days(int64_t z)
{
    z += 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    return (unsigned)(mp < 10 ? mp + 3 : mp - 9);
}

/*
 * The raw outputs of one value of a non-categorical column: NaN marks a
 * missing slot. *is_null says whether the column's own value was null (the
 * missing indicator). tv is the row's time column value (for the age).
 */
static cairn_status raw_slots(const tcol *c, const tval *v, const tval *tv, double raw[MAX_SLOTS],
                              int *is_null)
{
    for (int s = 0; s < MAX_SLOTS; s++)
        raw[s] = NAN;
    int r;
    if (c->handling == H_NUMBER || c->handling == H_BOOL) {
        r = c->handling == H_NUMBER ? read_number(v, &raw[0]) : read_bool(v, &raw[0]);
        if (r < 0)
            return CAIRN_EINPUT;
        *is_null = r == 0;
        return CAIRN_OK;
    }
    int64_t us, tus;
    r = read_time(v, &us);
    if (r < 0)
        return CAIRN_EINPUT;
    *is_null = r == 0;
    if (r == 1) {
        int64_t days = floor_div(us, US_PER_DAY);
        int64_t in_day = us - days * US_PER_DAY;
        raw[S_HOUR] = (double)(in_day / US_PER_HOUR);
        /* 1970-01-01 was a Thursday: 3 with Monday = 0. */
        int64_t dow = (days + 3) % 7;
        raw[S_DOW] = (double)(dow < 0 ? dow + 7 : dow);
        raw[S_MONTH] = (double)month_of_days(days);
    }
    if (c->n_slots > S_AGE) {
        int rt = read_time(tv, &tus);
        if (rt < 0)
            return CAIRN_EINPUT;
        if (r == 1 && rt == 1) {
            int64_t d;
            /* The integer difference is exact; only extreme values (far
             * beyond any real date) fall back to subtracting doubles. */
            if (!__builtin_sub_overflow(tus, us, &d))
                raw[S_AGE] = (double)d / (double)US_PER_DAY;
            else
                raw[S_AGE] = ((double)tus - (double)us) / (double)US_PER_DAY;
        }
    }
    return CAIRN_OK;
}

/*
 * THE per-value function: writes column c's c->n_out outputs for value v
 * (with the row's time value tv) at x + c->out_off. Whole frames and single
 * rows both end here, which is what makes them bit-identical.
 */
static cairn_status emit_column(const cairn_transform *t, const tcol *c, const tval *v,
                                const tval *tv, double *x)
{
    double *o = x + c->out_off;
    int is_null = 0;
    if (c->handling == H_CAT) {
        uint32_t code = 0;
        int r = read_level(c, v, &code);
        if (r < 0)
            return CAIRN_EINPUT;
        is_null = r == 0;
        if (c->flags & F_CATKEEP) {
            if (t->kind == CAIRN_TRANSFORM_GBDT) {
                /* Rare, unseen and null share the "other" code n_kept. */
                *o++ = (!is_null && code < c->n_kept) ? (double)code : (double)c->n_kept;
            } else {
                size_t width = (size_t)c->n_kept + ((c->flags & F_RARE) ? 1 : 0) + 1;
                for (size_t i = 0; i < width; i++)
                    o[i] = 0.0;
                if (!is_null) {
                    if (code < c->n_kept)
                        o[code] = 1.0;
                    else if (code < c->levels.n)
                        o[c->n_kept] = 1.0;       /* rare: F_RARE is set whenever rare levels exist */
                    else
                        o[width - 1] = 1.0;       /* unknown */
                }
                o += width;
            }
        }
    } else {
        double raw[MAX_SLOTS];
        cairn_status st = raw_slots(c, v, tv, raw, &is_null);
        if (st != CAIRN_OK)
            return st;
        for (unsigned s = 0; s < c->n_slots; s++) {
            const tslot *sl = &c->slot[s];
            if (!sl->keep)
                continue;
            double val = isnan(raw[s]) ? sl->median : raw[s];
            if (sl->standardize) {
                val = (val - sl->mean) / sl->sd;
                /* Only values near the limits of a double overflow here; the
                 * output promises finite numbers, so they saturate. */
                if (!isfinite(val))
                    val = val > 0 ? DBL_MAX : -DBL_MAX;
            }
            *o++ = val;
        }
    }
    if (c->flags & F_IND)
        *o++ = is_null ? 1.0 : 0.0;
    return CAIRN_OK;
}

/* ---- state lifetime and the derived output table ------------------------ */

void cairn_transform_opts_init(cairn_transform_opts *o)
{
    memset(o, 0, sizeof *o);
    o->rare_min_count = 10;
    o->max_levels = 100;
}

static void tcol_reset(tcol *c)
{
    cairn_free(c->name);
    cairn_dict_reset(&c->levels);
    memset(c, 0, sizeof *c);
}

void cairn_transform_free(cairn_transform *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n_cols; i++)
        tcol_reset(&t->cols[i]);
    cairn_free(t->cols);
    if (t->names)
        for (size_t i = 0; i < t->n_out; i++)
            cairn_free(t->names[i]);
    cairn_free(t->names);
    cairn_free(t->cat_levels);
    cairn_free(t->time_name);
    cairn_free(t);
}

static const char *const TIME_PART[MAX_SLOTS] = {"__hour", "__dow", "__month", "__age_days"};

/* Counts every column's outputs and builds the names; called after a fit and
 * after a load, so both produce the same table. */
static cairn_status build_outputs(cairn_transform *t)
{
    size_t n = 0;
    t->distinct_names = true;
    for (size_t i = 0; i < t->n_cols; i++) {
        if (t->time_name && strcmp(t->cols[i].name, t->time_name) == 0)
            t->distinct_names = false;
        for (size_t j = 0; j < i; j++)
            if (strcmp(t->cols[i].name, t->cols[j].name) == 0)
                t->distinct_names = false;
    }
    for (size_t i = 0; i < t->n_cols; i++) {
        tcol *c = &t->cols[i];
        size_t k = 0;
        if (c->handling == H_CAT) {
            if (c->flags & F_CATKEEP)
                k = t->kind == CAIRN_TRANSFORM_GBDT
                        ? 1
                        : (size_t)c->n_kept + ((c->flags & F_RARE) ? 1 : 0) + 1;
        } else {
            for (unsigned s = 0; s < c->n_slots; s++)
                k += c->slot[s].keep;
        }
        k += (c->flags & F_IND) ? 1 : 0;
        c->out_off = n;
        c->n_out = k;
        n += k;
    }
    t->n_out = n;
    t->names = cairn_calloc(n ? n : 1, sizeof *t->names);
    t->cat_levels = cairn_calloc(n ? n : 1, sizeof *t->cat_levels);
    if (!t->names || !t->cat_levels)
        return CAIRN_ENOMEM;
    cairn_buf b;
    cairn_buf_init(&b);
    size_t j = 0;
    for (size_t i = 0; i < t->n_cols; i++) {
        const tcol *c = &t->cols[i];
#define NAME_BEGIN() (b.len = 0, b.failed = false, cairn_buf_puts(&b, c->name))
#define NAME_END()                                                      \
    do {                                                                \
        if (b.failed || !(t->names[j++] = cairn_strndup(b.data, b.len))) \
            goto oom;                                                   \
    } while (0)
        if (c->handling == H_CAT) {
            if ((c->flags & F_CATKEEP) && t->kind == CAIRN_TRANSFORM_GBDT) {
                t->cat_levels[j] = c->n_kept + 1;
                NAME_BEGIN();
                NAME_END();
            } else if (c->flags & F_CATKEEP) {
                for (uint32_t l = 0; l < c->n_kept; l++) {
                    NAME_BEGIN();
                    cairn_buf_putc(&b, '=');
                    cairn_buf_append(&b, cairn_dict_str(&c->levels, l),
                                     cairn_dict_len(&c->levels, l));
                    NAME_END();
                }
                if (c->flags & F_RARE) {
                    NAME_BEGIN();
                    cairn_buf_puts(&b, "=__rare__");
                    NAME_END();
                }
                NAME_BEGIN();
                cairn_buf_puts(&b, "=__unknown__");
                NAME_END();
            }
        } else {
            for (unsigned s = 0; s < c->n_slots; s++) {
                if (!c->slot[s].keep)
                    continue;
                NAME_BEGIN();
                if (c->handling == H_TIME)
                    cairn_buf_puts(&b, TIME_PART[s]);
                NAME_END();
            }
        }
        if (c->flags & F_IND) {
            NAME_BEGIN();
            cairn_buf_puts(&b, "__missing");
            NAME_END();
        }
#undef NAME_BEGIN
#undef NAME_END
    }
    cairn_buf_reset(&b);
    return CAIRN_OK;
oom:
    cairn_buf_reset(&b);
    return CAIRN_ENOMEM;
}

size_t cairn_transform_n_out(const cairn_transform *t) { return t->n_out; }

const char *cairn_transform_feature_name(const cairn_transform *t, size_t i)
{
    return i < t->n_out ? t->names[i] : NULL;
}

bool cairn_transform_feature_is_categorical(const cairn_transform *t, size_t i,
                                            uint32_t *n_levels)
{
    if (i >= t->n_out || t->cat_levels[i] == 0)
        return false;
    if (n_levels)
        *n_levels = t->cat_levels[i];
    return true;
}

size_t cairn_transform_n_inputs(const cairn_transform *t) { return t->n_cols; }

const char *cairn_transform_input_name(const cairn_transform *t, size_t i)
{
    return i < t->n_cols ? t->cols[i].name : NULL;
}

const char *cairn_transform_time_name(const cairn_transform *t)
{
    return t->time_name ? t->time_name : "";
}

cairn_transform_kind cairn_transform_get_kind(const cairn_transform *t) { return t->kind; }

/* ---- fitting ------------------------------------------------------------ */

/* The value of row r of column col (NULL: a column the frame lacks). */
static void frame_val(const cairn_column *col, size_t r, tval *v)
{
    memset(v, 0, sizeof *v);
    if (!col || r >= col->n_rows || !col->valid[r])
        return;
    switch (col->type) {
    case CAIRN_TYPE_BOOL: v->kind = V_BOOL; v->b = col->v.b[r] != 0; break;
    case CAIRN_TYPE_INT64: v->kind = V_NUMBER; v->num = (double)col->v.i64[r]; break;
    case CAIRN_TYPE_FLOAT64: v->kind = V_NUMBER; v->num = col->v.f64[r]; break;
    case CAIRN_TYPE_TIMESTAMP: v->kind = V_TIME; v->us = col->v.i64[r]; break;
    case CAIRN_TYPE_STRING:
        v->kind = V_STRING;
        v->s = cairn_dict_str(&col->dict, col->v.codes[r]);
        v->n = cairn_dict_len(&col->dict, col->v.codes[r]);
        break;
    default: break;
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The exact median of v[0..n) (n >= 1; v is sorted in place): the middle
 * value, or the mean of the two middle values, halved first so that two
 * huge values cannot overflow. */
static double median_of(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    if (n % 2)
        return v[n / 2];
    double a = v[n / 2 - 1], b = v[n / 2];
    double m = (a + b) / 2;
    return isfinite(m) ? m : a / 2 + b / 2;
}

typedef struct fit_ctx {
    const cairn_frame *f;
    const uint8_t *part;
    uint8_t fit_part;
    const cairn_column *tcolumn;   /* the time column or NULL */
    size_t n_train;
    cairn_findings *findings;
    cairn_error *err;
} fit_ctx;

static bool in_fit(const fit_ctx *fc, size_t r)
{
    return !fc->part || fc->part[r] == fc->fit_part;
}

static cairn_status note(const fit_ctx *fc, const char *code, const char *column, double value,
                         const char *what, const char *why)
{
    if (!fc->findings)
        return CAIRN_OK;
    if (cairn_findings_add(fc->findings, CAIRN_SEV_INFO, code, column, value, what, why,
                           "nothing to do; check that the column is filled as intended")
        != CAIRN_OK)
        return cairn_error_set(fc->err, CAIRN_ENOMEM, column, "out of memory");
    return CAIRN_OK;
}

/* Fits a number, bool or timestamp column: medians, then constancy and
 * (linear) mean and sd over the imputed training values, so the features a
 * linear model trains on have mean 0 and sd 1 exactly as fed. */
static cairn_status fit_numeric(const fit_ctx *fc, const cairn_column *col, tcol *c,
                                cairn_transform_kind kind)
{
    cairn_status st = CAIRN_OK;
    size_t n = fc->n_train, total;
    double *vals = NULL, *tmp = NULL;
    char what[256];
    if (!cairn_mul_size(n, MAX_SLOTS, &total) || !cairn_mul_size(total, sizeof(double), &total)) {
        st = cairn_error_set(fc->err, CAIRN_ETOOBIG, col->name, "too many rows");
        goto done;
    }
    vals = cairn_malloc(total ? total : 1);
    tmp = cairn_malloc(n ? n * sizeof(double) : 1);
    if (!vals || !tmp) {
        st = cairn_error_set(fc->err, CAIRN_ENOMEM, col->name, "out of memory");
        goto done;
    }
    size_t i = 0, n_null = 0;
    for (size_t r = 0; r < fc->f->n_rows; r++) {
        if (!in_fit(fc, r))
            continue;
        tval v, tv;
        frame_val(col, r, &v);
        frame_val(fc->tcolumn, r, &tv);
        int is_null = 0;
        double raw[MAX_SLOTS];
        if (raw_slots(c, &v, &tv, raw, &is_null) != CAIRN_OK) {
            st = cairn_error_set(fc->err, CAIRN_EINPUT, col->name, "row %zu: unreadable value", r);
            goto done;
        }
        for (unsigned s = 0; s < MAX_SLOTS; s++)
            vals[s * n + i] = raw[s];
        n_null += (size_t)is_null;
        i++;
    }
    bool standardize = kind == CAIRN_TRANSFORM_LINEAR && c->handling != H_BOOL;
    if (n_null > 0 && n_null < n)
        c->flags |= F_IND;
    unsigned n_kept = 0;
    for (unsigned s = 0; s < c->n_slots; s++) {
        tslot *sl = &c->slot[s];
        const double *col_v = vals + (size_t)s * n;
        sl->standardize = standardize;
        sl->mean = 0;
        sl->sd = 1;
        size_t m = 0;
        for (i = 0; i < n; i++)
            if (!isnan(col_v[i]))
                tmp[m++] = col_v[i];
        if (m == 0) {
            sl->median = 0;
            continue;
        }
        sl->median = median_of(tmp, m);
        double lo = INFINITY, hi = -INFINITY, sum = 0;
        for (i = 0; i < n; i++) {
            double x = isnan(col_v[i]) ? sl->median : col_v[i];
            lo = x < lo ? x : lo;
            hi = x > hi ? x : hi;
            sum += x;
        }
        if (lo == hi) {
            sl->keep = 0;
        } else if (standardize) {
            /* Two passes (mean, then squared deviations): population sd. */
            double mean = sum / (double)n, ss = 0;
            for (i = 0; i < n; i++) {
                double d = (isnan(col_v[i]) ? sl->median : col_v[i]) - mean;
                ss += d * d;
            }
            double sd = sqrt(ss / (double)n);
            sl->keep = isfinite(mean) && isfinite(sd) && sd > 0;
            sl->mean = mean;
            sl->sd = sd;
        } else {
            sl->keep = 1;
        }
        n_kept += sl->keep;
    }
    if (n_null == n) {
        snprintf(what, sizeof what, "column '%s' is null in all %zu training rows; dropped",
                 col->name, n);
        st = note(fc, "constant_column", col->name, (double)n, what,
                  "a column without values carries no information");
    } else if (n_kept == 0) {
        snprintf(what, sizeof what,
                 "column '%s' has a single value on the training part (%zu rows); dropped%s",
                 col->name, n, (c->flags & F_IND) ? " (its missing indicator is kept)" : "");
        st = note(fc, "constant_column", col->name, (double)n, what,
                  "a constant feature cannot help a model and breaks standardisation");
    } else {
        for (unsigned s = 0; s < c->n_slots && st == CAIRN_OK; s++) {
            if (c->slot[s].keep)
                continue;
            snprintf(what, sizeof what, "feature '%s%s' is constant on the training part; dropped",
                     col->name, c->handling == H_TIME ? TIME_PART[s] : "");
            st = note(fc, "constant_feature", col->name, (double)n, what,
                      "a constant feature cannot help a model and breaks standardisation");
        }
    }
done:
    cairn_free(vals);
    cairn_free(tmp);
    return st;
}

typedef struct lvl {
    size_t count;
    const char *s;
    uint32_t n;
} lvl;

/* Count descending, then bytes ascending (a prefix first), so level codes
 * depend only on the training counts, not on row order. */
static int cmp_lvl(const void *a, const void *b)
{
    const lvl *x = a, *y = b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    uint32_t m = x->n < y->n ? x->n : y->n;
    int c = memcmp(x->s, y->s, m);
    if (c)
        return c;
    return (x->n > y->n) - (x->n < y->n);
}

static cairn_status fit_category(const fit_ctx *fc, const cairn_column *col, tcol *c,
                                 cairn_transform_kind kind, const cairn_transform_opts *o)
{
    cairn_status st = CAIRN_OK;
    size_t *counts = cairn_calloc(col->dict.n ? col->dict.n : 1, sizeof *counts);
    lvl *lv = cairn_calloc(col->dict.n ? col->dict.n : 1, sizeof *lv);
    char what[256];
    if (!counts || !lv) {
        st = cairn_error_set(fc->err, CAIRN_ENOMEM, col->name, "out of memory");
        goto done;
    }
    size_t n_null = 0, n_val = 0;
    for (size_t r = 0; r < fc->f->n_rows; r++) {
        if (!in_fit(fc, r))
            continue;
        if (!col->valid[r]) {
            n_null++;
        } else if (col->v.codes[r] < col->dict.n) {
            counts[col->v.codes[r]]++;
            n_val++;
        }
    }
    uint32_t L = 0;
    for (uint32_t k = 0; k < col->dict.n; k++)
        if (counts[k]) {
            lv[L].count = counts[k];
            lv[L].s = cairn_dict_str(&col->dict, k);
            lv[L].n = cairn_dict_len(&col->dict, k);
            L++;
        }
    qsort(lv, L, sizeof *lv, cmp_lvl);
    double thr_d = o->rare_min_count;
    if (thr_d > 0 && thr_d < 1)
        thr_d = ceil(thr_d * (double)n_val);
    size_t thr = thr_d >= 1 ? (thr_d > 1e18 ? (size_t)1e18 : (size_t)thr_d) : 1;
    uint32_t K = 0;
    while (K < L && K < o->max_levels && lv[K].count >= thr)
        K++;
    if (n_null > 0 && n_val > 0)
        c->flags |= F_IND;
    if (K >= 1 && L >= 2) {
        c->flags |= F_CATKEEP;
        if (kind == CAIRN_TRANSFORM_LINEAR && L > K)
            c->flags |= F_RARE;
        st = cairn_dict_reserve(&c->levels, L, 0);
        for (uint32_t k = 0; k < L && st == CAIRN_OK; k++) {
            uint32_t code;
            st = cairn_dict_intern(&c->levels, lv[k].s, lv[k].n, &code);
        }
        c->n_kept = K;
        if (st != CAIRN_OK) {
            st = cairn_error_set(fc->err, st, col->name,
                                 st == CAIRN_ENOMEM ? "out of memory" : "too many levels");
            goto done;
        }
    } else if (n_val == 0) {
        snprintf(what, sizeof what, "column '%s' is null in all %zu training rows; dropped",
                 col->name, fc->n_train);
        st = note(fc, "constant_column", col->name, (double)fc->n_train, what,
                  "a column without values carries no information");
    } else if (L <= 1) {
        snprintf(what, sizeof what,
                 "column '%s' has a single value on the training part (%zu rows); dropped%s",
                 col->name, fc->n_train, (c->flags & F_IND) ? " (its missing indicator is kept)" : "");
        st = note(fc, "constant_column", col->name, (double)fc->n_train, what,
                  "a constant feature cannot help a model");
    } else {
        snprintf(what, sizeof what,
                 "none of the %u levels of column '%s' occurs %zu times in training; dropped", L,
                 col->name, thr);
        st = note(fc, "rare_column", col->name, (double)L, what,
                  "all levels fall in the rare bucket, which is then constant");
    }
done:
    cairn_free(counts);
    cairn_free(lv);
    return st;
}

cairn_status cairn_transform_fit(const cairn_frame *f, const uint8_t *part, uint8_t fit_part,
                                 const size_t *feature_cols, size_t n_features, long time_col,
                                 cairn_transform_kind kind, const cairn_transform_opts *opts,
                                 cairn_transform **out, cairn_findings *findings,
                                 cairn_error *err)
{
    cairn_status st = CAIRN_OK;
    cairn_transform *t = NULL;
    cairn_transform_opts defaults;
    *out = NULL;
    if (!opts) {
        cairn_transform_opts_init(&defaults);
        opts = &defaults;
    }
    if (kind != CAIRN_TRANSFORM_GBDT && kind != CAIRN_TRANSFORM_LINEAR)
        return cairn_error_set(err, CAIRN_EINVAL, "", "unknown transform kind %d", (int)kind);
    if (n_features == 0)
        return cairn_error_set(err, CAIRN_EINVAL, "", "no feature columns");
    if (n_features > UINT32_MAX)
        return cairn_error_set(err, CAIRN_ETOOBIG, "", "too many feature columns");
    for (size_t i = 0; i < n_features; i++) {
        if (feature_cols[i] >= f->n_cols)
            return cairn_error_set(err, CAIRN_EINVAL, "", "feature column %zu out of range",
                                   feature_cols[i]);
        cairn_type ty = f->cols[feature_cols[i]].type;
        if (ty < CAIRN_TYPE_BOOL || ty > CAIRN_TYPE_STRING)
            return cairn_error_set(err, CAIRN_EINVAL, f->cols[feature_cols[i]].name,
                                   "column has no type");
        for (size_t j = 0; j < i; j++)
            if (feature_cols[j] == feature_cols[i])
                return cairn_error_set(err, CAIRN_EINVAL, f->cols[feature_cols[i]].name,
                                       "feature column listed twice");
    }
    if (time_col >= 0 && ((size_t)time_col >= f->n_cols
                          || f->cols[time_col].type != CAIRN_TYPE_TIMESTAMP))
        return cairn_error_set(err, CAIRN_EINVAL, "", "time column %ld is not a timestamp column",
                               time_col);
    fit_ctx fc = {f, part, fit_part, time_col >= 0 ? &f->cols[time_col] : NULL, 0, findings, err};
    for (size_t r = 0; r < f->n_rows; r++)
        fc.n_train += in_fit(&fc, r);
    if (fc.n_train == 0)
        return cairn_error_set(err, CAIRN_EINVAL, "", "no rows in the training part");

    t = cairn_calloc(1, sizeof *t);
    if (!t || !(t->cols = cairn_calloc(n_features, sizeof *t->cols)))
        goto oom;
    t->kind = kind;
    t->n_cols = n_features;
    if (time_col >= 0 && !(t->time_name = cairn_strdup(f->cols[time_col].name)))
        goto oom;
    for (size_t i = 0; i < n_features; i++) {
        const cairn_column *col = &f->cols[feature_cols[i]];
        tcol *c = &t->cols[i];
        cairn_dict_init(&c->levels);
        if (!(c->name = cairn_strdup(col->name)))
            goto oom;
        c->in_type = (uint8_t)col->type;
        switch (col->type) {
        case CAIRN_TYPE_BOOL: c->handling = H_BOOL; c->n_slots = 1; break;
        case CAIRN_TYPE_TIMESTAMP:
            c->handling = H_TIME;
            if ((long)feature_cols[i] == time_col)
                c->flags |= F_ISTIME;
            c->n_slots = (time_col >= 0 && !(c->flags & F_ISTIME)) ? 4 : 3;
            break;
        case CAIRN_TYPE_STRING: c->handling = H_CAT; c->n_slots = 0; break;
        default: c->handling = H_NUMBER; c->n_slots = 1; break;
        }
        st = c->handling == H_CAT ? fit_category(&fc, col, c, kind, opts)
                                  : fit_numeric(&fc, col, c, kind);
        if (st != CAIRN_OK)
            goto done;
    }
    if (build_outputs(t) != CAIRN_OK)
        goto oom;
    *out = t;
    t = NULL;
    goto done;
oom:
    st = cairn_error_set(err, CAIRN_ENOMEM, "", "out of memory");
done:
    cairn_transform_free(t);
    return st;
}

/* ---- applying ----------------------------------------------------------- */

cairn_status cairn_transform_apply(const cairn_transform *t, const cairn_frame *f,
                                   const uint8_t *part, uint8_t which, double **X_out,
                                   size_t *n_rows_out, cairn_error *err)
{
    cairn_status st = CAIRN_OK;
    const cairn_column **cols = NULL;
    double *X = NULL;
    *X_out = NULL;
    *n_rows_out = 0;
    bool all = !part || which == 0xFF;
    size_t n = 0, bytes;
    for (size_t r = 0; r < f->n_rows; r++)
        n += all || part[r] == which;
    if (!cairn_mul_size(n, t->n_out, &bytes) || !cairn_mul_size(bytes, sizeof(double), &bytes))
        return cairn_error_set(err, CAIRN_ETOOBIG, "", "feature matrix too large");
    cols = cairn_calloc(t->n_cols ? t->n_cols : 1, sizeof *cols);
    X = cairn_malloc(bytes ? bytes : 1);
    if (!cols || !X) {
        st = cairn_error_set(err, CAIRN_ENOMEM, "", "out of memory");
        goto done;
    }
    /* Columns by name: evaluation and later frames need not share the
     * training frame's column order; an absent column reads as null. */
    for (size_t i = 0; i < t->n_cols; i++) {
        long k = cairn_frame_find(f, t->cols[i].name);
        cols[i] = k >= 0 ? &f->cols[k] : NULL;
    }
    const cairn_column *tcolumn = NULL;
    if (t->time_name) {
        long k = cairn_frame_find(f, t->time_name);
        tcolumn = k >= 0 ? &f->cols[k] : NULL;
    }
    size_t row = 0;
    for (size_t r = 0; r < f->n_rows; r++) {
        if (!(all || part[r] == which))
            continue;
        tval tv, v;
        int64_t us;
        frame_val(tcolumn, r, &tv);
        if (read_time(&tv, &us) < 0) {
            char where[192];
            snprintf(where, sizeof where, "%s, row %zu", t->time_name, r);
            st = cairn_error_set(err, CAIRN_EINPUT, where, "value cannot be read as a timestamp");
            goto done;
        }
        double *x = X + row * t->n_out;
        for (size_t i = 0; i < t->n_cols; i++) {
            frame_val(cols[i], r, &v);
            if (emit_column(t, &t->cols[i], &v, &tv, x) != CAIRN_OK) {
                char where[192];
                snprintf(where, sizeof where, "%s, row %zu", t->cols[i].name, r);
                st = cairn_error_set(err, CAIRN_EINPUT, where,
                                     "value cannot be read as the column's type");
                goto done;
            }
        }
        row++;
    }
    *X_out = X;
    *n_rows_out = n;
    X = NULL;
done:
    cairn_free(cols);
    cairn_free(X);
    return st;
}

/* The first field named name. With ahead (NULL: plain search), *ahead
 * counts the leading fields already matched, each to a name that differs
 * from this one (the caller's names are distinct), so when the next field is
 * the one it is the first match without a search. Rows usually list their
 * fields in the order the columns are read. */
static const cairn_field *find_field(const cairn_field *fields, size_t n, const char *name,
                                     size_t *ahead)
{
    size_t a = ahead ? *ahead : n;
    if (a < n && fields[a].name && strcmp(fields[a].name, name) == 0) {
        *ahead = a + 1;
        return &fields[a];
    }
    for (size_t i = 0; i < n; i++)
        if (fields[i].name && strcmp(fields[i].name, name) == 0)
            return &fields[i];
    return NULL;
}

static int field_val(const cairn_field *fl, tval *v)
{
    memset(v, 0, sizeof *v);
    if (!fl)
        return 0;
    switch (fl->kind) {
    case CAIRN_VALUE_NULL: return 0;
    case CAIRN_VALUE_BOOL: v->kind = V_BOOL; v->b = fl->b != 0; return 0;
    case CAIRN_VALUE_NUMBER: v->kind = V_NUMBER; v->num = fl->num; return 0;
    case CAIRN_VALUE_STRING:
        v->kind = V_STRING;
        v->s = fl->str ? fl->str : "";
        v->n = fl->str ? fl->str_len : 0;
        return 0;
    }
    return -1;
}

cairn_status cairn_transform_apply_row(const cairn_transform *t, const cairn_field *fields,
                                       size_t n_fields, double *x, cairn_error *err)
{
    tval tv, v;
    size_t ahead_n = 0, *ahead = t->distinct_names ? &ahead_n : NULL;
    if (t->time_name && field_val(find_field(fields, n_fields, t->time_name, ahead), &tv) < 0)
        return cairn_error_set(err, CAIRN_EINPUT, t->time_name, "unknown value kind");
    if (!t->time_name)
        memset(&tv, 0, sizeof tv);
    int64_t us;
    /* Checked once here so a bad time value is reported under its own name. */
    if (t->time_name && read_time(&tv, &us) < 0)
        return cairn_error_set(err, CAIRN_EINPUT, t->time_name, "value cannot be read as a timestamp");
    for (size_t i = 0; i < t->n_cols; i++) {
        const tcol *c = &t->cols[i];
        if (field_val(find_field(fields, n_fields, c->name, ahead), &v) < 0
            || emit_column(t, c, &v, &tv, x) != CAIRN_OK)
            return cairn_error_set(err, CAIRN_EINPUT, c->name,
                                   "value cannot be read as the column's type");
    }
    return CAIRN_OK;
}

/* ---- binary form -------------------------------------------------------- */

static void put_u8(cairn_buf *b, uint8_t v) { cairn_buf_append(b, &v, 1); }

static void put_u32(cairn_buf *b, uint32_t v)
{
    unsigned char p[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    cairn_buf_append(b, p, 4);
}

static void put_f64(cairn_buf *b, double d)
{
    uint64_t v;
    memcpy(&v, &d, 8);
    unsigned char p[8];
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
    cairn_buf_append(b, p, 8);
}

static void put_str(cairn_buf *b, const char *s, size_t n)
{
    if (n > UINT32_MAX) {
        b->failed = true;
        return;
    }
    put_u32(b, (uint32_t)n);
    cairn_buf_append(b, s, n);
}

void cairn_transform_to_bytes(const cairn_transform *t, cairn_buf *b)
{
    cairn_buf_append(b, MAGIC, sizeof MAGIC);
    put_u32(b, FORMAT_VERSION);
    put_u32(b, (uint32_t)t->kind);
    put_str(b, t->time_name ? t->time_name : "", t->time_name ? strlen(t->time_name) : 0);
    if (t->n_cols > UINT32_MAX) {
        b->failed = true;
        return;
    }
    put_u32(b, (uint32_t)t->n_cols);
    for (size_t i = 0; i < t->n_cols; i++) {
        const tcol *c = &t->cols[i];
        put_str(b, c->name, strlen(c->name));
        put_u8(b, c->in_type);
        put_u8(b, c->handling);
        put_u8(b, c->flags);
        put_u8(b, c->n_slots);
        for (unsigned s = 0; s < c->n_slots; s++) {
            put_u8(b, c->slot[s].keep);
            put_u8(b, c->slot[s].standardize);
            put_f64(b, c->slot[s].median);
            put_f64(b, c->slot[s].mean);
            put_f64(b, c->slot[s].sd);
        }
        if (c->handling == H_CAT) {
            put_u32(b, c->levels.n);
            put_u32(b, c->n_kept);
            for (uint32_t l = 0; l < c->levels.n; l++)
                put_str(b, cairn_dict_str(&c->levels, l), cairn_dict_len(&c->levels, l));
        }
    }
}

typedef struct rd {
    const unsigned char *p;
    size_t n, off;
} rd;

static bool get_u8(rd *r, uint8_t *v)
{
    if (r->n - r->off < 1)
        return false;
    *v = r->p[r->off++];
    return true;
}

static bool get_u32(rd *r, uint32_t *v)
{
    if (r->n - r->off < 4)
        return false;
    const unsigned char *p = r->p + r->off;
    *v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    r->off += 4;
    return true;
}

static bool get_f64(rd *r, double *d)
{
    if (r->n - r->off < 8)
        return false;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)r->p[r->off + (size_t)i] << (8 * i);
    memcpy(d, &v, 8);
    r->off += 8;
    return true;
}

/* A length-prefixed string; the bytes stay in the input. */
static bool get_str(rd *r, const char **s, uint32_t *len)
{
    uint32_t n;
    if (!get_u32(r, &n) || r->n - r->off < n)
        return false;
    *s = (const char *)r->p + r->off;
    *len = n;
    r->off += n;
    return true;
}

/* A string that becomes a C string (names): no NUL inside. */
static char *get_cstr(rd *r, bool *oom, bool allow_empty)
{
    const char *s;
    uint32_t n;
    if (!get_str(r, &s, &n) || (!allow_empty && n == 0) || memchr(s, 0, n))
        return NULL;
    char *c = cairn_strndup(s, n);
    if (!c)
        *oom = true;
    return c;
}

static bool handling_matches(uint8_t handling, uint8_t in_type)
{
    switch (handling) {
    case H_NUMBER: return in_type == CAIRN_TYPE_INT64 || in_type == CAIRN_TYPE_FLOAT64;
    case H_BOOL: return in_type == CAIRN_TYPE_BOOL;
    case H_TIME: return in_type == CAIRN_TYPE_TIMESTAMP;
    case H_CAT: return in_type == CAIRN_TYPE_STRING;
    default: return false;
    }
}

/* Reads and checks one column; false means corrupt (or *oom). Every check
 * mirrors what a fit can produce, so whatever loads writes back the same
 * bytes and applies without surprises. */
static bool read_col(rd *r, const cairn_transform *t, tcol *c, bool *oom)
{
    bool have_time = t->time_name != NULL;
    if (!(c->name = get_cstr(r, oom, false)))
        return false;
    if (!get_u8(r, &c->in_type) || !get_u8(r, &c->handling) || !get_u8(r, &c->flags)
        || !get_u8(r, &c->n_slots))
        return false;
    if (!handling_matches(c->handling, c->in_type) || (c->flags & ~F_ALL))
        return false;
    if ((c->flags & F_ISTIME)
        && (c->handling != H_TIME || !have_time || strcmp(c->name, t->time_name) != 0))
        return false;
    if ((c->flags & (F_CATKEEP | F_RARE)) && c->handling != H_CAT)
        return false;
    if ((c->flags & F_RARE) && t->kind != CAIRN_TRANSFORM_LINEAR)
        return false;
    unsigned want = c->handling == H_CAT ? 0
                    : c->handling == H_TIME ? ((have_time && !(c->flags & F_ISTIME)) ? 4 : 3)
                                            : 1;
    if (c->n_slots != want)
        return false;
    bool standardize = t->kind == CAIRN_TRANSFORM_LINEAR && c->handling != H_BOOL;
    for (unsigned s = 0; s < c->n_slots; s++) {
        tslot *sl = &c->slot[s];
        if (!get_u8(r, &sl->keep) || !get_u8(r, &sl->standardize) || !get_f64(r, &sl->median)
            || !get_f64(r, &sl->mean) || !get_f64(r, &sl->sd))
            return false;
        if (sl->keep > 1 || sl->standardize != standardize)
            return false;
        if (sl->keep && (!isfinite(sl->median)
                         || (standardize && (!isfinite(sl->mean) || !isfinite(sl->sd)
                                             || !(sl->sd > 0)))))
            return false;
    }
    if (c->handling != H_CAT)
        return true;
    uint32_t n_levels, n_kept;
    if (!get_u32(r, &n_levels) || !get_u32(r, &n_kept))
        return false;
    bool keep = c->flags & F_CATKEEP;
    if (keep ? (n_kept < 1 || n_levels < 2 || n_kept > n_levels) : (n_levels || n_kept))
        return false;
    if ((t->kind == CAIRN_TRANSFORM_LINEAR && keep && n_levels > n_kept) != !!(c->flags & F_RARE))
        return false;
    /* Each level takes at least its 4-byte length: bound the count before reserving. */
    if (n_levels > (r->n - r->off) / 4)
        return false;
    cairn_status rs = cairn_dict_reserve(&c->levels, n_levels, 0);
    if (rs != CAIRN_OK) {
        *oom = rs == CAIRN_ENOMEM;
        return false;
    }
    for (uint32_t l = 0; l < n_levels; l++) {
        const char *s;
        uint32_t len, code;
        if (!get_str(r, &s, &len))
            return false;
        if (cairn_dict_intern(&c->levels, s, len, &code) != CAIRN_OK) {
            *oom = true;
            return false;
        }
        if (code != l)
            return false;    /* a duplicate level */
    }
    c->n_kept = n_kept;
    return true;
}

cairn_status cairn_transform_from_bytes(const char *p, size_t n, cairn_transform **out,
                                        cairn_error *err)
{
    cairn_status st = CAIRN_OK;
    cairn_transform *t = NULL;
    rd r = {(const unsigned char *)p, n, 0};
    bool oom = false;
    uint32_t version, kind, n_cols;
    char where[48];
    *out = NULL;
    if (n < sizeof MAGIC || memcmp(p, MAGIC, sizeof MAGIC) != 0)
        goto corrupt;
    r.off = sizeof MAGIC;
    if (!get_u32(&r, &version) || version != FORMAT_VERSION || !get_u32(&r, &kind) || kind > 1)
        goto corrupt;
    if (!(t = cairn_calloc(1, sizeof *t)))
        goto nomem;
    t->kind = (cairn_transform_kind)kind;
    char *tn = get_cstr(&r, &oom, true);
    if (!tn)
        goto fail;
    if (*tn)
        t->time_name = tn;
    else
        cairn_free(tn);
    /* The smallest column: a 1-byte name with its length and four bytes. */
    if (!get_u32(&r, &n_cols) || n_cols == 0 || n_cols > (r.n - r.off) / 9)
        goto corrupt;
    if (!(t->cols = cairn_calloc(n_cols, sizeof *t->cols)))
        goto nomem;
    t->n_cols = n_cols;
    for (size_t i = 0; i < n_cols; i++)
        cairn_dict_init(&t->cols[i].levels);
    for (size_t i = 0; i < n_cols; i++)
        if (!read_col(&r, t, &t->cols[i], &oom))
            goto fail;
    if (r.off != r.n)
        goto corrupt;
    if (build_outputs(t) != CAIRN_OK)
        goto nomem;
    *out = t;
    t = NULL;
    goto done;
fail:
    if (oom)
        goto nomem;
corrupt:
    snprintf(where, sizeof where, "byte %zu", r.off);
    st = cairn_error_set(err, CAIRN_ECORRUPT, where, "transform state is corrupt");
    goto done;
nomem:
    st = cairn_error_set(err, CAIRN_ENOMEM, "", "out of memory");
done:
    cairn_transform_free(t);
    return st;
}
