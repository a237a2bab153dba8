// test_validation.c: hostile inputs to the readers (no Vulkan device needed):
// model configs with out-of-range keys, option values outside their range, JSON
// with trailing text or duplicate keys, non-finite weights, images that declare
// a huge size, damaged train state, and output paths that cannot be written.
// Every case must be refused with an error naming the file and the key.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "data/manifest.h"
#include "io/image_decode.h"
#include "io/png_image.h"
#include "io/safetensors.h"
#include "model/clip.h"
#include "model/schedule.h"
#include "model/tokenizer.h"
#include "model/unet_config.h"
#include "test_util.h"
#include "train/checkpoint.h"
#include "train/train_config.h"
#include "util/fsutil.h"
#include "util/json_fields.h"

static char dir[64];
static void setup(void) { temp_dir(dir, "validation"); }
static void teardown(void) { remove_temp_dir(dir); }
TestSuite(validation, .init = setup, .fini = teardown);

static char* in_dir(const char* name) { return path_join(dir, name); }

static void write_text(const char* path, const char* text) {
    FILE* f = fopen(path, "w");
    cr_assert(f, "%s", path);
    fputs(text, f);
    fclose(f);
}

#define ASSERT_ERR_HAS(err, a, b) cr_assert(strstr(err, a) && strstr(err, b), "error lacks \"%s\" or \"%s\": %s", a, b, err)

// ---------------------------------------------------------------------------
// Model configs: the fmnist-small UNet with one key replaced.

static const char* UNET_OK =
    "{\"sample_size\": 32, \"in_channels\": 1, \"out_channels\": 1, \"block_out_channels\": [32, 64, 64],"
    " \"layers_per_block\": 1, \"down_block_types\": [\"DownBlock2D\", \"CrossAttnDownBlock2D\", \"CrossAttnDownBlock2D\"],"
    " \"up_block_types\": [\"CrossAttnUpBlock2D\", \"CrossAttnUpBlock2D\", \"UpBlock2D\"], \"cross_attention_dim\": 64,"
    " \"attention_head_dim\": 4, \"norm_num_groups\": 8 %s}";

// UNET_OK with key set to value (JSON text), added when absent; key2 too unless NULL.
static int parse_unet_with2(const char* key, const char* value, const char* key2, const char* value2, char* err,
                            size_t errlen) {
    char base[2048];
    snprintf(base, sizeof base, UNET_OK, "");
    cJSON* o = cJSON_Parse(base);
    cJSON_DeleteItemFromObjectCaseSensitive(o, key);
    cJSON_AddItemToObject(o, key, cJSON_Parse(value));
    if (key2) {
        cJSON_DeleteItemFromObjectCaseSensitive(o, key2);
        cJSON_AddItemToObject(o, key2, cJSON_Parse(value2));
    }
    char* text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    UNetConfig c;
    int r = unet_config_parse(&c, text, "unet/config.json", err, errlen);
    free(text);
    return r;
}
static int parse_unet_with(const char* key, const char* value, char* err, size_t errlen) {
    return parse_unet_with2(key, value, NULL, NULL, err, errlen);
}

Test(validation, unet_config_sizes_are_range_checked_before_use) {
    char err[1024];
    cr_assert_eq(parse_unet_with("norm_num_groups", "8", err, sizeof err), 0, "%s", err);
    static const struct { const char *key, *value; } BAD[] = {
        {"norm_num_groups", "0"},          // was SIGFPE: a modulo ran before the range check
        {"norm_num_groups", "-8"},
        {"sample_size", "0"},
        {"sample_size", "-28"},
        {"sample_size", "1e9"},
        {"block_out_channels", "[1073741824, 64, 64]"},
        {"block_out_channels", "[32, 64, 64.5]"},
        {"block_out_channels", "[32, \"x\", 64]"},
        {"in_channels", "0"},
        {"out_channels", "100000"},
        {"layers_per_block", "0"},
        {"cross_attention_dim", "-1"},
        {"attention_head_dim", "0"},
        {"attention_head_dim", "[4, 0, 4]"},
        {"norm_eps", "-1"},
        {"norm_eps", "0"},
        {"freq_shift", "1e300"},
        {"transformer_layers_per_block", "[1, 2, 1]"},
    };
    for (size_t i = 0; i < sizeof BAD / sizeof *BAD; i++) {
        err[0] = 0;
        cr_assert_eq(parse_unet_with(BAD[i].key, BAD[i].value, err, sizeof err), -1, "%s = %s accepted", BAD[i].key,
                     BAD[i].value);
        ASSERT_ERR_HAS(err, "unet/config.json", BAD[i].key);
    }
    // The range is named.
    parse_unet_with("norm_num_groups", "0", err, sizeof err);
    ASSERT_ERR_HAS(err, "out of range", "1 to 4096");
    // A huge feature map (channels x sample_size^2) is refused, not allocated.
    cr_assert_eq(parse_unet_with2("sample_size", "1024", "block_out_channels", "[128, 128, 128]", err, sizeof err), -1);
    ASSERT_ERR_HAS(err, "block_out_channels", "values per image");
}

Test(validation, clip_and_scheduler_configs_are_range_checked) {
    static const char* CLIP_BAD[][2] = {
        {"{\"num_attention_heads\": 0}", "num_attention_heads"},
        {"{\"hidden_size\": 0}", "hidden_size"},
        {"{\"hidden_size\": 2147483647}", "hidden_size"},
        {"{\"vocab_size\": -5}", "vocab_size"},
        {"{\"vocab_size\": 1e12}", "vocab_size"},
        {"{\"max_position_embeddings\": 0}", "max_position_embeddings"},
        {"{\"num_hidden_layers\": 100}", "num_hidden_layers"},
        {"{\"layer_norm_eps\": -1}", "layer_norm_eps"},
    };
    char err[1024];
    ClipConfig cc;
    for (size_t i = 0; i < sizeof CLIP_BAD / sizeof *CLIP_BAD; i++) {
        cr_assert_eq(clip_config_parse(&cc, CLIP_BAD[i][0], "text_encoder/config.json", err, sizeof err), -1, "%s",
                     CLIP_BAD[i][0]);
        ASSERT_ERR_HAS(err, "text_encoder/config.json", CLIP_BAD[i][1]);
    }
    static const char* SCHED_BAD[][2] = {
        {"{\"num_train_timesteps\": 0}", "num_train_timesteps"},
        {"{\"num_train_timesteps\": 2000000000}", "num_train_timesteps"},
        {"{\"beta_start\": -1}", "beta_start"},
        {"{\"beta_end\": 5}", "beta_end"},
        {"{\"steps_offset\": -3}", "steps_offset"},
        {"{\"clip_sample_range\": 0}", "clip_sample_range"},
    };
    SchedulerConfig sc;
    for (size_t i = 0; i < sizeof SCHED_BAD / sizeof *SCHED_BAD; i++) {
        cr_assert_eq(scheduler_config_parse(&sc, SCHED_BAD[i][0], "scheduler_config.json", err, sizeof err), -1, "%s",
                     SCHED_BAD[i][0]);
        ASSERT_ERR_HAS(err, "scheduler_config.json", SCHED_BAD[i][1]);
    }
    cr_assert_eq(scheduler_config_parse(&sc, "{}", "s.json", err, sizeof err), 0, "%s", err);
}

// ---------------------------------------------------------------------------
// JSON: text after the value and duplicate keys.

Test(validation, json_trailing_text_and_duplicate_keys_are_refused) {
    char err[1024];
    UNetConfig uc;
    char text[2048];
    snprintf(text, sizeof text, UNET_OK, "");
    cr_assert_eq(unet_config_parse(&uc, text, "c.json", err, sizeof err), 0, "%s", err);
    snprintf(text, sizeof text, UNET_OK, "} {\"x\": 1");
    strcat(text, "}");
    cr_assert_eq(unet_config_parse(&uc, text, "c.json", err, sizeof err), -1);
    ASSERT_ERR_HAS(err, "c.json", "text after");
    snprintf(text, sizeof text, UNET_OK, ", \"norm_num_groups\": 0");
    cr_assert_eq(unet_config_parse(&uc, text, "c.json", err, sizeof err), -1);
    ASSERT_ERR_HAS(err, "c.json", "\"norm_num_groups\" appears twice");
    // Nested objects too.
    cJSON* j = json_parse_strict("{\"a\": {\"b\": 1, \"b\": 2}}", 24, "n.json", err, sizeof err);
    cr_assert_null(j);
    ASSERT_ERR_HAS(err, "n.json", "\"b\" appears twice");

    // Option config files.
    char* cfg = in_dir("train.json");
    const OptTable* t = train_options();
    TrainConfig* c = malloc(sizeof *c);
    opts_set_defaults(t, c);
    write_text(cfg, "{\"learning_rate\": 1e-4}\n");
    cr_assert_eq(opts_load_json(t, c, cfg, err, sizeof err), 0, "%s", err);
    write_text(cfg, "{\"learning_rate\": 1e-4}\n{\"seed\": 3}\n");
    cr_assert_eq(opts_load_json(t, c, cfg, err, sizeof err), -1);
    ASSERT_ERR_HAS(err, cfg, "line 2: text after");
    write_text(cfg, "{\"learning_rate\": 1e-4, \"seed\": 1, \"learning_rate\": 1}\n");
    cr_assert_eq(opts_load_json(t, c, cfg, err, sizeof err), -1);
    ASSERT_ERR_HAS(err, cfg, "\"learning_rate\" appears twice");
    opts_free(t, c);
    free(c);
    free(cfg);
}

// ---------------------------------------------------------------------------
// Options: every numeric value is checked against its range, wherever it comes from.

Test(validation, option_values_outside_their_range_are_refused) {
    static const char* BAD[][2] = {{"learning_rate", "-1"}, {"adam_beta1", "5"},   {"adam_beta2", "-3"},
                                   {"ema_decay", "7"},      {"proportion_empty_prompts", "9"},
                                   {"max_grad_norm", "-2"}, {"adam_beta1", "1"},   {"train_batch_size", "0"},
                                   {"learning_rate", "0"},  {"max_image_pixels", "0"}};
    const OptTable* t = train_options();
    TrainConfig* c = malloc(sizeof *c);
    opts_set_defaults(t, c);
    char err[1024];
    for (size_t i = 0; i < sizeof BAD / sizeof *BAD; i++) {
        cr_assert_eq(opts_set(t, c, BAD[i][0], BAD[i][1], "command line", err, sizeof err), -1, "--%s %s accepted",
                     BAD[i][0], BAD[i][1]);
        ASSERT_ERR_HAS(err, BAD[i][0], "out of range (allowed: ");
    }
    opts_set(t, c, "adam_beta1", "5", "command line", err, sizeof err);
    ASSERT_ERR_HAS(err, "\"adam_beta1\" = 5", "0 <= adam_beta1 < 1");
    cr_assert_eq(opts_set(t, c, "adam_beta1", "0", "command line", err, sizeof err), 0, "%s", err);
    cr_assert_eq(opts_set(t, c, "ema_decay", "1", "command line", err, sizeof err), 0, "%s", err);
    // From a config file: the file is named.
    char* cfg = in_dir("t.json");
    write_text(cfg, "{\"ema_decay\": 7}");
    cr_assert_eq(opts_load_json(t, c, cfg, err, sizeof err), -1);
    ASSERT_ERR_HAS(err, cfg, "0 <= ema_decay <= 1");
    free(cfg);
    opts_free(t, c);
    free(c);
}

Test(validation, print_config_fails_on_a_value_out_of_range) {
    char out[8192];
    cr_assert_eq(run_cli("train --adam_beta2 -3 --print-config", out, sizeof out), 2, "%s", out);
    ASSERT_ERR_HAS(out, "adam_beta2", "0 <= adam_beta2 < 1");
    cr_assert_eq(run_cli("sample --model x --prompt a --steps 0 --print-config", out, sizeof out), 2, "%s", out);
    ASSERT_ERR_HAS(out, "steps", "1 <= steps <= 10000");
    cr_assert_eq(run_cli("train --help", out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "0 <= proportion_empty_prompts <= 1"), "--help shows ranges: %s", out);
}

// ---------------------------------------------------------------------------
// Weights.

Test(validation, non_finite_weights_are_refused_with_the_tensor_named) {
    char err[1024];
    char* path = in_dir("w.safetensors");
    float v[4] = {1, 2, 3, 4};
    static const StDtype DT[] = {ST_F32, ST_F16, ST_BF16};
    const float bad[] = {NAN, INFINITY, -INFINITY};
    for (int d = 0; d < 3; d++)
        for (int b = 0; b < 3; b++) {
            StWriter w;
            st_writer_init(&w, DT[d]);
            st_writer_add(&w, "ok", 1, (int64_t[]){4}, v);
            float x[4] = {1, 2, bad[b], 4};
            st_writer_add(&w, "layer.weight", 1, (int64_t[]){4}, x);
            cr_assert_eq(st_writer_write(&w, path, err, sizeof err), 0, "%s", err);
            st_writer_free(&w);
            SafeTensors* st = st_open(path, err, sizeof err);
            cr_assert_not_null(st, "%s", err);
            float out[4];
            cr_assert_eq(st_load_f32(st, "ok", 1, (int64_t[]){4}, out, err, sizeof err), 0, "%s", err);
            cr_assert_eq(st_load_f32(st, "layer.weight", 1, (int64_t[]){4}, out, err, sizeof err), -1,
                         "dtype %d value %g accepted", d, bad[b]);
            ASSERT_ERR_HAS(err, path, "'layer.weight': element 2 is");
            st_close(st);
        }
    free(path);
}

// ---------------------------------------------------------------------------
// Images: the declared size is checked before decoding.

static void put32(uint8_t* p, uint32_t v) { p[0] = v >> 24, p[1] = v >> 16, p[2] = v >> 8, p[3] = (uint8_t)v; }

// A PNG of a few hundred bytes whose header declares w x h grey pixels (its
// data, one zlib-compressed zero row repeated, is far shorter than that).
static void write_png_bomb(const char* path, uint32_t w, uint32_t h) {
    uint8_t buf[512];
    size_t n = 0;
    memcpy(buf, "\x89PNG\r\n\x1a\n", 8), n = 8;
    uint8_t ihdr[13];
    put32(ihdr, w), put32(ihdr + 4, h);
    ihdr[8] = 8, ihdr[9] = 0, ihdr[10] = 0, ihdr[11] = 0, ihdr[12] = 0;
    uint8_t idat[64] = {0};
    uLongf idat_n = sizeof idat;
    uint8_t raw[16] = {0};
    compress(idat, &idat_n, raw, sizeof raw);
    const struct { const char* type; const uint8_t* data; size_t len; } chunks[] = {
        {"IHDR", ihdr, 13}, {"IDAT", idat, idat_n}, {"IEND", NULL, 0}};
    for (int i = 0; i < 3; i++) {
        put32(buf + n, (uint32_t)chunks[i].len), n += 4;
        memcpy(buf + n, chunks[i].type, 4);
        if (chunks[i].len) memcpy(buf + n + 4, chunks[i].data, chunks[i].len);
        uint32_t crc = (uint32_t)crc32(0, buf + n, (uInt)(4 + chunks[i].len));
        n += 4 + chunks[i].len;
        put32(buf + n, crc), n += 4;
    }
    FILE* f = fopen(path, "wb");
    cr_assert(f);
    fwrite(buf, 1, n, f);
    fclose(f);
}

Test(validation, huge_declared_image_is_refused_before_decoding) {
    char err[1024];
    char* bomb = in_dir("bomb.png");
    write_png_bomb(bomb, 20000, 20000);
    int w, h, c;
    cr_assert_null(image_load(bomb, 1, 0, &w, &h, &c, err, sizeof err));
    ASSERT_ERR_HAS(err, bomb, "20000x20000 = 400000000 pixels exceeds the limit of 89478485");
    // The limit is a parameter; a small image within it decodes.
    char* small = in_dir("small.png");
    uint8_t px[64 * 64] = {0};
    cr_assert_eq(png_write(small, px, 64, 64, 1, err, sizeof err), 0, "%s", err);
    float* img = image_load(small, 1, 4096, &w, &h, &c, err, sizeof err);
    cr_assert_not_null(img, "%s", err);
    free(img);
    cr_assert_null(image_load(small, 1, 4095, &w, &h, &c, err, sizeof err));
    ASSERT_ERR_HAS(err, "4096 pixels", "limit of 4095");
    // Through a manifest: the row's file is named.
    char* m = in_dir("m.jsonl");
    write_text(m, "{\"caption\": \"x\", \"jpg_0\": \"bomb.png\"}\n");
    PrefDataset d;
    ManifestOptions o = {.channels = 1, .size = 8};
    cr_assert_eq(manifest_load(&d, m, &o, err, sizeof err), -1);
    ASSERT_ERR_HAS(err, "m.jsonl:1:", "bomb.png");
    cr_assert(strstr(err, "89478485"), "%s", err);
    // Manifest rows refuse duplicate fields and trailing text too.
    write_text(m, "{\"caption\": \"x\", \"jpg_0\": \"small.png\", \"caption\": \"y\"}\n");
    cr_assert_eq(manifest_load(&d, m, &o, err, sizeof err), -1);
    ASSERT_ERR_HAS(err, "m.jsonl:1:", "\"caption\" appears twice");
    write_text(m, "{\"caption\": \"x\", \"jpg_0\": \"small.png\"} x\n");
    cr_assert_eq(manifest_load(&d, m, &o, err, sizeof err), -1);
    ASSERT_ERR_HAS(err, "m.jsonl:1:", "text after");
    free(m), free(small), free(bomb);
}

// ---------------------------------------------------------------------------
// Tokenizer files and the train state.

Test(validation, tokenizer_vocab_with_duplicate_or_trailing_text_is_refused) {
    char err[1024];
    char *v = in_dir("vocab.json"), *mg = in_dir("merges.txt");
    write_text(mg, "#version: 0.2\n");
    Tokenizer t;
    write_text(v, "{\"a\": 0, \"b\": 1, \"a\": 2}");
    cr_assert_eq(tokenizer_load_files(&t, v, mg, NULL, NULL, err, sizeof err), -1);
    ASSERT_ERR_HAS(err, "vocab.json", "\"a\" appears twice");
    // An id far outside int's range (found by fuzz_tokenizer: the cast came before the range check).
    write_text(v, "{\"a\": 0, \"b\": 5.5e81}");
    cr_assert_eq(tokenizer_load_files(&t, v, mg, NULL, NULL, err, sizeof err), -1);
    ASSERT_ERR_HAS(err, "vocab.json", "\"b\": id must be an integer");
    write_text(v, "{\"a\": 0, \"b\": 1}\n{}");
    cr_assert_eq(tokenizer_load_files(&t, v, mg, NULL, NULL, err, sizeof err), -1);
    ASSERT_ERR_HAS(err, "vocab.json:2:", "text after");
    free(v), free(mg);
}

Test(validation, train_state_is_checked_key_by_key) {
    char err[1024];
    CheckpointState st;
    cr_assert_eq(checkpoint_state_parse("{\"format\": 1, \"step\": 5}", "s.json", &st, err, sizeof err), 0, "%s", err);
    cr_assert_eq(st.step, 5);
    cr_assert_eq(st.processes, 1, "a checkpoint from before processes were recorded counts as one process");
    cr_assert_eq(checkpoint_state_parse("{\"format\": 1, \"step\": 5, \"processes\": 4}", "s.json", &st, err,
                                        sizeof err), 0, "%s", err);
    cr_assert_eq(st.processes, 4);
    static const char* BAD[][2] = {{"{\"format\": 1, \"step\": -1}", "step"},
                                   {"{\"format\": 1, \"step\": 1, \"processes\": 0}", "processes"},
                                   {"{\"format\": 1, \"step\": 1, \"processes\": \"2\"}", "processes"},
                                   {"{\"format\": 1, \"step\": 1e20}", "step"},
                                   {"{\"format\": 1}", "step"},
                                   {"{\"format\": 9, \"step\": 1}", "format"},
                                   {"{\"format\": 1, \"step\": 1, \"step\": 2}", "step"},
                                   {"{\"format\": 1, \"step\": 1} 7", "text after"}};
    for (size_t i = 0; i < sizeof BAD / sizeof *BAD; i++) {
        cr_assert_eq(checkpoint_state_parse(BAD[i][0], "s.json", &st, err, sizeof err), -1, "%s", BAD[i][0]);
        ASSERT_ERR_HAS(err, "s.json", BAD[i][1]);
    }
}

// ---------------------------------------------------------------------------
// Outputs are checked before any work.

Test(validation, output_paths_are_checked_before_work) {
    char err[1024];
    char *file = in_dir("plain.txt"), *under = in_dir("plain.txt/grid.png"), *deep = in_dir("new/a/b/grid.png");
    write_text(file, "x");
    cr_assert_eq(output_path_check(under, OUTPUT_FILE, err, sizeof err), -1);
    ASSERT_ERR_HAS(err, under, "is not a folder");
    cr_assert_eq(output_path_check(deep, OUTPUT_FILE, err, sizeof err), 0, "%s", err);
    cr_assert_eq(output_path_check(dir, OUTPUT_FILE, err, sizeof err), -1);
    ASSERT_ERR_HAS(err, dir, "is a folder");
    cr_assert_eq(output_path_check(file, OUTPUT_FOLDER, err, sizeof err), -1);
    ASSERT_ERR_HAS(err, file, "not a folder");
    cr_assert_eq(output_path_check(dir, OUTPUT_FOLDER, err, sizeof err), 0, "%s", err);
    cr_assert_eq(output_path_check(dir, OUTPUT_FOLDER_REPLACED, err, sizeof err), 0, "%s", err);
    cr_assert_eq(output_path_check("/proc/version/x", OUTPUT_FOLDER, err, sizeof err), -1);

    // The commands fail in a second, before the device is opened or a model loaded.
    char* model = in_dir("model");
    char* index = in_dir("model/model_index.json");
    cr_assert_eq(mkdir_p(model, err, sizeof err), 0);
    write_text(index, "{}");
    char args[1024], out[8192];
    snprintf(args, sizeof args, "sample --model %s --prompt a --out %s", model, under);
    cr_assert_eq(run_cli(args, out, sizeof out), 1, "%s", out);
    ASSERT_ERR_HAS(out, under, "--out");
    snprintf(args, sizeof args, "sample --model %s --prompt a --save_images %s", model, file);
    cr_assert_eq(run_cli(args, out, sizeof out), 1, "%s", out);
    ASSERT_ERR_HAS(out, file, "--save_images");
    snprintf(args, sizeof args, "eval --model %s --base %s --prompt a --json %s", model, model, under);
    cr_assert_eq(run_cli(args, out, sizeof out), 1, "%s", out);
    ASSERT_ERR_HAS(out, under, "--json");
    snprintf(args, sizeof args, "make-pairs --model %s --prompt a --out %s", model, file);
    cr_assert_eq(run_cli(args, out, sizeof out), 1, "%s", out);
    ASSERT_ERR_HAS(out, file, "--out");
    snprintf(args, sizeof args, "export --model %s --out %s", model, under);
    cr_assert_eq(run_cli(args, out, sizeof out), 1, "%s", out);
    ASSERT_ERR_HAS(out, under, "--out");
    free(index), free(model), free(file), free(under), free(deep);
}

// Corrupt images (several found by fuzzing an earlier decoder) are refused with
// the file named; valid files, including a PNG whose first IDAT chunk is empty,
// decode.
Test(validation, corrupt_images_are_refused_valid_ones_decode) {
    static const char* OK[] = {"rgb.jpg", "grey.jpg", "progressive.jpg", "interlaced.png"};
    static const char* BAD[] = {"regress-jpeg-dht-over-256-codes.jpg", "regress-jpeg-dht-fill-before-soi.jpg",
                                "regress-jpeg-scan-undefined-huffman-table.jpg", "regress-png-idat-length-2gb.png"};
    char path[1024], err[1024];
    int w, h, c;
    for (size_t i = 0; i < sizeof OK / sizeof *OK; i++) {
        snprintf(path, sizeof path, "%s/../fuzz/corpus/fuzz_image/%s", VKPREF_TEST_DATA, OK[i]);
        uint8_t* px = image_load_u8(path, 0, 0, &w, &h, &c, err, sizeof err);
        cr_assert_not_null(px, "%s", err);
        free(px);
    }
    // 2x2 RGB, rows (0 y 2) (50 60 70), after an empty IDAT chunk.
    static const uint8_t WANT[12] = {0, 0, 2, 50, 60, 70, 0, 1, 2, 50, 60, 70};
    snprintf(path, sizeof path, "%s/../fuzz/corpus/fuzz_image/regress-png-empty-idat.png", VKPREF_TEST_DATA);
    uint8_t* px = image_load_u8(path, 0, 0, &w, &h, &c, err, sizeof err);
    cr_assert_not_null(px, "%s", err);
    cr_assert(w == 2 && h == 2 && c == 3 && memcmp(px, WANT, 12) == 0);
    free(px);
    for (size_t i = 0; i < sizeof BAD / sizeof *BAD; i++) {
        snprintf(path, sizeof path, "%s/../fuzz/corpus/fuzz_image/%s", VKPREF_TEST_DATA, BAD[i]);
        cr_assert_null(image_load_u8(path, 0, 0, &w, &h, &c, err, sizeof err), "%s decoded", BAD[i]);
        ASSERT_ERR_HAS(err, BAD[i], "cannot decode image");
    }
}

// A file cut short is refused, not decoded with grey rows; a JPEG declaring a
// huge size is refused from its header, as a PNG is; a progressive JPEG with
// more than 500 scans (tests/data/images/progressive-600-scans.jpg: the last
// scan of fuzz_image/progressive.jpg repeated 600 times) is stopped.
Test(validation, truncated_and_huge_images_are_refused) {
    static const char* FILES[] = {"rgb.jpg", "rgb.png"};
    static const char* WHY[] = {"Premature end of JPEG file", "truncated data"};
    char path[1024], err[1024];
    int w, h, c;
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/../fuzz/corpus/fuzz_image/%s", VKPREF_TEST_DATA, FILES[i]);
        size_t n;
        char* data = read_file(path, &n, err, sizeof err);
        cr_assert_not_null(data, "%s", err);
        cr_assert_null(image_decode_u8(data, n * 2 / 3, "cut.img", 0, 0, &w, &h, &c, err, sizeof err));
        ASSERT_ERR_HAS(err, "cut.img", WHY[i]);
        if (i == 0) {  // the baseline frame header (FF C0, length, precision, height, width) says 20000 x 20000
            char* sof = NULL;
            for (size_t k = 0; k + 9 < n && !sof; k++)
                if ((uint8_t)data[k] == 0xFF && (uint8_t)data[k + 1] == 0xC0) sof = data + k;
            cr_assert_not_null(sof);
            sof[5] = sof[7] = (char)(20000 >> 8), sof[6] = sof[8] = (char)(20000 & 255);
            cr_assert_null(image_decode_u8(data, n, "huge.jpg", 0, 0, &w, &h, &c, err, sizeof err));
            ASSERT_ERR_HAS(err, "huge.jpg", "20000x20000 = 400000000 pixels exceeds the limit of 89478485");
        }
        free(data);
    }
    snprintf(path, sizeof path, "%s/images/progressive-600-scans.jpg", VKPREF_TEST_DATA);
    cr_assert_null(image_load_u8(path, 0, 0, &w, &h, &c, err, sizeof err));
    ASSERT_ERR_HAS(err, path, "more than 500 scans");
}
