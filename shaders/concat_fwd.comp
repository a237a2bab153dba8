#version 450
#include "common.glsl"
#include "layout.glsl"
// concat_fwd: y = cat(a, b, dim=1): y[n] = (a[n], b[n]) as consecutive runs of
// LA = CA * HW / VEC and LB = CB * HW / VEC items (a [N, CA, HW], b [N, CB, HW],
// y [N, CA + CB, HW]). One invocation per item of VEC floats.
// Grid: x, y flattened (flat_index()) over max(LA, LB) items, z = 2n + part, part 0
// copying a[n] and part 1 b[n]. The part is uniform over a workgroup, so a CPU
// driver branches instead of running both fetches under a mask; no division.
// constant_id 3 = VEC (4 needs CA * HW and CB * HW multiples of 4).
layout(binding = 0) uniform samplerBuffer A;
layout(binding = 1) uniform samplerBuffer B;
OUTPUT_BUFFER(2, y)
layout(push_constant) uniform P {
    uint LA, LB;              // items per sample of a and b
    uint off_a, off_b, off_y; // elements from each binding's start
} p;

void main() {
    uint k = flat_index(), n = gl_WorkGroupID.z >> 1, part = gl_WorkGroupID.z & 1;
    uint yi = p.off_y / VEC + n * (p.LA + p.LB) + k;
    if (part == 0) {
        if (k < p.LA) STORE(y, yi, fetch(A, p.off_a / VEC + n * p.LA + k))
    } else {
        if (k < p.LB) STORE(y, yi + p.LA, fetch(B, p.off_b / VEC + n * p.LB + k))
    }
}
