// test_train_pref.c: preference fine-tuning through the binary: a tiny
// Pick-a-Pic manifest of real Fashion-MNIST test images (PNG), a base pipeline
// from a one-step pre-training run, then every objective for two steps; and the
// errors a user meets first.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/fmnist.h"
#include "io/png_image.h"
#include "test_util.h"
#include "util/fsutil.h"

static char dir[64];

// dir/pairs.jsonl: 8 pairs (the brighter image wins), one tie; dir/singles.jsonl: 4 rows.
static void write_manifests(void) {
    Fmnist ds;
    fmnist_load_or_die(&ds, NULL, FMNIST_TEST);
    float img[FMNIST_SIDE * FMNIST_SIDE];
    char path[256], err[512];
    double mean[18];
    for (int i = 0; i < 18; i++) {
        fmnist_image(&ds, i, img);
        mean[i] = 0;
        for (int k = 0; k < FMNIST_SIDE * FMNIST_SIDE; k++) mean[i] += img[k];
        snprintf(path, sizeof path, "%s/%d.png", dir, i);
        cr_assert_eq(png_write_f32(path, img, FMNIST_SIDE, FMNIST_SIDE, 1, err, sizeof err), 0, "%s", err);
    }
    snprintf(path, sizeof path, "%s/pairs.jsonl", dir);
    FILE* f = fopen(path, "w");
    for (int i = 0; i < 16; i += 2) {
        int w = mean[i] >= mean[i + 1];
        fprintf(f, "{\"caption\": \"%s\", \"jpg_0\": \"%d.png\", \"jpg_1\": \"%d.png\", \"label_0\": %d, \"label_1\": %d}\n",
                fmnist_caption(ds.labels[i]), i, i + 1, w, 1 - w);
    }
    fprintf(f, "{\"caption\": \"tie\", \"jpg_0\": \"16.png\", \"jpg_1\": \"17.png\", \"label_0\": 0.5, \"label_1\": 0.5}\n");
    fclose(f);
    snprintf(path, sizeof path, "%s/singles.jsonl", dir);
    f = fopen(path, "w");
    for (int i = 0; i < 4; i++) fprintf(f, "{\"caption\": \"%s\", \"jpg_0\": \"%d.png\"}\n", fmnist_caption(ds.labels[i]), i);
    fclose(f);
    fmnist_free(&ds);
}

static void setup(void) {
    temp_dir(dir, "pref");
    write_manifests();
}
static void teardown(void) { remove_temp_dir(dir); }

TestSuite(train_pref, .init = setup, .fini = teardown);

#define QUIET "--validation_images 0 --validation_grid_seeds 0 --checkpointing_steps 0 --log_every 1 "

Test(train_pref, every_objective_trains_from_a_base_pipeline, .timeout = 900) {
    char args[4096], out[16384], path[512];
    snprintf(path, sizeof path, "%s/base", dir);
    train_tiny_base(path);
    const char* objectives[] = {"sft", "dpo", "mapo", "kto", "tdpo", "tkto", "dpo_hinge", "dpo_ipo", "sdpo", "dpo"};
    // the last run: dpo with diffusers' --loss_type (its own output folder)
    for (int i = 0; i < 10; i++) {
        snprintf(args, sizeof args,
                 "train --pretrained_model_name_or_path %s/base --dataset %s/pairs.jsonl --objective %s "
                 "--max_train_steps 2 --train_batch_size 2 --beta_dpo 100 " QUIET "--output_dir %s/%s%s",
                 dir, dir, objectives[i], dir, objectives[i], i == 9 ? "-ipo --loss_type ipo" : "");
        cr_assert_eq(run_cli(args, out, sizeof out), 0, "%s: %s", objectives[i], out);
        cr_assert(strstr(out, "8 pairs, 0 single images kept, 1 ties dropped"), "%s", out);
        snprintf(path, sizeof path, "%s/%s%s/model_index.json", dir, objectives[i], i == 9 ? "-ipo" : "");
        cr_assert(path_exists(path), "%s: %s", objectives[i], out);
        snprintf(path, sizeof path, "%s/%s%s/train_log.csv", dir, objectives[i], i == 9 ? "-ipo" : "");
        char err[256];
        char* log = read_file(path, NULL, err, sizeof err);
        cr_assert(log && strstr(log, ",implicit_acc,") && strstr(log, "\n2,"), "%s", log);
        free(log);
        if (i < 9 && (!strcmp(objectives[i], "dpo") || !strcmp(objectives[i], "tdpo") || !strcmp(objectives[i], "sdpo")))
            // policy = reference at step 1
            cr_assert(strstr(out, "loss 0.6931"), "first %s loss is log 2: %s", objectives[i], out);
        if (objectives[i][0] == 't') cr_assert(strstr(out, "mismatched captions by rule"), "%s", out);
    }
    // A loss type outside the choices is an input error naming them.
    snprintf(args, sizeof args,
             "train --pretrained_model_name_or_path %s/base --dataset %s/pairs.jsonl --objective dpo --loss_type "
             "logistic " QUIET "--output_dir %s/bad-loss-type",
             dir, dir, dir);
    cr_assert_eq(run_cli(args, out, sizeof out), 1, "%s", out);
    cr_assert(strstr(out, "--loss_type logistic: use one of sigmoid|hinge|ipo"), "%s", out);
}

Test(train_pref, clear_errors) {
    char args[4096], out[16384];
    cr_assert_eq(run_cli("train --objective dpo", out, sizeof out), 1, "%s", out);
    cr_assert(strstr(out, "--objective dpo needs preference data"), "%s", out);
    snprintf(args, sizeof args, "train --objective dpo --dataset %s/pairs.jsonl", dir);
    cr_assert_eq(run_cli(args, out, sizeof out), 1, "%s", out);
    cr_assert(strstr(out, "--pretrained_model_name_or_path"), "%s", out);
    cr_assert_eq(run_cli("train --objective ppo", out, sizeof out), 1, "%s", out);
    cr_assert(strstr(out, "--objective ppo: use sft, dpo"), "%s", out);
}

// DPO at an absurd learning rate stops instead of training on: the step whose
// gradients are not finite is not applied, no final pipeline appears, and the
// checkpoint the message names (if any) is one whose weights gave a finite step.
Test(train_pref, dpo_at_an_absurd_learning_rate_stops_and_names_a_good_checkpoint, .timeout = 900) {
    char args[4096], out[16384], path[512], ckpt[256];
    snprintf(path, sizeof path, "%s/base", dir);
    train_tiny_base(path);
    snprintf(args, sizeof args,
             "train --pretrained_model_name_or_path %s/base --dataset %s/pairs.jsonl --objective dpo "
             "--max_train_steps 8 --train_batch_size 2 --learning_rate 1e6 --lr_scheduler constant " QUIET
             "--checkpointing_steps 1 --checkpoints_total_limit 1 --output_dir %s/absurd",
             dir, dir, dir);
    cr_assert_eq(run_cli(args, out, sizeof out), 1, "%s", out);
    const char* at = strstr(out, "last good checkpoint: ");
    cr_assert(at && strstr(out, "were not applied"), "%s", out);
    cr_assert_eq(sscanf(at + strlen("last good checkpoint: "), "%255s", ckpt), 1);
    snprintf(path, sizeof path, "%s/absurd/model_index.json", dir);
    cr_assert(!path_exists(path), "no final pipeline after a stop: %s", out);
    if (strcmp(ckpt, "none")) {  // resuming from it gives a finite step at a sane rate
        snprintf(args, sizeof args,
                 "train --resume_from_checkpoint %s --pretrained_model_name_or_path %s/base --dataset %s/pairs.jsonl "
                 "--objective dpo --max_train_steps 9 --train_batch_size 2 --learning_rate 1e-9 "
                 "--lr_scheduler constant --checkpointing_steps 0 " QUIET "--output_dir %s/absurd",
                 ckpt, dir, dir, dir);
        cr_assert_eq(run_cli(args, out, sizeof out), 0, "%s", out);
    }
}
