// op_common.c: see op_common.h.
#include "ops/op_common.h"

#include "util/check.h"

Operand operand(Cmd* c, const Tensor* t, bool texel) {
    const VkPhysicalDeviceLimits* L = &c->gpu->props.limits;
    VkDeviceSize align = texel ? L->minTexelBufferOffsetAlignment : L->minStorageBufferOffsetAlignment;
    Operand o = {.view = *t};
    VkDeviceSize lo = t->offset / align * align;
    o.off = (uint32_t)((t->offset - lo) / sizeof(float));
    o.view.offset = lo;
    o.view.ndim = 1;
    o.view.shape[0] = tensor_numel(t) + o.off;
    return o;
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
