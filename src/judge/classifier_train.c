// classifier_train.c: see classifier_train.h.
#include "judge/classifier_train.h"

#include <math.h>
#include <string.h>

#include "judge/classifier_infer.h"
#include "train/optimizer.h"
#include "train/step.h"
#include "util/check.h"
#include "util/rng.h"

// Forward, loss, backward: gradients of mean_n loss[n] (coef = 1/B, written by the host).
static void record_forward_backward(ClassifierStep* s, Cmd* c, const Classifier* m) {
    Graph g = {.cmd = c, .ps = s->ps, .act = &s->act, .tmp = &s->act, .grad = &s->grad, .training = true};
    ClassifierActs acts;  // needed while recording only: replays read the arenas
    classifier_forward(&g, m, &acts, &s->logits, &s->x);
    op_softmax_xent_forward(c, &s->loss, &s->logits, &s->labels);
    Tensor dlogits = graph_grad_like(&g, &s->logits);
    op_softmax_xent_backward(c, &dlogits, &s->coef, &s->logits, &s->labels);
    classifier_backward(&g, m, &acts, &dlogits);
}

void classifier_step_init(ClassifierStep* s, GpuContext* g, const Classifier* m, ParamStore* ps, int batch,
                          AdamWHyper adam, float max_grad_norm) {
    if (!ps->has_grad || !ps->has_adam) die("classifier_step_init: the store needs gradients and AdamW moments");
    if (batch < 1) die("classifier_step_init: batch %d must be >= 1", batch);
    memset(s, 0, sizeof *s);
    s->gpu = g, s->cfg = m->cfg, s->ps = ps, s->batch = batch;
    int S = m->cfg.image_size, K = m->cfg.num_classes;
    arena_init(&s->io, g, "judge step io", 0, true);
    arena_init(&s->act, g, "judge activations", 0, false);
    arena_init(&s->grad, g, "judge activation grads", 0, false);
    s->x = arena_tensor4(&s->io, batch, 1, S, S);
    s->labels = arena_tensor1(&s->io, batch);
    s->coef = arena_tensor1(&s->io, batch);
    s->scalars = arena_tensor1(&s->io, STEP_SCALARS_COUNT);
    s->logits = arena_tensor2(&s->io, batch, K);
    s->loss = arena_tensor1(&s->io, batch);
    s->stats = arena_tensor1(&s->io, 2);
    s->norm_scratch = arena_tensor1(&s->io, optimizer_scratch_numel(&ps, 1));
    float* coef = step_ptr(&s->coef);
    for (int i = 0; i < batch; i++) coef[i] = 1.0f / (float)batch;
    cmd_begin(&s->cmd, g);
    record_forward_backward(s, &s->cmd, m);
    optimizer_record_update(&s->cmd, &ps, 1, &s->stats, &s->norm_scratch, &s->scalars, max_grad_norm, adam, false);
    cmd_end(&s->cmd);
}

void classifier_step_free(ClassifierStep* s) {
    cmd_free(&s->cmd);
    arena_free(&s->io), arena_free(&s->act), arena_free(&s->grad);
}

double classifier_step_run(ClassifierStep* s, int step, double lr, AdamWHyper adam, int* correct, double* gnorm) {
    optimizer_step_scalars(step_ptr(&s->scalars), lr, step, adam.beta1, adam.beta2, 0);  // no EMA
    cmd_submit(&s->cmd);
    int B = s->batch, K = s->cfg.num_classes;
    const float *loss = step_ptr(&s->loss), *logits = step_ptr(&s->logits);
    const uint32_t* y = (const uint32_t*)step_ptr(&s->labels);
    double sum = 0;
    *correct = 0;
    for (int i = 0; i < B; i++) {
        sum += loss[i];
        *correct += classifier_argmax(logits + (size_t)i * K, K) == (int)y[i];
    }
    *gnorm = step_ptr(&s->stats)[0];
    return sum / B;
}

void classifier_epoch_order(int* order, int n, uint64_t seed, int epoch) {
    for (int i = 0; i < n; i++) order[i] = i;
    for (int i = n - 1; i > 0; i--) {  // Fisher-Yates from counter-based draws
        int j = (int)rng_below(seed, (uint64_t)epoch, RNG_STREAM_BATCH, (uint64_t)i, (uint32_t)i + 1);
        int t = order[i];
        order[i] = order[j], order[j] = t;
    }
}

void classifier_fill_batch(const Fmnist* ds, const int* order, int B, uint64_t seed, int step, bool flip, float* x,
                           uint32_t* labels) {
    const int S = FMNIST_SIDE;
    for (int i = 0; i < B; i++) {
        float* img = x + (size_t)i * S * S;
        fmnist_image(ds, order[i], img);
        labels[i] = ds->labels[order[i]];
        if (flip && rng_u01(seed, (uint64_t)step, RNG_STREAM_FLIP, (uint64_t)i) < 0.5)
            for (int r = 0; r < S; r++)
                for (int c = 0; c < S / 2; c++) {
                    float t = img[r * S + c];
                    img[r * S + c] = img[r * S + S - 1 - c], img[r * S + S - 1 - c] = t;
                }
    }
}
