// test_op_objective.c: the preference objectives (objective/objective.h, op_objective,
// ref_objective): names and layout, loss types and sdpo's scale; the reference's analytic coefficients
// against central finite differences of the reference
// loss for every objective; shader coefficients and metrics against the reference
// on odd sizes (B = 1, 5, 33, 300), both reduction policies, slices, coef_scale
// and a replay with new inputs; extreme inputs (saturated logits, MaPO errors at
// 0 and overflowing, ties); sign sanity; bad shapes die.
#include <math.h>
#include <string.h>

#include "test_util.h"
#include "util/check.h"

static const Objective OBJS[] = {OBJ_SFT,  OBJ_DPO,       OBJ_MAPO,    OBJ_KTO,  OBJ_TDPO,
                                 OBJ_TKTO, OBJ_DPO_HINGE, OBJ_DPO_IPO, OBJ_SDPO, OBJ_DSPO};
#define NOBJS 10

// dpo and tdpo read loss_type: the cases below run them under each loss type.
typedef struct LossCase {
    Objective obj;
    DpoLoss loss;
} LossCase;
static const LossCase LOSS_CASES[] = {{OBJ_DPO, DPO_LOSS_HINGE}, {OBJ_DPO, DPO_LOSS_IPO},
                                      {OBJ_TDPO, DPO_LOSS_HINGE}, {OBJ_TDPO, DPO_LOSS_IPO}};
#define NLOSS_CASES 4

// Small betas keep the sigmoids away from saturation (every gradient term counts
// in the comparison); other lambdas, s and T than the defaults exercise those fields.
static ObjectiveHyper hyper_small(void) {
    return (ObjectiveHyper){.beta_dpo = 40, .beta_mapo = 0.3f, .mapo_snr = 1.3f, .mapo_t = 300,
                            .beta_kto = 25, .kto_lambda_desirable = 1.5f, .kto_lambda_undesirable = 0.7f,
                            .loss_type = DPO_LOSS_SIGMOID, .sdpo_mu = 0.3f, .beta_dspo = 30};
}

// One micro-batch in the layout of objective.h, values rounded to float (the GPU
// and the reference see the same inputs).
typedef struct Batch {
    Objective obj;
    int64_t B, rows;
    double *e, *r, *s;  // r, s NULL where the objective has none
    double* q;          // dspo's distance to the reference's prediction; NULL for the others
} Batch;

static double f32(double x) { return (double)(float)x; }

// A realistic difference between two per-sample errors: magnitude log-uniform in
// [1e-4, dmax], random sign.
static double diff(TestRng* g, double dmax) {
    double mag = 1e-4 * pow(dmax / 1e-4, rng_uniform(g, 0, 1));
    return rng_uniform(g, 0, 1) < 0.5 ? -mag : mag;
}

// Errors in [lo, hi); kto_bias shifts r - e (so KTO's z = max(0, mean) is > 0 or clamped).
static Batch make_batch(Objective obj, int64_t B, uint64_t seed, double lo, double hi, double dmax, double kto_bias) {
    TestRng g = rng_seed(seed);
    Batch b = {obj, B, B * objective_rows_per_item(obj), NULL, NULL, NULL, NULL};
    int64_t n = b.rows;
    b.e = xcalloc((size_t)n, sizeof(double));
    if (objective_needs_reference(obj)) b.r = xcalloc((size_t)n, sizeof(double));
    if (objective_needs_signs(obj)) b.s = xcalloc((size_t)n, sizeof(double));
    if (objective_rows_per_item(obj) == 2) {  // [w; l] pairs, or tkto's [matched; mismatched] rows of one image
        for (int64_t k = 0; k < B; k++) {
            double ew = rng_uniform(&g, lo, hi);
            b.e[k] = f32(ew);
            b.e[B + k] = f32(fmax(ew + diff(&g, dmax), 0.0));
        }
    } else {
        for (int64_t i = 0; i < n; i++) b.e[i] = f32(rng_uniform(&g, lo, hi));
    }
    if (b.r)
        for (int64_t i = 0; i < n; i++) b.r[i] = f32(fmax(b.e[i] + diff(&g, dmax) + kto_bias, 0.0));
    if (objective_needs_ref_dist(obj)) {  // q = mean (pred - pred_ref)^2 >= (sqrt e - sqrt r)^2 (triangle)
        b.q = xcalloc((size_t)n, sizeof(double));
        for (int64_t i = 0; i < n; i++) {
            double lo_q = pow(sqrt(b.e[i]) - sqrt(b.r[i]), 2);
            b.q[i] = f32(lo_q + fabs(diff(&g, dmax)));
        }
    }
    if (obj == OBJ_KTO) {
        for (int64_t i = 0; i < n; i++) b.s[i] = rng_uniform(&g, 0, 1) < 0.5 ? 1.0 : -1.0;
        b.s[0] = 1.0;
        if (n > 1) b.s[1] = -1.0;
    }
    if (obj == OBJ_TKTO)
        for (int64_t i = 0; i < n; i++) b.s[i] = i < B ? 1.0 : -1.0;
    return b;
}

static void free_batch(Batch* b) { free(b->e), free(b->r), free(b->s), free(b->q); }

// ---------------------------------------------------------------------------

Test(objective, names_defaults_and_layout) {
    for (int i = 0; i < NOBJS; i++) {
        Objective o = OBJS[i], back = OBJ_SFT;
        cr_assert(objective_parse(objective_name(o), &back) && back == o, "%s does not round-trip", objective_name(o));
    }
    Objective o = OBJ_DPO;
    cr_assert(!objective_parse("ipo", &o) && o == OBJ_DPO);
    cr_assert(!objective_parse("DPO", &o));
    cr_assert_eq(objective_rows_per_item(OBJ_SFT), 1);
    cr_assert_eq(objective_rows_per_item(OBJ_KTO), 1);
    cr_assert_eq(objective_rows_per_item(OBJ_DPO), 2);
    cr_assert_eq(objective_rows_per_item(OBJ_TDPO), 2);
    cr_assert_eq(objective_rows_per_item(OBJ_MAPO), 2);
    cr_assert_eq(objective_rows_per_item(OBJ_TKTO), 2);
    cr_assert(!objective_needs_reference(OBJ_SFT) && !objective_needs_reference(OBJ_MAPO));
    cr_assert(objective_needs_reference(OBJ_DPO) && objective_needs_reference(OBJ_TDPO));
    cr_assert(objective_needs_reference(OBJ_KTO) && objective_needs_reference(OBJ_TKTO));
    for (int i = 0; i < NOBJS; i++)
        cr_assert_eq(objective_needs_signs(OBJS[i]), OBJS[i] == OBJ_KTO || OBJS[i] == OBJ_TKTO);

    ObjectiveHyper h = objective_hyper_default();
    cr_assert(h.beta_dpo == 5000 && h.beta_mapo == 0.1f && h.mapo_snr == 0.5f && h.mapo_t == 1000);
    cr_assert(h.beta_kto == 1000 && h.kto_lambda_desirable == 1 && h.kto_lambda_undesirable == 1);
    cr_assert(objective_beta(OBJ_TDPO, &h) == 5000 && objective_beta(OBJ_TKTO, &h) == 1000);
    cr_assert(objective_beta(OBJ_MAPO, &h) == 0.1f);
    for (int i = 0; i < NOBJS; i++) cr_assert_eq(objective_hyper_check(OBJS[i], &h, NULL, 0), 0);
    char err[128];
    h.beta_dpo = -1;
    cr_assert_eq(objective_hyper_check(OBJ_DPO, &h, err, sizeof err), -1);
    cr_assert(strstr(err, "beta_dpo"), "%s", err);
    cr_assert_eq(objective_hyper_check(OBJ_MAPO, &h, NULL, 0), 0);  // mapo does not read beta_dpo
    h = objective_hyper_default();
    h.kto_lambda_undesirable = NAN;
    cr_assert_eq(objective_hyper_check(OBJ_TKTO, &h, err, sizeof err), -1);

    for (int m = 0; m < OBJ_METRICS_COUNT; m++) {
        cr_assert(objective_metric_name((ObjMetric)m) && *objective_metric_name((ObjMetric)m));
        for (int k = 0; k < m; k++)
            cr_assert(strcmp(objective_metric_name((ObjMetric)m), objective_metric_name((ObjMetric)k)),
                      "metric names %d and %d collide", m, k);
    }
    cr_assert_str_eq(objective_metric_name(OBJ_METRIC_LOSS), "loss");
    cr_assert(objective_metric_used(OBJ_MAPO, OBJ_METRIC_MAPO_WIN_SCORE));
    cr_assert(!objective_metric_used(OBJ_MAPO, OBJ_METRIC_REF_MSE));
    cr_assert(objective_metric_used(OBJ_TKTO, OBJ_METRIC_KTO_Z) && !objective_metric_used(OBJ_DPO, OBJ_METRIC_KTO_Z));

    // The dpo family: same layout and reference as dpo; the loss type is the row's or the option's.
    for (int i = 0; i < NOBJS; i++) {
        Objective x = OBJS[i];
        bool fam = x == OBJ_DPO || x == OBJ_TDPO || x == OBJ_DPO_HINGE || x == OBJ_DPO_IPO || x == OBJ_SDPO;
        cr_assert_eq(objective_is_dpo_family(x), fam, "%s", objective_name(x));
        if (fam) cr_assert(objective_rows_per_item(x) == 2 && objective_needs_reference(x) && objective_info(x)->pairwise);
    }
    h = objective_hyper_default();
    cr_assert(h.loss_type == DPO_LOSS_SIGMOID && h.sdpo_mu == 0.9f);
    cr_assert(objective_beta(OBJ_DPO_HINGE, &h) == 5000 && objective_beta(OBJ_SDPO, &h) == 5000);
    cr_assert_eq(objective_dpo_loss(OBJ_DPO, &h), DPO_LOSS_SIGMOID);
    cr_assert_eq(objective_dpo_loss(OBJ_DPO_HINGE, &h), DPO_LOSS_HINGE);
    cr_assert_eq(objective_dpo_loss(OBJ_DPO_IPO, &h), DPO_LOSS_IPO);
    h.loss_type = DPO_LOSS_IPO;
    cr_assert_eq(objective_dpo_loss(OBJ_DPO, &h), DPO_LOSS_IPO);
    cr_assert_eq(objective_dpo_loss(OBJ_TDPO, &h), DPO_LOSS_IPO);
    cr_assert_eq(objective_dpo_loss(OBJ_DPO_HINGE, &h), DPO_LOSS_HINGE);  // fixed by its row
    cr_assert_eq(objective_dpo_loss(OBJ_SDPO, &h), DPO_LOSS_SIGMOID);     // sdpo does not read loss_type
    h.loss_type = 3;
    cr_assert_eq(objective_hyper_check(OBJ_DPO, &h, err, sizeof err), -1);
    cr_assert(strstr(err, "loss_type"), "%s", err);
    cr_assert_eq(objective_hyper_check(OBJ_SDPO, &h, NULL, 0), 0);
    h.loss_type = 0.5f;
    cr_assert_eq(objective_hyper_check(OBJ_DPO, &h, NULL, 0), -1);
    h = objective_hyper_default();
    h.sdpo_mu = 1.5f;
    cr_assert_eq(objective_hyper_check(OBJ_SDPO, &h, err, sizeof err), -1);
    cr_assert(strstr(err, "sdpo_mu"), "%s", err);
    h.sdpo_mu = 1;
    cr_assert_eq(objective_hyper_check(OBJ_SDPO, &h, NULL, 0), 0);
    double idx = -1;
    cr_assert(objective_hyper_parse_choice(OBJ_HYPER_LOSS_TYPE, "sigmoid", &idx, NULL, 0) == 0 && idx == 0);
    cr_assert(objective_hyper_parse_choice(OBJ_HYPER_LOSS_TYPE, "hinge", &idx, NULL, 0) == 0 && idx == 1);
    cr_assert(objective_hyper_parse_choice(OBJ_HYPER_LOSS_TYPE, "ipo", &idx, NULL, 0) == 0 && idx == 2);
    cr_assert_eq(objective_hyper_parse_choice(OBJ_HYPER_LOSS_TYPE, "hing", &idx, err, sizeof err), -1);
    cr_assert(strstr(err, "sigmoid|hinge|ipo"), "%s", err);
    cr_assert_eq(objective_hyper_parse_choice(OBJ_HYPER_LOSS_TYPE, "", &idx, NULL, 0), -1);
    for (int l = 0; l < DPO_LOSS_COUNT; l++)
        cr_assert(objective_hyper_parse_choice(OBJ_HYPER_LOSS_TYPE, objective_dpo_loss_name((DpoLoss)l), &idx, NULL,
                                               0) == 0 && idx == l);

    // dspo: its own beta (the official 0.001), not of the dpo family, the only reader of q.
    h = objective_hyper_default();
    cr_assert(h.beta_dspo == 0.001f && objective_beta(OBJ_DSPO, &h) == 0.001f);
    cr_assert_str_eq(objective_beta_key(OBJ_DSPO), "beta_dspo");
    cr_assert(!objective_is_dpo_family(OBJ_DSPO) && objective_needs_reference(OBJ_DSPO));
    for (int i = 0; i < NOBJS; i++) cr_assert_eq(objective_needs_ref_dist(OBJS[i]), OBJS[i] == OBJ_DSPO);
    h.beta_dspo = 0;
    cr_assert_eq(objective_hyper_check(OBJ_DSPO, &h, err, sizeof err), -1);
    cr_assert(strstr(err, "beta_dspo"), "%s", err);
    cr_assert_eq(objective_hyper_check(OBJ_DPO, &h, NULL, 0), 0);

    float signs[6];
    objective_tkto_signs(signs, 3);
    for (int i = 0; i < 6; i++) cr_assert_eq(signs[i], i < 3 ? 1.0f : -1.0f);
}

// Every metric the reference leaves at 0 is one the objective does not use (and
// the other way round where the batch makes it nonzero): the layout is honest.
static void check_unused_metrics_zero(const char* label, Objective obj, const double* m) {
    for (int k = 0; k < OBJ_METRICS_COUNT; k++)
        if (!objective_metric_used(obj, (ObjMetric)k))
            cr_assert_eq(m[k], 0.0, "%s: unused metric %s = %g", label, objective_metric_name((ObjMetric)k), m[k]);
}

// ---------------------------------------------------------------------------
// (a) Reference coefficients vs central finite differences of the reference
// loss, every row. The step is relative to the error (1e-6 |e|, at least 1e-8):
// small against the scale on which the logit moves (beta/2 * step <= 2.5e-3 at
// beta = 5000), large against roundoff. KTO's z is held at its unperturbed value:
// it is detached in the objective, and the table's g has no term through it.

// Central differences of the reference loss in x[j] (x = e or q), other inputs fixed.
static double fd_loss(const ObjectiveHyper* h, Batch* b, double* x, int64_t j, double step, const double* z) {
    double xj = x[j];
    x[j] = xj + step;
    double lp = ref_objective_loss(b->obj, h, b->B, b->e, b->r, b->q, b->s, z), xp = x[j];
    x[j] = xj - step;
    double lm = ref_objective_loss(b->obj, h, b->B, b->e, b->r, b->q, b->s, z), xm = x[j];
    x[j] = xj;
    return (lp - lm) / (xp - xm);
}

static bool fd_objective(const char* label, const ObjectiveHyper* h, Batch* b) {
    double L, *g = xcalloc((size_t)b->rows, sizeof *g), m[OBJ_METRICS_COUNT];
    double* gq = xcalloc((size_t)b->rows, sizeof *gq);
    ref_objective(b->obj, h, b->B, b->e, b->r, b->q, b->s, &L, g, gq, m);
    check_unused_metrics_zero(label, b->obj, m);
    double z = objective_needs_signs(b->obj) ? ref_kto_reference_point(b->rows, b->e, b->r) : 0;
    // sdpo scales the losers' gradient by lambda (detached): g_l = lambda dL/de_l.
    double lambda = b->obj == OBJ_SDPO ? ref_sdpo_lambda(h->sdpo_mu, b->B, b->e) : 1.0;
    if (b->obj == OBJ_SDPO) cr_assert(m[OBJ_METRIC_SDPO_LAMBDA] == lambda && lambda > 0 && lambda <= 1);
    int bad = 0;
    for (int64_t j = 0; j < b->rows; j++) {
        double step = 1e-6 * fmax(fabs(b->e[j]), 1e-2);
        double num = fd_loss(h, b, b->e, j, step, &z) * (j >= b->B ? lambda : 1.0);
        double tol = 1e-6 * fmax(fabs(num), fabs(g[j])) + 1e-12 * (1 + fabs(L)) / step;
        if (!(fabs(num - g[j]) <= tol)) {
            if (bad++ < 5)
                fprintf(stderr, "%s: row %lld of %lld: analytic %.12g, finite differences %.12g (tol %.3g)\n", label,
                        (long long)j, (long long)b->rows, g[j], num, tol);
        }
        if (!b->q) {
            if (gq[j] != 0) bad++, fprintf(stderr, "%s: row %lld: dLoss/dq %g without q\n", label, (long long)j, gq[j]);
            continue;
        }
        step = 1e-6 * fmax(fabs(b->q[j]), 1e-2);
        num = fd_loss(h, b, b->q, j, step, &z);
        tol = 1e-6 * fmax(fabs(num), fabs(gq[j])) + 1e-12 * (1 + fabs(L)) / step;
        if (!(fabs(num - gq[j]) <= tol) && bad++ < 5)
            fprintf(stderr, "%s: row %lld of %lld: dLoss/dq analytic %.12g, finite differences %.12g (tol %.3g)\n",
                    label, (long long)j, (long long)b->rows, gq[j], num, tol);
    }
    free(g), free(gq);
    return bad == 0;
}

Test(objective, ref_matches_finite_differences) {
    static const int64_t BS[] = {1, 3, 7};
    ObjectiveHyper hs[2] = {objective_hyper_default(), hyper_small()};
    const char* hname[2] = {"default", "small"};
    char label[128];
    for (int o = 0; o < NOBJS; o++)
        for (int k = 0; k < 3; k++)
            for (int hi = 0; hi < 2; hi++)
                for (int bias = 0; bias < 2; bias++) {  // KTO: z clamped at 0, then z > 0
                    Objective obj = OBJS[o];
                    if (bias && !objective_needs_signs(obj)) continue;
                    double kb = bias ? 1e-2 : -1e-2;
                    // Differences up to 1e-2 with the small betas (|logit| <= ~0.5); up to 3e-3
                    // with the defaults, where |z| = 2500 |...| still leaves most pairs unsaturated.
                    double dmax = hi ? 1e-2 : 3e-3;
                    Batch b = make_batch(obj, BS[k], 1000 + 97 * o + 13 * k + 5 * hi + bias, 0.05, 0.5, dmax, kb);
                    if (objective_needs_signs(obj)) {
                        double z = ref_kto_reference_point(b.rows, b.e, b.r);
                        cr_assert(bias ? z > 0 : z == 0, "kto batch: z = %g, bias %d", z, bias);
                    }
                    snprintf(label, sizeof label, "%s B=%lld %s%s", objective_name(obj), (long long)BS[k], hname[hi],
                             bias ? " z>0" : "");
                    cr_assert(fd_objective(label, &hs[hi], &b), "%s: coefficients differ from finite differences",
                              label);
                    free_batch(&b);
                }
    // dpo and tdpo under every loss type.
    for (int c = 0; c < NLOSS_CASES; c++)
        for (int k = 0; k < 3; k++)
            for (int hi = 0; hi < 2; hi++) {
                ObjectiveHyper h = hs[hi];
                h.loss_type = (float)LOSS_CASES[c].loss;
                Batch b = make_batch(LOSS_CASES[c].obj, BS[k], 3000 + 31 * c + 13 * k + 5 * hi, 0.05, 0.5,
                                     hi ? 1e-2 : 3e-3, 0);
                snprintf(label, sizeof label, "%s loss_type %s B=%lld %s", objective_name(LOSS_CASES[c].obj),
                         objective_dpo_loss_name(LOSS_CASES[c].loss), (long long)BS[k], hname[hi]);
                cr_assert(fd_objective(label, &h, &b), "%s: coefficients differ from finite differences", label);
                free_batch(&b);
            }
}

// dpo --loss_type X and the objective dpo_X are the same function; the default
// dpo (sigmoid) keeps its closed form g_w = -g_l = beta/2 sigma(-z) / B exactly.
Test(objective, ref_loss_type_matches_fixed_objectives) {
    ObjectiveHyper hs[2] = {objective_hyper_default(), hyper_small()};
    for (int hi = 0; hi < 2; hi++) {
        Batch b = make_batch(OBJ_DPO, 7, 4000 + hi, 0.05, 0.5, 3e-3, 0);
        double g1[14], g2[14], m1[OBJ_METRICS_COUNT], m2[OBJ_METRICS_COUNT], L1, L2;
        Objective fixed[] = {OBJ_DPO_HINGE, OBJ_DPO_IPO};
        for (int t = 0; t < 2; t++) {
            ObjectiveHyper h = hs[hi];
            h.loss_type = (float)objective_dpo_loss(fixed[t], &h);
            ref_objective(OBJ_DPO, &h, b.B, b.e, b.r, NULL, NULL, &L1, g1, NULL, m1);
            ref_objective(fixed[t], &hs[hi], b.B, b.e, b.r, NULL, NULL, &L2, g2, NULL, m2);
            cr_assert(L1 == L2 && !memcmp(g1, g2, sizeof g1) && !memcmp(m1, m2, sizeof m1), "%s",
                      objective_name(fixed[t]));
        }
        ref_objective(OBJ_DPO, &hs[hi], b.B, b.e, b.r, NULL, NULL, &L1, g1, NULL, m1);
        for (int64_t k = 0; k < b.B; k++) {
            double beta = hs[hi].beta_dpo;
            double zk = -0.5 * beta * ((b.e[k] - b.e[b.B + k]) - (b.r[k] - b.r[b.B + k]));
            cr_assert(g1[k] == +0.5 * beta * ref_sigmoid(-zk) / 7.0 && g1[7 + k] == -0.5 * beta * ref_sigmoid(-zk) / 7.0);
        }
        free_batch(&b);
    }
}

// SDPO's guarantee in the output-space proxy of the published code: with winner and
// loser residuals a_w, a_l (the errors are their mean squares) the scale must satisfy
// lambda <a_w, a_l> <= (1 - mu) |a_w|^2 whatever the angle between them. The scale
// from the errors (Cauchy-Schwarz) never exceeds the published one
// (1 - mu) |a_w|^2 / <a_w, a_l> (clamped to [0, 1]), and equals it for parallel residuals.
Test(objective, ref_sdpo_lambda_safeguard) {
    enum { P = 5, N = 37 };
    TestRng g = rng_seed(99);
    for (int trial = 0; trial < 200; trial++) {
        double mu = rng_uniform(&g, 0, 1), aw[P][N], al[P][N], e[2 * P], dot = 0, nw = 0;
        bool parallel = trial % 4 == 0;
        double c = rng_uniform(&g, 0.2, 3.0);
        for (int k = 0; k < P; k++) {
            e[k] = e[P + k] = 0;
            for (int i = 0; i < N; i++) {
                aw[k][i] = rng_uniform(&g, -1, 1);
                al[k][i] = parallel ? c * aw[k][i] : aw[k][i] * rng_uniform(&g, -0.5, 1.5) + rng_uniform(&g, -0.5, 0.5);
                e[k] += aw[k][i] * aw[k][i] / N, e[P + k] += al[k][i] * al[k][i] / N;
                dot += aw[k][i] * al[k][i], nw += aw[k][i] * aw[k][i];
            }
        }
        double lambda = ref_sdpo_lambda(mu, P, e);
        cr_assert(lambda >= 0 && lambda <= 1);
        cr_assert(lambda * dot <= (1 - mu) * nw * (1 + 1e-12), "trial %d: lambda %g violates the safeguard", trial,
                  lambda);
        double published = dot > 0 ? fmin(1.0, fmax(0.0, (1 - mu) * nw / dot)) : 1.0;
        cr_assert(lambda <= published * (1 + 1e-12), "trial %d: lambda %g above the published %g", trial, lambda,
                  published);
        if (parallel) cr_assert(fabs(lambda - published) <= 1e-12, "trial %d: %g vs %g", trial, lambda, published);
    }
    double zero[4] = {0, 0, 0.3, 0.2};  // winners' errors 0: no constraint (the published rule gives 1 too)
    cr_assert_eq(ref_sdpo_lambda(0.9, 2, zero), 1.0);
    double zl[4] = {0.3, 0.2, 0, 0};
    cr_assert_eq(ref_sdpo_lambda(0.9, 2, zl), 1.0);
}

// DSPO's loss written from per-sample numbers is the official elementwise loss:
// with residuals a = pred_w - eps, d = pred_w - pred_ref,w and c = beta sigma(-z),
// mean (a - c d)^2 = e_w - c (e_w - r_w + q_w) + c^2 q_w. Random predictions, N
// elements per image; the expansion must hold to roundoff. Also at the start of
// fine-tuning (policy = reference: e = r, q = 0) the loss is the winners' mean
// error, g_w = (1 - beta/2) / B, g_l = 0 and dLoss/dq_w = (beta^2/4 - beta/2) / B.
Test(objective, ref_dspo_matches_elementwise_loss) {
    enum { P = 4, N = 29 };
    TestRng g = rng_seed(31);
    static const double BETAS[] = {0.001, 1.0, 30.0};
    for (int bi = 0; bi < 3; bi++)
        for (int trial = 0; trial < 20; trial++) {
            ObjectiveHyper h = objective_hyper_default();
            h.beta_dspo = (float)BETAS[bi];
            double e[2 * P] = {0}, r[2 * P] = {0}, q[2 * P] = {0}, pw[P][N], refw[P][N], eps[P][N];
            for (int k = 0; k < 2 * P; k++) {
                int w = k % P;  // winners and losers share the noise
                for (int i = 0; i < N; i++) {
                    if (k < P) eps[w][i] = rng_uniform(&g, -1, 1);
                    double pr = eps[w][i] + rng_uniform(&g, -0.3, 0.3), rf = pr + rng_uniform(&g, -0.05, 0.05);
                    if (k < P) pw[w][i] = pr, refw[w][i] = rf;
                    e[k] += (pr - eps[w][i]) * (pr - eps[w][i]) / N;
                    r[k] += (rf - eps[w][i]) * (rf - eps[w][i]) / N;
                    q[k] += (pr - rf) * (pr - rf) / N;
                }
            }
            double direct = 0;
            for (int k = 0; k < P; k++) {
                double z = -0.5 * h.beta_dspo * ((e[k] - e[P + k]) - (r[k] - r[P + k]));
                double c = h.beta_dspo * ref_sigmoid(-z), sum = 0;
                for (int i = 0; i < N; i++) {
                    double v = (pw[k][i] - eps[k][i]) - c * (pw[k][i] - refw[k][i]);
                    sum += v * v / N;
                }
                direct += sum / P;
            }
            double L = ref_objective_loss(OBJ_DSPO, &h, P, e, r, q, NULL, NULL);
            cr_assert(fabs(L - direct) <= 1e-12 * (1 + fabs(direct)), "beta %g trial %d: %.15g vs elementwise %.15g",
                      BETAS[bi], trial, L, direct);
        }
    ObjectiveHyper h = hyper_small();
    double e[] = {0.2, 0.4, 0.3, 0.5}, q0[] = {0, 0, 0, 0}, L, g2[4], gq[4], m[OBJ_METRICS_COUNT];
    ref_objective(OBJ_DSPO, &h, 2, e, e, q0, NULL, &L, g2, gq, m);
    double beta = h.beta_dspo;
    cr_assert(fabs(L - 0.3) < 1e-15 && m[OBJ_METRIC_REWARD_MARGIN] == 0 && m[OBJ_METRIC_IMPLICIT_ACC] == 0.5);
    for (int k = 0; k < 2; k++) {
        cr_assert(fabs(g2[k] - (1 - beta / 2) / 2) < 1e-15 && g2[2 + k] == 0, "g %g %g", g2[k], g2[2 + k]);
        cr_assert(fabs(gq[k] - (beta * beta / 4 - beta / 2) / 2) < 1e-12 && gq[2 + k] == 0, "gq %g", gq[k]);
    }
}

// MaPO away from the realistic range: errors near 0 (the reference's series for
// f and f'), errors of 1..3 at s = 1.3 (a = s e up to 4: the direct forms).
Test(objective, ref_mapo_finite_differences_extremes) {
    ObjectiveHyper hs[2] = {objective_hyper_default(), hyper_small()};
    for (int hi = 0; hi < 2; hi++) {
        Batch tiny = make_batch(OBJ_MAPO, 5, 77 + hi, 0, 2e-5, 1e-4, 0);
        for (int64_t i = 0; i < tiny.rows; i++) tiny.e[i] = f32(fabs(tiny.e[i]) * 1e-2);  // |e| <= ~1e-6
        cr_assert(fd_objective("mapo e~1e-6", &hs[hi], &tiny));
        free_batch(&tiny);
        Batch big = make_batch(OBJ_MAPO, 5, 79 + hi, 1.0, 3.0, 3e-2, 0);
        cr_assert(fd_objective("mapo e in 1..3", &hs[hi], &big));
        free_batch(&big);
    }
}

// ---------------------------------------------------------------------------
// (d) Signs, stated without the table (descent on e lowers the loss where it
// should), for the reference and the shader.

// coef as computed on the GPU (coef_scale 1).
static void gpu_objective(const Batch* b, const ObjectiveHyper* h, float scale, double* coef, double* metrics);

static void sign_checks(const char* who, bool gpu) {
    ObjectiveHyper h = hyper_small();
    double g[4], m[OBJ_METRICS_COUNT], L;
    // dpo/tdpo: the policy improved on the winner more than the reference did
    // (e_w < r_w, e_l = r_l): z > 0, loss below log 2, implicit accuracy 1. Raising
    // e_w would undo that, so dL/de_w > 0 (descent keeps lowering e_w), and
    // dL/de_l < 0 (descent raises the loser's error).
    // The same for every loss of the dpo family: the loss lies below its value at a
    // tie (z = 0: log 2, 1 for the hinge, 1/(2 beta)^2 for ipo); sdpo only shrinks g_l.
    static const Objective FAM[] = {OBJ_DPO, OBJ_TDPO, OBJ_DPO_HINGE, OBJ_DPO_IPO, OBJ_SDPO};
    for (int t = 0; t < 5; t++) {
        Objective obj = FAM[t];
        double e[] = {0.10, 0.20}, r[] = {0.11, 0.20}, tie_e[] = {0.11, 0.20};
        Batch b = {obj, 1, 2, e, r, NULL, NULL};
        ref_objective(obj, &h, 1, e, r, NULL, NULL, &L, g, NULL, m);
        if (gpu) gpu_objective(&b, &h, 1.0f, g, m);
        double tie = ref_objective_loss(obj, &h, 1, tie_e, r, NULL, NULL, NULL);
        cr_assert(g[0] > 0 && g[1] < 0, "%s %s: g_w %g, g_l %g", who, objective_name(obj), g[0], g[1]);
        cr_assert(m[OBJ_METRIC_LOSS] < tie && m[OBJ_METRIC_IMPLICIT_ACC] == 1.0 && m[OBJ_METRIC_REWARD_MARGIN] > 0,
                  "%s %s: loss %g (tie %g) acc %g margin %g", who, objective_name(obj), m[OBJ_METRIC_LOSS], tie,
                  m[OBJ_METRIC_IMPLICIT_ACC], m[OBJ_METRIC_REWARD_MARGIN]);
        if (obj == OBJ_SDPO)  // lambda = (1 - 0.3) sqrt(0.1 / 0.2): |g_l| = lambda g_w
            cr_assert(fabs(-g[1] / g[0] - 0.7 * sqrt(0.5)) < 1e-6 && fabs(m[OBJ_METRIC_SDPO_LAMBDA] - 0.7 * sqrt(0.5)) < 1e-6,
                      "%s sdpo: g_l / g_w = %g, lambda %g", who, g[1] / g[0], m[OBJ_METRIC_SDPO_LAMBDA]);
        // A small step against g lowers the reference loss.
        double e2[] = {e[0] - 1e-4 * g[0] / fabs(g[0]), e[1] - 1e-4 * g[1] / fabs(g[1])};
        cr_assert_lt(ref_objective_loss(obj, &h, 1, e2, r, NULL, NULL, NULL), L, "%s %s: descent step", who,
                     objective_name(obj));
    }
    // mapo: the winner's error carries the SFT term and the margin term, both
    // pushing it down (g_w > 1/B); the loser's is pushed up (f decreasing: g_l < 0).
    {
        double e[] = {0.10, 0.101};  // v = T (f(e_w) - f(e_l)) ~ 0.2: not saturated
        Batch b = {OBJ_MAPO, 1, 2, e, NULL, NULL, NULL};
        ref_objective(OBJ_MAPO, &h, 1, e, NULL, NULL, NULL, &L, g, NULL, m);
        if (gpu) gpu_objective(&b, &h, 1.0f, g, m);
        cr_assert(g[0] > 1.0 && g[1] < 0, "%s mapo: g_w %g, g_l %g", who, g[0], g[1]);
        cr_assert(m[OBJ_METRIC_IMPLICIT_ACC] == 1.0 && m[OBJ_METRIC_MAPO_WIN_SCORE] > m[OBJ_METRIC_MAPO_LOSE_SCORE],
                  "%s mapo: winner with the lower error must score higher", who);
    }
    // kto/tkto: descent lowers the error of desirable rows (g > 0) and raises it
    // on undesirable ones (g < 0), whatever the rewards.
    for (int t = 0; t < 2; t++) {
        Objective obj = t ? OBJ_TKTO : OBJ_KTO;
        double e[] = {0.10, 0.30, 0.25, 0.12}, r[] = {0.11, 0.28, 0.25, 0.13}, s[] = {1, 1, -1, -1};
        Batch b = {obj, t ? 2 : 4, 4, e, r, s, NULL};
        ref_objective(obj, &h, b.B, e, r, NULL, s, &L, g, NULL, m);
        if (gpu) gpu_objective(&b, &h, 1.0f, g, m);
        cr_assert(g[0] > 0 && g[1] > 0 && g[2] < 0 && g[3] < 0, "%s %s: g = %g %g %g %g", who, objective_name(obj),
                  g[0], g[1], g[2], g[3]);
        cr_assert_eq(m[OBJ_METRIC_DESIRABLE_FRAC], 0.5);
    }
    // sft: plain descent on every chosen sample.
    {
        double e[] = {0.2, 0.4, 0.3};
        Batch b = {OBJ_SFT, 3, 3, e, NULL, NULL, NULL};
        ref_objective(OBJ_SFT, &h, 3, e, NULL, NULL, NULL, &L, g, NULL, m);
        if (gpu) gpu_objective(&b, &h, 1.0f, g, m);
        for (int i = 0; i < 3; i++) cr_assert(fabs(g[i] - 1.0 / 3.0) < 1e-7, "%s sft: g %g", who, g[i]);
        cr_assert(fabs(m[OBJ_METRIC_LOSS] - 0.3) < 1e-7);
    }
}

Test(objective, ref_signs) { sign_checks("ref", false); }

Test(objective, gpu_signs, GPU_TEST) {
    require_gpu();
    sign_checks("gpu", true);
    ASSERT_NO_VALIDATION_MESSAGES();
}

// ---------------------------------------------------------------------------
// (b) Shader vs reference.

// Host doubles into an existing tensor (as float).
static void upload_into(const Tensor* t, const double* data) {
    int64_t n = tensor_numel(t);
    float* f = xmalloc((size_t)n * sizeof *f);
    for (int64_t i = 0; i < n; i++) f[i] = (float)data[i];
    tensor_upload(&tgpu, t, f);
    free(f);
}

// n values at `shift` floats past an aligned start (1: a slice, so the op binds
// aligned-down views and passes offsets).
static Tensor upload_shifted(const double* data, int64_t n, int64_t shift) {
    int64_t total = n + shift;
    double* buf = xcalloc((size_t)total, sizeof *buf);
    memcpy(buf + shift, data, (size_t)n * sizeof *buf);
    Tensor t = t_upload(1, &total, buf);
    free(buf);
    return tensor_slice(t, shift, n);
}

typedef struct GpuCase {
    Tensor e, r, s, coef, metrics, q, coef_q;
    bool has_r, has_s, has_q;
    Cmd c;
} GpuCase;

// Uploads the batch, pre-fills coef and metrics with garbage (the op overwrites),
// records the op once.
static void gpu_case_record(GpuCase* gc, const Batch* b, const ObjectiveHyper* h, float scale, int64_t shift) {
    TestRng g = rng_seed(4242 + (uint64_t)b->rows);
    double* junk = rand_array(&g, b->rows + OBJ_METRICS_COUNT, -9, 9);
    gc->e = upload_shifted(b->e, b->rows, shift);
    gc->has_r = objective_needs_reference(b->obj), gc->has_s = objective_needs_signs(b->obj);
    if (gc->has_r) gc->r = upload_shifted(b->r, b->rows, shift);
    if (gc->has_s) gc->s = upload_shifted(b->s, b->rows, shift);
    gc->has_q = objective_needs_ref_dist(b->obj);
    if (gc->has_q) gc->q = upload_shifted(b->q, b->rows, shift), gc->coef_q = upload_shifted(junk, b->rows, shift);
    gc->coef = upload_shifted(junk, b->rows, shift);
    gc->metrics = upload_shifted(junk + b->rows, OBJ_METRICS_COUNT, shift);
    free(junk);
    cmd_begin(&gc->c, &tgpu);
    op_objective(&gc->c, &gc->coef, gc->has_q ? &gc->coef_q : NULL, &gc->metrics, &gc->e, gc->has_r ? &gc->r : NULL,
                 gc->has_q ? &gc->q : NULL, gc->has_s ? &gc->s : NULL, b->obj, h, scale);
    cmd_end(&gc->c);
}

static void gpu_objective(const Batch* b, const ObjectiveHyper* h, float scale, double* coef, double* metrics) {
    GpuCase gc;
    gpu_case_record(&gc, b, h, scale, 0);
    cmd_submit(&gc.c);
    cmd_free(&gc.c);
    t_download(&gc.coef, coef);
    t_download(&gc.metrics, metrics);
}

// Submits gc and compares with the reference of b (coef = scale * g).
static void compare_with_ref(const char* label, GpuCase* gc, const Batch* b, const ObjectiveHyper* h, float scale,
                             Tol tol_coef, Tol tol_metrics) {
    cmd_submit(&gc->c);
    double* g = xcalloc((size_t)b->rows, sizeof *g), m[OBJ_METRICS_COUNT], L;
    double* gq = xcalloc((size_t)b->rows, sizeof *gq);
    ref_objective(b->obj, h, b->B, b->e, b->r, b->q, b->s, &L, g, gq, m);
    for (int64_t i = 0; i < b->rows; i++) g[i] *= (double)scale, gq[i] *= (double)scale;
    double* coef = t_download_new(&gc->coef);
    double gm[OBJ_METRICS_COUNT];
    t_download(&gc->metrics, gm);
    char l2[160];
    snprintf(l2, sizeof l2, "%s coef", label);
    ASSERT_CLOSE(l2, coef, g, b->rows, tol_coef);
    if (gc->has_q) {
        double* coef_q = t_download_new(&gc->coef_q);
        snprintf(l2, sizeof l2, "%s coef_q", label);
        ASSERT_CLOSE(l2, coef_q, gq, b->rows, tol_coef);
        free(coef_q);
    }
    free(gq);
    snprintf(l2, sizeof l2, "%s metrics", label);
    if (!check_close(l2, gm, m, OBJ_METRICS_COUNT, tol_metrics)) {
        for (int k = 0; k < OBJ_METRICS_COUNT; k++)
            fprintf(stderr, "  %-16s gpu %.9g ref %.9g\n", objective_metric_name((ObjMetric)k), gm[k], m[k]);
        cr_assert_fail("%s differs", l2);
    }
    check_unused_metrics_zero(l2, b->obj, gm);
    free(g), free(coef);
}

// Records once, checks, then uploads a second batch of the same shape into the
// same tensors and replays the recording: nothing of the inputs is baked in.
static void check_gpu(Objective obj, int64_t B, const ObjectiveHyper* h, const char* hname, float scale, int64_t shift,
                      uint64_t seed) {
    Batch b = make_batch(obj, B, seed, 0.05, 0.5, 3e-3, objective_needs_signs(obj) && (seed & 1) ? 3e-3 : 0);
    GpuCase gc;
    gpu_case_record(&gc, &b, h, scale, shift);
    char label[128];
    snprintf(label, sizeof label, "%s B=%lld %s scale %g shift %lld", objective_name(obj), (long long)B, hname,
             (double)scale, (long long)shift);
    compare_with_ref(label, &gc, &b, h, scale, TOL_F32, TOL_F32);

    Batch b2 = make_batch(obj, B, seed + 7919, 0.05, 0.5, 1e-2, 0);
    upload_into(&gc.e, b2.e);
    if (gc.has_r) upload_into(&gc.r, b2.r);
    if (gc.has_q) upload_into(&gc.q, b2.q);
    if (gc.has_s) {
        for (int64_t i = 0; i < b2.rows && obj == OBJ_KTO; i++) b2.s[i] = -b2.s[i];  // other labels too
        upload_into(&gc.s, b2.s);
    }
    snprintf(label, sizeof label, "%s B=%lld %s replay", objective_name(obj), (long long)B, hname);
    compare_with_ref(label, &gc, &b2, h, scale, TOL_F32, TOL_F32);
    cmd_free(&gc.c);
    free_batch(&b), free_batch(&b2);
}

// B = 300 is larger than any workgroup the op uses (lanes loop); 1, 5, 33 are odd.
static const int64_t GPU_BS[] = {1, 5, 33, 300};

static void check_all_gpu(void) {
    ObjectiveHyper hs[2] = {objective_hyper_default(), hyper_small()};
    const char* hname[2] = {"default", "small"};
    for (int o = 0; o < NOBJS; o++)
        for (int k = 0; k < 4; k++) {
            int hi = (o + k) % 2;
            float scale = k % 2 ? 0.25f : 1.0f;
            check_gpu(OBJS[o], GPU_BS[k], &hs[hi], hname[hi], scale, k == 1, 500 + 10 * o + k);
        }
    for (int c = 0; c < NLOSS_CASES; c++)
        for (int k = 0; k < 4; k++) {
            int hi = (c + k) % 2;
            ObjectiveHyper h = hs[hi];
            h.loss_type = (float)LOSS_CASES[c].loss;
            char name[64];
            snprintf(name, sizeof name, "%s loss_type %s", hname[hi], objective_dpo_loss_name(LOSS_CASES[c].loss));
            check_gpu(LOSS_CASES[c].obj, GPU_BS[k], &h, name, k % 2 ? 0.25f : 1.0f, k == 1, 700 + 10 * c + k);
        }
}

Test(objective, gpu_matches_ref, GPU_TEST) {
    require_gpu();
    check_all_gpu();
    ASSERT_NO_VALIDATION_MESSAGES();
}

// The other reduction policy than the device's (on lavapipe: several subgroups
// through shared memory, with barriers).
Test(objective, gpu_matches_ref_other_reduction, GPU_TEST) {
    require_gpu();
    tgpu.tune.use_shared_memory = !tgpu.tune.use_shared_memory;
    check_all_gpu();
    ASSERT_NO_VALIDATION_MESSAGES();
}

// MaPO with large errors (a = s e from 1 to 4: the shader's direct forms of f
// and f', not the series) and with s = 0.5 at the defaults.
Test(objective, gpu_mapo_large_errors, GPU_TEST) {
    require_gpu();
    ObjectiveHyper hs[2] = {objective_hyper_default(), hyper_small()};
    for (int hi = 0; hi < 2; hi++) {
        Batch b = make_batch(OBJ_MAPO, 33, 900 + hi, hi ? 0.8 : 2.0, 3.0, 3e-2, 0);
        GpuCase gc;
        gpu_case_record(&gc, &b, &hs[hi], 1.0f, 0);
        compare_with_ref(hi ? "mapo large e small" : "mapo large e default", &gc, &b, &hs[hi], 1.0f, TOL_F32, TOL_F32);
        cmd_free(&gc.c);
        free_batch(&b);
    }
    ASSERT_NO_VALIDATION_MESSAGES();
}

// ---------------------------------------------------------------------------
// (c) Extreme inputs: logits of +-1e4 (sigmoids saturated both ways, softplus
// linear), exact ties, MaPO errors of exactly 0, of 1e-7 (the series), and large
// enough that expm1 overflows in fp32. Everything finite and equal to the
// reference. The metrics hold values up to 1e4 here (reward margin, loss), so
// their per-element bound (1e-5 of the largest) is looser than elsewhere; the
// loss is checked on its own at rtol 1e-5 too.

static void check_extreme(const char* label, Objective obj, int64_t B, double* e, double* r, double* s,
                          const ObjectiveHyper* h) {
    Batch b = {obj, B, B * objective_rows_per_item(obj), e, r, s, NULL};
    for (int64_t i = 0; i < b.rows; i++) {  // the GPU sees floats: so does the reference
        e[i] = f32(e[i]);
        if (r) r[i] = f32(r[i]);
    }
    double g[16], m[OBJ_METRICS_COUNT], gm[OBJ_METRICS_COUNT], coef[16], L;
    cr_assert(b.rows <= 16);
    ref_objective(obj, h, B, e, r, NULL, s, &L, g, NULL, m);
    gpu_objective(&b, h, 1.0f, coef, gm);
    for (int64_t i = 0; i < b.rows; i++) cr_assert(isfinite(coef[i]), "%s: coef[%lld] = %g", label, (long long)i, coef[i]);
    for (int k = 0; k < OBJ_METRICS_COUNT; k++) cr_assert(isfinite(gm[k]), "%s: metric %d = %g", label, k, gm[k]);
    char l2[128];
    snprintf(l2, sizeof l2, "%s coef", label);
    ASSERT_CLOSE(l2, coef, g, b.rows, TOL_F32);
    snprintf(l2, sizeof l2, "%s metrics", label);
    ASSERT_CLOSE(l2, gm, m, OBJ_METRICS_COUNT, TOL_F32);
    cr_assert(fabs(gm[OBJ_METRIC_LOSS] - L) <= 1e-5 * fabs(L) + 1e-7, "%s: loss %.9g, ref %.9g", label,
              gm[OBJ_METRIC_LOSS], L);
}

Test(objective, gpu_extreme_inputs, GPU_TEST) {
    require_gpu();
    ObjectiveHyper h = objective_hyper_default();
    // dpo/tdpo at beta 5000: (e_w - e_l) - (r_w - r_l) = +-4 gives z = -+1e4; then a
    // tie (z = 0 exactly: implicit accuracy 1/2) and an ordinary pair.
    // The same for the hinge, ipo and sdpo, and for dpo --loss_type hinge / ipo.
    static const Objective FAM[] = {OBJ_DPO, OBJ_TDPO, OBJ_DPO_HINGE, OBJ_DPO_IPO, OBJ_SDPO};
    for (int t = 0; t < 7; t++) {
        Objective obj = t < 5 ? FAM[t] : OBJ_DPO;
        ObjectiveHyper hl = h;
        hl.loss_type = t == 5 ? DPO_LOSS_HINGE : t == 6 ? DPO_LOSS_IPO : DPO_LOSS_SIGMOID;
        double e[] = {4.25, 0.25, 0.3, 0.2, /* losers */ 0.25, 4.25, 0.3, 0.2002};
        double r[] = {0.25, 0.25, 0.4, 0.2, /* losers */ 0.25, 0.25, 0.4, 0.2};
        char label[64];
        snprintf(label, sizeof label, "%s %s", objective_name(obj), objective_dpo_loss_name(objective_dpo_loss(obj, &hl)));
        check_extreme(label, obj, 4, e, r, NULL, &hl);
    }
    // sdpo with every winner's error 0 (lambda = 1) and every loser's 0 (lambda = 1).
    {
        ObjectiveHyper hs = hyper_small();  // beta 40: z = 1.25 and 2.5, exact in fp32
        double e[] = {0, 0, 0.25, 0.5}, r[] = {0.0625, 0.125, 0.25, 0.5};
        check_extreme("sdpo e_w = 0", OBJ_SDPO, 2, e, r, NULL, &hs);
        double e2[] = {0.25, 0.5, 0, 0}, r2[] = {0.3125, 0.625, 0, 0};
        check_extreme("sdpo e_l = 0", OBJ_SDPO, 2, e2, r2, NULL, &hs);
    }
    // dspo at beta 5000: saturated logits both ways (c = 0 and c = beta), a tie, an ordinary pair.
    {
        ObjectiveHyper hd = h;
        hd.beta_dspo = 5000;
        double e[] = {4.25, 0.25, 0.3, 0.2, /* losers */ 0.25, 4.25, 0.3, 0.2002};
        double r[] = {0.25, 0.25, 0.4, 0.2, /* losers */ 0.25, 0.25, 0.4, 0.2};
        double q[] = {3.0, 0.0, 0.01, 2e-6, /* losers */ 0.5, 0.5, 0.5, 0.5};
        Batch b = {OBJ_DSPO, 4, 8, e, r, NULL, q};
        for (int i = 0; i < 8; i++) e[i] = f32(e[i]), r[i] = f32(r[i]), q[i] = f32(q[i]);
        GpuCase gc;
        gpu_case_record(&gc, &b, &hd, 1.0f, 0);
        compare_with_ref("dspo extreme", &gc, &b, &hd, 1.0f, TOL_F32, TOL_F32);
        cmd_free(&gc.c);
    }
    // kto/tkto at beta 1000: rho - z = +-10 on both signs (u = +-1e4), and ties.
    {
        double e[] = {0.1, 10.1, 10.1, 0.1, 0.2, 0.2};
        double r[] = {10.1, 0.1, 0.1, 10.1, 0.2, 0.2};
        double s[] = {1, 1, -1, -1, 1, -1};
        check_extreme("kto", OBJ_KTO, 6, e, r, s, &h);
        double s2[] = {1, 1, 1, -1, -1, -1};
        check_extreme("tkto", OBJ_TKTO, 3, e, r, s2, &h);
    }
    // mapo: e = 0 exactly, 1e-7 (series), equal errors (v = 0: a tie), a saturated
    // margin each way (f(0) - f(100) ~ 1: T (...) = +-1000) where expm1(s e)
    // overflows fp32 (s e = 100 or 130: f = 0 and f' = -0 on the GPU), and two
    // large errors whose scores (~1e-12, ~1e-8) still differ in fp32. (Two
    // errors that both overflow score 0 = 0 on the GPU, a tie, while double
    // still ranks them: fp32's range is a limitation there, not tested.)
    {
        double e[] = {0.0, 1e-7, 2e-6, 0.0, 200.0, 60.0, 3e-5, /* losers */ 1e-7, 0.0, 2e-6, 100.0, 0.0, 40.0, 0.0};
        check_extreme("mapo", OBJ_MAPO, 7, e, NULL, NULL, &h);
        ObjectiveHyper hs = hyper_small();
        check_extreme("mapo small", OBJ_MAPO, 7, e, NULL, NULL, &hs);
    }
    // sft with zero and large errors.
    {
        double e[] = {0.0, 1e4, 0.5};
        check_extreme("sft", OBJ_SFT, 3, e, NULL, NULL, &h);
    }
    ASSERT_NO_VALIDATION_MESSAGES();
}

// ---------------------------------------------------------------------------

// Shape mismatches stop with a message naming the op (die() exits with status 1).
Test(objective, bad_shapes_die, GPU_TEST, .exit_code = 1) {
    require_gpu();
    ObjectiveHyper h = objective_hyper_default();
    Tensor e = arena_tensor1(&tarena, 6), r = arena_tensor1(&tarena, 6), coef = arena_tensor1(&tarena, 6);
    Tensor m = arena_tensor1(&tarena, OBJ_METRICS_COUNT), s = arena_tensor1(&tarena, 6);
    Cmd c;
    cmd_begin(&c, &tgpu);
    op_objective(&c, &coef, NULL, &m, &e, &r, NULL, NULL, OBJ_DPO, &h, 1.0f);  // fine: 3 pairs
    op_objective(&c, &coef, NULL, &m, &e, NULL, NULL, &s, OBJ_KTO, &h, 1.0f);  // kto without r
    cr_assert_fail("op_objective accepted kto without reference errors");
}

Test(objective, odd_rows_for_pairs_die, GPU_TEST, .exit_code = 1) {
    require_gpu();
    ObjectiveHyper h = objective_hyper_default();
    Tensor e = arena_tensor1(&tarena, 5), coef = arena_tensor1(&tarena, 5), m = arena_tensor1(&tarena, OBJ_METRICS_COUNT);
    Cmd c;
    cmd_begin(&c, &tgpu);
    op_objective(&c, &coef, NULL, &m, &e, NULL, NULL, NULL, OBJ_MAPO, &h, 1.0f);  // 5 rows cannot be [w; l] pairs
    cr_assert_fail("op_objective accepted an odd row count for mapo");
}

Test(objective, dspo_without_q_dies, GPU_TEST, .exit_code = 1) {
    require_gpu();
    ObjectiveHyper h = objective_hyper_default();
    Tensor e = arena_tensor1(&tarena, 6), r = arena_tensor1(&tarena, 6), coef = arena_tensor1(&tarena, 6);
    Tensor cq = arena_tensor1(&tarena, 6), m = arena_tensor1(&tarena, OBJ_METRICS_COUNT);
    Cmd c;
    cmd_begin(&c, &tgpu);
    op_objective(&c, &coef, &cq, &m, &e, &r, NULL, NULL, OBJ_DSPO, &h, 1.0f);  // q missing
    cr_assert_fail("op_objective accepted dspo without q");
}
