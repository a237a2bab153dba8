// op_common.c: see op_common.h.
#include "ops/op_common.h"

#include "util/check.h"

static Operand operand_aligned(const Tensor* t, VkDeviceSize align) {
    if (align < sizeof(float)) align = sizeof(float);
    Operand o = {.view = *t};
    VkDeviceSize lo = t->offset / align * align;
    o.off = (uint32_t)((t->offset - lo) / sizeof(float));
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

Reduce reduce_for(const GpuContext* g, int64_t texels) {
    uint32_t sg = g->subgroup_size;
    if (!g->tune.use_shared_memory)
        return texels <= 64 ? (Reduce){REDUCE_INVOCATION, sg, sg} : (Reduce){REDUCE_SUBGROUP, sg, 1};
    Reduce r = {REDUCE_WORKGROUP, sg, 1};
    while (r.wg < 256 && r.wg < texels) r.wg *= 2;
    return r;
}
