// epochs.h: --num_train_epochs (diffusers' flag): the run's length from the data.
// When it is > 0 and max_train_steps is not given (train_config_resolve sets
// max_train_steps 0: "derive it"), the run, and --print-config, set
//   max_train_steps = num_train_epochs x ceil(ceil(items / (train_batch_size x ranks)) / gradient_accumulation_steps)
// as diffusers' scripts do (accelerate's per-process dataloader of ceil(items / global batch)
// micro-batches, an optimizer step per gradient_accumulation_steps of them). Items are
// what the objective draws from (pref_layout_items): pairs for the pair objectives,
// images for sft and kto (both images of a pair for kto), rows for tdpo and tkto,
// Fashion-MNIST's training images for --dataset fmnist.
#pragma once
#include <stdint.h>

#include "train/train_config.h"

// max_train_steps for c->num_train_epochs over `items` with `ranks` processes: 0 and
// *steps, or -1 with a message when it exceeds an int.
int epochs_to_steps(const TrainConfig* c, int64_t items, int ranks, int* steps, char* err, size_t errlen);
// Loads c's dataset only to count the items c's objective draws from (for
// --print-config; a run counts the data it loaded). 0, or -1 with a message.
int epochs_count_items(const TrainConfig* c, int64_t* items, char* err, size_t errlen);
