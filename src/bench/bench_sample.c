// bench_sample.c: see bench_sample.h.
//
// The generator (sample/generator.h) is set up as `vkpref sample` sets it up for
// --batch B and --cfg S; its text encoding is replayed once (timed apart), then
// its denoising step is replayed as generator_run replays it: per step the host
// writes the timestep, the sampler coefficients and (samplers that add noise)
// the noise, then submits. The timed steps walk the --num_inference_steps
// schedule, starting over from fresh noise (untimed) when it ends.
#include "bench/bench_sample.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "bench/bench_model.h"
#include "bench/bench_report.h"
#include "util/options.h"
#include "ops/op_sample.h"
#include "sample/generator.h"
#include "sample/render.h"  // VARIANT_HELP
#include "train/step.h"  // step_ptr
#include "gpu/profile.h"
#include "util/check.h"
#include "util/rng.h"
#include "util/timer.h"

typedef struct BenchSampleConfig {
    char model[OPT_STR_MAX], variant[OPT_STR_MAX], frozen_dtype[OPT_STR_MAX];
    char model_config[OPT_STR_MAX];
    int batch;
    double cfg;
    char sampler[OPT_STR_MAX];
    int num_inference_steps;
    int timed_steps, warmup;
    bool json, profile;
    int seed, device;
} BenchSampleConfig;

#define O(name, type, def, range, help) {#name, type, offsetof(BenchSampleConfig, name), def, help, range}
static const OptSpec SPECS[] = {
    O(model, OPT_STRING, "", OPT_ANY, "pipeline folder (as `vkpref sample --model`); empty: --model_config with random weights"),
    O(model_config, OPT_STRING, "configs/models/fmnist-small.json", OPT_ANY, "architecture when --model is empty (as `vkpref train`)"),
    O(variant, OPT_STRING, "", OPT_ANY, VARIANT_HELP),
    O(frozen_dtype, OPT_STRING, "auto", OPT_ANY, FROZEN_DTYPE_HELP),
    O(batch, OPT_INT, "16", OPT_IN(1, 4096), "images per batch (the UNet sees 2x this many rows with guidance)"),
    O(cfg, OPT_FLOAT, "3.0", OPT_IN(0, 100), "classifier-free guidance scale (<= 1: no guidance, B UNet rows)"),
    O(sampler, OPT_STRING, "ddim", OPT_ANY, "ddim, ddpm or euler"),
    O(num_inference_steps, OPT_INT, "25", OPT_IN(1, 10000),
      "the sampling schedule the timed steps come from (images_per_s_full); `vkpref sample --steps` is this"),
    O(timed_steps, OPT_INT, "10", OPT_IN(1, 10000),
      "timed denoising steps (alias --steps, as in `vkpref bench train`: not the schedule, see --num_inference_steps)"),
    O(warmup, OPT_INT, "3", OPT_GE(0), "untimed denoising steps first"),
    O(json, OPT_BOOL, "false", OPT_ANY, "print one JSON object instead of a report"),
    O(profile, OPT_BOOL, "false", OPT_ANY,
      "time every kernel with GPU timestamps over the timed steps and print a table per shader and op "
      "(also $VKPREF_PROFILE=1; see docs/PERFORMANCE.md)"),
    O(seed, OPT_INT, "0", OPT_GE(0), "seed of the random weights, captions and noise"),
    O(device, OPT_INT, "-1", OPT_GE(-1), "Vulkan device index (see `vkpref info`)"),
};
// --steps keeps the bench meaning (timed steps, as bench train and tools/bench_*.sh use it).
static const OptAlias ALIASES[] = {
    {"steps", "timed_steps", NULL},
    {"guidance_scale", "cfg", NULL},
    {"batch_size", "batch", NULL},
};
static const OptTable TABLE = {.command = "bench sample",
                               .summary = "Time one denoising step of sampling (as `vkpref sample` runs it) with random captions.",
                               .specs = SPECS, .n = sizeof SPECS / sizeof *SPECS, .aliases = ALIASES,
                               .naliases = sizeof ALIASES / sizeof *ALIASES};

typedef struct SampleBench {
    Generator gen;
    uint64_t seed;
} SampleBench;

// x_T of every image of the batch (image k from seed + k, as generator_run draws it).
static void fresh_noise(SampleBench* b) {
    Generator* g = &b->gen;
    float* x = step_ptr(&g->x);
    for (int k = 0; k < g->batch; k++) generator_noise(b->seed + (uint64_t)k, 0, g->numel, x + k * g->numel);
}

static double one_step(void* user, int s) {
    SampleBench* b = user;
    Generator* g = &b->gen;
    int i = s % g->set.steps;
    if (i == 0 && s > 0) fresh_noise(b);  // untimed by design: a new batch, not a denoising step
    double t0 = now_seconds();
    const SamplerStep* st = &g->plan[i];
    float* ts = step_ptr(&g->timesteps);
    for (int r = 0; r < g->rows; r++) ts[r] = st->timestep;
    sampler_pack_coefs(st, step_ptr(&g->coefs));
    if (st->cnoise != 0.0f) {
        float* noise = step_ptr(&g->noise);
        for (int k = 0; k < g->batch; k++) generator_noise(b->seed + (uint64_t)k, i + 1, g->numel, noise + k * g->numel);
    }
    double host = now_seconds() - t0;
    cmd_submit(&g->step);
    return host;
}

int bench_sample(int argc, char** argv) {
    BenchSampleConfig c;
    memset(&c, 0, sizeof c);
    int pr = opts_parse(&TABLE, &c, argc, argv);
    if (pr) return pr > 0 ? 0 : 2;
    if (c.profile) profile_enable();  // before anything is recorded
    GenerateSettings set = {.steps = c.num_inference_steps, .cfg = (float)c.cfg, .eta = 0};
    if (sampler_parse(c.sampler, &set.sampler)) die("--sampler %s: use ddim, ddpm or euler", c.sampler);
    if (c.batch < 1) die("--batch %d: need at least 1", c.batch);
    if (!isfinite(c.cfg)) die("--cfg %g: need a finite scale", c.cfg);
    if (c.num_inference_steps < 1) die("--num_inference_steps %d: need at least 1", c.num_inference_steps);
    if (c.timed_steps < 1) die("--timed_steps %d: need at least 1 timed step", c.timed_steps);
    if (c.warmup < 0) die("--warmup %d: must be >= 0", c.warmup);

    GpuContext g;
    GpuOptions go = GPU_DEFAULTS;
    go.device = c.device;
    if (gpu_init(&g, &go)) die("no usable Vulkan device (see `vkpref info`)");
    DiffusionPipeline p;
    BenchModelSource src = {c.model, "--model", c.model_config, (uint64_t)c.seed};
    FrozenDType frozen;
    char err[1024];
    if (frozen_dtype_parse(c.frozen_dtype, &frozen, err, sizeof err)) die("%s", err);
    bench_model_open(&p, &g, &src, (PipelineAlloc){.variant = c.variant, .frozen = frozen});
    if (c.num_inference_steps > p.sched.num_train_timesteps)
        die("--num_inference_steps %d: the model has %d training timesteps", c.num_inference_steps,
            p.sched.num_train_timesteps);
    SampleBench b = {.seed = (uint64_t)c.seed};
    Generator* gen = &b.gen;
    generator_init(gen, &g, &p, c.batch, set);

    // Random captions in the conditional rows (generator_init wrote the empty prompt in the others).
    int L = p.max_length;
    uint32_t* ids = (uint32_t*)step_ptr(&gen->ids) + (gen->guided ? (int64_t)gen->batch * L : 0);
    for (int64_t k = 0; k < (int64_t)gen->batch * L; k++)
        ids[k] = rng_below(b.seed, 0, RNG_STREAM_MISC, (uint64_t)k, (uint32_t)p.clip_cfg.vocab_size);
    cmd_submit(&gen->encode);  // untimed first replay, as the steps' warm-up
    double t0 = now_seconds();
    cmd_submit(&gen->encode);
    double encode_s = now_seconds() - t0, decode_s = 0;
    if (p.latent) {  // once per batch, like the text encoder: after the first replay (its pipelines compiled)
        cmd_submit(&gen->decode);
        t0 = now_seconds();
        cmd_submit(&gen->decode);
        decode_s = now_seconds() - t0;
    }
    fresh_noise(&b);

    BenchResult r = {.bench = "sample", .warmup = c.warmup, .steps = c.timed_steps, .images_per_step = gen->batch};
    int submits0 = gen->step.nsubmit;
    bench_run(&r, one_step, &b);
    r.submits_per_step = (double)(gen->step.nsubmit - submits0) / (c.warmup + c.timed_steps);
    bench_result_add_replays(&r, &gen->step, 1);
    r.flops = flops_unet_forward(&p.unet_cfg, gen->rows, L);
    bench_memory_add_params(&r.memory, &p.unet_ps);
    bench_memory_add_params(&r.memory, &p.text_ps);
    if (p.latent) bench_memory_add_params(&r.memory, &p.vae_ps), bench_memory_add_arena(&r.memory, &gen->vae_tmp);
    const Arena* arenas[] = {&gen->io, &gen->text, &gen->act, &gen->tmp};
    for (size_t i = 0; i < sizeof arenas / sizeof *arenas; i++) bench_memory_add_arena(&r.memory, arenas[i]);

    char model[8400];
    bench_model_describe(&src, model, sizeof model);
    cJSON* extra = cJSON_CreateObject();
    cJSON_AddStringToObject(extra, "model", model);
    cJSON_AddNumberToObject(extra, "batch", gen->batch);
    cJSON_AddNumberToObject(extra, "cfg", c.cfg);
    cJSON_AddBoolToObject(extra, "guided", gen->guided);
    cJSON_AddNumberToObject(extra, "unet_rows", gen->rows);
    cJSON_AddStringToObject(extra, "sampler", sampler_name(set.sampler));
    cJSON_AddNumberToObject(extra, "text_len", L);
    cJSON_AddNumberToObject(extra, "encode_s", encode_s);
    cJSON_AddNumberToObject(extra, "encode_gflop", flops_total(flops_clip_forward(&p.clip_cfg, gen->rows, L)) * 1e-9);
    cJSON_AddNumberToObject(extra, "encode_dispatches", gen->encode.ndispatch);
    cJSON_AddNumberToObject(extra, "num_inference_steps", c.num_inference_steps);
    cJSON_AddStringToObject(extra, "frozen_dtype", frozen_dtype_name(p.unet_ps.dtype));
    if (p.latent) cJSON_AddNumberToObject(extra, "decode_s", decode_s);
    // A whole batch: one encode, num_inference_steps steps and (latent) one decode; PNG output not included.
    cJSON_AddNumberToObject(extra, "images_per_s_full",
                            gen->batch / (encode_s + c.num_inference_steps * r.step.median + decode_s));
    bench_result_print(&r, &g, extra, c.json);

    generator_free(gen);
    pipeline_free(&p);
    gpu_free(&g);
    return 0;
}
