// test_lora_golden.c: LoRA adapters on the `tiny` UNet against PyTorch golden data
// (tools/make_lora_golden.py: its own adapter code, in float64): adapters on
// attention, feed-forward and ResNet convolutions, PEFT's rank and (suffix) alpha
// patterns. The PEFT file's forward output, loss and the gradient of every
// adapter weight; the same adapters read from a kohya file (per-module alpha)
// and attention adapters from an older diffusers file (no alpha: scale 1), each
// written by the tool, not by vkpref; the merged weights (export --merge_lora)
// computing the adapter forward; `vkpref forward --lora` with two files adding
// up; text-encoder adapters (PEFT, kohya, older diffusers) on the tiny CLIP
// against PyTorch, read beside the UNet's from one file, and merged; SDXL's
// text-encoder keys refused by name.
//
// Tolerance TOL_MODEL: NMSE <= 1e-8 is a relative L2 error <= 1e-4 per tensor.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"
#include "model/clip.h"
#include "model/lora.h"
#include "model/unet.h"
#include "model/weights.h"
#include "test_util.h"

#define GOLDEN VKPREF_TEST_DATA "/golden/tiny_lora"
#define BASE VKPREF_TEST_DATA "/golden/tiny/unet"
#define CLIP_BASE VKPREF_TEST_DATA "/golden/clip_tiny/text_encoder"

typedef struct Tiny {
    UNetConfig cfg;
    ParamStore ps;
    UNet u;
} Tiny;

static void tiny_load(Tiny* t) {
    char err[512];
    cr_assert_eq(unet_config_load(&t->cfg, BASE "/config.json", err, sizeof err), 0, "%s", err);
    param_store_init(&t->ps, &tgpu);
    unet_init(&t->u, &t->cfg, &t->ps);
    param_store_alloc(&t->ps, false, false, false);  // frozen: values only
    cr_assert_eq(weights_load(&t->ps, BASE "/diffusion_pytorch_model.safetensors", NULL, err, sizeof err), 0, "%s",
                 err);
}

// The UNet forward of the golden inputs with adapters lora (NULL: none); with
// backward, loss = mean((output - noise)^2) into lora's gradients. Returns the
// output downloaded; *loss when backward.
static double* run_unet(Tiny* t, const LoraSet* lora, bool backward, double* loss) {
    SafeTensors* st = golden_open(GOLDEN "/golden.safetensors");
    Tensor x = golden_upload(st, "x_t"), ts = golden_upload(st, "timesteps");
    Tensor ehs = golden_upload(st, "encoder_hidden_states"), noise = golden_upload(st, "noise");
    st_close(st);
    int64_t N = x.shape[0];
    Arena act, tmp, grad;
    arena_init(&act, &tgpu, "act", 0, false), arena_init(&tmp, &tgpu, "tmp", 0, false);
    arena_init(&grad, &tgpu, "grad", 0, false);
    Tensor mse = arena_tensor1(&tarena, N), coef = arena_tensor1(&tarena, N);
    Tensor sink = arena_tensor1(&tarena, lora_frozen_sink_numel(&t->ps));
    float cf[8];
    for (int i = 0; i < N; i++) cf[i] = 1.0f / (float)N;
    tensor_upload(&tgpu, &coef, cf);
    Cmd c;
    cmd_begin(&c, &tgpu);
    Graph g = {.cmd = &c, .ps = &t->ps, .act = &act, .tmp = &tmp, .grad = &grad, .training = backward,
               .lora = lora, .frozen_sink = &sink};
    UNetActs* acts = calloc(1, sizeof *acts);
    Tensor out = unet_forward(&g, &t->u, acts, &x, &ts, &ehs);
    if (backward) {
        op_mse_per_sample_forward(&c, &mse, &out, &noise);
        Tensor dout = graph_grad_like(&g, &out);
        op_mse_per_sample_backward(&c, &dout, &coef, &out, &noise);
        unet_backward(&g, &t->u, acts, &dout, NULL);
    }
    free(acts);
    cmd_submit(&c);
    cmd_free(&c);
    double* y = t_download_new(&out);
    if (backward) {
        double m[8];
        t_download(&mse, m);
        *loss = 0;
        for (int i = 0; i < N; i++) *loss += m[i] / (double)N;
    }
    arena_free(&act), arena_free(&tmp), arena_free(&grad);
    return y;
}

static void expect_output(const double* got, const char* golden_name, const char* label) {
    SafeTensors* st = golden_open(GOLDEN "/golden.safetensors");
    int64_t n;
    double* want = golden_values(st, golden_name, &n);
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) num += (got[i] - want[i]) * (got[i] - want[i]), den += want[i] * want[i];
    fprintf(stderr, "%s: relative L2 error %.2e against PyTorch\n", label, sqrt(num / den));
    expect_golden_values(st, golden_name, got, n, label, TOL_MODEL);
    free(want);
    st_close(st);
}

static const LoraAdapter* adapter_named(const LoraSet* s, const char* module) {
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->ad[i].module, module)) return &s->ad[i];
    cr_assert_fail("no adapter on %s", module);
    return NULL;
}

Test(lora_golden, peft_forward_and_adapter_gradients, GPU_TEST, .timeout = 300) {
    require_gpu();
    Tiny t;
    tiny_load(&t);
    LoraSet s;
    char err[512];
    cr_assert_eq(lora_load_with_grads(&s, &tgpu, &t.ps, GOLDEN "/peft.safetensors", 1, err, sizeof err), 0, "%s", err);
    cr_assert_eq(s.n, 56, "%d adapters", s.n);
    // PEFT's patterns, matched as name suffixes: ff.net.2 rank 2, conv2 alpha 1.5; else rank 3, alpha 6.
    const LoraAdapter* ff = adapter_named(&s, "mid_block.attentions.0.transformer_blocks.0.ff.net.2");
    const LoraAdapter* c2 = adapter_named(&s, "down_blocks.0.resnets.0.conv2");
    const LoraAdapter* q = adapter_named(&s, "up_blocks.0.attentions.1.transformer_blocks.0.attn2.to_q");
    cr_assert(ff->rank == 2 && ff->alpha == 6.0f, "ff.net.2: rank %d alpha %g", ff->rank, ff->alpha);
    cr_assert(c2->rank == 3 && c2->alpha == 1.5f && c2->k == 3, "conv2: rank %d alpha %g k %d", c2->rank, c2->alpha,
              c2->k);
    cr_assert(q->rank == 3 && q->alpha == 6.0f, "to_q: rank %d alpha %g", q->rank, q->alpha);
    double loss;
    double* y = run_unet(&t, &s, true, &loss);
    expect_output(y, "output", "peft output");
    SafeTensors* st = golden_open(GOLDEN "/golden.safetensors");
    int64_t one;
    double* want_loss = golden_values(st, "loss", &one);
    cr_assert(fabs(loss - want_loss[0]) <= 1e-5 * fabs(want_loss[0]), "loss %.9g, PyTorch %.9g", loss, want_loss[0]);
    for (int i = 0; i < s.ps.n; i++) {
        char name[300];
        snprintf(name, sizeof name, "grad.%s", s.ps.e[i].name);
        expect_golden_tensor(st, name, &s.ps.e[i].grad, name, TOL_MODEL);
    }
    st_close(st);
    free(y), free(want_loss);
    ASSERT_NO_VALIDATION_MESSAGES();
    lora_set_free(&s);
    param_store_free(&t.ps);
}

// The kohya file holds the same adapters with a per-module alpha; the older
// diffusers file attention adapters without alpha (scale 1).
Test(lora_golden, kohya_and_older_diffusers_files, GPU_TEST, .timeout = 300) {
    require_gpu();
    Tiny t;
    tiny_load(&t);
    LoraSet k, o;
    char err[512];
    cr_assert_eq(lora_load(&k, &tgpu, &t.ps, LORA_UNET, GOLDEN "/kohya.safetensors", 1, err, sizeof err), 0, "%s", err);
    cr_assert_eq(k.n, 56);
    cr_assert_eq(adapter_named(&k, "down_blocks.0.resnets.0.conv2")->alpha, 1.5f);
    cr_assert_eq(adapter_named(&k, "mid_block.attentions.0.transformer_blocks.0.attn1.to_out.0")->alpha, 6.0f);
    double* y = run_unet(&t, &k, false, NULL);
    expect_output(y, "output", "kohya output");
    free(y);
    cr_assert_eq(lora_load(&o, &tgpu, &t.ps, LORA_UNET, GOLDEN "/old_diffusers.safetensors", 1, err, sizeof err), 0, "%s", err);
    cr_assert_eq(o.n, 32);
    for (int i = 0; i < o.n; i++) cr_assert_eq(lora_scale(&o, &o.ad[i]), 1.0f, "%s", o.ad[i].module);
    y = run_unet(&t, &o, false, NULL);
    expect_output(y, "output_old", "older diffusers output");
    free(y);
    ASSERT_NO_VALIDATION_MESSAGES();
    lora_set_free(&k), lora_set_free(&o);
    param_store_free(&t.ps);
}

// export --merge_lora's fold (lora_merge): the base with W + (alpha / r) B A and no
// adapters computes the adapter forward.
Test(lora_golden, merged_weights_compute_the_adapter_forward, GPU_TEST, .timeout = 300) {
    require_gpu();
    Tiny t;
    tiny_load(&t);
    LoraSet s;
    char err[512];
    cr_assert_eq(lora_load(&s, &tgpu, &t.ps, LORA_UNET, GOLDEN "/peft.safetensors", 1, err, sizeof err), 0, "%s", err);
    double* with_adapters = run_unet(&t, &s, false, NULL);
    lora_merge(&s, &t.ps);
    double* merged = run_unet(&t, NULL, false, NULL);
    expect_output(merged, "output", "merged output");
    int64_t n = 2 * t.cfg.out_channels * t.cfg.sample_size * t.cfg.sample_size;
    ASSERT_CLOSE("merged vs adapters", merged, with_adapters, n, TOL_F32);
    free(with_adapters), free(merged);
    ASSERT_NO_VALIDATION_MESSAGES();
    lora_set_free(&s);
    param_store_free(&t.ps);
}

// `vkpref forward --lora` as a user runs a parity check: the PEFT file with --grad
// (output and adapter gradients), and two files whose adapters add up on the
// layers both adapt (PyTorch's output_both); a scale count that fits neither rule;
// a file that also adapts the text encoder.
Test(lora_golden, forward_command_with_lora_files) {
    char dir[64], args[4096], out[16384], path[512], err[512];
    temp_dir(dir, "lora_golden");
    snprintf(args, sizeof args, "forward --unet %s --inputs %s/golden.safetensors --lora %s/peft.safetensors --grad "
             "--out %s/one.safetensors", BASE, GOLDEN, GOLDEN, dir);
    cr_assert_eq(run_cli(args, out, sizeof out), 0, "%s", out);
    snprintf(path, sizeof path, "%s/one.safetensors", dir);
    SafeTensors* got = st_open(path, err, sizeof err);
    cr_assert(got, "%s", err);
    SafeTensors* want = golden_open(GOLDEN "/golden.safetensors");
    int grads = 0;
    for (int i = 0; i < st_count(got); i++) {
        const StTensor* tg = st_tensor_at(got, i);
        if (strcmp(tg->name, "output") && strncmp(tg->name, "grad.", 5)) continue;
        cr_assert(st_find(want, tg->name), "%s: not in the golden file", tg->name);
        double* v = malloc((size_t)tg->numel * sizeof *v);
        float* f = malloc((size_t)tg->numel * sizeof *f);
        st_read_f32(got, tg, f);
        for (int64_t k = 0; k < tg->numel; k++) v[k] = f[k];
        expect_golden_values(want, tg->name, v, tg->numel, tg->name, TOL_MODEL);
        grads += !strncmp(tg->name, "grad.", 5);
        free(v), free(f);
    }
    cr_assert_eq(grads, 112, "%d adapter gradients (2 per adapter, none of the frozen base)", grads);
    st_close(got);

    snprintf(args, sizeof args, "forward --unet %s --inputs %s/golden.safetensors --lora %s/peft.safetensors "
             "--lora %s/old_diffusers.safetensors --out %s/two.safetensors", BASE, GOLDEN, GOLDEN, GOLDEN, dir);
    cr_assert_eq(run_cli(args, out, sizeof out), 0, "%s", out);
    snprintf(path, sizeof path, "%s/two.safetensors", dir);
    got = st_open(path, err, sizeof err);
    cr_assert(got, "%s", err);
    const StTensor* y = st_find(got, "output");
    cr_assert(y);
    float* f = malloc((size_t)y->numel * sizeof *f);
    double* v = malloc((size_t)y->numel * sizeof *v);
    st_read_f32(got, y, f);
    for (int64_t k = 0; k < y->numel; k++) v[k] = f[k];
    expect_golden_values(want, "output_both", v, y->numel, "two adapter files added", TOL_MODEL);
    free(f), free(v);
    st_close(got), st_close(want);

    snprintf(args, sizeof args, "forward --unet %s --inputs %s/golden.safetensors --lora %s/peft.safetensors "
             "--lora %s/old_diffusers.safetensors --lora_scale 1 --lora_scale 2 --lora_scale 3 --out %s/bad.safetensors",
             BASE, GOLDEN, GOLDEN, GOLDEN, dir);
    cr_assert_eq(run_cli(args, out, sizeof out), 1, "%s", out);
    cr_assert(strstr(out, "--lora_scale: 3 values for 2 --lora files"), "%s", out);
    // A file adapting both models: forward runs the UNet's adapters and says what it left.
    snprintf(args, sizeof args, "forward --unet %s --inputs %s/golden.safetensors --lora %s/te_peft.safetensors "
             "--out %s/te.safetensors", BASE, GOLDEN, GOLDEN, dir);
    cr_assert_eq(run_cli(args, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "te_peft.safetensors: 24 text-encoder tensors not applied"), "%s", out);
    remove_temp_dir(dir);
}

// The tiny CLIP of tools/make_golden.py (values only, as sampling holds it).
typedef struct TinyClip {
    ClipConfig cfg;
    ParamStore ps;
    ClipTextModel m;
} TinyClip;

static void tiny_clip_load(TinyClip* t) {
    char err[512];
    cr_assert_eq(clip_config_load(&t->cfg, CLIP_BASE "/config.json", err, sizeof err), 0, "%s", err);
    param_store_init(&t->ps, &tgpu);
    clip_init(&t->m, &t->cfg, &t->ps);
    param_store_alloc(&t->ps, false, false, false);
    cr_assert_eq(weights_load(&t->ps, CLIP_BASE "/model.safetensors", NULL, err, sizeof err), 0, "%s", err);
}

// last_hidden_state of the golden te_ids with adapters lora (NULL: none), downloaded.
static double* run_clip(TinyClip* t, const LoraSet* lora) {
    SafeTensors* st = golden_open(GOLDEN "/golden.safetensors");
    int64_t n;
    double* idv = golden_values(st, "te_ids", &n);
    const StTensor* ti = st_find(st, "te_ids");
    int N = (int)ti->shape[0], L = (int)ti->shape[1];
    uint32_t ids[64];
    cr_assert(n <= 64);
    for (int64_t i = 0; i < n; i++) ids[i] = (uint32_t)idv[i];
    free(idv);
    st_close(st);
    Tensor tids = arena_tensor1(&tarena, n);
    tensor_upload_raw(&tgpu, &tids, ids);
    Arena act, tmp;
    arena_init(&act, &tgpu, "act", 0, false), arena_init(&tmp, &tgpu, "tmp", 0, false);
    Cmd c;
    cmd_begin(&c, &tgpu);
    Graph g = {.cmd = &c, .ps = &t->ps, .act = &act, .tmp = &tmp, .training = false, .lora = lora};
    ClipActs* acts = calloc(1, sizeof *acts);
    Tensor out = clip_forward(&g, &t->m, acts, &tids, N, L);
    free(acts);
    cmd_submit(&c);
    cmd_free(&c);
    double* y = t_download_new(&out);
    arena_free(&act), arena_free(&tmp);
    return y;
}

// A file adapting both models (PEFT keys with diffusers' text_encoder.* metadata,
// kohya lora_te_*, diffusers 0.17+ lora_linear_layer): each model reads its own
// keys; the text encoder with its adapters gives PyTorch's last_hidden_state, and
// so does the text encoder with the adapters merged into its weights.
Test(lora_golden, text_encoder_adapters, GPU_TEST, .timeout = 300) {
    require_gpu();
    TinyClip t;
    tiny_clip_load(&t);
    Tiny u;
    tiny_load(&u);
    char err[512];
    const char* files[3] = {GOLDEN "/te_peft.safetensors", GOLDEN "/te_kohya.safetensors", GOLDEN "/te_old.safetensors"};
    const char* want[3] = {"te_output", "te_output", "te_output_old"};
    const float scale[3] = {1.5f, 1.5f, 1.0f};  // alpha 3 / r 2 (metadata, .alpha); none: 1
    for (int f = 0; f < 3; f++) {
        LoraSet s, su;
        cr_assert_eq(lora_load(&s, &tgpu, &t.ps, LORA_TEXT_ENCODER, files[f], 1, err, sizeof err), 0, "%s", err);
        cr_assert_eq(s.n, 12, "%s: %d text-encoder adapters", files[f], s.n);
        for (int i = 0; i < s.n; i++) cr_assert_eq(lora_scale(&s, &s.ad[i]), scale[f], "%s", s.ad[i].module);
        cr_assert_eq(s.skipped, f == 0 ? 2 : 0, "%s: %d UNet tensors", files[f], s.skipped);
        cr_assert_eq(lora_load(&su, &tgpu, &u.ps, LORA_UNET, files[f], 1, err, sizeof err), 0, "%s", err);
        cr_assert_eq(su.n, f == 0 ? 1 : 0, "%s: %d UNet adapters", files[f], su.n);
        cr_assert_eq(su.skipped, f == 1 ? 36 : 24, "%s: %d text-encoder tensors", files[f], su.skipped);
        double* y = run_clip(&t, &s);
        expect_output(y, want[f], files[f]);
        free(y);
        lora_set_free(&s), lora_set_free(&su);
    }
    double* base = run_clip(&t, NULL);  // the adapters change the output
    SafeTensors* st = golden_open(GOLDEN "/golden.safetensors");
    int64_t n;
    double* w = golden_values(st, "te_output", &n), diff = 0;
    for (int64_t i = 0; i < n; i++) diff = fmax(diff, fabs(base[i] - w[i]));
    cr_assert(diff > 1e-2, "the adapters moved the output by %g only", diff);
    free(base), free(w);
    st_close(st);
    LoraSet s;
    cr_assert_eq(lora_load(&s, &tgpu, &t.ps, LORA_TEXT_ENCODER, files[0], 1, err, sizeof err), 0, "%s", err);
    lora_merge(&s, &t.ps);
    double* merged = run_clip(&t, NULL);
    expect_output(merged, "te_output", "merged text encoder");
    free(merged);
    lora_set_free(&s);
    ASSERT_NO_VALIDATION_MESSAGES();
    param_store_free(&t.ps), param_store_free(&u.ps);
}

// SDXL's text-encoder keys (kohya lora_te1_/lora_te2_, diffusers text_encoder_2.):
// refused, naming the key, whichever model reads the file.
Test(lora_golden, sdxl_text_encoder_keys_are_refused_by_name, GPU_TEST) {
    require_gpu();
    Tiny t;
    tiny_load(&t);
    const char* files[2] = {GOLDEN "/text_encoder_kohya.safetensors", GOLDEN "/text_encoder_peft.safetensors"};
    const char* keys[2] = {"lora_te1_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight",
                           "text_encoder_2.text_model.encoder.layers.0.self_attn.q_proj.lora_A.weight"};
    for (int i = 0; i < 2; i++) {
        LoraSet s;
        char err[1024];
        cr_assert_eq(lora_load(&s, &tgpu, &t.ps, LORA_UNET, files[i], 1, err, sizeof err), -1, "%s loaded", files[i]);
        cr_assert(strstr(err, keys[i]) && strstr(err, "SDXL"), "%s", err);
    }
    param_store_free(&t.ps);
}

// Files no layer could apply, that hold non-finite values, or that name layers
// the text encoder does not have: refused by name (an adapter on the token
// embedding, which is no Linear layer, would otherwise be read and never applied).
Test(lora_golden, unusable_text_encoder_adapters_are_refused, GPU_TEST) {
    require_gpu();
    TinyClip t;
    tiny_clip_load(&t);
    char dir[64], path[256], err[1024];
    temp_dir(dir, "lora_bad");
    float a[2 * 16], b[50 * 2], bad_alpha = NAN;
    for (int i = 0; i < 2 * 16; i++) a[i] = 0.1f;
    for (int i = 0; i < 50 * 2; i++) b[i] = 0.1f;
    static const char* const WANT[5] = {"token_embedding is neither a Linear nor a Conv2d layer",
                                        "lora_te_text_model_encoder_layers_0_self_attn_q_proj.alpha': element 0 is NaN",
                                        "q_proj.lora_A.weight': element 3 is infinite",
                                        "lora_te_text_model_encoder_layers_9_mlp_fc1.lora_down.weight': no layer of "
                                        "the text encoder has this kohya name",
                                        "module text_model.encoder.layers.9.mlp.fc1 is not a layer of this text encoder"};
    for (int c = 0; c < 5; c++) {
        StWriter w;
        st_writer_init(&w, ST_F32);
        if (c == 0) {
            st_writer_add(&w, "text_encoder.text_model.embeddings.token_embedding.lora_A.weight", 2, (int64_t[]){2, 16}, a);
            st_writer_add(&w, "text_encoder.text_model.embeddings.token_embedding.lora_B.weight", 2, (int64_t[]){50, 2}, b);
        } else if (c == 1) {
            const char* k = "lora_te_text_model_encoder_layers_0_self_attn_q_proj";
            char n[3][128];
            snprintf(n[0], 128, "%s.lora_down.weight", k), snprintf(n[1], 128, "%s.lora_up.weight", k);
            snprintf(n[2], 128, "%s.alpha", k);
            st_writer_add(&w, n[0], 2, (int64_t[]){2, 16}, a);
            st_writer_add(&w, n[1], 2, (int64_t[]){16, 2}, b);
            st_writer_add(&w, n[2], 0, NULL, &bad_alpha);
        } else if (c == 3) {  // the tiny CLIP has 2 layers
            st_writer_add(&w, "lora_te_text_model_encoder_layers_9_mlp_fc1.lora_down.weight", 2, (int64_t[]){2, 16}, a);
        } else if (c == 4) {
            st_writer_add(&w, "text_encoder.text_model.encoder.layers.9.mlp.fc1.lora_A.weight", 2, (int64_t[]){2, 16}, a);
            st_writer_add(&w, "text_encoder.text_model.encoder.layers.9.mlp.fc1.lora_B.weight", 2, (int64_t[]){50, 2}, b);
        } else {
            a[3] = INFINITY;
            st_writer_add(&w, "text_encoder.text_model.encoder.layers.0.self_attn.q_proj.lora_A.weight", 2,
                          (int64_t[]){2, 16}, a);
            st_writer_add(&w, "text_encoder.text_model.encoder.layers.0.self_attn.q_proj.lora_B.weight", 2,
                          (int64_t[]){16, 2}, b);
        }
        snprintf(path, sizeof path, "%s/bad%d.safetensors", dir, c);
        cr_assert_eq(st_writer_write(&w, path, err, sizeof err), 0, "%s", err);
        st_writer_free(&w);
        a[3] = 0.1f;  // finite again for the files after the infinite one
        LoraSet s;
        int rc = lora_load(&s, &tgpu, &t.ps, LORA_TEXT_ENCODER, path, 1, err, sizeof err);
        cr_assert_eq(rc, -1, "bad%d.safetensors loaded", c);
        cr_assert(strstr(err, path) && strstr(err, WANT[c]), "%s", err);
    }
    remove_temp_dir(dir);
    param_store_free(&t.ps);
}
