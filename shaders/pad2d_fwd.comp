#version 450
#include "common.glsl"
#include "layout.glsl"
// pad2d_fwd: zero padding: y[nc, oh, ow] = x[nc, oh - TOP, ow - LEFT] inside x, else 0.
// x [N*C, H, W], y [N*C, OH, OW]. One invocation per element of y (1-D grid,
// flat_index()); every division is by a specialization constant (no runtime division).
// constant_id 3 = VEC (always 1 here), 4 = H, 5 = W, 6 = OH, 7 = OW, 8 = TOP, 9 = LEFT.
// Push: n = elements of y, off_in0 = x, off_out = y.
layout(constant_id = 4) const uint H = 1;
layout(constant_id = 5) const uint W = 1;
layout(constant_id = 6) const uint OH = 1;
layout(constant_id = 7) const uint OW = 1;
layout(constant_id = 8) const uint TOP = 0;
layout(constant_id = 9) const uint LEFT = 0;
layout(binding = 0) uniform samplerBuffer X;
OUTPUT_BUFFER(1, y)
FLAT_PUSH

void main() {
    uint i = flat_index();
    if (i >= p.n) return;
    uint ow = i % OW, t = i / OW, oh = t % OH, nc = t / OH;
    float v = 0.0;
    if (oh >= TOP && oh - TOP < H && ow >= LEFT && ow - LEFT < W)
        v = texelFetch(X, int(p.off_in0 + (nc * H + oh - TOP) * W + ow - LEFT)).x;
    y_s[p.off_out + i] = v;
}
