// classifier_infer.c: see classifier_infer.h.
#include "judge/classifier_infer.h"

#include <string.h>

#include "ops/ops.h"
#include "train/step.h"
#include "util/check.h"

void classifier_runner_init(ClassifierRunner* r, GpuContext* g, const Classifier* m, ParamStore* ps, int batch) {
    if (batch < 1) die("classifier_runner_init: batch %d must be >= 1", batch);
    memset(r, 0, sizeof *r);
    r->gpu = g, r->cfg = m->cfg, r->batch = batch;
    int S = m->cfg.image_size, K = m->cfg.num_classes;
    arena_init(&r->io, g, "judge io", 0, true);
    arena_init(&r->act, g, "judge activations", 0, false);
    arena_init(&r->tmp, g, "judge temporaries", 0, false);
    r->x = arena_tensor4(&r->io, batch, 1, S, S);
    r->labels = arena_tensor1(&r->io, batch);
    r->logits = arena_tensor2(&r->io, batch, K);
    r->loss = arena_tensor1(&r->io, batch);
    cmd_begin(&r->cmd, g);
    Graph gr = {.cmd = &r->cmd, .ps = ps, .act = &r->act, .tmp = &r->tmp, .grad = NULL, .training = false};
    ClassifierActs acts;  // needed while recording only: replays read the arenas
    classifier_forward(&gr, m, &acts, &r->logits, &r->x);
    // The loss of the given labels is -log p: the judge's score without a host softmax.
    op_softmax_xent_forward(&r->cmd, &r->loss, &r->logits, &r->labels);
    cmd_end(&r->cmd);
}

void classifier_runner_free(ClassifierRunner* r) {
    cmd_free(&r->cmd);
    arena_free(&r->io), arena_free(&r->act), arena_free(&r->tmp);
}

void classifier_runner_run(ClassifierRunner* r, const float* images, const int* labels, int n, float* logits,
                           double* logp) {
    int B = r->batch, S = r->cfg.image_size, K = r->cfg.num_classes;
    size_t img = (size_t)S * S;
    if (logp && !labels) die("classifier_runner_run: log-probabilities need labels");
    float *x = step_ptr(&r->x), *lg = step_ptr(&r->logits), *loss = step_ptr(&r->loss);
    uint32_t* y = (uint32_t*)step_ptr(&r->labels);
    for (int first = 0; first < n; first += B) {
        int m = n - first < B ? n - first : B;
        memcpy(x, images + (size_t)first * img, (size_t)m * img * sizeof *x);
        // A partial batch: the unused rows see background and are ignored (label K);
        // every image's logits depend on that image alone.
        for (size_t i = (size_t)m * img; i < (size_t)B * img; i++) x[i] = -1.0f;
        for (int i = 0; i < B; i++) {
            int l = labels && i < m ? labels[first + i] : K;
            if (labels && i < m && (l < 0 || l >= K))
                die("classifier_runner_run: label %d of image %d is not a class (0..%d)", l, first + i, K - 1);
            y[i] = (uint32_t)l;
        }
        cmd_submit(&r->cmd);
        if (logits) memcpy(logits + (size_t)first * K, lg, (size_t)m * K * sizeof *lg);
        for (int i = 0; logp && i < m; i++) logp[first + i] = -(double)loss[i];
    }
}

int classifier_argmax(const float* v, int k) {
    int best = 0;
    for (int i = 1; i < k; i++)
        if (v[i] > v[best]) best = i;
    return best;
}
