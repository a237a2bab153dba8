// ref.h: the plain-C reference of every op, in double precision: the
// specification the shaders are tested against, and the oracle the finite-
// difference tests check. Same names and argument order as ops.h with a ref_
// prefix; host double arrays instead of Tensors. Backward functions accumulate.
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "ref/ref_eltwise.h"
#include "ref/ref_norm.h"
#include "ref/ref_matmul.h"
#include "ref/ref_conv2d.h"
#include "ref/ref_attention.h"
#include "ref/ref_layout.h"
#include "ref/ref_loss.h"
#include "ref/ref_optim.h"
#include "ref/ref_sample.h"
#include "ref/ref_objective.h"
#include "ref/ref_xent.h"
#include "ref/ref_pad.h"
#include "ref/ref_clamp.h"
