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
#include "util/options.h"
#include "sample/generator.h"
#include "sample/render.h"
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
    OptStrings lora, lora_scale;
    char variant[OPT_STR_MAX], frozen_dtype[OPT_STR_MAX];
    int upscale, device;
} SampleConfig;

#define O(name, type, def, range, help) {#name, type, offsetof(SampleConfig, name), def, help, range}

static const OptSpec SPECS[] = {
    O(model, OPT_STRING, "", OPT_ANY, "pipeline folder (model_index.json, unet/, text_encoder/, tokenizer/, scheduler/); required"),
    O(prompt, OPT_STRING_LIST, "", OPT_ANY, "a prompt, one grid row"),
    O(prompts, OPT_STRING, "", OPT_ANY, "file of prompts, one a line, blank lines skipped (after the --prompt values)"),
    O(seeds, OPT_STRING, "0-7", OPT_ANY, "seeds, one grid column each: numbers and ranges, e.g. \"0-3,9\""),
    O(steps, OPT_INT, "25", OPT_IN(1, 10000), "denoising steps"),
    O(sampler, OPT_STRING, "ddim", OPT_ANY, "ddim, ddpm or euler"),
    O(eta, OPT_FLOAT, "0", OPT_IN(0, 1), "DDIM eta (0: deterministic)"),
    O(cfg, OPT_FLOAT, "3.0", OPT_IN(0, 100), "classifier-free guidance scale (<= 1: no guidance)"),
    O(batch, OPT_INT, "16", OPT_IN(1, 4096), "images per batch (memory and speed only: images do not depend on it)"),
    O(out, OPT_STRING, "grid.png", OPT_ANY, "the grid PNG"),
    O(save_images, OPT_STRING, "", OPT_ANY, "also write DIR/p<prompt:3>_s<seed:4>.png per image and DIR/index.json"),
    O(compare, OPT_STRING, "", OPT_ANY, "second pipeline folder: its rows \"[B] prompt\" under --model's \"[A] prompt\"; "
                               "its images in <save_images>/compare/"),
    O(lora, OPT_STRING_LIST, "", OPT_ANY, LORA_FILES_HELP " (to --model's, not to --compare)"),
    O(lora_scale, OPT_STRING_LIST, "1", OPT_ANY, LORA_SCALE_HELP),
    O(variant, OPT_STRING, "", OPT_ANY, VARIANT_HELP),
    O(frozen_dtype, OPT_STRING, "auto", OPT_ANY, FROZEN_DTYPE_HELP),
    O(upscale, OPT_INT, "2", OPT_IN(1, 64), "grid cell magnification (nearest neighbour)"),
    O(device, OPT_INT, "-1", OPT_GE(-1), "Vulkan device index (see `vkpref info`)"),
};

static const OptTable TABLE = {.command = "sample",
                               .summary = "Sample images from a pipeline folder into a labelled grid.", .specs = SPECS,
                               .n = sizeof SPECS / sizeof *SPECS, .aliases = SAMPLING_ALIASES,
                               .naliases = SAMPLING_NALIASES};


// A usage error (exit code 2): something required is missing.
static int usage_error(const char* msg) {
    fprintf(stderr, "vkpref sample: %s (see `vkpref sample --help`)\n", msg);
    return 2;
}


// Bad values are fatal (exit code 1) and name the flag or file.
static void check_inputs(const SampleConfig* c, RenderJob* job) {
    pipeline_dir_check(c->model, "--model");
    if (*c->compare) pipeline_dir_check(c->compare, "--compare");
    if (c->batch < 1) die("--batch %d: need at least 1", c->batch);
    if (c->upscale < 1 || c->upscale > 64) die("--upscale %d: need 1..64", c->upscale);
    if (!*c->out) die("--out: need a file name for the grid");
    char err[1024];
    if (output_path_check(c->out, OUTPUT_FILE, err, sizeof err)) die("%s (--out)", err);
    if (*c->save_images && output_path_check(c->save_images, OUTPUT_FOLDER, err, sizeof err))
        die("%s (--save_images)", err);
    render_job_parse(job, &c->prompt, c->prompts, c->seeds, c->sampler, c->steps, c->eta, c->cfg);
    render_job_lora(job, &c->lora, &c->lora_scale);
    render_job_weights(job, c->variant, c->frozen_dtype);
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
    RenderJob job;
    check_inputs(&c, &job);

    GpuContext g;
    GpuOptions go = GPU_DEFAULTS;
    go.device = c.device;
    cli_dist_join(&argc, &argv, &go);  // under mpirun: each rank renders its share
    if (gpu_init(&g, &go)) die("no usable Vulkan device (see `vkpref info`)");
    int ch, size, ch2, size2;
    float* a = render_job(&g, c.model, "--model", &job, c.batch, *c.compare ? "sample A" : "sample", &ch, &size);
    float* b = NULL;
    if (*c.compare) {
        job.lora.n = 0;  // B: the folder as it is
        b = render_job(&g, c.compare, "--compare", &job, c.batch, "sample B", &ch2, &size2);
        if (ch2 != ch || size2 != size)
            die("--compare %s: its images are %dx%dx%d, --model's %dx%dx%d", c.compare, ch2, size2, size2, ch, size, size);
    }
    cli_dist_followers_leave();  // rank 0 holds every image now
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
    render_job_free(&job);
    opts_free(&TABLE, &c);
    return 0;
}
