// test_op_optim.c: global gradient norm with clipping, AdamW and EMA against the
// double references: odd sizes, unaligned slices, tensors split into several
// bindings, both reduction policies, NaN/inf propagation, determinism, and
// recordings replayed unchanged while the host rewrites the per-step scalars.
#include <math.h>
#include <string.h>

#include "test_util.h"

// Host doubles into an existing tensor (as float).
static void upload_into(const Tensor* t, const double* data) {
    int64_t n = tensor_numel(t);
    float* f = malloc((size_t)n * sizeof *f);
    for (int64_t i = 0; i < n; i++) f[i] = (float)data[i];
    tensor_upload(&tgpu, t, f);
    free(f);
}

// A tensor of n elements starting `shift` floats past an aligned arena offset
// (shift 1: aligned-down views, one float per texel/vec).
static Tensor tensor_shifted(int64_t n, int64_t shift) {
    Tensor t = arena_tensor1(&tarena, n + shift);
    return tensor_slice(t, shift, n);
}

// ---------------------------------------------------------------------------
// Gradient norm.

#define NG 6
// 1, 13, 1000, 4097 (odd, a partial last texel), 40000 (three partial sums), 777 unaligned.
static const int64_t G_SIZES[NG] = {1, 13, 1000, 4097, 40000, 777};
static const int64_t G_SHIFT[NG] = {0, 0, 0, 0, 0, 3};

typedef struct Grads {
    double* h[NG];
    int64_t n[NG];
    Tensor t[NG];
} Grads;

static Grads make_grads(uint64_t seed, double scale) {
    Grads g;
    TestRng rng = rng_seed(seed);
    for (int k = 0; k < NG; k++) {
        g.n[k] = G_SIZES[k];
        g.h[k] = rand_array(&rng, g.n[k], -scale, scale);
        g.t[k] = tensor_shifted(g.n[k], G_SHIFT[k]);
        upload_into(&g.t[k], g.h[k]);
    }
    return g;
}

static void free_grads(Grads* g) {
    for (int k = 0; k < NG; k++) free(g->h[k]);
}

// Records the norm of g, runs it `runs` times (same recording) into stats;
// returns the barriers the recorder put in.
static int run_grad_norm(Grads* g, float max_norm, double* stats, int runs) {
    int64_t ns = op_grad_norm_scratch_numel(g->t, NG);
    Tensor scratch = arena_tensor1(&tarena, ns);
    Tensor ts = arena_tensor1(&tarena, 2);
    // The op owns every scratch value it reads, padding included: start from NaN.
    double* junk = malloc((size_t)ns * sizeof *junk);
    for (int64_t i = 0; i < ns; i++) junk[i] = NAN;
    upload_into(&scratch, junk);
    free(junk);
    Cmd c;
    cmd_begin(&c, &tgpu);
    op_grad_norm(&c, &ts, &scratch, g->t, NG, max_norm);
    cmd_end(&c);
    float first[2], now[2];
    for (int r = 0; r < runs; r++) {
        cmd_submit(&c);
        tensor_download(&tgpu, &ts, r ? now : first);
        // No atomics, fixed summation order: every replay gives the same bits.
        if (r) cr_assert(memcmp(first, now, sizeof first) == 0, "replay %d changed the norm: %.9g -> %.9g", r,
                         first[0], now[0]);
    }
    int barriers = c.nbarrier;
    cmd_free(&c);
    stats[0] = first[0], stats[1] = first[1];
    return barriers;
}

// With Kahan sums and a two-level tree, fp32 stays within a few ulps of double.
#define TOL_NORM ((Tol){.rtol = 2e-6, .atol = 0, .nmse = 1e-12})

static void check_grad_norm_cases(void) {
    Grads g = make_grads(5, 1.0);
    double ref[2];
    ref_grad_norm(ref, (const double* const*)g.h, g.n, NG, 0);
    double norm = ref[0];
    // No clipping, clipping (max_norm below the norm), no effect (max_norm above it).
    const float max_norms[] = {0.0f, (float)(0.25 * norm), (float)(3.0 * norm)};
    for (int k = 0; k < 3; k++) {
        double got[2];
        // The first-level dispatches write disjoint, 256-byte aligned scratch ranges:
        // one barrier in all, before the final sum.
        int barriers = run_grad_norm(&g, max_norms[k], got, 3);
        cr_assert_eq(barriers, 1, "%d barriers", barriers);
        ref_grad_norm(ref, (const double* const*)g.h, g.n, NG, max_norms[k]);
        char label[64];
        snprintf(label, sizeof label, "grad norm max_norm=%g", max_norms[k]);
        ASSERT_CLOSE(label, got, ref, 2, TOL_NORM);
        if (k == 1) cr_assert(got[1] < 0.3, "clipping factor %g should be ~0.25", got[1]);
        else cr_assert(got[1] == 1.0, "clipping factor %g should be exactly 1", got[1]);
    }
    free_grads(&g);
}

Test(op_grad_norm, gpu_matches_ref, GPU_TEST) {
    require_gpu();
    check_grad_norm_cases();
    ASSERT_NO_VALIDATION_MESSAGES();
}

Test(op_grad_norm, gpu_matches_ref_other_reduction, GPU_TEST) {
    require_gpu();
    tgpu.tune.use_shared_memory = !tgpu.tune.use_shared_memory;
    check_grad_norm_cases();
    ASSERT_NO_VALIDATION_MESSAGES();
}

// Device limits small enough that the tensors are split into several bindings,
// the pieces' partials starting at unaligned scratch offsets (the validation
// layer still checks against the real limits, which are larger).
Test(op_grad_norm, gpu_matches_ref_in_pieces, GPU_TEST) {
    require_gpu();
    Grads g = make_grads(6, 1.0);
    tgpu.props.limits.maxTexelBufferElements = 40000;  // pieces of 2 chunks (32768 elements)
    double got[2], ref[2];
    run_grad_norm(&g, 1.0f, got, 2);
    ref_grad_norm(ref, (const double* const*)g.h, g.n, NG, 1.0);
    ASSERT_CLOSE("grad norm in pieces", got, ref, 2, TOL_NORM);
    free_grads(&g);
    ASSERT_NO_VALIDATION_MESSAGES();
}

// ~2.1 M elements, one repeated value in the first tensor and a wide range of
// magnitudes in the others: fp32 within 2e-6 of double (measured: 2e-8).
Test(op_grad_norm, gpu_long_sum_is_accurate, GPU_TEST) {
    require_gpu();
    int64_t sizes[3] = {1 << 20, 1000003, 65536};
    double* h[3];
    Tensor t[3];
    TestRng rng = rng_seed(77);
    for (int k = 0; k < 3; k++) {
        h[k] = rand_array(&rng, sizes[k], -1e-3, 1e-3);
        for (int64_t i = 0; i < sizes[k]; i++)
            if (k == 0) h[k][i] = 0.1f;  // one repeated value: rounding errors add up
            else if (i % 1009 == 0) h[k][i] = (float)(h[k][i] * 1e4);
        t[k] = t_upload(1, &sizes[k], h[k]);
    }
    Tensor scratch = arena_tensor1(&tarena, op_grad_norm_scratch_numel(t, 3)), ts = arena_tensor1(&tarena, 2);
    Cmd c;
    RUN_CMD(c, op_grad_norm(&c, &ts, &scratch, t, 3, 0.5f));
    double got[2], ref[2];
    t_download(&ts, got);
    ref_grad_norm(ref, (const double* const*)h, sizes, 3, 0.5);
    ASSERT_CLOSE("grad norm 2M", got, ref, 2, TOL_NORM);
    for (int k = 0; k < 3; k++) free(h[k]);
    ASSERT_NO_VALIDATION_MESSAGES();
}

// A NaN or inf anywhere makes the norm non-finite; the clipping factor is then
// 0, the "skip this step" signal adamw reads (clipping on or off).
// Garbage past the end of a tensor (inside its last texel) is never read.
Test(op_grad_norm, nonfinite_propagates, GPU_TEST) {
    require_gpu();
    const double bad[2] = {NAN, INFINITY};
    for (int b = 0; b < 2; b++)
        for (int where = 0; where < NG; where++) {
            Grads g = make_grads(8, 1.0);
            int64_t at = g.n[where] / 2;
            g.h[where][at] = bad[b];
            upload_into(&g.t[where], g.h[where]);
            double got[2];
            run_grad_norm(&g, 1.0f, got, 1);
            cr_assert(!isfinite(got[0]), "%g in tensor %d: norm %g", bad[b], where, got[0]);
            cr_assert(got[1] == 0, "%g in tensor %d: clipping factor %g", bad[b], where, got[1]);
            run_grad_norm(&g, 0.0f, got, 1);  // no clipping: the norm still reports it
            cr_assert(!isfinite(got[0]), "%g in tensor %d, no clipping: norm %g", bad[b], where, got[0]);
            cr_assert(got[1] == 0, "%g in tensor %d, no clipping: factor %g", bad[b], where, got[1]);
            free_grads(&g);
        }

    // NaN in the 3 floats after a 4097-float tensor (same texel): masked out.
    int64_t n = 4097, padded = 4100;
    TestRng rng = rng_seed(9);
    double* h = rand_array(&rng, padded, -1, 1);
    h[4097] = h[4098] = h[4099] = NAN;
    Tensor whole = t_upload(1, &padded, h), t = tensor_slice(whole, 0, n);
    Tensor scratch = arena_tensor1(&tarena, op_grad_norm_scratch_numel(&t, 1)), ts = arena_tensor1(&tarena, 2);
    Cmd c;
    RUN_CMD(c, op_grad_norm(&c, &ts, &scratch, &t, 1, 0.0f));
    double got[2], ref[2];
    t_download(&ts, got);
    const double* hs[1] = {h};
    ref_grad_norm(ref, hs, &n, 1, 0.0);
    ASSERT_CLOSE("grad norm, NaN past the end", got, ref, 2, TOL_NORM);
    free(h);
    ASSERT_NO_VALIDATION_MESSAGES();
}

// ---------------------------------------------------------------------------
// AdamW.

#define NA 4
static const int64_t A_SIZES[NA] = {1, 13, 4097, 4097};
static const int64_t A_SHIFT[NA] = {0, 0, 0, 1};  // the last one unaligned: one float per access

typedef struct Adam {
    double *p[NA], *g[NA], *m[NA], *v[NA];
    Tensor tp[NA], tg[NA], tm[NA], tv[NA];
} Adam;

static Adam make_adam(TestRng* rng) {
    Adam a;
    for (int k = 0; k < NA; k++) {
        int64_t n = A_SIZES[k];
        a.p[k] = rand_array(rng, n, -1, 1);
        a.g[k] = rand_array(rng, n, -1, 1);
        a.m[k] = calloc(n, sizeof(double));  // torch starts the moments at 0
        a.v[k] = calloc(n, sizeof(double));
        a.tp[k] = tensor_shifted(n, A_SHIFT[k]), a.tg[k] = tensor_shifted(n, A_SHIFT[k]);
        a.tm[k] = tensor_shifted(n, A_SHIFT[k]), a.tv[k] = tensor_shifted(n, A_SHIFT[k]);
        upload_into(&a.tp[k], a.p[k]), upload_into(&a.tm[k], a.m[k]), upload_into(&a.tv[k], a.v[k]);
    }
    return a;
}

static void free_adam(Adam* a) {
    for (int k = 0; k < NA; k++) free(a->p[k]), free(a->g[k]), free(a->m[k]), free(a->v[k]);
}

static void step_scalars(double* s, int t, AdamWHyper h) {
    memset(s, 0, STEP_SCALARS_COUNT * sizeof *s);
    s[STEP_LR] = 1e-2 * (1.0 + 0.5 * t);  // a schedule: the value changes every replay
    s[STEP_BC1] = 1.0 - pow(h.beta1, t);
    s[STEP_BC2] = 1.0 - pow(h.beta2, t);
    s[STEP_EMA_DECAY] = 0.9;
}

static void check_adam(const Adam* a, const char* what, int t) {
    for (int k = 0; k < NA; k++) {
        int64_t n = A_SIZES[k];
        double* got = calloc(n, sizeof *got);
        const Tensor* ts[3] = {&a->tp[k], &a->tm[k], &a->tv[k]};
        const double* want[3] = {a->p[k], a->m[k], a->v[k]};
        const char* names[3] = {"param", "m", "v"};
        for (int j = 0; j < 3; j++) {
            t_download(ts[j], got);
            char label[96];
            snprintf(label, sizeof label, "adamw %s %s n=%lld after %d", what, names[j], (long long)n, t);
            ASSERT_CLOSE(label, got, want[j], n, TOL_F32);
        }
        free(got);
    }
}

// One recording (grad norm + AdamW on every tensor), replayed 5 times; before each
// replay the host writes new gradients and the step's lr and bias corrections.
static void check_adamw_replays(bool clip, uint64_t seed) {
    TestRng rng = rng_seed(seed);
    AdamWHyper h = {.beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.1f};
    Adam a = make_adam(&rng);
    Tensor scratch = arena_tensor1(&tarena, op_grad_norm_scratch_numel(a.tg, NA));
    Tensor stats = arena_tensor1(&tarena, 2), scalars = arena_tensor1(&tarena, STEP_SCALARS_COUNT);
    const float max_norm = 2.0f;  // the gradients' norm is ~52: the factor is ~0.04
    Cmd c;
    cmd_begin(&c, &tgpu);
    if (clip) op_grad_norm(&c, &stats, &scratch, a.tg, NA, max_norm);
    for (int k = 0; k < NA; k++)
        op_adamw_step(&c, &a.tp[k], &a.tg[k], &a.tm[k], &a.tv[k], &scalars, clip ? &stats : NULL, h);
    cmd_end(&c);
    for (int t = 1; t <= 5; t++) {
        double s[STEP_SCALARS_COUNT], st[2];
        step_scalars(s, t, h);
        upload_into(&scalars, s);
        for (int k = 0; k < NA; k++) {
            for (int64_t i = 0; i < A_SIZES[k]; i++) a.g[k][i] = (float)rng_uniform(&rng, -1, 1);
            upload_into(&a.tg[k], a.g[k]);
        }
        cmd_submit(&c);
        ref_grad_norm(st, (const double* const*)a.g, A_SIZES, NA, max_norm);
        if (clip) cr_assert(st[1] < 0.1, "the test should clip (factor %g)", st[1]);
        for (int k = 0; k < NA; k++) ref_adamw_step(a.p[k], a.g[k], a.m[k], a.v[k], s, clip ? st : NULL, A_SIZES[k], h);
        if (t == 1 || t == 5) check_adam(&a, clip ? "clip" : "noclip", t);
    }
    cmd_free(&c);
    free_adam(&a);
}

Test(op_adamw, gpu_replays_match_ref, GPU_TEST) {
    require_gpu();
    check_adamw_replays(false, 21);
    check_adamw_replays(true, 22);
    ASSERT_NO_VALIDATION_MESSAGES();
}

// torch.optim.AdamW(lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1), 3 elements,
// two steps, worked by hand from torch's single-tensor code
// (p.mul_(1 - lr wd); m.lerp_(g, 1 - b1); v = b2 v + (1 - b2) g^2;
//  p.addcdiv_(m, sqrt(v) / sqrt(bc2) + eps, value = -lr / bc1)):
//   p0 = [0.5, -1, 2]
//   step 1: lr 0.01, g = [0.1, -0.2, 0.05], bc1 = 0.1, bc2 = 0.001
//     m = 0.1 g = [0.01, -0.02, 0.005];  v = 0.001 g^2 = [1e-5, 4e-5, 2.5e-6]
//     p * (1 - 0.001) = [0.4995, -0.999, 1.998]
//     m / bc1 = g, sqrt(v / bc2) = |g|: p -= 0.01 g / (|g| + 1e-8)
//     p1 = [0.489500001, -0.9890000005, 1.988000002]
//   step 2: lr 0.02, g = [-0.3, 0.1, 0.05], bc1 = 0.19, bc2 = 0.001999
//     m = 0.9 m + 0.1 g = [-0.021, -0.008, 0.0095]
//     v = 0.999 v + 0.001 g^2 = [9.999e-5, 4.996e-5, 4.9975e-6]
//     p * (1 - 0.002): p[0] = 0.488521001;  lr / bc1 = 0.1052631579
//     sqrt(v[0]) / sqrt(bc2) = 0.0099995 / 0.0447101778 = 0.2236522
//     p[0] = 0.488521001 + 0.1052631579 * 0.021 / 0.2236522 = 0.4984047972
//     p2 = [0.4984047972, -0.98169526, 1.964024006]
Test(op_adamw, matches_torch_by_hand, GPU_TEST) {
    require_gpu();
    AdamWHyper h = {.beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.1f};
    int64_t n = 3;
    double p0[3] = {0.5, -1.0, 2.0}, zero[3] = {0, 0, 0};
    double g[2][3] = {{0.1, -0.2, 0.05}, {-0.3, 0.1, 0.05}}, lr[2] = {0.01, 0.02};
    double want[2][3] = {{0.489500001, -0.9890000005, 1.988000002}, {0.4984047972, -0.98169526, 1.964024006}};
    double want_m[3] = {-0.021, -0.008, 0.0095}, want_v[3] = {9.999e-5, 4.996e-5, 4.9975e-6};
    Tensor tp = t_upload(1, &n, p0), tg = t_upload(1, &n, g[0]), tm = t_upload(1, &n, zero), tv = t_upload(1, &n, zero);
    Tensor scalars = arena_tensor1(&tarena, STEP_SCALARS_COUNT);
    Cmd c;
    cmd_begin(&c, &tgpu);
    op_adamw_step(&c, &tp, &tg, &tm, &tv, &scalars, NULL, h);
    cmd_end(&c);
    double ref_p[3] = {0.5, -1.0, 2.0}, ref_m[3] = {0}, ref_v[3] = {0}, got[3];
    for (int t = 0; t < 2; t++) {
        double s[STEP_SCALARS_COUNT] = {0};
        // Bias corrections from the same float betas the kernel uses (as the trainer
        // must: 1 - 0.999f^t against 1 - 0.999^t would move step 1 by 7e-6 relative).
        s[STEP_LR] = lr[t], s[STEP_BC1] = 1 - pow(h.beta1, t + 1), s[STEP_BC2] = 1 - pow(h.beta2, t + 1);
        upload_into(&scalars, s);
        upload_into(&tg, g[t]);
        cmd_submit(&c);
        t_download(&tp, got);
        char label[64];
        snprintf(label, sizeof label, "adamw by hand, step %d", t + 1);
        ASSERT_CLOSE(label, got, want[t], 3, TOL_F32);
        ref_adamw_step(ref_p, g[t], ref_m, ref_v, s, NULL, 3, h);
        // The reference, in double, agrees with the hand values to what the float
        // betas (0.9f = 0.9 - 2.4e-8) change: nothing at step 1, ~1e-8 at step 2.
        snprintf(label, sizeof label, "ref adamw by hand, step %d", t + 1);
        ASSERT_CLOSE(label, ref_p, want[t], 3, ((Tol){.rtol = 1e-7, .atol = 0, .nmse = 1e-14}));
    }
    // The moments against the reference, and against the hand values up to the
    // float betas: 1 - 0.999f = 0.00099998713 scales v by 1 - 1.3e-5.
    const Tol tol_beta = {.rtol = 2e-5, .atol = 0, .nmse = 1e-9};
    t_download(&tm, got);
    ASSERT_CLOSE("adamw by hand, m", got, ref_m, 3, TOL_F32);
    ASSERT_CLOSE("adamw by hand, m vs hand", got, want_m, 3, tol_beta);
    t_download(&tv, got);
    ASSERT_CLOSE("adamw by hand, v", got, ref_v, 3, TOL_F32);
    ASSERT_CLOSE("adamw by hand, v vs hand", got, want_v, 3, tol_beta);
    cmd_free(&c);
    ASSERT_NO_VALIDATION_MESSAGES();
}

// A NaN gradient is never applied: the clipping factor 0 makes adamw leave
// every parameter and moment as it was (a diverging step changes nothing).
Test(op_adamw, nan_gradient_step_is_not_applied, GPU_TEST) {
    require_gpu();
    TestRng rng = rng_seed(31);
    AdamWHyper h = {.beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.1f};
    Adam a = make_adam(&rng);
    for (int k = 0; k < NA; k++) upload_into(&a.tg[k], a.g[k]);
    a.g[2][100] = NAN;
    upload_into(&a.tg[2], a.g[2]);
    double s[STEP_SCALARS_COUNT];
    step_scalars(s, 1, h);
    Tensor scalars = t_upload(1, (int64_t[]){STEP_SCALARS_COUNT}, s);
    Tensor scratch = arena_tensor1(&tarena, op_grad_norm_scratch_numel(a.tg, NA)), stats = arena_tensor1(&tarena, 2);
    double* before[NA][3];
    for (int k = 0; k < NA; k++)
        before[k][0] = t_download_new(&a.tp[k]), before[k][1] = t_download_new(&a.tm[k]),
        before[k][2] = t_download_new(&a.tv[k]);
    Cmd c;
    RUN_CMD(c, {
        op_grad_norm(&c, &stats, &scratch, a.tg, NA, 1.0f);
        for (int k = 0; k < NA; k++) op_adamw_step(&c, &a.tp[k], &a.tg[k], &a.tm[k], &a.tv[k], &scalars, &stats, h);
    });
    double st[2];
    t_download(&stats, st);
    cr_assert(!isfinite(st[0]) && st[1] == 0, "stats %g %g", st[0], st[1]);
    for (int k = 0; k < NA; k++) {
        const Tensor* t[3] = {&a.tp[k], &a.tm[k], &a.tv[k]};
        for (int j = 0; j < 3; j++) {
            double* now = t_download_new(t[j]);
            cr_assert(!memcmp(now, before[k][j], (size_t)A_SIZES[k] * sizeof *now), "tensor %d/%d changed", k, j);
            free(now), free(before[k][j]);
        }
    }
    free_adam(&a);
    ASSERT_NO_VALIDATION_MESSAGES();
}

// ---------------------------------------------------------------------------
// EMA.

Test(op_ema, gpu_replays_match_ref, GPU_TEST) {
    require_gpu();
    TestRng rng = rng_seed(41);
    double* p[NA];
    double* e[NA];
    Tensor tp[NA], te[NA];
    for (int k = 0; k < NA; k++) {
        p[k] = rand_array(&rng, A_SIZES[k], -1, 1);
        e[k] = rand_array(&rng, A_SIZES[k], -1, 1);
        tp[k] = tensor_shifted(A_SIZES[k], A_SHIFT[k]), te[k] = tensor_shifted(A_SIZES[k], A_SHIFT[k]);
        upload_into(&te[k], e[k]);
    }
    Tensor scalars = arena_tensor1(&tarena, STEP_SCALARS_COUNT);
    Cmd c;
    cmd_begin(&c, &tgpu);
    for (int k = 0; k < NA; k++) op_ema_update(&c, &te[k], &tp[k], &scalars);
    cmd_end(&c);
    const double decays[3] = {0.9, 0.999, 0.5};
    for (int r = 0; r < 3; r++) {
        double s[STEP_SCALARS_COUNT] = {0};
        s[STEP_EMA_DECAY] = decays[r];
        upload_into(&scalars, s);
        for (int k = 0; k < NA; k++) {
            for (int64_t i = 0; i < A_SIZES[k]; i++) p[k][i] = (float)rng_uniform(&rng, -1, 1);
            upload_into(&tp[k], p[k]);
        }
        cmd_submit(&c);
        for (int k = 0; k < NA; k++) {
            ref_ema_update(e[k], p[k], s, A_SIZES[k]);
            double* got = t_download_new(&te[k]);
            char label[64];
            snprintf(label, sizeof label, "ema n=%lld replay %d", (long long)A_SIZES[k], r + 1);
            ASSERT_CLOSE(label, got, e[k], A_SIZES[k], TOL_F32);
            free(got);
        }
    }
    cmd_free(&c);
    for (int k = 0; k < NA; k++) free(p[k]), free(e[k]);
    ASSERT_NO_VALIDATION_MESSAGES();
}

// AdamW and EMA on tensors larger than one binding (a small fake limit): pieces.
Test(op_adamw, gpu_matches_ref_in_pieces, GPU_TEST) {
    require_gpu();
    int64_t n = 150001;
    TestRng rng = rng_seed(51);
    AdamWHyper h = {.beta1 = 0.8f, .beta2 = 0.99f, .eps = 1e-6f, .weight_decay = 0.05f};
    double *p = rand_array(&rng, n, -1, 1), *g = rand_array(&rng, n, -1, 1), *m = rand_array(&rng, n, -0.1, 0.1);
    double* v = rand_array(&rng, n, 0, 0.01);
    double* e = rand_array(&rng, n, -1, 1);
    double s[STEP_SCALARS_COUNT];
    step_scalars(s, 3, h);
    Tensor tp = t_upload(1, &n, p), tg = t_upload(1, &n, g), tm = t_upload(1, &n, m), tv = t_upload(1, &n, v);
    Tensor te = t_upload(1, &n, e), scalars = t_upload(1, (int64_t[]){STEP_SCALARS_COUNT}, s);
    tgpu.props.limits.maxStorageBufferRange = (65536 + 64) * 4;  // pieces of 65536 elements
    Cmd c;
    RUN_CMD(c, {
        op_adamw_step(&c, &tp, &tg, &tm, &tv, &scalars, NULL, h);
        op_ema_update(&c, &te, &tp, &scalars);
    });
    ref_adamw_step(p, g, m, v, s, NULL, n, h);
    ref_ema_update(e, p, s, n);
    double* got = t_download_new(&tp);
    ASSERT_CLOSE("adamw pieces param", got, p, n, TOL_F32);
    t_download(&tm, got);
    ASSERT_CLOSE("adamw pieces m", got, m, n, TOL_F32);
    t_download(&tv, got);
    ASSERT_CLOSE("adamw pieces v", got, v, n, TOL_F32);
    t_download(&te, got);
    ASSERT_CLOSE("ema pieces", got, e, n, TOL_F32);
    free(p), free(g), free(m), free(v), free(e), free(got);
    ASSERT_NO_VALIDATION_MESSAGES();
}
