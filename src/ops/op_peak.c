// op_peak.c: see op_peak.h.
#include "ops/op_peak.h"

#include "gpu/kernel.h"
#include "ops/op_common.h"

#define PEAK_FMA_PUSH(X) X(float, seed)
PUSH_STRUCT(PeakFmaPush, PEAK_FMA_PUSH)
SHADER_PUSH(bench_peak_fma, PeakFmaPush)

void op_peak_fma(Cmd* c, const Tensor* y, uint32_t iters, uint32_t wg, uint32_t groups) {
    check_loop_budget(c->gpu, "op_peak_fma", (int64_t)iters + 1, "FMA chains this long");
    PeakFmaPush push = {.seed = 1.0f};
    Bind bind = bind_w(y);
    cmd_dispatch(c, SHADER_BENCH_PEAK_FMA, (uint32_t[]){wg, 1, 1, iters}, 4, &bind, 1, &push, sizeof push, groups, 1,
                 1);
}
