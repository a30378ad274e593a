/*
 * fuzz_csv.c -- libFuzzer target for the CSV reader: any bytes must give a
 * frame or a clean error, never a crash, hang or leak. The first byte picks
 * the thread count and delimiter mode so chunk boundaries get exercised.
 */
#include "data/reader.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    cairn_read_opts opts;
    cairn_read_opts_init(&opts);
    opts.n_threads = 1 + (data[0] & 3);
    opts.max_field_bytes = 64 + (size_t)(data[0] >> 2) * 16;
    if (data[0] & 0x80)
        opts.delimiter = ';';
    cairn_reader_cfg cfg;
    cairn_reader_cfg_from_opts(&cfg, &opts);
    cfg.display_name = "fuzz.csv";
    cairn_frame *f = NULL;
    cairn_error err = {0};
    /* An exact-size copy, so AddressSanitizer sees any read before or after the text. */
    char *text = malloc(size - 1 ? size - 1 : 1);
    if (!text)
        return 0;
    memcpy(text, data + 1, size - 1);
    if (cairn_csv_parse(text, size - 1, &cfg, &f, &err) == CAIRN_OK) {
        cairn_buf b;
        cairn_buf_init(&b);
        for (size_t j = 0; j < f->n_cols; j++)
            for (size_t r = 0; r < f->n_rows; r++)
                cairn_column_value_text(&f->cols[j], r, &b);
        cairn_buf_reset(&b);
    }
    cairn_frame_free(f);
    free(text);
    return 0;
}
