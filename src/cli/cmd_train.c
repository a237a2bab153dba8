// cmd_train.c: `vkpref train`: pre-training (sft) on the embedded Fashion-MNIST
// set, from scratch (--model_config; the tokenizer is trained on the captions),
// from a pipeline folder (--pretrained_model_name_or_path) or from a checkpoint
// (--resume_from_checkpoint latest|DIR, continuing bit for bit).
// Every random choice of step s is a function of (seed, s) (util/rng.h).
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "io/fmnist.h"
#include "model/pipeline_io.h"
#include "data/manifest.h"
#include "model/weights.h"
#include "train/checkpoint.h"
#include "train/fmnist_batches.h"
#include "train/lr_schedule.h"
#include "train/model_setup.h"
#include "train/objective.h"
#include "train/pref_batches.h"
#include "train/step.h"
#include "train/train_config.h"
#include "train/validation.h"
#include "train/validation_grid.h"
#include "util/check.h"
#include "util/fsutil.h"
#include "util/json_fields.h"
#include "util/progress.h"
#include "util/timer.h"

// Options that may change on resume without changing what the run computes.
static const char* const RESUME_FREE_KEYS[] = {"resume_from_checkpoint", "max_train_steps", "output_dir", "device",
                                               "checkpointing_steps", "checkpoints_total_limit", "log_every",
                                               "save_f16", "validation_steps"};

static void check_supported(const TrainConfig* c, Objective* obj, bool* train_text) {
    if (!objective_parse(c->objective, obj)) die("--objective %s: use sft, dpo, mapo, kto, tdpo or tkto", c->objective);
    bool fmnist = !strcmp(c->dataset, "fmnist");
    if (fmnist && *obj != OBJ_SFT)
        die("--objective %s needs preference data: --dataset MANIFEST.jsonl (Pick-a-Pic style; the embedded fmnist set "
            "has none)", c->objective);
    if (objective_needs_reference(*obj) && !*c->pretrained_model_name_or_path)
        die("--objective %s compares against a frozen reference: give --pretrained_model_name_or_path", c->objective);
    if (!strcmp(c->train_text_encoder, "auto")) *train_text = fmnist && *obj == OBJ_SFT;
    else if (!strcmp(c->train_text_encoder, "true")) *train_text = true;
    else if (!strcmp(c->train_text_encoder, "false")) *train_text = false;
    else die("--train_text_encoder %s: use auto, true or false", c->train_text_encoder);
    if (c->train_batch_size < 1) die("--train_batch_size %d: must be >= 1", c->train_batch_size);
    if (c->max_train_steps < 1) die("--max_train_steps %d: must be >= 1", c->max_train_steps);
    if (c->gradient_accumulation_steps < 1) die("--gradient_accumulation_steps %d: must be >= 1", c->gradient_accumulation_steps);
    if (c->checkpointing_steps < 0 || c->validation_steps < 0 || c->log_every < 1)
        die("--checkpointing_steps and --validation_steps must be >= 0, --log_every >= 1");
    if (c->validation_images < 0) die("--validation_images %d: must be >= 0", c->validation_images);
}

// A resumed run computes the same steps only with the same options: name the ones that differ.
static void warn_changed_options(const char* ckpt, const char* now_json) {
    char path[8400], err[1024];
    snprintf(path, sizeof path, "%s/train_config.json", ckpt);
    char* text = json_read_file(path, err, sizeof err);
    if (!text) return;
    cJSON *then = cJSON_Parse(text), *now = cJSON_Parse(now_json);
    free(text);
    const cJSON* item;
    cJSON_ArrayForEach(item, now) {
        bool free_key = false;
        for (size_t i = 0; i < sizeof RESUME_FREE_KEYS / sizeof *RESUME_FREE_KEYS; i++)
            free_key |= !strcmp(item->string, RESUME_FREE_KEYS[i]);
        const cJSON* old = cJSON_GetObjectItemCaseSensitive(then, item->string);
        if (free_key || !old || cJSON_Compare(old, item, true)) continue;
        char *a = cJSON_PrintUnformatted(old), *b = cJSON_PrintUnformatted(item);
        // A flag given as a string and the same value saved as a JSON bool or number are not a change.
        const char *ua = a + (*a == '"'), *ub = b + (*b == '"');
        size_t la = strlen(ua) - (*a == '"'), lb = strlen(ub) - (*b == '"');
        if (la != lb || strncmp(ua, ub, la)) {
            fprintf(stderr, "vkpref train: warning: %s was %s in the checkpoint, now %s: the run will differ from an "
                            "uninterrupted one\n", item->string, a, b);
        }
        free(a), free(b);
    }
    cJSON_Delete(then), cJSON_Delete(now);
}

// The CSV log of a resumed run keeps the rows up to the checkpoint's step.
static FILE* open_log(const char* output_dir, int resume_step) {
    char path[8192], err[1024];
    snprintf(path, sizeof path, "%s/train_log.csv", output_dir);
    if (resume_step > 0 && path_exists(path)) {
        char* text = read_file(path, NULL, err, sizeof err);
        if (!text) die("%s", err);
        size_t keep = 0;
        for (char* line = text; *line;) {
            char* end = strchr(line, '\n');
            size_t len = end ? (size_t)(end - line) + 1 : strlen(line);
            if (line != text && atoi(line) > resume_step) break;
            keep = (size_t)(line - text) + len;
            line += len;
        }
        if (write_file_atomic(path, text, keep, err, sizeof err)) die("%s", err);
        free(text);
        FILE* f = fopen(path, "a");
        if (!f) die("%s: cannot append", path);
        return f;
    }
    FILE* f = fopen(path, "w");
    if (!f) die("%s: cannot write", path);
    fputs("step,loss,lr,grad_norm,images_per_s,val_loss", f);  // then the objective's metrics (objective.h)
    for (int k = 1; k < OBJ_METRICS_COUNT; k++) fprintf(f, ",%s", objective_metric_name((ObjMetric)k));
    fputc('\n', f);
    return f;
}

typedef struct Run {
    const TrainConfig* c;
    Objective obj;
    bool train_text;       // resolved --train_text_encoder
    bool pref;             // a manifest (else the embedded fmnist set)
    PrefDataset pref_set;
    PrefBatcher pref_batcher;
    ParamStore ref;        // the frozen reference UNet (objective_needs_reference)
    char* config_json;
    GpuContext g;
    DiffusionPipeline p;
    TrainStep st;
    ValidationLoss val;
    ValidationGrid grid;
    Fmnist train_set;
    FmnistBatcher batcher, val_batcher;
    Fmnist test_set;
    NoiseSchedule sched;
    LrSchedule lrs;
    Progress prog;
    char last_checkpoint[8192];
} Run;

static void save_checkpoint(Run* r, int step) {
    char err[1024];
    progress_pause(&r->prog);
    if (checkpoint_save(&r->p, r->train_text, r->c->use_ema, r->config_json, (CheckpointState){step},
                        r->c->output_dir, r->c->checkpoints_total_limit, r->last_checkpoint, sizeof r->last_checkpoint,
                        err, sizeof err))
        die("%s", err);
}

// The held-out loss (NAN when off) and, when grids are on, output_dir/validation/step-<step>.png.
static double validate(Run* r, int step) {
    progress_pause(&r->prog);
    if (r->c->validation_grid_seeds > 0) {
        char path[8192], err[1024];
        snprintf(path, sizeof path, "%s/validation/step-%06d.png", r->c->output_dir, step);
        if (validation_grid_render(&r->grid, path, step, err, sizeof err)) die("%s", err);
    }
    return r->c->validation_images > 0 ? validation_run(&r->val) : NAN;
}

// One optimizer step: K micro-batches, the last one replaying the update recording.
static void train_one_step(Run* r, int s, double lr, double* loss, double* gnorm, double* metrics) {
    const TrainConfig* c = r->c;
    int B = c->train_batch_size, K = c->gradient_accumulation_steps;  // B items per micro-batch
    float* sv = step_ptr(&r->st.scalars);
    sv[STEP_LR] = (float)lr;
    sv[STEP_BC1] = (float)(1 - pow((double)(float)c->adam_beta1, s + 1));
    sv[STEP_BC2] = (float)(1 - pow((double)(float)c->adam_beta2, s + 1));
    // diffusers' EMAModel: the decay ramps up as (1 + s) / (10 + s), so early
    // EMA weights follow training instead of staying near the random start.
    double ramp = (1.0 + s) / (10.0 + s);
    sv[STEP_EMA_DECAY] = (float)(ramp < c->ema_decay ? ramp : c->ema_decay);
    for (int k = 0; k < OBJ_METRICS_COUNT; k++) metrics[k] = 0;
    for (int m = 0; m < K; m++) {
        float *xt = step_ptr(&r->st.x_t), *tg = step_ptr(&r->st.target), *ts = step_ptr(&r->st.timesteps);
        uint32_t* ids = (uint32_t*)step_ptr(&r->st.ids);
        if (r->pref)
            pref_training_batch(&r->pref_batcher, (uint64_t)c->seed, s, m * B, B, xt, tg, ts, ids, step_ptr(&r->st.signs));
        else
            fmnist_training_batch(&r->batcher, (uint64_t)c->seed, s, m * B, B, xt, tg, ts, ids);
        cmd_submit(m == K - 1 ? &r->st.update : &r->st.accumulate);
        const float* mv = step_ptr(&r->st.metrics);
        for (int k = 0; k < OBJ_METRICS_COUNT; k++) metrics[k] += mv[k] / K;
    }
    *loss = metrics[OBJ_METRIC_LOSS];
    *gnorm = step_ptr(&r->st.stats)[0];
}

int cmd_train(int argc, char** argv) {
    Run run = {0}, *r = &run;
    TrainConfig c;
    int pr = opts_parse(train_options(), &c, argc, argv);
    if (pr) return pr > 0 ? 0 : 2;
    r->c = &c;
    check_supported(&c, &r->obj, &r->train_text);
    r->pref = strcmp(c.dataset, "fmnist") != 0;
    if (lr_schedule_parse(c.lr_scheduler, &r->lrs))
        die("--lr_scheduler %s: use constant, constant_with_warmup, linear or cosine", c.lr_scheduler);
    char err[1024], path[8192];
    if (mkdir_p(c.output_dir, err, sizeof err)) die("%s", err);
    r->config_json = opts_to_json(train_options(), &c);

    GpuOptions go = GPU_DEFAULTS;
    go.device = c.device;
    go.quiet = false;
    if (gpu_init(&r->g, &go)) die("no usable Vulkan device (see `vkpref info`)");
    PipelineAlloc alloc = {.unet_train = true, .unet_ema = c.use_ema, .text_train = r->train_text};
    int start = 0;
    if (*c.resume_from_checkpoint) {
        char ckpt[8192];
        if (checkpoint_resolve(c.resume_from_checkpoint, c.output_dir, ckpt, sizeof ckpt, err, sizeof err)) die("%s", err);
        if (pipeline_load(&r->p, &r->g, ckpt, alloc, err, sizeof err)) die("%s", err);
        CheckpointState cs;
        if (checkpoint_load_state(&r->p, r->train_text, c.use_ema, ckpt, &cs, err, sizeof err)) die("%s", err);
        warn_changed_options(ckpt, r->config_json);
        start = cs.step;
        snprintf(r->last_checkpoint, sizeof r->last_checkpoint, "%s", ckpt);
        fprintf(stderr, "vkpref train: resuming from %s (step %d)\n", ckpt, start);
    } else if (*c.pretrained_model_name_or_path) {
        if (pipeline_load(&r->p, &r->g, c.pretrained_model_name_or_path, alloc, err, sizeof err))
            die("%s (--pretrained_model_name_or_path)", err);
        if (c.use_ema) param_store_reset_ema(&r->p.unet_ps);
    } else {
        char tok_dir[8192];
        snprintf(tok_dir, sizeof tok_dir, "%s/tokenizer", c.output_dir);
        pipeline_from_model_config(&r->p, &r->g, c.model_config, tok_dir, (uint64_t)c.seed, alloc);
    }
    if (*c.resume_from_checkpoint || *c.pretrained_model_name_or_path) {
        snprintf(path, sizeof path, "%s/tokenizer", c.output_dir);
        if (pipeline_adopt_tokenizer(&r->p, path, err, sizeof err)) die("%s", err);
    }
    if (start >= c.max_train_steps)
        die("--max_train_steps %d: the checkpoint is already at step %d", c.max_train_steps, start);
    snprintf(path, sizeof path, "%s/train_config.json", c.output_dir);
    if (write_file_atomic(path, r->config_json, strlen(r->config_json), err, sizeof err)) die("%s", err);
    fprintf(stderr, "vkpref train: UNet %lld parameters, text encoder %lld, vocabulary %d\n",
            (long long)param_count(&r->p.unet_ps), (long long)param_count(&r->p.text_ps), r->p.tok.vocab_size);

    DiffusionPipeline* p = &r->p;
    int B = c.train_batch_size, L = p->max_length, rows = B * objective_rows_per_item(r->obj);
    schedule_init(&r->sched, &p->sched);
    if (objective_needs_reference(r->obj))  // the model fine-tuning started from, frozen
        reference_unet_load(&r->ref, &r->g, &p->unet_cfg, c.pretrained_model_name_or_path);
    if (r->pref) {
        ManifestOptions mo = {.channels = p->unet_cfg.in_channels, .size = p->unet_cfg.sample_size,
                              .skip_bad = c.skip_bad_rows};
        if (manifest_load(&r->pref_set, c.dataset, &mo, err, sizeof err)) die("%s", err);
        static const RowLayout layouts[OBJ_COUNT] = {[OBJ_SFT] = ROWS_CHOSEN, [OBJ_DPO] = ROWS_PAIRS,
                                                     [OBJ_MAPO] = ROWS_PAIRS, [OBJ_KTO] = ROWS_UNPAIRED,
                                                     [OBJ_TDPO] = ROWS_CAPTION_PAIRS, [OBJ_TKTO] = ROWS_CAPTION_PAIRS};
        if (pref_batcher_init(&r->pref_batcher, &r->pref_set, &r->sched, &p->tok, L, layouts[r->obj],
                              c.proportion_empty_prompts, c.random_flip, (uint64_t)c.seed, err, sizeof err))
            die("%s", err);
        fprintf(stderr, "vkpref train: %s: %d pairs, %d single images kept, %d ties dropped, %d bad rows skipped\n",
                c.dataset, r->pref_set.pairs, r->pref_set.singles, r->pref_set.ties_dropped, r->pref_set.skipped);
        if (layouts[r->obj] == ROWS_CAPTION_PAIRS)
            for (int k = 0; k < PERTURB_KINDS; k++)
                if (r->pref_batcher.perturb_count[k])
                    fprintf(stderr, "vkpref train: mismatched captions by rule \"%s\": %d\n", perturb_kind_name((PerturbKind)k),
                            r->pref_batcher.perturb_count[k]);
    } else {
        fmnist_load_or_die(&r->train_set, NULL, FMNIST_TRAIN);
        fmnist_batcher_init(&r->batcher, &r->train_set, &r->sched, &p->tok, L, c.caption_attributes,
                            c.proportion_empty_prompts);
    }
    ObjectiveHyper hyper = objective_hyper_from_options(&c, r->obj, p->sched.num_train_timesteps);
    TrainStepConfig sc = train_step_config_from_options(&c, r->obj, r->train_text, rows, L, hyper, &r->ref);
    train_step_init(&r->st, &r->g, &p->unet, &p->unet_ps, &p->clip, &p->text_ps, sc);
    if (c.validation_images > 0 && (p->unet_cfg.in_channels != 1 || p->unet_cfg.sample_size != FMNIST_SIDE)) {
        fprintf(stderr, "vkpref train: no held-out validation loss: it uses Fashion-MNIST test images, and this model "
                        "is not 1x%dx%d\n", FMNIST_SIDE, FMNIST_SIDE);
        c.validation_images = 0;
    }
    if (c.validation_images > 0) {
        // Batches of up to 32; the count is rounded down to a whole number of them.
        int vb = c.validation_images < 32 ? c.validation_images : 32, vn = c.validation_images / vb * vb;
        fmnist_load_or_die(&r->test_set, NULL, FMNIST_TEST);
        fmnist_batcher_init(&r->val_batcher, &r->test_set, &r->sched, &p->tok, L, c.caption_attributes, 0);
        int64_t E = (int64_t)p->unet_cfg.in_channels * p->unet_cfg.sample_size * p->unet_cfg.sample_size;
        float* xt = xmalloc((size_t)(vn * E) * sizeof *xt);
        float* tg = xmalloc((size_t)(vn * E) * sizeof *tg);
        float* ts = xmalloc((size_t)vn * sizeof *ts);
        uint32_t* ids = xmalloc((size_t)vn * (size_t)L * sizeof *ids);
        fmnist_validation_inputs(&r->val_batcher, vn, xt, tg, ts, ids);
        validation_init(&r->val, &r->g, p, vb, vn, xt, tg, ts, ids);
        free(xt), free(tg), free(ts), free(ids);
    }

    if (c.validation_grid_seeds > 0 &&
        validation_grid_init(&r->grid, &r->g, p, c.validation_prompts, c.validation_grid_seeds,
                             c.validation_inference_steps, (float)c.validation_guidance_scale, c.use_ema, err, sizeof err))
        die("%s (--validation_prompts)", err);
    bool validating = c.validation_images > 0 || c.validation_grid_seeds > 0;
    FILE* csv = open_log(c.output_dir, start);
    if (start == 0 && validating) {
        double v = validate(r, 0);
        if (!isnan(v)) {
            fprintf(stderr, "vkpref train: step 0 validation loss %.5f\n", v);
            fprintf(csv, "0,,,,,%.6f", v);
            for (int k = 1; k < OBJ_METRICS_COUNT; k++) fputc(',', csv);
            fputc('\n', csv);
            fflush(csv);
        }
    }
    progress_begin(&r->prog, "train", c.max_train_steps, start);
    double t_start = now_seconds(), loss_avg = NAN;
    for (int s = start; s < c.max_train_steps; s++) {
        double lr = lr_at(r->lrs, c.learning_rate, s, c.lr_warmup_steps, c.max_train_steps), loss, gnorm;
        double metrics[OBJ_METRICS_COUNT];
        train_one_step(r, s, lr, &loss, &gnorm, metrics);
        int done = s + 1;
        if (!isfinite(loss) || !isfinite(gnorm)) {
            progress_pause(&r->prog);
            die("step %d: loss %g, gradient norm %g: stopping (lower --learning_rate?); last good checkpoint: %s", done,
                loss, gnorm, *r->last_checkpoint ? r->last_checkpoint : "none");
        }
        loss_avg = isnan(loss_avg) ? loss : 0.98 * loss_avg + 0.02 * loss;
        double ips = (double)rows * c.gradient_accumulation_steps * (done - start) / (now_seconds() - t_start);
        bool validate_now = validating && ((c.validation_steps && done % c.validation_steps == 0) ||
                                           done == c.max_train_steps);
        double v = validate_now ? validate(r, done) : NAN;
        if (done % c.log_every == 0 || done == c.max_train_steps || validate_now) {
            fprintf(csv, "%d,%.6f,%.6g,%.6f,%.2f,", done, loss, lr, gnorm, ips);
            if (validate_now && !isnan(v)) fprintf(csv, "%.6f", v);
            for (int k = 1; k < OBJ_METRICS_COUNT; k++) fprintf(csv, ",%.6g", metrics[k]);
            fputc('\n', csv);
            fflush(csv);
        }
        if (validate_now && !isnan(v)) fprintf(stderr, "vkpref train: step %d validation loss %.5f\n", done, v);
        if (c.checkpointing_steps && (done % c.checkpointing_steps == 0 || done == c.max_train_steps))
            save_checkpoint(r, done);
        char extra[128];
        if (r->obj == OBJ_SFT) snprintf(extra, sizeof extra, "loss %.4f lr %.2e %.1f img/s", loss_avg, lr, ips);
        else snprintf(extra, sizeof extra, "loss %.4f acc %.2f lr %.2e %.1f img/s", loss_avg,
                      metrics[OBJ_METRIC_IMPLICIT_ACC], lr, ips);
        progress_update(&r->prog, done, extra);
    }
    progress_end(&r->prog);
    fclose(csv);
    if (pipeline_save_model(p, c.output_dir, c.use_ema, c.save_f16, err, sizeof err)) die("%s", err);
    fprintf(stderr, "vkpref train: pipeline written to %s\n", c.output_dir);

    if (c.validation_grid_seeds > 0) validation_grid_free(&r->grid);
    if (c.validation_images > 0) validation_free(&r->val), fmnist_batcher_free(&r->val_batcher), fmnist_free(&r->test_set);
    if (r->pref) pref_batcher_free(&r->pref_batcher), manifest_free(&r->pref_set);
    else fmnist_batcher_free(&r->batcher), fmnist_free(&r->train_set);
    if (objective_needs_reference(r->obj)) param_store_free(&r->ref);
    schedule_free(&r->sched);
    train_step_free(&r->st);
    pipeline_free(p);
    free(r->config_json);
    gpu_free(&r->g);
    return 0;
}
