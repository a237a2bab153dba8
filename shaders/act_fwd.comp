#version 450
#include "common.glsl"
#include "activation.glsl"
// act_fwd: y[i] = act(x[i]) for SiLU, exact GELU or quick_gelu.
// x, y: flat float[n]; one invocation per element (1-D grid, flat_index()).
// constant_id 3 = activation (ACT_*).
layout(constant_id = 3) const uint ACT = 0;
layout(binding = 0) readonly buffer X { float x[]; };
layout(binding = 1) writeonly buffer Y { float y[]; };
layout(push_constant) uniform P { uint n; } p;

void main() {
    uint i = flat_index();
    if (i < p.n) y[i] = act_forward(ACT, x[i]);
}
