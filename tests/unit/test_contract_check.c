/*
 * test_contract_check.c -- checking frames against contracts (a frame passes
 * its own inferred contract; injected faults are reported at exactly the
 * rows they were injected at; missing and extra columns; null rates;
 * duplicate keys; conversions between data and contract types; the JSON
 * report) and validating single rows (field-level violations).
 */
#include "test_contract_util.h"

#include <cjson/cJSON.h>
#include <stdio.h>

#define R 12

/* The base data: every column typed as a reader would type clean input. */
static const char *const base_ids[R] = {"C000", "C001", "C002", "C003", "C004", "C005",
                                        "C006", "C007", "C008", "C009", "C010", "C011"};
static const int64_t base_tenure[R] = {1, 34, 2, 45, 2, 8, 22, 10, 28, 62, 13, 16};
static const double base_amount[R] = {29.85, 56.95, 53.85, 42.3, 70.7, 99.65,
                                      89.1,  29.75, 104.8, 56.15, 49.95, 18.95};
static const char *const base_plan[R] = {"basic", "pro", "pro", "basic", "pro", "basic",
                                         "basic", "pro", "pro", "basic", "pro", "basic"};
static const uint8_t base_churn[R] = {0, 0, 1, 0, 1, 1, 0, 0, 1, 0, 0, 0};

static cairn_frame *base_frame(void)
{
    int64_t joined[R];
    for (int r = 0; r < R; r++)
        joined[r] = (int64_t)1600000000000000 + (int64_t)r * 3600000000;
    cairn_frame *f = tc_frame(6, R);
    tc_col_str(f, 0, "cust_id", base_ids);
    tc_col_i64(f, 1, "tenure", CAIRN_TYPE_INT64, base_tenure, NULL);
    tc_col_f64(f, 2, "amount", base_amount, NULL);
    tc_col_str(f, 3, "plan", base_plan);
    tc_col_i64(f, 4, "joined", CAIRN_TYPE_TIMESTAMP, joined, NULL);
    tc_col_bool(f, 5, "churn", base_churn, NULL);
    return f;
}

static cairn_contract *infer(const cairn_frame *f)
{
    cairn_colstats *stats = tc_stats(f);
    cairn_contract *c = NULL;
    cairn_error err = {0};
    assert_int_equal(cairn_contract_infer(f, stats, NULL, &c, &err), CAIRN_OK);
    free(stats);
    return c;
}

static cairn_check_report check(const cairn_contract *c, const cairn_frame *f)
{
    cairn_check_report rep;
    cairn_error err = {0};
    assert_int_equal(cairn_contract_check(c, f, &rep, &err), CAIRN_OK);
    return rep;
}

static const cairn_check_issue *find_issue(const cairn_check_report *rep, cairn_check_kind k,
                                           const char *column)
{
    for (size_t i = 0; i < rep->n_issues; i++)
        if (rep->issues[i].kind == k && strcmp(rep->issues[i].column, column) == 0)
            return &rep->issues[i];
    fail_msg("no %s issue for column %s", cairn_check_kind_name(k), column);
    return NULL;
}

/* The issue has exactly these rows (all of them, so count == n). */
static void assert_rows(const cairn_check_issue *is, const int64_t *rows, size_t n)
{
    assert_int_equal(is->count, n);
    assert_int_equal(is->n_examples, n < CAIRN_CHECK_EXAMPLES ? n : CAIRN_CHECK_EXAMPLES);
    for (size_t k = 0; k < is->n_examples; k++)
        assert_int_equal(is->example_rows[k], rows[k]);
}

static void test_frame_passes_own_contract(void **state)
{
    (void)state;
    cairn_frame *f = base_frame();
    cairn_contract *c = infer(f);
    cairn_check_report rep = check(c, f);
    assert_int_equal(rep.n_rows, R);
    assert_int_equal(rep.n_columns_checked, 6);
    if (rep.n_issues)
        fail_msg("unexpected issue %s on %s: %s", cairn_check_kind_name(rep.issues[0].kind),
                 rep.issues[0].column, rep.issues[0].detail);
    assert_int_equal(rep.n_errors, 0);
    assert_int_equal(rep.n_warnings, 0);
    cairn_check_report_reset(&rep);
    cairn_contract_free(c);
    cairn_frame_free(f);
}

/*
 * The issue's scenario: a copy with an out-of-range number, an unknown
 * category and text values in a numeric column (which a reader then types
 * as string) fails with exactly those rows named.
 */
static void test_injected_faults(void **state)
{
    (void)state;
    cairn_frame *clean = base_frame();
    cairn_contract *c = infer(clean);

    cairn_frame *f = base_frame();
    f->cols[1].v.i64[7] = -3;    /* below the minimum 1 */
    f->cols[1].v.i64[9] = 500;   /* above the maximum 62 */
    tc_set_str(&f->cols[3], 4, "gold");
    /* amount as the reader would see it with text in it: a string column */
    const char *amount_text[R];
    char tmp[R][40];
    for (int r = 0; r < R; r++) {
        cairn_fmt_double(tmp[r], sizeof tmp[r], base_amount[r]);
        amount_text[r] = tmp[r];
    }
    amount_text[2] = "abc";
    amount_text[10] = "twelve";
    amount_text[5] = "1e6"; /* converts, but is above the maximum */
    cairn_column_reset(&f->cols[2]);
    tc_col_str(f, 2, "amount", amount_text);

    cairn_check_report rep = check(c, f);
    static const int64_t wrong_rows[] = {2, 10};
    static const int64_t big_rows[] = {5};
    static const int64_t below_rows[] = {7};
    static const int64_t above_rows[] = {9};
    static const int64_t cat_rows[] = {4};
    const cairn_check_issue *is = find_issue(&rep, CAIRN_CHECK_WRONG_TYPE, "amount");
    assert_rows(is, wrong_rows, 2);
    assert_true(is->is_error);
    assert_string_equal(is->example_values[0], "abc");
    assert_string_equal(is->example_values[1], "twelve");
    assert_non_null(strstr(is->detail, "float64"));
    assert_rows(find_issue(&rep, CAIRN_CHECK_ABOVE_MAX, "amount"), big_rows, 1);
    is = find_issue(&rep, CAIRN_CHECK_BELOW_MIN, "tenure");
    assert_rows(is, below_rows, 1);
    assert_string_equal(is->example_values[0], "-3");
    assert_string_equal(is->detail, "below minimum 1");
    is = find_issue(&rep, CAIRN_CHECK_ABOVE_MAX, "tenure");
    assert_rows(is, above_rows, 1);
    assert_string_equal(is->detail, "above maximum 62");
    is = find_issue(&rep, CAIRN_CHECK_UNKNOWN_CATEGORY, "plan");
    assert_rows(is, cat_rows, 1);
    assert_string_equal(is->example_values[0], "gold");
    /* and nothing else */
    assert_int_equal(rep.n_issues, 5);
    assert_int_equal(rep.n_errors, 5);
    assert_int_equal(rep.n_warnings, 0);

    /* The JSON form carries the same facts. */
    cairn_buf b;
    cairn_buf_init(&b);
    cairn_check_report_to_json(&rep, &b);
    cJSON *j = cJSON_Parse(b.data);
    assert_non_null(j);
    assert_int_equal(cJSON_GetObjectItem(j, "rows")->valueint, R);
    assert_int_equal(cJSON_GetObjectItem(j, "columns_checked")->valueint, 6);
    assert_int_equal(cJSON_GetObjectItem(j, "errors")->valueint, 5);
    assert_int_equal(cJSON_GetObjectItem(j, "warnings")->valueint, 0);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(j, "ok")));
    cJSON *issues = cJSON_GetObjectItem(j, "issues");
    assert_int_equal(cJSON_GetArraySize(issues), 5);
    for (int i = 0; i < 5; i++) {
        cJSON *it = cJSON_GetArrayItem(issues, i);
        const cairn_check_issue *ri = &rep.issues[i];
        assert_string_equal(cJSON_GetObjectItem(it, "kind")->valuestring,
                            cairn_check_kind_name(ri->kind));
        assert_string_equal(cJSON_GetObjectItem(it, "severity")->valuestring, "error");
        assert_string_equal(cJSON_GetObjectItem(it, "column")->valuestring, ri->column);
        assert_int_equal(cJSON_GetObjectItem(it, "count")->valueint, (int)ri->count);
        assert_string_equal(cJSON_GetObjectItem(it, "detail")->valuestring, ri->detail);
        cJSON *ex = cJSON_GetObjectItem(it, "examples");
        assert_int_equal(cJSON_GetArraySize(ex), (int)ri->n_examples);
        for (size_t k = 0; k < ri->n_examples; k++) {
            cJSON *e = cJSON_GetArrayItem(ex, (int)k);
            assert_int_equal(cJSON_GetObjectItem(e, "row")->valueint, (int)ri->example_rows[k]);
            assert_string_equal(cJSON_GetObjectItem(e, "value")->valuestring,
                                ri->example_values[k]);
        }
    }
    cJSON_Delete(j);
    cairn_buf_reset(&b);

    cairn_check_report_reset(&rep);
    cairn_contract_free(c);
    cairn_frame_free(f);
    cairn_frame_free(clean);
}

static void test_missing_and_extra_columns(void **state)
{
    (void)state;
    cairn_frame *full = base_frame();
    cairn_contract *c = infer(full);
    /* same data without plan, with an extra column notes */
    cairn_frame *f = base_frame();
    cairn_column_reset(&f->cols[3]);
    static const char *const notes[R] = {"a", "b", "c", "d", "e", "f",
                                         "g", "h", "i", "j", "k", "l"};
    tc_col_str(f, 3, "notes", notes);
    cairn_check_report rep = check(c, f);
    assert_int_equal(rep.n_columns_checked, 5);
    assert_int_equal(rep.n_issues, 2);
    const cairn_check_issue *m = find_issue(&rep, CAIRN_CHECK_MISSING_COLUMN, "plan");
    assert_true(m->is_error);
    assert_int_equal(m->n_examples, 0);
    const cairn_check_issue *x = find_issue(&rep, CAIRN_CHECK_EXTRA_COLUMN, "notes");
    assert_false(x->is_error);
    assert_int_equal(rep.n_errors, 1);
    assert_int_equal(rep.n_warnings, 1);

    cairn_buf b;
    cairn_buf_init(&b);
    cairn_check_report_to_json(&rep, &b);
    cJSON *j = cJSON_Parse(b.data);
    assert_non_null(j);
    cJSON *it = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "issues"), 1);
    assert_string_equal(cJSON_GetObjectItem(it, "severity")->valuestring, "warning");
    assert_string_equal(cJSON_GetObjectItem(it, "kind")->valuestring, "extra_column");
    cJSON_Delete(j);
    cairn_buf_reset(&b);

    /* only an extra column: ok, with a warning */
    cairn_check_report_reset(&rep);
    cairn_frame_free(f);
    f = tc_frame(7, R);
    cairn_frame *tmp = base_frame();
    for (size_t i = 0; i < 6; i++) { /* move the base columns over */
        f->cols[i] = tmp->cols[i];
        memset(&tmp->cols[i], 0, sizeof tmp->cols[i]);
    }
    cairn_frame_free(tmp);
    tc_col_str(f, 6, "notes", notes);
    cairn_check_report rep2 = check(c, f);
    assert_int_equal(rep2.n_errors, 0);
    assert_int_equal(rep2.n_warnings, 1);
    assert_int_equal(rep2.n_columns_checked, 6);
    cairn_buf_init(&b);
    cairn_check_report_to_json(&rep2, &b);
    j = cJSON_Parse(b.data);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(j, "ok")));
    cJSON_Delete(j);
    cairn_buf_reset(&b);

    cairn_check_report_reset(&rep2);
    cairn_contract_free(c);
    cairn_frame_free(f);
    cairn_frame_free(full);
}

static void test_null_rates(void **state)
{
    (void)state;
    cairn_contract *c = tc_parse("columns:\n"
                                 "  - {name: a, type: int64, nullable: false}\n"
                                 "  - {name: b, type: int64, max_null_rate: 0.2}\n"
                                 "  - {name: c, type: int64, max_null_rate: 0.3}\n");
    enum { M = 10 };
    static const int64_t v[M] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    static const uint8_t va[M] = {1, 1, 0, 1, 0, 1, 1, 1, 1, 1};
    static const uint8_t vb[M] = {1, 0, 1, 0, 1, 0, 1, 1, 1, 1};
    static const uint8_t vc[M] = {0, 1, 1, 1, 1, 1, 1, 1, 1, 0};
    cairn_frame *f = tc_frame(3, M);
    tc_col_i64(f, 0, "a", CAIRN_TYPE_INT64, v, va);
    tc_col_i64(f, 1, "b", CAIRN_TYPE_INT64, v, vb);
    tc_col_i64(f, 2, "c", CAIRN_TYPE_INT64, v, vc);
    cairn_check_report rep = check(c, f);
    static const int64_t ra[] = {2, 4};
    static const int64_t rb[] = {1, 3, 5};
    const cairn_check_issue *is = find_issue(&rep, CAIRN_CHECK_NULL_RATE, "a");
    assert_rows(is, ra, 2);
    assert_null(is->example_values[0]); /* nulls have no value */
    assert_non_null(strstr(is->detail, "not nullable"));
    is = find_issue(&rep, CAIRN_CHECK_NULL_RATE, "b");
    assert_rows(is, rb, 3);
    assert_non_null(strstr(is->detail, "0.3"));
    assert_int_equal(rep.n_issues, 2); /* c: 0.2 <= 0.3 */

    cairn_buf b;
    cairn_buf_init(&b);
    cairn_check_report_to_json(&rep, &b);
    cJSON *j = cJSON_Parse(b.data);
    cJSON *e = cJSON_GetArrayItem(
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "issues"), 0), "examples"),
        0);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(e, "value")));
    cJSON_Delete(j);
    cairn_buf_reset(&b);

    cairn_check_report_reset(&rep);
    cairn_contract_free(c);
    cairn_frame_free(f);
}

static void test_duplicate_keys(void **state)
{
    (void)state;
    cairn_contract *c = tc_parse("columns:\n"
                                 "  - {name: k, type: string, unique: true}\n"
                                 "  - {name: i, type: int64, unique: true}\n"
                                 "  - {name: f, type: float64, unique: true}\n"
                                 "  - {name: t, type: timestamp, unique: true}\n"
                                 "  - {name: s, type: int64, unique: true}\n");
    enum { M = 7 };
    static const char *const k[M] = {"a", "b", "c", "a", "d", "b", "a"};
    static const int64_t i[M] = {5, 1, 5, 2, 1, 5, 9};
    static const double fv[M] = {0.0, 1.5, -0.0, 2.5, 1.5, 3.0, 4.0};
    static const int64_t t[M] = {10, 20, 30, 40, 50, 60, 70};
    static const char *const s[M] = {"1", "2", "01", "x", "2", NULL, "3"};
    cairn_frame *f = tc_frame(5, M);
    tc_col_str(f, 0, "k", k);
    tc_col_i64(f, 1, "i", CAIRN_TYPE_INT64, i, NULL);
    tc_col_f64(f, 2, "f", fv, NULL);
    tc_col_i64(f, 3, "t", CAIRN_TYPE_TIMESTAMP, t, NULL);
    tc_col_str(f, 4, "s", s); /* ints as strings: "01" converts to 1 and repeats "1" */
    cairn_check_report rep = check(c, f);
    static const int64_t rk[] = {3, 5, 6}, ri[] = {2, 4, 5}, rf[] = {2, 4}, rs[] = {2, 4};
    static const int64_t rx[] = {3};
    assert_rows(find_issue(&rep, CAIRN_CHECK_DUPLICATE_KEY, "k"), rk, 3);
    assert_rows(find_issue(&rep, CAIRN_CHECK_DUPLICATE_KEY, "i"), ri, 3);
    assert_rows(find_issue(&rep, CAIRN_CHECK_DUPLICATE_KEY, "f"), rf, 2);
    assert_rows(find_issue(&rep, CAIRN_CHECK_DUPLICATE_KEY, "s"), rs, 2);
    assert_rows(find_issue(&rep, CAIRN_CHECK_WRONG_TYPE, "s"), rx, 1);
    assert_int_equal(rep.n_issues, 5); /* t has none; s's null is allowed (nullable default) */
    cairn_check_report_reset(&rep);
    cairn_contract_free(c);
    cairn_frame_free(f);
}

/* Data types that differ from the contract's. */
static void test_type_conversions(void **state)
{
    (void)state;
    cairn_contract *c = tc_parse("columns:\n"
                                 "  - {name: wide, type: float64, min: 0, max: 10}\n"
                                 "  - {name: flag, type: string, domain: ['false', 'true']}\n"
                                 "  - {name: code, type: string, domain: ['1', '2']}\n"
                                 "  - {name: n, type: int64, min: 0}\n"
                                 "  - {name: when, type: timestamp}\n"
                                 "  - {name: yes, type: bool}\n");
    enum { M = 4 };
    static const int64_t wide[M] = {0, 10, 3, 7};
    static const uint8_t flag[M] = {1, 0, 0, 1};
    static const int64_t code[M] = {1, 2, 3, 1};
    static const double n[M] = {1.0, 2.5, -1.0, 3.0};
    static const char *const when[M] = {"2024-01-01", "yesterday", NULL, "2024-02-29T10:00Z"};
    static const char *const yes[M] = {"true", "F", "maybe", "FALSE"};
    cairn_frame *f = tc_frame(6, M);
    tc_col_i64(f, 0, "wide", CAIRN_TYPE_INT64, wide, NULL);
    tc_col_bool(f, 1, "flag", flag, NULL);
    tc_col_i64(f, 2, "code", CAIRN_TYPE_INT64, code, NULL);
    tc_col_f64(f, 3, "n", n, NULL);
    tc_col_str(f, 4, "when", when);
    tc_col_str(f, 5, "yes", yes);
    cairn_check_report rep = check(c, f);
    static const int64_t r2[] = {2}, r1[] = {1};
    const cairn_check_issue *is = find_issue(&rep, CAIRN_CHECK_UNKNOWN_CATEGORY, "code");
    assert_rows(is, r2, 1);
    assert_string_equal(is->example_values[0], "3");
    is = find_issue(&rep, CAIRN_CHECK_WRONG_TYPE, "n");
    assert_rows(is, r1, 1);
    assert_string_equal(is->example_values[0], "2.5");
    assert_rows(find_issue(&rep, CAIRN_CHECK_BELOW_MIN, "n"), r2, 1);
    assert_rows(find_issue(&rep, CAIRN_CHECK_WRONG_TYPE, "when"), r1, 1);
    assert_rows(find_issue(&rep, CAIRN_CHECK_WRONG_TYPE, "yes"), r2, 1);
    assert_int_equal(rep.n_issues, 5);
    cairn_check_report_reset(&rep);
    cairn_contract_free(c);
    cairn_frame_free(f);
}

/* At most CAIRN_CHECK_EXAMPLES examples, the first rows, but the full count. */
static void test_examples_capped(void **state)
{
    (void)state;
    cairn_contract *c = tc_parse("columns:\n  - {name: x, type: float64, max: 1}\n");
    enum { M = 20 };
    double v[M];
    int64_t bad[M];
    size_t n_bad = 0;
    for (int r = 0; r < M; r++) {
        v[r] = (r % 3 == 1) ? 5.0 + r : 0.5;
        if (v[r] > 1)
            bad[n_bad++] = r;
    }
    cairn_frame *f = tc_frame(1, M);
    tc_col_f64(f, 0, "x", v, NULL);
    cairn_check_report rep = check(c, f);
    const cairn_check_issue *is = find_issue(&rep, CAIRN_CHECK_ABOVE_MAX, "x");
    assert_true(n_bad > CAIRN_CHECK_EXAMPLES);
    assert_rows(is, bad, n_bad);
    char want[40];
    cairn_fmt_double(want, sizeof want, v[bad[0]]);
    assert_string_equal(is->example_values[0], want);
    cairn_check_report_reset(&rep);
    cairn_contract_free(c);
    cairn_frame_free(f);
}

static void test_check_alloc_failures(void **state)
{
    (void)state;
    cairn_frame *clean = base_frame();
    cairn_contract *c = infer(clean);
    cairn_frame *f = base_frame();
    f->cols[1].v.i64[7] = -3;
    tc_set_str(&f->cols[3], 4, "gold");
    for (long n = 1;; n++) {
        cairn_check_report rep;
        cairn_error err = {0};
        cairn_alloc_fail_after(n, false);
        cairn_status st = cairn_contract_check(c, f, &rep, &err);
        cairn_alloc_fail_after(0, false);
        if (st == CAIRN_OK) {
            assert_int_equal(rep.n_errors, 2);
            cairn_check_report_reset(&rep);
            break;
        }
        assert_int_equal(st, CAIRN_ENOMEM);
        assert_int_equal(rep.n_issues, 0);
        assert_true(n < 10000);
    }
    cairn_contract_free(c);
    cairn_frame_free(f);
    cairn_frame_free(clean);
}

/* ---- single rows ------------------------------------------------------------------ */

static const char *row_contract =
    "columns:\n"
    "  - {name: tenure, type: int64, min: 0, max: 72, nullable: false}\n"
    "  - {name: amount, type: float64, min: 0, nullable: true}\n"
    "  - {name: plan, type: string, domain: [basic, pro], nullable: false}\n"
    "  - {name: when, type: timestamp, nullable: true, min: 2020-01-01}\n"
    "  - {name: flag, type: bool, nullable: true}\n"
    "  - {name: churn, type: string, role: label, nullable: false}\n"
    "  - {name: email, type: string, role: ignore, pii: email, nullable: false}\n"
    "  - {name: cust, type: string, role: entity, nullable: false}\n"
    "  - {name: code, type: string, domain: ['1', '2'], nullable: true}\n";

static cairn_field fnum(const char *name, double v)
{
    cairn_field f = {name, CAIRN_VALUE_NUMBER, 0, v, NULL, 0};
    return f;
}
static cairn_field fstr(const char *name, const char *s)
{
    cairn_field f = {name, CAIRN_VALUE_STRING, 0, 0, s, strlen(s)};
    return f;
}
static cairn_field fbool(const char *name, int b)
{
    cairn_field f = {name, CAIRN_VALUE_BOOL, b, 0, NULL, 0};
    return f;
}
static cairn_field fnull(const char *name)
{
    cairn_field f = {name, CAIRN_VALUE_NULL, 0, 0, NULL, 0};
    return f;
}

/* Validates fields (tenure and plan valid unless overridden) and returns the violations. */
static cairn_status validate(const cairn_contract *c, const cairn_field *extra, size_t n_extra,
                             cairn_violations *v)
{
    cairn_field fields[16];
    size_t n = 0;
    bool have_tenure = false, have_plan = false;
    for (size_t i = 0; i < n_extra; i++) {
        have_tenure |= extra[i].name && strcmp(extra[i].name, "tenure") == 0;
        have_plan |= extra[i].name && strcmp(extra[i].name, "plan") == 0;
    }
    if (!have_tenure)
        fields[n++] = fnum("tenure", 5);
    if (!have_plan)
        fields[n++] = fstr("plan", "pro");
    for (size_t i = 0; i < n_extra; i++)
        fields[n++] = extra[i];
    return cairn_contract_validate_row(c, fields, n, 7, v, NULL);
}

/* One field, one expected problem (NULL: valid). */
static void expect(const cairn_contract *c, cairn_field fd, const char *problem, const char *value)
{
    cairn_violations v = {0};
    cairn_status st = validate(c, &fd, 1, &v);
    if (!problem) {
        if (st != CAIRN_OK)
            fail_msg("%s: unexpected violation %s", fd.name, v.n ? v.items[0].problem : "?");
        assert_int_equal(v.n, 0);
    } else {
        assert_int_equal(st, CAIRN_ECHECK);
        assert_int_equal(v.n, 1);
        assert_int_equal(v.items[0].row, 7);
        assert_string_equal(v.items[0].field, fd.name ? fd.name : "");
        assert_string_equal(v.items[0].problem, problem);
        if (value)
            assert_string_equal(v.items[0].value, value);
    }
    cairn_violations_reset(&v);
}

static void test_validate_row(void **state)
{
    (void)state;
    cairn_contract *c = tc_parse(row_contract);
    /* a valid row: the label, the entity and ignored columns may be absent */
    expect(c, fstr("amount", "12.5"), NULL, NULL);
    expect(c, fnum("amount", 0), NULL, NULL);
    expect(c, fnull("amount"), NULL, NULL);
    expect(c, fstr("tenure", "42"), NULL, NULL);
    expect(c, fnum("tenure", 72.0), NULL, NULL);
    expect(c, fstr("when", "2021-03-04"), NULL, NULL);
    expect(c, fbool("flag", 1), NULL, NULL);
    expect(c, fnum("flag", 0), NULL, NULL);
    expect(c, fstr("flag", "False"), NULL, NULL);
    expect(c, fnum("email", 5), NULL, NULL); /* ignore: accepted, not checked */
    expect(c, fstr("churn", "Yes"), NULL, NULL);
    expect(c, fstr("cust", "C1"), NULL, NULL);
    expect(c, fnum("code", 1), NULL, NULL);  /* compared by its text "1" */
    expect(c, fstr("code", "2"), NULL, NULL);

    expect(c, fnum("tenure", 3.5), "expected an integer", "3.5");
    expect(c, fstr("tenure", "3.0"), "expected an integer", "3.0");
    expect(c, fbool("tenure", 1), "expected an integer", "true");
    expect(c, fnum("tenure", -3), "below minimum 0", "-3");
    expect(c, fnum("tenure", 100), "above maximum 72", "100");
    expect(c, fnull("tenure"), "must not be null", "");
    expect(c, fstr("plan", "gold"), "unknown category", "gold");
    expect(c, fnull("plan"), "must not be null", NULL);
    expect(c, fstr("amount", "abc"), "expected a number", "abc");
    expect(c, fbool("amount", 1), "expected a number", NULL);
    expect(c, fnum("amount", -0.5), "below minimum 0", "-0.5");
    expect(c, fnum("when", 1700000000), "expected an ISO 8601 timestamp", NULL);
    expect(c, fstr("when", "2019-12-31"), "below minimum 2020-01-01T00:00:00Z", "2019-12-31");
    expect(c, fstr("flag", "maybe"), "expected a boolean", "maybe");
    expect(c, fnum("flag", 2), "expected a boolean", "2");
    expect(c, fnum("code", 3), "unknown category", "3");
    expect(c, fnum("colour", 1), "unknown field", "1");
    expect(c, fnull(NULL), "unknown field", "");
    cairn_contract_free(c);
}

static void test_validate_row_structure(void **state)
{
    (void)state;
    cairn_contract *c = tc_parse(row_contract);
    cairn_violations v = {0};
    /* missing required: tenure (feature, not nullable); not the label, entity or ignore */
    cairn_field only_plan[] = {fstr("plan", "basic")};
    assert_int_equal(cairn_contract_validate_row(c, only_plan, 1, 3, &v, NULL), CAIRN_ECHECK);
    assert_int_equal(v.n, 1);
    assert_string_equal(v.items[0].field, "tenure");
    assert_string_equal(v.items[0].problem, "missing required field");
    assert_int_equal(v.items[0].row, 3);
    /* appended after what is already there; duplicates reported once each */
    cairn_field dup[] = {fstr("plan", "basic"), fnum("tenure", 1), fstr("plan", "pro")};
    assert_int_equal(cairn_contract_validate_row(c, dup, 3, 4, &v, NULL), CAIRN_ECHECK);
    assert_int_equal(v.n, 2);
    assert_string_equal(v.items[1].field, "plan");
    assert_string_equal(v.items[1].problem, "duplicate field");
    assert_int_equal(v.items[1].row, 4);
    /* a valid row adds nothing and returns OK */
    cairn_field ok[] = {fstr("plan", "basic"), fnum("tenure", 1)};
    assert_int_equal(cairn_contract_validate_row(c, ok, 2, 5, &v, NULL), CAIRN_OK);
    assert_int_equal(v.n, 2);
    /* several problems in one row, in field order, then the missing ones */
    cairn_field bad[] = {fstr("plan", "gold"), fnum("amount", -1), fstr("x", "y")};
    assert_int_equal(cairn_contract_validate_row(c, bad, 3, 6, &v, NULL), CAIRN_ECHECK);
    assert_int_equal(v.n, 6);
    assert_string_equal(v.items[2].problem, "unknown category");
    assert_string_equal(v.items[3].problem, "below minimum 0");
    assert_string_equal(v.items[4].problem, "unknown field");
    assert_string_equal(v.items[5].problem, "missing required field");
    cairn_violations_reset(&v);
    assert_null(v.items);
    assert_int_equal(v.n, 0);

    /* long values and names are cut at a UTF-8 boundary with "..." */
    char longv[400], longn[300];
    for (int i = 0; i < 399; i++)
        longv[i] = "ab\xc3\xa9"[i % 4];
    longv[399] = '\0';
    memset(longn, 'n', sizeof longn - 1);
    longn[sizeof longn - 1] = '\0';
    cairn_field lf[] = {fstr("plan", longv), fstr(longn, "v")};
    assert_int_equal(cairn_contract_validate_row(c, lf, 2, 0, &v, NULL), CAIRN_ECHECK);
    assert_int_equal(v.n, 3); /* unknown category, unknown field, missing tenure */
    size_t lv = strlen(v.items[0].value);
    assert_true(lv < sizeof v.items[0].value);
    assert_string_equal(v.items[0].value + lv - 3, "...");
    assert_int_equal(memcmp(v.items[0].value, longv, lv - 3), 0);
    assert_true(((unsigned char)longv[lv - 3] & 0xC0) != 0x80); /* cut before a whole character */
    size_t ln = strlen(v.items[1].field);
    assert_true(ln < sizeof v.items[1].field);
    assert_string_equal(v.items[1].field + ln - 3, "...");
    cairn_violations_reset(&v);
    cairn_violations_reset(NULL);
    cairn_contract_free(c);
}

/* More than 256 columns (the row check's heap path). */
static void test_validate_row_wide(void **state)
{
    (void)state;
    cairn_buf b;
    cairn_buf_init(&b);
    cairn_buf_puts(&b, "columns:\n");
    for (int i = 0; i < 300; i++)
        cairn_buf_printf(&b, "  - {name: c%d, type: int64, nullable: %s, max: 10}\n", i,
                         i == 299 ? "false" : "true");
    cairn_contract *c = tc_parse(b.data);
    cairn_buf_reset(&b);
    cairn_field fs[] = {fnum("c0", 1), fnum("c298", 11)};
    cairn_violations v = {0};
    assert_int_equal(cairn_contract_validate_row(c, fs, 2, 0, &v, NULL), CAIRN_ECHECK);
    assert_int_equal(v.n, 2);
    assert_string_equal(v.items[0].field, "c298");
    assert_string_equal(v.items[0].problem, "above maximum 10");
    assert_string_equal(v.items[1].field, "c299");
    assert_string_equal(v.items[1].problem, "missing required field");
    cairn_violations_reset(&v);
    cairn_contract_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame_passes_own_contract),
        cmocka_unit_test(test_injected_faults),
        cmocka_unit_test(test_missing_and_extra_columns),
        cmocka_unit_test(test_null_rates),
        cmocka_unit_test(test_duplicate_keys),
        cmocka_unit_test(test_type_conversions),
        cmocka_unit_test(test_examples_capped),
        cmocka_unit_test(test_check_alloc_failures),
        cmocka_unit_test(test_validate_row),
        cmocka_unit_test(test_validate_row_structure),
        cmocka_unit_test(test_validate_row_wide),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
