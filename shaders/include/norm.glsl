// norm.glsl: helpers shared by the group norm and layer norm shaders: block sums
// in three reduction modes (any subgroup size), loads of 1 or 4 floats per texel,
// the block statistics (corrected two-pass mean and variance) and a division-free
// walk over a [rows][len] block. Include after common.glsl and activation.glsl.
// A "block" is what one reduction covers: a group (n, g), a row, a channel.
// Spec constants: 3 VEC (floats per texel of every x-shaped binding: 1 or 4);
// 4 REDUCE (below). 1-D workgroups of WG invocations.
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require

// Who reduces a block:
#define REDUCE_INVOCATION 0  // one invocation owns the whole block: no cross-invocation sums
#define REDUCE_SUBGROUP 1    // a workgroup of exactly one subgroup: subgroupAdd, no barrier
#define REDUCE_WORKGROUP 2   // a workgroup of one or more subgroups: subgroupAdd + shared memory
// The first two are for CPU drivers: a barrier anywhere in a shader makes
// llvmpipe run the invocations as coroutines, and removing the (unexecuted)
// shared-memory path made lavapipe's layer norm 3x faster. The host guarantees
// WG = subgroup size for REDUCE_SUBGROUP.
layout(constant_id = 3) const uint VEC = 1;
layout(constant_id = 4) const uint REDUCE = REDUCE_WORKGROUP;
const uint WG = gl_WorkGroupSize.x;
// Stride between the texels one invocation visits in a block.
const uint BLOCK_STEP = REDUCE == REDUCE_INVOCATION ? 1 : WG;

shared vec2 norm_partial[REDUCE == REDUCE_WORKGROUP ? WG : 1];

// Index of the block (or, with several blocks per worker, of the worker) this
// invocation works on, from a 1-D grid flattened over x and y.
uint block_index() {
    uint wg = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    return REDUCE == REDUCE_INVOCATION ? wg * WG + gl_LocalInvocationID.x : wg;
}

// First texel of a block this invocation visits (then every BLOCK_STEP-th).
uint block_lane() { return REDUCE == REDUCE_INVOCATION ? 0 : gl_LocalInvocationID.x; }

// Sum of v over the invocations sharing the block, returned to each of them;
// with REDUCE_SUBGROUP/WORKGROUP every invocation of the workgroup must call it in
// uniform control flow. Several subgroups add their subgroup sums in subgroup
// order through shared memory, so the result is the same every run (no atomics);
// the leading barrier lets a second call reuse norm_partial once every invocation
// has read the first call's values.
vec2 block_sum(vec2 v) {
    if (REDUCE == REDUCE_INVOCATION) return v;
    v = subgroupAdd(v);
    if (REDUCE == REDUCE_SUBGROUP || gl_NumSubgroups == 1) return v;
    barrier();
    if (subgroupElect()) norm_partial[gl_SubgroupID] = v;
    barrier();
    v = vec2(0.0);
    for (uint s = 0; s < gl_NumSubgroups; s++) v += norm_partial[s];
    return v;
}

// Texel i of a view of VEC floats per texel; the unused components are 0.
vec4 load_vec(samplerBuffer t, uint i) {
    vec4 v = texelFetch(t, int(i));
    return VEC == 4 ? v : vec4(v.x, 0.0, 0.0, 0.0);
}

// Only the first VEC components of v (so padding never enters a sum).
vec4 used(vec4 v) { return VEC == 4 ? v : vec4(v.x, 0.0, 0.0, 0.0); }

float hsum(vec4 v) { return (v.x + v.y) + (v.z + v.w); }

vec4 act_forward_vec(uint act, vec4 z) {
    return vec4(act_forward(act, z.x), act_forward(act, z.y), act_forward(act, z.z), act_forward(act, z.w));
}
vec4 act_derivative_vec(uint act, vec4 z) {
    return vec4(act_derivative(act, z.x), act_derivative(act, z.y), act_derivative(act, z.z), act_derivative(act, z.w));
}

// Statistics of the `count` texels (count * VEC floats) of X from texel t0, by the
// corrected two-pass algorithm (Chan, Golub & LeVeque): pass 1 gives a mean m1,
// pass 2 sums d = x - m1 and d^2; then mean = m1 + dm with dm = sum d / n, and
// var = sum d^2 / n - dm^2 (biased, as torch) has no catastrophic cancellation when
// |mean| >> std, unlike E[x^2] - E[x]^2. Returns (m1, dm, rstd = 1 / sqrt(var + eps)).
// Compute x - mean as (x - m1) - dm: x - m1 is exact for x near m1 (Sterbenz),
// so xhat keeps full fp32 precision even where the mean itself does not.
vec3 norm_stats(samplerBuffer X, uint t0, uint count, float eps) {
    float n = float(count * VEC);
    vec4 s = vec4(0.0);
    for (uint i = block_lane(); i < count; i += BLOCK_STEP) s += load_vec(X, t0 + i);
    float m1 = block_sum(vec2(hsum(s), 0.0)).x / n;
    vec4 a = vec4(0.0), q = vec4(0.0);
    for (uint i = block_lane(); i < count; i += BLOCK_STEP) {
        vec4 d = used(load_vec(X, t0 + i) - m1);
        a += d;
        q += d * d;
    }
    vec2 r = block_sum(vec2(hsum(a), hsum(q))) / n;
    return vec3(m1, r.x, inversesqrt(max(r.y - r.x * r.x, 0.0) + eps));
}

// Walk over the texels i = block_lane(), + BLOCK_STEP, ... of a block stored
// [rows][len], tracking the row (a channel, or a batch index) and position r of
// texel i with one division at the start instead of one per step (a runtime
// division runs per lane on CPU drivers). `changed` says the row differs from the
// previous step's (true at the start): per-row values are loaded once per row
// where BLOCK_STEP < len.
struct Walk {
    uint i, row, r;
    uint len, drow, dr;  // BLOCK_STEP = drow * len + dr
    bool changed;
};

Walk walk_begin(uint len) {
    Walk w;
    w.i = block_lane();
    w.len = len;
    w.row = w.i / len;
    w.r = w.i - w.row * len;
    w.drow = BLOCK_STEP / len;
    w.dr = BLOCK_STEP - w.drow * len;
    w.changed = true;
    return w;
}

void walk_next(inout Walk w) {
    w.i += BLOCK_STEP;
    w.row += w.drow;
    w.r += w.dr;
    w.changed = w.drow != 0;
    if (w.r >= w.len) {
        w.r -= w.len;
        w.row++;
        w.changed = true;
    }
}
