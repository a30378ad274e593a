/*
 * gbdt.h -- gradient-boosted decision trees: training through XGBoost's C
 * API (gbdt.c) and our own flat tree format with its evaluator and
 * serialization (tree.c).
 *
 * Training is the only place XGBoost is used. The trained booster is saved
 * as XGBoost JSON, parsed, and copied into a cairn_trees: flat per-node
 * arrays plus per-node category sets. Serving evaluates cairn_trees with
 * tree.c alone and never links XGBoost. docs/trees.md describes the format
 * field by field and the exact split rules (they follow XGBoost 1.7's CPU
 * predictor, so our scores equal XGBoost's own to float precision).
 *
 * A cairn_trees is immutable after training or loading; prediction on one
 * model from many threads at once is safe. Free with cairn_trees_free().
 */
#ifndef CAIRN_LEARN_GBDT_H
#define CAIRN_LEARN_GBDT_H

#include "core/core.h"
#include "pipeline/pipeline.h"

/* ---- the tree format ------------------------------------------------------ */

/* Node flags. */
#define CAIRN_TREE_LEAF 0x1u         /* a leaf: value is the leaf weight */
#define CAIRN_TREE_DEFAULT_LEFT 0x2u /* a missing value (NaN) goes left */
#define CAIRN_TREE_CATEGORICAL 0x4u  /* a set split: codes in the set go right */

/* Category codes are below 2^24: larger ones are not exact in float32 and
 * XGBoost treats them as invalid (they go left). */
#define CAIRN_TREE_MAX_CAT 16777216u

/* Limits on what from_bytes accepts (CAIRN_ETOOBIG beyond). */
#define CAIRN_TREES_MAX_FEATURES (1u << 20)
#define CAIRN_TREES_MAX_CLASSES 4096u

/*
 * The evaluation-only copy of a node (cairn_trees.packed): everything one
 * step of a walk reads, in 16 bytes, so a visit touches one cache line
 * instead of five. Node i of packed is node i of the arrays below (same
 * indices, so categorical nodes still find their set through cat_first).
 * feature_flags holds the split feature in its low 29 bits (features are
 * below CAIRN_TREES_MAX_FEATURES = 2^20) and the node's CAIRN_TREE_* flags
 * shifted by CAIRN_TREE_NODE_FLAG_SHIFT. A leaf's children are the leaf
 * itself, so a walk that takes more steps than the path needs stays put.
 */
#define CAIRN_TREE_NODE_FLAG_SHIFT 29u
#define CAIRN_TREE_NODE_FEATURE_MASK ((1u << CAIRN_TREE_NODE_FLAG_SHIFT) - 1u)
typedef struct cairn_tree_node {
    uint32_t feature_flags;   /* feature | flags << CAIRN_TREE_NODE_FLAG_SHIFT */
    float value;              /* as cairn_trees.value */
    uint32_t child[2];        /* [0] left, [1] right; a leaf: itself, twice */
} cairn_tree_node;

/*
 * A split of the complete-tree layout (cairn_trees.cnodes): 8 bytes, no
 * children (the children of slot i are slots 2i+1 and 2i+2). A numeric
 * split holds its threshold. A categorical split whose set holds only codes
 * below 32 holds the set as a bit mask and is marked CAIRN_TREE_CNODE_SMALL_SET
 * (its CATEGORICAL flag cleared), so the walk decides it without a branch;
 * any other categorical split holds the index of its node in the arrays
 * below, which finds its set through cat_first. The feature is
 * feature_flags & CAIRN_TREE_CNODE_FEATURE_MASK (features are below 2^20).
 */
#define CAIRN_TREE_CNODE_SMALL_SET (1u << 28)
#define CAIRN_TREE_CNODE_FEATURE_MASK (CAIRN_TREES_MAX_FEATURES - 1u)
typedef struct cairn_tree_cnode {
    uint32_t feature_flags;   /* as cairn_tree_node, plus CAIRN_TREE_CNODE_SMALL_SET */
    union {
        float value;          /* numeric: the threshold */
        uint32_t mask;        /* small set: bit c set when code c goes right */
        uint32_t node;        /* other categorical: the node's index */
    } u;
} cairn_tree_cnode;

/* The deepest trees the complete layout takes (2^12 leaves a tree). */
#define CAIRN_TREES_COMPLETE_MAX_DEPTH 12u
/* The last level of cairn_trees.vnodes read whole by the vector walk (levels 0 .. this);
 * 1, 2 and 3 measured within 3% of each other. */
#define CAIRN_TREES_VNODE_TOP 2u

typedef struct cairn_trees {
    cairn_task task;
    uint32_t n_features;      /* inputs per row */
    uint32_t n_outputs;       /* 1 (binary, regression) or k classes (multiclass) */
    double base_score;        /* XGBoost's base_score (a probability for binary) */
    float base_margin;        /* base_score on the margin scale, as XGBoost computes it */
    uint32_t n_trees;
    uint32_t *tree_first;     /* n_trees + 1: nodes of tree t are [tree_first[t], tree_first[t+1]) */
    uint32_t *tree_class;     /* n_trees: the output each tree adds to (0 unless multiclass) */
    uint32_t n_nodes;         /* all trees together */
    uint8_t *flags;           /* per node: CAIRN_TREE_* */
    uint32_t *feature;        /* per node: split feature (0 for leaves) */
    float *value;             /* per node: threshold (numeric split) or leaf weight */
    uint32_t *left, *right;   /* per node: absolute child indices, > the node, same tree */
    uint32_t *cat_first;      /* n_nodes + 1: the set of node i is cats[cat_first[i] .. [i+1]) */
    uint32_t n_cats;
    uint32_t *cats;           /* category codes, strictly increasing within a node */
    /* Derived, never serialized (cairn_trees_compile; NULL until then). */
    cairn_tree_node *packed;  /* n_nodes, the arrays above in one record per node */
    uint32_t *tree_steps;     /* n_trees: the longest root-to-leaf path of tree t, in edges */
    /* The complete-tree layout (NULL cleaves: not built): every tree padded
     * to complete_depth levels, its (1 << complete_depth) - 1 splits in level
     * order at cnodes + k * that, its 1 << complete_depth leaf values at
     * cleaves + k * that. A leaf above the last level fills every leaf slot
     * below it, so a walk of complete_depth steps ends on its value whatever
     * the padding splits decide. */
    uint32_t complete_depth;
    cairn_tree_cnode *cnodes;
    /* The same splits for the vector walk, trees 8k .. 8k+7 (whole groups of 8 only)
     * side by side: the record of group k and slot i, 16 words at vnodes + (k * splits
     * per tree + i) * 16, holds the 8 feature words then the 8 value words for slots in
     * the top CAIRN_TREES_VNODE_TOP + 1 levels (read whole), the 8 splits' two words
     * in turn below (gathered). */
    uint32_t *vnodes;
    float *cleaves;
    size_t complete_small_sets; /* splits marked CAIRN_TREE_CNODE_SMALL_SET (batches then
                                 * go row by row over this layout, not over packed) */
    size_t complete_cat_splits; /* categorical splits of either kind (none: the vector walk
                                 * skips their work) */
} cairn_trees;

void cairn_trees_free(cairn_trees *t);  /* accepts NULL */

/* Allocates a zero-filled model with room for the given counts (arrays
 * sized, tree_first/cat_first zeroed). Errors: CAIRN_ENOMEM. */
cairn_status cairn_trees_alloc(uint32_t n_trees, uint32_t n_nodes, uint32_t n_cats,
                               cairn_trees **out, cairn_error *err);
/* Checks the structural invariants (what from_bytes guarantees): CAIRN_ECORRUPT. */
cairn_status cairn_trees_validate(const cairn_trees *t, cairn_error *err);
/*
 * Builds packed and tree_steps from the node arrays (replacing earlier
 * ones), for the fast evaluator. t must pass cairn_trees_validate; call it
 * once the model is complete and before it is shared: from_bytes and
 * from_xgboost_json do. The predict functions below give bit-identical
 * results with or without it (without, they walk the node arrays).
 * Errors: CAIRN_ENOMEM (t is left as it was).
 */
cairn_status cairn_trees_compile(cairn_trees *t, cairn_error *err);

/*
 * Which layouts compile builds. AUTO (what cairn_trees_compile does): packed,
 * plus the complete layout, which then scores single rows, when its trees are at most
 * CAIRN_TREES_COMPLETE_MAX_DEPTH deep, the model has at most 256 inputs (a row is
 * copied to float on the stack) and the layout takes no more bytes than
 * packed (full trees, as depth-limited boosting grows; a 200-tree depth-6
 * model shrinks from 370 KB to 150 KB). PACKED: never the complete layout.
 * COMPLETE: always, when the depth allows (else CAIRN_EINVAL); for tests.
 */
typedef enum cairn_trees_layout {
    CAIRN_TREES_LAYOUT_AUTO,
    CAIRN_TREES_LAYOUT_PACKED,
    CAIRN_TREES_LAYOUT_COMPLETE
} cairn_trees_layout;
cairn_status cairn_trees_compile_as(cairn_trees *t, cairn_trees_layout layout, cairn_error *err);

/*
 * The complete walk decides 8 trees at once with AVX2 gathers where the CPU
 * has AVX2 (x86-64), with bit-identical results. allow_simd(false) makes every
 * walk scalar from then on, for tests and comparisons (process-wide; true
 * again restores it); simd_active says whether the vector walk is in use.
 */
void cairn_trees_allow_simd(bool allow);
bool cairn_trees_simd_active(void);

/*
 * Scores one row x (n_features doubles, NaN = missing) into out: 1 value for
 * binary (probability of class 1) and regression, n_outputs probabilities
 * for multiclass. The margin is accumulated in float32 in tree order from
 * base_margin, exactly as XGBoost does; the link is computed in double.
 * The _margin form writes the raw margins (n_outputs of them) instead.
 */
void cairn_trees_predict(const cairn_trees *t, const double *x, double *out);
void cairn_trees_predict_margin(const cairn_trees *t, const double *x, double *out);
/* n rows (row-major, n x n_features) into out (n x n_outputs-or-1, row-major). */
void cairn_trees_predict_batch(const cairn_trees *t, const double *x, size_t n, double *out);
/* Outputs per row of cairn_trees_predict: 1, or n_outputs for multiclass. */
size_t cairn_trees_n_scores(const cairn_trees *t);

/*
 * Versioned little-endian serialization (docs/trees.md). to_bytes: *out is
 * owned by the caller (cairn_free); equal models give equal bytes.
 * from_bytes validates every count, offset, child and feature index and
 * category code: CAIRN_ECORRUPT for malformed bytes, CAIRN_ETOOBIG past the
 * limits above, CAIRN_ENOMEM. On failure *out is NULL.
 */
cairn_status cairn_trees_to_bytes(const cairn_trees *t, uint8_t **out, size_t *out_len,
                                  cairn_error *err);
cairn_status cairn_trees_from_bytes(const uint8_t *p, size_t n, cairn_trees **out,
                                    cairn_error *err);

/* ---- training --------------------------------------------------------------- */

typedef void (*cairn_gbdt_progress_fn)(void *ctx, int round, int total, double valid_metric);

typedef struct cairn_gbdt_params {
    cairn_task task;
    int n_classes;              /* multiclass: k >= 2 (labels 0..k-1); ignored otherwise */
    int rounds;                 /* >= 1 */
    int max_depth;              /* 1..64 */
    double learning_rate;       /* (0, 1] */
    int early_stopping;         /* rounds without improvement on validation; 0 = off */
    double min_child_weight;
    double subsample;
    double colsample_bytree;
    double lambda;
    double alpha;
    int max_bin;                /* >= 2 */
    int threads;                /* >= 1 (0 is taken as 1: XGBoost's own default varies) */
    uint64_t seed;
    cairn_gbdt_progress_fn progress; /* optional, called after every round */
    void *progress_ctx;
    bool keep_xgboost_json;     /* also return XGBoost's JSON model (tests, oracles) */
} cairn_gbdt_params;

/* Defaults (XGBoost's own; the spec's defaults differ, see docs/spec.md):
 * binary, 100 rounds, depth 6, rate 0.1, no early stopping,
 * min_child_weight 1, subsample 1, colsample 1, lambda 1, alpha 0,
 * max_bin 256, 1 thread, seed 42. */
void cairn_gbdt_params_init(cairn_gbdt_params *p);

typedef struct cairn_gbdt_data {
    const double *x;            /* n_rows x n_features, row-major, NaN = missing */
    const double *y;            /* n_rows labels */
    size_t n_rows;
    const double *valid_x;      /* optional validation part (NULL: none) */
    const double *valid_y;
    size_t valid_n_rows;
    size_t n_features;
    /* Optional per feature: 0 numeric, L >= 1 categorical with codes 0..L-1. */
    const uint32_t *cat_levels;
} cairn_gbdt_data;

typedef struct cairn_gbdt_log {
    int rounds_run;             /* rounds trained (fewer than asked after early stopping) */
    int best_round;             /* 0-based; the model keeps rounds 0..best_round */
    double *valid_metric;       /* rounds_run values (NULL without validation); owned */
    const char *metric_name;    /* "logloss", "rmse", "mlogloss" (static) */
    char *xgboost_json;         /* keep_xgboost_json: the exported model's JSON, NUL-terminated */
    size_t xgboost_json_len;
} cairn_gbdt_log;

void cairn_gbdt_log_reset(cairn_gbdt_log *log);  /* frees, leaves it zeroed */

/*
 * Trains and exports. *out receives the model (cairn_trees_free); log (zeroed
 * or reset by the caller, may be NULL) the training log. The best round is
 * the one with the least validation metric (the earliest on ties); without
 * validation it is the last round. Only rounds up to the best are exported.
 * XGBoost reads data's arrays in place during the call: the training part
 * is kept only binned (about a byte per cell), the validation part as
 * XGBoost's own sparse copy (8 bytes per present value).
 * Errors: CAIRN_EINVAL (bad parameters or shapes), CAIRN_EINPUT (labels not
 * fitting the task, infinite values, bad category codes), CAIRN_EINTERNAL
 * (XGBoost failed; its message is kept), CAIRN_ENOMEM. Thread-safe for
 * distinct inputs.
 */
cairn_status cairn_gbdt_train(const cairn_gbdt_data *data, const cairn_gbdt_params *params,
                              cairn_trees **out, cairn_gbdt_log *log, cairn_error *err);

/* Parses XGBoost 1.7's JSON model text into our format (used by train;
 * exposed for tests). Errors: CAIRN_EINPUT for JSON we cannot read,
 * CAIRN_ENOMEM. */
cairn_status cairn_trees_from_xgboost_json(const char *json, size_t len, cairn_task task,
                                           uint32_t n_features, cairn_trees **out,
                                           cairn_error *err);

#endif /* CAIRN_LEARN_GBDT_H */
