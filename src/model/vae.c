// vae.c: see vae.h. The forward follows diffusers' AutoencoderKL
// (models/autoencoders/autoencoder_kl.py, vae.py: Encoder, Decoder,
// DiagonalGaussianDistribution; resnet.py ResnetBlock2D; downsampling.py
// Downsample2D; upsampling.py Upsample2D; attention_processor.py AttnProcessor2_0).
#include "model/vae.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"
#include "model/weights.h"
#include "util/check.h"
#include "util/fsutil.h"
#include "util/json_fields.h"

// ---------------------------------------------------------------------------
// config.json

static void get_block_types(JsonFields* p, const char* key, int n, const char* only) {
    const cJSON* v = cJSON_GetObjectItemCaseSensitive(p->root, key);
    if (!v || cJSON_IsNull(v)) {  // diffusers' default: one block of the only type
        if (n != 1) json_fail(p, key, "missing (expected a list of %d block types, one per block_out_channels entry)", n);
        return;
    }
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != n) {
        json_fail(p, key, "expected a list of %d block types (one per block_out_channels entry)", n);
        return;
    }
    for (int i = 0; i < n; i++) {
        const cJSON* t = cJSON_GetArrayItem(v, i);
        if (!cJSON_IsString(t) || strcmp(t->valuestring, only))
            json_fail(p, key, "entry %d: %s is not supported (only %s)", i, cJSON_IsString(t) ? t->valuestring : "a non-string",
                      only);
    }
}

static void require_null(JsonFields* p, const char* key) {
    const cJSON* v = cJSON_GetObjectItemCaseSensitive(p->root, key);
    if (v && !cJSON_IsNull(v)) json_fail(p, key, "only null is supported");
}

int vae_config_parse(VaeConfig* c, const char* text, const char* source, char* err, size_t errlen) {
    memset(c, 0, sizeof *c);
    cJSON* root = json_parse_object(text, source, err, errlen);
    if (!root) return -1;
    JsonFields p = {root, source, err, errlen, 0};
    const char* cls = json_str(&p, "_class_name", "AutoencoderKL");
    if (strcmp(cls, "AutoencoderKL")) json_fail(&p, "_class_name", "%s is not supported (only AutoencoderKL)", cls);
    const cJSON* boc = cJSON_GetObjectItemCaseSensitive(root, "block_out_channels");
    if (!boc || cJSON_IsNull(boc)) {
        c->nblocks = 1, c->block_out_channels[0] = 64;  // diffusers' default
    } else if (!cJSON_IsArray(boc) || cJSON_GetArraySize(boc) < 1 || cJSON_GetArraySize(boc) > VAE_MAX_BLOCKS) {
        json_fail(&p, "block_out_channels", "expected a list of 1 to %d integers", VAE_MAX_BLOCKS);
    } else {
        c->nblocks = cJSON_GetArraySize(boc);
        for (int i = 0; i < c->nblocks; i++) {
            const cJSON* e = cJSON_GetArrayItem(boc, i);
            if (!cJSON_IsNumber(e)) json_fail(&p, "block_out_channels", "entry %d is not an integer", i);
            else c->block_out_channels[i] = e->valueint;
        }
    }
    c->in_channels = json_int(&p, "in_channels", 3, false);
    c->out_channels = json_int(&p, "out_channels", 3, false);
    c->latent_channels = json_int(&p, "latent_channels", 4, false);
    c->layers_per_block = json_int(&p, "layers_per_block", 1, false);
    c->norm_num_groups = json_int(&p, "norm_num_groups", 32, false);
    const cJSON* ss = cJSON_GetObjectItemCaseSensitive(root, "sample_size");  // an int or [H, W]
    if (cJSON_IsArray(ss) && cJSON_GetArraySize(ss) >= 1) c->sample_size = cJSON_GetArrayItem(ss, 0)->valueint;
    else c->sample_size = json_int(&p, "sample_size", 32, false);
    c->scaling_factor = (float)json_num(&p, "scaling_factor", 0.18215);
    c->shift_factor = (float)json_num(&p, "shift_factor", 0.0);
    c->use_quant_conv = json_bool(&p, "use_quant_conv", true);
    c->use_post_quant_conv = json_bool(&p, "use_post_quant_conv", true);
    c->mid_block_add_attention = json_bool(&p, "mid_block_add_attention", true);
    const char* act = json_str(&p, "act_fn", "silu");
    if (strcmp(act, "silu") && strcmp(act, "swish")) json_fail(&p, "act_fn", "\"%s\" is not supported (only \"silu\")", act);
    // Per-channel latent statistics (used instead of scaling_factor by some models): not supported.
    require_null(&p, "latents_mean");
    require_null(&p, "latents_std");
    if (c->nblocks) {
        get_block_types(&p, "down_block_types", c->nblocks, "DownEncoderBlock2D");
        get_block_types(&p, "up_block_types", c->nblocks, "UpDecoderBlock2D");
    }

    // Consistency of the values themselves.
    if (!p.failed && c->in_channels < 1) json_fail(&p, "in_channels", "must be at least 1");
    if (!p.failed && c->out_channels < 1) json_fail(&p, "out_channels", "must be at least 1");
    if (!p.failed && c->latent_channels < 1) json_fail(&p, "latent_channels", "must be at least 1");
    if (!p.failed && (c->layers_per_block < 1 || c->layers_per_block > VAE_MAX_LAYERS))
        json_fail(&p, "layers_per_block", "%d is not between 1 and %d", c->layers_per_block, VAE_MAX_LAYERS);
    if (!p.failed && c->norm_num_groups < 1) json_fail(&p, "norm_num_groups", "must be at least 1");
    for (int i = 0; i < c->nblocks && !p.failed; i++) {
        int ch = c->block_out_channels[i];
        if (ch < 1 || ch % c->norm_num_groups)
            json_fail(&p, "block_out_channels", "%d is not a positive multiple of norm_num_groups %d", ch,
                      c->norm_num_groups);
    }
    if (!p.failed && !(c->scaling_factor > 0)) json_fail(&p, "scaling_factor", "must be positive");
    cJSON_Delete(root);
    return p.failed ? -1 : 0;
}

int vae_config_load(VaeConfig* c, const char* path, char* err, size_t errlen) {
    char* text = json_read_file(path, err, errlen);
    if (!text) return -1;
    int r = vae_config_parse(c, text, path, err, errlen);
    free(text);
    return r;
}

// ---------------------------------------------------------------------------
// Parameters

static const float VAE_EPS = 1e-6f;  // every GroupNorm of the VAE (resnets, attention, conv_norm_out)

static void resnet_init(VaeResnet* r, ParamStore* ps, const char* prefix, int cin, int cout, int groups) {
    char p[PARAM_NAME_MAX];
    param_join(p, prefix, "norm1"), groupnorm_init(&r->norm1, ps, p, cin, groups, VAE_EPS);
    param_join(p, prefix, "conv1"), conv2d_init(&r->conv1, ps, p, cin, cout, 3, 1, 1);
    param_join(p, prefix, "norm2"), groupnorm_init(&r->norm2, ps, p, cout, groups, VAE_EPS);
    param_join(p, prefix, "conv2"), conv2d_init(&r->conv2, ps, p, cout, cout, 3, 1, 1);
    r->has_shortcut = cin != cout;
    if (r->has_shortcut) param_join(p, prefix, "conv_shortcut"), conv2d_init(&r->conv_shortcut, ps, p, cin, cout, 1, 1, 0);
}

static void mid_init(VaeMidBlock* m, ParamStore* ps, const char* prefix, int C, int groups, bool attn) {
    char p[PARAM_NAME_MAX], q[PARAM_NAME_MAX];
    param_join(p, prefix, "resnets.0"), resnet_init(&m->res[0], ps, p, C, C, groups);
    m->has_attn = attn;
    if (attn) {
        VaeAttention* a = &m->attn;
        param_join(p, prefix, "attentions.0");
        param_join(q, p, "group_norm"), groupnorm_init(&a->group_norm, ps, q, C, groups, VAE_EPS);
        param_join(q, p, "to_q"), linear_init(&a->to_q, ps, q, C, C, true);
        param_join(q, p, "to_k"), linear_init(&a->to_k, ps, q, C, C, true);
        param_join(q, p, "to_v"), linear_init(&a->to_v, ps, q, C, C, true);
        param_join(q, p, "to_out.0"), linear_init(&a->to_out, ps, q, C, C, true);
    }
    param_join(p, prefix, "resnets.1"), resnet_init(&m->res[1], ps, p, C, C, groups);
}

void vae_init(AutoencoderKL* m, const VaeConfig* cfg, ParamStore* ps) {
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    const VaeConfig* c = cfg;
    int n = c->nblocks, G = c->norm_num_groups, L = c->latent_channels, C0 = c->block_out_channels[0];
    int Cl = c->block_out_channels[n - 1];
    char p[PARAM_NAME_MAX];

    VaeEncoder* e = &m->enc;
    conv2d_init(&e->conv_in, ps, "encoder.conv_in", c->in_channels, C0, 3, 1, 1);
    int out_ch = C0;
    for (int i = 0; i < n; i++) {
        int in_ch = out_ch;
        out_ch = c->block_out_channels[i];
        for (int j = 0; j < c->layers_per_block; j++) {
            snprintf(p, sizeof p, "encoder.down_blocks.%d.resnets.%d", i, j);
            resnet_init(&e->res[i][j], ps, p, j == 0 ? in_ch : out_ch, out_ch, G);
        }
        if (i < n - 1) {
            snprintf(p, sizeof p, "encoder.down_blocks.%d.downsamplers.0.conv", i);
            conv2d_init(&e->down[i], ps, p, out_ch, out_ch, 3, 2, 0);
        }
    }
    mid_init(&e->mid, ps, "encoder.mid_block", Cl, G, c->mid_block_add_attention);
    groupnorm_init(&e->conv_norm_out, ps, "encoder.conv_norm_out", Cl, G, VAE_EPS);
    conv2d_init(&e->conv_out, ps, "encoder.conv_out", Cl, 2 * L, 3, 1, 1);

    VaeDecoder* d = &m->dec;
    conv2d_init(&d->conv_in, ps, "decoder.conv_in", L, Cl, 3, 1, 1);
    mid_init(&d->mid, ps, "decoder.mid_block", Cl, G, c->mid_block_add_attention);
    int prev = Cl;
    for (int i = 0; i < n; i++) {
        int o = c->block_out_channels[n - 1 - i];
        for (int j = 0; j < c->layers_per_block + 1; j++) {
            snprintf(p, sizeof p, "decoder.up_blocks.%d.resnets.%d", i, j);
            resnet_init(&d->res[i][j], ps, p, j == 0 ? prev : o, o, G);
        }
        if (i < n - 1) {
            snprintf(p, sizeof p, "decoder.up_blocks.%d.upsamplers.0.conv", i);
            conv2d_init(&d->up[i], ps, p, o, o, 3, 1, 1);
        }
        prev = o;
    }
    groupnorm_init(&d->conv_norm_out, ps, "decoder.conv_norm_out", C0, G, VAE_EPS);
    conv2d_init(&d->conv_out, ps, "decoder.conv_out", C0, c->out_channels, 3, 1, 1);

    if (c->use_quant_conv) conv2d_init(&m->quant_conv, ps, "quant_conv", 2 * L, 2 * L, 1, 1, 0);
    if (c->use_post_quant_conv) conv2d_init(&m->post_quant_conv, ps, "post_quant_conv", L, L, 1, 1, 0);
}

// The original SD VAE file's name of a mid-block attention parameter, or NULL: its
// diffusers name with to_q / to_k / to_v / to_out.0 -> query / key / value / proj_attn.
static bool legacy_attention_name(const char* name, char* out, size_t n) {
    static const char* const from[] = {".to_q.", ".to_k.", ".to_v.", ".to_out.0."};
    static const char* const to[] = {".query.", ".key.", ".value.", ".proj_attn."};
    const char* a = strstr(name, "mid_block.attentions.0.");
    if (!a) return false;
    for (int i = 0; i < 4; i++) {
        const char* s = strstr(a, from[i]);
        if (!s) continue;
        int len = snprintf(out, n, "%.*s%s%s", (int)(s - name), name, to[i], s + strlen(from[i]));
        return len > 0 && (size_t)len < n;
    }
    return false;
}

int vae_load_weights_from(ParamStore* ps, const SafeTensors* st, char* err, size_t errlen) {
    int r = 0;
    for (int i = 0; i < ps->n && !r; i++) {
        const char* name = ps->e[i].name;
        char legacy[PARAM_NAME_MAX + 16];
        if (!st_find(st, name) && legacy_attention_name(name, legacy, sizeof legacy) && st_find(st, legacy)) name = legacy;
        float* h = xmalloc((size_t)param_numel(ps, i) * sizeof *h);
        r = st_load_f32(st, name, ps->e[i].ndim, ps->e[i].shape, h, err, errlen);
        if (!r) param_upload(ps, i, h);
        free(h);
    }
    return r;
}

int vae_load_weights(ParamStore* ps, const char* path, char* err, size_t errlen) {
    SafeTensors* st = st_open(path, err, errlen);
    if (!st) return -1;
    int r = vae_load_weights_from(ps, st, err, errlen);
    st_close(st);
    return r;
}

int vae_load(AutoencoderKL* m, ParamStore* ps, GpuContext* g, const char* dir, const char* variant, DType dtype,
             char* err, size_t errlen) {
    char folder[4096], path[4200];
    VaeConfig cfg;
    // A pipeline folder stands for its vae/ subfolder.
    if (snprintf(folder, sizeof folder, "%s", dir) >= (int)sizeof folder - 8) {
        snprintf(err, errlen, "%s: path too long", dir);
        return -1;
    }
    snprintf(path, sizeof path, "%s/config.json", folder);
    if (!path_exists(path)) {
        snprintf(path, sizeof path, "%s/vae/config.json", dir);
        if (path_exists(path)) snprintf(folder, sizeof folder, "%s/vae", dir);
    }
    snprintf(path, sizeof path, "%s/config.json", folder);
    if (vae_config_load(&cfg, path, err, errlen)) return -1;
    SafeTensors* st = weights_open(folder, "diffusion_pytorch_model", variant, err, errlen);
    if (!st) return -1;
    param_store_init(ps, g);
    vae_init(m, &cfg, ps);
    for (int i = 0; i < ps->n; i++) ps->e[i].trainable = false;  // frozen
    param_store_alloc_frozen(ps, dtype);
    int r = vae_load_weights_from(ps, st, err, errlen);
    st_close(st);
    if (r) param_store_free(ps);
    return r;
}

// ---------------------------------------------------------------------------
// Forward
//
// Activations are Pieces: a tensor [N, C, H, W] kept as n tensors over consecutive
// channel ranges. n is 1 unless one image's tensor exceeds a binding (then the
// batch group is one image, N = 1): the cuts fall on GroupNorm group boundaries, so
// a norm runs per piece with its slice of the groups, and a conv sums over input
// pieces (y = conv(x_0, w_0) + b, then y += conv(x_i, w_i)) into each output piece.

#define VAE_MAX_PIECES 32

typedef struct Pieces {
    int n;
    int64_t N, C, H, W;
    int64_t c0[VAE_MAX_PIECES + 1];  // piece i holds channels [c0[i], c0[i + 1])
    Tensor t[VAE_MAX_PIECES];
} Pieces;

void vae_scratch_init(VaeScratch* s, GpuContext* g) {
    memset(s, 0, sizeof *s);
    arena_init(&s->carry[0], g, "vae_carry0", 0, false);
    arena_init(&s->carry[1], g, "vae_carry1", 0, false);
}

void vae_scratch_free(VaeScratch* s) {
    arena_free(&s->carry[0]);
    arena_free(&s->carry[1]);
    memset(s, 0, sizeof *s);
}

// Bytes one binding may hold: the device's maxStorageBufferRange (and texel-buffer
// size), or less when the scratch says so (tests).
static uint64_t binding_limit(const Graph* g, const VaeScratch* s) {
    const VkPhysicalDeviceLimits* L = &g->ps->gpu->props.limits;
    uint64_t limit = L->maxStorageBufferRange;
    if ((uint64_t)L->maxTexelBufferElements * sizeof(float) < limit) limit = (uint64_t)L->maxTexelBufferElements * sizeof(float);
    if (s->max_binding_bytes && s->max_binding_bytes < limit) limit = s->max_binding_bytes;
    return limit;
}

static uint64_t bytes_of(int64_t N, int64_t C, int64_t H, int64_t W) { return (uint64_t)(N * C * H * W) * sizeof(float); }

// The cuts of [N, C, H, W]: one piece when it fits a binding, else (N = 1) the
// fewest pieces of whole groups (G groups of C / G channels; n divides G) that fit.
static Pieces layout(const Graph* g, const VaeScratch* s, int G, int64_t N, int64_t C, int64_t H, int64_t W) {
    Pieces p = {.n = 1, .N = N, .C = C, .H = H, .W = W, .c0 = {0, C}};
    uint64_t limit = binding_limit(g, s);
    if (bytes_of(N, C, H, W) <= limit) return p;
    if (N != 1 || C % G) die("vae: a [%lld, %lld, %lld, %lld] activation exceeds one binding (%llu bytes)", (long long)N,
                             (long long)C, (long long)H, (long long)W, (unsigned long long)limit);
    int n = 2;
    while (n <= G && (G % n || bytes_of(1, C / n, H, W) > limit)) n++;
    if (n > G || n > VAE_MAX_PIECES)
        die("vae: a %lldx%lld activation of %lld channels needs more than %d pieces of whole groups to fit one binding "
            "(%llu bytes); tiling is not implemented: use smaller images",
            (long long)H, (long long)W, (long long)C, n > G ? G : VAE_MAX_PIECES, (unsigned long long)limit);
    p.n = n;
    for (int i = 0; i <= n; i++) p.c0[i] = C / n * i;
    return p;
}

static Pieces alloc_pieces(Pieces p, Arena* a) {
    for (int i = 0; i < p.n; i++) p.t[i] = arena_tensor4(a, p.N, p.c0[i + 1] - p.c0[i], p.H, p.W);
    return p;
}

// A unit's output: the carry arena not holding the unit's input, reset first.
static Pieces carry_pieces(Graph* g, VaeScratch* s, int G, int64_t N, int64_t C, int64_t H, int64_t W) {
    Arena* a = &s->carry[s->next];
    s->next ^= 1;
    arena_reset(a);
    return alloc_pieces(layout(g, s, G, N, C, H, W), a);
}

static Pieces tmp_pieces(Graph* g, VaeScratch* s, int G, int64_t N, int64_t C, int64_t H, int64_t W) {
    return alloc_pieces(layout(g, s, G, N, C, H, W), g->tmp);
}

static Pieces whole(const Tensor* t) {
    Pieces p = {.n = 1, .N = t->shape[0], .C = t->shape[1], .H = t->shape[2], .W = t->shape[3], .c0 = {0, t->shape[1]}};
    p.t[0] = *t;
    return p;
}

static const Tensor* single(const Pieces* p, const char* what) {
    if (p->n != 1) die("vae: the %s input of %lldx%lld does not fit one binding: use smaller images", what, (long long)p->H, (long long)p->W);
    return &p->t[0];
}

// Channels [a, b) of piece i as a tensor (contiguous: a piece covers every image, or N = 1).
static Tensor piece_range(const Pieces* p, int i, int64_t a, int64_t b) {
    if (a == p->c0[i] && b == p->c0[i + 1]) return p->t[i];
    int64_t hw = p->H * p->W;
    return tensor_reshape(tensor_slice(p->t[i], (a - p->c0[i]) * hw, (b - a) * hw), 4, (int64_t[]){1, b - a, p->H, p->W});
}

// A downsampler's output size: zero pad by one, then 3x3 with stride 2 and no padding.
static int64_t down_size(int64_t s) { return s >= 2 ? (s + 1 - 3) / 2 + 1 : 0; }

int64_t vae_latent_size(const VaeConfig* c, int64_t s) {
    for (int i = 0; i < c->nblocks - 1; i++) s = down_size(s);
    return s;
}

int64_t vae_image_size(const VaeConfig* c, int64_t s) { return s << (c->nblocks - 1); }

// y = act(GroupNorm(x)) piece by piece (each piece holds whole groups).
static void norm_pieces(Graph* g, const GroupNorm* n, const Pieces* y, const Pieces* x, Activation act) {
    for (int i = 0; i < x->n; i++) {
        int64_t c0 = x->c0[i], C = x->c0[i + 1] - c0;
        int Gp = (int)(n->G * C / n->C);
        Tensor mean = graph_tmp(g, 2, (int64_t[]){x->N, Gp}), rstd = graph_tmp(g, 2, (int64_t[]){x->N, Gp});
        Tensor gamma = tensor_slice(*P(g->ps, n->w), c0, C), beta = tensor_slice(*P(g->ps, n->b), c0, C);
        op_groupnorm_forward(g->cmd, &y->t[i], &mean, &rstd, &x->t[i], &gamma, &beta, Gp, n->eps, act);
    }
}

// Input channels [c0, c1) of the rows of w [K, C, k, k] (a copy unless all of them).
static Tensor weight_columns(Graph* g, const Tensor* w, int64_t c0, int64_t c1) {
    int64_t K = w->shape[0], C = w->shape[1], kk = w->shape[2] * w->shape[3];
    if (c0 == 0 && c1 == C) return *w;
    Tensor rows = tensor_reshape(*w, 3, (int64_t[]){K, C, kk});
    if (c0 > 0) {  // drop channels [0, c0): the second part of a split at c0
        Tensor rest = graph_tmp(g, 3, (int64_t[]){K, C - c0, kk});
        cmd_fill(g->cmd, &rest, 0.0f);
        op_concat_channels_backward(g->cmd, NULL, &rest, &rows);
        rows = rest;
    }
    if (c1 < C) {  // keep channels [c0, c1): the first part of a split
        Tensor first = graph_tmp(g, 3, (int64_t[]){K, c1 - c0, kk});
        cmd_fill(g->cmd, &first, 0.0f);
        op_concat_channels_backward(g->cmd, &first, NULL, &rows);
        rows = first;
    }
    return tensor_reshape(rows, 4, (int64_t[]){K, c1 - c0, w->shape[2], w->shape[3]});
}

// y = conv(x, w) + b (+ r): w [K, C, k, k], b [K]; r (may be y itself) has y's layout.
static void conv_pieces(Graph* g, const Tensor* w, const Tensor* b, int stride, int pad, const Pieces* y,
                        const Pieces* x, const Pieces* r) {
    int64_t C = w->shape[1], k = w->shape[2];
    if (x->C != C || y->C != w->shape[0]) die("vae: conv of %lld -> %lld channels on %lld -> %lld", (long long)C,
                                              (long long)w->shape[0], (long long)x->C, (long long)y->C);
    for (int o = 0; o < y->n; o++) {
        int64_t k0 = y->c0[o], K = y->c0[o + 1] - k0;
        Tensor wr = tensor_reshape(tensor_slice(*w, k0 * C * k * k, K * C * k * k), 4, (int64_t[]){K, C, k, k});
        Tensor br = tensor_slice(*b, k0, K);
        for (int i = 0; i < x->n; i++) {
            Tensor wb = weight_columns(g, &wr, x->c0[i], x->c0[i + 1]);
            Conv2dDims d = {.N = (int)x->N, .C = (int)(x->c0[i + 1] - x->c0[i]), .H = (int)x->H, .W = (int)x->W,
                            .K = (int)K, .KH = (int)k, .KW = (int)k, .stride = stride, .pad = pad};
            if (i > 0) op_conv2d_forward_add(g->cmd, &y->t[o], &x->t[i], &wb, NULL, &y->t[o], d);
            else if (r) op_conv2d_forward_add(g->cmd, &y->t[o], &x->t[i], &wb, &br, &r->t[o], d);
            else op_conv2d_forward(g->cmd, &y->t[o], &x->t[i], &wb, &br, d);
        }
    }
}

static void conv_layer(Graph* g, const Conv2d* c, const Pieces* y, const Pieces* x, const Pieces* r) {
    conv_pieces(g, P(g->ps, c->w), P(g->ps, c->b), c->stride, c->pad, y, x, r);
}

static Pieces resnet_forward(Graph* g, VaeScratch* s, const VaeResnet* r, const Pieces* x) {
    graph_tmp_reset(g);
    int G = r->norm1.G;
    Pieces h1 = tmp_pieces(g, s, G, x->N, x->C, x->H, x->W);
    norm_pieces(g, &r->norm1, &h1, x, ACT_SILU);
    int64_t K = r->conv2.cout;
    Pieces c1 = tmp_pieces(g, s, G, x->N, K, x->H, x->W);
    conv_layer(g, &r->conv1, &c1, &h1, NULL);
    Pieces h2 = tmp_pieces(g, s, G, x->N, K, x->H, x->W);
    norm_pieces(g, &r->norm2, &h2, &c1, ACT_SILU);
    Pieces out = carry_pieces(g, s, G, x->N, K, x->H, x->W);
    if (r->has_shortcut) {  // out = conv_shortcut(x) + conv2(h2)
        conv_layer(g, &r->conv_shortcut, &out, x, NULL);
        conv_layer(g, &r->conv2, &out, &h2, &out);
    } else {  // out = x + conv2(h2), the residual added as conv2 stores
        conv_layer(g, &r->conv2, &out, &h2, x);
    }
    return out;
}

// GroupNorm, then single-head attention over the H*W positions with all C channels
// (scale 1/sqrt(C)), the output projection, and the residual. At the lowest
// resolution of the model: one piece.
static Pieces attention_forward(Graph* g, VaeScratch* s, const VaeAttention* a, const Pieces* xp) {
    graph_tmp_reset(g);
    const Tensor* x = single(xp, "mid-block attention");
    int64_t N = x->shape[0], C = x->shape[1], T = x->shape[2] * x->shape[3];
    NormSaved ns;
    Tensor gn = groupnorm_forward(g, &a->group_norm, &ns, x, ACT_NONE);
    Tensor tok = graph_tmp(g, 3, (int64_t[]){N, T, C});
    op_nchw_to_tokens(g->cmd, &tok, &gn, false);
    Tensor q = linear_forward(g, &a->to_q, &tok), k = linear_forward(g, &a->to_k, &tok);
    Tensor v = linear_forward(g, &a->to_v, &tok);
    Tensor o = graph_tmp(g, 3, q.shape), lse = graph_tmp(g, 3, (int64_t[]){N, 1, T});
    op_attention_forward(g->cmd, &o, &lse, &q, &k, &v,
                         (AttnDims){.N = (int)N, .T = (int)T, .S = (int)T, .NH = 1, .HD = (int)C, .causal = false});
    Tensor po = linear_forward(g, &a->to_out, &o);
    Pieces out = carry_pieces(g, s, a->group_norm.G, N, C, x->shape[2], x->shape[3]);
    const Tensor* y = single(&out, "mid-block attention");
    op_tokens_to_nchw(g->cmd, y, &po, false);
    op_add(g->cmd, y, y, x);
    return out;
}

static Pieces mid_forward(Graph* g, VaeScratch* s, const VaeMidBlock* m, const Pieces* x) {
    Pieces h = resnet_forward(g, s, &m->res[0], x);
    if (m->has_attn) h = attention_forward(g, s, &m->attn, &h);
    return resnet_forward(g, s, &m->res[1], &h);
}

// Downsample2D(padding=0): F.pad(x, (0, 1, 0, 1)), then the 3x3 conv with stride 2.
// When the padded copy of x does not fit one binding (the SD encoder's first
// downsampler at 512 px: 128 x 513 x 513 floats > 128 MiB), the same values come
// from a 4x4 conv with padding 1 whose first kernel row and column are zero (it
// reads rows 2 oh - 1 .. 2 oh + 2 with the first one weighted 0, the rest with the
// 3x3 kernel), at 16/9 of the multiply-adds and no copy of x.
static Pieces downsample_forward(Graph* g, VaeScratch* s, const Conv2d* conv, int G, const Pieces* x) {
    graph_tmp_reset(g);
    int64_t N = x->N, C = x->C, H = x->H, W = x->W;
    Pieces out = carry_pieces(g, s, G, N, C, down_size(H), down_size(W));
    if (x->n == 1 && bytes_of(N, C, H + 1, W + 1) <= binding_limit(g, s)) {
        Pad2dDims pd = {.N = (int)N, .C = (int)C, .H = (int)H, .W = (int)W, .bottom = 1, .right = 1};
        Tensor padded = graph_tmp(g, 4, (int64_t[]){N, C, H + 1, W + 1});
        op_pad2d_forward(g->cmd, &padded, &x->t[0], pd);
        Pieces pp = whole(&padded);
        conv_layer(g, conv, &out, &pp, NULL);
        return out;
    }
    Tensor w4 = graph_tmp(g, 4, (int64_t[]){conv->cout, conv->cin, 4, 4});
    Pad2dDims wd = {.N = conv->cout, .C = conv->cin, .H = 3, .W = 3, .top = 1, .left = 1};
    op_pad2d_forward(g->cmd, &w4, P(g->ps, conv->w), wd);
    conv_pieces(g, &w4, P(g->ps, conv->b), 2, 1, &out, x, NULL);
    return out;
}

// Upsample2D: nearest 2x, then the conv.
static Pieces upsample_forward(Graph* g, VaeScratch* s, const Conv2d* conv, int G, const Pieces* x) {
    graph_tmp_reset(g);
    Pieces up = tmp_pieces(g, s, G, x->N, x->C, 2 * x->H, 2 * x->W);
    for (int o = 0; o < up.n; o++)  // the input pieces that overlap output piece o, range by range
        for (int i = 0; i < x->n; i++) {
            int64_t a = up.c0[o] > x->c0[i] ? up.c0[o] : x->c0[i];
            int64_t b = up.c0[o + 1] < x->c0[i + 1] ? up.c0[o + 1] : x->c0[i + 1];
            if (a >= b) continue;
            Tensor src = piece_range(x, i, a, b), dst = piece_range(&up, o, a, b);
            op_upsample2x_forward(g->cmd, &dst, &src);
        }
    Pieces out = carry_pieces(g, s, G, x->N, conv->cout, up.H, up.W);
    conv_layer(g, conv, &out, &up, NULL);
    return out;
}

static void see(int64_t* most, int64_t ch, int64_t h, int64_t w) {
    if (ch * h * w > *most) *most = ch * h * w;
}

// The largest activation of one image through the encoder (images H x W) or the
// decoder (latents H x W), in floats: what one binding must hold.
static int64_t max_floats_per_image(const VaeConfig* c, bool encoder, int64_t H, int64_t W) {
    int n = c->nblocks;
    int64_t most = (int64_t)(encoder ? c->in_channels : c->latent_channels) * H * W;
    if (encoder) {
        int prev = c->block_out_channels[0];
        for (int i = 0; i < n; i++) {
            int o = c->block_out_channels[i];
            see(&most, prev > o ? prev : o, H, W);
            if (i < n - 1) H = down_size(H), W = down_size(W);  // a padded copy only when it fits (downsample_forward)
            prev = o;
        }
        see(&most, 2 * c->latent_channels, H, W);
    } else {
        int prev = c->block_out_channels[n - 1];
        see(&most, prev, H, W);
        for (int i = 0; i < n; i++) {
            int o = c->block_out_channels[n - 1 - i];
            see(&most, prev > o ? prev : o, H, W);
            if (i < n - 1) {
                H *= 2, W *= 2;
                see(&most, o, H, W);  // the upsampled input of the upsampler's conv
            }
            prev = o;
        }
        see(&most, c->out_channels, H, W);
    }
    return most;
}

// Images per recorded group: as many as keep every activation within one binding;
// one when even a single image's do not (its activations then go in pieces).
static int64_t group_size(const Graph* g, const VaeScratch* s, const VaeConfig* c, bool encoder, int64_t N, int64_t H,
                          int64_t W) {
    uint64_t per = (uint64_t)max_floats_per_image(c, encoder, H, W) * sizeof(float);
    int64_t n = (int64_t)(binding_limit(g, s) / per);
    return n < 1 ? 1 : n < N ? n : N;
}

static Tensor batch_rows(const Tensor* t, int64_t n0, int64_t nb) {
    int64_t per = tensor_numel(t) / t->shape[0];
    return tensor_reshape(tensor_slice(*t, n0 * per, nb * per), 4,
                          (int64_t[]){nb, t->shape[1], t->shape[2], t->shape[3]});
}

static void check_graph(const Graph* g, const char* what) {
    if (g->training) die("%s: the VAE is frozen: record it with training = false", what);
    if (!g->tmp) die("%s: the graph needs a tmp arena", what);
}

static void check_nchw(const char* what, const char* name, const Tensor* t, int64_t N, int64_t C, int64_t H, int64_t W) {
    if (t->ndim != 4 || t->shape[0] != N || t->shape[1] != C || t->shape[2] != H || t->shape[3] != W)
        die("%s: %s must be [%lld, %lld, %lld, %lld]", what, name, (long long)N, (long long)C, (long long)H, (long long)W);
}

// Output channels [k0, k0 + K) of a conv: its weight and bias rows.
static void conv_rows(const ParamStore* ps, const Conv2d* c, int k0, int K, Tensor* w, Tensor* b) {
    int64_t per = (int64_t)c->cin * c->k * c->k;
    *w = tensor_reshape(tensor_slice(*P(ps, c->w), k0 * per, K * per), 4, (int64_t[]){K, c->cin, c->k, c->k});
    *b = tensor_slice(*P(ps, c->b), k0, K);
}

static void encode_group(Graph* g, const AutoencoderKL* m, VaeScratch* s, const Tensor* x, const Tensor* mean,
                         const Tensor* logvar) {
    const VaeConfig* c = &m->cfg;
    const VaeEncoder* e = &m->enc;
    int L = c->latent_channels, G = c->norm_num_groups;
    graph_tmp_reset(g);
    Pieces xin = whole(x);
    Pieces h = carry_pieces(g, s, G, x->shape[0], c->block_out_channels[0], x->shape[2], x->shape[3]);
    conv_layer(g, &e->conv_in, &h, &xin, NULL);
    for (int i = 0; i < c->nblocks; i++) {
        for (int j = 0; j < c->layers_per_block; j++) h = resnet_forward(g, s, &e->res[i][j], &h);
        if (i < c->nblocks - 1) h = downsample_forward(g, s, &e->down[i], G, &h);
    }
    h = mid_forward(g, s, &e->mid, &h);
    graph_tmp_reset(g);
    Pieces hn = tmp_pieces(g, s, G, h.N, h.C, h.H, h.W);
    norm_pieces(g, &e->conv_norm_out, &hn, &h, ACT_SILU);
    // The moments [N, 2L, h, w] split into mean (channels 0..L-1) and logvar: the
    // last conv (quant_conv, else conv_out) is recorded as two convs over its
    // output-channel halves, which computes the same values without the split.
    const Conv2d* last = c->use_quant_conv ? &m->quant_conv : &e->conv_out;
    Pieces in = hn;
    if (c->use_quant_conv) {
        in = tmp_pieces(g, s, G, h.N, 2 * L, h.H, h.W);
        conv_layer(g, &e->conv_out, &in, &hn, NULL);
    }
    Tensor w, b;
    Pieces pm = whole(mean), pl = whole(logvar);
    conv_rows(g->ps, last, 0, L, &w, &b);
    conv_pieces(g, &w, &b, last->stride, last->pad, &pm, &in, NULL);
    conv_rows(g->ps, last, L, L, &w, &b);
    conv_pieces(g, &w, &b, last->stride, last->pad, &pl, &in, NULL);
    op_clamp_forward(g->cmd, logvar, logvar, -30.0f, 20.0f);  // DiagonalGaussianDistribution
}

void vae_encode(Graph* g, const AutoencoderKL* m, VaeScratch* s, const Tensor* x, const Tensor* mean,
                const Tensor* logvar) {
    const char* what = "vae_encode";
    const VaeConfig* c = &m->cfg;
    check_graph(g, what);
    if (x->ndim != 4 || x->shape[1] != c->in_channels)
        die("%s: images must be [N, %d, H, W], got %d dimensions with %lld channels", what, c->in_channels, x->ndim,
            x->ndim > 1 ? (long long)x->shape[1] : 0LL);
    int64_t N = x->shape[0], H = x->shape[2], W = x->shape[3];
    int64_t h = vae_latent_size(c, H), w = vae_latent_size(c, W);
    if (h < 1 || w < 1)
        die("%s: %lldx%lld images are too small for %d downsamplers", what, (long long)H, (long long)W, c->nblocks - 1);
    check_nchw(what, "mean", mean, N, c->latent_channels, h, w);
    check_nchw(what, "logvar", logvar, N, c->latent_channels, h, w);
    int64_t nb = group_size(g, s, c, true, N, H, W);
    for (int64_t n0 = 0; n0 < N; n0 += nb) {
        int64_t k = N - n0 < nb ? N - n0 : nb;
        Tensor xs = batch_rows(x, n0, k), ms = batch_rows(mean, n0, k), ls = batch_rows(logvar, n0, k);
        encode_group(g, m, s, &xs, &ms, &ls);
    }
    graph_tmp_reset(g);
}

static void decode_group(Graph* g, const AutoencoderKL* m, VaeScratch* s, const Tensor* z, const Tensor* image) {
    const VaeConfig* c = &m->cfg;
    const VaeDecoder* d = &m->dec;
    int n = c->nblocks, G = c->norm_num_groups;
    graph_tmp_reset(g);
    Pieces in = whole(z);
    if (c->use_post_quant_conv) {
        Tensor pq = graph_tmp(g, 4, z->shape);
        Pieces pp = whole(&pq);
        conv_layer(g, &m->post_quant_conv, &pp, &in, NULL);
        in = pp;
    }
    Pieces h = carry_pieces(g, s, G, z->shape[0], c->block_out_channels[n - 1], z->shape[2], z->shape[3]);
    conv_layer(g, &d->conv_in, &h, &in, NULL);
    h = mid_forward(g, s, &d->mid, &h);
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < c->layers_per_block + 1; j++) h = resnet_forward(g, s, &d->res[i][j], &h);
        if (i < n - 1) h = upsample_forward(g, s, &d->up[i], G, &h);
    }
    graph_tmp_reset(g);
    Pieces hn = tmp_pieces(g, s, G, h.N, h.C, h.H, h.W), out = whole(image);
    norm_pieces(g, &d->conv_norm_out, &hn, &h, ACT_SILU);
    conv_layer(g, &d->conv_out, &out, &hn, NULL);
}

void vae_decode(Graph* g, const AutoencoderKL* m, VaeScratch* s, const Tensor* z, const Tensor* image) {
    const char* what = "vae_decode";
    const VaeConfig* c = &m->cfg;
    check_graph(g, what);
    if (z->ndim != 4 || z->shape[1] != c->latent_channels)
        die("%s: latents must be [N, %d, h, w], got %d dimensions with %lld channels", what, c->latent_channels, z->ndim,
            z->ndim > 1 ? (long long)z->shape[1] : 0LL);
    int64_t N = z->shape[0], h = z->shape[2], w = z->shape[3];
    check_nchw(what, "image", image, N, c->out_channels, vae_image_size(c, h), vae_image_size(c, w));
    int64_t nb = group_size(g, s, c, false, N, h, w);
    for (int64_t n0 = 0; n0 < N; n0 += nb) {
        int64_t k = N - n0 < nb ? N - n0 : nb;
        Tensor zs = batch_rows(z, n0, k), is = batch_rows(image, n0, k);
        decode_group(g, m, s, &zs, &is);
    }
    graph_tmp_reset(g);
}
