// classifier_infer.h: the classifier's forward for any number of images,
// recorded once for a fixed batch and replayed per batch (one submit each).
// Images, labels, logits and per-image losses live in a host-visible arena, so
// nothing but those crosses between host and device. Used by the judge and by
// train-judge's test-set evaluation.
#pragma once
#include "judge/classifier.h"

typedef struct ClassifierRunner {
    GpuContext* gpu;
    ClassifierConfig cfg;  // of the recorded model
    int batch;
    Arena io, act, tmp;
    Tensor x, labels, logits, loss;  // io: [B,1,S,S], [B] uint32, [B,K], [B]
    Cmd cmd;
} ClassifierRunner;

// ps must hold m's allocated values (it may be a training store: only values are read).
void classifier_runner_init(ClassifierRunner* r, GpuContext* g, const Classifier* m, ParamStore* ps, int batch);
void classifier_runner_free(ClassifierRunner* r);
// images [n][1][S][S] in [-1, 1]. Outputs may be NULL: logits [n][K];
// logp[i] = log softmax(logits[i])[labels[i]] (needs labels, each in [0, K)).
void classifier_runner_run(ClassifierRunner* r, const float* images, const int* labels, int n, float* logits,
                           double* logp);

// Index of the largest of k values (the first one on ties).
int classifier_argmax(const float* v, int k);
