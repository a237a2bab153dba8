// ref_norm.h: double-precision references of group norm and layer norm; see ref.h.
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "ops/op_eltwise.h"

// GroupNorm over x [N, C, HW] with G groups (C % G == 0), then y = act(z):
//   z = (x - mean[n,g]) * rstd[n,g] * gamma[c] + beta[c], biased variance,
//   rstd = 1 / sqrt(var + eps). Writes y, mean [N, G], rstd [N, G].
void ref_groupnorm_forward(double* y, double* mean, double* rstd, const double* x, const double* gamma,
                           const double* beta, int64_t N, int64_t C, int64_t HW, int G, double eps, Activation act);
// Accumulates dx (may be NULL), dgamma, dbeta from dy, using the saved mean/rstd;
// z is recomputed for act'(z) (beta is only read when act != ACT_NONE).
void ref_groupnorm_backward(double* dx, double* dgamma, double* dbeta, const double* dy, const double* x,
                            const double* mean, const double* rstd, const double* gamma, const double* beta, int64_t N,
                            int64_t C, int64_t HW, int G, Activation act);

// LayerNorm over the last dimension of x [R, D]; mean, rstd [R]; gamma, beta [D].
void ref_layernorm_forward(double* y, double* mean, double* rstd, const double* x, const double* gamma,
                           const double* beta, int64_t R, int64_t D, double eps);
// Accumulates dx (may be NULL), dgamma, dbeta.
void ref_layernorm_backward(double* dx, double* dgamma, double* dbeta, const double* dy, const double* x,
                            const double* mean, const double* rstd, const double* gamma, int64_t R, int64_t D);
