// train_log.c: see train_log.h.
#include "report/train_log.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/check.h"
#include "util/fsutil.h"

// Splits line (modified in place) at commas into at most max cells; returns the count.
static int split(char* line, char** cells, int max) {
    int n = 0;
    for (char* p = line;;) {
        char* c = strchr(p, ',');
        if (n < max) cells[n] = p;
        n++;
        if (!c) break;
        *c = 0;
        p = c + 1;
    }
    return n;
}

int train_log_read(TrainLog* t, const char* path, char* err, size_t errlen) {
    memset(t, 0, sizeof *t);
    char* text = read_file(path, NULL, err, errlen);
    if (!text) return -1;
    int r = 0, lineno = 0, cap = 0;
    char** cells = NULL;
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        size_t len = strlen(line);
        if (len && line[len - 1] == '\r') line[--len] = 0;
        lineno++;
        if (!len) continue;
        if (!t->names) {  // the header
            int n = 1;
            for (const char* p = line; (p = strchr(p, ',')); p++) n++;
            t->names = xmalloc((size_t)n * sizeof *t->names);
            cells = xmalloc((size_t)n * sizeof *cells);
            t->ncols = split(line, cells, n);
            for (int i = 0; i < n; i++) t->names[i] = xstrdup(cells[i]);
            continue;
        }
        int n = split(line, cells, t->ncols);
        if (n > t->ncols) {
            r = fail(err, errlen, "%s:%d: %d cells, the header has %d", path, lineno, n, t->ncols);
            break;
        }
        if (t->nrows == cap) cap = cap ? 2 * cap : 64, t->v = xrealloc(t->v, (size_t)cap * t->ncols * sizeof *t->v);
        double* row = t->v + (size_t)t->nrows * t->ncols;
        for (int i = 0; i < t->ncols; i++) {
            row[i] = NAN;
            if (i >= n || !*cells[i]) continue;  // short rows: the missing cells were not measured
            char* end;
            row[i] = strtod(cells[i], &end);
            if (*end) {
                r = fail(err, errlen, "%s:%d: column \"%s\": \"%s\" is not a number", path, lineno, t->names[i], cells[i]);
                break;
            }
        }
        if (r) break;
        t->nrows++;
    }
    if (!r && !t->names) r = fail(err, errlen, "%s: empty (no header line)", path);
    free(cells);
    free(text);
    if (r) train_log_free(t);
    return r;
}

void train_log_free(TrainLog* t) {
    for (int i = 0; i < t->ncols; i++) free(t->names[i]);
    free(t->names);
    free(t->v);
    memset(t, 0, sizeof *t);
}

int train_log_column(const TrainLog* t, const char* name) {
    for (int i = 0; i < t->ncols; i++)
        if (!strcmp(t->names[i], name)) return i;
    return -1;
}

double train_log_at(const TrainLog* t, int row, int col) { return t->v[(size_t)row * t->ncols + col]; }

int train_log_series(const TrainLog* t, int xcol, int col, double* x, double* y) {
    int n = 0;
    if (col < 0 || xcol < 0) return 0;
    for (int i = 0; i < t->nrows; i++) {
        double xv = train_log_at(t, i, xcol), yv = train_log_at(t, i, col);
        if (isfinite(xv) && isfinite(yv)) x[n] = xv, y[n] = yv, n++;
    }
    return n;
}

double train_log_last(const TrainLog* t, int col) {
    if (col < 0) return NAN;
    for (int i = t->nrows - 1; i >= 0; i--)
        if (isfinite(train_log_at(t, i, col))) return train_log_at(t, i, col);
    return NAN;
}

double train_log_tail_mean(const TrainLog* t, int col, double frac) {
    if (col < 0) return NAN;
    int n = 0;
    for (int i = 0; i < t->nrows; i++) n += isfinite(train_log_at(t, i, col));
    if (!n) return NAN;
    int k = (int)ceil(frac * n - 1e-9);
    if (k < 1) k = 1;
    double s = 0;
    int taken = 0;
    for (int i = t->nrows - 1; i >= 0 && taken < k; i--)
        if (isfinite(train_log_at(t, i, col))) s += train_log_at(t, i, col), taken++;
    return s / taken;
}
