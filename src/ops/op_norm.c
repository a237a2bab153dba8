// op_norm.c: group norm (shaders/groupnorm_*.comp) and layer norm
// (shaders/layernorm_*.comp), forward and backward. Every kernel reads its
// inputs through texel views, 4 floats per texel where
// the layout allows, and reduces with block_sum (shaders/include/norm.glsl) in
// one of three modes chosen per device and block size (reduce_for).
// The parameter gradients come from their own kernels, parallel over channels /
// columns and looping over the batch, so they are deterministic without atomics
// or scratch memory; they only read what the data-gradient kernels read, so the
// two run without a barrier between them.
#include <stdint.h>

#include "ops/op_common.h"
#include "ops/ops.h"
#include "util/check.h"

// ---------------------------------------------------------------------------
// Bindings: operand()/tex()/sto() from op_common.h.


// 4 floats per texel when rows of `len` elements and every operand start on a texel.
static int vec_width(int64_t len, const Operand* const* ops, int n) {
    if (len % 4) return 1;
    for (int i = 0; i < n; i++)
        if (ops[i]->off % 4) return 1;
    return 4;
}

// Outputs must not overlap the inputs or each other (NULL entries are skipped).
static void check_disjoint(const char* op, const Tensor* const* outs, int nout, const Tensor* const* ins, int nin) {
    for (int i = 0; i < nout; i++) {
        if (!outs[i]) continue;
        for (int j = 0; j < nin; j++)
            if (ins[j] && tensors_overlap(outs[i], ins[j])) die("%s: output %d overlaps input %d", op, i, j);
        for (int j = i + 1; j < nout; j++)
            if (outs[j] && tensors_overlap(outs[i], outs[j])) die("%s: outputs %d and %d overlap", op, i, j);
    }
}

static void check_act(const char* op, Activation act) {
    if ((unsigned)act > ACT_NONE) die("%s: unknown activation %d", op, (int)act);
}

// Workgroups for `items` blocks (or workers), flat over a 2-D grid (x at most 65535).
static void dispatch_items(Cmd* c, ShaderId id, const uint32_t* spec, uint32_t nspec, const Bind* b, uint32_t nb,
                           const void* push, uint32_t push_size, int64_t items, Reduce r) {
    uint32_t gx, gy;
    grid_1d(div_up(items, r.per_workgroup), 1, &gx, &gy);
    cmd_dispatch(c, id, spec, nspec, b, nb, push, push_size, gx, gy, 1);
}

// ---------------------------------------------------------------------------
// Group norm.

typedef struct GnDims {
    int64_t N, C, HW;
    uint32_t G, CPG;
} GnDims;

static GnDims gn_dims(const char* op, const Tensor* x, int G) {
    if (x->ndim != 3 && x->ndim != 4) die("%s: x must be [N, C, HW] or [N, C, H, W], got %d dims", op, x->ndim);
    GnDims d = {.N = x->shape[0], .C = x->shape[1], .HW = x->shape[2] * (x->ndim == 4 ? x->shape[3] : 1)};
    if (G < 1 || d.C % G) die("%s: %lld channels do not split into %d groups", op, (long long)d.C, G);
    if (d.N < 1 || d.HW < 1) die("%s: empty input", op);
    if (tensor_numel(x) + 16 > (int64_t)UINT32_MAX) die("%s: x needs indices beyond 2^32", op);
    d.G = (uint32_t)G, d.CPG = (uint32_t)(d.C / G);
    return d;
}

#define GROUPNORM_FWD_PUSH(X)                                                     \
    X(uint32_t, groups) X(uint32_t, G) X(uint32_t, CPG) X(uint32_t, HWV)          \
    X(float, eps)                                                                 \
    X(uint32_t, off_x) X(uint32_t, off_g) X(uint32_t, off_b) X(uint32_t, off_y)   \
    X(uint32_t, off_mean) X(uint32_t, off_rstd)
PUSH_STRUCT(GroupNormFwdPush, GROUPNORM_FWD_PUSH)
SHADER_PUSH(groupnorm_fwd, GroupNormFwdPush)

void op_groupnorm_forward(Cmd* c, const Tensor* y, const Tensor* mean, const Tensor* rstd, const Tensor* x,
                          const Tensor* gamma, const Tensor* beta, int G, float eps, Activation act) {
    const char* op = "op_groupnorm_forward";
    c->label = op;
    GnDims d = gn_dims(op, x, G);
    check_act(op, act);
    check_numel(op, "y", y, tensor_numel(x));
    check_numel(op, "gamma", gamma, d.C);
    check_numel(op, "beta", beta, d.C);
    check_numel(op, "mean", mean, d.N * G);
    check_numel(op, "rstd", rstd, d.N * G);
    check_disjoint(op, (const Tensor*[]){y, mean, rstd}, 3, (const Tensor*[]){x, gamma, beta}, 3);

    Operand ox = tex(c, x), og = tex(c, gamma), ob = tex(c, beta), oy = sto(c, y), om = sto(c, mean), orr = sto(c, rstd);
    int vec = vec_width(d.HW, (const Operand*[]){&ox, &oy}, 2);
    uint32_t hwv = (uint32_t)(d.HW / vec);
    Reduce r = reduce_for(c->gpu, op, (int64_t)d.CPG * hwv, 3);  // mean, centred sums, apply
    GroupNormFwdPush push = {(uint32_t)(d.N * G), d.G, d.CPG, hwv, eps, ox.off, og.off, ob.off, oy.off, om.off, orr.off};
    Bind b[] = {bind_tex(&ox.view, vec), bind_tex(&og.view, 1), bind_tex(&ob.view, 1),
                bind_w(&oy.view), bind_w(&om.view), bind_w(&orr.view)};
    dispatch_items(c, SHADER_GROUPNORM_FWD, (uint32_t[]){r.wg, 1, 1, (uint32_t)vec, r.mode, (uint32_t)act}, 6, b, 6,
                   &push, sizeof push, d.N * G, r);
}

#define GROUPNORM_BWD_DATA_PUSH(X)                                                          \
    X(uint32_t, groups) X(uint32_t, G) X(uint32_t, CPG) X(uint32_t, HWV)                    \
    X(uint32_t, off_x) X(uint32_t, off_dy) X(uint32_t, off_mean) X(uint32_t, off_rstd)      \
    X(uint32_t, off_g) X(uint32_t, off_b) X(uint32_t, off_dx)
PUSH_STRUCT(GroupNormBwdDataPush, GROUPNORM_BWD_DATA_PUSH)
SHADER_PUSH(groupnorm_bwd_data, GroupNormBwdDataPush)

#define GROUPNORM_BWD_PARAM_PUSH(X)                                                         \
    X(uint32_t, N) X(uint32_t, C) X(uint32_t, G) X(uint32_t, CPG) X(uint32_t, HWV)          \
    X(uint32_t, off_x) X(uint32_t, off_dy) X(uint32_t, off_mean) X(uint32_t, off_rstd)      \
    X(uint32_t, off_g) X(uint32_t, off_b) X(uint32_t, off_dg) X(uint32_t, off_db)
PUSH_STRUCT(GroupNormBwdParamPush, GROUPNORM_BWD_PARAM_PUSH)
SHADER_PUSH(groupnorm_bwd_param, GroupNormBwdParamPush)

void op_groupnorm_backward(Cmd* c, const Tensor* dx, const Tensor* dgamma, const Tensor* dbeta, const Tensor* dy,
                           const Tensor* x, const Tensor* mean, const Tensor* rstd, const Tensor* gamma,
                           const Tensor* beta, int G, Activation act) {
    const char* op = "op_groupnorm_backward";
    c->label = op;
    GnDims d = gn_dims(op, x, G);
    check_act(op, act);
    if (!beta && act != ACT_NONE) die("%s: a fused activation needs beta to recompute its input", op);
    if (dx) check_numel(op, "dx", dx, tensor_numel(x));
    check_numel(op, "dy", dy, tensor_numel(x));
    check_numel(op, "dgamma", dgamma, d.C);
    check_numel(op, "dbeta", dbeta, d.C);
    check_numel(op, "gamma", gamma, d.C);
    if (beta) check_numel(op, "beta", beta, d.C);
    check_numel(op, "mean", mean, d.N * G);
    check_numel(op, "rstd", rstd, d.N * G);
    check_disjoint(op, (const Tensor*[]){dx, dgamma, dbeta}, 3, (const Tensor*[]){dy, x, mean, rstd, gamma, beta}, 6);

    // beta is only read with an activation; bind gamma in its place otherwise.
    Operand ox = tex(c, x), ody = tex(c, dy), om = tex(c, mean), orr = tex(c, rstd), og = tex(c, gamma),
            ob = tex(c, beta ? beta : gamma);
    Operand odx = dx ? sto(c, dx) : ox;
    int vec = vec_width(d.HW, (const Operand*[]){&ox, &ody, &odx}, 3);
    uint32_t hwv = (uint32_t)(d.HW / vec);
    Bind in[] = {bind_tex(&ox.view, vec), bind_tex(&ody.view, vec), bind_tex(&om.view, 1),
                 bind_tex(&orr.view, 1), bind_tex(&og.view, 1), bind_tex(&ob.view, 1)};

    Operand odg = sto(c, dgamma), odb = sto(c, dbeta);
    Reduce r = reduce_for(c->gpu, op, d.N * hwv, 1);
    GroupNormBwdParamPush pp = {(uint32_t)d.N, (uint32_t)d.C, d.G, d.CPG, hwv, ox.off, ody.off, om.off, orr.off,
                                og.off, ob.off, odg.off, odb.off};
    Bind bp[] = {in[0], in[1], in[2], in[3], in[4], in[5], bind_w(&odg.view), bind_w(&odb.view)};
    dispatch_items(c, SHADER_GROUPNORM_BWD_PARAM, (uint32_t[]){r.wg, 1, 1, (uint32_t)vec, r.mode, (uint32_t)act}, 6,
                   bp, 8, &pp, sizeof pp, d.C, r);

    if (!dx) return;
    r = reduce_for(c->gpu, op, (int64_t)d.CPG * hwv, 2);  // sums, then dx
    GroupNormBwdDataPush pd = {(uint32_t)(d.N * G), d.G, d.CPG, hwv, ox.off, ody.off, om.off, orr.off,
                               og.off, ob.off, odx.off};
    Bind bd[] = {in[0], in[1], in[2], in[3], in[4], in[5], bind_w(&odx.view)};
    dispatch_items(c, SHADER_GROUPNORM_BWD_DATA, (uint32_t[]){r.wg, 1, 1, (uint32_t)vec, r.mode, (uint32_t)act}, 6,
                   bd, 7, &pd, sizeof pd, d.N * G, r);
}

// ---------------------------------------------------------------------------
// Layer norm.

static void ln_dims(const char* op, const Tensor* x, int64_t* R, int64_t* D) {
    *D = x->shape[x->ndim - 1];
    if (*D < 1 || tensor_numel(x) < 1) die("%s: empty input", op);
    *R = tensor_numel(x) / *D;
    if (tensor_numel(x) + 16 > (int64_t)UINT32_MAX) die("%s: x needs indices beyond 2^32", op);
}

// Rows per worker (a workgroup on GPUs, an invocation on CPU drivers): one on
// GPUs; on CPU drivers as many as keep at least 256 workers (32 workgroups of 8
// for 2 threads), since each workgroup costs ~0.15 us there, and no more than
// the loop budget allows: a row costs `passes` sweeps over its DV texels.
static uint32_t ln_rows_per_worker(const GpuContext* g, int64_t R, int64_t DV, Reduce r, int passes) {
    if (g->tune.use_shared_memory || R < 512) return 1;
    int64_t rows = R / 256, per_row = passes * (div_up(DV, r.mode == REDUCE_INVOCATION ? 1 : r.wg) + 1) + 1;
    while (rows > 1 && !within_loop_budget(g, rows * per_row + 1)) rows /= 2;
    return (uint32_t)rows;
}

#define LAYERNORM_FWD_PUSH(X)                                                     \
    X(uint32_t, R) X(uint32_t, DV) X(uint32_t, RPW)                               \
    X(float, eps)                                                                 \
    X(uint32_t, off_x) X(uint32_t, off_g) X(uint32_t, off_b) X(uint32_t, off_y)   \
    X(uint32_t, off_mean) X(uint32_t, off_rstd)
PUSH_STRUCT(LayerNormFwdPush, LAYERNORM_FWD_PUSH)
SHADER_PUSH(layernorm_fwd, LayerNormFwdPush)

void op_layernorm_forward(Cmd* c, const Tensor* y, const Tensor* mean, const Tensor* rstd, const Tensor* x,
                          const Tensor* gamma, const Tensor* beta, float eps) {
    const char* op = "op_layernorm_forward";
    c->label = op;
    int64_t R, D;
    ln_dims(op, x, &R, &D);
    check_numel(op, "y", y, R * D);
    check_numel(op, "gamma", gamma, D);
    check_numel(op, "beta", beta, D);
    check_numel(op, "mean", mean, R);
    check_numel(op, "rstd", rstd, R);
    check_disjoint(op, (const Tensor*[]){y, mean, rstd}, 3, (const Tensor*[]){x, gamma, beta}, 3);

    Operand ox = tex(c, x), og = tex(c, gamma), ob = tex(c, beta), oy = sto(c, y), om = sto(c, mean), orr = sto(c, rstd);
    int vec = vec_width(D, (const Operand*[]){&ox, &og, &ob, &oy}, 4);
    uint32_t dv = (uint32_t)(D / vec);
    Reduce r = reduce_for(c->gpu, op, dv, 3);  // mean, centred sums, apply
    uint32_t rpw = ln_rows_per_worker(c->gpu, R, dv, r, 3);
    LayerNormFwdPush push = {(uint32_t)R, dv, rpw, eps, ox.off, og.off, ob.off, oy.off, om.off, orr.off};
    Bind b[] = {bind_tex(&ox.view, vec), bind_tex(&og.view, vec), bind_tex(&ob.view, vec),
                bind_w(&oy.view), bind_w(&om.view), bind_w(&orr.view)};
    dispatch_items(c, SHADER_LAYERNORM_FWD, (uint32_t[]){r.wg, 1, 1, (uint32_t)vec, r.mode}, 5, b, 6, &push,
                   sizeof push, div_up(R, rpw), r);
}

#define LAYERNORM_BWD_DATA_PUSH(X)                                                          \
    X(uint32_t, R) X(uint32_t, DV) X(uint32_t, RPW)                                         \
    X(uint32_t, off_x) X(uint32_t, off_dy) X(uint32_t, off_mean) X(uint32_t, off_rstd)      \
    X(uint32_t, off_g) X(uint32_t, off_dx)
PUSH_STRUCT(LayerNormBwdDataPush, LAYERNORM_BWD_DATA_PUSH)
SHADER_PUSH(layernorm_bwd_data, LayerNormBwdDataPush)

#define LAYERNORM_BWD_PARAM_PUSH(X)                                                         \
    X(uint32_t, R) X(uint32_t, DV)                                                          \
    X(uint32_t, off_x) X(uint32_t, off_dy) X(uint32_t, off_mean) X(uint32_t, off_rstd)      \
    X(uint32_t, off_dg) X(uint32_t, off_db)
PUSH_STRUCT(LayerNormBwdParamPush, LAYERNORM_BWD_PARAM_PUSH)
SHADER_PUSH(layernorm_bwd_param, LayerNormBwdParamPush)

void op_layernorm_backward(Cmd* c, const Tensor* dx, const Tensor* dgamma, const Tensor* dbeta, const Tensor* dy,
                           const Tensor* x, const Tensor* mean, const Tensor* rstd, const Tensor* gamma) {
    const char* op = "op_layernorm_backward";
    c->label = op;
    int64_t R, D;
    ln_dims(op, x, &R, &D);
    if (dx) check_numel(op, "dx", dx, R * D);
    check_numel(op, "dy", dy, R * D);
    check_numel(op, "dgamma", dgamma, D);
    check_numel(op, "dbeta", dbeta, D);
    check_numel(op, "gamma", gamma, D);
    check_numel(op, "mean", mean, R);
    check_numel(op, "rstd", rstd, R);
    check_disjoint(op, (const Tensor*[]){dx, dgamma, dbeta}, 3, (const Tensor*[]){dy, x, mean, rstd, gamma}, 5);

    Operand ox = tex(c, x), ody = tex(c, dy), om = tex(c, mean), orr = tex(c, rstd), og = tex(c, gamma);
    Operand odg = sto(c, dgamma), odb = sto(c, dbeta), odx = dx ? sto(c, dx) : ox;
    int vec = vec_width(D, (const Operand*[]){&ox, &ody, &og, &odg, &odb, &odx}, 6);
    uint32_t dv = (uint32_t)(D / vec);

    // Parameter gradients: WX column texels x WY row strides per workgroup (CPU
    // drivers: WY = 1, no barrier, unless the rows exceed the loop budget).
    bool gpu = c->gpu->tune.use_shared_memory;
    uint32_t wx = gpu ? 8 : c->gpu->subgroup_size;
    uint32_t wy = loop_ways(c->gpu, op, R, gpu ? 32 : 1, max_local_y(c->gpu, wx));
    LayerNormBwdParamPush pp = {(uint32_t)R, dv, ox.off, ody.off, om.off, orr.off, odg.off, odb.off};
    Bind bp[] = {bind_tex(&ox.view, vec), bind_tex(&ody.view, vec), bind_tex(&om.view, 1), bind_tex(&orr.view, 1),
                 bind_w(&odg.view), bind_w(&odb.view)};
    cmd_dispatch(c, SHADER_LAYERNORM_BWD_PARAM, (uint32_t[]){wx, wy, 1, (uint32_t)vec}, 4, bp, 6, &pp, sizeof pp,
                 div_up(dv, wx), 1, 1);

    if (!dx) return;
    Reduce r = reduce_for(c->gpu, op, dv, 2);  // sums, then dx
    uint32_t rpw = ln_rows_per_worker(c->gpu, R, dv, r, 2);
    LayerNormBwdDataPush pd = {(uint32_t)R, dv, rpw, ox.off, ody.off, om.off, orr.off, og.off, odx.off};
    Bind bd[] = {bind_tex(&ox.view, vec), bind_tex(&ody.view, vec), bind_tex(&om.view, 1), bind_tex(&orr.view, 1),
                 bind_tex(&og.view, vec), bind_w(&odx.view)};
    dispatch_items(c, SHADER_LAYERNORM_BWD_DATA, (uint32_t[]){r.wg, 1, 1, (uint32_t)vec, r.mode}, 5, bd, 6, &pd,
                   sizeof pd, div_up(R, rpw), r);
}
