// test_image_prepare.c: one image file made into a model input (io/image_prepare.h):
// every PNG colour mode (tests/data/images, written by tools/make_test_images.py)
// and JPEG (baseline grey and RGB, progressive, Adobe CMYK) decoded, alpha composited over
// white, grey <-> RGB converted, scaled to [-1, 1]; PIL's antialiased bilinear
// resize against weights worked out by hand; torchvision's short-side size and
// centre-crop rounding; random crops fixed per image by seed and content.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/image_prepare.h"
#include "io/image_resize.h"
#include "io/png_image.h"
#include "test_util.h"
#include "util/fsutil.h"

#define W 6
#define H 4

// The picture every tests/data/images file holds (tools/make_test_images.py's pattern() and grey()).
static void pattern(int x, int y, double rgba[4]) {
    rgba[0] = 40 * x + 10, rgba[1] = 60 * y + 5, rgba[2] = 250 - 30 * x - 20 * y, rgba[3] = 255 - 50 * ((x + y) % 4);
}
static double grey(int x, int y) { return 40 * x + 15 * y + 10; }

static void image_path(char* out, size_t n, const char* name) {
    snprintf(out, n, "%s/images/%s", VKPREF_TEST_DATA, name);
}

// A 6x4 file prepared at size 4: no resampling, the centre crop keeps columns 1..4.
static void prepare_6x4(const char* name, int channels, float* out, ImagePrepared* info) {
    char path[512], err[1024];
    image_path(path, sizeof path, name);
    ImagePrepare how = {.channels = channels, .size = 4};
    cr_assert_eq(image_prepare(path, &how, out, info, err, sizeof err), 0, "%s", err);
    cr_assert(info->width == W && info->height == H && info->resized_width == W && info->resized_height == H);
    cr_assert(info->crop_x == 1 && info->crop_y == 0, "crop at (%d, %d)", info->crop_x, info->crop_y);
}

// What a pixel of the file should become: alpha over white, then grey or RGB, in [-1, 1].
static void expected(const double rgba[4], bool has_alpha, bool is_grey, double g, int channels, double* out) {
    double a = has_alpha ? rgba[3] / 255 : 1, v[3];
    for (int k = 0; k < 3; k++) v[k] = a * (is_grey ? g : rgba[k]) + (1 - a) * 255;
    if (channels == 1) out[0] = (is_grey ? v[0] : 0.299 * v[0] + 0.587 * v[1] + 0.114 * v[2]) / 127.5 - 1;
    else
        for (int k = 0; k < 3; k++) out[k] = v[k] / 127.5 - 1;
}

Test(image_prepare, every_png_colour_mode) {
    static const struct {
        const char* name;
        int file_channels;
        bool alpha, grey;
    } MODES[] = {
        {"grey8.png", 1, false, true},      {"grey16.png", 1, false, true}, {"grey_alpha.png", 2, true, true},
        {"rgb8.png", 3, false, false},      {"rgb16.png", 3, false, false}, {"rgba8.png", 4, true, false},
        {"rgba16.png", 4, true, false},     {"palette.png", 4, true, false},
    };
    for (size_t m = 0; m < sizeof MODES / sizeof *MODES; m++)
        for (int ch = 1; ch <= 3; ch += 2) {
            float out[3 * 16];
            ImagePrepared info;
            prepare_6x4(MODES[m].name, ch, out, &info);
            cr_assert_eq(info.file_channels, MODES[m].file_channels, "%s", MODES[m].name);
            for (int y = 0; y < 4; y++)
                for (int x = 0; x < 4; x++) {
                    double rgba[4], want[3];
                    pattern(x + 1, y, rgba);
                    expected(rgba, MODES[m].alpha, MODES[m].grey, grey(x + 1, y), ch, want);
                    for (int k = 0; k < ch; k++)
                        cr_assert(fabs(out[k * 16 + y * 4 + x] - want[k]) < 1e-5, "%s, %d channels, (%d, %d, %d): %f, want %f",
                                  MODES[m].name, ch, x, y, k, out[k * 16 + y * 4 + x], want[k]);
                }
        }
    // 1 bit per pixel: a checkerboard of black and white.
    float out[3 * 16];
    ImagePrepared info;
    prepare_6x4("grey1.png", 3, out, &info);
    for (int k = 0; k < 3; k++)
        for (int y = 0; y < 4; y++)
            for (int x = 0; x < 4; x++) cr_assert_float_eq(out[k * 16 + y * 4 + x], (x + 1 + y) % 2 ? 1.0f : -1.0f, 1e-6);
}

// JPEG: grey and RGB baseline, RGB progressive. Conversion commutes with the
// (linear) resize, so the grey result is the luma of the RGB result, and a grey
// file made RGB has three equal channels.
Test(image_prepare, jpeg_grey_rgb_progressive) {
    static const char* const FILES[] = {"grey.jpg", "rgb.jpg", "progressive.jpg"};
    static const int CHANNELS[] = {1, 3, 3};
    for (int f = 0; f < 3; f++) {
        char path[512], err[1024];
        snprintf(path, sizeof path, "%s/../fuzz/corpus/fuzz_image/%s", VKPREF_TEST_DATA, FILES[f]);
        float rgb[3 * 25], g[25];
        ImagePrepared info;
        ImagePrepare how = {.channels = 3, .size = 5};
        cr_assert_eq(image_prepare(path, &how, rgb, &info, err, sizeof err), 0, "%s", err);
        cr_assert_eq(info.file_channels, CHANNELS[f], "%s", FILES[f]);
        cr_assert(info.resized_width == 5 && info.resized_height == 5);
        how.channels = 1;
        cr_assert_eq(image_prepare(path, &how, g, NULL, err, sizeof err), 0, "%s", err);
        for (int p = 0; p < 25; p++) {
            double luma = 0.299 * rgb[p] + 0.587 * rgb[25 + p] + 0.114 * rgb[50 + p];
            cr_assert(fabs(g[p] - luma) < 1e-5, "%s pixel %d: grey %f, luma of RGB %f", FILES[f], p, g[p], luma);
            if (CHANNELS[f] == 1) cr_assert(rgb[p] == rgb[25 + p] && rgb[p] == rgb[50 + p]);
            cr_assert(rgb[p] >= -1 && rgb[p] <= 1);
        }
    }
}

// A four-channel Adobe JPEG (tools/make_cmyk_jpeg.c): the decoder reads the stored
// (C, M, Y, K) = (200, 100, 255, 128) as Adobe's inverted ink and gives RGB
// (C K, M K, Y K) / 255 = (100.4, 50.2, 128); JPEG's rounding moves it by a unit or two.
Test(image_prepare, jpeg_cmyk_becomes_rgb) {
    char path[512], err[1024];
    image_path(path, sizeof path, "cmyk.jpg");
    float out[3 * 16];
    ImagePrepared info;
    ImagePrepare how = {.channels = 3, .size = 4};
    cr_assert_eq(image_prepare(path, &how, out, &info, err, sizeof err), 0, "%s", err);
    cr_assert(info.width == 16 && info.height == 8 && info.file_channels == 3);
    static const double WANT[3] = {200 * 128 / 255.0, 100 * 128 / 255.0, 255 * 128 / 255.0};
    for (int k = 0; k < 3; k++)
        for (int p = 0; p < 16; p++)
            cr_assert(fabs((out[k * 16 + p] + 1) * 127.5 - WANT[k]) < 2.5, "channel %d: %f, want %f", k,
                      (out[k * 16 + p] + 1) * 127.5, WANT[k]);
}

// PIL's bilinear weights, worked out by hand. 4 -> 2 (scale 2, support 2):
// output 0 is centred at 1.0; inputs 0, 1, 2 (centres 0.5, 1.5, 2.5) weigh 0.75,
// 0.75, 0.25. 2 -> 4 (scale 0.5, support 1): output 0 at 0.25 sees only input 0;
// output 1 at 0.75 weighs inputs 0 and 1 by 0.75 and 0.25.
Test(image_prepare, resize_matches_pil_bilinear_weights) {
    float row[4] = {1, 2, 4, 8}, down[2];
    image_resize(row, 4, 1, 1, 2, 1, down);
    cr_assert_float_eq(down[0], (0.75 * 1 + 0.75 * 2 + 0.25 * 4) / 1.75, 1e-6);
    cr_assert_float_eq(down[1], (0.25 * 2 + 0.75 * 4 + 0.75 * 8) / 1.75, 1e-6);
    float col[2] = {1, 5}, up[4];
    image_resize(col, 1, 2, 1, 1, 4, up);  // the same along columns
    cr_assert_float_eq(up[0], 1, 1e-6);
    cr_assert_float_eq(up[1], 0.75 * 1 + 0.25 * 5, 1e-6);
    cr_assert_float_eq(up[2], 0.25 * 1 + 0.75 * 5, 1e-6);
    cr_assert_float_eq(up[3], 5, 1e-6);
    // Constants stay constant; a 2x shrink of a checkerboard averages it away (no aliasing).
    float checker[64], small[16];
    for (int i = 0; i < 64; i++) checker[i] = ((i / 8 + i % 8) % 2) ? 1.0f : -1.0f;
    image_resize(checker, 8, 8, 1, 4, 4, small);
    for (int i = 0; i < 16; i++) cr_assert(fabsf(small[i]) < 0.3f, "checkerboard shrunk: %f", small[i]);
    float flip[6] = {1, 2, 3, 4, 5, 6};
    image_flip_horizontal(flip, 3, 2, 1);
    cr_assert(flip[0] == 3 && flip[2] == 1 && flip[3] == 6 && flip[5] == 4);
}

// A w x h grey PNG in dir whose pixel (x, y) is (x * 7 + y * 3) % 256.
static void write_ramp(const char* path, int w, int h) {
    uint8_t* px = malloc((size_t)w * h);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) px[y * w + x] = (uint8_t)((x * 7 + y * 3) % 256);
    char err[512];
    cr_assert_eq(png_write(path, px, w, h, 1, err, sizeof err), 0, "%s", err);
    free(px);
}

// torchvision: Resize(4) of 7x5 is 5x4 (int(4 * 7 / 5) = 5, truncated), of 7x4 is
// 7x4; CenterCrop's offset is int(round(slack / 2.0)) with Python's rounding of
// halves to even: slack 3 -> 2, slack 5 -> 2, slack 1 -> 0.
Test(image_prepare, short_side_size_and_centre_rounding) {
    int w, h;
    image_short_side_size(7, 5, 4, &w, &h);
    cr_assert(w == 5 && h == 4, "%dx%d", w, h);
    image_short_side_size(5, 7, 4, &w, &h);
    cr_assert(w == 4 && h == 5, "%dx%d", w, h);
    char dir[64], path[256], err[1024];
    temp_dir(dir, "image_prepare");
    static const struct {
        int w, h, crop_x, crop_y;
    } CASES[] = {{7, 4, 2, 0}, {9, 4, 2, 0}, {4, 5, 0, 0}, {4, 11, 0, 4}};
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/ramp%d.png", dir, i);
        write_ramp(path, CASES[i].w, CASES[i].h);
        float out[16];
        ImagePrepared info;
        ImagePrepare how = {.channels = 1, .size = 4};
        cr_assert_eq(image_prepare(path, &how, out, &info, err, sizeof err), 0, "%s", err);
        cr_assert(info.crop_x == CASES[i].crop_x && info.crop_y == CASES[i].crop_y, "%dx%d: crop at (%d, %d)",
                  CASES[i].w, CASES[i].h, info.crop_x, info.crop_y);
        for (int y = 0; y < 4; y++)  // no resampling here: the crop is the file's own pixels
            for (int x = 0; x < 4; x++)
                cr_assert_float_eq(out[y * 4 + x], ((x + info.crop_x) * 7 + (y + info.crop_y) * 3) % 256 / 127.5 - 1, 1e-6);
    }
    remove_temp_dir(dir);
}

// Random crops: one offset per image, fixed by the seed and the file's bytes
// (not its name), within the slack; different seeds move it.
Test(image_prepare, random_crop_fixed_per_image) {
    char dir[64], a[256], b[256], err[1024];
    temp_dir(dir, "image_prepare");
    snprintf(a, sizeof a, "%s/a.png", dir), snprintf(b, sizeof b, "%s/copy of a.png", dir);
    write_ramp(a, 40, 8), write_ramp(b, 40, 8);  // resized to 20x4 at size 4: 16 columns of slack
    bool moved = false;
    int first = -1;
    for (uint64_t seed = 0; seed < 16; seed++) {
        ImagePrepare how = {.channels = 1, .size = 4, .crop = IMAGE_CROP_RANDOM, .seed = seed};
        float out_a[16], out_b[16], again[16];
        ImagePrepared ia, ib, ia2;
        cr_assert_eq(image_prepare(a, &how, out_a, &ia, err, sizeof err), 0, "%s", err);
        cr_assert_eq(image_prepare(a, &how, again, &ia2, err, sizeof err), 0, "%s", err);
        cr_assert_eq(image_prepare(b, &how, out_b, &ib, err, sizeof err), 0, "%s", err);
        cr_assert(ia.resized_width == 20 && ia.resized_height == 4 && ia.crop_y == 0);
        cr_assert(ia.crop_x >= 0 && ia.crop_x <= 16, "crop_x %d", ia.crop_x);
        cr_assert(ia.crop_x == ia2.crop_x && ia.crop_x == ib.crop_x && ia.content_hash == ib.content_hash);
        cr_assert(!memcmp(out_a, again, sizeof out_a) && !memcmp(out_a, out_b, sizeof out_a));
        if (first < 0) first = ia.crop_x;
        moved |= ia.crop_x != first;
    }
    cr_assert(moved, "16 seeds all cropped at %d", first);
    remove_temp_dir(dir);
}

// Bad input: errors name the file; nothing is decoded past the limits.
Test(image_prepare, errors_name_the_file) {
    char dir[64], path[256], err[1024];
    temp_dir(dir, "image_prepare");
    float out[3 * 16];
    ImagePrepare how = {.channels = 3, .size = 4};
    snprintf(path, sizeof path, "%s/missing.png", dir);
    cr_assert_eq(image_prepare(path, &how, out, NULL, err, sizeof err), -1);
    cr_assert(strstr(err, path), "%s", err);
    snprintf(path, sizeof path, "%s/text.png", dir);
    cr_assert_eq(write_file_atomic(path, "not an image", 12, err, sizeof err), 0, "%s", err);
    cr_assert_eq(image_prepare(path, &how, out, NULL, err, sizeof err), -1);
    cr_assert(strstr(err, path) && strstr(err, "cannot decode image"), "%s", err);
    // A thin image whose resized long side would exceed the pixel limit.
    snprintf(path, sizeof path, "%s/thin.png", dir);
    write_ramp(path, 4000, 1);
    how.max_pixels = 10000;  // 4000 pixels decode; resized to 16000x4 they would not fit
    cr_assert_eq(image_prepare(path, &how, out, NULL, err, sizeof err), -1);
    cr_assert(strstr(err, path) && strstr(err, "16000x4") && strstr(err, "--max_image_pixels"), "%s", err);
    how.channels = 2;
    cr_assert_eq(image_prepare(path, &how, out, NULL, err, sizeof err), -1);
    cr_assert(strstr(err, "1 or 3 channels"), "%s", err);
    remove_temp_dir(dir);
}
