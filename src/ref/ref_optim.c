// ref_optim.c: global gradient norm with clipping, AdamW and EMA, in double.
#include <math.h>

#include "ref/ref.h"

void ref_grad_norm(double* stats, const double* const* grads, const int64_t* numel, int ngrads, double max_norm) {
    double s = 0;
    for (int k = 0; k < ngrads; k++)
        for (int64_t i = 0; i < numel[k]; i++) s += grads[k][i] * grads[k][i];
    stats[0] = sqrt(s);
    stats[1] = max_norm > 0 ? fmin(1.0, max_norm / (stats[0] + 1e-6)) : 1.0;
    if (!isfinite(stats[0])) stats[1] = 0;  // "skip the step": adamw leaves everything as it was
}

void ref_adamw_step(double* param, const double* grad, double* m, double* v, const double* scalars,
                    const double* clip, int64_t n, AdamWHyper h) {
    double lr = scalars[STEP_LR], bc1 = scalars[STEP_BC1], bc2 = scalars[STEP_BC2];
    double b1 = h.beta1, b2 = h.beta2, scale = clip ? clip[1] : 1.0;
    if (scale == 0) return;  // a non-finite gradient norm: the step is not applied
    for (int64_t i = 0; i < n; i++) {
        double g = grad[i] * scale;
        m[i] = b1 * m[i] + (1 - b1) * g;
        v[i] = b2 * v[i] + (1 - b2) * g * g;
        param[i] -= lr * h.weight_decay * param[i];
        param[i] -= lr * (m[i] / bc1) / (sqrt(v[i] / bc2) + h.eps);
    }
}

void ref_ema_update(double* ema, const double* param, const double* scalars, int64_t n) {
    double d = scalars[STEP_EMA_DECAY];
    for (int64_t i = 0; i < n; i++) ema[i] = d * ema[i] + (1 - d) * param[i];
}
