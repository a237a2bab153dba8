// memory.c: buffer creation, memory-type choice, arenas and transfers.
#include "gpu/memory.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu/vk_check.h"
#include "util/check.h"
#include "util/half.h"

static uint32_t find_memory_type(const GpuContext* g, uint32_t bits, VkMemoryPropertyFlags want,
                                 VkMemoryPropertyFlags avoid) {
    for (uint32_t i = 0; i < g->memprops.memoryTypeCount; i++) {
        VkMemoryPropertyFlags f = g->memprops.memoryTypes[i].propertyFlags;
        if ((bits & (1u << i)) && (f & want) == want && !(f & avoid)) return i;
    }
    return UINT32_MAX;
}

void gpu_buffer_create(GpuContext* g, GpuBuffer* b, VkDeviceSize size, bool host_visible) {
    memset(b, 0, sizeof *b);
    b->size = size;
    VkBufferCreateInfo bi = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, .size = size,
                             .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_UNIFORM_TEXEL_BUFFER_BIT |
                                      VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                             .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
    VK_CHECK(vkCreateBuffer(g->device, &bi, NULL, &b->buf));
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(g->device, b->buf, &req);
    const VkMemoryPropertyFlags hv = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    uint32_t type;
    if (host_visible) {
        type = find_memory_type(g, req.memoryTypeBits, hv | VK_MEMORY_PROPERTY_HOST_CACHED_BIT, 0);
        if (type == UINT32_MAX) type = find_memory_type(g, req.memoryTypeBits, hv, 0);
    } else {
        type = find_memory_type(g, req.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, 0);
        if (type == UINT32_MAX) type = find_memory_type(g, req.memoryTypeBits, 0, 0);
    }
    if (type == UINT32_MAX) die("no Vulkan memory type fits a %s buffer", host_visible ? "host-visible" : "device");
    VkMemoryAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, .allocationSize = req.size,
                               .memoryTypeIndex = type};
    VkResult r = vkAllocateMemory(g->device, &ai, NULL, &b->mem);
    if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY) {
        // Not a bug: the model and batch do not fit. Say how much and what helps.
        fprintf(stderr, "vkpref: error: the device is out of memory: %s of %.1f MiB failed (%s)\n"
                        "  lower --train_batch_size (with --gradient_accumulation_steps for the same effective batch),"
                        " the resolution, or turn on --gradient_checkpointing and F16 storage (--save_f16 for outputs)\n",
                "vkAllocateMemory", (double)req.size / (1024.0 * 1024.0), vk_result_name(r));
        fatal_exit(EXIT_DEVICE);
    }
    VK_CHECK(r);
    VK_CHECK(vkBindBufferMemory(g->device, b->buf, b->mem, 0));
    if ((g->memprops.memoryTypes[type].propertyFlags & hv) == hv)
        VK_CHECK(vkMapMemory(g->device, b->mem, 0, VK_WHOLE_SIZE, 0, &b->mapped));
}

void gpu_buffer_destroy(GpuContext* g, GpuBuffer* b) {
    if (b->mapped) vkUnmapMemory(g->device, b->mem);
    if (b->buf) vkDestroyBuffer(g->device, b->buf, NULL);
    if (b->mem) vkFreeMemory(g->device, b->mem, NULL);
    memset(b, 0, sizeof *b);
}

// ---------------------------------------------------------------------------
// Arena

static VkDeviceSize max_dev(VkDeviceSize a, VkDeviceSize b) { return a > b ? a : b; }
static VkDeviceSize round_up(VkDeviceSize x, VkDeviceSize a) { return (x + a - 1) / a * a; }

void arena_init(Arena* a, GpuContext* g, const char* name, VkDeviceSize chunk_size, bool host_visible) {
    memset(a, 0, sizeof *a);
    a->name = name;
    a->gpu = g;
    a->host_visible = host_visible;
    const VkPhysicalDeviceLimits* L = &g->props.limits;
    a->align = max_dev(256, max_dev(L->minStorageBufferOffsetAlignment, L->minTexelBufferOffsetAlignment));
    a->chunk_size = chunk_size ? chunk_size : (VkDeviceSize)256 << 20;
}

void arena_free(Arena* a) {
    for (int i = 0; i < a->nchunks; i++) gpu_buffer_destroy(a->gpu, &a->chunk[i]);
    a->nchunks = 0;
}

void arena_reset(Arena* a) {
    for (int i = 0; i < a->nchunks; i++) a->used[i] = 0;
}

VkDeviceSize arena_bytes(const Arena* a) {
    VkDeviceSize s = 0;
    for (int i = 0; i < a->nchunks; i++) s += a->chunk[i].size;
    return s;
}

Tensor arena_tensor(Arena* a, int ndim, const int64_t* shape) { return arena_tensor_typed(a, DTYPE_F32, ndim, shape); }

Tensor arena_tensor_typed(Arena* a, DType dtype, int ndim, const int64_t* shape) {
    Tensor t = {.ndim = ndim, .dtype = dtype};
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) t.shape[i] = shape[i], n *= shape[i];
    if (n <= 0) die("arena %s: tensor with %lld elements", a->name, (long long)n);
    VkDeviceSize bytes = round_up((VkDeviceSize)n * dtype_bytes(dtype), 16);
    // A tensor past one storage binding (maxStorageBufferRange) gets a chunk of its
    // own: texel views reach maxTexelBufferElements, whole-chunk updates bind it in
    // pieces (ops/op_optim.c), and a kernel binding it whole as storage is refused
    // at dispatch, naming the kernel.
    int c = 0;
    for (; c < a->nchunks; c++)
        if (round_up(a->used[c], a->align) + bytes <= a->chunk[c].size) break;
    if (c == a->nchunks) {
        if (a->nchunks == ARENA_MAX_CHUNKS) die("arena %s: more than %d chunks", a->name, ARENA_MAX_CHUNKS);
        gpu_buffer_create(a->gpu, &a->chunk[c], max_dev(a->chunk_size, bytes), a->host_visible);
        a->used[c] = 0;
        a->nchunks++;
    }
    t.buf = &a->chunk[c];
    t.offset = round_up(a->used[c], a->align);
    a->used[c] = t.offset + bytes;
    VkDeviceSize total = 0;
    for (int i = 0; i < a->nchunks; i++) total += a->used[i];
    if (total > a->peak) a->peak = total;
    return t;
}

Tensor arena_tensor1(Arena* a, int64_t n) { return arena_tensor(a, 1, (int64_t[]){n}); }
Tensor arena_tensor2(Arena* a, int64_t r, int64_t c) { return arena_tensor(a, 2, (int64_t[]){r, c}); }
Tensor arena_tensor3(Arena* a, int64_t n, int64_t t, int64_t d) { return arena_tensor(a, 3, (int64_t[]){n, t, d}); }
Tensor arena_tensor4(Arena* a, int64_t n, int64_t c, int64_t h, int64_t w) {
    return arena_tensor(a, 4, (int64_t[]){n, c, h, w});
}

int64_t tensor_numel(const Tensor* t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

VkDeviceSize dtype_bytes(DType d) { return d == DTYPE_F16 ? 2 : 4; }

VkDeviceSize tensor_bytes(const Tensor* t) { return (VkDeviceSize)tensor_numel(t) * dtype_bytes(t->dtype); }

Tensor tensor_reshape(Tensor t, int ndim, const int64_t* shape) {
    Tensor r = t;
    r.ndim = ndim;
    for (int i = 0; i < ndim; i++) r.shape[i] = shape[i];
    if (tensor_numel(&r) != tensor_numel(&t)) die("tensor_reshape: %lld elements into %lld", (long long)tensor_numel(&t),
                                                  (long long)tensor_numel(&r));
    return r;
}

Tensor tensor_slice(Tensor t, int64_t start, int64_t n) {
    if (start < 0 || n <= 0 || start + n > tensor_numel(&t)) die("tensor_slice: [%lld, +%lld) out of range", (long long)start, (long long)n);
    Tensor r = t;
    r.offset += (VkDeviceSize)start * dtype_bytes(t.dtype);
    r.ndim = 1;
    r.shape[0] = n;
    return r;
}

// ---------------------------------------------------------------------------
// Transfers: mapped memory directly when possible, else through a staging buffer.

static void transfer(GpuContext* g, const Tensor* t, void* host, bool upload) {
    VkDeviceSize bytes = tensor_bytes(t);
    if (t->buf->mapped && !g->force_staging) {
        char* dev = (char*)t->buf->mapped + t->offset;
        if (upload) memcpy(dev, host, bytes);
        else memcpy(host, dev, bytes);
        return;
    }
    GpuBuffer staging;
    gpu_buffer_create(g, &staging, bytes, true);
    if (upload) memcpy(staging.mapped, host, bytes);
    VkCommandBuffer cb = gpu_begin_oneshot(g);
    VkBufferCopy region = {.srcOffset = upload ? 0 : t->offset, .dstOffset = upload ? t->offset : 0, .size = bytes};
    vkCmdCopyBuffer(cb, upload ? staging.buf : t->buf->buf, upload ? t->buf->buf : staging.buf, 1, &region);
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER, .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
                          .dstAccessMask = VK_ACCESS_HOST_READ_BIT | VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT};
    vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_HOST_BIT | VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                         0, 1, &mb, 0, NULL, 0, NULL);
    gpu_end_oneshot(g, cb);
    if (!upload) memcpy(host, staging.mapped, bytes);
    gpu_buffer_destroy(g, &staging);
}

void tensor_upload(GpuContext* g, const Tensor* t, const float* host) {
    if (t->dtype == DTYPE_F32) return transfer(g, t, (void*)host, true);
    int64_t n = tensor_numel(t);
    uint16_t* h = xmalloc((size_t)n * sizeof *h);
    for (int64_t i = 0; i < n; i++) h[i] = f32_to_f16(host[i]);
    transfer(g, t, h, true);
    free(h);
}

void tensor_download(GpuContext* g, const Tensor* t, float* host) {
    if (t->dtype == DTYPE_F32) return transfer(g, t, host, false);
    int64_t n = tensor_numel(t);
    uint16_t* h = xmalloc((size_t)n * sizeof *h);
    transfer(g, t, h, false);
    for (int64_t i = 0; i < n; i++) host[i] = f16_to_f32(h[i]);
    free(h);
}

static void check_f32(const Tensor* t, const char* what) {
    if (t->dtype != DTYPE_F32) die("%s of an F16 tensor (only texel bindings and tensor_upload/download take F16)", what);
}

void tensor_upload_raw(GpuContext* g, const Tensor* t, const void* host) {
    check_f32(t, "tensor_upload_raw");
    transfer(g, t, (void*)host, true);
}

void tensor_download_raw(GpuContext* g, const Tensor* t, void* host) {
    check_f32(t, "tensor_download_raw");
    transfer(g, t, host, false);
}

float* tensor_host_ptr(const Tensor* t) {
    check_f32(t, "tensor_host_ptr");
    if (!t->buf->mapped) die("tensor is not host-visible");
    return (float*)((char*)t->buf->mapped + t->offset);
}

float* tensor_download_new(GpuContext* g, const Tensor* t) {
    float* h = xmalloc((size_t)tensor_numel(t) * sizeof *h);
    tensor_download(g, t, h);
    return h;
}
