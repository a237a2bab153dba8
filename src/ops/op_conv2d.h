// op_conv2d.h: 2-D convolution, NCHW (torch.nn.Conv2d, groups = 1, dilation 1); see ops.h.
#pragma once
#include "gpu/cmd.h"

typedef struct Conv2dDims {
    int N, C, H, W;      // input x [N, C, H, W]
    int K, KH, KW;       // weight w [K, C, KH, KW], bias [K]
    int stride, pad;     // output y [N, K, OH, OW], OH = (H + 2 pad - KH) / stride + 1
} Conv2dDims;
int conv2d_out_h(Conv2dDims d);
int conv2d_out_w(Conv2dDims d);

// y = conv(x, w) + b (b may be NULL)
void op_conv2d_forward(Cmd* c, const Tensor* y, const Tensor* x, const Tensor* w, const Tensor* b, Conv2dDims d);
// y = (conv(x, w) + b) + r: a residual r of y's shape added as the outputs are
// stored, which saves a pass over y (ResNet blocks). r may be y itself (y += conv);
// b and r may be NULL.
void op_conv2d_forward_add(Cmd* c, const Tensor* y, const Tensor* x, const Tensor* w, const Tensor* b,
                           const Tensor* r, Conv2dDims d);
// y = (conv(x, w) + b) + t[n][k]: t [N, K] broadcast over the output plane (a
// ResNet block's time-embedding projection), added as the outputs are stored.
void op_conv2d_forward_add_channel(Cmd* c, const Tensor* y, const Tensor* x, const Tensor* w, const Tensor* b,
                                   const Tensor* t, Conv2dDims d);
// dx += conv_transpose(dy, w); dw += correlation of x and dy; db += sum over N, OH, OW of dy.
// dx and db may be NULL; dw may be NULL (with db NULL) for a frozen weight: then
// only the input gradient is computed, no weight-gradient pass runs.
void op_conv2d_backward(Cmd* c, const Tensor* dx, const Tensor* dw, const Tensor* db, const Tensor* dy,
                        const Tensor* x, const Tensor* w, Conv2dDims d);
