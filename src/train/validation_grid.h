// validation_grid.h: sample grids at fixed prompts and seeds during training
// (step 0, every validation_steps, the end), so progress can be seen: rows are
// prompts (a prompt file, or the ten class captions), columns seeds 0..N-1,
// DDIM with guidance, the EMA weights when the run keeps them.
#pragma once
#include <stdbool.h>

#include "sample/generator.h"

typedef struct ValidationGrid {
    Generator gen;
    GenerateSettings set;
    char** prompts;
    int nprompts, nseeds;
    float* images;
} ValidationGrid;

// prompts_file: one prompt a line, or NULL/"" for the class captions. 0, or -1 with err.
int validation_grid_init(ValidationGrid* v, GpuContext* g, DiffusionPipeline* p, const char* prompts_file, int nseeds,
                         int steps, float cfg, bool use_ema, char* err, size_t errlen);
// Renders the current weights to path (atomic PNG), titled with the step.
int validation_grid_render(ValidationGrid* v, const char* path, int step, char* err, size_t errlen);
void validation_grid_free(ValidationGrid* v);
