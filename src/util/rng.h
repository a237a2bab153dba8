// rng.h: counter-based random numbers. Every random draw of a run is a pure
// function of (seed, step, stream, index), so a resumed run draws exactly what
// an uninterrupted one would, whatever happened before (no hidden RNG state).
#pragma once
#include <stdint.h>

// Named streams keep different uses independent.
enum {
    RNG_STREAM_BATCH = 1,    // which training images
    RNG_STREAM_TIMESTEP = 2,
    RNG_STREAM_NOISE = 3,
    RNG_STREAM_DROPOUT = 4,  // caption dropout
    RNG_STREAM_FLIP = 5,
    RNG_STREAM_SAMPLE = 6,   // sampling noise (per seed, per step)
    RNG_STREAM_MISC = 7,
    RNG_STREAM_CROP = 8,     // random crops: one per image (by content), not per step
    RNG_STREAM_LORA_DROPOUT = 9,  // LoRA dropout masks (the step's key; rng_mask_hash draws the elements)
};

uint64_t rng_hash(uint64_t seed, uint64_t step, uint64_t stream, uint64_t index);
double rng_u01(uint64_t seed, uint64_t step, uint64_t stream, uint64_t index);      // [0, 1)
uint32_t rng_below(uint64_t seed, uint64_t step, uint64_t stream, uint64_t index, uint32_t n);
// Standard normal (Box-Muller over two hashes); fills out[0..n) for index base..base+n.
void rng_normal_fill(float* out, int64_t n, uint64_t seed, uint64_t step, uint64_t stream, uint64_t base);

// A 32-bit counter hash for masks drawn on the GPU (shaders/dropout.comp mirrors
// it bit for bit: 32-bit integer arithmetic only). key0/key1: a 64-bit key split
// in two (rng_hash of seed, step and a stream); unit: the batch row's global
// identity; module: which layer; j: the element within the row.
uint32_t rng_mask_hash(uint32_t key0, uint32_t key1, uint32_t unit, uint32_t module, uint32_t j);
