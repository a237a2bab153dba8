#version 450
#include "common.glsl"
#include "activation.glsl"
#include "norm.glsl"
// groupnorm_fwd: torch.nn.GroupNorm with a fused activation, saving the statistics:
//   z = (x - mean[n,g]) * rstd[n,g] * gamma[c] + beta[c];  y = act(z)
//   mean, rstd over the CPG * HW values of group (n, g) (biased variance, two-pass:
//   norm_stats); rstd = 1 / sqrt(var + eps).
// x, y [N, C, HW] (group (n, g) is the contiguous block of channels g*CPG .. +CPG of
//   sample n); gamma, beta [C]; mean, rstd [N, G].
// Mapping: block_index() (norm.glsl) = group n*G + g: one workgroup per group
//   (REDUCE_SUBGROUP/WORKGROUP; texel i of the group at invocation i % WG), or one
//   invocation per group (REDUCE_INVOCATION). Three reads of the group: mean,
//   centred sums, apply. x and y use VEC floats per texel (4 when HW and the
//   offsets are multiples of 4: a texel never spans two channels).
// Spec constants: 0..2 workgroup size (WG, 1, 1); 3 VEC; 4 REDUCE; 5 ACT (ACT_*).
layout(constant_id = 5) const uint ACT = ACT_NONE;

layout(binding = 0) uniform samplerBuffer X;      // VEC floats per texel
layout(binding = 1) uniform samplerBuffer GAMMA;  // R32F
layout(binding = 2) uniform samplerBuffer BETA;   // R32F
layout(binding = 3) writeonly buffer Y { float y[]; };
layout(binding = 3) writeonly buffer Y4 { vec4 y4[]; };
layout(binding = 4) writeonly buffer MEAN { float mean[]; };
layout(binding = 5) writeonly buffer RSTD { float rstd[]; };
layout(push_constant) uniform P {
    uint groups;       // N * G
    uint G, CPG, HWV;  // HWV = HW / VEC texels per channel
    float eps;
    uint off_x, off_g, off_b, off_y, off_mean, off_rstd;  // elements from the start of each binding
} p;

void main() {
    uint grp = block_index();
    if (grp >= p.groups) return;
    uint count = p.CPG * p.HWV, t0 = grp * count, c0 = (grp % p.G) * p.CPG;
    uint tx = p.off_x / VEC + t0, ty = p.off_y / VEC + t0;
    vec3 st = norm_stats(X, tx, count, p.eps);
    if (block_lane() == 0) {
        mean[p.off_mean + grp] = st.x + st.y;
        rstd[p.off_rstd + grp] = st.z;
    }
    float a, b;
    for (Walk w = walk_begin(p.HWV); w.i < count; walk_next(w)) {
        if (w.changed) {  // gamma, beta once per channel: loads are what costs on CPU drivers
            uint c = c0 + w.row;
            a = st.z * texelFetch(GAMMA, int(p.off_g + c)).x, b = texelFetch(BETA, int(p.off_b + c)).x;
        }
        vec4 z = ((load_vec(X, tx + w.i) - st.x) - st.y) * a + b;
        if (VEC == 4) y4[ty + w.i] = act_forward_vec(ACT, z);
        else y[ty + w.i] = act_forward(ACT, z.x);
    }
}
