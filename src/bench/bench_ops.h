// bench_ops.h: `vkpref bench ops`: median time and GFLOP/s of the core kernels.
#pragma once
#include <stdbool.h>

typedef struct BenchOpsOptions {
    int device;   // -1: default selection
    int reps;     // timed replays per case
    bool json;    // one JSON object per line instead of a table
    const char* only;  // run only cases whose name contains this (NULL: all)
} BenchOpsOptions;

int bench_ops(const BenchOpsOptions* o);
