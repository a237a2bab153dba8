// config_files.c: see config_files.h.
#include "train/config_files.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/check.h"
#include "util/fsutil.h"
#include "util/json_fields.h"

// sample_size of the UNet a run starts from: the pipeline's unet/config.json, or
// the "unet" object of --model_config. 0 when the file cannot tell (the run then reports it).
static int model_sample_size(const TrainConfig* c) {
    char path[OPT_STR_MAX + 32], err[512];
    bool pipeline = *c->pretrained_model_name_or_path != 0;
    snprintf(path, sizeof path, "%s/vae/config.json", c->pretrained_model_name_or_path);
    if (pipeline && path_exists(path)) return 0;  // latent: the run checks the image size against the VAE
    if (pipeline) snprintf(path, sizeof path, "%s/unet/config.json", c->pretrained_model_name_or_path);
    else snprintf(path, sizeof path, "%s", c->model_config);
    char* text = json_read_file(path, err, sizeof err);
    if (!text) return 0;
    cJSON* root = cJSON_Parse(text);
    free(text);
    const cJSON* unet = pipeline ? root : cJSON_GetObjectItemCaseSensitive(root, "unet");
    const cJSON* s = cJSON_GetObjectItemCaseSensitive(unet, "sample_size");
    int size = cJSON_IsNumber(s) ? s->valueint : 0;
    cJSON_Delete(root);
    return size;
}

int train_config_check_files(const TrainConfig* c, char* err, size_t errlen) {
    char path[OPT_STR_MAX + 32];
    if (strcmp(c->dataset, "fmnist") && !path_exists(c->dataset))
        return fail(err, errlen, "--dataset %s: no such file (\"fmnist\" or a Pick-a-Pic-style JSONL manifest)",
                    c->dataset);
    if (strcmp(c->dataset, "fmnist") && path_is_dir(c->dataset))
        return fail(err, errlen, "--dataset %s: a folder, not a JSONL manifest", c->dataset);
    if (c->max_train_samples < 0 || (c->max_train_samples > 0 && !strcmp(c->dataset, "fmnist")))
        return fail(err, errlen, "--max_train_samples %d: use 0 (all) or N > 0 with a manifest (--dataset)",
                    c->max_train_samples);
    const char* pipe = c->pretrained_model_name_or_path;
    if (*pipe) {
        snprintf(path, sizeof path, "%s/model_index.json", pipe);
        if (!path_is_dir(pipe)) return fail(err, errlen, "--pretrained_model_name_or_path %s: no such folder", pipe);
        if (!path_exists(path))
            return fail(err, errlen, "--pretrained_model_name_or_path %s: not a pipeline folder (no model_index.json)",
                        pipe);
    } else if (!*c->resume_from_checkpoint && !path_exists(c->model_config)) {
        return fail(err, errlen, "--model_config %s: no such file", c->model_config);
    }
    if (*c->validation_prompts && !path_exists(c->validation_prompts))
        return fail(err, errlen, "--validation_prompts %s: no such file", c->validation_prompts);
    if (c->resolution < 0) return fail(err, errlen, "--resolution %d: use 0 or the model's sample_size", c->resolution);
    if (c->resolution > 0 && (*pipe || !*c->resume_from_checkpoint)) {
        int size = model_sample_size(c);
        if (size > 0 && size != c->resolution)
            return fail(err, errlen, "--resolution %d: the model's images are %dx%d (%s); vkpref resizes manifest "
                        "images to the model, it cannot change the model's size", c->resolution, size, size,
                        *pipe ? "--pretrained_model_name_or_path" : "--model_config");
    }
    return 0;
}
