#version 450
#include "common.glsl"
#include "reduce.glsl"
// mse_per_sample_fwd: mse[n] = (1/E) sum_i (pred[n, i] - target[n, i])^2
//   pred, target [N, E] (E = all elements of a sample, C*H*W), read through texel
//   views of VEC floats per texel (4 when E and both offsets are multiples of 4);
//   mse [N].
// Mapping: reduce_block() (reduce.glsl) = sample n: one workgroup per sample
//   (REDUCE_SUBGROUP/WORKGROUP; texel i of the sample at invocation i % WG), or one
//   invocation per sample (REDUCE_INVOCATION, small samples on CPU drivers). Each
//   invocation keeps a compensated (Kahan) sum of its squares, then reduce_sum adds
//   the invocations in a fixed order: deterministic, accurate to a few ulps.
// Spec constants: 0..2 workgroup size (WG, 1, 1); 3 REDUCE_MODE; 4 VEC (1 or 4).
layout(constant_id = 4) const uint VEC = 1;

layout(binding = 0) uniform samplerBuffer PRED;
layout(binding = 1) uniform samplerBuffer TARGET;
layout(binding = 2) writeonly buffer MSE { float mse[]; };
layout(push_constant) uniform P {
    uint N;
    uint texels;    // per sample: E / VEC
    float inv_e;    // 1 / E
    uint off_pred, off_target, off_mse;  // texels (pred, target) / elements (mse) from each binding's start
} p;

vec4 load(samplerBuffer t, uint i) {
    vec4 v = texelFetch(t, int(i));
    return VEC == 4 ? v : vec4(v.x, 0.0, 0.0, 0.0);
}

void main() {
    uint n = reduce_block();
    // Whole workgroups leave together, so reduce_sum stays in uniform control flow.
    if (n >= p.N) return;
    uint tp = p.off_pred + n * p.texels, tt = p.off_target + n * p.texels;
    vec4 s = vec4(0.0), c = vec4(0.0);
    for (uint i = reduce_lane(); i < p.texels; i += REDUCE_STEP) {
        vec4 d = load(PRED, tp + i) - load(TARGET, tt + i);
        kahan_add(s, c, d * d);
    }
    float total = reduce_sum(kahan_total(s, c));
    if (reduce_lane() == 0) mse[p.off_mse + n] = total * p.inv_e;
}
