// cmd_version.c: `vkpref --version`: what a bug report needs to name the build
// and the machine: version, git revision of the build, Vulkan loader and the
// default device's driver.
#include <stdio.h>

#include "cli/commands.h"
#include "git_revision.h"
#include "gpu/gpu.h"

#ifndef VKPREF_VERSION
#define VKPREF_VERSION "unknown"
#endif

int cmd_version(int argc, char** argv) {
    (void)argc, (void)argv;
    printf("vkpref %s (git %s)\n", VKPREF_VERSION, VKPREF_GIT_REVISION);
    gpu_print_version(stdout);
    return 0;
}
