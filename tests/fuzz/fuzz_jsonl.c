/*
 * fuzz_jsonl.c -- libFuzzer target for the JSON Lines reader: any bytes must
 * give a frame or a clean error (never CAIRN_EINTERNAL, which would mean the
 * reader's scanner lost step with cJSON), never a crash, hang or leak. The
 * first byte picks the field size limit and which forced types apply, so the
 * limit and the forced-type conversions get exercised too.
 */
#include "data/reader.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const char *const names[] = {"a", "b", "id", "t"};
    static const cairn_type types[] = {CAIRN_TYPE_INT64, CAIRN_TYPE_STRING, CAIRN_TYPE_FLOAT64,
                                       CAIRN_TYPE_TIMESTAMP};
    cairn_type_overrides ov = {names, types, 4};
    cairn_read_opts opts;
    cairn_read_opts_init(&opts);
    opts.max_field_bytes = 4 + (size_t)(data[0] & 0x3F) * 8;
    cairn_reader_cfg cfg;
    cairn_reader_cfg_from_opts(&cfg, &opts);
    cfg.display_name = "fuzz.jsonl";
    if (data[0] & 0x80)
        cfg.overrides = &ov;
    /* An exactly sized copy: a read past the end is caught by the sanitizer. */
    size_t n = size - 1;
    char *copy = malloc(n ? n : 1);
    if (!copy)
        return 0;
    memcpy(copy, data + 1, n);
    cairn_frame *f = NULL;
    cairn_error err = {0};
    cairn_status st = cairn_jsonl_parse(copy, n, &cfg, &f, &err);
    if (st == CAIRN_EINTERNAL)
        abort();
    if (st == CAIRN_OK) {
        cairn_buf b;
        cairn_buf_init(&b);
        for (size_t j = 0; j < f->n_cols; j++)
            for (size_t r = 0; r < f->n_rows; r++)
                cairn_column_value_text(&f->cols[j], r, &b);
        cairn_buf_reset(&b);
    } else if (f != NULL) {
        abort();
    }
    cairn_frame_free(f);
    free(copy);
    return 0;
}
