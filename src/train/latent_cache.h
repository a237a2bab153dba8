// latent_cache.h: manifest images turned into the latents a latent pipeline's
// UNet trains on, each encoded by the VAE once.
//
// A latent is the posterior mean of the VAE encoder, (mean - shift_factor) x
// scaling_factor: deterministic, so a cached latent is the latent (diffusers'
// DPO script draws latent_dist.sample() per step; the SD VAE's posterior standard
// deviation is small against the noise the step adds, and a cache needs one value).
//
// On disk (when a folder is given): DIR/<vae key>/<image key>.latent, where the
// image key hashes the prepared pixels (so the file's content, the resolution, the
// crop and the flip are all in it) and the VAE key hashes the VAE's config and
// weights as loaded. A file is written whole under a temporary name and renamed,
// so concurrent runs (or ranks) sharing a folder never read half a latent; a file
// that does not read back whole is encoded again and replaced. Each latent is
// latent_channels x (resolution / 8)^2 floats: 64 KiB at 512 px for SD (4 x 64 x 64).
#pragma once
#include "data/manifest.h"
#include "model/pipeline_io.h"

typedef struct LatentCache {
    GpuContext* g;
    DiffusionPipeline* p;
    int image_size;           // pixels (a multiple of the VAE's factor)
    int latent_size;          // image_size / factor
    int64_t image_numel, latent_numel;
    char dir[4096];           // DIR/<vae key>, or "" to keep latents in memory only
    uint64_t vae_key;
    Arena io, tmp;
    VaeScratch scratch;
    Tensor x, mean, logvar;   // [1, C, S, S] in, [1, c, s, s] out (host-visible)
    Cmd cmd;
    int hits, encoded;
} LatentCache;

// Records the encoder for one image of image_size pixels. dir "" keeps nothing on
// disk. 0, or -1 with err naming the folder.
int latent_cache_open(LatentCache* lc, GpuContext* g, DiffusionPipeline* p, int image_size, const char* dir,
                      char* err, size_t errlen);
// The ImageEncoder (data/manifest.h) that fills a manifest with latents.
ImageEncoder latent_cache_encoder(LatentCache* lc, bool flip_variants);
void latent_cache_close(LatentCache* lc);

// The default folder: $XDG_CACHE_HOME/vkpref/latents, else $HOME/.cache/vkpref/latents.
void latent_cache_default_dir(char* out, size_t n);
