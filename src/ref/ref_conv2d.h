// ref_conv2d.h: double-precision references; see ref.h.
#pragma once
#include <stdbool.h>
#include <stdint.h>
