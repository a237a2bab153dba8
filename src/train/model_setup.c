// model_setup.c: see model_setup.h.
#include "train/model_setup.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

// The JSON text of root[key] (an object), or NULL with err.
static char* section(const cJSON* root, const char* key, const char* path, char* err, size_t errlen) {
    const cJSON* o = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!cJSON_IsObject(o)) {
        fail(err, errlen, "%s: missing object \"%s\" (--model_config)", path, key);
        return NULL;
    }
    return cJSON_PrintUnformatted(o);
}

// Appends " (suffix)" to the message in err.
static int with_context(char* err, size_t errlen, const char* suffix) {
    size_t k = strlen(err);
    if (k < errlen) snprintf(err + k, errlen - k, " (%s)", suffix);
    return -1;
}

static int load_model_spec(ModelSpec* m, const char* name, char* err, size_t errlen) {
    char found[8192];
    const char* path = find_data_file(name, found, sizeof found);
    char* text = json_read_file(path, err, errlen);
    if (!text) return with_context(err, errlen, "--model_config");
    cJSON* root = json_parse_object(text, path, err, errlen);
    free(text);
    if (!root) return with_context(err, errlen, "--model_config");
    int r = 0;
    char* s = section(root, "unet", path, err, errlen);
    if (!s || unet_config_parse(&m->unet, s, path, err, errlen)) r = s ? with_context(err, errlen, "in \"unet\"") : -1;
    free(s);
    s = r ? NULL : section(root, "text_encoder", path, err, errlen);
    if (!r && (!s || clip_config_parse(&m->clip, s, path, err, errlen)))
        r = s ? with_context(err, errlen, "in \"text_encoder\"") : -1;
    free(s);
    s = r ? NULL : section(root, "scheduler", path, err, errlen);
    if (!r && (!s || scheduler_config_parse(&m->sched, s, path, err, errlen)))
        r = s ? with_context(err, errlen, "in \"scheduler\"") : -1;
    free(s);
    if (!r) {
        const cJSON* tok = cJSON_GetObjectItemCaseSensitive(root, "tokenizer");
        JsonFields f = {cJSON_IsObject(tok) ? tok : NULL, path, err, errlen, 0};
        m->merges = f.root ? json_int_in(&f, "merges", 400, 0, 1 << 20) : 400;
        m->max_length = f.root ? json_int_in(&f, "model_max_length", m->clip.max_position_embeddings, 1,
                                             m->clip.max_position_embeddings)
                               : m->clip.max_position_embeddings;
        if (f.failed) {
            size_t k = strlen(err);
            snprintf(err + k, errlen - k, " (in \"tokenizer\"; max_position_embeddings is %d)",
                     m->clip.max_position_embeddings);
            r = -1;
        }
    }
    cJSON_Delete(root);
    return r;
}

int pipeline_from_model_config(DiffusionPipeline* p, GpuContext* g, const char* name, const char* tokenizer_dir,
                               uint64_t seed, PipelineAlloc alloc, char* err, size_t errlen) {
    ModelSpec ms;
    if (load_model_spec(&ms, name, err, errlen)) return -1;
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
    int r = mkdir_p(tokenizer_dir, err, errlen) || bpe_save(&vocab, tokenizer_dir, ms.max_length, err, errlen);
    ms.clip.vocab_size = vocab.vocab_size;
    bpe_free(&vocab);
    if (r) return -1;
    if (pipeline_create(p, g, &ms.unet, &ms.clip, &ms.sched, tokenizer_dir, alloc, err, errlen)) {
        size_t k = strlen(err);
        snprintf(err + k, errlen - k, " (--model_config %s)", name);
        return -1;
    }
    param_store_init_random(&p->unet_ps, seed * 2 + 1);
    param_store_init_random(&p->text_ps, seed * 2 + 2);
    if (alloc.unet_ema) param_store_reset_ema(&p->unet_ps);
    return 0;
}

int reference_unet_load(ParamStore* ref, GpuContext* g, const UNetConfig* cfg, const char* dir, const char* variant,
                        DType dtype, char* err, size_t errlen) {
    UNet ref_unet;  // registers the parameters in the policy's order; recordings use the policy's description
    char folder[8192];
    snprintf(folder, sizeof folder, "%s/unet", dir);
    SafeTensors* st = weights_open(folder, "diffusion_pytorch_model", variant, err, errlen);
    if (!st) return with_context(err, errlen, "the reference model");
    param_store_init(ref, g);
    unet_init(&ref_unet, cfg, ref);
    param_store_alloc_frozen(ref, dtype);
    int r = weights_load_from(ref, st, NULL, err, errlen);
    st_close(st);
    if (r) {
        param_store_free(ref);
        return with_context(err, errlen, "the reference model");
    }
    return 0;
}

int objective_hyper_from_options(const TrainConfig* c, Objective obj, int num_train_timesteps, ObjectiveHyper* h,
                                 char* err, size_t errlen) {
    *h = objective_hyper_default();
    for (int k = 0; k < OBJ_HYPER_OPTIONS; k++) {
        double v = c->objective_hyper[k];
        if (OBJ_HYPERS[k].choices && objective_hyper_parse_choice((ObjHyperKey)k, c->objective_choice[k], &v, err, errlen))
            return -1;
        *objective_hyper_field(h, (ObjHyperKey)k) = (float)v;
    }
    h->mapo_t = (float)num_train_timesteps;
    return objective_hyper_check(obj, h, err, errlen);
}

TrainStepConfig train_step_config_from_options(const TrainConfig* c, Objective obj, bool train_text, int rows,
                                               int text_len, ObjectiveHyper hyper, ParamStore* ref) {
    return (TrainStepConfig){
        .batch = rows, .text_len = text_len, .train_text_encoder = train_text,
        .max_grad_norm = (float)c->max_grad_norm,
        .adam = {(float)c->adam_beta1, (float)c->adam_beta2, (float)c->adam_epsilon, (float)c->adam_weight_decay},
        .ema = c->use_ema, .gradient_checkpointing = c->gradient_checkpointing, .objective = obj, .hyper = hyper,
        .overlap_exchange = c->overlap_gradient_exchange,
        .coef_scale = 1.0f / (float)c->gradient_accumulation_steps,
        .ref_ps = objective_needs_reference(obj) ? ref : NULL};
}

void train_step_config_distribute(TrainStepConfig* sc, int nranks, int rank, StepReduceFn reduce,
                                  StepGatherFn gather, void* user) {
    if (nranks < 2) return;
    sc->reduce = reduce, sc->reduce_user = user;
    if (objective_uses_batch_statistic(sc->objective)) {
        sc->gather = gather, sc->gather_user = user;
        sc->nranks = nranks, sc->rank = rank;
    } else {
        sc->coef_scale /= (float)nranks;
    }
}
