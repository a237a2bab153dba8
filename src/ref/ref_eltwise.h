// ref_eltwise.h: double-precision references of the elementwise ops; see ref.h.
#pragma once
#include <stdint.h>

#include "ops/op_eltwise.h"

double ref_act(Activation act, double x);
double ref_act_derivative(Activation act, double x);
void ref_act_forward(double* y, const double* x, int64_t n, Activation act);
void ref_act_backward(double* dx, const double* dy, const double* x, int64_t n, Activation act);

// GEGLU: x [R, 2D] -> y [R, D], y[r, d] = x[r, d] * gelu(x[r, D + d]) (exact GELU).
void ref_geglu_forward(double* y, const double* x, int64_t R, int64_t D);
// dx [R, 2D] += the gradient through both halves of x.
void ref_geglu_backward(double* dx, const double* dy, const double* x, int64_t R, int64_t D);

// y = a + b; dst += alpha * src; y = alpha * x (n elements; y may alias an input).
void ref_add(double* y, const double* a, const double* b, int64_t n);
void ref_accumulate(double* dst, const double* src, int64_t n, double alpha);
void ref_scale(double* y, const double* x, int64_t n, double alpha);

// op_dropout's definition: y (+)= keep(row, j) x / (1 - p) over x [rows, per_row],
// the mask drawn from key[4] as op_eltwise.h says.
void ref_dropout(double* y, const double* x, int64_t rows, int64_t per_row, const uint32_t key[4], uint32_t module,
                 double p, bool accumulate);
