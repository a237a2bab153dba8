#version 450
#include "common.glsl"
#include "layout.glsl"
// upsample2x_fwd: nearest 2x: y[n, c, 2h + a, 2w + b] = x[n, c, h, w], a, b in {0, 1}.
// x [N, C, H, W], y [N, C, 2H, 2W]. One invocation per item of VEC floats of x
// (1-D grid, flat_index()), which writes its 2 x 2VEC block of y. Rows of all
// planes are consecutive, so input element e in global row r = e / W, column w
// lands in output rows 2r, 2r + 1 at column 2w: element 2r * 2W + 2w = 4e - 2w.
// The division is by the constant W: no runtime division.
// constant_id 3 = VEC (4 needs W % 4 == 0), 4 = W. Push: n items, off_in0 = x, off_out = y.
layout(constant_id = 4) const uint W = 1;
layout(binding = 0) uniform samplerBuffer X;
OUTPUT_BUFFER(1, y)
FLAT_PUSH

void main() {
    uint i = flat_index();
    if (i >= p.n) return;
    uint e = i * VEC, w = e - (e / W) * W;
    uint o = p.off_out + 4 * e - 2 * w;  // element of y[.., 2h, 2w]
    vec4 v = fetch(X, p.off_in0 / VEC + i);
    if (VEC == 4) {
        uint t = o / 4, t2 = (o + 2 * W) / 4;
        y_v[t] = v.xxyy, y_v[t + 1] = v.zzww;
        y_v[t2] = v.xxyy, y_v[t2 + 1] = v.zzww;
    } else {
        y_s[o] = v.x, y_s[o + 1] = v.x;
        y_s[o + 2 * W] = v.x, y_s[o + 2 * W + 1] = v.x;
    }
}
