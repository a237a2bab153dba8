// test_cmd.c: the recorder. A chain of 500 dependent dispatches in one
// submission gives the right answer (every barrier is there), replaying the
// recording repeats it, transfers through staging round-trip, pipelines
// compiled on worker threads (or on the recording thread) while recording give
// the right answers, and dispatches that disagree with their shader are errors.
#include <math.h>
#include <stdlib.h>

#include "test_util.h"
#include "util/check.h"

// acc += silu'(x) 500 times, all in one recording: each dispatch reads what the
// previous one wrote, so a single missing barrier loses updates.
Test(cmd, chain_of_500_dependent_dispatches, GPU_TEST) {
    require_gpu();
    int64_t n = 1000;
    TestRng rng = rng_seed(5);
    double* x = rand_array(&rng, n, -3, 3);
    double* acc0 = rand_array(&rng, n, -1, 1);
    double* ones = rand_array(&rng, n, 1, 1);
    Tensor tx = t_upload(1, &n, x), tacc = t_upload(1, &n, acc0), tones = t_upload(1, &n, ones);
    Cmd c;
    cmd_begin(&c, &tgpu);
    for (int i = 0; i < 500; i++) op_act_backward(&c, &tacc, &tones, &tx, ACT_SILU);
    cmd_end(&c);
    cr_assert_geq(c.nbarrier, 499, "dependent dispatches need a barrier each (got %d)", c.nbarrier);
    cr_assert_gt(c.nseg, 1, "500 dispatches should span several segments");
    for (int replay = 1; replay <= 2; replay++) {  // the second replay continues from the first
        cmd_submit(&c);
        double* want = copy_array(acc0, n);
        for (int64_t i = 0; i < n; i++) want[i] += 500.0 * replay * ref_act_derivative(ACT_SILU, x[i]);
        double* got = t_download_new(&tacc);
        ASSERT_CLOSE("500-dispatch chain", got, want, n, ((Tol){.rtol = 1e-4, .atol = 1e-6, .nmse = 1e-10}));
        free(want), free(got);
    }
    cr_assert_eq(c.nsubmit, 2);
    cmd_free(&c);
    free(x), free(acc0), free(ones);
    ASSERT_NO_VALIDATION_MESSAGES();
}

// Independent dispatches get no barrier between them.
Test(cmd, independent_dispatches_need_no_barrier, GPU_TEST) {
    require_gpu();
    int64_t n = 256;
    Tensor x = arena_tensor1(&tarena, n), y[4];
    for (int i = 0; i < 4; i++) y[i] = arena_tensor1(&tarena, n);
    Cmd c;
    cmd_begin(&c, &tgpu);
    cmd_fill(&c, &x, 1.0f);
    int before = c.nbarrier;
    for (int i = 0; i < 4; i++) op_act_forward(&c, &y[i], &x, ACT_SILU);
    cr_assert_eq(c.nbarrier - before, 1, "one barrier after the fill, none between readers (got %d)", c.nbarrier - before);
    cmd_submit(&c);
    cmd_free(&c);
    double got[256];
    t_download(&y[3], got);
    for (int i = 0; i < n; i++) cr_assert_float_eq(got[i], 1.0 / (1.0 + exp(-1.0)), 1e-6);
    ASSERT_NO_VALIDATION_MESSAGES();
}

Test(cmd, staging_transfers_round_trip, GPU_TEST) {
    require_gpu();
    tgpu.force_staging = true;
    int64_t n = 1237;
    TestRng rng = rng_seed(9);
    double* x = rand_array(&rng, n, -1, 1);
    Tensor t = t_upload(1, &n, x);
    double* back = t_download_new(&t);
    for (int64_t i = 0; i < n; i++) cr_assert_eq(back[i], x[i], "element %lld", (long long)i);
    free(x), free(back);
    ASSERT_NO_VALIDATION_MESSAGES();
}

// The activation is a specialization constant: each is its own pipeline.
static const Activation ACTS[4] = {ACT_SILU, ACT_GELU, ACT_QUICK_GELU, ACT_NONE};

// Eight pipelines (four activations, forward and backward) requested in one
// recording, so they compile on the workers while it goes on; every output is
// checked against the reference.
static void eight_new_pipelines_in_one_recording(void) {
    require_gpu();
    int64_t n = 517;
    TestRng rng = rng_seed(17);
    double* x = rand_array(&rng, n, -3, 3);
    double* dy = rand_array(&rng, n, -1, 1);
    Tensor tx = t_upload(1, &n, x), tdy = t_upload(1, &n, dy), y[4], dx[4];
    int before = tgpu.npipes;
    Cmd c;
    cmd_begin(&c, &tgpu);
    for (int a = 0; a < 4; a++) {
        y[a] = arena_tensor1(&tarena, n), dx[a] = arena_tensor1(&tarena, n);
        op_act_forward(&c, &y[a], &tx, ACTS[a]);
        op_act_backward(&c, &dx[a], &tdy, &tx, ACTS[a]);
    }
    cr_assert_eq(tgpu.npipes - before, 8, "8 distinct pipelines (got %d)", tgpu.npipes - before);
    op_act_forward(&c, &y[0], &tx, ACTS[0]);  // the same key again: no new pipeline
    cr_assert_eq(tgpu.npipes - before, 8, "a repeated key must reuse its pipeline");
    cmd_end(&c);
    for (int i = before; i < tgpu.npipes; i++) cr_assert_neq(tgpu.pipes[i]->pipeline, VK_NULL_HANDLE);
    cmd_submit(&c);
    cmd_free(&c);
    double* want = xmalloc((size_t)n * sizeof *want);
    for (int a = 0; a < 4; a++) {
        double* got = t_download_new(&y[a]);
        for (int64_t i = 0; i < n; i++) want[i] = ref_act(ACTS[a], x[i]);
        ASSERT_CLOSE("activation forward", got, want, n, ((Tol){.rtol = 1e-5, .atol = 1e-6, .nmse = 1e-10}));
        free(got);
        got = t_download_new(&dx[a]);
        for (int64_t i = 0; i < n; i++) want[i] = dy[i] * ref_act_derivative(ACTS[a], x[i]);
        ASSERT_CLOSE("activation backward", got, want, n, ((Tol){.rtol = 1e-5, .atol = 1e-6, .nmse = 1e-10}));
        free(got);
    }
    double compile_s, wait_s;
    kernel_compile_stats(&tgpu, &compile_s, &wait_s);
    cr_assert_gt(compile_s, 0.0, "compile time is counted");
    free(want), free(x), free(dy);
    ASSERT_NO_VALIDATION_MESSAGES();
}

Test(cmd, pipelines_compile_on_worker_threads, GPU_TEST) {
    setenv("VKPREF_PIPELINE_THREADS", "3", 1);  // more workers than this machine may have CPUs
    eight_new_pipelines_in_one_recording();
    cr_assert_not_null(tgpu.compiler, "the workers were started");
}

Test(cmd, pipelines_compile_on_the_recording_thread, GPU_TEST) {
    setenv("VKPREF_PIPELINE_THREADS", "0", 1);
    eight_new_pipelines_in_one_recording();
    cr_assert_null(tgpu.compiler, "no workers with VKPREF_PIPELINE_THREADS=0");
}

// Sets the workers and begins a recording into c over two small tensors.
static void begin_with_threads(const char* threads, Cmd* c, Tensor* x, Tensor* y) {
    require_gpu();
    setenv("VKPREF_PIPELINE_THREADS", threads, 1);
    *x = arena_tensor1(&tarena, 64), *y = arena_tensor1(&tarena, 64);
    cmd_begin(c, &tgpu);
}

Test(cmd, bad_pipeline_threads_value_is_an_error, GPU_TEST, .exit_code = 1) {
    Cmd c;
    Tensor x, y;
    begin_with_threads("many", &c, &x, &y);
    op_act_forward(&c, &y, &x, ACT_SILU);  // dies at kernel_get, naming the variable
}

// The pipeline's binding kinds come from the Bind array and are checked against
// the shader: storage buffers where add.comp reads texel buffers are an error.
Test(cmd, binding_kinds_the_shader_does_not_declare_are_an_error, GPU_TEST, .exit_code = 1) {
    Cmd c;
    Tensor x, y;
    begin_with_threads("0", &c, &x, &y);
    Bind b[] = {bind_r(&x), bind_r(&x), bind_w(&y)};
    uint32_t push[5] = {64};  // FlatPush's size
    cmd_dispatch(&c, SHADER_ADD, (uint32_t[]){64, 1, 1, 1}, 4, b, 3, push, sizeof push, 1, 1, 1);
}

// The push constants must be the size of the struct registered for the shader.
Test(cmd, push_constants_of_another_size_are_an_error, GPU_TEST, .exit_code = 1) {
    Cmd c;
    Tensor x, y;
    begin_with_threads("0", &c, &x, &y);
    Bind b[] = {bind_tex(&x, 1), bind_tex(&x, 1), bind_w(&y)};
    uint32_t push[4] = {64};  // FlatPush has a fifth field
    cmd_dispatch(&c, SHADER_ADD, (uint32_t[]){64, 1, 1, 1}, 4, b, 3, push, sizeof push, 1, 1, 1);
}

// A fatal error while pipelines are still compiling on the workers exits with the
// error's status 1, not a crash (exit() must not unload the driver under them).
// Timing-dependent: with the fatal-exit hook disabled it crashed in 10 of 12 runs.
Test(cmd, fatal_error_while_pipelines_compile_exits_cleanly, GPU_TEST, .exit_code = 1) {
    Cmd c;
    Tensor x, y;
    begin_with_threads("2", &c, &x, &y);
    for (int a = 0; a < 4; a++) op_act_forward(&c, &y, &x, ACTS[a]), op_act_backward(&c, &y, &x, &x, ACTS[a]);
    die("a user error in the middle of recording");
}
