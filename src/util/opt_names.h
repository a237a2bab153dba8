// opt_names.h: how typed names meet known ones: hyphenated spellings of
// snake_case names, the nearest known name for a typo ("did you mean"), and
// the flags of other diffusion trainers (diffusers, SimpleTuner, sd-scripts)
// that vkpref knows but does not support, each with the reason.
#pragma once
#include <stddef.h>

// name with '-' read as '_' (--print-config is --print_config) into out.
void opt_name_normalize(const char* name, char* out, size_t outlen);

// Levenshtein distance (insertions, deletions, substitutions), capped at 64.
int opt_edit_distance(const char* a, const char* b);

// The nearest of the candidates offered so far; a suggestion only when close
// enough to be a typo (distance <= 2, or a third of the name's length).
typedef struct OptSuggest {
    const char* typed;
    const char* best;
    int dist;
} OptSuggest;
void opt_suggest_init(OptSuggest* s, const char* typed);
void opt_suggest_offer(OptSuggest* s, const char* candidate);
// The suggestion or NULL.
const char* opt_suggest_result(const OptSuggest* s);

// Why vkpref does not support a flag of another trainer, or NULL for a name it does not know.
const char* opt_unsupported_reason(const char* name);
