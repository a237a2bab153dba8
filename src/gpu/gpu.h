// gpu.h: the Vulkan context: instance, device selection, queue, limits and
// features, the validation-layer messenger, and the pipeline cache.
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <vulkan/vulkan.h>

struct Kernel;

typedef struct GpuOptions {
    int device;        // index into vkEnumeratePhysicalDevices; -1: $VKPREF_DEVICE, else best
    int nth;           // without device or $VKPREF_DEVICE: the nth (modulo their count) of the usable devices
                       // of the best type, in enumeration order (one per process of a data-parallel run)
    bool validation;   // Khronos validation layer; also on when $VKPREF_VALIDATION=1
    bool quiet;        // do not print the chosen device
} GpuOptions;
#define GPU_DEFAULTS ((GpuOptions){.device = -1, .validation = false, .quiet = true})

// Per-device kernel choices (tile shapes, staging); filled from device facts in
// gpu_init so that every op wrapper picks its variant from one place.
typedef struct GpuTuning {
    uint32_t wg_size;        // invocations of 1-D elementwise workgroups
    bool use_shared_memory;  // stage GEMM/conv tiles through shared memory (GPUs: yes; lavapipe: no)
    // Most loop iterations one invocation may run, all loops of a shader together
    // (0: no limit). llvmpipe (lavapipe) gives every SIMD invocation 65535, nested
    // loops included, a loop costing its trips + 1; then it silently ends the loop
    // that used them up and runs every later loop once. Kernels size their
    // per-invocation work under it.
    uint32_t loop_budget;
} GpuTuning;

typedef struct GpuContext {
    VkInstance instance;
    VkDebugUtilsMessengerEXT messenger;
    VkPhysicalDevice phys;
    int device_index;
    VkDevice device;
    VkQueue queue;
    uint32_t queue_family;
    VkPhysicalDeviceProperties props;
    VkPhysicalDeviceMemoryProperties memprops;
    VkPhysicalDeviceDriverProperties driver;
    uint32_t subgroup_size;  // never assume 32: lavapipe reports 8
    bool has_fp16, has_coopmat;
    bool force_staging;      // tests: use the staging path even where memory is mappable
    int validation_messages; // warnings + errors from the validation layer; tests assert 0
    bool device_lost;        // a submit returned VK_ERROR_DEVICE_LOST: later submits do nothing
    long lose_device_after;  // fault injection for tests ($VKPREF_FAULT_DEVICE_LOST_AFTER): that many submits
                             // succeed, the next reports VK_ERROR_DEVICE_LOST; 0: off
    long nsubmits;           // queue submissions so far
    VkCommandPool pool;
    VkFence fence;
    PFN_vkCmdPushDescriptorSetKHR push_descriptor;
    struct Kernel** pipes; // the kernel cache (compute pipelines), created on first use
    int npipes, cap_pipes;
    struct PipelineCompiler* compiler;  // worker threads compiling pipelines (pipeline.c)
    double pipeline_compile_s;          // start-up cost (`vkpref bench`): compile time summed over threads,
    double pipeline_wait_s;             // and the time callers were held up by compiles
    GpuTuning tune;
} GpuContext;

// 0 on success; -1 when no usable Vulkan device exists; -2 when validation was
// requested but the layer is not installed. Other failures are fatal.
int gpu_init(GpuContext* g, const GpuOptions* opt);
void gpu_free(GpuContext* g);

// Writes every Vulkan device with its properties, marking the one gpu_init picks.
int gpu_print_devices(FILE* out, int forced_device);
// The Vulkan loader's version and the device gpu_init would pick, with its driver (`vkpref --version`).
void gpu_print_version(FILE* out);

// One-shot command buffer for transfers outside a recorded step.
VkCommandBuffer gpu_begin_oneshot(GpuContext* g);
void gpu_end_oneshot(GpuContext* g, VkCommandBuffer cb);
