// test_train_resume.c: checkpoints through the binary: a run resumed from
// checkpoint-<step> ends bit for bit where an uninterrupted run ends; keep-last-N;
// "latest"; a pipeline folder as --pretrained_model_name_or_path; clear errors.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"
#include "test_util.h"
#include "util/fsutil.h"

// Small and fast: batch 2, two micro-batches per step, a 16-image validation set.
#define TINY_RUN                                                                                              \
    "train --model_config %s/configs/models/fmnist-small.json --train_batch_size 2 --gradient_accumulation_steps 2 " \
    "--validation_images 16 --validation_steps 2 --validation_grid_seeds 0 --log_every 1 --lr_warmup_steps 2 --seed 7 "

static const char* source_dir(void) {
    const char* s = getenv("VKPREF_SOURCE_DIR");
    return s ? s : ".";
}

static char* slurp(const char* path) {
    char err[512];
    char* t = read_file(path, NULL, err, sizeof err);
    cr_assert(t, "%s", err);
    return t;
}

static void assert_same_file(const char* a, const char* b) {
    size_t na, nb;
    char err[512];
    char *x = read_file(a, &na, err, sizeof err), *y = read_file(b, &nb, err, sizeof err);
    cr_assert(x && y, "%s", err);
    cr_assert(na == nb && !memcmp(x, y, na), "%s and %s differ", a, b);
    free(x), free(y);
}

// The CSV without the images/s column (wall-clock) and from the row of step `from` on.
static void log_rows(const char* dir, int from, char* out, size_t n) {
    char path[256];
    snprintf(path, sizeof path, "%s/train_log.csv", dir);
    char* text = slurp(path);
    out[0] = 0;
    for (char* line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (atoi(line) < from || line[0] == 's') continue;
        char* f[6] = {0};
        int k = 0;
        for (char* p = line; k < 6; k++) {
            f[k] = p;
            char* c = strchr(p, ',');
            if (!c) break;
            *c = 0, p = c + 1;
        }
        size_t len = strlen(out);
        snprintf(out + len, n - len, "%s,%s,%s,%s,%s\n", f[0], f[1], f[2], f[3], f[5] ? f[5] : "");
    }
    free(text);
}

Test(train_resume, resumed_run_matches_uninterrupted_run, .timeout = 900) {
    char a[64], b[64], args[4096], out[16384], p1[512], p2[512];
    temp_dir(a, "resume_a");
    temp_dir(b, "resume_b");
    snprintf(args, sizeof args, TINY_RUN "--max_train_steps 4 --checkpointing_steps 2 --checkpoints_total_limit 0 --output_dir %s",
             source_dir(), a);
    cr_assert_eq(run_cli(args, out, sizeof out), 0, "%s", out);
    // An interrupted run: only checkpoint-2 survived. Resume it elsewhere.
    snprintf(args, sizeof args, "cp -r %s/checkpoint-2 %s/", a, b);
    cr_assert_eq(system(args), 0);
    // Checkpoints every step, keeping one: the checkpoint it resumed from is
    // pruned while the run goes on, and later saves must not need it.
    snprintf(args, sizeof args,
             TINY_RUN "--max_train_steps 4 --checkpointing_steps 1 --checkpoints_total_limit 1 --output_dir %s "
                      "--resume_from_checkpoint latest",
             source_dir(), b);
    cr_assert_eq(run_cli(args, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "resuming from") && strstr(out, "checkpoint-2 (step 2)"), "%s", out);
    const char* files[] = {"unet/diffusion_pytorch_model.safetensors", "text_encoder/model.safetensors",
                           "checkpoint-4/train_state.safetensors", "checkpoint-4/unet/diffusion_pytorch_model.safetensors"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        snprintf(p1, sizeof p1, "%s/%s", a, files[i]);
        snprintf(p2, sizeof p2, "%s/%s", b, files[i]);
        assert_same_file(p1, p2);
    }
    static char la[8192], lb[8192];
    log_rows(a, 3, la, sizeof la);
    log_rows(b, 3, lb, sizeof lb);
    cr_assert(strlen(la) > 10 && !strcmp(la, lb), "logged steps 3-4 differ:\n%s\nvs\n%s", la, lb);
    remove_temp_dir(a);
    remove_temp_dir(b);
}

Test(train_resume, keeps_the_last_n_checkpoints_and_continues_from_pretrained, .timeout = 900) {
    char a[64], b[64], args[4096], out[16384], path[512];
    temp_dir(a, "keep");
    temp_dir(b, "pretrained");
    snprintf(args, sizeof args,
             TINY_RUN "--max_train_steps 3 --checkpointing_steps 1 --checkpoints_total_limit 2 --output_dir %s "
                      "--validation_grid_seeds 1 --validation_inference_steps 2 --validation_steps 3",
             source_dir(), a);
    cr_assert_eq(run_cli(args, out, sizeof out), 0, "%s", out);
    for (int s = 1; s <= 3; s++) {
        snprintf(path, sizeof path, "%s/checkpoint-%d", a, s);
        cr_assert_eq(path_is_dir(path), s >= 2, "checkpoint-%d %s", s, s >= 2 ? "missing" : "not pruned");
    }
    // Validation grids at step 0 and at the end (validation_steps 3).
    snprintf(path, sizeof path, "%s/validation/step-000000.png", a);
    cr_assert(path_exists(path), "%s", out);
    snprintf(path, sizeof path, "%s/validation/step-000003.png", a);
    cr_assert(path_exists(path), "%s", out);
    // The log starts with the step-0 validation row.
    snprintf(path, sizeof path, "%s/train_log.csv", a);
    char* log = slurp(path);
    cr_assert(!strncmp(log, "step,loss,lr,grad_norm,images_per_s,val_loss,implicit_acc,", 58), "%s", log);
    cr_assert(strstr(log, "\n0,,,,,"), "step-0 validation row: %s", log);
    free(log);
    // The finished pipeline is a starting point for another run.
    snprintf(args, sizeof args,
             "train --pretrained_model_name_or_path %s --train_batch_size 2 --max_train_steps 1 --validation_images 0 --validation_grid_seeds 0 "
             "--checkpointing_steps 0 --output_dir %s",
             a, b);
    cr_assert_eq(run_cli(args, out, sizeof out), 0, "%s", out);
    snprintf(path, sizeof path, "%s/model_index.json", b);
    cr_assert(path_exists(path), "%s", out);
    snprintf(path, sizeof path, "%s/tokenizer/vocab.json", b);
    cr_assert(path_exists(path), "tokenizer copied: %s", out);
    // A checkpoint exported as an F16 pipeline without training state loads as a model.
    snprintf(args, sizeof args, "export --model %s/checkpoint-3 --out %s/shipped", a, b);
    cr_assert_eq(run_cli(args, out, sizeof out), 0, "%s", out);
    snprintf(path, sizeof path, "%s/shipped/unet/diffusion_pytorch_model.safetensors", b);
    char err[512];
    SafeTensors* st = st_open(path, err, sizeof err);
    cr_assert(st, "%s", err);
    const StTensor* w = st_find(st, "conv_in.weight");
    cr_assert(w && w->dtype == ST_F16, "exported weights are F16");
    st_close(st);
    snprintf(path, sizeof path, "%s/shipped/train_state.safetensors", b);
    cr_assert(!path_exists(path), "no training state in an export");
    snprintf(args, sizeof args, "sample --model %s/shipped --prompt \"a photo of a bag\" --seeds 0 --steps 1 --out %s/g.png", b, b);
    cr_assert_eq(run_cli(args, out, sizeof out), 0, "%s", out);
    remove_temp_dir(a);
    remove_temp_dir(b);
}

Test(train_resume, clear_errors) {
    char a[64], args[4096], out[16384];
    temp_dir(a, "errors");
    snprintf(args, sizeof args, "train --resume_from_checkpoint latest --output_dir %s", a);
    cr_assert_eq(run_cli(args, out, sizeof out), 1, "%s", out);
    cr_assert(strstr(out, "no finished checkpoint-<step> folder in") && strstr(out, a), "%s", out);
    snprintf(args, sizeof args, "train --resume_from_checkpoint %s/nowhere --output_dir %s", a, a);
    cr_assert_eq(run_cli(args, out, sizeof out), 1, "%s", out);
    cr_assert(strstr(out, "nowhere: not a checkpoint folder"), "%s", out);
    snprintf(args, sizeof args, "train --pretrained_model_name_or_path %s --output_dir %s", a, a);
    cr_assert_eq(run_cli(args, out, sizeof out), 1, "%s", out);
    cr_assert(strstr(out, "not a pipeline folder") && strstr(out, "--pretrained_model_name_or_path"), "%s", out);
    remove_temp_dir(a);
}

// A diverging run stops with a message naming the step and the newest
// checkpoint whose weights went on to a finite step; that checkpoint is kept,
// no final pipeline appears, and resuming from it trains. With warm-up, step 1
// runs at lr 0 (checkpoint-1 = the initial weights, verified by step 2's finite
// loss); step 2 at lr 1e27 blows the weights up (checkpoint-2 is written but
// never verified); step 3 is non-finite and stops the run.
Test(train_resume, nan_stop_names_a_checkpoint_that_is_really_good, .timeout = 600) {
    char a[64], args[4096], out[16384], path[512];
    temp_dir(a, "nan");
    snprintf(args, sizeof args,
             "train --model_config %s/configs/models/fmnist-small.json --train_batch_size 2 --max_train_steps 6 "
             "--learning_rate 1e30 --lr_scheduler constant_with_warmup --lr_warmup_steps 1000 --checkpointing_steps 1 "
             "--checkpoints_total_limit 1 --validation_images 0 --validation_grid_seeds 0 --output_dir %s",
             source_dir(), a);
    cr_assert_eq(run_cli(args, out, sizeof out), 1, "%s", out);
    cr_assert(strstr(out, "stopping") && strstr(out, "were not applied"), "%s", out);
    const char* at = strstr(out, "last good checkpoint: ");
    cr_assert(at, "%s", out);
    char ckpt[256], want[256];
    cr_assert_eq(sscanf(at + strlen("last good checkpoint: "), "%255s", ckpt), 1);
    snprintf(want, sizeof want, "%s/checkpoint-1", a);
    cr_assert_str_eq(ckpt, want, "%s", out);
    snprintf(path, sizeof path, "%s/train_state.json", ckpt);
    cr_assert(path_exists(path), "the named checkpoint %s is kept, though the limit is 1: %s", ckpt, out);
    snprintf(path, sizeof path, "%s/model_index.json", a);
    cr_assert(!path_exists(path), "no final pipeline after a stop");
    // Its weights train on (at a sane rate).
    snprintf(args, sizeof args,
             "train --resume_from_checkpoint %s --output_dir %s --train_batch_size 2 --max_train_steps 2 "
             "--learning_rate 1e-4 --lr_scheduler constant --checkpointing_steps 0 --validation_images 0 "
             "--validation_grid_seeds 0",
             ckpt, a);
    cr_assert_eq(run_cli(args, out, sizeof out), 0, "%s", out);
    remove_temp_dir(a);
}

// An output folder holding a run is never reused silently: a new run is
// refused, --overwrite_output_dir replaces the earlier run's checkpoints.
Test(train_resume, an_output_folder_holding_a_run_is_refused_unless_asked, .timeout = 600) {
    char a[64], args[4096], out[16384], path[512];
    temp_dir(a, "reuse");
    const char* run = "train --model_config %s/configs/models/fmnist-small.json --train_batch_size 2 --max_train_steps 2 "
                      "--checkpointing_steps 2 --validation_images 0 --validation_grid_seeds 0 --output_dir %s %s";
    snprintf(args, sizeof args, run, source_dir(), a, "");
    cr_assert_eq(run_cli(args, out, sizeof out), 0, "%s", out);
    snprintf(args, sizeof args, run, source_dir(), a, "--seed 3");
    cr_assert_eq(run_cli(args, out, sizeof out), 1, "%s", out);
    cr_assert(strstr(out, "holds an earlier run") && strstr(out, "--overwrite_output_dir"), "%s", out);
    snprintf(path, sizeof path, "%s/checkpoint-2/train_state.json", a);
    cr_assert(path_exists(path), "the earlier run is untouched");
    char* before = slurp(path);
    snprintf(args, sizeof args, run, source_dir(), a, "--seed 3 --overwrite_output_dir --max_train_steps 1");
    cr_assert_eq(run_cli(args, out, sizeof out), 0, "%s", out);
    snprintf(path, sizeof path, "%s/checkpoint-2", a);
    cr_assert(!path_exists(path), "the earlier run's checkpoint is gone after --overwrite_output_dir");
    snprintf(path, sizeof path, "%s/checkpoint-1/train_state.json", a);
    char* after = slurp(path);
    cr_assert(strstr(after, "\"run_id\"") && strcmp(strstr(before, "\"run_id\""), strstr(after, "\"run_id\"")),
              "a new run id: %s vs %s", before, after);
    free(before), free(after);
    remove_temp_dir(a);
}

// A lost device (injected after 6 submits: 3 initialise the weights, steps 1-3
// run, step 4 is lost) is
// reported with the last complete checkpoint, exit status 3, no core dump.
Test(train_resume, a_lost_device_names_the_last_complete_checkpoint, .timeout = 600) {
    char a[64], args[4096], out[16384], want[256];
    temp_dir(a, "lost");
    snprintf(args, sizeof args,
             "train --model_config %s/configs/models/fmnist-small.json --train_batch_size 2 --max_train_steps 6 "
             "--checkpointing_steps 1 --validation_images 0 --validation_grid_seeds 0 --output_dir %s",
             source_dir(), a);
    setenv("VKPREF_FAULT_DEVICE_LOST_AFTER", "6", 1);
    int rc = run_cli(args, out, sizeof out);
    unsetenv("VKPREF_FAULT_DEVICE_LOST_AFTER");
    cr_assert_eq(rc, 3, "%s", out);
    snprintf(want, sizeof want, "last complete checkpoint: %s/checkpoint-3", a);
    cr_assert(strstr(out, "VK_ERROR_DEVICE_LOST") && strstr(out, want), "%s", out);
    remove_temp_dir(a);
}

// --max_loss_spike stops a run whose loss jumps above X times the median of the
// recent losses (here a factor so small that sft's batch-to-batch noise trips it
// once ten losses are known); the message names the factor and the median.
Test(train_resume, max_loss_spike_stops_on_a_loss_above_the_running_median, .timeout = 600) {
    char a[64], args[4096], out[16384], path[512];
    temp_dir(a, "spike");
    snprintf(args, sizeof args,
             "train --model_config %s/configs/models/fmnist-small.json --train_batch_size 2 --max_train_steps 60 "
             "--max_loss_spike 1.001 --checkpointing_steps 0 --validation_images 0 --validation_grid_seeds 0 "
             "--output_dir %s",
             source_dir(), a);
    cr_assert_eq(run_cli(args, out, sizeof out), 1, "%s", out);
    cr_assert(strstr(out, "x the running median") && strstr(out, "--max_loss_spike"), "%s", out);
    snprintf(path, sizeof path, "%s/model_index.json", a);
    cr_assert(!path_exists(path), "no final pipeline after a stop");
    snprintf(args, sizeof args,
             "train --model_config %s/configs/models/fmnist-small.json --train_batch_size 2 --max_train_steps 60 "
             "--max_loss_spike 1 --output_dir %s --overwrite_output_dir",
             source_dir(), a);
    cr_assert_eq(run_cli(args, out, sizeof out), 1, "%s", out);
    cr_assert(strstr(out, "max_loss_spike"), "a factor of 1 is refused: %s", out);
    remove_temp_dir(a);
}
