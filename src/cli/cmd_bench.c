// cmd_bench.c: `vkpref bench ops|train|sample`.
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench_ops.h"
#include "bench/bench_sample.h"
#include "bench/bench_train.h"
#include "cli/commands.h"
#include "util/opt_names.h"
#include "util/options.h"

static void usage(FILE* out) {
    fprintf(out,
            "usage: vkpref bench ops [--reps N] [--json] [--only conv2d|matmul|attention] [--device N]\n"
            "       vkpref bench train [--model_config F | --pretrained_model_name_or_path DIR] [--objective O]\n"
            "                          [--train_batch_size B] [--gradient_checkpointing] [--timed_steps N] [--warmup N] [--json]\n"
            "       vkpref bench sample [--model_config F | --model DIR] [--batch B] [--cfg S] [--num_inference_steps N]\n"
            "                           [--timed_steps N] [--warmup N] [--json]\n"
            "  ops:    median time and GFLOP/s of conv2d, matmul and attention, forward and backward,\n"
            "          next to the device's measured fp32 FMA peak\n"
            "  train:  one training step (the replayed recording of `vkpref train`) on random inputs\n"
            "  sample: one denoising step (the replayed recording of `vkpref sample`)\n"
            "  train and sample: median/min/max step time, images/s, GFLOP/s, dispatches and submits per step,\n"
            "  device memory, host input time; `vkpref bench <ops|train|sample> --help` lists every option\n");
}

typedef struct BenchOpsConfig {
    int reps;
    bool json;
    char only[OPT_STR_MAX];
    int device;
} BenchOpsConfig;

#define O(name, type, def, range, help) {#name, type, offsetof(BenchOpsConfig, name), def, help, range}
static const OptSpec OPS_SPECS[] = {
    O(reps, OPT_INT, "10", OPT_IN(1, 10000), "timed replays per case"),
    O(json, OPT_BOOL, "false", OPT_ANY, "one JSON object per line instead of a table"),
    O(only, OPT_STRING, "", OPT_ANY, "run only the cases whose name contains this (e.g. conv2d, matmul, attention)"),
    O(device, OPT_INT, "-1", OPT_GE(-1), "Vulkan device index (see `vkpref info`)"),
};
#undef O
static const OptTable OPS_TABLE = {.command = "bench ops",
                                   .summary = "Median time and GFLOP/s of conv2d, matmul and attention, forward and "
                                              "backward, next to the device's measured fp32 FMA peak.",
                                   .specs = OPS_SPECS, .n = sizeof OPS_SPECS / sizeof *OPS_SPECS};

static int bench_ops_cmd(int argc, char** argv) {
    BenchOpsConfig c;
    int pr = opts_parse(&OPS_TABLE, &c, argc, argv);
    if (pr) return pr > 0 ? 0 : 2;
    BenchOpsOptions o = {.device = c.device, .reps = c.reps < 1 ? 1 : c.reps, .json = c.json,
                         .only = *c.only ? c.only : NULL};
    return bench_ops(&o);
}

static const struct {
    const char* name;
    int (*run)(int argc, char** argv);
} SUBCOMMANDS[] = {{"ops", bench_ops_cmd}, {"train", bench_train}, {"sample", bench_sample}};
#define NSUB (sizeof SUBCOMMANDS / sizeof *SUBCOMMANDS)

int cmd_bench(int argc, char** argv) {
    if (argc < 2) return usage(stderr), 2;
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) return usage(stdout), 0;
    for (size_t i = 0; i < NSUB; i++)
        if (!strcmp(argv[1], SUBCOMMANDS[i].name)) return SUBCOMMANDS[i].run(argc - 1, argv + 1);
    OptSuggest s;
    opt_suggest_init(&s, argv[1]);
    for (size_t i = 0; i < NSUB; i++) opt_suggest_offer(&s, SUBCOMMANDS[i].name);
    const char* near = opt_suggest_result(&s);
    fprintf(stderr, "vkpref bench: unknown benchmark '%s'", argv[1]);
    if (near) fprintf(stderr, " (did you mean '%s'?)", near);
    fprintf(stderr, "\n");
    usage(stderr);
    return 2;
}
