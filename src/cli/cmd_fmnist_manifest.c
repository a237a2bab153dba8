// cmd_fmnist_manifest.c: `vkpref fmnist-manifest`: a Pick-a-Pic-style manifest
// (DATA.md) made from real Fashion-MNIST images, with no model involved:
//   --rows single: one labelled image per row ({"caption", "jpg_0", "label": 1}),
//                  for TDPO / TKTO (image against a mismatched caption), KTO and SFT;
//   --rows pairs:  the image in --style (chosen) against the plain image
//                  (rejected), the reference-mismatch set of MaPO's Pick-Style
//                  experiment: the chosen style is one the base model never
//                  produces, the content is the same in both images.
// Images are the 32x32 padded images the model trains on (fmnist_image), written
// as PNG under img/; the manifest and fmnist_manifest.json are written last,
// each atomically, so a folder without pairs.jsonl is unfinished.
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "util/options.h"
#include "io/fmnist.h"
#include "io/png_image.h"
#include "util/check.h"
#include "util/fsutil.h"
#include "util/json_fields.h"

typedef struct FmnistManifestConfig {
    char out[OPT_STR_MAX], split[OPT_STR_MAX], rows[OPT_STR_MAX], style[OPT_STR_MAX], captions[OPT_STR_MAX];
    char data_dir[OPT_STR_MAX];
    int first, count;
} FmnistManifestConfig;

#define O(name, type, def, range, help) {#name, type, offsetof(FmnistManifestConfig, name), def, help, range}

static const OptSpec SPECS[] = {
    O(out, OPT_STRING, "", OPT_ANY, "output folder (img/, pairs.jsonl, fmnist_manifest.json); required"),
    O(split, OPT_STRING, "train", OPT_ANY, "train or test"),
    O(first, OPT_INT, "0", OPT_GE(0), "index of the first image of the split"),
    O(count, OPT_INT, "1000", OPT_GE(1), "number of images (consecutive from --first)"),
    O(rows, OPT_STRING, "single", OPT_ANY, "single (one labelled image a row) or pairs (--style image chosen over the plain one)"),
    O(style, OPT_STRING, "none", OPT_ANY, "none or invert (white background, dark garment: a style the base never produces)"),
    O(captions, OPT_STRING, "class", OPT_ANY, "class (\"a photo of a coat\") or attributes (\"a photo of a dark small coat\")"),
    O(data_dir, OPT_STRING, "", OPT_ANY, "Fashion-MNIST folder (default $VKPREF_FMNIST_DIR or " FMNIST_DEFAULT_DIR ")"),
};

static const OptTable TABLE = {.command = "fmnist-manifest",
                               .summary = "Write a Pick-a-Pic-style manifest of real Fashion-MNIST images (single rows or style pairs).",
                               .specs = SPECS, .n = sizeof SPECS / sizeof *SPECS};

typedef enum ImageStyle { STYLE_NONE, STYLE_INVERT } ImageStyle;
static const char* const STYLE_NAMES[] = {"none", "invert"};

static void apply_style(ImageStyle s, float* img, int n) {
    if (s == STYLE_INVERT)
        for (int i = 0; i < n; i++) img[i] = -img[i];
}

// Writes image `index` of the split in `style` as img/<split><index>[_<style>].png
// under out; the manifest's relative path goes to rel.
static void write_image(const char* out, const char* split, int index, ImageStyle style, const float* img, char* rel,
                        size_t reln) {
    char err[1024];
    if (style == STYLE_NONE) snprintf(rel, reln, "img/%s%05d.png", split, index);
    else snprintf(rel, reln, "img/%s%05d_%s.png", split, index, STYLE_NAMES[style]);
    char* path = path_join(out, rel);
    if (png_write_f32(path, img, FMNIST_SIDE, FMNIST_SIDE, 1, err, sizeof err)) die("%s (--out)", err);
    free(path);
}

int cmd_fmnist_manifest(int argc, char** argv) {
    FmnistManifestConfig c;
    int pr = opts_parse(&TABLE, &c, argc, argv);
    if (pr) return opts_free(&TABLE, &c), pr > 0 ? 0 : 2;
    if (!*c.out) {
        fprintf(stderr, "vkpref fmnist-manifest: --out DIR is required (see `vkpref fmnist-manifest --help`)\n");
        return 2;
    }
    FmnistSplit split = FMNIST_TRAIN;
    const char* split_name = "train";  // a literal, for the image names
    if (!strcmp(c.split, "test")) split = FMNIST_TEST, split_name = "test";
    else if (strcmp(c.split, "train")) die("--split \"%s\": expected train or test", c.split);
    bool pairs = !strcmp(c.rows, "pairs");
    if (!pairs && strcmp(c.rows, "single")) die("--rows \"%s\": expected single or pairs", c.rows);
    ImageStyle style = STYLE_NONE;
    if (!strcmp(c.style, "invert")) style = STYLE_INVERT;
    else if (strcmp(c.style, "none")) die("--style \"%s\": expected none or invert", c.style);
    if (pairs && style == STYLE_NONE) die("--rows pairs needs a --style (the chosen image's style): e.g. --style invert");
    bool attributes = !strcmp(c.captions, "attributes");
    if (!attributes && strcmp(c.captions, "class")) die("--captions \"%s\": expected class or attributes", c.captions);

    Fmnist ds;
    char err[1024];
    if (fmnist_load(&ds, c.data_dir, split, err, sizeof err)) die("%s", err);
    if (c.first < 0 || c.count < 1 || c.first > ds.n - c.count)
        die("--first %d --count %d: the %s split has %d images", c.first, c.count, c.split, ds.n);
    char* img_dir = path_join(c.out, "img");
    if (mkdir_p(img_dir, err, sizeof err)) die("%s (--out)", err);

    JsonLines manifest = {0};
    float img[FMNIST_SIDE * FMNIST_SIDE];
    int per_class[FMNIST_CLASSES] = {0};
    for (int i = c.first; i < c.first + c.count; i++) {
        char caption[128], rel0[96], rel1[96];
        if (attributes) fmnist_attr_caption(&ds, i, &FMNIST_TRAIN_THRESHOLDS, caption, sizeof caption);
        else snprintf(caption, sizeof caption, "%s", fmnist_caption(ds.labels[i]));
        per_class[ds.labels[i]]++;
        fmnist_image(&ds, i, img);
        cJSON* row = cJSON_CreateObject();
        cJSON_AddStringToObject(row, "caption", caption);
        if (pairs) {  // the plain image is the rejected one, its styled copy the chosen one
            write_image(c.out, split_name, i, STYLE_NONE, img, rel1, sizeof rel1);
            apply_style(style, img, FMNIST_SIDE * FMNIST_SIDE);
            write_image(c.out, split_name, i, style, img, rel0, sizeof rel0);
            cJSON_AddStringToObject(row, "jpg_0", rel0);
            cJSON_AddStringToObject(row, "jpg_1", rel1);
            cJSON_AddNumberToObject(row, "label_0", 1);
            cJSON_AddNumberToObject(row, "label_1", 0);
        } else {
            apply_style(style, img, FMNIST_SIDE * FMNIST_SIDE);
            write_image(c.out, split_name, i, style, img, rel0, sizeof rel0);
            cJSON_AddStringToObject(row, "jpg_0", rel0);
            cJSON_AddNumberToObject(row, "label", 1);
        }
        cJSON_AddNumberToObject(row, "fmnist_index", i);
        json_lines_append(&manifest, row);
        cJSON_Delete(row);
    }

    cJSON* summary = cJSON_CreateObject();
    cJSON_AddStringToObject(summary, "source", fmnist_dir(c.data_dir));
    cJSON_AddStringToObject(summary, "split", c.split);
    cJSON_AddNumberToObject(summary, "first", c.first);
    cJSON_AddNumberToObject(summary, "count", c.count);
    cJSON_AddStringToObject(summary, "rows", c.rows);
    cJSON_AddStringToObject(summary, "style", c.style);
    cJSON_AddStringToObject(summary, "captions", c.captions);
    cJSON_AddItemToObject(summary, "per_class", cJSON_CreateIntArray(per_class, FMNIST_CLASSES));
    char* path = path_join(c.out, "fmnist_manifest.json");
    if (json_write_file_atomic(path, summary, err, sizeof err)) die("%s", err);
    free(path);
    cJSON_Delete(summary);
    path = path_join(c.out, "pairs.jsonl");
    if (write_file_atomic(path, manifest.text, manifest.len, err, sizeof err)) die("%s", err);
    printf("vkpref fmnist-manifest: %d %s rows (%s split, images %d..%d, style %s) -> %s\n", c.count, c.rows, c.split,
           c.first, c.first + c.count - 1, c.style, path);
    json_lines_free(&manifest);
    free(path), free(img_dir);
    fmnist_free(&ds);
    opts_free(&TABLE, &c);
    return 0;
}
