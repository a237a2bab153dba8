// winrate.c: see winrate.h.
#include "eval/winrate.h"

#include <math.h>

void wilson_interval(double p, int n, double z, double* lo, double* hi) {
    if (n <= 0) {
        *lo = 0, *hi = 1;
        return;
    }
    double z2 = z * z, denom = 1 + z2 / n;
    double centre = (p + z2 / (2.0 * n)) / denom;
    double half = z * sqrt(p * (1 - p) / n + z2 / (4.0 * n * n)) / denom;
    *lo = fmax(0, centre - half), *hi = fmin(1, centre + half);
}

WinStats winrate(const double* model, const double* base, int n, double tie_margin) {
    WinStats w = {.n = n};
    for (int i = 0; i < n; i++) {
        double d = model[i] - base[i];
        if (d > tie_margin) w.wins++;
        else if (d < -tie_margin) w.losses++;
        else w.ties++;
        w.mean_model += model[i] / n, w.mean_base += base[i] / n;
    }
    w.rate = n ? (w.wins + 0.5 * w.ties) / n : 0.5;
    wilson_interval(w.rate, n, 1.96, &w.ci_lo, &w.ci_hi);
    return w;
}
