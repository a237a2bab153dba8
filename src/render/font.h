// font.h: the embedded bitmap font for grid labels. Printable ASCII (32..126),
// each glyph 5 pixels wide and 9 tall: rows 0..6 hold capitals and digits,
// lowercase letters use rows 2..6, descenders (g j p q y , ;) rows 7..8. Drawn by
// this project (no third-party glyph data), readable at scale 1 and crisp at
// any integer scale. Other bytes are drawn as '?', one per UTF-8 code point.
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FONT_GLYPH_W 5
#define FONT_GLYPH_H 9
#define FONT_ADVANCE 6  // glyph + 1 column of spacing
#define FONT_LINE 11    // glyph + 2 rows of spacing

// Whether pixel (x, y) of character c's glyph is set (x < 5, y < 9).
bool font_pixel(char c, int x, int y);
// Width in pixels of text at scale (code points * FONT_ADVANCE * scale, minus the
// trailing spacing column).
int font_text_width(const char* text, int scale);
// Draws one line of text (top-left corner x, y) into an interleaved RGB buffer of
// w x h pixels, clipped to it; each font pixel becomes a scale x scale square.
void font_draw(uint8_t* rgb, int w, int h, int x, int y, const char* text, int scale, const uint8_t color[3]);

// Replaces each UTF-8 code point outside printable ASCII with '?' and tabs and
// newlines with spaces, so one byte is one glyph. out needs strlen(text) + 1 bytes.
void font_sanitize(const char* text, char* out);
// Greedy word wrap of text into lines of at most max_chars characters; words
// longer than a line are broken. When more than max_lines lines would be needed,
// the last kept line ends in "..." (the text was cut). Lines are written to out
// separated by '\n'. Returns the number of lines (0 for empty text).
int font_wrap(const char* text, int max_chars, int max_lines, char* out, size_t outlen);
