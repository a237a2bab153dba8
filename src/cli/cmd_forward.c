// cmd_forward.c: `vkpref forward --unet DIR --inputs IN.safetensors --out OUT.safetensors [--grad]`:
// one UNet forward (and backward) on given inputs, for parity checks with diffusers.
// IN: x_t [N,C,H,W], timesteps [N] (I64, I32 or F32), encoder_hidden_states [N,L,D],
// and with --grad noise [N,C,H,W]. OUT: output; with --grad also loss (mean of
// (output - noise)^2 over every element) and grad.<parameter> for every parameter.
// --lora FILE (repeatable, with --lora_scale) applies adapter files to the UNet;
// with --grad (one file) the base is frozen and the gradients are the adapters'
// (grad.<module>.lora_A.weight, ...), as a LoRA training step computes them.
// `vkpref forward --vae DIR ...` runs an AutoencoderKL instead (cmd_forward_vae.c):
// IN holds pixels [B,C,H,W] in [-1,1] and/or latents; OUT gets latent_mean,
// latent_logvar (unscaled) and decoded (of the latents as given).
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "io/safetensors.h"
#include "model/lora.h"
#include "model/unet.h"
#include "model/weights.h"
#include "util/check.h"
#include "util/options.h"

typedef struct ForwardConfig {
    char unet[OPT_STR_MAX], vae[OPT_STR_MAX], inputs[OPT_STR_MAX], out[OPT_STR_MAX];
    bool grad;
    int device;
    OptStrings lora, lora_scale;
} ForwardConfig;

#define O(name, type, def, range, help) {#name, type, offsetof(ForwardConfig, name), def, help, range}
static const OptSpec SPECS[] = {
    O(unet, OPT_STRING, "", OPT_ANY, "the UNet folder (config.json, diffusion_pytorch_model.safetensors)"),
    O(vae, OPT_STRING, "", OPT_ANY, "instead of --unet: a diffusers vae/ folder (or a pipeline folder with vae/); IN holds "
                           "pixels and/or latents, OUT gets latent_mean, latent_logvar and decoded"),
    O(inputs, OPT_STRING, "", OPT_ANY, "safetensors with x_t, timesteps, encoder_hidden_states (and noise for --grad), or "
                              "pixels/latents with --vae; required"),
    O(out, OPT_STRING, "", OPT_ANY, "safetensors to write: output (and loss, grad.<parameter> with --grad); required"),
    O(grad, OPT_BOOL, "false", OPT_ANY, "also the backward of mean((output - noise)^2)"),
    O(device, OPT_INT, "-1", OPT_GE(-1), "Vulkan device index (see `vkpref info`)"),
    O(lora, OPT_STRING_LIST, "", OPT_ANY, "LoRA adapter file applied to the UNet (repeatable: they add up); with --grad "
                             "one file, the base frozen, and OUT gets the adapters' gradients"),
    O(lora_scale, OPT_STRING_LIST, "1", OPT_ANY, "LoRA strength (alpha / r times this): one for every --lora, or one per --lora"),
};
#undef O
static const OptTable TABLE = {.command = "forward",
                               .summary = "One UNet forward (and backward) on given inputs, for parity checks with "
                                          "diffusers.",
                               .specs = SPECS, .n = sizeof SPECS / sizeof *SPECS};

static Tensor input_tensor(GpuContext* g, Arena* a, const SafeTensors* st, const char* name, int ndim) {
    const StTensor* t = st_find(st, name);
    if (!t) die("%s: no tensor \"%s\"", st_path(st), name);
    if (t->ndim != ndim) die("%s: \"%s\" has %d dimensions, expected %d", st_path(st), name, t->ndim, ndim);
    return weights_upload_tensor(g, a, st, t);
}

int cmd_forward(int argc, char** argv) {
    ForwardConfig fc;
    int pr = opts_parse(&TABLE, &fc, argc, argv);
    if (pr) return pr > 0 ? 0 : 2;
    if (!*fc.unet == !*fc.vae || !*fc.inputs || !*fc.out || (*fc.vae && fc.grad)) {
        fprintf(stderr, "vkpref forward: give --unet DIR or --vae DIR (not both; --grad only with --unet), --inputs "
                        "IN.safetensors and --out OUT.safetensors (see `vkpref forward --help`)\n");
        return 2;
    }
    char path[4096], err[1024];
    LoraFiles lf;
    if (lora_files_parse(&lf, &fc.lora, &fc.lora_scale, err, sizeof err)) die("%s", err);
    if (lf.n && *fc.vae) die("--lora: adapters apply to a UNet (--unet), not to --vae");
    if (lf.n > 1 && fc.grad) die("--lora: --grad takes one adapter file (the gradients of its adapters), got %d", lf.n);
    if (*fc.vae) return cmd_forward_vae(fc.vae, fc.inputs, fc.out, fc.device);
    const char *unet_dir = fc.unet, *in = fc.inputs, *out = fc.out;
    bool grad = fc.grad;
    int device = fc.device;
    bool lora_grad = grad && lf.n;  // the adapters' gradients, the base frozen
    UNetConfig cfg;
    snprintf(path, sizeof path, "%s/config.json", unet_dir);
    if (unet_config_load(&cfg, path, err, sizeof err)) die("%s", err);
    GpuContext g;
    GpuOptions go = GPU_DEFAULTS;
    go.device = device;
    if (gpu_init(&g, &go)) die("no usable Vulkan device (see `vkpref info`)");
    ParamStore ps;
    param_store_init(&ps, &g);
    UNet u;
    unet_init(&u, &cfg, &ps);
    param_store_alloc(&ps, grad && !lora_grad, false, false);
    snprintf(path, sizeof path, "%s/diffusion_pytorch_model.safetensors", unet_dir);
    if (weights_load(&ps, path, NULL, err, sizeof err)) die("%s", err);
    LoraSet lora[LORA_FILES_MAX];
    if (lora_grad ? lora_load_with_grads(&lora[0], &g, &ps, lf.path[0], lf.scale[0], err, sizeof err)
                  : lora_load_files(lora, &g, &ps, LORA_UNET, &lf, err, sizeof err))
        die("%s (--lora)", err);
    for (int i = 0; i < lf.n; i++)
        if (lora[i].skipped)
            fprintf(stderr, "vkpref forward: %s: %d text-encoder tensors not applied (forward runs the UNet)\n",
                    lf.path[i], lora[i].skipped);
    ParamStore* trained = lora_grad ? &lora[0].ps : &ps;  // whose gradients OUT gets

    SafeTensors* st = st_open(in, err, sizeof err);
    if (!st) die("%s", err);
    Arena io, act, tmp, gr;
    arena_init(&io, &g, "io", 0, false), arena_init(&act, &g, "act", 0, false);
    arena_init(&tmp, &g, "tmp", 0, false), arena_init(&gr, &g, "grad", 0, false);
    Tensor sink = lora_grad ? arena_tensor1(&io, lora_frozen_sink_numel(&ps)) : (Tensor){0};
    Tensor x = input_tensor(&g, &io, st, "x_t", 4), ts = input_tensor(&g, &io, st, "timesteps", 1);
    Tensor ehs = input_tensor(&g, &io, st, "encoder_hidden_states", 3);
    int64_t N = x.shape[0];
    Tensor noise, mse = arena_tensor1(&io, N), coef = arena_tensor1(&io, N);
    if (grad) {
        noise = input_tensor(&g, &io, st, "noise", 4);
        float* c = xmalloc((size_t)N * sizeof *c);
        for (int i = 0; i < N; i++) c[i] = 1.0f / (float)N;
        tensor_upload(&g, &coef, c);
        free(c);
    }
    st_close(st);

    Cmd c;
    cmd_begin(&c, &g);
    Graph gr_ctx = {.cmd = &c, .ps = &ps, .act = &act, .tmp = &tmp, .grad = &gr, .training = grad,
                    .lora = lf.n ? &lora[0] : NULL, .frozen_sink = lora_grad ? &sink : NULL};
    UNetActs* acts = xcalloc(1, sizeof *acts);
    Tensor y = unet_forward(&gr_ctx, &u, acts, &x, &ts, &ehs);
    if (grad) {
        op_mse_per_sample_forward(&c, &mse, &y, &noise);
        Tensor dy = graph_grad_like(&gr_ctx, &y);
        op_mse_per_sample_backward(&c, &dy, &coef, &y, &noise);
        unet_backward(&gr_ctx, &u, acts, &dy, NULL);
    }
    free(acts);
    cmd_submit(&c);
    cmd_free(&c);

    StWriter w;
    st_writer_init(&w, ST_F32);
    float* yh = tensor_download_new(&g, &y);
    st_writer_add(&w, "output", 4, y.shape, yh);
    float loss = 0, *mh = NULL, **gh = NULL;
    char (*names)[PARAM_NAME_MAX + 8] = NULL;
    if (grad) {
        mh = tensor_download_new(&g, &mse);
        for (int i = 0; i < N; i++) loss += mh[i] / (float)N;
        st_writer_add(&w, "loss", 0, NULL, &loss);
        gh = xcalloc((size_t)trained->n, sizeof *gh);
        names = xcalloc((size_t)trained->n, sizeof *names);
        for (int i = 0; i < trained->n; i++) {
            const ParamEntry* e = &trained->e[i];
            gh[i] = tensor_download_new(&g, &e->grad);
            snprintf(names[i], sizeof names[i], "grad.%s", e->name);
            st_writer_add(&w, names[i], e->ndim, e->shape, gh[i]);
        }
    }
    int r = st_writer_write(&w, out, err, sizeof err);
    st_writer_free(&w);
    if (r) die("%s", err);
    free(yh), free(mh), free(names);
    for (int i = 0; grad && i < trained->n; i++) free(gh[i]);
    free(gh);
    if (lora_grad) lora_set_free(&lora[0]);
    else lora_free_files(lora, &lf);
    arena_free(&io), arena_free(&act), arena_free(&tmp), arena_free(&gr);
    param_store_free(&ps);
    gpu_free(&g);
    opts_free(&TABLE, &fc);
    return 0;
}
