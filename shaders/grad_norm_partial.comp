#version 450
#include "common.glsl"
#include "reduce.glsl"
// grad_norm_partial: first level of the global gradient norm (see grad_norm_final):
//   part[w] = sum of g[e]^2 over e in [w * CHUNK, min((w + 1) * CHUNK, n))
//   for one gradient tensor g [n] (a texel view of VEC floats per texel; VEC = 4
//   needs only a texel-aligned start: the components of the last texel past n are
//   masked out), and part[w] = 0 for partials <= w < count (padding up to the next
//   tensor's region, so the final pass reads one contiguous range).
// Mapping: workgroup w (flat over x and y, grid_1d) owns partial w; invocation l
//   visits texels l, l + WG, ... of the chunk, four per iteration, into a
//   compensated sum; reduce_sum then combines the invocations in a fixed order. No
//   atomics: the same recording gives the same bits every replay. NaN/inf in g
//   make part[w] non-finite.
// Spec constants: 0..2 workgroup size (WG, 1, 1); 3 REDUCE_MODE (SUBGROUP or
//   WORKGROUP); 4 VEC (1 or 4); 5 CHUNK (elements per partial, a multiple of 4).
layout(constant_id = 4) const uint VEC = 1;
layout(constant_id = 5) const uint CHUNK = 16384;

layout(binding = 0) uniform samplerBuffer G;
layout(binding = 1) writeonly buffer PART { float part[]; };
layout(push_constant) uniform P {
    uint n;         // elements of g
    uint off_g;     // elements from the view's start to g[0] (a multiple of 4 when VEC = 4)
    uint off_part;  // elements from the binding's start to part[0]
    uint partials;  // ceil(n / CHUNK): workgroups that sum
    uint count;     // entries of part to write (partials + padding)
} p;

void main() {
    uint w = reduce_block();
    if (w >= p.partials) return;  // whole workgroups: reduce_sum stays uniform
    uint lane = reduce_lane(), e1 = min(w * CHUNK + CHUNK, p.n);
    vec4 s = vec4(0.0), c = vec4(0.0);
    // Whole texels in the loop; the tensor's last, partial texel (VEC = 4) after it.
    uint full = VEC == 4 ? min(e1, p.n & ~3u) : e1;
    // UNROLL texels per iteration (squares added pairwise, then one compensated
    // add): the loop overhead, not the fetch, bounds this loop on lavapipe (2x
    // faster than one texel per iteration).
    const uint STEP = VEC * REDUCE_STEP, UNROLL = 4;
    uint e = w * CHUNK + VEC * lane;
    for (; e + (UNROLL - 1) * STEP < full; e += UNROLL * STEP) {
        vec4 q[UNROLL];
        [[unroll]] for (uint k = 0; k < UNROLL; k++) {
            vec4 x = texelFetch(G, int((p.off_g + e + k * STEP) / VEC));
            if (VEC == 1) x = vec4(x.x, 0.0, 0.0, 0.0);
            q[k] = x * x;
        }
        kahan_add(s, c, (q[0] + q[1]) + (q[2] + q[3]));
    }
    for (; e < full; e += STEP) {
        vec4 x = texelFetch(G, int((p.off_g + e) / VEC));
        if (VEC == 1) x = vec4(x.x, 0.0, 0.0, 0.0);
        kahan_add(s, c, x * x);
    }
    if (VEC == 4 && e1 == p.n && full < e1 && lane == 0) {
        // mix() with a bool mask selects, so garbage (even NaN) past the end never enters.
        vec4 x = texelFetch(G, int((p.off_g + full) / 4));
        x = mix(vec4(0.0), x, lessThan(uvec4(full) + uvec4(0, 1, 2, 3), uvec4(p.n)));
        kahan_add(s, c, x * x);
    }
    float total = reduce_sum(kahan_total(s, c));
    if (lane == 0) part[p.off_part + w] = total;
    if (w == 0)
        for (uint i = p.partials + lane; i < p.count; i += REDUCE_STEP) part[p.off_part + i] = 0.0;
}
