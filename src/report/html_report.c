// html_report.c: see html_report.h.
#include "report/html_report.h"

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "report/svg_chart.h"
#include "util/base64.h"
#include "util/check.h"
#include "util/fsutil.h"

// Layout rules that keep the page inside an 800 px window: the body is fluid,
// charts and images scale down, long command lines wrap, and only the table's
// header cells and row names may wrap (intervals and numbers stay on one line):
// a name with its "(reused)" mark is the widest cell of a long comparison; under
// 900 px the table's type and padding shrink so ten columns fit.
static const char CSS[] =
    "body{font-family:system-ui,sans-serif;margin:24px auto;max-width:1200px;padding:0 16px;color:#111}"
    "h1{font-size:1.5em;overflow-wrap:anywhere}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}"
    "table{border-collapse:collapse;font-size:.88em}th,td{border:1px solid #ccc;padding:4px 6px;text-align:right}"
    "td{white-space:nowrap}th{background:#f4f4f4;font-weight:600;vertical-align:bottom}"
    "td:first-child,th:first-child{text-align:left}td:first-child{white-space:normal}"
    "tr.base td{background:#fafafa;color:#333}"
    "@media (max-width:900px){table{font-size:.8em}th,td{padding:3px 4px}}"
    ".hp{display:block;color:#555;font-size:.85em}"
    ".sw{display:inline-block;width:12px;height:12px;margin-right:6px;vertical-align:middle}"
    ".note{color:#555;font-size:.88em;max-width:900px}.pending{color:#a40}"
    ".source{border-left:4px solid #c90;background:#fff8e6;padding:6px 10px;max-width:900px}"
    "dl{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:2px 16px}dt{font-weight:bold}"
    "dd{margin:0;overflow-wrap:anywhere}"
    "svg{display:block;max-width:100%;height:auto}"
    "figure{display:inline-block;margin:0 16px 16px 0;vertical-align:top;max-width:100%}figcaption{font-weight:bold}"
    "img{image-rendering:pixelated;border:1px solid #ccc;max-width:100%;height:auto}"
    "pre{background:#f6f6f6;padding:8px;font-size:.85em;white-space:pre-wrap;overflow-wrap:anywhere}"
    ".reused{color:#777}";

// Smoothing and y range of the training-curve charts (the note under them says so).
#define CURVE_EMA_WEIGHT 0.9
#define CURVE_Y_PERCENTILE 1.0

static void esc(FILE* f, const char* s) { xml_escape(f, s); }

// A number with d decimals, or an em dash for one that was not measured.
static void num(FILE* f, double v, int d) {
    if (isfinite(v)) fprintf(f, "%.*f", d, v);
    else fputs("&#8212;", f);
}

static void wall(FILE* f, double s) {
    if (!isfinite(s)) fputs("&#8212;", f);
    else if (s < 120) fprintf(f, "%.1f s", s);
    else if (s < 7200) fprintf(f, "%.1f min", s / 60);
    else fprintf(f, "%.2f h", s / 3600);
}

static int embed_png(FILE* f, const char* path, const char* caption, char* err, size_t errlen) {
    size_t n;
    char* data = read_file(path, &n, err, errlen);
    if (!data) return -1;
    char* b64 = base64_encode(data, n);
    fputs("<figure><figcaption>", f);
    esc(f, caption);
    fputs("</figcaption><img alt=\"", f);
    esc(f, caption);
    fprintf(f, "\" src=\"data:image/png;base64,%s\"></figure>\n", b64);
    free(b64);
    free(data);
    return 0;
}

static void settings(FILE* f, const CompareReport* r) {
    fputs("<dl>\n<dt>base</dt><dd>", f);
    esc(f, r->base);
    fputs("</dd>\n<dt>pairs</dt><dd>", f);
    esc(f, r->dataset);
    fprintf(f, "</dd>\n<dt>budget</dt><dd>%d steps of %d items, seed %d, for every objective</dd>\n", r->max_train_steps,
            r->train_batch_size, r->seed);
    fputs("<dt>evaluation</dt><dd>", f);
    esc(f, r->eval_text);
    fputs("</dd>\n<dt>caption fit</dt><dd>", f);
    esc(f, *r->fit_judge ? r->fit_judge : "not measured");
    fputs("</dd>\n</dl>\n", f);
    if (r->npending) {
        fputs("<p class=\"pending\">Not finished yet: ", f);
        for (int i = 0; i < r->npending; i++) fputs(i ? ", " : "", f), esc(f, r->pending[i]);
        fputs(" (this report is rewritten as each objective finishes).</p>\n", f);
    }
}

// A learning rate or beta in the fewest digits that show it ("2.5e-07", "5000").
static void hyper(FILE* f, double v) {
    if (!isfinite(v)) fputs("&#8212;", f);
    else fprintf(f, "%g", v);
}

// The first finite value of a base measurement over the rows (every row compares against the same base).
static double base_value(const CompareReport* r, size_t offset) {
    for (int i = 0; i < r->nrows; i++) {
        double v = *(const double*)((const char*)&r->rows[i] + offset);
        if (isfinite(v)) return v;
    }
    return NAN;
}

static void table(FILE* f, const CompareReport* r) {
    bool fit = false;
    for (int i = 0; i < r->nrows; i++) fit |= r->rows[i].has_fit;
    fputs("<table>\n<tr><th>objective<span class=\"hp\">learning rate, &#946;</span></th><th>steps</th>"
          "<th>train time</th><th>final loss</th><th>implicit acc.<span class=\"hp\">last 10% of steps</span></th>"
          "<th>win rate vs base<span class=\"hp\">[95% interval]</span></th><th>mean judge score</th>"
          "<th>caption fit</th><th>held-out loss</th><th>LoRA adapter</th></tr>\n", f);
    // The base's own measurements, once, as the reference row.
    fputs("<tr class=\"base\"><td>base (reference)</td><td>&#8212;</td><td>&#8212;</td><td>&#8212;</td><td>&#8212;</td>"
          "<td>&#8212;</td><td>", f);
    num(f, base_value(r, offsetof(CompareRow, score_base)), 4);
    fputs("</td><td>", f);
    num(f, fit ? base_value(r, offsetof(CompareRow, fit_base)) : NAN, 3);
    fputs("</td><td>", f);
    num(f, base_value(r, offsetof(CompareRow, val_loss_base)), 4);
    fputs("</td><td>&#8212;</td></tr>\n", f);
    for (int i = 0; i < r->nrows; i++) {
        const CompareRow* w = &r->rows[i];
        fprintf(f, "<tr><td><span class=\"sw\" style=\"background:%s\"></span>%s%s<span class=\"hp\">lr ",
                svg_series_color(i), w->name, w->reused ? " <span class=\"reused\">(reused)</span>" : "");
        hyper(f, w->learning_rate);
        if (w->obj != OBJ_SFT) fputs(", &#946; ", f), hyper(f, w->beta);
        fprintf(f, "</span></td><td>%d</td><td>", w->steps);
        wall(f, w->train_wall_s);
        fputs("</td><td>", f);
        num(f, w->final_loss, 4);
        fputs("</td><td>", f);
        num(f, w->has_acc ? w->acc_tail_mean : NAN, 3);
        fputs("</td><td>", f);
        num(f, w->win_rate, 3);
        fputs(" [", f);
        num(f, w->ci_lo, 3);
        fputs(", ", f);
        num(f, w->ci_hi, 3);
        fputs("]</td><td>", f);
        num(f, w->score_model, 4);
        fputs("</td><td>", f);
        num(f, w->has_fit ? w->fit_model : NAN, 3);
        fputs("</td><td>", f);
        num(f, w->val_loss, 4);
        fputs("</td><td>", f);
        if (isfinite(w->adapter_bytes)) fprintf(f, "%.1f KB", w->adapter_bytes / 1024);
        else fputs("&#8212;", f);
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n<p class=\"note\">Every row starts from the same base with the same pairs, seed and step budget; "
          "the first row is the base itself, measured at the same prompts and seeds. "
          "Win rate: the share of (prompt, seed) comparisons in which the judge scores "
          "the tuned model's image above the base's at the same prompt, seed and sampler settings, ties counted as "
          "half; the interval is the 95% Wilson score interval. Mean judge score: the judge's mean over the same "
          "images. Implicit accuracy: the share of training items (pairs, or rows for kto and tkto) whose objective "
          "margin already favours the preferred side, averaged over the last 10% of the logged steps "
          "(docs/OBJECTIVES.md; not defined for sft). Caption fit: the share of images the classifier assigns to "
          "their caption's class. Held-out loss: the deterministic denoising loss on held-out Fashion-MNIST test "
          "images (val_loss of train_log.csv, docs/TRAINING.md) at the last step; for the base, at step 0. "
          "Train time: the training command only. &#946;: the beta the objective reads "
          "(beta_dpo, beta_mapo or beta_kto). LoRA adapter: for a row trained with LoRA (its config sets lora_rank), "
          "the size of its pytorch_lora_weights.safetensors; it is evaluated and sampled as the base with those "
          "adapters.</p>\n", f);
}

static void charts(FILE* f, const CompareReport* r) {
    SvgSeries* loss = xcalloc((size_t)(r->nrows ? r->nrows : 1), sizeof *loss);
    SvgSeries* acc = xcalloc((size_t)(r->nrows ? r->nrows : 1), sizeof *acc);
    int nacc = 0;
    for (int i = 0; i < r->nrows; i++) {
        const CompareRow* w = &r->rows[i];
        // Colours follow the table row, also in the accuracy chart, which has no sft.
        loss[i] = (SvgSeries){w->name, w->loss_step, w->loss, w->npoints, svg_series_color(i)};
        if (w->has_acc) acc[nacc++] = (SvgSeries){w->name, w->acc_step, w->acc, w->nacc, svg_series_color(i)};
    }
    SvgChart lc = {.id = "loss", .title = "training loss", .x_label = "step", .y_label = "loss",
                   .smooth = CURVE_EMA_WEIGHT, .robust_percent = CURVE_Y_PERCENTILE};
    int cut = svg_line_chart(f, &lc, loss, r->nrows);
    SvgChart ac = {.id = "acc", .title = "implicit accuracy", .x_label = "step", .y_label = "implicit accuracy",
                   .y_min = 0, .y_max = 1, .smooth = CURVE_EMA_WEIGHT};
    svg_line_chart(f, &ac, acc, nacc);
    fprintf(f, "<p class=\"note\">Faint lines: the values logged in train_log.csv; bold lines: their exponential "
               "moving average (weight %g per logged point, bias-corrected). The loss axis spans the %g%%&#8211;%g%% "
               "percentile range of all logged losses, so that early spikes do not flatten the curves: ",
            CURVE_EMA_WEIGHT, CURVE_Y_PERCENTILE, 100 - CURVE_Y_PERCENTILE);
    if (cut) fprintf(f, "%d logged value%s outside it %s cut off at the edge. ", cut, cut == 1 ? "" : "s",
                     cut == 1 ? "is" : "are");
    else fputs("no logged value lies outside it. ", f);
    fputs("Each objective's loss is on its own scale (sft: noise-prediction MSE; dpo, tdpo: log 2 at the start); "
          "compare shapes, not heights.</p>\n", f);
    free(loss), free(acc);
}

static void body(FILE* f, const CompareReport* r, int* failed, char* err, size_t errlen) {
    fputs("<h1>", f);
    esc(f, r->title);
    fputs("</h1>\n", f);
    char when[64];
    time_t now = time(NULL);
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S %Z", localtime(&now));
    fprintf(f, "<p class=\"note\">Written by vkpref compare on %s.</p>\n", when);
    if (r->note) {
        fputs("<p class=\"source\">", f);
        esc(f, r->note);
        fputs("</p>\n", f);
    }
    settings(f, r);
    fputs("<h2>Results</h2>\n", f);
    table(f, r);
    fputs("<h2>Training curves</h2>\n", f);
    charts(f, r);
    fputs("<h2>Samples at the same prompts and seeds</h2>\n", f);
    if (r->base_grid && !*failed) *failed = embed_png(f, r->base_grid, "base", err, errlen);
    for (int i = 0; i < r->nrows && !*failed; i++)
        if (r->rows[i].grid_png) *failed = embed_png(f, r->rows[i].grid_png, r->rows[i].name, err, errlen);
    fputs("<h2>Commands</h2>\n<pre>", f);
    for (int i = 0; i < r->ncommands; i++) {
        if (r->commands[i].reused) fputs("<span class=\"reused\"># reused from an earlier run: ", f);
        esc(f, r->commands[i].line);
        fputs(r->commands[i].reused ? "</span>\n" : "\n", f);
    }
    fputs("</pre>\n<h2>Settings</h2>\n<details><summary>resolved config (JSON)</summary><pre>", f);
    esc(f, r->config_json);
    fputs("</pre></details>\n", f);
}

int html_report_write(const char* path, const CompareReport* r, char* err, size_t errlen) {
    AtomicFile af;
    if (atomic_write_begin(&af, path, err, errlen)) return -1;
    FILE* f = af.f;
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>", f);
    esc(f, r->title);
    fprintf(f, "</title>\n<style>%s</style>\n</head>\n<body>\n", CSS);
    int failed = 0;
    body(f, r, &failed, err, errlen);
    fputs("</body>\n</html>\n", f);
    if (failed) {
        atomic_write_abort(&af);
        return -1;
    }
    return atomic_write_commit(&af, err, errlen);
}
