// png_image.c: atomic PNG writer (libpng) and PNG/JPEG decoder (stb_image; the
// one translation unit that holds its implementation). See png_image.h.
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

// stb_image allocates what a file's chunk lengths and compressed streams ask
// for: a 250-byte PNG can declare a 2 GB IDAT chunk, and zlib data can inflate
// far past the image it belongs to. Every allocation it makes goes through these
// wrappers, which refuse one above the cap image_decode_u8 sets for the file
// being decoded (from its declared size) and remember the refusal for the message.
static _Thread_local size_t g_stb_cap, g_stb_refused;
static void* stb_malloc_capped(size_t n) {
    if (n > g_stb_cap) return g_stb_refused = n, NULL;
    return malloc(n);
}
static void* stb_realloc_capped(void* p, size_t n) {
    if (n > g_stb_cap) return g_stb_refused = n, NULL;
    return realloc(p, n);
}
#define STBI_MALLOC(n) stb_malloc_capped(n)
#define STBI_REALLOC(p, n) stb_realloc_capped(p, n)
#define STBI_FREE(p) free(p)

// stb_image is third-party code compiled under our -Wall -Wextra -Werror: silence
// its warnings here only. PNG and JPEG are the formats DATA.md promises.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wmisleading-indentation"
#pragma GCC diagnostic ignored "-Wshift-negative-value"
#pragma GCC diagnostic ignored "-Wtype-limits"
#pragma GCC diagnostic ignored "-Wdouble-promotion"
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_FAILURE_USERMSG
#include <stb/stb_image.h>
#pragma GCC diagnostic pop

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

typedef struct PngErr {
    char msg[200];
} PngErr;

static void png_on_error(png_structp png, png_const_charp msg) {
    PngErr* e = png_get_error_ptr(png);
    snprintf(e->msg, sizeof e->msg, "%s", msg);
    png_longjmp(png, 1);
}
static void png_on_warning(png_structp png, png_const_charp msg) { (void)png, (void)msg; }

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

// ---------------------------------------------------------------------------
// Decoding.

// stb_image 2.27 (Debian 12) indexes past its Huffman tables on two kinds of
// corrupt JPEG: a DHT segment declaring more than 256 codes (a write), and a
// scan that uses a table no DHT defined (stb's decoder state is not zeroed, so
// the table holds garbage; a read). Both are refused before stb sees the file:
// NULL, or the reason. The walk reads the segments as stb does: a table may run
// past its segment's declared length, and bytes past the end read as 0.
static const char* jpeg_tables_unsafe(const uint8_t* p, size_t n) {
    if (n < 2 || p[0] != 0xFF) return NULL;  // not a JPEG (stb wants a marker first; fill bytes may precede SOI)
    bool defined[2][4] = {{false}}, progressive = false;
#define AT(k) ((k) < n ? p[k] : 0)
    size_t i = 0;
    while (i + 3 < n) {
        uint8_t m = p[i + 1];
        // Entropy-coded data, fill bytes, stuffed zeros, SOI and restart markers carry no length.
        if (p[i] != 0xFF || m == 0xFF || m == 0x00 || m == 0x01 || (m >= 0xD0 && m <= 0xD8)) {
            i += p[i] == 0xFF && m != 0xFF ? 2 : 1;
            continue;
        }
        if (m == 0xD9) break;  // end of image
        size_t len = (size_t)p[i + 2] << 8 | p[i + 3];
        if (m == 0xC2) progressive = true;
        if (m == 0xC4) {
            int64_t left = (int64_t)len - 2;
            size_t j = i + 4;
            while (left > 0) {
                unsigned codes = 0, tc = AT(j) >> 4, th = AT(j) & 15;
                for (size_t k = j + 1; k <= j + 16; k++) codes += AT(k);
                if (codes > 256) return "a Huffman table with more than 256 codes";
                if (tc <= 1 && th <= 3) defined[tc][th] = true;
                j += 17 + codes;
                left -= 17 + (int64_t)codes;
            }
        }
        if (m == 0xDA) {  // start of scan: components (id, DC table << 4 | AC table), Ss, Se, Ah << 4 | Al
            size_t ns = AT(i + 4), ss = AT(i + 5 + 2 * ns), ah = AT(i + 7 + 2 * ns) >> 4;
            bool dc = ss == 0 && !(progressive && ah), ac = !progressive || ss > 0;
            for (size_t c = 0; c < ns; c++) {
                unsigned t = AT(i + 6 + 2 * c), td = t >> 4, ta = t & 15;
                if ((dc && td <= 3 && !defined[0][td]) || (ac && ta <= 3 && !defined[1][ta]))
                    return "a scan uses an undefined Huffman table";
            }
        }
        i += 2 + len;
    }
#undef AT
    return NULL;
}

uint8_t* image_decode_u8(const void* data, size_t n, const char* source, int want_channels, int64_t max_pixels,
                         int* width, int* height, int* channels, char* err, size_t errlen) {
    if (want_channels < 0 || want_channels > 4) {
        fail(err, errlen, "%s: image_load: want_channels %d (0..4)", source, want_channels);
        return NULL;
    }
    if (n > INT_MAX) {
        fail(err, errlen, "%s: cannot decode image: file larger than %d bytes", source, INT_MAX);
        return NULL;
    }
    const char* bad = jpeg_tables_unsafe(data, n);
    if (bad) {
        fail(err, errlen, "%s: cannot decode image: corrupt JPEG (%s)", source, bad);
        return NULL;
    }
    // The header's size is checked before decoding: a small file may declare a
    // huge image (decompression bomb), and decoding allocates all of it.
    int w = 0, h = 0, c = 0;
    g_stb_cap = n + (1 << 20), g_stb_refused = 0;  // reading the header needs little
    if (!stbi_info_from_memory(data, (int)n, &w, &h, &c)) {
        const char* why = stbi_failure_reason();
        fail(err, errlen, "%s: cannot decode image: %s", source, why && *why ? why : "corrupt or truncated data");
        return NULL;
    }
    if (max_pixels <= 0) max_pixels = IMAGE_MAX_PIXELS_DEFAULT;
    if ((int64_t)w * h > max_pixels) {
        fail(err, errlen, "%s: image of %dx%d = %" PRId64 " pixels exceeds the limit of %" PRId64
                          " pixels (--max_image_pixels)", source, w, h, (int64_t)w * h, max_pixels);
        return NULL;
    }
    // Room for 16 bytes a pixel (16-bit RGBA, twice) with JPEG's block padding,
    // plus the file itself (PNG gathers its IDAT chunks): any valid file fits.
    g_stb_cap = (size_t)(w + 64) * (size_t)(h + 64) * 16 + n + (1 << 20);
    uint8_t* px = stbi_load_from_memory(data, (int)n, &w, &h, &c, want_channels);
    if (!px && g_stb_refused) {
        fail(err, errlen, "%s: cannot decode image: corrupt data asks for %zu bytes for a %dx%d image", source,
             g_stb_refused, w, h);
        return NULL;
    }
    if (!px) {
        const char* why = stbi_failure_reason();
        fail(err, errlen, "%s: cannot decode image: %s", source, why && *why ? why : "corrupt or truncated data");
        return NULL;
    }
    *width = w;
    *height = h;
    *channels = want_channels ? want_channels : c;
    return px;
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
    stbi_image_free(px);
    *width = w;
    *height = h;
    *channels = c;
    return chw;
}
