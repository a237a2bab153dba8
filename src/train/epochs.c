// epochs.c: see epochs.h.
#include "train/epochs.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/manifest.h"
#include "io/fmnist.h"
#include "model/unet_config.h"
#include "train/pref_batches.h"
#include "util/check.h"
#include "util/fsutil.h"

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

int epochs_to_steps(const TrainConfig* c, int64_t items, int ranks, int* steps, char* err, size_t errlen) {
    int64_t per_epoch = ceil_div(ceil_div(items, (int64_t)c->train_batch_size * ranks), c->gradient_accumulation_steps);
    int64_t n = (int64_t)c->num_train_epochs * per_epoch;
    if (n < 1 || n > INT_MAX)
        return fail(err, errlen, "--num_train_epochs %d over %lld items: %lld steps, outside 1 .. %d", c->num_train_epochs,
                    (long long)items, (long long)n, INT_MAX);
    *steps = (int)n;
    return 0;
}

// The model's image shape, which a manifest's images are decoded to: the pipeline
// folder's unet/config.json, else model_config's "unet" object.
static int model_image_shape(const TrainConfig* c, int* channels, int* size, char* err, size_t errlen) {
    UNetConfig u;
    if (*c->pretrained_model_name_or_path) {
        char* path = path_join(c->pretrained_model_name_or_path, "unet/config.json");
        int rc = unet_config_load(&u, path, err, errlen);
        free(path);
        if (rc) return -1;
    } else {
        char* text = read_file(c->model_config, NULL, err, errlen);
        if (!text) return -1;
        cJSON* o = cJSON_Parse(text);
        free(text);
        char* unet = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(o, "unet"));
        cJSON_Delete(o);
        int rc = unet ? unet_config_parse(&u, unet, c->model_config, err, errlen)
                      : fail(err, errlen, "%s: no \"unet\" object", c->model_config);
        free(unet);
        if (rc) return -1;
    }
    *channels = u.in_channels, *size = u.sample_size;
    return 0;
}

int epochs_count_items(const TrainConfig* c, int64_t* items, char* err, size_t errlen) {
    Objective obj;
    if (!objective_parse(c->objective, &obj))
        return fail(err, errlen, "--objective %s: use %s", c->objective, objective_names_list());
    if (!strcmp(c->dataset, "fmnist")) {
        Fmnist ds;
        if (fmnist_load(&ds, NULL, FMNIST_TRAIN, err, errlen)) return -1;
        *items = ds.n;
        fmnist_free(&ds);
        return 0;
    }
    ManifestOptions mo = {.skip_bad = c->skip_bad_rows, .max_rows = c->max_train_samples,
                          .max_image_pixels = c->max_image_pixels};
    if (model_image_shape(c, &mo.channels, &mo.size, err, errlen)) return -1;
    PrefDataset ds;
    if (manifest_load(&ds, c->dataset, &mo, err, errlen)) return -1;
    *items = pref_layout_items(&ds, objective_row_layout(obj));
    manifest_free(&ds);
    return 0;
}
