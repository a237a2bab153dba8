#!/usr/bin/env python3
"""Writes the small PNG files of every colour mode that tests/test_image_prepare.c reads.

Usage: tools/make_test_images.py [OUT_DIR]   (default tests/data/images; Python's standard library only)

Every file holds the same 6x4 picture (pattern() below; the test computes it the
same way), stored in one PNG colour type and bit depth: grey (1, 8 and 16 bits),
grey+alpha, palette (with a tRNS alpha table), RGB (8 and 16 bits) and RGBA (8 and
16 bits). 16-bit samples are v * 257, so reducing them to 8 bits gives v back; the
1-bit file holds a checkerboard of 0 and 255. The files are written as-is by a
minimal encoder (zlib, one IDAT, filter 0), so no imaging library is needed.
"""
import os
import struct
import sys
import zlib

W, H = 6, 4


def pattern(x, y):
    """RGBA of pixel (x, y); kept in step with pattern() in tests/test_image_prepare.c."""
    return (40 * x + 10, 60 * y + 5, 250 - 30 * x - 20 * y, 255 - 50 * ((x + y) % 4))


def grey(x, y):
    return 40 * x + 15 * y + 10


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png(color_type, depth, rows, extra=b""):
    """rows: per row, the sample values (already in file order); packs depth 1, 8 or 16."""
    raw = b""
    for row in rows:
        if depth == 16:
            data = b"".join(struct.pack(">H", v) for v in row)
        elif depth == 8:
            data = bytes(row)
        else:  # 1 bit, MSB first, rows padded to a byte
            bits = "".join("1" if v else "0" for v in row)
            bits += "0" * (-len(bits) % 8)
            data = bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits), 8))
        raw += b"\0" + data
    ihdr = struct.pack(">IIBBBBB", W, H, depth, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra + chunk(b"IDAT", zlib.compress(raw, 9)) + \
        chunk(b"IEND", b"")


def rows(fn):
    return [[v for x in range(W) for v in fn(x, y)] for y in range(H)]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "data", "images")
    os.makedirs(out, exist_ok=True)
    files = {
        "grey1.png": png(0, 1, rows(lambda x, y: ((x + y) % 2,))),
        "grey8.png": png(0, 8, rows(lambda x, y: (grey(x, y),))),
        "grey16.png": png(0, 16, rows(lambda x, y: (grey(x, y) * 257,))),
        "grey_alpha.png": png(4, 8, rows(lambda x, y: (grey(x, y), pattern(x, y)[3]))),
        "rgb8.png": png(2, 8, rows(lambda x, y: pattern(x, y)[:3])),
        "rgb16.png": png(2, 16, rows(lambda x, y: tuple(v * 257 for v in pattern(x, y)[:3]))),
        "rgba8.png": png(6, 8, rows(pattern)),
        "rgba16.png": png(6, 16, rows(lambda x, y: tuple(v * 257 for v in pattern(x, y)))),
    }
    # Palette: one entry per pixel (24 colours), alpha in tRNS.
    colours = [pattern(x, y) for y in range(H) for x in range(W)]
    plte = chunk(b"PLTE", b"".join(bytes(c[:3]) for c in colours))
    trns = chunk(b"tRNS", bytes(c[3] for c in colours))
    files["palette.png"] = png(3, 8, [[y * W + x for x in range(W)] for y in range(H)], plte + trns)
    for name, data in files.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print(f"wrote {len(files)} files to {out}")


if __name__ == "__main__":
    main()
