// cmd_export.c: `vkpref export`: a pipeline folder (a finished run or any
// checkpoint-<step>, whose unet/ holds the EMA weights when the run kept them)
// rewritten as a clean pipeline folder, F16 by default, without the training
// state: how a base model is made ready to ship (assets/). --merge_lora FILE
// folds a LoRA adapter file into the UNet and, for its text-encoder keys, into the
// text encoder (W += scale alpha / r B A). The folder is
// written under a temporary name and renamed into place.
#include <stddef.h>
#include <stdio.h>

#include "cli/commands.h"
#include "util/options.h"
#include "model/lora.h"
#include "model/pipeline_io.h"
#include "util/check.h"
#include "util/fsutil.h"

typedef struct ExportConfig {
    char model[OPT_STR_MAX], out[OPT_STR_MAX], merge_lora[OPT_STR_MAX];
    double lora_scale;
    bool f16;
    int device;
} ExportConfig;

#define O(name, type, def, range, help) {#name, type, offsetof(ExportConfig, name), def, help, range}

static const OptSpec SPECS[] = {
    O(model, OPT_STRING, "", OPT_ANY, "pipeline folder or checkpoint-<step> folder; required"),
    O(out, OPT_STRING, "", OPT_ANY, "the new pipeline folder (replaced whole if it exists); required"),
    O(f16, OPT_BOOL, "true", OPT_ANY, "store weights as F16 (else F32)"),
    O(merge_lora, OPT_STRING, "", OPT_ANY, "LoRA adapter file to merge into the UNet's weights, and the text encoder's for its text-encoder keys (PEFT/diffusers or kohya keys)"),
    O(lora_scale, OPT_FLOAT, "1", OPT_IN(-100, 100), "strength of --merge_lora: the adapters' alpha / r times this"),
    O(device, OPT_INT, "-1", OPT_GE(-1), "Vulkan device index (see `vkpref info`)"),
};

static const OptTable TABLE = {.command = "export",
                               .summary = "Rewrite a pipeline or checkpoint as a clean (F16) pipeline folder.",
                               .specs = SPECS, .n = sizeof SPECS / sizeof *SPECS};

int cmd_export(int argc, char** argv) {
    ExportConfig c;
    int pr = opts_parse(&TABLE, &c, argc, argv);
    if (pr) return pr > 0 ? 0 : 2;
    if (!*c.model || !*c.out) {
        fprintf(stderr, "vkpref export: --model DIR and --out DIR are required (see `vkpref export --help`)\n");
        return 2;
    }
    char err[1024];
    if (output_path_check(c.out, OUTPUT_FOLDER_REPLACED, err, sizeof err)) die("%s (--out)", err);
    GpuContext g;
    GpuOptions go = GPU_DEFAULTS;
    go.device = c.device;
    if (gpu_init(&g, &go)) die("no usable Vulkan device (see `vkpref info`)");
    DiffusionPipeline p;
    // F32 whatever the pipeline: the merged weights are written at full precision.
    if (pipeline_load(&p, &g, c.model, (PipelineAlloc){.frozen = FROZEN_F32}, err, sizeof err)) die("%s (--model)", err);
    // A file's UNet adapters fold into the UNet, its text encoder's into the text encoder.
    ParamStore* stores[2] = {[LORA_UNET] = &p.unet_ps, [LORA_TEXT_ENCODER] = &p.text_ps};
    for (int k = 0; *c.merge_lora && k < 2; k++) {
        LoraSet lora;
        if (lora_load(&lora, &g, stores[k], (LoraComponent)k, c.merge_lora, (float)c.lora_scale, err, sizeof err))
            die("%s (--merge_lora)", err);
        lora_merge(&lora, stores[k]);
        lora_set_free(&lora);
    }
    if (remove_stale_temps(c.out, err, sizeof err) < 0) die("%s", err);
    AtomicDir d;
    if (atomic_dir_begin(&d, c.out, err, sizeof err)) die("%s (--out)", err);
    if (pipeline_save_model(&p, d.tmp_path, false, c.f16, err, sizeof err)) {
        atomic_dir_abort(&d);
        die("%s", err);
    }
    if (atomic_dir_commit(&d, err, sizeof err)) die("%s (--out)", err);
    fprintf(stderr, "vkpref export: %s -> %s (%s weights)\n", c.model, c.out, c.f16 ? "F16" : "F32");
    pipeline_free(&p);
    gpu_free(&g);
    return 0;
}
