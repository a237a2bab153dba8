// fmnist.c: Fashion-MNIST IDX loader (zlib), padding to 32x32, captions and
// measured attribute words. See fmnist.h.
#include "io/fmnist.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "util/check.h"
#include "util/fsutil.h"

#define IDX_IMAGES_MAGIC 2051u  // 0x00000803: unsigned byte, 3 dimensions
#define IDX_LABELS_MAGIC 2049u  // 0x00000801: unsigned byte, 1 dimension
#define MAX_IMAGES 10000000u    // bounds the allocation a corrupt header could ask for

#define PACKAGE_HINT                                                                                 \
    "the Debian package dataset-fashion-mnist provides it (apt-get install dataset-fashion-mnist); " \
    "VKPREF_FMNIST_DIR may point to another folder holding the same files"

static const char* const CLASS_NAMES[FMNIST_CLASSES] = {
    "t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot",
};
static const char* const CAPTIONS[FMNIST_CLASSES] = {
    "a photo of a t-shirt", "a photo of a trouser",     "a photo of a pullover", "a photo of a dress",
    "a photo of a coat",    "a photo of a sandal",      "a photo of a shirt",    "a photo of a sneaker",
    "a photo of a bag",     "a photo of an ankle boot",
};

// Measured with fmnist_thresholds on train-images-idx3-ubyte.gz (60,000 images,
// FMNIST_INK = 8); test_fmnist recomputes and compares.
const FmnistThresholds FMNIST_TRAIN_THRESHOLDS = {
    .tone_lo = {129.230957f, 156.885712f, 131.254272f, 148.624054f, 164.520157f, 110.9011f, 114.345215f, 125.341011f,
                155.332626f, 163.236069f},
    .tone_hi = {181.88913f, 187.769867f, 186.575302f, 190.350815f, 194.065002f, 136.770264f, 172.76857f, 150.641708f,
                182.195892f, 184.218369f},
    .size_lo = {419, 246, 468, 287, 437, 179, 453, 225, 395, 323},
    .size_hi = {454, 269, 517, 344, 481, 241, 501, 255, 469, 376},
};

const char* fmnist_dir(const char* dir) {
    if (dir && *dir) return dir;
    const char* env = getenv("VKPREF_FMNIST_DIR");
    if (env && *env) return env;
    return FMNIST_DEFAULT_DIR;
}

const char* fmnist_images_file(FmnistSplit split) {
    return split == FMNIST_TRAIN ? "train-images-idx3-ubyte.gz" : "t10k-images-idx3-ubyte.gz";
}
const char* fmnist_labels_file(FmnistSplit split) {
    return split == FMNIST_TRAIN ? "train-labels-idx1-ubyte.gz" : "t10k-labels-idx1-ubyte.gz";
}

static uint32_t be32(const uint8_t* p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

// Reads a whole .gz file and inflates every gzip member to the end. The raw
// inflate API is used instead of gzread because gzread quietly accepts a file
// cut just before its 8-byte CRC/length trailer (zlib 1.2.13), and a cut file
// must never load as if whole. The files are small (26 MB compressed at most).
static int gunzip_file(const char* path, uint8_t** out, size_t* out_n, char* err, size_t errlen) {
    struct stat sb;
    if (stat(path, &sb) != 0) return fail(err, errlen, "%s: missing (%s); " PACKAGE_HINT, path, strerror(errno));
    FILE* f = fopen(path, "rb");
    if (!f) return fail(err, errlen, "%s: cannot open (%s); " PACKAGE_HINT, path, strerror(errno));
    size_t in_n = (size_t)sb.st_size;
    uint8_t* in = xmalloc(in_n ? in_n : 1);
    size_t got = fread(in, 1, in_n, f);
    fclose(f);
    if (got != in_n) {
        free(in);
        return fail(err, errlen, "%s: read error (%zu of %zu bytes)", path, got, in_n);
    }
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) die("zlib: inflateInit2 failed");  // 16: gzip wrapper only
    size_t cap = in_n * 4 + 4096, n = 0;
    uint8_t* buf = xmalloc(cap);
    zs.next_in = in;
    zs.avail_in = (uInt)in_n;
    int r = Z_OK;
    const char* problem = NULL;
    for (;;) {
        if (n == cap) {
            if (cap >= ((size_t)1 << 31)) {
                problem = "decompresses to more than 2 GB";
                break;
            }
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
        size_t room = cap - n < (1u << 30) ? cap - n : (1u << 30);
        zs.next_out = buf + n;
        zs.avail_out = (uInt)room;
        r = inflate(&zs, Z_NO_FLUSH);
        n += room - zs.avail_out;
        if (r == Z_STREAM_END) {
            if (zs.avail_in == 0) break;
            inflateReset(&zs);  // another gzip member follows (gzip allows concatenation)
            continue;
        }
        if (r == Z_BUF_ERROR && zs.avail_in == 0) {
            problem = "the gzip stream ends early (file cut short)";
            break;
        }
        if (r != Z_OK && r != Z_BUF_ERROR) {
            problem = zs.msg ? zs.msg : "inflate failed";
            break;
        }
    }
    char why[160];
    if (problem) snprintf(why, sizeof why, "%s", problem);
    inflateEnd(&zs);
    free(in);
    if (problem) {
        free(buf);
        return fail(err, errlen, "%s: truncated or corrupt: %s; reinstall dataset-fashion-mnist", path, why);
    }
    *out = buf;
    *out_n = n;
    return 0;
}

// Reads one IDX file: magic, ndim big-endian u32 dimensions, then the bytes.
// dims[0] is the item count; the other dimensions multiply to the item size.
static int read_idx(const char* path, uint32_t magic, int ndim, uint32_t* dims, uint8_t** out, char* err,
                    size_t errlen) {
    uint8_t* raw;
    size_t n;
    if (gunzip_file(path, &raw, &n, err, errlen) != 0) return -1;
    size_t hn = 4 + 4 * (size_t)ndim;
    int r = 0;
    if (n < hn) {
        r = fail(err, errlen,
                 "%s: corrupt: the %zu-byte IDX header is incomplete (%zu bytes); reinstall dataset-fashion-mnist",
                 path, hn, n);
    } else if (be32(raw) != magic) {
        r = fail(err, errlen, "%s: corrupt: IDX magic number %u, expected %u; reinstall dataset-fashion-mnist", path,
                 be32(raw), magic);
    } else {
        size_t total = 1;
        for (int i = 0; i < ndim; i++) {
            dims[i] = be32(raw + 4 + 4 * i);
            total *= dims[i];  // at most 10^7 * 28 * 28 once the checks below pass
        }
        if (dims[0] == 0 || dims[0] > MAX_IMAGES || (ndim == 3 && (dims[1] != FMNIST_RAW || dims[2] != FMNIST_RAW))) {
            if (ndim == 3)
                r = fail(err, errlen, "%s: corrupt: header says %u images of %ux%u, expected 28x28 images", path,
                         dims[0], dims[1], dims[2]);
            else
                r = fail(err, errlen, "%s: corrupt: header says %u labels", path, dims[0]);
        } else if (n - hn < total) {
            r = fail(err, errlen, "%s: truncated: header says %u items (%zu bytes) but the file holds %zu bytes", path,
                     dims[0], total, n - hn);
        } else if (n - hn > total) {
            r = fail(err, errlen, "%s: corrupt: more data than the header's %u items (%zu bytes extra)", path, dims[0],
                     n - hn - total);
        } else {
            memmove(raw, raw + hn, total);  // keep only the payload
            raw = xrealloc(raw, total);
        }
    }
    if (r != 0) {
        free(raw);
        return -1;
    }
    *out = raw;
    return 0;
}

void fmnist_measure(const uint8_t* raw, float* brightness, int32_t* area) {
    uint64_t sum = 0;
    int32_t count = 0;
    for (int p = 0; p < FMNIST_RAW * FMNIST_RAW; p++)
        if (raw[p] >= FMNIST_INK) sum += raw[p], count++;
    *area = count;
    *brightness = count ? (float)((double)sum / count) : 0.0f;
}

int fmnist_load(Fmnist* ds, const char* dir, FmnistSplit split, char* err, size_t errlen) {
    memset(ds, 0, sizeof *ds);
    const char* d = fmnist_dir(dir);
    char* ipath = path_join(d, fmnist_images_file(split));
    char* lpath = path_join(d, fmnist_labels_file(split));
    uint32_t idims[3] = {0}, ldims[1] = {0};
    uint8_t *pixels = NULL, *labels = NULL;
    int r = read_idx(ipath, IDX_IMAGES_MAGIC, 3, idims, &pixels, err, errlen);
    if (r == 0) r = read_idx(lpath, IDX_LABELS_MAGIC, 1, ldims, &labels, err, errlen);
    if (r == 0 && idims[0] != ldims[0])
        r = fail(err, errlen, "%s: corrupt: %u labels but %s has %u images", lpath, ldims[0], ipath, idims[0]);
    for (uint32_t i = 0; r == 0 && i < ldims[0]; i++)
        if (labels[i] >= FMNIST_CLASSES)
            r = fail(err, errlen, "%s: corrupt: label %u of item %u (expected 0..9)", lpath, labels[i], i);
    free(ipath);
    free(lpath);
    if (r != 0) {
        free(pixels);
        free(labels);
        return -1;
    }
    ds->n = (int)idims[0];
    ds->pixels = pixels;
    ds->labels = labels;
    ds->brightness = xmalloc((size_t)ds->n * sizeof *ds->brightness);
    ds->area = xmalloc((size_t)ds->n * sizeof *ds->area);
    for (int i = 0; i < ds->n; i++)
        fmnist_measure(pixels + (size_t)i * FMNIST_RAW * FMNIST_RAW, &ds->brightness[i], &ds->area[i]);
    return 0;
}

void fmnist_load_or_die(Fmnist* ds, const char* dir, FmnistSplit split) {
    char err[1024];
    if (fmnist_load(ds, dir, split, err, sizeof err) != 0) die("%s", err);
}

void fmnist_free(Fmnist* ds) {
    free(ds->pixels);
    free(ds->labels);
    free(ds->brightness);
    free(ds->area);
    memset(ds, 0, sizeof *ds);
}

void fmnist_image(const Fmnist* ds, int i, float* out) {
    if (i < 0 || i >= ds->n) die("fmnist_image: index %d out of range (%d images)", i, ds->n);
    const uint8_t* src = ds->pixels + (size_t)i * FMNIST_RAW * FMNIST_RAW;
    for (int p = 0; p < FMNIST_SIDE * FMNIST_SIDE; p++) out[p] = -1.0f;
    for (int y = 0; y < FMNIST_RAW; y++)
        for (int x = 0; x < FMNIST_RAW; x++)
            out[(y + FMNIST_PAD) * FMNIST_SIDE + x + FMNIST_PAD] = (float)src[y * FMNIST_RAW + x] / 127.5f - 1.0f;
}

const char* fmnist_class_name(int label) {
    if (label < 0 || label >= FMNIST_CLASSES) die("fmnist: label %d out of range 0..9", label);
    return CLASS_NAMES[label];
}

const char* fmnist_caption(int label) {
    if (label < 0 || label >= FMNIST_CLASSES) die("fmnist: label %d out of range 0..9", label);
    return CAPTIONS[label];
}

// ---------------------------------------------------------------------------
// Attributes.

static int cmp_float(const void* a, const void* b) {
    float x = *(const float*)a, y = *(const float*)b;
    return (x > y) - (x < y);
}
static int cmp_i32(const void* a, const void* b) {
    int32_t x = *(const int32_t*)a, y = *(const int32_t*)b;
    return (x > y) - (x < y);
}

void fmnist_thresholds(const Fmnist* ds, FmnistThresholds* th) {
    memset(th, 0, sizeof *th);
    float* b = xmalloc((size_t)(ds->n ? ds->n : 1) * sizeof *b);
    int32_t* a = xmalloc((size_t)(ds->n ? ds->n : 1) * sizeof *a);
    for (int c = 0; c < FMNIST_CLASSES; c++) {
        int m = 0;
        for (int i = 0; i < ds->n; i++)
            if (ds->labels[i] == c) b[m] = ds->brightness[i], a[m] = ds->area[i], m++;
        if (m == 0) die("fmnist_thresholds: class %d (%s) has no images", c, CLASS_NAMES[c]);
        qsort(b, (size_t)m, sizeof *b, cmp_float);
        qsort(a, (size_t)m, sizeof *a, cmp_i32);
        th->tone_lo[c] = b[m / 3];
        th->tone_hi[c] = b[2 * m / 3];
        th->size_lo[c] = a[m / 3];
        th->size_hi[c] = a[2 * m / 3];
    }
    free(b);
    free(a);
}

void fmnist_attributes(const Fmnist* ds, int i, const FmnistThresholds* th, FmnistTone* tone, FmnistSize* size) {
    if (i < 0 || i >= ds->n) die("fmnist_attributes: index %d out of range (%d images)", i, ds->n);
    int c = ds->labels[i];
    float b = ds->brightness[i];
    int32_t a = ds->area[i];
    *tone = b < th->tone_lo[c] ? FMNIST_TONE_DARK : b >= th->tone_hi[c] ? FMNIST_TONE_BRIGHT : FMNIST_TONE_NONE;
    *size = a < th->size_lo[c] ? FMNIST_SIZE_SMALL : a >= th->size_hi[c] ? FMNIST_SIZE_LARGE : FMNIST_SIZE_NONE;
}

const char* fmnist_tone_word(FmnistTone t) {
    return t == FMNIST_TONE_DARK ? "dark" : t == FMNIST_TONE_BRIGHT ? "bright" : "";
}
const char* fmnist_size_word(FmnistSize s) {
    return s == FMNIST_SIZE_SMALL ? "small" : s == FMNIST_SIZE_LARGE ? "large" : "";
}

int fmnist_caption_with(int label, FmnistTone tone, FmnistSize size, char* buf, size_t n) {
    const char* words[3] = {fmnist_tone_word(tone), fmnist_size_word(size), fmnist_class_name(label)};
    const char* first = *words[0] ? words[0] : *words[1] ? words[1] : words[2];
    // English article: "an ankle boot" but "a large ankle boot".
    bool vowel = strchr("aeiou", first[0]) != NULL;
    int k = snprintf(buf, n, "a photo of %s", vowel ? "an" : "a");
    for (int w = 0; w < 3; w++) {
        if (!*words[w]) continue;
        size_t at = (size_t)k < n ? (size_t)k : n;
        k += snprintf(buf + at, n - at, " %s", words[w]);
    }
    return (size_t)k < n ? k : (int)(n ? n - 1 : 0);
}

int fmnist_attr_caption(const Fmnist* ds, int i, const FmnistThresholds* th, char* buf, size_t n) {
    FmnistTone t;
    FmnistSize s;
    fmnist_attributes(ds, i, th, &t, &s);
    return fmnist_caption_with(ds->labels[i], t, s, buf, n);
}

// Comparing against every caption the writer can produce keeps the two exact
// inverses of each other by construction (270 short strcmp calls per caption).
bool fmnist_parse_caption(const char* caption, int* label, FmnistTone* tone, FmnistSize* size) {
    for (int l = 0; l < FMNIST_CLASSES; l++)
        for (int t = 0; t < 3; t++)
            for (int s = 0; s < 3; s++) {
                char buf[128];
                fmnist_caption_with(l, (FmnistTone)t, (FmnistSize)s, buf, sizeof buf);
                if (!strcmp(buf, caption)) {
                    *label = l;
                    if (tone) *tone = (FmnistTone)t;
                    if (size) *size = (FmnistSize)s;
                    return true;
                }
            }
    return false;
}
