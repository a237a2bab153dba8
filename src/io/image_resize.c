// image_resize.c: see image_resize.h.
#include "io/image_resize.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/check.h"

// Resamples n_in samples to n_out (PIL's precompute_coeffs with the bilinear
// filter): output o is centred on (o + 0.5) * scale in the input, scale =
// n_in / n_out; input i, centred on i + 0.5, weighs triangle((i + 0.5 - centre) /
// support) with support = max(1, scale). src_stride/dst_stride step through a row
// or a column.
static void resample_1d(const float* src, int n_in, int src_stride, float* dst, int n_out, int dst_stride) {
    double scale = (double)n_in / n_out, support = scale > 1 ? scale : 1;
    for (int o = 0; o < n_out; o++) {
        double centre = (o + 0.5) * scale;
        int lo = (int)floor(centre - support), hi = (int)ceil(centre + support);
        double acc = 0, wsum = 0;
        for (int i = lo < 0 ? 0 : lo; i <= hi && i < n_in; i++) {
            double w = 1 - fabs((i + 0.5 - centre) / support);
            if (w <= 0) continue;
            acc += w * src[(size_t)i * src_stride], wsum += w;
        }
        // Every centre lies inside [0, n_in), so the nearest input always weighs > 0.
        dst[(size_t)o * dst_stride] = (float)(acc / wsum);
    }
}

void image_resize(const float* chw, int width, int height, int channels, int out_w, int out_h, float* out) {
    if (width < 1 || height < 1 || out_w < 1 || out_h < 1)
        die("image_resize: bad size %dx%d -> %dx%d", width, height, out_w, out_h);
    float* tmp = xmalloc((size_t)height * out_w * sizeof *tmp);
    for (int c = 0; c < channels; c++) {
        const float* src = chw + (size_t)c * width * height;
        for (int y = 0; y < height; y++) resample_1d(src + (size_t)y * width, width, 1, tmp + (size_t)y * out_w, out_w, 1);
        float* dst = out + (size_t)c * out_w * out_h;
        for (int x = 0; x < out_w; x++) resample_1d(tmp + x, height, out_w, dst + x, out_h, out_w);
    }
    free(tmp);
}

void image_short_side_size(int width, int height, int size, int* out_w, int* out_h) {
    if (width < 1 || height < 1 || size < 1) die("image_short_side_size: bad size %dx%d -> %d", width, height, size);
    long long lng = (long long)size * (width > height ? width : height) / (width < height ? width : height);
    *out_w = width <= height ? size : (int)lng;
    *out_h = width <= height ? (int)lng : size;
}

void image_crop(const float* chw, int width, int height, int channels, int x, int y, int size, float* out) {
    if (x < 0 || y < 0 || size < 1 || x + size > width || y + size > height)
        die("image_crop: %dx%d at (%d, %d) outside %dx%d", size, size, x, y, width, height);
    for (int c = 0; c < channels; c++)
        for (int r = 0; r < size; r++)
            memcpy(out + ((size_t)c * size + r) * size, chw + ((size_t)c * height + y + r) * width + x,
                   (size_t)size * sizeof *out);
}

void image_flip_horizontal(float* chw, int width, int height, int channels) {
    for (int r = 0; r < channels * height; r++) {
        float* row = chw + (size_t)r * width;
        for (int a = 0, b = width - 1; a < b; a++, b--) {
            float t = row[a];
            row[a] = row[b], row[b] = t;
        }
    }
}
