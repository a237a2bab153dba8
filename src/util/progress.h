// progress.h: a one-line progress bar on stderr (step, loss, it/s, ETA). It
// redraws in place on a terminal and prints a line every few seconds otherwise
// (logs, CI); progress_pause() clears it so other messages print cleanly.
#pragma once
#include <stdbool.h>

typedef struct Progress {
    const char* label;
    int total, done;
    double start, last_draw;
    int start_done;
    bool tty, visible;
} Progress;

void progress_begin(Progress* p, const char* label, int total, int already_done);
// extra: e.g. "loss 0.1234 lr 1e-3"; drawn at most ~10 times a second.
void progress_update(Progress* p, int done, const char* extra);
void progress_pause(Progress* p);
void progress_end(Progress* p);
