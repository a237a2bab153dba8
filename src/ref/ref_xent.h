// ref_xent.h: double-precision reference of the softmax cross-entropy; see ref.h.
#pragma once
#include <stdint.h>

// loss[n] = logsumexp_k logits[n, k] - logits[n, labels[n]]; 0 when labels[n] >= K.
// logits [N, K], labels [N], loss [N].
void ref_softmax_xent_forward(double* loss, const double* logits, const uint32_t* labels, int64_t N, int64_t K);
// dlogits[n, k] += coef[n] * (softmax(logits[n])[k] - [k == labels[n]]); nothing for labels[n] >= K.
void ref_softmax_xent_backward(double* dlogits, const double* coef, const double* logits, const uint32_t* labels,
                               int64_t N, int64_t K);
