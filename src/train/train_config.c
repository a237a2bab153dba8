// train_config.c: the option table of `vkpref train`.
#include "train/train_config.h"

#include <stddef.h>
#include <stdio.h>

#define O(name, type, def, help) {#name, type, offsetof(TrainConfig, name), def, help}

static const OptSpec SPECS[] = {
    O(pretrained_model_name_or_path, OPT_STRING, "", "pipeline folder to start from (empty: train from scratch)"),
    O(model_config, OPT_STRING, "configs/models/fmnist-small.json", "architecture for training from scratch"),
    O(dataset, OPT_STRING, "fmnist", "\"fmnist\" (Debian's Fashion-MNIST) or a Pick-a-Pic-style JSONL manifest (docs/DATA.md)"),
    O(output_dir, OPT_STRING, "out/train", "where checkpoints, logs, grids and the final pipeline go"),
    O(overwrite_output_dir, OPT_BOOL, "false",
      "start a new run in an output_dir that holds an earlier one (its checkpoints, log and grids are removed)"),
    O(resume_from_checkpoint, OPT_STRING, "", "\"latest\" or a checkpoint-<step> folder"),
    O(objective, OPT_STRING, "sft", "training objective: sft, dpo, mapo, kto, tdpo or tkto (docs/OBJECTIVES.md)"),
    O(random_flip, OPT_BOOL, "false", "manifests: random horizontal flips (the same for both images of a pair)"),
    O(skip_bad_rows, OPT_BOOL, "false", "manifests: skip and count bad rows instead of stopping at the first"),
    O(max_train_steps, OPT_INT, "1000", "optimizer steps"),
    O(train_batch_size, OPT_INT, "32", "items per micro-batch: images (sft, kto) or pairs of rows (dpo, mapo, tdpo, tkto)"),
    O(gradient_accumulation_steps, OPT_INT, "1", "micro-batches per optimizer step"),
    O(seed, OPT_INT, "0", "seed of every random choice (batches, noise, timesteps, dropout)"),
    O(learning_rate, OPT_FLOAT, "1e-3", "peak learning rate"),
    O(lr_scheduler, OPT_STRING, "constant_with_warmup", "constant, constant_with_warmup, linear or cosine"),
    O(lr_warmup_steps, OPT_INT, "100", "linear warm-up steps"),
    O(adam_beta1, OPT_FLOAT, "0.9", "AdamW beta1"),
    O(adam_beta2, OPT_FLOAT, "0.999", "AdamW beta2"),
    O(adam_epsilon, OPT_FLOAT, "1e-8", "AdamW epsilon"),
    O(adam_weight_decay, OPT_FLOAT, "1e-2", "AdamW decoupled weight decay"),
    O(max_grad_norm, OPT_FLOAT, "1.0", "clip the global gradient norm to this (0: off)"),
    O(use_ema, OPT_BOOL, "true", "keep an exponential moving average of the weights (saved as the model)"),
    O(ema_decay, OPT_FLOAT, "0.999", "EMA decay cap; step s uses min(ema_decay, (1 + s) / (10 + s)) as diffusers' EMAModel"),
    O(proportion_empty_prompts, OPT_FLOAT, "0.1", "probability of training on the empty caption (for guidance)"),
    O(train_text_encoder, OPT_STRING, "auto", "train the text encoder: auto (yes when pre-training on fmnist), true, false"),
    O(gradient_checkpointing, OPT_BOOL, "false", "recompute each UNet block's forward before its backward (less memory, ~1/3 more dispatches)"),
    O(caption_attributes, OPT_BOOL, "false", "fmnist: add measured attribute words to captions"),
    O(checkpointing_steps, OPT_INT, "500", "save checkpoint-<step> every N steps and at the last step (0: none; docs/TRAINING.md)"),
    O(checkpoints_total_limit, OPT_INT, "3", "keep the last N checkpoints (0: keep all)"),
    O(validation_steps, OPT_INT, "500", "validation loss and grid at step 0, every N steps and at the last step (0: step 0 and the last)"),
    O(validation_images, OPT_INT, "256", "held-out images for the deterministic validation loss"),
    O(validation_prompts, OPT_STRING, "", "prompt file for validation grids (default: the class captions)"),
    O(validation_grid_seeds, OPT_INT, "4", "validation grid columns: seeds 0..N-1 (0: no grids)"),
    O(validation_inference_steps, OPT_INT, "25", "sampler steps for validation grids"),
    O(validation_guidance_scale, OPT_FLOAT, "3.0", "classifier-free guidance for validation grids"),
    O(log_every, OPT_INT, "10", "CSV log every N steps"),
    O(max_loss_spike, OPT_FLOAT, "0",
      "stop when a step's loss exceeds this many times the median of the last 50 (0: off)"),
    O(save_f16, OPT_BOOL, "false", "write the final weights as F16"),
    O(lora_rank, OPT_INT, "0",
      "train LoRA adapters of this rank on the UNet's Linear/Conv2d layers, the base frozen (0: full fine-tuning; README)"),
    O(lora_alpha, OPT_FLOAT, "0", "LoRA scale alpha / rank (0: alpha = rank)"),
    O(lora_target_modules, OPT_STRING, "to_q,to_k,to_v,to_out.0",
      "LoRA: Linear or Conv2d modules by name or name suffix (also ff.net.0.proj, ff.net.2, proj_in, proj_out, conv1, conv2)"),
    O(lora_dropout, OPT_FLOAT, "0", "LoRA dropout (only 0 is supported)"),
    O(lora_format, OPT_STRING, "peft",
      "keys of pytorch_lora_weights.safetensors: peft (diffusers) or kohya (A1111, ComfyUI)"),
    O(device, OPT_INT, "-1", "Vulkan device index (see `vkpref info`)"),
};

#define NSPECS (sizeof SPECS / sizeof *SPECS)

// The objectives' hyper-parameters follow SPECS, generated from their table (objective.h).
const OptTable* train_options(void) {
    static OptSpec specs[NSPECS + OBJ_HYPER_OPTIONS];
    static char defs[OBJ_HYPER_OPTIONS][32];
    static OptTable t = {"train",
                         "Pre-train a diffusion model (sft on Fashion-MNIST) or fine-tune one on a manifest "
                         "(docs/TRAINING.md).",
                         specs, 0};
    if (t.n) return &t;
    for (size_t i = 0; i < NSPECS; i++) specs[t.n++] = SPECS[i];
    for (int k = 0; k < OBJ_HYPER_OPTIONS; k++) {
        snprintf(defs[k], sizeof defs[k], "%.15g", OBJ_HYPERS[k].def);
        specs[t.n++] = (OptSpec){OBJ_HYPERS[k].key, OPT_FLOAT,
                                 offsetof(TrainConfig, objective_hyper) + (size_t)k * sizeof(double), defs[k],
                                 OBJ_HYPERS[k].help};
    }
    return &t;
}
