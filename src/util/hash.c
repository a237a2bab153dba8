// hash.c: see hash.h. Eight bytes per round (a word-wise FNV-like mix with a
// final avalanche), so hashing gigabytes of weights costs about a memory pass.
#include "util/hash.h"

#include <string.h>

static uint64_t mix(uint64_t h, uint64_t w) {
    h ^= w * 0xFF51AFD7ED558CCDull;
    h = (h << 31) | (h >> 33);
    return h * 0xC4CEB9FE1A85EC53ull;
}

uint64_t hash64(uint64_t h, const void* p, size_t n) {
    const unsigned char* b = p;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, b + i, 8);
        h = mix(h, w);
    }
    uint64_t tail = 0;
    memcpy(&tail, b + i, n - i);
    h = mix(h, tail ^ ((uint64_t)(n - i) << 56));
    h ^= h >> 33;
    h *= 0xFF51AFD7ED558CCDull;
    h ^= h >> 33;
    return h;
}
