#version 450
#include "common.glsl"
// col_sum: y[n] (+)= sum_r x[r, n]   (bias gradients: db = column sums of dy)
//   x [R, N] row-major (texel view, VEC floats per texel), y [N].
// Mapping: invocation x of the grid owns VEC consecutive columns; the WY
//   invocations of a workgroup column (local y) take rows ly, ly + WY, ... and
//   their partial sums are added in the order ly = 0, 1, .. through shared memory,
//   so the result does not depend on scheduling (deterministic). WY = 1 (CPU
//   drivers) needs neither shared memory nor a barrier.
// Spec constants: 0..2 workgroup size (WX, WY, 1); 3 VEC (1 or 4; 4 needs N and
//   off_x multiples of 4); 4 ACCUMULATE.
layout(constant_id = 3) const uint VEC = 1;
layout(constant_id = 4) const bool ACCUMULATE = false;

layout(binding = 0) uniform samplerBuffer X;
layout(binding = 1) buffer Y { float y[]; };
layout(push_constant) uniform P {
    uint R, N;
    uint off_x, off_y;  // elements from the start of each binding
} p;

const uint WY = gl_WorkGroupSize.y;
shared vec4 partial[WY > 1 ? gl_WorkGroupSize.x * WY : 1];

void main() {
    uint n = gl_GlobalInvocationID.x * VEC, ly = gl_LocalInvocationID.y;
    vec4 s = vec4(0.0);
    if (n < p.N) {
        uint e = p.off_x + ly * p.N + n, step = WY * p.N;
        for (uint r = ly; r < p.R; r += WY, e += step)
            s += VEC == 4 ? texelFetch(X, int(e >> 2)) : vec4(texelFetch(X, int(e)).x, 0.0, 0.0, 0.0);
    }
    if (WY > 1) {
        partial[gl_LocalInvocationID.x * WY + ly] = s;
        barrier();
        if (ly != 0) return;
        for (uint i = 1; i < WY; i++) s += partial[gl_LocalInvocationID.x * WY + i];
    }
    if (n >= p.N) return;
    [[unroll]] for (uint v = 0; v < VEC; v++) {
        uint e = p.off_y + n + v;
        y[e] = ACCUMULATE ? y[e] + s[v] : s[v];
    }
}
