// op_eltwise.h: elementwise ops: activations, GEGLU, sums; see ops.h for conventions.
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "gpu/cmd.h"

// Values match activation.glsl. ACT_NONE is the identity (for ops with an optional fused activation).
typedef enum Activation { ACT_SILU = 0, ACT_GELU = 1, ACT_QUICK_GELU = 2, ACT_NONE = 3 } Activation;

// y = act(x); x, y: any shape, same numel.
void op_act_forward(Cmd* c, const Tensor* y, const Tensor* x, Activation act);
// dx += dy * act'(x)
void op_act_backward(Cmd* c, const Tensor* dx, const Tensor* dy, const Tensor* x, Activation act);

// GEGLU (diffusers): h, gate = x.chunk(2, dim=-1); y = h * gelu(gate) with exact GELU.
// x [R, 2D], y [R, D].
void op_geglu_forward(Cmd* c, const Tensor* y, const Tensor* x);
void op_geglu_backward(Cmd* c, const Tensor* dx, const Tensor* dy, const Tensor* x);

// y = a + b (residual connections); any shape, same numel; y may be a or b.
// Its backward is two op_accumulate calls.
void op_add(Cmd* c, const Tensor* y, const Tensor* a, const Tensor* b);
// dst += alpha * src (gradient routing, residual backward); same numel.
void op_accumulate(Cmd* c, const Tensor* dst, const Tensor* src, float alpha);
// y = alpha * x; y may be x.
void op_scale(Cmd* c, const Tensor* y, const Tensor* x, float alpha);

// Dropout with a counter-based mask (LoRA dropout, PEFT's nn.Dropout on the
// adapter's input): y = keep * x / (1 - p), or y += that when accumulate. x, y:
// [rows, ...] (rows: x's first dimension), same numel. key: 4 uint32 words
// (lora_dropout_key in model/lora.h): key0, key1, the first item of the
// micro-batch, items per micro-batch. Element j of row r is dropped when
//   rng_mask_hash(key0, key1, unit, module, j) >> 8 < dropout_threshold(p),
//   unit = (first + r % items) * 8 + r / items   (util/rng.h),
// so the mask depends on (key, the row's global item, the module, the element)
// only: a recomputed forward and a resumed run draw the same mask. The backward
// is the same op on the gradient with accumulate (the mask is diagonal).
typedef struct DropoutDims {
    float p;          // [0, 1)
    uint32_t module;  // which layer (a LoRA adapter's index)
    bool accumulate;
} DropoutDims;
static inline uint32_t dropout_threshold(double p) { return (uint32_t)(p * 16777216.0 + 0.5); }
void op_dropout(Cmd* c, const Tensor* y, const Tensor* x, const Tensor* key, DropoutDims d);
