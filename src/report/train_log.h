// train_log.h: reading the train_log.csv that `vkpref train` writes (a header
// of column names, then one row per logged step; an empty cell is a value not
// measured at that step, e.g. the loss of the step-0 validation row), for
// reports and comparisons.
#pragma once
#include <stddef.h>

typedef struct TrainLog {
    int ncols, nrows;
    char** names;  // ncols column names
    double* v;     // nrows x ncols values, row-major; NAN for empty cells
} TrainLog;

// 0, or -1 with err naming the file (and line) when it is missing or malformed
// (a row with more cells than the header, a cell that is not a number).
int train_log_read(TrainLog* t, const char* path, char* err, size_t errlen);
void train_log_free(TrainLog* t);
// The index of a column, or -1 when the log has none of that name.
int train_log_column(const TrainLog* t, const char* name);
double train_log_at(const TrainLog* t, int row, int col);

// The finite values of column col and the matching values of column xcol, in
// row order, into x[] and y[] (each nrows long). Returns their number (0 when
// col < 0).
int train_log_series(const TrainLog* t, int xcol, int col, double* x, double* y);
// The last finite value of column col (NAN: none), and the mean of its last
// ceil(frac * n) finite values (at least one) of its n finite values.
double train_log_last(const TrainLog* t, int col);
double train_log_tail_mean(const TrainLog* t, int col, double frac);
