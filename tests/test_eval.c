// test_eval.c: win-rate statistics, and `make-pairs` / `eval` through the
// binary on a fmnist-small pipeline (one pre-training step, so images are
// rough, but judges, pairing and counting are exact).
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/winrate.h"
#include "io/image_decode.h"
#include "test_util.h"
#include "util/fsutil.h"

Test(winrate, counts_ties_half_and_wilson_interval) {
    double m[6] = {1, 2, 3, 4, 5, 6}, b[6] = {0, 2, 4, 3.95, 5, 7};
    WinStats w = winrate(m, b, 6, 0.1);  // wins: 0, tie: 1, 3.95 (margin), 4; losses: 2, 5
    cr_assert_eq(w.wins, 1);
    cr_assert_eq(w.ties, 3);
    cr_assert_eq(w.losses, 2);
    cr_assert_float_eq(w.rate, (1 + 1.5) / 6, 1e-12);
    cr_assert_float_eq(w.mean_model, 3.5, 1e-12);
    double lo, hi;
    wilson_interval(0.5, 10, 1.96, &lo, &hi);  // textbook value: [0.2366, 0.7634]
    cr_assert(fabs(lo - 0.2366) < 1e-4 && fabs(hi - 0.7634) < 1e-4, "[%f, %f]", lo, hi);
    wilson_interval(1.0, 20, 1.96, &lo, &hi);  // all wins: upper bound 1, lower 0.8389
    cr_assert(fabs(lo - 0.8389) < 1e-4 && hi == 1, "[%f, %f]", lo, hi);
}

static double image_mean(const char* path) {
    int w, h, c;
    char err[512];
    float* im = image_load(path, 1, 0, &w, &h, &c, err, sizeof err);
    cr_assert(im, "%s", err);
    double s = 0;
    for (int i = 0; i < w * h; i++) s += im[i];
    free(im);
    return s / (w * h);
}

Test(eval_cli, make_pairs_and_eval, .timeout = 900) {
    char dir[64], args[4096], out[16384], path[512], err[512];
    temp_dir(dir, "eval");
    snprintf(path, sizeof path, "%s/base", dir);
    train_tiny_base(path);

    // make-pairs with the brightness judge: the chosen image is the brighter one.
    snprintf(args, sizeof args,
             "make-pairs --model %s/base --prompt \"a photo of a bag\" --prompt \"a photo of a coat\" --per_prompt 4 "
             "--steps 2 --judge brightness --out %s/pairs",
             dir, dir);
    cr_assert_eq(run_cli(args, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "4 pairs (0 ties within 0) from 2 prompts x 4 images"), "%s", out);
    snprintf(path, sizeof path, "%s/pairs/pairs.jsonl", dir);
    char* text = read_file(path, NULL, err, sizeof err);
    cr_assert(text, "%s", err);
    int rows = 0;
    for (char* line = strtok(text, "\n"); line; line = strtok(NULL, "\n"), rows++) {
        cJSON* row = cJSON_Parse(line);
        cr_assert(row, "%s", line);
        char p0[512], p1[512];
        snprintf(p0, sizeof p0, "%s/pairs/%s", dir, cJSON_GetObjectItem(row, "jpg_0")->valuestring);
        snprintf(p1, sizeof p1, "%s/pairs/%s", dir, cJSON_GetObjectItem(row, "jpg_1")->valuestring);
        double l0 = cJSON_GetObjectItem(row, "label_0")->valuedouble;
        double d = image_mean(p0) - image_mean(p1);  // PNG rounding is far below typical gaps
        cr_assert(l0 == 1 ? d > 0 : d < 0, "label_0 %g but brightness difference %g: %s", l0, d, line);
        cJSON_Delete(row);
    }
    free(text);
    cr_assert_eq(rows, 4);

    // eval of a model against itself: every comparison a tie, win rate exactly 1/2.
    snprintf(args, sizeof args,
             "eval --model %s/base --base %s/base --prompt \"a photo of a bag\" --seeds 0-2 --steps 2 "
             "--judge classifier --json %s/eval.json",
             dir, dir, dir);
    cr_assert_eq(run_cli(args, out, sizeof out), 0, "%s", out);
    snprintf(path, sizeof path, "%s/eval.json", dir);
    text = read_file(path, NULL, err, sizeof err);
    cr_assert(text, "%s", err);
    cJSON* o = cJSON_Parse(text);
    cr_assert_eq(cJSON_GetObjectItem(o, "comparisons")->valueint, 3);
    cr_assert_eq(cJSON_GetObjectItem(o, "ties")->valueint, 3);
    cr_assert_float_eq(cJSON_GetObjectItem(o, "win_rate")->valuedouble, 0.5, 1e-12);
    cr_assert(cJSON_GetObjectItem(o, "caption_fit_model") && cJSON_GetObjectItem(o, "per_prompt"), "%s", text);
    cJSON_Delete(o);
    free(text);

    // Clear errors.
    snprintf(args, sizeof args, "make-pairs --model %s/base --prompt x --per_prompt 3 --out %s/p2", dir, dir);
    cr_assert_eq(run_cli(args, out, sizeof out), 1, "%s", out);
    cr_assert(strstr(out, "--per_prompt 3: need an even number"), "%s", out);
    snprintf(args, sizeof args, "eval --model %s/base --base %s/nope --prompt x --judge brightness", dir, dir);
    cr_assert_eq(run_cli(args, out, sizeof out), 1, "%s", out);
    cr_assert(strstr(out, "nope") && strstr(out, "--base"), "%s", out);
    snprintf(args, sizeof args, "eval --model %s/base --base %s/base --prompt x --judge sharpness", dir, dir);
    cr_assert_eq(run_cli(args, out, sizeof out), 1, "%s", out);
    cr_assert(strstr(out, "sharpness"), "%s", out);
    remove_temp_dir(dir);
}
