// op_layout.h: broadcast adds, resampling, concatenation, layout changes,
// embedding lookup and the sinusoidal timestep embedding; see ops.h.
#pragma once
#include "gpu/cmd.h"

// y[n, c, hw] = x[n, c, hw] + b[c]   (b [C]: per-channel bias)
//            or x[n, c, hw] + b[n, c] (b [N, C]: the ResnetBlock2D time embedding).
// x, y: [N, C, ...]; y may be x.
void op_add_channel_forward(Cmd* c, const Tensor* y, const Tensor* x, const Tensor* b);
// dx += dy (dx may be NULL); db += dy summed over everything b was broadcast over.
void op_add_channel_backward(Cmd* c, const Tensor* dx, const Tensor* db, const Tensor* dy);

// Nearest-neighbour 2x upsampling: y [N, C, 2H, 2W] from x [N, C, H, W].
void op_upsample2x_forward(Cmd* c, const Tensor* y, const Tensor* x);
void op_upsample2x_backward(Cmd* c, const Tensor* dx, const Tensor* dy);

// Channel concatenation: y [N, CA + CB, ...] = cat(a [N, CA, ...], b [N, CB, ...], dim=1).
void op_concat_channels_forward(Cmd* c, const Tensor* y, const Tensor* a, const Tensor* b);
// Split: da += dy[:, :CA], db += dy[:, CA:] (either may be NULL).
void op_concat_channels_backward(Cmd* c, const Tensor* da, const Tensor* db, const Tensor* dy);

// Layout change between images and token sequences (Transformer2DModel):
// tokens [N, H*W, C] <-> nchw [N, C, H, W]. Backward of one is the other, accumulating.
void op_nchw_to_tokens(Cmd* c, const Tensor* tokens, const Tensor* nchw, bool accumulate);
void op_tokens_to_nchw(Cmd* c, const Tensor* nchw, const Tensor* tokens, bool accumulate);

// Embedding lookup: y [R, D] = table[ids[r], :]; ids: R uint32 values (tensor_upload_raw).
void op_embedding_forward(Cmd* c, const Tensor* y, const Tensor* ids, const Tensor* table);
// dtable[ids[r], :] += dy[r, :], deterministic (no atomics: rows applied in order).
void op_embedding_backward(Cmd* c, const Tensor* dtable, const Tensor* dy, const Tensor* ids);

// Sinusoidal timestep embedding (diffusers get_timestep_embedding):
//   half = D / 2, f_j = exp(-ln(max_period) * j / (half - freq_shift)), a = t[n] f_j,
//   y [N, D] = [sin(a), cos(a)], or [cos(a), sin(a)] when flip_sin_to_cos; D even.
// t [N] holds float timesteps.
typedef struct TimestepEmbedDims {
    int N, D;
    bool flip_sin_to_cos;
    float freq_shift, max_period;
} TimestepEmbedDims;
void op_timestep_embedding_forward(Cmd* c, const Tensor* y, const Tensor* t, TimestepEmbedDims d);
// dt[n] += sum_j dy[n, j] * d y[n, j] / d t[n]
void op_timestep_embedding_backward(Cmd* c, const Tensor* dt, const Tensor* dy, const Tensor* t, TimestepEmbedDims d);
