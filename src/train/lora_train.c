// lora_train.c: see lora_train.h.
#include "train/lora_train.h"

#include <stdio.h>

#include "util/check.h"

int lora_train_check(const TrainConfig* c, bool train_text_encoder, char* err, size_t errlen) {
    LoraFormat fmt;
    if (c->lora_rank < 0) return fail(err, errlen, "--lora_rank %d: must be >= 0 (0: no LoRA)", c->lora_rank);
    if (!lora_format_parse(c->lora_format, &fmt))
        return fail(err, errlen, "--lora_format %s: use peft or kohya", c->lora_format);
    if (!lora_training(c)) return 0;
    if (!(c->lora_dropout >= 0 && c->lora_dropout < 1))
        return fail(err, errlen, "--lora_dropout %g: must be in [0, 1) (1 would drop every input)", c->lora_dropout);
    if (c->lora_alpha < 0) return fail(err, errlen, "--lora_alpha %g: must be > 0 (0: alpha = rank)", c->lora_alpha);
    if (train_text_encoder)
        return fail(err, errlen, "--lora_rank %d: LoRA adapts the UNet only; set --train_text_encoder false",
                    c->lora_rank);
    if (!*c->pretrained_model_name_or_path)
        return fail(err, errlen, "--lora_rank %d: LoRA adapts a trained model: give --pretrained_model_name_or_path",
                    c->lora_rank);
    return 0;
}

int lora_train_setup(LoraSet* s, DiffusionPipeline* p, const TrainConfig* c, char* err, size_t errlen) {
    float alpha = c->lora_alpha > 0 ? (float)c->lora_alpha : (float)c->lora_rank;
    if (lora_set_create(s, p->unet_ps.gpu, &p->unet_ps, c->lora_rank, alpha, c->lora_target_modules, err, errlen))
        return -1;
    param_store_alloc(&s->ps, true, true, c->use_ema);
    lora_set_init(s, (uint64_t)c->seed * 2 + 3);
    s->dropout = (float)c->lora_dropout;
    if (c->use_ema) param_store_reset_ema(&s->ps);
    return 0;
}

int lora_train_save(const LoraSet* s, const TrainConfig* c, const char* dir, char* err, size_t errlen) {
    LoraFormat fmt = LORA_FORMAT_PEFT;
    lora_format_parse(c->lora_format, &fmt);
    char path[8192];
    snprintf(path, sizeof path, "%s/" LORA_WEIGHTS_FILE, dir);
    return lora_save(s, c->use_ema && s->ps.has_ema ? SLOT_EMA : SLOT_VALUE, fmt, path, err, errlen);
}
