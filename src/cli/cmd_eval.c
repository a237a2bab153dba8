// cmd_eval.c: `vkpref eval`: win rate of a model against its base under a
// judge, on the same prompts, seeds and sampler settings (DATA.md: AI-feedback
// evaluation), with a 95% Wilson interval (ties count half, eval/winrate.h),
// mean judge scores and, with a classifier, caption-fit accuracy of both.
// Results go to the terminal and, with --json, to a file (written atomically).
#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "util/options.h"
#include "eval/winrate.h"
#include "judge/judge.h"
#include "sample/render.h"
#include "util/check.h"
#include "util/fsutil.h"

typedef struct EvalConfig {
    char model[OPT_STR_MAX], base[OPT_STR_MAX];
    OptStrings lora, lora_scale;
    char variant[OPT_STR_MAX], frozen_dtype[OPT_STR_MAX];
    OptStrings prompt;
    char prompts[OPT_STR_MAX], seeds[OPT_STR_MAX], judge[OPT_STR_MAX], caption_fit_judge[OPT_STR_MAX];
    int steps;
    char sampler[OPT_STR_MAX];
    double eta, cfg, tie_margin;
    int batch;
    char json[OPT_STR_MAX];
    int device;
} EvalConfig;

#define O(name, type, def, range, help) {#name, type, offsetof(EvalConfig, name), def, help, range}

static const OptSpec SPECS[] = {
    O(model, OPT_STRING, "", OPT_ANY, "the tuned pipeline folder; required"),
    O(base, OPT_STRING, "", OPT_ANY, "the base pipeline folder it is compared with; required"),
    O(lora, OPT_STRING_LIST, "", OPT_ANY, LORA_FILES_HELP " (to --model's, which may then be the base folder)"),
    O(lora_scale, OPT_STRING_LIST, "1", OPT_ANY, LORA_SCALE_HELP),
    O(variant, OPT_STRING, "", OPT_ANY, VARIANT_HELP),
    O(frozen_dtype, OPT_STRING, "auto", OPT_ANY, FROZEN_DTYPE_HELP),
    O(prompt, OPT_STRING_LIST, "", OPT_ANY, "a prompt (repeatable)"),
    O(prompts, OPT_STRING, "", OPT_ANY, "file of prompts, one a line"),
    O(seeds, OPT_STRING, "0-15", OPT_ANY, "seeds: each prompt is sampled at each seed by both models"),
    O(judge, OPT_STRING, "classifier", OPT_ANY, "judge name (brightness, contrast, ink, border, darkness, small, classifier[:DIR], -NAME)"),
    O(caption_fit_judge, OPT_STRING, "classifier", OPT_ANY, "classifier judge for caption-fit accuracy (\"\": skip)"),
    O(tie_margin, OPT_FLOAT, "0", OPT_GE(0), "score differences within this margin are ties (count half)"),
    O(steps, OPT_INT, "25", OPT_IN(1, 10000), "denoising steps"),
    O(sampler, OPT_STRING, "ddim", OPT_ANY, "ddim, ddpm or euler"),
    O(eta, OPT_FLOAT, "0", OPT_IN(0, 1), "DDIM eta"),
    O(cfg, OPT_FLOAT, "3.0", OPT_IN(0, 100), "classifier-free guidance scale"),
    O(batch, OPT_INT, "16", OPT_IN(1, 4096), "images per batch (speed only)"),
    O(json, OPT_STRING, "", OPT_ANY, "also write the results to this JSON file"),
    O(device, OPT_INT, "-1", OPT_GE(-1), "Vulkan device index (see `vkpref info`)"),
};

static const OptTable TABLE = {.command = "eval", .summary = "Win rate of a model against its base under a judge.",
                               .specs = SPECS, .n = sizeof SPECS / sizeof *SPECS, .aliases = SAMPLING_ALIASES,
                               .naliases = SAMPLING_NALIASES};

// Scores of n images with their prompts under judge j; dies naming the judge.
static double* score_all(Judge* j, const float* images, const char* const* captions, int n) {
    double* s = xmalloc((size_t)n * sizeof *s);
    if (judge_score(j, images, captions, n, s)) die("judge %s: %s", j->name, j->err);
    return s;
}

int cmd_eval(int argc, char** argv) {
    EvalConfig c;
    int pr = opts_parse(&TABLE, &c, argc, argv);
    if (pr) return opts_free(&TABLE, &c), pr > 0 ? 0 : 2;
    if (!*c.model || !*c.base) {
        fprintf(stderr, "vkpref eval: --model DIR and --base DIR are required (see `vkpref eval --help`)\n");
        return 2;
    }
    char err[1024];
    pipeline_dir_check(c.model, "--model");
    pipeline_dir_check(c.base, "--base");
    RenderJob job;
    render_job_parse(&job, &c.prompt, c.prompts, c.seeds, c.sampler, c.steps, c.eta, c.cfg);
    if (c.batch < 1) die("--batch %d: must be >= 1", c.batch);
    if (!(c.tie_margin >= 0)) die("--tie_margin %g: must be >= 0", c.tie_margin);
    if (*c.json && output_path_check(c.json, OUTPUT_FILE, err, sizeof err)) die("%s (--json)", err);

    GpuContext g;
    GpuOptions go = GPU_DEFAULTS;
    go.device = c.device;
    cli_dist_join(&argc, &argv, &go);  // under mpirun: each rank renders its share
    if (gpu_init(&g, &go)) die("no usable Vulkan device (see `vkpref info`)");
    Judge judge, fit;
    if (judge_open(&judge, &g, c.judge, err, sizeof err)) die("%s (--judge)", err);
    bool with_fit = *c.caption_fit_judge != 0;
    if (with_fit && judge_open(&fit, &g, c.caption_fit_judge, err, sizeof err)) die("%s (--caption_fit_judge)", err);

    int ch, size, ch2, size2, n = job.nprompts * job.nseeds;
    render_job_lora(&job, &c.lora, &c.lora_scale);
    render_job_weights(&job, c.variant, c.frozen_dtype);
    float* a = render_job(&g, c.model, "--model", &job, c.batch, "eval model", &ch, &size);
    job.lora.n = 0;  // the base as it is
    float* b = render_job(&g, c.base, "--base", &job, c.batch, "eval base", &ch2, &size2);
    cli_dist_followers_leave();  // rank 0 holds every image now
    if (ch != ch2 || size != size2) die("--base %s: its images are not the shape of --model's", c.base);
    const char** caps = xmalloc((size_t)n * sizeof *caps);
    for (int i = 0; i < n; i++) caps[i] = job.prompts[i / job.nseeds];
    double *sa = score_all(&judge, a, caps, n), *sb = score_all(&judge, b, caps, n);
    WinStats w = winrate(sa, sb, n, c.tie_margin);
    double fit_a = 0, fit_b = 0;
    if (with_fit && (judge_caption_fit(&fit, a, caps, n, &fit_a) || judge_caption_fit(&fit, b, caps, n, &fit_b)))
        die("--caption_fit_judge %s: %s", fit.name, fit.err);

    printf("vkpref eval: judge %s, %d prompts x %d seeds = %d comparisons (ties: |difference| <= %g, counted half)\n",
           c.judge, job.nprompts, job.nseeds, n, c.tie_margin);
    printf("  win rate of %s%s against %s: %.3f [%.3f, %.3f] (95%% Wilson); %d wins, %d ties, %d losses\n", c.model,
           c.lora.n && *c.lora.v[0] ? " with its --lora adapters" : "", c.base, w.rate, w.ci_lo, w.ci_hi, w.wins, w.ties,
           w.losses);
    printf("  mean judge score: model %.4f, base %.4f\n", w.mean_model, w.mean_base);
    if (with_fit) printf("  caption fit (%s): model %.3f, base %.3f\n", c.caption_fit_judge, fit_a, fit_b);

    if (*c.json) {
        cJSON* o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "model", c.model);
        cJSON_AddStringToObject(o, "base", c.base);
        cJSON_AddStringToObject(o, "judge", c.judge);
        cJSON_AddNumberToObject(o, "comparisons", n);
        cJSON_AddNumberToObject(o, "wins", w.wins);
        cJSON_AddNumberToObject(o, "ties", w.ties);
        cJSON_AddNumberToObject(o, "losses", w.losses);
        cJSON_AddNumberToObject(o, "win_rate", w.rate);
        cJSON_AddNumberToObject(o, "ci95_lo", w.ci_lo);
        cJSON_AddNumberToObject(o, "ci95_hi", w.ci_hi);
        cJSON_AddStringToObject(o, "interval", "Wilson score, 95%, ties counted as half a win");
        cJSON_AddNumberToObject(o, "tie_margin", c.tie_margin);
        cJSON_AddNumberToObject(o, "mean_score_model", w.mean_model);
        cJSON_AddNumberToObject(o, "mean_score_base", w.mean_base);
        if (with_fit) {
            cJSON_AddStringToObject(o, "caption_fit_judge", c.caption_fit_judge);
            cJSON_AddNumberToObject(o, "caption_fit_model", fit_a);
            cJSON_AddNumberToObject(o, "caption_fit_base", fit_b);
        }
        cJSON_AddStringToObject(o, "sampler", sampler_name(job.set.sampler));
        cJSON_AddNumberToObject(o, "steps", c.steps);
        cJSON_AddNumberToObject(o, "cfg", c.cfg);
        cJSON_AddNumberToObject(o, "eta", c.eta);
        cJSON* per = cJSON_AddArrayToObject(o, "per_prompt");
        for (int p = 0; p < job.nprompts; p++) {
            WinStats wp = winrate(sa + p * job.nseeds, sb + p * job.nseeds, job.nseeds, c.tie_margin);
            cJSON* e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "prompt", job.prompts[p]);
            cJSON_AddNumberToObject(e, "win_rate", wp.rate);
            cJSON_AddNumberToObject(e, "mean_score_model", wp.mean_model);
            cJSON_AddNumberToObject(e, "mean_score_base", wp.mean_base);
            cJSON_AddItemToArray(per, e);
        }
        char* text = cJSON_Print(o);
        if (write_file_atomic(c.json, text, strlen(text), err, sizeof err)) die("%s (--json)", err);
        free(text);
        cJSON_Delete(o);
    }
    free(a), free(b), free(sa), free(sb), free(caps);
    if (with_fit) judge_close(&fit);
    judge_close(&judge);
    gpu_free(&g);
    render_job_free(&job);
    opts_free(&TABLE, &c);
    return 0;
}
