// fmnist_batches.h: training and validation inputs from the embedded
// Fashion-MNIST set. Every draw is a pure function of (seed, step, index)
// (util/rng.h), so a resumed run sees exactly the batches of an uninterrupted one.
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "io/fmnist.h"
#include "model/schedule.h"
#include "model/tokenizer.h"

typedef struct FmnistBatcher {
    const Fmnist* ds;
    const NoiseSchedule* sched;
    const Tokenizer* tok;
    int text_len;
    bool caption_attributes;          // measured attribute words in captions
    double proportion_empty_prompts;  // caption dropout (training only)
    float* scratch;                   // x0, eps and ids of one image
} FmnistBatcher;

void fmnist_batcher_init(FmnistBatcher* b, const Fmnist* ds, const NoiseSchedule* sched, const Tokenizer* tok,
                         int text_len, bool caption_attributes, double proportion_empty_prompts);
void fmnist_batcher_free(FmnistBatcher* b);

// Samples first .. first+n-1 of optimizer step `step`: random images, timesteps,
// noise and caption dropout. x_t and target [n, 1, S, S], timesteps [n], ids [n, L].
void fmnist_training_batch(FmnistBatcher* b, uint64_t seed, int step, int first, int n, float* x_t, float* target,
                           float* timesteps, uint32_t* ids);
// The held-out set: images 0..n-1 of the given (test) set, noise from a fixed
// seed, timesteps evenly spread over the schedule, full captions.
void fmnist_validation_inputs(FmnistBatcher* b, int n, float* x_t, float* target, float* timesteps, uint32_t* ids);
