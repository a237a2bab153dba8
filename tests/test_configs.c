// test_configs.c: every config shipped in configs/ resolves through the binary
// (`--print-config`: known keys, valid values), each fmnist-<objective>.json
// selects its own objective from the shipped base, and the comparison config
// names an existing tuned config for every objective it runs. A stale or
// misspelt key in a shipped config fails here, not in a user's 10-minute run.
// --print-config makes a run's checks, files included: the configs' relative
// paths are the repository's, and the fine-tuning configs get a manifest.
#include <glob.h>
#include <string.h>
#include <unistd.h>

#include "test_util.h"

static const char* source_dir(void) {
    const char* s = getenv("VKPREF_SOURCE_DIR");
    cr_assert(s, "VKPREF_SOURCE_DIR is not set (run through ctest)");
    return s;
}

static char tmp[64];

// Into the repository, with an (empty) manifest for the configs that fine-tune on one.
static void setup(void) {
    cr_assert_eq(chdir(source_dir()), 0);
    temp_dir(tmp, "configs");
    char path[128];
    snprintf(path, sizeof path, "%s/pairs.jsonl", tmp);
    FILE* f = fopen(path, "w");
    cr_assert(f);
    fclose(f);
}

static void teardown(void) {
    if (*tmp) remove_temp_dir(tmp);
}

TestSuite(configs, .init = setup, .fini = teardown);

Test(configs, fine_tuning_configs_resolve_to_their_objective) {
    char args[1024], want[64], out[16384];
    for (int i = 0; i < OBJ_COUNT; i++) {  // every objective of the table ships a config
        const char* name = objective_name((Objective)i);
        snprintf(args, sizeof args, "train --config %s/configs/fmnist-%s.json --dataset %s/pairs.jsonl --print-config",
                 source_dir(), name, tmp);
        cr_assert_eq(run_cli(args, out, sizeof out), 0, "%s: %s", args, out);
        snprintf(want, sizeof want, "\"objective\":\t\"%s\"", name);
        cr_assert(strstr(out, want), "%s: no %s in\n%s", args, want, out);
        cr_assert(strstr(out, "\"pretrained_model_name_or_path\":\t\"assets/fmnist-base\""), "%s:\n%s", args, out);
    }
}

Test(configs, every_shipped_config_parses) {
    char pattern[1024], args[1536], out[16384];
    snprintf(pattern, sizeof pattern, "%s/configs/*.json", source_dir());
    glob_t g;
    cr_assert_eq(glob(pattern, 0, NULL, &g), 0, "no configs under %s", pattern);
    int n = 0;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        const char* name = strrchr(g.gl_pathv[i], '/') + 1;
        bool compare = !strncmp(name, "compare-", 8), from_pipeline = strcmp(name, "fmnist-base.json") != 0;
        char dataset[128] = "";
        if (!compare && from_pipeline) snprintf(dataset, sizeof dataset, "--dataset %s/pairs.jsonl", tmp);
        snprintf(args, sizeof args, "%s --config %s %s --print-config", compare ? "compare" : "train", g.gl_pathv[i],
                 dataset);
        cr_assert_eq(run_cli(args, out, sizeof out), 0, "%s: %s", args, out);
        n++;
    }
    globfree(&g);
    cr_assert_geq(n, OBJ_COUNT + 2, "%d configs", n);
}

Test(configs, compare_names_a_tuned_config_per_objective) {
    char args[1024], out[16384], path[1024];
    snprintf(args, sizeof args, "compare --config %s/configs/compare-fmnist.json --print-config", source_dir());
    cr_assert_eq(run_cli(args, out, sizeof out), 0, "%s", out);
    for (int i = 0; i < OBJ_COUNT; i++) {  // the comparison runs every objective of the table
        const char* name = objective_name((Objective)i);
        char want[128];
        snprintf(want, sizeof want, "\"%s\":\t\"configs/fmnist-%s.json\"", name, name);
        cr_assert(strstr(out, want), "no %s in\n%s", want, out);
        snprintf(path, sizeof path, "%s/configs/fmnist-%s.json", source_dir(), name);
        cr_assert_eq(access(path, R_OK), 0, "%s", path);
    }
}
