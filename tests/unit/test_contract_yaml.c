/*
 * test_contract_yaml.c -- contracts as YAML: write -> parse round trips
 * (inferred contracts and hand-made ones full of strings that YAML would
 * misread unquoted), the exact positions of parse errors, loading and
 * writing files, and allocation failures while parsing.
 */
#include "test_contract_util.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <unistd.h>

static void assert_contracts_equal(const cairn_contract *a, const cairn_contract *b)
{
    assert_int_equal(a->version, b->version);
    if (a->dataset || b->dataset) {
        assert_non_null(a->dataset);
        assert_non_null(b->dataset);
        assert_string_equal(a->dataset, b->dataset);
    }
    assert_int_equal(a->n_cols, b->n_cols);
    for (size_t i = 0; i < a->n_cols; i++) {
        const cairn_contract_col *x = &a->cols[i], *y = &b->cols[i];
        assert_string_equal(x->name, y->name);
        assert_int_equal(x->type, y->type);
        assert_int_equal(x->role, y->role);
        assert_int_equal(x->nullable, y->nullable);
        assert_true(x->null_rate == y->null_rate);
        assert_true(x->max_null_rate == y->max_null_rate);
        assert_int_equal(x->has_min, y->has_min);
        assert_int_equal(x->has_max, y->has_max);
        if (x->has_min)
            assert_true(x->min == y->min);
        if (x->has_max)
            assert_true(x->max == y->max);
        assert_int_equal(x->domain == NULL, y->domain == NULL);
        assert_int_equal(x->n_domain, y->n_domain);
        for (size_t k = 0; k < x->n_domain; k++)
            assert_string_equal(x->domain[k], y->domain[k]);
        assert_int_equal(x->unique, y->unique);
        assert_int_equal(x->pii, y->pii);
    }
}

static cairn_contract *roundtrip(const cairn_contract *c, char **yaml_out)
{
    cairn_buf b;
    cairn_buf_init(&b);
    cairn_contract_to_yaml(c, &b);
    assert_false(b.failed);
    cairn_contract *back = tc_parse(b.data);
    if (yaml_out)
        *yaml_out = cairn_buf_take(&b);
    cairn_buf_reset(&b);
    return back;
}

/* An inferred contract from a frame with every type survives write -> parse. */
static void test_roundtrip_inferred(void **state)
{
    (void)state;
    enum { R = 7 };
    static const char *const plan[R] = {"pro", "basic", NULL, "basic", "pro", "yes", "pro"};
    static const char *const ids[R] = {"k1", "k2", "k3", "k4", "k5", "k6", "k7"};
    static const int64_t ts[R] = {-86400000000, 0, 1, 1700000000123456, 253402300799000000,
                                  5, 6};
    static const int64_t ints[R] = {INT64_MIN + 1, -5, 0, 3, 1, 2, 9007199254740993};
    static const double dbl[R] = {0.1, -1e-300, 3.141592653589793, 2.5,
                                  1e300, 7,       0.30000000000000004};
    static const uint8_t valid[R] = {1, 1, 0, 1, 1, 1, 1};
    static const uint8_t bools[R] = {1, 0, 1, 1, 0, 1, 0};
    cairn_frame *f = tc_frame(6, R);
    tc_col_str(f, 0, "plan", plan);
    tc_col_str(f, 1, "order_id", ids);
    tc_col_i64(f, 2, "when", CAIRN_TYPE_TIMESTAMP, ts, NULL);
    tc_col_i64(f, 3, "n", CAIRN_TYPE_INT64, ints, valid);
    tc_col_f64(f, 4, "x: y #z", dbl, valid);
    tc_col_bool(f, 5, "on", bools, NULL);
    cairn_colstats *stats = tc_stats(f);
    cairn_infer_opts o;
    cairn_infer_opts_init(&o);
    o.dataset_ref = "weird: name@2";
    o.label = "on";
    cairn_contract *c = NULL;
    assert_int_equal(cairn_contract_infer(f, stats, &o, &c, NULL), CAIRN_OK);
    char *yaml = NULL;
    cairn_contract *back = roundtrip(c, &yaml);
    assert_contracts_equal(c, back);
    /* writing the parsed contract gives the same text */
    char *yaml2 = NULL;
    cairn_contract *back2 = roundtrip(back, &yaml2);
    assert_string_equal(yaml, yaml2);
    cairn_free(yaml);
    cairn_free(yaml2);
    cairn_contract_free(back2);
    cairn_contract_free(back);
    cairn_contract_free(c);
    free(stats);
    cairn_frame_free(f);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Strings that YAML reads as something else unless quoted. */
static const char *const tricky[] = {
    "yes", "No", "null", "~", "true", "FALSE", "on", "off", "y", "n", "", " lead",
    "trail ", "a: b", "a:b", "#x", "x #y", "1.5", "007", "-", "- item", "[x]", "{y}", "a,b",
    "'sq'", "\"dq\"", "back\\slash", "tab\there", "new\nline", "ünïcödé",
    "emoji \xf0\x9f\x98\x80",
    "%pct", "@at", "`tick", "!bang", "&amp", "*star", "|pipe", ">gt", "?q", ".5", "+1",
    "0x1F", ".inf", "2024-01-01", "bell\x07", "del\x7f", "nbsp\xc2\xa0x", "c1\xc2\x85x",
    "bom\xef\xbb\xbfx", "ls\xe2\x80\xa8x", "ps\xe2\x80\xa9x", "plain words",
};

static void test_roundtrip_tricky_strings(void **state)
{
    (void)state;
    const size_t n = sizeof tricky / sizeof tricky[0];
    cairn_contract *c = cairn_calloc(1, sizeof *c);
    assert_non_null(c);
    c->version = 1;
    c->dataset = cairn_strdup("yes");
    c->n_cols = n + 2;
    c->cols = cairn_calloc(c->n_cols, sizeof *c->cols);
    assert_non_null(c->cols);
    /* one column named after each tricky string */
    for (size_t i = 0; i < n; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s%s", tricky[i], tricky[i][0] ? "" : "(empty)");
        c->cols[i].name = cairn_strdup(name);
        c->cols[i].type = CAIRN_TYPE_BOOL;
        c->cols[i].role = (cairn_role)(i % 5);
        c->cols[i].pii = (cairn_pii)(i % 7);
        c->cols[i].nullable = i % 2;
        c->cols[i].null_rate = (double)i / 97.0;
        c->cols[i].max_null_rate = c->cols[i].null_rate;
    }
    /* a string column whose domain holds all of them (sorted, as the reader keeps it) */
    cairn_contract_col *s = &c->cols[n];
    s->name = cairn_strdup("cat");
    s->type = CAIRN_TYPE_STRING;
    s->domain = cairn_calloc(n, sizeof *s->domain);
    for (size_t i = 0; i < n; i++)
        s->domain[i] = cairn_strdup(tricky[i]);
    s->n_domain = n;
    qsort(s->domain, n, sizeof *s->domain, cmp_str);
    s->domain_sorted = true;
    /* a float column with extreme bounds */
    cairn_contract_col *x = &c->cols[n + 1];
    x->name = cairn_strdup("x");
    x->type = CAIRN_TYPE_FLOAT64;
    x->has_min = x->has_max = true;
    x->min = -1.7976931348623157e308;
    x->max = 4.9e-324;
    x->unique = true;

    char *yaml = NULL;
    cairn_contract *back = roundtrip(c, &yaml);
    assert_contracts_equal(c, back);
    /* YAML 1.1 readers turn these into booleans or nulls when unquoted */
    assert_non_null(strstr(yaml, "dataset: \"yes\"\n"));
    assert_non_null(strstr(yaml, "- name: \"null\"\n"));
    assert_non_null(strstr(yaml, "- name: \"on\"\n"));
    assert_non_null(strstr(yaml, "- name: plain words\n"));
    cairn_free(yaml);
    cairn_contract_free(back);
    cairn_contract_free(c);
}

/* The parser keeps domains sorted and without duplicates; defaults apply. */
static void test_parse_defaults(void **state)
{
    (void)state;
    cairn_contract *c = tc_parse("columns:\n"
                                 "  - {name: c, type: string, domain: [b, a, b, \"\"]}\n"
                                 "  - name: t\n"
                                 "    type: timestamp\n"
                                 "    min: 2020-01-01\n"
                                 "    max: '2021-06-01T10:00:00.5+02:00'\n"
                                 "  - {name: n, type: int64, nullable: false, min: -3, max: 1e3}\n"
                                 "  - {name: d, type: string, domain: ~, role: label, pii: ip}\n"
                                 "dataset: ~\n");
    assert_int_equal(c->version, 1);
    assert_null(c->dataset);
    assert_int_equal(c->n_cols, 4);
    const cairn_contract_col *s = &c->cols[0];
    assert_int_equal(s->n_domain, 3);
    assert_string_equal(s->domain[0], "");
    assert_string_equal(s->domain[1], "a");
    assert_string_equal(s->domain[2], "b");
    assert_true(s->nullable);
    assert_true(s->max_null_rate == 1.0);
    assert_int_equal(s->role, CAIRN_ROLE_FEATURE);
    assert_int_equal(s->pii, CAIRN_PII_NONE);
    assert_false(s->unique);
    assert_true(cairn_contract_domain_has(s, "a", 1));
    assert_true(cairn_contract_domain_has(s, "", 0));
    assert_false(cairn_contract_domain_has(s, "c", 1));
    assert_false(cairn_contract_domain_has(s, "ab", 2));
    const cairn_contract_col *t = &c->cols[1];
    int64_t lo, hi;
    assert_true(cairn_parse_timestamp("2020-01-01T00:00:00Z", 20, &lo));
    assert_true(cairn_parse_timestamp("2021-06-01T08:00:00.5Z", 22, &hi));
    assert_true(t->has_min && t->min == (double)lo);
    assert_true(t->has_max && t->max == (double)hi);
    const cairn_contract_col *n = &c->cols[2];
    assert_false(n->nullable);
    assert_true(n->max_null_rate == 0.0);
    assert_true(n->min == -3.0 && n->max == 1000.0);
    assert_null(c->cols[3].domain);
    assert_int_equal(c->cols[3].role, CAIRN_ROLE_LABEL);
    assert_int_equal(c->cols[3].pii, CAIRN_PII_IP);
    assert_int_equal(cairn_contract_find(c, "n"), 2);
    assert_int_equal(cairn_contract_find(c, "zz"), -1);
    cairn_contract_free(c);
}

/* Parses text expecting CAIRN_EINPUT at where (exactly) with msg containing needle. */
static void expect_error(const char *yaml, size_t len, const char *where, const char *needle)
{
    cairn_contract *c = (cairn_contract *)1;
    cairn_error err = {0};
    cairn_status st = cairn_contract_parse(yaml, len, "t.yaml", &c, &err);
    if (st != CAIRN_EINPUT || strcmp(err.where, where) != 0 || !strstr(err.msg, needle))
        fail_msg("for %s\nexpected EINPUT at %s with '%s'\ngot %s: %s (%s)", yaml, where, needle,
                 cairn_status_name(st), err.msg, err.where);
    assert_null(c);
}

#define EXPECT_ERROR(yaml, where, needle) expect_error(yaml, strlen(yaml), where, needle)

static void test_parse_errors(void **state)
{
    (void)state;
    const char *head = "contract: 1\ncolumns:\n  - name: a\n    type: int64\n";
    char buf[512];
    /* bad YAML: a key indented out of its block, on line 5 */
    snprintf(buf, sizeof buf, "%s   role: feature\n", head);
    EXPECT_ERROR(buf, "t.yaml:5:4", "bad YAML");
    /* unknown key: named, at its line and column */
    snprintf(buf, sizeof buf, "%s    nullabel: true\n", head);
    EXPECT_ERROR(buf, "t.yaml:5:5", "unknown key 'nullabel'");
    /* wrong type of value */
    snprintf(buf, sizeof buf, "%s    nullable: maybe\n", head);
    EXPECT_ERROR(buf, "t.yaml:5:15", "must be true or false");
    snprintf(buf, sizeof buf, "%s    null_rate: [1]\n", head);
    EXPECT_ERROR(buf, "t.yaml:5:16", "found a list");
    /* missing name: at the start of that column's mapping */
    EXPECT_ERROR("contract: 1\ncolumns:\n  - name: a\n    type: int64\n  - type: int64\n    "
                 "role: label\n",
                 "t.yaml:5:5", "column #2 has no 'name'");
    EXPECT_ERROR("columns:\n  - name: a\n", "t.yaml:2:5", "column 'a' has no 'type'");
    EXPECT_ERROR("contract: 1\nversion: 2\ncolumns: []\n", "t.yaml:2:1", "unknown key 'version'");
    EXPECT_ERROR("contract: 1\ncolumns:\n  - {name: a, type: int64}\n  - {name: a, type: "
                 "string}\n",
                 "t.yaml:4:5", "duplicate column name 'a'");
    EXPECT_ERROR("columns:\n  - {name: a, type: int64, type: string}\n", "t.yaml:2:28",
                 "duplicate key 'type'");
    EXPECT_ERROR("contract: 1\ncolumns: []\ncolumns: []\n", "t.yaml:3:1", "duplicate key");
    EXPECT_ERROR("columns:\n  - &x {name: a, type: int64}\n  - *x\n", "t.yaml:3:5", "aliases");
    EXPECT_ERROR("columns: []\n---\ncolumns: []\n", "t.yaml:2:1", "one YAML document");
    EXPECT_ERROR("", "t.yaml:1:1", "empty");
    EXPECT_ERROR("# only a comment\n", "t.yaml:2:1", "empty");
    EXPECT_ERROR("- a\n- b\n", "t.yaml:1:1", "must be a mapping");
    EXPECT_ERROR("contract: 2\ncolumns: []\n", "t.yaml:1:11", "unsupported contract version 2");
    EXPECT_ERROR("contract: one\ncolumns: []\n", "t.yaml:1:11", "version number");
    EXPECT_ERROR("contract: 1\n", "t.yaml:1:1", "no 'columns'");
    EXPECT_ERROR("columns: 5\n", "t.yaml:1:10", "must be a list");
    EXPECT_ERROR("columns: [5]\n", "t.yaml:1:11", "must be a mapping");
    EXPECT_ERROR("columns:\n  - {name: \"a\\0b\", type: int64}\n", "t.yaml:2:12", "NUL");
    EXPECT_ERROR("columns:\n  - {name: '', type: int64}\n", "t.yaml:2:12", "empty");
    EXPECT_ERROR("columns:\n  - {name: a, type: int65}\n", "t.yaml:2:21", "unknown type 'int65'");
    EXPECT_ERROR("columns:\n  - {name: a, type: int64, role: target}\n", "t.yaml:2:34",
                 "unknown role 'target'");
    EXPECT_ERROR("columns:\n  - {name: a, type: int64, pii: dna}\n", "t.yaml:2:33",
                 "unknown pii kind 'dna'");
    EXPECT_ERROR("columns:\n  - {name: a, type: string, min: 3}\n", "t.yaml:2:34",
                 "only allowed for int64");
    EXPECT_ERROR("columns:\n  - {name: a, type: int64, domain: [1]}\n", "t.yaml:2:36",
                 "only allowed for string");
    EXPECT_ERROR("columns:\n  - {name: a, type: int64, min: 5, max: 2}\n", "t.yaml:2:41",
                 "below its 'min'");
    EXPECT_ERROR("columns:\n  - {name: a, type: int64, min: ten}\n", "t.yaml:2:33",
                 "must be a finite number");
    EXPECT_ERROR("columns:\n  - {name: a, type: float64, max: 1e999}\n", "t.yaml:2:35",
                 "must be a finite number");
    EXPECT_ERROR("columns:\n  - {name: a, type: timestamp, min: soon}\n", "t.yaml:2:37",
                 "ISO 8601");
    EXPECT_ERROR("columns:\n  - {name: a, type: float64, null_rate: 1.5}\n", "t.yaml:2:41",
                 "from 0 to 1");
    EXPECT_ERROR("columns:\n  - {name: a, type: string, domain: [b, ~]}\n", "t.yaml:2:41",
                 "found a null");
    EXPECT_ERROR("columns:\n  - {name: a, type: string, domain: [[b]]}\n", "t.yaml:2:38",
                 "found a list");
    EXPECT_ERROR("columns:\n  - {name: a, type: string, domain: b}\n", "t.yaml:2:37",
                 "must be a list");
    EXPECT_ERROR("columns:\n  - {[k]: a}\n", "t.yaml:2:6", "keys of column #1");
    EXPECT_ERROR("columns:\n  - {name: a, type: int64\n", "t.yaml:3:1", "bad YAML");
    /* invalid UTF-8: libyaml reports a byte offset, turned into line 2, column 4 */
    expect_error("contract: 1\ncol\xffumns: []\n", 26, "t.yaml:2:4", "bad YAML");
}

static void test_load_and_write(void **state)
{
    (void)state;
    const char *dir = getenv("CAIRN_TEST_TMP");
    char path[512], missing[600];
    snprintf(path, sizeof path, "%s/contract_yaml_%ld.yaml", dir ? dir : "/tmp", (long)getpid());
    snprintf(missing, sizeof missing, "%s.missing", path);
    cairn_contract *c = tc_parse("dataset: churn@4\ncolumns:\n  - {name: tenure, type: int64, "
                                 "min: 0, max: 72, nullable: false}\n");
    cairn_error err = {0};
    assert_int_equal(cairn_contract_write(c, path, &err), CAIRN_OK);
    cairn_contract *back = NULL;
    assert_int_equal(cairn_contract_load(path, &back, &err), CAIRN_OK);
    assert_contracts_equal(c, back);
    cairn_contract_free(back);
    back = (cairn_contract *)1;
    assert_int_equal(cairn_contract_load(missing, &back, &err), CAIRN_ENOTFOUND);
    assert_null(back);
    /* errors name the file */
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("columns:\n  - {name: a, type: int64, colour: red}\n", fp);
    fclose(fp);
    assert_int_equal(cairn_contract_load(path, &back, &err), CAIRN_EINPUT);
    char where[700];
    snprintf(where, sizeof where, "%s:2:28", path);
    assert_string_equal(err.where, where);
    assert_non_null(strstr(err.msg, "colour"));
    unlink(path);
    cairn_contract_free(c);
    cairn_contract_free(NULL);
}

static void test_parse_alloc_failures(void **state)
{
    (void)state;
    const char *yaml = "contract: 1\ndataset: d@1\ncolumns:\n"
                       "  - {name: a, type: string, domain: [x, y, z, w, v, u, t, s, r, q, p]}\n"
                       "  - {name: b, type: int64, min: 1, max: 9}\n"
                       "  - {name: c, type: timestamp, min: 2020-01-01}\n";
    for (long n = 1;; n++) {
        cairn_contract *c = NULL;
        cairn_error err = {0};
        cairn_alloc_fail_after(n, false);
        cairn_status st = cairn_contract_parse(yaml, strlen(yaml), "t.yaml", &c, &err);
        cairn_alloc_fail_after(0, false);
        if (st == CAIRN_OK) {
            assert_int_equal(c->n_cols, 3);
            cairn_contract_free(c);
            break;
        }
        assert_int_equal(st, CAIRN_ENOMEM);
        assert_null(c);
        assert_true(n < 10000);
    }
}

/* The examples in docs/contract.md are real: every yaml block parses, every json block is JSON. */
static void test_docs_examples(void **state)
{
    (void)state;
    const char *src = getenv("CAIRN_SRC");
    char path[1024];
    snprintf(path, sizeof path, "%s/docs/contract.md", src ? src : ".");
    char *text = NULL;
    size_t len = 0;
    if (cairn_read_file(path, &text, &len, NULL) != CAIRN_OK)
        skip();
    int n_yaml = 0, n_json = 0;
    for (char *p = text; (p = strstr(p, "\n```")) != NULL;) {
        p += 4;
        bool yaml = strncmp(p, "yaml\n", 5) == 0, json = strncmp(p, "json\n", 5) == 0;
        char *body = strchr(p, '\n');
        if (!body)
            break;
        body++;
        char *end = strstr(body, "\n```");
        assert_non_null(end);
        if (yaml) {
            cairn_contract *c = NULL;
            cairn_error err = {0};
            if (cairn_contract_parse(body, (size_t)(end + 1 - body), "docs", &c, &err) != CAIRN_OK)
                fail_msg("docs/contract.md example: %s (%s)", err.msg, err.where);
            assert_true(c->n_cols > 0);
            cairn_contract_free(c);
            n_yaml++;
        } else if (json) {
            cJSON *j = cJSON_ParseWithLength(body, (size_t)(end - body));
            assert_non_null(j);
            cJSON_Delete(j);
            n_json++;
        }
        p = end + 4;
    }
    assert_true(n_yaml >= 1);
    assert_true(n_json >= 1);
    cairn_free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_inferred),
        cmocka_unit_test(test_roundtrip_tricky_strings),
        cmocka_unit_test(test_parse_defaults),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_load_and_write),
        cmocka_unit_test(test_parse_alloc_failures),
        cmocka_unit_test(test_docs_examples),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
