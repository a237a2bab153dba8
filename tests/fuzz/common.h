// common.h: functions shared by the libFuzzer harnesses (tests/fuzz/fuzz_*.c).
// Harnesses call the real readers on the fuzzer's bytes; readers that take a
// path get a per-process temporary file rewritten for every input.
#pragma once
#include <stddef.h>
#include <stdint.h>

// A NUL-terminated malloc'ed copy of data (JSON readers take C strings).
char* fuzz_cstring(const uint8_t* data, size_t n);
// A folder of this process, created on first use and removed at exit.
const char* fuzz_dir(void);
// Writes data to fuzz_dir()/name (replacing it) and returns the path (static
// storage, valid until the next call with the same name).
const char* fuzz_file(const char* name, const uint8_t* data, size_t n);
// Splits data at the first occurrence of the byte sequence sep: the part before
// and after (the second part is empty when sep does not occur).
void fuzz_split(const uint8_t* data, size_t n, const char* sep, const uint8_t** a, size_t* na, const uint8_t** b,
                size_t* nb);
