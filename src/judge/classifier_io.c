// classifier_io.c: see classifier_io.h.
#include "judge/classifier_io.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/fmnist.h"
#include "model/weights.h"
#include "util/check.h"
#include "util/fsutil.h"
#include "util/json_fields.h"

#define ARCHITECTURE "fmnist-cnn"

// An int array field of exactly n entries.
static int read_ints(JsonFields* f, const char* key, int* out, int n) {
    const cJSON* a = cJSON_GetObjectItemCaseSensitive(f->root, key);
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != n) {
        json_fail(f, key, "must be an array of %d integers", n);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        const cJSON* v = cJSON_GetArrayItem(a, i);
        if (!json_to_int(v, -INT_MAX, INT_MAX, &out[i])) {
            json_fail(f, key, "must be an array of %d integers", n);
            return -1;
        }
    }
    return 0;
}

int classifier_config_load(ClassifierConfig* c, const char* dir, char* err, size_t errlen) {
    if (!path_is_dir(dir)) return fail(err, errlen, "%s: no such classifier folder (train one with `vkpref train-judge`)", dir);
    char* path = path_join(dir, CLASSIFIER_CONFIG_FILE);
    char* text = json_read_file(path, err, errlen);
    cJSON* root = text ? json_parse_object(text, path, err, errlen) : NULL;
    free(text);
    int r = -1;
    if (root) {
        JsonFields f = {root, path, err, errlen, 0};
        const char* arch = json_str(&f, "architecture", "");
        if (!f.failed && strcmp(arch, ARCHITECTURE))
            json_fail(&f, "architecture", "\"%s\" is not \"%s\"", arch, ARCHITECTURE);
        *c = (ClassifierConfig){0};
        c->image_size = json_int(&f, "image_size", 0, true);
        c->num_classes = json_int(&f, "num_classes", 0, true);
        const cJSON* ch = cJSON_GetObjectItemCaseSensitive(root, "channels");
        c->nconv = cJSON_IsArray(ch) ? cJSON_GetArraySize(ch) : 0;
        if (!f.failed && (c->nconv < 1 || c->nconv > CLASSIFIER_MAX_CONVS))
            json_fail(&f, "channels", "must be an array of 1 to %d integers", CLASSIFIER_MAX_CONVS);
        if (!f.failed) read_ints(&f, "channels", c->channels, c->nconv);
        if (!f.failed) read_ints(&f, "strides", c->strides, c->nconv);
        r = f.failed ? -1 : classifier_config_check(c, path, err, errlen);
        cJSON_Delete(root);
    }
    free(path);
    return r;
}

static char* config_text(const Classifier* m, const cJSON* extra) {
    const ClassifierConfig* c = &m->cfg;
    cJSON* o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "architecture", ARCHITECTURE);
    cJSON_AddNumberToObject(o, "image_size", c->image_size);
    cJSON_AddNumberToObject(o, "num_classes", c->num_classes);
    cJSON_AddItemToObject(o, "channels", cJSON_CreateIntArray(c->channels, c->nconv));
    cJSON_AddItemToObject(o, "strides", cJSON_CreateIntArray(c->strides, c->nconv));
    cJSON_AddNumberToObject(o, "kernel_size", 3);
    cJSON_AddStringToObject(o, "activation", "silu");
    cJSON_AddStringToObject(o, "input", "[N, 1, S, S] in [-1, 1] (raw / 127.5 - 1, padded with -1)");
    if (c->num_classes == FMNIST_CLASSES) {
        cJSON* names = cJSON_AddArrayToObject(o, "class_names");
        for (int k = 0; k < FMNIST_CLASSES; k++) cJSON_AddItemToArray(names, cJSON_CreateString(fmnist_class_name(k)));
    }
    for (const cJSON* e = extra ? extra->child : NULL; e; e = e->next)
        cJSON_AddItemToObject(o, e->string, cJSON_Duplicate(e, true));
    char* text = cJSON_Print(o);
    cJSON_Delete(o);
    return text;
}

int classifier_save(const char* dir, const Classifier* m, const ParamStore* ps, const cJSON* extra, char* err,
                    size_t errlen) {
    if (remove_stale_temps(dir, err, errlen) < 0) return -1;
    AtomicDir d;
    if (atomic_dir_begin(&d, dir, err, errlen)) return -1;
    char* text = config_text(m, extra);
    char* cfg = path_join(d.tmp_path, CLASSIFIER_CONFIG_FILE);
    char* weights = path_join(d.tmp_path, CLASSIFIER_WEIGHTS_FILE);
    int r = write_file_atomic(cfg, text, strlen(text), err, errlen);
    if (!r) r = weights_save(ps, weights, false, ST_F32, err, errlen);
    free(text), free(cfg), free(weights);
    if (r) {
        atomic_dir_abort(&d);
        return -1;
    }
    return atomic_dir_commit(&d, err, errlen);
}

int classifier_load(Classifier* m, ParamStore* ps, GpuContext* g, const char* dir, char* err, size_t errlen) {
    ClassifierConfig c;
    if (classifier_config_load(&c, dir, err, errlen)) return -1;
    param_store_init(ps, g);
    classifier_init(m, &c, ps);
    param_store_alloc(ps, false, false, false);
    char* path = path_join(dir, CLASSIFIER_WEIGHTS_FILE);
    int unused = 0, r = weights_load(ps, path, &unused, err, errlen);
    if (!r && unused) r = fail(err, errlen, "%s: %d tensors that the classifier of %s/%s does not have", path, unused,
                               dir, CLASSIFIER_CONFIG_FILE);
    free(path);
    if (r) param_store_free(ps);
    return r;
}
