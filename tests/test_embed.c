// test_embed.c: tools/embed_example.c, a program that uses vkpref through its
// public header alone, trains a few DPO steps on the shipped base, saves,
// samples and evaluates; and the public interface returns input errors as
// values instead of exiting.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"
#include "util/fsutil.h"
#include "vkpref.h"

static const char* source_dir(void) {
    const char* s = getenv("VKPREF_SOURCE_DIR");
    return s ? s : ".";
}

Test(embed, example_program_trains_saves_samples_and_evaluates, .timeout = 600) {
    char d[64], args[4096], out[32768], path[512];
    temp_dir(d, "embed");
    snprintf(args, sizeof args, "fmnist-manifest --split test --count 8 --rows pairs --style invert --out %s/pairs", d);
    cr_assert_eq(run_cli(args, out, sizeof out), 0, "%s", out);
    const char* bin = getenv("VKPREF_EMBED_BIN");
    cr_assert(bin, "VKPREF_EMBED_BIN is set by ctest");
    snprintf(args, sizeof args, "%s %s/assets/fmnist-base %s/pairs/pairs.jsonl %s/tuned 3 2>&1", bin, source_dir(), d, d);
    FILE* p = popen(args, "r");
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    cr_assert_eq(pclose(p), 0, "%s", out);
    cr_assert(strstr(out, "step 1/3 loss") && strstr(out, "step 3/3 loss") && strstr(out, "implicit_acc"), "%s", out);
    cr_assert(strstr(out, "sampled 1x32x32") && strstr(out, "win rate against the base"), "%s", out);
    snprintf(path, sizeof path, "%s/tuned/unet/diffusion_pytorch_model.safetensors", d);
    cr_assert(path_exists(path), "the tuned pipeline was saved: %s", out);
    remove_temp_dir(d);
}

Test(embed, input_errors_come_back_as_values, .timeout = 300) {
    VkpError e;
    VkpDevice* dev;
    cr_assert_eq(vkp_device_open(-1, &dev, &e), VKP_OK, "%s", e.message);
    VkpConfig* cfg;
    vkp_config_new(&cfg);
    cr_assert_eq(vkp_config_set(cfg, "no_such_option", "1", &e), VKP_ERR_INPUT);
    cr_assert(strstr(e.message, "no_such_option"), "%s", e.message);
    cr_assert_eq(vkp_config_set(cfg, "objective", "dpoo", &e), VKP_OK);
    VkpRun* run;
    cr_assert_eq(vkp_run_open(dev, cfg, &run, &e), VKP_ERR_INPUT);
    cr_assert(strstr(e.message, "dpoo") && strstr(e.message, "dpo"), "%s", e.message);
    cr_assert_eq(vkp_config_set(cfg, "objective", "dpo", &e), VKP_OK);
    cr_assert_eq(vkp_run_open(dev, cfg, &run, &e), VKP_ERR_INPUT);
    cr_assert(strstr(e.message, "preference data"), "%s", e.message);
    VkpModel* m;
    cr_assert_eq(vkp_model_open(dev, "/nonexistent/pipeline", &m, &e), VKP_ERR_INPUT);
    cr_assert(strstr(e.message, "/nonexistent/pipeline"), "%s", e.message);
    char base[512];
    snprintf(base, sizeof base, "%s/assets/fmnist-base", source_dir());
    cr_assert_eq(vkp_model_open(dev, base, &m, &e), VKP_OK, "%s", e.message);
    float img[32 * 32];
    const char* prompt[] = {"a photo of a bag"};
    const uint64_t seed[] = {1};
    VkpSampleOptions so = {.steps = 100000};
    cr_assert_eq(vkp_sample(m, &so, prompt, seed, 1, img, &e), VKP_ERR_INPUT);
    cr_assert(strstr(e.message, "steps 100000"), "%s", e.message);
    so = (VkpSampleOptions){.sampler = "heun"};
    cr_assert_eq(vkp_sample(m, &so, prompt, seed, 1, img, &e), VKP_ERR_INPUT);
    cr_assert(strstr(e.message, "heun"), "%s", e.message);
    vkp_model_close(m);
    vkp_config_free(cfg);
    vkp_device_close(dev);
}
