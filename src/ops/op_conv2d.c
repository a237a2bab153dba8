// op_conv2d.c: 2-D convolution, NCHW, groups 1 (torch.nn.Conv2d): the forward
// (shaders/conv2d_fwd.comp), the data gradient (conv2d_bwd_data.comp, one dispatch
// per stride phase) and the weight and bias gradients (conv2d_bwd_weight.comp, one
// dispatch). All three are register-blocked direct convolutions reading their
// inputs through uniform texel buffers (PERFORMANCE.md); none needs scratch memory:
// the data gradient reads w in place with the transposed index math.
#include <stdint.h>
#include <stdio.h>

#include "ops/op_common.h"
#include "ops/ops.h"
#include "util/check.h"

int conv2d_out_h(Conv2dDims d) { return (d.H + 2 * d.pad - d.KH) / d.stride + 1; }
int conv2d_out_w(Conv2dDims d) { return (d.W + 2 * d.pad - d.KW) / d.stride + 1; }

// ---------------------------------------------------------------------------
// Checks. Bindings use operand()/tex()/sto() from op_common.h.

// check_numel, plus: every element index must fit the shaders' 32-bit arithmetic.
static void check_tensor(const char* op, const char* what, const Tensor* t, int64_t n) {
    check_numel(op, what, t, n);
    if (n + 16 > (int64_t)UINT32_MAX) die("%s: %s needs 32-bit element indices beyond 2^32", op, what);
}

static void check_dims(const char* op, Conv2dDims d) {
    if (d.N < 1 || d.C < 1 || d.H < 1 || d.W < 1 || d.K < 1 || d.KH < 1 || d.KW < 1 || d.stride < 1 || d.pad < 0)
        die("%s: invalid dims N %d C %d H %d W %d K %d kernel %dx%d stride %d pad %d", op, d.N, d.C, d.H, d.W, d.K,
            d.KH, d.KW, d.stride, d.pad);
    if (conv2d_out_h(d) < 1 || conv2d_out_w(d) < 1 || d.H + 2 * d.pad < d.KH || d.W + 2 * d.pad < d.KW)
        die("%s: kernel %dx%d does not fit the padded %dx%d input (pad %d)", op, d.KH, d.KW, d.H, d.W, d.pad);
    // Every tap loop is unrolled in the shaders: keep the code size bounded.
    if (d.KH * d.KW > 64 || d.pad > 64) die("%s: kernel %dx%d / pad %d too large (max 64 taps, pad 64)", op, d.KH, d.KW, d.pad);
}

// FMAs unrolled per loop step of one invocation: bounded so that the shaders stay
// a few thousand instructions (PERFORMANCE.md's best blocks are 8 x 16 x 9 x 4).
#define CONV2D_MAX_UNROLL 4608
// The forward's output rows per invocation multiply that (PR x the block above).
#define CONV2D_MAX_ROWS 2

// Columns per invocation: multiples of 4 (texel rows), at most 16, with the fewest
// computed-but-discarded columns (larger blocks win ties).
static int pick_px(int Q) {
    int best = 16, waste = (int)div_up(Q, 16) * 16 - Q;
    for (int px = 12; px >= 4; px -= 4) {
        int w = (int)div_up(Q, px) * px - Q;
        if (w < waste) best = px, waste = w;
    }
    return best;
}


// ---------------------------------------------------------------------------
// Direct kernel (forward and data gradient): conv2d_direct.glsl.

#define DIRECT_PUSH(X)                                                                                          \
    X(uint32_t, N) X(uint32_t, OCN) X(uint32_t, ICN) X(uint32_t, IH) X(uint32_t, IW) X(uint32_t, R) X(uint32_t, Q) \
    X(uint32_t, QB) X(uint32_t, OUT_H) X(uint32_t, OUT_W) X(uint32_t, ocs) X(uint32_t, ics)                        \
    X(uint32_t, off_in) X(uint32_t, off_w) X(uint32_t, off_b) X(uint32_t, off_out) X(uint32_t, off_res)
PUSH_STRUCT(DirectPush, DIRECT_PUSH)
SHADER_PUSH(conv2d_fwd, DirectPush)
SHADER_PUSH(conv2d_bwd_data, DirectPush)

typedef struct DirectBlock {
    int KB, PX, CB, PR;
} DirectBlock;

// data_grad: one input channel per step (CB = 1). Measured on lavapipe (N32, whole
// backward = data + weight gradients, interleaved A/B replays, medians): CB 4 -> 1
// took C32 K32 32x32 45.5 -> 36.8 ms, C64 K64 16x16 45.3 -> 38.7, C64 K64 8x8
// 13.5 -> 12.1, C96 K32 32x32 145 -> 120; the forward is fastest with CB = 4
// (C64 K64 16x16: 18.7 ms vs 21.5 with CB = 1).
//
// Output rows per invocation (PR, forward only): each weight fetched feeds PR rows
// and the input rows overlap. Weight fetches are the costliest part of the kernel on
// lavapipe (replacing them with constants made C64 K64 16x16 1.8x faster), so PR
// pays there. Measured (N32, interleaved A/B replays, medians), PR 1 -> 2, then 2 -> 4:
// C64 K64 16x16 -10%, -8%; C32 K32 32x32 -5%, -5%; C96 K32 32x32 -6%, -6%; C64 K64 8x8
// -23%, -5%; C128 K64 16x16 -9%, -8%; stride 2 -13%, +4%; PR 8 was 35-98% slower
// (register spills). The data gradient got slower with PR 2 (+8%, +43% at 8x8), so
// it keeps one row. PR stops at 2 for the start-up cost: lavapipe optimises every
// pipeline's NIR at creation even when its shader cache holds the machine code,
// and that grows with the unrolled block (a DPO bench process started in 5.5 s
// with PR 1, 7.4 s with PR 2, 13.5 s with PR 4; without the cache 164 s before
// this change, 193 s with PR 4): PR 4's extra 1-1.5% of a step does not pay for
// 6 s per process.
static int pick_pr(int R) {
    static const double rel_cost[] = {0, 1.0, 0.9};  // per computed row, from the numbers above
    int best = 1;
    for (int pr = 2; pr <= CONV2D_MAX_ROWS; pr *= 2)
        if (div_up(R, pr) * pr * rel_cost[pr] < div_up(R, best) * best * rel_cost[best]) best = pr;
    return best;
}

static DirectBlock direct_block(int OCN, int ICN, int Q, int R, int taps, bool data_grad) {
    DirectBlock b = {.KB = OCN >= 8 ? 8 : OCN >= 4 ? 4 : OCN,
                     .PX = pick_px(Q),
                     .CB = !data_grad && ICN % 4 == 0 ? 4 : 1,
                     .PR = data_grad ? 1 : pick_pr(R)};
    while (b.CB * taps * b.KB * b.PX > CONV2D_MAX_UNROLL) {
        if (b.CB > 1) b.CB = 1;
        else if (b.KB > 4) b.KB = 4;
        else if (b.PX > 4) b.PX -= 4;
        else break;
    }
    return b;
}

// A 1-D grid of n invocations: 64 per workgroup, fewer (down to one 8-lane SIMD
// program) while that leaves under 16 workgroups to spread over the threads.
static void grid_for(int64_t n, uint32_t* wg, uint32_t* gx, uint32_t* gy) {
    *wg = 64;
    while (*wg > 8 && div_up(n, *wg) < 16) *wg /= 2;
    grid_1d(n, *wg, gx, gy);
}

// The profile's label: the op and its shape (the model's convs differ mostly in shape).
// Only built while profiling; the caller restores c->label before lab goes out of scope.
static void profile_label(Cmd* c, char* lab, size_t n, const char* op, Conv2dDims d) {
    if (!c->prof) return;
    snprintf(lab, n, "%s C%d K%d %dx%d k%d s%d", op, d.C, d.K, d.H, d.W, d.KH, d.stride);
    c->label = lab;
}

static double conv2d_flops(Conv2dDims d) {
    return 2.0 * d.N * d.K * conv2d_out_h(d) * conv2d_out_w(d) * d.C * d.KH * d.KW;
}

// ---------------------------------------------------------------------------

// What the forward adds after the bias (RES_MODE of conv2d_direct.glsl).
typedef enum { CONV_ADD_NONE = 0, CONV_ADD_TENSOR = 1, CONV_ADD_CHANNEL = 2 } ConvAdd;

static void conv2d_forward(Cmd* c, const char* op, const Tensor* y, const Tensor* x, const Tensor* w, const Tensor* b,
                           ConvAdd mode, const Tensor* r, Conv2dDims d);

void op_conv2d_forward(Cmd* c, const Tensor* y, const Tensor* x, const Tensor* w, const Tensor* b, Conv2dDims d) {
    conv2d_forward(c, "op_conv2d_forward", y, x, w, b, CONV_ADD_NONE, NULL, d);
}

void op_conv2d_forward_add(Cmd* c, const Tensor* y, const Tensor* x, const Tensor* w, const Tensor* b,
                           const Tensor* r, Conv2dDims d) {
    conv2d_forward(c, "op_conv2d_forward_add", y, x, w, b, r ? CONV_ADD_TENSOR : CONV_ADD_NONE, r, d);
}

void op_conv2d_forward_add_channel(Cmd* c, const Tensor* y, const Tensor* x, const Tensor* w, const Tensor* b,
                                   const Tensor* t, Conv2dDims d) {
    conv2d_forward(c, "op_conv2d_forward_add_channel", y, x, w, b, CONV_ADD_CHANNEL, t, d);
}

static void conv2d_forward(Cmd* c, const char* op, const Tensor* y, const Tensor* x, const Tensor* w, const Tensor* b,
                           ConvAdd mode, const Tensor* r, Conv2dDims d) {
    c->label = op;
    check_dims(op, d);
    // conv2d_direct.glsl: one sweep over the input channels (the output channels
    // for dx) per invocation, CB at a time.
    check_loop_budget(c->gpu, op, (int64_t)(d.C > d.K ? d.C : d.K) + 2, "this many channels");
    int OH = conv2d_out_h(d), OW = conv2d_out_w(d), T = d.KH * d.KW;
    check_tensor(op, "x", x, (int64_t)d.N * d.C * d.H * d.W);
    check_tensor(op, "w", w, (int64_t)d.K * d.C * T);
    check_tensor(op, "y", y, (int64_t)d.N * d.K * OH * OW);
    if (b) check_tensor(op, "bias", b, d.K);
    if (mode == CONV_ADD_TENSOR) check_tensor(op, "residual", r, (int64_t)d.N * d.K * OH * OW);
    if (mode == CONV_ADD_CHANNEL) check_tensor(op, "t", r, (int64_t)d.N * d.K);
    if (tensors_overlap(y, x) || tensors_overlap(y, w) || (b && tensors_overlap(y, b)))
        die("%s: output y overlaps an input", op);
    // y += conv is fine (each output element is read, then written, by one invocation);
    // a residual that partly overlaps y is not, nor a per-channel t inside y.
    if (r && tensors_overlap(y, r) && !(mode == CONV_ADD_TENSOR && r->buf == y->buf && r->offset == y->offset))
        die("%s: %s overlaps y", op, mode == CONV_ADD_TENSOR ? "the residual (other than y itself)" : "t");

    Operand ox = tex(c, x), ow_ = tex(c, w), oy = sto(c, y);
    Operand ob = b ? tex(c, b) : ox, orr = r ? tex(c, r) : ox;
    DirectBlock blk = direct_block(d.K, d.C, OW, OH, T, false);
    int vec_x = d.W % 4 == 0 && ox.off % 4 == 0 ? 4 : 1;
    int vec_w = blk.CB == 4 && ow_.off % 4 == 0 ? 4 : 1;
    int QB = (int)div_up(OW, blk.PX);
    int64_t n = (int64_t)d.N * div_up(d.K, blk.KB) * div_up(OH, blk.PR) * QB;
    uint32_t wg, gx, gy;
    grid_for(n, &wg, &gx, &gy);
    bool vec_out = OW % 4 == 0 && oy.off % 4 == 0 && (mode != CONV_ADD_TENSOR || orr.off % 4 == 0);
    uint32_t spec[] = {wg,   1,        1,     blk.KB,  blk.PX,    blk.CB, vec_x,  vec_w, d.KH,
                       d.KW, d.stride, d.pad, vec_out, b != NULL, 0,      blk.PR, mode};
    DirectPush push = {d.N, d.K, d.C, d.H, d.W, OH, OW, QB, OH, OW, d.C * T, T, ox.off, ow_.off,
                       b ? ob.off : 0, oy.off, r ? orr.off : 0};
    // Absent bias / residual: any view of the right kind (the shader does not read it).
    int vec_r = r ? (mode == CONV_ADD_TENSOR && vec_out ? 4 : 1) : vec_x;
    Bind binds[] = {bind_tex(&ox.view, vec_x), bind_tex(&ow_.view, vec_w), bind_tex(&ob.view, b ? 1 : vec_x),
                    bind_w(&oy.view), bind_tex(&orr.view, vec_r)};
    char lab[96];
    profile_label(c, lab, sizeof lab, op, d);
    cmd_note_flops(c, conv2d_flops(d));
    cmd_dispatch(c, SHADER_CONV2D_FWD, spec, 17, binds, 5, &push, sizeof push, gx, gy, 1);
    c->label = op;
}

// dx += conv_transpose(dy, w): one dispatch per phase (PH, PW) of the stride, each a
// stride-1 direct conv over dy with the taps that reach dx rows PH + S*r, columns PW + S*q.
static void conv2d_data_grad(Cmd* c, const Tensor* dx, const Tensor* dy, const Tensor* w, Conv2dDims d) {
    int OH = conv2d_out_h(d), OW = conv2d_out_w(d), T = d.KH * d.KW, S = d.stride;
    Operand ody = tex(c, dy), ow_ = tex(c, w), odx = sto(c, dx);
    int vec_x = OW % 4 == 0 && ody.off % 4 == 0 ? 4 : 1;
    bool vec_out = S == 1 && d.W % 4 == 0 && odx.off % 4 == 0;
    for (int ph = 0; ph < S; ph++)
        for (int pw = 0; pw < S; pw++) {
            int R = (d.H - ph + S - 1) / S, Q = (d.W - pw + S - 1) / S;
            int kh0 = (ph + d.pad) % S, kw0 = (pw + d.pad) % S;
            int nth = (d.KH - kh0 + S - 1) / S, ntw = (d.KW - kw0 + S - 1) / S;
            if (R < 1 || Q < 1 || nth < 1 || ntw < 1) continue;  // no tap reaches these pixels: dx += 0
            DirectBlock blk = direct_block(d.C, d.K, Q, R, nth * ntw, true);
            int vec_w = d.C % 4 == 0 && blk.KB % 4 == 0 && ow_.off % 4 == 0 ? 4 : 1;
            int QB = (int)div_up(Q, blk.PX);
            int64_t n = (int64_t)d.N * div_up(d.C, blk.KB) * div_up(R, blk.PR) * QB;
            uint32_t wg, gx, gy;
            grid_for(n, &wg, &gx, &gy);
            uint32_t spec[] = {wg,   1,    1, blk.KB,  blk.PX, blk.CB, vec_x, vec_w,
                               d.KH, d.KW, S, d.pad, vec_out, ph,     pw,     blk.PR};
            DirectPush push = {d.N, d.C, d.K, OH, OW, R, Q, QB, d.H, d.W, T, d.C * T, ody.off, ow_.off, 0, odx.off, 0};
            Bind binds[] = {bind_tex(&ody.view, vec_x), bind_tex(&ow_.view, vec_w), bind_w(&odx.view)};
            cmd_note_flops(c, 2.0 * d.N * d.C * R * Q * d.K * nth * ntw);
            cmd_dispatch(c, SHADER_CONV2D_BWD_DATA, spec, 16, binds, 3, &push, sizeof push, gx, gy, 1);
        }
}

// Weight-gradient blocks: 4 columns per step (measured on lavapipe at N16 C64 K64
// 16x16: 4 columns with 16 x 8 channels ~50 GFLOP/s, 16 columns with 8 x 4 ~33),
// up to 16 x 4 channels (below: compile time), but at least 32 invocations so that
// both threads of a CPU driver get work (the reduction is not split: no atomics).
typedef struct WeightBlock {
    int KB, CB;
} WeightBlock;

static int pow2_at_most(int n, int cap) {
    int p = 1;
    while (p * 2 <= n && p * 2 <= cap) p *= 2;
    return p;
}

// Starting block 16 x 4 channels. Runtime alone favoured 16 x 8 a little (N32,
// interleaved A/B replays of the data + weight gradient: 16 x 4 +5-9% on C64 K64
// 16x16 and C128 K64 16x16, within +-3% elsewhere; weight-gradient share of a whole
// step: sft +1-2%, dpo none measurable), but LLVM's compile time grows much faster
// than the block's 16 x 8 x 9 = 1152 accumulators per lane: on a machine whose Mesa
// cache is empty, each 16 x 8 variant took 52-57 s to compile at its first dispatch
// (two of them: 109 s of a DPO bench process's 166 s first step), a 16 x 4 variant
// ~11 s; with a warm cache the NIR alone cost ~1 s more per process. 8 x 4 (the
// smallest) lost up to 14% (C64 K64 32x32 +12%, C128 K64 16x16 +14%).
static WeightBlock weight_block(int K, int C, int taps) {
    WeightBlock b = {.KB = pow2_at_most(K, 16), .CB = C < 4 ? C : pow2_at_most(C, 4)};
    while (((int64_t)div_up(K, b.KB) * div_up(C, b.CB) < 32 || b.KB * b.CB * taps * 4 > CONV2D_MAX_UNROLL) &&
           (b.KB > 4 || b.CB > 1)) {
        if (b.CB > 1 && (b.CB * 2 >= b.KB || b.KB <= 4)) b.CB = b.CB > 2 ? b.CB / 2 : 1;
        else b.KB /= 2;
    }
    return b;
}

#define WEIGHT_GRAD_PUSH(X)                                                                                   \
    X(uint32_t, N) X(uint32_t, C) X(uint32_t, K) X(uint32_t, H) X(uint32_t, W) X(uint32_t, OH) X(uint32_t, OW)  \
    X(uint32_t, KBN) X(uint32_t, CBN) X(uint32_t, oh0) X(uint32_t, oh1)                                         \
    X(uint32_t, off_x) X(uint32_t, off_dy) X(uint32_t, off_dw) X(uint32_t, off_db)
PUSH_STRUCT(WeightGradPush, WEIGHT_GRAD_PUSH)
SHADER_PUSH(conv2d_bwd_weight, WeightGradPush)

// dw += correlation of x and dy, db += sums of dy (conv2d_bwd_weight.comp): one
// dispatch over every sample and output row, or, where one invocation's sweep
// (per sample and row: ceil(OW / PX) + 2 loop iterations) exceeds the device's
// loop budget, several accumulating into dw and db one after another: groups of
// whole samples, or of rows of one sample.
static void conv2d_weight_grad(Cmd* c, const Tensor* dw, const Tensor* db, const Tensor* dy, const Tensor* x,
                               Conv2dDims d) {
    const char* op = "op_conv2d_backward";
    int OH = conv2d_out_h(d), OW = conv2d_out_w(d), T = d.KH * d.KW;
    WeightBlock blk = weight_block(d.K, d.C, T);
    int KBW = blk.KB, CBW = blk.CB, PX = 4;
    int64_t row_cost = div_up(OW, PX) + 2, sample_cost = OH * row_cost + 2;
    int samples = d.N, rows = OH;  // per dispatch
    if (!within_loop_budget(c->gpu, sample_cost + 2)) {
        samples = 1;
        while (rows > 1 && !within_loop_budget(c->gpu, rows * row_cost + 4)) rows = (rows + 1) / 2;
        if (!within_loop_budget(c->gpu, rows * row_cost + 4))
            die("%s: output rows of %d columns need more loop iterations per invocation than this driver runs (%u)",
                op, OW, c->gpu->tune.loop_budget);
    } else {
        while (samples > 1 && !within_loop_budget(c->gpu, samples * sample_cost + 2)) samples = (samples + 1) / 2;
    }
    uint32_t KBN = div_up(d.K, KBW), CBN = div_up(d.C, CBW);
    uint32_t wg, gx, gy;
    grid_for((int64_t)KBN * CBN, &wg, &gx, &gy);
    Operand odw = sto(c, dw), odb = db ? sto(c, db) : odw;
    cmd_note_flops(c, conv2d_flops(d));
    int64_t xs = (int64_t)d.C * d.H * d.W, ys = (int64_t)d.K * OH * OW;
    for (int n0 = 0; n0 < d.N; n0 += samples) {
        int nn = d.N - n0 < samples ? d.N - n0 : samples;
        Tensor xp = tensor_slice(*x, n0 * xs, nn * xs), dyp = tensor_slice(*dy, n0 * ys, nn * ys);
        Operand ox = tex(c, &xp), ody = tex(c, &dyp);
        int vec_x = d.W % 4 == 0 && ox.off % 4 == 0 ? 4 : 1;
        int vec_dy = OW % 4 == 0 && ody.off % 4 == 0 ? 4 : 1;
        uint32_t spec[] = {wg, 1, 1, KBW, CBW, PX, vec_x, vec_dy, d.KH, d.KW, d.stride, d.pad, db != NULL};
        Bind binds[] = {bind_tex(&ox.view, vec_x), bind_tex(&ody.view, vec_dy), bind_w(&odw.view),
                        db ? bind_w(&odb.view) : bind_r(&odw.view)};
        for (int oh0 = 0; oh0 < OH; oh0 += rows) {
            int oh1 = OH - oh0 < rows ? OH : oh0 + rows;
            WeightGradPush push = {nn, d.C, d.K, d.H, d.W, OH, OW, KBN, CBN, oh0, oh1,
                                   ox.off, ody.off, odw.off, db ? odb.off : 0};
            cmd_dispatch(c, SHADER_CONV2D_BWD_WEIGHT, spec, 13, binds, 4, &push, sizeof push, gx, gy, 1);
        }
    }
}

void op_conv2d_backward(Cmd* c, const Tensor* dx, const Tensor* dw, const Tensor* db, const Tensor* dy,
                        const Tensor* x, const Tensor* w, Conv2dDims d) {
    const char* op = "op_conv2d_backward";
    c->label = op;
    check_dims(op, d);
    // conv2d_direct.glsl: one sweep over the input channels (the output channels
    // for dx) per invocation, CB at a time.
    check_loop_budget(c->gpu, op, (int64_t)(d.C > d.K ? d.C : d.K) + 2, "this many channels");
    int OH = conv2d_out_h(d), OW = conv2d_out_w(d), T = d.KH * d.KW;
    check_tensor(op, "x", x, (int64_t)d.N * d.C * d.H * d.W);
    check_tensor(op, "w", w, (int64_t)d.K * d.C * T);
    check_tensor(op, "dy", dy, (int64_t)d.N * d.K * OH * OW);
    if (!dw && db) die("%s: a bias gradient needs the weight gradient (dw NULL, db given)", op);
    if (!dx && !dw) die("%s: neither dx nor dw asked for", op);
    if (dw) check_tensor(op, "dw", dw, (int64_t)d.K * d.C * T);
    if (dx) check_tensor(op, "dx", dx, (int64_t)d.N * d.C * d.H * d.W);
    if (db) check_tensor(op, "db", db, d.K);
    const Tensor* ins[] = {dy, x, w};
    for (int i = 0; i < 3; i++)
        if ((dx && tensors_overlap(dx, ins[i])) || (dw && tensors_overlap(dw, ins[i])) ||
            (db && tensors_overlap(db, ins[i])))
            die("%s: a gradient overlaps an input", op);
    if ((dx && dw && tensors_overlap(dx, dw)) || (db && tensors_overlap(db, dw)) || (dx && db && tensors_overlap(dx, db)))
        die("%s: gradients overlap each other", op);
    char lab[96];
    profile_label(c, lab, sizeof lab, op, d);
    if (dx) conv2d_data_grad(c, dx, dy, w, d);
    if (dw) conv2d_weight_grad(c, dw, db, dy, x, d);
    c->label = op;
}
