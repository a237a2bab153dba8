// ref_loss.h: double-precision references of the per-sample MSE; see ref.h.
#pragma once
#include <stdbool.h>
#include <stdint.h>

// mse[n] = (1/E) sum_i (pred[n, i] - target[n, i])^2; pred, target [N, E]; mse [N].
void ref_mse_per_sample_forward(double* mse, const double* pred, const double* target, int64_t N, int64_t E);
// dpred[n, i] += coef[n] * 2 (pred[n, i] - target[n, i]) / E.
void ref_mse_per_sample_backward(double* dpred, const double* coef, const double* pred, const double* target,
                                 int64_t N, int64_t E);
