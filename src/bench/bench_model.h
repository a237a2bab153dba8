// bench_model.h: the model a benchmark runs: a diffusers pipeline folder, or
// the architecture of a model_config JSON (configs/models/*.json: "unet",
// "text_encoder", "tokenizer", "scheduler" objects, as `vkpref train
// --model_config`) with random weights. Timings do not depend on the weights.
#pragma once
#include <stdint.h>

#include "model/pipeline_io.h"

typedef struct BenchModelSource {
    const char* dir;           // pipeline folder; "" or NULL: model_config
    const char* dir_flag;      // its flag, for messages ("--model")
    const char* model_config;  // JSON architecture (found as `vkpref train` finds it)
    uint64_t seed;             // random weights: UNet from 2 seed + 1, text encoder from 2 seed + 2 (as `train`)
} BenchModelSource;

// Fills p (dies with a message naming the flag or file). From model_config the
// tokenizer is a BPE vocabulary learned on the Fashion-MNIST class captions with
// the config's "merges" (what `vkpref train` builds from scratch), so the text
// encoder has the vocabulary size a trained model of this config has.
void bench_model_open(DiffusionPipeline* p, GpuContext* g, const BenchModelSource* src, PipelineAlloc alloc);

// A frozen copy of p's UNet for the objectives with a reference (forward only:
// values, no gradients): the folder's UNet weights, or the same random weights.
void bench_model_reference(ParamStore* ref, GpuContext* g, const DiffusionPipeline* p, const BenchModelSource* src,
                           const char* variant, DType dtype);

// "pipeline folder X" or "model config Y (random weights)", for reports.
void bench_model_describe(const BenchModelSource* src, char* out, size_t n);
