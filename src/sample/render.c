// render.c: see render.h.
#include "sample/render.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist/dist.h"
#include "model/lora.h"
#include "sample/sample_inputs.h"
#include "util/check.h"
#include "util/fsutil.h"
#include "util/progress.h"

static void on_progress(void* user, int done, int total) { progress_update(user, done, NULL); }

float* render_job(GpuContext* g, const char* dir, const char* flag, const RenderJob* job, int batch, const char* label,
                  int* channels, int* size) {
    char err[1024];
    DiffusionPipeline p;
    if (pipeline_load(&p, g, dir, (PipelineAlloc){.variant = job->variant, .frozen = job->frozen}, err, sizeof err)) die("%s (%s)", err, flag);
    // Each file's UNet adapters and its text encoder's (kohya's and diffusers'
    // --train_text_encoder files hold both).
    LoraSet lora[LORA_FILES_MAX], text_lora[LORA_FILES_MAX];
    if (lora_load_files(lora, g, &p.unet_ps, LORA_UNET, &job->lora, err, sizeof err) ||
        lora_load_files(text_lora, g, &p.text_ps, LORA_TEXT_ENCODER, &job->lora, err, sizeof err))
        die("%s (--lora)", err);
    if (job->lora.n) p.unet_lora = &lora[0], p.text_lora = &text_lora[0];
    int T = p.sched.num_train_timesteps;
    if (job->set.steps > T) die("--steps %d: %s has %d training timesteps", job->set.steps, dir, T);
    if (*p.unused_components)
        fprintf(stderr, "vkpref: %s: not run by vkpref: %s\n", dir, p.unused_components);
    pipeline_image_shape(&p, channels, size);
    if (*channels != 1 && *channels != 3)
        die("%s %s: %d-channel samples cannot be shown as images (1 or 3)", flag, dir, *channels);
    int n = job->nprompts * job->nseeds;
    const char** prompts = xmalloc((size_t)n * sizeof *prompts);
    uint64_t* seeds = xmalloc((size_t)n * sizeof *seeds);
    for (int i = 0; i < n; i++) prompts[i] = job->prompts[i / job->nseeds], seeds[i] = job->seeds[i % job->nseeds];
    int64_t numel = (int64_t)*channels * *size * *size;
    int most = generator_max_batch(g, &p);  // images do not depend on the batch: fitting it changes nothing else
    if (batch > most) batch = most;
    float* images = xcalloc((size_t)(n * numel), sizeof *images);
    // Under an MPI launcher each rank renders its share and rank 0 gathers them
    // (an image depends on its prompt, seed and settings only, not on the batch).
    int64_t lo, hi;
    dist_share(n, &lo, &hi);
    int mine = (int)(hi - lo), bad = 0;
    if (mine > 0) {
        Generator gen;
        generator_init(&gen, g, &p, batch < mine ? batch : mine, job->set);
        Progress prog;
        bool show = dist_lead();  // one progress bar: rank 0's share
        if (show) progress_begin(&prog, label, ((mine + gen.batch - 1) / gen.batch) * job->set.steps, 0);
        bad = generator_run(&gen, prompts + lo, seeds + lo, mine, images + lo * numel, show ? on_progress : NULL,
                            &prog);
        if (show) progress_end(&prog);
        generator_free(&gen);
    }
    dist_gather_shares_to_lead(images, n, numel);
    if (bad) fprintf(stderr, "vkpref: warning: %d of %d images from %s have non-finite values\n", bad, mine, dir);
    pipeline_free(&p);
    lora_free_files(lora, &job->lora);
    lora_free_files(text_lora, &job->lora);
    free(prompts), free(seeds);
    return images;
}


void render_job_parse(RenderJob* job, const OptStrings* prompt, const char* prompts_file, const char* seeds,
                      const char* sampler, int steps, double eta, double cfg) {
    char err[1024];
    memset(job, 0, sizeof *job);
    if (sampler_parse(sampler, &job->set.sampler)) die("--sampler %s: use ddim, ddpm or euler", sampler);
    if (steps < 1) die("--steps %d: need at least 1", steps);
    if (!(eta >= 0)) die("--eta %g: need >= 0", eta);
    job->set.steps = steps, job->set.eta = (float)eta, job->set.cfg = (float)cfg;
    if (seeds_parse(seeds, &job->seeds, &job->nseeds, err, sizeof err)) die("--seeds \"%s\": %s", seeds, err);
    for (int i = 0; i < prompt->n; i++) {
        job->prompts = xrealloc(job->prompts, (size_t)(job->nprompts + 1) * sizeof *job->prompts);
        job->prompts[job->nprompts++] = xstrdup(prompt->v[i]);
    }
    if (*prompts_file && prompts_read(prompts_file, &job->prompts, &job->nprompts, err, sizeof err))
        die("%s (--prompts)", err);
    if (job->nprompts == 0) die("no prompts: give --prompt TEXT or --prompts FILE");
}

void render_job_lora(RenderJob* job, const OptStrings* files, const OptStrings* scales) {
    char err[1024];
    if (lora_files_parse(&job->lora, files, scales, err, sizeof err)) die("%s", err);
}

void render_job_weights(RenderJob* job, const char* variant, const char* frozen_dtype) {
    char err[1024];
    snprintf(job->variant, sizeof job->variant, "%s", variant);
    if (frozen_dtype_parse(frozen_dtype, &job->frozen, err, sizeof err)) die("%s", err);
}

void render_job_free(RenderJob* job) {
    prompts_free(job->prompts, job->nprompts);
    free(job->seeds);
    memset(job, 0, sizeof *job);
}

void pipeline_dir_check(const char* dir, const char* flag) {
    if (!path_is_dir(dir)) die("%s %s: no such folder", flag, dir);
    char* index = path_join(dir, "model_index.json");
    if (!path_exists(index)) die("%s %s: not a pipeline folder (no model_index.json)", flag, dir);
    free(index);
}

const OptAlias SAMPLING_ALIASES[SAMPLING_NALIASES] = {
    {"num_inference_steps", "steps", NULL},
    {"guidance_scale", "cfg", NULL},
    {"batch_size", "batch", NULL},
};
