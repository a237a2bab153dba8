// validation.h: the deterministic held-out loss. A fixed set of noised images
// (chosen by the caller: fixed images, noise and timesteps, independent of the
// run's seed) is pushed through the text encoder and UNet forward only, with
// the current weights; the result is the mean per-element MSE against the
// targets. Same inputs and weights give the same number on every run, so runs
// and objectives are compared on one axis.
#pragma once
#include <stdint.h>

#include "model/pipeline_io.h"

typedef struct ValidationLoss {
    GpuContext* gpu;
    int n, batch, text_len;
    int64_t image_numel;  // per image, of x_t and of the target
    float *x_t, *target, *timesteps;  // host copies of all n inputs
    uint32_t* ids;
    Arena io, act, tmp;
    Tensor io_x_t, io_target, io_timesteps, io_ids, io_mse;
    Cmd cmd;
} ValidationLoss;

// Takes ownership of nothing: copies the n inputs (x_t and target [n, C, S, S],
// timesteps [n], ids [n, L]). n must be a multiple of batch.
void validation_init(ValidationLoss* v, GpuContext* g, DiffusionPipeline* p, int batch, int n, const float* x_t,
                     const float* target, const float* timesteps, const uint32_t* ids);
double validation_run(ValidationLoss* v);
void validation_free(ValidationLoss* v);
