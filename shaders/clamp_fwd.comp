#version 450
#include "common.glsl"
#include "layout.glsl"
// clamp_fwd: y = min(max(x, LO), HI) with NaN passed through (torch.clamp); x, y:
// flat float[n * VEC]; one invocation per item, 1-D grid (flat_index()).
// constant_id 3 = VEC. Push: n items, off_in0 = x, off_out = y (off_in1 unused), lo, hi.
// y may be x: each invocation reads its item before writing it.
layout(binding = 0) uniform samplerBuffer X;
OUTPUT_BUFFER(1, y)
layout(push_constant) uniform P {
    uint n, off_in0, off_in1, off_out;
    float lo, hi;
} p;

void main() {
    uint i = flat_index();
    if (i >= p.n) return;
    vec4 x = fetch(X, p.off_in0 / VEC + i);
    // Comparisons with NaN are false: a NaN element keeps its value.
    vec4 v = mix(mix(x, vec4(p.lo), lessThan(x, vec4(p.lo))), vec4(p.hi), greaterThan(x, vec4(p.hi)));
    STORE(y, p.off_out / VEC + i, v)
}
