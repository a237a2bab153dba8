// bench_report.h: what `vkpref bench train` and `vkpref bench sample` measure
// and how they print it: step-time statistics, throughput, achieved GFLOP/s
// (flops.h conventions), recording statistics and device memory.
//
// Device memory: peak_device_bytes is the sum of the high-water marks of every
// arena the benchmark's models and recordings use (parameters, gradients,
// AdamW moments, EMA, activations, temporaries, host-visible inputs): bytes of
// tensors that were live at some point. allocated_device_bytes is the sum of
// the arena chunks actually allocated (vkAllocateMemory; chunks are reserved in
// steps of up to 256 MiB, so it overstates the need). Neither counts the
// driver's own memory (pipelines, descriptors, command buffers). Recordings
// are made once, so nothing is allocated while steps run: the peak is reached
// before the first step.
#pragma once
#include <cjson/cJSON.h>
#include <stdbool.h>

#include "bench/flops.h"
#include "gpu/cmd.h"
#include "model/params.h"

typedef struct BenchTimes {
    double median, min, max;
} BenchTimes;

// Statistics of t[0..n) (t is left unchanged).
BenchTimes bench_times(const double* t, int n);

// Device memory of a set of arenas.
typedef struct BenchMemory {
    VkDeviceSize peak, allocated;
} BenchMemory;
void bench_memory_add_arena(BenchMemory* m, const Arena* a);
// The store's value, gradient, moment and EMA arenas.
void bench_memory_add_params(BenchMemory* m, const ParamStore* ps);

typedef struct BenchResult {
    const char* bench;        // "train" | "sample"
    int warmup, steps;        // untimed and timed steps
    BenchTimes step;          // wall time of a whole step: host inputs + submit + wait
    BenchTimes host;          // of which: the host writing the step's inputs (the recording is replayed, not re-recorded)
    double first_step_s;      // wall time of step 0 (warm-up or not): includes the driver's compile at first dispatch
    double images_per_step;   // train: UNet rows (pairs count 2); sample: images advanced one denoising step
    FlopCount flops;          // per step
    double dispatches_per_step, barriers_per_step, submits_per_step;
    BenchMemory memory;
} BenchResult;

// Runs r->warmup untimed then r->steps timed steps of one(user, s), s = 0, 1, ...
// counting on through the warm-up; one returns the seconds it spent writing the
// step's inputs on the host. Fills r->step and r->host.
typedef double (*BenchStepFn)(void* user, int s);
void bench_run(BenchResult* r, BenchStepFn one, void* user);

// Recording statistics of one replay of c (compute dispatches and barriers).
void bench_result_add_replays(BenchResult* r, const Cmd* c, int replays_per_step);

// json: one JSON object on one line with the common keys (median_s, min_s,
// max_s, images_per_s, gflops_per_s, peak_device_bytes, dispatches_per_step,
// submits_per_step, host_median_s, host_fraction, ...) plus every item of
// extra (may be NULL; freed). Otherwise a short human-readable report.
void bench_result_print(const BenchResult* r, const GpuContext* g, cJSON* extra, bool json);
