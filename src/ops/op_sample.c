// op_sample.c: see op_sample.h.
#include "ops/op_sample.h"

#include "util/check.h"

void sampler_pack_coefs(const SamplerStep* st, float k[SAMPLER_COEF_COUNT]) {
    const float v[SAMPLER_COEF_COUNT] = {st->p,   st->q,    st->r,  st->s,      st->sa,              st->sb,
                                         st->cx0, st->ceps, st->cx, st->cnoise, st->clip ? 1.0f : 0.0f, st->clip_range};
    for (int i = 0; i < SAMPLER_COEF_COUNT; i++) k[i] = v[i];
}

#define SAMPLER_STEP_PUSH(X) X(uint32_t, n) X(float, scale)
PUSH_STRUCT(SamplerStepPush, SAMPLER_STEP_PUSH)
SHADER_PUSH(sampler_step, SamplerStepPush)

void op_sampler_step(Cmd* c, const Tensor* x, const Tensor* model_out, const Tensor* noise, const Tensor* coefs,
                     bool cfg, float cfg_scale) {
    int64_t n = tensor_numel(x);
    if (tensor_numel(model_out) != (cfg ? 2 : 1) * n || tensor_numel(noise) != n || tensor_numel(coefs) < SAMPLER_COEF_COUNT)
        die("op_sampler_step: x %lld, model_out %lld (cfg %d), noise %lld, coefs %lld elements", (long long)n,
            (long long)tensor_numel(model_out), cfg, (long long)tensor_numel(noise), (long long)tensor_numel(coefs));
    uint32_t wg = c->gpu->tune.wg_size, gx, gy;
    Bind b[] = {bind_w(x), bind_r(model_out), bind_r(noise), bind_r(coefs)};
    SamplerStepPush push = {(uint32_t)n, cfg_scale};
    grid_1d(n, wg, &gx, &gy);
    cmd_dispatch(c, SHADER_SAMPLER_STEP, (uint32_t[]){wg, 1, 1, cfg}, 4, b, 4, &push, sizeof push, gx, gy, 1);
}
