// bench_model.c: see bench_model.h.
//
// The model_config reader follows the format `vkpref train --model_config`
// reads (its reader is private to cmd_train.c; a shared model/model_spec.c would
// let both use one).
#include "bench/bench_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/fmnist.h"
#include "model/bpe_train.h"
#include "model/weights.h"
#include "util/check.h"
#include "util/fsutil.h"
#include "util/json_fields.h"

static bool has_dir(const BenchModelSource* s) { return s->dir && *s->dir; }

// The object `key` of root as JSON text (malloc'ed).
static char* section(const cJSON* root, const char* key, const char* path) {
    const cJSON* o = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!cJSON_IsObject(o)) die("%s: missing object \"%s\" (--model_config)", path, key);
    return cJSON_PrintUnformatted(o);
}

typedef struct ModelConfigFile {
    UNetConfig unet;
    ClipConfig clip;
    SchedulerConfig sched;
    int merges, max_length;
} ModelConfigFile;

static void read_model_config(ModelConfigFile* m, const char* name) {
    char err[1024], found[8192];
    const char* path = find_data_file(name, found, sizeof found);
    char* text = json_read_file(path, err, sizeof err);
    if (!text) die("%s (--model_config)", err);
    cJSON* root = json_parse_object(text, path, err, sizeof err);
    free(text);
    if (!root) die("%s (--model_config)", err);
    char* s = section(root, "unet", path);
    if (unet_config_parse(&m->unet, s, path, err, sizeof err)) die("%s (in \"unet\")", err);
    free(s);
    s = section(root, "text_encoder", path);
    if (clip_config_parse(&m->clip, s, path, err, sizeof err)) die("%s (in \"text_encoder\")", err);
    free(s);
    s = section(root, "scheduler", path);
    if (scheduler_config_parse(&m->sched, s, path, err, sizeof err)) die("%s (in \"scheduler\")", err);
    free(s);
    const cJSON* tok = cJSON_GetObjectItemCaseSensitive(root, "tokenizer");
    JsonFields f = {cJSON_IsObject(tok) ? tok : NULL, path, err, sizeof err, 0};
    m->merges = f.root ? json_int(&f, "merges", 400, false) : 400;
    m->max_length = f.root ? json_int(&f, "model_max_length", m->clip.max_position_embeddings, false)
                           : m->clip.max_position_embeddings;
    if (f.failed) die("%s (in \"tokenizer\")", err);
    cJSON_Delete(root);
    if (m->max_length > m->clip.max_position_embeddings)
        die("%s: tokenizer model_max_length %d exceeds max_position_embeddings %d", path, m->max_length,
            m->clip.max_position_embeddings);
}

// Learns the vocabulary into a temporary folder, creates the pipeline (which
// reads the tokenizer into memory) and removes the folder.
static void create_random(DiffusionPipeline* p, GpuContext* g, const BenchModelSource* src, PipelineAlloc alloc) {
    ModelConfigFile m;
    read_model_config(&m, src->model_config);
    static char caps[FMNIST_CLASSES * 9][96];
    const char* texts[FMNIST_CLASSES * 9];
    int n = 0;
    for (int l = 0; l < FMNIST_CLASSES; l++)
        for (int t = 0; t < 3; t++)
            for (int s = 0; s < 3; s++, n++) {
                fmnist_caption_with(l, (FmnistTone)t, (FmnistSize)s, caps[n], sizeof caps[n]);
                texts[n] = caps[n];
            }
    BpeVocab vocab;
    bpe_train(&vocab, texts, n, m.merges, 1);
    char dir[] = "/tmp/vkpref-bench-tokenizer-XXXXXX", err[1024];
    if (!mkdtemp(dir)) die("%s: cannot create a temporary folder for the tokenizer", dir);
    if (bpe_save(&vocab, dir, m.max_length, err, sizeof err)) die("%s", err);
    m.clip.vocab_size = vocab.vocab_size;
    bpe_free(&vocab);
    int r = pipeline_create(p, g, &m.unet, &m.clip, &m.sched, dir, alloc, err, sizeof err);
    char rm_err[1024];
    if (remove_tree(dir, rm_err, sizeof rm_err)) fprintf(stderr, "vkpref bench: warning: %s\n", rm_err);
    if (r) die("%s (--model_config %s)", err, src->model_config);
    param_store_init_random(&p->unet_ps, src->seed * 2 + 1);
    param_store_init_random(&p->text_ps, src->seed * 2 + 2);
    if (alloc.unet_ema) param_store_reset_ema(&p->unet_ps);
}

void bench_model_open(DiffusionPipeline* p, GpuContext* g, const BenchModelSource* src, PipelineAlloc alloc) {
    if (has_dir(src)) {
        char err[1024];
        if (pipeline_load(p, g, src->dir, alloc, err, sizeof err)) die("%s (%s)", err, src->dir_flag);
        if (alloc.unet_ema) param_store_reset_ema(&p->unet_ps);
    } else {
        create_random(p, g, src, alloc);
    }
}

void bench_model_reference(ParamStore* ref, GpuContext* g, const DiffusionPipeline* p, const BenchModelSource* src) {
    UNet ref_unet;  // only registers the parameters: the step keeps its own copy of the policy's UNet struct
    param_store_init(ref, g);
    unet_init(&ref_unet, &p->unet_cfg, ref);
    param_store_alloc(ref, false, false, false);
    if (!has_dir(src)) {
        param_store_init_random(ref, src->seed * 2 + 1);
        return;
    }
    char path[8192], err[1024];
    snprintf(path, sizeof path, "%s/unet/diffusion_pytorch_model.safetensors", src->dir);
    if (weights_load(ref, path, NULL, err, sizeof err)) die("%s (the reference model, %s)", err, src->dir_flag);
}

void bench_model_describe(const BenchModelSource* src, char* out, size_t n) {
    if (has_dir(src)) snprintf(out, n, "pipeline %s", src->dir);
    else snprintf(out, n, "%s (random weights)", src->model_config);
}
