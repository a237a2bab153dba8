// lr_schedule.h: learning rate per optimizer step, as diffusers' get_scheduler:
// constant, constant_with_warmup, linear (warm-up then linear decay to 0) and
// cosine (warm-up then half-cosine decay to 0).
#pragma once

typedef enum LrSchedule { LR_CONSTANT, LR_CONSTANT_WITH_WARMUP, LR_LINEAR, LR_COSINE } LrSchedule;

int lr_schedule_parse(const char* name, LrSchedule* out);  // 0 ok, -1 unknown
// step counts from 0 (the first optimizer step).
double lr_at(LrSchedule s, double peak, int step, int warmup, int total);
