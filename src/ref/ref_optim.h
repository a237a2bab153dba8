// ref_optim.h: double-precision references of the gradient norm, AdamW and EMA;
// see ref.h and ops/op_optim.h (scalars use its STEP_* layout).
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "ops/op_optim.h"

// stats[0] = sqrt(sum over every tensor of g^2); stats[1] = min(1, max_norm /
// (stats[0] + 1e-6)), or 1 when max_norm <= 0. grads[k] has numel[k] elements.
void ref_grad_norm(double* stats, const double* const* grads, const int64_t* numel, int ngrads, double max_norm);
// One AdamW step on n elements, param, m and v updated in place; the gradient is
// scaled by clip[1] when clip is not NULL; lr, bc1, bc2 from scalars.
void ref_adamw_step(double* param, const double* grad, double* m, double* v, const double* scalars,
                    const double* clip, int64_t n, AdamWHyper h);
// ema = decay * ema + (1 - decay) * param, decay = scalars[STEP_EMA_DECAY].
void ref_ema_update(double* ema, const double* param, const double* scalars, int64_t n);
