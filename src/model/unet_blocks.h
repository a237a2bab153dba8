// unet_blocks.h: the building blocks of UNet2DConditionModel under their
// diffusers names: ResnetBlock2D, Attention, BasicTransformerBlock,
// Transformer2DModel. Each block struct holds parameter indices, sizes, and the
// tensors its backward needs ("saved", filled by forward).
// forward returns the block output (graph_act: it outlives the block);
// backward accumulates into dx (and the other gradient inputs it is given).
#pragma once
#include "model/layers.h"

typedef struct ResnetBlock2D {
    GroupNorm norm1, norm2;
    Conv2d conv1, conv2, conv_shortcut;
    Linear time_emb_proj;
    bool has_shortcut;
    // saved
    Tensor x, h1, c1, h2, temb_act;  // h1 = silu(norm1 x); c1 = conv1 h1 + proj(temb); h2 = silu(norm2 c1)
    NormSaved s1, s2;
} ResnetBlock2D;
void resnet_init(ResnetBlock2D* r, ParamStore* ps, const char* prefix, int cin, int cout, int temb_dim, int groups,
                 float eps);
// x [N, cin, H, W]; temb_act = silu(time embedding) [N, temb_dim], shared by every resnet.
Tensor resnet_forward(Graph* g, ResnetBlock2D* r, const Tensor* x, const Tensor* temb_act);
void resnet_backward(Graph* g, ResnetBlock2D* r, const Tensor* dx, const Tensor* dtemb_act, const Tensor* dout);

typedef struct Attention {
    Linear to_q, to_k, to_v, to_out;
    int heads;
    Tensor q_in, kv_in, q, k, v, o, lse;  // saved
} Attention;
// query_dim: C; kv_dim: C (self) or cross_attention_dim; bias on q/k/v as given.
void attention_init(Attention* a, ParamStore* ps, const char* prefix, int query_dim, int kv_dim, int heads,
                    bool qkv_bias, const char* out_name);
// q_in [N, T, C], kv_in [N, S, kv_dim] -> [N, T, C] (block-local)
Tensor attention_forward(Graph* g, Attention* a, const Tensor* q_in, const Tensor* kv_in, bool causal);
// dq_in and dkv_in may be the same tensor (self-attention) or NULL.
void attention_backward(Graph* g, Attention* a, const Tensor* dq_in, const Tensor* dkv_in, const Tensor* dout,
                        bool causal);

typedef struct BasicTransformerBlock {
    LayerNorm norm1, norm2, norm3;
    Attention attn1, attn2;
    Linear ff_proj, ff_out;  // ff.net.0.proj (GEGLU, 2 x 4C), ff.net.2
    Tensor h0, h1, h2, n1, n2, n3, gg, ge;  // saved
    NormSaved s1, s2, s3;
} BasicTransformerBlock;

typedef struct Transformer2DModel {
    GroupNorm norm;
    bool linear_projection;
    Conv2d proj_in_conv, proj_out_conv;
    Linear proj_in_lin, proj_out_lin;
    BasicTransformerBlock tb;
    Tensor x, gn, pin, tok, hout, hn;  // saved
    NormSaved sn;
} Transformer2DModel;
void transformer2d_init(Transformer2DModel* t, ParamStore* ps, const char* prefix, int C, int heads, int cross_dim,
                        int groups, bool linear_projection);
// x [N, C, H, W], ehs [N, S, cross_dim]
Tensor transformer2d_forward(Graph* g, Transformer2DModel* t, const Tensor* x, const Tensor* ehs);
// dehs may be NULL (frozen text encoder).
void transformer2d_backward(Graph* g, Transformer2DModel* t, const Tensor* dx, const Tensor* dehs, const Tensor* dout);
