// run_dir.h: a training run's output folder, owned by one run at a time.
//
//   OUT/run.json           {"run_id": "<16 hex digits>"}: which run the folder holds
//   OUT/train_config.json  OUT/train_log.csv  OUT/validation/
//   OUT/checkpoint-<step>/ each with the run id in its train_state.json
//   OUT/model_index.json, unet/, text_encoder/, tokenizer/, scheduler/: the final pipeline
//
// Rules (so no run is lost or silently overwritten):
// - A folder that holds a run (any of the files above) is refused for a new run
//   unless the caller resumes from it or passes overwrite (--overwrite_output_dir),
//   which removes the earlier run's checkpoints, log and grids first.
// - Pruning keeps the newest `keep` checkpoints of this run and never touches
//   another run's (nor one without an id). A pruned folder is first renamed to
//   "<name>.old-*", then deleted; leftovers of a killed run ("*.tmp-*",
//   "*.old-*", an unfinished pipeline swap) are cleaned at the next start.
// - The final pipeline is written to a temporary folder first; its components
//   are then moved into place under a journal folder (.pipeline-new), so a crash
//   in between is rolled forward at the next start: the folder's pipeline is
//   whole and old or whole and new, never a mix.
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "model/pipeline_io.h"

#define RUN_ID_LEN 16

// Whether dir holds (a part of) a training run.
bool run_dir_holds_run(const char* dir);
// Cleans what a killed run left (temporary and half-pruned folders, an
// unfinished pipeline swap). 0, or -1 with err.
int run_dir_recover(const char* dir, char* err, size_t errlen);
// Removes an earlier run's checkpoints, log, grids and run.json (--overwrite_output_dir).
int run_dir_clear(const char* dir, char* err, size_t errlen);
// A fresh random run id (RUN_ID_LEN hex digits + NUL).
void run_id_new(char id[RUN_ID_LEN + 1]);
// Reads dir/run.json's id into id ("" when absent). -1 with err when unreadable.
int run_id_read(const char* dir, char id[RUN_ID_LEN + 1], char* err, size_t errlen);
int run_id_write(const char* dir, const char* id, char* err, size_t errlen);
// Deletes this run's checkpoints beyond the newest `keep` (0: keep all); the
// newest verified checkpoint (step `verified`, -1 none) is always kept.
int run_dir_prune(const char* dir, const char* run_id, int keep, int verified, char* err, size_t errlen);
// Writes p's final pipeline into dir as described above.
int run_dir_save_pipeline(const DiffusionPipeline* p, const char* dir, bool use_ema, bool f16, char* err,
                          size_t errlen);
