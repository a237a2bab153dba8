// cmd_bench.c: `vkpref bench ops` (placeholder until the op benchmark lands).
#include <stdio.h>

#include "cli/commands.h"

int cmd_bench(int argc, char** argv) {
    fprintf(stderr, "vkpref bench: not built yet\n");
    return 1;
}
