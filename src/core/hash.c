/*
 * hash.c -- content hashes (BLAKE2b-256 from libsodium) and the fast
 * non-cryptographic hash (xxh3 from libxxhash) for tables and sketches.
 */
#include "core/core.h"

#include <sodium.h>
#include <xxhash.h>

_Static_assert(sizeof(crypto_generichash_state) <= sizeof(((cairn_hasher *)0)->state),
               "cairn_hasher too small for crypto_generichash_state");

void cairn_hasher_init(cairn_hasher *h)
{
    crypto_generichash_init((crypto_generichash_state *)(void *)h->state, NULL, 0,
                            CAIRN_HASH_BYTES);
}

void cairn_hasher_update(cairn_hasher *h, const void *p, size_t n)
{
    crypto_generichash_update((crypto_generichash_state *)(void *)h->state, p, n);
}

void cairn_hasher_final(cairn_hasher *h, unsigned char out[CAIRN_HASH_BYTES])
{
    crypto_generichash_final((crypto_generichash_state *)(void *)h->state, out, CAIRN_HASH_BYTES);
}

void cairn_hash_hex(const unsigned char hash[CAIRN_HASH_BYTES], char out[CAIRN_HASH_HEX])
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < CAIRN_HASH_BYTES; i++) {
        out[2 * i] = hex[hash[i] >> 4];
        out[2 * i + 1] = hex[hash[i] & 15];
    }
    out[2 * CAIRN_HASH_BYTES] = '\0';
}

uint64_t cairn_hash64(const void *p, size_t n, uint64_t seed)
{
    return XXH3_64bits_withSeed(p, n, seed);
}
