// weights.c: see weights.h.
#include "model/weights.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/check.h"

int weights_load_from(ParamStore* ps, const SafeTensors* st, const char* prefix, char* err, size_t errlen) {
    for (int i = 0; i < ps->n; i++) {
        char name[2 * PARAM_NAME_MAX];
        snprintf(name, sizeof name, "%s%s", prefix, ps->e[i].name);
        float* h = xmalloc((size_t)param_numel(ps, i) * sizeof *h);
        int r = st_load_f32(st, name, ps->e[i].ndim, ps->e[i].shape, h, err, errlen);
        if (r == 0) param_upload(ps, i, h);
        free(h);
        if (r) return -1;
    }
    return 0;
}

int weights_load(ParamStore* ps, const char* path, int* unused, char* err, size_t errlen) {
    SafeTensors* st = st_open(path, err, errlen);
    if (!st) return -1;
    int r = weights_load_from(ps, st, "", err, errlen);
    if (unused) *unused = st_count(st) - ps->n;
    st_close(st);
    return r;
}

int weights_save(const ParamStore* ps, const char* path, bool use_ema, StDtype dtype, char* err, size_t errlen) {
    StWriter w;
    st_writer_init(&w, dtype);
    float** host = xcalloc((size_t)ps->n, sizeof *host);
    for (int i = 0; i < ps->n; i++) {
        host[i] = xmalloc((size_t)param_numel(ps, i) * sizeof(float));
        const Tensor* t = use_ema && ps->has_ema ? &ps->e[i].ema : &ps->e[i].value;
        tensor_download(ps->gpu, t, host[i]);
        st_writer_add(&w, ps->e[i].name, ps->e[i].ndim, ps->e[i].shape, host[i]);
    }
    st_writer_meta(&w, "format", "pt");
    int r = st_writer_write(&w, path, err, errlen);
    st_writer_free(&w);
    for (int i = 0; i < ps->n; i++) free(host[i]);
    free(host);
    return r;
}
