// ref_norm.c: group norm and layer norm in double precision. Both are one
// "normalize a contiguous block" routine: a layer-norm row is a group of D
// channels with one position each, a group-norm group is C/G channels of HW
// positions each; block element i belongs to channel c0 + i / HW.
#include <math.h>
#include <stdlib.h>

#include "ref/ref.h"
#include "util/check.h"

// Statistics of one block of n values (two passes, biased variance).
static void block_stats(const double* x, int64_t n, double eps, double* mean, double* rstd) {
    double s = 0, q = 0;
    for (int64_t i = 0; i < n; i++) s += x[i];
    double m = s / (double)n;
    for (int64_t i = 0; i < n; i++) q += (x[i] - m) * (x[i] - m);
    *mean = m;
    *rstd = 1.0 / sqrt(q / (double)n + eps);
}

// y = act(xhat * gamma[c] + beta[c]) over a block of `channels` x HW values.
static void block_forward(double* y, const double* x, double mean, double rstd, const double* gamma,
                          const double* beta, int64_t channels, int64_t HW, Activation act) {
    for (int64_t c = 0; c < channels; c++)
        for (int64_t i = c * HW; i < (c + 1) * HW; i++) y[i] = ref_act(act, (x[i] - mean) * rstd * gamma[c] + beta[c]);
}

// Backward of block_forward, accumulating:
//   dz = dy * act'(z); dxhat = dz * gamma;
//   dx += rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat));
//   dgamma[c] += sum dz * xhat; dbeta[c] += sum dz.
static void block_backward(double* dx, double* dgamma, double* dbeta, const double* dy, const double* x, double mean,
                           double rstd, const double* gamma, const double* beta, int64_t channels, int64_t HW,
                           Activation act) {
    int64_t n = channels * HW;
    double* dxhat = xmalloc((size_t)n * sizeof *dxhat);
    double* xhat = xmalloc((size_t)n * sizeof *xhat);
    double s1 = 0, s2 = 0;
    for (int64_t c = 0; c < channels; c++)
        for (int64_t i = c * HW; i < (c + 1) * HW; i++) {
            xhat[i] = (x[i] - mean) * rstd;
            double dz = act == ACT_NONE ? dy[i] : dy[i] * ref_act_derivative(act, xhat[i] * gamma[c] + beta[c]);
            dxhat[i] = dz * gamma[c];
            dgamma[c] += dz * xhat[i];
            dbeta[c] += dz;
            s1 += dxhat[i];
            s2 += dxhat[i] * xhat[i];
        }
    if (dx)
        for (int64_t i = 0; i < n; i++) dx[i] += rstd * (dxhat[i] - s1 / (double)n - xhat[i] * s2 / (double)n);
    free(dxhat);
    free(xhat);
}

void ref_groupnorm_forward(double* y, double* mean, double* rstd, const double* x, const double* gamma,
                           const double* beta, int64_t N, int64_t C, int64_t HW, int G, double eps, Activation act) {
    int64_t cpg = C / G, len = cpg * HW;
    for (int64_t ng = 0; ng < N * G; ng++) {
        int64_t c0 = ng % G * cpg;
        block_stats(x + ng * len, len, eps, &mean[ng], &rstd[ng]);
        block_forward(y + ng * len, x + ng * len, mean[ng], rstd[ng], gamma + c0, beta + c0, cpg, HW, act);
    }
}

void ref_groupnorm_backward(double* dx, double* dgamma, double* dbeta, const double* dy, const double* x,
                            const double* mean, const double* rstd, const double* gamma, const double* beta, int64_t N,
                            int64_t C, int64_t HW, int G, Activation act) {
    int64_t cpg = C / G, len = cpg * HW;
    for (int64_t ng = 0; ng < N * G; ng++) {
        int64_t c0 = ng % G * cpg, o = ng * len;
        block_backward(dx ? dx + o : NULL, dgamma + c0, dbeta + c0, dy + o, x + o, mean[ng], rstd[ng], gamma + c0,
                       beta ? beta + c0 : NULL, cpg, HW, act);
    }
}

void ref_layernorm_forward(double* y, double* mean, double* rstd, const double* x, const double* gamma,
                           const double* beta, int64_t R, int64_t D, double eps) {
    for (int64_t r = 0; r < R; r++) {
        block_stats(x + r * D, D, eps, &mean[r], &rstd[r]);
        block_forward(y + r * D, x + r * D, mean[r], rstd[r], gamma, beta, D, 1, ACT_NONE);
    }
}

void ref_layernorm_backward(double* dx, double* dgamma, double* dbeta, const double* dy, const double* x,
                            const double* mean, const double* rstd, const double* gamma, int64_t R, int64_t D) {
    for (int64_t r = 0; r < R; r++)
        block_backward(dx ? dx + r * D : NULL, dgamma, dbeta, dy + r * D, x + r * D, mean[r], rstd[r], gamma, NULL, D,
                       1, ACT_NONE);
}
