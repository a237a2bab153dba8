// image_decode.h: decoding of the image files manifests name (PNG with libpng,
// JPEG with libjpeg-turbo), with the declared size checked before any pixel is
// decoded. Decoded pixels are the file's own: no gamma or colour-profile
// correction (as PIL, which diffusers' data loaders use), 16-bit samples keep
// their high byte, palettes and tRNS become RGB(A), Adobe CMYK/YCCK JPEGs
// become RGB.
#pragma once
#include <stddef.h>
#include <stdint.h>

// The default limit on an image's declared width x height, as PIL's
// Image.MAX_IMAGE_PIXELS: a larger image is refused before it is decoded.
#define IMAGE_MAX_PIXELS_DEFAULT 89478485

// Decodes a PNG or JPEG file into a malloc'ed planar float image in [-1, 1].
// want_channels: 0 keeps the file's channels (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA);
// 1 to 4 converts (grey from RGB by integer luma (77 R + 150 G + 29 B) >> 8, grey
// copied to RGB, alpha dropped or set opaque). *channels receives the result's
// channel count. max_pixels: the largest width x height accepted (<= 0:
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
