// pipeline_io.c: see pipeline_io.h.
#include "model/pipeline_io.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model/pipeline_index.h"
#include "model/weights.h"
#include "util/check.h"
#include "util/fsutil.h"

static int write_text(const char* dir, const char* name, char* text, char* err, size_t errlen) {
    char path[8192];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) {
        free(text);
        snprintf(err, errlen, "%s: path too long", dir);
        return -1;
    }
    int r = write_file_atomic(path, text, strlen(text), err, errlen);
    free(text);
    return r;
}

static int subdir(const char* root, const char* name, char* out, size_t n, char* err, size_t errlen) {
    if (snprintf(out, n, "%s/%s", root, name) >= (int)n) {
        snprintf(err, errlen, "%s: path too long", root);
        return -1;
    }
    if (mkdir(out, 0755) && !path_is_dir(out)) {
        snprintf(err, errlen, "%s: cannot create folder", out);
        return -1;
    }
    return 0;
}

static const char* const TOKENIZER_FILES[] = {"vocab.json", "merges.txt", "tokenizer_config.json",
                                               "special_tokens_map.json"};

// Copies the tokenizer files of a loaded pipeline (optional ones when present).
static int copy_tokenizer(const char* from, const char* to, char* err, size_t errlen) {
    if (!from || !*from) {
        snprintf(err, errlen, "%s: no tokenizer to write", to);
        return -1;
    }
    for (size_t i = 0; i < sizeof TOKENIZER_FILES / sizeof *TOKENIZER_FILES; i++) {
        char src[8192], dst[8192];
        snprintf(src, sizeof src, "%s/%s", from, TOKENIZER_FILES[i]);
        snprintf(dst, sizeof dst, "%s/%s", to, TOKENIZER_FILES[i]);
        if (i >= 2 && !path_exists(src)) continue;
        size_t n;
        char* data = read_file(src, &n, err, errlen);
        if (!data) return -1;
        int r = write_file_atomic(dst, data, n, err, errlen);
        free(data);
        if (r) return -1;
    }
    return 0;
}

int frozen_dtype_parse(const char* text, FrozenDType* out, char* err, size_t errlen) {
    if (!strcmp(text, "auto")) *out = FROZEN_AUTO;
    else if (!strcmp(text, "fp32") || !strcmp(text, "float32")) *out = FROZEN_F32;
    else if (!strcmp(text, "fp16") || !strcmp(text, "float16") || !strcmp(text, "half")) *out = FROZEN_F16;
    else {
        snprintf(err, errlen, "--frozen_dtype %s: use auto, fp32 or fp16", text);
        return -1;
    }
    return 0;
}

DType frozen_dtype_resolve(FrozenDType f, bool latent) {
    return f == FROZEN_F16 || (f == FROZEN_AUTO && latent) ? DTYPE_F16 : DTYPE_F32;
}

const char* frozen_dtype_name(DType d) { return d == DTYPE_F16 ? "fp16" : "fp32"; }

// A component's file type: F16 when asked, or when it is held in F16 (nothing to gain from F32).
static StDtype file_dtype(const ParamStore* ps, bool f16) { return f16 || ps->dtype == DTYPE_F16 ? ST_F16 : ST_F32; }

int pipeline_save(const PipelineParts* p, const char* dir, char* err, size_t errlen) {
    if (mkdir_p(dir, err, errlen)) return -1;
    char sub[4096], path[8192];
    const char* index =
        "{\n  \"_class_name\": \"StableDiffusionPipeline\",\n  \"_diffusers_version\": \"0.21.0\",\n"
        "  \"unet\": [\"diffusers\", \"UNet2DConditionModel\"],\n  \"text_encoder\": [\"transformers\", \"CLIPTextModel\"],\n"
        "  \"tokenizer\": [\"transformers\", \"CLIPTokenizer\"],\n  \"scheduler\": [\"diffusers\", \"DDPMScheduler\"],\n"
        "  \"vae\": %s,\n  \"safety_checker\": [null, null],\n  \"feature_extractor\": [null, null],\n"
        "  \"requires_safety_checker\": false\n}\n";
    char index_text[1024];
    snprintf(index_text, sizeof index_text, index, p->vae_ps ? "[\"diffusers\", \"AutoencoderKL\"]" : "[null, null]");
    int r = subdir(dir, "unet", sub, sizeof sub, err, errlen);
    if (!r) r = write_text(sub, "config.json", unet_config_to_json(p->unet_cfg), err, errlen);
    if (!r) snprintf(path, sizeof path, "%s/diffusion_pytorch_model.safetensors", sub),
            r = weights_save(p->unet_ps, path, p->use_ema, file_dtype(p->unet_ps, p->f16), err, errlen);
    if (!r) r = subdir(dir, "text_encoder", sub, sizeof sub, err, errlen);
    if (!r) r = write_text(sub, "config.json", clip_config_to_json(p->clip_cfg), err, errlen);
    if (!r) snprintf(path, sizeof path, "%s/model.safetensors", sub),
            r = weights_save(p->text_ps, path, false, file_dtype(p->text_ps, p->f16), err, errlen);
    if (!r) r = subdir(dir, "tokenizer", sub, sizeof sub, err, errlen);
    if (!r) r = p->vocab ? bpe_save(p->vocab, sub, p->model_max_length, err, errlen)
                         : copy_tokenizer(p->tokenizer_dir, sub, err, errlen);
    if (!r) r = subdir(dir, "scheduler", sub, sizeof sub, err, errlen);
    if (!r) r = write_text(sub, "scheduler_config.json", scheduler_config_to_json(p->sched), err, errlen);
    if (!r && p->vae_ps) {  // the VAE as loaded (frozen): its config file, its weights under current names
        char src[8192];
        size_t n;
        snprintf(src, sizeof src, "%s/config.json", p->vae_dir);
        char* cfg = read_file(src, &n, err, errlen);
        r = cfg ? subdir(dir, "vae", sub, sizeof sub, err, errlen) : -1;
        if (!r) r = write_text(sub, "config.json", cfg, err, errlen);
        else free(cfg);
        if (!r) snprintf(path, sizeof path, "%s/diffusion_pytorch_model.safetensors", sub),
                r = weights_save(p->vae_ps, path, false, file_dtype(p->vae_ps, p->f16), err, errlen);
    }
    // model_index.json last: a folder without it is visibly not a finished pipeline.
    if (!r) r = write_text(dir, "model_index.json", strdup(index_text), err, errlen);
    return r;
}

int pipeline_create(DiffusionPipeline* p, GpuContext* g, const UNetConfig* unet, const ClipConfig* clip,
                    const SchedulerConfig* sched, const char* tokenizer_dir, PipelineAlloc alloc, char* err,
                    size_t errlen) {
    memset(p, 0, sizeof *p);
    p->unet_cfg = *unet, p->clip_cfg = *clip, p->sched = *sched;
    snprintf(p->tokenizer_dir, sizeof p->tokenizer_dir, "%s", tokenizer_dir);
    if (tokenizer_load(&p->tok, p->tokenizer_dir, err, errlen)) return -1;
    p->max_length = p->tok.model_max_length > 0 && p->tok.model_max_length <= p->clip_cfg.max_position_embeddings
                        ? p->tok.model_max_length
                        : p->clip_cfg.max_position_embeddings;
    if (p->tok.id_limit > p->clip_cfg.vocab_size) {
        snprintf(err, errlen, "%s: tokenizer ids reach %d but the text encoder's vocab_size is %d", p->tokenizer_dir,
                 p->tok.id_limit, p->clip_cfg.vocab_size);
        tokenizer_free(&p->tok);
        return -1;
    }
    param_store_init(&p->unet_ps, g);
    param_store_init(&p->text_ps, g);
    unet_init(&p->unet, &p->unet_cfg, &p->unet_ps);
    clip_init(&p->clip, &p->clip_cfg, &p->text_ps);
    // FROZEN_AUTO here (no VAE known): F32; pipeline_load resolves it first.
    DType frozen = frozen_dtype_resolve(alloc.frozen, false);
    if (alloc.unet_train || alloc.unet_ema) param_store_alloc(&p->unet_ps, alloc.unet_train, alloc.unet_train, alloc.unet_ema);
    else param_store_alloc_frozen(&p->unet_ps, frozen);
    if (alloc.text_train) param_store_alloc(&p->text_ps, true, true, false);
    else param_store_alloc_frozen(&p->text_ps, frozen);
    return 0;
}

// Fills ps from the component folder dir/sub (weights_open's file names).
static int load_component(ParamStore* ps, const char* dir, const char* sub, const char* stem, const char* variant,
                          char* err, size_t errlen) {
    char folder[8192];
    snprintf(folder, sizeof folder, "%s/%s", dir, sub);
    SafeTensors* st = weights_open(folder, stem, variant, err, errlen);
    if (!st) return -1;
    int r = weights_load_from(ps, st, NULL, err, errlen);
    st_close(st);
    return r;
}

int pipeline_load(DiffusionPipeline* p, GpuContext* g, const char* dir, PipelineAlloc alloc, char* err, size_t errlen) {
    char path[8192], tok_dir[4096];
    PipelineIndex ix;
    if (pipeline_index_read(&ix, dir, err, errlen)) return -1;
    UNetConfig uc;
    ClipConfig cc;
    SchedulerConfig sc;
    snprintf(path, sizeof path, "%s/unet/config.json", dir);
    if (unet_config_load(&uc, path, err, errlen)) return -1;
    snprintf(path, sizeof path, "%s/text_encoder/config.json", dir);
    if (clip_config_load(&cc, path, err, errlen)) return -1;
    snprintf(path, sizeof path, "%s/scheduler/scheduler_config.json", dir);
    if (scheduler_config_load(&sc, path, err, errlen)) return -1;
    snprintf(tok_dir, sizeof tok_dir, "%s/tokenizer", dir);
    DType frozen = frozen_dtype_resolve(alloc.frozen, ix.latent);
    alloc.frozen = frozen == DTYPE_F16 ? FROZEN_F16 : FROZEN_F32;
    if (pipeline_create(p, g, &uc, &cc, &sc, tok_dir, alloc, err, errlen)) return -1;
    snprintf(p->unused_components, sizeof p->unused_components, "%s", ix.unused);
    int r = load_component(&p->unet_ps, dir, "unet", "diffusion_pytorch_model", alloc.variant, err, errlen);
    if (!r) r = load_component(&p->text_ps, dir, "text_encoder", "model", alloc.variant, err, errlen);
    if (!r && ix.latent) {
        snprintf(p->vae_dir, sizeof p->vae_dir, "%s/vae", dir);
        r = vae_load(&p->vae, &p->vae_ps, g, p->vae_dir, alloc.variant, frozen, err, errlen);
        p->latent = r == 0;
        if (!r && p->vae.cfg.latent_channels != p->unet_cfg.in_channels)
            r = fail(err, errlen, "%s: the VAE makes %d latent channels but the UNet takes %d (unet/config.json in_channels)",
                     dir, p->vae.cfg.latent_channels, p->unet_cfg.in_channels);
    }
    if (r) {
        pipeline_free(p);
        return -1;
    }
    return 0;
}

void pipeline_image_shape(const DiffusionPipeline* p, int* channels, int* size) {
    *channels = p->latent ? p->vae.cfg.out_channels : p->unet_cfg.in_channels;
    *size = p->latent ? (int)vae_image_size(&p->vae.cfg, p->unet_cfg.sample_size) : p->unet_cfg.sample_size;
}

void pipeline_free(DiffusionPipeline* p) {
    if (p->latent) param_store_free(&p->vae_ps);
    param_store_free(&p->unet_ps);
    param_store_free(&p->text_ps);
    tokenizer_free(&p->tok);
    memset(p, 0, sizeof *p);
}

int pipeline_save_model(const DiffusionPipeline* p, const char* dir, bool use_ema, bool f16, char* err, size_t errlen) {
    PipelineParts parts = {.unet_cfg = &p->unet_cfg, .unet_ps = &p->unet_ps, .clip_cfg = &p->clip_cfg,
                           .text_ps = &p->text_ps, .tokenizer_dir = p->tokenizer_dir, .model_max_length = p->max_length,
                           .sched = &p->sched, .use_ema = use_ema, .f16 = f16,
                           .vae_ps = p->latent ? &p->vae_ps : NULL, .vae_dir = p->latent ? p->vae_dir : NULL};
    return pipeline_save(&parts, dir, err, errlen);
}

int pipeline_adopt_tokenizer(DiffusionPipeline* p, const char* dir, char* err, size_t errlen) {
    if (mkdir_p(dir, err, errlen) || copy_tokenizer(p->tokenizer_dir, dir, err, errlen)) return -1;
    snprintf(p->tokenizer_dir, sizeof p->tokenizer_dir, "%s", dir);
    return 0;
}
