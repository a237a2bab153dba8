// check.h: fatal-error helpers. Every Vulkan call goes through VK_CHECK, which
// names the call, the VkResult and the source line; user errors go through die().
#pragma once
#include <stdio.h>
#include <stdlib.h>
#include <vulkan/vulkan.h>

const char* vk_result_name(VkResult r);

_Noreturn void vk_fail(VkResult r, const char* call, const char* file, int line);
_Noreturn void die(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// fn runs in die() and vk_fail() before they exit (at most 4; each once): a
// subsystem with threads inside the driver (pipeline.c's compilers) stops them,
// so that exit() does not tear the driver down under them.
void on_fatal_exit(void (*fn)(void));

#define VK_CHECK(call)                                                  \
    do {                                                                \
        VkResult vk_check_r_ = (call);                                  \
        if (vk_check_r_ != VK_SUCCESS) vk_fail(vk_check_r_, #call, __FILE__, __LINE__); \
    } while (0)

// Allocation that never returns NULL (out of host memory is fatal).
void* xmalloc(size_t n);
void* xcalloc(size_t n, size_t size);
void* xrealloc(void* p, size_t n);
char* xstrdup(const char* s);

// Writes a message into a caller's error buffer (err may be NULL) and returns -1,
// for functions that report errors instead of exiting.
int fail(char* err, size_t errlen, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
