// op_matmul.h: batched matrix product and torch.nn.Linear; see ops.h.
#pragma once
#include "gpu/cmd.h"

// C[b] (+)= alpha * op(A[b]) op(B[b]) + bias   for b in [0, batch)
//   op(A) is [M, K]: A stored [M, K] row-major, or [K, M] when trans_a;
//   op(B) is [K, N]: B stored [K, N], or [N, K] when trans_b;
//   C stored [M, N]; bias [N] broadcast over rows (NULL: none);
//   stride_*: elements between consecutive batch matrices (0 broadcasts one matrix);
//   accumulate: C += result instead of C = result.
typedef struct MatmulDims {
    int64_t batch, M, N, K;
    bool trans_a, trans_b;
    int64_t stride_a, stride_b, stride_c;
    float alpha;
    bool accumulate;
} MatmulDims;
// Dims of one plain product C[M,N] = A[M,K] B[K,N] (batch 1, alpha 1).
MatmulDims matmul_dims(int64_t M, int64_t N, int64_t K);
void op_matmul(Cmd* c, const Tensor* C, const Tensor* A, const Tensor* B, const Tensor* bias, MatmulDims d);

// Column sums: y[N] (+)= sum_r x[r, N] over R rows (bias gradients).
void op_col_sum(Cmd* c, const Tensor* y, const Tensor* x, int64_t R, int64_t N, bool accumulate);

// torch.nn.Linear: y[R, O] = x[R, I] w[O, I]^T + b[O]  (b may be NULL)
void op_linear_forward(Cmd* c, const Tensor* y, const Tensor* x, const Tensor* w, const Tensor* b);
// dx[R, I] += dy w;  dw[O, I] += dy^T x;  db[O] += col_sum(dy). dx and db may be NULL.
void op_linear_backward(Cmd* c, const Tensor* dx, const Tensor* dw, const Tensor* db, const Tensor* dy,
                        const Tensor* x, const Tensor* w);
