/*
 * batch.h -- `cairn predict`: a CSV or JSON Lines file scored row by row
 * through exactly the calls the server uses (cairn_model_predict: the
 * contract's single-row validator, then the transform and the model), so a
 * file and a request with the same values get the same answer.
 */
#ifndef CAIRN_SERVE_BATCH_H
#define CAIRN_SERVE_BATCH_H

#include "serve/serve.h"

typedef struct cairn_batch_opts {
    bool stop_on_error;           /* --on-error fail: stop at the first invalid row */
    int threads;                  /* 0: all cores */
    cairn_plog *log;              /* --log: every scored row is appended (alias "", BATCH flag) */
    const char *format;           /* NULL/"auto", "csv", "jsonl" */
    /* With --log: columns that give each logged row its time (timestamps, ISO 8601 text or
     * epoch seconds; default: the time of scoring), request id and entity (default: none).
     * A missing column is CAIRN_EINPUT. Refused rows are logged too, with the
     * CAIRN_PLOG_REJECTED flag. */
    const char *time_col, *id_col, *entity_col;
} cairn_batch_opts;

typedef struct cairn_batch_result {
    size_t n_rows;                /* data rows read */
    size_t n_scored;
    size_t n_invalid;             /* rows that broke the contract (skipped, or the first one) */
    cairn_prediction *preds;      /* n_rows; an invalid row has score NaN and label NULL */
    uint8_t *ok;                  /* n_rows: 1 when scored */
    cairn_violations violations;  /* row = 0-based data row */
    bool stopped;                 /* stop_on_error hit an invalid row */
    char **columns;               /* the file's column names (n_columns) */
    size_t n_columns;
} cairn_batch_result;

/*
 * Reads path and scores every row with m. Values reach the model as a
 * request would carry them: numbers, booleans, strings, timestamps as ISO
 * 8601 text, empty fields as null. Errors: the reader's (CAIRN_EINPUT with
 * FILE:LINE, CAIRN_ENOTFOUND), CAIRN_ECHECK when stop_on_error met an invalid
 * row (the result holds what was scored before it and the violations),
 * CAIRN_ENOMEM. *out is zeroed first; free with cairn_batch_result_reset.
 */
cairn_status cairn_batch_predict(const cairn_model *m, const char *path, const cairn_batch_opts *o,
                                 cairn_batch_result *out, cairn_error *err);
void cairn_batch_result_reset(cairn_batch_result *r);

#endif /* CAIRN_SERVE_BATCH_H */
