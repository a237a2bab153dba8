// test_cli.c: the vkpref binary as a user runs it: info, forward parity on the
// golden tiny UNet, and clear errors for bad input.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "io/safetensors.h"
#include "test_util.h"

Test(cli, info_lists_a_device) {
    char out[8192];
    cr_assert_eq(run_cli("info", out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "selected: device"), "%s", out);
}

Test(cli, unknown_command_is_an_error) {
    char out[8192];
    cr_assert_eq(run_cli("frobnicate", out, sizeof out), 2);
    cr_assert(strstr(out, "unknown command 'frobnicate'"), "%s", out);
}

Test(cli, forward_matches_pytorch_golden, .timeout = 300) {
    char out[8192], args[2048], err[512];
    const char* dir = VKPREF_TEST_DATA "/golden/tiny";
    char result[] = "/tmp/vkpref_test_forward_XXXXXX";
    int fd = mkstemp(result);
    cr_assert(fd >= 0);
    snprintf(args, sizeof args, "forward --unet %s/unet --inputs %s/golden.safetensors --out %s --grad", dir, dir, result);
    cr_assert_eq(run_cli(args, out, sizeof out), 0, "%s", out);
    SafeTensors* got = st_open(result, err, sizeof err);
    cr_assert(got, "%s", err);
    snprintf(args, sizeof args, "%s/golden.safetensors", dir);
    SafeTensors* want = st_open(args, err, sizeof err);
    cr_assert(want, "%s", err);
    float lg, lw;
    st_read_f32(got, st_find(got, "loss"), &lg);
    st_read_f32(want, st_find(want, "loss"), &lw);
    cr_assert(fabsf(lg - lw) <= 1e-5f * fabsf(lw), "loss %.9g vs PyTorch %.9g", lg, lw);
    cr_assert(st_find(got, "grad.conv_in.weight") && st_find(got, "grad.mid_block.attentions.0.proj_out.weight"));
    st_close(got), st_close(want);
    remove(result);
}

Test(cli, forward_names_a_missing_file) {
    char out[8192];
    cr_assert_eq(run_cli("forward --unet /nonexistent/unet --inputs x.safetensors --out y.safetensors", out, sizeof out), 1);
    cr_assert(strstr(out, "/nonexistent/unet/config.json"), "error names the file: %s", out);
}

// A short pre-training run on the real Fashion-MNIST set writes a diffusers
// pipeline folder whose UNet loads back with every parameter present.
Test(cli, train_writes_a_loadable_pipeline, .timeout = 600) {
    char out[16384], args[2048], err[512], dir[] = "/tmp/vkpref_test_train_XXXXXX";
    cr_assert(mkdtemp(dir));
    const char* src = getenv("VKPREF_SOURCE_DIR");
    snprintf(args, sizeof args,
             "train --model_config %s/configs/models/fmnist-small.json --max_train_steps 4 --train_batch_size 2 "
             "--output_dir %s --log_every 1 --validation_images 0 --validation_grid_seeds 0 --checkpointing_steps 0",
             src ? src : ".", dir);
    cr_assert_eq(run_cli(args, out, sizeof out), 0, "%s", out);
    char path[4096];
    snprintf(path, sizeof path, "%s/model_index.json", dir);
    FILE* f = fopen(path, "r");
    cr_assert(f, "no model_index.json: %s", out);
    fclose(f);
    snprintf(path, sizeof path, "%s/unet/diffusion_pytorch_model.safetensors", dir);
    SafeTensors* st = st_open(path, err, sizeof err);
    cr_assert(st, "%s", err);
    cr_assert(st_find(st, "conv_in.weight") && st_find(st, "up_blocks.1.attentions.1.transformer_blocks.0.attn2.to_k.weight"));
    st_close(st);
    snprintf(path, sizeof path, "%s/train_log.csv", dir);
    f = fopen(path, "r");
    cr_assert(f);
    int lines = 0;
    char line[256];
    while (fgets(line, sizeof line, f)) lines++;
    fclose(f);
    cr_assert_eq(lines, 5, "header + 4 steps, got %d lines", lines);
    snprintf(args, sizeof args, "rm -rf '%s'", dir);
    cr_assert_eq(system(args), 0);
}

Test(cli, train_rejects_an_unknown_option) {
    char out[8192];
    cr_assert_eq(run_cli("train --learning_rat 1e-4", out, sizeof out), 2);
    cr_assert(strstr(out, "learning_rat"), "error names the option: %s", out);
}
