// pipeline.h: compute pipelines keyed by (shader, binding kinds, specialization
// constants), created on first use and kept for the context's lifetime.
//
// Conventions every shader follows:
//   - specialization constants 0, 1, 2 are the workgroup size x, y, z
//     (layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;);
//     op-specific constants (tiles, flags) start at 3;
//   - bindings are numbered 0.. in the order of the `kinds` string, where 's' is a
//     storage buffer and 't' a uniform texel buffer (inputs of GEMM-like kernels,
//     which llvmpipe fetches 2x faster than storage buffers: PERFORMANCE.md);
//   - push constants are one named struct per op, at most 128 bytes.
#pragma once
#include "gpu/gpu.h"
#include "shaders_gen.h"

#define PIPELINE_MAX_SPEC 20
#define PIPELINE_MAX_BINDINGS 12

typedef struct Pipeline {
    ShaderId shader;
    char kinds[PIPELINE_MAX_BINDINGS + 1];
    uint32_t nspec;
    uint32_t spec[PIPELINE_MAX_SPEC];
    uint32_t nbindings, push_size;
    uint32_t local[3];
    VkPipeline pipeline;
    VkPipelineLayout layout;
    VkDescriptorSetLayout set_layout;
} Pipeline;

// spec[0..2] is the workgroup size; nspec >= 3.
const Pipeline* pipeline_get(GpuContext* g, ShaderId id, const char* kinds, uint32_t push_size, const uint32_t* spec,
                             uint32_t nspec);
void pipeline_cache_free(GpuContext* g);

// Reinterpret a float as a 32-bit specialization constant.
uint32_t spec_float(float f);
