// test_op_eltwise.c: activations (SiLU, exact GELU, quick_gelu): reference vs
// finite differences, shader forward and backward vs reference on three sizes.
#include "test_util.h"

static const Activation ACTS[] = {ACT_SILU, ACT_GELU, ACT_QUICK_GELU};
static const char* ACT_NAMES[] = {"silu", "gelu", "quick_gelu"};
static const int64_t SIZES[] = {7, 4096, 12347};  // tiny, realistic, odd (not a multiple of the workgroup)

typedef struct { const double* x; int64_t n; Activation act; } ActCtx;
static void act_fwd(void* p, double* out) {
    ActCtx* c = p;
    ref_act_forward(out, c->x, c->n, c->act);
}

Test(op_act, ref_matches_finite_differences) {
    for (int a = 0; a < 3; a++) {
        TestRng rng = rng_seed(11 + a);
        int64_t n = 300;
        double* x = rand_array(&rng, n, -4, 4);
        double* r = rand_array(&rng, n, -1, 1);
        double* dx = calloc(n, sizeof *dx);
        ref_act_backward(dx, r, x, n, ACTS[a]);
        ActCtx ctx = {x, n, ACTS[a]};
        ASSERT_FD(ACT_NAMES[a], act_fwd, &ctx, n, r, x, n, dx);
        free(x), free(r), free(dx);
    }
}

Test(op_act, gpu_matches_ref, GPU_TEST) {
    require_gpu();
    for (int a = 0; a < 3; a++)
        for (int s = 0; s < 3; s++) {
            int64_t n = SIZES[s];
            TestRng rng = rng_seed(100 * a + s);
            double* x = rand_array(&rng, n, -6, 6);
            double* dy = rand_array(&rng, n, -1, 1);
            double* dx0 = rand_array(&rng, n, -1, 1);  // backward accumulates into existing values
            Tensor tx = t_upload(1, &n, x), tdy = t_upload(1, &n, dy), tdx = t_upload(1, &n, dx0);
            Tensor ty = arena_tensor1(&tarena, n);
            Cmd c;
            RUN_CMD(c, {
                op_act_forward(&c, &ty, &tx, ACTS[a]);
                op_act_backward(&c, &tdx, &tdy, &tx, ACTS[a]);
            });
            double* y_ref = calloc(n, sizeof *y_ref);
            ref_act_forward(y_ref, x, n, ACTS[a]);
            double* dx_ref = copy_array(dx0, n);
            ref_act_backward(dx_ref, dy, x, n, ACTS[a]);
            double* y = t_download_new(&ty);
            double* dx = t_download_new(&tdx);
            char label[64];
            snprintf(label, sizeof label, "%s fwd n=%lld", ACT_NAMES[a], (long long)n);
            ASSERT_CLOSE(label, y, y_ref, n, TOL_F32);
            snprintf(label, sizeof label, "%s bwd n=%lld", ACT_NAMES[a], (long long)n);
            ASSERT_CLOSE(label, dx, dx_ref, n, TOL_F32);
            free(x), free(dy), free(dx0), free(y_ref), free(dx_ref), free(y), free(dx);
        }
    ASSERT_NO_VALIDATION_MESSAGES();
}
