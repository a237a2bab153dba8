// test_util.h: shared test harness: the GPU fixture, seeded random data,
// uploads of double data as float tensors, finite differences, and the
// GPU-vs-reference comparison (NMSE plus per-element bounds).
#pragma once
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdint.h>

#include "gpu/cmd.h"
#include "io/safetensors.h"
#include "ops/ops.h"
#include "ref/ref.h"

// ---------------------------------------------------------------------------
// GPU fixture. Criterion forks a process per test, so each test owns a context.
extern GpuContext tgpu;
extern Arena tarena;
extern bool tgpu_ok;
void gpu_setup(void);
void gpu_teardown(void);
// Skips the test when no Vulkan device exists; fails instead when
// VKPREF_REQUIRE_GPU=1 (CI), so GPU tests never skip silently there.
void require_gpu(void);
#define GPU_TEST .init = gpu_setup, .fini = gpu_teardown
// Fails the test if the validation layer reported anything.
#define ASSERT_NO_VALIDATION_MESSAGES() \
    cr_assert_eq(tgpu.validation_messages, 0, "%d validation message(s), see stderr", tgpu.validation_messages)

// ---------------------------------------------------------------------------
// Random data (xorshift64*, seeded; every failure message prints the seed).
typedef struct TestRng { uint64_t s; } TestRng;
TestRng rng_seed(uint64_t seed);
double rng_uniform(TestRng* r, double lo, double hi);
double rng_normal(TestRng* r);
// n values uniform in [lo, hi), rounded to float so GPU and reference see the same inputs.
double* rand_array(TestRng* r, int64_t n, double lo, double hi);
double* copy_array(const double* a, int64_t n);

// ---------------------------------------------------------------------------
// Tensors from and to double arrays.
Tensor t_upload(int ndim, const int64_t* shape, const double* data);
void t_download(const Tensor* t, double* out);
double* t_download_new(const Tensor* t);
// Records, submits and waits: for tests that run one op at a time.
#define RUN_CMD(c, body)         \
    do {                         \
        cmd_begin(&(c), &tgpu);  \
        body;                    \
        cmd_submit(&(c));        \
        cmd_free(&(c));          \
    } while (0)

// ---------------------------------------------------------------------------
// Comparison. Passes when NMSE = sum (g-r)^2 / sum r^2 <= nmse and every
// element has |g - r| <= atol * max|r| + rtol * |r|. Prints the first failures.
typedef struct Tol { double rtol, atol, nmse; } Tol;
#define TOL_F32 ((Tol){.rtol = 1e-4, .atol = 1e-5, .nmse = 1e-10})
bool check_close(const char* label, const double* got, const double* want, int64_t n, Tol tol);
#define ASSERT_CLOSE(label, got, want, n, tol) cr_assert(check_close(label, got, want, n, tol), "%s differs", label)

// ---------------------------------------------------------------------------
// Golden data from PyTorch (tools/make_golden.py, under VKPREF_TEST_DATA/golden).
// A whole model in fp32 through ~40 layers accumulates rounding differently from
// PyTorch's (oneDNN conv, BLAS matmul): TOL_MODEL is what such outputs and
// gradients must reach (tests/test_model_golden.c).
#define TOL_MODEL ((Tol){.rtol = 1e-3, .atol = 1e-4, .nmse = 1e-8})
// Opens a safetensors file or fails the test.
SafeTensors* golden_open(const char* path);
// Golden tensor `name` uploaded as float into a fresh tarena tensor of its shape.
Tensor golden_upload(const SafeTensors* st, const char* name);
// The values of golden tensor `name` as doubles (free them); fails the test when absent.
double* golden_values(const SafeTensors* st, const char* name, int64_t* n);
// got against golden tensor `name` with check_close(tol). A golden tensor below 1e-6
// everywhere (a gradient that is zero in exact arithmetic, e.g. a key-projection bias:
// softmax ignores a constant added to every score of a row) is rounding noise on both
// sides while the gradients around it are O(1): got must stay at noise level (<= 1e-5).
void expect_golden_values(const SafeTensors* st, const char* name, const double* got, int64_t n, const char* label,
                          Tol tol);
// The same for a device tensor.
void expect_golden_tensor(const SafeTensors* st, const char* name, const Tensor* got, const char* label, Tol tol);

// ---------------------------------------------------------------------------
// Finite differences. The loss is L = sum_i r[i] * out[i] with a fixed random
// projection r (never sum(out): dout all ones hides bugs). forward(ctx, out)
// recomputes out from the current inputs (which fd_check perturbs in place).
// analytic holds dL/dx from the reference backward with dout = r.
// Checks up to max_coords random coordinates of x with central differences,
// eps = 1e-6 max(1, |x_j|); passes when |a - n| <= 1e-6 max(|a|,|n|) + 1e-9 (1 + sum|r_i out_i|).
typedef void (*FdForward)(void* ctx, double* out);
bool fd_check(const char* label, FdForward forward, void* ctx, int64_t nout, const double* r, double* x, int64_t nx,
              const double* analytic, int max_coords);
#define ASSERT_FD(label, fwd, ctx, nout, r, x, nx, analytic) \
    cr_assert(fd_check(label, fwd, ctx, nout, r, x, nx, analytic, 256), "%s: gradient differs from finite differences", label)

// ---------------------------------------------------------------------------
// The vkpref binary as a user runs it (VKPREF_BIN, set by ctest): stdout and
// stderr together into out; returns the exit status.
int run_cli(const char* args, char* out, size_t outlen);
// A fresh temporary folder (mkdtemp) named after the test, into dir[64].
void temp_dir(char dir[64], const char* label);
// rm -rf of a temporary folder made by temp_dir.
void remove_temp_dir(const char* dir);
// A fmnist-small pipeline after one pre-training step (batch 2, no validation,
// no checkpoints) in out_dir: the base that CLI tests fine-tune, judge and sample.
void train_tiny_base(const char* out_dir);
