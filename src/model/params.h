// params.h: the parameter store. Every parameter is registered under its exact
// diffusers / transformers name; values, gradients and AdamW moments live in
// arenas with identical layouts (same chunk, same offset for entry i), so
// zeroing, AdamW, EMA, gradient norms, loading and saving are loops over chunks
// or entries: nothing lists parameters by hand (llm.c's mirrored layout).
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "gpu/memory.h"

#define PARAM_NAME_MAX 160

typedef struct ParamEntry {
    char name[PARAM_NAME_MAX];  // e.g. "down_blocks.0.resnets.0.conv1.weight"
    int ndim;
    int64_t shape[4];
    bool trainable;
    bool adaptable;  // a Linear or Conv2d weight, which a Graph's LoRA adapters reach (layers.c)
    Tensor value, grad, m, v, ema;  // views filled by param_store_alloc (grad..ema only when allocated)
} ParamEntry;

typedef enum ParamInit { INIT_ZERO, INIT_ONE, INIT_UNIFORM_FAN_IN } ParamInit;

typedef struct ParamStore {
    ParamEntry* e;
    ParamInit* init;  // how param_store_init_random fills each entry
    int n, cap;
    GpuContext* gpu;
    Arena value, grad, m, v, ema;
    DType dtype;  // of the values: DTYPE_F16 only in a frozen store (param_store_alloc_frozen)
    bool has_grad, has_adam, has_ema, allocated;
} ParamStore;

void param_store_init(ParamStore* ps, GpuContext* g);
void param_store_free(ParamStore* ps);
// Registers "<prefix>.<leaf>" (or just leaf when prefix is empty); returns the index.
int param_add(ParamStore* ps, const char* prefix, const char* leaf, int ndim, const int64_t* shape, ParamInit init);
int param_find(const ParamStore* ps, const char* name);  // -1 when absent
// -1 when b lists the same parameters as a (names and shapes, in order), else
// the first entry that differs: a model's parameter indices then address either
// store (a policy and its frozen reference).
int param_store_mismatch(const ParamStore* a, const ParamStore* b);
int64_t param_count(const ParamStore* ps);                // total number of scalars
// Allocates device memory for every registered entry (values always).
void param_store_alloc(ParamStore* ps, bool grads, bool adam, bool ema);
// Values only, stored as `dtype`: a model nothing trains (a reference, a VAE, a
// text encoder, a LoRA base, a sampler's model). F16 halves its memory; kernels
// read it converted to F32.
void param_store_alloc_frozen(ParamStore* ps, DType dtype);
// PyTorch-like default init (uniform +-1/sqrt(fan_in) for weights and biases,
// ones/zeros for norms), from a seed; deterministic across runs.
void param_store_init_random(ParamStore* ps, uint64_t seed);

// EMA := values (a run's EMA starts from its initial weights).
void param_store_reset_ema(ParamStore* ps);

// Whole-chunk views: chunk i of each arena covers the same entries, so a single
// dispatch per chunk can update every parameter (AdamW, EMA, zeroing, norms).
int param_chunks(const ParamStore* ps);
Tensor param_chunk(const ParamStore* ps, const Arena* a, int chunk);

static inline const Tensor* P(const ParamStore* ps, int i) { return &ps->e[i].value; }
static inline const Tensor* G(const ParamStore* ps, int i) { return &ps->e[i].grad; }

// Host copies (blocking): used by checkpoints and tests.
void param_upload(ParamStore* ps, int i, const float* host);
void param_download(const ParamStore* ps, int i, float* host);
int64_t param_numel(const ParamStore* ps, int i);

// out = "<prefix>.<name>" (a parameter-name prefix); dies if it exceeds PARAM_NAME_MAX.
void param_join(char out[PARAM_NAME_MAX], const char* prefix, const char* name);
