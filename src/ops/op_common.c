// op_common.c: see op_common.h.
#include "ops/op_common.h"

#include "util/check.h"

static Operand operand_aligned(const Tensor* t, VkDeviceSize align) {
    if (align < sizeof(float)) align = sizeof(float);
    Operand o = {.view = *t};
    VkDeviceSize lo = t->offset / align * align;
    o.off = (uint32_t)((t->offset - lo) / dtype_bytes(t->dtype));
    o.view.offset = lo;
    o.view.ndim = 1;
    o.view.shape[0] = tensor_numel(t) + o.off;
    return o;
}

Operand operand(Cmd* c, const Tensor* t, bool texel) {
    const VkPhysicalDeviceLimits* L = &c->gpu->props.limits;
    return operand_aligned(t, texel ? L->minTexelBufferOffsetAlignment : L->minStorageBufferOffsetAlignment);
}

Operand operand_both(Cmd* c, const Tensor* t) {
    const VkPhysicalDeviceLimits* L = &c->gpu->props.limits;
    VkDeviceSize a = L->minTexelBufferOffsetAlignment, b = L->minStorageBufferOffsetAlignment;
    return operand_aligned(t, a > b ? a : b);
}

bool tensors_overlap(const Tensor* a, const Tensor* b) {
    return a->buf == b->buf && a->offset < b->offset + tensor_bytes(b) && b->offset < a->offset + tensor_bytes(a);
}

bool tensors_same(const Tensor* a, const Tensor* b) {
    return a->buf == b->buf && a->offset == b->offset && tensor_numel(a) == tensor_numel(b);
}

void check_numel(const char* op, const char* what, const Tensor* t, int64_t n) {
    if (!t) die("%s: %s is NULL", op, what);
    if (tensor_numel(t) != n)
        die("%s: %s has %lld elements, expected %lld", op, what, (long long)tensor_numel(t), (long long)n);
}

// Loop iterations of `passes` strided sweeps over a block of `texels` by one of
// `wg` invocations, and of the two subgroup-sum loops of REDUCE_WORKGROUP.
static int64_t reduce_cost(const GpuContext* g, int64_t texels, int64_t passes, uint32_t wg, ReduceMode mode) {
    int64_t cost = passes * (div_up(texels, mode == REDUCE_INVOCATION ? 1 : wg) + 1);
    if (mode == REDUCE_WORKGROUP) cost += 2 * (wg / g->subgroup_size + 1);
    return cost;
}

bool within_loop_budget(const GpuContext* g, int64_t iterations) {
    return g->tune.loop_budget == 0 || iterations <= (int64_t)g->tune.loop_budget;
}

Reduce reduce_for(const GpuContext* g, const char* op, int64_t texels, int64_t passes) {
    uint32_t sg = g->subgroup_size;
    if (!g->tune.use_shared_memory) {
        Reduce r = {REDUCE_INVOCATION, sg, sg};
        if (texels <= 64 && within_loop_budget(g, reduce_cost(g, texels, passes, 1, r.mode))) return r;
        r = (Reduce){REDUCE_SUBGROUP, sg, 1};
        if (within_loop_budget(g, reduce_cost(g, texels, passes, sg, r.mode))) return r;
        // Too long for one subgroup under the loop budget: a workgroup of several
        // subgroups (barriers, so only where it must).
        r.mode = REDUCE_WORKGROUP;
        for (r.wg = 2 * sg; !within_loop_budget(g, reduce_cost(g, texels, passes, r.wg, r.mode)); r.wg *= 2)
            if (2 * r.wg > g->props.limits.maxComputeWorkGroupInvocations)
                die("%s: a block of %lld texels needs more loop iterations per invocation than this driver runs "
                    "(%u); split the input", op, (long long)texels, g->tune.loop_budget);
        return r;
    }
    Reduce r = {REDUCE_WORKGROUP, sg, 1};
    while (r.wg < 256 && r.wg < texels) r.wg *= 2;
    return r;
}

uint32_t loop_ways(const GpuContext* g, const char* op, int64_t trips, uint32_t ways, uint32_t max_ways) {
    while (!within_loop_budget(g, div_up(trips, ways) + ways + 3)) {
        if (2 * ways > max_ways)
            die("%s: %lld loop iterations per invocation are more than this driver runs (%u); split the input", op,
                (long long)trips, g->tune.loop_budget);
        ways *= 2;
    }
    return ways;
}

uint32_t max_local_y(const GpuContext* g, uint32_t wx) {
    const VkPhysicalDeviceLimits* L = &g->props.limits;
    uint32_t y = L->maxComputeWorkGroupInvocations / wx;
    return y < L->maxComputeWorkGroupSize[1] ? y : L->maxComputeWorkGroupSize[1];
}

void check_loop_budget(const GpuContext* g, const char* op, int64_t iterations, const char* what) {
    if (!within_loop_budget(g, iterations))
        die("%s: %s need %lld loop iterations per invocation, more than this driver runs (%u)", op, what,
            (long long)iterations, g->tune.loop_budget);
}
