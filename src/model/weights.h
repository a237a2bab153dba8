// weights.h: a ParamStore to and from safetensors files, by parameter name.
// A store keeps several arenas of the same layout (values, gradients, AdamW
// moments, EMA); a "slot" names one of them, so checkpoints save and restore
// the whole training state with the same code that exports a model.
#pragma once
#include "io/safetensors.h"
#include "model/params.h"

typedef enum ParamSlot { SLOT_VALUE, SLOT_M, SLOT_V, SLOT_EMA } ParamSlot;

// The tensor of entry i in slot (dies if the slot is not allocated).
const Tensor* param_slot(const ParamStore* ps, int i, ParamSlot slot);

// Fills every entry of ps (allocated) from the file: each must be present with
// its exact shape (F32, F16 or BF16). Tensors in the file that the model does not
// have are counted in *unused (may be NULL). 0 on success, else err names file and tensor.
int weights_load(ParamStore* ps, const char* path, int* unused, char* err, size_t errlen);
int weights_load_from(ParamStore* ps, const SafeTensors* st, int* unused, char* err, size_t errlen);

// The weights of one component folder as diffusers names them, stem being
// "diffusion_pytorch_model" (UNet, VAE) or "model" (text encoder):
//   variant "" : stem.safetensors, else the sharded stem.safetensors.index.json,
//                else stem.fp16.safetensors (folders that ship only the half variant);
//   variant "v": stem.v.safetensors, else stem.safetensors.index.v.json.
// NULL with err naming the folder and the names looked for.
SafeTensors* weights_open(const char* folder, const char* stem, const char* variant, char* err, size_t errlen);
// Fills one slot of every entry from an open file, reading "<prefix><name>".
int weights_load_slot(ParamStore* ps, ParamSlot slot, const SafeTensors* st, const char* prefix, char* err,
                      size_t errlen);

// Collects slots of one or more stores into one safetensors file.
typedef struct WeightsWriter {
    StWriter st;
    float** host;  // downloaded copies, kept until the write
    int n, cap;
} WeightsWriter;

void weights_writer_init(WeightsWriter* w, StDtype dtype);
// Adds "<prefix><name>" for every entry of ps, from slot (downloaded now).
void weights_writer_add(WeightsWriter* w, const ParamStore* ps, ParamSlot slot, const char* prefix);
// Writes atomically and releases w. 0 or -1 with err.
int weights_writer_finish(WeightsWriter* w, const char* path, char* err, size_t errlen);

// Writes values (or EMA weights when use_ema and present) as F32 or F16, atomically.
int weights_save(const ParamStore* ps, const char* path, bool use_ema, StDtype dtype, char* err, size_t errlen);

// A new tensor of t's shape in arena a holding t's values as F32 (inputs read
// from a safetensors file, e.g. by `vkpref forward`).
Tensor weights_upload_tensor(GpuContext* g, Arena* a, const SafeTensors* st, const StTensor* t);
