// cmd_make_pairs.c: `vkpref make-pairs`: preference pairs by AI feedback, as in
// the Diffusion-DPO paper's AI-feedback variant (DATA.md): sample K images per
// prompt (seeds --seed .. --seed+K-1), score them with a judge, pair them
// (0,1), (2,3), ... so every image is used once, and write a Pick-a-Pic
// manifest with the higher-scored image labelled 1. Pairs whose scores are
// within --tie_margin are written as ties (0.5 / 0.5), which training drops.
//
// Output folder: img/p<prompt>_s<seed>.png + img/index.json (every image), then
// pairs.jsonl and make_pairs.json (settings and counts), each file atomic; the
// manifest is written last.
#include <cjson/cJSON.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "util/options.h"
#include "judge/judge.h"
#include "sample/render.h"
#include "sample/sample_output.h"
#include "util/check.h"
#include "util/fsutil.h"
#include "util/json_fields.h"

typedef struct MakePairsConfig {
    char model[OPT_STR_MAX];
    OptStrings prompt;
    char prompts[OPT_STR_MAX], judge[OPT_STR_MAX], out[OPT_STR_MAX];
    int per_prompt, seed, steps;
    char sampler[OPT_STR_MAX];
    double eta, cfg, tie_margin;
    int batch, device;
    OptStrings lora, lora_scale;
    char variant[OPT_STR_MAX], frozen_dtype[OPT_STR_MAX];
} MakePairsConfig;

#define O(name, type, def, range, help) {#name, type, offsetof(MakePairsConfig, name), def, help, range}

static const OptSpec SPECS[] = {
    O(model, OPT_STRING, "", OPT_ANY, "pipeline folder to sample from; required"),
    O(prompt, OPT_STRING_LIST, "", OPT_ANY, "a prompt (repeatable)"),
    O(prompts, OPT_STRING, "", OPT_ANY, "file of prompts, one a line"),
    O(judge, OPT_STRING, "classifier", OPT_ANY, "judge that picks the chosen image (see `vkpref eval --help`)"),
    O(per_prompt, OPT_INT, "8", OPT_IN(2, 1 << 20), "images per prompt (even: they are paired two by two)"),
    O(seed, OPT_INT, "0", OPT_IN(0, 1 << 30), "first seed; prompt images use seeds seed .. seed + per_prompt - 1"),
    O(tie_margin, OPT_FLOAT, "0", OPT_GE(0), "pairs whose scores differ by at most this are ties (label 0.5)"),
    O(out, OPT_STRING, "", OPT_ANY, "output folder (img/, pairs.jsonl, make_pairs.json); required"),
    O(steps, OPT_INT, "25", OPT_IN(1, 10000), "denoising steps"),
    O(sampler, OPT_STRING, "ddim", OPT_ANY, "ddim, ddpm or euler"),
    O(eta, OPT_FLOAT, "0", OPT_IN(0, 1), "DDIM eta"),
    O(cfg, OPT_FLOAT, "3.0", OPT_IN(0, 100), "classifier-free guidance scale"),
    O(batch, OPT_INT, "16", OPT_IN(1, 4096), "images per batch (speed only)"),
    O(device, OPT_INT, "-1", OPT_GE(-1), "Vulkan device index (see `vkpref info`)"),
    O(lora, OPT_STRING_LIST, "", OPT_ANY, LORA_FILES_HELP),
    O(lora_scale, OPT_STRING_LIST, "1", OPT_ANY, LORA_SCALE_HELP),
    O(variant, OPT_STRING, "", OPT_ANY, VARIANT_HELP),
    O(frozen_dtype, OPT_STRING, "auto", OPT_ANY, FROZEN_DTYPE_HELP),
};

static const OptTable TABLE = {.command = "make-pairs",
                               .summary = "Sample, judge and pair images into a Pick-a-Pic manifest.", .specs = SPECS,
                               .n = sizeof SPECS / sizeof *SPECS, .aliases = SAMPLING_ALIASES,
                               .naliases = SAMPLING_NALIASES};

int cmd_make_pairs(int argc, char** argv) {
    MakePairsConfig c;
    int pr = opts_parse(&TABLE, &c, argc, argv);
    if (pr) return opts_free(&TABLE, &c), pr > 0 ? 0 : 2;
    if (!*c.model || !*c.out) {
        fprintf(stderr, "vkpref make-pairs: --model DIR and --out DIR are required (see `vkpref make-pairs --help`)\n");
        return 2;
    }
    if (c.per_prompt < 2 || c.per_prompt % 2) die("--per_prompt %d: need an even number >= 2", c.per_prompt);
    if (c.seed < 0) die("--seed %d: need >= 0", c.seed);
    if (!(c.tie_margin >= 0)) die("--tie_margin %g: must be >= 0", c.tie_margin);
    if (c.batch < 1) die("--batch %d: must be >= 1", c.batch);
    char seeds[64], err[1024];
    snprintf(seeds, sizeof seeds, "%d-%d", c.seed, c.seed + c.per_prompt - 1);
    pipeline_dir_check(c.model, "--model");
    if (output_path_check(c.out, OUTPUT_FOLDER, err, sizeof err)) die("%s (--out)", err);
    RenderJob job;
    render_job_parse(&job, &c.prompt, c.prompts, seeds, c.sampler, c.steps, c.eta, c.cfg);
    render_job_lora(&job, &c.lora, &c.lora_scale);
    render_job_weights(&job, c.variant, c.frozen_dtype);

    GpuContext g;
    GpuOptions go = GPU_DEFAULTS;
    go.device = c.device;
    cli_dist_join(&argc, &argv, &go);  // under mpirun: each rank renders its share
    if (gpu_init(&g, &go)) die("no usable Vulkan device (see `vkpref info`)");
    Judge judge;
    if (judge_open(&judge, &g, c.judge, err, sizeof err)) die("%s (--judge)", err);
    int ch, size, K = c.per_prompt, n = job.nprompts * K;
    float* images = render_job(&g, c.model, "--model", &job, c.batch, "make-pairs", &ch, &size);
    cli_dist_followers_leave();  // rank 0 holds every image now
    const char** caps = xmalloc((size_t)n * sizeof *caps);
    for (int i = 0; i < n; i++) caps[i] = job.prompts[i / K];
    double* scores = xmalloc((size_t)n * sizeof *scores);
    if (judge_score(&judge, images, caps, n, scores)) die("judge %s: %s", c.judge, judge.err);

    if (mkdir_p(c.out, err, sizeof err)) die("%s (--out)", err);
    char* img_dir = path_join(c.out, "img");
    SampleSheet sh = {(const char* const*)job.prompts, job.nprompts, job.seeds, job.nseeds, ch, size};
    SampleRun run = {NULL, c.model, images};
    if (sample_images_write(img_dir, &sh, &run, &job.set, err, sizeof err)) die("%s (--out)", err);

    // The manifest: one pair per line, in memory first, then one atomic write.
    JsonLines manifest = {0};
    int pairs = 0, ties = 0;
    double gap = 0;
    for (int p = 0; p < job.nprompts; p++)
        for (int k = 0; k + 1 < K; k += 2) {
            int i0 = p * K + k, i1 = i0 + 1;
            double d = scores[i0] - scores[i1];
            bool tie = fabs(d) <= c.tie_margin;
            double l0 = tie ? 0.5 : d > 0 ? 1 : 0;
            char f0[64], f1[64];
            sample_image_name(p, job.seeds[k], f0, sizeof f0);
            sample_image_name(p, job.seeds[k + 1], f1, sizeof f1);
            cJSON* row = cJSON_CreateObject();
            cJSON_AddStringToObject(row, "caption", job.prompts[p]);
            char path[128];
            snprintf(path, sizeof path, "img/%s", f0);
            cJSON_AddStringToObject(row, "jpg_0", path);
            snprintf(path, sizeof path, "img/%s", f1);
            cJSON_AddStringToObject(row, "jpg_1", path);
            cJSON_AddNumberToObject(row, "label_0", l0);
            cJSON_AddNumberToObject(row, "label_1", 1 - l0);
            cJSON_AddNumberToObject(row, "score_0", scores[i0]);
            cJSON_AddNumberToObject(row, "score_1", scores[i1]);
            cJSON_AddStringToObject(row, "judge", c.judge);
            json_lines_append(&manifest, row);
            cJSON_Delete(row);
            pairs++, ties += tie, gap += fabs(d);
        }
    cJSON* summary = cJSON_CreateObject();
    cJSON_AddStringToObject(summary, "model", c.model);
    cJSON_AddStringToObject(summary, "judge", c.judge);
    cJSON_AddNumberToObject(summary, "prompts", job.nprompts);
    cJSON_AddNumberToObject(summary, "per_prompt", K);
    cJSON_AddNumberToObject(summary, "first_seed", c.seed);
    cJSON_AddNumberToObject(summary, "pairs", pairs);
    cJSON_AddNumberToObject(summary, "ties", ties);
    cJSON_AddNumberToObject(summary, "tie_margin", c.tie_margin);
    cJSON_AddNumberToObject(summary, "mean_abs_score_gap", pairs ? gap / pairs : 0);
    cJSON_AddStringToObject(summary, "sampler", sampler_name(job.set.sampler));
    cJSON_AddNumberToObject(summary, "steps", c.steps);
    cJSON_AddNumberToObject(summary, "cfg", c.cfg);
    char* path = path_join(c.out, "make_pairs.json");
    if (json_write_file_atomic(path, summary, err, sizeof err)) die("%s", err);
    free(path);
    cJSON_Delete(summary);
    path = path_join(c.out, "pairs.jsonl");
    if (write_file_atomic(path, manifest.text, manifest.len, err, sizeof err)) die("%s", err);
    printf("vkpref make-pairs: %d pairs (%d ties within %g) from %d prompts x %d images, judge %s -> %s\n", pairs, ties,
           c.tie_margin, job.nprompts, K, c.judge, path);
    json_lines_free(&manifest);
    free(path), free(img_dir), free(scores), free(caps), free(images);
    judge_close(&judge);
    gpu_free(&g);
    render_job_free(&job);
    opts_free(&TABLE, &c);
    return 0;
}
