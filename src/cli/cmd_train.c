// cmd_train.c: `vkpref train`: pre-training (sft) from scratch on the embedded
// Fashion-MNIST set. The model comes from --model_config (UNet, text encoder,
// tokenizer and scheduler sections); the tokenizer is trained on the captions.
// Every random choice of step s is a function of (seed, s) (util/rng.h).
// Not yet: manifests, --pretrained_model_name_or_path, checkpoints/resume,
// validation loss and grids (the options exist and are rejected clearly).
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "io/fmnist.h"
#include "model/pipeline_io.h"
#include "model/tokenizer.h"
#include "train/lr_schedule.h"
#include "train/step.h"
#include "train/train_config.h"
#include "util/check.h"
#include "util/fsutil.h"
#include "util/json_fields.h"
#include "util/progress.h"
#include "util/rng.h"
#include "util/timer.h"

typedef struct ModelSpec {
    UNetConfig unet;
    ClipConfig clip;
    SchedulerConfig sched;
    int merges, max_length;
} ModelSpec;

static char* section(const cJSON* root, const char* key, const char* path) {
    const cJSON* o = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!cJSON_IsObject(o)) die("%s: missing object \"%s\"", path, key);
    return cJSON_PrintUnformatted(o);
}

static void load_model_spec(ModelSpec* m, const char* path) {
    char err[1024];
    char* text = json_read_file(path, err, sizeof err);
    if (!text) die("%s (--model_config)", err);
    cJSON* root = json_parse_object(text, path, err, sizeof err);
    free(text);
    if (!root) die("%s", err);
    char* s = section(root, "unet", path);
    if (unet_config_parse(&m->unet, s, path, err, sizeof err)) die("%s (in \"unet\")", err);
    free(s);
    s = section(root, "text_encoder", path);
    if (clip_config_parse(&m->clip, s, path, err, sizeof err)) die("%s (in \"text_encoder\")", err);
    free(s);
    s = section(root, "scheduler", path);
    if (scheduler_config_parse(&m->sched, s, path, err, sizeof err)) die("%s (in \"scheduler\")", err);
    free(s);
    s = section(root, "tokenizer", path);
    cJSON* tok = cJSON_Parse(s);
    JsonFields f = {tok, path, err, sizeof err, 0};
    m->merges = json_int(&f, "merges", 400, false);
    m->max_length = json_int(&f, "model_max_length", m->clip.max_position_embeddings, false);
    if (f.failed) die("%s (in \"tokenizer\")", err);
    cJSON_Delete(tok);
    free(s);
    cJSON_Delete(root);
    if (m->max_length > m->clip.max_position_embeddings)
        die("%s: tokenizer model_max_length %d exceeds max_position_embeddings %d", path, m->max_length,
            m->clip.max_position_embeddings);
}

static void check_supported(const TrainConfig* c) {
    if (strcmp(c->objective, "sft")) die("--objective %s: only sft is implemented so far", c->objective);
    if (strcmp(c->dataset, "fmnist")) die("--dataset %s: only the embedded \"fmnist\" set is implemented so far", c->dataset);
    if (*c->pretrained_model_name_or_path) die("--pretrained_model_name_or_path: loading a pipeline is not implemented yet");
    if (*c->resume_from_checkpoint) die("--resume_from_checkpoint: checkpoints are not implemented yet");
    if (c->train_batch_size < 1 || c->max_train_steps < 1 || c->gradient_accumulation_steps != 1)
        die("--train_batch_size and --max_train_steps must be >= 1; --gradient_accumulation_steps must be 1 for now");
}

// Every caption the embedded set can produce: class captions with all attribute words.
static int all_captions(char caps[][96]) {
    int n = 0;
    for (int l = 0; l < FMNIST_CLASSES; l++)
        for (int t = 0; t < 3; t++)
            for (int s = 0; s < 3; s++) fmnist_caption_with(l, (FmnistTone)t, (FmnistSize)s, caps[n++], 96);
    return n;
}

int cmd_train(int argc, char** argv) {
    TrainConfig c;
    int pr = opts_parse(train_options(), &c, argc, argv);
    if (pr) return pr > 0 ? 0 : 2;
    check_supported(&c);
    LrSchedule lrs;
    if (lr_schedule_parse(c.lr_scheduler, &lrs)) die("--lr_scheduler %s: use constant, constant_with_warmup, linear or cosine", c.lr_scheduler);
    ModelSpec ms;
    load_model_spec(&ms, c.model_config);
    char err[1024], path[4096];
    if (mkdir_p(c.output_dir, err, sizeof err)) die("%s", err);
    char* cfg_json = opts_to_json(train_options(), &c);
    snprintf(path, sizeof path, "%s/train_config.json", c.output_dir);
    if (write_file_atomic(path, cfg_json, strlen(cfg_json), err, sizeof err)) die("%s", err);
    free(cfg_json);

    // Tokenizer from the captions; the text encoder's vocabulary follows it.
    static char caps[FMNIST_CLASSES * 9][96];
    int ncap = all_captions(caps);
    const char* texts[FMNIST_CLASSES * 9];
    for (int i = 0; i < ncap; i++) texts[i] = caps[i];
    BpeVocab vocab;
    bpe_train(&vocab, texts, ncap, ms.merges, 1);
    snprintf(path, sizeof path, "%s/tokenizer", c.output_dir);
    if (mkdir_p(path, err, sizeof err) || bpe_save(&vocab, path, ms.max_length, err, sizeof err)) die("%s", err);
    Tokenizer tok;
    if (tokenizer_load(&tok, path, err, sizeof err)) die("%s", err);
    ms.clip.vocab_size = vocab.vocab_size;

    Fmnist ds;
    fmnist_load_or_die(&ds, NULL, FMNIST_TRAIN);

    GpuContext g;
    GpuOptions go = GPU_DEFAULTS;
    go.device = c.device;
    go.quiet = false;
    if (gpu_init(&g, &go)) die("no usable Vulkan device (see `vkpref info`)");
    ParamStore ups, tps;
    param_store_init(&ups, &g), param_store_init(&tps, &g);
    UNet unet;
    ClipTextModel clip;
    unet_init(&unet, &ms.unet, &ups);
    clip_init(&clip, &ms.clip, &tps);
    param_store_alloc(&ups, true, true, c.use_ema);
    param_store_alloc(&tps, c.train_text_encoder, c.train_text_encoder, false);
    param_store_init_random(&ups, (uint64_t)c.seed * 2 + 1);
    param_store_init_random(&tps, (uint64_t)c.seed * 2 + 2);
    if (c.use_ema)  // EMA starts from the initial weights
        for (int k = 0; k < param_chunks(&ups); k++) {
            Cmd cc;
            cmd_begin(&cc, &g);
            Tensor src = param_chunk(&ups, &ups.value, k), dst = param_chunk(&ups, &ups.ema, k);
            cmd_copy(&cc, &dst, &src);
            cmd_submit(&cc);
            cmd_free(&cc);
        }
    fprintf(stderr, "vkpref train: UNet %lld parameters, text encoder %lld, vocabulary %d\n", (long long)param_count(&ups),
            (long long)param_count(&tps), vocab.vocab_size);

    int B = c.train_batch_size, L = ms.max_length, S = ms.unet.sample_size;
    TrainStepConfig sc = {.batch = B, .text_len = L, .train_text_encoder = c.train_text_encoder,
                          .max_grad_norm = (float)c.max_grad_norm, .ema = c.use_ema,
                          .adam = {(float)c.adam_beta1, (float)c.adam_beta2, (float)c.adam_epsilon, (float)c.adam_weight_decay}};
    TrainStep st;
    train_step_init(&st, &g, &unet, &ups, &clip, &tps, sc);
    NoiseSchedule sched;
    schedule_init(&sched, &ms.sched);

    snprintf(path, sizeof path, "%s/train_log.csv", c.output_dir);
    FILE* csv = fopen(path, "w");
    if (!csv) die("%s: cannot write", path);
    fprintf(csv, "step,loss,lr,grad_norm,images_per_s\n");
    int64_t E = (int64_t)ms.unet.in_channels * S * S;
    float* x0 = xmalloc((size_t)E * sizeof *x0);
    float* eps = xmalloc((size_t)E * sizeof *eps);
    int32_t* ids = xmalloc((size_t)L * sizeof *ids);
    Progress prog;
    progress_begin(&prog, "train", c.max_train_steps, 0);
    double t_start = now_seconds(), loss_ema = NAN;
    for (int s = 0; s < c.max_train_steps; s++) {
        uint64_t seed = (uint64_t)c.seed;
        float *xt = step_ptr(&st.x_t), *tg = step_ptr(&st.target), *ts = step_ptr(&st.timesteps), *cf = step_ptr(&st.coef);
        uint32_t* tid = (uint32_t*)step_ptr(&st.ids);
        for (int i = 0; i < B; i++) {
            int idx = (int)rng_below(seed, (uint64_t)s, RNG_STREAM_BATCH, (uint64_t)i, (uint32_t)ds.n);
            fmnist_image(&ds, idx, x0);
            int t = (int)rng_below(seed, (uint64_t)s, RNG_STREAM_TIMESTEP, (uint64_t)i, (uint32_t)ms.sched.num_train_timesteps);
            rng_normal_fill(eps, E, seed, (uint64_t)s, RNG_STREAM_NOISE, (uint64_t)i * (uint64_t)E);
            double a, b;
            schedule_noise_coefs(&sched, t, &a, &b);
            for (int64_t k = 0; k < E; k++) {
                xt[i * E + k] = (float)(a * x0[k] + b * eps[k]);
                tg[i * E + k] = ms.sched.prediction_type == PRED_V ? (float)(a * eps[k] - b * x0[k]) : eps[k];
            }
            ts[i] = (float)t;
            cf[i] = 1.0f / (float)B;
            char cap[96] = "";
            if (rng_u01(seed, (uint64_t)s, RNG_STREAM_DROPOUT, (uint64_t)i) >= c.proportion_empty_prompts) {
                if (c.caption_attributes) fmnist_attr_caption(&ds, idx, &FMNIST_TRAIN_THRESHOLDS, cap, sizeof cap);
                else snprintf(cap, sizeof cap, "%s", fmnist_caption(ds.labels[idx]));
            }
            tokenizer_encode(&tok, cap, L, ids);
            for (int k = 0; k < L; k++) tid[i * L + k] = (uint32_t)ids[k];
        }
        double lr = lr_at(lrs, c.learning_rate, s, c.lr_warmup_steps, c.max_train_steps);
        float* sv = step_ptr(&st.scalars);
        sv[STEP_LR] = (float)lr;
        sv[STEP_BC1] = (float)(1 - pow((double)sc.adam.beta1, s + 1));
        sv[STEP_BC2] = (float)(1 - pow((double)sc.adam.beta2, s + 1));
        sv[STEP_EMA_DECAY] = (float)c.ema_decay;
        cmd_submit(&st.update);
        const float* mse = step_ptr(&st.mse);
        double loss = 0;
        for (int i = 0; i < B; i++) loss += mse[i] / B;
        double gnorm = step_ptr(&st.stats)[0];
        if (!isfinite(loss) || !isfinite(gnorm)) {
            progress_pause(&prog);
            die("step %d: loss %g, gradient norm %g: stopping (lower --learning_rate?)", s + 1, loss, gnorm);
        }
        loss_ema = isnan(loss_ema) ? loss : 0.98 * loss_ema + 0.02 * loss;
        double ips = (double)B * (s + 1) / (now_seconds() - t_start);
        if ((s + 1) % c.log_every == 0 || s + 1 == c.max_train_steps) {
            fprintf(csv, "%d,%.6f,%.6g,%.6f,%.2f\n", s + 1, loss, lr, gnorm, ips);
            fflush(csv);
        }
        char extra[128];
        snprintf(extra, sizeof extra, "loss %.4f lr %.2e %.1f img/s", loss_ema, lr, ips);
        progress_update(&prog, s + 1, extra);
    }
    progress_end(&prog);
    fclose(csv);

    PipelineParts parts = {.unet_cfg = &ms.unet, .unet_ps = &ups, .clip_cfg = &ms.clip, .text_ps = &tps,
                           .vocab = &vocab, .model_max_length = L, .sched = &ms.sched, .use_ema = c.use_ema,
                           .f16 = c.save_f16};
    if (pipeline_save(&parts, c.output_dir, err, sizeof err)) die("%s", err);
    fprintf(stderr, "vkpref train: pipeline written to %s\n", c.output_dir);

    free(x0), free(eps), free(ids);
    schedule_free(&sched);
    train_step_free(&st);
    param_store_free(&ups), param_store_free(&tps);
    tokenizer_free(&tok);
    bpe_free(&vocab);
    fmnist_free(&ds);
    gpu_free(&g);
    return 0;
}
