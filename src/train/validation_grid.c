// validation_grid.c: see validation_grid.h.
#include "train/validation_grid.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/fmnist.h"
#include "sample/sample_inputs.h"
#include "sample/sample_output.h"
#include "util/check.h"

int validation_grid_init(ValidationGrid* v, GpuContext* g, DiffusionPipeline* p, const char* prompts_file, int nseeds,
                         int steps, float cfg, bool use_ema, char* err, size_t errlen) {
    memset(v, 0, sizeof *v);
    if (prompts_file && *prompts_file) {
        if (prompts_read(prompts_file, &v->prompts, &v->nprompts, err, errlen)) return -1;
    } else {
        v->nprompts = FMNIST_CLASSES;
        v->prompts = xmalloc((size_t)v->nprompts * sizeof *v->prompts);
        for (int i = 0; i < v->nprompts; i++) v->prompts[i] = xstrdup(fmnist_caption(i));
    }
    v->nseeds = nseeds;
    v->set = (GenerateSettings){.sampler = SAMPLER_DDIM, .steps = steps, .cfg = cfg, .eta = 0, .use_ema = use_ema};
    int n = v->nprompts * nseeds, batch = n < 16 ? n : 16;
    int most = generator_max_batch(g, p);  // images do not depend on the batch
    if (batch > most) batch = most;
    generator_init(&v->gen, g, p, batch, v->set);
    v->images = xmalloc((size_t)n * (size_t)v->gen.image_numel * sizeof *v->images);
    return 0;
}

int validation_grid_render(ValidationGrid* v, const char* path, int step, char* err, size_t errlen) {
    int n = v->nprompts * v->nseeds;
    const char** prompts = xmalloc((size_t)n * sizeof *prompts);
    uint64_t* seeds = xmalloc((size_t)n * sizeof *seeds);
    uint64_t* seed_list = xmalloc((size_t)v->nseeds * sizeof *seed_list);
    for (int s = 0; s < v->nseeds; s++) seed_list[s] = (uint64_t)s;
    for (int p = 0; p < v->nprompts; p++)
        for (int s = 0; s < v->nseeds; s++) prompts[p * v->nseeds + s] = v->prompts[p], seeds[p * v->nseeds + s] = (uint64_t)s;
    int bad = generator_run(&v->gen, prompts, seeds, n, v->images, NULL, NULL);
    SampleSheet sh = {(const char* const*)v->prompts, v->nprompts, seed_list, v->nseeds, v->gen.image_channels,
                     v->gen.image_size};
    SampleRun run = {NULL, NULL, v->images};
    char title[256], settings[128];
    sample_settings_text(&v->set, settings, sizeof settings);
    snprintf(title, sizeof title, "step %d | %s%s%s", step, settings, v->set.use_ema ? ", EMA" : "",
             bad ? " | NON-FINITE IMAGES" : "");
    int r = sample_grid_write(path, &sh, &run, 1, v->gen.image_size < 128 ? 2 : 1, title, err, errlen);
    free(prompts), free(seeds), free(seed_list);
    return r;
}

void validation_grid_free(ValidationGrid* v) {
    generator_free(&v->gen);
    prompts_free(v->prompts, v->nprompts);
    free(v->images);
    memset(v, 0, sizeof *v);
}
