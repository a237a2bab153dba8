#version 450
#include "common.glsl"
#include "activation.glsl"
// act_bwd: dx[i] += dy[i] * act'(x[i]).
// x, dy, dx: flat float[n]; one invocation per element. constant_id 3 = activation.
layout(constant_id = 3) const uint ACT = 0;
layout(binding = 0) readonly buffer X { float x[]; };
layout(binding = 1) readonly buffer DY { float dy[]; };
layout(binding = 2) buffer DX { float dx[]; };
layout(push_constant) uniform P { uint n; } p;

void main() {
    uint i = flat_index();
    if (i < p.n) dx[i] += dy[i] * act_derivative(ACT, x[i]);
}
