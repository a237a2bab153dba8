// op_clamp.h: elementwise clamp (torch.clamp with both bounds); see ops.h.
#pragma once
#include "gpu/cmd.h"

// y = min(max(x, lo), hi), NaN kept (as torch.clamp); any shape, same numel; y may be x.
void op_clamp_forward(Cmd* c, const Tensor* y, const Tensor* x, float lo, float hi);
// dx += dy where lo <= x <= hi (torch.clamp's gradient: the bounds pass it), else 0.
void op_clamp_backward(Cmd* c, const Tensor* dx, const Tensor* dy, const Tensor* x, float lo, float hi);
