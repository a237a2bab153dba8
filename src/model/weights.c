// weights.c: see weights.h.
#include "model/weights.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/check.h"
#include "util/fsutil.h"

const Tensor* param_slot(const ParamStore* ps, int i, ParamSlot slot) {
    static const char* const names[] = {"values", "first moments", "second moments", "EMA weights"};
    bool have = slot == SLOT_VALUE || (slot == SLOT_EMA ? ps->has_ema : ps->has_adam);
    if (!have)
        die("parameter %s: no %s allocated", ps->e[i].name, names[slot]);
    const ParamEntry* e = &ps->e[i];
    return slot == SLOT_VALUE ? &e->value : slot == SLOT_M ? &e->m : slot == SLOT_V ? &e->v : &e->ema;
}

int weights_load_slot(ParamStore* ps, ParamSlot slot, const SafeTensors* st, const char* prefix, char* err,
                      size_t errlen) {
    for (int i = 0; i < ps->n; i++) {
        char name[2 * PARAM_NAME_MAX];
        snprintf(name, sizeof name, "%s%s", prefix, ps->e[i].name);
        float* h = xmalloc((size_t)param_numel(ps, i) * sizeof *h);
        int r = st_load_f32(st, name, ps->e[i].ndim, ps->e[i].shape, h, err, errlen);
        if (r == 0) tensor_upload(ps->gpu, param_slot(ps, i, slot), h);
        free(h);
        if (r) return -1;
    }
    return 0;
}

int weights_load_from(ParamStore* ps, const SafeTensors* st, int* unused, char* err, size_t errlen) {
    int r = weights_load_slot(ps, SLOT_VALUE, st, "", err, errlen);
    if (unused) *unused = st_count(st) - ps->n;
    return r;
}

int weights_load(ParamStore* ps, const char* path, int* unused, char* err, size_t errlen) {
    SafeTensors* st = st_open(path, err, errlen);
    if (!st) return -1;
    int r = weights_load_from(ps, st, unused, err, errlen);
    st_close(st);
    return r;
}

SafeTensors* weights_open(const char* folder, const char* stem, const char* variant, char* err, size_t errlen) {
    char single[4096], sharded[4096], half[4096];
    bool v = variant && *variant;
    if (v) {
        snprintf(single, sizeof single, "%s/%s.%s.safetensors", folder, stem, variant);
        snprintf(sharded, sizeof sharded, "%s/%s.safetensors.index.%s.json", folder, stem, variant);
    } else {
        snprintf(single, sizeof single, "%s/%s.safetensors", folder, stem);
        snprintf(sharded, sizeof sharded, "%s/%s.safetensors.index.json", folder, stem);
    }
    snprintf(half, sizeof half, "%s/%s.fp16.safetensors", folder, stem);
    if (path_exists(single)) return st_open(single, err, errlen);
    if (path_exists(sharded)) return st_open_sharded(sharded, err, errlen);
    if (!v && path_exists(half)) return st_open(half, err, errlen);
    if (v)
        snprintf(err, errlen, "%s: no weights of variant \"%s\" (%s.%s.safetensors or %s.safetensors.index.%s.json)",
                 folder, variant, stem, variant, stem, variant);
    else
        snprintf(err, errlen, "%s: no weights (%s.safetensors, %s.safetensors.index.json or %s.fp16.safetensors)",
                 folder, stem, stem, stem);
    return NULL;
}

void weights_writer_init(WeightsWriter* w, StDtype dtype) {
    memset(w, 0, sizeof *w);
    st_writer_init(&w->st, dtype);
}

void weights_writer_add(WeightsWriter* w, const ParamStore* ps, ParamSlot slot, const char* prefix) {
    for (int i = 0; i < ps->n; i++) {
        if (w->n == w->cap) w->host = xrealloc(w->host, (size_t)(w->cap = w->cap ? 2 * w->cap : 256) * sizeof *w->host);
        float* h = w->host[w->n++] = xmalloc((size_t)param_numel(ps, i) * sizeof(float));
        tensor_download(ps->gpu, param_slot(ps, i, slot), h);
        char name[2 * PARAM_NAME_MAX];
        snprintf(name, sizeof name, "%s%s", prefix, ps->e[i].name);
        st_writer_add(&w->st, name, ps->e[i].ndim, ps->e[i].shape, h);
    }
}

int weights_writer_finish(WeightsWriter* w, const char* path, char* err, size_t errlen) {
    st_writer_meta(&w->st, "format", "pt");
    int r = st_writer_write(&w->st, path, err, errlen);
    st_writer_free(&w->st);
    for (int i = 0; i < w->n; i++) free(w->host[i]);
    free(w->host);
    memset(w, 0, sizeof *w);
    return r;
}

int weights_save(const ParamStore* ps, const char* path, bool use_ema, StDtype dtype, char* err, size_t errlen) {
    WeightsWriter w;
    weights_writer_init(&w, dtype);
    weights_writer_add(&w, ps, use_ema && ps->has_ema ? SLOT_EMA : SLOT_VALUE, "");
    return weights_writer_finish(&w, path, err, errlen);
}

Tensor weights_upload_tensor(GpuContext* g, Arena* a, const SafeTensors* st, const StTensor* t) {
    Tensor d = arena_tensor(a, t->ndim, t->shape);
    float* h = xmalloc((size_t)t->numel * sizeof *h);
    st_read_f32(st, t, h);
    tensor_upload(g, &d, h);
    free(h);
    return d;
}
