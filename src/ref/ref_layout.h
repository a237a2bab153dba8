// ref_layout.h: double-precision references of the layout ops (op_layout.h); see ref.h.
// Images are [N, C, HW] with HW = H * W; backward functions accumulate.
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "ops/op_layout.h"

// y = x + b[c] (per_n false, b [C]) or x + b[n, c] (per_n true, b [N, C]).
void ref_add_channel_forward(double* y, const double* x, const double* b, int64_t N, int64_t C, int64_t HW,
                             bool per_n);
// dx += dy (dx may be NULL); db += dy summed over what b was broadcast over.
void ref_add_channel_backward(double* dx, double* db, const double* dy, int64_t N, int64_t C, int64_t HW, bool per_n);

// Nearest 2x: y [N, C, 2H, 2W] from x [N, C, H, W].
void ref_upsample2x_forward(double* y, const double* x, int64_t N, int64_t C, int64_t H, int64_t W);
void ref_upsample2x_backward(double* dx, const double* dy, int64_t N, int64_t C, int64_t H, int64_t W);

// y [N, CA + CB, HW] = cat(a [N, CA, HW], b [N, CB, HW]); backward: da, db (either NULL).
void ref_concat_channels_forward(double* y, const double* a, const double* b, int64_t N, int64_t CA, int64_t CB,
                                 int64_t HW);
void ref_concat_channels_backward(double* da, double* db, const double* dy, int64_t N, int64_t CA, int64_t CB,
                                  int64_t HW);

// tokens [N, HW, C] <-> nchw [N, C, HW]; accumulate: += instead of =.
void ref_nchw_to_tokens(double* tokens, const double* nchw, int64_t N, int64_t C, int64_t HW, bool accumulate);
void ref_tokens_to_nchw(double* nchw, const double* tokens, int64_t N, int64_t C, int64_t HW, bool accumulate);

// y [R, D] = table[ids[r], :] (table [V, D]; every id < V); backward dtable[ids[r], :] += dy[r, :].
void ref_embedding_forward(double* y, const uint32_t* ids, const double* table, int64_t R, int64_t V, int64_t D);
void ref_embedding_backward(double* dtable, const double* dy, const uint32_t* ids, int64_t R, int64_t V, int64_t D);

// y [N, D] from t [N] as op_timestep_embedding_forward; backward dt [N] +=.
void ref_timestep_embedding_forward(double* y, const double* t, TimestepEmbedDims d);
void ref_timestep_embedding_backward(double* dt, const double* dy, const double* t, TimestepEmbedDims d);
