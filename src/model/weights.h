// weights.h: a ParamStore to and from safetensors files, by parameter name.
#pragma once
#include "io/safetensors.h"
#include "model/params.h"

// Fills every entry of ps (allocated) from the file: each must be present with
// its exact shape (F32, F16 or BF16). Tensors in the file that the model does not
// have are counted in *unused (may be NULL). 0 on success, else err names file and tensor.
int weights_load(ParamStore* ps, const char* path, int* unused, char* err, size_t errlen);
// Same from an open file, with an optional name prefix ("" for none) on the file's side.
int weights_load_from(ParamStore* ps, const SafeTensors* st, const char* prefix, char* err, size_t errlen);
// Writes values (or EMA weights when use_ema) as F32 or F16, atomically.
int weights_save(const ParamStore* ps, const char* path, bool use_ema, StDtype dtype, char* err, size_t errlen);
