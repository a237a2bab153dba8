// png_image.h: image files. PNG writing with libpng (8-bit grey, RGB or RGBA),
// always atomic (temporary name, fsync, rename); decoding of PNG and JPEG with
// stb_image (DATA.md: manifests reference PNG/JPEG files).
//
// Float images use the model's convention: planar [channels][height][width],
// values in [-1, 1]. The 8-bit mapping matches diffusers (VaeImageProcessor):
// to bytes round(clamp((x + 1) / 2, 0, 1) * 255), from bytes x = b / 127.5 - 1.
#pragma once
#include <stddef.h>
#include <stdint.h>

// pixels: interleaved [height][width][channels] bytes, channels 1 (grey), 3 (RGB) or 4 (RGBA).
int png_write(const char* path, const uint8_t* pixels, int width, int height, int channels, char* err, size_t errlen);
// chw: planar [channels][height][width] in [-1, 1], channels 1 or 3.
int png_write_f32(const char* path, const float* chw, int width, int height, int channels, char* err, size_t errlen);

// [-1, 1] planar float -> interleaved bytes, and back.
uint8_t image_f32_to_u8(float x);
void image_chw_to_hwc_u8(const float* chw, int width, int height, int channels, uint8_t* hwc);
void image_hwc_u8_to_chw(const uint8_t* hwc, int width, int height, int channels, float* chw);

// The default limit on an image's declared width x height, as PIL's
// Image.MAX_IMAGE_PIXELS: a larger image is refused before it is decoded.
#define IMAGE_MAX_PIXELS_DEFAULT 89478485

// Decodes a PNG or JPEG file into a malloc'ed planar float image in [-1, 1].
// want_channels: 0 keeps the file's channels (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA);
// 1 or 3 converts (stb_image's luminance / replication). *channels receives the
// result's channel count. max_pixels: the largest width x height accepted (<= 0:
// IMAGE_MAX_PIXELS_DEFAULT). NULL with err ("<file>: cannot decode image: <reason>",
// or the declared size and the limit) on a missing, unreadable, truncated,
// unsupported or too large file.
float* image_load(const char* path, int want_channels, int64_t max_pixels, int* width, int* height, int* channels,
                  char* err, size_t errlen);
// The same as interleaved bytes [height][width][channels] (free with free()).
uint8_t* image_load_u8(const char* path, int want_channels, int64_t max_pixels, int* width, int* height, int* channels,
                       char* err, size_t errlen);
// image_load_u8 of n bytes in memory; source names them in errors.
uint8_t* image_decode_u8(const void* data, size_t n, const char* source, int want_channels, int64_t max_pixels,
                         int* width, int* height, int* channels, char* err, size_t errlen);
