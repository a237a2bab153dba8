#version 450
#include "common.glsl"
#include "layout.glsl"
// pad2d_bwd: dx[nc, h, w] += dy[nc, TOP + h, LEFT + w] (the gradient of pad2d_fwd).
// dy [N*C, OH, OW], dx [N*C, H, W]. One invocation per element of dx (1-D grid,
// flat_index()); divisions by specialization constants only.
// constant_id 3 = VEC (always 1 here), 4 = H, 5 = W, 6 = OH, 7 = OW, 8 = TOP, 9 = LEFT.
// Push: n = elements of dx, off_in0 = dy, off_out = dx.
layout(constant_id = 4) const uint H = 1;
layout(constant_id = 5) const uint W = 1;
layout(constant_id = 6) const uint OH = 1;
layout(constant_id = 7) const uint OW = 1;
layout(constant_id = 8) const uint TOP = 0;
layout(constant_id = 9) const uint LEFT = 0;
layout(binding = 0) uniform samplerBuffer DY;
OUTPUT_BUFFER(1, dx)
FLAT_PUSH

void main() {
    uint i = flat_index();
    if (i >= p.n) return;
    uint w = i % W, t = i / W, h = t % H, nc = t / H;
    dx_s[p.off_out + i] += texelFetch(DY, int(p.off_in0 + (nc * OH + TOP + h) * OW + LEFT + w)).x;
}
