// op_eltwise.c: elementwise activations (SiLU, exact GELU, quick_gelu).
#include "ops/ops.h"
#include "util/check.h"

static void check_same(const char* op, const Tensor* a, const Tensor* b) {
    if (tensor_numel(a) != tensor_numel(b))
        die("%s: tensors of %lld and %lld elements", op, (long long)tensor_numel(a), (long long)tensor_numel(b));
}

void op_act_forward(Cmd* c, const Tensor* y, const Tensor* x, Activation act) {
    check_same("op_act_forward", y, x);
    uint32_t wg = c->gpu->tune.wg_size, gx, gy;
    const Pipeline* p = pipeline_get(c->gpu, SHADER_ACT_FWD, "ss", 4, (uint32_t[]){wg, 1, 1, act}, 4);
    Bind b[] = {bind_r(x), bind_w(y)};
    uint32_t n = (uint32_t)tensor_numel(x);
    grid_1d(n, wg, &gx, &gy);
    cmd_dispatch(c, p, b, 2, &n, gx, gy, 1);
}

void op_act_backward(Cmd* c, const Tensor* dx, const Tensor* dy, const Tensor* x, Activation act) {
    check_same("op_act_backward", dx, x);
    check_same("op_act_backward", dy, x);
    uint32_t wg = c->gpu->tune.wg_size, gx, gy;
    const Pipeline* p = pipeline_get(c->gpu, SHADER_ACT_BWD, "sss", 4, (uint32_t[]){wg, 1, 1, act}, 4);
    Bind b[] = {bind_r(x), bind_r(dy), bind_w(dx)};
    uint32_t n = (uint32_t)tensor_numel(x);
    grid_1d(n, wg, &gx, &gy);
    cmd_dispatch(c, p, b, 3, &n, gx, gy, 1);
}
