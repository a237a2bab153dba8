// test_op_matmul.c: batched matmul (transposes, strides, broadcast, alpha,
// accumulate, bias), column sums and torch.nn.Linear: reference vs finite
// differences, shader vs reference on tiny, realistic and odd shapes, in both
// texel widths (RGBA32F / R32F views) and both kernel variants (registers only,
// shared-memory staging).
#include "test_util.h"

// ---------------------------------------------------------------------------
// Reference vs finite differences

typedef struct { double *A, *B, *bias; MatmulDims d; } MatmulCtx;
static void matmul_fwd(void* p, double* out) {
    MatmulCtx* c = p;
    ref_matmul(out, c->A, c->B, c->bias, c->d);
}

static int64_t extent(int64_t batch, int64_t stride, int64_t per) { return (batch - 1) * stride + per; }

// Every transpose combination, batch 2 with B broadcast (stride 0) and a gap
// between output matrices, alpha != 1 and a bias.
Test(op_matmul, ref_matches_finite_differences) {
    for (int t = 0; t < 4; t++) {
        MatmulDims d = {.batch = 2, .M = 3, .N = 4, .K = 5, .trans_a = t & 1, .trans_b = t >> 1, .stride_a = 15,
                        .stride_b = 0, .stride_c = 14, .alpha = 0.75f};
        int64_t na = extent(d.batch, d.stride_a, d.M * d.K), nb = extent(d.batch, d.stride_b, d.K * d.N);
        int64_t nc = extent(d.batch, d.stride_c, d.M * d.N);
        TestRng rng = rng_seed(40 + t);
        double* A = rand_array(&rng, na, -1, 1);
        double* B = rand_array(&rng, nb, -1, 1);
        double* bias = rand_array(&rng, d.N, -1, 1);
        double* r = rand_array(&rng, nc, -1, 1);
        r[12] = r[13] = 0;  // the gap between the two outputs is not part of the product
        double* dA = calloc(na, sizeof *dA);
        double* dB = calloc(nb, sizeof *dB);
        double* dbias = calloc(d.N, sizeof *dbias);
        ref_matmul_backward(dA, dB, dbias, r, A, B, d);
        MatmulCtx ctx = {A, B, bias, d};
        char label[64];
        snprintf(label, sizeof label, "matmul dA trans %d%d", d.trans_a, d.trans_b);
        ASSERT_FD(label, matmul_fwd, &ctx, nc, r, A, na, dA);
        snprintf(label, sizeof label, "matmul dB (broadcast) trans %d%d", d.trans_a, d.trans_b);
        ASSERT_FD(label, matmul_fwd, &ctx, nc, r, B, nb, dB);
        snprintf(label, sizeof label, "matmul dbias trans %d%d", d.trans_a, d.trans_b);
        ASSERT_FD(label, matmul_fwd, &ctx, nc, r, bias, d.N, dbias);
        free(A), free(B), free(bias), free(r), free(dA), free(dB), free(dbias);
    }
}

typedef struct { double *x, *w, *b; int64_t R, I, O; } LinearCtx;
static void linear_fwd(void* p, double* out) {
    LinearCtx* c = p;
    ref_linear_forward(out, c->x, c->w, c->b, c->R, c->I, c->O);
}

Test(op_linear, ref_matches_finite_differences) {
    int64_t R = 6, I = 5, O = 3;
    TestRng rng = rng_seed(50);
    double* x = rand_array(&rng, R * I, -1, 1);
    double* w = rand_array(&rng, O * I, -1, 1);
    double* b = rand_array(&rng, O, -1, 1);
    double* r = rand_array(&rng, R * O, -1, 1);
    double* dx = calloc(R * I, sizeof *dx);
    double* dw = calloc(O * I, sizeof *dw);
    double* db = calloc(O, sizeof *db);
    ref_linear_backward(dx, dw, db, r, x, w, R, I, O);
    LinearCtx ctx = {x, w, b, R, I, O};
    ASSERT_FD("linear dx", linear_fwd, &ctx, R * O, r, x, R * I, dx);
    ASSERT_FD("linear dw", linear_fwd, &ctx, R * O, r, w, O * I, dw);
    ASSERT_FD("linear db", linear_fwd, &ctx, R * O, r, b, O, db);
    free(x), free(w), free(b), free(r), free(dx), free(dw), free(db);
}

// ---------------------------------------------------------------------------
// Shader vs reference

// Uploads n random values preceded by `lead` others and returns the tensor of
// the n (a slice at an offset that is not texel-aligned when lead % 4 != 0).
static Tensor upload_at(int64_t lead, const double* data, int64_t n) {
    int64_t total = lead + n;
    double* padded = calloc(total, sizeof *padded);
    for (int64_t i = 0; i < lead; i++) padded[i] = 1e3;  // never read
    for (int64_t i = 0; i < n; i++) padded[lead + i] = data[i];
    Tensor t = t_upload(1, &total, padded);
    free(padded);
    return tensor_slice(t, lead, n);
}

// C (pre-filled with random values) after op_matmul vs ref_matmul. lead[0..2]:
// elements before A, B and C in their buffers.
static void check_matmul_tol(MatmulDims d, bool with_bias, const int64_t lead[3], uint64_t seed, Tol tol) {
    int64_t na = extent(d.batch, d.stride_a, d.M * d.K), nb = extent(d.batch, d.stride_b, d.K * d.N);
    int64_t nc = extent(d.batch, d.stride_c, d.M * d.N);
    TestRng rng = rng_seed(seed);
    double* A = rand_array(&rng, na, -1, 1);
    double* B = rand_array(&rng, nb, -1, 1);
    double* bias = with_bias ? rand_array(&rng, d.N, -1, 1) : NULL;
    double* C = rand_array(&rng, nc, -1, 1);
    Tensor tA = upload_at(lead[0], A, na), tB = upload_at(lead[1], B, nb), tC = upload_at(lead[2], C, nc);
    Tensor tbias = with_bias ? upload_at(0, bias, d.N) : tA;
    Cmd c;
    RUN_CMD(c, op_matmul(&c, &tC, &tA, &tB, with_bias ? &tbias : NULL, d));
    ref_matmul(C, A, B, bias, d);
    double* got = t_download_new(&tC);
    char label[160];
    snprintf(label, sizeof label,
             "matmul seed %llu batch %lld M %lld N %lld K %lld trans %d%d strides %lld/%lld/%lld alpha %g acc %d "
             "bias %d lead %lld/%lld/%lld shared %d",
             (unsigned long long)seed, (long long)d.batch, (long long)d.M, (long long)d.N, (long long)d.K, d.trans_a,
             d.trans_b, (long long)d.stride_a, (long long)d.stride_b, (long long)d.stride_c, d.alpha, d.accumulate,
             with_bias, (long long)lead[0], (long long)lead[1], (long long)lead[2], tgpu.tune.use_shared_memory);
    ASSERT_CLOSE(label, got, C, nc, tol);
    free(A), free(B), free(bias), free(C), free(got);
}

static void check_matmul(MatmulDims d, bool with_bias, const int64_t lead[3], uint64_t seed) {
    check_matmul_tol(d, with_bias, lead, seed, TOL_F32);
}

static const int64_t ALIGNED[3] = {0, 0, 0};
// tiny, realistic (attention-like and the 576-wide CLIP/UNet widths), odd
static const int64_t SHAPES[][3] = {{2, 3, 4}, {256, 64, 64}, {64, 576, 64}, {13, 7, 5}, {127, 33, 65}, {1, 1, 1}};
#define NSHAPES ((int)(sizeof SHAPES / sizeof SHAPES[0]))

// Which variants (texel widths of A and B, shared staging) the pipelines created so far cover.
static bool have_pipeline(int vec_a, int vec_b, bool shared) {
    for (int i = 0; i < tgpu.npipes; i++) {
        const Kernel* p = tgpu.pipes[i];
        if (p->shader == SHADER_MATMUL && (int)p->spec[7] == vec_a && (int)p->spec[8] == vec_b && p->spec[10] == shared)
            return true;
    }
    return false;
}

// Every transpose combination on every shape; half with a bias.
static void check_transposes_and_shapes(const int64_t (*shapes)[3], int nshapes) {
    for (int s = 0; s < nshapes; s++)
        for (int t = 0; t < 4; t++) {
            MatmulDims d = matmul_dims(shapes[s][0], shapes[s][1], shapes[s][2]);
            d.trans_a = t & 1, d.trans_b = t >> 1;
            check_matmul(d, (s + t) % 2 == 0, ALIGNED, 100 + 4 * s + t);
        }
}

// Batches: strided A, broadcast B (stride 0) or broadcast A, outputs with gaps
// between them (which must keep their values), alpha, accumulate, bias.
static void check_batched(void) {
    for (int t = 0; t < 4; t++) {
        MatmulDims d = {.batch = 3, .M = 13, .N = 12, .K = 8, .trans_a = t & 1, .trans_b = t >> 1,
                        .alpha = t == 3 ? 1.0f : -0.625f, .accumulate = t % 2 == 0};
        d.stride_a = t == 2 ? 0 : d.M * d.K + 4;
        d.stride_b = t == 2 ? d.K * d.N : 0;
        d.stride_c = d.M * d.N + 4;  // a gap, still vec4-aligned
        check_matmul(d, t != 1, ALIGNED, 200 + t);
    }
    MatmulDims d = {.batch = 4, .M = 64, .N = 32, .K = 48, .trans_b = true, .stride_a = 64 * 48, .stride_b = 32 * 48,
                    .stride_c = 64 * 32, .alpha = 0.125f, .accumulate = true};  // attention-like Q K^T
    check_matmul(d, false, ALIGNED, 210);
}

Test(op_matmul, gpu_transposes_and_shapes, GPU_TEST) {
    require_gpu();
    check_transposes_and_shapes(SHAPES, NSHAPES);
    ASSERT_NO_VALIDATION_MESSAGES();
}

Test(op_matmul, gpu_batch_strides_alpha_accumulate_bias, GPU_TEST) {
    require_gpu();
    check_batched();
    ASSERT_NO_VALIDATION_MESSAGES();
}

// RGBA32F and R32F views for each operand: contiguous dimensions that are
// multiples of 4 or not, and tensors at offsets that are not texel-aligned
// (bound from the aligned offset below them).
Test(op_matmul, gpu_vec4_and_scalar_texel_paths, GPU_TEST) {
    require_gpu();
    for (int t = 0; t < 4; t++) {
        MatmulDims d = matmul_dims(20, 24, 16);  // every contiguous dimension a multiple of 4
        d.trans_a = t & 1, d.trans_b = t >> 1;
        check_matmul(d, true, ALIGNED, 300 + t);
        check_matmul(d, true, (int64_t[]){1, 0, 3}, 310 + t);  // A unaligned: scalar A, vec4 B
        check_matmul(d, false, (int64_t[]){0, 2, 1}, 320 + t);  // B unaligned: vec4 A, scalar B
        check_matmul(d, false, (int64_t[]){4, 8, 4}, 330 + t);  // aligned slices
        MatmulDims e = d;  // batch strides not a multiple of 4: scalar views
        e.batch = 2, e.stride_a = d.M * d.K + 1, e.stride_b = d.K * d.N + 2, e.stride_c = d.M * d.N + 1;
        check_matmul(e, true, ALIGNED, 340 + t);
    }
    // Leads of 1-3 elements force R32F views only where views need 16-byte alignment (lavapipe: yes).
    const VkPhysicalDeviceLimits* L = &tgpu.props.limits;
    bool align16 = L->minTexelBufferOffsetAlignment >= 16 || L->minStorageBufferOffsetAlignment >= 16;
    cr_assert(have_pipeline(4, 4, false) && have_pipeline(1, 1, false), "both texel widths should have been used");
    cr_assert(!align16 || (have_pipeline(1, 4, false) && have_pipeline(4, 1, false)), "mixed texel widths should have been used");
    ASSERT_NO_VALIDATION_MESSAGES();
}

// The shared-memory variant (chosen on GPUs) on lavapipe, forced on. Fewer
// shapes than above (each new combination of texel widths is another pipeline
// to compile, and these compile slowly on lavapipe), still vec4 and scalar, odd
// and smaller than a tile.
Test(op_matmul, gpu_shared_memory_variant, GPU_TEST) {
    require_gpu();
    tgpu.tune.use_shared_memory = true;
    static const int64_t shapes[][3] = {{256, 64, 64}, {13, 7, 5}, {127, 33, 65}, {1, 1, 1}};
    check_transposes_and_shapes(shapes, 4);
    check_batched();
    check_matmul(matmul_dims(20, 24, 16), true, (int64_t[]){1, 2, 3}, 400);
    cr_assert(have_pipeline(4, 4, true) && have_pipeline(1, 1, true), "the shared-memory variant should have been used");
    ASSERT_NO_VALIDATION_MESSAGES();
}

static void check_col_sum(int64_t R, int64_t N, int64_t lead, bool accumulate, uint64_t seed) {
    TestRng rng = rng_seed(seed);
    double* x = rand_array(&rng, R * N, -1, 1);
    double* y = rand_array(&rng, N, -1, 1);
    Tensor tx = upload_at(lead, x, R * N), ty = upload_at(lead, y, N);
    Cmd c;
    RUN_CMD(c, op_col_sum(&c, &ty, &tx, R, N, accumulate));
    ref_col_sum(y, x, R, N, accumulate);
    double* got = t_download_new(&ty);
    char label[96];
    snprintf(label, sizeof label, "col_sum R %lld N %lld lead %lld acc %d shared %d", (long long)R, (long long)N,
             (long long)lead, accumulate, tgpu.tune.use_shared_memory);
    ASSERT_CLOSE(label, got, y, N, TOL_F32);
    free(x), free(y), free(got);
}

// A K longer than lavapipe's loop limit (65535 iterations per invocation, all
// loops together) lets one invocation sweep: 65537 steps of 4 in the register
// variant, 16385 tile stages in the shared one. With accumulate and a bias, so
// the later parts of K add to C without adding the bias again.
Test(op_matmul, long_k_matches_ref, GPU_TEST) {
    require_gpu();
    // fp32 sums of 262k products (std ~300) differ from double by ~1e-5 relative,
    // far below what a lost part of K does (whole parts missing).
    Tol tol = {.rtol = 1e-3, .atol = 1e-3, .nmse = 1e-8};
    for (int shared = 0; shared < 2; shared++) {
        tgpu.tune.use_shared_memory = shared;
        MatmulDims d = matmul_dims(3, 5, 262147);
        d.accumulate = true;
        check_matmul_tol(d, true, ALIGNED, 700 + shared, tol);
        check_matmul_tol(matmul_dims(2, 4, 262148), false, ALIGNED, 710 + shared, tol);  // vec4 texels
    }
    ASSERT_NO_VALIDATION_MESSAGES();
}

Test(op_col_sum, gpu_matches_ref, GPU_TEST) {
    require_gpu();
    for (int shared = 0; shared < 2; shared++) {
        tgpu.tune.use_shared_memory = shared;
        check_col_sum(3, 2, 0, false, 500);     // tiny
        check_col_sum(300, 64, 0, true, 501);   // realistic, vec4 texels
        check_col_sum(127, 33, 0, true, 502);   // odd, scalar
        check_col_sum(13, 260, 1, false, 503);  // unaligned: scalar
        check_col_sum(1, 1, 0, true, 504);
    }
    ASSERT_NO_VALIDATION_MESSAGES();
}

// More rows than lavapipe's loop limit (65535 iterations per invocation) lets
// one invocation sweep.
Test(op_col_sum, long_columns_match_ref, GPU_TEST) {
    require_gpu();
    check_col_sum(70001, 3, 0, false, 505);
    ASSERT_NO_VALIDATION_MESSAGES();
}

// Running the same recording twice gives bit-identical sums (no atomics, fixed order).
Test(op_col_sum, deterministic, GPU_TEST) {
    require_gpu();
    tgpu.tune.use_shared_memory = true;
    int64_t R = 999, N = 37;
    TestRng rng = rng_seed(510);
    double* x = rand_array(&rng, R * N, -1, 1);
    Tensor tx = upload_at(0, x, R * N), ty = arena_tensor1(&tarena, N);
    Cmd c;
    cmd_begin(&c, &tgpu);
    op_col_sum(&c, &ty, &tx, R, N, false);
    cmd_submit(&c);
    double* first = t_download_new(&ty);
    cmd_submit(&c);
    double* second = t_download_new(&ty);
    cmd_free(&c);
    for (int64_t n = 0; n < N; n++) cr_assert_eq(first[n], second[n], "column %lld differs between runs", (long long)n);
    free(x), free(first), free(second);
    ASSERT_NO_VALIDATION_MESSAGES();
}

// Linear forward, then backward into gradients pre-filled with random values;
// optional dx and db left out in some cases. The register variant only: the
// products are op_matmul's, whose shared-memory variant is tested above.
static void check_linear(int64_t R, int64_t I, int64_t O, bool with_bias, bool with_dx, uint64_t seed) {
    TestRng rng = rng_seed(seed);
    double* x = rand_array(&rng, R * I, -1, 1);
    double* w = rand_array(&rng, O * I, -1, 1);
    double* b = rand_array(&rng, O, -1, 1);
    double* dy = rand_array(&rng, R * O, -1, 1);
    double* dx = rand_array(&rng, R * I, -1, 1);
    double* dw = rand_array(&rng, O * I, -1, 1);
    double* db = rand_array(&rng, O, -1, 1);
    int64_t sx[] = {R, I}, sw[] = {O, I}, sy[] = {R, O};
    Tensor tx = t_upload(2, sx, x), tw = t_upload(2, sw, w), tb = t_upload(1, &O, b), tdy = t_upload(2, sy, dy);
    Tensor tdx = t_upload(2, sx, dx), tdw = t_upload(2, sw, dw), tdb = t_upload(1, &O, db);
    Tensor ty = arena_tensor2(&tarena, R, O);
    Cmd c;
    RUN_CMD(c, {
        op_linear_forward(&c, &ty, &tx, &tw, with_bias ? &tb : NULL);
        op_linear_backward(&c, with_dx ? &tdx : NULL, &tdw, with_bias ? &tdb : NULL, &tdy, &tx, &tw);
    });
    double* y_ref = calloc(R * O, sizeof *y_ref);
    ref_linear_forward(y_ref, x, w, with_bias ? b : NULL, R, I, O);
    double* dx_ref = copy_array(dx, R * I);
    double* dw_ref = copy_array(dw, O * I);
    double* db_ref = copy_array(db, O);
    ref_linear_backward(with_dx ? dx_ref : NULL, dw_ref, with_bias ? db_ref : NULL, dy, x, w, R, I, O);
    double* y_got = t_download_new(&ty);
    double* dx_got = t_download_new(&tdx);
    double* dw_got = t_download_new(&tdw);
    double* db_got = t_download_new(&tdb);
    char label[96];
    const char* what[] = {"y", "dx", "dw", "db"};
    const double* got[] = {y_got, dx_got, dw_got, db_got};
    const double* want[] = {y_ref, dx_ref, dw_ref, db_ref};
    int64_t n[] = {R * O, R * I, O * I, O};
    for (int i = 0; i < 4; i++) {
        snprintf(label, sizeof label, "linear %s R %lld I %lld O %lld bias %d dx %d shared %d", what[i], (long long)R,
                 (long long)I, (long long)O, with_bias, with_dx, tgpu.tune.use_shared_memory);
        ASSERT_CLOSE(label, got[i], want[i], n[i], TOL_F32);  // untouched dx / db still match their pre-fill
    }
    free(x), free(w), free(b), free(dy), free(dx), free(dw), free(db), free(y_ref), free(dx_ref), free(dw_ref);
    free(db_ref), free(y_got), free(dx_got), free(dw_got), free(db_got);
}

Test(op_linear, gpu_forward_backward_match_ref, GPU_TEST) {
    require_gpu();
    check_linear(2, 3, 4, true, true, 600);       // tiny
    check_linear(256, 64, 64, true, true, 601);   // realistic
    check_linear(64, 576, 64, false, true, 602);  // wide input, no bias
    check_linear(13, 7, 5, true, false, 603);     // odd, frozen input (no dx)
    check_linear(127, 33, 65, true, true, 604);   // odd
    ASSERT_NO_VALIDATION_MESSAGES();
}

// Shape mismatches stop with a message naming the op (die() exits with status 1).
Test(op_matmul, mismatched_shapes_die, GPU_TEST, .exit_code = 1) {
    require_gpu();
    Tensor A = arena_tensor2(&tarena, 4, 5), B = arena_tensor2(&tarena, 6, 3), C = arena_tensor2(&tarena, 4, 3);
    Cmd c;
    cmd_begin(&c, &tgpu);
    op_matmul(&c, &C, &A, &B, NULL, matmul_dims(4, 3, 5));  // B holds 18 elements, K*N = 15: fine
    op_matmul(&c, &C, &A, &B, NULL, matmul_dims(4, 3, 6));  // A holds 20 elements, M*K = 24
    cr_assert_fail("op_matmul accepted an A too small for the product");
}
