// grid.c: lays out, upscales and labels an image grid, then writes it as PNG.
// See grid.h for the layout.
#include "render/grid.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "io/png_image.h"
#include "render/font.h"
#include "util/check.h"

static const uint8_t BACKGROUND[3] = {255, 255, 255};
static const uint8_t INK[3] = {24, 24, 24};
static const uint8_t TITLE_INK[3] = {0, 0, 0};

typedef struct Layout {
    int s, line, cw, label_chars;
    int cell_w, cell_h, label_w, title_h, col_h;
    int x0, y0;  // top-left corner of cell (0, 0)
    int w, h;
} Layout;

static int font_scale_for(const GridSpec* g) {
    if (g->font_scale > 0) return g->font_scale;
    // At 1x the 5x9 glyphs look tiny beside 128 px cells; 2x keeps labels in proportion.
    return g->height * g->upscale >= 96 ? 2 : 1;
}

static Layout layout(const GridSpec* g) {
    if (g->rows < 1 || g->cols < 1 || g->width < 1 || g->height < 1 || g->upscale < 1 || !g->images ||
        (g->channels != 1 && g->channels != 3))
        die("grid: invalid spec (%dx%d cells of %dx%dx%d, upscale %d)", g->rows, g->cols, g->channels, g->height,
            g->width, g->upscale);
    Layout L;
    L.s = font_scale_for(g);
    L.line = FONT_LINE * L.s;
    L.cw = FONT_ADVANCE * L.s;
    L.label_chars = g->label_chars > 0 ? g->label_chars : GRID_LABEL_CHARS;
    L.cell_w = g->width * g->upscale;
    L.cell_h = g->height * g->upscale;
    L.label_w = g->row_labels ? L.label_chars * L.cw + GRID_MARGIN : 0;
    L.title_h = g->title && *g->title ? L.line + GRID_MARGIN : 0;
    L.col_h = g->col_labels ? L.line + GRID_GAP : 0;
    L.x0 = GRID_MARGIN + L.label_w;
    L.y0 = GRID_MARGIN + L.title_h + L.col_h;
    int64_t w = 2 * GRID_MARGIN + L.label_w + (int64_t)g->cols * L.cell_w + (int64_t)(g->cols - 1) * GRID_GAP;
    int64_t h = 2 * GRID_MARGIN + L.title_h + L.col_h + (int64_t)g->rows * L.cell_h + (int64_t)(g->rows - 1) * GRID_GAP;
    if (w > 65535 || h > 65535) die("grid: %lldx%lld pixels is too large for one image", (long long)w, (long long)h);
    L.w = (int)w;
    L.h = (int)h;
    return L;
}

void grid_size(const GridSpec* g, int* width, int* height) {
    Layout L = layout(g);
    *width = L.w;
    *height = L.h;
}

// One line cut to max_chars characters, ending in "..." when it was longer.
// out holds at least strlen(text) + 1 bytes.
static void fit_line(const char* text, int max_chars, char* out) {
    font_sanitize(text, out);
    if (max_chars < 1) {
        out[0] = 0;
        return;
    }
    size_t n = strlen(out);
    if (n > (size_t)max_chars) {
        size_t dots = max_chars >= 3 ? 3 : (size_t)max_chars;
        memset(out + max_chars - dots, '.', dots);
        out[max_chars] = 0;
    }
}

static void draw_cell(const GridSpec* g, const Layout* L, RgbImage* img, int r, int c) {
    size_t plane = (size_t)g->width * g->height;
    const float* src = g->images + (size_t)(r * g->cols + c) * g->channels * plane;
    int ox = L->x0 + c * (L->cell_w + GRID_GAP), oy = L->y0 + r * (L->cell_h + GRID_GAP);
    for (int y = 0; y < L->cell_h; y++) {
        int sy = y / g->upscale;
        uint8_t* row = img->px + ((size_t)(oy + y) * img->w + ox) * 3;
        for (int x = 0; x < L->cell_w; x++) {
            size_t p = (size_t)sy * g->width + x / g->upscale;
            for (int k = 0; k < 3; k++) row[3 * x + k] = image_f32_to_u8(src[(g->channels == 3 ? k : 0) * plane + p]);
        }
    }
}

static void draw_row_label(const GridSpec* g, const Layout* L, RgbImage* img, int r) {
    const char* text = g->row_labels[r];
    if (!text || !*text) return;
    int max_lines = L->cell_h / L->line;
    if (max_lines < 1) max_lines = 1;
    size_t cap = strlen(text) + (size_t)max_lines + 8;
    char* wrapped = xmalloc(cap);
    int n = font_wrap(text, L->label_chars, max_lines, wrapped, cap);
    // Centre the block of lines vertically on the row.
    int block = n * L->line - (L->line - FONT_GLYPH_H * L->s);
    int y = L->y0 + r * (L->cell_h + GRID_GAP) + (L->cell_h - block) / 2;
    if (y < L->y0 + r * (L->cell_h + GRID_GAP)) y = L->y0 + r * (L->cell_h + GRID_GAP);
    char* line = wrapped;
    for (int i = 0; i < n; i++) {
        char* nl = strchr(line, '\n');
        if (nl) *nl = 0;
        font_draw(img->px, img->w, img->h, GRID_MARGIN, y + i * L->line, line, L->s, INK);
        if (!nl) break;
        line = nl + 1;
    }
    free(wrapped);
}

static void draw_col_label(const GridSpec* g, const Layout* L, RgbImage* img, int c) {
    const char* text = g->col_labels[c];
    if (!text || !*text) return;
    int max_chars = (L->cell_w + 1 * L->s) / L->cw;  // the last glyph needs no spacing column
    size_t cap = strlen(text) + 8;
    char* line = xmalloc(cap);
    fit_line(text, max_chars, line);
    int tw = font_text_width(line, L->s);
    int x = L->x0 + c * (L->cell_w + GRID_GAP) + (L->cell_w - tw) / 2;
    font_draw(img->px, img->w, img->h, x, GRID_MARGIN + L->title_h, line, L->s, INK);
    free(line);
}

void grid_render(const GridSpec* g, RgbImage* out) {
    Layout L = layout(g);
    out->w = L.w;
    out->h = L.h;
    out->px = xmalloc((size_t)L.w * L.h * 3);
    for (size_t i = 0; i < (size_t)L.w * L.h; i++) memcpy(out->px + 3 * i, BACKGROUND, 3);
    for (int r = 0; r < g->rows; r++)
        for (int c = 0; c < g->cols; c++) draw_cell(g, &L, out, r, c);
    if (g->row_labels)
        for (int r = 0; r < g->rows; r++) draw_row_label(g, &L, out, r);
    if (g->col_labels)
        for (int c = 0; c < g->cols; c++) draw_col_label(g, &L, out, c);
    if (L.title_h) {
        size_t cap = strlen(g->title) + 8;
        char* line = xmalloc(cap);
        fit_line(g->title, (L.w - 2 * GRID_MARGIN + L.s) / L.cw, line);
        font_draw(out->px, out->w, out->h, GRID_MARGIN, GRID_MARGIN, line, L.s, TITLE_INK);
        free(line);
    }
}

void rgb_image_free(RgbImage* img) {
    free(img->px);
    memset(img, 0, sizeof *img);
}

int grid_write_png(const GridSpec* g, const char* path, char* err, size_t errlen) {
    RgbImage img;
    grid_render(g, &img);
    int r = png_write(path, img.px, img.w, img.h, 3, err, errlen);
    rgb_image_free(&img);
    return r;
}
