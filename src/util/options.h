// options.h: one table per command drives defaults, config files, command-line
// flags, --help and the saved resolved config. Config files are flat JSON
// objects whose keys are the flag names; precedence: defaults < --config file <
// flags. An unknown key or flag is an error that names it and suggests the
// nearest known name. Names are snake_case; a hyphenated spelling
// (--print-config, --train-batch-size) is accepted for every flag and key.
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef enum OptType { OPT_INT, OPT_FLOAT, OPT_BOOL, OPT_STRING, OPT_STRING_LIST } OptType;

// The field of an OPT_STRING_LIST option: a repeatable flag (`--prompt a --prompt b`)
// collects its values in order. A config file gives a JSON array of strings (or
// one string); command-line values replace the config file's list instead of
// adding to it, as flags replace config values of the other types. A default
// other than "" is a one-element list. Values are malloc'ed: see opts_free.
typedef struct OptStrings {
    int n;
    char** v;
} OptStrings;

// The allowed values of a numeric option; flags say which bounds apply and
// whether they are excluded. Every OPT_INT and OPT_FLOAT option has one: a value
// outside it is an error naming the option, the source and the range, whether it
// comes from the defaults, a config file or a flag (so --print-config fails too).
enum { OPT_HAS_MIN = 1, OPT_HAS_MAX = 2, OPT_MIN_EXCLUSIVE = 4, OPT_MAX_EXCLUSIVE = 8 };
typedef struct OptRange {
    double min, max;
    unsigned flags;
} OptRange;
#define OPT_ANY {0, 0, 0}  // strings and booleans
#define OPT_GE(a) {(a), 0, OPT_HAS_MIN}
#define OPT_GT(a) {(a), 0, OPT_HAS_MIN | OPT_MIN_EXCLUSIVE}
#define OPT_IN(a, b) {(a), (b), OPT_HAS_MIN | OPT_HAS_MAX}                       // [a, b]
#define OPT_IN_LT(a, b) {(a), (b), OPT_HAS_MIN | OPT_HAS_MAX | OPT_MAX_EXCLUSIVE}  // [a, b)
#define OPT_GT_LE(a, b) {(a), (b), OPT_HAS_MIN | OPT_HAS_MAX | OPT_MIN_EXCLUSIVE}  // (a, b]

typedef struct OptSpec {
    const char* name;  // flag without "--", and config key
    OptType type;
    size_t offset;     // offsetof(the config struct, field): int, double, bool, char[OPT_STR_MAX] or OptStrings
    const char* def;   // default as text ("" for an empty string)
    const char* help;
    OptRange range;    // numeric options
} OptSpec;

#define OPT_STR_MAX 512  // longest string value + 1 (also per element of a list)

// Another name of an option: a flag of diffusers' scripts or of a sibling
// command. A bare alias with a fixed value (--no_hflip) sets its target to it.
typedef struct OptAlias {
    const char* name;    // snake_case, without "--"
    const char* target;  // the option it sets
    const char* value;   // NULL: takes a value as the target does; else the value it sets (a bare flag)
} OptAlias;

#define OPT_MAX 256  // most options one table may hold (OptMarks)

// Which options a config file or a flag gave (by index in the table's specs):
// defaults that depend on other options apply only where the user gave nothing.
typedef struct OptMarks {
    bool set[OPT_MAX];
} OptMarks;

typedef struct OptTable {
    const char* command;  // for messages and --help, e.g. "train"
    const char* summary;
    const OptSpec* specs;
    int n;
    const OptAlias* aliases;  // may be NULL
    int naliases;
    // After the config file and flags: fills the defaults that depend on other
    // options, where marks says the user gave none. May be NULL.
    void (*resolve)(void* cfg, const OptMarks* marks);
    // --print-config runs it on the resolved config: the checks a run makes, and
    // the values a run derives from its data before the first step (it may set
    // them in cfg). 0, or -1 with a message. May be NULL.
    int (*check)(void* cfg, char* err, size_t errlen);
    // Printed after the options by --help (e.g. a table of derived defaults). May be NULL.
    void (*help_extra)(FILE* out);
} OptTable;

// Initialises every field (lists start empty: call it once per struct, opts_free after).
void opts_set_defaults(const OptTable* t, void* cfg);
// Sets one option from text (appends to a list); err names the source (file or "command line").
int opts_set(const OptTable* t, void* cfg, const char* name, const char* value, const char* source, char* err,
             size_t errlen);
int opts_load_json(const OptTable* t, void* cfg, const char* path, char* err, size_t errlen);
// The same, marking each key it sets in marks (may be NULL).
int opts_load_json_marked(const OptTable* t, void* cfg, const char* path, OptMarks* marks, char* err, size_t errlen);
// The spec index of an option by name or alias (hyphens read as underscores); -1 if none.
int opts_index(const OptTable* t, const char* name);
// The range as text, e.g. "0 <= x < 1" with x the option's name ("any" when unbounded).
void opts_range_text(const OptSpec* s, char* out, size_t n);
// Parses argv (argv[0] is the command): defaults, then --config FILE (wherever it
// appears), then every other --flag value / --flag=value / --bool-flag.
// Then t->resolve. --print-config also runs t->check and fails like a run would.
// Returns 0 to run, 1 when --help or --print-config was handled, -1 on error.
int opts_parse(const OptTable* t, void* cfg, int argc, char** argv);
// The same, leaving in marks (may be NULL) which options the user gave.
int opts_parse_marked(const OptTable* t, void* cfg, int argc, char** argv, OptMarks* marks);
// The resolved config as a JSON object text (malloc'ed).
char* opts_to_json(const OptTable* t, const void* cfg);
void opts_print_help(const OptTable* t, FILE* out);
// Frees the values of the OPT_STRING_LIST fields (the lists become empty).
void opts_free(const OptTable* t, void* cfg);
