// test_grid.c: PNG write/read round trips (grey, RGB, float), decoder errors,
// the embedded font and word wrap, and the labelled grid: its size follows the
// documented layout, cells hold the upscaled images, labels put ink where they
// belong and nowhere else, and the PNG on disk equals the rendered canvas.
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/image_decode.h"
#include "io/png_image.h"
#include "render/font.h"
#include "render/grid.h"
#include "test_util.h"
#include "util/fsutil.h"

static char* make_tmpdir(void) {
    const char* base = getenv("TMPDIR");
    char* tmpl = path_join(base && *base ? base : "/tmp", "vkpref_grid_XXXXXX");
    cr_assert(mkdtemp(tmpl), "mkdtemp failed: %s", strerror(errno));
    return tmpl;
}

static int count_entries(const char* dir) {
    DIR* d = opendir(dir);
    cr_assert(d);
    int n = 0;
    struct dirent* e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

// ---------------------------------------------------------------------------
// PNG.

Test(png, roundtrip_u8_grey_rgb_rgba) {
    char* dir = make_tmpdir();
    TestRng rng = rng_seed(5);
    const int W = 37, H = 23;  // odd sizes: no row padding assumptions
    for (int ch = 1; ch <= 4; ch++) {
        uint8_t* px = malloc((size_t)W * H * ch);
        for (int i = 0; i < W * H * ch; i++) px[i] = (uint8_t)(rng_uniform(&rng, 0, 256));
        char name[32];
        snprintf(name, sizeof name, "c%d.png", ch);
        char* path = path_join(dir, name);
        char err[512];
        cr_assert_eq(png_write(path, px, W, H, ch, err, sizeof err), 0, "%s", err);
        int w, h, c;
        uint8_t* back = image_load_u8(path, 0, 0, &w, &h, &c, err, sizeof err);
        cr_assert(back, "%s", err);
        cr_assert(w == W && h == H && c == ch, "%dx%dx%d read back as %dx%dx%d", W, H, ch, w, h, c);
        cr_assert(memcmp(back, px, (size_t)W * H * ch) == 0, "%d-channel PNG is not lossless", ch);
        struct stat sb;
        stat(path, &sb);
        cr_assert_eq(sb.st_mode & 0777, 0644);
        free(back), free(px), free(path);
    }
    cr_assert_eq(count_entries(dir), 4, "temporary files left behind");
    remove_tree(dir, NULL, 0);
    free(dir);
}

Test(png, roundtrip_float_and_channel_conversion) {
    char* dir = make_tmpdir();
    char* path = path_join(dir, "f.png");
    TestRng rng = rng_seed(6);
    const int W = 16, H = 9, C = 3;
    float* x = malloc((size_t)W * H * C * sizeof *x);
    for (int i = 0; i < W * H * C; i++) x[i] = (float)rng_uniform(&rng, -1.2, 1.2);  // beyond [-1, 1]: clamped
    x[0] = -1.0f, x[1] = 1.0f, x[2] = 0.0f, x[3] = NAN;
    char err[512];
    cr_assert_eq(png_write_f32(path, x, W, H, C, err, sizeof err), 0, "%s", err);
    int w, h, c;
    float* y = image_load(path, 0, 0, &w, &h, &c, err, sizeof err);
    cr_assert(y, "%s", err);
    cr_assert(w == W && h == H && c == C);
    for (int i = 0; i < W * H * C; i++) {
        float want = (float)image_f32_to_u8(x[i]) / 127.5f - 1.0f;
        cr_assert_eq(y[i], want, "value %d: %g -> %g, expected %g", i, x[i], y[i], want);
        if (isfinite(x[i]) && fabsf(x[i]) <= 1.0f) cr_assert_leq(fabsf(y[i] - x[i]), 1.0f / 255 + 1e-6f);
    }
    cr_assert_eq(image_f32_to_u8(-1.0f), 0);
    cr_assert_eq(image_f32_to_u8(1.0f), 255);
    cr_assert_eq(image_f32_to_u8(0.0f), 128);  // diffusers: round(0.5 * 255) = 128
    cr_assert_eq(image_f32_to_u8(NAN), 0);
    free(y);
    // RGB file read as grey (luminance) and grey file read as RGB (replicated).
    float* g = image_load(path, 1, 0, &w, &h, &c, err, sizeof err);
    cr_assert(g && c == 1, "%s", err);
    free(g);
    float grey[4] = {-1.0f, -0.5f, 0.5f, 1.0f};
    char* gpath = path_join(dir, "g.png");
    cr_assert_eq(png_write_f32(gpath, grey, 2, 2, 1, err, sizeof err), 0, "%s", err);
    float* rgb = image_load(gpath, 3, 0, &w, &h, &c, err, sizeof err);
    cr_assert(rgb && c == 3 && w == 2 && h == 2, "%s", err);
    for (int p = 0; p < 4; p++)
        for (int k = 0; k < 3; k++) cr_assert_eq(rgb[k * 4 + p], rgb[p], "channel %d of pixel %d differs", k, p);
    free(rgb);
    cr_assert_eq(png_write_f32(gpath, grey, 2, 2, 2, err, sizeof err), -1);
    cr_assert(strstr(err, gpath), "%s", err);
    free(x), free(path), free(gpath);
    remove_tree(dir, NULL, 0);
    free(dir);
}

Test(png, decode_errors_name_the_file) {
    char* dir = make_tmpdir();
    char* path = path_join(dir, "a.png");
    char err[512];
    uint8_t px[64 * 64 * 3];
    TestRng rng = rng_seed(7);
    for (size_t i = 0; i < sizeof px; i++) px[i] = (uint8_t)rng_uniform(&rng, 0, 256);  // incompressible
    cr_assert_eq(png_write(path, px, 64, 64, 3, err, sizeof err), 0, "%s", err);
    struct stat sb;
    stat(path, &sb);
    int w, h, c;
    // Truncated at several points: never decoded as if whole.
    const double cuts[4] = {0.1, 0.5, 0.9, 0.999};
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(truncate(path, (off_t)(sb.st_size * cuts[i])), 0);
        float* img = image_load(path, 0, 0, &w, &h, &c, err, sizeof err);
        cr_assert_null(img, "a PNG cut to %.1f%% decoded", 100 * cuts[i]);
        cr_assert(strstr(err, path) && strstr(err, "cannot decode image"), "%s", err);
        cr_assert_eq(png_write(path, px, 64, 64, 3, err, sizeof err), 0, "%s", err);
    }
    // Not an image; missing.
    char* txt = path_join(dir, "b.png");
    FILE* f = fopen(txt, "wb");
    fputs("hello", f);
    fclose(f);
    cr_assert_null(image_load(txt, 0, 0, &w, &h, &c, err, sizeof err));
    cr_assert(strstr(err, txt) && strstr(err, "cannot decode image"), "%s", err);
    char* missing = path_join(dir, "missing.png");
    cr_assert_null(image_load(missing, 0, 0, &w, &h, &c, err, sizeof err));
    cr_assert(strstr(err, missing) && strstr(err, "No such file"), "%s", err);
    // Writing into a missing folder fails cleanly.
    char* nowhere = path_join(dir, "no/dir/x.png");
    cr_assert_eq(png_write(nowhere, px, 64, 64, 3, err, sizeof err), -1);
    cr_assert(strstr(err, nowhere), "%s", err);
    cr_assert_eq(count_entries(dir), 2);
    free(path), free(txt), free(missing), free(nowhere);
    remove_tree(dir, NULL, 0);
    free(dir);
}

// ---------------------------------------------------------------------------
// Font.

Test(font, every_printable_glyph_has_ink_within_its_box) {
    for (int ch = 33; ch <= 126; ch++) {
        int ink = 0, below = 0;
        for (int y = 0; y < FONT_GLYPH_H; y++)
            for (int x = 0; x < FONT_GLYPH_W; x++)
                if (font_pixel((char)ch, x, y)) ink++, below += y >= 7;
        cr_assert_gt(ink, 0, "glyph '%c' is empty", ch);
        bool descender = strchr("gjpqy,;_", ch) != NULL;
        cr_assert_eq(below > 0, descender, "glyph '%c': descender rows %s", ch, below ? "used" : "unused");
    }
    for (int y = 0; y < FONT_GLYPH_H; y++)
        for (int x = 0; x < FONT_GLYPH_W; x++) cr_assert(!font_pixel(' ', x, y));
    // Distinct glyphs for characters that must not be confused.
    const char* pairs[] = {"O0", "l1", "I1", "S5", "B8", "Z2", "rn", "ao", "ce"};
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        bool same = true;
        for (int y = 0; y < FONT_GLYPH_H; y++)
            for (int x = 0; x < FONT_GLYPH_W; x++)
                same &= font_pixel(pairs[i][0], x, y) == font_pixel(pairs[i][1], x, y);
        cr_assert(!same, "'%c' and '%c' look the same", pairs[i][0], pairs[i][1]);
    }
    // Outside ASCII: '?' per code point; width counts code points.
    cr_assert_eq(font_text_width("ab", 1), 11);
    cr_assert_eq(font_text_width("a\xc3\xa9", 2), 22);  // "a" + e-acute
    cr_assert_eq(font_text_width("", 3), 0);
    char clean[16];
    font_sanitize("x\xc3\xa9\ty", clean);
    cr_assert_str_eq(clean, "x? y");
}

Test(font, draw_places_scaled_pixels_and_clips) {
    enum { W = 40, H = 30 };
    uint8_t img[W * H * 3];
    memset(img, 255, sizeof img);
    const uint8_t red[3] = {255, 0, 0};
    font_draw(img, W, H, 3, 2, "T", 2, red);
    // 'T' row 0 is "#####": pixels x 3..12, y 2..3 are red; the stem is columns 7..8.
    for (int x = 3; x < 13; x++)
        for (int y = 2; y < 4; y++) cr_assert(img[(y * W + x) * 3 + 1] == 0, "(%d,%d) should be ink", x, y);
    cr_assert(img[(10 * W + 7) * 3 + 1] == 0 && img[(10 * W + 8) * 3 + 1] == 0);
    cr_assert(img[(10 * W + 6) * 3 + 1] == 255 && img[(10 * W + 9) * 3 + 1] == 255);
    cr_assert(img[(1 * W + 5) * 3 + 1] == 255 && img[(2 * W + 2) * 3 + 1] == 255);
    // Drawing partly outside the canvas must not write out of bounds (ASan/valgrind catch it; here: no crash).
    font_draw(img, W, H, -7, -5, "clip me", 3, red);
    font_draw(img, W, H, 35, 25, "clip", 3, red);
}

static void check_wrap(const char* text, int chars, int lines, const char* want, int want_n) {
    char out[256];
    int n = font_wrap(text, chars, lines, out, sizeof out);
    cr_assert_str_eq(out, want, "wrap('%s', %d, %d)", text, chars, lines);
    cr_assert_eq(n, want_n, "wrap('%s', %d, %d): %d lines", text, chars, lines, n);
    // No line is longer than asked.
    for (char* p = out; *p;) {
        size_t len = strcspn(p, "\n");
        cr_assert_leq(len, (size_t)chars, "line too long in '%s'", out);
        p += len + (p[len] ? 1 : 0);
    }
}

Test(font, word_wrap_breaks_and_truncates) {
    check_wrap("a photo of a dark small sneaker", 12, 5, "a photo of a\ndark small\nsneaker", 3);
    check_wrap("a photo of a dark small sneaker", 40, 5, "a photo of a dark small sneaker", 1);
    check_wrap("a photo of a dark small sneaker", 12, 2, "a photo of a\ndark smal...", 2);
    check_wrap("a photo of a dark small sneaker", 10, 2, "a photo of\na dark...", 2);
    check_wrap("  many   spaces\tand\nnewlines ", 8, 5, "many\nspaces\nand\nnewlines", 4);
    check_wrap("supercalifragilistic", 8, 5, "supercal\nifragili\nstic", 3);
    check_wrap("supercalifragilistic word", 8, 2, "supercal\nifrag...", 2);
    check_wrap("exactly ten", 11, 1, "exactly ten", 1);
    check_wrap("", 10, 3, "", 0);
    check_wrap("ab cd", 2, 1, "..", 1);
}

// ---------------------------------------------------------------------------
// Grid.

static bool is_white(const RgbImage* g, int x, int y) {
    const uint8_t* p = g->px + ((size_t)y * g->w + x) * 3;
    return p[0] == 255 && p[1] == 255 && p[2] == 255;
}
static int ink_in(const RgbImage* g, int x0, int y0, int x1, int y1) {
    int n = 0;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) n += !is_white(g, x, y);
    return n;
}

// rows x cols grey 32x32 images: cell (r, c) is a constant value v(r, c) with a
// -1 (black) top-left pixel, so upscaling and placement are checkable.
static float cell_value(int r, int c) { return -0.8f + 0.25f * (float)(r * 3 + c); }
static float* make_cells(int rows, int cols, int ch) {
    float* x = malloc((size_t)rows * cols * ch * 32 * 32 * sizeof *x);
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            for (int k = 0; k < ch; k++) {
                float* plane = x + ((size_t)(r * cols + c) * ch + k) * 1024;
                for (int p = 0; p < 1024; p++) plane[p] = cell_value(r, c) + 0.1f * (float)k;
                plane[0] = -1.0f;
            }
    return x;
}

Test(grid, layout_cells_and_labels) {
    const int R = 2, C = 3, UP = 4;
    float* imgs = make_cells(R, C, 1);
    const char* rows[2] = {
        "a photo of a dark small sneaker with a very long prompt that cannot possibly fit in the label column",
        "a photo of a bag"};
    const char* cols[3] = {"seed 0", "seed 1", "seed 123456789012345678901234567890"};
    GridSpec g = {.rows = R,
                  .cols = C,
                  .channels = 1,
                  .height = 32,
                  .width = 32,
                  .images = imgs,
                  .upscale = UP,
                  .row_labels = rows,
                  .col_labels = cols,
                  .title = "step 100 (cfg 5)"};
    RgbImage out;
    grid_render(&g, &out);
    // 128 px cells -> font scale 2: line 22, char 12; label column 24 chars.
    const int s = 2, line = FONT_LINE * s, label_w = GRID_LABEL_CHARS * FONT_ADVANCE * s + GRID_MARGIN;
    const int title_h = line + GRID_MARGIN, col_h = line + GRID_GAP, cell = 32 * UP;
    int want_w = 2 * GRID_MARGIN + label_w + C * cell + (C - 1) * GRID_GAP;
    int want_h = 2 * GRID_MARGIN + title_h + col_h + R * cell + (R - 1) * GRID_GAP;
    cr_assert(out.w == want_w && out.h == want_h, "grid is %dx%d, expected %dx%d", out.w, out.h, want_w, want_h);
    int gw, gh;
    grid_size(&g, &gw, &gh);
    cr_assert(gw == want_w && gh == want_h);

    const int x0 = GRID_MARGIN + label_w, y0 = GRID_MARGIN + title_h + col_h;
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) {
            int ox = x0 + c * (cell + GRID_GAP), oy = y0 + r * (cell + GRID_GAP);
            uint8_t v = image_f32_to_u8(cell_value(r, c));
            // The black source pixel (0,0) becomes a UP x UP block; everything else is v, grey on all channels.
            for (int y = 0; y < cell; y++)
                for (int x = 0; x < cell; x++) {
                    const uint8_t* p = out.px + ((size_t)(oy + y) * out.w + ox + x) * 3;
                    uint8_t want = (x < UP && y < UP) ? 0 : v;
                    cr_assert(p[0] == want && p[1] == want && p[2] == want, "cell (%d,%d) pixel (%d,%d) = %d, want %d",
                              r, c, x, y, p[0], want);
                }
            // The gaps right of and below a cell stay white.
            if (c + 1 < C) cr_assert_eq(ink_in(&out, ox + cell, oy, ox + cell + GRID_GAP, oy + cell), 0);
            if (r + 1 < R) cr_assert_eq(ink_in(&out, ox, oy + cell, ox + cell, oy + cell + GRID_GAP), 0);
        }
    // Row labels: ink left of each row; the long one fills the row height (5 lines of 22 px in 128), the short one
    // line.
    for (int r = 0; r < R; r++) {
        int oy = y0 + r * (cell + GRID_GAP);
        int ink = ink_in(&out, GRID_MARGIN, oy, x0 - GRID_MARGIN, oy + cell);
        cr_assert_gt(ink, 50, "row %d label has %d ink pixels", r, ink);
        int lines = 0;
        for (int l = 0; l < cell / line; l++)
            lines += ink_in(&out, GRID_MARGIN, oy + l * line, x0, oy + (l + 1) * line) > 0;
        if (r == 0) cr_assert_eq(lines, cell / line, "long label uses %d of %d lines", lines, cell / line);
    }
    cr_assert_eq(ink_in(&out, 0, 0, GRID_MARGIN, out.h), 0, "ink in the left margin");
    cr_assert_eq(ink_in(&out, out.w - GRID_MARGIN, 0, out.w, out.h), 0, "ink in the right margin");
    cr_assert_eq(ink_in(&out, 0, out.h - GRID_MARGIN, out.w, out.h), 0, "ink in the bottom margin");
    // Column labels: ink above each column, inside its band and its column.
    for (int c = 0; c < C; c++) {
        int ox = x0 + c * (cell + GRID_GAP);
        int ink = ink_in(&out, ox, GRID_MARGIN + title_h, ox + cell, y0 - GRID_GAP);
        cr_assert_gt(ink, 20, "column %d label has %d ink pixels", c, ink);
        if (c + 1 < C) cr_assert_eq(ink_in(&out, ox + cell, GRID_MARGIN + title_h, ox + cell + GRID_GAP, y0), 0);
    }
    // Title: ink in the title band.
    cr_assert_gt(ink_in(&out, GRID_MARGIN, GRID_MARGIN, out.w, GRID_MARGIN + line), 50);

    // The PNG on disk is the canvas, byte for byte.
    char* dir = make_tmpdir();
    char* path = path_join(dir, "grid.png");
    char err[512];
    cr_assert_eq(grid_write_png(&g, path, err, sizeof err), 0, "%s", err);
    int w, h, ch;
    uint8_t* back = image_load_u8(path, 0, 0, &w, &h, &ch, err, sizeof err);
    cr_assert(back, "%s", err);
    cr_assert(w == out.w && h == out.h && ch == 3);
    cr_assert(memcmp(back, out.px, (size_t)w * h * 3) == 0, "PNG differs from the rendered grid");
    free(back);
    cr_assert_eq(count_entries(dir), 1);
    remove_tree(dir, NULL, 0);
    free(path), free(dir);
    rgb_image_free(&out);
    free(imgs);
}

Test(grid, unlabelled_rgb_grid_is_just_cells) {
    const int R = 1, C = 2;
    float* imgs = make_cells(R, C, 3);
    GridSpec g = {.rows = R, .cols = C, .channels = 3, .height = 32, .width = 32, .images = imgs, .upscale = 1};
    RgbImage out;
    grid_render(&g, &out);
    cr_assert_eq(out.w, 2 * GRID_MARGIN + 2 * 32 + GRID_GAP);
    cr_assert_eq(out.h, 2 * GRID_MARGIN + 32);
    // Channels keep their own values (cell value + 0.1 k).
    const uint8_t* p = out.px + ((size_t)(GRID_MARGIN + 5) * out.w + GRID_MARGIN + 5) * 3;
    for (int k = 0; k < 3; k++) cr_assert_eq(p[k], image_f32_to_u8(cell_value(0, 0) + 0.1f * (float)k));
    // Only the cells have ink.
    int cells = 2 * (32 * 32);
    cr_assert_leq(ink_in(&out, 0, 0, out.w, out.h), cells);
    cr_assert_eq(ink_in(&out, 0, 0, out.w, GRID_MARGIN), 0);
    rgb_image_free(&out);
    // A small font scale is chosen automatically for small cells, and can be forced.
    const char* rl[1] = {"x"};
    g.row_labels = rl;
    grid_render(&g, &out);
    cr_assert_eq(out.w, 2 * GRID_MARGIN + GRID_LABEL_CHARS * FONT_ADVANCE + GRID_MARGIN + 2 * 32 + GRID_GAP);
    rgb_image_free(&out);
    g.font_scale = 3;
    g.label_chars = 10;
    grid_render(&g, &out);
    cr_assert_eq(out.w, 2 * GRID_MARGIN + 10 * FONT_ADVANCE * 3 + GRID_MARGIN + 2 * 32 + GRID_GAP);
    rgb_image_free(&out);
    free(imgs);
}
