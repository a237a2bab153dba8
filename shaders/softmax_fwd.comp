#version 450
#include "common.glsl"
// softmax_fwd: y[r, j] = exp(x[r, j] - m_r) / sum_j' exp(x[r, j'] - m_r), m_r = max_j x[r, j]
// (subtracting the row maximum keeps every exp <= 1: no overflow at any magnitude).
// x, y: [R, S] row-major (storage). One invocation per row (1-D grid, flat_index()),
// three passes over the row: max, sum, write.
layout(binding = 0) readonly buffer X { float x[]; };
layout(binding = 1) writeonly buffer Y { float y[]; };
layout(push_constant) uniform P { uint R, S; } p;

void main() {
    uint r = flat_index();
    if (r >= p.R) return;
    uint base = r * p.S;
    float m = x[base];
    for (uint j = 1; j < p.S; j++) m = max(m, x[base + j]);
    float sum = 0.0;
    for (uint j = 0; j < p.S; j++) sum += exp(x[base + j] - m);
    float inv = 1.0 / sum;
    for (uint j = 0; j < p.S; j++) y[base + j] = exp(x[base + j] - m) * inv;
}
