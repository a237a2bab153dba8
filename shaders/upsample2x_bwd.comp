#version 450
#include "common.glsl"
#include "layout.glsl"
// upsample2x_bwd: dx[n, c, h, w] += sum_{a, b in {0, 1}} dy[n, c, 2h + a, 2w + b].
// dy [N, C, 2H, 2W], dx [N, C, H, W]. One invocation per item of VEC floats of dx
// (1-D grid, flat_index()), reading its 2 x 2VEC block of dy; index math as in
// upsample2x_fwd (division by the constant W only).
// constant_id 3 = VEC (4 needs W % 4 == 0), 4 = W. Push: n items, off_in0 = dy, off_out = dx.
layout(constant_id = 4) const uint W = 1;
layout(binding = 0) uniform samplerBuffer DY;
OUTPUT_BUFFER(1, dx)
FLAT_PUSH

void main() {
    uint i = flat_index();
    if (i >= p.n) return;
    uint e = i * VEC, w = e - (e / W) * W;
    uint o = p.off_in0 + 4 * e - 2 * w;  // element of dy[.., 2h, 2w]
    vec4 g;
    if (VEC == 4) {
        uint t = o / 4, t2 = (o + 2 * W) / 4;
        vec4 a = fetch(DY, t), b = fetch(DY, t + 1), c = fetch(DY, t2), d = fetch(DY, t2 + 1);
        g = vec4(a.x + a.y, a.z + a.w, b.x + b.y, b.z + b.w) + vec4(c.x + c.y, c.z + c.w, d.x + d.y, d.z + d.w);
    } else {
        g = vec4((fetch(DY, o).x + fetch(DY, o + 1).x) + (fetch(DY, o + 2 * W).x + fetch(DY, o + 2 * W + 1).x));
    }
    ACCUM(dx, p.off_out / VEC + i, g)
}
