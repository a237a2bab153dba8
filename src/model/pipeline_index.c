// pipeline_index.c: see pipeline_index.h.
#include "model/pipeline_index.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/check.h"
#include "util/fsutil.h"

typedef struct Component {
    const char* key;
    bool required;
    const char* const classes[3];  // accepted class names; {NULL}: any
} Component;

static const Component RUN[] = {
    {"unet", true, {"UNet2DConditionModel"}},
    {"text_encoder", true, {"CLIPTextModel"}},
    {"tokenizer", true, {"CLIPTokenizer", "CLIPTokenizerFast"}},
    {"scheduler", true, {NULL}},
    {"vae", false, {"AutoencoderKL"}},
};
static const char* const NOT_RUN[] = {"safety_checker", "feature_extractor", "image_encoder"};

// The [library, class] pair of an entry; NULL class for [null, null] (absent).
static int entry_class(const cJSON* v, const char** cls) {
    *cls = NULL;
    if (cJSON_IsNull(v)) return 0;
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 2) return -1;
    const cJSON* c = cJSON_GetArrayItem(v, 1);
    if (cJSON_IsNull(c)) return 0;
    if (!cJSON_IsString(c)) return -1;
    *cls = c->valuestring;
    return 0;
}

static int check_component(const Component* c, const cJSON* root, const char* path, const char* dir, bool* present,
                           char* err, size_t errlen) {
    const char* cls = NULL;
    const cJSON* v = cJSON_GetObjectItemCaseSensitive(root, c->key);
    if (v && entry_class(v, &cls))
        return fail(err, errlen, "%s: \"%s\" must be [library, class] or [null, null]", path, c->key);
    *present = cls != NULL;
    if (!cls)
        return c->required ? fail(err, errlen, "%s: no \"%s\" component (vkpref needs unet, text_encoder, tokenizer "
                                               "and scheduler)", path, c->key)
                           : 0;
    bool known = !c->classes[0];
    for (int i = 0; i < 3 && c->classes[i] && !known; i++) known = !strcmp(cls, c->classes[i]);
    if (!known)
        return fail(err, errlen, "%s: component \"%s\" is a %s, which vkpref cannot run (it runs %s%s%s)", path, c->key,
                    cls, c->classes[0], c->classes[1] ? " or " : "", c->classes[1] ? c->classes[1] : "");
    char* sub = path_join(dir, c->key);
    bool ok = path_is_dir(sub);
    free(sub);
    if (!ok) return fail(err, errlen, "%s: lists \"%s\" but %s/%s is not a folder", path, c->key, dir, c->key);
    return 0;
}

int pipeline_index_read(PipelineIndex* ix, const char* dir, char* err, size_t errlen) {
    memset(ix, 0, sizeof *ix);
    char* path = path_join(dir, "model_index.json");
    if (!path_exists(path)) {
        fail(err, errlen, "%s: not a pipeline folder (no model_index.json; an unfinished checkpoint?)", dir);
        free(path);
        return -1;
    }
    size_t n;
    char* text = read_file(path, &n, err, errlen);
    cJSON* root = text ? cJSON_ParseWithLength(text, n) : NULL;
    int r = text ? 0 : -1;
    free(text);
    if (!r && !cJSON_IsObject(root)) r = fail(err, errlen, "%s: not a JSON object", path);
    for (size_t i = 0; !r && i < sizeof RUN / sizeof *RUN; i++) {
        bool present = false;
        r = check_component(&RUN[i], root, path, dir, &present, err, errlen);
        if (!r && !strcmp(RUN[i].key, "vae")) ix->latent = present;
    }
    for (const cJSON* e = root && !r ? root->child : NULL; e && !r; e = e->next) {
        if (e->string[0] == '_' || !cJSON_IsArray(e)) continue;  // metadata, requires_safety_checker
        bool known = false;
        for (size_t i = 0; i < sizeof RUN / sizeof *RUN && !known; i++) known = !strcmp(e->string, RUN[i].key);
        if (known) continue;
        const char* cls = NULL;
        if (entry_class(e, &cls)) r = fail(err, errlen, "%s: \"%s\" must be [library, class] or [null, null]", path, e->string);
        if (r || !cls) continue;
        bool extra = false;
        for (size_t i = 0; i < sizeof NOT_RUN / sizeof *NOT_RUN && !extra; i++) extra = !strcmp(e->string, NOT_RUN[i]);
        if (!extra)
            r = fail(err, errlen, "%s: component \"%s\" (%s) cannot be run by vkpref (it runs unet, text_encoder, "
                                  "tokenizer, scheduler and vae)", path, e->string, cls);
        else {
            size_t k = strlen(ix->unused);
            snprintf(ix->unused + k, sizeof ix->unused - k, "%s%s", k ? ", " : "", e->string);
        }
    }
    cJSON_Delete(root);
    free(path);
    return r;
}
