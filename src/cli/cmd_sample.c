// cmd_sample.c: `vkpref sample`: images from a pipeline folder for prompts x
// seeds, written as one labelled PNG grid (rows = prompts, columns = seeds) and
// optionally as one PNG per image with an index.json.
//
// --compare DIR2 renders a second pipeline with the same prompts, seeds and
// settings. In the grid each prompt then has two adjacent rows, "[A] prompt"
// (--model) above "[B] prompt" (--compare), so the two images of one prompt
// and seed sit one above the other; the title says which folder is A and which
// is B. With --save_images DIR, B's images and index.json go to DIR/compare/
// (exactly what `--model DIR2 --save_images DIR/compare` would write).
//
// Every input is checked before any work, and every output is written after
// all images exist (each file atomically), so a failure leaves nothing half-written.
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/options.h"
#include "sample/generator.h"
#include "sample/sample_inputs.h"
#include "sample/sample_output.h"
#include "util/check.h"
#include "util/fsutil.h"
#include "util/progress.h"

typedef struct SampleConfig {
    char model[OPT_STR_MAX];
    OptStrings prompt;
    char prompts[OPT_STR_MAX];
    char seeds[OPT_STR_MAX];
    int steps;
    char sampler[OPT_STR_MAX];
    double eta, cfg;
    int batch;
    char out[OPT_STR_MAX];
    char save_images[OPT_STR_MAX];
    char compare[OPT_STR_MAX];
    int upscale, device;
} SampleConfig;

#define O(name, type, def, help) {#name, type, offsetof(SampleConfig, name), def, help}

static const OptSpec SPECS[] = {
    O(model, OPT_STRING, "", "pipeline folder (model_index.json, unet/, text_encoder/, tokenizer/, scheduler/); required"),
    O(prompt, OPT_STRING_LIST, "", "a prompt, one grid row"),
    O(prompts, OPT_STRING, "", "file of prompts, one a line, blank lines skipped (after the --prompt values)"),
    O(seeds, OPT_STRING, "0-7", "seeds, one grid column each: numbers and ranges, e.g. \"0-3,9\""),
    O(steps, OPT_INT, "25", "denoising steps"),
    O(sampler, OPT_STRING, "ddim", "ddim, ddpm or euler"),
    O(eta, OPT_FLOAT, "0", "DDIM eta (0: deterministic)"),
    O(cfg, OPT_FLOAT, "3.0", "classifier-free guidance scale (<= 1: no guidance)"),
    O(batch, OPT_INT, "16", "images per batch (memory and speed only: images do not depend on it)"),
    O(out, OPT_STRING, "grid.png", "the grid PNG"),
    O(save_images, OPT_STRING, "", "also write DIR/p<prompt:3>_s<seed:4>.png per image and DIR/index.json"),
    O(compare, OPT_STRING, "", "second pipeline folder: its rows \"[B] prompt\" under --model's \"[A] prompt\"; "
                               "its images in <save_images>/compare/"),
    O(upscale, OPT_INT, "2", "grid cell magnification (nearest neighbour)"),
    O(device, OPT_INT, "-1", "Vulkan device index (see `vkpref info`)"),
};

static const OptTable TABLE = {"sample", "Sample images from a pipeline folder into a labelled grid.", SPECS,
                               sizeof SPECS / sizeof *SPECS};

// The run's inputs once validated.
typedef struct SampleJob {
    char** prompts;
    int nprompts;
    uint64_t* seeds;
    int nseeds;
    GenerateSettings set;
} SampleJob;

// A usage error (exit code 2): something required is missing.
static int usage_error(const char* msg) {
    fprintf(stderr, "vkpref sample: %s (see `vkpref sample --help`)\n", msg);
    return 2;
}

// Up front, so that a wrong --compare is reported before --model is rendered
// (pipeline_load checks the rest).
static void check_pipeline_dir(const char* dir, const char* flag) {
    if (!path_is_dir(dir)) die("%s %s: no such folder", flag, dir);
    char* index = path_join(dir, "model_index.json");
    if (!path_exists(index)) die("%s %s: not a pipeline folder (no model_index.json)", flag, dir);
    free(index);
}

// Bad values are fatal (exit code 1) and name the flag or file.
static void check_inputs(const SampleConfig* c, SampleJob* job) {
    char err[1024];
    check_pipeline_dir(c->model, "--model");
    if (*c->compare) check_pipeline_dir(c->compare, "--compare");
    if (sampler_parse(c->sampler, &job->set.sampler)) die("--sampler %s: use ddim, ddpm or euler", c->sampler);
    if (c->steps < 1) die("--steps %d: need at least 1", c->steps);
    if (!(c->eta >= 0)) die("--eta %g: need >= 0", c->eta);
    if (c->batch < 1) die("--batch %d: need at least 1", c->batch);
    if (c->upscale < 1 || c->upscale > 64) die("--upscale %d: need 1..64", c->upscale);
    if (!*c->out) die("--out: need a file name for the grid");
    job->set.steps = c->steps;
    job->set.eta = (float)c->eta;
    job->set.cfg = (float)c->cfg;
    if (seeds_parse(c->seeds, &job->seeds, &job->nseeds, err, sizeof err)) die("--seeds \"%s\": %s", c->seeds, err);
    for (int i = 0; i < c->prompt.n; i++) {
        job->prompts = xrealloc(job->prompts, (size_t)(job->nprompts + 1) * sizeof *job->prompts);
        job->prompts[job->nprompts++] = xstrdup(c->prompt.v[i]);
    }
    if (*c->prompts && prompts_read(c->prompts, &job->prompts, &job->nprompts, err, sizeof err))
        die("%s (--prompts)", err);
}

static void on_progress(void* user, int done, int total) { progress_update(user, done, NULL); }

// Loads one pipeline and renders every (prompt, seed) of the job: image (p, s)
// at (p * nseeds + s) * numel of the returned array.
static float* render(GpuContext* g, const char* dir, const char* flag, const SampleJob* job, int batch,
                     const char* label, int* channels, int* size) {
    char err[1024];
    DiffusionPipeline p;
    if (pipeline_load(&p, g, dir, (PipelineAlloc){0}, err, sizeof err)) die("%s (%s)", err, flag);
    int T = p.sched.num_train_timesteps;
    if (job->set.steps > T) die("--steps %d: %s has %d training timesteps", job->set.steps, dir, T);
    *channels = p.unet_cfg.in_channels;
    *size = p.unet_cfg.sample_size;
    if (*channels != 1 && *channels != 3)
        die("%s %s: %d-channel samples cannot be shown as images (1 or 3)", flag, dir, *channels);
    int n = job->nprompts * job->nseeds;
    const char** prompts = xmalloc((size_t)n * sizeof *prompts);
    uint64_t* seeds = xmalloc((size_t)n * sizeof *seeds);
    for (int i = 0; i < n; i++) prompts[i] = job->prompts[i / job->nseeds], seeds[i] = job->seeds[i % job->nseeds];
    int64_t numel = (int64_t)*channels * *size * *size;
    float* images = xmalloc((size_t)(n * numel) * sizeof *images);
    Generator gen;
    generator_init(&gen, g, &p, batch < n ? batch : n, job->set);
    Progress prog;
    progress_begin(&prog, label, ((n + gen.batch - 1) / gen.batch) * job->set.steps, 0);
    int bad = generator_run(&gen, prompts, seeds, n, images, on_progress, &prog);
    progress_end(&prog);
    if (bad) fprintf(stderr, "vkpref sample: warning: %d of %d images from %s have non-finite values\n", bad, n, dir);
    generator_free(&gen);
    pipeline_free(&p);
    free(prompts), free(seeds);
    return images;
}

int cmd_sample(int argc, char** argv) {
    SampleConfig c;
    int pr = opts_parse(&TABLE, &c, argc, argv);
    if (pr) {
        opts_free(&TABLE, &c);
        return pr > 0 ? 0 : 2;
    }
    int rc = 0;
    if (!*c.model) rc = usage_error("--model DIR is required");
    else if (c.prompt.n == 0 && !*c.prompts) rc = usage_error("give prompts with --prompt TEXT or --prompts FILE");
    if (rc) {
        opts_free(&TABLE, &c);
        return rc;
    }
    SampleJob job = {0};
    check_inputs(&c, &job);

    GpuContext g;
    GpuOptions go = GPU_DEFAULTS;
    go.device = c.device;
    if (gpu_init(&g, &go)) die("no usable Vulkan device (see `vkpref info`)");
    int ch, size, ch2, size2;
    float* a = render(&g, c.model, "--model", &job, c.batch, *c.compare ? "sample A" : "sample", &ch, &size);
    float* b = NULL;
    if (*c.compare) {
        b = render(&g, c.compare, "--compare", &job, c.batch, "sample B", &ch2, &size2);
        if (ch2 != ch || size2 != size)
            die("--compare %s: its images are %dx%dx%d, --model's %dx%dx%d", c.compare, ch2, size2, size2, ch, size, size);
    }
    gpu_free(&g);

    char err[1024], settings[128], title[3 * OPT_STR_MAX];
    sample_settings_text(&job.set, settings, sizeof settings);
    if (b) snprintf(title, sizeof title, "A: %s  B: %s | %s", c.model, c.compare, settings);
    else snprintf(title, sizeof title, "%s | %s", c.model, settings);
    SampleSheet sh = {.prompts = (const char* const*)job.prompts, .nprompts = job.nprompts, .seeds = job.seeds,
                      .nseeds = job.nseeds, .channels = ch, .size = size};
    SampleRun runs[2] = {{b ? "A" : NULL, c.model, a}, {"B", c.compare, b}};
    if (*c.save_images) {
        if (sample_images_write(c.save_images, &sh, &runs[0], &job.set, err, sizeof err)) die("%s (--save_images)", err);
        if (b) {
            char* sub = path_join(c.save_images, "compare");
            if (sample_images_write(sub, &sh, &runs[1], &job.set, err, sizeof err)) die("%s (--save_images)", err);
            free(sub);
        }
    }
    if (sample_grid_write(c.out, &sh, runs, b ? 2 : 1, c.upscale, title, err, sizeof err)) die("%s (--out)", err);
    fprintf(stderr, "vkpref sample: %d prompt(s) x %d seed(s) -> %s%s%s\n", job.nprompts, job.nseeds, c.out,
            *c.save_images ? " and " : "", c.save_images);

    free(a), free(b);
    prompts_free(job.prompts, job.nprompts);
    free(job.seeds);
    opts_free(&TABLE, &c);
    return 0;
}
