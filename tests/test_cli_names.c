// test_cli_names.c: how the vkpref binary meets what users type: --version and
// --help everywhere, "did you mean" for typos, aliases (hyphens, diffusers'
// names, the sampling names) resolving to the same config, flags of other
// trainers answered as unsupported, --print_config failing like a run would,
// and the fine-tuning defaults applied only where the user set nothing.
// None of these reach the GPU (--version only lists devices).
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "test_util.h"
#include "vkpref.h"

// Relative paths of the shipped configs (assets/..., configs/...) are the repository's.
static void in_source_dir(void) {
    const char* s = getenv("VKPREF_SOURCE_DIR");
    cr_assert(s, "VKPREF_SOURCE_DIR is not set (run through ctest)");
    cr_assert_eq(chdir(s), 0, "chdir %s", s);
}

// An empty manifest: --print_config checks that the file exists, not its rows.
static char manifest_dir[64];
static const char* manifest(void) {
    static char path[96];
    if (!*path) {
        temp_dir(manifest_dir, "names");
        snprintf(path, sizeof path, "%s/pairs.jsonl", manifest_dir);
        FILE* f = fopen(path, "w");
        cr_assert(f);
        fclose(f);
    }
    return path;
}

// `vkpref <args> --print_config` as JSON; fails the test on a non-zero exit.
static cJSON* print_config(const char* args) {
    static char out[65536];
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s --print_config", args);
    int rc = run_cli(cmd, out, sizeof out);
    cr_assert_eq(rc, 0, "%s: exit %d\n%s", cmd, rc, out);
    cJSON* o = cJSON_Parse(out);
    cr_assert(o, "%s: not JSON:\n%s", cmd, out);
    return o;
}

static double num(const cJSON* o, const char* key) {
    const cJSON* v = cJSON_GetObjectItemCaseSensitive(o, key);
    cr_assert(cJSON_IsNumber(v) || cJSON_IsBool(v), "no %s", key);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : v->valuedouble;
}

// Both command lines resolve to the same config.
static void expect_same_config(const char* a, const char* b) {
    cJSON *x = print_config(a), *y = print_config(b);
    char *tx = cJSON_Print(x), *ty = cJSON_Print(y);
    cr_assert(cJSON_Compare(x, y, true), "`%s` and `%s` differ:\n%s\n%s", a, b, tx, ty);
    free(tx), free(ty);
    cJSON_Delete(x), cJSON_Delete(y);
}

// Exit status 2 and every fragment in the message.
static void expect_usage_error(const char* args, const char* const* want, int nwant) {
    char out[16384];
    int rc = run_cli(args, out, sizeof out);
    cr_assert_eq(rc, 2, "%s: exit %d\n%s", args, rc, out);
    for (int i = 0; i < nwant; i++) cr_assert(strstr(out, want[i]), "%s: no \"%s\" in\n%s", args, want[i], out);
}
#define EXPECT_USAGE_ERROR(args, ...)                                           \
    do {                                                                        \
        const char* const want_[] = {__VA_ARGS__};                              \
        expect_usage_error(args, want_, (int)(sizeof want_ / sizeof *want_));   \
    } while (0)

static void remove_manifest(void) {
    if (*manifest_dir) remove_temp_dir(manifest_dir);
}

TestSuite(names, .init = in_source_dir, .fini = remove_manifest);

Test(names, version_names_build_loader_and_driver) {
    char out[8192];
    cr_assert_eq(run_cli("--version", out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "vkpref ") && strstr(out, "(git "), "%s", out);
    cr_assert(strstr(out, "Vulkan loader: 1."), "%s", out);
    cr_assert(strstr(out, "default device: "), "%s", out);
    cr_assert_eq(run_cli("version", out, sizeof out), 0, "%s", out);
}

Test(names, every_command_answers_help) {
    static const char* const cmds[] = {"", "train", "train-judge", "sample", "info", "bench", "bench ops",
                                       "bench train", "bench sample", "forward", "make-pairs", "fmnist-manifest",
                                       "eval", "compare", "export", "version"};
    char out[65536], args[256];
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
        snprintf(args, sizeof args, "%s --help", cmds[i]);
        cr_assert_eq(run_cli(args, out, sizeof out), 0, "`vkpref %s`: %s", args, out);
        cr_assert(strstr(out, "usage") || strstr(out, "vkpref "), "`vkpref %s`:\n%s", args, out);
    }
    cr_assert_eq(run_cli("help train", out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "--learning_rate"), "%s", out);
}

Test(names, typos_get_a_suggestion) {
    EXPECT_USAGE_ERROR("trian", "unknown command 'trian'", "did you mean 'train'");
    EXPECT_USAGE_ERROR("bench sampel", "did you mean 'sample'");
    EXPECT_USAGE_ERROR("train --learing_rate 1e-4", "\"learing_rate\"", "did you mean \"learning_rate\"");
    EXPECT_USAGE_ERROR("sample --guidance_scal 3", "did you mean \"guidance_scale\"");
    EXPECT_USAGE_ERROR("train --print-confg", "did you mean \"print_config\"");
    EXPECT_USAGE_ERROR("train --zzzz 1", "unknown option \"zzzz\"");
    EXPECT_USAGE_ERROR("compare --eval.sede 3 --print-config", "did you mean \"eval.seeds\"");
    char d[64], path[128], args[256], out[8192];
    temp_dir(d, "names");
    snprintf(path, sizeof path, "%s/c.json", d);
    FILE* f = fopen(path, "w");
    fputs("{\"train_batch_sise\": 4}", f);
    fclose(f);
    snprintf(args, sizeof args, "train --config %s", path);
    cr_assert_eq(run_cli(args, out, sizeof out), 2, "%s", out);
    cr_assert(strstr(out, path) && strstr(out, "key \"train_batch_sise\"") &&
              strstr(out, "did you mean \"train_batch_size\""), "%s", out);
    remove_temp_dir(d);
}

Test(names, flags_of_other_trainers_are_answered_as_unsupported) {
    static const char* const flags[] = {"--mixed_precision fp16", "--report_to wandb", "--use_8bit_adam",
                                        "--enable_xformers_memory_efficient_attention", "--push_to_hub",
                                        "--mixed-precision bf16"};
    char args[256];
    for (size_t i = 0; i < sizeof flags / sizeof *flags; i++) {
        snprintf(args, sizeof args, "train %s", flags[i]);
        EXPECT_USAGE_ERROR(args, "is not supported by vkpref: ");
    }
}

Test(names, hyphens_and_aliases_resolve_to_the_same_config) {
    char a[1024], b[1024];
    const char* m = manifest();
    snprintf(a, sizeof a, "train --objective dpo --pretrained_model_name_or_path assets/fmnist-base --dataset %s "
             "--train_batch_size 3 --random_flip false --validation_inference_steps 7 --validation_guidance_scale 2 "
             "--max_train_samples 9 --resolution 32 --random_crop false", m);
    snprintf(b, sizeof b, "train --objective dpo --pretrained-model-name-or-path assets/fmnist-base --dataset_name %s "
             "--train-batch-size=3 --no_hflip --validation_num_inference_steps 7 --validation_cfg 2 "
             "--max-train-samples 9 --resolution=32 --center_crop", m);
    expect_same_config(a, b);
    // Sampling names alike in every sampling command.
    expect_same_config("sample --steps 7 --cfg 2 --batch 3", "sample --num_inference_steps 7 --guidance_scale 2 --batch_size 3");
    expect_same_config("eval --steps 7 --cfg 2", "eval --num_inference_steps 7 --guidance_scale 2");
    expect_same_config("make-pairs --steps 7 --cfg 2", "make-pairs --num-inference-steps 7 --guidance-scale 2");
    expect_same_config("bench sample --timed_steps 4 --cfg 2", "bench sample --steps 4 --guidance_scale 2");
    expect_same_config("bench train --timed_steps 4", "bench train --steps 4");
    // A config file may use the aliases too.
    char d[64], path[128], args[256];
    temp_dir(d, "names");
    snprintf(path, sizeof path, "%s/c.json", d);
    FILE* f = fopen(path, "w");
    fprintf(f, "{\"dataset_name\": \"%s\", \"objective\": \"dpo\", \"pretrained-model-name-or-path\": "
               "\"assets/fmnist-base\", \"train_batch_size\": 3, \"validation_cfg\": 2, "
               "\"validation_inference_steps\": 7, \"max_train_samples\": 9, \"resolution\": 32}", m);
    fclose(f);
    snprintf(args, sizeof args, "train --config %s", path);
    expect_same_config(a, args);
    remove_temp_dir(d);
}

Test(names, print_config_fails_like_a_run) {
    char args[1024];
    const char* m = manifest();
    EXPECT_USAGE_ERROR("train --objective dpoo --print-config", "--objective dpoo", "sft, dpo, mapo");
    EXPECT_USAGE_ERROR("train --lr_scheduler cosin --print-config", "--lr_scheduler cosin");
    EXPECT_USAGE_ERROR("train --train_batch_size 0 --print_config", "\"train_batch_size\" = 0", "1 <= train_batch_size");
    EXPECT_USAGE_ERROR("train --objective dpo --pretrained_model_name_or_path assets/fmnist-base --print_config",
                       "needs preference data");
    snprintf(args, sizeof args, "train --objective dpo --pretrained_model_name_or_path /nonexistent/base "
             "--dataset %s --print_config", m);
    EXPECT_USAGE_ERROR(args, "--pretrained_model_name_or_path /nonexistent/base");
    EXPECT_USAGE_ERROR("train --objective sft --pretrained_model_name_or_path assets/fmnist-base --dataset "
                       "/nonexistent/pairs.jsonl --print_config", "--dataset /nonexistent/pairs.jsonl: no such file");
    EXPECT_USAGE_ERROR("train --model_config /nonexistent/model.json --print_config", "--model_config /nonexistent");
    EXPECT_USAGE_ERROR("train --max_train_samples 5 --print_config", "--max_train_samples 5", "manifest");
    snprintf(args, sizeof args, "train --objective dpo --pretrained_model_name_or_path assets/fmnist-base "
             "--dataset %s --beta_dpo 0 --print_config", m);
    EXPECT_USAGE_ERROR(args, "beta_dpo");
    snprintf(args, sizeof args, "train --objective dpo --pretrained_model_name_or_path assets/fmnist-base "
             "--dataset %s --resolution 512 --print_config", m);
    EXPECT_USAGE_ERROR(args, "--resolution 512", "32x32");
    snprintf(args, sizeof args, "train --objective dpo --pretrained_model_name_or_path assets/fmnist-base "
             "--dataset %s --resolution 32", m);
    cJSON_Delete(print_config(args));
}

// --num_train_epochs on the built-in set (60000 images): 2 x ceil(ceil(60000 / 7) / 3) =
// 2 x ceil(8572 / 3) = 5716 steps; a given max_train_steps wins; 0 asks for epochs.
Test(names, num_train_epochs_on_fmnist) {
    cJSON* o = print_config("train --num_train_epochs 2 --train_batch_size 7 --gradient_accumulation_steps 3");
    cr_assert_eq(num(o, "max_train_steps"), 5716);
    cJSON_Delete(o);
    o = print_config("train --num_train_epochs 2 --max_train_steps 9");
    cr_assert_eq(num(o, "max_train_steps"), 9);
    cJSON_Delete(o);
    EXPECT_USAGE_ERROR("train --max_train_steps 0 --print_config", "--max_train_steps 0", "--num_train_epochs");
}

// The defaults of `vkpref train`: pre-training (sft from --model_config) keeps the
// table's; fine-tuning gets configs/fmnist-<objective>.json's values, except
// where a flag or config file set them.
Test(names, fine_tuning_defaults_apply_only_where_the_user_set_nothing) {
    char args[1024];
    const char* m = manifest();
    cJSON* o = print_config("train");
    cr_assert_eq(num(o, "learning_rate"), 1e-3);
    cr_assert_eq(num(o, "train_batch_size"), 32);
    cr_assert_eq(num(o, "use_ema"), 1);
    cJSON_Delete(o);

    static const char* const objectives[] = {"sft", "dpo", "mapo", "kto", "tdpo", "tkto"};
    for (size_t i = 0; i < sizeof objectives / sizeof *objectives; i++) {
        snprintf(args, sizeof args, "train --objective %s --pretrained_model_name_or_path assets/fmnist-base "
                 "--dataset %s", objectives[i], m);
        cJSON* got = print_config(args);
        snprintf(args, sizeof args, "train --config configs/fmnist-%s.json --dataset %s", objectives[i], m);
        cJSON* tuned = print_config(args);
        static const char* const keys[] = {"learning_rate", "train_batch_size", "use_ema", "lr_warmup_steps",
                                           "max_train_steps"};
        for (size_t k = 0; k < sizeof keys / sizeof *keys; k++)
            cr_assert_eq(num(got, keys[k]), num(tuned, keys[k]), "%s: %s is %g, configs/fmnist-%s.json has %g",
                         objectives[i], keys[k], num(got, keys[k]), objectives[i], num(tuned, keys[k]));
        cJSON_Delete(got), cJSON_Delete(tuned);
    }

    // Set by flag: kept, the others still get the fine-tuning defaults.
    snprintf(args, sizeof args, "train --objective dpo --pretrained_model_name_or_path assets/fmnist-base "
             "--dataset %s --learning_rate 1e-4 --use_ema", m);
    o = print_config(args);
    cr_assert_eq(num(o, "learning_rate"), 1e-4);
    cr_assert_eq(num(o, "use_ema"), 1);
    cr_assert_eq(num(o, "train_batch_size"), 4);
    cJSON_Delete(o);
    // Set by a config file, even to the pre-training default's value.
    char d[64], path[128];
    temp_dir(d, "names");
    snprintf(path, sizeof path, "%s/c.json", d);
    FILE* f = fopen(path, "w");
    fputs("{\"train_batch_size\": 32, \"lr_warmup_steps\": 100}", f);
    fclose(f);
    snprintf(args, sizeof args, "train --config %s --objective kto --pretrained_model_name_or_path assets/fmnist-base "
             "--dataset %s", path, m);
    o = print_config(args);
    cr_assert_eq(num(o, "train_batch_size"), 32);
    cr_assert_eq(num(o, "lr_warmup_steps"), 100);
    cr_assert_eq(num(o, "learning_rate"), 5e-7);
    cJSON_Delete(o);
    remove_temp_dir(d);

    char out[16384];
    cr_assert_eq(run_cli("train --help", out, sizeof out), 0);
    cr_assert(strstr(out, "Fine-tuning defaults") && strstr(out, "2.5e-07"), "%s", out);
}

// The library resolves a config as the command does.
Test(names, library_configs_get_the_fine_tuning_defaults) {
    VkpConfig* cfg;
    VkpError e;
    cr_assert_eq(vkp_config_new(&cfg), VKP_OK);
    cr_assert_eq(vkp_config_set(cfg, "objective", "kto", &e), VKP_OK, "%s", e.message);
    cr_assert_eq(vkp_config_set(cfg, "pretrained-model-name-or-path", "assets/fmnist-base", &e), VKP_OK, "%s",
                 e.message);
    cr_assert_eq(vkp_config_set(cfg, "train_batch_size", "32", &e), VKP_OK, "%s", e.message);
    char* text = vkp_config_to_json(cfg);
    cJSON* o = cJSON_Parse(text);
    cr_assert_eq(num(o, "learning_rate"), 5e-7, "%s", text);
    cr_assert_eq(num(o, "train_batch_size"), 32, "set by the caller: %s", text);
    cr_assert_eq(num(o, "use_ema"), 0, "%s", text);
    cJSON_Delete(o);
    free(text);
    cr_assert_eq(vkp_config_set(cfg, "report_to", "wandb", &e), VKP_ERR_INPUT);
    cr_assert(strstr(e.message, "not supported by vkpref"), "%s", e.message);
    vkp_config_free(cfg);
}
