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
int cmd_version(int argc, char** argv);

// The exit status of a failed library call: 1 for the user's input (options,
// files, a diverging run), 3 for the device (lost, out of memory).
#include "train/run.h"
int cli_exit_status(RunStatus st);
// A training run with a progress bar on an open device (train and compare).
// Returns the exit status.
int train_with_progress(GpuContext* g, const TrainConfig* c);

// sample, eval and make-pairs under an MPI launcher (cli_dist.c): joins the
// job and gives each rank of a machine its own device (go->nth), as train does.
#include "gpu/gpu.h"
void cli_dist_join(int* argc, char*** argv, GpuOptions* go);
// Once rank 0 holds every image (render_job gathers them), the other ranks are
// done: they leave here; rank 0 returns and alone judges and writes.
void cli_dist_followers_leave(void);
