// fuzz_image.c: PNG and JPEG decoding (libpng and libjpeg-turbo behind image_decode_u8), with
// the declared-size check before decoding, and the whole preparation of a model
// input (image_prepare_bytes: convert, resize, centre or random crop).
#include <stdlib.h>

#include "common.h"
#include "io/image_prepare.h"
#include "io/image_decode.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t n) {
    char err[1024];
    int w, h, c;
    // 1 << 20 pixels: a bound on the fuzzer's memory, far below the default limit.
    for (int want = 0; want <= 3; want += 3) {
        uint8_t* px = image_decode_u8(data, n, "input", want, 1 << 20, &w, &h, &c, err, sizeof err);
        if (!px) continue;
        free(px);
    }
    // Grey and RGB, each with the centre crop at 8 pixels and a random crop at 3
    // (the fuzz images are mostly small: enlarging, then shrinking).
    float out[3 * 8 * 8];
    for (int ch = 1; ch <= 3; ch += 2)
        for (int random = 0; random <= 1; random++) {
            ImagePrepare how = {.channels = ch, .size = random ? 3 : 8,
                                .crop = random ? IMAGE_CROP_RANDOM : IMAGE_CROP_CENTER, .seed = 7, .max_pixels = 1 << 20};
            image_prepare_bytes(data, n, "input", &how, out, NULL, err, sizeof err);
        }
    return 0;
}
