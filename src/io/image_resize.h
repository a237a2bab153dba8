// image_resize.h: resampling and cropping planar float images, as torchvision's
// Resize (on PIL images: PIL's antialiased bilinear) and its crops do.
#pragma once

// chw [c][h][w] -> out [c][out_h][out_w] with PIL's bilinear filter: a triangle
// whose support is widened by the scale factor when shrinking (antialiasing),
// sample centres aligned as in PIL, weights normalised per output sample.
// Rows first, then columns. Enlarging is plain bilinear interpolation.
void image_resize(const float* chw, int width, int height, int channels, int out_w, int out_h, float* out);
// The size torchvision's Resize(size) gives: the short side becomes size, the
// long side int(size * long / short) (truncated).
void image_short_side_size(int width, int height, int size, int* out_w, int* out_h);
// chw [c][h][w] -> out [c][size][size], the square whose top-left corner is (x, y).
void image_crop(const float* chw, int width, int height, int channels, int x, int y, int size, float* out);
// In place horizontal mirror of [c][h][w].
void image_flip_horizontal(float* chw, int width, int height, int channels);
