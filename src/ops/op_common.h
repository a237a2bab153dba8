// op_common.h: helpers every op wrapper shares (binding views, shape checks).
#pragma once
#include "gpu/cmd.h"

// Views must start at the device's offset alignment, but a tensor (a slice, say)
// may not: bind from the aligned offset at or below it and pass the distance in
// elements to the shader.
typedef struct Operand {
    Tensor view;   // 1-D, from the aligned offset to the tensor's end
    uint32_t off;  // elements from the view's start to the tensor's first element
} Operand;

Operand operand(Cmd* c, const Tensor* t, bool texel);
// Aligned for both texel and storage views (a tensor bound both ways).
Operand operand_both(Cmd* c, const Tensor* t);
static inline Operand tex(Cmd* c, const Tensor* t) { return operand(c, t, true); }
static inline Operand sto(Cmd* c, const Tensor* t) { return operand(c, t, false); }

// Push constants of the flat kernels: FLAT_PUSH of shaders/include/layout.glsl.
#define FLAT_PUSH_FIELDS(X) \
    X(uint32_t, n) X(uint32_t, off_in0) X(uint32_t, off_in1) X(uint32_t, off_out) X(float, alpha)
PUSH_STRUCT(FlatPush, FLAT_PUSH_FIELDS)

bool tensors_overlap(const Tensor* a, const Tensor* b);
bool tensors_same(const Tensor* a, const Tensor* b);
// dies "<op>: <what> has N elements, expected n"
void check_numel(const char* op, const char* what, const Tensor* t, int64_t n);

// Who reduces a block (a group, a row, a sample): the REDUCE_* modes of
// shaders/include/norm.glsl and reduce.glsl.
typedef enum { REDUCE_INVOCATION = 0, REDUCE_SUBGROUP = 1, REDUCE_WORKGROUP = 2 } ReduceMode;
typedef struct Reduce {
    ReduceMode mode;
    uint32_t wg;             // invocations per workgroup
    uint32_t per_workgroup;  // blocks per workgroup
} Reduce;
// GPUs: a workgroup per block, the power of two covering its texels, from one
// subgroup up to 256. CPU drivers: one subgroup per block (subgroupAdd, no
// barrier), or one invocation per block when it has at
// most 64 texels (cross-lane sums would cost more than the block; layer norm at
// D = 64 ran 2x faster on lavapipe that way); blocks too long for one subgroup
// under the loop budget (GpuTuning.loop_budget) get as many subgroups as keep
// each invocation's `passes` sweeps over the block within it (dies naming `op`
// beyond the largest workgroup).
Reduce reduce_for(const GpuContext* g, const char* op, int64_t texels, int64_t passes);

// True when `iterations` loop iterations per invocation are within the device's
// loop budget (always on drivers without one).
bool within_loop_budget(const GpuContext* g, int64_t iterations);

// The number of invocations, from `ways` doubling up to max_ways, that share a
// loop of `trips` iterations (each takes every ways-th, then ways partial sums
// are combined) so that each stays within the loop budget; dies naming `op`
// beyond max_ways.
uint32_t loop_ways(const GpuContext* g, const char* op, int64_t trips, uint32_t ways, uint32_t max_ways);
// The largest workgroup height for workgroups wx wide (the device's limits).
uint32_t max_local_y(const GpuContext* g, uint32_t wx);
// Dies "<op>: <what> need N loop iterations per invocation, ..." past the loop
// budget: for kernels whose loops are bounded by a dimension no model comes near.
void check_loop_budget(const GpuContext* g, const char* op, int64_t iterations, const char* what);
