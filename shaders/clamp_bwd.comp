#version 450
#include "common.glsl"
#include "layout.glsl"
// clamp_bwd: dx += dy where lo <= x <= hi, else nothing (torch.clamp's gradient).
// x, dy, dx: flat float[n * VEC]; one invocation per item, 1-D grid (flat_index()).
// constant_id 3 = VEC. Push: n items, off_in0 = x, off_in1 = dy, off_out = dx, lo, hi.
layout(binding = 0) uniform samplerBuffer X;
layout(binding = 1) uniform samplerBuffer DY;
OUTPUT_BUFFER(2, dx)
layout(push_constant) uniform P {
    uint n, off_in0, off_in1, off_out;
    float lo, hi;
} p;

void main() {
    uint i = flat_index();
    if (i >= p.n) return;
    vec4 x = fetch(X, p.off_in0 / VEC + i), g = fetch(DY, p.off_in1 / VEC + i);
    bvec4 pass = bvec4(uvec4(greaterThanEqual(x, vec4(p.lo))) & uvec4(lessThanEqual(x, vec4(p.hi))));
    ACCUM(dx, p.off_out / VEC + i, mix(vec4(0.0), g, pass))
}
