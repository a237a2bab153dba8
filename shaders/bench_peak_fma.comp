#version 450
#include "common.glsl"
// bench_peak_fma: the device's fp32 FMA ceiling, the same-run baseline of
// `vkpref bench ops`. Each invocation runs ITERS x 8 independent vec4 FMA chains
// in registers (2 * 4 * 8 * ITERS flops) and writes one value so nothing is
// optimised away. constant_id 3 = ITERS.
layout(constant_id = 3) const uint ITERS = 1024;
layout(binding = 0) writeonly buffer Y { float y[]; };
layout(push_constant) uniform P { float seed; } p;

void main() {
    vec4 a[8];
    [[unroll]] for (int j = 0; j < 8; j++) a[j] = vec4(p.seed * float(j + 1) + float(gl_GlobalInvocationID.x));
    const vec4 m = vec4(0.999999), c = vec4(1e-7);
    for (uint i = 0; i < ITERS; i++)
        [[unroll]] for (int j = 0; j < 8; j++) a[j] = fma(a[j], m, c);
    vec4 s = a[0] + a[1] + a[2] + a[3] + a[4] + a[5] + a[6] + a[7];
    y[gl_GlobalInvocationID.x] = s.x + s.y + s.z + s.w;
}
