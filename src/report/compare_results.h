// compare_results.h: the numbers of one objective's run in `vkpref compare`,
// read back from what the commands wrote into its folder (train_log.csv, the
// eval JSON, the grid PNG), and summary.json, the table of all of them.
// Reading files rather than keeping values in memory is what lets a resumed
// compare report on runs an earlier invocation finished.
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "objective/objective.h"

typedef struct CompareRow {
    Objective obj;
    char* dir;                 // the run's folder (its pipeline)
    int steps;                 // last logged training step (0: none)
    double train_wall_s;       // wall time of the train command; NAN: unknown
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
} CompareRow;

// A command compare ran, or found finished by an earlier invocation and reused.
typedef struct CompareCommand {
    char* line;   // shell-quoted (util/subprocess.h)
    bool reused;
} CompareCommand;

// Loads the row of obj from dir: dir/train_log.csv, eval_json and grid_png
// (NULL or missing: no grid). 0, or -1 with err naming the file and what is
// missing in it.
int compare_row_load(CompareRow* r, Objective obj, const char* dir, const char* eval_json, const char* grid_png,
                     double train_wall_s, char* err, size_t errlen);
void compare_row_free(CompareRow* r);

// summary.json: {"config": <config_json>, "objectives": [{"objective", "steps",
// "train_wall_s", "final_loss", "implicit_acc_last", "implicit_acc_tail_mean",
// "comparisons", "win_rate", "ci95_lo", "ci95_hi", "mean_score_model",
// "mean_score_base", "caption_fit_model", "caption_fit_base", "output_dir",
// "grid", "reused"}, ...], "commands": [{"command", "reused"}, ...]};
// unknown numbers are null.
// Written atomically. 0, or -1 with err.
int compare_summary_write(const char* path, const char* config_json, const CompareRow* rows, int nrows,
                          const CompareCommand* commands, int ncommands, char* err, size_t errlen);
