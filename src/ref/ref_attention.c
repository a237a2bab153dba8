// ref_attention.c: softmax and scaled-dot-product attention in double
// precision, written as the plain formulas (speed irrelevant).
#include <math.h>
#include <stdlib.h>

#include "ref/ref.h"
#include "util/check.h"

void ref_softmax_forward(double* y, const double* x, int64_t R, int64_t S) {
    for (int64_t r = 0; r < R; r++) {
        const double* xr = x + r * S;
        double* yr = y + r * S;
        double m = -INFINITY, sum = 0;
        for (int64_t j = 0; j < S; j++) m = fmax(m, xr[j]);
        for (int64_t j = 0; j < S; j++) sum += yr[j] = exp(xr[j] - m);
        for (int64_t j = 0; j < S; j++) yr[j] /= sum;
    }
}

void ref_softmax_backward(double* dx, const double* dy, const double* y, int64_t R, int64_t S) {
    for (int64_t r = 0; r < R; r++) {
        const double *dyr = dy + r * S, *yr = y + r * S;
        double dot = 0;
        for (int64_t j = 0; j < S; j++) dot += dyr[j] * yr[j];
        for (int64_t j = 0; j < S; j++) dx[r * S + j] += yr[j] * (dyr[j] - dot);
    }
}

// Element (n, row, head h, d) of a [N, rows, NH*HD] tensor.
static int64_t at(AttnDims d, int64_t n, int64_t rows, int64_t row, int64_t h) {
    return ((n * rows + row) * d.NH + h) * d.HD;
}

static double dot(const double* a, const double* b, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

static bool masked(AttnDims d, int64_t i, int64_t j) { return d.causal && j > i; }

void ref_attention_forward(double* o, double* lse, const double* q, const double* k, const double* v, AttnDims d) {
    double scale = 1.0 / sqrt((double)d.HD);
    double* s = xmalloc((size_t)d.S * sizeof *s);
    for (int64_t n = 0; n < d.N; n++)
        for (int64_t h = 0; h < d.NH; h++)
            for (int64_t i = 0; i < d.T; i++) {
                const double* qi = q + at(d, n, d.T, i, h);
                double m = -INFINITY, sum = 0;
                for (int64_t j = 0; j < d.S; j++) {
                    s[j] = masked(d, i, j) ? -INFINITY : scale * dot(qi, k + at(d, n, d.S, j, h), d.HD);
                    m = fmax(m, s[j]);
                }
                for (int64_t j = 0; j < d.S; j++) sum += s[j] = exp(s[j] - m);  // s becomes unnormalized p
                double* oi = o + at(d, n, d.T, i, h);
                for (int c = 0; c < d.HD; c++) {
                    double acc = 0;
                    for (int64_t j = 0; j < d.S; j++) acc += s[j] * v[at(d, n, d.S, j, h) + c];
                    oi[c] = acc / sum;
                }
                lse[(n * d.NH + h) * d.T + i] = m + log(sum);
            }
    free(s);
}

void ref_attention_backward(double* dq, double* dk, double* dv, const double* dout, const double* q, const double* k,
                            const double* v, const double* o, const double* lse, AttnDims d) {
    double scale = 1.0 / sqrt((double)d.HD);
    for (int64_t n = 0; n < d.N; n++)
        for (int64_t h = 0; h < d.NH; h++)
            for (int64_t i = 0; i < d.T; i++) {
                int64_t qi = at(d, n, d.T, i, h);
                double Di = dot(dout + qi, o + qi, d.HD);  // = sum_j p_ij dP_ij
                double L = lse[(n * d.NH + h) * d.T + i];
                for (int64_t j = 0; j < d.S; j++) {
                    if (masked(d, i, j)) continue;
                    int64_t kj = at(d, n, d.S, j, h);
                    double p = exp(scale * dot(q + qi, k + kj, d.HD) - L);
                    double dS = p * (dot(dout + qi, v + kj, d.HD) - Di);
                    for (int c = 0; c < d.HD; c++) {
                        dq[qi + c] += scale * dS * k[kj + c];
                        dk[kj + c] += scale * dS * q[qi + c];
                        dv[kj + c] += p * dout[qi + c];
                    }
                }
            }
}
