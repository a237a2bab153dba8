// png_image.h: PNG writing with libpng (8-bit grey, RGB or RGBA), always atomic
// (temporary name, fsync, rename), and the byte/float pixel conversions.
// Decoding is in image_decode.h.
//
// Float images use the model's convention: planar [channels][height][width],
// values in [-1, 1]. The 8-bit mapping matches diffusers (VaeImageProcessor):
// to bytes round(clamp((x + 1) / 2, 0, 1) * 255), from bytes x = b / 127.5 - 1.
#pragma once
#include <png.h>
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

// libpng reports an error by calling its error callback, which must not return:
// these keep the message (for our own error text) and longjmp to the caller's
// setjmp(png_jmpbuf(png)). The error pointer given to png_create_*_struct is a PngErr.
typedef struct PngErr {
    char msg[200];
} PngErr;
void png_on_error(png_structp png, png_const_charp msg);
void png_on_warning(png_structp png, png_const_charp msg);
