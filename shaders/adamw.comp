#version 450
#include "common.glsl"
#include "optim.glsl"
// adamw: one torch.optim.AdamW step (no amsgrad), the gradient first scaled by the
// clipping factor clip[1] of grad_norm_final when HAS_CLIP (0 there means the
// gradient norm was not finite: the step is skipped, nothing is written):
//   g' = g * clip[1];  m = b1 m + (1 - b1) g';  v = b2 v + (1 - b2) g'^2
//   p -= lr * wd * p;  p -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps)
//   (torch's order and grouping: decoupled decay first, then addcdiv with
//   step_size = lr / bc1 and denom = sqrt(v) / sqrt(bc2) + eps).
// lr = scalars[0], bc1 = scalars[1] = 1 - b1^t, bc2 = scalars[2] = 1 - b2^t are read
// from a GPU tensor the host rewrites before each replay (op_optim.h STEP_*), so
// the recording never changes; b1, b2, eps, wd are fixed for a run (push constants).
// param, m, v: flat float[n] storage, updated in place; grad [n]: texel view of VEC
// floats per texel; scalars, clip: R32F texel views.
// Mapping: invocation i (flat_index) owns texel i = elements [VEC i, VEC i + VEC);
//   with VEC = 4 (every offset a multiple of 4) a full texel is one vec4 load/store
//   per tensor and the last, partial texel is done element by element so nothing
//   past n is written.
// Spec constants: 0..2 workgroup size (WG, 1, 1); 3 VEC (1 or 4); 4 HAS_CLIP.
layout(constant_id = 3) const uint VEC = 1;
layout(constant_id = 4) const bool HAS_CLIP = false;

layout(binding = 0) buffer PARAM { float param[]; };
layout(binding = 0) buffer PARAM4 { vec4 param4[]; };
layout(binding = 1) uniform samplerBuffer GRAD;  // VEC floats per texel
layout(binding = 2) buffer M { float m[]; };
layout(binding = 2) buffer M4 { vec4 m4[]; };
layout(binding = 3) buffer V { float v[]; };
layout(binding = 3) buffer V4 { vec4 v4[]; };
layout(binding = 4) uniform samplerBuffer SCALARS;  // R32F
layout(binding = 5) uniform samplerBuffer CLIP;     // R32F, stats [2]; any view when !HAS_CLIP
layout(push_constant) uniform P {
    uint n;
    uint off_p, off_g, off_m, off_v;  // elements from each binding's start (multiples of 4 when VEC = 4)
    uint off_s, off_c;
    float beta1, beta2, one_minus_beta1, one_minus_beta2, eps, weight_decay;
} p;

struct Step { float gscale, decay, step_size, sqrt_bc2; };

void adamw(inout vec4 w, vec4 g, inout vec4 mm, inout vec4 vv, Step st) {
    g *= st.gscale;
    mm = p.beta1 * mm + p.one_minus_beta1 * g;
    vv = p.beta2 * vv + p.one_minus_beta2 * g * g;
    w *= st.decay;
    w -= st.step_size * mm / (sqrt(vv) / st.sqrt_bc2 + p.eps);
}

void main() {
    uint i = flat_index(), e0 = i * VEC;
    if (e0 >= p.n) return;
    float lr = texelFetch(SCALARS, int(p.off_s)).x;
    Step st;
    st.gscale = HAS_CLIP ? texelFetch(CLIP, int(p.off_c + 1)).x : 1.0;
    if (st.gscale == 0.0) return;
    st.decay = 1.0 - lr * p.weight_decay;
    st.step_size = lr / texelFetch(SCALARS, int(p.off_s + 1)).x;
    st.sqrt_bc2 = sqrt(texelFetch(SCALARS, int(p.off_s + 2)).x);
    if (VEC == 4 && e0 + 4 <= p.n) {
        uint tp = p.off_p / 4 + i, tm = p.off_m / 4 + i, tv = p.off_v / 4 + i;
        vec4 w = param4[tp], mm = m4[tm], vv = v4[tv];
        adamw(w, texelFetch(GRAD, int(p.off_g / 4 + i)), mm, vv, st);
        param4[tp] = w, m4[tm] = mm, v4[tv] = vv;
        return;
    }
    for (uint e = e0; e < min(e0 + VEC, p.n); e++) {
        vec4 w = vec4(param[p.off_p + e]), mm = vec4(m[p.off_m + e]), vv = vec4(v[p.off_v + e]);
        adamw(w, vec4(texel_element(GRAD, p.off_g + e, VEC)), mm, vv, st);
        param[p.off_p + e] = w.x, m[p.off_m + e] = mm.x, v[p.off_v + e] = vv.x;
    }
}
