// optimizer.c: see optimizer.h.
#include "train/optimizer.h"

#include <math.h>

#include "util/check.h"

int optimizer_grad_chunks(ParamStore* const* stores, int nstores, Tensor* out) {
    int n = 0;
    for (int i = 0; i < nstores; i++)
        for (int k = 0; k < param_chunks(stores[i]); k++) {
            if (n == OPTIMIZER_MAX_CHUNKS) die("optimizer: more than %d parameter chunks", OPTIMIZER_MAX_CHUNKS);
            out[n++] = param_chunk(stores[i], &stores[i]->grad, k);
        }
    return n;
}

int64_t optimizer_scratch_numel(ParamStore* const* stores, int nstores) {
    Tensor grads[OPTIMIZER_MAX_CHUNKS] = {0};
    int ng = optimizer_grad_chunks(stores, nstores, grads);
    return op_grad_norm_scratch_numel(grads, ng);
}

void optimizer_record_update(Cmd* c, ParamStore* const* stores, int nstores, const Tensor* stats,
                             const Tensor* norm_scratch, const Tensor* scalars, float max_grad_norm, AdamWHyper adam,
                             bool ema) {
    Tensor grads[OPTIMIZER_MAX_CHUNKS] = {0};
    int ng = optimizer_grad_chunks(stores, nstores, grads);
    op_grad_norm(c, stats, norm_scratch, grads, ng, max_grad_norm);
    for (int i = 0; i < nstores; i++) {
        ParamStore* ps = stores[i];
        for (int k = 0; k < param_chunks(ps); k++) {
            Tensor p = param_chunk(ps, &ps->value, k), g = param_chunk(ps, &ps->grad, k);
            Tensor m = param_chunk(ps, &ps->m, k), v = param_chunk(ps, &ps->v, k);
            op_adamw_step(c, &p, &g, &m, &v, scalars, stats, adam);
            if (ema && ps->has_ema) {
                Tensor e = param_chunk(ps, &ps->ema, k);
                op_ema_update(c, &e, &p, scalars);
            }
            cmd_fill(c, &g, 0.0f);
        }
    }
}

void optimizer_step_scalars(float* sv, double lr, int step, float beta1, float beta2, double ema_decay) {
    sv[STEP_LR] = (float)lr;
    sv[STEP_BC1] = (float)(1 - pow((double)beta1, step + 1));
    sv[STEP_BC2] = (float)(1 - pow((double)beta2, step + 1));
    double ramp = (1.0 + step) / (10.0 + step);
    sv[STEP_EMA_DECAY] = (float)(ramp < ema_decay ? ramp : ema_decay);
}
