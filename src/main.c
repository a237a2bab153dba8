// main.c: subcommand dispatch only.
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "util/opt_names.h"

typedef struct Command {
    const char* name;
    int (*run)(int argc, char** argv);
    const char* help;
} Command;

static const Command COMMANDS[] = {
    {"train", cmd_train, "train a model: pre-training (sft on Fashion-MNIST) or fine-tuning (sft, dpo, mapo, kto, ...)"},
    {"train-judge", cmd_train_judge, "train the Fashion-MNIST classifier that `classifier` judges use"},
    {"sample", cmd_sample, "sample images from a pipeline folder into a labelled PNG grid"},
    {"info", cmd_info, "list Vulkan devices and the one that would be used"},
    {"bench", cmd_bench, "benchmarks: `vkpref bench ops | train | sample`"},
    {"forward", cmd_forward, "one UNet forward/backward or VAE encode/decode on given inputs (parity with diffusers)"},
    {"make-pairs", cmd_make_pairs, "sample images, score them with a judge, write a Pick-a-Pic manifest"},
    {"fmnist-manifest", cmd_fmnist_manifest, "write a Pick-a-Pic manifest of real Fashion-MNIST images (single or style pairs)"},
    {"eval", cmd_eval, "win rate of a model against its base under a judge"},
    {"compare", cmd_compare, "fine-tune one base with several objectives, evaluate each, write an HTML report"},
    {"export", cmd_export, "rewrite a pipeline or checkpoint as a clean (F16) pipeline folder"},
    {"version", cmd_version, "version, git revision, Vulkan loader and the default device's driver (also --version)"},
};
#define NCOMMANDS (sizeof COMMANDS / sizeof *COMMANDS)

static void usage(FILE* out) {
    fprintf(out, "usage: vkpref <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++) fprintf(out, "  %-16s %s\n", COMMANDS[i].name, COMMANDS[i].help);
    fprintf(out, "\n`vkpref <command> --help` (or `vkpref help <command>`) describes a command's options.\n"
                 "Options are snake_case (--train_batch_size); hyphenated spellings work too (--print-config).\n");
}

static const Command* find_command(const char* name) {
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (!strcmp(name, COMMANDS[i].name)) return &COMMANDS[i];
    return NULL;
}

static int unknown_command(const char* name) {
    OptSuggest s;
    opt_suggest_init(&s, name);
    for (size_t i = 0; i < NCOMMANDS; i++) opt_suggest_offer(&s, COMMANDS[i].name);
    const char* near = opt_suggest_result(&s);
    fprintf(stderr, "vkpref: unknown command '%s'", name);
    if (near) fprintf(stderr, " (did you mean '%s'?)", near);
    fprintf(stderr, "\n\n");
    usage(stderr);
    return 2;
}

int main(int argc, char** argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) return cmd_version(argc - 1, argv + 1);
    if (!strcmp(argv[1], "help")) {  // `vkpref help train` = `vkpref train --help`
        if (argc < 3) return usage(stdout), 0;
        const Command* c = find_command(argv[2]);
        if (!c) return unknown_command(argv[2]);
        char* args[] = {argv[2], "--help", NULL};
        return c->run(2, args);
    }
    const Command* c = find_command(argv[1]);
    return c ? c->run(argc - 1, argv + 1) : unknown_command(argv[1]);
}
