// test_model_golden.c: the whole UNet2DConditionModel (two configs, forward
// output, loss and the gradient of EVERY parameter and of the text states) and
// the CLIPTextModel (last_hidden_state and every parameter gradient) against
// golden data from an independent PyTorch implementation (tools/make_golden.py).
//
// Tolerance: fp32 through ~40 layers accumulates rounding differently from
// PyTorch's (oneDNN conv, BLAS matmul); each tensor must reach NMSE <= 1e-8 and
// |got - want| <= 1e-3 |want| + 1e-4 max|want| element-wise.
#include <math.h>
#include <stdlib.h>

#include "io/safetensors.h"
#include "model/clip.h"
#include "model/unet.h"
#include "model/weights.h"
#include "test_util.h"

static void expect_tensor(const SafeTensors* st, const char* golden_name, const Tensor* got, const char* label) {
    expect_golden_tensor(st, golden_name, got, label, TOL_MODEL);
}

// The activation, temporary and gradient arenas of one recording.
typedef struct Arenas { Arena act, tmp, grad; } Arenas;
static void arenas_init(Arenas* a) {
    arena_init(&a->act, &tgpu, "act", 0, false), arena_init(&a->tmp, &tgpu, "tmp", 0, false);
    arena_init(&a->grad, &tgpu, "grad", 0, false);
}
static void arenas_free(Arenas* a) { arena_free(&a->act), arena_free(&a->tmp), arena_free(&a->grad); }
static Graph graph_of(Cmd* c, ParamStore* ps, Arenas* a) {
    return (Graph){.cmd = c, .ps = ps, .act = &a->act, .tmp = &a->tmp, .grad = &a->grad, .training = true};
}

// Every parameter's gradient against grad.<name> in the golden file, then cleanup.
static void expect_all_grads_and_close(SafeTensors* st, ParamStore* ps, Arenas* ar) {
    for (int i = 0; i < ps->n; i++) {
        char gname[256];
        snprintf(gname, sizeof gname, "grad.%s", ps->e[i].name);
        expect_tensor(st, gname, &ps->e[i].grad, gname);
    }
    st_close(st);
    arenas_free(ar);
    param_store_free(ps);
    ASSERT_NO_VALIDATION_MESSAGES();
}

static void check_unet(const char* name) {
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/golden/%s/unet/config.json", VKPREF_TEST_DATA, name);
    UNetConfig cfg;
    cr_assert_eq(unet_config_load(&cfg, path, err, sizeof err), 0, "%s", err);
    ParamStore ps;
    param_store_init(&ps, &tgpu);
    UNet u;
    unet_init(&u, &cfg, &ps);
    param_store_alloc(&ps, true, false, false);
    snprintf(path, sizeof path, "%s/golden/%s/unet/diffusion_pytorch_model.safetensors", VKPREF_TEST_DATA, name);
    int unused = -1;
    cr_assert_eq(weights_load(&ps, path, &unused, err, sizeof err), 0, "%s", err);
    cr_assert_eq(unused, 0, "%d tensors in the diffusers file have no parameter here", unused);

    snprintf(path, sizeof path, "%s/golden/%s/golden.safetensors", VKPREF_TEST_DATA, name);
    SafeTensors* st = golden_open(path);
    Tensor x = golden_upload(st, "x_t"), ts = golden_upload(st, "timesteps");
    Tensor ehs = golden_upload(st, "encoder_hidden_states"), noise = golden_upload(st, "noise");
    int64_t N = x.shape[0];
    Arenas ar;
    arenas_init(&ar);
    Tensor mse = arena_tensor1(&tarena, N), coef = arena_tensor1(&tarena, N);
    // loss = mean over all elements = (1/N) sum_n mse[n]
    float* cf = malloc((size_t)N * sizeof *cf);
    for (int i = 0; i < N; i++) cf[i] = 1.0f / (float)N;
    tensor_upload(&tgpu, &coef, cf);
    free(cf);
    Cmd c;
    cmd_begin(&c, &tgpu);
    Graph g = graph_of(&c, &ps, &ar);
    UNetActs* acts = calloc(1, sizeof *acts);
    Tensor out = unet_forward(&g, &u, acts, &x, &ts, &ehs);
    op_mse_per_sample_forward(&c, &mse, &out, &noise);
    Tensor dout = graph_grad_like(&g, &out), dehs = graph_grad_like(&g, &ehs);
    op_mse_per_sample_backward(&c, &dout, &coef, &out, &noise);
    unet_backward(&g, &u, acts, &dout, &dehs);
    free(acts);
    cmd_submit(&c);
    fprintf(stderr, "%s: %d dispatches, %d barriers, %d segments\n", name, c.ndispatch, c.nbarrier, c.nseg);
    cmd_free(&c);

    expect_tensor(st, "output", &out, "output");
    double m[64], loss = 0;
    t_download(&mse, m);
    for (int i = 0; i < N; i++) loss += m[i] / N;
    int64_t one;
    double* want_loss = golden_values(st, "loss", &one);
    cr_assert(fabs(loss - want_loss[0]) <= 1e-5 * fabs(want_loss[0]), "loss %.9g, PyTorch %.9g", loss, want_loss[0]);
    free(want_loss);
    expect_tensor(st, "grad.encoder_hidden_states", &dehs, "grad.encoder_hidden_states");
    expect_all_grads_and_close(st, &ps, &ar);
}

Test(model_golden, unet_tiny, GPU_TEST, .timeout = 300) {
    require_gpu();
    check_unet("tiny");
}

Test(model_golden, unet_tiny_linear_projection, GPU_TEST, .timeout = 300) {
    require_gpu();
    check_unet("tiny_linear");
}

Test(model_golden, clip_text_model, GPU_TEST, .timeout = 300) {
    require_gpu();
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/golden/clip_tiny/text_encoder/config.json", VKPREF_TEST_DATA);
    ClipConfig cfg;
    cr_assert_eq(clip_config_load(&cfg, path, err, sizeof err), 0, "%s", err);
    ParamStore ps;
    param_store_init(&ps, &tgpu);
    ClipTextModel m;
    clip_init(&m, &cfg, &ps);
    param_store_alloc(&ps, true, false, false);
    snprintf(path, sizeof path, "%s/golden/clip_tiny/text_encoder/model.safetensors", VKPREF_TEST_DATA);
    cr_assert_eq(weights_load(&ps, path, NULL, err, sizeof err), 0, "%s", err);
    snprintf(path, sizeof path, "%s/golden/clip_tiny/golden.safetensors", VKPREF_TEST_DATA);
    SafeTensors* st = golden_open(path);
    const StTensor* ti = st_find(st, "ids");
    int N = (int)ti->shape[0], L = (int)ti->shape[1];
    const int64_t* ids64 = st_data(st, ti);
    uint32_t ids[256];
    for (int i = 0; i < N * L; i++) ids[i] = (uint32_t)ids64[i];
    Tensor tids = arena_tensor1(&tarena, (int64_t)N * L);
    tensor_upload_raw(&tgpu, &tids, ids);
    Tensor r = golden_upload(st, "r");
    Arenas ar;
    arenas_init(&ar);
    Cmd c;
    cmd_begin(&c, &tgpu);
    Graph g = graph_of(&c, &ps, &ar);
    ClipActs* acts = calloc(1, sizeof *acts);
    Tensor out = clip_forward(&g, &m, acts, &tids, N, L);
    clip_backward(&g, &m, acts, &r);  // loss = sum(r * out): dout = r
    free(acts);
    cmd_submit(&c);
    cmd_free(&c);
    expect_tensor(st, "last_hidden_state", &out, "last_hidden_state");
    expect_all_grads_and_close(st, &ps, &ar);
}
