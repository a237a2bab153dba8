// model_setup.h: what `vkpref train` and `vkpref bench train` share to set a
// run up: a model from a --model_config file (from scratch, the tokenizer
// learned from the embedded captions), the frozen reference UNet, and the
// mapping of the run's options onto the objective and the recorded step.
#pragma once
#include "model/pipeline_io.h"
#include <stddef.h>

#include "objective/objective.h"
#include "train/step.h"
#include "train/train_config.h"

// Builds the models of the --model_config file `name` (found with
// find_data_file), writes the tokenizer learned from every caption of the
// embedded set into tokenizer_dir (created), and initialises the weights from
// seed (EMA = the initial weights). 0, or -1 with err naming the file and section.
int pipeline_from_model_config(DiffusionPipeline* p, GpuContext* g, const char* name, const char* tokenizer_dir,
                               uint64_t seed, PipelineAlloc alloc, char* err, size_t errlen);
// The frozen reference: the UNet of p's architecture with the weights of the
// pipeline folder dir (the files weights_open finds for variant), values only,
// stored as dtype: no gradients, moments or activations. 0, or -1 with err.
int reference_unet_load(ParamStore* ref, GpuContext* g, const UNetConfig* cfg, const char* dir, const char* variant,
                        DType dtype, char* err,
                        size_t errlen);
// The objective's hyper-parameters from the options (T = num_train_timesteps). 0, or -1 with err.
int objective_hyper_from_options(const TrainConfig* c, Objective obj, int num_train_timesteps, ObjectiveHyper* h,
                                 char* err, size_t errlen);
// The recorded step's configuration: rows per micro-batch, tokens per caption.
TrainStepConfig train_step_config_from_options(const TrainConfig* c, Objective obj, bool train_text, int rows,
                                               int text_len, ObjectiveHyper hyper, ParamStore* ref);
// Data parallel over nranks processes, this one `rank` (nranks > 1): the
// gradients summed by reduce; an objective that reads a statistic of the
// micro-batch sees every process's rows (gather), the others scale their
// coefficients by 1 / nranks (the loss is a mean over the global batch).
void train_step_config_distribute(TrainStepConfig* sc, int nranks, int rank, StepReduceFn reduce,
                                  StepGatherFn gather, void* user);
