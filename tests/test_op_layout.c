// test_op_layout.c: channel add, upsample2x, concat, NCHW <-> tokens, embedding and
// timestep embedding: reference backward vs finite differences, shader forward and
// backward vs reference on a tiny, a realistic and an odd shape (sizes not
// multiples of 4: the per-float paths), gradients pre-filled (the += contract).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

// Images [N, C, H, W]: tiny, realistic (a UNet level), odd.
static const int64_t IMG[][4] = {{1, 4, 2, 2}, {2, 32, 16, 16}, {3, 5, 7, 3}};

static int64_t prod(const int64_t* s, int n) {
    int64_t p = 1;
    for (int i = 0; i < n; i++) p *= s[i];
    return p;
}

// Downloads t and compares it with want.
static void expect(const char* label, const Tensor* t, const double* want, int64_t n, Tol tol) {
    double* got = t_download_new(t);
    ASSERT_CLOSE(label, got, want, n, tol);
    free(got);
}

static double* zeros(int64_t n) { return calloc((size_t)n, sizeof(double)); }

// ---------------------------------------------------------------------------
// Channel add

typedef struct { const double *x, *b; int64_t N, C, HW; bool per_n; } AddChCtx;
static void add_ch_fwd(void* p, double* out) {
    AddChCtx* c = p;
    ref_add_channel_forward(out, c->x, c->b, c->N, c->C, c->HW, c->per_n);
}

Test(op_add_channel, ref_matches_finite_differences) {
    for (int per_n = 0; per_n < 2; per_n++) {
        TestRng rng = rng_seed(1 + per_n);
        int64_t N = 2, C = 3, HW = 5, n = N * C * HW, nb = per_n ? N * C : C;
        double* x = rand_array(&rng, n, -1, 1);
        double* b = rand_array(&rng, nb, -1, 1);
        double* r = rand_array(&rng, n, -1, 1);
        double *dx = zeros(n), *db = zeros(nb);
        ref_add_channel_backward(dx, db, r, N, C, HW, per_n);
        AddChCtx ctx = {x, b, N, C, HW, per_n};
        ASSERT_FD("add_channel dx", add_ch_fwd, &ctx, n, r, x, n, dx);
        ASSERT_FD("add_channel db", add_ch_fwd, &ctx, n, r, b, nb, db);
        free(x), free(b), free(r), free(dx), free(db);
    }
}

// One shape, one bias kind: forward (also in place), backward with and without dx.
static void add_channel_case(const int64_t* shape, bool per_n, bool gpu_layout) {
    int64_t N = shape[0], C = shape[1], HW = shape[2] * shape[3], n = prod(shape, 4);
    int64_t nb = per_n ? N * C : C, bshape[2] = {per_n ? N : C, C};
    int bdims = per_n ? 2 : 1;
    const int64_t* bs = per_n ? bshape : &C;
    TestRng rng = rng_seed((uint64_t)(N * 1000 + C * 10 + per_n));
    double* x = rand_array(&rng, n, -1, 1);
    double* b = rand_array(&rng, nb, -1, 1);
    double* dy = rand_array(&rng, n, -1, 1);
    double* dx0 = rand_array(&rng, n, -1, 1);
    double* db0 = rand_array(&rng, nb, -1, 1);
    Tensor tx = t_upload(4, shape, x), tin = t_upload(4, shape, x), tb = t_upload(bdims, bs, b);
    Tensor tdy = t_upload(4, shape, dy), tdx = t_upload(4, shape, dx0);
    Tensor tdb = t_upload(bdims, bs, db0), tdb2 = t_upload(bdims, bs, db0);
    Tensor ty = arena_tensor(&tarena, 4, shape);
    Cmd c;
    RUN_CMD(c, {
        op_add_channel_forward(&c, &ty, &tx, &tb);
        op_add_channel_forward(&c, &tin, &tin, &tb);  // in place
        op_add_channel_backward(&c, &tdx, &tdb, &tdy);
        op_add_channel_backward(&c, NULL, &tdb2, &tdy);
    });
    double* y_ref = zeros(n);
    ref_add_channel_forward(y_ref, x, b, N, C, HW, per_n);
    double *dx_ref = copy_array(dx0, n), *db_ref = copy_array(db0, nb);
    ref_add_channel_backward(dx_ref, db_ref, dy, N, C, HW, per_n);
    char label[112];
    const char* kind = per_n ? "[N,C]" : "[C]";
    snprintf(label, sizeof label, "add_channel %s fwd %lldx%lldx%lld", kind, (long long)N, (long long)C, (long long)HW);
    expect(label, &ty, y_ref, n, TOL_F32);
    expect(label, &tin, y_ref, n, TOL_F32);
    snprintf(label, sizeof label, "add_channel %s dx %lldx%lldx%lld", kind, (long long)N, (long long)C, (long long)HW);
    expect(label, &tdx, dx_ref, n, TOL_F32);
    snprintf(label, sizeof label, "add_channel %s db %lldx%lldx%lld%s", kind, (long long)N, (long long)C,
             (long long)HW, gpu_layout ? " (workgroup reduction)" : "");
    expect(label, &tdb, db_ref, nb, TOL_F32);
    expect(label, &tdb2, db_ref, nb, TOL_F32);
    free(x), free(b), free(dy), free(dx0), free(db0), free(y_ref), free(dx_ref), free(db_ref);
}

// Both reduction layouts of the bias gradient run on any device: the CPU-driver
// one (an invocation or a subgroup per entry) and, with use_shared_memory forced
// on, the GPU one (a workgroup per entry, subgroup sums through shared memory).
Test(op_add_channel, gpu_matches_ref, GPU_TEST) {
    require_gpu();
    for (int gpu_layout = 0; gpu_layout < 2; gpu_layout++) {
        tgpu.tune.use_shared_memory = gpu_layout;
        for (int s = 0; s < 3; s++)
            for (int per_n = 0; per_n < 2; per_n++) add_channel_case(IMG[s], per_n, gpu_layout);
    }
    ASSERT_NO_VALIDATION_MESSAGES();
}

// A bias gradient over more than lavapipe's loop limit per invocation (65535
// iterations, all loops together): 10 samples x 58081 texels for one subgroup
// of 8 is 73k.
Test(op_add_channel, long_blocks_match_ref, GPU_TEST) {
    require_gpu();
    add_channel_case((int64_t[]){10, 1, 241, 241}, false, false);
    ASSERT_NO_VALIDATION_MESSAGES();
}

// ---------------------------------------------------------------------------
// Upsample 2x

typedef struct { const double* x; int64_t N, C, H, W; } UpCtx;
static void up_fwd(void* p, double* out) {
    UpCtx* c = p;
    ref_upsample2x_forward(out, c->x, c->N, c->C, c->H, c->W);
}

Test(op_upsample2x, ref_matches_finite_differences) {
    TestRng rng = rng_seed(3);
    int64_t N = 2, C = 2, H = 3, W = 2, n = N * C * H * W;
    double* x = rand_array(&rng, n, -1, 1);
    double* r = rand_array(&rng, 4 * n, -1, 1);
    double* dx = zeros(n);
    ref_upsample2x_backward(dx, r, N, C, H, W);
    UpCtx ctx = {x, N, C, H, W};
    ASSERT_FD("upsample2x dx", up_fwd, &ctx, 4 * n, r, x, n, dx);
    free(x), free(r), free(dx);
}

Test(op_upsample2x, gpu_matches_ref, GPU_TEST) {
    require_gpu();
    // tiny, realistic (8x8 -> 16x16 at C = 64), odd (W = 3)
    const int64_t shapes[][4] = {{1, 1, 1, 4}, {2, 64, 8, 8}, {3, 5, 7, 3}};
    for (int s = 0; s < 3; s++) {
        int64_t N = shapes[s][0], C = shapes[s][1], H = shapes[s][2], W = shapes[s][3], n = prod(shapes[s], 4);
        int64_t big[4] = {N, C, 2 * H, 2 * W};
        TestRng rng = rng_seed(20 + s);
        double* x = rand_array(&rng, n, -1, 1);
        double* dy = rand_array(&rng, 4 * n, -1, 1);
        double* dx0 = rand_array(&rng, n, -1, 1);
        Tensor tx = t_upload(4, shapes[s], x), tdy = t_upload(4, big, dy), tdx = t_upload(4, shapes[s], dx0);
        Tensor ty = arena_tensor(&tarena, 4, big);
        Cmd c;
        RUN_CMD(c, {
            op_upsample2x_forward(&c, &ty, &tx);
            op_upsample2x_backward(&c, &tdx, &tdy);
        });
        double *y_ref = zeros(4 * n), *dx_ref = copy_array(dx0, n);
        ref_upsample2x_forward(y_ref, x, N, C, H, W);
        ref_upsample2x_backward(dx_ref, dy, N, C, H, W);
        char label[80];
        snprintf(label, sizeof label, "upsample2x fwd %lldx%lldx%lldx%lld", (long long)N, (long long)C, (long long)H,
                 (long long)W);
        expect(label, &ty, y_ref, 4 * n, TOL_F32);
        snprintf(label, sizeof label, "upsample2x bwd %lldx%lldx%lldx%lld", (long long)N, (long long)C, (long long)H,
                 (long long)W);
        expect(label, &tdx, dx_ref, n, TOL_F32);
        free(x), free(dy), free(dx0), free(y_ref), free(dx_ref);
    }
    ASSERT_NO_VALIDATION_MESSAGES();
}

// ---------------------------------------------------------------------------
// Concat channels

typedef struct { const double *a, *b; int64_t N, CA, CB, HW; } CatCtx;
static void cat_fwd(void* p, double* out) {
    CatCtx* c = p;
    ref_concat_channels_forward(out, c->a, c->b, c->N, c->CA, c->CB, c->HW);
}

Test(op_concat_channels, ref_matches_finite_differences) {
    TestRng rng = rng_seed(4);
    int64_t N = 2, CA = 2, CB = 3, HW = 3, na = N * CA * HW, nb = N * CB * HW, ny = na + nb;
    double* a = rand_array(&rng, na, -1, 1);
    double* b = rand_array(&rng, nb, -1, 1);
    double* r = rand_array(&rng, ny, -1, 1);
    double *da = zeros(na), *db = zeros(nb);
    ref_concat_channels_backward(da, db, r, N, CA, CB, HW);
    CatCtx ctx = {a, b, N, CA, CB, HW};
    ASSERT_FD("concat da", cat_fwd, &ctx, ny, r, a, na, da);
    ASSERT_FD("concat db", cat_fwd, &ctx, ny, r, b, nb, db);
    free(a), free(b), free(r), free(da), free(db);
}

Test(op_concat_channels, gpu_matches_ref, GPU_TEST) {
    require_gpu();
    // {N, CA, CB, H, W}: tiny, realistic (64 + 64 at 16x16), odd
    const int64_t shapes[][5] = {{1, 1, 3, 2, 2}, {2, 64, 64, 16, 16}, {3, 3, 6, 7, 3}};
    for (int s = 0; s < 3; s++) {
        int64_t N = shapes[s][0], CA = shapes[s][1], CB = shapes[s][2], H = shapes[s][3], W = shapes[s][4], HW = H * W;
        int64_t sa[4] = {N, CA, H, W}, sb[4] = {N, CB, H, W}, sy[4] = {N, CA + CB, H, W};
        int64_t na = N * CA * HW, nb = N * CB * HW, ny = na + nb;
        TestRng rng = rng_seed(30 + s);
        double* a = rand_array(&rng, na, -1, 1);
        double* b = rand_array(&rng, nb, -1, 1);
        double* dy = rand_array(&rng, ny, -1, 1);
        double* da0 = rand_array(&rng, na, -1, 1);
        double* db0 = rand_array(&rng, nb, -1, 1);
        Tensor ta = t_upload(4, sa, a), tb = t_upload(4, sb, b), tdy = t_upload(4, sy, dy);
        Tensor tda = t_upload(4, sa, da0), tdb = t_upload(4, sb, db0);
        Tensor tda1 = t_upload(4, sa, da0), tdb1 = t_upload(4, sb, db0);  // one gradient NULL at a time
        Tensor ty = arena_tensor(&tarena, 4, sy);
        Cmd c;
        RUN_CMD(c, {
            op_concat_channels_forward(&c, &ty, &ta, &tb);
            op_concat_channels_backward(&c, &tda, &tdb, &tdy);
            op_concat_channels_backward(&c, &tda1, NULL, &tdy);
            op_concat_channels_backward(&c, NULL, &tdb1, &tdy);
        });
        double *y_ref = zeros(ny), *da_ref = copy_array(da0, na), *db_ref = copy_array(db0, nb);
        ref_concat_channels_forward(y_ref, a, b, N, CA, CB, HW);
        ref_concat_channels_backward(da_ref, db_ref, dy, N, CA, CB, HW);
        char label[80];
        snprintf(label, sizeof label, "concat fwd N=%lld CA=%lld CB=%lld HW=%lld", (long long)N, (long long)CA,
                 (long long)CB, (long long)HW);
        expect(label, &ty, y_ref, ny, TOL_F32);
        snprintf(label, sizeof label, "concat da N=%lld CA=%lld CB=%lld HW=%lld", (long long)N, (long long)CA,
                 (long long)CB, (long long)HW);
        expect(label, &tda, da_ref, na, TOL_F32);
        expect(label, &tda1, da_ref, na, TOL_F32);
        snprintf(label, sizeof label, "concat db N=%lld CA=%lld CB=%lld HW=%lld", (long long)N, (long long)CA,
                 (long long)CB, (long long)HW);
        expect(label, &tdb, db_ref, nb, TOL_F32);
        expect(label, &tdb1, db_ref, nb, TOL_F32);
        free(a), free(b), free(dy), free(da0), free(db0), free(y_ref), free(da_ref), free(db_ref);
    }
    ASSERT_NO_VALIDATION_MESSAGES();
}

// ---------------------------------------------------------------------------
// NCHW <-> tokens: each is the other's adjoint.

typedef struct { const double* x; int64_t N, C, HW; bool to_tokens; } TokCtx;
static void tok_fwd(void* p, double* out) {
    TokCtx* c = p;
    if (c->to_tokens) ref_nchw_to_tokens(out, c->x, c->N, c->C, c->HW, false);
    else ref_tokens_to_nchw(out, c->x, c->N, c->C, c->HW, false);
}

Test(op_tokens, ref_matches_finite_differences) {
    for (int dir = 0; dir < 2; dir++) {
        TestRng rng = rng_seed(5 + dir);
        int64_t N = 2, C = 3, HW = 5, n = N * C * HW;
        double* x = rand_array(&rng, n, -1, 1);
        double* r = rand_array(&rng, n, -1, 1);
        double* dx = zeros(n);
        // backward of nchw -> tokens is tokens -> nchw, accumulating, and vice versa
        if (dir) ref_tokens_to_nchw(dx, r, N, C, HW, true);
        else ref_nchw_to_tokens(dx, r, N, C, HW, true);
        TokCtx ctx = {x, N, C, HW, dir == 1};
        ASSERT_FD(dir ? "nchw_to_tokens" : "tokens_to_nchw", tok_fwd, &ctx, n, r, x, n, dx);
        free(x), free(r), free(dx);
    }
}

Test(op_tokens, gpu_matches_ref, GPU_TEST) {
    require_gpu();
    for (int s = 0; s < 3; s++)
        for (int acc = 0; acc < 2; acc++) {
            int64_t N = IMG[s][0], C = IMG[s][1], HW = IMG[s][2] * IMG[s][3], n = N * C * HW;
            int64_t ts[3] = {N, HW, C};
            TestRng rng = rng_seed(50 + 2 * s + acc);
            double* x = rand_array(&rng, n, -1, 1);    // an image
            double* tk = rand_array(&rng, n, -1, 1);   // tokens
            double* t0 = rand_array(&rng, n, -1, 1);   // prior contents of the outputs
            double* x0 = rand_array(&rng, n, -1, 1);
            Tensor tx = t_upload(4, IMG[s], x), ttk = t_upload(3, ts, tk);
            Tensor tout_tok = t_upload(3, ts, t0), tout_img = t_upload(4, IMG[s], x0);
            Cmd c;
            RUN_CMD(c, {
                op_nchw_to_tokens(&c, &tout_tok, &tx, acc);
                op_tokens_to_nchw(&c, &tout_img, &ttk, acc);
            });
            double *tok_ref = copy_array(t0, n), *img_ref = copy_array(x0, n);
            ref_nchw_to_tokens(tok_ref, x, N, C, HW, acc);
            ref_tokens_to_nchw(img_ref, tk, N, C, HW, acc);
            char label[96];
            snprintf(label, sizeof label, "nchw_to_tokens%s %lldx%lldx%lld", acc ? " +=" : "", (long long)N,
                     (long long)C, (long long)HW);
            expect(label, &tout_tok, tok_ref, n, TOL_F32);
            snprintf(label, sizeof label, "tokens_to_nchw%s %lldx%lldx%lld", acc ? " +=" : "", (long long)N,
                     (long long)C, (long long)HW);
            expect(label, &tout_img, img_ref, n, TOL_F32);
            free(x), free(tk), free(t0), free(x0), free(tok_ref), free(img_ref);
        }
    ASSERT_NO_VALIDATION_MESSAGES();
}

// ---------------------------------------------------------------------------
// Embedding

typedef struct { const uint32_t* ids; const double* table; int64_t R, V, D; } EmbCtx;
static void emb_fwd(void* p, double* out) {
    EmbCtx* c = p;
    ref_embedding_forward(out, c->ids, c->table, c->R, c->V, c->D);
}

// R ids in [0, range): with range < R, rows repeat and their gradients add up.
static uint32_t* rand_ids(TestRng* rng, int64_t R, int64_t range) {
    uint32_t* ids = malloc((size_t)R * sizeof *ids);
    for (int64_t r = 0; r < R; r++) ids[r] = (uint32_t)(rng_uniform(rng, 0, 1) * (double)range) % (uint32_t)range;
    return ids;
}

Test(op_embedding, ref_matches_finite_differences) {
    TestRng rng = rng_seed(6);
    int64_t R = 9, V = 4, D = 3;
    uint32_t* ids = rand_ids(&rng, R, V);
    double* table = rand_array(&rng, V * D, -1, 1);
    double* r = rand_array(&rng, R * D, -1, 1);
    double* dt = zeros(V * D);
    ref_embedding_backward(dt, r, ids, R, V, D);
    EmbCtx ctx = {ids, table, R, V, D};
    ASSERT_FD("embedding dtable", emb_fwd, &ctx, R * D, r, table, V * D, dt);
    free(ids), free(table), free(r), free(dt);
}

Test(op_embedding, gpu_matches_ref, GPU_TEST) {
    require_gpu();
    // {R, V, D, id range}: tiny; realistic (2 x 77 CLIP tokens into a 1000-row table,
    // ids from 60 values so most rows repeat); odd (D = 13, ids repeating many times);
    // more rows than lavapipe's loop limit lets one invocation apply (65535
    // iterations per invocation, all loops together)
    const int64_t shapes[][4] = {{2, 3, 4, 3}, {154, 1000, 64, 60}, {37, 11, 13, 5}, {70001, 7, 3, 7}};
    for (int s = 0; s < 4; s++) {
        int64_t R = shapes[s][0], V = shapes[s][1], D = shapes[s][2];
        TestRng rng = rng_seed(60 + s);
        uint32_t* ids = rand_ids(&rng, R, shapes[s][3]);
        double* table = rand_array(&rng, V * D, -1, 1);
        double* dy = rand_array(&rng, R * D, -1, 1);
        double* dt0 = rand_array(&rng, V * D, -1, 1);
        Tensor tids = arena_tensor1(&tarena, R);
        tensor_upload_raw(&tgpu, &tids, ids);
        Tensor ttab = t_upload(2, (int64_t[]){V, D}, table), tdy = t_upload(2, (int64_t[]){R, D}, dy);
        Tensor tdt = t_upload(2, (int64_t[]){V, D}, dt0), ty = arena_tensor2(&tarena, R, D);
        Cmd c;
        RUN_CMD(c, {
            op_embedding_forward(&c, &ty, &tids, &ttab);
            op_embedding_backward(&c, &tdt, &tdy, &tids);
        });
        double *y_ref = zeros(R * D), *dt_ref = copy_array(dt0, V * D);
        ref_embedding_forward(y_ref, ids, table, R, V, D);
        ref_embedding_backward(dt_ref, dy, ids, R, V, D);
        char label[80];
        snprintf(label, sizeof label, "embedding fwd R=%lld V=%lld D=%lld", (long long)R, (long long)V, (long long)D);
        expect(label, &ty, y_ref, R * D, TOL_F32);
        snprintf(label, sizeof label, "embedding bwd R=%lld V=%lld D=%lld", (long long)R, (long long)V, (long long)D);
        expect(label, &tdt, dt_ref, V * D, TOL_F32);
        free(ids), free(table), free(dy), free(dt0), free(y_ref), free(dt_ref);
    }
    ASSERT_NO_VALIDATION_MESSAGES();
}

// ---------------------------------------------------------------------------
// Timestep embedding

typedef struct { const double* t; TimestepEmbedDims d; } TsCtx;
static void ts_fwd(void* p, double* out) {
    TsCtx* c = p;
    ref_timestep_embedding_forward(out, c->t, c->d);
}

// {N, D, flip, freq_shift}: tiny (half = 1), odd half (D = 10) with both shifts
// and flips, realistic (the fmnist-small D = 32, and SD's 320).
static const TimestepEmbedDims TS[] = {
    {.N = 1, .D = 2, .flip_sin_to_cos = false, .freq_shift = 0, .max_period = 10000},
    {.N = 3, .D = 10, .flip_sin_to_cos = false, .freq_shift = 1, .max_period = 10000},
    {.N = 4, .D = 10, .flip_sin_to_cos = true, .freq_shift = 0, .max_period = 10000},
    {.N = 32, .D = 32, .flip_sin_to_cos = true, .freq_shift = 0, .max_period = 10000},
    {.N = 5, .D = 320, .flip_sin_to_cos = false, .freq_shift = 1, .max_period = 10000},
};

Test(op_timestep_embedding, ref_matches_finite_differences) {
    for (int k = 1; k < 3; k++) {
        TimestepEmbedDims d = TS[k];
        TestRng rng = rng_seed(70 + k);
        double* t = rand_array(&rng, d.N, 0, 999);
        double* r = rand_array(&rng, (int64_t)d.N * d.D, -1, 1);
        double* dt = zeros(d.N);
        ref_timestep_embedding_backward(dt, r, t, d);
        TsCtx ctx = {t, d};
        ASSERT_FD("timestep dt", ts_fwd, &ctx, (int64_t)d.N * d.D, r, t, d.N, dt);
        free(t), free(r), free(dt);
    }
}

// Looser than TOL_F32: the angle t f_j reaches ~1000 rad, and the fp32 rounding
// of f_j and of the angle (a few ulp of 1000, ~1e-4 rad; PyTorch's float32 does
// the same) becomes the error of sin and cos: up to 9e-5 of the outputs' max |1|
// seen on lavapipe; GPU exp may add an ulp or two. dt sums such terms.
#define TOL_TIMESTEP ((Tol){.rtol = 1e-4, .atol = 5e-4, .nmse = 1e-7})

Test(op_timestep_embedding, gpu_matches_ref, GPU_TEST) {
    require_gpu();
    for (int k = 0; k < (int)(sizeof TS / sizeof TS[0]); k++) {
        TimestepEmbedDims d = TS[k];
        int64_t n = (int64_t)d.N * d.D;
        TestRng rng = rng_seed(80 + k);
        double* t = rand_array(&rng, d.N, 0, 999);
        if (d.N > 1) t[0] = 999, t[1] = 0;  // the ends of the schedule
        double* dy = rand_array(&rng, n, -1, 1);
        double* dt0 = rand_array(&rng, d.N, -1, 1);
        int64_t N = d.N;
        Tensor tt = t_upload(1, &N, t), tdy = t_upload(2, (int64_t[]){d.N, d.D}, dy), tdt = t_upload(1, &N, dt0);
        Tensor ty = arena_tensor2(&tarena, d.N, d.D);
        Cmd c;
        RUN_CMD(c, {
            op_timestep_embedding_forward(&c, &ty, &tt, d);
            op_timestep_embedding_backward(&c, &tdt, &tdy, &tt, d);
        });
        double *y_ref = zeros(n), *dt_ref = copy_array(dt0, d.N);
        ref_timestep_embedding_forward(y_ref, t, d);
        ref_timestep_embedding_backward(dt_ref, dy, t, d);
        char label[96];
        snprintf(label, sizeof label, "timestep fwd N=%d D=%d flip=%d shift=%g", d.N, d.D, d.flip_sin_to_cos,
                 d.freq_shift);
        expect(label, &ty, y_ref, n, TOL_TIMESTEP);
        snprintf(label, sizeof label, "timestep bwd N=%d D=%d flip=%d shift=%g", d.N, d.D, d.flip_sin_to_cos,
                 d.freq_shift);
        expect(label, &tdt, dt_ref, d.N, TOL_TIMESTEP);
        free(t), free(dy), free(dt0), free(y_ref), free(dt_ref);
    }
    ASSERT_NO_VALIDATION_MESSAGES();
}
