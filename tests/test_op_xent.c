// test_op_xent.c: softmax cross-entropy: reference backward vs finite differences
// (per-sample coefficients of both signs, an ignored row), shader forward and
// backward vs reference on odd shapes and unaligned slices, with gradients
// pre-filled (the += contract), a replay with coefficients rewritten between
// submits, logits too large for a naive exp, and bit-exact determinism.
#include <math.h>
#include <string.h>

#include "test_util.h"

typedef struct { const double* logits; const uint32_t* labels; int64_t N, K; } XentCtx;
static void xent_fwd(void* p, double* out) {
    XentCtx* c = p;
    ref_softmax_xent_forward(out, c->logits, c->labels, c->N, c->K);
}

// L = sum_n r[n] loss[n], so the backward's coefficients are r: different per
// row and negative for some (a DPO loser's sign). Row 3 is ignored (label K).
Test(op_xent, ref_matches_finite_differences) {
    TestRng rng = rng_seed(11);
    int64_t N = 5, K = 7;
    double r[] = {0.7, -1.3, 2.1, 0.9, -0.4};
    uint32_t labels[] = {0, 6, 3, 7, 2};
    double* logits = rand_array(&rng, N * K, -3, 3);
    double* d = calloc(N * K, sizeof *d);
    ref_softmax_xent_backward(d, r, logits, labels, N, K);
    XentCtx ctx = {logits, labels, N, K};
    ASSERT_FD("xent dlogits", xent_fwd, &ctx, N, r, logits, N * K, d);
    for (int64_t k = 0; k < K; k++) cr_assert_eq(d[3 * K + k], 0.0, "ignored row has a gradient");
    double loss[5];
    ref_softmax_xent_forward(loss, logits, labels, N, K);
    cr_assert_eq(loss[3], 0.0, "ignored row has a loss");
    free(logits), free(d);
}

typedef struct { int64_t N, K; double scale; } Shape;
static const Shape SHAPES[] = {
    {1, 10, 3},      // one row (a single judge image)
    {64, 10, 3},     // the classifier's training batch
    {13, 127, 3},    // odd rows and classes: one partial workgroup
    {300, 3, 3},     // several workgroups, a partial last one
    {6, 1000, 3},    // long rows: the fp32 sum over 1000 classes
    {9, 10, 80},     // logits of +-80: exp(80) overflows fp32 without the max subtraction
};

// data as a tensor `shift` floats past an aligned start (1 forces aligned-down views).
static Tensor upload_shifted(const double* data, int64_t n, int64_t shift, int ndim, const int64_t* shape) {
    int64_t total = n + shift;
    double* buf = calloc(total, sizeof *buf);
    memcpy(buf + shift, data, (size_t)n * sizeof *data);
    Tensor t = t_upload(1, &total, buf);
    free(buf);
    return tensor_reshape(tensor_slice(t, shift, n), ndim, shape);
}

static Tensor upload_labels(const uint32_t* labels, int64_t N, int64_t shift) {
    uint32_t* buf = calloc(N + shift, sizeof *buf);
    memcpy(buf + shift, labels, (size_t)N * sizeof *labels);
    Tensor t = arena_tensor1(&tarena, N + shift);
    tensor_upload_raw(&tgpu, &t, buf);
    free(buf);
    return tensor_slice(t, shift, N);
}

static void check_xent_shape(const Shape* s, int64_t shift, uint64_t seed) {
    int64_t N = s->N, K = s->K, n = N * K;
    TestRng rng = rng_seed(seed);
    double* logits = rand_array(&rng, n, -s->scale, s->scale);
    double* d0 = rand_array(&rng, n, -1, 1);  // backward accumulates into existing values
    double* coef = rand_array(&rng, N, -3, 3);
    uint32_t* labels = malloc((size_t)N * sizeof *labels);
    for (int64_t i = 0; i < N; i++) labels[i] = (uint32_t)(rng_uniform(&rng, 0, 1) * (double)K) % (uint32_t)K;
    if (N > 2) labels[N / 2] = (uint32_t)K + 5;  // an ignored row
    coef[0] = -fabs(coef[0]) - 0.5;               // at least one negative coefficient
    Tensor tl = upload_shifted(logits, n, shift, 2, (int64_t[]){N, K});
    Tensor td = upload_shifted(d0, n, shift, 2, (int64_t[]){N, K});
    Tensor tc = upload_shifted(coef, N, shift, 1, &N);
    Tensor ty = upload_labels(labels, N, shift);
    Tensor tloss = tensor_slice(arena_tensor1(&tarena, N + shift), shift, N);

    Cmd c;
    cmd_begin(&c, &tgpu);
    op_softmax_xent_forward(&c, &tloss, &tl, &ty);
    op_softmax_xent_backward(&c, &td, &tc, &tl, &ty);
    cmd_end(&c);
    cmd_submit(&c);

    double* loss_ref = calloc(N, sizeof *loss_ref);
    ref_softmax_xent_forward(loss_ref, logits, labels, N, K);
    double* d_ref = copy_array(d0, n);
    ref_softmax_xent_backward(d_ref, coef, logits, labels, N, K);
    double* loss = t_download_new(&tloss);
    double* d = t_download_new(&td);
    char label[96];
    snprintf(label, sizeof label, "xent fwd %lldx%lld scale %g shift %lld", (long long)N, (long long)K, s->scale,
             (long long)shift);
    ASSERT_CLOSE(label, loss, loss_ref, N, TOL_F32);
    snprintf(label, sizeof label, "xent bwd %lldx%lld scale %g shift %lld", (long long)N, (long long)K, s->scale,
             (long long)shift);
    ASSERT_CLOSE(label, d, d_ref, n, TOL_F32);

    // The coefficients live on the GPU: rewrite them and replay the same recording.
    for (int64_t k = 0; k < N; k++) coef[k] = -2.0 * coef[k] + 0.25;
    float* cf = malloc((size_t)N * sizeof *cf);
    for (int64_t k = 0; k < N; k++) cf[k] = (float)coef[k];
    tensor_upload(&tgpu, &tc, cf);
    free(cf);
    cmd_submit(&c);
    cmd_free(&c);
    ref_softmax_xent_backward(d_ref, coef, logits, labels, N, K);
    t_download(&td, d);
    snprintf(label, sizeof label, "xent bwd replay %lldx%lld", (long long)N, (long long)K);
    ASSERT_CLOSE(label, d, d_ref, n, TOL_F32);

    free(logits), free(d0), free(coef), free(labels), free(loss_ref), free(d_ref), free(loss), free(d);
}

Test(op_xent, gpu_matches_ref, GPU_TEST) {
    require_gpu();
    for (size_t k = 0; k < sizeof SHAPES / sizeof *SHAPES; k++)
        for (int64_t shift = 0; shift < 2; shift++) check_xent_shape(&SHAPES[k], shift, 60 + 2 * k + (uint64_t)shift);
    ASSERT_NO_VALIDATION_MESSAGES();
}

// Same inputs, same bits: two submits of one recording, and a second recording.
Test(op_xent, gpu_is_deterministic, GPU_TEST) {
    require_gpu();
    int64_t N = 37, K = 10;
    TestRng rng = rng_seed(5);
    double* logits = rand_array(&rng, N * K, -4, 4);
    uint32_t labels[37];
    for (int i = 0; i < N; i++) labels[i] = (uint32_t)(i * 7 % K);
    Tensor tl = t_upload(2, (int64_t[]){N, K}, logits), ty = upload_labels(labels, N, 0);
    Tensor tloss = arena_tensor1(&tarena, N), tc = arena_tensor1(&tarena, N);
    Tensor td = arena_tensor2(&tarena, N, K);
    float ones[37], got[2][37], grad[2][370];
    for (int i = 0; i < N; i++) ones[i] = 1.0f;
    tensor_upload(&tgpu, &tc, ones);
    for (int rep = 0; rep < 2; rep++) {
        Cmd c;
        RUN_CMD(c, (cmd_fill(&c, &td, 0.0f), op_softmax_xent_forward(&c, &tloss, &tl, &ty),
                    op_softmax_xent_backward(&c, &td, &tc, &tl, &ty)));
        tensor_download(&tgpu, &tloss, got[rep]);
        tensor_download(&tgpu, &td, grad[rep]);
    }
    cr_assert(!memcmp(got[0], got[1], sizeof got[0]), "loss differs between two runs");
    cr_assert(!memcmp(grad[0], grad[1], sizeof grad[0]), "dlogits differ between two runs");
    free(logits);
    ASSERT_NO_VALIDATION_MESSAGES();
}
