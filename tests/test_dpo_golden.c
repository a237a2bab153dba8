// test_dpo_golden.c: one Diffusion-DPO micro-batch, and one DSPO micro-batch, of the recorded training step
// (text encoder, frozen reference UNet, policy UNet, per-row MSEs, op_objective's
// coefficients, backward) against PyTorch golden data in float64
// (tools/make_golden.py, tests/data/golden/tiny_dpo): 3 pairs on the `tiny` UNet,
// rows [winners; losers], the policy differing from the frozen reference in every
// bias and norm scale, beta 40 so every z is away from 0 and from saturation.
// The accumulate recording is replayed once: the gradients stay in the policy
// store's gradient buffers (update would consume them in AdamW and zero them).
//
// Tolerance: TOL_MODEL (test_util.h) for the gradients (what the plain UNet
// golden test reaches); the per-row errors are fp32 sums over 64 elements after
// ~40 layers, checked to 1e-5 relative; z, loss and coefficients magnify their
// errors by beta/2 = 20 (z = -beta/2 ((e_w - e_l) - (r_w - r_l))): 1e-4 relative.
// DSPO (tools/make_golden.py, tests/data/golden/tiny_dspo): the same batch, its loss
// written elementwise in PyTorch, so the gradients check the step's second backward
// term (the residual against the reference's prediction) and q.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/weights.h"
#include "train/step.h"
#include "test_util.h"

#define DPO_TEXT_LEN 8

static void golden_path(char* out, size_t len, const char* rel) {
    snprintf(out, len, "%s/golden/%s", VKPREF_TEST_DATA, rel);
}

// The golden scalar or vector `name`, checked against got[0..n) with relative tolerance rtol.
static void expect_values(const SafeTensors* st, const char* name, const double* got, int64_t n, double rtol) {
    int64_t m;
    double* want = golden_values(st, name, &m);
    cr_assert_eq(m, n, "%s: golden has %lld values, expected %lld", name, (long long)m, (long long)n);
    for (int64_t i = 0; i < n; i++) {
        fprintf(stderr, "%s[%lld]: %.9g (PyTorch %.9g, rel err %.2g)\n", name, (long long)i, got[i], want[i],
                fabs(got[i] - want[i]) / fabs(want[i]));
        cr_assert(fabs(got[i] - want[i]) <= rtol * fabs(want[i]), "%s[%lld]: %.9g, PyTorch %.9g", name, (long long)i,
                  got[i], want[i]);
    }
    free(want);
}

// Copies golden tensor `name` (any dtype st_read_f32 reads) into float dst of n values.
static void golden_floats(const SafeTensors* st, const char* name, float* dst, int64_t n) {
    const StTensor* t = st_find(st, name);
    cr_assert(t, "golden file lacks %s", name);
    cr_assert_eq(t->numel, n, "%s: %lld values, the step takes %lld", name, (long long)t->numel, (long long)n);
    st_read_f32(st, t, dst);
}

// Runs the golden micro-batch tests/data/golden/<name> with objective obj and checks
// the per-row errors, the loss and every policy gradient; dpo also z and coef, dspo q.
static void pair_golden(const char* name, Objective obj) {
    char path[1024], err[512];
    UNetConfig ucfg;
    ClipConfig ccfg;
    golden_path(path, sizeof path, "tiny/unet/config.json");
    cr_assert_eq(unet_config_load(&ucfg, path, err, sizeof err), 0, "%s", err);
    golden_path(path, sizeof path, "clip_tiny/text_encoder/config.json");
    cr_assert_eq(clip_config_load(&ccfg, path, err, sizeof err), 0, "%s", err);
    ParamStore ups, ref, tps;
    param_store_init(&ups, &tgpu), param_store_init(&ref, &tgpu), param_store_init(&tps, &tgpu);
    UNet u, ru;
    ClipTextModel m;
    unet_init(&u, &ucfg, &ups), unet_init(&ru, &ucfg, &ref), clip_init(&m, &ccfg, &tps);
    param_store_alloc(&ups, true, true, false);  // gradients (zeroed) + AdamW moments (the update recording's)
    param_store_alloc(&ref, false, false, false), param_store_alloc(&tps, false, false, false);
    golden_path(path, sizeof path, "tiny/unet/diffusion_pytorch_model.safetensors");
    cr_assert_eq(weights_load(&ref, path, NULL, err, sizeof err), 0, "%s", err);
    cr_assert_eq(weights_load(&ups, path, NULL, err, sizeof err), 0, "%s", err);
    golden_path(path, sizeof path, "clip_tiny/text_encoder/model.safetensors");
    cr_assert_eq(weights_load(&tps, path, NULL, err, sizeof err), 0, "%s", err);

    char rel[64];
    snprintf(rel, sizeof rel, "%s/golden.safetensors", name);
    golden_path(path, sizeof path, rel);
    SafeTensors* st = golden_open(path);
    // The policy: the reference's weights with its own biases and norm scales ("policy.<name>").
    int perturbed = 0, in_file = 0;
    for (int i = 0; i < ups.n; i++) {
        char name[2 * PARAM_NAME_MAX];
        snprintf(name, sizeof name, "policy.%s", ups.e[i].name);
        if (!st_find(st, name)) continue;
        float* h = malloc((size_t)param_numel(&ups, i) * sizeof *h);
        cr_assert_eq(st_load_f32(st, name, ups.e[i].ndim, ups.e[i].shape, h, err, sizeof err), 0, "%s", err);
        param_upload(&ups, i, h);
        free(h);
        perturbed++;
    }
    for (int i = 0; i < st_count(st); i++) in_file += strncmp(st_tensor_at(st, i)->name, "policy.", 7) == 0;
    cr_assert(perturbed > 100 && perturbed == in_file, "%d policy tensors loaded, %d in the golden file", perturbed,
              in_file);

    int64_t one, rows;
    double* beta = golden_values(st, "beta", &one);
    free(golden_values(st, "timesteps", &rows));
    cr_assert(rows % 2 == 0 && rows <= 64, "%lld rows: not [winners; losers] of at most 32 pairs", (long long)rows);
    int pairs = (int)rows / 2;
    ObjectiveHyper h = objective_hyper_default();
    *objective_hyper_field(&h, obj == OBJ_DSPO ? OBJ_HYPER_BETA_DSPO : OBJ_HYPER_BETA_DPO) = (float)beta[0];
    free(beta);
    TrainStepConfig cfg = {.batch = (int)rows, .text_len = DPO_TEXT_LEN, .train_text_encoder = false,
                           .max_grad_norm = 1.0f,
                           .adam = {.beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.01f},
                           .objective = obj, .hyper = h, .coef_scale = 1, .ref_ps = &ref};
    TrainStep s;
    train_step_init(&s, &tgpu, &u, &ups, &m, &tps, cfg);
    golden_floats(st, "x_t", step_ptr(&s.x_t), tensor_numel(&s.x_t));
    golden_floats(st, "target", step_ptr(&s.target), tensor_numel(&s.target));
    golden_floats(st, "timesteps", step_ptr(&s.timesteps), rows);
    const StTensor* ti = st_find(st, "ids");
    cr_assert(ti && ti->numel == rows * DPO_TEXT_LEN, "golden ids");
    const int64_t* ids64 = st_data(st, ti);
    uint32_t* ids = (uint32_t*)step_ptr(&s.ids);
    for (int64_t i = 0; i < ti->numel; i++) ids[i] = (uint32_t)ids64[i];

    cmd_submit(&s.accumulate);

    double e[64] = {0}, r[64] = {0}, coef[64] = {0}, z[32] = {0}, met[OBJ_METRICS_COUNT] = {0};
    t_download(&s.mse, e), t_download(&s.mse_ref, r), t_download(&s.coef, coef), t_download(&s.metrics, met);
    expect_values(st, "mse", e, rows, 1e-5);
    expect_values(st, "mse_ref", r, rows, 1e-5);
    expect_values(st, "loss", &met[OBJ_METRIC_LOSS], 1, 1e-4);
    if (obj == OBJ_DSPO) {
        double q[64] = {0};
        t_download(&s.ref_dist, q);
        expect_values(st, "q", q, rows, 1e-4);  // a difference of two close predictions: 1e-4
    } else {
        for (int i = 0; i < pairs; i++) z[i] = -0.5 * h.beta_dpo * ((e[i] - e[pairs + i]) - (r[i] - r[pairs + i]));
        expect_values(st, "z", z, pairs, 1e-4);  // from the step's per-row errors: the row order and the sign
        expect_values(st, "coef", coef, rows, 1e-4);
        expect_values(st, "implicit_acc", &met[OBJ_METRIC_IMPLICIT_ACC], 1, 0);
        int64_t np;
        double *zw = golden_values(st, "z", &np), margin = 0;
        for (int i = 0; i < pairs; i++) margin += zw[i] / pairs;
        free(zw);
        cr_assert(fabs(met[OBJ_METRIC_REWARD_MARGIN] - margin) <= 1e-4 * fabs(margin),
                  "reward margin %.9g, PyTorch mean z %.9g", met[OBJ_METRIC_REWARD_MARGIN], margin);
    }
    for (int i = 0; i < ups.n; i++) {
        char gname[256];
        snprintf(gname, sizeof gname, "grad.%s", ups.e[i].name);
        expect_golden_tensor(st, gname, &ups.e[i].grad, gname, TOL_MODEL);
    }
    train_step_free(&s);
    st_close(st);
    param_store_free(&ups), param_store_free(&ref), param_store_free(&tps);
}

Test(dpo_golden, tiny_unet_step, GPU_TEST, .timeout = 300) {
    require_gpu();
    pair_golden("tiny_dpo", OBJ_DPO);
    ASSERT_NO_VALIDATION_MESSAGES();
}

Test(dpo_golden, tiny_unet_dspo_step, GPU_TEST, .timeout = 300) {
    require_gpu();
    pair_golden("tiny_dspo", OBJ_DSPO);
    ASSERT_NO_VALIDATION_MESSAGES();
}
