// cli_dist.c: see commands.h. Each rank renders its share of the prompts x
// seeds (sample/render.c), so the images, and every file rank 0 writes from
// them, are those of one process (docs/DISTRIBUTED.md).
#include <stdio.h>
#include <stdlib.h>

#include "cli/commands.h"
#include "dist/dist.h"
#include "util/check.h"

void cli_dist_join(int* argc, char*** argv, GpuOptions* go) {
    char err[512];
    if (dist_init(argc, argv, err, sizeof err)) die("%s", err);
    go->nth = dist_local_rank();  // one device per rank of this machine, unless --device names one
}

void cli_dist_followers_leave(void) {
    if (dist_lead()) return;
    dist_finalize();  // waits there until rank 0 is done too
    exit(0);
}
