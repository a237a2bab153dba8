// op_sample.h: the sampler step shared by DDPM, DDIM and Euler (schedule.h).
#pragma once
#include "gpu/cmd.h"

#define SAMPLER_COEF_COUNT 12
// Packs a SamplerStep into the float layout sampler_step.comp reads.
struct SamplerStep;
void sampler_pack_coefs(const struct SamplerStep* st, float out[SAMPLER_COEF_COUNT]);

// x [N, ...] is updated in place; model_out [2N, ...] with cfg (unconditional first) or [N, ...];
// noise like x; coefs [SAMPLER_COEF_COUNT] written by the host before each replay.
void op_sampler_step(Cmd* c, const Tensor* x, const Tensor* model_out, const Tensor* noise, const Tensor* coefs,
                     bool cfg, float cfg_scale);
