// flops.h: floating-point operation counts of the UNet and the CLIP text
// encoder, from the model's configuration and the input shapes alone (no
// recording needed), shared by `vkpref bench train` and `vkpref bench sample`.
//
// Conventions (the usual "model FLOPs"):
//  - one multiply-add is 2 FLOPs;
//  - counted: convolutions (2 N Cout Hout Wout Cin KH KW), linear layers
//    (2 rows in out, including the 1x1 proj_in/proj_out convs and the
//    per-sample time-embedding and time_emb_proj layers) and attention's two
//    matmuls, Q K^T and P V (4 N T S C per attention, C = heads x head_dim);
//    CLIP's causal attention is counted over the full L x L square;
//  - not counted: norms, activations, softmax, bias and residual adds,
//    concatenation, up-sampling, embeddings (gathers), losses, the optimizer;
//  - backward = 2 x forward (gradients of the inputs and of the weights), for
//    every layer, including those whose input gradient is not needed;
//  - recomputation (gradient checkpointing, attention backward recomputing the
//    scores) is not counted: it is overhead, not model work.
#pragma once
#include <stdint.h>

#include "model/clip.h"
#include "model/unet_config.h"

typedef struct FlopCount {
    double conv;       // 3x3 and strided convs, 1x1 shortcut convs
    double linear;     // linear layers and 1x1 projections of the transformers
    double attention;  // Q K^T and P V
} FlopCount;

double flops_total(FlopCount f);
FlopCount flops_add(FlopCount a, FlopCount b);
FlopCount flops_scale(FlopCount a, double s);

// UNet forward on `rows` samples of c->sample_size^2 with text_len conditioning tokens.
FlopCount flops_unet_forward(const UNetConfig* c, int64_t rows, int text_len);
// CLIP text encoder forward on `rows` captions of text_len tokens.
FlopCount flops_clip_forward(const ClipConfig* c, int64_t rows, int text_len);
