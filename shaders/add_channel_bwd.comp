#version 450
#include "common.glsl"
#include "activation.glsl"
#include "norm.glsl"
// add_channel_bwd: the bias gradient of add_channel_fwd (dx += dy is op_accumulate):
//   b [C]:    db[c]    += sum_{n, hw} dy[n, c, hw]
//   b [N, C]: db[n, c] += sum_{hw}    dy[n, c, hw]
// dy [N, C, HW]. One block (norm.glsl: a reduction) per db entry b: `rows` runs of
// HWT texels, the first at texel b * HWT, the next row_stride texels on
// (b [C]: rows = N, row_stride = C * HWT; b [N, C]: rows = 1, and b = n * C + c).
// Deterministic without atomics: every entry is reduced by one invocation
// (REDUCE_INVOCATION, small blocks on CPU drivers), one subgroup or one workgroup
// (fixed subgroup order, norm.glsl's block_sum).
// constant_id 3 = VEC (floats per dy texel), 4 = REDUCE (norm.glsl).
layout(binding = 0) uniform samplerBuffer DY;
layout(binding = 1) buffer DB { float db[]; };
layout(push_constant) uniform P {
    uint nblocks, HWT, rows, row_stride;  // HWT, row_stride in texels
    uint off_dy, off_db;                  // elements from each binding's start
} p;

void main() {
    uint b = block_index();
    if (REDUCE == REDUCE_INVOCATION && b >= p.nblocks) return;  // other modes: one workgroup per block
    uint base = p.off_dy / VEC + b * p.HWT;
    vec4 s = vec4(0.0);
    for (uint r = 0; r < p.rows; r++, base += p.row_stride)
        for (uint i = block_lane(); i < p.HWT; i += BLOCK_STEP) s += load_vec(DY, base + i);
    float sum = block_sum(vec2(hsum(s), 0.0)).x;
    if (block_lane() == 0) db[p.off_db + b] += sum;
}
