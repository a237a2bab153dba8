// ref_eltwise.c: activations, GEGLU and sums in double precision (libm erf is exact to double).
#include <math.h>

#include "ref/ref.h"
#include "util/rng.h"

static double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

double ref_act(Activation act, double x) {
    switch (act) {
    case ACT_SILU: return x * sigmoid(x);
    case ACT_GELU: return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
    case ACT_QUICK_GELU: return x * sigmoid(1.702 * x);
    case ACT_NONE: return x;
    }
    return 0;
}

double ref_act_derivative(Activation act, double x) {
    switch (act) {
    case ACT_SILU: { double s = sigmoid(x); return s * (1.0 + x * (1.0 - s)); }
    case ACT_GELU: return 0.5 * (1.0 + erf(x / sqrt(2.0))) + x * exp(-0.5 * x * x) / sqrt(2.0 * M_PI);
    case ACT_QUICK_GELU: { double s = sigmoid(1.702 * x); return s * (1.0 + 1.702 * x * (1.0 - s)); }
    case ACT_NONE: return 1;
    }
    return 0;
}

void ref_act_forward(double* y, const double* x, int64_t n, Activation act) {
    for (int64_t i = 0; i < n; i++) y[i] = ref_act(act, x[i]);
}

void ref_act_backward(double* dx, const double* dy, const double* x, int64_t n, Activation act) {
    for (int64_t i = 0; i < n; i++) dx[i] += dy[i] * ref_act_derivative(act, x[i]);
}

void ref_geglu_forward(double* y, const double* x, int64_t R, int64_t D) {
    for (int64_t r = 0; r < R; r++)
        for (int64_t d = 0; d < D; d++) y[r * D + d] = x[r * 2 * D + d] * ref_act(ACT_GELU, x[r * 2 * D + D + d]);
}

void ref_geglu_backward(double* dx, const double* dy, const double* x, int64_t R, int64_t D) {
    for (int64_t r = 0; r < R; r++)
        for (int64_t d = 0; d < D; d++) {
            double h = x[r * 2 * D + d], g = x[r * 2 * D + D + d], gy = dy[r * D + d];
            dx[r * 2 * D + d] += gy * ref_act(ACT_GELU, g);
            dx[r * 2 * D + D + d] += gy * h * ref_act_derivative(ACT_GELU, g);
        }
}

void ref_add(double* y, const double* a, const double* b, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = a[i] + b[i];
}

void ref_accumulate(double* dst, const double* src, int64_t n, double alpha) {
    for (int64_t i = 0; i < n; i++) dst[i] += alpha * src[i];
}

void ref_scale(double* y, const double* x, int64_t n, double alpha) {
    for (int64_t i = 0; i < n; i++) y[i] = alpha * x[i];
}

void ref_dropout(double* y, const double* x, int64_t rows, int64_t per_row, const uint32_t key[4], uint32_t module,
                 double p, bool accumulate) {
    uint32_t items = key[3] ? key[3] : 1, threshold = dropout_threshold(p);
    double scale = 1.0 / (1.0 - p);
    for (int64_t r = 0; r < rows; r++) {
        uint32_t unit = (key[2] + (uint32_t)r % items) * 8u + (uint32_t)r / items;
        for (int64_t j = 0; j < per_row; j++) {
            bool keep = (rng_mask_hash(key[0], key[1], unit, module, (uint32_t)j) >> 8) >= threshold;
            double v = keep ? x[r * per_row + j] * scale : 0.0;
            y[r * per_row + j] = accumulate ? y[r * per_row + j] + v : v;
        }
    }
}
