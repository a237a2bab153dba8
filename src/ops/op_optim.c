// op_optim.c: global gradient norm with clipping (shaders/grad_norm_{partial,final}.comp),
// AdamW (shaders/adamw.comp) and EMA (shaders/ema.comp).
//
// Everything that changes from step to step (lr, bias corrections, EMA decay, the
// clipping factor) is read by the shaders from GPU tensors, so one recording is
// replayed every step. The norm is a two-level reduction without atomics: each
// tensor's GRAD_NORM_CHUNK-element chunks are summed (compensated, fixed order)
// into partials in the scratch tensor, then one workgroup sums the partials and
// writes the norm and the clipping factor. Same inputs, same bits, every replay.
//
// Tensors larger than one binding allows (maxStorageBufferRange: 128 MiB on
// lavapipe, less than an arena chunk) are processed in pieces.
#include <stdint.h>

#include "ops/op_common.h"
#include "ops/ops.h"
#include "util/check.h"

#define GRAD_NORM_CHUNK 16384  // elements per partial sum (a multiple of 4)
#define GRAD_NORM_ALIGN 64     // each tensor's partials start on a multiple of 64 floats (256 bytes)

// Bindings: operand()/tex()/sto() from op_common.h.

// Outputs (updated in place) must not overlap each other or the inputs; NULL entries are skipped.
static void check_disjoint(const char* op, const Tensor* const* outs, int nout, const Tensor* const* ins, int nin) {
    for (int i = 0; i < nout; i++) {
        for (int j = 0; j < nin; j++)
            if (ins[j] && tensors_overlap(outs[i], ins[j])) die("%s: output %d overlaps input %d", op, i, j);
        for (int j = i + 1; j < nout; j++)
            if (tensors_overlap(outs[i], outs[j])) die("%s: outputs %d and %d overlap", op, i, j);
    }
}

static void check_at_least(const char* op, const char* what, const Tensor* t, int64_t n) {
    if (tensor_numel(t) < n)
        die("%s: %s has %lld elements, needs at least %lld", op, what, (long long)tensor_numel(t), (long long)n);
}

// Elements of the largest piece one dispatch binds: a multiple of `quantum`
// (else of `fallback`) that, after the aligned-down start of a view (at most 256
// bytes), fits a storage binding and, when texel, a texel view of one float per texel.
static int64_t piece_elements(const GpuContext* g, bool texel, int64_t quantum, int64_t fallback) {
    const VkPhysicalDeviceLimits* L = &g->props.limits;
    int64_t lim = (int64_t)(L->maxStorageBufferRange / sizeof(float));
    if (texel && (int64_t)L->maxTexelBufferElements < lim) lim = L->maxTexelBufferElements;
    if (lim > (int64_t)1 << 30) lim = (int64_t)1 << 30;  // 32-bit element indices in the shaders
    lim -= 64;
    int64_t piece = lim / quantum * quantum;
    if (piece <= 0) piece = lim / fallback * fallback;
    if (piece <= 0) die("device binding limits (%lld elements) below %lld", (long long)lim, (long long)fallback);
    return piece;
}

// 4 floats per texel/vec4 when the view offset of every operand is a multiple of 4.
static uint32_t vec_width(const Operand* const* ops, int n) {
    for (int i = 0; i < n; i++)
        if (ops[i]->off % 4) return 1;
    return 4;
}

// Reduction shape for blocks of `texels` (at least a chunk's, far above 64, so
// never one invocation per block): one subgroup per workgroup on CPU drivers
// (more where the loop budget needs them) and 256 invocations on GPUs.
static void reduce_shape(const GpuContext* g, int64_t texels, uint32_t* mode, uint32_t* wg) {
    Reduce r = reduce_for(g, "op_grad_norm", texels > GRAD_NORM_CHUNK / 4 ? texels : GRAD_NORM_CHUNK / 4, 1);
    *mode = r.mode;
    *wg = r.wg;
}

// ---------------------------------------------------------------------------
// Gradient norm.

// Partials a tensor of n elements writes into the scratch, padding included.
static int64_t partial_region(int64_t n) {
    int64_t partials = (n + GRAD_NORM_CHUNK - 1) / GRAD_NORM_CHUNK;
    return (partials + GRAD_NORM_ALIGN - 1) / GRAD_NORM_ALIGN * GRAD_NORM_ALIGN;
}

int64_t op_grad_norm_scratch_numel(const Tensor* grads, int ngrads) {
    int64_t total = 0;
    for (int k = 0; k < ngrads; k++) total += partial_region(tensor_numel(&grads[k]));
    return total > 0 ? total : GRAD_NORM_ALIGN;  // never an empty binding
}

#define GRAD_NORM_PARTIAL_PUSH(X) \
    X(uint32_t, n) X(uint32_t, off_g) X(uint32_t, off_part) X(uint32_t, partials) X(uint32_t, count)
PUSH_STRUCT(GradNormPartialPush, GRAD_NORM_PARTIAL_PUSH)
SHADER_PUSH(grad_norm_partial, GradNormPartialPush)

#define GRAD_NORM_FINAL_PUSH(X) X(uint32_t, count) X(uint32_t, off_part) X(uint32_t, off_stats) X(float, max_norm)
PUSH_STRUCT(GradNormFinalPush, GRAD_NORM_FINAL_PUSH)
SHADER_PUSH(grad_norm_final, GradNormFinalPush)

// True when a vec4 texel view of o may read the whole last texel: texel_view
// trims the range to the buffer, and a fetch past the view is undefined.
static bool whole_last_texel(const Operand* o) {
    VkDeviceSize end = o->view.offset + (VkDeviceSize)(o->view.shape[0] + 3) / 4 * 16;
    return end <= o->view.buf->size;
}

// Partials of elements [start, start + n) of g into part[base, base + count).
static void grad_norm_piece(Cmd* c, const Tensor* g, int64_t start, int64_t n, const Tensor* scratch, int64_t base,
                            int64_t count) {
    uint32_t mode, wg;
    reduce_shape(c->gpu, GRAD_NORM_CHUNK / 4, &mode, &wg);
    Tensor piece = tensor_slice(*g, start, n), part = tensor_slice(*scratch, base, count);
    Operand og = tex(c, &piece), op = sto(c, &part);
    uint32_t vec = vec_width((const Operand*[]){&og}, 1) == 4 && whole_last_texel(&og) ? 4 : 1;
    uint32_t partials = div_up(n, GRAD_NORM_CHUNK);
    GradNormPartialPush pc = {(uint32_t)n, og.off, op.off, partials, (uint32_t)count};
    Bind b[] = {bind_tex(&og.view, (int)vec), bind_w(&op.view)};
    uint32_t gx, gy;
    grid_1d(partials, 1, &gx, &gy);
    cmd_dispatch(c, SHADER_GRAD_NORM_PARTIAL, (uint32_t[]){wg, 1, 1, mode, vec, GRAD_NORM_CHUNK}, 6, b, 2, &pc,
                 sizeof pc, gx, gy, 1);
}

void op_grad_norm(Cmd* c, const Tensor* stats, const Tensor* scratch, const Tensor* grads, int ngrads, float max_norm) {
    const char* op = "op_grad_norm";
    if (ngrads < 0) die("%s: %d gradient tensors", op, ngrads);
    check_at_least(op, "stats", stats, 2);
    int64_t total = op_grad_norm_scratch_numel(grads, ngrads);
    check_at_least(op, "scratch", scratch, total);
    if (tensors_overlap(stats, scratch)) die("%s: stats overlaps scratch", op);
    for (int k = 0; k < ngrads; k++)
        if (tensors_overlap(&grads[k], stats) || tensors_overlap(&grads[k], scratch))
            die("%s: gradient %d overlaps stats or scratch", op, k);

    // Level 1: pieces start on multiples of CHUNK * ALIGN elements where the limits
    // allow, so each piece's partials start 256-byte aligned and no two dispatches
    // write the same bytes (the recorder then puts no barrier between them).
    int64_t piece = piece_elements(c->gpu, true, (int64_t)GRAD_NORM_CHUNK * GRAD_NORM_ALIGN, GRAD_NORM_CHUNK), base = 0;
    for (int k = 0; k < ngrads; k++) {
        int64_t n = tensor_numel(&grads[k]), region = partial_region(n);
        for (int64_t s = 0; s < n; s += piece) {
            int64_t len = n - s < piece ? n - s : piece, first = s / GRAD_NORM_CHUNK;
            int64_t count = s + len == n ? region - first : div_up(len, GRAD_NORM_CHUNK);  // the last piece pads
            grad_norm_piece(c, &grads[k], s, len, scratch, base + first, count);
        }
        base += region;
    }

    // Level 2: one workgroup over every partial (padding is zero); SD 1.5's UNet
    // has ~100k, 12.5k per lane of one lavapipe subgroup.
    uint32_t mode, wg;
    reduce_shape(c->gpu, base, &mode, &wg);
    Tensor part = tensor_slice(*scratch, 0, total);
    Operand op_part = sto(c, &part), op_stats = sto(c, stats);
    GradNormFinalPush pc = {(uint32_t)(base), op_part.off, op_stats.off, max_norm};
    Bind b[] = {bind_r(&op_part.view), bind_w(&op_stats.view)};
    cmd_dispatch(c, SHADER_GRAD_NORM_FINAL, (uint32_t[]){wg, 1, 1, mode}, 4, b, 2, &pc, sizeof pc, 1, 1, 1);
}

// ---------------------------------------------------------------------------
// AdamW and EMA: elementwise, in pieces of at most one binding.

#define ADAMW_PUSH(X)                                                                                          \
    X(uint32_t, n) X(uint32_t, off_p) X(uint32_t, off_g) X(uint32_t, off_m) X(uint32_t, off_v) X(uint32_t, off_s) \
    X(uint32_t, off_c)                                                                                         \
    X(float, beta1) X(float, beta2) X(float, one_minus_beta1) X(float, one_minus_beta2) X(float, eps)          \
    X(float, weight_decay)
PUSH_STRUCT(AdamWPush, ADAMW_PUSH)
SHADER_PUSH(adamw, AdamWPush)

void op_adamw_step(Cmd* c, const Tensor* param, const Tensor* grad, const Tensor* m, const Tensor* v,
                   const Tensor* scalars, const Tensor* clip, AdamWHyper h) {
    const char* op = "op_adamw_step";
    int64_t n = tensor_numel(param);
    check_numel(op, "grad", grad, n);
    check_numel(op, "m", m, n);
    check_numel(op, "v", v, n);
    check_at_least(op, "scalars", scalars, STEP_SCALARS_COUNT);
    if (clip) check_at_least(op, "clip (grad norm stats)", clip, 2);
    check_disjoint(op, (const Tensor*[]){param, m, v}, 3, (const Tensor*[]){grad, scalars, clip}, 3);
    if (n == 0) return;

    uint32_t wg = c->gpu->tune.wg_size;
    Operand os = tex(c, scalars), oc = tex(c, clip ? clip : scalars);
    int64_t piece = piece_elements(c->gpu, true, 1 << 16, 64);
    for (int64_t s = 0; s < n; s += piece) {
        int64_t len = n - s < piece ? n - s : piece;
        Tensor tp = tensor_slice(*param, s, len), tg = tensor_slice(*grad, s, len);
        Tensor tm = tensor_slice(*m, s, len), tv = tensor_slice(*v, s, len);
        Operand opp = sto(c, &tp), og = tex(c, &tg);
        Operand om = sto(c, &tm), ov = sto(c, &tv);
        uint32_t vec = vec_width((const Operand*[]){&opp, &og, &om, &ov}, 4) == 4 && whole_last_texel(&og) ? 4 : 1;
        // 1 - beta in double, as torch computes it from Python floats.
        AdamWPush pc = {(uint32_t)len, opp.off, og.off, om.off, ov.off, os.off, oc.off,
                        h.beta1, h.beta2, (float)(1.0 - (double)h.beta1), (float)(1.0 - (double)h.beta2),
                        h.eps, h.weight_decay};
        Bind b[] = {bind_w(&opp.view), bind_tex(&og.view, (int)vec), bind_w(&om.view), bind_w(&ov.view),
                    bind_tex(&os.view, 1), bind_tex(&oc.view, 1)};
        uint32_t gx, gy;
        grid_1d(div_up(len, vec), wg, &gx, &gy);
        cmd_dispatch(c, SHADER_ADAMW, (uint32_t[]){wg, 1, 1, vec, clip != NULL}, 5, b, 6, &pc, sizeof pc, gx, gy, 1);
    }
}

#define EMA_PUSH(X) X(uint32_t, n) X(uint32_t, off_e) X(uint32_t, off_p) X(uint32_t, off_s)
PUSH_STRUCT(EmaPush, EMA_PUSH)
SHADER_PUSH(ema, EmaPush)

void op_ema_update(Cmd* c, const Tensor* ema, const Tensor* param, const Tensor* scalars) {
    const char* op = "op_ema_update";
    int64_t n = tensor_numel(ema);
    check_numel(op, "param", param, n);
    check_at_least(op, "scalars", scalars, STEP_SCALARS_COUNT);
    check_disjoint(op, (const Tensor*[]){ema}, 1, (const Tensor*[]){param, scalars}, 2);
    if (n == 0) return;

    uint32_t wg = c->gpu->tune.wg_size;
    Operand os = tex(c, scalars);
    int64_t piece = piece_elements(c->gpu, true, 1 << 16, 64);
    for (int64_t s = 0; s < n; s += piece) {
        int64_t len = n - s < piece ? n - s : piece;
        Tensor te = tensor_slice(*ema, s, len), tp = tensor_slice(*param, s, len);
        Operand oe = sto(c, &te), opp = tex(c, &tp);
        uint32_t vec = vec_width((const Operand*[]){&oe, &opp}, 2) == 4 && whole_last_texel(&opp) ? 4 : 1;
        EmaPush pc = {(uint32_t)len, oe.off, opp.off, os.off};
        Bind b[] = {bind_w(&oe.view), bind_tex(&opp.view, (int)vec), bind_tex(&os.view, 1)};
        uint32_t gx, gy;
        grid_1d(div_up(len, vec), wg, &gx, &gy);
        cmd_dispatch(c, SHADER_EMA, (uint32_t[]){wg, 1, 1, vec}, 4, b, 3, &pc, sizeof pc, gx, gy, 1);
    }
}
