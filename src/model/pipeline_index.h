// pipeline_index.h: what a diffusers pipeline folder's model_index.json says it
// holds, and whether vkpref can run it. Components vkpref runs: unet
// (UNet2DConditionModel), text_encoder (CLIPTextModel), tokenizer (CLIPTokenizer
// or its fast twin, read from vocab.json + merges.txt), scheduler (any class: its
// noise schedule is read, the sampler is vkpref's own) and, optionally, vae
// (AutoencoderKL): with it the pipeline is a latent one. safety_checker,
// feature_extractor and image_encoder are inference-time extras vkpref does not
// run; they are listed in `unused` so callers can say so. Any other component (an
// SDXL text_encoder_2, a prior, ...) or another class is refused, naming it.
#pragma once
#include <stdbool.h>
#include <stddef.h>

typedef struct PipelineIndex {
    bool latent;        // a vae entry (its folder holds config.json)
    char unused[256];   // "safety_checker, feature_extractor" or ""
} PipelineIndex;

// Reads dir/model_index.json. 0 on success; else err names the file and the component.
int pipeline_index_read(PipelineIndex* ix, const char* dir, char* err, size_t errlen);
