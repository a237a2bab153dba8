// op_xent.c: softmax cross-entropy (shaders/softmax_xent_{fwd,bwd}.comp, sharing
// shaders/include/softmax_xent.glsl). One invocation per row: a classifier head
// has ~10 classes, so the whole op is a few hundred exponentials per batch and
// its cost is the ~30 us of one dispatch; splitting rows would only add
// cross-invocation sums. Both kernels compute the row's log-sum-exp with the
// same code, in a fixed order: deterministic, no atomics.
#include <stdint.h>

#include "ops/op_common.h"
#include "ops/ops.h"
#include "util/check.h"

// Bindings: operand()/tex()/sto() from op_common.h. Push constants: XENT push
// block of softmax_xent.glsl.
#define XENT_PUSH(X)                                                                             \
    X(uint32_t, N) X(uint32_t, K) X(uint32_t, off_logits) X(uint32_t, off_labels) X(uint32_t, off_out) \
    X(uint32_t, off_coef)
PUSH_STRUCT(XentPush, XENT_PUSH)
SHADER_PUSH(softmax_xent_fwd, XentPush)
SHADER_PUSH(softmax_xent_bwd, XentPush)

// Rows and classes of logits [.., K], after checking every shape of the op.
static void xent_dims(const char* op, const Tensor* logits, const Tensor* labels, const Tensor* per_row, int64_t* N,
                      int64_t* K) {
    if (logits->ndim < 1 || tensor_numel(logits) == 0) die("%s: logits must be [N, K] with no empty dimension", op);
    *K = logits->shape[logits->ndim - 1];
    *N = tensor_numel(logits) / *K;
    check_numel(op, "labels", labels, *N);
    check_numel(op, "per-row tensor (loss or coef)", per_row, *N);
    if (tensor_numel(logits) > INT32_MAX - 16) die("%s: %lld logits exceed 32-bit texel indexing", op,
                                                   (long long)tensor_numel(logits));
}

static void xent_dispatch(Cmd* c, const char* op, ShaderId id, const Bind* b, uint32_t nb, const XentPush* push) {
    check_loop_budget(c->gpu, op, 3 * ((int64_t)push->K + 1), "rows of this many classes (sweeps per row)");
    uint32_t wg = c->gpu->tune.wg_size, gx, gy;
    grid_1d(push->N, wg, &gx, &gy);
    c->label = op;
    cmd_dispatch(c, id, (uint32_t[]){wg, 1, 1}, 3, b, nb, push, sizeof *push, gx, gy, 1);
}

void op_softmax_xent_forward(Cmd* c, const Tensor* loss, const Tensor* logits, const Tensor* labels) {
    const char* op = "op_softmax_xent_forward";
    int64_t N, K;
    xent_dims(op, logits, labels, loss, &N, &K);
    if (tensors_overlap(loss, logits) || tensors_overlap(loss, labels)) die("%s: loss overlaps an input", op);
    Operand ol = tex(c, logits), oy = sto(c, labels), oo = sto(c, loss);
    XentPush push = {(uint32_t)N, (uint32_t)K, ol.off, oy.off, oo.off, 0};
    Bind b[] = {bind_tex(&ol.view, 1), bind_r(&oy.view), bind_w(&oo.view)};
    xent_dispatch(c, op, SHADER_SOFTMAX_XENT_FWD, b, 3, &push);
}

void op_softmax_xent_backward(Cmd* c, const Tensor* dlogits, const Tensor* coef, const Tensor* logits,
                              const Tensor* labels) {
    const char* op = "op_softmax_xent_backward";
    int64_t N, K;
    xent_dims(op, logits, labels, coef, &N, &K);
    check_numel(op, "dlogits", dlogits, N * K);
    if (tensors_overlap(dlogits, logits) || tensors_overlap(dlogits, labels) || tensors_overlap(dlogits, coef))
        die("%s: dlogits overlaps an input", op);
    Operand ol = tex(c, logits), oy = sto(c, labels), oc = sto(c, coef), od = sto(c, dlogits);
    XentPush push = {(uint32_t)N, (uint32_t)K, ol.off, oy.off, od.off, oc.off};
    Bind b[] = {bind_tex(&ol.view, 1), bind_r(&oy.view), bind_r(&oc.view), bind_w(&od.view)};
    xent_dispatch(c, op, SHADER_SOFTMAX_XENT_BWD, b, 4, &push);
}
