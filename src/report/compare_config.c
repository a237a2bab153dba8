// compare_config.c: see compare_config.h. The scalar keys of each section go
// through an options table (util/options.h), so defaults, text-to-value checks
// and the resolved JSON work as for every other command; this file adds the
// sections, the dotted flag names and the checks across keys.
#include "report/compare_config.h"

#include <ctype.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "model/schedule.h"
#include "report/compare_results.h"
#include "report/html_report.h"
#include "sample/sample_inputs.h"
#include "train/train_config.h"
#include "util/check.h"
#include "util/fsutil.h"
#include "util/json_fields.h"
#include "util/opt_names.h"

#define T(name, type, def, range, help) {#name, type, offsetof(CompareConfig, name), def, help, range}
static const OptSpec TOP_SPECS[] = {
    T(base, OPT_STRING, "", OPT_ANY, "the pipeline folder every objective starts from; required"),
    T(dataset, OPT_STRING, "", OPT_ANY, "the preference manifest (JSONL) every objective trains on; required"),
    T(objectives, OPT_STRING_LIST, "sft,dpo,mapo,kto,tdpo,tkto", OPT_ANY, "rows to compare, in report order (comma-separated or a JSON array): objectives, or OBJECTIVE-TAG "
      "variants with their own objective_configs file (e.g. dpo-lora, whose file sets lora_rank)"),
    T(max_train_steps, OPT_INT, "1000", OPT_GE(1), "optimizer steps of every run"),
    T(train_batch_size, OPT_INT, "32", OPT_IN(1, 65536), "items per micro-batch of every run"),
    T(seed, OPT_INT, "0", OPT_GE(0), "training seed of every run"),
    T(output_dir, OPT_STRING, "out/compare", OPT_ANY, "OUT: OUT/<objective>/ per run, OUT/base/, OUT/report.html, OUT/summary.json"),
    T(device, OPT_INT, "-1", OPT_GE(-1), "Vulkan device index passed to every command (see `vkpref info`)"),
};
#undef T
#define E(name, type, def, range, help) {#name, type, offsetof(CompareEval, name), def, help, range}
static const OptSpec EVAL_SPECS[] = {
    E(prompt, OPT_STRING_LIST, "", OPT_ANY, "evaluation prompts (a JSON array; the flag is repeatable)"),
    E(prompts, OPT_STRING, "", OPT_ANY, "file of evaluation prompts, one a line (after the prompt list)"),
    E(seeds, OPT_STRING, "0-15", OPT_ANY, "seeds: every prompt is sampled at every seed by each model and the base"),
    E(judge, OPT_STRING, "classifier", OPT_ANY, "judge of the win rate (see `vkpref eval --help`)"),
    E(caption_fit_judge, OPT_STRING, "classifier", OPT_ANY, "classifier judge for caption-fit accuracy (\"\": none)"),
    E(steps, OPT_INT, "25", OPT_IN(1, 10000), "denoising steps (evaluation and grids)"),
    E(sampler, OPT_STRING, "ddim", OPT_ANY, "ddim, ddpm or euler (evaluation and grids)"),
    E(eta, OPT_FLOAT, "0", OPT_IN(0, 1), "DDIM eta (evaluation and grids)"),
    E(cfg, OPT_FLOAT, "3.0", OPT_IN(0, 100), "classifier-free guidance scale (evaluation and grids)"),
    E(tie_margin, OPT_FLOAT, "0", OPT_GE(0), "score differences within this margin are ties (count half)"),
    E(batch, OPT_INT, "16", OPT_IN(1, 4096), "images per batch (speed only)"),
};
#undef E
#define G(name, type, def, range, help) {#name, type, offsetof(CompareGrid, name), def, help, range}
static const OptSpec GRID_SPECS[] = {
    G(prompt, OPT_STRING_LIST, "", OPT_ANY, "grid rows; with neither grid.prompt nor grid.prompts, the evaluation prompts"),
    G(prompts, OPT_STRING, "", OPT_ANY, "file of grid prompts, one a line"),
    G(seeds, OPT_STRING, "0-3", OPT_ANY, "grid columns: the same seeds for the base and every objective"),
    G(upscale, OPT_INT, "2", OPT_IN(1, 64), "grid cell magnification"),
};
#undef G

static const OptTable TOP = {.command = "compare", .summary = "", .specs = TOP_SPECS,
                             .n = sizeof TOP_SPECS / sizeof *TOP_SPECS};
static const OptTable EVAL = {.command = "compare", .summary = "", .specs = EVAL_SPECS,
                              .n = sizeof EVAL_SPECS / sizeof *EVAL_SPECS};
static const OptTable GRID = {.command = "compare", .summary = "", .specs = GRID_SPECS,
                              .n = sizeof GRID_SPECS / sizeof *GRID_SPECS};

// Train options compare sets itself for every run: in "train" they would be overridden unseen.
static const char* const TRAIN_RESERVED[] = {"objective", "pretrained_model_name_or_path", "dataset", "max_train_steps",
                                             "train_batch_size", "seed", "output_dir", "device",
                                             "resume_from_checkpoint"};

typedef struct Section {
    const char* prefix;  // "" or "eval." ...
    const OptTable* table;
    void* fields;
} Section;

static const OptSpec* spec_of(const OptTable* t, const char* name) {
    for (int i = 0; i < t->n; i++)
        if (!strcmp(t->specs[i].name, name)) return &t->specs[i];
    return NULL;
}

// The section and the spec of a dotted key ("eval.seeds"), or NULL.
static const OptSpec* find_key(CompareConfig* c, const char* key, Section* sec) {
    Section all[] = {{"eval.", &EVAL, &c->eval}, {"grid.", &GRID, &c->grid}, {"", &TOP, c}};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
        size_t n = strlen(all[i].prefix);
        if (strncmp(key, all[i].prefix, n)) continue;
        *sec = all[i];
        return spec_of(all[i].table, key + n);
    }
    return NULL;
}

// " (did you mean \"eval.seeds\"?)" for the nearest key of the tables (prefixed), or "".
static void key_hint(const char* key, const OptTable* const* tables, const char* const* prefixes, int ntables,
                     char* hint, size_t hintlen) {
    static char names[OPT_MAX][96];
    OptSuggest sg;
    opt_suggest_init(&sg, key);
    int n = 0;
    for (int t = 0; t < ntables; t++)
        for (int i = 0; i < tables[t]->n && n < OPT_MAX; i++, n++) {
            snprintf(names[n], sizeof names[n], "%s%s", prefixes[t], tables[t]->specs[i].name);
            opt_suggest_offer(&sg, names[n]);
        }
    const char* near = opt_suggest_result(&sg);
    if (near) snprintf(hint, hintlen, " (did you mean \"%s\"?)", near);
    else *hint = 0;
}

static int unknown_key(const char* source, const char* key, char* err, size_t errlen) {
    const OptTable* tables[] = {&TOP, &EVAL, &GRID};
    const char* prefixes[] = {"", "eval.", "grid."};
    char hint[160];
    key_hint(key, tables, prefixes, 3, hint, sizeof hint);
    return fail(err, errlen, "%s: unknown key \"%s\"%s (see `vkpref compare --help`)", source, key, hint);
}

// A "train.NAME" value: a train option, not one compare sets, and a valid value for it.
static int check_train_option(const char* name, const char* value, const char* source, char* err, size_t errlen) {
    for (size_t i = 0; i < sizeof TRAIN_RESERVED / sizeof *TRAIN_RESERVED; i++)
        if (!strcmp(name, TRAIN_RESERVED[i]))
            return fail(err, errlen, "%s: key \"train.%s\": compare sets %s for every run%s", source, name, name,
                        strstr("max_train_steps train_batch_size seed output_dir device", name)
                            ? " (use the top-level key)" : "");
    const OptTable* tt = train_options();
    if (!spec_of(tt, name)) {
        const char* prefix = "train.";
        char hint[160], full[160];
        snprintf(full, sizeof full, "train.%s", name);
        key_hint(full, &tt, &prefix, 1, hint, sizeof hint);
        return fail(err, errlen, "%s: unknown key \"train.%s\"%s (not a `vkpref train` option, see its --help)",
                    source, name, hint);
    }
    TrainConfig* scratch = xmalloc(sizeof *scratch);
    opts_set_defaults(tt, scratch);
    char sub[1024];
    int r = opts_set(tt, scratch, name, value, source, sub, sizeof sub);
    opts_free(tt, scratch);
    free(scratch);
    return r ? fail(err, errlen, "%s (key \"train.%s\")", sub, name) : 0;
}

// Sets one key from text. A list key appends (callers clear the list first when
// a new source replaces it).
static int set_key(CompareConfig* c, const char* key, const char* value, const char* source, char* err, size_t errlen) {
    if (!strncmp(key, "train.", 6)) {
        if (check_train_option(key + 6, value, source, err, errlen)) return -1;
        cJSON_DeleteItemFromObjectCaseSensitive(c->train, key + 6);
        cJSON_AddStringToObject(c->train, key + 6, value);  // train's config loader parses strings as flags
        return 0;
    }
    if (!strncmp(key, "objective_configs.", 18)) {
        Objective o;
        const char* row = key + 18;
        if (!compare_row_objective(row, &o))
            return fail(err, errlen, "%s: key \"%s\": \"%s\" is not an objective (sft, dpo, mapo, kto, tdpo, tkto) "
                        "or OBJECTIVE-TAG", source, key, row);
        if (strlen(value) >= OPT_STR_MAX) return fail(err, errlen, "%s: key \"%s\": too long", source, key);
        int i = 0;
        while (i < c->nrow_configs && strcmp(c->row_configs[i].row, row)) i++;
        if (i == c->nrow_configs) {
            c->row_configs = xrealloc(c->row_configs, (size_t)(i + 1) * sizeof *c->row_configs);
            snprintf(c->row_configs[c->nrow_configs++].row, COMPARE_ROW_NAME_MAX, "%s", row);
        }
        strcpy(c->row_configs[i].path, value);
        return 0;
    }
    Section sec;
    const OptSpec* s = find_key(c, key, &sec);
    if (!s) return unknown_key(source, key, err, errlen);
    char sub[1024];
    if (opts_set(sec.table, sec.fields, s->name, value, source, sub, sizeof sub))
        return fail(err, errlen, "%s (key \"%s\")", sub, key);
    return 0;
}

static void list_clear(OptStrings* l) {
    for (int i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    *l = (OptStrings){0};
}

// The text of a JSON scalar as a flag would give it; NULL for arrays, objects and null.
static const char* scalar_text(const cJSON* it, char buf[64]) {
    if (cJSON_IsString(it)) return it->valuestring;
    if (cJSON_IsBool(it)) return cJSON_IsTrue(it) ? "true" : "false";
    if (cJSON_IsNumber(it)) return snprintf(buf, 64, "%.17g", it->valuedouble), buf;
    return NULL;
}

// One "key": value of the file, key with its section prefix.
static int load_item(CompareConfig* c, const char* key, const cJSON* it, const char* path, char* err, size_t errlen) {
    Section sec;
    const OptSpec* s = find_key(c, key, &sec);
    if (s && s->type == OPT_STRING_LIST && (cJSON_IsArray(it) || cJSON_IsString(it))) {
        list_clear((OptStrings*)((char*)sec.fields + s->offset));  // the file replaces the default list
        if (cJSON_IsString(it)) return set_key(c, key, it->valuestring, path, err, errlen);
        const cJSON* el;
        cJSON_ArrayForEach(el, it) {
            if (!cJSON_IsString(el)) return fail(err, errlen, "%s: key \"%s\": expected an array of strings", path, key);
            if (set_key(c, key, el->valuestring, path, err, errlen)) return -1;
        }
        return 0;
    }
    char buf[64];
    const char* v = scalar_text(it, buf);
    if (!v) {
        if (!s && strncmp(key, "train.", 6) && strncmp(key, "objective_configs.", 18))
            return unknown_key(path, key, err, errlen);
        return fail(err, errlen, "%s: key \"%s\": expected a string, number or boolean", path, key);
    }
    return set_key(c, key, v, path, err, errlen);
}

static int load_file(CompareConfig* c, const char* path, char* err, size_t errlen) {
    cJSON* root = json_read_object(path, err, errlen);
    if (!root) return -1;
    int r = 0;
    for (const cJSON* it = root->child; it && !r; it = it->next) {
        const char* k = it->string;
        if (!strcmp(k, "_comment")) continue;  // JSON has no comments: free text for people
        bool section = !strcmp(k, "eval") || !strcmp(k, "grid") || !strcmp(k, "train") || !strcmp(k, "objective_configs");
        if (!section) {
            r = load_item(c, k, it, path, err, errlen);
            continue;
        }
        if (!cJSON_IsObject(it)) {
            r = fail(err, errlen, "%s: key \"%s\": expected an object", path, k);
            break;
        }
        for (const cJSON* sub = it->child; sub && !r; sub = sub->next) {
            char key[256];
            snprintf(key, sizeof key, "%s.%s", k, sub->string);
            char buf[64];
            const char* v = scalar_text(sub, buf);
            if (!strcmp(k, "train") && v) {
                // Keep the JSON value itself (a number stays a number in the run's config).
                if (check_train_option(sub->string, v, path, err, errlen)) r = -1;
                else cJSON_DeleteItemFromObjectCaseSensitive(c->train, sub->string),
                     cJSON_AddItemToObject(c->train, sub->string, cJSON_Duplicate(sub, true));
            } else {
                r = load_item(c, key, sub, path, err, errlen);
            }
        }
    }
    cJSON_Delete(root);
    return r;
}

static void set_defaults(CompareConfig* c) {
    memset(c, 0, sizeof *c);
    opts_set_defaults(&TOP, c);
    opts_set_defaults(&EVAL, &c->eval);
    opts_set_defaults(&GRID, &c->grid);
    c->train = cJSON_CreateObject();
}

void compare_config_free(CompareConfig* c) {
    opts_free(&TOP, c);
    opts_free(&EVAL, &c->eval);
    opts_free(&GRID, &c->grid);
    cJSON_Delete(c->train);
    c->train = NULL;
    free(c->row_configs);
    c->row_configs = NULL, c->nrow_configs = 0;
}

bool compare_row_objective(const char* row, Objective* obj) {
    const char* dash = strchr(row, '-');
    size_t n = dash ? (size_t)(dash - row) : strlen(row);
    if (n == 0 || n >= 32 || strlen(row) >= COMPARE_ROW_NAME_MAX) return false;
    char name[32];
    memcpy(name, row, n), name[n] = 0;
    if (!objective_parse(name, obj)) return false;
    if (!dash) return true;
    if (!dash[1]) return false;
    for (const char* p = dash + 1; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_') return false;
    return true;
}

// The objective_configs file of row ("" for none).
static const char* row_config_path(const CompareConfig* c, const char* row) {
    for (int i = 0; i < c->nrow_configs; i++)
        if (!strcmp(c->row_configs[i].row, row)) return c->row_configs[i].path;
    return "";
}

static void help_table(FILE* out, const OptTable* t, const char* prefix) {
    for (int i = 0; i < t->n; i++) {
        const OptSpec* s = &t->specs[i];
        const char* ty = s->type == OPT_INT ? "N" : s->type == OPT_FLOAT ? "X" : s->type == OPT_STRING_LIST
                                                                                 ? "S (repeatable)" : "S";
        fprintf(out, "  --%s%s %s\n      %s (default: %s)\n", prefix, s->name, ty, s->help, *s->def ? s->def : "\"\"");
    }
}

void compare_config_help(FILE* out) {
    fprintf(out,
            "usage: vkpref compare --config FILE.json [--KEY VALUE ...] [--rerun]\n"
            "Fine-tune one base with each objective on the same pairs, seeds and step budget, evaluate each\n"
            "against the base, and write OUT/report.html (self-contained) and OUT/summary.json.\n"
            "Finished steps (train, eval, grid) whose command is unchanged are reused: an interrupted\n"
            "compare continues where it stopped.\n\n"
            "options (also config keys; flags override the file):\n");
    help_table(out, &TOP, "");
    help_table(out, &EVAL, "eval.");
    help_table(out, &GRID, "grid.");
    fprintf(out, "  --train.KEY VALUE\n      a `vkpref train` option for every run (config: \"train\": {...})\n"
                 "  --objective_configs.ROW FILE\n      a train config file for one row's run (config: "
                 "\"objective_configs\": {...});\n      it overrides \"train\", and compare's own settings override "
                 "both\n"
                 "  --rerun\n      redo every step, reusing nothing\n"
                 "  --config FILE.json\n      the settings above as JSON (sections \"eval\", \"grid\", \"train\", "
                 "\"objective_configs\"; \"_comment\" is ignored)\n"
                 "  --print-config\n      print the resolved settings as JSON and exit\n"
                 "  --report_from SUMMARY.json [--report FILE.html]\n      run nothing: render the report again from "
                 "a summary.json and the grid PNGs\n      it names (looked up beside it first); default FILE: report.html "
                 "beside it\n");
}

int compare_config_parse(CompareConfig* c, int argc, char** argv) {
    char err[2048];
    set_defaults(c);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return compare_config_help(stdout), 1;
        if (!strcmp(argv[i], "--config")) {
            if (i + 1 >= argc) return fprintf(stderr, "vkpref compare: --config needs a file\n"), -1;
            if (load_file(c, argv[++i], err, sizeof err)) return fprintf(stderr, "vkpref compare: %s\n", err), -1;
        }
    }
    bool print = false;
    const OptStrings* cleared[8];  // list keys whose file values the command line already replaced
    int ncleared = 0;
    for (int i = 1; i < argc; i++) {
        const char* a = argv[i];
        if (!strcmp(a, "--config")) { i++; continue; }
        if (!strcmp(a, "--print-config")) { print = true; continue; }
        if (!strcmp(a, "--rerun") || !strcmp(a, "--rerun=true")) { c->rerun = true; continue; }
        if (!strcmp(a, "--rerun=false")) { c->rerun = false; continue; }
        if (!strcmp(a, "--report_from") || !strcmp(a, "--report")) {
            if (i + 1 >= argc) return fprintf(stderr, "vkpref compare: %s needs a file\n", a), -1;
            char* dst = a[8] == '_' ? c->report_from : c->report_out;
            snprintf(dst, OPT_STR_MAX, "%s", argv[++i]);
            continue;
        }
        if (strncmp(a, "--", 2))
            return fprintf(stderr, "vkpref compare: unexpected argument \"%s\" (options start with --)\n", a), -1;
        char key[256];
        const char* eq = strchr(a + 2, '=');
        size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        snprintf(key, sizeof key, "%.*s", (int)len, a + 2);
        const char* value = eq ? eq + 1 : i + 1 < argc ? argv[++i] : NULL;
        if (!value) return fprintf(stderr, "vkpref compare: --%s needs a value\n", key), -1;
        Section sec;
        const OptSpec* s = find_key(c, key, &sec);
        if (s && s->type == OPT_STRING_LIST) {
            OptStrings* l = (OptStrings*)((char*)sec.fields + s->offset);
            bool seen = false;
            for (int k = 0; k < ncleared; k++) seen |= cleared[k] == l;
            if (!seen && ncleared < 8) list_clear(l), cleared[ncleared++] = l;
        }
        if (set_key(c, key, value, "command line", err, sizeof err)) {
            // "unknown key" reads as "unknown flag" here
            fprintf(stderr, "vkpref compare: %s\n", err);
            return -1;
        }
    }
    if (*c->report_out && !*c->report_from)
        return fprintf(stderr, "vkpref compare: --report goes with --report_from\n"), -1;
    if (*c->report_from && !*c->report_out) {  // report.html beside the summary
        const char* slash = strrchr(c->report_from, '/');
        snprintf(c->report_out, OPT_STR_MAX, "%.*sreport.html", slash ? (int)(slash - c->report_from + 1) : 0,
                 c->report_from);
    }
    if (print) {
        char* j = compare_config_to_json(c);
        printf("%s\n", j);
        free(j);
        return 1;
    }
    return 0;
}

// Splits "a,b" elements and checks each row name once.
static int normalise_objectives(CompareConfig* c, char* err, size_t errlen) {
    OptStrings out = {0};
    int r = 0;
    for (int i = 0; i < c->objectives.n && !r; i++) {
        char* copy = xstrdup(c->objectives.v[i]);
        for (char *save = NULL, *tok = strtok_r(copy, ", ", &save); tok && !r; tok = strtok_r(NULL, ", ", &save)) {
            Objective o;
            bool seen = false;
            for (int k = 0; k < out.n; k++) seen |= !strcmp(out.v[k], tok);
            if (!compare_row_objective(tok, &o))
                r = fail(err, errlen, "objectives: unknown objective \"%s\" (use sft, dpo, mapo, kto, tdpo or tkto, or "
                         "OBJECTIVE-TAG for a variant with its own objective_configs file)", tok);
            else if (seen) r = fail(err, errlen, "objectives: \"%s\" is listed twice", tok);
            else if (strchr(tok, '-') && !*row_config_path(c, tok))
                r = fail(err, errlen, "objectives: \"%s\" is a variant: give it objective_configs.%s", tok, tok);
            else {
                out.v = xrealloc(out.v, (size_t)(out.n + 1) * sizeof *out.v);
                out.v[out.n++] = xstrdup(tok);
            }
        }
        free(copy);
    }
    if (!r && out.n == 0) r = fail(err, errlen, "objectives: none given");
    list_clear(&c->objectives);
    c->objectives = out;
    return r;
}

static int check_prompts(const char* section, const OptStrings* list, const char* file, int* n, char* err,
                         size_t errlen) {
    char sub[1024];
    char** prompts = NULL;
    *n = list->n;
    if (*file) {
        int k = 0;
        if (prompts_read(file, &prompts, &k, sub, sizeof sub)) return fail(err, errlen, "%s (%s.prompts)", sub, section);
        prompts_free(prompts, k);
        *n += k;
    }
    return 0;
}

static int check_seeds(const char* key, const char* text, char* err, size_t errlen) {
    uint64_t* seeds;
    int n;
    char sub[512];
    if (seeds_parse(text, &seeds, &n, sub, sizeof sub)) return fail(err, errlen, "%s \"%s\": %s", key, text, sub);
    free(seeds);
    return 0;
}

int compare_config_check(CompareConfig* c, char* err, size_t errlen) {
    if (normalise_objectives(c, err, errlen)) return -1;
    if (!*c->base) return fail(err, errlen, "base: required (the pipeline folder every objective starts from)");
    if (!path_is_dir(c->base)) return fail(err, errlen, "base %s: no such folder", c->base);
    char* index = path_join(c->base, "model_index.json");
    bool pipeline = path_exists(index);
    free(index);
    if (!pipeline) return fail(err, errlen, "base %s: not a pipeline folder (no model_index.json)", c->base);
    if (!*c->dataset) return fail(err, errlen, "dataset: required (the preference manifest, JSONL)");
    if (!path_exists(c->dataset) || path_is_dir(c->dataset)) return fail(err, errlen, "dataset %s: no such file", c->dataset);
    if (!*c->output_dir) return fail(err, errlen, "output_dir: required");
    if (c->max_train_steps < 1) return fail(err, errlen, "max_train_steps %d: need at least 1", c->max_train_steps);
    if (c->train_batch_size < 1) return fail(err, errlen, "train_batch_size %d: need at least 1", c->train_batch_size);

    const CompareEval* e = &c->eval;
    SamplerKind sk;
    if (sampler_parse(e->sampler, &sk)) return fail(err, errlen, "eval.sampler %s: use ddim, ddpm or euler", e->sampler);
    if (e->steps < 1) return fail(err, errlen, "eval.steps %d: need at least 1", e->steps);
    if (!(e->eta >= 0)) return fail(err, errlen, "eval.eta %g: need >= 0", e->eta);
    if (!(e->tie_margin >= 0)) return fail(err, errlen, "eval.tie_margin %g: need >= 0", e->tie_margin);
    if (e->batch < 1) return fail(err, errlen, "eval.batch %d: need at least 1", e->batch);
    if (!*e->judge) return fail(err, errlen, "eval.judge: required (e.g. classifier, brightness)");
    if (check_seeds("eval.seeds", e->seeds, err, errlen) || check_seeds("grid.seeds", c->grid.seeds, err, errlen))
        return -1;
    int n;
    if (check_prompts("eval", &e->prompt, e->prompts, &n, err, errlen)) return -1;
    if (n == 0) return fail(err, errlen, "eval: no prompts (give eval.prompt, a list, or eval.prompts, a file)");
    if (check_prompts("grid", &c->grid.prompt, c->grid.prompts, &n, err, errlen)) return -1;
    if (c->grid.upscale < 1 || c->grid.upscale > 64) return fail(err, errlen, "grid.upscale %d: need 1..64", c->grid.upscale);

    // Each objective's train config: readable, train's keys, and not written for another objective.
    const OptTable* tt = train_options();
    for (int i = 0; i < c->objectives.n; i++) {
        Objective o;
        const char* row = c->objectives.v[i];
        compare_row_objective(row, &o);
        const char* path = row_config_path(c, row);
        if (!*path) continue;
        TrainConfig* scratch = xmalloc(sizeof *scratch);
        opts_set_defaults(tt, scratch);
        char sub[1024];
        int r = opts_load_json(tt, scratch, path, sub, sizeof sub);  // errors name the file and the key
        opts_free(tt, scratch);
        free(scratch);
        char* text = r ? NULL : read_file(path, NULL, sub, sizeof sub);
        cJSON* file = text ? cJSON_Parse(text) : NULL;
        const cJSON* said = cJSON_GetObjectItemCaseSensitive(file, "objective");
        if (!r && cJSON_IsString(said) && strcmp(said->valuestring, objective_name(o)))
            r = fail(sub, sizeof sub, "%s sets objective %s", path, said->valuestring);
        cJSON_Delete(file);
        free(text);
        if (r) return fail(err, errlen, "objective_configs.%s: %s", row, sub);
    }
    return 0;
}

char* compare_config_to_json(const CompareConfig* c) {
    char* t = opts_to_json(&TOP, c);
    cJSON* o = cJSON_Parse(t);
    free(t);
    struct { const char* name; const OptTable* table; const void* fields; } secs[] = {{"eval", &EVAL, &c->eval},
                                                                                       {"grid", &GRID, &c->grid}};
    for (int i = 0; i < 2; i++) {
        t = opts_to_json(secs[i].table, secs[i].fields);
        cJSON_AddItemToObject(o, secs[i].name, cJSON_Parse(t));
        free(t);
    }
    cJSON* oc = cJSON_AddObjectToObject(o, "objective_configs");
    for (int k = 0; k < c->nrow_configs; k++) cJSON_AddStringToObject(oc, c->row_configs[k].row, c->row_configs[k].path);
    cJSON_AddItemToObject(o, "train", cJSON_Duplicate(c->train, true));
    t = cJSON_Print(o);
    cJSON_Delete(o);
    return t;
}

char* compare_train_config(const CompareConfig* c, const char* row, char* err, size_t errlen) {
    cJSON* merged = cJSON_Duplicate(c->train, true);
    const char* path = row_config_path(c, row);
    if (*path) {
        char* text = json_read_file(path, err, errlen);
        cJSON* file = text ? json_parse_object(text, path, err, errlen) : NULL;
        free(text);
        if (!file) return cJSON_Delete(merged), NULL;
        for (const cJSON* it = file->child; it; it = it->next) {
            cJSON_DeleteItemFromObjectCaseSensitive(merged, it->string);
            cJSON_AddItemToObject(merged, it->string, cJSON_Duplicate(it, true));
        }
        cJSON_Delete(file);
    }
    char* out = cJSON_Print(merged);
    cJSON_Delete(merged);
    return out;
}

int compare_report_from_summary(const char* summary_path, const char* html_path, char* err, size_t errlen) {
    CompareReport r;
    if (compare_summary_read(&r, summary_path, err, errlen)) return -1;
    int rc = html_report_write(html_path, &r, err, errlen);
    compare_summary_free(&r);
    return rc;
}
