#version 450
#include "common.glsl"
#include "layout.glsl"
// concat_bwd: da[n] += dy[n, :CA], db[n] += dy[n, CA:] (shapes as concat_fwd; runs of
// LA and LB items per sample). One invocation per item of VEC floats.
// Grid: x, y flattened over max(LA, LB) items (of the wanted parts), z = n * NPARTS
// + part: part 0 is da, part 1 db, uniform over a workgroup (see concat_fwd).
// constant_id 3 = VEC, 4 = HAS_A, 5 = HAS_B (a NULL gradient has no part in the
// grid; its binding holds dy and is never touched).
layout(constant_id = 4) const bool HAS_A = true;
layout(constant_id = 5) const bool HAS_B = true;
const uint NPARTS = HAS_A && HAS_B ? 2 : 1;
layout(binding = 0) uniform samplerBuffer DY;
OUTPUT_BUFFER(1, da)
OUTPUT_BUFFER(2, db)
layout(push_constant) uniform P {
    uint LA, LB;                  // items per sample of a and b
    uint off_dy, off_da, off_db;  // elements from each binding's start
} p;

void main() {
    uint k = flat_index(), n = gl_WorkGroupID.z / NPARTS;
    uint part = HAS_A && HAS_B ? gl_WorkGroupID.z & 1 : (HAS_A ? 0 : 1);
    uint yi = p.off_dy / VEC + n * (p.LA + p.LB) + k;
    if (part == 0) {
        if (k < p.LA) ACCUM(da, p.off_da / VEC + n * p.LA + k, fetch(DY, yi))
    } else {
        if (k < p.LB) ACCUM(db, p.off_db / VEC + n * p.LB + k, fetch(DY, yi + p.LA))
    }
}
