// bench_report.c: see bench_report.h.
#include "bench/bench_report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "gpu/profile.h"
#include "util/check.h"
#include "util/timer.h"

// The process's peak resident set (getrusage: KiB on Linux).
static double peak_host_bytes(void) {
    struct rusage u;
    return getrusage(RUSAGE_SELF, &u) ? 0 : (double)u.ru_maxrss * 1024.0;
}

BenchTimes bench_times(const double* t, int n) {
    if (n < 1) die("bench: no timed steps");
    double* v = xmalloc((size_t)n * sizeof *v);
    memcpy(v, t, (size_t)n * sizeof *v);
    BenchTimes r = {.min = t[0], .max = t[0]};
    for (int i = 1; i < n; i++) r.min = t[i] < r.min ? t[i] : r.min, r.max = t[i] > r.max ? t[i] : r.max;
    r.median = median_of(v, n);
    free(v);
    return r;
}

void bench_memory_add_arena(BenchMemory* m, const Arena* a) {
    m->peak += a->peak;
    m->allocated += arena_bytes(a);
}

void bench_memory_add_params(BenchMemory* m, const ParamStore* ps) {
    const Arena* arenas[] = {&ps->value, &ps->grad, &ps->m, &ps->v, &ps->ema};
    for (size_t i = 0; i < sizeof arenas / sizeof *arenas; i++) bench_memory_add_arena(m, arenas[i]);
}

void bench_run(BenchResult* r, BenchStepFn one, void* user) {
    if (r->steps < 1) die("bench: --steps %d: need at least 1 timed step", r->steps);
    if (r->warmup < 0) die("bench: --warmup %d: need >= 0", r->warmup);
    double* step = xmalloc((size_t)r->steps * sizeof *step);
    double* host = xmalloc((size_t)r->steps * sizeof *host);
    for (int s = 0; s < r->warmup + r->steps; s++) {
        if (s == r->warmup) profile_reset();  // the profile covers the timed steps only
        double t0 = now_seconds();
        double h = one(user, s);
        double t = now_seconds() - t0;
        if (s == 0) r->first_step_s = t;
        if (s >= r->warmup) step[s - r->warmup] = t, host[s - r->warmup] = h;
    }
    r->step = bench_times(step, r->steps);
    r->host = bench_times(host, r->steps);
    free(step), free(host);
}

void bench_result_add_replays(BenchResult* r, const Cmd* c, int replays_per_step) {
    r->dispatches_per_step += (double)c->ndispatch * replays_per_step;
    r->barriers_per_step += (double)c->nbarrier * replays_per_step;
}

static void print_json(const BenchResult* r, const GpuContext* g, cJSON* extra) {
    double gflop = flops_total(r->flops) * 1e-9;
    cJSON* o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "bench", r->bench);
    cJSON_AddStringToObject(o, "device", g->props.deviceName);
    cJSON_AddNumberToObject(o, "warmup", r->warmup);
    cJSON_AddNumberToObject(o, "steps", r->steps);
    cJSON_AddNumberToObject(o, "median_s", r->step.median);
    cJSON_AddNumberToObject(o, "min_s", r->step.min);
    cJSON_AddNumberToObject(o, "max_s", r->step.max);
    cJSON_AddNumberToObject(o, "images_per_step", r->images_per_step);
    cJSON_AddNumberToObject(o, "images_per_s", r->images_per_step / r->step.median);
    cJSON_AddNumberToObject(o, "gflop_per_step", gflop);
    cJSON_AddNumberToObject(o, "gflops_per_s", gflop / r->step.median);
    cJSON_AddNumberToObject(o, "gflop_conv", r->flops.conv * 1e-9);
    cJSON_AddNumberToObject(o, "gflop_linear", r->flops.linear * 1e-9);
    cJSON_AddNumberToObject(o, "gflop_attention", r->flops.attention * 1e-9);
    cJSON_AddNumberToObject(o, "dispatches_per_step", r->dispatches_per_step);
    cJSON_AddNumberToObject(o, "barriers_per_step", r->barriers_per_step);
    cJSON_AddNumberToObject(o, "submits_per_step", r->submits_per_step);
    cJSON_AddNumberToObject(o, "peak_device_bytes", (double)r->memory.peak);
    cJSON_AddNumberToObject(o, "allocated_device_bytes", (double)r->memory.allocated);
    cJSON_AddNumberToObject(o, "peak_host_bytes", (double)peak_host_bytes());
    cJSON_AddNumberToObject(o, "host_median_s", r->host.median);
    cJSON_AddNumberToObject(o, "host_fraction", r->host.median / r->step.median);
    double compile_s, wait_s;
    kernel_compile_stats(g, &compile_s, &wait_s);
    cJSON_AddNumberToObject(o, "first_step_s", r->first_step_s);
    cJSON_AddNumberToObject(o, "pipelines", g->npipes);
    cJSON_AddNumberToObject(o, "pipeline_compile_s", compile_s);
    cJSON_AddNumberToObject(o, "pipeline_wait_s", wait_s);
    if (extra) {
        cJSON* it = extra->child;
        while (it) {
            cJSON* next = it->next;
            cJSON_AddItemToObject(o, it->string, cJSON_DetachItemViaPointer(extra, it));
            it = next;
        }
        cJSON_Delete(extra);
    }
    char* text = cJSON_PrintUnformatted(o);
    printf("%s\n", text);
    free(text);
    cJSON_Delete(o);
}

static void print_text(const BenchResult* r, const GpuContext* g, cJSON* extra) {
    double gflop = flops_total(r->flops) * 1e-9;
    printf("device: %s (%s)\n", g->props.deviceName, g->driver.driverInfo);
    if (extra) {
        printf("setup:");
        for (const cJSON* it = extra->child; it; it = it->next) {
            if (cJSON_IsString(it)) printf(" %s=%s", it->string, it->valuestring);
            else if (cJSON_IsBool(it)) printf(" %s=%s", it->string, cJSON_IsTrue(it) ? "true" : "false");
            else if (cJSON_IsNumber(it)) printf(" %s=%.6g", it->string, it->valuedouble);
        }
        printf("\n");
        cJSON_Delete(extra);
    }
    printf("%d warm-up + %d timed steps\n", r->warmup, r->steps);
    printf("step time      median %.4f s  (min %.4f, max %.4f)\n", r->step.median, r->step.min, r->step.max);
    printf("host inputs    median %.5f s  (%.2f%% of the step; the recording is replayed)\n", r->host.median,
           100.0 * r->host.median / r->step.median);
    printf("throughput     %.2f images/s (%g per step)\n", r->images_per_step / r->step.median, r->images_per_step);
    printf("compute        %.3f GFLOP/step (conv %.3f, linear %.3f, attention %.3f): %.2f GFLOP/s\n", gflop,
           r->flops.conv * 1e-9, r->flops.linear * 1e-9, r->flops.attention * 1e-9, gflop / r->step.median);
    printf("recording      %.0f dispatches, %.0f barriers, %.2f submits per step\n", r->dispatches_per_step,
           r->barriers_per_step, r->submits_per_step);
    printf("device memory  peak %.1f MiB of tensors (sum of arena high-water marks), %.1f MiB allocated\n",
           r->memory.peak / 1048576.0, r->memory.allocated / 1048576.0);
    printf("host memory    peak %.1f MiB resident (CPU drivers such as lavapipe keep device memory here too)\n",
           peak_host_bytes() / 1048576.0);
    double compile_s, wait_s;
    kernel_compile_stats(g, &compile_s, &wait_s);
    printf("start-up       %d pipelines: %.2f s of compiling (summed over threads), recording held up %.2f s; "
           "first step %.3f s (once per process, not in the step time)\n", g->npipes, compile_s, wait_s,
           r->first_step_s);
}

void bench_result_print(const BenchResult* r, const GpuContext* g, cJSON* extra, bool json) {
    if (json) print_json(r, g, extra);
    else print_text(r, g, extra);
    // After the JSON object on stderr, so that stdout stays one JSON line.
    profile_print(json ? stderr : stdout, 40, r->steps, r->step.median);
    fflush(stdout);
}
