// op_eltwise.c: elementwise ops: activations (SiLU, exact GELU, quick_gelu),
// GEGLU, add, accumulate, scale (shaders/act_*.comp, geglu_*.comp, add.comp,
// scale.comp, sharing shaders/include/layout.glsl).
//
// Every kernel is memory-bound: one invocation per item of 4 floats where every
// operand starts on a 4-float boundary and the sizes allow (inputs through RGBA32F
// texel views, vec4 stores: llvmpipe loads texels faster than storage floats), else per float;
// 1-D grids through grid_1d()/flat_index(), so any size up to 2^32 items works.
#include <stdint.h>

#include "ops/op_common.h"
#include "ops/ops.h"
#include "util/check.h"

// ---------------------------------------------------------------------------
// Bindings: operand()/tex()/sto() from op_common.h.

// The output may be an input (every kernel reads an item before writing it) but
// must not overlap one partially: another invocation would read what this one wrote.
static void check_alias(const char* op, const Tensor* out, const Tensor* in) {
    if (tensors_overlap(out, in) && !tensors_same(out, in)) die("%s: output partially overlaps an input", op);
}

// ---------------------------------------------------------------------------
// Flat kernels: `nin` inputs (texel views, bindings 0..nin-1) and one output
// (storage, binding nin), `items` items of VEC floats. Push constants are
// FlatPush (op_common.h); `spec` are the kernel's own constants from id 4 on.

SHADER_PUSH(act_fwd, FlatPush)
SHADER_PUSH(act_bwd, FlatPush)
SHADER_PUSH(geglu_fwd, FlatPush)
SHADER_PUSH(geglu_bwd, FlatPush)
SHADER_PUSH(add, FlatPush)
SHADER_PUSH(scale, FlatPush)

// 4 floats per item when every operand starts on a 4-float boundary and `unit`
// (the size an item must not straddle: the element count, or a row) allows.
static uint32_t flat_vec(Cmd* c, const Tensor* const* in, int nin, const Tensor* out, int64_t unit) {
    if (unit % 4 || tensor_numel(out) % 4) return 1;
    for (int i = 0; i < nin; i++)
        if (tensor_numel(in[i]) % 4 || operand(c, in[i], true).off % 4) return 1;
    return operand(c, out, false).off % 4 ? 1 : 4;
}

static void flat_dispatch(Cmd* c, const char* op, ShaderId id, const Tensor* const* in, int nin, const Tensor* out,
                          int64_t items, uint32_t vec, const uint32_t* spec, int nspec, float alpha) {
    Operand o[3];
    for (int i = 0; i < nin; i++) o[i] = operand(c, in[i], true);
    o[nin] = operand(c, out, false);
    for (int i = 0; i <= nin; i++)
        if (o[i].view.shape[0] + 16 > (int64_t)UINT32_MAX) die("%s: tensors of 2^32 elements need 64-bit indices", op);

    uint32_t wg = c->gpu->tune.wg_size, sp[8] = {wg, 1, 1, vec};
    for (int i = 0; i < nspec; i++) sp[4 + i] = spec[i];
    Bind b[3];
    for (int i = 0; i < nin; i++) b[i] = bind_tex(&o[i].view, (int)vec);
    b[nin] = bind_w(&o[nin].view);
    FlatPush push = {.n = (uint32_t)items, .off_in0 = nin > 0 ? o[0].off : 0, .off_in1 = nin > 1 ? o[1].off : 0,
                     .off_out = o[nin].off, .alpha = alpha};
    uint32_t gx, gy;
    grid_1d(items, wg, &gx, &gy);
    c->label = op;
    cmd_dispatch(c, id, sp, 4 + (uint32_t)nspec, b, (uint32_t)nin + 1, &push, sizeof push, gx, gy, 1);
}

// One item per VEC elements of the output.
static void flat_elementwise(Cmd* c, const char* op, ShaderId id, const Tensor* const* in, int nin, const Tensor* out,
                             const uint32_t* spec, int nspec, float alpha) {
    int64_t n = tensor_numel(out);
    uint32_t vec = flat_vec(c, in, nin, out, n);
    flat_dispatch(c, op, id, in, nin, out, n / vec, vec, spec, nspec, alpha);
}

// ---------------------------------------------------------------------------
// Activations

static void check_act(const char* op, Activation act) {
    if ((unsigned)act > ACT_NONE) die("%s: unknown activation %d", op, (int)act);
}

void op_act_forward(Cmd* c, const Tensor* y, const Tensor* x, Activation act) {
    const char* op = "op_act_forward";
    check_act(op, act);
    int64_t n = tensor_numel(x);
    check_numel(op, "y", y, n);
    check_alias(op, y, x);
    flat_elementwise(c, op, SHADER_ACT_FWD, (const Tensor*[]){x}, 1, y, (uint32_t[]){act}, 1, 0.0f);
}

void op_act_backward(Cmd* c, const Tensor* dx, const Tensor* dy, const Tensor* x, Activation act) {
    const char* op = "op_act_backward";
    check_act(op, act);
    int64_t n = tensor_numel(x);
    check_numel(op, "dy", dy, n);
    check_numel(op, "dx", dx, n);
    if (tensors_overlap(dx, x) || tensors_overlap(dx, dy)) die("%s: dx overlaps x or dy", op);
    flat_elementwise(c, op, SHADER_ACT_BWD, (const Tensor*[]){x, dy}, 2, dx, (uint32_t[]){act}, 1, 0.0f);
}

// ---------------------------------------------------------------------------
// GEGLU: x [R, 2D] -> y [R, D]. The kernels get DT = D / VEC as a spec constant
// (the row of an item is a division by a constant); VEC = 4 needs D % 4 == 0.

static int64_t geglu_D(const char* op, const Tensor* x, const Tensor* y) {
    if (x->ndim < 1 || y->ndim < 1) die("%s: x and y need a last dimension", op);
    int64_t D2 = x->shape[x->ndim - 1], D = y->shape[y->ndim - 1];
    if (D2 != 2 * D) die("%s: x's last dimension %lld is not twice y's %lld", op, (long long)D2, (long long)D);
    if (D < 1 || tensor_numel(x) != 2 * tensor_numel(y))
        die("%s: x has %lld elements, y %lld: x must be [R, 2D] for y [R, D]", op, (long long)tensor_numel(x),
            (long long)tensor_numel(y));
    return D;
}

// items: the count of y (forward) or dy (backward) items, one invocation each.
static void geglu_dispatch(Cmd* c, const char* op, ShaderId id, const Tensor* const* in, int nin, const Tensor* out,
                           int64_t ny, int64_t D) {
    uint32_t vec = flat_vec(c, in, nin, out, D), dt = (uint32_t)(D / vec);
    flat_dispatch(c, op, id, in, nin, out, ny / vec, vec, &dt, 1, 0.0f);
}

void op_geglu_forward(Cmd* c, const Tensor* y, const Tensor* x) {
    const char* op = "op_geglu_forward";
    int64_t D = geglu_D(op, x, y);
    if (tensors_overlap(y, x)) die("%s: y overlaps x", op);
    geglu_dispatch(c, op, SHADER_GEGLU_FWD, (const Tensor*[]){x}, 1, y, tensor_numel(y), D);
}

void op_geglu_backward(Cmd* c, const Tensor* dx, const Tensor* dy, const Tensor* x) {
    const char* op = "op_geglu_backward";
    int64_t D = geglu_D(op, x, dy);
    check_numel(op, "dx", dx, tensor_numel(x));
    if (tensors_overlap(dx, x) || tensors_overlap(dx, dy)) die("%s: dx overlaps x or dy", op);
    // One invocation per item of dy, writing two items of dx: the item count is dy's.
    geglu_dispatch(c, op, SHADER_GEGLU_BWD, (const Tensor*[]){x, dy}, 2, dx, tensor_numel(dy), D);
}

// ---------------------------------------------------------------------------
// Sums and scaling

void op_add(Cmd* c, const Tensor* y, const Tensor* a, const Tensor* b) {
    const char* op = "op_add";
    int64_t n = tensor_numel(y);
    check_numel(op, "a", a, n);
    check_numel(op, "b", b, n);
    check_alias(op, y, a);
    check_alias(op, y, b);
    flat_elementwise(c, op, SHADER_ADD, (const Tensor*[]){a, b}, 2, y, NULL, 0, 0.0f);
}

void op_accumulate(Cmd* c, const Tensor* dst, const Tensor* src, float alpha) {
    const char* op = "op_accumulate";
    check_numel(op, "src", src, tensor_numel(dst));
    if (tensors_overlap(dst, src)) die("%s: dst overlaps src", op);
    flat_elementwise(c, op, SHADER_SCALE, (const Tensor*[]){src}, 1, dst, (uint32_t[]){1}, 1, alpha);
}

void op_scale(Cmd* c, const Tensor* y, const Tensor* x, float alpha) {
    const char* op = "op_scale";
    check_numel(op, "x", x, tensor_numel(y));
    check_alias(op, y, x);
    flat_elementwise(c, op, SHADER_SCALE, (const Tensor*[]){x}, 1, y, (uint32_t[]){0}, 1, alpha);
}

// ---------------------------------------------------------------------------
// Dropout (shaders/dropout.comp): one invocation per float, storage bindings.

#define DROPOUT_PUSH(X)                                                                                    \
    X(uint32_t, n) X(uint32_t, per_row) X(uint32_t, module) X(uint32_t, threshold) X(uint32_t, off_key) \
        X(uint32_t, off_x) X(uint32_t, off_y) X(float, scale)
PUSH_STRUCT(DropoutPush, DROPOUT_PUSH)
SHADER_PUSH(dropout, DropoutPush)

void op_dropout(Cmd* c, const Tensor* y, const Tensor* x, const Tensor* key, DropoutDims d) {
    const char* op = "op_dropout";
    int64_t n = tensor_numel(x);
    check_numel(op, "y", y, n);
    check_numel(op, "key", key, 4);
    if (!(d.p >= 0 && d.p < 1)) die("%s: p = %g is outside [0, 1)", op, d.p);
    if (x->ndim < 1 || x->shape[0] < 1 || n % x->shape[0]) die("%s: x needs rows as its first dimension", op);
    if (tensors_overlap(y, x) || tensors_overlap(y, key)) die("%s: y overlaps x or the key", op);
    if (n + 16 > (int64_t)UINT32_MAX) die("%s: tensors of 2^32 elements need 64-bit indices", op);
    Operand ok = sto(c, key), ox = sto(c, x), oy = sto(c, y);
    uint32_t wg = c->gpu->tune.wg_size, spec[] = {wg, 1, 1, d.accumulate};
    Bind b[] = {bind_r(&ok.view), bind_r(&ox.view), bind_w(&oy.view)};
    DropoutPush push = {.n = (uint32_t)n, .per_row = (uint32_t)(n / x->shape[0]), .module = d.module,
                        .threshold = dropout_threshold(d.p), .off_key = ok.off, .off_x = ox.off, .off_y = oy.off,
                        .scale = (float)(1.0 / (1.0 - d.p))};
    uint32_t gx, gy;
    grid_1d(n, wg, &gx, &gy);
    c->label = op;
    cmd_dispatch(c, SHADER_DROPOUT, spec, 4, b, 3, &push, sizeof push, gx, gy, 1);
}
