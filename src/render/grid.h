// grid.h: labelled image grids (PNG samples and grids,
// labelled with prompt and seed). R rows x C columns of same-size images,
// upscaled by an integer factor (nearest neighbour, so pixels stay visible),
// drawn on a white RGB canvas with the embedded font:
//
//   +--------------------------------------------------------------+
//   | title (optional, one line)                                   |
//   |                          col label | col label | ...         |
//   | row label (wrapped, up   [ image  ] [ image  ] ...           |
//   |  to the row's height)    [        ] [        ]               |
//   +--------------------------------------------------------------+
//
// Layout (all in pixels; s = font scale, line = FONT_LINE * s, cw = FONT_ADVANCE * s):
//   width  = 2 * GRID_MARGIN + label_w + C * cell_w + (C - 1) * GRID_GAP
//   height = 2 * GRID_MARGIN + title_h + col_h + R * cell_h + (R - 1) * GRID_GAP
//   cell_w = width * upscale, cell_h = height * upscale (of one image)
//   label_w = row labels ? label_chars * cw + GRID_MARGIN : 0
//   title_h = title ? line + GRID_MARGIN : 0
//   col_h   = column labels ? line + GRID_GAP : 0
// Row labels are word-wrapped to label_chars per line and cut with "..." when
// they need more lines than fit the row; column labels are one line, centred
// over their column and cut with "..." when wider than it.
#pragma once
#include <stddef.h>
#include <stdint.h>

#define GRID_MARGIN 8
#define GRID_GAP 4
#define GRID_LABEL_CHARS 24  // default width of the row-label column, in characters

typedef struct RgbImage {
    int w, h;
    uint8_t* px;  // [h][w][3]
} RgbImage;

typedef struct GridSpec {
    int rows, cols;
    int channels, height, width;  // of each image; channels 1 (grey) or 3 (RGB)
    const float* images;  // [rows * cols][channels][height][width] in [-1, 1]; cell (r, c) is image r * cols + c
    int upscale;          // >= 1
    const char* const* row_labels;  // rows strings (entries may be NULL), or NULL for no label column
    const char* const* col_labels;  // cols strings (entries may be NULL), or NULL for no label band
    const char* title;              // NULL or "" for none
    int font_scale;                 // 0: 2 when a cell is at least 96 px tall, else 1
    int label_chars;                // 0: GRID_LABEL_CHARS
} GridSpec;

// Canvas size for spec (the layout above); dies on an invalid spec.
void grid_size(const GridSpec* g, int* width, int* height);
// Renders into out (allocates out->px; free with rgb_image_free).
void grid_render(const GridSpec* g, RgbImage* out);
void rgb_image_free(RgbImage* img);
// grid_render + atomic PNG write. 0 or -1 with err.
int grid_write_png(const GridSpec* g, const char* path, char* err, size_t errlen);
