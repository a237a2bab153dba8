#version 450
#include "common.glsl"
#include "layout_timestep.glsl"
// timestep_embed_fwd: a = t[n] f_j (layout_timestep.glsl), j < nhalf:
//   y[n, j] = sin a, y[n, nhalf + j] = cos a   (FLIP: cos a, sin a).
// t [N] (R32F view), y [N, 2 nhalf]. Grid: x = j (1-D workgroups), y = n: one
// invocation per (n, j) writes both y entries of its angle.
layout(binding = 0) uniform samplerBuffer T;
layout(binding = 1) writeonly buffer Y { float y[]; };

void main() {
    uint j = gl_GlobalInvocationID.x, n = gl_WorkGroupID.y;
    if (j >= p.nhalf) return;
    vec2 sc = sincos_reduced(texelFetch(T, int(p.off_t + n)).x * timestep_freq(j));
    uint o = p.off_y + n * 2 * p.nhalf + j;
    y[o] = FLIP ? sc.y : sc.x;
    y[o + p.nhalf] = FLIP ? sc.x : sc.y;
}
