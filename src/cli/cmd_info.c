// cmd_info.c: `vkpref info [--device N]`: the Vulkan devices and the chosen one.
#include <stddef.h>
#include <stdio.h>

#include "cli/commands.h"
#include "gpu/gpu.h"
#include "util/options.h"

typedef struct InfoConfig {
    int device;
} InfoConfig;

static const OptSpec SPECS[] = {
    {"device", OPT_INT, offsetof(InfoConfig, device), "-1", "the device to mark as selected (see the list)", OPT_GE(-1)},
};
static const OptTable TABLE = {.command = "info",
                               .summary = "List the Vulkan devices with their properties and mark the one a command "
                                          "would use ($VKPREF_DEVICE or --device N overrides the choice).",
                               .specs = SPECS, .n = sizeof SPECS / sizeof *SPECS};

int cmd_info(int argc, char** argv) {
    InfoConfig c;
    int pr = opts_parse(&TABLE, &c, argc, argv);
    if (pr) return pr > 0 ? 0 : 2;
    return gpu_print_devices(stdout, c.device) >= 0 ? 0 : 1;
}
