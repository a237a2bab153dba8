// commands.h: one entry point per subcommand; argv[0] is the subcommand name.
#pragma once

int cmd_info(int argc, char** argv);
int cmd_bench(int argc, char** argv);
int cmd_forward(int argc, char** argv);
// `forward --vae`: cmd_forward_vae.c
int cmd_forward_vae(const char* vae_dir, const char* inputs, const char* out, int device);
int cmd_train(int argc, char** argv);
int cmd_eval(int argc, char** argv);
int cmd_export(int argc, char** argv);
int cmd_compare(int argc, char** argv);
int cmd_make_pairs(int argc, char** argv);
int cmd_fmnist_manifest(int argc, char** argv);
int cmd_sample(int argc, char** argv);
int cmd_train_judge(int argc, char** argv);
