// validation.c: see validation.h.
#include "train/validation.h"

#include <stdlib.h>
#include <string.h>

#include "model/graph.h"
#include "ops/ops.h"
#include "train/step.h"
#include "util/check.h"

void validation_init(ValidationLoss* v, GpuContext* g, DiffusionPipeline* p, int batch, int n, const float* x_t,
                     const float* target, const float* timesteps, const uint32_t* ids) {
    if (batch < 1 || n < batch || n % batch) die("validation: %d images is not a multiple of the batch %d", n, batch);
    memset(v, 0, sizeof *v);
    v->gpu = g;
    v->n = n, v->batch = batch, v->text_len = p->max_length;
    int C = p->unet_cfg.in_channels, S = p->unet_cfg.sample_size;
    v->image_numel = (int64_t)C * S * S;
    size_t img = (size_t)n * (size_t)v->image_numel;
    v->x_t = xmalloc(img * sizeof(float)), memcpy(v->x_t, x_t, img * sizeof(float));
    v->target = xmalloc(img * sizeof(float)), memcpy(v->target, target, img * sizeof(float));
    v->timesteps = xmalloc((size_t)n * sizeof(float)), memcpy(v->timesteps, timesteps, (size_t)n * sizeof(float));
    size_t nid = (size_t)n * (size_t)v->text_len;
    v->ids = xmalloc(nid * sizeof(uint32_t)), memcpy(v->ids, ids, nid * sizeof(uint32_t));

    arena_init(&v->io, g, "validation io", 0, true);
    arena_init(&v->act, g, "validation activations", 0, false);
    arena_init(&v->tmp, g, "validation temporaries", 0, false);
    v->io_x_t = arena_tensor4(&v->io, batch, C, S, S);
    v->io_target = arena_tensor4(&v->io, batch, C, S, S);
    v->io_timesteps = arena_tensor1(&v->io, batch);
    v->io_ids = arena_tensor1(&v->io, (int64_t)batch * v->text_len);
    v->io_mse = arena_tensor1(&v->io, batch);

    // Forward only: the activation records are needed while recording alone.
    UNetActs* unet_acts = xcalloc(1, sizeof *unet_acts);
    ClipActs* clip_acts = xcalloc(1, sizeof *clip_acts);
    cmd_begin(&v->cmd, g);
    Graph gt = {.cmd = &v->cmd, .ps = &p->text_ps, .act = &v->act, .tmp = &v->tmp, .grad = NULL, .training = false};
    Graph gu = {.cmd = &v->cmd, .ps = &p->unet_ps, .act = &v->act, .tmp = &v->tmp, .grad = NULL, .training = false,
                .lora = p->unet_lora};
    Tensor ehs = clip_forward(&gt, &p->clip, clip_acts, &v->io_ids, batch, v->text_len);
    Tensor pred = unet_forward(&gu, &p->unet, unet_acts, &v->io_x_t, &v->io_timesteps, &ehs);
    op_mse_per_sample_forward(&v->cmd, &v->io_mse, &pred, &v->io_target);
    cmd_end(&v->cmd);
    free(unet_acts), free(clip_acts);
}

double validation_run(ValidationLoss* v) {
    double sum = 0;
    size_t img = (size_t)v->batch * (size_t)v->image_numel;
    for (int b = 0; b < v->n / v->batch; b++) {
        size_t i0 = (size_t)b * (size_t)v->batch;
        memcpy(step_ptr(&v->io_x_t), v->x_t + i0 * (size_t)v->image_numel, img * sizeof(float));
        memcpy(step_ptr(&v->io_target), v->target + i0 * (size_t)v->image_numel, img * sizeof(float));
        memcpy(step_ptr(&v->io_timesteps), v->timesteps + i0, (size_t)v->batch * sizeof(float));
        memcpy(step_ptr(&v->io_ids), v->ids + i0 * (size_t)v->text_len, (size_t)v->batch * v->text_len * sizeof(uint32_t));
        cmd_submit(&v->cmd);
        const float* mse = step_ptr(&v->io_mse);
        for (int i = 0; i < v->batch; i++) sum += mse[i];
    }
    return sum / v->n;
}

void validation_free(ValidationLoss* v) {
    cmd_free(&v->cmd);
    arena_free(&v->io), arena_free(&v->act), arena_free(&v->tmp);
    free(v->x_t), free(v->target), free(v->timesteps), free(v->ids);
    memset(v, 0, sizeof *v);
}
