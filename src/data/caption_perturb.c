// caption_perturb.c: see caption_perturb.h.
#include "data/caption_perturb.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "io/fmnist.h"
#include "util/rng.h"

const char* perturb_kind_name(PerturbKind k) {
    static const char* const names[] = {"manifest", "object", "attribute", "other_caption"};
    return k < PERTURB_KINDS ? names[k] : "?";
}

PerturbKind caption_perturb(const char* const* captions, int n, int i, uint64_t seed, char* out, size_t outlen) {
    int label;
    FmnistTone tone;
    FmnistSize size;
    double u = rng_u01(seed, 0, RNG_STREAM_MISC, (uint64_t)i * 4);
    if (fmnist_parse_caption(captions[i], &label, &tone, &size) && u < 0.8) {
        if (u < 0.6) {  // another garment, same attribute words
            int other = (label + 1 + (int)rng_below(seed, 0, RNG_STREAM_MISC, (uint64_t)i * 4 + 1, FMNIST_CLASSES - 1)) %
                        FMNIST_CLASSES;
            fmnist_caption_with(other, tone, size, out, outlen);
            return PERTURB_OBJECT;
        }
        // Other attribute words: any of the 8 other (tone, size) combinations.
        int cur = (int)tone * 3 + (int)size;
        int next = (cur + 1 + (int)rng_below(seed, 0, RNG_STREAM_MISC, (uint64_t)i * 4 + 2, 8)) % 9;
        fmnist_caption_with(label, (FmnistTone)(next / 3), (FmnistSize)(next % 3), out, outlen);
        return PERTURB_ATTRIBUTE;
    }
    // Another sample's caption that differs from this one (probe from a seeded start).
    int start = (int)rng_below(seed, 0, RNG_STREAM_MISC, (uint64_t)i * 4 + 3, (uint32_t)(n > 1 ? n : 1));
    for (int k = 0; k < n; k++) {
        int j = (start + k) % n;
        if (j != i && strcmp(captions[j], captions[i])) {
            snprintf(out, outlen, "%s", captions[j]);
            return PERTURB_OTHER_CAPTION;
        }
    }
    // Every caption is the same: the empty caption is still a mismatch.
    snprintf(out, outlen, "%s", "");
    return PERTURB_OTHER_CAPTION;
}
