// pipeline_io.h: a diffusers pipeline folder (model_index.json, unet/,
// text_encoder/, tokenizer/, scheduler/). Every file is written atomically
// (temporary name + rename) and model_index.json last, so a folder without it
// is recognisably unfinished; other files of the folder (logs) are kept.
#pragma once
#include "model/bpe_train.h"
#include "model/clip.h"
#include "model/schedule.h"
#include "model/unet.h"

typedef struct PipelineParts {
    const UNetConfig* unet_cfg;
    const ParamStore* unet_ps;
    const ClipConfig* clip_cfg;
    const ParamStore* text_ps;
    const BpeVocab* vocab;     // tokenizer written from a trained vocab
    int model_max_length;
    const SchedulerConfig* sched;
    bool use_ema;              // write the EMA weights of the UNet when present
    bool f16;
} PipelineParts;

int pipeline_save(const PipelineParts* p, const char* dir, char* err, size_t errlen);
