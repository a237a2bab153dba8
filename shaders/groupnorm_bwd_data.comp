#version 450
#include "common.glsl"
#include "activation.glsl"
#include "norm.glsl"
// groupnorm_bwd_data: input gradient of groupnorm_fwd, accumulated:
//   xhat = (x - mean[n,g]) * rstd[n,g];  z = xhat * gamma[c] + beta[c] (recomputed);
//   dz = dy * act'(z);  dxhat = dz * gamma[c];
//   dx += rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))   (means over group (n, g))
// x, dy, dx [N, C, HW]; gamma, beta [C]; mean, rstd [N, G] from the forward.
// Mapping: block_index() = group n*G + g, as groupnorm_fwd; pass 1 reduces the two
//   means over the group, pass 2 recomputes dxhat and xhat and updates dx.
//   VEC floats per texel as groupnorm_fwd.
// Spec constants: 0..2 workgroup size (WG, 1, 1); 3 VEC; 4 REDUCE; 5 ACT (ACT_NONE: beta unused).
layout(constant_id = 5) const uint ACT = ACT_NONE;

layout(binding = 0) uniform samplerBuffer X;      // VEC floats per texel
layout(binding = 1) uniform samplerBuffer DY;     // VEC floats per texel
layout(binding = 2) uniform samplerBuffer MEAN;   // R32F
layout(binding = 3) uniform samplerBuffer RSTD;   // R32F
layout(binding = 4) uniform samplerBuffer GAMMA;  // R32F
layout(binding = 5) uniform samplerBuffer BETA;   // R32F
layout(binding = 6) buffer DX { float dx[]; };
layout(binding = 6) buffer DX4 { vec4 dx4[]; };
layout(push_constant) uniform P {
    uint groups;       // N * G
    uint G, CPG, HWV;  // HWV = HW / VEC texels per channel
    uint off_x, off_dy, off_mean, off_rstd, off_g, off_b, off_dx;  // elements from the start of each binding
} p;

uint tx, tdy, c0;
float mu, rs, gm, bt;

// xhat and dxhat of texel w.i of the block (padding components: dxhat = 0);
// gamma and beta are loaded once per channel.
void grads_at(Walk w, out vec4 xhat, out vec4 dxhat) {
    if (w.changed) {
        uint c = c0 + w.row;
        gm = texelFetch(GAMMA, int(p.off_g + c)).x;
        if (ACT != ACT_NONE) bt = texelFetch(BETA, int(p.off_b + c)).x;
    }
    xhat = (load_vec(X, tx + w.i) - mu) * rs;
    vec4 dz = load_vec(DY, tdy + w.i);
    if (ACT != ACT_NONE) dz *= act_derivative_vec(ACT, xhat * gm + bt);
    dxhat = dz * gm;
}

void main() {
    uint grp = block_index();
    if (grp >= p.groups) return;
    uint count = p.CPG * p.HWV, t0 = grp * count;
    c0 = (grp % p.G) * p.CPG;
    tx = p.off_x / VEC + t0, tdy = p.off_dy / VEC + t0;
    mu = texelFetch(MEAN, int(p.off_mean + grp)).x, rs = texelFetch(RSTD, int(p.off_rstd + grp)).x;
    vec4 xhat, dxhat, s1 = vec4(0.0), s2 = vec4(0.0);
    for (Walk w = walk_begin(p.HWV); w.i < count; walk_next(w)) {
        grads_at(w, xhat, dxhat);
        s1 += dxhat;
        s2 += dxhat * xhat;
    }
    vec2 m = block_sum(vec2(hsum(s1), hsum(s2))) / float(count * VEC);
    uint tdx = p.off_dx / VEC + t0;
    for (Walk w = walk_begin(p.HWV); w.i < count; walk_next(w)) {
        grads_at(w, xhat, dxhat);
        vec4 d = rs * (dxhat - m.x - xhat * m.y);
        if (VEC == 4) dx4[tdx + w.i] += d;
        else dx[tdx + w.i] += d.x;
    }
}
