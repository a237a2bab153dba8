#version 450
#include "common.glsl"
#include "layout.glsl"
// embedding_fwd: y[r, :] = table[ids[r], :]; rows with ids[r] >= V get zeros.
// ids: R uint32 (storage), table [V, D] (texel view), y [R, D]. One invocation per
// item of VEC floats of y, flat over R * DT items (1-D grid, flat_index()); the row
// comes from a division by the constant DT.
// constant_id 3 = VEC (4 needs D % 4 == 0), 4 = DT = D / VEC.
layout(constant_id = 4) const uint DT = 1;
layout(binding = 0) readonly buffer IDS { uint ids[]; };
layout(binding = 1) uniform samplerBuffer TABLE;
OUTPUT_BUFFER(2, y)
layout(push_constant) uniform P {
    uint n, V;                        // R * DT items; table rows
    uint off_ids, off_table, off_y;   // elements from each binding's start
} p;

void main() {
    uint i = flat_index();
    if (i >= p.n) return;
    uint row = i / DT, col = i - row * DT, id = ids[p.off_ids + row];
    vec4 v = id < p.V ? fetch(TABLE, p.off_table / VEC + id * DT + col) : vec4(0.0);
    STORE(y, p.off_y / VEC + i, v)
}
