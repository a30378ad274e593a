/*
 * snapshot.h -- the immutable columnar snapshot of a dataset version.
 *
 * File layout (all integers little-endian; docs/formats.md has the details):
 *
 *   offset  size  field
 *   0       8     magic "CAIRNSNP"
 *   8       4     format version (1)
 *   12      4     n_cols
 *   16      8     n_rows
 *   24      ...   column blocks: for each column in order, its validity frame,
 *                 its values frame and (STRING only) its dictionary frame,
 *                 back to back
 *   dir     ...   directory: for each column
 *                   u16 name_len, name bytes, u8 type,
 *                   u64 valid_off, u64 valid_zlen,          (zstd frame of n_rows validity bytes)
 *                   u64 values_off, u64 values_zlen,        (zstd frame of n_rows * size(type) bytes)
 *                   u64 dict_off, u64 dict_zlen, u32 dict_n (STRING: zstd frame of the
 *                                                            NUL-terminated strings; else 0)
 *   end-16  8     directory offset (bytes from file start)
 *   end-8   8     xxh3-64 (seed 0) of every preceding byte (detects truncation and bit rot)
 *
 * The directory offset is in the footer, not the header, so that the header
 * is final before any column is compressed and the content hash can run
 * while columns are still being compressed.
 *
 * Values of 8-byte types (int64, float64, timestamp) are stored byte-
 * transposed before compression: byte 0 of every row, then byte 1 of every
 * row, ..., byte 7 (each value little-endian). Other parts are stored as is.
 *
 * The snapshot's identity is the BLAKE2b-256 of the whole file. Writing is
 * deterministic: the same frame gives the same bytes (zstd level 1,
 * single-threaded frames with the content size recorded, dictionary in
 * first-seen order, values of null rows 0). The reader checks magic, version,
 * checksum, the bounds of every offset and count, every decoded value
 * (validity and bools 0/1, codes inside the dictionary, null rows 0) before
 * handing the frame out, and refuses anything else with CAIRN_ECORRUPT.
 * Strings containing a NUL byte cannot be stored (CAIRN_EINPUT on encode).
 */
#ifndef CAIRN_DATA_SNAPSHOT_H
#define CAIRN_DATA_SNAPSHOT_H

#include "data/frame.h"

#define CAIRN_SNAPSHOT_MAGIC "CAIRNSNP"
#define CAIRN_SNAPSHOT_VERSION 1

/*
 * Serialises f into memory (*out, *out_len; caller frees with cairn_free),
 * compressing columns in parallel, and computes the BLAKE2b hash of the bytes.
 */
cairn_status cairn_snapshot_encode(const cairn_frame *f, char **out, size_t *out_len,
                                   unsigned char hash[CAIRN_HASH_BYTES], cairn_error *err);
/* Parses snapshot bytes into a new frame; name is used in error messages. */
cairn_status cairn_snapshot_decode(const char *data, size_t len, const char *name,
                                   cairn_frame **out, cairn_error *err);
/* Reads and decodes a snapshot file, checking its BLAKE2b hash against expected_hex when non-NULL. */
cairn_status cairn_snapshot_load(const char *path, const char *expected_hex, cairn_frame **out,
                                 cairn_error *err);

#endif /* CAIRN_DATA_SNAPSHOT_H */
