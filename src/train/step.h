// step.h: the training step, recorded once and replayed every step.
//
// Host-written inputs live in a host-visible arena (x_t, target, timesteps,
// token ids, per-sample loss coefficients, per-step scalars); the step writes
// per-sample MSEs and the gradient-norm statistics back into it. Nothing else
// crosses between host and device inside a step.
//
// Two recordings: `accumulate` (forward + backward of one micro-batch, adding
// into the gradients) and `update` (the same, then clip + AdamW + EMA + zeroing
// of the gradients), so a step is one submit without gradient accumulation and
// K submits with K micro-batches.
#pragma once
#include "gpu/cmd.h"
#include "model/clip.h"
#include "model/unet.h"
#include "ops/ops.h"

typedef struct TrainStepConfig {
    int batch;              // images per micro-batch
    int text_len;           // tokens per caption
    bool train_text_encoder;
    float max_grad_norm;    // <= 0: no clipping
    AdamWHyper adam;
    bool ema;
    bool gradient_checkpointing;  // UNet: recompute each block's forward before its backward
} TrainStepConfig;

typedef struct TrainStep {
    GpuContext* gpu;
    TrainStepConfig cfg;
    UNet unet;              // copies of the model structs: they hold this recording's saved tensors
    ClipTextModel clip;
    ParamStore *unet_ps, *text_ps;
    Arena io, act, tmp, grad;
    // inputs (host-visible, written before each replay)
    Tensor x_t, target, timesteps, ids, coef, scalars;
    // outputs (host-visible)
    Tensor mse, stats;
    Tensor norm_scratch;
    Cmd accumulate, update;
} TrainStep;

void train_step_init(TrainStep* s, GpuContext* g, const UNet* unet, ParamStore* unet_ps, const ClipTextModel* clip,
                     ParamStore* text_ps, TrainStepConfig cfg);
void train_step_free(TrainStep* s);
// Mapped pointers of the host-visible tensors.
float* step_ptr(const Tensor* t);
