// image_decode.c: PNG (libpng) and JPEG (libjpeg-turbo) decoding. See image_decode.h.
//
// Both libraries are the formats' reference decoders and are fuzzed upstream;
// each reports errors by longjmp from a callback, so every object a decoder
// allocates after its setjmp is held in a volatile pointer and freed on the way out.
#include "io/image_decode.h"

#include <inttypes.h>
#include <png.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// jpeglib.h assumes size_t and FILE are declared before it.
#include <jerror.h>
#include <jpeglib.h>

#include "io/png_image.h"
#include "util/check.h"
#include "util/fsutil.h"

// A progressive JPEG may hold any number of scans, each a pass over the whole
// image: a few kilobytes of scans can keep a decoder busy for minutes. Real
// encoders write about ten; libjpeg-turbo's own tools stop at 500.
#define JPEG_MAX_SCANS 500

static bool size_refused(const char* source, int64_t w, int64_t h, int64_t max_pixels, char* err, size_t errlen) {
    if (w * h <= max_pixels) return false;
    fail(err, errlen, "%s: image of %" PRId64 "x%" PRId64 " = %" PRId64 " pixels exceeds the limit of %" PRId64
                      " pixels (--max_image_pixels)", source, w, h, w * h, max_pixels);
    return true;
}

// ---------------------------------------------------------------------------
// PNG.

typedef struct PngSource {
    const uint8_t* data;
    size_t n, at;
} PngSource;

static void png_read_from_memory(png_structp png, png_bytep out, size_t len) {
    PngSource* src = png_get_io_ptr(png);
    if (len > src->n - src->at) png_error(png, "truncated data");
    memcpy(out, src->data + src->at, len);
    src->at += len;
}

// The file's pixels at 8 bits, with its own channels: grey, grey+alpha, RGB or
// RGBA (a palette becomes RGB, tRNS becomes alpha, 16-bit keeps the high byte).
// NULL with err.
static uint8_t* png_decode(const uint8_t* data, size_t n, const char* source, int64_t max_pixels, int* width,
                           int* height, int* channels, char* err, size_t errlen) {
    PngErr pe = {{0}};
    PngSource src = {data, n, 0};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &pe, png_on_error, png_on_warning);
    if (!png) {
        fail(err, errlen, "%s: cannot decode image: png_create_read_struct failed", source);
        return NULL;
    }
    png_infop info = png_create_info_struct(png);
    uint8_t* volatile px = NULL;
    png_bytep* volatile rows = NULL;
    if (!info || setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, info ? &info : NULL, NULL);
        free(px);
        free(rows);
        fail(err, errlen, "%s: cannot decode image: %s", source, pe.msg[0] ? pe.msg : "out of memory");
        return NULL;
    }
    png_set_read_fn(png, &src, png_read_from_memory);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    if (size_refused(source, w, h, max_pixels, err, errlen)) {  // before any pixel is allocated
        png_destroy_read_struct(&png, &info, NULL);
        return NULL;
    }
    png_set_expand(png);  // palette -> RGB, grey below 8 bits -> 8, tRNS -> alpha
    png_set_strip_16(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    int c = png_get_channels(png, info);
    if (c < 1 || c > 4 || png_get_rowbytes(png, info) != (size_t)w * c) png_error(png, "unsupported pixel layout");
    px = malloc((size_t)w * h * c);
    rows = malloc((size_t)h * sizeof *rows);
    if (!px || !rows) png_error(png, "out of memory");
    for (png_uint_32 y = 0; y < h; y++) rows[y] = px + (size_t)y * w * c;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    *width = (int)w;
    *height = (int)h;
    *channels = c;
    return px;
}

// ---------------------------------------------------------------------------
// JPEG.

typedef struct JpegErr {
    struct jpeg_error_mgr mgr;  // first: libjpeg's callbacks get it as cinfo->err
    jmp_buf jump;
    char msg[JMSG_LENGTH_MAX];
} JpegErr;

static void jpeg_on_error(j_common_ptr cinfo) {
    JpegErr* e = (JpegErr*)cinfo->err;
    cinfo->err->format_message(cinfo, e->msg);
    longjmp(e->jump, 1);
}

// Warnings are corrupt-data reports the decoder recovers from (as PIL ignores
// them), except a file that ends early: its missing rows would be grey, which
// must not become training data.
static void jpeg_on_message(j_common_ptr cinfo, int level) {
    if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) jpeg_on_error(cinfo);
}

static void jpeg_on_progress(j_common_ptr cinfo) {
    j_decompress_ptr d = (j_decompress_ptr)cinfo;
    if (d->input_scan_number > JPEG_MAX_SCANS) {
        JpegErr* e = (JpegErr*)cinfo->err;
        snprintf(e->msg, sizeof e->msg, "more than %d scans", JPEG_MAX_SCANS);
        longjmp(e->jump, 1);
    }
}

// Adobe's CMYK is stored inverted (255 = no ink): RGB = (C K, M K, Y K) / 255.
static void cmyk_row_to_rgb(const uint8_t* cmyk, int w, uint8_t* rgb) {
    for (int x = 0; x < w; x++)
        for (int k = 0; k < 3; k++) rgb[3 * x + k] = (uint8_t)((cmyk[4 * x + k] * cmyk[4 * x + 3] + 127) / 255);
}

// Grey (1 channel) or RGB (3): YCbCr and RGB files become RGB, CMYK and YCCK too.
static uint8_t* jpeg_decode(const uint8_t* data, size_t n, const char* source, int64_t max_pixels, int* width,
                            int* height, int* channels, char* err, size_t errlen) {
    struct jpeg_decompress_struct cinfo;
    struct jpeg_progress_mgr progress = {.progress_monitor = jpeg_on_progress};
    JpegErr je = {.msg = ""};
    cinfo.err = jpeg_std_error(&je.mgr);
    je.mgr.error_exit = jpeg_on_error;
    je.mgr.emit_message = jpeg_on_message;
    uint8_t* volatile px = NULL;
    if (setjmp(je.jump)) {
        jpeg_destroy_decompress(&cinfo);
        free(px);
        fail(err, errlen, "%s: cannot decode image: %s", source, je.msg);
        return NULL;
    }
    jpeg_create_decompress(&cinfo);
    cinfo.progress = &progress;
    jpeg_mem_src(&cinfo, data, (unsigned long)n);
    jpeg_read_header(&cinfo, TRUE);
    if (size_refused(source, cinfo.image_width, cinfo.image_height, max_pixels, err, errlen)) {
        jpeg_destroy_decompress(&cinfo);  // before any pixel is allocated
        return NULL;
    }
    bool cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
    cinfo.out_color_space = cinfo.jpeg_color_space == JCS_GRAYSCALE ? JCS_GRAYSCALE : cmyk ? JCS_CMYK : JCS_RGB;
    jpeg_start_decompress(&cinfo);
    int w = (int)cinfo.output_width, h = (int)cinfo.output_height, c = cmyk ? 3 : cinfo.output_components;
    if (c != 1 && c != 3) ERREXIT(&cinfo, JERR_BAD_J_COLORSPACE);
    px = malloc((size_t)w * h * c);
    if (!px) ERREXIT1(&cinfo, JERR_OUT_OF_MEMORY, 0);
    JSAMPARRAY cmyk_row = cmyk ? cinfo.mem->alloc_sarray((j_common_ptr)&cinfo, JPOOL_IMAGE, (JDIMENSION)w * 4, 1) : NULL;
    while (cinfo.output_scanline < cinfo.output_height) {
        uint8_t* row = px + (size_t)cinfo.output_scanline * w * c;
        JSAMPROW into = cmyk ? cmyk_row[0] : row;
        jpeg_read_scanlines(&cinfo, &into, 1);
        if (cmyk) cmyk_row_to_rgb(cmyk_row[0], w, row);
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    *width = w;
    *height = h;
    *channels = c;
    return px;
}

// ---------------------------------------------------------------------------
// Channels.

// Interleaved 8-bit pixels from c to want channels: grey <- RGB by integer luma, RGB <- grey by copying, alpha
// dropped, or set to 255 where the file has none.
static uint8_t* convert_channels(uint8_t* px, int w, int h, int c, int want) {
    if (want == 0 || want == c) return px;
    size_t plane = (size_t)w * h;
    uint8_t* out = xmalloc(plane * want);
    bool src_alpha = c == 2 || c == 4, dst_alpha = want == 2 || want == 4;
    for (size_t p = 0; p < plane; p++) {
        const uint8_t* s = px + p * c;
        uint8_t* d = out + p * want;
        uint8_t a = src_alpha ? s[c - 1] : 255;
        if (want <= 2) d[0] = c <= 2 ? s[0] : (uint8_t)((s[0] * 77 + s[1] * 150 + s[2] * 29) >> 8);
        else
            for (int k = 0; k < 3; k++) d[k] = c <= 2 ? s[0] : s[k];
        if (dst_alpha) d[want - 1] = a;
    }
    free(px);
    return out;
}

uint8_t* image_decode_u8(const void* data, size_t n, const char* source, int want_channels, int64_t max_pixels,
                         int* width, int* height, int* channels, char* err, size_t errlen) {
    static const uint8_t PNG_SIGNATURE[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    if (want_channels < 0 || want_channels > 4) {
        fail(err, errlen, "%s: image_load: want_channels %d (0..4)", source, want_channels);
        return NULL;
    }
    if (max_pixels <= 0) max_pixels = IMAGE_MAX_PIXELS_DEFAULT;
    const uint8_t* p = data;
    int w, h, c;
    uint8_t* px;
    if (n >= 8 && memcmp(p, PNG_SIGNATURE, 8) == 0)
        px = png_decode(p, n, source, max_pixels, &w, &h, &c, err, errlen);
    else if (n >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF)
        px = jpeg_decode(p, n, source, max_pixels, &w, &h, &c, err, errlen);
    else {
        fail(err, errlen, "%s: cannot decode image: not a PNG or JPEG file", source);
        return NULL;
    }
    if (!px) return NULL;
    *width = w;
    *height = h;
    *channels = want_channels ? want_channels : c;
    return convert_channels(px, w, h, c, want_channels);
}

uint8_t* image_load_u8(const char* path, int want_channels, int64_t max_pixels, int* width, int* height, int* channels,
                       char* err, size_t errlen) {
    size_t n;
    char* data = read_file(path, &n, err, errlen);
    if (!data) return NULL;
    uint8_t* px = image_decode_u8(data, n, path, want_channels, max_pixels, width, height, channels, err, errlen);
    free(data);
    return px;
}

float* image_load(const char* path, int want_channels, int64_t max_pixels, int* width, int* height, int* channels,
                  char* err, size_t errlen) {
    int w, h, c;
    uint8_t* px = image_load_u8(path, want_channels, max_pixels, &w, &h, &c, err, errlen);
    if (!px) return NULL;
    float* chw = xmalloc((size_t)w * h * c * sizeof *chw);
    image_hwc_u8_to_chw(px, w, h, c, chw);
    free(px);
    *width = w;
    *height = h;
    *channels = c;
    return chw;
}
