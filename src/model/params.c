// params.c: see params.h.
#include "model/params.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gpu/cmd.h"
#include "util/check.h"

void param_store_init(ParamStore* ps, GpuContext* g) {
    memset(ps, 0, sizeof *ps);
    ps->gpu = g;
}

void param_store_free(ParamStore* ps) {
    if (ps->allocated) {
        arena_free(&ps->value);
        if (ps->has_grad) arena_free(&ps->grad);
        if (ps->has_adam) arena_free(&ps->m), arena_free(&ps->v);
        if (ps->has_ema) arena_free(&ps->ema);
    }
    free(ps->e);
    free(ps->init);
    memset(ps, 0, sizeof *ps);
}

int param_add(ParamStore* ps, const char* prefix, const char* leaf, int ndim, const int64_t* shape, ParamInit init) {
    if (ps->allocated) die("param_add(%s.%s) after the store was allocated", prefix, leaf);
    if (ps->n == ps->cap) {
        ps->cap = ps->cap ? 2 * ps->cap : 256;
        ps->e = xrealloc(ps->e, (size_t)ps->cap * sizeof *ps->e);
        ps->init = xrealloc(ps->init, (size_t)ps->cap * sizeof *ps->init);
    }
    ParamEntry* e = &ps->e[ps->n];
    memset(e, 0, sizeof *e);
    int len = snprintf(e->name, sizeof e->name, "%s%s%s", prefix, *prefix ? "." : "", leaf);
    if (len >= PARAM_NAME_MAX) die("parameter name too long: %s.%s", prefix, leaf);
    if (param_find(ps, e->name) >= 0) die("parameter %s registered twice", e->name);
    e->ndim = ndim;
    for (int i = 0; i < ndim; i++) e->shape[i] = shape[i];
    e->trainable = true;
    ps->init[ps->n] = init;
    return ps->n++;
}

int param_find(const ParamStore* ps, const char* name) {
    for (int i = 0; i < ps->n; i++)
        if (strcmp(ps->e[i].name, name) == 0) return i;
    return -1;
}

int param_store_mismatch(const ParamStore* a, const ParamStore* b) {
    int n = a->n < b->n ? a->n : b->n;
    for (int i = 0; i < n; i++) {
        const ParamEntry *x = &a->e[i], *y = &b->e[i];
        if (strcmp(x->name, y->name) || x->ndim != y->ndim ||
            memcmp(x->shape, y->shape, (size_t)x->ndim * sizeof x->shape[0]))
            return i;
    }
    return a->n == b->n ? -1 : n;
}

int64_t param_numel(const ParamStore* ps, int i) {
    int64_t n = 1;
    for (int d = 0; d < ps->e[i].ndim; d++) n *= ps->e[i].shape[d];
    return n;
}

int64_t param_count(const ParamStore* ps) {
    int64_t n = 0;
    for (int i = 0; i < ps->n; i++) n += param_numel(ps, i);
    return n;
}

// Chunks no larger than one storage-buffer binding, so a whole chunk is one tensor.
static VkDeviceSize chunk_bytes(const GpuContext* g) {
    VkDeviceSize limit = g->props.limits.maxStorageBufferRange;
    VkDeviceSize want = (VkDeviceSize)256 << 20;
    return (limit < want ? limit : want) & ~(VkDeviceSize)255;
}

void param_store_alloc_frozen(ParamStore* ps, DType dtype) {
    ps->dtype = dtype;
    param_store_alloc(ps, false, false, false);
}

void param_store_alloc(ParamStore* ps, bool grads, bool adam, bool ema) {
    if (ps->allocated) die("parameter store allocated twice");
    if (ps->dtype != DTYPE_F32 && (grads || adam || ema)) die("an F16 parameter store cannot be trained");
    VkDeviceSize cb = chunk_bytes(ps->gpu);
    Arena* arenas[] = {&ps->value, &ps->grad, &ps->m, &ps->v, &ps->ema};
    const char* names[] = {"params", "grads", "adam_m", "adam_v", "ema"};
    bool on[] = {true, grads, adam, adam, ema};
    for (int a = 0; a < 5; a++) {
        if (!on[a]) continue;
        arena_init(arenas[a], ps->gpu, names[a], cb, false);
        for (int i = 0; i < ps->n; i++) {
            Tensor t = arena_tensor_typed(arenas[a], a == 0 ? ps->dtype : DTYPE_F32, ps->e[i].ndim, ps->e[i].shape);
            Tensor* slot[] = {&ps->e[i].value, &ps->e[i].grad, &ps->e[i].m, &ps->e[i].v, &ps->e[i].ema};
            *slot[a] = t;
        }
    }
    ps->has_grad = grads, ps->has_adam = adam, ps->has_ema = ema;
    ps->allocated = true;
    // Padding between tensors must be zero so whole-chunk updates keep it zero.
    Cmd c;
    cmd_begin(&c, ps->gpu);
    for (int a = 0; a < 5; a++)
        for (int k = 0; on[a] && k < arenas[a]->nchunks; k++) {
            Tensor t = param_chunk(ps, arenas[a], k);
            cmd_fill(&c, &t, 0.0f);
        }
    cmd_submit(&c);
    cmd_free(&c);
}

int param_chunks(const ParamStore* ps) { return ps->value.nchunks; }

Tensor param_chunk(const ParamStore* ps, const Arena* a, int chunk) {
    Tensor t = {.buf = (GpuBuffer*)&a->chunk[chunk], .offset = 0, .ndim = 1,
                .dtype = a == &ps->value ? ps->dtype : DTYPE_F32};
    t.shape[0] = (int64_t)((a->used[chunk] + 15) / 16 * 16 / dtype_bytes(t.dtype));
    return t;
}

void param_upload(ParamStore* ps, int i, const float* host) { tensor_upload(ps->gpu, &ps->e[i].value, host); }
void param_download(const ParamStore* ps, int i, float* host) { tensor_download(ps->gpu, &ps->e[i].value, host); }

// ---------------------------------------------------------------------------

static uint64_t splitmix(uint64_t* s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// fan_in of a weight [out, in, ...] or of the bias that follows it: PyTorch's
// Linear/Conv2d init bound 1/sqrt(fan_in) for both weight and bias.
void param_store_init_random(ParamStore* ps, uint64_t seed) {
    int64_t fan_in = 1;
    for (int i = 0; i < ps->n; i++) {
        const ParamEntry* e = &ps->e[i];
        int64_t n = param_numel(ps, i);
        float* h = xmalloc((size_t)n * sizeof *h);
        if (e->ndim >= 2) {
            fan_in = 1;
            for (int d = 1; d < e->ndim; d++) fan_in *= e->shape[d];
        }
        uint64_t s = seed ^ (0xA5A5A5A5ull * (uint64_t)(i + 1));
        double bound = 1.0 / sqrt((double)fan_in);
        for (int64_t k = 0; k < n; k++) {
            switch (ps->init[i]) {
            case INIT_ZERO: h[k] = 0; break;
            case INIT_ONE: h[k] = 1; break;
            case INIT_UNIFORM_FAN_IN: h[k] = (float)(((splitmix(&s) >> 11) * 0x1.0p-53 * 2 - 1) * bound); break;
            }
        }
        param_upload(ps, i, h);
        free(h);
    }
}

void param_join(char out[PARAM_NAME_MAX], const char* prefix, const char* name) {
    if (snprintf(out, PARAM_NAME_MAX, "%s.%s", prefix, name) >= PARAM_NAME_MAX)
        die("parameter name too long: %s.%s", prefix, name);
}

void param_store_reset_ema(ParamStore* ps) {
    if (!ps->has_ema) die("param_store_reset_ema: no EMA allocated");
    Cmd c;
    cmd_begin(&c, ps->gpu);
    for (int k = 0; k < param_chunks(ps); k++) {
        Tensor src = param_chunk(ps, &ps->value, k), dst = param_chunk(ps, &ps->ema, k);
        cmd_copy(&c, &dst, &src);
    }
    cmd_end(&c);
    cmd_submit(&c);
    cmd_free(&c);
}
