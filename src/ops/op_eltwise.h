// op_eltwise.h: elementwise ops: activations, GEGLU, sums; see ops.h for conventions.
#pragma once
#include "gpu/cmd.h"

// Values match activation.glsl. ACT_NONE is the identity (for ops with an optional fused activation).
typedef enum Activation { ACT_SILU = 0, ACT_GELU = 1, ACT_QUICK_GELU = 2, ACT_NONE = 3 } Activation;

// y = act(x); x, y: any shape, same numel.
void op_act_forward(Cmd* c, const Tensor* y, const Tensor* x, Activation act);
// dx += dy * act'(x)
void op_act_backward(Cmd* c, const Tensor* dx, const Tensor* dy, const Tensor* x, Activation act);

// GEGLU (diffusers): h, gate = x.chunk(2, dim=-1); y = h * gelu(gate) with exact GELU.
// x [R, 2D], y [R, D].
void op_geglu_forward(Cmd* c, const Tensor* y, const Tensor* x);
void op_geglu_backward(Cmd* c, const Tensor* dx, const Tensor* dy, const Tensor* x);

// y = a + b (residual connections); any shape, same numel; y may be a or b.
// Its backward is two op_accumulate calls.
void op_add(Cmd* c, const Tensor* y, const Tensor* a, const Tensor* b);
// dst += alpha * src (gradient routing, residual backward); same numel.
void op_accumulate(Cmd* c, const Tensor* dst, const Tensor* src, float alpha);
// y = alpha * x; y may be x.
void op_scale(Cmd* c, const Tensor* y, const Tensor* x, float alpha);
