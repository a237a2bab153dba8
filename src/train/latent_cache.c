// latent_cache.c: see latent_cache.h.
#include "train/latent_cache.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/weights.h"
#include "util/check.h"
#include "util/fsutil.h"
#include "util/hash.h"

#define LATENT_MAGIC "VKPLAT01"

typedef struct LatentHeader {
    char magic[8];
    int32_t channels, size;
} LatentHeader;

void latent_cache_default_dir(char* out, size_t n) {
    const char* xdg = getenv("XDG_CACHE_HOME");
    const char* home = getenv("HOME");
    if (xdg && *xdg) snprintf(out, n, "%s/vkpref/latents", xdg);
    else snprintf(out, n, "%s/.cache/vkpref/latents", home && *home ? home : ".");
}

// The VAE as loaded: its config values and every weight.
static uint64_t vae_key(GpuContext* g, const DiffusionPipeline* p) {
    uint64_t h = hash64(HASH64_INIT, &p->vae.cfg, sizeof p->vae.cfg);
    const ParamStore* ps = &p->vae_ps;
    for (int i = 0; i < ps->n; i++) {
        int64_t n = param_numel(ps, i);
        float* v = xmalloc((size_t)n * sizeof *v);
        tensor_download(g, param_slot(ps, i, SLOT_VALUE), v);
        h = hash64(h, ps->e[i].name, strlen(ps->e[i].name));
        h = hash64(h, v, (size_t)n * sizeof *v);
        free(v);
    }
    return h;
}

int latent_cache_open(LatentCache* lc, GpuContext* g, DiffusionPipeline* p, int image_size, const char* dir,
                      char* err, size_t errlen) {
    memset(lc, 0, sizeof *lc);
    const VaeConfig* vc = &p->vae.cfg;
    int factor = (int)vae_image_size(vc, 1);
    if (!p->latent) return fail(err, errlen, "latent cache: the pipeline has no VAE");
    if (image_size % factor || vae_latent_size(vc, image_size) != p->unet_cfg.sample_size)
        return fail(err, errlen, "--resolution %d: the UNet takes %dx%d latents, which the VAE makes from %dx%d images",
                    image_size, p->unet_cfg.sample_size, p->unet_cfg.sample_size,
                    (int)vae_image_size(vc, p->unet_cfg.sample_size), (int)vae_image_size(vc, p->unet_cfg.sample_size));
    lc->g = g, lc->p = p, lc->image_size = image_size;
    lc->latent_size = (int)vae_latent_size(vc, image_size);
    lc->image_numel = (int64_t)vc->in_channels * image_size * image_size;
    lc->latent_numel = (int64_t)vc->latent_channels * lc->latent_size * lc->latent_size;
    if (dir && *dir) {
        lc->vae_key = vae_key(g, p);
        snprintf(lc->dir, sizeof lc->dir, "%s/%016" PRIx64, dir, lc->vae_key);
        if (mkdir_p(lc->dir, err, errlen)) {
            size_t k = strlen(err);
            snprintf(err + k, errlen - k, " (the latent cache: set --latent_cache_dir, or --cache_latents false)");
            return -1;
        }
    }
    arena_init(&lc->io, g, "latent cache io", 0, true);
    arena_init(&lc->tmp, g, "latent cache temporaries", 0, false);
    vae_scratch_init(&lc->scratch, g);
    lc->x = arena_tensor4(&lc->io, 1, vc->in_channels, image_size, image_size);
    lc->mean = arena_tensor4(&lc->io, 1, vc->latent_channels, lc->latent_size, lc->latent_size);
    lc->logvar = arena_tensor4(&lc->io, 1, vc->latent_channels, lc->latent_size, lc->latent_size);
    cmd_begin(&lc->cmd, g);
    Graph gr = {.cmd = &lc->cmd, .ps = &p->vae_ps, .tmp = &lc->tmp, .training = false};
    vae_encode(&gr, &p->vae, &lc->scratch, &lc->x, &lc->mean, &lc->logvar);
    cmd_end(&lc->cmd);
    return 0;
}

void latent_cache_close(LatentCache* lc) {
    if (!lc->g) return;
    cmd_free(&lc->cmd);
    vae_scratch_free(&lc->scratch);
    arena_free(&lc->io), arena_free(&lc->tmp);
    memset(lc, 0, sizeof *lc);
}

// The unscaled mean from the file, when it is whole and of this shape.
static bool read_latent(const LatentCache* lc, const char* path, float* out) {
    FILE* f = fopen(path, "rb");
    if (!f) return false;
    LatentHeader h;
    bool ok = fread(&h, sizeof h, 1, f) == 1 && !memcmp(h.magic, LATENT_MAGIC, 8) &&
              h.channels == lc->p->vae.cfg.latent_channels && h.size == lc->latent_size &&
              fread(out, sizeof *out, (size_t)lc->latent_numel, f) == (size_t)lc->latent_numel && fgetc(f) == EOF;
    fclose(f);
    return ok;
}

static int write_latent(const LatentCache* lc, const char* path, const float* mean, char* err, size_t errlen) {
    size_t n = sizeof(LatentHeader) + (size_t)lc->latent_numel * sizeof *mean;
    char* buf = xmalloc(n);
    LatentHeader h = {.channels = lc->p->vae.cfg.latent_channels, .size = lc->latent_size};
    memcpy(h.magic, LATENT_MAGIC, 8);
    memcpy(buf, &h, sizeof h);
    memcpy(buf + sizeof h, mean, (size_t)lc->latent_numel * sizeof *mean);
    int r = write_file_atomic(path, buf, n, err, errlen);
    free(buf);
    return r;
}

static int encode_image(void* ctx, const float* image, float* out, char* err, size_t errlen) {
    LatentCache* lc = ctx;
    const VaeConfig* vc = &lc->p->vae.cfg;
    char path[4200] = "";
    bool cached = false;
    if (*lc->dir) {
        uint64_t a = hash64(HASH64_INIT, image, (size_t)lc->image_numel * sizeof *image);
        uint64_t b = hash64(a ^ 0x5851F42D4C957F2Dull, &lc->image_size, sizeof lc->image_size);
        snprintf(path, sizeof path, "%s/%016" PRIx64 "%016" PRIx64 ".latent", lc->dir, a, b);
        cached = read_latent(lc, path, out);
    }
    if (!cached) {
        memcpy(tensor_host_ptr(&lc->x), image, (size_t)lc->image_numel * sizeof *image);
        cmd_submit(&lc->cmd);
        memcpy(out, tensor_host_ptr(&lc->mean), (size_t)lc->latent_numel * sizeof *out);
        if (*path && write_latent(lc, path, out, err, errlen)) {
            size_t k = strlen(err);
            snprintf(err + k, errlen - k, " (the latent cache: set --latent_cache_dir, or --cache_latents false)");
            return -1;
        }
        lc->encoded++;
    } else {
        lc->hits++;
    }
    for (int64_t j = 0; j < lc->latent_numel; j++) out[j] = (out[j] - vc->shift_factor) * vc->scaling_factor;
    return 0;
}

ImageEncoder latent_cache_encoder(LatentCache* lc, bool flip_variants) {
    return (ImageEncoder){.channels = lc->p->vae.cfg.latent_channels, .size = lc->latent_size,
                          .variants = flip_variants ? 2 : 1, .encode = encode_image, .ctx = lc};
}
