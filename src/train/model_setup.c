// model_setup.c: see model_setup.h.
#include "train/model_setup.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>

#include "io/fmnist.h"
#include "model/bpe_train.h"
#include "model/weights.h"
#include "util/check.h"
#include "util/fsutil.h"
#include "util/json_fields.h"

typedef struct ModelSpec {
    UNetConfig unet;
    ClipConfig clip;
    SchedulerConfig sched;
    int merges, max_length;
} ModelSpec;

static char* section(const cJSON* root, const char* key, const char* path) {
    const cJSON* o = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!cJSON_IsObject(o)) die("%s: missing object \"%s\" (--model_config)", path, key);
    return cJSON_PrintUnformatted(o);
}

static void load_model_spec(ModelSpec* m, const char* name) {
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
    m->merges = f.root ? json_int_in(&f, "merges", 400, 0, 1 << 20) : 400;
    m->max_length = f.root ? json_int_in(&f, "model_max_length", m->clip.max_position_embeddings, 1,
                                         m->clip.max_position_embeddings)
                           : m->clip.max_position_embeddings;
    if (f.failed) die("%s (in \"tokenizer\"; max_position_embeddings is %d)", err, m->clip.max_position_embeddings);
    cJSON_Delete(root);
}

void pipeline_from_model_config(DiffusionPipeline* p, GpuContext* g, const char* name, const char* tokenizer_dir,
                                uint64_t seed, PipelineAlloc alloc) {
    ModelSpec ms;
    load_model_spec(&ms, name);
    // Every caption the embedded set can produce: class names with all attribute words.
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
    bpe_train(&vocab, texts, n, ms.merges, 1);
    char err[1024];
    if (mkdir_p(tokenizer_dir, err, sizeof err) || bpe_save(&vocab, tokenizer_dir, ms.max_length, err, sizeof err))
        die("%s", err);
    ms.clip.vocab_size = vocab.vocab_size;
    bpe_free(&vocab);
    if (pipeline_create(p, g, &ms.unet, &ms.clip, &ms.sched, tokenizer_dir, alloc, err, sizeof err))
        die("%s (--model_config %s)", err, name);
    param_store_init_random(&p->unet_ps, seed * 2 + 1);
    param_store_init_random(&p->text_ps, seed * 2 + 2);
    if (alloc.unet_ema) param_store_reset_ema(&p->unet_ps);
}

void reference_unet_load(ParamStore* ref, GpuContext* g, const UNetConfig* cfg, const char* dir) {
    UNet ref_unet;  // registers the parameters; a recording keeps its own copy of the struct
    param_store_init(ref, g);
    unet_init(&ref_unet, cfg, ref);
    param_store_alloc(ref, false, false, false);
    char path[8192], err[1024];
    snprintf(path, sizeof path, "%s/unet/diffusion_pytorch_model.safetensors", dir);
    if (weights_load(ref, path, NULL, err, sizeof err)) die("%s (the reference model)", err);
}

ObjectiveHyper objective_hyper_from_options(const TrainConfig* c, Objective obj, int num_train_timesteps) {
    ObjectiveHyper h = objective_hyper_default();
    h.beta_dpo = (float)c->beta_dpo, h.beta_mapo = (float)c->beta_mapo, h.mapo_snr = (float)c->mapo_snr;
    h.mapo_t = (float)num_train_timesteps, h.beta_kto = (float)c->beta_kto;
    h.kto_lambda_desirable = (float)c->kto_lambda_desirable, h.kto_lambda_undesirable = (float)c->kto_lambda_undesirable;
    char err[1024];
    if (objective_hyper_check(obj, &h, err, sizeof err)) die("%s", err);
    return h;
}

TrainStepConfig train_step_config_from_options(const TrainConfig* c, Objective obj, bool train_text, int rows,
                                               int text_len, ObjectiveHyper hyper, ParamStore* ref) {
    return (TrainStepConfig){
        .batch = rows, .text_len = text_len, .train_text_encoder = train_text,
        .max_grad_norm = (float)c->max_grad_norm,
        .adam = {(float)c->adam_beta1, (float)c->adam_beta2, (float)c->adam_epsilon, (float)c->adam_weight_decay},
        .ema = c->use_ema, .gradient_checkpointing = c->gradient_checkpointing, .objective = obj, .hyper = hyper,
        .coef_scale = 1.0f / (float)c->gradient_accumulation_steps,
        .ref_ps = objective_needs_reference(obj) ? ref : NULL};
}
