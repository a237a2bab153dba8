// objective.c: see objective.h.
#include "objective/objective.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "util/check.h"

#define HYPER(k) (1u << (k))
#define METRIC(m) (1u << (m))
// Metrics every objective defines, those of every comparison, and those of a reference.
#define METRICS_ALL (METRIC(OBJ_METRIC_LOSS) | METRIC(OBJ_METRIC_POLICY_MSE) | METRIC(OBJ_METRIC_WIN_MSE) | \
                     METRIC(OBJ_METRIC_MEAN_ABS_COEF))
#define METRICS_PREF (METRICS_ALL | METRIC(OBJ_METRIC_IMPLICIT_ACC) | METRIC(OBJ_METRIC_REWARD_MARGIN) | \
                      METRIC(OBJ_METRIC_MEAN_SIGMA) | METRIC(OBJ_METRIC_LOSE_MSE))
#define METRICS_REF (METRIC(OBJ_METRIC_REF_MSE) | METRIC(OBJ_METRIC_WIN_DRIFT) | METRIC(OBJ_METRIC_LOSE_DRIFT))
#define METRICS_SIGNS (METRIC(OBJ_METRIC_KTO_Z) | METRIC(OBJ_METRIC_DESIRABLE_FRAC))
#define DPO_HYPERS HYPER(OBJ_HYPER_BETA_DPO)
#define KTO_HYPERS \
    (HYPER(OBJ_HYPER_BETA_KTO) | HYPER(OBJ_HYPER_KTO_LAMBDA_DESIRABLE) | HYPER(OBJ_HYPER_KTO_LAMBDA_UNDESIRABLE))

const ObjectiveInfo OBJECTIVES[OBJ_COUNT] = {
    [OBJ_SFT] = {"sft", ROWS_CHOSEN, 1, false, false, false, -1, 0, METRICS_ALL,
                 "supervised fine-tuning on the chosen images (the denoising loss)",
                 "Ho et al., Denoising Diffusion Probabilistic Models, NeurIPS 2020", 1e-5, false},
    [OBJ_DPO] = {"dpo", ROWS_PAIRS, 2, true, true, false, -1, DPO_HYPERS | HYPER(OBJ_HYPER_LOSS_TYPE),
                 METRICS_PREF | METRICS_REF,
                 "Diffusion-DPO on preference pairs, against the frozen starting model (--loss_type sigmoid, hinge "
                 "or ipo)",
                 "Wallace et al., Diffusion Model Alignment Using Direct Preference Optimization, CVPR 2024", 2.5e-7, false},
    [OBJ_MAPO] = {"mapo", ROWS_PAIRS, 2, true, false, false, -1,
                  HYPER(OBJ_HYPER_BETA_MAPO) | HYPER(OBJ_HYPER_MAPO_SNR) | HYPER(OBJ_HYPER_MAPO_T),
                  METRICS_PREF | METRIC(OBJ_METRIC_MAPO_WIN_SCORE) | METRIC(OBJ_METRIC_MAPO_LOSE_SCORE),
                  "margin-aware preference optimisation: no reference model",
                  "Hong et al., Margin-aware Preference Optimization for Aligning Diffusion Models without "
                  "Reference, 2024", 2.5e-7, false},
    [OBJ_KTO] = {"kto", ROWS_UNPAIRED, 1, false, true, true, -1, KTO_HYPERS,
                 METRICS_PREF | METRICS_REF | METRICS_SIGNS,
                 "Diffusion-KTO on single images marked desirable or undesirable",
                 "Li et al., Aligning Diffusion Models by Optimizing Human Utility, NeurIPS 2024", 5e-7, false},
    [OBJ_TDPO] = {"tdpo", ROWS_CAPTION_PAIRS, 2, true, true, false, -1, DPO_HYPERS | HYPER(OBJ_HYPER_LOSS_TYPE),
                  METRICS_PREF | METRICS_REF,
                  "DPO between an image's own caption and a mismatched one (text preference)",
                  "Diffusion-DPO's loss over (matched, mismatched) caption pairs", 1e-6, false},
    [OBJ_TKTO] = {"tkto", ROWS_CAPTION_PAIRS, 2, false, true, true, -1, KTO_HYPERS,
                  METRICS_PREF | METRICS_REF | METRICS_SIGNS,
                  "KTO with the matched caption desirable and a mismatched one undesirable",
                  "Diffusion-KTO's loss over (matched, mismatched) caption rows", 2e-6, false},
    [OBJ_DPO_HINGE] = {"dpo_hinge", ROWS_PAIRS, 2, true, true, false, DPO_LOSS_HINGE, DPO_HYPERS,
                       METRICS_PREF | METRICS_REF,
                       "Diffusion-DPO with the hinge loss relu(1 - z) (= dpo --loss_type hinge)",
                       "Wallace et al., CVPR 2024, with the hinge loss of Zhao et al., SLiC-HF, 2023 (diffusers' "
                       "train_diffusion_dpo.py --loss_type hinge)", 2.5e-7, false},
    [OBJ_DPO_IPO] = {"dpo_ipo", ROWS_PAIRS, 2, true, true, false, DPO_LOSS_IPO, DPO_HYPERS,
                     METRICS_PREF | METRICS_REF,
                     "Diffusion-DPO with the IPO loss (h - 1/(2 beta))^2, h = z / beta (= dpo --loss_type ipo)",
                     "Azar et al., A General Theoretical Paradigm to Understand Learning from Human Preferences, "
                     "AISTATS 2024 (IPO), on Diffusion-DPO's log-ratios", 2.5e-7, false},
    [OBJ_SDPO] = {"sdpo", ROWS_PAIRS, 2, true, true, false, DPO_LOSS_SIGMOID,
                  DPO_HYPERS | HYPER(OBJ_HYPER_SDPO_MU), METRICS_PREF | METRICS_REF | METRIC(OBJ_METRIC_SDPO_LAMBDA),
                  "Diffusion-DPO with the loser's gradient scaled down so the winner's error cannot rise",
                  "Fu et al., Diffusion-SDPO: Safeguarded Direct Preference Optimization for Diffusion Models, "
                  "arXiv 2511.03317, 2025", 2.5e-7, false},
    [OBJ_DSPO] = {"dspo", ROWS_PAIRS, 2, true, true, false, -1, HYPER(OBJ_HYPER_BETA_DSPO),
                  METRICS_PREF | METRICS_REF,
                  "Direct Score Preference Optimization: the winner's denoising loss with a target moved away "
                  "from the frozen model's prediction by beta sigma(-z)",
                  "Zhu, Xiao, Honavar, DSPO: Direct Score Preference Optimization for Diffusion Model Alignment, "
                  "ICLR 2025", 2.5e-7, true},
};

#define H(key, field, def, zero, help) {key, offsetof(ObjectiveHyper, field), def, zero, INFINITY, NULL, help}
const ObjHyperSpec OBJ_HYPERS[OBJ_HYPER_COUNT] = {
    [OBJ_HYPER_BETA_DPO] = H("beta_dpo", beta_dpo, 5000, false,
                             "dpo/tdpo/dpo_hinge/dpo_ipo/sdpo beta, official half convention: z = -beta/2 ((e_w - e_l) "
                             "- (r_w - r_l))"),
    [OBJ_HYPER_BETA_MAPO] = H("beta_mapo", beta_mapo, 0.1, false, "mapo beta (weight of the margin term)"),
    [OBJ_HYPER_MAPO_SNR] = H("mapo_snr", mapo_snr, 0.5, false, "mapo constant s in f(e) = s e / expm1(s e)"),
    [OBJ_HYPER_BETA_KTO] = H("beta_kto", beta_kto, 1000, false, "kto/tkto beta"),
    [OBJ_HYPER_KTO_LAMBDA_DESIRABLE] = H("kto_lambda_desirable", kto_lambda_desirable, 1, true,
                                         "kto/tkto weight of desirable samples"),
    [OBJ_HYPER_KTO_LAMBDA_UNDESIRABLE] = H("kto_lambda_undesirable", kto_lambda_undesirable, 1, true,
                                           "kto/tkto weight of undesirable samples"),
    [OBJ_HYPER_LOSS_TYPE] = {"loss_type", offsetof(ObjectiveHyper, loss_type), DPO_LOSS_SIGMOID, true,
                             DPO_LOSS_COUNT - 1, "sigmoid|hinge|ipo",
                             "dpo/tdpo loss of z: sigmoid (-log sigma(z)), hinge (relu(1 - z)) or ipo "
                             "((z/beta - 1/(2 beta))^2), as diffusers' --loss_type"},
    [OBJ_HYPER_SDPO_MU] = {"sdpo_mu", offsetof(ObjectiveHyper, sdpo_mu), 0.9, true, 1.0, NULL,
                           "sdpo safety margin mu in [0, 1]: loser scale min(1, (1 - mu) sqrt(sum e_w / sum e_l))"},
    [OBJ_HYPER_BETA_DSPO] = H("beta_dspo", beta_dspo, 0.001, false,
                              "dspo beta, in both z = -beta/2 ((e_w - e_l) - (r_w - r_l)) and the score weight "
                              "beta sigma(-z)"),
    [OBJ_HYPER_MAPO_T] = H("mapo_t", mapo_t, 1000, false, "num_train_timesteps of the schedule"),
};

const ObjectiveInfo* objective_info(Objective obj) {
    if ((unsigned)obj >= OBJ_COUNT) die("objective: unknown objective %d", (int)obj);
    return &OBJECTIVES[obj];
}

const char* objective_name(Objective obj) { return objective_info(obj)->name; }

bool objective_parse(const char* name, Objective* out) {
    for (int i = 0; i < OBJ_COUNT; i++)
        if (name && strcmp(name, OBJECTIVES[i].name) == 0) {
            *out = (Objective)i;
            return true;
        }
    return false;
}

const char* objective_names_list(void) {
    static char list[256];
    if (!*list)
        for (int i = 0; i < OBJ_COUNT; i++) {
            size_t n = strlen(list);
            snprintf(list + n, sizeof list - n, "%s%s", i == 0 ? "" : i == OBJ_COUNT - 1 ? " or " : ", ",
                     OBJECTIVES[i].name);
        }
    return list;
}

RowLayout objective_row_layout(Objective obj) { return objective_info(obj)->layout; }

float* objective_hyper_field(ObjectiveHyper* h, ObjHyperKey k) {
    if ((unsigned)k >= OBJ_HYPER_COUNT) die("objective: unknown hyper-parameter %d", (int)k);
    return (float*)((char*)h + OBJ_HYPERS[k].field);
}

ObjectiveHyper objective_hyper_default(void) {
    ObjectiveHyper h;
    for (int k = 0; k < OBJ_HYPER_COUNT; k++) *objective_hyper_field(&h, (ObjHyperKey)k) = (float)OBJ_HYPERS[k].def;
    return h;
}

int objective_hyper_check(Objective obj, const ObjectiveHyper* h, char* err, size_t errlen) {
    const ObjectiveInfo* o = objective_info(obj);
    for (int k = 0; k < OBJ_HYPER_COUNT; k++) {
        if (!(o->hypers & HYPER(k))) continue;
        const ObjHyperSpec* s = &OBJ_HYPERS[k];
        float v = *(const float*)((const char*)h + s->field);
        if (!isfinite(v) || v < 0 || (!s->zero_allowed && v == 0))
            return fail(err, errlen, "%s: %s must be %s 0 (got %g)", o->name, s->key, s->zero_allowed ? ">=" : ">", v);
        if (v > s->max) return fail(err, errlen, "%s: %s must be <= %g (got %g)", o->name, s->key, s->max, v);
        if (s->choices && v != floorf(v))
            return fail(err, errlen, "%s: %s must be the index of one of %s (got %g)", o->name, s->key, s->choices, v);
    }
    return 0;
}

// The first hyper-parameter an objective reads is its beta; -1 when it reads none.
static int beta_index(Objective obj) {
    const ObjectiveInfo* o = objective_info(obj);
    for (int k = 0; k < OBJ_HYPER_COUNT; k++)
        if (o->hypers & HYPER(k)) return k;
    return -1;
}

float objective_beta(Objective obj, const ObjectiveHyper* h) {
    int k = beta_index(obj);
    return k < 0 ? 1.0f : *(const float*)((const char*)h + OBJ_HYPERS[k].field);
}

const char* objective_beta_key(Objective obj) {
    int k = beta_index(obj);
    return k < 0 ? NULL : OBJ_HYPERS[k].key;
}

int objective_rows_per_item(Objective obj) { return objective_info(obj)->rows_per_item; }
bool objective_needs_reference(Objective obj) { return objective_info(obj)->needs_reference; }
bool objective_needs_signs(Objective obj) { return objective_info(obj)->needs_signs; }
bool objective_needs_ref_dist(Objective obj) { return objective_info(obj)->needs_ref_dist; }

bool objective_uses_batch_statistic(Objective obj) { return obj == OBJ_KTO || obj == OBJ_TKTO || obj == OBJ_SDPO; }

// The objectives that read beta_dpo are exactly those built on Diffusion-DPO's logit.
bool objective_is_dpo_family(Objective obj) { return (objective_info(obj)->hypers & HYPER(OBJ_HYPER_BETA_DPO)) != 0; }

DpoLoss objective_dpo_loss(Objective obj, const ObjectiveHyper* h) {
    const ObjectiveInfo* o = objective_info(obj);
    if (o->dpo_loss >= 0) return (DpoLoss)o->dpo_loss;
    if (!(o->hypers & HYPER(OBJ_HYPER_LOSS_TYPE))) return DPO_LOSS_SIGMOID;
    float v = h->loss_type;
    if (!(v >= 0 && v < DPO_LOSS_COUNT && v == floorf(v))) die("objective: loss_type %g is not a DpoLoss", v);
    return (DpoLoss)(int)v;
}

const char* objective_dpo_loss_name(DpoLoss l) {
    static const char* const NAMES[DPO_LOSS_COUNT] = {"sigmoid", "hinge", "ipo"};
    if ((unsigned)l >= DPO_LOSS_COUNT) die("objective: unknown DpoLoss %d", (int)l);
    return NAMES[l];
}

int objective_hyper_parse_choice(ObjHyperKey k, const char* name, double* index, char* err, size_t errlen) {
    if ((unsigned)k >= OBJ_HYPER_COUNT || !OBJ_HYPERS[k].choices) die("objective: hyper-parameter %d has no choices", (int)k);
    const char* c = OBJ_HYPERS[k].choices;
    size_t n = name ? strlen(name) : 0;
    for (int i = 0; *c; i++) {
        const char* bar = strchr(c, '|');
        size_t len = bar ? (size_t)(bar - c) : strlen(c);
        if (n && len == n && !strncmp(c, name, n)) {
            *index = i;
            return 0;
        }
        c += len + (bar != NULL);
    }
    return fail(err, errlen, "--%s %s: use one of %s", OBJ_HYPERS[k].key, name ? name : "(none)", OBJ_HYPERS[k].choices);
}

void objective_tkto_signs(float* signs, int64_t pairs) {
    for (int64_t i = 0; i < pairs; i++) signs[i] = 1.0f, signs[pairs + i] = -1.0f;
}

// ---------------------------------------------------------------------------

static const char* const METRIC_NAMES[OBJ_METRICS_COUNT] = {
    [OBJ_METRIC_LOSS] = "loss",
    [OBJ_METRIC_IMPLICIT_ACC] = "implicit_acc",
    [OBJ_METRIC_REWARD_MARGIN] = "reward_margin",
    [OBJ_METRIC_POLICY_MSE] = "policy_mse",
    [OBJ_METRIC_REF_MSE] = "ref_mse",
    [OBJ_METRIC_WIN_DRIFT] = "win_drift",
    [OBJ_METRIC_LOSE_DRIFT] = "lose_drift",
    [OBJ_METRIC_MAPO_WIN_SCORE] = "mapo_win_score",
    [OBJ_METRIC_MAPO_LOSE_SCORE] = "mapo_lose_score",
    [OBJ_METRIC_KTO_Z] = "kto_z",
    [OBJ_METRIC_MEAN_SIGMA] = "mean_sigma",
    [OBJ_METRIC_WIN_MSE] = "win_mse",
    [OBJ_METRIC_LOSE_MSE] = "lose_mse",
    [OBJ_METRIC_DESIRABLE_FRAC] = "desirable_frac",
    [OBJ_METRIC_MEAN_ABS_COEF] = "mean_abs_coef",
    [OBJ_METRIC_SDPO_LAMBDA] = "sdpo_lambda",
};

const char* objective_metric_name(ObjMetric m) {
    if ((unsigned)m >= OBJ_METRICS_COUNT) die("objective: unknown metric %d", (int)m);
    return METRIC_NAMES[m];
}

bool objective_metric_used(Objective obj, ObjMetric m) {
    if ((unsigned)m >= OBJ_METRICS_COUNT) die("objective: unknown metric %d", (int)m);
    return (objective_info(obj)->metrics & METRIC(m)) != 0;
}
