// cmd_info.c: `vkpref info [--device N]`: the Vulkan devices and the chosen one.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "gpu/gpu.h"

int cmd_info(int argc, char** argv) {
    int device = -1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--device") && i + 1 < argc) device = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: vkpref info [--device N]\n");
            return 2;
        }
    }
    return gpu_print_devices(stdout, device) >= 0 ? 0 : 1;
}
