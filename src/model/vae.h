// vae.h: AutoencoderKL (diffusers), the Stable Diffusion VAE: a frozen model,
// forward only. Built from a diffusers `vae/` folder (config.json and
// diffusion_pytorch_model.safetensors, F32, F16 or BF16), parameters registered
// under their exact diffusers names.
//
// Encoder: conv_in; per block layers_per_block ResNets (no time embedding,
// GroupNorm eps 1e-6, a 1x1 conv_shortcut where the channels change), then, on
// all but the last block, a downsampler (zero pad right and bottom by one, conv
// 3x3 stride 2, no padding); mid block ResNet, attention (one head over all
// channels), ResNet; conv_norm_out, SiLU, conv_out to 2 x latent_channels;
// quant_conv 1x1; the moments split into mean and logvar, logvar clamped to
// [-30, 20]. Decoder: post_quant_conv 1x1, conv_in, mid block, up blocks over the
// reversed channels (layers_per_block + 1 ResNets each, then on all but the last
// nearest 2x and a conv 3x3), conv_norm_out, SiLU, conv_out.
//
// The model struct holds the config and parameter handles only; what a forward
// makes lives in the caller's Graph (temporaries, reset per unit) and a VaeScratch.
#pragma once
#include "io/safetensors.h"
#include "model/layers.h"

#define VAE_MAX_BLOCKS 6
#define VAE_MAX_LAYERS 4  // layers_per_block (the decoder has one more per block)

typedef struct VaeConfig {
    int in_channels, out_channels, latent_channels;
    int nblocks;
    int block_out_channels[VAE_MAX_BLOCKS];
    int layers_per_block;
    int norm_num_groups;
    int sample_size;        // informational (images of any size are accepted)
    float scaling_factor;   // latents = scaling_factor * (z - shift_factor) for the UNet
    float shift_factor;     // 0 when the config has none (SD 1.x / 2.x)
    bool use_quant_conv, use_post_quant_conv, mid_block_add_attention;
} VaeConfig;

// 0 on success; otherwise err names the file and the key. Unknown keys are ignored;
// a value vkpref cannot honour (another block type, act_fn, latents_mean) is refused.
int vae_config_load(VaeConfig* c, const char* path, char* err, size_t errlen);
int vae_config_parse(VaeConfig* c, const char* json_text, const char* source, char* err, size_t errlen);

typedef struct VaeResnet {  // ResnetBlock2D with temb_channels None
    GroupNorm norm1, norm2;
    Conv2d conv1, conv2, conv_shortcut;
    bool has_shortcut;
} VaeResnet;

typedef struct VaeAttention {  // Attention(_from_deprecated_attn_block): one head, residual
    GroupNorm group_norm;
    Linear to_q, to_k, to_v, to_out;  // to_out = to_out.0 (old files: proj_attn)
} VaeAttention;

typedef struct VaeMidBlock {  // UNetMidBlock2D: resnets.0, attentions.0, resnets.1
    VaeResnet res[2];
    VaeAttention attn;
    bool has_attn;
} VaeMidBlock;

typedef struct VaeEncoder {
    Conv2d conv_in, conv_out;
    VaeResnet res[VAE_MAX_BLOCKS][VAE_MAX_LAYERS];
    Conv2d down[VAE_MAX_BLOCKS];  // down_blocks.i.downsamplers.0.conv (i < nblocks - 1)
    VaeMidBlock mid;
    GroupNorm conv_norm_out;
} VaeEncoder;

typedef struct VaeDecoder {
    Conv2d conv_in, conv_out;
    VaeMidBlock mid;
    VaeResnet res[VAE_MAX_BLOCKS][VAE_MAX_LAYERS + 1];
    Conv2d up[VAE_MAX_BLOCKS];  // up_blocks.i.upsamplers.0.conv (i < nblocks - 1)
    GroupNorm conv_norm_out;
} VaeDecoder;

typedef struct AutoencoderKL {
    VaeConfig cfg;
    VaeEncoder enc;
    VaeDecoder dec;
    Conv2d quant_conv, post_quant_conv;
} AutoencoderKL;

// Registers every parameter of cfg's model in ps (nothing is allocated yet).
void vae_init(AutoencoderKL* m, const VaeConfig* cfg, ParamStore* ps);

// Fills every parameter of ps (allocated) from a diffusers VAE file. The mid-block
// attentions may use either naming scheme: group_norm, to_q, to_k, to_v, to_out.0
// or the original SD file's group_norm, query, key, value, proj_attn (diffusers
// renames the latter at load; so does this, tensor by tensor). 0 on success, else
// err names the file and the tensor.
int vae_load_weights(ParamStore* ps, const char* path, char* err, size_t errlen);
int vae_load_weights_from(ParamStore* ps, const SafeTensors* st, char* err, size_t errlen);

// A whole vae/ folder (or a pipeline folder holding one): config.json, then the
// parameters (values only, frozen) from the weights file weights_open finds for
// variant ("" : diffusion_pytorch_model.safetensors, its sharded index, else the
// fp16 file), into ps (initialised here; param_store_free releases it). 0 on
// success; else err names file and key, and nothing is left allocated.
// The values are stored as dtype (F16: half the memory, model/params.h).
int vae_load(AutoencoderKL* m, ParamStore* ps, GpuContext* g, const char* dir, const char* variant, DType dtype,
             char* err, size_t errlen);

// The values a forward carries from unit to unit (a ResNet, the attention, an up-
// or downsampler): two arenas used in turn, each reset before it takes the next
// unit's output (the hazard tracker orders that after the previous readers), so a
// forward holds two unit outputs at a time whatever the depth. Unit internals go
// to the Graph's tmp arena, reset per unit.
typedef struct VaeScratch {
    Arena carry[2];
    int next;
    // Bytes one binding may hold; 0 (vae_scratch_init): the device's limit. Less
    // makes the forward record smaller groups of images, channel pieces and the
    // downsampler's padding-free path, as a device with smaller bindings would.
    uint64_t max_binding_bytes;
} VaeScratch;
void vae_scratch_init(VaeScratch* s, GpuContext* g);
void vae_scratch_free(VaeScratch* s);

// Output sizes: the encoder halves (rounding down after its zero pad) once per
// block but the last; the decoder doubles as often.
int64_t vae_latent_size(const VaeConfig* c, int64_t image_size);
int64_t vae_image_size(const VaeConfig* c, int64_t latent_size);

// Records the encoder: x [N, in_channels, H, W] (images in [-1, 1]) -> mean and
// logvar [N, latent_channels, h, w] (caller-allocated; the posterior's parameters,
// unscaled, logvar clamped to [-30, 20]). g->training must be false: the VAE is frozen.
//
// One binding is limited to the device's maxStorageBufferRange (lavapipe: 128 MiB)
// and arenas never split a tensor. So the batch is recorded in groups of images
// whose largest activation fits one binding, and when even one image's does not
// (the SD decoder at 512 px: 256 x 512 x 512 floats = 256 MiB after its last
// upsampler), its activations are kept as channel pieces of whole GroupNorm groups
// (norms per piece, convs summed over input pieces; vae.c). The mid-block attention
// input (the lowest resolution) must fit one binding, and a piece at least one group.
void vae_encode(Graph* g, const AutoencoderKL* m, VaeScratch* s, const Tensor* x, const Tensor* mean,
                const Tensor* logvar);
// Records the decoder: z [N, latent_channels, h, w] as given (no scaling) ->
// image [N, out_channels, H, W] (caller-allocated).
void vae_decode(Graph* g, const AutoencoderKL* m, VaeScratch* s, const Tensor* z, const Tensor* image);
