// svg_chart.h: a small line chart as inline SVG (no scripts, no external
// files), for the training curves of `vkpref compare`'s HTML report: axes with
// "nice" ticks (1, 2 or 5 x 10^k), light grid lines, one polyline per series
// in a fixed colour-blind-safe palette, point markers when a series is short
// (a one-point curve would otherwise be invisible) and a legend.
#pragma once
#include <stdio.h>

typedef struct SvgSeries {
    const char* name;           // legend text (escaped on output)
    const double *x, *y;        // n points in x order; a point with a non-finite x or y is a gap
    int n;
    const char* color;          // "#rrggbb"; NULL: svg_series_color(index of the series)
} SvgSeries;

typedef struct SvgChart {
    const char* id;             // unique within the document (names the clip path); NULL: "chart"
    const char* title;          // drawn above the plot; may be NULL
    const char *x_label, *y_label;  // may be NULL
    int width, height;          // pixels; 0 for 720 x 320
    double y_min, y_max;        // a fixed y range when y_min < y_max (e.g. 0..1 for accuracies), else from the data
    double smooth;              // 0: plain lines. In (0, 1): each series is drawn faint as logged and, over it,
                                // its bias-corrected exponential moving average s_i = w s_(i-1) + (1 - w) y_i
                                // with w = smooth (gaps are skipped)
    double robust_percent;      // > 0 (and no fixed range): the y range spans the robust_percent-th to the
                                // (100 - robust_percent)-th percentile of the logged values, so a few spikes
                                // do not flatten every curve; values outside are cut off at the plot's edge
} SvgChart;

// Writes one <svg> element, scalable (viewBox; the page may shrink it). A chart
// without a single finite point still has its frame and legend, and says "no
// data" (a report shows the gap, it does not fail). Returns the number of
// finite logged values outside the drawn y range (0 without robust_percent
// unless a fixed range cuts values off).
int svg_line_chart(FILE* out, const SvgChart* c, const SvgSeries* series, int nseries);

// The bias-corrected exponential moving average of y[0..n-1] with weight w in
// [0, 1) into out (non-finite values are gaps: out is NAN there and they do not
// enter the average).
void svg_ema(const double* y, int n, double w, double* out);
// The p-th percentile (0..100, linear interpolation between order statistics)
// of the finite values among v[0..n-1]; NAN when there are none.
double svg_percentile(const double* v, int n, double p);

// Evenly spaced round tick values covering [lo, hi] with about `target` ticks
// (target >= 2): step = 1, 2 or 5 x 10^k, first tick <= lo, last >= hi. lo == hi
// is widened first. Writes at most max values; returns their number (>= 2) and the step.
int svg_nice_ticks(double lo, double hi, int target, double* ticks, int max, double* step);

// The colour of series i ("#rrggbb"), cycling through the palette; the HTML
// report uses it to match table rows to curves.
const char* svg_series_color(int i);

// text with &, <, >, " and ' escaped: safe inside XML/HTML text and attribute values.
void xml_escape(FILE* out, const char* text);
