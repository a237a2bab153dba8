// test_util.c: see test_util.h.
#include "test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "util/check.h"

GpuContext tgpu;
Arena tarena;
bool tgpu_ok;

void gpu_setup(void) {
    GpuOptions o = GPU_DEFAULTS;
    o.validation = true;  // every GPU test runs under the Khronos validation layer
    int r = gpu_init(&tgpu, &o);
    if (r == -2) cr_assert_fail("the Khronos validation layer is required for tests (apt-get install vulkan-validationlayers)");
    tgpu_ok = r == 0;
    if (tgpu_ok) arena_init(&tarena, &tgpu, "test", 16 << 20, false);
}

void gpu_teardown(void) {
    if (!tgpu_ok) return;
    arena_free(&tarena);
    gpu_free(&tgpu);
    tgpu_ok = false;
}

void require_gpu(void) {
    if (tgpu_ok) return;
    const char* req = getenv("VKPREF_REQUIRE_GPU");
    if (req && strcmp(req, "1") == 0) cr_assert_fail("no Vulkan device, and VKPREF_REQUIRE_GPU=1");
    cr_skip_test("no Vulkan device found (install mesa-vulkan-drivers for the CPU driver lavapipe)");
}

// ---------------------------------------------------------------------------

TestRng rng_seed(uint64_t seed) { return (TestRng){seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull}; }

static uint64_t rng_next(TestRng* r) {
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 0x2545F4914F6CDD1Dull;
}

double rng_uniform(TestRng* r, double lo, double hi) { return lo + (hi - lo) * ((rng_next(r) >> 11) * 0x1.0p-53); }

double rng_normal(TestRng* r) {
    double u1 = rng_uniform(r, 1e-12, 1.0), u2 = rng_uniform(r, 0.0, 1.0);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

double* rand_array(TestRng* r, int64_t n, double lo, double hi) {
    double* a = xmalloc((size_t)n * sizeof *a);
    for (int64_t i = 0; i < n; i++) a[i] = (float)rng_uniform(r, lo, hi);
    return a;
}

double* copy_array(const double* a, int64_t n) { return memcpy(xmalloc((size_t)n * sizeof *a), a, (size_t)n * sizeof *a); }

// ---------------------------------------------------------------------------

Tensor t_upload(int ndim, const int64_t* shape, const double* data) {
    Tensor t = arena_tensor(&tarena, ndim, shape);
    int64_t n = tensor_numel(&t);
    float* f = xmalloc((size_t)n * sizeof *f);
    for (int64_t i = 0; i < n; i++) f[i] = (float)data[i];
    tensor_upload(&tgpu, &t, f);
    free(f);
    return t;
}

void t_download(const Tensor* t, double* out) {
    int64_t n = tensor_numel(t);
    float* f = xmalloc((size_t)n * sizeof *f);
    tensor_download(&tgpu, t, f);
    for (int64_t i = 0; i < n; i++) out[i] = f[i];
    free(f);
}

double* t_download_new(const Tensor* t) {
    double* d = xmalloc((size_t)tensor_numel(t) * sizeof *d);
    t_download(t, d);
    return d;
}

// ---------------------------------------------------------------------------

bool check_close(const char* label, const double* got, const double* want, int64_t n, Tol tol) {
    double num = 0, den = 0, maxref = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(got[i])) {
            fprintf(stderr, "%s: element %lld is %g (want %.9g)\n", label, (long long)i, got[i], want[i]);
            return false;
        }
        num += (got[i] - want[i]) * (got[i] - want[i]);
        den += want[i] * want[i];
        if (fabs(want[i]) > maxref) maxref = fabs(want[i]);
    }
    double nmse = den > 0 ? num / den : num;
    int bad = 0;
    for (int64_t i = 0; i < n; i++) {
        double lim = tol.atol * maxref + tol.rtol * fabs(want[i]);
        if (fabs(got[i] - want[i]) > lim) {
            if (bad < 5)
                fprintf(stderr, "%s: [%lld] got %.9g want %.9g (|diff| %.3g > %.3g)\n", label, (long long)i, got[i],
                        want[i], fabs(got[i] - want[i]), lim);
            bad++;
        }
    }
    if (nmse > tol.nmse) fprintf(stderr, "%s: NMSE %.3g > %.3g over %lld elements\n", label, nmse, tol.nmse, (long long)n);
    if (bad) fprintf(stderr, "%s: %d of %lld elements out of tolerance\n", label, bad, (long long)n);
    return bad == 0 && nmse <= tol.nmse;
}

SafeTensors* golden_open(const char* path) {
    char err[512];
    SafeTensors* st = st_open(path, err, sizeof err);
    cr_assert(st, "%s", err);
    return st;
}

double* golden_values(const SafeTensors* st, const char* name, int64_t* n) {
    const StTensor* t = st_find(st, name);
    cr_assert(t, "golden file lacks %s", name);
    float* h = xmalloc((size_t)t->numel * sizeof *h);
    st_read_f32(st, t, h);
    double* d = xmalloc((size_t)t->numel * sizeof *d);
    for (int64_t i = 0; i < t->numel; i++) d[i] = h[i];
    free(h);
    *n = t->numel;
    return d;
}

Tensor golden_upload(const SafeTensors* st, const char* name) {
    const StTensor* t = st_find(st, name);
    cr_assert(t, "golden file lacks %s", name);
    int64_t shape[4] = {1, 1, 1, 1};
    for (int i = 0; i < t->ndim; i++) shape[i] = t->shape[i];
    float* h = xmalloc((size_t)t->numel * sizeof *h);
    st_read_f32(st, t, h);
    Tensor d = arena_tensor(&tarena, t->ndim ? t->ndim : 1, shape);
    tensor_upload(&tgpu, &d, h);
    free(h);
    return d;
}

void expect_golden_values(const SafeTensors* st, const char* name, const double* got, int64_t n, const char* label,
                          Tol tol) {
    int64_t m;
    double* want = golden_values(st, name, &m);
    cr_assert_eq(m, n, "%s: %lld elements, golden has %lld", label, (long long)n, (long long)m);
    double wmax = 0, gmax = 0;
    for (int64_t i = 0; i < n; i++) wmax = fmax(wmax, fabs(want[i])), gmax = fmax(gmax, fabs(got[i]));
    if (wmax < 1e-6) cr_assert_leq(gmax, 1e-5, "%s: should be ~0, got max |g| %.3g", label, gmax);
    else ASSERT_CLOSE(label, got, want, n, tol);
    free(want);
}

void expect_golden_tensor(const SafeTensors* st, const char* name, const Tensor* got, const char* label, Tol tol) {
    double* g = t_download_new(got);
    expect_golden_values(st, name, g, tensor_numel(got), label, tol);
    free(g);
}

static double projected(FdForward f, void* ctx, double* out, int64_t nout, const double* r, double* scale) {
    f(ctx, out);
    double L = 0, s = 0;
    for (int64_t i = 0; i < nout; i++) L += r[i] * out[i], s += fabs(r[i] * out[i]);
    if (scale) *scale = s;
    return L;
}

bool fd_check(const char* label, FdForward forward, void* ctx, int64_t nout, const double* r, double* x, int64_t nx,
              const double* analytic, int max_coords) {
    double* out = xmalloc((size_t)nout * sizeof *out);
    double scale;
    projected(forward, ctx, out, nout, r, &scale);
    TestRng rng = rng_seed(0xFD + (uint64_t)nx);
    int checks = nx < max_coords ? (int)nx : max_coords, bad = 0;
    for (int k = 0; k < checks; k++) {
        int64_t j = nx <= max_coords ? k : (int64_t)(rng_uniform(&rng, 0, 1) * (double)nx) % nx;
        double xj = x[j], eps = 1e-6 * fmax(1.0, fabs(xj));
        x[j] = xj + eps;
        double lp = projected(forward, ctx, out, nout, r, NULL);
        x[j] = xj - eps;
        double lm = projected(forward, ctx, out, nout, r, NULL);
        x[j] = xj;
        double num = (lp - lm) / (2 * eps), a = analytic[j];
        double lim = 1e-6 * fmax(fabs(a), fabs(num)) + 1e-9 * (1 + scale);
        if (fabs(a - num) > lim) {
            if (bad < 5) fprintf(stderr, "%s: d/dx[%lld] analytic %.12g numeric %.12g\n", label, (long long)j, a, num);
            bad++;
        }
    }
    free(out);
    if (bad) fprintf(stderr, "%s: %d of %d coordinates differ from finite differences\n", label, bad, checks);
    return bad == 0;
}

int run_cli(const char* args, char* out, size_t outlen) {
    const char* bin = getenv("VKPREF_BIN");
    cr_assert(bin, "VKPREF_BIN is not set (run through ctest)");
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s %s 2>&1", bin, args);
    FILE* p = popen(cmd, "r");
    cr_assert(p, "cannot run %s", cmd);
    size_t n = fread(out, 1, outlen - 1, p);
    out[n] = 0;
    char sink[4096];  // drain what did not fit, so the child never blocks on a full pipe
    while (fread(sink, 1, sizeof sink, p) > 0) {}
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void temp_dir(char dir[64], const char* label) {
    snprintf(dir, 64, "/tmp/vkpref_%.20s_XXXXXX", label);
    cr_assert(mkdtemp(dir), "mkdtemp %s", dir);
}

void remove_temp_dir(const char* dir) {
    cr_assert(!strncmp(dir, "/tmp/vkpref_", 12), "refusing to remove %s", dir);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

void train_tiny_base(const char* out_dir) {
    const char* src = getenv("VKPREF_SOURCE_DIR");
    char args[4096], out[16384];
    snprintf(args, sizeof args,
             "train --model_config %s/configs/models/fmnist-small.json --max_train_steps 1 --train_batch_size 2 "
             "--validation_images 0 --validation_grid_seeds 0 --checkpointing_steps 0 --output_dir %s",
             src ? src : ".", out_dir);
    cr_assert_eq(run_cli(args, out, sizeof out), 0, "%s", out);
}
