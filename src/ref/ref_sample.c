// ref_sample.c: see ref_sample.h and sampler_step.comp.
#include <math.h>

#include "ref/ref.h"

void ref_sampler_step(double* x, const double* model_out, const double* noise, int64_t n, const SamplerStep* st,
                      bool cfg, double cfg_scale) {
    for (int64_t i = 0; i < n; i++) {
        double out = cfg ? model_out[i] + cfg_scale * (model_out[n + i] - model_out[i]) : model_out[i];
        double x0 = st->p * x[i] + st->q * out, eps;
        if (st->clip) {
            x0 = fmin(fmax(x0, -st->clip_range), st->clip_range);
            eps = (x[i] - st->sa * x0) / st->sb;
        } else {
            eps = st->r * x[i] + st->s * out;
        }
        x[i] = st->cx0 * x0 + st->ceps * eps + st->cx * x[i] + st->cnoise * noise[i];
    }
}
