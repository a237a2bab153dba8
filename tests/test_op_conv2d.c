// test_op_conv2d.c: 2-D convolution: reference backward vs finite differences (x, w, b),
// shader forward and backward (dx, dw, db accumulated into random values) vs reference
// on tiny, realistic, odd, 1x1, one-channel, strided, non-square and unaligned shapes;
// the forward with a residual added in its epilogue (op_conv2d_forward_add: a separate
// residual and y += conv in place; op_conv2d_forward_add_channel: one value per sample
// and channel) on the same shapes; the per-kernel profile
// (gpu/profile.h) of a recorded conv.
#include <string.h>

#include "gpu/profile.h"
#include "test_util.h"

typedef struct ConvCase {
    const char* name;
    Conv2dDims d;
    bool bias, dx, db;  // which optional tensors the op gets
    int64_t misalign;   // elements every tensor is shifted by inside its allocation (slices)
} ConvCase;

#define DIMS(n, c, k, h, w, kh, kw, s, p) \
    ((Conv2dDims){.N = n, .C = c, .H = h, .W = w, .K = k, .KH = kh, .KW = kw, .stride = s, .pad = p})

static int64_t x_numel(Conv2dDims d) { return (int64_t)d.N * d.C * d.H * d.W; }
static int64_t w_numel(Conv2dDims d) { return (int64_t)d.K * d.C * d.KH * d.KW; }
static int64_t y_numel(Conv2dDims d) { return (int64_t)d.N * d.K * conv2d_out_h(d) * conv2d_out_w(d); }

// ---------------------------------------------------------------------------
// Reference vs finite differences.

typedef struct FwdCtx { const double *x, *w, *b; Conv2dDims d; } FwdCtx;
static void conv_fwd(void* p, double* out) {
    FwdCtx* c = p;
    ref_conv2d_forward(out, c->x, c->w, c->b, c->d);
}

static void check_ref_fd(Conv2dDims d, uint64_t seed) {
    TestRng rng = rng_seed(seed);
    int64_t nx = x_numel(d), nw = w_numel(d), ny = y_numel(d);
    double* x = rand_array(&rng, nx, -1, 1);
    double* w = rand_array(&rng, nw, -1, 1);
    double* b = rand_array(&rng, d.K, -1, 1);
    double* r = rand_array(&rng, ny, -1, 1);
    double* dx = calloc(nx, sizeof *dx);
    double* dw = calloc(nw, sizeof *dw);
    double* db = calloc(d.K, sizeof *db);
    ref_conv2d_backward(dx, dw, db, r, x, w, d);
    FwdCtx ctx = {x, w, b, d};
    char label[96];
    snprintf(label, sizeof label, "conv2d seed %llu dx", (unsigned long long)seed);
    ASSERT_FD(label, conv_fwd, &ctx, ny, r, x, nx, dx);
    snprintf(label, sizeof label, "conv2d seed %llu dw", (unsigned long long)seed);
    ASSERT_FD(label, conv_fwd, &ctx, ny, r, w, nw, dw);
    snprintf(label, sizeof label, "conv2d seed %llu db", (unsigned long long)seed);
    ASSERT_FD(label, conv_fwd, &ctx, ny, r, b, d.K, db);
    free(x), free(w), free(b), free(r), free(dx), free(dw), free(db);
}

Test(op_conv2d, ref_matches_finite_differences) {
    check_ref_fd(DIMS(1, 2, 3, 5, 5, 3, 3, 1, 1), 1);   // tiny 3x3
    check_ref_fd(DIMS(2, 3, 2, 7, 6, 3, 3, 2, 1), 2);   // strided, odd sizes
    check_ref_fd(DIMS(2, 3, 4, 5, 5, 1, 1, 1, 0), 3);   // 1x1
    check_ref_fd(DIMS(1, 2, 2, 6, 7, 2, 3, 3, 2), 4);   // non-square kernel, stride 3, pad 2
}

// ---------------------------------------------------------------------------
// Shader vs reference.

// Uploads data into a tensor that starts `misalign` elements into its allocation,
// viewed with `ndim` dims.
static Tensor upload_at(int ndim, const int64_t* shape, const double* data, int64_t misalign) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    if (!misalign) return t_upload(ndim, shape, data);
    double* padded = calloc(n + misalign, sizeof *padded);
    memcpy(padded + misalign, data, n * sizeof *data);
    int64_t whole = n + misalign;
    Tensor t = t_upload(1, &whole, padded);
    free(padded);
    return tensor_reshape(tensor_slice(t, misalign, n), ndim, shape);
}

static void run_case(const ConvCase* cc, uint64_t seed) {
    Conv2dDims d = cc->d;
    int OH = conv2d_out_h(d), OW = conv2d_out_w(d);
    int64_t nx = x_numel(d), nw = w_numel(d), ny = y_numel(d);
    TestRng rng = rng_seed(seed);
    double* x = rand_array(&rng, nx, -1, 1);
    double* w = rand_array(&rng, nw, -1, 1);
    double* b = rand_array(&rng, d.K, -1, 1);
    double* dy = rand_array(&rng, ny, -1, 1);
    double* dx0 = rand_array(&rng, nx, -1, 1);  // backward accumulates into existing values
    double* dw0 = rand_array(&rng, nw, -1, 1);
    double* db0 = rand_array(&rng, d.K, -1, 1);
    double* y0 = rand_array(&rng, ny, -1, 1);   // forward overwrites

    int64_t sx[] = {d.N, d.C, d.H, d.W}, sw[] = {d.K, d.C, d.KH, d.KW}, sy[] = {d.N, d.K, OH, OW}, sb[] = {d.K};
    int64_t m = cc->misalign;
    Tensor tx = upload_at(4, sx, x, m), tw = upload_at(4, sw, w, m), tb = upload_at(1, sb, b, m);
    Tensor tdy = upload_at(4, sy, dy, m), ty = upload_at(4, sy, y0, m);
    Tensor tdx = upload_at(4, sx, dx0, m), tdw = upload_at(4, sw, dw0, m), tdb = upload_at(1, sb, db0, m);
    Cmd c;
    RUN_CMD(c, {
        op_conv2d_forward(&c, &ty, &tx, &tw, cc->bias ? &tb : NULL, d);
        op_conv2d_backward(&c, cc->dx ? &tdx : NULL, &tdw, cc->db ? &tdb : NULL, &tdy, &tx, &tw, d);
    });

    double* y_ref = calloc(ny, sizeof *y_ref);
    ref_conv2d_forward(y_ref, x, w, cc->bias ? b : NULL, d);
    double *dx_ref = copy_array(dx0, nx), *dw_ref = copy_array(dw0, nw), *db_ref = copy_array(db0, d.K);
    ref_conv2d_backward(cc->dx ? dx_ref : NULL, dw_ref, cc->db ? db_ref : NULL, dy, x, w, d);
    double *y_got = t_download_new(&ty), *dx_got = t_download_new(&tdx), *dw_got = t_download_new(&tdw),
           *db_got = t_download_new(&tdb);

    char label[128];
    snprintf(label, sizeof label, "%s (seed %llu) y", cc->name, (unsigned long long)seed);
    ASSERT_CLOSE(label, y_got, y_ref, ny, TOL_F32);
    snprintf(label, sizeof label, "%s (seed %llu) dx", cc->name, (unsigned long long)seed);
    ASSERT_CLOSE(label, dx_got, dx_ref, nx, TOL_F32);  // untouched (== dx0) when !cc->dx
    snprintf(label, sizeof label, "%s (seed %llu) dw", cc->name, (unsigned long long)seed);
    ASSERT_CLOSE(label, dw_got, dw_ref, nw, TOL_F32);
    snprintf(label, sizeof label, "%s (seed %llu) db", cc->name, (unsigned long long)seed);
    ASSERT_CLOSE(label, db_got, db_ref, d.K, TOL_F32);

    // Adds in the epilogue, against y_ref = conv + b: a separate residual r, y += conv + b
    // in place (y holding r), and t[n][k] broadcast over the plane.
    double* r = rand_array(&rng, ny, -1, 1);
    double* t = rand_array(&rng, (int64_t)d.N * d.K, -1, 1);
    int64_t st[] = {d.N, d.K};
    Tensor tr = upload_at(4, sy, r, m), tt = upload_at(2, st, t, m);
    Tensor ty_sep = upload_at(4, sy, y0, m), ty_in = upload_at(4, sy, r, m), ty_ch = upload_at(4, sy, y0, m);
    RUN_CMD(c, {
        op_conv2d_forward_add(&c, &ty_sep, &tx, &tw, cc->bias ? &tb : NULL, &tr, d);
        op_conv2d_forward_add(&c, &ty_in, &tx, &tw, cc->bias ? &tb : NULL, &ty_in, d);
        op_conv2d_forward_add_channel(&c, &ty_ch, &tx, &tw, cc->bias ? &tb : NULL, &tt, d);
    });
    double *want_res = copy_array(y_ref, ny), *want_ch = copy_array(y_ref, ny);
    int64_t plane = (int64_t)OH * OW;
    for (int64_t i = 0; i < ny; i++) want_res[i] += r[i], want_ch[i] += t[i / plane];
    const struct { const char* what; const Tensor* got; const double* want; } adds[] = {
        {"y = conv + residual", &ty_sep, want_res}, {"y += conv", &ty_in, want_res}, {"y = conv + t[n][k]", &ty_ch, want_ch}};
    for (size_t a = 0; a < sizeof adds / sizeof *adds; a++) {
        double* got = t_download_new(adds[a].got);
        snprintf(label, sizeof label, "%s (seed %llu) %s", cc->name, (unsigned long long)seed, adds[a].what);
        ASSERT_CLOSE(label, got, adds[a].want, ny, TOL_F32);
        free(got);
    }
    free(r), free(t), free(want_res), free(want_ch);

    free(x), free(w), free(b), free(dy), free(dx0), free(dw0), free(db0), free(y0);
    free(y_ref), free(dx_ref), free(dw_ref), free(db_ref), free(y_got), free(dx_got), free(dw_got), free(db_got);
}

// A frozen weight (LoRA): dw and db NULL compute dx alone, equal to the reference's dx.
static void run_frozen_weight_case(const ConvCase* cc, uint64_t seed) {
    Conv2dDims d = cc->d;
    int OH = conv2d_out_h(d), OW = conv2d_out_w(d);
    int64_t nx = x_numel(d), nw = w_numel(d), ny = y_numel(d);
    TestRng rng = rng_seed(seed);
    double *x = rand_array(&rng, nx, -1, 1), *w = rand_array(&rng, nw, -1, 1), *dy = rand_array(&rng, ny, -1, 1);
    double *dx0 = rand_array(&rng, nx, -1, 1), *dw_scratch = calloc(nw, sizeof(double));
    int64_t sx[] = {d.N, d.C, d.H, d.W}, sw[] = {d.K, d.C, d.KH, d.KW}, sy[] = {d.N, d.K, OH, OW};
    Tensor tx = upload_at(4, sx, x, cc->misalign), tw = upload_at(4, sw, w, cc->misalign);
    Tensor tdy = upload_at(4, sy, dy, cc->misalign), tdx = upload_at(4, sx, dx0, cc->misalign);
    Cmd c;
    RUN_CMD(c, op_conv2d_backward(&c, &tdx, NULL, NULL, &tdy, &tx, &tw, d));
    double* dx_ref = copy_array(dx0, nx);
    ref_conv2d_backward(dx_ref, dw_scratch, NULL, dy, x, w, d);
    double* dx_got = t_download_new(&tdx);
    char label[128];
    snprintf(label, sizeof label, "%s (seed %llu) dx with dw NULL", cc->name, (unsigned long long)seed);
    ASSERT_CLOSE(label, dx_got, dx_ref, nx, TOL_F32);
    free(x), free(w), free(dy), free(dx0), free(dw_scratch), free(dx_ref), free(dx_got);
}

#define GPU_CASE(test, seed, ...)                                  \
    Test(op_conv2d, test, GPU_TEST) {                              \
        require_gpu();                                             \
        ConvCase cases[] = {__VA_ARGS__};                          \
        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) { \
            run_case(&cases[i], (seed) + i);                       \
            if (cases[i].dx) run_frozen_weight_case(&cases[i], (seed) + 100 + i); \
        }                                                          \
        ASSERT_NO_VALIDATION_MESSAGES();                           \
    }

GPU_CASE(gpu_tiny, 10, {"tiny 3x3 s1", DIMS(1, 2, 3, 5, 5, 3, 3, 1, 1), true, true, true, 0})
// Vector paths everywhere (W, C, K multiples of 4).
GPU_CASE(gpu_realistic, 20, {"realistic 3x3 s1", DIMS(2, 16, 32, 16, 16, 3, 3, 1, 1), true, true, true, 0})
GPU_CASE(gpu_downsample, 25, {"downsample 3x3 s2", DIMS(2, 16, 16, 16, 16, 3, 3, 2, 1), true, true, true, 0})
// Odd sizes: scalar paths, partial column blocks, channels not multiples of 4; bias
// and db absent once.
GPU_CASE(gpu_odd, 30, {"odd 3x3 s2", DIMS(3, 5, 7, 13, 11, 3, 3, 2, 1), true, true, true, 0},
         {"odd 3x3 s1 no bias/db", DIMS(2, 5, 7, 13, 11, 3, 3, 1, 1), false, true, false, 0})
GPU_CASE(gpu_1x1, 40, {"1x1 shortcut", DIMS(2, 6, 4, 7, 7, 1, 1, 1, 0), true, true, true, 0},
         {"1x1 vec", DIMS(2, 8, 12, 8, 8, 1, 1, 1, 0), true, true, true, 0},
         {"1x1 s2 (phases without taps)", DIMS(1, 4, 4, 9, 8, 1, 1, 2, 0), true, true, true, 0})
// conv_in / conv_out of a one-channel image model; conv_in needs no dx.
GPU_CASE(gpu_one_channel, 50, {"conv_in C=1", DIMS(2, 1, 8, 12, 12, 3, 3, 1, 1), true, false, true, 0},
         {"conv_out K=1", DIMS(2, 8, 1, 12, 12, 3, 3, 1, 1), true, true, true, 0},
         {"C=1 K=1", DIMS(1, 1, 1, 6, 9, 3, 3, 1, 1), true, true, true, 0})
GPU_CASE(gpu_general_kernels, 60, {"5x3 s2 p2", DIMS(2, 3, 8, 10, 12, 5, 3, 2, 2), true, true, true, 0},
         {"2x4 s3 p0", DIMS(1, 3, 5, 11, 14, 2, 4, 3, 0), true, true, true, 0})
GPU_CASE(gpu_large_kernel, 65, {"5x5 s1 p2 wide", DIMS(1, 3, 3, 6, 20, 5, 5, 1, 2), true, true, true, 0})
// Tensors that start mid-texel (slices): the R32F fallbacks with element offsets.
GPU_CASE(gpu_unaligned, 70, {"unaligned 3x3 s1", DIMS(2, 4, 8, 8, 8, 3, 3, 1, 1), true, true, true, 1})
// Weight-gradient sweeps over more than lavapipe's loop limit per invocation
// (65535 iterations, all loops together; 2 + 3 per output row of 3 or 5
// columns here): one tall sample (66k), then 20 samples of 1001 rows (80k).
GPU_CASE(gpu_long_sweeps, 90, {"tall 3x3 s1", DIMS(1, 1, 2, 22001, 3, 3, 3, 1, 1), true, true, true, 0},
         {"many samples 3x3 s1", DIMS(20, 1, 2, 1001, 5, 3, 3, 1, 1), true, false, true, 0})

// The per-kernel profile (gpu/profile.h) on a recorded conv: timestamps around every
// dispatch must leave the results unchanged and the table must name each kernel
// with its shape and a GFLOP/s figure (conv2d notes its FLOPs).
Test(op_conv2d, gpu_profiled, GPU_TEST) {
    require_gpu();
    profile_enable();  // this process only: Criterion forks one per test
    ConvCase cc = {"profiled 3x3 s1", DIMS(2, 16, 32, 16, 16, 3, 3, 1, 1), true, true, true, 0};
    run_case(&cc, 80);
    FILE* f = tmpfile();
    cr_assert(f);
    profile_print(f, 40, 1, 0);
    rewind(f);
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    const char* want[] = {"| conv2d_fwd | op_conv2d_forward C16 K32 16x16 k3 s1 | 1.0 |",
                          "| conv2d_bwd_data | op_conv2d_backward C16 K32 16x16 k3 s1 | 1.0 |",
                          "| conv2d_bwd_weight | op_conv2d_backward C16 K32 16x16 k3 s1 | 1.0 |"};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) cr_assert(strstr(buf, want[i]), "profile lacks %s:\n%s", want[i], buf);
    ASSERT_NO_VALIDATION_MESSAGES();
}
