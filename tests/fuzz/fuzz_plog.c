/*
 * fuzz_plog.c -- libFuzzer target for the prediction-log segment parser
 * (cairn_plog_parse_buffer): any bytes, taken as one uncompressed segment,
 * must parse without a fault. Every visited record's strings must be
 * NUL-terminated and its field strings readable for their length; a segment
 * counts at most one bad record, because reading stops at the first. Random
 * bytes almost never carry a valid XXH64, so each input is parsed a second
 * time with every checksum recomputed: record checksums in a segment of
 * records (format version 1), block checksums in a segment of blocks
 * (version 2, the decompressed bytes of a closed segment); mutations then
 * reach the payload and block decoders instead of stopping at the checksum.
 * That second input is parsed once more from an odd address: a block reader
 * that hands out arrays of the buffer must give the same records either way.
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
    *sum += (size_t)e->time_us + e->flags + (size_t)e->version;
    for (size_t i = 0; i < e->n_fields; i++) {
        const cairn_field *f = &e->fields[i];
        *sum += strlen(f->name) + (size_t)f->kind;
        if (f->kind == CAIRN_VALUE_STRING) {
            for (size_t k = 0; k < f->str_len; k++)
                *sum += (unsigned char)f->str[k];
        } else if (f->kind == CAIRN_VALUE_BOOL && f->b != 0 && f->b != 1) {
            fprintf(stderr, "bool field with value %d\n", f->b);
            abort();
        } else if (f->kind != CAIRN_VALUE_NULL && f->kind != CAIRN_VALUE_BOOL &&
                   f->kind != CAIRN_VALUE_NUMBER) {
            fprintf(stderr, "field of unknown kind %d\n", (int)f->kind);
            abort();
        }
    }
    return 0;
}

/*
 * The bound on records: a record of a segment of records takes at least 72 bytes (16 of
 * framing, 32 fixed, five 4-byte string lengths, a 4-byte field count); a record of a
 * block at least 57 bytes of its block's body (time, score, latency 8 each, flags and
 * version 4 each, and in each of the five string columns a 4-byte end offset and a NUL).
 * Either way records <= size / 57.
 */
static void check(const uint8_t *data, size_t size, cairn_plog_read_stats *st, size_t *sum)
{
    *sum = 0;
    memset(st, 0, sizeof *st);
    if (cairn_plog_parse_buffer(data, size, touch, sum, st) != CAIRN_OK) {
        st->segments = 0;   /* out of memory: nothing to compare */
        return;
    }
    if (st->segments != 1 || st->bad_records > 1 || st->records > size / 57) {
        fprintf(stderr, "impossible stats: %llu segments, %llu bad, %llu records in %zu bytes\n",
                (unsigned long long)st->segments, (unsigned long long)st->bad_records,
                (unsigned long long)st->records, size);
        abort();
    }
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cairn_plog_read_stats st, st2;
    size_t sum, sum2;
    check(data, size, &st, &sum);
    /* One spare byte in front, for the parse from an odd address. */
    uint8_t *buf = malloc(size + 1);
    if (!buf)
        return 0;
    uint8_t *fixed = buf + 1;
    memcpy(fixed, data, size);
    /* Records and blocks share their framing: a 16-byte header of u32 magic ("CLPR" for a
     * record, "CLPB" for a block, by the segment header's version), u32 length of what
     * follows, u64 XXH64 of it. Rewrite each checksum, up to the first unit whose magic
     * the reader would refuse anyway. fixed is misaligned here, which XXH64 allows; the
     * copy parsed below is aligned. */
    const uint32_t magic = size >= 16 && rd32(fixed + 8) == 2 ? 0x42504C43u : 0x52504C43u;
    size_t pos = 16;
    while (pos <= size && size - pos >= 16 && rd32(fixed + pos) == magic) {
        size_t len = rd32(fixed + pos + 4);
        if (len > size - pos - 16)
            break;
        uint64_t h = XXH64(fixed + pos + 16, len, 0);
        for (int i = 0; i < 8; i++)
            fixed[pos + 8 + (size_t)i] = (uint8_t)(h >> (8 * i));
        pos += 16 + len;
    }
    uint8_t *aligned = malloc(size ? size : 1);
    if (aligned) {
        memcpy(aligned, fixed, size);
        check(aligned, size, &st, &sum);
        check(fixed, size, &st2, &sum2);
        if (st.segments && st2.segments &&
            (st.records != st2.records || st.bad_records != st2.bad_records || sum != sum2)) {
            fprintf(stderr, "aligned and misaligned parses differ: %llu/%llu records, "
                    "%llu/%llu bad\n", (unsigned long long)st.records,
                    (unsigned long long)st2.records, (unsigned long long)st.bad_records,
                    (unsigned long long)st2.bad_records);
            abort();
        }
        free(aligned);
    }
    free(buf);
    return 0;
}
