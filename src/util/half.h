// half.h: IEEE binary16 and bfloat16 conversions, round to nearest even; NaN
// stays NaN, overflow becomes infinity (as torch's .half() does). Used by the
// weights files and by F16 tensors on the device.
#pragma once
#include <stdint.h>

uint16_t f32_to_f16(float f);
float f16_to_f32(uint16_t h);
uint16_t f32_to_bf16(float f);
float bf16_to_f32(uint16_t h);
