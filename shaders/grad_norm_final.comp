#version 450
#include "common.glsl"
#include "reduce.glsl"
// grad_norm_final: second level of the global gradient norm:
//   stats[0] = sqrt(sum_i part[i]),  part [count] = every tensor's partial sums of
//   squares (grad_norm_partial) laid end to end, padding zeroed;
//   stats[1] = min(1, max_norm / (stats[0] + 1e-6))  (torch clip_grad_norm_), or 1
//   when max_norm <= 0 (no clipping). A non-finite norm gives stats[1] = 0, which
//   adamw reads as "skip this step": a bad gradient never reaches the weights or
//   the moments (torch would scale inf to 0 and apply NaN).
// Mapping: one workgroup; invocation l sums part[l], part[l + WG], ... (Kahan),
//   reduce_sum combines the invocations in a fixed order (deterministic).
// Spec constants: 0..2 workgroup size (WG, 1, 1); 3 REDUCE_MODE (SUBGROUP or WORKGROUP).
layout(binding = 0) readonly buffer PART { float part[]; };
layout(binding = 1) writeonly buffer STATS { float stats[]; };
layout(push_constant) uniform P {
    uint count;
    uint off_part, off_stats;  // elements from each binding's start
    float max_norm;
} p;

void main() {
    uint lane = reduce_lane();
    vec4 s = vec4(0.0), c = vec4(0.0);
    for (uint i = lane; i < p.count; i += REDUCE_STEP) kahan_add(s, c, vec4(part[p.off_part + i], 0.0, 0.0, 0.0));
    float total = reduce_sum(kahan_total(s, c));
    if (lane != 0) return;
    float norm = sqrt(total);
    float clip = p.max_norm > 0.0 ? min(1.0, p.max_norm / (norm + 1e-6)) : 1.0;
    if (isnan(norm) || isinf(norm)) clip = 0.0;
    stats[p.off_stats] = norm;
    stats[p.off_stats + 1] = clip;
}
