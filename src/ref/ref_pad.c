// ref_pad.c: see ref_pad.h.
#include "ref/ref_pad.h"

#include <stdbool.h>
#include <stdint.h>

void ref_pad2d_forward(double* y, const double* x, Pad2dDims d) {
    int64_t OH = pad2d_out_h(d), OW = pad2d_out_w(d);
    for (int64_t p = 0; p < (int64_t)d.N * d.C; p++)
        for (int64_t oh = 0; oh < OH; oh++)
            for (int64_t ow = 0; ow < OW; ow++) {
                int64_t h = oh - d.top, w = ow - d.left;
                bool in = h >= 0 && h < d.H && w >= 0 && w < d.W;
                y[(p * OH + oh) * OW + ow] = in ? x[(p * d.H + h) * d.W + w] : 0.0;
            }
}

void ref_pad2d_backward(double* dx, const double* dy, Pad2dDims d) {
    int64_t OH = pad2d_out_h(d), OW = pad2d_out_w(d);
    for (int64_t p = 0; p < (int64_t)d.N * d.C; p++)
        for (int64_t h = 0; h < d.H; h++)
            for (int64_t w = 0; w < d.W; w++) dx[(p * d.H + h) * d.W + w] += dy[(p * OH + d.top + h) * OW + d.left + w];
}
