// test_latent_pipeline.c: latent (Stable Diffusion-architecture) pipelines on the
// committed tiny one (tests/data/tiny_sd, made by tools/make_sd_pipeline.py):
// model_index.json decides the components, sharded and fp16-variant weights load,
// the latent cache gives back what the VAE encodes and is reused, and a DPO step,
// sampling and eval run end to end through the command line.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/image_decode.h"
#include "io/png_image.h"
#include "model/pipeline_index.h"
#include "model/pipeline_io.h"
#include "model/weights.h"
#include "test_util.h"
#include "train/latent_cache.h"
#include "util/fsutil.h"

#define TINY_SD VKPREF_TEST_DATA "/tiny_sd"

static void write_text_file(const char* dir, const char* name, const char* text) {
    char path[512], err[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    cr_assert_eq(write_file_atomic(path, text, strlen(text), err, sizeof err), 0, "%s", err);
}

static void make_subdirs(const char* dir, const char* const* names, int n) {
    for (int i = 0; i < n; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        cr_assert_eq(mkdir(path, 0755), 0, "%s", path);
    }
}

// pipeline_index_read on an index whose component entries are `entries` (JSON members).
static int read_index(const char* entries, PipelineIndex* ix, char* err, size_t errlen) {
    char dir[64], text[2048];
    temp_dir(dir, "pindex");
    static const char* const subs[] = {"unet", "text_encoder", "tokenizer", "scheduler"};
    make_subdirs(dir, subs, 4);
    snprintf(text, sizeof text,
             "{\"_class_name\": \"StableDiffusionPipeline\", \"unet\": [\"diffusers\", \"UNet2DConditionModel\"], "
             "\"text_encoder\": [\"transformers\", \"CLIPTextModel\"], \"tokenizer\": [\"transformers\", "
             "\"CLIPTokenizer\"], \"scheduler\": [\"diffusers\", \"PNDMScheduler\"], \"requires_safety_checker\": true%s}",
             entries);
    write_text_file(dir, "model_index.json", text);
    int r = pipeline_index_read(ix, dir, err, errlen);
    remove_temp_dir(dir);
    return r;
}

Test(latent, model_index_decides_the_components) {
    PipelineIndex ix;
    char err[1024];
    cr_assert_eq(read_index("", &ix, err, sizeof err), 0, "%s", err);
    cr_assert(!ix.latent, "no vae entry: pixel-space");
    cr_assert_eq(read_index(", \"vae\": [null, null]", &ix, err, sizeof err), 0, "%s", err);
    cr_assert(!ix.latent);
    cr_assert_eq(read_index(", \"safety_checker\": [\"stable_diffusion\", \"StableDiffusionSafetyChecker\"], "
                            "\"feature_extractor\": [\"transformers\", \"CLIPImageProcessor\"]",
                            &ix, err, sizeof err),
                 0, "%s", err);
    cr_assert_str_eq(ix.unused, "safety_checker, feature_extractor");
    // A vae entry whose folder is missing, another VAE class, a component vkpref cannot run.
    cr_assert_neq(read_index(", \"vae\": [\"diffusers\", \"AutoencoderKL\"]", &ix, err, sizeof err), 0);
    cr_assert(strstr(err, "\"vae\"") && strstr(err, "not a folder"), "%s", err);
    cr_assert_neq(read_index(", \"vae\": [\"diffusers\", \"AutoencoderTiny\"]", &ix, err, sizeof err), 0);
    cr_assert(strstr(err, "AutoencoderTiny") && strstr(err, "cannot run"), "%s", err);
    cr_assert_neq(read_index(", \"text_encoder_2\": [\"transformers\", \"CLIPTextModelWithProjection\"]", &ix, err,
                             sizeof err),
                  0);
    cr_assert(strstr(err, "text_encoder_2") && strstr(err, "CLIPTextModelWithProjection"), "%s", err);
    cr_assert_neq(read_index(", \"vae\": \"AutoencoderKL\"", &ix, err, sizeof err), 0);
    cr_assert(strstr(err, "[library, class]"), "%s", err);
    // Not JSON at all, and no index.
    char dir[64];
    temp_dir(dir, "pindex_bad");
    cr_assert_neq(pipeline_index_read(&ix, dir, err, sizeof err), 0);
    cr_assert(strstr(err, "no model_index.json"), "%s", err);
    write_text_file(dir, "model_index.json", "{\"unet\": [");
    cr_assert_neq(pipeline_index_read(&ix, dir, err, sizeof err), 0);
    cr_assert(strstr(err, "model_index.json") && strstr(err, "not a JSON object"), "%s", err);
    remove_temp_dir(dir);
}

// Sharded indexes that cannot be read whole are refused naming the index or the shard.
Test(latent, bad_sharded_index_is_refused) {
    char dir[64], path[256], err[1024];
    temp_dir(dir, "badindex");
    snprintf(path, sizeof path, "%s/m.safetensors.index.json", dir);
    const char* cases[][2] = {
        {"{\"metadata\": {}}", "weight_map"},
        {"not json", "not valid JSON"},
        {"{\"weight_map\": {\"a\": \"../x.safetensors\"}}", "not a shard file name"},
        {"{\"weight_map\": {\"a\": \"missing.safetensors\"}}", "missing.safetensors"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        write_text_file(dir, "m.safetensors.index.json", cases[i][0]);
        SafeTensors* st = st_open_sharded(path, err, sizeof err);
        cr_assert_null(st, "%s", cases[i][0]);
        cr_assert(strstr(err, cases[i][1]), "%s: %s", cases[i][0], err);
    }
    remove_temp_dir(dir);
}

Test(latent, tiny_pipeline_loads_as_latent, GPU_TEST) {
    require_gpu();
    DiffusionPipeline p, h;
    char err[1024];
    cr_assert_eq(pipeline_load(&p, &tgpu, TINY_SD, (PipelineAlloc){0}, err, sizeof err), 0, "%s", err);
    cr_assert(p.latent);
    int c, s;
    pipeline_image_shape(&p, &c, &s);
    cr_assert_eq(c, 3);
    cr_assert_eq(s, 8 * p.unet_cfg.sample_size, "images are 8x the latents (three downsamplers)");
    cr_assert_float_eq(p.vae.cfg.scaling_factor, 0.18215f, 1e-7);
    // The fp16 variant holds the same weights rounded to half precision.
    cr_assert_eq(pipeline_load(&h, &tgpu, TINY_SD, (PipelineAlloc){.variant = "fp16"}, err, sizeof err), 0, "%s", err);
    const ParamStore* stores[][2] = {{&p.unet_ps, &h.unet_ps}, {&p.text_ps, &h.text_ps}, {&p.vae_ps, &h.vae_ps}};
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < stores[k][0]->n; i++) {
            int64_t n = param_numel(stores[k][0], i);
            float *a = malloc((size_t)n * sizeof *a), *b = malloc((size_t)n * sizeof *b);
            tensor_download(&tgpu, &stores[k][0]->e[i].value, a);
            tensor_download(&tgpu, &stores[k][1]->e[i].value, b);
            for (int64_t j = 0; j < n; j++)
                cr_assert(fabsf(a[j] - b[j]) <= 1e-3f * fabsf(a[j]) + 1e-7f, "%s[%lld]: %g vs fp16 %g",
                          stores[k][0]->e[i].name, (long long)j, a[j], b[j]);
            free(a), free(b);
        }
    cr_assert_neq(pipeline_load(&h, &tgpu, TINY_SD, (PipelineAlloc){.variant = "bf16"}, err, sizeof err), 0);
    cr_assert(strstr(err, "variant \"bf16\""), "%s", err);
    pipeline_free(&p);
    ASSERT_NO_VALIDATION_MESSAGES();
}

// dir/unet/ as two shards of the tiny UNet plus the index; the rest links to TINY_SD.
static void make_sharded_pipeline(const char* dir, bool misplace) {
    static const char* const parts[] = {"text_encoder", "tokenizer", "scheduler", "vae", "model_index.json"};
    char src[512], dst[512], err[512];
    for (int i = 0; i < 5; i++) {
        snprintf(src, sizeof src, "%s/%s", realpath(TINY_SD, NULL), parts[i]);
        snprintf(dst, sizeof dst, "%s/%s", dir, parts[i]);
        cr_assert_eq(symlink(src, dst), 0, "%s", dst);
    }
    static const char* const unet[] = {"unet"};
    make_subdirs(dir, unet, 1);
    snprintf(src, sizeof src, "%s/unet/config.json", TINY_SD);
    size_t n;
    char* cfg = read_file(src, &n, err, sizeof err);
    cr_assert(cfg, "%s", err);
    snprintf(dst, sizeof dst, "%s/unet", dir);
    write_text_file(dst, "config.json", cfg);
    free(cfg);
    snprintf(src, sizeof src, "%s/unet/diffusion_pytorch_model.safetensors", TINY_SD);
    SafeTensors* st = st_open(src, err, sizeof err);
    cr_assert(st, "%s", err);
    StWriter w[2];
    float** data = calloc((size_t)st_count(st), sizeof *data);
    char index[65536] = "{\"metadata\": {\"total_size\": 0}, \"weight_map\": {";
    for (int i = 0; i < st_count(st); i++) {
        const StTensor* t = st_tensor_at(st, i);
        int shard = i % 2;
        if (i == 0) st_writer_init(&w[0], ST_F32), st_writer_init(&w[1], ST_F32);
        data[i] = malloc((size_t)t->numel * sizeof(float));
        st_read_f32(st, t, data[i]);
        st_writer_add(&w[shard], t->name, t->ndim, t->shape, data[i]);
        size_t k = strlen(index);
        snprintf(index + k, sizeof index - k, "%s\"%s\": \"diffusion_pytorch_model-%05d-of-00002.safetensors\"",
                 i ? ", " : "", t->name, (misplace && i == 3 ? 1 - shard : shard) + 1);
    }
    strcat(index, "}}");
    for (int s = 0; s < 2; s++) {
        snprintf(dst, sizeof dst, "%s/unet/diffusion_pytorch_model-%05d-of-00002.safetensors", dir, s + 1);
        cr_assert_eq(st_writer_write(&w[s], dst, err, sizeof err), 0, "%s", err);
        st_writer_free(&w[s]);
    }
    snprintf(dst, sizeof dst, "%s/unet", dir);
    write_text_file(dst, "diffusion_pytorch_model.safetensors.index.json", index);
    for (int i = 0; i < st_count(st); i++) free(data[i]);
    free(data);
    st_close(st);
}

Test(latent, sharded_weights_load_like_one_file, GPU_TEST) {
    require_gpu();
    char dir[64], bad[64], err[1024];
    temp_dir(dir, "sharded");
    make_sharded_pipeline(dir, false);
    DiffusionPipeline a, b;
    cr_assert_eq(pipeline_load(&a, &tgpu, TINY_SD, (PipelineAlloc){0}, err, sizeof err), 0, "%s", err);
    cr_assert_eq(pipeline_load(&b, &tgpu, dir, (PipelineAlloc){0}, err, sizeof err), 0, "%s", err);
    for (int i = 0; i < a.unet_ps.n; i++) {
        int64_t n = param_numel(&a.unet_ps, i);
        float *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)n * sizeof *y);
        tensor_download(&tgpu, &a.unet_ps.e[i].value, x);
        tensor_download(&tgpu, &b.unet_ps.e[i].value, y);
        cr_assert_eq(memcmp(x, y, (size_t)n * sizeof *x), 0, "%s differs", a.unet_ps.e[i].name);
        free(x), free(y);
    }
    pipeline_free(&a), pipeline_free(&b);
    temp_dir(bad, "sharded_bad");
    make_sharded_pipeline(bad, true);
    cr_assert_neq(pipeline_load(&b, &tgpu, bad, (PipelineAlloc){0}, err, sizeof err), 0);
    cr_assert(strstr(err, "index.json") && strstr(err, "another shard"), "%s", err);
    remove_temp_dir(dir), remove_temp_dir(bad);
    ASSERT_NO_VALIDATION_MESSAGES();
}

Test(latent, cache_returns_the_encoding_and_survives_damage, GPU_TEST) {
    require_gpu();
    char dir[64], err[1024];
    temp_dir(dir, "latcache");
    DiffusionPipeline p;
    cr_assert_eq(pipeline_load(&p, &tgpu, TINY_SD, (PipelineAlloc){0}, err, sizeof err), 0, "%s", err);
    int c, s;
    pipeline_image_shape(&p, &c, &s);
    LatentCache mem, disk, bad;
    cr_assert_eq(latent_cache_open(&mem, &tgpu, &p, s, "", err, sizeof err), 0, "%s", err);
    cr_assert_eq(latent_cache_open(&disk, &tgpu, &p, s, dir, err, sizeof err), 0, "%s", err);
    cr_assert_neq(latent_cache_open(&bad, &tgpu, &p, s + 8, "", err, sizeof err), 0, "a size the UNet cannot take");
    cr_assert(strstr(err, "--resolution"), "%s", err);
    int64_t in = (int64_t)c * s * s, out = mem.latent_numel;
    TestRng r = rng_seed(7);
    float* img = malloc((size_t)in * sizeof *img);
    for (int64_t j = 0; j < in; j++) img[j] = (float)rng_uniform(&r, -1, 1);
    float *a = malloc((size_t)out * sizeof *a), *b = malloc((size_t)out * sizeof *b), *d = malloc((size_t)out * sizeof *d);
    ImageEncoder em = latent_cache_encoder(&mem, false), ed = latent_cache_encoder(&disk, false);
    cr_assert_eq(em.encode(em.ctx, img, a, err, sizeof err), 0, "%s", err);
    cr_assert_eq(ed.encode(ed.ctx, img, b, err, sizeof err), 0, "%s", err);
    cr_assert_eq(disk.encoded, 1);
    cr_assert_eq(ed.encode(ed.ctx, img, d, err, sizeof err), 0, "%s", err);
    cr_assert_eq(disk.hits, 1, "the second encoding of the same pixels comes from the cache");
    cr_assert_eq(memcmp(a, b, (size_t)out * sizeof *a), 0);
    cr_assert_eq(memcmp(a, d, (size_t)out * sizeof *a), 0, "a cached latent is bit-identical to a fresh one");
    bool nonzero = false;
    for (int64_t j = 0; j < out; j++) nonzero = nonzero || a[j] != 0;
    cr_assert(nonzero);
    // A damaged file (cut short) is encoded again and replaced.
    char cmd[512];
    snprintf(cmd, sizeof cmd, "for f in %s/*/*.latent; do truncate -s 100 \"$f\"; done", dir);
    cr_assert_eq(system(cmd), 0);
    cr_assert_eq(ed.encode(ed.ctx, img, d, err, sizeof err), 0, "%s", err);
    cr_assert_eq(disk.encoded, 2);
    cr_assert_eq(memcmp(a, d, (size_t)out * sizeof *a), 0);
    latent_cache_close(&mem), latent_cache_close(&disk);
    pipeline_free(&p);
    free(img), free(a), free(b), free(d);
    remove_temp_dir(dir);
    ASSERT_NO_VALIDATION_MESSAGES();
}

// Four images of other sizes and colour modes than the pipeline's, and a pairs manifest.
static void write_manifest(const char* dir) {
    char path[512], err[256];
    const int sizes[4][3] = {{70, 50, 3}, {50, 70, 3}, {40, 60, 1}, {64, 64, 3}};
    for (int k = 0; k < 4; k++) {
        int w = sizes[k][0], h = sizes[k][1], ch = sizes[k][2];
        uint8_t* px = malloc((size_t)w * h * ch);
        for (int j = 0; j < w * h * ch; j++) px[j] = (uint8_t)((j * (k + 3)) % 251);
        snprintf(path, sizeof path, "%s/img%d.png", dir, k);
        cr_assert_eq(png_write(path, px, w, h, ch, err, sizeof err), 0, "%s", err);
        free(px);
    }
    write_text_file(dir, "pairs.jsonl",
                    "{\"caption\": \"a photo of a cat\", \"jpg_0\": \"img0.png\", \"jpg_1\": \"img1.png\", "
                    "\"label_0\": 1, \"label_1\": 0}\n"
                    "{\"caption\": \"a red dress\", \"jpg_0\": \"img2.png\", \"jpg_1\": \"img3.png\", "
                    "\"label_0\": 0, \"label_1\": 1}\n");
}

Test(latent, dpo_step_sample_eval_and_cache_reuse, .timeout = 900) {
    char dir[64], args[4096], out[16384], path[512];
    temp_dir(dir, "latent_e2e");
    write_manifest(dir);
    const char* common = "train --pretrained_model_name_or_path " TINY_SD " --objective dpo --max_train_steps 1 "
                         "--train_batch_size 2 --checkpointing_steps 0 --validation_grid_seeds 0 --random_flip true";
    snprintf(args, sizeof args, "%s --dataset %s/pairs.jsonl --output_dir %s/run1 --latent_cache_dir %s/cache", common,
             dir, dir, dir);
    cr_assert_eq(run_cli(args, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "latents: 0 from the cache, 8 encoded"), "4 images, each also mirrored:\n%s", out);
    snprintf(args, sizeof args, "%s --dataset %s/pairs.jsonl --output_dir %s/run2 --latent_cache_dir %s/cache", common,
             dir, dir, dir);
    cr_assert_eq(run_cli(args, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "latents: 8 from the cache, 0 encoded"), "the second run reuses every latent:\n%s", out);
    // Both runs trained on the same latents: the same step, loss, learning rate and gradient norm.
    char log1[512], log2[512], err[256];
    snprintf(log1, sizeof log1, "%s/run1/train_log.csv", dir);
    snprintf(log2, sizeof log2, "%s/run2/train_log.csv", dir);
    char *t1 = read_file(log1, NULL, err, sizeof err), *t2 = read_file(log2, NULL, err, sizeof err);
    cr_assert(t1 && t2, "%s", err);
    char *r1 = strchr(t1, '\n') + 1, *r2 = strchr(t2, '\n') + 1;
    for (int k = 0; k < 4; k++) r1 = strchr(r1, ',') + 1, r2 = strchr(r2, ',') + 1;  // up to images_per_s
    cr_assert(r1 - t1 == r2 - t2 && !memcmp(t1, t2, (size_t)(r1 - t1)), "%s\n%s", t1, t2);
    free(t1), free(t2);
    // The trained pipeline is a latent one: it carries the VAE and samples decoded RGB images.
    snprintf(path, sizeof path, "%s/run1/vae/diffusion_pytorch_model.safetensors", dir);
    cr_assert(path_exists(path), "%s", path);
    snprintf(args, sizeof args,
             "sample --model %s/run1 --prompt \"a photo of a cat\" --seeds 0-1 --steps 2 --out %s/grid.png "
             "--save_images %s/images",
             dir, dir, dir);
    cr_assert_eq(run_cli(args, out, sizeof out), 0, "%s", out);
    snprintf(path, sizeof path, "%s/images/p000_s0001.png", dir);
    int w, h, ch;
    float* img = image_load(path, 3, 0, &w, &h, &ch, err, sizeof err);
    cr_assert(img, "%s", err);
    cr_assert(w == 64 && h == 64 && ch == 3, "%dx%d, %d channels", w, h, ch);
    free(img);
    snprintf(args, sizeof args,
             "eval --model %s/run1 --base " TINY_SD " --judge brightness --caption_fit_judge '' --prompt \"a red dress\" --seeds 0-1 --steps 2",
             dir);
    cr_assert_eq(run_cli(args, out, sizeof out), 0, "%s", out);
    // A latent cache folder that cannot be made stops the run before any training, naming it.
    snprintf(path, sizeof path, "%s/cachefile", dir);
    write_text_file(dir, "cachefile", "x");
    snprintf(args, sizeof args, "%s --dataset %s/pairs.jsonl --output_dir %s/run4 --latent_cache_dir %s", common, dir,
             dir, path);
    cr_assert_neq(run_cli(args, out, sizeof out), 0);
    cr_assert(strstr(out, "cachefile") && strstr(out, "--latent_cache_dir"), "%s", out);
    snprintf(path, sizeof path, "%s/run4/model_index.json", dir);
    cr_assert(!path_exists(path), "no pipeline after a refused start");
    // A variant the folder lacks is named.
    snprintf(args, sizeof args, "sample --model " TINY_SD " --variant bf16 --prompt x --seeds 0 --steps 1 --out %s/v.png",
             dir);
    cr_assert_neq(run_cli(args, out, sizeof out), 0);
    cr_assert(strstr(out, "variant \"bf16\""), "%s", out);
    // The embedded Fashion-MNIST set trains pixel-space models only.
    snprintf(args, sizeof args,
             "train --pretrained_model_name_or_path " TINY_SD " --objective sft --dataset fmnist --max_train_steps 1 "
             "--output_dir %s/run3", dir);
    cr_assert_neq(run_cli(args, out, sizeof out), 0);
    cr_assert(strstr(out, "latent"), "%s", out);
    remove_temp_dir(dir);
}
