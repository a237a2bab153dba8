// objective.h: the preference objectives, each described once in the table
// OBJECTIVES (objective.c): name, row layout, whether it compares pairs, needs
// the frozen reference or per-row signs, its hyper-parameters (option keys,
// defaults, ranges, help), the metrics it defines, a help line and the paper.
// The shader constants (enum values, metric indices) are generated from this
// header at build time (tools/gen_objective_glsl.c -> objective_gen.glsl).
//
// Adding an objective: a row in OBJECTIVES and an enum value here, a branch in
// shaders/objective_coef.comp, the double-precision reference in
// src/ref/ref_objective.c, its tests (tests/test_op_objective.c) and a config
// under configs/. docs/OBJECTIVES.md describes each one for users.
//
// Every objective is a scalar function of per-sample errors e[n] (the policy's
// per-sample MSE, ops/op_loss.h) and, for most, r[n] (the frozen reference's).
// The GPU op turns (e, r, signs) into coef[n] = dLoss/de[n], which drives the one
// shared backward (op_mse_per_sample_backward), plus the metrics below. dspo also
// reads q[n], the policy's per-sample MSE against the reference's prediction, and
// writes coef_q[n] = dLoss/dq[n], a second backward term against that prediction.
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// The numeric values are shader constants (generated into objective_gen.glsl).
typedef enum Objective {
    OBJ_SFT = 0,
    OBJ_DPO = 1,
    OBJ_MAPO = 2,
    OBJ_KTO = 3,
    OBJ_TDPO = 4,
    OBJ_TKTO = 5,
    OBJ_DPO_HINGE = 6,  // dpo with loss_type hinge, as an objective of its own (a row of `vkpref compare`)
    OBJ_DPO_IPO = 7,    // dpo with loss_type ipo, likewise
    OBJ_SDPO = 8,       // dpo with the loser's gradient scaled so the winner's error cannot rise
    OBJ_DSPO = 9,       // score-matching form of dpo: also reads q, the winner's distance to the reference's output
} Objective;
#define OBJ_COUNT 10

// Diffusion-DPO's loss_type (diffusers' --loss_type), a function of the logit
// z = -beta/2 ((e_w - e_l) - (r_w - r_l)) of each pair:
//   DPO_LOSS_SIGMOID  softplus(-z) = -log sigma(z)          (Diffusion-DPO, the default)
//   DPO_LOSS_HINGE    relu(1 - z)                            (SLiC-style hinge)
//   DPO_LOSS_IPO      (z / beta - 1 / (2 beta))^2 = (h - 1/(2 beta))^2 with h = z / beta
// The numeric values are the option's choice indices and shader constants.
typedef enum DpoLoss { DPO_LOSS_SIGMOID = 0, DPO_LOSS_HINGE = 1, DPO_LOSS_IPO = 2 } DpoLoss;
#define DPO_LOSS_COUNT 3

// Row layouts of one micro-batch of B items (train/pref_batches.h builds them):
//   ROWS_CHOSEN          B rows: the chosen image of each pair, or a single image (sft)
//   ROWS_PAIRS           2B rows [winners; losers], noise and timestep shared per pair (dpo, mapo)
//   ROWS_UNPAIRED        B rows, each an image with a sign (+1 desirable, -1 undesirable) (kto)
//   ROWS_CAPTION_PAIRS   2B rows [image with its caption; the same image, noise and
//                        timestep with a mismatched caption] (tdpo, tkto)
typedef enum RowLayout { ROWS_CHOSEN, ROWS_PAIRS, ROWS_UNPAIRED, ROWS_CAPTION_PAIRS } RowLayout;

// Hyper-parameters an objective may read; each is an option of `vkpref train`
// under its key (OBJ_HYPER_MAPO_T is not: it is the schedule's timestep count).
typedef enum ObjHyperKey {
    OBJ_HYPER_BETA_DPO,
    OBJ_HYPER_BETA_MAPO,
    OBJ_HYPER_MAPO_SNR,
    OBJ_HYPER_BETA_KTO,
    OBJ_HYPER_KTO_LAMBDA_DESIRABLE,
    OBJ_HYPER_KTO_LAMBDA_UNDESIRABLE,
    OBJ_HYPER_LOSS_TYPE,  // a choice: sigmoid, hinge or ipo (DpoLoss), stored as its index
    OBJ_HYPER_SDPO_MU,
    OBJ_HYPER_BETA_DSPO,
    OBJ_HYPER_MAPO_T,
    OBJ_HYPER_COUNT
} ObjHyperKey;
#define OBJ_HYPER_OPTIONS OBJ_HYPER_MAPO_T  // the first OBJ_HYPER_OPTIONS keys are options

typedef struct ObjHyperSpec {
    const char* key;      // option key ("beta_dpo")
    size_t field;         // offsetof(ObjectiveHyper, ...)
    double def;           // the official default
    bool zero_allowed;    // range: >= 0 when true, else > 0 (always finite)
    double max;           // range: <= max (INFINITY: no upper bound)
    const char* choices;  // NULL: a number; else "a|b|c": the option takes one of these names and
                          // the field holds its index (def is the default's index)
    const char* help;
} ObjHyperSpec;
extern const ObjHyperSpec OBJ_HYPERS[OBJ_HYPER_COUNT];

typedef struct ObjectiveInfo {
    const char* name;       // "dpo"
    RowLayout layout;
    int rows_per_item;      // UNet rows per item of train_batch_size
    bool pairwise;          // items are (preferred, rejected) pairs of rows
    bool needs_reference;   // reads the frozen reference's errors r[n]
    bool needs_signs;       // reads a per-row desirable/undesirable sign
    int dpo_loss;           // the DpoLoss of a dpo-family objective that fixes it; -1: the loss_type
                            // hyper-parameter where the objective reads it, else sigmoid
    unsigned hypers;        // bit k: reads OBJ_HYPERS[k]
    unsigned metrics;       // bit m: defines metric m (others are written as 0)
    const char* help;       // one line for --help
    const char* paper;      // where the loss comes from
    // The fine-tuning learning rate tuned for this objective (configs/fmnist-<name>.json):
    // `vkpref train`'s default when fine-tuning with it (train/train_config.c).
    double tuned_learning_rate;
    // Reads q[n] = mean (pred - pred_ref)^2 (the policy's distance to the frozen
    // reference's prediction) and writes coef_q[n] = dLoss/dq[n]: the backward adds
    // coef_q times the residual pred - pred_ref to coef times pred - target (dspo).
    bool needs_ref_dist;
} ObjectiveInfo;
extern const ObjectiveInfo OBJECTIVES[OBJ_COUNT];

// The table row of obj (aborts on a value outside the enum: a programming error).
const ObjectiveInfo* objective_info(Objective obj);
// "sft", "dpo", "mapo", "kto", "tdpo", "tkto", "dpo_hinge", "dpo_ipo", "sdpo", "dspo".
const char* objective_name(Objective obj);
// Case-sensitive; false (and *out untouched) for an unknown name.
bool objective_parse(const char* name, Objective* out);
// "sft, dpo, mapo, ... or sdpo": for messages and help.
const char* objective_names_list(void);
RowLayout objective_row_layout(Objective obj);

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
    // dpo / tdpo: the loss of the logit z (enum DpoLoss, held as its index; the
    //   option takes the name). dpo_hinge and dpo_ipo fix it (ObjectiveInfo.dpo_loss).
    float loss_type;               // 0 = sigmoid
    // sdpo: the loser's coefficients are multiplied by lambda (detached, one per
    //   micro-batch), lambda = min(1, (1 - sdpo_mu) sqrt(sum e_w / sum e_l)); 1 when
    //   sum e_l = 0. See docs/OBJECTIVES.md for how this bounds the published rule.
    float sdpo_mu;                 // 0.9
    // dspo (official SD1.5 code): z = -0.5 beta_dspo ((e_w - e_l) - (r_w - r_l)), c = beta_dspo sigma(-z),
    //   loss = mean over pairs of mean ((pred_w - target) - c (pred_w - pred_ref,w))^2
    //        = mean of e_w - c (e_w - r_w + q_w) + c^2 q_w, q = mean (pred - pred_ref)^2.
    float beta_dspo;               // 0.001
} ObjectiveHyper;

// The defaults of OBJ_HYPERS (the official code's), for every objective.
ObjectiveHyper objective_hyper_default(void);
// The field of h that key k names.
float* objective_hyper_field(ObjectiveHyper* h, ObjHyperKey k);
// 0 if the fields obj reads are finite and in range (betas, s, T > 0; lambdas >= 0),
// else -1 with a message naming the field (err may be NULL).
int objective_hyper_check(Objective obj, const ObjectiveHyper* h, char* err, size_t errlen);
// The beta obj reads (1 for sft).
float objective_beta(Objective obj, const ObjectiveHyper* h);
// The option key of that beta ("beta_dpo", ...); NULL for objectives without one (sft).
const char* objective_beta_key(Objective obj);
// Whether obj is Diffusion-DPO's loss on (winner, loser) rows: dpo, tdpo, dpo_hinge, dpo_ipo, sdpo.
bool objective_is_dpo_family(Objective obj);
// The DpoLoss obj uses with h: the row's fixed loss, else h->loss_type where obj
// reads it, else sigmoid. Dies on an index outside DpoLoss (objective_hyper_check
// rejects those first).
DpoLoss objective_dpo_loss(Objective obj, const ObjectiveHyper* h);
// "sigmoid", "hinge", "ipo".
const char* objective_dpo_loss_name(DpoLoss l);
// A choice hyper-parameter (spec->choices != NULL) from its name: 0 and *index, or
// -1 with a message listing the choices.
int objective_hyper_parse_choice(ObjHyperKey k, const char* name, double* index, char* err, size_t errlen);

// Rows per item: 1 for sft, kto; 2 for the others.
int objective_rows_per_item(Objective obj);
// All but sft and mapo need the frozen reference's errors r[n].
bool objective_needs_reference(Objective obj);
// kto, tkto need a per-row sign (desirable/undesirable).
bool objective_needs_signs(Objective obj);
// dspo needs q[n], the per-sample MSE between the policy's and the reference's
// predictions, and drives a second backward term with coef_q[n] = dLoss/dq[n].
bool objective_needs_ref_dist(Objective obj);
// kto, tkto (the reference point z) and sdpo (the losers' scale) read a
// statistic of the whole micro-batch, so their coefficients depend on every row.
bool objective_uses_batch_statistic(Objective obj);
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
    OBJ_METRIC_SDPO_LAMBDA,      // sdpo: the scale of the losers' coefficients
    OBJ_METRICS_COUNT
} ObjMetric;

// "loss", "implicit_acc", ... (snake case of the enum names).
const char* objective_metric_name(ObjMetric m);
// Whether obj defines metric m (others are written as 0).
bool objective_metric_used(Objective obj, ObjMetric m);
