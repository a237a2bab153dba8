// test_op_eltwise.c: activations (SiLU, exact GELU, quick_gelu, identity) and GEGLU: reference vs
// finite differences, shader forward and backward vs reference on three sizes;
// add, accumulate and scale: shader vs reference (in place and on slices too).
#include <string.h>

#include "test_util.h"

static const Activation ACTS[] = {ACT_SILU, ACT_GELU, ACT_QUICK_GELU, ACT_NONE};
static const char* ACT_NAMES[] = {"silu", "gelu", "quick_gelu", "none"};
#define NACTS 4
static const int64_t SIZES[] = {7, 4096, 12347};  // tiny, realistic, odd (not a multiple of the workgroup)

typedef struct { const double* x; int64_t n; Activation act; } ActCtx;
static void act_fwd(void* p, double* out) {
    ActCtx* c = p;
    ref_act_forward(out, c->x, c->n, c->act);
}

Test(op_act, ref_matches_finite_differences) {
    for (int a = 0; a < NACTS; a++) {
        TestRng rng = rng_seed(11 + a);
        int64_t n = 300;
        double* x = rand_array(&rng, n, -4, 4);
        double* r = rand_array(&rng, n, -1, 1);
        double* dx = calloc(n, sizeof *dx);
        ref_act_backward(dx, r, x, n, ACTS[a]);
        ActCtx ctx = {x, n, ACTS[a]};
        ASSERT_FD(ACT_NAMES[a], act_fwd, &ctx, n, r, x, n, dx);
        free(x), free(r), free(dx);
    }
}

Test(op_act, gpu_matches_ref, GPU_TEST) {
    require_gpu();
    for (int a = 0; a < NACTS; a++)
        for (int s = 0; s < 3; s++) {
            int64_t n = SIZES[s];
            TestRng rng = rng_seed(100 * a + s);
            double* x = rand_array(&rng, n, -6, 6);
            double* dy = rand_array(&rng, n, -1, 1);
            double* dx0 = rand_array(&rng, n, -1, 1);  // backward accumulates into existing values
            Tensor tx = t_upload(1, &n, x), tdy = t_upload(1, &n, dy), tdx = t_upload(1, &n, dx0);
            Tensor ty = arena_tensor1(&tarena, n);
            Cmd c;
            RUN_CMD(c, {
                op_act_forward(&c, &ty, &tx, ACTS[a]);
                op_act_backward(&c, &tdx, &tdy, &tx, ACTS[a]);
            });
            double* y_ref = calloc(n, sizeof *y_ref);
            ref_act_forward(y_ref, x, n, ACTS[a]);
            double* dx_ref = copy_array(dx0, n);
            ref_act_backward(dx_ref, dy, x, n, ACTS[a]);
            double* y = t_download_new(&ty);
            double* dx = t_download_new(&tdx);
            char label[64];
            snprintf(label, sizeof label, "%s fwd n=%lld", ACT_NAMES[a], (long long)n);
            ASSERT_CLOSE(label, y, y_ref, n, TOL_F32);
            snprintf(label, sizeof label, "%s bwd n=%lld", ACT_NAMES[a], (long long)n);
            ASSERT_CLOSE(label, dx, dx_ref, n, TOL_F32);
            free(x), free(dy), free(dx0), free(y_ref), free(dx_ref), free(y), free(dx);
        }
    ASSERT_NO_VALIDATION_MESSAGES();
}

// ---------------------------------------------------------------------------
// GEGLU: x [R, 2D] -> y [R, D]. Shapes: tiny, realistic (a 16x16 transformer at
// C = 32: D = 4C), odd (D not a multiple of 4: the per-float path).
static const int64_t GEGLU_SHAPES[][2] = {{1, 4}, {2 * 256, 128}, {13, 7}};

typedef struct { const double* x; int64_t R, D; } GegluCtx;
static void geglu_fwd(void* p, double* out) {
    GegluCtx* c = p;
    ref_geglu_forward(out, c->x, c->R, c->D);
}

Test(op_geglu, ref_matches_finite_differences) {
    TestRng rng = rng_seed(7);
    int64_t R = 3, D = 5;
    double* x = rand_array(&rng, R * 2 * D, -3, 3);
    double* r = rand_array(&rng, R * D, -1, 1);
    double* dx = calloc(R * 2 * D, sizeof *dx);
    ref_geglu_backward(dx, r, x, R, D);
    GegluCtx ctx = {x, R, D};
    ASSERT_FD("geglu dx", geglu_fwd, &ctx, R * D, r, x, R * 2 * D, dx);
    free(x), free(r), free(dx);
}

Test(op_geglu, gpu_matches_ref, GPU_TEST) {
    require_gpu();
    for (int s = 0; s < 3; s++) {
        int64_t R = GEGLU_SHAPES[s][0], D = GEGLU_SHAPES[s][1], nx = R * 2 * D, ny = R * D;
        TestRng rng = rng_seed(40 + s);
        double* x = rand_array(&rng, nx, -5, 5);
        double* dy = rand_array(&rng, ny, -1, 1);
        double* dx0 = rand_array(&rng, nx, -1, 1);
        Tensor tx = t_upload(2, (int64_t[]){R, 2 * D}, x), tdy = t_upload(2, (int64_t[]){R, D}, dy);
        Tensor tdx = t_upload(2, (int64_t[]){R, 2 * D}, dx0), ty = arena_tensor2(&tarena, R, D);
        Cmd c;
        RUN_CMD(c, {
            op_geglu_forward(&c, &ty, &tx);
            op_geglu_backward(&c, &tdx, &tdy, &tx);
        });
        double* y_ref = calloc(ny, sizeof *y_ref);
        ref_geglu_forward(y_ref, x, R, D);
        double* dx_ref = copy_array(dx0, nx);
        ref_geglu_backward(dx_ref, dy, x, R, D);
        double *y = t_download_new(&ty), *dx = t_download_new(&tdx);
        char label[64];
        snprintf(label, sizeof label, "geglu fwd R=%lld D=%lld", (long long)R, (long long)D);
        ASSERT_CLOSE(label, y, y_ref, ny, TOL_F32);
        snprintf(label, sizeof label, "geglu bwd R=%lld D=%lld", (long long)R, (long long)D);
        ASSERT_CLOSE(label, dx, dx_ref, nx, TOL_F32);
        free(x), free(dy), free(dx0), free(y_ref), free(dx_ref), free(y), free(dx);
    }
    ASSERT_NO_VALIDATION_MESSAGES();
}

// ---------------------------------------------------------------------------
// add, accumulate, scale: no gradient of their own (op_add's backward is two
// op_accumulate calls), so forward vs reference only: on the three sizes, in
// place where the contract allows, and on slices starting 1 float (the per-float
// path) and 4 floats (still 16-byte aligned: the vec4 path) into a tensor.

// Uploads a into a slice [off, off + n) of a fresh tensor of n + 8 elements.
static Tensor upload_slice(const double* a, int64_t n, int64_t off) {
    double* buf = calloc(n + 8, sizeof *buf);
    memcpy(buf + off, a, (size_t)n * sizeof *a);
    int64_t len = n + 8;
    Tensor t = tensor_slice(t_upload(1, &len, buf), off, n);
    free(buf);
    return t;
}

Test(op_sum, gpu_matches_ref, GPU_TEST) {
    require_gpu();
    const int64_t offs[] = {0, 1, 4};
    for (int s = 0; s < 3; s++)
        for (int o = 0; o < 3; o++) {
            int64_t n = SIZES[s], off = offs[o];
            TestRng rng = rng_seed(500 + 10 * s + o);
            double* a = rand_array(&rng, n, -2, 2);
            double* b = rand_array(&rng, n, -2, 2);
            double* d0 = rand_array(&rng, n, -2, 2);
            const float alpha = -0.75f;
            Tensor ta = upload_slice(a, n, off), tb = upload_slice(b, n, off), tacc = upload_slice(d0, n, off);
            Tensor ty = upload_slice(d0, n, off), ts = upload_slice(d0, n, off);
            Tensor ta2 = upload_slice(a, n, off), tb2 = upload_slice(b, n, off);  // in place targets
            Cmd c;
            RUN_CMD(c, {
                op_add(&c, &ty, &ta, &tb);
                op_accumulate(&c, &tacc, &tb, alpha);
                op_scale(&c, &ts, &ta, alpha);
                op_add(&c, &ta2, &ta2, &tb);  // y = a
                op_scale(&c, &tb2, &tb2, alpha);  // y = x
            });
            double* add_ref = calloc(n, sizeof *add_ref);
            ref_add(add_ref, a, b, n);
            double* acc_ref = copy_array(d0, n);
            ref_accumulate(acc_ref, b, n, alpha);
            double* scale_ref = calloc(n, sizeof *scale_ref);
            ref_scale(scale_ref, a, n, alpha);
            double* scale_b_ref = calloc(n, sizeof *scale_b_ref);
            ref_scale(scale_b_ref, b, n, alpha);
            struct { const char* what; const Tensor* t; const double* want; } checks[] = {
                {"add", &ty, add_ref}, {"accumulate", &tacc, acc_ref}, {"scale", &ts, scale_ref},
                {"add in place", &ta2, add_ref}, {"scale in place", &tb2, scale_b_ref}};
            for (int k = 0; k < 5; k++) {
                double* got = t_download_new(checks[k].t);
                char label[80];
                snprintf(label, sizeof label, "%s n=%lld offset=%lld", checks[k].what, (long long)n, (long long)off);
                ASSERT_CLOSE(label, got, checks[k].want, n, TOL_F32);
                free(got);
            }
            free(a), free(b), free(d0), free(add_ref), free(acc_ref), free(scale_ref), free(scale_b_ref);
        }
    ASSERT_NO_VALIDATION_MESSAGES();
}

// The activations on a slice 1 float into a tensor: the per-float path with an
// element offset in the push constants.
Test(op_act, gpu_matches_ref_on_unaligned_slices, GPU_TEST) {
    require_gpu();
    int64_t n = 4096;
    TestRng rng = rng_seed(77);
    double* x = rand_array(&rng, n, -6, 6);
    double* dy = rand_array(&rng, n, -1, 1);
    double* dx0 = rand_array(&rng, n, -1, 1);
    Tensor tx = upload_slice(x, n, 1), tdy = upload_slice(dy, n, 3), tdx = upload_slice(dx0, n, 1);
    Tensor ty = upload_slice(dx0, n, 2);
    Cmd c;
    RUN_CMD(c, {
        op_act_forward(&c, &ty, &tx, ACT_GELU);
        op_act_backward(&c, &tdx, &tdy, &tx, ACT_GELU);
    });
    double* y_ref = calloc(n, sizeof *y_ref);
    ref_act_forward(y_ref, x, n, ACT_GELU);
    double* dx_ref = copy_array(dx0, n);
    ref_act_backward(dx_ref, dy, x, n, ACT_GELU);
    double *y = t_download_new(&ty), *dx = t_download_new(&tdx);
    ASSERT_CLOSE("gelu fwd slice", y, y_ref, n, TOL_F32);
    ASSERT_CLOSE("gelu bwd slice", dx, dx_ref, n, TOL_F32);
    free(x), free(dy), free(dx0), free(y_ref), free(dx_ref), free(y), free(dx);
    ASSERT_NO_VALIDATION_MESSAGES();
}
