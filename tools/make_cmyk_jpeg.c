// make_cmyk_jpeg.c: writes tests/data/images/cmyk.jpg, a 16x8 four-channel JPEG
// with an Adobe APP14 marker (as Photoshop writes CMYK), for test_image_prepare.
// Every pixel stores (C, M, Y, K) = (200, 100, 255, 128) in Adobe's inverted
// convention (255 = no ink), so a reader that converts to RGB gives about
// (C K, M K, Y K) / 255 = (100, 50, 128). Built by hand, once (needs libjpeg-dev):
//   cc tools/make_cmyk_jpeg.c -ljpeg -o /tmp/make_cmyk_jpeg && /tmp/make_cmyk_jpeg tests/data/images/cmyk.jpg
#include <stddef.h>
#include <stdio.h>

#include <jpeglib.h>  // after stdio.h and stddef.h, which it assumes

int main(int argc, char** argv) {
    const char* path = argc > 1 ? argv[1] : "tests/data/images/cmyk.jpg";
    FILE* f = fopen(path, "wb");
    if (!f) return perror(path), 1;
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, f);
    c.image_width = 16, c.image_height = 8, c.input_components = 4, c.in_color_space = JCS_CMYK;
    jpeg_set_defaults(&c);
    jpeg_set_colorspace(&c, JCS_CMYK);  // writes the Adobe marker, transform 0 (plain CMYK)
    jpeg_set_quality(&c, 100, TRUE);
    jpeg_start_compress(&c, TRUE);
    JSAMPLE row[16 * 4];
    for (int x = 0; x < 16; x++) row[4 * x] = 200, row[4 * x + 1] = 100, row[4 * x + 2] = 255, row[4 * x + 3] = 128;
    while (c.next_scanline < c.image_height) {
        JSAMPROW r = row;
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    return fclose(f) != 0;
}
