// profile.c: timestamp queries per recorded command, aggregated per (shader, op
// label) over every replay since the last profile_reset (profile.h).
#include "gpu/profile.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gpu/gpu.h"
#include "gpu/vk_check.h"
#include "util/check.h"

typedef struct ProfRow {
    char name[64], label[64];
    long calls;
    double ns, flops;  // summed over calls; flops 0: unknown
} ProfRow;

static struct {
    int state;  // 0 unknown, 1 on, -1 off
    bool warned, printed;
    ProfRow* rows;
    int nrows, cap;
} g_prof;

// $VKPREF_PROFILE with a command that prints no table itself (`vkpref train`,
// say): the totals of the whole run go to stderr at exit.
static void print_at_exit(void) {
    if (!g_prof.printed) profile_print(stderr, 40, 1, 0);
}

bool profile_enabled(void) {
    if (!g_prof.state) {
        const char* e = getenv("VKPREF_PROFILE");
        g_prof.state = e && *e && strcmp(e, "0") ? 1 : -1;
        if (g_prof.state > 0) atexit(print_at_exit);
    }
    return g_prof.state > 0;
}

void profile_enable(void) { g_prof.state = 1; }

void profile_reset(void) {
    for (int i = 0; i < g_prof.nrows; i++) g_prof.rows[i].calls = 0, g_prof.rows[i].ns = g_prof.rows[i].flops = 0;
}

int profile_cmd_row(const char* name, const char* label) {
    if (!label) label = "";
    for (int i = 0; i < g_prof.nrows; i++)
        if (!strncmp(g_prof.rows[i].name, name, 63) && !strncmp(g_prof.rows[i].label, label, 63)) return i;
    if (g_prof.nrows == g_prof.cap) {
        g_prof.cap = g_prof.cap ? 2 * g_prof.cap : 64;
        g_prof.rows = xrealloc(g_prof.rows, (size_t)g_prof.cap * sizeof *g_prof.rows);
    }
    ProfRow* r = &g_prof.rows[g_prof.nrows];
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", name);
    snprintf(r->label, sizeof r->label, "%s", label);
    return g_prof.nrows++;
}

// ---------------------------------------------------------------------------
// Per recording

typedef struct ProfCommand {
    int row, seg;
    uint32_t query;  // first of its two timestamps in the segment's pool
    double flops;
} ProfCommand;

struct CmdProfile {
    GpuContext* g;
    double ns_per_tick;
    uint64_t mask;  // timestampValidBits
    VkQueryPool* pools;  // one per segment
    uint32_t* used;      // queries written per segment
    int npools;
    ProfCommand* cmds;
    int ncmds, cap;
    uint64_t* data;  // readback scratch
    uint32_t cap_data;
};

CmdProfile* profile_cmd_new(GpuContext* g) {
    uint32_t nq = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(g->phys, &nq, NULL);
    VkQueueFamilyProperties* qf = xmalloc(nq * sizeof *qf);
    vkGetPhysicalDeviceQueueFamilyProperties(g->phys, &nq, qf);
    uint32_t bits = g->queue_family < nq ? qf[g->queue_family].timestampValidBits : 0;
    free(qf);
    if (!bits || g->props.limits.timestampPeriod <= 0) {
        if (!g_prof.warned)
            fprintf(stderr, "vkpref profile: %s has no timestamps on its compute queue (timestampValidBits %u, "
                            "timestampPeriod %g): profiling is off\n",
                    g->props.deviceName, bits, (double)g->props.limits.timestampPeriod);
        g_prof.warned = true;
        return NULL;
    }
    CmdProfile* p = xcalloc(1, sizeof *p);
    p->g = g;
    p->ns_per_tick = g->props.limits.timestampPeriod;
    p->mask = bits >= 64 ? UINT64_MAX : ((uint64_t)1 << bits) - 1;
    return p;
}

void profile_cmd_segment(CmdProfile* p, VkCommandBuffer cb, int seg, int max_commands) {
    if (seg >= p->npools) {
        int n = seg + 1;
        p->pools = xrealloc(p->pools, (size_t)n * sizeof *p->pools);
        p->used = xrealloc(p->used, (size_t)n * sizeof *p->used);
        for (int i = p->npools; i < n; i++) p->pools[i] = VK_NULL_HANDLE, p->used[i] = 0;
        p->npools = n;
    }
    // Two timestamps per command; the segment closes after max_commands commands.
    VkQueryPoolCreateInfo qi = {.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO, .queryType = VK_QUERY_TYPE_TIMESTAMP,
                                .queryCount = 2 * (uint32_t)max_commands};
    VK_CHECK(vkCreateQueryPool(p->g->device, &qi, NULL, &p->pools[seg]));
    // Reset inside the command buffer so that every replay starts from reset queries.
    vkCmdResetQueryPool(cb, p->pools[seg], 0, qi.queryCount);
}

void profile_cmd_before(CmdProfile* p, VkCommandBuffer cb, int seg, int row, double flops) {
    if (p->ncmds == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 256;
        p->cmds = xrealloc(p->cmds, (size_t)p->cap * sizeof *p->cmds);
    }
    uint32_t q = p->used[seg];
    p->cmds[p->ncmds++] = (ProfCommand){row, seg, q, flops};
    vkCmdWriteTimestamp(cb, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, p->pools[seg], q);
}

void profile_cmd_after(CmdProfile* p, VkCommandBuffer cb, int seg) {
    uint32_t q = p->used[seg] + 1;
    vkCmdWriteTimestamp(cb, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, p->pools[seg], q);
    p->used[seg] = q + 1;
}

void profile_cmd_collect(CmdProfile* p) {
    int c = 0;
    for (int s = 0; s < p->npools; s++) {
        uint32_t n = p->used[s];
        if (!n) continue;
        if (n > p->cap_data) {
            p->cap_data = n;
            p->data = xrealloc(p->data, n * sizeof *p->data);
        }
        VK_CHECK(vkGetQueryPoolResults(p->g->device, p->pools[s], 0, n, n * sizeof *p->data, p->data, sizeof *p->data,
                                       VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT));
        for (; c < p->ncmds && p->cmds[c].seg == s; c++) {
            const ProfCommand* pc = &p->cmds[c];
            uint64_t ticks = (p->data[pc->query + 1] - p->data[pc->query]) & p->mask;
            ProfRow* r = &g_prof.rows[pc->row];
            r->calls++;
            r->ns += (double)ticks * p->ns_per_tick;
            r->flops += pc->flops;
        }
    }
}

void profile_cmd_free(CmdProfile* p) {
    if (!p) return;
    for (int s = 0; s < p->npools; s++)
        if (p->pools[s]) vkDestroyQueryPool(p->g->device, p->pools[s], NULL);
    free(p->pools), free(p->used), free(p->cmds), free(p->data), free(p);
}

// ---------------------------------------------------------------------------

static int by_time(const void* a, const void* b) {
    double x = ((const ProfRow*)a)->ns, y = ((const ProfRow*)b)->ns;
    return x < y ? 1 : x > y ? -1 : 0;
}

// One table: rows sorted by time, at most max_rows (the rest summed in one line).
static void print_table(FILE* out, const char* title, ProfRow* rows, int n, int max_rows, int steps, double total) {
    qsort(rows, (size_t)n, sizeof *rows, by_time);
    fprintf(out, "\n%s\n| # | shader | op | calls/step | ms/step | %% | GFLOP/s |\n|---|---|---|---|---|---|---|\n", title);
    double rest = 0;
    long rest_calls = 0;
    int nrest = 0;
    for (int i = 0; i < n; i++) {
        const ProfRow* r = &rows[i];
        if (!r->calls) continue;
        if (i >= max_rows) {
            rest += r->ns, rest_calls += r->calls, nrest++;
            continue;
        }
        char gf[32] = "";
        if (r->flops > 0 && r->ns > 0) snprintf(gf, sizeof gf, "%.1f", r->flops / r->ns);
        fprintf(out, "| %d | %s | %s | %.1f | %.2f | %.1f | %s |\n", i + 1, r->name, r->label, (double)r->calls / steps,
                r->ns * 1e-6 / steps, total > 0 ? 100 * r->ns / total : 0.0, gf);
    }
    if (rest_calls)
        fprintf(out, "| | (%d others) | | %.1f | %.2f | %.1f | |\n", nrest, (double)rest_calls / steps, rest * 1e-6 / steps,
                total > 0 ? 100 * rest / total : 0.0);
}

void profile_print(FILE* out, int max_rows, int steps, double step_s) {
    if (!profile_enabled()) return;
    g_prof.printed = true;
    int n = g_prof.nrows;
    ProfRow* rows = xmalloc((size_t)(n ? n : 1) * sizeof *rows);
    memcpy(rows, g_prof.rows, (size_t)n * sizeof *rows);
    double total = 0;
    for (int i = 0; i < n; i++) total += rows[i].ns;
    if (steps < 1) steps = 1;
    fprintf(out, "\nprofile: GPU timestamps per recorded command over %d step(s): %.2f ms/step of commands", steps,
            total * 1e-6 / steps);
    if (step_s > 0) fprintf(out, " (wall-clock step median %.2f ms)", step_s * 1e3);
    fprintf(out, "\n");
    // By shader: rows of the same shader merged (op labels dropped).
    ProfRow* by = xmalloc((size_t)(n ? n : 1) * sizeof *by);
    int nb = 0;
    for (int i = 0; i < n; i++) {
        int j = 0;
        while (j < nb && strcmp(by[j].name, rows[i].name)) j++;
        if (j == nb) by[nb] = rows[i], by[nb].label[0] = 0, by[nb].calls = 0, by[nb].ns = by[nb].flops = 0, nb++;
        by[j].calls += rows[i].calls, by[j].ns += rows[i].ns, by[j].flops += rows[i].flops;
    }
    print_table(out, "by shader:", by, nb, max_rows, steps, total);
    print_table(out, "by shader and op (conv2d and matmul labels carry the shape):", rows, n, max_rows, steps, total);
    free(by);
    free(rows);
}
