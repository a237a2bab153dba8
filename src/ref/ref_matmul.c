// ref_matmul.c: matrix products in double precision, element by element.
#include "ref/ref.h"

// Element (i, k) of op(X) for a matrix stored [rows, cols] row-major, or
// transposed ([cols, rows]) when trans.
static double at(const double* X, bool trans, int64_t i, int64_t k, int64_t rows, int64_t cols) {
    return trans ? X[k * rows + i] : X[i * cols + k];
}
static double* at_ptr(double* X, bool trans, int64_t i, int64_t k, int64_t rows, int64_t cols) {
    return trans ? &X[k * rows + i] : &X[i * cols + k];
}

void ref_matmul(double* C, const double* A, const double* B, const double* bias, MatmulDims d) {
    for (int64_t b = 0; b < d.batch; b++) {
        const double* a = A + b * d.stride_a;
        const double* bb = B + b * d.stride_b;
        double* c = C + b * d.stride_c;
        for (int64_t m = 0; m < d.M; m++)
            for (int64_t n = 0; n < d.N; n++) {
                double s = 0;
                for (int64_t k = 0; k < d.K; k++) s += at(a, d.trans_a, m, k, d.M, d.K) * at(bb, d.trans_b, k, n, d.K, d.N);
                double v = d.alpha * s + (bias ? bias[n] : 0);
                c[m * d.N + n] = d.accumulate ? c[m * d.N + n] + v : v;
            }
    }
}

void ref_matmul_backward(double* dA, double* dB, double* dbias, const double* dC, const double* A, const double* B,
                         MatmulDims d) {
    for (int64_t b = 0; b < d.batch; b++) {
        const double* a = A + b * d.stride_a;
        const double* bb = B + b * d.stride_b;
        const double* dc = dC + b * d.stride_c;
        for (int64_t m = 0; m < d.M; m++)
            for (int64_t n = 0; n < d.N; n++) {
                double g = dc[m * d.N + n];
                if (dbias) dbias[n] += g;
                for (int64_t k = 0; k < d.K; k++) {
                    double ga = d.alpha * g * at(bb, d.trans_b, k, n, d.K, d.N);
                    double gb = d.alpha * g * at(a, d.trans_a, m, k, d.M, d.K);
                    if (dA) *at_ptr(dA + b * d.stride_a, d.trans_a, m, k, d.M, d.K) += ga;
                    if (dB) *at_ptr(dB + b * d.stride_b, d.trans_b, k, n, d.K, d.N) += gb;
                }
            }
    }
}

void ref_col_sum(double* y, const double* x, int64_t R, int64_t N, bool accumulate) {
    for (int64_t n = 0; n < N; n++) {
        double s = 0;
        for (int64_t r = 0; r < R; r++) s += x[r * N + n];
        y[n] = accumulate ? y[n] + s : s;
    }
}

void ref_linear_forward(double* y, const double* x, const double* w, const double* b, int64_t R, int64_t I, int64_t O) {
    for (int64_t r = 0; r < R; r++)
        for (int64_t o = 0; o < O; o++) {
            double s = b ? b[o] : 0;
            for (int64_t i = 0; i < I; i++) s += x[r * I + i] * w[o * I + i];
            y[r * O + o] = s;
        }
}

void ref_linear_backward(double* dx, double* dw, double* db, const double* dy, const double* x, const double* w,
                         int64_t R, int64_t I, int64_t O) {
    for (int64_t r = 0; r < R; r++)
        for (int64_t o = 0; o < O; o++) {
            double g = dy[r * O + o];
            if (db) db[o] += g;
            for (int64_t i = 0; i < I; i++) {
                if (dx) dx[r * I + i] += g * w[o * I + i];
                dw[o * I + i] += g * x[r * I + i];
            }
        }
}
