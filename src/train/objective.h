// objective.h: the preference objectives (shared/design/OBJECTIVES.md sections
// 1-4 and the gradient table of section 10): names, hyper-parameters with the
// official defaults, the row layout each one expects, and the fixed layout of
// the metrics vector that op_objective (ops/op_objective.h) writes every step.
//
// Every objective is a scalar function of per-sample errors e[n] (the policy's
// per-sample MSE, ops/op_loss.h) and, for most, r[n] (the frozen reference's).
// The GPU op turns (e, r, signs) into coef[n] = dLoss/de[n], which drives the one
// shared backward (op_mse_per_sample_backward), plus the metrics below.
//
// Row layouts of one micro-batch of B items (n = rows = B * rows_per_item):
//   sft        B rows: the chosen images.                       loss = mean e
//   dpo, tdpo  2B rows [winners; losers] (tdpo: the same image with the matched
//              and the mismatched caption), shared noise/timestep per pair.
//   mapo       2B rows [winners; losers], no reference model.
//   kto        B rows, independent samples, signs[i] > 0 desirable, else undesirable.
//   tkto       2B rows [matched caption (desirable); mismatched (undesirable)]:
//              kto over 2B rows, signs given per row like kto
//              (objective_tkto_signs() fills the usual [+1..; -1..] layout).
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// The numeric values are shader constants (shaders/include/objective.glsl).
typedef enum Objective { OBJ_SFT = 0, OBJ_DPO = 1, OBJ_MAPO = 2, OBJ_KTO = 3, OBJ_TDPO = 4, OBJ_TKTO = 5 } Objective;
#define OBJ_COUNT 6

// "sft", "dpo", "mapo", "kto", "tdpo", "tkto".
const char* objective_name(Objective obj);
// Case-sensitive; false (and *out untouched) for an unknown name.
bool objective_parse(const char* name, Objective* out);

// Hyper-parameters. tdpo reads the dpo fields, tkto the kto fields.
typedef struct ObjectiveHyper {
    // dpo / tdpo, the official HALF convention (Diffusion-DPO train.py):
    //   z = -0.5 beta_dpo ((e_w - e_l) - (r_w - r_l)), loss = mean softplus(-z).
    // diffusers' SD1.5 script uses the full convention -logsig(beta' (...)): beta' = beta_dpo / 2.
    float beta_dpo;        // 5000
    // mapo: loss = mean e_w - beta_mapo mean logsig(mapo_t (f(e_w) - f(e_l))),
    //   f(e) = s e / expm1(s e), s = mapo_snr (a constant despite the name).
    float beta_mapo;       // 0.1
    float mapo_snr;        // 0.5
    float mapo_t;          // 1000 = num_train_timesteps
    // kto / tkto: rho = r - e, z = max(0, mean of rho over the micro-batch's rows)
    //   (detached), u = s beta_kto (rho - z), loss = mean lambda (1 - sigma(u)),
    //   lambda = kto_lambda_desirable for s > 0, kto_lambda_undesirable otherwise.
    float beta_kto;                // 1000
    float kto_lambda_desirable;    // 1
    float kto_lambda_undesirable;  // 1
} ObjectiveHyper;

// The defaults of OBJECTIVES.md (official code), for every objective.
ObjectiveHyper objective_hyper_default(void);
// 0 if the fields obj reads are finite and in range (betas, s, T > 0; lambdas >= 0),
// else -1 with a message naming the field (err may be NULL).
int objective_hyper_check(Objective obj, const ObjectiveHyper* h, char* err, size_t errlen);
// The beta obj reads (1 for sft).
float objective_beta(Objective obj, const ObjectiveHyper* h);

// Rows per item: 2 for dpo, tdpo, mapo, tkto; 1 for sft, kto.
int objective_rows_per_item(Objective obj);
// dpo, tdpo, kto, tkto need the frozen reference's errors r[n]; sft and mapo do not.
bool objective_needs_reference(Objective obj);
// kto, tkto need a per-row sign (desirable/undesirable).
bool objective_needs_signs(Objective obj);
// tkto's row signs: +1 for the first `pairs` rows (matched captions), -1 for the next `pairs`.
void objective_tkto_signs(float* signs, int64_t pairs);

// ---------------------------------------------------------------------------
// Metrics: op_objective writes OBJ_METRICS_COUNT floats in this fixed order (the
// shader has the same indices in objective.glsl). Entries an objective does not
// define are written as 0 (not NaN: the vector goes to JSON logs and plots as
// is; objective_metric_used() tells which entries mean something).
// "Items" are pairs for dpo/tdpo/mapo, rows for sft/kto/tkto. The sigmoid
// argument a_i is z_i (dpo/tdpo), v_i = T (f(e_w) - f(e_l)) (mapo), u_i (kto/tkto);
// a_i > 0 means the policy ranks item i the right way. Metrics ignore coef_scale.
typedef enum ObjMetric {
    OBJ_METRIC_LOSS = 0,         // the micro-batch loss (all objectives)
    OBJ_METRIC_IMPLICIT_ACC,     // fraction of items with a_i > 0, a_i == 0 counts 1/2
    OBJ_METRIC_REWARD_MARGIN,    // mean a_i (dpo: mean z = 0.5 beta (reward margin); kto: mean u)
    OBJ_METRIC_POLICY_MSE,       // mean e over all rows (all objectives)
    OBJ_METRIC_REF_MSE,          // mean r over all rows (objectives with a reference)
    OBJ_METRIC_WIN_DRIFT,        // mean (e_w - r_w) (dpo/tdpo); kto/tkto: over desirable rows
    OBJ_METRIC_LOSE_DRIFT,       // mean (e_l - r_l) (dpo/tdpo); kto/tkto: over undesirable rows
    OBJ_METRIC_MAPO_WIN_SCORE,   // mean f(e_w) (mapo)
    OBJ_METRIC_MAPO_LOSE_SCORE,  // mean f(e_l) (mapo)
    OBJ_METRIC_KTO_Z,            // the reference point z (kto/tkto)
    OBJ_METRIC_MEAN_SIGMA,       // mean sigma(-a_i): near 0 = saturated (won) items, 0.5 = undecided
    OBJ_METRIC_WIN_MSE,          // mean e_w (dpo/tdpo/mapo); kto/tkto: over desirable rows; sft: mean e
    OBJ_METRIC_LOSE_MSE,         // mean e_l (dpo/tdpo/mapo); kto/tkto: over undesirable rows
    OBJ_METRIC_DESIRABLE_FRAC,   // fraction of rows with sign > 0 (kto/tkto)
    OBJ_METRIC_MEAN_ABS_COEF,    // mean over rows of |dLoss/de_i| (all objectives; before coef_scale)
    OBJ_METRICS_COUNT
} ObjMetric;

// "loss", "implicit_acc", ... (snake case of the enum names).
const char* objective_metric_name(ObjMetric m);
// Whether obj defines metric m (others are written as 0).
bool objective_metric_used(Objective obj, ObjMetric m);
