// clip.h: CLIPTextModel (transformers names): token + position embeddings,
// pre-LayerNorm encoder layers with causal self-attention and quick_gelu / gelu
// MLPs, final LayerNorm. The UNet conditions on last_hidden_state.
#pragma once
#include "model/unet_blocks.h"

#define CLIP_MAX_LAYERS 24
// Bounds of the config keys (intermediate_size: 4 x hidden): element counts stay far below 2^31.
#define CLIP_MAX_VOCAB (1 << 18)
#define CLIP_MAX_HIDDEN 2048
#define CLIP_MAX_POSITIONS 1024

typedef struct ClipConfig {
    int vocab_size, hidden_size, intermediate_size, num_hidden_layers, num_attention_heads, max_position_embeddings;
    Activation hidden_act;  // ACT_QUICK_GELU or ACT_GELU
    float layer_norm_eps;
} ClipConfig;

int clip_config_load(ClipConfig* c, const char* path, char* err, size_t errlen);
int clip_config_parse(ClipConfig* c, const char* json_text, const char* source, char* err, size_t errlen);
char* clip_config_to_json(const ClipConfig* c);

// ClipTextModel is the architecture and parameter indices (read-only after
// clip_init); what a forward saves for its backward is in a ClipActs, one per
// recording (the split of unet_blocks.h).
typedef struct ClipEncoderLayer {
    LayerNorm ln1, ln2;
    Attention attn;
    Linear fc1, fc2;
} ClipEncoderLayer;

typedef struct ClipTextModel {
    ClipConfig cfg;
    int token_embedding, position_embedding;
    ClipEncoderLayer layers[CLIP_MAX_LAYERS];
    LayerNorm final_ln;
} ClipTextModel;

typedef struct ClipEncoderLayerActs {
    AttentionActs attn;
    Tensor h0, n1, h1, n2, f1, f1act;
    NormSaved s1, s2;
} ClipEncoderLayerActs;

typedef struct ClipActs {
    ClipEncoderLayerActs layers[CLIP_MAX_LAYERS];
    Tensor ids, pos_ids, h_last;
    NormSaved s_final;
} ClipActs;

void clip_init(ClipTextModel* m, const ClipConfig* cfg, ParamStore* ps);
// ids: N*L uint32 token ids (tensor_upload_raw). Saves into s what
// clip_backward needs. Returns last_hidden_state [N, L, hidden] (g->act).
Tensor clip_forward(Graph* g, const ClipTextModel* m, ClipActs* s, const Tensor* ids, int N, int L);
// Accumulates the text encoder's parameter gradients from dout [N, L, hidden],
// for the forward recorded into s.
void clip_backward(Graph* g, const ClipTextModel* m, const ClipActs* s, const Tensor* dout);
