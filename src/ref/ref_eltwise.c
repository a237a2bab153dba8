// ref_eltwise.c: activations in double precision (libm erf is exact to double).
#include <math.h>

#include "ref/ref.h"

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
