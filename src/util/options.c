// options.c: see options.h.
#include "util/options.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/check.h"
#include "util/json_fields.h"
#include "util/opt_names.h"

static const OptSpec* find(const OptTable* t, const char* name) {
    for (int i = 0; i < t->n; i++)
        if (!strcmp(t->specs[i].name, name)) return &t->specs[i];
    return NULL;
}

// ---------------------------------------------------------------------------
// Names: hyphens, aliases, suggestions and unsupported flags (util/opt_names.h).

static const OptAlias* find_alias(const OptTable* t, const char* name) {
    for (int i = 0; i < t->naliases; i++)
        if (!strcmp(t->aliases[i].name, name)) return &t->aliases[i];
    return NULL;
}

// The option a typed name means: its snake_case form, or the alias's target.
// *fixed gets an alias's fixed value (NULL otherwise). NULL if nothing matches.
static const OptSpec* lookup(const OptTable* t, const char* typed, const char** fixed) {
    char name[128];
    opt_name_normalize(typed, name, sizeof name);
    *fixed = NULL;
    const OptSpec* s = find(t, name);
    if (s) return s;
    const OptAlias* a = find_alias(t, name);
    if (!a) return NULL;
    *fixed = a->value;
    return find(t, a->target);
}

int opts_index(const OptTable* t, const char* name) {
    const char* fixed;
    const OptSpec* s = lookup(t, name, &fixed);
    return s ? (int)(s - t->specs) : -1;
}

// The message for a name that matches no option: not supported (with why), or
// unknown with the nearest known name.
static void unknown_name(const OptTable* t, const char* typed, const char* source, const char* what, char* err,
                         size_t errlen) {
    char name[128];
    opt_name_normalize(typed, name, sizeof name);
    const char* why = opt_unsupported_reason(name);
    if (why) {
        snprintf(err, errlen, "%s: %s \"%s\" is not supported by vkpref: %s", source, what, typed, why);
        return;
    }
    OptSuggest sg;
    opt_suggest_init(&sg, name);
    for (int i = 0; i < t->n; i++) opt_suggest_offer(&sg, t->specs[i].name);
    for (int i = 0; i < t->naliases; i++) opt_suggest_offer(&sg, t->aliases[i].name);
    if (!strcmp(source, "command line")) opt_suggest_offer(&sg, "config"), opt_suggest_offer(&sg, "print_config");
    const char* near = opt_suggest_result(&sg);
    char hint[192] = "";
    if (near) snprintf(hint, sizeof hint, "did you mean \"%s\"? ", near);
    snprintf(err, errlen, "%s: unknown %s \"%s\" for `vkpref %s` (%ssee --help)", source, what, typed, t->command,
             hint);
}

// opts_set (which takes any accepted name) that marks the option as the user's.
static int set_named(const OptTable* t, void* cfg, const char* typed, const char* value, const char* source,
                     OptMarks* marks, char* err, size_t errlen) {
    if (opts_set(t, cfg, typed, value, source, err, errlen)) return -1;
    int k = opts_index(t, typed);
    if (marks && k >= 0 && k < OPT_MAX) marks->set[k] = true;
    return 0;
}

static void strings_clear(OptStrings* l) {
    for (int i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    *l = (OptStrings){0};
}

static void strings_append(OptStrings* l, const char* value) {
    l->v = xrealloc(l->v, (size_t)(l->n + 1) * sizeof *l->v);
    l->v[l->n++] = xstrdup(value);
}

void opts_range_text(const OptSpec* s, char* out, size_t n) {
    const OptRange* r = &s->range;
    if (!(r->flags & (OPT_HAS_MIN | OPT_HAS_MAX))) {
        snprintf(out, n, "any");
        return;
    }
    char lo[48] = "", hi[48] = "";
    if (r->flags & OPT_HAS_MIN) snprintf(lo, sizeof lo, "%.17g %s ", r->min, r->flags & OPT_MIN_EXCLUSIVE ? "<" : "<=");
    if (r->flags & OPT_HAS_MAX) snprintf(hi, sizeof hi, " %s %.17g", r->flags & OPT_MAX_EXCLUSIVE ? "<" : "<=", r->max);
    snprintf(out, n, "%s%s%s", lo, s->name, hi);
}

static bool in_range(const OptRange* r, double v) {
    if (r->flags & OPT_HAS_MIN && (r->flags & OPT_MIN_EXCLUSIVE ? !(v > r->min) : !(v >= r->min))) return false;
    if (r->flags & OPT_HAS_MAX && (r->flags & OPT_MAX_EXCLUSIVE ? !(v < r->max) : !(v <= r->max))) return false;
    return true;
}

static int out_of_range(const OptSpec* s, const char* value, const char* source, char* err, size_t errlen) {
    char range[160];
    opts_range_text(s, range, sizeof range);
    snprintf(err, errlen, "%s: \"%s\" = %s is out of range (allowed: %s)", source, s->name, value, range);
    return -1;
}

int opts_set(const OptTable* t, void* cfg, const char* name, const char* value, const char* source, char* err,
             size_t errlen) {
    const OptSpec* s = find(t, name);
    if (!s) {  // another accepted spelling (hyphens, an alias)
        const char* fixed;
        if (!(s = lookup(t, name, &fixed)))
            return unknown_name(t, name, source, strcmp(source, "command line") ? "key" : "option", err, errlen), -1;
        if (fixed) value = fixed;
    }
    char* field = (char*)cfg + s->offset;
    char* end;
    errno = 0;
    switch (s->type) {
    case OPT_INT: {
        long v = strtol(value, &end, 10);
        if (*value == 0 || *end || errno || v < -2147483647L || v > 2147483647L) goto bad;
        if (!in_range(&s->range, (double)v)) return out_of_range(s, value, source, err, errlen);
        *(int*)field = (int)v;
        break;
    }
    case OPT_FLOAT: {
        double v = strtod(value, &end);
        if (*value == 0 || *end || errno || !isfinite(v)) goto bad;
        if (!in_range(&s->range, v)) return out_of_range(s, value, source, err, errlen);
        if (fabs(v) > FLT_MAX) {  // values reach the GPU as 32-bit floats
            snprintf(err, errlen, "%s: \"%s\" = %s does not fit a 32-bit float", source, name, value);
            return -1;
        }
        *(double*)field = v;
        break;
    }
    case OPT_BOOL:
        if (!strcmp(value, "true") || !strcmp(value, "1")) *(bool*)field = true;
        else if (!strcmp(value, "false") || !strcmp(value, "0")) *(bool*)field = false;
        else goto bad;
        break;
    case OPT_STRING:
    case OPT_STRING_LIST:
        if (strlen(value) >= OPT_STR_MAX) {
            snprintf(err, errlen, "%s: \"%s\" is longer than %d characters", source, name, OPT_STR_MAX - 1);
            return -1;
        }
        if (s->type == OPT_STRING) strcpy(field, value);
        else strings_append((OptStrings*)field, value);
        break;
    }
    return 0;
bad:
    snprintf(err, errlen, "%s: \"%s\" expects %s, got \"%s\"", source, name,
             s->type == OPT_INT ? "an integer" : s->type == OPT_FLOAT ? "a number" : "true or false", value);
    return -1;
}

void opts_set_defaults(const OptTable* t, void* cfg) {
    char err[256];
    for (int i = 0; i < t->n; i++) {
        const OptSpec* s = &t->specs[i];
        if ((s->type == OPT_INT || s->type == OPT_FLOAT) && !(s->range.flags & (OPT_HAS_MIN | OPT_HAS_MAX)))
            die("internal: `vkpref %s` option --%s has no range", t->command, s->name);
        if (s->type == OPT_STRING_LIST) {
            *(OptStrings*)((char*)cfg + s->offset) = (OptStrings){0};
            if (!*s->def) continue;  // "" is the empty list, not a list holding ""
        }
        if (opts_set(t, cfg, s->name, s->def, "defaults", err, sizeof err)) die("internal: bad default: %s", err);
    }
}

void opts_free(const OptTable* t, void* cfg) {
    for (int i = 0; i < t->n; i++)
        if (t->specs[i].type == OPT_STRING_LIST) strings_clear((OptStrings*)((char*)cfg + t->specs[i].offset));
}

// A config-file value of a list option: an array of strings, or one string.
// It replaces the list (defaults < config file).
static int load_json_list(const OptTable* t, void* cfg, const OptSpec* s, const cJSON* it, const char* path, char* err,
                          size_t errlen) {
    strings_clear((OptStrings*)((char*)cfg + s->offset));
    if (cJSON_IsString(it)) return opts_set(t, cfg, s->name, it->valuestring, path, err, errlen);
    const cJSON* el;
    cJSON_ArrayForEach(el, it) {
        if (!cJSON_IsString(el))
            return snprintf(err, errlen, "%s: key \"%s\": expected an array of strings", path, s->name), -1;
        if (opts_set(t, cfg, s->name, el->valuestring, path, err, errlen)) return -1;
    }
    return 0;
}

int opts_load_json(const OptTable* t, void* cfg, const char* path, char* err, size_t errlen) {
    return opts_load_json_marked(t, cfg, path, NULL, err, errlen);
}

int opts_load_json_marked(const OptTable* t, void* cfg, const char* path, OptMarks* marks, char* err, size_t errlen) {
    cJSON* root = json_read_object(path, err, errlen);
    if (!root) return -1;
    int r = 0;
    for (const cJSON* it = root->child; it && r == 0; it = it->next) {
        char buf[64];
        const char* v;
        const char* fixed;
        const OptSpec* s = lookup(t, it->string, &fixed);
        if (s && s->type == OPT_STRING_LIST && (cJSON_IsArray(it) || cJSON_IsString(it))) {
            r = load_json_list(t, cfg, s, it, path, err, errlen);
            if (!r && marks) marks->set[s - t->specs] = true;
            continue;
        }
        if (cJSON_IsString(it)) v = it->valuestring;
        else if (cJSON_IsBool(it)) v = cJSON_IsTrue(it) ? "true" : "false";
        else if (cJSON_IsNumber(it)) {
            snprintf(buf, sizeof buf, "%.17g", it->valuedouble);
            v = buf;
        } else {
            snprintf(err, errlen, "%s: key \"%s\": expected a string, number or boolean", path, it->string);
            r = -1;
            break;
        }
        r = set_named(t, cfg, it->string, v, path, marks, err, errlen);
    }
    cJSON_Delete(root);
    return r;
}

// The help's tail: the aliases, the spelling rule and the table's own notes.
static void print_help_names(const OptTable* t, FILE* out) {
    if (t->naliases) fprintf(out, "\naliases (as flags and config keys):\n");
    for (int i = 0; i < t->naliases; i++) {
        const OptAlias* a = &t->aliases[i];
        if (a->value) fprintf(out, "  --%-28s = --%s %s\n", a->name, a->target, a->value);
        else fprintf(out, "  --%-28s = --%s\n", a->name, a->target);
    }
    fprintf(out, "\nNames are snake_case; hyphenated spellings are accepted too (--print-config).\n");
    if (t->help_extra) t->help_extra(out);
}

void opts_print_help(const OptTable* t, FILE* out) {
    fprintf(out, "usage: vkpref %s [--config FILE.json] [--option value ...]\n%s\n\noptions (also config keys):\n",
            t->command, t->summary);
    for (int i = 0; i < t->n; i++) {
        const OptSpec* s = &t->specs[i];
        const char* ty = s->type == OPT_INT ? "N" : s->type == OPT_FLOAT ? "X" : s->type == OPT_BOOL ? "[true|false]"
                       : s->type == OPT_STRING ? "S" : "S (repeatable)";
        char range[160] = "";
        if (s->type == OPT_INT || s->type == OPT_FLOAT) {
            strcpy(range, "; ");
            opts_range_text(s, range + 2, sizeof range - 2);
        }
        fprintf(out, "  --%s %s\n      %s (default: %s%s)\n", s->name, ty, s->help, *s->def ? s->def : "\"\"", range);
    }
    fprintf(out, "  --config FILE.json\n      flat JSON object of the options above\n"
                 "  --print_config\n      print the resolved config as JSON, after the checks a run makes, and exit\n");
    print_help_names(t, out);
}

char* opts_to_json(const OptTable* t, const void* cfg) {
    cJSON* o = cJSON_CreateObject();
    for (int i = 0; i < t->n; i++) {
        const OptSpec* s = &t->specs[i];
        const char* field = (const char*)cfg + s->offset;
        switch (s->type) {
        case OPT_INT: cJSON_AddNumberToObject(o, s->name, *(const int*)field); break;
        case OPT_FLOAT: cJSON_AddNumberToObject(o, s->name, *(const double*)field); break;
        case OPT_BOOL: cJSON_AddBoolToObject(o, s->name, *(const bool*)field); break;
        case OPT_STRING: cJSON_AddStringToObject(o, s->name, field); break;
        case OPT_STRING_LIST: {
            const OptStrings* l = (const OptStrings*)field;
            cJSON_AddItemToObject(o, s->name, cJSON_CreateStringArray((const char* const*)l->v, l->n));
            break;
        }
        }
    }
    char* text = cJSON_Print(o);
    cJSON_Delete(o);
    return text;
}

// Whether argv[i] is the flag `name` (snake_case), hyphens read as underscores.
static bool is_flag(const char* arg, const char* name) {
    char n[64];
    if (strncmp(arg, "--", 2)) return false;
    opt_name_normalize(arg + 2, n, sizeof n);
    return !strcmp(n, name);
}

// The flags after --config. cleared[i]: list option i already had its config-file
// values dropped (the first command-line value replaces them, later ones append).
static int parse_flags(const OptTable* t, void* cfg, int argc, char** argv, bool* cleared, bool* print,
                       OptMarks* marks) {
    char err[1024];
    for (int i = 1; i < argc; i++) {
        const char* a = argv[i];
        if (is_flag(a, "config")) { i++; continue; }
        if (is_flag(a, "print_config")) { *print = true; continue; }
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "vkpref %s: unexpected argument \"%s\" (options start with --)\n", t->command, a);
            return -1;
        }
        char name[128];
        const char* eq = strchr(a + 2, '=');
        size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        if (len >= sizeof name) len = sizeof name - 1;
        memcpy(name, a + 2, len);
        name[len] = 0;
        const char* fixed;
        const OptSpec* s = lookup(t, name, &fixed);
        const char* value;
        if (eq) value = eq + 1;
        else if (fixed) value = fixed;  // a bare alias (--no_hflip)
        else if (s && s->type == OPT_BOOL && (i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0 ||
                                               (strcmp(argv[i + 1], "true") && strcmp(argv[i + 1], "false"))))
            value = "true";  // a bare boolean flag
        else if (s && i + 1 < argc) value = argv[++i];
        else if (s) return fprintf(stderr, "vkpref %s: --%s needs a value\n", t->command, name), -1;
        else value = "";  // unknown: set_named names it
        if (s && s->type == OPT_STRING_LIST && !cleared[s - t->specs]) {
            cleared[s - t->specs] = true;
            strings_clear((OptStrings*)((char*)cfg + s->offset));
        }
        if (set_named(t, cfg, name, value, "command line", marks, err, sizeof err)) {
            fprintf(stderr, "vkpref %s: %s\n", t->command, err);
            return -1;
        }
    }
    return 0;
}

int opts_parse(const OptTable* t, void* cfg, int argc, char** argv) {
    OptMarks marks;
    return opts_parse_marked(t, cfg, argc, argv, &marks);
}

int opts_parse_marked(const OptTable* t, void* cfg, int argc, char** argv, OptMarks* marks) {
    char err[1024];
    OptMarks local;
    if (!marks) marks = &local;
    memset(marks, 0, sizeof *marks);
    if (t->n > OPT_MAX) die("internal: `vkpref %s` has %d options, OPT_MAX is %d", t->command, t->n, OPT_MAX);
    opts_set_defaults(t, cfg);
    bool print = false;
    for (int i = 1; i < argc; i++) {
        if (is_flag(argv[i], "help") || !strcmp(argv[i], "-h")) {
            opts_print_help(t, stdout);
            return 1;
        }
        if (is_flag(argv[i], "config")) {
            if (i + 1 >= argc) return fprintf(stderr, "vkpref %s: --config needs a file\n", t->command), -1;
            if (opts_load_json_marked(t, cfg, argv[++i], marks, err, sizeof err))
                return fprintf(stderr, "vkpref %s: %s\n", t->command, err), -1;
        }
    }
    bool* cleared = xcalloc((size_t)t->n, sizeof *cleared);
    int r = parse_flags(t, cfg, argc, argv, cleared, &print, marks);
    free(cleared);
    if (r) return -1;
    if (t->resolve) t->resolve(cfg, marks);
    if (print) {
        if (t->check && t->check(cfg, err, sizeof err))
            return fprintf(stderr, "vkpref %s: error: %s\n", t->command, err), -1;
        char* j = opts_to_json(t, cfg);
        printf("%s\n", j);
        free(j);
        return 1;
    }
    return 0;
}
