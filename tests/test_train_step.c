// test_train_step.c: the recorded training step (text encoder + UNet forward,
// per-sample MSE, objective coefficients, backward, clip + AdamW + EMA)
// replayed many times: one submit per step, the loss falls when fitting a fixed
// batch, two runs from the same start are bit-identical (nothing random or racy
// inside a step), and a DPO step with a frozen reference starts at log 2 and
// learns its preference.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/weights.h"
#include "train/optimizer.h"
#include "train/step.h"
#include "test_util.h"

#define MAX_STEPS 40
#define ROWS 4

typedef struct Run {
    double loss[MAX_STEPS], acc[MAX_STEPS];
    double first_norm, first_coef;
    int submits_per_step;
} Run;

typedef struct Models {
    UNetConfig ucfg;
    ClipConfig ccfg;
    ParamStore ups, tps, ref;
    UNet u;
    ClipTextModel m;
} Models;

static void models_init(Models* md, bool train_text, bool with_ref) {
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/golden/tiny/unet/config.json", VKPREF_TEST_DATA);
    cr_assert_eq(unet_config_load(&md->ucfg, path, err, sizeof err), 0, "%s", err);
    snprintf(path, sizeof path, "%s/golden/clip_tiny/text_encoder/config.json", VKPREF_TEST_DATA);
    cr_assert_eq(clip_config_load(&md->ccfg, path, err, sizeof err), 0, "%s", err);
    param_store_init(&md->ups, &tgpu), param_store_init(&md->tps, &tgpu), param_store_init(&md->ref, &tgpu);
    unet_init(&md->u, &md->ucfg, &md->ups);
    clip_init(&md->m, &md->ccfg, &md->tps);
    param_store_alloc(&md->ups, true, true, true);
    param_store_alloc(&md->tps, train_text, train_text, false);
    param_store_init_random(&md->ups, 1), param_store_init_random(&md->tps, 2);
    if (with_ref) {  // the reference starts equal to the policy, as when fine-tuning a base model
        UNet ru;
        unet_init(&ru, &md->ucfg, &md->ref);
        param_store_alloc(&md->ref, false, false, false);
        param_store_init_random(&md->ref, 1);
    }
}

static void models_free(Models* md) {
    param_store_free(&md->ups), param_store_free(&md->tps), param_store_free(&md->ref);
}

// Fits one fixed batch of ROWS rows for `steps` steps with objective obj.
static Run fit_fixed_batch(Objective obj, int steps) {
    bool ref = objective_needs_reference(obj);
    Models md;
    models_init(&md, !ref, ref);
    ObjectiveHyper h = objective_hyper_default();
    h.beta_dpo = 50;  // the tiny model's errors move little per step: a small beta keeps sigma unsaturated
    TrainStepConfig cfg = {.batch = ROWS, .text_len = 8, .train_text_encoder = !ref, .max_grad_norm = 1.0f,
                           .adam = {.beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.01f}, .ema = true,
                           .objective = obj, .hyper = h, .coef_scale = 1, .ref_ps = ref ? &md.ref : NULL};
    TrainStep s;
    train_step_init(&s, &tgpu, &md.u, &md.ups, &md.m, &md.tps, cfg);
    TestRng rng = rng_seed(3);
    int64_t n = tensor_numel(&s.x_t), per_row = n / ROWS;
    float *x = step_ptr(&s.x_t), *tg = step_ptr(&s.target);
    for (int64_t i = 0; i < n; i++) x[i] = (float)rng_normal(&rng), tg[i] = (float)rng_normal(&rng);
    float* ts = step_ptr(&s.timesteps);
    uint32_t* ids = (uint32_t*)step_ptr(&s.ids);
    for (int r = 0; r < ROWS; r++) {
        ts[r] = 100.0f + 200.0f * r;
        for (int k = 0; k < 8; k++) ids[r * 8 + k] = (uint32_t)((r * 8 + k) * 7 % 50);
    }
    if (obj == OBJ_DPO)  // pairs share noise, timestep and caption: rows [w0 w1; l0 l1]
        for (int r = 2; r < ROWS; r++) {
            for (int64_t i = 0; i < per_row; i++) tg[r * per_row + i] = tg[(r - 2) * per_row + i];
            ts[r] = ts[r - 2];
            for (int k = 0; k < 8; k++) ids[r * 8 + k] = ids[(r - 2) * 8 + k];
        }
    Run out = {0};
    for (int t = 1; t <= steps; t++) {
        float* sc = step_ptr(&s.scalars);
        sc[STEP_LR] = 3e-3f;
        sc[STEP_BC1] = (float)(1 - pow((double)cfg.adam.beta1, t));
        sc[STEP_BC2] = (float)(1 - pow((double)cfg.adam.beta2, t));
        sc[STEP_EMA_DECAY] = 0.9f;
        int before = s.update.nsubmit;
        cmd_submit(&s.update);
        out.submits_per_step = s.update.nsubmit - before;
        out.loss[t - 1] = step_ptr(&s.metrics)[OBJ_METRIC_LOSS];
        out.acc[t - 1] = step_ptr(&s.metrics)[OBJ_METRIC_IMPLICIT_ACC];
        if (t == 1) out.first_norm = step_ptr(&s.stats)[0], out.first_coef = step_ptr(&s.coef)[0];
    }
    train_step_free(&s);
    models_free(&md);
    return out;
}

Test(train_step, fits_a_fixed_batch_deterministically, GPU_TEST, .timeout = 600) {
    require_gpu();
    int steps = MAX_STEPS;
    Run a = fit_fixed_batch(OBJ_SFT, steps);
    cr_assert(isfinite(a.first_norm) && a.first_norm > 0, "gradient norm %g", a.first_norm);
    cr_assert_eq(a.submits_per_step, 1);
    cr_assert_float_eq(a.first_coef, 1.0 / ROWS, 1e-7, "sft coefficient %g", a.first_coef);
    fprintf(stderr, "sft loss %.4f -> %.4f over %d steps\n", a.loss[0], a.loss[steps - 1], steps);
    cr_assert_lt(a.loss[steps - 1], 0.7 * a.loss[0], "loss %.4f -> %.4f: the step does not learn", a.loss[0], a.loss[steps - 1]);
    Run b = fit_fixed_batch(OBJ_SFT, steps);
    for (int i = 0; i < steps; i++) cr_assert_eq(a.loss[i], b.loss[i], "step %d: %.9g vs %.9g", i, a.loss[i], b.loss[i]);
    ASSERT_NO_VALIDATION_MESSAGES();
}

// Policy = reference at the start: z = 0 for every pair, loss log 2, accuracy 1/2
// (ties count half); then the policy learns to prefer the winners of its batch.
Test(train_step, dpo_with_a_frozen_reference, GPU_TEST, .timeout = 600) {
    require_gpu();
    int steps = 15;
    Run a = fit_fixed_batch(OBJ_DPO, steps);
    cr_assert_eq(a.submits_per_step, 1);
    cr_assert_float_eq(a.loss[0], log(2.0), 1e-6, "first DPO loss %.9g", a.loss[0]);
    cr_assert_float_eq(a.acc[0], 0.5, 1e-6, "first implicit accuracy %g", a.acc[0]);
    fprintf(stderr, "dpo loss %.4f -> %.4f, accuracy %.2f -> %.2f\n", a.loss[0], a.loss[steps - 1], a.acc[0],
            a.acc[steps - 1]);
    cr_assert_lt(a.loss[steps - 1], 0.6, "DPO loss %.4f -> %.4f: no learning", a.loss[0], a.loss[steps - 1]);
    cr_assert_eq(a.acc[steps - 1], 1.0, "implicit accuracy %g", a.acc[steps - 1]);
    ASSERT_NO_VALIDATION_MESSAGES();
}

// The reference is recorded from the policy's UNet description, whose
// parameter indices must address its store too: the same config lists the
// same parameters in the same order, another config does not.
Test(train_step, reference_store_lists_the_policy_parameters) {
    char path[1024], err[512];
    UNetConfig tiny, lin;
    snprintf(path, sizeof path, "%s/golden/tiny/unet/config.json", VKPREF_TEST_DATA);
    cr_assert_eq(unet_config_load(&tiny, path, err, sizeof err), 0, "%s", err);
    snprintf(path, sizeof path, "%s/golden/tiny_linear/unet/config.json", VKPREF_TEST_DATA);
    cr_assert_eq(unet_config_load(&lin, path, err, sizeof err), 0, "%s", err);
    ParamStore a, b, c;  // registration only: nothing is allocated
    param_store_init(&a, NULL), param_store_init(&b, NULL), param_store_init(&c, NULL);
    UNet ua, ub, uc;
    unet_init(&ua, &tiny, &a), unet_init(&ub, &tiny, &b), unet_init(&uc, &lin, &c);
    cr_assert_eq(param_store_mismatch(&a, &b), -1);
    cr_assert(!memcmp(&ua, &ub, sizeof ua), "one config, two stores: the same description");
    int i = param_store_mismatch(&a, &c);
    cr_assert(i >= 0 && i < a.n, "tiny and tiny_linear register different parameters");
    param_store_free(&a), param_store_free(&b), param_store_free(&c);
}

// Data parallel with stand-in exchanges of one process (the sum and the gather
// of one): the split update, plain or overlapped with the backward, applies
// exactly the plain step's update. A bucket copied to staging before the
// backward's last write to one of its gradients, or put back in the wrong
// place, would change the weights.
typedef struct Exchange {
    int64_t floats;  // summed so far
    int calls;
} Exchange;

static void sum_of_one(void* user, float* grads, int64_t n) {
    Exchange* x = user;
    x->floats += n, x->calls++;
}

static void gather_of_one(void* user, const float* mine, float* all, int64_t n) {
    memcpy(all, mine, (size_t)n * sizeof *all);
}

typedef struct SplitFill {
    TrainStep* s;
    int step;
} SplitFill;

// Micro-batch m of step `step`: its own inputs (kto: one desirable and one undesirable row per pair).
static void fill_split(void* user, int m) {
    SplitFill* f = user;
    TrainStep* s = f->s;
    TestRng rng = rng_seed((uint64_t)(100 * f->step + m + 1));
    int64_t n = tensor_numel(&s->x_t);
    float *x = step_ptr(&s->x_t), *tg = step_ptr(&s->target), *ts = step_ptr(&s->timesteps);
    for (int64_t i = 0; i < n; i++) x[i] = (float)rng_normal(&rng), tg[i] = (float)rng_normal(&rng);
    uint32_t* ids = (uint32_t*)step_ptr(&s->ids);
    for (int r = 0; r < ROWS; r++) {
        ts[r] = (float)(50 + 100 * ((r + m + f->step) % 9));
        step_ptr(&s->signs)[r] = r % 2 ? -1.0f : 1.0f;
        for (int k = 0; k < 8; k++) ids[r * 8 + k] = (uint32_t)((r * 8 + k + m) * 7 % 50);
    }
}

typedef enum { PLAIN, SPLIT, OVERLAPPED } ExchangeMode;

// Trains 3 steps of 2 micro-batches; returns every trained weight (UNet, then
// text encoder when trained), malloc'ed; *buckets and *parts describe the exchange.
static float* train_with_exchange(Objective obj, ExchangeMode mode, int64_t* n_out, int* buckets, int* parts) {
    bool ref = objective_needs_reference(obj);
    Models md;
    models_init(&md, !ref, ref);
    Exchange x = {0};
    TrainStepConfig cfg = {.batch = ROWS, .text_len = 8, .train_text_encoder = !ref, .max_grad_norm = 1.0f,
                           .adam = {.beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.01f}, .ema = true,
                           .objective = obj, .hyper = objective_hyper_default(), .coef_scale = 0.5f,
                           .ref_ps = ref ? &md.ref : NULL};
    cfg.hyper.beta_kto = 50;  // the tiny model's errors move little: keep sigma unsaturated
    if (mode != PLAIN) {
        cfg.reduce = sum_of_one, cfg.reduce_user = &x;
        cfg.overlap_exchange = mode == OVERLAPPED;
        cfg.bucket_floats = 1;  // as many buckets as STEP_MAX_BUCKETS allows
        if (objective_uses_batch_statistic(obj)) cfg.gather = gather_of_one, cfg.nranks = 1, cfg.rank = 0;
    }
    TrainStep s;
    train_step_init(&s, &tgpu, &md.u, &md.ups, &md.m, &md.tps, cfg);
    SplitFill f = {&s, 0};
    double metrics[OBJ_METRICS_COUNT];
    for (f.step = 0; f.step < 3; f.step++) {
        optimizer_step_scalars(step_ptr(&s.scalars), 3e-3, f.step, cfg.adam.beta1, cfg.adam.beta2, 0.9);
        train_step_replay(&s, 2, fill_split, &f, metrics);
    }
    int64_t n = param_count(&md.ups) + (ref ? 0 : param_count(&md.tps));
    if (mode != PLAIN) cr_assert_eq(x.floats, 3 * n, "summed %lld floats in 3 steps of %lld", (long long)x.floats, (long long)n);
    float* w = malloc((size_t)n * sizeof *w);
    int64_t at = 0;
    ParamStore* stores[] = {&md.ups, &md.tps};
    for (int k = 0; k < (ref ? 1 : 2); k++)
        for (int i = 0; i < stores[k]->n; i++) param_download(stores[k], i, w + at), at += param_numel(stores[k], i);
    *n_out = n, *buckets = s.nbuckets, *parts = s.last.nparts;
    train_step_free(&s);
    models_free(&md);
    return w;
}

static void check_exchange_modes(Objective obj) {
    int64_t n[3];
    int buckets[3], parts[3];
    float* w[3];
    for (int mode = PLAIN; mode <= OVERLAPPED; mode++)
        w[mode] = train_with_exchange(obj, (ExchangeMode)mode, &n[mode], &buckets[mode], &parts[mode]);
    fprintf(stderr, "%s: %lld weights, %d buckets, the last micro-batch in %d parts\n", objective_name(obj),
            (long long)n[0], buckets[OVERLAPPED], parts[OVERLAPPED]);
    cr_assert_eq(buckets[SPLIT], buckets[OVERLAPPED]);
    cr_assert_geq(parts[OVERLAPPED], 4, "%d parts: the exchange cannot overlap the backward", parts[OVERLAPPED]);
    for (int mode = SPLIT; mode <= OVERLAPPED; mode++) {
        cr_assert_eq(n[mode], n[PLAIN]);
        int64_t differ = 0, first = -1;
        for (int64_t i = 0; i < n[PLAIN]; i++)
            if (memcmp(&w[mode][i], &w[PLAIN][i], sizeof(float))) differ++, first = first < 0 ? i : first;
        cr_assert_eq(differ, 0, "%s, %s exchange: %lld of %lld weights differ from the plain step's (first: %lld)",
                     objective_name(obj), mode == SPLIT ? "split" : "overlapped", (long long)differ,
                     (long long)n[PLAIN], (long long)first);
    }
    for (int mode = PLAIN; mode <= OVERLAPPED; mode++) free(w[mode]);
}

Test(train_step, exchange_overlapped_with_the_backward_is_bit_identical, GPU_TEST, .timeout = 600) {
    require_gpu();
    check_exchange_modes(OBJ_SFT);  // UNet and text encoder
    check_exchange_modes(OBJ_KTO);  // gathered rows: the last micro-batch's forward is a submit of its own
    ASSERT_NO_VALIDATION_MESSAGES();
}
