// test_cli.c: the vkpref binary as a user runs it: info, forward parity on the
// golden tiny UNet, and clear errors for bad input.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "io/safetensors.h"
#include "test_util.h"

static int run(const char* args, char* out, size_t outlen) {
    const char* bin = getenv("VKPREF_BIN");
    cr_assert(bin, "VKPREF_BIN is not set (run through ctest)");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s %s 2>&1", bin, args);
    FILE* p = popen(cmd, "r");
    cr_assert(p);
    size_t n = fread(out, 1, outlen - 1, p);
    out[n] = 0;
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

Test(cli, info_lists_a_device) {
    char out[8192];
    cr_assert_eq(run("info", out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "selected: device"), "%s", out);
}

Test(cli, unknown_command_is_an_error) {
    char out[8192];
    cr_assert_eq(run("frobnicate", out, sizeof out), 2);
    cr_assert(strstr(out, "unknown command 'frobnicate'"), "%s", out);
}

Test(cli, forward_matches_pytorch_golden, .timeout = 300) {
    char out[8192], args[2048], err[512];
    const char* dir = VKPREF_TEST_DATA "/golden/tiny";
    char result[] = "/tmp/vkpref_test_forward_XXXXXX";
    int fd = mkstemp(result);
    cr_assert(fd >= 0);
    snprintf(args, sizeof args, "forward --unet %s/unet --inputs %s/golden.safetensors --out %s --grad", dir, dir, result);
    cr_assert_eq(run(args, out, sizeof out), 0, "%s", out);
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
    cr_assert_eq(run("forward --unet /nonexistent/unet --inputs x.safetensors --out y.safetensors", out, sizeof out), 1);
    cr_assert(strstr(out, "/nonexistent/unet/config.json"), "error names the file: %s", out);
}
