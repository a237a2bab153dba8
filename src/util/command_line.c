// command_line.c: see command_line.h.
#include "util/command_line.h"

#include <stdio.h>
#include <string.h>

#include "util/check.h"

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
