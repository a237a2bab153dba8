// checkpoint.c: see checkpoint.h.
#include "train/checkpoint.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/lora.h"
#include "model/weights.h"
#include "util/check.h"
#include "util/fsutil.h"
#include "util/json_fields.h"

#define STATE_FORMAT 1

// The stores and slots a resume needs, in file order.
typedef struct StatePart {
    const char* prefix;
    ParamStore* ps;
    ParamSlot slot;
} StatePart;

// With LoRA (lora != NULL) only the adapters train: their store is the state.
static int state_parts(const DiffusionPipeline* p, const LoraSet* lora, bool train_text_encoder, bool use_ema,
                       StatePart out[8]) {
    int n = 0;
    ParamStore* unet = lora ? (ParamStore*)&lora->ps : (ParamStore*)&p->unet_ps;
    ParamStore* text = (ParamStore*)&p->text_ps;
    const char *pv = lora ? "lora/value/" : "unet/value/", *pm = lora ? "lora/m/" : "unet/m/";
    out[n++] = (StatePart){pv, unet, SLOT_VALUE};
    out[n++] = (StatePart){pm, unet, SLOT_M};
    out[n++] = (StatePart){lora ? "lora/v/" : "unet/v/", unet, SLOT_V};
    if (use_ema) out[n++] = (StatePart){lora ? "lora/ema/" : "unet/ema/", unet, SLOT_EMA};
    if (train_text_encoder) {
        out[n++] = (StatePart){"text_encoder/value/", text, SLOT_VALUE};
        out[n++] = (StatePart){"text_encoder/m/", text, SLOT_M};
        out[n++] = (StatePart){"text_encoder/v/", text, SLOT_V};
    }
    return n;
}

static int cmp_int(const void* a, const void* b) { return *(const int*)a - *(const int*)b; }

// "checkpoint-<digits>" -> step, else -1.
static int checkpoint_step(const char* name) {
    size_t k = strlen(CHECKPOINT_PREFIX);
    if (strncmp(name, CHECKPOINT_PREFIX, k) || !name[k]) return -1;
    long v = 0;
    for (const char* c = name + k; *c; c++) {
        if (*c < '0' || *c > '9' || v > 100000000) return -1;
        v = v * 10 + (*c - '0');
    }
    return (int)v;
}

int* checkpoint_list(const char* output_dir, const char* run_id, int* n) {
    *n = 0;
    int cap = 16, *steps = xmalloc((size_t)cap * sizeof *steps);
    DIR* d = opendir(output_dir);
    if (!d) return steps;
    struct dirent* de;
    while ((de = readdir(d))) {
        int s = checkpoint_step(de->d_name);
        if (s < 0) continue;
        char path[8192];
        snprintf(path, sizeof path, "%s/%s/train_state.json", output_dir, de->d_name);
        if (!path_exists(path)) continue;  // not finished (cannot happen with atomic folders, but be safe)
        if (run_id) {
            char dir[8192], err[1024];
            CheckpointState st;
            snprintf(dir, sizeof dir, "%s/%s", output_dir, de->d_name);
            if (checkpoint_read_state(dir, &st, err, sizeof err) || strcmp(st.run_id, run_id)) continue;
        }
        if (*n == cap) steps = xrealloc(steps, (size_t)(cap *= 2) * sizeof *steps);
        steps[(*n)++] = s;
    }
    closedir(d);
    qsort(steps, (size_t)*n, sizeof *steps, cmp_int);
    return steps;
}

int checkpoint_save(const DiffusionPipeline* p, const LoraSet* lora, bool train_text_encoder, bool use_ema,
                    const char* config_json,
                    const CheckpointState* st, const char* output_dir, char* out_path, size_t out_len, char* err,
                    size_t errlen) {
    char path[8192];
    snprintf(out_path, out_len, "%s/" CHECKPOINT_PREFIX "%d", output_dir, st->step);
    if (remove_stale_temps(out_path, err, errlen) < 0) return -1;
    AtomicDir d;
    if (atomic_dir_begin(&d, out_path, err, errlen)) return -1;
    int r = 0;
    if (lora) {  // the adapters alone (the base is --pretrained_model_name_or_path, unchanged)
        snprintf(path, sizeof path, "%s/" LORA_WEIGHTS_FILE, d.tmp_path);
        r = lora_save(lora, use_ema && lora->ps.has_ema ? SLOT_EMA : SLOT_VALUE, LORA_FORMAT_PEFT, path, err, errlen);
    } else {
        r = pipeline_save_model(p, d.tmp_path, use_ema, false, err, errlen);
    }
    if (!r) {
        WeightsWriter w;
        weights_writer_init(&w, ST_F32);
        StatePart parts[8];
        int np = state_parts(p, lora, train_text_encoder, use_ema, parts);
        for (int i = 0; i < np; i++) weights_writer_add(&w, parts[i].ps, parts[i].slot, parts[i].prefix);
        snprintf(path, sizeof path, "%s/train_state.safetensors", d.tmp_path);
        r = weights_writer_finish(&w, path, err, errlen);
    }
    if (!r) {
        snprintf(path, sizeof path, "%s/train_config.json", d.tmp_path);
        r = write_file_atomic(path, config_json, strlen(config_json), err, errlen);
    }
    if (!r) {
        char state[256];
        int n = snprintf(state, sizeof state,
                         "{\n  \"format\": %d,\n  \"step\": %d,\n  \"run_id\": \"%s\",\n  \"processes\": %d\n}\n",
                         STATE_FORMAT, st->step, st->run_id, st->processes > 0 ? st->processes : 1);
        snprintf(path, sizeof path, "%s/train_state.json", d.tmp_path);
        r = write_file_atomic(path, state, (size_t)n, err, errlen);
    }
    if (r) {
        atomic_dir_abort(&d);
        return -1;
    }
    return atomic_dir_commit(&d, err, errlen);
}

int checkpoint_resolve(const char* spec, const char* output_dir, const char* run_id, char* out, size_t out_len,
                       char* err, size_t errlen) {
    if (!strcmp(spec, "latest")) {
        int n, *steps = checkpoint_list(output_dir, run_id && *run_id ? run_id : NULL, &n);
        int last = n ? steps[n - 1] : -1;
        free(steps);
        if (last < 0) {
            snprintf(err, errlen, "--resume_from_checkpoint latest: no finished checkpoint-<step> folder in %s",
                     output_dir);
            return -1;
        }
        snprintf(out, out_len, "%s/" CHECKPOINT_PREFIX "%d", output_dir, last);
        return 0;
    }
    char path[8192];
    snprintf(path, sizeof path, "%s/train_state.json", spec);
    if (!path_exists(path)) {
        snprintf(err, errlen, "--resume_from_checkpoint %s: not a checkpoint folder (no train_state.json)", spec);
        return -1;
    }
    snprintf(out, out_len, "%s", spec);
    return 0;
}

int checkpoint_state_parse(const char* text, const char* source, CheckpointState* st, char* err, size_t errlen) {
    cJSON* root = json_parse_object(text, source, err, errlen);
    if (!root) return -1;
    JsonFields f = {root, source, err, errlen, 0};
    int format = json_int(&f, "format", 0, true);
    if (!f.failed && format != STATE_FORMAT) json_fail(&f, "format", "%d is not supported (only %d)", format, STATE_FORMAT);
    st->step = json_int_in(&f, "step", 0, 0, INT_MAX);
    if (!f.failed && !cJSON_GetObjectItemCaseSensitive(root, "step")) json_fail(&f, "step", "missing");
    const cJSON* id = cJSON_GetObjectItemCaseSensitive(root, "run_id");  // absent in older checkpoints
    if (!f.failed && id && (!cJSON_IsString(id) || strlen(id->valuestring) >= sizeof st->run_id))
        json_fail(&f, "run_id", "must be a string of at most %d characters", (int)sizeof st->run_id - 1);
    snprintf(st->run_id, sizeof st->run_id, "%s", !f.failed && cJSON_IsString(id) ? id->valuestring : "");
    st->processes = f.failed ? 1 : json_int_in(&f, "processes", 1, 1, INT_MAX);  // absent in older checkpoints
    cJSON_Delete(root);
    return f.failed ? -1 : 0;
}

int checkpoint_read_state(const char* dir, CheckpointState* st, char* err, size_t errlen) {
    char path[8300];
    snprintf(path, sizeof path, "%s/train_state.json", dir);
    char* text = json_read_file(path, err, errlen);
    if (!text) return -1;
    int pr = checkpoint_state_parse(text, path, st, err, errlen);
    free(text);
    return pr;
}

int checkpoint_load_state(DiffusionPipeline* p, LoraSet* lora, bool train_text_encoder, bool use_ema,
                          const char* dir, CheckpointState* st, char* err, size_t errlen) {
    if (checkpoint_read_state(dir, st, err, errlen)) return -1;
    char path[8192];
    snprintf(path, sizeof path, "%s/train_state.safetensors", dir);
    SafeTensors* sf = st_open(path, err, errlen);
    if (!sf) return -1;
    StatePart parts[8];
    int np = state_parts(p, lora, train_text_encoder, use_ema, parts), r = 0;
    for (int i = 0; i < np && !r; i++) r = weights_load_slot(parts[i].ps, parts[i].slot, sf, parts[i].prefix, err, errlen);
    st_close(sf);
    if (r) {
        size_t k = strlen(err);
        snprintf(err + k, errlen - k, " (was the checkpoint written with other use_ema/train_text_encoder/lora settings?)");
    }
    return r;
}
