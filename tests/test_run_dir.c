// test_run_dir.c: the output-folder rules of a training run (train/run_dir.h),
// on folders laid out by hand: pruning touches only the run's own checkpoints
// and keeps the verified one, leftovers of a killed run are cleaned, and an
// unfinished pipeline swap is rolled forward. No device needed.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"
#include "train/checkpoint.h"
#include "train/run_dir.h"
#include "util/fsutil.h"

static void put(const char* dir, const char* rel, const char* text) {
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    char* parent = strdup(path);
    *strrchr(parent, '/') = 0;
    cr_assert_eq(mkdir_p(parent, err, sizeof err), 0, "%s", err);
    free(parent);
    cr_assert_eq(write_file_atomic(path, text, strlen(text), err, sizeof err), 0, "%s", err);
}

static bool has(const char* dir, const char* rel) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    return path_exists(path);
}

// A finished checkpoint-<step> of run `id` ("" for one written before run ids).
static void fake_checkpoint(const char* dir, int step, const char* id) {
    char rel[128], text[256];
    snprintf(rel, sizeof rel, CHECKPOINT_PREFIX "%d/train_state.json", step);
    snprintf(text, sizeof text, "{\"format\": 1, \"step\": %d%s%s%s}", step, *id ? ", \"run_id\": \"" : "", id,
             *id ? "\"" : "");
    put(dir, rel, text);
}

Test(run_dir, pruning_touches_only_this_run_and_keeps_the_verified_checkpoint) {
    char d[64], err[512];
    temp_dir(d, "prune");
    const char *mine = "00000000000000aa", *other = "00000000000000bb";
    for (int s = 1; s <= 5; s++) fake_checkpoint(d, s, mine);
    fake_checkpoint(d, 7, other);
    fake_checkpoint(d, 8, "");
    int n;
    free(checkpoint_list(d, mine, &n));
    cr_assert_eq(n, 5);
    // Keep the newest 2 of this run, and checkpoint-2, the newest verified.
    cr_assert_eq(run_dir_prune(d, mine, 2, 2, err, sizeof err), 0, "%s", err);
    const bool want[9] = {[2] = true, [4] = true, [5] = true, [7] = true, [8] = true};
    for (int s = 1; s <= 8; s++) {
        char rel[64];
        snprintf(rel, sizeof rel, CHECKPOINT_PREFIX "%d", s);
        cr_assert_eq(has(d, rel), want[s], "checkpoint-%d %s", s, want[s] ? "deleted" : "kept");
    }
    char out[512];
    cr_assert_eq(checkpoint_resolve("latest", d, mine, out, sizeof out, err, sizeof err), 0, "%s", err);
    cr_assert(strstr(out, CHECKPOINT_PREFIX "5"), "latest of this run: %s", out);
    remove_temp_dir(d);
}

Test(run_dir, leftovers_of_a_killed_run_are_cleaned_and_a_swap_rolls_forward) {
    char d[64], err[512];
    temp_dir(d, "recover");
    cr_assert(!run_dir_holds_run(d));
    fake_checkpoint(d, 3, "00000000000000aa");
    put(d, CHECKPOINT_PREFIX "2.old-Ab3dE9/train_state.json", "{}");  // killed while pruning
    put(d, CHECKPOINT_PREFIX "4.tmp-XyZ123/unet/x", "partial");        // killed while saving
    // Killed in the middle of the final pipeline's swap: unet already moved in,
    // text_encoder and model_index.json still waiting in the journal.
    put(d, "unet/config.json", "new unet");
    put(d, ".pipeline-old/unet/config.json", "old unet");
    put(d, "text_encoder/config.json", "old text");
    put(d, ".pipeline-new/text_encoder/config.json", "new text");
    put(d, ".pipeline-new/model_index.json", "{\"new\": true}");
    cr_assert(run_dir_holds_run(d));
    cr_assert_eq(run_dir_recover(d, err, sizeof err), 0, "%s", err);
    cr_assert(!has(d, CHECKPOINT_PREFIX "2.old-Ab3dE9") && !has(d, CHECKPOINT_PREFIX "4.tmp-XyZ123"));
    cr_assert(has(d, CHECKPOINT_PREFIX "3/train_state.json"), "a finished checkpoint stays");
    cr_assert(!has(d, ".pipeline-new") && !has(d, ".pipeline-old"));
    char path[512];
    const char* want[][2] = {{"unet/config.json", "new unet"}, {"text_encoder/config.json", "new text"},
                             {"model_index.json", "{\"new\": true}"}};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", d, want[i][0]);
        char* t = read_file(path, NULL, err, sizeof err);
        cr_assert(t, "%s", err);
        cr_assert_str_eq(t, want[i][1], "%s: the swap finished with the new component", want[i][0]);
        free(t);
    }
    remove_temp_dir(d);
}

Test(run_dir, clear_removes_the_earlier_run_and_ids_round_trip) {
    char d[64], err[512], id[RUN_ID_LEN + 1], back[RUN_ID_LEN + 1];
    temp_dir(d, "clear");
    run_id_new(id);
    cr_assert_eq(strlen(id), RUN_ID_LEN);
    cr_assert_eq(run_id_write(d, id, err, sizeof err), 0, "%s", err);
    cr_assert_eq(run_id_read(d, back, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(id, back);
    fake_checkpoint(d, 1, id);
    put(d, "train_log.csv", "step\n");
    put(d, "validation/step-000000.png", "png");
    cr_assert_eq(run_dir_clear(d, err, sizeof err), 0, "%s", err);
    cr_assert(!run_dir_holds_run(d), "nothing of the earlier run is left");
    put(d, "run.json", "{\"run_id\": 5}");
    cr_assert_eq(run_id_read(d, back, err, sizeof err), -1);
    cr_assert(strstr(err, "run.json") && strstr(err, "run_id"), "%s", err);
    remove_temp_dir(d);
}

Test(run_dir, a_checkpoint_with_a_bad_run_id_is_refused_naming_the_key) {
    char d[64], err[512];
    temp_dir(d, "badid");
    put(d, CHECKPOINT_PREFIX "1/train_state.json", "{\"format\": 1, \"step\": 1, \"run_id\": 5}");
    char path[256];
    snprintf(path, sizeof path, "%s/" CHECKPOINT_PREFIX "1", d);
    CheckpointState st;
    cr_assert_eq(checkpoint_read_state(path, &st, err, sizeof err), -1);
    cr_assert(strstr(err, "run_id"), "%s", err);
    int n;
    free(checkpoint_list(d, "00000000000000aa", &n));
    cr_assert_eq(n, 0, "an unreadable checkpoint belongs to no run");
    remove_temp_dir(d);
}
