// sample_output.h: how sampled images are written (PNG
// samples and grids labelled with prompt and seed): a grid whose rows are
// prompts and columns seeds, and one PNG per image with an index.json. Every
// file is written atomically (temporary name + rename).
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "sample/generator.h"

// The prompts x seeds layout of a run.
typedef struct SampleSheet {
    const char* const* prompts;
    int nprompts;
    const uint64_t* seeds;
    int nseeds;
    int channels, size;  // of each image
} SampleSheet;

// One model's images on a sheet: image (p, s) at images + (p * nseeds + s) * channels * size * size.
typedef struct SampleRun {
    const char* tag;      // row-label prefix when several runs share a grid ("A", "B"); NULL for one run
    const char* model;    // the model folder, for index.json
    const float* images;  // in [-1, 1]
} SampleRun;

// "ddim, 25 steps, cfg 3, eta 0" (eta only for DDIM).
void sample_settings_text(const GenerateSettings* s, char* out, size_t n);
// "p003_s0005.png": prompt index (3 digits at least), seed (4 digits at least).
void sample_image_name(int prompt_index, uint64_t seed, char* out, size_t n);

// The grid of nruns runs of one sheet: each prompt has one row per run, in run
// order ("[A] prompt", "[B] prompt" when tagged), one column per seed ("seed N").
// Creates the output's folder. 0, or -1 with err.
int sample_grid_write(const char* path, const SampleSheet* sh, const SampleRun* runs, int nruns, int upscale,
                      const char* title, char* err, size_t errlen);
// dir/<sample_image_name>.png for every image of the run, then dir/index.json:
//   {"model": ..., "sampler": "ddim", "steps": 25, "cfg": 3, "eta": 0,
//    "images": [{"file": "p000_s0000.png", "prompt_index": 0, "prompt": "...", "seed": 0}, ...]}
// (index.json last: a folder without it is unfinished). Creates dir. 0, or -1 with err.
int sample_images_write(const char* dir, const SampleSheet* sh, const SampleRun* run, const GenerateSettings* s,
                        char* err, size_t errlen);
