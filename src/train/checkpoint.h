// checkpoint.h: `checkpoint-<step>` folders inside a run's output_dir.
//
// A checkpoint is a complete diffusers pipeline folder (the UNet's EMA weights
// when EMA is on, so it can be sampled from directly) or, when a LoRA run trains
// adapters only, their pytorch_lora_weights.safetensors; plus what resuming needs:
//   train_state.safetensors  raw weights, AdamW moments and EMA of every
//                            trainable store, named "<store>/<slot>/<param>"
//                            (store: unet, text_encoder or lora)
//   train_state.json         step, format version, the run's id (run_dir.h) and
//                            the number of processes that trained it (the RNG
//                            needs nothing: every draw is a pure function of
//                            seed and step, rng.h)
//   train_config.json        the resolved options of the run
// The folder is written under a temporary name and renamed into place, so a
// checkpoint folder is either complete or absent.
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "model/lora.h"
#include "model/pipeline_io.h"

#define CHECKPOINT_PREFIX "checkpoint-"

typedef struct CheckpointState {
    int step;         // optimizer steps completed
    char run_id[17];  // the run that wrote it ("" for checkpoints written before runs had ids)
    int processes;    // data-parallel processes that trained it (1 when absent: older checkpoints)
} CheckpointState;

// Writes output_dir/checkpoint-<step> (pruning is the caller's: run_dir_prune).
// config_json: the resolved options. lora: the run's adapters (NULL: full training).
int checkpoint_save(const DiffusionPipeline* p, const LoraSet* lora, bool train_text_encoder, bool use_ema,
                    const char* config_json,
                    const CheckpointState* st, const char* output_dir, char* out_path, size_t out_len, char* err,
                    size_t errlen);
// "latest": the finished checkpoint of output_dir with the highest step among
// those of run_id (any run when run_id is NULL or ""); anything else must be a
// checkpoint folder. Writes the folder to out.
int checkpoint_resolve(const char* spec, const char* output_dir, const char* run_id, char* out, size_t out_len,
                       char* err, size_t errlen);
// Reads train_state.json's text (source names it in errors): 0, or -1 with err
// naming the key.
int checkpoint_state_parse(const char* text, const char* source, CheckpointState* st, char* err, size_t errlen);
// Restores weights, moments and EMA into p (loaded from the checkpoint folder
// with the same allocation; with LoRA, the base model and lora set up by
// lora_train_setup) and reads the step.
int checkpoint_load_state(DiffusionPipeline* p, LoraSet* lora, bool train_text_encoder, bool use_ema,
                          const char* dir, CheckpointState* st, char* err, size_t errlen);
// Steps of the finished checkpoints in output_dir, ascending (malloc'ed; count
// in *n); only those written by run_id unless it is NULL.
int* checkpoint_list(const char* output_dir, const char* run_id, int* n);
// Reads dir/train_state.json (step, run id). 0, or -1 with err.
int checkpoint_read_state(const char* dir, CheckpointState* st, char* err, size_t errlen);
