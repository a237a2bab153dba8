// compare_config.h: the settings of `vkpref compare`: one base pipeline tuned
// with each listed objective on the same pairs, seeds and step budget, then
// evaluated and sampled the same way.
//
// The config file is a JSON object (unknown keys anywhere are errors naming the
// key as "section.key"):
//   "base": "assets/fmnist-base",                the pipeline folder every run starts from
//   "dataset": "out/pairs/pairs.jsonl",          the preference manifest every run trains on
//   "objectives": ["sft", "dpo", ...],           or one comma-separated string: the report's rows,
//                                                each an objective or OBJECTIVE-TAG (a variant of
//                                                it with its own config, e.g. "dpo-lora")
//   "objective_configs": {"dpo": "configs/fmnist-dpo.json"},   optional train config per row
//                                                (a row whose config sets lora_rank > 0 trains
//                                                LoRA adapters: it is evaluated as base + adapters)
//   "train": {"learning_rate": 1e-5, ...},       optional train options shared by every run
//   "max_train_steps": 400, "train_batch_size": 16, "seed": 0,   the shared budget
//   "output_dir": "out/compare", "device": -1,
//   "eval": {"prompt": [...] or "prompts": FILE, "seeds": "0-15", "judge": ..., "caption_fit_judge": ...,
//            "steps": 25, "sampler": "ddim", "eta": 0, "cfg": 3, "tie_margin": 0, "batch": 16},
//   "grid": {"prompt": [...] or "prompts": FILE (default: eval's prompts), "seeds": "0-3", "upscale": 2},
//   "_comment": "free text, ignored"
// A run's train options are, from weakest to strongest: train's defaults, "train",
// its objective_configs file, then what compare itself sets (objective, base,
// dataset, max_train_steps, train_batch_size, seed, output_dir, device), which
// may therefore not appear in "train".
//
// Every scalar key is also a flag: --KEY VALUE for the top level, --eval.KEY,
// --grid.KEY, --train.KEY, --objective_configs.OBJECTIVE; flags override the file.
#pragma once
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>

#include "util/options.h"
#include "objective/objective.h"

typedef struct CompareEval {
    OptStrings prompt;
    char prompts[OPT_STR_MAX], seeds[OPT_STR_MAX], judge[OPT_STR_MAX], caption_fit_judge[OPT_STR_MAX];
    int steps;
    char sampler[OPT_STR_MAX];
    double eta, cfg, tie_margin;
    int batch;
} CompareEval;

typedef struct CompareGrid {
    OptStrings prompt;
    char prompts[OPT_STR_MAX], seeds[OPT_STR_MAX];
    int upscale;
} CompareGrid;

#define COMPARE_ROW_NAME_MAX 64
typedef struct CompareRowConfig {
    char row[COMPARE_ROW_NAME_MAX];
    char path[OPT_STR_MAX];
} CompareRowConfig;

typedef struct CompareConfig {
    char base[OPT_STR_MAX], dataset[OPT_STR_MAX], output_dir[OPT_STR_MAX];
    OptStrings objectives;  // after compare_config_check: one known name each, no repeats, in the given order
    int max_train_steps, train_batch_size, seed, device;
    CompareEval eval;
    CompareGrid grid;
    CompareRowConfig* row_configs;  // objective_configs: train config files by row name
    int nrow_configs;
    cJSON* train;           // the shared train options: a flat object
    bool rerun;             // --rerun (a flag only): redo every step instead of reusing finished ones
    char report_from[OPT_STR_MAX];  // --report_from SUMMARY.json (a flag only): re-render, run nothing
    char report_out[OPT_STR_MAX];   // --report FILE.html: where (default: report.html beside the summary)
} CompareConfig;

// Parses `vkpref compare` arguments (argv[0] is "compare"): defaults, then
// --config FILE, then the other flags. 0 to run, 1 when --help or
// --print-config was handled, -1 after printing an error.
int compare_config_parse(CompareConfig* c, int argc, char** argv);
// Value checks (objective names, seeds, samplers, counts, files that must
// exist, objective config files with train's keys); -1 with err naming the key.
// Splits comma-separated objectives.
int compare_config_check(CompareConfig* c, char* err, size_t errlen);
void compare_config_free(CompareConfig* c);
// The resolved settings as JSON (for compare_config.json, summary.json and the report). malloc'ed.
char* compare_config_to_json(const CompareConfig* c);
// A row name's objective: "dpo" and "dpo-lora" are dpo's (the tag after '-' is
// letters, digits and '_'). false for anything else.
bool compare_row_objective(const char* row, Objective* obj);
// The train config that row's run gets as --config: "train" overlaid with its
// objective_configs file. malloc'ed JSON text, or NULL with err.
char* compare_train_config(const CompareConfig* c, const char* row, char* err, size_t errlen);
void compare_config_help(FILE* out);
// Renders the HTML report of a summary.json again (compare_summary_read, then
// html_report_write) to html_path. 0, or -1 with err.
int compare_report_from_summary(const char* summary_path, const char* html_path, char* err, size_t errlen);
