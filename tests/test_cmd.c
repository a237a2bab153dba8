// test_cmd.c: the recorder. A chain of 500 dependent dispatches in one
// submission gives the right answer (every barrier is there), replaying the
// recording repeats it, and transfers through staging round-trip.
#include <math.h>

#include "test_util.h"

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
