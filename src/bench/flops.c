// flops.c: see flops.h. The walk mirrors unet_init / unet_forward (model/unet.c)
// and clip_forward (model/clip.c) block by block.
#include "bench/flops.h"

double flops_total(FlopCount f) { return f.conv + f.linear + f.attention; }

FlopCount flops_add(FlopCount a, FlopCount b) {
    return (FlopCount){a.conv + b.conv, a.linear + b.linear, a.attention + b.attention};
}

FlopCount flops_scale(FlopCount a, double s) { return (FlopCount){a.conv * s, a.linear * s, a.attention * s}; }

// 2 N Cout H W Cin K K: output H x W.
static double conv(double n, int cin, int cout, int h, int k) { return 2.0 * n * cout * (double)h * h * cin * k * k; }
// rows x in -> rows x out.
static double linear(double rows, int in, int out) { return 2.0 * rows * in * out; }

// ResnetBlock2D at resolution h: conv1, time_emb_proj (per sample), conv2, 1x1 shortcut when cin != cout.
static void resnet(FlopCount* f, double n, int cin, int cout, int h, int temb) {
    f->conv += conv(n, cin, cout, h, 3) + conv(n, cout, cout, h, 3);
    if (cin != cout) f->conv += conv(n, cin, cout, h, 1);
    f->linear += linear(n, temb, cout);
}

// Transformer2DModel with one BasicTransformerBlock on t = h x h tokens of width c:
// proj_in, self-attention (q, k, v, out), cross-attention (q and out on the
// image tokens, k and v on the l text tokens of width x), GEGLU feed-forward
// (c -> 8c, 4c -> c), proj_out.
static void transformer(FlopCount* f, double n, int c, int h, int x, int l) {
    double t = (double)h * h;
    f->linear += linear(n * t, c, c) * 2;                            // proj_in, proj_out
    f->linear += linear(n * t, c, c) * 4;                            // attn1 q, k, v, out
    f->linear += linear(n * t, c, c) * 2 + linear(n * l, x, c) * 2;  // attn2 q, out; k, v
    f->linear += linear(n * t, c, 8 * c) + linear(n * t, 4 * c, c);  // ff
    f->attention += 4.0 * n * t * t * c + 4.0 * n * t * l * c;
}

FlopCount flops_unet_forward(const UNetConfig* c, int64_t rows, int text_len) {
    FlopCount f = {0};
    double n = (double)rows;
    int S = c->sample_size, C0 = c->block_out_channels[0], temb = unet_time_embed_dim(c), X = c->cross_attention_dim;
    f.linear += linear(n, C0, temb) + linear(n, temb, temb);
    f.conv += conv(n, c->in_channels, C0, S, 3);
    int out_ch = C0, h = S;
    for (int i = 0; i < c->nblocks; i++) {
        int in_ch = out_ch;
        out_ch = c->block_out_channels[i];
        for (int j = 0; j < c->layers_per_block; j++) {
            resnet(&f, n, j == 0 ? in_ch : out_ch, out_ch, h, temb);
            if (c->down[i] == BLOCK_CROSS_ATTN) transformer(&f, n, out_ch, h, X, text_len);
        }
        if (i < c->nblocks - 1) h = (h + 1) / 2, f.conv += conv(n, out_ch, out_ch, h, 3);  // stride 2
    }
    int Cm = c->block_out_channels[c->nblocks - 1];
    resnet(&f, n, Cm, Cm, h, temb);
    transformer(&f, n, Cm, h, X, text_len);
    resnet(&f, n, Cm, Cm, h, temb);
    int prev_out = Cm;
    for (int i = 0; i < c->nblocks; i++) {
        int ri = c->nblocks - 1 - i, o = c->block_out_channels[ri];
        int in_ch = c->block_out_channels[ri > 0 ? ri - 1 : 0];
        for (int j = 0; j < c->layers_per_block + 1; j++) {
            int skip_ch = j == c->layers_per_block ? in_ch : o, res_in = j == 0 ? prev_out : o;
            resnet(&f, n, res_in + skip_ch, o, h, temb);
            if (c->up[i] == BLOCK_CROSS_ATTN) transformer(&f, n, o, h, X, text_len);
        }
        if (i < c->nblocks - 1) h *= 2, f.conv += conv(n, o, o, h, 3);  // after the nearest 2x
        prev_out = o;
    }
    f.conv += conv(n, C0, c->out_channels, S, 3);
    return f;
}

FlopCount flops_clip_forward(const ClipConfig* c, int64_t rows, int text_len) {
    FlopCount f = {0};
    double tok = (double)rows * text_len;
    int D = c->hidden_size, I = c->intermediate_size;
    for (int l = 0; l < c->num_hidden_layers; l++) {
        f.linear += linear(tok, D, D) * 4 + linear(tok, D, I) + linear(tok, I, D);
        f.attention += 4.0 * tok * text_len * D;
    }
    return f;
}
