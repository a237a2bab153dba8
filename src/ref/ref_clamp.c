// ref_clamp.c: see ref_clamp.h.
#include "ref/ref_clamp.h"

void ref_clamp_forward(double* y, const double* x, int64_t n, double lo, double hi) {
    for (int64_t i = 0; i < n; i++) y[i] = x[i] < lo ? lo : x[i] > hi ? hi : x[i];
}

void ref_clamp_backward(double* dx, const double* dy, const double* x, int64_t n, double lo, double hi) {
    for (int64_t i = 0; i < n; i++)
        if (x[i] >= lo && x[i] <= hi) dx[i] += dy[i];
}
