// op_layout.c: broadcast channel add, nearest 2x upsampling, channel concat,
// NCHW <-> token transposes, embedding lookup and the sinusoidal timestep
// embedding (shaders/add_channel_*.comp, upsample2x_*.comp, concat_*.comp,
// tokens_transpose.comp, embedding_*.comp, timestep_embed_*.comp; shared GLSL in
// shaders/include/layout.glsl).
//
// All memory-bound: one invocation per item of 4 floats where every operand
// starts on a 4-float boundary and the sizes allow it (inputs through RGBA32F
// texel views, vec4 stores: llvmpipe loads texels faster than storage floats), else per float. The
// index math has no runtime division (lesson 8): sizes that an index is divided by
// are specialization constants (a pipeline per model size, a handful in a UNet),
// or the grid carries the outer index in y / z.
#include <math.h>
#include <stdint.h>

#include "ops/op_common.h"
#include "ops/ops.h"
#include "util/check.h"

// ---------------------------------------------------------------------------
// Bindings: operand()/tex()/sto() from op_common.h.


// 4 floats per item when `sizes_ok` (every run an item must not straddle is a
// multiple of 4) and every operand starts on a 4-float boundary.
static uint32_t vec_width(bool sizes_ok, const Operand* const* ops, int n) {
    if (!sizes_ok) return 1;
    for (int i = 0; i < n; i++)
        if (ops[i]->off % 4) return 1;
    return 4;
}

static void check_disjoint(const char* op, const char* what_a, const Tensor* a, const char* what_b, const Tensor* b) {
    if (a && b && tensors_overlap(a, b)) die("%s: %s overlaps %s", op, what_a, what_b);
}

// Indices are 32-bit in the shaders.
static void check_u32(const char* op, int64_t elements) {
    if (elements + 16 > (int64_t)UINT32_MAX) die("%s: %lld elements need 64-bit indices", op, (long long)elements);
}

// Image dims of x [N, C, ...]: HW is everything after C.
typedef struct Img {
    int64_t N, C, HW;
} Img;

static Img img_dims(const char* op, const char* what, const Tensor* x) {
    if (x->ndim < 2) die("%s: %s must be [N, C, ...], got %d dims", op, what, x->ndim);
    Img d = {.N = x->shape[0], .C = x->shape[1]};
    if (d.N < 1 || d.C < 1 || tensor_numel(x) < 1) die("%s: %s is empty", op, what);
    d.HW = tensor_numel(x) / (d.N * d.C);
    check_u32(op, tensor_numel(x));
    return d;
}

// The flat kernels take FlatPush (op_common.h); one invocation per item.
SHADER_PUSH(add_channel_fwd, FlatPush)
SHADER_PUSH(upsample2x_fwd, FlatPush)
SHADER_PUSH(upsample2x_bwd, FlatPush)

static void dispatch_flat(Cmd* c, ShaderId id, const uint32_t* spec, uint32_t nspec, const Bind* b, uint32_t nb,
                          const FlatPush* push) {
    uint32_t gx, gy;
    grid_1d(push->n, spec[0], &gx, &gy);
    cmd_dispatch(c, id, spec, nspec, b, nb, push, sizeof *push, gx, gy, 1);
}

// ---------------------------------------------------------------------------
// Channel add

// Whether the bias is per (sample, channel) [N, C] rather than per channel [C].
static bool bias_per_n(const char* op, const char* what, const Tensor* b, Img d) {
    bool per_n = b->ndim == 2;
    if (per_n ? b->shape[0] != d.N || b->shape[1] != d.C : b->ndim != 1 || b->shape[0] != d.C)
        die("%s: %s must be [C] = [%lld] or [N, C] = [%lld, %lld]", op, what, (long long)d.C, (long long)d.N,
            (long long)d.C);
    return per_n;
}

void op_add_channel_forward(Cmd* c, const Tensor* y, const Tensor* x, const Tensor* b) {
    const char* op = "op_add_channel_forward";
    Img d = img_dims(op, "x", x);
    check_numel(op, "y", y, tensor_numel(x));
    bool per_n = bias_per_n(op, "b", b, d);
    bool inplace = y->buf == x->buf && y->offset == x->offset;
    if (!inplace) check_disjoint(op, "y", y, "x", x);
    check_disjoint(op, "y", y, "b", b);
    Operand ox = tex(c, x), ob = tex(c, b), oy = sto(c, y);
    uint32_t vec = vec_width(d.HW % 4 == 0, (const Operand*[]){&ox, &oy}, 2);
    uint32_t spec[] = {c->gpu->tune.wg_size, 1, 1, vec, (uint32_t)(d.HW / vec), (uint32_t)d.C, per_n};
    Bind bd[] = {bind_tex(&ox.view, (int)vec), bind_tex(&ob.view, 1), bind_w(&oy.view)};
    FlatPush push = {.n = (uint32_t)(tensor_numel(x) / vec), .off_in0 = ox.off, .off_in1 = ob.off, .off_out = oy.off};
    c->label = op;
    dispatch_flat(c, SHADER_ADD_CHANNEL_FWD, spec, 7, bd, 3, &push);
}

// Bias gradient: one reduction block per db entry (add_channel_bwd.comp); how a
// block is reduced follows op_norm.c's choice (norm.glsl REDUCE_* modes): on CPU
// drivers one invocation per block of at most 64 texels, else one subgroup per
// block with no barrier (a workgroup of several where the loop budget needs them);
// on GPUs one workgroup per block.
#define ADD_CHANNEL_BWD_PUSH(X)                                                               \
    X(uint32_t, nblocks) X(uint32_t, HWT) X(uint32_t, rows) X(uint32_t, row_stride) X(uint32_t, off_dy) \
    X(uint32_t, off_db)
PUSH_STRUCT(AddChannelBwdPush, ADD_CHANNEL_BWD_PUSH)
SHADER_PUSH(add_channel_bwd, AddChannelBwdPush)

void op_add_channel_backward(Cmd* c, const Tensor* dx, const Tensor* db, const Tensor* dy) {
    const char* op = "op_add_channel_backward";
    Img d = img_dims(op, "dy", dy);
    bool per_n = bias_per_n(op, "db", db, d);
    check_disjoint(op, "db", db, "dy", dy);
    check_disjoint(op, "db", db, "dx", dx);
    if (dx) op_accumulate(c, dx, dy, 1.0f);

    Operand ody = tex(c, dy), odb = sto(c, db);
    uint32_t vec = vec_width(d.HW % 4 == 0, (const Operand*[]){&ody}, 1);
    AddChannelBwdPush push = {.nblocks = (uint32_t)(per_n ? d.N * d.C : d.C), .HWT = (uint32_t)(d.HW / vec),
                              .rows = per_n ? 1 : (uint32_t)d.N, .row_stride = (uint32_t)(d.C * d.HW / vec),
                              .off_dy = ody.off, .off_db = odb.off};
    const GpuContext* g = c->gpu;
    // One sweep over HWT texels per row; CPU drivers: one invocation per block only
    // when the whole block (rows x HWT) is small.
    Reduce r = reduce_for(g, op, push.HWT, push.rows);
    if (!g->tune.use_shared_memory) {
        if ((int64_t)push.rows * push.HWT <= 64) r = (Reduce){REDUCE_INVOCATION, g->subgroup_size, g->subgroup_size};
        else if (r.mode == REDUCE_INVOCATION) r = (Reduce){REDUCE_SUBGROUP, g->subgroup_size, 1};  // fewer trips
    }
    uint32_t mode = r.mode, wg = r.wg, per_wg = r.per_workgroup;
    Bind bd[] = {bind_tex(&ody.view, (int)vec), bind_w(&odb.view)};
    uint32_t gx, gy;
    grid_1d(div_up(push.nblocks, per_wg), 1, &gx, &gy);
    c->label = op;
    cmd_dispatch(c, SHADER_ADD_CHANNEL_BWD, (uint32_t[]){wg, 1, 1, vec, mode}, 5, bd, 2, &push, sizeof push, gx, gy, 1);
}

// ---------------------------------------------------------------------------
// Nearest 2x upsampling: the kernels get the input width W as a spec constant.

static void upsample_dispatch(Cmd* c, const char* op, ShaderId id, const Tensor* small, const Tensor* big, bool fwd) {
    if (small->ndim != 4) die("%s: %s must be [N, C, H, W]", op, fwd ? "x" : "dx");
    int64_t N = small->shape[0], C = small->shape[1], H = small->shape[2], W = small->shape[3];
    if (big->ndim != 4 || big->shape[0] != N || big->shape[1] != C || big->shape[2] != 2 * H || big->shape[3] != 2 * W)
        die("%s: %s must be [%lld, %lld, %lld, %lld]", op, fwd ? "y" : "dy", (long long)N, (long long)C,
            (long long)(2 * H), (long long)(2 * W));
    if (tensor_numel(small) < 1) die("%s: empty input", op);
    check_u32(op, tensor_numel(big));
    check_disjoint(op, "the output", fwd ? big : small, "the input", fwd ? small : big);
    Operand in = tex(c, fwd ? small : big), out = sto(c, fwd ? big : small);
    uint32_t vec = vec_width(W % 4 == 0, (const Operand*[]){&in, &out}, 2);
    uint32_t spec[] = {c->gpu->tune.wg_size, 1, 1, vec, (uint32_t)W};
    Bind b[] = {bind_tex(&in.view, (int)vec), bind_w(&out.view)};
    FlatPush push = {.n = (uint32_t)(tensor_numel(small) / vec), .off_in0 = in.off, .off_out = out.off};
    c->label = op;
    dispatch_flat(c, id, spec, 5, b, 2, &push);
}

void op_upsample2x_forward(Cmd* c, const Tensor* y, const Tensor* x) {
    upsample_dispatch(c, "op_upsample2x_forward", SHADER_UPSAMPLE2X_FWD, x, y, true);
}

void op_upsample2x_backward(Cmd* c, const Tensor* dx, const Tensor* dy) {
    upsample_dispatch(c, "op_upsample2x_backward", SHADER_UPSAMPLE2X_BWD, dx, dy, false);
}

// ---------------------------------------------------------------------------
// Channel concatenation: per sample, y[n] is a[n] followed by b[n]. Grid x, y over
// the items of the longer part, z over (sample, part): the part is uniform per
// workgroup (concat_fwd.comp).

typedef struct Cat {
    int64_t N, CA, CB, HW;
} Cat;

static void cat_check(const char* op, const char* what, const Tensor* t, int64_t N, int64_t C, int64_t HW) {
    if (!t) return;
    if (t->ndim < 2 || t->shape[0] != N || t->shape[1] != C || tensor_numel(t) != N * C * HW)
        die("%s: %s must be [%lld, %lld, ...] with %lld elements per channel", op, what, (long long)N, (long long)C,
            (long long)HW);
}

// items: the longer part's items per sample; nz = N * parts.
static void cat_grid(Cmd* c, const char* op, ShaderId id, const uint32_t* spec, uint32_t nspec, const Bind* b,
                     const void* push, uint32_t push_size, int64_t items, int64_t nz) {
    if (nz > 65535) die("%s: batch x parts %lld exceeds 65535 workgroups in z", op, (long long)nz);
    uint32_t gx, gy;
    grid_1d(items, spec[0], &gx, &gy);
    c->label = op;
    cmd_dispatch(c, id, spec, nspec, b, 3, push, push_size, gx, gy, (uint32_t)nz);
}

#define CAT_FWD_PUSH(X) X(uint32_t, LA) X(uint32_t, LB) X(uint32_t, off_a) X(uint32_t, off_b) X(uint32_t, off_y)
PUSH_STRUCT(CatFwdPush, CAT_FWD_PUSH)
SHADER_PUSH(concat_fwd, CatFwdPush)

void op_concat_channels_forward(Cmd* c, const Tensor* y, const Tensor* a, const Tensor* b) {
    const char* op = "op_concat_channels_forward";
    Img da = img_dims(op, "a", a);
    Cat d = {da.N, da.C, b->ndim >= 2 ? b->shape[1] : 0, da.HW};
    cat_check(op, "b", b, d.N, d.CB, d.HW);
    cat_check(op, "y", y, d.N, d.CA + d.CB, d.HW);
    check_u32(op, tensor_numel(y));
    check_disjoint(op, "y", y, "a", a);
    check_disjoint(op, "y", y, "b", b);
    Operand oa = tex(c, a), ob = tex(c, b), oy = sto(c, y);
    uint32_t vec = vec_width(d.CA * d.HW % 4 == 0 && d.CB * d.HW % 4 == 0, (const Operand*[]){&oa, &ob, &oy}, 3);
    Bind bd[] = {bind_tex(&oa.view, (int)vec), bind_tex(&ob.view, (int)vec), bind_w(&oy.view)};
    CatFwdPush push = {(uint32_t)(d.CA * d.HW / vec), (uint32_t)(d.CB * d.HW / vec), oa.off, ob.off, oy.off};
    cat_grid(c, op, SHADER_CONCAT_FWD, (uint32_t[]){c->gpu->tune.wg_size, 1, 1, vec}, 4, bd, &push, sizeof push,
             push.LA > push.LB ? push.LA : push.LB, 2 * d.N);
}

#define CAT_BWD_PUSH(X) X(uint32_t, LA) X(uint32_t, LB) X(uint32_t, off_dy) X(uint32_t, off_da) X(uint32_t, off_db)
PUSH_STRUCT(CatBwdPush, CAT_BWD_PUSH)
SHADER_PUSH(concat_bwd, CatBwdPush)

void op_concat_channels_backward(Cmd* c, const Tensor* da, const Tensor* db, const Tensor* dy) {
    const char* op = "op_concat_channels_backward";
    if (!da && !db) return;
    Img dd = img_dims(op, "dy", dy);
    int64_t CA = da ? (da->ndim >= 2 ? da->shape[1] : 0) : dd.C - (db->ndim >= 2 ? db->shape[1] : 0);
    if (CA < 0 || CA > dd.C) die("%s: da / db channels do not split dy's %lld", op, (long long)dd.C);
    Cat d = {dd.N, CA, dd.C - CA, dd.HW};
    cat_check(op, "da", da, d.N, d.CA, d.HW);
    cat_check(op, "db", db, d.N, d.CB, d.HW);
    check_disjoint(op, "da", da, "dy", dy);
    check_disjoint(op, "db", db, "dy", dy);
    check_disjoint(op, "da", da, "db", db);
    // A NULL gradient's binding holds the other gradient, read-only and never touched
    // (HAS_A / HAS_B): not dy, which may be F16 (a frozen weight's columns copied out).
    Operand ody = tex(c, dy), oda = sto(c, da ? da : db), odb = sto(c, db ? db : da);
    const Operand* used[3] = {&ody, da ? &oda : &ody, db ? &odb : &ody};
    uint32_t vec = vec_width(d.CA * d.HW % 4 == 0 && d.CB * d.HW % 4 == 0, used, 3);
    uint32_t spec[] = {c->gpu->tune.wg_size, 1, 1, vec, da != NULL, db != NULL};
    Bind bd[] = {bind_tex(&ody.view, (int)vec), da ? bind_w(&oda.view) : bind_r(&oda.view),
                 db ? bind_w(&odb.view) : bind_r(&odb.view)};
    CatBwdPush push = {(uint32_t)(d.CA * d.HW / vec), (uint32_t)(d.CB * d.HW / vec), ody.off, oda.off, odb.off};
    uint32_t items = da && db ? (push.LA > push.LB ? push.LA : push.LB) : (da ? push.LA : push.LB);
    if (items == 0) return;  // the wanted gradient has no channels
    cat_grid(c, op, SHADER_CONCAT_BWD, spec, 6, bd, &push, sizeof push, items, d.N * (da && db ? 2 : 1));
}

// ---------------------------------------------------------------------------
// NCHW <-> tokens: a batched transpose src [N, R, S] -> dst [N, S, R]
// (tokens_transpose.comp), in 2-D workgroups of 8 columns x (wg / 8) rows.

#define TRANSPOSE_PUSH(X) X(uint32_t, R) X(uint32_t, S) X(uint32_t, off_src) X(uint32_t, off_dst)
PUSH_STRUCT(TransposePush, TRANSPOSE_PUSH)
SHADER_PUSH(tokens_transpose, TransposePush)

static void transpose(Cmd* c, const char* op, const Tensor* dst, const Tensor* src, int64_t N, int64_t R, int64_t S,
                      bool accumulate) {
    check_disjoint(op, "the output", dst, "the input", src);
    Operand os = tex(c, src), od = sto(c, dst);
    uint32_t vec = vec_width(R % 4 == 0 && S % 4 == 0, (const Operand*[]){&os, &od}, 2);
    uint32_t wx = 8, wy = c->gpu->tune.wg_size / wx ? c->gpu->tune.wg_size / wx : 1;
    Bind b[] = {bind_tex(&os.view, (int)vec), bind_w(&od.view)};
    TransposePush push = {(uint32_t)R, (uint32_t)S, os.off, od.off};
    if (N > 65535) die("%s: batch %lld exceeds 65535 workgroups in z", op, (long long)N);
    c->label = op;
    cmd_dispatch(c, SHADER_TOKENS_TRANSPOSE, (uint32_t[]){wx, wy, 1, vec, accumulate}, 5, b, 2, &push, sizeof push,
                 div_up(S / vec, wx), div_up(R / vec, wy), (uint32_t)N);
}

// nchw [N, C, H, W] (or [N, C, HW]); tokens [N, HW, C] (or any shape of as many elements).
static Img tokens_dims(const char* op, const Tensor* nchw, const Tensor* tokens) {
    if (nchw->ndim < 3) die("%s: the image must be [N, C, H, W] or [N, C, HW]", op);
    Img d = img_dims(op, "the image", nchw);
    check_numel(op, "tokens", tokens, tensor_numel(nchw));
    if (tokens->ndim == 3 && (tokens->shape[0] != d.N || tokens->shape[1] != d.HW || tokens->shape[2] != d.C))
        die("%s: tokens must be [N, HW, C] = [%lld, %lld, %lld]", op, (long long)d.N, (long long)d.HW, (long long)d.C);
    return d;
}

void op_nchw_to_tokens(Cmd* c, const Tensor* tokens, const Tensor* nchw, bool accumulate) {
    const char* op = "op_nchw_to_tokens";
    Img d = tokens_dims(op, nchw, tokens);
    transpose(c, op, tokens, nchw, d.N, d.C, d.HW, accumulate);
}

void op_tokens_to_nchw(Cmd* c, const Tensor* nchw, const Tensor* tokens, bool accumulate) {
    const char* op = "op_tokens_to_nchw";
    Img d = tokens_dims(op, nchw, tokens);
    transpose(c, op, nchw, tokens, d.N, d.HW, d.C, accumulate);
}

// ---------------------------------------------------------------------------
// Embedding: table [V, D], ids R uint32, y / dy [R, D] (any shape with last dim D).

static void embedding_check(const char* op, const char* what, const Tensor* rows, const Tensor* ids,
                            const Tensor* table, int64_t* R) {
    if (table->ndim != 2) die("%s: the table must be [V, D], got %d dims", op, table->ndim);
    int64_t D = table->shape[1];
    if (rows->ndim < 1 || rows->shape[rows->ndim - 1] != D)
        die("%s: %s's last dimension must be the table width %lld", op, what, (long long)D);
    *R = tensor_numel(rows) / D;
    check_numel(op, "ids", ids, *R);
    check_u32(op, tensor_numel(table));
    check_u32(op, tensor_numel(rows));
}

#define EMB_FWD_PUSH(X) X(uint32_t, n) X(uint32_t, V) X(uint32_t, off_ids) X(uint32_t, off_table) X(uint32_t, off_y)
PUSH_STRUCT(EmbFwdPush, EMB_FWD_PUSH)
SHADER_PUSH(embedding_fwd, EmbFwdPush)

void op_embedding_forward(Cmd* c, const Tensor* y, const Tensor* ids, const Tensor* table) {
    const char* op = "op_embedding_forward";
    int64_t R, V = table->shape[0], D = table->shape[1];
    embedding_check(op, "y", y, ids, table, &R);
    check_disjoint(op, "y", y, "the table", table);
    check_disjoint(op, "y", y, "ids", ids);
    Operand oi = sto(c, ids), ot = tex(c, table), oy = sto(c, y);
    uint32_t vec = vec_width(D % 4 == 0, (const Operand*[]){&ot, &oy}, 2);
    uint32_t spec[] = {c->gpu->tune.wg_size, 1, 1, vec, (uint32_t)(D / vec)};
    Bind b[] = {bind_r(&oi.view), bind_tex(&ot.view, (int)vec), bind_w(&oy.view)};
    EmbFwdPush push = {(uint32_t)(R * D / vec), (uint32_t)V, oi.off, ot.off, oy.off};
    uint32_t gx, gy;
    grid_1d(push.n, spec[0], &gx, &gy);
    c->label = op;
    cmd_dispatch(c, SHADER_EMBEDDING_FWD, spec, 5, b, 3, &push, sizeof push, gx, gy, 1);
}

#define EMB_BWD_PUSH(X) \
    X(uint32_t, R) X(uint32_t, DT) X(uint32_t, V) X(uint32_t, off_ids) X(uint32_t, off_dy) X(uint32_t, off_dt)
PUSH_STRUCT(EmbBwdPush, EMB_BWD_PUSH)
SHADER_PUSH(embedding_bwd, EmbBwdPush)

void op_embedding_backward(Cmd* c, const Tensor* dtable, const Tensor* dy, const Tensor* ids) {
    const char* op = "op_embedding_backward";
    int64_t R, V = dtable->shape[0], D = dtable->shape[1];
    embedding_check(op, "dy", dy, ids, dtable, &R);
    check_disjoint(op, "dtable", dtable, "dy", dy);
    check_disjoint(op, "dtable", dtable, "ids", ids);
    Operand oy0 = tex(c, dy), ot = sto(c, dtable);
    uint32_t vec = vec_width(D % 4 == 0, (const Operand*[]){&oy0, &ot}, 2);
    // Only D / VEC invocations, each a serial loop over the R rows: workgroups of
    // one subgroup spread them over as many cores as there are.
    // Rows past the loop budget go in further dispatches, one after another, so
    // the rows still reach each float in order (part * D keeps dy's texel alignment).
    uint32_t wg = c->gpu->subgroup_size, gx, gy;
    grid_1d(div_up(D, vec), wg, &gx, &gy);
    int64_t part = R;
    while (!within_loop_budget(c->gpu, part + 2)) part = (part + 1) / 2;
    c->label = op;
    for (int64_t r0 = 0; r0 < R; r0 += part) {
        int64_t n = R - r0 < part ? R - r0 : part;
        Tensor ip = tensor_slice(*ids, r0, n), yp = tensor_slice(*dy, r0 * D, n * D);
        Operand oi = sto(c, &ip), oy = tex(c, &yp);
        Bind b[] = {bind_r(&oi.view), bind_tex(&oy.view, (int)vec), bind_w(&ot.view)};
        EmbBwdPush push = {(uint32_t)n, (uint32_t)(D / vec), (uint32_t)V, oi.off, oy.off, ot.off};
        cmd_dispatch(c, SHADER_EMBEDDING_BWD, (uint32_t[]){wg, 1, 1, vec}, 4, b, 3, &push, sizeof push, gx, gy, 1);
    }
}

// ---------------------------------------------------------------------------
// Timestep embedding (shaders/include/layout_timestep.glsl).

#define TIMESTEP_PUSH(X) \
    X(uint32_t, N) X(uint32_t, nhalf) X(float, k) X(uint32_t, off_t) X(uint32_t, off_y) X(uint32_t, off_dt)
PUSH_STRUCT(TimestepPush, TIMESTEP_PUSH)
SHADER_PUSH(timestep_embed_fwd, TimestepPush)
SHADER_PUSH(timestep_embed_bwd, TimestepPush)

static TimestepPush timestep_push(const char* op, TimestepEmbedDims d, const Tensor* t, const Tensor* y) {
    if (d.N < 1 || d.D < 2 || d.D % 2) die("%s: N %d, D %d: D must be even and positive", op, d.N, d.D);
    if (d.N > 65535) die("%s: batch %d exceeds 65535", op, d.N);
    double denom = d.D / 2 - (double)d.freq_shift;
    if (denom <= 0 || !(d.max_period > 0))
        die("%s: half %d - freq_shift %g and max_period %g must be positive", op, d.D / 2, d.freq_shift, d.max_period);
    check_numel(op, "t", t, d.N);
    check_numel(op, "y / dy", y, (int64_t)d.N * d.D);
    return (TimestepPush){.N = (uint32_t)d.N, .nhalf = (uint32_t)(d.D / 2),
                          .k = (float)(-log((double)d.max_period) / denom)};
}

void op_timestep_embedding_forward(Cmd* c, const Tensor* y, const Tensor* t, TimestepEmbedDims d) {
    const char* op = "op_timestep_embedding_forward";
    TimestepPush push = timestep_push(op, d, t, y);
    check_disjoint(op, "y", y, "t", t);
    Operand ot = tex(c, t), oy = sto(c, y);
    push.off_t = ot.off, push.off_y = oy.off;
    uint32_t wg = c->gpu->tune.wg_size;
    Bind b[] = {bind_tex(&ot.view, 1), bind_w(&oy.view)};
    c->label = op;
    cmd_dispatch(c, SHADER_TIMESTEP_EMBED_FWD, (uint32_t[]){wg, 1, 1, d.flip_sin_to_cos}, 4, b, 2, &push, sizeof push,
                 div_up(push.nhalf, wg), push.N, 1);
}

void op_timestep_embedding_backward(Cmd* c, const Tensor* dt, const Tensor* dy, const Tensor* t, TimestepEmbedDims d) {
    const char* op = "op_timestep_embedding_backward";
    TimestepPush push = timestep_push(op, d, t, dy);
    check_numel(op, "dt", dt, d.N);
    check_disjoint(op, "dt", dt, "t", t);
    check_disjoint(op, "dt", dt, "dy", dy);
    check_loop_budget(c->gpu, op, (int64_t)push.nhalf + 1, "embeddings this wide (one sweep per timestep)");
    Operand ot = tex(c, t), ody = tex(c, dy), odt = sto(c, dt);
    push.off_t = ot.off, push.off_y = ody.off, push.off_dt = odt.off;
    uint32_t wg = c->gpu->tune.wg_size, gx, gy;
    Bind b[] = {bind_tex(&ot.view, 1), bind_tex(&ody.view, 1), bind_w(&odt.view)};
    grid_1d(push.N, wg, &gx, &gy);
    c->label = op;
    cmd_dispatch(c, SHADER_TIMESTEP_EMBED_BWD, (uint32_t[]){wg, 1, 1, d.flip_sin_to_cos}, 4, b, 3, &push, sizeof push,
                 gx, gy, 1);
}
