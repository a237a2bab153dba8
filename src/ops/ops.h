// ops.h: every GPU op. Each op is a pair op_<name>_forward / op_<name>_backward
// that records dispatches into a Cmd: outputs first, then inputs, then sizes.
//
// Conventions (llm.c's):
//   - backward ops ACCUMULATE (+=) into every gradient output, parameter and
//     activation alike; the training step zeroes gradient arenas once;
//   - forward ops overwrite their outputs;
//   - tensors are fp32, contiguous, row-major.
//
// Shape letters, used in every shape comment:
//   N batch, C input channels, K output channels, H, W spatial, G groups,
//   T tokens (query length), S key/value length, D width, NH heads, HD head width,
//   R rows (all leading dims flattened); matmul uses its own M, N, K (op_matmul.h).
#pragma once
#include "gpu/cmd.h"

#include "ops/op_eltwise.h"
#include "ops/op_norm.h"
#include "ops/op_matmul.h"
#include "ops/op_conv2d.h"
#include "ops/op_attention.h"
#include "ops/op_layout.h"
#include "ops/op_loss.h"
#include "ops/op_optim.h"
#include "ops/op_sample.h"
#include "ops/op_objective.h"
#include "ops/op_xent.h"
#include "ops/op_pad.h"
#include "ops/op_clamp.h"
