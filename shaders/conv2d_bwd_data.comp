#version 450
#include "common.glsl"
// conv2d_bwd_data: dx[n][c][ih][iw] += sum_{k, kh, kw} dy[n][k][oh][ow] * w[k][c][kh][kw]
//   over the (oh, ow) with oh*S - P + kh = ih and ow*S - P + kw = iw (the transposed conv).
// dy [N, K, OH, OW], w [K, C, KH, KW] (texel buffers), dx [N, C, H, W] (storage, accumulated).
// One dispatch per phase (PH, PW) in [0, S)^2: it updates the dx pixels ih = PH + S*r,
//   iw = PW + S*q with the taps that reach them, as a stride-1 direct conv over dy
//   (conv2d_direct.glsl: KB input channels c x PX columns q of one row r per invocation).
// Spec constants: 0..2 workgroup size; 3 KB; 4 PX; 5 CB; 6 VEC_X; 7 VEC_W; 8 KH; 9 KW;
//   10 STRIDE; 11 PAD; 12 VEC_OUT; 13 PH; 14 PW (see conv2d_direct.glsl and conv2d.glsl).
#define CONV2D_DATA_GRAD 1
#include "conv2d.glsl"
#include "conv2d_direct.glsl"
