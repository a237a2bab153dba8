// ref_matmul.h: double-precision references; see ref.h.
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "ops/op_matmul.h"

// C[b] (+)= alpha * op(A[b]) op(B[b]) + bias, exactly as op_matmul (bias may be NULL).
void ref_matmul(double* C, const double* A, const double* B, const double* bias, MatmulDims d);
// Gradients of the product (d.accumulate is ignored): dA += alpha * dC op(B)^T
// (transposed back when trans_a), dB += alpha * op(A)^T dC, dbias += column sums
// of every dC[b]. Broadcast operands (stride 0) sum over the batch. Any output may be NULL.
void ref_matmul_backward(double* dA, double* dB, double* dbias, const double* dC, const double* A, const double* B,
                         MatmulDims d);
// y[N] (+)= sum_r x[r, N].
void ref_col_sum(double* y, const double* x, int64_t R, int64_t N, bool accumulate);
// y[R, O] = x[R, I] w[O, I]^T + b[O] (b may be NULL).
void ref_linear_forward(double* y, const double* x, const double* w, const double* b, int64_t R, int64_t I, int64_t O);
// dx += dy w; dw += dy^T x; db += col_sum(dy). dx and db may be NULL.
void ref_linear_backward(double* dx, double* dw, double* db, const double* dy, const double* x, const double* w,
                         int64_t R, int64_t I, int64_t O);
