// ref_objective.c: the objectives, their gradient coefficients and metrics, in
// double (see ref_objective.h). Written per objective, straight from the losses of
// docs/OBJECTIVES.md and their analytic derivatives.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ref/ref.h"
#include "util/check.h"

double ref_sigmoid(double u) { return u >= 0 ? 1.0 / (1.0 + exp(-u)) : exp(u) / (1.0 + exp(u)); }
double ref_softplus(double u) { return fmax(u, 0.0) + log1p(exp(-fabs(u))); }
double ref_log_sigmoid(double u) { return fmin(u, 0.0) - log1p(exp(-fabs(u))); }

double ref_mapo_f(double s, double e) {
    double a = s * e;
    if (fabs(a) < 1e-4) return 1.0 - a / 2.0 + a * a / 12.0;
    return a / expm1(a);
}

// d/de [a / expm1(a)] = s (expm1(a) - a e^a) / expm1(a)^2, written as
// s (1 - a - a/m) / m with m = expm1(a) (the same value; no overflow of e^a or
// m^2 for large a). Series near 0: s (-1/2 + a/6).
double ref_mapo_df(double s, double e) {
    double a = s * e;
    if (fabs(a) < 1e-4) return s * (-0.5 + a / 6.0);
    double m = expm1(a);
    return s * (1.0 - a - a / m) / m;
}

double ref_kto_reference_point(int64_t rows, const double* e, const double* r) {
    double sum = 0;
    for (int64_t i = 0; i < rows; i++) sum += r[i] - e[i];
    return fmax(0.0, sum / (double)rows);
}

// Per-item quantities shared by the loss, the gradient and the metrics.
static double dpo_z(double beta, double ew, double el, double rw, double rl) {
    return -0.5 * beta * ((ew - el) - (rw - rl));
}
// The loss of one pair's logit z under loss type l, and dL/dz. ipo: h = z / beta,
// written from d = (e_w - e_l) - (r_w - r_l) as h = -d/2 (no division by beta).
static double dpo_pair_loss(DpoLoss l, double beta, double d, double* dldz) {
    double z = -0.5 * beta * d;
    switch (l) {
    case DPO_LOSS_HINGE:
        if (dldz) *dldz = z < 1 ? -1.0 : 0.0;
        return fmax(1.0 - z, 0.0);
    case DPO_LOSS_IPO: {
        double q = -0.5 * d - 0.5 / beta;  // h - 1/(2 beta)
        if (dldz) *dldz = 2.0 * q / beta;  // dh/dz = 1/beta
        return q * q;
    }
    case DPO_LOSS_SIGMOID: break;
    }
    if (dldz) *dldz = -ref_sigmoid(-z);
    return -ref_log_sigmoid(z);
}

double ref_sdpo_lambda(double mu, int64_t pairs, const double* e) {
    double sw = 0, sl = 0;
    for (int64_t k = 0; k < pairs; k++) sw += e[k], sl += e[pairs + k];
    if (!(sw > 0 && sl > 0)) return 1.0;
    return fmin(1.0, (1.0 - mu) * sqrt(sw / sl));
}

static double mapo_v(const ObjectiveHyper* h, double ew, double el) {
    return h->mapo_t * (ref_mapo_f(h->mapo_snr, ew) - ref_mapo_f(h->mapo_snr, el));
}
static double kto_sign(const double* signs, int64_t i) { return signs[i] > 0 ? 1.0 : -1.0; }
static double kto_lambda(const ObjectiveHyper* h, double s) {
    return s > 0 ? h->kto_lambda_desirable : h->kto_lambda_undesirable;
}

static void check_inputs(const char* fn, Objective obj, int64_t n_items, const double* r, const double* q,
                         const double* signs) {
    if ((unsigned)obj >= OBJ_COUNT) die("%s: unknown objective %d", fn, (int)obj);
    if (n_items < 1) die("%s: n_items = %lld", fn, (long long)n_items);
    if (objective_needs_reference(obj) && !r) die("%s: %s needs r", fn, objective_name(obj));
    if (objective_needs_ref_dist(obj) && !q) die("%s: %s needs q", fn, objective_name(obj));
    if (objective_needs_signs(obj) && !signs) die("%s: %s needs signs", fn, objective_name(obj));
}

// DSPO's score weight c = beta sigma(-z) of one pair.
static double dspo_c(double beta, double ew, double el, double rw, double rl) {
    return beta * ref_sigmoid(-dpo_z(beta, ew, el, rw, rl));
}

double ref_objective_loss(Objective obj, const ObjectiveHyper* h, int64_t n_items, const double* e, const double* r,
                          const double* q, const double* signs, const double* kto_z) {
    check_inputs("ref_objective_loss", obj, n_items, r, q, signs);
    int64_t B = n_items, rows = B * objective_rows_per_item(obj);
    double sum = 0;
    switch (obj) {
    case OBJ_SFT:  // mean_i e_i
        for (int64_t i = 0; i < B; i++) sum += e[i];
        return sum / (double)B;
    case OBJ_DPO:
    case OBJ_TDPO:
    case OBJ_DPO_HINGE:
    case OBJ_DPO_IPO:
    case OBJ_SDPO: {  // mean_i loss(z_i); sdpo's lambda changes the gradient only
        DpoLoss l = objective_dpo_loss(obj, h);
        for (int64_t k = 0; k < B; k++) {
            double d = (e[k] - e[B + k]) - (r[k] - r[B + k]);
            sum += l == DPO_LOSS_SIGMOID ? -ref_log_sigmoid(dpo_z(h->beta_dpo, e[k], e[B + k], r[k], r[B + k]))
                                         : dpo_pair_loss(l, h->beta_dpo, d, NULL);
        }
        return sum / (double)B;
    }
    case OBJ_DSPO:  // mean of the winners' |(pred - eps) - c (pred - pred_ref)|^2, expanded with
                    // mean (pred - eps)(pred - pred_ref) = (e_w - r_w + q_w) / 2
        for (int64_t k = 0; k < B; k++) {
            double c = dspo_c(h->beta_dspo, e[k], e[B + k], r[k], r[B + k]);
            sum += e[k] - c * (e[k] - r[k] + q[k]) + c * c * q[k];
        }
        return sum / (double)B;
    case OBJ_MAPO: {  // mean e_w - beta mean log sigma(T (f(e_w) - f(e_l)))
        double sft = 0, ratio = 0;
        for (int64_t k = 0; k < B; k++) {
            sft += e[k];
            ratio += ref_log_sigmoid(mapo_v(h, e[k], e[B + k]));
        }
        return sft / (double)B - h->beta_mapo * ratio / (double)B;
    }
    case OBJ_KTO:
    case OBJ_TKTO: {  // mean_i lambda_i (1 - sigma(u_i)), u_i = s_i beta (rho_i - z)
        double z = kto_z ? *kto_z : ref_kto_reference_point(rows, e, r);
        for (int64_t i = 0; i < rows; i++) {
            double s = kto_sign(signs, i), u = s * h->beta_kto * ((r[i] - e[i]) - z);
            sum += kto_lambda(h, s) * ref_sigmoid(-u);  // 1 - sigma(u) without cancellation
        }
        return sum / (double)rows;
    }
    }
    return 0;
}

// 1 if a > 0, 1/2 on a tie.
static double ranked(double a) { return a > 0 ? 1.0 : a == 0 ? 0.5 : 0.0; }

// One pair's share of the metrics every DPO-family objective logs (B pairs, 2B rows).
static void add_pair_metrics(double* m, int64_t B, double z, double ew, double el, double rw, double rl) {
    m[OBJ_METRIC_IMPLICIT_ACC] += ranked(z) / (double)B;
    m[OBJ_METRIC_REWARD_MARGIN] += z / (double)B;
    m[OBJ_METRIC_MEAN_SIGMA] += ref_sigmoid(-z) / (double)B;
    m[OBJ_METRIC_POLICY_MSE] += (ew + el) / (double)(2 * B);
    m[OBJ_METRIC_REF_MSE] += (rw + rl) / (double)(2 * B);
    m[OBJ_METRIC_WIN_DRIFT] += (ew - rw) / (double)B;
    m[OBJ_METRIC_LOSE_DRIFT] += (el - rl) / (double)B;
    m[OBJ_METRIC_WIN_MSE] += ew / (double)B;
    m[OBJ_METRIC_LOSE_MSE] += el / (double)B;
}

void ref_objective(Objective obj, const ObjectiveHyper* h, int64_t n_items, const double* e, const double* r,
                   const double* q, const double* signs, double* loss, double* g, double* gq, double* metrics) {
    check_inputs("ref_objective", obj, n_items, r, q, signs);
    int64_t B = n_items, rows = B * objective_rows_per_item(obj);
    double* gb = xmalloc((size_t)rows * sizeof *gb);
    double* gqb = xcalloc((size_t)rows, sizeof *gqb);
    double m[OBJ_METRICS_COUNT];
    memset(m, 0, sizeof m);
    double z_kto = 0;

    switch (obj) {
    case OBJ_SFT:
        for (int64_t i = 0; i < B; i++) {
            gb[i] = 1.0 / (double)B;
            m[OBJ_METRIC_POLICY_MSE] += e[i] / (double)B;
        }
        m[OBJ_METRIC_WIN_MSE] = m[OBJ_METRIC_POLICY_MSE];
        break;
    case OBJ_DPO:
    case OBJ_TDPO:
    case OBJ_DPO_HINGE:
    case OBJ_DPO_IPO:
    case OBJ_SDPO: {
        DpoLoss l = objective_dpo_loss(obj, h);
        double lambda = obj == OBJ_SDPO ? ref_sdpo_lambda(h->sdpo_mu, B, e) : 1.0;
        if (obj == OBJ_SDPO) m[OBJ_METRIC_SDPO_LAMBDA] = lambda;
        for (int64_t k = 0; k < B; k++) {
            double ew = e[k], el = e[B + k], rw = r[k], rl = r[B + k];
            double z = dpo_z(h->beta_dpo, ew, el, rw, rl), dldz;
            dpo_pair_loss(l, h->beta_dpo, (ew - el) - (rw - rl), &dldz);
            // dz/de_w = -beta/2, dz/de_l = +beta/2
            gb[k] = -0.5 * h->beta_dpo * dldz / (double)B;
            gb[B + k] = lambda * 0.5 * h->beta_dpo * dldz / (double)B;
            add_pair_metrics(m, B, z, ew, el, rw, rl);
        }
        break;
    }
    case OBJ_DSPO:
        for (int64_t k = 0; k < B; k++) {
            double ew = e[k], el = e[B + k], rw = r[k], rl = r[B + k], qw = q[k], beta = h->beta_dspo;
            double z = dpo_z(beta, ew, el, rw, rl), c = dspo_c(beta, ew, el, rw, rl);
            // L_k = e_w - c P + c^2 q_w, P = e_w - r_w + q_w; dL/dc = 2 c q_w - P,
            // dc/dz = -c sigma(z), dz/de_w = -beta/2 = -dz/de_l.
            double through_c = (2.0 * c * qw - (ew - rw + qw)) * c * ref_sigmoid(z) * 0.5 * beta;
            gb[k] = (1.0 - c + through_c) / (double)B;
            gb[B + k] = -through_c / (double)B;
            gqb[k] = (c * c - c) / (double)B;
            add_pair_metrics(m, B, z, ew, el, rw, rl);
        }
        break;
    case OBJ_MAPO:
        for (int64_t k = 0; k < B; k++) {
            double ew = e[k], el = e[B + k], s = h->mapo_snr, T = h->mapo_t, beta = h->beta_mapo;
            double v = mapo_v(h, ew, el), sg = ref_sigmoid(-v);
            gb[k] = 1.0 / (double)B - (beta / (double)B) * sg * T * ref_mapo_df(s, ew);
            gb[B + k] = +(beta / (double)B) * sg * T * ref_mapo_df(s, el);
            m[OBJ_METRIC_IMPLICIT_ACC] += ranked(v) / (double)B;
            m[OBJ_METRIC_REWARD_MARGIN] += v / (double)B;
            m[OBJ_METRIC_MEAN_SIGMA] += sg / (double)B;
            m[OBJ_METRIC_POLICY_MSE] += (ew + el) / (double)rows;
            m[OBJ_METRIC_WIN_MSE] += ew / (double)B;
            m[OBJ_METRIC_LOSE_MSE] += el / (double)B;
            m[OBJ_METRIC_MAPO_WIN_SCORE] += ref_mapo_f(s, ew) / (double)B;
            m[OBJ_METRIC_MAPO_LOSE_SCORE] += ref_mapo_f(s, el) / (double)B;
        }
        break;
    case OBJ_KTO:
    case OBJ_TKTO: {
        z_kto = ref_kto_reference_point(rows, e, r);
        double npos = 0, nneg = 0;
        for (int64_t i = 0; i < rows; i++) npos += signs[i] > 0, nneg += !(signs[i] > 0);
        for (int64_t i = 0; i < rows; i++) {
            double s = kto_sign(signs, i), lambda = kto_lambda(h, s);
            double u = s * h->beta_kto * ((r[i] - e[i]) - z_kto);
            gb[i] = lambda * s * h->beta_kto * ref_sigmoid(u) * ref_sigmoid(-u) / (double)rows;
            m[OBJ_METRIC_IMPLICIT_ACC] += ranked(u) / (double)rows;
            m[OBJ_METRIC_REWARD_MARGIN] += u / (double)rows;
            m[OBJ_METRIC_MEAN_SIGMA] += ref_sigmoid(-u) / (double)rows;
            m[OBJ_METRIC_POLICY_MSE] += e[i] / (double)rows;
            m[OBJ_METRIC_REF_MSE] += r[i] / (double)rows;
            if (s > 0) {
                m[OBJ_METRIC_WIN_DRIFT] += (e[i] - r[i]) / npos;
                m[OBJ_METRIC_WIN_MSE] += e[i] / npos;
            } else {
                m[OBJ_METRIC_LOSE_DRIFT] += (e[i] - r[i]) / nneg;
                m[OBJ_METRIC_LOSE_MSE] += e[i] / nneg;
            }
        }
        m[OBJ_METRIC_KTO_Z] = z_kto;
        m[OBJ_METRIC_DESIRABLE_FRAC] = npos / (double)rows;
        break;
    }
    }

    double L = ref_objective_loss(obj, h, n_items, e, r, q, signs, NULL);
    m[OBJ_METRIC_LOSS] = L;
    for (int64_t i = 0; i < rows; i++) m[OBJ_METRIC_MEAN_ABS_COEF] += fabs(gb[i]) / (double)rows;
    if (loss) *loss = L;
    if (g) memcpy(g, gb, (size_t)rows * sizeof *g);
    if (gq) memcpy(gq, gqb, (size_t)rows * sizeof *gq);
    if (metrics) memcpy(metrics, m, sizeof m);
    free(gb), free(gqb);
}
