// test_judge.c: the judges. Image statistics on synthetic images (exact values),
// negation and aliases, determinism, errors naming the bad spec, caption or
// folder; fmnist_parse_caption against every caption fmnist_caption_with writes;
// the classifier's recorded forward/backward vs a double-precision reference
// composed of the ops' references; and `vkpref train-judge` on a tiny budget,
// whose folder a `classifier:DIR` judge loads: better than chance on real test
// images, and a real image's true caption scores higher than a wrong one.
#include <math.h>
#include <string.h>

#include "io/fmnist.h"
#include "judge/classifier.h"
#include "judge/judge.h"
#include "model/graph.h"
#include "test_util.h"
#include "util/json_fields.h"

#define PIX (FMNIST_SIDE * FMNIST_SIDE)

static double score1(const char* spec, const float* img) {
    Judge j;
    char err[512];
    cr_assert_eq(judge_open(&j, NULL, spec, err, sizeof err), 0, "%s", err);
    double s = NAN;
    cr_assert_eq(judge_score(&j, img, NULL, 1, &s), 0, "%s", j.err);
    judge_close(&j);
    return s;
}

// Raw byte value v as the model sees it.
static float raw_value(int v) { return (float)(v / 127.5 - 1.0); }

Test(judge, statistics_exact_on_synthetic_images) {
    static float img[3][PIX];
    for (int i = 0; i < PIX; i++) {
        img[0][i] = -1.0f;                  // background only
        img[1][i] = i % 2 ? 1.0f : -1.0f;   // half white, half background
        img[2][i] = i < 100 ? raw_value(FMNIST_INK) : i < 300 ? raw_value(FMNIST_INK - 1) : -1.0f;
    }
    cr_assert_eq(score1("brightness", img[0]), -1.0);
    cr_assert_eq(score1("contrast", img[0]), 0.0);
    cr_assert_eq(score1("ink", img[0]), 0.0);
    cr_assert_eq(score1("brightness", img[1]), 0.0);
    cr_assert_eq(score1("contrast", img[1]), 1.0);
    cr_assert_eq(score1("ink", img[1]), 0.5);
    // Raw FMNIST_INK counts as garment, FMNIST_INK - 1 (scanner noise) does not.
    cr_assert_eq(score1("ink", img[2]), 100.0 / PIX);
    double mean = (100.0 * raw_value(FMNIST_INK) + 200.0 * raw_value(FMNIST_INK - 1) - (PIX - 300)) / PIX;
    cr_assert(fabs(score1("brightness", img[2]) - mean) < 1e-12);
}

// border: the mean of the 2-pixel frame only (240 of the 1024 pixels); a real
// image has background there, its inverted style has white.
Test(judge, border_reads_only_the_frame) {
    static float img[PIX];
    for (int i = 0; i < PIX; i++) img[i] = 1.0f;  // everything white ...
    for (int y = 2; y < FMNIST_SIDE - 2; y++)
        for (int x = 2; x < FMNIST_SIDE - 2; x++) img[y * FMNIST_SIDE + x] = -1.0f;  // ... but the inside
    cr_assert_eq(score1("border", img), 1.0);
    img[0] = -1.0f, img[FMNIST_SIDE + 1] = -1.0f;  // two frame pixels: (0,0) and (1,1)
    cr_assert(fabs(score1("border", img) - (238.0 - 2.0) / 240.0) < 1e-12);
    for (int i = 0; i < PIX; i++) img[i] = -img[i];
    cr_assert(fabs(score1("-border", img) - (238.0 - 2.0) / 240.0) < 1e-12);
}

Test(judge, negation_and_aliases) {
    static float img[PIX];
    for (int i = 0; i < PIX; i++) img[i] = (float)sin(i * 0.37) * 0.9f;
    double b = score1("brightness", img), c = score1("contrast", img), k = score1("ink", img);
    cr_assert_neq(b, 0.0);
    cr_assert_eq(score1("-brightness", img), -b);
    cr_assert_eq(score1("darkness", img), -b);
    cr_assert_eq(score1("-darkness", img), b);
    cr_assert_eq(score1("-contrast", img), -c);
    cr_assert_eq(score1("small", img), -k);
    cr_assert_eq(score1("-small", img), k);
    cr_assert_eq(score1("-ink", img), -k);
}

Test(judge, statistics_are_deterministic_and_ignore_captions) {
    enum { N = 5 };
    static float img[N][PIX];
    for (int n = 0; n < N; n++)
        for (int i = 0; i < PIX; i++) img[n][i] = (float)cos(i * 0.011 * (n + 1));
    const char* caps[N] = {"anything", "", "a photo of a bag", "x", "y"};
    const char* names[] = {"brightness", "contrast", "ink", "-ink"};
    for (int k = 0; k < 4; k++) {
        Judge j;
        char err[256];
        cr_assert_eq(judge_open(&j, NULL, names[k], err, sizeof err), 0, "%s", err);
        cr_assert(!judge_uses_captions(&j));
        double a[N], b[N];
        cr_assert_eq(judge_score(&j, &img[0][0], caps, N, a), 0);
        cr_assert_eq(judge_score(&j, &img[0][0], NULL, N, b), 0);
        cr_assert(!memcmp(a, b, sizeof a), "%s: scores differ between calls", names[k]);
        for (int n = 0; n < N; n++) cr_assert_eq(a[n], score1(names[k], img[n]), "%s: batch vs single", names[k]);
        int cls[N];
        cr_assert_eq(judge_classify(&j, &img[0][0], N, cls), -1, "a statistic is not a classifier");
        judge_close(&j);
    }
}

Test(judge, unknown_names_are_errors_naming_them) {
    const char* bad[] = {"brightnes", "--ink", "-", "", "classifier:", "Brightness"};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        Judge j;
        char err[1024] = "";
        cr_assert_eq(judge_open(&j, NULL, bad[k], err, sizeof err), -1, "\"%s\" was accepted", bad[k]);
        char quoted[64];
        snprintf(quoted, sizeof quoted, "\"%s\"", bad[k]);
        cr_assert(strstr(err, quoted), "error for %s does not name it: %s", quoted, err);
    }
}

Test(judge, parse_caption_inverts_caption_with) {
    for (int l = 0; l < FMNIST_CLASSES; l++)
        for (int t = 0; t < 3; t++)
            for (int s = 0; s < 3; s++) {
                char buf[128];
                fmnist_caption_with(l, (FmnistTone)t, (FmnistSize)s, buf, sizeof buf);
                int label = -1;
                FmnistTone tone;
                FmnistSize size;
                cr_assert(fmnist_parse_caption(buf, &label, &tone, &size), "%s", buf);
                cr_assert(label == l && tone == (FmnistTone)t && size == (FmnistSize)s, "%s", buf);
            }
    const char* bad[] = {"a photo of an sneaker", "a photo of a Sneaker", "a photo of a sneaker ", "a sneaker",
                         "a photo of a small dark sneaker", "a photo of a cat", ""};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        int label = 77;
        cr_assert(!fmnist_parse_caption(bad[k], &label, NULL, NULL), "\"%s\" parsed", bad[k]);
        cr_assert_eq(label, 77);
    }
}

Test(judge, missing_classifier_folder_is_named, GPU_TEST) {
    require_gpu();
    Judge j;
    char err[8192];
    cr_assert_eq(judge_open(&j, &tgpu, "classifier:/tmp/vkpref_no_such_judge_dir", err, sizeof err), -1);
    cr_assert(strstr(err, "/tmp/vkpref_no_such_judge_dir"), "%s", err);
    cr_assert(strstr(err, "train-judge"), "no hint: %s", err);
    ASSERT_NO_VALIDATION_MESSAGES();
}

// ---------------------------------------------------------------------------
// The classifier's forward and backward, recorded as in training, against the
// references of its ops chained in double: pins the wiring (flatten order,
// SiLU on the pre-activations, every parameter's gradient, no input gradient).

static double* dl(const Tensor* t) { return t_download_new(t); }

Test(judge, classifier_gradients_match_reference, GPU_TEST) {
    require_gpu();
    const ClassifierConfig cfg = {.image_size = 9, .num_classes = 5, .nconv = 3, .channels = {3, 6, 5},
                                  .strides = {1, 2, 2}};
    int N = 3, S = cfg.image_size, K = cfg.num_classes;
    ParamStore ps;
    param_store_init(&ps, &tgpu);
    Classifier m;
    ClassifierActs acts;
    classifier_init(&m, &cfg, &ps);
    cr_assert_eq(param_find(&ps, "conv1.weight"), 0);
    cr_assert(param_find(&ps, "conv3.bias") >= 0 && param_find(&ps, "fc.weight") >= 0);
    param_store_alloc(&ps, true, false, false);
    param_store_init_random(&ps, 3);
    TestRng rng = rng_seed(21);
    double* x = rand_array(&rng, (int64_t)N * S * S, -1, 1);
    double coef[3] = {0.5, -1.25, 0.8};
    uint32_t labels[3] = {4, 0, 2};
    Tensor tx = t_upload(4, (int64_t[]){N, 1, S, S}, x), tc = t_upload(1, (int64_t[]){N}, coef);
    Tensor ty = arena_tensor1(&tarena, N), tlogits = arena_tensor2(&tarena, N, K), tloss = arena_tensor1(&tarena, N);
    tensor_upload_raw(&tgpu, &ty, labels);
    Arena act, gr;
    arena_init(&act, &tgpu, "act", 0, false), arena_init(&gr, &tgpu, "grad", 0, false);
    Cmd c;
    cmd_begin(&c, &tgpu);
    Graph g = {.cmd = &c, .ps = &ps, .act = &act, .tmp = &act, .grad = &gr, .training = true};
    classifier_forward(&g, &m, &acts, &tlogits, &tx);
    op_softmax_xent_forward(&c, &tloss, &tlogits, &ty);
    Tensor dlogits = graph_grad_like(&g, &tlogits);
    op_softmax_xent_backward(&c, &dlogits, &tc, &tlogits, &ty);
    classifier_backward(&g, &m, &acts, &dlogits);
    cmd_submit(&c);
    cmd_free(&c);

    // The same in double, from the same (float) parameter values.
    double *w[4], *b[4], *gw[4], *gb[4], *pre[4], *a[4], *in = x;
    int cin = 1, side = S;
    Conv2dDims d[3];
    for (int i = 0; i <= cfg.nconv; i++) w[i] = dl(&ps.e[2 * i].value), b[i] = dl(&ps.e[2 * i + 1].value);
    for (int i = 0; i < cfg.nconv; i++) {
        d[i] = (Conv2dDims){N, cin, side, side, cfg.channels[i], 3, 3, cfg.strides[i], 1};
        int o = conv2d_out_h(d[i]);
        int64_t n = (int64_t)N * cfg.channels[i] * o * o;
        pre[i] = calloc(n, sizeof(double)), a[i] = calloc(n, sizeof(double));
        ref_conv2d_forward(pre[i], in, w[i], b[i], d[i]);
        ref_act_forward(a[i], pre[i], n, ACT_SILU);
        in = a[i], cin = cfg.channels[i], side = o;
    }
    int F = classifier_feature_width(&cfg), L = cfg.nconv;
    cr_assert_eq(F, cin * side * side);
    double logits[15], loss[3], dlog[15] = {0};
    ref_linear_forward(logits, a[L - 1], w[L], b[L], N, F, K);
    ref_softmax_xent_forward(loss, logits, labels, N, K);
    ref_softmax_xent_backward(dlog, coef, logits, labels, N, K);
    double* dh = calloc((size_t)N * F, sizeof(double));
    gw[L] = calloc((size_t)K * F, sizeof(double)), gb[L] = calloc(K, sizeof(double));
    ref_linear_backward(dh, gw[L], gb[L], dlog, a[L - 1], w[L], N, F, K);
    for (int i = L - 1; i >= 0; i--) {
        int o = conv2d_out_h(d[i]);
        int64_t n = (int64_t)N * cfg.channels[i] * o * o;
        double* dpre = calloc(n, sizeof(double));
        ref_act_backward(dpre, dh, pre[i], n, ACT_SILU);
        gw[i] = calloc((size_t)cfg.channels[i] * d[i].C * 9, sizeof(double)), gb[i] = calloc(cfg.channels[i], sizeof(double));
        double* dx = i > 0 ? calloc((size_t)N * d[i].C * d[i].H * d[i].W, sizeof(double)) : NULL;
        ref_conv2d_backward(dx, gw[i], gb[i], dpre, i > 0 ? a[i - 1] : x, w[i], d[i]);
        free(dpre), free(dh);
        dh = dx;
    }
    // Chained fp32 kernels (conv sums of 9*C terms, SiLU, the fc sum of F terms):
    // a few ulps per stage compound, so the bounds are 10x TOL_F32's.
    Tol tol = {.rtol = 1e-3, .atol = 1e-4, .nmse = 1e-9};
    double* got = dl(&tlogits);
    ASSERT_CLOSE("classifier logits", got, logits, N * K, tol);
    free(got);
    got = dl(&tloss);
    ASSERT_CLOSE("classifier loss", got, loss, N, tol);
    free(got);
    for (int i = 0; i <= L; i++) {
        char label[PARAM_NAME_MAX + 8];
        snprintf(label, sizeof label, "grad %s", ps.e[2 * i].name);
        got = dl(&ps.e[2 * i].grad);
        ASSERT_CLOSE(label, got, gw[i], param_numel(&ps, 2 * i), tol);
        free(got);
        snprintf(label, sizeof label, "grad %s", ps.e[2 * i + 1].name);
        got = dl(&ps.e[2 * i + 1].grad);
        ASSERT_CLOSE(label, got, gb[i], param_numel(&ps, 2 * i + 1), tol);
        free(got);
    }
    for (int i = 0; i <= L; i++) free(w[i]), free(b[i]), free(gw[i]), free(gb[i]);
    for (int i = 0; i < L; i++) free(pre[i]), free(a[i]);
    free(x);
    arena_free(&act), arena_free(&gr);
    param_store_free(&ps);
    ASSERT_NO_VALIDATION_MESSAGES();
}

// ---------------------------------------------------------------------------
// train-judge on a tiny budget, then the judge it makes.

static double config_number(const char* dir, const char* key) {
    char path[256], err[512];
    snprintf(path, sizeof path, "%s/config.json", dir);
    char* text = json_read_file(path, err, sizeof err);
    cr_assert(text, "%s", err);
    cJSON* root = json_parse_object(text, path, err, sizeof err);
    cr_assert(root, "%s", err);
    const cJSON* v = cJSON_GetObjectItemCaseSensitive(root, key);
    cr_assert(cJSON_IsNumber(v), "%s: no number \"%s\"", path, key);
    double r = v->valuedouble;
    cJSON_Delete(root);
    free(text);
    return r;
}

Test(judge, train_judge_cli_and_classifier_judge, GPU_TEST, .timeout = 300) {
    require_gpu();
    char dir[64], folder[128], args[512], out[16384];
    temp_dir(dir, "judge");
    snprintf(folder, sizeof folder, "%s/clf", dir);
    snprintf(args, sizeof args,
             "train-judge --output_dir %s --max_steps 40 --lr_warmup_steps 5 --test_images 500 --batch 32", folder);
    cr_assert_eq(run_cli(args, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "test accuracy"), "%s", out);
    double acc = config_number(folder, "test_accuracy");
    cr_assert(acc > 0.3, "test accuracy %.3f after 40 steps: not better than chance", acc);
    cr_assert(config_number(folder, "test_mean_log_prob") < 0);
    cr_assert_eq(config_number(folder, "train_steps"), 40);

    // The judge: real test images of each class with their caption vs a wrong one.
    Fmnist test;
    fmnist_load_or_die(&test, NULL, FMNIST_TEST);
    enum { N = 200 };
    static float img[N][PIX];
    static char right[N][96], wrong[N][96];
    const char *rc[N], *wc[N];
    for (int i = 0; i < N; i++) {
        fmnist_image(&test, i, img[i]);
        int l = test.labels[i];
        // Attribute words must not matter to the class judge, so use them on some.
        fmnist_caption_with(l, (FmnistTone)(i % 3), (FmnistSize)(i / 3 % 3), right[i], sizeof right[i]);
        fmnist_caption_with((l + 1 + i % 9) % FMNIST_CLASSES, FMNIST_TONE_NONE, FMNIST_SIZE_NONE, wrong[i],
                            sizeof wrong[i]);
        rc[i] = right[i], wc[i] = wrong[i];
    }
    char spec[160], err[8192];
    snprintf(spec, sizeof spec, "classifier:%s", folder);
    Judge j;
    cr_assert_eq(judge_open(&j, &tgpu, spec, err, sizeof err), 0, "%s", err);
    cr_assert(judge_uses_captions(&j));
    static double s1[N], s2[N], sw[N];
    cr_assert_eq(judge_score(&j, &img[0][0], rc, N, s1), 0, "%s", j.err);
    cr_assert_eq(judge_score(&j, &img[0][0], rc, N, s2), 0, "%s", j.err);
    cr_assert(!memcmp(s1, s2, sizeof s1), "classifier scores differ between calls");
    cr_assert_eq(judge_score(&j, &img[0][0], wc, N, sw), 0, "%s", j.err);
    double mr = 0, mw = 0;
    for (int i = 0; i < N; i++) {
        cr_assert(s1[i] <= 0 && isfinite(s1[i]), "score %g is not a log-probability", s1[i]);
        mr += s1[i] / N, mw += sw[i] / N;
    }
    cr_assert(mr > mw + 0.5, "mean log p: true caption %.3f, wrong caption %.3f", mr, mw);
    double fit;
    cr_assert_eq(judge_caption_fit(&j, &img[0][0], rc, N, &fit), 0, "%s", j.err);
    cr_assert(fit > 0.3, "caption fit %.3f", fit);
    int cls[N];
    cr_assert_eq(judge_classify(&j, &img[0][0], N, cls), 0);
    int hits = 0;
    for (int i = 0; i < N; i++) hits += cls[i] == test.labels[i];
    cr_assert_eq(hits, (int)lround(fit * N), "classify and caption fit disagree");
    // An odd count (a partial batch of the recorded forward) scores the same images identically.
    double part[7];
    cr_assert_eq(judge_score(&j, &img[0][0], rc, 7, part), 0);
    cr_assert(!memcmp(part, s1, sizeof part), "a partial batch changes the scores");
    // Negation.
    Judge neg;
    snprintf(spec, sizeof spec, "-classifier:%s", folder);
    cr_assert_eq(judge_open(&neg, &tgpu, spec, err, sizeof err), 0, "%s", err);
    cr_assert_eq(judge_score(&neg, &img[0][0], rc, 7, part), 0);
    for (int i = 0; i < 7; i++) cr_assert_eq(part[i], -s1[i]);
    judge_close(&neg);
    // An unparseable caption is an error that quotes it.
    rc[3] = "a photo of a cat";
    cr_assert_eq(judge_score(&j, &img[0][0], rc, N, s2), -1);
    cr_assert(strstr(j.err, "\"a photo of a cat\"") && strstr(j.err, "caption 3"), "%s", j.err);
    cr_assert_eq(judge_score(&j, &img[0][0], NULL, N, s2), -1);
    judge_close(&j);
    fmnist_free(&test);
    remove_temp_dir(dir);
    ASSERT_NO_VALIDATION_MESSAGES();
}
