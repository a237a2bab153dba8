// op_peak.h: a kernel of pure FMA chains (shaders/bench_peak_fma.comp) whose
// time gives the device's arithmetic peak, the yardstick `vkpref bench ops`
// reports each kernel against.
#pragma once
#include <stdint.h>

#include "gpu/cmd.h"

// y [wg * groups]: each invocation runs `iters` iterations of 4 x 8 FMAs and writes one value.
// 2 * 4 * 8 * iters * wg * groups floating-point operations.
void op_peak_fma(Cmd* c, const Tensor* y, uint32_t iters, uint32_t wg, uint32_t groups);
