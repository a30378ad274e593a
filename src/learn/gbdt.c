/*
 * gbdt.c -- trains gradient-boosted trees through XGBoost's C API and
 * exports the result into our own format (cairn_trees, tree.c).
 *
 * Training: the inputs are checked (labels fit the task, no infinities,
 * category codes are integers below their level count), handed to XGBoost
 * in place (the training part as a QuantileDMatrix of binned values, see
 * "Feeding XGBoost" below), and boosted one round at a time with
 * tree_method=hist, a fixed seed and a fixed thread count, which makes
 * XGBoost deterministic. Early stopping is ours: after each round the
 * validation metric is read back from XGBoosterEvalOneIter, the best round
 * is remembered, and training stops after `early_stopping` rounds without a
 * strict improvement. The booster is then sliced to the rounds up to the
 * best one, saved as JSON and parsed into flat arrays, one tree at a time
 * (cJSON per tree: a DOM of the whole model would take several times its
 * text). Nodes are renumbered in depth-first preorder so that every child
 * has a larger index than its parent, the invariant tree.c's validator
 * demands.
 *
 * XGBoost's own allocations are outside cairn_malloc; the fault-injection
 * tests only cover ours.
 */
#include "learn/gbdt.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xgboost/c_api.h>

void cairn_gbdt_params_init(cairn_gbdt_params *p)
{
    memset(p, 0, sizeof *p);
    p->task = CAIRN_TASK_BINARY;
    p->n_classes = 0;
    p->rounds = 100;
    p->max_depth = 6;
    p->learning_rate = 0.1;
    p->early_stopping = 0;
    p->min_child_weight = 1.0;
    p->subsample = 1.0;
    p->colsample_bytree = 1.0;
    p->lambda = 1.0;
    p->alpha = 0.0;
    p->max_bin = 256;
    p->threads = 1;
    p->seed = 42;
}

void cairn_gbdt_log_reset(cairn_gbdt_log *log)
{
    if (!log)
        return;
    cairn_free(log->valid_metric);
    cairn_free(log->xgboost_json);
    memset(log, 0, sizeof *log);
}

/* ---- XGBoost JSON -> cairn_trees ------------------------------------------ */

/* XGBoost writes some scalars as JSON strings ("5E-1"); accept both. */
static bool json_number(const cJSON *j, double *out)
{
    if (cJSON_IsNumber(j)) {
        *out = j->valuedouble;
        return true;
    }
    if (cJSON_IsString(j) && j->valuestring) {
        char *end;
        *out = strtod(j->valuestring, &end);
        return end != j->valuestring && *end == '\0';
    }
    return false;
}

static const cJSON *json_path(const cJSON *j, const char *const *keys, size_t n)
{
    for (size_t i = 0; i < n && j; i++)
        j = cJSON_GetObjectItemCaseSensitive(j, keys[i]);
    return j;
}

/* Reads integer array a into a freshly allocated long array of its size.
 * Returns CAIRN_OK, CAIRN_EINPUT (not an array of integers) or CAIRN_ENOMEM. */
static cairn_status json_long_array(const cJSON *a, long **out, int *n_out)
{
    *out = NULL;
    *n_out = 0;
    if (!cJSON_IsArray(a))
        return CAIRN_EINPUT;
    int n = cJSON_GetArraySize(a);
    long *v = cairn_calloc((size_t)n + 1, sizeof *v);
    if (!v)
        return CAIRN_ENOMEM;
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, a) {
        double d;
        if (!json_number(e, &d) || d != floor(d) || fabs(d) > 4e9) {
            cairn_free(v);
            return CAIRN_EINPUT;
        }
        v[i++] = (long)d;
    }
    *out = v;
    *n_out = n;
    return CAIRN_OK;
}

/* One XGBoost tree, read into arrays of its own numbering. */
typedef struct xtree {
    long *left, *right, *feat, *deflt, *stype, *cats, *cat_nodes, *cat_seg, *cat_size;
    float *cond;               /* split_conditions: thresholds and leaf weights */
    int n, n_cats, n_cat_nodes;
} xtree;

static void xtree_reset(xtree *x)
{
    cairn_free(x->left);
    cairn_free(x->right);
    cairn_free(x->feat);
    cairn_free(x->deflt);
    cairn_free(x->stype);
    cairn_free(x->cats);
    cairn_free(x->cat_nodes);
    cairn_free(x->cat_seg);
    cairn_free(x->cat_size);
    cairn_free(x->cond);
    memset(x, 0, sizeof *x);
}

/* Reads tree j. Returns CAIRN_OK, CAIRN_EINPUT or CAIRN_ENOMEM. */
static cairn_status xtree_read(const cJSON *j, xtree *x, cairn_error *err)
{
    int n1, n2, n3, n4, n5, ns1, ns2;
    memset(x, 0, sizeof *x);
    static const char *const keys[9] = {
        "left_children", "right_children", "split_indices", "default_left", "split_type",
        "categories", "categories_nodes", "categories_segments", "categories_sizes"};
    long **dst[9] = {&x->left, &x->right, &x->feat, &x->deflt, &x->stype,
                     &x->cats, &x->cat_nodes, &x->cat_seg, &x->cat_size};
    int *len[9] = {&x->n, &n1, &n2, &n3, &n4, &x->n_cats, &x->n_cat_nodes, &ns1, &ns2};
    for (int k = 0; k < 9; k++) {
        cairn_status st = json_long_array(cJSON_GetObjectItemCaseSensitive(j, keys[k]), dst[k],
                                          len[k]);
        if (st == CAIRN_ENOMEM)
            return cairn_error_set(err, st, "xgboost json", "out of memory");
        if (st != CAIRN_OK)
            return cairn_error_set(err, st, "xgboost json", "tree array %s missing or malformed",
                                   keys[k]);
    }
    const cJSON *cond = cJSON_GetObjectItemCaseSensitive(j, "split_conditions");
    n5 = cJSON_IsArray(cond) ? cJSON_GetArraySize(cond) : -1;
    if (x->n < 1 || n1 != x->n || n2 != x->n || n3 != x->n || n4 != x->n || n5 != x->n ||
        ns1 != x->n_cat_nodes || ns2 != x->n_cat_nodes)
        return cairn_error_set(err, CAIRN_EINPUT, "xgboost json", "tree arrays differ in length");
    x->cond = cairn_calloc((size_t)x->n, sizeof *x->cond);
    if (!x->cond)
        return cairn_error_set(err, CAIRN_ENOMEM, "xgboost json", "out of memory");
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, cond) {
        double d;
        if (!json_number(e, &d))
            return cairn_error_set(err, CAIRN_EINPUT, "xgboost json", "bad split condition");
        x->cond[i++] = (float)d;
    }
    return CAIRN_OK;
}

/*
 * Copies xtree x into t's nodes starting at *next, in depth-first preorder
 * from the root (node 0). stack has room for 6 entries per node of x plus 6
 * (xgboost node id, our parent slot, left or right). Counts categories into
 * *next_cat.
 */
static cairn_status xtree_emit(const xtree *x, cairn_trees *t, uint32_t n_features,
                               uint32_t *next, uint32_t *next_cat, long *stack, cairn_error *err)
{
    const float *cond = x->cond;
    /* stack entries: xgboost node id, our parent index (or -1), whether left. */
    long sp = 0;
    stack[sp++] = 0;
    stack[sp++] = -1;
    stack[sp++] = 0;
    int visited = 0;
    while (sp > 0) {
        long is_left = stack[--sp], parent = stack[--sp], id = stack[--sp];
        if (id < 0 || id >= x->n || ++visited > x->n)
            return cairn_error_set(err, CAIRN_EINPUT, "xgboost json", "bad child index");
        uint32_t me = (*next)++;
        if (parent >= 0) {
            if (is_left)
                t->left[parent] = me;
            else
                t->right[parent] = me;
        }
        t->cat_first[me] = *next_cat;
        t->value[me] = cond[id];
        if (x->left[id] == -1) {
            t->flags[me] = CAIRN_TREE_LEAF;
            continue;
        }
        if (x->feat[id] < 0 || (uint64_t)x->feat[id] >= n_features)
            return cairn_error_set(err, CAIRN_EINPUT, "xgboost json", "bad split feature");
        t->feature[me] = (uint32_t)x->feat[id];
        t->flags[me] = x->deflt[id] ? CAIRN_TREE_DEFAULT_LEFT : 0;
        if (x->stype[id] == 1) {
            t->flags[me] |= CAIRN_TREE_CATEGORICAL;
            int k;
            for (k = 0; k < x->n_cat_nodes && x->cat_nodes[k] != id; k++)
                ;
            if (k < x->n_cat_nodes) {
                long s = x->cat_seg[k], z = x->cat_size[k];
                if (s < 0 || z < 0 || s + z > x->n_cats)
                    return cairn_error_set(err, CAIRN_EINPUT, "xgboost json",
                                           "bad category segment");
                for (long c = s; c < s + z; c++) {
                    if (x->cats[c] < 0 || x->cats[c] >= (long)CAIRN_TREE_MAX_CAT ||
                        (c > s && x->cats[c] <= x->cats[c - 1]))
                        return cairn_error_set(err, CAIRN_EINPUT, "xgboost json",
                                               "bad category set");
                    /* t->n_cats is the room allocated (every tree's sets
                     * together) until the end; nodes sharing a segment could
                     * ask for more. */
                    if (*next_cat >= t->n_cats)
                        return cairn_error_set(err, CAIRN_EINPUT, "xgboost json",
                                               "category sets overlap");
                    t->cats[(*next_cat)++] = (uint32_t)x->cats[c];
                }
            }
        }
        /* Push right first so the left subtree is numbered first. */
        stack[sp++] = x->right[id];
        stack[sp++] = me;
        stack[sp++] = 0;
        stack[sp++] = x->left[id];
        stack[sp++] = me;
        stack[sp++] = 1;
    }
    return CAIRN_OK;
}

/*
 * A light scan of JSON text, enough to cut the model into pieces: the trees
 * are parsed one at a time, so the cJSON tree of the whole model (tens of
 * bytes per number, several times the text) never exists at once.
 */

static bool json_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* s[i] is '"': the index just past the closing quote, or len if none. */
static size_t skip_string(const char *s, size_t i, size_t len)
{
    for (i++; i < len; i++) {
        if (s[i] == '\\')
            i++;
        else if (s[i] == '"')
            return i + 1;
    }
    return len;
}

/* s[i] is '[' or '{': the index just past its matching bracket, or 0 if it
 * is not closed before len. Only brackets are balanced; cJSON checks the
 * rest. */
static size_t skip_container(const char *s, size_t i, size_t len)
{
    size_t depth = 0;
    while (i < len) {
        char c = s[i];
        if (c == '"') {
            i = skip_string(s, i, len);
            continue;
        }
        if (c == '[' || c == '{') {
            depth++;
        } else if (c == ']' || c == '}') {
            if (--depth == 0)
                return i + 1;
        }
        i++;
    }
    return 0;
}

/* The first member named "trees" whose value is an array: its text is
 * s[*b .. *e). False when there is none or it is not closed. */
static bool find_trees_array(const char *s, size_t len, size_t *b, size_t *e)
{
    static const char key[] = "\"trees\"";
    size_t i = 0;
    while (i < len) {
        if (s[i] != '"') {
            i++;
            continue;
        }
        size_t end = skip_string(s, i, len);
        bool match = end - i == sizeof key - 1 && memcmp(s + i, key, sizeof key - 1) == 0;
        i = end;
        if (!match)
            continue;
        while (i < len && json_space(s[i]))
            i++;
        if (i >= len || s[i] != ':')
            continue;
        i++;
        while (i < len && json_space(s[i]))
            i++;
        if (i >= len || s[i] != '[')
            continue;
        *b = i;
        *e = skip_container(s, i, len);
        return *e > 0;
    }
    return false;
}

/*
 * Calls fn on each element of the array s[b .. e) (the brackets included)
 * with its text; counts them into *n. Elements must be objects.
 */
typedef cairn_status (*element_fn)(void *ctx, const char *p, size_t n, cairn_error *err);

static cairn_status each_element(const char *s, size_t b, size_t e, element_fn fn, void *ctx,
                                 size_t *n, cairn_error *err)
{
    size_t i = b + 1, count = 0;
    e--; /* the closing ']' */
    while (i < e && json_space(s[i]))
        i++;
    while (i < e) {
        if (s[i] != '{')
            return cairn_error_set(err, CAIRN_EINPUT, "xgboost json", "a tree is not an object");
        size_t end = skip_container(s, i, e);
        if (end == 0 || s[end - 1] != '}')
            return cairn_error_set(err, CAIRN_EINPUT, "xgboost json", "unbalanced tree object");
        if (fn) {
            cairn_status st = fn(ctx, s + i, end - i, err);
            if (st != CAIRN_OK)
                return st;
        }
        count++;
        i = end;
        while (i < e && json_space(s[i]))
            i++;
        if (i == e)
            break;
        /* A comma and then another element. */
        if (s[i] != ',')
            return cairn_error_set(err, CAIRN_EINPUT, "xgboost json", "bad trees array");
        i++;
        while (i < e && json_space(s[i]))
            i++;
        if (i == e)
            return cairn_error_set(err, CAIRN_EINPUT, "xgboost json", "bad trees array");
    }
    *n = count;
    return CAIRN_OK;
}

/* Parses one tree object into the next free xtree. */
typedef struct tree_reader {
    xtree *xs;
    size_t cap, n_read;
} tree_reader;

static cairn_status read_tree(void *ctx, const char *p, size_t n, cairn_error *err)
{
    tree_reader *r = ctx;
    if (r->n_read >= r->cap)
        return cairn_error_set(err, CAIRN_EINPUT, "xgboost json", "bad trees array");
    cJSON *j = cJSON_ParseWithLength(p, n);
    if (!j)
        return cairn_error_set(err, CAIRN_EINPUT, "xgboost json",
                               "a tree is not JSON (or out of memory)");
    cairn_status st = xtree_read(j, &r->xs[r->n_read], err);
    r->n_read++;
    cJSON_Delete(j);
    return st;
}

cairn_status cairn_trees_from_xgboost_json(const char *json, size_t len, cairn_task task,
                                           uint32_t n_features, cairn_trees **out,
                                           cairn_error *err)
{
    *out = NULL;
    cairn_status st = CAIRN_OK;
    cairn_trees *t = NULL;
    tree_reader rd = {0};
    long *stack = NULL;
    cJSON *root = NULL;
    char *text = cairn_malloc(len + 1);
    if (!text) {
        st = cairn_error_set(err, CAIRN_ENOMEM, "xgboost json", "out of memory");
        goto done;
    }
    memcpy(text, json, len);
    text[len] = '\0';
    /* XGBoost writes the unused threshold of a categorical split as a bare
     * NaN, which is not JSON. Outside strings it becomes "0  " (same
     * length); that value is never read for a categorical node. */
    bool in_str = false;
    for (size_t i = 0; i < len; i++) {
        if (in_str) {
            if (text[i] == '\\')
                i++;
            else if (text[i] == '"')
                in_str = false;
        } else if (text[i] == '"') {
            in_str = true;
        } else if (i + 3 <= len && memcmp(text + i, "NaN", 3) == 0) {
            memcpy(text + i, "0  ", 3);
            i += 2;
        }
    }
    /* The trees, one at a time; then their array is blanked to "[]" and the
     * rest of the model (small) is parsed whole. */
    size_t tb, te, n_trees = 0;
    if (!find_trees_array(text, len, &tb, &te)) {
        st = cairn_error_set(err, CAIRN_EINPUT, "xgboost json", "not an XGBoost gbtree model");
        goto done;
    }
    st = each_element(text, tb, te, NULL, NULL, &n_trees, err);
    if (st != CAIRN_OK)
        goto done;
    if (n_trees >= UINT32_MAX) {
        st = cairn_error_set(err, CAIRN_ETOOBIG, "xgboost json", "model too large");
        goto done;
    }
    rd.cap = n_trees;
    rd.xs = cairn_calloc(n_trees + 1, sizeof *rd.xs);
    if (!rd.xs) {
        st = cairn_error_set(err, CAIRN_ENOMEM, "xgboost json", "out of memory");
        goto done;
    }
    st = each_element(text, tb, te, read_tree, &rd, &n_trees, err);
    if (st != CAIRN_OK)
        goto done;
    text[tb] = '[';
    text[tb + 1] = ']';
    memset(text + tb + 2, ' ', te - tb - 2);
    root = cJSON_ParseWithLength(text, len);
    if (!root) {
        st = cairn_error_set(err, CAIRN_EINPUT, "xgboost json", "not JSON (or out of memory)");
        goto done;
    }
    static const char *const k_trees[] = {"learner", "gradient_booster", "model", "trees"};
    static const char *const k_info[] = {"learner", "gradient_booster", "model", "tree_info"};
    static const char *const k_base[] = {"learner", "learner_model_param", "base_score"};
    static const char *const k_ncls[] = {"learner", "learner_model_param", "num_class"};
    /* The blanked array must be the model's own trees. */
    const cJSON *trees = json_path(root, k_trees, 4);
    const cJSON *info = json_path(root, k_info, 4);
    double base_score, num_class;
    if (!cJSON_IsArray(trees) || cJSON_GetArraySize(trees) != 0 || !cJSON_IsArray(info) ||
        (size_t)cJSON_GetArraySize(info) != n_trees ||
        !json_number(json_path(root, k_base, 3), &base_score) || !isfinite(base_score) ||
        !json_number(json_path(root, k_ncls, 3), &num_class) || num_class < 0 ||
        num_class > CAIRN_TREES_MAX_CLASSES) {
        st = cairn_error_set(err, CAIRN_EINPUT, "xgboost json", "not an XGBoost gbtree model");
        goto done;
    }
    uint32_t n_outputs = task == CAIRN_TASK_MULTICLASS ? (uint32_t)num_class : 1;
    uint64_t total_nodes = 0, total_cats = 0;
    int max_nodes = 1;
    for (size_t k = 0; k < n_trees; k++) {
        total_nodes += (uint64_t)rd.xs[k].n;
        total_cats += (uint64_t)rd.xs[k].n_cats;
        if (rd.xs[k].n > max_nodes)
            max_nodes = rd.xs[k].n;
    }
    if (total_nodes >= UINT32_MAX || total_cats >= UINT32_MAX) {
        st = cairn_error_set(err, CAIRN_ETOOBIG, "xgboost json", "model too large");
        goto done;
    }
    /* Every visit of a split pushes 6 entries and visits are capped at the
     * node count, so 6 per node (plus the root's 3) always suffice. */
    stack = cairn_calloc((size_t)max_nodes * 6 + 6, sizeof *stack);
    if (!stack) {
        st = cairn_error_set(err, CAIRN_ENOMEM, "xgboost json", "out of memory");
        goto done;
    }
    /* The category count actually used (only reachable categorical nodes)
     * can be below total_cats; allocate for the total, then trim n_cats. */
    st = cairn_trees_alloc((uint32_t)n_trees, (uint32_t)total_nodes, (uint32_t)total_cats, &t,
                           err);
    if (st != CAIRN_OK)
        goto done;
    t->task = task;
    t->n_features = n_features;
    t->n_outputs = n_outputs;
    t->base_score = base_score;
    /* XGBoost 1.7 turns base_score into a margin in float32: logit for
     * binary:logistic (ProbToMargin: -log(1/p - 1)), the value itself for
     * squared error and softprob. */
    if (task == CAIRN_TASK_BINARY) {
        float bs = (float)base_score;
        t->base_margin = -logf(1.0f / bs - 1.0f);
    } else {
        t->base_margin = (float)base_score;
    }
    uint32_t next = 0, next_cat = 0;
    size_t k = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, info) {
        double cls;
        if (!json_number(e, &cls) || cls < 0 || cls >= (double)n_outputs || cls != floor(cls)) {
            st = cairn_error_set(err, CAIRN_EINPUT, "xgboost json", "bad tree_info");
            goto done;
        }
        t->tree_class[k] = (uint32_t)cls;
        t->tree_first[k] = next;
        st = xtree_emit(&rd.xs[k], t, n_features, &next, &next_cat, stack, err);
        if (st != CAIRN_OK)
            goto done;
        k++;
    }
    t->tree_first[n_trees] = next;
    t->n_nodes = next;
    t->cat_first[next] = next_cat;
    t->n_cats = next_cat;
    st = cairn_trees_validate(t, err);
    if (st != CAIRN_OK) {
        st = CAIRN_EINPUT;
        if (err)
            err->code = st;
        goto done;
    }
    st = cairn_trees_compile(t, err);
done:
    for (size_t i = 0; i < rd.n_read; i++)
        xtree_reset(&rd.xs[i]);
    cairn_free(rd.xs);
    cairn_free(stack);
    cJSON_Delete(root);
    cairn_free(text);
    if (st != CAIRN_OK)
        cairn_trees_free(t);
    else
        *out = t;
    return st;
}

/* ---- training -------------------------------------------------------------- */

static cairn_status xgb_fail(cairn_error *err, const char *what)
{
    return cairn_error_set(err, CAIRN_EINTERNAL, "xgboost", "%s: %s", what, XGBGetLastError());
}

/* Checks one part's labels and features; `part` names it in messages. */
static cairn_status check_part(const double *x, const double *y, size_t n, size_t d,
                               const uint32_t *cat_levels, const cairn_gbdt_params *p,
                               const char *part, cairn_error *err)
{
    for (size_t r = 0; r < n; r++) {
        double v = y[r];
        bool ok = isfinite(v);
        if (ok && p->task == CAIRN_TASK_BINARY)
            ok = v == 0.0 || v == 1.0;
        else if (ok && p->task == CAIRN_TASK_MULTICLASS)
            ok = v >= 0 && v < p->n_classes && v == floor(v);
        if (!ok)
            return cairn_error_set(err, CAIRN_EINPUT, part,
                                   "row %zu: label %g does not fit the %s task", r + 1, v,
                                   cairn_task_name(p->task));
        for (size_t j = 0; j < d; j++) {
            double f = x[r * d + j];
            if (isnan(f))
                continue;
            /* float32 is what XGBoost sees: a finite double beyond its range
             * would become infinite there. */
            if (!isfinite((float)f))
                return cairn_error_set(err, CAIRN_EINPUT, part,
                                       "row %zu, feature %zu: value %g is not a finite float",
                                       r + 1, j, f);
            if (cat_levels && cat_levels[j] &&
                (f < 0 || f >= cat_levels[j] || f != floor(f)))
                return cairn_error_set(err, CAIRN_EINPUT, part,
                                       "row %zu, feature %zu: %g is not a category code below %u",
                                       r + 1, j, f, cat_levels[j]);
        }
    }
    return CAIRN_OK;
}

/*
 * Feeding XGBoost. The doubles are handed over in place through NumPy's
 * __array_interface__ (typestr f8): XGBoost reads each value and rounds it
 * to float32 itself, which is the same rounding as a C cast, so no float
 * copy of the matrix is made here. The training matrix is a QuantileDMatrix
 * (XGBoost's IterativeDMatrix): built from one batch through a proxy, it
 * holds only the quantized bins (about a byte per cell) and never the CSR
 * copy of every value that a plain DMatrix keeps. The validation part is
 * only ever predicted on, so it is a plain DMatrix of its raw values; its
 * metric is then the one our exported model gives on those rows.
 */

/* JSON __array_interface__ of a C-contiguous float64 array: n x d, or a
 * vector of n when d is 0. */
static void array_interface(char *buf, size_t cap, const double *p, size_t n, size_t d)
{
    const uint16_t probe = 1;
    char order = *(const unsigned char *)&probe ? '<' : '>';
    if (d > 0)
        snprintf(buf, cap,
                 "{\"data\": [%llu, true], \"shape\": [%zu, %zu], \"typestr\": \"%cf8\", "
                 "\"version\": 3}",
                 (unsigned long long)(uintptr_t)p, n, d, order);
    else
        snprintf(buf, cap,
                 "{\"data\": [%llu, true], \"shape\": [%zu], \"typestr\": \"%cf8\", "
                 "\"version\": 3}",
                 (unsigned long long)(uintptr_t)p, n, order);
}

/* Per-feature types for XGBoost ("q" numeric, "c" categorical). */
typedef struct feat_types {
    const char **v;
    bst_ulong n;
    bool any_cat;
} feat_types;

/* The one-batch iterator behind the QuantileDMatrix. XGBoost walks it
 * several times (counting, sketching, binning), calling reset in between. */
typedef struct dense_iter {
    DMatrixHandle proxy;
    const char *data;          /* the array interface of the whole matrix */
    const feat_types *types;
    bool given;                /* the batch was handed out since the last reset */
    bool failed;               /* setting the proxy's data failed */
} dense_iter;

static int dense_iter_next(DataIterHandle h)
{
    dense_iter *it = h;
    if (it->given || it->failed)
        return 0;
    if (XGProxyDMatrixSetDataDense(it->proxy, it->data) != 0 ||
        (it->types->any_cat && XGDMatrixSetStrFeatureInfo(it->proxy, "feature_type",
                                                          it->types->v, it->types->n) != 0)) {
        it->failed = true;
        return 0;
    }
    it->given = true;
    return 1;
}

static void dense_iter_reset(DataIterHandle h)
{
    ((dense_iter *)h)->given = false;
}

/* Labels (float64, read in place) and feature types onto m. */
static cairn_status set_info(DMatrixHandle m, const double *y, size_t n, const feat_types *ft,
                             cairn_error *err)
{
    char ai[160];
    array_interface(ai, sizeof ai, y, n, 0);
    if (XGDMatrixSetInfoFromInterface(m, "label", ai) != 0 ||
        (ft->any_cat && XGDMatrixSetStrFeatureInfo(m, "feature_type", ft->v, ft->n) != 0))
        return xgb_fail(err, "setting labels and feature types");
    return CAIRN_OK;
}

/* The training matrix: a QuantileDMatrix with max_bin bins per feature. */
static cairn_status make_train_matrix(const double *x, const double *y, size_t n, size_t d,
                                      const feat_types *ft, int threads, int max_bin,
                                      DMatrixHandle *out, cairn_error *err)
{
    cairn_status st = CAIRN_OK;
    char ai[200], config[120];
    *out = NULL;
    DMatrixHandle proxy = NULL;
    if (XGProxyDMatrixCreate(&proxy) != 0)
        return xgb_fail(err, "creating the data proxy");
    array_interface(ai, sizeof ai, x, n, d);
    snprintf(config, sizeof config, "{\"missing\": NaN, \"nthread\": %d, \"max_bin\": %d}",
             threads, max_bin);
    dense_iter it = {.proxy = proxy, .data = ai, .types = ft};
    int rc = XGQuantileDMatrixCreateFromCallback(&it, proxy, NULL, dense_iter_reset,
                                                 dense_iter_next, config, out);
    if (rc != 0 || it.failed) {
        st = xgb_fail(err, "creating the training matrix");
        if (rc == 0)
            XGDMatrixFree(*out);
        *out = NULL;
        goto done;
    }
    st = set_info(*out, y, n, ft, err);
    if (st != CAIRN_OK) {
        XGDMatrixFree(*out);
        *out = NULL;
    }
done:
    XGDMatrixFree(proxy);
    return st;
}

/* The validation matrix: a plain DMatrix of the raw values. */
static cairn_status make_valid_matrix(const double *x, const double *y, size_t n, size_t d,
                                      const feat_types *ft, int threads, DMatrixHandle *out,
                                      cairn_error *err)
{
    char ai[200], config[80];
    *out = NULL;
    array_interface(ai, sizeof ai, x, n, d);
    snprintf(config, sizeof config, "{\"missing\": NaN, \"nthread\": %d}", threads);
    if (XGDMatrixCreateFromDense(ai, config, out) != 0) {
        *out = NULL;
        return xgb_fail(err, "creating the validation matrix");
    }
    cairn_status st = set_info(*out, y, n, ft, err);
    if (st != CAIRN_OK) {
        XGDMatrixFree(*out);
        *out = NULL;
    }
    return st;
}

static int set_param(BoosterHandle b, const char *k, const char *v)
{
    return XGBoosterSetParam(b, k, v);
}

static int set_param_d(BoosterHandle b, const char *k, double v)
{
    char s[40];
    cairn_fmt_double(s, sizeof s, v);
    return XGBoosterSetParam(b, k, s);
}

static int set_param_i(BoosterHandle b, const char *k, long long v)
{
    char s[32];
    snprintf(s, sizeof s, "%lld", v);
    return XGBoosterSetParam(b, k, s);
}

/* The number after the last ':' of "[3]\tvalid-logloss:0.4512". */
static bool parse_eval(const char *s, double *out)
{
    const char *c = s ? strrchr(s, ':') : NULL;
    if (!c)
        return false;
    char *end;
    *out = strtod(c + 1, &end);
    return end != c + 1;
}

static cairn_status check_params(const cairn_gbdt_data *d, const cairn_gbdt_params *p,
                                 cairn_error *err)
{
    if (!d->x || !d->y || d->n_rows < 1 || d->n_features < 1 ||
        d->n_features > CAIRN_TREES_MAX_FEATURES || d->n_rows > (size_t)UINT32_MAX ||
        (d->valid_n_rows > 0 && (!d->valid_x || !d->valid_y)))
        return cairn_error_set(err, CAIRN_EINVAL, "gbdt", "bad data shape");
    if ((unsigned)p->task > (unsigned)CAIRN_TASK_MULTICLASS ||
        (p->task == CAIRN_TASK_MULTICLASS &&
         (p->n_classes < 2 || p->n_classes > (int)CAIRN_TREES_MAX_CLASSES)))
        return cairn_error_set(err, CAIRN_EINVAL, "gbdt", "bad task or class count");
    if (p->rounds < 1 || p->max_depth < 1 || p->max_depth > 64 || !(p->learning_rate > 0) ||
        p->learning_rate > 1 || p->early_stopping < 0 || !(p->min_child_weight >= 0) ||
        !(p->subsample > 0) || p->subsample > 1 || !(p->colsample_bytree > 0) ||
        p->colsample_bytree > 1 || !(p->lambda >= 0) || !(p->alpha >= 0) || p->max_bin < 2 ||
        p->threads < 0 || !isfinite(p->min_child_weight) || !isfinite(p->lambda) ||
        !isfinite(p->alpha))
        return cairn_error_set(err, CAIRN_EINVAL, "gbdt", "a gbdt parameter is out of range");
    if (d->cat_levels)
        for (size_t j = 0; j < d->n_features; j++)
            if (d->cat_levels[j] > CAIRN_TREE_MAX_CAT)
                return cairn_error_set(err, CAIRN_EINVAL, "gbdt", "feature %zu: too many levels",
                                       j);
    return CAIRN_OK;
}

cairn_status cairn_gbdt_train(const cairn_gbdt_data *d, const cairn_gbdt_params *p,
                              cairn_trees **out, cairn_gbdt_log *log, cairn_error *err)
{
    cairn_status st;
    DMatrixHandle dtrain = NULL, dvalid = NULL;
    BoosterHandle booster = NULL, sliced = NULL;
    double *metric = NULL;
    char *json_copy = NULL;
    const char **types = NULL;
    cairn_trees *t = NULL;
    *out = NULL;
    int threads = p->threads > 0 ? p->threads : 1;
    const char *objective, *metric_name;
    switch (p->task) {
    case CAIRN_TASK_REGRESSION:
        objective = "reg:squarederror";
        metric_name = "rmse";
        break;
    case CAIRN_TASK_MULTICLASS:
        objective = "multi:softprob";
        metric_name = "mlogloss";
        break;
    default:
        objective = "binary:logistic";
        metric_name = "logloss";
        break;
    }
    st = check_params(d, p, err);
    if (st != CAIRN_OK)
        goto done;
    st = check_part(d->x, d->y, d->n_rows, d->n_features, d->cat_levels, p, "training", err);
    if (st == CAIRN_OK && d->valid_n_rows > 0)
        st = check_part(d->valid_x, d->valid_y, d->valid_n_rows, d->n_features, d->cat_levels, p,
                        "validation", err);
    if (st != CAIRN_OK)
        goto done;
    metric = cairn_calloc((size_t)p->rounds, sizeof *metric);
    if (!metric) {
        st = cairn_error_set(err, CAIRN_ENOMEM, "gbdt", "out of memory");
        goto done;
    }
    types = cairn_calloc(d->n_features + 1, sizeof *types);
    if (!types) {
        st = cairn_error_set(err, CAIRN_ENOMEM, "gbdt", "out of memory");
        goto done;
    }
    feat_types ft = {.v = types, .n = (bst_ulong)d->n_features, .any_cat = false};
    for (size_t j = 0; j < d->n_features; j++) {
        bool c = d->cat_levels && d->cat_levels[j];
        types[j] = c ? "c" : "q";
        ft.any_cat |= c;
    }
    st = make_train_matrix(d->x, d->y, d->n_rows, d->n_features, &ft, threads, p->max_bin,
                           &dtrain, err);
    if (st == CAIRN_OK && d->valid_n_rows > 0)
        st = make_valid_matrix(d->valid_x, d->valid_y, d->valid_n_rows, d->n_features, &ft,
                               threads, &dvalid, err);
    if (st != CAIRN_OK)
        goto done;
    DMatrixHandle cache[2] = {dtrain, dvalid};
    if (XGBoosterCreate(cache, dvalid ? 2 : 1, &booster) != 0) {
        booster = NULL;
        st = xgb_fail(err, "creating the booster");
        goto done;
    }
    /* verbosity 0: the library never prints, XGBoost's warnings included. */
    if (set_param(booster, "verbosity", "0") || set_param(booster, "booster", "gbtree") ||
        set_param(booster, "tree_method", "hist") || set_param(booster, "objective", objective) ||
        set_param(booster, "eval_metric", metric_name) ||
        set_param_i(booster, "nthread", threads) ||
        set_param_i(booster, "seed", (long long)(p->seed & 0x7fffffffffffffffULL)) ||
        set_param_i(booster, "max_depth", p->max_depth) ||
        set_param_d(booster, "eta", p->learning_rate) ||
        set_param_d(booster, "min_child_weight", p->min_child_weight) ||
        set_param_d(booster, "subsample", p->subsample) ||
        set_param_d(booster, "colsample_bytree", p->colsample_bytree) ||
        set_param_d(booster, "lambda", p->lambda) || set_param_d(booster, "alpha", p->alpha) ||
        set_param_i(booster, "max_bin", p->max_bin) ||
        set_param(booster, "base_score", "0.5") ||
        (p->task == CAIRN_TASK_MULTICLASS && set_param_i(booster, "num_class", p->n_classes))) {
        st = xgb_fail(err, "setting parameters");
        goto done;
    }
    int best = 0, run = 0;
    double best_metric = INFINITY;
    for (int r = 0; r < p->rounds; r++) {
        if (XGBoosterUpdateOneIter(booster, r, dtrain) != 0) {
            st = xgb_fail(err, "boosting");
            goto done;
        }
        run = r + 1;
        double m = NAN;
        if (dvalid) {
            const char *names[1] = {"valid"};
            const char *res = NULL;
            if (XGBoosterEvalOneIter(booster, r, &dvalid, names, 1, &res) != 0) {
                st = xgb_fail(err, "evaluating");
                goto done;
            }
            if (!parse_eval(res, &m)) {
                st = cairn_error_set(err, CAIRN_EINTERNAL, "xgboost",
                                     "unreadable evaluation \"%s\"", res ? res : "");
                goto done;
            }
            metric[r] = m;
            /* Strict improvement: ties keep the earlier, smaller model. */
            if (m < best_metric) {
                best_metric = m;
                best = r;
            }
        } else {
            best = r;
        }
        if (p->progress)
            p->progress(p->progress_ctx, r + 1, p->rounds, m);
        if (dvalid && p->early_stopping > 0 && r - best >= p->early_stopping)
            break;
    }
    /* Only the layers (rounds) 0..best are exported. */
    if (XGBoosterSlice(booster, 0, best + 1, 1, &sliced) != 0) {
        sliced = NULL;
        st = xgb_fail(err, "slicing");
        goto done;
    }
    bst_ulong jlen = 0;
    const char *jbuf = NULL;
    if (XGBoosterSaveModelToBuffer(sliced, "{\"format\": \"json\"}", &jlen, &jbuf) != 0) {
        st = xgb_fail(err, "saving the model");
        goto done;
    }
    /* The buffer belongs to XGBoost until its next call on the booster. */
    json_copy = cairn_strndup(jbuf, (size_t)jlen);
    if (!json_copy) {
        st = cairn_error_set(err, CAIRN_ENOMEM, "gbdt", "out of memory");
        goto done;
    }
    st = cairn_trees_from_xgboost_json(json_copy, (size_t)jlen, p->task,
                                       (uint32_t)d->n_features, &t, err);
    if (st != CAIRN_OK) {
        /* JSON we cannot read from our own XGBoost is an internal error. */
        if (st == CAIRN_EINPUT)
            st = CAIRN_EINTERNAL;
        if (err)
            err->code = st;
        goto done;
    }
    if (log) {
        cairn_gbdt_log_reset(log);
        log->rounds_run = run;
        log->best_round = best;
        log->metric_name = metric_name;
        if (dvalid) {
            log->valid_metric = metric;
            metric = NULL;
        }
        if (p->keep_xgboost_json) {
            log->xgboost_json = json_copy;
            log->xgboost_json_len = (size_t)jlen;
            json_copy = NULL;
        }
    }
    *out = t;
    t = NULL;
done:
    cairn_trees_free(t);
    cairn_free(metric);
    cairn_free(json_copy);
    cairn_free(types);
    if (sliced)
        XGBoosterFree(sliced);
    if (booster)
        XGBoosterFree(booster);
    if (dtrain)
        XGDMatrixFree(dtrain);
    if (dvalid)
        XGDMatrixFree(dvalid);
    return st;
}
