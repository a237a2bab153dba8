// ref_objective.h: the preference objectives in double precision (see ref.h):
// the losses of docs/OBJECTIVES.md written out in numerically stable forms, their
// analytic gradient coefficients, and the metrics of objective/objective.h. The specification op_objective is tested
// against; the tests check the coefficients against finite differences of
// ref_objective_loss.
#pragma once
#include <stdint.h>

#include "objective/objective.h"

// n_items = B: pairs (dpo, tdpo, dpo_hinge, dpo_ipo, sdpo, dspo, mapo, tkto) or samples (sft, kto); the arrays
// hold rows = B * objective_rows_per_item(obj) values in the layouts of objective.h.
// r may be NULL unless objective_needs_reference(obj); q (mean (pred - pred_ref)^2
// per row) NULL unless objective_needs_ref_dist(obj); signs NULL unless
// objective_needs_signs(obj) (> 0 desirable, otherwise undesirable).
// Writes *loss, g[rows] = dLoss/de (for sdpo the losers' entries times
// ref_sdpo_lambda: a scaled gradient, not the loss's; OVERWRITTEN, not accumulated: it mirrors the
// op's coef with coef_scale = 1), gq[rows] = dLoss/dq (0 for objectives without q)
// and metrics[OBJ_METRICS_COUNT] (unused entries 0).
// loss, g, gq and metrics may each be NULL.
void ref_objective(Objective obj, const ObjectiveHyper* h, int64_t n_items, const double* e, const double* r,
                   const double* q, const double* signs, double* loss, double* g, double* gq, double* metrics);

// The loss alone. kto_z: KTO's reference point held fixed at *kto_z (it is
// detached in the objective: finite differences must not move it); NULL computes
// it from the batch (ref_kto_reference_point). Ignored by the other objectives.
double ref_objective_loss(Objective obj, const ObjectiveHyper* h, int64_t n_items, const double* e, const double* r,
                          const double* q, const double* signs, const double* kto_z);

// sdpo's scale of the losers' coefficients for `pairs` pairs [winners; losers]:
// min(1, (1 - mu) sqrt(sum e_w / sum e_l)), 1 when either sum is 0.
double ref_sdpo_lambda(double mu, int64_t pairs, const double* e);

// max(0, mean over the rows of (r - e)).
double ref_kto_reference_point(int64_t rows, const double* e, const double* r);

// Stable scalar pieces.
double ref_sigmoid(double u);
double ref_softplus(double u);     // max(u, 0) + log1p(exp(-|u|))
double ref_log_sigmoid(double u);  // min(u, 0) - log1p(exp(-|u|))
// MaPO's score f(e) = s e / expm1(s e) (series 1 - a/2 + a^2/12 for |a = s e| < 1e-4)
// and its derivative df/de.
double ref_mapo_f(double s, double e);
double ref_mapo_df(double s, double e);
