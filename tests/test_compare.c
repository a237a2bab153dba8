// test_compare.c: the pieces of `vkpref compare` (base64, the SVG line chart,
// train_log.csv reading, command-line quoting, config errors) and one tiny
// compare through the binary: a one-step base, pairs from `make-pairs`, sft and
// dpo for two steps each, its report and summary, a resumed run that reuses
// every step, a changed evaluation that reruns only what depends on it, and a
// failing child command.
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "report/compare_config.h"
#include "report/svg_chart.h"
#include "report/train_log.h"
#include "test_util.h"
#include "util/base64.h"
#include "util/fsutil.h"
#include "util/command_line.h"

Test(base64, rfc4648_test_vectors) {
    const char* in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char* want[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        char* got = base64_encode(in[i], strlen(in[i]));
        cr_assert_str_eq(got, want[i], "\"%s\"", in[i]);
        cr_assert_eq(strlen(got), base64_encoded_len(strlen(in[i])));
        free(got);
    }
    const unsigned char bin[] = {0x00, 0xff, 0xfe, 0x80, 0x3f};  // high bits and the last two alphabet entries
    char* got = base64_encode(bin, sizeof bin);
    cr_assert_str_eq(got, "AP/+gD8=");
    free(got);
}

// What svg_line_chart writes, as a string.
static char* chart_text(const SvgChart* c, const SvgSeries* s, int n) {
    char* text;
    size_t len;
    FILE* f = open_memstream(&text, &len);
    svg_line_chart(f, c, s, n);
    fclose(f);
    return text;
}

static int count(const char* hay, const char* needle) {
    int n = 0;
    for (const char* p = hay; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

Test(svg_chart, nice_ticks) {
    double t[32], step;
    int n = svg_nice_ticks(0.13, 0.87, 5, t, 32, &step);
    cr_assert_float_eq(step, 0.2, 1e-12);
    cr_assert(n == 6 && fabs(t[0]) < 1e-12 && fabs(t[5] - 1.0) < 1e-12, "%d ticks %g..%g", n, t[0], t[n - 1]);
    n = svg_nice_ticks(1, 400, 6, t, 32, &step);  // steps 1..400: 0, 100, ..., 400
    cr_assert(step == 100 && n == 5 && t[0] == 0 && t[4] == 400, "step %g, %d ticks", step, n);
    n = svg_nice_ticks(-0.3, 0.5, 5, t, 32, &step);  // raw step 0.2
    cr_assert(t[0] <= -0.3 && t[n - 1] >= 0.5 && fabs(step - 0.2) < 1e-12, "step %g", step);
    for (int i = 0; i < n; i++) cr_assert(!(t[i] == 0 && signbit(t[i])), "-0 tick");
    n = svg_nice_ticks(0.6931, 0.6931, 5, t, 32, &step);  // one value: widened, still covered
    cr_assert(n >= 2 && t[0] < 0.6931 && t[n - 1] > 0.6931);
    n = svg_nice_ticks(0, 1e6, 1000, t, 8, &step);  // never more than the caller's array
    cr_assert(n <= 8 && t[0] <= 0 && t[n - 1] >= 1e6, "%d ticks", n);
}

Test(svg_chart, series_legend_escaping_and_gaps) {
    double x[5] = {1, 2, 3, 4, 5}, a[5] = {0.7, 0.6, NAN, 0.4, 0.3}, b[1] = {0.5};
    SvgSeries s[2] = {{"dpo <beta=5000> & \"x\"", x, a, 5, NULL}, {"sft", x, b, 1, "#123456"}};
    SvgChart c = {.id = "loss", .title = "loss & accuracy", .x_label = "step", .y_label = "loss"};
    char* t = chart_text(&c, s, 2);
    cr_assert(!strncmp(t, "<svg ", 5) && strstr(t, "</svg>"), "%s", t);
    cr_assert(strstr(t, "dpo &lt;beta=5000&gt; &amp; &quot;x&quot;") && !strstr(t, "<beta"), "%s", t);
    cr_assert(strstr(t, "loss &amp; accuracy"), "%s", t);
    // The NaN splits series 0 into two polylines; series 1 (one point) has none but a marker.
    cr_assert_eq(count(t, "<polyline"), 3, "%s", t);
    cr_assert_eq(count(t, "<circle"), 4 + 1, "%s", t);
    cr_assert(strstr(t, "fill=\"#123456\"") && strstr(t, svg_series_color(0)), "%s", t);
    cr_assert(strstr(t, "clip-path=\"url(#loss-plot)\""), "%s", t);
    cr_assert(!strstr(t, "nan") && !strstr(t, "inf"), "non-finite coordinates: %s", t);
    free(t);

    SvgChart fixed = {.id = "acc", .y_min = 0, .y_max = 1};  // a fixed range: ticks 0 .. 1 whatever the data
    double far[2] = {-3, 7};
    SvgSeries f1 = {"kto", x, far, 2, NULL};
    t = chart_text(&fixed, &f1, 1);
    cr_assert(strstr(t, ">0.0<") && strstr(t, ">1.0<"), "%s", t);
    free(t);
    SvgSeries empty = {"mapo", x, a + 2, 1, NULL};  // only a NaN
    t = chart_text(&fixed, &empty, 1);
    cr_assert(strstr(t, "no data") && strstr(t, "mapo") && !strstr(t, "<polyline"), "%s", t);
    free(t);
}

Test(svg_chart, smoothing_and_robust_range) {
    double y[5] = {1, NAN, 3, 3, 3}, e[5];
    svg_ema(y, 5, 0.5, e);  // bias-corrected: the first value is itself, the gap is skipped
    cr_assert_float_eq(e[0], 1, 1e-12);
    cr_assert(isnan(e[1]));
    cr_assert_float_eq(e[2], (0.25 * 1 + 0.5 * 3) / 0.75, 1e-12);
    cr_assert(e[3] > e[2] && e[4] > e[3] && e[4] < 3);
    double v[6] = {5, 1, NAN, 2, 3, 4};
    cr_assert_float_eq(svg_percentile(v, 6, 0), 1, 1e-12);
    cr_assert_float_eq(svg_percentile(v, 6, 50), 3, 1e-12);
    cr_assert_float_eq(svg_percentile(v, 6, 100), 5, 1e-12);
    cr_assert_float_eq(svg_percentile(v, 6, 25), 2, 1e-12);
    cr_assert(isnan(svg_percentile(v + 2, 1, 50)));

    // One spike among 100 values: the robust range leaves it out (and counts it); the smoothed line is drawn bold.
    double x[100], l[100];
    for (int i = 0; i < 100; i++) x[i] = i, l[i] = 0.5 - 0.002 * i;
    l[3] = 40;
    SvgSeries s = {"mapo", x, l, 100, NULL};
    SvgChart c = {.id = "loss", .smooth = 0.9, .robust_percent = 1};
    char* t = chart_text(&c, &s, 1);
    cr_assert_eq(count(t, "<polyline"), 2, "raw and smoothed: %s", t);
    cr_assert(strstr(t, "stroke-opacity=\"0.28\""), "the raw line is faint: %s", t);
    // Every y tick label (text-anchor end) stays below 1: the spike at 40 does not set the range.
    static const char key[] = "text-anchor=\"end\">";
    int yticks = 0;
    double ymax = -1;
    for (const char* q = t; (q = strstr(q, key)) != NULL; q += sizeof key - 1, yticks++) {
        double v = atof(q + sizeof key - 1);
        if (v > ymax) ymax = v;
    }
    cr_assert(yticks >= 2 && ymax < 1, "highest y tick %g: the range follows the spike: %s", ymax, t);
    free(t);
    FILE* devnull = fopen("/dev/null", "w");
    cr_assert_eq(svg_line_chart(devnull, &c, &s, 1), 2, "the spike and the highest of the rest lie outside 1..99%%");
    SvgChart plain = {.id = "loss"};
    cr_assert_eq(svg_line_chart(devnull, &plain, &s, 1), 0);
    fclose(devnull);
}

Test(train_log, columns_empty_cells_and_tail_means) {
    char dir[64], path[128], err[512];
    temp_dir(dir, "trainlog");
    snprintf(path, sizeof path, "%s/train_log.csv", dir);
    const char* csv = "step,loss,lr,implicit_acc\n0,,,\n1,0.69,1e-3,0.5\n2,0.68,1e-3,0.25\n3,0.60,1e-3,1\r\n";
    cr_assert_eq(write_file_atomic(path, csv, strlen(csv), err, sizeof err), 0, "%s", err);
    TrainLog t;
    cr_assert_eq(train_log_read(&t, path, err, sizeof err), 0, "%s", err);
    cr_assert(t.ncols == 4 && t.nrows == 4);
    int step = train_log_column(&t, "step"), loss = train_log_column(&t, "loss"), acc = train_log_column(&t, "implicit_acc");
    cr_assert(step == 0 && loss == 1 && acc == 3 && train_log_column(&t, "nope") == -1);
    cr_assert(isnan(train_log_at(&t, 0, loss)));
    double x[4], y[4];
    cr_assert_eq(train_log_series(&t, step, acc, x, y), 3);  // the step-0 row has no accuracy
    cr_assert(x[0] == 1 && y[2] == 1);
    cr_assert_float_eq(train_log_last(&t, loss), 0.60, 1e-12);
    cr_assert_float_eq(train_log_tail_mean(&t, acc, 0.1), 1.0, 1e-12);         // ceil(0.3) = 1 row
    cr_assert_float_eq(train_log_tail_mean(&t, acc, 0.5), (0.25 + 1) / 2, 1e-12);  // ceil(1.5) = 2 rows
    cr_assert(isnan(train_log_last(&t, -1)));
    train_log_free(&t);

    // train writes %.6g: tiny values in exponent form read back exactly.
    const char* tiny = "step,loss,grad_norm\n1,1.23457e-08,3e-300\n";
    cr_assert_eq(write_file_atomic(path, tiny, strlen(tiny), err, sizeof err), 0, "%s", err);
    cr_assert_eq(train_log_read(&t, path, err, sizeof err), 0, "%s", err);
    cr_assert(train_log_last(&t, 1) == 1.23457e-08 && train_log_last(&t, 2) == 3e-300);
    train_log_free(&t);

    const char* bad = "step,loss\n1,0.5\n2,x\n";
    cr_assert_eq(write_file_atomic(path, bad, strlen(bad), err, sizeof err), 0, "%s", err);
    cr_assert_eq(train_log_read(&t, path, err, sizeof err), -1);
    cr_assert(strstr(err, "train_log.csv:3") && strstr(err, "\"loss\""), "%s", err);
    remove_temp_dir(dir);
}

Test(subprocess, command_lines_paste_into_a_shell) {
    char* args[] = {"eval", "--prompt", "a photo of a bag", "--caption_fit_judge", "", "--x", "it's", "--seeds", "0-3,9", NULL};
    char* t = command_line_text(args);
    cr_assert_str_eq(t, "vkpref eval --prompt 'a photo of a bag' --caption_fit_judge '' --x 'it'\\''s' --seeds 0-3,9");
    free(t);
}

// ---------------------------------------------------------------------------
// Through the binary.

static char out[1 << 20];  // every child's messages pass through compare: keep them all

static void write_text(const char* path, const char* text) {
    char err[512];
    cr_assert_eq(write_file_atomic(path, text, strlen(text), err, sizeof err), 0, "%s", err);
}

static cJSON* read_json(const char* path) {
    char err[512];
    char* text = read_file(path, NULL, err, sizeof err);
    cr_assert(text, "%s", err);
    cJSON* o = cJSON_Parse(text);
    cr_assert(o, "%s: not JSON", path);
    free(text);
    return o;
}

static double num_at(const cJSON* o, const char* key) {
    const cJSON* v = cJSON_GetObjectItemCaseSensitive(o, key);
    cr_assert(cJSON_IsNumber(v), "%s: not a number", key);
    return v->valuedouble;
}

static double mtime(const char* path) {
    struct stat st;
    cr_assert_eq(stat(path, &st), 0, "%s", path);
    return (double)st.st_mtim.tv_sec + 1e-9 * (double)st.st_mtim.tv_nsec;
}

Test(compare_cli, two_objectives_report_resume_and_failures, .timeout = 900) {
    char dir[64], args[4096], path[512];
    temp_dir(dir, "compare");
    snprintf(path, sizeof path, "%s/base", dir);
    train_tiny_base(path);
    snprintf(args, sizeof args,
             "make-pairs --model %s/base --prompt \"a photo of a bag\" --prompt \"a photo of a coat\" --per_prompt 4 "
             "--steps 2 --judge brightness --out %s/pairs",
             dir, dir);
    cr_assert_eq(run_cli(args, out, sizeof out), 0, "%s", out);

    // dpo gets its own config file (over the shared "train" section): merging is checked below.
    // The row dpo-lora is dpo trained with LoRA adapters (its own file sets lora_rank).
    char obj_cfg[256], lora_cfg[256], cfg[256], body[4096];
    snprintf(obj_cfg, sizeof obj_cfg, "%s/dpo.json", dir);
    write_text(obj_cfg, "{\"objective\": \"dpo\", \"beta_dpo\": 100, \"learning_rate\": 2e-4}");
    snprintf(lora_cfg, sizeof lora_cfg, "%s/dpo-lora.json", dir);
    write_text(lora_cfg, "{\"objective\": \"dpo\", \"beta_dpo\": 100, \"learning_rate\": 1e-2, \"lora_rank\": 2}");
    snprintf(cfg, sizeof cfg, "%s/compare.json", dir);
    snprintf(body, sizeof body,
             "{\"_comment\": \"tiny compare for the tests\", \"base\": \"%s/base\", \"dataset\": \"%s/pairs/pairs.jsonl\","
             " \"objectives\": [\"sft\", \"dpo\", \"dpo-lora\"], \"objective_configs\": {\"dpo\": \"%s\", \"dpo-lora\": \"%s\"},"
             " \"train\": {\"validation_images\": 0, \"validation_grid_seeds\": 0, \"checkpointing_steps\": 0,"
             "            \"log_every\": 1, \"learning_rate\": 1e-4},"
             " \"max_train_steps\": 2, \"train_batch_size\": 2, \"seed\": 3, \"output_dir\": \"%s/cmp\","
             " \"eval\": {\"prompt\": [\"a photo of a bag\"], \"seeds\": \"0-1\", \"judge\": \"brightness\","
             "          \"caption_fit_judge\": \"classifier\", \"steps\": 2, \"cfg\": 3},"
             " \"grid\": {\"prompt\": [\"a photo of a bag\", \"a photo of a coat\"], \"seeds\": \"0-1\", \"upscale\": 1}}",
             dir, dir, obj_cfg, lora_cfg, dir);
    write_text(cfg, body);
    snprintf(args, sizeof args, "compare --config %s", cfg);
    cr_assert_eq(run_cli(args, out, sizeof out), 0, "%s", out);

    snprintf(path, sizeof path, "%s/cmp/report.html", dir);
    char err[512];
    char* html = read_file(path, NULL, err, sizeof err);
    cr_assert(html, "%s", err);
    cr_assert(!strncmp(html, "<!DOCTYPE html>", 15) && strstr(html, "</html>"));
    cr_assert(strstr(html, ">sft") && strstr(html, ">dpo") && strstr(html, ">dpo-lora"), "row names");
    cr_assert(strstr(html, "<th>LoRA adapter</th>") && strstr(html, " KB</td>"), "the adapter size column");
    cr_assert_eq(count(html, "<svg"), 2, "a loss and an accuracy chart");
    cr_assert_eq(count(html, "src=\"data:image/png;base64,"), 4, "the base's grid and one per row");
    cr_assert(strstr(html, "--lora ") && strstr(html, "pytorch_lora_weights.safetensors"),
              "the LoRA row is evaluated as base + adapters");
    cr_assert(!strstr(html, "src=\"http") && !strstr(html, "<link") && !strstr(html, "<script"), "self-contained");
    cr_assert(strstr(html, "vkpref train --config") && strstr(html, "vkpref eval --model"), "the commands");
    free(html);

    snprintf(path, sizeof path, "%s/cmp/summary.json", dir);
    cJSON* sum = read_json(path);
    const cJSON* rows = cJSON_GetObjectItem(sum, "objectives");
    cr_assert_eq(cJSON_GetArraySize(rows), 3);
    const char* names[3] = {"sft", "dpo", "dpo-lora"};
    for (int i = 0; i < 3; i++) {
        const cJSON* r = cJSON_GetArrayItem(rows, i);
        cr_assert_str_eq(cJSON_GetObjectItem(r, "name")->valuestring, names[i]);
        cr_assert_str_eq(cJSON_GetObjectItem(r, "objective")->valuestring, i ? "dpo" : "sft");
        if (i == 2) cr_assert(num_at(r, "adapter_bytes") > 0, "the LoRA row's adapter file size");
        else cr_assert(cJSON_IsNull(cJSON_GetObjectItem(r, "adapter_bytes")), "full fine-tuning has no adapter");
        double w = num_at(r, "win_rate"), lo = num_at(r, "ci95_lo"), hi = num_at(r, "ci95_hi");
        cr_assert(0 <= lo && lo <= w && w <= hi && hi <= 1, "win rate %g [%g, %g]", w, lo, hi);
        cr_assert_eq((int)num_at(r, "steps"), 2);
        cr_assert_eq((int)num_at(r, "comparisons"), 2);
        cr_assert(num_at(r, "train_wall_s") > 0 && isfinite(num_at(r, "final_loss")));
        double fm = num_at(r, "caption_fit_model"), fb = num_at(r, "caption_fit_base");
        cr_assert(fm >= 0 && fm <= 1 && fb >= 0 && fb <= 1);
        if (i) cr_assert(num_at(r, "implicit_acc_last") >= 0 && num_at(r, "implicit_acc_tail_mean") >= 0);
        else cr_assert(cJSON_IsNull(cJSON_GetObjectItem(r, "implicit_acc_last")), "sft has no implicit accuracy");
        cr_assert(cJSON_IsFalse(cJSON_GetObjectItem(r, "reused")));
    }
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(sum, "commands")), 10, "base grid + 3 per row");
    // What a report needs to be rendered again: hyper-parameters and curves of every run.
    const cJSON* dpo = cJSON_GetArrayItem(rows, 1);
    cr_assert_float_eq(num_at(dpo, "learning_rate"), 2e-4, 1e-12);
    cr_assert_float_eq(num_at(dpo, "beta"), 100, 1e-9);
    cr_assert(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetArrayItem(rows, 0), "beta")), "sft reads no beta");
    const cJSON* curves = cJSON_GetObjectItem(dpo, "curves");
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(curves, "loss")), 2);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(curves, "implicit_acc")), 2);
    cr_assert(cJSON_IsString(cJSON_GetObjectItem(sum, "base_grid")));
    cJSON_Delete(sum);

    // Rendered again from summary.json alone: the same tables, charts and grids.
    char again[1024];
    snprintf(again, sizeof again, "compare --report_from %s/cmp/summary.json --report %s/again.html", dir, dir);
    cr_assert_eq(run_cli(again, out, sizeof out), 0, "%s", out);
    snprintf(path, sizeof path, "%s/again.html", dir);
    html = read_file(path, NULL, err, sizeof err);
    cr_assert(html, "%s", err);
    cr_assert(strstr(html, ">sft") && strstr(html, ">dpo") && strstr(html, "lr 0.0002, &#946; 100"), "%s", html);
    cr_assert(strstr(html, ">dpo-lora") && strstr(html, " KB</td>"), "%s", html);
    cr_assert_eq(count(html, "<svg"), 2);
    cr_assert_eq(count(html, "src=\"data:image/png;base64,"), 4);
    free(html);

    // Settings reached the runs: shared "train" options, dpo's file over them, compare's budget over both.
    snprintf(path, sizeof path, "%s/cmp/dpo/train_config.json", dir);
    cJSON* tc = read_json(path);
    cr_assert_float_eq(num_at(tc, "beta_dpo"), 100, 1e-9);
    cr_assert_float_eq(num_at(tc, "learning_rate"), 2e-4, 1e-12);
    cr_assert_eq((int)num_at(tc, "seed"), 3);
    cr_assert_eq((int)num_at(tc, "log_every"), 1);
    cJSON_Delete(tc);
    snprintf(path, sizeof path, "%s/cmp/sft/train_config.json", dir);
    tc = read_json(path);
    cr_assert_float_eq(num_at(tc, "learning_rate"), 1e-4, 1e-12);
    cJSON_Delete(tc);
    snprintf(path, sizeof path, "%s/cmp/dpo-lora/train_config.json", dir);
    tc = read_json(path);
    cr_assert_eq((int)num_at(tc, "lora_rank"), 2);
    cJSON_Delete(tc);
    snprintf(path, sizeof path, "%s/cmp/dpo-lora/model_index.json", dir);
    cr_assert(!path_exists(path), "a LoRA row leaves adapters, not a pipeline");

    // Resumed: every step reused, nothing rewritten but the report and summary.
    char model[512];
    snprintf(model, sizeof model, "%s/cmp/dpo/unet/diffusion_pytorch_model.safetensors", dir);
    double before = mtime(model);
    cr_assert_eq(run_cli(args, out, sizeof out), 0, "%s", out);
    cr_assert_eq(count(out, "reusing the finished run"), 10, "%s", out);
    cr_assert(!strstr(out, "vkpref train:"), "a reused step ran: %s", out);
    cr_assert_eq(mtime(model), before);
    snprintf(path, sizeof path, "%s/cmp/summary.json", dir);
    sum = read_json(path);
    rows = cJSON_GetObjectItem(sum, "objectives");
    for (int i = 0; i < 3; i++) cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetArrayItem(rows, i), "reused")));
    cr_assert(num_at(cJSON_GetArrayItem(rows, 1), "train_wall_s") > 0, "wall time kept from the record");
    cJSON_Delete(sum);

    // A changed evaluation reruns eval only: training and the grid (same seeds and sampler) are reused.
    snprintf(args, sizeof args, "compare --config %s --objectives dpo --eval.seeds 0", cfg);
    cr_assert_eq(run_cli(args, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "[dpo] train: reusing") && strstr(out, "[dpo] grid: reusing"), "%s", out);
    cr_assert(strstr(out, "[dpo] eval: vkpref eval"), "%s", out);
    cr_assert_eq(mtime(model), before);
    snprintf(path, sizeof path, "%s/cmp/dpo/eval.json", dir);
    cJSON* ev = read_json(path);
    cr_assert_eq((int)num_at(ev, "comparisons"), 1);
    cJSON_Delete(ev);

    // A child that fails stops compare, naming the step, the objective (here the base) and the command.
    snprintf(args, sizeof args, "compare --config %s --eval.steps 5000 --output_dir %s/cmp2", cfg, dir);
    cr_assert_eq(run_cli(args, out, sizeof out), 1, "%s", out);
    cr_assert(strstr(out, "--steps 5000") && strstr(out, "compare stopped: grid of base failed") &&
                  strstr(out, "vkpref sample --model"), "%s", out);
    remove_temp_dir(dir);
}

// Config mistakes are found before any work, and named.
Test(compare_cli, config_errors_name_the_key) {
    char dir[64], cfg[256], args[1024];
    temp_dir(dir, "compare_err");
    snprintf(cfg, sizeof cfg, "%s/c.json", dir);
    struct { const char* body; const char* flags; int rc; const char* want; } cases[] = {
        {"{\"base\": \"x\", \"learning_rate\": 1}", "", 2, "unknown key \"learning_rate\""},
        {"{\"eval\": {\"seed\": \"0-3\"}}", "", 2, "unknown key \"eval.seed\""},
        {"{\"eval\": [1]}", "", 2, "key \"eval\": expected an object"},
        {"{\"train\": {\"max_train_steps\": 5}}", "", 2, "\"train.max_train_steps\": compare sets max_train_steps"},
        {"{\"train\": {\"learning_rat\": 5}}", "", 2, "unknown key \"train.learning_rat\""},
        {"{\"train\": {\"learning_rate\": \"fast\"}}", "", 2, "\"learning_rate\" expects a number"},
        {"{\"objective_configs\": {\"ppo\": \"x.json\"}}", "", 2, "\"ppo\" is not an objective"},
        {"{\"max_train_steps\": \"many\"}", "", 2, "\"max_train_steps\" expects an integer"},
        {"{}", "--objectives sft,ppo", 1, "unknown objective \"ppo\""},
        {"{}", "--objectives dpo,dpo", 1, "\"dpo\" is listed twice"},
        {"{}", "--objectives dpo-lora", 1, "\"dpo-lora\" is a variant: give it objective_configs.dpo-lora"},
        {"{}", "--objectives dpo-", 1, "unknown objective \"dpo-\""},
        {"{}", "--eval.sede 3", 2, "unknown key \"eval.sede\""},
        {"{}", "--base /nonexistent/base", 1, "base /nonexistent/base: no such folder"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        write_text(cfg, cases[i].body);
        snprintf(args, sizeof args, "compare --config %s %s", cfg, cases[i].flags);
        int rc = run_cli(args, out, sizeof out);
        cr_assert_eq(rc, cases[i].rc, "%s %s: exit %d: %s", cases[i].body, cases[i].flags, rc, out);
        cr_assert(strstr(out, cases[i].want), "%s %s: want \"%s\" in: %s", cases[i].body, cases[i].flags, cases[i].want,
                  out);
    }
    remove_temp_dir(dir);
}

// configs/compare-fmnist.json (which has a dspo row in objectives and objective_configs)
// passes compare's checks, including configs/fmnist-dspo.json against train's keys and
// its objective; another objective's config under "dspo" is refused.
static int check_compare_config(const char* path, char* err, size_t errlen) {
    CompareConfig c;
    char* argv[] = {"compare", "--config", (char*)path};
    int rc = compare_config_parse(&c, 3, argv);
    cr_assert_eq(rc, 0, "parse %s", path);
    rc = compare_config_check(&c, err, errlen);
    compare_config_free(&c);
    return rc;
}

Test(compare_config, shipped_config_has_a_dspo_row) {
    const char* src = getenv("VKPREF_SOURCE_DIR");
    cr_assert(src && chdir(src) == 0, "run through ctest (VKPREF_SOURCE_DIR)");
    char dir[64], path[256], data[256], err[1024];
    temp_dir(dir, "compare_dspo");
    snprintf(data, sizeof data, "%s/pairs.jsonl", dir);
    write_text(data, "");
    char* text = read_file("configs/compare-fmnist.json", NULL, err, sizeof err);
    cr_assert(text, "%s", err);
    cJSON* o = cJSON_Parse(text);
    free(text);
    cJSON_ReplaceItemInObject(o, "dataset", cJSON_CreateString(data));
    cJSON* oc = cJSON_GetObjectItem(o, "objective_configs");
    const cJSON* row = cJSON_GetObjectItem(oc, "dspo");
    cr_assert(cJSON_IsString(row) && !strcmp(row->valuestring, "configs/fmnist-dspo.json"), "no dspo row");
    snprintf(path, sizeof path, "%s/c.json", dir);
    char* out = cJSON_Print(o);
    write_text(path, out);
    free(out);
    cr_assert_eq(check_compare_config(path, err, sizeof err), 0, "%s", err);
    cJSON_ReplaceItemInObject(oc, "dspo", cJSON_CreateString("configs/fmnist-sdpo.json"));
    out = cJSON_Print(o);
    write_text(path, out);
    free(out);
    cr_assert_eq(check_compare_config(path, err, sizeof err), -1);
    cr_assert(strstr(err, "objective_configs.dspo") && strstr(err, "sets objective sdpo"), "%s", err);
    cJSON_Delete(o);
    remove_temp_dir(dir);
}
