// objective.c: see objective.h.
#include "train/objective.h"

#include <math.h>
#include <string.h>

#include "util/check.h"

static const char* const OBJ_NAMES[OBJ_COUNT] = {
    [OBJ_SFT] = "sft", [OBJ_DPO] = "dpo", [OBJ_MAPO] = "mapo", [OBJ_KTO] = "kto", [OBJ_TDPO] = "tdpo", [OBJ_TKTO] = "tkto",
};

static void check_objective(Objective obj) {
    if ((unsigned)obj >= OBJ_COUNT) die("objective: unknown objective %d", (int)obj);
}

const char* objective_name(Objective obj) {
    check_objective(obj);
    return OBJ_NAMES[obj];
}

bool objective_parse(const char* name, Objective* out) {
    for (int i = 0; i < OBJ_COUNT; i++)
        if (name && strcmp(name, OBJ_NAMES[i]) == 0) {
            *out = (Objective)i;
            return true;
        }
    return false;
}

ObjectiveHyper objective_hyper_default(void) {
    return (ObjectiveHyper){
        .beta_dpo = 5000.0f,
        .beta_mapo = 0.1f,
        .mapo_snr = 0.5f,
        .mapo_t = 1000.0f,
        .beta_kto = 1000.0f,
        .kto_lambda_desirable = 1.0f,
        .kto_lambda_undesirable = 1.0f,
    };
}

static bool positive(float x) { return isfinite(x) && x > 0; }

int objective_hyper_check(Objective obj, const ObjectiveHyper* h, char* err, size_t errlen) {
    check_objective(obj);
    const char* name = OBJ_NAMES[obj];
    switch (obj) {
    case OBJ_SFT: return 0;
    case OBJ_DPO:
    case OBJ_TDPO:
        if (!positive(h->beta_dpo)) return fail(err, errlen, "%s: beta_dpo must be > 0 (got %g)", name, h->beta_dpo);
        return 0;
    case OBJ_MAPO:
        if (!positive(h->beta_mapo)) return fail(err, errlen, "mapo: beta_mapo must be > 0 (got %g)", h->beta_mapo);
        if (!positive(h->mapo_snr)) return fail(err, errlen, "mapo: mapo_snr must be > 0 (got %g)", h->mapo_snr);
        if (!positive(h->mapo_t)) return fail(err, errlen, "mapo: mapo_t must be > 0 (got %g)", h->mapo_t);
        return 0;
    case OBJ_KTO:
    case OBJ_TKTO:
        if (!positive(h->beta_kto)) return fail(err, errlen, "%s: beta_kto must be > 0 (got %g)", name, h->beta_kto);
        if (!isfinite(h->kto_lambda_desirable) || h->kto_lambda_desirable < 0)
            return fail(err, errlen, "%s: kto_lambda_desirable must be >= 0 (got %g)", name, h->kto_lambda_desirable);
        if (!isfinite(h->kto_lambda_undesirable) || h->kto_lambda_undesirable < 0)
            return fail(err, errlen, "%s: kto_lambda_undesirable must be >= 0 (got %g)", name,
                        h->kto_lambda_undesirable);
        return 0;
    }
    return 0;
}

float objective_beta(Objective obj, const ObjectiveHyper* h) {
    check_objective(obj);
    switch (obj) {
    case OBJ_DPO:
    case OBJ_TDPO: return h->beta_dpo;
    case OBJ_MAPO: return h->beta_mapo;
    case OBJ_KTO:
    case OBJ_TKTO: return h->beta_kto;
    default: return 1.0f;
    }
}

int objective_rows_per_item(Objective obj) {
    check_objective(obj);
    return obj == OBJ_SFT || obj == OBJ_KTO ? 1 : 2;
}

bool objective_needs_reference(Objective obj) {
    check_objective(obj);
    return obj != OBJ_SFT && obj != OBJ_MAPO;
}

bool objective_needs_signs(Objective obj) {
    check_objective(obj);
    return obj == OBJ_KTO || obj == OBJ_TKTO;
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
};

const char* objective_metric_name(ObjMetric m) {
    if ((unsigned)m >= OBJ_METRICS_COUNT) die("objective: unknown metric %d", (int)m);
    return METRIC_NAMES[m];
}

bool objective_metric_used(Objective obj, ObjMetric m) {
    check_objective(obj);
    if ((unsigned)m >= OBJ_METRICS_COUNT) die("objective: unknown metric %d", (int)m);
    switch (m) {
    case OBJ_METRIC_LOSS:
    case OBJ_METRIC_POLICY_MSE:
    case OBJ_METRIC_WIN_MSE:
    case OBJ_METRIC_MEAN_ABS_COEF: return true;
    case OBJ_METRIC_IMPLICIT_ACC:
    case OBJ_METRIC_REWARD_MARGIN:
    case OBJ_METRIC_MEAN_SIGMA:
    case OBJ_METRIC_LOSE_MSE: return obj != OBJ_SFT;
    case OBJ_METRIC_REF_MSE:
    case OBJ_METRIC_WIN_DRIFT:
    case OBJ_METRIC_LOSE_DRIFT: return objective_needs_reference(obj);
    case OBJ_METRIC_MAPO_WIN_SCORE:
    case OBJ_METRIC_MAPO_LOSE_SCORE: return obj == OBJ_MAPO;
    case OBJ_METRIC_KTO_Z:
    case OBJ_METRIC_DESIRABLE_FRAC: return objective_needs_signs(obj);
    default: return false;
    }
}
