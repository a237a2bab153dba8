// test_train_pref.c: preference fine-tuning through the binary: a tiny
// Pick-a-Pic manifest of real Fashion-MNIST test images (PNG), a base pipeline
// from a one-step pre-training run, then every objective for two steps, --num_train_epochs; and the
// errors a user meets first.
#include <math.h>
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

// --num_train_epochs: max_train_steps = E x ceil(ceil(items / B) / K) over the items the
// objective draws from (8 pairs: dpo 8, kto 16 images, sft 8 chosen images) in
// --print_config; a given max_train_steps wins. (The dspo run above trains by epochs.)
static void check_num_train_epochs(void) {
    char args[4096], out[16384];
    struct { const char* obj; int B, K, E, want; } cases[] = {
        {"dpo", 3, 1, 2, 6},  // ceil(8 / 3) = 3 micro-batches an epoch
        {"kto", 3, 2, 1, 3},  // ceil(ceil(16 / 3) / 2) = ceil(6 / 2)
        {"sft", 5, 1, 3, 6},  // ceil(8 / 5) = 2
        {"tdpo", 8, 1, 4, 4},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        snprintf(args, sizeof args,
                 "train --pretrained_model_name_or_path %s/base --dataset %s/pairs.jsonl --objective %s "
                 "--train_batch_size %d --gradient_accumulation_steps %d --num_train_epochs %d --print_config",
                 dir, dir, cases[i].obj, cases[i].B, cases[i].K, cases[i].E);
        cr_assert_eq(run_cli(args, out, sizeof out), 0, "%s", out);
        char want[64];
        snprintf(want, sizeof want, "\"max_train_steps\":\t%d,", cases[i].want);
        cr_assert(strstr(out, want), "%s: want %s in %s", cases[i].obj, want, out);
    }
    snprintf(args, sizeof args,
             "train --pretrained_model_name_or_path %s/base --dataset %s/pairs.jsonl --objective dpo "
             "--num_train_epochs 2 --max_train_steps 5 --print_config", dir, dir);
    cr_assert_eq(run_cli(args, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "\"max_train_steps\":\t5,"), "max_train_steps given wins: %s", out);
}

Test(train_pref, every_objective_trains_from_a_base_pipeline, .timeout = 900) {
    char args[4096], out[16384], path[512];
    snprintf(path, sizeof path, "%s/base", dir);
    train_tiny_base(path);
    const char* objectives[] = {"sft", "dpo", "mapo", "kto", "tdpo", "tkto", "dpo_hinge", "dpo_ipo", "sdpo", "dspo", "dpo"};
    // the last run: dpo with diffusers' --loss_type (its own output folder); mapo with
    // random crops and flips (the 28x28 images are square: one crop, at 0)
    for (int i = 0; i < 11; i++) {
        snprintf(args, sizeof args,
                 "train --pretrained_model_name_or_path %s/base --dataset %s/pairs.jsonl --objective %s "
                 "%s --beta_dpo 100 " QUIET "--output_dir %s/%s%s%s",
                 dir, dir, objectives[i],
                 // dspo runs by epochs: 8 pairs in batches of 4, one epoch = 2 steps
                 i == 9 ? "--num_train_epochs 1 --train_batch_size 4" : "--max_train_steps 2 --train_batch_size 2",
                 dir, objectives[i], i == 10 ? "-ipo --loss_type ipo" : "",
                 i == 2 ? " --random_crop --random_flip" : "");
        cr_assert_eq(run_cli(args, out, sizeof out), 0, "%s: %s", objectives[i], out);
        cr_assert(strstr(out, "8 pairs, 0 single images kept, 1 ties dropped"), "%s", out);
        snprintf(path, sizeof path, "%s/%s%s/model_index.json", dir, objectives[i], i == 10 ? "-ipo" : "");
        cr_assert(path_exists(path), "%s: %s", objectives[i], out);
        snprintf(path, sizeof path, "%s/%s%s/train_log.csv", dir, objectives[i], i == 10 ? "-ipo" : "");
        char err[256];
        char* log = read_file(path, NULL, err, sizeof err);
        cr_assert(log && strstr(log, ",implicit_acc,") && strstr(log, "\n2,"), "%s", log);
        if (i == 9) {  // the derived length is printed and saved, and the run stops there
            cr_assert(strstr(out, "max_train_steps 2: 1 epochs of 8 items") && !strstr(log, "\n3,"), "%s", out);
            snprintf(path, sizeof path, "%s/dspo/train_config.json", dir);
            char* cfg = read_file(path, NULL, err, sizeof err);
            cr_assert(cfg && strstr(cfg, "\"max_train_steps\":\t2,"), "%s", cfg ? cfg : err);
            free(cfg);
        }
        if (!strcmp(objectives[i], "dpo_ipo")) {  // loss ~ (1/(2 beta))^2 = 2.5e-5: six significant digits, not 0.000025
            const char* row = strstr(log, "\n2,");
            double loss = strtod(row + 3, NULL);
            cr_assert(loss > 2e-5 && loss < 3e-5 && strstr(row, "e-05,"), "dpo_ipo loss column: %s", row);
        }
        free(log);
        if (i < 10 && (!strcmp(objectives[i], "dpo") || !strcmp(objectives[i], "tdpo") || !strcmp(objectives[i], "sdpo")))
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
    check_num_train_epochs();  // on the same base
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

// LoRA DPO through the binary (attention, feed-forward and conv1 adapters): only the adapters train (the base file is
// unchanged, no pipeline is written), the reference is the base with the
// adapters off (B = 0 at step 1: the first loss is log 2), the adapter file is
// in PEFT layout, and a checkpoint resumes from its adapter state.
Test(train_pref, lora_dpo_trains_adapters_only, .timeout = 900) {
    char args[4096], out[16384], path[512], err[512];
    snprintf(path, sizeof path, "%s/base", dir);
    train_tiny_base(path);
    snprintf(path, sizeof path, "%s/base/unet/diffusion_pytorch_model.safetensors", dir);
    size_t nb0, nb1;
    char* base0 = read_file(path, &nb0, err, sizeof err);
    cr_assert(base0, "%s", err);
    const char* common = "--objective dpo --train_batch_size 2 --beta_dpo 100 --lora_rank 2 --lora_alpha 4 "
                         "--lora_target_modules to_q,to_k,to_v,to_out.0,ff.net.2,conv1 "
                         "--gradient_accumulation_steps 2 --validation_images 0 --validation_grid_seeds 0 "
                         "--checkpointing_steps 1 --log_every 1";
    snprintf(args, sizeof args, "train --pretrained_model_name_or_path %s/base --dataset %s/pairs.jsonl %s "
             "--max_train_steps 2 --output_dir %s/lora", dir, dir, common, dir);
    cr_assert_eq(run_cli(args, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "LoRA: "), "%s", out);
    cr_assert(strstr(out, "loss 0.6931"), "step 1 with B = 0 is the reference: %s", out);
    snprintf(args, sizeof args, "train --pretrained_model_name_or_path %s/base --dataset %s/pairs.jsonl %s "
             "--max_train_steps 3 --resume_from_checkpoint latest --output_dir %s/lora", dir, dir, common, dir);
    cr_assert_eq(run_cli(args, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "resuming from"), "%s", out);

    char* base1 = read_file(path, &nb1, err, sizeof err);
    cr_assert(base1 && nb0 == nb1 && !memcmp(base0, base1, nb0), "the base model changed");
    free(base0), free(base1);
    snprintf(path, sizeof path, "%s/lora/model_index.json", dir);
    cr_assert(!path_exists(path), "a LoRA run writes the adapters, not a pipeline");
    snprintf(path, sizeof path, "%s/lora/pytorch_lora_weights.safetensors", dir);
    SafeTensors* st = st_open(path, err, sizeof err);
    cr_assert(st, "%s", err);
    int nonzero_b = 0;
    for (int i = 0; i < st_count(st); i++) {
        const StTensor* t = st_tensor_at(st, i);
        size_t n = strlen(t->name);
        bool a = n > 14 && !strcmp(t->name + n - 14, ".lora_A.weight"), b = n > 14 && !strcmp(t->name + n - 14, ".lora_B.weight");
        cr_assert(!strncmp(t->name, "unet.", 5) && (a || b), "%s", t->name);
        bool conv = strstr(t->name, ".conv1.") != NULL;
        cr_assert(strstr(t->name, ".to_q.") || strstr(t->name, ".to_k.") || strstr(t->name, ".to_v.") ||
                  strstr(t->name, ".to_out.0.") || strstr(t->name, ".ff.net.2.") || conv, "%s: not a target", t->name);
        cr_assert_eq(t->ndim, conv ? 4 : 2, "%s", t->name);
        cr_assert_eq(t->shape[a ? 0 : 1], 2, "%s: rank", t->name);
        if (b) {
            float* v = malloc((size_t)t->numel * sizeof *v);
            st_read_f32(st, t, v);
            for (int64_t k = 0; k < t->numel; k++) nonzero_b += v[k] != 0;
            free(v);
        }
    }
    cr_assert(st_count(st) >= 8 && nonzero_b > 0, "%d tensors, %d trained B values", st_count(st), nonzero_b);
    cr_assert(strstr(st_meta_get(st, "lora_adapter_metadata"), "\"unet.lora_alpha\":\t4"));
    st_close(st);
    snprintf(path, sizeof path, "%s/lora/checkpoint-3/train_state.safetensors", dir);
    st = st_open(path, err, sizeof err);
    cr_assert(st, "%s", err);
    for (int i = 0; i < st_count(st); i++)
        cr_assert(!strncmp(st_tensor_at(st, i)->name, "lora/", 5), "%s", st_tensor_at(st, i)->name);
    st_close(st);

    // The adapter file in use: sampling with it, and merged into an exported pipeline
    // (its to_q weight = base + (alpha / r) B A; only the targeted weights change).
    snprintf(args, sizeof args, "sample --model %s/base --lora %s/lora/pytorch_lora_weights.safetensors --lora_scale 0.5 "
             "--prompt shirt --seeds 0 --steps 2 --out %s/lora.png", dir, dir, dir);
    cr_assert_eq(run_cli(args, out, sizeof out), 0, "%s", out);
    // make-pairs samples with adapters too; --lora repeats (the same file twice at half strength each).
    snprintf(args, sizeof args, "make-pairs --model %s/base --lora %s/lora/pytorch_lora_weights.safetensors --lora %s/lora/"
             "pytorch_lora_weights.safetensors --lora_scale 0.5 --prompt shirt --per_prompt 2 --steps 2 "
             "--judge brightness --out %s/lora_pairs", dir, dir, dir, dir);
    cr_assert_eq(run_cli(args, out, sizeof out), 0, "%s", out);
    snprintf(path, sizeof path, "%s/lora_pairs/pairs.jsonl", dir);
    cr_assert(path_exists(path), "%s", out);
    snprintf(args, sizeof args, "make-pairs --model %s/base --lora %s/none.safetensors --prompt shirt --per_prompt 2 "
             "--steps 2 --judge brightness --out %s/lora_pairs2", dir, dir, dir);
    cr_assert_eq(run_cli(args, out, sizeof out), 1, "%s", out);
    cr_assert(strstr(out, "none.safetensors") && strstr(out, "(--lora)"), "%s", out);
    snprintf(args, sizeof args, "export --model %s/base --merge_lora %s/lora/pytorch_lora_weights.safetensors "
             "--f16 false --out %s/merged", dir, dir, dir);
    cr_assert_eq(run_cli(args, out, sizeof out), 0, "%s", out);
    snprintf(path, sizeof path, "%s/lora/pytorch_lora_weights.safetensors", dir);
    SafeTensors* sb = st_open(path, err, sizeof err);
    cr_assert(sb, "%s", err);
    char mpath[512], bpath[512];
    snprintf(mpath, sizeof mpath, "%s/merged/unet/diffusion_pytorch_model.safetensors", dir);
    snprintf(bpath, sizeof bpath, "%s/base/unet/diffusion_pytorch_model.safetensors", dir);
    SafeTensors *sm = st_open(mpath, err, sizeof err), *s0 = st_open(bpath, err, sizeof err);
    cr_assert(sm && s0, "%s", err);
    int changed = 0;
    for (int i = 0; i < st_count(s0); i++) {
        const StTensor *t0 = st_tensor_at(s0, i), *tm = st_find(sm, t0->name);
        cr_assert(tm && tm->numel == t0->numel, "%s", t0->name);
        float *v0 = malloc((size_t)t0->numel * sizeof *v0), *vm = malloc((size_t)t0->numel * sizeof *vm);
        st_read_f32(s0, t0, v0), st_read_f32(sm, tm, vm);
        char key[600];
        size_t n = strlen(t0->name);
        bool weight = n > 7 && !strcmp(t0->name + n - 7, ".weight");
        snprintf(key, sizeof key, "unet.%.*s.lora_A.weight", (int)(n - 7), t0->name);
        const StTensor* la = weight ? st_find(sb, key) : NULL;
        if (!la) {
            cr_assert(!memcmp(v0, vm, (size_t)t0->numel * sizeof *v0), "%s changed without an adapter", t0->name);
        } else {
            snprintf(key, sizeof key, "unet.%.*s.lora_B.weight", (int)(n - 7), t0->name);
            const StTensor* lb = st_find(sb, key);
            cr_assert(lb, "%s", key);
            int64_t K = la->shape[0], I = la->numel / K, O = lb->shape[0];  // conv: A [r, in k k] flattened
            float *A = malloc((size_t)(K * I) * sizeof *A), *B = malloc((size_t)(O * K) * sizeof *B);
            st_read_f32(sb, la, A), st_read_f32(sb, lb, B);
            for (int64_t o = 0; o < O; o++)
                for (int64_t j = 0; j < I; j++) {
                    double acc = v0[o * I + j];
                    for (int64_t k = 0; k < K; k++) acc += 4.0 / 2 * (double)B[o * K + k] * A[k * I + j];
                    cr_assert(fabs(vm[o * I + j] - acc) <= 1e-6 * (1 + fabs(acc)), "%s[%lld]", t0->name,
                              (long long)(o * I + j));
                }
            free(A), free(B);
            changed++;
        }
        free(v0), free(vm);
    }
    cr_assert(changed >= 6, "%d merged weights", changed);
    st_close(sb), st_close(sm), st_close(s0);

    snprintf(args, sizeof args, "train --pretrained_model_name_or_path %s/base --dataset %s/pairs.jsonl --objective dpo "
             "--lora_rank 2 --lora_dropout 1 --output_dir %s/bad", dir, dir, dir);
    cr_assert_eq(run_cli(args, out, sizeof out), 1, "%s", out);
    cr_assert(strstr(out, "--lora_dropout 1: must be in [0, 1)"), "%s", out);
    snprintf(args, sizeof args, "train --pretrained_model_name_or_path %s/base --dataset %s/pairs.jsonl --objective dpo "
             "--lora_rank 2 --lora_target_modules norm1 --output_dir %s/bad", dir, dir, dir);
    cr_assert_eq(run_cli(args, out, sizeof out), 1, "%s", out);
    cr_assert(strstr(out, "is neither a Linear nor a Conv2d layer"), "%s", out);
}

// Gradient checkpointing recomputes the adapters' forward inside each unit, and
// LoRA dropout's masks are functions of (seed, step, item, module, element): with
// --lora_dropout 0.3 a checkpointed run and a resumed run (step 2 after a restart)
// write the same adapters bit for bit as one plain run (attention, ff.net.2 and
// conv2 adapters); the masks change the result; --lora_dropout 0 is the run
// without dropout.
Test(train_pref, lora_with_dropout_is_bit_exact_across_checkpointing_and_resume, .timeout = 900) {
    char args[4096], out[16384], path[512], err[512];
    snprintf(path, sizeof path, "%s/base", dir);
    train_tiny_base(path);
    struct { const char* name; const char* extra; int steps; bool resume; } runs[] = {
        {"plain", "--lora_dropout 0.3", 2, false},
        {"gc", "--lora_dropout 0.3 --gradient_checkpointing true", 2, false},
        {"resumed", "--lora_dropout 0.3 --checkpointing_steps 1", 1, false},
        {"resumed", "--lora_dropout 0.3 --checkpointing_steps 1 --resume_from_checkpoint latest", 2, true},
        {"p0", "--lora_dropout 0", 2, false},
        {"none", "", 2, false},
    };
    char* files[6];
    size_t n[6];
    for (int i = 0; i < 6; i++) {
        snprintf(args, sizeof args, "train --pretrained_model_name_or_path %s/base --dataset %s/pairs.jsonl "
                 "--objective dpo --train_batch_size 2 --beta_dpo 100 --lora_rank 2 --use_ema false "
                 "--lora_target_modules to_q,to_v,ff.net.2,conv2 --learning_rate 1e-2 --validation_images 0 "
                 "--validation_grid_seeds 0 --log_every 1 --max_train_steps %d %s --output_dir %s/%s",
                 dir, dir, runs[i].steps, runs[i].extra, dir, runs[i].name);
        cr_assert_eq(run_cli(args, out, sizeof out), 0, "%s", out);
        if (runs[i].resume) cr_assert(strstr(out, "resuming from"), "%s", out);
        snprintf(path, sizeof path, "%s/%s/pytorch_lora_weights.safetensors", dir, runs[i].name);
        files[i] = read_file(path, &n[i], err, sizeof err);
        cr_assert(files[i], "%s", err);
    }
    bool same[6];
    for (int i = 0; i < 6; i++) same[i] = n[i] == n[0] && !memcmp(files[i], files[0], n[0]);
    cr_assert(same[1], "gradient checkpointing changed the adapters trained with dropout");
    cr_assert(same[3], "a resumed run with dropout differs from the uninterrupted one");
    cr_assert(!same[4], "dropout 0.3 trains the same adapters as no dropout: the mask has no effect");
    cr_assert(n[4] == n[5] && !memcmp(files[4], files[5], n[4]), "--lora_dropout 0 differs from no dropout");
    for (int i = 0; i < 6; i++) free(files[i]);
}
