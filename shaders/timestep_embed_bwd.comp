#version 450
#include "common.glsl"
#include "layout_timestep.glsl"
// timestep_embed_bwd: dt[n] += sum_j f_j (g_sin[n, j] cos a - g_cos[n, j] sin a),
// a = t[n] f_j, where g_sin / g_cos are the entries of dy [N, 2 nhalf] at the sin and
// cos positions (j and nhalf + j, swapped by FLIP). t, dy: texel views (R32F).
// One invocation per n (1-D grid, flat_index()), summing over j in order.
layout(binding = 0) uniform samplerBuffer T;
layout(binding = 1) uniform samplerBuffer DY;
layout(binding = 2) buffer DT { float dt[]; };

void main() {
    uint n = flat_index();
    if (n >= p.N) return;
    float t = texelFetch(T, int(p.off_t + n)).x, s = 0.0;
    uint o = p.off_y + n * 2 * p.nhalf;
    for (uint j = 0; j < p.nhalf; j++) {
        float f = timestep_freq(j);
        vec2 sc = sincos_reduced(t * f);
        float g0 = texelFetch(DY, int(o + j)).x, g1 = texelFetch(DY, int(o + p.nhalf + j)).x;
        float gs = FLIP ? g1 : g0, gc = FLIP ? g0 : g1;
        s += f * (gs * sc.y - gc * sc.x);
    }
    dt[p.off_dt + n] += s;
}
