// image_prepare.h: one image file made into a model input, in one call: decode
// (PNG or JPEG, any colour mode), alpha over white, convert to grey or RGB,
// scale to [-1, 1], resize the short side to N (PIL's antialiased bilinear) and
// crop N x N (centred, or at an offset fixed by the seed and the file's content).
// docs/DATA.md states the rules; latent caches key their entries by
// ImagePrepared's content_hash, the size and the crop offset.
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef enum ImageCrop {
    IMAGE_CROP_CENTER = 0,  // torchvision CenterCrop: offsets round((side - N) / 2), halves to even
    IMAGE_CROP_RANDOM,      // an offset drawn once per image from (seed, content hash): every step sees the same crop
} ImageCrop;

typedef struct ImagePrepare {
    int channels;        // 1 (grey) or 3 (RGB)
    int size;            // N: the short side is resized to N, then N x N is kept
    ImageCrop crop;
    uint64_t seed;       // IMAGE_CROP_RANDOM: the run's seed
    int64_t max_pixels;  // largest declared width x height decoded, and largest resized image (<= 0: IMAGE_MAX_PIXELS_DEFAULT)
} ImagePrepare;

// What was done to one image (for caches and messages).
typedef struct ImagePrepared {
    int width, height;                // as stored in the file
    int file_channels;                // as decoded: 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA (palettes expanded)
    int resized_width, resized_height;
    int crop_x, crop_y;               // top-left corner of the kept square in the resized image
    uint64_t content_hash;            // hash64 of the file's bytes
} ImagePrepared;

// out_chw: [how->channels][size][size] floats in [-1, 1]. info may be NULL.
// 0, or -1 with err naming the file and the reason (missing, unreadable,
// truncated, not PNG/JPEG, too large); out_chw is then left unspecified.
int image_prepare(const char* path, const ImagePrepare* how, float* out_chw, ImagePrepared* info, char* err,
                  size_t errlen);
// The same for n bytes in memory; source names them in errors.
int image_prepare_bytes(const void* data, size_t n, const char* source, const ImagePrepare* how, float* out_chw,
                        ImagePrepared* info, char* err, size_t errlen);
