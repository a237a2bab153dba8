// cmd_forward_vae.c: `vkpref forward --vae DIR --inputs IN.safetensors --out OUT.safetensors`:
// the AutoencoderKL of a diffusers vae/ folder on given inputs, for parity checks
// with diffusers (DIR: a vae/ folder or a pipeline folder holding one). IN holds `pixels` [B, in_channels, H, W] (images in [-1, 1])
// and/or `latents` [B, latent_channels, h, w] (SD: 4 channels, h = H / 8). OUT
// gets, for pixels, `latent_mean` and `latent_logvar` (the encoder's posterior,
// unscaled: no scaling_factor) and, for latents, `decoded` (the decoder of the
// latents as given: the caller divides by scaling_factor first if it has to).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "io/safetensors.h"
#include "model/vae.h"
#include "model/weights.h"
#include "util/check.h"

// The tensor `name` of IN uploaded, or an empty tensor (ndim 0) when IN lacks it.
static Tensor optional_input(GpuContext* g, Arena* a, const SafeTensors* st, const char* name, int channels,
                             const char* channels_key) {
    Tensor d = {0};
    const StTensor* t = st_find(st, name);
    if (!t) return d;
    if (t->ndim != 4 || t->shape[1] != channels || t->shape[0] < 1 || t->shape[2] < 1 || t->shape[3] < 1)
        die("%s: \"%s\" must be [B, %d, H, W] (%s of the VAE's config.json), got %d dimensions%s%lld", st_path(st), name,
            channels, channels_key, t->ndim, t->ndim > 1 ? " with channels " : "", t->ndim > 1 ? (long long)t->shape[1] : 0LL);
    return weights_upload_tensor(g, a, st, t);
}

int cmd_forward_vae(const char* vae_dir, const char* in, const char* out, int device) {
    char err[1024];
    GpuContext g;
    GpuOptions go = GPU_DEFAULTS;
    go.device = device;
    if (gpu_init(&g, &go)) die("no usable Vulkan device (see `vkpref info`)");
    AutoencoderKL m;
    ParamStore ps;
    if (vae_load(&m, &ps, &g, vae_dir, "", DTYPE_F32, err, sizeof err)) die("%s", err);
    const VaeConfig* c = &m.cfg;

    SafeTensors* st = st_open(in, err, sizeof err);
    if (!st) die("%s", err);
    Arena io, tmp;
    arena_init(&io, &g, "io", 0, false), arena_init(&tmp, &g, "tmp", 0, false);
    Tensor x = optional_input(&g, &io, st, "pixels", c->in_channels, "in_channels");
    Tensor z = optional_input(&g, &io, st, "latents", c->latent_channels, "latent_channels");
    if (!x.ndim && !z.ndim) die("%s: no tensor \"pixels\" or \"latents\": nothing to encode or decode", in);
    Tensor mean = {0}, logvar = {0}, image = {0};
    if (x.ndim) {
        int64_t h = vae_latent_size(c, x.shape[2]), w = vae_latent_size(c, x.shape[3]);
        if (h < 1 || w < 1)
            die("%s: \"pixels\" of %lldx%lld are too small for the VAE's %d downsamplers", in, (long long)x.shape[2],
                (long long)x.shape[3], c->nblocks - 1);
        mean = arena_tensor4(&io, x.shape[0], c->latent_channels, h, w);
        logvar = arena_tensor4(&io, x.shape[0], c->latent_channels, h, w);
    }
    if (z.ndim)
        image = arena_tensor4(&io, z.shape[0], c->out_channels, vae_image_size(c, z.shape[2]),
                              vae_image_size(c, z.shape[3]));
    st_close(st);

    VaeScratch s;
    vae_scratch_init(&s, &g);
    Cmd cmd;
    cmd_begin(&cmd, &g);
    Graph gr = {.cmd = &cmd, .ps = &ps, .tmp = &tmp, .training = false};
    if (x.ndim) vae_encode(&gr, &m, &s, &x, &mean, &logvar);
    if (z.ndim) vae_decode(&gr, &m, &s, &z, &image);
    cmd_submit(&cmd);
    cmd_free(&cmd);

    StWriter w;
    st_writer_init(&w, ST_F32);
    float *mh = NULL, *lh = NULL, *ih = NULL;
    if (x.ndim) {
        mh = tensor_download_new(&g, &mean), lh = tensor_download_new(&g, &logvar);
        st_writer_add(&w, "latent_mean", 4, mean.shape, mh);
        st_writer_add(&w, "latent_logvar", 4, logvar.shape, lh);
    }
    if (z.ndim) ih = tensor_download_new(&g, &image), st_writer_add(&w, "decoded", 4, image.shape, ih);
    int r = st_writer_write(&w, out, err, sizeof err);
    st_writer_free(&w);
    if (r) die("%s", err);
    free(mh), free(lh), free(ih);
    vae_scratch_free(&s);
    arena_free(&io), arena_free(&tmp);
    param_store_free(&ps);
    gpu_free(&g);
    return 0;
}
