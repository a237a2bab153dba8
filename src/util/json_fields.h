// json_fields.h: typed access to the fields of a JSON config object, with
// errors that name the source file and the key (the first error is kept).
#pragma once
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct JsonFields {
    const cJSON* root;
    const char* source;  // file name for messages
    char* err;
    size_t errlen;
    int failed;
} JsonFields;

// Parses len bytes of JSON text. Text after the value and a key that appears
// twice in one object (at any depth) are refused: NULL, with err naming the
// source and the line or key (source NULL: one line of a larger file, whose
// caller names it; the message then has neither).
cJSON* json_parse_strict(const char* text, size_t len, const char* source, char* err, size_t errlen);
// json_parse_strict of a NUL-terminated text that must hold an object.
cJSON* json_parse_object(const char* text, const char* source, char* err, size_t errlen);
// The second of two same-named members of an object in item's tree, or NULL.
const cJSON* json_find_duplicate(const cJSON* item);
// Reads a whole file into a malloc'ed string (NULL + err when it cannot be read).
char* json_read_file(const char* path, char* err, size_t errlen);
// json_read_file + json_parse_object: the file's top-level object (cJSON_Delete it), or NULL with err.
cJSON* json_read_object(const char* path, char* err, size_t errlen);

// *out = v when v is a number with an integral value in [lo, hi] (checked before
// any conversion: a double outside int's range does not convert).
bool json_to_int(const cJSON* v, int lo, int hi, int* out);

void json_fail(JsonFields* f, const char* key, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
int json_int(JsonFields* f, const char* key, int def, bool required);
double json_num(JsonFields* f, const char* key, double def);
// As json_int / json_num, and a value outside [lo, hi] is an error naming the range.
int json_int_in(JsonFields* f, const char* key, int def, int lo, int hi);
double json_num_in(JsonFields* f, const char* key, double def, double lo, double hi);
bool json_bool(JsonFields* f, const char* key, bool def);
const char* json_str(JsonFields* f, const char* key, const char* def);

// ---------------------------------------------------------------------------
// Writing.

// o printed (formatted) and written to path atomically (temporary name + rename).
// 0, or -1 with err naming the path.
int json_write_file_atomic(const char* path, const cJSON* o, char* err, size_t errlen);

// A JSON Lines text built in memory (manifests are written whole, atomically).
typedef struct JsonLines {
    char* text;  // NUL-terminated; NULL before the first line
    size_t len, cap;
} JsonLines;
// Appends row printed on one line, and a newline.
void json_lines_append(JsonLines* j, const cJSON* row);
void json_lines_free(JsonLines* j);
