// lora_io.c: LoRA adapter files (see lora.h for the key layouts).
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/lora.h"
#include "util/check.h"

#define META_KEY "lora_adapter_metadata"  // diffusers' LORA_ADAPTER_METADATA_KEY

bool lora_format_parse(const char* name, LoraFormat* fmt) {
    if (!strcmp(name, "peft") || !strcmp(name, "diffusers")) return *fmt = LORA_FORMAT_PEFT, true;
    if (!strcmp(name, "kohya")) return *fmt = LORA_FORMAT_KOHYA, true;
    return false;
}

// How a file names the adapters of each model: the PEFT/diffusers key prefix,
// kohya's prefix, the prefix of diffusers' metadata keys, and a word for errors.
typedef struct ComponentKeys {
    const char *peft, *kohya, *meta, *what;
} ComponentKeys;
static const ComponentKeys KEYS[2] = {
    [LORA_UNET] = {"unet.", "lora_unet_", "unet.", "UNet"},
    [LORA_TEXT_ENCODER] = {"text_encoder.", "lora_te_", "text_encoder.", "text encoder"},
};

static bool starts_with(const char* s, const char* prefix) { return !strncmp(s, prefix, strlen(prefix)); }

// kohya's module name: the prefix + the path with '.' replaced by '_'.
static void kohya_name(char* out, size_t n, const char* prefix, const char* module) {
    int k = snprintf(out, n, "%s%s", prefix, module);
    for (char* c = out + strlen(prefix); k > 0 && *c; c++)
        if (*c == '.') *c = '_';
}

// diffusers' adapter metadata (PEFT LoraConfig fields with the "unet." prefix):
// r and lora_alpha of the first adapter, rank_pattern / alpha_pattern for the others.
static char* peft_metadata(const LoraSet* s) {
    cJSON* o = cJSON_CreateObject();
    const LoraAdapter* a0 = &s->ad[0];
    cJSON *ranks = cJSON_CreateObject(), *alphas = cJSON_CreateObject(), *targets = cJSON_CreateArray();
    for (int i = 0; i < s->n; i++) {
        const LoraAdapter* a = &s->ad[i];
        if (a->rank != a0->rank) cJSON_AddNumberToObject(ranks, a->module, a->rank);
        if (a->alpha != a0->alpha) cJSON_AddNumberToObject(alphas, a->module, a->alpha);
        cJSON_AddItemToArray(targets, cJSON_CreateString(a->module));
    }
    cJSON_AddItemToObject(o, "unet.alpha_pattern", alphas);
    cJSON_AddNumberToObject(o, "unet.lora_alpha", a0->alpha);
    cJSON_AddNumberToObject(o, "unet.r", a0->rank);
    cJSON_AddItemToObject(o, "unet.rank_pattern", ranks);
    cJSON_AddItemToObject(o, "unet.target_modules", targets);
    char* text = cJSON_Print(o);
    cJSON_Delete(o);
    return text;
}

int lora_save(const LoraSet* s, ParamSlot slot, LoraFormat fmt, const char* path, char* err, size_t errlen) {
    StWriter w;
    st_writer_init(&w, ST_F32);
    float** host = xcalloc((size_t)(2 * s->n), sizeof *host);
    float* alphas = xcalloc((size_t)s->n, sizeof *alphas);
    for (int i = 0; i < s->n; i++) {
        const LoraAdapter* a = &s->ad[i];
        int idx[2] = {a->a, a->b};
        char name[2 * PARAM_NAME_MAX], kn[PARAM_NAME_MAX + 16];
        kohya_name(kn, sizeof kn, KEYS[LORA_UNET].kohya, a->module);
        for (int k = 0; k < 2; k++) {
            const ParamEntry* e = &s->ps.e[idx[k]];
            host[2 * i + k] = xmalloc((size_t)param_numel(&s->ps, idx[k]) * sizeof(float));
            tensor_download(s->ps.gpu, param_slot(&s->ps, idx[k], slot), host[2 * i + k]);
            if (fmt == LORA_FORMAT_PEFT) snprintf(name, sizeof name, "unet.%s", e->name);
            else snprintf(name, sizeof name, "%s.%s", kn, k ? "lora_up.weight" : "lora_down.weight");
            st_writer_add(&w, name, e->ndim, e->shape, host[2 * i + k]);
        }
        if (fmt == LORA_FORMAT_KOHYA) {
            alphas[i] = a->alpha;
            snprintf(name, sizeof name, "%s.alpha", kn);
            st_writer_add(&w, name, 0, NULL, &alphas[i]);
        }
    }
    st_writer_meta(&w, "format", "pt");
    char* meta = fmt == LORA_FORMAT_PEFT && s->n ? peft_metadata(s) : NULL;
    if (meta) st_writer_meta(&w, META_KEY, meta);
    int r = st_writer_write(&w, path, err, errlen);
    free(meta);
    st_writer_free(&w);
    for (int i = 0; i < 2 * s->n; i++) free(host[i]);
    free(host), free(alphas);
    return r;
}

// ---------------------------------------------------------------------------
// Reading.

typedef struct Found {
    char module[PARAM_NAME_MAX];
    const StTensor *down, *up;  // lora_A / lora_B
    float alpha;
    bool has_alpha;
} Found;

typedef struct Reader {
    const SafeTensors* sf;
    const ParamStore* base;
    LoraComponent component;
    Found* f;
    int n;
    int skipped;  // tensors that adapt the other model
    char *err;
    size_t errlen;
} Reader;

static Found* found_get(Reader* r, const char* module, size_t len) {
    for (int i = 0; i < r->n; i++)
        if (strlen(r->f[i].module) == len && !strncmp(r->f[i].module, module, len)) return &r->f[i];
    r->f = xrealloc(r->f, (size_t)(r->n + 1) * sizeof *r->f);
    Found* f = &r->f[r->n++];
    memset(f, 0, sizeof *f);
    snprintf(f->module, sizeof f->module, "%.*s", (int)(len < PARAM_NAME_MAX - 1 ? len : PARAM_NAME_MAX - 1), module);
    return f;
}

static bool ends_with(const char* s, const char* suffix, size_t* stem) {
    size_t n = strlen(s), k = strlen(suffix);
    if (n <= k || strcmp(s + n - k, suffix)) return false;
    *stem = n - k;
    return true;
}

// The base module whose kohya name is kn[0..len) (NULL: none).
static const char* kohya_module(const Reader* r, const char* kn, size_t len, char out[PARAM_NAME_MAX]) {
    const char* prefix = KEYS[r->component].kohya;
    for (int i = 0; i < r->base->n; i++) {
        size_t stem;
        if (r->base->e[i].ndim < 2 || !ends_with(r->base->e[i].name, ".weight", &stem)) continue;
        char module[PARAM_NAME_MAX], k[PARAM_NAME_MAX + 16];
        snprintf(module, sizeof module, "%.*s", (int)stem, r->base->e[i].name);
        kohya_name(k, sizeof k, prefix, module);
        if (strlen(k) == len && !strncmp(k, kn, len)) return strcpy(out, module);
    }
    return NULL;
}

// The module a key of the older diffusers layouts adapts, into module; its part
// (0 down, 1 up), or -1 when the key is of none of them:
//   UNet attention processors    <attn>.processor.to_q_lora.down.weight -> <attn>.to_q
//   text-encoder attention       <attn>.to_q_lora.down.weight -> <attn>.q_proj
//   LoRACompatibleLinear         <module>.lora.down.weight
//   text-encoder Linear layers   <module>.lora_linear_layer.down.weight
static int older_diffusers_module(const char* p, LoraComponent component, char module[PARAM_NAME_MAX]) {
    static const char* const parts[] = {"to_q", "to_k", "to_v", "to_out"};
    static const char* const te_parts[] = {"q_proj", "k_proj", "v_proj", "out_proj"};
    static const char* const unet_parts[] = {"to_q", "to_k", "to_v", "to_out.0"};
    size_t stem;
    for (int up = 0; up < 2; up++) {
        const char* leaf = up ? "up.weight" : "down.weight";
        char suffix[64];
        for (int k = 0; k < 4; k++) {
            snprintf(suffix, sizeof suffix, "%s.%s_lora.%s", component == LORA_UNET ? ".processor" : "", parts[k], leaf);
            if (!ends_with(p, suffix, &stem)) continue;
            snprintf(module, PARAM_NAME_MAX, "%.*s.%s", (int)stem, p,
                     component == LORA_UNET ? unet_parts[k] : te_parts[k]);
            return up;
        }
        static const char* const wrappers[] = {".lora.", ".lora_linear_layer."};
        for (int k = 0; k < 2; k++) {
            snprintf(suffix, sizeof suffix, "%s%s", wrappers[k], leaf);
            if (!ends_with(p, suffix, &stem)) continue;
            snprintf(module, PARAM_NAME_MAX, "%.*s", (int)stem, p);
            return up;
        }
    }
    return -1;
}

// One tensor of the file: which module and which part it is. A tensor of the
// other model (the text encoder's when reading the UNet's, or the reverse) is
// counted and left for that model's read.
static int classify(Reader* r, const StTensor* t) {
    const char* name = t->name;
    size_t stem;
    if (starts_with(name, "text_encoder_2.") || starts_with(name, "lora_te1_") || starts_with(name, "lora_te2_"))
        return fail(r->err, r->errlen, "%s: tensor '%s': adapters of SDXL's two text encoders are not supported (a "
                    "Stable Diffusion 1.x/2.x text encoder's keys start with text_encoder. or lora_te_)",
                    st_path(r->sf), name);
    LoraComponent of = starts_with(name, KEYS[LORA_TEXT_ENCODER].peft) || starts_with(name, KEYS[LORA_TEXT_ENCODER].kohya)
                           ? LORA_TEXT_ENCODER : LORA_UNET;
    if (of != r->component) return r->skipped++, 0;
    const ComponentKeys* keys = &KEYS[r->component];
    if (starts_with(name, keys->kohya)) {
        const char* suf[] = {".lora_down.weight", ".lora_up.weight", ".alpha"};
        for (int k = 0; k < 3; k++) {
            if (!ends_with(name, suf[k], &stem)) continue;
            char module[PARAM_NAME_MAX];
            if (!kohya_module(r, name, stem, module))
                return fail(r->err, r->errlen, "%s: tensor '%s': no layer of the %s has this kohya name",
                            st_path(r->sf), name, keys->what);
            Found* f = found_get(r, module, strlen(module));
            if (k == 0) f->down = t;
            else if (k == 1) f->up = t;
            else {
                if (t->numel != 1)
                    return fail(r->err, r->errlen, "%s: tensor '%s': alpha must hold one value", st_path(r->sf), name);
                if (st_load_f32(r->sf, name, t->ndim, t->shape, &f->alpha, r->err, r->errlen)) return -1;
                f->has_alpha = true;
            }
            return 0;
        }
    }
    const char* p = starts_with(name, keys->peft) ? name + strlen(keys->peft) : name;
    if (ends_with(p, ".lora_A.weight", &stem)) return found_get(r, p, stem)->down = t, 0;
    if (ends_with(p, ".lora_B.weight", &stem)) return found_get(r, p, stem)->up = t, 0;
    char module[PARAM_NAME_MAX];
    int up = older_diffusers_module(p, r->component, module);
    if (up >= 0) {
        Found* f = found_get(r, module, strlen(module));
        if (up) f->up = t;
        else f->down = t;
        return 0;
    }
    return fail(r->err, r->errlen, "%s: tensor '%s': not a LoRA key this reader knows (PEFT lora_A/lora_B, diffusers "
                "to_*_lora / lora / lora_linear_layer, kohya lora_unet_* / lora_te_*)", st_path(r->sf), name);
}

// The alpha_pattern entry for module: its full name, else the first key it ends
// with (PEFT matches pattern keys as name suffixes: {"conv2": 1.5}).
static const cJSON* alpha_pattern_value(const cJSON* pat, const char* module) {
    if (!cJSON_IsObject(pat)) return NULL;
    const cJSON* v = cJSON_GetObjectItemCaseSensitive(pat, module);
    if (cJSON_IsNumber(v)) return v;
    const cJSON* it;
    cJSON_ArrayForEach(it, pat) {
        if (cJSON_IsNumber(it) && it->string && lora_name_matches(module, it->string, strlen(it->string))) return it;
    }
    return NULL;
}

// PEFT's alpha for module: its alpha_pattern entry, else lora_alpha (diffusers
// prefixes both with the model: "unet.lora_alpha"), else NAN (then alpha = r).
static float peft_alpha(const cJSON* meta, const char* prefix, const char* module) {
    if (!meta) return NAN;
    char key[64];
    snprintf(key, sizeof key, "%salpha_pattern", prefix);
    const cJSON* pat = cJSON_GetObjectItemCaseSensitive(meta, key);
    if (!pat) pat = cJSON_GetObjectItemCaseSensitive(meta, "alpha_pattern");
    const cJSON* v = alpha_pattern_value(pat, module);
    snprintf(key, sizeof key, "%slora_alpha", prefix);
    if (!cJSON_IsNumber(v)) v = cJSON_GetObjectItemCaseSensitive(meta, key);
    if (!cJSON_IsNumber(v)) v = cJSON_GetObjectItemCaseSensitive(meta, "lora_alpha");
    return cJSON_IsNumber(v) ? (float)v->valuedouble : NAN;
}

static bool same_shape(const StTensor* t, int ndim, const int64_t* shape) {
    if (t->ndim != ndim) return false;
    for (int d = 0; d < ndim; d++)
        if (t->shape[d] != shape[d]) return false;
    return true;
}

static const char* shape_text(char out[64], int ndim, const int64_t* shape) {
    int k = snprintf(out, 64, "[");
    for (int d = 0; d < ndim && k < 56; d++) k += snprintf(out + k, (size_t)(64 - k), d ? ", %lld" : "%lld", (long long)shape[d]);
    snprintf(out + k, (size_t)(64 - k), "]");
    return out;
}

// lora_load, the adapters allocated with gradients when grads.
static int load(LoraSet* s, GpuContext* g, const ParamStore* base, LoraComponent component, const char* path,
                float multiplier, bool grads, char* err, size_t errlen) {
    SafeTensors* sf = st_open(path, err, errlen);
    if (!sf) return -1;
    Reader r = {.sf = sf, .base = base, .component = component, .err = err, .errlen = errlen};
    int rc = 0;
    for (int i = 0; i < st_count(sf) && !rc; i++) rc = classify(&r, st_tensor_at(sf, i));
    const char* mt = st_meta_get(sf, META_KEY);
    cJSON* meta = mt ? cJSON_Parse(mt) : NULL;
    if (!rc && !r.n && !r.skipped) rc = fail(err, errlen, "%s: no LoRA tensors", path);
    lora_set_begin(s, g, base);
    s->multiplier = multiplier;
    s->skipped = r.skipped;
    int* order = xmalloc((size_t)(r.n ? r.n : 1) * sizeof *order);  // found index of each adapter
    // Adapters in the base model's order, whatever the file's order.
    for (int w = 0; w < base->n && !rc; w++) {
        size_t stem;
        if (!ends_with(base->e[w].name, ".weight", &stem)) continue;
        for (int i = 0; i < r.n; i++) {
            Found* f = &r.f[i];
            if (strlen(f->module) != stem || strncmp(f->module, base->e[w].name, stem)) continue;
            const ParamEntry* e = &base->e[w];
            if (!f->down || !f->up) {
                rc = fail(err, errlen, "%s: module %s has only its %s matrix", path, f->module, f->down ? "down" : "up");
                break;
            }
            int64_t rank = f->down->shape[0];
            if (!e->adaptable) {  // a norm or an embedding: no layer would apply the adapter
                rc = fail(err, errlen, "%s: module %s is neither a Linear nor a Conv2d layer", path, f->module);
                break;
            }
            // Linear: down [r, in], up [out, r]; Conv2d: down [r, in, k, k], up [out, r, 1, 1].
            int64_t want_down[4] = {rank, e->shape[1], e->ndim == 4 ? e->shape[2] : 0, e->ndim == 4 ? e->shape[3] : 0};
            int64_t want_up[4] = {e->shape[0], rank, 1, 1};
            if (rank < 1 || !same_shape(f->down, e->ndim, want_down) || !same_shape(f->up, e->ndim, want_up)) {
                char sd[64], su[64], sw[64];
                rc = fail(err, errlen, "%s: module %s: down %s and up %s do not fit its weight %s", path, f->module,
                          shape_text(sd, f->down->ndim, f->down->shape), shape_text(su, f->up->ndim, f->up->shape),
                          shape_text(sw, e->ndim, e->shape));
                break;
            }
            float alpha = f->has_alpha ? f->alpha : peft_alpha(meta, KEYS[component].meta, f->module);
            order[lora_add_adapter(s, base, w, (int)rank, alpha == alpha ? alpha : (float)rank)] = i;
        }
    }
    if (!rc && s->n != r.n) {
        for (int i = 0; i < r.n; i++) {
            bool used = false;
            for (int k = 0; k < s->n; k++) used |= order[k] == i;
            if (!used) {
                rc = fail(err, errlen, "%s: module %s is not a layer of this %s", path, r.f[i].module,
                          KEYS[component].what);
                break;
            }
        }
    }
    if (!rc) {
        param_store_alloc(&s->ps, grads, false, false);
        for (int k = 0; k < s->n && !rc; k++) {
            const Found* f = &r.f[order[k]];
            const StTensor* t[2] = {f->down, f->up};
            int idx[2] = {s->ad[k].a, s->ad[k].b};
            for (int j = 0; j < 2; j++) {
                float* h = xmalloc((size_t)t[j]->numel * sizeof *h);
                rc = st_load_f32(sf, t[j]->name, t[j]->ndim, t[j]->shape, h, err, errlen);
                if (!rc) param_upload(&s->ps, idx[j], h);
                free(h);
                if (rc) break;
            }
        }
    }
    if (rc) lora_set_free(s);
    cJSON_Delete(meta);
    free(order);
    free(r.f);
    st_close(sf);
    return rc;
}

int lora_load(LoraSet* s, GpuContext* g, const ParamStore* base, LoraComponent component, const char* path,
              float multiplier, char* err, size_t errlen) {
    return load(s, g, base, component, path, multiplier, false, err, errlen);
}

int lora_load_with_grads(LoraSet* s, GpuContext* g, const ParamStore* base, const char* path, float multiplier,
                         char* err, size_t errlen) {
    return load(s, g, base, LORA_UNET, path, multiplier, true, err, errlen);
}

// ---------------------------------------------------------------------------
// Several files.

int lora_files_parse(LoraFiles* f, const OptStrings* files, const OptStrings* scales, char* err, size_t errlen) {
    memset(f, 0, sizeof *f);
    int n = 0;
    for (int i = 0; i < files->n; i++) n += *files->v[i] != 0;
    if (n > LORA_FILES_MAX) return fail(err, errlen, "--lora: %d files, at most %d", n, LORA_FILES_MAX);
    int ns = scales ? scales->n : 0;
    if (n && ns > 1 && ns != n)
        return fail(err, errlen, "--lora_scale: %d values for %d --lora files: give one for all or one per file", ns, n);
    for (int i = 0; i < ns; i++) {
        char* end;
        double v = strtod(scales->v[i], &end);
        if (end == scales->v[i] || *end || !(v >= -100 && v <= 100))
            return fail(err, errlen, "--lora_scale %s: need a number in [-100, 100]", scales->v[i]);
        if (n) f->scale[ns == 1 ? 0 : i] = (float)v;
    }
    for (int i = 0; i < files->n; i++) {
        if (!*files->v[i]) continue;
        f->path[f->n] = files->v[i];
        f->scale[f->n] = ns == 0 ? 1.0f : ns == 1 ? f->scale[0] : f->scale[f->n];
        f->n++;
    }
    return 0;
}

int lora_load_files(LoraSet* sets, GpuContext* g, const ParamStore* base, LoraComponent component, const LoraFiles* f,
                    char* err, size_t errlen) {
    for (int i = 0; i < f->n; i++) {
        if (lora_load(&sets[i], g, base, component, f->path[i], f->scale[i], err, errlen)) {
            for (int k = 0; k < i; k++) lora_set_free(&sets[k]);
            return -1;
        }
        if (i) sets[i - 1].next = &sets[i];
    }
    return 0;
}

void lora_free_files(LoraSet* sets, const LoraFiles* f) {
    for (int i = 0; i < f->n; i++) lora_set_free(&sets[i]);
}
