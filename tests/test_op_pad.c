// test_op_pad.c: zero padding (pad2d) and clamp: reference backward vs finite
// differences, shader forward and backward vs reference on a tiny, a realistic and
// odd shapes (sizes not multiples of 4, asymmetric and zero pads), gradients
// pre-filled (the += contract).
#include <math.h>
#include <stdlib.h>

#include "test_util.h"

static void expect(const char* label, const Tensor* t, const double* want, int64_t n, Tol tol) {
    double* got = t_download_new(t);
    ASSERT_CLOSE(label, got, want, n, tol);
    free(got);
}

// ---------------------------------------------------------------------------
// pad2d

typedef struct { const double* x; Pad2dDims d; } PadCtx;
static void pad_fwd(void* p, double* out) {
    PadCtx* c = p;
    ref_pad2d_forward(out, c->x, c->d);
}

static int64_t pad_numel(Pad2dDims d, bool out) {
    return (int64_t)d.N * d.C * (out ? pad2d_out_h(d) * pad2d_out_w(d) : d.H * d.W);
}

Test(op_pad2d, ref_matches_finite_differences) {
    const Pad2dDims dims[] = {{2, 3, 3, 4, 0, 1, 0, 1}, {1, 2, 2, 3, 2, 0, 1, 3}};
    for (int s = 0; s < 2; s++) {
        Pad2dDims d = dims[s];
        TestRng rng = rng_seed(11 + s);
        int64_t n = pad_numel(d, false), ny = pad_numel(d, true);
        double* x = rand_array(&rng, n, -1, 1);
        double* r = rand_array(&rng, ny, -1, 1);
        double* dx = calloc((size_t)n, sizeof *dx);
        ref_pad2d_backward(dx, r, d);
        PadCtx ctx = {x, d};
        ASSERT_FD("pad2d dx", pad_fwd, &ctx, ny, r, x, n, dx);
        free(x), free(r), free(dx);
    }
}

Test(op_pad2d, ref_places_x_and_zeros) {
    // 1 x 1 x 2 x 2 padded (top 0, bottom 1, left 0, right 1): Downsample2D's pad.
    Pad2dDims d = {1, 1, 2, 2, 0, 1, 0, 1};
    double x[4] = {1, 2, 3, 4}, y[9], want[9] = {1, 2, 0, 3, 4, 0, 0, 0, 0};
    ref_pad2d_forward(y, x, d);
    for (int i = 0; i < 9; i++) cr_assert_eq(y[i], want[i], "y[%d] = %g, expected %g", i, y[i], want[i]);
}

Test(op_pad2d, gpu_matches_ref, GPU_TEST) {
    require_gpu();
    // tiny; realistic (a VAE downsampler's input, 32 x 32 at C = 64); odd sizes and every side padded
    const Pad2dDims dims[] = {{1, 1, 2, 2, 0, 1, 0, 1}, {2, 64, 32, 32, 0, 1, 0, 1}, {3, 5, 7, 3, 2, 1, 3, 0},
                              {1, 3, 5, 9, 0, 0, 0, 0}};
    for (int s = 0; s < 4; s++) {
        Pad2dDims d = dims[s];
        int64_t n = pad_numel(d, false), ny = pad_numel(d, true);
        int64_t xs[4] = {d.N, d.C, d.H, d.W}, ys[4] = {d.N, d.C, pad2d_out_h(d), pad2d_out_w(d)};
        TestRng rng = rng_seed(30 + s);
        double* x = rand_array(&rng, n, -1, 1);
        double* dy = rand_array(&rng, ny, -1, 1);
        double* dx0 = rand_array(&rng, n, -1, 1);
        double* y0 = rand_array(&rng, ny, -1, 1);  // stale values: the forward must overwrite every element
        Tensor tx = t_upload(4, xs, x), tdy = t_upload(4, ys, dy), tdx = t_upload(4, xs, dx0);
        Tensor ty = t_upload(4, ys, y0);
        Cmd c;
        RUN_CMD(c, {
            op_pad2d_forward(&c, &ty, &tx, d);
            op_pad2d_backward(&c, &tdx, &tdy, d);
        });
        double *y_ref = calloc((size_t)ny, sizeof(double)), *dx_ref = copy_array(dx0, n);
        ref_pad2d_forward(y_ref, x, d);
        ref_pad2d_backward(dx_ref, dy, d);
        char label[96];
        snprintf(label, sizeof label, "pad2d fwd %dx%dx%dx%d pad %d %d %d %d", d.N, d.C, d.H, d.W, d.top, d.bottom,
                 d.left, d.right);
        expect(label, &ty, y_ref, ny, TOL_F32);
        snprintf(label, sizeof label, "pad2d bwd %dx%dx%dx%d pad %d %d %d %d", d.N, d.C, d.H, d.W, d.top, d.bottom,
                 d.left, d.right);
        expect(label, &tdx, dx_ref, n, TOL_F32);
        free(x), free(dy), free(dx0), free(y0), free(y_ref), free(dx_ref);
    }
    ASSERT_NO_VALIDATION_MESSAGES();
}

// ---------------------------------------------------------------------------
// clamp

typedef struct { const double* x; int64_t n; double lo, hi; } ClampCtx;
static void clamp_fwd(void* p, double* out) {
    ClampCtx* c = p;
    ref_clamp_forward(out, c->x, c->n, c->lo, c->hi);
}

Test(op_clamp, ref_matches_finite_differences) {
    // Values kept at least 0.05 away from the bounds: the clamp has a kink there.
    TestRng rng = rng_seed(5);
    int64_t n = 40;
    double lo = -0.5, hi = 0.7;
    double* x = rand_array(&rng, n, -1, 1);
    for (int64_t i = 0; i < n; i++)
        if (fabs(x[i] - lo) < 0.05 || fabs(x[i] - hi) < 0.05) x[i] = 0.1;
    double* r = rand_array(&rng, n, -1, 1);
    double* dx = calloc((size_t)n, sizeof *dx);
    ref_clamp_backward(dx, r, x, n, lo, hi);
    ClampCtx ctx = {x, n, lo, hi};
    ASSERT_FD("clamp dx", clamp_fwd, &ctx, n, r, x, n, dx);
    free(x), free(r), free(dx);
}

Test(op_clamp, gpu_matches_ref, GPU_TEST) {
    require_gpu();
    // tiny (vec4 path), realistic (a VAE's logvar, [2, 4, 32, 32]), odd (per-float path)
    const int64_t sizes[] = {4, 2 * 4 * 32 * 32, 37};
    for (int s = 0; s < 3; s++) {
        int64_t n = sizes[s];
        TestRng rng = rng_seed(50 + s);
        double* x = rand_array(&rng, n, -40, 40);
        x[0] = 20, x[n - 1] = -30;  // the bounds themselves pass the gradient
        double* dy = rand_array(&rng, n, -1, 1);
        double* dx0 = rand_array(&rng, n, -1, 1);
        Tensor tx = t_upload(1, &n, x), tdy = t_upload(1, &n, dy), tdx = t_upload(1, &n, dx0);
        Tensor ty = arena_tensor(&tarena, 1, &n), tin = t_upload(1, &n, x);
        Cmd c;
        RUN_CMD(c, {
            op_clamp_forward(&c, &ty, &tx, -30.0f, 20.0f);
            op_clamp_forward(&c, &tin, &tin, -30.0f, 20.0f);  // in place
            op_clamp_backward(&c, &tdx, &tdy, &tx, -30.0f, 20.0f);
        });
        double *y_ref = calloc((size_t)n, sizeof(double)), *dx_ref = copy_array(dx0, n);
        ref_clamp_forward(y_ref, x, n, -30, 20);
        ref_clamp_backward(dx_ref, dy, x, n, -30, 20);
        char label[64];
        snprintf(label, sizeof label, "clamp fwd n %lld", (long long)n);
        expect(label, &ty, y_ref, n, TOL_F32);
        snprintf(label, sizeof label, "clamp in place n %lld", (long long)n);
        expect(label, &tin, y_ref, n, TOL_F32);
        snprintf(label, sizeof label, "clamp bwd n %lld", (long long)n);
        expect(label, &tdx, dx_ref, n, TOL_F32);
        free(x), free(dy), free(dx0), free(y_ref), free(dx_ref);
    }
    ASSERT_NO_VALIDATION_MESSAGES();
}

Test(op_clamp, gpu_keeps_nan, GPU_TEST) {
    require_gpu();
    int64_t n = 4;
    float h[4] = {NAN, -100, 100, 1}, out[4];
    Tensor t = arena_tensor(&tarena, 1, &n);
    tensor_upload(&tgpu, &t, h);
    Cmd c;
    RUN_CMD(c, op_clamp_forward(&c, &t, &t, -30.0f, 20.0f));
    tensor_download(&tgpu, &t, out);
    cr_assert(isnan(out[0]), "clamp(NaN) = %g, expected NaN (as torch.clamp)", out[0]);
    cr_assert(out[1] == -30 && out[2] == 20 && out[3] == 1, "clamp: %g %g %g", out[1], out[2], out[3]);
    ASSERT_NO_VALIDATION_MESSAGES();
}
