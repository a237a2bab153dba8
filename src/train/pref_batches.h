// pref_batches.h: training batches from a Pick-a-Pic-style manifest, laid out
// laid out as the objective's RowLayout (objective/objective.h) asks:
//
//   ROWS_CHOSEN          B rows: the chosen image of each pair, or a single
//                        image not labelled undesirable (sft)
//   ROWS_PAIRS           2B rows [winners; losers], noise and timestep shared
//                        inside a pair, caption dropout decided once per pair (dpo, mapo)
//   ROWS_UNPAIRED        B rows, each an image with a sign (+1 desirable, -1
//                        undesirable): winners and losers of pairs, labelled singles (kto)
//   ROWS_CAPTION_PAIRS   2B rows [image with its caption; the same image, noise
//                        and timestep with a mismatched caption], signs +1 / -1
//                        (tdpo, tkto); no caption dropout (the pair would be degenerate)
//
// Every random choice is a pure function of (seed, step, index) (util/rng.h).
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "data/caption_perturb.h"
#include "data/manifest.h"
#include "model/schedule.h"
#include "model/tokenizer.h"
#include "objective/objective.h"

typedef struct PrefSource {  // one entry of the pool a layout draws from
    int item, image;
    float sign;
} PrefSource;

typedef struct PrefBatcher {
    const PrefDataset* ds;
    const NoiseSchedule* sched;
    const Tokenizer* tok;
    int text_len;
    RowLayout layout;
    double proportion_empty_prompts;
    bool random_flip;
    PrefSource* pool;
    int npool;
    char** mismatch;  // ROWS_CAPTION_PAIRS: the mismatched caption of each item
    int perturb_count[PERTURB_KINDS];
    float* scratch;
} PrefBatcher;

// 0, or -1 with err saying what the layout needs that the manifest lacks.
int pref_batcher_init(PrefBatcher* b, const PrefDataset* ds, const NoiseSchedule* sched, const Tokenizer* tok,
                      int text_len, RowLayout layout, double proportion_empty_prompts, bool random_flip,
                      uint64_t seed, char* err, size_t errlen);
void pref_batcher_free(PrefBatcher* b);
int pref_rows_per_item(RowLayout layout);  // 1 or 2
// The items a layout draws from (the batcher's pool): pairs (ROWS_PAIRS), chosen
// images (ROWS_CHOSEN), labelled images with both images of a pair (ROWS_UNPAIRED),
// every row (ROWS_CAPTION_PAIRS).
int pref_layout_items(const PrefDataset* ds, RowLayout layout);
// Items first .. first+n-1 of optimizer step `step`, written as n * rows_per_item
// rows: x_t and target [rows, C, S, S], timesteps [rows], ids [rows, L], signs [rows].
void pref_training_batch(PrefBatcher* b, uint64_t seed, int step, int first, int n, float* x_t, float* target,
                         float* timesteps, uint32_t* ids, float* signs);
