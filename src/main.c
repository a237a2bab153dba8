// main.c: subcommand dispatch only.
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"

typedef struct Command {
    const char* name;
    int (*run)(int argc, char** argv);
    const char* help;
} Command;

static const Command COMMANDS[] = {
    {"train", cmd_train, "train a model (pre-training on Fashion-MNIST: sft)"},
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
};

static void usage(FILE* out) {
    fprintf(out, "usage: vkpref <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof COMMANDS / sizeof *COMMANDS; i++)
        fprintf(out, "  %-12s %s\n", COMMANDS[i].name, COMMANDS[i].help);
    fprintf(out, "\n`vkpref <command> --help` describes a command's options.\n");
}

int main(int argc, char** argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof COMMANDS / sizeof *COMMANDS; i++)
        if (!strcmp(argv[1], COMMANDS[i].name)) return COMMANDS[i].run(argc - 1, argv + 1);
    fprintf(stderr, "vkpref: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
