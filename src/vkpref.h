// vkpref.h: the library's public interface, the one header a program that
// embeds vkpref includes (link with vkpref_core). It opens a Vulkan device,
// trains a diffusion model on preference data one optimizer step at a time,
// saves it, samples images from a pipeline folder and evaluates one model
// against another under a judge.
//
// Errors: every fallible call returns a VkpStatus and, when it is not VKP_OK,
// fills the caller's VkpError with a message naming the option, file, key or
// line at fault. Failures caused by the input (options, files, manifests,
// model folders) and a lost device come back this way; the library does not
// exit the process for them. Only a programming error (a NULL handle, a call
// out of order) may abort.
//
// Threads: one handle is used by one thread at a time; separate devices may be
// driven from separate threads.
//
// A minimal training program:
//
//   VkpError e;
//   VkpDevice* dev;  VkpConfig* cfg;  VkpRun* run;
//   if (vkp_device_open(-1, &dev, &e)) { puts(e.message); return 1; }
//   vkp_config_new(&cfg);
//   vkp_config_set(cfg, "objective", "dpo", &e);            // every `vkpref train` option, by key
//   vkp_config_set(cfg, "pretrained_model_name_or_path", "assets/fmnist-base", &e);
//   vkp_config_set(cfg, "dataset", "pairs.jsonl", &e);
//   if (vkp_run_open(dev, cfg, &run, &e)) { puts(e.message); return 1; }
//   while (vkp_run_done(run) < vkp_run_total(run)) {
//       VkpStepMetrics m;
//       if (vkp_run_step(run, &m, &e)) break;
//       printf("step %d loss %g\n", m.step, m.loss);
//   }
//   vkp_run_save(run, &e);  vkp_run_close(run);  vkp_config_free(cfg);  vkp_device_close(dev);
//
// tools/embed_example.c is a complete program.
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VKP_VERSION "0.6.0"

typedef enum VkpStatus {
    VKP_OK = 0,
    VKP_ERR_INPUT = 1,     // options, files, manifests, model folders: the message says which
    VKP_ERR_DIVERGED = 2,  // training stopped on a non-finite or spiking loss (the message names a good checkpoint)
    VKP_ERR_DEVICE = 3,    // the Vulkan device was lost or is unusable
    VKP_ERR_IO = 4,        // a file could not be written
} VkpStatus;

typedef struct VkpError {
    VkpStatus status;
    char message[4096];
} VkpError;

typedef struct VkpDevice VkpDevice;  // a Vulkan device with its pipeline cache
typedef struct VkpConfig VkpConfig;  // the options of a training run (those of `vkpref train`)
typedef struct VkpRun VkpRun;        // a training run in progress
typedef struct VkpModel VkpModel;    // a pipeline folder loaded for sampling

// ---------------------------------------------------------------------------
// Device.

// index: a device of `vkpref info`'s list, or -1 for the default choice (a
// discrete GPU first, then any GPU, then a CPU implementation).
VkpStatus vkp_device_open(int index, VkpDevice** out, VkpError* err);
// The device's name as the driver reports it.
const char* vkp_device_name(const VkpDevice* dev);
void vkp_device_close(VkpDevice* dev);

// ---------------------------------------------------------------------------
// Training configuration: the defaults of `vkpref train`, then a JSON file
// and/or single keys (the same keys as the command's flags and config files).
// As in the command, a fine-tuning objective gets the fine-tuning defaults
// (its tuned learning rate, batch 4, no EMA, ...) for every key not set.

VkpStatus vkp_config_new(VkpConfig** out);
VkpStatus vkp_config_load(VkpConfig* cfg, const char* json_path, VkpError* err);
VkpStatus vkp_config_set(VkpConfig* cfg, const char* key, const char* value, VkpError* err);
// The resolved configuration as JSON (malloc'ed; free() it).
char* vkp_config_to_json(const VkpConfig* cfg);
void vkp_config_free(VkpConfig* cfg);

// ---------------------------------------------------------------------------
// Training.

#define VKP_MAX_METRICS 32

typedef struct VkpStepMetrics {
    int step, total;           // optimizer steps done (this one included), and the target
    double loss, lr, grad_norm, images_per_s;
    double val_loss;           // NaN unless the held-out loss was computed at this step
    int nmetrics;              // the objective's metrics: names from vkp_metric_name
    double metrics[VKP_MAX_METRICS];
    int checkpoint_saved;      // 1 when a checkpoint-<step> folder was written at this step
} VkpStepMetrics;

// The name of metrics[k] ("loss", "implicit_acc", ...), as in train_log.csv.
const char* vkp_metric_name(int k);

// Validates the configuration, loads the models and data, prepares the output
// folder (a folder holding another run is refused unless resuming or
// overwrite_output_dir is set). The device must outlive the run.
VkpStatus vkp_run_open(VkpDevice* dev, const VkpConfig* cfg, VkpRun** out, VkpError* err);
int vkp_run_done(const VkpRun* run);
int vkp_run_total(const VkpRun* run);
// One optimizer step; logging, validation and checkpoints happen as configured.
VkpStatus vkp_run_step(VkpRun* run, VkpStepMetrics* out, VkpError* err);
// Writes the final pipeline folder into the run's output_dir.
VkpStatus vkp_run_save(VkpRun* run, VkpError* err);
void vkp_run_close(VkpRun* run);

// ---------------------------------------------------------------------------
// Sampling and evaluation.

typedef struct VkpSampleOptions {
    const char* sampler;     // "ddim" (NULL: ddim), "ddpm" or "euler"
    int steps;               // denoising steps (0: 25)
    double guidance_scale;   // classifier-free guidance; <= 1: none
    double eta;              // DDIM eta (0: deterministic)
    int batch;               // images per replay, speed only (0: 16)
} VkpSampleOptions;

VkpStatus vkp_model_open(VkpDevice* dev, const char* pipeline_dir, VkpModel** out, VkpError* err);
// The shape of one image: channels x size x size floats.
void vkp_model_image_shape(const VkpModel* model, int* channels, int* size);
void vkp_model_close(VkpModel* model);

// n images, image k from (prompts[k], seeds[k]), into images[n][channels][size][size]
// in [-1, 1]. The same (model, prompt, seed, options) give the same image.
VkpStatus vkp_sample(VkpModel* model, const VkpSampleOptions* opt, const char* const* prompts,
                     const uint64_t* seeds, int n, float* images, VkpError* err);

typedef struct VkpWinRate {
    int comparisons, wins, ties, losses;
    double rate, ci95_lo, ci95_hi;        // ties count half; Wilson score interval
    double mean_score_model, mean_score_base;
} VkpWinRate;

// Samples every (prompt, seed) with both models and compares them under a
// judge ("brightness", "contrast", "ink", "border", "classifier[:DIR]", "-NAME"
// for the negation), as `vkpref eval` does.
VkpStatus vkp_evaluate(VkpModel* model, VkpModel* base, const char* judge, const VkpSampleOptions* opt,
                       const char* const* prompts, int nprompts, const uint64_t* seeds, int nseeds,
                       double tie_margin, VkpWinRate* out, VkpError* err);

#ifdef __cplusplus
}
#endif
