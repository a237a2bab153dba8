// op_objective.h: the preference objectives on the GPU (shaders/objective_coef.comp):
// per-sample errors -> per-sample gradient coefficients coef[n] = dLoss/de[n]
// (what op_mse_per_sample_backward consumes) and the metrics vector. One
// dispatch, no host round trip: hyper-parameters are push constants (fixed for a
// run), so a recorded step replays unchanged. src/train/objective.h has the
// objectives, row layouts, defaults and the metric layout; src/ref/ref_objective.h
// the double-precision specification.
#pragma once
#include "gpu/cmd.h"
#include "objective/objective.h"

// coef [n] out (overwritten): coef_scale * dLoss/de[i]. coef_scale is for the
//   caller's gradient accumulation (1/K with K micro-batches per step, so the
//   accumulated gradient is the mean of the micro-batch losses' gradients); 1
//   otherwise. It does not touch the metrics.
// metrics [OBJ_METRICS_COUNT] out (overwritten): the micro-batch's values, layout
//   enum ObjMetric; entries the objective does not define are 0.
// e [n]: the policy's per-sample MSE, n = B * objective_rows_per_item(obj).
// r [n]: the reference's per-sample MSE; required iff objective_needs_reference(obj),
//   ignored (may be NULL) otherwise.
// q [n]: dspo, mean (pred - pred_ref)^2 per row (op_mse_per_sample_forward of the
//   policy's prediction against the reference's); required iff
//   objective_needs_ref_dist(obj), ignored (may be NULL) otherwise.
// coef_q [n] out (overwritten) iff objective_needs_ref_dist(obj): coef_scale * dLoss/dq[i],
//   the coefficient of the backward's second term (op_mse_per_sample_backward of
//   pred against pred_ref); ignored (may be NULL) otherwise.
// signs [n]: kto/tkto, > 0 desirable, otherwise undesirable (+1/-1 or 1/0 labels
//   both work); required iff objective_needs_signs(obj), ignored otherwise.
// Outputs must not overlap each other or any input. Dies naming the op on a bad
// shape, a missing input or an invalid hyper-parameter (objective_hyper_check).
void op_objective(Cmd* c, const Tensor* coef, const Tensor* coef_q, const Tensor* metrics, const Tensor* e,
                  const Tensor* r, const Tensor* q, const Tensor* signs, Objective obj, const ObjectiveHyper* h,
                  float coef_scale);
