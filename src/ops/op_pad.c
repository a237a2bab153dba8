// op_pad.c: zero padding of images and its gradient (shaders/pad2d_{fwd,bwd}.comp).
// Memory-bound and small next to the convolution that follows it: one float per
// invocation, the image sizes as specialization constants (no runtime division).
#include <stdint.h>

#include "gpu/kernel.h"
#include "ops/op_common.h"
#include "ops/op_pad.h"
#include "util/check.h"

int pad2d_out_h(Pad2dDims d) { return d.top + d.H + d.bottom; }
int pad2d_out_w(Pad2dDims d) { return d.left + d.W + d.right; }

SHADER_PUSH(pad2d_fwd, FlatPush)  // FLAT_PUSH of layout.glsl
SHADER_PUSH(pad2d_bwd, FlatPush)

static void pad_dispatch(Cmd* c, const char* op, ShaderId id, const Tensor* out, const Tensor* in, const Tensor* small,
                         const Tensor* big, Pad2dDims d) {
    c->label = op;
    if (d.N < 1 || d.C < 1 || d.H < 1 || d.W < 1 || d.top < 0 || d.bottom < 0 || d.left < 0 || d.right < 0)
        die("%s: invalid dims N %d C %d H %d W %d pad top %d bottom %d left %d right %d", op, d.N, d.C, d.H, d.W, d.top,
            d.bottom, d.left, d.right);
    int64_t OH = pad2d_out_h(d), OW = pad2d_out_w(d);
    int64_t nsmall = (int64_t)d.N * d.C * d.H * d.W, nbig = (int64_t)d.N * d.C * OH * OW;
    if (nbig + 16 > (int64_t)UINT32_MAX) die("%s: %lld elements need 64-bit indices", op, (long long)nbig);
    check_numel(op, small == out ? "dx" : "x", small, nsmall);
    check_numel(op, big == out ? "y" : "dy", big, nbig);
    if (tensors_overlap(out, in)) die("%s: the output overlaps the input", op);
    Operand oi = tex(c, in), oo = sto(c, out);
    uint32_t wg = c->gpu->tune.wg_size;
    uint32_t spec[] = {wg,           1,           1,           1, (uint32_t)d.H, (uint32_t)d.W, (uint32_t)OH,
                       (uint32_t)OW, (uint32_t)d.top, (uint32_t)d.left};
    Bind b[] = {bind_tex(&oi.view, 1), bind_w(&oo.view)};
    FlatPush push = {.n = (uint32_t)tensor_numel(out), .off_in0 = oi.off, .off_out = oo.off};
    uint32_t gx, gy;
    grid_1d(push.n, wg, &gx, &gy);
    cmd_dispatch(c, id, spec, 10, b, 2, &push, sizeof push, gx, gy, 1);
}

void op_pad2d_forward(Cmd* c, const Tensor* y, const Tensor* x, Pad2dDims d) {
    pad_dispatch(c, "op_pad2d_forward", SHADER_PAD2D_FWD, y, x, x, y, d);
}

void op_pad2d_backward(Cmd* c, const Tensor* dx, const Tensor* dy, Pad2dDims d) {
    pad_dispatch(c, "op_pad2d_backward", SHADER_PAD2D_BWD, dx, dy, dx, dy, d);
}
