#version 450
#include "common.glsl"
#include "activation.glsl"
#include "layout.glsl"
// act_bwd: dx[i] += dy[i] * act'(x[i]).
// x, dy, dx: flat float[n * VEC]; one invocation per item of VEC floats (1-D grid,
// flat_index()). constant_id 3 = VEC, 4 = activation (ACT_*).
layout(constant_id = 4) const uint ACT = 0;
layout(binding = 0) uniform samplerBuffer X;
layout(binding = 1) uniform samplerBuffer DY;
OUTPUT_BUFFER(2, dx)
FLAT_PUSH

void main() {
    uint i = flat_index();
    if (i >= p.n) return;
    vec4 x = fetch(X, p.off_in0 / VEC + i), r = vec4(0.0);
    for (uint k = 0; k < VEC; k++) r[k] = act_derivative(ACT, x[k]);
    ACCUM(dx, p.off_out / VEC + i, fetch(DY, p.off_in1 / VEC + i) * r)
}
