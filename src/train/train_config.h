// train_config.h: every option of `vkpref train`, named as diffusers' training
// scripts name them where one exists. The table in train_config.c drives
// defaults, config files, flags, --help and the saved train_config.json.
#pragma once
#include <stdbool.h>

#include "objective/objective.h"
#include "util/options.h"

typedef struct TrainConfig {
    char pretrained_model_name_or_path[OPT_STR_MAX];  // pipeline folder; empty: from scratch (model_config)
    char model_config[OPT_STR_MAX];    // from scratch: a JSON with "unet", "text_encoder", "scheduler" objects
    char dataset[OPT_STR_MAX];         // "fmnist" or a Pick-a-Pic-style manifest
    char output_dir[OPT_STR_MAX];
    bool overwrite_output_dir;         // a new run may replace the earlier run in output_dir
    char resume_from_checkpoint[OPT_STR_MAX];  // "", "latest" or a checkpoint folder
    char objective[OPT_STR_MAX];       // objective_names_list()
    int max_train_steps;               // 0: from num_train_epochs and the data (train/epochs.h)
    int num_train_epochs;              // > 0 and max_train_steps not given: the run's length in passes over the items
    int train_batch_size, gradient_accumulation_steps, seed;
    double learning_rate;
    char lr_scheduler[OPT_STR_MAX];    // constant, constant_with_warmup, linear, cosine
    int lr_warmup_steps;
    double adam_beta1, adam_beta2, adam_epsilon, adam_weight_decay, max_grad_norm;
    bool use_ema;
    double ema_decay;
    double objective_hyper[OBJ_HYPER_OPTIONS];  // by ObjHyperKey: the options OBJ_HYPERS names (beta_dpo, ...)
    char objective_choice[OBJ_HYPER_OPTIONS][OPT_STR_MAX];  // by ObjHyperKey: the value of a choice (loss_type)
    bool random_flip;                  // manifests: random horizontal flip (shared inside a pair)
    bool random_crop;                  // manifests: crop at an offset drawn once per image (else the centre)
    int resolution;                    // pixel side manifest images are prepared at; 0: the model's
    bool cache_latents;                // latent pipelines: latents kept on disk (train/latent_cache.h)
    char latent_cache_dir[OPT_STR_MAX];
    char variant[OPT_STR_MAX];         // weights file variant ("" or e.g. "fp16")
    char frozen_dtype[OPT_STR_MAX];    // auto, fp32 or fp16 (model/pipeline_io.h: FrozenDType)
    bool skip_bad_rows;                // manifests: skip and count bad rows instead of stopping
    int max_train_samples;             // manifests: > 0 keeps only the first N usable rows
    int max_image_pixels;              // manifests: largest declared width x height decoded
    double proportion_empty_prompts;   // caption dropout, for classifier-free guidance
    char train_text_encoder[OPT_STR_MAX];  // "auto" (pre-training on fmnist: true, else false), "true", "false"
    bool gradient_checkpointing;       // UNet: recompute each block's forward before its backward
    bool caption_attributes;           // fmnist: measured attribute words in captions
    int checkpointing_steps, checkpoints_total_limit;
    int validation_steps;              // grids + held-out loss every N steps (0: only at the end)
    int validation_images;             // held-out images for the validation loss
    char validation_prompts[OPT_STR_MAX];  // file, one prompt a line; empty: the class captions
    int validation_inference_steps;
    int validation_grid_seeds;         // columns of the validation grid (seeds 0..N-1); 0: no grids
    double validation_guidance_scale;
    int log_every;                     // CSV/progress granularity in steps
    double max_loss_spike;             // stop when a loss exceeds this x the running median (0: off)
    bool save_f16;                     // store the final model's weights as F16
    int lora_rank;                     // > 0: train LoRA adapters of this rank only (model/lora.h)
    double lora_alpha;                 // adapter scale alpha / rank; 0: alpha = rank
    char lora_target_modules[OPT_STR_MAX];  // comma-separated module-name suffixes (PEFT target_modules)
    double lora_dropout;               // PEFT's dropout on the adapters' inputs, [0, 1)
    char lora_format[OPT_STR_MAX];     // the adapter file's keys: peft (diffusers) or kohya
    bool overlap_gradient_exchange;    // data parallel: the exchange overlaps the backward (train/step.h)
    int device;
} TrainConfig;

const OptTable* train_options(void);

// Fine-tuning (every objective but sft, and sft from a pipeline folder) has its
// own defaults: the objective's tuned learning rate, batch 4, no EMA, ... They
// replace the table's defaults for the options marks does not hold (those the
// user gave). opts_parse applies it; a config built otherwise calls it.
void train_config_resolve(TrainConfig* c, const OptMarks* marks);
