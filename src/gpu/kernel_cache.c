// kernel_cache.c: pipeline creation from the embedded SPIR-V, a linear-search cache
// (a few hundred entries at most; lookups happen at record time only), and the
// worker threads that compile pipelines while the caller goes on recording.
#include "gpu/kernel_cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gpu/spirv_reflect.h"
#include "gpu/vk_check.h"
#include "util/check.h"
#include "util/timer.h"

enum { PIPELINE_QUEUED, PIPELINE_COMPILING, PIPELINE_READY };

#define PIPELINE_MAX_THREADS 8

// Pipelines wait in a FIFO; whoever takes one (a worker, or a thread in
// kernel_wait) marks it compiling under the lock, so each is compiled once.
typedef struct PipelineCompiler {
    pthread_mutex_t lock;
    pthread_cond_t queued;  // a pipeline was queued, or stop was set
    pthread_cond_t done;    // a pipeline became ready
    Kernel** fifo;
    int head, tail, cap;    // fifo[head..tail) are waiting
    pthread_t threads[PIPELINE_MAX_THREADS];
    int nthreads;
    bool stop;
} PipelineCompiler;

uint32_t spec_float(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static bool same_key(const Kernel* p, ShaderId id, const char* kinds, uint32_t push_size, const uint32_t* spec,
                     uint32_t nspec) {
    return p->shader == id && p->nspec == nspec && p->push_size == push_size && strcmp(p->kinds, kinds) == 0 &&
           memcmp(p->spec, spec, nspec * sizeof *spec) == 0;
}

// The slow part; safe on any thread (Vulkan allows concurrent pipeline creation
// on one device). Leaves the outcome in p->result.
static void compile(GpuContext* g, Kernel* p) {
    const ShaderBlob* blob = &g_shaders[p->shader];
    VkShaderModuleCreateInfo mi = {.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO, .codeSize = blob->size,
                                   .pCode = blob->code};
    VkShaderModule module;
    p->result = vkCreateShaderModule(g->device, &mi, NULL, &module);
    if (p->result != VK_SUCCESS) return;
    VkSpecializationMapEntry map[PIPELINE_MAX_SPEC];
    for (uint32_t i = 0; i < p->nspec; i++)
        map[i] = (VkSpecializationMapEntry){.constantID = i, .offset = i * 4, .size = 4};
    VkSpecializationInfo si = {.mapEntryCount = p->nspec, .pMapEntries = map, .dataSize = p->nspec * 4,
                               .pData = p->spec};
    VkComputePipelineCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO, .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                  .module = module, .pName = "main", .pSpecializationInfo = &si},
        .layout = p->layout};
    p->result = vkCreateComputePipelines(g->device, VK_NULL_HANDLE, 1, &ci, NULL, &p->pipeline);
    vkDestroyShaderModule(g->device, module, NULL);
}

// Compiles p, which the caller has marked compiling, with the lock released
// meanwhile; returns with the lock held and p ready.
static void compile_unlocked(GpuContext* g, PipelineCompiler* pc, Kernel* p) {
    pthread_mutex_unlock(&pc->lock);
    double t0 = now_seconds();
    compile(g, p);
    double dt = now_seconds() - t0;
    pthread_mutex_lock(&pc->lock);
    g->pipeline_compile_s += dt;
    p->state = PIPELINE_READY;
    pthread_cond_broadcast(&pc->done);
}

// Next queued pipeline, marked compiling; NULL when the FIFO is empty. Lock held.
static Kernel* take_next(PipelineCompiler* pc) {
    while (pc->head < pc->tail) {
        Kernel* p = pc->fifo[pc->head++];
        if (p->state == PIPELINE_QUEUED) {  // not already taken by a waiting thread
            p->state = PIPELINE_COMPILING;
            return p;
        }
    }
    return NULL;
}

static void* worker(void* arg) {
    GpuContext* g = arg;
    PipelineCompiler* pc = g->compiler;
    pthread_mutex_lock(&pc->lock);
    for (;;) {
        Kernel* p = take_next(pc);
        if (p) compile_unlocked(g, pc, p);
        else if (pc->stop) break;
        else pthread_cond_wait(&pc->queued, &pc->lock);
    }
    pthread_mutex_unlock(&pc->lock);
    return NULL;
}

// Workers: $VKPREF_PIPELINE_THREADS, else one fewer than the online CPUs (at
// least 1, at most 8): the thread that waits compiles too. On the 2-CPU machine
// of PERFORMANCE.md a DPO bench process started in 7.7 / 6.0 s with 1 worker,
// 6.9 / 6.5 with 2 and 6.8 / 6.8 with 4, against 10.9 / 8.7 s compiling on the
// recording thread (two rounds; lavapipe serialises part of each compile).
static int worker_count(void) {
    const char* s = getenv("VKPREF_PIPELINE_THREADS");
    if (s && *s) {
        char* end;
        long n = strtol(s, &end, 10);
        if (*end || n < 0 || n > PIPELINE_MAX_THREADS)
            die("VKPREF_PIPELINE_THREADS=%s: expected a whole number from 0 (compile on the calling thread) to %d", s,
                PIPELINE_MAX_THREADS);
        return (int)n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN) - 1;
    return n < 1 ? 1 : n > PIPELINE_MAX_THREADS ? PIPELINE_MAX_THREADS : (int)n;
}

// Drops the queue (pipelines never compiled keep VK_NULL_HANDLE) and joins the
// workers once each has finished the pipeline it is compiling.
static void stop_workers(PipelineCompiler* pc) {
    pthread_mutex_lock(&pc->lock);
    pc->stop = true;
    pc->head = pc->tail;
    pthread_cond_broadcast(&pc->queued);
    pthread_mutex_unlock(&pc->lock);
    for (int t = 0; t < pc->nthreads; t++)
        if (!pthread_equal(pc->threads[t], pthread_self())) pthread_join(pc->threads[t], NULL);
    pc->nthreads = 0;
}

// Live compilers, for stop_compilers_before_exit (die() may come from any op).
#define PIPELINE_MAX_COMPILERS 8
static pthread_mutex_t g_live_lock = PTHREAD_MUTEX_INITIALIZER;
static PipelineCompiler* g_live[PIPELINE_MAX_COMPILERS];
static int g_nlive;

// A fatal error while pipelines compile: stop the workers, so that exit() does
// not unload the driver under them (a crash instead of the error's exit status 1).
static void stop_compilers_before_exit(void) {
    pthread_mutex_lock(&g_live_lock);
    for (int i = 0; i < g_nlive; i++) stop_workers(g_live[i]);
    pthread_mutex_unlock(&g_live_lock);
}

static PipelineCompiler* compiler_start(GpuContext* g) {
    PipelineCompiler* pc = xcalloc(1, sizeof *pc);
    pthread_mutex_init(&pc->lock, NULL);
    pthread_cond_init(&pc->queued, NULL);
    pthread_cond_init(&pc->done, NULL);
    g->compiler = pc;
    pthread_mutex_lock(&g_live_lock);
    bool full = g_nlive == PIPELINE_MAX_COMPILERS;
    if (!full) g_live[g_nlive++] = pc;
    pthread_mutex_unlock(&g_live_lock);
    if (full) die("more than %d GPU contexts compile pipelines", PIPELINE_MAX_COMPILERS);
    on_fatal_exit(stop_compilers_before_exit);
    int n = worker_count();
    for (int i = 0; i < n; i++) {
        int err = pthread_create(&pc->threads[i], NULL, worker, g);
        if (err) die("pipeline compiler: cannot start worker thread %d: %s", i, strerror(err));
        pc->nthreads++;
    }
    return pc;
}

static void compiler_stop(GpuContext* g) {
    PipelineCompiler* pc = g->compiler;
    if (!pc) return;
    pthread_mutex_lock(&g_live_lock);
    for (int i = 0; i < g_nlive; i++)
        if (g_live[i] == pc) g_live[i] = g_live[--g_nlive];
    pthread_mutex_unlock(&g_live_lock);
    stop_workers(pc);
    pthread_mutex_destroy(&pc->lock);
    pthread_cond_destroy(&pc->queued);
    pthread_cond_destroy(&pc->done);
    free(pc->fifo);
    free(pc);
    g->compiler = NULL;
}

static void enqueue(GpuContext* g, Kernel* p) {
    PipelineCompiler* pc = g->compiler ? g->compiler : compiler_start(g);
    pthread_mutex_lock(&pc->lock);
    if (pc->head == pc->tail) pc->head = pc->tail = 0;
    if (pc->tail == pc->cap) {
        pc->cap = pc->cap ? 2 * pc->cap : 64;
        pc->fifo = xrealloc(pc->fifo, (size_t)pc->cap * sizeof *pc->fifo);
    }
    p->state = PIPELINE_QUEUED;
    pc->fifo[pc->tail++] = p;
    pthread_cond_signal(&pc->queued);
    pthread_mutex_unlock(&pc->lock);
}

void kernel_wait(GpuContext* g, const Kernel* cp) {
    Kernel* p = (Kernel*)cp;  // the compile state is the only thing that changes
    PipelineCompiler* pc = g->compiler;
    if (pc) {
        double t0 = now_seconds();
        pthread_mutex_lock(&pc->lock);
        while (p->state != PIPELINE_READY) {
            if (p->state == PIPELINE_QUEUED) {
                p->state = PIPELINE_COMPILING;
                compile_unlocked(g, pc, p);
            } else {
                // Someone else is compiling p: help with the queue, or sleep.
                Kernel* other = take_next(pc);
                if (other) compile_unlocked(g, pc, other);
                else pthread_cond_wait(&pc->done, &pc->lock);
            }
        }
        pthread_mutex_unlock(&pc->lock);
        g->pipeline_wait_s += now_seconds() - t0;
    }
    if (p->result != VK_SUCCESS)
        die("compiling shader %s: vkCreateComputePipelines returned %s (%d)", g_shaders[p->shader].name,
            vk_result_name(p->result), (int)p->result);
}

static const char* kind_name(char kind) {
    return kind == 's' ? "storage buffer" : kind == 't' ? "uniform texel buffer" : "descriptor vkpref does not bind";
}

// The binding kinds come from the dispatch's Bind array, the push constants
// from the shader's registered struct: both must match what the SPIR-V
// declares (a binding the shader does not use may be anything; -O drops a
// push_constant block no code reads, and pushing it anyway is harmless).
static void check_shader_interface(ShaderId id, const char* kinds, uint32_t nb) {
    const ShaderBlob* blob = &g_shaders[id];
    SpirvInfo s;
    char err[256];
    if (spirv_reflect(blob->code, blob->size / sizeof *blob->code, &s, err, sizeof err) ||
        (s.has_push && spirv_check_push(&s, shader_push_layout(id), err, sizeof err)))
        die("shader %s: %s", blob->name, err);
    for (uint32_t i = 0; i < s.nbindings; i++) {
        const SpirvBinding* sb = &s.bindings[i];
        if (sb->set != 0 || sb->binding >= nb)
            die("shader %s: binding %u (set %u) has no Bind at the dispatch, which gives %u", blob->name, sb->binding,
                sb->set, nb);
        if (sb->kind != kinds[sb->binding])
            die("shader %s: binding %u is a %s, the dispatch binds a %s", blob->name, sb->binding, kind_name(sb->kind),
                kind_name(kinds[sb->binding]));
    }
}

static Kernel* pipeline_create(GpuContext* g, ShaderId id, const char* kinds, uint32_t push_size,
                                 const uint32_t* spec, uint32_t nspec) {
    const ShaderBlob* blob = &g_shaders[id];
    uint32_t nb = (uint32_t)strlen(kinds);
    if (nb > PIPELINE_MAX_BINDINGS) die("shader %s: %u bindings (max %d)", blob->name, nb, PIPELINE_MAX_BINDINGS);
    if (nspec < 3 || nspec > PIPELINE_MAX_SPEC)
        die("shader %s: %u specialization constants (3 to %d)", blob->name, nspec, PIPELINE_MAX_SPEC);
    if (push_size > PIPELINE_MAX_PUSH || push_size > g->props.limits.maxPushConstantsSize)
        die("shader %s: push constants of %u bytes exceed %u (vkpref) or the device limit %u", blob->name, push_size,
            PIPELINE_MAX_PUSH, g->props.limits.maxPushConstantsSize);
    for (uint32_t i = 0; i < nb; i++)
        if (kinds[i] != 's' && kinds[i] != 't')
            die("shader %s: binding kind '%c' is not 's' or 't'", blob->name, kinds[i]);
    check_shader_interface(id, kinds, nb);
    uint32_t invocations = spec[0] * spec[1] * spec[2];
    if (invocations == 0 || invocations > g->props.limits.maxComputeWorkGroupInvocations)
        die("shader %s: workgroup %ux%ux%u exceeds the device limit of %u invocations", blob->name, spec[0], spec[1],
            spec[2], g->props.limits.maxComputeWorkGroupInvocations);

    Kernel* p = xcalloc(1, sizeof *p);
    p->shader = id;
    strcpy(p->kinds, kinds);
    p->nspec = nspec;
    memcpy(p->spec, spec, nspec * sizeof *spec);
    p->nbindings = nb;
    p->push_size = push_size;

    VkDescriptorSetLayoutBinding b[PIPELINE_MAX_BINDINGS];
    for (uint32_t i = 0; i < nb; i++) {
        b[i] = (VkDescriptorSetLayoutBinding){
            .binding = i, .descriptorCount = 1, .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
            .descriptorType = kinds[i] == 's' ? VK_DESCRIPTOR_TYPE_STORAGE_BUFFER : VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER};
    }
    VkDescriptorSetLayoutCreateInfo dl = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
                                          .flags = VK_DESCRIPTOR_SET_LAYOUT_CREATE_PUSH_DESCRIPTOR_BIT_KHR,
                                          .bindingCount = nb, .pBindings = b};
    VK_CHECK(vkCreateDescriptorSetLayout(g->device, &dl, NULL, &p->set_layout));
    VkPushConstantRange pr = {.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT, .offset = 0, .size = push_size};
    VkPipelineLayoutCreateInfo li = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO, .setLayoutCount = 1,
                                     .pSetLayouts = &p->set_layout, .pushConstantRangeCount = push_size ? 1 : 0,
                                     .pPushConstantRanges = &pr};
    VK_CHECK(vkCreatePipelineLayout(g->device, &li, NULL, &p->layout));
    return p;
}

const Kernel* kernel_get(GpuContext* g, ShaderId id, const char* kinds, uint32_t push_size, const uint32_t* spec,
                             uint32_t nspec) {
    for (int i = 0; i < g->npipes; i++)
        if (same_key(g->pipes[i], id, kinds, push_size, spec, nspec)) return g->pipes[i];
    if (g->npipes == g->cap_pipes) {
        g->cap_pipes = g->cap_pipes ? 2 * g->cap_pipes : 64;
        g->pipes = xrealloc(g->pipes, (size_t)g->cap_pipes * sizeof *g->pipes);
    }
    Kernel* p = pipeline_create(g, id, kinds, push_size, spec, nspec);
    g->pipes[g->npipes++] = p;
    if (g->compiler || worker_count() > 0) {
        enqueue(g, p);
    } else {
        double t0 = now_seconds();
        compile(g, p);
        double dt = now_seconds() - t0;
        g->pipeline_compile_s += dt, g->pipeline_wait_s += dt;
        p->state = PIPELINE_READY;
    }
    return p;
}

void kernel_compile_stats(const GpuContext* g, double* compile_s, double* wait_s) {
    if (g->compiler) pthread_mutex_lock(&g->compiler->lock);
    *compile_s = g->pipeline_compile_s, *wait_s = g->pipeline_wait_s;
    if (g->compiler) pthread_mutex_unlock(&g->compiler->lock);
}

void kernel_cache_free(GpuContext* g) {
    compiler_stop(g);  // joins the workers: nothing is compiling after this
    for (int i = 0; i < g->npipes; i++) {
        Kernel* p = g->pipes[i];
        if (p->pipeline) vkDestroyPipeline(g->device, p->pipeline, NULL);
        vkDestroyPipelineLayout(g->device, p->layout, NULL);
        vkDestroyDescriptorSetLayout(g->device, p->set_layout, NULL);
        free(p);
    }
    free(g->pipes);
    g->pipes = NULL;
    g->npipes = g->cap_pipes = 0;
}
