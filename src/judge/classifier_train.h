// classifier_train.h: one training step of the judge classifier, recorded once
// and replayed (train/step.c's pattern): forward, mean softmax cross-entropy,
// backward, gradient norm (optional clipping), AdamW over whole parameter
// chunks and zeroing of the gradients: one submit per step. The host writes
// the batch (x, labels), the per-sample coefficients and the step scalars into
// a host-visible arena and reads back per-sample losses, logits and the norm.
#pragma once
#include <stdbool.h>

#include "io/fmnist.h"
#include "judge/classifier.h"
#include "ops/ops.h"

typedef struct ClassifierStep {
    GpuContext* gpu;
    ClassifierConfig cfg;  // of the trained model
    ParamStore* ps;
    int batch;
    Arena io, act, grad;
    Tensor x, labels, coef, scalars;  // inputs (io): [B,1,S,S], [B] uint32, [B], [STEP_SCALARS_COUNT]
    Tensor logits, loss, stats;       // outputs (io): [B,K], [B], [2] (gradient norm, clip factor)
    Tensor norm_scratch;
    Cmd cmd;
} ClassifierStep;

// ps: m's store, allocated with gradients and AdamW moments.
void classifier_step_init(ClassifierStep* s, GpuContext* g, const Classifier* m, ParamStore* ps, int batch,
                          AdamWHyper adam, float max_grad_norm);
void classifier_step_free(ClassifierStep* s);
// Runs step `step` (0-based: AdamW's bias corrections use t = step + 1) on the
// batch in s->x / s->labels at learning rate lr. Returns the mean loss; *correct
// gets the number of argmax hits, *gnorm the gradient norm before clipping.
double classifier_step_run(ClassifierStep* s, int step, double lr, AdamWHyper adam, int* correct, double* gnorm);

// A permutation of 0..n-1 for epoch `epoch`, a pure function of (seed, epoch).
void classifier_epoch_order(int* order, int n, uint64_t seed, int epoch);
// Images order[0..B) of ds into x [B][1][32][32] and labels [B], each mirrored
// left-right with probability 1/2 when flip (a pure function of (seed, step, i)).
void classifier_fill_batch(const Fmnist* ds, const int* order, int B, uint64_t seed, int step, bool flip, float* x,
                           uint32_t* labels);
