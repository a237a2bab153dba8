// bench_model.c: see bench_model.h.
#include "bench/bench_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/model_setup.h"
#include "util/check.h"
#include "util/fsutil.h"

static bool has_dir(const BenchModelSource* s) { return s->dir && *s->dir; }

// A temporary folder for the learned tokenizer, removed once the pipeline has read it.
static void create_random(DiffusionPipeline* p, GpuContext* g, const BenchModelSource* src, PipelineAlloc alloc) {
    char dir[] = "/tmp/vkpref-bench-tokenizer-XXXXXX", err[1024];
    if (!mkdtemp(dir)) die("%s: cannot create a temporary folder for the tokenizer", dir);
    if (pipeline_from_model_config(p, g, src->model_config, dir, src->seed, alloc, err, sizeof err)) die("%s", err);
    if (remove_tree(dir, err, sizeof err)) fprintf(stderr, "vkpref bench: warning: %s\n", err);
}

void bench_model_open(DiffusionPipeline* p, GpuContext* g, const BenchModelSource* src, PipelineAlloc alloc) {
    if (has_dir(src)) {
        char err[1024];
        if (pipeline_load(p, g, src->dir, alloc, err, sizeof err)) die("%s (%s)", err, src->dir_flag);
        if (alloc.unet_ema) param_store_reset_ema(&p->unet_ps);
    } else {
        create_random(p, g, src, alloc);
    }
}

void bench_model_reference(ParamStore* ref, GpuContext* g, const DiffusionPipeline* p, const BenchModelSource* src,
                           const char* variant, DType dtype) {
    if (has_dir(src)) {
        char err[1024];
        if (reference_unet_load(ref, g, &p->unet_cfg, src->dir, variant, dtype, err, sizeof err)) die("%s", err);
        return;
    }
    UNet ref_unet;  // random weights: the same draw as the policy's initial UNet
    param_store_init(ref, g);
    unet_init(&ref_unet, &p->unet_cfg, ref);
    param_store_alloc_frozen(ref, dtype);
    param_store_init_random(ref, src->seed * 2 + 1);
}

void bench_model_describe(const BenchModelSource* src, char* out, size_t n) {
    if (has_dir(src)) snprintf(out, n, "pipeline %s", src->dir);
    else snprintf(out, n, "%s (random weights)", src->model_config);
}
