// fuzz_model_config.c: the UNet, text encoder and scheduler config readers. A
// config that parses is written back and must parse again to the same values.
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "model/clip.h"
#include "model/schedule.h"
#include "model/unet_config.h"
#include "util/check.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t n) {
    char* text = fuzz_cstring(data, n);
    char err[1024];
    UNetConfig u, u2;
    if (unet_config_parse(&u, text, "unet/config.json", err, sizeof err) == 0) {
        char* back = unet_config_to_json(&u);
        if (unet_config_parse(&u2, back, "written", err, sizeof err) || memcmp(&u, &u2, sizeof u))
            die("fuzz_model_config: UNet config does not round-trip: %s", err);
        free(back);
    }
    ClipConfig c, c2;
    if (clip_config_parse(&c, text, "text_encoder/config.json", err, sizeof err) == 0) {
        char* back = clip_config_to_json(&c);
        if (clip_config_parse(&c2, back, "written", err, sizeof err))
            die("fuzz_model_config: text encoder config does not round-trip: %s", err);
        free(back);
    }
    SchedulerConfig s, s2;
    if (scheduler_config_parse(&s, text, "scheduler_config.json", err, sizeof err) == 0) {
        char* back = scheduler_config_to_json(&s);
        if (scheduler_config_parse(&s2, back, "written", err, sizeof err))
            die("fuzz_model_config: scheduler config does not round-trip: %s", err);
        NoiseSchedule ns;
        schedule_init(&ns, &s);
        schedule_free(&ns);
        free(back);
    }
    free(text);
    return 0;
}
