#version 450
#include "common.glsl"
// conv2d_fwd: y[n][k][oh][ow] = b[k] + sum_{c, kh, kw} w[k][c][kh][kw] * x[n][c][oh*S - P + kh][ow*S - P + kw]
//   (torch.nn.Conv2d, groups 1, zero padding P, stride S).
// x [N, C, H, W], w [K, C, KH, KW], b [K], y [N, K, OH, OW], NCHW, fp32; x, w, b read
//   through uniform texel buffers, y a storage buffer.
// Mapping: each invocation computes KB output channels x PX consecutive columns of one
//   output row in registers (see conv2d_direct.glsl for the index mapping and the loop).
// Spec constants: 0..2 workgroup size; 3 KB; 4 PX; 5 CB; 6 VEC_X; 7 VEC_W; 8 KH; 9 KW;
//   10 STRIDE; 11 PAD; 12 VEC_OUT; 13 HAS_BIAS (see conv2d_direct.glsl and conv2d.glsl).
#define CONV2D_DATA_GRAD 0
#include "conv2d.glsl"
#include "conv2d_direct.glsl"
