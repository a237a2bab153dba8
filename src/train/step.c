// step.c: see step.h.
#include "train/step.h"

#include <stdlib.h>
#include <string.h>

#include "train/optimizer.h"
#include "util/check.h"

// What the recordings' forwards save for their backward: read while recording
// only, so it lives for train_step_init alone.
typedef struct StepActs {
    UNetActs policy, ref;  // one UNet description, recorded against two stores
    ClipActs text;
} StepActs;

float* step_ptr(const Tensor* t) { return tensor_host_ptr(t); }

// One micro-batch: text encoder, the frozen reference UNet (forward only, no
// saved activations) when the objective needs one, the policy UNet, per-row
// errors, the objective's coefficients (on the GPU: no host round trip), and
// the backward of sum_n coef[n] * mse[n] (dspo: plus coef_dist[n] * ref_dist[n]) into
// every trainable parameter. A gathered micro-batch (cfg.gather) records up to the
// errors into `fwd` and the rest into c; otherwise fwd is c.
static void record_forward_backward(TrainStep* s, Cmd* fwd, Cmd* c, const UNet* unet, const ClipTextModel* clip,
                                    StepActs* a) {
    const TrainStepConfig* k = &s->cfg;
    arena_reset(&s->act), arena_reset(&s->tmp), arena_reset(&s->grad);
    Graph gt = {.cmd = fwd, .ps = s->text_ps, .act = &s->act, .tmp = &s->tmp, .grad = &s->grad,
                .training = k->train_text_encoder};
    Graph gu = {.cmd = fwd, .ps = s->unet_ps, .act = &s->act, .tmp = &s->tmp, .grad = &s->grad, .training = true,
                .lora = k->lora, .lora_dropout = k->lora != NULL, .frozen_sink = k->lora ? &s->frozen_sink : NULL};
    Tensor ehs = clip_forward(&gt, clip, &a->text, &s->ids, k->batch, k->text_len);
    bool ref = objective_needs_reference(k->objective), dist = objective_needs_ref_dist(k->objective);
    Tensor ref_pred = {0};  // in the activation arena: alive until the backward below
    if (ref) {
        // With LoRA the reference is the same UNet store, recorded with the adapters off.
        Graph gr = {.cmd = fwd, .ps = k->lora ? s->unet_ps : k->ref_ps, .act = &s->act, .tmp = &s->tmp,
                    .grad = NULL, .training = false};
        ref_pred = unet_forward(&gr, unet, &a->ref, &s->x_t, &s->timesteps, &ehs);
        op_mse_per_sample_forward(fwd, &s->mse_ref, &ref_pred, &s->target);
    }
    Tensor pred = unet_forward(&gu, unet, &a->policy, &s->x_t, &s->timesteps, &ehs);
    op_mse_per_sample_forward(fwd, &s->mse, &pred, &s->target);
    if (dist) op_mse_per_sample_forward(fwd, &s->ref_dist, &pred, &ref_pred);
    gt.cmd = gu.cmd = c;
    bool signs = objective_needs_signs(k->objective);
    if (k->gather) {
        // Only batch-statistic objectives gather (kto, tkto, sdpo); none needs the reference distance.
        if (dist) die("train step: %s cannot gather its micro-batch", objective_name(k->objective));
        op_objective(c, &s->g_coef, NULL, &s->metrics, &s->g_mse, ref ? &s->g_mse_ref : NULL, NULL,
                     signs ? &s->g_signs : NULL, k->objective, &k->hyper, k->coef_scale);
        // This process's rows of each half of the gathered coefficients.
        int halves = objective_rows_per_item(k->objective), h = k->batch / halves;
        for (int j = 0; j < halves; j++) {
            Tensor mine = tensor_slice(s->coef, (int64_t)j * h, h);
            Tensor all = tensor_slice(s->g_coef, ((int64_t)j * k->nranks + k->rank) * h, h);
            cmd_copy(c, &mine, &all);
        }
    } else {
        op_objective(c, &s->coef, dist ? &s->coef_dist : NULL, &s->metrics, &s->mse, ref ? &s->mse_ref : NULL,
                     dist ? &s->ref_dist : NULL, signs ? &s->signs : NULL, k->objective, &k->hyper, k->coef_scale);
    }
    Tensor dpred = graph_grad_like(&gu, &pred);
    op_mse_per_sample_backward(c, &dpred, &s->coef, &pred, &s->target);
    // dspo's second term: coef_dist[n] dq[n]/dpred, q the distance to the reference's prediction.
    if (dist) op_mse_per_sample_backward(c, &dpred, &s->coef_dist, &pred, &ref_pred);
    if (k->train_text_encoder) {
        Tensor dehs = graph_grad_like(&gu, &ehs);
        unet_backward(&gu, unet, &a->policy, &dpred, &dehs);
        clip_backward(&gt, clip, &a->text, &dehs);
    } else {
        unet_backward(&gu, unet, &a->policy, &dpred, NULL);
    }
}

static int trainable_stores(TrainStep* s, ParamStore** out) {
    int n = 0;
    out[n++] = s->cfg.lora ? &s->cfg.lora->ps : s->unet_ps;
    if (s->cfg.train_text_encoder) out[n++] = s->text_ps;
    return n;
}

// A trainable gradient and the backward command that writes it last.
typedef struct GradDone {
    Tensor grad;
    int last, index;  // index: registration order, which breaks ties
} GradDone;

static int by_completion(const void* a, const void* b) {
    const GradDone *x = a, *y = b;
    if (x->last != y->last) return x->last < y->last ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

// The trainable gradients in the order the backward recorded in `bwd` (the
// micro-batch, not yet ended) completes them; *n gets their count.
static GradDone* gradients_by_completion(ParamStore** stores, int ns, const Cmd* bwd, int* n) {
    int total = 0;
    for (int i = 0; i < ns; i++) total += stores[i]->n;
    GradDone* d = xcalloc((size_t)(total ? total : 1), sizeof *d);
    Tensor* t = xcalloc((size_t)(total ? total : 1), sizeof *t);
    int* last = xcalloc((size_t)(total ? total : 1), sizeof *last);
    for (int i = 0, k = 0; i < ns; i++)
        for (int j = 0; j < stores[i]->n; j++, k++) t[k] = stores[i]->e[j].grad;
    cmd_last_writes(bwd, t, total, last);
    for (int k = 0; k < total; k++) d[k] = (GradDone){t[k], last[k], k};
    qsort(d, (size_t)total, sizeof *d, by_completion);
    free(t), free(last);
    *n = total;
    return d;
}

// The split update's exchange (step.h): buckets of whole gradients in
// completion order, each at least `least` floats (but the last) and at most one
// storage-buffer range; bucket i takes d[first[i] .. first[i + 1]).
static int plan_buckets(const TrainStep* s, const GradDone* d, int n, int* first) {
    int64_t total = 0;
    for (int k = 0; k < n; k++) total += tensor_numel(&d[k].grad);
    int64_t least = s->cfg.bucket_floats > 0 ? s->cfg.bucket_floats : STEP_BUCKET_FLOATS;
    if (least < (total + STEP_MAX_BUCKETS - 1) / STEP_MAX_BUCKETS) least = (total + STEP_MAX_BUCKETS - 1) / STEP_MAX_BUCKETS;
    int64_t most = (int64_t)(s->gpu->props.limits.maxStorageBufferRange / sizeof(float)) & ~(int64_t)3;
    int nb = 0;
    int64_t have = 0;
    for (int k = 0; k < n; k++) {
        int64_t m = tensor_numel(&d[k].grad);
        if (k == 0 || have >= least || have + m > most) first[nb++] = k, have = 0;
        have += m;
    }
    first[nb] = n;
    return nb;
}

// Records the exchange's transfers: `grads_out` copies every gradient into its
// bucket's staging, `update` starts by copying the summed staging back; with
// overlap_exchange, `last` records the micro-batch again and is cut after each
// bucket's last gradient write, the cut copying the buckets finished there.
// `accumulate` is recorded, not yet ended.
static void record_exchange(TrainStep* s, ParamStore** stores, int ns, const UNet* unet, const ClipTextModel* clip,
                            StepActs* acts) {
    int n;
    GradDone* d = gradients_by_completion(stores, ns, &s->accumulate, &n);
    int* first = xmalloc((size_t)(n + 1) * sizeof *first);
    s->nbuckets = plan_buckets(s, d, n, first);
    s->bucket = xcalloc((size_t)(s->nbuckets ? s->nbuckets : 1), sizeof *s->bucket);
    s->bucket_part = xcalloc((size_t)(s->nbuckets ? s->nbuckets : 1), sizeof *s->bucket_part);
    Tensor* staged = xcalloc((size_t)(n ? n : 1), sizeof *staged);  // gradient k's place in its bucket
    arena_init(&s->staging, s->gpu, "gradient staging", 0, true);
    cmd_begin(&s->grads_out, s->gpu);
    for (int b = 0; b < s->nbuckets; b++) {
        int64_t len = 0;
        for (int k = first[b]; k < first[b + 1]; k++) len += tensor_numel(&d[k].grad);
        s->bucket[b] = arena_tensor1(&s->staging, len);
        int64_t off = 0;
        for (int k = first[b]; k < first[b + 1]; k++) {
            staged[k] = tensor_slice(s->bucket[b], off, tensor_numel(&d[k].grad));
            off += tensor_numel(&d[k].grad);
            cmd_copy(&s->grads_out, &staged[k], &d[k].grad);
            cmd_copy(&s->update, &d[k].grad, &staged[k]);
        }
    }
    cmd_end(&s->grads_out);
    if (s->cfg.overlap_exchange && s->nbuckets) {
        int nops = cmd_recorded(&s->accumulate);
        Cmd fwd;  // gathered: the forward is `forward`'s, recorded again only to lay out the arenas the same way
        cmd_begin(&s->last, s->gpu);
        if (s->cfg.gather) cmd_begin(&fwd, s->gpu);
        record_forward_backward(s, s->cfg.gather ? &fwd : &s->last, &s->last, unet, clip, acts);
        if (s->cfg.gather) cmd_free(&fwd);
        if (cmd_recorded(&s->last) != nops)
            die("train step: the last micro-batch recorded %d commands, `accumulate` %d", cmd_recorded(&s->last), nops);
        Tensor* src = xcalloc((size_t)(n ? n : 1), sizeof *src);
        for (int k = 0; k < n; k++) src[k] = d[k].grad;
        // A cut after the last write of each bucket's last gradient (those no
        // command writes are complete from the start), holding every bucket
        // finished there.
        for (int b = 0, cuts = 0; b < s->nbuckets; cuts++) {
            int after = d[first[b + 1] - 1].last < 0 ? 0 : d[first[b + 1] - 1].last, e = b + 1;
            while (e < s->nbuckets && d[first[e + 1] - 1].last <= after) e++;
            cmd_cut(&s->last, after, &staged[first[b]], &src[first[b]], first[e] - first[b]);
            for (; b < e; b++) s->bucket_part[b] = cuts;
        }
        cmd_end(&s->last);
        free(src);
    }
    free(staged), free(first), free(d);
}

void train_step_init(TrainStep* s, GpuContext* g, const UNet* unet, ParamStore* unet_ps, const ClipTextModel* clip,
                     ParamStore* text_ps, TrainStepConfig cfg) {
    memset(s, 0, sizeof *s);
    s->gpu = g;
    s->cfg = cfg;
    s->unet_ps = unet_ps;
    if (cfg.lora) cfg.ref_ps = unet_ps, s->cfg.ref_ps = unet_ps;  // the base, adapters off
    if (objective_needs_reference(cfg.objective) && !cfg.ref_ps)
        die("train step: objective %s needs a reference model", objective_name(cfg.objective));
    if (objective_needs_reference(cfg.objective) && cfg.train_text_encoder)
        die("train step: objective %s with a trained text encoder would need a reference text encoder too "
            "(set train_text_encoder false)", objective_name(cfg.objective));
    int bad = objective_needs_reference(cfg.objective) ? param_store_mismatch(unet_ps, cfg.ref_ps) : -1;
    if (bad >= 0)
        die("train step: the reference store differs from the policy's at entry %d (%s): it must be registered "
            "by unet_init with the same config", bad, bad < unet_ps->n ? unet_ps->e[bad].name : "end of the list");
    s->text_ps = text_ps;
    int B = cfg.batch, C = unet->cfg.in_channels, S = unet->cfg.sample_size;
    arena_init(&s->io, g, "step io", 0, true);
    arena_init(&s->act, g, "activations", 0, false);
    arena_init(&s->tmp, g, "temporaries", 0, false);
    arena_init(&s->grad, g, "activation grads", 0, false);
    s->x_t = arena_tensor4(&s->io, B, C, S, S);
    s->target = arena_tensor4(&s->io, B, unet->cfg.out_channels, S, S);
    s->timesteps = arena_tensor1(&s->io, B);
    s->ids = arena_tensor1(&s->io, (int64_t)B * cfg.text_len);
    s->signs = arena_tensor1(&s->io, B);
    s->scalars = arena_tensor1(&s->io, STEP_SCALARS_COUNT);
    s->dropout_key = arena_tensor1(&s->io, 4);
    if (cfg.lora) cfg.lora->dropout_key = &s->dropout_key;
    s->mse = arena_tensor1(&s->io, B);
    s->mse_ref = arena_tensor1(&s->io, B);
    s->coef = arena_tensor1(&s->io, B);
    s->ref_dist = arena_tensor1(&s->io, B);
    s->coef_dist = arena_tensor1(&s->io, B);
    s->metrics = arena_tensor1(&s->io, OBJ_METRICS_COUNT);
    s->stats = arena_tensor1(&s->io, 2);

    ParamStore* stores[2];
    int ns = trainable_stores(s, stores);
    s->norm_scratch = arena_tensor1(&s->io, optimizer_scratch_numel(stores, ns));

    if (cfg.lora) {
        arena_init(&s->frozen, g, "frozen weight grads", 0, false);
        s->frozen_sink = arena_tensor1(&s->frozen, lora_frozen_sink_numel(unet_ps));
    }

    // Both recordings share the activation arenas: they never run concurrently.
    StepActs* acts = xcalloc(1, sizeof *acts);  // a few hundred KB: not on the stack
    unet_set_gradient_checkpointing(&acts->policy, cfg.gradient_checkpointing);
    if (cfg.gather) {
        if (!cfg.reduce || cfg.nranks < 1 || cfg.rank < 0 || cfg.rank >= cfg.nranks ||
            cfg.batch % objective_rows_per_item(cfg.objective))
            die("train step: a gathered micro-batch needs the gradient exchange and rank %d of %d", cfg.rank,
                cfg.nranks);
        int64_t rows = (int64_t)cfg.nranks * B;
        s->g_mse = arena_tensor1(&s->io, rows);
        s->g_mse_ref = arena_tensor1(&s->io, rows);
        s->g_signs = arena_tensor1(&s->io, rows);
        s->g_coef = arena_tensor1(&s->io, rows);
        s->gather_buf = xmalloc((size_t)rows * sizeof *s->gather_buf);
        cmd_begin(&s->forward, g);
    }
    cmd_begin(&s->accumulate, g);
    record_forward_backward(s, cfg.gather ? &s->forward : &s->accumulate, &s->accumulate, unet, clip, acts);
    if (cfg.gather) cmd_end(&s->forward);
    cmd_begin(&s->update, g);
    if (cfg.reduce) record_exchange(s, stores, ns, unet, clip, acts);  // reads `accumulate` before it is encoded
    cmd_end(&s->accumulate);
    if (!cfg.reduce) record_forward_backward(s, &s->update, &s->update, unet, clip, acts);
    free(acts);
    optimizer_record_update(&s->update, stores, ns, &s->stats, &s->norm_scratch, &s->scalars, cfg.max_grad_norm,
                            cfg.adam, cfg.ema);
    cmd_end(&s->update);
}

void train_step_free(TrainStep* s) {
    cmd_free(&s->accumulate);
    cmd_free(&s->update);
    arena_free(&s->io), arena_free(&s->act), arena_free(&s->tmp), arena_free(&s->grad);
    if (s->cfg.lora) arena_free(&s->frozen);
    if (s->cfg.reduce) {
        cmd_free(&s->grads_out), cmd_free(&s->last), arena_free(&s->staging);
        free(s->bucket), free(s->bucket_part);
    }
    if (s->cfg.gather) cmd_free(&s->forward), free(s->gather_buf);
}

// all := every process's rows of `mine`, each half of the rows in rank order
// (the layout of one process with nranks x batch rows: objective.h).
static void gather_rows(TrainStep* s, const Tensor* mine, const Tensor* all) {
    const TrainStepConfig* k = &s->cfg;
    int B = k->batch, halves = objective_rows_per_item(k->objective), h = B / halves;
    k->gather(k->gather_user, step_ptr(mine), s->gather_buf, B);
    float* out = step_ptr(all);
    for (int r = 0; r < k->nranks; r++)
        for (int j = 0; j < halves; j++)
            memcpy(out + ((size_t)j * k->nranks + r) * h, s->gather_buf + (size_t)r * B + (size_t)j * h,
                   (size_t)h * sizeof *out);
}

static void reduce_bucket(TrainStep* s, int b) {
    s->cfg.reduce(s->cfg.reduce_user, step_ptr(&s->bucket[b]), tensor_numel(&s->bucket[b]));
}

// The last micro-batch with the exchange overlapped: every part is queued at
// once (vkQueueSubmit returns without waiting for the device), then each
// bucket is summed as soon as its part has run, while the device runs the
// later parts.
static void replay_last_overlapped(TrainStep* s) {
    Cmd* c = &s->last;
    for (int k = 0; k < c->nparts; k++) cmd_submit_part(c, k);
    int k = 0;
    for (int b = 0; b < s->nbuckets; b++) {
        for (; k <= s->bucket_part[b]; k++) cmd_wait_part(c, k);
        reduce_bucket(s, b);
    }
    for (; k < c->nparts; k++) cmd_wait_part(c, k);
}

void train_step_replay(TrainStep* s, int K, StepFillFn fill, void* user, double metrics[OBJ_METRICS_COUNT]) {
    for (int k = 0; k < OBJ_METRICS_COUNT; k++) metrics[k] = 0;
    bool split = s->cfg.reduce != NULL, overlap = split && s->last.ended;
    for (int m = 0; m < K; m++) {
        fill(user, m);
        if (s->cfg.gather) {
            cmd_submit(&s->forward);
            gather_rows(s, &s->mse, &s->g_mse);
            if (objective_needs_reference(s->cfg.objective)) gather_rows(s, &s->mse_ref, &s->g_mse_ref);
            if (objective_needs_signs(s->cfg.objective)) gather_rows(s, &s->signs, &s->g_signs);
        }
        if (m == K - 1 && overlap) replay_last_overlapped(s);
        else cmd_submit(m == K - 1 && !split ? &s->update : &s->accumulate);
        const float* mv = step_ptr(&s->metrics);
        for (int k = 0; k < OBJ_METRICS_COUNT; k++) metrics[k] += mv[k] / K;
    }
    if (!split) return;
    if (!overlap) {
        cmd_submit(&s->grads_out);
        for (int b = 0; b < s->nbuckets; b++) reduce_bucket(s, b);
    }
    cmd_submit(&s->update);
}
