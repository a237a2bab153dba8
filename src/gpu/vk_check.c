// vk_check.c: VkResult names and the fatal report of a failed Vulkan call.
#include "gpu/vk_check.h"

#include <stdbool.h>
#include <stdio.h>

#include "util/check.h"

const char* vk_result_name(VkResult r) {
    switch (r) {
#define R(x) case x: return #x;
        R(VK_SUCCESS) R(VK_NOT_READY) R(VK_TIMEOUT) R(VK_EVENT_SET) R(VK_EVENT_RESET)
        R(VK_INCOMPLETE) R(VK_ERROR_OUT_OF_HOST_MEMORY) R(VK_ERROR_OUT_OF_DEVICE_MEMORY)
        R(VK_ERROR_INITIALIZATION_FAILED) R(VK_ERROR_DEVICE_LOST) R(VK_ERROR_MEMORY_MAP_FAILED)
        R(VK_ERROR_LAYER_NOT_PRESENT) R(VK_ERROR_EXTENSION_NOT_PRESENT)
        R(VK_ERROR_FEATURE_NOT_PRESENT) R(VK_ERROR_INCOMPATIBLE_DRIVER)
        R(VK_ERROR_TOO_MANY_OBJECTS) R(VK_ERROR_FORMAT_NOT_SUPPORTED)
        R(VK_ERROR_FRAGMENTED_POOL) R(VK_ERROR_UNKNOWN) R(VK_ERROR_OUT_OF_POOL_MEMORY)
        R(VK_ERROR_INVALID_EXTERNAL_HANDLE) R(VK_ERROR_FRAGMENTATION)
        R(VK_ERROR_INVALID_OPAQUE_CAPTURE_ADDRESS) R(VK_PIPELINE_COMPILE_REQUIRED)
#undef R
    default: return "VK_RESULT_UNKNOWN";
    }
}

void vk_fail(VkResult r, const char* call, const char* file, int line) {
    fprintf(stderr, "vkpref: Vulkan error %s (%d) from %s\n  at %s:%d\n", vk_result_name(r), (int)r,
            call, file, line);
    if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY)
        fprintf(stderr, "  hint: the device ran out of memory; try a smaller --train_batch_size\n");
    if (r == VK_ERROR_DEVICE_LOST) fprintf(stderr, "  the device was lost (driver reset or hardware fault)\n");
    bool device = r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_DEVICE_LOST;
    fatal_exit(device ? EXIT_DEVICE : 1);
}

