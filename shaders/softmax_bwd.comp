#version 450
#include "common.glsl"
// softmax_bwd: dx[r, j] += y[r, j] * (dy[r, j] - sum_j' dy[r, j'] y[r, j']).
// y, dy, dx: [R, S] row-major (storage). One invocation per row (1-D grid, flat_index()).
layout(binding = 0) readonly buffer Y { float y[]; };
layout(binding = 1) readonly buffer DY { float dy[]; };
layout(binding = 2) buffer DX { float dx[]; };
layout(push_constant) uniform P { uint R, S; } p;

void main() {
    uint r = flat_index();
    if (r >= p.R) return;
    uint base = r * p.S;
    float d = 0.0;
    for (uint j = 0; j < p.S; j++) d += dy[base + j] * y[base + j];
    for (uint j = 0; j < p.S; j++) dx[base + j] += y[base + j] * (dy[base + j] - d);
}
