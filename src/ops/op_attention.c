// op_attention.c: row softmax (shaders/softmax_{fwd,bwd}.comp) and flash-attention
// style multi-head attention (shaders/attention_{fwd,bwd_dq,bwd_dkv}.comp): the
// forward saves only lse [N, NH, T]; the backward recomputes the probabilities,
// one kernel parallel over query rows (dq) and one over key rows (dk, dv), so every
// gradient element has a single writer (deterministic, no atomics).
#include <math.h>
#include <stdint.h>

#include "ops/op_common.h"
#include "ops/ops.h"
#include "util/check.h"

// ---------------------------------------------------------------------------
// Softmax over the last dimension: one invocation per row.

#define SOFTMAX_PUSH(X) X(uint32_t, R) X(uint32_t, S)
PUSH_STRUCT(SoftmaxPush, SOFTMAX_PUSH)
SHADER_PUSH(softmax_fwd, SoftmaxPush)
SHADER_PUSH(softmax_bwd, SoftmaxPush)

static SoftmaxPush softmax_push(const char* op, const Tensor* y, const Tensor* other, const char* other_name) {
    if (y->ndim < 1) die("%s: y has no dimensions", op);
    int64_t S = y->shape[y->ndim - 1], R = tensor_numel(y) / (S > 0 ? S : 1);
    if (S < 1 || R < 1) die("%s: empty tensor", op);
    if (tensor_numel(other) != tensor_numel(y))
        die("%s: %s has %lld elements, y has %lld", op, other_name, (long long)tensor_numel(other),
            (long long)tensor_numel(y));
    if (tensor_numel(y) > (int64_t)UINT32_MAX) die("%s: %lld elements need 64-bit indices", op, (long long)tensor_numel(y));
    return (SoftmaxPush){(uint32_t)R, (uint32_t)S};
}

static void softmax_dispatch(Cmd* c, ShaderId id, const Bind* b, uint32_t nb, SoftmaxPush push) {
    check_loop_budget(c->gpu, c->label, 3 * ((int64_t)push.S + 1), "rows this long (three sweeps each)");
    uint32_t wg = c->gpu->tune.wg_size, gx, gy;
    grid_1d(push.R, wg, &gx, &gy);
    cmd_dispatch(c, id, (uint32_t[]){wg, 1, 1}, 3, b, nb, &push, sizeof push, gx, gy, 1);
}

void op_softmax_forward(Cmd* c, const Tensor* y, const Tensor* x) {
    const char* op = "op_softmax_forward";
    c->label = op;
    SoftmaxPush push = softmax_push(op, y, x, "x");
    if (tensors_overlap(y, x)) die("%s: y overlaps x", op);
    Bind b[] = {bind_r(x), bind_w(y)};
    softmax_dispatch(c, SHADER_SOFTMAX_FWD, b, 2, push);
}

void op_softmax_backward(Cmd* c, const Tensor* dx, const Tensor* dy, const Tensor* y) {
    const char* op = "op_softmax_backward";
    c->label = op;
    SoftmaxPush push = softmax_push(op, y, dy, "dy");
    softmax_push(op, y, dx, "dx");
    if (tensors_overlap(dx, y) || tensors_overlap(dx, dy)) die("%s: dx overlaps y or dy", op);
    Bind b[] = {bind_r(y), bind_r(dy), bind_w(dx)};
    softmax_dispatch(c, SHADER_SOFTMAX_BWD, b, 3, push);
}

// ---------------------------------------------------------------------------
// Attention. Bindings: texel and storage views must start at the device's
// offset alignment, a tensor (a slice, say) need not: each binding starts at the
// aligned offset at or below its tensor and the shader gets the distance in
// elements (AttnPush.off_*).

#define ATTN_PUSH(X)                                                                                        \
    X(uint32_t, N) X(uint32_t, T) X(uint32_t, S) X(uint32_t, NH)                                            \
    X(float, scale)                                                                                         \
    X(uint32_t, off_q) X(uint32_t, off_k) X(uint32_t, off_v) X(uint32_t, off_o) X(uint32_t, off_lse)        \
    X(uint32_t, off_dout) X(uint32_t, off_dq) X(uint32_t, off_dk) X(uint32_t, off_dv)
PUSH_STRUCT(AttnPush, ATTN_PUSH)
SHADER_PUSH(attention_fwd, AttnPush)
SHADER_PUSH(attention_bwd_dq, AttnPush)
SHADER_PUSH(attention_bwd_dkv, AttnPush)

// Every tensor of the op, checked and viewed. Inputs are texel views, outputs
// (written or accumulated) storage views.
typedef struct AttnArgs {
    Operand q, k, v, o, lse, dout, dq, dk, dv;
    bool vec4;  // every q/k/v/o/dout head row starts on an RGBA32F texel
} AttnArgs;

static void check_dims(const GpuContext* g, const char* op, AttnDims d) {
    if (d.N < 1 || d.T < 1 || d.S < 1 || d.NH < 1 || d.HD < 1)
        die("%s: empty dims N %d, T %d, S %d, NH %d, HD %d", op, d.N, d.T, d.S, d.NH, d.HD);
    if (d.causal && d.T != d.S) die("%s: causal attention needs T == S (T %d, S %d)", op, d.T, d.S);
    int64_t big = (int64_t)d.N * (d.T > d.S ? d.T : d.S) * d.NH * d.HD;
    if (big + 16 > (int64_t)UINT32_MAX) die("%s: %lld elements need 64-bit indices", op, (long long)big);
    // Each invocation sweeps every key (forward, dq) or every query (dk, dv).
    check_loop_budget(g, op, (int64_t)(d.T > d.S ? d.T : d.S) + 2, "sequences this long");
}

static AttnArgs attn_args(Cmd* c, const char* op, AttnDims d, const Tensor* q, const Tensor* k, const Tensor* v,
                          const Tensor* o, const Tensor* lse, const Tensor* dout) {
    check_dims(c->gpu, op, d);
    int64_t D = (int64_t)d.NH * d.HD;
    check_numel(op, "q", q, (int64_t)d.N * d.T * D);
    check_numel(op, "k", k, (int64_t)d.N * d.S * D);
    check_numel(op, "v", v, (int64_t)d.N * d.S * D);
    check_numel(op, "o", o, (int64_t)d.N * d.T * D);
    check_numel(op, "lse", lse, (int64_t)d.N * d.NH * d.T);
    if (dout) check_numel(op, "dout", dout, (int64_t)d.N * d.T * D);
    AttnArgs a = {.q = tex(c, q), .k = tex(c, k),
                  .v = tex(c, v)};
    a.vec4 = d.HD % 4 == 0 && a.q.off % 4 == 0 && a.k.off % 4 == 0 && a.v.off % 4 == 0;
    if (dout) {  // backward: o and dout are read
        a.o = tex(c, o);
        a.dout = tex(c, dout);
        a.lse = tex(c, lse);
        a.vec4 = a.vec4 && a.o.off % 4 == 0 && a.dout.off % 4 == 0;
    } else {  // forward: o and lse are written
        a.o = sto(c, o);
        a.lse = sto(c, lse);
    }
    return a;
}

static AttnPush attn_push(AttnDims d, const AttnArgs* a) {
    return (AttnPush){.N = (uint32_t)d.N, .T = (uint32_t)d.T, .S = (uint32_t)d.S, .NH = (uint32_t)d.NH,
                      .scale = (float)(1.0 / sqrt((double)d.HD)), .off_q = a->q.off, .off_k = a->k.off,
                      .off_v = a->v.off, .off_o = a->o.off, .off_lse = a->lse.off, .off_dout = a->dout.off,
                      .off_dq = a->dq.off, .off_dk = a->dk.off, .off_dv = a->dv.off};
}

static uint32_t pow2_at_least(int64_t n, uint32_t cap) {
    uint32_t p = 1;
    while (p < cap && p < n) p *= 2;
    return p;
}

// Rows per invocation RB: the largest power of two <= 16 with 2 * RB * ceil(HD/4)
// <= budget, and no more than the rows there are. More rows make each k/v (or
// q/dout) fetch feed more FMAs; fewer keep the RB x ceil(HD/4) vec4 register
// arrays (2 in the forward, 3-4 in the backward kernels) small for wide heads.
// Budgets measured on lavapipe (N16 T=S=256 NH4): HD 16 -> 16 forward / 8 backward,
// HD 8 -> 16 / 16, HD 40 -> 8 / 4; larger blocks were no faster and compile slowly.
static uint32_t attn_rows(int HD, int64_t rows, uint32_t budget) {
    uint32_t hd4 = (uint32_t)(HD + 3) / 4, rb = 1;
    while (rb < 16 && 2 * rb * hd4 <= budget) rb *= 2;
    return pow2_at_least(rows, rb);
}

// Records one attention kernel over a 1-D grid of row blocks (attention.glsl).
// bs: keys per online-softmax block (forward only; 0: no such constant).
static void attn_dispatch(Cmd* c, ShaderId id, const Bind* b, uint32_t nb, AttnDims d, bool vec4, int64_t rows,
                          uint32_t budget, const AttnPush* push, uint32_t bs) {
    uint32_t rb = attn_rows(d.HD, rows, budget), gx, gy;
    int64_t n = (int64_t)div_up(rows, rb) * d.NH * d.N;
    // Workgroups of the elementwise size, halved down to 8 invocations (one
    // lavapipe SIMD program) until there are 16 of them to spread over the cores.
    uint32_t wg = c->gpu->tune.wg_size;
    while (wg > 8 && div_up(n, wg) < 16) wg /= 2;
    uint32_t spec[] = {wg, 1, 1, (uint32_t)d.HD, vec4 ? 4 : 1, d.causal, rb, bs};
    grid_1d(n, wg, &gx, &gy);
    cmd_dispatch(c, id, spec, bs ? 8 : 7, b, nb, push, sizeof *push, gx, gy, 1);
}

// FLOPs of one T x S x HD product over every batch row and head, for the profile
// (gpu/profile.h): the kernels' executed products, recomputation included.
static double attn_product_flops(AttnDims d) { return 2.0 * d.N * d.NH * (double)d.T * d.S * d.HD; }

void op_attention_forward(Cmd* c, const Tensor* o, const Tensor* lse, const Tensor* q, const Tensor* k,
                          const Tensor* v, AttnDims d) {
    const char* op = "op_attention_forward";
    c->label = op;
    AttnArgs a = attn_args(c, op, d, q, k, v, o, lse, NULL);
    const Tensor* ins[] = {q, k, v};
    for (int i = 0; i < 3; i++)
        if (tensors_overlap(o, ins[i]) || tensors_overlap(lse, ins[i])) die("%s: output o or lse overlaps an input", op);
    if (tensors_overlap(o, lse)) die("%s: o overlaps lse", op);
    AttnPush push = attn_push(d, &a);
    Bind b[] = {bind_tex(&a.q.view, a.vec4 ? 4 : 1), bind_tex(&a.k.view, a.vec4 ? 4 : 1), bind_tex(&a.v.view, a.vec4 ? 4 : 1),
                bind_w(&a.o.view), bind_w(&a.lse.view)};
    // 8 keys per online-softmax block: the per-block rescale of the RB x HD
    // accumulators is then small next to the block's 2 x RB x 8 x HD FMAs.
    cmd_note_flops(c, 2 * attn_product_flops(d));  // Q K^T and P V
    attn_dispatch(c, SHADER_ATTENTION_FWD, b, 5, d, a.vec4, d.T, 96, &push, 8);
}

void op_attention_backward(Cmd* c, const Tensor* dq, const Tensor* dk, const Tensor* dv, const Tensor* dout,
                           const Tensor* q, const Tensor* k, const Tensor* v, const Tensor* o, const Tensor* lse,
                           AttnDims d) {
    const char* op = "op_attention_backward";
    c->label = op;
    AttnArgs a = attn_args(c, op, d, q, k, v, o, lse, dout);
    int64_t D = (int64_t)d.NH * d.HD;
    check_numel(op, "dq", dq, (int64_t)d.N * d.T * D);
    check_numel(op, "dk", dk, (int64_t)d.N * d.S * D);
    check_numel(op, "dv", dv, (int64_t)d.N * d.S * D);
    const Tensor* ins[] = {q, k, v, o, lse, dout};
    const Tensor* outs[] = {dq, dk, dv};
    for (int i = 0; i < 3; i++) {
        for (int j = 0; j < 6; j++)
            if (tensors_overlap(outs[i], ins[j])) die("%s: a gradient (dq, dk or dv) overlaps an input", op);
        for (int j = 0; j < i; j++)
            if (tensors_overlap(outs[i], outs[j])) die("%s: dq, dk and dv must not overlap", op);
    }
    a.dq = sto(c, dq), a.dk = sto(c, dk), a.dv = sto(c, dv);
    AttnPush push = attn_push(d, &a);
    int w = a.vec4 ? 4 : 1;
    Bind in[] = {bind_tex(&a.q.view, w), bind_tex(&a.k.view, w), bind_tex(&a.v.view, w),
                 bind_tex(&a.o.view, w), bind_tex(&a.dout.view, w), bind_tex(&a.lse.view, 1)};
    Bind bq[] = {in[0], in[1], in[2], in[3], in[4], in[5], bind_w(&a.dq.view)};
    cmd_note_flops(c, 3 * attn_product_flops(d));  // S = Q K^T (recomputed), dP = dO V^T, dQ = dS K
    attn_dispatch(c, SHADER_ATTENTION_BWD_DQ, bq, 7, d, a.vec4, d.T, 40, &push, 0);
    Bind bkv[] = {in[0], in[1], in[2], in[3], in[4], in[5], bind_w(&a.dk.view), bind_w(&a.dv.view)};
    cmd_note_flops(c, 4 * attn_product_flops(d));  // S and dP recomputed, dV = P^T dO, dK = dS^T Q
    attn_dispatch(c, SHADER_ATTENTION_BWD_DKV, bkv, 8, d, a.vec4, d.S, 40, &push, 0);
}
