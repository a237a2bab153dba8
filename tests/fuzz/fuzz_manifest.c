// fuzz_manifest.c: manifest rows (JSON Lines naming images beside the file).
// Two small images exist beside it, so rows that name them reach decoding.
#include <stdbool.h>
#include <stdint.h>

#include "common.h"
#include "data/manifest.h"
#include "io/png_image.h"
#include "util/check.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t n) {
    static bool ready;
    char err[1024];
    if (!ready) {
        uint8_t px[4 * 6 * 3] = {0, 50, 100, 150, 200, 250};
        char path[512];
        snprintf(path, sizeof path, "%s/a.png", fuzz_dir());
        if (png_write(path, px, 4, 6, 3, err, sizeof err)) die("%s", err);
        snprintf(path, sizeof path, "%s/b.png", fuzz_dir());
        if (png_write(path, px, 6, 4, 1, err, sizeof err)) die("%s", err);
        ready = true;
    }
    PrefDataset d;
    // Both channel counts and crops; the pixel limit keeps a large image in a row cheap.
    for (int ch = 1; ch <= 3; ch += 2) {
        ManifestOptions o = {.channels = ch, .size = 4, .crop = ch == 3 ? IMAGE_CROP_RANDOM : IMAGE_CROP_CENTER,
                             .seed = 3, .skip_bad = ch == 3, .max_image_pixels = 1 << 16};
        if (manifest_load(&d, fuzz_file("m.jsonl", data, n), &o, err, sizeof err) == 0) {
            for (int i = 0; i < d.n; i++) pref_image(&d, i, d.items[i].nimages - 1);
            manifest_free(&d);
        }
    }
    return 0;
}
