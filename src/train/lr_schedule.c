// lr_schedule.c: see lr_schedule.h. diffusers (transformers.optimization)
// multiplies the peak rate by: warm-up (step / warmup) while step < warmup, then
// 1 (constant), (total - step) / (total - warmup) (linear) or
// 0.5 (1 + cos(pi progress)) (cosine); "constant" ignores the warm-up.
#include "train/lr_schedule.h"

#include <math.h>
#include <string.h>

int lr_schedule_parse(const char* name, LrSchedule* out) {
    static const char* names[] = {"constant", "constant_with_warmup", "linear", "cosine"};
    for (int i = 0; i < 4; i++)
        if (!strcmp(name, names[i])) return *out = (LrSchedule)i, 0;
    return -1;
}

double lr_at(LrSchedule s, double peak, int step, int warmup, int total) {
    if (s == LR_CONSTANT) return peak;
    if (step < warmup) return peak * (double)step / (double)(warmup > 0 ? warmup : 1);
    if (s == LR_CONSTANT_WITH_WARMUP) return peak;
    double progress = total > warmup ? (double)(step - warmup) / (double)(total - warmup) : 1.0;
    if (progress > 1) progress = 1;
    if (s == LR_LINEAR) return peak * (1.0 - progress);
    return peak * 0.5 * (1.0 + cos(M_PI * progress));
}
