// cmd_train.c: `vkpref train`: options in, the library's training run
// (train/run.h) out, with a progress bar. Exit status: 0 done, 1 an error of
// the input, a diverging run or a file that could not be written, 3 the
// device (lost, out of memory).
//
// Started by an MPI launcher (mpirun -np N, srun --mpi=pmix), the processes
// train one model together (docs/DISTRIBUTED.md); a rank that fails stops
// every rank with its exit status (dist_abort).
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "dist/dist.h"
#include "model/lora.h"
#include "train/run.h"
#include "util/check.h"
#include "util/progress.h"

typedef struct TrainCli {
    Progress prog;
    double loss_avg;
} TrainCli;

static void log_line(void* user, const char* line) {
    TrainCli* t = user;
    progress_pause(&t->prog);
    fprintf(stderr, "vkpref train: %s\n", line);
}

int cli_exit_status(RunStatus st) {
    switch (st) {
    case RUN_OK: return 0;
    case RUN_ERR_INPUT:
    case RUN_ERR_DIVERGED:
    case RUN_ERR_IO: return 1;
    case RUN_ERR_DEVICE: return EXIT_DEVICE;
    }
    return 1;
}

static int stop(TrainCli* t, RunStatus st, const char* err) {
    progress_pause(&t->prog);
    if (dist_active()) {
        fprintf(stderr, "vkpref: error: rank %d of %d: %s\n", dist_rank(), dist_size(), err);
        dist_abort(cli_exit_status(st));  // the other ranks wait in a collective call: end them too
    }
    fprintf(stderr, "vkpref: error: %s\n", err);
    return cli_exit_status(st);
}

int train_with_progress(GpuContext* g, const TrainConfig* c) {
    TrainCli t = {.loss_avg = NAN};
    RunHooks hooks = {log_line, &t};
    TrainRun* r;
    char err[4096];
    RunStatus st = train_run_open(&r, g, c, &hooks, err, sizeof err);
    if (st) return stop(&t, st, err);
    if (dist_lead()) progress_begin(&t.prog, "train", train_run_total(r), train_run_done(r));
    while (train_run_done(r) < train_run_total(r)) {
        TrainStepReport rep;
        st = train_run_step(r, &rep, err, sizeof err);
        if (st) break;
        t.loss_avg = isnan(t.loss_avg) ? rep.loss : 0.98 * t.loss_avg + 0.02 * rep.loss;
        char extra[128];
        if (train_run_objective(r) == OBJ_SFT)
            snprintf(extra, sizeof extra, "loss %.4f lr %.2e %.1f img/s", t.loss_avg, rep.lr, rep.images_per_s);
        else
            snprintf(extra, sizeof extra, "loss %.4f acc %.2f lr %.2e %.1f img/s", t.loss_avg,
                     rep.metrics[OBJ_METRIC_IMPLICIT_ACC], rep.lr, rep.images_per_s);
        if (dist_lead()) progress_update(&t.prog, rep.step, extra);
    }
    if (!st) {
        if (dist_lead()) progress_end(&t.prog);
        st = train_run_finish(r, err, sizeof err);
        if (!st && dist_lead())
            fprintf(stderr, "vkpref train: %s written to %s\n", c->lora_rank > 0 ? "LoRA adapters (" LORA_WEIGHTS_FILE ")"
                    : "pipeline", c->output_dir);
    }
    int rc = st ? stop(&t, st, err) : 0;
    train_run_close(r);
    return rc;
}

int cmd_train(int argc, char** argv) {
    TrainConfig c;
    int pr = opts_parse(train_options(), &c, argc, argv);
    if (pr) return pr > 0 ? 0 : 2;
    char err[512];
    if (dist_init(&argc, &argv, err, sizeof err)) {
        fprintf(stderr, "vkpref: error: %s\n", err);
        return 1;
    }
    GpuContext g;
    GpuOptions go = GPU_DEFAULTS;
    go.device = c.device;
    go.nth = dist_local_rank();  // one device per rank of this machine, unless --device names one
    go.quiet = dist_active();
    if (gpu_init(&g, &go)) {
        fprintf(stderr, "vkpref: error: no usable Vulkan device (see `vkpref info`)\n");
        if (dist_active()) dist_abort(EXIT_DEVICE);
        return EXIT_DEVICE;
    }
    if (dist_active())
        fprintf(stderr, "vkpref: rank %d of %d (rank %d of %d on this machine): device %d: %s\n", dist_rank(),
                dist_size(), dist_local_rank(), dist_local_size(), g.device_index, g.props.deviceName);
    int rc = train_with_progress(&g, &c);
    gpu_free(&g);
    dist_finalize();
    return rc;
}
