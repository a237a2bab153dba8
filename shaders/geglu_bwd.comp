#version 450
#include "common.glsl"
#include "activation.glsl"
#include "layout.glsl"
// geglu_bwd: for y[r, d] = h * gelu(g), h = x[r, d], g = x[r, D + d]:
//   dx[r, d] += dy[r, d] * gelu(g);  dx[r, D + d] += dy[r, d] * h * gelu'(g).
// x, dx [R, 2D], dy [R, D]. One invocation per item of VEC floats of dy, flat over
// R * DT items (1-D grid); it owns both dx items it updates.
// constant_id 3 = VEC, 4 = DT = D / VEC. Push: n = R * DT, off_in0 = x, off_in1 = dy, off_out = dx.
layout(constant_id = 4) const uint DT = 1;
layout(binding = 0) uniform samplerBuffer X;
layout(binding = 1) uniform samplerBuffer DY;
OUTPUT_BUFFER(2, dx)
FLAT_PUSH

void main() {
    uint i = flat_index();
    if (i >= p.n) return;
    uint row = i / DT, xi = i + row * DT;  // item of x[r, d] relative to the tensor start
    vec4 h = fetch(X, p.off_in0 / VEC + xi), g = fetch(X, p.off_in0 / VEC + xi + DT);
    vec4 dy = fetch(DY, p.off_in1 / VEC + i), gelu = vec4(0.0), dgelu = vec4(0.0);
    for (uint k = 0; k < VEC; k++) {
        gelu[k] = act_forward(ACT_GELU, g[k]);
        dgelu[k] = act_derivative(ACT_GELU, g[k]);
    }
    uint o = p.off_out / VEC + xi;
    ACCUM(dx, o, dy * gelu)
    ACCUM(dx, o + DT, dy * h * dgelu)
}
