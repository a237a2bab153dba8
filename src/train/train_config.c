// train_config.c: the option table of `vkpref train`.
#include "train/train_config.h"

#include <stddef.h>

#define O(name, type, def, range, help) {#name, type, offsetof(TrainConfig, name), def, help, range}

static const OptSpec SPECS[] = {
    O(pretrained_model_name_or_path, OPT_STRING, "", OPT_ANY, "pipeline folder to start from (empty: train from scratch)"),
    O(model_config, OPT_STRING, "configs/models/fmnist-small.json", OPT_ANY, "architecture for training from scratch"),
    O(dataset, OPT_STRING, "fmnist", OPT_ANY, "\"fmnist\" (Debian's Fashion-MNIST) or a Pick-a-Pic-style JSONL manifest"),
    O(output_dir, OPT_STRING, "out/train", OPT_ANY, "where checkpoints, logs, grids and the final pipeline go"),
    O(resume_from_checkpoint, OPT_STRING, "", OPT_ANY, "\"latest\" or a checkpoint-<step> folder"),
    O(objective, OPT_STRING, "sft", OPT_ANY, "training objective: sft, dpo, mapo, kto, tdpo, tkto (OBJECTIVES.md)"),
    O(beta_dpo, OPT_FLOAT, "5000", OPT_GT(0), "dpo/tdpo beta, official half convention: z = -beta/2 ((e_w - e_l) - (r_w - r_l))"),
    O(beta_mapo, OPT_FLOAT, "0.1", OPT_GE(0), "mapo beta (weight of the margin term)"),
    O(mapo_snr, OPT_FLOAT, "0.5", OPT_GT(0), "mapo constant s in f(e) = s e / expm1(s e)"),
    O(beta_kto, OPT_FLOAT, "1000", OPT_GT(0), "kto/tkto beta"),
    O(kto_lambda_desirable, OPT_FLOAT, "1", OPT_GE(0), "kto/tkto weight of desirable samples"),
    O(kto_lambda_undesirable, OPT_FLOAT, "1", OPT_GE(0), "kto/tkto weight of undesirable samples"),
    O(random_flip, OPT_BOOL, "false", OPT_ANY, "manifests: random horizontal flips (the same for both images of a pair)"),
    O(skip_bad_rows, OPT_BOOL, "false", OPT_ANY, "manifests: skip and count bad rows instead of stopping at the first"),
    O(max_image_pixels, OPT_INT, "89478485", OPT_GE(1),
      "manifests: an image declaring more pixels (width x height) is refused before decoding (a decompression bomb)"),
    O(max_train_steps, OPT_INT, "1000", OPT_GE(1), "optimizer steps"),
    O(train_batch_size, OPT_INT, "32", OPT_IN(1, 65536), "images per micro-batch"),
    O(gradient_accumulation_steps, OPT_INT, "1", OPT_IN(1, 65536), "micro-batches per optimizer step"),
    O(seed, OPT_INT, "0", OPT_GE(0), "seed of every random choice (batches, noise, timesteps, dropout)"),
    O(learning_rate, OPT_FLOAT, "1e-3", OPT_GT(0), "peak learning rate"),
    O(lr_scheduler, OPT_STRING, "constant_with_warmup", OPT_ANY, "constant, constant_with_warmup, linear or cosine"),
    O(lr_warmup_steps, OPT_INT, "100", OPT_GE(0), "linear warm-up steps"),
    O(adam_beta1, OPT_FLOAT, "0.9", OPT_IN_LT(0, 1), "AdamW beta1"),
    O(adam_beta2, OPT_FLOAT, "0.999", OPT_IN_LT(0, 1), "AdamW beta2"),
    O(adam_epsilon, OPT_FLOAT, "1e-8", OPT_GT(0), "AdamW epsilon"),
    O(adam_weight_decay, OPT_FLOAT, "1e-2", OPT_GE(0), "AdamW decoupled weight decay"),
    O(max_grad_norm, OPT_FLOAT, "1.0", OPT_GE(0), "clip the global gradient norm to this (0: off)"),
    O(use_ema, OPT_BOOL, "true", OPT_ANY, "keep an exponential moving average of the weights (saved as the model)"),
    O(ema_decay, OPT_FLOAT, "0.999", OPT_IN(0, 1), "EMA decay cap; step s uses min(ema_decay, (1 + s) / (10 + s)) as diffusers' EMAModel"),
    O(proportion_empty_prompts, OPT_FLOAT, "0.1", OPT_IN(0, 1), "probability of training on the empty caption (for guidance)"),
    O(train_text_encoder, OPT_STRING, "auto", OPT_ANY, "train the text encoder: auto (yes when pre-training on fmnist), true, false"),
    O(gradient_checkpointing, OPT_BOOL, "false", OPT_ANY, "recompute each UNet block's forward before its backward (less memory, ~1/3 more dispatches)"),
    O(caption_attributes, OPT_BOOL, "false", OPT_ANY, "fmnist: add measured attribute words to captions"),
    O(checkpointing_steps, OPT_INT, "500", OPT_GE(0), "save checkpoint-<step> every N steps"),
    O(checkpoints_total_limit, OPT_INT, "3", OPT_GE(0), "keep the last N checkpoints"),
    O(validation_steps, OPT_INT, "500", OPT_GE(0), "validation loss and grid every N steps"),
    O(validation_images, OPT_INT, "256", OPT_GE(0), "held-out images for the deterministic validation loss"),
    O(validation_prompts, OPT_STRING, "", OPT_ANY, "prompt file for validation grids (default: the class captions)"),
    O(validation_grid_seeds, OPT_INT, "4", OPT_IN(0, 1024), "validation grid columns: seeds 0..N-1 (0: no grids)"),
    O(validation_inference_steps, OPT_INT, "25", OPT_IN(1, 10000), "sampler steps for validation grids"),
    O(validation_guidance_scale, OPT_FLOAT, "3.0", OPT_IN(0, 100), "classifier-free guidance for validation grids"),
    O(log_every, OPT_INT, "10", OPT_GE(1), "CSV log every N steps"),
    O(save_f16, OPT_BOOL, "false", OPT_ANY, "write the final weights as F16"),
    O(device, OPT_INT, "-1", OPT_GE(-1), "Vulkan device index (see `vkpref info`)"),
};

static const OptTable TABLE = {"train", "Train a diffusion model (pre-training: sft on Fashion-MNIST).", SPECS,
                               sizeof SPECS / sizeof *SPECS};

const OptTable* train_options(void) { return &TABLE; }
