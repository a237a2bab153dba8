// ref_loss.c: the per-sample MSE and its coefficient-scaled gradient, in double.
#include "ref/ref.h"

void ref_mse_per_sample_forward(double* mse, const double* pred, const double* target, int64_t N, int64_t E) {
    for (int64_t n = 0; n < N; n++) {
        double s = 0;
        for (int64_t i = 0; i < E; i++) {
            double d = pred[n * E + i] - target[n * E + i];
            s += d * d;
        }
        mse[n] = s / (double)E;
    }
}

void ref_mse_per_sample_backward(double* dpred, const double* coef, const double* pred, const double* target,
                                 int64_t N, int64_t E) {
    for (int64_t n = 0; n < N; n++)
        for (int64_t i = 0; i < E; i++)
            dpred[n * E + i] += coef[n] * 2.0 * (pred[n * E + i] - target[n * E + i]) / (double)E;
}
