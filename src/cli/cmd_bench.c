// cmd_bench.c: `vkpref bench ops [--reps N] [--json] [--only NAME] [--device N]`.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench_ops.h"
#include "cli/commands.h"

static int usage(void) {
    fprintf(stderr,
            "usage: vkpref bench ops [--reps N] [--json] [--only conv2d|matmul|attention] [--device N]\n"
            "  ops: median time and GFLOP/s of conv2d, matmul and attention, forward and backward,\n"
            "       next to the device's measured fp32 FMA peak\n");
    return 2;
}

int cmd_bench(int argc, char** argv) {
    if (argc < 2 || strcmp(argv[1], "ops") != 0) return usage();
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
