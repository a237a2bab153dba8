// sample_output.c: see sample_output.h.
#include "sample/sample_output.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/png_image.h"
#include "render/grid.h"
#include "util/check.h"
#include "util/fsutil.h"
#include "util/json_fields.h"

void sample_settings_text(const GenerateSettings* s, char* out, size_t n) {
    int k = snprintf(out, n, "%s, %d steps, cfg %g", sampler_name(s->sampler), s->steps, (double)s->cfg);
    if (s->sampler == SAMPLER_DDIM && k >= 0 && (size_t)k < n)
        snprintf(out + k, n - (size_t)k, ", eta %g", (double)s->eta);
}

void sample_image_name(int prompt_index, uint64_t seed, char* out, size_t n) {
    snprintf(out, n, "p%03d_s%04llu.png", prompt_index, (unsigned long long)seed);
}

// mkdir -p of the folder holding path (nothing to do for a bare file name).
static int make_parent(const char* path, char* err, size_t errlen) {
    const char* slash = strrchr(path, '/');
    if (!slash || slash == path) return 0;
    char* dir = xstrdup(path);
    dir[slash - path] = 0;
    int r = mkdir_p(dir, err, errlen);
    free(dir);
    return r;
}

int sample_grid_write(const char* path, const SampleSheet* sh, const SampleRun* runs, int nruns, int upscale,
                      const char* title, char* err, size_t errlen) {
    int rows = sh->nprompts * nruns, cols = sh->nseeds;
    size_t numel = (size_t)sh->channels * sh->size * sh->size, row_floats = (size_t)cols * numel;
    // Rows interleaved by run, so the same prompt and seed of every run sit one above the other.
    float* cells = xmalloc((size_t)rows * row_floats * sizeof *cells);
    char** row_labels = xcalloc((size_t)rows, sizeof *row_labels);
    for (int p = 0; p < sh->nprompts; p++)
        for (int r = 0; r < nruns; r++) {
            int row = p * nruns + r;
            memcpy(cells + row * row_floats, runs[r].images + p * row_floats, row_floats * sizeof *cells);
            const char* text = *sh->prompts[p] ? sh->prompts[p] : "(empty prompt)";
            size_t cap = strlen(text) + 32;
            row_labels[row] = xmalloc(cap);
            if (runs[r].tag) snprintf(row_labels[row], cap, "[%s] %s", runs[r].tag, text);
            else snprintf(row_labels[row], cap, "%s", text);
        }
    char** col_labels = xcalloc((size_t)cols, sizeof *col_labels);
    for (int c = 0; c < cols; c++) {
        col_labels[c] = xmalloc(32);
        snprintf(col_labels[c], 32, "seed %llu", (unsigned long long)sh->seeds[c]);
    }
    GridSpec g = {.rows = rows, .cols = cols, .channels = sh->channels, .height = sh->size, .width = sh->size,
                  .images = cells, .upscale = upscale, .row_labels = (const char* const*)row_labels,
                  .col_labels = (const char* const*)col_labels, .title = title};
    int r = make_parent(path, err, errlen);
    if (!r) r = grid_write_png(&g, path, err, errlen);
    for (int i = 0; i < rows; i++) free(row_labels[i]);
    for (int c = 0; c < cols; c++) free(col_labels[c]);
    free(row_labels), free(col_labels), free(cells);
    return r;
}

int sample_images_write(const char* dir, const SampleSheet* sh, const SampleRun* run, const GenerateSettings* s,
                        char* err, size_t errlen) {
    if (mkdir_p(dir, err, errlen)) return -1;
    size_t numel = (size_t)sh->channels * sh->size * sh->size;
    cJSON* root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "model", run->model ? run->model : "");
    cJSON_AddStringToObject(root, "sampler", sampler_name(s->sampler));
    cJSON_AddNumberToObject(root, "steps", s->steps);
    cJSON_AddNumberToObject(root, "cfg", s->cfg);
    cJSON_AddNumberToObject(root, "eta", s->eta);
    cJSON* list = cJSON_AddArrayToObject(root, "images");
    int r = 0;
    for (int p = 0; p < sh->nprompts && !r; p++)
        for (int k = 0; k < sh->nseeds && !r; k++) {
            char name[64];
            sample_image_name(p, sh->seeds[k], name, sizeof name);
            char* path = path_join(dir, name);
            r = png_write_f32(path, run->images + ((size_t)p * sh->nseeds + k) * numel, sh->size, sh->size,
                              sh->channels, err, errlen);
            free(path);
            cJSON* e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "file", name);
            cJSON_AddNumberToObject(e, "prompt_index", p);
            cJSON_AddStringToObject(e, "prompt", sh->prompts[p]);
            cJSON_AddNumberToObject(e, "seed", (double)sh->seeds[k]);
            cJSON_AddItemToArray(list, e);
        }
    if (!r) {
        char* path = path_join(dir, "index.json");
        r = json_write_file_atomic(path, root, err, errlen);
        free(path);
    }
    cJSON_Delete(root);
    return r;
}
