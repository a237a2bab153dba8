// test_cli_vae.c: `vkpref forward --vae` as a user runs it: encode and decode on
// the tiny VAE against diffusers' golden outputs, latents alone, and clear
// errors for bad input (usage, wrong latent channels, nothing to do).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/safetensors.h"
#include "test_util.h"

#define GOLDEN VKPREF_TEST_DATA "/golden/tiny_vae"

// got's tensor `name` within 1e-4 x max|want| of want's.
static void expect_same(const SafeTensors* got, const SafeTensors* want, const char* name) {
    const StTensor *g = st_find(got, name), *w = st_find(want, name);
    cr_assert(g, "output lacks %s", name);
    cr_assert(w);
    cr_assert_eq(g->numel, w->numel, "%s: %lld elements, golden %lld", name, (long long)g->numel, (long long)w->numel);
    for (int d = 0; d < w->ndim; d++) cr_assert_eq(g->shape[d], w->shape[d], "%s: dimension %d differs", name, d);
    float *a = malloc((size_t)g->numel * sizeof *a), *b = malloc((size_t)w->numel * sizeof *b);
    st_read_f32(got, g, a);
    st_read_f32(want, w, b);
    double maxref = 0, maxerr = 0;
    for (int64_t i = 0; i < w->numel; i++) maxref = fmax(maxref, fabs(b[i])), maxerr = fmax(maxerr, fabs(a[i] - b[i]));
    cr_assert(maxerr <= 1e-4 * maxref, "%s: max |got - want| %.3g > 1e-4 x %.3g", name, maxerr, maxref);
    free(a), free(b);
}

static SafeTensors* open_or_fail(const char* path) {
    char err[512];
    SafeTensors* st = st_open(path, err, sizeof err);
    cr_assert(st, "%s", err);
    return st;
}

Test(cli_vae, forward_encodes_and_decodes_like_diffusers, .timeout = 300) {
    char out[8192], args[2048], dir[64], result[128];
    temp_dir(dir, "cli_vae");
    snprintf(result, sizeof result, "%s/out.safetensors", dir);
    // GOLDEN holds vae/ as a pipeline folder does: --vae takes either.
    snprintf(args, sizeof args, "forward --vae %s --inputs %s/golden.safetensors --out %s", GOLDEN, GOLDEN, result);
    cr_assert_eq(run_cli(args, out, sizeof out), 0, "%s", out);
    SafeTensors *got = open_or_fail(result), *want = open_or_fail(GOLDEN "/golden.safetensors");
    expect_same(got, want, "latent_mean");
    expect_same(got, want, "latent_logvar");
    expect_same(got, want, "decoded");
    cr_assert_eq(st_count(got), 3, "unexpected tensors in the output");
    st_close(got), st_close(want);
    remove_temp_dir(dir);
}

// Writes IN.safetensors holding only the golden `name` (renamed `as`) into dir.
static void write_single_input(const char* dir, const char* name, const char* as, char* path, size_t n) {
    SafeTensors* g = open_or_fail(GOLDEN "/golden.safetensors");
    const StTensor* t = st_find(g, name);
    float* h = malloc((size_t)t->numel * sizeof *h);
    st_read_f32(g, t, h);
    StWriter w;
    st_writer_init(&w, ST_F32);
    st_writer_add(&w, as, t->ndim, t->shape, h);
    snprintf(path, n, "%s/in.safetensors", dir);
    char err[512];
    cr_assert_eq(st_writer_write(&w, path, err, sizeof err), 0, "%s", err);
    st_writer_free(&w);
    free(h);
    st_close(g);
}

Test(cli_vae, forward_decodes_latents_alone, .timeout = 300) {
    char out[8192], args[2048], dir[64], in[128], result[128];
    temp_dir(dir, "cli_vae_latents");
    write_single_input(dir, "latents", "latents", in, sizeof in);
    snprintf(result, sizeof result, "%s/out.safetensors", dir);
    snprintf(args, sizeof args, "forward --vae %s/vae_legacy --inputs %s --out %s", GOLDEN, in, result);
    cr_assert_eq(run_cli(args, out, sizeof out), 0, "%s", out);
    SafeTensors *got = open_or_fail(result), *want = open_or_fail(GOLDEN "/golden.safetensors");
    expect_same(got, want, "decoded");
    cr_assert_eq(st_count(got), 1, "only `decoded` expected without pixels");
    st_close(got), st_close(want);
    remove_temp_dir(dir);
}

Test(cli_vae, forward_names_bad_inputs) {
    char out[8192], args[2048], dir[64], in[128];
    temp_dir(dir, "cli_vae_bad");
    // pixels given as latents: 3 channels where the VAE has 4 latent channels
    write_single_input(dir, "pixels", "latents", in, sizeof in);
    snprintf(args, sizeof args, "forward --vae %s/vae --inputs %s --out %s/out.safetensors", GOLDEN, in, dir);
    cr_assert_eq(run_cli(args, out, sizeof out), 1, "%s", out);
    cr_assert(strstr(out, in) && strstr(out, "\"latents\"") && strstr(out, "latent_channels"), "%s", out);
    // neither pixels nor latents
    write_single_input(dir, "pixels", "images", in, sizeof in);
    cr_assert_eq(run_cli(args, out, sizeof out), 1, "%s", out);
    cr_assert(strstr(out, in) && strstr(out, "\"pixels\" or \"latents\""), "%s", out);
    // --grad is for the UNet only; --unet and --vae together are a usage error
    snprintf(args, sizeof args, "forward --vae %s/vae --inputs %s --out x.safetensors --grad", GOLDEN, in);
    cr_assert_eq(run_cli(args, out, sizeof out), 2, "%s", out);
    snprintf(args, sizeof args, "forward --vae %s/vae --unet %s/vae --inputs %s --out x.safetensors", GOLDEN, GOLDEN, in);
    cr_assert_eq(run_cli(args, out, sizeof out), 2, "%s", out);
    // a missing folder names the file
    cr_assert_eq(run_cli("forward --vae /nonexistent/vae --inputs x.safetensors --out y.safetensors", out, sizeof out), 1);
    cr_assert(strstr(out, "/nonexistent/vae/config.json"), "error names the file: %s", out);
    remove_temp_dir(dir);
}
