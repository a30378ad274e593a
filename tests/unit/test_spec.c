/*
 * test_spec.c -- the YAML pipeline spec reader (src/pipeline/spec.c).
 *
 * Data-driven part: every tests/cases/spec/NAME.yaml is parsed under the
 * name "spec" and compared with NAME.expect, which holds either the
 * canonical JSON of the parsed (unresolved) spec on one line, or
 * "error STATUS LINE:COLUMN SUBSTRING" -- the status name, the location
 * (the error's where must be "spec:LINE:COLUMN") and a piece of the message.
 * JSON results are also checked to be valid JSON. Adding a case needs no C.
 *
 * Unit part: resolution against small hand-built frames (columns exist,
 * label fits the task, time type, AUTO split, feature list), --seed, the
 * verbatim source, size limits, and allocation failure at every point.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "pipeline/spec.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *cases_dir(void)
{
    static char buf[4096];
    const char *src = getenv("CAIRN_SRC");
    snprintf(buf, sizeof buf, "%s/tests/cases/spec", src ? src : ".");
    return buf;
}

/* Strips trailing newlines / spaces in place. */
static void rstrip(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
        s[--n] = '\0';
}

/* Runs one case; prints what differs and returns false on a mismatch. */
static bool run_case(const char *name)
{
    bool ok = true;
    char path[4400], epath[4400];
    char *yaml = NULL, *expect = NULL;
    size_t ylen = 0, elen = 0;
    cairn_error e = {0};
    snprintf(path, sizeof path, "%s/%s.yaml", cases_dir(), name);
    snprintf(epath, sizeof epath, "%s/%s.expect", cases_dir(), name);
    assert_int_equal(cairn_read_file(path, &yaml, &ylen, &e), CAIRN_OK);
    if (cairn_read_file(epath, &expect, &elen, &e) != CAIRN_OK) {
        print_error("case %s has no .expect\n", name);
        cairn_free(yaml);
        return false;
    }
    rstrip(expect);

    cairn_spec *s = NULL;
    cairn_status st = cairn_spec_parse(yaml, ylen, "spec", &s, &e);
    if (strncmp(expect, "error ", 6) == 0) {
        char status[32], loc[64];
        int used = 0;
        if (sscanf(expect + 6, "%31s %63s %n", status, loc, &used) < 2) {
            print_error("case %s: bad .expect line\n", name);
            used = 0;
            ok = false;
        }
        const char *sub = expect + 6 + used;
        char where[128];
        snprintf(where, sizeof where, "spec:%s", loc);
        if (st == CAIRN_OK) {
            cairn_buf b;
            cairn_buf_init(&b);
            cairn_spec_to_json(s, &b);
            print_error("case %s: parsed, expected an error\n%s\n", name, b.data);
            cairn_buf_reset(&b);
            cairn_spec_free(s);
            ok = false;
        } else if (s || strcmp(cairn_status_name(st), status) != 0 ||
                   strcmp(e.where, where) != 0 || !strstr(e.msg, sub)) {
            print_error("case %s: got %s %s %s, expected %s %s ...%s...\n", name,
                        cairn_status_name(st), e.where, e.msg, status, where, sub);
            ok = false;
        }
    } else if (st != CAIRN_OK) {
        print_error("case %s: %s (%s)\n", name, e.msg, e.where);
        ok = false;
    } else {
        cairn_buf b;
        cairn_buf_init(&b);
        cairn_spec_to_json(s, &b);
        cJSON *j = b.failed ? NULL : cJSON_Parse(b.data);
        if (!j) {
            print_error("case %s: output is not JSON: %s\n", name, b.data);
            ok = false;
        }
        cJSON_Delete(j);
        if (ok && strcmp(b.data, expect) != 0) {
            print_error("case %s:\n got    %s\n expect %s\n", name, b.data, expect);
            ok = false;
        }
        /* The source is kept verbatim. */
        if (s->source_len != ylen || memcmp(s->source, yaml, ylen) != 0) {
            print_error("case %s: source not kept verbatim\n", name);
            ok = false;
        }
        cairn_buf_reset(&b);
        cairn_spec_free(s);
    }
    cairn_free(yaml);
    cairn_free(expect);
    return ok;
}

static void test_cases(void **state)
{
    (void)state;
    DIR *d = opendir(cases_dir());
    assert_non_null(d);
    struct dirent *ent;
    int n = 0, bad = 0;
    while ((ent = readdir(d))) {
        size_t len = strlen(ent->d_name);
        if (len > 5 && strcmp(ent->d_name + len - 5, ".yaml") == 0) {
            char name[256];
            snprintf(name, sizeof name, "%.*s", (int)(len - 5), ent->d_name);
            bad += !run_case(name);
            n++;
        }
    }
    closedir(d);
    assert_int_equal(bad, 0);
    assert_true(n >= 25);
}

/* ---- frames built by hand ---------------------------------------------------- */

/* Column descriptions: name, type, and n_rows values as text ("" = null). */
typedef struct colspec {
    const char *name;
    cairn_type type;
    const char *vals[8];
} colspec;

static cairn_frame *make_frame(const colspec *cs, size_t n_cols, size_t n_rows)
{
    cairn_frame *f = NULL;
    cairn_error e = {0};
    assert_int_equal(cairn_frame_new(n_cols, &f, &e), CAIRN_OK);
    f->n_rows = n_rows;
    for (size_t j = 0; j < n_cols; j++) {
        cairn_column *c = &f->cols[j];
        assert_int_equal(cairn_column_alloc(c, cs[j].name, cs[j].type, n_rows, &e), CAIRN_OK);
        for (size_t i = 0; i < n_rows; i++) {
            const char *v = cs[j].vals[i];
            if (!v || !*v)
                continue;
            c->valid[i] = 1;
            switch (cs[j].type) {
            case CAIRN_TYPE_STRING:
                assert_int_equal(cairn_dict_intern(&c->dict, v, strlen(v), &c->v.codes[i]),
                                 CAIRN_OK);
                break;
            case CAIRN_TYPE_INT64: c->v.i64[i] = strtoll(v, NULL, 10); break;
            case CAIRN_TYPE_FLOAT64: c->v.f64[i] = strtod(v, NULL); break;
            case CAIRN_TYPE_BOOL: c->v.b[i] = strcmp(v, "true") == 0; break;
            case CAIRN_TYPE_TIMESTAMP:
                assert_true(cairn_parse_timestamp(v, strlen(v), &c->v.i64[i]));
                break;
            default: fail();
            }
        }
    }
    return f;
}

/* A telco-like frame of 6 rows. */
static const colspec telco[] = {
    {"customerID", CAIRN_TYPE_STRING, {"a", "b", "c", "d", "e", "f"}},
    {"signup_date", CAIRN_TYPE_TIMESTAMP,
     {"2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05", "2024-01-06"}},
    {"tenure", CAIRN_TYPE_INT64, {"1", "5", "7", "2", "", "9"}},
    {"Contract", CAIRN_TYPE_STRING, {"m", "y", "m", "m", "y", "2y"}},
    {"gender", CAIRN_TYPE_STRING, {"F", "M", "F", "M", "F", "M"}},
    {"Churn", CAIRN_TYPE_STRING, {"Yes", "No", "No", "", "Yes", "No"}},
    {"charges", CAIRN_TYPE_FLOAT64, {"1.5", "2.5", "3", "4", "5", "6.25"}},
    {"plan", CAIRN_TYPE_STRING, {"a", "b", "c", "a", "b", "c"}},
    {"flag", CAIRN_TYPE_BOOL, {"true", "false", "true", "true", "false", "true"}},
    {"email", CAIRN_TYPE_STRING, {"x@y.z", "q@y.z", "r@y.z", "s@y.z", "t@y.z", "u@y.z"}},
};

static cairn_frame *telco_frame(void)
{
    return make_frame(telco, CAIRN_ARRAY_LEN(telco), 6);
}

static cairn_spec *parse_ok(const char *yaml)
{
    cairn_spec *s = NULL;
    cairn_error e = {0};
    cairn_status st = cairn_spec_parse(yaml, strlen(yaml), "t.yaml", &s, &e);
    if (st != CAIRN_OK)
        fail_msg("parse failed: %s (%s)", e.msg, e.where);
    return s;
}

/* Parses and resolves yaml against f; expects an error whose where is
 * "t.yaml:LINE:COL" and whose message contains sub. */
static void expect_resolve_error(const cairn_frame *f, const char *yaml, long line, long col,
                                 const char *sub)
{
    cairn_spec *s = parse_ok(yaml);
    cairn_error e = {0};
    char where[64];
    assert_int_equal(cairn_spec_resolve(s, f, &e), CAIRN_EINPUT);
    snprintf(where, sizeof where, "t.yaml:%ld:%ld", line, col);
    if (strcmp(e.where, where) != 0 || !strstr(e.msg, sub))
        fail_msg("got %s %s, expected %s ...%s...", e.where, e.msg, where, sub);
    assert_false(s->resolved);
    assert_int_equal(s->features.n, 0);
    cairn_spec_free(s);
}

static void assert_features(const cairn_spec *s, const char *const *names, size_t n)
{
    assert_int_equal(s->features.n, n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(s->features.items[i], names[i]);
}

static void test_resolve_design_example(void **state)
{
    (void)state;
    cairn_frame *f = telco_frame();
    cairn_spec *s = parse_ok("name: churn\ndata: telco\nlabel: Churn\npositive: \"Yes\"\n"
                             "task: binary\nentity: customerID\ntime: signup_date\n"
                             "split: {by: time, valid: 0.1, test: 0.2}\n"
                             "features: {exclude: [customerID, email]}\n"
                             "evaluation: {slices: [Contract, gender]}\n");
    cairn_error e = {0};
    assert_int_equal(cairn_spec_resolve(s, f, &e), CAIRN_OK);
    assert_true(s->resolved);
    assert_int_equal(s->split_by, CAIRN_SPLIT_TIME);
    /* Every column but label, entity, time and the excluded ones, in frame order. */
    static const char *const want[] = {"tenure", "Contract", "gender", "charges", "plan", "flag"};
    assert_features(s, want, CAIRN_ARRAY_LEN(want));
    /* The JSON now lists the columns and says resolved. */
    cairn_buf b;
    cairn_buf_init(&b);
    cairn_spec_to_json(s, &b);
    cJSON *j = cJSON_Parse(b.data);
    assert_non_null(j);
    cJSON *cols = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "features"), "columns");
    assert_int_equal(cJSON_GetArraySize(cols), (int)CAIRN_ARRAY_LEN(want));
    assert_string_equal(cJSON_GetArrayItem(cols, 3)->valuestring, "charges");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(j, "resolved")));
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "split"), "by")->valuestring,
                        "time");
    cJSON_Delete(j);
    cairn_buf_reset(&b);
    /* Resolving again gives the same result. */
    assert_int_equal(cairn_spec_resolve(s, f, &e), CAIRN_OK);
    assert_features(s, want, CAIRN_ARRAY_LEN(want));
    cairn_spec_free(s);
    cairn_frame_free(f);
}

static void test_resolve_auto_split(void **state)
{
    (void)state;
    cairn_frame *f = telco_frame();
    cairn_error e = {0};
    cairn_spec *s = parse_ok("name: m\ndata: telco\nlabel: Churn\npositive: 'No'\n"
                             "entity: customerID\n");
    assert_int_equal(s->split_by, CAIRN_SPLIT_AUTO);
    assert_int_equal(cairn_spec_resolve(s, f, &e), CAIRN_OK);
    assert_int_equal(s->split_by, CAIRN_SPLIT_GROUP);
    /* No exclude: every column but label and entity, PII columns included (the caller drops them). */
    static const char *const want1[] = {"signup_date", "tenure", "Contract", "gender",
                                        "charges",     "plan",   "flag",     "email"};
    assert_features(s, want1, CAIRN_ARRAY_LEN(want1));
    cairn_spec_free(s);

    s = parse_ok("name: m\ndata: telco\nlabel: Churn\npositive: 'No'\n");
    assert_int_equal(cairn_spec_resolve(s, f, &e), CAIRN_OK);
    assert_int_equal(s->split_by, CAIRN_SPLIT_STRATIFIED);
    cairn_spec_free(s);

    /* An explicit kind is kept. */
    s = parse_ok("name: m\ndata: telco\nlabel: Churn\npositive: 'No'\ntime: signup_date\n"
                 "split: {by: order}\n");
    assert_int_equal(cairn_spec_resolve(s, f, &e), CAIRN_OK);
    assert_int_equal(s->split_by, CAIRN_SPLIT_ORDER);
    cairn_spec_free(s);
    cairn_frame_free(f);
}

static void test_resolve_include(void **state)
{
    (void)state;
    cairn_frame *f = telco_frame();
    cairn_error e = {0};
    cairn_spec *s = parse_ok("name: m\ndata: telco\nlabel: charges\ntask: regression\n"
                             "features: {include: [plan, tenure], allow_pii: [email]}\n");
    assert_int_equal(cairn_spec_resolve(s, f, &e), CAIRN_OK);
    static const char *const want[] = {"plan", "tenure"}; /* as listed */
    assert_features(s, want, 2);
    assert_int_equal(s->allow_pii.n, 1);
    assert_string_equal(s->allow_pii.items[0], "email");
    cairn_spec_free(s);
    cairn_frame_free(f);
}

static void test_resolve_label_checks(void **state)
{
    (void)state;
    cairn_frame *f = telco_frame();
    cairn_error e = {0};
    /* Binary: the label must hold exactly two values and positive must be one. */
    expect_resolve_error(f, "name: m\ndata: telco\nlabel: Contract\npositive: m\n", 3, 1,
                         "3 or more distinct values");
    expect_resolve_error(f, "name: m\ndata: telco\nlabel: Churn\npositive: Maybe\n", 4, 1,
                         "positive value 'Maybe' is not a value of label 'Churn'");
    expect_resolve_error(f, "name: m\ndata: telco\n\nlabel: NoSuch\npositive: x\n", 4, 1,
                         "label column 'NoSuch' is not in dataset 'telco'");
    expect_resolve_error(f, "name: m\ndata: telco\nlabel: signup_date\npositive: x\n", 3, 1,
                         "timestamp");
    /* A bool label: positive true / 1 match, 'yes' does not. */
    cairn_spec *s = parse_ok("name: m\ndata: telco\nlabel: flag\npositive: true\n");
    assert_int_equal(cairn_spec_resolve(s, f, &e), CAIRN_OK);
    cairn_spec_free(s);
    s = parse_ok("name: m\ndata: telco\nlabel: flag\npositive: 1\n");
    assert_int_equal(cairn_spec_resolve(s, f, &e), CAIRN_OK);
    cairn_spec_free(s);
    expect_resolve_error(f, "name: m\ndata: telco\nlabel: flag\npositive: 'yes'\n", 4, 1,
                         "its values");

    /* Regression: numeric labels only. */
    expect_resolve_error(f, "name: m\ndata: telco\nlabel: plan\ntask: regression\n", 3, 1,
                         "needs a numeric label");
    s = parse_ok("name: m\ndata: telco\nlabel: tenure\ntask: regression\n");
    assert_int_equal(cairn_spec_resolve(s, f, &e), CAIRN_OK);
    cairn_spec_free(s);

    /* Multiclass: at least three classes, not float. */
    s = parse_ok("name: m\ndata: telco\nlabel: Contract\ntask: multiclass\n");
    assert_int_equal(cairn_spec_resolve(s, f, &e), CAIRN_OK);
    cairn_spec_free(s);
    expect_resolve_error(f, "name: m\ndata: telco\nlabel: gender\ntask: multiclass\n", 3, 1,
                         "2 distinct values");
    expect_resolve_error(f, "name: m\ndata: telco\nlabel: charges\ntask: multiclass\n", 3, 1,
                         "float64");
    cairn_frame_free(f);
}

static void test_resolve_numeric_positive(void **state)
{
    (void)state;
    static const colspec cs[] = {
        {"y", CAIRN_TYPE_INT64, {"0", "1", "1", "0"}},
        {"yf", CAIRN_TYPE_FLOAT64, {"0.5", "2", "0.5", "2"}},
        {"x", CAIRN_TYPE_FLOAT64, {"1", "2", "3", "4"}},
    };
    cairn_frame *f = make_frame(cs, 3, 4);
    cairn_error e = {0};
    cairn_spec *s = parse_ok("name: m\ndata: d\nlabel: y\npositive: 1\n");
    assert_int_equal(cairn_spec_resolve(s, f, &e), CAIRN_OK);
    static const char *const want[] = {"yf", "x"};
    assert_features(s, want, 2);
    cairn_spec_free(s);
    s = parse_ok("name: m\ndata: d\nlabel: yf\npositive: 2.0\n");
    assert_int_equal(cairn_spec_resolve(s, f, &e), CAIRN_OK);
    cairn_spec_free(s);
    expect_resolve_error(f, "name: m\ndata: d\nlabel: y\npositive: 2\n", 4, 1,
                         "its values: '0', '1'");
    /* Nothing left to learn from. */
    expect_resolve_error(f, "name: m\ndata: d\nlabel: y\npositive: 1\nfeatures:\n"
                            "  exclude: [yf, x]\n",
                         5, 1, "no feature columns");
    cairn_frame_free(f);
}

static void test_resolve_columns_exist(void **state)
{
    (void)state;
    cairn_frame *f = telco_frame();
    const char *head = "name: m\ndata: telco\nlabel: Churn\npositive: 'Yes'\n";
    char y[512];
    snprintf(y, sizeof y, "%sentity: cust\n", head);
    expect_resolve_error(f, y, 5, 1, "entity column 'cust'");
    snprintf(y, sizeof y, "%stime: when\n", head);
    expect_resolve_error(f, y, 5, 1, "time column 'when'");
    snprintf(y, sizeof y, "%stime: Contract\n", head);
    expect_resolve_error(f, y, 5, 1, "must be a timestamp or a number");
    snprintf(y, sizeof y, "%sevaluation:\n  slices: [gender, region]\n", head);
    expect_resolve_error(f, y, 6, 20, "slice column 'region'");
    snprintf(y, sizeof y, "%sfeatures:\n  include:\n    - tenure\n    - age\n", head);
    expect_resolve_error(f, y, 8, 7, "features.include column 'age'");
    snprintf(y, sizeof y, "%sfeatures: {exclude: [zip]}\n", head);
    expect_resolve_error(f, y, 5, 22, "features.exclude column 'zip'");
    snprintf(y, sizeof y, "%sfeatures: {allow_pii: [phone]}\n", head);
    expect_resolve_error(f, y, 5, 24, "features.allow_pii column 'phone'");
    /* A numeric time column is fine. */
    snprintf(y, sizeof y, "%stime: tenure\n", head);
    cairn_spec *s = parse_ok(y);
    cairn_error e = {0};
    assert_int_equal(cairn_spec_resolve(s, f, &e), CAIRN_OK);
    assert_int_equal(s->split_by, CAIRN_SPLIT_TIME);
    cairn_spec_free(s);
    cairn_frame_free(f);
}

static void test_seed_override(void **state)
{
    (void)state;
    cairn_spec *s = parse_ok("name: m\ndata: d\nlabel: y\ntask: regression\n");
    assert_int_equal(s->seed, 42);
    cairn_spec_set_seed(s, 7);
    assert_int_equal(s->seed, 7);
    cairn_buf b;
    cairn_buf_init(&b);
    cairn_spec_to_json(s, &b);
    cJSON *j = cJSON_Parse(b.data);
    assert_non_null(j);
    assert_int_equal((int)cJSON_GetObjectItem(j, "seed")->valuedouble, 7);
    cJSON_Delete(j);
    cairn_buf_reset(&b);
    cairn_spec_free(s);
    /* --seed overrides the spec's own seed too. */
    s = parse_ok("name: m\ndata: d\nlabel: y\ntask: regression\nseed: 123\n");
    assert_int_equal(s->seed, 123);
    cairn_spec_set_seed(s, 9);
    assert_int_equal(s->seed, 9);
    cairn_spec_free(s);
}

static void test_limits(void **state)
{
    (void)state;
    cairn_spec *s = NULL;
    cairn_error e = {0};
    cairn_buf b;
    /* Nesting deeper than the limit. */
    cairn_buf_init(&b);
    cairn_buf_puts(&b, "name: m\ndata: d\nlabel: y\ngates: ");
    for (int i = 0; i < CAIRN_SPEC_MAX_DEPTH + 4; i++)
        cairn_buf_putc(&b, '[');
    for (int i = 0; i < CAIRN_SPEC_MAX_DEPTH + 4; i++)
        cairn_buf_putc(&b, ']');
    assert_int_equal(cairn_spec_parse(b.data, b.len, NULL, &s, &e), CAIRN_ETOOBIG);
    assert_null(s);
    assert_non_null(strstr(e.msg, "nested"));
    cairn_buf_reset(&b);
    /* A list longer than the limit. */
    cairn_buf_init(&b);
    cairn_buf_puts(&b, "name: m\ndata: d\nlabel: y\npositive: 1\nfeatures: {include: [");
    for (int i = 0; i <= CAIRN_SPEC_MAX_ITEMS; i++)
        cairn_buf_printf(&b, "%sc%d", i ? "," : "", i);
    cairn_buf_puts(&b, "]}\n");
    assert_int_equal(cairn_spec_parse(b.data, b.len, NULL, &s, &e), CAIRN_ETOOBIG);
    assert_null(s);
    cairn_buf_reset(&b);
    /* A text larger than the limit. */
    size_t big = CAIRN_SPEC_MAX_BYTES + 1;
    char *t = malloc(big);
    assert_non_null(t);
    memset(t, '#', big);
    assert_int_equal(cairn_spec_parse(t, big, NULL, &s, &e), CAIRN_ETOOBIG);
    assert_null(s);
    free(t);
}

/* Fails each allocation in turn (one-shot and sticky): every run ends in
 * success with the same JSON, or ENOMEM with nothing returned. */
static void test_alloc_failures(void **state)
{
    (void)state;
    const char *yaml = "name: churn\ndata: telco@2\nlabel: Churn\npositive: \"Yes\"\n"
                       "entity: customerID\ntime: signup_date\n"
                       "split: {valid: 0.1, test: 0.2}\n"
                       "features: {exclude: [email], allow_pii: [gender]}\n"
                       "model: {type: gbdt, rounds: 50}\n"
                       "evaluation: {metrics: [auc, brier], slices: [Contract], "
                       "cost: {fp: 1, fn: 5}}\n"
                       "gates:\n  auc: {min: 0.8}\n  ece: {max: 0.05}\n";
    cairn_frame *f = telco_frame();
    cairn_buf ref;
    cairn_buf_init(&ref);
    {
        cairn_spec *s = parse_ok(yaml);
        cairn_error e = {0};
        assert_int_equal(cairn_spec_resolve(s, f, &e), CAIRN_OK);
        cairn_spec_to_json(s, &ref);
        cairn_spec_free(s);
    }
    for (int sticky = 0; sticky < 2; sticky++) {
        int successes = 0, failures = 0;
        for (long n = 1; n < 300; n++) {
            cairn_spec *s = NULL;
            cairn_error e = {0};
            cairn_buf b;
            cairn_buf_init(&b);
            cairn_alloc_fail_after(n, sticky != 0);
            cairn_status st = cairn_spec_parse(yaml, strlen(yaml), "t", &s, &e);
            if (st == CAIRN_OK)
                st = cairn_spec_resolve(s, f, &e);
            if (st == CAIRN_OK)
                cairn_spec_to_json(s, &b);
            cairn_alloc_fail_after(0, false);
            if (st == CAIRN_OK && !b.failed) {
                successes++;
                assert_string_equal(b.data, ref.data);
            } else if (st != CAIRN_OK) {
                failures++;
                assert_int_equal(st, CAIRN_ENOMEM);
            }
            cairn_buf_reset(&b);
            cairn_spec_free(s);
        }
        assert_true(successes > 0);
        assert_true(failures > 0);
    }
    cairn_buf_reset(&ref);
    cairn_frame_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_resolve_design_example),
        cmocka_unit_test(test_resolve_auto_split),
        cmocka_unit_test(test_resolve_include),
        cmocka_unit_test(test_resolve_label_checks),
        cmocka_unit_test(test_resolve_numeric_positive),
        cmocka_unit_test(test_resolve_columns_exist),
        cmocka_unit_test(test_seed_override),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
