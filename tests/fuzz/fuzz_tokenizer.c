// fuzz_tokenizer.c: the tokenizer's vocab.json and merges.txt readers. The
// input is vocab.json, a line "--merges--", merges.txt, optionally a line
// "--config--" and tokenizer_config.json; files that load tokenize and encode a
// fixed text and the input itself.
#include <stdint.h>
#include <stdlib.h>

#include "common.h"
#include "model/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t n) {
    const uint8_t *vocab, *rest, *merges, *config;
    size_t nv, nr, nm, nc;
    fuzz_split(data, n, "\n--merges--\n", &vocab, &nv, &rest, &nr);
    fuzz_split(rest, nr, "\n--config--\n", &merges, &nm, &config, &nc);
    const char* vp = fuzz_file("vocab.json", vocab, nv);
    const char* mp = fuzz_file("merges.txt", merges, nm);
    const char* cp = nc ? fuzz_file("tokenizer_config.json", config, nc) : NULL;
    Tokenizer t;
    char err[1024];
    if (tokenizer_load_files(&t, vp, mp, cp, NULL, err, sizeof err)) return 0;
    int32_t ids[16];
    tokenizer_encode(&t, "a photo of a dark small coat", 16, ids);
    char* text = fuzz_cstring(data, n < 256 ? n : 256);
    int32_t* all = NULL;
    int k = tokenizer_tokenize(&t, text, &all);
    if (k >= 0) free(all);
    tokenizer_encode(&t, text, 16, ids);
    free(text);
    tokenizer_free(&t);
    return 0;
}
