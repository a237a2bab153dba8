// schedule.h: the DDPMScheduler noise schedule (diffusers scheduler_config.json)
// and the per-step coefficients of the DDPM, DDIM and Euler samplers.
//
// Every sampler keeps its state in DDPM space (x_t = sqrt(abar_t) x0 +
// sqrt(1 - abar_t) eps) and one step is, for the model output `out` at x_t:
//   x0  = p x + q out                    (then clamped to [-1, 1] when clip_sample)
//   eps = r x + s out                    (recomputed as (x - sa x0) / sb from the clamped x0 when clipping)
//   x'  = cx0 x0 + ceps eps + cx x + cnoise z
// so one small shader (sampler_step.comp) serves every sampler, with the
// coefficients written by the host before each replay of the recorded step.
#pragma once
#include "ops/op_sample.h"
#include <stdbool.h>
#include <stddef.h>

typedef enum BetaSchedule { BETA_LINEAR, BETA_SCALED_LINEAR, BETA_SQUAREDCOS_CAP_V2 } BetaSchedule;
typedef enum PredictionType { PRED_EPSILON, PRED_V } PredictionType;
typedef enum SamplerKind { SAMPLER_DDPM, SAMPLER_DDIM, SAMPLER_EULER } SamplerKind;

#define SCHEDULER_MAX_TIMESTEPS 100000  // num_train_timesteps: tables of T doubles

typedef struct SchedulerConfig {
    int num_train_timesteps;
    double beta_start, beta_end;
    BetaSchedule beta_schedule;
    PredictionType prediction_type;
    bool clip_sample;
    double clip_sample_range;
    int steps_offset;
} SchedulerConfig;

typedef struct NoiseSchedule {
    SchedulerConfig cfg;
    double* betas;           // [T]
    double* alphas_cumprod;  // [T]
} NoiseSchedule;

SchedulerConfig scheduler_config_default(void);  // fmnist defaults: linear 1e-4..0.02, 1000 steps, epsilon
int scheduler_config_load(SchedulerConfig* c, const char* path, char* err, size_t errlen);
int scheduler_config_parse(SchedulerConfig* c, const char* json_text, const char* source, char* err, size_t errlen);
char* scheduler_config_to_json(const SchedulerConfig* c);  // DDPMScheduler keys

void schedule_init(NoiseSchedule* s, const SchedulerConfig* c);
void schedule_free(NoiseSchedule* s);

// Training: x_t = a x0 + b eps with a = sqrt(abar_t), b = sqrt(1 - abar_t); the
// regression target is eps (epsilon) or v = a eps - b x0 (v_prediction).
void schedule_noise_coefs(const NoiseSchedule* s, int t, double* a, double* b);

// x_t and the training target (eps, or v for v_prediction) of x0 [n] at timestep t.
void schedule_add_noise(const NoiseSchedule* s, int t, const float* x0, const float* eps, long n, float* x_t,
                        float* target);

// SamplerStep (the coefficients of one denoising step) is the sampler op's input: ops/op_sample.h.

// The timesteps of an n-step run ("leading" spacing, as diffusers' DDIM/DDPM with steps_offset),
// in the order they are visited (descending). Writes n values.
void sampler_timesteps(const NoiseSchedule* s, int n, int* out);
// Coefficients of step i of n (0 = the noisiest). eta only matters for DDIM.
SamplerStep sampler_step(const NoiseSchedule* s, SamplerKind kind, int n, int i, double eta);
int sampler_parse(const char* name, SamplerKind* out);  // "ddpm" | "ddim" | "euler"
