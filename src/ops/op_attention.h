// op_attention.h: softmax and multi-head scaled-dot-product attention; see ops.h.
#pragma once
#include "gpu/cmd.h"

// Softmax over the last dimension of x [R, S]; y may not alias x.
void op_softmax_forward(Cmd* c, const Tensor* y, const Tensor* x);
// dx += y * (dy - sum_j dy_j y_j)
void op_softmax_backward(Cmd* c, const Tensor* dx, const Tensor* dy, const Tensor* y);

// Multi-head attention, heads interleaved in the feature dim as in diffusers/transformers:
//   q [N, T, NH*HD], k and v [N, S, NH*HD], o [N, T, NH*HD];
//   per head h: o_h = softmax(q_h k_h^T * scale + mask) v_h, scale = 1/sqrt(HD),
//   mask = -inf above the diagonal when causal (T == S);
//   lse [N, NH, T]: log-sum-exp of each score row, saved so backward recomputes
//   the probabilities instead of storing T x S of them.
typedef struct AttnDims {
    int N, T, S, NH, HD;
    bool causal;
} AttnDims;
void op_attention_forward(Cmd* c, const Tensor* o, const Tensor* lse, const Tensor* q, const Tensor* k,
                          const Tensor* v, AttnDims d);
// Accumulates dq, dk, dv (dk, dv of cross-attention flow to the text states).
void op_attention_backward(Cmd* c, const Tensor* dq, const Tensor* dk, const Tensor* dv, const Tensor* dout,
                           const Tensor* q, const Tensor* k, const Tensor* v, const Tensor* o, const Tensor* lse,
                           AttnDims d);
