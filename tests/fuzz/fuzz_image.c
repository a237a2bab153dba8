// fuzz_image.c: PNG and JPEG decoding (stb_image behind image_decode_u8), with
// the declared-size check before decoding.
#include <stdlib.h>

#include "common.h"
#include "io/image_resize.h"
#include "io/png_image.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t n) {
    char err[1024];
    int w, h, c;
    // 1 << 20 pixels: a bound on the fuzzer's memory, far below the default limit.
    for (int want = 0; want <= 3; want += 3) {
        uint8_t* px = image_decode_u8(data, n, "input", want, 1 << 20, &w, &h, &c, err, sizeof err);
        if (!px) continue;
        if (want == 3) {
            float* chw = malloc((size_t)w * h * 3 * sizeof *chw), out[3 * 8 * 8];
            image_hwc_u8_to_chw(px, w, h, 3, chw);
            image_resize_center_crop(chw, w, h, 3, 8, out);
            free(chw);
        }
        free(px);
    }
    return 0;
}
