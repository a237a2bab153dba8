// test_fmnist.c: the Fashion-MNIST loader on the real installed files (counts,
// label histogram, known labels and a pixel checksum, [-1, 1] range, padding),
// captions and attribute words (thresholds reproduce the committed table), and
// every error path on small files the test writes itself: missing, wrong magic,
// truncated gzip, bad checksum, mismatched counts, bad labels, wrong size.
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "io/fmnist.h"
#include "test_util.h"
#include "util/fsutil.h"

// setup.sh installs dataset-fashion-mnist, so a missing data set is a failure, not a skip.
static void load_real(Fmnist* ds, FmnistSplit split) {
    char err[1024];
    cr_assert_eq(fmnist_load(ds, FMNIST_DEFAULT_DIR, split, err, sizeof err), 0, "%s", err);
}

static char* make_tmpdir(void) {
    const char* base = getenv("TMPDIR");
    char* tmpl = path_join(base && *base ? base : "/tmp", "vkpref_fm_XXXXXX");
    cr_assert(mkdtemp(tmpl), "mkdtemp failed: %s", strerror(errno));
    return tmpl;
}

static void put_be32(uint8_t* p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

// Writes a gzip'ed IDX file: magic, ndim dimensions, then n bytes of data.
static void write_idx(const char* dir, const char* name, uint32_t magic, int ndim, const uint32_t* dims,
                      const uint8_t* data, size_t n) {
    char* path = path_join(dir, name);
    gzFile g = gzopen(path, "wb");
    cr_assert(g, "gzopen %s", path);
    uint8_t head[16];
    put_be32(head, magic);
    for (int i = 0; i < ndim; i++) put_be32(head + 4 + 4 * i, dims[i]);
    gzwrite(g, head, (unsigned)(4 + 4 * ndim));
    if (n) gzwrite(g, data, (unsigned)n);
    cr_assert_eq(gzclose(g), Z_OK);
    free(path);
}

// Three known images: image 0 has pixel (0,0) = 255 and (27,27) = 128; labels 7, 0, 9.
static void write_tiny(const char* dir, FmnistSplit split) {
    uint8_t px[3 * 784] = {0};
    px[0] = 255;
    px[27 * 28 + 27] = 128;
    for (int p = 0; p < 784; p++) px[784 + p] = (uint8_t)(p % 200), px[2 * 784 + p] = 10;
    uint8_t labels[3] = {7, 0, 9};
    uint32_t idims[3] = {3, 28, 28}, ldims[1] = {3};
    write_idx(dir, fmnist_images_file(split), 2051, 3, idims, px, sizeof px);
    write_idx(dir, fmnist_labels_file(split), 2049, 1, ldims, labels, 3);
}

// Loads from dir expecting failure; the message must contain every given substring.
static void expect_error(const char* dir, FmnistSplit split, const char* a, const char* b, const char* c) {
    Fmnist ds;
    char err[1024] = {0};
    cr_assert_eq(fmnist_load(&ds, dir, split, err, sizeof err), -1, "loaded although %s was expected", a);
    cr_assert(strstr(err, a), "'%s' missing from: %s", a, err);
    if (b) cr_assert(strstr(err, b), "'%s' missing from: %s", b, err);
    if (c) cr_assert(strstr(err, c), "'%s' missing from: %s", c, err);
    cr_assert_null(ds.pixels);
}

// ---------------------------------------------------------------------------
// The real data set.

Test(fmnist, test_split_counts_labels_and_pixels) {
    Fmnist ds;
    load_real(&ds, FMNIST_TEST);
    cr_assert_eq(ds.n, 10000);
    int hist[FMNIST_CLASSES] = {0};
    for (int i = 0; i < ds.n; i++) hist[ds.labels[i]]++;
    for (int c = 0; c < FMNIST_CLASSES; c++) cr_assert_eq(hist[c], 1000, "class %d has %d images", c, hist[c]);
    // The first ten test labels: ankle boot, pullover, trouser, trouser, shirt, trouser, coat, shirt, sandal, sneaker.
    const uint8_t first[10] = {9, 2, 1, 1, 6, 1, 4, 6, 5, 7};
    cr_assert(memcmp(ds.labels, first, 10) == 0);
    // FNV-1a over all 7,840,000 raw bytes and their sum (computed independently with Python's gzip).
    uint64_t h = 0xcbf29ce484222325ull, sum = 0;
    for (size_t i = 0; i < (size_t)ds.n * 784; i++) {
        h = (h ^ ds.pixels[i]) * 0x100000001b3ull;
        sum += ds.pixels[i];
    }
    cr_assert_eq(h, 0x1b11fc03671b2f71ull, "pixel checksum %" PRIx64, h);
    cr_assert_eq(sum, 573469082ull);

    float img[FMNIST_SIDE * FMNIST_SIDE];
    float lo = 2, hi = -2;
    for (int i = 0; i < ds.n; i++) {
        fmnist_image(&ds, i, img);
        for (int y = 0; y < FMNIST_SIDE; y++)
            for (int x = 0; x < FMNIST_SIDE; x++) {
                float v = img[y * FMNIST_SIDE + x];
                bool pad =
                    y < FMNIST_PAD || y >= FMNIST_SIDE - FMNIST_PAD || x < FMNIST_PAD || x >= FMNIST_SIDE - FMNIST_PAD;
                if (pad) cr_assert_eq(v, -1.0f, "image %d: padding pixel (%d,%d) = %g", i, x, y, v);
                lo = fminf(lo, v), hi = fmaxf(hi, v);
            }
    }
    cr_assert_eq(lo, -1.0f);
    cr_assert_eq(hi, 1.0f);
    fmnist_image(&ds, 0, img);
    cr_assert_eq(img[(14 + FMNIST_PAD) * FMNIST_SIDE + 14 + FMNIST_PAD], 110 / 127.5f - 1.0f);
    fmnist_free(&ds);
    cr_assert_null(ds.pixels);
}

Test(fmnist, captions_are_exact) {
    const char* want[FMNIST_CLASSES] = {
        "a photo of a t-shirt", "a photo of a trouser",     "a photo of a pullover", "a photo of a dress",
        "a photo of a coat",    "a photo of a sandal",      "a photo of a shirt",    "a photo of a sneaker",
        "a photo of a bag",     "a photo of an ankle boot",
    };
    char buf[128];
    for (int c = 0; c < FMNIST_CLASSES; c++) {
        cr_assert_str_eq(fmnist_caption(c), want[c]);
        fmnist_caption_with(c, FMNIST_TONE_NONE, FMNIST_SIZE_NONE, buf, sizeof buf);
        cr_assert_str_eq(buf, want[c]);
        cr_assert(strstr(want[c], fmnist_class_name(c)));
    }
    fmnist_caption_with(7, FMNIST_TONE_DARK, FMNIST_SIZE_SMALL, buf, sizeof buf);
    cr_assert_str_eq(buf, "a photo of a dark small sneaker");
    fmnist_caption_with(9, FMNIST_TONE_NONE, FMNIST_SIZE_LARGE, buf, sizeof buf);
    cr_assert_str_eq(buf, "a photo of a large ankle boot");
    fmnist_caption_with(9, FMNIST_TONE_BRIGHT, FMNIST_SIZE_NONE, buf, sizeof buf);
    cr_assert_str_eq(buf, "a photo of a bright ankle boot");
    fmnist_caption_with(0, FMNIST_TONE_BRIGHT, FMNIST_SIZE_LARGE, buf, sizeof buf);
    cr_assert_str_eq(buf, "a photo of a bright large t-shirt");
    // Truncation keeps a terminated prefix and reports the length written.
    char small[12];
    int n = fmnist_caption_with(7, FMNIST_TONE_DARK, FMNIST_SIZE_SMALL, small, sizeof small);
    cr_assert_str_eq(small, "a photo of ");
    cr_assert_eq(n, 11);
}

Test(fmnist, attribute_thresholds_match_the_training_set) {
    Fmnist train;
    load_real(&train, FMNIST_TRAIN);
    cr_assert_eq(train.n, 60000);
    FmnistThresholds th;
    fmnist_thresholds(&train, &th);
    const FmnistThresholds* k = &FMNIST_TRAIN_THRESHOLDS;
    for (int c = 0; c < FMNIST_CLASSES; c++) {
        cr_assert(th.tone_lo[c] == k->tone_lo[c] && th.tone_hi[c] == k->tone_hi[c],
                  "class %d tone terciles %.9g %.9g, table has %.9g %.9g", c, th.tone_lo[c], th.tone_hi[c],
                  k->tone_lo[c], k->tone_hi[c]);
        cr_assert(th.size_lo[c] == k->size_lo[c] && th.size_hi[c] == k->size_hi[c],
                  "class %d size terciles %d %d, table has %d %d", c, th.size_lo[c], th.size_hi[c], k->size_lo[c],
                  k->size_hi[c]);
        cr_assert_lt(th.tone_lo[c], th.tone_hi[c]);
        cr_assert_lt(th.size_lo[c], th.size_hi[c]);
    }
    // Each word covers roughly a third of its class (ties make it uneven).
    int count[FMNIST_CLASSES][2][3] = {{{0}}};
    for (int i = 0; i < train.n; i++) {
        FmnistTone t;
        FmnistSize s;
        fmnist_attributes(&train, i, &th, &t, &s);
        count[train.labels[i]][0][t]++;
        count[train.labels[i]][1][s]++;
    }
    for (int c = 0; c < FMNIST_CLASSES; c++)
        for (int a = 0; a < 2; a++)
            for (int v = 0; v < 3; v++) {
                double f = count[c][a][v] / 6000.0;
                cr_assert(f > 0.25 && f < 0.42, "class %d attribute %d value %d covers %.3f of the class", c, a, v, f);
            }
    // The measured words agree with the measurements.
    char buf[128];
    for (int i = 0; i < 200; i++) {
        fmnist_attr_caption(&train, i, &th, buf, sizeof buf);
        int c = train.labels[i];
        bool dark = strstr(buf, " dark ") != NULL, bright = strstr(buf, " bright ") != NULL;
        cr_assert_eq(dark, train.brightness[i] < th.tone_lo[c], "%s (brightness %g)", buf, train.brightness[i]);
        cr_assert_eq(bright, train.brightness[i] >= th.tone_hi[c], "%s (brightness %g)", buf, train.brightness[i]);
        cr_assert(strstr(buf, fmnist_class_name(c)) && strncmp(buf, "a photo of a", 12) == 0, "%s", buf);
    }
    fmnist_free(&train);
}

// ---------------------------------------------------------------------------
// Small files written by the test.

Test(fmnist, tiny_files_padding_scaling_and_env_override) {
    char* dir = make_tmpdir();
    write_tiny(dir, FMNIST_TEST);
    setenv("VKPREF_FMNIST_DIR", dir, 1);
    cr_assert_str_eq(fmnist_dir(NULL), dir);
    cr_assert_str_eq(fmnist_dir(""), dir);
    cr_assert_str_eq(fmnist_dir("/elsewhere"), "/elsewhere");
    Fmnist ds;
    char err[1024];
    cr_assert_eq(fmnist_load(&ds, NULL, FMNIST_TEST, err, sizeof err), 0, "%s", err);
    cr_assert_eq(ds.n, 3);
    cr_assert(ds.labels[0] == 7 && ds.labels[1] == 0 && ds.labels[2] == 9);
    float img[FMNIST_SIDE * FMNIST_SIDE];
    fmnist_image(&ds, 0, img);
    for (int y = 0; y < FMNIST_SIDE; y++)
        for (int x = 0; x < FMNIST_SIDE; x++) {
            float want = -1.0f;
            if (y == 2 && x == 2) want = 1.0f;
            if (y == 29 && x == 29) want = 128 / 127.5f - 1.0f;
            cr_assert_eq(img[y * FMNIST_SIDE + x], want, "pixel (%d,%d) = %g, expected %g", x, y,
                         img[y * FMNIST_SIDE + x], want);
        }
    // Measurements: image 0 has two ink pixels (255, 128); image 2 is all 10 (just above FMNIST_INK).
    cr_assert_eq(ds.area[0], 2);
    cr_assert_eq(ds.brightness[0], (255 + 128) / 2.0f);
    cr_assert_eq(ds.area[2], 784);
    cr_assert_eq(ds.brightness[2], 10.0f);
    fmnist_free(&ds);
    unsetenv("VKPREF_FMNIST_DIR");
    cr_assert_str_eq(fmnist_dir(NULL), FMNIST_DEFAULT_DIR);
    remove_tree(dir, NULL, 0);
    free(dir);
}

Test(fmnist, missing_files_name_the_file_and_the_package) {
    char* dir = make_tmpdir();
    char* images = path_join(dir, "t10k-images-idx3-ubyte.gz");
    expect_error(dir, FMNIST_TEST, images, "missing", "dataset-fashion-mnist");
    // Images present, labels missing: the labels file is named.
    write_tiny(dir, FMNIST_TEST);
    char* labels = path_join(dir, "t10k-labels-idx1-ubyte.gz");
    remove(labels);
    expect_error(dir, FMNIST_TEST, labels, "missing", "apt-get install dataset-fashion-mnist");
    // The training split has its own names.
    char* train = path_join(dir, "train-images-idx3-ubyte.gz");
    expect_error(dir, FMNIST_TRAIN, train, "missing", NULL);
    remove_tree(dir, NULL, 0);
    free(images), free(labels), free(train), free(dir);
}

Test(fmnist, corrupt_files_are_reported) {
    char* dir = make_tmpdir();
    char* images = path_join(dir, "t10k-images-idx3-ubyte.gz");
    char* labels = path_join(dir, "t10k-labels-idx1-ubyte.gz");
    uint8_t px[2 * 784] = {0}, lab[3] = {1, 2, 3};
    uint32_t idims[3] = {2, 28, 28};

    // Wrong magic (the labels magic in the images file).
    write_tiny(dir, FMNIST_TEST);
    write_idx(dir, "t10k-images-idx3-ubyte.gz", 2049, 3, idims, px, sizeof px);
    expect_error(dir, FMNIST_TEST, images, "magic number 2049, expected 2051", NULL);

    // Wrong image size.
    uint32_t odd[3] = {2, 27, 27};
    write_idx(dir, "t10k-images-idx3-ubyte.gz", 2051, 3, odd, px, 2 * 27 * 27);
    expect_error(dir, FMNIST_TEST, images, "expected 28x28", NULL);

    // Counts disagree: 2 images, 3 labels.
    write_idx(dir, "t10k-images-idx3-ubyte.gz", 2051, 3, idims, px, sizeof px);
    expect_error(dir, FMNIST_TEST, labels, "3 labels but", "has 2 images");

    // Label out of range.
    write_tiny(dir, FMNIST_TEST);
    uint8_t bad[3] = {1, 10, 2};
    uint32_t ldims[1] = {3};
    write_idx(dir, "t10k-labels-idx1-ubyte.gz", 2049, 1, ldims, bad, 3);
    expect_error(dir, FMNIST_TEST, labels, "label 10 of item 1", NULL);

    // Header promises more than the file holds / holds more than promised.
    write_tiny(dir, FMNIST_TEST);
    uint32_t more[1] = {4};
    write_idx(dir, "t10k-labels-idx1-ubyte.gz", 2049, 1, more, lab, 3);
    expect_error(dir, FMNIST_TEST, labels, "truncated", "header says 4 items");
    uint32_t fewer[1] = {2};
    write_idx(dir, "t10k-labels-idx1-ubyte.gz", 2049, 1, fewer, lab, 3);
    expect_error(dir, FMNIST_TEST, labels, "more data than", NULL);

    // Header cut short.
    write_idx(dir, "t10k-labels-idx1-ubyte.gz", 2049, 0, NULL, NULL, 0);
    expect_error(dir, FMNIST_TEST, labels, "IDX header is incomplete", NULL);

    // Real file, gzip stream truncated half way.
    write_tiny(dir, FMNIST_TEST);
    {
        FILE* in = fopen(FMNIST_DEFAULT_DIR "/t10k-images-idx3-ubyte.gz", "rb");
        cr_assert(in, "the installed test images are needed for this case");
        fseek(in, 0, SEEK_END);
        long n = ftell(in);
        fseek(in, 0, SEEK_SET);
        char* buf = malloc((size_t)n);
        cr_assert_eq(fread(buf, 1, (size_t)n, in), (size_t)n);
        fclose(in);
        FILE* out = fopen(images, "wb");
        fwrite(buf, 1, (size_t)n / 2, out);
        fclose(out);
        expect_error(dir, FMNIST_TEST, images, "truncated or corrupt", "ends early");
        // Only the 8-byte gzip trailer missing: every pixel is there, but the file is still cut.
        out = fopen(images, "wb");
        fwrite(buf, 1, (size_t)n - 8, out);
        fclose(out);
        expect_error(dir, FMNIST_TEST, images, "truncated or corrupt", "ends early");
        free(buf);
    }

    // A flipped bit in the CRC of an otherwise whole file.
    write_tiny(dir, FMNIST_TEST);
    {
        FILE* f = fopen(labels, "r+b");
        fseek(f, -8, SEEK_END);
        int c = fgetc(f);
        fseek(f, -8, SEEK_END);
        fputc(c ^ 1, f);
        fclose(f);
        expect_error(dir, FMNIST_TEST, labels, "corrupt", "incorrect data check");
    }

    // Not gzip at all.
    {
        FILE* f = fopen(images, "wb");
        fputs("this is not a data set\n", f);
        fclose(f);
        expect_error(dir, FMNIST_TEST, images, "corrupt", "incorrect header check");
    }
    remove_tree(dir, NULL, 0);
    free(images), free(labels), free(dir);
}

// The dying wrapper exits with status 1 (Criterion checks the exit code).
Test(fmnist, load_or_die_exits_with_status_1, .exit_code = 1) {
    Fmnist ds;
    fmnist_load_or_die(&ds, "/nonexistent/vkpref/fmnist", FMNIST_TEST);
}
