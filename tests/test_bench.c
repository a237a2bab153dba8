// test_bench.c: `vkpref bench train` and `vkpref bench sample` as a user runs
// them, on the tiny model of tests/data/bench_tiny.json: the JSON report has
// every documented key, sane values, one submit per training step without
// gradient accumulation (K with K micro-batches), and the FLOP count that the
// model's shapes give.
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "test_util.h"

static const char* const COMMON_KEYS[] = {"median_s", "min_s", "max_s", "images_per_s", "gflops_per_s",
                                          "peak_device_bytes", "allocated_device_bytes", "dispatches_per_step",
                                          "barriers_per_step", "submits_per_step", "host_median_s", "host_fraction",
                                          "gflop_per_step", "images_per_step", "pipelines", "pipeline_compile_s",
                                          "pipeline_wait_s", "first_step_s"};

// Runs `vkpref bench <args> --json` and returns its JSON object (the output's
// one line that starts with '{'), after checking the common keys.
static cJSON* run_bench(const char* args) {
    static char out[65536];
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "bench %s --model_config %s/bench_tiny.json --json", args, VKPREF_TEST_DATA);
    cr_assert_eq(run_cli(cmd, out, sizeof out), 0, "vkpref %s failed:\n%s", cmd, out);
    cr_assert_null(strstr(out, "vkpref: validation"), "validation messages:\n%s", out);
    const char* line = out[0] == '{' ? out : strstr(out, "\n{");
    cr_assert(line, "no JSON object in:\n%s", out);
    cJSON* o = cJSON_Parse(line + (line[0] == '\n'));
    cr_assert(cJSON_IsObject(o), "not JSON:\n%s", out);
    for (size_t i = 0; i < sizeof COMMON_KEYS / sizeof *COMMON_KEYS; i++) {
        const cJSON* v = cJSON_GetObjectItemCaseSensitive(o, COMMON_KEYS[i]);
        cr_assert(cJSON_IsNumber(v) && isfinite(v->valuedouble), "key %s missing or not a number:\n%s", COMMON_KEYS[i],
                  out);
    }
    return o;
}

static double num(const cJSON* o, const char* key) {
    const cJSON* v = cJSON_GetObjectItemCaseSensitive(o, key);
    cr_assert(cJSON_IsNumber(v), "no number %s", key);
    return v->valuedouble;
}

static void check_sane(const cJSON* o) {
    cr_assert(num(o, "min_s") > 0 && num(o, "min_s") <= num(o, "median_s") && num(o, "median_s") <= num(o, "max_s"));
    cr_assert(num(o, "images_per_s") > 0 && num(o, "gflops_per_s") > 0 && num(o, "gflop_per_step") > 0);
    cr_assert(num(o, "peak_device_bytes") > 0 && num(o, "peak_device_bytes") <= num(o, "allocated_device_bytes"));
    cr_assert(num(o, "dispatches_per_step") >= 10 && num(o, "barriers_per_step") > 0);
    cr_assert(num(o, "host_median_s") >= 0 && num(o, "host_fraction") >= 0 && num(o, "host_fraction") < 1);
    cr_assert(num(o, "pipelines") >= 5 && num(o, "pipeline_compile_s") > 0 && num(o, "pipeline_wait_s") >= 0);
    cr_assert(num(o, "first_step_s") > 0);
    double ips = num(o, "images_per_step") / num(o, "median_s");
    cr_assert(fabs(num(o, "images_per_s") - ips) <= 1e-6 * ips);
}

// The tiny UNet's forward FLOPs for n rows (flops.h conventions), by hand:
// sample 8, channels [16, 32], 1 layer per block, heads 2, cross dim 16, L = 8.
static double tiny_unet_forward_flops(double n) {
    const double L = 8, X = 16;
    double temb = 64;
    double f = 2 * n * (16 * temb + temb * temb);                               // time embedding
    f += 2 * n * 16 * 64 * 1 * 9;                                               // conv_in 8x8
    // resnet(cin, cout, h): two 3x3 convs, a 1x1 shortcut when cin != cout, time_emb_proj
#define RES(ci, co, hw) (2 * n * (co) * (hw) * (ci) * 9 + 2 * n * (co) * (hw) * (co) * 9 + \
                         ((ci) != (co) ? 2 * n * (co) * (hw) * (ci) : 0) + 2 * n * temb * (co))
    // transformer(c, t tokens): 8 c x c linears on t tokens (proj_in/out, q k v out, q out), k v of the
    // text, ff c -> 8c and 4c -> c, attention 4 t t c + 4 t L c
#define TR(c, t) (2 * n * (t) * (c) * (c) * 8 + 2 * n * L * X * (c) * 2 + 2 * n * (t) * (c) * 12 * (c) + \
                  4 * n * (t) * (t) * (c) + 4 * n * (t) * L * (c))
    f += RES(16, 16, 64);                       // down 0 at 8x8
    f += 2 * n * 16 * 16 * 16 * 9;              // downsampler to 4x4
    f += RES(16, 32, 16) + TR(32, 16);          // down 1 at 4x4
    f += 2 * RES(32, 32, 16) + TR(32, 16);      // mid
    f += RES(64, 32, 16) + TR(32, 16) + RES(48, 32, 16) + TR(32, 16);  // up 0: skips 32, 16
    f += 2 * n * 32 * 64 * 32 * 9;              // upsampler conv at 8x8
    f += RES(48, 16, 64) + RES(32, 16, 64);     // up 1: skips 16, 16
    f += 2 * n * 1 * 64 * 16 * 9;               // conv_out
#undef RES
#undef TR
    return f;
}

Test(bench, train_step_json, .timeout = 120) {
    cJSON* o = run_bench("train --steps 2 --warmup 1 --train_batch_size 4");
    check_sane(o);
    cr_assert_eq(num(o, "submits_per_step"), 1.0, "one submit per step without accumulation, got %g",
                 num(o, "submits_per_step"));
    cr_assert_eq(num(o, "images_per_step"), 4.0);
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "train_text_encoder")), "sft trains the text encoder");
    // sft: the UNet forward + backward (3x) and the trained text encoder's (3x) on 4 rows.
    double unet = 3 * tiny_unet_forward_flops(4);
    double got = num(o, "gflop_per_step") * 1e9;
    cr_assert(got > unet && got < unet * 1.2, "FLOPs per step %.6g, UNet part alone %.6g", got, unet);
    cJSON_Delete(o);
}

Test(bench, dpo_step_with_accumulation, .timeout = 120) {
    cJSON* o = run_bench("train --objective dpo --steps 2 --warmup 1 --train_batch_size 2 --gradient_accumulation_steps 2");
    check_sane(o);
    cr_assert_eq(num(o, "submits_per_step"), 2.0, "two micro-batches, two submits: got %g", num(o, "submits_per_step"));
    cr_assert_eq(num(o, "rows_per_micro_batch"), 4.0, "2 pairs = 4 rows");
    cr_assert_eq(num(o, "images_per_step"), 8.0);
    // dpo: frozen text encoder (1x), reference forward (1x) + policy forward and backward (3x), twice.
    double unet = 2 * 4 * tiny_unet_forward_flops(4);
    double got = num(o, "gflop_per_step") * 1e9;
    cr_assert(got > unet && got < unet * 1.1, "FLOPs per step %.6g, UNet part alone %.6g", got, unet);
    cJSON_Delete(o);
}

Test(bench, sample_step_json, .timeout = 120) {
    cJSON* o = run_bench("sample --batch 3 --cfg 3 --steps 2 --warmup 1 --num_inference_steps 2");
    check_sane(o);
    cr_assert_eq(num(o, "submits_per_step"), 1.0, "one submit per denoising step, got %g", num(o, "submits_per_step"));
    cr_assert_eq(num(o, "unet_rows"), 6.0, "guidance doubles the rows");
    double want = tiny_unet_forward_flops(6), got = num(o, "gflop_per_step") * 1e9;
    cr_assert(fabs(got - want) <= 1e-9 * want, "FLOPs per step %.9g, by hand %.9g", got, want);
    cr_assert(num(o, "encode_s") > 0 && num(o, "images_per_s_full") > 0);
    cJSON_Delete(o);
}

Test(bench, bad_flags_are_named) {
    char out[8192];
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "bench train --objective foo --model_config %s/bench_tiny.json", VKPREF_TEST_DATA);
    cr_assert_eq(run_cli(cmd, out, sizeof out), 1, "%s", out);
    cr_assert(strstr(out, "--objective foo"), "%s", out);
    cr_assert_eq(run_cli("bench sample --model /nonexistent/pipeline", out, sizeof out), 1, "%s", out);
    cr_assert(strstr(out, "/nonexistent/pipeline") && strstr(out, "--model"), "%s", out);
    cr_assert_eq(run_cli("bench train --no_such_flag 1", out, sizeof out), 2, "%s", out);
    cr_assert(strstr(out, "no_such_flag"), "%s", out);
    snprintf(cmd, sizeof cmd, "bench train --frozen_dtype fp8 --model_config %s/bench_tiny.json", VKPREF_TEST_DATA);
    cr_assert_eq(run_cli(cmd, out, sizeof out), 1, "%s", out);
    cr_assert(strstr(out, "--frozen_dtype fp8"), "%s", out);
    snprintf(cmd, sizeof cmd, "bench sample --frozen_dtype fp8 --model_config %s/bench_tiny.json", VKPREF_TEST_DATA);
    cr_assert_eq(run_cli(cmd, out, sizeof out), 1, "%s", out);
    cr_assert(strstr(out, "--frozen_dtype fp8"), "%s", out);
    // The bench times a model at its own size: another --resolution is named, not ignored.
    snprintf(cmd, sizeof cmd, "bench train --resolution 48 --model_config %s/bench_tiny.json", VKPREF_TEST_DATA);
    cr_assert_eq(run_cli(cmd, out, sizeof out), 1, "%s", out);
    cr_assert(strstr(out, "--resolution 48"), "%s", out);
}
