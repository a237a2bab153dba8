#version 450
#include "common.glsl"
#include "layout.glsl"
// tokens_transpose: batched transpose dst[n, s, r] = src[n, r, s] (dst += with
// ACCUMULATE): src [N, R, S], dst [N, S, R]. nchw -> tokens is R = C, S = HW;
// tokens -> nchw is R = HW, S = C.
// Grid: x = column block s / VEC of src (consecutive invocations read consecutive
// texels of a src row), y = row block r / VEC, z = n; 2-D workgroups. With VEC = 4
// an invocation moves a 4 x 4 block: 4 texel reads, 4 vec4 writes; no division.
// constant_id 3 = VEC (4 needs R % 4 == 0 and S % 4 == 0), 4 = ACCUMULATE.
layout(constant_id = 4) const bool ACCUMULATE = false;
layout(binding = 0) uniform samplerBuffer SRC;
OUTPUT_BUFFER(1, dst)
layout(push_constant) uniform P {
    uint R, S;              // src rows and columns per sample
    uint off_src, off_dst;  // elements from each binding's start
} p;

void main() {
    uint s = gl_GlobalInvocationID.x * VEC, r = gl_GlobalInvocationID.y * VEC, n = gl_WorkGroupID.z;
    if (s >= p.S || r >= p.R) return;
    uint si = (p.off_src + (n * p.R + r) * p.S + s) / VEC;  // item of src[n, r, s]
    uint di = (p.off_dst + (n * p.S + s) * p.R + r) / VEC;  // item of dst[n, s, r]
    if (VEC == 4) {
        uint ss = p.S / 4, rs = p.R / 4;
        vec4 a0 = fetch(SRC, si), a1 = fetch(SRC, si + ss), a2 = fetch(SRC, si + 2 * ss), a3 = fetch(SRC, si + 3 * ss);
        WRITE(dst, di, vec4(a0.x, a1.x, a2.x, a3.x), ACCUMULATE)
        WRITE(dst, di + rs, vec4(a0.y, a1.y, a2.y, a3.y), ACCUMULATE)
        WRITE(dst, di + 2 * rs, vec4(a0.z, a1.z, a2.z, a3.z), ACCUMULATE)
        WRITE(dst, di + 3 * rs, vec4(a0.w, a1.w, a2.w, a3.w), ACCUMULATE)
    } else {
        WRITE(dst, di, fetch(SRC, si), ACCUMULATE)
    }
}
