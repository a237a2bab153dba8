#version 450
#include "common.glsl"
#include "layout.glsl"
// add_channel_fwd: y[n, c, hw] = x[n, c, hw] + b[c]      (b [C], PER_N false)
//                             or x[n, c, hw] + b[n, c]   (b [N, C], PER_N true).
// x, y [N, C, HW] (y may be x: each invocation reads its item before writing it);
// b is read one float at a time (R32F view). One invocation per item of VEC floats,
// flat over N * C * HWT items (1-D grid, flat_index()); the plane n * C + c of an
// item comes from a division by the constant HWT, the channel from a modulo by the
// constant C, so the index math has no runtime division.
// constant_id 3 = VEC, 4 = HWT = HW / VEC (items per plane), 5 = C, 6 = PER_N.
// Push: n items, off_in0 = x, off_in1 = b, off_out = y.
layout(constant_id = 4) const uint HWT = 1;
layout(constant_id = 5) const uint C = 1;
layout(constant_id = 6) const bool PER_N = false;
layout(binding = 0) uniform samplerBuffer X;
layout(binding = 1) uniform samplerBuffer B;
OUTPUT_BUFFER(2, y)
FLAT_PUSH

void main() {
    uint i = flat_index();
    if (i >= p.n) return;
    uint plane = i / HWT;
    float b = texelFetch(B, int(p.off_in1 + (PER_N ? plane : plane % C))).x;
    STORE(y, p.off_out / VEC + i, fetch(X, p.off_in0 / VEC + i) + b)
}
