// graph.h: the recording context a model's forward and backward write into.
// Activations are allocated while recording (shapes are fixed for a run, the
// recording is replayed every step), so "planning" is the first recording.
#pragma once
#include <stdbool.h>

#include "gpu/cmd.h"
#include "model/params.h"

typedef struct Graph {
    Cmd* cmd;
    ParamStore* ps;
    Arena* act;    // forward outputs kept for backward (or across blocks)
    Arena* tmp;    // forward-only temporaries; reset per block when !training
    Arena* grad;   // activation gradients, zeroed when allocated
    bool training; // keep what backward needs; false: the frozen reference / sampling
    // Gradient checkpointing's scratch (unet.h): one unit's internal values (and,
    // in backward, their gradients) at a time, reset per unit. NULL: tmp, which a
    // training recording does not use otherwise.
    Arena* recompute;
    // LoRA adapters applied by the Linear layers (model/lora.h); NULL: the base model.
    const struct LoraSet* lora;
    // Apply the set's dropout (a training policy's forward, its recomputations and
    // its backward; never the reference, sampling or validation).
    bool lora_dropout;
    // Where frozen norms write the scale and shift gradients their backward
    // kernels always produce (a scratch of at least 2 C + 64 floats for the
    // widest norm, never read): needed when the input gradient must flow through
    // frozen norms (LoRA). Frozen convolutions and linears compute only their
    // input gradient. NULL: every norm met in backward is trainable.
    const Tensor* frozen_sink;
} Graph;

// A forward output that backward needs (training) or that outlives its block.
Tensor graph_act(Graph* g, int ndim, const int64_t* shape);
// A forward value used only inside one block when not training.
Tensor graph_tmp(Graph* g, int ndim, const int64_t* shape);
// A zeroed gradient buffer (backward ops accumulate into it).
Tensor graph_grad(Graph* g, int ndim, const int64_t* shape);
// Gradient buffer shaped like t.
Tensor graph_grad_like(Graph* g, const Tensor* t);
// Forget the temporaries (inference: called between blocks; the hazard tracker
// orders reuse of the memory after earlier readers).
void graph_tmp_reset(Graph* g);
