// ref_xent.c: softmax cross-entropy and its coefficient-scaled gradient, in double.
#include "ref/ref_xent.h"

#include <math.h>

static double logsumexp(const double* x, int64_t K) {
    double m = x[0], s = 0;
    for (int64_t k = 1; k < K; k++) m = fmax(m, x[k]);
    for (int64_t k = 0; k < K; k++) s += exp(x[k] - m);
    return m + log(s);
}

void ref_softmax_xent_forward(double* loss, const double* logits, const uint32_t* labels, int64_t N, int64_t K) {
    for (int64_t n = 0; n < N; n++)
        loss[n] = labels[n] < K ? logsumexp(logits + n * K, K) - logits[n * K + labels[n]] : 0.0;
}

void ref_softmax_xent_backward(double* dlogits, const double* coef, const double* logits, const uint32_t* labels,
                               int64_t N, int64_t K) {
    for (int64_t n = 0; n < N; n++) {
        if (labels[n] >= K) continue;
        const double* x = logits + n * K;
        double lse = logsumexp(x, K);
        for (int64_t k = 0; k < K; k++) dlogits[n * K + k] += coef[n] * (exp(x[k] - lse) - (k == labels[n]));
    }
}
