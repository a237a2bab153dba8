// sample_inputs.h: what a sampling command is asked for: seed lists ("0-7",
// "0-3,9") and prompt files (one prompt a line). Errors name the offending
// part (the caller adds the flag) or the file and line.
#pragma once
#include <stddef.h>
#include <stdint.h>

#define SAMPLE_MAX_SEEDS 100000
#define SAMPLE_PROMPT_MAX 511  // bytes of one prompt (OPT_STR_MAX - 1, the limit of --prompt)

// Comma-separated seeds and inclusive ranges A-B (A <= B), each seed at most once,
// e.g. "0-3,9". *seeds is malloc'ed. 0, or -1 with err.
int seeds_parse(const char* text, uint64_t** seeds, int* n, char* err, size_t errlen);

// One prompt a line (UTF-8; "\r\n" endings accepted). Blank lines are skipped, so
// a prompt's index is its position among the non-blank lines. An unreadable
// file, a file without prompts, a NUL byte or a line over SAMPLE_PROMPT_MAX
// bytes is an error naming the file (and line). Appends to *prompts / *n
// (malloc'ed strings). 0, or -1 with err.
int prompts_read(const char* path, char*** prompts, int* n, char* err, size_t errlen);
void prompts_free(char** prompts, int n);
