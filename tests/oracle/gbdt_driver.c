/*
 * gbdt_driver.c -- the C side of tests/oracle/test_gbdt_xgboost.py.
 *
 *   gbdt_driver TASK N_CLASSES LEVELS TRAIN.csv VALID.csv ALL.csv OUTDIR
 *
 * TASK is binary, regression or multiclass; LEVELS a comma-separated list
 * of per-feature level counts (0 = numeric). The CSVs hold numbers only, no
 * header, the label first and then the features; an empty field is missing.
 * Trains with cairn_gbdt_train (early stopping on VALID), then writes
 * OUTDIR/model.json (XGBoost's JSON of the exported model, which python
 * xgboost loads), OUTDIR/pred.csv (our evaluator's scores on every row of
 * ALL.csv, %.17g, one row per line) and OUTDIR/log.txt (best round, rounds
 * run). Exit 0 on success, 1 with a message on stderr otherwise.
 */
#include "learn/gbdt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct table {
    double *y, *x;
    size_t n, d;
} table;

static int read_table(const char *path, size_t d, table *t)
{
    char *text = NULL;
    size_t len = 0;
    cairn_error err = {0};
    if (cairn_read_file(path, &text, &len, &err) != CAIRN_OK) {
        fprintf(stderr, "gbdt_driver: %s: %s\n", path, err.msg);
        return 1;
    }
    size_t lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    t->d = d;
    t->n = 0;
    t->y = malloc((lines + 1) * sizeof *t->y);
    t->x = malloc((lines + 1) * d * sizeof *t->x);
    if (!t->y || !t->x) {
        cairn_free(text);
        return 1;
    }
    char *p = text, *end = text + len;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            nl = end;
        if (nl > p) {
            size_t col = 0;
            char *f = p;
            while (f <= nl && col <= d) {
                char *c = f;
                while (c < nl && *c != ',')
                    c++;
                double v = NAN;
                if (c > f && !cairn_parse_double(f, (size_t)(c - f), &v)) {
                    fprintf(stderr, "gbdt_driver: %s: bad number\n", path);
                    cairn_free(text);
                    return 1;
                }
                if (col == 0)
                    t->y[t->n] = v;
                else
                    t->x[t->n * d + col - 1] = v;
                col++;
                f = c + 1;
            }
            if (col != d + 1) {
                fprintf(stderr, "gbdt_driver: %s: line %zu has %zu fields\n", path, t->n + 1,
                        col);
                cairn_free(text);
                return 1;
            }
            t->n++;
        }
        p = nl + 1;
    }
    cairn_free(text);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 8) {
        fprintf(stderr, "usage: gbdt_driver TASK N_CLASSES LEVELS TRAIN VALID ALL OUTDIR\n");
        return 1;
    }
    cairn_gbdt_params p;
    cairn_gbdt_params_init(&p);
    if (strcmp(argv[1], "regression") == 0)
        p.task = CAIRN_TASK_REGRESSION;
    else if (strcmp(argv[1], "multiclass") == 0)
        p.task = CAIRN_TASK_MULTICLASS;
    p.n_classes = atoi(argv[2]);
    uint32_t levels[4096];
    size_t d = 0;
    for (char *s = argv[3]; *s && d < 4096;) {
        levels[d++] = (uint32_t)strtoul(s, &s, 10);
        if (*s == ',')
            s++;
    }
    table tr = {0}, va = {0}, all = {0};
    int rc = 1;
    cairn_trees *t = NULL;
    cairn_gbdt_log log = {0};
    double *pred = NULL;
    if (read_table(argv[4], d, &tr) || read_table(argv[5], d, &va) || read_table(argv[6], d, &all))
        goto done;
    cairn_gbdt_data data = {.x = tr.x, .y = tr.y, .n_rows = tr.n, .valid_x = va.x,
                            .valid_y = va.y, .valid_n_rows = va.n, .n_features = d,
                            .cat_levels = levels};
    p.rounds = 60;
    p.early_stopping = 5;
    p.learning_rate = 0.2;
    p.threads = 2;
    p.keep_xgboost_json = true;
    cairn_error err = {0};
    if (cairn_gbdt_train(&data, &p, &t, &log, &err) != CAIRN_OK) {
        fprintf(stderr, "gbdt_driver: train: %s (%s)\n", err.msg, err.where);
        goto done;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/model.json", argv[7]);
    if (cairn_write_file_atomic(path, log.xgboost_json, log.xgboost_json_len, &err) != CAIRN_OK)
        goto done;
    size_t w = cairn_trees_n_scores(t);
    pred = malloc((all.n + 1) * w * sizeof *pred);
    if (!pred)
        goto done;
    cairn_trees_predict_batch(t, all.x, all.n, pred);
    snprintf(path, sizeof path, "%s/pred.csv", argv[7]);
    FILE *f = fopen(path, "w");
    if (!f)
        goto done;
    for (size_t r = 0; r < all.n; r++)
        for (size_t k = 0; k < w; k++)
            fprintf(f, "%.17g%c", pred[r * w + k], k + 1 == w ? '\n' : ',');
    fclose(f);
    snprintf(path, sizeof path, "%s/log.txt", argv[7]);
    f = fopen(path, "w");
    if (!f)
        goto done;
    fprintf(f, "%d %d %u\n", log.best_round, log.rounds_run, t->n_trees);
    fclose(f);
    rc = 0;
done:
    free(tr.x);
    free(tr.y);
    free(va.x);
    free(va.y);
    free(all.x);
    free(all.y);
    free(pred);
    cairn_gbdt_log_reset(&log);
    cairn_trees_free(t);
    return rc;
}
