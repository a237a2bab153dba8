// pipeline_io.c: see pipeline_io.h.
#include "model/pipeline_io.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model/weights.h"
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

int pipeline_save(const PipelineParts* p, const char* dir, char* err, size_t errlen) {
    if (mkdir_p(dir, err, errlen)) return -1;
    char sub[4096], path[8192];
    StDtype dt = p->f16 ? ST_F16 : ST_F32;
    const char* index =
        "{\n  \"_class_name\": \"StableDiffusionPipeline\",\n  \"_diffusers_version\": \"0.21.0\",\n"
        "  \"unet\": [\"diffusers\", \"UNet2DConditionModel\"],\n  \"text_encoder\": [\"transformers\", \"CLIPTextModel\"],\n"
        "  \"tokenizer\": [\"transformers\", \"CLIPTokenizer\"],\n  \"scheduler\": [\"diffusers\", \"DDPMScheduler\"],\n"
        "  \"vae\": [null, null],\n  \"safety_checker\": [null, null],\n  \"feature_extractor\": [null, null],\n"
        "  \"requires_safety_checker\": false\n}\n";
    int r = subdir(dir, "unet", sub, sizeof sub, err, errlen);
    if (!r) r = write_text(sub, "config.json", unet_config_to_json(p->unet_cfg), err, errlen);
    if (!r) snprintf(path, sizeof path, "%s/diffusion_pytorch_model.safetensors", sub),
            r = weights_save(p->unet_ps, path, p->use_ema, dt, err, errlen);
    if (!r) r = subdir(dir, "text_encoder", sub, sizeof sub, err, errlen);
    if (!r) r = write_text(sub, "config.json", clip_config_to_json(p->clip_cfg), err, errlen);
    if (!r) snprintf(path, sizeof path, "%s/model.safetensors", sub),
            r = weights_save(p->text_ps, path, false, dt, err, errlen);
    if (!r) r = subdir(dir, "tokenizer", sub, sizeof sub, err, errlen);
    if (!r) r = bpe_save(p->vocab, sub, p->model_max_length, err, errlen);
    if (!r) r = subdir(dir, "scheduler", sub, sizeof sub, err, errlen);
    if (!r) r = write_text(sub, "scheduler_config.json", scheduler_config_to_json(p->sched), err, errlen);
    // model_index.json last: a folder without it is visibly not a finished pipeline.
    if (!r) r = write_text(dir, "model_index.json", strdup(index), err, errlen);
    return r;
}
