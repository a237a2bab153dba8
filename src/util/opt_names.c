// opt_names.c: see opt_names.h.
#include "util/opt_names.h"

#include <string.h>

void opt_name_normalize(const char* name, char* out, size_t outlen) {
    size_t i = 0;
    for (; name[i] && i + 1 < outlen; i++) out[i] = name[i] == '-' ? '_' : name[i];
    out[i] = 0;
}

#define DIST_CAP 64

int opt_edit_distance(const char* a, const char* b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > DIST_CAP) la = DIST_CAP;
    if (lb > DIST_CAP) lb = DIST_CAP;
    int row[DIST_CAP + 1];
    for (size_t j = 0; j <= lb; j++) row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int up = row[j], sub = diag + (a[i - 1] != b[j - 1]);
            int best = up + 1 < row[j - 1] + 1 ? up + 1 : row[j - 1] + 1;
            row[j] = sub < best ? sub : best;
            diag = up;
        }
    }
    return row[lb];
}

void opt_suggest_init(OptSuggest* s, const char* typed) { *s = (OptSuggest){typed, NULL, DIST_CAP + 1}; }

void opt_suggest_offer(OptSuggest* s, const char* candidate) {
    int d = opt_edit_distance(s->typed, candidate);
    if (d < s->dist) s->dist = d, s->best = candidate;
}

const char* opt_suggest_result(const OptSuggest* s) {
    int len = (int)strlen(s->typed), limit = len / 3 > 2 ? len / 3 : 2;
    return s->best && s->dist <= limit && s->dist < len ? s->best : NULL;
}

// Flags of diffusers' train_diffusion_dpo.py / train_text_to_image.py, SimpleTuner
// and sd-scripts whose meaning vkpref cannot give.
static const struct {
    const char* name;
    const char* why;
} UNSUPPORTED[] = {
    {"mixed_precision", "vkpref computes in fp32 (--frozen_dtype fp16 holds the weights nothing trains in F16, "
                        "--save_f16 stores the final weights as F16)"},
    {"allow_tf32", "Vulkan compute runs in fp32; there is no TF32 mode"},
    {"report_to", "every step is logged to <output_dir>/train_log.csv (docs/TRAINING.md)"},
    {"tracker_name", "every step is logged to <output_dir>/train_log.csv (docs/TRAINING.md)"},
    {"tracker_project_name", "every step is logged to <output_dir>/train_log.csv (docs/TRAINING.md)"},
    {"logging_dir", "every step is logged to <output_dir>/train_log.csv (docs/TRAINING.md)"},
    {"use_8bit_adam", "the optimizer is fp32 AdamW on the device; there is no 8-bit variant"},
    {"use_adafactor", "the optimizer is AdamW"},
    {"optimizer", "the optimizer is AdamW (--adam_beta1, --adam_beta2, --adam_epsilon, --adam_weight_decay)"},
    {"enable_xformers_memory_efficient_attention", "attention is vkpref's own Vulkan kernel"},
    {"push_to_hub", "vkpref writes a local pipeline folder (--output_dir); upload it yourself"},
    {"hub_token", "vkpref writes a local pipeline folder (--output_dir); upload it yourself"},
    {"hub_model_id", "vkpref writes a local pipeline folder (--output_dir); upload it yourself"},
    {"revision", "models are local pipeline folders (--pretrained_model_name_or_path DIR)"},
    {"cache_dir", "datasets are local manifests (--dataset FILE.jsonl); nothing is downloaded"},
    {"dataset_split_name", "a manifest is one split (convert each split's shards into its own manifest: tools/pickapic/)"},
    {"pretrained_vae_model_name_or_path", "vkpref's pipelines denoise pixels; there is no VAE"},
    {"vae_encode_batch_size", "vkpref's pipelines denoise pixels; there is no VAE"},
    {"sdxl", "vkpref trains its own SD-1.5-style pipelines; there is no SDXL"},
    {"is_turbo", "vkpref trains its own SD-1.5-style pipelines"},
    {"dataloader_num_workers", "batches are built on the host in the training process"},
    {"local_rank", "a run uses one device (--device N)"},
    {"scale_lr", "give the learning rate to use with --learning_rate"},
    {"snr_gamma", "the loss has no min-SNR weighting"},
    {"noise_offset", "the noise has no offset"},
    {"prediction_type", "the prediction type is the pipeline's scheduler config (epsilon)"},
    {"lr_num_cycles", "the schedulers are constant, constant_with_warmup, linear and cosine (half a cycle)"},
    {"lr_power", "the schedulers are constant, constant_with_warmup, linear and cosine"},
    {"choice_model", "preferences come from the manifest's labels (make one with `vkpref make-pairs`)"},
    {"hard_skip_resume", "--resume_from_checkpoint continues the batches exactly where the run stopped"},
};

const char* opt_unsupported_reason(const char* name) {
    for (size_t i = 0; i < sizeof UNSUPPORTED / sizeof *UNSUPPORTED; i++)
        if (!strcmp(name, UNSUPPORTED[i].name)) return UNSUPPORTED[i].why;
    return NULL;
}
