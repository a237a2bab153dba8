// svg_chart.c: see svg_chart.h.
#include "report/svg_chart.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

#include "util/check.h"

// Okabe & Ito's palette without its yellow (unreadable on white).
static const char* const PALETTE[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"};
#define NPALETTE ((int)(sizeof PALETTE / sizeof *PALETTE))
#define MARKER_MAX_POINTS 40  // series this short get a dot on every point
#define MAX_TICKS 32

const char* svg_series_color(int i) { return PALETTE[(i % NPALETTE + NPALETTE) % NPALETTE]; }

void xml_escape(FILE* out, const char* text) {
    for (const char* p = text ? text : ""; *p; p++) switch (*p) {
        case '&': fputs("&amp;", out); break;
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '"': fputs("&quot;", out); break;
        case '\'': fputs("&#39;", out); break;
        default: fputc(*p, out);
        }
}

static const char* series_color(const SvgSeries* s, int k) { return s[k].color ? s[k].color : svg_series_color(k); }

static double nice_step(double raw) {
    double e = pow(10, floor(log10(raw))), f = raw / e;
    return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * e;  // the nearest of 1, 2, 5, 10 (Heckbert's "nice numbers")
}

int svg_nice_ticks(double lo, double hi, int target, double* ticks, int max, double* step) {
    if (!(hi > lo)) {  // one value (or none): a range around it
        double pad = fabs(lo) > 0 ? fabs(lo) * 0.1 : 1;
        lo -= pad, hi += pad;
    }
    if (target < 2) target = 2;
    double st = nice_step((hi - lo) / (target - 1));
    double first = floor(lo / st) * st, last = ceil(hi / st) * st;
    int n = (int)llround((last - first) / st) + 1;
    while (n > max && max >= 2) {  // too many for the caller's array: coarser steps
        st = nice_step(st * 1.5);
        first = floor(lo / st) * st, last = ceil(hi / st) * st;
        n = (int)llround((last - first) / st) + 1;
    }
    for (int i = 0; i < n; i++) {
        ticks[i] = first + i * st;
        if (fabs(ticks[i]) < st * 1e-9) ticks[i] = 0;  // no "-0" or 1e-17 from rounding
    }
    *step = st;
    return n;
}

// A tick label with as many decimals as the step needs.
static void tick_label(FILE* out, double v, double step) {
    double a = fabs(v);
    if (a != 0 && (a >= 1e6 || a < 1e-4)) {
        fprintf(out, "%.3g", v);
        return;
    }
    int dec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    fprintf(out, "%.*f", dec, v);
}

typedef struct Frame {
    double x0, x1, y0, y1;        // data range of the axes
    double px0, px1, py0, py1;    // plot rectangle in pixels (py0 is the top)
} Frame;

static double to_px(const Frame* f, double x) { return f->px0 + (x - f->x0) / (f->x1 - f->x0) * (f->px1 - f->px0); }
static double to_py(const Frame* f, double y) { return f->py1 - (y - f->y0) / (f->y1 - f->y0) * (f->py1 - f->py0); }

void svg_ema(const double* y, int n, double w, double* out) {
    double acc = 0, wk = 1;  // wk = w^k after k finite values: the bias correction divides by 1 - wk
    for (int i = 0; i < n; i++) {
        if (!isfinite(y[i])) {
            out[i] = NAN;
            continue;
        }
        acc = w * acc + (1 - w) * y[i];
        wk *= w;
        out[i] = acc / (1 - wk);
    }
}

static int cmp_double(const void* a, const void* b) {
    double x = *(const double*)a, y = *(const double*)b;
    return x < y ? -1 : x > y;
}

double svg_percentile(const double* v, int n, double p) {
    double* s = xmalloc((size_t)(n > 0 ? n : 1) * sizeof *s);
    int m = 0;
    for (int i = 0; i < n; i++)
        if (isfinite(v[i])) s[m++] = v[i];
    double r = NAN;
    if (m) {
        qsort(s, (size_t)m, sizeof *s, cmp_double);
        double pos = fmin(fmax(p, 0), 100) / 100 * (m - 1);
        int k = (int)floor(pos);
        r = k + 1 < m ? s[k] + (pos - k) * (s[k + 1] - s[k]) : s[k];
    }
    free(s);
    return r;
}

// The polylines of one series (a gap starts a new one); markers when it is short.
static void draw_series(FILE* out, const Frame* f, const SvgSeries* s, const char* color, const char* style,
                        bool markers) {
    bool open = false;
    int finite = 0;
    for (int i = 0; i < s->n; i++) finite += isfinite(s->x[i]) && isfinite(s->y[i]);
    for (int i = 0; i < s->n; i++) {
        bool ok = isfinite(s->x[i]) && isfinite(s->y[i]);
        if (ok && !open) {
            fprintf(out, "<polyline fill=\"none\" stroke=\"%s\" %s points=\"", color, style);
            open = true;
        } else if (!ok && open) {
            fputs("\"/>\n", out);
            open = false;
        }
        if (ok) fprintf(out, "%.1f,%.1f ", to_px(f, s->x[i]), to_py(f, s->y[i]));
    }
    if (open) fputs("\"/>\n", out);
    if (markers && finite <= MARKER_MAX_POINTS)
        for (int i = 0; i < s->n; i++)
            if (isfinite(s->x[i]) && isfinite(s->y[i]))
                fprintf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>\n", to_px(f, s->x[i]),
                        to_py(f, s->y[i]), color);
}

int svg_line_chart(FILE* out, const SvgChart* c, const SvgSeries* series, int nseries) {
    int W = c->width > 0 ? c->width : 720, H = c->height > 0 ? c->height : 320;
    const double legend_w = 130, left = 64, top = c->title ? 28 : 12, bottom = 44;
    Frame f = {.px0 = left, .px1 = W - legend_w - 12, .py0 = top, .py1 = H - bottom};
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    for (int k = 0; k < nseries; k++)
        for (int i = 0; i < series[k].n; i++) {
            double x = series[k].x[i], y = series[k].y[i];
            if (!isfinite(x) || !isfinite(y)) continue;
            xlo = fmin(xlo, x), xhi = fmax(xhi, x), ylo = fmin(ylo, y), yhi = fmax(yhi, y);
        }
    bool empty = !isfinite(xlo);
    if (empty) xlo = 0, xhi = 1, ylo = 0, yhi = 1;
    bool fixed = c->y_min < c->y_max;
    if (fixed) ylo = c->y_min, yhi = c->y_max;
    else if (c->robust_percent > 0 && !empty) {
        int total = 0;
        for (int k = 0; k < nseries; k++) total += series[k].n;
        double* all = xmalloc((size_t)(total ? total : 1) * sizeof *all);
        int m = 0;
        for (int k = 0; k < nseries; k++)
            for (int i = 0; i < series[k].n; i++) all[m++] = isfinite(series[k].x[i]) ? series[k].y[i] : NAN;
        double lo = svg_percentile(all, m, c->robust_percent), hi = svg_percentile(all, m, 100 - c->robust_percent);
        free(all);
        if (hi > lo) ylo = lo, yhi = hi;
    }
    int outside = 0;
    for (int k = 0; k < nseries && !empty; k++)
        for (int i = 0; i < series[k].n; i++) {
            double x = series[k].x[i], y = series[k].y[i];
            outside += isfinite(x) && isfinite(y) && (y < ylo || y > yhi);
        }
    double xt[MAX_TICKS], yt[MAX_TICKS], xs, ys;
    int nx = svg_nice_ticks(xlo, xhi, 6, xt, MAX_TICKS, &xs), ny = svg_nice_ticks(ylo, yhi, 5, yt, MAX_TICKS, &ys);
    f.x0 = xt[0], f.x1 = xt[nx - 1], f.y0 = yt[0], f.y1 = yt[ny - 1];

    fprintf(out, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
                 "font-family=\"sans-serif\" font-size=\"11\" role=\"img\" aria-label=\"", W, H, W, H);
    xml_escape(out, c->title ? c->title : "chart");
    fputs("\">\n<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n", out);
    if (c->title) {
        fprintf(out, "<text x=\"%.1f\" y=\"16\" text-anchor=\"middle\" font-size=\"13\" font-weight=\"bold\">",
                (f.px0 + f.px1) / 2);
        xml_escape(out, c->title);
        fputs("</text>\n", out);
    }
    for (int i = 0; i < nx; i++) {
        double x = to_px(&f, xt[i]);
        fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>\n", x, f.py0, x, f.py1);
        fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#000\"/>\n", x, f.py1, x, f.py1 + 4);
        fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", x, f.py1 + 16);
        tick_label(out, xt[i], xs);
        fputs("</text>\n", out);
    }
    for (int i = 0; i < ny; i++) {
        double y = to_py(&f, yt[i]);
        fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>\n", f.px0, y, f.px1, y);
        fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#000\"/>\n", f.px0 - 4, y, f.px0, y);
        fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">", f.px0 - 7, y + 4);
        tick_label(out, yt[i], ys);
        fputs("</text>\n", out);
    }
    fprintf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#000\"/>\n", f.px0,
            f.py0, f.px1 - f.px0, f.py1 - f.py0);
    if (c->x_label) {
        fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", (f.px0 + f.px1) / 2, (double)H - 8);
        xml_escape(out, c->x_label);
        fputs("</text>\n", out);
    }
    if (c->y_label) {
        double cy = (f.py0 + f.py1) / 2;
        fprintf(out, "<text x=\"14\" y=\"%.1f\" text-anchor=\"middle\" transform=\"rotate(-90 14 %.1f)\">", cy, cy);
        xml_escape(out, c->y_label);
        fputs("</text>\n", out);
    }
    if (empty)
        fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"#888\">no data</text>\n",
                (f.px0 + f.px1) / 2, (f.py0 + f.py1) / 2);
    // Data outside a fixed y range is clipped to the plot, not drawn over the axes.
    const char* id = c->id ? c->id : "chart";
    fputs("<clipPath id=\"", out);
    xml_escape(out, id);
    fprintf(out, "-plot\"><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/></clipPath>\n<g clip-path=\"url(#",
            f.px0 - 3, f.py0 - 3, f.px1 - f.px0 + 6, f.py1 - f.py0 + 6);
    xml_escape(out, id);
    fputs("-plot)\">\n", out);
    bool smooth = c->smooth > 0 && c->smooth < 1;
    for (int k = 0; k < nseries; k++) {
        const char* color = series_color(series, k);
        if (!smooth) {
            draw_series(out, &f, &series[k], color, "stroke-width=\"1.6\"", true);
            continue;
        }
        // The logged values faint, their moving average over them.
        draw_series(out, &f, &series[k], color, "stroke-width=\"1\" stroke-opacity=\"0.28\"", false);
        double* ys = xmalloc((size_t)(series[k].n > 0 ? series[k].n : 1) * sizeof *ys);
        svg_ema(series[k].y, series[k].n, c->smooth, ys);
        SvgSeries sm = series[k];
        sm.y = ys;
        draw_series(out, &f, &sm, color, "stroke-width=\"2.2\"", true);
        free(ys);
    }
    fputs("</g>\n", out);
    for (int k = 0; k < nseries; k++) {
        double lx = f.px1 + 14, ly = f.py0 + 8 + 18 * k;
        fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"3\"/>\n", lx, ly,
                lx + 22, ly, series_color(series, k));
        fprintf(out, "<text x=\"%.1f\" y=\"%.1f\">", lx + 28, ly + 4);
        xml_escape(out, series[k].name);
        fputs("</text>\n", out);
    }
    fputs("</svg>\n", out);
    return outside;
}
