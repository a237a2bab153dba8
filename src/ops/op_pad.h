// op_pad.h: constant zero padding of images (torch.nn.functional.pad with
// mode "constant", value 0, on the last two dimensions); see ops.h.
#pragma once
#include "gpu/cmd.h"

// x [N, C, H, W] -> y [N, C, top + H + bottom, left + W + right]; every amount >= 0.
// diffusers' Downsample2D with padding 0 pads (left 0, right 1, top 0, bottom 1)
// before its stride-2 convolution.
typedef struct Pad2dDims {
    int N, C, H, W;
    int top, bottom, left, right;
} Pad2dDims;
int pad2d_out_h(Pad2dDims d);
int pad2d_out_w(Pad2dDims d);

// y[n, c, top + h, left + w] = x[n, c, h, w], zeros elsewhere; y must not overlap x.
void op_pad2d_forward(Cmd* c, const Tensor* y, const Tensor* x, Pad2dDims d);
// dx[n, c, h, w] += dy[n, c, top + h, left + w] (the crop of dy).
void op_pad2d_backward(Cmd* c, const Tensor* dx, const Tensor* dy, Pad2dDims d);
