// op_loss.c: the per-sample MSE (shaders/mse_per_sample_{fwd,bwd}.comp). pred
// and target are read through texel views, 4 floats
// per texel where E and the offsets allow. The forward reduces each sample with
// the helpers of shaders/include/reduce.glsl: compensated per-invocation sums,
// then a fixed-order workgroup sum, so it is deterministic without atomics.
#include <stdint.h>

#include "ops/op_common.h"
#include "ops/ops.h"
#include "util/check.h"

// Bindings: operand()/tex()/sto() from op_common.h.

// Elements per sample of pred [N, ...], after checking every shape of the op.
static int64_t sample_size(const char* op, const Tensor* pred, const Tensor* target, const Tensor* per_sample) {
    int64_t N = pred->shape[0], numel = tensor_numel(pred);
    if (pred->ndim < 1 || N < 1 || numel == 0) die("%s: pred must be [N, ...] with N >= 1 and no empty dimension", op);
    if (tensor_numel(target) != numel)
        die("%s: target has %lld elements, pred %lld", op, (long long)tensor_numel(target), (long long)numel);
    if (tensor_numel(per_sample) != N)
        die("%s: per-sample tensor has %lld elements, expected N = %lld", op, (long long)tensor_numel(per_sample),
            (long long)N);
    if (N > 65535) die("%s: N = %lld exceeds 65535 samples", op, (long long)N);
    if (numel > UINT32_MAX / 2) die("%s: %lld elements exceed 32-bit indexing", op, (long long)numel);
    return numel / N;
}

// 4 floats per texel when a sample's rows and every operand start on a texel.
static uint32_t vec_width(int64_t E, const Operand* const* ops, int n) {
    if (E % 4) return 1;
    for (int i = 0; i < n; i++)
        if (ops[i]->off % 4) return 1;
    return 4;
}

// ---------------------------------------------------------------------------

#define MSE_FWD_PUSH(X)                                                                     \
    X(uint32_t, N) X(uint32_t, texels) X(float, inv_e) X(uint32_t, off_pred) X(uint32_t, off_target) \
    X(uint32_t, off_mse)
PUSH_STRUCT(MseFwdPush, MSE_FWD_PUSH)
SHADER_PUSH(mse_per_sample_fwd, MseFwdPush)

void op_mse_per_sample_forward(Cmd* c, const Tensor* mse, const Tensor* pred, const Tensor* target) {
    const char* op = "op_mse_per_sample_forward";
    int64_t E = sample_size(op, pred, target, mse), N = pred->shape[0];
    if (tensors_overlap(mse, pred) || tensors_overlap(mse, target)) die("%s: mse overlaps pred or target", op);
    Operand op_p = tex(c, pred), op_t = tex(c, target), op_m = sto(c, mse);
    uint32_t vec = vec_width(E, (const Operand*[]){&op_p, &op_t}, 2);
    Reduce r = reduce_for(c->gpu, op, E / vec, 1);
    MseFwdPush pc = {(uint32_t)N, (uint32_t)(E / vec), (float)(1.0 / (double)E),
                     op_p.off / vec, op_t.off / vec, op_m.off};
    Bind b[] = {bind_tex(&op_p.view, (int)vec), bind_tex(&op_t.view, (int)vec), bind_w(&op_m.view)};
    uint32_t gx, gy;
    grid_1d(div_up(N, r.per_workgroup), 1, &gx, &gy);
    cmd_dispatch(c, SHADER_MSE_PER_SAMPLE_FWD, (uint32_t[]){r.wg, 1, 1, r.mode, vec}, 5, b, 3, &pc, sizeof pc, gx, gy,
                 1);
}

#define MSE_BWD_PUSH(X)                                                                                \
    X(uint32_t, texels) X(float, two_over_e) X(uint32_t, off_pred) X(uint32_t, off_target) X(uint32_t, off_dpred) \
    X(uint32_t, off_coef)
PUSH_STRUCT(MseBwdPush, MSE_BWD_PUSH)
SHADER_PUSH(mse_per_sample_bwd, MseBwdPush)

void op_mse_per_sample_backward(Cmd* c, const Tensor* dpred, const Tensor* coef, const Tensor* pred,
                                const Tensor* target) {
    const char* op = "op_mse_per_sample_backward";
    int64_t E = sample_size(op, pred, target, coef), N = pred->shape[0];
    check_numel(op, "dpred", dpred, tensor_numel(pred));
    if (tensors_overlap(dpred, pred) || tensors_overlap(dpred, target) || tensors_overlap(dpred, coef))
        die("%s: dpred overlaps an input", op);
    Operand op_p = tex(c, pred), op_t = tex(c, target);
    Operand op_c = sto(c, coef), op_d = sto(c, dpred);
    uint32_t vec = vec_width(E, (const Operand*[]){&op_p, &op_t, &op_d}, 3), wg = c->gpu->tune.wg_size;
    MseBwdPush pc = {(uint32_t)(E / vec), (float)(2.0 / (double)E), op_p.off / vec, op_t.off / vec, op_d.off / vec,
                     op_c.off};
    Bind b[] = {bind_tex(&op_p.view, (int)vec), bind_tex(&op_t.view, (int)vec), bind_r(&op_c.view), bind_w(&op_d.view)};
    // One row of workgroups per sample; rows wider than the grid limit loop in the shader.
    uint32_t gx = div_up(E / vec, wg);
    cmd_dispatch(c, SHADER_MSE_PER_SAMPLE_BWD, (uint32_t[]){wg, 1, 1, vec}, 4, b, 4, &pc, sizeof pc,
                 gx < 65535 ? gx : 65535, (uint32_t)N, 1);
}
