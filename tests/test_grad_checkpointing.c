// test_grad_checkpointing.c: unet_set_gradient_checkpointing. With it, the
// output, every parameter gradient and dL/d encoder_hidden_states must equal the
// run without it bit for bit (the backward records each unit's forward again
// with the same ops on the same inputs), still match PyTorch on the golden tiny
// model, and the activations (act plus the checkpointing scratch, high-water
// marks) must take less device memory.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "io/safetensors.h"
#include "model/unet.h"
#include "model/weights.h"
#include "test_util.h"

typedef struct Model {
    UNetConfig cfg;
    ParamStore ps;
    UNet u;
    Tensor x, ts, ehs, target;
} Model;

// Host copies and measurements of one forward + backward.
typedef struct Run {
    float *out, *grads, *dehs;  // grads: every parameter gradient, in entry order
    int64_t nout, ngrads, ndehs;
    VkDeviceSize act_peak, scratch_peak, grad_peak;
    int ndispatch;
    double seconds;
} Run;

static float* download_new(const Tensor* t) {
    float* h = malloc((size_t)tensor_numel(t) * sizeof *h);
    tensor_download(&tgpu, t, h);
    return h;
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

// loss = mean (out - target)^2 (as test_model_golden), from zeroed parameter
// gradients. own_scratch: checkpointing gets its own arena (Graph.recompute)
// instead of Graph.tmp.
static Run run(Model* m, bool ckpt, bool own_scratch) {
    ParamStore* ps = &m->ps;
    int64_t N = m->x.shape[0];
    Arena act, tmp, grad, scratch;
    arena_init(&act, &tgpu, "act", 0, false), arena_init(&tmp, &tgpu, "tmp", 0, false);
    arena_init(&grad, &tgpu, "grad", 0, false), arena_init(&scratch, &tgpu, "recompute", 0, false);
    Tensor mse = arena_tensor1(&tarena, N), coef = arena_tensor1(&tarena, N);
    float* cf = malloc((size_t)N * sizeof *cf);
    for (int i = 0; i < N; i++) cf[i] = 1.0f / (float)N;
    tensor_upload(&tgpu, &coef, cf);
    free(cf);

    UNetActs* acts = calloc(1, sizeof *acts);
    unet_set_gradient_checkpointing(acts, ckpt);
    Cmd c;
    cmd_begin(&c, &tgpu);
    for (int k = 0; k < param_chunks(ps); k++) {
        Tensor gk = param_chunk(ps, &ps->grad, k);
        cmd_fill(&c, &gk, 0.0f);
    }
    Graph g = {.cmd = &c, .ps = ps, .act = &act, .tmp = &tmp, .grad = &grad, .training = true,
               .recompute = own_scratch ? &scratch : NULL};
    Tensor out = unet_forward(&g, &m->u, acts, &m->x, &m->ts, &m->ehs);
    op_mse_per_sample_forward(&c, &mse, &out, &m->target);
    Tensor dout = graph_grad_like(&g, &out), dehs = graph_grad_like(&g, &m->ehs);
    op_mse_per_sample_backward(&c, &dout, &coef, &out, &m->target);
    unet_backward(&g, &m->u, acts, &dout, &dehs);
    cmd_end(&c);
    free(acts);
    double t0 = now_s();
    cmd_submit(&c);
    Run r = {.seconds = now_s() - t0, .ndispatch = c.ndispatch, .act_peak = act.peak,
             .scratch_peak = tmp.peak + scratch.peak, .grad_peak = grad.peak};
    cmd_free(&c);

    r.out = download_new(&out), r.nout = tensor_numel(&out);
    r.dehs = download_new(&dehs), r.ndehs = tensor_numel(&dehs);
    r.ngrads = param_count(ps);
    r.grads = malloc((size_t)r.ngrads * sizeof *r.grads);
    int64_t off = 0;
    for (int i = 0; i < ps->n; off += param_numel(ps, i), i++) tensor_download(&tgpu, &ps->e[i].grad, r.grads + off);
    arena_free(&act), arena_free(&tmp), arena_free(&grad), arena_free(&scratch);
    return r;
}

static void run_free(Run* r) { free(r->out), free(r->grads), free(r->dehs); }

static void expect_identical(const Run* off, const Run* on) {
    cr_assert(!memcmp(off->out, on->out, (size_t)off->nout * sizeof(float)), "output differs with checkpointing");
    cr_assert(!memcmp(off->dehs, on->dehs, (size_t)off->ndehs * sizeof(float)),
              "grad.encoder_hidden_states differs with checkpointing");
    if (!memcmp(off->grads, on->grads, (size_t)off->ngrads * sizeof(float))) return;
    int64_t i = 0;
    while (!memcmp(&off->grads[i], &on->grads[i], sizeof(float))) i++;
    cr_assert_fail("parameter gradients differ with checkpointing, first at element %lld: %.9g without, %.9g with",
                   (long long)i, off->grads[i], on->grads[i]);
}

static void report(const char* name, const Run* off, const Run* on) {
    double kib = 1.0 / 1024, total_off = (double)(off->act_peak + off->scratch_peak + off->grad_peak),
           total_on = (double)(on->act_peak + on->scratch_peak + on->grad_peak);
    fprintf(stderr,
            "%s: high-water KiB without -> with checkpointing: act %.0f -> %.0f, scratch %.0f -> %.0f, "
            "activation grads %.0f -> %.0f, total %.0f -> %.0f (%.0f%%)\n"
            "%s: %d -> %d dispatches (+%.0f%%), %.3f s -> %.3f s\n",
            name, (double)off->act_peak * kib, (double)on->act_peak * kib, (double)off->scratch_peak * kib,
            (double)on->scratch_peak * kib, (double)off->grad_peak * kib, (double)on->grad_peak * kib,
            total_off * kib, total_on * kib, 100.0 * total_on / total_off, name, off->ndispatch, on->ndispatch,
            100.0 * (on->ndispatch - off->ndispatch) / off->ndispatch, off->seconds, on->seconds);
}

// Activations alone (act + scratch) and with their gradients must both shrink.
static void expect_smaller(const Run* off, const Run* on) {
    cr_assert_eq(off->scratch_peak, 0, "a training forward without checkpointing used the scratch");
    cr_assert_lt(on->act_peak + on->scratch_peak, off->act_peak);
    cr_assert_lt(on->act_peak + on->scratch_peak + on->grad_peak, off->act_peak + off->grad_peak);
}

// ---------------------------------------------------------------------------
// Golden tiny model: bit-identical, and the checkpointed gradients match PyTorch
// with test_model_golden's tolerance (there: why this tolerance, and the
// zero-in-exact-arithmetic gradients).

// Host floats against golden tensor `name` (test_util's expect_golden_values).
static void expect_golden(const SafeTensors* st, const char* name, const float* got, int64_t n) {
    double* g = malloc((size_t)n * sizeof *g);
    for (int64_t i = 0; i < n; i++) g[i] = got[i];
    expect_golden_values(st, name, g, n, name, TOL_MODEL);
    free(g);
}

Test(grad_checkpointing, golden_tiny_bit_identical, GPU_TEST, .timeout = 300) {
    require_gpu();
    char path[1024], err[512];
    Model m;
    snprintf(path, sizeof path, "%s/golden/tiny/unet/config.json", VKPREF_TEST_DATA);
    cr_assert_eq(unet_config_load(&m.cfg, path, err, sizeof err), 0, "%s", err);
    param_store_init(&m.ps, &tgpu);
    unet_init(&m.u, &m.cfg, &m.ps);
    param_store_alloc(&m.ps, true, false, false);
    snprintf(path, sizeof path, "%s/golden/tiny/unet/diffusion_pytorch_model.safetensors", VKPREF_TEST_DATA);
    cr_assert_eq(weights_load(&m.ps, path, NULL, err, sizeof err), 0, "%s", err);
    snprintf(path, sizeof path, "%s/golden/tiny/golden.safetensors", VKPREF_TEST_DATA);
    SafeTensors* st = st_open(path, err, sizeof err);
    cr_assert(st, "%s", err);
    m.x = golden_upload(st, "x_t"), m.ts = golden_upload(st, "timesteps");
    m.ehs = golden_upload(st, "encoder_hidden_states"), m.target = golden_upload(st, "noise");

    Run off = run(&m, false, false), on = run(&m, true, false);
    report("tiny", &off, &on);
    expect_identical(&off, &on);
    // identical bits: checking one run against PyTorch checks both
    expect_golden(st, "output", on.out, on.nout);
    expect_golden(st, "grad.encoder_hidden_states", on.dehs, on.ndehs);
    int64_t off_i = 0;
    for (int i = 0; i < m.ps.n; off_i += param_numel(&m.ps, i), i++) {
        char name[256];
        snprintf(name, sizeof name, "grad.%s", m.ps.e[i].name);
        expect_golden(st, name, on.grads + off_i, param_numel(&m.ps, i));
    }
    expect_smaller(&off, &on);
    run_free(&off), run_free(&on);
    st_close(st);
    param_store_free(&m.ps);
    ASSERT_NO_VALIDATION_MESSAGES();
}

// ---------------------------------------------------------------------------
// A deeper model (three blocks, two layers each, attention in both kinds of
// block, linear projections, batch 2) with random weights and its own scratch
// arena: bit-identical again, and the memory saving at a less toy-like shape.

static const char* DEEP_CONFIG =
    "{\"sample_size\": 16, \"in_channels\": 4, \"out_channels\": 4, \"block_out_channels\": [32, 64, 64],"
    " \"layers_per_block\": 2,"
    " \"down_block_types\": [\"CrossAttnDownBlock2D\", \"CrossAttnDownBlock2D\", \"DownBlock2D\"],"
    " \"up_block_types\": [\"UpBlock2D\", \"CrossAttnUpBlock2D\", \"CrossAttnUpBlock2D\"],"
    " \"cross_attention_dim\": 32, \"attention_head_dim\": 4, \"norm_num_groups\": 8,"
    " \"use_linear_projection\": true}";

static Tensor upload_random(TestRng* rng, int ndim, const int64_t* shape, double lo, double hi) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    double* h = rand_array(rng, n, lo, hi);
    Tensor t = t_upload(ndim, shape, h);
    free(h);
    return t;
}

Test(grad_checkpointing, deep_random_bit_identical_and_smaller, GPU_TEST, .timeout = 300) {
    require_gpu();
    char err[512];
    Model m;
    cr_assert_eq(unet_config_parse(&m.cfg, DEEP_CONFIG, "deep", err, sizeof err), 0, "%s", err);
    param_store_init(&m.ps, &tgpu);
    unet_init(&m.u, &m.cfg, &m.ps);
    param_store_alloc(&m.ps, true, false, false);
    param_store_init_random(&m.ps, 7);
    TestRng rng = rng_seed(11);
    int64_t N = 2, S = m.cfg.sample_size, C = m.cfg.in_channels;
    m.x = upload_random(&rng, 4, (int64_t[]){N, C, S, S}, -1, 1);
    m.target = upload_random(&rng, 4, (int64_t[]){N, C, S, S}, -1, 1);
    m.ts = upload_random(&rng, 1, (int64_t[]){N}, 0, 1000);
    m.ehs = upload_random(&rng, 3, (int64_t[]){N, 5, m.cfg.cross_attention_dim}, -1, 1);

    // The first run also builds the pipelines: time the second.
    Run warm = run(&m, false, false), on = run(&m, true, true), off = run(&m, false, false);
    report("deep", &off, &on);
    expect_identical(&warm, &on);
    expect_identical(&off, &on);
    expect_smaller(&off, &on);
    run_free(&warm), run_free(&off), run_free(&on);
    param_store_free(&m.ps);
    ASSERT_NO_VALIDATION_MESSAGES();
}
