// check.c: VkResult names and fatal-error reporting.
#include "util/check.h"

#include <stdarg.h>
#include <string.h>

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

#define FATAL_HOOKS_MAX 4
static void (*g_fatal_hooks[FATAL_HOOKS_MAX])(void);
static int g_nfatal_hooks;

void on_fatal_exit(void (*fn)(void)) {
    for (int i = 0; i < g_nfatal_hooks; i++)
        if (g_fatal_hooks[i] == fn) return;
    if (g_nfatal_hooks == FATAL_HOOKS_MAX) {
        fprintf(stderr, "vkpref: internal error: more than %d fatal-exit hooks\n", FATAL_HOOKS_MAX);
        abort();
    }
    g_fatal_hooks[g_nfatal_hooks++] = fn;
}

_Noreturn static void fatal_exit(void) {
    static int exiting;  // a hook that fails must not run the hooks again
    if (!exiting++)
        for (int i = g_nfatal_hooks - 1; i >= 0; i--) g_fatal_hooks[i]();
    exit(1);
}

void vk_fail(VkResult r, const char* call, const char* file, int line) {
    fprintf(stderr, "vkpref: Vulkan error %s (%d) from %s\n  at %s:%d\n", vk_result_name(r), (int)r,
            call, file, line);
    if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY)
        fprintf(stderr, "  hint: the device ran out of memory; try a smaller --train_batch_size\n");
    fatal_exit();
}

void die(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("vkpref: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    fatal_exit();
}

void* xmalloc(size_t n) {
    void* p = malloc(n ? n : 1);
    if (!p) die("out of host memory (%zu bytes)", n);
    return p;
}
void* xcalloc(size_t n, size_t size) {
    void* p = calloc(n ? n : 1, size ? size : 1);
    if (!p) die("out of host memory (%zu x %zu bytes)", n, size);
    return p;
}
void* xrealloc(void* p, size_t n) {
    void* q = realloc(p, n ? n : 1);
    if (!q) die("out of host memory (%zu bytes)", n);
    return q;
}
char* xstrdup(const char* s) {
    size_t n = strlen(s) + 1;
    return memcpy(xmalloc(n), s, n);
}

int fail(char* err, size_t errlen, const char* fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}
