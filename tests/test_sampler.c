// test_sampler.c: noise schedules against closed forms, sampler algebra
// (a perfect noise prediction keeps DDIM(eta=0) and Euler on the noising
// path), and the sampler_step shader against its reference.
#include <math.h>

#include "model/schedule.h"
#include "test_util.h"

static NoiseSchedule make(BetaSchedule b, PredictionType pt, bool clip) {
    SchedulerConfig c = scheduler_config_default();
    c.beta_schedule = b;
    c.prediction_type = pt;
    c.clip_sample = clip;
    if (b == BETA_SCALED_LINEAR) c.beta_start = 0.00085, c.beta_end = 0.012;
    NoiseSchedule s;
    schedule_init(&s, &c);
    return s;
}

Test(schedule, betas_match_closed_forms) {
    NoiseSchedule s = make(BETA_LINEAR, PRED_EPSILON, true);
    cr_assert_float_eq(s.betas[0], 1e-4, 1e-15);
    cr_assert_float_eq(s.betas[999], 0.02, 1e-15);
    cr_assert_float_eq(s.betas[500], 1e-4 + 500.0 / 999 * (0.02 - 1e-4), 1e-15);
    double prod = 1;
    for (int i = 0; i <= 10; i++) prod *= 1 - s.betas[i];
    cr_assert_float_eq(s.alphas_cumprod[10], prod, 1e-15);
    schedule_free(&s);

    s = make(BETA_SCALED_LINEAR, PRED_EPSILON, true);
    double r = sqrt(0.00085) + 300.0 / 999 * (sqrt(0.012) - sqrt(0.00085));
    cr_assert_float_eq(s.betas[300], r * r, 1e-15);
    schedule_free(&s);

    s = make(BETA_SQUAREDCOS_CAP_V2, PRED_EPSILON, true);
    // abar(t) = f(t)/f(0) with f(t) = cos^2((t/T + 0.008)/1.008 pi/2)
    double f0 = pow(cos(0.008 / 1.008 * M_PI / 2), 2), f = pow(cos((400.0 / 1000 + 0.008) / 1.008 * M_PI / 2), 2);
    cr_assert_float_eq(s.alphas_cumprod[399], f / f0, 1e-9);
    cr_assert_leq(s.betas[999], 0.999);
    schedule_free(&s);
}

Test(schedule, config_json_round_trip_and_errors) {
    SchedulerConfig c;
    char err[256];
    cr_assert_eq(scheduler_config_parse(&c, "{\"beta_schedule\": \"scaled_linear\", \"prediction_type\": \"v_prediction\"}",
                                        "s.json", err, sizeof err), 0, "%s", err);
    cr_assert_eq(c.beta_schedule, BETA_SCALED_LINEAR);
    cr_assert_eq(c.prediction_type, PRED_V);
    char* j = scheduler_config_to_json(&c);
    SchedulerConfig d;
    cr_assert_eq(scheduler_config_parse(&d, j, "round trip", err, sizeof err), 0, "%s", err);
    cr_assert_eq(d.beta_schedule, c.beta_schedule);
    cr_assert_eq(d.prediction_type, c.prediction_type);
    free(j);
    cr_assert_neq(scheduler_config_parse(&c, "{\"beta_schedule\": \"cubic\"}", "s.json", err, sizeof err), 0);
    cr_assert(strstr(err, "s.json") && strstr(err, "beta_schedule"), "error names file and key: %s", err);
}

Test(schedule, timesteps_leading_spacing) {
    NoiseSchedule s = make(BETA_LINEAR, PRED_EPSILON, true);
    int ts[10];
    sampler_timesteps(&s, 10, ts);
    for (int i = 0; i < 10; i++) cr_assert_eq(ts[i], (9 - i) * 100);
    schedule_free(&s);
}

// With the true noise as the model output, DDIM (eta 0) and Euler map a point on
// the noising path x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps to the same path at the next timestep.
Test(schedule, perfect_prediction_stays_on_the_noising_path) {
    for (int pt = 0; pt < 2; pt++)
        for (int kind = 0; kind < 2; kind++) {
            NoiseSchedule s = make(BETA_LINEAR, pt ? PRED_V : PRED_EPSILON, false);
            SamplerKind k = kind ? SAMPLER_EULER : SAMPLER_DDIM;
            int n = 20, ts[20];
            sampler_timesteps(&s, n, ts);
            double x0 = 0.37, eps = -1.3;
            for (int i = 0; i < n; i++) {
                double a = s.alphas_cumprod[ts[i]], x = sqrt(a) * x0 + sqrt(1 - a) * eps;
                double out = pt ? sqrt(a) * eps - sqrt(1 - a) * x0 : eps;
                SamplerStep st = sampler_step(&s, k, n, i, 0.0);
                ref_sampler_step(&x, &out, &(double){0}, 1, &st, false, 1);
                double ap = i + 1 < n ? s.alphas_cumprod[ts[i + 1]] : 1.0;
                cr_assert_float_eq(x, sqrt(ap) * x0 + sqrt(1 - ap) * eps, 2e-6, "%s %s step %d",
                                   pt ? "v" : "eps", kind ? "euler" : "ddim", i);
            }
            schedule_free(&s);
        }
}

// DDPM's mean is the posterior mean of q(x_{t-1} | x_t, x0).
Test(schedule, ddpm_posterior_mean) {
    NoiseSchedule s = make(BETA_LINEAR, PRED_EPSILON, false);
    int n = 1000, i = 500, t = 499;  // with n = T the step goes from t to t - 1
    SamplerStep st = sampler_step(&s, SAMPLER_DDPM, n, i, 0);
    cr_assert_eq((int)st.timestep, t);
    double a = s.alphas_cumprod[t], ap = s.alphas_cumprod[t - 1], beta = s.betas[t];
    cr_assert_float_eq(st.cx0, sqrt(ap) * beta / (1 - a), 1e-6);
    cr_assert_float_eq(st.cx, sqrt(1 - beta) * (1 - ap) / (1 - a), 1e-6);
    cr_assert_float_eq(st.cnoise, sqrt((1 - ap) / (1 - a) * beta), 1e-6);
    schedule_free(&s);
}

Test(sampler_step, gpu_matches_ref, GPU_TEST) {
    require_gpu();
    const int64_t sizes[] = {5, 1024, 3 * 1000 + 7};
    for (int kind = 0; kind < 3; kind++)
        for (int si = 0; si < 3; si++)
            for (int cfg = 0; cfg < 2; cfg++) {
                NoiseSchedule s = make(BETA_LINEAR, si == 1 ? PRED_V : PRED_EPSILON, kind != 2);
                SamplerStep st = sampler_step(&s, (SamplerKind)kind, 25, 3 + si, 0.7);
                int64_t n = sizes[si], no = (cfg ? 2 : 1) * n, nk = SAMPLER_COEF_COUNT;
                TestRng rng = rng_seed(7 * kind + si + 100 * cfg);
                double* x = rand_array(&rng, n, -3, 3);
                double* o = rand_array(&rng, no, -2, 2);
                double* z = rand_array(&rng, n, -2, 2);
                float kf[SAMPLER_COEF_COUNT];
                double kd[SAMPLER_COEF_COUNT];
                sampler_pack_coefs(&st, kf);
                for (int i = 0; i < nk; i++) kd[i] = kf[i];
                Tensor tx = t_upload(1, &n, x), to = t_upload(1, &no, o), tz = t_upload(1, &n, z);
                Tensor tk = t_upload(1, &nk, kd);
                Cmd c;
                RUN_CMD(c, op_sampler_step(&c, &tx, &to, &tz, &tk, cfg, 4.5f));
                ref_sampler_step(x, o, z, n, &st, cfg, 4.5);
                double* got = t_download_new(&tx);
                ASSERT_CLOSE("sampler_step", got, x, n, TOL_F32);
                free(x), free(o), free(z), free(got);
                schedule_free(&s);
            }
    ASSERT_NO_VALIDATION_MESSAGES();
}
