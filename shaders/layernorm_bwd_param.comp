#version 450
#include "common.glsl"
#include "activation.glsl"
#include "norm.glsl"
// layernorm_bwd_param: parameter gradients of layernorm_fwd, accumulated:
//   dgamma[d] += sum_r dy[r, d] * (x[r, d] - mean[r]) * rstd[r];  dbeta[d] += sum_r dy[r, d]
// x, dy [R, D]; mean, rstd [R]; dgamma, dbeta [D].
// Mapping: invocation x of the grid owns column texel j (VEC columns); the WY
//   invocations of a workgroup column (local y) take rows ly, ly + WY, ... and their
//   partial sums are added in the order ly = 0, 1, .. through shared memory, so the
//   result does not depend on scheduling (deterministic, no atomics). WY = 1 (CPU
//   drivers) needs neither shared memory nor a barrier.
// Spec constants: 0..2 workgroup size (WX, WY, 1); 3 VEC (norm.glsl's REDUCE is unused here).
layout(binding = 0) uniform samplerBuffer X;     // VEC floats per texel
layout(binding = 1) uniform samplerBuffer DY;    // VEC floats per texel
layout(binding = 2) uniform samplerBuffer MEAN;  // R32F
layout(binding = 3) uniform samplerBuffer RSTD;  // R32F
layout(binding = 4) buffer DGAMMA { float dgamma[]; };
layout(binding = 4) buffer DGAMMA4 { vec4 dgamma4[]; };
layout(binding = 5) buffer DBETA { float dbeta[]; };
layout(binding = 5) buffer DBETA4 { vec4 dbeta4[]; };
layout(push_constant) uniform P {
    uint R, DV;  // DV = D / VEC texels per row
    uint off_x, off_dy, off_mean, off_rstd, off_dg, off_db;  // elements from the start of each binding
} p;

const uint WY = gl_WorkGroupSize.y;
shared vec4 part_g[WY > 1 ? WG * WY : 1], part_b[WY > 1 ? WG * WY : 1];

void main() {
    uint j = gl_GlobalInvocationID.x, lx = gl_LocalInvocationID.x, ly = gl_LocalInvocationID.y;
    vec4 sg = vec4(0.0), sb = vec4(0.0);
    if (j < p.DV) {
        uint tx = p.off_x / VEC + ly * p.DV + j, tdy = p.off_dy / VEC + ly * p.DV + j, step = WY * p.DV;
        for (uint r = ly; r < p.R; r += WY, tx += step, tdy += step) {
            vec4 dy = load_vec(DY, tdy);
            sg += dy * (load_vec(X, tx) - texelFetch(MEAN, int(p.off_mean + r)).x) * texelFetch(RSTD, int(p.off_rstd + r)).x;
            sb += dy;
        }
    }
    if (WY > 1) {
        part_g[lx * WY + ly] = sg;
        part_b[lx * WY + ly] = sb;
        barrier();
        if (ly != 0) return;
        for (uint i = 1; i < WY; i++) sg += part_g[lx * WY + i], sb += part_b[lx * WY + i];
    }
    if (j >= p.DV) return;
    if (VEC == 4) {
        dgamma4[p.off_dg / 4 + j] += sg;
        dbeta4[p.off_db / 4 + j] += sb;
    } else {
        dgamma[p.off_dg + j] += sg.x;
        dbeta[p.off_db + j] += sb.x;
    }
}
