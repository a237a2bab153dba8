// image_resize.c: see image_resize.h.
#include "io/image_resize.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/check.h"

// Resamples n_in samples to n_out (scale = n_in / n_out) with a triangle filter
// of support max(1, scale), sample centres aligned as in PIL. Weights per output
// sample are normalised. src_stride/dst_stride step through a row or a column.
static void resample_1d(const float* src, int n_in, int src_stride, float* dst, int n_out, int dst_stride,
                        double offset, double span) {
    double scale = span / n_out, support = scale > 1 ? scale : 1;
    for (int o = 0; o < n_out; o++) {
        double centre = offset + (o + 0.5) * scale;
        int lo = (int)floor(centre - support), hi = (int)ceil(centre + support);
        double acc = 0, wsum = 0;
        for (int i = lo; i <= hi; i++) {
            if (i < 0 || i >= n_in) continue;
            double w = 1 - fabs((i + 0.5 - centre) / support);
            if (w <= 0) continue;
            acc += w * src[(size_t)i * src_stride], wsum += w;
        }
        if (wsum == 0) {  // centre outside every sample's reach: take the nearest
            int i = (int)floor(centre);
            i = i < 0 ? 0 : i >= n_in ? n_in - 1 : i;
            acc = src[(size_t)i * src_stride], wsum = 1;
        }
        dst[(size_t)o * dst_stride] = (float)(acc / wsum);
    }
}

void image_resize_center_crop(const float* chw, int width, int height, int channels, int size, float* out) {
    if (width < 1 || height < 1 || size < 1) die("image_resize_center_crop: bad size %dx%d -> %d", width, height, size);
    // Resize the short side to size, then crop the middle: equivalently, sample
    // the centred square window of the source that maps onto the output.
    double s = (double)size / (width < height ? width : height);
    double span_x = size / s, span_y = size / s;  // source extent of the output window
    double off_x = (width - span_x) / 2, off_y = (height - span_y) / 2;
    float* tmp = xmalloc((size_t)height * size * sizeof *tmp);
    for (int c = 0; c < channels; c++) {
        const float* src = chw + (size_t)c * width * height;
        for (int y = 0; y < height; y++) resample_1d(src + (size_t)y * width, width, 1, tmp + (size_t)y * size, size, 1, off_x, span_x);
        float* dst = out + (size_t)c * size * size;
        for (int x = 0; x < size; x++) resample_1d(tmp + x, height, size, dst + x, size, size, off_y, span_y);
    }
    free(tmp);
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
