// image_prepare.c: see image_prepare.h.
#include "io/image_prepare.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

#include "io/image_resize.h"
#include "io/image_decode.h"
#include "util/check.h"
#include "util/fsutil.h"
#include "util/hash.h"
#include "util/rng.h"

// Interleaved 8-bit pixels with 1 to 4 channels -> planar [want][h][w] in [-1, 1].
// Alpha is composited over white (a transparent pixel shows the page, not the
// colour stored under it); grey becomes RGB by copying, RGB becomes grey by
// ITU-R 601 luma 0.299 R + 0.587 G + 0.114 B (PIL's convert("L"), kept in float).
static void to_planar(const uint8_t* px, int w, int h, int c, int want, float* chw) {
    size_t plane = (size_t)w * h;
    bool alpha = c == 2 || c == 4;
    int colours = alpha ? c - 1 : c;
    for (size_t p = 0; p < plane; p++) {
        const uint8_t* q = px + p * c;
        float a = alpha ? q[c - 1] / 255.0f : 1.0f, v[3];
        for (int k = 0; k < colours; k++) v[k] = a * q[k] + (1 - a) * 255.0f;
        if (colours == 1) v[1] = v[2] = v[0];
        if (want == 1) chw[p] = (colours == 1 ? v[0] : 0.299f * v[0] + 0.587f * v[1] + 0.114f * v[2]) / 127.5f - 1;
        else
            for (int k = 0; k < 3; k++) chw[k * plane + p] = v[k] / 127.5f - 1;
    }
}

// The crop offset along one side with `slack` spare pixels: centred as
// torchvision's CenterCrop (int(round(slack / 2.0)), Python rounding halves to
// even), or drawn from the seed and the image's content.
static int crop_offset(const ImagePrepare* how, uint64_t content, int axis, int slack) {
    if (slack <= 0) return 0;
    if (how->crop == IMAGE_CROP_CENTER) return (int)nearbyint(slack / 2.0);
    return (int)rng_below(how->seed, (uint64_t)axis, RNG_STREAM_CROP, content, (uint32_t)slack + 1);
}

int image_prepare_bytes(const void* data, size_t n, const char* source, const ImagePrepare* how, float* out_chw,
                        ImagePrepared* info, char* err, size_t errlen) {
    if (how->channels != 1 && how->channels != 3)
        return fail(err, errlen, "%s: images are prepared with 1 or 3 channels, not %d", source, how->channels);
    if (how->size < 1) return fail(err, errlen, "%s: image size %d must be >= 1", source, how->size);
    if (how->crop != IMAGE_CROP_CENTER && how->crop != IMAGE_CROP_RANDOM)
        return fail(err, errlen, "%s: unknown crop mode %d", source, (int)how->crop);
    int64_t max_pixels = how->max_pixels > 0 ? how->max_pixels : IMAGE_MAX_PIXELS_DEFAULT;
    int w, h, c;
    uint8_t* px = image_decode_u8(data, n, source, 0, max_pixels, &w, &h, &c, err, errlen);
    if (!px) return -1;
    ImagePrepared done = {.width = w, .height = h, .file_channels = c, .content_hash = hash64(HASH64_INIT, data, n)};
    // The resized image is held whole: a very long thin image would blow up.
    int64_t lng = (int64_t)how->size * (w > h ? w : h) / (w < h ? w : h);
    if (lng * how->size > max_pixels) {
        free(px);
        return fail(err, errlen, "%s: a %dx%d image resized to a short side of %d is %" PRId64 "x%d pixels, over the "
                    "limit of %" PRId64 " (--max_image_pixels)", source, w, h, how->size, lng, how->size, max_pixels);
    }
    float* chw = xmalloc((size_t)w * h * how->channels * sizeof *chw);
    to_planar(px, w, h, c, how->channels, chw);
    free(px);
    image_short_side_size(w, h, how->size, &done.resized_width, &done.resized_height);
    int rw = done.resized_width, rh = done.resized_height;
    float* resized = chw;
    if (rw != w || rh != h) {
        resized = xmalloc((size_t)rw * rh * how->channels * sizeof *resized);
        image_resize(chw, w, h, how->channels, rw, rh, resized);
        free(chw);
    }
    done.crop_x = crop_offset(how, done.content_hash, 0, rw - how->size);
    done.crop_y = crop_offset(how, done.content_hash, 1, rh - how->size);
    image_crop(resized, rw, rh, how->channels, done.crop_x, done.crop_y, how->size, out_chw);
    free(resized);
    if (info) *info = done;
    return 0;
}

int image_prepare(const char* path, const ImagePrepare* how, float* out_chw, ImagePrepared* info, char* err,
                  size_t errlen) {
    size_t n;
    char* data = read_file(path, &n, err, errlen);
    if (!data) return -1;
    int r = image_prepare_bytes(data, n, path, how, out_chw, info, err, errlen);
    free(data);
    return r;
}
