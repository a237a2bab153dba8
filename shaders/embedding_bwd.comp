#version 450
#include "common.glsl"
#include "layout.glsl"
// embedding_bwd: dtable[ids[r], :] += dy[r, :] for r = 0 .. R - 1 in order (ids >= V
// are skipped). ids: R uint32 (storage), dy [R, D] (texel view), dtable [V, D].
// Deterministic without atomics: one invocation per column item (VEC floats) of
// dtable, 1-D grid over DT = D / VEC items, each applying every row in order, so
// repeated ids accumulate in the same order every run and no two invocations
// touch the same float.
// constant_id 3 = VEC (4 needs D % 4 == 0).
layout(binding = 0) readonly buffer IDS { uint ids[]; };
layout(binding = 1) uniform samplerBuffer DY;
OUTPUT_BUFFER(2, dt)
layout(push_constant) uniform P {
    uint R, DT, V;                  // rows of dy, items per row, table rows
    uint off_ids, off_dy, off_dt;   // elements from each binding's start
} p;

void main() {
    uint col = flat_index();
    if (col >= p.DT) return;
    uint yi = p.off_dy / VEC + col, ti = p.off_dt / VEC + col;
    for (uint r = 0; r < p.R; r++, yi += p.DT) {
        uint id = ids[p.off_ids + r];
        if (id < p.V) ACCUM(dt, ti + id * p.DT, fetch(DY, yi))
    }
}
