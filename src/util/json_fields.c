// json_fields.c: see json_fields.h.
#include "util/json_fields.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/check.h"
#include "util/fsutil.h"

bool json_to_int(const cJSON* v, int lo, int hi, int* out) {
    if (!cJSON_IsNumber(v)) return false;
    double d = v->valuedouble;
    if (!(d >= lo && d <= hi) || d != (double)(int)d) return false;
    *out = (int)d;
    return true;
}

static int cmp_names(const void* a, const void* b) {
    return strcmp((*(const cJSON* const*)a)->string, (*(const cJSON* const*)b)->string);
}

const cJSON* json_find_duplicate(const cJSON* item) {
    if (!cJSON_IsObject(item) && !cJSON_IsArray(item)) return NULL;
    int n = 0;
    for (const cJSON* c = item->child; c; c = c->next) {
        const cJSON* d = json_find_duplicate(c);
        if (d) return d;
        n++;
    }
    if (!cJSON_IsObject(item) || n < 2) return NULL;
    // Sorting the names keeps this O(n log n): vocab files have tens of thousands of keys.
    const cJSON** kids = xmalloc((size_t)n * sizeof *kids);
    n = 0;
    for (const cJSON* c = item->child; c; c = c->next) kids[n++] = c;
    qsort(kids, (size_t)n, sizeof *kids, cmp_names);
    const cJSON* dup = NULL;
    for (int i = 1; i < n && !dup; i++)
        if (!strcmp(kids[i - 1]->string, kids[i]->string)) dup = kids[i];
    free(kids);
    return dup;
}

static int line_at(const char* text, const char* at) {
    int line = 1;
    for (const char* p = text; p < at; p++) line += *p == '\n';
    return line;
}

cJSON* json_parse_strict(const char* text, size_t len, const char* source, char* err, size_t errlen) {
    const char* end = NULL;
    cJSON* root = cJSON_ParseWithLengthOpts(text, len, &end, false);
    if (!root) {
        const char* at = end && end >= text && end <= text + len ? end : text;
        if (source) snprintf(err, errlen, "%s: line %d: invalid JSON (near: %.40s)", source, line_at(text, at), at);
        else snprintf(err, errlen, "invalid JSON (near: %.40s)", at);
        return NULL;
    }
    const char* p = end;
    while (p < text + len && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    if (p < text + len && *p) {
        if (source)
            snprintf(err, errlen, "%s: line %d: text after the end of the JSON value (near: %.40s)", source,
                     line_at(text, p), p);
        else snprintf(err, errlen, "text after the end of the JSON value (near: %.40s)", p);
        cJSON_Delete(root);
        return NULL;
    }
    const cJSON* dup = json_find_duplicate(root);
    if (dup) {
        snprintf(err, errlen, "%s%skey \"%.200s\" appears twice in one object", source ? source : "", source ? ": " : "",
                 dup->string);
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

cJSON* json_parse_object(const char* text, const char* source, char* err, size_t errlen) {
    cJSON* root = json_parse_strict(text, strlen(text), source, err, errlen);
    if (root && !cJSON_IsObject(root)) {
        snprintf(err, errlen, "%s: not a JSON object", source);
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

char* json_read_file(const char* path, char* err, size_t errlen) { return read_file(path, NULL, err, errlen); }

void json_fail(JsonFields* f, const char* key, const char* fmt, ...) {
    if (f->failed++) return;
    int n = snprintf(f->err, f->errlen, "%s: key \"%s\": ", f->source, key);
    va_list ap;
    va_start(ap, fmt);
    if (n >= 0 && (size_t)n < f->errlen) vsnprintf(f->err + n, f->errlen - (size_t)n, fmt, ap);
    va_end(ap);
}

static const cJSON* field(JsonFields* f, const char* key) {
    const cJSON* v = cJSON_GetObjectItemCaseSensitive(f->root, key);
    return v && !cJSON_IsNull(v) ? v : NULL;
}

int json_int(JsonFields* f, const char* key, int def, bool required) {
    const cJSON* v = field(f, key);
    if (!v) {
        if (required) json_fail(f, key, "missing");
        return def;
    }
    int x;
    if (!json_to_int(v, -INT_MAX, INT_MAX, &x)) {
        json_fail(f, key, "expected an integer");
        return def;
    }
    return x;
}

double json_num(JsonFields* f, const char* key, double def) {
    const cJSON* v = field(f, key);
    if (!v) return def;
    if (!cJSON_IsNumber(v)) json_fail(f, key, "expected a number");
    return v->valuedouble;
}

int json_int_in(JsonFields* f, const char* key, int def, int lo, int hi) {
    int failed = f->failed, v = json_int(f, key, def, false);
    if (f->failed == failed && (v < lo || v > hi)) {
        json_fail(f, key, "%d is out of range (allowed: %d to %d)", v, lo, hi);
        return def;
    }
    return v;
}

double json_num_in(JsonFields* f, const char* key, double def, double lo, double hi) {
    int failed = f->failed;
    double v = json_num(f, key, def);
    if (f->failed == failed && !(v >= lo && v <= hi)) {
        json_fail(f, key, "%g is out of range (allowed: %g to %g)", v, lo, hi);
        return def;
    }
    return v;
}

bool json_bool(JsonFields* f, const char* key, bool def) {
    const cJSON* v = field(f, key);
    if (!v) return def;
    if (!cJSON_IsBool(v)) json_fail(f, key, "expected true or false");
    return cJSON_IsTrue(v);
}

const char* json_str(JsonFields* f, const char* key, const char* def) {
    const cJSON* v = field(f, key);
    if (!v) return def;
    if (!cJSON_IsString(v)) {
        json_fail(f, key, "expected a string");
        return def;
    }
    return v->valuestring;
}

int json_write_file_atomic(const char* path, const cJSON* o, char* err, size_t errlen) {
    char* text = cJSON_Print(o);
    if (!text) die("cJSON_Print: out of memory");
    int r = write_file_atomic(path, text, strlen(text), err, errlen);
    free(text);
    return r;
}

void json_lines_append(JsonLines* j, const cJSON* row) {
    char* line = cJSON_PrintUnformatted(row);
    if (!line) die("cJSON_PrintUnformatted: out of memory");
    size_t n = strlen(line);
    if (j->len + n + 2 > j->cap) {
        while (j->len + n + 2 > j->cap) j->cap = j->cap ? 2 * j->cap : 1 << 16;
        j->text = xrealloc(j->text, j->cap);
    }
    memcpy(j->text + j->len, line, n);
    j->len += n;
    j->text[j->len++] = '\n';
    j->text[j->len] = 0;
    free(line);
}

void json_lines_free(JsonLines* j) {
    free(j->text);
    *j = (JsonLines){0};
}

cJSON* json_read_object(const char* path, char* err, size_t errlen) {
    char* text = json_read_file(path, err, errlen);
    if (!text) return NULL;
    cJSON* root = json_parse_object(text, path, err, errlen);
    free(text);
    return root;
}
