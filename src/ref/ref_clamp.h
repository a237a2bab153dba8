// ref_clamp.h: double-precision reference of the elementwise clamp; see ref.h.
#pragma once
#include <stdint.h>

// y = min(max(x, lo), hi), NaN kept; y may be x.
void ref_clamp_forward(double* y, const double* x, int64_t n, double lo, double hi);
// dx += dy where lo <= x <= hi.
void ref_clamp_backward(double* dx, const double* dy, const double* x, int64_t n, double lo, double hi);
