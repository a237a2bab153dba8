// test_op_eltwise.c: activations (SiLU, exact GELU, quick_gelu, identity) and GEGLU: reference vs
// finite differences, shader forward and backward vs reference on three sizes;
// add, accumulate and scale: shader vs reference (in place and on slices too).
#include <math.h>
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

// ---------------------------------------------------------------------------
// Dropout: the mask is a pure function of (key, the row's global item, module,
// element). Reference: statistics of the mask, row identity across micro-batch
// splits, backward = the same mask (finite differences); shader vs reference on
// odd shapes and slices, store and accumulate, p = 0 the identity.

static const uint32_t DKEY[4] = {0x12345678u, 0x9abcdef0u, 3, 2};  // key0, key1, first item 3, 2 items

typedef struct { const double* x; int64_t rows, per_row; double p; } DropCtx;
static void drop_fwd(void* p, double* out) {
    DropCtx* c = p;
    ref_dropout(out, c->x, c->rows, c->per_row, DKEY, 5, c->p, false);
}

Test(op_dropout, ref_matches_finite_differences) {
    TestRng rng = rng_seed(91);
    int64_t rows = 4, per_row = 37, n = rows * per_row;
    double* x = rand_array(&rng, n, -2, 2);
    double* r = rand_array(&rng, n, -1, 1);
    double* dx = calloc(n, sizeof *dx);
    ref_dropout(dx, r, rows, per_row, DKEY, 5, 0.3, true);  // backward: the same mask on the gradient
    DropCtx ctx = {x, rows, per_row, 0.3};
    ASSERT_FD("dropout dx", drop_fwd, &ctx, n, r, x, n, dx);
    free(x), free(r), free(dx);
}

Test(op_dropout, ref_mask_statistics_and_identity) {
    int64_t rows = 8, per_row = 20000, n = rows * per_row;
    double* x = malloc(n * sizeof *x);
    double* y = malloc(n * sizeof *y);
    for (int64_t i = 0; i < n; i++) x[i] = 1.0 + (double)(i % 7);
    const double ps[] = {0.0, 0.1, 0.5, 0.9};
    for (int k = 0; k < 4; k++) {
        ref_dropout(y, x, rows, per_row, DKEY, 1, ps[k], false);
        int64_t dropped = 0;
        for (int64_t i = 0; i < n; i++) {
            if (y[i] == 0) dropped++;
            else cr_assert_float_eq(y[i], x[i] / (1 - ps[k]), 1e-12, "a kept value is x / (1 - p)");
        }
        double frac = (double)dropped / (double)n;  // binomial: sd <= 0.0013 at n = 160000
        cr_assert(fabs(frac - ps[k]) < 0.006, "p = %g: dropped fraction %g", ps[k], frac);
    }
    // Another module, another key: other masks (a quarter of the elements differ at p = 0.5).
    double* y2 = malloc(n * sizeof *y2);
    ref_dropout(y, x, rows, per_row, DKEY, 1, 0.5, false);
    ref_dropout(y2, x, rows, per_row, DKEY, 2, 0.5, false);
    int64_t diff = 0;
    for (int64_t i = 0; i < n; i++) diff += (y[i] == 0) != (y2[i] == 0);
    cr_assert(fabs((double)diff / n - 0.5) < 0.01, "modules 1 and 2 draw independent masks (%lld differ)", (long long)diff);
    uint32_t key2[4] = {DKEY[0] ^ 1u, DKEY[1], DKEY[2], DKEY[3]};
    ref_dropout(y2, x, rows, per_row, key2, 1, 0.5, false);
    diff = 0;
    for (int64_t i = 0; i < n; i++) diff += (y[i] == 0) != (y2[i] == 0);
    cr_assert(fabs((double)diff / n - 0.5) < 0.01, "another key draws another mask");
    free(x), free(y), free(y2);
}

// A row's mask follows its global item, not its position: rows [w0 w1 l0 l1] of
// items 3, 4 in one micro-batch equal rows [w0 l0] (first 3) and [w1 l1] (first 4)
// in two, so splitting a batch over micro-batches or processes keeps the masks.
Test(op_dropout, ref_mask_follows_the_global_item) {
    int64_t per_row = 500;
    double* x = malloc(4 * per_row * sizeof *x);
    for (int64_t i = 0; i < 4 * per_row; i++) x[i] = 1;
    double *one = malloc(4 * per_row * sizeof *one), *a = malloc(2 * per_row * sizeof *a),
           *b = malloc(2 * per_row * sizeof *b);
    ref_dropout(one, x, 4, per_row, (uint32_t[]){7, 8, 3, 2}, 0, 0.5, false);
    ref_dropout(a, x, 2, per_row, (uint32_t[]){7, 8, 3, 1}, 0, 0.5, false);
    ref_dropout(b, x, 2, per_row, (uint32_t[]){7, 8, 4, 1}, 0, 0.5, false);
    const double* want[4] = {a, b, a + per_row, b + per_row};  // w3, w4, l3, l4
    for (int r = 0; r < 4; r++)
        cr_assert(!memcmp(one + r * per_row, want[r], per_row * sizeof *x), "row %d: the mask of its item", r);
    cr_assert(memcmp(one, one + 2 * per_row, per_row * sizeof *x), "a pair's two rows draw different masks");
    free(x), free(one), free(a), free(b);
}

Test(op_dropout, gpu_matches_ref, GPU_TEST) {
    require_gpu();
    static const int64_t shapes[][2] = {{1, 7}, {6, 1234}, {13, 333}};
    const double ps[] = {0.0, 0.1, 0.55};
    float keyf[4];
    memcpy(keyf, DKEY, sizeof keyf);
    Tensor key = arena_tensor1(&tarena, 4);
    tensor_upload(&tgpu, &key, keyf);
    for (int s = 0; s < 3; s++)
        for (int k = 0; k < 3; k++) {
            int64_t rows = shapes[s][0], per_row = shapes[s][1], n = rows * per_row;
            TestRng rng = rng_seed(700 + 10 * s + k);
            double* x = rand_array(&rng, n, -3, 3);
            double* y0 = rand_array(&rng, n, -1, 1);
            Tensor tx = upload_slice(x, n, 1), tacc = upload_slice(y0, n, 3);
            tx.ndim = 2, tx.shape[0] = rows, tx.shape[1] = per_row;
            Tensor ty = arena_tensor1(&tarena, n);
            DropoutDims d = {.p = (float)ps[k], .module = (uint32_t)(s + 1)};
            Cmd c;
            RUN_CMD(c, {
                op_dropout(&c, &ty, &tx, &key, d);
                d.accumulate = true;
                op_dropout(&c, &tacc, &tx, &key, d);
            });
            double* y_ref = calloc(n, sizeof *y_ref);
            ref_dropout(y_ref, x, rows, per_row, DKEY, (uint32_t)(s + 1), (float)ps[k], false);
            double* acc_ref = copy_array(y0, n);
            ref_dropout(acc_ref, x, rows, per_row, DKEY, (uint32_t)(s + 1), (float)ps[k], true);
            double *y = t_download_new(&ty), *acc = t_download_new(&tacc);
            for (int64_t i = 0; i < n; i++)
                cr_assert_eq(y[i] == 0, y_ref[i] == 0, "rows=%lld p=%g: element %lld is %s by the shader only",
                             (long long)rows, ps[k], (long long)i, y[i] == 0 ? "dropped" : "kept");
            char label[80];
            snprintf(label, sizeof label, "dropout rows=%lld per_row=%lld p=%g", (long long)rows, (long long)per_row, ps[k]);
            ASSERT_CLOSE(label, y, y_ref, n, TOL_F32);
            snprintf(label, sizeof label, "dropout accumulate rows=%lld p=%g", (long long)rows, ps[k]);
            ASSERT_CLOSE(label, acc, acc_ref, n, TOL_F32);
            if (ps[k] == 0)
                for (int64_t i = 0; i < n; i++) cr_assert_eq(y[i], x[i], "p = 0 copies x exactly");
            free(x), free(y0), free(y_ref), free(acc_ref), free(y), free(acc);
        }
    ASSERT_NO_VALIDATION_MESSAGES();
}
