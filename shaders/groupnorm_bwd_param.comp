#version 450
#include "common.glsl"
#include "activation.glsl"
#include "norm.glsl"
// groupnorm_bwd_param: parameter gradients of groupnorm_fwd, accumulated:
//   xhat = (x - mean[n,g]) * rstd[n,g];  dz = dy * act'(xhat * gamma[c] + beta[c]);
//   dgamma[c] += sum_{n,hw} dz * xhat;  dbeta[c] += sum_{n,hw} dz
// x, dy [N, C, HW]; gamma, beta, dgamma, dbeta [C]; mean, rstd [N, G].
// Mapping: block_index() = channel c (a workgroup or an invocation per channel, as
//   groupnorm_fwd), walking the N x HW values of channel c (rows n of HWV texels,
//   C * HWV texels apart) and reducing both sums with block_sum: deterministic,
//   no atomics. VEC as groupnorm_fwd.
// Spec constants: 0..2 workgroup size (WG, 1, 1); 3 VEC; 4 REDUCE; 5 ACT (ACT_NONE: beta unused).
layout(constant_id = 5) const uint ACT = ACT_NONE;

layout(binding = 0) uniform samplerBuffer X;      // VEC floats per texel
layout(binding = 1) uniform samplerBuffer DY;     // VEC floats per texel
layout(binding = 2) uniform samplerBuffer MEAN;   // R32F
layout(binding = 3) uniform samplerBuffer RSTD;   // R32F
layout(binding = 4) uniform samplerBuffer GAMMA;  // R32F
layout(binding = 5) uniform samplerBuffer BETA;   // R32F
layout(binding = 6) buffer DGAMMA { float dgamma[]; };
layout(binding = 7) buffer DBETA { float dbeta[]; };
layout(push_constant) uniform P {
    uint N, C, G, CPG, HWV;  // HWV = HW / VEC texels per channel
    uint off_x, off_dy, off_mean, off_rstd, off_g, off_b, off_dg, off_db;  // elements from the start of each binding
} p;

void main() {
    uint c = block_index();
    if (c >= p.C) return;
    uint g = c / p.CPG, count = p.N * p.HWV, row = p.C * p.HWV;
    uint tx = p.off_x / VEC + c * p.HWV, tdy = p.off_dy / VEC + c * p.HWV;
    float gm = texelFetch(GAMMA, int(p.off_g + c)).x, bt = ACT != ACT_NONE ? texelFetch(BETA, int(p.off_b + c)).x : 0.0;
    vec4 sg = vec4(0.0), sb = vec4(0.0);
    float mu, rs;
    for (Walk w = walk_begin(p.HWV); w.i < count; walk_next(w)) {
        if (w.changed) {  // statistics once per sample n = w.row
            uint s = w.row * p.G + g;
            mu = texelFetch(MEAN, int(p.off_mean + s)).x, rs = texelFetch(RSTD, int(p.off_rstd + s)).x;
        }
        uint t = w.row * row + w.r;
        vec4 xhat = (load_vec(X, tx + t) - mu) * rs;
        vec4 dz = load_vec(DY, tdy + t);
        if (ACT != ACT_NONE) dz *= act_derivative_vec(ACT, xhat * gm + bt);
        sg += dz * xhat;
        sb += dz;
    }
    vec2 sum = block_sum(vec2(hsum(used(sg)), hsum(sb)));
    if (block_lane() == 0) {
        dgamma[p.off_dg + c] += sum.x;
        dbeta[p.off_db + c] += sum.y;
    }
}
