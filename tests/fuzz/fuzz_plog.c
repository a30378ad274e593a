/*
 * fuzz_plog.c -- libFuzzer target for the prediction-log segment parser
 * (cairn_plog_parse_buffer): any bytes, taken as one uncompressed segment,
 * must parse without a fault. Every visited record's strings must be
 * NUL-terminated and its field strings readable for their length; a segment
 * counts at most one bad record, because reading stops at the first. Random
 * bytes almost never carry a valid XXH64, so each input is parsed a second
 * time with every record checksum recomputed: mutations then reach the
 * payload decoder instead of stopping at the checksum.
 */
#include "serve/serve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int touch(void *ctx, const cairn_plog_entry *e)
{
    size_t *sum = ctx;
    *sum += strlen(e->request_id) + strlen(e->entity) + strlen(e->model) + strlen(e->alias) +
            strlen(e->label) + strlen(e->segment);
    for (size_t i = 0; i < e->n_fields; i++) {
        const cairn_field *f = &e->fields[i];
        *sum += strlen(f->name);
        if (f->kind == CAIRN_VALUE_STRING) {
            for (size_t k = 0; k < f->str_len; k++)
                *sum += (unsigned char)f->str[k];
        } else if (f->kind == CAIRN_VALUE_BOOL && f->b != 0 && f->b != 1) {
            fprintf(stderr, "bool field with value %d\n", f->b);
            abort();
        }
    }
    return 0;
}

static void check(const uint8_t *data, size_t size)
{
    size_t sum = 0;
    cairn_plog_read_stats st = {0};
    if (cairn_plog_parse_buffer(data, size, touch, &sum, &st) != CAIRN_OK)
        return;
    if (st.segments != 1 || st.bad_records > 1 || st.records > size / 48) {
        fprintf(stderr, "impossible stats: %llu segments, %llu bad, %llu records in %zu bytes\n",
                (unsigned long long)st.segments, (unsigned long long)st.bad_records,
                (unsigned long long)st.records, size);
        abort();
    }
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check(data, size);
    uint8_t *fixed = malloc(size ? size : 1);
    if (!fixed)
        return 0;
    memcpy(fixed, data, size);
    /* Walk the framing (segment header 16 bytes, record header 16 bytes: magic, length,
     * checksum) and rewrite each checksum. */
    size_t pos = 16;
    while (pos <= size && size - pos >= 16) {
        size_t len = rd32(fixed + pos + 4);
        if (len > size - pos - 16)
            break;
        uint64_t h = XXH64(fixed + pos + 16, len, 0);
        for (int i = 0; i < 8; i++)
            fixed[pos + 8 + (size_t)i] = (uint8_t)(h >> (8 * i));
        pos += 16 + len;
    }
    check(fixed, size);
    free(fixed);
    return 0;
}
