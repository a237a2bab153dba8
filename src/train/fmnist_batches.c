// fmnist_batches.c: see fmnist_batches.h.
#include "train/fmnist_batches.h"

#include <stdio.h>
#include <stdlib.h>

#include "util/check.h"
#include "util/rng.h"

// Fixed, and different from any run seed in practice: the validation set must
// not change when the run's seed does.
#define VALIDATION_SEED 0x76616C6964ull

void fmnist_batcher_init(FmnistBatcher* b, const Fmnist* ds, const NoiseSchedule* sched, const Tokenizer* tok,
                         int text_len, bool caption_attributes, double proportion_empty_prompts) {
    *b = (FmnistBatcher){ds, sched, tok, text_len, caption_attributes, proportion_empty_prompts, NULL};
    b->scratch = xmalloc((size_t)(2 * FMNIST_SIDE * FMNIST_SIDE + text_len) * sizeof(float));
}

void fmnist_batcher_free(FmnistBatcher* b) { free(b->scratch); }

// One sample: x_t = a x0 + b eps, the target (eps or v), its caption's ids.
static void make_sample(FmnistBatcher* b, int idx, int t, bool drop_caption, uint64_t seed, int step, int64_t noise_index,
                        float* x_t, float* target, uint32_t* ids) {
    const int64_t E = FMNIST_SIDE * FMNIST_SIDE;
    float *x0 = b->scratch, *eps = b->scratch + E;
    int32_t* tok_ids = (int32_t*)(b->scratch + 2 * E);
    fmnist_image(b->ds, idx, x0);
    rng_normal_fill(eps, E, seed, (uint64_t)step, RNG_STREAM_NOISE, (uint64_t)noise_index * (uint64_t)E);
    schedule_add_noise(b->sched, t, x0, eps, (long)E, x_t, target);
    char cap[96] = "";
    if (!drop_caption) {
        if (b->caption_attributes) fmnist_attr_caption(b->ds, idx, &FMNIST_TRAIN_THRESHOLDS, cap, sizeof cap);
        else snprintf(cap, sizeof cap, "%s", fmnist_caption(b->ds->labels[idx]));
    }
    tokenizer_encode(b->tok, cap, b->text_len, tok_ids);
    for (int k = 0; k < b->text_len; k++) ids[k] = (uint32_t)tok_ids[k];
}

void fmnist_training_batch(FmnistBatcher* b, uint64_t seed, int step, int first, int n, float* x_t, float* target,
                           float* timesteps, uint32_t* ids) {
    const int64_t E = FMNIST_SIDE * FMNIST_SIDE;
    int T = b->sched->cfg.num_train_timesteps;
    for (int i = 0; i < n; i++) {
        uint64_t j = (uint64_t)(first + i);
        int idx = (int)rng_below(seed, (uint64_t)step, RNG_STREAM_BATCH, j, (uint32_t)b->ds->n);
        int t = (int)rng_below(seed, (uint64_t)step, RNG_STREAM_TIMESTEP, j, (uint32_t)T);
        bool drop = rng_u01(seed, (uint64_t)step, RNG_STREAM_DROPOUT, j) < b->proportion_empty_prompts;
        make_sample(b, idx, t, drop, seed, step, (int64_t)j, x_t + i * E, target + i * E, ids + (int64_t)i * b->text_len);
        timesteps[i] = (float)t;
    }
}

void fmnist_validation_inputs(FmnistBatcher* b, int n, float* x_t, float* target, float* timesteps, uint32_t* ids) {
    const int64_t E = FMNIST_SIDE * FMNIST_SIDE;
    int T = b->sched->cfg.num_train_timesteps;
    if (n > b->ds->n) die("validation: %d images requested, the set has %d", n, b->ds->n);
    for (int i = 0; i < n; i++) {
        // Stratified timesteps: image i gets the middle of the i-th of n equal slices
        // of [0, T), so every noise level is represented whatever n is.
        int t = (int)(((double)i + 0.5) * T / n);
        make_sample(b, i, t, false, VALIDATION_SEED, 0, i, x_t + i * E, target + i * E, ids + (int64_t)i * b->text_len);
        timesteps[i] = (float)t;
    }
}
