// memory.h: device buffers, arenas (chunked bump allocators) and tensors
// (non-owning views into an arena chunk), plus host<->device transfers.
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "gpu/gpu.h"

typedef struct GpuBuffer {
    VkBuffer buf;
    VkDeviceMemory mem;
    VkDeviceSize size;
    void* mapped;  // non-NULL when the memory is host-visible and coherent
} GpuBuffer;

// host_visible: memory the host writes and reads directly (staging, step
// parameters, readback slots). Otherwise device-local, mapped only when the
// device-local memory happens to be host-visible too (CPU drivers, UMA, ReBAR).
void gpu_buffer_create(GpuContext* g, GpuBuffer* b, VkDeviceSize size, bool host_visible);
void gpu_buffer_destroy(GpuContext* g, GpuBuffer* b);

#define ARENA_MAX_CHUNKS 64

// One big buffer cut in chunks that each fit maxMemoryAllocationSize; a tensor
// never straddles two chunks. Offsets are aligned for storage and texel views,
// and sizes are rounded to 16 bytes so a whole tensor can be read as vec4 texels.
typedef struct Arena {
    const char* name;
    GpuContext* gpu;
    GpuBuffer chunk[ARENA_MAX_CHUNKS];
    VkDeviceSize used[ARENA_MAX_CHUNKS];
    int nchunks;
    VkDeviceSize chunk_size, align, peak;
    bool host_visible;
} Arena;

void arena_init(Arena* a, GpuContext* g, const char* name, VkDeviceSize chunk_size, bool host_visible);
void arena_free(Arena* a);
void arena_reset(Arena* a);                  // forget every tensor, keep the chunks
VkDeviceSize arena_bytes(const Arena* a);    // bytes of device memory held

// How a tensor's elements are stored. Kernels compute in F32 whatever the
// storage: an F16 tensor is read through an R16F / RGBA16F texel view (the
// conversion is the view's), so weights nothing writes (a frozen model) can be
// kept at half the memory with no kernel of their own. Storage bindings, copies
// and raw transfers of F16 tensors are refused.
typedef enum DType { DTYPE_F32 = 0, DTYPE_F16 = 1 } DType;

typedef struct Tensor {
    GpuBuffer* buf;
    VkDeviceSize offset;  // bytes from the start of buf
    int ndim;
    int64_t shape[4];     // (N, C, H, W) images, (N, T, D) tokens, (rows, cols) matrices
    DType dtype;          // DTYPE_F32 unless made by arena_tensor_typed
} Tensor;

Tensor arena_tensor(Arena* a, int ndim, const int64_t* shape);
Tensor arena_tensor_typed(Arena* a, DType dtype, int ndim, const int64_t* shape);
Tensor arena_tensor1(Arena* a, int64_t n);
Tensor arena_tensor2(Arena* a, int64_t r, int64_t c);
Tensor arena_tensor3(Arena* a, int64_t n, int64_t t, int64_t d);
Tensor arena_tensor4(Arena* a, int64_t n, int64_t c, int64_t h, int64_t w);

int64_t tensor_numel(const Tensor* t);
VkDeviceSize dtype_bytes(DType d);  // bytes per element
VkDeviceSize tensor_bytes(const Tensor* t);
// The same memory seen with another shape (numel must match).
Tensor tensor_reshape(Tensor t, int ndim, const int64_t* shape);
// Elements [start, start + n) of t as a 1-D tensor.
Tensor tensor_slice(Tensor t, int64_t start, int64_t n);

// Blocking transfers outside a recorded step (setup, tests, checkpoints); F16
// tensors are converted (round to nearest even on upload, exact on download).
void tensor_upload(GpuContext* g, const Tensor* t, const float* host);
void tensor_download(GpuContext* g, const Tensor* t, float* host);
// tensor_download into a new malloc'ed array of tensor_numel(t) floats.
float* tensor_download_new(GpuContext* g, const Tensor* t);
// Raw 4-byte elements (token ids as uint32, for example).
void tensor_upload_raw(GpuContext* g, const Tensor* t, const void* host);
void tensor_download_raw(GpuContext* g, const Tensor* t, void* host);

// The mapped address of a host-visible tensor (aborts for a device-local one: a programming error).
float* tensor_host_ptr(const Tensor* t);
