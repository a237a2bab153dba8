// json_fields.c: see json_fields.h.
#include "util/json_fields.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/check.h"
#include "util/fsutil.h"

cJSON* json_parse_object(const char* text, const char* source, char* err, size_t errlen) {
    cJSON* root = cJSON_Parse(text);
    if (!root || !cJSON_IsObject(root)) {
        const char* near = cJSON_GetErrorPtr();
        snprintf(err, errlen, "%s: not a JSON object%s%.40s", source, near ? " (near: " : "", near ? near : "");
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
    if (!cJSON_IsNumber(v) || v->valuedouble != (double)(int)v->valuedouble) json_fail(f, key, "expected an integer");
    return v->valueint;
}

double json_num(JsonFields* f, const char* key, double def) {
    const cJSON* v = field(f, key);
    if (!v) return def;
    if (!cJSON_IsNumber(v)) json_fail(f, key, "expected a number");
    return v->valuedouble;
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
