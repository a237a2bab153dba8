// check.h: error helpers. Library code reports an error of the user's input
// through an error buffer (fail()); die() is for programming errors inside the
// library and for the command layer. Vulkan calls are checked with VK_CHECK
// (gpu/vk_check.h), where Vulkan is used.
#pragma once
#include <stdio.h>
#include <stdlib.h>

_Noreturn void die(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
// Runs the fatal-exit hooks and exits with status (die: 1; the device: 3).
_Noreturn void fatal_exit(int status);
// The status fatal_exit is exiting with (for its hooks; 0 before it runs).
int fatal_exit_status(void);
#define EXIT_DEVICE 3  // the exit status when the device is lost or out of memory

// fn runs in die() and vk_fail() before they exit (at most 4; each once): a
// subsystem with threads inside the driver (pipeline.c's compilers) stops them,
// so that exit() does not tear the driver down under them.
void on_fatal_exit(void (*fn)(void));

// Allocation that never returns NULL (out of host memory is fatal).
void* xmalloc(size_t n);
void* xcalloc(size_t n, size_t size);
void* xrealloc(void* p, size_t n);
char* xstrdup(const char* s);

// Writes a message into a caller's error buffer (err may be NULL) and returns -1,
// for functions that report errors instead of exiting.
int fail(char* err, size_t errlen, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
