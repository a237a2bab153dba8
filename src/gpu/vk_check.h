// vk_check.h: every Vulkan call goes through VK_CHECK, which names the call,
// the VkResult and the source line, then exits through util/check.h's hooks.
#pragma once
#include <vulkan/vulkan.h>

const char* vk_result_name(VkResult r);
_Noreturn void vk_fail(VkResult r, const char* call, const char* file, int line);

#define VK_CHECK(call)                                                  \
    do {                                                                \
        VkResult vk_check_r_ = (call);                                  \
        if (vk_check_r_ != VK_SUCCESS) vk_fail(vk_check_r_, #call, __FILE__, __LINE__); \
    } while (0)
