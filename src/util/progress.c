// progress.c: see progress.h.
#include "util/progress.h"

#include <stdio.h>
#include <unistd.h>

#include "util/timer.h"

void progress_begin(Progress* p, const char* label, int total, int already_done) {
    *p = (Progress){.label = label, .total = total, .done = already_done, .start = now_seconds(),
                    .tty = isatty(2) != 0};
    p->start_done = already_done;
}

static void format_eta(char* out, size_t n, double s) {
    if (s < 0 || s > 1e7) snprintf(out, n, "?");
    else if (s >= 3600) snprintf(out, n, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
    else snprintf(out, n, "%dm%02ds", (int)(s / 60), (int)s % 60);
}

void progress_update(Progress* p, int done, const char* extra) {
    p->done = done;
    double now = now_seconds();
    double interval = p->tty ? 0.1 : 10.0;
    if (now - p->last_draw < interval && done < p->total) return;
    p->last_draw = now;
    double rate = (done - p->start_done) / (now - p->start + 1e-9);
    char eta[32];
    format_eta(eta, sizeof eta, rate > 0 ? (p->total - done) / rate : -1);
    int width = 24, fill = p->total ? (int)((double)width * done / p->total) : 0;
    char bar[32];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
    bar[width] = 0;
    fprintf(stderr, "%s%s [%s] %d/%d %.2f it/s ETA %s %s%s", p->tty ? "\r\033[K" : "", p->label, bar, done, p->total,
            rate, eta, extra ? extra : "", p->tty ? "" : "\n");
    fflush(stderr);
    p->visible = p->tty;
}

void progress_pause(Progress* p) {
    if (p->visible) fprintf(stderr, "\r\033[K");
    p->visible = false;
    p->last_draw = 0;  // redraw at the next update
}

void progress_end(Progress* p) {
    p->last_draw = 0;
    progress_update(p, p->done, NULL);
    if (p->tty) fputc('\n', stderr);
    p->visible = false;
}
