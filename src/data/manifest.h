// manifest.h: Pick-a-Pic-style JSON Lines manifests (DATA.md).
//
// One row a line; image paths relative to the manifest's folder:
//   pairs:  {"caption", "jpg_0", "jpg_1", "label_0", "label_1", ...}
//   single: {"caption", "jpg_0"[, "label"]}   (TPO image-caption rows; KTO rows with
//           "label": 1 desirable / 0 undesirable)
// Optional "caption_mismatch" (TPO) is kept; other fields are ignored. Ties
// (label_0 == label_1) are dropped and counted. Pairs are stored winner first.
// Images are prepared once, on loading, by image_prepare (io/image_prepare.h:
// decoded, converted to the model's channels, short side resized to `size`,
// cropped size x size, in [-1, 1]); flips are a per-step random choice made by
// the batcher, not here.
//
// A bad row (malformed JSON, missing or mistyped field, a missing, unreadable or
// truncated image) is an error naming the manifest, the line and the field or
// file; with skip_bad it is counted and skipped instead.
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io/image_prepare.h"

// Turns each prepared image into what the dataset keeps (latent pipelines: its
// latents, train/latent_cache.h), so the pixels of a whole dataset are never held.
// With two variants the second is of the horizontally mirrored image, and the
// batcher picks it instead of mirroring the stored values.
typedef struct ImageEncoder {
    int channels, size;  // of what encode writes: [channels, size, size]
    int variants;        // 1, or 2: [as is, mirrored]
    int (*encode)(void* ctx, const float* image, float* out, char* err, size_t errlen);
    void* ctx;
} ImageEncoder;

typedef struct PrefItem {
    char* caption;
    char* caption_mismatch;  // NULL when absent
    int nimages;             // 2: pair (winner first), 1: single image
    float* images;           // [nimages][variants][channels][size][size]
    char* image_paths[2];    // the files of images[0..nimages), as opened (relative to the working folder)
    int label;               // single rows: 1 desirable, 0 undesirable, -1 none
    int line;                // 1-based line in the manifest
} PrefItem;

typedef struct PrefDataset {
    char* path;
    PrefItem* items;
    int n, cap;
    int channels, size;      // of a stored image (an encoder's output when there is one)
    int variants;            // 1, or 2 when mirrored images are stored too
    int pairs, singles;      // kinds of rows kept
    int ties_dropped, skipped;
} PrefDataset;

typedef struct ManifestOptions {
    int channels;        // the model's in_channels (1 or 3)
    int size;            // pixel side N the images are prepared at (--resolution; sample_size in pixel space)
    ImageCrop crop;      // centre (default) or a random offset fixed per image (--random_crop)
    uint64_t seed;       // IMAGE_CROP_RANDOM: the run's seed
    bool skip_bad;       // skip and count bad rows instead of stopping
    int max_rows;        // > 0: keep only the first max_rows usable rows (the rest is not read)
    int64_t max_image_pixels;  // largest declared width x height decoded (<= 0: IMAGE_MAX_PIXELS_DEFAULT)
    const ImageEncoder* encoder;  // NULL: keep the prepared images themselves
} ManifestOptions;

// 0 on success (at least one row kept); -1 with err naming file, line and reason.
int manifest_load(PrefDataset* d, const char* path, const ManifestOptions* o, char* err, size_t errlen);
void manifest_free(PrefDataset* d);
// Image k (0 = winner or the single image) of item i.
const float* pref_image(const PrefDataset* d, int i, int k);
// Its mirrored variant (NULL when the dataset stores none).
const float* pref_image_mirrored(const PrefDataset* d, int i, int k);
