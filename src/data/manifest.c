// manifest.c: see manifest.h.
#include "data/manifest.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/image_prepare.h"
#include "io/image_resize.h"
#include "util/check.h"
#include "util/fsutil.h"
#include "util/json_fields.h"

#define MAX_LINE (1 << 20)

// The path of an image named by a row: relative to the manifest's folder.
static char* row_image_path(const char* base_dir, const char* rel) {
    return rel[0] == '/' ? xstrdup(rel) : path_join(base_dir, rel);
}

static const char* str_field(const cJSON* row, const char* key, bool required, char* why, size_t n) {
    const cJSON* v = cJSON_GetObjectItemCaseSensitive(row, key);
    if (!v) {
        if (required) snprintf(why, n, "missing field \"%s\"", key);
        return NULL;
    }
    if (!cJSON_IsString(v)) {
        snprintf(why, n, "field \"%s\" must be a string", key);
        return NULL;
    }
    return v->valuestring;
}

static bool num_field(const cJSON* row, const char* key, double* out, char* why, size_t n) {
    const cJSON* v = cJSON_GetObjectItemCaseSensitive(row, key);
    if (!v) return snprintf(why, n, "missing field \"%s\"", key), false;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return snprintf(why, n, "field \"%s\" must be a number", key), false;
    *out = v->valuedouble;
    return true;
}

// Parses one row into item; 1 kept, 0 dropped as a tie, -1 bad (why says what).
static int parse_row(const char* text, const char* base_dir, const ManifestOptions* o, PrefItem* item, char* why,
                     size_t n) {
    memset(item, 0, sizeof *item);
    item->label = -1;
    char jerr[256];
    cJSON* row = json_parse_strict(text, strlen(text), NULL, jerr, sizeof jerr);
    if (!row) return snprintf(why, n, "not a JSON object: %s", jerr), -1;
    if (!cJSON_IsObject(row)) {
        cJSON_Delete(row);
        snprintf(why, n, "not a JSON object");
        return -1;
    }
    int r = -1;
    why[0] = 0;
    const char* caption = str_field(row, "caption", true, why, n);
    const char* jpg0 = caption ? str_field(row, "jpg_0", true, why, n) : NULL;
    const char* jpg1 = jpg0 ? str_field(row, "jpg_1", false, why, n) : NULL;
    const char* mismatch = jpg0 && !why[0] ? str_field(row, "caption_mismatch", false, why, n) : NULL;
    if (!jpg0 || why[0]) goto done;
    double l0 = 0, l1 = 0;
    bool winner_first = true;
    if (jpg1) {
        if (!num_field(row, "label_0", &l0, why, n) || !num_field(row, "label_1", &l1, why, n)) goto done;
        if (l0 == l1) {
            r = 0;
            goto done;
        }
        winner_first = l0 > l1;
    } else if (cJSON_GetObjectItemCaseSensitive(row, "label")) {
        double l;
        if (!num_field(row, "label", &l, why, n)) goto done;
        if (l != 0 && l != 1) {
            snprintf(why, n, "field \"label\" must be 0 or 1");
            goto done;
        }
        item->label = (int)l;
    }
    item->nimages = jpg1 ? 2 : 1;
    const ImageEncoder* enc = o->encoder;
    size_t img = (size_t)o->channels * o->size * o->size;
    size_t stored = enc ? (size_t)enc->channels * enc->size * enc->size : img;
    int variants = enc ? enc->variants : 1;
    item->images = xmalloc(stored * (size_t)variants * (size_t)item->nimages * sizeof(float));
    const char* files[2] = {winner_first ? jpg0 : jpg1, winner_first ? jpg1 : jpg0};
    ImagePrepare how = {.channels = o->channels, .size = o->size, .crop = o->crop, .seed = o->seed,
                        .max_pixels = o->max_image_pixels};
    float* im = enc ? xmalloc(img * sizeof(float)) : NULL;  // the prepared pixels before encoding
    for (int k = 0; k < item->nimages; k++) {
        item->image_paths[k] = row_image_path(base_dir, files[k]);
        char ierr[1024];
        float* dst = item->images + stored * (size_t)(variants * k);
        if (image_prepare(item->image_paths[k], &how, enc ? im : dst, NULL, ierr, sizeof ierr)) {
            snprintf(why, n, "%s", ierr);
            free(im);
            goto done;
        }
        int er = enc ? enc->encode(enc->ctx, im, dst, ierr, sizeof ierr) : 0;
        if (!er && variants == 2) {
            image_flip_horizontal(im, o->size, o->size, o->channels);
            er = enc->encode(enc->ctx, im, dst + stored, ierr, sizeof ierr);
        }
        if (er) {
            snprintf(why, n, "%s: %s", files[k], ierr);
            free(im);
            goto done;
        }
    }
    free(im);
    item->caption = xstrdup(caption);
    item->caption_mismatch = mismatch ? xstrdup(mismatch) : NULL;
    r = 1;
done:
    if (r != 1) {
        free(item->images), item->images = NULL;
        for (int k = 0; k < 2; k++) free(item->image_paths[k]), item->image_paths[k] = NULL;
    }
    cJSON_Delete(row);
    return r;
}

static void free_item(PrefItem* it) {
    free(it->caption), free(it->caption_mismatch), free(it->images);
    free(it->image_paths[0]), free(it->image_paths[1]);
}

int manifest_load(PrefDataset* d, const char* path, const ManifestOptions* o, char* err, size_t errlen) {
    memset(d, 0, sizeof *d);
    if (o->channels != 1 && o->channels != 3) return fail(err, errlen, "%s: models with %d channels are not supported", path, o->channels);
    FILE* f = fopen(path, "r");
    if (!f) return fail(err, errlen, "%s: cannot open the manifest", path);
    d->path = xstrdup(path);
    d->channels = o->encoder ? o->encoder->channels : o->channels;
    d->size = o->encoder ? o->encoder->size : o->size;
    d->variants = o->encoder ? o->encoder->variants : 1;
    char* slash = strrchr(d->path, '/');
    char* base_dir = slash ? strndup(d->path, (size_t)(slash - d->path)) : xstrdup(".");
    char* line = xmalloc(MAX_LINE);
    int lineno = 0, rc = 0;
    while ((o->max_rows <= 0 || d->n < o->max_rows) && fgets(line, MAX_LINE, f)) {
        lineno++;
        size_t len = strlen(line);
        if (len == MAX_LINE - 1 && line[len - 1] != '\n') {
            rc = fail(err, errlen, "%s:%d: line longer than %d bytes", path, lineno, MAX_LINE - 2);
            break;
        }
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' ')) line[--len] = 0;
        if (!len) continue;  // blank lines are allowed
        PrefItem item;
        char why[1200];
        int r = parse_row(line, base_dir, o, &item, why, sizeof why);
        if (r == 0) {
            d->ties_dropped++;
            continue;
        }
        if (r < 0) {
            if (o->skip_bad) {
                d->skipped++;
                continue;
            }
            rc = fail(err, errlen, "%s:%d: %s", path, lineno, why);
            break;
        }
        item.line = lineno;
        if (d->n == d->cap) d->items = xrealloc(d->items, (size_t)(d->cap = d->cap ? 2 * d->cap : 64) * sizeof *d->items);
        d->items[d->n++] = item;
        if (item.nimages == 2) d->pairs++;
        else d->singles++;
    }
    if (!rc && ferror(f)) rc = fail(err, errlen, "%s: read error", path);
    fclose(f);
    free(line), free(base_dir);
    if (!rc && d->n == 0)
        rc = fail(err, errlen, "%s: no usable rows (%d lines, %d ties dropped, %d bad rows skipped)", path, lineno,
                  d->ties_dropped, d->skipped);
    if (rc) manifest_free(d);
    return rc;
}

void manifest_free(PrefDataset* d) {
    for (int i = 0; i < d->n; i++) free_item(&d->items[i]);
    free(d->items), free(d->path);
    memset(d, 0, sizeof *d);
}

const float* pref_image(const PrefDataset* d, int i, int k) {
    if (i < 0 || i >= d->n || k < 0 || k >= d->items[i].nimages) die("pref_image: no image %d of item %d", k, i);
    return d->items[i].images + (size_t)(k * d->variants) * d->channels * d->size * d->size;
}

const float* pref_image_mirrored(const PrefDataset* d, int i, int k) {
    return d->variants == 2 ? pref_image(d, i, k) + (size_t)d->channels * d->size * d->size : NULL;
}
