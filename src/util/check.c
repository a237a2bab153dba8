// check.c: fatal-error reporting and allocation that never returns NULL.
#include "util/check.h"

#include <stdarg.h>
#include <string.h>

#define FATAL_HOOKS_MAX 4
static void (*g_fatal_hooks[FATAL_HOOKS_MAX])(void);
static int g_nfatal_hooks;
static int g_fatal_status;

void on_fatal_exit(void (*fn)(void)) {
    for (int i = 0; i < g_nfatal_hooks; i++)
        if (g_fatal_hooks[i] == fn) return;
    if (g_nfatal_hooks == FATAL_HOOKS_MAX) {
        fprintf(stderr, "vkpref: internal error: more than %d fatal-exit hooks\n", FATAL_HOOKS_MAX);
        abort();
    }
    g_fatal_hooks[g_nfatal_hooks++] = fn;
}

int fatal_exit_status(void) { return g_fatal_status; }

void fatal_exit(int status) {
    static int exiting;  // a hook that fails must not run the hooks again
    if (!exiting) g_fatal_status = status;
    if (!exiting++)
        for (int i = g_nfatal_hooks - 1; i >= 0; i--) g_fatal_hooks[i]();
    exit(status);
}

void die(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("vkpref: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    fatal_exit(1);
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
