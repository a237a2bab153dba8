// lora.h: LoRA adapters on the Linear and Conv2d layers of a model (PEFT's LoraLayer):
//   y = W x + b + scale B (A x),   A [r, in], B [out, r], scale = alpha / r;
// on a convolution A is a convolution like the base's [r, in, k, k] (same
// stride and padding) and B a 1x1 convolution [out, r, 1, 1].
// The adapters live in their own ParamStore (entries "<module>.lora_A.weight",
// "<module>.lora_B.weight", the names PEFT gives them), so the base store stays
// values only: no gradients, moments or EMA. A Graph whose `lora` points at a set
// applies the adapters (layers.c); a Graph without one records the base model, so
// a frozen reference is the base with the adapters switched off.
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "model/params.h"
#include "util/options.h"
#include "model/weights.h"

#define LORA_DEFAULT_TARGETS "to_q,to_k,to_v,to_out.0"
#define LORA_WEIGHTS_FILE "pytorch_lora_weights.safetensors"

typedef struct LoraAdapter {
    char module[PARAM_NAME_MAX];  // e.g. "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q"
    int base_w;                   // the module's weight in the base store
    int a, b;                     // lora_A, lora_B in the adapter store
    int in, out, rank;
    int k;                        // 0: Linear; else the convolution's kernel size
    float alpha;                  // scale = alpha / rank (times the set's multiplier)
} LoraAdapter;

// The model of a pipeline an adapter file's keys adapt: files from kohya's
// sd-scripts and from diffusers with --train_text_encoder hold both.
typedef enum LoraComponent { LORA_UNET, LORA_TEXT_ENCODER } LoraComponent;

typedef struct LoraSet {
    ParamStore ps;       // the adapters' weights (and, when training, gradients and moments)
    LoraAdapter* ad;
    int n;
    int* by_base;        // base entry -> adapter index or -1
    int nbase;
    float multiplier;    // sampling strength (--lora_scale); 1 when training
    // Training only (--lora_dropout): PEFT's dropout on each adapter's input, applied
    // by a Graph with lora_dropout set; the mask comes from dropout_key (op_dropout:
    // 4 words a host-visible tensor holds, written per micro-batch by lora_dropout_key).
    float dropout;
    const Tensor* dropout_key;
    // Sampling with several adapter files: the next file's set, applied too (their
    // contributions add up); NULL: none. A training set stands alone.
    const struct LoraSet* next;
    int skipped;         // tensors of the file read that adapt the other model (lora_load)
} LoraSet;

// Adapter files with their strengths (--lora FILE --lora_scale S, repeatable).
#define LORA_FILES_MAX 16
typedef struct LoraFiles {
    const char* path[LORA_FILES_MAX];
    float scale[LORA_FILES_MAX];
    int n;
} LoraFiles;

typedef enum LoraFormat { LORA_FORMAT_PEFT, LORA_FORMAT_KOHYA } LoraFormat;

// Adapters of rank r and the given alpha on every Linear or Conv2d weight of
// base whose module name is one of targets (comma-separated) or ends with "." +
// one of them (PEFT's target_modules). Registered, not allocated. 0, or -1 with
// err (a target matching nothing, or a weight of another kind).
int lora_set_create(LoraSet* s, GpuContext* g, const ParamStore* base, int rank, float alpha, const char* targets,
                    char* err, size_t errlen);
void lora_set_free(LoraSet* s);
// An empty set over base (what lora_set_create and lora_load start from), and
// one adapter on base entry w (a Linear weight [out, in] or a Conv2d weight
// [out, in, k, k]); returns its index.
void lora_set_begin(LoraSet* s, GpuContext* g, const ParamStore* base);
int lora_add_adapter(LoraSet* s, const ParamStore* base, int w, int rank, float alpha);
// PEFT's initialisation: A ~ kaiming_uniform(a = sqrt(5)) = U(+-1/sqrt(fan_in)),
// fan_in = in (x k x k for a convolution); B = 0.
void lora_set_init(LoraSet* s, uint64_t seed);
// PEFT's rule for target_modules and the rank/alpha patterns: module equals
// target[0..tlen) or ends with "." + it.
bool lora_name_matches(const char* module, const char* target, size_t tlen);
// The adapter for base entry w (NULL: none).
const LoraAdapter* lora_find(const LoraSet* s, int w);
static inline float lora_scale(const LoraSet* s, const LoraAdapter* a) {
    return s->multiplier * a->alpha / (float)a->rank;
}

// The dropout key of one micro-batch (op_dropout's 4 words, stored as the bits of
// key[0..4)): the step's key rng_hash(seed, step, RNG_STREAM_LORA_DROPOUT), the
// micro-batch's first item in the step's global batch and its items, so a mask
// is a function of (seed, step, item, module, element) alone.
void lora_dropout_key(float key[4], uint64_t seed, int step, int first_item, int items);

// Folds the adapters into base: W += multiplier (alpha / r) B A for each (on
// the host, summed in double): the merged model computes what base + adapters do.
void lora_merge(const LoraSet* s, ParamStore* base);

// Writes slot of the adapters as pytorch_lora_weights.safetensors keys
// (PEFT: "unet.<module>.lora_A.weight" / "lora_B.weight" and diffusers'
// lora_adapter_metadata with r and lora_alpha; kohya: "lora_unet_<module with _>"
// ".lora_down.weight" / ".lora_up.weight" / ".alpha"). 0, or -1 with err.
int lora_save(const LoraSet* s, ParamSlot slot, LoraFormat fmt, const char* path, char* err, size_t errlen);
// Reads the adapters of one model (component) from a file against that model's
// store base: builds s with values only (no adapters when the file adapts the
// other model alone; s->skipped counts the other model's tensors). Keys read:
// PEFT / diffusers ("unet.<module>.lora_A.weight", "text_encoder.<module>..."),
// older diffusers ("<attn>.processor.to_q_lora.down.weight", "<module>.lora.down.weight",
// "text_encoder.<module>.lora_linear_layer.down.weight", "<attn>.to_q_lora..."),
// kohya ("lora_unet_..." / "lora_te_..." with ".alpha"). SDXL's text-encoder keys
// are refused. multiplier: the strength (1 = as trained). 0, or -1 with err.
int lora_load(LoraSet* s, GpuContext* g, const ParamStore* base, LoraComponent component, const char* path,
              float multiplier, char* err, size_t errlen);
// The files of repeatable --lora options and their --lora_scale values: one scale
// for every file, or one per file in order. Points into the lists. 0, or -1 with err.
int lora_files_parse(LoraFiles* f, const OptStrings* files, const OptStrings* scales, char* err, size_t errlen);
// Loads every file of f against base into sets[0 .. f->n), chained through next
// (sets[0] the head, what a Graph's lora takes; none loaded when f->n is 0).
// 0, or -1 with err naming the file (nothing left allocated).
int lora_load_files(LoraSet* sets, GpuContext* g, const ParamStore* base, LoraComponent component, const LoraFiles* f,
                    char* err, size_t errlen);
void lora_free_files(LoraSet* sets, const LoraFiles* f);

// lora_load of the UNet's adapters with gradient buffers (zeroed), for a
// backward through them (`vkpref forward --lora --grad`).
int lora_load_with_grads(LoraSet* s, GpuContext* g, const ParamStore* base, const char* path, float multiplier,
                         char* err, size_t errlen);
// Floats of a Graph.frozen_sink for a backward through base's frozen norms.
int64_t lora_frozen_sink_numel(const ParamStore* base);

// "peft" / "kohya" -> fmt; false when unknown.
bool lora_format_parse(const char* name, LoraFormat* fmt);
