#version 450
#include "common.glsl"
#include "layout.glsl"
// scale: y = alpha * x (op_scale), or y += alpha * x when ACCUMULATE (op_accumulate).
// x, y: flat float[n * VEC] (items of VEC floats); one invocation per item, 1-D grid
// (flat_index()). constant_id 3 = VEC, 4 = ACCUMULATE.
// y may be x (op_scale): each invocation reads its item before writing it.
layout(constant_id = 4) const bool ACCUMULATE = false;
layout(binding = 0) uniform samplerBuffer X;
OUTPUT_BUFFER(1, y)
FLAT_PUSH

void main() {
    uint i = flat_index();
    if (i >= p.n) return;
    WRITE(y, p.off_out / VEC + i, p.alpha * fetch(X, p.off_in0 / VEC + i), ACCUMULATE)
}
