// op_objective.c: the objective op (shaders/objective_coef.comp): one dispatch of
// one workgroup, since a micro-batch has a few hundred rows at most and the op
// is a handful of exp/log per row. The workgroup reduces with reduce.glsl:
// one subgroup without barriers on CPU drivers, several subgroups through shared
// memory on GPUs (reduce_for's policy, never one invocation per block: the batch
// is one block).
#include <math.h>
#include <stdint.h>

#include "ops/op_common.h"
#include "ops/ops.h"
#include "util/check.h"

// The shader's push constants (objective_coef.comp).
#define OBJECTIVE_PUSH(X)                                                                                   \
    X(uint32_t, rows) X(uint32_t, units)                                                                    \
    X(uint32_t, off_e) X(uint32_t, off_r) X(uint32_t, off_s) X(uint32_t, off_coef) X(uint32_t, off_metrics) \
    X(float, inv_rows) X(float, inv_units)                                                                  \
    X(float, beta) X(float, mapo_s) X(float, mapo_t) X(float, lambda_d) X(float, lambda_u)                  \
    X(float, coef_scale)                                                                                    \
    X(uint32_t, dpo_loss) X(float, sdpo_mu)  /* dpo_loss: the DpoLoss of the dpo family */               \
    X(uint32_t, off_q) X(uint32_t, off_coef_q)
PUSH_STRUCT(ObjectivePush, OBJECTIVE_PUSH)
SHADER_PUSH(objective_coef, ObjectivePush)

// More rows than any micro-batch; keeps float(rows) and every index exact.
#define OBJECTIVE_MAX_ROWS (1 << 20)

static void check_disjoint(const char* op, const char* what, const Tensor* out, const Tensor* const* in, int nin) {
    for (int i = 0; i < nin; i++)
        if (in[i] && tensors_overlap(out, in[i])) die("%s: %s overlaps an input or the other output", op, what);
}

void op_objective(Cmd* c, const Tensor* coef, const Tensor* coef_q, const Tensor* metrics, const Tensor* e,
                  const Tensor* r, const Tensor* q, const Tensor* signs, Objective obj, const ObjectiveHyper* h,
                  float coef_scale) {
    const char* op = "op_objective";
    if ((unsigned)obj >= OBJ_COUNT) die("%s: unknown objective %d", op, (int)obj);
    if (!h) die("%s: hyper-parameters are NULL", op);
    char err[160];
    if (objective_hyper_check(obj, h, err, sizeof err)) die("%s: %s", op, err);
    if (!isfinite(coef_scale)) die("%s: coef_scale is not finite", op);
    if (!e) die("%s: e is NULL", op);
    int64_t rows = tensor_numel(e), per_item = objective_rows_per_item(obj);
    if (rows < per_item || rows % per_item)
        die("%s: %s needs %lld row(s) per item, e has %lld elements", op, objective_name(obj), (long long)per_item,
            (long long)rows);
    if (rows > OBJECTIVE_MAX_ROWS) die("%s: %lld rows exceed %d", op, (long long)rows, OBJECTIVE_MAX_ROWS);
    check_numel(op, "coef", coef, rows);
    check_numel(op, "metrics", metrics, OBJ_METRICS_COUNT);
    bool use_r = objective_needs_reference(obj), use_s = objective_needs_signs(obj);
    bool use_q = objective_needs_ref_dist(obj);
    if (use_r) check_numel(op, "r (the reference's per-sample MSE)", r, rows);
    if (use_s) check_numel(op, "signs", signs, rows);
    if (use_q) {
        check_numel(op, "q (the per-sample MSE between the policy's and the reference's predictions)", q, rows);
        check_numel(op, "coef_q", coef_q, rows);
    }
    const Tensor* in[] = {e, use_r ? r : NULL, use_s ? signs : NULL, use_q ? q : NULL};
    check_disjoint(op, "coef", coef, in, 4);
    check_disjoint(op, "metrics", metrics, in, 4);
    if (tensors_overlap(coef, metrics)) die("%s: coef overlaps metrics", op);
    if (use_q) {
        check_disjoint(op, "coef_q", coef_q, in, 4);
        if (tensors_overlap(coef_q, coef) || tensors_overlap(coef_q, metrics))
            die("%s: coef_q overlaps coef or metrics", op);
    }

    // Unused inputs are bound to e (never read), an unused coef_q to coef (never
    // written): the pipeline layout stays fixed.
    Operand o_e = sto(c, e), o_r = sto(c, use_r ? r : e), o_s = sto(c, use_s ? signs : e);
    Operand o_c = sto(c, coef), o_m = sto(c, metrics), o_q = sto(c, use_q ? q : e);
    Operand o_cq = use_q ? sto(c, coef_q) : o_c;
    int64_t units = objective_info(obj)->pairwise ? rows / 2 : rows;
    Reduce red = reduce_for(c->gpu, op, units, 5);  // rows = 2 units, then two sweeps over the units
    if (red.mode == REDUCE_INVOCATION) red = (Reduce){REDUCE_SUBGROUP, c->gpu->subgroup_size, 1};
    ObjectivePush pc = {
        .rows = (uint32_t)rows,
        .units = (uint32_t)units,
        .off_e = o_e.off,
        .off_r = o_r.off,
        .off_s = o_s.off,
        .off_coef = o_c.off,
        .off_metrics = o_m.off,
        .inv_rows = (float)(1.0 / (double)rows),
        .inv_units = (float)(1.0 / (double)units),
        .beta = objective_beta(obj, h),
        .mapo_s = h->mapo_snr,
        .mapo_t = h->mapo_t,
        .lambda_d = h->kto_lambda_desirable,
        .lambda_u = h->kto_lambda_undesirable,
        .coef_scale = coef_scale,
        .dpo_loss = (uint32_t)objective_dpo_loss(obj, h),
        .sdpo_mu = h->sdpo_mu,
        .off_q = o_q.off,
        .off_coef_q = o_cq.off,
    };
    Bind b[] = {bind_r(&o_e.view), bind_r(&o_r.view),  bind_r(&o_s.view), bind_w(&o_c.view),
                bind_w(&o_m.view), bind_r(&o_q.view), bind_w(&o_cq.view)};
    c->label = op;
    cmd_dispatch(c, SHADER_OBJECTIVE_COEF, (uint32_t[]){red.wg, 1, 1, red.mode, (uint32_t)obj}, 5, b, 7, &pc,
                 sizeof pc, 1, 1, 1);
}
