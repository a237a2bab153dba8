// op_optim.h: global gradient norm with clipping, AdamW and EMA; see ops.h.
// Values that change every step (learning rate, bias corrections, EMA decay)
// live in a small GPU tensor written by the host before each replay, never in
// push constants, so a recorded step is replayed unchanged.
#pragma once
#include "gpu/cmd.h"

// Layout of the per-step scalars tensor (STEP_SCALARS_COUNT floats).
enum {
    STEP_LR = 0,        // learning rate of this step
    STEP_BC1 = 1,       // 1 - beta1^t
    STEP_BC2 = 2,       // 1 - beta2^t
    STEP_EMA_DECAY = 3, // EMA decay of this step
    STEP_SCALARS_COUNT = 8
};

// Global L2 norm over several gradient tensors, and the clipping factor:
//   stats[0] = ||g|| = sqrt(sum over all tensors of g^2)
//   stats[1] = min(1, max_norm / (||g|| + 1e-6)), or 1 when max_norm <= 0
// (torch.nn.utils.clip_grad_norm_). stats [2]; scratch at least
// op_grad_norm_scratch_numel(...) floats. A NaN/inf gradient makes stats[0] non-finite.
int64_t op_grad_norm_scratch_numel(const Tensor* grads, int ngrads);
void op_grad_norm(Cmd* c, const Tensor* stats, const Tensor* scratch, const Tensor* grads, int ngrads, float max_norm);

// AdamW (torch.optim.AdamW), with the gradient first scaled by clip[1] when clip is not NULL:
//   g' = g * clip[1];  m = b1 m + (1 - b1) g';  v = b2 v + (1 - b2) g'^2
//   p -= lr * wd * p;  p -= lr * (m / bc1) / (sqrt(v / bc2) + eps)
// lr, bc1, bc2 from scalars [STEP_SCALARS_COUNT]; param, grad, m, v same numel.
typedef struct AdamWHyper {
    float beta1, beta2, eps, weight_decay;
} AdamWHyper;
void op_adamw_step(Cmd* c, const Tensor* param, const Tensor* grad, const Tensor* m, const Tensor* v,
                   const Tensor* scalars, const Tensor* clip, AdamWHyper h);

// ema = decay * ema + (1 - decay) * param, decay = scalars[STEP_EMA_DECAY].
void op_ema_update(Cmd* c, const Tensor* ema, const Tensor* param, const Tensor* scalars);
