// fuzz_train_state.c: a checkpoint's train_state.json reader.
#include <stdlib.h>

#include "common.h"
#include "train/checkpoint.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t n) {
    char* text = fuzz_cstring(data, n);
    char err[1024];
    CheckpointState st;
    checkpoint_state_parse(text, "train_state.json", &st, err, sizeof err);
    free(text);
    return 0;
}
