// ref_conv2d.c: 2-D convolution in double precision, straight from the definition
//   y[n][k][oh][ow] = b[k] + sum_{c, kh, kw} w[k][c][kh][kw] * x[n][c][oh*S - P + kh][ow*S - P + kw]
// (x is zero outside [0, H) x [0, W)); the backward visits the same terms once each.
#include "ref/ref.h"

// Element index of x[n][c][ih][iw] for output (oh, ow) and tap (kh, kw), or -1 in the padding.
static int64_t x_index(Conv2dDims d, int n, int c, int oh, int ow, int kh, int kw) {
    int ih = oh * d.stride - d.pad + kh, iw = ow * d.stride - d.pad + kw;
    if (ih < 0 || ih >= d.H || iw < 0 || iw >= d.W) return -1;
    return (((int64_t)n * d.C + c) * d.H + ih) * d.W + iw;
}

static int64_t w_index(Conv2dDims d, int k, int c, int kh, int kw) {
    return (((int64_t)k * d.C + c) * d.KH + kh) * d.KW + kw;
}

void ref_conv2d_forward(double* y, const double* x, const double* w, const double* b, Conv2dDims d) {
    int OH = conv2d_out_h(d), OW = conv2d_out_w(d);
    for (int n = 0; n < d.N; n++)
        for (int k = 0; k < d.K; k++)
            for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++) {
                    double s = b ? b[k] : 0;
                    for (int c = 0; c < d.C; c++)
                        for (int kh = 0; kh < d.KH; kh++)
                            for (int kw = 0; kw < d.KW; kw++) {
                                int64_t xi = x_index(d, n, c, oh, ow, kh, kw);
                                if (xi >= 0) s += w[w_index(d, k, c, kh, kw)] * x[xi];
                            }
                    y[(((int64_t)n * d.K + k) * OH + oh) * OW + ow] = s;
                }
}

void ref_conv2d_backward(double* dx, double* dw, double* db, const double* dy, const double* x, const double* w,
                         Conv2dDims d) {
    int OH = conv2d_out_h(d), OW = conv2d_out_w(d);
    for (int n = 0; n < d.N; n++)
        for (int k = 0; k < d.K; k++)
            for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++) {
                    double g = dy[(((int64_t)n * d.K + k) * OH + oh) * OW + ow];
                    if (db) db[k] += g;
                    for (int c = 0; c < d.C; c++)
                        for (int kh = 0; kh < d.KH; kh++)
                            for (int kw = 0; kw < d.KW; kw++) {
                                int64_t xi = x_index(d, n, c, oh, ow, kh, kw), wi = w_index(d, k, c, kh, kw);
                                if (xi < 0) continue;
                                if (dx) dx[xi] += g * w[wi];
                                dw[wi] += g * x[xi];
                            }
                }
}
