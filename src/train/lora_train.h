// lora_train.h: a training run's LoRA adapters (--lora_rank > 0): the options
// checked, the adapter store set up on the loaded UNet, and the adapter file
// written. The recorded step applies them (TrainStepConfig.lora).
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "model/lora.h"
#include "model/pipeline_io.h"
#include "train/train_config.h"

static inline bool lora_training(const TrainConfig* c) { return c->lora_rank > 0; }
// The LoRA options against the rest of the run. 0, or -1 with err.
int lora_train_check(const TrainConfig* c, bool train_text_encoder, char* err, size_t errlen);
// Adapters on p's UNet from the options, allocated with gradients, moments and
// (use_ema) EMA, initialised as PEFT does from the run's seed (a resume then
// overwrites them from the checkpoint). 0, or -1 with err.
int lora_train_setup(LoraSet* s, DiffusionPipeline* p, const TrainConfig* c, char* err, size_t errlen);
// dir/pytorch_lora_weights.safetensors in --lora_format (the EMA weights when use_ema).
int lora_train_save(const LoraSet* s, const TrainConfig* c, const char* dir, char* err, size_t errlen);
