// layers.c: see layers.h.
#include "model/layers.h"

#include "model/lora.h"
#include "util/check.h"

static const Tensor* grad_or_null(Graph* g, int i) {
    return i >= 0 && g->ps->has_grad && g->ps->e[i].trainable ? &g->ps->e[i].grad : NULL;
}
static const Tensor* value_or_null(Graph* g, int i) { return i >= 0 ? &g->ps->e[i].value : NULL; }

// A discarded norm parameter gradient of n elements: part 0 or 1 of the frozen sink
// (part 1 starts on a 256-byte boundary).
static Tensor frozen_grad(Graph* g, int64_t n, int part, const char* what) {
    if (!g->frozen_sink) die("%s with frozen weights needs Graph.frozen_sink", what);
    int64_t start = part ? (n + 63) / 64 * 64 : 0;
    if (start + n > tensor_numel(g->frozen_sink)) die("%s: the frozen sink is too small", what);
    return tensor_slice(*g->frozen_sink, start, n);
}

// ---------------------------------------------------------------------------

void linear_init(Linear* l, ParamStore* ps, const char* prefix, int in, int out, bool bias) {
    char p[PARAM_NAME_MAX];
    snprintf(p, sizeof p, "%s", prefix);
    l->in = in, l->out = out;
    l->w = param_add(ps, p, "weight", 2, (int64_t[]){out, in}, INIT_UNIFORM_FAN_IN);
    ps->e[l->w].adaptable = true;
    l->b = bias ? param_add(ps, p, "bias", 1, (int64_t[]){out}, INIT_UNIFORM_FAN_IN) : -1;
}

static int64_t rows_of(const Tensor* x, int64_t width, const char* what) {
    int64_t n = tensor_numel(x);
    if (x->shape[x->ndim - 1] != width) die("%s: last dimension %lld, expected %lld", what, (long long)x->shape[x->ndim - 1], (long long)width);
    return n / width;
}

// PEFT's lora_dropout: the adapter reads dropout(x) while training (Graph.lora_dropout).
static bool lora_drops(const Graph* g, const LoraSet* s) { return g->lora_dropout && s->dropout > 0; }
static DropoutDims lora_dropout_dims(const LoraSet* s, const LoraAdapter* a, bool accumulate) {
    return (DropoutDims){.p = s->dropout, .module = (uint32_t)(a - s->ad), .accumulate = accumulate};
}
// The adapter's input: x, or its dropout into a temporary.
static Tensor lora_input(Graph* g, const LoraSet* s, const LoraAdapter* a, const Tensor* x) {
    if (!lora_drops(g, s)) return *x;
    Tensor xd = graph_tmp(g, x->ndim, x->shape);
    op_dropout(g->cmd, &xd, x, s->dropout_key, lora_dropout_dims(s, a, false));
    return xd;
}
// Where the adapter's input gradient goes: dx itself, or (dropout) a zeroed
// buffer that lora_input_grad_done routes through the same mask into dx.
static const Tensor* lora_input_grad(Graph* g, const Tensor* dx, Tensor* buf) {
    if (!dx || !lora_drops(g, g->lora)) return dx;
    *buf = graph_grad_like(g, dx);
    return buf;
}
static void lora_input_grad_done(Graph* g, const LoraAdapter* a, const Tensor* dx, const Tensor* got) {
    if (got != dx) op_dropout(g->cmd, dx, got, g->lora->dropout_key, lora_dropout_dims(g->lora, a, true));
}

// y += scale B (A x): t [R, r] = x A^T, then y += scale t B^T (two products, no new kernel).
static void lora_forward_add(Graph* g, const LoraSet* s, const LoraAdapter* a, const Tensor* y, const Tensor* x,
                             int64_t R) {
    const ParamStore* lp = &s->ps;
    Tensor xd = lora_input(g, s, a, x);
    Tensor t = graph_tmp(g, 2, (int64_t[]){R, a->rank});
    op_matmul(g->cmd, &t, &xd, P(lp, a->a), NULL,
              (MatmulDims){.batch = 1, .M = R, .N = a->rank, .K = a->in, .trans_b = true, .alpha = 1});
    op_matmul(g->cmd, y, &t, P(lp, a->b), NULL,
              (MatmulDims){.batch = 1, .M = R, .N = a->out, .K = a->rank, .trans_b = true,
                           .alpha = lora_scale(s, a), .accumulate = true});
}

void linear_forward_to(Graph* g, const Linear* l, const Tensor* y, const Tensor* x) {
    int64_t R = rows_of(x, l->in, "linear_forward");
    op_linear_forward(g->cmd, y, x, P(g->ps, l->w), value_or_null(g, l->b));
    for (const LoraSet* s = g->lora; s; s = s->next) {
        const LoraAdapter* a = lora_find(s, l->w);
        if (a) lora_forward_add(g, s, a, y, x, R);
    }
}

// The adapter's part of the backward, xd = dropout(x) (or x) and t = xd A^T
// recomputed (R x in x r: cheap):
//   dt = scale dy B;  dB += scale dy^T t;  dA += dt^T xd;  dx += mask (dt A).
static void lora_backward(Graph* g, const LoraAdapter* a, const Tensor* dx, const Tensor* dy, const Tensor* x,
                          int64_t R) {
    const ParamStore* lp = &g->lora->ps;
    if (!lp->has_grad || g->lora->next) die("linear_backward: the LoRA store has no gradients or is not alone");
    float scale = lora_scale(g->lora, a);
    Tensor xd = lora_input(g, g->lora, a, x), dxd;
    Tensor t = graph_tmp(g, 2, (int64_t[]){R, a->rank}), dt = graph_tmp(g, 2, (int64_t[]){R, a->rank});
    op_matmul(g->cmd, &t, &xd, P(lp, a->a), NULL,
              (MatmulDims){.batch = 1, .M = R, .N = a->rank, .K = a->in, .trans_b = true, .alpha = 1});
    op_matmul(g->cmd, &dt, dy, P(lp, a->b), NULL,
              (MatmulDims){.batch = 1, .M = R, .N = a->rank, .K = a->out, .alpha = scale});
    op_matmul(g->cmd, G(lp, a->b), dy, &t, NULL,
              (MatmulDims){.batch = 1, .M = a->out, .N = a->rank, .K = R, .trans_a = true, .alpha = scale,
                           .accumulate = true});
    op_matmul(g->cmd, G(lp, a->a), &dt, &xd, NULL,
              (MatmulDims){.batch = 1, .M = a->rank, .N = a->in, .K = R, .trans_a = true, .alpha = 1,
                           .accumulate = true});
    const Tensor* dxa = lora_input_grad(g, dx, &dxd);
    if (dxa)
        op_matmul(g->cmd, dxa, &dt, P(lp, a->a), NULL,
                  (MatmulDims){.batch = 1, .M = R, .N = a->in, .K = a->rank, .alpha = 1, .accumulate = true});
    lora_input_grad_done(g, a, dx, dxa);
}

Tensor linear_forward(Graph* g, const Linear* l, const Tensor* x) {
    int64_t shape[4];
    for (int i = 0; i < x->ndim; i++) shape[i] = x->shape[i];
    shape[x->ndim - 1] = l->out;
    Tensor y = graph_tmp(g, x->ndim, shape);
    linear_forward_to(g, l, &y, x);
    return y;
}

void linear_backward(Graph* g, const Linear* l, const Tensor* dx, const Tensor* dy, const Tensor* x) {
    const Tensor* dw = grad_or_null(g, l->w);
    const LoraAdapter* a = lora_find(g->lora, l->w);
    if (a) lora_backward(g, a, dx, dy, x, rows_of(dy, l->out, "linear_backward"));
    if (!dw && !dx) return;
    if (!dw) {  // frozen weights: only the input gradient, dx += dy W
        int64_t R = rows_of(dy, l->out, "linear_backward");
        op_matmul(g->cmd, dx, dy, P(g->ps, l->w), NULL,
                  (MatmulDims){.batch = 1, .M = R, .N = l->in, .K = l->out, .alpha = 1, .accumulate = true});
        return;
    }
    op_linear_backward(g->cmd, dx, dw, grad_or_null(g, l->b), dy, x, P(g->ps, l->w));
}

// ---------------------------------------------------------------------------

void conv2d_init(Conv2d* c, ParamStore* ps, const char* prefix, int cin, int cout, int k, int stride, int pad) {
    c->cin = cin, c->cout = cout, c->k = k, c->stride = stride, c->pad = pad;
    c->w = param_add(ps, prefix, "weight", 4, (int64_t[]){cout, cin, k, k}, INIT_UNIFORM_FAN_IN);
    ps->e[c->w].adaptable = true;
    c->b = param_add(ps, prefix, "bias", 1, (int64_t[]){cout}, INIT_UNIFORM_FAN_IN);
}

static Conv2dDims conv_dims(const Conv2d* c, const Tensor* x) {
    if (x->ndim != 4 || x->shape[1] != c->cin) die("conv2d: input with %lld channels, expected %d", (long long)x->shape[1], c->cin);
    return (Conv2dDims){.N = (int)x->shape[0], .C = c->cin, .H = (int)x->shape[2], .W = (int)x->shape[3],
                        .K = c->cout, .KH = c->k, .KW = c->k, .stride = c->stride, .pad = c->pad};
}

int64_t conv2d_out_size(const Conv2d* c, int64_t in) { return (in + 2 * c->pad - c->k) / c->stride + 1; }

// The adapter's two convolutions: A like the base (stride, padding) to r
// channels, B 1x1 back to cout; t = A * x [N, r, OH, OW].
static Conv2dDims lora_down_dims(const Conv2d* c, const LoraAdapter* a, const Tensor* x) {
    Conv2dDims d = conv_dims(c, x);
    d.K = a->rank;
    return d;
}
static Conv2dDims lora_up_dims(const LoraAdapter* a, const Tensor* t) {
    return (Conv2dDims){.N = (int)t->shape[0], .C = a->rank, .H = (int)t->shape[2], .W = (int)t->shape[3],
                        .K = a->out, .KH = 1, .KW = 1, .stride = 1, .pad = 0};
}
// t = A * xd, xd = dropout(x) or x.
static Tensor lora_conv_down(Graph* g, const LoraSet* s, const Conv2d* c, const LoraAdapter* a, const Tensor* x) {
    Tensor t = graph_tmp(g, 4, (int64_t[]){x->shape[0], a->rank, conv2d_out_size(c, x->shape[2]),
                                           conv2d_out_size(c, x->shape[3])});
    op_conv2d_forward(g->cmd, &t, x, P(&s->ps, a->a), NULL, lora_down_dims(c, a, x));
    return t;
}

// y += scale B * (A * x) for each set's adapter on c.
static void lora_conv_forward_add(Graph* g, const Conv2d* c, const Tensor* y, const Tensor* x) {
    for (const LoraSet* s = g->lora; s; s = s->next) {
        const LoraAdapter* a = lora_find(s, c->w);
        if (!a) continue;
        Tensor xd = lora_input(g, s, a, x);
        Tensor t = lora_conv_down(g, s, c, a, &xd), u = graph_tmp(g, 4, y->shape);
        op_conv2d_forward(g->cmd, &u, &t, P(&s->ps, a->b), NULL, lora_up_dims(a, &t));
        op_accumulate(g->cmd, y, &u, lora_scale(s, a));
    }
}

// xd and t recomputed; du = scale dy; dt, dB from the 1x1 convolution; dA and
// (through the mask) dx from A's.
static void lora_conv_backward(Graph* g, const Conv2d* c, const LoraAdapter* a, const Tensor* dx, const Tensor* dy,
                               const Tensor* x) {
    const ParamStore* lp = &g->lora->ps;
    if (!lp->has_grad || g->lora->next) die("conv2d_backward: the LoRA store has no gradients or is not alone");
    Tensor xd = lora_input(g, g->lora, a, x), dxd;
    Tensor t = lora_conv_down(g, g->lora, c, a, &xd), du = graph_tmp(g, 4, dy->shape);
    op_scale(g->cmd, &du, dy, lora_scale(g->lora, a));
    Tensor dt = graph_grad_like(g, &t);
    op_conv2d_backward(g->cmd, &dt, G(lp, a->b), NULL, &du, &t, P(lp, a->b), lora_up_dims(a, &t));
    const Tensor* dxa = lora_input_grad(g, dx, &dxd);
    op_conv2d_backward(g->cmd, dxa, G(lp, a->a), NULL, &dt, &xd, P(lp, a->a), lora_down_dims(c, a, &xd));
    lora_input_grad_done(g, a, dx, dxa);
}

void conv2d_forward_to(Graph* g, const Conv2d* c, const Tensor* y, const Tensor* x) {
    op_conv2d_forward(g->cmd, y, x, P(g->ps, c->w), P(g->ps, c->b), conv_dims(c, x));
    lora_conv_forward_add(g, c, y, x);
}

void conv2d_forward_add_to(Graph* g, const Conv2d* c, const Tensor* y, const Tensor* x, const Tensor* residual) {
    op_conv2d_forward_add(g->cmd, y, x, P(g->ps, c->w), P(g->ps, c->b), residual, conv_dims(c, x));
    lora_conv_forward_add(g, c, y, x);
}

static Tensor conv2d_output(Graph* g, const Conv2d* c, const Tensor* x) {
    return graph_tmp(g, 4, (int64_t[]){x->shape[0], c->cout, conv2d_out_size(c, x->shape[2]),
                                       conv2d_out_size(c, x->shape[3])});
}

Tensor conv2d_forward(Graph* g, const Conv2d* c, const Tensor* x) {
    Tensor y = conv2d_output(g, c, x);
    conv2d_forward_to(g, c, &y, x);
    return y;
}

Tensor conv2d_forward_add_channel(Graph* g, const Conv2d* c, const Tensor* x, const Tensor* t) {
    Tensor y = conv2d_output(g, c, x);
    op_conv2d_forward_add_channel(g->cmd, &y, x, P(g->ps, c->w), P(g->ps, c->b), t, conv_dims(c, x));
    lora_conv_forward_add(g, c, &y, x);
    return y;
}

void conv2d_backward(Graph* g, const Conv2d* c, const Tensor* dx, const Tensor* dy, const Tensor* x) {
    const Tensor* dw = grad_or_null(g, c->w);
    const LoraAdapter* a = lora_find(g->lora, c->w);
    if (a) lora_conv_backward(g, c, a, dx, dy, x);
    if (!dw && !dx) return;
    // A frozen weight (dw NULL) gets no weight-gradient pass: only dx is computed.
    op_conv2d_backward(g->cmd, dx, dw, dw ? grad_or_null(g, c->b) : NULL, dy, x, P(g->ps, c->w), conv_dims(c, x));
}

// ---------------------------------------------------------------------------

void groupnorm_init(GroupNorm* n, ParamStore* ps, const char* prefix, int C, int G, float eps) {
    if (C % G) die("%s: %d channels do not split into %d groups (norm_num_groups)", prefix, C, G);
    n->C = C, n->G = G, n->eps = eps;
    n->w = param_add(ps, prefix, "weight", 1, (int64_t[]){C}, INIT_ONE);
    n->b = param_add(ps, prefix, "bias", 1, (int64_t[]){C}, INIT_ZERO);
}

Tensor groupnorm_forward(Graph* g, const GroupNorm* n, NormSaved* s, const Tensor* x, Activation act) {
    int64_t N = x->shape[0];
    s->mean = graph_tmp(g, 2, (int64_t[]){N, n->G});
    s->rstd = graph_tmp(g, 2, (int64_t[]){N, n->G});
    Tensor y = graph_tmp(g, x->ndim, x->shape);
    op_groupnorm_forward(g->cmd, &y, &s->mean, &s->rstd, x, P(g->ps, n->w), P(g->ps, n->b), n->G, n->eps, act);
    return y;
}

void groupnorm_backward(Graph* g, const GroupNorm* n, const NormSaved* s, const Tensor* dx, const Tensor* dy,
                        const Tensor* x, Activation act) {
    bool frozen = !grad_or_null(g, n->w);
    if (frozen && !dx) return;
    Tensor dg = frozen ? frozen_grad(g, n->C, 0, "groupnorm_backward") : *G(g->ps, n->w);
    Tensor db = frozen ? frozen_grad(g, n->C, 1, "groupnorm_backward") : *G(g->ps, n->b);
    op_groupnorm_backward(g->cmd, dx, &dg, &db, dy, x, &s->mean, &s->rstd, P(g->ps, n->w),
                          P(g->ps, n->b), n->G, act);
}

void layernorm_init(LayerNorm* n, ParamStore* ps, const char* prefix, int D, float eps) {
    n->D = D, n->eps = eps;
    n->w = param_add(ps, prefix, "weight", 1, (int64_t[]){D}, INIT_ONE);
    n->b = param_add(ps, prefix, "bias", 1, (int64_t[]){D}, INIT_ZERO);
}

Tensor layernorm_forward(Graph* g, const LayerNorm* n, NormSaved* s, const Tensor* x) {
    int64_t R = rows_of(x, n->D, "layernorm_forward");
    s->mean = graph_tmp(g, 1, (int64_t[]){R});
    s->rstd = graph_tmp(g, 1, (int64_t[]){R});
    Tensor y = graph_tmp(g, x->ndim, x->shape);
    op_layernorm_forward(g->cmd, &y, &s->mean, &s->rstd, x, P(g->ps, n->w), P(g->ps, n->b), n->eps);
    return y;
}

void layernorm_backward(Graph* g, const LayerNorm* n, const NormSaved* s, const Tensor* dx, const Tensor* dy,
                        const Tensor* x) {
    bool frozen = !grad_or_null(g, n->w);
    if (frozen && !dx) return;
    Tensor dg = frozen ? frozen_grad(g, n->D, 0, "layernorm_backward") : *G(g->ps, n->w);
    Tensor db = frozen ? frozen_grad(g, n->D, 1, "layernorm_backward") : *G(g->ps, n->b);
    op_layernorm_backward(g->cmd, dx, &dg, &db, dy, x, &s->mean, &s->rstd, P(g->ps, n->w));
}
