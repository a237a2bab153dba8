// op_conv2d.h: see ops.h for conventions.
#pragma once
#include "gpu/cmd.h"
