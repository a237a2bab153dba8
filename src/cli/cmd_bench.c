// cmd_bench.c: `vkpref bench ops|train|sample`.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench_ops.h"
#include "bench/bench_sample.h"
#include "bench/bench_train.h"
#include "cli/commands.h"

static int usage(void) {
    fprintf(stderr,
            "usage: vkpref bench ops [--reps N] [--json] [--only conv2d|matmul|attention] [--device N]\n"
            "       vkpref bench train [--model_config F | --pretrained_model_name_or_path DIR] [--objective O]\n"
            "                          [--train_batch_size B] [--gradient_checkpointing] [--steps N] [--warmup N] [--json]\n"
            "       vkpref bench sample [--model_config F | --model DIR] [--batch B] [--cfg S] [--steps N] [--warmup N] [--json]\n"
            "  ops:    median time and GFLOP/s of conv2d, matmul and attention, forward and backward,\n"
            "          next to the device's measured fp32 FMA peak\n"
            "  train:  one training step (the replayed recording of `vkpref train`) on random inputs\n"
            "  sample: one denoising step (the replayed recording of `vkpref sample`)\n"
            "  train and sample: median/min/max step time, images/s, GFLOP/s, dispatches and submits per step,\n"
            "  device memory, host input time; `vkpref bench train --help` lists every option\n");
    return 2;
}

static int bench_ops_cmd(int argc, char** argv) {
    BenchOpsOptions o = {.device = -1, .reps = 10};
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc) o.reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--json")) o.json = true;
        else if (!strcmp(argv[i], "--only") && i + 1 < argc) o.only = argv[++i];
        else if (!strcmp(argv[i], "--device") && i + 1 < argc) o.device = atoi(argv[++i]);
        else return usage();
    }
    if (o.reps < 1) o.reps = 1;
    return bench_ops(&o);
}

int cmd_bench(int argc, char** argv) {
    if (argc < 2) return usage();
    if (!strcmp(argv[1], "ops")) return bench_ops_cmd(argc, argv);
    if (!strcmp(argv[1], "train")) return bench_train(argc - 1, argv + 1);
    if (!strcmp(argv[1], "sample")) return bench_sample(argc - 1, argv + 1);
    return usage();
}
