// vkpref.c: the public interface (vkpref.h) over the library's rooms: gpu/
// for the device, train/run.h for training, sample/generator.h for sampling,
// judge/ and eval/ for the win rate. Settings that the lower layers treat as
// programming errors (a batch < 1, steps beyond the schedule) are checked here
// first, so that they come back as VKP_ERR_INPUT instead of aborting.
#include "vkpref.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/winrate.h"
#include "gpu/gpu.h"
#include "judge/judge.h"
#include "model/pipeline_io.h"
#include "sample/generator.h"
#include "train/run.h"
#include "train/train_config.h"
#include "util/check.h"

_Static_assert(OBJ_METRICS_COUNT <= VKP_MAX_METRICS, "VkpStepMetrics.metrics is too small");
_Static_assert((int)RUN_ERR_INPUT == (int)VKP_ERR_INPUT && (int)RUN_ERR_DIVERGED == (int)VKP_ERR_DIVERGED &&
                   (int)RUN_ERR_DEVICE == (int)VKP_ERR_DEVICE && (int)RUN_ERR_IO == (int)VKP_ERR_IO,
               "VkpStatus mirrors RunStatus");

struct VkpDevice {
    GpuContext g;
};
struct VkpConfig {
    TrainConfig c;
    OptMarks marks;  // the keys set so far: fine-tuning defaults fill the others (train_config_resolve)
};

// The config a run gets: c with the fine-tuning defaults where no key was set.
static TrainConfig resolved(const VkpConfig* cfg) {
    TrainConfig c = cfg->c;
    train_config_resolve(&c, &cfg->marks);
    return c;
}
struct VkpRun {
    TrainRun* run;
};
struct VkpModel {
    VkpDevice* dev;
    DiffusionPipeline p;
};

static VkpStatus set_error(VkpError* err, VkpStatus st, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
static VkpStatus set_error(VkpError* err, VkpStatus st, const char* fmt, ...) {
    if (err) {
        err->status = st;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return st;
}

// For the lower layers' (char* err, size_t errlen) convention.
#define ERRBUF(e) ((e) ? (e)->message : NULL), ((e) ? sizeof (e)->message : 0)

static VkpStatus from_run(RunStatus st, VkpError* err) {
    if (err) err->status = (VkpStatus)st;
    return (VkpStatus)st;
}

// ---------------------------------------------------------------------------

VkpStatus vkp_device_open(int index, VkpDevice** out, VkpError* err) {
    *out = NULL;
    VkpDevice* d = xcalloc(1, sizeof *d);
    GpuOptions go = GPU_DEFAULTS;
    go.device = index;
    if (gpu_init(&d->g, &go)) {
        free(d);
        return set_error(err, VKP_ERR_DEVICE, "no usable Vulkan device%s (see `vkpref info`)",
                         index >= 0 ? " at that index" : "");
    }
    *out = d;
    return VKP_OK;
}

const char* vkp_device_name(const VkpDevice* dev) { return dev->g.props.deviceName; }

void vkp_device_close(VkpDevice* dev) {
    if (!dev) return;
    gpu_free(&dev->g);
    free(dev);
}

// ---------------------------------------------------------------------------

VkpStatus vkp_config_new(VkpConfig** out) {
    VkpConfig* c = xcalloc(1, sizeof *c);
    opts_set_defaults(train_options(), &c->c);
    *out = c;
    return VKP_OK;
}

VkpStatus vkp_config_load(VkpConfig* cfg, const char* json_path, VkpError* err) {
    if (opts_load_json_marked(train_options(), &cfg->c, json_path, &cfg->marks, ERRBUF(err)))
        return from_run(RUN_ERR_INPUT, err);
    return VKP_OK;
}

VkpStatus vkp_config_set(VkpConfig* cfg, const char* key, const char* value, VkpError* err) {
    if (opts_set(train_options(), &cfg->c, key, value, "vkp_config_set", ERRBUF(err)))
        return from_run(RUN_ERR_INPUT, err);
    cfg->marks.set[opts_index(train_options(), key)] = true;
    return VKP_OK;
}

char* vkp_config_to_json(const VkpConfig* cfg) {
    TrainConfig c = resolved(cfg);
    return opts_to_json(train_options(), &c);
}

void vkp_config_free(VkpConfig* cfg) {
    if (!cfg) return;
    opts_free(train_options(), &cfg->c);
    free(cfg);
}

// ---------------------------------------------------------------------------

const char* vkp_metric_name(int k) {
    return k >= 0 && k < OBJ_METRICS_COUNT ? objective_metric_name((ObjMetric)k) : NULL;
}

VkpStatus vkp_run_open(VkpDevice* dev, const VkpConfig* cfg, VkpRun** out, VkpError* err) {
    *out = NULL;
    TrainRun* r;
    TrainConfig c = resolved(cfg);
    RunStatus st = train_run_open(&r, &dev->g, &c, NULL, ERRBUF(err));
    if (st) return from_run(st, err);
    *out = xcalloc(1, sizeof **out);
    (*out)->run = r;
    return VKP_OK;
}

int vkp_run_done(const VkpRun* run) { return train_run_done(run->run); }
int vkp_run_total(const VkpRun* run) { return train_run_total(run->run); }

VkpStatus vkp_run_step(VkpRun* run, VkpStepMetrics* out, VkpError* err) {
    TrainStepReport rep;
    RunStatus st = train_run_step(run->run, &rep, ERRBUF(err));
    if (st) return from_run(st, err);
    memset(out, 0, sizeof *out);
    out->step = rep.step, out->total = rep.total;
    out->loss = rep.loss, out->lr = rep.lr, out->grad_norm = rep.grad_norm, out->images_per_s = rep.images_per_s;
    out->val_loss = rep.val_loss;
    out->nmetrics = OBJ_METRICS_COUNT;
    for (int k = 0; k < OBJ_METRICS_COUNT; k++) out->metrics[k] = rep.metrics[k];
    out->checkpoint_saved = rep.checkpoint_saved;
    return VKP_OK;
}

VkpStatus vkp_run_save(VkpRun* run, VkpError* err) { return from_run(train_run_finish(run->run, ERRBUF(err)), err); }

void vkp_run_close(VkpRun* run) {
    if (!run) return;
    train_run_close(run->run);
    free(run);
}

// ---------------------------------------------------------------------------

VkpStatus vkp_model_open(VkpDevice* dev, const char* pipeline_dir, VkpModel** out, VkpError* err) {
    *out = NULL;
    VkpModel* m = xcalloc(1, sizeof *m);
    m->dev = dev;
    if (pipeline_load(&m->p, &dev->g, pipeline_dir, (PipelineAlloc){0}, ERRBUF(err))) {
        free(m);
        return from_run(RUN_ERR_INPUT, err);
    }
    int in = m->p.unet_cfg.in_channels, out_ch = m->p.unet_cfg.out_channels;
    if (out_ch != in) {
        pipeline_free(&m->p);
        free(m);
        return set_error(err, VKP_ERR_INPUT, "%s: the UNet predicts %d channels for %d input channels", pipeline_dir,
                         out_ch, in);
    }
    *out = m;
    return VKP_OK;
}

void vkp_model_image_shape(const VkpModel* model, int* channels, int* size) {
    pipeline_image_shape(&model->p, channels, size);
}

void vkp_model_close(VkpModel* model) {
    if (!model) return;
    pipeline_free(&model->p);
    free(model);
}

// The generator's settings from opt, checked against the model's schedule.
static VkpStatus generate_settings(const VkpModel* m, const VkpSampleOptions* opt, GenerateSettings* s, int* batch,
                                   VkpError* err) {
    VkpSampleOptions o = opt ? *opt : (VkpSampleOptions){0};
    memset(s, 0, sizeof *s);
    if (sampler_parse(o.sampler ? o.sampler : "ddim", &s->sampler))
        return set_error(err, VKP_ERR_INPUT, "sampler \"%s\": use ddim, ddpm or euler", o.sampler);
    s->steps = o.steps ? o.steps : 25;
    int T = m->p.sched.num_train_timesteps;
    if (s->steps < 1 || s->steps > T)
        return set_error(err, VKP_ERR_INPUT, "steps %d: use 1..%d (the model's training timesteps)", s->steps, T);
    if (!(o.eta >= 0) || !isfinite(o.eta)) return set_error(err, VKP_ERR_INPUT, "eta %g: must be >= 0", o.eta);
    if (!isfinite(o.guidance_scale))
        return set_error(err, VKP_ERR_INPUT, "guidance_scale %g: must be finite", o.guidance_scale);
    s->eta = (float)o.eta, s->cfg = (float)o.guidance_scale;
    *batch = o.batch ? o.batch : 16;
    if (*batch < 1) return set_error(err, VKP_ERR_INPUT, "batch %d: must be >= 1", *batch);
    return VKP_OK;
}

VkpStatus vkp_sample(VkpModel* model, const VkpSampleOptions* opt, const char* const* prompts,
                     const uint64_t* seeds, int n, float* images, VkpError* err) {
    if (n < 1) return set_error(err, VKP_ERR_INPUT, "%d images asked for: need at least 1", n);
    GenerateSettings s;
    int batch = 1;
    VkpStatus st = generate_settings(model, opt, &s, &batch, err);
    if (st) return st;
    Generator gen;
    generator_init(&gen, &model->dev->g, &model->p, batch < n ? batch : n, s);
    generator_run(&gen, prompts, seeds, n, images, NULL, NULL);
    generator_free(&gen);
    if (model->dev->g.device_lost) return set_error(err, VKP_ERR_DEVICE, "the Vulkan device was lost while sampling");
    return VKP_OK;
}

VkpStatus vkp_evaluate(VkpModel* model, VkpModel* base, const char* judge, const VkpSampleOptions* opt,
                       const char* const* prompts, int nprompts, const uint64_t* seeds, int nseeds,
                       double tie_margin, VkpWinRate* out, VkpError* err) {
    int ca, sa, cb, sb;
    vkp_model_image_shape(model, &ca, &sa);
    vkp_model_image_shape(base, &cb, &sb);
    if (ca != cb || sa != sb) return set_error(err, VKP_ERR_INPUT, "the base's images are not the model's shape");
    if (!(tie_margin >= 0)) return set_error(err, VKP_ERR_INPUT, "tie_margin %g: must be >= 0", tie_margin);
    if (nprompts < 1 || nseeds < 1) return set_error(err, VKP_ERR_INPUT, "need at least one prompt and one seed");
    Judge j;
    if (judge_open(&j, &model->dev->g, judge, ERRBUF(err))) return from_run(RUN_ERR_INPUT, err);
    int n = nprompts * nseeds;
    const char** caps = xmalloc((size_t)n * sizeof *caps);
    uint64_t* sd = xmalloc((size_t)n * sizeof *sd);
    for (int i = 0; i < n; i++) caps[i] = prompts[i / nseeds], sd[i] = seeds[i % nseeds];
    size_t numel = (size_t)ca * (size_t)sa * (size_t)sa;
    float *ia = xmalloc((size_t)n * numel * sizeof *ia), *ib = xmalloc((size_t)n * numel * sizeof *ib);
    double *score_a = xmalloc((size_t)n * sizeof *score_a), *score_b = xmalloc((size_t)n * sizeof *score_b);
    VkpStatus st = vkp_sample(model, opt, caps, sd, n, ia, err);
    if (!st) st = vkp_sample(base, opt, caps, sd, n, ib, err);
    if (!st && (judge_score(&j, ia, caps, n, score_a) || judge_score(&j, ib, caps, n, score_b)))
        st = set_error(err, VKP_ERR_INPUT, "judge %s: %s", j.name, j.err);
    if (!st) {
        WinStats w = winrate(score_a, score_b, n, tie_margin);
        *out = (VkpWinRate){w.n, w.wins, w.ties, w.losses, w.rate, w.ci_lo, w.ci_hi, w.mean_model, w.mean_base};
    }
    free(ia), free(ib), free(score_a), free(score_b), free(caps), free(sd);
    judge_close(&j);
    return st;
}
