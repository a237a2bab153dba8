// unet.h: UNet2DConditionModel (diffusers) built from a UNetConfig: explicit
// forward and backward over the blocks in unet_blocks.h, parameters under their
// exact diffusers names.
#pragma once
#include "model/unet_blocks.h"
#include "model/unet_config.h"

#define UNET_MAX_LAYERS 4
#define UNET_MAX_SKIPS (1 + UNET_MAX_BLOCKS * (UNET_MAX_LAYERS + 1))

// The model (UNet and its blocks) is the architecture and parameter indices
// into a ParamStore: read-only after unet_init, so the policy and its frozen
// reference are recorded from one description against two stores registered
// with the same parameter list (each Graph names its store). What a forward
// saves for its backward is in a UNetActs, mirroring the tree, one per
// recording (unet_blocks.h).
typedef struct UNetDownBlock {  // DownBlock2D / CrossAttnDownBlock2D
    int nlayers;
    bool has_attn, has_down;
    ResnetBlock2D res[UNET_MAX_LAYERS];
    Transformer2DModel attn[UNET_MAX_LAYERS];
    Conv2d down;                // downsamplers.0.conv
} UNetDownBlock;

typedef struct UNetUpBlock {    // UpBlock2D / CrossAttnUpBlock2D: layers_per_block + 1 resnets on concatenated skips
    int nlayers;
    bool has_attn, has_up;
    ResnetBlock2D res[UNET_MAX_LAYERS + 1];
    Transformer2DModel attn[UNET_MAX_LAYERS + 1];
    Conv2d up;                  // upsamplers.0.conv after nearest 2x
    int skip_index[UNET_MAX_LAYERS + 1];  // the skip connection concatenated before each resnet
} UNetUpBlock;

typedef struct UNet {
    UNetConfig cfg;
    Linear time_linear_1, time_linear_2;
    Conv2d conv_in, conv_out;
    GroupNorm conv_norm_out;
    UNetDownBlock down[UNET_MAX_BLOCKS];
    ResnetBlock2D mid_res[2];
    Transformer2DModel mid_attn;
    UNetUpBlock up[UNET_MAX_BLOCKS];
    int nskips;  // skip connections: conv_in's output and every down-path unit output
} UNet;

typedef struct UNetDownBlockActs {
    ResnetActs res[UNET_MAX_LAYERS];
    Transformer2DActs attn[UNET_MAX_LAYERS];
    Tensor res_out[UNET_MAX_LAYERS];
} UNetDownBlockActs;

typedef struct UNetUpBlockActs {
    ResnetActs res[UNET_MAX_LAYERS + 1];
    Transformer2DActs attn[UNET_MAX_LAYERS + 1];
    Tensor h_in[UNET_MAX_LAYERS + 1], cat[UNET_MAX_LAYERS + 1], res_out[UNET_MAX_LAYERS + 1];
    Tensor pre_up, upsampled;
} UNetUpBlockActs;

// One recording's activations. Zero-initialise it ({0}, calloc) before its
// first forward: gradient_checkpointing is the one field a caller sets.
// Inference recordings (sampling, validation, the frozen reference) pass one
// too: the forward is one code path that fills the same slots with or without
// training. A replay reads the arenas, never this struct, so it need only live
// while recording (about 150 KB: callers allocate it rather than use the stack).
typedef struct UNetActs {
    bool gradient_checkpointing;  // set by unet_set_gradient_checkpointing
    bool checkpointed;            // the recorded forward kept only unit inputs: backward recomputes
    UNetDownBlockActs down[UNET_MAX_BLOCKS];
    ResnetActs mid_res[2];
    Transformer2DActs mid_attn;
    UNetUpBlockActs up[UNET_MAX_BLOCKS];
    Tensor x, timesteps, tsin, t1, t1act, emb, temb_act, ehs;
    Tensor skips[UNET_MAX_SKIPS];
    Tensor mid_r0, mid_a, mid_out, final_h, final_n;
    NormSaved s_out;
} UNetActs;

// Registers every parameter of cfg's model in ps (nothing is allocated yet).
void unet_init(UNet* u, const UNetConfig* cfg, ParamStore* ps);
// x [N, in_channels, S, S]; timesteps [N] (float); ehs [N, L, cross_attention_dim].
// Reads the weights of g->ps and saves into s what unet_backward needs (when
// g->training). Returns the prediction [N, out_channels, S, S] (kept in g->act).
Tensor unet_forward(Graph* g, const UNet* u, UNetActs* s, const Tensor* x, const Tensor* timesteps,
                    const Tensor* ehs);
// Accumulates every parameter gradient and, when dehs is not NULL, dL/d ehs,
// from the forward recorded into s (same u, same g). With checkpointing it
// records each unit's forward into s again.
void unet_backward(Graph* g, const UNet* u, UNetActs* s, const Tensor* dout, const Tensor* dehs);

// Gradient checkpointing (diffusers' enable_gradient_checkpointing), for
// training forwards recorded into s after this call. The forward is cut into
// units: a resnet, a Transformer2DModel, an up block's skip concatenation +
// resnet, an upsampler (finer than diffusers' blocks: a down block's unit
// outputs are skip connections kept anyway, and the scratch then holds one
// unit, not a block).
// g->act keeps only what crosses units (their outputs, the time embedding, the
// final norm); each unit's internals go to a scratch arena (Graph.recompute, else
// Graph.tmp) reset per unit. unet_backward records each unit's forward again,
// with the same functions, into that arena just before its backward, whose
// internal gradients go there too (g->grad keeps the gradients that cross
// units). The ops and their order are those without checkpointing, so the
// gradients are bit-identical. Cost: about one more forward of compute.
void unet_set_gradient_checkpointing(UNetActs* s, bool on);
