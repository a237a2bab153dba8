// layers.h: parameterised layers (torch.nn names) on top of the ops: each holds
// parameter indices into the ParamStore and records its forward and backward.
// Backward accumulates into parameter gradients (ps->e[i].grad) and into dx.
#pragma once
#include "model/graph.h"
#include "ops/ops.h"

typedef struct Linear { int w, b; int in, out; } Linear;            // b = -1: no bias
typedef struct Conv2d { int w, b; int cin, cout, k, stride, pad; } Conv2d;
typedef struct GroupNorm { int w, b; int C, G; float eps; } GroupNorm;
typedef struct LayerNorm { int w, b; int D; float eps; } LayerNorm;

void linear_init(Linear* l, ParamStore* ps, const char* prefix, int in, int out, bool bias);
// y [R, out] = x [R, in] W^T + b. The *_forward functions return a block-local
// value (graph_tmp); *_forward_to writes a caller-allocated output.
Tensor linear_forward(Graph* g, const Linear* l, const Tensor* x);
void linear_forward_to(Graph* g, const Linear* l, const Tensor* y, const Tensor* x);
void linear_backward(Graph* g, const Linear* l, const Tensor* dx, const Tensor* dy, const Tensor* x);

void conv2d_init(Conv2d* c, ParamStore* ps, const char* prefix, int cin, int cout, int k, int stride, int pad);
Tensor conv2d_forward(Graph* g, const Conv2d* c, const Tensor* x);
void conv2d_forward_to(Graph* g, const Conv2d* c, const Tensor* y, const Tensor* x);
// y = conv(x) + residual, the add done as the conv stores y (residual may be y).
void conv2d_forward_add_to(Graph* g, const Conv2d* c, const Tensor* y, const Tensor* x, const Tensor* residual);
// conv(x) + t[n][k], t [N, cout] broadcast over the plane, added as the conv stores y.
Tensor conv2d_forward_add_channel(Graph* g, const Conv2d* c, const Tensor* x, const Tensor* t);
int64_t conv2d_out_size(const Conv2d* c, int64_t in);
void conv2d_backward(Graph* g, const Conv2d* c, const Tensor* dx, const Tensor* dy, const Tensor* x);

// GroupNorm with a fused activation (ACT_NONE or ACT_SILU); saved holds mean, rstd.
typedef struct NormSaved { Tensor mean, rstd; } NormSaved;
void groupnorm_init(GroupNorm* n, ParamStore* ps, const char* prefix, int C, int G, float eps);
Tensor groupnorm_forward(Graph* g, const GroupNorm* n, NormSaved* s, const Tensor* x, Activation act);
void groupnorm_backward(Graph* g, const GroupNorm* n, const NormSaved* s, const Tensor* dx, const Tensor* dy,
                        const Tensor* x, Activation act);

void layernorm_init(LayerNorm* n, ParamStore* ps, const char* prefix, int D, float eps);
Tensor layernorm_forward(Graph* g, const LayerNorm* n, NormSaved* s, const Tensor* x);
void layernorm_backward(Graph* g, const LayerNorm* n, const NormSaved* s, const Tensor* dx, const Tensor* dy,
                        const Tensor* x);
