// pref_batches.c: see pref_batches.h.
#include "train/pref_batches.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/image_resize.h"
#include "util/check.h"
#include "util/rng.h"

int pref_rows_per_item(RowLayout layout) { return layout == ROWS_PAIRS || layout == ROWS_CAPTION_PAIRS ? 2 : 1; }

static void add(PrefBatcher* b, int item, int image, float sign) {
    if (!b->ds) {  // counting only (pref_layout_items)
        b->npool++;
        return;
    }
    b->pool = xrealloc(b->pool, (size_t)(b->npool + 1) * sizeof *b->pool);
    b->pool[b->npool++] = (PrefSource){item, image, sign};
}

// The entries layout draws from, into b->pool (or only counted when b->ds is NULL).
static void build_pool(PrefBatcher* b, const PrefDataset* ds, RowLayout layout) {
    for (int i = 0; i < ds->n; i++) {
        const PrefItem* it = &ds->items[i];
        switch (layout) {
        case ROWS_CHOSEN:
            if (it->nimages == 2 || it->label != 0) add(b, i, 0, 1);
            break;
        case ROWS_PAIRS:
            if (it->nimages == 2) add(b, i, 0, 1);
            break;
        case ROWS_UNPAIRED:
            if (it->nimages == 2) add(b, i, 0, 1), add(b, i, 1, -1);
            else if (it->label >= 0) add(b, i, 0, it->label ? 1.0f : -1.0f);
            break;
        case ROWS_CAPTION_PAIRS:
            add(b, i, 0, 1);
            break;
        }
    }
}

int pref_layout_items(const PrefDataset* ds, RowLayout layout) {
    PrefBatcher count = {0};
    build_pool(&count, ds, layout);
    return count.npool;
}

int pref_batcher_init(PrefBatcher* b, const PrefDataset* ds, const NoiseSchedule* sched, const Tokenizer* tok,
                      int text_len, RowLayout layout, double proportion_empty_prompts, bool random_flip,
                      uint64_t seed, char* err, size_t errlen) {
    memset(b, 0, sizeof *b);
    *b = (PrefBatcher){.ds = ds, .sched = sched, .tok = tok, .text_len = text_len, .layout = layout,
                       .proportion_empty_prompts = proportion_empty_prompts, .random_flip = random_flip};
    static const char* const need[] = {"chosen images (pairs, or single rows not labelled 0)",
                                       "pairs (rows with jpg_0, jpg_1 and labels)",
                                       "labelled images (pairs, or single rows with \"label\")", "images"};
    build_pool(b, ds, layout);
    if (b->npool == 0) {
        pref_batcher_free(b);
        return fail(err, errlen, "%s: this objective trains on %s, and the manifest has none", ds->path, need[layout]);
    }
    if (layout == ROWS_CAPTION_PAIRS) {
        const char** caps = xmalloc((size_t)ds->n * sizeof *caps);
        for (int i = 0; i < ds->n; i++) caps[i] = ds->items[i].caption;
        b->mismatch = xcalloc((size_t)ds->n, sizeof *b->mismatch);
        for (int i = 0; i < ds->n; i++) {
            char buf[1024];
            PerturbKind k = PERTURB_FROM_MANIFEST;
            if (ds->items[i].caption_mismatch) snprintf(buf, sizeof buf, "%s", ds->items[i].caption_mismatch);
            else k = caption_perturb(caps, ds->n, i, seed, buf, sizeof buf);
            b->mismatch[i] = xstrdup(buf);
            b->perturb_count[k]++;
        }
        free(caps);
    }
    int64_t E = (int64_t)ds->channels * ds->size * ds->size;
    b->scratch = xmalloc((size_t)(2 * E + text_len) * sizeof(float));
    return 0;
}

void pref_batcher_free(PrefBatcher* b) {
    if (b->mismatch)
        for (int i = 0; i < b->ds->n; i++) free(b->mismatch[i]);
    free(b->mismatch), free(b->pool), free(b->scratch);
    memset(b, 0, sizeof *b);
}

static void encode(PrefBatcher* b, const char* caption, uint32_t* ids) {
    int32_t* tmp = (int32_t*)(b->scratch + 2 * (int64_t)b->ds->channels * b->ds->size * b->ds->size);
    tokenizer_encode(b->tok, caption, b->text_len, tmp);
    for (int k = 0; k < b->text_len; k++) ids[k] = (uint32_t)tmp[k];
}

// One row: image k of item i (mirrored or not) noised with eps at t.
static void noised_row(PrefBatcher* b, int i, int k, bool flip, const float* eps, int t, float* x_t, float* target) {
    int S = b->ds->size, C = b->ds->channels;
    int64_t E = (int64_t)C * S * S;
    float* x0 = b->scratch;
    const float* mirrored = flip ? pref_image_mirrored(b->ds, i, k) : NULL;  // latents of the mirrored image
    memcpy(x0, mirrored ? mirrored : pref_image(b->ds, i, k), (size_t)E * sizeof *x0);
    if (flip && !mirrored) image_flip_horizontal(x0, S, S, C);
    schedule_add_noise(b->sched, t, x0, eps, (long)E, x_t, target);
}

void pref_training_batch(PrefBatcher* b, uint64_t seed, int step, int first, int n, float* x_t, float* target,
                         float* timesteps, uint32_t* ids, float* signs) {
    int64_t E = (int64_t)b->ds->channels * b->ds->size * b->ds->size;
    int T = b->sched->cfg.num_train_timesteps, L = b->text_len;
    bool two = pref_rows_per_item(b->layout) == 2;
    float* eps = b->scratch + E;
    for (int i = 0; i < n; i++) {
        uint64_t j = (uint64_t)(first + i);
        const PrefSource* src = &b->pool[rng_below(seed, (uint64_t)step, RNG_STREAM_BATCH, j, (uint32_t)b->npool)];
        const PrefItem* it = &b->ds->items[src->item];
        int t = (int)rng_below(seed, (uint64_t)step, RNG_STREAM_TIMESTEP, j, (uint32_t)T);
        bool flip = b->random_flip && rng_u01(seed, (uint64_t)step, RNG_STREAM_FLIP, j) < 0.5;
        bool drop = b->layout != ROWS_CAPTION_PAIRS &&
                    rng_u01(seed, (uint64_t)step, RNG_STREAM_DROPOUT, j) < b->proportion_empty_prompts;
        rng_normal_fill(eps, E, seed, (uint64_t)step, RNG_STREAM_NOISE, j * (uint64_t)E);
        // Row r = i (first half) and, for two-row layouts, r = n + i (second half).
        for (int h = 0; h < (two ? 2 : 1); h++) {
            int r = h * n + i;
            int image = b->layout == ROWS_PAIRS ? h : src->image;
            noised_row(b, src->item, image, flip, eps, t, x_t + r * E, target + r * E);
            const char* cap = drop ? "" : (b->layout == ROWS_CAPTION_PAIRS && h == 1) ? b->mismatch[src->item] : it->caption;
            encode(b, cap, ids + (int64_t)r * L);
            timesteps[r] = (float)t;
            signs[r] = two ? (h == 0 ? 1.0f : -1.0f) : src->sign;
        }
    }
}
