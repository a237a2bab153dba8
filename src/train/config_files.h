// config_files.h: the files and folders a training config names (and the
// options that only make sense with them), checked before anything is loaded,
// so that `--print_config` and a run stop at the same typo with the same
// message (run.c's option checks call it).
#pragma once
#include <stddef.h>

#include "train/train_config.h"

// 0, or -1 with a message naming the option and the path: a missing manifest
// (--dataset), pipeline folder (--pretrained_model_name_or_path), architecture
// (--model_config, from scratch only) or prompt file (--validation_prompts), or a
// --resolution other than the model's sample_size, or --max_train_samples without a manifest.
int train_config_check_files(const TrainConfig* c, char* err, size_t errlen);
