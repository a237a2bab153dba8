// png_image.c: atomic PNG writer (libpng) and the byte/float pixel conversions.
// See png_image.h.
#include "io/png_image.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/check.h"
#include "util/fsutil.h"


// ---------------------------------------------------------------------------
// Conversions.

uint8_t image_f32_to_u8(float x) {
    float v = (x + 1.0f) * 0.5f;
    if (!(v > 0.0f)) v = 0.0f;  // also maps NaN to 0
    if (v > 1.0f) v = 1.0f;
    return (uint8_t)lrintf(v * 255.0f);
}

void image_chw_to_hwc_u8(const float* chw, int width, int height, int channels, uint8_t* hwc) {
    size_t plane = (size_t)width * height;
    for (size_t p = 0; p < plane; p++)
        for (int c = 0; c < channels; c++) hwc[p * channels + c] = image_f32_to_u8(chw[c * plane + p]);
}

void image_hwc_u8_to_chw(const uint8_t* hwc, int width, int height, int channels, float* chw) {
    size_t plane = (size_t)width * height;
    for (size_t p = 0; p < plane; p++)
        for (int c = 0; c < channels; c++) chw[c * plane + p] = (float)hwc[p * channels + c] / 127.5f - 1.0f;
}

// ---------------------------------------------------------------------------
// PNG writing. libpng reports errors by longjmp from its error callback; the
// message is kept for our own error text.

void png_on_error(png_structp png, png_const_charp msg) {
    PngErr* e = png_get_error_ptr(png);
    snprintf(e->msg, sizeof e->msg, "%s", msg);
    png_longjmp(png, 1);
}
void png_on_warning(png_structp png, png_const_charp msg) { (void)png, (void)msg; }

// Encodes into an already-open stream; 0 or -1 with err.
static int png_encode(FILE* f, const char* path, const uint8_t* pixels, int width, int height, int channels, char* err,
                      size_t errlen) {
    PngErr pe = {{0}};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &pe, png_on_error, png_on_warning);
    if (!png) return fail(err, errlen, "%s: png_create_write_struct failed", path);
    png_infop info = png_create_info_struct(png);
    png_bytep* rows = xmalloc((size_t)height * sizeof *rows);
    for (int y = 0; y < height; y++) rows[y] = (png_bytep)(pixels + (size_t)y * width * channels);
    if (!info || setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, info ? &info : NULL);
        free(rows);
        return fail(err, errlen, "%s: PNG encoding failed: %s", path, pe.msg[0] ? pe.msg : "out of memory");
    }
    static const int color_types[5] = {0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_COLOR_TYPE_RGB,
                                       PNG_COLOR_TYPE_RGB_ALPHA};
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8, color_types[channels], PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    png_write_image(png, rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(rows);
    return 0;
}

int png_write(const char* path, const uint8_t* pixels, int width, int height, int channels, char* err, size_t errlen) {
    if (width <= 0 || height <= 0 || width > 1000000 || height > 1000000 || channels < 1 || channels > 4)
        return fail(err, errlen, "%s: cannot write a %dx%d PNG with %d channels", path, width, height, channels);
    AtomicFile af;
    if (atomic_write_begin(&af, path, err, errlen) != 0) return -1;
    if (png_encode(af.f, path, pixels, width, height, channels, err, errlen) != 0) {
        atomic_write_abort(&af);
        return -1;
    }
    return atomic_write_commit(&af, err, errlen);
}

int png_write_f32(const char* path, const float* chw, int width, int height, int channels, char* err, size_t errlen) {
    if (channels != 1 && channels != 3)
        return fail(err, errlen, "%s: float images are written with 1 or 3 channels, not %d", path, channels);
    if (width <= 0 || height <= 0 || width > 1000000 || height > 1000000)
        return fail(err, errlen, "%s: cannot write a %dx%d PNG", path, width, height);
    uint8_t* hwc = xmalloc((size_t)width * height * channels);
    image_chw_to_hwc_u8(chw, width, height, channels, hwc);
    int r = png_write(path, hwc, width, height, channels, err, errlen);
    free(hwc);
    return r;
}
