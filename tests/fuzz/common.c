// common.c: see common.h.
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/check.h"
#include "util/fsutil.h"

char* fuzz_cstring(const uint8_t* data, size_t n) {
    char* s = xmalloc(n + 1);
    memcpy(s, data, n);
    s[n] = 0;
    return s;
}

static char g_dir[64];

static void remove_dir(void) {
    char err[256];
    remove_tree(g_dir, err, sizeof err);
}

const char* fuzz_dir(void) {
    if (!g_dir[0]) {
        snprintf(g_dir, sizeof g_dir, "/tmp/vkpref-fuzz-XXXXXX");
        if (!mkdtemp(g_dir)) die("fuzz: mkdtemp failed");
        atexit(remove_dir);
    }
    return g_dir;
}

const char* fuzz_file(const char* name, const uint8_t* data, size_t n) {
    static char paths[8][512];
    static int used;
    int k = 0;
    char path[512];
    snprintf(path, sizeof path, "%s/%s", fuzz_dir(), name);
    while (k < used && strcmp(paths[k], path)) k++;
    if (k == used) {
        if (used == 8) die("fuzz: too many temporary files");
        snprintf(paths[used++], sizeof paths[0], "%s", path);
    }
    FILE* f = fopen(path, "wb");
    if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f)) die("fuzz: cannot write %s", path);
    return paths[k];
}

void fuzz_split(const uint8_t* data, size_t n, const char* sep, const uint8_t** a, size_t* na, const uint8_t** b,
                size_t* nb) {
    size_t m = strlen(sep);
    const uint8_t* at = m <= n ? memmem(data, n, sep, m) : NULL;
    *a = data;
    *na = at ? (size_t)(at - data) : n;
    *b = at ? at + m : data + n;
    *nb = at ? n - *na - m : 0;
}
