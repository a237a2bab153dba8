// rng.c: see rng.h. SplitMix64-style finalizers over a mixed counter: cheap,
// well distributed, and identical on every machine.
#include "util/rng.h"

#include <math.h>

static uint64_t mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t rng_hash(uint64_t seed, uint64_t step, uint64_t stream, uint64_t index) {
    uint64_t h = mix(seed + 0x9E3779B97F4A7C15ull);
    h = mix(h ^ (step + 0x632BE59BD9B4E019ull));
    h = mix(h ^ (stream * 0x8CB92BA72F3D8DD7ull));
    return mix(h ^ (index + 0xD1B54A32D192ED03ull));
}

double rng_u01(uint64_t seed, uint64_t step, uint64_t stream, uint64_t index) {
    return (double)(rng_hash(seed, step, stream, index) >> 11) * 0x1.0p-53;
}

uint32_t rng_below(uint64_t seed, uint64_t step, uint64_t stream, uint64_t index, uint32_t n) {
    return (uint32_t)(((rng_hash(seed, step, stream, index) >> 32) * (uint64_t)n) >> 32);
}

void rng_normal_fill(float* out, int64_t n, uint64_t seed, uint64_t step, uint64_t stream, uint64_t base) {
    for (int64_t i = 0; i < n; i++) {
        uint64_t k = base + (uint64_t)i;
        double u1 = ((rng_hash(seed, step, stream, 2 * k) >> 11) + 1) * 0x1.0p-53;  // (0, 1]
        double u2 = rng_u01(seed, step, stream, 2 * k + 1);
        out[i] = (float)(sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2));
    }
}

// Wellons' lowbias32 finalizer, chained over the counter's fields.
static uint32_t mix32(uint32_t x) {
    x ^= x >> 16;
    x *= 0x7FEB352Du;
    x ^= x >> 15;
    x *= 0x846CA68Bu;
    return x ^ (x >> 16);
}

uint32_t rng_mask_hash(uint32_t key0, uint32_t key1, uint32_t unit, uint32_t module, uint32_t j) {
    uint32_t h = mix32(j + 0x9E3779B9u);
    h = mix32(h ^ (module * 0x85EBCA6Bu + 0x68E31DA4u));
    h = mix32(h ^ (unit * 0xC2B2AE35u + 0xB5297A4Du));
    h = mix32(h ^ key1);
    return mix32(h ^ key0);
}
