// run_dir.c: see run_dir.h.
#include "train/run_dir.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "train/checkpoint.h"
#include "util/check.h"
#include "util/fsutil.h"
#include "util/json_fields.h"

#define RUN_FILE "run.json"
#define SWAP_NEW ".pipeline-new"   // the complete new pipeline, components moved out of it one by one
#define SWAP_OLD ".pipeline-old"   // the replaced components, deleted once the swap is done

// The entries a final pipeline folder consists of (pipeline_save_model), model_index.json last:
// a reader that finds it finds the components it lists.
static const char* const PIPELINE_PARTS[] = {"unet", "text_encoder", "tokenizer", "scheduler", "vae", "model_index.json"};
#define NPARTS (sizeof PIPELINE_PARTS / sizeof *PIPELINE_PARTS)

// What a run leaves in its folder, besides checkpoint-<step> folders.
static const char* const RUN_FILES[] = {RUN_FILE, "train_config.json", "train_log.csv", "model_index.json"};

bool run_dir_holds_run(const char* dir) {
    for (size_t i = 0; i < sizeof RUN_FILES / sizeof *RUN_FILES; i++) {
        char* p = path_join(dir, RUN_FILES[i]);
        bool e = path_exists(p);
        free(p);
        if (e) return true;
    }
    int n;
    free(checkpoint_list(dir, NULL, &n));
    return n > 0;
}

// Moves every component of SWAP_NEW into dir (old ones aside into SWAP_OLD), then
// removes both journal folders. Safe to repeat after a crash at any point.
static int finish_swap(const char* dir, char* err, size_t errlen) {
    char *nw = path_join(dir, SWAP_NEW), *old = path_join(dir, SWAP_OLD);
    int r = mkdir_p(old, err, errlen);
    for (size_t i = 0; i < NPARTS && !r; i++) {
        char *src = path_join(nw, PIPELINE_PARTS[i]), *dst = path_join(dir, PIPELINE_PARTS[i]),
             *aside = path_join(old, PIPELINE_PARTS[i]);
        if (path_exists(src)) {
            if (path_exists(dst)) {
                r = remove_tree(aside, err, errlen);
                if (!r && rename(dst, aside)) r = fail(err, errlen, "%s: cannot move aside: %s", dst, strerror(errno));
            }
            if (!r && rename(src, dst)) r = fail(err, errlen, "%s: cannot rename to %s: %s", src, dst, strerror(errno));
        }
        free(src), free(dst), free(aside);
    }
    if (!r) r = fsync_dir(dir, err, errlen);
    if (!r) r = remove_tree(nw, err, errlen);
    if (!r) r = remove_tree(old, err, errlen);
    free(nw), free(old);
    return r;
}

int run_dir_recover(const char* dir, char* err, size_t errlen) {
    if (err && errlen) *err = 0;
    char* nw = path_join(dir, SWAP_NEW);
    bool swapping = path_exists(nw);
    free(nw);
    if (swapping && finish_swap(dir, err, errlen)) return -1;
    char* old = path_join(dir, SWAP_OLD);  // a swap that finished moving but not deleting
    int r = remove_tree(old, err, errlen);
    free(old);
    if (r) return -1;
    // "<name>.tmp-XXXXXX" / "<name>.old-XXXXXX" of checkpoints and the final pipeline.
    DIR* d = opendir(dir);
    if (!d) return 0;
    struct dirent* de;
    while (!r && (de = readdir(d))) {
        const char* s = de->d_name;
        const char *t = strstr(s, ".tmp-"), *o = strstr(s, ".old-");
        const char* mark = t ? t : o;
        if (!mark || strlen(mark + 5) != 6) continue;
        if (strncmp(s, CHECKPOINT_PREFIX, strlen(CHECKPOINT_PREFIX)) && strncmp(s, ".pipeline", 9)) continue;
        char* full = path_join(dir, s);
        r = remove_tree(full, err, errlen);
        free(full);
    }
    closedir(d);
    return r;
}

int run_dir_clear(const char* dir, char* err, size_t errlen) {
    int n, *steps = checkpoint_list(dir, NULL, &n), r = 0;
    for (int i = 0; i < n && !r; i++) {
        char path[8192];
        snprintf(path, sizeof path, "%s/" CHECKPOINT_PREFIX "%d", dir, steps[i]);
        r = remove_tree(path, err, errlen);
    }
    free(steps);
    const char* files[] = {RUN_FILE, "train_log.csv", "validation"};
    for (size_t i = 0; i < sizeof files / sizeof *files && !r; i++) {
        char* p = path_join(dir, files[i]);
        r = remove_tree(p, err, errlen);
        free(p);
    }
    return r;
}

void run_id_new(char id[RUN_ID_LEN + 1]) {
    uint64_t v = 0;
    int fd = open("/dev/urandom", O_RDONLY);
    if (fd < 0 || read(fd, &v, sizeof v) != (ssize_t)sizeof v) {
        struct timespec ts;  // no /dev/urandom: time and pid are unique enough for one folder
        clock_gettime(CLOCK_REALTIME, &ts);
        v = (uint64_t)ts.tv_sec * 1000000007u ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32);
    }
    if (fd >= 0) close(fd);
    snprintf(id, RUN_ID_LEN + 1, "%016llx", (unsigned long long)v);
}

int run_id_read(const char* dir, char id[RUN_ID_LEN + 1], char* err, size_t errlen) {
    *id = 0;
    char* path = path_join(dir, RUN_FILE);
    if (!path_exists(path)) {
        free(path);
        return 0;
    }
    char* text = json_read_file(path, err, errlen);
    cJSON* root = text ? json_parse_object(text, path, err, errlen) : NULL;
    free(text);
    int r = -1;
    if (root) {
        const cJSON* v = cJSON_GetObjectItemCaseSensitive(root, "run_id");
        if (cJSON_IsString(v) && strlen(v->valuestring) == RUN_ID_LEN) {
            memcpy(id, v->valuestring, RUN_ID_LEN + 1);
            r = 0;
        } else {
            fail(err, errlen, "%s: \"run_id\" must be a string of %d hex digits", path, RUN_ID_LEN);
        }
        cJSON_Delete(root);
    }
    free(path);
    return r;
}

int run_id_write(const char* dir, const char* id, char* err, size_t errlen) {
    char text[64];
    int n = snprintf(text, sizeof text, "{\n  \"run_id\": \"%s\"\n}\n", id);
    char* path = path_join(dir, RUN_FILE);
    int r = write_file_atomic(path, text, (size_t)n, err, errlen);
    free(path);
    return r;
}

int run_dir_prune(const char* dir, const char* run_id, int keep, int verified, char* err, size_t errlen) {
    if (keep <= 0) return 0;
    int n, *steps = checkpoint_list(dir, run_id, &n), r = 0;
    // The newest `keep`, plus the newest verified one when it is older than those.
    for (int i = 0; i < n - keep && !r; i++) {
        if (steps[i] == verified) continue;
        char path[8192], aside[8300];
        snprintf(path, sizeof path, "%s/" CHECKPOINT_PREFIX "%d", dir, steps[i]);
        snprintf(aside, sizeof aside, "%s.old-XXXXXX", path);
        // Renamed first, so a kill while deleting leaves a name the next start removes
        // instead of a half-deleted checkpoint that looks finished.
        int fd = mkstemp(aside);
        if (fd < 0) {
            r = fail(err, errlen, "%s: cannot create %s: %s", path, aside, strerror(errno));
            break;
        }
        close(fd);
        if (unlink(aside) || rename(path, aside)) {
            r = fail(err, errlen, "%s: cannot rename to %s: %s", path, aside, strerror(errno));
            break;
        }
        r = remove_tree(aside, err, errlen);
    }
    free(steps);
    return r;
}

int run_dir_save_pipeline(const DiffusionPipeline* p, const char* dir, bool use_ema, bool f16, char* err,
                          size_t errlen) {
    if (err && errlen) *err = 0;
    char* nw = path_join(dir, SWAP_NEW);
    AtomicDir d;
    // Written whole under a temporary name; only a complete folder becomes SWAP_NEW.
    if (remove_stale_temps(nw, err, errlen) < 0 || atomic_dir_begin(&d, nw, err, errlen)) {
        free(nw);
        return -1;
    }
    free(nw);
    if (pipeline_save_model(p, d.tmp_path, use_ema, f16, err, errlen)) {
        atomic_dir_abort(&d);
        return -1;
    }
    if (atomic_dir_commit(&d, err, errlen)) return -1;
    return finish_swap(dir, err, errlen);
}
