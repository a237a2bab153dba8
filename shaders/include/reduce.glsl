// reduce.glsl: deterministic sums for any subgroup size (lavapipe 8, GPUs 32/64,
// some drivers vary it per pipeline), and a compensated (Kahan) accumulator for the
// long per-invocation loops that come before them. No float atomics anywhere: the
// same inputs give the same bits on every run of a device.
// Include after common.glsl (which declares the workgroup size). 1-D workgroups.
//
// Spec constant REDUCE_CONSTANT_ID (define it before the include; default 3) = REDUCE_MODE:
#define REDUCE_INVOCATION 0  // one invocation owns the whole block: nothing to combine
#define REDUCE_SUBGROUP 1    // the workgroup is exactly one subgroup: subgroupAdd, no barrier
#define REDUCE_WORKGROUP 2   // any number of subgroups: subgroupAdd, then the subgroup sums
                             // in subgroup order through shared memory
// The first two are for CPU drivers: a barrier anywhere in a shader makes llvmpipe
// run the invocations as coroutines (PERFORMANCE.md), so the shared-memory path is
// compiled out by the constant there. The host guarantees WG = subgroup size for
// REDUCE_SUBGROUP (VkPhysicalDeviceSubgroupProperties; fixed on CPU drivers) and uses
// REDUCE_WORKGROUP, which counts the subgroups at run time, everywhere else.
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require

#ifndef REDUCE_CONSTANT_ID
#define REDUCE_CONSTANT_ID 3
#endif
layout(constant_id = REDUCE_CONSTANT_ID) const uint REDUCE_MODE = REDUCE_WORKGROUP;

// Stride between the items one invocation visits in a block, and its first item.
const uint REDUCE_STEP = REDUCE_MODE == REDUCE_INVOCATION ? 1 : gl_WorkGroupSize.x;
uint reduce_lane() { return REDUCE_MODE == REDUCE_INVOCATION ? 0 : gl_LocalInvocationID.x; }

// Index of the block this invocation works on, from a 1-D grid flattened over x
// and y (grid_1d): a workgroup per block, or an invocation per block.
uint reduce_block() {
    uint wg = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    return REDUCE_MODE == REDUCE_INVOCATION ? wg * gl_WorkGroupSize.x + gl_LocalInvocationID.x : wg;
}

// One entry per subgroup (a subgroup has at least one invocation).
shared float reduce_partial[REDUCE_MODE == REDUCE_WORKGROUP ? gl_WorkGroupSize.x : 1];

// Sum of v over the invocations of the block, returned to every one of them. With
// REDUCE_SUBGROUP/WORKGROUP every invocation of the workgroup must call it in
// uniform control flow. The leading barrier lets a second call reuse
// reduce_partial once every invocation has read the first call's values. NaN and
// inf propagate (plain adds).
float reduce_sum(float v) {
    if (REDUCE_MODE == REDUCE_INVOCATION) return v;
    v = subgroupAdd(v);
    if (REDUCE_MODE == REDUCE_SUBGROUP || gl_NumSubgroups == 1) return v;
    barrier();
    if (subgroupElect()) reduce_partial[gl_SubgroupID] = v;
    barrier();
    v = 0.0;
    for (uint s = 0; s < gl_NumSubgroups; s++) v += reduce_partial[s];
    return v;
}

// Compensated summation, four independent lanes: the total is sum - comp. A plain
// fp32 loop over k items loses up to k ulps; this one stays near 1 ulp whatever the
// length (a CPU driver's invocation visits thousands of items). `precise` keeps the
// compiler from simplifying (t - sum) - y to 0, which fast-math rules would allow.
// A non-finite item makes the total NaN or inf.
void kahan_add(inout vec4 sum, inout vec4 comp, vec4 x) {
    precise vec4 y = x - comp;
    precise vec4 t = sum + y;
    precise vec4 e = (t - sum) - y;
    comp = e;
    sum = t;
}

// The four lanes of a compensated sum as one float.
float kahan_total(vec4 sum, vec4 comp) {
    vec4 s = sum - comp;
    return (s.x + s.y) + (s.z + s.w);
}
