// unet_config.h: the UNet2DConditionModel config.json subset vkpref supports
// Unknown keys are ignored; an unsupported value is an
// error naming the key.
#pragma once
#include <stdbool.h>
#include <stddef.h>

#define UNET_MAX_BLOCKS 6
// Bounds of the config keys: far above the models vkpref trains, low enough that
// no size computed from them overflows or asks for an absurd allocation.
#define UNET_MAX_CHANNELS 4096           // block_out_channels, cross_attention_dim, norm_num_groups
#define UNET_MAX_IO_CHANNELS 64          // in_channels, out_channels
#define UNET_MAX_SAMPLE_SIZE 1024
#define UNET_MAX_LAYERS_PER_BLOCK 8
#define UNET_MAX_FEATURE_MAP (1 << 26)   // values of one image's feature map in any block

typedef enum BlockType { BLOCK_PLAIN, BLOCK_CROSS_ATTN } BlockType;

typedef struct UNetConfig {
    int sample_size, in_channels, out_channels;
    int nblocks;
    int block_out_channels[UNET_MAX_BLOCKS];
    int layers_per_block;
    BlockType down[UNET_MAX_BLOCKS], up[UNET_MAX_BLOCKS];
    int heads[UNET_MAX_BLOCKS];  // attention heads per down block (diffusers: attention_head_dim)
    int cross_attention_dim;
    int norm_num_groups;
    float norm_eps;
    bool flip_sin_to_cos;
    float freq_shift;
    bool use_linear_projection;
} UNetConfig;

// 0 on success; otherwise err names the file and the key.
int unet_config_load(UNetConfig* c, const char* path, char* err, size_t errlen);
int unet_config_parse(UNetConfig* c, const char* json_text, const char* source, char* err, size_t errlen);
// config.json text in diffusers' format (malloc'ed; the caller writes it atomically).
char* unet_config_to_json(const UNetConfig* c);
int unet_time_embed_dim(const UNetConfig* c);
