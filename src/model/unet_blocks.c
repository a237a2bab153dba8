// unet_blocks.c: see unet_blocks.h. Each forward mirrors diffusers' code line
// by line; each backward is the same list reversed.
#include "model/unet_blocks.h"

#include <stdio.h>
#include <string.h>

#include "util/check.h"

// ---------------------------------------------------------------------------
// ResnetBlock2D (resnet_time_scale_shift "default", output_scale_factor 1)

void resnet_init(ResnetBlock2D* r, ParamStore* ps, const char* prefix, int cin, int cout, int temb_dim, int groups,
                 float eps) {
    char p[PARAM_NAME_MAX];
    param_join(p, prefix, "norm1"), groupnorm_init(&r->norm1, ps, p, cin, groups, eps);
    param_join(p, prefix, "conv1"), conv2d_init(&r->conv1, ps, p, cin, cout, 3, 1, 1);
    param_join(p, prefix, "time_emb_proj"), linear_init(&r->time_emb_proj, ps, p, temb_dim, cout, true);
    param_join(p, prefix, "norm2"), groupnorm_init(&r->norm2, ps, p, cout, groups, eps);
    param_join(p, prefix, "conv2"), conv2d_init(&r->conv2, ps, p, cout, cout, 3, 1, 1);
    r->has_shortcut = cin != cout;
    if (r->has_shortcut) param_join(p, prefix, "conv_shortcut"), conv2d_init(&r->conv_shortcut, ps, p, cin, cout, 1, 1, 0);
}

Tensor resnet_forward(Graph* g, const ResnetBlock2D* r, ResnetActs* s, const Tensor* x, const Tensor* temb_act) {
    s->x = *x;
    s->temb_act = *temb_act;
    s->h1 = groupnorm_forward(g, &r->norm1, &s->s1, x, ACT_SILU);
    Tensor tproj = linear_forward(g, &r->time_emb_proj, temb_act);  // [N, cout], broadcast over H, W
    s->c1 = conv2d_forward_add_channel(g, &r->conv1, &s->h1, &tproj);  // conv1(h1) + tproj
    s->h2 = groupnorm_forward(g, &r->norm2, &s->s2, &s->c1, ACT_SILU);
    // out = shortcut(x) + conv2(h2), the residual added as conv2 stores its outputs.
    Tensor out = graph_act(g, 4, s->h2.shape);
    if (r->has_shortcut) {
        conv2d_forward_to(g, &r->conv_shortcut, &out, x);
        conv2d_forward_add_to(g, &r->conv2, &out, &s->h2, &out);
    } else {
        conv2d_forward_add_to(g, &r->conv2, &out, &s->h2, x);
    }
    return out;
}

void resnet_backward(Graph* g, const ResnetBlock2D* r, const ResnetActs* s, const Tensor* dx,
                     const Tensor* dtemb_act, const Tensor* dout) {
    Tensor dh2 = graph_grad_like(g, &s->h2);
    conv2d_backward(g, &r->conv2, &dh2, dout, &s->h2);
    Tensor dc1 = graph_grad_like(g, &s->c1);
    groupnorm_backward(g, &r->norm2, &s->s2, &dc1, &dh2, &s->c1, ACT_SILU);
    Tensor dtproj = graph_grad(g, 2, (int64_t[]){s->c1.shape[0], s->c1.shape[1]});
    op_add_channel_backward(g->cmd, NULL, &dtproj, &dc1);
    linear_backward(g, &r->time_emb_proj, dtemb_act, &dtproj, &s->temb_act);
    Tensor dh1 = graph_grad_like(g, &s->h1);
    conv2d_backward(g, &r->conv1, &dh1, &dc1, &s->h1);
    groupnorm_backward(g, &r->norm1, &s->s1, dx, &dh1, &s->x, ACT_SILU);
    if (r->has_shortcut) conv2d_backward(g, &r->conv_shortcut, dx, dout, &s->x);
    else if (dx) op_accumulate(g->cmd, dx, dout, 1.0f);
}

// ---------------------------------------------------------------------------
// Attention (diffusers Attention / transformers CLIPAttention: separate q, k, v projections)

void attention_init(Attention* a, ParamStore* ps, const char* prefix, int query_dim, int kv_dim, int heads,
                    bool qkv_bias, const char* out_name) {
    char p[PARAM_NAME_MAX];
    const char* names[3] = {"to_q", "to_k", "to_v"};
    if (!strcmp(out_name, "out_proj")) names[0] = "q_proj", names[1] = "k_proj", names[2] = "v_proj";
    param_join(p, prefix, names[0]), linear_init(&a->to_q, ps, p, query_dim, query_dim, qkv_bias);
    param_join(p, prefix, names[1]), linear_init(&a->to_k, ps, p, kv_dim, query_dim, qkv_bias);
    param_join(p, prefix, names[2]), linear_init(&a->to_v, ps, p, kv_dim, query_dim, qkv_bias);
    param_join(p, prefix, out_name), linear_init(&a->to_out, ps, p, query_dim, query_dim, true);
    a->heads = heads;
}

static AttnDims attn_dims(const Attention* a, const AttentionActs* s, bool causal) {
    int C = a->to_q.out;
    return (AttnDims){.N = (int)s->q.shape[0], .T = (int)s->q.shape[1], .S = (int)s->k.shape[1], .NH = a->heads,
                      .HD = C / a->heads, .causal = causal};
}

Tensor attention_forward(Graph* g, const Attention* a, AttentionActs* s, const Tensor* q_in, const Tensor* kv_in,
                         bool causal) {
    s->q_in = *q_in, s->kv_in = *kv_in;
    s->q = linear_forward(g, &a->to_q, q_in);
    s->k = linear_forward(g, &a->to_k, kv_in);
    s->v = linear_forward(g, &a->to_v, kv_in);
    s->o = graph_tmp(g, 3, s->q.shape);
    s->lse = graph_tmp(g, 3, (int64_t[]){s->q.shape[0], a->heads, s->q.shape[1]});
    op_attention_forward(g->cmd, &s->o, &s->lse, &s->q, &s->k, &s->v, attn_dims(a, s, causal));
    return linear_forward(g, &a->to_out, &s->o);
}

void attention_backward(Graph* g, const Attention* a, const AttentionActs* s, const Tensor* dq_in,
                        const Tensor* dkv_in, const Tensor* dout, bool causal) {
    Tensor dob = graph_grad_like(g, &s->o);
    linear_backward(g, &a->to_out, &dob, dout, &s->o);
    Tensor dq = graph_grad_like(g, &s->q), dk = graph_grad_like(g, &s->k), dv = graph_grad_like(g, &s->v);
    op_attention_backward(g->cmd, &dq, &dk, &dv, &dob, &s->q, &s->k, &s->v, &s->o, &s->lse, attn_dims(a, s, causal));
    linear_backward(g, &a->to_q, dq_in, &dq, &s->q_in);
    linear_backward(g, &a->to_k, dkv_in, &dk, &s->kv_in);
    linear_backward(g, &a->to_v, dkv_in, &dv, &s->kv_in);
}

// ---------------------------------------------------------------------------
// BasicTransformerBlock: self-attention, cross-attention, GEGLU feed-forward,
// each behind a LayerNorm with a residual.

static void basic_block_init(BasicTransformerBlock* b, ParamStore* ps, const char* prefix, int C, int heads,
                             int cross_dim) {
    char p[PARAM_NAME_MAX];
    param_join(p, prefix, "norm1"), layernorm_init(&b->norm1, ps, p, C, 1e-5f);
    param_join(p, prefix, "attn1"), attention_init(&b->attn1, ps, p, C, C, heads, false, "to_out.0");
    param_join(p, prefix, "norm2"), layernorm_init(&b->norm2, ps, p, C, 1e-5f);
    param_join(p, prefix, "attn2"), attention_init(&b->attn2, ps, p, C, cross_dim, heads, false, "to_out.0");
    param_join(p, prefix, "norm3"), layernorm_init(&b->norm3, ps, p, C, 1e-5f);
    param_join(p, prefix, "ff.net.0.proj"), linear_init(&b->ff_proj, ps, p, C, 8 * C, true);
    param_join(p, prefix, "ff.net.2"), linear_init(&b->ff_out, ps, p, 4 * C, C, true);
}

// h0 [N, T, C] -> output [N, T, C] (block-local)
static Tensor basic_block_forward(Graph* g, const BasicTransformerBlock* b, BasicTransformerActs* s, const Tensor* h0,
                                  const Tensor* ehs) {
    s->h0 = *h0;
    s->n1 = layernorm_forward(g, &b->norm1, &s->s1, h0);
    s->h1 = attention_forward(g, &b->attn1, &s->attn1, &s->n1, &s->n1, false);
    op_add(g->cmd, &s->h1, &s->h1, h0);
    s->n2 = layernorm_forward(g, &b->norm2, &s->s2, &s->h1);
    s->h2 = attention_forward(g, &b->attn2, &s->attn2, &s->n2, ehs, false);
    op_add(g->cmd, &s->h2, &s->h2, &s->h1);
    s->n3 = layernorm_forward(g, &b->norm3, &s->s3, &s->h2);
    s->gg = linear_forward(g, &b->ff_proj, &s->n3);
    s->ge = graph_tmp(g, 3, (int64_t[]){h0->shape[0], h0->shape[1], 4 * b->norm1.D});
    op_geglu_forward(g->cmd, &s->ge, &s->gg);
    Tensor h3 = linear_forward(g, &b->ff_out, &s->ge);
    op_add(g->cmd, &h3, &h3, &s->h2);
    return h3;
}

static void basic_block_backward(Graph* g, const BasicTransformerBlock* b, const BasicTransformerActs* s,
                                 const Tensor* dh0, const Tensor* dehs, const Tensor* dh3) {
    Tensor dge = graph_grad_like(g, &s->ge), dgg = graph_grad_like(g, &s->gg), dn3 = graph_grad_like(g, &s->n3);
    linear_backward(g, &b->ff_out, &dge, dh3, &s->ge);
    op_geglu_backward(g->cmd, &dgg, &dge, &s->gg);
    linear_backward(g, &b->ff_proj, &dn3, &dgg, &s->n3);
    Tensor dh2 = graph_grad_like(g, &s->h2);
    op_accumulate(g->cmd, &dh2, dh3, 1.0f);
    layernorm_backward(g, &b->norm3, &s->s3, &dh2, &dn3, &s->h2);

    Tensor dn2 = graph_grad_like(g, &s->n2);
    attention_backward(g, &b->attn2, &s->attn2, &dn2, dehs, &dh2, false);
    Tensor dh1 = graph_grad_like(g, &s->h1);
    op_accumulate(g->cmd, &dh1, &dh2, 1.0f);
    layernorm_backward(g, &b->norm2, &s->s2, &dh1, &dn2, &s->h1);

    Tensor dn1 = graph_grad_like(g, &s->n1);
    attention_backward(g, &b->attn1, &s->attn1, &dn1, &dn1, &dh1, false);
    op_accumulate(g->cmd, dh0, &dh1, 1.0f);
    layernorm_backward(g, &b->norm1, &s->s1, dh0, &dn1, &s->h0);
}

// ---------------------------------------------------------------------------
// Transformer2DModel (one BasicTransformerBlock; GroupNorm eps 1e-6; 1x1-conv or linear projections)

void transformer2d_init(Transformer2DModel* t, ParamStore* ps, const char* prefix, int C, int heads, int cross_dim,
                        int groups, bool linear_projection) {
    char p[PARAM_NAME_MAX];
    t->linear_projection = linear_projection;
    param_join(p, prefix, "norm"), groupnorm_init(&t->norm, ps, p, C, groups, 1e-6f);
    param_join(p, prefix, "proj_in");
    if (linear_projection) linear_init(&t->proj_in_lin, ps, p, C, C, true);
    else conv2d_init(&t->proj_in_conv, ps, p, C, C, 1, 1, 0);
    param_join(p, prefix, "transformer_blocks.0"), basic_block_init(&t->tb, ps, p, C, heads, cross_dim);
    param_join(p, prefix, "proj_out");
    if (linear_projection) linear_init(&t->proj_out_lin, ps, p, C, C, true);
    else conv2d_init(&t->proj_out_conv, ps, p, C, C, 1, 1, 0);
}

Tensor transformer2d_forward(Graph* g, const Transformer2DModel* t, Transformer2DActs* s, const Tensor* x,
                             const Tensor* ehs) {
    int64_t N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    int64_t tok_shape[3] = {N, H * W, C};
    s->x = *x;
    s->gn = groupnorm_forward(g, &t->norm, &s->sn, x, ACT_NONE);
    if (t->linear_projection) {
        s->pin = graph_tmp(g, 3, tok_shape);
        op_nchw_to_tokens(g->cmd, &s->pin, &s->gn, false);
        s->tok = linear_forward(g, &t->proj_in_lin, &s->pin);
    } else {
        s->pin = conv2d_forward(g, &t->proj_in_conv, &s->gn);
        s->tok = graph_tmp(g, 3, tok_shape);
        op_nchw_to_tokens(g->cmd, &s->tok, &s->pin, false);
    }
    s->hout = basic_block_forward(g, &t->tb, &s->tb, &s->tok, ehs);
    Tensor out = graph_act(g, 4, x->shape);
    if (t->linear_projection) {
        Tensor po = linear_forward(g, &t->proj_out_lin, &s->hout);
        op_tokens_to_nchw(g->cmd, &out, &po, false);
        op_add(g->cmd, &out, &out, x);  // + the residual x
    } else {
        s->hn = graph_tmp(g, 4, x->shape);
        op_tokens_to_nchw(g->cmd, &s->hn, &s->hout, false);
        conv2d_forward_add_to(g, &t->proj_out_conv, &out, &s->hn, x);  // + the residual x, as the conv stores
    }
    return out;
}

void transformer2d_backward(Graph* g, const Transformer2DModel* t, const Transformer2DActs* s, const Tensor* dx,
                            const Tensor* dehs, const Tensor* dout) {
    Tensor dhout = graph_grad_like(g, &s->hout);
    if (t->linear_projection) {
        Tensor dpo = graph_grad_like(g, &s->hout);
        op_nchw_to_tokens(g->cmd, &dpo, dout, true);
        linear_backward(g, &t->proj_out_lin, &dhout, &dpo, &s->hout);
    } else {
        Tensor dhn = graph_grad_like(g, &s->hn);
        conv2d_backward(g, &t->proj_out_conv, &dhn, dout, &s->hn);
        op_nchw_to_tokens(g->cmd, &dhout, &dhn, true);
    }
    Tensor dtok = graph_grad_like(g, &s->tok);
    basic_block_backward(g, &t->tb, &s->tb, &dtok, dehs, &dhout);
    Tensor dgn = graph_grad_like(g, &s->gn);
    if (t->linear_projection) {
        Tensor dpin = graph_grad_like(g, &s->pin);
        linear_backward(g, &t->proj_in_lin, &dpin, &dtok, &s->pin);
        op_tokens_to_nchw(g->cmd, &dgn, &dpin, true);
    } else {
        Tensor dpin = graph_grad_like(g, &s->pin);
        op_tokens_to_nchw(g->cmd, &dpin, &dtok, true);
        conv2d_backward(g, &t->proj_in_conv, &dgn, &dpin, &s->gn);
    }
    groupnorm_backward(g, &t->norm, &s->sn, dx, &dgn, &s->x, ACT_NONE);
    op_accumulate(g->cmd, dx, dout, 1.0f);
}
