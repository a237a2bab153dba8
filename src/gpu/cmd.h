// cmd.h: the command recorder. Many dispatches go into a few command buffers
// ("segments") that are submitted together in one vkQueueSubmit; a recording can
// be replayed any number of times (record once, replay every step).
//
// Commands are kept in a list while they are recorded and encoded into the
// command buffers at cmd_end: the pipelines they use are compiled on worker
// threads meanwhile (pipeline.h), and only the encoding waits for them.
//
// Barriers come from hazard tracking on byte ranges: a dispatch that reads a
// range written since the last barrier, or writes a range read or written since
// then, gets one global compute->compute memory barrier first. So a forgotten
// barrier is impossible and independent dispatches run without one.
//
// A dispatch names its shader and passes everything else about it at once
// (cmd_dispatch): the pipeline, its binding kinds included, follows from that
// (how to add a kernel: gpu/kernel.h).
#pragma once
#include "gpu/kernel.h"
#include "gpu/memory.h"
#include "gpu/kernel_cache.h"

#define CMD_MAX_SEGMENTS 256
#define CMD_MAX_HAZARDS 64
#define CMD_MAX_PARTS 64

typedef struct Range {
    VkBuffer buf;
    VkDeviceSize lo, hi;  // [lo, hi)
} Range;

// One descriptor binding of a dispatch. texel_components is 0 for a storage
// buffer, 1 (R32F) or 4 (RGBA32F) for a uniform texel buffer view: binding kind
// 't' of the pipeline, else 's'.
typedef struct Bind {
    const Tensor* t;
    bool write;
    int texel_components;
} Bind;

static inline Bind bind_r(const Tensor* t) { return (Bind){t, false, 0}; }
static inline Bind bind_w(const Tensor* t) { return (Bind){t, true, 0}; }
static inline Bind bind_tex(const Tensor* t, int components) { return (Bind){t, false, components}; }

typedef struct Cmd {
    GpuContext* gpu;
    struct CmdOp* ops;  // recorded, not yet encoded (cmd.c)
    int nops, cap_ops;
    VkCommandBuffer seg[CMD_MAX_SEGMENTS];
    int nseg, dispatches_in_seg, max_per_seg;
    Range unsynced_w[CMD_MAX_HAZARDS], unsynced_r[CMD_MAX_HAZARDS];
    int nw, nr;
    VkBufferView* views;  // texel views created while recording, freed with the Cmd
    int nviews, cap_views;
    bool ended;
    int ndispatch, nbarrier, nsubmit;  // statistics for `vkpref bench`
    const char* label;                 // op being recorded, for error messages and the profile
    struct CmdProfile* prof;           // timestamps per command (gpu/profile.h); NULL unless profiling
    double flops_next;                 // FLOPs of the next dispatch, for the profile (cmd_note_flops)
    // Cut into parts (cmd_cut): the cuts until cmd_end, then part k is segments
    // [part_end[k - 1], part_end[k]) with its own fence.
    struct CmdCut* cuts;
    int ncuts, cap_cuts;
    int part_end[CMD_MAX_PARTS], nparts;
    VkFence part_fence[CMD_MAX_PARTS];
    bool part_pending[CMD_MAX_PARTS];  // submitted, not yet waited for
} Cmd;

// Tells the profile the FLOPs of the next dispatch (conv, matmul): GFLOP/s column.
static inline void cmd_note_flops(Cmd* c, double flops) { c->flops_next = flops; }

void cmd_begin(Cmd* c, GpuContext* g);
// Records shader `id` with specialization constants spec[0..nspec) (spec[0..2]:
// the workgroup size), bindings b[0..nb) (b[i] is binding i) and push_size
// bytes of push constants, the struct SHADER_PUSH registered for the shader,
// over a gx x gy x gz grid. Gets the pipeline (compiled on first use).
void cmd_dispatch(Cmd* c, ShaderId id, const uint32_t* spec, uint32_t nspec, const Bind* b, uint32_t nb,
                  const void* push, uint32_t push_size, uint32_t gx, uint32_t gy, uint32_t gz);
void cmd_fill(Cmd* c, const Tensor* t, float value);             // vkCmdFillBuffer
void cmd_copy(Cmd* c, const Tensor* dst, const Tensor* src);     // same element count
void cmd_barrier(Cmd* c);
// Encodes the recorded commands (waiting for their pipelines) and ends the recording.
void cmd_end(Cmd* c);
// Submits every segment in one vkQueueSubmit and waits for the fence. Replayable.
// VK_ERROR_DEVICE_LOST is not fatal: it sets gpu->device_lost (checked by the caller).
void cmd_submit(Cmd* c);
void cmd_free(Cmd* c);

// Parts: a recording cut into pieces that are submitted one after the other,
// so that the host can work on what the earlier pieces produced while the
// device runs the later ones (the gradient exchange overlapping the backward).
//
// Commands recorded so far (indices 0 .. cmd_recorded - 1; before cmd_end only).
static inline int cmd_recorded(const Cmd* c) { return c->nops; }
// last[i] := the index of the last recorded command that writes a byte of t[i], or -1.
void cmd_last_writes(const Cmd* c, const Tensor* t, int n, int* last);
// Ends a part after recorded command `after`: a barrier, the copies dst[i] :=
// src[i] (i < n), then a barrier that makes every earlier write visible to the
// host and to later commands. Cuts are made after the commands are recorded,
// before cmd_end, in order of `after`; a cut after the last command ends the
// last part. cmd_submit still runs the whole recording at once.
void cmd_cut(Cmd* c, int after, const Tensor* dst, const Tensor* src, int n);
// Queues part k (0 .. c->nparts - 1) without waiting; cmd_wait_part waits for it.
// Submit the parts in order and wait for each before its next submit; the
// device runs them in order. Fault injection counts part 0's submit only (the
// parts of one replay are one submit).
void cmd_submit_part(Cmd* c, int k);
void cmd_wait_part(Cmd* c, int k);

// Number of workgroups covering n items with groups of size `per_group`.
static inline uint32_t div_up(int64_t n, int64_t per_group) { return (uint32_t)((n + per_group - 1) / per_group); }

// Grid for a 1-D dispatch of n items in workgroups of wg: x is capped at 65535
// (the Vulkan minimum maxComputeWorkGroupCount) and y takes the rest; shaders
// use flat_index() from common.glsl and check the bound.
static inline void grid_1d(int64_t n, uint32_t wg, uint32_t* gx, uint32_t* gy) {
    uint32_t groups = div_up(n, wg);
    *gx = groups < 65535 ? groups : 65535;
    *gy = div_up(groups, *gx);
}
