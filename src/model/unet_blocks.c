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

Tensor resnet_forward(Graph* g, ResnetBlock2D* r, const Tensor* x, const Tensor* temb_act) {
    r->x = *x;
    r->temb_act = *temb_act;
    r->h1 = groupnorm_forward(g, &r->norm1, &r->s1, x, ACT_SILU);
    Tensor tproj = linear_forward(g, &r->time_emb_proj, temb_act);  // [N, cout], broadcast over H, W
    r->c1 = conv2d_forward_add_channel(g, &r->conv1, &r->h1, &tproj);  // conv1(h1) + tproj
    r->h2 = groupnorm_forward(g, &r->norm2, &r->s2, &r->c1, ACT_SILU);
    // out = shortcut(x) + conv2(h2), the residual added as conv2 stores its outputs.
    Tensor out = graph_act(g, 4, r->h2.shape);
    if (r->has_shortcut) {
        conv2d_forward_to(g, &r->conv_shortcut, &out, x);
        conv2d_forward_add_to(g, &r->conv2, &out, &r->h2, &out);
    } else {
        conv2d_forward_add_to(g, &r->conv2, &out, &r->h2, x);
    }
    return out;
}

void resnet_backward(Graph* g, ResnetBlock2D* r, const Tensor* dx, const Tensor* dtemb_act, const Tensor* dout) {
    Tensor dh2 = graph_grad_like(g, &r->h2);
    conv2d_backward(g, &r->conv2, &dh2, dout, &r->h2);
    Tensor dc1 = graph_grad_like(g, &r->c1);
    groupnorm_backward(g, &r->norm2, &r->s2, &dc1, &dh2, &r->c1, ACT_SILU);
    Tensor dtproj = graph_grad(g, 2, (int64_t[]){r->c1.shape[0], r->c1.shape[1]});
    op_add_channel_backward(g->cmd, NULL, &dtproj, &dc1);
    linear_backward(g, &r->time_emb_proj, dtemb_act, &dtproj, &r->temb_act);
    Tensor dh1 = graph_grad_like(g, &r->h1);
    conv2d_backward(g, &r->conv1, &dh1, &dc1, &r->h1);
    groupnorm_backward(g, &r->norm1, &r->s1, dx, &dh1, &r->x, ACT_SILU);
    if (r->has_shortcut) conv2d_backward(g, &r->conv_shortcut, dx, dout, &r->x);
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

static AttnDims attn_dims(const Attention* a, bool causal) {
    int C = a->to_q.out;
    return (AttnDims){.N = (int)a->q.shape[0], .T = (int)a->q.shape[1], .S = (int)a->k.shape[1], .NH = a->heads,
                      .HD = C / a->heads, .causal = causal};
}

Tensor attention_forward(Graph* g, Attention* a, const Tensor* q_in, const Tensor* kv_in, bool causal) {
    a->q_in = *q_in, a->kv_in = *kv_in;
    a->q = linear_forward(g, &a->to_q, q_in);
    a->k = linear_forward(g, &a->to_k, kv_in);
    a->v = linear_forward(g, &a->to_v, kv_in);
    a->o = graph_tmp(g, 3, a->q.shape);
    a->lse = graph_tmp(g, 3, (int64_t[]){a->q.shape[0], a->heads, a->q.shape[1]});
    op_attention_forward(g->cmd, &a->o, &a->lse, &a->q, &a->k, &a->v, attn_dims(a, causal));
    return linear_forward(g, &a->to_out, &a->o);
}

void attention_backward(Graph* g, Attention* a, const Tensor* dq_in, const Tensor* dkv_in, const Tensor* dout,
                        bool causal) {
    Tensor dob = graph_grad_like(g, &a->o);
    linear_backward(g, &a->to_out, &dob, dout, &a->o);
    Tensor dq = graph_grad_like(g, &a->q), dk = graph_grad_like(g, &a->k), dv = graph_grad_like(g, &a->v);
    op_attention_backward(g->cmd, &dq, &dk, &dv, &dob, &a->q, &a->k, &a->v, &a->o, &a->lse, attn_dims(a, causal));
    linear_backward(g, &a->to_q, dq_in, &dq, &a->q_in);
    linear_backward(g, &a->to_k, dkv_in, &dk, &a->kv_in);
    linear_backward(g, &a->to_v, dkv_in, &dv, &a->kv_in);
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
static Tensor basic_block_forward(Graph* g, BasicTransformerBlock* b, const Tensor* h0, const Tensor* ehs) {
    b->h0 = *h0;
    b->n1 = layernorm_forward(g, &b->norm1, &b->s1, h0);
    b->h1 = attention_forward(g, &b->attn1, &b->n1, &b->n1, false);
    op_add(g->cmd, &b->h1, &b->h1, h0);
    b->n2 = layernorm_forward(g, &b->norm2, &b->s2, &b->h1);
    b->h2 = attention_forward(g, &b->attn2, &b->n2, ehs, false);
    op_add(g->cmd, &b->h2, &b->h2, &b->h1);
    b->n3 = layernorm_forward(g, &b->norm3, &b->s3, &b->h2);
    b->gg = linear_forward(g, &b->ff_proj, &b->n3);
    b->ge = graph_tmp(g, 3, (int64_t[]){h0->shape[0], h0->shape[1], 4 * b->norm1.D});
    op_geglu_forward(g->cmd, &b->ge, &b->gg);
    Tensor h3 = linear_forward(g, &b->ff_out, &b->ge);
    op_add(g->cmd, &h3, &h3, &b->h2);
    return h3;
}

static void basic_block_backward(Graph* g, BasicTransformerBlock* b, const Tensor* dh0, const Tensor* dehs,
                                 const Tensor* dh3) {
    Tensor dge = graph_grad_like(g, &b->ge), dgg = graph_grad_like(g, &b->gg), dn3 = graph_grad_like(g, &b->n3);
    linear_backward(g, &b->ff_out, &dge, dh3, &b->ge);
    op_geglu_backward(g->cmd, &dgg, &dge, &b->gg);
    linear_backward(g, &b->ff_proj, &dn3, &dgg, &b->n3);
    Tensor dh2 = graph_grad_like(g, &b->h2);
    op_accumulate(g->cmd, &dh2, dh3, 1.0f);
    layernorm_backward(g, &b->norm3, &b->s3, &dh2, &dn3, &b->h2);

    Tensor dn2 = graph_grad_like(g, &b->n2);
    attention_backward(g, &b->attn2, &dn2, dehs, &dh2, false);
    Tensor dh1 = graph_grad_like(g, &b->h1);
    op_accumulate(g->cmd, &dh1, &dh2, 1.0f);
    layernorm_backward(g, &b->norm2, &b->s2, &dh1, &dn2, &b->h1);

    Tensor dn1 = graph_grad_like(g, &b->n1);
    attention_backward(g, &b->attn1, &dn1, &dn1, &dh1, false);
    op_accumulate(g->cmd, dh0, &dh1, 1.0f);
    layernorm_backward(g, &b->norm1, &b->s1, dh0, &dn1, &b->h0);
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

Tensor transformer2d_forward(Graph* g, Transformer2DModel* t, const Tensor* x, const Tensor* ehs) {
    int64_t N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    int64_t tok_shape[3] = {N, H * W, C};
    t->x = *x;
    t->gn = groupnorm_forward(g, &t->norm, &t->sn, x, ACT_NONE);
    if (t->linear_projection) {
        t->pin = graph_tmp(g, 3, tok_shape);
        op_nchw_to_tokens(g->cmd, &t->pin, &t->gn, false);
        t->tok = linear_forward(g, &t->proj_in_lin, &t->pin);
    } else {
        t->pin = conv2d_forward(g, &t->proj_in_conv, &t->gn);
        t->tok = graph_tmp(g, 3, tok_shape);
        op_nchw_to_tokens(g->cmd, &t->tok, &t->pin, false);
    }
    t->hout = basic_block_forward(g, &t->tb, &t->tok, ehs);
    Tensor out = graph_act(g, 4, x->shape);
    if (t->linear_projection) {
        Tensor po = linear_forward(g, &t->proj_out_lin, &t->hout);
        op_tokens_to_nchw(g->cmd, &out, &po, false);
        op_add(g->cmd, &out, &out, x);  // + the residual x
    } else {
        t->hn = graph_tmp(g, 4, x->shape);
        op_tokens_to_nchw(g->cmd, &t->hn, &t->hout, false);
        conv2d_forward_add_to(g, &t->proj_out_conv, &out, &t->hn, x);  // + the residual x, as the conv stores
    }
    return out;
}

void transformer2d_backward(Graph* g, Transformer2DModel* t, const Tensor* dx, const Tensor* dehs, const Tensor* dout) {
    Tensor dhout = graph_grad_like(g, &t->hout);
    if (t->linear_projection) {
        Tensor dpo = graph_grad_like(g, &t->hout);
        op_nchw_to_tokens(g->cmd, &dpo, dout, true);
        linear_backward(g, &t->proj_out_lin, &dhout, &dpo, &t->hout);
    } else {
        Tensor dhn = graph_grad_like(g, &t->hn);
        conv2d_backward(g, &t->proj_out_conv, &dhn, dout, &t->hn);
        op_nchw_to_tokens(g->cmd, &dhout, &dhn, true);
    }
    Tensor dtok = graph_grad_like(g, &t->tok);
    basic_block_backward(g, &t->tb, &dtok, dehs, &dhout);
    Tensor dgn = graph_grad_like(g, &t->gn);
    if (t->linear_projection) {
        Tensor dpin = graph_grad_like(g, &t->pin);
        linear_backward(g, &t->proj_in_lin, &dpin, &dtok, &t->pin);
        op_tokens_to_nchw(g->cmd, &dgn, &dpin, true);
    } else {
        Tensor dpin = graph_grad_like(g, &t->pin);
        op_tokens_to_nchw(g->cmd, &dpin, &dtok, true);
        conv2d_backward(g, &t->proj_in_conv, &dgn, &dpin, &t->gn);
    }
    groupnorm_backward(g, &t->norm, &t->sn, dx, &dgn, &t->x, ACT_NONE);
    op_accumulate(g->cmd, dx, dout, 1.0f);
}
