#version 450
#include "common.glsl"
// mse_per_sample_bwd: dpred[n, i] += coef[n] * 2 (pred[n, i] - target[n, i]) / E
//   pred, target [N, E] through texel views of VEC floats per texel; dpred [N, E]
//   (storage, accumulated); coef [N] written on the GPU by the objective (read here,
//   never a push constant, so the recording replays with new coefficients).
// Mapping: workgroup row gl_WorkGroupID.y = sample n; invocation x of the row owns
//   texel x of the sample, then x + (row width), ... (rows wider than the 65535
//   workgroup limit loop). VEC = 4 needs E and every offset to be multiples of 4.
// Spec constants: 0..2 workgroup size (WG, 1, 1); 3 VEC (1 or 4).
layout(constant_id = 3) const uint VEC = 1;

layout(binding = 0) uniform samplerBuffer PRED;
layout(binding = 1) uniform samplerBuffer TARGET;
layout(binding = 2) readonly buffer COEF { float coef[]; };
layout(binding = 3) buffer DPRED { float dpred[]; };
layout(binding = 3) buffer DPRED4 { vec4 dpred4[]; };
layout(push_constant) uniform P {
    uint texels;     // per sample: E / VEC
    float two_over_e;  // 2 / E
    uint off_pred, off_target, off_dpred;  // texels from each binding's start
    uint off_coef;                         // elements
} p;

void main() {
    uint n = gl_WorkGroupID.y;
    float scale = coef[p.off_coef + n] * p.two_over_e;
    uint base = n * p.texels, row = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint i = gl_GlobalInvocationID.x; i < p.texels; i += row) {
        vec4 d = texelFetch(PRED, int(p.off_pred + base + i)) - texelFetch(TARGET, int(p.off_target + base + i));
        if (VEC == 4) dpred4[p.off_dpred + base + i] += scale * d;
        else dpred[p.off_dpred + base + i] += scale * d.x;
    }
}
