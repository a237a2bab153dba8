#version 450
#include "common.glsl"
#include "activation.glsl"
#include "norm.glsl"
// layernorm_fwd: torch.nn.LayerNorm over the last dimension, saving the statistics:
//   y[r, d] = (x[r, d] - mean[r]) * rstd[r] * gamma[d] + beta[d]
//   mean, rstd over the D values of row r (biased variance, two-pass: norm_stats).
// x, y [R, D]; gamma, beta [D]; mean, rstd [R].
// Mapping: worker w = block_index() (norm.glsl) normalizes rows w*RPW .. w*RPW+RPW-1
//   one after the other. GPUs: a workgroup per row (RPW = 1, REDUCE_WORKGROUP,
//   texel i of the row at invocation i % WG). CPU drivers: an invocation per
//   worker (REDUCE_INVOCATION: no cross-lane sums, which cost more than short rows
//   of D = 64) and RPW > 1, as each workgroup costs ~0.15 us there. x, y, gamma,
//   beta use VEC floats per texel (4 when D and the offsets are multiples of 4).
// Spec constants: 0..2 workgroup size (WG, 1, 1); 3 VEC; 4 REDUCE.
layout(binding = 0) uniform samplerBuffer X;      // VEC floats per texel
layout(binding = 1) uniform samplerBuffer GAMMA;  // VEC floats per texel
layout(binding = 2) uniform samplerBuffer BETA;   // VEC floats per texel
layout(binding = 3) writeonly buffer Y { float y[]; };
layout(binding = 3) writeonly buffer Y4 { vec4 y4[]; };
layout(binding = 4) writeonly buffer MEAN { float mean[]; };
layout(binding = 5) writeonly buffer RSTD { float rstd[]; };
layout(push_constant) uniform P {
    uint R, DV, RPW;  // DV = D / VEC texels per row; RPW rows per worker
    float eps;
    uint off_x, off_g, off_b, off_y, off_mean, off_rstd;  // elements from the start of each binding
} p;

void main() {
    uint first = block_index() * p.RPW;
    uint end = min(p.R, first + p.RPW), tg = p.off_g / VEC, tb = p.off_b / VEC;
    for (uint row = first; row < end; row++) {
        uint tx = p.off_x / VEC + row * p.DV, ty = p.off_y / VEC + row * p.DV;
        vec3 st = norm_stats(X, tx, p.DV, p.eps);
        if (block_lane() == 0) {
            mean[p.off_mean + row] = st.x + st.y;
            rstd[p.off_rstd + row] = st.z;
        }
        for (uint i = block_lane(); i < p.DV; i += BLOCK_STEP) {
            vec4 z = ((load_vec(X, tx + i) - st.x) - st.y) * st.z * texelFetch(GAMMA, int(tg + i)) +
                     texelFetch(BETA, int(tb + i));
            if (VEC == 4) y4[ty + i] = z;
            else y[ty + i] = z.x;
        }
    }
}
