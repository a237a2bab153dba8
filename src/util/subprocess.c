// subprocess.c: see subprocess.h.
#include "util/subprocess.h"

#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/check.h"

extern char** environ;

int run_self(char* const args[], char* err, size_t errlen) {
    int n = 0;
    while (args[n]) n++;
    // argv[0] "vkpref": what main() and messages expect; the program image is
    // this very binary, whatever name or folder it was started by.
    char** argv = xmalloc((size_t)(n + 2) * sizeof *argv);
    argv[0] = "vkpref";
    for (int i = 0; i <= n; i++) argv[i + 1] = args[i];
    fflush(stdout), fflush(stderr);  // our buffered output first, theirs after
    pid_t pid;
    int rc = posix_spawn(&pid, "/proc/self/exe", NULL, NULL, argv, environ);
    free(argv);
    if (rc) return fail(err, errlen, "cannot start `vkpref %s` (/proc/self/exe): %s", args[0], strerror(rc));
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return fail(err, errlen, "waiting for `vkpref %s`: %s", args[0], strerror(errno));
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return fail(err, errlen, "`vkpref %s` ended in an unknown way (status %d)", args[0], status);
}

static int needs_quotes(const char* s) {
    if (!*s) return 1;
    for (; *s; s++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%", *s)) return 1;
    return 0;
}

char* command_line_text(char* const args[]) {
    char* text;
    size_t len;
    FILE* f = open_memstream(&text, &len);
    if (!f) die("out of memory");
    fputs("vkpref", f);
    for (int i = 0; args[i]; i++) {
        fputc(' ', f);
        if (!needs_quotes(args[i])) {
            fputs(args[i], f);
            continue;
        }
        fputc('\'', f);
        for (const char* p = args[i]; *p; p++)
            if (*p == '\'') fputs("'\\''", f);  // close, escaped quote, reopen
            else fputc(*p, f);
        fputc('\'', f);
    }
    fclose(f);
    return text;
}
