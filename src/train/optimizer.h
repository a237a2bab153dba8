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
