// lora.c: see lora.h (the adapter set; files are lora_io.c).
#include "model/lora.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/check.h"
#include "util/rng.h"

bool lora_name_matches(const char* module, const char* target, size_t tlen) {
    size_t m = strlen(module);
    if (m == tlen) return !strncmp(module, target, tlen);
    return m > tlen && module[m - tlen - 1] == '.' && !strncmp(module + m - tlen, target, tlen);
}

// "<module>.weight" -> module (false for other leaves).
static bool weight_module(const char* name, char module[PARAM_NAME_MAX]) {
    size_t n = strlen(name), k = strlen(".weight");
    if (n <= k || strcmp(name + n - k, ".weight")) return false;
    memcpy(module, name, n - k);
    module[n - k] = 0;
    return true;
}

void lora_set_begin(LoraSet* s, GpuContext* g, const ParamStore* base) {
    memset(s, 0, sizeof *s);
    param_store_init(&s->ps, g);
    s->nbase = base->n;
    s->by_base = xmalloc((size_t)base->n * sizeof *s->by_base);
    for (int i = 0; i < base->n; i++) s->by_base[i] = -1;
    s->multiplier = 1;
}

int lora_add_adapter(LoraSet* s, const ParamStore* base, int w, int rank, float alpha) {
    const ParamEntry* e = &base->e[w];
    s->ad = xrealloc(s->ad, (size_t)(s->n + 1) * sizeof *s->ad);
    LoraAdapter* a = &s->ad[s->n];
    memset(a, 0, sizeof *a);
    weight_module(e->name, a->module);
    a->base_w = w, a->out = (int)e->shape[0], a->in = (int)e->shape[1], a->rank = rank, a->alpha = alpha;
    if (e->ndim == 4) {
        if (e->shape[2] != e->shape[3]) die("lora: %s: a non-square kernel", e->name);
        a->k = (int)e->shape[2];
        a->a = param_add(&s->ps, a->module, "lora_A.weight", 4, (int64_t[]){rank, a->in, a->k, a->k},
                         INIT_UNIFORM_FAN_IN);
        a->b = param_add(&s->ps, a->module, "lora_B.weight", 4, (int64_t[]){a->out, rank, 1, 1}, INIT_ZERO);
    } else {
        a->a = param_add(&s->ps, a->module, "lora_A.weight", 2, (int64_t[]){rank, a->in}, INIT_UNIFORM_FAN_IN);
        a->b = param_add(&s->ps, a->module, "lora_B.weight", 2, (int64_t[]){a->out, rank}, INIT_ZERO);
    }
    s->by_base[w] = s->n;
    return s->n++;
}

int lora_set_create(LoraSet* s, GpuContext* g, const ParamStore* base, int rank, float alpha, const char* targets,
                    char* err, size_t errlen) {
    if (rank < 1) return fail(err, errlen, "--lora_rank %d: must be >= 1", rank);
    if (!(alpha > 0)) return fail(err, errlen, "--lora_alpha %g: must be > 0", alpha);
    lora_set_begin(s, g, base);
    for (const char* t = targets; *t;) {
        const char* end = strchr(t, ',');
        size_t len = end ? (size_t)(end - t) : strlen(t);
        while (len && *t == ' ') t++, len--;
        while (len && t[len - 1] == ' ') len--;
        int found = 0;
        for (int i = 0; len && i < base->n; i++) {
            char module[PARAM_NAME_MAX];
            if (!weight_module(base->e[i].name, module) || !lora_name_matches(module, t, len)) continue;
            if (!base->e[i].adaptable) {
                lora_set_free(s);
                return fail(err, errlen, "--lora_target_modules: %s is neither a Linear nor a Conv2d layer", module);
            }
            found++;
            if (s->by_base[i] < 0) lora_add_adapter(s, base, i, rank, alpha);
        }
        if (len && !found) {
            lora_set_free(s);
            return fail(err, errlen, "--lora_target_modules: no module of the UNet is named %.*s or ends with .%.*s",
                        (int)len, t, (int)len, t);
        }
        t = end ? end + 1 : t + len;
    }
    if (!s->n) {
        lora_set_free(s);
        return fail(err, errlen, "--lora_target_modules \"%s\": no target", targets);
    }
    return 0;
}

void lora_set_free(LoraSet* s) {
    param_store_free(&s->ps);
    free(s->ad);
    free(s->by_base);
    memset(s, 0, sizeof *s);
}

void lora_set_init(LoraSet* s, uint64_t seed) { param_store_init_random(&s->ps, seed); }

const LoraAdapter* lora_find(const LoraSet* s, int w) {
    if (!s || w < 0 || w >= s->nbase || s->by_base[w] < 0) return NULL;
    return &s->ad[s->by_base[w]];
}

void lora_dropout_key(float key[4], uint64_t seed, int step, int first_item, int items) {
    uint64_t h = rng_hash(seed, (uint64_t)step, RNG_STREAM_LORA_DROPOUT, 0);
    uint32_t w[4] = {(uint32_t)h, (uint32_t)(h >> 32), (uint32_t)first_item, (uint32_t)items};
    memcpy(key, w, sizeof w);
}

void lora_merge(const LoraSet* s, ParamStore* base) {
    for (int i = 0; i < s->n; i++) {
        const LoraAdapter* a = &s->ad[i];
        int64_t I = (int64_t)a->in * (a->k ? a->k * a->k : 1), O = a->out, K = a->rank;  // A [r, in k k], B [out, r]
        float* w = xmalloc((size_t)(O * I) * sizeof *w);
        float* A = xmalloc((size_t)(K * I) * sizeof *A);
        float* B = xmalloc((size_t)(O * K) * sizeof *B);
        param_download(base, a->base_w, w), param_download(&s->ps, a->a, A), param_download(&s->ps, a->b, B);
        double scale = lora_scale(s, a);
        for (int64_t o = 0; o < O; o++)
            for (int64_t j = 0; j < I; j++) {
                double acc = 0;
                for (int64_t k = 0; k < K; k++) acc += (double)B[o * K + k] * A[k * I + j];
                w[o * I + j] = (float)(w[o * I + j] + scale * acc);
            }
        param_upload(base, a->base_w, w);
        free(w), free(A), free(B);
    }
}

int64_t lora_frozen_sink_numel(const ParamStore* base) {
    int64_t most = 0;  // frozen norms' scale and shift gradients (convs and linears skip theirs)
    for (int i = 0; i < base->n; i++)
        if (base->e[i].ndim == 1 && param_numel(base, i) > most) most = param_numel(base, i);
    return 2 * most + 64;
}
