// graph.c: see graph.h.
#include "model/graph.h"

Tensor graph_act(Graph* g, int ndim, const int64_t* shape) { return arena_tensor(g->act, ndim, shape); }

Tensor graph_tmp(Graph* g, int ndim, const int64_t* shape) {
    return arena_tensor(g->training ? g->act : g->tmp, ndim, shape);
}

Tensor graph_grad(Graph* g, int ndim, const int64_t* shape) {
    Tensor t = arena_tensor(g->grad, ndim, shape);
    cmd_fill(g->cmd, &t, 0.0f);
    return t;
}

Tensor graph_grad_like(Graph* g, const Tensor* t) { return graph_grad(g, t->ndim, t->shape); }

void graph_tmp_reset(Graph* g) {
    if (!g->training && g->tmp) arena_reset(g->tmp);
}
