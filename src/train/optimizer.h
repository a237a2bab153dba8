// optimizer.h: the optimizer tail of a recorded training step, shared by every
// trainer (diffusion models, the judge classifier): the global gradient norm
// and clip factor over all trainable stores, AdamW per arena chunk (values,
// gradients and moments line up chunk by chunk: params.h), the EMA update
// where a store keeps one, and the gradients zeroed for the next replay. The
// learning rate, bias corrections and EMA decay come from a GPU tensor of
// STEP_SCALARS_COUNT floats, so the recording replays unchanged every step.
#pragma once
#include "model/params.h"
#include "ops/ops.h"

#define OPTIMIZER_MAX_CHUNKS 64

// Gradient chunks of the stores into out (at most OPTIMIZER_MAX_CHUNKS; dies beyond).
int optimizer_grad_chunks(ParamStore* const* stores, int nstores, Tensor* out);
// Floats of scratch op_grad_norm needs for these stores.
int64_t optimizer_scratch_numel(ParamStore* const* stores, int nstores);
// stats [2] receives (gradient norm, clip factor); scalars [STEP_SCALARS_COUNT].
void optimizer_record_update(Cmd* c, ParamStore* const* stores, int nstores, const Tensor* stats,
                             const Tensor* norm_scratch, const Tensor* scalars, float max_grad_norm, AdamWHyper adam,
                             bool ema);

// The per-step scalars of optimizer step `step` (0 for the first) into
// sv[STEP_SCALARS_COUNT]: the learning rate, AdamW's bias corrections 1 - beta^(step + 1)
// and the EMA decay min(ema_decay, (1 + step) / (10 + step)) (diffusers' EMAModel
// warm-up, so early EMA weights follow training instead of the random start).
void optimizer_step_scalars(float* sv, double lr, int step, float beta1, float beta2, double ema_decay);
