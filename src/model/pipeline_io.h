// pipeline_io.h: a diffusers pipeline folder (model_index.json, unet/,
// text_encoder/, tokenizer/, scheduler/). Every file is written atomically
// (temporary name + rename) and model_index.json last, so a folder without it
// is recognisably unfinished; other files of the folder (logs) are kept.
#pragma once
#include "model/bpe_train.h"
#include "model/clip.h"
#include "model/schedule.h"
#include "model/unet.h"

#include "model/tokenizer.h"
#include "model/vae.h"

// Storage of weights nothing trains (--frozen_dtype): auto is F16 for latent
// pipelines (Stable Diffusion-size models, distributed in fp16 and run that way
// by every trainer) and F32 for pixel-space ones; kernels compute in F32 either way.
typedef enum FrozenDType { FROZEN_AUTO = 0, FROZEN_F32, FROZEN_F16 } FrozenDType;
#define FROZEN_DTYPE_HELP                                                                                   \
    "storage of the weights nothing trains (frozen text encoder, VAE, DPO reference, LoRA base): auto (fp16 " \
    "for pipelines with a VAE, else fp32), fp32 or fp16 (half the memory; kernels still compute in fp32)"
// "auto", "fp32"/"float32", "fp16"/"float16"/"half": 0; else -1 with err naming the value.
int frozen_dtype_parse(const char* text, FrozenDType* out, char* err, size_t errlen);
// The storage of a model of a pipeline that is (latent) or is not latent.
DType frozen_dtype_resolve(FrozenDType f, bool latent);
const char* frozen_dtype_name(DType d);  // "fp32" or "fp16"

typedef struct PipelineParts {
    const UNetConfig* unet_cfg;
    const ParamStore* unet_ps;
    const ClipConfig* clip_cfg;
    const ParamStore* text_ps;
    const BpeVocab* vocab;     // tokenizer written from a trained vocab, or
    const char* tokenizer_dir; // (vocab NULL) a tokenizer folder whose files are copied
    int model_max_length;
    const SchedulerConfig* sched;
    const ParamStore* vae_ps;  // latent pipelines: the VAE (frozen) and the folder of its config.json
    const char* vae_dir;
    bool use_ema;              // write the EMA weights of the UNet when present
    bool f16;                  // write F16 files (a component held in F16 is written in F16 always: exact)
} PipelineParts;

int pipeline_save(const PipelineParts* p, const char* dir, char* err, size_t errlen);

// A loaded pipeline folder: configs, tokenizer, and the UNet and text encoder
// with their parameters on the device.
typedef struct DiffusionPipeline {
    UNetConfig unet_cfg;
    ClipConfig clip_cfg;
    SchedulerConfig sched;
    Tokenizer tok;
    char tokenizer_dir[4096];
    int max_length;         // tokens per caption: tokenizer model_max_length, else max_position_embeddings
    ParamStore unet_ps, text_ps;
    UNet unet;
    ClipTextModel clip;
    // Latent pipelines (model_index.json lists a vae): the UNet denoises VAE
    // latents; training encodes images, sampling decodes. The VAE is frozen.
    bool latent;
    AutoencoderKL vae;
    ParamStore vae_ps;
    char vae_dir[4096];
    char unused_components[256];  // listed in model_index.json but not run (safety_checker, ...)
    // LoRA adapters the UNet's sampling and validation apply, and those sampling
    // applies to the text encoder (model/lora.h; owned by the caller). NULL: the
    // model as loaded.
    const struct LoraSet* unet_lora;
    const struct LoraSet* text_lora;
} DiffusionPipeline;

// What to allocate beside the values (training needs gradients and moments), and
// which weights files to read: variant "" (or NULL) the plain files, "fp16" the
// *.fp16.safetensors ones (diffusers' --variant; model/weights.h: weights_open).
// frozen: how the weights nothing trains are stored on the device (the text
// encoder unless trained, the VAE, the UNet unless trained).
typedef struct PipelineAlloc {
    bool unet_train, unet_ema, text_train;
    const char* variant;
    FrozenDType frozen;
} PipelineAlloc;

// Registers and allocates the models of the given configs (values uninitialised)
// and loads the tokenizer from tokenizer_dir; the caller fills the weights.
int pipeline_create(DiffusionPipeline* p, GpuContext* g, const UNetConfig* unet, const ClipConfig* clip,
                    const SchedulerConfig* sched, const char* tokenizer_dir, PipelineAlloc alloc, char* err,
                    size_t errlen);
// Loads dir (model_index.json must exist: a folder without it is unfinished; it
// decides the components, model/pipeline_index.h). 0 on success; otherwise err
// names the file, key, component or tensor.
int pipeline_load(DiffusionPipeline* p, GpuContext* g, const char* dir, PipelineAlloc alloc, char* err, size_t errlen);
void pipeline_free(DiffusionPipeline* p);
// The images the pipeline makes and trains on: the UNet's sample shape, or for
// latent pipelines the VAE's output channels at sample_size x the VAE's factor.
void pipeline_image_shape(const DiffusionPipeline* p, int* channels, int* size);
// Copies p's tokenizer files into dir (created) and makes dir p's tokenizer
// source, so later saves do not depend on the folder p was loaded from (a
// resumed run's checkpoint may be pruned while the run goes on).
int pipeline_adopt_tokenizer(DiffusionPipeline* p, const char* dir, char* err, size_t errlen);
// Writes p as a pipeline folder (the UNet's EMA weights when use_ema and present).
int pipeline_save_model(const DiffusionPipeline* p, const char* dir, bool use_ema, bool f16, char* err, size_t errlen);
