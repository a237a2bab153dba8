// op_loss.h: the per-sample MSE that every objective is built on; see ops.h and
// docs/OBJECTIVES.md: an objective maps per-sample MSEs to its loss and
// to per-sample coefficients dLoss/dmse[n], which scale this op's backward.
#pragma once
#include "gpu/cmd.h"

// mse[n] = mean over i of (pred[n, i] - target[n, i])^2; pred, target [N, ...]; mse [N].
void op_mse_per_sample_forward(Cmd* c, const Tensor* mse, const Tensor* pred, const Tensor* target);
// dpred[n, i] += coef[n] * 2 (pred[n, i] - target[n, i]) / E, E = elements per sample.
// coef [N] lives on the GPU (computed there by the objective), never on the host.
void op_mse_per_sample_backward(Cmd* c, const Tensor* dpred, const Tensor* coef, const Tensor* pred,
                                const Tensor* target);
