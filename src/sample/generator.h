// generator.h: text-to-image sampling with a loaded DiffusionPipeline, shared by
// `vkpref sample`, training-time validation grids, make-pairs and eval.
//
// For a fixed batch size B and fixed settings, two recordings are made once
// (cmd.h: record once, replay many times):
//   encode: the text encoder on R caption rows, R = 2B with classifier-free
//           guidance ([B empty prompts ""; B prompts], the unconditional half first
//           as op_sampler_step expects) and R = B without (cfg <= 1, as
//           diffusers' `do_classifier_free_guidance = guidance_scale > 1`);
//   step:   the UNet (training = false) on [x; x] (or x) and op_sampler_step,
//           which updates x in place;
//   decode: latent pipelines only: the VAE decoder on x / scaling_factor +
//           shift_factor (the host rescales x in place first), as diffusers'
//           pipelines decode.
// A batch is one replay of encode and `steps` replays of step (one
// vkQueueSubmit each); the host writes the step's timestep, sampler
// coefficients and noise into host-visible tensors before each replay.
//
// Reproducibility: every random number of the image with seed s is drawn from
// (s, step, RNG_STREAM_SAMPLE, element index): x_T at step 0, the noise of
// denoising step i at step i + 1. Nothing depends on the image's position in a
// batch or on the batch size, so an image is a function of (model, prompt,
// seed, settings) only (the UNet and text encoder treat batch rows independently).
#pragma once
#include <stdint.h>

#include "model/pipeline_io.h"

typedef struct GenerateSettings {
    SamplerKind sampler;
    int steps;   // denoising steps, 1..num_train_timesteps
    float cfg;   // classifier-free guidance scale; <= 1: the conditional prediction alone
    float eta;   // DDIM: 0 deterministic, 1 DDPM-like variance; ignored by DDPM and Euler
    bool use_ema;  // the UNet's EMA weights (a pipeline allocated with unet_ema: training-time validation)
} GenerateSettings;

// "ddim" | "ddpm" | "euler"
const char* sampler_name(SamplerKind k);

// Called after every denoising step: done of total steps of the whole run.
typedef void (*GenerateProgress)(void* user, int done, int total);

typedef struct Generator {
    GpuContext* gpu;
    DiffusionPipeline* pipe;
    GenerateSettings set;
    int batch;           // B images per replay
    int rows;            // R caption rows / UNet batch: 2B with guidance, else B
    bool guided;
    int channels, size;  // of the sampler state (the UNet's sample): [channels, size, size]
    int64_t numel;       // channels * size * size
    // What generator_run returns: the state itself, or for latent pipelines the
    // VAE's decoding of it (pipeline_image_shape).
    int image_channels, image_size;
    int64_t image_numel;
    NoiseSchedule sched;
    SamplerStep* plan;   // [steps] coefficients of each denoising step
    ParamStore unet_view;  // use_ema: the UNet's store with every value pointing at its EMA
    Arena io;            // host-visible: written / read by the host between replays
    Arena text, act, tmp;
    Tensor x;            // [B, C, S, S] the sampler state, in DDPM space (io)
    Tensor noise;        // [B, C, S, S] this step's noise (io)
    Tensor ids;          // [R * L] uint32 token ids (io)
    Tensor timesteps;    // [R] the UNet's timestep input (io)
    Tensor coefs;        // [SAMPLER_COEF_COUNT] (io)
    Cmd encode, step;
    // Latent pipelines: `decode` turns the (rescaled) state into `image` (io).
    Cmd decode;
    Tensor image;
    Arena vae_tmp;
    VaeScratch vae_scratch;
    int32_t* tok;        // [L] scratch for tokenizer_encode
} Generator;

// Records both passes for p (which must outlive g). Dies on invalid settings or batch.
// The recordings read the weights when replayed, so one generator made at the
// start of a training run samples the current weights at every validation.
void generator_init(Generator* g, GpuContext* gpu, DiffusionPipeline* p, int batch, GenerateSettings s);
// Generates n images, image k from (prompts[k], seeds[k]), into images
// [n][image_channels][image_size][image_size], clamped to [-1, 1] (as diffusers' image post-processing; NaN
// stays NaN). n need not be a multiple of the batch (the last batch is padded
// and the padding discarded). Prompts longer than the tokenizer's length are
// truncated (tokenizer_encode). Returns the number of images with a non-finite value.
int generator_run(Generator* g, const char* const* prompts, const uint64_t* seeds, int n, float* images,
                  GenerateProgress progress, void* user);
void generator_free(Generator* g);
// The largest batch whose decoded images fit one device buffer (latent pipelines;
// INT_MAX for pixel-space ones).
int generator_max_batch(const GpuContext* gpu, const DiffusionPipeline* p);

// The noise of the image with seed `seed`: step 0 is x_T, step i + 1 the noise
// of denoising step i. out[numel]. (Exposed so that tests and other tools can
// reproduce a generator's draws.)
void generator_noise(uint64_t seed, int step, int64_t numel, float* out);
