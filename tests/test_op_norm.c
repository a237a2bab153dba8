// test_op_norm.c: group norm (plain and fused SiLU) and layer norm: reference vs
// finite differences for every input and parameter; shader forward (y, mean,
// rstd) and backward (dx, dgamma, dbeta pre-filled with random values) vs the
// reference on tiny, realistic, odd, unaligned and large-mean shapes, in both the
// one-subgroup (CPU) and the shared-memory (GPU) workgroup variants; determinism.
#include <math.h>

#include "test_util.h"

#define EPS 1e-5

// ---------------------------------------------------------------------------
// Reference vs finite differences.

typedef struct GnCtx {
    const double *x, *gamma, *beta;
    double *mean, *rstd;
    int64_t N, C, HW;
    int G;
    Activation act;
} GnCtx;

static void gn_fwd(void* p, double* out) {
    GnCtx* c = p;
    ref_groupnorm_forward(out, c->mean, c->rstd, c->x, c->gamma, c->beta, c->N, c->C, c->HW, c->G, EPS, c->act);
}

Test(op_groupnorm, ref_matches_finite_differences) {
    const Activation acts[] = {ACT_NONE, ACT_SILU};
    for (int a = 0; a < 2; a++) {
        int64_t N = 2, C = 6, HW = 5, n = N * C * HW;
        int G = 3;
        TestRng rng = rng_seed(20 + a);
        double* x = rand_array(&rng, n, -2, 2);
        double* gamma = rand_array(&rng, C, -1.5, 1.5);
        double* beta = rand_array(&rng, C, -1, 1);
        double* r = rand_array(&rng, n, -1, 1);
        double *mean = calloc(N * G, sizeof *mean), *rstd = calloc(N * G, sizeof *rstd);
        double *dx = calloc(n, sizeof *dx), *dg = calloc(C, sizeof *dg), *db = calloc(C, sizeof *db);
        GnCtx ctx = {x, gamma, beta, mean, rstd, N, C, HW, G, acts[a]};
        double* y = calloc(n, sizeof *y);
        gn_fwd(&ctx, y);
        ref_groupnorm_backward(dx, dg, db, r, x, mean, rstd, gamma, beta, N, C, HW, G, acts[a]);
        const char* an = a ? "silu" : "none";
        char label[64];
        snprintf(label, sizeof label, "groupnorm %s dx", an);
        ASSERT_FD(label, gn_fwd, &ctx, n, r, x, n, dx);
        snprintf(label, sizeof label, "groupnorm %s dgamma", an);
        ASSERT_FD(label, gn_fwd, &ctx, n, r, gamma, C, dg);
        snprintf(label, sizeof label, "groupnorm %s dbeta", an);
        ASSERT_FD(label, gn_fwd, &ctx, n, r, beta, C, db);
        free(x), free(gamma), free(beta), free(r), free(mean), free(rstd), free(dx), free(dg), free(db), free(y);
    }
}

typedef struct LnCtx {
    const double *x, *gamma, *beta;
    double *mean, *rstd;
    int64_t R, D;
} LnCtx;

static void ln_fwd(void* p, double* out) {
    LnCtx* c = p;
    ref_layernorm_forward(out, c->mean, c->rstd, c->x, c->gamma, c->beta, c->R, c->D, EPS);
}

Test(op_layernorm, ref_matches_finite_differences) {
    int64_t R = 4, D = 7, n = R * D;
    TestRng rng = rng_seed(30);
    double* x = rand_array(&rng, n, -2, 2);
    double* gamma = rand_array(&rng, D, -1.5, 1.5);
    double* beta = rand_array(&rng, D, -1, 1);
    double* r = rand_array(&rng, n, -1, 1);
    double *mean = calloc(R, sizeof *mean), *rstd = calloc(R, sizeof *rstd), *y = calloc(n, sizeof *y);
    double *dx = calloc(n, sizeof *dx), *dg = calloc(D, sizeof *dg), *db = calloc(D, sizeof *db);
    LnCtx ctx = {x, gamma, beta, mean, rstd, R, D};
    ln_fwd(&ctx, y);
    ref_layernorm_backward(dx, dg, db, r, x, mean, rstd, gamma, R, D);
    ASSERT_FD("layernorm dx", ln_fwd, &ctx, n, r, x, n, dx);
    ASSERT_FD("layernorm dgamma", ln_fwd, &ctx, n, r, gamma, D, dg);
    ASSERT_FD("layernorm dbeta", ln_fwd, &ctx, n, r, beta, D, db);
    free(x), free(gamma), free(beta), free(r), free(mean), free(rstd), free(y), free(dx), free(dg), free(db);
}

// ---------------------------------------------------------------------------
// Shader vs reference.

// Whether a pipeline of `shader` with reduction mode `reduce` (spec constant 4,
// REDUCE_* in shaders/include/norm.glsl) was created: the cases must reach
// every mode (0 per invocation and 1 per subgroup on CPU drivers, 2 per
// workgroup with shared memory on GPUs).
static bool have_mode(ShaderId shader, uint32_t reduce) {
    for (int i = 0; i < tgpu.npipes; i++)
        if (tgpu.pipes[i]->shader == shader && tgpu.pipes[i]->spec[4] == reduce) return true;
    return false;
}

static void assert_all_modes(const ShaderId* shaders, int n) {
    for (int i = 0; i < n; i++)
        for (uint32_t m = 0; m < 3; m++)
            cr_assert(have_mode(shaders[i], m), "%s was never run with reduction mode %u", g_shaders[shaders[i]].name, m);
}

// A tensor of the given shape whose data starts `lead` elements into its buffer
// region (lead not a multiple of 4: unaligned views and scalar texels).
static Tensor upload_at(int64_t lead, int ndim, const int64_t* shape, const double* data) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    int64_t total = lead + n;
    double* padded = calloc(total, sizeof *padded);
    for (int64_t i = 0; i < lead; i++) padded[i] = 1e3;  // never read
    for (int64_t i = 0; i < n; i++) padded[lead + i] = data[i];
    Tensor t = t_upload(1, &total, padded);
    free(padded);
    return tensor_reshape(tensor_slice(t, lead, n), ndim, shape);
}

static void check_tensor(const char* what, const char* name, const Tensor* t, const double* want, Tol tol) {
    int64_t n = tensor_numel(t);
    double* got = t_download_new(t);
    char label[160];
    snprintf(label, sizeof label, "%s %s shared %d", name, what, tgpu.tune.use_shared_memory);
    ASSERT_CLOSE(label, got, want, n, tol);
    free(got);
}

typedef struct GnCase {
    const char* name;
    int ndim;
    int64_t shape[4];  // [N, C, HW] or [N, C, H, W]
    int G;
    double lo, hi;     // x uniform in [lo, hi)
    int64_t lead;      // elements before x, y, dy and dx in their buffers
} GnCase;

static const GnCase GN_CASES[] = {
    {"tiny", 3, {1, 4, 9}, 2, -2, 2, 0},
    {"realistic", 4, {2, 64, 16, 16}, 8, -2, 2, 0},
    {"odd", 4, {3, 12, 7, 5}, 4, -2, 2, 0},              // 3 channels per group, HW = 35
    {"unaligned", 4, {2, 8, 4, 4}, 2, -2, 2, 3},         // HW % 4 == 0 but views off by 3 floats
    {"large-mean", 4, {2, 32, 8, 8}, 8, 99.9, 100.1, 0},  // |mean| = 1700 std: see norm_stats
    {"wide-group", 3, {1, 320, 64}, 32, -3, 1, 0},       // SD-like: 10 channels per group
};

// Forward then backward on the GPU, each against the reference. The backward
// of both sides uses the GPU's saved mean and rstd, so both see the same inputs.
static void check_groupnorm(const GnCase* k, Activation act, bool with_dx, uint64_t seed) {
    int64_t N = k->shape[0], C = k->shape[1], HW = k->shape[2] * (k->ndim == 4 ? k->shape[3] : 1), n = N * C * HW;
    int G = k->G;
    TestRng rng = rng_seed(seed);
    double* x = rand_array(&rng, n, k->lo, k->hi);
    double* gamma = rand_array(&rng, C, -1.5, 1.5);
    double* beta = rand_array(&rng, C, -1, 1);
    double* dy = rand_array(&rng, n, -1, 1);
    double* dx = rand_array(&rng, n, -1, 1);  // backward accumulates into existing values
    double* dg = rand_array(&rng, C, -1, 1);
    double* db = rand_array(&rng, C, -1, 1);
    Tensor tx = upload_at(k->lead, k->ndim, k->shape, x), tdy = upload_at(k->lead, k->ndim, k->shape, dy);
    Tensor tdx = upload_at(k->lead, k->ndim, k->shape, dx), ty = upload_at(k->lead, k->ndim, k->shape, dy);
    Tensor tg = t_upload(1, &C, gamma), tb = t_upload(1, &C, beta), tdg = t_upload(1, &C, dg), tdb = t_upload(1, &C, db);
    Tensor tmean = arena_tensor2(&tarena, N, G), trstd = arena_tensor2(&tarena, N, G);
    Cmd c;
    RUN_CMD(c, {
        op_groupnorm_forward(&c, &ty, &tmean, &trstd, &tx, &tg, &tb, G, (float)EPS, act);
        op_groupnorm_backward(&c, with_dx ? &tdx : NULL, &tdg, &tdb, &tdy, &tx, &tmean, &trstd, &tg, &tb, G, act);
    });

    double *y = calloc(n, sizeof *y), *mean = calloc(N * G, sizeof *mean), *rstd = calloc(N * G, sizeof *rstd);
    ref_groupnorm_forward(y, mean, rstd, x, gamma, beta, N, C, HW, G, EPS, act);
    char name[96];
    snprintf(name, sizeof name, "groupnorm %s act %d dx %d", k->name, act, with_dx);
    check_tensor("y", name, &ty, y, TOL_F32);
    check_tensor("mean", name, &tmean, mean, TOL_F32);
    check_tensor("rstd", name, &trstd, rstd, TOL_F32);

    t_download(&tmean, mean);
    t_download(&trstd, rstd);
    ref_groupnorm_backward(with_dx ? dx : NULL, dg, db, dy, x, mean, rstd, gamma, beta, N, C, HW, G, act);
    check_tensor("dx", name, &tdx, dx, TOL_F32);
    check_tensor("dgamma", name, &tdg, dg, TOL_F32);
    check_tensor("dbeta", name, &tdb, db, TOL_F32);
    free(x), free(gamma), free(beta), free(dy), free(dx), free(dg), free(db), free(y), free(mean), free(rstd);
}

Test(op_groupnorm, gpu_matches_ref, GPU_TEST) {
    require_gpu();
    const Activation acts[] = {ACT_NONE, ACT_SILU};
    int ncases = (int)(sizeof GN_CASES / sizeof GN_CASES[0]);
    for (int shared = 0; shared < 2; shared++) {
        tgpu.tune.use_shared_memory = shared;
        for (int k = 0; k < ncases; k++)
            for (int a = 0; a < 2; a++) check_groupnorm(&GN_CASES[k], acts[a], true, 100 * k + 10 * a + shared);
        check_groupnorm(&GN_CASES[2], ACT_SILU, false, 999);  // dx NULL: parameter gradients only
    }
    assert_all_modes((ShaderId[]){SHADER_GROUPNORM_FWD, SHADER_GROUPNORM_BWD_DATA, SHADER_GROUPNORM_BWD_PARAM}, 3);
    ASSERT_NO_VALIDATION_MESSAGES();
}

// Blocks longer than lavapipe's loop limit (65535 iterations per invocation, all
// loops together) for one subgroup of 8: HW odd, so one float per texel.
static const GnCase GN_LONG_CASES[] = {
    // 266k floats per group: 3 x 33k sweeps forward, 2 x 33k backward
    {"long-group", 4, {1, 3, 299, 297}, 1, -2, 2, 0},
    // 533k floats per channel over the batch: dgamma, dbeta sweep 67k per lane
    {"long-channel", 4, {6, 1, 299, 297}, 1, 99.9, 100.1, 0},
};

Test(op_groupnorm, long_blocks_match_ref, GPU_TEST) {
    require_gpu();
    for (int k = 0; k < 2; k++) check_groupnorm(&GN_LONG_CASES[k], k ? ACT_SILU : ACT_NONE, true, 500 + k);
    ASSERT_NO_VALIDATION_MESSAGES();
}

typedef struct LnCase {
    const char* name;
    int ndim;
    int64_t shape[3];  // [R, D] or [N, T, D]
    double lo, hi;
    int64_t lead;
} LnCase;

static const LnCase LN_CASES[] = {
    {"tiny", 2, {2, 8}, -2, 2, 0},
    {"realistic", 3, {8, 64, 64}, -2, 2, 0},  // R = 512, D = 64
    {"odd", 2, {13, 77}, -2, 2, 0},
    {"unaligned", 2, {9, 64}, -2, 2, 1},
    {"large-mean", 2, {64, 128}, 99.9, 100.1, 0},  // |mean| = 1700 std
    {"wide", 3, {2, 3, 1280}, -2, 2, 0},
    {"many-rows", 2, {1000, 16}, -2, 2, 0},  // CPU: 3 rows per invocation, the last worker has 1
};

static void check_layernorm(const LnCase* k, bool with_dx, uint64_t seed) {
    int64_t D = k->shape[k->ndim - 1], n = 1;
    for (int i = 0; i < k->ndim; i++) n *= k->shape[i];
    int64_t R = n / D;
    TestRng rng = rng_seed(seed);
    double* x = rand_array(&rng, n, k->lo, k->hi);
    double* gamma = rand_array(&rng, D, -1.5, 1.5);
    double* beta = rand_array(&rng, D, -1, 1);
    double* dy = rand_array(&rng, n, -1, 1);
    double* dx = rand_array(&rng, n, -1, 1);
    double* dg = rand_array(&rng, D, -1, 1);
    double* db = rand_array(&rng, D, -1, 1);
    Tensor tx = upload_at(k->lead, k->ndim, k->shape, x), tdy = upload_at(k->lead, k->ndim, k->shape, dy);
    Tensor tdx = upload_at(k->lead, k->ndim, k->shape, dx), ty = upload_at(k->lead, k->ndim, k->shape, dy);
    Tensor tg = t_upload(1, &D, gamma), tb = t_upload(1, &D, beta), tdg = t_upload(1, &D, dg), tdb = t_upload(1, &D, db);
    Tensor tmean = arena_tensor1(&tarena, R), trstd = arena_tensor1(&tarena, R);
    Cmd c;
    RUN_CMD(c, {
        op_layernorm_forward(&c, &ty, &tmean, &trstd, &tx, &tg, &tb, (float)EPS);
        op_layernorm_backward(&c, with_dx ? &tdx : NULL, &tdg, &tdb, &tdy, &tx, &tmean, &trstd, &tg);
    });

    double *y = calloc(n, sizeof *y), *mean = calloc(R, sizeof *mean), *rstd = calloc(R, sizeof *rstd);
    ref_layernorm_forward(y, mean, rstd, x, gamma, beta, R, D, EPS);
    char name[96];
    snprintf(name, sizeof name, "layernorm %s dx %d", k->name, with_dx);
    check_tensor("y", name, &ty, y, TOL_F32);
    check_tensor("mean", name, &tmean, mean, TOL_F32);
    check_tensor("rstd", name, &trstd, rstd, TOL_F32);

    t_download(&tmean, mean);
    t_download(&trstd, rstd);
    ref_layernorm_backward(with_dx ? dx : NULL, dg, db, dy, x, mean, rstd, gamma, R, D);
    check_tensor("dx", name, &tdx, dx, TOL_F32);
    check_tensor("dgamma", name, &tdg, dg, TOL_F32);
    check_tensor("dbeta", name, &tdb, db, TOL_F32);
    free(x), free(gamma), free(beta), free(dy), free(dx), free(dg), free(db), free(y), free(mean), free(rstd);
}

Test(op_layernorm, gpu_matches_ref, GPU_TEST) {
    require_gpu();
    int ncases = (int)(sizeof LN_CASES / sizeof LN_CASES[0]);
    for (int shared = 0; shared < 2; shared++) {
        tgpu.tune.use_shared_memory = shared;
        for (int k = 0; k < ncases; k++) check_layernorm(&LN_CASES[k], true, 200 + 10 * k + shared);
        check_layernorm(&LN_CASES[2], false, 998);
    }
    assert_all_modes((ShaderId[]){SHADER_LAYERNORM_FWD, SHADER_LAYERNORM_BWD_DATA}, 2);
    ASSERT_NO_VALIDATION_MESSAGES();
}

// Past lavapipe's loop limit (65535 iterations per invocation): a row of 175k
// floats (D odd: one per texel) is 3 x 22k sweeps for one subgroup of 8; the
// parameter gradients of 70001 rows are one sweep of 70001.
Test(op_layernorm, long_rows_match_ref, GPU_TEST) {
    require_gpu();
    const LnCase wide = {"long-row", 2, {2, 174763}, -2, 2, 0};
    check_layernorm(&wide, true, 600);
    // 70001 rows: dgamma and dbeta sweep them in one invocation per column
    const LnCase tall = {"long-columns", 2, {70001, 3}, -2, 2, 0};
    check_layernorm(&tall, true, 601);
    ASSERT_NO_VALIDATION_MESSAGES();
}

// Replaying the same backward recording gives bit-identical gradients (no atomics,
// fixed summation order), in the shared-memory variant where workgroups hold
// several subgroups.
Test(op_norm, backward_deterministic, GPU_TEST) {
    require_gpu();
    tgpu.tune.use_shared_memory = true;
    int64_t shape[4] = {2, 64, 16, 16}, n = 2 * 64 * 256, C = 64, R = 512, D = 64;
    TestRng rng = rng_seed(300);
    double* x = rand_array(&rng, n, -2, 2);
    double* dy = rand_array(&rng, n, -1, 1);
    double* gamma = rand_array(&rng, C, -1.5, 1.5);
    double* beta = rand_array(&rng, C, -1, 1);
    Tensor tx = t_upload(4, shape, x), tdy = t_upload(4, shape, dy), ty = arena_tensor(&tarena, 4, shape);
    Tensor tg = t_upload(1, &C, gamma), tb = t_upload(1, &C, beta);
    Tensor tmean = arena_tensor2(&tarena, 2, 8), trstd = arena_tensor2(&tarena, 2, 8);
    Tensor lx = tensor_reshape(tx, 2, (int64_t[]){R, D}), ldy = tensor_reshape(tdy, 2, (int64_t[]){R, D});
    Tensor lmean = arena_tensor1(&tarena, R), lrstd = arena_tensor1(&tarena, R), ly = arena_tensor2(&tarena, R, D);
    Tensor outs[] = {arena_tensor(&tarena, 4, shape), arena_tensor1(&tarena, C), arena_tensor1(&tarena, C),
                     arena_tensor2(&tarena, R, D), arena_tensor1(&tarena, D), arena_tensor1(&tarena, D)};
    Cmd c;
    cmd_begin(&c, &tgpu);
    for (int i = 0; i < 6; i++) cmd_fill(&c, &outs[i], 0.0f);
    op_groupnorm_forward(&c, &ty, &tmean, &trstd, &tx, &tg, &tb, 8, (float)EPS, ACT_SILU);
    op_groupnorm_backward(&c, &outs[0], &outs[1], &outs[2], &tdy, &tx, &tmean, &trstd, &tg, &tb, 8, ACT_SILU);
    op_layernorm_forward(&c, &ly, &lmean, &lrstd, &lx, &tg, &tb, (float)EPS);
    op_layernorm_backward(&c, &outs[3], &outs[4], &outs[5], &ldy, &lx, &lmean, &lrstd, &tg);
    cmd_end(&c);
    double* first[6];
    cmd_submit(&c);
    for (int i = 0; i < 6; i++) first[i] = t_download_new(&outs[i]);
    cmd_submit(&c);
    for (int i = 0; i < 6; i++) {
        double* again = t_download_new(&outs[i]);
        for (int64_t j = 0; j < tensor_numel(&outs[i]); j++)
            cr_assert(again[j] == first[i][j], "output %d element %lld: %.9g then %.9g", i, (long long)j, first[i][j],
                      again[j]);
        free(again), free(first[i]);
    }
    cmd_free(&c);
    free(x), free(dy), free(gamma), free(beta);
    ASSERT_NO_VALIDATION_MESSAGES();
}
