// op_xent.h: softmax cross-entropy over class logits (the judge classifier's
// loss, and its log-probabilities when scoring); see ops.h. Like op_loss.h the
// forward gives one loss per sample and the backward is scaled by per-sample
// coefficients that live on the GPU (coef[n] = 1/N for a batch mean).
//
// Labels are uint32 (written with tensor_upload_raw, or as raw bits through a
// mapped tensor). A label >= K marks an ignored row (torch's ignore_index): its
// loss is 0 and it adds no gradient, so a partial last batch can be padded.
#pragma once
#include "gpu/cmd.h"

// loss[n] = logsumexp_k logits[n, k] - logits[n, labels[n]] = -log softmax(logits[n])[labels[n]].
// logits [N, K] (K = the last dimension, leading dimensions flattened), labels [N], loss [N].
void op_softmax_xent_forward(Cmd* c, const Tensor* loss, const Tensor* logits, const Tensor* labels);
// dlogits[n, k] += coef[n] * (softmax(logits[n])[k] - [k == labels[n]]); coef [N].
void op_softmax_xent_backward(Cmd* c, const Tensor* dlogits, const Tensor* coef, const Tensor* logits,
                              const Tensor* labels);
