// html_report.h: the report of `vkpref compare` as one self-contained HTML file:
// CSS inline, charts as inline SVG (report/svg_chart.h), grid PNGs embedded as
// base64 data: URIs, so the file can be mailed or archived alone. Contents: the
// settings, the results table, loss and implicit-accuracy curves, the grids of
// the base and of every objective at the same prompts and seeds, every command
// run, and the resolved config.
//
// Layout: fits a window 800 px wide or wider without horizontal scrolling (the
// charts scale down, the table keeps intervals on one line).
#pragma once
#include <stddef.h>

#include "report/compare_results.h"

struct CompareReport {
    const char* title;
    const char* base;           // pipeline folder
    const char* dataset;        // manifest
    int max_train_steps, train_batch_size, seed;
    const char* eval_text;      // how models were evaluated, one line (judge, prompts x seeds, sampler)
    const char* fit_judge;      // caption-fit judge, "" for none
    const CompareRow* rows;     // finished objectives, in config order
    int nrows;
    char* const* pending;       // objectives not finished yet (a report written mid-compare)
    int npending;
    const char* base_grid;      // PNG path, NULL when not rendered yet
    const CompareCommand* commands;
    int ncommands;
    const char* config_json;    // the resolved settings
    const char* note;           // shown under the title when not NULL (e.g. where re-rendered data came from)
};
typedef struct CompareReport CompareReport;

// Writes path atomically (temporary name + rename). 0, or -1 with err (an
// unreadable grid PNG names its file).
int html_report_write(const char* path, const CompareReport* r, char* err, size_t errlen);
