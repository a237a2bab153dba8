// ref_sample.h: double-precision reference of the sampler step; see ref.h.
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "ops/op_sample.h"

void ref_sampler_step(double* x, const double* model_out, const double* noise, int64_t n, const SamplerStep* st,
                      bool cfg, double cfg_scale);
