/*
 * fuzz_snapshot.c -- libFuzzer target for the snapshot decoder: any bytes
 * must give a frame or CAIRN_ECORRUPT (CAIRN_ENOMEM tolerated), never a
 * crash, hang, leak or over-allocation.
 *
 * Almost every mutation breaks the xxh3 checksum, which the decoder checks
 * first, so each input is decoded twice: as it is, and with the checksum
 * recomputed, which lets mutations reach the directory, zstd frame and value
 * checks behind it. A frame that decodes must satisfy the frame invariants;
 * re-encoding it (which checks them) and decoding the result again must
 * give identical bytes.
 *
 * Seeds (tests/fuzz/corpus/snapshot/) are written by tests/unit/test_snapshot.c
 * when CAIRN_WRITE_SNAPSHOT_CORPUS=DIR is set.
 */
#include "data/snapshot.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Decodes; on success checks that the frame re-encodes and round-trips. */
static void decode_and_check(const char *bytes, size_t len)
{
    cairn_frame *f = NULL, *g = NULL;
    char *enc = NULL, *enc2 = NULL;
    size_t n = 0, n2 = 0;
    unsigned char h[CAIRN_HASH_BYTES], h2[CAIRN_HASH_BYTES];
    cairn_status st = cairn_snapshot_decode(bytes, len, "fuzz.snap", &f, NULL);
    if (st != CAIRN_OK) {
        if (f != NULL || (st != CAIRN_ECORRUPT && st != CAIRN_ENOMEM))
            abort();
        return;
    }
    if (cairn_snapshot_encode(f, &enc, &n, h, NULL) != CAIRN_OK)
        abort();
    if (cairn_snapshot_decode(enc, n, "fuzz-again.snap", &g, NULL) != CAIRN_OK)
        abort();
    if (cairn_snapshot_encode(g, &enc2, &n2, h2, NULL) != CAIRN_OK || n != n2 ||
        memcmp(enc, enc2, n) != 0 || memcmp(h, h2, sizeof h) != 0)
        abort();
    cairn_free(enc);
    cairn_free(enc2);
    cairn_frame_free(f);
    cairn_frame_free(g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exactly sized copy: a read past the end is caught by the sanitizer. */
    char *copy = calloc(size ? size : 1, 1);
    if (!copy)
        return 0;
    if (size)
        memcpy(copy, data, size);
    decode_and_check(copy, size);
    if (size >= 16) {
        uint64_t sum = cairn_hash64(copy, size - 8, 0);
        for (int i = 0; i < 8; i++)
            copy[size - 8 + (size_t)i] = (char)(unsigned char)(sum >> (8 * i));
        decode_and_check(copy, size);
    }
    free(copy);
    return 0;
}
