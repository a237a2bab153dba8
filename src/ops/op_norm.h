// op_norm.h: group norm and layer norm, optionally fused with an activation;
// see ops.h for conventions.
#pragma once
#include "gpu/cmd.h"
#include "ops/op_eltwise.h"

// GroupNorm (torch.nn.GroupNorm) with an optional fused activation:
//   z = (x - mean[n,g]) * rstd[n,g] * gamma[c] + beta[c];  y = act(z)
// x, y: [N, C, ...] (ndim 3 or 4; everything after C is flattened to HW);
// gamma, beta: [C]; mean, rstd: [N, G] saved for backward; C % G == 0.
// act = ACT_NONE for a plain norm; ACT_SILU is what ResnetBlock2D uses.
void op_groupnorm_forward(Cmd* c, const Tensor* y, const Tensor* mean, const Tensor* rstd, const Tensor* x,
                          const Tensor* gamma, const Tensor* beta, int G, float eps, Activation act);
// Accumulates dx, dgamma, dbeta; recomputes z from x, mean, rstd when act != ACT_NONE
// (beta is needed for that). dx may be NULL.
void op_groupnorm_backward(Cmd* c, const Tensor* dx, const Tensor* dgamma, const Tensor* dbeta, const Tensor* dy,
                           const Tensor* x, const Tensor* mean, const Tensor* rstd, const Tensor* gamma,
                           const Tensor* beta, int G, Activation act);

// LayerNorm (torch.nn.LayerNorm) over the last dimension D of x [R, D]
// (leading dims flattened to R); mean, rstd: [R]; gamma, beta: [D].
void op_layernorm_forward(Cmd* c, const Tensor* y, const Tensor* mean, const Tensor* rstd, const Tensor* x,
                          const Tensor* gamma, const Tensor* beta, float eps);
void op_layernorm_backward(Cmd* c, const Tensor* dx, const Tensor* dgamma, const Tensor* dbeta, const Tensor* dy,
                           const Tensor* x, const Tensor* mean, const Tensor* rstd, const Tensor* gamma);
