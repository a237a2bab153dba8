// test_vae_golden.c: AutoencoderKL against golden data made with diffusers' own
// Encoder / Decoder code (tools/make_vae_golden.py): the encoder's posterior mean
// and logvar and the decoder's output, on two configs (2 blocks with square
// images; 3 blocks, 2 layers, non-square images whose sizes go odd on the way
// down), both mid-attention naming schemes, an F16 weight file, and config and
// weight-file refusals that name the file and key.
//
// Tolerance: every element within 1e-4 x max|want| of the golden value, NMSE <= 1e-9.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"
#include "model/vae.h"
#include "test_util.h"

#define TOL_VAE ((Tol){.rtol = 0, .atol = 1e-4, .nmse = 1e-9})

static void expect(const SafeTensors* st, const char* name, const Tensor* got, const char* label) {
    int64_t n;
    double* want = golden_values(st, name, &n);
    cr_assert_eq(n, tensor_numel(got), "%s: %lld elements, golden %lld", label, (long long)tensor_numel(got), (long long)n);
    double* g = t_download_new(got);
    double maxref = 0, maxerr = 0;
    for (int64_t i = 0; i < n; i++) maxref = fmax(maxref, fabs(want[i])), maxerr = fmax(maxerr, fabs(g[i] - want[i]));
    fprintf(stderr, "%s: max |got - want| / max |want| = %.2e\n", label, maxerr / maxref);
    ASSERT_CLOSE(label, g, want, n, TOL_VAE);
    free(g), free(want);
}

// Loads <golden>/<name>/<folder>, encodes golden `pixels` and decodes golden
// `latents`, and compares with the tensors of <golden>/<name>/<golden_file>.
// binding_bytes: VaeScratch.max_binding_bytes (0: the device's limit).
static void check_vae(const char* name, const char* folder, const char* golden_file, uint64_t binding_bytes) {
    char dir[1024], path[1024], err[512], label[256];
    snprintf(dir, sizeof dir, "%s/golden/%s/%s", VKPREF_TEST_DATA, name, folder);
    AutoencoderKL m;
    ParamStore ps;
    cr_assert_eq(vae_load(&m, &ps, &tgpu, dir, "", DTYPE_F32, err, sizeof err), 0, "%s", err);
    snprintf(path, sizeof path, "%s/golden/%s/golden.safetensors", VKPREF_TEST_DATA, name);
    SafeTensors* in = golden_open(path);
    snprintf(path, sizeof path, "%s/golden/%s/%s", VKPREF_TEST_DATA, name, golden_file);
    SafeTensors* want = golden_open(path);
    Tensor x = golden_upload(in, "pixels"), z = golden_upload(in, "latents");
    const VaeConfig* c = &m.cfg;
    int64_t N = x.shape[0], h = vae_latent_size(c, x.shape[2]), w = vae_latent_size(c, x.shape[3]);
    cr_assert(h == z.shape[2] && w == z.shape[3], "latent size %lldx%lld, golden %lldx%lld", (long long)h, (long long)w,
              (long long)z.shape[2], (long long)z.shape[3]);
    Tensor mean = arena_tensor4(&tarena, N, c->latent_channels, h, w);
    Tensor logvar = arena_tensor4(&tarena, N, c->latent_channels, h, w);
    Tensor image = arena_tensor4(&tarena, N, c->out_channels, vae_image_size(c, h), vae_image_size(c, w));

    Arena tmp;
    arena_init(&tmp, &tgpu, "tmp", 0, false);
    VaeScratch s;
    vae_scratch_init(&s, &tgpu);
    s.max_binding_bytes = binding_bytes;
    Cmd cmd;
    cmd_begin(&cmd, &tgpu);
    Graph g = {.cmd = &cmd, .ps = &ps, .tmp = &tmp, .training = false};
    vae_encode(&g, &m, &s, &x, &mean, &logvar);
    vae_decode(&g, &m, &s, &z, &image);
    cmd_submit(&cmd);
    cmd_free(&cmd);

    snprintf(label, sizeof label, "%s/%s latent_mean", name, folder), expect(want, "latent_mean", &mean, label);
    snprintf(label, sizeof label, "%s/%s latent_logvar", name, folder), expect(want, "latent_logvar", &logvar, label);
    snprintf(label, sizeof label, "%s/%s decoded", name, folder), expect(want, "decoded", &image, label);
    st_close(in), st_close(want);
    vae_scratch_free(&s);
    arena_free(&tmp);
    param_store_free(&ps);
    ASSERT_NO_VALIDATION_MESSAGES();
}

Test(vae_golden, tiny, GPU_TEST) {
    require_gpu();
    check_vae("tiny_vae", "vae", "golden.safetensors", 0);
}

Test(vae_golden, tiny_legacy_attention_names, GPU_TEST) {
    require_gpu();
    check_vae("tiny_vae", "vae_legacy", "golden.safetensors", 0);
}

Test(vae_golden, tiny_f16_weights, GPU_TEST) {
    require_gpu();
    check_vae("tiny_vae", "vae_f16", "golden_f16.safetensors", 0);
}

Test(vae_golden, odd_sizes_three_blocks, GPU_TEST) {
    require_gpu();
    check_vae("tiny_vae_odd", "vae", "golden.safetensors", 0);
}

// A device whose bindings hold 16 KiB: the decoder runs one image at a time (an
// image's largest activation, 16 x 16 x 16 floats, is 16 KiB), the encoder both
// together but its downsampler without the padded copy (2 x 8 x 17 x 17 floats
// do not fit): the 4x4-kernel path.
Test(vae_golden, small_bindings_split_the_batch, GPU_TEST) {
    require_gpu();
    check_vae("tiny_vae", "vae", "golden.safetensors", 16384);
}

// 10 KiB: one image at a time through the encoder (6.2 KiB each) and the decoder (10 KiB).
Test(vae_golden, small_bindings_split_the_batch_odd_sizes, GPU_TEST) {
    require_gpu();
    check_vae("tiny_vae_odd", "vae", "golden.safetensors", 10240);
}

// 4 KiB: one image's 8 x 16 x 16 activations (8 KiB) do not fit either: they go in
// pieces of whole groups (2 of 4 channels; the decoder's upsampled 16 x 16 x 16 in
// 4), norms run per piece and convs sum over input pieces; the encoder's
// downsampler takes pieces through its 4x4 path.
Test(vae_golden, activations_in_channel_pieces, GPU_TEST) {
    require_gpu();
    check_vae("tiny_vae", "vae", "golden.safetensors", 4096);
}

// 5 KiB: 2 pieces (of the 2 groups) of the odd config's 4 x 22 x 18 encoder input
// and 8 x 20 x 16 decoder activations; the pieces of one tensor and the next differ.
Test(vae_golden, activations_in_channel_pieces_odd_sizes, GPU_TEST) {
    require_gpu();
    check_vae("tiny_vae_odd", "vae", "golden.safetensors", 5120);
}

// ---------------------------------------------------------------------------
// Refusals

static const char* TINY_CONFIG =
    "{\"_class_name\": \"AutoencoderKL\", \"in_channels\": 3, \"out_channels\": 3, \"latent_channels\": 4,"
    " \"block_out_channels\": [8, 16], \"down_block_types\": [\"DownEncoderBlock2D\", \"DownEncoderBlock2D\"],"
    " \"up_block_types\": [\"UpDecoderBlock2D\", \"UpDecoderBlock2D\"], \"layers_per_block\": 1,"
    " \"norm_num_groups\": 4, \"sample_size\": 16, \"scaling_factor\": 0.18215}";

// TINY_CONFIG with the first occurrence of `from` replaced by `to`; parse must fail naming key.
static void expect_refusal(const char* from, const char* to, const char* key) {
    char text[2048], err[512] = "";
    const char* at = strstr(TINY_CONFIG, from);
    cr_assert(at, "test bug: %s not in the config", from);
    snprintf(text, sizeof text, "%.*s%s%s", (int)(at - TINY_CONFIG), TINY_CONFIG, to, at + strlen(from));
    VaeConfig c;
    cr_assert_neq(vae_config_parse(&c, text, "vae/config.json", err, sizeof err), 0, "accepted %s", text);
    char want[128];
    snprintf(want, sizeof want, "vae/config.json: key \"%s\"", key);
    cr_assert(strstr(err, want), "error \"%s\" does not name %s", err, want);
}

Test(vae_config, parses_the_tiny_config) {
    VaeConfig c;
    char err[512] = "";
    cr_assert_eq(vae_config_parse(&c, TINY_CONFIG, "vae/config.json", err, sizeof err), 0, "%s", err);
    cr_assert(c.nblocks == 2 && c.block_out_channels[1] == 16 && c.latent_channels == 4 && c.layers_per_block == 1);
    cr_assert(c.use_quant_conv && c.use_post_quant_conv && c.mid_block_add_attention);
    cr_assert(fabsf(c.scaling_factor - 0.18215f) < 1e-7f && c.shift_factor == 0);
    cr_assert_eq(vae_latent_size(&c, 16), 8);
    cr_assert_eq(vae_latent_size(&c, 15), 7);  // zero pad, then 3x3 stride 2: floor(s / 2)
    cr_assert_eq(vae_image_size(&c, 8), 16);
}

Test(vae_config, refuses_bad_values_naming_the_key) {
    expect_refusal("\"DownEncoderBlock2D\", \"DownEncoderBlock2D\"", "\"DownEncoderBlock2D\", \"AttnDownEncoderBlock2D\"",
                   "down_block_types");
    expect_refusal("[\"UpDecoderBlock2D\", \"UpDecoderBlock2D\"]", "[\"UpDecoderBlock2D\"]", "up_block_types");
    expect_refusal("\"latent_channels\": 4", "\"latent_channels\": 0", "latent_channels");
    expect_refusal("\"norm_num_groups\": 4", "\"norm_num_groups\": 3", "block_out_channels");
    expect_refusal("\"layers_per_block\": 1", "\"layers_per_block\": 0", "layers_per_block");
    expect_refusal("\"AutoencoderKL\"", "\"AutoencoderTiny\"", "_class_name");
    expect_refusal("\"sample_size\": 16", "\"act_fn\": \"gelu\"", "act_fn");
    expect_refusal("\"sample_size\": 16", "\"latents_mean\": [0.1, 0.2, 0.3, 0.4]", "latents_mean");
}

Test(vae_weights, missing_tensor_names_file_and_tensor, GPU_TEST) {
    require_gpu();
    // The odd config's weights (3 blocks) do not hold the tiny model's tensors
    // (its conv_in has 8 outputs, the odd one 4).
    char path[1024], err[512] = "";
    snprintf(path, sizeof path, "%s/golden/tiny_vae/vae/config.json", VKPREF_TEST_DATA);
    VaeConfig c;
    cr_assert_eq(vae_config_load(&c, path, err, sizeof err), 0, "%s", err);
    AutoencoderKL m;
    ParamStore ps;
    param_store_init(&ps, &tgpu);
    vae_init(&m, &c, &ps);
    param_store_alloc(&ps, false, false, false);
    snprintf(path, sizeof path, "%s/golden/tiny_vae_odd/vae/diffusion_pytorch_model.safetensors", VKPREF_TEST_DATA);
    cr_assert_neq(vae_load_weights(&ps, path, err, sizeof err), 0);
    cr_assert(strstr(err, "diffusion_pytorch_model.safetensors") && strstr(err, "encoder.conv_in.weight"),
              "error \"%s\" names neither the file nor the tensor", err);
    param_store_free(&ps);
    ASSERT_NO_VALIDATION_MESSAGES();
}
