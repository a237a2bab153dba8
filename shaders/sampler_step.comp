#version 450
#include "common.glsl"
// sampler_step: one DDPM / DDIM / Euler step in DDPM space, with optional
// classifier-free guidance (src/model/schedule.h gives the algebra):
//   out = CFG ? u + scale (c - u) : model_out,  u = model_out[i], c = model_out[n + i]
//   x0  = p x + q out;  if clip: x0 = clamp(x0, -range, range), eps = (x - sa x0) / sb
//   else eps = r x + s out
//   x  <- cx0 x0 + ceps eps + cx x + cnoise z
// x, noise: float[n]; model_out: float[2n] with CFG (unconditional half first), else float[n];
// coef: the SamplerStep floats written by the host before each replay (see op_sample.h).
// One invocation per element. constant_id 3 = CFG (0/1).
layout(constant_id = 3) const uint CFG = 0;
layout(binding = 0) buffer X { float x[]; };
layout(binding = 1) readonly buffer O { float model_out[]; };
layout(binding = 2) readonly buffer Z { float noise[]; };
layout(binding = 3) readonly buffer K { float k[]; };
layout(push_constant) uniform P { uint n; float scale; } p;

void main() {
    uint i = flat_index();
    if (i >= p.n) return;
    float out_v = model_out[i];
    if (CFG != 0) out_v = out_v + p.scale * (model_out[p.n + i] - out_v);
    float xi = x[i];
    // k: 0 p, 1 q, 2 r, 3 s, 4 sa, 5 sb, 6 cx0, 7 ceps, 8 cx, 9 cnoise, 10 clip, 11 clip_range
    float x0 = k[0] * xi + k[1] * out_v;
    float eps;
    if (k[10] != 0.0) {
        x0 = clamp(x0, -k[11], k[11]);
        eps = (xi - k[4] * x0) / k[5];
    } else {
        eps = k[2] * xi + k[3] * out_v;
    }
    x[i] = k[6] * x0 + k[7] * eps + k[8] * xi + k[9] * noise[i];
}
