// op_eltwise.h: elementwise activations; see ops.h for conventions.
#pragma once
#include "gpu/cmd.h"

typedef enum Activation { ACT_SILU = 0, ACT_GELU = 1, ACT_QUICK_GELU = 2 } Activation;

// y = act(x); x, y: any shape, same numel.
void op_act_forward(Cmd* c, const Tensor* y, const Tensor* x, Activation act);
// dx += dy * act'(x)
void op_act_backward(Cmd* c, const Tensor* dx, const Tensor* dy, const Tensor* x, Activation act);
