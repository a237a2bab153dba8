// classifier_io.h: a trained classifier folder (assets/judge-fmnist):
//   config.json        the architecture (ClassifierConfig's fields, "architecture":
//                      "fmnist-cnn", class names) plus whatever the trainer adds
//                      (test accuracy, mean log-probability, the command, options);
//   model.safetensors  F32 parameters under their classifier.h names.
// The folder is written whole or not at all (util/fsutil.h atomic_dir_*).
#pragma once
#include <cjson/cJSON.h>

#include "judge/classifier.h"

#define CLASSIFIER_CONFIG_FILE "config.json"
#define CLASSIFIER_WEIGHTS_FILE "model.safetensors"

// Reads dir/config.json. 0, or -1 with err naming the folder or file and the problem.
int classifier_config_load(ClassifierConfig* c, const char* dir, char* err, size_t errlen);
// Writes the folder: config.json = the architecture with every field of `extra`
// (an object, may be NULL) added, model.safetensors = the values of ps.
int classifier_save(const char* dir, const Classifier* m, const ParamStore* ps, const cJSON* extra, char* err,
                    size_t errlen);
// Builds the model of dir's config in a fresh store ps (values only) and loads
// its weights. 0, or -1 with err naming the path (ps is then freed).
int classifier_load(Classifier* m, ParamStore* ps, GpuContext* g, const char* dir, char* err, size_t errlen);
