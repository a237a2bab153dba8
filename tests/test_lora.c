// test_lora.c: LoRA adapters (model/lora.h). The adapter Linear on the GPU
// against a double-precision reference written with the merged weight
// W + (alpha / r) B A, forward and backward on odd shapes; that reference's
// gradients against finite differences; the base with the adapters off; and
// the adapter files: PEFT -> kohya -> PEFT bit-identical, the older diffusers
// processor keys; a text-encoder adapter file in sampling and export.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/image_decode.h"
#include "io/safetensors.h"
#include "model/layers.h"
#include "model/lora.h"
#include "test_util.h"
#include "util/fsutil.h"

// y [R, O] = x (W + s B A)^T + b: the merged weight, as a merged export computes it.
typedef struct MergedCtx { double *x, *W, *b, *A, *B; int64_t R, I, O, K; double s; } MergedCtx;
static void merged_forward(void* p, double* y) {
    MergedCtx* c = p;
    for (int64_t r = 0; r < c->R; r++)
        for (int64_t o = 0; o < c->O; o++) {
            double acc = c->b[o];
            for (int64_t i = 0; i < c->I; i++) {
                double w = c->W[o * c->I + i];
                for (int64_t k = 0; k < c->K; k++) w += c->s * c->B[o * c->K + k] * c->A[k * c->I + i];
                acc += c->x[r * c->I + i] * w;
            }
            y[r * c->O + o] = acc;
        }
}

// The low-rank backward: t = x A^T, dt = s dy B; dA = dt^T x, dB = s dy^T t, dx = dy W + dt A.
static void lowrank_backward(const MergedCtx* c, const double* dy, double* dA, double* dB, double* dx) {
    int64_t R = c->R, I = c->I, O = c->O, K = c->K;
    double* t = calloc((size_t)(R * K), sizeof *t);
    double* dt = calloc((size_t)(R * K), sizeof *dt);
    for (int64_t r = 0; r < R; r++)
        for (int64_t k = 0; k < K; k++) {
            for (int64_t i = 0; i < I; i++) t[r * K + k] += c->x[r * I + i] * c->A[k * I + i];
            for (int64_t o = 0; o < O; o++) dt[r * K + k] += c->s * dy[r * O + o] * c->B[o * K + k];
        }
    memset(dA, 0, (size_t)(K * I) * sizeof *dA), memset(dB, 0, (size_t)(O * K) * sizeof *dB);
    memset(dx, 0, (size_t)(R * I) * sizeof *dx);
    for (int64_t r = 0; r < R; r++) {
        for (int64_t k = 0; k < K; k++) {
            for (int64_t i = 0; i < I; i++) dA[k * I + i] += dt[r * K + k] * c->x[r * I + i];
            for (int64_t o = 0; o < O; o++) dB[o * K + k] += c->s * dy[r * O + o] * t[r * K + k];
        }
        for (int64_t i = 0; i < I; i++) {
            for (int64_t o = 0; o < O; o++) dx[r * I + i] += dy[r * O + o] * c->W[o * I + i];
            for (int64_t k = 0; k < K; k++) dx[r * I + i] += dt[r * K + k] * c->A[k * I + i];
        }
    }
    free(t), free(dt);
}

Test(lora, reference_gradients_match_finite_differences) {
    MergedCtx c = {.R = 5, .I = 7, .O = 6, .K = 3, .s = 4.5 / 3};
    TestRng rng = rng_seed(70);
    c.x = rand_array(&rng, c.R * c.I, -1, 1), c.W = rand_array(&rng, c.O * c.I, -1, 1);
    c.b = rand_array(&rng, c.O, -1, 1), c.A = rand_array(&rng, c.K * c.I, -1, 1);
    c.B = rand_array(&rng, c.O * c.K, -1, 1);
    double* r = rand_array(&rng, c.R * c.O, -1, 1);
    double *dA = malloc(sizeof(double) * 21), *dB = malloc(sizeof(double) * 18), *dx = malloc(sizeof(double) * 35);
    lowrank_backward(&c, r, dA, dB, dx);
    ASSERT_FD("lora dA", merged_forward, &c, c.R * c.O, r, c.A, c.K * c.I, dA);
    ASSERT_FD("lora dB", merged_forward, &c, c.R * c.O, r, c.B, c.O * c.K, dB);
    ASSERT_FD("lora dx", merged_forward, &c, c.R * c.O, r, c.x, c.R * c.I, dx);
    free(c.x), free(c.W), free(c.b), free(c.A), free(c.B), free(r), free(dA), free(dB), free(dx);
}

static void upload_d(ParamStore* ps, int i, const double* d) {
    int64_t n = param_numel(ps, i);
    float* f = malloc((size_t)n * sizeof *f);
    for (int64_t k = 0; k < n; k++) f[k] = (float)d[k];
    param_upload(ps, i, f);
    free(f);
}

static double* download_d(const Tensor* t) { return t_download_new(t); }

// The first adapter's dA [K, I], dB [O, K] and the input gradient dx [R, I] against the reference's.
static void expect_adapter_grads(const char* label, LoraSet* ls, const Tensor* dx, const double* dA, const double* dB,
                                 const double* dx_want, const MergedCtx* c) {
    char name[64];
    const Tensor* got_t[3] = {G(&ls->ps, ls->ad[0].a), G(&ls->ps, ls->ad[0].b), dx};
    const double* want[3] = {dA, dB, dx_want};
    const int64_t n[3] = {c->K * c->I, c->O * c->K, c->R * c->I};
    const char* part[3] = {"dA", "dB", "dx"};
    for (int i = 0; i < 3; i++) {
        double* got = download_d(got_t[i]);
        snprintf(name, sizeof name, "%s %s", label, part[i]);
        ASSERT_CLOSE(name, got, want[i], n[i], TOL_F32);
        free(got);
    }
}

// Random x, W, b, A, B and dy of a merged-weight case (c's sizes), uploaded to the
// base Linear q, the set's first adapter and the tensors x [N, T, I], dy [N, T, O].
static void merged_case_inputs(MergedCtx* c, uint64_t seed, ParamStore* base, const Linear* q, LoraSet* ls, int64_t N,
                               int64_t T, Tensor* x, Tensor* tdy, double** dy) {
    TestRng rng = rng_seed(seed);
    int64_t I = c->I, O = c->O, K = c->K;
    c->x = rand_array(&rng, c->R * I, -1, 1), c->W = rand_array(&rng, O * I, -1, 1), c->b = rand_array(&rng, O, -1, 1);
    c->A = rand_array(&rng, K * I, -1, 1), c->B = rand_array(&rng, O * K, -1, 1);
    *dy = rand_array(&rng, c->R * O, -1, 1);
    upload_d(base, q->w, c->W), upload_d(base, q->b, c->b);
    upload_d(&ls->ps, ls->ad[0].a, c->A), upload_d(&ls->ps, ls->ad[0].b, c->B);
    *x = t_upload(3, (int64_t[]){N, T, I}, c->x), *tdy = t_upload(3, (int64_t[]){N, T, O}, *dy);
}

// The adapter Linear (x [2, 3, 7] -> [2, 3, 5], rank 3, alpha 4.5) on the GPU
// against the merged-weight reference; gradients of A, B and x; a frozen base.
Test(lora, linear_matches_merged_reference, GPU_TEST) {
    require_gpu();
    const int64_t N = 2, T = 3, I = 7, O = 5, K = 3;
    ParamStore base;
    param_store_init(&base, &tgpu);
    Linear q, k;
    linear_init(&q, &base, "mid_block.attentions.0.transformer_blocks.0.attn2.to_q", (int)I, (int)O, true);
    linear_init(&k, &base, "mid_block.attentions.0.transformer_blocks.0.attn2.to_k", (int)I, (int)O, false);
    param_store_alloc(&base, false, false, false);
    LoraSet ls;
    char err[512];
    cr_assert_eq(lora_set_create(&ls, &tgpu, &base, (int)K, 4.5f, "to_q", err, sizeof err), 0, "%s", err);
    cr_assert_eq(ls.n, 1);
    cr_assert_str_eq(ls.ps.e[0].name, "mid_block.attentions.0.transformer_blocks.0.attn2.to_q.lora_A.weight");
    cr_assert_str_eq(ls.ps.e[1].name, "mid_block.attentions.0.transformer_blocks.0.attn2.to_q.lora_B.weight");
    param_store_alloc(&ls.ps, true, false, false);

    MergedCtx c = {.R = N * T, .I = I, .O = O, .K = K, .s = 4.5 / 3};
    double* dy;
    Tensor x, tdy;
    merged_case_inputs(&c, 71, &base, &q, &ls, N, T, &x, &tdy, &dy);
    Arena act, tmp, grad;
    arena_init(&act, &tgpu, "act", 0, false), arena_init(&tmp, &tgpu, "tmp", 0, false);
    arena_init(&grad, &tgpu, "grad", 0, false);
    Cmd cmd;
    Tensor y, y_off, dx;
    Graph g = {.cmd = &cmd, .ps = &base, .act = &act, .tmp = &tmp, .grad = &grad, .training = true, .lora = &ls};
    Graph off = {.cmd = &cmd, .ps = &base, .act = &act, .tmp = &tmp, .grad = NULL, .training = false};
    cmd_begin(&cmd, &tgpu);
    y = linear_forward(&g, &q, &x);
    y_off = linear_forward(&off, &q, &x);
    dx = graph_grad_like(&g, &x);
    linear_backward(&g, &q, &dx, &tdy, &x);
    cmd_submit(&cmd);
    cmd_free(&cmd);
    double* want = malloc((size_t)(c.R * O) * sizeof *want);
    merged_forward(&c, want);
    double* got = download_d(&y);
    ASSERT_CLOSE("lora forward", got, want, c.R * O, TOL_F32);
    free(got);
    double s = c.s;
    c.s = 0;  // adapters off: the base Linear
    merged_forward(&c, want);
    c.s = s;
    got = download_d(&y_off);
    ASSERT_CLOSE("adapters off", got, want, c.R * O, TOL_F32);
    free(got);

    double *dA = malloc(sizeof(double) * (size_t)(K * I)), *dB = malloc(sizeof(double) * (size_t)(O * K));
    double* wdx = malloc(sizeof(double) * (size_t)(c.R * I));
    lowrank_backward(&c, dy, dA, dB, wdx);
    expect_adapter_grads("lora", &ls, &dx, dA, dB, wdx, &c);
    ASSERT_NO_VALIDATION_MESSAGES();
    free(want), free(dA), free(dB), free(wdx), free(dy);
    free(c.x), free(c.W), free(c.b), free(c.A), free(c.B);
    arena_free(&act), arena_free(&tmp), arena_free(&grad);
    lora_set_free(&ls);
    param_store_free(&base);
}

// PEFT init: A uniform in +-1/sqrt(in) (kaiming_uniform with a = sqrt(5)), B zero.
Test(lora, init_as_peft, GPU_TEST) {
    require_gpu();
    ParamStore base;
    param_store_init(&base, &tgpu);
    Linear l;
    linear_init(&l, &base, "attn1.to_v", 64, 9, false);
    param_store_alloc(&base, false, false, false);
    LoraSet ls;
    char err[512];
    cr_assert_eq(lora_set_create(&ls, &tgpu, &base, 4, 4, "to_v", err, sizeof err), 0, "%s", err);
    param_store_alloc(&ls.ps, false, false, false);
    lora_set_init(&ls, 5);
    float a[4 * 64], b[9 * 4];
    param_download(&ls.ps, ls.ad[0].a, a), param_download(&ls.ps, ls.ad[0].b, b);
    double most = 0;
    for (int i = 0; i < 4 * 64; i++) most = fabs(a[i]) > most ? fabs(a[i]) : most;
    cr_assert(most <= 1 / 8.0 && most > 0.1, "max |A| %g, bound 1/8", most);
    for (int i = 0; i < 36; i++) cr_assert_eq(b[i], 0.0f);
    lora_set_free(&ls);
    cr_assert_neq(lora_set_create(&ls, &tgpu, &base, 4, 4, "to_q", err, sizeof err), 0);
    cr_assert(strstr(err, "to_q"), "%s", err);
    ASSERT_NO_VALIDATION_MESSAGES();
    param_store_free(&base);
}

// ---------------------------------------------------------------------------
// Files

static char* slurp(const char* path, size_t* n) {
    char err[256];
    char* s = read_file(path, n, err, sizeof err);
    cr_assert(s, "%s", err);
    return s;
}

static const char* const MODULES[] = {"down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q",
                                      "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_out.0",
                                      "mid_block.attentions.0.transformer_blocks.0.attn2.to_k"};

static void files_base(ParamStore* base, Linear* l) {
    param_store_init(base, &tgpu);
    linear_init(&l[0], base, MODULES[0], 6, 6, false);
    linear_init(&l[1], base, MODULES[1], 6, 6, true);
    linear_init(&l[2], base, MODULES[2], 5, 6, false);
    param_store_alloc(base, false, false, false);
}

Test(lora, peft_kohya_peft_bit_identical, GPU_TEST) {
    require_gpu();
    ParamStore base;
    Linear l[3];
    files_base(&base, l);
    LoraSet s1, s2, s3;
    char err[512], dir[64], p1[256], pk[256], p3[256];
    temp_dir(dir, "lora");
    snprintf(p1, sizeof p1, "%s/peft.safetensors", dir);
    snprintf(pk, sizeof pk, "%s/kohya.safetensors", dir);
    snprintf(p3, sizeof p3, "%s/peft2.safetensors", dir);
    cr_assert_eq(lora_set_create(&s1, &tgpu, &base, 2, 3.5f, "to_q, to_out.0,to_k", err, sizeof err), 0, "%s", err);
    param_store_alloc(&s1.ps, false, false, false);
    param_store_init_random(&s1.ps, 9);  // B random too, so every value is checked
    cr_assert_eq(lora_save(&s1, SLOT_VALUE, LORA_FORMAT_PEFT, p1, err, sizeof err), 0, "%s", err);
    cr_assert_eq(lora_load(&s2, &tgpu, &base, LORA_UNET, p1, 1, err, sizeof err), 0, "%s", err);
    cr_assert_eq(s2.n, 3);
    for (int i = 0; i < 3; i++) cr_assert(s2.ad[i].rank == 2 && s2.ad[i].alpha == 3.5f, "adapter %d", i);
    cr_assert_eq(lora_save(&s2, SLOT_VALUE, LORA_FORMAT_KOHYA, pk, err, sizeof err), 0, "%s", err);
    cr_assert_eq(lora_load(&s3, &tgpu, &base, LORA_UNET, pk, 1, err, sizeof err), 0, "%s", err);
    cr_assert_eq(lora_save(&s3, SLOT_VALUE, LORA_FORMAT_PEFT, p3, err, sizeof err), 0, "%s", err);
    size_t n1, n3;
    char *a = slurp(p1, &n1), *b = slurp(p3, &n3);
    cr_assert(n1 == n3 && !memcmp(a, b, n1), "PEFT -> kohya -> PEFT changed the file");
    free(a), free(b);

    SafeTensors* st = st_open(p1, err, sizeof err);
    cr_assert(st, "%s", err);
    cr_assert(st_find(st, "unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_out.0.lora_B.weight"));
    cr_assert_eq(st_find(st, "unet.mid_block.attentions.0.transformer_blocks.0.attn2.to_k.lora_A.weight")->shape[1], 5);
    const char* meta = st_meta_get(st, "lora_adapter_metadata");
    cr_assert(meta && strstr(meta, "\"unet.lora_alpha\":\t3.5") && strstr(meta, "\"unet.r\":\t2"), "%s", meta);
    st_close(st);
    st = st_open(pk, err, sizeof err);
    cr_assert(st, "%s", err);
    const StTensor* al = st_find(st, "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_out_0.alpha");
    cr_assert(al && al->ndim == 0);
    cr_assert(st_find(st, "lora_unet_mid_block_attentions_0_transformer_blocks_0_attn2_to_k.lora_up.weight"));
    st_close(st);

    // Older diffusers attention-processor keys load into the same adapters (alpha = rank).
    StWriter w;
    st_writer_init(&w, ST_F32);
    float* host[4];
    const char* keys[4] = {"unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.processor.to_q_lora.down.weight",
                           "unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.processor.to_q_lora.up.weight",
                           "down_blocks.0.attentions.0.transformer_blocks.0.attn1.processor.to_out_lora.down.weight",
                           "down_blocks.0.attentions.0.transformer_blocks.0.attn1.processor.to_out_lora.up.weight"};
    int idx[4] = {s1.ad[0].a, s1.ad[0].b, s1.ad[1].a, s1.ad[1].b};
    for (int i = 0; i < 4; i++) {
        host[i] = malloc((size_t)param_numel(&s1.ps, idx[i]) * sizeof(float));
        param_download(&s1.ps, idx[i], host[i]);
        st_writer_add(&w, keys[i], 2, s1.ps.e[idx[i]].shape, host[i]);
    }
    char po[256];
    snprintf(po, sizeof po, "%s/old.safetensors", dir);
    cr_assert_eq(st_writer_write(&w, po, err, sizeof err), 0, "%s", err);
    st_writer_free(&w);
    LoraSet s4;
    cr_assert_eq(lora_load(&s4, &tgpu, &base, LORA_UNET, po, 1, err, sizeof err), 0, "%s", err);
    cr_assert_eq(s4.n, 2);
    cr_assert_str_eq(s4.ad[1].module, MODULES[1]);
    cr_assert(s4.ad[0].alpha == 2 && s4.ad[0].rank == 2);
    for (int i = 0; i < 4; i++) {
        float* back = malloc((size_t)param_numel(&s1.ps, idx[i]) * sizeof(float));
        param_download(&s4.ps, i, back);  // s4: to_q A, B, to_out A, B in this order
        cr_assert(!memcmp(back, host[i], (size_t)param_numel(&s1.ps, idx[i]) * sizeof(float)), "%s", keys[i]);
        free(back), free(host[i]);
    }
    ASSERT_NO_VALIDATION_MESSAGES();
    lora_set_free(&s1), lora_set_free(&s2), lora_set_free(&s3), lora_set_free(&s4);
    param_store_free(&base);
    remove_temp_dir(dir);
}

// lora_merge: W + multiplier (alpha / r) B A, and the merged Linear equals the adapter Linear.
Test(lora, merge_folds_the_adapters, GPU_TEST) {
    require_gpu();
    ParamStore base;
    Linear l[3];
    files_base(&base, l);
    param_store_init_random(&base, 3);
    LoraSet s;
    char err[512];
    cr_assert_eq(lora_set_create(&s, &tgpu, &base, 3, 1.5f, "to_k", err, sizeof err), 0, "%s", err);
    param_store_alloc(&s.ps, false, false, false);
    param_store_init_random(&s.ps, 4);
    s.multiplier = 0.5f;
    const LoraAdapter* a = &s.ad[0];
    int64_t I = a->in, O = a->out, K = a->rank;
    float w[30], A[15], B[18], merged[30];
    param_download(&base, a->base_w, w), param_download(&s.ps, a->a, A), param_download(&s.ps, a->b, B);
    lora_merge(&s, &base);
    param_download(&base, a->base_w, merged);
    double want[30], got[30];
    for (int64_t o = 0; o < O; o++)
        for (int64_t i = 0; i < I; i++) {
            double acc = w[o * I + i];
            for (int64_t k = 0; k < K; k++) acc += 0.5 * 1.5 / 3 * (double)B[o * K + k] * A[k * I + i];
            want[o * I + i] = acc, got[o * I + i] = merged[o * I + i];
        }
    ASSERT_CLOSE("merged weight", got, want, O * I, TOL_F32);
    lora_set_free(&s);
    param_store_free(&base);
}

// ---------------------------------------------------------------------------
// Convolutions: A [r, in, k, k] with the base's stride and padding, B [out, r, 1, 1].

typedef struct ConvCtx { double *x, *W, *b, *A, *B; Conv2dDims d; int K; double s; } ConvCtx;
// y = conv(x, W + s B A) + b: the merged kernel.
static void conv_merged_forward(void* p, double* y) {
    ConvCtx* c = p;
    int64_t O = c->d.K, I = (int64_t)c->d.C * c->d.KH * c->d.KW;
    double* wm = malloc((size_t)(O * I) * sizeof *wm);
    for (int64_t o = 0; o < O; o++)
        for (int64_t i = 0; i < I; i++) {
            wm[o * I + i] = c->W[o * I + i];
            for (int k = 0; k < c->K; k++) wm[o * I + i] += c->s * c->B[o * c->K + k] * c->A[k * I + i];
        }
    ref_conv2d_forward(y, c->x, wm, c->b, c->d);
    free(wm);
}

Test(lora, conv_matches_merged_reference, GPU_TEST) {
    require_gpu();
    const int K = 2;
    ParamStore base;
    param_store_init(&base, &tgpu);
    Conv2d conv;
    conv2d_init(&conv, &base, "down_blocks.0.resnets.0.conv1", 3, 5, 3, 2, 1);
    param_store_alloc(&base, false, false, false);
    LoraSet ls;
    char err[512];
    cr_assert_eq(lora_set_create(&ls, &tgpu, &base, K, 3, "conv1", err, sizeof err), 0, "%s", err);
    cr_assert_eq(ls.ps.e[0].ndim, 4);
    cr_assert_eq(ls.ps.e[1].shape[1], K);
    param_store_alloc(&ls.ps, true, false, false);

    ConvCtx c = {.d = {.N = 2, .C = 3, .H = 7, .W = 6, .K = 5, .KH = 3, .KW = 3, .stride = 2, .pad = 1}, .K = K,
                 .s = 3.0 / K};
    int OH = conv2d_out_h(c.d), OW = conv2d_out_w(c.d);
    int64_t nx = 2 * 3 * 7 * 6, ny = 2 * 5 * OH * OW, nw = 5 * 3 * 9, na = K * 3 * 9, nb = 5 * K;
    TestRng rng = rng_seed(72);
    c.x = rand_array(&rng, nx, -1, 1), c.W = rand_array(&rng, nw, -1, 1), c.b = rand_array(&rng, 5, -1, 1);
    c.A = rand_array(&rng, na, -1, 1), c.B = rand_array(&rng, nb, -1, 1);
    double* dy = rand_array(&rng, ny, -1, 1);
    upload_d(&base, conv.w, c.W), upload_d(&base, conv.b, c.b);
    upload_d(&ls.ps, ls.ad[0].a, c.A), upload_d(&ls.ps, ls.ad[0].b, c.B);
    Tensor x = t_upload(4, (int64_t[]){2, 3, 7, 6}, c.x), tdy = t_upload(4, (int64_t[]){2, 5, OH, OW}, dy);
    Tensor sink = arena_tensor1(&tarena, 2 * nw + 64);

    Arena act, tmp, grad;
    arena_init(&act, &tgpu, "act", 0, false), arena_init(&tmp, &tgpu, "tmp", 0, false);
    arena_init(&grad, &tgpu, "grad", 0, false);
    Cmd cmd;
    Graph g = {.cmd = &cmd, .ps = &base, .act = &act, .tmp = &tmp, .grad = &grad, .training = true, .lora = &ls,
               .frozen_sink = &sink};
    cmd_begin(&cmd, &tgpu);
    Tensor y = conv2d_forward(&g, &conv, &x);
    Tensor dx = graph_grad_like(&g, &x);
    conv2d_backward(&g, &conv, &dx, &tdy, &x);
    cmd_submit(&cmd);
    cmd_free(&cmd);

    double* want = malloc((size_t)ny * sizeof *want);
    conv_merged_forward(&c, want);
    double* got = t_download_new(&y);
    ASSERT_CLOSE("conv lora forward", got, want, ny, TOL_F32);
    free(got);

    // The reference backward: t = A * x, du = s dy, then the two convolutions' backwards, plus dx through W.
    Conv2dDims dd = c.d, du_d = {.N = 2, .C = K, .H = OH, .W = OW, .K = 5, .KH = 1, .KW = 1, .stride = 1};
    dd.K = K;
    double* t = calloc((size_t)(2 * K * OH * OW), sizeof *t);
    double* dt = calloc((size_t)(2 * K * OH * OW), sizeof *dt);
    double *du = malloc((size_t)ny * sizeof *du), *dA = calloc((size_t)na, sizeof *dA), *dB = calloc((size_t)nb, sizeof *dB);
    double *wdx = calloc((size_t)nx, sizeof *wdx), *dW = calloc((size_t)nw, sizeof *dW);
    ref_conv2d_forward(t, c.x, c.A, NULL, dd);
    for (int64_t i = 0; i < ny; i++) du[i] = c.s * dy[i];
    ref_conv2d_backward(dt, dB, NULL, du, t, c.B, du_d);
    ref_conv2d_backward(wdx, dA, NULL, dt, c.x, c.A, dd);
    ref_conv2d_backward(wdx, dW, NULL, dy, c.x, c.W, c.d);
    ASSERT_FD("conv lora dA", conv_merged_forward, &c, ny, dy, c.A, na, dA);
    ASSERT_FD("conv lora dB", conv_merged_forward, &c, ny, dy, c.B, nb, dB);
    ASSERT_FD("conv lora dx", conv_merged_forward, &c, ny, dy, c.x, nx, wdx);
    got = t_download_new(G(&ls.ps, ls.ad[0].a));
    ASSERT_CLOSE("conv lora dA (GPU)", got, dA, na, TOL_F32);
    free(got);
    got = t_download_new(G(&ls.ps, ls.ad[0].b));
    ASSERT_CLOSE("conv lora dB (GPU)", got, dB, nb, TOL_F32);
    free(got);
    got = t_download_new(&dx);
    ASSERT_CLOSE("conv lora dx (GPU)", got, wdx, nx, TOL_F32);
    free(got);
    ASSERT_NO_VALIDATION_MESSAGES();
    free(want), free(t), free(dt), free(du), free(dA), free(dB), free(wdx), free(dW), free(dy);
    free(c.x), free(c.W), free(c.b), free(c.A), free(c.B);
    arena_free(&act), arena_free(&tmp), arena_free(&grad);
    lora_set_free(&ls);
    param_store_free(&base);
}

// ---------------------------------------------------------------------------
// LoRA dropout (PEFT): the adapter reads xd = dropout(x) in a graph with
// lora_dropout set: y = x W^T + b + s (xd A^T) B^T, dA = dt^T xd, dB as without,
// dx = dy W + mask(dt A). The reference is the low-rank one fed xd, the mask from
// ref_dropout; a graph without lora_dropout (sampling, the reference) never drops.
Test(lora, linear_dropout_matches_reference, GPU_TEST) {
    require_gpu();
    const int64_t N = 3, T = 5, I = 9, O = 6, K = 2;
    const float p = 0.4f;
    const uint32_t key[4] = {0xC0FFEEu, 0xBEEFu, 6, 3};
    ParamStore base;
    param_store_init(&base, &tgpu);
    Linear q;
    linear_init(&q, &base, "down_blocks.0.attentions.0.transformer_blocks.0.ff.net.2", (int)I, (int)O, true);
    param_store_alloc(&base, false, false, false);
    LoraSet ls;
    char err[512];
    cr_assert_eq(lora_set_create(&ls, &tgpu, &base, (int)K, 3.0f, "ff.net.2", err, sizeof err), 0, "%s", err);
    param_store_alloc(&ls.ps, true, false, false);
    float keyf[4];
    memcpy(keyf, key, sizeof keyf);
    Tensor tkey = arena_tensor1(&tarena, 4);
    tensor_upload(&tgpu, &tkey, keyf);
    ls.dropout = p, ls.dropout_key = &tkey;

    MergedCtx c = {.R = N * T, .I = I, .O = O, .K = K, .s = 3.0 / 2};
    double* dy;
    Tensor x, tdy;
    merged_case_inputs(&c, 72, &base, &q, &ls, N, T, &x, &tdy, &dy);
    Arena act, tmp, grad;
    arena_init(&act, &tgpu, "act", 0, false), arena_init(&tmp, &tgpu, "tmp", 0, false);
    arena_init(&grad, &tgpu, "grad", 0, false);
    Cmd cmd;
    Graph g = {.cmd = &cmd, .ps = &base, .act = &act, .tmp = &tmp, .grad = &grad, .training = true, .lora = &ls,
               .lora_dropout = true};
    Graph nodrop = {.cmd = &cmd, .ps = &base, .act = &act, .tmp = &tmp, .grad = NULL, .training = false, .lora = &ls};
    cmd_begin(&cmd, &tgpu);
    Tensor y = linear_forward(&g, &q, &x), y_keep = linear_forward(&nodrop, &q, &x), dx = graph_grad_like(&g, &x);
    linear_backward(&g, &q, &dx, &tdy, &x);
    cmd_submit(&cmd);
    cmd_free(&cmd);

    // The reference: rows are x's first dimension (N), T * I elements each.
    double* xd = malloc((size_t)(c.R * I) * sizeof *xd);
    ref_dropout(xd, c.x, N, T * I, key, 0, p, false);
    int64_t dropped = 0;
    for (int64_t i = 0; i < c.R * I; i++) dropped += xd[i] == 0;
    cr_assert(dropped > 0 && dropped < c.R * I, "the mask drops some inputs (%lld of %lld)", (long long)dropped,
              (long long)(c.R * I));
    double* want = malloc((size_t)(c.R * O) * sizeof *want);
    double *x_full = c.x, *W = c.W;
    double* zero_w = calloc((size_t)(O * I), sizeof *zero_w);
    double* ad = malloc((size_t)(c.R * O) * sizeof *ad);
    c.x = xd, c.W = zero_w;  // the adapter's part on xd (bias below)
    merged_forward(&c, ad);
    c.x = x_full, c.W = W;
    double s = c.s;
    c.s = 0;  // the base part on x
    merged_forward(&c, want);
    c.s = s;
    for (int64_t r = 0; r < c.R; r++)
        for (int64_t o = 0; o < O; o++) want[r * O + o] += ad[r * O + o] - c.b[o];
    double* got = download_d(&y);
    ASSERT_CLOSE("lora dropout forward", got, want, c.R * O, TOL_F32);
    free(got);
    merged_forward(&c, want);
    got = download_d(&y_keep);
    ASSERT_CLOSE("no dropout outside a lora_dropout graph", got, want, c.R * O, TOL_F32);
    free(got);

    double *dA = malloc(sizeof(double) * (size_t)(K * I)), *dB = malloc(sizeof(double) * (size_t)(O * K));
    double* dx_ad = malloc(sizeof(double) * (size_t)(c.R * I));
    c.x = xd, c.W = zero_w;
    lowrank_backward(&c, dy, dA, dB, dx_ad);  // dx_ad = dt A
    c.x = x_full, c.W = W;
    double* dx_want = calloc((size_t)(c.R * I), sizeof *dx_want);
    for (int64_t r = 0; r < c.R; r++)
        for (int64_t i = 0; i < I; i++)
            for (int64_t o = 0; o < O; o++) dx_want[r * I + i] += dy[r * O + o] * W[o * I + i];
    ref_dropout(dx_want, dx_ad, N, T * I, key, 0, p, true);
    expect_adapter_grads("lora dropout", &ls, &dx, dA, dB, dx_want, &c);
    ASSERT_NO_VALIDATION_MESSAGES();
    free(xd), free(want), free(zero_w), free(ad), free(dA), free(dB), free(dx_ad), free(dx_want), free(dy);
    free(c.x), free(c.W), free(c.b), free(c.A), free(c.B);
    arena_free(&act), arena_free(&tmp), arena_free(&grad);
    lora_set_free(&ls);
    param_store_free(&base);
}

// A kohya file adapting the shipped base's text encoder only (layer 0's q_proj
// and mlp.fc1, rank 2, alpha 1): sampling applies it (the image changes; at
// --lora_scale 0 it is the base's, bit for bit), and export --merge_lora folds it
// into text_encoder/ (W + (alpha / r) B A) and leaves the UNet as it was.
Test(lora, text_encoder_file_in_sampling_and_export) {
    char dir[64], args[4096], out[16384], path[1024], err[512];
    temp_dir(dir, "lora_te");
    static const char* const MODULES[2] = {"text_model_encoder_layers_0_self_attn_q_proj", "text_model_encoder_layers_0_mlp_fc1"};
    static const int OUT[2] = {64, 256};
    float A[2][2 * 64], B[2][256 * 2], alpha = 1;
    for (int m = 0; m < 2; m++) {
        for (int i = 0; i < 2 * 64; i++) A[m][i] = 0.3f * sinf(0.7f * (float)i + (float)m);
        for (int i = 0; i < OUT[m] * 2; i++) B[m][i] = 0.3f * cosf(1.3f * (float)i - (float)m);
    }
    StWriter w;
    st_writer_init(&w, ST_F32);
    char names[6][128];
    for (int m = 0; m < 2; m++) {
        snprintf(names[3 * m], 128, "lora_te_%s.lora_down.weight", MODULES[m]);
        snprintf(names[3 * m + 1], 128, "lora_te_%s.lora_up.weight", MODULES[m]);
        snprintf(names[3 * m + 2], 128, "lora_te_%s.alpha", MODULES[m]);
        st_writer_add(&w, names[3 * m], 2, (int64_t[]){2, 64}, A[m]);
        st_writer_add(&w, names[3 * m + 1], 2, (int64_t[]){OUT[m], 2}, B[m]);
        st_writer_add(&w, names[3 * m + 2], 0, NULL, &alpha);
    }
    char te[512];
    snprintf(te, sizeof te, "%s/te.safetensors", dir);
    cr_assert_eq(st_writer_write(&w, te, err, sizeof err), 0, "%s", err);
    st_writer_free(&w);

    const char* src = getenv("VKPREF_SOURCE_DIR");
    char base[512];
    snprintf(base, sizeof base, "%s/assets/fmnist-base", src ? src : ".");
    const char* runs[3][2] = {{"", "base"}, {"--lora_scale 1", "te"}, {"--lora_scale 0", "zero"}};
    uint8_t* px[3];
    size_t bytes = 0;
    for (int r = 0; r < 3; r++) {
        snprintf(args, sizeof args, "sample --model %s %s%s %s --prompt shirt --seeds 3 --steps 2 --out %s/%s.png", base,
                 r ? "--lora " : "", r ? te : "", runs[r][0], dir, runs[r][1]);
        cr_assert_eq(run_cli(args, out, sizeof out), 0, "%s", out);
        snprintf(path, sizeof path, "%s/%s.png", dir, runs[r][1]);
        int iw, ih, ic;
        px[r] = image_load_u8(path, 0, 0, &iw, &ih, &ic, err, sizeof err);
        cr_assert_not_null(px[r], "%s", err);
        if (r) cr_assert_eq((size_t)iw * ih * ic, bytes, "grids of %dx%dx%d and %zu bytes", iw, ih, ic, bytes);
        bytes = (size_t)iw * ih * ic;
    }
    cr_assert(memcmp(px[0], px[1], bytes) != 0, "the text-encoder adapters changed nothing");
    cr_assert(memcmp(px[0], px[2], bytes) == 0, "at --lora_scale 0 the image is not the base's");
    for (int r = 0; r < 3; r++) free(px[r]);

    snprintf(args, sizeof args, "export --model %s --merge_lora %s --f16 false --out %s/merged", base, te, dir);
    cr_assert_eq(run_cli(args, out, sizeof out), 0, "%s", out);
    static const char* const WEIGHTS[2] = {"text_model.encoder.layers.0.self_attn.q_proj.weight",
                                           "text_model.encoder.layers.0.mlp.fc1.weight"};
    snprintf(path, sizeof path, "%s/text_encoder/model.safetensors", base);
    char mpath[1024];
    snprintf(mpath, sizeof mpath, "%s/merged/text_encoder/model.safetensors", dir);
    SafeTensors *s0 = st_open(path, err, sizeof err), *sm = st_open(mpath, err, sizeof err);
    cr_assert(s0 && sm, "%s", err);
    for (int m = 0; m < 2; m++) {
        const StTensor *t0 = st_find(s0, WEIGHTS[m]), *tm = st_find(sm, WEIGHTS[m]);
        cr_assert(t0 && tm && t0->numel == OUT[m] * 64, "%s", WEIGHTS[m]);
        float *v0 = malloc((size_t)t0->numel * sizeof *v0), *vm = malloc((size_t)t0->numel * sizeof *vm);
        st_read_f32(s0, t0, v0), st_read_f32(sm, tm, vm);
        for (int o = 0; o < OUT[m]; o++)
            for (int i = 0; i < 64; i++) {
                double want = v0[o * 64 + i];
                for (int k = 0; k < 2; k++) want += 0.5 * B[m][o * 2 + k] * A[m][k * 64 + i];
                cr_assert(fabs(vm[o * 64 + i] - want) < 1e-5, "%s [%d, %d]: %g, want %g", WEIGHTS[m], o, i,
                          vm[o * 64 + i], want);
            }
        free(v0), free(vm);
    }
    st_close(s0), st_close(sm);
    // The UNet is untouched (its weights as the base's, as F32).
    snprintf(path, sizeof path, "%s/unet/diffusion_pytorch_model.safetensors", base);
    snprintf(mpath, sizeof mpath, "%s/merged/unet/diffusion_pytorch_model.safetensors", dir);
    s0 = st_open(path, err, sizeof err), sm = st_open(mpath, err, sizeof err);
    cr_assert(s0 && sm, "%s", err);
    for (int i = 0; i < st_count(s0); i++) {
        const StTensor *t0 = st_tensor_at(s0, i), *tm = st_find(sm, t0->name);
        cr_assert(tm && tm->numel == t0->numel, "%s", t0->name);
        float *v0 = malloc((size_t)t0->numel * sizeof *v0), *vm = malloc((size_t)t0->numel * sizeof *vm);
        st_read_f32(s0, t0, v0), st_read_f32(sm, tm, vm);
        cr_assert(memcmp(v0, vm, (size_t)t0->numel * sizeof *v0) == 0, "%s changed", t0->name);
        free(v0), free(vm);
    }
    st_close(s0), st_close(sm);
    remove_temp_dir(dir);
}
