// unet_blocks.h: the building blocks of UNet2DConditionModel under their
// diffusers names: ResnetBlock2D, Attention, BasicTransformerBlock,
// Transformer2DModel. Each block is two structs (llm.c's ParameterTensors /
// ActivationTensors split): the block struct holds sizes and parameter indices
// only, read-only once init has run, so one description serves any ParamStore
// registered with the same parameter list (the policy and its frozen
// reference); its *Acts struct holds the tensors a forward saves for its
// backward, one per recording.
// forward fills the Acts and returns the block output (graph_act: it outlives
// the block); backward reads the same Acts and accumulates into dx (and the
// other gradient inputs it is given).
#pragma once
#include "model/layers.h"

typedef struct ResnetBlock2D {
    GroupNorm norm1, norm2;
    Conv2d conv1, conv2, conv_shortcut;
    Linear time_emb_proj;
    bool has_shortcut;
} ResnetBlock2D;
typedef struct ResnetActs {
    Tensor x, h1, c1, h2, temb_act;  // h1 = silu(norm1 x); c1 = conv1 h1 + proj(temb); h2 = silu(norm2 c1)
    NormSaved s1, s2;
} ResnetActs;
void resnet_init(ResnetBlock2D* r, ParamStore* ps, const char* prefix, int cin, int cout, int temb_dim, int groups,
                 float eps);
// x [N, cin, H, W]; temb_act = silu(time embedding) [N, temb_dim], shared by every resnet.
Tensor resnet_forward(Graph* g, const ResnetBlock2D* r, ResnetActs* s, const Tensor* x, const Tensor* temb_act);
void resnet_backward(Graph* g, const ResnetBlock2D* r, const ResnetActs* s, const Tensor* dx,
                     const Tensor* dtemb_act, const Tensor* dout);

typedef struct Attention {
    Linear to_q, to_k, to_v, to_out;
    int heads;
} Attention;
typedef struct AttentionActs {
    Tensor q_in, kv_in, q, k, v, o, lse;
} AttentionActs;
// query_dim: C; kv_dim: C (self) or cross_attention_dim; bias on q/k/v as given.
void attention_init(Attention* a, ParamStore* ps, const char* prefix, int query_dim, int kv_dim, int heads,
                    bool qkv_bias, const char* out_name);
// q_in [N, T, C], kv_in [N, S, kv_dim] -> [N, T, C] (block-local)
Tensor attention_forward(Graph* g, const Attention* a, AttentionActs* s, const Tensor* q_in, const Tensor* kv_in,
                         bool causal);
// dq_in and dkv_in may be the same tensor (self-attention) or NULL.
void attention_backward(Graph* g, const Attention* a, const AttentionActs* s, const Tensor* dq_in,
                        const Tensor* dkv_in, const Tensor* dout, bool causal);

typedef struct BasicTransformerBlock {
    LayerNorm norm1, norm2, norm3;
    Attention attn1, attn2;
    Linear ff_proj, ff_out;  // ff.net.0.proj (GEGLU, 2 x 4C), ff.net.2
} BasicTransformerBlock;
typedef struct BasicTransformerActs {
    AttentionActs attn1, attn2;
    Tensor h0, h1, h2, n1, n2, n3, gg, ge;
    NormSaved s1, s2, s3;
} BasicTransformerActs;

typedef struct Transformer2DModel {
    GroupNorm norm;
    bool linear_projection;
    Conv2d proj_in_conv, proj_out_conv;
    Linear proj_in_lin, proj_out_lin;
    BasicTransformerBlock tb;
} Transformer2DModel;
typedef struct Transformer2DActs {
    BasicTransformerActs tb;
    Tensor x, gn, pin, tok, hout, hn;
    NormSaved sn;
} Transformer2DActs;
void transformer2d_init(Transformer2DModel* t, ParamStore* ps, const char* prefix, int C, int heads, int cross_dim,
                        int groups, bool linear_projection);
// x [N, C, H, W], ehs [N, S, cross_dim]
Tensor transformer2d_forward(Graph* g, const Transformer2DModel* t, Transformer2DActs* s, const Tensor* x,
                             const Tensor* ehs);
// dehs may be NULL (frozen text encoder).
void transformer2d_backward(Graph* g, const Transformer2DModel* t, const Transformer2DActs* s, const Tensor* dx,
                            const Tensor* dehs, const Tensor* dout);
