// op_loss.h: see ops.h for conventions.
#pragma once
#include "gpu/cmd.h"
