// test_safetensors.c: the safetensors reader and writer and the atomic file
// helpers. Round trips (F32 exact, F16/BF16 within half precision, I64), hand-
// written BF16/I64/I32 files, the real golden file, every malformed-header case
// (each error names the file and the tensor), half conversions (exhaustive over
// all 65,536 halves, ties to even), and atomicity: no temporary files left, a
// failed write keeps the old file, a reader racing a writer only sees whole files.
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "io/safetensors.h"
#include "test_util.h"
#include "util/fsutil.h"
#include "util/half.h"

// ---------------------------------------------------------------------------
// Helpers.

// A fresh folder under $TMPDIR (or /tmp); the caller removes it.
static char* make_tmpdir(void) {
    const char* base = getenv("TMPDIR");
    char* tmpl = path_join(base && *base ? base : "/tmp", "vkpref_st_XXXXXX");
    cr_assert(mkdtemp(tmpl), "mkdtemp failed: %s", strerror(errno));
    return tmpl;
}

// Writes an 8-byte length, the header text verbatim, then data_len bytes (a ramp).
static void write_raw(const char* path, const char* header, uint64_t declared_len, size_t data_len) {
    FILE* f = fopen(path, "wb");
    cr_assert(f, "cannot create %s", path);
    fwrite(&declared_len, 8, 1, f);
    fwrite(header, 1, strlen(header), f);
    for (size_t i = 0; i < data_len; i++) fputc((int)(i & 0xff), f);
    fclose(f);
}
static void write_header_file(const char* path, const char* header, size_t data_len) {
    write_raw(path, header, strlen(header), data_len);
}

static size_t file_size(const char* path) {
    struct stat sb;
    cr_assert(stat(path, &sb) == 0, "stat %s", path);
    return (size_t)sb.st_size;
}

static char* read_all(const char* path, size_t* n) {
    *n = file_size(path);
    FILE* f = fopen(path, "rb");
    cr_assert(f);
    char* buf = malloc(*n + 1);
    cr_assert(fread(buf, 1, *n, f) == *n);
    fclose(f);
    return buf;
}

// Entries of dir other than . and ..; names joined with spaces into out.
static int list_dir(const char* dir, char* out, size_t outlen) {
    DIR* d = opendir(dir);
    cr_assert(d, "opendir %s", dir);
    int n = 0;
    out[0] = 0;
    struct dirent* e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        n++;
        strncat(out, e->d_name, outlen - strlen(out) - 2);
        strcat(out, " ");
    }
    closedir(d);
    return n;
}

static float* rand_floats(TestRng* r, int64_t n, double lo, double hi) {
    float* a = malloc((size_t)(n ? n : 1) * sizeof *a);
    for (int64_t i = 0; i < n; i++) a[i] = (float)rng_uniform(r, lo, hi);
    return a;
}

// ---------------------------------------------------------------------------
// Round trips.

Test(safetensors, roundtrip_f32_exact_with_metadata) {
    char* dir = make_tmpdir();
    char* path = path_join(dir, "model.safetensors");
    TestRng rng = rng_seed(1);
    int64_t s_w[4] = {4, 3, 3, 3}, s_b[1] = {4}, s_e[2] = {0, 5};
    float* w = rand_floats(&rng, 108, -3, 3);
    float* b = rand_floats(&rng, 4, -1, 1);
    float scalar = 42.5f;
    int64_t steps[3] = {999, 0, 500}, s_t[1] = {3};

    StWriter wr;
    st_writer_init(&wr, ST_F32);
    st_writer_add(&wr, "conv_in.weight", 4, s_w, w);
    st_writer_add(&wr, "conv_in.bias", 1, s_b, b);
    st_writer_add(&wr, "empty", 2, s_e, NULL);
    st_writer_add(&wr, "scale", 0, NULL, &scalar);
    st_writer_add_i64(&wr, "timesteps", 1, s_t, steps);
    st_writer_meta(&wr, "format", "pt");
    st_writer_meta(&wr, "note", "quote \" backslash \\ newline \n done");
    st_writer_meta(&wr, "format", "pt");  // a repeated key replaces
    char err[512];
    cr_assert_eq(st_writer_write(&wr, path, err, sizeof err), 0, "%s", err);

    // Header length is a multiple of 8 and the data section is exactly the tensors.
    size_t n;
    char* raw = read_all(path, &n);
    uint64_t hlen;
    memcpy(&hlen, raw, 8);
    cr_assert_eq(hlen % 8, 0, "header length %" PRIu64, hlen);
    cr_assert_eq(n, 8 + hlen + 108 * 4 + 4 * 4 + 4 + 3 * 8);
    cr_assert_eq(raw[8], '{');
    free(raw);

    SafeTensors* st = st_open(path, err, sizeof err);
    cr_assert(st, "%s", err);
    cr_assert_eq(st_count(st), 5);
    // Order: I64 first (larger dtype), then F32 tensors by name; offsets contiguous from 0.
    const char* want_order[5] = {"timesteps", "conv_in.bias", "conv_in.weight", "empty", "scale"};
    uint64_t at = 0;
    for (int i = 0; i < 5; i++) {
        const StTensor* t = st_tensor_at(st, i);
        cr_assert_str_eq(t->name, want_order[i]);
        cr_assert_eq(t->begin, at, "%s begins at %" PRIu64 ", expected %" PRIu64, t->name, t->begin, at);
        cr_assert_eq(t->begin % st_dtype_size(t->dtype), 0, "%s is not aligned", t->name);
        at = t->end;
    }
    const StTensor* t = st_find(st, "conv_in.weight");
    cr_assert(t);
    cr_assert_eq(t->dtype, ST_F32);
    cr_assert_eq(t->ndim, 4);
    for (int i = 0; i < 4; i++) cr_assert_eq(t->shape[i], s_w[i]);
    cr_assert_eq(t->numel, 108);
    float* got = malloc(108 * sizeof *got);
    st_read_f32(st, t, got);
    cr_assert(memcmp(got, w, 108 * sizeof *got) == 0, "F32 round trip is not bit-exact");
    cr_assert_eq(st_load_f32(st, "conv_in.bias", 1, s_b, got, err, sizeof err), 0, "%s", err);
    cr_assert(memcmp(got, b, 4 * sizeof *got) == 0);
    t = st_find(st, "scale");
    cr_assert(t && t->ndim == 0 && t->numel == 1);
    st_read_f32(st, t, got);
    cr_assert_eq(got[0], 42.5f);
    t = st_find(st, "empty");
    cr_assert(t && t->numel == 0 && t->begin == t->end);
    t = st_find(st, "timesteps");
    cr_assert(t && t->dtype == ST_I64);
    st_read_f32(st, t, got);
    cr_assert(got[0] == 999 && got[1] == 0 && got[2] == 500);
    cr_assert_null(st_find(st, "nope"));
    cr_assert_eq(st_meta_count(st), 2);
    cr_assert_str_eq(st_meta_get(st, "format"), "pt");
    cr_assert_str_eq(st_meta_get(st, "note"), "quote \" backslash \\ newline \n done");
    cr_assert_null(st_meta_get(st, "missing"));
    st_close(st);

    // Insertion order does not change a byte.
    char* path2 = path_join(dir, "again.safetensors");
    StWriter wr2;
    st_writer_init(&wr2, ST_F32);
    st_writer_add(&wr2, "scale", 0, NULL, &scalar);
    st_writer_add_i64(&wr2, "timesteps", 1, s_t, steps);
    st_writer_add(&wr2, "empty", 2, s_e, NULL);
    st_writer_add(&wr2, "conv_in.bias", 1, s_b, b);
    st_writer_add(&wr2, "conv_in.weight", 4, s_w, w);
    st_writer_meta(&wr2, "format", "pt");
    st_writer_meta(&wr2, "note", "quote \" backslash \\ newline \n done");
    cr_assert_eq(st_writer_write(&wr2, path2, err, sizeof err), 0, "%s", err);
    size_t n1, n2;
    char *a1 = read_all(path, &n1), *a2 = read_all(path2, &n2);
    cr_assert(n1 == n2 && memcmp(a1, a2, n1) == 0, "insertion order changed the file");
    free(a1), free(a2);

    char listing[512];
    cr_assert_eq(list_dir(dir, listing, sizeof listing), 2, "unexpected files: %s", listing);
    st_writer_free(&wr);
    st_writer_free(&wr2);
    free(got), free(w), free(b);
    remove_tree(dir, NULL, 0);
    free(path), free(path2), free(dir);
}

Test(safetensors, roundtrip_f16_and_bf16_within_precision) {
    char* dir = make_tmpdir();
    TestRng rng = rng_seed(2);
    const int64_t n = 4096;
    float* x = rand_floats(&rng, n, -8, 8);
    // Cover the magnitudes weights really have, subnormals and the edges of the range.
    for (int64_t i = 0; i < n / 4; i++) x[i] *= (float)pow(10.0, rng_uniform(&rng, -7, 3.5));
    x[0] = 0.0f, x[1] = -0.0f, x[2] = 65504.0f, x[3] = -65504.0f, x[4] = 1e-8f, x[5] = 6.1e-5f;
    int64_t shape[2] = {64, 64};
    const StDtype kinds[2] = {ST_F16, ST_BF16};
    for (int k = 0; k < 2; k++) {
        char* path = path_join(dir, k ? "bf16.safetensors" : "f16.safetensors");
        StWriter wr;
        st_writer_init(&wr, kinds[k]);
        st_writer_add(&wr, "w", 2, shape, x);
        char err[512];
        cr_assert_eq(st_writer_write(&wr, path, err, sizeof err), 0, "%s", err);
        st_writer_free(&wr);
        cr_assert_eq(file_size(path) % 2, 0);
        SafeTensors* st = st_open(path, err, sizeof err);
        cr_assert(st, "%s", err);
        const StTensor* t = st_find(st, "w");
        cr_assert_eq(t->dtype, kinds[k]);
        cr_assert_eq(t->end - t->begin, (uint64_t)n * 2);
        float* y = malloc((size_t)n * sizeof *y);
        st_read_f32(st, t, y);
        // F16: 11 significant bits (relative error <= 2^-11), absolute 2^-25 in the subnormal range.
        // BF16: 8 significant bits (relative error <= 2^-8), same exponent range as float.
        double rel = k ? 0x1p-8 : 0x1p-11, abs_floor = k ? 0.0 : 0x1p-25;
        for (int64_t i = 0; i < n; i++) {
            double e = fabs((double)y[i] - x[i]);
            cr_assert(e <= rel * fabs(x[i]) + abs_floor, "%s: x[%" PRId64 "] = %.9g read back as %.9g",
                      st_dtype_name(kinds[k]), i, x[i], y[i]);
            float expect = k ? bf16_to_f32(f32_to_bf16(x[i])) : f16_to_f32(f32_to_f16(x[i]));
            cr_assert(memcmp(&expect, &y[i], 4) == 0);
        }
        cr_assert(signbit(y[1]), "-0 lost its sign");
        free(y);
        st_close(st);
        free(path);
    }
    free(x);
    remove_tree(dir, NULL, 0);
    free(dir);
}

Test(safetensors, half_conversion_exhaustive_and_ties_to_even) {
    // Every half survives half -> float -> half; NaNs stay NaN.
    for (uint32_t h = 0; h < 65536; h++) {
        float f = f16_to_f32((uint16_t)h);
        bool nan = (h & 0x7c00) == 0x7c00 && (h & 0x3ff);
        if (nan) {
            cr_assert(isnan(f), "half 0x%04x should be NaN", h);
            cr_assert(isnan(f16_to_f32(f32_to_f16(f))));
        } else {
            cr_assert_eq(f32_to_f16(f), h, "half 0x%04x -> %.9g -> 0x%04x", h, f, f32_to_f16(f));
        }
    }
    // Random floats: the result is the nearest half, ties to the even mantissa.
    TestRng rng = rng_seed(3);
    for (int i = 0; i < 200000; i++) {
        float x = (float)(rng_uniform(&rng, -1, 1) * pow(2.0, rng_uniform(&rng, -26, 16)));
        uint16_t h = f32_to_f16(x);
        double err = fabs((double)f16_to_f32(h) - x);
        for (int d = -1; d <= 1; d += 2) {
            uint16_t nb = (uint16_t)(h + d);
            if ((nb & 0x7fff) >= 0x7c00 || ((h & 0x7fff) == 0 && d < 0)) continue;
            double e2 = fabs((double)f16_to_f32(nb) - x);
            cr_assert(err < e2 || (err == e2 && (h & 1) == 0),
                      "x = %.9g -> 0x%04x, but 0x%04x is closer or the even tie", x, h, nb);
        }
    }
    // Hand-picked edges.
    cr_assert_eq(f32_to_f16(1.0f), 0x3c00);
    cr_assert_eq(f32_to_f16(1.0f + 0x1p-11f), 0x3c00);      // tie -> even (down)
    cr_assert_eq(f32_to_f16(1.0f + 3 * 0x1p-11f), 0x3c02);  // tie -> even (up)
    cr_assert_eq(f32_to_f16(65504.0f), 0x7bff);             // largest half
    cr_assert_eq(f32_to_f16(65519.0f), 0x7bff);
    cr_assert_eq(f32_to_f16(65520.0f), 0x7c00);  // rounds up to infinity
    cr_assert_eq(f32_to_f16(-1e9f), 0xfc00);
    cr_assert_eq(f32_to_f16(0x1p-24f), 0x0001);    // smallest subnormal
    cr_assert_eq(f32_to_f16(0x1p-25f), 0x0000);    // tie -> even (zero)
    cr_assert_eq(f32_to_f16(0x1.8p-24f), 0x0002);  // tie -> even (up)
    cr_assert_eq(f32_to_f16(-0.0f), 0x8000);
    cr_assert_eq(f32_to_f16(INFINITY), 0x7c00);
    cr_assert_eq(f32_to_f16(NAN) & 0x7e00, 0x7e00);
    // bfloat16.
    cr_assert_eq(f32_to_bf16(1.0f), 0x3f80);
    cr_assert_eq(f32_to_bf16(1.0f + 0x1p-8f), 0x3f80);  // tie -> even
    cr_assert_eq(f32_to_bf16(1.0f + 3 * 0x1p-8f), 0x3f82);
    cr_assert(isnan(bf16_to_f32(f32_to_bf16(NAN))));
    cr_assert_eq(bf16_to_f32(0xc020), -2.5f);
}

Test(safetensors, reads_hand_written_bf16_i64_i32_f16) {
    char* dir = make_tmpdir();
    char* path = path_join(dir, "hand.safetensors");
    // BF16 1.0, -2.5, 0.15625 | F16 1.0, -2.0, 65504, 2^-24 | I64 999, -1 | I32 -3, 7
    const uint8_t data[] = {0x80, 0x3f, 0x20, 0xc0, 0x20, 0x3e,              // bf16 [0, 6)
                            0x00, 0x3c, 0x00, 0xc0, 0xff, 0x7b, 0x01, 0x00,  // f16 [6, 14)
                            0xe7, 0x03, 0,    0,    0,    0,    0,    0,
                            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,   // i64 [14, 30)
                            0xfd, 0xff, 0xff, 0xff, 0x07, 0x00, 0x00, 0x00};  // i32 [30, 38)
    // Unpadded header, unaligned offsets, metadata last: all valid.
    const char* header =
        "{\"b\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[0,6]},"
        "\"h\":{\"dtype\":\"F16\",\"shape\":[2,2],\"data_offsets\":[6,14]},"
        "\"timesteps\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[14,30]},"
        "\"k\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[30,38]},"
        "\"__metadata__\":{\"format\":\"pt\"}}";
    FILE* f = fopen(path, "wb");
    uint64_t hl = strlen(header);
    fwrite(&hl, 8, 1, f);
    fwrite(header, 1, hl, f);
    fwrite(data, 1, sizeof data, f);
    fclose(f);
    char err[512];
    SafeTensors* st = st_open(path, err, sizeof err);
    cr_assert(st, "%s", err);
    cr_assert_eq(st_count(st), 4);
    cr_assert_str_eq(st_meta_get(st, "format"), "pt");
    float out[4];
    st_read_f32(st, st_find(st, "b"), out);
    cr_assert(out[0] == 1.0f && out[1] == -2.5f && out[2] == 0.15625f, "bf16 read %g %g %g", out[0], out[1], out[2]);
    st_read_f32(st, st_find(st, "h"), out);
    cr_assert(out[0] == 1.0f && out[1] == -2.0f && out[2] == 65504.0f && out[3] == 0x1p-24f);
    const StTensor* t = st_find(st, "timesteps");
    cr_assert_eq(t->dtype, ST_I64);
    st_read_f32(st, t, out);
    cr_assert(out[0] == 999.0f && out[1] == -1.0f);
    int64_t raw[2];
    memcpy(raw, st_data(st, t), sizeof raw);
    cr_assert(raw[0] == 999 && raw[1] == -1);
    st_read_f32(st, st_find(st, "k"), out);
    cr_assert(out[0] == -3.0f && out[1] == 7.0f);
    st_close(st);
    remove_tree(dir, NULL, 0);
    free(path), free(dir);
}

Test(safetensors, reads_golden_file_written_by_python) {
    char* path = path_join(VKPREF_TEST_DATA, "golden/tiny/golden.safetensors");
    char err[512];
    SafeTensors* st = st_open(path, err, sizeof err);
    cr_assert(st, "%s", err);
    cr_assert_gt(st_count(st), 10);
    const StTensor* t = st_find(st, "encoder_hidden_states");
    cr_assert(t);
    cr_assert(t->dtype == ST_F32 && t->ndim == 3 && t->shape[0] == 2 && t->shape[1] == 5 && t->shape[2] == 16);
    float* x = malloc((size_t)t->numel * sizeof *x);
    st_read_f32(st, t, x);
    for (int64_t i = 0; i < t->numel; i++) cr_assert(isfinite(x[i]));
    free(x);
    int64_t wrong[3] = {2, 16, 5};
    float dummy[160];
    cr_assert_eq(st_load_f32(st, "encoder_hidden_states", 3, wrong, dummy, err, sizeof err), -1);
    cr_assert(strstr(err, path) && strstr(err, "tensor 'encoder_hidden_states': shape [2,5,16] but expected [2,16,5]"),
              "%s", err);
    cr_assert_eq(st_load_f32(st, "no.such.tensor", 1, wrong, dummy, err, sizeof err), -1);
    cr_assert(strstr(err, path) && strstr(err, "no tensor named 'no.such.tensor'"), "%s", err);
    st_close(st);
    free(path);
}

// ---------------------------------------------------------------------------
// Malformed files: each must fail to open, naming the file (and the tensor).

typedef struct BadCase {
    const char* what;
    const char* header;
    size_t data_len;
    const char* expect1;  // substrings the message must contain
    const char* expect2;
} BadCase;

#define T1(d, s, o) "{\"w\":{\"dtype\":\"" d "\",\"shape\":" s ",\"data_offsets\":" o "}}"

static const BadCase BAD[] = {
    {"bad JSON", "{\"w\":{\"dtype\":\"F32\",", 0, "header is not valid JSON", NULL},
    {"not an object", "[1, 2, 3]", 0, "header is not a JSON object", NULL},
    {"garbage after JSON", "{}  x", 0, "bytes after the JSON object", NULL},
    {"unknown dtype", T1("F64", "[2]", "[0,16]"), 16, "tensor 'w'", "dtype \"F64\" is not supported"},
    {"lower-case dtype", T1("f32", "[2]", "[0,8]"), 8, "tensor 'w'", "dtype \"f32\""},
    {"missing dtype", "{\"w\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "tensor 'w'", "\"dtype\""},
    {"entry not an object", "{\"w\":5}", 0, "tensor 'w'", "not a JSON object"},
    {"negative shape", T1("F32", "[-1]", "[0,4]"), 4, "tensor 'w'", "shape entry 0 is -1"},
    {"fractional shape", T1("F32", "[2,1.5]", "[0,12]"), 12, "tensor 'w'", "shape entry 1 is 1.5"},
    {"string shape", T1("F32", "[\"2\"]", "[0,8]"), 8, "tensor 'w'", "shape entry 0"},
    {"shape not an array", T1("F32", "2", "[0,8]"), 8, "tensor 'w'", "\"shape\""},
    {"huge shape (overflow)", T1("F32", "[4294967296,4294967296,4294967296]", "[0,8]"), 8, "tensor 'w'",
     "too many elements"},
    {"huge shape (no overflow)", T1("F32", "[1000000000000]", "[0,8]"), 8, "tensor 'w'", "needs 4000000000000 bytes"},
    {"too many dims", T1("F32", "[1,1,1,1,1,1,1,1,1]", "[0,4]"), 4, "tensor 'w'", "9 dimensions"},
    {"offsets past data", T1("F32", "[25]", "[0,100]"), 16, "tensor 'w'", "data_offsets [0, 100] run past the end"},
    {"begin > end", T1("F32", "[1]", "[8,4]"), 16, "tensor 'w'", "begin > end"},
    {"negative offset", T1("F32", "[1]", "[-4,0]"), 16, "tensor 'w'", "data_offsets"},
    {"one offset", T1("F32", "[1]", "[4]"), 16, "tensor 'w'", "data_offsets"},
    {"missing offsets", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "tensor 'w'", "data_offsets"},
    {"size/shape mismatch", "{\"conv_in.weight\":{\"dtype\":\"F32\",\"shape\":[32,1,3,3],\"data_offsets\":[0,100]}}",
     100, "tensor 'conv_in.weight': data_offsets [0, 100] but shape [32,1,3,3] F32 needs 1152 bytes", NULL},
    {"F16 size mismatch", T1("F16", "[4]", "[0,16]"), 16, "tensor 'w'", "F16 needs 8 bytes"},
    {"overlap",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}",
     24, "tensor 'b'", "overlap tensor 'a' [0, 16]"},
    {"identical ranges",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
     8, "overlap", "tensor '"},
    {"duplicate name",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
     "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
     16, "tensor 'a'", "appears twice"},
    {"metadata not strings", "{\"__metadata__\":{\"step\":5}}", 0, "\"__metadata__\" key 'step'", "not a string"},
    {"metadata not an object", "{\"__metadata__\":[]}", 0, "\"__metadata__\" is not a JSON object", NULL},
};

Test(safetensors, malformed_headers_name_file_and_tensor) {
    char* dir = make_tmpdir();
    char* path = path_join(dir, "model.safetensors");
    char err[1024];
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        const BadCase* c = &BAD[i];
        write_header_file(path, c->header, c->data_len);
        err[0] = 0;
        SafeTensors* st = st_open(path, err, sizeof err);
        cr_assert_null(st, "case '%s' opened without error", c->what);
        cr_assert(strncmp(err, path, strlen(path)) == 0 && err[strlen(path)] == ':',
                  "case '%s': message does not start with the file name: %s", c->what, err);
        cr_assert(strstr(err, c->expect1), "case '%s': '%s' missing from: %s", c->what, c->expect1, err);
        if (c->expect2)
            cr_assert(strstr(err, c->expect2), "case '%s': '%s' missing from: %s", c->what, c->expect2, err);
    }
    // The example message of the brief, verbatim.
    const BadCase* mismatch = NULL;
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++)
        if (!strcmp(BAD[i].what, "size/shape mismatch")) mismatch = &BAD[i];
    cr_assert(mismatch);
    write_header_file(path, mismatch->header, 100);
    cr_assert_null(st_open(path, err, sizeof err));
    char want[512];
    snprintf(want, sizeof want,
             "%s: tensor 'conv_in.weight': data_offsets [0, 100] but shape [32,1,3,3] F32 needs 1152 bytes", path);
    cr_assert_str_eq(err, want);
    remove_tree(dir, NULL, 0);
    free(path), free(dir);
}

Test(safetensors, malformed_lengths_and_files) {
    char* dir = make_tmpdir();
    char* path = path_join(dir, "x.safetensors");
    char err[1024];
    // Too short for the length field.
    FILE* f = fopen(path, "wb");
    fwrite("abc", 1, 3, f);
    fclose(f);
    cr_assert_null(st_open(path, err, sizeof err));
    cr_assert(strstr(err, path) && strstr(err, "too short"), "%s", err);
    // Header length beyond the file (and absurdly large).
    const char* h = "{}      ";
    const uint64_t lens[3] = {1000, UINT64_MAX, (uint64_t)1 << 40};
    for (int i = 0; i < 3; i++) {
        write_raw(path, h, lens[i], 0);
        cr_assert_null(st_open(path, err, sizeof err));
        cr_assert(strstr(err, path) && strstr(err, "exceeds the file size"), "%s", err);
    }
    // Header length shorter than the JSON (cuts it).
    write_raw(path, "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 10, 60);
    cr_assert_null(st_open(path, err, sizeof err));
    cr_assert(strstr(err, path) && strstr(err, "not valid JSON"), "%s", err);
    // Zero header length.
    write_raw(path, "", 0, 0);
    cr_assert_null(st_open(path, err, sizeof err));
    cr_assert(strstr(err, "too small"), "%s", err);
    // Missing file, a folder.
    char* missing = path_join(dir, "missing.safetensors");
    cr_assert_null(st_open(missing, err, sizeof err));
    cr_assert(strstr(err, missing) && strstr(err, "No such file"), "%s", err);
    cr_assert_null(st_open(dir, err, sizeof err));
    cr_assert(strstr(err, "not a regular file"), "%s", err);
    // Truncated copy of a valid file: offsets now run past the data.
    int64_t shape[1] = {64};
    float v[64] = {0};
    StWriter wr;
    st_writer_init(&wr, ST_F32);
    st_writer_add(&wr, "t", 1, shape, v);
    cr_assert_eq(st_writer_write(&wr, path, err, sizeof err), 0, "%s", err);
    st_writer_free(&wr);
    cr_assert_eq(truncate(path, (off_t)file_size(path) - 1), 0);
    cr_assert_null(st_open(path, err, sizeof err));
    cr_assert(strstr(err, "tensor 't'") && strstr(err, "truncated?"), "%s", err);
    // Empty header object: valid, no tensors.
    write_header_file(path, "{}      ", 0);
    SafeTensors* st = st_open(path, err, sizeof err);
    cr_assert(st, "%s", err);
    cr_assert_eq(st_count(st), 0);
    cr_assert_null(st_find(st, "x"));
    st_close(st);
    remove_tree(dir, NULL, 0);
    free(path), free(missing), free(dir);
}

// ---------------------------------------------------------------------------
// Atomic writes.

Test(safetensors, failed_write_keeps_old_file_and_leaves_no_temp) {
    char* dir = make_tmpdir();
    char* path = path_join(dir, "model.safetensors");
    char err[512];
    int64_t small[1] = {16};
    float v[16];
    for (int i = 0; i < 16; i++) v[i] = (float)i;
    StWriter wr;
    st_writer_init(&wr, ST_F32);
    st_writer_add(&wr, "old", 1, small, v);
    cr_assert_eq(st_writer_write(&wr, path, err, sizeof err), 0, "%s", err);
    st_writer_free(&wr);
    size_t n_old;
    char* old = read_all(path, &n_old);

    // A file-size limit makes the next (large) write fail half way, like a full disk.
    int64_t big[1] = {1 << 20};
    float* data = calloc((size_t)big[0], sizeof *data);
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim = {.rlim_cur = 65536, .rlim_max = RLIM_INFINITY};
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    st_writer_init(&wr, ST_F32);
    st_writer_add(&wr, "new", 1, big, data);
    cr_assert_eq(st_writer_write(&wr, path, err, sizeof err), -1, "the write should have failed");
    cr_assert(strstr(err, path), "%s", err);
    st_writer_free(&wr);
    lim.rlim_cur = RLIM_INFINITY;
    setrlimit(RLIMIT_FSIZE, &lim);

    size_t n_now;
    char* now = read_all(path, &n_now);
    cr_assert(n_now == n_old && memcmp(old, now, n_old) == 0, "the old file was changed");
    char listing[512];
    cr_assert_eq(list_dir(dir, listing, sizeof listing), 1, "left behind: %s", listing);

    // Into a folder that does not exist: an error naming the path, nothing created.
    char* nowhere = path_join(dir, "no/such/dir/x.safetensors");
    st_writer_init(&wr, ST_F32);
    st_writer_add(&wr, "old", 1, small, v);
    cr_assert_eq(st_writer_write(&wr, nowhere, err, sizeof err), -1);
    cr_assert(strstr(err, nowhere), "%s", err);
    st_writer_free(&wr);
    cr_assert_eq(list_dir(dir, listing, sizeof listing), 1, "left behind: %s", listing);
    free(old), free(now), free(data), free(nowhere);
    remove_tree(dir, NULL, 0);
    free(path), free(dir);
}

// A reader racing a writer that keeps replacing the file sees only whole files.
Test(safetensors, reader_never_sees_a_partial_file) {
    char* dir = make_tmpdir();
    char* path = path_join(dir, "race.safetensors");
    enum { N0 = 1 << 16, N1 = 1 << 17, ROUNDS = 60 };
    float* a = malloc(N1 * sizeof *a);
    for (int i = 0; i < N1; i++) a[i] = (float)i / 1024.0f;  // within F16 range
    int64_t s0[1] = {N0}, s1[1] = {N1};
    char err[512];
    StWriter w0, w1;
    st_writer_init(&w0, ST_F32);
    st_writer_add(&w0, "x", 1, s0, a);
    st_writer_init(&w1, ST_F16);
    st_writer_add(&w1, "x", 1, s1, a);
    cr_assert_eq(st_writer_write(&w0, path, err, sizeof err), 0, "%s", err);
    pid_t child = fork();
    cr_assert(child >= 0);
    if (child == 0) {
        for (int r = 0; r < ROUNDS; r++)
            if (st_writer_write(r % 2 ? &w0 : &w1, path, err, sizeof err) != 0) _exit(2);
        _exit(0);
    }
    int opens = 0, status = 0;
    float* got = malloc(N1 * sizeof *got);
    for (;;) {
        pid_t done = waitpid(child, &status, WNOHANG);
        SafeTensors* st = st_open(path, err, sizeof err);
        cr_assert(st, "reader saw a broken file: %s", err);
        const StTensor* t = st_find(st, "x");
        cr_assert(t && (t->numel == N0 || t->numel == N1));
        st_read_f32(st, t, got);
        cr_assert(got[t->numel - 1] == f16_to_f32(f32_to_f16(a[t->numel - 1])) ||
                  got[t->numel - 1] == a[t->numel - 1]);
        st_close(st);
        opens++;
        if (done == child) break;
    }
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "writer failed");
    char listing[512];
    cr_assert_eq(list_dir(dir, listing, sizeof listing), 1, "left behind: %s", listing);
    cr_log_info("%d opens while the writer replaced the file %d times", opens, ROUNDS);
    st_writer_free(&w0), st_writer_free(&w1);
    free(a), free(got);
    remove_tree(dir, NULL, 0);
    free(path), free(dir);
}

Test(fsutil, atomic_dir_replace_mkdir_p_and_stale_temps) {
    char* dir = make_tmpdir();
    char* ckpt = path_join(dir, "out/checkpoint-100");
    char err[512], listing[512];
    // First write: parents are created, the folder appears whole.
    AtomicDir d;
    cr_assert_eq(atomic_dir_begin(&d, ckpt, err, sizeof err), 0, "%s", err);
    cr_assert(path_is_dir(d.tmp_path));
    cr_assert(!path_exists(ckpt), "the final folder must not exist before commit");
    char* sub = path_join(d.tmp_path, "unet");
    cr_assert_eq(mkdir_p(sub, err, sizeof err), 0, "%s", err);
    char* f1 = path_join(sub, "config.json");
    cr_assert_eq(write_file_atomic(f1, "{\"v\":1}", 7, err, sizeof err), 0, "%s", err);
    free(sub), free(f1);
    cr_assert_eq(atomic_dir_commit(&d, err, sizeof err), 0, "%s", err);
    char* cfg = path_join(ckpt, "unet/config.json");
    size_t n;
    char* text = read_all(cfg, &n);
    cr_assert(n == 7 && memcmp(text, "{\"v\":1}", 7) == 0);
    free(text);
    struct stat sb;
    stat(ckpt, &sb);
    cr_assert_eq(sb.st_mode & 0777, 0755);

    // Replacing it: the old contents disappear entirely, no siblings remain.
    cr_assert_eq(atomic_dir_begin(&d, ckpt, err, sizeof err), 0, "%s", err);
    char* f2 = path_join(d.tmp_path, "model_index.json");
    cr_assert_eq(write_file_atomic(f2, "{}", 2, err, sizeof err), 0, "%s", err);
    free(f2);
    cr_assert_eq(atomic_dir_commit(&d, err, sizeof err), 0, "%s", err);
    cr_assert(!path_exists(cfg), "old contents survived the replacement");
    char* mi = path_join(ckpt, "model_index.json");
    cr_assert(path_exists(mi));
    char* out = path_join(dir, "out");
    cr_assert_eq(list_dir(out, listing, sizeof listing), 1, "left behind: %s", listing);

    // Abort leaves nothing; the existing folder is untouched.
    cr_assert_eq(atomic_dir_begin(&d, ckpt, err, sizeof err), 0, "%s", err);
    atomic_dir_abort(&d);
    cr_assert_eq(list_dir(out, listing, sizeof listing), 1, "left behind: %s", listing);
    cr_assert(path_exists(mi));

    // Leftovers of a killed run are recognised exactly.
    char *t1 = path_join(dir, "out/checkpoint-100.tmp-abc123"), *t2 = path_join(dir, "out/checkpoint-100.old-zzzzzz"),
         *keep1 = path_join(dir, "out/checkpoint-1000"), *keep2 = path_join(dir, "out/checkpoint-100.tmp-toolong1");
    cr_assert_eq(mkdir_p(t1, err, sizeof err), 0);
    cr_assert_eq(write_file_atomic(t2, "x", 1, err, sizeof err), 0);
    cr_assert_eq(mkdir_p(keep1, err, sizeof err), 0);
    cr_assert_eq(mkdir_p(keep2, err, sizeof err), 0);
    cr_assert_eq(remove_stale_temps(ckpt, err, sizeof err), 2, "%s", err);
    cr_assert(!path_exists(t1) && !path_exists(t2) && path_exists(keep1) && path_exists(keep2) && path_exists(mi));

    // mkdir_p through a file fails with a message naming both.
    char* through = path_join(mi, "sub");
    cr_assert_eq(mkdir_p(through, err, sizeof err), -1);
    cr_assert(strstr(err, through) && strstr(err, "not a folder"), "%s", err);
    // A folder cannot be replaced over a file.
    cr_assert_eq(atomic_dir_begin(&d, mi, err, sizeof err), 0, "%s", err);
    cr_assert_eq(atomic_dir_commit(&d, err, sizeof err), -1);
    cr_assert(strstr(err, "not a folder"), "%s", err);
    cr_assert_eq(list_dir(ckpt, listing, sizeof listing), 1, "left behind: %s", listing);

    free(t1), free(t2), free(keep1), free(keep2), free(through);
    free(out), free(mi), free(cfg);
    remove_tree(dir, NULL, 0);
    cr_assert(!path_exists(dir));
    free(ckpt), free(dir);
}
