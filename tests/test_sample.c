// test_sample.c: the image generator (src/sample/generator.h) and `vkpref sample`.
//
// The fixture is a tiny pipeline with random weights (the golden tiny UNet's
// config, an 8x8 one-channel model, a one-layer text encoder and the tiny test
// tokenizer), built in the test process and saved as a pipeline folder for the
// CLI tests. Random weights are enough: every check here is about the sampling
// machinery (determinism, batching, guidance, the sampler algebra, outputs),
// not about image quality.
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/options.h"
#include "io/image_decode.h"
#include "io/png_image.h"
#include "render/grid.h"
#include "sample/generator.h"
#include "sample/sample_inputs.h"
#include "sample/sample_output.h"
#include "test_util.h"
#include "util/check.h"
#include "util/fsutil.h"

// ---------------------------------------------------------------------------
// Fixture

static const char* CLIP_JSON =
    "{\"vocab_size\": 32, \"hidden_size\": 16, \"intermediate_size\": 32, \"num_hidden_layers\": 1,"
    " \"num_attention_heads\": 2, \"max_position_embeddings\": 8, \"hidden_act\": \"quick_gelu\","
    " \"layer_norm_eps\": 1e-5}";

// A tiny pipeline with weights drawn from seed (in memory, on tgpu).
static void make_pipeline_alloc(DiffusionPipeline* p, uint64_t seed, PipelineAlloc alloc) {
    char err[512];
    UNetConfig uc;
    ClipConfig cc;
    cr_assert_eq(unet_config_load(&uc, VKPREF_TEST_DATA "/golden/tiny/unet/config.json", err, sizeof err), 0, "%s", err);
    cr_assert_eq(clip_config_parse(&cc, CLIP_JSON, "test clip", err, sizeof err), 0, "%s", err);
    SchedulerConfig sc = scheduler_config_default();
    cr_assert_eq(pipeline_create(p, &tgpu, &uc, &cc, &sc, VKPREF_TEST_DATA "/tokenizer_tiny", alloc, err, sizeof err), 0,
                 "%s", err);
    param_store_init_random(&p->unet_ps, seed * 2 + 1);
    param_store_init_random(&p->text_ps, seed * 2 + 2);
}

static void make_pipeline(DiffusionPipeline* p, uint64_t seed) { make_pipeline_alloc(p, seed, (PipelineAlloc){0}); }

// The same, saved as a pipeline folder at dir.
static void save_pipeline(const char* dir, uint64_t seed) {
    char err[512];
    DiffusionPipeline p;
    make_pipeline(&p, seed);
    cr_assert_eq(pipeline_save_model(&p, dir, false, false, err, sizeof err), 0, "%s", err);
    pipeline_free(&p);
}

static float* generate(DiffusionPipeline* p, int batch, GenerateSettings s, const char* const* prompts,
                       const uint64_t* seeds, int n) {
    Generator g;
    generator_init(&g, &tgpu, p, batch, s);
    float* out = xmalloc((size_t)n * g.numel * sizeof *out);
    cr_assert_eq(generator_run(&g, prompts, seeds, n, out, NULL, NULL), 0, "non-finite images");
    generator_free(&g);
    return out;
}

#define E 64  // numel of one 1x8x8 image of the fixture

static bool same_image(const float* a, const float* b) { return memcmp(a, b, E * sizeof *a) == 0; }

// ---------------------------------------------------------------------------
// Generator

// An image is a function of (prompt, seed, settings): bit-identical across runs,
// batch sizes, positions in the batch, and a padded last batch.
Test(generator, images_do_not_depend_on_batching, GPU_TEST, .timeout = 120) {
    require_gpu();
    DiffusionPipeline p;
    make_pipeline(&p, 1);
    // DDPM draws fresh noise every step: the strictest case for "position-free" noise.
    GenerateSettings s = {.sampler = SAMPLER_DDPM, .steps = 3, .cfg = 3.0f};
    const char* prompts[3] = {"a cat", "a photo of a hat", "cats"};
    uint64_t seeds[3] = {1, 5, 7};
    float* one_a = generate(&p, 1, s, &prompts[1], &seeds[1], 1);
    float* one_b = generate(&p, 1, s, &prompts[1], &seeds[1], 1);
    float* three = generate(&p, 3, s, prompts, seeds, 3);
    float* padded = generate(&p, 2, s, prompts, seeds, 3);  // batches of 2: the second is padded
    cr_assert(same_image(one_a, one_b), "two runs differ");
    cr_assert(same_image(one_a, three + E), "batch 1 and the middle of batch 3 differ");
    for (int k = 0; k < 3; k++) cr_assert(same_image(three + k * E, padded + k * E), "image %d: batch 3 vs 2", k);
    // Different seeds (and prompts) give different images.
    cr_assert(!same_image(three, three + E) && !same_image(three + E, three + 2 * E));
    float* other_seed = generate(&p, 1, s, &prompts[1], &seeds[2], 1);
    cr_assert(!same_image(one_a, other_seed), "seeds 5 and 7 gave the same image");
    free(one_a), free(one_b), free(three), free(padded), free(other_seed);
    pipeline_free(&p);
    ASSERT_NO_VALIDATION_MESSAGES();
}

// Every sampler, with and without guidance, runs and gives finite images in [-1, 1];
// guidance changes the result.
Test(generator, samplers_with_and_without_guidance, GPU_TEST, .timeout = 120) {
    require_gpu();
    DiffusionPipeline p;
    make_pipeline(&p, 2);
    const char* prompts[2] = {"a photo of a cat", ""};
    uint64_t seeds[2] = {3, 4};
    SamplerKind kinds[3] = {SAMPLER_DDPM, SAMPLER_DDIM, SAMPLER_EULER};
    for (int k = 0; k < 3; k++) {
        float* img[2];
        for (int guided = 0; guided < 2; guided++) {
            GenerateSettings s = {.sampler = kinds[k], .steps = 2, .cfg = guided ? 4.0f : 1.0f, .eta = 0.5f};
            img[guided] = generate(&p, 2, s, prompts, seeds, 2);
            double sum2 = 0;
            for (int i = 0; i < 2 * E; i++) {
                float v = img[guided][i];
                cr_assert(isfinite(v) && v >= -1.0f && v <= 1.0f, "%s cfg %g: value %g", sampler_name(kinds[k]),
                          (double)s.cfg, (double)v);
                sum2 += v * v;
            }
            cr_assert_gt(sum2, 0.0, "%s: all-zero images", sampler_name(kinds[k]));
        }
        cr_assert(!same_image(img[0], img[1]), "%s: guidance changed nothing", sampler_name(kinds[k]));
        free(img[0]), free(img[1]);
    }
    pipeline_free(&p);
    ASSERT_NO_VALIDATION_MESSAGES();
}

// use_ema samples with the UNet's EMA weights: EMA = the weights of seed 7,
// values = other weights; the images are those of a pipeline of seed 7.
Test(generator, use_ema_samples_the_ema_weights, GPU_TEST, .timeout = 120) {
    require_gpu();
    DiffusionPipeline ref, p;
    make_pipeline(&ref, 7);
    make_pipeline_alloc(&p, 7, (PipelineAlloc){.unet_ema = true});
    param_store_reset_ema(&p.unet_ps);
    param_store_init_random(&p.unet_ps, 99);
    const char* prompt = "a cat";
    uint64_t seed = 2;
    GenerateSettings s = {.sampler = SAMPLER_DDIM, .steps = 2, .cfg = 2.0f};
    float* want = generate(&ref, 1, s, &prompt, &seed, 1);
    float* values = generate(&p, 1, s, &prompt, &seed, 1);
    s.use_ema = true;
    float* ema = generate(&p, 1, s, &prompt, &seed, 1);
    cr_assert(same_image(ema, want), "use_ema did not sample the EMA weights");
    cr_assert(!same_image(values, want), "the values should differ from the EMA");
    free(want), free(values), free(ema);
    pipeline_free(&ref), pipeline_free(&p);
    ASSERT_NO_VALIDATION_MESSAGES();
}

// The UNet prediction [uncond; cond] at x for timestep t, from a separate
// recording (one submit), for the plain-C sampling loop below.
static void unet_guided(DiffusionPipeline* p, const float* x, int t, const char* prompt, float* out_u, float* out_c) {
    int L = p->max_length;
    Arena act, tmp;
    arena_init(&act, &tgpu, "ref act", 0, false);
    arena_init(&tmp, &tgpu, "ref tmp", 0, false);
    Tensor ids = arena_tensor1(&act, 2 * L), ts = arena_tensor1(&act, 2), xin = arena_tensor4(&act, 2, 1, 8, 8);
    uint32_t idv[32];
    int32_t tok[16];
    const char* caps[2] = {"", prompt};
    for (int r = 0; r < 2; r++) {
        tokenizer_encode(&p->tok, caps[r], L, tok);
        for (int k = 0; k < L; k++) idv[r * L + k] = (uint32_t)tok[k];
    }
    tensor_upload_raw(&tgpu, &ids, idv);
    float tv[2] = {(float)t, (float)t}, xv[2 * E];
    memcpy(xv, x, E * sizeof *x), memcpy(xv + E, x, E * sizeof *x);
    tensor_upload(&tgpu, &ts, tv);
    tensor_upload(&tgpu, &xin, xv);
    Cmd c;
    cmd_begin(&c, &tgpu);
    UNetActs* unet_acts = calloc(1, sizeof *unet_acts);
    ClipActs* clip_acts = calloc(1, sizeof *clip_acts);
    Graph gt = {.cmd = &c, .ps = &p->text_ps, .act = &act, .tmp = &tmp, .training = false};
    Tensor ehs = clip_forward(&gt, &p->clip, clip_acts, &ids, 2, L);
    Graph gu = {.cmd = &c, .ps = &p->unet_ps, .act = &act, .tmp = &tmp, .training = false};
    Tensor out = unet_forward(&gu, &p->unet, unet_acts, &xin, &ts, &ehs);
    free(unet_acts), free(clip_acts);
    cmd_end(&c);
    cmd_submit(&c);
    float ov[2 * E];
    tensor_download(&tgpu, &out, ov);
    memcpy(out_u, ov, E * sizeof *ov), memcpy(out_c, ov + E, E * sizeof *ov);
    cmd_free(&c);
    arena_free(&act), arena_free(&tmp);
}

// Two DDIM steps (eta 0) with guidance against the closed form computed on the
// host in double precision from separate UNet forwards:
//   out = u + w (c - u); x0 = clamp((x - sqrt(1-a) out) / sqrt(a), -1, 1)
//   eps = (x - sqrt(a) x0) / sqrt(1-a); x' = sqrt(a_prev) x0 + sqrt(1-a_prev) eps
// with timesteps 500 then 0 (leading spacing) and a_prev = 1 after the last step.
Test(generator, ddim_matches_the_closed_form, GPU_TEST, .timeout = 120) {
    require_gpu();
    DiffusionPipeline p;
    make_pipeline(&p, 3);
    const float w = 2.5f;
    const char* prompt = "a photo of a hat";
    uint64_t seed = 11;
    GenerateSettings s = {.sampler = SAMPLER_DDIM, .steps = 2, .cfg = w, .eta = 0};
    float* got = generate(&p, 1, s, &prompt, &seed, 1);

    NoiseSchedule sch;
    schedule_init(&sch, &p.sched);
    float x[E], u[E], c[E];
    generator_noise(seed, 0, E, x);
    const int ts[2] = {500, 0};
    for (int i = 0; i < 2; i++) {
        double a = sch.alphas_cumprod[ts[i]], a_prev = i == 0 ? sch.alphas_cumprod[0] : 1.0;
        unet_guided(&p, x, ts[i], prompt, u, c);
        for (int k = 0; k < E; k++) {
            double out = u[k] + (double)w * (c[k] - u[k]);
            double x0 = fmin(fmax((x[k] - sqrt(1 - a) * out) / sqrt(a), -1.0), 1.0);
            double eps = (x[k] - sqrt(a) * x0) / sqrt(1 - a);
            x[k] = (float)(sqrt(a_prev) * x0 + sqrt(1 - a_prev) * eps);
        }
    }
    double want[E], gotd[E];
    for (int k = 0; k < E; k++) want[k] = x[k], gotd[k] = got[k];
    ASSERT_CLOSE("2-step DDIM", gotd, want, E, ((Tol){.rtol = 1e-4, .atol = 1e-4, .nmse = 1e-8}));
    schedule_free(&sch);
    free(got);
    pipeline_free(&p);
    ASSERT_NO_VALIDATION_MESSAGES();
}

// ---------------------------------------------------------------------------
// Inputs

Test(sample_inputs, seed_lists) {
    uint64_t* s;
    int n;
    char err[256];
    cr_assert_eq(seeds_parse("0-3,9", &s, &n, err, sizeof err), 0, "%s", err);
    cr_assert_eq(n, 5);
    uint64_t want[5] = {0, 1, 2, 3, 9};
    for (int i = 0; i < 5; i++) cr_assert_eq(s[i], want[i]);
    free(s);
    cr_assert_eq(seeds_parse("7", &s, &n, err, sizeof err), 0, "%s", err);
    cr_assert(n == 1 && s[0] == 7);
    free(s);
    const char* bad[] = {"", "3-1", "a", "1,,2", "-2", "1-", "0-3,2", "1.5", "0-200000"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err[0] = 0;
        cr_assert_eq(seeds_parse(bad[i], &s, &n, err, sizeof err), -1, "\"%s\" accepted", bad[i]);
        cr_assert(*err, "no message for \"%s\"", bad[i]);
    }
}

static void write_text_file(const char* path, const char* text) {
    FILE* f = fopen(path, "w");
    cr_assert(f);
    fputs(text, f);
    fclose(f);
}

Test(sample_inputs, prompt_files) {
    char d[64];
    temp_dir(d, "sample");
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/p.txt", d);
    write_text_file(path, "a cat\r\n\n  \nthe hat\n");
    char** pr = NULL;
    int n = 0;
    cr_assert_eq(prompts_read(path, &pr, &n, err, sizeof err), 0, "%s", err);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(pr[0], "a cat");
    cr_assert_str_eq(pr[1], "the hat");
    prompts_free(pr, n);

    write_text_file(path, "\n \n");
    pr = NULL, n = 0;
    cr_assert_eq(prompts_read(path, &pr, &n, err, sizeof err), -1);
    cr_assert(strstr(err, path), "%s", err);
    char* longline = xmalloc(SAMPLE_PROMPT_MAX + 16);
    memset(longline, 'a', SAMPLE_PROMPT_MAX + 1);
    strcpy(longline + SAMPLE_PROMPT_MAX + 1, "\n");
    char text[SAMPLE_PROMPT_MAX + 64];
    snprintf(text, sizeof text, "ok\n%s", longline);
    write_text_file(path, text);
    cr_assert_eq(prompts_read(path, &pr, &n, err, sizeof err), -1);
    char where[600];
    snprintf(where, sizeof where, "%s:2:", path);
    cr_assert(strstr(err, where), "error names file and line: %s", err);
    free(pr);
    free(longline);
    remove_temp_dir(d);
}

// The repeatable option type added for --prompt: values in order; a config
// file's list is replaced (not extended) by command-line values.
typedef struct ListCfg {
    OptStrings p;
    int k;
} ListCfg;

Test(sample_inputs, repeatable_option) {
    static const OptSpec specs[] = {{"p", OPT_STRING_LIST, offsetof(ListCfg, p), "", "list", OPT_ANY},
                                    {"k", OPT_INT, offsetof(ListCfg, k), "1", "int", OPT_GE(0)}};
    OptTable t = {.command = "test", .summary = "test", .specs = specs, .n = 2};
    char d[64];
    temp_dir(d, "sample");
    char cfgpath[512];
    snprintf(cfgpath, sizeof cfgpath, "%s/c.json", d);
    write_text_file(cfgpath, "{\"p\": [\"x\", \"y\", \"z\"]}");
    ListCfg c;
    char* argv1[] = {"test", "--config", cfgpath};
    cr_assert_eq(opts_parse(&t, &c, 3, argv1), 0);
    cr_assert(c.p.n == 3 && !strcmp(c.p.v[2], "z"));
    opts_free(&t, &c);
    char* argv2[] = {"test", "--p", "a b", "--config", cfgpath, "--p=c"};
    cr_assert_eq(opts_parse(&t, &c, 6, argv2), 0);
    cr_assert_eq(c.p.n, 2);
    cr_assert_str_eq(c.p.v[0], "a b");
    cr_assert_str_eq(c.p.v[1], "c");
    char* j = opts_to_json(&t, &c);
    cr_assert(strstr(j, "\"a b\""), "%s", j);
    free(j);
    opts_free(&t, &c);
    char* argv3[] = {"test", "--k", "2"};
    cr_assert_eq(opts_parse(&t, &c, 3, argv3), 0);
    cr_assert(c.p.n == 0 && c.k == 2);
    opts_free(&t, &c);
    remove_temp_dir(d);
}

// ---------------------------------------------------------------------------
// The CLI


// The canvas size the CLI's layout should have (labels, title, upscale 2).
static void expected_grid(int rows, int cols, int* w, int* h) {
    static const float dummy[1];
    static const char* label[1] = {"x"};
    GridSpec g = {.rows = rows, .cols = cols, .channels = 1, .height = 8, .width = 8, .images = dummy, .upscale = 2,
                  .row_labels = label, .col_labels = label, .title = "t"};
    grid_size(&g, w, h);
}

static void check_png(const char* path, int want_w, int want_h, int want_c) {
    char err[512];
    int w, h, c;
    float* img = image_load(path, 0, 0, &w, &h, &c, err, sizeof err);
    cr_assert(img, "%s", err);
    cr_assert(w == want_w && h == want_h && c == want_c, "%s: %dx%dx%d, want %dx%dx%d", path, w, h, c, want_w,
              want_h, want_c);
    free(img);
}

static cJSON* load_json(const char* path) {
    char err[512];
    char* text = read_file(path, NULL, err, sizeof err);
    cr_assert(text, "%s", err);
    cJSON* j = cJSON_Parse(text);
    cr_assert(j, "%s: not JSON", path);
    free(text);
    return j;
}

// grid + --save_images: sizes, names, index.json, and the saved pixels equal
// the in-process generator's (same prompt, seed and settings; another batch size).
Test(sample_cli, writes_grid_images_and_index, GPU_TEST, .timeout = 180) {
    require_gpu();
    char d[64];
    temp_dir(d, "sample");
    char model[512], args[4096], out[16384], path[1024];
    snprintf(model, sizeof model, "%s/model", d);
    save_pipeline(model, 4);
    snprintf(args, sizeof args,
             "sample --model %s --prompt \"a photo of a cat\" --prompt hat --seeds 0-1,5 --steps 2 --cfg 2 "
             "--sampler ddpm --batch 4 --out %s/out/grid.png --save_images %s/imgs",
             model, d, d);
    cr_assert_eq(run_cli(args, out, sizeof out), 0, "%s", out);
    int w, h;
    expected_grid(2, 3, &w, &h);
    snprintf(path, sizeof path, "%s/out/grid.png", d);
    check_png(path, w, h, 3);
    const char* names[6] = {"p000_s0000.png", "p000_s0001.png", "p000_s0005.png",
                            "p001_s0000.png", "p001_s0001.png", "p001_s0005.png"};
    for (int i = 0; i < 6; i++) {
        snprintf(path, sizeof path, "%s/imgs/%s", d, names[i]);
        check_png(path, 8, 8, 1);
    }
    snprintf(path, sizeof path, "%s/imgs/index.json", d);
    cJSON* j = load_json(path);
    cr_assert_str_eq(cJSON_GetObjectItem(j, "model")->valuestring, model);
    cr_assert_str_eq(cJSON_GetObjectItem(j, "sampler")->valuestring, "ddpm");
    cr_assert_eq(cJSON_GetObjectItem(j, "steps")->valueint, 2);
    cr_assert_float_eq(cJSON_GetObjectItem(j, "cfg")->valuedouble, 2.0, 1e-9);
    cr_assert(cJSON_GetObjectItem(j, "eta"));
    cJSON* imgs = cJSON_GetObjectItem(j, "images");
    cr_assert_eq(cJSON_GetArraySize(imgs), 6);
    cJSON* e = cJSON_GetArrayItem(imgs, 5);
    cr_assert_str_eq(cJSON_GetObjectItem(e, "file")->valuestring, "p001_s0005.png");
    cr_assert_str_eq(cJSON_GetObjectItem(e, "prompt")->valuestring, "hat");
    cr_assert_eq(cJSON_GetObjectItem(e, "prompt_index")->valueint, 1);
    cr_assert_eq(cJSON_GetObjectItem(e, "seed")->valueint, 5);
    cJSON_Delete(j);

    DiffusionPipeline p;
    char err[512];
    cr_assert_eq(pipeline_load(&p, &tgpu, model, (PipelineAlloc){0}, err, sizeof err), 0, "%s", err);
    const char* prompt = "hat";
    uint64_t seed = 5;
    float* img = generate(&p, 1, (GenerateSettings){.sampler = SAMPLER_DDPM, .steps = 2, .cfg = 2.0f}, &prompt, &seed, 1);
    int iw, ih, ic;
    snprintf(path, sizeof path, "%s/imgs/p001_s0005.png", d);
    uint8_t* px = image_load_u8(path, 0, 0, &iw, &ih, &ic, err, sizeof err);
    cr_assert(px, "%s", err);
    for (int k = 0; k < E; k++) cr_assert_eq(px[k], image_f32_to_u8(img[k]), "pixel %d", k);
    free(px), free(img);
    pipeline_free(&p);
    remove_temp_dir(d);
    ASSERT_NO_VALIDATION_MESSAGES();
}

// --compare: two rows per prompt (a taller grid than one model's), the second
// model's images and index.json under <save_images>/compare/.
Test(sample_cli, compare_doubles_the_rows, GPU_TEST, .timeout = 180) {
    require_gpu();
    char d[64];
    temp_dir(d, "sample");
    char a[512], b[512], args[4096], out[16384], path[1024];
    snprintf(a, sizeof a, "%s/a", d);
    snprintf(b, sizeof b, "%s/b", d);
    save_pipeline(a, 5);
    save_pipeline(b, 6);
    snprintf(path, sizeof path, "%s/prompts.txt", d);
    write_text_file(path, "a cat\n\nthe hat\n");
    snprintf(args, sizeof args,
             "sample --model %s --compare %s --prompts %s --seeds 3,4 --steps 1 --cfg 1 --out %s/grid.png "
             "--save_images %s/imgs",
             a, b, path, d, d);
    cr_assert_eq(run_cli(args, out, sizeof out), 0, "%s", out);
    int w1, h1, w2, h2;
    expected_grid(2, 2, &w1, &h1);  // one model
    expected_grid(4, 2, &w2, &h2);  // [A]/[B] rows for each of the 2 prompts
    cr_assert_gt(h2, h1);
    snprintf(path, sizeof path, "%s/grid.png", d);
    check_png(path, w2, h2, 3);
    char pa[1024], pb[1024], err[512];
    snprintf(pa, sizeof pa, "%s/imgs/p001_s0004.png", d);
    snprintf(pb, sizeof pb, "%s/imgs/compare/p001_s0004.png", d);
    int w, h, c;
    float* ia = image_load(pa, 0, 0, &w, &h, &c, err, sizeof err);
    cr_assert(ia, "%s", err);
    float* ib = image_load(pb, 0, 0, &w, &h, &c, err, sizeof err);
    cr_assert(ib, "%s", err);
    cr_assert(!same_image(ia, ib), "the two models gave the same image");
    free(ia), free(ib);
    snprintf(path, sizeof path, "%s/imgs/compare/index.json", d);
    cJSON* j = load_json(path);
    cr_assert_str_eq(cJSON_GetObjectItem(j, "model")->valuestring, b);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "images")), 4);
    cJSON_Delete(j);
    remove_temp_dir(d);
    ASSERT_NO_VALIDATION_MESSAGES();
}

// Bad input: a clear message naming the flag / folder / file and line, exit code
// 1 (2 for usage errors), and no grid written. None of these reach the GPU.
Test(sample_cli, errors_name_the_culprit) {
    char d[64];
    temp_dir(d, "sample");
    char model[512], args[4096], out[16384], path[1024], grid[1024];
    snprintf(model, sizeof model, "%s/model", d);
    cr_assert_eq(mkdir(model, 0755), 0);
    snprintf(path, sizeof path, "%s/model_index.json", model);
    write_text_file(path, "{}");  // enough for the up-front folder check
    snprintf(grid, sizeof grid, "%s/grid.png", d);

    snprintf(args, sizeof args, "sample --model %s/missing --prompt x --out %s", d, grid);
    cr_assert_eq(run_cli(args, out, sizeof out), 1, "%s", out);
    cr_assert(strstr(out, "--model") && strstr(out, "/missing"), "names the folder: %s", out);

    const char* bad_seeds[] = {"3-1", "x"};
    for (int i = 0; i < 2; i++) {
        snprintf(args, sizeof args, "sample --model %s --prompt x --seeds %s --out %s", model, bad_seeds[i], grid);
        cr_assert_eq(run_cli(args, out, sizeof out), 1, "%s", out);
        cr_assert(strstr(out, "--seeds"), "names the flag: %s", out);
    }

    snprintf(args, sizeof args, "sample --model %s --prompt x --sampler heun --out %s", model, grid);
    cr_assert_eq(run_cli(args, out, sizeof out), 1, "%s", out);
    cr_assert(strstr(out, "--sampler heun"), "%s", out);

    snprintf(path, sizeof path, "%s/empty.txt", d);
    write_text_file(path, "\n");
    snprintf(args, sizeof args, "sample --model %s --prompts %s --out %s", model, path, grid);
    cr_assert_eq(run_cli(args, out, sizeof out), 1, "%s", out);
    cr_assert(strstr(out, path), "names the file: %s", out);

    char* text = xmalloc(SAMPLE_PROMPT_MAX + 64);
    strcpy(text, "fine\nfine too\n");
    size_t k = strlen(text);
    memset(text + k, 'z', SAMPLE_PROMPT_MAX + 1);
    text[k + SAMPLE_PROMPT_MAX + 1] = 0;
    snprintf(path, sizeof path, "%s/long.txt", d);
    write_text_file(path, text);
    free(text);
    snprintf(args, sizeof args, "sample --model %s --prompts %s --out %s", model, path, grid);
    cr_assert_eq(run_cli(args, out, sizeof out), 1, "%s", out);
    char where[1100];
    snprintf(where, sizeof where, "%s:3:", path);
    cr_assert(strstr(out, where), "names file and line: %s", out);

    snprintf(args, sizeof args, "sample --prompt x --out %s", grid);
    cr_assert_eq(run_cli(args, out, sizeof out), 2, "%s", out);
    cr_assert(strstr(out, "--model"), "%s", out);
    snprintf(args, sizeof args, "sample --model %s --out %s", model, grid);
    cr_assert_eq(run_cli(args, out, sizeof out), 2, "%s", out);
    cr_assert(strstr(out, "--prompt"), "%s", out);
    snprintf(args, sizeof args, "sample --model %s --prompt x --stepz 3", model);
    cr_assert_eq(run_cli(args, out, sizeof out), 2, "%s", out);
    cr_assert(strstr(out, "stepz"), "%s", out);

    cr_assert(!path_exists(grid), "a failed run wrote %s", grid);
    remove_temp_dir(d);
}
