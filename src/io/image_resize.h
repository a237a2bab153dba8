// image_resize.h: fitting an image to the model's square sample size the way
// the training scripts do (torchvision Resize(short side -> S, bilinear,
// antialiased as PIL does) then CenterCrop(S)).
#pragma once

// chw [c][h][w] -> out [c][S][S]. Downscaling uses a triangle filter widened by
// the scale factor (PIL's antialiased bilinear), so small targets do not alias.
void image_resize_center_crop(const float* chw, int width, int height, int channels, int size, float* out);
// In place horizontal mirror of [c][S][S].
void image_flip_horizontal(float* chw, int width, int height, int channels);
