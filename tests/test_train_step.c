// test_train_step.c: the recorded training step (text encoder + UNet forward,
// per-sample MSE, backward, clip + AdamW + EMA) replayed many times: one submit
// per step, the loss falls when fitting a fixed batch, and two runs from the same
// start are bit-identical (nothing random or racy inside a step).
#include <math.h>

#include "model/weights.h"
#include "train/step.h"
#include "test_util.h"

typedef struct Run { double loss[40]; double first_norm; int submits_per_step; } Run;

static Run fit_fixed_batch(int steps) {
    char path[1024], err[512];
    UNetConfig ucfg;
    snprintf(path, sizeof path, "%s/golden/tiny/unet/config.json", VKPREF_TEST_DATA);
    cr_assert_eq(unet_config_load(&ucfg, path, err, sizeof err), 0, "%s", err);
    ClipConfig ccfg;
    snprintf(path, sizeof path, "%s/golden/clip_tiny/text_encoder/config.json", VKPREF_TEST_DATA);
    cr_assert_eq(clip_config_load(&ccfg, path, err, sizeof err), 0, "%s", err);
    ParamStore ups, tps;
    param_store_init(&ups, &tgpu), param_store_init(&tps, &tgpu);
    UNet u;
    ClipTextModel m;
    unet_init(&u, &ucfg, &ups);
    clip_init(&m, &ccfg, &tps);
    param_store_alloc(&ups, true, true, true);
    param_store_alloc(&tps, true, true, true);
    param_store_init_random(&ups, 1), param_store_init_random(&tps, 2);

    TrainStepConfig cfg = {.batch = 4, .text_len = 8, .train_text_encoder = true, .max_grad_norm = 1.0f,
                           .adam = {.beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.01f}, .ema = true};
    TrainStep s;
    train_step_init(&s, &tgpu, &u, &ups, &m, &tps, cfg);
    TestRng rng = rng_seed(3);
    int64_t n = tensor_numel(&s.x_t);
    float* x = step_ptr(&s.x_t), *tg = step_ptr(&s.target);
    for (int64_t i = 0; i < n; i++) x[i] = (float)rng_normal(&rng), tg[i] = (float)rng_normal(&rng);
    float* ts = step_ptr(&s.timesteps);
    for (int i = 0; i < 4; i++) ts[i] = 100.0f + 200.0f * i;
    uint32_t* ids = (uint32_t*)step_ptr(&s.ids);
    for (int i = 0; i < 4 * 8; i++) ids[i] = (uint32_t)(i * 7 % 50);
    float* coef = step_ptr(&s.coef);
    for (int i = 0; i < 4; i++) coef[i] = 0.25f;
    Run r = {0};
    for (int t = 1; t <= steps; t++) {
        float* sc = step_ptr(&s.scalars);
        sc[STEP_LR] = 3e-3f;
        sc[STEP_BC1] = (float)(1 - pow((double)cfg.adam.beta1, t));
        sc[STEP_BC2] = (float)(1 - pow((double)cfg.adam.beta2, t));
        sc[STEP_EMA_DECAY] = 0.9f;
        int before = s.update.nsubmit;
        cmd_submit(&s.update);
        r.submits_per_step = s.update.nsubmit - before;
        const float* mse = step_ptr(&s.mse);
        r.loss[t - 1] = 0.25 * (mse[0] + mse[1] + mse[2] + mse[3]);
        if (t == 1) r.first_norm = step_ptr(&s.stats)[0];
    }
    train_step_free(&s);
    param_store_free(&ups), param_store_free(&tps);
    return r;
}

Test(train_step, fits_a_fixed_batch_deterministically, GPU_TEST, .timeout = 600) {
    require_gpu();
    int steps = 40;
    Run a = fit_fixed_batch(steps);
    cr_assert(isfinite(a.first_norm) && a.first_norm > 0, "gradient norm %g", a.first_norm);
    cr_assert_eq(a.submits_per_step, 1);
    fprintf(stderr, "loss %.4f -> %.4f over %d steps\n", a.loss[0], a.loss[steps - 1], steps);
    cr_assert_lt(a.loss[steps - 1], 0.7 * a.loss[0], "loss %.4f -> %.4f: the step does not learn", a.loss[0], a.loss[steps - 1]);
    Run b = fit_fixed_batch(steps);
    for (int i = 0; i < steps; i++) cr_assert_eq(a.loss[i], b.loss[i], "step %d: %.9g vs %.9g", i, a.loss[i], b.loss[i]);
    ASSERT_NO_VALIDATION_MESSAGES();
}
