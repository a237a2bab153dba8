// ref_attention.h: double-precision references of softmax and multi-head
// attention; see ref.h and ops/op_attention.h for shapes and layouts.
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "ops/op_attention.h"

// y [R, S] = softmax(x) over the last dimension.
void ref_softmax_forward(double* y, const double* x, int64_t R, int64_t S);
// dx += y * (dy - sum_j dy_j y_j), row by row.
void ref_softmax_backward(double* dx, const double* dy, const double* y, int64_t R, int64_t S);

// o [N, T, NH*HD], lse [N, NH, T] from q [N, T, NH*HD], k, v [N, S, NH*HD].
void ref_attention_forward(double* o, double* lse, const double* q, const double* k, const double* v, AttnDims d);
// Accumulates dq, dk, dv. Uses the saved o and lse as the GPU op does
// (p = exp(s - lse), D = dout . o), so they must come from ref_attention_forward.
void ref_attention_backward(double* dq, double* dk, double* dv, const double* dout, const double* q, const double* k,
                            const double* v, const double* o, const double* lse, AttnDims d);
