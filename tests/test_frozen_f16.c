// test_frozen_f16.c: F16 storage of frozen weights (--frozen_dtype). Kernels read
// an F16 tensor through an R16F / RGBA16F texel view, so a model held in F16
// must compute exactly what the same model computes from F32 copies of its
// F16-rounded weights: every comparison here is bit for bit. The committed tiny
// SD pipeline's fp16 variant files hold such weights, so loading them as F32 or
// as F16 must give the same text encoder, UNet and VAE outputs and the same DPO
// and LoRA training steps, with half the weight memory.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/png_image.h"
#include "model/pipeline_io.h"
#include "ops/ops.h"
#include "test_util.h"
#include "util/fsutil.h"
#include "util/half.h"

#define TINY_SD VKPREF_TEST_DATA "/tiny_sd"

static float* random_floats(int64_t n, uint64_t seed, double scale) {
    TestRng r = rng_seed(seed);
    float* h = malloc((size_t)n * sizeof *h);
    for (int64_t i = 0; i < n; i++) h[i] = (float)rng_uniform(&r, -scale, scale);
    return h;
}

Test(frozen_f16, tensors_round_to_nearest_even_and_read_back_exactly, GPU_TEST) {
    const int64_t n = 1001;  // odd: the last texel is partial
    float* h = random_floats(n, 3, 70000.0);  // past the F16 range too: those become infinities
    h[0] = 1.0f + 0x1.0p-11f;                // a tie: rounds to even (1.0)
    h[1] = 0x1.0p-20f;                       // an F16 subnormal
    Tensor t = arena_tensor_typed(&tarena, DTYPE_F16, 1, (int64_t[]){n});
    cr_assert_eq(tensor_bytes(&t), (VkDeviceSize)n * 2);
    tensor_upload(&tgpu, &t, h);
    float* back = tensor_download_new(&tgpu, &t);
    for (int64_t i = 0; i < n; i++) {
        float want = f16_to_f32(f32_to_f16(h[i]));
        cr_assert(memcmp(&back[i], &want, sizeof want) == 0, "element %lld: %g read back as %g, want %g", (long long)i,
                  h[i], back[i], want);
    }
    cr_assert_eq(back[0], 1.0f);
    cr_assert_eq(back[1], 0x1.0p-20f);
    // A slice starts at its element (2 bytes each), not at a float's offset.
    Tensor s = tensor_slice(t, 7, 5);
    float part[5];
    tensor_download(&tgpu, &s, part);
    cr_assert_eq(memcmp(part, back + 7, sizeof part), 0);
    free(h), free(back);
    ASSERT_NO_VALIDATION_MESSAGES();
}

// matmul and the flat element-wise kernels read F16 operands at any element
// offset (vec4 texels when aligned, single ones otherwise), as F32 ones.
Test(frozen_f16, kernels_read_f16_operands_as_their_f32_values, GPU_TEST) {
    const int M = 13, K = 40, N = 29;  // K a multiple of 4: rows of vec4 texels at offset 0
    float* a = random_floats((int64_t)M * K, 5, 1.0);
    float* w = random_floats((int64_t)N * K + 3, 6, 1.0);
    for (int64_t i = 0; i < (int64_t)N * K + 3; i++) w[i] = f16_to_f32(f32_to_f16(w[i]));
    for (int offset = 0; offset < 4; offset += 3) {  // 0: vec4 texels; 3: single texels
        Tensor ta = arena_tensor2(&tarena, M, K);
        Tensor w16 = arena_tensor_typed(&tarena, DTYPE_F16, 1, (int64_t[]){(int64_t)N * K + 3});
        Tensor w32 = arena_tensor1(&tarena, (int64_t)N * K + 3);
        tensor_upload(&tgpu, &ta, a), tensor_upload(&tgpu, &w16, w), tensor_upload(&tgpu, &w32, w);
        Tensor b16 = tensor_reshape(tensor_slice(w16, offset, (int64_t)N * K), 2, (int64_t[]){N, K});
        Tensor b32 = tensor_reshape(tensor_slice(w32, offset, (int64_t)N * K), 2, (int64_t[]){N, K});
        Tensor y16 = arena_tensor2(&tarena, M, N), y32 = arena_tensor2(&tarena, M, N);
        Tensor s16 = arena_tensor1(&tarena, K), s32 = arena_tensor1(&tarena, K);
        Tensor r16 = tensor_slice(w16, offset, K), r32 = tensor_slice(w32, offset, K);
        Tensor ak = tensor_slice(tensor_reshape(ta, 1, (int64_t[]){(int64_t)M * K}), 0, K);
        Cmd c;
        RUN_CMD(c, {
            op_linear_forward(&c, &y16, &ta, &b16, NULL);
            op_linear_forward(&c, &y32, &ta, &b32, NULL);
            op_add(&c, &s16, &ak, &r16);
            op_add(&c, &s32, &ak, &r32);
        });
        float *o16 = tensor_download_new(&tgpu, &y16), *o32 = tensor_download_new(&tgpu, &y32);
        cr_assert_eq(memcmp(o16, o32, (size_t)M * N * sizeof *o16), 0, "matmul at element offset %d", offset);
        free(o16), free(o32);
        o16 = tensor_download_new(&tgpu, &s16), o32 = tensor_download_new(&tgpu, &s32);
        cr_assert_eq(memcmp(o16, o32, (size_t)K * sizeof *o16), 0, "add at element offset %d", offset);
        free(o16), free(o32);
    }
    free(a), free(w);
    ASSERT_NO_VALIDATION_MESSAGES();
}

// Columns of a frozen F16 weight copied out with the channel split (the VAE's
// piecewise convolutions at 512 px): one part wanted, the other NULL.
Test(frozen_f16, channel_split_copies_columns_of_an_f16_weight, GPU_TEST) {
    const int64_t K = 3, C = 7, kk = 9;
    float* w = random_floats(K * C * kk, 8, 1.0);
    for (int64_t i = 0; i < K * C * kk; i++) w[i] = f16_to_f32(f32_to_f16(w[i]));
    Tensor w16 = arena_tensor_typed(&tarena, DTYPE_F16, 3, (int64_t[]){K, C, kk}), w32 = arena_tensor3(&tarena, K, C, kk);
    tensor_upload(&tgpu, &w16, w), tensor_upload(&tgpu, &w32, w);
    Tensor a16 = arena_tensor3(&tarena, K, 2, kk), a32 = arena_tensor3(&tarena, K, 2, kk);
    Tensor b16 = arena_tensor3(&tarena, K, C - 2, kk), b32 = arena_tensor3(&tarena, K, C - 2, kk);
    Cmd c;
    RUN_CMD(c, {
        cmd_fill(&c, &a16, 0);
        cmd_fill(&c, &a32, 0);
        cmd_fill(&c, &b16, 0);
        cmd_fill(&c, &b32, 0);
        op_concat_channels_backward(&c, &a16, NULL, &w16);
        op_concat_channels_backward(&c, &a32, NULL, &w32);
        op_concat_channels_backward(&c, NULL, &b16, &w16);
        op_concat_channels_backward(&c, NULL, &b32, &w32);
    });
    float *x = tensor_download_new(&tgpu, &a16), *y = tensor_download_new(&tgpu, &a32);
    cr_assert_eq(memcmp(x, y, (size_t)K * 2 * kk * sizeof *x), 0);
    cr_assert_eq(x[kk], w[kk], "row 0, channel 1");
    free(x), free(y);
    x = tensor_download_new(&tgpu, &b16), y = tensor_download_new(&tgpu, &b32);
    cr_assert_eq(memcmp(x, y, (size_t)K * (C - 2) * kk * sizeof *x), 0);
    free(x), free(y), free(w);
    ASSERT_NO_VALIDATION_MESSAGES();
}

// Kernels write float[] storage buffers: an F16 tensor bound as one is a bug, named at record time.
Test(frozen_f16, an_f16_tensor_bound_as_storage_is_an_error, GPU_TEST, .exit_code = 1) {
    Tensor x = arena_tensor1(&tarena, 8), y = arena_tensor_typed(&tarena, DTYPE_F16, 1, (int64_t[]){8});
    Cmd c;
    RUN_CMD(c, op_add(&c, &y, &x, &x));
}

// ---------------------------------------------------------------------------
// The tiny SD pipeline's fp16 files, held as F32 and as F16.

static void load_tiny(DiffusionPipeline* p, FrozenDType frozen) {
    char err[1024];
    cr_assert_eq(pipeline_load(p, &tgpu, TINY_SD, (PipelineAlloc){.variant = "fp16", .frozen = frozen}, err, sizeof err),
                 0, "%s", err);
}

static float* run_models(DiffusionPipeline* p, int64_t* n_out) {
    Arena act, tmp, grad;
    arena_init(&act, &tgpu, "act", 0, false), arena_init(&tmp, &tgpu, "tmp", 0, false);
    arena_init(&grad, &tgpu, "grad", 0, false);
    const int N = 2, L = p->max_length, S = p->unet_cfg.sample_size, C = p->unet_cfg.in_channels;
    uint32_t* ids = malloc((size_t)N * L * sizeof *ids);
    for (int i = 0; i < N * L; i++) ids[i] = (uint32_t)((i * 7919) % p->clip_cfg.vocab_size);
    Tensor tids = arena_tensor1(&tarena, (int64_t)N * L);
    tensor_upload_raw(&tgpu, &tids, ids);
    float* xh = random_floats((int64_t)N * C * S * S, 11, 1.0);
    Tensor x = arena_tensor4(&tarena, N, C, S, S), ts = arena_tensor1(&tarena, N);
    tensor_upload(&tgpu, &x, xh);
    tensor_upload(&tgpu, &ts, (float[]){17.0f, 803.0f});
    int64_t img = vae_image_size(&p->vae.cfg, S);
    Tensor image = arena_tensor4(&tarena, N, p->vae.cfg.out_channels, img, img);
    Tensor mean = arena_tensor4(&tarena, N, p->vae.cfg.latent_channels, S, S);
    Tensor logvar = arena_tensor4(&tarena, N, p->vae.cfg.latent_channels, S, S);
    VaeScratch vs;
    vae_scratch_init(&vs, &tgpu);
    Cmd c;
    cmd_begin(&c, &tgpu);
    Graph text = {.cmd = &c, .ps = &p->text_ps, .act = &act, .tmp = &tmp, .grad = &grad};
    ClipActs* ca = calloc(1, sizeof *ca);
    Tensor ehs = clip_forward(&text, &p->clip, ca, &tids, N, L);
    Graph unet = {.cmd = &c, .ps = &p->unet_ps, .act = &act, .tmp = &tmp, .grad = &grad};
    UNetActs* ua = calloc(1, sizeof *ua);
    Tensor y = unet_forward(&unet, &p->unet, ua, &x, &ts, &ehs);
    Graph vae = {.cmd = &c, .ps = &p->vae_ps, .act = &act, .tmp = &tmp, .grad = &grad};
    vae_decode(&vae, &p->vae, &vs, &x, &image);
    vae_encode(&vae, &p->vae, &vs, &image, &mean, &logvar);
    cmd_submit(&c);
    cmd_free(&c);
    const Tensor* outs[] = {&ehs, &y, &image, &mean, &logvar};
    int64_t n = 0;
    for (int i = 0; i < 5; i++) n += tensor_numel(outs[i]);
    float* all = malloc((size_t)n * sizeof *all);
    for (int i = 0, at = 0; i < 5; at += (int)tensor_numel(outs[i]), i++) tensor_download(&tgpu, outs[i], all + at);
    *n_out = n;
    free(ca), free(ua), free(ids), free(xh);
    vae_scratch_free(&vs);
    arena_free(&act), arena_free(&tmp), arena_free(&grad);
    return all;
}

Test(frozen_f16, text_encoder_unet_and_vae_in_f16_compute_what_f32_copies_do, GPU_TEST, .timeout = 600) {
    DiffusionPipeline a, b;
    load_tiny(&a, FROZEN_F32);
    load_tiny(&b, FROZEN_F16);
    cr_assert(a.latent && b.latent);
    cr_assert(a.unet_ps.dtype == DTYPE_F32 && a.text_ps.dtype == DTYPE_F32 && a.vae_ps.dtype == DTYPE_F32);
    cr_assert(b.unet_ps.dtype == DTYPE_F16 && b.text_ps.dtype == DTYPE_F16 && b.vae_ps.dtype == DTYPE_F16);
    const ParamStore* sa[] = {&a.unet_ps, &a.text_ps, &a.vae_ps};
    const ParamStore* sb[] = {&b.unet_ps, &b.text_ps, &b.vae_ps};
    for (int i = 0; i < 3; i++)  // half the bytes, but for the 256-byte alignment of each tensor
        cr_assert(sb[i]->value.peak < sa[i]->value.peak * 0.6, "store %d: %llu bytes in F16, %llu in F32", i,
                  (unsigned long long)sb[i]->value.peak, (unsigned long long)sa[i]->value.peak);
    int64_t na, nb;
    float *ya = run_models(&a, &na), *yb = run_models(&b, &nb);
    cr_assert_eq(na, nb);
    bool finite = true;
    for (int64_t i = 0; i < na; i++) finite = finite && isfinite(ya[i]);
    cr_assert(finite);
    cr_assert_eq(memcmp(ya, yb, (size_t)na * sizeof *ya), 0, "text states, UNet output, decoded and encoded images");
    free(ya), free(yb);
    pipeline_free(&a), pipeline_free(&b);
    ASSERT_NO_VALIDATION_MESSAGES();
}

// ---------------------------------------------------------------------------
// Training from the command line: the reference, the LoRA base, the text
// encoder and the VAE in F16 change nothing but the memory.

static void write_manifest(const char* dir) {
    char path[512], err[256];
    for (int k = 0; k < 2; k++) {
        uint8_t px[48 * 40 * 3];
        for (size_t j = 0; j < sizeof px; j++) px[j] = (uint8_t)((j * (k + 5)) % 253);
        snprintf(path, sizeof path, "%s/img%d.png", dir, k);
        cr_assert_eq(png_write(path, px, 48, 40, 3, err, sizeof err), 0, "%s", err);
    }
    const char* rows = "{\"caption\": \"a photo of a cat\", \"jpg_0\": \"img0.png\", \"jpg_1\": \"img1.png\", "
                       "\"label_0\": 1, \"label_1\": 0}\n";
    snprintf(path, sizeof path, "%s/pairs.jsonl", dir);
    cr_assert_eq(write_file_atomic(path, rows, strlen(rows), err, sizeof err), 0, "%s", err);
}

// train_log.csv without its images_per_s column (timing).
static char* log_without_timing(const char* dir, const char* run) {
    char path[512], err[256];
    snprintf(path, sizeof path, "%s/%s/train_log.csv", dir, run);
    char* t = read_file(path, NULL, err, sizeof err);
    cr_assert(t, "%s", err);
    char* out = calloc(strlen(t) + 1, 1);
    char* o = out;
    for (char* line = t; *line;) {
        char* end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        int col = 0;
        for (size_t i = 0; i < len; i++) {
            if (line[i] == ',') col++;
            if (col != 4 || line[i] == ',') *o++ = line[i];  // column 4 is images_per_s
        }
        *o++ = '\n';
        line += len + (end ? 1 : 0);
    }
    free(t);
    return out;
}

static void train_twice_and_compare(const char* dir, const char* extra) {
    char args[4096], out[16384];
    const char* dtypes[] = {"fp32", "fp16"};
    for (int i = 0; i < 2; i++) {
        snprintf(args, sizeof args,
                 "train --pretrained_model_name_or_path " TINY_SD " --variant fp16 --frozen_dtype %s --objective dpo "
                 "--dataset %s/pairs.jsonl --max_train_steps 2 --train_batch_size 1 --learning_rate 1e-3 "
                 "--checkpointing_steps 0 --validation_grid_seeds 0 --cache_latents false --output_dir %s/%s%s %s",
                 dtypes[i], dir, dir, dtypes[i], *extra ? "-lora" : "", extra);
        cr_assert_eq(run_cli(args, out, sizeof out), 0, "%s", out);
        if (i == 1) cr_assert(strstr(out, "stored as fp16"), "%s", out);
    }
    char r32[64], r16[64];
    snprintf(r32, sizeof r32, "fp32%s", *extra ? "-lora" : "");
    snprintf(r16, sizeof r16, "fp16%s", *extra ? "-lora" : "");
    char *a = log_without_timing(dir, r32), *b = log_without_timing(dir, r16);
    cr_assert_str_eq(a, b, "the same steps with the frozen weights in F32 and in F16");
    free(a), free(b);
}

Test(frozen_f16, dpo_and_lora_training_match_f32, .timeout = 900) {
    char dir[64], args[4096], out[16384];
    temp_dir(dir, "frozen_f16");
    write_manifest(dir);
    train_twice_and_compare(dir, "");                  // the reference UNet, text encoder and VAE in F16
    train_twice_and_compare(dir, "--lora_rank 2");     // and the UNet under the adapters
    // A value vkpref does not know is named before anything loads.
    snprintf(args, sizeof args, "sample --model " TINY_SD " --frozen_dtype bf8 --prompt x --seeds 0 --out %s/x.png", dir);
    cr_assert_neq(run_cli(args, out, sizeof out), 0);
    cr_assert(strstr(out, "--frozen_dtype bf8"), "%s", out);
    snprintf(args, sizeof args,
             "train --pretrained_model_name_or_path " TINY_SD " --objective dpo --dataset %s/pairs.jsonl "
             "--frozen_dtype half16 --output_dir %s/bad --print_config", dir, dir);
    cr_assert_neq(run_cli(args, out, sizeof out), 0);
    cr_assert(strstr(out, "--frozen_dtype half16: use auto, fp32 or fp16"), "%s", out);
    remove_temp_dir(dir);
}
