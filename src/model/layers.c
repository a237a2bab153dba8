// layers.c: see layers.h.
#include "model/layers.h"

#include "util/check.h"

static const Tensor* grad_or_null(Graph* g, int i) {
    return i >= 0 && g->ps->has_grad && g->ps->e[i].trainable ? &g->ps->e[i].grad : NULL;
}
static const Tensor* value_or_null(Graph* g, int i) { return i >= 0 ? &g->ps->e[i].value : NULL; }

// ---------------------------------------------------------------------------

void linear_init(Linear* l, ParamStore* ps, const char* prefix, int in, int out, bool bias) {
    char p[PARAM_NAME_MAX];
    snprintf(p, sizeof p, "%s", prefix);
    l->in = in, l->out = out;
    l->w = param_add(ps, p, "weight", 2, (int64_t[]){out, in}, INIT_UNIFORM_FAN_IN);
    l->b = bias ? param_add(ps, p, "bias", 1, (int64_t[]){out}, INIT_UNIFORM_FAN_IN) : -1;
}

static int64_t rows_of(const Tensor* x, int64_t width, const char* what) {
    int64_t n = tensor_numel(x);
    if (x->shape[x->ndim - 1] != width) die("%s: last dimension %lld, expected %lld", what, (long long)x->shape[x->ndim - 1], (long long)width);
    return n / width;
}

void linear_forward_to(Graph* g, const Linear* l, const Tensor* y, const Tensor* x) {
    rows_of(x, l->in, "linear_forward");
    op_linear_forward(g->cmd, y, x, P(g->ps, l->w), value_or_null(g, l->b));
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
    c->b = param_add(ps, prefix, "bias", 1, (int64_t[]){cout}, INIT_UNIFORM_FAN_IN);
}

static Conv2dDims conv_dims(const Conv2d* c, const Tensor* x) {
    if (x->ndim != 4 || x->shape[1] != c->cin) die("conv2d: input with %lld channels, expected %d", (long long)x->shape[1], c->cin);
    return (Conv2dDims){.N = (int)x->shape[0], .C = c->cin, .H = (int)x->shape[2], .W = (int)x->shape[3],
                        .K = c->cout, .KH = c->k, .KW = c->k, .stride = c->stride, .pad = c->pad};
}

int64_t conv2d_out_size(const Conv2d* c, int64_t in) { return (in + 2 * c->pad - c->k) / c->stride + 1; }

void conv2d_forward_to(Graph* g, const Conv2d* c, const Tensor* y, const Tensor* x) {
    op_conv2d_forward(g->cmd, y, x, P(g->ps, c->w), P(g->ps, c->b), conv_dims(c, x));
}

void conv2d_forward_add_to(Graph* g, const Conv2d* c, const Tensor* y, const Tensor* x, const Tensor* residual) {
    op_conv2d_forward_add(g->cmd, y, x, P(g->ps, c->w), P(g->ps, c->b), residual, conv_dims(c, x));
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
    return y;
}

void conv2d_backward(Graph* g, const Conv2d* c, const Tensor* dx, const Tensor* dy, const Tensor* x) {
    const Tensor* dw = grad_or_null(g, c->w);
    if (!dw && !dx) return;
    if (!dw) die("conv2d_backward with frozen weights is not supported yet");
    op_conv2d_backward(g->cmd, dx, dw, grad_or_null(g, c->b), dy, x, P(g->ps, c->w), conv_dims(c, x));
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
    if (!grad_or_null(g, n->w)) die("groupnorm_backward with frozen weights is not supported yet");
    op_groupnorm_backward(g->cmd, dx, G(g->ps, n->w), G(g->ps, n->b), dy, x, &s->mean, &s->rstd, P(g->ps, n->w),
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
    if (!grad_or_null(g, n->w)) die("layernorm_backward with frozen weights is not supported yet");
    op_layernorm_backward(g->cmd, dx, G(g->ps, n->w), G(g->ps, n->b), dy, x, &s->mean, &s->rstd, P(g->ps, n->w));
}
