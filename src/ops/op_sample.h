// op_sample.h: the sampler step shared by DDPM, DDIM and Euler; model/schedule.h
// computes each step's coefficients (sampler_step).
#pragma once
#include <stdbool.h>

#include "gpu/cmd.h"

// The coefficients of one denoising step.
typedef struct SamplerStep {
    float timestep;  // model input timestep
    float p, q, r, s, sa, sb, cx0, ceps, cx, cnoise;
    bool clip;          // clamp x0 to [-clip_range, clip_range]
    float clip_range;
} SamplerStep;

#define SAMPLER_COEF_COUNT 12
// Packs a SamplerStep into the float layout sampler_step.comp reads.
void sampler_pack_coefs(const SamplerStep* st, float out[SAMPLER_COEF_COUNT]);

// x [N, ...] is updated in place; model_out [2N, ...] with cfg (unconditional first) or [N, ...];
// noise like x; coefs [SAMPLER_COEF_COUNT] written by the host before each replay.
void op_sampler_step(Cmd* c, const Tensor* x, const Tensor* model_out, const Tensor* noise, const Tensor* coefs,
                     bool cfg, float cfg_scale);
