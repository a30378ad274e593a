/*
 * tree.c -- our own evaluator and serialization of boosted trees
 * (cairn_trees, gbdt.h). This is the serving side: it never calls XGBoost.
 *
 * The split rules copy XGBoost 1.7's CPU predictor so that our scores equal
 * XGBoost's (docs/trees.md): every input is rounded to float32 first, a NaN
 * follows the node's default direction, a numeric split goes left when
 * (float)x < threshold (so +-inf compare as usual), and a categorical split
 * goes right exactly when the truncated code is a member of the node's set;
 * codes outside [0, 2^24) and codes not in the set go left. The margin is
 * summed in float32 in tree order starting from base_margin, as XGBoost's
 * float prediction buffer does; only the link is computed in double.
 *
 * from_bytes parses untrusted artifact bytes: every count is checked
 * against the bytes actually present before anything is allocated, and the
 * structure is then validated in full (cairn_trees_validate), so a model
 * that loads can be evaluated without further checks: every walk ends at a
 * leaf because children always have larger indices in the same tree.
 *
 * Evaluation has three paths with bit-identical results. A compiled model
 * (cairn_trees_compile, done by both constructors) walks `packed`: one
 * 16-byte record per node, leaves pointing at themselves, so every tree
 * can be walked for a fixed number of steps (its depth) with a branch-free
 * step for numeric splits. One row walks WALK_GROUP trees side by side so
 * their independent memory loads overlap instead of waiting on each other;
 * a batch walks each tree for a block of rows at once, for the same reason.
 * When its trees are full enough, compile also builds the complete layout
 * (8-byte splits in level order, children found by arithmetic, leaves
 * apart), which scores single rows: 200 depth-6 trees take 150 KB instead
 * of 370 KB, and a row scores about 7% faster; the vector walk reads its
 * own copy of those splits, 8 trees a record (another 100 KB for those
 * trees, docs/trees.md). Batches stay on packed,
 * which walks each tree only as deep as it is (the complete layout walks
 * every tree to the deepest one's depth, 9% slower in a batch). Every path
 * gives each margin the same float additions in the same (tree) order as
 * the plain walk, so the sums are equal bit for bit. A model assembled by
 * hand without compile walks the node arrays.
 */
#include "learn/gbdt.h"

#include <math.h>
#include <stdatomic.h>
#include <string.h>

#define TREES_MAGIC "CAIRNGB"   /* 8 bytes with the NUL */
#define TREES_VERSION 1u
/* Bytes per node record: flags u8, feature u32, value f32, left u32, right u32. */
#define NODE_BYTES 17u
#define HEADER_BYTES (8u + 4u * 4u + 8u + 4u + 3u * 4u)

void cairn_trees_free(cairn_trees *t)
{
    if (!t)
        return;
    cairn_free(t->tree_first);
    cairn_free(t->tree_class);
    cairn_free(t->flags);
    cairn_free(t->feature);
    cairn_free(t->value);
    cairn_free(t->left);
    cairn_free(t->right);
    cairn_free(t->cat_first);
    cairn_free(t->cats);
    cairn_free(t->packed);
    cairn_free(t->tree_steps);
    cairn_free(t->cnodes);
    cairn_free(t->vnodes);
    cairn_free(t->cleaves);
    cairn_free(t);
}

cairn_status cairn_trees_alloc(uint32_t n_trees, uint32_t n_nodes, uint32_t n_cats,
                               cairn_trees **out, cairn_error *err)
{
    *out = NULL;
    cairn_trees *t = cairn_calloc(1, sizeof *t);
    if (!t)
        return cairn_error_set(err, CAIRN_ENOMEM, "trees", "out of memory");
    t->n_trees = n_trees;
    t->n_nodes = n_nodes;
    t->n_cats = n_cats;
    /* +1 entries cannot overflow size_t: the counts are 32-bit. Every array
     * gets at least one element so a zero count still yields a pointer. */
    t->tree_first = cairn_calloc((size_t)n_trees + 1, sizeof *t->tree_first);
    t->tree_class = cairn_calloc((size_t)n_trees + 1, sizeof *t->tree_class);
    t->flags = cairn_calloc((size_t)n_nodes + 1, sizeof *t->flags);
    t->feature = cairn_calloc((size_t)n_nodes + 1, sizeof *t->feature);
    t->value = cairn_calloc((size_t)n_nodes + 1, sizeof *t->value);
    t->left = cairn_calloc((size_t)n_nodes + 1, sizeof *t->left);
    t->right = cairn_calloc((size_t)n_nodes + 1, sizeof *t->right);
    t->cat_first = cairn_calloc((size_t)n_nodes + 1, sizeof *t->cat_first);
    t->cats = cairn_calloc((size_t)n_cats + 1, sizeof *t->cats);
    if (!t->tree_first || !t->tree_class || !t->flags || !t->feature || !t->value || !t->left ||
        !t->right || !t->cat_first || !t->cats) {
        cairn_trees_free(t);
        return cairn_error_set(err, CAIRN_ENOMEM, "trees", "out of memory");
    }
    *out = t;
    return CAIRN_OK;
}

size_t cairn_trees_n_scores(const cairn_trees *t)
{
    return t->task == CAIRN_TASK_MULTICLASS ? t->n_outputs : 1;
}

cairn_status cairn_trees_validate(const cairn_trees *t, cairn_error *err)
{
    if ((unsigned)t->task > (unsigned)CAIRN_TASK_MULTICLASS)
        return cairn_error_set(err, CAIRN_ECORRUPT, "trees", "unknown task %u", (unsigned)t->task);
    if (t->n_features < 1 || t->n_features > CAIRN_TREES_MAX_FEATURES)
        return cairn_error_set(err, CAIRN_ECORRUPT, "trees", "bad feature count %u",
                               t->n_features);
    if (t->task == CAIRN_TASK_MULTICLASS
            ? (t->n_outputs < 2 || t->n_outputs > CAIRN_TREES_MAX_CLASSES)
            : t->n_outputs != 1)
        return cairn_error_set(err, CAIRN_ECORRUPT, "trees", "bad output count %u",
                               t->n_outputs);
    if (!isfinite(t->base_score) || !isfinite(t->base_margin))
        return cairn_error_set(err, CAIRN_ECORRUPT, "trees", "base score is not finite");
    if (t->tree_first[0] != 0 || t->tree_first[t->n_trees] != t->n_nodes)
        return cairn_error_set(err, CAIRN_ECORRUPT, "trees", "tree offsets do not cover the nodes");
    if (t->cat_first[0] != 0 || t->cat_first[t->n_nodes] != t->n_cats)
        return cairn_error_set(err, CAIRN_ECORRUPT, "trees",
                               "category offsets do not cover the categories");
    for (uint32_t k = 0; k < t->n_trees; k++) {
        uint32_t a = t->tree_first[k], b = t->tree_first[k + 1];
        if (b <= a || b > t->n_nodes)
            return cairn_error_set(err, CAIRN_ECORRUPT, "trees", "tree %u has bad offsets", k);
        if (t->tree_class[k] >= t->n_outputs)
            return cairn_error_set(err, CAIRN_ECORRUPT, "trees", "tree %u has bad class %u", k,
                                   t->tree_class[k]);
        for (uint32_t i = a; i < b; i++) {
            uint8_t fl = t->flags[i];
            uint32_t c0 = t->cat_first[i], c1 = t->cat_first[i + 1];
            if (c1 < c0 || c1 > t->n_cats)
                return cairn_error_set(err, CAIRN_ECORRUPT, "trees",
                                       "node %u has bad category offsets", i);
            if (fl & ~(CAIRN_TREE_LEAF | CAIRN_TREE_DEFAULT_LEFT | CAIRN_TREE_CATEGORICAL))
                return cairn_error_set(err, CAIRN_ECORRUPT, "trees", "node %u has bad flags", i);
            if (!isfinite(t->value[i]))
                return cairn_error_set(err, CAIRN_ECORRUPT, "trees", "node %u value not finite",
                                       i);
            if (fl & CAIRN_TREE_LEAF) {
                if (fl != CAIRN_TREE_LEAF || t->left[i] || t->right[i] || t->feature[i] ||
                    c1 != c0)
                    return cairn_error_set(err, CAIRN_ECORRUPT, "trees",
                                           "leaf %u has split fields", i);
                continue;
            }
            /* Children after the parent and inside the tree: no cycles, and
             * every walk from the root ends at a leaf of the same tree. */
            if (t->left[i] <= i || t->left[i] >= b || t->right[i] <= i || t->right[i] >= b ||
                t->left[i] == t->right[i])
                return cairn_error_set(err, CAIRN_ECORRUPT, "trees", "node %u has bad children",
                                       i);
            if (t->feature[i] >= t->n_features)
                return cairn_error_set(err, CAIRN_ECORRUPT, "trees",
                                       "node %u splits on feature %u of %u", i, t->feature[i],
                                       t->n_features);
            if (fl & CAIRN_TREE_CATEGORICAL) {
                for (uint32_t c = c0; c < c1; c++) {
                    if (t->cats[c] >= CAIRN_TREE_MAX_CAT || (c > c0 && t->cats[c] <= t->cats[c - 1]))
                        return cairn_error_set(err, CAIRN_ECORRUPT, "trees",
                                               "node %u has a bad category set", i);
                }
            } else if (c1 != c0) {
                return cairn_error_set(err, CAIRN_ECORRUPT, "trees",
                                       "numeric node %u has categories", i);
            }
        }
    }
    return CAIRN_OK;
}

/* ---- evaluation ------------------------------------------------------------ */

/* Whether code c (already checked to be in [0, 2^24)) is in the node's set. */
static bool cat_member(const cairn_trees *t, uint32_t node, uint32_t c)
{
    uint32_t lo = t->cat_first[node], hi = t->cat_first[node + 1];
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (t->cats[mid] == c)
            return true;
        if (t->cats[mid] < c)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

/* The categorical decision for a present (non-NaN) value fv at node i. */
static bool cat_go_left(const cairn_trees *t, uint32_t node, float fv)
{
    /* XGBoost's common::Decision: invalid codes (negative, >= 2^24,
     * infinite) go left; a valid code is truncated toward zero and goes
     * right only when the split's set holds it. */
    if (!(fv >= 0.0f) || fv >= (float)CAIRN_TREE_MAX_CAT)
        return true;
    return !cat_member(t, node, (uint32_t)fv);
}

/* For the fast walks: the decision at categorical node i, where a NaN keeps
 * go_left (its default direction, already worked out). Kept out of line so
 * the walks branch once, on the node's flag, and never on NaN. */
__attribute__((noinline)) static unsigned cat_step_left(const cairn_trees *t, uint32_t node,
                                                        float fv, unsigned go_left)
{
    if (fv != fv)
        return go_left;
    return cat_go_left(t, node, fv);
}

/* ---- the plain walk over the node arrays (models without compile) ---- */

static float tree_leaf(const cairn_trees *t, uint32_t tree, const double *x)
{
    uint32_t i = t->tree_first[tree];
    while (!(t->flags[i] & CAIRN_TREE_LEAF)) {
        /* XGBoost's DMatrix holds float32, so every comparison is on the
         * rounded value. */
        float fv = (float)x[t->feature[i]];
        bool go_left;
        if (isnan(fv))
            go_left = (t->flags[i] & CAIRN_TREE_DEFAULT_LEFT) != 0;
        else if (t->flags[i] & CAIRN_TREE_CATEGORICAL)
            go_left = cat_go_left(t, i, fv);
        else
            go_left = fv < t->value[i];
        i = go_left ? t->left[i] : t->right[i];
    }
    return t->value[i];
}

/* ---- the packed walk --------------------------------------------------- */

#define NODE_LEAF (CAIRN_TREE_LEAF << CAIRN_TREE_NODE_FLAG_SHIFT)
#define NODE_CAT (CAIRN_TREE_CATEGORICAL << CAIRN_TREE_NODE_FLAG_SHIFT)
#define NODE_DL_SHIFT (CAIRN_TREE_NODE_FLAG_SHIFT + 1u) /* CAIRN_TREE_DEFAULT_LEFT == 0x2 */

/* Trees walked side by side for one row. */
#define WALK_GROUP 16
/* Rows per block in a batch, and the float margins a block may hold (the
 * block shrinks for many classes: 16 KiB of stack at most). */
#define BATCH_ROWS 64
#define BATCH_MARGINS 4096
/* Float copies of a block's inputs, when they fit (else rounded per visit). */
#define BATCH_INPUTS 4096

/* The complete walk reads a row copied to float on the stack: models with more inputs than
 * this never use it, so compile does not build it for them. */
#define ROW_INPUTS 256
/* Categorical sets with codes below this are bit masks in the complete layout. */
#define SMALL_SET_CODES 32u
#define CNODE_SMALL_SHIFT 28u

/* Fills slot (at level `level`) of one tree's complete layout (splits cn, leaves lv) from
 * node i of the node arrays, recursing at most complete_depth levels. */
static void complete_fill(const cairn_trees *t, cairn_tree_cnode *cn, float *lv, uint32_t slot,
                          uint32_t level, uint32_t i)
{
    uint32_t D = t->complete_depth, n_split = (1u << D) - 1u;
    if (level == D) {
        lv[slot - n_split] = t->value[i];   /* a leaf: validated trees end in one */
        return;
    }
    uint32_t fl = t->flags[i];
    if (fl & CAIRN_TREE_LEAF) {
        /* Padding: any decision leads to a copy of this leaf. */
        cn[slot].feature_flags = 0;
        cn[slot].u.value = 0.0f;
        complete_fill(t, cn, lv, 2 * slot + 1, level + 1, i);
        complete_fill(t, cn, lv, 2 * slot + 2, level + 1, i);
        return;
    }
    cn[slot].feature_flags = t->feature[i] | fl << CAIRN_TREE_NODE_FLAG_SHIFT;
    if (fl & CAIRN_TREE_CATEGORICAL) {
        /* Codes strictly increase within a set: the last is the largest. An empty set
         * is the empty mask (every code goes left). */
        uint32_t first = t->cat_first[i], end = t->cat_first[i + 1];
        if (end == first || t->cats[end - 1] < SMALL_SET_CODES) {
            uint32_t mask = 0;
            for (uint32_t c = first; c < end; c++)
                mask |= 1u << t->cats[c];
            cn[slot].feature_flags = (cn[slot].feature_flags & ~NODE_CAT) | CAIRN_TREE_CNODE_SMALL_SET;
            cn[slot].u.mask = mask;
        } else {
            cn[slot].u.node = i;
        }
    } else {
        cn[slot].u.value = t->value[i];
    }
    complete_fill(t, cn, lv, 2 * slot + 1, level + 1, t->left[i]);
    complete_fill(t, cn, lv, 2 * slot + 2, level + 1, t->right[i]);
}

/* Builds the complete layout at depth D into t (replacing an earlier one). */
static cairn_status complete_build(cairn_trees *t, uint32_t D, cairn_error *err)
{
    size_t n_split = ((size_t)1 << D) - 1, n_leaf = (size_t)1 << D;
    /* +1: a pointer even for zero counts. */
    cairn_tree_cnode *cn = cairn_malloc(((size_t)t->n_trees * n_split + 1) * sizeof *cn);
    float *lv = cairn_malloc(((size_t)t->n_trees * n_leaf + 1) * sizeof *lv);
    if (!cn || !lv) {
        cairn_free(cn);
        cairn_free(lv);
        return cairn_error_set(err, CAIRN_ENOMEM, "trees", "out of memory");
    }
    size_t n_groups = t->n_trees / 8;
    uint32_t *vn = cairn_malloc((n_groups * n_split * 16 + 1) * sizeof *vn);
    if (!vn) {
        cairn_free(cn);
        cairn_free(lv);
        return cairn_error_set(err, CAIRN_ENOMEM, "trees", "out of memory");
    }
    cairn_free(t->cnodes);
    cairn_free(t->vnodes);
    cairn_free(t->cleaves);
    t->complete_depth = D;
    t->cnodes = cn;
    t->vnodes = vn;
    t->cleaves = lv;
    for (uint32_t k = 0; k < t->n_trees; k++)
        complete_fill(t, cn + k * n_split, lv + k * n_leaf, 0, 0, t->tree_first[k]);
    /* The same splits 8 trees a record (see cairn_trees.vnodes). */
    size_t n_top = ((size_t)2 << CAIRN_TREES_VNODE_TOP) - 1;
    for (size_t g = 0; g < n_groups; g++)
        for (size_t i = 0; i < n_split; i++) {
            uint32_t *rec = vn + (g * n_split + i) * 16;
            for (size_t j = 0; j < 8; j++) {
                const cairn_tree_cnode *c = cn + (g * 8 + j) * n_split + i;
                uint32_t u;
                memcpy(&u, &c->u, sizeof u);
                if (i < n_top) {
                    rec[j] = c->feature_flags;
                    rec[8 + j] = u;
                } else {
                    rec[2 * j] = c->feature_flags;
                    rec[2 * j + 1] = u;
                }
            }
        }
    t->complete_small_sets = t->complete_cat_splits = 0;
    for (size_t i = 0; i < (size_t)t->n_trees * n_split; i++) {
        t->complete_small_sets += (cn[i].feature_flags & CAIRN_TREE_CNODE_SMALL_SET) != 0;
        t->complete_cat_splits +=
            (cn[i].feature_flags & (CAIRN_TREE_CNODE_SMALL_SET | NODE_CAT)) != 0;
    }
    return CAIRN_OK;
}

cairn_status cairn_trees_compile(cairn_trees *t, cairn_error *err)
{
    return cairn_trees_compile_as(t, CAIRN_TREES_LAYOUT_AUTO, err);
}

cairn_status cairn_trees_compile_as(cairn_trees *t, cairn_trees_layout layout, cairn_error *err)
{
    cairn_status st = CAIRN_OK;
    /* +1: a pointer even for zero counts, as in cairn_trees_alloc. */
    cairn_tree_node *p = cairn_malloc(((size_t)t->n_nodes + 1) * sizeof *p);
    uint32_t *steps = cairn_malloc(((size_t)t->n_trees + 1) * sizeof *steps);
    uint32_t *depth = cairn_malloc(((size_t)t->n_nodes + 1) * sizeof *depth);
    if (!p || !steps || !depth) {
        st = cairn_error_set(err, CAIRN_ENOMEM, "trees", "out of memory");
        goto done;
    }
    /* Depths from the last node back: children have larger indices, so
     * theirs are known when the parent is reached. The maximum over both
     * children also covers nodes reached along several paths. */
    for (uint32_t i = t->n_nodes; i-- > 0;) {
        uint32_t fl = t->flags[i];
        p[i].feature_flags = t->feature[i] | fl << CAIRN_TREE_NODE_FLAG_SHIFT;
        p[i].value = t->value[i];
        if (fl & CAIRN_TREE_LEAF) {
            p[i].child[0] = p[i].child[1] = i;
            depth[i] = 0;
        } else {
            uint32_t l = t->left[i], r = t->right[i];
            p[i].child[0] = l;
            p[i].child[1] = r;
            depth[i] = 1 + (depth[l] > depth[r] ? depth[l] : depth[r]);
        }
    }
    uint32_t D = 0;
    for (uint32_t k = 0; k < t->n_trees; k++) {
        steps[k] = depth[t->tree_first[k]];
        if (steps[k] > D)
            D = steps[k];
    }
    /* The complete layout: 12 bytes a leaf slot (a split and a value), against 16 a node. */
    bool complete = false;
    if (D <= CAIRN_TREES_COMPLETE_MAX_DEPTH) {
        if (layout == CAIRN_TREES_LAYOUT_COMPLETE)
            complete = true;
        else if (layout == CAIRN_TREES_LAYOUT_AUTO)
            complete = t->n_features <= ROW_INPUTS &&
                       (double)t->n_trees * (double)(12u << D) <= 16.0 * (double)t->n_nodes;
    } else if (layout == CAIRN_TREES_LAYOUT_COMPLETE) {
        st = cairn_error_set(err, CAIRN_EINVAL, "trees",
                             "trees %u deep are too deep for the complete layout (at most %u)", D,
                             CAIRN_TREES_COMPLETE_MAX_DEPTH);
        goto done;
    }
    if (complete) {
        if ((st = complete_build(t, D, err)) != CAIRN_OK)
            goto done;
    } else {
        cairn_free(t->cnodes);
        cairn_free(t->vnodes);
        cairn_free(t->cleaves);
        t->cnodes = NULL;
        t->vnodes = NULL;
        t->cleaves = NULL;
        t->complete_depth = 0;
        t->complete_small_sets = 0;
        t->complete_cat_splits = 0;
    }
    cairn_free(t->packed);
    cairn_free(t->tree_steps);
    t->packed = p;
    t->tree_steps = steps;
    p = NULL;
    steps = NULL;
done:
    cairn_free(p);
    cairn_free(steps);
    cairn_free(depth);
    return st;
}

/*
 * One step from node i for row x: the child the row goes to, or i itself
 * at a leaf. A numeric split is decided without branches: (float)x < value
 * is false for NaN, and NaN then goes left exactly when the node's
 * default-left bit is set. Categorical splits (rare) take the slow path.
 */
static inline uint32_t packed_next(const cairn_trees *t, const cairn_tree_node *nd, uint32_t i,
                                   float fv)
{
    uint32_t w = nd->feature_flags;
    unsigned nan = isnan(fv) != 0;
    unsigned go_left = (unsigned)(fv < nd->value) | (nan & (w >> NODE_DL_SHIFT));
    if (__builtin_expect((w & NODE_CAT) != 0, 0))
        go_left = cat_step_left(t, i, fv, go_left);
    return nd->child[go_left ^ 1u];
}

/* The step for a row of doubles (rounded here) and for one already in float. */
static inline uint32_t packed_step(const cairn_trees *t, const cairn_tree_node *p, uint32_t i,
                                   const double *x)
{
    const cairn_tree_node *nd = &p[i];
    return packed_next(t, nd, i, (float)x[nd->feature_flags & CAIRN_TREE_NODE_FEATURE_MASK]);
}

static inline uint32_t packed_step_f(const cairn_trees *t, const cairn_tree_node *p, uint32_t i,
                                     const float *x)
{
    const cairn_tree_node *nd = &p[i];
    return packed_next(t, nd, i, x[nd->feature_flags & CAIRN_TREE_NODE_FEATURE_MASK]);
}

/* ---- the complete walk ------------------------------------------------- */

/*
 * A row as the complete walk reads it: each input rounded once to float,
 * and beside it the input as a one-bit set for small categorical splits
 * (bit c for a valid code c below 32, where XGBoost truncates a valid code
 * toward zero; no bit for NaN, negative or larger values, which such a
 * split sends left unless NaN takes the default direction).
 */
typedef struct complete_row {
    float x[ROW_INPUTS];
    uint32_t bit[ROW_INPUTS];
} complete_row;

/* Fills r from x; returns whether any input is NaN. */
static bool complete_row_fill(complete_row *r, const double *x, uint32_t n)
{
    unsigned nan = 0;
    for (uint32_t f = 0; f < n; f++) {
        float fv = (float)x[f];
        r->x[f] = fv;
        r->bit[f] = fv >= 0.0f && fv < (float)SMALL_SET_CODES ? 1u << (uint32_t)fv : 0u;
        nan |= fv != fv;
    }
    return nan != 0;
}

/*
 * Whether row r goes right at split nd of the complete layout, by the rules
 * of packed_next. Numeric and small-set splits are both computed and one is
 * selected by the node's bit, without a branch: a numeric split goes right
 * when x >= threshold (false for NaN), a small set when the input's bit is in
 * the mask (never for NaN or an invalid code). With may_nan, a NaN then goes
 * right exactly when the default-left flag is clear; rows without NaN (the
 * caller checks once per row) skip that. Other categorical splits take the
 * slow path. Padding slots (flags 0) decide anything: both children lead to
 * the same leaf values.
 */
static inline __attribute__((always_inline)) uint32_t
complete_right(const cairn_trees *t, const cairn_tree_cnode *nd, const complete_row *r,
               bool may_nan)
{
    uint32_t w = nd->feature_flags, f = w & CAIRN_TREE_CNODE_FEATURE_MASK;
    float fv = r->x[f];
    uint32_t num = fv >= nd->u.value;
    uint32_t set = (r->bit[f] & nd->u.mask) != 0;
    uint32_t small = 0u - ((w >> CNODE_SMALL_SHIFT) & 1u);
    uint32_t right = num ^ ((num ^ set) & small);
    if (may_nan) {
        uint32_t nan = fv != fv;
        right |= nan & ~(w >> NODE_DL_SHIFT) & 1u;
    }
    if (__builtin_expect((w & NODE_CAT) != 0, 0))
        right = cat_step_left(t, nd->u.node, fv, right ^ 1u) ^ 1u;
    return right;
}

/* Adds v[j], the leaf of tree k+j, to its output, j = 0..n-1 in tree order. With one
 * output the sum stays in a register: the same additions in the same order, without a
 * store and reload between them. */
static inline __attribute__((always_inline)) void
add_in_order(const cairn_trees *t, uint32_t k, const float *v, int n, float *m)
{
    if (t->n_outputs == 1) {
        float a = m[0];
        for (int j = 0; j < n; j++)
            a += v[j];
        m[0] = a;
        return;
    }
    for (int j = 0; j < n; j++)
        m[t->tree_class[k + j]] += v[j];
}

/* add_in_order for the complete layout: tree k+j ended at slot idx[j]. */
static inline __attribute__((always_inline)) void
add_leaves(const cairn_trees *t, const float *lv, size_t nl, size_t ns, uint32_t k,
           const uint32_t *idx, int n, float *m)
{
    float v[32];
    for (int j = 0; j < n; j++)
        v[j] = lv[(size_t)(k + j) * nl + idx[j] - ns];
    add_in_order(t, k, v, n, m);
}

/* margins() over the complete layout from tree k on, for a row without NaN or with. */
static inline __attribute__((always_inline)) void
complete_walk(const cairn_trees *t, const complete_row *r, float *m, uint32_t k, bool may_nan)
{
    uint32_t D = t->complete_depth;
    size_t ns = ((size_t)1 << D) - 1, nl = (size_t)1 << D;
    const cairn_tree_cnode *cn = t->cnodes;
    const float *lv = t->cleaves;
    for (; k + WALK_GROUP <= t->n_trees; k += WALK_GROUP) {
        const cairn_tree_cnode *base = cn + (size_t)k * ns;
        uint32_t idx[WALK_GROUP] = {0};
        for (uint32_t s = 0; s < D; s++)
            for (int j = 0; j < WALK_GROUP; j++)
                idx[j] = 2 * idx[j] + 1 + complete_right(t, base + (size_t)j * ns + idx[j], r, may_nan);
        add_leaves(t, lv, nl, ns, k, idx, WALK_GROUP, m);
    }
    for (; k < t->n_trees; k++) {
        const cairn_tree_cnode *tree = cn + (size_t)k * ns;
        uint32_t i = 0;
        for (uint32_t s = 0; s < D; s++)
            i = 2 * i + 1 + complete_right(t, tree + i, r, may_nan);
        m[t->tree_class[k]] += lv[(size_t)k * nl + i - ns];
    }
}

/* The two forms of complete_walk, out of line: the vector walks share them for their
 * last few trees. */
static void complete_walk_nan(const cairn_trees *t, const complete_row *r, float *m, uint32_t k)
{
    complete_walk(t, r, m, k, true);
}

static void complete_walk_finite(const cairn_trees *t, const complete_row *r, float *m,
                                 uint32_t k)
{
    complete_walk(t, r, m, k, false);
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_AVX2_WALK 1

/* What an instance of the vector walk handles; each combination is compiled on its own,
 * so that the common case (numeric splits, no NaN, few inputs) carries no work for the
 * others. */
enum {
    WALK_NAN = 1,       /* the row has a NaN: default directions apply */
    WALK_SMALL = 2,     /* the model has small-set categorical splits */
    WALK_BIG = 4,       /* ... and other categorical splits */
    WALK_X32 = 8,       /* at most 32 inputs: read from registers, not gathered */
    WALK_MODES = 16
};

/* The row's inputs for features f (8 lanes): with WALK_X32 from the four vectors xv holding
 * inputs 0..31 (a permute picks within each 8, blends on bits 3 and 4 of f pick the 8),
 * else gathered. */
__attribute__((target("avx2"))) static inline __attribute__((always_inline)) __m256
avx2_input(const complete_row *r, const __m256 *xv, unsigned mode, __m256i f)
{
    if (!(mode & WALK_X32))
        return _mm256_i32gather_ps(r->x, f, 4);
    __m256 bit3 = _mm256_castsi256_ps(_mm256_slli_epi32(f, 28));
    __m256 lo = _mm256_blendv_ps(_mm256_permutevar8x32_ps(xv[0], f),
                                 _mm256_permutevar8x32_ps(xv[1], f), bit3);
    __m256 hi = _mm256_blendv_ps(_mm256_permutevar8x32_ps(xv[2], f),
                                 _mm256_permutevar8x32_ps(xv[3], f), bit3);
    return _mm256_blendv_ps(lo, hi, _mm256_castsi256_ps(_mm256_slli_epi32(f, 27)));
}

/*
 * One level s of the complete walk for 8 trees at once (AVX2), the group's
 * records at grp (cairn_trees.vnodes): idx holds each tree's slot, the
 * result is 2i+1 or 2i+2 per lane, with the decisions of complete_right.
 * In the top levels every record of the level is loaded and blends pick
 * each lane's by the bits of its path; below, gathers read each lane's
 * split (both words at once). The input's one-bit set for small-set splits
 * is computed from its float as complete_row_fill computes it. A big-set
 * categorical split (sign bit of its word, rare) is decided lane by lane
 * with cat_go_left.
 */
__attribute__((target("avx2"))) static inline __attribute__((always_inline)) __m256i
avx2_level(const cairn_trees *t, const uint32_t *grp, uint32_t s, __m256i idx,
           const complete_row *r, const __m256 *xv, unsigned mode)
{
    __m256i w, u;
    if (s <= CAIRN_TREES_VNODE_TOP) {
        /* The path's bits are those of idx - (2^s - 1), the last decision lowest. */
        __m256 ws[1u << CAIRN_TREES_VNODE_TOP], us[1u << CAIRN_TREES_VNODE_TOP];
        uint32_t n = 1u << s, first = n - 1;
        for (uint32_t q = 0; q < n; q++) {
            ws[q] = _mm256_loadu_ps((const float *)(const void *)(grp + (first + q) * 16));
            us[q] = _mm256_loadu_ps((const float *)(const void *)(grp + (first + q) * 16 + 8));
        }
        __m256i path = _mm256_sub_epi32(idx, _mm256_set1_epi32((int)first));
        for (uint32_t bit = 0; bit < s; bit++) {
            __m256 sel = _mm256_castsi256_ps(_mm256_slli_epi32(path, 31 - (int)bit));
            for (uint32_t q = 0; q < n >> (bit + 1); q++) {
                ws[q] = _mm256_blendv_ps(ws[2 * q], ws[2 * q + 1], sel);
                us[q] = _mm256_blendv_ps(us[2 * q], us[2 * q + 1], sel);
            }
        }
        w = _mm256_castps_si256(ws[0]);
        u = _mm256_castps_si256(us[0]);
    } else {
        /* Two 4-lane gathers of 8-byte splits: fewer elements than two 8-lane gathers
         * of a word each. Lane j's split is word pair 8i + j of the group. */
        __m256i slot = _mm256_add_epi32(_mm256_slli_epi32(idx, 3),
                                        _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        const long long *base = (const long long *)(const void *)grp;
        __m256i lo = _mm256_i64gather_epi64(
            base, _mm256_cvtepu32_epi64(_mm256_castsi256_si128(slot)), 8);
        __m256i hi = _mm256_i64gather_epi64(
            base, _mm256_cvtepu32_epi64(_mm256_extracti128_si256(slot, 1)), 8);
        w = _mm256_permute4x64_epi64(
            _mm256_castps_si256(_mm256_shuffle_ps(_mm256_castsi256_ps(lo), _mm256_castsi256_ps(hi),
                                                  _MM_SHUFFLE(2, 0, 2, 0))),
            _MM_SHUFFLE(3, 1, 2, 0));
        u = _mm256_permute4x64_epi64(
            _mm256_castps_si256(_mm256_shuffle_ps(_mm256_castsi256_ps(lo), _mm256_castsi256_ps(hi),
                                                  _MM_SHUFFLE(3, 1, 3, 1))),
            _MM_SHUFFLE(3, 1, 2, 0));
    }
    __m256i f = _mm256_and_si256(w, _mm256_set1_epi32((int)CAIRN_TREE_CNODE_FEATURE_MASK));
    __m256 x = avx2_input(r, xv, mode, f);
    /* All-ones where the row goes left: a numeric split unless x >= threshold (so NaN
     * too, until its default direction below). */
    __m256i left = _mm256_castps_si256(_mm256_cmp_ps(x, _mm256_castsi256_ps(u), _CMP_NGE_UQ));
    if (mode & WALK_SMALL) {
        /* The input's one-bit set, as complete_row_fill makes it, from x itself: the
         * shift leaves 0 for codes of 32 and more, and for NaN and codes past int
         * (the conversion gives INT_MIN); the compare clears codes in (-1, 0). */
        __m256i bit = _mm256_and_si256(
            _mm256_sllv_epi32(_mm256_set1_epi32(1), _mm256_cvttps_epi32(x)),
            _mm256_castps_si256(_mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GE_OQ)));
        __m256i out = _mm256_cmpeq_epi32(_mm256_and_si256(bit, u), _mm256_setzero_si256());
        /* Small-set splits (the flag shifted to the sign bit) take that instead. */
        left = _mm256_castps_si256(_mm256_blendv_ps(
            _mm256_castsi256_ps(left), _mm256_castsi256_ps(out),
            _mm256_castsi256_ps(_mm256_slli_epi32(w, 31 - (int)CNODE_SMALL_SHIFT))));
    }
    if (mode & WALK_NAN) {
        /* A NaN goes left exactly when the default-left flag is set. */
        __m256 nan = _mm256_cmp_ps(x, x, _CMP_UNORD_Q);
        __m256 dl = _mm256_castsi256_ps(_mm256_slli_epi32(w, 31 - (int)NODE_DL_SHIFT));
        left = _mm256_srai_epi32(
            _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(left), dl, nan)), 31);
    }
    int big = mode & WALK_BIG ? _mm256_movemask_ps(_mm256_castsi256_ps(w)) : 0; /* NODE_CAT: bit 31 */
    if (__builtin_expect(big != 0, 0)) {
        uint32_t ws[8], us[8];
        int32_t ls[8];
        float xs[8];
        _mm256_storeu_si256((__m256i *)ws, w);
        _mm256_storeu_si256((__m256i *)us, u);
        _mm256_storeu_si256((__m256i *)ls, left);
        _mm256_storeu_ps(xs, x);
        for (int j = 0; j < 8; j++)
            if ((big >> j & 1) && !(xs[j] != xs[j]))
                ls[j] = cat_go_left(t, us[j], xs[j]) ? -1 : 0;
        left = _mm256_loadu_si256((const __m256i *)ls);
    }
    /* 2i + 2 - (left ? 1 : 0), left being -1 or 0. */
    return _mm256_add_epi32(_mm256_add_epi32(_mm256_add_epi32(idx, idx), _mm256_set1_epi32(2)),
                            left);
}

/* Trees k .. k+8g-1 (g groups of 8, g <= 4) down together: each level steps every
 * group in turn, so that one group's loads overlap the others' work. */
__attribute__((target("avx2"))) static inline __attribute__((always_inline)) void
avx2_groups(const cairn_trees *t, const complete_row *r, float *m, uint32_t k, int g,
            const __m256 *xv, unsigned mode)
{
    uint32_t D = t->complete_depth;
    size_t ns = ((size_t)1 << D) - 1, nl = (size_t)1 << D;
    const uint32_t *grp[4];
    __m256i i[4];
    for (int j = 0; j < g; j++) {
        grp[j] = t->vnodes + ((size_t)k / 8 + (size_t)j) * ns * 16;
        i[j] = _mm256_setzero_si256();
    }
    /* The top levels, each with its level a constant (their loads and blends unroll),
     * then the gathered ones. */
    _Static_assert(CAIRN_TREES_VNODE_TOP == 2, "the top levels below are 0, 1 and 2");
    for (uint32_t s = 0; s < 3 && s < D; s++)
#pragma GCC unroll 4
        for (int j = 0; j < g; j++)
            i[j] = s == 0   ? avx2_level(t, grp[j], 0, i[j], r, xv, mode)
                   : s == 1 ? avx2_level(t, grp[j], 1, i[j], r, xv, mode)
                            : avx2_level(t, grp[j], 2, i[j], r, xv, mode);
    for (uint32_t s = CAIRN_TREES_VNODE_TOP + 1; s < D; s++)
#pragma GCC unroll 4
        for (int j = 0; j < g; j++)
            i[j] = avx2_level(t, grp[j], CAIRN_TREES_VNODE_TOP + 1, i[j], r, xv, mode);
    uint32_t idx[32];
    for (int j = 0; j < g; j++)
        _mm256_storeu_si256((__m256i *)(idx + 8 * j), i[j]);
    add_leaves(t, t->cleaves, nl, ns, k, idx, 8 * g, m);
}

/* complete_walk with 32 trees a group, then 16 and 8; the last few as complete_walk. */
__attribute__((target("avx2"))) static inline __attribute__((always_inline)) void
avx2_walk(const cairn_trees *t, const complete_row *r, float *m, unsigned mode)
{
    __m256 xv[4];
    if (mode & WALK_X32)
        for (int v = 0; v < 4; v++)
            xv[v] = _mm256_loadu_ps(r->x + 8 * v);
    uint32_t k = 0;
    for (; k + 32 <= t->n_trees; k += 32)
        avx2_groups(t, r, m, k, 4, xv, mode);
    if (k + 16 <= t->n_trees) {
        avx2_groups(t, r, m, k, 2, xv, mode);
        k += 16;
    }
    if (k + 8 <= t->n_trees) {
        avx2_groups(t, r, m, k, 1, xv, mode);
        k += 8;
    }
    if (k < t->n_trees) {
        if (mode & WALK_NAN)
            complete_walk_nan(t, r, m, k);
        else
            complete_walk_finite(t, r, m, k);
    }
}

#define AVX2_WALK(M)                                                                          \
    __attribute__((target("avx2"))) static void avx2_walk_##M(const cairn_trees *t,           \
                                                              const complete_row *r, float *m) \
    {                                                                                         \
        avx2_walk(t, r, m, M);                                                                \
    }
/* The instances in use: categorical splits other than small sets are rare enough that
 * their walks gather the inputs and check for small sets too. */
AVX2_WALK(0)
AVX2_WALK(1)
AVX2_WALK(2)
AVX2_WALK(3)
AVX2_WALK(6)
AVX2_WALK(7)
AVX2_WALK(8)
AVX2_WALK(9)
AVX2_WALK(10)
AVX2_WALK(11)
#undef AVX2_WALK

static void (*const AVX2_WALKS[WALK_MODES])(const cairn_trees *, const complete_row *, float *) = {
    [0] = avx2_walk_0, [1] = avx2_walk_1, [2] = avx2_walk_2,   [3] = avx2_walk_3,
    [6] = avx2_walk_6, [7] = avx2_walk_7, [8] = avx2_walk_8,   [9] = avx2_walk_9,
    [10] = avx2_walk_10, [11] = avx2_walk_11,
};
#endif

/* Whether the complete walk may use AVX2 (where the CPU has it); tests turn it off. */
static _Atomic int simd_allowed = 1;

void cairn_trees_allow_simd(bool allow)
{
    atomic_store_explicit(&simd_allowed, allow ? 1 : 0, memory_order_relaxed);
}

bool cairn_trees_simd_active(void)
{
#ifdef HAVE_AVX2_WALK
    return atomic_load_explicit(&simd_allowed, memory_order_relaxed) &&
           __builtin_cpu_supports("avx2");
#else
    return false;
#endif
}

static void complete_margins(const cairn_trees *t, const double *x, float *m)
{
    complete_row r;
    /* The AVX2 walk computes the one-bit sets itself; its scalar tail reads r.bit. */
    bool may_nan = complete_row_fill(&r, x, t->n_features);
#ifdef HAVE_AVX2_WALK
    if (cairn_trees_simd_active()) {
        unsigned mode = (may_nan ? WALK_NAN : 0u) | (t->complete_small_sets ? WALK_SMALL : 0u);
        if (t->complete_cat_splits > t->complete_small_sets) {
            mode |= WALK_BIG | WALK_SMALL;
        } else if (t->n_features <= 32) {
            /* The unused inputs are read into the vectors, never selected. */
            for (uint32_t f = t->n_features; f < 32; f++)
                r.x[f] = 0.0f;
            mode |= WALK_X32;
        }
        AVX2_WALKS[mode](t, &r, m);
        return;
    }
#endif
    if (may_nan)
        complete_walk_nan(t, &r, m, 0);
    else
        complete_walk_finite(t, &r, m, 0);
}

/* Margins in float32, tree order, from base_margin (m has n_outputs slots). */
static void margins(const cairn_trees *t, const double *x, float *m)
{
    for (uint32_t k = 0; k < t->n_outputs; k++)
        m[k] = t->base_margin;
    if (t->cleaves && t->n_features <= ROW_INPUTS) {
        complete_margins(t, x, m);
        return;
    }
    const cairn_tree_node *p = t->packed;
    if (!p) {
        for (uint32_t k = 0; k < t->n_trees; k++)
            m[t->tree_class[k]] += tree_leaf(t, k, x);
        return;
    }
    uint32_t k = 0;
    for (; k + WALK_GROUP <= t->n_trees; k += WALK_GROUP) {
        uint32_t idx[WALK_GROUP], steps = 0;
        for (int j = 0; j < WALK_GROUP; j++) {
            idx[j] = t->tree_first[k + j];
            if (t->tree_steps[k + j] > steps)
                steps = t->tree_steps[k + j];
        }
        for (uint32_t s = 0; s < steps; s++)
            for (int j = 0; j < WALK_GROUP; j++)
                idx[j] = packed_step(t, p, idx[j], x);
        /* Added one by one in tree order, as the plain walk does. */
        float v[WALK_GROUP];
        for (int j = 0; j < WALK_GROUP; j++)
            v[j] = p[idx[j]].value;
        add_in_order(t, k, v, WALK_GROUP, m);
    }
    for (; k < t->n_trees; k++) {
        uint32_t i = t->tree_first[k];
        for (uint32_t s = 0; s < t->tree_steps[k]; s++)
            i = packed_step(t, p, i, x);
        m[t->tree_class[k]] += p[i].value;
    }
}

/* The link from margins m to the scores of cairn_trees_predict. */
static void link_scores(const cairn_trees *t, const float *m, double *out)
{
    switch (t->task) {
    case CAIRN_TASK_BINARY:
        out[0] = 1.0 / (1.0 + exp(-(double)m[0]));
        break;
    case CAIRN_TASK_REGRESSION:
        out[0] = (double)m[0];
        break;
    case CAIRN_TASK_MULTICLASS: {
        /* Softmax with the maximum subtracted first, summed in class order. */
        double mx = (double)m[0], sum = 0.0;
        for (uint32_t k = 1; k < t->n_outputs; k++)
            if ((double)m[k] > mx)
                mx = (double)m[k];
        for (uint32_t k = 0; k < t->n_outputs; k++) {
            out[k] = exp((double)m[k] - mx);
            sum += out[k];
        }
        for (uint32_t k = 0; k < t->n_outputs; k++)
            out[k] /= sum;
        break;
    }
    }
}

void cairn_trees_predict_margin(const cairn_trees *t, const double *x, double *out)
{
    float m[CAIRN_TREES_MAX_CLASSES];
    margins(t, x, m);
    for (uint32_t k = 0; k < t->n_outputs; k++)
        out[k] = (double)m[k];
}

void cairn_trees_predict(const cairn_trees *t, const double *x, double *out)
{
    float m[CAIRN_TREES_MAX_CLASSES];
    margins(t, x, m);
    link_scores(t, m, out);
}

/* The block step over packed: nb rows of xb (doubles), or of xf (the same
 * rows in float) when not NULL, add their leaves to m, tree by tree. */
static void packed_block(const cairn_trees *t, const double *xb, const float *xf, size_t nb,
                         float *m)
{
    const cairn_tree_node *p = t->packed;
    size_t nf = t->n_features, no = t->n_outputs;
    uint32_t idx[BATCH_ROWS];
    for (uint32_t k = 0; k < t->n_trees; k++) {
        uint32_t root = t->tree_first[k], steps = t->tree_steps[k];
        for (size_t r = 0; r < nb; r++)
            idx[r] = root;
        if (xf) {
            for (uint32_t s = 0; s < steps; s++)
                for (size_t r = 0; r < nb; r++)
                    idx[r] = packed_step_f(t, p, idx[r], xf + r * nf);
        } else {
            for (uint32_t s = 0; s < steps; s++)
                for (size_t r = 0; r < nb; r++)
                    idx[r] = packed_step(t, p, idx[r], xb + r * nf);
        }
        float *mk = m + t->tree_class[k];
        for (size_t r = 0; r < nb; r++)
            mk[r * no] += p[idx[r]].value;
    }
}

void cairn_trees_predict_batch(const cairn_trees *t, const double *x, size_t n, double *out)
{
    size_t w = cairn_trees_n_scores(t), nf = t->n_features, no = t->n_outputs;
    const cairn_tree_node *p = t->packed;
    /* Without packed, and for models with small-set splits, which the
     * complete walk decides without a branch and packed with one and a
     * search (a 200-tree churn model: 2.1 against 3.7 us a row), row by row. */
    if (!p || (t->cleaves && t->complete_small_sets > 0)) {
        for (size_t r = 0; r < n; r++)
            cairn_trees_predict(t, x + r * nf, out + r * w);
        return;
    }
    /* n_outputs <= CAIRN_TREES_MAX_CLASSES == BATCH_MARGINS: block >= 1. */
    size_t block = BATCH_MARGINS / no;
    if (block > BATCH_ROWS)
        block = BATCH_ROWS;
    float m[BATCH_MARGINS], xf[BATCH_INPUTS];
    bool xf_ok = block * nf <= BATCH_INPUTS;
    for (size_t r0 = 0; r0 < n; r0 += block) {
        size_t nb = n - r0 < block ? n - r0 : block;
        const double *xb = x + r0 * nf;
        for (size_t j = 0; j < nb * no; j++)
            m[j] = t->base_margin;
        /* Each input is rounded to float once per row instead of once per
         * visit (the same rounding, so the same decisions). */
        if (xf_ok)
            for (size_t j = 0; j < nb * nf; j++)
                xf[j] = (float)xb[j];
        /* Tree by tree for the whole block: each row's margin still gets
         * its leaves added in tree order, as in a single-row call. */
        packed_block(t, xb, xf_ok ? xf : NULL, nb, m);
        for (size_t r = 0; r < nb; r++)
            link_scores(t, m + r * no, out + (r0 + r) * w);
    }
}

/* ---- serialization ------------------------------------------------------- */

static void put_u32(cairn_buf *b, uint32_t v)
{
    unsigned char s[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    cairn_buf_append(b, s, 4);
}

static void put_f32(cairn_buf *b, float f)
{
    uint32_t v;
    memcpy(&v, &f, 4);
    put_u32(b, v);
}

static void put_f64(cairn_buf *b, double d)
{
    uint64_t v;
    memcpy(&v, &d, 8);
    put_u32(b, (uint32_t)v);
    put_u32(b, (uint32_t)(v >> 32));
}

cairn_status cairn_trees_to_bytes(const cairn_trees *t, uint8_t **out, size_t *out_len,
                                  cairn_error *err)
{
    *out = NULL;
    *out_len = 0;
    cairn_buf b;
    cairn_buf_init(&b);
    cairn_buf_append(&b, TREES_MAGIC, 8);
    put_u32(&b, TREES_VERSION);
    put_u32(&b, (uint32_t)t->task);
    put_u32(&b, t->n_features);
    put_u32(&b, t->n_outputs);
    put_f64(&b, t->base_score);
    put_f32(&b, t->base_margin);
    put_u32(&b, t->n_trees);
    put_u32(&b, t->n_nodes);
    put_u32(&b, t->n_cats);
    for (uint32_t k = 0; k <= t->n_trees; k++)
        put_u32(&b, t->tree_first[k]);
    for (uint32_t k = 0; k < t->n_trees; k++)
        put_u32(&b, t->tree_class[k]);
    for (uint32_t i = 0; i < t->n_nodes; i++) {
        cairn_buf_append(&b, &t->flags[i], 1);
        put_u32(&b, t->feature[i]);
        put_f32(&b, t->value[i]);
        put_u32(&b, t->left[i]);
        put_u32(&b, t->right[i]);
    }
    for (uint32_t i = 0; i <= t->n_nodes; i++)
        put_u32(&b, t->cat_first[i]);
    for (uint32_t c = 0; c < t->n_cats; c++)
        put_u32(&b, t->cats[c]);
    if (b.failed) {
        cairn_buf_reset(&b);
        return cairn_error_set(err, CAIRN_ENOMEM, "trees", "out of memory");
    }
    *out_len = b.len;
    *out = (uint8_t *)b.data;
    return CAIRN_OK;
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static float get_f32(const uint8_t *p)
{
    uint32_t v = get_u32(p);
    float f;
    memcpy(&f, &v, 4);
    return f;
}

cairn_status cairn_trees_from_bytes(const uint8_t *p, size_t n, cairn_trees **out,
                                    cairn_error *err)
{
    *out = NULL;
    cairn_trees *t = NULL;
    cairn_status st = CAIRN_OK;
    if (n < HEADER_BYTES || memcmp(p, TREES_MAGIC, 8) != 0) {
        st = cairn_error_set(err, CAIRN_ECORRUPT, "trees", "not a cairn tree model");
        goto done;
    }
    uint32_t version = get_u32(p + 8);
    if (version != TREES_VERSION) {
        st = cairn_error_set(err, CAIRN_ECORRUPT, "trees", "unsupported version %u", version);
        goto done;
    }
    uint32_t task = get_u32(p + 12), n_features = get_u32(p + 16), n_outputs = get_u32(p + 20);
    uint64_t bits = (uint64_t)get_u32(p + 24) | (uint64_t)get_u32(p + 28) << 32;
    double base_score;
    memcpy(&base_score, &bits, 8);
    float base_margin = get_f32(p + 32);
    uint32_t n_trees = get_u32(p + 36), n_nodes = get_u32(p + 40), n_cats = get_u32(p + 44);
    if (n_features > CAIRN_TREES_MAX_FEATURES || n_outputs > CAIRN_TREES_MAX_CLASSES) {
        st = cairn_error_set(err, CAIRN_ETOOBIG, "trees", "too many features or classes");
        goto done;
    }
    /* The exact size these counts imply, in 64 bits (no overflow: each term
     * is below 2^32 * 17), must equal the bytes given: nothing is allocated
     * for counts the bytes cannot back. */
    uint64_t want = (uint64_t)HEADER_BYTES + 4u * ((uint64_t)n_trees + 1) + 4u * (uint64_t)n_trees +
                    (uint64_t)NODE_BYTES * n_nodes + 4u * ((uint64_t)n_nodes + 1) +
                    4u * (uint64_t)n_cats;
    if (want != (uint64_t)n) {
        st = cairn_error_set(err, CAIRN_ECORRUPT, "trees", "size %zu does not match the counts",
                             n);
        goto done;
    }
    st = cairn_trees_alloc(n_trees, n_nodes, n_cats, &t, err);
    if (st != CAIRN_OK)
        goto done;
    t->task = (cairn_task)task;
    if (task > (uint32_t)CAIRN_TASK_MULTICLASS) {
        st = cairn_error_set(err, CAIRN_ECORRUPT, "trees", "unknown task %u", task);
        goto done;
    }
    t->n_features = n_features;
    t->n_outputs = n_outputs;
    t->base_score = base_score;
    t->base_margin = base_margin;
    const uint8_t *q = p + HEADER_BYTES;
    for (uint32_t k = 0; k <= n_trees; k++, q += 4)
        t->tree_first[k] = get_u32(q);
    for (uint32_t k = 0; k < n_trees; k++, q += 4)
        t->tree_class[k] = get_u32(q);
    for (uint32_t i = 0; i < n_nodes; i++, q += NODE_BYTES) {
        t->flags[i] = q[0];
        t->feature[i] = get_u32(q + 1);
        t->value[i] = get_f32(q + 5);
        t->left[i] = get_u32(q + 9);
        t->right[i] = get_u32(q + 13);
    }
    for (uint32_t i = 0; i <= n_nodes; i++, q += 4)
        t->cat_first[i] = get_u32(q);
    for (uint32_t c = 0; c < n_cats; c++, q += 4)
        t->cats[c] = get_u32(q);
    st = cairn_trees_validate(t, err);
    if (st == CAIRN_OK)
        st = cairn_trees_compile(t, err);
done:
    if (st != CAIRN_OK)
        cairn_trees_free(t);
    else
        *out = t;
    return st;
}
