// hash.h: a fast, non-cryptographic 64-bit hash for comparing large buffers
// (weights, data files) between processes; equal input gives equal hash on
// every little-endian machine.
#pragma once
#include <stddef.h>
#include <stdint.h>

// Continues h (start with HASH64_INIT) over n bytes of p.
uint64_t hash64(uint64_t h, const void* p, size_t n);
#define HASH64_INIT 0x9E3779B97F4A7C15ull
