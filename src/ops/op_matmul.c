// op_matmul.c: batched GEMM (shaders/matmul.comp), column sums
// (shaders/col_sum.comp) and torch.nn.Linear built from them.
#include <stdint.h>

#include <stdio.h>

#include "ops/op_common.h"
#include "ops/ops.h"
#include "util/check.h"

MatmulDims matmul_dims(int64_t M, int64_t N, int64_t K) {
    return (MatmulDims){.batch = 1, .M = M, .N = N, .K = K, .stride_a = M * K, .stride_b = K * N, .stride_c = M * N,
                        .alpha = 1.0f};
}

// ---------------------------------------------------------------------------
// Bindings. Texel and storage views must start at the device's offset
// alignments, but a tensor (a slice, say) may not: bind the view from the aligned
// offset at or below it and pass the distance in elements to the shader. One
// alignment for both kinds, since C is bound as both (written as storage,
// read as texels when accumulating).

// Whether an operand can be read as RGBA32F texels: every row (length `contig`
// along the contiguous dimension) and every batch matrix must start on a texel.
static int texel_width(const Operand* o, int64_t contig, int64_t batch, int64_t stride) {
    bool ok = contig % 4 == 0 && o->off % 4 == 0 && (batch == 1 || stride % 4 == 0);
    return ok ? 4 : 1;
}

// Tensor t must hold batch matrices of `per` elements, `stride` apart.
static void check_extent(const char* op, const char* what, const Tensor* t, int64_t batch, int64_t stride, int64_t per) {
    if (stride < 0) die("%s: negative batch stride %lld of %s", op, (long long)stride, what);
    int64_t need = (batch - 1) * stride + per;
    if (need > tensor_numel(t))
        die("%s: %s has %lld elements, the product needs %lld", op, what, (long long)tensor_numel(t), (long long)need);
    if (need + 16 > (int64_t)UINT32_MAX) die("%s: %s needs 32-bit element indices beyond 2^32", op, what);
}

// ---------------------------------------------------------------------------
// Tiles. Register variant (CPU drivers): 16x16 outputs per invocation (16x8 when
// N <= 8), over a flat list of blocks so no SIMD lane idles on a skinny product
// (lavapipe vectorises along local x only: a 4-wide workgroup ran at half speed).
// 16x16 against PERFORMANCE.md's 16x8 (interleaved A/B replays, medians, the
// model's shapes): 4096x64x64 tB -49%, 1024x64x64 tB -66%, 4096x512x64 tB -24%,
// 4096x64x256 tB -21%, the tA weight gradients -10 to -15%, 1024^3 -7%; 32x8 and
// 8x16 were slower, 8x32 mixed. Each operand fetch feeds more FMAs, and fetches
// (gathers on lavapipe) are what the kernel spends its time on.
// Shared-memory variant (GPUs): 4x4 per invocation in 16x16 workgroups, 64x64x16
// tiles. Few tile shapes keep the number of pipelines (each a compile on first
// use) small.

typedef struct MatmulTile {
    uint32_t wgx, wgy, tm, tn, bk;
    bool shared;
} MatmulTile;

static MatmulTile matmul_tile(const GpuContext* g, int64_t N) {
    if (g->tune.use_shared_memory) return (MatmulTile){.wgx = 16, .wgy = 16, .tm = 4, .tn = 4, .bk = 16, .shared = true};
    // One SIMD program per workgroup: the most workgroups to spread over the
    // CPU threads (a skinny 64x576 output is only 36 programs).
    uint32_t wg = g->subgroup_size < 8 ? 8 : g->subgroup_size > 64 ? 64 : g->subgroup_size;
    return (MatmulTile){.wgx = wg, .wgy = 1, .tm = 16, .tn = N <= 8 ? 8 : 16, .bk = 16, .shared = false};
}

// Loop iterations of one invocation over `k` of K: the register variant steps
// 4 at a time; the shared one BK at a time, staging two tiles per step. Plus
// the epilogue's row loop.
static int64_t k_cost(MatmulTile t, int64_t k) {
    if (!t.shared) return div_up(k, 4) + 1 + t.tm + 1;
    uint32_t nt = t.wgx * t.wgy;
    return div_up(k, t.bk) * (div_up(t.wgy * t.tm * t.bk, nt) + div_up(t.wgx * t.tn * t.bk, nt) + 3) + 1 + t.tm + 1;
}

// The longest part of K (a multiple of 16, the shared tile depth and the
// register step) one dispatch may sum under the loop budget; K when it fits.
static int64_t k_part(const GpuContext* g, MatmulTile t, int64_t K) {
    if (within_loop_budget(g, k_cost(t, K))) return K;
    int64_t k = 16;
    while (within_loop_budget(g, k_cost(t, 2 * k))) k *= 2;
    return k;
}

// ---------------------------------------------------------------------------

#define MATMUL_PUSH(X)                                                                 \
    X(uint32_t, M) X(uint32_t, N) X(uint32_t, K)                                       \
    X(uint32_t, off_a) X(uint32_t, off_b) X(uint32_t, off_c) X(uint32_t, off_bias)     \
    X(uint32_t, stride_a) X(uint32_t, stride_b) X(uint32_t, stride_c)                  \
    X(float, alpha)                                                                    \
    X(uint32_t, flags) /* 1: bias, 2: accumulate */                                   \
    X(uint32_t, k_begin) X(uint32_t, k_end)
PUSH_STRUCT(MatmulPush, MATMUL_PUSH)
SHADER_PUSH(matmul, MatmulPush)

void op_matmul(Cmd* c, const Tensor* C, const Tensor* A, const Tensor* B, const Tensor* bias, MatmulDims d) {
    const char* op = "op_matmul";
    c->label = op;
    if (d.batch < 1 || d.M < 1 || d.N < 1 || d.K < 1)
        die("%s: empty product batch %lld, M %lld, N %lld, K %lld", op, (long long)d.batch, (long long)d.M,
            (long long)d.N, (long long)d.K);
    if (d.batch > 1 && d.stride_c < d.M * d.N)
        die("%s: output batch stride %lld < M*N = %lld would overlap the %lld outputs", op, (long long)d.stride_c,
            (long long)(d.M * d.N), (long long)d.batch);
    check_extent(op, "A", A, d.batch, d.stride_a, d.M * d.K);
    check_extent(op, "B", B, d.batch, d.stride_b, d.K * d.N);
    check_extent(op, "C", C, d.batch, d.stride_c, d.M * d.N);
    if (bias && tensor_numel(bias) != d.N)
        die("%s: bias has %lld elements, N = %lld", op, (long long)tensor_numel(bias), (long long)d.N);
    if (tensors_overlap(C, A) || tensors_overlap(C, B) || (bias && tensors_overlap(C, bias))) die("%s: output C overlaps an input", op);
    if (d.batch > 65535) die("%s: batch %lld exceeds 65535 (one workgroup layer per matrix)", op, (long long)d.batch);

    Operand a = operand_both(c, A), b = operand_both(c, B), out = operand_both(c, C);
    Operand bi = bias ? operand_both(c, bias) : a;  // any R32F view where there is no bias
    int va = texel_width(&a, d.trans_a ? d.M : d.K, d.batch, d.stride_a);
    int vb = texel_width(&b, d.trans_b ? d.K : d.N, d.batch, d.stride_b);
    int vc = texel_width(&out, d.N, d.batch, d.stride_c);
    MatmulTile t = matmul_tile(c->gpu, d.N);
    uint32_t spec[] = {t.wgx, t.wgy, 1, t.tm, t.tn, d.trans_a, d.trans_b, (uint32_t)va, (uint32_t)vb, (uint32_t)vc,
                       t.shared, t.bk};
    bool batched = d.batch > 1;  // a single matrix ignores the strides (matmul_dims fills them, layers leave 0)
    MatmulPush push = {(uint32_t)d.M, (uint32_t)d.N, (uint32_t)d.K, a.off, b.off, out.off, bias ? bi.off : 0,
                       batched ? (uint32_t)d.stride_a : 0, batched ? (uint32_t)d.stride_b : 0,
                       batched ? (uint32_t)d.stride_c : 0, d.alpha, (bias ? 1u : 0u) | (d.accumulate ? 2u : 0u),
                       0, 0};
    Bind binds[] = {bind_tex(&a.view, va), bind_tex(&b.view, vb), bind_tex(&bi.view, 1), bind_w(&out.view),
                    bind_tex(&out.view, vc)};  // C's old values for accumulate (see matmul.comp)
    uint32_t gx, gy;
    if (t.shared) gx = div_up(d.N, t.wgx * t.tn), gy = div_up(d.M, t.wgy * t.tm);
    else grid_1d((int64_t)div_up(d.M, t.tm) * div_up(d.N, t.tn), t.wgx, &gx, &gy);
    cmd_note_flops(c, 2.0 * (double)d.batch * (double)d.M * (double)d.N * (double)d.K);
    char lab[192];  // the profile's label carries the shape (only built while profiling)
    if (c->prof) {
        snprintf(lab, sizeof lab, "%s %lldx%lldx%lld b%lld%s%s%s", op, (long long)d.M, (long long)d.N, (long long)d.K,
                 (long long)d.batch, d.trans_a ? " tA" : "", d.trans_b ? " tB" : "", d.accumulate ? " acc" : "");
        c->label = lab;
    }
    // K in one dispatch, or in parts each within the loop budget, the later ones
    // adding to C (the bias once).
    int64_t kpart = k_part(c->gpu, t, d.K);
    for (int64_t k = 0; k < d.K; k += kpart) {
        push.k_begin = (uint32_t)k;
        push.k_end = (uint32_t)(d.K - k < kpart ? d.K : k + kpart);
        cmd_dispatch(c, SHADER_MATMUL, spec, 12, binds, 5, &push, sizeof push, gx, gy, (uint32_t)d.batch);
        push.flags = 2u;
    }
    c->label = op;
}

// ---------------------------------------------------------------------------

#define COL_SUM_PUSH(X) X(uint32_t, R) X(uint32_t, N) X(uint32_t, off_x) X(uint32_t, off_y)
PUSH_STRUCT(ColSumPush, COL_SUM_PUSH)
SHADER_PUSH(col_sum, ColSumPush)

void op_col_sum(Cmd* c, const Tensor* y, const Tensor* x, int64_t R, int64_t N, bool accumulate) {
    const char* op = "op_col_sum";
    c->label = op;
    if (R < 1 || N < 1) die("%s: empty input R %lld, N %lld", op, (long long)R, (long long)N);
    if (tensor_numel(x) != R * N)
        die("%s: x has %lld elements, R*N = %lld", op, (long long)tensor_numel(x), (long long)(R * N));
    if (tensor_numel(y) != N) die("%s: y has %lld elements, N = %lld", op, (long long)tensor_numel(y), (long long)N);
    if (R * N + 16 > (int64_t)UINT32_MAX) die("%s: %lld elements need indices beyond 2^32", op, (long long)(R * N));
    if (tensors_overlap(y, x)) die("%s: output y overlaps x", op);
    Operand ox = operand_both(c, x), oy = operand_both(c, y);
    int vec = texel_width(&ox, N, 1, 0);
    // Rows split over 8 invocations per column on GPUs (a shared-memory sum at
    // the end); one invocation per column on CPU drivers, where the barrier costs
    // more, unless the rows exceed its loop budget.
    uint32_t wy = loop_ways(c->gpu, op, R, c->gpu->tune.use_shared_memory ? 8 : 1, max_local_y(c->gpu, 1));
    uint32_t wx = wy < 64 ? 64 / wy : 1;
    ColSumPush push = {(uint32_t)R, (uint32_t)N, ox.off, oy.off};
    Bind binds[] = {bind_tex(&ox.view, vec), bind_w(&oy.view)};
    cmd_dispatch(c, SHADER_COL_SUM, (uint32_t[]){wx, wy, 1, (uint32_t)vec, accumulate}, 5, binds, 2, &push,
                 sizeof push, div_up(div_up(N, vec), wx), 1, 1);
}

// ---------------------------------------------------------------------------
// torch.nn.Linear: w [O, I], x [R, I] (any leading dims flattened into R).

static void linear_sizes(const char* op, const Tensor* x, const Tensor* w, int64_t* R, int64_t* I, int64_t* O) {
    if (w->ndim != 2) die("%s: weight must be 2-D [out, in], got %d dims", op, w->ndim);
    *O = w->shape[0], *I = w->shape[1];
    if (tensor_numel(x) % *I != 0)
        die("%s: input of %lld elements is not rows of width %lld", op, (long long)tensor_numel(x), (long long)*I);
    *R = tensor_numel(x) / *I;
}

void op_linear_forward(Cmd* c, const Tensor* y, const Tensor* x, const Tensor* w, const Tensor* b) {
    int64_t R, I, O;
    linear_sizes("op_linear_forward", x, w, &R, &I, &O);
    check_numel("op_linear_forward", "y", y, R * O);
    if (b) check_numel("op_linear_forward", "bias", b, O);
    MatmulDims d = matmul_dims(R, O, I);  // y = x w^T + b
    d.trans_b = true;
    op_matmul(c, y, x, w, b, d);
}

void op_linear_backward(Cmd* c, const Tensor* dx, const Tensor* dw, const Tensor* db, const Tensor* dy,
                        const Tensor* x, const Tensor* w) {
    int64_t R, I, O;
    linear_sizes("op_linear_backward", x, w, &R, &I, &O);
    check_numel("op_linear_backward", "dy", dy, R * O);
    // Three independent dispatches (they only read dy, x, w): no barriers between them.
    if (dx) {  // dx[R, I] += dy[R, O] w[O, I]
        check_numel("op_linear_backward", "dx", dx, R * I);
        MatmulDims d = matmul_dims(R, I, O);
        d.accumulate = true;
        op_matmul(c, dx, dy, w, NULL, d);
    }
    if (dw) {  // dw[O, I] += dy^T x (NULL too is accepted, for frozen weights)
        check_numel("op_linear_backward", "dw", dw, O * I);
        MatmulDims d = matmul_dims(O, I, R);
        d.trans_a = true, d.accumulate = true;
        op_matmul(c, dw, dy, x, NULL, d);
    }
    if (db) {  // db[O] += column sums of dy
        check_numel("op_linear_backward", "db", db, O);
        op_col_sum(c, db, dy, R, O, true);
    }
}
