// kernel_cache.h: compiled kernels (a Kernel holds a Vulkan compute pipeline
// and its layouts) keyed by (shader, binding kinds, specialization constants),
// created on first use and kept for the context's lifetime. "Kernel" here, so
// that "pipeline" in this code base means a diffusers pipeline folder
// (model/pipeline_io.h).
//
// Conventions every shader follows:
//   - specialization constants 0, 1, 2 are the workgroup size x, y, z
//     (layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;);
//     op-specific constants (tiles, flags) start at 3;
//   - bindings are numbered 0.. in the order of the `kinds` string, where 's' is a
//     storage buffer and 't' a uniform texel buffer (inputs of GEMM-like kernels,
//     which llvmpipe fetches 2x faster than storage buffers: PERFORMANCE.md);
//     cmd_dispatch makes the string from its Bind array, and the pipeline is
//     checked against the bindings the SPIR-V declares when it is created;
//   - push constants are one named struct per shader (PUSH_STRUCT and
//     SHADER_PUSH, gpu/kernel.h), at most PIPELINE_MAX_PUSH bytes.
//
// Compiling (vkCreateComputePipelines) is the slow part of start-up: ~85 ms per
// pipeline on lavapipe even when Mesa's shader cache holds the machine code (it
// optimises the NIR every time), ~80 pipelines for a training step. So
// kernel_get returns at once, with the descriptor-set and pipeline layouts
// made, and queues the compile on worker threads (CPUs - 1); the recorder
// (cmd.c) keeps recording and calls kernel_wait only when it encodes the
// dispatch, at cmd_end. A waiting thread compiles queued pipelines itself rather
// than sleep. $VKPREF_PIPELINE_THREADS=0 compiles on the calling thread at
// kernel_get (the behaviour before the workers); N > 0 uses N workers.
#pragma once
#include "gpu/gpu.h"
#include "shaders_gen.h"

#define PIPELINE_MAX_SPEC 20
#define PIPELINE_MAX_BINDINGS 12
#define PIPELINE_MAX_PUSH 128

typedef struct Kernel {
    ShaderId shader;
    char kinds[PIPELINE_MAX_BINDINGS + 1];
    uint32_t nspec;
    uint32_t spec[PIPELINE_MAX_SPEC];
    uint32_t nbindings, push_size;
    VkPipelineLayout layout;
    VkDescriptorSetLayout set_layout;
    // Set by the compile (pipeline.c; read them after kernel_wait):
    int state;        // queued, compiling, ready
    VkResult result;  // of vkCreateShaderModule / vkCreateComputePipelines
    VkPipeline pipeline;
} Kernel;

// spec[0..2] is the workgroup size; nspec >= 3. The pipeline may still be
// compiling: call kernel_wait before using p->pipeline. Ops do not call this:
// cmd_dispatch does, with the kinds of its bindings.
const Kernel* kernel_get(GpuContext* g, ShaderId id, const char* kinds, uint32_t push_size, const uint32_t* spec,
                             uint32_t nspec);
// Returns once p->pipeline exists; a failed compile is fatal here (with the shader's name).
void kernel_wait(GpuContext* g, const Kernel* p);
// Start-up cost so far: compile time summed over threads, and time callers spent
// in kernel_wait (or compiling at kernel_get without workers).
void kernel_compile_stats(const GpuContext* g, double* compile_s, double* wait_s);
// Stops the workers and destroys every pipeline.
void kernel_cache_free(GpuContext* g);

// Reinterpret a float as a 32-bit specialization constant.
uint32_t spec_float(float f);
