#version 450
#include "common.glsl"
#include "activation.glsl"
#include "norm.glsl"
// layernorm_bwd_data: input gradient of layernorm_fwd, accumulated:
//   xhat = (x - mean[r]) * rstd[r];  dxhat = dy * gamma[d];
//   dx += rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))   (means over row r)
// x, dy, dx [R, D]; gamma [D]; mean, rstd [R] from the forward.
// Mapping: as layernorm_fwd (worker w = block_index() takes rows w*RPW ..
//   w*RPW+RPW-1): pass 1 reduces the two means of a row, pass 2 updates dx.
// Spec constants: 0..2 workgroup size (WG, 1, 1); 3 VEC; 4 REDUCE.
layout(binding = 0) uniform samplerBuffer X;      // VEC floats per texel
layout(binding = 1) uniform samplerBuffer DY;     // VEC floats per texel
layout(binding = 2) uniform samplerBuffer MEAN;   // R32F
layout(binding = 3) uniform samplerBuffer RSTD;   // R32F
layout(binding = 4) uniform samplerBuffer GAMMA;  // VEC floats per texel
layout(binding = 5) buffer DX { float dx[]; };
layout(binding = 5) buffer DX4 { vec4 dx4[]; };
layout(push_constant) uniform P {
    uint R, DV, RPW;  // DV = D / VEC texels per row; RPW rows per worker
    uint off_x, off_dy, off_mean, off_rstd, off_g, off_dx;  // elements from the start of each binding
} p;

void main() {
    uint first = block_index() * p.RPW;
    uint end = min(p.R, first + p.RPW), tg = p.off_g / VEC;
    for (uint row = first; row < end; row++) {
        uint tx = p.off_x / VEC + row * p.DV, tdy = p.off_dy / VEC + row * p.DV, tdx = p.off_dx / VEC + row * p.DV;
        float mu = texelFetch(MEAN, int(p.off_mean + row)).x, rs = texelFetch(RSTD, int(p.off_rstd + row)).x;
        vec4 s1 = vec4(0.0), s2 = vec4(0.0);
        for (uint i = block_lane(); i < p.DV; i += BLOCK_STEP) {
            vec4 dxhat = load_vec(DY, tdy + i) * texelFetch(GAMMA, int(tg + i));
            s1 += dxhat;
            s2 += dxhat * (load_vec(X, tx + i) - mu) * rs;
        }
        vec2 m = block_sum(vec2(hsum(s1), hsum(s2))) / float(p.DV * VEC);
        for (uint i = block_lane(); i < p.DV; i += BLOCK_STEP) {
            vec4 dxhat = load_vec(DY, tdy + i) * texelFetch(GAMMA, int(tg + i));
            vec4 d = rs * (dxhat - m.x - (load_vec(X, tx + i) - mu) * rs * m.y);
            if (VEC == 4) dx4[tdx + i] += d;
            else dx[tdx + i] += d.x;
        }
    }
}
