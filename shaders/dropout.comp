#version 450
#include "common.glsl"
// dropout (op_dropout, LoRA's adapter input): y = keep * scale * x, or y += that
// when ACCUMULATE (the backward: the same mask on the gradient). x, y: n floats,
// rows of per_row; one invocation per element, 1-D grid (flat_index()).
// The mask is a pure function of the key words, the row's global identity, the
// module and the element: rng_mask_hash of src/util/rng.c, mirrored here in the
// same 32-bit arithmetic, so the C reference draws the same bits.
// key: [key0, key1, first item, items per micro-batch] (model/lora.h).
// constant_id 3 = ACCUMULATE.
layout(constant_id = 3) const bool ACCUMULATE = false;
layout(binding = 0) readonly buffer KEY { uint key[]; };
layout(binding = 1) readonly buffer X { float x[]; };
layout(binding = 2) buffer Y { float y[]; };
layout(push_constant) uniform P {
    uint n, per_row, module, threshold;  // elements; elements per row; layer; drop when hash >> 8 < threshold
    uint off_key, off_x, off_y;          // elements from each binding's start
    float scale;                         // 1 / (1 - p)
} p;

uint mix32(uint v) {
    v ^= v >> 16;
    v *= 0x7FEB352Du;
    v ^= v >> 15;
    v *= 0x846CA68Bu;
    return v ^ (v >> 16);
}

uint mask_hash(uint key0, uint key1, uint unit, uint module, uint j) {
    uint h = mix32(j + 0x9E3779B9u);
    h = mix32(h ^ (module * 0x85EBCA6Bu + 0x68E31DA4u));
    h = mix32(h ^ (unit * 0xC2B2AE35u + 0xB5297A4Du));
    h = mix32(h ^ key1);
    return mix32(h ^ key0);
}

void main() {
    uint i = flat_index();
    if (i >= p.n) return;
    uint row = i / p.per_row, j = i - row * p.per_row;
    uint items = max(key[p.off_key + 3], 1u);
    uint unit = (key[p.off_key + 2] + row % items) * 8u + row / items;
    bool keep = (mask_hash(key[p.off_key], key[p.off_key + 1], unit, p.module, j) >> 8) >= p.threshold;
    float v = keep ? x[p.off_x + i] * p.scale : 0.0;
    if (ACCUMULATE) y[p.off_y + i] += v;
    else y[p.off_y + i] = v;
}
