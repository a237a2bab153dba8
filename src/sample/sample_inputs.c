// sample_inputs.c: see sample_inputs.h.
#include "sample/sample_inputs.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/check.h"
#include "util/fsutil.h"

// ---------------------------------------------------------------------------
// Seeds

// A non-negative decimal integer at *p (no sign: "-" separates ranges).
static bool parse_u64(const char** p, uint64_t* v) {
    if (!isdigit((unsigned char)**p)) return false;
    char* end;
    errno = 0;
    unsigned long long x = strtoull(*p, &end, 10);
    if (errno) return false;
    *v = x;
    *p = end;
    return true;
}

static int cmp_u64(const void* a, const void* b) {
    uint64_t x = *(const uint64_t*)a, y = *(const uint64_t*)b;
    return x < y ? -1 : x > y;
}

// One item "A" or "A-B" at *p, up to the next ',' or the end (spaces allowed
// around numbers). 0; -1 when it is not an item; -2 when B < A.
static int parse_item(const char** p, uint64_t* a, uint64_t* b) {
    while (**p == ' ') (*p)++;
    if (!parse_u64(p, a)) return -1;
    *b = *a;
    while (**p == ' ') (*p)++;
    if (**p == '-') {
        (*p)++;
        while (**p == ' ') (*p)++;
        if (!parse_u64(p, b)) return -1;
        while (**p == ' ') (*p)++;
    }
    if (**p != ',' && **p != 0) return -1;
    return *b < *a ? -2 : 0;
}

int seeds_parse(const char* text, uint64_t** seeds, int* n, char* err, size_t errlen) {
    *seeds = NULL;
    *n = 0;
    uint64_t* out = NULL;
    int count = 0;
    for (const char* p = text;; p++) {  // p++ steps over the ','
        const char* start = p;
        uint64_t a, b;
        int r = parse_item(&p, &a, &b);
        if (r) {
            const char* end = strchr(start, ',');
            int len = end ? (int)(end - start) : (int)strlen(start);
            if (r == -2) fail(err, errlen, "\"%.*s\": the range ends before it starts", len, start);
            else
                fail(err, errlen, "\"%.*s\" is not a seed or a range A-B (non-negative integers, e.g. \"0-3,9\")", len,
                     start);
            free(out);
            return -1;
        }
        if (b - a >= (uint64_t)(SAMPLE_MAX_SEEDS - count)) {
            free(out);
            return fail(err, errlen, "more than %d seeds", SAMPLE_MAX_SEEDS);
        }
        out = xrealloc(out, (size_t)(count + (b - a) + 1) * sizeof *out);
        for (uint64_t s = a;; s++) {
            out[count++] = s;
            if (s == b) break;
        }
        if (*p == 0) break;
    }
    // Each seed once: a repeated one would be a duplicate grid column and file name.
    uint64_t* sorted = xmalloc((size_t)count * sizeof *sorted);
    memcpy(sorted, out, (size_t)count * sizeof *sorted);
    qsort(sorted, (size_t)count, sizeof *sorted, cmp_u64);
    for (int i = 1; i < count; i++)
        if (sorted[i] == sorted[i - 1]) {
            fail(err, errlen, "seed %llu appears more than once", (unsigned long long)sorted[i]);
            free(sorted), free(out);
            return -1;
        }
    free(sorted);
    *seeds = out;
    *n = count;
    return 0;
}

// ---------------------------------------------------------------------------
// Prompts

static bool blank(const char* s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isspace((unsigned char)s[i])) return false;
    return true;
}

int prompts_read(const char* path, char*** prompts, int* n, char* err, size_t errlen) {
    size_t len;
    char* text = read_file(path, &len, err, errlen);
    if (!text) return -1;
    if (memchr(text, 0, len)) {
        free(text);
        return fail(err, errlen, "%s: contains a NUL byte (not a text file of prompts)", path);
    }
    int added = 0, line = 0;
    for (char* p = text; *p;) {
        line++;
        char* nl = strchr(p, '\n');
        size_t k = nl ? (size_t)(nl - p) : strlen(p);
        if (k > 0 && p[k - 1] == '\r') k--;
        if (!blank(p, k)) {
            if (k > SAMPLE_PROMPT_MAX) {
                for (int i = 0; i < added; i++) free((*prompts)[*n + i]);
                free(text);
                return fail(err, errlen, "%s:%d: the prompt is %zu bytes long (at most %d)", path, line, k,
                            SAMPLE_PROMPT_MAX);
            }
            *prompts = xrealloc(*prompts, (size_t)(*n + added + 1) * sizeof **prompts);
            char* s = xmalloc(k + 1);
            memcpy(s, p, k);
            s[k] = 0;
            (*prompts)[*n + added++] = s;
        }
        if (!nl) break;
        p = nl + 1;
    }
    free(text);
    if (added == 0) return fail(err, errlen, "%s: no prompts (the file is empty or has only blank lines)", path);
    *n += added;
    return 0;
}

void prompts_free(char** prompts, int n) {
    for (int i = 0; i < n; i++) free(prompts[i]);
    free(prompts);
}
