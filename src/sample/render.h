// render.h: every (prompt, seed) image of a pipeline folder, with a progress
// bar: what `vkpref sample`, `make-pairs` and `eval` have in common.
#pragma once
#include <stdint.h>

#include "model/lora.h"
#include "model/pipeline_io.h"
#include "sample/generator.h"
#include "util/options.h"

// The prompts x seeds of a run and its settings.
typedef struct RenderJob {
    char** prompts;
    int nprompts;
    uint64_t* seeds;
    int nseeds;
    GenerateSettings set;
    // LoRA adapter files applied to the UNet and the text encoder (model/lora.h),
    // their contributions added; lora.n = 0: none.
    LoraFiles lora;
    char variant[512];  // weights files to read ("" or e.g. "fp16"; model/weights.h: weights_open)
    FrozenDType frozen; // how the weights are held (every weight is frozen when sampling)
} RenderJob;

// The job of a command's flags (--prompt ..., --prompts FILE, --seeds, --sampler,
// --steps, --eta, --cfg); dies naming the flag or file:line on a bad value or
// when there is no prompt.
void render_job_parse(RenderJob* job, const OptStrings* prompt, const char* prompts_file, const char* seeds,
                      const char* sampler, int steps, double eta, double cfg);
void render_job_free(RenderJob* job);
// job->lora from repeatable --lora / --lora_scale values (lora_files_parse; the
// job points into the lists); dies naming the flag on a bad value.
void render_job_lora(RenderJob* job, const OptStrings* files, const OptStrings* scales);
// job->variant and job->frozen from --variant and --frozen_dtype; dies naming the flag on a bad value.
void render_job_weights(RenderJob* job, const char* variant, const char* frozen_dtype);
#define VARIANT_HELP "weights files to load: empty for the plain ones, fp16 for *.fp16.safetensors"
#define LORA_FILES_HELP "LoRA adapter file applied to the UNet and, where it has text-encoder keys, the text encoder (PEFT/diffusers or kohya keys); repeatable: the adapters add up"
#define LORA_SCALE_HELP "LoRA strength (the adapters' alpha / r times this): one for every --lora, or one per --lora in order"

// The names diffusers' pipelines give the sampling options, accepted by every
// command that samples (sample, eval, make-pairs): --num_inference_steps is
// --steps, --guidance_scale is --cfg, --batch_size is --batch.
#define SAMPLING_NALIASES 3
extern const OptAlias SAMPLING_ALIASES[SAMPLING_NALIASES];

// Dies "<flag> <dir>: no such folder" / "not a pipeline folder" up front, before
// any rendering, so a typo in a second folder is not found after minutes of work.
void pipeline_dir_check(const char* dir, const char* flag);

// Loads dir and renders image (p, s) at (p * nseeds + s) * C * S * S of the
// returned (malloc'ed) array, in [-1, 1]. Dies with a message naming flag on a
// bad folder or settings. label: the progress bar's.
float* render_job(GpuContext* g, const char* dir, const char* flag, const RenderJob* job, int batch, const char* label,
                  int* channels, int* size);
