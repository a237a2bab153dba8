// ref_layout.c: the layout ops in double precision: plain loops, the specification.
#include <math.h>

#include "ref/ref.h"
#include "util/check.h"

void ref_add_channel_forward(double* y, const double* x, const double* b, int64_t N, int64_t C, int64_t HW,
                             bool per_n) {
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++) {
            double bias = b[per_n ? n * C + c : c];
            for (int64_t i = 0; i < HW; i++) y[(n * C + c) * HW + i] = x[(n * C + c) * HW + i] + bias;
        }
}

void ref_add_channel_backward(double* dx, double* db, const double* dy, int64_t N, int64_t C, int64_t HW, bool per_n) {
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t i = 0; i < HW; i++) {
                double g = dy[(n * C + c) * HW + i];
                if (dx) dx[(n * C + c) * HW + i] += g;
                db[per_n ? n * C + c : c] += g;
            }
}

void ref_upsample2x_forward(double* y, const double* x, int64_t N, int64_t C, int64_t H, int64_t W) {
    for (int64_t p = 0; p < N * C; p++)
        for (int64_t h = 0; h < 2 * H; h++)
            for (int64_t w = 0; w < 2 * W; w++) y[(p * 2 * H + h) * 2 * W + w] = x[(p * H + h / 2) * W + w / 2];
}

void ref_upsample2x_backward(double* dx, const double* dy, int64_t N, int64_t C, int64_t H, int64_t W) {
    for (int64_t p = 0; p < N * C; p++)
        for (int64_t h = 0; h < 2 * H; h++)
            for (int64_t w = 0; w < 2 * W; w++) dx[(p * H + h / 2) * W + w / 2] += dy[(p * 2 * H + h) * 2 * W + w];
}

void ref_concat_channels_forward(double* y, const double* a, const double* b, int64_t N, int64_t CA, int64_t CB,
                                 int64_t HW) {
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < CA + CB; c++)
            for (int64_t i = 0; i < HW; i++)
                y[(n * (CA + CB) + c) * HW + i] = c < CA ? a[(n * CA + c) * HW + i] : b[(n * CB + c - CA) * HW + i];
}

void ref_concat_channels_backward(double* da, double* db, const double* dy, int64_t N, int64_t CA, int64_t CB,
                                  int64_t HW) {
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < CA + CB; c++)
            for (int64_t i = 0; i < HW; i++) {
                double g = dy[(n * (CA + CB) + c) * HW + i];
                if (c < CA && da) da[(n * CA + c) * HW + i] += g;
                if (c >= CA && db) db[(n * CB + c - CA) * HW + i] += g;
            }
}

void ref_nchw_to_tokens(double* tokens, const double* nchw, int64_t N, int64_t C, int64_t HW, bool accumulate) {
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t i = 0; i < HW; i++) {
                double* t = &tokens[(n * HW + i) * C + c];
                *t = (accumulate ? *t : 0.0) + nchw[(n * C + c) * HW + i];
            }
}

void ref_tokens_to_nchw(double* nchw, const double* tokens, int64_t N, int64_t C, int64_t HW, bool accumulate) {
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t i = 0; i < HW; i++) {
                double* x = &nchw[(n * C + c) * HW + i];
                *x = (accumulate ? *x : 0.0) + tokens[(n * HW + i) * C + c];
            }
}

void ref_embedding_forward(double* y, const uint32_t* ids, const double* table, int64_t R, int64_t V, int64_t D) {
    for (int64_t r = 0; r < R; r++) {
        if (ids[r] >= V) die("ref_embedding_forward: id %u of row %lld >= %lld", ids[r], (long long)r, (long long)V);
        for (int64_t d = 0; d < D; d++) y[r * D + d] = table[ids[r] * D + d];
    }
}

void ref_embedding_backward(double* dtable, const double* dy, const uint32_t* ids, int64_t R, int64_t V, int64_t D) {
    for (int64_t r = 0; r < R; r++) {
        if (ids[r] >= V) die("ref_embedding_backward: id %u of row %lld >= %lld", ids[r], (long long)r, (long long)V);
        for (int64_t d = 0; d < D; d++) dtable[ids[r] * D + d] += dy[r * D + d];
    }
}

// f_j = exp(-ln(max_period) j / (half - freq_shift))
static double timestep_freq(TimestepEmbedDims d, int j) {
    int half = d.D / 2;
    return exp(-log((double)d.max_period) * j / (half - (double)d.freq_shift));
}

void ref_timestep_embedding_forward(double* y, const double* t, TimestepEmbedDims d) {
    int half = d.D / 2;
    for (int n = 0; n < d.N; n++)
        for (int j = 0; j < half; j++) {
            double a = t[n] * timestep_freq(d, j);
            y[n * d.D + j] = d.flip_sin_to_cos ? cos(a) : sin(a);
            y[n * d.D + half + j] = d.flip_sin_to_cos ? sin(a) : cos(a);
        }
}

void ref_timestep_embedding_backward(double* dt, const double* dy, const double* t, TimestepEmbedDims d) {
    int half = d.D / 2;
    for (int n = 0; n < d.N; n++)
        for (int j = 0; j < half; j++) {
            double f = timestep_freq(d, j), a = t[n] * f;
            double gs = dy[n * d.D + (d.flip_sin_to_cos ? half + j : j)];
            double gc = dy[n * d.D + (d.flip_sin_to_cos ? j : half + j)];
            dt[n] += f * (gs * cos(a) - gc * sin(a));
        }
}
