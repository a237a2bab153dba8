// train_config.c: the option table of `vkpref train`.
#include "train/train_config.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "dist/dist.h"
#include "model/pipeline_io.h"
#include "train/epochs.h"
#include "train/run.h"
#include "util/check.h"

#define O(name, type, def, range, help) {#name, type, offsetof(TrainConfig, name), def, help, range}

static const OptSpec SPECS[] = {
    O(pretrained_model_name_or_path, OPT_STRING, "", OPT_ANY, "pipeline folder to start from (empty: train from scratch)"),
    O(model_config, OPT_STRING, "configs/models/fmnist-small.json", OPT_ANY, "architecture for training from scratch"),
    O(dataset, OPT_STRING, "fmnist", OPT_ANY, "\"fmnist\" (Debian's Fashion-MNIST) or a Pick-a-Pic-style JSONL manifest (docs/DATA.md)"),
    O(output_dir, OPT_STRING, "out/train", OPT_ANY, "where checkpoints, logs, grids and the final pipeline go"),
    O(overwrite_output_dir, OPT_BOOL, "false", OPT_ANY,
      "start a new run in an output_dir that holds an earlier one (its checkpoints, log and grids are removed)"),
    O(resume_from_checkpoint, OPT_STRING, "", OPT_ANY, "\"latest\" or a checkpoint-<step> folder"),
    O(objective, OPT_STRING, "sft", OPT_ANY, "training objective: sft, dpo, mapo, kto, tdpo, tkto, dpo_hinge, dpo_ipo, sdpo or dspo (docs/OBJECTIVES.md)"),
    O(random_flip, OPT_BOOL, "false", OPT_ANY,
      "manifests: mirror each item left to right with probability 1/2, drawn per item and step, the same for both "
      "images of a pair (default off, as train_text_to_image.py's --random_flip; diffusers' DPO script flips "
      "unless --no_hflip, which is accepted here as --random_flip false)"),
    O(random_crop, OPT_BOOL, "false", OPT_ANY,
      "manifests: crop each image's resized N x N square at a random offset, drawn once per image from --seed and "
      "the file's content (diffusers draws one per step; docs/DATA.md says why); false (--center_crop): the centre"),
    O(resolution, OPT_INT, "0", OPT_IN(0, 65536),
      "pixel side N manifest images are prepared at (short side resized to N, N x N crop): 0 or the model's "
      "image size (sample_size; latent pipelines: sample_size x the VAE's factor, 8 for SD)"),
    O(cache_latents, OPT_BOOL, "true", OPT_ANY,
      "latent pipelines: keep each image's VAE latents in --latent_cache_dir and reuse them across runs (false: "
      "encode once per run, in memory only)"),
    O(latent_cache_dir, OPT_STRING, "", OPT_ANY,
      "latent pipelines: the latent cache folder (empty: $XDG_CACHE_HOME/vkpref/latents or ~/.cache/vkpref/latents)"),
    O(frozen_dtype, OPT_STRING, "auto", OPT_ANY, FROZEN_DTYPE_HELP),
    O(variant, OPT_STRING, "", OPT_ANY,
      "weights files to load: empty for the plain ones, fp16 for *.fp16.safetensors (diffusers' --variant)"),
    O(skip_bad_rows, OPT_BOOL, "false", OPT_ANY, "manifests: skip and count bad rows instead of stopping at the first"),
    O(max_image_pixels, OPT_INT, "89478485", OPT_GE(1),
      "manifests: an image declaring more pixels (width x height) is refused before decoding (a decompression bomb)"),
    O(max_train_samples, OPT_INT, "0", OPT_GE(0),
      "manifests: train on the first N usable rows only (0: all; diffusers shuffles before truncating, vkpref "
      "takes the manifest's order)"),
    O(max_train_steps, OPT_INT, "1000", OPT_GE(0),
      "optimizer steps (fine-tuning default below); 0: from num_train_epochs"),
    O(num_train_epochs, OPT_INT, "0", OPT_GE(0),
      "when > 0 and max_train_steps is not given (or is 0): max_train_steps = num_train_epochs x ceil(ceil(items / "
      "(train_batch_size x ranks)) / gradient_accumulation_steps), items = pairs, images or rows as the objective "
      "draws them (docs/TRAINING.md)"),
    O(train_batch_size, OPT_INT, "32", OPT_IN(1, 65536),
      "items per micro-batch, not images: an image (sft, kto), a preference pair (dpo, mapo, dpo_hinge, dpo_ipo, "
      "sdpo, dspo: 2 images) or an "
      "image with its own and a mismatched caption (tdpo, tkto: 2 UNet rows); fine-tuning default below"),
    O(gradient_accumulation_steps, OPT_INT, "1", OPT_IN(1, 65536), "micro-batches per optimizer step"),
    O(seed, OPT_INT, "0", OPT_GE(0), "seed of every random choice (batches, noise, timesteps, dropout)"),
    O(learning_rate, OPT_FLOAT, "1e-3", OPT_GT(0), "peak learning rate (fine-tuning: the objective's, below)"),
    O(lr_scheduler, OPT_STRING, "constant_with_warmup", OPT_ANY, "constant, constant_with_warmup, linear or cosine"),
    O(lr_warmup_steps, OPT_INT, "100", OPT_GE(0), "linear warm-up steps (fine-tuning default below)"),
    O(adam_beta1, OPT_FLOAT, "0.9", OPT_IN_LT(0, 1), "AdamW beta1"),
    O(adam_beta2, OPT_FLOAT, "0.999", OPT_IN_LT(0, 1), "AdamW beta2"),
    O(adam_epsilon, OPT_FLOAT, "1e-8", OPT_GT(0), "AdamW epsilon"),
    O(adam_weight_decay, OPT_FLOAT, "1e-2", OPT_GE(0), "AdamW decoupled weight decay"),
    O(max_grad_norm, OPT_FLOAT, "1.0", OPT_GE(0), "clip the global gradient norm to this (0: off)"),
    O(use_ema, OPT_BOOL, "true", OPT_ANY,
      "keep an exponential moving average of the weights (saved as the model; fine-tuning default below)"),
    O(ema_decay, OPT_FLOAT, "0.999", OPT_IN(0, 1), "EMA decay cap; step s uses min(ema_decay, (1 + s) / (10 + s)) as diffusers' EMAModel"),
    O(proportion_empty_prompts, OPT_FLOAT, "0.1", OPT_IN(0, 1), "probability of training on the empty caption (for guidance)"),
    O(train_text_encoder, OPT_STRING, "auto", OPT_ANY, "train the text encoder: auto (yes when pre-training on fmnist), true, false"),
    O(gradient_checkpointing, OPT_BOOL, "false", OPT_ANY, "recompute each UNet block's forward before its backward (less memory, ~1/3 more dispatches)"),
    O(caption_attributes, OPT_BOOL, "false", OPT_ANY, "fmnist: add measured attribute words to captions"),
    O(checkpointing_steps, OPT_INT, "500", OPT_GE(0), "save checkpoint-<step> every N steps and at the last step (0: none; docs/TRAINING.md)"),
    O(checkpoints_total_limit, OPT_INT, "3", OPT_GE(0), "keep the last N checkpoints (0: keep all)"),
    O(validation_steps, OPT_INT, "500", OPT_GE(0), "validation loss and grid at step 0, every N steps and at the last step (0: step 0 and the last)"),
    O(validation_images, OPT_INT, "256", OPT_GE(0), "held-out images for the deterministic validation loss"),
    O(validation_prompts, OPT_STRING, "", OPT_ANY, "prompt file for validation grids, one prompt a line (empty: the class captions)"),
    O(validation_grid_seeds, OPT_INT, "4", OPT_IN(0, 1024), "validation grid columns: seeds 0..N-1 (0: no grids)"),
    O(validation_inference_steps, OPT_INT, "25", OPT_IN(1, 10000), "sampler steps for validation grids"),
    O(validation_guidance_scale, OPT_FLOAT, "3.0", OPT_IN(0, 100), "classifier-free guidance for validation grids"),
    O(log_every, OPT_INT, "10", OPT_GE(1), "CSV log every N steps"),
    O(max_loss_spike, OPT_FLOAT, "0", OPT_GE(0),
      "stop when a step's loss exceeds this many times the median of the last 50 (0: off)"),
    O(save_f16, OPT_BOOL, "false", OPT_ANY, "write the final weights as F16"),
    O(lora_rank, OPT_INT, "0", OPT_IN(0, 4096),
      "train LoRA adapters of this rank on the UNet's Linear/Conv2d layers, the base frozen (0: full fine-tuning; README)"),
    O(lora_alpha, OPT_FLOAT, "0", OPT_GE(0), "LoRA scale alpha / rank (0: alpha = rank)"),
    O(lora_target_modules, OPT_STRING, "to_q,to_k,to_v,to_out.0", OPT_ANY,
      "LoRA: Linear or Conv2d modules by name or name suffix (also ff.net.0.proj, ff.net.2, proj_in, proj_out, conv1, conv2)"),
    O(lora_dropout, OPT_FLOAT, "0", OPT_IN(0, 1),
      "LoRA: dropout probability on each adapter's input while training (PEFT's lora_dropout; < 1)"),
    O(lora_format, OPT_STRING, "peft", OPT_ANY,
      "keys of pytorch_lora_weights.safetensors: peft (diffusers) or kohya (A1111, ComfyUI)"),
    O(overlap_gradient_exchange, OPT_BOOL, "true", OPT_ANY,
      "data parallel: sum each bucket of finished gradients over the processes while the backward runs on (false: "
      "after the whole backward); the weights are the same bit for bit (docs/DISTRIBUTED.md)"),
    O(device, OPT_INT, "-1", OPT_GE(-1), "Vulkan device index (see `vkpref info`)"),
};

#define NSPECS (sizeof SPECS / sizeof *SPECS)

// Names of diffusers' train_diffusion_dpo.py (and of the sampling commands) with the same meaning.
static const OptAlias ALIASES[] = {
    {"dataset_name", "dataset", NULL},  // a local manifest: nothing is downloaded
    {"no_hflip", "random_flip", "false"},
    {"center_crop", "random_crop", "false"},
    {"validation_num_inference_steps", "validation_inference_steps", NULL},
    {"validation_cfg", "validation_guidance_scale", NULL},
    {"rank", "lora_rank", NULL},  // diffusers' train_diffusion_dpo.py --rank
};

// Fine-tuning defaults shared by every objective (configs/fmnist-<objective>.json);
// the learning rate is the objective's own (OBJECTIVES[].tuned_learning_rate).
static const struct {
    const char* key;
    const char* value;
} FINE_TUNING[] = {
    {"train_batch_size", "4"},
    {"lr_warmup_steps", "20"},
    {"use_ema", "false"},
    {"max_train_steps", "400"},
};
#define NFINE (sizeof FINE_TUNING / sizeof *FINE_TUNING)

// Whether c fine-tunes (and its objective); false for an unknown objective.
static bool fine_tuning(const TrainConfig* c, Objective* obj) {
    return objective_parse(c->objective, obj) && (*obj != OBJ_SFT || *c->pretrained_model_name_or_path);
}

void train_config_resolve(TrainConfig* c, const OptMarks* marks) {
    const OptTable* t = train_options();
    // diffusers: max_train_steps, when given, wins over num_train_epochs; 0 = derive it from the data.
    if (c->num_train_epochs > 0 && !marks->set[opts_index(t, "max_train_steps")]) c->max_train_steps = 0;
    Objective obj;
    if (!fine_tuning(c, &obj)) return;
    char err[256], lr[32];
    snprintf(lr, sizeof lr, "%.17g", objective_info(obj)->tuned_learning_rate);
    for (size_t i = 0; i <= NFINE; i++) {
        const char* key = i < NFINE ? FINE_TUNING[i].key : "learning_rate";
        const char* value = i < NFINE ? FINE_TUNING[i].value : lr;
        int k = opts_index(t, key);
        if (k < 0) die("internal: no train option %s", key);
        if (!marks->set[k] && !(c->max_train_steps == 0 && !strcmp(key, "max_train_steps")) &&
            opts_set(t, c, key, value, "fine-tuning defaults", err, sizeof err))
            die("internal: %s", err);
    }
}

// The fine-tuning defaults as a table, each line indented.
static void print_defaults(FILE* out, const char* indent) {
    fprintf(out, "%sobjective   learning_rate\n", indent);
    for (int i = 0; i < OBJ_COUNT; i++)
        fprintf(out, "%s%-11s %g\n", indent, OBJECTIVES[i].name, OBJECTIVES[i].tuned_learning_rate);
    fprintf(out, "%sand for every objective:", indent);
    for (size_t i = 0; i < NFINE; i++) fprintf(out, "%s %s %s", i ? "," : "", FINE_TUNING[i].key, FINE_TUNING[i].value);
    fprintf(out, "\n");
}

static void resolve_hook(void* cfg, const OptMarks* marks) { train_config_resolve(cfg, marks); }
// --print-config: the run's checks, and max_train_steps from num_train_epochs as the run derives it.
static int check_hook(void* cfg, char* err, size_t errlen) {
    TrainConfig* c = cfg;
    if (train_run_check_config(c, err, errlen)) return -1;
    int64_t items;
    if (c->max_train_steps == 0 && (epochs_count_items(c, &items, err, errlen) ||
                                    epochs_to_steps(c, items, dist_size(), &c->max_train_steps, err, errlen)))
        return -1;
    return 0;
}

static void help_defaults(FILE* out) {
    fprintf(out, "\nFine-tuning defaults: with any objective but sft, or sft from --pretrained_model_name_or_path,\n"
                 "these replace the defaults above unless a config file or flag sets them (the values tuned in\n"
                 "configs/fmnist-<objective>.json; pre-training, sft from --model_config, keeps the defaults above):\n");
    print_defaults(out, "  ");
}

// The objectives' hyper-parameters follow SPECS, generated from their table (objective.h).
const OptTable* train_options(void) {
    static OptSpec specs[NSPECS + OBJ_HYPER_OPTIONS];
    static char defs[OBJ_HYPER_OPTIONS][32];
    static OptTable t = {.command = "train",
                         .summary = "Pre-train a diffusion model (sft on Fashion-MNIST) or fine-tune one on a manifest "
                         "(docs/TRAINING.md).",
                         .specs = specs, .n = 0, .aliases = ALIASES, .naliases = sizeof ALIASES / sizeof *ALIASES,
                         .resolve = resolve_hook, .check = check_hook, .help_extra = help_defaults};
    if (t.n) return &t;
    for (size_t i = 0; i < NSPECS; i++) specs[t.n++] = SPECS[i];
    for (int k = 0; k < OBJ_HYPER_OPTIONS; k++) {
        OptRange any = OPT_ANY;
        const ObjHyperSpec* h = &OBJ_HYPERS[k];
        if (h->choices) {  // a name: the default's is the def-th of the choices
            const char* c = h->choices;
            for (int i = 0; i < (int)h->def && strchr(c, '|'); i++) c = strchr(c, '|') + 1;
            snprintf(defs[k], sizeof defs[k], "%.*s", (int)strcspn(c, "|"), c);
            specs[t.n++] = (OptSpec){h->key, OPT_STRING, offsetof(TrainConfig, objective_choice) + (size_t)k * OPT_STR_MAX,
                                     defs[k], h->help, any};
            continue;
        }
        snprintf(defs[k], sizeof defs[k], "%.15g", h->def);
        OptRange range = {0, h->max, OPT_HAS_MIN | (h->zero_allowed ? 0u : OPT_MIN_EXCLUSIVE) |
                                         (isfinite(h->max) ? OPT_HAS_MAX : 0u)};
        specs[t.n++] = (OptSpec){h->key, OPT_FLOAT, offsetof(TrainConfig, objective_hyper) + (size_t)k * sizeof(double),
                                 defs[k], h->help, range};
    }
    return &t;
}
