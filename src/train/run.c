// run.c: see run.h. Every random choice of step s is a function of (seed, s)
// (util/rng.h), so a resumed run continues bit for bit.
#include "train/latent_cache.h"
#include "train/run.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/manifest.h"
#include "dist/dist.h"
#include "io/fmnist.h"
#include "train/config_files.h"
#include "train/epochs.h"
#include "model/pipeline_io.h"
#include "train/checkpoint.h"
#include "train/fmnist_batches.h"
#include "train/lora_train.h"
#include "train/lr_schedule.h"
#include "train/model_setup.h"
#include "train/optimizer.h"
#include "train/pref_batches.h"
#include "train/run_dir.h"
#include "train/step.h"
#include "train/validation.h"
#include "train/validation_grid.h"
#include "util/check.h"
#include "util/fsutil.h"
#include "util/hash.h"
#include "util/json_fields.h"
#include "util/timer.h"

// Options that may change on resume without changing what the run computes.
static const char* const RESUME_FREE_KEYS[] = {"resume_from_checkpoint", "max_train_steps", "output_dir", "device",
                                               "checkpointing_steps", "checkpoints_total_limit", "log_every",
                                               "save_f16", "validation_steps", "overwrite_output_dir",
                                               "max_loss_spike", "overlap_gradient_exchange",
                                               // free as long as the global batch stays (check_global_batch)
                                               "train_batch_size", "gradient_accumulation_steps"};

// Data parallel: steps between comparisons of the weights' hash across processes.
#define WEIGHT_CHECK_EVERY 50

// Losses the spike check takes its running median over.
#define SPIKE_WINDOW 50
#define SPIKE_MIN_HISTORY 10

struct TrainRun {
    TrainConfig c;         // a copy: the run outlives the caller's struct
    RunHooks hooks;
    Objective obj;
    bool train_text;       // resolved --train_text_encoder
    bool pref;             // a manifest (else the embedded fmnist set)
    bool validating;
    bool lead;             // rank 0 of a data-parallel run, or the only process: writes the output folder
    int rank, nranks;      // this process among those training together (dist.h), each on train_batch_size items
    char private_tokenizer[4096];  // ranks but the lead, from scratch: their own tokenizer folder ("" if none)
    char run_id[RUN_ID_LEN + 1];
    PrefDataset pref_set;
    PrefBatcher pref_batcher;
    LatentCache latents;   // latent pipelines: the VAE encoder that filled pref_set
    bool has_latents;
    ParamStore ref;        // the frozen reference UNet (objective_needs_reference)
    LoraSet lora;          // --lora_rank > 0: the trained adapters (the UNet frozen, the reference = adapters off)
    bool has_lora;
    FrozenDType frozen;    // --frozen_dtype: storage of the reference, the VAE, a frozen text encoder, a LoRA base
    bool has_ref, has_pref, has_fmnist, has_val, has_grid, has_step, has_pipe, has_sched;
    char* config_json;
    GpuContext* g;
    DiffusionPipeline p;
    TrainStep st;
    ValidationLoss val;
    ValidationGrid grid;
    Fmnist train_set, test_set;
    FmnistBatcher batcher, val_batcher;
    NoiseSchedule sched;
    LrSchedule lrs;
    FILE* csv;
    int start, done, rows;
    double t_start;
    // Checkpoints: the newest written, and the newest known good (a finite step followed it).
    int last_ckpt_step, good_ckpt_step;
    char last_ckpt[8192], good_ckpt[8192];
    bool prune_pending;
    double losses[SPIKE_WINDOW];
    int nlosses;
};

static void say(const TrainRun* r, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const TrainRun* r, const char* fmt, ...) {
    if (!r->lead) return;  // the other ranks of a data-parallel run repeat the lead's messages
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (r->hooks.log) r->hooks.log(r->hooks.user, line);
    else fprintf(stderr, "vkpref train: %s\n", line);
}

int train_text_encoder_resolve(const char* value, bool fmnist_sft, bool* out, char* err, size_t errlen) {
    if (!strcmp(value, "auto")) *out = fmnist_sft;
    else if (!strcmp(value, "true")) *out = true;
    else if (!strcmp(value, "false")) *out = false;
    else return fail(err, errlen, "--train_text_encoder %s: use auto, true or false", value);
    return 0;
}

// Everything the run reads from c that can be wrong, before anything is loaded or written.
static int check_options(TrainRun* r, char* err, size_t errlen) {
    const TrainConfig* c = &r->c;
    if (!objective_parse(c->objective, &r->obj))
        return fail(err, errlen, "--objective %s: use %s", c->objective, objective_names_list());
    bool fmnist = !strcmp(c->dataset, "fmnist");
    if (fmnist && r->obj != OBJ_SFT)
        return fail(err, errlen, "--objective %s needs preference data: --dataset MANIFEST.jsonl (Pick-a-Pic style; the "
                    "embedded fmnist set has none)", c->objective);
    if (objective_needs_reference(r->obj) && !*c->pretrained_model_name_or_path)
        return fail(err, errlen, "--objective %s compares against a frozen reference: give "
                    "--pretrained_model_name_or_path", c->objective);
    if (train_text_encoder_resolve(c->train_text_encoder, fmnist && r->obj == OBJ_SFT, &r->train_text, err,
                                   errlen) ||
        lora_train_check(c, r->train_text, err, errlen))
        return -1;
    if (c->train_batch_size < 1) return fail(err, errlen, "--train_batch_size %d: must be >= 1", c->train_batch_size);
    if (c->max_train_steps < 0 || (c->max_train_steps == 0 && c->num_train_epochs < 1))
        return fail(err, errlen, "--max_train_steps %d: must be >= 1 (0: from --num_train_epochs, which is %d)",
                    c->max_train_steps, c->num_train_epochs);
    if (c->gradient_accumulation_steps < 1)
        return fail(err, errlen, "--gradient_accumulation_steps %d: must be >= 1", c->gradient_accumulation_steps);
    if (c->checkpointing_steps < 0 || c->validation_steps < 0 || c->log_every < 1)
        return fail(err, errlen, "--checkpointing_steps and --validation_steps must be >= 0, --log_every >= 1");
    if (c->validation_images < 0) return fail(err, errlen, "--validation_images %d: must be >= 0", c->validation_images);
    if (c->max_loss_spike < 0 || (c->max_loss_spike > 0 && c->max_loss_spike <= 1))
        return fail(err, errlen, "--max_loss_spike %g: use 0 (off) or a factor above 1", c->max_loss_spike);
    if (lr_schedule_parse(c->lr_scheduler, &r->lrs))
        return fail(err, errlen, "--lr_scheduler %s: use constant, constant_with_warmup, linear or cosine",
                    c->lr_scheduler);
    if (frozen_dtype_parse(c->frozen_dtype, &r->frozen, err, errlen)) return -1;
    if (!*c->output_dir) return fail(err, errlen, "--output_dir is empty");
    return train_config_check_files(c, err, errlen);
}

int train_run_check_config(const TrainConfig* c, char* err, size_t errlen) {
    TrainRun* r = xcalloc(1, sizeof *r);
    r->c = *c;
    ObjectiveHyper h;  // the run checks these once the schedule is loaded; its timestep count is no option
    int rc = check_options(r, err, errlen) || objective_hyper_from_options(c, r->obj, 1000, &h, err, errlen) ? -1 : 0;
    free(r);
    return rc;
}

// A resumed run computes the same steps only with the same options: name the ones that differ.
static void warn_changed_options(TrainRun* r, const char* ckpt) {
    char path[8400], err[1024];
    snprintf(path, sizeof path, "%s/train_config.json", ckpt);
    char* text = json_read_file(path, err, sizeof err);
    if (!text) return;
    cJSON *then = cJSON_Parse(text), *now = cJSON_Parse(r->config_json);
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
        if (la != lb || strncmp(ua, ub, la))
            say(r, "warning: %s was %s in the checkpoint, now %s: the run will differ from an uninterrupted one",
                item->string, a, b);
        free(a), free(b);
    }
    cJSON_Delete(then), cJSON_Delete(now);
}

// A step is one global batch (processes x train_batch_size x micro-batches):
// the learning-rate schedule, AdamW's bias correction and the items a step
// draws all count steps. A resume keeps that batch, however it is split
// between processes, or it is refused: with another batch the run would not
// continue the same training.
static int check_global_batch(const TrainRun* r, const char* ckpt, char* err, size_t errlen) {
    CheckpointState cs;
    if (checkpoint_read_state(ckpt, &cs, err, errlen)) return -1;
    char path[8400];
    snprintf(path, sizeof path, "%s/train_config.json", ckpt);
    if (!path_exists(path)) return 0;  // nothing to compare with
    cJSON* then = json_read_object(path, err, errlen);
    if (!then) return -1;
    int tb = 0, ga = 0;
    bool known = json_to_int(cJSON_GetObjectItemCaseSensitive(then, "train_batch_size"), 1, INT_MAX, &tb) &&
                 json_to_int(cJSON_GetObjectItemCaseSensitive(then, "gradient_accumulation_steps"), 1, INT_MAX, &ga);
    cJSON_Delete(then);
    if (!known) return 0;
    const TrainConfig* c = &r->c;
    long long was = (long long)cs.processes * tb * ga,
              now = (long long)r->nranks * c->train_batch_size * c->gradient_accumulation_steps;
    if (was == now) return 0;
    return fail(err, errlen, "--resume_from_checkpoint %s: it was trained with %lld items per step (%d process%s x "
                "--train_batch_size %d x --gradient_accumulation_steps %d), this run would take %lld (%d x %d x %d): "
                "a step's learning rate, optimizer state and data all count steps of the same global batch. Resume "
                "with %lld items per step (processes x train_batch_size x gradient_accumulation_steps), or start a "
                "new run from its weights (--pretrained_model_name_or_path)",
                ckpt, was, cs.processes, cs.processes > 1 ? "es" : "", tb, ga, now, r->nranks, c->train_batch_size,
                c->gradient_accumulation_steps, was);
}

// The CSV log; a resumed run keeps the rows up to the checkpoint's step.
static FILE* open_log(const char* output_dir, int resume_step, char* err, size_t errlen) {
    char path[8192];
    snprintf(path, sizeof path, "%s/train_log.csv", output_dir);
    if (resume_step > 0 && path_exists(path)) {
        char* text = read_file(path, NULL, err, errlen);
        if (!text) return NULL;
        size_t keep = 0;
        for (char* line = text; *line;) {
            char* end = strchr(line, '\n');
            size_t len = end ? (size_t)(end - line) + 1 : strlen(line);
            if (line != text && atoi(line) > resume_step) break;
            keep = (size_t)(line - text) + len;
            line += len;
        }
        int w = write_file_atomic(path, text, keep, err, errlen);
        free(text);
        if (w) return NULL;
        FILE* f = fopen(path, "a");
        if (!f) fail(err, errlen, "%s: cannot append", path);
        return f;
    }
    FILE* f = fopen(path, "w");
    if (!f) {
        fail(err, errlen, "%s: cannot write", path);
        return NULL;
    }
    fputs("step,loss,lr,grad_norm,images_per_s,val_loss", f);  // then the objective's metrics (objective.h)
    for (int k = 1; k < OBJ_METRICS_COUNT; k++) fprintf(f, ",%s", objective_metric_name((ObjMetric)k));
    fputc('\n', f);
    return f;
}

// The output folder: recovered, refused when it holds another run, the run id settled.
static int prepare_output_dir(TrainRun* r, char* err, size_t errlen) {
    const TrainConfig* c = &r->c;
    if (mkdir_p(c->output_dir, err, errlen) || run_dir_recover(c->output_dir, err, errlen)) return -1;
    if (*c->resume_from_checkpoint) return run_id_read(c->output_dir, r->run_id, err, errlen);
    if (run_dir_holds_run(c->output_dir)) {
        if (!c->overwrite_output_dir)
            return fail(err, errlen, "--output_dir %s holds an earlier run: continue it with --resume_from_checkpoint "
                        "latest, replace it with --overwrite_output_dir, or choose another folder", c->output_dir);
        say(r, "--overwrite_output_dir: removing the earlier run's checkpoints, log and grids from %s", c->output_dir);
        if (run_dir_clear(c->output_dir, err, errlen)) return -1;
    }
    run_id_new(r->run_id);
    return run_id_write(c->output_dir, r->run_id, err, errlen);
}

// The run's adapters on the loaded UNet (once), applied by validation and grids too.
static int setup_lora(TrainRun* r, char* err, size_t errlen) {
    if (r->has_lora) return 0;
    if (lora_train_setup(&r->lora, &r->p, &r->c, err, errlen)) return -1;
    r->has_lora = true;
    r->p.unet_lora = &r->lora;
    say(r, "LoRA: %d adapters of rank %d on %s, %lld trainable parameters", r->lora.n, r->c.lora_rank,
        r->c.lora_target_modules, (long long)param_count(&r->lora.ps));
    return 0;
}

// Models: from a checkpoint, a pipeline folder, or a --model_config (from scratch).
static int load_models(TrainRun* r, char* err, size_t errlen) {
    const TrainConfig* c = &r->c;
    char path[8192];
    bool lora = lora_training(c);  // the UNet frozen (values only), the adapters trained
    PipelineAlloc alloc = {.unet_train = !lora, .unet_ema = c->use_ema && !lora, .text_train = r->train_text,
                           .variant = c->variant, .frozen = r->frozen};
    // The run's working copy of the tokenizer: checkpoints and the final pipeline copy it,
    // and the final pipeline's own tokenizer/ is only replaced at the end, whole. The other
    // ranks of a data-parallel run save nothing: a built tokenizer goes to a folder of their own.
    snprintf(path, sizeof path, "%s/.tokenizer", c->output_dir);
    if (!r->lead && !*c->resume_from_checkpoint && !*c->pretrained_model_name_or_path) {
        const char* tmp = getenv("TMPDIR");
        snprintf(r->private_tokenizer, sizeof r->private_tokenizer, "%s/vkpref-tokenizer-XXXXXX",
                 tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(r->private_tokenizer)) {
            fail(err, errlen, "%s: cannot create a temporary folder", r->private_tokenizer);
            *r->private_tokenizer = 0;
            return -1;
        }
        snprintf(path, sizeof path, "%s", r->private_tokenizer);
    }
    if (*c->resume_from_checkpoint) {
        char ckpt[8192];
        if (checkpoint_resolve(c->resume_from_checkpoint, c->output_dir, r->run_id, ckpt, sizeof ckpt, err, errlen))
            return -1;
        if (check_global_batch(r, ckpt, err, errlen)) return -1;
        // A LoRA checkpoint holds the adapters only: the base is the pretrained model.
        if (pipeline_load(&r->p, r->g, lora ? c->pretrained_model_name_or_path : ckpt, alloc, err, errlen)) return -1;
        r->has_pipe = true;
        if (lora && setup_lora(r, err, errlen)) return -1;
        CheckpointState cs;
        if (checkpoint_load_state(&r->p, r->has_lora ? &r->lora : NULL, r->train_text, c->use_ema, ckpt, &cs, err,
                                  errlen))
            return -1;
        warn_changed_options(r, ckpt);
        r->start = cs.step;
        if (!*r->run_id) {  // a checkpoint from elsewhere: this folder continues its run
            snprintf(r->run_id, sizeof r->run_id, "%s", *cs.run_id ? cs.run_id : "");
            if (!*r->run_id) run_id_new(r->run_id);
            if (r->lead && run_id_write(c->output_dir, r->run_id, err, errlen)) return -1;
        }
        snprintf(r->good_ckpt, sizeof r->good_ckpt, "%s", ckpt);  // it led to a finite step when it was written
        snprintf(r->last_ckpt, sizeof r->last_ckpt, "%s", ckpt);
        r->good_ckpt_step = r->last_ckpt_step = cs.step;
        say(r, "resuming from %s (step %d)", ckpt, r->start);
    } else if (*c->pretrained_model_name_or_path) {
        if (pipeline_load(&r->p, r->g, c->pretrained_model_name_or_path, alloc, err, errlen)) {
            size_t k = strlen(err);
            snprintf(err + k, errlen - k, " (--pretrained_model_name_or_path)");
            return -1;
        }
        r->has_pipe = true;
        if (alloc.unet_ema) param_store_reset_ema(&r->p.unet_ps);
    } else {
        if (pipeline_from_model_config(&r->p, r->g, c->model_config, path, (uint64_t)c->seed, alloc, err, errlen))
            return -1;
        r->has_pipe = true;
    }
    if (r->lead && (*c->resume_from_checkpoint || *c->pretrained_model_name_or_path) &&
        pipeline_adopt_tokenizer(&r->p, path, err, errlen))
        return -1;
    if (lora && setup_lora(r, err, errlen)) return -1;
    return 0;
}

static int setup_data(TrainRun* r, char* err, size_t errlen) {
    const TrainConfig* c = &r->c;
    DiffusionPipeline* p = &r->p;
    int L = p->max_length;
    if (r->pref) {
        // Images are prepared at --resolution (0: the pipeline's image size). A UNet takes
        // exactly its sample_size (checked before loading too; this also covers a run
        // resumed from a checkpoint); a latent pipeline's images are that times the VAE's
        // factor (checked by latent_cache_open).
        int channels, size;
        pipeline_image_shape(p, &channels, &size);
        if (c->resolution > 0 && c->resolution != size && !p->latent)
            return fail(err, errlen, "--resolution %d: the model's images are %dx%d; vkpref resizes manifest images "
                        "to the model, it cannot change the model's size", c->resolution, size, size);
        if (c->resolution > 0) size = c->resolution;
        ManifestOptions mo = {.channels = channels, .size = size,
                              .crop = c->random_crop ? IMAGE_CROP_RANDOM : IMAGE_CROP_CENTER,
                              .seed = (uint64_t)c->seed, .skip_bad = c->skip_bad_rows,
                              .max_rows = c->max_train_samples, .max_image_pixels = c->max_image_pixels};
        ImageEncoder enc;
        if (p->latent) {
            char dir[4096] = "";
            if (c->cache_latents && *c->latent_cache_dir) snprintf(dir, sizeof dir, "%s", c->latent_cache_dir);
            else if (c->cache_latents) latent_cache_default_dir(dir, sizeof dir);
            if (latent_cache_open(&r->latents, r->g, p, size, dir, err, errlen)) return -1;
            r->has_latents = true;
            enc = latent_cache_encoder(&r->latents, c->random_flip);
            mo.encoder = &enc;
            say(r, "latent pipeline: manifest images at %dx%d are VAE-encoded once%s%s", size, size,
                *dir ? ", cached in " : " (in memory: --cache_latents false)", dir);
        }
        if (manifest_load(&r->pref_set, c->dataset, &mo, err, errlen)) return -1;
        if (p->latent)
            say(r, "latents: %d from the cache, %d encoded", r->latents.hits, r->latents.encoded);
        RowLayout layout = objective_row_layout(r->obj);
        if (pref_batcher_init(&r->pref_batcher, &r->pref_set, &r->sched, &p->tok, L, layout,
                              c->proportion_empty_prompts, c->random_flip, (uint64_t)c->seed, err, errlen)) {
            manifest_free(&r->pref_set);
            return -1;
        }
        r->has_pref = true;
        say(r, "%s: %d pairs, %d single images kept, %d ties dropped, %d bad rows skipped", c->dataset,
            r->pref_set.pairs, r->pref_set.singles, r->pref_set.ties_dropped, r->pref_set.skipped);
        if (layout == ROWS_CAPTION_PAIRS)
            for (int k = 0; k < PERTURB_KINDS; k++)
                if (r->pref_batcher.perturb_count[k])
                    say(r, "mismatched captions by rule \"%s\": %d", perturb_kind_name((PerturbKind)k),
                        r->pref_batcher.perturb_count[k]);
    } else {
        if (p->latent)
            return fail(err, errlen, "--dataset fmnist: the embedded set trains pixel-space models; a latent "
                                     "pipeline trains on a manifest (docs/DATA.md)");
        if (fmnist_load(&r->train_set, NULL, FMNIST_TRAIN, err, errlen)) return -1;
        fmnist_batcher_init(&r->batcher, &r->train_set, &r->sched, &p->tok, L, c->caption_attributes,
                            c->proportion_empty_prompts);
        r->has_fmnist = true;
    }
    return 0;
}

// max_train_steps 0: from num_train_epochs and the items just loaded (train/epochs.h);
// the saved config holds the derived value. Then a resumed run must have steps left.
static int resolve_epochs(TrainRun* r, char* err, size_t errlen) {
    TrainConfig* c = &r->c;
    if (c->max_train_steps == 0) {
        int64_t items = r->pref ? r->pref_batcher.npool : r->train_set.n;
        if (epochs_to_steps(c, items, r->nranks, &c->max_train_steps, err, errlen)) return -1;
        say(r, "max_train_steps %d: %d epochs of %lld items, global batch %d x %d ranks, %d micro-batches a step",
            c->max_train_steps, c->num_train_epochs, (long long)items, c->train_batch_size, r->nranks,
            c->gradient_accumulation_steps);
        free(r->config_json);
        r->config_json = opts_to_json(train_options(), c);
    } else if (c->num_train_epochs > 0) {
        say(r, "num_train_epochs %d ignored: max_train_steps %d is given (as in diffusers; --max_train_steps 0 "
            "trains by epochs)", c->num_train_epochs, c->max_train_steps);
    }
    if (r->start >= c->max_train_steps)
        return fail(err, errlen, "--max_train_steps %d: the checkpoint is already at step %d", c->max_train_steps,
                    r->start);
    return 0;
}

static int setup_validation(TrainRun* r, char* err, size_t errlen) {
    TrainConfig* c = &r->c;
    DiffusionPipeline* p = &r->p;
    int L = p->max_length;
    if (c->validation_images > 0 && (p->unet_cfg.in_channels != 1 || p->unet_cfg.sample_size != FMNIST_SIDE)) {
        say(r, "no held-out validation loss: it uses Fashion-MNIST test images, and this model is not 1x%dx%d",
            FMNIST_SIDE, FMNIST_SIDE);
        c->validation_images = 0;
    }
    if (c->validation_images > 0) {
        // Batches of up to 32; the count is rounded down to a whole number of them.
        int vb = c->validation_images < 32 ? c->validation_images : 32, vn = c->validation_images / vb * vb;
        if (fmnist_load(&r->test_set, NULL, FMNIST_TEST, err, errlen)) return -1;
        fmnist_batcher_init(&r->val_batcher, &r->test_set, &r->sched, &p->tok, L, c->caption_attributes, 0);
        int64_t E = (int64_t)p->unet_cfg.in_channels * p->unet_cfg.sample_size * p->unet_cfg.sample_size;
        float* xt = xmalloc((size_t)(vn * E) * sizeof *xt);
        float* tg = xmalloc((size_t)(vn * E) * sizeof *tg);
        float* ts = xmalloc((size_t)vn * sizeof *ts);
        uint32_t* ids = xmalloc((size_t)vn * (size_t)L * sizeof *ids);
        fmnist_validation_inputs(&r->val_batcher, vn, xt, tg, ts, ids);
        validation_init(&r->val, r->g, p, vb, vn, xt, tg, ts, ids);
        free(xt), free(tg), free(ts), free(ids);
        r->has_val = true;
    }
    if (c->validation_grid_seeds > 0) {
        if (validation_grid_init(&r->grid, r->g, p, c->validation_prompts, c->validation_grid_seeds,
                                 c->validation_inference_steps, (float)c->validation_guidance_scale,
                                 c->use_ema && !r->has_lora, err,
                                 errlen)) {
            size_t k = strlen(err);
            snprintf(err + k, errlen - k, " (--validation_prompts)");
            return -1;
        }
        r->has_grid = true;
    }
    r->validating = c->validation_images > 0 || c->validation_grid_seeds > 0;
    return 0;
}

// The held-out loss (NAN when off) and, when grids are on, output_dir/validation/step-<step>.png.
static int validate(TrainRun* r, int step, double* loss, char* err, size_t errlen) {
    if (r->has_grid) {
        char path[8192];
        snprintf(path, sizeof path, "%s/validation/step-%06d.png", r->c.output_dir, step);
        if (validation_grid_render(&r->grid, path, step, err, errlen)) return -1;
    }
    *loss = r->has_val ? validation_run(&r->val) : NAN;
    return 0;
}

// ---------------------------------------------------------------------------
// Data parallel (dist.h): every rank trains on its own slice of each global
// micro-batch, the gradients are summed between the backward and the optimizer
// tail, and the lead alone writes the output folder.

static void sum_gradients(void* user, float* grads, int64_t n) {
    (void)user;
    dist_sum_floats(grads, n);
}

static void gather_rows(void* user, const float* mine, float* all, int64_t n) {
    (void)user;
    dist_gather_floats(mine, all, n);
}

static void note_last_checkpoint(const TrainRun* r) {
    char note[8300];
    snprintf(note, sizeof note, "last complete checkpoint: %s", *r->last_ckpt ? r->last_ckpt : "none");
    dist_set_abort_note(note);
}

// A hash of every weight the ranks hold (the trained ones and the frozen ones).
static uint64_t weights_hash(const TrainRun* r) {
    const ParamStore* stores[3] = {&r->p.unet_ps, &r->p.text_ps, r->has_ref ? &r->ref : NULL};
    uint64_t h = HASH64_INIT;
    float* host = NULL;
    size_t cap = 0;
    for (int i = 0; i < 3; i++) {
        if (!stores[i]) continue;
        for (int k = 0; k < param_chunks(stores[i]); k++) {
            Tensor t = param_chunk(stores[i], &stores[i]->value, k);
            size_t n = (size_t)tensor_numel(&t);
            if (n > cap) host = xrealloc(host, n * sizeof *host), cap = n;
            tensor_download(r->g, &t, host);
            h = hash64(h, host, n * sizeof *host);
        }
    }
    free(host);
    return h;
}

static int check_same_weights(const TrainRun* r, bool at_start, char* err, size_t errlen) {
    if (dist_all_equal(weights_hash(r))) return 0;
    if (at_start)
        return fail(err, errlen, "the ranks start from different weights: give every rank the same "
                    "--pretrained_model_name_or_path or checkpoint contents");
    return fail(err, errlen, "step %d: the weights differ between ranks (their updates diverged); last complete "
                "checkpoint: %s", r->done, *r->last_ckpt ? r->last_ckpt : "none");
}

// Ranks started with other options or other data would silently train on a mix: refused.
// --device may differ (one device per rank).
static int check_same_inputs(const TrainRun* r, char* err, size_t errlen) {
    cJSON* options = cJSON_Parse(r->config_json);
    cJSON_DeleteItemFromObjectCaseSensitive(options, "device");
    char* text = cJSON_PrintUnformatted(options);
    bool same = dist_all_equal(hash64(HASH64_INIT, text, strlen(text)));
    free(text), cJSON_Delete(options);
    if (!same)
        return fail(err, errlen, "the ranks were started with different options (their train_config.json differ): "
                    "give every rank the same command line and configuration file");
    uint64_t h = HASH64_INIT;
    if (r->pref) {
        size_t n;
        char* manifest = read_file(r->c.dataset, &n, err, errlen);
        if (!manifest) return -1;
        h = hash64(h, manifest, n);
        free(manifest);
    } else {
        h = hash64(h, r->train_set.pixels, (size_t)r->train_set.n * FMNIST_RAW * FMNIST_RAW);
        h = hash64(h, r->train_set.labels, (size_t)r->train_set.n);
    }
    if (!dist_all_equal(h))
        return fail(err, errlen, "--dataset %s differs between the ranks' machines: give every rank the same data",
                    r->c.dataset);
    return 0;
}

RunStatus train_run_open(TrainRun** out, GpuContext* g, const TrainConfig* c, const RunHooks* hooks, char* err,
                         size_t errlen) {
    *out = NULL;
    TrainRun* r = xcalloc(1, sizeof *r);
    r->c = *c;
    if (hooks) r->hooks = *hooks;
    r->g = g;
    r->good_ckpt_step = r->last_ckpt_step = -1;
    r->pref = strcmp(c->dataset, "fmnist") != 0;
    r->lead = dist_lead();
    r->rank = dist_rank(), r->nranks = dist_size();
    RunStatus st = RUN_ERR_INPUT;
    if (check_options(r, err, errlen) || (r->lead && prepare_output_dir(r, err, errlen))) goto fail;
    dist_broadcast(r->run_id, sizeof r->run_id);  // and the other ranks read the folder only once it is prepared
    r->config_json = opts_to_json(train_options(), &r->c);
    if (load_models(r, err, errlen)) goto fail;
    note_last_checkpoint(r);
    DiffusionPipeline* p = &r->p;
    say(r, "UNet %lld parameters, text encoder %lld, vocabulary %d", (long long)param_count(&p->unet_ps),
        (long long)param_count(&p->text_ps), p->tok.vocab_size);
    schedule_init(&r->sched, &p->sched);
    r->has_sched = true;
    DType frozen = frozen_dtype_resolve(r->frozen, p->latent);
    if (frozen == DTYPE_F16)
        say(r, "frozen weights (%s) stored as fp16 (--frozen_dtype %s)",
            r->has_lora ? "the UNet under the adapters, text encoder, VAE"
                        : objective_needs_reference(r->obj) ? "reference UNet, text encoder, VAE" : "text encoder, VAE",
            c->frozen_dtype);
    if (objective_needs_reference(r->obj) && !r->has_lora) {  // the model fine-tuning started from, frozen
        if (reference_unet_load(&r->ref, g, &p->unet_cfg, c->pretrained_model_name_or_path, c->variant, frozen, err,
                                errlen))
            goto fail;
        r->has_ref = true;
    }
    if (setup_data(r, err, errlen) || resolve_epochs(r, err, errlen)) goto fail;
    char path[8192];
    snprintf(path, sizeof path, "%s/train_config.json", c->output_dir);
    if (r->lead && write_file_atomic(path, r->config_json, strlen(r->config_json), err, errlen)) {
        st = RUN_ERR_IO;
        goto fail;
    }
    if (r->nranks > 1) {
        if (check_same_inputs(r, err, errlen) || check_same_weights(r, true, err, errlen)) goto fail;
        say(r, "data parallel over %s: %d ranks x %d items x %d micro-batches = %d items per step", dist_backend(),
            r->nranks, c->train_batch_size, c->gradient_accumulation_steps,
            r->nranks * c->train_batch_size * c->gradient_accumulation_steps);
    }
    ObjectiveHyper hyper;
    if (objective_hyper_from_options(c, r->obj, p->sched.num_train_timesteps, &hyper, err, errlen)) goto fail;
    r->rows = c->train_batch_size * objective_rows_per_item(r->obj);
    TrainStepConfig sc = train_step_config_from_options(c, r->obj, r->train_text, r->rows, p->max_length, hyper,
                                                        &r->ref);
    sc.lora = r->has_lora ? &r->lora : NULL;
    train_step_config_distribute(&sc, r->nranks, r->rank, sum_gradients, gather_rows, NULL);
    train_step_init(&r->st, g, &p->unet, &p->unet_ps, &p->clip, &p->text_ps, sc);
    r->has_step = true;
    if (r->lead && setup_validation(r, err, errlen)) goto fail;
    r->csv = r->lead ? open_log(c->output_dir, r->start, err, errlen) : NULL;
    if (r->lead && !r->csv) {
        st = RUN_ERR_IO;
        goto fail;
    }
    if (r->start == 0 && r->validating) {
        double v;
        if (validate(r, 0, &v, err, errlen)) {
            st = RUN_ERR_IO;
            goto fail;
        }
        if (!isnan(v)) {
            say(r, "step 0 validation loss %.5f", v);
            fprintf(r->csv, "0,,,,,%.6g", v);
            for (int k = 1; k < OBJ_METRICS_COUNT; k++) fputc(',', r->csv);
            fputc('\n', r->csv);
            fflush(r->csv);
        }
    }
    r->done = r->start;
    r->t_start = now_seconds();
    *out = r;
    return RUN_OK;
fail:
    train_run_close(r);
    return st;
}

int train_run_done(const TrainRun* r) { return r->done; }
int train_run_total(const TrainRun* r) { return r->c.max_train_steps; }
Objective train_run_objective(const TrainRun* r) { return r->obj; }
const char* train_run_last_good_checkpoint(const TrainRun* r) { return r->good_ckpt; }

// Writes micro-batch m's inputs (batchers: pure functions of seed, step and position).
// Rank k of N takes items [kB, (k+1)B) of the global micro-batch of N x B items,
// so an item's image, noise, timestep and pairing depend on its global index, not on N.
static void fill_micro_batch(void* user, int m) {
    TrainRun* r = user;
    TrainStep* st = &r->st;
    int B = r->c.train_batch_size, s = r->done, first = (m * r->nranks + r->rank) * B;
    float *xt = step_ptr(&st->x_t), *tg = step_ptr(&st->target), *ts = step_ptr(&st->timesteps);
    uint32_t* ids = (uint32_t*)step_ptr(&st->ids);
    if (r->pref)
        pref_training_batch(&r->pref_batcher, (uint64_t)r->c.seed, s, first, B, xt, tg, ts, ids, step_ptr(&st->signs));
    else
        fmnist_training_batch(&r->batcher, (uint64_t)r->c.seed, s, first, B, xt, tg, ts, ids);
    if (r->has_lora) lora_dropout_key(step_ptr(&st->dropout_key), (uint64_t)r->c.seed, s, first, B);
}

static int cmp_double(const void* a, const void* b) {
    double x = *(const double*)a, y = *(const double*)b;
    return (x > y) - (x < y);
}

// The median of the last SPIKE_WINDOW losses before this one (NAN while too few).
static double recent_median(const TrainRun* r) {
    int n = r->nlosses < SPIKE_WINDOW ? r->nlosses : SPIKE_WINDOW;
    if (n < SPIKE_MIN_HISTORY) return NAN;
    double v[SPIKE_WINDOW];
    memcpy(v, r->losses, (size_t)n * sizeof *v);
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static RunStatus diverged(TrainRun* r, char* err, size_t errlen, const char* what) {
    fail(err, errlen, "step %d: %s: stopping (lower --learning_rate?); the weights of that step were not applied; "
         "last good checkpoint: %s", r->done + 1, what, *r->good_ckpt ? r->good_ckpt : "none");
    return RUN_ERR_DIVERGED;
}

// Fault injection for tests ($VKPREF_FAULT_KILL_AT_STEP=k): the process kills
// itself with SIGKILL, as `kill -9` would, as step k begins.
static void fault_kill_point(const TrainRun* r, int step) {
    const char* v = getenv("VKPREF_FAULT_KILL_AT_STEP");
    if (!v || atoi(v) != step) return;
    fprintf(stderr, "vkpref: fault injection: rank %d killing itself (SIGKILL) at step %d\n", r->rank, step);
    fflush(stderr);
    raise(SIGKILL);
}

RunStatus train_run_step(TrainRun* r, TrainStepReport* rep, char* err, size_t errlen) {
    const TrainConfig* c = &r->c;
    fault_kill_point(r, r->done + 1);
    if (r->done >= c->max_train_steps)
        return fail(err, errlen, "the run is at step %d of %d: nothing left to do", r->done, c->max_train_steps),
               RUN_ERR_INPUT;
    memset(rep, 0, sizeof *rep);
    int s = r->done;
    double lr = lr_at(r->lrs, c->learning_rate, s, c->lr_warmup_steps, c->max_train_steps);
    optimizer_step_scalars(step_ptr(&r->st.scalars), lr, s, (float)c->adam_beta1, (float)c->adam_beta2,
                           c->ema_decay);
    train_step_replay(&r->st, c->gradient_accumulation_steps, fill_micro_batch, r, rep->metrics);
    if (r->g->device_lost)
        return fail(err, errlen, "step %d: the Vulkan device was lost (VK_ERROR_DEVICE_LOST); last complete "
                    "checkpoint: %s", s + 1, *r->last_ckpt ? r->last_ckpt : "none"), RUN_ERR_DEVICE;
    // The gradient norm is global already; the metrics are per rank unless the
    // objective saw the global micro-batch (then they are every rank's).
    if (r->nranks > 1 && !r->st.cfg.gather) {
        dist_mean_doubles(rep->metrics, OBJ_METRICS_COUNT);
        rep->metrics[OBJ_METRIC_MEAN_ABS_COEF] /= r->nranks;  // a rank's coefficients are 1 / its own items
    }
    double loss = rep->metrics[OBJ_METRIC_LOSS], gnorm = step_ptr(&r->st.stats)[0];
    char what[160];
    if (!isfinite(loss) || !isfinite(gnorm)) {
        snprintf(what, sizeof what, "loss %g, gradient norm %g", loss, gnorm);
        return diverged(r, err, errlen, what);
    }
    double median = recent_median(r);
    if (c->max_loss_spike > 0 && !isnan(median) && loss > c->max_loss_spike * median) {
        snprintf(what, sizeof what, "loss %g is above %g x the running median %g (--max_loss_spike)", loss,
                 c->max_loss_spike, median);
        return diverged(r, err, errlen, what);
    }
    r->losses[r->nlosses++ % SPIKE_WINDOW] = loss;
    // The weights of the newest checkpoint just gave a finite step: it is good now.
    if (r->last_ckpt_step == s && r->last_ckpt_step != r->good_ckpt_step) {
        snprintf(r->good_ckpt, sizeof r->good_ckpt, "%s/" CHECKPOINT_PREFIX "%d", c->output_dir, s);
        r->good_ckpt_step = s;
    }
    if (r->prune_pending) {
        if (run_dir_prune(c->output_dir, r->run_id, c->checkpoints_total_limit, r->good_ckpt_step, err, errlen))
            return RUN_ERR_IO;
        r->prune_pending = false;
    }

    int done = ++r->done;
    if (r->nranks > 1 && (done % WEIGHT_CHECK_EVERY == 0 || done == c->max_train_steps) &&
        check_same_weights(r, false, err, errlen))
        return RUN_ERR_DIVERGED;
    rep->step = done, rep->total = c->max_train_steps;
    rep->loss = loss, rep->lr = lr, rep->grad_norm = gnorm, rep->val_loss = NAN;
    rep->images_per_s = (double)r->rows * r->nranks * c->gradient_accumulation_steps * (done - r->start) /
                        (now_seconds() - r->t_start);
    bool validate_now = r->validating && ((c->validation_steps && done % c->validation_steps == 0) ||
                                          done == c->max_train_steps);
    if (validate_now && validate(r, done, &rep->val_loss, err, errlen)) return RUN_ERR_IO;
    if (r->csv && (done % c->log_every == 0 || done == c->max_train_steps || validate_now)) {
        // %g, not %f: an IPO loss of 1e-8 or a tiny gradient norm must not print as 0.
        fprintf(r->csv, "%d,%.6g,%.6g,%.6g,%.2f,", done, loss, lr, gnorm, rep->images_per_s);
        if (validate_now && !isnan(rep->val_loss)) fprintf(r->csv, "%.6g", rep->val_loss);
        for (int k = 1; k < OBJ_METRICS_COUNT; k++) fprintf(r->csv, ",%.6g", rep->metrics[k]);
        fputc('\n', r->csv);
        if (fflush(r->csv) || ferror(r->csv))
            return fail(err, errlen, "%s/train_log.csv: write failed", c->output_dir), RUN_ERR_IO;
    }
    if (validate_now && !isnan(rep->val_loss)) say(r, "step %d validation loss %.5f", done, rep->val_loss);
    if (c->checkpointing_steps && (done % c->checkpointing_steps == 0 || done == c->max_train_steps)) {
        char path[8192];
        CheckpointState cs = {.step = done, .processes = r->nranks};
        snprintf(cs.run_id, sizeof cs.run_id, "%s", r->run_id);
        if (r->lead && checkpoint_save(&r->p, r->has_lora ? &r->lora : NULL, r->train_text, c->use_ema,
                                       r->config_json, &cs, c->output_dir, path, sizeof path, err, errlen))
            return RUN_ERR_IO;
        // The lead names its checkpoint at once; the others once it is complete (the barrier).
        if (!r->lead) {
            dist_barrier();
            snprintf(path, sizeof path, "%s/" CHECKPOINT_PREFIX "%d", c->output_dir, done);
        }
        r->last_ckpt_step = done;
        snprintf(r->last_ckpt, sizeof r->last_ckpt, "%s", path);
        note_last_checkpoint(r);
        if (r->lead) dist_barrier();
        r->prune_pending = r->lead;
        rep->checkpoint_saved = true;
    }
    return RUN_OK;
}

RunStatus train_run_finish(TrainRun* r, char* err, size_t errlen) {
    const TrainConfig* c = &r->c;
    if (r->prune_pending &&
        run_dir_prune(c->output_dir, r->run_id, c->checkpoints_total_limit, r->last_ckpt_step, err, errlen))
        return RUN_ERR_IO;
    r->prune_pending = false;
    if (r->csv) {
        int bad = fclose(r->csv);
        r->csv = NULL;
        if (bad) return fail(err, errlen, "%s/train_log.csv: write failed", c->output_dir), RUN_ERR_IO;
    }
    if (r->lead && (r->has_lora ? lora_train_save(&r->lora, c, c->output_dir, err, errlen)
                                : run_dir_save_pipeline(&r->p, c->output_dir, c->use_ema, c->save_f16, err, errlen)))
        return RUN_ERR_IO;
    dist_barrier();  // every rank returns once the output is whole
    return RUN_OK;
}

void train_run_close(TrainRun* r) {
    if (!r) return;
    if (r->csv) fclose(r->csv);
    if (r->has_grid) validation_grid_free(&r->grid);
    if (r->has_val) validation_free(&r->val), fmnist_batcher_free(&r->val_batcher), fmnist_free(&r->test_set);
    if (r->has_pref) pref_batcher_free(&r->pref_batcher), manifest_free(&r->pref_set);
    if (r->has_latents) latent_cache_close(&r->latents);
    if (r->has_fmnist) fmnist_batcher_free(&r->batcher), fmnist_free(&r->train_set);
    if (r->has_ref) param_store_free(&r->ref);
    if (r->has_sched) schedule_free(&r->sched);
    if (r->has_step) train_step_free(&r->st);
    if (r->has_pipe) pipeline_free(&r->p);
    if (r->has_lora) lora_set_free(&r->lora);
    if (*r->private_tokenizer) remove_tree(r->private_tokenizer, NULL, 0);
    free(r->config_json);
    free(r);
}
