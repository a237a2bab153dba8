// compare_results.h: the numbers of one objective's run in `vkpref compare`,
// read back from what the commands wrote into its folder (train_log.csv,
// train_config.json, the eval JSON, the grid PNG), and summary.json, the table
// of all of them with the curves, so that a report can be rendered again from
// summary.json and the grid PNGs alone (`vkpref compare --report_from`).
// Reading files rather than keeping values in memory is what lets a resumed
// compare report on runs an earlier invocation finished.
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "objective/objective.h"

typedef struct CompareRow {
    char* name;                // the row: the objective, or a variant "dpo-lora"
    Objective obj;
    char* dir;                 // the run's folder (its pipeline)
    int steps;                 // last logged training step (0: none)
    double train_wall_s;       // wall time of the train command; NAN: unknown
    double learning_rate;      // the run's peak learning rate (train_config.json); NAN: unknown
    double beta;               // the beta its objective reads (objective_beta); NAN: sft or unknown
    double val_loss;           // last logged held-out loss (val_loss column); NAN: none
    double val_loss_base;      // the held-out loss at step 0, i.e. of the base; NAN: none
    double final_loss;         // last logged loss
    bool has_acc;              // the objective defines an implicit accuracy (sft does not)
    double acc_last;           // last logged implicit accuracy
    double acc_tail_mean;      // mean over the last 10% of logged rows (at least one)
    int comparisons;           // eval: prompts x seeds
    double win_rate, ci_lo, ci_hi;
    double score_model, score_base;
    bool has_fit;              // eval had a caption-fit judge
    double fit_model, fit_base;
    int npoints;               // logged rows with a loss
    double *loss_step, *loss;  // npoints each
    int nacc;
    double *acc_step, *acc;    // nacc each
    char* grid_png;            // the run's grid, NULL when absent
    bool reused;               // every step came from an earlier invocation
    double adapter_bytes;      // a LoRA row: the size of its pytorch_lora_weights.safetensors; NAN: full fine-tuning
} CompareRow;

// A command compare ran, or found finished by an earlier invocation and reused.
typedef struct CompareCommand {
    char* line;   // shell-quoted (util/subprocess.h)
    bool reused;
} CompareCommand;

// Loads row `name` (objective obj) from dir: dir/train_log.csv, eval_json and
// grid_png (NULL or missing: no grid), and adapter, a LoRA row's adapter file
// (NULL: full fine-tuning). 0, or -1 with err naming the file and what is
// missing in it.
int compare_row_load(CompareRow* r, const char* name, Objective obj, const char* dir, const char* eval_json,
                     const char* grid_png, const char* adapter, double train_wall_s, char* err, size_t errlen);
void compare_row_free(CompareRow* r);

struct CompareReport;

// summary.json: {"title", "eval_text", "base_grid", ["note",] "config": <config_json>,
// "objectives": [{"name", "objective", "adapter_bytes", "steps", "train_wall_s", "learning_rate", "beta",
// "final_loss", "implicit_acc_last", "implicit_acc_tail_mean", "val_loss",
// "val_loss_base", "comparisons", "win_rate", "ci95_lo", "ci95_hi",
// "mean_score_model", "mean_score_base", "caption_fit_model", "caption_fit_base",
// "output_dir", "grid", "reused", "curves": {"loss_step", "loss",
// "implicit_acc_step", "implicit_acc"}}, ...], "commands": [{"command", "reused"}, ...]};
// unknown numbers are null. Written atomically from r (rows, commands,
// config_json, base_grid, title, eval_text, note). 0, or -1 with err.
int compare_summary_write(const char* path, const struct CompareReport* r, char* err, size_t errlen);

// Reads a summary.json back into *r (every field owned; free with
// compare_summary_free). Grid paths are looked up relative to the summary's
// folder first, then as written (relative to the working directory); a grid
// found in neither place is left out of the report. 0, or -1 with err naming
// the file and key.
int compare_summary_read(struct CompareReport* r, const char* path, char* err, size_t errlen);
void compare_summary_free(struct CompareReport* r);
