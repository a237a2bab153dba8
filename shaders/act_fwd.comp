#version 450
#include "common.glsl"
#include "activation.glsl"
#include "layout.glsl"
// act_fwd: y[i] = act(x[i]) for SiLU, exact GELU, quick_gelu or the identity.
// x, y: flat float[n * VEC]; one invocation per item of VEC floats (1-D grid,
// flat_index()). constant_id 3 = VEC, 4 = activation (ACT_*).
layout(constant_id = 4) const uint ACT = 0;
layout(binding = 0) uniform samplerBuffer X;
OUTPUT_BUFFER(1, y)
FLAT_PUSH

void main() {
    uint i = flat_index();
    if (i >= p.n) return;
    vec4 x = fetch(X, p.off_in0 / VEC + i), r = vec4(0.0);
    for (uint k = 0; k < VEC; k++) r[k] = act_forward(ACT, x[k]);
    STORE(y, p.off_out / VEC + i, r)
}
