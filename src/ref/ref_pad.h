// ref_pad.h: double-precision reference of zero padding; see ref.h.
#pragma once
#include "ops/op_pad.h"

// y[N, C, top + H + bottom, left + W + right]: x placed at (top, left), zeros around it.
void ref_pad2d_forward(double* y, const double* x, Pad2dDims d);
// dx[N, C, H, W] += dy[n, c, top + h, left + w].
void ref_pad2d_backward(double* dx, const double* dy, Pad2dDims d);
