/*
 * test_contract_infer.c -- contract inference (types, nulls, ranges,
 * domains, keys, roles) and PII detection (values and names, positives and
 * the false positives that matter: ids such as telco's "7590-VHVEG", dates,
 * decimals, ZIP codes, host names).
 */
#include "test_contract_util.h"

#include <math.h>
#include <stdio.h>

#define N 10

/* A frame with every type (see the column comments). */
static cairn_frame *every_type_frame(void)
{
    static const char *const ids[N] = {"u00", "u01", "u02", "u03", "u04",
                                       "u05", "u06", "u07", "u08", "u09"};
    static const char *const plan[N] = {"pro", "basic", "pro", "basic", "enterprise",
                                        "pro", "basic", "basic", NULL, "pro"};
    static const char *const email[N] = {"ann@example.com", "bob.s@mail.example.org",
                                         "c+tag@ex.co", "dan@example.com", "eve@x.io",
                                         "fay@example.com", "gus@corp.example.net",
                                         "hal@example.com", "ivy@example.com", "jo@ex.de"};
    static const char *const churn[N] = {"No", "Yes", "No", "No", "Yes",
                                         "No", "No", "Yes", "No", "No"};
    static const char *const city[N] = {"Oslo", "Rome", "Lima", "Oslo", "Kyiv",
                                        "Pune", "Rome", "Bern", "Doha", "Oslo"};
    static const int64_t tenure[N] = {1, 5, 0, 72, 0, 12, 3, 8, 40, 2};
    static const uint8_t tenure_ok[N] = {1, 1, 1, 1, 0, 1, 1, 1, 1, 1};
    static const double amount[N] = {29.85, 56.95, 53.85, 42.3, 70.7,
                                      99.65, 89.1, 29.75, 104.8, 56.15};
    static const uint8_t paperless[N] = {1, 0, 1, 1, 0, 1, 0, 0, 1, 1};
    int64_t signup[N], updated[N], row_no[N];
    for (int r = 0; r < N; r++) {
        signup[r] = (int64_t)1577836800000000 + (int64_t)r * 86400000000; /* 2020-01-01 + r days */
        updated[r] = signup[r] + 3600000000;
        row_no[r] = 100 - r;
    }
    cairn_frame *f = tc_frame(11, N);
    tc_col_str(f, 0, "user_id", ids);            /* unique, id-like: entity */
    tc_col_i64(f, 1, "signup", CAIRN_TYPE_TIMESTAMP, signup, NULL); /* first timestamp: time */
    tc_col_i64(f, 2, "updated", CAIRN_TYPE_TIMESTAMP, updated, NULL);
    tc_col_i64(f, 3, "tenure", CAIRN_TYPE_INT64, tenure, tenure_ok);
    tc_col_f64(f, 4, "amount", amount, NULL);
    tc_col_bool(f, 5, "paperless", paperless, NULL);
    tc_col_str(f, 6, "plan", plan);
    tc_col_str(f, 7, "contact", email);          /* PII by values */
    tc_col_str(f, 8, "Churn", churn);
    tc_col_str(f, 9, "city", city);
    tc_col_i64(f, 10, "row_no", CAIRN_TYPE_INT64, row_no, NULL); /* unique, not id-like */
    return f;
}

static const cairn_contract_col *col_of(const cairn_contract *c, const char *name)
{
    long i = cairn_contract_find(c, name);
    assert_true(i >= 0);
    return &c->cols[i];
}

static void assert_range_is(const cairn_contract_col *cc, const cairn_column *fc)
{
    double mn = INFINITY, mx = -INFINITY;
    for (size_t r = 0; r < fc->n_rows; r++) {
        if (!fc->valid[r])
            continue;
        double v = fc->type == CAIRN_TYPE_FLOAT64 ? fc->v.f64[r] : (double)fc->v.i64[r];
        mn = v < mn ? v : mn;
        mx = v > mx ? v : mx;
    }
    assert_true(cc->has_min);
    assert_true(cc->min == mn);
    if (fc->type == CAIRN_TYPE_TIMESTAMP) {
        /* timestamps: a lower bound only (later traffic is always newer) */
        assert_false(cc->has_max);
    } else {
        assert_true(cc->has_max);
        assert_true(cc->max == mx);
    }
}

static void test_infer_every_type(void **state)
{
    (void)state;
    cairn_frame *f = every_type_frame();
    cairn_colstats *stats = tc_stats(f);
    cairn_infer_opts o;
    cairn_infer_opts_init(&o);
    assert_int_equal(o.max_domain, 50);
    o.label = "Churn";
    o.dataset_ref = "churn@3";
    o.max_domain = 5;
    cairn_contract *c = NULL;
    cairn_error err = {0};
    assert_int_equal(cairn_contract_infer(f, stats, &o, &c, &err), CAIRN_OK);
    assert_int_equal(c->n_cols, f->n_cols);
    assert_string_equal(c->dataset, "churn@3");
    for (size_t i = 0; i < f->n_cols; i++) {
        assert_string_equal(c->cols[i].name, f->cols[i].name);
        assert_int_equal(c->cols[i].type, f->cols[i].type);
    }

    const cairn_contract_col *id = col_of(c, "user_id");
    assert_true(id->unique);
    assert_int_equal(id->role, CAIRN_ROLE_ENTITY);
    assert_null(id->domain); /* a key has no domain */
    assert_false(id->nullable);
    assert_true(id->max_null_rate == 0.0);

    assert_int_equal(col_of(c, "signup")->role, CAIRN_ROLE_TIME);
    assert_int_equal(col_of(c, "updated")->role, CAIRN_ROLE_FEATURE);
    assert_range_is(col_of(c, "signup"), &f->cols[1]);
    assert_range_is(col_of(c, "updated"), &f->cols[2]);

    const cairn_contract_col *ten = col_of(c, "tenure");
    assert_true(ten->nullable);
    assert_true(ten->null_rate == 1.0 / N);
    assert_true(fabs(ten->max_null_rate - 0.15) < 1e-12); /* 10% rounded up + 5 points */
    assert_false(ten->unique);                           /* has a null */
    assert_range_is(ten, &f->cols[3]);
    assert_int_equal(ten->role, CAIRN_ROLE_FEATURE);

    assert_range_is(col_of(c, "amount"), &f->cols[4]);
    const cairn_contract_col *pl = col_of(c, "paperless");
    assert_false(pl->has_min);
    assert_false(pl->unique);
    assert_null(pl->domain);

    const cairn_contract_col *plan = col_of(c, "plan");
    assert_non_null(plan->domain);
    assert_int_equal(plan->n_domain, 3);
    assert_string_equal(plan->domain[0], "basic");
    assert_string_equal(plan->domain[1], "enterprise");
    assert_string_equal(plan->domain[2], "pro");
    assert_true(plan->domain_sorted);
    assert_true(plan->nullable);

    const cairn_contract_col *em = col_of(c, "contact");
    assert_int_equal(em->pii, CAIRN_PII_EMAIL);
    assert_int_equal(em->role, CAIRN_ROLE_IGNORE);
    assert_null(em->domain);

    const cairn_contract_col *ch = col_of(c, "Churn");
    assert_int_equal(ch->role, CAIRN_ROLE_LABEL);
    assert_int_equal(ch->n_domain, 2);
    assert_string_equal(ch->domain[0], "No");
    assert_string_equal(ch->domain[1], "Yes");

    /* 7 distinct cities > max_domain 5: open domain */
    assert_null(col_of(c, "city")->domain);
    assert_false(col_of(c, "city")->unique);

    const cairn_contract_col *rn = col_of(c, "row_no");
    assert_true(rn->unique);
    assert_int_equal(rn->role, CAIRN_ROLE_FEATURE);

    /* Without statistics the same contract comes out (ranges from the columns). */
    cairn_contract *c2 = NULL;
    assert_int_equal(cairn_contract_infer(f, NULL, &o, &c2, &err), CAIRN_OK);
    cairn_buf a, b;
    cairn_buf_init(&a);
    cairn_buf_init(&b);
    cairn_contract_to_yaml(c, &a);
    cairn_contract_to_yaml(c2, &b);
    assert_string_equal(a.data, b.data);
    cairn_buf_reset(&a);
    cairn_buf_reset(&b);

    cairn_contract_free(c2);
    cairn_contract_free(c);
    free(stats);
    cairn_frame_free(f);
}

static void test_infer_roles_from_options(void **state)
{
    (void)state;
    cairn_frame *f = every_type_frame();
    cairn_infer_opts o;
    cairn_infer_opts_init(&o);
    o.entity = "city";
    o.time = "updated";
    cairn_contract *c = NULL;
    assert_int_equal(cairn_contract_infer(f, NULL, &o, &c, NULL), CAIRN_OK);
    assert_int_equal(col_of(c, "city")->role, CAIRN_ROLE_ENTITY);
    assert_int_equal(col_of(c, "updated")->role, CAIRN_ROLE_TIME);
    assert_int_equal(col_of(c, "signup")->role, CAIRN_ROLE_FEATURE);
    /* another per-row key when the entity is named: ignore */
    assert_int_equal(col_of(c, "user_id")->role, CAIRN_ROLE_IGNORE);
    assert_int_equal(col_of(c, "Churn")->role, CAIRN_ROLE_FEATURE);
    cairn_contract_free(c);

    cairn_error err = {0};
    o.entity = "no_such_column";
    c = (cairn_contract *)1;
    assert_int_equal(cairn_contract_infer(f, NULL, &o, &c, &err), CAIRN_EINVAL);
    assert_null(c);
    assert_non_null(strstr(err.msg, "no_such_column"));
    cairn_frame_free(f);
}

/* Which unique columns count as entities, by name. */
static void test_infer_id_names(void **state)
{
    (void)state;
    static const char *const names[] = {"customerID", "userId", "item id", "id",   "KEY",
                                        "order_key",  "id_user", "uuid",   "paid", "valid",
                                        "identity",   "monkey",  "Grid"};
    static const bool entity[] = {true, true, true, true, true, true, true,
                                  true, false, false, false, false, false};
    const size_t n = sizeof names / sizeof names[0];
    cairn_frame *f = tc_frame(n, 3);
    const char *vals[3] = {"a1", "b2", "c3"};
    for (size_t i = 0; i < n; i++)
        tc_col_str(f, i, names[i], vals);
    cairn_contract *c = NULL;
    assert_int_equal(cairn_contract_infer(f, NULL, NULL, &c, NULL), CAIRN_OK);
    for (size_t i = 0; i < n; i++) {
        assert_true(c->cols[i].unique);
        if (c->cols[i].role != (entity[i] ? CAIRN_ROLE_ENTITY : CAIRN_ROLE_FEATURE))
            fail_msg("column %s: role %s", names[i], cairn_role_name(c->cols[i].role));
    }
    cairn_contract_free(c);
    cairn_frame_free(f);
}

static void test_infer_unique_and_domain_edges(void **state)
{
    (void)state;
    static const int64_t dup[4] = {7, 3, 9, 3};
    static const int64_t nodup[4] = {7, 3, 9, -3};
    static const char *const s[4] = {"x", "y", "x", "y"};
    cairn_frame *f = tc_frame(5, 4);
    tc_col_i64(f, 0, "a", CAIRN_TYPE_INT64, dup, NULL);
    tc_col_i64(f, 1, "b", CAIRN_TYPE_INT64, nodup, NULL);
    tc_col_str(f, 2, "s", s);
    uint32_t code;
    /* interned but never used in a row: not part of the domain */
    assert_int_equal(cairn_dict_intern(&f->cols[2].dict, "ghost", 5, &code), CAIRN_OK);
    static const char *const bad[4] = {"ok", "\xff\xfe", "ok", "ok"};
    tc_col_str(f, 3, "bad_utf8", bad);
    static const char *const allnull[4] = {NULL, NULL, NULL, NULL};
    tc_col_str(f, 4, "empty", allnull);
    cairn_contract *c = NULL;
    assert_int_equal(cairn_contract_infer(f, NULL, NULL, &c, NULL), CAIRN_OK);
    assert_false(c->cols[0].unique);
    assert_true(c->cols[1].unique);
    assert_int_equal(c->cols[2].n_domain, 2);
    assert_string_equal(c->cols[2].domain[0], "x");
    assert_string_equal(c->cols[2].domain[1], "y");
    assert_null(c->cols[3].domain); /* cannot be written back exactly: left open */
    assert_null(c->cols[4].domain);
    assert_true(c->cols[4].null_rate == 1.0);
    assert_true(c->cols[4].max_null_rate == 1.0);
    assert_false(c->cols[4].unique);
    cairn_contract_free(c);
    cairn_frame_free(f);
}

/* ---- PII --------------------------------------------------------------------- */

static cairn_pii detect(const char *name, const char *const *vals, size_t n)
{
    cairn_frame *f = tc_frame(1, n);
    tc_col_str(f, 0, name, vals);
    cairn_pii p = cairn_pii_detect(&f->cols[0]);
    cairn_frame_free(f);
    return p;
}

#define DETECT(name, arr) detect(name, arr, sizeof(arr) / sizeof(arr[0]))

/* Luhn check digit computed here, independently: the digit d that makes the
 * doubled-every-second-from-the-right sum a multiple of 10. */
static char luhn_digit(const char *payload)
{
    size_t n = strlen(payload);
    unsigned sum = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned)(payload[n - 1 - i] - '0');
        if (i % 2 == 0) { /* these get doubled once the check digit is appended */
            d *= 2;
            if (d > 9)
                d -= 9;
        }
        sum += d;
    }
    return (char)('0' + (10 - sum % 10) % 10);
}

static void test_luhn(void **state)
{
    (void)state;
    assert_true(cairn_luhn_ok("79927398713", 11)); /* the textbook example */
    assert_false(cairn_luhn_ok("79927398710", 11));
    assert_true(cairn_luhn_ok("4111 1111 1111 1111", 19));
    assert_true(cairn_luhn_ok("4111-1111-1111-1111", 19));
    assert_false(cairn_luhn_ok("4111111111111112", 16));
    assert_false(cairn_luhn_ok("4111x111111111111", 17));
    assert_false(cairn_luhn_ok("", 0));
    assert_false(cairn_luhn_ok(" - ", 3));
    /* every payload with its own check digit passes; any other last digit fails */
    char buf[32];
    for (unsigned k = 0; k < 200; k++) {
        snprintf(buf, sizeof buf, "%015u", k * 7919u + 12345u);
        size_t n = strlen(buf);
        buf[n] = luhn_digit(buf);
        buf[n + 1] = '\0';
        assert_true(cairn_luhn_ok(buf, n + 1));
        buf[n] = (char)('0' + (buf[n] - '0' + 1 + k % 9) % 10);
        assert_false(cairn_luhn_ok(buf, n + 1));
    }
}

static void test_pii_values(void **state)
{
    (void)state;
    static const char *const emails[] = {"a@b.co", "first.last@example.com", "x+y@sub.ex.org"};
    static const char *const not_emails[] = {"a@b", "@b.com", "a@@b.com", "a b@c.com", "a@b.c1"};
    static const char *const cards[] = {"4111111111111111", "5500000000000004", "340000000000009",
                                        "6011000000000004", "4012 8888 8888 1881"};
    static const char *const bad_cards[] = {"4111111111111112", "5500000000000005",
                                            "3400000000000092", "6011000000000005",
                                            "4012888888881882"};
    static const char *const ssn[] = {"123-45-6789", "078-05-1121", "219-09-9999", "457-55-5462"};
    static const char *const bad_ssn[] = {"000-45-6789", "666-05-1121", "912-09-9999",
                                          "457-00-5462"};
    static const char *const ipv4[] = {"192.168.1.1", "10.0.0.254", "8.8.8.8", "172.16.30.40"};
    static const char *const ipv6[] = {"2001:db8::1", "fe80::1ff:fe23:4567:890a", "::1"};
    static const char *const bad_ip[] = {"256.1.1.1", "1.2.3", "01.2.3.4", "1.2.3.4.5"};
    static const char *const phones[] = {"+1 415 555 2671", "(415) 555-2671", "415-555-2671",
                                         "+44 20 7946 0958", "415.555.2671", "+4915123456789"};
    static const char *const telco_ids[] = {"7590-VHVEG", "5575-GNVDE", "3668-QPYBK",
                                            "7795-CFOCW", "9237-HQITU"};
    static const char *const dates[] = {"2024-03-01", "2023-12-31", "2024.01.15", "15.01.2024"};
    static const char *const decimals[] = {"29.85", "1889.5", "108.15", "-3.25e2"};
    static const char *const zips[] = {"12345-6789", "90210-1234", "10001-0001"};
    static const char *const thousands[] = {"1.234.567", "12 345 678", "1-234-567"};
    static const char *const plain_ints[] = {"5551234567", "4155552671", "12345678"};
    static const char *const isbn[] = {"978-3-16-148410-0", "978-0-306-40615-7"};

    assert_int_equal(DETECT("x", emails), CAIRN_PII_EMAIL);
    assert_int_equal(DETECT("x", not_emails), CAIRN_PII_NONE);
    assert_int_equal(DETECT("x", cards), CAIRN_PII_CARD);
    assert_int_equal(DETECT("x", bad_cards), CAIRN_PII_NONE);
    assert_int_equal(DETECT("x", ssn), CAIRN_PII_NATIONAL_ID);
    assert_int_equal(DETECT("x", bad_ssn), CAIRN_PII_NONE);
    assert_int_equal(DETECT("x", ipv4), CAIRN_PII_IP);
    assert_int_equal(DETECT("x", ipv6), CAIRN_PII_IP);
    assert_int_equal(DETECT("x", bad_ip), CAIRN_PII_NONE);
    assert_int_equal(DETECT("x", phones), CAIRN_PII_PHONE);
    assert_int_equal(DETECT("customerID", telco_ids), CAIRN_PII_NONE);
    assert_int_equal(DETECT("x", dates), CAIRN_PII_NONE);
    assert_int_equal(DETECT("x", decimals), CAIRN_PII_NONE);
    assert_int_equal(DETECT("x", zips), CAIRN_PII_NONE);
    assert_int_equal(DETECT("x", thousands), CAIRN_PII_NONE);
    assert_int_equal(DETECT("x", plain_ints), CAIRN_PII_NONE);
    assert_int_equal(DETECT("x", isbn), CAIRN_PII_NONE);
    /* a name that says phone accepts plain digit strings */
    assert_int_equal(DETECT("phone", plain_ints), CAIRN_PII_PHONE);
    assert_int_equal(DETECT("mobileNumber", plain_ints), CAIRN_PII_PHONE);
}

static void test_pii_thresholds(void **state)
{
    (void)state;
    /* 3 of 5 e-mails = 60%: below 80% without a hint, above 50% with one */
    static const char *const mixed[] = {"a@b.co", "c@d.org", "e@f.net", "n/a", "unknown"};
    assert_int_equal(DETECT("contact", mixed), CAIRN_PII_NONE);
    assert_int_equal(DETECT("email", mixed), CAIRN_PII_EMAIL);
    assert_int_equal(DETECT("E-Mail", mixed), CAIRN_PII_EMAIL);
    /* 4 of 5 = 80%: detected */
    static const char *const most[] = {"a@b.co", "c@d.org", "e@f.net", "g@h.io", "unknown"};
    assert_int_equal(DETECT("contact", most), CAIRN_PII_EMAIL);
    /* distinct values are sampled, not rows: 1 e-mail of 2 distinct values = 50% */
    static const char *const rep[] = {"a@b.co", "a@b.co", "a@b.co", "a@b.co", "none"};
    assert_int_equal(DETECT("contact", rep), CAIRN_PII_NONE);
    assert_int_equal(DETECT("email", rep), CAIRN_PII_EMAIL);
    static const char *const rep2[] = {"a@b.co", "a@b.co", "x", "y", "z"};
    assert_int_equal(DETECT("email", rep2), CAIRN_PII_NONE); /* 1 of 4 */
    static const char *const nulls[] = {NULL, NULL};
    assert_int_equal(DETECT("contact", nulls), CAIRN_PII_NONE);
}

static void test_pii_names(void **state)
{
    (void)state;
    static const char *const people[] = {"Alice Smith", "Bob Jones", "Chloé Martin"};
    static const char *const hosts[] = {"web01", "db-2", "cache"};
    static const char *const person_cols[] = {"name",       "Name",      "first_name",
                                              "LastName",   "surname",   "full name",
                                              "customerName", "CUSTOMER_NAME", "given-name"};
    static const char *const other_cols[] = {"hostname", "filename", "product_name",
                                             "username2", "nameplate", "names_count"};
    for (size_t i = 0; i < sizeof person_cols / sizeof person_cols[0]; i++)
        if (DETECT(person_cols[i], people) != CAIRN_PII_PERSON_NAME)
            fail_msg("%s should be a person-name column", person_cols[i]);
    for (size_t i = 0; i < sizeof other_cols / sizeof other_cols[0]; i++)
        if (DETECT(other_cols[i], hosts) != CAIRN_PII_NONE)
            fail_msg("%s should not be PII", other_cols[i]);

    /* numbers: never PII from values; with a hinting name and the right shape, yes */
    cairn_frame *f = tc_frame(3, 3);
    static const int64_t ph[3] = {4155552671, 2125550100, 3125550199};
    tc_col_i64(f, 0, "phone", CAIRN_TYPE_INT64, ph, NULL);
    tc_col_i64(f, 1, "amount", CAIRN_TYPE_INT64, ph, NULL);
    static const double d[3] = {4155552671.0, 2125550100.0, 3125550199.0};
    tc_col_f64(f, 2, "phone", d, NULL);
    assert_int_equal(cairn_pii_detect(&f->cols[0]), CAIRN_PII_PHONE);
    assert_int_equal(cairn_pii_detect(&f->cols[1]), CAIRN_PII_NONE);
    assert_int_equal(cairn_pii_detect(&f->cols[2]), CAIRN_PII_NONE);
    /* inferred: PII columns keep no range in the contract */
    cairn_contract *c = NULL;
    assert_int_equal(cairn_contract_infer(f, NULL, NULL, &c, NULL), CAIRN_OK);
    assert_int_equal(c->cols[0].pii, CAIRN_PII_PHONE);
    assert_int_equal(c->cols[0].role, CAIRN_ROLE_IGNORE);
    assert_false(c->cols[0].has_min);
    assert_true(c->cols[1].has_min);
    cairn_contract_free(c);
    cairn_frame_free(f);
}

/* Every allocation failure ends in CAIRN_ENOMEM (never a crash or a leak). */
static void test_infer_alloc_failures(void **state)
{
    (void)state;
    cairn_frame *f = every_type_frame();
    cairn_infer_opts o;
    cairn_infer_opts_init(&o);
    o.dataset_ref = "x@1";
    for (long n = 1;; n++) {
        cairn_contract *c = NULL;
        cairn_error err = {0};
        cairn_alloc_fail_after(n, false);
        cairn_status st = cairn_contract_infer(f, NULL, &o, &c, &err);
        cairn_alloc_fail_after(0, false);
        if (st == CAIRN_OK) {
            assert_non_null(c);
            cairn_contract_free(c);
            break;
        }
        assert_int_equal(st, CAIRN_ENOMEM);
        assert_null(c);
        assert_true(n < 10000);
    }
    cairn_frame_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_infer_every_type),
        cmocka_unit_test(test_infer_roles_from_options),
        cmocka_unit_test(test_infer_id_names),
        cmocka_unit_test(test_infer_unique_and_domain_edges),
        cmocka_unit_test(test_luhn),
        cmocka_unit_test(test_pii_values),
        cmocka_unit_test(test_pii_thresholds),
        cmocka_unit_test(test_pii_names),
        cmocka_unit_test(test_infer_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
