// schedule.c: see schedule.h. Formulas follow diffusers' DDPMScheduler,
// DDIMScheduler (set_alpha_to_one) and EulerDiscreteScheduler with "leading"
// timestep spacing, rewritten in DDPM space.
#include "model/schedule.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/check.h"
#include "util/json_fields.h"

SchedulerConfig scheduler_config_default(void) {
    return (SchedulerConfig){.num_train_timesteps = 1000, .beta_start = 1e-4, .beta_end = 0.02,
                             .beta_schedule = BETA_LINEAR, .prediction_type = PRED_EPSILON, .clip_sample = true,
                             .clip_sample_range = 1.0, .steps_offset = 0};
}

int scheduler_config_parse(SchedulerConfig* c, const char* text, const char* source, char* err, size_t errlen) {
    *c = scheduler_config_default();
    cJSON* root = json_parse_object(text, source, err, errlen);
    if (!root) return -1;
    JsonFields f = {root, source, err, errlen, 0};
    c->num_train_timesteps = json_int_in(&f, "num_train_timesteps", c->num_train_timesteps, 2, SCHEDULER_MAX_TIMESTEPS);
    c->beta_start = json_num_in(&f, "beta_start", c->beta_start, 1e-12, 1);
    c->beta_end = json_num_in(&f, "beta_end", c->beta_end, 1e-12, 1);
    c->clip_sample = json_bool(&f, "clip_sample", c->clip_sample);
    c->clip_sample_range = json_num_in(&f, "clip_sample_range", c->clip_sample_range, 1e-6, 1e6);
    c->steps_offset = json_int_in(&f, "steps_offset", 0, 0, c->num_train_timesteps - 1);
    const char* bs = json_str(&f, "beta_schedule", "linear");
    if (!strcmp(bs, "linear")) c->beta_schedule = BETA_LINEAR;
    else if (!strcmp(bs, "scaled_linear")) c->beta_schedule = BETA_SCALED_LINEAR;
    else if (!strcmp(bs, "squaredcos_cap_v2")) c->beta_schedule = BETA_SQUAREDCOS_CAP_V2;
    else json_fail(&f, "beta_schedule", "\"%s\" is not supported (linear, scaled_linear, squaredcos_cap_v2)", bs);
    const char* pt = json_str(&f, "prediction_type", "epsilon");
    if (!strcmp(pt, "epsilon")) c->prediction_type = PRED_EPSILON;
    else if (!strcmp(pt, "v_prediction")) c->prediction_type = PRED_V;
    else json_fail(&f, "prediction_type", "\"%s\" is not supported (epsilon, v_prediction)", pt);
    if (!f.failed && !(c->beta_start > 0 && c->beta_end > c->beta_start && c->beta_end < 1))
        json_fail(&f, "beta_end", "need 0 < beta_start < beta_end < 1");
    cJSON_Delete(root);
    return f.failed ? -1 : 0;
}

int scheduler_config_load(SchedulerConfig* c, const char* path, char* err, size_t errlen) {
    char* text = json_read_file(path, err, errlen);
    if (!text) return -1;
    int r = scheduler_config_parse(c, text, path, err, errlen);
    free(text);
    return r;
}

char* scheduler_config_to_json(const SchedulerConfig* c) {
    static const char* bs[] = {"linear", "scaled_linear", "squaredcos_cap_v2"};
    cJSON* o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "_class_name", "DDPMScheduler");
    cJSON_AddStringToObject(o, "_diffusers_version", "0.21.0");
    cJSON_AddNumberToObject(o, "num_train_timesteps", c->num_train_timesteps);
    cJSON_AddNumberToObject(o, "beta_start", c->beta_start);
    cJSON_AddNumberToObject(o, "beta_end", c->beta_end);
    cJSON_AddStringToObject(o, "beta_schedule", bs[c->beta_schedule]);
    cJSON_AddStringToObject(o, "prediction_type", c->prediction_type == PRED_V ? "v_prediction" : "epsilon");
    cJSON_AddBoolToObject(o, "clip_sample", c->clip_sample);
    cJSON_AddNumberToObject(o, "clip_sample_range", c->clip_sample_range);
    cJSON_AddStringToObject(o, "variance_type", "fixed_small");
    cJSON_AddNumberToObject(o, "steps_offset", c->steps_offset);
    char* s = cJSON_Print(o);
    cJSON_Delete(o);
    return s;
}

// ---------------------------------------------------------------------------

static double alpha_bar_cos(double t) { return pow(cos((t + 0.008) / 1.008 * M_PI / 2), 2); }

void schedule_init(NoiseSchedule* s, const SchedulerConfig* c) {
    int T = c->num_train_timesteps;
    s->cfg = *c;
    s->betas = xmalloc((size_t)T * sizeof *s->betas);
    s->alphas_cumprod = xmalloc((size_t)T * sizeof *s->alphas_cumprod);
    for (int i = 0; i < T; i++) {
        double f = (double)i / (T - 1);
        switch (c->beta_schedule) {
        case BETA_LINEAR: s->betas[i] = c->beta_start + f * (c->beta_end - c->beta_start); break;
        case BETA_SCALED_LINEAR: {
            double r = sqrt(c->beta_start) + f * (sqrt(c->beta_end) - sqrt(c->beta_start));
            s->betas[i] = r * r;
            break;
        }
        case BETA_SQUAREDCOS_CAP_V2:
            s->betas[i] = fmin(1 - alpha_bar_cos((double)(i + 1) / T) / alpha_bar_cos((double)i / T), 0.999);
            break;
        }
    }
    double acc = 1;
    for (int i = 0; i < T; i++) s->alphas_cumprod[i] = acc *= 1 - s->betas[i];
}

void schedule_free(NoiseSchedule* s) {
    free(s->betas);
    free(s->alphas_cumprod);
    memset(s, 0, sizeof *s);
}

void schedule_noise_coefs(const NoiseSchedule* s, int t, double* a, double* b) {
    *a = sqrt(s->alphas_cumprod[t]);
    *b = sqrt(1 - s->alphas_cumprod[t]);
}

void sampler_timesteps(const NoiseSchedule* s, int n, int* out) {
    int T = s->cfg.num_train_timesteps, ratio = T / n;
    for (int i = 0; i < n; i++) {
        int t = (n - 1 - i) * ratio + s->cfg.steps_offset;
        out[i] = t < T ? t : T - 1;
    }
}

int sampler_parse(const char* name, SamplerKind* out) {
    if (!strcmp(name, "ddpm")) *out = SAMPLER_DDPM;
    else if (!strcmp(name, "ddim")) *out = SAMPLER_DDIM;
    else if (!strcmp(name, "euler")) *out = SAMPLER_EULER;
    else return -1;
    return 0;
}

SamplerStep sampler_step(const NoiseSchedule* s, SamplerKind kind, int n, int i, double eta) {
    int T = s->cfg.num_train_timesteps;
    if (n < 1 || n > T || i < 0 || i >= n) die("sampler_step: step %d of %d with %d training timesteps", i, n, T);
    int* ts = xmalloc((size_t)n * sizeof *ts);
    sampler_timesteps(s, n, ts);
    int t = ts[i], prev = t - T / n;
    free(ts);
    double a = s->alphas_cumprod[t], a_prev = prev >= 0 ? s->alphas_cumprod[prev] : 1.0;
    double sa = sqrt(a), sb = sqrt(1 - a);
    SamplerStep st = {.timestep = (float)t, .sa = (float)sa, .sb = (float)sb};
    if (s->cfg.prediction_type == PRED_EPSILON) st.p = (float)(1 / sa), st.q = (float)(-sb / sa), st.r = 0, st.s = 1;
    else st.p = (float)sa, st.q = (float)-sb, st.r = (float)sb, st.s = (float)sa;
    st.clip = kind != SAMPLER_EULER && s->cfg.clip_sample;
    st.clip_range = (float)s->cfg.clip_sample_range;
    switch (kind) {
    case SAMPLER_DDIM: {
        double var = (1 - a_prev) / (1 - a) * (1 - a / a_prev), std = eta * sqrt(fmax(var, 0));
        st.cx0 = (float)sqrt(a_prev);
        st.ceps = (float)sqrt(fmax(1 - a_prev - std * std, 0));
        st.cnoise = (float)std;
        break;
    }
    case SAMPLER_DDPM: {
        double cur_alpha = a / a_prev, cur_beta = 1 - cur_alpha;
        st.cx0 = (float)(sqrt(a_prev) * cur_beta / (1 - a));
        st.cx = (float)(sqrt(cur_alpha) * (1 - a_prev) / (1 - a));
        st.cnoise = t > 0 ? (float)sqrt(fmax((1 - a_prev) / (1 - a) * cur_beta, 1e-20)) : 0.0f;
        break;
    }
    case SAMPLER_EULER: {
        double sig = sqrt((1 - a) / a), sig_next = prev >= 0 ? sqrt((1 - a_prev) / a_prev) : 0.0;
        st.cx = (float)(sqrt(1 + sig * sig) / sqrt(1 + sig_next * sig_next));
        st.ceps = (float)((sig_next - sig) / sqrt(1 + sig_next * sig_next));
        break;
    }
    }
    return st;
}

void schedule_add_noise(const NoiseSchedule* s, int t, const float* x0, const float* eps, long n, float* x_t,
                        float* target) {
    double a, b;
    schedule_noise_coefs(s, t, &a, &b);
    bool v_pred = s->cfg.prediction_type == PRED_V;
    for (long k = 0; k < n; k++) {
        x_t[k] = (float)(a * x0[k] + b * eps[k]);
        target[k] = v_pred ? (float)(a * eps[k] - b * x0[k]) : eps[k];
    }
}
