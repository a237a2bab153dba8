// op_layout.h: see ops.h for conventions.
#pragma once
#include "gpu/cmd.h"
