// fuzz_safetensors.c: the safetensors reader (header JSON, dtypes, shapes,
// offsets) on arbitrary files, then every tensor read back as float32.
#include <stdlib.h>

#include "common.h"
#include "io/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t n) {
    char err[1024];
    SafeTensors* st = st_open(fuzz_file("x.safetensors", data, n), err, sizeof err);
    if (!st) return 0;
    for (int i = 0; i < st_count(st); i++) {
        const StTensor* t = st_tensor_at(st, i);
        if (t->numel > (1 << 20)) continue;  // the data fits the file: this bounds the fuzzer's memory only
        float* out = malloc((size_t)(t->numel ? t->numel : 1) * sizeof *out);
        st_load_f32(st, t->name, t->ndim, t->shape, out, err, sizeof err);
        free(out);
    }
    const char *k, *v;
    for (int i = 0; i < st_meta_count(st); i++) st_meta_at(st, i, &k, &v);
    st_close(st);
    return 0;
}
