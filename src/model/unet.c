// unet.c: see unet.h. Forward follows diffusers' UNet2DConditionModel.forward;
// backward walks the same stages in reverse. Every tensor on the down path is a
// skip connection, so the gradient of each down-path output is one buffer
// (dskip[k]) that both its consumer on the down path and the up-block
// concatenation accumulate into.
#include "model/unet.h"

#include <stdio.h>
#include <string.h>

#include "util/check.h"

void unet_init(UNet* u, const UNetConfig* cfg, ParamStore* ps) {
    memset(u, 0, sizeof *u);
    u->cfg = *cfg;
    const UNetConfig* c = cfg;
    if (c->layers_per_block > UNET_MAX_LAYERS) die("layers_per_block %d exceeds %d", c->layers_per_block, UNET_MAX_LAYERS);
    int C0 = c->block_out_channels[0], temb = unet_time_embed_dim(c), G = c->norm_num_groups;
    float eps = c->norm_eps;
    char p[PARAM_NAME_MAX];
    u->nskips = 1;  // conv_in's output
    conv2d_init(&u->conv_in, ps, "conv_in", c->in_channels, C0, 3, 1, 1);
    linear_init(&u->time_linear_1, ps, "time_embedding.linear_1", C0, temb, true);
    linear_init(&u->time_linear_2, ps, "time_embedding.linear_2", temb, temb, true);

    int out_ch = C0;
    for (int i = 0; i < c->nblocks; i++) {
        UNetDownBlock* b = &u->down[i];
        int in_ch = out_ch;
        out_ch = c->block_out_channels[i];
        b->nlayers = c->layers_per_block;
        b->has_attn = c->down[i] == BLOCK_CROSS_ATTN;
        b->has_down = i < c->nblocks - 1;
        for (int j = 0; j < b->nlayers; j++) {
            snprintf(p, sizeof p, "down_blocks.%d.resnets.%d", i, j);
            resnet_init(&b->res[j], ps, p, j == 0 ? in_ch : out_ch, out_ch, temb, G, eps);
            if (b->has_attn) {
                snprintf(p, sizeof p, "down_blocks.%d.attentions.%d", i, j);
                transformer2d_init(&b->attn[j], ps, p, out_ch, c->heads[i], c->cross_attention_dim, G,
                                   c->use_linear_projection);
            }
        }
        if (b->has_down) {
            snprintf(p, sizeof p, "down_blocks.%d.downsamplers.0.conv", i);
            conv2d_init(&b->down, ps, p, out_ch, out_ch, 3, 2, 1);
        }
        u->nskips += b->nlayers + b->has_down;  // each down-path output is a skip
    }

    int Cm = c->block_out_channels[c->nblocks - 1];
    resnet_init(&u->mid_res[0], ps, "mid_block.resnets.0", Cm, Cm, temb, G, eps);
    transformer2d_init(&u->mid_attn, ps, "mid_block.attentions.0", Cm, c->heads[c->nblocks - 1],
                       c->cross_attention_dim, G, c->use_linear_projection);
    resnet_init(&u->mid_res[1], ps, "mid_block.resnets.1", Cm, Cm, temb, G, eps);

    int prev_out = Cm, k = u->nskips;  // the up path takes the skips last in, first out
    for (int i = 0; i < c->nblocks; i++) {
        UNetUpBlock* b = &u->up[i];
        int ri = c->nblocks - 1 - i;  // reversed block index
        int o = c->block_out_channels[ri];
        int in_ch = c->block_out_channels[ri > 0 ? ri - 1 : 0];
        b->nlayers = c->layers_per_block + 1;
        b->has_attn = c->up[i] == BLOCK_CROSS_ATTN;
        b->has_up = i < c->nblocks - 1;
        for (int j = 0; j < b->nlayers; j++) {
            int skip_ch = j == b->nlayers - 1 ? in_ch : o;
            int res_in = j == 0 ? prev_out : o;
            b->skip_index[j] = --k;
            snprintf(p, sizeof p, "up_blocks.%d.resnets.%d", i, j);
            resnet_init(&b->res[j], ps, p, res_in + skip_ch, o, temb, G, eps);
            if (b->has_attn) {
                snprintf(p, sizeof p, "up_blocks.%d.attentions.%d", i, j);
                transformer2d_init(&b->attn[j], ps, p, o, c->heads[ri], c->cross_attention_dim, G,
                                   c->use_linear_projection);
            }
        }
        if (b->has_up) {
            snprintf(p, sizeof p, "up_blocks.%d.upsamplers.0.conv", i);
            conv2d_init(&b->up, ps, p, o, o, 3, 1, 1);
        }
        prev_out = o;
    }
    groupnorm_init(&u->conv_norm_out, ps, "conv_norm_out", C0, G, eps);
    conv2d_init(&u->conv_out, ps, "conv_out", C0, c->out_channels, 3, 1, 1);
}

// ---------------------------------------------------------------------------

static void check_inputs(const UNet* u, const Tensor* x, const Tensor* ts, const Tensor* ehs) {
    const UNetConfig* c = &u->cfg;
    if (x->ndim != 4 || x->shape[1] != c->in_channels)
        die("unet: sample must be [N, %d, H, W], got %d dims with %lld channels", c->in_channels, x->ndim,
            (long long)x->shape[1]);
    int64_t f = (int64_t)1 << (c->nblocks - 1);
    if (x->shape[2] % f || x->shape[3] % f) die("unet: sample size %lldx%lld is not divisible by %lld", (long long)x->shape[2], (long long)x->shape[3], (long long)f);
    if (tensor_numel(ts) != x->shape[0]) die("unet: %lld timesteps for a batch of %lld", (long long)tensor_numel(ts), (long long)x->shape[0]);
    if (ehs->ndim != 3 || ehs->shape[0] != x->shape[0] || ehs->shape[2] != c->cross_attention_dim)
        die("unet: encoder_hidden_states must be [%lld, L, %d]", (long long)x->shape[0], c->cross_attention_dim);
}

// ---------------------------------------------------------------------------
// Units (see unet_set_gradient_checkpointing). Each is recorded by one call that
// unet_forward and, when recomputing, unet_backward share: the recomputed values
// come from the same ops on the same inputs, so they are the same bits.

void unet_set_gradient_checkpointing(UNetActs* s, bool on) { s->gradient_checkpointing = on; }

static Arena* scratch_arena(Graph* g) {
    Arena* a = g->recompute ? g->recompute : g->tmp;
    if (!a) die("unet: gradient checkpointing needs a scratch arena (Graph.recompute or Graph.tmp)");
    if (a == g->act || a == g->grad) die("unet: the checkpointing scratch arena must not be the act or grad arena");
    return a;
}

// The graph a unit's forward records into. Without checkpointing, g (when not
// training, the previous unit's temporaries are forgotten). With checkpointing,
// the unit is recorded as in inference with the scratch as its temporaries: its
// internals die with it and only its graph_act output stays in g->act.
static Graph unit_graph(Graph* g, const UNetActs* s) {
    if (!s->checkpointed) {
        graph_tmp_reset(g);
        return *g;
    }
    Graph ug = *g;
    ug.training = false;
    ug.tmp = scratch_arena(g);
    arena_reset(ug.tmp);
    return ug;
}

// The graphs of one unit's backward. Without checkpointing, *bwd is g (and
// false). With it, *fwd records the unit's forward again, as training does, into
// the reset scratch (the unit after it in the network has finished its backward)
// and *bwd puts the unit's internal gradients there too, after the recomputed
// values; the gradients that cross units are allocated in g->grad by the caller.
static bool unit_backward_graphs(Graph* g, const UNetActs* s, Graph* fwd, Graph* bwd) {
    *bwd = *g;
    if (!s->checkpointed) return false;
    *fwd = *g;
    fwd->act = bwd->grad = scratch_arena(g);
    arena_reset(fwd->act);
    return true;
}

// The input copies: forward stores *x into the activations that hold the input.
static void resnet_unit_backward(Graph* g, UNetActs* s, const ResnetBlock2D* r, ResnetActs* rs, const Tensor* dx,
                                 const Tensor* dtemb, const Tensor* dout) {
    Graph fwd, bwd;
    Tensor x = rs->x;
    if (unit_backward_graphs(g, s, &fwd, &bwd)) resnet_forward(&fwd, r, rs, &x, &s->temb_act);
    resnet_backward(&bwd, r, rs, dx, dtemb, dout);
}

static void attn_unit_backward(Graph* g, UNetActs* s, const Transformer2DModel* t, Transformer2DActs* ts,
                               const Tensor* dx, const Tensor* dehs, const Tensor* dout) {
    Graph fwd, bwd;
    Tensor x = ts->x;
    if (unit_backward_graphs(g, s, &fwd, &bwd)) transformer2d_forward(&fwd, t, ts, &x, &s->ehs);
    transformer2d_backward(&bwd, t, ts, dx, dehs, dout);
}

// Up block i, layer j: [h_in[j], its skip] concatenated, then the resnet (the
// concatenation is internal: the unit's inputs are h_in[j] and the skip).
static Tensor up_resnet_forward(Graph* g, const UNet* u, UNetActs* s, int i, int j) {
    const UNetUpBlock* b = &u->up[i];
    UNetUpBlockActs* bs = &s->up[i];
    const Tensor *h = &bs->h_in[j], *skip = &s->skips[b->skip_index[j]];
    bs->cat[j] = graph_tmp(g, 4, (int64_t[]){h->shape[0], h->shape[1] + skip->shape[1], h->shape[2], h->shape[3]});
    op_concat_channels_forward(g->cmd, &bs->cat[j], h, skip);
    return resnet_forward(g, &b->res[j], &bs->res[j], &bs->cat[j], &s->temb_act);
}

// nearest 2x, then the conv, on bs->pre_up
static Tensor upsampler_forward(Graph* g, const UNetUpBlock* b, UNetUpBlockActs* bs) {
    const Tensor* h = &bs->pre_up;
    bs->upsampled = graph_tmp(g, 4, (int64_t[]){h->shape[0], h->shape[1], 2 * h->shape[2], 2 * h->shape[3]});
    op_upsample2x_forward(g->cmd, &bs->upsampled, h);
    Tensor out = graph_act(g, 4, bs->upsampled.shape);
    conv2d_forward_to(g, &b->up, &out, &bs->upsampled);
    return out;
}

// ---------------------------------------------------------------------------

Tensor unet_forward(Graph* g, const UNet* u, UNetActs* s, const Tensor* x, const Tensor* timesteps,
                    const Tensor* ehs) {
    check_inputs(u, x, timesteps, ehs);
    const UNetConfig* c = &u->cfg;
    int64_t N = x->shape[0];
    int C0 = c->block_out_channels[0], temb = unet_time_embed_dim(c);
    s->x = *x, s->timesteps = *timesteps, s->ehs = *ehs;
    s->checkpointed = g->training && s->gradient_checkpointing;

    // time embedding: sinusoid -> linear_1 -> SiLU -> linear_2; every resnet uses SiLU(emb)
    s->tsin = graph_act(g, 2, (int64_t[]){N, C0});
    TimestepEmbedDims td = {.N = (int)N, .D = C0, .flip_sin_to_cos = c->flip_sin_to_cos, .freq_shift = c->freq_shift,
                            .max_period = 10000.0f};
    op_timestep_embedding_forward(g->cmd, &s->tsin, timesteps, td);
    s->t1 = graph_act(g, 2, (int64_t[]){N, temb});
    linear_forward_to(g, &u->time_linear_1, &s->t1, &s->tsin);
    s->t1act = graph_act(g, 2, s->t1.shape);
    op_act_forward(g->cmd, &s->t1act, &s->t1, ACT_SILU);
    s->emb = graph_act(g, 2, s->t1.shape);
    linear_forward_to(g, &u->time_linear_2, &s->emb, &s->t1act);
    s->temb_act = graph_act(g, 2, s->t1.shape);
    op_act_forward(g->cmd, &s->temb_act, &s->emb, ACT_SILU);

    int nskips = 0;
    Tensor h = graph_act(g, 4, (int64_t[]){N, C0, x->shape[2], x->shape[3]});
    conv2d_forward_to(g, &u->conv_in, &h, x);
    s->skips[nskips++] = h;
    Graph ug;
    for (int i = 0; i < c->nblocks; i++) {
        const UNetDownBlock* b = &u->down[i];
        UNetDownBlockActs* bs = &s->down[i];
        for (int j = 0; j < b->nlayers; j++) {
            ug = unit_graph(g, s);
            h = resnet_forward(&ug, &b->res[j], &bs->res[j], &h, &s->temb_act);
            bs->res_out[j] = h;
            if (b->has_attn) ug = unit_graph(g, s), h = transformer2d_forward(&ug, &b->attn[j], &bs->attn[j], &h, ehs);
            s->skips[nskips++] = h;
        }
        if (b->has_down) {  // saves nothing but its input, a skip: not a unit
            graph_tmp_reset(g);
            Tensor d = graph_act(g, 4, (int64_t[]){N, h.shape[1], conv2d_out_size(&b->down, h.shape[2]),
                                                   conv2d_out_size(&b->down, h.shape[3])});
            conv2d_forward_to(g, &b->down, &d, &h);
            h = d;
            s->skips[nskips++] = h;
        }
    }

    ug = unit_graph(g, s);
    s->mid_r0 = resnet_forward(&ug, &u->mid_res[0], &s->mid_res[0], &h, &s->temb_act);
    ug = unit_graph(g, s);
    s->mid_a = transformer2d_forward(&ug, &u->mid_attn, &s->mid_attn, &s->mid_r0, ehs);
    ug = unit_graph(g, s);
    s->mid_out = h = resnet_forward(&ug, &u->mid_res[1], &s->mid_res[1], &s->mid_a, &s->temb_act);

    for (int i = 0; i < c->nblocks; i++) {
        const UNetUpBlock* b = &u->up[i];
        UNetUpBlockActs* bs = &s->up[i];
        for (int j = 0; j < b->nlayers; j++) {
            bs->h_in[j] = h;
            ug = unit_graph(g, s);
            h = up_resnet_forward(&ug, u, s, i, j);
            bs->res_out[j] = h;
            if (b->has_attn) ug = unit_graph(g, s), h = transformer2d_forward(&ug, &b->attn[j], &bs->attn[j], &h, ehs);
        }
        if (b->has_up) {
            bs->pre_up = h;
            ug = unit_graph(g, s);
            h = upsampler_forward(&ug, b, bs);
        }
    }
    // Not a unit: its backward comes first, so checkpointing it would recompute
    // it at once to save one tensor (final_n). The scratch holds nothing from
    // here to unet_backward, so the caller may use tmp in between.
    graph_tmp_reset(g);
    s->final_h = h;
    s->final_n = groupnorm_forward(g, &u->conv_norm_out, &s->s_out, &h, ACT_SILU);
    Tensor out = graph_act(g, 4, (int64_t[]){N, c->out_channels, h.shape[2], h.shape[3]});
    conv2d_forward_to(g, &u->conv_out, &out, &s->final_n);
    return out;
}

// ---------------------------------------------------------------------------

void unet_backward(Graph* g, const UNet* u, UNetActs* s, const Tensor* dout, const Tensor* dehs) {
    if (!g->training) die("unet_backward needs a forward recorded with training = true");
    const UNetConfig* c = &u->cfg;
    Tensor dskip[UNET_MAX_SKIPS];
    for (int k = 0; k < u->nskips; k++) dskip[k] = graph_grad_like(g, &s->skips[k]);
    Tensor dtemb = graph_grad_like(g, &s->temb_act);

    Tensor dn = graph_grad_like(g, &s->final_n);
    conv2d_backward(g, &u->conv_out, &dn, dout, &s->final_n);
    Tensor dh = graph_grad_like(g, &s->final_h);
    groupnorm_backward(g, &u->conv_norm_out, &s->s_out, &dh, &dn, &s->final_h, ACT_SILU);

    Graph fwd, bwd;
    for (int i = c->nblocks - 1; i >= 0; i--) {
        const UNetUpBlock* b = &u->up[i];
        UNetUpBlockActs* bs = &s->up[i];
        if (b->has_up) {
            if (unit_backward_graphs(g, s, &fwd, &bwd)) upsampler_forward(&fwd, b, bs);
            Tensor du = graph_grad_like(&bwd, &bs->upsampled);
            conv2d_backward(&bwd, &b->up, &du, &dh, &bs->upsampled);
            Tensor dpre = graph_grad_like(g, &bs->pre_up);
            op_upsample2x_backward(g->cmd, &dpre, &du);
            dh = dpre;
        }
        for (int j = b->nlayers - 1; j >= 0; j--) {
            if (b->has_attn) {
                Tensor dr = graph_grad_like(g, &bs->res_out[j]);
                attn_unit_backward(g, s, &b->attn[j], &bs->attn[j], &dr, dehs, &dh);
                dh = dr;
            }
            if (unit_backward_graphs(g, s, &fwd, &bwd)) up_resnet_forward(&fwd, u, s, i, j);
            Tensor dcat = graph_grad_like(&bwd, &bs->cat[j]);
            resnet_backward(&bwd, &b->res[j], &bs->res[j], &dcat, &dtemb, &dh);
            // the mid block's output feeds up block 0, resnet 0: its gradient continues into the mid block
            Tensor dprev = graph_grad_like(g, &bs->h_in[j]);
            op_concat_channels_backward(g->cmd, &dprev, &dskip[b->skip_index[j]], &dcat);
            dh = dprev;
        }
    }

    Tensor da = graph_grad_like(g, &s->mid_a), dr0 = graph_grad_like(g, &s->mid_r0);
    resnet_unit_backward(g, s, &u->mid_res[1], &s->mid_res[1], &da, &dtemb, &dh);
    attn_unit_backward(g, s, &u->mid_attn, &s->mid_attn, &dr0, dehs, &da);
    int k = u->nskips - 1;  // the mid block's input is the last skip
    resnet_unit_backward(g, s, &u->mid_res[0], &s->mid_res[0], &dskip[k], &dtemb, &dr0);

    for (int i = c->nblocks - 1; i >= 0; i--) {
        const UNetDownBlock* b = &u->down[i];
        UNetDownBlockActs* bs = &s->down[i];
        if (b->has_down) {
            conv2d_backward(g, &b->down, &dskip[k - 1], &dskip[k], &s->skips[k - 1]);
            k--;
        }
        for (int j = b->nlayers - 1; j >= 0; j--) {
            const Tensor* dres = &dskip[k];
            Tensor dr;
            if (b->has_attn) {
                dr = graph_grad_like(g, &bs->res_out[j]);
                attn_unit_backward(g, s, &b->attn[j], &bs->attn[j], &dr, dehs, &dskip[k]);
                dres = &dr;
            }
            resnet_unit_backward(g, s, &b->res[j], &bs->res[j], &dskip[k - 1], &dtemb, dres);
            k--;
        }
    }
    conv2d_backward(g, &u->conv_in, NULL, &dskip[0], &s->x);

    Tensor demb = graph_grad_like(g, &s->emb), dt1act = graph_grad_like(g, &s->t1act), dt1 = graph_grad_like(g, &s->t1);
    op_act_backward(g->cmd, &demb, &dtemb, &s->emb, ACT_SILU);
    linear_backward(g, &u->time_linear_2, &dt1act, &demb, &s->t1act);
    op_act_backward(g->cmd, &dt1, &dt1act, &s->t1, ACT_SILU);
    linear_backward(g, &u->time_linear_1, NULL, &dt1, &s->tsin);
}
