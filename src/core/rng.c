/*
 * rng.c -- the one pseudo-random generator of the library: xoshiro256**
 * (Blackman & Vigna 2018) with its state filled by splitmix64 (Steele, Lea &
 * Flood 2014), as its authors advise. Fixed-width integer arithmetic only, so
 * a seed gives the same stream on every machine; the bootstrap oracle test
 * replays it in Python.
 */
#include "core/core.h"

uint64_t cairn_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void cairn_rng_init(cairn_rng *rng, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        rng->s[i] = cairn_splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t cairn_rng_next(cairn_rng *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/*
 * Rejection sampling: 2^64 mod bound values at the bottom of the range would
 * make low results more likely, so draws below that cut are redrawn; the rest
 * split evenly into bound classes by the modulo. (-bound) % bound computes
 * 2^64 mod bound in 64-bit arithmetic.
 */
uint64_t cairn_rng_below(cairn_rng *rng, uint64_t bound)
{
    uint64_t cut = (0 - bound) % bound;
    for (;;) {
        uint64_t r = cairn_rng_next(rng);
        if (r >= cut)
            return r % bound;
    }
}
