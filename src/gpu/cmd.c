// cmd.c: recording, hazard-tracked barriers, segments and submission.
#include "gpu/cmd.h"

#include <stdlib.h>
#include <string.h>

#include "gpu/profile.h"
#include "gpu/vk_check.h"
#include "util/check.h"

// A recorded command, encoded at cmd_end (cmd.h).
typedef enum { CMD_OP_DISPATCH, CMD_OP_FILL, CMD_OP_COPY, CMD_OP_BARRIER } CmdOpKind;

typedef struct CmdOp {
    CmdOpKind kind;
    int prof_row;  // profile row (profile_cmd_row) when profiling
    double flops;  // for the profile
    // Dispatch: binding i is view[i] when it is a texel binding, else buf[i].
    const Kernel* p;
    uint32_t grid[3];
    uint32_t writes;  // bit i: binding i is written
    VkDescriptorBufferInfo buf[PIPELINE_MAX_BINDINGS];
    VkBufferView view[PIPELINE_MAX_BINDINGS];
    uint8_t push[PIPELINE_MAX_PUSH];
    // Fill (dst, dst_offset, size, fill_bits) and copy (src, dst, region).
    VkBuffer dst, src;
    VkBufferCopy region;
    uint32_t fill_bits;
} CmdOp;

static CmdOp* add_op(Cmd* c, CmdOpKind kind) {
    if (c->ended) die("command recording is already ended");
    if (c->nops == c->cap_ops) {
        c->cap_ops = c->cap_ops ? 2 * c->cap_ops : 256;
        c->ops = xrealloc(c->ops, (size_t)c->cap_ops * sizeof *c->ops);
    }
    CmdOp* op = &c->ops[c->nops++];
    op->kind = kind;
    op->prof_row = -1;
    op->flops = 0;
    op->writes = 0;
    return op;
}

// A part's end (cmd_cut): after command `after`, these copies.
typedef struct CmdCut {
    int after;
    CmdOp* copies;
    int n;
} CmdCut;

static VkCommandBuffer new_segment(Cmd* c) {
    if (c->nseg == CMD_MAX_SEGMENTS) die("command recording exceeds %d segments", CMD_MAX_SEGMENTS);
    VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                      .commandPool = c->gpu->pool, .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                      .commandBufferCount = 1};
    VkCommandBuffer cb;
    VK_CHECK(vkAllocateCommandBuffers(c->gpu->device, &ai, &cb));
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    VK_CHECK(vkBeginCommandBuffer(cb, &bi));
    c->seg[c->nseg++] = cb;
    c->dispatches_in_seg = 0;
    if (c->prof) profile_cmd_segment(c->prof, cb, c->nseg - 1, c->max_per_seg);
    return cb;
}

static VkCommandBuffer current(Cmd* c) {
    if (c->dispatches_in_seg >= c->max_per_seg) {
        VK_CHECK(vkEndCommandBuffer(c->seg[c->nseg - 1]));
        new_segment(c);
    }
    return c->seg[c->nseg - 1];
}

void cmd_begin(Cmd* c, GpuContext* g) {
    memset(c, 0, sizeof *c);
    c->gpu = g;
    // Bounded work per command buffer: one huge buffer can outrun a GPU driver's
    // lockup timeout (llama.cpp #21724). All segments still go in one submit.
    c->max_per_seg = 100;
    if (profile_enabled()) c->prof = profile_cmd_new(g);
    new_segment(c);
    // Order this recording after whatever ran before it, including the previous
    // replay of itself and host writes to mapped memory.
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                          .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT | VK_ACCESS_HOST_WRITE_BIT,
                          .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                                           VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT};
    vkCmdPipelineBarrier(c->seg[0], VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT | VK_PIPELINE_STAGE_HOST_BIT,
                         VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
}

// ---------------------------------------------------------------------------
// Hazard tracking

static bool overlaps(const Range* a, const Range* b) { return a->buf == b->buf && a->lo < b->hi && b->lo < a->hi; }

static bool overlaps_any(const Range* r, const Range* list, int n) {
    for (int i = 0; i < n; i++)
        if (overlaps(r, &list[i])) return true;
    return false;
}

void cmd_barrier(Cmd* c) {
    add_op(c, CMD_OP_BARRIER);
    c->nw = c->nr = 0;
    c->nbarrier++;
}

static Range range_of(const Tensor* t) {
    return (Range){t->buf->buf, t->offset, t->offset + tensor_bytes(t)};
}

// Emits a barrier when any access conflicts with unsynchronized earlier work,
// then records the accesses.
static void track(Cmd* c, const Range* r, const bool* write, int n) {
    bool conflict = false;
    for (int i = 0; i < n && !conflict; i++)
        conflict = overlaps_any(&r[i], c->unsynced_w, c->nw) || (write[i] && overlaps_any(&r[i], c->unsynced_r, c->nr));
    int need_w = 0, need_r = 0;
    for (int i = 0; i < n; i++) write[i] ? need_w++ : need_r++;
    if (conflict || c->nw + need_w > CMD_MAX_HAZARDS || c->nr + need_r > CMD_MAX_HAZARDS) cmd_barrier(c);
    for (int i = 0; i < n; i++) {
        if (write[i]) c->unsynced_w[c->nw++] = r[i];
        else c->unsynced_r[c->nr++] = r[i];
    }
}

// ---------------------------------------------------------------------------

static VkFormat texel_format(DType d, int components) {
    if (d == DTYPE_F16) return components == 4 ? VK_FORMAT_R16G16B16A16_SFLOAT : VK_FORMAT_R16_SFLOAT;
    return components == 4 ? VK_FORMAT_R32G32B32A32_SFLOAT : VK_FORMAT_R32_SFLOAT;
}

static VkBufferView texel_view(Cmd* c, const Tensor* t, int components) {
    GpuContext* g = c->gpu;
    VkDeviceSize texel = (VkDeviceSize)components * dtype_bytes(t->dtype);
    if (t->offset % g->props.limits.minTexelBufferOffsetAlignment)
        die("%s: texel view at offset %llu is not aligned to %llu", c->label ? c->label : "dispatch",
            (unsigned long long)t->offset, (unsigned long long)g->props.limits.minTexelBufferOffsetAlignment);
    // Arena sizes are rounded to 16 bytes, so rounding the range up stays inside the allocation.
    VkDeviceSize range = (tensor_bytes(t) + texel - 1) / texel * texel;
    if (t->offset + range > t->buf->size) range = (t->buf->size - t->offset) / texel * texel;
    if (range / texel > g->props.limits.maxTexelBufferElements)
        die("%s: %llu texels exceed the device's maxTexelBufferElements (%u)", c->label ? c->label : "dispatch",
            (unsigned long long)(range / texel), g->props.limits.maxTexelBufferElements);
    VkBufferViewCreateInfo vi = {.sType = VK_STRUCTURE_TYPE_BUFFER_VIEW_CREATE_INFO, .buffer = t->buf->buf,
                                 .format = texel_format(t->dtype, components),
                                 .offset = t->offset, .range = range};
    VkBufferView v;
    VK_CHECK(vkCreateBufferView(g->device, &vi, NULL, &v));
    if (c->nviews == c->cap_views) {
        c->cap_views = c->cap_views ? 2 * c->cap_views : 64;
        c->views = xrealloc(c->views, (size_t)c->cap_views * sizeof *c->views);
    }
    c->views[c->nviews++] = v;
    return v;
}

void cmd_dispatch(Cmd* c, ShaderId id, const uint32_t* spec, uint32_t nspec, const Bind* b, uint32_t nb,
                  const void* push, uint32_t push_size, uint32_t gx, uint32_t gy, uint32_t gz) {
    if ((unsigned)id >= SHADER_COUNT) die("dispatch of shader %d: no such shader", (int)id);
    const char* name = g_shaders[id].name;
    const PushLayout* pl = shader_push_layout(id);
    if (push_size != (pl ? pl->size : 0))
        die("dispatch of %s: %u bytes of push constants given, its %s has %u", name, push_size,
            pl ? pl->name : "SHADER_NO_PUSH", pl ? pl->size : 0);
    if (nb > PIPELINE_MAX_BINDINGS) die("dispatch of %s: %u bindings (max %d)", name, nb, PIPELINE_MAX_BINDINGS);
    // The binding kinds, hence the descriptor-set layout, are those of the bindings given.
    char kinds[PIPELINE_MAX_BINDINGS + 1];
    for (uint32_t i = 0; i < nb; i++) {
        if (b[i].texel_components && b[i].write) die("dispatch of %s: texel binding %u cannot be written", name, i);
        // Storage bindings are float[] in every shader; F16 tensors are read through texel views only.
        if (!b[i].texel_components && b[i].t->dtype != DTYPE_F32)
            die("dispatch of %s: binding %u is an F16 tensor bound as a storage buffer (only texel bindings read F16)",
                name, i);
        if (!b[i].texel_components && tensor_bytes(b[i].t) > c->gpu->props.limits.maxStorageBufferRange)
            die("dispatch of %s: binding %u spans %llu bytes, past the device's maxStorageBufferRange (%u)", name, i,
                (unsigned long long)tensor_bytes(b[i].t), c->gpu->props.limits.maxStorageBufferRange);
        kinds[i] = b[i].texel_components ? 't' : 's';
    }
    kinds[nb] = 0;
    const VkPhysicalDeviceLimits* L = &c->gpu->props.limits;
    if (gx == 0 || gy == 0 || gz == 0) die("dispatch of %s: empty grid %ux%ux%u", name, gx, gy, gz);
    if (gx > L->maxComputeWorkGroupCount[0] || gy > L->maxComputeWorkGroupCount[1] || gz > L->maxComputeWorkGroupCount[2])
        die("dispatch of %s: grid %ux%ux%u exceeds the device limit %ux%ux%u", name, gx, gy, gz,
            L->maxComputeWorkGroupCount[0], L->maxComputeWorkGroupCount[1], L->maxComputeWorkGroupCount[2]);

    const Kernel* p = kernel_get(c->gpu, id, kinds, push_size, spec, nspec);
    Range r[PIPELINE_MAX_BINDINGS];
    bool w[PIPELINE_MAX_BINDINGS];
    VkBufferView views[PIPELINE_MAX_BINDINGS];
    for (uint32_t i = 0; i < nb; i++) {
        r[i] = range_of(b[i].t);
        w[i] = b[i].write;
        views[i] = b[i].texel_components ? texel_view(c, b[i].t, b[i].texel_components) : VK_NULL_HANDLE;
    }
    track(c, r, w, (int)nb);
    CmdOp* op = add_op(c, CMD_OP_DISPATCH);
    op->p = p;
    op->grid[0] = gx, op->grid[1] = gy, op->grid[2] = gz;
    for (uint32_t i = 0; i < nb; i++) {
        if (w[i]) op->writes |= 1u << i;
        op->view[i] = views[i];
        op->buf[i] = (VkDescriptorBufferInfo){b[i].t->buf->buf, b[i].t->offset, tensor_bytes(b[i].t)};
    }
    if (p->push_size) memcpy(op->push, push, p->push_size);
    if (c->prof) op->prof_row = profile_cmd_row(name, c->label), op->flops = c->flops_next;
    c->flops_next = 0;
    c->ndispatch++;
}

void cmd_fill(Cmd* c, const Tensor* t, float value) {
    if (t->dtype != DTYPE_F32 && value != 0.0f) die("cmd_fill: an F16 tensor can only be zeroed");
    Range r = range_of(t);
    bool w = true;
    track(c, &r, &w, 1);
    CmdOp* op = add_op(c, CMD_OP_FILL);
    memcpy(&op->fill_bits, &value, sizeof op->fill_bits);
    op->dst = t->buf->buf;
    op->region = (VkBufferCopy){.dstOffset = t->offset, .size = tensor_bytes(t)};
    // No op label: fills are recorded outside the ops (gradient zeroing), the label would be stale.
    if (c->prof) op->prof_row = profile_cmd_row("vkCmdFillBuffer", NULL);
}

static void set_copy(Cmd* c, CmdOp* op, const Tensor* dst, const Tensor* src) {
    if (tensor_numel(dst) != tensor_numel(src)) die("cmd_copy: %lld elements into %lld", (long long)tensor_numel(src),
                                                    (long long)tensor_numel(dst));
    if (dst->dtype != src->dtype) die("cmd_copy: between an F16 and an F32 tensor (a byte copy does not convert)");
    op->kind = CMD_OP_COPY;
    op->src = src->buf->buf, op->dst = dst->buf->buf;
    op->region = (VkBufferCopy){.srcOffset = src->offset, .dstOffset = dst->offset, .size = tensor_bytes(src)};
    op->prof_row = c->prof ? profile_cmd_row("vkCmdCopyBuffer", NULL) : -1;
    op->flops = 0;
}

void cmd_copy(Cmd* c, const Tensor* dst, const Tensor* src) {
    Range r[2] = {range_of(src), range_of(dst)};
    bool w[2] = {false, true};
    track(c, r, w, 2);
    set_copy(c, add_op(c, CMD_OP_COPY), dst, src);
}

// ---------------------------------------------------------------------------
// Parts

// A queried tensor's bytes, sortable: (buffer, lo).
typedef struct Span {
    uint64_t buf;
    VkDeviceSize lo, hi;
    int index;
} Span;

static uint64_t buffer_key(VkBuffer b) {
    uint64_t k = 0;
    memcpy(&k, &b, sizeof b < sizeof k ? sizeof b : sizeof k);
    return k;
}

static int by_start(const void* a, const void* b) {
    const Span *x = a, *y = b;
    if (x->buf != y->buf) return x->buf < y->buf ? -1 : 1;
    return (x->lo > y->lo) - (x->lo < y->lo);
}

// Marks command i as the last writer of every span that [lo, hi) of buffer b
// overlaps. The spans are sorted and disjoint, so their ends are sorted too.
static void mark_writes(const Span* sp, int n, VkBuffer b, VkDeviceSize lo, VkDeviceSize hi, int i, int* last) {
    uint64_t kb = buffer_key(b);
    int a = 0, z = n;  // the first span of b ending after lo
    while (a < z) {
        int m = (a + z) / 2;
        if (sp[m].buf < kb || (sp[m].buf == kb && sp[m].hi <= lo)) a = m + 1;
        else z = m;
    }
    for (; a < n && sp[a].buf == kb && sp[a].lo < hi; a++) last[sp[a].index] = i;
}

void cmd_last_writes(const Cmd* c, const Tensor* t, int n, int* last) {
    if (c->ended) die("cmd_last_writes: the recording is already encoded");
    Span* sp = xmalloc((size_t)(n ? n : 1) * sizeof *sp);
    for (int j = 0; j < n; j++) {
        Range r = range_of(&t[j]);
        sp[j] = (Span){buffer_key(r.buf), r.lo, r.hi, j};
        last[j] = -1;
    }
    qsort(sp, (size_t)n, sizeof *sp, by_start);
    for (int j = 1; j < n; j++)
        if (sp[j].buf == sp[j - 1].buf && sp[j - 1].hi > sp[j].lo)
            die("cmd_last_writes: tensors %d and %d overlap", sp[j - 1].index, sp[j].index);
    for (int i = 0; i < c->nops; i++) {
        const CmdOp* op = &c->ops[i];
        if (op->kind == CMD_OP_DISPATCH) {
            for (uint32_t b = 0; b < op->p->nbindings; b++)
                if (op->writes >> b & 1)
                    mark_writes(sp, n, op->buf[b].buffer, op->buf[b].offset, op->buf[b].offset + op->buf[b].range, i,
                                last);
        } else if (op->kind == CMD_OP_FILL || op->kind == CMD_OP_COPY) {
            mark_writes(sp, n, op->dst, op->region.dstOffset, op->region.dstOffset + op->region.size, i, last);
        }
    }
    free(sp);
}

void cmd_cut(Cmd* c, int after, const Tensor* dst, const Tensor* src, int n) {
    if (c->ended) die("cmd_cut: the recording is already encoded");
    if (after < 0 || after >= c->nops || (c->ncuts && after < c->cuts[c->ncuts - 1].after))
        die("cmd_cut after command %d: not a recorded command after the previous cut", after);
    if (c->ncuts + 1 >= CMD_MAX_PARTS) die("command recording cut into more than %d parts", CMD_MAX_PARTS);
    if (c->ncuts == c->cap_cuts) {
        c->cap_cuts = c->cap_cuts ? 2 * c->cap_cuts : 8;
        c->cuts = xrealloc(c->cuts, (size_t)c->cap_cuts * sizeof *c->cuts);
    }
    CmdCut* k = &c->cuts[c->ncuts++];
    k->after = after, k->n = n;
    k->copies = xcalloc((size_t)(n ? n : 1), sizeof *k->copies);
    for (int i = 0; i < n; i++) set_copy(c, &k->copies[i], &dst[i], &src[i]);
}

// ---------------------------------------------------------------------------
// Encoding

static void encode_barrier(Cmd* c) {
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                          .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
                          .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                                           VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT};
    const VkPipelineStageFlags st = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
    vkCmdPipelineBarrier(current(c), st, st, 0, 1, &mb, 0, NULL, 0, NULL);
}

static void encode_dispatch(Cmd* c, VkCommandBuffer cb, const CmdOp* op) {
    const Kernel* p = op->p;
    VkWriteDescriptorSet wr[PIPELINE_MAX_BINDINGS];
    for (uint32_t i = 0; i < p->nbindings; i++) {
        wr[i] = (VkWriteDescriptorSet){.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET, .dstBinding = i,
                                       .descriptorCount = 1};
        if (op->view[i]) {
            wr[i].descriptorType = VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER;
            wr[i].pTexelBufferView = &op->view[i];
        } else {
            wr[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
            wr[i].pBufferInfo = &op->buf[i];
        }
    }
    vkCmdBindPipeline(cb, VK_PIPELINE_BIND_POINT_COMPUTE, p->pipeline);
    c->gpu->push_descriptor(cb, VK_PIPELINE_BIND_POINT_COMPUTE, p->layout, 0, p->nbindings, wr);
    if (p->push_size) vkCmdPushConstants(cb, p->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, p->push_size, op->push);
    vkCmdDispatch(cb, op->grid[0], op->grid[1], op->grid[2]);
}

static void encode(Cmd* c, const CmdOp* op) {
    if (op->kind == CMD_OP_BARRIER) {
        encode_barrier(c);
        return;
    }
    if (op->kind == CMD_OP_DISPATCH) kernel_wait(c->gpu, op->p);
    VkCommandBuffer cb = current(c);
    if (c->prof) profile_cmd_before(c->prof, cb, c->nseg - 1, op->prof_row, op->flops);
    switch (op->kind) {
        case CMD_OP_DISPATCH: encode_dispatch(c, cb, op); break;
        case CMD_OP_FILL: vkCmdFillBuffer(cb, op->dst, op->region.dstOffset, op->region.size, op->fill_bits); break;
        case CMD_OP_COPY: vkCmdCopyBuffer(cb, op->src, op->dst, 1, &op->region); break;
        case CMD_OP_BARRIER: break;
    }
    if (c->prof) profile_cmd_after(c->prof, cb, c->nseg - 1);
    c->dispatches_in_seg++;
}

// Every write so far visible to the host (readback through mapped memory) and
// to the next replay of this recording; at a cut also to the commands after it.
static void encode_host_barrier(Cmd* c, bool device_too) {
    VkAccessFlags device = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT |
                           VK_ACCESS_TRANSFER_WRITE_BIT;
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                          .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
                          .dstAccessMask = VK_ACCESS_HOST_READ_BIT | VK_ACCESS_HOST_WRITE_BIT | (device_too ? device : 0)};
    const VkPipelineStageFlags st = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
    vkCmdPipelineBarrier(current(c), st, VK_PIPELINE_STAGE_HOST_BIT | (device_too ? st : 0), 0, 1, &mb, 0, NULL, 0,
                         NULL);
}

// A cut's copies and the end of its part; the last part ends with the recording.
static void encode_cut(Cmd* c, const CmdCut* k, bool at_end) {
    encode_barrier(c);
    for (int i = 0; i < k->n; i++) encode(c, &k->copies[i]);
    if (at_end) return;
    encode_host_barrier(c, true);
    VK_CHECK(vkEndCommandBuffer(c->seg[c->nseg - 1]));
    c->part_end[c->nparts++] = c->nseg;
    new_segment(c);
}

void cmd_end(Cmd* c) {
    if (c->ended) die("command recording is already ended");
    for (int i = 0, k = 0; i < c->nops; i++) {
        encode(c, &c->ops[i]);
        for (; k < c->ncuts && c->cuts[k].after == i; k++) encode_cut(c, &c->cuts[k], i == c->nops - 1);
    }
    free(c->ops);
    c->ops = NULL;
    c->nops = c->cap_ops = 0;
    encode_host_barrier(c, false);
    VK_CHECK(vkEndCommandBuffer(c->seg[c->nseg - 1]));
    if (c->ncuts) {
        c->part_end[c->nparts++] = c->nseg;
        VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
        for (int k = 0; k < c->nparts; k++) VK_CHECK(vkCreateFence(c->gpu->device, &fi, NULL, &c->part_fence[k]));
    }
    c->ended = true;
}

// Queues segments [lo, hi) signalling fence; a fault injected by
// $VKPREF_FAULT_DEVICE_LOST_AFTER counts once per submission (counted).
static VkResult queue_segments(Cmd* c, int lo, int hi, VkFence fence, bool counted) {
    GpuContext* g = c->gpu;
    if (counted && g->lose_device_after > 0 && ++g->nsubmits > g->lose_device_after) return VK_ERROR_DEVICE_LOST;
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = (uint32_t)(hi - lo),
                       .pCommandBuffers = c->seg + lo};
    return vkQueueSubmit(g->queue, 1, &si, fence);
}

// True when r means the device is gone (recorded: later submits do nothing and
// the caller reports it); other errors stop the program naming the call.
static bool device_gone(GpuContext* g, VkResult r, const char* call) {
    if (r == VK_ERROR_DEVICE_LOST) g->device_lost = true;
    else if (r != VK_SUCCESS) vk_fail(r, call, __FILE__, __LINE__);
    return r != VK_SUCCESS;
}

void cmd_submit(Cmd* c) {
    if (!c->ended) cmd_end(c);
    GpuContext* g = c->gpu;
    if (g->device_lost) return;  // nothing runs on a lost device; the caller reports it
    VkResult r = queue_segments(c, 0, c->nseg, g->fence, true);
    if (r == VK_SUCCESS) r = vkWaitForFences(g->device, 1, &g->fence, VK_TRUE, UINT64_MAX);
    if (device_gone(g, r, "vkQueueSubmit/vkWaitForFences")) return;
    VK_CHECK(vkResetFences(g->device, 1, &g->fence));
    if (c->prof) profile_cmd_collect(c->prof);
    c->nsubmit++;
}

void cmd_submit_part(Cmd* c, int k) {
    if (!c->ended || k < 0 || k >= c->nparts) die("cmd_submit_part %d: the recording has %d parts", k, c->nparts);
    GpuContext* g = c->gpu;
    c->part_pending[k] = false;
    if (g->device_lost) return;
    VkResult r = queue_segments(c, k ? c->part_end[k - 1] : 0, c->part_end[k], c->part_fence[k], k == 0);
    if (device_gone(g, r, "vkQueueSubmit")) return;
    c->part_pending[k] = true;
    c->nsubmit++;
}

void cmd_wait_part(Cmd* c, int k) {
    if (!c->ended || k < 0 || k >= c->nparts) die("cmd_wait_part %d: the recording has %d parts", k, c->nparts);
    if (!c->part_pending[k]) return;  // not queued: the device was lost
    GpuContext* g = c->gpu;
    c->part_pending[k] = false;
    if (device_gone(g, vkWaitForFences(g->device, 1, &c->part_fence[k], VK_TRUE, UINT64_MAX), "vkWaitForFences")) return;
    VK_CHECK(vkResetFences(g->device, 1, &c->part_fence[k]));
    if (k == c->nparts - 1 && c->prof) profile_cmd_collect(c->prof);
}

void cmd_free(Cmd* c) {
    GpuContext* g = c->gpu;
    if (!g) return;
    for (int k = 0; k < c->nparts; k++)
        if (c->part_fence[k]) vkDestroyFence(g->device, c->part_fence[k], NULL);
    for (int k = 0; k < c->ncuts; k++) free(c->cuts[k].copies);
    free(c->cuts);
    if (c->nseg) vkFreeCommandBuffers(g->device, g->pool, (uint32_t)c->nseg, c->seg);
    for (int i = 0; i < c->nviews; i++) vkDestroyBufferView(g->device, c->views[i], NULL);
    free(c->views);
    free(c->ops);
    profile_cmd_free(c->prof);
    memset(c, 0, sizeof *c);
}
