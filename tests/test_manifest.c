// test_manifest.c: Pick-a-Pic-style manifests: winner first, ties dropped,
// single-image rows, JPEG and PNG (test_image_prepare covers each image), and errors that name
// the file, line and field (or skip-and-count).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/manifest.h"
#include "io/fmnist.h"
#include "io/png_image.h"
#include "test_util.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>
#pragma GCC diagnostic pop

static char dir[64];

// A grey w x h PNG of constant value v (0..255) at dir/name.
static void write_grey(const char* name, int w, int h, uint8_t v) {
    uint8_t* px = malloc((size_t)w * h);
    memset(px, v, (size_t)w * h);
    char path[256], err[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    cr_assert_eq(png_write(path, px, w, h, 1, err, sizeof err), 0, "%s", err);
    free(px);
}

static void write_manifest(const char* text) {
    char path[256];
    snprintf(path, sizeof path, "%s/m.jsonl", dir);
    FILE* f = fopen(path, "w");
    cr_assert(f);
    fputs(text, f);
    fclose(f);
}

static int load(PrefDataset* d, bool skip, char* err, size_t n) {
    char path[256];
    snprintf(path, sizeof path, "%s/m.jsonl", dir);
    ManifestOptions o = {.channels = 1, .size = 8, .skip_bad = skip};
    return manifest_load(d, path, &o, err, n);
}

static void setup(void) {
    temp_dir(dir, "manifest");
    write_grey("black.png", 8, 8, 0);
    write_grey("white.png", 16, 12, 255);
}
static void teardown(void) { remove_temp_dir(dir); }

TestSuite(manifest, .init = setup, .fini = teardown);

Test(manifest, winner_first_ties_dropped_singles_kept) {
    write_manifest(
        "{\"caption\": \"a photo of a bag\", \"jpg_0\": \"black.png\", \"jpg_1\": \"white.png\", \"label_0\": 0, \"label_1\": 1, \"model_0\": \"x\"}\n"
        "\n"
        "{\"caption\": \"tie\", \"jpg_0\": \"black.png\", \"jpg_1\": \"white.png\", \"label_0\": 0.5, \"label_1\": 0.5}\n"
        "{\"caption\": \"a photo of a coat\", \"jpg_0\": \"black.png\", \"jpg_1\": \"white.png\", \"label_0\": 1, \"label_1\": 0}\n"
        "{\"caption\": \"a photo of a dress\", \"jpg_0\": \"white.png\", \"caption_mismatch\": \"a photo of a sandal\", \"label\": 0}\n");
    PrefDataset d;
    char err[1024];
    cr_assert_eq(load(&d, false, err, sizeof err), 0, "%s", err);
    cr_assert_eq(d.n, 3);
    cr_assert_eq(d.ties_dropped, 1);
    cr_assert_eq(d.pairs, 2);
    cr_assert_eq(d.singles, 1);
    // Row 1: label_1 wins, so white comes first; row 4: black won.
    cr_assert_float_eq(pref_image(&d, 0, 0)[0], 1.0f, 1e-6);
    cr_assert_float_eq(pref_image(&d, 0, 1)[0], -1.0f, 1e-6);
    cr_assert_float_eq(pref_image(&d, 1, 0)[0], -1.0f, 1e-6);
    // The files as opened, winner first (for caches keyed by image).
    char white[256], black[256];
    snprintf(white, sizeof white, "%s/white.png", dir), snprintf(black, sizeof black, "%s/black.png", dir);
    cr_assert_str_eq(d.items[0].image_paths[0], white);
    cr_assert_str_eq(d.items[0].image_paths[1], black);
    cr_assert_null(d.items[2].image_paths[1]);
    cr_assert_eq(d.items[1].line, 4);
    cr_assert_str_eq(d.items[2].caption_mismatch, "a photo of a sandal");
    cr_assert_eq(d.items[2].label, 0);
    cr_assert_eq(d.items[0].label, -1);
    manifest_free(&d);
}

Test(manifest, errors_name_file_line_and_field) {
    PrefDataset d;
    char err[1024];
    write_manifest("{\"caption\": \"ok\", \"jpg_0\": \"black.png\"}\n{\"caption\": 3, \"jpg_0\": \"black.png\"}\n");
    cr_assert_eq(load(&d, false, err, sizeof err), -1);
    cr_assert(strstr(err, "m.jsonl:2:") && strstr(err, "\"caption\" must be a string"), "%s", err);
    write_manifest("{\"caption\": \"ok\", \"jpg_0\": \"missing.png\"}\n");
    cr_assert_eq(load(&d, false, err, sizeof err), -1);
    cr_assert(strstr(err, "m.jsonl:1:") && strstr(err, "missing.png"), "%s", err);
    write_manifest("{\"caption\": \"ok\", \"jpg_0\": \"black.png\", \"jpg_1\": \"white.png\", \"label_0\": 1}\n");
    cr_assert_eq(load(&d, false, err, sizeof err), -1);
    cr_assert(strstr(err, "missing field \"label_1\""), "%s", err);
    write_manifest("{\"caption\": \"ok\", \"jpg_0\": \"black.png\"\n");
    cr_assert_eq(load(&d, false, err, sizeof err), -1);
    cr_assert(strstr(err, "m.jsonl:1: not a JSON object"), "%s", err);
    // A truncated image file.
    char path[256];
    snprintf(path, sizeof path, "%s/cut.png", dir);
    FILE* f = fopen(path, "w");
    fputs("\x89PNG\r\n\x1a\n\0\0", f);
    fclose(f);
    write_manifest("{\"caption\": \"ok\", \"jpg_0\": \"cut.png\"}\n");
    cr_assert_eq(load(&d, false, err, sizeof err), -1);
    cr_assert(strstr(err, "cut.png") && strstr(err, "cannot decode"), "%s", err);
}

Test(manifest, skip_policy_counts_bad_rows) {
    PrefDataset d;
    char err[1024];
    write_manifest("{\"caption\": \"ok\", \"jpg_0\": \"black.png\"}\nnot json\n{\"caption\": \"x\", \"jpg_0\": \"nope.png\"}\n");
    cr_assert_eq(load(&d, true, err, sizeof err), 0, "%s", err);
    cr_assert_eq(d.n, 1);
    cr_assert_eq(d.skipped, 2);
    manifest_free(&d);
    write_manifest("not json\n");
    cr_assert_eq(load(&d, true, err, sizeof err), -1);
    cr_assert(strstr(err, "no usable rows") && strstr(err, "1 bad rows skipped"), "%s", err);
}

Test(manifest, jpeg_rgb_is_converted_to_grey) {
    uint8_t px[16 * 16 * 3];
    for (int i = 0; i < 16 * 16; i++) px[3 * i] = 200, px[3 * i + 1] = 200, px[3 * i + 2] = 200;
    char path[256];
    snprintf(path, sizeof path, "%s/grey.jpg", dir);
    cr_assert(stbi_write_jpg(path, 16, 16, 3, px, 95));
    write_manifest("{\"caption\": \"ok\", \"jpg_0\": \"grey.jpg\"}\n");
    PrefDataset d;
    char err[1024];
    cr_assert_eq(load(&d, false, err, sizeof err), 0, "%s", err);
    const float* im = pref_image(&d, 0, 0);
    for (int i = 0; i < 64; i++) cr_assert(fabsf(im[i] - (200 / 127.5f - 1)) < 0.03f, "pixel %d = %f", i, im[i]);
    manifest_free(&d);
}

// `vkpref fmnist-manifest`: real Fashion-MNIST images as single rows (label 1,
// the class caption) and as style pairs (the inverted image chosen over the
// plain one), loaded back through manifest_load: each pixel of the chosen image
// is exactly 255 - the rejected one's byte, and the plain image is exactly the
// training image the model sees (fmnist_image). Bad options name the option.
Test(manifest, fmnist_manifest_command) {
    char out[8192], args[512], path[256], err[512];
    snprintf(args, sizeof args, "fmnist-manifest --out %s/pairs --rows pairs --style invert --first 7 --count 5", dir);
    cr_assert_eq(run_cli(args, out, sizeof out), 0, "%s", out);
    snprintf(args, sizeof args, "fmnist-manifest --out %s/single --rows single --first 7 --count 5", dir);
    cr_assert_eq(run_cli(args, out, sizeof out), 0, "%s", out);

    Fmnist ds;
    cr_assert_eq(fmnist_load(&ds, NULL, FMNIST_TRAIN, err, sizeof err), 0, "%s", err);
    ManifestOptions o = {.channels = 1, .size = FMNIST_SIDE};
    PrefDataset pairs, single;
    snprintf(path, sizeof path, "%s/pairs/pairs.jsonl", dir);
    cr_assert_eq(manifest_load(&pairs, path, &o, err, sizeof err), 0, "%s", err);
    snprintf(path, sizeof path, "%s/single/pairs.jsonl", dir);
    cr_assert_eq(manifest_load(&single, path, &o, err, sizeof err), 0, "%s", err);
    cr_assert_eq(pairs.pairs, 5);
    cr_assert_eq(single.singles, 5);
    float real[FMNIST_SIDE * FMNIST_SIDE];
    for (int i = 0; i < 5; i++) {
        fmnist_image(&ds, 7 + i, real);
        cr_assert_str_eq(pairs.items[i].caption, fmnist_caption(ds.labels[7 + i]));
        cr_assert_str_eq(single.items[i].caption, fmnist_caption(ds.labels[7 + i]));
        cr_assert_eq(single.items[i].label, 1);
        const float *chosen = pref_image(&pairs, i, 0), *plain = pref_image(&pairs, i, 1);
        for (int p = 0; p < FMNIST_SIDE * FMNIST_SIDE; p++) {
            cr_assert_eq(plain[p], real[p], "pair %d pixel %d", i, p);
            cr_assert_eq(pref_image(&single, i, 0)[p], real[p]);
            cr_assert_eq(image_f32_to_u8(chosen[p]), 255 - image_f32_to_u8(plain[p]), "pair %d pixel %d", i, p);
        }
    }
    manifest_free(&pairs), manifest_free(&single);
    fmnist_free(&ds);

    snprintf(args, sizeof args, "fmnist-manifest --out %s/bad --rows pairs", dir);
    cr_assert_neq(run_cli(args, out, sizeof out), 0);
    cr_assert(strstr(out, "--rows pairs needs a --style"), "%s", out);
    snprintf(args, sizeof args, "fmnist-manifest --out %s/bad --count 5 --first 59999", dir);
    cr_assert_neq(run_cli(args, out, sizeof out), 0);
    cr_assert(strstr(out, "--first 59999 --count 5"), "%s", out);
}

// --max_train_samples: the first N usable rows; ties before them are not counted, rows after them are not read.
Test(manifest, max_rows_keeps_the_first_usable_rows) {
    write_manifest("{\"caption\": \"tie\", \"jpg_0\": \"black.png\", \"jpg_1\": \"white.png\", \"label_0\": 0.5, \"label_1\": 0.5}\n"
                   "{\"caption\": \"a\", \"jpg_0\": \"black.png\"}\n{\"caption\": \"b\", \"jpg_0\": \"white.png\"}\n"
                   "not json: never read\n");
    char path[256], err[1024];
    snprintf(path, sizeof path, "%s/m.jsonl", dir);
    ManifestOptions o = {.channels = 1, .size = 8, .max_rows = 2};
    PrefDataset d;
    cr_assert_eq(manifest_load(&d, path, &o, err, sizeof err), 0, "%s", err);
    cr_assert_eq(d.n, 2);
    cr_assert_eq(d.ties_dropped, 1);
    cr_assert_str_eq(d.items[1].caption, "b");
    manifest_free(&d);
}
