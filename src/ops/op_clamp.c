// op_clamp.c: elementwise clamp and its gradient (shaders/clamp_{fwd,bwd}.comp):
// one item of 4 floats per invocation where every operand starts on a 4-float
// boundary and the size is a multiple of 4, else one float (layout.glsl's VEC).
#include <stdint.h>

#include "ops/op_clamp.h"
#include "gpu/kernel.h"
#include "ops/op_common.h"
#include "util/check.h"

// clamp_{fwd,bwd}.comp's push_constant block.
#define CLAMP_PUSH(X) \
    X(uint32_t, n) X(uint32_t, off_in0) X(uint32_t, off_in1) X(uint32_t, off_out) X(float, lo) X(float, hi)
PUSH_STRUCT(ClampPush, CLAMP_PUSH)
SHADER_PUSH(clamp_fwd, ClampPush)
SHADER_PUSH(clamp_bwd, ClampPush)

static void clamp_dispatch(Cmd* c, const char* op, ShaderId id, const Tensor* const* in, int nin, const Tensor* out,
                           float lo, float hi) {
    c->label = op;
    int64_t n = tensor_numel(out);
    if (n < 1) die("%s: empty tensor", op);
    if (!(lo <= hi)) die("%s: lower bound %g above upper bound %g", op, lo, hi);
    Operand o[3];
    uint32_t vec = n % 4 ? 1 : 4;
    for (int i = 0; i < nin; i++) {
        check_numel(op, i == 0 ? "x" : "dy", in[i], n);
        o[i] = tex(c, in[i]);
        if (o[i].off % 4) vec = 1;
    }
    o[nin] = sto(c, out);
    if (o[nin].off % 4) vec = 1;
    if (n + 16 > (int64_t)UINT32_MAX) die("%s: %lld elements need 64-bit indices", op, (long long)n);
    uint32_t wg = c->gpu->tune.wg_size, spec[] = {wg, 1, 1, vec};
    Bind b[3];
    for (int i = 0; i < nin; i++) b[i] = bind_tex(&o[i].view, (int)vec);
    b[nin] = bind_w(&o[nin].view);
    ClampPush push = {.n = (uint32_t)(n / vec), .off_in0 = o[0].off, .off_in1 = nin > 1 ? o[1].off : 0,
                      .off_out = o[nin].off, .lo = lo, .hi = hi};
    uint32_t gx, gy;
    grid_1d(push.n, wg, &gx, &gy);
    cmd_dispatch(c, id, spec, 4, b, (uint32_t)nin + 1, &push, sizeof push, gx, gy, 1);
}

void op_clamp_forward(Cmd* c, const Tensor* y, const Tensor* x, float lo, float hi) {
    const char* op = "op_clamp_forward";
    if (tensors_overlap(y, x) && !tensors_same(y, x)) die("%s: y partially overlaps x", op);
    clamp_dispatch(c, op, SHADER_CLAMP_FWD, (const Tensor*[]){x}, 1, y, lo, hi);
}

void op_clamp_backward(Cmd* c, const Tensor* dx, const Tensor* dy, const Tensor* x, float lo, float hi) {
    const char* op = "op_clamp_backward";
    if (tensors_overlap(dx, x) || tensors_overlap(dx, dy)) die("%s: dx overlaps x or dy", op);
    clamp_dispatch(c, op, SHADER_CLAMP_BWD, (const Tensor*[]){x, dy}, 2, dx, lo, hi);
}
