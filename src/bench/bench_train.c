// bench_train.c: see bench_train.h.
//
// The flags are those of `vkpref train` that change what a step computes,
// taken from its option table (train/train_config.c: same names, defaults and
// help), plus --timed_steps (alias --steps), --warmup and --json. The step is train_step_init's
// recording, replayed as `vkpref train` replays it: per optimizer step the host
// writes the step scalars and, per micro-batch, random x_t, targets, timesteps,
// token ids (and kto/tkto signs), then submits (K - 1 accumulate replays and
// one update replay with --gradient_accumulation_steps K).
//
// Started by an MPI launcher (`mpirun -np N vkpref bench train`), every rank
// times the data-parallel step (train_step_config_distribute: the gradient
// exchange, and kto's gathered rows) with --train_batch_size items each; rank 0
// first times the same step alone while the others wait, as the baseline of
// the scaling efficiency, and reports the exchange's time and bytes per step.
#include "bench/bench_train.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "bench/bench_model.h"
#include "bench/bench_report.h"
#include "dist/dist.h"
#include "objective/objective.h"
#include "train/step.h"
#include "train/train_config.h"
#include "train/model_setup.h"
#include "train/optimizer.h"
#include "train/run.h"
#include "train/lora_train.h"
#include "gpu/profile.h"
#include "util/check.h"
#include "util/rng.h"
#include "util/timer.h"

typedef struct BenchTrainConfig {
    TrainConfig train;  // the shared `vkpref train` options (only those in SHARED are set)
    int timed_steps, warmup;
    bool json, profile;
} BenchTrainConfig;

// The `vkpref train` options that matter to a step's cost or its numbers.
static const char* const SHARED[] = {
    "pretrained_model_name_or_path", "model_config", "objective", "train_batch_size", "gradient_accumulation_steps",
    "gradient_checkpointing", "train_text_encoder", "use_ema", "learning_rate", "adam_beta1", "adam_beta2",
    "adam_epsilon", "adam_weight_decay", "max_grad_norm", "ema_decay", "seed", "device", "variant", "frozen_dtype",
    "resolution", "lora_rank", "lora_alpha", "lora_target_modules", "lora_dropout", "lora_format",
    "overlap_gradient_exchange"};
#define NSHARED (sizeof SHARED / sizeof *SHARED)

#define O(name, type, def, range, help) {#name, type, offsetof(BenchTrainConfig, name), def, help, range}
static const OptSpec OWN[] = {
    O(timed_steps, OPT_INT, "10", OPT_IN(1, 10000), "timed training steps (optimizer steps; alias --steps)"),
    O(warmup, OPT_INT, "3", OPT_GE(0), "untimed steps first"),
    O(json, OPT_BOOL, "false", OPT_ANY, "print one JSON object instead of a report"),
    O(profile, OPT_BOOL, "false", OPT_ANY,
      "time every kernel with GPU timestamps over the timed steps and print a table per shader and op "
      "(also $VKPREF_PROFILE=1; see docs/PERFORMANCE.md)"),
};
#define NOWN (sizeof OWN / sizeof *OWN)

static const OptAlias ALIASES[] = {{"steps", "timed_steps", NULL}, {"rank", "lora_rank", NULL}};

static const OptTable* options(void) {
    static OptSpec specs[NSHARED + OBJ_HYPER_OPTIONS + NOWN];
    static OptTable t = {.command = "bench train",
                         .summary = "Time one training step on random inputs of the model's shape (as `vkpref train` runs it; "
                         "--train_text_encoder auto: true for sft, false otherwise). --train_batch_size counts items: "
                         "dpo, mapo, tdpo and tkto use 2 UNet rows per item.",
                         .specs = specs, .n = 0, .aliases = ALIASES, .naliases = sizeof ALIASES / sizeof *ALIASES};
    if (t.n) return &t;
    const OptTable* tr = train_options();
    for (size_t i = 0; i < NSHARED + OBJ_HYPER_OPTIONS; i++) {  // and every objective's hyper-parameters
        const char* name = i < NSHARED ? SHARED[i] : OBJ_HYPERS[i - NSHARED].key;
        const OptSpec* s = NULL;
        for (int k = 0; k < tr->n && !s; k++)
            if (!strcmp(tr->specs[k].name, name)) s = &tr->specs[k];
        if (!s) die("bench train: `vkpref train` has no option --%s", name);
        specs[t.n] = *s;
        specs[t.n++].offset += offsetof(BenchTrainConfig, train);
    }
    for (size_t i = 0; i < NOWN; i++) specs[t.n++] = OWN[i];
    return &t;
}

typedef struct TrainBench {
    const TrainConfig* c;
    Objective obj;
    int items, rows, K, text_len, vocab, T;
    int64_t numel;  // of one image
    TrainStep st;
    int step;       // the step being filled
    double host;    // its host input time so far
    double exchange, exchange_bytes;  // data parallel: this step's all-reduce/all-gather seconds and bytes sent
} TrainBench;

// The data-parallel exchanges, timed.
static void timed_sum(void* user, float* grads, int64_t n) {
    TrainBench* b = user;
    double t0 = now_seconds();
    dist_sum_floats(grads, n);
    b->exchange += now_seconds() - t0;
    b->exchange_bytes += (double)n * sizeof *grads;
}

static void timed_gather(void* user, const float* mine, float* all, int64_t n) {
    TrainBench* b = user;
    double t0 = now_seconds();
    dist_gather_floats(mine, all, n);
    b->exchange += now_seconds() - t0;
    b->exchange_bytes += (double)n * sizeof *mine;
}

// Random inputs of micro-batch m of step s (the stand-in for the batchers).
static void fill_micro_batch(TrainBench* b, int s, int m) {
    uint64_t seed = (uint64_t)b->c->seed;
    int64_t n = b->rows * b->numel, base = (int64_t)m * n;
    rng_normal_fill(step_ptr(&b->st.x_t), n, seed, (uint64_t)s, RNG_STREAM_NOISE, (uint64_t)base);
    rng_normal_fill(step_ptr(&b->st.target), n, seed, (uint64_t)s, RNG_STREAM_MISC, (uint64_t)base);
    float* ts = step_ptr(&b->st.timesteps);
    for (int r = 0; r < b->rows; r++)  // the rows of a pair share a timestep
        ts[r] = (float)rng_below(seed, (uint64_t)s, RNG_STREAM_TIMESTEP, (uint64_t)(m * b->items + r % b->items),
                                 (uint32_t)b->T);
    uint32_t* ids = (uint32_t*)step_ptr(&b->st.ids);
    for (int64_t k = 0; k < (int64_t)b->rows * b->text_len; k++)
        ids[k] = rng_below(seed, (uint64_t)s, RNG_STREAM_BATCH, (uint64_t)(base + k), (uint32_t)b->vocab);
    float* signs = step_ptr(&b->st.signs);
    if (b->obj == OBJ_TKTO) objective_tkto_signs(signs, b->items);
    else if (b->obj == OBJ_KTO)
        for (int r = 0; r < b->rows; r++) signs[r] = rng_u01(seed, (uint64_t)s, RNG_STREAM_FLIP, (uint64_t)r) < 0.5 ? 1.0f : -1.0f;
}

// vkQueueSubmit calls so far (a recording a configuration does not use counts none).
static int step_submits(const TrainStep* st) {
    return st->accumulate.nsubmit + st->update.nsubmit + st->forward.nsubmit + st->grads_out.nsubmit +
           st->last.nsubmit;
}

// fill_micro_batch, timed: the host's share of a step.
static void fill_timed(void* user, int m) {
    TrainBench* b = user;
    double t0 = now_seconds();
    fill_micro_batch(b, b->step, m);
    b->host += now_seconds() - t0;
}

// One optimizer step as `vkpref train` runs it (the same replay); returns the host input time.
static double one_step(void* user, int s) {
    TrainBench* b = user;
    const TrainConfig* c = b->c;
    double t0 = now_seconds();
    optimizer_step_scalars(step_ptr(&b->st.scalars), c->learning_rate, s, (float)c->adam_beta1, (float)c->adam_beta2,
                           c->ema_decay);
    b->step = s;
    b->host = now_seconds() - t0;
    b->exchange = b->exchange_bytes = 0;
    double metrics[OBJ_METRICS_COUNT];
    train_step_replay(&b->st, b->K, fill_timed, b, metrics);
    return b->host;
}

// Data parallel: one_step, keeping each step's exchange time (ex[s]).
typedef struct ExchangeLog {
    TrainBench* b;
    double* ex;
} ExchangeLog;

static double one_step_logged(void* user, int s) {
    ExchangeLog* l = user;
    double h = one_step(l->b, s);
    l->ex[s] = l->b->exchange;
    return h;
}

int bench_train(int argc, char** argv) {
    BenchTrainConfig bc;
    memset(&bc, 0, sizeof bc);
    int pr = opts_parse(options(), &bc, argc, argv);
    if (pr) return pr > 0 ? 0 : 2;
    if (bc.profile) profile_enable();  // before anything is recorded
    const TrainConfig* c = &bc.train;
    TrainBench b = {.c = c, .K = c->gradient_accumulation_steps};
    char err[1024];
    if (!objective_parse(c->objective, &b.obj)) die("--objective %s: use %s", c->objective, objective_names_list());
    bool train_text;  // auto: as `vkpref train` pre-training on fmnist
    if (train_text_encoder_resolve(c->train_text_encoder, b.obj == OBJ_SFT, &train_text, err, sizeof err))
        die("%s", err);
    if (train_text && objective_needs_reference(b.obj))
        die("--objective %s with --train_text_encoder %s: the frozen reference UNet reads the same text states, which "
            "would need a frozen copy of the text encoder too; use --train_text_encoder false",
            c->objective, c->train_text_encoder);
    if (c->train_batch_size < 1) die("--train_batch_size %d: must be >= 1", c->train_batch_size);
    if (b.K < 1) die("--gradient_accumulation_steps %d: must be >= 1", b.K);
    if (bc.timed_steps < 1) die("--timed_steps %d: need at least 1 timed step", bc.timed_steps);
    if (bc.warmup < 0) die("--warmup %d: must be >= 0", bc.warmup);
    FrozenDType frozen;
    if (frozen_dtype_parse(c->frozen_dtype, &frozen, err, sizeof err) || lora_train_check(c, train_text, err, sizeof err))
        die("%s", err);
    bool lora = lora_training(c);
    if (dist_init(&argc, &argv, err, sizeof err)) die("%s", err);
    int nranks = dist_size();

    GpuContext g;
    GpuOptions go = GPU_DEFAULTS;
    go.device = c->device;
    go.nth = dist_local_rank();  // one device per rank of this machine, as `vkpref train`
    if (gpu_init(&g, &go)) die("no usable Vulkan device (see `vkpref info`)");
    if (nranks > 1)
        fprintf(stderr, "vkpref bench train: rank %d of %d: device %d: %s\n", dist_rank(), nranks, g.device_index,
                g.props.deviceName);
    DiffusionPipeline p;
    BenchModelSource src = {c->pretrained_model_name_or_path, "--pretrained_model_name_or_path", c->model_config,
                            (uint64_t)c->seed};
    bench_model_open(&p, &g, &src,
                     (PipelineAlloc){.unet_train = !lora, .unet_ema = c->use_ema && !lora, .text_train = train_text,
                                     .variant = c->variant, .frozen = frozen});
    int image_channels, image_size;  // --resolution: the pipeline's own only (the UNet's sample_size sets the step)
    pipeline_image_shape(&p, &image_channels, &image_size);
    if (c->resolution > 0 && c->resolution != image_size)
        die("--resolution %d: this model's images are %dx%d (the bench times the model at its own size)", c->resolution,
            image_size, image_size);
    LoraSet adapters;  // --lora_rank: the adapters trained, the UNet frozen, the reference = adapters off
    if (lora && lora_train_setup(&adapters, &p, c, err, sizeof err)) die("%s", err);
    bool ref = objective_needs_reference(b.obj) && !lora;
    ParamStore ref_ps;
    if (ref) bench_model_reference(&ref_ps, &g, &p, &src, c->variant, frozen_dtype_resolve(frozen, p.latent));

    ObjectiveHyper hyper;
    if (objective_hyper_from_options(c, b.obj, p.sched.num_train_timesteps, &hyper, err, sizeof err)) die("%s", err);
    b.items = c->train_batch_size;
    b.rows = b.items * objective_rows_per_item(b.obj);
    b.text_len = p.max_length;
    b.vocab = p.clip_cfg.vocab_size;
    b.T = p.sched.num_train_timesteps;
    b.numel = (int64_t)p.unet_cfg.in_channels * p.unet_cfg.sample_size * p.unet_cfg.sample_size;
    TrainStepConfig sc = train_step_config_from_options(c, b.obj, train_text, b.rows, b.text_len, hyper, &ref_ps);
    sc.lora = lora ? &adapters : NULL;

    // Data parallel: rank 0's step alone first (the others wait without spinning).
    BenchResult solo = {.bench = "train", .warmup = bc.warmup, .steps = bc.timed_steps};
    if (nranks > 1) {
        if (dist_lead()) {
            train_step_init(&b.st, &g, &p.unet, &p.unet_ps, &p.clip, &p.text_ps, sc);
            bench_run(&solo, one_step, &b);
            train_step_free(&b.st);
        }
        dist_barrier();
    }
    train_step_config_distribute(&sc, nranks, dist_rank(), timed_sum, timed_gather, &b);
    train_step_init(&b.st, &g, &p.unet, &p.unet_ps, &p.clip, &p.text_ps, sc);

    BenchResult r = {.bench = "train", .warmup = bc.warmup, .steps = bc.timed_steps,
                     .images_per_step = (double)b.rows * b.K * nranks};
    int submits0 = step_submits(&b.st);
    ExchangeLog xl = {&b, xcalloc((size_t)(bc.warmup + bc.timed_steps), sizeof(double))};
    bench_run(&r, one_step_logged, &xl);
    BenchTimes exchange = bench_times(xl.ex + bc.warmup, bc.timed_steps);
    free(xl.ex);
    r.submits_per_step = (double)(step_submits(&b.st) - submits0) / (bc.warmup + bc.timed_steps);
    // Data parallel: every micro-batch replays `accumulate` (and, gathered, `forward`), but the last one
    // `last` when the exchange overlaps; `update` is the tail.
    bool overlap = b.st.last.ended;
    bench_result_add_replays(&r, &b.st.accumulate, sc.reduce ? b.K - overlap : b.K - 1);
    if (overlap) bench_result_add_replays(&r, &b.st.last, 1);
    if (sc.gather) bench_result_add_replays(&r, &b.st.forward, b.K);
    bench_result_add_replays(&r, &b.st.update, 1);

    // Per micro-batch: the text encoder (trained: forward + backward), the
    // reference's forward, the policy's forward + backward.
    FlopCount clip = flops_clip_forward(&p.clip_cfg, b.rows, b.text_len);
    FlopCount unet = flops_unet_forward(&p.unet_cfg, b.rows, b.text_len);
    FlopCount micro = flops_add(flops_scale(clip, train_text ? 3 : 1),
                                flops_scale(unet, objective_needs_reference(b.obj) ? 4 : 3));
    r.flops = flops_scale(micro, b.K * nranks);
    bench_memory_add_params(&r.memory, &p.unet_ps);
    bench_memory_add_params(&r.memory, &p.text_ps);
    if (ref) bench_memory_add_params(&r.memory, &ref_ps);
    if (lora) bench_memory_add_params(&r.memory, &adapters.ps);
    if (p.latent) bench_memory_add_params(&r.memory, &p.vae_ps);  // loaded, idle: the latents are cached
    const Arena* arenas[] = {&b.st.io, &b.st.act, &b.st.tmp, &b.st.grad};
    for (size_t i = 0; i < sizeof arenas / sizeof *arenas; i++) bench_memory_add_arena(&r.memory, arenas[i]);

    double loss = step_ptr(&b.st.metrics)[OBJ_METRIC_LOSS];
    if (!isfinite(loss)) fprintf(stderr, "vkpref bench train: warning: the last step's loss is %g (timings still hold)\n", loss);
    char model[8400];
    bench_model_describe(&src, model, sizeof model);
    cJSON* extra = cJSON_CreateObject();
    cJSON_AddStringToObject(extra, "model", model);
    cJSON_AddStringToObject(extra, "objective", objective_name(b.obj));
    cJSON_AddNumberToObject(extra, "train_batch_size", b.items);
    cJSON_AddNumberToObject(extra, "rows_per_micro_batch", b.rows);
    cJSON_AddNumberToObject(extra, "gradient_accumulation_steps", b.K);
    cJSON_AddNumberToObject(extra, "items_per_s", (double)b.items * b.K * nranks / r.step.median);
    if (nranks > 1) {  // step times are rank 0's; every rank waits for the slowest at each exchange
        cJSON_AddNumberToObject(extra, "ranks", nranks);
        cJSON_AddStringToObject(extra, "backend", dist_backend());
        cJSON_AddBoolToObject(extra, "overlap_gradient_exchange", overlap);
        cJSON_AddNumberToObject(extra, "exchange_buckets", b.st.nbuckets);
        cJSON_AddNumberToObject(extra, "exchange_median_s", exchange.median);
        cJSON_AddNumberToObject(extra, "exchange_fraction", exchange.median / r.step.median);
        cJSON_AddNumberToObject(extra, "exchange_bytes_per_step", b.exchange_bytes);
        cJSON_AddNumberToObject(extra, "exchange_gb_per_s", b.exchange_bytes / exchange.median * 1e-9);
        cJSON_AddNumberToObject(extra, "single_process_median_s", solo.step.median);
        // Weak scaling: N ranks of B items each against one process of B items.
        cJSON_AddNumberToObject(extra, "scaling_efficiency", solo.step.median / r.step.median);
    }
    cJSON_AddBoolToObject(extra, "train_text_encoder", train_text);
    cJSON_AddStringToObject(extra, "frozen_dtype", frozen_dtype_name(frozen_dtype_resolve(frozen, p.latent)));
    if (lora) {
        cJSON_AddNumberToObject(extra, "lora_rank", c->lora_rank);
        cJSON_AddNumberToObject(extra, "lora_parameters", (double)param_count(&adapters.ps));
    }
    cJSON_AddBoolToObject(extra, "gradient_checkpointing", c->gradient_checkpointing);
    cJSON_AddBoolToObject(extra, "use_ema", c->use_ema);
    cJSON_AddNumberToObject(extra, "text_len", b.text_len);
    cJSON_AddNumberToObject(extra, "unet_parameters", (double)param_count(&p.unet_ps));
    cJSON_AddNumberToObject(extra, "text_encoder_parameters", (double)param_count(&p.text_ps));
    cJSON_AddNumberToObject(extra, "vocab_size", b.vocab);
    if (isfinite(loss)) cJSON_AddNumberToObject(extra, "last_loss", loss);
    if (dist_lead()) bench_result_print(&r, &g, extra, bc.json);
    else cJSON_Delete(extra);

    train_step_free(&b.st);
    if (ref) param_store_free(&ref_ps);
    if (lora) lora_set_free(&adapters);
    pipeline_free(&p);
    gpu_free(&g);
    dist_finalize();
    return 0;
}
