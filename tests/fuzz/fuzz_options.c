// fuzz_options.c: option config files (flat JSON objects) through the table of
// `vkpref train`, the largest one; a file that loads must print and load again.
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "train/train_config.h"
#include "util/check.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t n) {
    const OptTable* t = train_options();
    TrainConfig a, b;
    char err[1024];
    opts_set_defaults(t, &a);
    if (opts_load_json(t, &a, fuzz_file("config.json", data, n), err, sizeof err) == 0) {
        char* text = opts_to_json(t, &a);
        opts_set_defaults(t, &b);
        if (opts_load_json(t, &b, fuzz_file("again.json", (const uint8_t*)text, strlen(text)), err, sizeof err))
            die("fuzz_options: the resolved config does not load again: %s", err);
        opts_free(t, &b);
        free(text);
    }
    opts_free(t, &a);
    return 0;
}
