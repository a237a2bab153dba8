// bench_ops.c: times conv2d, matmul and attention forward and backward at the
// sizes of the engine issue, next to the device's measured FMA peak (the
// same-run baseline). Each case is recorded once and replayed: the median of
// the replays (one submit + wait each) is reported.
#include "bench/bench_ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu/cmd.h"
#include "gpu/profile.h"
#include "ops/op_peak.h"
#include "ops/ops.h"
#include "util/check.h"
#include "util/timer.h"

typedef struct BenchCase {
    const char* name;   // e.g. "conv2d 3x3"
    const char* shape;  // human-readable sizes
    const char* pass;   // "forward" / "backward"
    double flops;
} BenchCase;

typedef struct Bench {
    GpuContext g;
    Arena arena;
    const BenchOpsOptions* o;
    double peak_gflops;
    // $VKPREF_BENCH_MODEL_SHAPES=1: also the conv and linear shapes of the
    // fmnist-small step (an environment switch: the option table is the CLI's).
    bool model_shapes;
} Bench;

static Tensor random_tensor(Bench* b, int ndim, const int64_t* shape, unsigned seed) {
    Tensor t = arena_tensor(&b->arena, ndim, shape);
    int64_t n = tensor_numel(&t);
    float* h = xmalloc((size_t)n * sizeof *h);
    for (int64_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        h[i] = (float)((seed >> 8) * (1.0 / 16777216.0)) - 0.5f;
    }
    tensor_upload(&b->g, &t, h);
    free(h);
    return t;
}

// Times an already-recorded Cmd: 2 warm-up replays, then o->reps timed ones.
static void report(Bench* b, Cmd* c, const BenchCase* bc) {
    cmd_end(c);
    for (int i = 0; i < 2; i++) cmd_submit(c);
    int reps = b->o->reps;
    double* t = xmalloc((size_t)reps * sizeof *t);
    for (int i = 0; i < reps; i++) {
        double t0 = now_seconds();
        cmd_submit(c);
        t[i] = now_seconds() - t0;
    }
    double lo = t[0], hi = t[0];
    for (int i = 1; i < reps; i++) lo = t[i] < lo ? t[i] : lo, hi = t[i] > hi ? t[i] : hi;
    double med = median_of(t, reps);
    double gflops = bc->flops / med * 1e-9;
    if (b->o->json)
        printf("{\"case\": \"%s\", \"shape\": \"%s\", \"pass\": \"%s\", \"median_s\": %.6g, \"min_s\": %.6g, "
               "\"max_s\": %.6g, \"gflops_per_s\": %.4g, \"dispatches\": %d, \"fraction_of_peak\": %.4f}\n",
               bc->name, bc->shape, bc->pass, med, lo, hi, gflops, c->ndispatch, gflops / b->peak_gflops);
    else
        printf("%-16s %-26s %-9s %9.3f %9.3f %9.3f %9.1f %7.1f%%\n", bc->name, bc->shape, bc->pass, med * 1e3,
               lo * 1e3, hi * 1e3, gflops, 100.0 * gflops / b->peak_gflops);
    fflush(stdout);
    free(t);
    cmd_free(c);
}

static bool wanted(Bench* b, const char* name) { return !b->o->only || strstr(name, b->o->only); }

// ---------------------------------------------------------------------------

static void measure_peak(Bench* b) {
    const uint32_t iters = 2048, wg = 64, groups = 512;
    Tensor y = arena_tensor1(&b->arena, (int64_t)wg * groups);
    Cmd c;
    cmd_begin(&c, &b->g);
    op_peak_fma(&c, &y, iters, wg, groups);
    cmd_end(&c);
    cmd_submit(&c);
    double t[5];
    for (int i = 0; i < 5; i++) {
        double t0 = now_seconds();
        cmd_submit(&c);
        t[i] = now_seconds() - t0;
    }
    b->peak_gflops = 2.0 * 4 * 8 * iters * wg * groups / median_of(t, 5) * 1e-9;
    cmd_free(&c);
}

// One conv shape: forward, the whole backward (data + weight + bias gradients) and
// the weight and bias gradients alone (dx NULL), so that the data gradient is the difference.
static void bench_conv_case(Bench* b, Conv2dDims d) {
    char shape[64];
    snprintf(shape, sizeof shape, "N%d C%d K%d %dx%d", d.N, d.C, d.K, d.H, d.W);
    Tensor x = random_tensor(b, 4, (int64_t[]){d.N, d.C, d.H, d.W}, 1);
    Tensor w = random_tensor(b, 4, (int64_t[]){d.K, d.C, d.KH, d.KW}, 2);
    Tensor bias = random_tensor(b, 1, (int64_t[]){d.K}, 3);
    int OH = conv2d_out_h(d), OW = conv2d_out_w(d);
    Tensor y = arena_tensor4(&b->arena, d.N, d.K, OH, OW);
    Tensor dy = random_tensor(b, 4, (int64_t[]){d.N, d.K, OH, OW}, 4);
    Tensor dx = arena_tensor4(&b->arena, d.N, d.C, d.H, d.W);
    Tensor dw = arena_tensor4(&b->arena, d.K, d.C, d.KH, d.KW), db = arena_tensor1(&b->arena, d.K);
    double f = 2.0 * d.N * d.K * OH * OW * d.C * d.KH * d.KW;
    const char* name = d.KH == 3 ? "conv2d 3x3" : "conv2d";
    Cmd c;
    cmd_begin(&c, &b->g);
    op_conv2d_forward(&c, &y, &x, &w, &bias, d);
    report(b, &c, &(BenchCase){name, shape, "forward", f});
    cmd_begin(&c, &b->g);
    op_conv2d_backward(&c, &dx, &dw, &db, &dy, &x, &w, d);
    report(b, &c, &(BenchCase){name, shape, "backward", 2 * f});
    cmd_begin(&c, &b->g);
    op_conv2d_backward(&c, NULL, &dw, &db, &dy, &x, &w, d);
    report(b, &c, &(BenchCase){name, shape, "bwd-weight", f});
    arena_reset(&b->arena);
}

static void bench_conv(Bench* b) {
    if (!wanted(b, "conv2d")) return;
    Conv2dDims d = {.N = 16, .C = 64, .H = 16, .W = 16, .K = 64, .KH = 3, .KW = 3, .stride = 1, .pad = 1};
    bench_conv_case(b, d);
    if (!b->model_shapes) return;
    // The convs that dominate the fmnist-small sft step at batch 32 (docs/PERFORMANCE.md's profile).
    d.N = 32;
    bench_conv_case(b, d);
    d.C = d.K = 32, d.H = d.W = 32;
    bench_conv_case(b, d);
    d.C = d.K = 64, d.H = d.W = 8;
    bench_conv_case(b, d);
    d.C = 1, d.K = 32, d.H = d.W = 32;  // conv_in
    bench_conv_case(b, d);
    d.C = 32, d.K = 1;  // conv_out
    bench_conv_case(b, d);
}

static void bench_matmul_case(Bench* b, int64_t M, int64_t N, int64_t K) {
    char shape[64];
    snprintf(shape, sizeof shape, "%lldx%lldx%lld", (long long)M, (long long)N, (long long)K);
    Tensor A = random_tensor(b, 2, (int64_t[]){M, K}, 5), B = random_tensor(b, 2, (int64_t[]){K, N}, 6);
    Tensor C = arena_tensor2(&b->arena, M, N), dC = random_tensor(b, 2, (int64_t[]){M, N}, 7);
    Tensor dA = arena_tensor2(&b->arena, M, K), dB = arena_tensor2(&b->arena, K, N);
    double f = 2.0 * M * N * K;
    Cmd c;
    cmd_begin(&c, &b->g);
    op_matmul(&c, &C, &A, &B, NULL, matmul_dims(M, N, K));
    report(b, &c, &(BenchCase){"matmul", shape, "forward", f});
    // backward: dA += dC B^T, dB += A^T dC
    MatmulDims da = matmul_dims(M, K, N), db = matmul_dims(K, N, M);
    da.trans_b = true, da.accumulate = true;
    db.trans_a = true, db.accumulate = true;
    cmd_begin(&c, &b->g);
    op_matmul(&c, &dA, &dC, &B, NULL, da);
    op_matmul(&c, &dB, &A, &dC, NULL, db);
    report(b, &c, &(BenchCase){"matmul", shape, "backward", 2 * f});
    arena_reset(&b->arena);
}

static void bench_attention(Bench* b, int T, int S) {
    AttnDims d = {.N = 16, .T = T, .S = S, .NH = 4, .HD = 16, .causal = false};
    int D = d.NH * d.HD;
    char shape[64];
    snprintf(shape, sizeof shape, "N16 T%d S%d NH4 HD16", T, S);
    Tensor q = random_tensor(b, 3, (int64_t[]){d.N, T, D}, 8), k = random_tensor(b, 3, (int64_t[]){d.N, S, D}, 9);
    Tensor v = random_tensor(b, 3, (int64_t[]){d.N, S, D}, 10), o = arena_tensor3(&b->arena, d.N, T, D);
    Tensor lse = arena_tensor3(&b->arena, d.N, d.NH, T), dout = random_tensor(b, 3, (int64_t[]){d.N, T, D}, 11);
    Tensor dq = arena_tensor3(&b->arena, d.N, T, D), dk = arena_tensor3(&b->arena, d.N, S, D);
    Tensor dv = arena_tensor3(&b->arena, d.N, S, D);
    double f = 4.0 * d.N * d.NH * (double)T * S * d.HD;
    Cmd c;
    cmd_begin(&c, &b->g);
    op_attention_forward(&c, &o, &lse, &q, &k, &v, d);
    report(b, &c, &(BenchCase){T == S ? "attention self" : "attention cross", shape, "forward", f});
    cmd_begin(&c, &b->g);
    op_attention_forward(&c, &o, &lse, &q, &k, &v, d);  // o and lse must be current for backward
    cmd_end(&c);
    cmd_submit(&c);
    cmd_free(&c);
    cmd_begin(&c, &b->g);
    op_attention_backward(&c, &dq, &dk, &dv, &dout, &q, &k, &v, &o, &lse, d);
    // backward recomputes the scores (1x) and computes dq, dk, dv (4 products): 2.5x forward
    report(b, &c, &(BenchCase){T == S ? "attention self" : "attention cross", shape, "backward", 2.5 * f});
    arena_reset(&b->arena);
}

int bench_ops(const BenchOpsOptions* o) {
    const char* ms = getenv("VKPREF_BENCH_MODEL_SHAPES");
    Bench b = {.o = o, .model_shapes = ms && *ms && strcmp(ms, "0")};
    GpuOptions go = GPU_DEFAULTS;
    go.device = o->device;
    int r = gpu_init(&b.g, &go);
    if (r != 0) {
        fprintf(stderr, "vkpref bench: no usable Vulkan device (see `vkpref info`)\n");
        return 1;
    }
    arena_init(&b.arena, &b.g, "bench", 64 << 20, false);
    measure_peak(&b);
    profile_reset();  // $VKPREF_PROFILE=1: the table covers the cases only
    if (!o->json) {
        printf("device: %s (%s)\n", b.g.props.deviceName, b.g.driver.driverInfo);
        printf("baseline: fp32 FMA-loop kernel %.1f GFLOP/s (a simple register FMA loop, not a calibrated peak); %d timed replays per case, one submit each\n\n",
               b.peak_gflops, o->reps);
        printf("%-16s %-26s %-9s %9s %9s %9s %9s %8s\n", "op", "shape", "pass", "median ms", "min ms", "max ms",
               "GFLOP/s", "of FMA");
    } else {
        printf("{\"device\": \"%s\", \"peak_gflops_per_s\": %.4g}\n", b.g.props.deviceName, b.peak_gflops);
    }
    bench_conv(&b);
    if (wanted(&b, "matmul")) {
        bench_matmul_case(&b, 1024, 1024, 1024);
        bench_matmul_case(&b, 4096, 64, 576);
        if (b.model_shapes) bench_matmul_case(&b, 8192, 64, 64);  // the model's 64-wide linear layers at 32 x 256 tokens
    }
    if (wanted(&b, "attention")) {
        bench_attention(&b, 256, 256);
        bench_attention(&b, 256, 16);
    }
    // $VKPREF_PROFILE=1: per kernel; every case is replayed reps + 2 times (2 warm-up).
    profile_print(o->json ? stderr : stdout, 40, o->reps + 2, 0);
    arena_free(&b.arena);
    gpu_free(&b.g);
    return 0;
}
