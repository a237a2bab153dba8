#version 450
#include "common.glsl"
#include "layout.glsl"
// add: y = a + b, elementwise. a, b, y: flat float[n * VEC] (items of VEC floats).
// One invocation per item, 1-D grid (flat_index()). constant_id 3 = VEC.
// y may be a or b: each invocation reads its item before writing it.
layout(binding = 0) uniform samplerBuffer A;
layout(binding = 1) uniform samplerBuffer B;
OUTPUT_BUFFER(2, y)
FLAT_PUSH

void main() {
    uint i = flat_index();
    if (i >= p.n) return;
    vec4 v = fetch(A, p.off_in0 / VEC + i) + fetch(B, p.off_in1 / VEC + i);
    STORE(y, p.off_out / VEC + i, v)
}
