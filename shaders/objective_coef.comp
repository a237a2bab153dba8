#version 450
#include "common.glsl"
#include "reduce.glsl"
#include "objective.glsl"
// objective_coef: per-sample errors -> coef[n] = coef_scale * dLoss/de[n] and the
// metrics vector, for the objective OBJECTIVE (docs/OBJECTIVES.md;
// src/objective/objective.h has the row layouts and the metric definitions).
//   e [rows] policy per-sample MSE; r [rows] reference MSE (bound to e when the
//   objective has no reference; never read then); s [rows] signs (kto/tkto:
//   > 0 desirable, else undesirable; bound to e otherwise);
//   coef [rows] (overwritten); metrics [OBJ_METRICS_COUNT] (overwritten);
//   q [rows] dspo: mean (pred - pred_ref)^2 per row (bound to e otherwise);
//   coef_q [rows] dspo: coef_scale * dLoss/dq (overwritten; bound to coef otherwise, never written).
// Units: the loop runs over `units` = pairs (PAIRWISE: row k is the winner,
//   row k + units the loser) or rows (sft/kto/tkto).
//   sft        g = 1/B
//   dpo/tdpo   z = -beta/2 ((e_w - e_l) - (r_w - r_l)), by the loss type (p.dpo_loss):
//     sigmoid  L = mean softplus(-z),          g_w = +beta/2 sigma(-z) / B, g_l = -g_w
//     hinge    L = mean relu(1 - z),           g_w = +beta/2 [z < 1] / B,   g_l = -g_w
//     ipo      h = z / beta = -((e_w - e_l) - (r_w - r_l)) / 2, L = mean (h - 1/(2 beta))^2,
//              g_w = -(h - 1/(2 beta)) / B, g_l = -g_w
//   dpo_hinge, dpo_ipo: dpo with the loss type fixed (the op passes it).
//   sdpo       dpo (sigmoid) with g_l multiplied by lambda = min(1, (1 - mu) sqrt(S_w / S_l)),
//              S_w = sum e_w, S_l = sum e_l over the micro-batch; lambda = 1 if S_w or S_l is 0
//   dspo       z as dpo (beta = beta_dspo), c = beta sigma(-z), P = e_w - r_w + q_w,
//              L = mean (e_w - c P + c^2 q_w) (= mean of the winners' |(pred - eps) - c (pred - pred_ref)|^2),
//              A = (2 c q_w - P) c sigma(z) beta/2 (the terms through c),
//              g_w = (1 - c + A) / B, g_l = -A / B, gq_w = (c^2 - c) / B, gq_l = 0
//   mapo       v = T (f(e_w) - f(e_l)), L = mean e_w + beta mean softplus(-v),
//              g_w = (1 - beta sigma(-v) T f'(e_w)) / B, g_l = beta sigma(-v) T f'(e_l) / B
//   kto/tkto   rho = r - e, z = max(0, mean rho), u = s beta (rho - z),
//              L = mean lambda sigma(-u), g = lambda s beta sigma(u) sigma(-u) / rows
// Mapping: ONE workgroup (rows are a few hundred at most). reduce_block()'s modes
//   of reduce.glsl with REDUCE_STEP lanes: lane j takes units j, j + STEP, ...;
//   kto first reduces sum(rho) over all lanes (z needs the whole batch), sdpo
//   sum(e_w) and sum(e_l) (lambda needs them), then
//   every lane writes its coefs and the metric sums are reduced (fixed order:
//   deterministic); lane 0 writes the metrics.
// Spec constants: 0..2 workgroup size (WG, 1, 1); 3 REDUCE_MODE (SUBGROUP or
//   WORKGROUP); 4 OBJECTIVE (enum Objective; the other objectives compile out).
layout(constant_id = 4) const uint OBJECTIVE = 0;

layout(binding = 0) readonly buffer E { float e[]; };
layout(binding = 1) readonly buffer R { float r[]; };
layout(binding = 2) readonly buffer S { float sgn[]; };
layout(binding = 3) writeonly buffer COEF { float coef[]; };
layout(binding = 4) writeonly buffer METRICS { float metrics[]; };
layout(binding = 5) readonly buffer Q { float q[]; };
layout(binding = 6) writeonly buffer COEF_Q { float coef_q[]; };
layout(push_constant) uniform P {
    uint rows, units;
    uint off_e, off_r, off_s, off_coef, off_metrics;  // elements from each binding's start
    float inv_rows, inv_units;
    float beta;        // beta_dpo, beta_mapo or beta_kto
    float mapo_s, mapo_t;
    float lambda_d, lambda_u;
    float coef_scale;  // multiplies coef only (e.g. 1/K for K accumulated micro-batches)
    uint dpo_loss;     // DPO_LOSS_* (dpo family)
    float sdpo_mu;
    uint off_q, off_coef_q;
} p;

const bool SDPO = OBJECTIVE == OBJ_SDPO;
const bool DSPO = OBJECTIVE == OBJ_DSPO;
const bool PAIRWISE = OBJECTIVE == OBJ_DPO || OBJECTIVE == OBJ_TDPO || OBJECTIVE == OBJ_MAPO ||
                      OBJECTIVE == OBJ_DPO_HINGE || OBJECTIVE == OBJ_DPO_IPO || SDPO || DSPO;
const bool KTO = OBJECTIVE == OBJ_KTO || OBJECTIVE == OBJ_TKTO;

float E_(uint i) { return e[p.off_e + i]; }
float R_(uint i) { return r[p.off_r + i]; }

// 1 if a > 0, 1/2 on a tie, 0 otherwise.
float ranked(float a) { return a > 0.0 ? 1.0 : (a == 0.0 ? 0.5 : 0.0); }

void main() {
    uint lane = reduce_lane();

    // KTO's reference point: the batch mean of rho = r - e, clamped at 0, detached.
    float z = 0.0;
    if (KTO) {
        float s = 0.0;
        for (uint i = lane; i < p.rows; i += REDUCE_STEP) s += R_(i) - E_(i);
        z = max(0.0, reduce_sum(s) * p.inv_rows);
    }

    // SDPO's scale of the losers' coefficients (detached): the sums of the winners'
    // and the losers' errors over the micro-batch.
    float lambda_l = 1.0;
    if (SDPO) {
        float sw = 0.0, sl = 0.0;
        for (uint k = lane; k < p.units; k += REDUCE_STEP) sw += E_(k), sl += E_(k + p.units);
        sw = reduce_sum(sw);
        sl = reduce_sum(sl);
        if (sw > 0.0 && sl > 0.0) lambda_l = min(1.0, (1.0 - p.sdpo_mu) * sqrt(sw / sl));
    }

    float m[OBJ_METRICS_COUNT];
    [[unroll]] for (int j = 0; j < OBJ_METRICS_COUNT; j++) m[j] = 0.0;

    for (uint k = lane; k < p.units; k += REDUCE_STEP) {
        if (OBJECTIVE == OBJ_SFT) {
            float ek = E_(k);
            coef[p.off_coef + k] = p.coef_scale * p.inv_units;
            m[OBJ_METRIC_LOSS] += ek;
            m[OBJ_METRIC_POLICY_MSE] += ek;
            m[OBJ_METRIC_WIN_MSE] += ek;
            m[OBJ_METRIC_MEAN_ABS_COEF] += p.inv_units;
        } else if (PAIRWISE) {
            uint l = k + p.units;
            float ew = E_(k), el = E_(l);
            float a, gw, gl, sg, loss;
            if (OBJECTIVE == OBJ_MAPO) {
                float aw = p.mapo_s * ew, al = p.mapo_s * el;
                a = p.mapo_t * obj_mapo_delta(p.mapo_s, ew, el);
                sg = obj_sigmoid(-a);
                float w = p.beta * sg * p.mapo_t * p.mapo_s;  // beta sigma(-v) T, times s for df/de
                gw = (1.0 - w * obj_mapo_df(aw)) * p.inv_units;
                gl = w * obj_mapo_df(al) * p.inv_units;
                loss = ew + p.beta * obj_softplus(-a);
                m[OBJ_METRIC_MAPO_WIN_SCORE] += obj_mapo_f(aw);
                m[OBJ_METRIC_MAPO_LOSE_SCORE] += obj_mapo_f(al);
            } else {
                float rw = R_(k), rl = R_(l);
                precise float d = (ew - el) - (rw - rl);
                a = -0.5 * p.beta * d;
                sg = obj_sigmoid(-a);
                if (DSPO) {
                    float qw = q[p.off_q + k], c = p.beta * sg;
                    precise float pw = (ew - rw) + qw;
                    float ac = (2.0 * c * qw - pw) * c * obj_sigmoid(a) * 0.5 * p.beta;
                    gw = (1.0 - c + ac) * p.inv_units;
                    gl = -ac * p.inv_units;
                    loss = ew - c * pw + c * c * qw;
                    coef_q[p.off_coef_q + k] = p.coef_scale * (c * c - c) * p.inv_units;
                    coef_q[p.off_coef_q + l] = 0.0;
                } else if (p.dpo_loss == DPO_LOSS_HINGE) {
                    gw = a < 1.0 ? 0.5 * p.beta * p.inv_units : 0.0;
                    loss = max(1.0 - a, 0.0);
                } else if (p.dpo_loss == DPO_LOSS_IPO) {
                    float q = -0.5 * d - 0.5 / p.beta;  // h - 1/(2 beta)
                    gw = -q * p.inv_units;
                    loss = q * q;
                } else {
                    gw = 0.5 * p.beta * sg * p.inv_units;
                    loss = obj_softplus(-a);
                }
                if (!DSPO) gl = SDPO ? -gw * lambda_l : -gw;
                m[OBJ_METRIC_REF_MSE] += rw + rl;
                m[OBJ_METRIC_WIN_DRIFT] += ew - rw;
                m[OBJ_METRIC_LOSE_DRIFT] += el - rl;
            }
            coef[p.off_coef + k] = p.coef_scale * gw;
            coef[p.off_coef + l] = p.coef_scale * gl;
            m[OBJ_METRIC_LOSS] += loss;
            m[OBJ_METRIC_IMPLICIT_ACC] += ranked(a);
            m[OBJ_METRIC_REWARD_MARGIN] += a;
            m[OBJ_METRIC_MEAN_SIGMA] += sg;
            m[OBJ_METRIC_POLICY_MSE] += ew + el;
            m[OBJ_METRIC_WIN_MSE] += ew;
            m[OBJ_METRIC_LOSE_MSE] += el;
            m[OBJ_METRIC_MEAN_ABS_COEF] += abs(gw) + abs(gl);
        } else if (KTO) {
            float ek = E_(k), rk = R_(k);
            bool desirable = sgn[p.off_s + k] > 0.0;
            float s = desirable ? 1.0 : -1.0, lambda = desirable ? p.lambda_d : p.lambda_u;
            precise float rho_z = (rk - ek) - z;
            float u = s * p.beta * rho_z;
            float sp = obj_sigmoid(u), sn = obj_sigmoid(-u);
            float g = lambda * s * p.beta * sp * sn * p.inv_units;
            coef[p.off_coef + k] = p.coef_scale * g;
            m[OBJ_METRIC_LOSS] += lambda * sn;
            m[OBJ_METRIC_IMPLICIT_ACC] += ranked(u);
            m[OBJ_METRIC_REWARD_MARGIN] += u;
            m[OBJ_METRIC_MEAN_SIGMA] += sn;
            m[OBJ_METRIC_POLICY_MSE] += ek;
            m[OBJ_METRIC_REF_MSE] += rk;
            m[desirable ? OBJ_METRIC_WIN_DRIFT : OBJ_METRIC_LOSE_DRIFT] += ek - rk;
            m[desirable ? OBJ_METRIC_WIN_MSE : OBJ_METRIC_LOSE_MSE] += ek;
            m[OBJ_METRIC_DESIRABLE_FRAC] += desirable ? 1.0 : 0.0;
            m[OBJ_METRIC_MEAN_ABS_COEF] += abs(g);
        }
    }

    // Uniform control flow again: every lane takes part in every sum.
    [[unroll]] for (int j = 0; j < OBJ_METRICS_COUNT; j++) m[j] = reduce_sum(m[j]);
    if (lane != 0) return;

    // Sums -> means. Per unit (pair or row): loss, acc, margin, sigma; per row:
    // the MSEs, coefs and the desirable count; per half: the w/l means.
    float per_half = OBJECTIVE == OBJ_SFT ? p.inv_rows : p.inv_units;
    float win = per_half, lose = per_half;
    if (KTO) {
        float npos = m[OBJ_METRIC_DESIRABLE_FRAC], nneg = float(p.rows) - npos;
        win = npos > 0.0 ? 1.0 / npos : 0.0;
        lose = nneg > 0.0 ? 1.0 / nneg : 0.0;
    }
    float out_m[OBJ_METRICS_COUNT];
    out_m[OBJ_METRIC_LOSS] = m[OBJ_METRIC_LOSS] * p.inv_units;
    out_m[OBJ_METRIC_IMPLICIT_ACC] = m[OBJ_METRIC_IMPLICIT_ACC] * p.inv_units;
    out_m[OBJ_METRIC_REWARD_MARGIN] = m[OBJ_METRIC_REWARD_MARGIN] * p.inv_units;
    out_m[OBJ_METRIC_MEAN_SIGMA] = m[OBJ_METRIC_MEAN_SIGMA] * p.inv_units;
    out_m[OBJ_METRIC_POLICY_MSE] = m[OBJ_METRIC_POLICY_MSE] * p.inv_rows;
    out_m[OBJ_METRIC_REF_MSE] = m[OBJ_METRIC_REF_MSE] * p.inv_rows;
    out_m[OBJ_METRIC_MEAN_ABS_COEF] = m[OBJ_METRIC_MEAN_ABS_COEF] * p.inv_rows;
    out_m[OBJ_METRIC_DESIRABLE_FRAC] = m[OBJ_METRIC_DESIRABLE_FRAC] * p.inv_rows;
    out_m[OBJ_METRIC_WIN_DRIFT] = m[OBJ_METRIC_WIN_DRIFT] * win;
    out_m[OBJ_METRIC_WIN_MSE] = m[OBJ_METRIC_WIN_MSE] * win;
    out_m[OBJ_METRIC_LOSE_DRIFT] = m[OBJ_METRIC_LOSE_DRIFT] * lose;
    out_m[OBJ_METRIC_LOSE_MSE] = m[OBJ_METRIC_LOSE_MSE] * lose;
    out_m[OBJ_METRIC_MAPO_WIN_SCORE] = m[OBJ_METRIC_MAPO_WIN_SCORE] * p.inv_units;
    out_m[OBJ_METRIC_MAPO_LOSE_SCORE] = m[OBJ_METRIC_MAPO_LOSE_SCORE] * p.inv_units;
    out_m[OBJ_METRIC_KTO_Z] = z;
    out_m[OBJ_METRIC_SDPO_LAMBDA] = SDPO ? lambda_l : 0.0;
    [[unroll]] for (int j = 0; j < OBJ_METRICS_COUNT; j++) metrics[p.off_metrics + j] = out_m[j];
}
