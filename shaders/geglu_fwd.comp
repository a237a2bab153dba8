#version 450
#include "common.glsl"
#include "activation.glsl"
#include "layout.glsl"
// geglu_fwd (diffusers GEGLU): h, gate = x.chunk(2, -1); y = h * gelu(gate), exact GELU.
// x [R, 2D] row-major, y [R, D]: y[r, d] = x[r, d] * gelu(x[r, D + d]).
// One invocation per item of VEC floats of y, flat over R * DT items (1-D grid,
// flat_index()); the row comes from a division by the constant DT.
// constant_id 3 = VEC, 4 = DT = D / VEC (items per output row).
// Push: n = R * DT, off_in0 = x, off_out = y.
layout(constant_id = 4) const uint DT = 1;
layout(binding = 0) uniform samplerBuffer X;
OUTPUT_BUFFER(1, y)
FLAT_PUSH

void main() {
    uint i = flat_index();
    if (i >= p.n) return;
    uint row = i / DT, xi = p.off_in0 / VEC + i + row * DT;  // = row * 2DT + (i - row * DT)
    vec4 h = fetch(X, xi), g = fetch(X, xi + DT), r = vec4(0.0);
    for (uint k = 0; k < VEC; k++) r[k] = h[k] * act_forward(ACT_GELU, g[k]);
    STORE(y, p.off_out / VEC + i, r)
}
