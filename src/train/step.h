// step.h: the training step, recorded once and replayed every step.
//
// Host-written inputs live in a host-visible arena (x_t, target, timesteps,
// token ids, per-sample loss coefficients, per-step scalars); the step writes
// per-sample MSEs and the gradient-norm statistics back into it. Nothing else
// crosses between host and device inside a step.
//
// Two recordings: `accumulate` (forward + backward of one micro-batch, adding
// into the gradients) and `update` (the same, then clip + AdamW + EMA + zeroing
// of the gradients), so a step is one submit without gradient accumulation and
// K submits with K micro-batches.
//
// Data parallel (cfg.reduce set): `update` is split. Every micro-batch replays
// `accumulate`; `grads_out` copies the gradients into host-visible staging,
// cfg.reduce sums them over the processes there, and `update` holds only the
// optimizer tail (staging copied back, then clip + AdamW + EMA + zeroing), so
// every process applies the same update to the same weights.
//
// The staging holds every trainable gradient in the order the backward
// completes it (its last write in the recorded backward: the UNet's output
// side first, the shared time embedding and the text encoder last), cut into
// buckets of whole parameters; cfg.reduce sums one bucket at a time, in that
// order. With cfg.overlap_exchange the last micro-batch replays `last`
// instead of `accumulate` and `grads_out`: the same commands, cut after each
// bucket's last gradient write into parts that end by copying the finished
// buckets to staging. Every part is queued at once, and the host sums each
// bucket as soon as its part has run, so the exchange of the early buckets
// overlaps the rest of the backward on the device. Both ways sum the same
// buckets of the same values in the same order: the results are bit-identical.
//
// Data parallel with an objective that reads a statistic of the whole
// micro-batch (kto's reference point, sdpo's scale; cfg.gather set): the
// micro-batch is every process's rows together, as in one process with
// nranks x batch rows. Each micro-batch is then two submits: `forward` (up to
// the per-row errors), the host gathers every process's errors and signs into
// the g_* tensors (one process's layout: each half of the rows in rank order),
// and `accumulate` evaluates the objective on all rows and back-propagates this
// process's own.
//
// The recordings are made from the model descriptions given to
// train_step_init (the frozen reference from the policy's UNet, against its own
// store); the activations they save live only while recording, since a replay
// reads the arenas, not the structs.
#pragma once
#include "gpu/cmd.h"
#include "model/clip.h"
#include "model/lora.h"
#include "model/unet.h"
#include "ops/ops.h"
#include "objective/objective.h"
#include "train/optimizer.h"

// Replaces grads[0..n) (one gradient chunk, in a fixed order) with its sum over processes.
typedef void (*StepReduceFn)(void* user, float* grads, int64_t n);

// Gradient buckets: at least this many floats (4 MiB, where links reach most of
// their bandwidth), and at most STEP_MAX_BUCKETS of them (each is a submit
// and a barrier when overlapped).
#define STEP_BUCKET_FLOATS ((int64_t)1 << 20)
#define STEP_MAX_BUCKETS 32

// Writes every process's mine[0..n) into all[0..nprocesses x n), in rank order.
typedef void (*StepGatherFn)(void* user, const float* mine, float* all, int64_t n);

typedef struct TrainStepConfig {
    int batch;              // UNet rows per micro-batch (items x objective_rows_per_item)
    int text_len;           // tokens per caption
    bool train_text_encoder;
    float max_grad_norm;    // <= 0: no clipping
    AdamWHyper adam;
    bool ema;
    bool gradient_checkpointing;
    Objective objective;    // maps per-sample errors to the loss and its coefficients
    ObjectiveHyper hyper;
    float coef_scale;       // 1 / micro-batches per optimizer step
    ParamStore* ref_ps;     // the frozen reference UNet's weights (objective_needs_reference), else NULL
    // LoRA: only these adapters train (the UNet store is values only), and the
    // reference is the same UNet store recorded with the adapters off (ref_ps is set
    // to it). NULL: full training.
    LoraSet* lora;
    StepReduceFn reduce;    // data parallel: the gradient exchange (split update, above); NULL: one process
    void* reduce_user;
    bool overlap_exchange;  // with reduce: sum each bucket while the backward runs on (above)
    int64_t bucket_floats;  // with reduce: smallest bucket; 0: STEP_BUCKET_FLOATS
    StepGatherFn gather;    // data parallel, objective_uses_batch_statistic: the row exchange (above); else NULL
    void* gather_user;
    int nranks, rank;       // with gather: the processes, and this one's place among them
} TrainStepConfig;

typedef struct TrainStep {
    GpuContext* gpu;
    TrainStepConfig cfg;
    ParamStore *unet_ps, *text_ps;
    Arena io, act, tmp, grad;
    // inputs (host-visible, written before each replay)
    Tensor x_t, target, timesteps, ids, signs, scalars;
    Tensor dropout_key;     // LoRA dropout: op_dropout's key of the micro-batch (lora_dropout_key)
    // outputs (host-visible): per-row errors of the policy and the reference,
    // the objective's coefficients and metrics (objective.h), gradient-norm statistics;
    // dspo: ref_dist[n] = mean (pred - pred_ref)^2 and its coefficient coef_dist[n]
    Tensor mse, mse_ref, coef, metrics, stats, ref_dist, coef_dist;
    Tensor norm_scratch;
    Arena frozen;           // LoRA: the discarded scale/shift gradients of the frozen norms (Graph.frozen_sink)
    Tensor frozen_sink;
    Cmd accumulate, update;
    // Split update only: the buckets' host-visible copies (in order), the
    // recording filling them all, and (overlap_exchange) the last micro-batch's
    // recording cut into parts; bucket i is complete after part bucket_part[i].
    Arena staging;
    Tensor* bucket;
    int* bucket_part;
    int nbuckets;
    Cmd grads_out, last;
    // Gathered micro-batch only: its rows' errors, signs and coefficients
    // (host-visible, nranks x batch rows), the host's receive buffer, and the
    // recording up to the per-row errors.
    Tensor g_mse, g_mse_ref, g_signs, g_coef;
    float* gather_buf;
    Cmd forward;
} TrainStep;

// ref_ps in cfg: the reference UNet's store, registered by unet_init with
// unet's config (its parameter list must be unet_ps's). unet and clip are read
// during this call only.
void train_step_init(TrainStep* s, GpuContext* g, const UNet* unet, ParamStore* unet_ps, const ClipTextModel* clip,
                     ParamStore* text_ps, TrainStepConfig cfg);
void train_step_free(TrainStep* s);
// Mapped pointers of the host-visible tensors.
float* step_ptr(const Tensor* t);

// Writes micro-batch m's inputs (x_t, target, timesteps, ids, signs) into the io tensors.
typedef void (*StepFillFn)(void* user, int m);
// One optimizer step of K micro-batches, the step scalars already written
// (optimizer_step_scalars): per micro-batch fill, then a replay of `accumulate`
// (`update` for the last). metrics gets the objective's metrics averaged over
// the micro-batches.
void train_step_replay(TrainStep* s, int K, StepFillFn fill, void* user, double metrics[OBJ_METRICS_COUNT]);
