// timer.h: monotonic wall clock and small statistics for benchmarks.
#pragma once

double now_seconds(void);
// Sorts v in place and returns its median.
double median_of(double* v, int n);
