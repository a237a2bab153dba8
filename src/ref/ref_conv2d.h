// ref_conv2d.h: double-precision references of 2-D convolution; see ref.h.
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "ops/op_conv2d.h"

// y[N, K, OH, OW] = conv(x[N, C, H, W], w[K, C, KH, KW]) + b[K] (b may be NULL), zero padding.
void ref_conv2d_forward(double* y, const double* x, const double* w, const double* b, Conv2dDims d);
// dx[N, C, H, W] += conv_transpose(dy, w); dw[K, C, KH, KW] += sum over n, oh, ow of dy * x;
// db[K] += sum over n, oh, ow of dy. dx and db may be NULL.
void ref_conv2d_backward(double* dx, double* dw, double* db, const double* dy, const double* x, const double* w,
                         Conv2dDims d);
