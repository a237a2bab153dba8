// run.h: a training run, the one training loop of vkpref. `vkpref train`,
// `vkpref compare` and programs that embed the library (vkpref.h) all train
// through it; `vkpref bench train` times its step (train_step_replay).
//
// A run is opened from a resolved TrainConfig on an open device, advanced one
// optimizer step at a time (each call returns that step's metrics; logging,
// validation and checkpoints happen inside at the configured cadence), then
// finished (the final pipeline written) and closed.
//
// Failures caused by the user's input (options, files, manifests, model
// folders) come back as a RunStatus with a message; nothing here exits.
//
// The output folder belongs to one run at a time (run_dir.h): a folder holding
// another run is refused unless the run resumes it or --overwrite_output_dir is
// given; checkpoints carry the run's id and pruning touches only its own.
//
// Non-finite steps: the recorded update skips AdamW and EMA when the gradient
// norm is not finite, so such a step never changes the weights; the run then
// stops with RUN_DIVERGED and names the newest checkpoint whose weights went on
// to give a finite loss (a checkpoint becomes "verified" when the step after it
// finishes with a finite loss and gradient norm; older checkpoints are pruned
// only behind a verified one).
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "gpu/gpu.h"
#include "objective/objective.h"
#include "train/train_config.h"

typedef enum RunStatus {
    RUN_OK = 0,
    RUN_ERR_INPUT = 1,     // options, files, manifests, model folders: the message says which
    RUN_ERR_DIVERGED = 2,  // non-finite loss or gradients, or a loss spike (--max_loss_spike)
    RUN_ERR_DEVICE = 3,    // the Vulkan device was lost or ran out of memory
    RUN_ERR_IO = 4,        // a file could not be written (disk full, permissions)
} RunStatus;

// Messages of a run ("resuming from ...", dataset counts, validation losses),
// one line each without the trailing newline. NULL: printed to stderr as
// "vkpref train: <line>".
typedef void (*RunLogFn)(void* user, const char* line);

typedef struct RunHooks {
    RunLogFn log;
    void* user;
} RunHooks;

typedef struct TrainStepReport {
    int step;            // optimizer steps done, this one included
    int total;           // max_train_steps
    double loss, lr, grad_norm, images_per_s;
    double val_loss;     // NAN unless the held-out loss was computed at this step
    double metrics[OBJ_METRICS_COUNT];  // the objective's metrics (objective.h), averaged over micro-batches
    bool checkpoint_saved;              // a checkpoint-<step> folder was written at this step
} TrainStepReport;

typedef struct TrainRun TrainRun;

// Validates c (every option the run reads), prepares the output folder, loads
// or builds the models, the data and the recorded step, writes
// train_config.json and, for a new run, the step-0 validation. g stays the
// caller's (it may serve several runs one after another).
RunStatus train_run_open(TrainRun** out, GpuContext* g, const TrainConfig* c, const RunHooks* hooks, char* err,
                         size_t errlen);
// Optimizer steps done so far (the checkpoint's step after a resume) and the target.
int train_run_done(const TrainRun* r);
int train_run_total(const TrainRun* r);
Objective train_run_objective(const TrainRun* r);
// One optimizer step (K micro-batches), its CSV row, validation and checkpoint when due.
RunStatus train_run_step(TrainRun* r, TrainStepReport* rep, char* err, size_t errlen);
// Writes the final pipeline into the output folder, replacing an earlier one
// as a whole (run_dir.h). Call once, after the last step.
RunStatus train_run_finish(TrainRun* r, char* err, size_t errlen);
// The newest checkpoint known to be good ("" if none): named in messages.
const char* train_run_last_good_checkpoint(const TrainRun* r);
void train_run_close(TrainRun* r);

// The checks train_run_open makes on c before it loads or writes anything
// (values, ranges, the files c names): 0, or -1 with a message. For
// `vkpref train --print_config`.
int train_run_check_config(const TrainConfig* c, char* err, size_t errlen);

// --train_text_encoder auto|true|false: auto trains it for sft pre-training on
// the embedded fmnist set (fmnist_sft). -1 with err on a bad value.
int train_text_encoder_resolve(const char* value, bool fmnist_sft, bool* out, char* err, size_t errlen);
