// winrate.h: win rate of a model against a base under a judge: per (prompt,
// seed), the model wins when its score beats the base's by more than a tie
// margin, loses when it trails by more, and ties otherwise; ties count half:
//   rate = (wins + ties / 2) / n
// The 95% interval is Wilson's score interval for a proportion, applied to the
// rate with n comparisons (ties as half a win each). It stays inside [0, 1] and
// behaves at rates near 0 or 1, where the normal interval does not.
#pragma once

typedef struct WinStats {
    int n, wins, ties, losses;
    double rate, ci_lo, ci_hi;
    double mean_model, mean_base;  // mean judge scores
} WinStats;

WinStats winrate(const double* model, const double* base, int n, double tie_margin);
// Wilson score interval of proportion p over n trials at z (1.96: 95%).
void wilson_interval(double p, int n, double z, double* lo, double* hi);
